//! Output: detections on stdout (a table, CSV, or one JSON object per line); problems
//! and the summary on stderr.

use std::io::{self, Write};
use std::time::Duration;

use schtasksremote::detection::OUTPUT_FIELDS;
use schtasksremote::replay::{
    Detection, InputReport, Sighting, SightingGrouper, SourceStats, Value, LEAD_COLUMNS,
};

/// How detections are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people, written when the scan ends.
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
    header_done: bool,
    table: Vec<Detection>,
    /// Folds the sightings of one process creation by two sensors into one detection
    /// before anything is printed (issue 12 item 7).
    grouper: SightingGrouper,
}

impl<W: Write> Printer<W> {
    pub(crate) fn new(
        format: OutputFormat,
        out: W,
        reasons: bool,
        grouper: SightingGrouper,
    ) -> Self {
        Printer {
            format,
            out,
            reasons,
            header_done: false,
            table: Vec::new(),
            grouper,
        }
    }

    /// Sightings folded into another detection (for the summary).
    pub(crate) fn merged(&self) -> u64 {
        self.grouper.merged()
    }

    /// Takes detections as they are found; prints those the grouper has released.
    pub(crate) fn detections(&mut self, detections: Vec<Detection>) -> io::Result<()> {
        let ready: Vec<Detection> = detections
            .into_iter()
            .flat_map(|d| self.grouper.push(d))
            .collect();
        self.print(ready)
    }

    fn print(&mut self, detections: Vec<Detection>) -> io::Result<()> {
        if detections.is_empty() {
            return Ok(());
        }
        match self.format {
            OutputFormat::Table => {
                self.table.extend(detections);
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
        let mut w = csv::Writer::from_writer(&mut self.out);
        if !self.header_done {
            let header = LEAD_COLUMNS.iter().chain(OUTPUT_FIELDS.iter());
            w.write_record(header)?;
            self.header_done = true;
        }
        for d in detections {
            let lead = lead_values(d);
            let rest = OUTPUT_FIELDS
                .iter()
                .map(|n| d.field(n).map(|v| v.joined(MV_SEP)).unwrap_or_default());
            w.write_record(lead.into_iter().chain(rest))?;
        }
        w.flush()
    }

    /// Pushes what was written so far to stdout (between batches, so that a pipe sees
    /// detections while the scan goes on).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes what was held back (the table) and flushes.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        let rest = self.grouper.finish();
        self.print(rest)?;
        if self.format == OutputFormat::Table && !self.table.is_empty() {
            let rows = std::mem::take(&mut self.table);
            write_table(&mut self.out, &rows, self.reasons)?;
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

/// The table; with `reasons` (`--verdicts`) a REASON column (`detection_reason`) after
/// REMOTE HOST. EVENT names the sensor (`1 Microsoft-Windows-Sysmon/Operational
/// #EventRecordID`) and SOURCE the whole path and record number; a detection seen by
/// more sensors gets one more line per sighting, with only its TIME, EVENT and SOURCE.
fn write_table<W: Write>(out: &mut W, rows: &[Detection], reasons: bool) -> io::Result<()> {
    let mut headers = vec!["TIME", "DEST", "USER", "REMOTE HOST"];
    if reasons {
        headers.push("REASON");
    }
    headers.extend(["EVENT", "SOURCE", "PROCESS"]);
    let field =
        |d: &Detection, name: &str| d.field(name).map(|v| v.joined(MV_SEP)).unwrap_or_default();
    let mut cells: Vec<Vec<String>> = Vec::new();
    for d in rows {
        for (i, s) in d.sightings().enumerate() {
            let first = i == 0;
            let main = |v: String| if first { v } else { String::new() };
            let mut row = vec![
                s.time.clone(),
                main(d.dest.clone()),
                main(d.user.clone()),
                main(field(d, "remote_host")),
            ];
            if reasons {
                row.push(main(field(d, "detection_reason")));
            }
            row.push(event_cell(s));
            row.push(format!("{}:{}", s.source, s.record));
            row.push(main(truncate(&one_line(&d.process), TABLE_PROCESS_WIDTH)));
            cells.push(row);
        }
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut W, row: &[&str]| -> io::Result<()> {
        let mut s = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            s.push_str(cell);
            if i + 1 < row.len() {
                s.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &headers)?;
    for row in &cells {
        let refs: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &refs)?;
    }
    Ok(())
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

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
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

/// `--per-source`: one tab-separated line per source, then one per file or archive
/// member that was skipped as not event data (the first 100), by name.
pub(crate) fn per_source(totals: &Totals) -> String {
    let r = &totals.report;
    let mut s = String::from(
        "source\tformat\trecords\tprocess events\tnot judged\tother events\tbad records\tdetections\n",
    );
    for src in &r.sources {
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            src.name,
            src.format,
            src.records,
            src.process_events,
            src.unjudged_events,
            src.other_events,
            src.bad_records,
            src.detections
        ));
    }
    for name in &r.not_event_data_files {
        s.push_str(&format!("{name}\tnot event data, skipped\n"));
    }
    s
}

/// The summary for stderr. The byte count is of event data as read, after
/// decompression, which is what the throughput is measured on.
pub(crate) fn summary(totals: &Totals, elapsed: Duration, threads: usize) -> String {
    let r = &totals.report;
    let sum = |f: fn(&SourceStats) -> u64| r.sources.iter().map(f).sum::<u64>();
    let records = sum(|s| s.records);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    s.push_str(&format!(
        "scanned {} ({}): {}, {}, {}\n",
        count(totals.files, "file", "files"),
        count(r.sources.len() as u64, "source", "sources"),
        count(records, "record", "records"),
        count(sum(|s| s.process_events), "process event", "process events"),
        count(r.detection_count(), "detection", "detections"),
    ));
    if totals.merged_sightings > 0 {
        s.push_str(&format!(
            "grouped: {} of one process creation by another sensor, listed with it\n",
            count(totals.merged_sightings, "sighting", "sightings"),
        ));
    }
    if let Some(first) = &r.first_unjudged {
        let n = r.unjudged_events();
        s.push_str(&format!(
            "not judged: {} without what the verdict needs; first {}\n",
            count(n, "process event", "process events"),
            first,
        ));
    }
    s.push_str(&format!(
        "skipped: {}, {}, {}, {}\n",
        count(sum(|s| s.other_events), "other event", "other events"),
        count(sum(|s| s.bad_records), "bad record", "bad records"),
        count(r.unreadable, "unreadable file", "unreadable files"),
        count(
            r.not_event_data,
            "file not event data",
            "files not event data"
        ),
    ));
    s.push_str(&format!(
        "{:.1} MB of event data (decompressed) in {:.2} s: {} records/s, {:.1} MB/s, {}\n",
        r.bytes as f64 / 1e6,
        secs,
        thousands((records as f64 / secs) as u64),
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
    fn long_command_lines_are_cut_with_an_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(one_line("a\r\nb"), "a  b");
    }
}
