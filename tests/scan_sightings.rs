//! Issue 12 item 7: one process creation seen by two sensors (Sysmon 1 and Security
//! 4688) is one detection listing both sightings, in every output format; each sighting
//! names its event ID, channel, the event's own record ID and its whole source.

mod scan_support;

use std::ffi::OsStr;

use scan_support::*;
use schtasksremote::replay::{scan_path, ScanOptions, SightingGrouper, Value, DEFAULT_WINDOW};

fn args<'a>(a: &'a [&'a str]) -> Vec<&'a OsStr> {
    a.iter().map(OsStr::new).collect()
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect()
}

/// A Sysmon 1 at `time` on `host`, with `<EventRecordID>`.
fn sysmon_at(host: &str, time: &str, record_id: u64) -> String {
    sysmon1('\'', host, SCHTASKS, REMOTE_CMD, r"CORP\jdoe")
        .replace("2026-03-02T09:14:07.512Z", time)
        .replace(
            "<EventID>1</EventID>",
            &format!("<EventID>1</EventID><EventRecordID>{record_id}</EventRecordID>"),
        )
}

/// A Security 4688 at `time` on `host`, with `<EventRecordID>`.
fn security_at(host: &str, time: &str, record_id: u64) -> String {
    sec4688(host, SCHTASKS, REMOTE_CMD, "CORP", "jdoe")
        .replace("2026-03-02T09:21:45.004Z", time)
        .replace(
            "<EventID>4688</EventID>",
            &format!("<EventID>4688</EventID><EventRecordID>{record_id}</EventRecordID>"),
        )
}

/// Scans `events` (written to one XML file) as JSON lines.
fn scan_events(events: &[String], extra: &[&str]) -> (Vec<serde_json::Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.xml");
    std::fs::write(&path, events.concat()).unwrap();
    let p = path.display().to_string();
    let mut a = vec!["--format", "json"];
    a.extend(extra);
    a.push(&p);
    let out = scan_cli(&args(&a), b"");
    (json_lines(&out), p)
}

/// OTRF Security-Datasets, atomic/windows/lateral_movement/host/schtask_create: one
/// remote creation (WORKSTATION5 -> WORKSTATION6) logged as Security 4688 (record 66,
/// 07:00:22.190Z) and Sysmon 1 (record 480, 07:00:22.191Z).
#[test]
fn otrf_one_remote_creation_seen_by_sysmon_and_security_is_one_detection_listing_both() {
    let path = dataset(OTRF_CREATE);
    let p = path.display().to_string();
    let objects = json_lines(&scan_cli(&args(&["--format", "json", &p]), b""));
    // Issue 13: the target side's 4698 is a detection of its own, never grouped.
    let objects: Vec<_> = objects
        .into_iter()
        .filter(|o| o["detection_side"] == "source")
        .collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let o = &objects[0];
    let sightings = o["sightings"].as_array().expect("a sightings array");
    let seen: Vec<(u64, u64, &str)> = sightings
        .iter()
        .map(|s| {
            (
                s["record"].as_u64().unwrap(),
                s["event_id"].as_u64().unwrap(),
                s["channel"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (66, 4688, "Security"),
            (480, 1, "Microsoft-Windows-Sysmon/Operational")
        ]
    );
    for s in sightings {
        // The whole source, archive member included; OTRF's JSON has no EventRecordID.
        assert!(s["source"].as_str().unwrap().starts_with(&p), "{s}");
        assert!(s["event_record_id"].is_null(), "{s}");
    }
    assert_eq!(sightings[1]["time"], "2020-12-19T07:00:22.191Z");
    // The lead columns are the first sighting's.
    assert_eq!(
        (o["record"].as_u64(), o["event_id"].as_u64()),
        (Some(66), Some(4688))
    );

    // The library step gives the same, for callers other than the CLI.
    let report = scan_path(&path, &ScanOptions::default());
    let mut grouper = SightingGrouper::new(DEFAULT_WINDOW);
    let mut out: Vec<_> = report
        .detections
        .into_iter()
        .flat_map(|d| grouper.push(d))
        .collect();
    out.extend(grouper.finish());
    out.retain(|d| d.field("detection_side") == Some(&Value::One("source".into())));
    assert_eq!(out.len(), 1);
    let ids: Vec<String> = out[0].sightings().map(|s| s.event_id.clone()).collect();
    assert_eq!(ids, ["4688", "1"]);
    assert_eq!(grouper.merged(), 1);

    // --group-window 0 lists each sighting on its own.
    let apart = json_lines(&scan_cli(
        &args(&["--format", "json", "--group-window", "0", &p]),
        b"",
    ));
    assert_eq!(apart.len(), 3);
    assert!(apart
        .iter()
        .all(|o| o["sightings"].as_array().map(Vec::len) == Some(1)));
}

#[test]
fn otrf_grouped_detection_is_one_table_row_and_one_csv_row_naming_both_sensors() {
    let p = dataset(OTRF_CREATE).display().to_string();
    let out = scan_cli(&args(&[&p]), b"");
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    // The header, the target side's 4698 (issue 13), and the grouped detection's two.
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].contains("EVENT") && lines[0].contains("SOURCE"),
        "{table}"
    );
    let at = lines
        .iter()
        .position(|l| l.contains("4688 Security"))
        .expect("the 4688 line");
    assert!(lines[at].contains("WORKSTATION6"));
    assert!(lines[at].contains(&format!("{p}!schtask_create_2020-12-1907003032.json:66")));
    // The second sighting's line: its sensor and source, not the detection again.
    assert!(
        lines[at + 1].contains("1 Microsoft-Windows-Sysmon/Operational"),
        "{table}"
    );
    assert!(lines[at + 1].ends_with(".json:480"), "{table}");
    assert!(!lines[at + 1].contains("WORKSTATION6"), "{table}");
    assert!(text(&out.stderr).contains("grouped: 1 sighting"));

    let out = scan_cli(&args(&["--format", "csv", &p]), b"");
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = r
        .records()
        .map(Result::unwrap)
        .filter(|row| &row[col("detection_side")] == "source")
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][col("record")], "66;480");
    assert_eq!(&rows[0][col("event_id")], "4688;1");
    assert_eq!(
        &rows[0][col("channel")],
        "Security;Microsoft-Windows-Sysmon/Operational"
    );
}

#[test]
fn two_sensors_further_apart_than_the_window_are_two_detections() {
    let near = [
        sysmon_at("WKS1", "2026-03-02T09:14:07.512Z", 10),
        security_at("WKS1", "2026-03-02T09:14:09.000Z", 20),
    ];
    assert_eq!(scan_events(&near, &[]).0.len(), 1);
    let far = [
        sysmon_at("WKS1", "2026-03-02T09:14:07.512Z", 10),
        security_at("WKS1", "2026-03-02T09:14:10.000Z", 20),
    ];
    assert_eq!(scan_events(&far, &[]).0.len(), 2);
    // A wider window takes them as one.
    assert_eq!(scan_events(&far, &["--group-window", "5"]).0.len(), 1);
}

#[test]
fn the_same_command_line_on_two_hosts_is_two_detections() {
    let events = [
        sysmon_at("WKS1", "2026-03-02T09:14:07.512Z", 10),
        security_at("WKS2", "2026-03-02T09:14:07.513Z", 20),
    ];
    let (objects, _) = scan_events(&events, &[]);
    let dests: Vec<&str> = objects
        .iter()
        .map(|o| o["dest"].as_str().unwrap())
        .collect();
    assert_eq!(dests, ["WKS1", "WKS2"]);
}

/// One sensor logs a process once: two Sysmon 1 events with one command line are two
/// process creations, however close.
#[test]
fn two_events_of_one_sensor_are_two_process_creations() {
    let events = [
        sysmon_at("WKS1", "2026-03-02T09:14:07.512Z", 10),
        sysmon_at("wks1", "2026-03-02T09:14:07.600Z", 11),
        security_at("WKS1", "2026-03-02T09:14:07.513Z", 20),
    ];
    let (objects, _) = scan_events(&events, &[]);
    let records: Vec<Vec<u64>> = objects
        .iter()
        .map(|o| {
            o["sightings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["event_record_id"].as_u64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(records, [vec![10, 20], vec![11]]);
}

/// Every format names the event ID, channel and the event's own record ID.
#[test]
fn every_format_shows_event_id_channel_and_event_record_id() {
    let events = [security_at("WKS1", "2026-03-02T09:14:07.513Z", 1_208_317)];
    let (objects, p) = scan_events(&events, &[]);
    assert_eq!(objects[0]["event_id"], 4688);
    assert_eq!(objects[0]["channel"], "Security");
    assert_eq!(objects[0]["event_record_id"], 1_208_317);
    assert_eq!(objects[0]["source"], p.as_str());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sec.xml");
    std::fs::write(&path, events.concat()).unwrap();
    let p = path.display().to_string();
    let out = scan_cli(&args(&["--format", "csv", &p]), b"");
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let header = r.headers().unwrap().clone();
    let row = r.records().next().unwrap().unwrap();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(
        (
            &row[col("event_id")],
            &row[col("channel")],
            &row[col("event_record_id")]
        ),
        ("4688", "Security", "1208317")
    );
    let table = text(&scan_cli(&args(&[&p]), b"").stdout);
    assert!(table.contains("4688 Security #1208317"), "{table}");
    assert!(table.contains(&format!("{p}:1")), "{table}");
}
