//! `schtasksremote scan` as a command: output formats, exit status, the README sample.

mod scan_support;

use std::ffi::OsStr;

use scan_support::*;
use schtasksremote::detection::OUTPUT_FIELDS;
use schtasksremote::replay::{scan_path, ScanOptions, LEAD_COLUMNS, LINKED};

fn args<'a>(a: &'a [&'a str]) -> Vec<&'a OsStr> {
    a.iter().map(OsStr::new).collect()
}

fn sample() -> String {
    example().display().to_string()
}

#[test]
fn the_readme_sample_holds_the_remote_and_the_evasive_creation_only() {
    let report = scan_path(&example(), &ScanOptions::default());
    let src = &report.sources[0];
    assert_eq!(
        (src.records, src.process_events, src.bad_records),
        (8, 6, 0)
    );
    let found: Vec<_> = report
        .detections
        .iter()
        .map(|d| (d.sighting.record, d.dest.as_str(), d.user.as_str()))
        .collect();
    // Record 2: `/create … /s FILESRV01`; record 4: `-Create -S 10.0.4.21` (dash switches,
    // 4688). Not found: `/S localhost` (record 5) and the local `/SC DAILY` (record 6).
    assert_eq!(
        found,
        [
            (2, "WKS-HR-07.corp.example", r"CORP\jdoe"),
            (4, "WKS-HR-07.corp.example", r"CORP\jdoe")
        ]
    );
    // The password given with -P is masked in what is reported.
    assert!(!report.detections[1].process.contains("Winter2026!"));
}

#[test]
fn json_format_is_one_object_per_detection_with_the_search_command_fields() {
    let s = sample();
    let out = scan_cli(&args(&["--format", "json", &s]), b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect();
    assert_eq!(objects.len(), 2);
    for o in &objects {
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = LEAD_COLUMNS
            .iter()
            .chain(["sightings"].iter())
            .chain(OUTPUT_FIELDS.iter())
            .chain([LINKED].iter())
            .copied()
            .collect();
        let mut got = keys.clone();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected);
        assert_eq!(o["source"], serde_json::Value::String(s.clone()));
        // Numbers and booleans are JSON's own (issue 12 item 6).
        assert_eq!(o["risk_score"], 63);
        assert!(o["task_password_supplied"].is_boolean(), "{o:?}");
    }
    assert_eq!(objects[0]["record"], 2);
    assert_eq!(objects[0]["remote_host"], "FILESRV01");
    assert_eq!(objects[1]["remote_host"], "10.0.4.21");
    assert_eq!(
        objects[1]["evasion_markers"],
        serde_json::json!(["dash_prefix"])
    );
    assert_eq!(
        objects[1]["mitre_technique_id"],
        serde_json::json!(["T1053.005", "T1053"])
    );
    assert_eq!(objects[1]["time"], "2026-03-02T09:21:45.004Z");
    assert!(!stdout.contains("Winter2026!"), "password leaked: {stdout}");
}

#[test]
fn csv_format_has_a_header_and_one_row_per_detection() {
    let s = sample();
    let out = scan_cli(&args(&["--format", "csv", &s]), b"");
    assert_eq!(out.status.code(), Some(0));
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let expected: Vec<&str> = LEAD_COLUMNS
        .iter()
        .chain(OUTPUT_FIELDS.iter())
        .chain([LINKED].iter())
        .copied()
        .collect();
    assert_eq!(header, expected);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("remote_host")], "FILESRV01");
    assert_eq!(&rows[1][col("record")], "4");
}

/// Issue 12 item 6: no detection still gives a CSV (its header), so a script reading
/// columns by name sees zero rows instead of an empty file.
#[test]
fn csv_with_no_detection_is_the_header_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local.xml");
    // A local creation (the README's `/sc daily` case): schtasks, but no detection.
    let local = "<Event><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
                 <Computer>WS1</Computer></System><EventData>\
                 <Data Name='Image'>C:\\Windows\\System32\\schtasks.exe</Data>\
                 <Data Name='CommandLine'>schtasks /create /tn t /tr x /sc daily</Data>\
                 </EventData></Event>";
    std::fs::write(&path, local).unwrap();
    let p = path.display().to_string();
    let out = scan_cli(&args(&["--format", "csv", &p]), b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected: Vec<&str> = LEAD_COLUMNS
        .iter()
        .chain(OUTPUT_FIELDS.iter())
        .chain([LINKED].iter())
        .copied()
        .collect();
    assert_eq!(text(&out.stdout), format!("{}\n", expected.join(",")));
    let json = scan_cli(&args(&["--format", "json", &p]), b"");
    assert!(json.stdout.is_empty(), "JSON lines: no detection, no line");
}

/// The evasive creation of the sample passes a password: `true` as a JSON boolean.
#[test]
fn json_types_risk_score_as_a_number_and_password_supplied_as_a_boolean() {
    let s = sample();
    let out = scan_cli(&args(&["--format", "json", &s]), b"");
    let objects: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects[1]["task_password_supplied"], true);
    assert_eq!(objects[0]["task_password_supplied"], false);
    assert_eq!(objects[1]["risk_score"], 63);
    assert_eq!(
        objects[1]["remote_host"], "10.0.4.21",
        "other fields stay strings"
    );
}

#[test]
fn table_format_is_the_default_and_summary_goes_to_stderr() {
    let s = sample();
    let out = scan_cli(&args(&[&s]), b"");
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("TIME"));
    assert!(lines[1].contains("FILESRV01") && lines[1].contains("schtasks_sample.xml:2"));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("8 records, 6 process events, 2 detections"),
        "{stderr}"
    );
    assert!(stderr.contains("records/s"), "{stderr}");

    let quiet = scan_cli(&args(&["-q", &s]), b"");
    assert!(quiet.stderr.is_empty());
}

#[test]
fn exit_status_follows_the_help() {
    let s = sample();
    assert_eq!(scan_cli(&args(&[&s]), b"").status.code(), Some(0));
    assert_eq!(
        scan_cli(&args(&["--fail-on-detection", &s]), b"")
            .status
            .code(),
        Some(1)
    );
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.xml");
    std::fs::write(&clean, sysmon1('\'', "W", SCHTASKS, LOCAL_CMD, "u")).unwrap();
    let clean = clean.display().to_string();
    assert_eq!(
        scan_cli(&args(&["--fail-on-detection", &clean]), b"")
            .status
            .code(),
        Some(0)
    );
    let missing = dir.path().join("missing.xml").display().to_string();
    let out = scan_cli(&args(&[&missing]), b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nothing could be read"));

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_schtasksremote"))
        .args(["scan", "--help"])
        .output()
        .unwrap();
    let help = text(&help.stdout);
    assert!(
        help.contains("Exit status:") && help.contains("--fail-on-detection"),
        "{help}"
    );
}

#[test]
fn threads_do_not_change_what_is_found_or_its_order() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        let body = sysmon1(
            '\'',
            &format!("W{i}"),
            SCHTASKS,
            &format!("schtasks /create /tn a /tr b /s T{i}"),
            "u",
        );
        std::fs::write(dir.path().join(format!("f{i}.xml")), body).unwrap();
    }
    let d = dir.path().display().to_string();
    let one = scan_cli(&args(&["--threads", "1", "--format", "csv", &d]), b"");
    let four = scan_cli(&args(&["--threads", "4", "--format", "csv", &d]), b"");
    assert_eq!(text(&one.stdout), text(&four.stdout));
    assert_eq!(text(&one.stdout).lines().count(), 7);
    assert!(text(&four.stderr).contains("4 threads"));
}

/// Issue 12 item 9: what the scan says on stderr reads as English and says one thing
/// once: counts agree in number, a path that cannot be read gets no summary of nothing,
/// a bad JSON line has one line number, `--strict` does not claim to skip, options give
/// useful errors and take any case, `--per-source` names what was not event data.
#[test]
fn stderr_messages_are_plain_and_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("readme.txt"), "not an event log\n").unwrap();
    std::fs::write(d.join("bad.jsonl"), "{\"a\":1}\n  {\"b\": x}\n").unwrap();
    let bad = d.join("bad.jsonl").display().to_string();
    let folder = d.display().to_string();

    // One bad record, one other event, one file not event data: singular nouns.
    let out = scan_cli(&args(&[&folder]), b"");
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "skipped: 1 other event, 1 bad record, 0 unreadable files, 1 file not event data"
        ),
        "{err}"
    );
    assert!(err.contains("MB of event data (decompressed) in"), "{err}");
    // The error's position is the file's line and byte, and a column in that line.
    assert!(
        err.contains("bad.jsonl: record 2, line 2, byte 8: not a JSON object: expected value at column 9; skipped"),
        "{err}"
    );
    assert!(!err.contains("at line 1"), "a second line number: {err}");

    // --strict stops at it: nothing was skipped.
    let out = scan_cli(&args(&["--strict", &bad]), b"");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("at column 9\n"), "{err}");
    assert!(!err.contains("; skipped"), "{err}");

    // Nothing read: the problem and the verdict, no summary of zero sources.
    let missing = d.join("missing.xml").display().to_string();
    let out = scan_cli(&args(&[&missing]), b"");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("nothing could be read"), "{err}");
    assert!(
        !err.contains("scanned") && !err.contains("records/s"),
        "{err}"
    );

    // -q --per-source: the per-source lines were asked for, so they are printed, with
    // the file that is not event data named.
    let out = scan_cli(&args(&["-q", "--per-source", &folder]), b"");
    let err = text(&out.stderr);
    assert!(err.contains("\nsource\tformat\t"), "{err}");
    assert!(err.contains("readme.txt\tnot event data, skipped"), "{err}");
    assert!(!err.contains("scanned"), "-q leaves out the summary: {err}");

    // Options: --threads 0 says what is allowed; --format takes any case.
    let out = scan_cli(&args(&["--threads", "0", &folder]), b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give a whole number of at least 1"),
        "{}",
        text(&out.stderr)
    );
    let out = scan_cli(&args(&["--format", "JSON", "-q", &sample()]), b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

/// Issue 12 item 8: `--verdicts` lists every schtasks event of a dataset with its
/// verdict and reason, as `explain` would judge each one; detections are still counted
/// (summary, `--fail-on-detection`) as detections only.
#[test]
fn verdicts_lists_every_schtasks_event_with_its_reason() {
    let s = sample();
    let out = scan_cli(&args(&["--verdicts", "--format", "json", &s]), b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let objects: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut got: Vec<(u64, &str)> = objects
        .iter()
        .map(|o| {
            (
                o["record"].as_u64().unwrap(),
                o["detection_reason"].as_str().unwrap(),
            )
        })
        .collect();
    // Detections that may link to the other end (issue 13) are printed at the end of
    // the scan, after the events that cannot: compare in record order.
    got.sort_unstable();
    // The sample's four schtasks events (README quick start): two remote creations, the
    // `/S localhost` one and the local `/SC DAILY` one.
    assert_eq!(
        got,
        [
            (2, "remote_create"),
            (4, "remote_create"),
            (5, "loopback_target"),
            (6, "no_target_system")
        ]
    );
    for o in objects
        .iter()
        .filter(|o| o["detection_reason"] != "remote_create")
    {
        assert!(
            o["detection_name"].is_null() && o["risk_score"].is_null(),
            "{o}"
        );
        assert_eq!(o["schtasks_operation"], "create");
    }
    assert!(text(&out.stderr).contains("6 process events, 2 detections"));
    let table = scan_cli(&args(&["--verdicts", "-q", &s]), b"");
    let table = text(&table.stdout);
    assert!(table.lines().next().unwrap().contains("REASON"), "{table}");
    assert!(table.contains("loopback_target"), "{table}");
    let fail = scan_cli(&args(&["--verdicts", "--fail-on-detection", "-q", &s]), b"");
    assert_eq!(fail.status.code(), Some(1));
}

/// Only a skipped record ends "; skipped": a problem with the source as a whole says
/// itself what it cost, and a cut archive read up to the cut must not read
/// "… the rest of this input is skipped; skipped".
#[test]
fn only_bad_records_are_reported_as_skipped() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let xml = std::fs::read(example()).unwrap().repeat(300);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&xml).unwrap();
    let gz = gz.finish().unwrap();
    let cut = dir.path().join("cut.xml.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();

    let out = scan_cli(
        &args(&["-q", "--format", "json", cut.to_str().unwrap()]),
        b"",
    );
    let err = text(&out.stderr);
    let read_error = err
        .lines()
        .find(|l| l.contains("read error at byte"))
        .unwrap_or_else(|| panic!("no read error reported: {err}"));
    assert!(
        read_error.ends_with("the rest of this input is skipped"),
        "{read_error}"
    );
    let truncated = err
        .lines()
        .find(|l| l.contains("truncated <Event> record"))
        .unwrap_or_else(|| panic!("no truncated record reported: {err}"));
    // Cut inside <System> it cannot be judged (skipped); cut later, it is judged from
    // its whole fields and is not skipped (issue 15).
    assert!(
        truncated.ends_with("its <System> part is cut too, so it cannot be judged; skipped")
            || truncated.ends_with("before its </Event>); judged from its whole fields"),
        "{truncated}"
    );
    assert!(!err.contains("skipped; skipped"), "{err}");
}
