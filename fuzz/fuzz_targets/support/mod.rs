//! Shared by the reader targets.

use std::io::Read;

use schtasksremote::replay::{scan_reader_as, Format, ScanOptions};

/// Hands out `data` in pieces of 1 to 8 bytes, sizes taken from `data` itself.
struct Trickle<'a> {
    data: &'a [u8],
    at: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.data.get(self.at).map_or(1, |b| usize::from(b % 8) + 1);
        let rest = self.data.get(self.at..).unwrap_or_default();
        let n = size.min(rest.len()).min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

pub fn same_report_in_pieces(data: &[u8], format: Format) {
    let options = ScanOptions::default();
    let whole = scan_reader_as("fuzz", data, format, &options);
    let pieces = scan_reader_as("fuzz", Trickle { data, at: 0 }, format, &options);
    assert_eq!(
        whole, pieces,
        "the report depends on how the input was read"
    );
    let source = &whole.sources[0];
    assert_eq!(
        source.records,
        source.process_events + source.other_events + source.bad_records
    );
    assert_eq!(source.detections as usize, whole.detections.len());
}
