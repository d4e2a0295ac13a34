//! XmlWinEventLog: `<Event xmlns=…>…</Event>` records, one or many per file, with or
//! without line breaks between them, with or without an `<Events>` wrapper.
//!
//! Records are framed with a byte search for `<Event` / `</Event>` in a window that
//! slides over the stream, so a record is parsed in place (no copy) and a broken record
//! cannot take the records after it down with it. Each record is then read with
//! quick-xml's borrowed events. The `<System>` part is read first; when it says the
//! event is not a process creation, the rest of the record is not parsed at all.

use std::io::Read;

use memchr::memmem;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::fields::Fields;
use super::{lossy, SourceScan, Stopped};
use crate::cim::EventKind;

/// The window grows to hold one record; a record larger than this is reported and skipped.
pub const MAX_RECORD: usize = 64 << 20;
const READ_SIZE: usize = 1 << 20;

const START: &[u8] = b"<Event";
/// An end tag is `</Event`, optional XML white space, then `>` (`</Event >` is legal).
const END: &[u8] = b"</Event";

/// Finds the next `<Event` start tag (not `<EventData`, `<EventID`, …) in `hay`.
fn find_start(finder: &memmem::Finder<'_>, hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = hay.get(from..).and_then(|h| finder.find(h)) {
        let at = from + i;
        match hay.get(at + START.len()) {
            Some(b' ' | b'>' | b'\t' | b'\r' | b'\n' | b'/') => return Some(at),
            // Not known yet: the caller reads more and looks again.
            None => return Some(at),
            Some(_) => from = at + START.len(),
        }
    }
    None
}

/// Finds the first complete `</Event\s*>` in `data`: where it starts and where it ends
/// (after the `>`). `</EventData>` and `</EventID>` are not it.
fn find_end(finder: &memmem::Finder<'_>, data: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = data.get(from..).and_then(|d| finder.find(d)) {
        let at = from + i;
        let after = at + END.len();
        let rest = data.get(after..).unwrap_or_default();
        let blanks = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .count();
        if rest.get(blanks) == Some(&b'>') {
            return Some((at, after + blanks + 1));
        }
        from = after;
    }
    None
}

/// Where the tag that `data` may end in begins (at or after `from`): a prefix of
/// `<Event`, or of `</Event` and blanks. `data.len()` when there is none. Only the last
/// `<` can begin one, as neither holds a second `<`.
fn partial_tag_at(data: &[u8], from: usize) -> usize {
    let tail_at = data
        .get(from..)
        .and_then(|d| memchr::memrchr(b'<', d))
        .map_or(data.len(), |i| from + i);
    let tail = data.get(tail_at..).unwrap_or_default();
    let name = tail.len().min(END.len());
    let could_be = START.starts_with(tail)
        || (tail.get(..name) == END.get(..name)
            && tail
                .get(name..)
                .unwrap_or_default()
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            && tail.len() <= MAX_RECORD);
    if could_be {
        tail_at
    } else {
        data.len()
    }
}

/// Reads XML records from `reader` and hands each to the judge.
pub(crate) fn scan<R: Read>(mut reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
    let start_finder = memmem::Finder::new(START);
    let end_finder = memmem::Finder::new(END);
    let mut buf: Vec<u8> = vec![0; READ_SIZE];
    let mut len = 0usize; // bytes of buf that hold data
    let mut pos = 0usize; // bytes of buf already consumed
    let mut base: u64 = 0; // stream offset of buf[0]
    let mut eof = false;
    let mut fields = Fields::default();
    loop {
        let data = buf.get(pos..len).unwrap_or_default();
        let start = find_start(&start_finder, data);
        // What lies between records is skipped (line breaks, `<Events>`, a prolog); an
        // end tag there is what is left of a record whose start tag is damaged.
        let gap = data.get(..start.unwrap_or(data.len())).unwrap_or_default();
        let mut gap_done = 0;
        while let Some((g, g_end)) = gap
            .get(gap_done..)
            .and_then(|rest| find_end(&end_finder, rest))
        {
            let n = scan.next_record()?;
            scan.bad_at(
                n,
                base + (pos + gap_done + g) as u64,
                "</Event> without its <Event> start tag: a damaged record",
            )?;
            gap_done += g_end;
        }
        let need_more = match start {
            None => {
                // Keep only a tail that a later read may complete into a tag.
                pos += partial_tag_at(data, gap_done);
                true
            }
            Some(s) => {
                let body_from = s + START.len();
                match data.get(body_from..).and_then(|d| find_end(&end_finder, d)) {
                    Some((e, e_end)) => {
                        let end = body_from + e_end;
                        let record_at = base + (pos + s) as u64;
                        let inner = data.get(body_from..body_from + e).unwrap_or_default();
                        if let Some(next) = find_start(&start_finder, inner) {
                            // A start tag before this record's end: the record was cut off.
                            let n = scan.next_record()?;
                            scan.bad_at(
                                n,
                                record_at,
                                "truncated <Event> record (a new <Event> starts before </Event>)",
                            )?;
                            pos += body_from + next;
                        } else {
                            let record = data.get(s..end).unwrap_or_default();
                            let n = scan.next_record()?;
                            match read_record(record, &mut fields, true) {
                                Ok(kind) => scan.judge_as(kind, &fields, n)?,
                                Err(msg) => scan.bad_at(n, record_at, msg)?,
                            }
                            pos += end;
                        }
                        false
                    }
                    None if len - (pos + s) > MAX_RECORD => {
                        let n = scan.next_record()?;
                        scan.bad_at(
                            n,
                            base + (pos + s) as u64,
                            format!("record larger than {} MiB", MAX_RECORD >> 20),
                        )?;
                        pos += body_from;
                        false
                    }
                    None => {
                        // Drop what precedes the record; keep the record's start.
                        pos += s;
                        true
                    }
                }
            }
        };
        if !need_more {
            continue;
        }
        if eof {
            let rest = buf.get(pos..len).unwrap_or_default();
            if let Some(s) = find_start(&start_finder, rest) {
                let n = scan.next_record()?;
                scan.bad_at(
                    n,
                    base + (pos + s) as u64,
                    "truncated <Event> record at end of input (no </Event>)",
                )?;
            }
            return Ok(());
        }
        // Slide the window: move the unconsumed tail to the front, then read.
        buf.copy_within(pos..len, 0);
        base += pos as u64;
        len -= pos;
        pos = 0;
        if buf.len() - len < READ_SIZE / 4 {
            let grown = (buf.len() * 2).max(READ_SIZE);
            buf.resize(grown, 0);
        }
        match read_some(&mut reader, buf.get_mut(len..).unwrap_or_default()) {
            Ok(0) => eof = true,
            Ok(n) => {
                len += n;
                scan.add_bytes(n as u64);
            }
            Err(e) => {
                scan.source_error(format!(
                    "read error at byte {}: {e}; the rest of this input is skipped",
                    base + len as u64
                ))?;
                eof = true;
            }
        }
    }
}

fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Where the reader is inside a record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Outside,
    System,
    EventData,
    UserData,
    /// `<RenderingInfo>` and anything else we do not read.
    Ignored,
}

/// Reads one `<Event>` record into `fields` and returns the kind its `<System>` part
/// says (classified once, there). With `filter`, stops after `<System>` when the event
/// is not a process creation; without it, reads everything.
/// Allocation-free once `fields` has warmed up.
pub(crate) fn read_record(
    record: &[u8],
    fields: &mut Fields,
    filter: bool,
) -> Result<EventKind, String> {
    fields.clear();
    let mut reader = Reader::from_reader(record);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    let mut part = Part::Outside;
    let mut depth = 0u32;
    // The depth at which the field being captured was opened.
    let mut capture: Option<u32> = None;
    // The kind `<System>` says, once it has been read.
    let mut kind: Option<EventKind> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "malformed XML at byte {} of the record: {e}",
                reader.error_position()
            )
        })?;
        match event {
            Event::Start(e) => {
                depth += 1;
                if capture.is_some() {
                    continue;
                }
                let name = e.local_name();
                let name = name.as_ref();
                match (part, depth) {
                    (Part::Outside, 1) if name != b"Event" => {
                        return Err("expected an <Event> element".into());
                    }
                    (Part::Outside, 2) => {
                        part = match name {
                            b"System" => Part::System,
                            b"EventData" => Part::EventData,
                            b"UserData" => Part::UserData,
                            _ => Part::Ignored,
                        }
                    }
                    (Part::System, 3) => {
                        system_attributes(&e, fields)?;
                        fields.begin(&String::from_utf8_lossy(name));
                        capture = Some(depth);
                    }
                    (Part::EventData, 3) => {
                        begin_data(&e, name, fields)?;
                        capture = Some(depth);
                    }
                    (Part::UserData, d) if d >= 4 => {
                        fields.begin(&String::from_utf8_lossy(name));
                        capture = Some(depth);
                    }
                    _ => {}
                }
            }
            Event::Empty(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                match (part, depth + 1) {
                    (Part::System, 3) => system_attributes(&e, fields)?,
                    (Part::EventData, 3) => {
                        begin_data(&e, name, fields)?;
                        fields.end();
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if capture.is_some() {
                    unescape_into(&t, fields.value_text());
                }
            }
            Event::CData(t) => {
                if capture.is_some() {
                    push_utf8(&t, fields.value_text());
                }
            }
            Event::End(_) => {
                if capture == Some(depth) {
                    // A leaf captured in UserData that turned out to have children is
                    // still a field; its value is its text.
                    fields.end();
                    capture = None;
                }
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    let was = part;
                    part = Part::Outside;
                    if was == Part::System {
                        let system_says = fields.event_kind();
                        if filter && system_says == EventKind::Other {
                            return Ok(EventKind::Other);
                        }
                        kind = Some(system_says);
                    }
                }
                if depth == 0 {
                    return Ok(kind.unwrap_or_else(|| fields.event_kind()));
                }
            }
            Event::Eof => return Err("unexpected end of the record".into()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// The attributes of `<System>` children that carry fields: `Provider Name=`,
/// `TimeCreated SystemTime=`, `Security UserID=`.
fn system_attributes(e: &BytesStart<'_>, fields: &mut Fields) -> Result<(), String> {
    let (wanted, field): (&[u8], &str) = match e.local_name().as_ref() {
        b"Provider" => (b"Name", "Provider"),
        b"TimeCreated" => (b"SystemTime", "TimeCreated"),
        b"Security" => (b"UserID", "UserID"),
        _ => return Ok(()),
    };
    for attr in e.attributes().with_checks(false) {
        let attr = attr.map_err(|e| format!("malformed attribute: {e}"))?;
        if attr.key.local_name().as_ref() == wanted {
            fields.begin(field);
            unescape_into(&attr.value, fields.value_text());
            fields.end();
        }
    }
    Ok(())
}

/// `<Data Name="X">` starts field `X`; a `<Data>` without a name starts field `Data`.
fn begin_data(e: &BytesStart<'_>, element: &[u8], fields: &mut Fields) -> Result<(), String> {
    for attr in e.attributes().with_checks(false) {
        let attr = attr.map_err(|e| format!("malformed attribute: {e}"))?;
        if attr.key.local_name().as_ref() == b"Name" {
            fields.begin_with(|name| unescape_into(&attr.value, name));
            return Ok(());
        }
    }
    fields.begin(&String::from_utf8_lossy(element));
    Ok(())
}

/// Appends `raw` (XML-escaped bytes) to `out`, resolving the five predefined entities
/// and character references. Lossy, never failing, as a human reads a damaged value:
/// a reference to no Unicode scalar value (`&#xD800;`, `&#x110000;`) is U+FFFD, an
/// unknown entity (`&nbsp;`) or a bare `&` is kept as written, invalid UTF-8 is replaced.
pub(crate) fn unescape_into(raw: &[u8], out: &mut String) {
    let mut rest = raw;
    while let Some(amp) = memchr::memchr(b'&', rest) {
        push_utf8(rest.get(..amp).unwrap_or_default(), out);
        let after = rest.get(amp + 1..).unwrap_or_default();
        let entity = memchr::memchr(b';', after)
            .filter(|&i| i <= MAX_ENTITY)
            .and_then(|semi| Some((semi, entity_char(after.get(..semi)?)?)));
        match entity {
            Some((semi, c)) => {
                out.push(c);
                rest = after.get(semi + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    push_utf8(rest, out);
}

/// The longest entity body read (`#x10FFFF` and more digits than any valid reference).
const MAX_ENTITY: usize = 16;

/// The character an entity body (between `&` and `;`) stands for, if it is one.
fn entity_char(entity: &[u8]) -> Option<char> {
    match entity {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', hex @ ..] => lossy::char_reference(hex, true),
        [b'#', dec @ ..] => lossy::char_reference(dec, false),
        _ => None,
    }
}

fn push_utf8(bytes: &[u8], out: &mut String) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSMON: &[u8] = br#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f}'/><EventID>1</EventID><TimeCreated SystemTime='2020-12-19T07:00:22.191Z'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS5</Computer></System><EventData><Data Name='Image'>C:\Windows\System32\schtasks.exe</Data><Data Name="CommandLine">schtasks /create /tn &quot;a b&quot; /S WS6 &amp; echo&#33;</Data><Data Name='Empty'/></EventData></Event>"#;

    #[test]
    fn reads_system_and_event_data_with_either_quote_style() {
        let mut f = Fields::default();
        assert_eq!(
            read_record(SYSMON, &mut f, true),
            Ok(EventKind::ProcessCreation)
        );
        assert_eq!(f.get("Provider"), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(f.get("EventID"), Some("1"));
        assert_eq!(f.get("Computer"), Some("WS5"));
        assert_eq!(f.get("TimeCreated"), Some("2020-12-19T07:00:22.191Z"));
        assert_eq!(f.get("Image"), Some(r"C:\Windows\System32\schtasks.exe"));
        assert_eq!(
            f.get("CommandLine"),
            Some(r#"schtasks /create /tn "a b" /S WS6 & echo!"#)
        );
        assert_eq!(f.get("Empty"), Some(""));
    }

    #[test]
    fn filtered_record_stops_after_system_for_other_events() {
        let other = br#"<Event><System><Provider Name="Microsoft-Windows-Sysmon"/><EventID>10</EventID></System><EventData><Data Name="X">1</Data></EventData></Event>"#;
        let mut f = Fields::default();
        assert_eq!(read_record(other, &mut f, true), Ok(EventKind::Other));
        assert_eq!(f.get("X"), None);
        assert_eq!(read_record(other, &mut f, false), Ok(EventKind::Other));
        assert_eq!(f.get("X"), Some("1"));
    }

    #[test]
    fn mismatched_tags_are_an_error_not_a_panic() {
        let bad = br#"<Event><System><EventID>1</EventIDx></System></Event>"#;
        assert!(read_record(bad, &mut Fields::default(), true).is_err());
    }
}
