//! EVTX through the `evtx` crate, streamed chunk by chunk from any reader (a file, a zip
//! member, stdin): the 4 KiB file header, then 64 KiB chunks, one in memory at a time.
//! Each record is rendered to XML by the crate and read by the XmlWinEventLog reader,
//! so both formats go through the same field extraction.
//!
//! The fast path (issue 14, the default; [`ScanOptions::full_path`] turns it off) does
//! not render a record whose `<System>` part, read from its template and values
//! ([`skip`]), says the XML reader would stop there: another event, or a connection that
//! cannot name schtasks. It is counted as the full path counts it. Nor is a process
//! creation none of whose values can end a field in `schtasks.exe`, when a record of
//! the same shape (definitions, value types, which values are empty or blank) was
//! rendered and read before, in this chunk or an earlier one (of the file, or of a file
//! or piece the same thread read before: `LEARNED`): the judge counts it as it counted
//! that exemplar ([`skip::Verdict::Count`], the judge's rules in
//! [`super::PlanCache::tally`]). Runs of such records are not even built by the crate:
//! they are folded into one record it builds at almost no cost ([`collapse`]). A
//! chunk's outcomes are held until the chunk is done (`FastPass`), so that a chunk the
//! fast path cannot vouch for is read again in full (its bytes as they were) before
//! anything of it is reported.
//!
//! [`ScanOptions::full_path`]: super::ScanOptions::full_path
//!
//! Chunks are read in file order. (`EvtxParser` starts a wrapped-around log at its
//! oldest chunk, which needs seeking; the records are the same, only their order differs.)

use std::io::{Cursor, Read};
use std::sync::Arc;

use evtx::err::ChunkError;
use evtx::{EvtxChunk, EvtxChunkHeader, EvtxFileHeader, ParserSettings};

use crate::cim::EventKind;

use super::fields::Fields;
use super::{Location, PlanCache, SourceScan, Stopped};

mod collapse;
mod skip;

/// The EVTX file header's size (`ElfFile`), before the first chunk.
pub(crate) const HEADER_SIZE: usize = 4096;
/// An EVTX chunk's size (`ElfChnk`): chunks are independent of each other.
pub(crate) const CHUNK_SIZE: usize = 65536;
/// After this many unreadable records in one chunk, the rest of the chunk is skipped.
pub const MAX_ERRORS_PER_CHUNK: u32 = 64;

/// Reads as many bytes as `buf` holds, unless the stream ends first; returns how many.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads a whole EVTX stream: the file header, then every chunk in file order.
pub(crate) fn scan<R: Read>(mut reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
    if !read_header(&mut reader, scan)? {
        return Ok(());
    }
    scan_chunks(reader, 0, u64::MAX, scan)
}

/// Reads and checks the 4 KiB file header (and counts its bytes). `Ok(false)`: the
/// header is cut short or invalid, reported as a problem of the source; nothing after it
/// is read.
pub(crate) fn read_header<R: Read>(
    reader: &mut R,
    scan: &mut SourceScan<'_>,
) -> Result<bool, Stopped> {
    let mut header = vec![0u8; HEADER_SIZE];
    match read_full(reader, &mut header) {
        Ok(n) if n == HEADER_SIZE => {}
        Ok(n) => {
            scan.source_error(format!("EVTX file header cut short ({n} of 4096 bytes)"))?;
            return Ok(false);
        }
        Err(e) => {
            scan.source_error(format!("cannot read the EVTX file header: {e}"))?;
            return Ok(false);
        }
    }
    scan.add_bytes(HEADER_SIZE as u64);
    if let Err(e) = EvtxFileHeader::from_stream(&mut Cursor::new(&header)) {
        scan.source_error(format!("invalid EVTX file header: {e}"))?;
        return Ok(false);
    }
    Ok(true)
}

/// The piece interface (issue 14, for splitting one file across threads): reads whole
/// chunks `[first, first + count)` of an EVTX file, or up to the end of `reader` if it
/// ends first. `reader` yields the file from chunk `first`'s first byte
/// (`HEADER_SIZE + first * CHUNK_SIZE`); the file header is not read (see
/// [`read_header`]). Problems name chunks by their number in the file and bytes by their
/// offset in the file, as the whole-file [`scan`] does; records are numbered by
/// [`SourceScan::next_record`] (from 1 in a fresh `SourceScan`). A last chunk cut short
/// is reported and its whole records read, as at the end of a whole file. The
/// whole-file [`scan`] reads its chunks through it too. The fast path starts with what
/// this thread learned from the files and pieces it read before (`LEARNED`, unless
/// the scan judges with other settings) and leaves what it learned there.
pub(crate) fn scan_chunks<R: Read>(
    reader: R,
    first: u64,
    count: u64,
    scan: &mut SourceScan<'_>,
) -> Result<(), Stopped> {
    let judged = (scan.options.config.clone(), scan.options.every_verdict);
    let mut pass = LEARNED
        .with(|learned| learned.borrow_mut().take())
        .filter(|(by, _)| *by == judged)
        .map(|(_, pass)| pass)
        .unwrap_or_default();
    let read = scan_chunks_with(reader, first, count, scan, &mut pass);
    LEARNED.with(|learned| *learned.borrow_mut() = Some((judged, pass)));
    read
}

thread_local! {
    /// What the fast path learned on this thread (definitions by content and whether
    /// the crate parses them, the kinds of records by their classifying values, how
    /// the judge counts each shape of process creation, the exemplars' field plans and
    /// the state of the XML reader of rendered records), kept from one file or piece
    /// to the next one the thread reads (issue 14): the files of a collection, and
    /// the pieces of a split file, hold the same few templates, and each would learn
    /// them again (a cold start cost a Sysmon-shaped log cut into 1 MiB files half as
    /// much again as the same chunks in one file). Exact for the reason it is exact
    /// across a file's chunks: all of it is keyed by content, never by where in which
    /// file it was met, and a chunk pass starts afresh ([`skip::ChunkSkips::reset`]).
    /// Kept with the settings it was learned under, and used again only under the same
    /// ones (today the counts depend on neither the configuration nor `--verdicts`; the
    /// key keeps them exact if that changes). Bounded as it is within one file, and held
    /// until the thread ends (a scan's worker threads end with it).
    static LEARNED: std::cell::RefCell<Option<(JudgedBy, FastPass)>> =
        const { std::cell::RefCell::new(None) };
}

/// The settings a scan judges with: what the fast path learned is used again only
/// under the same ones.
type JudgedBy = (crate::detection::DetectorConfig, bool);

/// [`scan_chunks`] with the fast path's state given (tests give one that never vouches
/// for a chunk).
fn scan_chunks_with<R: Read>(
    mut reader: R,
    first: u64,
    count: u64,
    scan: &mut SourceScan<'_>,
    pass: &mut FastPass,
) -> Result<(), Stopped> {
    // Compact XML: indentation would only add bytes for the XML reader to skip.
    let settings = Arc::new(ParserSettings::default().num_threads(1).indent(false));
    let mut fields = Fields::default();
    let end = first.saturating_add(count);
    let mut chunk_number = first;
    let mut buffer = ChunkBuffer::new();
    while chunk_number < end {
        let offset =
            (HEADER_SIZE as u64).saturating_add(chunk_number.saturating_mul(CHUNK_SIZE as u64));
        let data = buffer.chunk();
        let n = match read_full(&mut reader, data) {
            Ok(n) => n,
            Err(e) => return scan.source_error(format!("read error at byte {offset}: {e}")),
        };
        if let Some(tail) = data.get_mut(n..) {
            tail.fill(0);
        }
        scan.add_bytes(n as u64);
        if n == 0 {
            return Ok(());
        }
        let last = n < CHUNK_SIZE;
        if last {
            if data.iter().all(|&b| b == 0) {
                return Ok(());
            }
            // A cut-off copy: the records that are whole are still read (the missing
            // bytes read as zeros, which ends the record walk).
            scan.source_error(format!(
                "EVTX chunk {chunk_number} (at byte {offset}) cut short at {n} of {CHUNK_SIZE} bytes"
            ))?;
        }
        let this_chunk = chunk_number;
        chunk_number += 1;
        // Windows leaves unused chunks zeroed.
        if data.iter().all(|&b| b == 0) {
            continue;
        }
        // A bad chunk header and bad string/template tables are the same to the reader:
        // the chunk's records are lost, the chunks after it are still read. (The header
        // read as `EvtxChunkData::new` reads it, with its error.)
        let header = EvtxChunkHeader::from_bytes(data)
            .map_err(|e| ChunkError::FailedToParseChunkHeader(e).to_string());
        let mut fast = !scan.options.full_path;
        if let (true, Ok(h)) = (fast, header.as_ref()) {
            match pass.folded(h, data, &settings, this_chunk, offset) {
                Some(true) => {
                    pass.apply(scan, &mut fields, offset)?;
                    continue;
                }
                // The chunk's bytes are back as they were: read it in full.
                Some(false) => fast = false,
                None => {}
            }
        }
        let mut chunk = match parse(&header, data, &settings) {
            Ok(c) => c,
            Err(e) => {
                scan.source_error(format!(
                    "EVTX chunk {this_chunk} (at byte {offset}) unreadable, its records skipped: {e}"
                ))?;
                if last {
                    return Ok(());
                }
                continue;
            }
        };
        if fast {
            if pass.run(&mut chunk, this_chunk, offset) {
                drop(chunk);
                pass.apply(scan, &mut fields, offset)?;
                continue;
            }
            // The pass may have spent what the crate's chunk budget cannot always grant:
            // the chunk again, in full, with fresh caches and budget.
            drop(chunk);
            chunk = match parse(&header, data, &settings) {
                Ok(c) => c,
                Err(e) => {
                    scan.source_error(format!(
                        "EVTX chunk {this_chunk} (at byte {offset}) unreadable, its records skipped: {e}"
                    ))?;
                    continue;
                }
            };
        }
        full_chunk(&mut chunk, scan, &mut fields, this_chunk, offset)?;
    }
    Ok(())
}

/// Parses a chunk's string table, given its header (the records are read by iterating
/// it); as `EvtxChunkData::parse` does, from the chunk's bytes where they are.
fn parse<'a>(
    header: &'a Result<EvtxChunkHeader, String>,
    data: &'a [u8],
    settings: &Arc<ParserSettings>,
) -> Result<EvtxChunk<'a>, String> {
    match header {
        Ok(h) => EvtxChunk::new(data, h, Arc::clone(settings)).map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    }
}

/// The one buffer a reader reads its chunks into, page-aligned (issue 14). The kernel
/// copies a file's bytes into it: on the project's AMD EPYC VM that copy took 4 to 6
/// times as long when the buffer started 8 to 24 bytes past a page boundary (the
/// source, the page cache, is page-aligned; chunks start at page boundaries of the
/// file): `cargo bench --bench read_offset`, 64 KiB reads of a cached file, 5.4 to
/// 6.3 ms per 64 MiB at 0 and from 32 bytes on, 26.5 to 35.7 ms at 8, 16 or 24. Where an allocator
/// put a chunk's buffer was luck (glibc's happened to be safe; dlmalloc's, at 16
/// bytes, made the kernel's copy a third of the static build's EVTX scan). One buffer
/// for every chunk also spares a zeroed 64 KiB per chunk the crate reads.
struct ChunkBuffer {
    bytes: Vec<u8>,
    /// Where the page-aligned chunk starts in `bytes`.
    start: usize,
}

impl ChunkBuffer {
    const PAGE: usize = 4096;

    fn new() -> Self {
        let bytes = vec![0u8; CHUNK_SIZE + Self::PAGE];
        // `align_offset` may answer "cannot" (`usize::MAX`): then unaligned, as before.
        let start = Some(bytes.as_ptr().align_offset(Self::PAGE))
            .filter(|&at| at < Self::PAGE)
            .unwrap_or(0);
        ChunkBuffer { bytes, start }
    }

    /// The chunk's `CHUNK_SIZE` bytes.
    fn chunk(&mut self) -> &mut [u8] {
        let start = self.start;
        self.bytes
            .get_mut(start..start + CHUNK_SIZE)
            .unwrap_or_default()
    }
}

/// The message of a record the crate cannot build or render, with the crate's causes
/// (its top error names the record only; what is wrong, and where in the chunk, is in
/// its sources).
fn unreadable(chunk: u64, offset: u64, e: &evtx::err::EvtxError) -> String {
    let mut message = format!("EVTX record unreadable (chunk {chunk} at byte {offset}): {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.ends_with(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// The full path: every record of the chunk rendered to XML and read by the
/// XmlWinEventLog reader (the reference the fast path is compared with).
fn full_chunk(
    chunk: &mut EvtxChunk<'_>,
    scan: &mut SourceScan<'_>,
    fields: &mut Fields,
    this_chunk: u64,
    offset: u64,
) -> Result<(), Stopped> {
    let mut errors = 0;
    let mut records = chunk.iter();
    while let Some(record) = records.next() {
        let n = scan.next_record()?;
        let here = Location {
            record: Some(n),
            offset: Some(offset),
            ..Location::default()
        };
        let xml = match record.and_then(|r| r.into_xml_bytes()) {
            Ok(x) => x,
            Err(e) => {
                scan.bad_record(here, unreadable(this_chunk, offset, &e))?;
                errors += 1;
                if errors >= MAX_ERRORS_PER_CHUNK {
                    if records.next().is_some() {
                        scan.source_error(rest_skipped(this_chunk, offset))?;
                    }
                    break;
                }
                continue;
            }
        };
        judge_xml(scan, fields, &xml.data, xml.event_record_id, n, here)?;
    }
    Ok(())
}

/// The problem of a chunk whose records after the [`MAX_ERRORS_PER_CHUNK`]th unreadable
/// one are skipped: they are neither read nor counted, so it is said.
fn rest_skipped(chunk: u64, offset: u64) -> String {
    format!(
        "EVTX chunk {chunk} (at byte {offset}): {MAX_ERRORS_PER_CHUNK} records unreadable, \
         the rest of the chunk skipped (its records are not counted)"
    )
}

/// Reads a rendered record with the XmlWinEventLog reader and judges it.
fn judge_xml(
    scan: &mut SourceScan<'_>,
    fields: &mut Fields,
    xml: &[u8],
    event_record_id: u64,
    n: u64,
    here: Location,
) -> Result<(), Stopped> {
    match super::xml::read_record(xml, fields, true, false) {
        Ok(kind) => scan.judge_as(kind, fields, n),
        Err(msg) => scan.bad_record(here, rendered_badly(event_record_id, &msg)),
    }
}

/// The message of a record the crate rendered to XML the XML reader cannot read.
fn rendered_badly(event_record_id: u64, msg: &str) -> String {
    format!("EVTX record {event_record_id} rendered to bad XML: {msg}")
}

/// What one record of a chunk came to on the fast path, held until the chunk is done.
enum Outcome {
    /// Its `<System>` says another event: not rendered.
    Other,
    /// A process creation counted as its shape's exemplar was
    /// ([`skip::Verdict::Count`]): not rendered.
    Counted(u16),
    /// Rendered: its XML is `FastPass::xml[range]`.
    Xml {
        event_record_id: u64,
        range: std::ops::Range<usize>,
    },
    /// The crate could not build or render it: the message.
    Unreadable(String),
    /// Not a record: the chunk's records after this are skipped ([`rest_skipped`]).
    RestSkipped(String),
}

/// The outcome of a record that is not rendered ([`skip::Verdict::unrendered`]).
fn unrendered(verdict: skip::Verdict) -> Option<Outcome> {
    match verdict {
        skip::Verdict::Skip => Some(Outcome::Other),
        skip::Verdict::Count(i) => Some(Outcome::Counted(i)),
        skip::Verdict::Render | skip::Verdict::Exemplar(_) => None,
    }
}

/// The fast path over one chunk: records whose `<System>` says another event are not
/// rendered ([`skip`]); the others are, as on the full path. Outcomes are held until
/// the chunk is done, so that a chunk [`skip::ChunkSkips`] cannot vouch for is read
/// again in full before anything is reported.
#[derive(Default)]
struct FastPass {
    skips: skip::ChunkSkips,
    outcomes: Vec<Outcome>,
    xml: Vec<u8>,
    /// The rendered records are read by the XML reader's fast path too.
    rendered: super::xml::Rendered,
    /// Runs of skipped records folded before the crate builds them ([`collapse`]).
    folding: collapse::Folding,
    steps: Vec<collapse::Step>,
    /// How the judge counts the exemplars ([`skip::Verdict::Exemplar`]): their fields
    /// and plans, read here as the judge reads them.
    exemplar: Fields,
    plans: PlanCache,
    /// Records rendered by the crate (tests: what was learned before spares renders).
    #[cfg(test)]
    renders: u64,
}

impl FastPass {
    /// Reads the chunk with its runs of skipped records folded ([`collapse`]): `None`
    /// when its records cannot all be decided before it is read (its bytes untouched;
    /// read it with [`FastPass::run`]), `Some(false)` when it must be read in full (the bytes put
    /// back first), `Some(true)` when its outcomes are ready for [`FastPass::apply`].
    fn folded(
        &mut self,
        header: &EvtxChunkHeader,
        data: &mut [u8],
        settings: &Arc<ParserSettings>,
        this_chunk: u64,
        offset: u64,
    ) -> Option<bool> {
        let (free, last_id) = (header.free_space_offset, header.last_event_record_id);
        // Read before any byte is folded: a chunk whose string table the crate cannot
        // read is unreadable as it is, whatever a fold would change in it.
        if !self.folding.strings_read(data) {
            return None;
        }
        if !self
            .folding
            .fold(data, free, last_id, &mut self.skips, &mut self.steps)
        {
            return None;
        }
        self.outcomes.clear();
        self.xml.clear();
        let steps = std::mem::take(&mut self.steps);
        // Records that are all folded need nothing of the crate: what its iterator
        // would give is known ([`collapse`]'s walk is its walk, every definition is
        // known to parse, and its string table reads).
        let only_folds = steps
            .iter()
            .all(|s| matches!(s, collapse::Step::Folded { .. }));
        let read = if only_folds {
            let verdicts = self.folding.folded().iter();
            self.outcomes
                .extend(verdicts.filter_map(|&verdict| unrendered(verdict)));
            self.all_counted()
        } else {
            EvtxChunk::new(data, header, Arc::clone(settings))
                .is_ok_and(|mut chunk| self.run_steps(&mut chunk, &steps, this_chunk, offset))
        };
        self.steps = steps;
        if read && !self.skips.must_redo() {
            // Every record the crate built, it built without error: the definitions
            // they use parse, here and wherever their content is met again. (A record
            // it could not render withholds the proof too: more than needed, never
            // less.)
            let clean = self
                .outcomes
                .iter()
                .all(|o| !matches!(o, Outcome::Unreadable(_) | Outcome::RestSkipped(_)));
            if clean {
                self.skips.prove(self.folding.built());
            }
            return Some(true);
        }
        self.folding.restore(data);
        Some(false)
    }

    /// Reads the folded chunk's records along `steps`; `false` when the crate gives
    /// something else than planned (a folded record that fails, or not the records
    /// planned).
    fn run_steps(
        &mut self,
        chunk: &mut EvtxChunk<'_>,
        steps: &[collapse::Step],
        this_chunk: u64,
        offset: u64,
    ) -> bool {
        let mut errors = 0;
        let folds = steps
            .iter()
            .any(|s| matches!(s, collapse::Step::Folded { .. }));
        let mut records = chunk.iter();
        let mut folded = 0;
        for step in steps {
            let Some(record) = records.next() else {
                return false;
            };
            let outcome = match (*step, record) {
                (collapse::Step::Folded { records, id }, Ok(r)) if r.event_record_id == id => {
                    let run = usize::try_from(records).unwrap_or(usize::MAX);
                    let verdicts = self.folding.folded().get(folded..).unwrap_or_default();
                    let verdicts = verdicts.iter().take(run);
                    // Folded records are unrendered ones (skipped or counted).
                    self.outcomes
                        .extend(verdicts.filter_map(|&verdict| unrendered(verdict)));
                    folded = folded.saturating_add(run);
                    continue;
                }
                (collapse::Step::Folded { .. }, _) => return false,
                // A record that fails may be the one whose definition a folded record
                // was vouched for by: the chunk is read in full.
                (collapse::Step::Kept { .. }, Err(_)) if folds => return false,
                (collapse::Step::Kept { .. }, Err(e)) => {
                    self.skips.unsure();
                    Outcome::Unreadable(unreadable(this_chunk, offset, &e))
                }
                (collapse::Step::Kept { verdict, bound }, Ok(r)) => {
                    if let Some(outcome) = unrendered(verdict) {
                        self.outcomes.push(outcome);
                        continue;
                    }
                    match self.render(r, verdict, bound, this_chunk, offset) {
                        Outcome::Unreadable(_) if folds => return false,
                        outcome => outcome,
                    }
                }
            };
            let more = || records.next().is_some();
            if !self.hold(outcome, &mut errors, more, this_chunk, offset) {
                return self.all_counted();
            }
        }
        records.next().is_none() && self.all_counted()
    }

    /// Holds a record's outcome; `false` when the chunk's reading ends with it, its
    /// [`MAX_ERRORS_PER_CHUNK`]th unreadable record (then a problem says whether
    /// records were left: `more()`, which takes the next record).
    fn hold(
        &mut self,
        outcome: Outcome,
        errors: &mut u32,
        more: impl FnOnce() -> bool,
        this_chunk: u64,
        offset: u64,
    ) -> bool {
        let unreadable = matches!(outcome, Outcome::Unreadable(_));
        self.outcomes.push(outcome);
        if !unreadable {
            return true;
        }
        *errors += 1;
        if *errors < MAX_ERRORS_PER_CHUNK {
            return true;
        }
        if more() {
            let rest = rest_skipped(this_chunk, offset);
            self.outcomes.push(Outcome::RestSkipped(rest));
        }
        false
    }

    /// Whether every record counted like an exemplar has one the judge counts.
    fn all_counted(&self) -> bool {
        self.outcomes.iter().all(|o| match o {
            Outcome::Counted(i) => self.skips.tally_of(*i).is_some(),
            _ => true,
        })
    }

    /// Renders a record [`skip::ChunkSkips`] did not skip, as the full path does; of
    /// an exemplar, tells it how the judge counts it.
    fn render(
        &mut self,
        r: evtx::EvtxRecord<'_>,
        verdict: skip::Verdict,
        bound: u64,
        this_chunk: u64,
        offset: u64,
    ) -> Outcome {
        #[cfg(test)]
        {
            self.renders += 1;
        }
        let outcome = match r.into_xml_bytes() {
            Ok(x) => {
                self.skips.rendered(bound, x.data.len());
                let start = self.xml.len();
                self.xml.extend_from_slice(&x.data);
                Outcome::Xml {
                    event_record_id: x.event_record_id,
                    range: start..self.xml.len(),
                }
            }
            Err(e) => {
                self.skips.unsure();
                Outcome::Unreadable(unreadable(this_chunk, offset, &e))
            }
        };
        if let skip::Verdict::Exemplar(i) = verdict {
            let tally = match &outcome {
                Outcome::Xml { range, .. } => {
                    let xml = self.xml.get(range.clone()).unwrap_or_default();
                    // As the full path reads it ([`judge_xml`]).
                    match super::xml::read_record(xml, &mut self.exemplar, true, false) {
                        Ok(EventKind::ProcessCreation) => {
                            self.plans.tally(EventKind::ProcessCreation, &self.exemplar)
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            self.skips.tallied(i, tally);
        }
        outcome
    }

    /// Reads the chunk's records; `false` when the chunk must be read in full instead.
    fn run(&mut self, chunk: &mut EvtxChunk<'_>, this_chunk: u64, offset: u64) -> bool {
        self.skips.reset();
        self.outcomes.clear();
        self.xml.clear();
        let data = chunk.data;
        let mut errors = 0;
        let mut records = chunk.iter();
        while let Some(record) = records.next() {
            let outcome = match record {
                Err(e) => {
                    self.skips.unsure();
                    Outcome::Unreadable(unreadable(this_chunk, offset, &e))
                }
                Ok(r) => {
                    let (verdict, bound) = self.skips.record(data, r.binxml_offset, r.binxml_size);
                    if let Some(outcome) = unrendered(verdict) {
                        self.outcomes.push(outcome);
                        continue;
                    }
                    self.render(r, verdict, bound, this_chunk, offset)
                }
            };
            let more = || records.next().is_some();
            if !self.hold(outcome, &mut errors, more, this_chunk, offset) {
                break;
            }
        }
        !self.skips.must_redo() && self.all_counted()
    }

    /// Reports the chunk's records, in order, as the full path does.
    fn apply(
        &mut self,
        scan: &mut SourceScan<'_>,
        fields: &mut Fields,
        offset: u64,
    ) -> Result<(), Stopped> {
        for outcome in self.outcomes.drain(..) {
            if let Outcome::RestSkipped(msg) = outcome {
                scan.source_error(msg)?;
                continue;
            }
            let n = scan.next_record()?;
            let here = Location {
                record: Some(n),
                offset: Some(offset),
                ..Location::default()
            };
            match outcome {
                Outcome::Other => scan.judge_as(EventKind::Other, fields, n)?,
                Outcome::Counted(i) => match self.skips.tally_of(i) {
                    Some(tally) => scan.count(tally, n)?,
                    // Not reached: a pass with such a record is read in full
                    // ([`FastPass::all_counted`]).
                    None => scan.bad_record(here, "EVTX record not counted (a bug)")?,
                },
                Outcome::Xml {
                    event_record_id,
                    range,
                } => {
                    let xml = self.xml.get(range).unwrap_or_default();
                    if let Err(msg) = self.rendered.judge(xml, fields, scan, n)? {
                        scan.bad_record(here, rendered_badly(event_record_id, &msg))?;
                    }
                }
                Outcome::Unreadable(msg) => scan.bad_record(here, msg)?,
                Outcome::RestSkipped(msg) => scan.source_error(msg)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{Format, InputReport, ScanOptions};
    use evtx::EvtxChunkData;

    #[test]
    fn chunks_are_read_into_a_page_aligned_buffer() {
        for i in 1..=8 {
            // An allocation before it moves where the allocator puts the next one.
            let _before = Vec::<u8>::with_capacity(24 * i);
            let mut buffer = ChunkBuffer::new();
            let chunk = buffer.chunk();
            assert_eq!(chunk.len(), CHUNK_SIZE);
            assert_eq!(chunk.as_ptr() as usize % ChunkBuffer::PAGE, 0);
        }
    }

    /// Real chunks (EVTX-ATTACK-SAMPLES, via ../shared/datasets) after one file header.
    pub(crate) fn sample_chunks() -> (Vec<u8>, Vec<Vec<u8>>) {
        const SAMPLES: [&str; 3] = [
            "AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx",
            "Execution/sysmon_exec_from_vss_persistence.evtx",
            "Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx",
        ];
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/datasets/EVTX-ATTACK-SAMPLES"
        );
        let (mut header, mut chunks) = (Vec::new(), Vec::new());
        for rel in SAMPLES {
            let file = std::fs::read(format!("{dir}/{rel}"))
                .unwrap_or_else(|e| panic!("{dir}/{rel}: {e} (../shared/datasets is needed)"));
            header = file[..HEADER_SIZE].to_vec();
            chunks.extend(file[HEADER_SIZE..].chunks(CHUNK_SIZE).map(<[u8]>::to_vec));
        }
        (header, chunks)
    }

    /// Records, bad records and problems (message and location) of `chunks[first..]`
    /// scanned as one piece of `count` chunks (`with_header`: the file header first).
    fn piece(input: &[u8], first: u64, count: u64) -> (u64, u64, Vec<String>) {
        let options = ScanOptions::default();
        let mut report = InputReport::default();
        let mut scan = SourceScan::new("t", Format::Evtx, &options, &mut report);
        if first == 0 {
            let mut reader = input;
            assert!(read_header(&mut reader, &mut scan).unwrap());
            scan_chunks(reader, 0, count, &mut scan).unwrap();
        } else {
            let at = HEADER_SIZE + first as usize * CHUNK_SIZE;
            scan_chunks(input.get(at..).unwrap_or_default(), first, count, &mut scan).unwrap();
        }
        let (records, bad) = (scan.stats.records, scan.stats.bad_records);
        scan.finish();
        let problems = report
            .problems
            .iter()
            .map(|p| format!("{:?} {}", p.location, p.message))
            .collect();
        (records, bad, problems)
    }

    #[test]
    fn every_rendered_record_starts_with_the_declaration_the_xml_fast_path_expects() {
        // Otherwise no rendered record would take the XML reader's fast path (exact
        // either way, but as slow as before).
        let (_, chunks) = sample_chunks();
        let settings = Arc::new(ParserSettings::default().num_threads(1).indent(false));
        let mut rendered = 0;
        for data in chunks {
            let mut data = EvtxChunkData::new(data, false).unwrap();
            let mut chunk = data.parse(Arc::clone(&settings)).unwrap();
            for record in chunk.iter() {
                let xml = record.and_then(|r| r.into_xml_bytes()).unwrap();
                assert!(
                    xml.data
                        .starts_with(crate::replay::xml::RENDERED_DECLARATION),
                    "{}",
                    String::from_utf8_lossy(&xml.data[..80.min(xml.data.len())])
                );
                assert!(xml
                    .data
                    .get(RENDERED_DECLARATION_LEN..)
                    .is_some_and(|e| e.starts_with(b"<Event ")));
                rendered += 1;
            }
        }
        assert!(rendered > 50, "{rendered} records");
    }

    const RENDERED_DECLARATION_LEN: usize = crate::replay::xml::RENDERED_DECLARATION.len();

    #[test]
    fn a_chunk_read_again_in_full_reports_what_the_full_path_reports() {
        // Every chunk where a record was skipped is read again in full (the path of a
        // chunk whose render budget the fast path cannot vouch for): same report.
        let (header, chunks) = sample_chunks();
        let mut input = header;
        for chunk in chunks.iter().chain(&chunks) {
            input.extend_from_slice(chunk);
        }
        let report = |full_path: bool, tight: bool| {
            let options = ScanOptions {
                full_path,
                ..ScanOptions::default()
            };
            let mut report = InputReport::default();
            let mut scan = SourceScan::new("t", Format::Evtx, &options, &mut report);
            let mut pass = FastPass {
                skips: if tight {
                    skip::ChunkSkips::tight()
                } else {
                    skip::ChunkSkips::default()
                },
                ..FastPass::default()
            };
            let mut reader = &input[..];
            assert!(read_header(&mut reader, &mut scan).unwrap());
            scan_chunks_with(reader, 0, u64::MAX, &mut scan, &mut pass).unwrap();
            scan.finish();
            report
        };
        let full = report(true, false);
        assert_eq!(full.records(), 150);
        assert_eq!(report(false, true), full);
        assert_eq!(report(false, false), full);
    }

    #[test]
    fn records_skipped_after_the_last_reported_bad_record_of_a_chunk_are_said_to_be() {
        // A chunk of `n` records the crate cannot build (32 bytes each: a header with a
        // real time, then an invalid BinXML token): after MAX_ERRORS_PER_CHUNK of them
        // the rest of the chunk is skipped, and a problem says so (found by a newcomer:
        // a detection after 64 bad records was lost without a word).
        let (header, chunks) = sample_chunks();
        let chunk = |n: u32| {
            let mut c = chunks[0][..512].to_vec();
            c[128..512].fill(0);
            c[24..32].copy_from_slice(&1u64.to_le_bytes());
            c[32..40].copy_from_slice(&u64::from(n).to_le_bytes());
            c[44..48].copy_from_slice(&(512 + 32 * (n - 1)).to_le_bytes());
            c[48..52].copy_from_slice(&(512 + 32 * n).to_le_bytes());
            let time = chunks[0][512 + 16..512 + 24].to_vec();
            for id in 1..=u64::from(n) {
                c.extend_from_slice(b"**\0\0");
                c.extend_from_slice(&32u32.to_le_bytes());
                c.extend_from_slice(&id.to_le_bytes());
                c.extend_from_slice(&time);
                c.extend_from_slice(&[0xff; 4]);
                c.extend_from_slice(&32u32.to_le_bytes());
            }
            c.resize(CHUNK_SIZE, 0);
            c
        };
        for n in [MAX_ERRORS_PER_CHUNK, MAX_ERRORS_PER_CHUNK + 6] {
            let mut input = header.clone();
            input.extend_from_slice(&chunk(n));
            let report = |full_path: bool| {
                let options = ScanOptions {
                    full_path,
                    ..ScanOptions::default()
                };
                let mut report = InputReport::default();
                let mut scan = SourceScan::new("t", Format::Evtx, &options, &mut report);
                super::scan(&input[..], &mut scan).unwrap();
                scan.finish();
                report
            };
            let full = report(true);
            assert_eq!(report(false), full);
            assert_eq!(full.counts.bad_records, u64::from(MAX_ERRORS_PER_CHUNK));
            let said = full
                .problems
                .iter()
                .any(|p| p.message.contains("the rest of the chunk skipped"));
            assert_eq!(
                said,
                n > MAX_ERRORS_PER_CHUNK,
                "{n} records: {:?}",
                full.problems
            );
            // Each bad record's problem carries the crate's cause: what byte, and where in
            // the chunk (the top error names the record only).
            let first = full.problems.first().map(|p| p.message.as_str());
            assert!(
                first.is_some_and(|m| m.contains("invalid byte `0xff`") && m.contains("Offset 0x")),
                "{first:?}"
            );
        }
    }

    #[test]
    fn runs_of_skipped_records_are_folded_and_the_chunk_put_back_as_it_was() {
        // The samples are mostly other events: runs of them fold, the crate gives one
        // record for each run, each record gets an outcome, and the bytes folding
        // edited are put back exactly (the chunk is then read in full, if need be).
        let (_, chunks) = sample_chunks();
        let settings = Arc::new(ParserSettings::default().num_threads(1).indent(false));
        let (mut folded, mut records) = (0, 0);
        for original in &chunks {
            let mut data = EvtxChunkData::new(original.clone(), false).unwrap();
            let in_chunk = data.parse(Arc::clone(&settings)).unwrap().iter().count();
            let mut pass = FastPass::default();
            assert_eq!(
                pass.folded(&data.header, &mut data.data, &settings, 0, 0),
                Some(true)
            );
            assert_eq!(pass.outcomes.len(), in_chunk);
            let runs: Vec<u64> = pass
                .steps
                .iter()
                .filter_map(|s| match s {
                    collapse::Step::Folded { records, .. } => Some(*records),
                    collapse::Step::Kept { .. } => None,
                })
                .collect();
            let edited = data.data != *original;
            assert_eq!(edited, !runs.is_empty());
            pass.folding.restore(&mut data.data);
            assert!(
                data.data == *original,
                "the chunk's bytes were not put back"
            );
            folded += runs.iter().sum::<u64>();
            records += in_chunk;
        }
        assert!(
            folded * 2 > records as u64,
            "{folded} of {records} records folded"
        );
    }

    #[test]
    fn process_creations_are_counted_as_their_exemplar_is_without_being_rendered() {
        // Each record counted like an exemplar gets, rendered and read on its own,
        // the same count from the judge's rules as the exemplar; the samples' Sysmon 1
        // records repeat their shapes, so some are counted.
        let (_, chunks) = sample_chunks();
        let settings = Arc::new(ParserSettings::default().num_threads(1).indent(false));
        let (mut counted, mut plans, mut fields) = (0, PlanCache::default(), Fields::default());
        for original in &chunks {
            let mut data = EvtxChunkData::new(original.clone(), false).unwrap();
            let mut pass = FastPass::default();
            assert_eq!(
                pass.folded(&data.header, &mut data.data, &settings, 0, 0),
                Some(true)
            );
            let mut whole = EvtxChunkData::new(original.clone(), false).unwrap();
            let mut chunk = whole.parse(Arc::clone(&settings)).unwrap();
            for (outcome, record) in pass.outcomes.iter().zip(chunk.iter()) {
                let Outcome::Counted(shape) = outcome else {
                    continue;
                };
                let xml = record.unwrap().into_xml_bytes().unwrap().data;
                let kind = crate::replay::xml::read_record(&xml, &mut fields, true, false);
                assert_eq!(kind, Ok(EventKind::ProcessCreation));
                let tally = plans.tally(EventKind::ProcessCreation, &fields);
                assert!(tally.is_some());
                assert_eq!(pass.skips.tally_of(*shape), tally);
                counted += 1;
            }
        }
        assert!(counted >= 10, "{counted} process creations counted");
    }

    #[test]
    fn a_thread_keeps_what_the_fast_path_learned_for_its_next_file_under_the_same_settings() {
        // A thread of its own: its thread-locals start empty.
        std::thread::spawn(|| {
            let (header, chunks) = sample_chunks();
            let mut file = header.clone();
            file.extend(chunks.iter().flatten());
            let known = || {
                LEARNED.with(|learned| {
                    learned
                        .borrow()
                        .as_ref()
                        .map_or(0, |(_, pass)| pass.skips.contents_known())
                })
            };
            let scan_with = |options: &ScanOptions, input: &[u8]| {
                let mut report = InputReport::default();
                let mut scan = SourceScan::new("t", Format::Evtx, options, &mut report);
                super::scan(input, &mut scan).unwrap();
                scan.finish();
            };
            let renders = || {
                LEARNED.with(|learned| {
                    learned
                        .borrow()
                        .as_ref()
                        .map_or(0, |(_, pass)| pass.renders)
                })
            };
            assert_eq!(known(), 0);
            let options = ScanOptions::default();
            scan_with(&options, &file);
            let learned = known();
            assert!(learned > 0, "the samples' definitions are kept");
            // The same records again: what the first file taught spares renders (the
            // exemplars of its shapes; chunks whose definitions it proved).
            let first = renders();
            scan_with(&options, &file);
            let second = renders() - first;
            assert!(second < first, "{second} renders after {first}");
            assert_eq!(known(), learned);
            // A file with no chunk learns nothing and forgets nothing...
            scan_with(&options, &header);
            assert_eq!(known(), learned);
            // ...unless the judge's settings differ: then it starts afresh.
            let verdicts = ScanOptions {
                every_verdict: true,
                ..ScanOptions::default()
            };
            scan_with(&verdicts, &header);
            assert_eq!(known(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn chunk_pieces_add_up_to_the_whole_file_with_its_chunk_numbers_and_offsets() {
        let (header, chunks) = sample_chunks();
        let mut input = header;
        for chunk in &chunks {
            input.extend_from_slice(chunk);
        }
        // A chunk with a bad header (its records are lost), a zeroed (unused) one, the
        // first chunk again with a bad record, and one cut short at the end.
        let mut bad = chunks[0].clone();
        bad[0] ^= 0xff;
        input.extend_from_slice(&bad);
        input.extend_from_slice(&vec![0; CHUNK_SIZE]);
        let mut flipped = chunks[1].clone();
        flipped[0x200 + 24 + 10] ^= 0x5a;
        input.extend_from_slice(&flipped);
        input.extend_from_slice(&chunks[2][..CHUNK_SIZE / 2]);
        let total = 7;
        let whole = {
            let options = ScanOptions::default();
            let mut report = InputReport::default();
            let mut scan = SourceScan::new("t", Format::Evtx, &options, &mut report);
            super::scan(&input[..], &mut scan).unwrap();
            let (records, bad) = (scan.stats.records, scan.stats.bad_records);
            scan.finish();
            let problems: Vec<String> = report
                .problems
                .iter()
                .map(|p| format!("{:?} {}", p.location, p.message))
                .collect();
            (records, bad, problems)
        };
        assert_eq!(piece(&input, 0, u64::MAX), whole);
        assert!(
            whole
                .2
                .iter()
                .any(|p| p.contains("chunk 3 (at byte 200704)")),
            "{whole:?}"
        );
        assert!(
            whole
                .2
                .iter()
                .any(|p| p.contains("chunk 6 (at byte 397312) cut short")),
            "{whole:?}"
        );
        for split in 1..total {
            let (a, b) = (piece(&input, 0, split), piece(&input, split, u64::MAX));
            assert_eq!(a.0 + b.0, whole.0, "split at chunk {split}: records");
            assert_eq!(a.1 + b.1, whole.1, "split at chunk {split}: bad records");
            let problems: Vec<String> = a.2.iter().chain(&b.2).cloned().collect();
            // Record numbers are the piece's own (the merge fixes them up); the rest
            // of each problem is the whole file's.
            let unnumbered = |p: &[String]| -> Vec<String> {
                p.iter()
                    .map(|s| {
                        s.split_once(", line")
                            .map_or(s.clone(), |(_, r)| r.to_owned())
                    })
                    .collect()
            };
            assert_eq!(
                unnumbered(&problems),
                unnumbered(&whole.2),
                "split at chunk {split}"
            );
        }
    }
}
