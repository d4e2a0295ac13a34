//! Issue 10, kinds A, B and E in `scan`: every common rendering of a process creation
//! reaches the detection with its host (A), a process creation that cannot be judged is
//! counted and named, never silently passed over (B), and a host's own names are
//! exactly its full name, first DNS label and NetBIOS name (E). The issue's examples 1,
//! 2, 4 and 5 are here verbatim.

mod scan_support;

use std::ffi::OsStr;

use scan_support::*;
use schtasksremote::cim::Missing;
use schtasksremote::replay::{scan_reader, Detection, Format, InputReport, ScanOptions, Value};

fn scan(input: &str) -> InputReport {
    scan_reader("mem", input.as_bytes(), &ScanOptions::default())
}

fn field<'d>(d: &'d Detection, name: &str) -> &'d str {
    match d.field(name) {
        Some(Value::One(s)) => s,
        other => panic!("{name}: {other:?}"),
    }
}

fn only_detection(report: &InputReport) -> &Detection {
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    assert_eq!(report.detections.len(), 1, "{report:#?}");
    &report.detections[0]
}

/// Issue 10 example 1, verbatim: winlogbeat's Sysmon module moves `CommandLine`,
/// `Image` and `OriginalFileName` to ECS `process.*` (Elastic's
/// `x-pack/winlogbeat/module/sysmon/ingest/sysmon.yml`).
const WINLOGBEAT_SYSMON: &str = r#"{"@timestamp":"2020-10-27T20:00:14.320Z","event":{"code":"1","module":"sysmon","provider":"Microsoft-Windows-Sysmon"},"host":{"name":"wks01"},"process":{"command_line":"schtasks /create /s HOST2 /tn Updater /tr C:\\ProgramData\\upd.exe /sc once /st 00:00","executable":"C:\\Windows\\System32\\schtasks.exe","name":"schtasks.exe","pe":{"original_file_name":"schtasks.exe"},"parent":{"name":"cmd.exe"}},"user":{"domain":"CORP","name":"user1"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","computer_name":"wks01.corp.example","event_id":"1","provider_name":"Microsoft-Windows-Sysmon"}}"#;

#[test]
fn example_1_winlogbeat_sysmon_ecs_names_are_a_detection_of_host2() {
    let report = scan(WINLOGBEAT_SYSMON);
    assert_eq!(report.sources[0].format, Format::JsonLines);
    assert_eq!(report.sources[0].process_events, 1);
    let d = only_detection(&report);
    assert_eq!(field(d, "remote_host"), "HOST2");
    // The event's computer (`winlog.computer_name`) wins over the shipper's `host.name`.
    assert_eq!(d.dest, "wks01.corp.example");
    assert_eq!(d.user, r"CORP\user1");
    assert_eq!(d.process_name, "schtasks.exe");
    assert_eq!(d.sighting.time, "2020-10-27T20:00:14.320Z");
}

/// The same event with dotted keys (Logstash / Splunk HEC flattening) and ECS arrays.
#[test]
fn ecs_dotted_keys_and_category_arrays_are_read_like_nested_objects() {
    let line = r#"{"@timestamp":"2020-10-27T20:00:14.320Z","event.category":["process"],"event.type":["start"],"host.name":"wks01","process.command_line":"schtasks /create /s HOST2 /tn t /tr c:\\a.exe /sc once","process.executable":"C:\\Windows\\System32\\schtasks.exe","user.name":"user1"}"#;
    let d = only_detection(&scan(line)).clone();
    assert_eq!(
        (d.dest.as_str(), d.user.as_str(), d.process_name.as_str()),
        ("wks01", "user1", "schtasks.exe")
    );
}

/// winlogbeat's Security module keeps `winlog.event_data.CommandLine` on 4688 and also
/// copies it to `process.command_line`: either copy is read.
#[test]
fn winlogbeat_security_4688_is_read_from_event_data_or_ecs() {
    let event_data = r#"{"event":{"code":"4688"},"winlog":{"channel":"Security","computer_name":"ws5.corp","event_id":4688,"event_data":{"NewProcessName":"C:\\Windows\\System32\\schtasks.exe","CommandLine":"schtasks /create /s FAR /tn t /tr c:\\a.exe","SubjectUserName":"adm","SubjectDomainName":"CORP"}}}"#;
    let d = only_detection(&scan(event_data)).clone();
    assert_eq!(
        (d.dest.as_str(), d.user.as_str()),
        ("ws5.corp", r"CORP\adm")
    );
    let ecs_only = r#"{"event":{"code":"4688","provider":"Microsoft-Windows-Security-Auditing"},"host":{"name":"ws5"},"process":{"executable":"C:\\Windows\\System32\\schtasks.exe","command_line":"schtasks /create /s FAR /tn t /tr c:\\a.exe"}}"#;
    assert_eq!(only_detection(&scan(ecs_only)).dest, "ws5");
}

/// Issue 10 example 2: classic (`renderXml=false`) WinEventLog field names, as
/// Splunk_TA_windows extracts them from 4688 (`New_Process_Name`,
/// `Creator_Process_Name`, `Process_Command_Line`, `Account_Name`, `ComputerName`).
const CLASSIC_4688_CSV: &str = "_time,EventCode,ComputerName,Account_Name,New_Process_Name,Creator_Process_Name,Process_Command_Line\n\
2026-03-02T09:21:45.000+0000,4688,wks01.corp.example,jdoe,C:\\Windows\\System32\\schtasks.exe,C:\\Windows\\System32\\cmd.exe,schtasks /create /s HOST2 /tn t /tr c:\\a.exe /sc once\n\
2026-03-02T09:21:46.000+0000,4688,wks01.corp.example,jdoe,C:\\Windows\\System32\\schtasks.exe,C:\\Windows\\System32\\cmd.exe,schtasks /create /s wks01 /tn t /tr c:\\a.exe /sc once\n";

#[test]
fn example_2_classic_wineventlog_names_are_a_detection_of_host2() {
    let report = scan(CLASSIC_4688_CSV);
    assert_eq!(report.sources[0].format, Format::Csv);
    assert_eq!(report.sources[0].process_events, 2);
    let d = only_detection(&report);
    assert_eq!(field(d, "remote_host"), "HOST2");
    assert_eq!(
        (d.dest.as_str(), d.user.as_str(), d.process_name.as_str()),
        ("wks01.corp.example", "jdoe", "schtasks.exe")
    );
    assert_eq!(d.sighting.time, "2026-03-02T09:21:45.000+0000");
}

/// Microsoft Defender for Endpoint `DeviceProcessEvents` names (Microsoft Learn,
/// "DeviceProcessEvents table in the advanced hunting schema"), as the streaming API
/// sends them inside `properties`.
#[test]
fn defender_streaming_api_properties_are_a_detection_and_other_tables_are_not() {
    let process = r#"{"time":"2026-03-02T09:21:45.1234567Z","category":"AdvancedHunting-DeviceProcessEvents","properties":{"Timestamp":"2026-03-02T09:21:45.1234567Z","DeviceName":"wks01.corp.example","ActionType":"ProcessCreated","FileName":"schtasks.exe","FolderPath":"C:\\Windows\\System32\\schtasks.exe","ProcessVersionInfoOriginalFileName":"schtasks.exe","ProcessCommandLine":"schtasks.exe /create /s HOST2 /tn t /tr c:\\a.exe /sc once","AccountDomain":"corp","AccountName":"user1","InitiatingProcessFileName":"cmd.exe"}}"#;
    let network = r#"{"category":"AdvancedHunting-DeviceNetworkEvents","properties":{"DeviceName":"wks01","ActionType":"ConnectionSuccess","InitiatingProcessFileName":"schtasks.exe","InitiatingProcessCommandLine":"schtasks /create /s HOST2"}}"#;
    let report = scan(&format!("{process}\n{network}\n"));
    assert_eq!(
        (
            report.sources[0].process_events,
            report.sources[0].other_events
        ),
        (1, 1)
    );
    let d = only_detection(&report);
    assert_eq!(
        (d.dest.as_str(), d.user.as_str(), d.process_name.as_str()),
        ("wks01.corp.example", r"corp\user1", "schtasks.exe")
    );
    assert_eq!(d.sighting.time, "2026-03-02T09:21:45.1234567Z");
}

/// Issue 10 example 5: `index=sysmon EventCode=1 | table _time host Image CommandLine
/// User`, exported. Splunk's `host` is `dest` when nothing better names the machine.
const SPLUNK_HOST_ONLY_CSV: &str = "_time,host,Image,CommandLine,User\n\
2026-03-02T09:21:45.000+0000,WKS01,C:\\Windows\\System32\\schtasks.exe,schtasks /create /s WKS01 /tn t /tr c:\\a.exe /sc once,CORP\\jdoe\n\
2026-03-02T09:21:46.000+0000,WKS01,C:\\Windows\\System32\\schtasks.exe,schtasks /create /s HOST2 /tn t /tr c:\\a.exe /sc once,CORP\\jdoe\n";

#[test]
fn example_5_splunk_host_is_dest_so_own_name_is_not_remote_and_the_message_names_it() {
    let report = scan(SPLUNK_HOST_ONLY_CSV);
    assert_eq!(report.sources[0].process_events, 2);
    let d = only_detection(&report);
    assert_eq!(d.sighting.record, 2);
    assert_eq!(d.dest, "WKS01");
    assert!(
        field(d, "risk_message").ends_with(" in host WKS01 by CORP\\jdoe."),
        "{}",
        field(d, "risk_message")
    );
}

/// A `dest` named by a CIM or raw name wins over Splunk's `host` (the forwarder's name).
#[test]
fn splunk_host_is_only_the_last_resort_for_dest() {
    let csv = "host,Computer,Image,CommandLine\nfwd01,wks01,schtasks.exe,schtasks /create /s HOST2 /tn t /tr c:\\a.exe\n";
    assert_eq!(only_detection(&scan(csv)).dest, "wks01");
}

fn sysmon_on(host: &str, target: &str) -> String {
    sysmon1(
        '\'',
        host,
        SCHTASKS,
        &format!(
            r#"SCHTASKS /Create /S {target} /RU "SYSTEM" /SC ONSTART /TN jvmps /TR "C:\ptune\script\jstatm.bat""#
        ),
        r"CORP\jdoe",
    )
}

/// Issue 10 kind E and example 4: `/S %COMPUTERNAME%` on a host whose DNS label is
/// longer than 15 characters names the host by its NetBIOS name (the label cut to 15,
/// MAX_COMPUTERNAME_LENGTH); a 16-character prefix is another machine.
#[test]
fn example_4_a_hosts_netbios_name_is_itself_and_a_longer_prefix_is_not() {
    let dest = "DESKTOP-ENGINEERING01.corp.example";
    for own in [
        "DESKTOP-ENGINEE",
        "desktop-engineering01",
        "DESKTOP-ENGINEERING01.corp.example",
    ] {
        let report = scan(&sysmon_on(dest, own));
        assert_eq!(report.sources[0].process_events, 1);
        assert!(report.detections.is_empty(), "/S {own}: {report:#?}");
    }
    // The issue's literal value `DESKTOP-ENGINEER` has 16 characters: not the NetBIOS
    // name (15), so by kind E's rule it is another machine.
    for other in [
        "DESKTOP-ENGINEER",
        "DESKTOP-ENGINE",
        "DESKTOP-ENGINEERING02",
    ] {
        let report = scan(&sysmon_on(dest, other));
        assert_eq!(report.detections.len(), 1, "/S {other}");
    }
}

#[test]
fn example_4_explain_says_self_target_for_the_netbios_name() {
    let run = |target: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_schtasksremote"))
            .args([
                "explain",
                &format!(r#"SCHTASKS /Create /S {target} /RU "SYSTEM" /SC ONSTART /TN jvmps /TR "C:\ptune\script\jstatm.bat""#),
                "--dest",
                "DESKTOP-ENGINEERING01.corp.example",
            ])
            .output()
            .expect("the binary runs");
        // explain's exit status is its verdict: 0 not a detection, 1 a detection.
        (out.status.code(), text(&out.stdout))
    };
    let (status, shown) = run("DESKTOP-ENGINEE");
    assert!(
        shown.contains("self_target") && status == Some(0),
        "{shown}"
    );
    let (status, shown) = run("DESKTOP-ENGINEER");
    assert!(
        shown.contains("remote_create") && status == Some(1),
        "{shown}"
    );
}

/// Kind B: a Sysmon process creation without its command line cannot be judged; it is
/// counted apart and named, not passed over.
fn sysmon_without_command_line(host: &str) -> String {
    format!(
        "<Event><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
         <Computer>{host}</Computer></System><EventData>\
         <Data Name='Image'>C:\\Windows\\System32\\schtasks.exe</Data></EventData></Event>"
    )
}

#[test]
fn a_process_creation_without_a_command_line_is_counted_and_named() {
    let input = format!(
        "{}\n{}\n{}\n",
        sysmon1('"', "ws1", SCHTASKS, REMOTE_CMD, "u"),
        sysmon_without_command_line("ws1"),
        sysmon_without_command_line("ws1"),
    );
    let report = scan(&input);
    let src = &report.sources[0];
    assert_eq!(
        (src.process_events, src.unjudged_events, src.detections),
        (3, 2, 1)
    );
    let first = report.first_unjudged.as_ref().expect("named");
    assert_eq!((first.source.as_str(), first.record), ("mem", 2));
    assert_eq!(first.missing, Missing::CommandLine);
    assert_eq!(report.problem_count, 0, "a count, not a problem");
}

/// Kind B: an event whose event code says "process creation" but whose names are all
/// unknown is not an "other event": it is a process creation that cannot be judged.
#[test]
fn a_process_creation_with_unknown_names_is_not_judged_and_never_an_other_event() {
    let json = r#"{"EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Exe":"schtasks.exe","Cmd":"schtasks /create /s H2"}"#;
    let ecs = r#"{"event":{"category":["process"],"type":["start"]},"proc":"schtasks.exe"}"#;
    let report = scan(&format!("{json}\n{ecs}\n"));
    let src = &report.sources[0];
    assert_eq!(
        (src.process_events, src.unjudged_events, src.other_events),
        (2, 2, 0)
    );
    assert_eq!(
        report.first_unjudged.as_ref().map(|u| u.to_string()),
        Some("mem:1: no command line (CIM process)".to_string())
    );
}

#[test]
fn a_process_creation_with_a_command_line_and_no_image_names_the_image_as_missing() {
    let csv = "EventCode,ComputerName,Process_Command_Line\n4688,ws1,schtasks /create /s H2\n";
    let report = scan(csv);
    assert_eq!(report.sources[0].unjudged_events, 1);
    assert_eq!(
        report.first_unjudged.map(|u| u.missing),
        Some(Missing::Image)
    );
}

#[test]
fn the_summary_names_the_first_unjudged_event_and_strict_makes_it_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partial.xml");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n",
            sysmon1('"', "ws1", SCHTASKS, LOCAL_CMD, "u"),
            sysmon_without_command_line("ws1")
        ),
    )
    .unwrap();
    let out = scan_cli(&[path.as_os_str()], b"");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let expected = format!(
        "not judged: 1 process event without what the verdict needs; first {}:2: no command line (CIM process)",
        path.display()
    );
    assert!(err.contains(&expected), "{expected:?} in {err}");

    let out = scan_cli(&[OsStr::new("--strict"), path.as_os_str()], b"");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "record 2: a process creation with no command line (CIM process): it cannot be judged"
        ),
        "{err}"
    );
}

/// The README: "Empty fields are `null` in JSON" — the lead columns too.
#[test]
fn json_output_writes_empty_dest_user_and_time_as_null() {
    let csv = "Image,CommandLine\nschtasks.exe,schtasks /create /s HOST2 /tn t /tr c:\\a.exe\n";
    let out = scan_cli(
        &[OsStr::new("--format"), OsStr::new("json"), OsStr::new("-")],
        csv.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text(&out.stdout).trim()).expect("one JSON object");
    for name in ["dest", "user", "time", "task_run_as", "task_xml_file"] {
        assert_eq!(object[name], serde_json::Value::Null, "{name}");
    }
    assert_eq!(object["remote_host"], "HOST2");
    assert_eq!(object["record"], 1);
}
