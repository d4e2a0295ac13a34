//! CSV with a header row, as Splunk exports search results: CIM names (`process`,
//! `process_name`, `dest`, `user`, with or without the `Processes.` prefix), or raw
//! names (`EventCode`, `CommandLine`, `Image`, …).

use std::io::Read;

use super::fields::Fields;
use super::{Location, SourceScan, Stopped};

pub(crate) fn scan<R: Read>(reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
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
    }
    scan.add_bytes(reader.position().byte());
    Ok(())
}
