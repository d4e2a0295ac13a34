//! The JSON-lines reader's fast path (issue 14): two passes over a line's bytes that
//! check it is a JSON object serde_json takes as it is, and read only the values of
//! the names a field that says the event's kind is read from ([`CLASSIFYING`],
//! [`crate::cim::EventField::names`]), so that a record that is not judged
//! ([`EventKind::Other`]) costs no field store and no serde_json; a record that is
//! judged is then written into the field store by a third walk ([`Fast::fill`]),
//! still without serde_json.
//!
//! The first pass ([`Fast::index`]) reads the line 32 bytes at a time (AVX2, where the
//! processor has it; else 16 with SSE2, or 8 in a `u64` elsewhere) and finds, for
//! each 64-byte block, the quotes that open or close a string, as simdjson's first
//! stage does (Langdale and Lemire, "Parsing Gigabytes of JSON per Second", 2019: the
//! quotes not escaped by an odd-length run of backslashes); it refuses a control
//! character, an escape other than the one-letter ones and, on a line that is not
//! ASCII, invalid UTF-8. The second pass walks the line's grammar, jumping over every
//! string to its closing quote in one step, and tells from a key's last four bytes,
//! its length and whether it holds a dot that it is no event-type name's path.
//!
//! The passes accept a strict subset of JSON, on which serde_json cannot fail and the
//! full path's fields are what they read: no control character (so no blank but the
//! space), valid UTF-8, no `\u` escape, numbers without exponent and with at most 100
//! digits a part, nesting at most [`MAX_DEPTH`] deep, no escape in a key that is an
//! event-type name's path or an object's. Values of event-type names must be plain:
//! strings without escapes, unsigned integers, booleans, `null`, objects, arrays of
//! those. Anything else (and a name given twice, and a line with no field at all,
//! which may be a `records` batch) gives `None`: the full path reads that line.

use std::ops::Range;

use crate::cim::{self, EventKind, Name};
use crate::replay::fields::{find_any_of, Fields};

/// Deeper nesting goes to the full path (serde_json's own limit is 128).
const MAX_DEPTH: usize = 32;

/// The longest run of digits of a number the fast path reads: far from where an f64
/// overflows (309 digits), the only number serde_json refuses without an exponent.
const MAX_DIGITS: usize = 100;

/// The most digits of an event-type value the fast path reads: every such number is
/// a u64, which serde_json writes back as it is written.
const MAX_PLAIN_DIGITS: usize = 19;

/// One event-type field met in a line.
struct Pair {
    /// Bit `i` set: the field's path is `Fast::names[i]`.
    names: u64,
    /// The path, in `Fast::paths`.
    path: Range<usize>,
    /// The value: a range of the line, or (an array's scalars joined by `\n`) of
    /// `Fast::joined`.
    value: Range<usize>,
    joined: bool,
}

/// The last dot-separated segment of one or more of [`Fast::names`].
struct Leaf {
    text: &'static [u8],
    /// The names (bits of `Fast::names`) that end in it.
    names: u64,
    /// Those of them that a top-level key of just this text is.
    alone: u64,
}

/// The fast path's state, kept from line to line.
pub(super) struct Fast {
    /// Every name a [`CLASSIFYING`] field is read from, field after field in
    /// [`cim::EventField::ALL`] order, each field's in its preference order.
    names: Vec<Name>,
    /// Each field's names, by its discriminant: a range of `names`; `None` for a field
    /// not in [`CLASSIFYING`].
    fields: Vec<Option<Range<usize>>>,
    /// The distinct last dot-separated segments of `names`: a key whose own last
    /// segment is none of these cannot complete a path that matches.
    leaves: Vec<Leaf>,
    /// Bit `j` of entry [`suffix_hash`] set: `leaves[j]` has that hash, as every key
    /// that ends in it has. Most keys stop here.
    buckets: Box<[u64; BUCKETS]>,
    /// Per bucket, bit `n` set: one of its leaves is `n` bytes long (all bits for one
    /// of 64 bytes or more). A key of no such length and without a dot can be none of
    /// them: `AccountName`, `EventType` and `Hostname` share a leaf's last four bytes.
    lengths: Box<[u64; BUCKETS]>,
    /// The dotted path of the object being read, with a trailing `.` (empty at the
    /// top). UTF-8: the line is.
    path: Vec<u8>,
    /// The event-type fields met.
    pairs: Vec<Pair>,
    /// Their paths.
    paths: Vec<u8>,
    /// Values of arrays of scalars, joined by `\n`.
    joined: String,
    /// The dotted path [`Fast::fill`] is writing under (decoded).
    fill_path: String,
    /// Per 64-byte block of the line, the quotes not escaped: those that open or
    /// close a string.
    quotes: Vec<u64>,
    /// Fields (scalars, arrays with a scalar) written by the full path for the line.
    written: usize,
    /// The processor has AVX2: [`Fast::index`] reads 32 bytes at a time.
    #[cfg(target_arch = "x86_64")]
    avx2: bool,
}

/// The fast path looks for the names of [`cim::CLASSIFYING_FIELDS`] only. The time,
/// channel and record number (also event-type fields) do not change a record's kind,
/// and their names (`EventTime`, `UtcTime`, `RecordNumber`, `Channel` of NXLog) are in
/// every line: not looking for them spares a name check on each. Should
/// `classify_event` ever ask for another field, [`Fast::kind`] gives `None` (the full
/// path reads the line), never a wrong kind.
const CLASSIFYING: [cim::EventField; 6] = cim::CLASSIFYING_FIELDS;

/// How many buckets [`suffix_hash`] spreads keys over: few enough to stay in the
/// first-level cache, enough that most keys land in an empty one.
const BUCKETS: usize = 1024;

/// The bucket of a key by its last four bytes; `None` when shorter. Four, not three:
/// `Name`, `Type` and `Time` end many keys that are no event-type name (`AccountName`,
/// `EventType`, `EventTime` of NXLog) in a bucket of their own.
fn suffix_hash(key: &[u8]) -> Option<usize> {
    let &[.., w, x, y, z] = key else {
        return None;
    };
    let word = u32::from_le_bytes([w, x, y, z]).wrapping_mul(0x9e37_79b1);
    Some((word >> 22) as usize % BUCKETS)
}

impl Fast {
    /// The fast path, or `None` when the names cannot be held in its masks (more than
    /// 64 names, or a name whose last segment is shorter than four bytes) or
    /// [`cim::EventField::ALL`] is not in declaration order: then every line takes the
    /// full path.
    pub(super) fn new() -> Option<Self> {
        let mut names = Vec::new();
        let mut fields = Vec::new();
        for field in cim::EventField::ALL {
            let start = names.len();
            if CLASSIFYING.contains(&field) {
                names.extend_from_slice(field.names());
            }
            // Looked up by the field's discriminant: `ALL` lists them in order.
            if field as usize != fields.len() {
                return None;
            }
            fields.push(CLASSIFYING.contains(&field).then_some(start..names.len()));
        }
        if names.len() > 64 {
            return None;
        }
        let mut leaves: Vec<Leaf> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let (Name::Exact(n) | Name::Leaf(n)) = *name;
            let text = n.rsplit('.').next().unwrap_or(n);
            let alone = if name.matches(text) { 1 << i } else { 0 };
            match leaves.iter_mut().find(|l| l.text == text.as_bytes()) {
                Some(leaf) => {
                    leaf.names |= 1 << i;
                    leaf.alone |= alone;
                }
                None => leaves.push(Leaf {
                    text: text.as_bytes(),
                    names: 1 << i,
                    alone,
                }),
            }
        }
        if leaves.len() > 64 {
            return None;
        }
        let mut buckets = Box::new([0u64; BUCKETS]);
        let mut lengths = Box::new([0u64; BUCKETS]);
        for (j, leaf) in leaves.iter().enumerate() {
            let h = suffix_hash(leaf.text)?;
            *buckets.get_mut(h)? |= 1 << j;
            *lengths.get_mut(h)? |= 1u64.checked_shl(leaf.text.len() as u32).unwrap_or(!0);
        }
        Some(Fast {
            names,
            fields,
            leaves,
            buckets,
            lengths,
            path: Vec::new(),
            pairs: Vec::new(),
            paths: Vec::new(),
            joined: String::new(),
            fill_path: String::new(),
            quotes: Vec::new(),
            #[cfg(target_arch = "x86_64")]
            avx2: std::arch::is_x86_feature_detected!("avx2"),
            written: 0,
        })
    }

    /// The kind the full path gives the line `text` (trimmed, a record), or `None`
    /// when the bytes do not make it sure.
    pub(super) fn kind(&mut self, text: &[u8]) -> Option<EventKind> {
        self.index(text)?;
        self.path.clear();
        self.pairs.clear();
        self.paths.clear();
        self.joined.clear();
        self.written = 0;
        let mut at = 0;
        self.object(text, &mut at, 0)?;
        if at != text.len() || self.written == 0 {
            return None;
        }
        let pairs = &self.pairs;
        let path = |p: &Pair| self.paths.get(p.path.clone());
        if pairs.iter().enumerate().any(|(i, a)| {
            pairs
                .iter()
                .skip(i + 1)
                .any(|b| a.names == b.names && path(a) == path(b))
        }) {
            return None;
        }
        let value = |p: &Pair| {
            if p.joined {
                self.joined.get(p.value.clone())
            } else {
                text.get(p.value.clone())
                    .and_then(|v| std::str::from_utf8(v).ok())
            }
        };
        // Set when `classify_event` asks for a field the walk did not look for.
        let unread = std::cell::Cell::new(false);
        let values = |field: cim::EventField| {
            let names = self.fields.get(field as usize).cloned().flatten();
            if names.is_none() {
                unread.set(true);
            }
            names.unwrap_or(0..0).flat_map(move |i| {
                pairs
                    .iter()
                    .filter(move |p| p.names & (1 << i) != 0)
                    .filter_map(value)
            })
        };
        let says = |field, word: &str| cim::any_says(values(field), word);
        let kind = cim::classify_event(|field| values(field).next(), says);
        (!unread.get()).then_some(kind)
    }

    /// The first pass: fills `quotes`; `None` when the line has a control character,
    /// an escape other than `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, ends in
    /// an escaping backslash, or (not ASCII) is not UTF-8.
    ///
    /// A backslash outside a string (which could hide a quote after it) is left to
    /// the second pass: it reads every byte outside strings, so it meets and refuses
    /// that backslash before it looks for any quote after it.
    fn index(&mut self, line: &[u8]) -> Option<()> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where the processor reports AVX2 (`Fast::new`).
            return unsafe { self.index_avx2(line) };
        }
        self.index_with(line, classify)
    }

    /// [`Fast::index`] 32 bytes at a time: the same pass, compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn index_avx2(&mut self, line: &[u8]) -> Option<()> {
        self.index_with(line, |block| classify_avx2(block))
    }

    /// [`Fast::index`] with `classify` (one of [`classify`], [`classify_avx2`]):
    /// inlined into each caller, so that the classifier is inlined into the loop.
    #[inline(always)]
    fn index_with(&mut self, line: &[u8], classify: impl Fn(&[u8; 64]) -> [u64; 3]) -> Option<()> {
        self.quotes.clear();
        self.quotes.reserve(line.len() / 64 + 1);
        let mut state = Blocks::default();
        let mut blocks = line.chunks_exact(64);
        for block in blocks.by_ref() {
            let block = block.try_into().ok()?;
            self.quotes.push(state.next(block, classify(block))?);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            // Blanks after the end: no quote, no backslash, no control character.
            let mut bytes = [b' '; 64];
            bytes.get_mut(..rest.len())?.copy_from_slice(rest);
            self.quotes.push(state.next(&bytes, classify(&bytes))?);
        }
        let closed = state.escaped == 0;
        let clean = state.unusual == 0
            || (!line.iter().any(|&c| c < 0x20) && std::str::from_utf8(line).is_ok());
        (closed && clean).then_some(())
    }

    /// The string at `*at` (a quote outside any string): its body; `*at` moves past
    /// its closing quote.
    #[inline(always)]
    fn string<'b>(&self, b: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
        if b.get(*at) != Some(&b'"') {
            return None;
        }
        let start = *at + 1;
        let block = start / 64;
        let bits = self.quotes.get(block)? & (!0u64 << (start % 64));
        let end = if bits != 0 {
            block * 64 + bits.trailing_zeros() as usize
        } else {
            self.next_quote(block + 1)?
        };
        *at = end + 1;
        b.get(start..end)
    }

    /// The first quote in the blocks from `block` on: the end of a string longer than
    /// the rest of its block.
    #[inline(never)]
    fn next_quote(&self, block: usize) -> Option<usize> {
        let rest = self.quotes.get(block..)?;
        let i = rest.iter().position(|&bits| bits != 0)?;
        let bits = rest.get(i)?;
        Some((block + i) * 64 + bits.trailing_zeros() as usize)
    }

    /// A string without escapes at `*at`: its body.
    fn plain_string<'b>(&self, b: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
        let body = self.string(b, at)?;
        is_plain(body).then_some(body)
    }

    /// The names (bits of `names`) that the key `key` of the object at `self.path`
    /// is; 0 for most keys, told from their last four bytes. `None`: the key is an
    /// event-type name's path but has escapes.
    #[inline(always)]
    fn wanted(&mut self, key: &[u8]) -> Option<u64> {
        let Some(h) = suffix_hash(key) else {
            return Some(0);
        };
        let bits = self.buckets.get(h).copied().unwrap_or(0);
        if bits == 0 {
            return Some(0);
        }
        // A leaf matches a key of its own length, or one that ends in `.` + the leaf.
        let lengths = self.lengths.get(h).copied().unwrap_or(!0);
        let length = 1u64.checked_shl(key.len() as u32).unwrap_or(!0);
        if lengths & length == 0 && !has_dot(key) {
            return Some(0);
        }
        self.wanted_in(key, bits)
    }

    /// [`Fast::wanted`] for a key whose bucket holds the leaves `bits`: out of line,
    /// so that the walk's loop stays small for the keys of an empty bucket.
    #[inline(never)]
    fn wanted_in(&mut self, key: &[u8], mut bits: u64) -> Option<u64> {
        let mut candidates = 0;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(leaf) = self.leaves.get(j) else {
                continue;
            };
            if key.len() == leaf.text.len() {
                if same_short(key, leaf.text) {
                    // Most hits: a key at the top is its own path.
                    if self.path.is_empty() {
                        return Some(leaf.alone);
                    }
                    candidates |= leaf.names;
                }
            } else if key
                .len()
                .checked_sub(leaf.text.len() + 1)
                .is_some_and(|dot| key.get(dot) == Some(&b'.'))
                && key.ends_with(leaf.text)
            {
                candidates |= leaf.names;
            }
        }
        if candidates == 0 {
            return Some(0);
        }
        if !is_plain(key) {
            return None;
        }
        let base = self.path.len();
        self.path.extend_from_slice(key);
        let mut names = 0;
        if let Ok(path) = std::str::from_utf8(&self.path) {
            while candidates != 0 {
                let i = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if self.names.get(i).is_some_and(|n| n.matches(path)) {
                    names |= 1 << i;
                }
            }
        }
        self.path.truncate(base);
        Some(names)
    }

    /// An object at `*at` (after blanks), its keys under `self.path`.
    fn object(&mut self, b: &[u8], at: &mut usize, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH || b.get(*at) != Some(&b'{') {
            return None;
        }
        // The position in a local (a register), written back to `at` only around a
        // nested object and at the end: most lines are one flat object.
        let mut p = *at + 1;
        skip_blanks(b, &mut p);
        if b.get(p) == Some(&b'}') {
            *at = p + 1;
            return Some(());
        }
        loop {
            skip_blanks(b, &mut p);
            // A key with escapes reads as the full path reads it only where its text
            // is not used: it cannot be an event-type name (no escape makes a letter,
            // and the index pass took no `\u`), but it must not be part of a kept
            // path, whose repeats are found by comparing raw bytes.
            let key = self.string(b, &mut p)?;
            skip_blanks(b, &mut p);
            if b.get(p) != Some(&b':') {
                return None;
            }
            p += 1;
            skip_blanks(b, &mut p);
            match *b.get(p)? {
                b'"' => {
                    let names = self.wanted(key)?;
                    let start = p + 1;
                    let body = self.string(b, &mut p)?;
                    if names != 0 {
                        if !is_plain(body) {
                            return None;
                        }
                        self.keep(names, key, start..p - 1);
                    }
                    self.written += 1;
                }
                b'{' => self.nested(b, &mut p, depth, key)?,
                b'[' => {
                    let names = self.wanted(key)?;
                    self.array(b, &mut p, depth, names, key)?;
                }
                _ => {
                    let names = self.wanted(key)?;
                    let start = p;
                    if scalar(b, &mut p, names != 0)? {
                        self.written += 1;
                        if names != 0 {
                            self.keep(names, key, start..p);
                        }
                    }
                }
            }
            skip_blanks(b, &mut p);
            match b.get(p) {
                Some(b',') => p += 1,
                Some(b'}') => {
                    *at = p + 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The object at `*at`, the value of `key`: its keys under `self.path` + `key`.
    /// Out of line, as [`Fast::keep_in`] is: the walk's loop keeps its registers for
    /// the flat keys of most lines.
    #[inline(never)]
    fn nested(&mut self, b: &[u8], at: &mut usize, depth: usize, key: &[u8]) -> Option<()> {
        if !is_plain(key) {
            return None;
        }
        let base = self.path.len();
        self.path.extend_from_slice(key);
        self.path.push(b'.');
        self.object(b, at, depth + 1)?;
        self.path.truncate(base);
        Some(())
    }

    /// Keeps the field `self.path` + `key` (bits `names`), its value a range of the
    /// line or, with `joined`, of `self.joined`.
    #[inline(never)]
    fn keep_in(&mut self, names: u64, key: &[u8], value: Range<usize>, joined: bool) {
        let start = self.paths.len();
        self.paths.extend_from_slice(&self.path);
        self.paths.extend_from_slice(key);
        self.pairs.push(Pair {
            names,
            path: start..self.paths.len(),
            value,
            joined,
        });
    }

    fn keep(&mut self, names: u64, key: &[u8], value: Range<usize>) {
        self.keep_in(names, key, value, false);
    }

    /// An array at `*at`, the value of `key`: its scalars are one field, joined by
    /// `\n` (kept when `names` is not 0); nested arrays and objects are not fields
    /// (but must be valid).
    fn array(
        &mut self,
        b: &[u8],
        at: &mut usize,
        depth: usize,
        names: u64,
        key: &[u8],
    ) -> Option<()> {
        if depth + 1 >= MAX_DEPTH {
            return None;
        }
        *at += 1;
        skip_blanks(b, at);
        if b.get(*at) == Some(&b']') {
            *at += 1;
            return Some(());
        }
        let joined_at = self.joined.len();
        let mut wrote = false;
        loop {
            skip_blanks(b, at);
            let start = *at;
            let scalar_at = match *b.get(*at)? {
                b'[' | b'{' => {
                    self.skip_container(b, at, depth + 1)?;
                    None
                }
                b'"' if names == 0 => {
                    self.string(b, at)?;
                    Some(start..start)
                }
                b'"' => {
                    self.plain_string(b, at)?;
                    Some(start + 1..*at - 1)
                }
                _ => scalar(b, at, names != 0)?.then_some(start..*at),
            };
            if let Some(range) = scalar_at {
                if names != 0 {
                    if wrote {
                        self.joined.push('\n');
                    }
                    let value = b.get(range).and_then(|v| std::str::from_utf8(v).ok())?;
                    self.joined.push_str(value);
                }
                wrote = true;
            }
            skip_blanks(b, at);
            match b.get(*at) {
                Some(b',') => *at += 1,
                Some(b']') => {
                    *at += 1;
                    if wrote {
                        self.written += 1;
                        if names != 0 {
                            self.keep_in(names, key, joined_at..self.joined.len(), true);
                        }
                    }
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Writes into `fields` what the full path ([`super::read_object`]) writes for the
    /// line `text`, which [`Fast::kind`] has just read (its `quotes` are the line's):
    /// for a record that is judged, without serde_json. `None` (and `fields` left
    /// partly written) when a number is not an integer that serde_json writes back as
    /// it is written: then the full path reads the line.
    pub(super) fn fill(&mut self, text: &[u8], fields: &mut Fields) -> Option<()> {
        fields.clear();
        let line = std::str::from_utf8(text).ok()?;
        let mut path = std::mem::take(&mut self.fill_path);
        path.clear();
        let mut at = 0;
        let filled = self.fill_object(line, &mut at, &mut path, fields);
        self.fill_path = path;
        filled.filter(|()| at == text.len())
    }

    /// An object at `*at`, its keys under `path` (decoded, as the full path names
    /// them).
    fn fill_object(
        &self,
        line: &str,
        at: &mut usize,
        path: &mut String,
        fields: &mut Fields,
    ) -> Option<()> {
        let b = line.as_bytes();
        *at += 1;
        skip_blanks(b, at);
        if b.get(*at) == Some(&b'}') {
            *at += 1;
            return Some(());
        }
        loop {
            skip_blanks(b, at);
            let key = self.string_range(b, at)?;
            let base = path.len();
            unescape(line.get(key)?, path)?;
            skip_blanks(b, at);
            *at += 1; // The `:` the first walk found.
            skip_blanks(b, at);
            match *b.get(*at)? {
                b'{' => {
                    path.push('.');
                    self.fill_object(line, at, path, fields)?;
                }
                b'[' => {
                    fields.begin(path);
                    if self.fill_array(line, at, fields)? {
                        fields.end();
                    } else {
                        fields.abandon();
                    }
                }
                _ => {
                    fields.begin(path);
                    if self.fill_scalar(line, at, fields.value_text())? {
                        fields.end();
                    } else {
                        fields.abandon();
                    }
                }
            }
            path.truncate(base);
            skip_blanks(b, at);
            let close = b.get(*at) == Some(&b'}');
            *at += 1;
            if close {
                return Some(());
            }
        }
    }

    /// An array at `*at`: its scalars appended to `value`, joined by `\n`; whether
    /// it had one.
    fn fill_array(&self, line: &str, at: &mut usize, fields: &mut Fields) -> Option<bool> {
        let b = line.as_bytes();
        *at += 1;
        let mut wrote = false;
        loop {
            skip_blanks(b, at);
            match *b.get(*at)? {
                b']' => {
                    *at += 1;
                    return Some(wrote);
                }
                b',' => *at += 1,
                b'[' | b'{' => self.skip_container(b, at, 0)?,
                _ => {
                    let mark = fields.value_text().len();
                    if wrote {
                        fields.value_text().push('\n');
                    }
                    if self.fill_scalar(line, at, fields.value_text())? {
                        wrote = true;
                    } else {
                        fields.value_text().truncate(mark);
                    }
                }
            }
        }
    }

    /// A string, number or literal at `*at`, appended to `value` as the full path
    /// writes it; `false` for `null`, which writes nothing.
    fn fill_scalar(&self, line: &str, at: &mut usize, value: &mut String) -> Option<bool> {
        let b = line.as_bytes();
        if b.get(*at) == Some(&b'"') {
            let body = self.string_range(b, at)?;
            unescape(line.get(body)?, value)?;
            return Some(true);
        }
        let start = *at;
        if !scalar(b, at, false)? {
            return Some(false);
        }
        let text = line.get(start..*at)?;
        // serde_json reads an integer as a u64 or i64 when it fits, and writes it back
        // as written (no leading zero: the first walk checked); anything else is an
        // f64, whose text may differ. `-0` reads as 0.
        let integer = match text.strip_prefix('-') {
            _ if text.starts_with(['t', 'f']) => true,
            Some(digits) => digits != "0" && text.parse::<i64>().is_ok(),
            None => text.parse::<u64>().is_ok(),
        };
        if !integer {
            return None;
        }
        value.push_str(text);
        Some(true)
    }

    /// The string at `*at`: the range of its body; `*at` moves past it.
    fn string_range(&self, b: &[u8], at: &mut usize) -> Option<Range<usize>> {
        let start = *at + 1;
        self.string(b, at)?;
        Some(start..*at - 1)
    }

    /// An object or array inside an array: valid, not read.
    fn skip_container(&self, b: &[u8], at: &mut usize, depth: usize) -> Option<()> {
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
                self.string(b, at)?;
                skip_blanks(b, at);
                if b.get(*at) != Some(&b':') {
                    return None;
                }
                *at += 1;
                skip_blanks(b, at);
            }
            match *b.get(*at)? {
                b'[' | b'{' => self.skip_container(b, at, depth + 1)?,
                b'"' => {
                    self.string(b, at)?;
                }
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
}

/// The first pass's state from one 64-byte block to the next.
#[derive(Default)]
struct Blocks {
    /// 1: the next block's first byte follows an escaping backslash.
    escaped: u64,
    /// Some byte below 0x20 or at or above 0x80 was met.
    unusual: u64,
}

/// One 64-byte block's bytes as masks (bit `i`: byte `i`): the quotes, the
/// backslashes, and the bytes below 0x20 or at or above 0x80. SSE2, which every
/// x86-64 processor has, 16 bytes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn classify(block: &[u8; 64]) -> [u64; 3] {
    // SAFETY: `classify_sse2` needs SSE2, which the build configuration has (the cfg
    // above): part of the x86-64 baseline.
    unsafe { classify_sse2(block) }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn classify_sse2(block: &[u8; 64]) -> [u64; 3] {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_set1_epi8, _mm_setr_epi8,
    };
    let mut masks = [0u64; 3];
    for (i, b) in block.chunks_exact(16).enumerate() {
        let byte = |j: usize| b.get(j).map_or(0, |&c| c as i8);
        // The compiler makes one unaligned 16-byte load of these.
        let v = _mm_setr_epi8(
            byte(0),
            byte(1),
            byte(2),
            byte(3),
            byte(4),
            byte(5),
            byte(6),
            byte(7),
            byte(8),
            byte(9),
            byte(10),
            byte(11),
            byte(12),
            byte(13),
            byte(14),
            byte(15),
        );
        let mask = |m: i32| u64::from(m as u16) << (16 * i);
        masks[0] |= mask(_mm_movemask_epi8(_mm_cmpeq_epi8(
            v,
            _mm_set1_epi8(b'"' as i8),
        )));
        masks[1] |= mask(_mm_movemask_epi8(_mm_cmpeq_epi8(
            v,
            _mm_set1_epi8(b'\\' as i8),
        )));
        // Signed: a byte at or above 0x80 is negative, so below 0x20 too.
        masks[2] |= mask(_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
    }
    masks
}

/// [`classify`] 32 bytes at a time, for processors with AVX2 (most x86-64 since 2013).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn classify_avx2(block: &[u8; 64]) -> [u64; 3] {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_set1_epi8,
    };
    let mut masks = [0u64; 3];
    for (i, half) in block.chunks_exact(32).enumerate() {
        // SAFETY: `half` is 32 readable bytes (`chunks_exact(32)`), the size of an
        // `__m256i`; `loadu` takes any alignment.
        let v = unsafe { _mm256_loadu_si256(half.as_ptr().cast::<__m256i>()) };
        let mask = |m: i32| u64::from(m as u32) << (32 * i);
        masks[0] |= mask(_mm256_movemask_epi8(_mm256_cmpeq_epi8(
            v,
            _mm256_set1_epi8(b'"' as i8),
        )));
        masks[1] |= mask(_mm256_movemask_epi8(_mm256_cmpeq_epi8(
            v,
            _mm256_set1_epi8(b'\\' as i8),
        )));
        // Signed: a byte at or above 0x80 is negative, so below 0x20 too.
        masks[2] |= mask(_mm256_movemask_epi8(_mm256_cmpgt_epi8(
            _mm256_set1_epi8(0x20),
            v,
        )));
    }
    masks
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn classify(block: &[u8; 64]) -> [u64; 3] {
    classify_swar(block)
}

/// [`classify`] eight bytes at a time in a `u64` (SWAR), for processors without SSE2.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn classify_swar(block: &[u8; 64]) -> [u64; 3] {
    let mut masks = [0u64; 3];
    for (i, chunk) in block.chunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        masks[0] |= pack(bytes_equal(word, b'"')) << (8 * i);
        masks[1] |= pack(bytes_equal(word, b'\\')) << (8 * i);
        // Below 0x20: bit 7 stays clear after adding 0x60 to the low seven bits; at or
        // above 0x80: bit 7 is set in the byte.
        masks[2] |= pack((!((word & LOWS) + ONES * 0x60) | word) & HIGHS) << (8 * i);
    }
    masks
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// Bit 7 of each byte of `word` that is `c`, exactly (no borrow between bytes).
fn bytes_equal(word: u64, c: u8) -> u64 {
    let t = word ^ (ONES * u64::from(c));
    !(((t & LOWS) + LOWS) | t) & HIGHS
}

/// Bit 7 of each of the eight bytes, packed into the low eight bits (byte `i` to bit
/// `i`): one multiply gathers them without overlapping carries.
fn pack(flags: u64) -> u64 {
    ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Of the backslashes `backslash` of a block, the bytes they escape: a backslash
/// escapes the next byte unless it is itself escaped (an odd run of backslashes
/// escapes the byte after it). `carry`: 1 when the block's first byte is escaped
/// from the block before; set for the next block. simdjson's `json_escape_scanner`.
fn escaped_bytes(backslash: u64, carry: &mut u64) -> u64 {
    const ODD: u64 = 0xaaaa_aaaa_aaaa_aaaa;
    let potential = backslash & !*carry;
    let code = ((potential << 1) | ODD).wrapping_sub(potential) ^ ODD;
    let escaped = code ^ (backslash | *carry);
    *carry = (code & backslash) >> 63;
    escaped
}

impl Blocks {
    /// One block's quotes not escaped (in a valid line, those that open or close a
    /// string), from its [`classify`] masks; `None` on an escape that is not a
    /// one-letter one.
    #[inline(always)]
    fn next(&mut self, block: &[u8; 64], masks: [u64; 3]) -> Option<u64> {
        let [quote, backslash, unusual] = masks;
        self.unusual |= unusual;
        let escaped = escaped_bytes(backslash, &mut self.escaped);
        let quote = quote & !escaped;
        let mut letters = escaped & !backslash;
        while letters != 0 {
            let at = letters.trailing_zeros() as usize;
            letters &= letters - 1;
            if !matches!(
                block.get(at)?,
                b'"' | b'/' | b'b' | b'f' | b'n' | b'r' | b't'
            ) {
                return None;
            }
        }
        Some(quote)
    }
}

/// Appends a string's body, its escapes (the one-letter ones: the first walk took no
/// other) decoded, to `out`.
fn unescape(body: &str, out: &mut String) -> Option<()> {
    let mut rest = body;
    // Windows paths: a backslash every few bytes, too close for a SIMD search (a
    // `memchr_iter` over the body measured 50 % more instructions).
    while let Some(i) = find_any_of(rest.as_bytes(), [b'\\']) {
        out.push_str(rest.get(..i)?);
        let letter = rest.as_bytes().get(i + 1)?;
        out.push(match letter {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'"' | b'\\' | b'/' => char::from(*letter),
            _ => return None,
        });
        rest = rest.get(i + 2..)?;
    }
    out.push_str(rest);
    Some(())
}

/// `a == b` for two slices of the same length, in two overlapping loads each when
/// 4 to 16 bytes long (keys): no call to memcmp.
fn same_short(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(s: &[u8], at: usize) -> Option<[u8; N]> {
        s.get(at..at + N)?.try_into().ok()
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        _ => a == b,
    }
}

/// Whether a key has a dot. Branchless over its few bytes, as [`is_plain`].
fn has_dot(key: &[u8]) -> bool {
    key.iter().fold(false, |any, &c| any | (c == b'.'))
}

/// Whether a string's body has no escape. Branchless over the few bytes of a key or
/// an event-type value: cheaper than a call to memchr.
fn is_plain(body: &[u8]) -> bool {
    !body.iter().fold(false, |any, &c| any | (c == b'\\'))
}

/// A blank between tokens: only the space is left by the time the walks run, since
/// [`Fast::index`] refuses a line with any byte below 0x20 (the tab, CR and LF that
/// JSON also allows there; trimming took those at the line's ends).
fn is_blank(b: u8) -> bool {
    b == b' '
}

/// A value that ends a number or a literal.
fn ends_value(b: Option<&u8>) -> bool {
    b.is_none_or(|&b| is_blank(b) || matches!(b, b',' | b']' | b'}'))
}

#[inline(always)]
fn skip_blanks(b: &[u8], at: &mut usize) {
    // Machine-written lines have no blank between tokens (NXLog, winlogbeat) or one
    // space (Python's `json.dumps`): a compare or two, and the loop out of line, where
    // it does not bloat the walks' loops.
    if b.get(*at) == Some(&b' ') {
        *at += 1;
        if b.get(*at) == Some(&b' ') {
            skip_spaces(b, at);
        }
    }
}

#[inline(never)]
fn skip_spaces(b: &[u8], at: &mut usize) {
    while b.get(*at).is_some_and(|&c| is_blank(c)) {
        *at += 1;
    }
}

/// A number or a literal at `*at`: whether the full path writes it as a field (`null`
/// writes none). With `plain`, only what the fast path can give exactly: unsigned
/// integers of at most [`MAX_PLAIN_DIGITS`] digits, `true`, `false`, `null`.
#[inline(always)]
fn scalar(b: &[u8], at: &mut usize, plain: bool) -> Option<bool> {
    let start = *at;
    match *b.get(start)? {
        b'-' | b'0'..=b'9' => {
            let text = number(b, at)?;
            if plain && (text.len() > MAX_PLAIN_DIGITS || text.iter().any(|c| !c.is_ascii_digit()))
            {
                return None;
            }
            Some(true)
        }
        first => {
            // The literal its first byte names, if any: one compare, not three.
            let (literal, value) = match first {
                b't' => (&b"true"[..], true),
                b'f' => (&b"false"[..], true),
                b'n' => (&b"null"[..], false),
                _ => return None,
            };
            if b.get(start..start + literal.len()) != Some(literal) {
                return None;
            }
            *at += literal.len();
            ends_value(b.get(*at)).then_some(value)
        }
    }
}

/// A number without exponent, at most [`MAX_DIGITS`] digits a part: its text.
fn number<'b>(b: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let start = *at;
    let mut p = start + usize::from(b.get(start) == Some(&b'-'));
    let int = p;
    p += digits(b.get(p..)?);
    let int = p - int;
    if int == 0 || int > MAX_DIGITS || (int > 1 && b.get(p - int) == Some(&b'0')) {
        return None;
    }
    if b.get(p) == Some(&b'.') {
        let frac = digits(b.get(p + 1..)?);
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

/// How many ASCII digits `b` starts with: eight bytes at a time (SWAR), as long
/// numbers (NXLog's `"Keywords":-9223372036854775808` on every line) are common.
#[inline(always)]
fn digits(b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(word) = b.get(n..n + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        let word = u64::from_le_bytes(word);
        // A digit's high nibble is 3, and stays 3 after adding 6 (0x30..=0x39 only).
        // Only a byte that is no digit carries into the next: the lowest byte
        // flagged is the first that is no digit.
        let high = |w: u64| (w & (ONES * 0xf0)) ^ (ONES * 0x30);
        let not_digit = high(word) | high(word.wrapping_add(ONES * 6));
        if not_digit != 0 {
            return n + (not_digit.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while b.get(n).is_some_and(u8::is_ascii_digit) {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path's kind for `line`; when it gives one, the full path agrees.
    fn fast_kind(line: &str) -> Option<EventKind> {
        let kind = Fast::new().expect("fast path").kind(line.as_bytes());
        if let Some(kind) = kind {
            let mut fields = Fields::default();
            super::super::read_object(line.as_bytes(), &mut fields, &mut String::new())
                .expect("the fast path took a line serde_json refuses");
            assert_eq!(fields.event_kind(), kind, "{line}");
        }
        kind
    }

    /// Whether [`Fast::fill`] takes `line`; when it does, it writes the fields the full
    /// path writes, in order.
    fn fills_as_the_full_path(line: &str) -> bool {
        let mut fast = Fast::new().expect("fast path");
        assert!(fast.kind(line.as_bytes()).is_some(), "{line}");
        let mut filled = Fields::default();
        if fast.fill(line.as_bytes(), &mut filled).is_none() {
            return false;
        }
        let mut read = Fields::default();
        super::super::read_object(line.as_bytes(), &mut read, &mut String::new())
            .expect("serde_json reads it");
        let all = |f: &Fields| -> Vec<(String, Option<String>)> {
            let value = |i| f.value(i).map(str::to_owned);
            f.names()
                .enumerate()
                .map(|(i, n)| (n.to_owned(), value(i)))
                .collect()
        };
        assert_eq!(all(&filled), all(&read), "{line}");
        true
    }

    #[test]
    fn judged_lines_are_filled_as_serde_json_reads_them() {
        for line in [
            r#"{"EventID":1,"SourceName":"Microsoft-Windows-Sysmon","CommandLine":"a \"b\" c:\\x\/y\r\n\t\b\f","Image":"","z":null,"ok":true,"no":false}"#,
            r#"{"EventID":1,"Keywords":-9223372036854775808,"u":18446744073709551615,"zero":0,"neg":-12}"#,
            r#"{ "EventID" : 4688 , "winlog" : { "event_data" : { "CommandLine" : "x" , "e" : {} } } , "t" : [ "a" , null , 1 , [ 2 ] , { "b" : 3 } , true ] , "n" : [ null ] , "m" : [ ] }"#,
            r#"{"EventID":1,"k\"ey":"v","a\/b":"x","ab":{"c":"d"},"é":"ü"}"#,
        ] {
            assert!(fills_as_the_full_path(line), "{line}");
        }
        // Numbers serde_json writes back otherwise go to the full path.
        for number in [
            "1.5",
            "-1.0",
            "-0",
            "18446744073709551616",
            "-9223372036854775809",
        ] {
            let line = format!(r#"{{"EventID":1,"n":{number}}}"#);
            assert!(!fills_as_the_full_path(&line), "{line}");
            let line = format!(r#"{{"EventID":1,"n":[1,{number}]}}"#);
            assert!(!fills_as_the_full_path(&line), "{line}");
        }
    }

    #[test]
    fn every_event_type_name_fits_the_masks() {
        assert!(Fast::new().is_some(), "the fast path would be off");
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
        // A dotted key is a path: its last segment is the name.
        let dotted = r#"{"winlog.event_id":1,"winlog.provider_name":"Microsoft-Windows-Sysmon"}"#;
        assert_eq!(fast_kind(dotted), Some(EventKind::ProcessCreation));
        // Keys that share an event-type name's last bytes are not it.
        let near = r#"{"XEventID":1,"ProcessID":1,"Event.ID":1,"EventID":10}"#;
        assert_eq!(fast_kind(near), Some(EventKind::Other));
        // A key with escapes is read when it is no event-type name's path.
        let escaped = r#"{"Ev\"ent\/ID":1,"a\\b":[1],"EventID":1,"SourceName":"Sysmon"}"#;
        assert_eq!(fast_kind(escaped), Some(EventKind::ProcessCreation));
    }

    /// The escaped bytes, one byte at a time: the definition `escaped_bytes` computes
    /// 64 at a time.
    fn escaped_one_by_one(backslash: u64, carry: &mut u64) -> u64 {
        let mut escaped = 0;
        for i in 0..64 {
            if *carry == 1 {
                escaped |= 1 << i;
                *carry = 0;
            } else if backslash & (1 << i) != 0 {
                *carry = 1;
            }
        }
        escaped
    }

    #[test]
    fn escaped_bytes_follow_odd_runs_of_backslashes_across_blocks() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut patterns = vec![0, !0, 1, 1 << 63, !0 >> 1, !0 << 1, 0x5555_5555_5555_5555];
        for _ in 0..20_000 {
            // Runs of backslashes: dense masks as well as sparse ones.
            let (a, b) = (next(), next());
            patterns.extend([a, a | b, a & b, a & b & next()]);
        }
        for backslash in patterns {
            for carry in [0, 1] {
                let (mut fast, mut slow) = (carry, carry);
                assert_eq!(
                    escaped_bytes(backslash, &mut fast),
                    escaped_one_by_one(backslash, &mut slow),
                    "{backslash:064b} carry {carry}"
                );
                assert_eq!(fast, slow, "{backslash:064b} carry {carry}: carry out");
            }
        }
    }

    #[test]
    fn strings_end_at_their_closing_quote_at_any_position() {
        // Strings of every length around the 64-byte blocks, with escaped quotes and
        // runs of backslashes before the closing quote.
        let mut fast = Fast::new().expect("fast path");
        for len in 0..150 {
            for tail in ["", "\\\\", "\\\"", "\\\\\\\\", "\\\\\\\""] {
                let body = format!("{}{tail}", "a".repeat(len));
                let line = format!(r#"{{"x":"{body}","EventID":10}}"#);
                assert_eq!(fast.kind(line.as_bytes()), Some(EventKind::Other), "{line}");
                let open = format!(r#"{{"x":"{body}\","EventID":10}}"#);
                assert_eq!(fast.kind(open.as_bytes()), None, "{open}");
            }
        }
    }

    #[test]
    fn both_block_classifiers_mark_every_byte_value_at_every_position() {
        for at in 0..64 {
            for c in 0..=255u8 {
                let mut block = [b'a'; 64];
                block[at] = c;
                // Neighbours that borrow or carry in a careless SWAR test.
                block[(at + 1) % 64] = c.wrapping_add(1);
                block[(at + 63) % 64] = c.wrapping_sub(1);
                let expect = |m: fn(u8) -> bool| {
                    (0..64).fold(0u64, |acc, i| acc | (u64::from(m(block[i])) << i))
                };
                let want = [
                    expect(|b| b == b'"'),
                    expect(|b| b == b'\\'),
                    expect(|b| !(0x20..0x80).contains(&b)),
                ];
                assert_eq!(classify(&block), want, "{c:#x} at {at}");
                assert_eq!(classify_swar(&block), want, "{c:#x} at {at}");
                // On a processor without AVX2 the AVX2 classifier is never used.
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the processor has AVX2 (checked just above).
                    assert_eq!(unsafe { classify_avx2(&block) }, want, "{c:#x} at {at}");
                }
            }
        }
    }

    #[test]
    fn digits_stop_at_the_first_byte_that_is_no_digit() {
        for len in 0..20 {
            for stop in 0..=255u8 {
                for tail in [b'0', b'9', 0xff, b'/', b':'] {
                    let mut bytes: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
                    bytes.push(stop);
                    bytes.extend(std::iter::repeat_n(tail, 9));
                    let want = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
                    assert_eq!(digits(&bytes), want, "{len} digits then {stop:#x}");
                    assert_eq!(digits(&bytes[..len]), len, "{len} digits alone");
                }
            }
        }
    }

    #[test]
    fn same_short_compares_every_byte_at_every_length() {
        for n in 0..24 {
            let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
            assert!(same_short(&a, &a.clone()), "{n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!same_short(&a, &b), "{n} {i}");
            }
            assert!(!same_short(&a, &a[..n.saturating_sub(1)]) || n == 0, "{n}");
        }
    }

    #[test]
    fn bytes_equal_and_pack_find_each_byte() {
        for at in 0..8 {
            for c in [b'"', b'\\', 0x00, 0xff, 0x22 ^ 0x80] {
                let mut word = [b'a'; 8];
                word[at] = c;
                // A byte one below that borrows in a plain SWAR test must not count.
                if at > 0 {
                    word[at - 1] = c.wrapping_add(1);
                }
                let word = u64::from_le_bytes(word);
                assert_eq!(pack(bytes_equal(word, c)), 1 << at, "{c:#x} at {at}");
            }
        }
    }

    #[test]
    fn what_could_fool_a_byte_reader_goes_to_the_full_path() {
        for line in [
            r#"{"EventID":3,"EventID":1}"#,
            r#"{"a":{"EventID":3},"a":{"EventID":1}}"#,
            r#"{"a.EventID":3,"a":{"EventID":1}}"#,
            r#"{"a\/b":{"EventID":3},"a/b":{"EventID":1}}"#,
            r#"{"a\/b.EventID":3,"a/b.EventID":1}"#,
            r#"{"Event\u0049D":1}"#,
            r#"{"EventID":"\u0031"}"#,
            r#"{"x":"\u0031","EventID":10}"#,
            r#"{"x":"\a","EventID":10}"#,
            r#"{"x":"a\\\","EventID":10}"#,
            r#"{"x":1\,"EventID":10}"#,
            r#"{"x":\"a","EventID":10}"#,
            r#"{"x":"a"\"EventID":10}"#,
            r#"{"EventID":"1\n"}"#,
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
            r#"{"EventID":3,"x":"abc}"#,
            r#"{"EventID":3,"x":"abc\"}"#,
            "{\"x\":\"\u{1}\"}",
            r#"[{"EventID":3}]"#,
            r#"{"x":tru}"#,
        ] {
            assert_eq!(fast_kind(line), None, "{line}");
        }
        let mut fast = Fast::new().expect("fast path");
        assert_eq!(fast.kind(b"{\"x\":\"\xff\"}"), None);
        assert_eq!(
            fast.kind(b"{\"x\":\"\xc3\xa9\",\"EventID\":1}"),
            Some(EventKind::ProcessCreation)
        );
    }
}
