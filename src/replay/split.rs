//! One large file on every core (issue 14): a regular, uncompressed EVTX, UTF-8
//! XmlWinEventLog or JSON-lines file is cut into pieces that threads scan at once, and
//! the pieces' results are merged so that the output is the one a single thread gives
//! reading the file in order (the `full_path` reference of the differential tests).
//!
//! ## Where a file is cut
//! - EVTX: after the 4 KiB file header, at whole 64 KiB chunks (chunks are independent:
//!   each carries its own string and template tables). The file header is read once,
//!   before splitting; a file whose header does not parse is not split.
//! - JSON lines: just after a `\n`. The line reader ends a line at every `\n` whatever
//!   it is inside, so such a cut is always a record boundary.
//! - XmlWinEventLog: at an `<Event` tag (the framer's record start). That is only a
//!   guess (the bytes may lie in a comment, a CDATA section, an attribute value…): the
//!   reader of the piece before reports where its framer, in a clean top-level state,
//!   saw the first record start at or after the cut; when that is not the next piece's
//!   start, the next piece's result is dropped and its range rescanned from the
//!   confirmed point. Exact on hostile input, and as fast as the guess on real input.
//!
//! A file is split only when it is larger than [`ScanOptions::piece_bytes`] and
//! [`ScanOptions::piece_threads`] is at least 2; anything else (compressed, an archive,
//! UTF-16, CSV, classic text, stdin, a FIFO, `full_path`) is scanned as before.
//!
//! ## The merge
//! Each piece is read by its own [`SourceScan`] in *piece mode*: it counts and judges as
//! usual, but hands its detections and its target-side events (the task events and
//! network logons the 4624↔4698 [correlator](super::correlate) pairs) to a bounded queue
//! ([`PIECE_QUEUE`]) instead of emitting and pairing them. The merge takes the pieces in
//! file order and replays each queue into the source's one `SourceScan`: record numbers
//! are made global (piece-relative numbers plus the records of the pieces before), and
//! the task events and logons go through the one correlator in file order, so a logon
//! in one piece pairs with a task in the next and the correlator's bounds forget the
//! same entries. Problems get global record numbers, JSON-lines line numbers and byte
//! offsets; `--strict` stops at the first piece that stopped (the same first problem);
//! the first process creation not judged is the first piece's that has one.
//!
//! Memory: at most `2 × piece_threads` pieces are started ahead of the one being merged,
//! each with at most [`PIECE_QUEUE`] events waiting, whatever the file holds.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};

use memchr::memmem;

use super::correlate::{OwnedLogon, OwnedTask};
use super::ordered::{Ordered, TICK};
use super::sniff::{sniff, SNIFF_LEN};
use super::{
    Counting, Detection, Format, InputReport, ScanOptions, Sighting, SourceScan, SourceStats, Stop,
    Stopped,
};

/// The default size of a piece (64 MiB): a file is split when it is larger. Large enough
/// that a piece's fixed costs (opening the file, a first buffer fill) vanish beside its
/// reading; the last pieces of a file are smaller (`guided` in this module), so that
/// the threads end together (a 1 GiB file on 2 threads: 13 pieces of 64 MiB, then 11
/// from 48 MiB down, the last ones 8 MiB and what is left).
pub const DEFAULT_PIECE_BYTES: u64 = 64 << 20;

/// Events (detections, task events, logons) one piece may have waiting for the merge;
/// its scan waits when the queue is full, so memory does not grow with what a piece
/// holds (at most 2 × threads pieces are under way, each with at most this many).
/// A piece waits for the merge to reach it only past this many: at 256, a 1 GB XML
/// file with 4,950 detections per 300 MB (a real sample repeated) made every piece
/// wait for the one before and two threads were no faster than one. They travel in
/// batches of up to 64 (`EVENT_BATCH`), and a piece holds at most one batch more back.
pub const PIECE_QUEUE: usize = 4096;

/// The EVTX file header and chunk sizes.
const EVTX_HEADER: u64 = super::evtx::HEADER_SIZE as u64;
const EVTX_CHUNK: u64 = super::evtx::CHUNK_SIZE as u64;

/// What a piece's scan hands the merge, in record order.
pub(crate) enum PieceEvent {
    /// A detection (or, with `--verdicts`, a judged event), record piece-relative.
    Detection(Detection),
    /// A 4698/4702 for the correlator, record piece-relative.
    Task(OwnedTask, Sighting),
    /// A network logon (4624 type 3) for the correlator.
    Logon {
        host: String,
        logon_id: String,
        logon: OwnedLogon,
    },
    /// A (host, address) a connection event taught ([`InputReport::addresses`]).
    Address(String, String),
}

/// What a piece's worker sends the merge.
enum Msg {
    /// Events in record order, at most [`EVENT_BATCH`]: one message (one wake of the
    /// merge) per batch, not per detection.
    Events(Vec<PieceEvent>),
    Done(Box<Piece>),
}

/// The most events a piece hands the merge in one message. A piece holds events back
/// until it has this many, or until [`TICK`] after the first one held, or until it ends:
/// a detection reaches the output at most one piece's scan late. One message per
/// detection cost a context switch each: with 16,500 detections in a 1 GB XML file, the
/// merge and printer threads' wake-ups took a tenth of the two cores.
const EVENT_BATCH: usize = 64;

/// Events a piece holds back for the merge ([`Msg::Events`]).
struct Batch {
    tx: SyncSender<Msg>,
    held: RefCell<(Vec<PieceEvent>, Option<std::time::Instant>)>,
}

impl Batch {
    fn push(&self, e: PieceEvent) {
        let full = {
            let mut held = self.held.borrow_mut();
            let (events, since) = &mut *held;
            events.push(e);
            let since = *since.get_or_insert_with(std::time::Instant::now);
            events.len() >= EVENT_BATCH || since.elapsed() >= TICK
        };
        if full {
            self.flush();
        }
    }

    fn flush(&self) {
        let events = {
            let mut held = self.held.borrow_mut();
            held.1 = None;
            std::mem::take(&mut held.0)
        };
        if !events.is_empty() {
            // The merge gone (only after a stop) just drops these.
            let _ = self.tx.send(Msg::Events(events));
        }
    }
}

/// A piece's result once its scan ended.
struct Piece {
    stats: SourceStats,
    /// Its problems (piece-relative record and line numbers), first unjudged, abort.
    report: InputReport,
    ended: Ended,
}

/// How a piece's reading ended.
#[derive(Debug, Default)]
struct Ended {
    /// Where the next piece must start, as this piece's reader saw it (`None`: the
    /// input ended inside this piece, or the piece was stopped).
    next: Option<u64>,
    /// Lines read (JSON lines), to make the next pieces' line numbers global.
    lines: u64,
}

/// One piece to scan: a byte range of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
}

/// Scans `path` split across threads when it can be (see the module documentation);
/// `false` when it cannot, and nothing was read or reported: the caller scans it whole.
pub(crate) fn scan_path(path: &Path, options: &ScanOptions, report: &mut InputReport) -> bool {
    if options.full_path || options.piece_threads < 2 {
        return false;
    }
    let Some((format, ranges)) = plan(path, options.piece_bytes, options.piece_threads) else {
        return false;
    };
    let name = path.display().to_string();
    run(path, &name, format, &ranges, options, report);
    true
}

/// How many pieces `path` is cut into by a scan with `options` (1: it is read whole,
/// as when it cannot be read). Reads the file's head and 64 KiB near each cut; for the
/// summary's thread count and for tests.
pub fn pieces(path: &Path, options: &ScanOptions) -> usize {
    if options.full_path || options.piece_threads < 2 {
        return 1;
    }
    plan(path, options.piece_bytes, options.piece_threads).map_or(1, |(_, ranges)| ranges.len())
}

/// The size of the next piece when `remaining` units (bytes, or EVTX chunks) of the
/// file are left: `piece`, until the rest is 2 × `threads` pieces; then a quarter of
/// what each thread has left (with 2 threads), down to an eighth of `piece`, so that
/// the threads end together. The threads take the pieces in turn, each the next one
/// when it is free: with equal pieces, one thread read the last piece alone while the
/// other waited, up to a piece's time (a 1 GB file at 64M: 16 pieces, a 16th of the
/// file on one core; on this project's 2-core machine the second thread ended 10 to
/// 120 ms after the first, of a 1.1 s scan). A piece costs about 2 M instructions of
/// its own (a file opened, a first buffer, the XML templates learned again): 8 MiB
/// pieces cost under 1 %.
fn guided(remaining: u64, piece: u64, threads: usize) -> u64 {
    let threads = u64::try_from(threads.max(1)).unwrap_or(1);
    let smallest = (piece / 8).max(1);
    (remaining / threads.saturating_mul(2))
        .max(smallest)
        .min(piece.max(1))
}

/// The file's format and its pieces, when it is worth splitting and can be split.
fn plan(path: &Path, piece_bytes: u64, threads: usize) -> Option<(Format, Vec<Range>)> {
    let meta = std::fs::metadata(path).ok()?;
    let len = meta.len();
    let piece_bytes = piece_bytes.max(1);
    if !meta.is_file() || len <= piece_bytes {
        return None;
    }
    let mut file = File::open(path).ok()?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut file)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .ok()?;
    let format = sniff(&head);
    let starts = match format {
        Format::Evtx => evtx_starts(&mut file, len, piece_bytes, threads)?,
        Format::JsonLines => text_starts(&mut file, len, piece_bytes, threads, Cut::Line)?,
        Format::Xml => text_starts(&mut file, len, piece_bytes, threads, Cut::EventTag)?,
        _ => return None,
    };
    let ranges: Vec<Range> = starts
        .iter()
        .zip(starts.iter().skip(1).chain(std::iter::once(&len)))
        .map(|(&start, &end)| Range { start, end })
        .collect();
    (ranges.len() >= 2).then_some((format, ranges))
}

/// EVTX pieces: the first holds the file header; each starts at a chunk, sized by
/// [`guided`] in chunks. `None` when the file header does not parse (the whole-file
/// scan reports that once).
fn evtx_starts(file: &mut File, len: u64, piece_bytes: u64, threads: usize) -> Option<Vec<u64>> {
    let mut header = vec![0u8; EVTX_HEADER as usize];
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_exact(&mut header).ok()?;
    evtx::EvtxFileHeader::from_stream(&mut Cursor::new(&header)).ok()?;
    let chunks = (len - EVTX_HEADER).div_ceil(EVTX_CHUNK);
    let per_piece = (piece_bytes / EVTX_CHUNK).max(1);
    let mut starts = vec![0];
    let mut chunk = guided(chunks, per_piece, threads);
    while chunk < chunks {
        starts.push(EVTX_HEADER + chunk * EVTX_CHUNK);
        chunk += guided(chunks - chunk, per_piece, threads);
    }
    Some(starts)
}

/// Where a text file may be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Just after a `\n` (JSON lines): always a record boundary.
    Line,
    /// At `<Event` followed by a blank, `>` or `/` (the XML framer's record start): a
    /// guess the piece before confirms.
    EventTag,
}

impl Cut {
    fn pattern(self) -> &'static [u8] {
        match self {
            Cut::Line => b"\n",
            Cut::EventTag => b"<Event",
        }
    }

    /// Whether a `pattern` found at `hit` in `data` is a cut, and where it goes; `None`
    /// too when the byte that tells is past `data` (the next read sees it again).
    fn at(self, data: &[u8], hit: usize) -> Option<usize> {
        match self {
            Cut::Line => Some(hit + 1),
            Cut::EventTag => data
                .get(hit + 6)
                .filter(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
                .map(|_| hit),
        }
    }
}

/// Text pieces: the first cut at or after each nominal start, [`guided`] from the one
/// before.
fn text_starts(
    file: &mut File,
    len: u64,
    piece_bytes: u64,
    threads: usize,
    cut: Cut,
) -> Option<Vec<u64>> {
    let mut starts = vec![0];
    let mut nominal = guided(len, piece_bytes, threads);
    let mut buf = vec![0u8; 1 << 16];
    while nominal < len {
        // From the byte before, so that a multiple that already is a line start stays.
        let Some(start) = next_cut(file, nominal - 1, cut, &mut buf)? else {
            break;
        };
        if start >= len {
            break;
        }
        if starts.last().is_some_and(|&last| start > last) {
            starts.push(start);
        }
        let from = start.max(nominal);
        nominal = from + guided(len.saturating_sub(from), piece_bytes, threads);
    }
    Some(starts)
}

/// The first cut at or after byte `from`; `Some(None)` when there is none, `None` when
/// the file cannot be read (then it is not split).
fn next_cut(file: &mut File, from: u64, cut: Cut, buf: &mut [u8]) -> Option<Option<u64>> {
    let finder = memmem::Finder::new(cut.pattern());
    // Windows overlap by the pattern's length, so a pattern across two reads is seen.
    let overlap = cut.pattern().len() as u64;
    let mut at = from;
    loop {
        file.seek(SeekFrom::Start(at)).ok()?;
        let n = read_full(file, buf).ok()?;
        let data = buf.get(..n)?;
        if let Some(found) = finder.find_iter(data).find_map(|hit| cut.at(data, hit)) {
            return Some(Some(at + found as u64));
        }
        if n < buf.len() {
            return Some(None);
        }
        at += n as u64 - overlap;
    }
}

/// Reads as many bytes as `buf` holds, unless the file ends first; returns how many.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Scans one piece in piece mode: its events go to `log`.
fn scan_piece(
    path: &Path,
    name: &str,
    format: Format,
    range: Range,
    options: &ScanOptions,
    log: &dyn Fn(PieceEvent),
) -> Piece {
    let mut report = InputReport::default();
    let mut scan = SourceScan::new(name, format, options, &mut report);
    scan.log = Some(log);
    let ended = read_piece(path, format, range, &mut scan).unwrap_or_default();
    scan.keep_plans();
    let stats = scan.stats;
    Piece {
        stats,
        report,
        ended,
    }
}

/// The reading part of [`scan_piece`]: where the next piece must start.
fn read_piece(
    path: &Path,
    format: Format,
    range: Range,
    scan: &mut SourceScan<'_>,
) -> Result<Ended, Stopped> {
    let mut file = match File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(range.start))?;
        Ok(f)
    }) {
        Ok(f) => f,
        Err(e) => {
            scan.source_error(format!(
                "cannot read bytes {}..{}: {e}",
                range.start, range.end
            ))?;
            return Ok(Ended::default());
        }
    };

    match format {
        Format::Evtx => {
            let mut reader = Counting::new(&mut file, scan.options);
            // The header was checked before splitting; the first piece reads it again
            // so that its bytes count as the whole file's scan counts them.
            if range.start == 0 && !super::evtx::read_header(&mut reader, scan)? {
                return Ok(Ended::default());
            }
            let from = range.start.max(EVTX_HEADER);
            let first = (from - EVTX_HEADER) / EVTX_CHUNK;
            let count = (range.end - from).div_ceil(EVTX_CHUNK);
            super::evtx::scan_chunks(reader, first, count, scan)?;
            Ok(Ended {
                next: Some(range.end),
                lines: 0,
            })
        }
        Format::JsonLines | Format::Xml => {
            let reader = Counting::new(&mut file, scan.options);
            let piece = if format == Format::Xml {
                super::xml::scan_piece(reader, range.start, range.end, scan)?
            } else {
                super::jsonl::scan_piece(reader, range.start, range.end, scan)?
            };
            Ok(Ended {
                next: piece.next,
                lines: piece.lines,
            })
        }
        _ => Ok(Ended::default()),
    }
}

/// What a piece's worker writes to, and what the merge takes: its queue and its own
/// stop signal (with `--strict`, a problem in a later piece must not cut short an
/// earlier one: the merge decides what counts).
type Queue = (Receiver<Msg>, Stop);
type Writer = (SyncSender<Msg>, Stop);

fn open(_piece: usize) -> (Queue, Writer) {
    let stop = Stop::default();
    // PIECE_QUEUE events, in batches.
    let (tx, rx) = mpsc::sync_channel(PIECE_QUEUE / EVENT_BATCH);
    ((rx, stop.clone()), (tx, stop))
}

/// What the merge has taken in so far.
struct Merged {
    /// Records of the pieces merged, to make the next piece's numbers global.
    records: u64,
    lines: u64,
    /// Where the next piece must start; `None` once the input ended.
    next: Option<u64>,
}

/// Scans the pieces on `options.piece_threads` threads and merges them, in file order,
/// into one source of `report`.
fn run(
    path: &Path,
    name: &str,
    format: Format,
    ranges: &[Range],
    options: &ScanOptions,
    report: &mut InputReport,
) {
    let threads = options.piece_threads.min(ranges.len()).max(1);
    let pieces = Ordered::new(ranges.len(), threads, 2 * threads);
    let mut source = SourceScan::new(name, format, options, report);
    let mut merged = Merged {
        records: 0,
        lines: 0,
        next: Some(0),
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            let pieces = &pieces;
            s.spawn(move || {
                pieces.work(&options.stop, open, |i, (tx, stop): Writer| {
                    let Some(&range) = ranges.get(i) else { return };
                    let piece_options = ScanOptions {
                        stop,
                        sink: None,
                        ..options.clone()
                    };
                    let batch = Batch {
                        tx: tx.clone(),
                        held: RefCell::default(),
                    };
                    let log = |e| batch.push(e);
                    let piece = scan_piece(path, name, format, range, &piece_options, &log);
                    batch.flush();
                    let _ = tx.send(Msg::Done(Box::new(piece)));
                });
            });
        }
        for (i, &range) in ranges.iter().enumerate() {
            // A stopped scan stops every piece started ahead.
            let stop_ahead = || {
                if options.stop.is_raised() {
                    pieces.each(|(_, stop)| stop.raise());
                }
            };
            let Some((queue, stop)) = pieces.take(i, stop_ahead) else {
                break;
            };
            let go_on = match merged.next {
                // The input ended before this piece (or the scan stopped): nothing of
                // it counts.
                None => false,
                Some(at) if at == range.start => merge_queue(&queue, &mut source, &mut merged),
                // The piece before read past this whole piece: it is covered already.
                Some(at) if at >= range.end => {
                    stop.raise();
                    drop(queue);
                    true
                }
                // A boundary the reader did not confirm (the guess lay in a comment, a
                // CDATA section, a value…): rescan from where it said, on this thread.
                Some(at) => {
                    // Stopped, and its queue dropped so that its worker, waiting to
                    // send, goes on to the next piece meanwhile.
                    stop.raise();
                    drop(queue);
                    let rescan = Range {
                        start: at,
                        end: range.end,
                    };
                    let records = merged.records;
                    let cell = RefCell::new(&mut source);
                    let log = |e| replay(&mut cell.borrow_mut(), e, records);
                    let piece = scan_piece(path, name, format, rescan, options, &log);
                    absorb(cell.into_inner(), piece, &mut merged)
                }
            };
            if !go_on {
                stop.raise();
                break;
            }
        }
        // Pieces started and not merged: stopped, their queues dropped (their workers'
        // sends fail instead of waiting).
        for (_, stop) in pieces.finish() {
            stop.raise();
        }
    });
    source.finish();
}

/// Replays one piece's queue into the source; `false` when the merge must stop (the
/// piece stopped the scan, or its worker is gone).
fn merge_queue(queue: &Receiver<Msg>, source: &mut SourceScan<'_>, merged: &mut Merged) -> bool {
    loop {
        match queue.recv_timeout(TICK) {
            Ok(Msg::Events(events)) => {
                for e in events {
                    replay(source, e, merged.records);
                }
                // A piece that keeps sending never lets the queue time out: a stop
                // (stdout closed) must be seen here too, or the piece is read to its end.
                if source.options.stop.is_raised() {
                    return false;
                }
            }
            Ok(Msg::Done(piece)) => return absorb(source, *piece, merged),
            Err(RecvTimeoutError::Timeout) => {
                if source.options.stop.is_raised() {
                    return false;
                }
            }
            // Its worker panicked (the panic ends the scan when the threads join).
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// One event of a piece, as the whole-file scan would have met it.
fn replay(source: &mut SourceScan<'_>, event: PieceEvent, records_before: u64) {
    match event {
        PieceEvent::Detection(mut d) => {
            d.sighting.record += records_before;
            // Counted by the piece already.
            match &source.options.sink {
                Some(sink) => (sink.0)(d),
                None => source.report.detections.push(d),
            }
        }
        PieceEvent::Task(task, mut sighting) => {
            sighting.record += records_before;
            for p in source.correlator.task(task, sighting) {
                source.emit_task(p);
            }
        }
        PieceEvent::Logon {
            host,
            logon_id,
            logon,
        } => {
            for p in source.correlator.logon(&host, &logon_id, logon) {
                source.emit_task(p);
            }
        }
        PieceEvent::Address(host, address) => source.report.learn_address(&host, &address),
    }
}

/// Adds a piece's counts and problems to the source; `false` when the piece stopped the
/// scan (`--strict`) or was stopped.
fn absorb(source: &mut SourceScan<'_>, piece: Piece, merged: &mut Merged) -> bool {
    let Piece {
        stats,
        report,
        ended,
    } = piece;
    source.stats.add(&stats);
    let kept = report.problems.len() as u64;
    for mut p in report.problems {
        if let Some(r) = &mut p.location.record {
            *r += merged.records;
        }
        if let Some(l) = &mut p.location.line {
            *l += merged.lines;
        }
        source.report.problem(p);
    }
    source.report.problem_count += report.problem_count - kept;
    source.report.bytes += report.bytes;
    if source.report.first_unjudged.is_none() {
        source.report.first_unjudged = report.first_unjudged.map(|mut u| {
            u.record += merged.records;
            u
        });
    }
    merged.records += stats.records;
    merged.lines += ended.lines;
    merged.next = ended.next;
    if report.aborted {
        source.report.aborted = true;
        source.options.stop.raise();
        return false;
    }
    !source.options.stop.is_raised()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces are at most the size asked, never grow, and the last ones shrink to an
    /// eighth of it: threads that run at different speeds (one shares its core with
    /// the printer), each taking the next piece when it is free, end at most an eighth
    /// of a piece's time apart. (Equal pieces: up to 5 eighths apart in these cases.)
    #[test]
    fn the_last_pieces_shrink_so_that_the_threads_end_together() {
        let mib = 1u64 << 20;
        let speeds = [1.0, 0.8, 0.9, 0.85, 0.95, 1.0, 0.7];
        for (len, piece, threads) in [
            (1_000_469_250, 64 * mib, 2),
            (1 << 30, 64 * mib, 2),
            (1 << 30, 64 * mib, 3),
            (65 * mib, 64 * mib, 2),
            (10_000_000, 100_000, 7),
        ] {
            let mut sizes = Vec::new();
            let mut at = 0;
            while at < len {
                let size = guided(len - at, piece, threads).min(len - at);
                sizes.push(size);
                at += size;
            }
            let (last, whole) = sizes.split_last().expect("pieces");
            assert!(*last > 0 && sizes.iter().all(|&s| s <= piece), "{sizes:?}");
            assert!(whole.iter().all(|&s| s >= piece / 8), "{sizes:?}");
            assert!(sizes.windows(2).all(|w| w[1] <= w[0]), "{sizes:?}");
            assert!(
                sizes.len() < (len / piece) as usize + 8 * threads + 8,
                "{sizes:?}"
            );
            let speeds = &speeds[..threads];
            let mut ends = vec![0f64; threads];
            for size in sizes {
                let free = (0..threads)
                    .min_by(|&a, &b| ends[a].total_cmp(&ends[b]))
                    .expect("a thread");
                ends[free] += size as f64 / speeds[free];
            }
            let spread = ends.iter().copied().fold(f64::MIN, f64::max)
                - ends.iter().copied().fold(f64::MAX, f64::min);
            let slowest = speeds.iter().copied().fold(f64::MAX, f64::min);
            assert!(
                spread <= (piece / 8) as f64 / slowest,
                "{len} {piece} {threads}: {ends:?}"
            );
        }
    }

    /// A file of `len` spaces with `text` at `at`.
    fn file_with(len: usize, at: usize, text: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut bytes = vec![b' '; len];
        bytes[at..at + text.len()].copy_from_slice(text);
        let tmp = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(tmp.path(), &bytes).expect("write");
        let file = File::open(tmp.path()).expect("open");
        (tmp, file)
    }

    #[test]
    fn a_cut_across_two_reads_is_found_where_it_is() {
        let mut buf = vec![0u8; 1 << 16];
        // `<Event` and the byte that ends its name straddle the first read's end.
        for at in (1 << 16) - 8..(1 << 16) + 2 {
            let (_tmp, mut file) = file_with(3 << 16, at, b"<Event>");
            let found = next_cut(&mut file, 10, Cut::EventTag, &mut buf);
            assert_eq!(found, Some(Some(at as u64)), "at {at}");
            let (_tmp, mut file) = file_with(3 << 16, at, b"\n");
            let found = next_cut(&mut file, 10, Cut::Line, &mut buf);
            assert_eq!(found, Some(Some(at as u64 + 1)), "at {at}");
        }
    }

    #[test]
    fn events_is_not_a_cut_and_a_file_without_one_has_none() {
        let mut buf = vec![0u8; 1 << 16];
        let (_tmp, mut file) = file_with(1 << 17, 70_000, b"<Events><Event ");
        assert_eq!(
            next_cut(&mut file, 0, Cut::EventTag, &mut buf),
            Some(Some(70_008))
        );
        let (_tmp, mut file) = file_with(1 << 17, 70_000, b"<Events>");
        assert_eq!(next_cut(&mut file, 0, Cut::EventTag, &mut buf), Some(None));
    }
}
