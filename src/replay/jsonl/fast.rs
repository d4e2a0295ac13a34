//! The JSON-lines reader's fast path (issue 14): one pass over a line's bytes that
//! checks it is a JSON object serde_json takes as it is, and reads only the values of
//! the names an event-type field is read from ([`crate::cim::EventField::names`]), so
//! that a record that is not judged ([`EventKind::Other`]) costs no field store and no
//! serde_json.
//!
//! The pass accepts a strict subset of JSON, on which serde_json cannot fail and the
//! full path's fields are what it reads: no control character, valid UTF-8, no `\u`
//! escape, numbers without exponent and with at most 100 digits a part, nesting at most
//! [`MAX_DEPTH`] deep. Values of event-type names must be plain: strings without
//! escapes, unsigned integers, booleans, `null`, objects, arrays of those. Anything else
//! (and a name given twice, and a line with no field at all, which may be a `records`
//! batch) gives `None`: the full path reads that line.

use std::ops::Range;

use crate::cim::{self, EventKind, Name};
use crate::replay::fields::find_any_of;

/// Deeper nesting goes to the full path (serde_json's own limit is 128).
const MAX_DEPTH: usize = 32;

/// The longest run of digits of a number the fast path reads: far from where an f64
/// overflows (309 digits), the only number serde_json refuses without an exponent.
const MAX_DIGITS: usize = 100;

/// The most digits of an event-type value the fast path reads: every such number is
/// a u64, which serde_json writes back as it is written.
const MAX_PLAIN_DIGITS: usize = 19;

/// The fast path's state, kept from line to line.
pub(super) struct Fast {
    /// Every name an event-type field is read from.
    names: Vec<Name>,
    /// The last dot-separated segment of each of `names`: a key whose own last segment
    /// is none of these cannot complete a path that matches.
    leaves: Vec<&'static [u8]>,
    /// Bit `n` of entry `b` set: a leaf of `n` bytes (`n` < 64) starts with byte `b`;
    /// checked before `leaves`.
    leaf_starts: Box<[u64; 256]>,
    /// The dotted path of the object being read, with a trailing `.` (empty at the
    /// top). UTF-8: the line is.
    path: Vec<u8>,
    /// The event-type fields met: path and value, as ranges of `text`.
    pairs: Vec<(Range<usize>, Range<usize>)>,
    text: String,
    /// Fields (scalars, arrays with a scalar) written by the full path for the line.
    written: usize,
}

impl Default for Fast {
    fn default() -> Self {
        let names: Vec<Name> = cim::EventField::ALL
            .iter()
            .flat_map(|f| f.names().iter().copied())
            .collect();
        let mut leaves: Vec<&'static [u8]> = names
            .iter()
            .map(|n| {
                let n = match n {
                    Name::Exact(n) | Name::Leaf(n) => *n,
                };
                n.rsplit('.').next().unwrap_or(n).as_bytes()
            })
            .collect();
        leaves.sort_unstable();
        leaves.dedup();
        let mut leaf_starts = Box::new([0u64; 256]);
        for leaf in &leaves {
            if let (Some(&first), true) = (leaf.first(), leaf.len() < 64) {
                if let Some(bits) = leaf_starts.get_mut(usize::from(first)) {
                    *bits |= 1 << leaf.len();
                }
            }
        }
        Fast {
            names,
            leaves,
            leaf_starts,
            path: Vec::new(),
            pairs: Vec::new(),
            text: String::new(),
            written: 0,
        }
    }
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A value that ends a number or a literal.
fn ends_value(b: Option<&u8>) -> bool {
    b.is_none_or(|&b| is_blank(b) || matches!(b, b',' | b']' | b'}'))
}

/// Whether `line` holds no byte below 0x20 (a raw control character, which serde_json
/// refuses inside a string) and is UTF-8. One pass over whole chunks, which
/// vectorizes; the UTF-8 check runs only on a line that is not ASCII.
fn is_clean_text(line: &[u8]) -> bool {
    let (mut control, mut high) = (false, false);
    let mut chunks = line.chunks_exact(32);
    for chunk in chunks.by_ref() {
        let (c, h) = chunk.iter().fold((false, false), |(c, h), &b| {
            (c | (b < 0x20), h | (b >= 0x80))
        });
        if c {
            return false;
        }
        high |= h;
    }
    for &b in chunks.remainder() {
        control |= b < 0x20;
        high |= b >= 0x80;
    }
    !control && (!high || std::str::from_utf8(line).is_ok())
}

impl Fast {
    /// The kind the full path gives the line `text` (trimmed, a record), or `None`
    /// when the bytes do not make it sure.
    pub(super) fn kind(&mut self, text: &[u8]) -> Option<EventKind> {
        if !is_clean_text(text) {
            return None;
        }
        self.path.clear();
        self.pairs.clear();
        self.text.clear();
        self.written = 0;
        let mut at = 0;
        self.object(text, &mut at, 0)?;
        if at != text.len() || self.written == 0 {
            return None;
        }
        let (pairs, store) = (&self.pairs, self.text.as_str());
        let name = |p: &(Range<usize>, Range<usize>)| store.get(p.0.clone()).unwrap_or("");
        if pairs
            .iter()
            .enumerate()
            .any(|(i, a)| pairs.iter().skip(i + 1).any(|b| name(a) == name(b)))
        {
            return None;
        }
        let values = |field: cim::EventField| {
            field.names().iter().flat_map(move |wanted| {
                pairs
                    .iter()
                    .filter(move |p| wanted.matches(name(p)))
                    .filter_map(|p| store.get(p.1.clone()))
            })
        };
        let says = |field, word: &str| cim::any_says(values(field), word);
        Some(cim::classify_event(|field| values(field).next(), says))
    }

    /// An object at `*at` (after blanks), its keys under `self.path`.
    fn object(&mut self, b: &[u8], at: &mut usize, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH || b.get(*at) != Some(&b'{') {
            return None;
        }
        *at += 1;
        skip_blanks(b, at);
        if b.get(*at) == Some(&b'}') {
            *at += 1;
            return Some(());
        }
        loop {
            skip_blanks(b, at);
            let key = plain_string(b, at)?;
            skip_blanks(b, at);
            if b.get(*at) != Some(&b':') {
                return None;
            }
            *at += 1;
            skip_blanks(b, at);
            let base = self.path.len();
            self.path.extend_from_slice(key);
            let leaf = key
                .iter()
                .rposition(|&c| c == b'.')
                .map_or(key, |dot| key.get(dot + 1..).unwrap_or_default());
            let starts = leaf
                .first()
                .and_then(|&c| self.leaf_starts.get(usize::from(c)))
                .copied()
                .unwrap_or(0);
            let wanted = leaf.len() < 64
                && starts & (1 << leaf.len()) != 0
                && self.leaves.contains(&leaf)
                && std::str::from_utf8(&self.path)
                    .is_ok_and(|path| self.names.iter().any(|n| n.matches(path)));
            self.value(b, at, depth, wanted)?;
            self.path.truncate(base);
            skip_blanks(b, at);
            match b.get(*at) {
                Some(b',') => *at += 1,
                Some(b'}') => {
                    *at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A value at `*at`, the value of `self.path`; `wanted`: an event-type name, whose
    /// value is kept.
    fn value(&mut self, b: &[u8], at: &mut usize, depth: usize, wanted: bool) -> Option<()> {
        match *b.get(*at)? {
            b'{' => {
                self.path.push(b'.');
                self.object(b, at, depth + 1)
            }
            b'[' => self.array(b, at, depth, wanted),
            _ => {
                let scalar = scalar(b, at, wanted)?;
                if let Some(scalar) = scalar {
                    self.written += 1;
                    if wanted {
                        let value = std::str::from_utf8(scalar).ok()?;
                        self.keep(value, None);
                    }
                }
                Some(())
            }
        }
    }

    /// Keeps the field `self.path` = `value` (or appends `\n` and `value` to the last
    /// kept, an array's next scalar).
    fn keep(&mut self, value: &str, append: Option<()>) {
        match (append, self.pairs.last_mut()) {
            (Some(()), Some((_, v))) => {
                self.text.push('\n');
                self.text.push_str(value);
                v.end = self.text.len();
            }
            _ => {
                let name_at = self.text.len();
                self.text.push_str(&String::from_utf8_lossy(&self.path));
                let value_at = self.text.len();
                self.text.push_str(value);
                self.pairs
                    .push((name_at..value_at, value_at..self.text.len()));
            }
        }
    }

    /// An array: its scalars are one field, joined by `\n`; nested arrays and objects
    /// are not fields (but must be valid).
    fn array(&mut self, b: &[u8], at: &mut usize, depth: usize, wanted: bool) -> Option<()> {
        if depth + 1 >= MAX_DEPTH {
            return None;
        }
        *at += 1;
        skip_blanks(b, at);
        let mut wrote = false;
        if b.get(*at) == Some(&b']') {
            *at += 1;
            return Some(());
        }
        loop {
            skip_blanks(b, at);
            match *b.get(*at)? {
                b'[' | b'{' => skip_container(b, at, depth + 1)?,
                _ => {
                    if let Some(scalar) = scalar(b, at, wanted)? {
                        if wanted {
                            let value = std::str::from_utf8(scalar).ok()?;
                            self.keep(value, wrote.then_some(()));
                        }
                        wrote = true;
                    }
                }
            }
            skip_blanks(b, at);
            match b.get(*at) {
                Some(b',') => *at += 1,
                Some(b']') => {
                    *at += 1;
                    self.written += usize::from(wrote);
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// An object or array inside an array: valid, not read.
fn skip_container(b: &[u8], at: &mut usize, depth: usize) -> Option<()> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let close = match b.get(*at)? {
        b'{' => b'}',
        _ => b']',
    };
    *at += 1;
    skip_blanks(b, at);
    if b.get(*at) == Some(&close) {
        *at += 1;
        return Some(());
    }
    loop {
        skip_blanks(b, at);
        if close == b'}' {
            plain_or_escaped_string(b, at)?;
            skip_blanks(b, at);
            if b.get(*at) != Some(&b':') {
                return None;
            }
            *at += 1;
            skip_blanks(b, at);
        }
        match *b.get(*at)? {
            b'[' | b'{' => skip_container(b, at, depth + 1)?,
            _ => {
                scalar(b, at, false)?;
            }
        }
        skip_blanks(b, at);
        match b.get(*at) {
            Some(b',') => *at += 1,
            Some(&c) if c == close => {
                *at += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

fn skip_blanks(b: &[u8], at: &mut usize) {
    while b.get(*at).is_some_and(|&c| is_blank(c)) {
        *at += 1;
    }
}

/// A string, a number or a literal at `*at`. `Some(Some(text))`: a field's value as
/// the full path writes it (`null` writes none: `Some(None)`). With `plain`, only
/// what the fast path can give exactly: strings without escapes, unsigned integers of
/// at most [`MAX_PLAIN_DIGITS`] digits.
fn scalar<'b>(b: &'b [u8], at: &mut usize, plain: bool) -> Option<Option<&'b [u8]>> {
    let start = *at;
    match *b.get(start)? {
        b'"' => {
            if plain {
                plain_string(b, at).map(Some)
            } else {
                plain_or_escaped_string(b, at).map(Some)
            }
        }
        b'-' | b'0'..=b'9' => {
            let text = number(b, at)?;
            if plain && (text.len() > MAX_PLAIN_DIGITS || text.iter().any(|c| !c.is_ascii_digit()))
            {
                return None;
            }
            Some(Some(text))
        }
        _ => {
            for (literal, value) in [(&b"true"[..], true), (b"false", true), (b"null", false)] {
                if b.get(start..start + literal.len()) == Some(literal) {
                    *at += literal.len();
                    if !ends_value(b.get(*at)) {
                        return None;
                    }
                    return Some(value.then_some(literal));
                }
            }
            None
        }
    }
}

/// A string without escapes: its text (between the quotes).
fn plain_string<'b>(b: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    if b.get(*at) != Some(&b'"') {
        return None;
    }
    let body = b.get(*at + 1..)?;
    let end = quote_or_backslash(body)?;
    if body.get(end) != Some(&b'"') {
        return None;
    }
    *at += end + 2;
    body.get(..end)
}

/// A string whose escapes are the one-letter ones (`\u` goes to the full path): its raw
/// text, escapes as written (not a field's value).
fn plain_or_escaped_string<'b>(b: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    if b.get(*at) != Some(&b'"') {
        return None;
    }
    let start = *at + 1;
    let mut p = start;
    loop {
        p += quote_or_backslash(b.get(p..)?)?;
        match b.get(p)? {
            b'"' => {
                *at = p + 1;
                return b.get(start..p);
            }
            _ => match b.get(p + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => p += 2,
                _ => return None,
            },
        }
    }
}

/// The first `"` or `\\` in `b`.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    find_any_of(b, [b'"', b'\\'])
}

/// A number without exponent, at most [`MAX_DIGITS`] digits a part: its text.
fn number<'b>(b: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let start = *at;
    let mut p = start;
    if b.get(p) == Some(&b'-') {
        p += 1;
    }
    let digits = |p: usize| {
        b.get(p..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    let int = digits(p);
    if int == 0 || int > MAX_DIGITS || (int > 1 && b.get(p) == Some(&b'0')) {
        return None;
    }
    p += int;
    if b.get(p) == Some(&b'.') {
        let frac = digits(p + 1);
        if frac == 0 || frac > MAX_DIGITS {
            return None;
        }
        p += 1 + frac;
    }
    if !ends_value(b.get(p)) {
        return None;
    }
    *at = p;
    b.get(start..p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::fields::Fields;

    /// The fast path's kind for `line`; when it gives one, the full path agrees.
    fn fast_kind(line: &str) -> Option<EventKind> {
        let kind = Fast::default().kind(line.as_bytes());
        if let Some(kind) = kind {
            let mut fields = Fields::default();
            super::super::read_object(line.as_bytes(), &mut fields, &mut String::new())
                .expect("the fast path took a line serde_json refuses");
            assert_eq!(fields.event_kind(), kind, "{line}");
        }
        kind
    }

    #[test]
    fn plain_lines_are_classified_from_their_bytes() {
        let nxlog = r#"{"EventTime":"2020-12-19 07:00:22","Hostname":"WS5","EventID":10,"SourceName":"Microsoft-Windows-Sysmon","Image":"C:\\Windows\\svchost.exe","n":-1.5,"ok":true,"z":null,"a":[1,{"b":[]}]}"#;
        assert_eq!(fast_kind(nxlog), Some(EventKind::Other));
        let three = nxlog.replace(r#""EventID":10"#, r#""EventID":3"#);
        assert_eq!(fast_kind(&three), Some(EventKind::Connection));
        let one = nxlog.replace(r#""EventID":10"#, r#""EventID":1"#);
        assert_eq!(fast_kind(&one), Some(EventKind::ProcessCreation));
        let ecs = r#"{"winlog":{"event_id":"4688","provider_name":"Microsoft-Windows-Security-Auditing"},"event":{"category":["process"],"type":["start","x"]}}"#;
        assert_eq!(fast_kind(ecs), Some(EventKind::ProcessCreation));
        let cs = r#"{"event_simpleName":"DnsRequest","Keywords":-9223372036854775808}"#;
        assert_eq!(fast_kind(cs), Some(EventKind::Other));
    }

    #[test]
    fn quote_or_backslash_finds_the_first_at_any_position() {
        for len in 0..40 {
            for at in 0..len {
                for c in [b'"', b'\\'] {
                    let mut text = vec![b'a'; len];
                    text[at] = c;
                    // A later match (and a byte that borrows in the SWAR test) must
                    // not move the answer.
                    if at + 1 < len {
                        text[at + 1] = b'"';
                    }
                    if at > 0 {
                        text[at - 1] = 0x01;
                    }
                    assert_eq!(quote_or_backslash(&text), Some(at), "{len} {at}");
                }
            }
            assert_eq!(quote_or_backslash(&vec![0x23; len]), None);
        }
    }

    #[test]
    fn what_could_fool_a_byte_reader_goes_to_the_full_path() {
        for line in [
            r#"{"EventID":3,"EventID":1}"#,
            r#"{"Event\u0049D":1}"#,
            r#"{"EventID":"\u0031"}"#,
            r#"{"EventID":1e0}"#,
            r#"{"EventID":1.0}"#,
            r#"{"EventID":-1}"#,
            r#"{"EventID":01}"#,
            r#"{"x":1e999}"#,
            r#"{"x":"a	b"}"#,
            r#"{"x":1} x"#,
            r#"{"x":1,}"#,
            r#"{"records":[{"EventID":1}]}"#,
            r#"{"EventID":3"#,
            "{\"x\":\"\u{1}\"}",
            r#"[{"EventID":3}]"#,
            r#"{"x":tru}"#,
        ] {
            assert_eq!(fast_kind(line), None, "{line}");
        }
        assert_eq!(Fast::default().kind(b"{\"x\":\"\xff\"}"), None);
    }
}
