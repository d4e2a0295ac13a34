//! JSON lines: one event object per line, as NXLog (`im_msvistalog`, attack_data),
//! winlogbeat / OTRF Security-Datasets and CrowdStrike FDR write them.
//!
//! Nested objects are flattened to their dotted paths (`{"winlog":{"computer_name":…}}`
//! is the field `winlog.computer_name`), as Splunk's JSON extraction names them; the
//! CIM mapping finds raw Windows names at the end of a path ([`crate::cim::Name`]).
//! An array of scalars is one field, its values joined by `\n`; other arrays are not
//! fields. Values are written straight into the
//! reused field store by a serde visitor: no `serde_json::Value` per record.

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use memchr::memmem;

mod fast;

use super::fields::{count_unread, judge_every_reading, Fields};
use super::lines::{Line, Lines, Piece};
use super::lossy;
use super::{Location, SourceScan, Stopped};

/// The longest line read as one event. A longer one (or a file with no line breaks) is
/// reported and skipped without being held in memory.
pub const MAX_JSON_LINE: usize = 64 << 20;

/// JSON nested deeper than this (arrays and objects) is not parsed: serde_json's
/// recursion limit, which keeps a hostile line from overflowing the stack.
pub const MAX_JSON_DEPTH: usize = 128;

/// Reads JSON lines from `reader` (a whole stream) and hands each record to the judge.
pub(crate) fn scan<R: Read>(reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
    scan_lines(Lines::new(reader, MAX_JSON_LINE), None, scan).map(|_| ())
}

/// Scans one piece of a JSON-lines file (issue 14, one file on every core): `reader`
/// yields the file from absolute byte `start`, a line start. Judges the lines that
/// start before `end` and stops before the first line that starts at or after it,
/// which is the piece's [`Piece::next`] (`None`: the input ended first). Byte offsets
/// in its problems are absolute; line numbers count from 1 at `start` (the caller adds
/// the lines of the pieces before), record numbers from 1 (likewise).
pub(crate) fn scan_piece<R: Read>(
    reader: R,
    start: u64,
    end: u64,
    scan: &mut SourceScan<'_>,
) -> Result<Piece, Stopped> {
    scan_lines(
        Lines::starting_at(reader, MAX_JSON_LINE, start),
        Some(end),
        scan,
    )
}

/// The reading loop of [`scan`] and [`scan_piece`]: every line, or (with `limit`) the
/// lines that start before `limit`.
fn scan_lines<R: Read>(
    mut lines: Lines<R>,
    limit: Option<u64>,
    scan: &mut SourceScan<'_>,
) -> Result<Piece, Stopped> {
    let mut fields = Fields::default();
    let mut scratch = Scratch::default();
    // The byte-level fast path, unless the full path is asked for (issue 14).
    let mut fast = (!scan.options.full_path).then(fast::Fast::new).flatten();
    loop {
        if limit.is_some_and(|limit| lines.end() >= limit) && lines.has_more() {
            return Ok(Piece {
                next: Some(lines.end()),
                lines: lines.number,
            });
        }
        let Some(line) = lines.next(scan)? else {
            return Ok(Piece {
                next: None,
                lines: lines.number,
            });
        };
        let (line_no, line_at) = (lines.number, lines.offset);
        if let Line::Overlong(n) = line {
            let record = scan.next_record()?;
            scan.bad_record(
                Location {
                    record: Some(record),
                    line: Some(line_no),
                    offset: Some(line_at),
                },
                format!("a line longer than {MAX_JSON_LINE} bytes ({n} bytes)"),
            )?;
            continue;
        }
        // A BOM on any line: `cat a.jsonl b.jsonl` of files that each start with one.
        let line = lines.text();
        let start = line.trim_ascii_start();
        let body = start.strip_prefix(b"\xef\xbb\xbf").unwrap_or(start);
        let text = body.trim_ascii();
        // Bytes of the line before `text`, so an error's column counts from the line.
        let lead = line.len() - body.trim_ascii_start().len();
        if text.is_empty() {
            continue;
        }
        let record = scan.next_record()?;
        // No value can name schtasks when the line does not: the fast path takes no
        // `\u` escape, and the others make no letter.
        let kind = fast.as_mut().and_then(|f| f.kind(text));
        if count_unread(kind, text, &mut fields, scan, record)? {
            continue;
        }
        // A record that is judged, read by the fast path when it can.
        if let (Some(_), Some(f)) = (kind, fast.as_mut()) {
            if f.fill(text, &mut fields).is_some() {
                scan.judge(&fields, record)?;
                judge_every_reading(&mut fields, scan, record)?;
                continue;
            }
        }
        match read_lossy(text, &mut fields, &mut scratch) {
            Ok(()) if fields.is_empty() && memmem::find(text, b"\"records\"").is_some() => {
                judge_batch(
                    text,
                    &mut fields,
                    &mut scratch,
                    scan,
                    record,
                    (line_no, line_at),
                )?;
            }
            Ok(()) => {
                scan.judge(&fields, record)?;
                judge_every_reading(&mut fields, scan, record)?;
            }
            Err(e) => scan.bad_record(
                Location {
                    record: Some(record),
                    line: Some(line_no),
                    offset: Some(line_at),
                },
                format!(
                    "not a JSON object: {} at column {}",
                    without_position(&e),
                    lead + e.column()
                ),
            )?,
        }
    }
}

/// serde_json's message without its own " at line L column C": the text it parsed is one
/// line, so its line is always 1, which beside the file's line number reads as a second,
/// different line number (issue 12 item 9).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&position).unwrap_or(&text).to_string()
}

/// Reads one JSON object into `fields`; when the strict parse fails, reads it again
/// decoded lossily ([`String::from_utf8_lossy`], then [`lossy::repair_json`]): a stray
/// Latin-1 byte, a lone surrogate escape, a raw control character or an unescaped
/// Windows path must not hide the command line from the detection. The error is the
/// strict parse's when the repair does not help.
fn read_lossy(
    text: &[u8],
    fields: &mut Fields,
    scratch: &mut Scratch,
) -> Result<(), serde_json::Error> {
    scratch.repaired.clear();
    let Err(first) = read_object(text, fields, &mut scratch.path) else {
        return Ok(());
    };
    let utf8 = String::from_utf8_lossy(text);
    let changed = lossy::repair_json(utf8.as_bytes(), &mut scratch.repaired);
    if !changed && matches!(utf8, std::borrow::Cow::Borrowed(_)) {
        return Err(first);
    }
    read_object(&scratch.repaired, fields, &mut scratch.path).map_err(|_| first)
}

/// Buffers reused from line to line.
#[derive(Default)]
struct Scratch {
    /// The dotted path of the key being read.
    path: String,
    /// The current line rewritten by [`lossy::repair_json`]; empty when the line
    /// parsed as it is.
    repaired: Vec<u8>,
}

/// A line that is one object holding a `records` array of objects (Defender for
/// Endpoint's streaming API to Event Hubs, Azure diagnostic logs): each element is a
/// record, numbered from the line's record on. Rare, so it may allocate.
fn judge_batch(
    text: &[u8],
    fields: &mut Fields,
    scratch: &mut Scratch,
    scan: &mut SourceScan<'_>,
    first: u64,
    (line_no, line_at): (u64, u64),
) -> Result<(), Stopped> {
    // The line parsed already, strictly or after repair: parse what did.
    let text = if scratch.repaired.is_empty() {
        text
    } else {
        &scratch.repaired
    };
    let value: serde_json::Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(_) => return scan.judge(fields, first),
    };
    let Some(records) = value.get("records").and_then(|r| r.as_array()) else {
        return scan.judge(fields, first);
    };
    if records.is_empty() {
        return scan.judge(fields, first);
    }
    let mut buf = Vec::new();
    for (i, element) in records.iter().enumerate() {
        let record = if i == 0 { first } else { scan.next_record()? };
        buf.clear();
        let read = serde_json::to_writer(&mut buf, element)
            .and_then(|()| read_object(&buf, fields, &mut scratch.path));
        match read {
            Ok(()) => scan.judge(fields, record)?,
            Err(e) => scan.bad_record(
                Location {
                    record: Some(record),
                    line: Some(line_no),
                    offset: Some(line_at),
                },
                format!("element {} of \"records\" is not a JSON object: {e}", i + 1),
            )?,
        }
    }
    Ok(())
}

/// Reads one JSON object into `fields`, flattened to dotted paths. `path` is scratch
/// space, reused from record to record.
pub(crate) fn read_object(
    text: &[u8],
    fields: &mut Fields,
    path: &mut String,
) -> Result<(), serde_json::Error> {
    fields.clear();
    path.clear();
    let mut de = serde_json::Deserializer::from_slice(text);
    Object { fields, path }.deserialize(&mut de)?;
    de.end()
}

/// An object whose keys are named after `path` (the dotted path of the object, with a
/// trailing `.`, or empty at the top).
struct Object<'f> {
    fields: &'f mut Fields,
    path: &'f mut String,
}

impl<'de> DeserializeSeed<'de> for Object<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.path.len();
        while map
            .next_key_seed(Key {
                fields: self.fields,
                path: self.path,
            })?
            .is_some()
        {
            map.next_value_seed(Leaf {
                fields: self.fields,
                path: self.path,
            })?;
            self.path.truncate(base);
        }
        Ok(())
    }
}

/// Appends a key to the path and opens a field of that name.
struct Key<'f> {
    fields: &'f mut Fields,
    path: &'f mut String,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.path.push_str(v);
        self.fields.begin(self.path);
        Ok(())
    }
}

/// Writes a value into the open field; objects are flattened, arrays and nulls dropped.
struct Leaf<'f> {
    fields: &'f mut Fields,
    path: &'f mut String,
}

impl<'de> DeserializeSeed<'de> for Leaf<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Leaf<'_> {
    fn scalar(self, v: impl fmt::Display) {
        self.fields.value_display(v);
        self.fields.end();
    }
}

impl<'de> Visitor<'de> for Leaf<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.fields.value_text().push_str(v);
        self.fields.end();
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(v);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(v);
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(v);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(v);
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.fields.abandon();
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.fields.abandon();
        Ok(())
    }
    /// An array of scalars is one field, its values joined by `\n` (Splunk's multivalue
    /// display); ECS writes `event.category: ["process"]` so. Nested arrays and objects
    /// inside an array are not fields.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut wrote = false;
        while let Some(w) = seq.next_element_seed(Item {
            fields: &mut *self.fields,
            first: !wrote,
        })? {
            wrote |= w;
        }
        if wrote {
            self.fields.end();
        } else {
            self.fields.abandon();
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.fields.abandon();
        self.path.push('.');
        Object {
            fields: self.fields,
            path: self.path,
        }
        .visit_map(map)
    }
}

/// One element of an array: a scalar is appended to the open field (after a `\n`
/// unless it is the `first`); anything else is skipped. Yields whether it wrote.
struct Item<'f> {
    fields: &'f mut Fields,
    first: bool,
}

impl Item<'_> {
    fn scalar(self, v: impl fmt::Display) -> bool {
        if !self.first {
            self.fields.value_text().push('\n');
        }
        self.fields.value_display(v);
        true
    }
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(self.scalar(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(self.scalar(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        Ok(self.scalar(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        Ok(self.scalar(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        Ok(self.scalar(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_flatten_to_dotted_paths() {
        let line = br#"{"@timestamp":"t","winlog":{"event_id":1,"computer_name":"WS5","event_data":{"CommandLine":"a \"b\"","Hashes":null},"tags":["x"]},"ok":true,"n":-1.5}"#;
        let mut f = Fields::default();
        read_object(line, &mut f, &mut String::new()).unwrap();
        assert_eq!(f.get("winlog.event_id"), Some("1"));
        assert_eq!(f.get("winlog.computer_name"), Some("WS5"));
        assert_eq!(f.get("winlog.event_data.CommandLine"), Some(r#"a "b""#));
        assert_eq!(f.get("winlog.event_data.Hashes"), None);
        assert_eq!(f.get("winlog.tags"), Some("x"));
        assert_eq!(f.get("ok"), Some("true"));
        assert_eq!(f.get("n"), Some("-1.5"));
        assert_eq!(f.get("winlog"), None);
    }

    #[test]
    fn arrays_of_scalars_are_multivalue_fields_and_others_are_not_fields() {
        let line = br#"{"event":{"category":["process","host"],"type":["start"]},"a":[{"x":1},[2]],"b":[],"c":[null,3]}"#;
        let mut f = Fields::default();
        read_object(line, &mut f, &mut String::new()).unwrap();
        assert_eq!(f.get("event.category"), Some("process\nhost"));
        assert_eq!(f.get("event.type"), Some("start"));
        assert_eq!(f.get("a"), None);
        assert_eq!(f.get("b"), None);
        assert_eq!(f.get("c"), Some("3"));
        assert_eq!(
            f.names().collect::<Vec<_>>(),
            ["event.category", "event.type", "c"]
        );
    }

    /// Scans `input[start..]` as a piece ending at `end`: records, bad records, bytes,
    /// problems (record, line, offset) and where it ended.
    #[allow(clippy::type_complexity)]
    fn piece(
        input: &[u8],
        start: u64,
        end: u64,
    ) -> (u64, u64, u64, Vec<(Option<u64>, Option<u64>)>, Piece) {
        let options = crate::replay::ScanOptions::default();
        let mut report = crate::replay::InputReport::default();
        let format = crate::replay::Format::JsonLines;
        let mut scan = SourceScan::new("t", format, &options, &mut report);
        let rest = input.get(start as usize..).unwrap_or_default();
        let done = scan_piece(rest, start, end, &mut scan).unwrap();
        let (records, bad) = (scan.stats.records, scan.stats.bad_records);
        scan.finish();
        let at = report
            .problems
            .iter()
            .map(|p| (p.location.line, p.location.offset))
            .collect();
        (records, bad, report.bytes, at, done)
    }

    #[test]
    fn pieces_end_at_the_next_line_start_and_add_up_to_the_whole() {
        let input = b"{\"EventID\":1}\n\n  \n{\"a\":\n{\"EventID\":4688}\r\n{\"b\":1} x\n{\"c\":2}";
        let len = input.len() as u64;
        let whole = piece(input, 0, u64::MAX);
        assert_eq!((whole.0, whole.1, whole.4.next), (5, 2, None), "{whole:?}");
        let starts: Vec<u64> = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', input).map(|i| i as u64 + 1))
            .collect();
        for end in 0..=len {
            let first = piece(input, 0, end);
            let Some(next) = first.4.next else {
                assert_eq!(first, whole, "end {end}");
                continue;
            };
            assert!(
                next >= end && starts.contains(&next),
                "end {end}: next {next}"
            );
            let second = piece(input, next, u64::MAX);
            assert_eq!(first.0 + second.0, whole.0, "end {end}: records");
            assert_eq!(first.1 + second.1, whole.1, "end {end}: bad records");
            assert_eq!(first.2 + second.2, len, "end {end}: bytes");
            let at: Vec<_> = first
                .3
                .iter()
                .copied()
                .chain(
                    second
                        .3
                        .iter()
                        .map(|&(l, o)| (l.map(|l| l + first.4.lines), o)),
                )
                .collect();
            assert_eq!(at, whole.3, "end {end}: lines and offsets");
        }
    }

    #[test]
    fn non_objects_and_trailing_garbage_are_errors() {
        let mut f = Fields::default();
        let mut p = String::new();
        assert!(read_object(b"[1,2]", &mut f, &mut p).is_err());
        assert!(read_object(br#"{"a":1} x"#, &mut f, &mut p).is_err());
        assert!(read_object(br#"{"a":"#, &mut f, &mut p).is_err());
    }
}
