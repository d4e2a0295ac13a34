//! One large file on every core (issue 14): a file split into pieces scanned at once
//! gives the report one thread gives reading it in order, and the one the full path
//! (`full_path`, which never splits) gives: the same detections (every field, in the
//! same order, with global record numbers), the same correlated target-side detections
//! across pieces, the same counts, problems (record numbers, lines, byte offsets),
//! first unjudged event and `--strict` stop. Pieces are made tiny
//! ([`ScanOptions::piece_bytes`]) so that small generated files split into many.

mod scan_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use scan_support::*;
use schtasksremote::replay::{pieces, scan_path, InputReport, ScanOptions, Stop};

/// The OTRF remote task creation (a real Security + Sysmon log of WORKSTATION6, JSON
/// lines; its 4624 type 3 on line 576 pairs with the 4698 on line 579), one line each.
fn otrf_lines() -> &'static [Vec<u8>] {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let path = dataset(OTRF_CREATE);
        let file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: the shared datasets are needed", path.display()));
        let mut zip = zip::ZipArchive::new(file).expect("OTRF zip");
        let mut text = Vec::new();
        zip.by_index(0)
            .expect("OTRF member")
            .read_to_end(&mut text)
            .expect("OTRF json");
        text.split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    })
}

/// The options of a split scan.
fn split(piece_bytes: u64, threads: usize, strict: bool) -> ScanOptions {
    ScanOptions {
        piece_bytes,
        piece_threads: threads,
        strict,
        ..ScanOptions::default()
    }
}

/// The three scans of `path` with `options` (a split one): full path, one thread,
/// split. Asserts that they agree and that the split one really was split; returns the
/// report.
fn assert_same(path: &Path, options: &ScanOptions) -> InputReport {
    assert!(
        pieces(path, options) > 1,
        "{} was not split with pieces of {} bytes",
        path.display(),
        options.piece_bytes
    );
    // Each scan with its own stop signal: `--strict` raises it.
    let fresh = |full_path, piece_threads| ScanOptions {
        full_path,
        piece_threads,
        stop: Stop::default(),
        ..options.clone()
    };
    let full = scan_path(path, &fresh(true, options.piece_threads));
    let one = scan_path(path, &fresh(false, 1));
    assert_eq!(one, full, "one thread differs from the full path");
    let mut split = scan_path(path, &fresh(false, options.piece_threads));
    if full.aborted {
        // The bytes read before a `--strict` stop depend on read buffering (the whole
        // file's reader reads ahead 1 MiB at a time), not on the records.
        split.bytes = full.bytes;
    }
    assert_eq!(split, full, "the split scan differs from the full path");
    full
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write the generated file");
    path
}

/// A Sysmon 1 process creation in NXLog's JSON layout.
fn json_sysmon1(host: &str, cmd: &str) -> String {
    serde_json::json!({
        "EventID": 1,
        "SourceName": "Microsoft-Windows-Sysmon",
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Hostname": host,
        "Image": SCHTASKS,
        "CommandLine": cmd,
        "User": "CORP\\bob",
    })
    .to_string()
}

/// Lines that are not plain records: each is a case the merge must number and report
/// as one thread does.
fn hostile_line(kind: u8) -> String {
    match kind % 8 {
        0 => json_sysmon1("WS1", REMOTE_CMD),
        // A process creation without its command line: counted as not judged (a
        // problem with --strict).
        1 => {
            r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\x.exe"}"#
                .to_owned()
        }
        // Not JSON: a bad record with its line, column and byte offset.
        2 => r#"{"EventID":1,"CommandLine":"schtasks /create /s"#.to_owned(),
        3 => String::new(),
        4 => "   \t".to_owned(),
        5 => format!("\u{feff}{}", json_sysmon1("WS7", REMOTE_CMD)),
        // A batch line (Defender's streaming API): several records on one line.
        6 => format!(
            r#"{{"records":[{},{}]}}"#,
            json_sysmon1("WS2", REMOTE_CMD),
            json_sysmon1("WS3", LOCAL_CMD)
        ),
        _ => json_sysmon1("WS4", LOCAL_CMD),
    }
}

#[test]
fn the_otrf_log_split_into_hundreds_of_pieces_gives_the_one_thread_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "otrf.json", &otrf_lines().concat());
    for piece_bytes in [1, 4096, 100_000] {
        let report = assert_same(&path, &split(piece_bytes, 3, false));
        // The logon (line 576) and its task (line 579) lie in different pieces for
        // the small sizes: the correlated target-side detection is still there.
        assert!(
            report
                .detections
                .iter()
                .any(|d| d.sighting.event_id == "4698"),
            "the correlated 4698 detection is missing"
        );
    }
}

#[test]
fn a_logon_and_its_task_in_different_pieces_still_pair() {
    let lines = otrf_lines();
    // Only the logon, two lines between, and the task: each in its own piece.
    let text = [&lines[575], &lines[576], &lines[577], &lines[578]]
        .iter()
        .map(|l| l.as_slice())
        .collect::<Vec<_>>()
        .concat();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "pair.json", &text);
    let options = split(1, 2, false);
    assert_eq!(pieces(&path, &options), 4);
    let report = assert_same(&path, &split(1, 2, false));
    let task = report
        .detections
        .iter()
        .find(|d| d.sighting.event_id == "4698")
        .expect("the 4698 paired with its network logon is a detection");
    assert_eq!(task.sighting.record, 4);
}

#[test]
fn strict_stops_at_the_same_first_problem_when_later_pieces_have_earlier_ones() {
    let lines = otrf_lines();
    let mut text = Vec::new();
    for (i, line) in lines.iter().take(300).enumerate() {
        text.extend_from_slice(line);
        if i == 150 || i == 200 || i == 280 {
            text.extend_from_slice(hostile_line(2).as_bytes());
            text.push(b'\n');
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "strict.json", &text);
    let report = assert_same(&path, &split(2048, 4, true));
    assert!(report.aborted);
    assert_eq!(report.problem_count, 1);
    assert_eq!(report.problems[0].location.line, Some(152));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A window of the real OTRF log with hostile lines put in, cut anywhere: split ==
    /// one thread == full path.
    #[test]
    fn json_lines_split_anywhere_give_the_one_thread_report(
        from in 0usize..1000,
        count in 1usize..260,
        inserts in prop::collection::vec((0usize..260, any::<u8>()), 0..12),
        piece_bytes in 1u64..20_000,
        threads in 2usize..5,
        strict in any::<bool>(),
        every_verdict in any::<bool>(),
        last_newline in any::<bool>(),
    ) {
        let lines = otrf_lines();
        let window: Vec<&[u8]> = lines.iter().skip(from).take(count).map(|l| l.as_slice()).collect();
        let mut text = Vec::new();
        for (i, line) in window.iter().enumerate() {
            for (_, kind) in inserts.iter().filter(|(at, _)| *at == i) {
                text.extend_from_slice(hostile_line(*kind).as_bytes());
                text.push(b'\n');
            }
            text.extend_from_slice(line);
        }
        if !last_newline && text.last() == Some(&b'\n') {
            text.pop();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(&dir, "gen.json", &text);
        let options = ScanOptions { every_verdict, ..split(piece_bytes, threads, strict) };
        if pieces(&path, &options) > 1 {
            assert_same(&path, &options);
        }
    }
}

/// The EVTX samples' file header and their chunks (each sample is one 64 KiB chunk
/// after a 4 KiB header; EVTX-ATTACK-SAMPLES, as `benches/scan.rs` builds its file).
fn evtx_parts() -> &'static (Vec<u8>, Vec<Vec<u8>>) {
    static PARTS: OnceLock<(Vec<u8>, Vec<Vec<u8>>)> = OnceLock::new();
    PARTS.get_or_init(|| {
        let mut header = Vec::new();
        let mut chunks = Vec::new();
        for rel in [EVTX_RUNDLL32, EVTX_VSS, EVTX_MSHTA] {
            let path = dataset(rel);
            let file = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e}: the shared datasets are needed", path.display())
            });
            if header.is_empty() {
                header = file[..4096].to_vec();
            }
            chunks.extend(file[4096..].chunks(65536).map(<[u8]>::to_vec));
        }
        (header, chunks)
    })
}

/// One chunk of a generated EVTX file: a sample's, zeroed (unused), or a sample's with
/// bytes overwritten (a damaged chunk or damaged records).
fn evtx_chunk(kind: u8, at: usize, value: u8) -> Vec<u8> {
    let (_, chunks) = evtx_parts();
    let mut chunk = chunks[kind as usize % chunks.len()].clone();
    match kind % 6 {
        3 => chunk.fill(0),
        4 | 5 => {
            let at = at % chunk.len();
            let end = (at + 16).min(chunk.len());
            chunk[at..end].fill(value);
        }
        _ => {}
    }
    chunk
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Real chunks, zeroed and damaged ones, and a last chunk cut short, split at
    /// every chunk or every few: split == one thread == full path (problems named by
    /// the same chunk numbers and byte offsets).
    #[test]
    fn evtx_split_at_chunks_gives_the_one_thread_report(
        chunks in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 2..9),
        cut in prop::option::of(1usize..65536),
        per_piece in 1u64..4,
        threads in 2usize..5,
        strict in any::<bool>(),
        every_verdict in any::<bool>(),
    ) {
        let (header, _) = evtx_parts();
        let mut bytes = header.clone();
        for (kind, at, value) in &chunks {
            bytes.extend_from_slice(&evtx_chunk(*kind, *at, *value));
        }
        if let Some(cut) = cut {
            bytes.truncate(bytes.len() - 65536 + cut);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(&dir, "gen.evtx", &bytes);
        if pieces(&path, &split(per_piece * 65536, threads, strict)) > 1 {
            assert_same(&path, &ScanOptions { every_verdict, ..split(per_piece * 65536, threads, strict) });
        }
    }
}

#[test]
fn evtx_samples_one_chunk_per_piece_give_the_one_thread_report() {
    let (header, chunks) = evtx_parts();
    let mut bytes = header.clone();
    for _ in 0..3 {
        for chunk in chunks {
            bytes.extend_from_slice(chunk);
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "samples.evtx", &bytes);
    let options = ScanOptions {
        every_verdict: true,
        ..split(1, 2, false)
    };
    assert_eq!(pieces(&path, &options), 9);
    let report = assert_same(&path, &options);
    // The samples' three schtasks.exe events, once per copy: 3 of the 9 pieces each
    // hand theirs over, numbered from the start of the file.
    assert_eq!(
        report.detections.len(),
        9,
        "the samples' schtasks events are judged"
    );
    let records: Vec<u64> = report
        .detections
        .iter()
        .map(|d| d.sighting.record)
        .collect();
    let per_copy = records[3] - records[0];
    assert!(
        per_copy > 0 && records[6] - records[3] == per_copy,
        "{records:?}"
    );
}

/// One piece of a generated XmlWinEventLog file: records, and the hostile text a
/// guessed cut (the first `<Event` at or after a multiple of the piece size) may fall
/// into, which the reader of the piece before must not confirm.
fn xml_part(kind: u8) -> String {
    const NS: &str = "xmlns='http://schemas.microsoft.com/win/2004/08/events/event'";
    match kind % 13 {
        0 => sysmon1('\'', "WS1", SCHTASKS, REMOTE_CMD, "CORP\\bob"),
        1 => sec4688("WS2", SCHTASKS, REMOTE_CMD, "CORP", "alice"),
        2 => sysmon3("WS3"),
        3 => sysmon1('"', "WS4", SCHTASKS, LOCAL_CMD, "CORP\\eve"),
        // Record-like text in a comment, a CDATA section, a processing instruction.
        4 => format!("<!-- <Event {NS}><System><EventID>1</EventID></System></Event> -->"),
        5 => format!(
            "<Event {NS}><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
             <Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS5</Computer>\
             </System><EventData><Data Name='Image'>{SCHTASKS}</Data><Data Name='CommandLine'>\
             <![CDATA[schtasks /create /s WS9 /tn \"<Event >\" /tr x]]></Data></EventData></Event>"
        ),
        6 => "<?pi <Event x='1'> ?>".to_owned(),
        // A record cut short (Splunk's TRUNCATE): the next record starts inside it.
        7 => {
            let whole = sysmon1('\'', "WS6", SCHTASKS, REMOTE_CMD, "CORP\\bob");
            whole[..whole.len() / 2].to_owned()
        }
        // An orphan end tag, and damaged markup.
        8 => "</Event>".to_owned(),
        9 => "< <Event".to_owned(),
        // A process creation without its command line.
        10 => format!(
            "<Event {NS}><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
             <Channel>Microsoft-Windows-Sysmon/Operational</Channel></System><EventData>\
             <Data Name='Image'>C:\\x.exe</Data></EventData></Event>"
        ),
        // A declaration whose entity value holds a record start.
        11 => format!("<!DOCTYPE Events [ <!ENTITY e \"<Event {NS}>\"> <!-- ' --> ]>"),
        _ => "\n".to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Records and hostile text in any order, cut at every `<Event` (piece sizes from
    /// one byte): split == one thread == full path.
    #[test]
    fn xml_split_at_guessed_boundaries_gives_the_one_thread_report(
        parts in prop::collection::vec(any::<u8>(), 2..40),
        piece_bytes in 1u64..3000,
        threads in 2usize..5,
        strict in any::<bool>(),
        every_verdict in any::<bool>(),
        wrapper in any::<bool>(),
    ) {
        let mut text = String::new();
        if wrapper {
            text.push_str("<?xml version='1.0'?>\n<Events>");
        }
        for kind in &parts {
            text.push_str(&xml_part(*kind));
        }
        if wrapper {
            text.push_str("</Events>");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(&dir, "gen.xml", text.as_bytes());
        let options = ScanOptions { every_verdict, ..split(piece_bytes, threads, strict) };
        if pieces(&path, &options) > 1 {
            assert_same(&path, &options);
        }
    }
}

#[test]
fn a_cut_inside_a_comment_is_rescanned_from_the_confirmed_record() {
    // The second record sits after a comment that holds a whole record: the guessed
    // cut (the comment's `<Event`) is not confirmed, the piece is read again from the
    // real record.
    let text = format!(
        "{}<!-- {} -->{}",
        xml_part(0),
        xml_part(1),
        sysmon1('\'', "WS8", SCHTASKS, REMOTE_CMD, "CORP\\bob")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir, "comment.xml", text.as_bytes());
    let report = assert_same(&path, &split(100, 2, false));
    assert_eq!(report.records(), 2);
    assert_eq!(detection_records(&report), vec![1, 2]);
}

/// The binary: the same stdout and stderr, byte for byte, in every output format, split
/// or not (`--per-source` shows the counts; `-q` leaves out the timing).
#[test]
fn the_cli_output_is_the_same_split_or_not_in_every_format() {
    let lines = otrf_lines();
    let dir = tempfile::tempdir().expect("temp dir");
    let json = write(&dir, "otrf.json", &lines.concat());
    let (header, chunks) = evtx_parts();
    let mut evtx = header.clone();
    for chunk in chunks.iter().chain(chunks) {
        evtx.extend_from_slice(chunk);
    }
    let evtx = write(&dir, "samples.evtx", &evtx);
    let xml: String = (0..60u8).map(xml_part).collect();
    let xml = write(&dir, "gen.xml", xml.as_bytes());
    // A bad line two thirds in: --strict stops there, whichever piece reads it first.
    let mut bad = lines.concat();
    bad.splice(
        bad.len() * 2 / 3..bad.len() * 2 / 3,
        b"\n{\"EventID\":\n".iter().copied(),
    );
    let bad = write(&dir, "bad.json", &bad);
    for (path, strict) in [(&json, false), (&evtx, false), (&xml, false), (&bad, true)] {
        for format in ["table", "csv", "json"] {
            let run = |extra: &[&str]| {
                let mut args: Vec<&std::ffi::OsStr> = vec![
                    "--format".as_ref(),
                    format.as_ref(),
                    "--verdicts".as_ref(),
                    "--per-source".as_ref(),
                    "-q".as_ref(),
                ];
                if strict {
                    args.push("--strict".as_ref());
                }
                args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
                args.push(path.as_os_str());
                scan_cli(&args, b"")
            };
            let full = run(&["--full-path"]);
            let one = run(&["--threads", "1"]);
            let split = run(&["--threads", "3", "--piece-size", "1K"]);
            assert_eq!(
                full.status.code(),
                Some(if strict { 2 } else { 0 }),
                "{}",
                text(&full.stderr)
            );
            assert!(
                !full.stdout.is_empty(),
                "{}: nothing judged",
                path.display()
            );
            for other in [&one, &split] {
                assert_eq!(text(&other.stdout), text(&full.stdout), "{format}");
                assert_eq!(text(&other.stderr), text(&full.stderr), "{format}");
                assert_eq!(other.status.code(), full.status.code());
            }
        }
    }
}
