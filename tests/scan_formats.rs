//! Each input format and container, read by content: what comes out (counts and
//! detections) for inputs whose content is known.

mod scan_support;

use std::fs;
use std::io::Write;
use std::path::Path;

use scan_support::*;
use schtasksremote::replay::{scan_path, scan_reader, Format, InputReport, ScanOptions};

fn scan(path: &Path) -> InputReport {
    scan_path(path, &ScanOptions::default())
}

/// Remote Sysmon, network event, remote 4688, local Sysmon: 4 records, 2 detections.
fn xml_mix(sep: &str) -> String {
    [
        sysmon1('\'', "WKS1", SCHTASKS, REMOTE_CMD, r"CORP\jdoe"),
        sysmon3("WKS1"),
        sec4688(
            "WKS2",
            SCHTASKS,
            "schtasks.exe /Create /S SRV9 /TN t /TR x",
            "CORP",
            "amy",
        ),
        sysmon1('"', "WKS1", SCHTASKS, LOCAL_CMD, r"CORP\jdoe"),
    ]
    .join(sep)
}

#[test]
fn xml_records_are_read_with_or_without_line_breaks_and_either_quote_style() {
    for sep in ["\n", "", "\r\n\r\n", "  "] {
        let text = format!(
            "<?xml version=\"1.0\"?>\n<Events>{}</Events>\n",
            xml_mix(sep)
        );
        let report = scan_reader("mem", text.as_bytes(), &ScanOptions::default());
        let src = &report.sources[0];
        assert_eq!(src.format, Format::Xml);
        assert_eq!(
            (src.records, src.process_events, src.other_events),
            (4, 3, 1)
        );
        assert_eq!(remote_hosts(&report), ["FILESRV01", "SRV9"], "sep {sep:?}");
        assert_eq!(report.detections[0].dest, "WKS1");
        assert_eq!(report.detections[1].user, r"CORP\amy");
        assert_eq!(detection_records(&report), [1, 3]);
    }
}

#[test]
fn xml_end_tags_with_white_space_before_the_bracket_close_their_records() {
    let good = sysmon1('\'', "WKS1", SCHTASKS, REMOTE_CMD, "u");
    let spaced = good.replace("</Event>", "</Event >");
    let broken_line = good.replace("</Event>", "</Event\r\n>");
    let text = format!("{spaced}{broken_line}\n{good}");
    let report = scan_reader("mem", text.as_bytes(), &ScanOptions::default());
    let src = &report.sources[0];
    assert_eq!(
        (src.records, src.bad_records),
        (3, 0),
        "{:?}",
        report.problems
    );
    assert_eq!(report.detections.len(), 3);
}

#[test]
fn xml_pretty_printed_records_keep_their_values_exactly() {
    let text = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>\n  <System>\n    \
                <Provider Name='Microsoft-Windows-Sysmon'/>\n    <EventID>1</EventID>\n    \
                <Computer>WKS1</Computer>\n  </System>\n  <EventData>\n    \
                <Data Name='Image'>C:\\Windows\\System32\\schtasks.exe</Data>\n    \
                <Data Name='CommandLine'><![CDATA[schtasks /create /s \"FAR\" /tn a /tr b ]]></Data>\n  \
                </EventData>\n</Event>\n";
    let report = scan_reader("mem", text.as_bytes(), &ScanOptions::default());
    assert_eq!(report.sources[0].records, 1);
    assert_eq!(remote_hosts(&report), ["FAR"]);
    // The trailing space of the command line is kept.
    assert!(report.detections[0].process.ends_with("/tr b "));
}

#[test]
fn evtx_is_read_from_a_file_and_from_a_stream() {
    let path = dataset(EVTX_VSS);
    let from_file = scan(&path);
    let bytes = fs::read(&path).unwrap();
    let from_stream = scan_reader("stdin", &bytes[..], &ScanOptions::default());
    for r in [&from_file, &from_stream] {
        assert_eq!(r.sources[0].format, Format::Evtx);
        assert_eq!(
            (r.sources[0].records, r.sources[0].process_events),
            (17, 16)
        );
    }
}

#[test]
fn jsonl_nxlog_winlogbeat_and_crowdstrike_fdr_records_map_to_cim() {
    let nxlog = r#"{"EventTime":"2020-08-01 06:55:19","Hostname":"dc1.corp","EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\schtasks.exe","OriginalFileName":"schtasks.exe","CommandLine":"schtasks /create /tn a /tr b /s NX1","User":"CORP\\a"}"#;
    let winlogbeat = r#"{"@timestamp":"2026-01-02T03:04:05.000Z","event":{"code":"4688","provider":"Microsoft-Windows-Security-Auditing"},"winlog":{"event_id":4688,"channel":"Security","provider_name":"Microsoft-Windows-Security-Auditing","computer_name":"wks7.corp","event_data":{"NewProcessName":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks /create /tn a /tr b /s WB1","SubjectUserName":"bob","SubjectDomainName":"CORP","ParentProcessName":"C:\\Windows\\System32\\cmd.exe"}},"tags":["beats_input"]}"#;
    let fdr = r#"{"event_simpleName":"ProcessRollup2","timestamp":"1767225600000","aid":"0123456789abcdef","ComputerName":"WKS-CS-01","UserName":"carol","ImageFileName":"\\Device\\HarddiskVolume3\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks.exe /create /tn a /tr b /s CS1","ParentBaseFileName":"cmd.exe"}"#;
    let fdr_other = r#"{"event_simpleName":"DnsRequest","ComputerName":"WKS-CS-01","CommandLine":"schtasks /create /s NOPE /tn a /tr b","ImageFileName":"schtasks.exe"}"#;
    let text = [nxlog, "", winlogbeat, fdr, fdr_other, ""].join("\n");
    let report = scan_reader("mem", text.as_bytes(), &ScanOptions::default());
    let src = &report.sources[0];
    assert_eq!(src.format, Format::JsonLines);
    // Blank lines are not records.
    assert_eq!(
        (src.records, src.process_events, src.other_events),
        (4, 3, 1)
    );
    assert_eq!(remote_hosts(&report), ["NX1", "WB1", "CS1"]);
    let d = &report.detections;
    assert_eq!(
        (d[0].dest.as_str(), d[0].user.as_str()),
        ("dc1.corp", r"CORP\a")
    );
    assert_eq!(d[0].sighting.time, "2020-08-01 06:55:19");
    assert_eq!(
        (d[1].dest.as_str(), d[1].user.as_str()),
        ("wks7.corp", r"CORP\bob")
    );
    assert_eq!(d[1].sighting.time, "2026-01-02T03:04:05.000Z");
    assert_eq!(
        (d[2].dest.as_str(), d[2].user.as_str()),
        ("WKS-CS-01", "carol")
    );
    assert_eq!(d[2].process_name, "schtasks.exe");
    assert_eq!(
        d.iter().map(|d| d.sighting.record).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn csv_splunk_export_with_cim_names_is_read() {
    let text = "_time,Processes.dest,Processes.user,Processes.process_name,Processes.process,Processes.parent_process_name\n\
                2026-03-02T09:14:07.000+0000,WKS1,CORP\\jdoe,schtasks.exe,\"schtasks /create /tn \"\"Up date\"\" /tr x /s CSVHOST\",cmd.exe\n\
                2026-03-02T09:15:00.000+0000,WKS1,CORP\\jdoe,schtasks.exe,\"schtasks /create /tn a /tr x /sc daily\",cmd.exe\n\
                2026-03-02T09:16:00.000+0000,WKS1,CORP\\jdoe,notepad.exe,notepad.exe a.txt,explorer.exe\n";
    let report = scan_reader("mem", text.as_bytes(), &ScanOptions::default());
    let src = &report.sources[0];
    assert_eq!(src.format, Format::Csv);
    assert_eq!(
        (src.records, src.process_events, src.other_events),
        (3, 3, 0)
    );
    assert_eq!(remote_hosts(&report), ["CSVHOST"]);
    let d = &report.detections[0];
    assert_eq!(
        (d.sighting.record, d.sighting.time.as_str()),
        (1, "2026-03-02T09:14:07.000+0000")
    );
    assert_eq!(
        d.process,
        r#"schtasks /create /tn "Up date" /tr x /s CSVHOST"#
    );
}

#[test]
fn csv_with_event_codes_skips_other_events() {
    let text = "EventCode,source,ComputerName,Image,CommandLine\n\
                1,XmlWinEventLog:Microsoft-Windows-Sysmon/Operational,WKS1,C:\\Windows\\System32\\schtasks.exe,schtasks /create /tn a /tr b /s R1\n\
                3,XmlWinEventLog:Microsoft-Windows-Sysmon/Operational,WKS1,C:\\Windows\\System32\\schtasks.exe,schtasks /create /tn a /tr b /s R2\n";
    let report = scan_reader("mem", text.as_bytes(), &ScanOptions::default());
    let src = &report.sources[0];
    assert_eq!(
        (src.records, src.process_events, src.other_events),
        (2, 1, 1)
    );
    assert_eq!(remote_hosts(&report), ["R1"]);
    assert_eq!(report.detections[0].dest, "WKS1");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_is_opened_by_content_whatever_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    fs::write(&path, gzip(xml_mix("\n").as_bytes())).unwrap();
    let report = scan(&path);
    assert_eq!(report.sources.len(), 1);
    assert_eq!(report.sources[0].name, path.display().to_string());
    assert_eq!(report.sources[0].format, Format::Xml);
    assert_eq!(report.sources[0].records, 4);
    assert_eq!(remote_hosts(&report), ["FILESRV01", "SRV9"]);
}

fn zip_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn zip_members_are_each_a_source_and_non_event_members_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.zip");
    let evtx = fs::read(dataset(EVTX_MSHTA)).unwrap();
    let zipped = zip_bytes(&[
        ("README.md", b"# notes\nnothing here\n"),
        ("logs/sysmon.xml", xml_mix("").as_bytes()),
        ("logs/sample.evtx", &evtx),
    ]);
    fs::write(&path, &zipped).unwrap();
    for report in [
        scan(&path),
        // A zip on stdin is read entry by entry from its local headers.
        scan_reader("-", &zipped[..], &ScanOptions::default()),
    ] {
        let names: Vec<_> = report
            .sources
            .iter()
            .map(|s| s.name.rsplit('!').next().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["logs/sysmon.xml", "logs/sample.evtx"]);
        assert_eq!(report.not_event_data, 1);
        assert_eq!(report.sources[0].records, 4);
        assert_eq!(
            (report.sources[1].format, report.sources[1].records),
            (Format::Evtx, 8)
        );
        assert_eq!(remote_hosts(&report), ["FILESRV01", "SRV9"]);
        assert!(report.detections[0]
            .sighting
            .source
            .ends_with("!logs/sysmon.xml"));
    }
}

#[test]
fn tar_gz_members_are_streamed() {
    let mut tar = tar::Builder::new(Vec::new());
    let jsonl = br#"{"EventID":4688,"Channel":"Security","Computer":"W1","NewProcessName":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks /create /s TARHOST /tn a /tr b"}
{"EventID":4624,"Channel":"Security","Computer":"W1"}
"#;
    let csv =
        b"dest,process_name,process\nW2,schtasks.exe,schtasks /create /tn a /tr b /s CSVTAR\n";
    for (name, data) in [("a/security.json", &jsonl[..]), ("b/export.csv", &csv[..])] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data).unwrap();
    }
    let tgz = gzip(&tar.into_inner().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar.gz");
    fs::write(&path, tgz).unwrap();
    let report = scan(&path);
    let got: Vec<_> = report
        .sources
        .iter()
        .map(|s| {
            (
                s.name.rsplit('!').next().unwrap().to_owned(),
                s.format,
                s.records,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a/security.json".to_owned(), Format::JsonLines, 2),
            ("b/export.csv".to_owned(), Format::Csv, 1)
        ]
    );
    assert_eq!(remote_hosts(&report), ["TARHOST", "CSVTAR"]);
}

#[test]
fn folders_are_walked_in_name_order_and_non_event_files_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("b.xml"), xml_mix("\n")).unwrap();
    fs::write(dir.path().join("README.txt"), "not events\n").unwrap();
    fs::write(dir.path().join("sub").join("a.json.gz"), gzip(br#"{"EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Image":"schtasks.exe","CommandLine":"schtasks /create /s SUBHOST /tn a /tr b"}"#)).unwrap();
    let report = scan(dir.path());
    let names: Vec<_> = report
        .sources
        .iter()
        .map(|s| {
            Path::new(&s.name)
                .strip_prefix(dir.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["b.xml", "sub/a.json.gz"]);
    assert_eq!(report.not_event_data, 1);
    assert_eq!(report.problem_count, 0);
    assert_eq!(remote_hosts(&report), ["FILESRV01", "SRV9", "SUBHOST"]);
}

#[test]
fn stdin_dash_is_read_by_content() {
    let out = scan_cli(
        &["--format".as_ref(), "json".as_ref(), "-".as_ref()],
        &gzip(xml_mix("").as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["source"], "-");
    assert_eq!(lines[1]["remote_host"], "SRV9");
}

#[test]
fn a_sink_receives_detections_as_they_are_found_and_the_report_keeps_none() {
    use std::sync::{Arc, Mutex};
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&got);
    let options = ScanOptions {
        sink: Some(schtasksremote::replay::DetectionSink(Arc::new(move |d| {
            seen.lock().unwrap().push(d.sighting.record)
        }))),
        ..ScanOptions::default()
    };
    let report = scan_reader("mem", xml_mix("\n").as_bytes(), &options);
    assert!(report.detections.is_empty());
    assert_eq!(report.detection_count(), 2);
    assert_eq!(*got.lock().unwrap(), [1, 3]);
}
