//! CSV with a header row, as Splunk exports search results: CIM names (`process`,
//! `process_name`, `dest`, `user`, with or without the `Processes.` prefix), or raw
//! names (`EventCode`, `CommandLine`, `Image`, …); Defender for Endpoint's Advanced
//! Hunting export; Windows PowerShell's `Export-Csv`, whose `#TYPE <type name>` first line
//! is skipped.

use std::io::{BufRead, BufReader, Read};

use super::fields::Fields;
use super::{Location, SourceScan, Stopped};

pub(crate) fn scan<R: Read>(reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let skipped = match skip_type_line(&mut reader) {
        Ok(n) => n,
        Err(e) => return scan.source_error(format!("read error in the first line: {e}")),
    };
    scan.add_bytes(skipped);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let header: Vec<String> = match reader.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|n| {
                String::from_utf8_lossy(n)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_owned()
            })
            .collect(),
        Err(e) => return scan.source_error(format!("unreadable CSV header: {e}")),
    };
    let mut record = csv::ByteRecord::new();
    let mut fields = Fields::default();
    loop {
        let n = match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => scan.next_record()?,
            Err(e) => {
                let n = scan.next_record()?;
                let pos = e.position().cloned();
                scan.bad_record(
                    Location {
                        record: Some(n),
                        line: pos.as_ref().map(|p| p.line()),
                        offset: pos.as_ref().map(|p| p.byte()),
                    },
                    format!("malformed CSV row: {e}"),
                )?;
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        };
        if record.len() != header.len() {
            let pos = record.position();
            scan.bad_record(
                Location {
                    record: Some(n),
                    line: pos.map(|p| p.line()),
                    offset: pos.map(|p| p.byte()),
                },
                format!(
                    "malformed CSV row: {} fields where the header has {}",
                    record.len(),
                    header.len()
                ),
            )?;
            continue;
        }
        fields.clear();
        for (name, value) in header.iter().zip(record.iter()) {
            fields.begin(name);
            let text = fields.value_text();
            match std::str::from_utf8(value) {
                Ok(v) => text.push_str(v),
                Err(_) => text.push_str(&String::from_utf8_lossy(value)),
            }
            fields.end();
        }
        scan.judge(&fields, n)?;
        super::fields::judge_every_reading(&mut fields, scan, n)?;
    }
    scan.add_bytes(reader.position().byte());
    Ok(())
}

/// Consumes a first line `#TYPE …` (after an optional UTF-8 BOM), as
/// [`super::detect::skip_type_line`] tells it; returns the bytes consumed.
fn skip_type_line<R: BufRead>(reader: &mut R) -> std::io::Result<u64> {
    let head = reader.fill_buf()?;
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if !text.starts_with(b"#TYPE ") {
        return Ok(0);
    }
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    Ok(line.len() as u64)
}
