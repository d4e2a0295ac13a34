//! Output: detections on stdout (a table, CSV, or one JSON object per line); problems
//! and the summary on stderr.
//!
//! Values come from the scanned records, which an attacker may have written (issue 15
//! case 8). So: every table cell and every name or message on stderr goes through
//! [`visible`] (control and bidi characters escaped, so that a value can neither move
//! the cursor nor forge a row); CSV cells that a spreadsheet would run as a formula get
//! a leading `'` unless `--no-formula-guard` ([`formula_guard`]); JSON is exact (its
//! escaping is JSON's own).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::mpsc;
use std::time::Duration;

use schtasksremote::detection::OUTPUT_FIELDS;
use schtasksremote::replay::{
    Detection, Edge, InputReport, Linker, Sighting, SightingGrouper, Value, LEAD_COLUMNS, LINKED,
};

/// How detections are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people, written in blocks of 1,000 rows (when the scan ends for
    /// fewer), so that memory stays flat.
    #[default]
    Table,
    /// CSV with a header row, one row per detection.
    Csv,
    /// One JSON object per detection per line.
    Json,
}

/// Multivalue fields are joined with this in CSV and in the table.
const MV_SEP: &str = ";";

pub(crate) struct Printer<W: Write> {
    format: OutputFormat,
    out: W,
    /// `--verdicts`: the table gets a REASON column (CSV and JSON carry
    /// `detection_reason` anyway).
    reasons: bool,
    /// `--no-formula-guard` not given: CSV cells pass through [`formula_guard`].
    guard_formulas: bool,
    header_done: bool,
    /// The table rows not written yet (at most [`TABLE_BLOCK`]), as printed.
    table: Vec<Row>,
    /// Builds the table rows (and keeps the rows written, for their buffers).
    rows: RowMaker,
    /// A table line's buffer.
    line: String,
    /// The detections grouping and linking released, waiting to be printed (kept for
    /// its buffer).
    ready: Vec<Detection>,
    /// The column widths of the table blocks written so far (a later block is never
    /// narrower, so columns stay aligned across blocks as far as they can).
    widths: Vec<usize>,
    /// Folds the sightings of one process creation by two sensors into one detection
    /// before anything is printed (issue 12 item 7).
    grouper: SightingGrouper,
    /// Links the source and target ends of one movement (issue 13), after grouping;
    /// holds the detections that may link until the end (bounded, see `replay::link`).
    linker: Linker,
}

impl<W: Write> Printer<W> {
    pub(crate) fn new(
        format: OutputFormat,
        out: W,
        reasons: bool,
        guard_formulas: bool,
        grouper: SightingGrouper,
        linker: Linker,
    ) -> Self {
        Printer {
            format,
            out,
            reasons,
            guard_formulas,
            header_done: false,
            table: Vec::new(),
            rows: RowMaker::default(),
            line: String::new(),
            ready: Vec::new(),
            widths: Vec::new(),
            grouper,
            linker,
        }
    }

    /// The lateral-movement edges found (for the summary).
    pub(crate) fn edges(&self) -> Vec<Edge> {
        self.linker.edges().cloned().collect()
    }

    /// Detections the linker had to release before the end (its bound was reached).
    pub(crate) fn links_released_early(&self) -> u64 {
        self.linker.released_early()
    }

    /// Which host owns which address, from an input's connection events: the linker
    /// uses them when it pairs the two ends (at the end of the scan).
    pub(crate) fn learn_addresses(&mut self, addresses: &BTreeSet<(String, String)>) {
        for (host, address) in addresses {
            self.linker.learn_address(host, address);
        }
    }

    /// Sightings folded into another detection (for the summary).
    pub(crate) fn merged(&self) -> u64 {
        self.grouper.merged()
    }

    /// Takes detections as they are found; prints those the grouper and then the
    /// linker have released.
    pub(crate) fn detections(&mut self, detections: Vec<Detection>) -> io::Result<()> {
        let mut ready = std::mem::take(&mut self.ready);
        for d in detections {
            for grouped in self.grouper.push(d) {
                ready.extend(self.linker.push(grouped));
            }
        }
        let printed = self.print(&ready);
        ready.clear();
        self.ready = ready;
        printed
    }

    fn print(&mut self, detections: &[Detection]) -> io::Result<()> {
        if detections.is_empty() {
            return Ok(());
        }
        match self.format {
            OutputFormat::Table => {
                for d in detections {
                    self.rows.rows(d, self.reasons, &mut self.table);
                    if self.table.len() >= TABLE_BLOCK {
                        self.write_table_block()?;
                    }
                }
                Ok(())
            }
            OutputFormat::Csv => self.csv(detections),
            OutputFormat::Json => {
                for d in detections {
                    write_json(&mut self.out, d)?;
                }
                Ok(())
            }
        }
    }

    /// Prints `detections` as [`Printer::print`] does, the second half made ready
    /// (table rows, or CSV or JSON text) and dropped on another thread meanwhile: at
    /// the end of a scan the readers are done and a core is free, while up to
    /// [`schtasksremote::replay::MAX_PENDING`] + [`schtasksremote::replay::MAX_HELD`]
    /// detections held for grouping and linking wait to be printed (on the 1 GB XML
    /// file, 8,192: 34 to 71 ms with one core idle, in scans of 1.4 to 1.7 s on two
    /// threads on the shared 2-core machine). The helper gets at most
    /// [`READY_AHEAD`] batches ahead of what is written, so memory stays bounded
    /// whatever the detections hold.
    fn print_on_two_threads(&mut self, mut detections: Vec<Detection>) -> io::Result<()> {
        let second = detections.split_off(detections.len() / 2);
        let (format, reasons, guard) = (self.format, self.reasons, self.guard_formulas);
        let (tx, rx) = mpsc::sync_channel(READY_AHEAD);
        std::thread::scope(|s| {
            s.spawn(move || Ready::send(format, reasons, guard, second, &tx));
            let first = self.print(&detections);
            drop(detections);
            first?;
            // On an error, `rx` is dropped: the helper's next send fails and it stops.
            for ready in rx {
                match ready {
                    Ready::Rows(per_detection) => {
                        for rows in per_detection {
                            self.table.extend(rows);
                            if self.table.len() >= TABLE_BLOCK {
                                self.write_table_block()?;
                            }
                        }
                    }
                    Ready::Text(text) => self.out.write_all(&text?)?,
                }
            }
            Ok(())
        })
    }

    fn csv(&mut self, detections: &[Detection]) -> io::Result<()> {
        self.write_csv(detections).map_err(csv_error)
    }

    fn write_csv(&mut self, detections: &[Detection]) -> csv::Result<()> {
        let mut w = csv::Writer::from_writer(&mut self.out);
        if !self.header_done {
            let header = LEAD_COLUMNS
                .iter()
                .chain(OUTPUT_FIELDS.iter())
                .chain(std::iter::once(&LINKED));
            w.write_record(header)?;
            self.header_done = true;
        }
        csv_records(&mut w, detections, self.guard_formulas)?;
        Ok(w.flush()?)
    }

    /// Writes the rows held so far (the header before the first block).
    fn write_table_block(&mut self) -> io::Result<()> {
        let headers = table_headers(self.reasons);
        if self.widths.is_empty() {
            self.widths = headers.iter().map(|h| h.chars().count()).collect();
        }
        for row in &self.table {
            for (w, c) in self.widths.iter_mut().zip(row.cells()) {
                *w = (*w).max(c.chars);
            }
        }
        if !self.header_done {
            let cells = headers.iter().map(|h| (*h, h.chars().count()));
            write_table_line(&mut self.out, &mut self.line, cells, &self.widths)?;
            self.header_done = true;
        }
        let mut rows = std::mem::take(&mut self.table);
        let mut written = Ok(());
        for row in rows.drain(..) {
            if written.is_ok() {
                let cells = row.cells().map(|c| (row.text(c), c.chars));
                written = write_table_line(&mut self.out, &mut self.line, cells, &self.widths);
            }
            self.rows.spare.push(row);
        }
        self.table = rows;
        written
    }

    /// Pushes what was written so far to stdout (between batches, so that a pipe sees
    /// detections while the scan goes on).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes what was held back (the table) and flushes.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        let mut rest = Vec::new();
        for d in self.grouper.finish() {
            rest.extend(self.linker.push(d));
        }
        rest.extend(self.linker.finish());
        if rest.len() >= TWO_THREADS_FROM {
            self.print_on_two_threads(rest)?;
        } else {
            self.print(&rest)?;
        }
        if self.format == OutputFormat::Table && !self.table.is_empty() {
            self.write_table_block()?;
        }
        // A CSV with no detection is still a CSV: its header, so that a script reading
        // the columns by name gets zero rows, not an empty file (issue 12 item 6).
        if self.format == OutputFormat::Csv && !self.header_done {
            self.csv(&[])?;
        }
        self.out.flush()
    }
}

/// [`Printer::finish`] prints on two threads from this many detections (fewer: a
/// thread costs more than it saves).
const TWO_THREADS_FROM: usize = 256;

/// Makes table rows; keeps the rows written, for their buffers: a new row reuses one
/// instead of allocating (this runs for every detection).
#[derive(Debug, Default)]
struct RowMaker {
    spare: Vec<Row>,
    /// A cell built from parts.
    scratch: String,
}

impl RowMaker {
    /// One detection's table rows, as printed (escaped with [`visible`], cut to
    /// width), added to `table`. EVENT names the sensor (`1
    /// Microsoft-Windows-Sysmon/Operational #EventRecordID`) and SOURCE the whole path
    /// and record number; a detection seen by more sensors gets one more row per
    /// sighting, with only its TIME, EVENT and SOURCE.
    fn rows(&mut self, d: &Detection, reasons: bool, table: &mut Vec<Row>) {
        let target = matches!(d.field("detection_side"), Some(Value::One(v)) if v == "target");
        for (i, s) in d.sightings().enumerate() {
            let first = i == 0;
            let mut row = self.spare.pop().unwrap_or_else(|| Row {
                // A typical row's length: one allocation, not a few reallocations.
                text: String::with_capacity(256),
                ..Row::default()
            });
            row.clear();
            row.cell(&s.time, TABLE_CELL_WIDTH);
            if first {
                row.cell(&d.dest, TABLE_CELL_WIDTH);
                row.cell(&d.user, TABLE_CELL_WIDTH);
                if target {
                    // The target side was the remote host; its caller, when known.
                    self.scratch.clear();
                    self.scratch.push_str("(target)");
                    let src = field_text(d, "src");
                    if !src.is_empty() {
                        self.scratch.push_str(" from ");
                        self.scratch.push_str(&src);
                    }
                    row.cell(&self.scratch, TABLE_CELL_WIDTH);
                } else {
                    row.cell(&field_text(d, "remote_host"), TABLE_CELL_WIDTH);
                }
                if reasons {
                    row.cell(&field_text(d, "detection_reason"), TABLE_CELL_WIDTH);
                }
            } else {
                let blanks = if reasons { 4 } else { 3 };
                (0..blanks).for_each(|_| row.cell("", TABLE_CELL_WIDTH));
            }
            self.scratch.clear();
            event_cell(&mut self.scratch, s);
            row.cell(&self.scratch, TABLE_CELL_WIDTH);
            self.scratch.clear();
            let _ = write!(self.scratch, "{}:{}", s.source, s.record);
            row.cell_end(&self.scratch, TABLE_SOURCE_WIDTH);
            if !first {
                row.cell("", TABLE_PROCESS_WIDTH);
            } else if target {
                // No process on this side: what was registered and what it runs.
                self.scratch.clear();
                let _ = write!(
                    self.scratch,
                    "{}: {} -> {}",
                    field_text(d, "detection_name"),
                    field_text(d, "task_name"),
                    field_text(d, "task_action")
                );
                row.cell(&self.scratch, TABLE_PROCESS_WIDTH);
            } else {
                row.cell(&d.process, TABLE_PROCESS_WIDTH);
            }
            table.push(row);
        }
    }
}

/// A batch of detections made ready to write on another thread
/// ([`Printer::print_on_two_threads`]).
enum Ready {
    /// Each detection's table rows.
    Rows(Vec<Vec<Row>>),
    /// CSV records (no header) or JSON lines.
    Text(io::Result<Vec<u8>>),
}

/// [`Printer::print_on_two_threads`]'s helper is at most this many batches ahead of
/// what is written: 4 MiB of text or about 8,000 table rows.
const READY_AHEAD: usize = 64;

/// A batch of [`Ready::Text`] ends past this many bytes, of [`Ready::Rows`] past this
/// many rows.
const READY_BYTES: usize = 64 << 10;
const READY_ROWS: usize = 128;

impl Ready {
    /// Sends `detections` as `format` prints them, in batches, each detection dropped
    /// once made ready (on this thread). Stops when the receiver is gone.
    fn send(
        format: OutputFormat,
        reasons: bool,
        guard: bool,
        detections: Vec<Detection>,
        tx: &mpsc::SyncSender<Ready>,
    ) {
        let mut detections = detections.into_iter();
        match format {
            OutputFormat::Table => {
                let mut maker = RowMaker::default();
                let (mut batch, mut rows) = (Vec::new(), 0);
                for d in detections {
                    // One row per sighting.
                    let mut mine = Vec::with_capacity(1 + d.also_seen.len());
                    maker.rows(&d, reasons, &mut mine);
                    rows += mine.len();
                    batch.push(mine);
                    if rows >= READY_ROWS {
                        if tx.send(Ready::Rows(std::mem::take(&mut batch))).is_err() {
                            return;
                        }
                        rows = 0;
                    }
                }
                let _ = tx.send(Ready::Rows(batch));
            }
            OutputFormat::Csv | OutputFormat::Json => {
                while let Some(first) = detections.next() {
                    let text = match format {
                        OutputFormat::Csv => {
                            csv_batch(first, &mut detections, guard).map_err(csv_error)
                        }
                        _ => json_batch(first, &mut detections),
                    };
                    let failed = text.is_err();
                    if tx.send(Ready::Text(text)).is_err() || failed {
                        return;
                    }
                }
            }
        }
    }
}

/// `first` and the detections after it as CSV records (no header), until about
/// [`READY_BYTES`]; each dropped once written.
fn csv_batch(
    first: Detection,
    rest: &mut std::vec::IntoIter<Detection>,
    guard: bool,
) -> csv::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(READY_BYTES + (READY_BYTES >> 2)));
    let mut next = Some(first);
    while let Some(d) = next.take() {
        csv_records(&mut w, std::slice::from_ref(&d), guard)?;
        if w.get_ref().len() < READY_BYTES {
            next = rest.next();
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// `first` and the detections after it as JSON lines, until about [`READY_BYTES`];
/// each dropped once written.
fn json_batch(first: Detection, rest: &mut std::vec::IntoIter<Detection>) -> io::Result<Vec<u8>> {
    let mut text = Vec::with_capacity(READY_BYTES + (READY_BYTES >> 2));
    let mut next = Some(first);
    while let Some(d) = next.take() {
        write_json(&mut text, &d)?;
        if text.len() < READY_BYTES {
            next = rest.next();
        }
    }
    Ok(text)
}

/// A CSV writer's error as an I/O error; a closed stdout keeps its kind (BrokenPipe: a
/// quiet end, as `| head`).
fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("CSV output: {other:?}")),
    }
}

/// One CSV record per detection: the lead columns, then [`OUTPUT_FIELDS`] and
/// [`LINKED`]; with `guard`, each cell through [`formula_guard`].
fn csv_records<W: Write>(
    w: &mut csv::Writer<W>,
    detections: &[Detection],
    guard: bool,
) -> csv::Result<()> {
    for d in detections {
        let lead = lead_values(d);
        let rest = OUTPUT_FIELDS
            .iter()
            .chain(std::iter::once(&LINKED))
            .map(|n| d.field(n).map(|v| v.joined(MV_SEP)).unwrap_or_default());
        let cells = lead
            .into_iter()
            .chain(rest)
            .map(|c| if guard { formula_guard(c) } else { c });
        w.write_record(cells)?;
    }
    Ok(())
}

/// The lead columns' values for CSV: a sighting's columns hold one value per sighting,
/// joined with [`MV_SEP`] in sighting order.
fn lead_values(d: &Detection) -> [String; 10] {
    let per_sighting =
        |f: fn(&Sighting) -> String| d.sightings().map(f).collect::<Vec<_>>().join(MV_SEP);
    [
        per_sighting(|s| s.source.clone()),
        per_sighting(|s| s.record.to_string()),
        per_sighting(|s| s.event_id.clone()),
        per_sighting(|s| s.channel.clone()),
        per_sighting(|s| s.event_record_id.clone()),
        per_sighting(|s| s.time.clone()),
        d.dest.clone(),
        d.user.clone(),
        d.process_name.clone(),
        d.process.clone(),
    ]
}

/// Fields whose JSON values are numbers and booleans (issue 12 item 6). Everything else
/// stays a string, as Splunk's own fields are; the search command and CSV write these
/// two as strings too, because SCP fields have no other type.
const JSON_NUMBERS: [&str; 1] = ["risk_score"];
const JSON_BOOLEANS: [&str; 1] = ["task_password_supplied"];

/// One detection as a JSON object, keys in output order: the lead columns (the first
/// sighting's source, record, event ID, channel, record ID and time; then dest, user,
/// process_name, process), `sightings` (every sensor's, an array of objects with the
/// sighting's six keys), then [`OUTPUT_FIELDS`]. Multivalues are arrays, empty values
/// `null`; `record`, a numeric `event_id` or `event_record_id` and [`JSON_NUMBERS`] are
/// numbers, [`JSON_BOOLEANS`] booleans.
fn write_json<W: Write>(out: &mut W, d: &Detection) -> io::Result<()> {
    out.write_all(b"{")?;
    write_sighting_keys(out, &d.sighting)?;
    let own = [&d.dest, &d.user, &d.process_name, &d.process];
    for (name, value) in LEAD_COLUMNS[6..].iter().zip(own) {
        out.write_all(b",")?;
        write_json_key_str(out, name, value)?;
    }
    out.write_all(b",\"sightings\":[")?;
    for (i, s) in d.sightings().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"{")?;
        write_sighting_keys(out, s)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"]")?;
    for (name, value) in &d.fields {
        out.write_all(b",")?;
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(b":")?;
        match value {
            Value::One(s) if JSON_NUMBERS.contains(name) && s.parse::<u64>().is_ok() => {
                out.write_all(s.as_bytes())?
            }
            Value::One(s) if JSON_BOOLEANS.contains(name) && (s == "true" || s == "false") => {
                out.write_all(s.as_bytes())?
            }
            Value::One(s) if !s.is_empty() => serde_json::to_writer(&mut *out, s)?,
            Value::Many(v) if !v.is_empty() => serde_json::to_writer(&mut *out, v)?,
            Value::Empty | Value::One(_) | Value::Many(_) => out.write_all(b"null")?,
        }
    }
    out.write_all(b"}\n")
}

/// `"source":…,"record":…,"event_id":…,"channel":…,"event_record_id":…,"time":…`.
fn write_sighting_keys<W: Write>(out: &mut W, s: &Sighting) -> io::Result<()> {
    write_json_key_str(out, "source", &s.source)?;
    write!(out, ",\"record\":{}", s.record)?;
    out.write_all(b",")?;
    write_json_key_number(out, "event_id", &s.event_id)?;
    out.write_all(b",")?;
    write_json_key_str(out, "channel", &s.channel)?;
    out.write_all(b",")?;
    write_json_key_number(out, "event_record_id", &s.event_record_id)?;
    out.write_all(b",")?;
    write_json_key_str(out, "time", &s.time)
}

/// `"name":"value"`, or `"name":null` when empty.
fn write_json_key_str<W: Write>(out: &mut W, name: &str, value: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, name)?;
    out.write_all(b":")?;
    if value.is_empty() {
        out.write_all(b"null")
    } else {
        serde_json::to_writer(&mut *out, value).map_err(io::Error::from)
    }
}

/// `"name":123` when the value is a whole number, else as [`write_json_key_str`].
fn write_json_key_number<W: Write>(out: &mut W, name: &str, value: &str) -> io::Result<()> {
    match value.parse::<u64>() {
        Ok(n) => {
            serde_json::to_writer(&mut *out, name)?;
            write!(out, ":{n}")
        }
        Err(_) => write_json_key_str(out, name, value),
    }
}

/// The longest command line shown in the table; the CSV and JSON outputs have it whole.
const TABLE_PROCESS_WIDTH: usize = 90;

/// The longest other table cell (after escaping): these are values from the records,
/// which an attacker could make as long as a record, and every row is padded to the
/// widest.
const TABLE_CELL_WIDTH: usize = 100;

/// The longest SOURCE cell: a path and archive member names (a longer one keeps its
/// end, the file name and record number).
const TABLE_SOURCE_WIDTH: usize = 300;

/// Table rows held before they are written: the table's memory is bounded by this,
/// whatever the number of detections.
pub(crate) const TABLE_BLOCK: usize = 1000;

/// The table's headers; with `reasons` (`--verdicts`) a REASON column
/// (`detection_reason`) after REMOTE HOST.
fn table_headers(reasons: bool) -> Vec<&'static str> {
    let mut headers = vec!["TIME", "DEST", "USER", "REMOTE HOST"];
    if reasons {
        headers.push("REASON");
    }
    headers.extend(["EVENT", "SOURCE", "PROCESS"]);
    headers
}

/// A field's text (multivalues joined), empty when absent; borrowed when it is one
/// value.
fn field_text<'d>(d: &'d Detection, name: &str) -> Cow<'d, str> {
    match d.field(name) {
        Some(Value::One(s)) => Cow::Borrowed(s),
        Some(v) => Cow::Owned(v.joined(MV_SEP)),
        None => Cow::Borrowed(""),
    }
}

/// A table cell in [`Row::text`]: where it is, and its width in characters.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    start: usize,
    end: usize,
    chars: usize,
}

/// The most cells a table row has (with `--verdicts`).
const MAX_COLUMNS: usize = 8;

/// One table row as printed: its cells one after another in one string (one
/// allocation per row, reused, where a `Vec<String>` of cells took nine).
#[derive(Debug, Default)]
struct Row {
    text: String,
    cells: [Cell; MAX_COLUMNS],
    len: usize,
}

impl Row {
    fn clear(&mut self) {
        self.text.clear();
        self.len = 0;
    }

    fn cells(&self) -> impl ExactSizeIterator<Item = Cell> + '_ {
        self.cells.iter().take(self.len).copied()
    }

    /// The text of one of this row's cells.
    fn text(&self, cell: Cell) -> &str {
        self.text.get(cell.start..cell.end).unwrap_or_default()
    }

    /// Adds `value` as a cell: escaped ([`visible`]), cut to `max` characters ending
    /// with `…` (as [`cut_end`]).
    fn cell(&mut self, value: &str, max: usize) {
        let start = self.text.len();
        push_cut_end(&mut self.text, &visible(value), max);
        self.close(start);
    }

    /// Adds `value` as a cell: escaped, cut to its last `max` characters starting
    /// with `…` (as [`cut_start`]).
    fn cell_end(&mut self, value: &str, max: usize) {
        let start = self.text.len();
        push_cut_start(&mut self.text, &visible(value), max);
        self.close(start);
    }

    fn close(&mut self, start: usize) {
        let text = self.text.get(start..).unwrap_or_default();
        let chars = if text.is_ascii() {
            text.len()
        } else {
            text.chars().count()
        };
        if let Some(cell) = self.cells.get_mut(self.len) {
            *cell = Cell {
                start,
                end: self.text.len(),
                chars,
            };
            self.len += 1;
        }
    }
}

/// One table line: cells (text, width in characters) padded to `widths`, two spaces
/// apart, no trailing blanks; `line` is the buffer it is built in.
fn write_table_line<'a, W: Write>(
    out: &mut W,
    line: &mut String,
    cells: impl ExactSizeIterator<Item = (&'a str, usize)>,
    widths: &[usize],
) -> io::Result<()> {
    line.clear();
    let n = cells.len();
    for (i, ((cell, chars), w)) in cells.zip(widths).enumerate() {
        line.push_str(cell);
        if i + 1 < n {
            let pad = w.saturating_sub(chars) + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    let kept = line.trim_end().len();
    line.truncate(kept);
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// The table's EVENT cell, added to `out`: event ID, channel, `#` and the event's own
/// record ID, each when the record has it (`4688 Security #1208317`).
fn event_cell(out: &mut String, s: &Sighting) {
    for part in [&s.event_id, &s.channel] {
        if !part.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(part);
        }
    }
    if !s.event_record_id.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('#');
        out.push_str(&s.event_record_id);
    }
}

/// Whether `c` must not reach a terminal as it is: a control character (C0, DEL, C1:
/// cursor moves, erases, a newline that forges a row) or one that reorders what
/// follows it (Unicode bidi embeddings, overrides and isolates, the implicit marks,
/// and the line and paragraph separators). Unicode TR#9 and CVE-2021-42574 ("Trojan
/// Source") list the bidi ones.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` safe to print on a terminal: each character [`needs_escape`] says is unsafe is
/// written as Rust and JSON readers know it, `\n`, `\r`, `\t` or `\u{1b}`; the rest
/// is unchanged (a backslash too: Windows paths are full of them, so the escaping
/// is for people, not reversible; JSON output is the exact one).
pub(crate) fn visible(s: &str) -> Cow<'_, str> {
    // Printable ASCII, nearly every cell, needs no escape: one look per byte, without
    // an early exit, so that the compiler tests many bytes at once.
    let printable_ascii = s
        .bytes()
        .fold(true, |all, b| all & (0x20..0x7f).contains(&b));
    if printable_ascii || !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Appends `line` with its characters shown by [`visible`], then a line end: the
/// attacker-named values in a message are escaped, the message's own end is not.
pub(crate) fn push_visible_line(out: &mut String, line: &str) {
    out.push_str(&visible(line));
    out.push('\n');
}

/// The CSV-injection guard (OWASP "CSV Injection"): a cell that starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return is one a spreadsheet may run as a formula
/// (`=HYPERLINK(…)`, `@SUM(…)`, DDE), so it gets a leading `'`, which spreadsheets show
/// as text and do not display. On by default for `--format csv`; `--no-formula-guard`
/// writes cells as they are.
pub(crate) fn formula_guard(cell: String) -> String {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}"),
        _ => cell,
    }
}

/// `s` cut to `max` characters, ending with `…` when cut.
#[cfg(test)]
fn cut_end(s: &str, max: usize) -> String {
    let mut out = String::new();
    push_cut_end(&mut out, s, max);
    out
}

/// Adds `s` cut to `max` characters (at least 1), ending with `…` when cut.
fn push_cut_end(out: &mut String, s: &str, max: usize) {
    let cut = if s.is_ascii() {
        // One byte per character: cut by length.
        (s.len() > max).then(|| max.saturating_sub(1))
    } else {
        s.char_indices()
            .nth(max)
            .and_then(|_| s.char_indices().nth(max.saturating_sub(1)))
            .map(|(at, _)| at)
    };
    match cut.and_then(|at| s.get(..at)) {
        Some(head) => {
            out.push_str(head);
            out.push('…');
        }
        None => out.push_str(s),
    }
}

/// `s` cut to its last `max` characters, starting with `…` when cut.
#[cfg(test)]
fn cut_start(s: &str, max: usize) -> String {
    let mut out = String::new();
    push_cut_start(&mut out, s, max);
    out
}

/// Adds `s` cut to its last `max` characters (at least 1), starting with `…` when cut.
fn push_cut_start(out: &mut String, s: &str, max: usize) {
    let n = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    };
    if n <= max {
        out.push_str(s);
    } else {
        out.push('…');
        out.extend(s.chars().skip(n - (max - 1)));
    }
}

/// Totals over a whole scan.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub files: u64,
    pub report: InputReport,
    /// Sightings folded into another detection ([`SightingGrouper::merged`]).
    pub merged_sightings: u64,
    /// Stdout was closed before the scan ended (`| head`): the counts are of what was
    /// read until then.
    pub output_closed: bool,
    /// Lateral-movement edges: both ends of one movement linked (issue 13).
    pub edges: Vec<Edge>,
    /// Detections the linker released before the end of the scan (its bound).
    pub links_released_early: u64,
}

/// Milliseconds since the epoch as `2020-12-19T07:00:22.191Z` (civil from days:
/// Howard Hinnant's algorithm, the inverse of `replay::parse_time`'s).
fn utc(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// `n` with its thousands separated by commas (`1,024`).
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 file`, `2 files`: a count with its noun in the right number.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `--per-source`: one tab-separated line per source listed (the first
/// [`schtasksremote::replay::MAX_SOURCES_LISTED`]), a line for those not listed, then
/// one per file or archive member skipped (the first 100), by name and reason. Names
/// go through [`visible`] (a tab or newline in a member name cannot forge a column or
/// a line).
pub(crate) fn per_source(totals: &Totals) -> String {
    let r = &totals.report;
    let mut s = String::from(
        "source\tformat\trecords\tprocess events\tnot judged\tother events\tbad records\tdetections\n",
    );
    for src in &r.sources {
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            visible(&src.name),
            src.format,
            src.records,
            src.process_events,
            src.unjudged_events,
            src.other_events,
            src.bad_records,
            src.detections
        ));
    }
    let unlisted = r.counts.sources.saturating_sub(r.sources.len() as u64);
    if unlisted > 0 {
        s.push_str(&format!(
            "… and {} not listed (counted in the summary)\n",
            count(unlisted, "more source", "more sources")
        ));
    }
    for skipped in &r.skipped_files {
        s.push_str(&format!("{}\t{}\n", visible(&skipped.name), skipped.reason));
    }
    s
}

/// The summary for stderr. The byte count is of event data as read, after
/// decompression, which is what the throughput is measured on.
pub(crate) fn summary(totals: &Totals, elapsed: Duration, threads: usize) -> String {
    let r = &totals.report;
    let c = &r.counts;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    if totals.output_closed {
        s.push_str("stopped early: stdout was closed; the counts are of what was read\n");
    }
    s.push_str(&format!(
        "scanned {} ({}): {}, {}, {}\n",
        count(totals.files, "file", "files"),
        count(c.sources, "source", "sources"),
        count(c.records, "record", "records"),
        count(c.process_events, "process event", "process events"),
        count(c.detections, "detection", "detections"),
    ));
    if totals.merged_sightings > 0 {
        s.push_str(&format!(
            "grouped: {} of one process creation by another sensor, listed with it\n",
            count(totals.merged_sightings, "sighting", "sightings"),
        ));
    }
    for e in &totals.edges {
        let line = format!(
            "lateral movement: {} -> {}: {}, {} .. {}; source seen by {}; target seen by {}; source confirmed {}",
            e.source_host,
            e.target_host,
            count(e.count, "linked pair", "linked pairs"),
            utc(e.first_ms),
            utc(e.last_ms),
            e.source_seen.iter().cloned().collect::<Vec<_>>().join(", "),
            e.target_seen.iter().cloned().collect::<Vec<_>>().join(", "),
            e.how.iter().copied().collect::<Vec<_>>().join(", "),
        );
        push_visible_line(&mut s, &line);
    }
    if totals.links_released_early > 0 {
        s.push_str(&format!(
            "linking: {} printed before the end of the scan, as at most {} wait for the other end; a link to one of them found later is not shown\n",
            count(totals.links_released_early, "detection", "detections"),
            thousands(schtasksremote::replay::MAX_HELD as u64),
        ));
    }
    if let Some(first) = &r.first_unjudged {
        let line = format!(
            "not judged: {} without what the verdict needs; first {}",
            count(c.unjudged_events, "process event", "process events"),
            first,
        );
        push_visible_line(&mut s, &line);
    }
    if c.truncated_records > 0 {
        s.push_str(&format!(
            "truncated: {} cut short, {}\n",
            count(c.truncated_records, "record", "records"),
            if c.truncated_records == 1 {
                "judged from what it has"
            } else {
                "judged from what they have"
            },
        ));
    }
    s.push_str(&format!(
        "skipped: {}, {}, {}, {}\n",
        count(c.other_events, "other event", "other events"),
        count(c.bad_records, "bad record", "bad records"),
        count(r.unreadable, "unreadable file", "unreadable files"),
        count(
            r.not_event_data,
            "file not event data",
            "files not event data"
        ),
    ));
    let walk = [
        (
            r.not_regular,
            "FIFO, socket or device",
            "FIFOs, sockets or devices",
        ),
        (
            r.links_skipped,
            "symbolic link not followed (see --follow)",
            "symbolic links not followed (see --follow)",
        ),
        (
            r.already_seen,
            "link loop or file reached twice",
            "link loops or files reached twice",
        ),
    ];
    let walk: Vec<String> = walk
        .iter()
        .filter(|(n, ..)| *n > 0)
        .map(|&(n, one, many)| count(n, one, many))
        .collect();
    if !walk.is_empty() {
        s.push_str(&format!(
            "not walked into: {}; --per-source names them\n",
            walk.join(", ")
        ));
    }
    s.push_str(&format!(
        "{:.1} MB of event data (decompressed) in {:.2} s: {} records/s, {:.1} MB/s, {}\n",
        r.bytes as f64 / 1e6,
        secs,
        thousands((c.records as f64 / secs) as u64),
        r.bytes as f64 / 1e6 / secs,
        count(threads as u64, "thread", "threads"),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_their_noun_in_the_right_number() {
        assert_eq!(
            count(1, "unreadable file", "unreadable files"),
            "1 unreadable file"
        );
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(1200, "record", "records"), "1,200 records");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(9005), "9,005");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis_at_the_end_or_the_start() {
        assert_eq!(cut_end("abcdef", 4), "abc…");
        assert_eq!(cut_end("abc", 4), "abc");
        assert_eq!(cut_end("abcd", 4), "abcd");
        // Characters, not bytes, whether or not the text is ASCII.
        assert_eq!(cut_end("ééééé", 4), "ééé…");
        assert_eq!(cut_end("éééé", 4), "éééé");
        assert_eq!(cut_end("abcé", 4), "abcé");
        assert_eq!(cut_start("abcdef", 4), "…def");
        assert_eq!(cut_start("abc", 4), "abc");
    }

    #[test]
    fn control_and_bidi_characters_are_escaped_visibly() {
        assert!(matches!(
            visible(r"C:\Windows\schtasks.exe /s H"),
            Cow::Borrowed(_)
        ));
        assert_eq!(visible("a\u{7f}b"), "a\\u{7f}b");
        assert_eq!(visible("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(visible("X\u{1b}[1A\u{1b}[2K"), "X\\u{1b}[1A\\u{1b}[2K");
        assert_eq!(visible("\u{202E}exe.txt"), "\\u{202e}exe.txt");
        assert_eq!(
            visible("\u{2066}a\u{2069}\u{85}\u{7f}"),
            "\\u{2066}a\\u{2069}\\u{85}\\u{7f}"
        );
        // Borrowed when nothing is escaped: no copy on the common path.
        assert!(matches!(
            visible(r"C:\Windows\schtasks.exe"),
            Cow::Borrowed(_)
        ));
        assert_eq!(visible("héllo ＝"), "héllo ＝");
    }

    fn sighting(source: &str, record: u64, event_id: &str, time: &str) -> Sighting {
        Sighting {
            source: source.into(),
            record,
            event_id: event_id.into(),
            channel: if event_id == "1" {
                "Microsoft-Windows-Sysmon/Operational"
            } else {
                "Security"
            }
            .into(),
            event_record_id: String::new(),
            time: time.into(),
        }
    }

    fn one(s: &str) -> Value {
        Value::One(s.into())
    }

    /// The table as `--verdicts` prints it: a detection seen by two sensors (its second
    /// row has only TIME, EVENT and SOURCE), cells escaped and cut to width by
    /// characters (non-ASCII too), a target-side detection (its caller and task), no
    /// trailing blanks, columns as wide as their widest cell.
    #[test]
    fn table_rows_are_escaped_cut_padded_and_one_per_sighting() {
        let process = format!("schtasks /create /s H\u{1b}[2K /tn ü {}", "é".repeat(90));
        let source = Detection {
            sighting: sighting(&format!("/{}/a.xml", "d".repeat(300)), 7, "1", "t1"),
            dest: "WS\u{202e}5".into(),
            user: "u\tser".into(),
            process_name: "schtasks.exe".into(),
            process,
            fields: vec![
                ("detection_reason", one("remote_create")),
                ("remote_host", one("H\u{1b}[2K")),
                ("detection_side", one("source")),
            ],
            also_seen: vec![sighting("b.xml", 9, "4688", "t2")],
        };
        let target = Detection {
            sighting: sighting("c.xml", 3, "4698", "t3"),
            dest: "WS6".into(),
            user: String::new(),
            process_name: String::new(),
            process: String::new(),
            fields: vec![
                ("detection_name", one("Remote Task")),
                ("detection_reason", one("rpc")),
                ("task_name", one("\\T")),
                ("task_action", one("x.exe")),
                ("detection_side", one("target")),
                ("src", one("10.0.0.5")),
            ],
            also_seen: Vec::new(),
        };
        let mut out = Vec::new();
        let grouper = SightingGrouper::new(Duration::ZERO);
        let linker = Linker::new(Duration::ZERO, schtasksremote::replay::HostMatch::Short);
        let mut printer = Printer::new(OutputFormat::Table, &mut out, true, true, grouper, linker);
        printer.detections(vec![source, target]).expect("printed");
        printer.finish().expect("finished");
        drop(printer);
        let cut_process = format!(
            "schtasks /create /s H\\u{{1b}}[2K /tn ü {}…",
            "é".repeat(52)
        );
        let cut_source = format!("…{}/a.xml:7", "d".repeat(291));
        // Each column as wide as its widest cell (in characters), two spaces apart.
        let line = |cells: [&str; 8]| {
            let widths = [4, 11, 6, 22, 13, 38, 300, 0];
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let expected = [
            line([
                "TIME",
                "DEST",
                "USER",
                "REMOTE HOST",
                "REASON",
                "EVENT",
                "SOURCE",
                "PROCESS",
            ]),
            line([
                "t1",
                "WS\\u{202e}5",
                "u\\tser",
                "H\\u{1b}[2K",
                "remote_create",
                "1 Microsoft-Windows-Sysmon/Operational",
                &cut_source,
                &cut_process,
            ]),
            line(["t2", "", "", "", "", "4688 Security", "b.xml:9", ""]),
            line([
                "t3",
                "WS6",
                "",
                "(target) from 10.0.0.5",
                "rpc",
                "4698 Security",
                "c.xml:3",
                "Remote Task: \\T -> x.exe",
            ]),
        ];
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        assert!(text.ends_with("x.exe\n"));
    }

    /// The detections held to the end of a scan are printed on two threads
    /// ([`Printer::print_on_two_threads`]): the same bytes as one thread, in every
    /// format, across table blocks, rows of two sightings and CSV's header.
    #[test]
    fn the_last_detections_on_two_threads_print_as_on_one() {
        let detections: Vec<Detection> = (0..2500)
            .map(|i| Detection {
                // No readable time: never grouped, but held by the grouper to the end.
                sighting: sighting("a.xml", i, "1", "soon"),
                dest: format!("WS{}", "é".repeat(i as usize % 7)),
                user: String::new(),
                process_name: "schtasks.exe".into(),
                process: format!("schtasks /create /s H{i} /tn =t"),
                fields: vec![
                    ("detection_reason", one("remote_create")),
                    ("remote_host", one(&format!("H{i}"))),
                    ("detection_side", one("source")),
                ],
                also_seen: (0..i % 3)
                    .map(|j| sighting("b.xml", j, "4688", "later"))
                    .collect(),
            })
            .collect();
        for format in [OutputFormat::Table, OutputFormat::Csv, OutputFormat::Json] {
            let print = |window: Duration| {
                let mut out = Vec::new();
                let grouper = SightingGrouper::new(window);
                let linker = Linker::new(Duration::ZERO, schtasksremote::replay::HostMatch::Short);
                let mut printer = Printer::new(format, &mut out, true, true, grouper, linker);
                for batch in detections.chunks(64) {
                    printer.detections(batch.to_vec()).expect("printed");
                }
                printer.finish().expect("finished");
                drop(printer);
                out
            };
            // Window 0: each printed as it comes, on this thread. 2 s: all held to
            // the end, then printed on two threads.
            let one = print(Duration::ZERO);
            let two = print(Duration::from_secs(2));
            assert!(one.len() > 100_000, "{format:?}");
            assert!(one == two, "{format:?}");
        }
    }

    #[test]
    fn formula_cells_get_a_leading_quote_and_others_are_untouched() {
        for cell in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(formula_guard(cell.to_owned()), format!("'{cell}"));
        }
        for cell in ["", "schtasks /create", "1=1", "'=x", "4688"] {
            assert_eq!(formula_guard(cell.to_owned()), cell);
        }
    }
}
