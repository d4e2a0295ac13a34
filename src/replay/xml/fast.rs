//! The XML reader's fast path (issue 14): frames a record and reads its `<System>` part
//! from the raw bytes with a few SIMD searches, when the bytes leave no doubt about
//! what the full path ([`super::Framer`]'s lexer, then quick-xml in
//! [`super::read_record`]) would make of them. Anything unusual gives `None`, and the
//! full path reads that record: exact, never a guess.
//!
//! Framing. From a clean top-level state (between records), the lexer sends every `<`
//! it meets to markup. When the bytes from a `<Event …>` to the first `</Event>` after
//! it hold no `<!` (comment, CDATA, declaration), no `<?` and no other `<Event`, every
//! `<` in between is an ordinary tag to the lexer, whatever quotes surround it (a `<`
//! ends even a damaged tag), so the record is exactly `<Event` .. `</Event>`. The three
//! patterns are looked for once over the window, not once per record ([`NextHit`]).
//!
//! `<System>`. When it is the record's first child, holds no `&`, no nested element and
//! no malformed attribute on the elements whose attributes are fields, and its names
//! have no prefix, its fields are its texts and those attributes as written, so the
//! kind [`crate::cim::classify_event`] gives them is the kind the full path gives. The
//! classifier's lookups are resolved once per layout (the sequence of field names,
//! the same for nearly every record of a log) and cached.

use std::ops::Range;

use memchr::memmem;

use crate::cim::{self, EventField, EventKind};
use crate::replay::fields::find_any_of;
use crate::replay::fields::Fields;

/// Where the next occurrence of a pattern is, found once for many queries: the window
/// is searched forward from a point and the answer kept until a query passes it.
pub(super) struct NextHit {
    finder: memmem::Finder<'static>,
    /// Only an occurrence followed by a byte this accepts (or by the end of the
    /// window) counts: `<Event` followed by what ends a name, not `<EventData`.
    followed_by: fn(u8) -> bool,
    /// The first occurrence at or after `from`, or `u64::MAX` when none starts before
    /// `scanned` (less the pattern's length).
    hit: u64,
    from: u64,
    scanned: u64,
}

impl NextHit {
    pub(super) fn new(pattern: &'static [u8], followed_by: fn(u8) -> bool) -> Self {
        NextHit {
            finder: memmem::Finder::new(pattern),
            followed_by,
            hit: u64::MAX,
            from: u64::MAX,
            scanned: 0,
        }
    }

    /// Whether an occurrence starts in `from..to`; `window` holds the stream from
    /// offset `base` and reaches at least `to` plus the pattern's length.
    pub(super) fn any_in(&mut self, window: &[u8], base: u64, from: u64, to: u64) -> bool {
        let len = self.finder.needle().len() as u64;
        let known = from >= self.from
            && self.hit >= from
            && (self.hit != u64::MAX || to + len <= self.scanned);
        if !known {
            let at = usize::try_from(from.saturating_sub(base)).unwrap_or(usize::MAX);
            let rest = window.get(at..).unwrap_or_default();
            self.from = from;
            self.scanned = base + window.len() as u64;
            self.hit = u64::MAX;
            let mut at = 0;
            while let Some(i) = rest.get(at..).and_then(|r| self.finder.find(r)) {
                let i = at + i;
                let after = rest.get(i + len as usize);
                if after.is_none_or(|&b| (self.followed_by)(b)) {
                    self.hit = from + i as u64;
                    break;
                }
                at = i + 1;
            }
        }
        self.hit < to
    }
}

/// The fast path's state, kept from record to record.
pub(super) struct Fast {
    pub(super) comment: NextHit,
    pub(super) instruction: NextHit,
    pub(super) event_start: NextHit,
    /// `</Event` followed by a blank or `/`: an end tag the lexer reads otherwise than
    /// `</Event>` (rare: searched once per window).
    odd_event_end: NextHit,
    event_end: memmem::Finder<'static>,
    system_end: memmem::Finder<'static>,
    /// The fields of the `<System>` part being read: name and value (a range of the
    /// part).
    spans: Vec<(FieldName, Range<usize>)>,
    /// Where the `<System>` part read last is in its record (between its tags).
    system: Range<usize>,
    layout: Layout,
}

impl Default for Fast {
    fn default() -> Self {
        Fast {
            comment: NextHit::new(b"<!", |_| true),
            instruction: NextHit::new(b"<?", |_| true),
            event_start: NextHit::new(b"<Event", ends_name),
            odd_event_end: NextHit::new(b"</Event", |b| is_blank(b) || b == b'/'),
            event_end: memmem::Finder::new(b"</Event>"),
            system_end: memmem::Finder::new(b"</System>"),
            spans: Vec::new(),
            system: 0..0,
            layout: Layout::default(),
        }
    }
}

/// A sequence of field names and, for each event-type field, the indices of the fields
/// the classifier reads for it, in its order ([`super::Fields::event_kind`]'s).
#[derive(Default)]
struct Layout {
    /// The names, each followed by a 0 byte.
    names: Vec<u8>,
    lookups: Vec<(EventField, Vec<usize>)>,
    /// A name given twice: the full path judges every reading of such a record.
    repeated: bool,
}

impl Layout {
    fn same<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        let mut rest = self.names.as_slice();
        for name in names.by_ref() {
            let n = name.len();
            if rest.get(..n) != Some(name.as_bytes()) || rest.get(n) != Some(&0) {
                return false;
            }
            rest = rest.get(n + 1..).unwrap_or_default();
        }
        rest.is_empty()
    }

    fn build<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Layout {
        let mut layout = Layout::default();
        for name in names.clone() {
            layout.names.extend_from_slice(name.as_bytes());
            layout.names.push(0);
        }
        let list: Vec<&str> = names.collect();
        layout.repeated = list
            .iter()
            .enumerate()
            .any(|(i, a)| list.iter().skip(i + 1).any(|b| a == b));
        for field in EventField::ALL {
            let mut indices = Vec::new();
            for wanted in field.names() {
                for (i, name) in list.iter().enumerate() {
                    if wanted.matches(name) {
                        indices.push(i);
                    }
                }
            }
            layout.lookups.push((field, indices));
        }
        layout
    }

    fn indices(&self, field: EventField) -> &[usize] {
        self.lookups
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, i)| i.as_slice())
            .unwrap_or_default()
    }
}

/// Whether `b`, after a name, ends it for the lexer ([`super::is_event_name`]).
fn ends_name(b: u8) -> bool {
    is_blank(b) || b == b'>' || b == b'/'
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A tag (`tag` starts at its `<`) whose end both readers agree on: the index of its
/// `>` (outside quoted values) and whether it is empty (`…/>`). `None` when a `<` comes
/// first (the lexer would end the tag there, quick-xml would not) or when the lexer and
/// quick-xml would disagree on emptiness (`<a / >`: the lexer skips the blank, quick-xml
/// does not).
fn tag_end(tag: &[u8]) -> Option<(usize, bool)> {
    let mut i = 1;
    loop {
        // Outside quotes: the next `<`, `>` or quote; inside: the closing quote (a `<`
        // before it is looked for too).
        i += find_any_of(tag.get(i..)?, [b'<', b'>', b'"', b'\''])?;
        match *tag.get(i)? {
            b'<' => return None,
            b'>' => {
                let content = tag.get(..i)?;
                let last = content.iter().rev().find(|&&b| !is_blank(b));
                let empty = content.last() == Some(&b'/');
                return (empty == (last == Some(&b'/'))).then_some((i, empty));
            }
            quote => {
                let value = tag.get(i + 1..)?;
                let close = memchr::memchr(quote, value)?;
                if memchr::memchr(b'<', value.get(..close)?).is_some() {
                    return None;
                }
                i += close + 2;
            }
        }
    }
}

impl Fast {
    /// At `data` (the window from the lexer's position, in a clean top-level state at
    /// offset `pos`): the record that starts at the first `<`, when its framing is sure.
    /// Returns its start and end offsets and the offset after its start tag.
    pub(super) fn frame(
        &mut self,
        window: &[u8],
        base: u64,
        pos: u64,
        limit: u64,
        max_record: usize,
    ) -> Option<(u64, u64, usize)> {
        let data = window.get(usize::try_from(pos - base).ok()?..)?;
        let i = memchr::memchr(b'<', data)?;
        let rec = data.get(i..)?;
        let start = pos + i as u64;
        if start >= limit
            || !rec.starts_with(b"<Event")
            || !rec.get(6).is_some_and(|&b| is_blank(b) || b == b'>')
        {
            return None;
        }
        // The first `</Event>`, with no `</Event ` or `</Event/` before it (an end tag
        // the lexer reads otherwise; `</EventData>` is another name).
        let close = self.event_end.find(rec.get(6..)?)? + 6;
        let end = close + 8;
        if end > max_record {
            return None;
        }
        let close_at = start + close as u64;
        if self.event_start.any_in(window, base, start + 1, close_at)
            || self.odd_event_end.any_in(window, base, start + 1, close_at)
            || self.comment.any_in(window, base, start, close_at)
            || self.instruction.any_in(window, base, start, close_at)
        {
            return None;
        }
        // The start tag: an empty `<Event …/>` would be a whole record.
        let (gt, empty) = tag_end(rec.get(..close)?)?;
        if empty {
            return None;
        }
        Some((start, start + end as u64, gt + 1))
    }

    /// The kind the full path gives `record` (framed by [`Fast::frame`], its start tag
    /// ending at `tag_end`) from its `<System>` part, or `None` when the raw bytes do not
    /// make it sure. `Some` also says the record has no repeated field name in
    /// `<System>` (the full path judges every reading of such a record).
    pub(super) fn system_kind(&mut self, record: &[u8], tag_end: usize) -> Option<EventKind> {
        let after = record.get(tag_end..)?;
        let open = memchr::memchr(b'<', after)?;
        let body_at = tag_end + open + b"<System>".len();
        if !after.get(open..)?.starts_with(b"<System>") {
            return None;
        }
        let body_len = self.system_end.find(record.get(body_at..)?)?;
        self.system = body_at..body_at + body_len;
        let body = record.get(body_at..body_at + body_len)?;
        if memchr::memchr(b'&', body).is_some() {
            return None;
        }
        let body = std::str::from_utf8(body).ok()?;
        self.read_system(body)?;
        let spans = &self.spans;
        let name = |(n, _): &(FieldName, Range<usize>)| match n {
            FieldName::Element(n) => body.get(n.clone()).unwrap_or(""),
            FieldName::Attribute(n) => n,
        };
        if !self.layout.same(spans.iter().map(name)) {
            self.layout = Layout::build(spans.iter().map(name));
        }
        if self.layout.repeated {
            return None;
        }
        let layout = &self.layout;
        let values = |field: EventField| {
            layout
                .indices(field)
                .iter()
                .filter_map(|&i| spans.get(i))
                .filter_map(|(_, v)| body.get(v.clone()))
        };
        let says = |field: EventField, word: &str| cim::any_says(values(field), word);
        Some(cim::classify_event(|field| values(field).next(), says))
    }

    /// Reads the children of `<System>` (`body`, between `<System>` and `</System>`)
    /// into `spans` as [`super::read_record`] reads them into fields, or `None`.
    fn read_system(&mut self, body: &str) -> Option<()> {
        self.spans.clear();
        let bytes = body.as_bytes();
        let mut p = 0;
        while let Some(lt) = memchr::memchr(b'<', bytes.get(p..)?) {
            let at = p + lt;
            let name_at = at + 1;
            let name_len = bytes.get(name_at..)?.iter().position(|&b| {
                !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            })?;
            if name_len == 0 || !bytes.get(name_at)?.is_ascii_alphabetic() {
                return None;
            }
            let name = name_at..name_at + name_len;
            // quick-xml's name runs to a blank, `/` or `>`.
            if !bytes
                .get(name.end)
                .is_some_and(|&b| is_blank(b) || b == b'/' || b == b'>')
            {
                return None;
            }
            let (gt, empty) = tag_end(bytes.get(at..)?)?;
            let gt = at + gt;
            let attrs = name.end..if empty { gt - 1 } else { gt };
            let field = match bytes.get(name.clone())? {
                b"Provider" => Some((b"Name".as_slice(), "Provider")),
                b"TimeCreated" => Some((b"SystemTime".as_slice(), "TimeCreated")),
                b"Security" => Some((b"UserID".as_slice(), "UserID")),
                _ => None,
            };
            if let Some((wanted, field)) = field {
                let spans = &mut self.spans;
                each_attribute(bytes, attrs, |key, value| {
                    if key == wanted {
                        spans.push((FieldName::Attribute(field), value));
                    }
                })?;
            }
            if empty {
                p = gt + 1;
                continue;
            }
            let text_len = memchr::memchr(b'<', bytes.get(gt + 1..)?)?;
            let text = gt + 1..gt + 1 + text_len;
            let close = bytes.get(text.end..)?;
            let name_bytes = bytes.get(name.clone())?;
            if close.get(..2) != Some(b"</")
                || close.get(2..2 + name_len) != Some(name_bytes)
                || close.get(2 + name_len) != Some(&b'>')
            {
                return None;
            }
            self.spans.push((FieldName::Element(name), text.clone()));
            p = text.end + name_len + 3;
        }
        Some(())
    }

    /// Reads the rest of a record whose `<System>` part [`Fast::system_kind`] has just
    /// read into `fields`, as [`super::read_record`] (without `filter`) does: `<System>`'s
    /// fields, then each `<Data>` of `<EventData>` (named by its `Name` attribute, or
    /// `Data`), their text and names unescaped by the full path's own
    /// [`super::unescape_into`]. `None` unless the rest is plain: `<EventData>` whose
    /// children hold only text, or nothing, then `</Event>`; anything else
    /// (`<UserData>`, `<RenderingInfo>`, a nested element) goes to the full path.
    pub(super) fn read_rest(&mut self, record: &[u8], fields: &mut Fields) -> Option<()> {
        fields.clear();
        let body = std::str::from_utf8(record.get(self.system.clone())?).ok()?;
        for (name, value) in &self.spans {
            let name = match name {
                FieldName::Element(n) => body.get(n.clone())?,
                FieldName::Attribute(n) => n,
            };
            fields.begin(name);
            fields.value_text().push_str(body.get(value.clone())?);
            fields.end();
        }
        let end = record.len().checked_sub(b"</Event>".len())?;
        let bytes = record.get(self.system.end + b"</System>".len()..end)?;
        // Text between the parts is not read by the full path either.
        let Some(open) = memchr::memchr(b'<', bytes) else {
            return Some(());
        };
        if !bytes.get(open..)?.starts_with(b"<EventData>") {
            return None;
        }
        let mut p = open + b"<EventData>".len();
        loop {
            p += memchr::memchr(b'<', bytes.get(p..)?)?;
            let tail = bytes.get(p..)?;
            if let Some(after) = tail.strip_prefix(b"</EventData>") {
                // Only text may follow, up to `</Event>`.
                return memchr::memchr(b'<', after).is_none().then_some(());
            }
            let name_len = tail.get(1..)?.iter().position(|&b| {
                !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            })?;
            let name = bytes.get(p + 1..p + 1 + name_len)?;
            if name_len == 0
                || !tail.get(1)?.is_ascii_alphabetic()
                || !tail.get(1 + name_len).is_some_and(|&b| ends_name(b))
            {
                return None;
            }
            let (gt, empty) = tag_end(tail)?;
            let attrs = 1 + name_len..if empty { gt - 1 } else { gt };
            let mut field = None;
            each_attribute(tail, attrs, |key, value| {
                if field.is_none() && key == b"Name" {
                    field = Some(value);
                }
            })?;
            // As the full path writes them: entities resolved, bad UTF-8 replaced.
            match field {
                Some(v) => {
                    let value = tail.get(v)?;
                    fields.begin_with(|name| super::unescape_into(value, name));
                }
                None => fields.begin(std::str::from_utf8(name).ok()?),
            }
            if empty {
                fields.end();
                p += gt + 1;
                continue;
            }
            let text_at = p + gt + 1;
            let text_len = memchr::memchr(b'<', bytes.get(text_at..)?)?;
            let text = bytes.get(text_at..text_at + text_len)?;
            super::unescape_into(text, fields.value_text());
            fields.end();
            let close = bytes.get(text_at + text_len..)?;
            if close.get(..2) != Some(b"</")
                || close.get(2..2 + name_len) != Some(name)
                || close.get(2 + name_len) != Some(&b'>')
            {
                return None;
            }
            p = text_at + text_len + name_len + 3;
        }
    }
}

/// Calls `each(key, value)` for every attribute of a tag (`bytes[range]`, after its
/// name), or gives `None` unless every attribute is `name='value'` or `name="value"`
/// between blanks, without a prefix: what quick-xml's attribute reader takes as it is.
fn each_attribute(
    bytes: &[u8],
    range: Range<usize>,
    mut each: impl FnMut(&[u8], Range<usize>),
) -> Option<()> {
    let mut p = range.start;
    loop {
        let blanks = bytes
            .get(p..range.end)?
            .iter()
            .take_while(|&&b| is_blank(b))
            .count();
        p += blanks;
        if p == range.end {
            return Some(());
        }
        if blanks == 0 {
            return None;
        }
        let key_len = bytes
            .get(p..range.end)?
            .iter()
            .position(|&b| b == b'=' || is_blank(b) || b == b'\'' || b == b'"')?;
        let key = bytes.get(p..p + key_len)?;
        if key_len == 0 || key.contains(&b':') {
            return None;
        }
        let quote = *bytes.get(p + key_len + 1)?;
        if bytes.get(p + key_len) != Some(&b'=') || !matches!(quote, b'\'' | b'"') {
            return None;
        }
        let value_at = p + key_len + 2;
        let value_len = memchr::memchr(quote, bytes.get(value_at..range.end)?)?;
        each(key, value_at..value_at + value_len);
        p = value_at + value_len + 1;
    }
}

/// The name of a field of `<System>`: a child element's (a range of the part) or the
/// one its attribute makes (`Provider Name=` is `Provider`, `Security UserID=` is
/// `UserID`, as [`super::read_record`] names them).
enum FieldName {
    Element(Range<usize>),
    Attribute(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSMON3: &[u8] = br#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f}'/><EventID>3</EventID><Version>5</Version><TimeCreated SystemTime='2020-12-19T07:00:22.000Z'/><EventRecordID>0</EventRecordID><Correlation/><Execution ProcessID='3000' ThreadID='4000'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS0</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='Image'>C:\svchost.exe</Data></EventData></Event>"#;

    /// The fast path's answer on `record` followed by a newline: its kind, or `None`
    /// when it leaves the record to the full path.
    fn fast_kind(record: &[u8]) -> Option<EventKind> {
        let window = [record, b"\n"].concat();
        let mut fast = Fast::default();
        let (start, end, tag_end) = fast.frame(&window, 0, 0, u64::MAX, 1 << 20)?;
        assert_eq!((start, end), (0, record.len() as u64));
        let kind = fast.system_kind(record, tag_end);
        // What the fast path says is what the full path says.
        if let Some(kind) = kind {
            let mut full = Fields::default();
            assert_eq!(
                super::super::read_record(record, &mut full, false, false),
                Ok(kind)
            );
            // And the fields it reads are the full path's, in order.
            let mut fast_fields = Fields::default();
            if fast.read_rest(record, &mut fast_fields).is_some() {
                let all = |f: &Fields| {
                    (0..f.len())
                        .map(|i| {
                            (
                                f.names().nth(i).map(str::to_owned),
                                f.value(i).map(str::to_owned),
                            )
                        })
                        .collect::<Vec<_>>()
                };
                assert_eq!(all(&fast_fields), all(&full));
                assert!(full.len() > 5, "{full:?}");
            }
        }
        kind
    }

    fn with(from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(SYSMON3)
            .replacen(from, to, 1)
            .into_bytes()
    }

    #[test]
    fn a_canonical_record_is_framed_and_classified_from_its_bytes() {
        assert_eq!(fast_kind(SYSMON3), Some(EventKind::Connection));
        assert_eq!(fast_kind(&with(">3<", ">10<")), Some(EventKind::Other));
        assert_eq!(
            fast_kind(&with(">3<", ">1<")),
            Some(EventKind::ProcessCreation)
        );
        // Entities in `<EventData>` are resolved as the full path resolves them.
        let entities = with("svchost", "sv&amp;c&#x68;o&lt;st&bogus;&#xD800;");
        assert_eq!(fast_kind(&entities), Some(EventKind::Connection));
        let quoted = String::from_utf8_lossy(SYSMON3).replace('\'', "\"");
        assert_eq!(fast_kind(quoted.as_bytes()), Some(EventKind::Connection));
        assert_eq!(
            fast_kind(&with("<EventID>", "\n  <EventID Qualifiers=''>")),
            Some(EventKind::Connection)
        );
    }

    #[test]
    fn what_could_fool_a_byte_reader_goes_to_the_full_path() {
        let games = [
            ("<EventID>3", "<EventID>&#51;"),
            ("<EventID>3", "<EventID><![CDATA[3]]>"),
            ("<Version>", "<!-- x --><Version>"),
            ("<Version>", "<e:Version>"),
            ("<Correlation/>", "<Correlation / >"),
            ("<Correlation/>", "<EventID>1</EventID>"),
            ("<Channel>", "<Channel><x/>"),
            ("Name=", "Name ="),
            ("Name=", "x:Name="),
            ("</Computer>", "</computer>"),
            ("<System>", "<RenderingInfo/><System>"),
            ("</Data>", "</Data><Event>"),
            ("</Data>", "</Data></Event >"),
            ("<Event ", "<Event/><x "),
            ("<EventID>3", "<?pi?><EventID>3"),
        ];
        for (from, to) in games {
            assert_eq!(fast_kind(&with(from, to)), None, "{to}");
        }
        // The rest of a record the fast path reads only when it is plain.
        for (from, to) in [
            ("</EventData>", "</EventData><RenderingInfo/>"),
            ("<Data Name='Image'>", "<Data x:Name='Image'>"),
            ("<Data Name='Image'>", "<Data Name='Image'><b/>"),
            ("</Data>", "</Dat>"),
        ] {
            let record = with(from, to);
            let mut fast = Fast::default();
            let (_, _, tag_end) = fast.frame(&record, 0, 0, u64::MAX, 1 << 20).unwrap();
            assert!(fast.system_kind(&record, tag_end).is_some());
            assert!(
                fast.read_rest(&record, &mut Fields::default()).is_none(),
                "{to}"
            );
        }
    }

    #[test]
    fn next_hit_finds_whole_names_only_and_remembers_across_queries() {
        let window = b"<EventData><Event><EventID><Event/>";
        let mut hit = NextHit::new(b"<Event", ends_name);
        assert!(!hit.any_in(window, 0, 0, 11));
        assert!(hit.any_in(window, 0, 0, 12));
        assert!(!hit.any_in(window, 0, 12, 27));
        assert!(hit.any_in(window, 0, 12, 28));
        // The window slid on (base 11): offsets stay absolute.
        assert!(hit.any_in(&window[11..], 11, 12, 28));
    }
}
