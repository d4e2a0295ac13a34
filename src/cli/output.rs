//! Output: detections on stdout (a table, CSV, or one JSON object per line); problems
//! and the summary on stderr.

use std::io::{self, Write};
use std::time::Duration;

use schtasksremote::detection::OUTPUT_FIELDS;
use schtasksremote::replay::{Detection, InputReport, SourceStats, Value, LEAD_COLUMNS};

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
}

impl<W: Write> Printer<W> {
    pub(crate) fn new(format: OutputFormat, out: W, reasons: bool) -> Self {
        Printer {
            format,
            out,
            reasons,
            header_done: false,
            table: Vec::new(),
        }
    }

    pub(crate) fn detections(&mut self, detections: Vec<Detection>) -> io::Result<()> {
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

fn lead_values(d: &Detection) -> [String; 7] {
    [
        d.source.clone(),
        d.record.to_string(),
        d.time.clone(),
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

/// One detection as a JSON object, keys in output order (lead columns, then
/// [`OUTPUT_FIELDS`]); multivalues are arrays, empty values `null`, `record` and
/// [`JSON_NUMBERS`] numbers, [`JSON_BOOLEANS`] booleans.
fn write_json<W: Write>(out: &mut W, d: &Detection) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, (name, value)) in LEAD_COLUMNS.iter().zip(lead_values(d)).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(b":")?;
        if *name == "record" {
            write!(out, "{}", d.record)?;
        } else if value.is_empty() {
            // The README's promise: empty fields are `null`, lead columns too.
            out.write_all(b"null")?;
        } else {
            serde_json::to_writer(&mut *out, &value)?;
        }
    }
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

/// The longest command line shown in the table; the CSV and JSON outputs have it whole.
const TABLE_PROCESS_WIDTH: usize = 90;

/// The table; with `reasons` (`--verdicts`) a REASON column (`detection_reason`) after
/// REMOTE HOST.
fn write_table<W: Write>(out: &mut W, rows: &[Detection], reasons: bool) -> io::Result<()> {
    let mut headers = vec!["TIME", "DEST", "USER", "REMOTE HOST"];
    if reasons {
        headers.push("REASON");
    }
    headers.extend(["SOURCE", "PROCESS"]);
    let field =
        |d: &Detection, name: &str| d.field(name).map(|v| v.joined(MV_SEP)).unwrap_or_default();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|d| {
            let mut row = vec![
                d.time.clone(),
                d.dest.clone(),
                d.user.clone(),
                field(d, "remote_host"),
            ];
            if reasons {
                row.push(field(d, "detection_reason"));
            }
            row.push(format!("{}:{}", short_source(&d.source), d.record));
            row.push(truncate(&one_line(&d.process), TABLE_PROCESS_WIDTH));
            row
        })
        .collect();
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

/// The last two path components (the file and its folder), which is what tells datasets
/// apart; CSV and JSON carry the whole path.
fn short_source(source: &str) -> &str {
    let file = match source.find('!') {
        Some(i) => source.get(..i).unwrap_or(source),
        None => source,
    };
    let start = file
        .rmatch_indices(['/', '\\'])
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap_or(0);
    source.get(start..).unwrap_or(source)
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
    fn table_sources_keep_folder_file_and_member() {
        assert_eq!(short_source("a/b/c/x.zip!y.json"), "c/x.zip!y.json");
        assert_eq!(short_source("x.xml"), "x.xml");
    }

    #[test]
    fn long_command_lines_are_cut_with_an_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(one_line("a\r\nb"), "a  b");
    }
}
