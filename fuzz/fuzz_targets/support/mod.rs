//! Shared by the targets; each target uses part of it.
#![allow(dead_code)]

use std::io::Read;

use schtasksremote::replay::{scan_reader, scan_reader_as, Format, InputReport, ScanOptions};

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

/// The full path's report on `data` (sniffed, or read as `format`) equals the fast
/// path's, read at once and a few bytes at a time.
pub fn fast_same_as_full(data: &[u8], format: Option<Format>) {
    let scan = |reader: &mut dyn Read, full_path: bool| -> InputReport {
        let options = ScanOptions {
            full_path,
            ..ScanOptions::default()
        };
        match format {
            Some(format) => scan_reader_as("fuzz", reader, format, &options),
            None => scan_reader("fuzz", reader, &options),
        }
    };
    let full = scan(&mut &data[..], true);
    let fast = scan(&mut &data[..], false);
    assert_eq!(fast, full, "the fast path differs from the full path");
    let trickled = scan(&mut Trickle { data, at: 0 }, false);
    assert_eq!(
        trickled, full,
        "the fast path depends on how the input was read"
    );
}

/// Splits a reply stream into (metadata, body), checking the framing exactly as splunkd
/// reads it: `chunked 1.0,<m>,<b>` and a newline, then `m` bytes of ASCII JSON and `b`
/// bytes of body.
pub fn split_replies(mut stream: &[u8]) -> Vec<(serde_json::Value, Vec<u8>)> {
    let mut replies = Vec::new();
    while !stream.is_empty() {
        let nl = stream
            .iter()
            .position(|&b| b == b'\n')
            .expect("header line");
        let line = std::str::from_utf8(&stream[..nl]).expect("ASCII header");
        let (m, b) = line
            .strip_prefix("chunked 1.0,")
            .and_then(|l| l.split_once(','))
            .expect("chunked 1.0,<m>,<b>");
        let (m, b): (usize, usize) = (m.parse().unwrap(), b.parse().unwrap());
        let rest = &stream[nl + 1..];
        assert!(rest.len() >= m + b, "reply shorter than its header");
        assert!(rest[..m].is_ascii(), "metadata must be ASCII JSON");
        let meta = serde_json::from_slice(&rest[..m]).expect("JSON metadata");
        replies.push((meta, rest[m..m + b].to_vec()));
        stream = &rest[m + b..];
    }
    replies
}

/// EVTX (issue 14): `data` laid over a real chunk (EVTX-ATTACK-SAMPLES
/// rundll32_cmd_schtask.evtx, its file header and first chunk, read at build time from
/// ../shared), after the same chunk undamaged (whose definitions the crate parses, so
/// that they vouch for the damaged copy's by content), read after the undamaged file
/// (what the thread learned from it is kept): the first 2 bytes pick where from the
/// chunk's string table on, the rest is XORed there; the fast path (records skipped
/// before rendering) gives the full path's report.
pub fn evtx_fast_same_as_full(data: &[u8]) {
    static SAMPLE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/datasets/EVTX-ATTACK-SAMPLES/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx"
    ));
    let Some((at, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let mut file = SAMPLE.get(..4096 + 65536).unwrap_or(SAMPLE).to_vec();
    file.extend_from_within(4096..);
    let clean = file.clone();
    let at = 4096 + 65536 + 128 + usize::from(u16::from_le_bytes(*at)) % (65536 - 128);
    for (i, b) in rest.iter().enumerate() {
        if let Some(x) = file.get_mut(at + i) {
            *x ^= b;
        }
    }
    let scan = |bytes: &[u8], full_path| {
        let options = ScanOptions {
            full_path,
            ..ScanOptions::default()
        };
        scan_reader("fuzz.evtx", bytes, &options)
    };
    // On a thread of its own, which first reads the file undamaged: a thread keeps what
    // its fast path learned for its next file (issue 14), so the damaged one is read
    // with the clean one's definitions proven, as in a collection; and an input fails
    // alone, whatever the inputs before it taught this process.
    std::thread::scope(|s| {
        s.spawn(|| {
            scan(&clean, false);
            assert_eq!(
                scan(&file, false),
                scan(&file, true),
                "the EVTX fast path differs from the full path"
            );
        });
    });
}

/// One file split into pieces read on 2 threads (issue 14: `data`'s first byte sets
/// the piece size, 1 to 256 bytes, so that every kind of boundary is met) gives the
/// report of the full path, which never splits.
pub fn split_same_as_full(data: &[u8]) {
    let Some((size, body)) = data.split_first() else {
        return;
    };
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::io::Write::write_all(&mut file, body).is_err() {
        return;
    }
    let scan = |full_path, piece_bytes| {
        let options = ScanOptions {
            full_path,
            piece_threads: 2,
            piece_bytes,
            ..ScanOptions::default()
        };
        schtasksremote::replay::scan_path(file.path(), &options)
    };
    let full = scan(true, u64::MAX);
    let split = scan(false, u64::from(*size) + 1);
    assert_eq!(
        split, full,
        "the split file's report differs from the full path's"
    );
}
