//! XmlWinEventLog: `<Event xmlns=…>…</Event>` records, one or many per file, with or
//! without line breaks between them, with or without an `<Events>` wrapper.
//!
//! Records are framed by [`Framer`], a small XML lexer that reads each byte once
//! (linear in the input whatever it holds, issue 15 case 4) and knows what is markup:
//! an `<Event>` inside a comment, a processing instruction, a DTD (an entity value)
//! or a CDATA section is not a record (issue 15 case 5). A record is kept in a window
//! that slides over the stream and parsed in place (no copy), so a broken record cannot
//! take the records after it down with it. Each record is then read with quick-xml's
//! borrowed events. The `<System>` part is read first; when it says the event is not a
//! process creation, the rest of the record is not parsed at all.
//!
//! A record cut short (a new `<Event` before its `</Event>`, as Splunk's `TRUNCATE`
//! leaves events, or the end of the input) is reported as truncated with its size and
//! judged from the fields it holds whole; when even its `<System>` part is cut, it
//! cannot be judged and is a bad record.

use std::io::Read;

use memchr::memmem;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

mod fast;

use super::fields::{count_other, judge_every_reading, Fields};
use super::lines::Piece;
use super::{lossy, Location, SourceScan, Stopped, Tally};
use crate::cim::EventKind;

/// The window grows to hold one record; a record larger than this is reported and skipped.
pub const MAX_RECORD: usize = 64 << 20;
const READ_SIZE: usize = 1 << 20;

/// The longest markup opener the lexer must see whole to tell what follows a `<`
/// (`<![CDATA[`).
const LOOKAHEAD: usize = 9;

/// What the lexer is inside, between two reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Character data: the next `<` is looked for.
    Text,
    /// A comment, a processing instruction or a CDATA section: its terminator is.
    Until(&'static [u8]),
    /// A start or end tag: its `>` outside quoted attribute values is. `event`: the
    /// tag is `<Event …>` or `</Event>`.
    Tag {
        end: bool,
        event: bool,
        quote: Option<u8>,
        /// The last byte that was not blank (a `/` before `>` is an empty element).
        last: u8,
    },
    /// A `<!DOCTYPE …>` (or another `<!…>` declaration): its `>` outside quotes,
    /// brackets (the internal subset) and comments.
    Declaration {
        depth: u32,
        quote: Option<u8>,
        comment: bool,
    },
}

impl Lex {
    /// What an input that ends inside this construct lost, for the report.
    fn name(self) -> &'static str {
        match self {
            Lex::Until(b"-->") => "comment (<!--)",
            Lex::Until(b"]]>") => "CDATA section (<![CDATA[)",
            Lex::Until(_) => "processing instruction (<?)",
            Lex::Declaration { .. } => "declaration (<!DOCTYPE or <!…)",
            Lex::Text | Lex::Tag { .. } => "tag",
        }
    }
}

/// Where a record's framing ended.
enum Frame {
    /// `</Event>` ended it at this stream offset.
    Whole(u64),
    /// A new `<Event` started at this offset before its `</Event>`, or the input ended.
    Cut(u64),
    /// No record: a record starts here, at or after the framer's `limit` (the end of
    /// the piece being read), from a clean top-level state.
    Next,
}

/// The record framer: a window over the stream, the lexer's state and where the record
/// being framed starts. Every position is a stream offset; the window holds
/// `base..base + len`.
struct Framer {
    buf: Vec<u8>,
    base: u64,
    len: usize,
    /// Where the lexer goes on.
    pos: u64,
    lex: Lex,
    /// Where the current construct began (a comment's `<!--`, for the report).
    construct_at: u64,
    /// The `<` of the record being framed.
    record: Option<u64>,
    /// A record larger than [`MAX_RECORD`] was reported and dropped; its `</Event>`
    /// is not an orphan.
    oversized: bool,
    eof: bool,
    tag_finder: memmem::Finder<'static>,
    /// Where the piece being read ends ([`scan_piece`]; `u64::MAX` for a whole
    /// stream): a record starting at or after it is not framed but reported as
    /// [`Frame::Next`].
    limit: u64,
    /// Bytes are counted as read ([`SourceScan::add_bytes`]) when the whole stream is
    /// read; a piece counts its own range once it knows where it ends.
    count_bytes: bool,
}

thread_local! {
    /// The window of the last XML stream this thread read, for its next one: a fresh
    /// window is 1 MiB to zero (and fault in), which a collection of small files paid
    /// once per file (issue 14). Only what a stream reads into it is ever looked at.
    static SPARE_WINDOW: std::cell::RefCell<Vec<u8>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for Framer {
    fn drop(&mut self) {
        // A window grown for a huge record is let go: memory stays flat.
        if self.buf.len() <= 2 * READ_SIZE {
            let buf = std::mem::take(&mut self.buf);
            SPARE_WINDOW.with(|spare| *spare.borrow_mut() = buf);
        }
    }
}

impl Framer {
    /// A framer over a stream whose first byte is byte `start` of the input, framing
    /// the records that start before `limit`.
    fn new(start: u64, limit: u64) -> Self {
        let mut buf = SPARE_WINDOW.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
        if buf.len() < READ_SIZE {
            buf = vec![0; READ_SIZE];
        }
        Framer {
            buf,
            base: start,
            len: 0,
            pos: start,
            lex: Lex::Text,
            construct_at: 0,
            record: None,
            oversized: false,
            eof: false,
            tag_finder: memmem::Finder::new(b"<"),
            limit,
            count_bytes: limit == u64::MAX,
        }
    }

    /// Between records, in character data: where the fast path may frame the next.
    fn clean(&self) -> bool {
        self.lex == Lex::Text && self.record.is_none()
    }

    fn at(&self, offset: u64) -> usize {
        usize::try_from(offset.saturating_sub(self.base)).unwrap_or(usize::MAX)
    }

    fn end(&self) -> u64 {
        self.base + self.len as u64
    }

    fn bytes(&self, from: u64, to: u64) -> &[u8] {
        self.buf.get(self.at(from)..self.at(to)).unwrap_or_default()
    }

    /// Slides the window (keeping the record being framed, or what the lexer still
    /// needs) and reads more. `Ok(false)` at the end of the input.
    fn fill<R: Read>(
        &mut self,
        reader: &mut R,
        scan: &mut SourceScan<'_>,
    ) -> Result<bool, Stopped> {
        if self.eof {
            return Ok(false);
        }
        let keep = self.record.unwrap_or(self.pos).min(self.pos);
        let drop = self.at(keep).min(self.len);
        if drop > 0 {
            self.buf.copy_within(drop..self.len, 0);
            self.base += drop as u64;
            self.len -= drop;
        }
        if self.buf.len() - self.len < READ_SIZE / 4 {
            let grown = (self.buf.len() * 2).max(READ_SIZE);
            self.buf.resize(grown, 0);
        }
        match read_some(reader, self.buf.get_mut(self.len..).unwrap_or_default()) {
            Ok(0) => self.eof = true,
            Ok(n) => {
                self.len += n;
                if self.count_bytes {
                    scan.add_bytes(n as u64);
                }
            }
            Err(e) => {
                scan.source_error(format!(
                    "read error at byte {}: {e}; the rest of this input is skipped",
                    self.end()
                ))?;
                self.eof = true;
            }
        }
        Ok(!self.eof)
    }

    /// Lexes on to the next record boundary in the window. `Ok(None)`: more input
    /// is needed (or, at the end of the input, there is nothing more).
    fn next(&mut self, scan: &mut SourceScan<'_>) -> Result<Option<(u64, Frame)>, Stopped> {
        loop {
            let end = self.end();
            if self.pos >= end {
                self.check_size(scan)?;
                return Ok(match self.record.take() {
                    // The input ended inside a record.
                    Some(record) if self.eof => Some((record, Frame::Cut(end))),
                    record => {
                        self.record = record;
                        None
                    }
                });
            }
            let data = self
                .buf
                .get(self.at(self.pos)..self.len)
                .unwrap_or_default();
            match self.lex {
                Lex::Text => match self.tag_finder.find(data) {
                    None => self.pos = end,
                    Some(i) => {
                        self.pos += i as u64;
                        let rest = data.get(i..).unwrap_or_default();
                        if rest.len() < LOOKAHEAD && !self.eof {
                            return Ok(None);
                        }
                        // Copied out of the window, which `markup` moves on.
                        let mut head = [0u8; LOOKAHEAD];
                        let n = rest.len().min(LOOKAHEAD);
                        for (to, from) in head.iter_mut().zip(rest) {
                            *to = *from;
                        }
                        if let Some(boundary) =
                            self.markup(head.get(..n).unwrap_or_default(), scan)?
                        {
                            return Ok(Some(boundary));
                        }
                    }
                },
                Lex::Until(terminator) => match memmem::find(data, terminator) {
                    Some(i) => {
                        self.pos += (i + terminator.len()) as u64;
                        self.lex = Lex::Text;
                    }
                    None if self.eof => self.pos = end,
                    None => {
                        // Keep what may be the start of the terminator.
                        let keep = (terminator.len() - 1).min(data.len());
                        self.pos = end - keep as u64;
                        return Ok(None);
                    }
                },
                Lex::Tag {
                    end: is_end,
                    event,
                    quote,
                    last,
                } => {
                    let (consumed, done, quote, last) = scan_tag(data, quote, last);
                    self.pos += consumed as u64;
                    if !done {
                        self.lex = Lex::Tag {
                            end: is_end,
                            event,
                            quote,
                            last,
                        };
                        continue;
                    }
                    self.lex = Lex::Text;
                    if let Some(boundary) = self.tag_done(is_end, event, last == b'/', scan)? {
                        return Ok(Some(boundary));
                    }
                }
                Lex::Declaration {
                    depth,
                    quote,
                    comment,
                } => {
                    let (consumed, next) = scan_declaration(data, depth, quote, comment, self.eof);
                    self.pos += consumed as u64;
                    match next {
                        Some(lex) => {
                            self.lex = lex;
                            if self.eof {
                                self.pos = end;
                            } else if self.pos < end {
                                // A `<` at the end of the window: its next bytes tell.
                                return Ok(None);
                            }
                        }
                        None => self.lex = Lex::Text,
                    }
                }
            }
        }
    }

    /// At a `<` (`rest` starts with it, with [`LOOKAHEAD`] bytes or the end of the
    /// input): tells the markup and enters its state.
    fn markup(
        &mut self,
        rest: &[u8],
        scan: &mut SourceScan<'_>,
    ) -> Result<Option<(u64, Frame)>, Stopped> {
        self.construct_at = self.pos;
        let (skip, lex) = if rest.starts_with(b"<!--") {
            (4, Lex::Until(b"-->"))
        } else if rest.starts_with(b"<![CDATA[") {
            (9, Lex::Until(b"]]>"))
        } else if rest.starts_with(b"<!") {
            (
                2,
                Lex::Declaration {
                    depth: 0,
                    quote: None,
                    comment: false,
                },
            )
        } else if rest.starts_with(b"<?") {
            (2, Lex::Until(b"?>"))
        } else if rest.starts_with(b"</") {
            let event = is_event_name(rest.get(2..).unwrap_or_default(), false);
            (
                2,
                Lex::Tag {
                    end: true,
                    event,
                    quote: None,
                    last: b'<',
                },
            )
        } else if rest.get(1).is_some_and(|&b| is_name_start(b)) {
            let event = is_event_name(rest.get(1..).unwrap_or_default(), true);
            let lex = Lex::Tag {
                end: false,
                event,
                quote: None,
                last: b'<',
            };
            if event && self.pos >= self.limit {
                // The piece ends here: the `<` stays unread for the next piece. A
                // record being framed was cut short by it (reported first; the next
                // call comes back here with no record).
                let start = self.pos;
                return Ok(Some(match self.record.take() {
                    Some(record) => (record, Frame::Cut(start)),
                    None => (start, Frame::Next),
                }));
            }
            if event {
                // A record starts here; one being framed was cut short.
                let start = self.pos;
                let cut = self.record.replace(start);
                self.oversized = false;
                self.pos += 1;
                self.lex = lex;
                if let Some(record) = cut {
                    return Ok(Some((record, Frame::Cut(start))));
                }
                return self.check_size(scan);
            }
            (1, lex)
        } else {
            // A `<` that starts no markup (damaged text): step over it.
            (1, Lex::Text)
        };
        self.pos += skip;
        self.lex = lex;
        self.check_size(scan)
    }

    /// An end tag or a start tag has ended (`empty`: `<…/>`).
    fn tag_done(
        &mut self,
        is_end: bool,
        event: bool,
        empty: bool,
        scan: &mut SourceScan<'_>,
    ) -> Result<Option<(u64, Frame)>, Stopped> {
        if event && (is_end || empty) {
            if let Some(record) = self.record.take() {
                return Ok(Some((record, Frame::Whole(self.pos))));
            }
            if is_end && !std::mem::take(&mut self.oversized) {
                // What is left of a record whose start tag is damaged.
                let n = scan.next_record()?;
                let at = self.construct_at;
                scan.bad_at(
                    n,
                    at,
                    "</Event> without its <Event> start tag: a damaged record",
                )?;
            }
        }
        self.check_size(scan)
    }

    /// A record that outgrows [`MAX_RECORD`] is reported and dropped.
    fn check_size(&mut self, scan: &mut SourceScan<'_>) -> Result<Option<(u64, Frame)>, Stopped> {
        if let Some(record) = self.record {
            if self.pos - record > MAX_RECORD as u64 {
                self.record = None;
                self.oversized = true;
                let n = scan.next_record()?;
                scan.bad_at(
                    n,
                    record,
                    format!("record larger than {} MiB", MAX_RECORD >> 20),
                )?;
            }
        }
        Ok(None)
    }
}

/// Whether `name` (the bytes after `<` or `</`) is `Event` followed by the end of a
/// name: blank, `>`, or `/` in a start tag.
fn is_event_name(name: &[u8], start: bool) -> bool {
    name.starts_with(b"Event")
        && match name.get(5) {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>') => true,
            Some(b'/') => start,
            _ => false,
        }
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80
}

/// Scans a tag for its `>`: (bytes consumed, whether the tag ended, the quote open,
/// the last byte that is not blank). A `<` ends a damaged tag before it (not even an
/// attribute value may hold one), so that an unclosed quote cannot hide what follows.
fn scan_tag(data: &[u8], mut quote: Option<u8>, mut last: u8) -> (usize, bool, Option<u8>, u8) {
    for (i, &b) in data.iter().enumerate() {
        match (quote, b) {
            (_, b'<') => return (i, true, None, last),
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'>') => return (i + 1, true, None, last),
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b' ' | b'\t' | b'\r' | b'\n') => continue,
            (None, _) => {}
        }
        last = b;
    }
    (data.len(), false, quote, last)
}

/// Scans a declaration (`<!DOCTYPE x [ <!ENTITY e "…<Event>…"> ]>`) for its end:
/// (bytes consumed, the state to go on in, `None` once it ended). Quoted values may
/// hold `<`; comments in the internal subset may hold quotes.
fn scan_declaration(
    data: &[u8],
    mut depth: u32,
    mut quote: Option<u8>,
    mut comment: bool,
    eof: bool,
) -> (usize, Option<Lex>) {
    let state = |depth, quote, comment| {
        Some(Lex::Declaration {
            depth,
            quote,
            comment,
        })
    };
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        if comment {
            match memmem::find(data.get(i..).unwrap_or_default(), b"-->") {
                Some(j) => {
                    i += j + 3;
                    comment = false;
                    continue;
                }
                None => {
                    let keep = if eof { 0 } else { 2.min(data.len() - i) };
                    return (data.len() - keep, state(depth, quote, true));
                }
            }
        }
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => depth += 1,
            (None, b']') => depth = depth.saturating_sub(1),
            (None, b'>') if depth == 0 => return (i + 1, None),
            (None, b'<') => {
                let rest = data.get(i..).unwrap_or_default();
                if rest.len() < 4 && !eof {
                    return (i, state(depth, quote, false));
                }
                if rest.starts_with(b"<!--") {
                    comment = true;
                    i += 4;
                    continue;
                }
            }
            (None, _) => {}
        }
        i += 1;
    }
    (data.len(), state(depth, quote, comment))
}

/// Reads XML records from `reader` (a whole stream) and hands each to the judge.
pub(crate) fn scan<R: Read>(reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
    scan_framed(reader, Framer::new(0, u64::MAX), scan).map(|_| ())
}

/// Scans one piece of an XML file (issue 14, one file on every core): `reader` yields
/// the file from absolute byte `start`, believed a record start. Judges the records
/// that start before `end` (reading past `end` to finish the last one, and on to the
/// next record start: what lies between, an orphan `</Event>` or a comment, is this
/// piece's), and returns that start as [`Piece::next`] (`None`: the input ended first).
/// The lexer confirms the boundary: `next` is a `<Event` it met between records, not
/// inside a comment, CDATA section or declaration. Byte offsets in its problems are
/// absolute; record numbers count from 1 (the caller adds those of the pieces before).
/// Counts the bytes `start..next` (or to the end) as read.
pub(crate) fn scan_piece<R: Read>(
    reader: R,
    start: u64,
    end: u64,
    scan: &mut SourceScan<'_>,
) -> Result<Piece, Stopped> {
    scan_framed(reader, Framer::new(start, end.max(start)), scan)
}

/// The reading loop of [`scan`] and [`scan_piece`].
fn scan_framed<R: Read>(
    mut reader: R,
    mut framer: Framer,
    scan: &mut SourceScan<'_>,
) -> Result<Piece, Stopped> {
    let start = framer.base;
    let mut fields = Fields::default();
    // The byte-level fast path, unless the full path is asked for (issue 14).
    let mut fast = (!scan.options.full_path).then(fast::Fast::default);
    loop {
        if let Some(fast) = fast.as_mut().filter(|_| framer.clean()) {
            let window = framer.buf.get(..framer.len).unwrap_or_default();
            let read = fast.read(
                window,
                framer.base,
                framer.pos,
                framer.limit,
                MAX_RECORD,
                &mut fields,
            );
            if let Some((start, end, reading)) = read {
                framer.pos = end;
                framer.oversized = false;
                let n = scan.next_record()?;
                match reading {
                    fast::Reading::Unread => count_other(&mut fields, scan, n)?,
                    fast::Reading::Counted(missing) => scan.count(Tally::Process(missing), n)?,
                    fast::Reading::Fields(kind) => {
                        // The fields the full path reads, without quick-xml.
                        scan.judge_as(kind, &fields, n)?;
                        judge_every_reading(&mut fields, scan, n)?;
                    }
                    fast::Reading::Whole => {
                        judge_whole(framer.bytes(start, end), start, &mut fields, scan, n)?;
                    }
                }
                continue;
            }
        }
        match framer.next(scan)? {
            Some((next, Frame::Next)) => {
                if !framer.count_bytes {
                    scan.add_bytes(next - start);
                }
                return Ok(Piece {
                    next: Some(next),
                    lines: 0,
                });
            }
            Some((start, Frame::Whole(end))) => {
                let n = scan.next_record()?;
                judge_whole(framer.bytes(start, end), start, &mut fields, scan, n)?;
            }
            Some((start, Frame::Cut(end))) => {
                let n = scan.next_record()?;
                let size = end - start;
                let why = if end == framer.end() && framer.eof {
                    "the input ends"
                } else {
                    "a new <Event> starts"
                };
                let what =
                    format!("truncated <Event> record of {size} bytes ({why} before its </Event>)");
                match read_record(framer.bytes(start, end), &mut fields, true, true) {
                    Ok(kind) => {
                        let location = Location {
                            record: Some(n),
                            offset: Some(start),
                            ..Location::default()
                        };
                        scan.truncated(location, format!("{what}; judged from its whole fields"))?;
                        scan.judge_as(kind, &fields, n)?;
                    }
                    Err(msg) => scan.bad_at(n, start, format!("{what}: {msg}"))?,
                }
            }
            None if !framer.eof => {
                framer.fill(&mut reader, scan)?;
            }
            None => {
                if !matches!(framer.lex, Lex::Text | Lex::Tag { .. }) {
                    let from = framer.construct_at;
                    scan.source_error(format!(
                        "unterminated {} from byte {from} to the end: its {} bytes were \
                             not read as records",
                        framer.lex.name(),
                        framer.end() - from
                    ))?;
                }
                if !framer.count_bytes {
                    scan.add_bytes(framer.end() - start);
                }
                return Ok(Piece {
                    next: None,
                    lines: 0,
                });
            }
        }
    }
}

/// Reads and judges record `n`, whole (`<Event` .. `</Event>`), at offset `start`.
fn judge_whole(
    record: &[u8],
    start: u64,
    fields: &mut Fields,
    scan: &mut SourceScan<'_>,
    n: u64,
) -> Result<(), Stopped> {
    match read_record(record, fields, true, false) {
        Ok(kind) => {
            scan.judge_as(kind, fields, n)?;
            judge_every_reading(fields, scan, n)
        }
        Err(msg) => scan.bad_at(n, start, msg),
    }
}

/// The XML declaration the `evtx` crate writes before every record it renders.
pub(crate) const RENDERED_DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// The fast path for records that come one at a time, each whole: the `evtx` crate's
/// rendering of an EVTX record. They are read as one stream of records would be (the
/// fast path's searches remember where they found a pattern by stream offset), and
/// judged as [`read_record`] with its filter, then [`SourceScan::judge_as`], judge them:
/// the EVTX reader's full path.
#[derive(Default)]
pub(crate) struct Rendered {
    fast: fast::Fast,
    /// Where the next record starts in that stream.
    at: u64,
}

impl Rendered {
    /// Reads and judges one record (`<Event` .. `</Event>`). `Ok(Err(message))`: not
    /// well-formed XML, not judged. `Err` when the scan must stop (`--strict`).
    pub(crate) fn judge(
        &mut self,
        record: &[u8],
        fields: &mut Fields,
        scan: &mut SourceScan<'_>,
        n: u64,
    ) -> Result<Result<(), String>, Stopped> {
        // The full path reads the declaration as nothing.
        let event = record.strip_prefix(RENDERED_DECLARATION).unwrap_or(record);
        let base = self.at;
        self.at += event.len() as u64;
        let read = self
            .fast
            .read(event, base, base, u64::MAX, event.len(), fields)
            .filter(|&(start, end, _)| start == base && end == self.at);
        match read.map(|(_, _, reading)| reading) {
            Some(fast::Reading::Unread) => return count_other(fields, scan, n).map(Ok),
            Some(fast::Reading::Counted(missing)) => {
                return scan.count(Tally::Process(missing), n).map(Ok)
            }
            Some(fast::Reading::Fields(kind)) => return scan.judge_as(kind, fields, n).map(Ok),
            Some(fast::Reading::Whole) | None => {}
        }
        match read_record(record, fields, true, false) {
            Ok(kind) => scan.judge_as(kind, fields, n).map(Ok),
            Err(msg) => Ok(Err(msg)),
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
///
/// With `cut` (a record cut short, no end tag), the end of the bytes (or XML broken
/// there) ends the reading instead of being an error: the fields read whole are kept,
/// one cut in its value is dropped, and the kind is what `<System>` says. `Err` when
/// even `<System>` is not whole: such a record cannot be judged.
pub(crate) fn read_record(
    record: &[u8],
    fields: &mut Fields,
    filter: bool,
    cut: bool,
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
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) if cut => {
                fields.abandon();
                return match kind {
                    Some(kind) => Ok(kind),
                    None => Err("its <System> part is cut too, so it cannot be judged".into()),
                };
            }
            Ok(event) => event,
            Err(e) => {
                return Err(format!(
                    "malformed XML at byte {} of the record: {e}",
                    reader.error_position()
                ))
            }
        };
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
                        if filter
                            && system_says == EventKind::Connection
                            && !crate::cim::connection_may_matter(record)
                        {
                            // Another process's connection: nothing to learn from it.
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
    unescape_pieces(raw, out, |piece, out| {
        push_utf8(raw.get(piece).unwrap_or_default(), out);
    });
}

/// [`unescape_into`] for text known to be UTF-8 (the fast path checks a record's text
/// once, not each value): the same output.
pub(crate) fn unescape_str_into(raw: &str, out: &mut String) {
    unescape_pieces(raw.as_bytes(), out, |piece, out| {
        // `&` and `;` are ASCII: the pieces between them are whole characters.
        out.push_str(raw.get(piece).unwrap_or_default());
    });
}

/// The one entity loop of [`unescape_into`] and [`unescape_str_into`]: `push` writes
/// the text between references (a range of `raw`), the references are resolved here.
fn unescape_pieces(
    raw: &[u8],
    out: &mut String,
    mut push: impl FnMut(std::ops::Range<usize>, &mut String),
) {
    let mut at = 0;
    while let Some(amp) = raw.get(at..).and_then(|rest| memchr::memchr(b'&', rest)) {
        let amp = at + amp;
        push(at..amp, out);
        let after = raw.get(amp + 1..).unwrap_or_default();
        match entity(after) {
            Some((semi, c)) => {
                out.push(c);
                at = amp + 1 + semi + 1;
            }
            None => {
                out.push('&');
                at = amp + 1;
            }
        }
    }
    push(at..raw.len(), out);
}

/// The entity at the start of `after` (what follows an `&`): where its `;` is and the
/// character it stands for.
fn entity(after: &[u8]) -> Option<(usize, char)> {
    let semi = memchr::memchr(b';', after).filter(|&i| i <= MAX_ENTITY)?;
    Some((semi, entity_char(after.get(..semi)?)?))
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
    fn a_stream_read_after_a_longer_one_reads_as_on_a_fresh_thread() {
        // A thread keeps its window and its field plans from one stream to the next
        // (issue 14): what the first leaves in them changes nothing of the second.
        use crate::replay::{scan_reader, ScanOptions};
        let scan = |bytes: &[u8]| scan_reader("b.xml", bytes, &ScanOptions::default());
        // Longer than a window: it is filled to its end and slid.
        let long = SYSMON.repeat(6000);
        assert!(long.len() > 2 * READ_SIZE);
        let other = String::from_utf8_lossy(SYSMON)
            .replace("<EventID>1<", "<EventID>4688<")
            .replace("/S WS6", "/S WS7")
            .into_bytes();
        // Ends inside a record: the reader meets the end of what it read in the window.
        let mut short = [other.as_slice(), SYSMON, other.as_slice()].concat();
        short.truncate(short.len() - 40);
        let on_a_fresh_thread = {
            let short = short.clone();
            std::thread::spawn(move || scan(&short)).join().unwrap()
        };
        let after_the_long_one = std::thread::spawn(move || {
            scan(&long);
            assert!(crate::replay::PlanCache::kept_count() > 0, "plans kept");
            let spare = SPARE_WINDOW.with(|spare| spare.borrow().len());
            assert!(spare >= READ_SIZE, "the window is kept: {spare} bytes");
            scan(&short)
        })
        .join()
        .unwrap();
        assert_eq!(after_the_long_one, on_a_fresh_thread);
        assert_eq!(on_a_fresh_thread.records(), 3);
    }

    #[test]
    fn reads_system_and_event_data_with_either_quote_style() {
        let mut f = Fields::default();
        assert_eq!(
            read_record(SYSMON, &mut f, true, false),
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
        assert_eq!(
            read_record(other, &mut f, true, false),
            Ok(EventKind::Other)
        );
        assert_eq!(f.get("X"), None);
        assert_eq!(
            read_record(other, &mut f, false, false),
            Ok(EventKind::Other)
        );
        assert_eq!(f.get("X"), Some("1"));
    }

    /// Scans `input[start..]` as a piece ending at `end`: records, bad records, bytes,
    /// problems (record, offset) and where it ended.
    fn piece(input: &[u8], start: u64, end: u64) -> (u64, u64, u64, Vec<Option<u64>>, Piece) {
        let options = crate::replay::ScanOptions::default();
        let mut report = crate::replay::InputReport::default();
        let mut scan = SourceScan::new("t", crate::replay::Format::Xml, &options, &mut report);
        let rest = input.get(start as usize..).unwrap_or_default();
        let done = scan_piece(rest, start, end, &mut scan).unwrap();
        let (records, bad) = (scan.stats.records, scan.stats.bad_records);
        scan.finish();
        let offsets = report.problems.iter().map(|p| p.location.offset).collect();
        (records, bad, report.bytes, offsets, done)
    }

    #[test]
    fn pieces_end_at_a_confirmed_record_start_and_add_up_to_the_whole() {
        // A comment and a CDATA section holding `<Event>` between and inside records,
        // an orphan `</Event>`, a record cut by the next one, one cut by the end.
        let input = br#"<Events><Event><System><EventID>4</EventID></System></Event>
<!-- <Event> --></Event><Event><System><EventID>5</EventID></System><EventData><Data><![CDATA[<Event>]]></Data></EventData></Event>
<Event><System><EventID>6</EventID></System><Event><System><EventID>7</EventID></System></Event><Event><System>"#;
        let len = input.len() as u64;
        let whole = piece(input, 0, u64::MAX);
        assert_eq!(whole.4.next, None);
        assert_eq!((whole.0, whole.1), (6, 2), "{whole:?}");
        // The record starts: every `<Event>` but those in the comment and the CDATA.
        let starts: Vec<u64> = memmem::find_iter(input, b"<Event>")
            .filter(|&i| !matches!(input[i - 1], b' ' | b'['))
            .map(|i| i as u64)
            .collect();
        assert_eq!(starts.len(), 5);
        for end in 0..=len {
            let first = piece(input, 0, end);
            let Some(next) = first.4.next else {
                assert_eq!(first, whole, "end {end}");
                continue;
            };
            assert!(next >= end, "end {end}: next {next}");
            assert!(
                starts.contains(&next),
                "end {end}: next {next} is no record start"
            );
            let second = piece(input, next, u64::MAX);
            assert_eq!(first.0 + second.0, whole.0, "end {end}: records");
            assert_eq!(first.1 + second.1, whole.1, "end {end}: bad records");
            assert_eq!(first.2 + second.2, len, "end {end}: bytes");
            let offsets: Vec<_> = first.3.iter().chain(&second.3).copied().collect();
            assert_eq!(
                offsets, whole.3,
                "end {end}: problems' offsets are absolute"
            );
        }
    }

    #[test]
    fn text_known_to_be_utf8_is_unescaped_as_any_text() {
        let pieces = [
            "a",
            "&",
            ";",
            "amp",
            "#x41",
            "#65",
            "lt",
            "é",
            "#xD800",
            "bogus",
            "&#x1F600;",
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(longer);
        }
        for text in texts {
            let (mut one, mut two) = (String::new(), String::new());
            unescape_into(text.as_bytes(), &mut one);
            unescape_str_into(&text, &mut two);
            assert_eq!(one, two, "{text}");
        }
    }

    #[test]
    fn mismatched_tags_are_an_error_not_a_panic() {
        let bad = br#"<Event><System><EventID>1</EventIDx></System></Event>"#;
        assert!(read_record(bad, &mut Fields::default(), true, false).is_err());
    }
}
