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
    /// The table rows not written yet (at most [`TABLE_BLOCK`]), as the cells printed.
    table: Vec<Vec<String>>,
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
        let grouped: Vec<Detection> = detections
            .into_iter()
            .flat_map(|d| self.grouper.push(d))
            .collect();
        let ready: Vec<Detection> = grouped
            .into_iter()
            .flat_map(|d| self.linker.push(d))
            .collect();
        self.print(ready)
    }

    fn print(&mut self, detections: Vec<Detection>) -> io::Result<()> {
        if detections.is_empty() {
            return Ok(());
        }
        match self.format {
            OutputFormat::Table => {
                for d in &detections {
                    self.table.extend(table_rows(d, self.reasons));
                    if self.table.len() >= TABLE_BLOCK {
                        self.write_table_block()?;
                    }
                }
                Ok(())
            }
            OutputFormat::Csv => self.csv(&detections),
            OutputFormat::Json => {
                for d in &detections {
                    write_json(&mut self.out, d)?;
                }
                Ok(())
            }
        }
    }

    fn csv(&mut self, detections: &[Detection]) -> io::Result<()> {
        self.write_csv(detections).map_err(|e| match e.into_kind() {
            // A closed stdout keeps its kind (BrokenPipe: a quiet end, as `| head`).
            csv::ErrorKind::Io(e) => e,
            other => io::Error::other(format!("CSV output: {other:?}")),
        })
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
        for d in detections {
            let lead = lead_values(d);
            let rest = OUTPUT_FIELDS
                .iter()
                .chain(std::iter::once(&LINKED))
                .map(|n| d.field(n).map(|v| v.joined(MV_SEP)).unwrap_or_default());
            let guard = self.guard_formulas;
            let cells = lead
                .into_iter()
                .chain(rest)
                .map(|c| if guard { formula_guard(c) } else { c });
            w.write_record(cells)?;
        }
        Ok(w.flush()?)
    }

    /// Writes the rows held so far (the header before the first block).
    fn write_table_block(&mut self) -> io::Result<()> {
        let headers = table_headers(self.reasons);
        if self.widths.is_empty() {
            self.widths = headers.iter().map(|h| h.chars().count()).collect();
        }
        for row in &self.table {
            for (w, c) in self.widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        if !self.header_done {
            let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            write_table_line(&mut self.out, &headers, &self.widths)?;
            self.header_done = true;
        }
        for row in std::mem::take(&mut self.table) {
            write_table_line(&mut self.out, &row, &self.widths)?;
        }
        Ok(())
    }

    /// Pushes what was written so far to stdout (between batches, so that a pipe sees
    /// detections while the scan goes on).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes what was held back (the table) and flushes.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        let grouped = self.grouper.finish();
        let mut rest: Vec<Detection> = grouped
            .into_iter()
            .flat_map(|d| self.linker.push(d))
            .collect();
        rest.extend(self.linker.finish());
        self.print(rest)?;
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
    for (name, value) in LEAD_COLUMNS[6..].iter().zip(&lead_values(d)[6..]) {
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

/// One detection's table rows, as printed (escaped with [`visible`], cut to width).
/// EVENT names the sensor (`1 Microsoft-Windows-Sysmon/Operational #EventRecordID`)
/// and SOURCE the whole path and record number; a detection seen by more sensors gets
/// one more row per sighting, with only its TIME, EVENT and SOURCE.
fn table_rows(d: &Detection, reasons: bool) -> Vec<Vec<String>> {
    let cell = |v: &str| cut_end(&visible(v), TABLE_CELL_WIDTH);
    let field = |name: &str| {
        let v = d.field(name).map(|v| v.joined(MV_SEP)).unwrap_or_default();
        cell(&v)
    };
    let mut rows = Vec::new();
    for (i, s) in d.sightings().enumerate() {
        let first = i == 0;
        let main = |v: String| if first { v } else { String::new() };
        let target = matches!(d.field("detection_side"), Some(Value::One(v)) if v == "target");
        let mut row = vec![
            cell(&s.time),
            main(cell(&d.dest)),
            main(cell(&d.user)),
            main(if target {
                // The target side was the remote host; its caller, when known.
                match field_text(d, "src").as_str() {
                    "" => cell("(target)"),
                    src => cell(&format!("(target) from {src}")),
                }
            } else {
                field("remote_host")
            }),
        ];
        if reasons {
            row.push(main(field("detection_reason")));
        }
        row.push(cell(&event_cell(s)));
        row.push(cut_start(
            &visible(&format!("{}:{}", s.source, s.record)),
            TABLE_SOURCE_WIDTH,
        ));
        let process: Cow<'_, str> = if target {
            // No process on this side: what was registered and what it runs.
            Cow::Owned(format!(
                "{}: {} -> {}",
                field_text(d, "detection_name"),
                field_text(d, "task_name"),
                field_text(d, "task_action")
            ))
        } else {
            Cow::Borrowed(&d.process)
        };
        row.push(main(cut_end(&visible(&process), TABLE_PROCESS_WIDTH)));
        rows.push(row);
    }
    rows
}

/// A field's text (multivalues joined), empty when absent.
fn field_text(d: &Detection, name: &str) -> String {
    d.field(name).map(|v| v.joined(MV_SEP)).unwrap_or_default()
}

/// One table line: cells padded to `widths`, two spaces apart, no trailing blanks.
fn write_table_line<W: Write>(out: &mut W, row: &[String], widths: &[usize]) -> io::Result<()> {
    let mut s = String::new();
    for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
        s.push_str(cell);
        if i + 1 < row.len() {
            let pad = w.saturating_sub(cell.chars().count()) + 2;
            s.extend(std::iter::repeat_n(' ', pad));
        }
    }
    writeln!(out, "{}", s.trim_end())
}

/// The table's EVENT cell: event ID, channel, `#` and the event's own record ID, each
/// when the record has it (`4688 Security #1208317`).
fn event_cell(s: &Sighting) -> String {
    let mut parts: Vec<String> = [&s.event_id, &s.channel]
        .into_iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect();
    if !s.event_record_id.is_empty() {
        parts.push(format!("#{}", s.event_record_id));
    }
    parts.join(" ")
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
    // Printable ASCII, nearly every cell, needs no escape: one look per byte.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) || !s.chars().any(needs_escape) {
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
fn cut_end(s: &str, max: usize) -> String {
    if s.is_ascii() {
        // One byte per character: cut by length.
        return match s.get(..max.saturating_sub(1)).filter(|_| s.len() > max) {
            Some(head) => format!("{head}…"),
            None => s.to_owned(),
        };
    }
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// `s` cut to its last `max` characters, starting with `…` when cut.
fn cut_start(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_owned()
    } else {
        let mut t = String::from("…");
        t.extend(s.chars().skip(n - (max - 1)));
        t
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
