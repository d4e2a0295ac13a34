//! Bad input: a corrupt record or file is reported with where it is, skipped and
//! counted, and the scan goes on; `--strict` turns the first one into a failure.

mod scan_support;

use std::fs;

use scan_support::*;
use schtasksremote::replay::{scan_path, scan_reader, InputReport, ScanOptions};

fn scan_text(text: &[u8]) -> InputReport {
    scan_reader("mem", text, &ScanOptions::default())
}

#[test]
fn xml_truncated_and_broken_records_are_reported_and_the_records_after_them_read() {
    let good = sysmon1('\'', "WKS1", SCHTASKS, REMOTE_CMD, "u");
    let cut = &good[..good.len() / 2];
    let mismatched = good.replace("</EventID>", "</EventIDX>");
    let text = format!("{good}\n{cut}\n{mismatched}\n{good}\n{cut}");
    let report = scan_text(text.as_bytes());
    let src = &report.sources[0];
    // 5 records: 2 good, one cut off by the next record, one malformed, one cut off by
    // the end. The cut ones are judged from their whole fields (issue 15): cut in
    // their command line, they are process creations that cannot be judged.
    assert_eq!(
        (src.records, src.bad_records, src.process_events),
        (5, 1, 4)
    );
    assert_eq!((src.truncated_records, src.unjudged_events), (2, 2));
    assert_eq!(report.detections.len(), 2);
    assert_eq!(detection_records(&report), [1, 4]);
    let where_: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.location.record, p.location.offset))
        .collect();
    let second = (good.len() + 1) as u64;
    let third = second + cut.len() as u64 + 1;
    let fifth = third + mismatched.len() as u64 + 1 + good.len() as u64 + 1;
    assert_eq!(
        where_,
        [
            (Some(2), Some(second)),
            (Some(3), Some(third)),
            (Some(5), Some(fifth))
        ]
    );
    assert!(
        report.problems[0].message.contains("truncated"),
        "{}",
        report.problems[0]
    );
    assert!(
        report.problems[1].message.contains("malformed XML"),
        "{}",
        report.problems[1]
    );
    assert!(
        report.problems[2].message.contains("the input ends"),
        "{}",
        report.problems[2]
    );
    assert_eq!(report.problems[0].source, "mem");
}

#[test]
fn xml_record_with_a_damaged_start_tag_is_reported_not_silently_dropped() {
    let good = sysmon1('"', "WKS1", SCHTASKS, REMOTE_CMD, "u");
    let damaged = good.replacen("<Event ", "<Evnt ", 1);
    let text = format!("{good}\n{damaged}\n{good}\n");
    let report = scan_text(text.as_bytes());
    let src = &report.sources[0];
    assert_eq!((src.records, src.bad_records), (3, 1));
    assert_eq!(report.detections.len(), 2);
    let p = &report.problems[0];
    assert_eq!(p.location.record, Some(2));
    assert!(p.message.contains("without its <Event> start tag"), "{p}");
    let end_tag = (good.len() + 1 + damaged.len() - "</Event>".len()) as u64;
    assert_eq!(p.location.offset, Some(end_tag));
}

#[test]
fn jsonl_bad_lines_are_reported_by_line_and_skipped() {
    let text = b"\xef\xbb\xbf{\"EventID\":4624,\"Channel\":\"Security\"}\n\n{\"EventID\":1,\"Image\":\n[1,2]\n{\"EventID\":1,\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Image\":\"schtasks.exe\",\"CommandLine\":\"schtasks /create /s J1 /tn a /tr b\"}\n";
    let report = scan_text(text);
    let src = &report.sources[0];
    assert_eq!(
        (
            src.records,
            src.bad_records,
            src.other_events,
            src.process_events
        ),
        (4, 2, 1, 1)
    );
    assert_eq!(report.detections.len(), 1);
    assert_eq!(report.detections[0].sighting.record, 4);
    let lines: Vec<_> = report.problems.iter().map(|p| p.location.line).collect();
    assert_eq!(lines, [Some(3), Some(4)]);
    // The byte-order mark before the first object is not an error, and counts as bytes.
    assert_eq!(report.problems[0].location.offset, Some(42));
    assert!(report.problems[0]
        .to_string()
        .starts_with("mem: record 2, line 3, byte 42: not a JSON object"));
}

#[test]
fn jsonl_line_with_invalid_utf8_is_still_judged() {
    // A stray Latin-1 byte (0xE9) in the task name must not hide the remote creation.
    let text = b"{\"EventID\":1,\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Image\":\"C:\\\\Windows\\\\System32\\\\schtasks.exe\",\"CommandLine\":\"schtasks /create /s J1 /tn caf\xe9 /tr b\"}\n";
    let report = scan_text(text);
    let src = &report.sources[0];
    assert_eq!(
        (src.records, src.bad_records, src.process_events),
        (1, 0, 1)
    );
    assert_eq!(report.detections.len(), 1);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn jsonl_overlong_line_is_reported_skipped_and_the_next_line_read() {
    let max = schtasksremote::replay::MAX_JSON_LINE;
    let mut text = Vec::with_capacity(max + 400);
    text.extend_from_slice(b"{\"EventID\":1,\"CommandLine\":\"");
    text.resize(max + 10, b'a');
    text.extend_from_slice(b"\"}\n");
    text.extend_from_slice(b"{\"EventID\":1,\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Image\":\"schtasks.exe\",\"CommandLine\":\"schtasks /create /s J1 /tn a /tr b\"}\n");
    let report = scan_text(&text);
    let src = &report.sources[0];
    assert_eq!(
        (src.records, src.bad_records, src.process_events),
        (2, 1, 1)
    );
    assert_eq!(report.detections.len(), 1);
    assert_eq!(report.detections[0].sighting.record, 2);
    let problem = report.problems[0].to_string();
    assert!(
        problem.starts_with("mem: record 1, line 1, byte 0: a line longer than"),
        "{problem}"
    );
}

#[test]
fn csv_rows_with_the_wrong_number_of_fields_are_reported_and_skipped() {
    let text = b"dest,process_name,process\nW1,schtasks.exe,schtasks /create /s C1 /tn a /tr b,EXTRA\nW1,schtasks.exe,schtasks /create /s C2 /tn a /tr b\n";
    let report = scan_text(text);
    let src = &report.sources[0];
    assert_eq!(
        (src.records, src.bad_records, src.process_events),
        (2, 1, 1)
    );
    assert_eq!(report.detections.len(), 1);
    assert_eq!(report.detections[0].sighting.record, 2);
    assert_eq!(report.problems[0].location.record, Some(1));
    assert_eq!(report.problems[0].location.line, Some(2));
    assert!(report.problems[0]
        .message
        .contains("4 fields where the header has 3"));
}

/// The record headers (`**\0\0`) of the first chunk of a real EVTX file.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    (4096..4096 + 65536)
        .filter(|&i| bytes.get(i..i + 4) == Some(b"**\0\0"))
        .collect()
}

#[test]
fn evtx_corrupt_record_is_reported_and_the_other_records_are_read() {
    let mut bytes = fs::read(dataset(EVTX_VSS)).unwrap();
    let offsets = record_offsets(&bytes);
    assert_eq!(offsets.len(), 17);
    let fifth = offsets[4];
    for b in &mut bytes[fifth + 30..fifth + 90] {
        *b = 0xff;
    }
    let report = scan_text(&bytes);
    let src = &report.sources[0];
    assert_eq!((src.records, src.bad_records), (17, 1));
    assert_eq!(src.process_events + src.other_events, 16);
    assert_eq!(report.problems[0].location.record, Some(5));
    assert_eq!(report.problems[0].location.offset, Some(4096));
    assert!(report.problems[0]
        .message
        .contains("EVTX record unreadable"));
}

#[test]
fn evtx_cut_short_is_reported_and_its_whole_records_read() {
    let bytes = fs::read(dataset(EVTX_VSS)).unwrap();
    let offsets = record_offsets(&bytes);
    // Cut in the middle of the 10th record: the 9 before it are whole.
    let cut = &bytes[..offsets[9] + 40];
    let report = scan_text(cut);
    let src = &report.sources[0];
    assert!(src.records - src.bad_records >= 9, "{src:?}");
    assert!(
        report.problems[0].message.contains("cut short"),
        "{}",
        report.problems[0]
    );
}

#[test]
fn truncated_gzip_reports_the_source_and_keeps_the_records_before_the_cut() {
    use std::io::Write;
    let record = sysmon1('"', "W", SCHTASKS, REMOTE_CMD, "u");
    let text = format!("{record}\n").repeat(2000);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let report = scan_text(&gz[..gz.len() / 2]);
    let src = &report.sources[0];
    assert!(src.records > 100 && src.records < 2000, "{src:?}");
    assert_eq!(
        report.detections.len() as u64,
        src.records - src.bad_records - src.unjudged_events
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("read error")),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_file_that_is_not_event_data_is_unreadable_and_others_are_still_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.bin");
    fs::write(&junk, [0u8, 1, 2, 3, 255, 254]).unwrap();
    let report = scan_path(&junk, &ScanOptions::default());
    assert_eq!((report.unreadable, report.sources.len()), (1, 0));
    assert!(report.problems[0].message.contains("not event data"));

    let good = dir.path().join("good.xml");
    fs::write(&good, sysmon1('\'', "W", SCHTASKS, REMOTE_CMD, "u")).unwrap();
    let out = scan_cli(&[junk.as_os_str(), good.as_os_str()], b"");
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("junk.bin: not event data"), "{err}");
    assert!(err.contains("1 unreadable file,"), "{err}");
    assert_eq!(text(&out.stdout).lines().count(), 2, "header and one row");

    // With --strict, the unreadable file is a failure.
    let out = scan_cli(
        &["--strict".as_ref(), junk.as_os_str(), good.as_os_str()],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("stopped at the first problem"));
}

#[test]
fn strict_stops_at_the_first_bad_record_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    // Not process creations (4624, 4625): only the bad line is a problem.
    fs::write(&path, "{\"EventID\":4624}\nnot json\n{\"EventID\":4625}\n").unwrap();
    let report = scan_path(
        &path,
        &ScanOptions {
            strict: true,
            ..ScanOptions::default()
        },
    );
    assert!(report.aborted);
    assert_eq!(report.sources[0].records, 2, "stopped at the bad record");

    let out = scan_cli(&["--strict".as_ref(), path.as_os_str()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.jsonl: record 2, line 2"),
        "{}",
        text(&out.stderr)
    );
    let out = scan_cli(&[path.as_os_str()], b"");
    assert_eq!(out.status.code(), Some(0));
}
