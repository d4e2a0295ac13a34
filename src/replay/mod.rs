//! Offline replay: read datasets (XmlWinEventLog, EVTX, JSON lines, CSV; inside `.gz`,
//! `.zip`, `.tar.gz`; folders; stdin) into process events, run the detection core, and
//! report what it finds. Backs `schtasksremote scan`.
//!
//! Records are streamed: a reader holds one record (or one 64 KiB EVTX chunk) at a time,
//! whatever the size of the file or archive. Every record goes through the one CIM
//! mapping ([`crate::cim::FieldPlan`]) after a cheap event-type filter
//! (Sysmon 1, Security 4688, CrowdStrike ProcessRollup2); other events are counted and
//! skipped.
//!
//! Each record is judged once: the reader's event kind (or the field plan's, see
//! [`crate::cim::FieldPlan::event_kind`]), a field plan built once per set of field
//! names (cached, so once per CSV header and once per XML/JSON layout), the shared
//! byte-level reject ([`crate::cim::FieldPlan::may_name_schtasks`]), then one call of
//! [`crate::detection::analyze`].
//!
//! This module reads and judges; it prints nothing and parses no flags (the binary's
//! `scan` subcommand does). [`scan_path`], [`scan_reader`] and [`scan_input`] return an
//! [`InputReport`].
//!
//! ```
//! use schtasksremote::replay::{scan_reader, Format, ScanOptions};
//! let json = br#"{"EventID":4624,"Channel":"Security","Computer":"WS1"}"#;
//! let report = scan_reader("inline", &json[..], &ScanOptions::default());
//! assert_eq!(report.sources[0].format, Format::JsonLines);
//! assert_eq!(report.sources[0].records, 1);
//! assert_eq!(report.sources[0].other_events, 1);
//! ```

mod classic;
mod container;
mod correlate;
mod csv;
mod encoding;
mod evtx;
mod fields;
mod jsonl;
mod lines;
mod link;
mod lossy;
pub mod ordered;
mod seen;
mod sightings;
mod sniff;
mod split;
mod xml;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use container::{MAX_LAYERS, MAX_NESTING, MAX_ZIP_DIRECTORY};
pub use correlate::{MAX_LOGONS, MAX_WAITING};
pub use encoding::Utf16;
pub use evtx::MAX_ERRORS_PER_CHUNK;
pub use fields::MAX_READINGS;
pub use jsonl::{MAX_JSON_DEPTH, MAX_JSON_LINE};
pub use link::{Edge, HostMatch, Linker, DEFAULT_LINK_WINDOW, LINKED, MAX_HELD};
pub use sightings::{parse_time, Sighting, SightingGrouper, DEFAULT_WINDOW, MAX_PENDING};
pub use sniff::{Format, SNIFF_LEN};
pub use split::{pieces, DEFAULT_PIECE_BYTES, PIECE_QUEUE};
pub use xml::MAX_RECORD;

/// The hash maps whose keys come from the files (hosts, command lines, logon IDs):
/// `ahash` with keys random per process, like std's SipHash (a crafted file cannot
/// force collisions), at a fraction of its cost per key (issue 14: the printer's
/// grouping and linking hashed each detection's keys several times).
type KeyMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

use crate::cim::{
    self, CimField, EventField, EventKind, FieldPlan, Missing, TargetField, TargetPlan,
};
use crate::detection::task::{
    analyze_network_logon_task, analyze_share_access, analyze_task, TaskEventId,
};
use crate::detection::{self, Analysis, DetectorConfig, FieldValue};
use correlate::{Correlator, OwnedLogon, OwnedTask, Paired};
use fields::Fields;

/// At most this many bytes are decompressed from one archive by default (16 GiB): all
/// its members and nested archives together. An overlapping-entries zip (every entry
/// pointing at one compressed stream) or a gzip bomb stops there instead of expanding
/// without end; a real collection larger than this is read with a higher
/// [`ScanOptions::max_archive_bytes`] (`scan --max-archive-bytes`). Issue 15.
pub const DEFAULT_MAX_ARCHIVE_BYTES: u64 = 16 << 30;

/// How a scan behaves.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub config: DetectorConfig,
    /// Stop at the first unreadable record or file: raise [`ScanOptions::stop`].
    pub strict: bool,
    /// The one stop signal of a scan, shared by every thread: `--strict` raises it at
    /// the first problem, a caller raises it when nobody reads its output any more.
    /// Readers look at it at every record and every read from disk or stdin (through
    /// [`Counting`]), so a raised signal ends a scan within one read or one record.
    pub stop: Stop,
    /// Bytes read from disk so far (for a progress bar), shared across threads.
    pub progress: Option<Arc<AtomicU64>>,
    /// Where detections go as they are found. Without a sink they are collected in
    /// [`InputReport::detections`]; with one, a scan holds no detection in memory.
    pub sink: Option<DetectionSink>,
    /// Report every schtasks.exe event with its verdict, not only detections (`scan
    /// --verdicts`, for tuning offline as `action=annotate` does in Splunk; issue 12
    /// item 8). The others carry `detection_reason` and the parse, and no
    /// `detection_name`, `risk_*` or `mitre_technique_id` ([`crate::detection::Analysis::fields`]);
    /// [`SourceStats::detections`] still counts detections only.
    pub every_verdict: bool,
    /// Follow symbolic links met while walking a folder (`scan --follow`). Off by
    /// default, as `find` and ripgrep: a link is counted in
    /// [`InputReport::links_skipped`], not followed. When on, a link back to a folder
    /// being walked (a loop) is detected by device and inode, skipped and counted, and
    /// a file reached by two paths is scanned once. Paths named on the command line
    /// are always followed.
    pub follow_links: bool,
    /// At most this many bytes are decompressed from one archive, all members and
    /// nested archives together ([`DEFAULT_MAX_ARCHIVE_BYTES`] by default); what is
    /// left is not read and is reported as a problem of the archive.
    pub max_archive_bytes: u64,
    /// Judge every record through the full reader: no byte-level prefilter before
    /// parsing, no EVTX record skipped before rendering, no file split across threads
    /// (issue 14). Off by default; `scan --full-path`. The fast path must give the same
    /// detections, links and summary counts as this one on every input: it is the
    /// reference the differential tests and the `fast_path` fuzz target compare with.
    pub full_path: bool,
    /// Threads one large file may be split across (issue 14; the [`split`] module):
    /// 1 (the default) never splits. A regular, uncompressed EVTX, XML or JSON-lines
    /// file larger than [`ScanOptions::piece_bytes`] is cut into pieces of about that
    /// size, scanned at once and merged into the report one thread gives. Ignored with
    /// [`ScanOptions::full_path`].
    pub piece_threads: usize,
    /// The size of a piece of a split file, in bytes ([`DEFAULT_PIECE_BYTES`]); a file
    /// is split only when it is larger. Its last pieces are smaller, down to an eighth
    /// of this, so that the threads end together. Tests set it tiny so that small files
    /// split.
    pub piece_bytes: u64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            config: DetectorConfig::default(),
            strict: false,
            stop: Stop::default(),
            progress: None,
            sink: None,
            every_verdict: false,
            follow_links: false,
            max_archive_bytes: DEFAULT_MAX_ARCHIVE_BYTES,
            full_path: false,
            piece_threads: 1,
            piece_bytes: DEFAULT_PIECE_BYTES,
        }
    }
}

/// A flag that stops a scan: cheap to clone, shared by every thread of one scan.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Asks every reader of this scan to stop at its next record.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Stop::raise`] was called on this scan's signal.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A callback that receives each detection as it is found (from the scanning thread).
#[derive(Clone)]
pub struct DetectionSink(pub Arc<dyn Fn(Detection) + Send + Sync>);

impl fmt::Debug for DetectionSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DetectionSink")
    }
}

/// At most this many problems are kept per input; the rest are only counted.
pub const MAX_PROBLEMS_KEPT: usize = 100;

/// The names of a [`Detection`]'s own fields, in output order; the scan's CSV and JSON
/// outputs write them before [`crate::detection::OUTPUT_FIELDS`]. The first six are
/// the [`Sighting`]'s; a grouped detection ([`SightingGrouper`]) has one value of each
/// per sighting.
pub const LEAD_COLUMNS: [&str; 10] = [
    "source",
    "record",
    "event_id",
    "channel",
    "event_record_id",
    "time",
    "dest",
    "user",
    "process_name",
    "process",
];

/// One remote scheduled-task creation found in a record; with
/// [`ScanOptions::every_verdict`], any schtasks.exe event with its verdict
/// ([`Detection::is_detection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// Where this detection's own record was: source, record, event ID, channel, the
    /// event's record ID and time.
    pub sighting: Sighting,
    pub dest: String,
    pub user: String,
    pub process_name: String,
    /// The command line with `/p` and `/rp` values masked.
    pub process: String,
    /// The fields the search command adds, named and ordered as
    /// [`crate::detection::OUTPUT_FIELDS`].
    pub fields: Vec<(&'static str, Value)>,
    /// The same process creation as other sensors logged it (Security 4688 beside
    /// Sysmon 1), added by [`SightingGrouper`]; empty until then.
    pub also_seen: Vec<Sighting>,
}

impl Detection {
    /// Whether this is a detection of any [`crate::detection::Kind`] (its
    /// `detection_name` is set), not one of the other events
    /// [`ScanOptions::every_verdict`] reports.
    pub fn is_detection(&self) -> bool {
        matches!(self.field("detection_name"), Some(Value::One(s)) if !s.is_empty())
    }

    /// An analysis's fields as a detection holds them: [`crate::detection::OUTPUT_FIELDS`],
    /// then [`LINKED`] (empty until a [`Linker`] fills it).
    fn fields_of(analysis: &Analysis) -> Vec<(&'static str, Value)> {
        analysis
            .fields()
            .iter()
            .map(|(n, v)| (*n, Value::from(v)))
            .chain(std::iter::once((LINKED, Value::Empty)))
            .collect()
    }

    /// A target-side detection: no process, `dest` is the host the task was
    /// registered on.
    fn target(sighting: Sighting, dest: &str, user: &str, analysis: &Analysis) -> Detection {
        Detection {
            sighting,
            dest: dest.to_owned(),
            user: user.to_owned(),
            process_name: String::new(),
            process: String::new(),
            fields: Detection::fields_of(analysis),
            also_seen: Vec::new(),
        }
    }

    /// Every sensor's sighting of this process creation, its own record first, then
    /// [`Detection::also_seen`].
    pub fn sightings(&self) -> impl Iterator<Item = &Sighting> {
        std::iter::once(&self.sighting).chain(&self.also_seen)
    }

    /// The value of one output field (`remote_host`, `risk_score`, …).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// An owned output value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Empty,
    One(String),
    Many(Vec<String>),
}

impl Value {
    /// The value as one string; multivalues joined by `sep`.
    pub fn joined(&self, sep: &str) -> String {
        match self {
            Value::Empty => String::new(),
            Value::One(s) => s.clone(),
            Value::Many(v) => v.join(sep),
        }
    }
}

impl From<&FieldValue<'_>> for Value {
    fn from(v: &FieldValue<'_>) -> Self {
        match v {
            FieldValue::Empty => Value::Empty,
            FieldValue::One(s) => Value::One(s.to_string()),
            FieldValue::Many(v) => Value::Many(v.iter().map(|s| s.to_string()).collect()),
        }
    }
}

/// Counts for one source (a file, or one member of an archive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    pub name: String,
    pub format: Format,
    /// Records read, readable or not (blank lines are not records).
    pub records: u64,
    /// Process-creation events (after the event-type filter).
    pub process_events: u64,
    /// Other events, skipped.
    pub other_events: u64,
    /// Records that could not be read, skipped.
    pub bad_records: u64,
    /// Process creations that lack what the verdict needs (a command line, or any
    /// image name), so could not be judged: counted apart, never passed over silently.
    pub unjudged_events: u64,
    pub detections: u64,
    /// Records cut short (an XML `<Event>` with no end tag before the next one, as
    /// Splunk's `TRUNCATE` leaves them): still judged from what they have, and each
    /// reported ([`ProblemKind::Truncated`]). Also counted in `records`.
    pub truncated_records: u64,
}

impl SourceStats {
    /// Adds another reading's counts (a piece of the same file, [`split`]) to these.
    fn add(&mut self, o: &SourceStats) {
        self.records += o.records;
        self.process_events += o.process_events;
        self.other_events += o.other_events;
        self.bad_records += o.bad_records;
        self.unjudged_events += o.unjudged_events;
        self.detections += o.detections;
        self.truncated_records += o.truncated_records;
    }
}

/// The counts of [`SourceStats`] summed over many sources: what [`InputReport`] keeps
/// for every source, listed or not, so that its memory does not grow with the number
/// of archive members (issue 15 case 7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sources read (files, archive members).
    pub sources: u64,
    pub records: u64,
    pub process_events: u64,
    pub other_events: u64,
    pub bad_records: u64,
    pub unjudged_events: u64,
    pub detections: u64,
    pub truncated_records: u64,
}

impl Counts {
    fn add_source(&mut self, s: &SourceStats) {
        self.add(&Counts {
            sources: 1,
            records: s.records,
            process_events: s.process_events,
            other_events: s.other_events,
            bad_records: s.bad_records,
            unjudged_events: s.unjudged_events,
            detections: s.detections,
            truncated_records: s.truncated_records,
        });
    }

    fn add(&mut self, o: &Counts) {
        self.sources += o.sources;
        self.records += o.records;
        self.process_events += o.process_events;
        self.other_events += o.other_events;
        self.bad_records += o.bad_records;
        self.unjudged_events += o.unjudged_events;
        self.detections += o.detections;
        self.truncated_records += o.truncated_records;
    }
}

/// Why a file met while walking a folder, or an archive member, was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its content is not event data (a README, an image).
    NotEventData,
    /// Not a regular file: a FIFO, a socket or a device (reading one could block for
    /// ever or never end). Named on the command line, it is read as a stream.
    NotRegular,
    /// A symbolic link, not followed (`scan --follow` follows links).
    Link,
    /// With `--follow`: a link to a folder that is being walked (a loop), or a file
    /// already scanned by another path.
    AlreadySeen,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NotEventData => "not event data, skipped",
            Skip::NotRegular => "not a regular file (FIFO, socket or device), skipped",
            Skip::Link => "symbolic link, not followed (--follow follows links)",
            Skip::AlreadySeen => {
                "already scanned by another path (a link loop or a second link), skipped"
            }
        })
    }
}

/// Where a problem was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// The record's position in its source, from 1.
    pub record: Option<u64>,
    /// The line, from 1 (line-based formats).
    pub line: Option<u64>,
    /// The byte offset in the (decompressed) source.
    pub offset: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(r) = self.record {
            parts.push(format!("record {r}"));
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        if let Some(o) = self.offset {
            parts.push(format!("byte {o}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What a [`Problem`] cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// One record could not be read; it was skipped, the source goes on.
    BadRecord,
    /// Something about a source as a whole (a truncated archive, a damaged EVTX
    /// chunk, a read error) after some of it may have been read.
    Source,
    /// A file, folder or archive member that could not be read at all.
    Unreadable,
    /// A process creation that lacks what the verdict needs (only reported as a
    /// problem with `--strict`; otherwise counted in [`SourceStats::unjudged_events`]).
    Unjudged,
    /// A record cut short (no end tag): judged from what it has, not skipped; counted
    /// in [`SourceStats::truncated_records`].
    Truncated,
}

/// A record or file that could not be read; it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (and archive member, after `!`).
    pub source: String,
    pub kind: ProblemKind,
    pub location: Location,
    /// What was found and what was expected.
    pub message: String,
}

impl std::error::Error for Problem {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location == Location::default() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.location, self.message)
        }
    }
}

/// A process creation that could not be judged, named by where it is and what it
/// lacks. `Display`: `source:record: no command line (CIM process)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unjudged {
    pub source: String,
    /// The record's position in its source, from 1.
    pub record: u64,
    pub missing: Missing,
}

impl fmt::Display for Unjudged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.record, self.missing)
    }
}

/// At most this many sources are listed per report ([`InputReport::sources`]); every
/// source is counted in [`InputReport::counts`] whatever their number.
pub const MAX_SOURCES_LISTED: usize = 10_000;

/// A file or archive member that was not read, and why (the first
/// [`MAX_PROBLEMS_KEPT`] are kept by name, for `--per-source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub name: String,
    pub reason: Skip,
}

/// What scanning one input (a path or a stream) gave. Its memory is bounded whatever
/// the input: the first [`MAX_SOURCES_LISTED`] sources and [`MAX_PROBLEMS_KEPT`]
/// problems and skipped files are kept, everything is counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputReport {
    /// The first [`MAX_SOURCES_LISTED`] sources read (a plain file is one source, an
    /// archive one per member), in the order they were read.
    pub sources: Vec<SourceStats>,
    /// The counts of every source, listed in `sources` or not.
    pub counts: Counts,
    /// The detections, unless [`ScanOptions::sink`] took them.
    pub detections: Vec<Detection>,
    /// The first problems met (at most 100 are kept; `problem_count` counts all).
    pub problems: Vec<Problem>,
    pub problem_count: u64,
    /// Files or archive members that could not be read at all.
    pub unreadable: u64,
    /// Files in a walked folder and archive members that are not event data (by
    /// content), skipped.
    pub not_event_data: u64,
    /// Non-regular files (FIFOs, sockets, devices) met while walking a folder, skipped.
    pub not_regular: u64,
    /// Symbolic links met while walking a folder and not followed ([`Skip::Link`]).
    pub links_skipped: u64,
    /// With `--follow`: links back to a folder being walked (loops) and files reached a
    /// second time, skipped ([`Skip::AlreadySeen`]).
    pub already_seen: u64,
    /// The first files skipped (at most [`MAX_PROBLEMS_KEPT`]), by name and reason,
    /// for `--per-source`.
    pub skipped_files: Vec<SkippedFile>,
    /// Bytes of event data read (after decompression).
    pub bytes: u64,
    /// `--strict` stopped the scan at a problem.
    pub aborted: bool,
    /// The first process creation that could not be judged (the count is
    /// [`SourceStats::unjudged_events`]).
    pub first_unjudged: Option<Unjudged>,
    /// Which host owns which IP address, as (host, address), from the local end of
    /// connection events (Sysmon 3, Security 5156; [`cim::local_address`]): how the
    /// linker ties a target side that names its caller by address to the source on that
    /// host (issue 13). At most [`MAX_ADDRESSES`] pairs, the first met.
    pub addresses: std::collections::BTreeSet<(String, String)>,
}

/// At most this many (host, address) pairs are learned from connection events over a
/// whole scan (a host has few addresses; this bounds memory on a hostile input).
pub const MAX_ADDRESSES: usize = 4096;

impl InputReport {
    /// Remembers that `host` owns `address` (see [`InputReport::addresses`]).
    fn learn_address(&mut self, host: &str, address: &str) {
        if self.addresses.len() < MAX_ADDRESSES && !host.trim().is_empty() {
            self.addresses
                .insert((host.trim().to_owned(), address.to_owned()));
        }
    }

    /// Records read, over every source.
    pub fn records(&self) -> u64 {
        self.counts.records
    }

    /// Detections found (also those handed to a sink).
    pub fn detection_count(&self) -> u64 {
        self.counts.detections
    }

    /// The counts for the source called `name`, if it is among those listed.
    pub fn source(&self, name: &str) -> Option<&SourceStats> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Counts a source and lists it while fewer than [`MAX_SOURCES_LISTED`] are.
    pub fn add_source(&mut self, stats: SourceStats) {
        self.counts.add_source(&stats);
        if self.sources.len() < MAX_SOURCES_LISTED {
            self.sources.push(stats);
        }
    }

    /// Records a problem: counted, and kept when fewer than [`MAX_PROBLEMS_KEPT`] are.
    pub fn problem(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(problem);
        }
    }

    /// Counts a file or archive member that was skipped, and keeps its name while
    /// fewer than [`MAX_PROBLEMS_KEPT`] are kept.
    pub fn skip(&mut self, name: &str, reason: Skip) {
        match reason {
            Skip::NotEventData => self.not_event_data += 1,
            Skip::NotRegular => self.not_regular += 1,
            Skip::Link => self.links_skipped += 1,
            Skip::AlreadySeen => self.already_seen += 1,
        }
        if self.skipped_files.len() < MAX_PROBLEMS_KEPT {
            self.skipped_files.push(SkippedFile {
                name: name.to_owned(),
                reason,
            });
        }
    }

    /// Counts a file or archive member that is not event data, skipped.
    pub(crate) fn skip_not_event_data(&mut self, name: &str) {
        self.skip(name, Skip::NotEventData);
    }

    /// Adds another input's report to this one.
    pub fn merge(&mut self, other: InputReport) {
        let room = MAX_SOURCES_LISTED.saturating_sub(self.sources.len());
        self.sources.extend(other.sources.into_iter().take(room));
        self.counts.add(&other.counts);
        self.detections.extend(other.detections);
        let room = MAX_PROBLEMS_KEPT.saturating_sub(self.problems.len());
        self.problems.extend(other.problems.into_iter().take(room));
        self.problem_count += other.problem_count;
        self.unreadable += other.unreadable;
        self.not_event_data += other.not_event_data;
        self.not_regular += other.not_regular;
        self.links_skipped += other.links_skipped;
        self.already_seen += other.already_seen;
        let room = MAX_PROBLEMS_KEPT.saturating_sub(self.skipped_files.len());
        self.skipped_files
            .extend(other.skipped_files.into_iter().take(room));
        self.bytes += other.bytes;
        self.aborted |= other.aborted;
        if self.first_unjudged.is_none() {
            self.first_unjudged = other.first_unjudged;
        }
        for (host, address) in other.addresses {
            self.learn_address(&host, &address);
        }
    }

    /// Process creations that could not be judged, over every source.
    pub fn unjudged_events(&self) -> u64 {
        self.counts.unjudged_events
    }
}

/// Why a reader stops before the end of its input: the scan's [`Stop`] is raised.
#[derive(Debug, thiserror::Error)]
#[error("the scan was stopped (--strict met a problem, or the output is gone)")]
pub(crate) struct Stopped;

/// Scans one path: a file (any supported format or container) or a folder (walked as
/// [`expand_paths`] walks it, in name order; files that are not event data are skipped
/// and counted).
pub fn scan_path(path: &Path, options: &ScanOptions) -> InputReport {
    let mut report = InputReport::default();
    if !split::scan_path(path, options, &mut report) {
        container::scan_path(path, options, &mut report, false);
    }
    report
}

/// One input of a scan, as [`expand_paths`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-` on the command line).
    Stdin,
    /// A file. `walked`: found by walking a folder, so a file that is not event data
    /// is counted ([`InputReport::not_event_data`]), not reported.
    Path { path: PathBuf, walked: bool },
}

impl Input {
    /// The file's size in bytes (0 for stdin or when it cannot be known).
    pub fn size(&self) -> u64 {
        match self {
            Input::Path { path, .. } => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            Input::Stdin => 0,
        }
    }
}

/// Lists the inputs named on a command line: `-` is stdin, a folder is replaced by its
/// regular files (walked like `find -type f`, sorted by name within each folder), so
/// that a folder's files can be spread over threads. Symbolic links met while walking
/// are followed only with [`ScanOptions::follow_links`]; non-regular files (FIFOs,
/// sockets, devices) met while walking are skipped and counted; both are counted in
/// the returned [`InputReport`], which also reports folders that cannot be read.
/// A path named here is always read, whatever its kind (a FIFO as a stream).
pub fn expand_paths(paths: &[PathBuf], options: &ScanOptions) -> (Vec<Input>, InputReport) {
    let mut inputs = Vec::new();
    let mut report = InputReport::default();
    for p in paths {
        if p.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if p.is_dir() {
            let mut files = Vec::new();
            container::walk(p, options, &mut files, &mut report);
            inputs.extend(
                files
                    .into_iter()
                    .map(|path| Input::Path { path, walked: true }),
            );
        } else {
            inputs.push(Input::Path {
                path: p.clone(),
                walked: false,
            });
        }
    }
    (inputs, report)
}

/// Scans one input of [`expand_paths`].
pub fn scan_input(input: &Input, options: &ScanOptions) -> InputReport {
    let mut report = InputReport::default();
    match input {
        Input::Stdin => container::scan_stdin(options, &mut report),
        Input::Path { path, walked } => {
            if !split::scan_path(path, options, &mut report) {
                container::scan_path(path, options, &mut report, *walked);
            }
        }
    }
    report
}

/// Scans one stream (stdin, or anything else), detecting its format by content.
pub fn scan_reader<R: Read>(name: &str, reader: R, options: &ScanOptions) -> InputReport {
    let mut report = InputReport::default();
    let _ = container::scan_stream(name, reader, options, &mut report, 0);
    report
}

/// Scans one stream as the given `format`, without looking at its content first (for a
/// caller that knows what it holds; the fuzz targets use it to aim at one reader).
pub fn scan_reader_as<R: Read>(
    name: &str,
    mut reader: R,
    format: Format,
    options: &ScanOptions,
) -> InputReport {
    let mut report = InputReport::default();
    let _ = container::scan_as(name, &mut reader, format, options, &mut report);
    report
}

/// At most this many field plans are kept (one per set of field names).
const MAX_PLANS: usize = 64;

/// Field plans by the list of names they were built for, most recently used first.
/// A source's records mostly share one layout (a CSV header, one event type's XML or
/// JSON), so a plan is built once per layout instead of once per record; and the files
/// of a collection share their layouts, so a thread keeps its plans from one source to
/// the next ([`PlanCache::kept`], [`PlanCache::keep`]; issue 14: building a plan costs
/// about as much as reading a hundred records, and a collection cut into 1 MiB XML files
/// built its plans again in each). A plan depends on the names alone (the one mapping
/// in [`cim`]), not on the file or the scan's settings.
#[derive(Debug, Default)]
pub(crate) struct PlanCache {
    entries: Vec<(Vec<String>, FieldPlan, TargetPlan)>,
}

thread_local! {
    /// The plans the last source read on this thread built ([`PlanCache::keep`]).
    static KEPT_PLANS: std::cell::RefCell<PlanCache> =
        std::cell::RefCell::new(PlanCache::default());
}

impl PlanCache {
    /// The plans kept on this thread (empty on a fresh thread, or while another source
    /// of this thread holds them).
    fn kept() -> PlanCache {
        KEPT_PLANS.with(|kept| std::mem::take(&mut *kept.borrow_mut()))
    }

    /// Keeps these plans for the next source this thread reads.
    fn keep(self) {
        KEPT_PLANS.with(|kept| *kept.borrow_mut() = self);
    }

    /// How many plans are kept on this thread now (tests).
    #[cfg(test)]
    pub(crate) fn kept_count() -> usize {
        KEPT_PLANS.with(|kept| kept.borrow().entries.len())
    }
}

/// How the judge counts a record it asks no verdict of ([`PlanCache::tally`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tally {
    /// Counted as another event: its plan settles it as another event.
    Other,
    /// Counted as a process event; `Some`: also as an event not judged, for what it
    /// lacks.
    Process(Option<Missing>),
}

impl Tally {
    /// [`PlanCache::tally`] with the record's plan given.
    fn of(plan: &FieldPlan, kind: EventKind, fields: &Fields) -> Option<Tally> {
        if plan.settle(kind) != EventKind::ProcessCreation {
            return Some(Tally::Other);
        }
        let bytes = |i| fields.value(i).map(str::as_bytes);
        if let Some(missing) = plan.missing(bytes) {
            return Some(Tally::Process(Some(missing)));
        }
        (!plan.may_name_schtasks(bytes)).then_some(Tally::Process(None))
    }
}

impl PlanCache {
    /// How [`SourceScan::judge_as`] counts a record of `kind` (neither another event
    /// nor a target-side one) with `fields`, when it asks no verdict of it: its plan
    /// settles it as another event, or it lacks what a verdict needs
    /// ([`FieldPlan::missing`]), or no image column can name schtasks.exe
    /// ([`FieldPlan::may_name_schtasks`]). `None`: the judge would map and analyse it
    /// (or it has no plan). The one place these rules are written: the judge follows
    /// them, and the EVTX fast path counts records like an exemplar by them.
    pub(crate) fn tally(&mut self, kind: EventKind, fields: &Fields) -> Option<Tally> {
        Tally::of(self.plan(fields)?.0, kind, fields)
    }

    /// The process plan and the target side's plan for this layout.
    fn plan(&mut self, fields: &Fields) -> Option<(&FieldPlan, &TargetPlan)> {
        let same = |names: &Vec<String>| {
            names.len() == fields.len() && names.iter().map(String::as_str).eq(fields.names())
        };
        match self.entries.iter().position(|(names, _, _)| same(names)) {
            Some(0) => {}
            Some(i) => {
                let hit = self.entries.remove(i);
                self.entries.insert(0, hit);
            }
            None => {
                self.entries.truncate(MAX_PLANS - 1);
                let names: Vec<String> = fields.names().map(str::to_owned).collect();
                let plan = FieldPlan::from_names(names.iter().map(String::as_str));
                let target = TargetPlan::from_names(names.iter().map(String::as_str));
                self.entries.insert(0, (names, plan, target));
            }
        }
        self.entries.first().map(|(_, plan, target)| (plan, target))
    }
}

/// Reading one source: counts, and the judge every reader hands its records to.
pub(crate) struct SourceScan<'a> {
    options: &'a ScanOptions,
    report: &'a mut InputReport,
    stats: SourceStats,
    plans: PlanCache,
    /// Task events waiting for their network logon, and the logons seen (issue 13).
    correlator: Correlator<Sighting>,
    /// A piece of a split file ([`split`]): detections and what the correlator takes
    /// go here, in record order, for the merge to replay.
    log: Option<&'a dyn Fn(split::PieceEvent)>,
}

impl<'a> SourceScan<'a> {
    fn new(
        name: &str,
        format: Format,
        options: &'a ScanOptions,
        report: &'a mut InputReport,
    ) -> Self {
        SourceScan {
            options,
            report,
            stats: SourceStats {
                name: name.to_owned(),
                format,
                records: 0,
                process_events: 0,
                other_events: 0,
                bad_records: 0,
                unjudged_events: 0,
                detections: 0,
                truncated_records: 0,
            },
            plans: PlanCache::kept(),
            correlator: Correlator::default(),
            log: None,
        }
    }

    /// Counts a new record and returns its number (from 1); stops when the scan's
    /// [`Stop`] is raised. Every reader calls it once per record, so a raised stop
    /// ends a source within one record (issue 15 case 9).
    pub(crate) fn next_record(&mut self) -> Result<u64, Stopped> {
        if self.options.stop.is_raised() {
            return Err(Stopped);
        }
        self.stats.records += 1;
        Ok(self.stats.records)
    }

    /// Reports a problem; with `--strict`, raises the scan's stop signal. Once the
    /// scan is stopped, what a reader meets while it winds down (a read cut by
    /// [`Counting`]) is not a problem of the input: nothing is reported.
    fn problem(
        &mut self,
        kind: ProblemKind,
        location: Location,
        message: String,
    ) -> Result<(), Stopped> {
        if self.options.stop.is_raised() {
            return Err(Stopped);
        }
        self.report.problem(Problem {
            source: self.stats.name.clone(),
            kind,
            location,
            message,
        });
        if self.options.strict {
            self.report.aborted = true;
            self.options.stop.raise();
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    /// A record that could not be read: reported, counted, skipped. With `--strict`,
    /// the scan stops.
    pub(crate) fn bad_record(
        &mut self,
        location: Location,
        message: impl Into<String>,
    ) -> Result<(), Stopped> {
        self.stats.bad_records += 1;
        self.problem(ProblemKind::BadRecord, location, message.into())
    }

    /// A record cut short (no end tag before the next record): reported with where it
    /// is and its real size (in `message`) and counted; the reader still judges it
    /// from what it has. With `--strict`, the scan stops instead.
    pub(crate) fn truncated(
        &mut self,
        location: Location,
        message: impl Into<String>,
    ) -> Result<(), Stopped> {
        self.stats.truncated_records += 1;
        self.problem(ProblemKind::Truncated, location, message.into())
    }

    /// A bad record known by its number and byte offset (formats without lines).
    pub(crate) fn bad_at(
        &mut self,
        record: u64,
        offset: u64,
        message: impl Into<String>,
    ) -> Result<(), Stopped> {
        let location = Location {
            record: Some(record),
            offset: Some(offset),
            ..Location::default()
        };
        self.bad_record(location, message)
    }

    /// A problem with the source as a whole (for example a truncated archive) after some
    /// records may have been read.
    pub(crate) fn source_error(&mut self, message: impl Into<String>) -> Result<(), Stopped> {
        self.problem(ProblemKind::Source, Location::default(), message.into())
    }

    /// Bytes of event data read from this source.
    pub(crate) fn add_bytes(&mut self, n: u64) {
        self.report.bytes += n;
    }

    /// Judges a record whose kind the reader does not know: it is classified by its
    /// event-type fields first, so that other events (most of a real log) cost no field
    /// plan. `Err` when the scan must stop (`--strict`).
    pub(crate) fn judge(&mut self, fields: &Fields, record: u64) -> Result<(), Stopped> {
        self.judge_kind(fields.event_kind(), fields, record, false)
    }

    /// Judges a record the reader has already classified (the XML reader, from
    /// `<System>`). `Err` when the scan must stop (`--strict`).
    pub(crate) fn judge_as(
        &mut self,
        kind: EventKind,
        fields: &Fields,
        record: u64,
    ) -> Result<(), Stopped> {
        self.judge_kind(kind, fields, record, false)
    }

    /// Counts a record as the judge counts one it asks no verdict of
    /// ([`PlanCache::tally`]), for a reader that has shown the judge would ask none:
    /// the XML fast path's process creation that cannot name schtasks.exe in any value
    /// its plan reads an image name from (`Tally::Process`), the EVTX fast path's one
    /// counted like its exemplar. `Err` when the scan must stop (`--strict`).
    pub(crate) fn count(&mut self, tally: Tally, record: u64) -> Result<(), Stopped> {
        match tally {
            Tally::Other => {
                self.stats.other_events += 1;
                Ok(())
            }
            Tally::Process(missing) => {
                self.stats.process_events += 1;
                match missing {
                    Some(missing) => self.unjudged(record, missing),
                    None => Ok(()),
                }
            }
        }
    }

    /// Judges another reading of a record already judged with [`SourceScan::judge`]:
    /// the same record with a repeated key's other value (issue 15 case 10: every
    /// value of a repeated key is judged, so a second `CommandLine` cannot hide the
    /// first). Its detection, if any, is reported and counted; the record's event
    /// counts (process, other, not judged) are not added a second time.
    pub(crate) fn judge_again(&mut self, fields: &Fields, record: u64) -> Result<(), Stopped> {
        self.judge_kind(fields.event_kind(), fields, record, true)
    }

    /// The one record -> verdict path: the kind (classified once, by the reader or by
    /// [`SourceScan::judge`]), the cached plan, the byte-level reject, then one call of
    /// the detection core. `again`: another reading of a record already counted.
    fn judge_kind(
        &mut self,
        kind: EventKind,
        fields: &Fields,
        record: u64,
        again: bool,
    ) -> Result<(), Stopped> {
        let count = u64::from(!again);
        if kind == EventKind::Other {
            // Most records of a real log: no plan needed.
            self.stats.other_events += count;
            return Ok(());
        }
        if kind.is_target_side() {
            // Counted with the other events, as before issue 13; judged once.
            self.stats.other_events += count;
            // Most connections are not schtasks.exe's: no plan, no mapping (the same
            // superset test the XML reader runs on the raw record).
            let may_matter = kind != EventKind::Connection
                || (0..fields.len()).any(|i| {
                    fields
                        .value(i)
                        .is_some_and(|v| cim::connection_may_matter(v.as_bytes()))
                });
            if !again && may_matter {
                let mut plans = std::mem::take(&mut self.plans);
                if let Some((plan, target)) = plans.plan(fields) {
                    self.judge_target(kind, plan, target, fields, record);
                }
                self.plans = plans;
            }
            return Ok(());
        }
        let Some((plan, _)) = self.plans.plan(fields) else {
            return Ok(());
        };
        if let Some(tally) = Tally::of(plan, kind, fields) {
            // Another reading of a record is not counted again.
            return if again {
                Ok(())
            } else {
                self.count(tally, record)
            };
        }
        self.stats.process_events += count;
        let get = |i| fields.value(i);
        let mapped = plan.map(get);
        let Some(analysis) = detection::analyze_detection(
            &mapped.as_event(),
            &self.options.config,
            self.options.every_verdict,
        ) else {
            return Ok(());
        };
        let sighting = sighting(&self.stats.name, plan, fields, record);
        let detection = Detection {
            sighting,
            dest: mapped.get(CimField::Dest).to_owned(),
            user: mapped.get(CimField::User).to_owned(),
            process_name: mapped.get(CimField::ProcessName).to_owned(),
            process: analysis.process_masked.clone(),
            fields: Detection::fields_of(&analysis),
            also_seen: Vec::new(),
        };
        self.emit(detection, analysis.is_detection());
        Ok(())
    }

    /// Hands a detection (or, with `--verdicts`, a judged event) to the sink or the
    /// report.
    fn emit(&mut self, detection: Detection, is_detection: bool) {
        self.stats.detections += u64::from(is_detection);
        if let Some(log) = self.log {
            return log(split::PieceEvent::Detection(detection));
        }
        match &self.options.sink {
            Some(sink) => (sink.0)(detection),
            None => self.report.detections.push(detection),
        }
    }

    /// The target side of a record (issue 13): a 4698/4702 judged by its RPC fields, or
    /// paired with the network logon (4624 type 3) whose `TargetLogonId` is its
    /// `SubjectLogonId` (the [`correlate`] module: within this source, bounded); a 5145
    /// write to the `atsvc` pipe.
    fn judge_target(
        &mut self,
        kind: EventKind,
        plan: &FieldPlan,
        target: &TargetPlan,
        fields: &Fields,
        record: u64,
    ) {
        let get = |i| fields.value(i);
        let field = |f| target.get(f, get);
        // Most logons are not network logons: they cost no mapping and no copy.
        if kind == EventKind::Logon && field(TargetField::LogonType).trim() != "3" {
            return;
        }
        if kind == EventKind::Connection {
            let process = field(TargetField::ConnectionProcess);
            if !crate::detection::may_name_schtasks(process.as_bytes()) {
                return;
            }
            let local = cim::local_address(
                field(TargetField::Initiated),
                field(TargetField::Direction),
                field(TargetField::SourceAddress),
                field(TargetField::DestAddress),
            );
            if let Some(address) = local {
                let mapped = plan.map(get);
                let host = mapped.get(CimField::Dest);
                match self.log {
                    // In file order, so that the merge keeps the same first ones.
                    Some(log) => log(split::PieceEvent::Address(
                        host.to_owned(),
                        address.to_owned(),
                    )),
                    None => self.report.learn_address(host, address),
                }
            }
            return;
        }
        let mapped = plan.map(get);
        let (dest, user) = (mapped.get(CimField::Dest), mapped.get(CimField::User));
        let paired = match kind {
            EventKind::TaskRegistered => {
                let sighting = sighting(&self.stats.name, plan, fields, record);
                let Some(id) = TaskEventId::from_event_id(&sighting.event_id) else {
                    return;
                };
                let task = OwnedTask::new(&target.task_event(id, dest, user, get));
                if let Some(log) = self.log {
                    return log(split::PieceEvent::Task(task, sighting));
                }
                self.correlator.task(task, sighting)
            }
            EventKind::Logon => {
                let logon = OwnedLogon {
                    ip_address: field(TargetField::IpAddress).to_owned(),
                    workstation: field(TargetField::WorkstationName).to_owned(),
                };
                let logon_id = field(TargetField::TargetLogonId);
                if let Some(log) = self.log {
                    return log(split::PieceEvent::Logon {
                        host: dest.to_owned(),
                        logon_id: logon_id.to_owned(),
                        logon,
                    });
                }
                self.correlator.logon(dest, logon_id, logon)
            }
            EventKind::ShareAccess => {
                let event = target.share_access(dest, user, get);
                if let Some(analysis) = analyze_share_access(&event, &self.options.config) {
                    let sighting = sighting(&self.stats.name, plan, fields, record);
                    let detection = Detection::target(sighting, dest, user, &analysis);
                    self.emit(detection, true);
                }
                return;
            }
            _ => return,
        };
        for p in paired {
            self.emit_task(p);
        }
    }

    /// Judges a task event with its logon, if one was found, and emits it when it is a
    /// detection (or with `--verdicts`).
    fn emit_task(&mut self, p: Paired<Sighting>) {
        let config = &self.options.config;
        let analysis = match &p.logon {
            Some(logon) => analyze_network_logon_task(&p.task.event(), &logon.logon(), config),
            None => analyze_task(&p.task.event(), config),
        };
        if analysis.is_detection() || self.options.every_verdict {
            let detection = Detection::target(p.payload, &p.task.dest, &p.task.user, &analysis);
            self.emit(detection, analysis.is_detection());
        }
    }

    /// A process creation without what the verdict needs: counted and named; with
    /// `--strict`, a problem that stops the scan.
    fn unjudged(&mut self, record: u64, missing: Missing) -> Result<(), Stopped> {
        self.stats.unjudged_events += 1;
        if self.report.first_unjudged.is_none() {
            self.report.first_unjudged = Some(Unjudged {
                source: self.stats.name.clone(),
                record,
                missing,
            });
        }
        if !self.options.strict {
            return Ok(());
        }
        let location = Location {
            record: Some(record),
            ..Location::default()
        };
        let message = format!("a process creation with {missing}: it cannot be judged");
        self.problem(ProblemKind::Unjudged, location, message)
    }

    fn finish(mut self) {
        for p in self.correlator.finish() {
            self.emit_task(p);
        }
        self.keep_plans();
        self.report.add_source(self.stats);
    }

    /// Leaves this source's field plans for the next source the thread reads
    /// ([`PlanCache::keep`]); a piece of a split file, which is not finished, too.
    fn keep_plans(&mut self) {
        std::mem::take(&mut self.plans).keep();
    }
}

/// Where a record is: its source, its number, and its event fields.
fn sighting(source: &str, plan: &FieldPlan, fields: &Fields, record: u64) -> Sighting {
    let event_field = |f| {
        plan.event_field(f, |i| fields.value(i))
            .unwrap_or_default()
            .to_owned()
    };
    Sighting {
        source: source.to_owned(),
        record,
        event_id: event_field(EventField::EventId),
        channel: event_field(EventField::Channel),
        event_record_id: event_field(EventField::RecordId),
        time: event_field(EventField::Time),
    }
}

/// The outermost reader of every file and stream a scan reads: counts the bytes read
/// into a shared counter (for the progress bar) and ends the stream with an error once
/// the scan's [`Stop`] is raised, so that every reader above it (decompressors, archive
/// walkers, framing that meets no record for a while) stops at its next read, not at
/// the end of the file (issue 15 case 9).
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    counter: Option<Arc<AtomicU64>>,
    stop: Stop,
}

impl<R> Counting<R> {
    pub(crate) fn new(inner: R, options: &ScanOptions) -> Self {
        Counting {
            inner,
            counter: options.progress.clone(),
            stop: options.stop.clone(),
        }
    }
}

/// A zip on disk is read through its central directory, by seeking.
impl<R: std::io::Seek> std::io::Seek for Counting<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.is_raised() {
            return Err(std::io::Error::other(Stopped));
        }
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}
