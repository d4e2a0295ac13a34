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
//! The library side is [`scan_path`] / [`scan_reader`], which return an [`InputReport`];
//! the CLI side is [`run`].
//!
//! ```
//! use schtasksremote::replay::{scan_reader, Format, ScanOptions};
//! let json = br#"{"EventID":4624,"Channel":"Security","Computer":"WS1"}"#;
//! let report = scan_reader("inline", &json[..], &ScanOptions::default());
//! assert_eq!(report.sources[0].format, Format::JsonLines);
//! assert_eq!(report.sources[0].records, 1);
//! assert_eq!(report.sources[0].other_events, 1);
//! ```

mod cli;
mod container;
mod csv;
mod detect;
mod evtx;
mod fields;
mod jsonl;
mod report;
mod xml;

#[cfg(test)]
mod limits_doc;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use cli::{run, ScanArgs};
pub use detect::Format;
pub use jsonl::MAX_JSON_LINE;
pub use report::{OutputFormat, LEAD_COLUMNS};

use crate::cim::{CimField, FieldPlan};
use crate::detection::{self, DetectorConfig, FieldValue};
use fields::{Fields, Kind};

/// How a scan behaves.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub config: DetectorConfig,
    /// Stop at the first unreadable record or file.
    pub strict: bool,
    /// Bytes read from disk so far (for a progress bar), shared across threads.
    pub progress: Option<Arc<AtomicU64>>,
    /// Where detections go as they are found. Without a sink they are collected in
    /// [`InputReport::detections`]; with one, a scan holds no detection in memory.
    pub sink: Option<DetectionSink>,
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
pub(crate) const MAX_PROBLEMS_KEPT: usize = 100;

/// One remote scheduled-task creation found in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The file (and archive member, after `!`) the record came from.
    pub source: String,
    /// The record's position in its source, from 1.
    pub record: u64,
    pub time: String,
    pub dest: String,
    pub user: String,
    pub process_name: String,
    /// The command line with `/p` and `/rp` values masked.
    pub process: String,
    /// The fields the search command adds, named and ordered as
    /// [`crate::detection::OUTPUT_FIELDS`].
    pub fields: Vec<(&'static str, Value)>,
}

impl Detection {
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
    pub detections: u64,
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

/// A record or file that could not be read; it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub source: String,
    pub location: Location,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location == Location::default() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.location, self.message)
        }
    }
}

/// What scanning one input (a path or a stream) gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputReport {
    /// One entry per source read (a plain file is one source, an archive one per member).
    pub sources: Vec<SourceStats>,
    /// The detections, unless [`ScanOptions::sink`] took them.
    pub detections: Vec<Detection>,
    /// The first problems met (at most 100 are kept; `problem_count` counts all).
    pub problems: Vec<Problem>,
    pub problem_count: u64,
    /// Files or archive members that could not be read at all.
    pub unreadable: u64,
    /// Files in a walked folder that are not event data (by content), skipped.
    pub not_event_data: u64,
    /// Bytes of event data read (after decompression).
    pub bytes: u64,
    /// `--strict` stopped the scan at a problem.
    pub aborted: bool,
}

impl InputReport {
    pub fn records(&self) -> u64 {
        self.sources.iter().map(|s| s.records).sum()
    }

    /// Detections found (also those handed to a sink).
    pub fn detection_count(&self) -> u64 {
        self.sources.iter().map(|s| s.detections).sum()
    }

    /// The counts for the source called `name`.
    pub fn source(&self, name: &str) -> Option<&SourceStats> {
        self.sources.iter().find(|s| s.name == name)
    }

    fn problem(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(problem);
        }
    }

    fn merge(&mut self, other: InputReport) {
        self.sources.extend(other.sources);
        self.detections.extend(other.detections);
        for p in other.problems {
            if self.problems.len() < MAX_PROBLEMS_KEPT {
                self.problems.push(p);
            }
        }
        self.problem_count += other.problem_count;
        self.unreadable += other.unreadable;
        self.not_event_data += other.not_event_data;
        self.bytes += other.bytes;
        self.aborted |= other.aborted;
    }
}

/// `--strict` met a problem: unwind the readers.
#[derive(Debug)]
pub(crate) struct Abort;

/// Scans one path: a file (any supported format or container) or a folder (walked,
/// in name order; files that are not event data are skipped and counted).
pub fn scan_path(path: &Path, options: &ScanOptions) -> InputReport {
    let mut report = InputReport::default();
    container::scan_path(path, options, &mut report, false);
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

/// Reading one source: counts, and the judge every reader hands its records to.
pub(crate) struct SourceScan<'a> {
    options: &'a ScanOptions,
    report: &'a mut InputReport,
    stats: SourceStats,
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
                detections: 0,
            },
        }
    }

    /// Counts a new record and returns its number (from 1).
    pub(crate) fn next_record(&mut self) -> u64 {
        self.stats.records += 1;
        self.stats.records
    }

    /// A record that could not be read: reported, counted, skipped. With `--strict`,
    /// the scan stops.
    pub(crate) fn bad_record(
        &mut self,
        location: Location,
        message: impl Into<String>,
    ) -> Result<(), Abort> {
        self.stats.bad_records += 1;
        self.report.problem(Problem {
            source: self.stats.name.clone(),
            location,
            message: message.into(),
        });
        if self.options.strict {
            self.report.aborted = true;
            Err(Abort)
        } else {
            Ok(())
        }
    }

    /// A bad record known by its number and byte offset (formats without lines).
    pub(crate) fn bad_at(
        &mut self,
        record: u64,
        offset: u64,
        message: impl Into<String>,
    ) -> Result<(), Abort> {
        let location = Location {
            record: Some(record),
            offset: Some(offset),
            ..Location::default()
        };
        self.bad_record(location, message)
    }

    /// A problem with the source as a whole (for example a truncated archive) after some
    /// records may have been read.
    pub(crate) fn source_error(&mut self, message: impl Into<String>) -> Result<(), Abort> {
        self.report.problem(Problem {
            source: self.stats.name.clone(),
            location: Location::default(),
            message: message.into(),
        });
        if self.options.strict {
            self.report.aborted = true;
            Err(Abort)
        } else {
            Ok(())
        }
    }

    /// Bytes of event data read from this source.
    pub(crate) fn add_bytes(&mut self, n: u64) {
        self.report.bytes += n;
    }

    /// Classifies a record and, for process events, maps it to CIM and runs the
    /// detection.
    pub(crate) fn judge(&mut self, fields: &Fields, record: u64) {
        match fields::classify(fields) {
            Kind::Other => self.stats.other_events += 1,
            Kind::Process => {
                self.stats.process_events += 1;
                self.judge_process(fields, record);
            }
        }
    }

    /// Runs the detection on a record already known to be a process event.
    pub(crate) fn judge_process(&mut self, fields: &Fields, record: u64) {
        let plan = FieldPlan::from_names(fields.names());
        let mapped = plan.map(|i| fields.value(i));
        let event = mapped.as_event();
        if !detection::is_schtasks(&event) {
            return;
        }
        let Some(analysis) = detection::analyze(&event, &self.options.config) else {
            return;
        };
        if !analysis.is_detection() {
            return;
        }
        self.stats.detections += 1;
        let fields_out: Vec<(&'static str, Value)> = analysis
            .fields()
            .iter()
            .map(|(n, v)| (*n, Value::from(v)))
            .collect();
        let detection = Detection {
            source: self.stats.name.clone(),
            record,
            time: fields
                .first_of(&fields::TIME_NAMES)
                .unwrap_or("")
                .to_owned(),
            dest: mapped.get(CimField::Dest).to_owned(),
            user: mapped.get(CimField::User).to_owned(),
            process_name: mapped.get(CimField::ProcessName).to_owned(),
            process: analysis.process_masked.clone(),
            fields: fields_out,
        };
        match &self.options.sink {
            Some(sink) => (sink.0)(detection),
            None => self.report.detections.push(detection),
        }
    }

    fn finish(self) {
        self.report.sources.push(self.stats);
    }
}

/// Counts bytes read from disk into a shared counter (for the progress bar).
pub(crate) struct Counting<R> {
    inner: R,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}
