//! Issue 10, kind C: the encodings and renderings users have. UTF-16 (LE/BE, BOM or
//! not) for every text format, classic WinEventLog raw text, Defender for Endpoint
//! exports, PowerShell's `Export-Csv`; and a refusal that names what it saw.
//! Fixtures are written by the tests (a few KB each).

mod scan_support;

use std::io::Write;

use scan_support::*;
use schtasksremote::replay::{scan_path, scan_reader, Format, InputReport, ScanOptions};

fn scan(bytes: &[u8]) -> InputReport {
    scan_reader("mem", bytes, &ScanOptions::default())
}

/// Every way a UTF-16 file is written: both byte orders, with and without a BOM.
fn utf16_variants(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("UTF-16LE with BOM", utf16le(text, true)),
        ("UTF-16LE without BOM", utf16le(text, false)),
        ("UTF-16BE with BOM", utf16be(text, true)),
        ("UTF-16BE without BOM", utf16be(text, false)),
    ]
}

/// A Sysmon EID 1 as NXLog `im_msvistalog` writes it (one JSON object per line).
fn sysmon_json(host: &str, cmd: &str) -> String {
    serde_json::json!({
        "EventTime": "2026-03-02 09:14:07",
        "Hostname": host,
        "EventID": 1,
        "SourceName": "Microsoft-Windows-Sysmon",
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Image": SCHTASKS,
        "CommandLine": cmd,
        "User": "CORP\\jdoe",
        "ParentImage": "C:\\Windows\\System32\\cmd.exe",
    })
    .to_string()
}

/// A CIM export of `Endpoint.Processes` (Splunk's CSV export), CRLF as Windows writes it.
fn cim_csv(host: &str, cmd: &str) -> String {
    format!(
        "_time,dest,user,process_name,process\r\n\
         2026-03-02T09:14:07.512+0000,{host},CORP\\jdoe,schtasks.exe,\"{}\"\r\n",
        cmd.replace('"', "\"\"")
    )
}

/// A Sysmon EID 1 as classic WinEventLog text (`renderXml = false`).
fn sysmon_classic(host: &str, cmd: &str) -> String {
    format!(
        "03/02/2026 09:14:07 AM\r\nLogName=Microsoft-Windows-Sysmon/Operational\r\nEventCode=1\r\n\
         EventType=4\r\nComputerName={host}\r\nUser=NOT_TRANSLATED\r\nSid=S-1-5-18\r\nSidType=0\r\n\
         SourceName=Microsoft-Windows-Sysmon\r\nType=Information\r\nRecordNumber=101\r\n\
         TaskCategory=Process Create (rule: ProcessCreate)\r\nOpCode=Info\r\n\
         Message=Process Create:\r\nRuleName: -\r\nUtcTime: 2026-03-02 09:14:07.512\r\n\
         Image: {SCHTASKS}\r\nOriginalFileName: schtasks.exe\r\nCommandLine: {cmd}\r\n\
         User: CORP\\jdoe\r\nParentImage: C:\\Windows\\System32\\cmd.exe\r\n"
    )
}

/// Issue 10, example 8: a Security 4688 as classic WinEventLog text. Layout of Microsoft's
/// "4688(S): A new process has been created" (Windows 10, event version 2); values from
/// OTRF Security-Datasets' schtask_create (WORKSTATION5 → WORKSTATION6).
fn security_4688_classic(time: &str, cmd: &str) -> String {
    format!(
        "{time}\r\nLogName=Security\r\nEventCode=4688\r\nEventType=0\r\n\
         ComputerName=WORKSTATION5.theshire.local\r\nSourceName=Microsoft Windows security auditing.\r\n\
         Type=Information\r\nRecordNumber=1208317\r\nKeywords=Audit Success\r\n\
         TaskCategory=Process Creation\r\nOpCode=Info\r\nMessage=A new process has been created.\r\n\r\n\
         Creator Subject:\r\n\tSecurity ID:\t\tS-1-5-21-4228717743-1032521047-1810997296-1104\r\n\
         \tAccount Name:\t\tpgustavo\r\n\tAccount Domain:\t\tTHESHIRE\r\n\tLogon ID:\t\t0xC61D9\r\n\r\n\
         Target Subject:\r\n\tSecurity ID:\t\tS-1-0-0\r\n\tAccount Name:\t\t-\r\n\tAccount Domain:\t\t-\r\n\
         \tLogon ID:\t\t0x0\r\n\r\nProcess Information:\r\n\tNew Process ID:\t\t0x1a94\r\n\
         \tNew Process Name:\tC:\\Windows\\System32\\schtasks.exe\r\n\tToken Elevation Type:\t%%1938\r\n\
         \tMandatory Label:\t\tMandatory Label\\Medium Mandatory Level\r\n\tCreator Process ID:\t0x1b14\r\n\
         \tCreator Process Name:\tC:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\r\n\
         \tProcess Command Line:\t{cmd}\r\n\r\n\
         Token Elevation Type indicates the type of token that was assigned to the new process in accordance with User Account Control policy.\r\n\r\n\
         Type 1 is a full token with no privileges removed or groups disabled.\r\n"
    )
}

const OTRF_CMD: &str = r#""C:\Windows\system32\schtasks.exe" /Create /S WORKSTATION6 /TN "Atomic task" /TR "C:\windows\system32\cmd.exe" /SC once /ST 20:10"#;

#[test]
fn example_6_a_utf16le_csv_export_is_read() {
    // `Get-Content x.csv > out.csv` in Windows PowerShell 5.1: UTF-16LE, BOM, CRLF.
    let report = scan(&utf16le(&cim_csv("WKS1", REMOTE_CMD), true));
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    assert_eq!(report.sources[0].format, Format::Csv);
    assert_eq!(remote_hosts(&report), ["FILESRV01"]);
    assert_eq!(report.detections[0].dest, "WKS1");
}

#[test]
fn every_text_format_is_read_in_utf16_either_byte_order_with_or_without_bom() {
    let inputs = [
        (
            Format::Xml,
            sysmon1('"', "WKS1", SCHTASKS, REMOTE_CMD, r"CORP\jdoe"),
        ),
        (Format::JsonLines, sysmon_json("WKS1", REMOTE_CMD)),
        (Format::Csv, cim_csv("WKS1", REMOTE_CMD)),
        (Format::ClassicText, sysmon_classic("WKS1", REMOTE_CMD)),
    ];
    for (format, text) in inputs {
        for (how, bytes) in utf16_variants(&text) {
            let report = scan(&bytes);
            assert_eq!(
                report.problem_count, 0,
                "{format} {how}: {:?}",
                report.problems
            );
            assert_eq!(report.sources[0].format, format, "{how}");
            assert_eq!(remote_hosts(&report), ["FILESRV01"], "{format} {how}");
            assert_eq!(report.detections[0].dest, "WKS1", "{format} {how}");
        }
    }
}

#[test]
fn utf16_text_is_read_inside_archives() {
    let xml = utf16le(&sysmon1('\'', "WKS1", SCHTASKS, REMOTE_CMD, "u"), true);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&xml).unwrap();
    let report = scan(&gz.finish().unwrap());
    assert_eq!(remote_hosts(&report), ["FILESRV01"]);
}

#[test]
fn utf16_non_ascii_values_survive_transcoding() {
    let cmd = r#"schtasks /create /s SRV-ÉTÉ /tn "Tâche 日本" /tr C:\x.exe"#;
    let report = scan(&utf16le(&sysmon_json("Poste-Été", cmd), false));
    assert_eq!(remote_hosts(&report), ["SRV-ÉTÉ"]);
    assert_eq!(report.detections[0].dest, "Poste-Été");
    assert_eq!(report.detections[0].process, cmd);
}

#[test]
fn example_8_classic_security_4688_text_is_a_detection() {
    let report = scan(security_4688_classic("12/19/2020 07:00:30 AM", OTRF_CMD).as_bytes());
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    let src = &report.sources[0];
    assert_eq!(src.format, Format::ClassicText);
    assert_eq!((src.records, src.process_events), (1, 1));
    assert_eq!(remote_hosts(&report), ["WORKSTATION6"]);
    let d = &report.detections[0];
    assert_eq!(d.dest, "WORKSTATION5.theshire.local");
    assert_eq!(d.process_name, "schtasks.exe");
    assert_eq!(d.user, r"THESHIRE\pgustavo");
    assert_eq!(d.sighting.time, "12/19/2020 07:00:30 AM");
}

#[test]
fn classic_text_holds_many_events_of_several_kinds_with_crlf_or_lf() {
    let logon = "12/19/2020 07:00:31 AM\r\nLogName=Security\r\nEventCode=4624\r\n\
                 ComputerName=WORKSTATION6.theshire.local\r\nMessage=An account was successfully logged on.\r\n\r\n\
                 Subject:\r\n\tAccount Name:\t\t-\r\n";
    let local = security_4688_classic(
        "12/19/2020 07:00:32 AM",
        r"schtasks /create /tn x /tr y /sc once /st 00:00",
    );
    let crlf = [
        security_4688_classic("12/19/2020 07:00:30 AM", OTRF_CMD),
        logon.to_owned(),
        sysmon_classic("WKS1", REMOTE_CMD),
        local,
    ]
    .concat();
    for text in [crlf.clone(), crlf.replace("\r\n", "\n")] {
        let report = scan(text.as_bytes());
        let src = &report.sources[0];
        assert_eq!(src.format, Format::ClassicText);
        assert_eq!(
            (
                src.records,
                src.process_events,
                src.other_events,
                src.bad_records
            ),
            (4, 3, 1, 0)
        );
        assert_eq!(remote_hosts(&report), ["WORKSTATION6", "FILESRV01"]);
        assert_eq!(detection_records(&report), [1, 3]);
    }
}

/// Issue 10, example 7: Defender for Endpoint `DeviceProcessEvents`, exported from
/// Advanced Hunting as CSV (columns as the issue gives them; names from Microsoft's
/// `DeviceProcessEvents` table reference).
#[test]
fn example_7_defender_advanced_hunting_csv_is_a_detection() {
    let csv = "Timestamp,DeviceName,ActionType,FileName,FolderPath,ProcessVersionInfoOriginalFileName,\
               ProcessCommandLine,AccountDomain,AccountName,InitiatingProcessFileName\r\n\
               2026-03-02T09:14:07.512Z,wks01.corp.example,ProcessCreated,schtasks.exe,\
               C:\\Windows\\System32\\schtasks.exe,schtasks.exe,\
               \"schtasks /create /s HOST2 /tn Updater /tr \"\"C:\\ProgramData\\upd.exe\"\" /sc once /st 00:00\",\
               corp,user1,cmd.exe\r\n\
               2026-03-02T09:14:08.000Z,wks01.corp.example,ProcessCreated,notepad.exe,\
               C:\\Windows\\System32\\notepad.exe,NOTEPAD.EXE,notepad.exe,corp,user1,explorer.exe\r\n";
    for bytes in [csv.as_bytes().to_vec(), utf16le(csv, true)] {
        let report = scan(&bytes);
        assert_eq!(report.problem_count, 0, "{:?}", report.problems);
        let src = &report.sources[0];
        assert_eq!(src.format, Format::Csv);
        assert_eq!((src.records, src.process_events), (2, 2));
        assert_eq!(remote_hosts(&report), ["HOST2"]);
        let d = &report.detections[0];
        assert_eq!(d.dest, "wks01.corp.example");
        assert_eq!(d.user, r"corp\user1");
    }
}

/// Defender for Endpoint's streaming API (to Event Hubs or a storage account) wraps each
/// row in `{"time", "tenantId", "category": "AdvancedHunting-<Table>", "properties": {…}}`
/// (Microsoft, "Raw Data Streaming API"); Event Hubs messages put many in `records`.
#[test]
fn defender_streaming_api_json_is_read_one_per_line_or_in_records() {
    let row = |file: &str, cmd: &str| {
        serde_json::json!({
            "time": "2026-03-02T09:14:08.1234567Z",
            "tenantId": "00000000-0000-0000-0000-000000000000",
            "operationName": "Publish",
            "category": "AdvancedHunting-DeviceProcessEvents",
            "properties": {
                "Timestamp": "2026-03-02T09:14:07.512Z",
                "DeviceName": "wks01.corp.example",
                "ActionType": "ProcessCreated",
                "FileName": file,
                "FolderPath": format!("C:\\Windows\\System32\\{file}"),
                "ProcessVersionInfoOriginalFileName": file,
                "ProcessCommandLine": cmd,
                "AccountDomain": "corp",
                "AccountName": "user1",
                "InitiatingProcessFileName": "cmd.exe"
            }
        })
    };
    let remote = row(
        "schtasks.exe",
        "schtasks /create /s HOST2 /tn t /tr c:\\a.exe /sc once",
    );
    let other = row("notepad.exe", "notepad.exe");
    let lines = format!("{remote}\n{other}\n");
    let hub = format!("{}\n", serde_json::json!({ "records": [remote, other] }));
    for text in [lines, hub] {
        let report = scan(text.as_bytes());
        assert_eq!(report.problem_count, 0, "{:?}", report.problems);
        let src = &report.sources[0];
        assert_eq!(src.format, Format::JsonLines);
        assert_eq!((src.records, src.process_events), (2, 2), "{text}");
        assert_eq!(remote_hosts(&report), ["HOST2"]);
        assert_eq!(report.detections[0].dest, "wks01.corp.example");
    }
}

#[test]
fn powershell_export_csv_type_line_is_skipped() {
    // Windows PowerShell 5.1's `Export-Csv` without `-NoTypeInformation` writes a
    // `#TYPE <type name>` line before the header, and quotes every field.
    let text = "#TYPE Selected.System.Diagnostics.Eventing.Reader.EventLogRecord\r\n\
                \"TimeCreated\",\"MachineName\",\"Image\",\"CommandLine\"\r\n\
                \"3/2/2026 9:14:07 AM\",\"WKS1\",\"C:\\Windows\\System32\\schtasks.exe\",\
                \"schtasks /create /s HOST2 /tn t /tr c:\\a.exe\"\r\n";
    for bytes in [text.as_bytes().to_vec(), utf16le(text, true)] {
        let report = scan(&bytes);
        assert_eq!(report.problem_count, 0, "{:?}", report.problems);
        assert_eq!(report.sources[0].format, Format::Csv);
        assert_eq!(remote_hosts(&report), ["HOST2"]);
    }
}

#[test]
fn a_refused_file_is_named_by_what_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "notes.txt",
            utf16le("Meeting notes\r\nnothing here\r\n", true),
            "UTF-16LE text",
        ),
        (
            "sizes.csv",
            b"name,size\nx,1\n".to_vec(),
            "CSV whose header names no process field (columns: name, size)",
        ),
        (
            "array.json",
            b"[{\"EventID\":1}]\n".to_vec(),
            "a JSON array",
        ),
        (
            "blob.bin",
            vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0],
            "binary data (first bytes 7f 45 4c 46",
        ),
    ];
    for (name, bytes, seen) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let report = scan_path(&path, &ScanOptions::default());
        assert_eq!(report.unreadable, 1, "{name}");
        let message = &report.problems[0].message;
        assert!(message.contains("not event data"), "{name}: {message}");
        assert!(message.contains(seen), "{name}: {message}");
    }
}

/// Hands out bytes one to three at a time: code units and lines split across reads.
struct Trickle<'a> {
    data: &'a [u8],
    at: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.at % 3 + 1)
            .min(self.data.len() - self.at)
            .min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn classic_and_utf16_readers_give_the_same_report_however_the_bytes_arrive() {
    let classic = [
        security_4688_classic("12/19/2020 07:00:30 AM", OTRF_CMD),
        sysmon_classic("WKS1", REMOTE_CMD),
    ]
    .concat();
    let mut inputs = vec![classic.as_bytes().to_vec()];
    inputs.extend(utf16_variants(&classic).into_iter().map(|(_, b)| b));
    inputs.extend(
        utf16_variants(&cim_csv("WKS1", REMOTE_CMD))
            .into_iter()
            .map(|(_, b)| b),
    );
    for bytes in inputs {
        let whole = scan(&bytes);
        let pieces = scan_reader(
            "mem",
            Trickle {
                data: &bytes,
                at: 0,
            },
            &ScanOptions::default(),
        );
        assert_eq!(whole, pieces);
        assert!(whole.detection_count() >= 1);
    }
}

/// The rows of the README's input table (`### Inputs` in "Offline scanning").
fn readme_input_rows() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md beside Cargo.toml");
    let section = readme
        .split("### Inputs")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("README has an ### Inputs section");
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| format "))
        .map(|l| l.split('|').nth(1).unwrap_or_default().trim().to_owned())
        .collect()
}

#[test]
fn every_rendering_in_the_readme_input_table_is_read_as_it_says() {
    let xml = sysmon1('"', "WKS1", SCHTASKS, REMOTE_CMD, "u");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(xml.as_bytes()).unwrap();
    let evtx = std::fs::read(dataset(EVTX_MSHTA)).expect("the EVTX sample in ../shared");
    // Each row, a sample, the format its source is read as, and its detections.
    let samples: Vec<(&str, Vec<u8>, Format, usize)> = vec![
        ("XmlWinEventLog", xml.clone().into_bytes(), Format::Xml, 1),
        ("EVTX", evtx, Format::Evtx, 0),
        (
            "JSON lines",
            sysmon_json("WKS1", REMOTE_CMD).into_bytes(),
            Format::JsonLines,
            1,
        ),
        (
            "CSV",
            cim_csv("WKS1", REMOTE_CMD).into_bytes(),
            Format::Csv,
            1,
        ),
        (
            "Classic WinEventLog text",
            sysmon_classic("WKS1", REMOTE_CMD).into_bytes(),
            Format::ClassicText,
            1,
        ),
        ("UTF-16 text", utf16le(&xml, true), Format::Xml, 1),
        (
            "gzip, zip, tar (`.tar.gz`)",
            gz.finish().unwrap(),
            Format::Xml,
            1,
        ),
    ];
    assert_eq!(
        readme_input_rows(),
        samples.iter().map(|s| s.0).collect::<Vec<_>>(),
        "the README's input table and this test list the same renderings"
    );
    for (row, bytes, format, detections) in samples {
        let report = scan(&bytes);
        assert_eq!(report.problem_count, 0, "{row}: {:?}", report.problems);
        assert_eq!(report.sources[0].format, format, "{row}");
        assert!(report.sources[0].process_events > 0, "{row}");
        assert_eq!(report.detections.len(), detections, "{row}");
    }
}
