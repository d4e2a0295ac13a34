//! Shared by the `scan_*` tests: dataset paths, event builders, running the binary.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// `../shared/datasets/<rel>`.
pub fn dataset(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets")).join(rel)
}

pub const OTRF_CREATE: &str =
    "OTRF_Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create.zip";
pub const OTRF_MODIFICATION: &str =
    "OTRF_Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_modification.zip";
pub const OTRF_EMPIRE: &str = "OTRF_Security-Datasets/datasets/atomic/windows/persistence/host/empire_schtasks_creation_standard_user.zip";
pub const ATTACK_DATA: &str =
    "splunk_attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.tar.gz";
pub const EVTX_RUNDLL32: &str =
    "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx";
pub const EVTX_VSS: &str = "EVTX-ATTACK-SAMPLES/Execution/sysmon_exec_from_vss_persistence.evtx";
pub const EVTX_MSHTA: &str =
    "EVTX-ATTACK-SAMPLES/Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx";

/// The README's sample.
pub fn example() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/schtasks_sample.xml"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A Sysmon EID 1 record in XmlWinEventLog form (attributes in `q` quotes).
pub fn sysmon1(q: char, host: &str, image: &str, cmd: &str, user: &str) -> String {
    format!(
        "<Event xmlns={q}http://schemas.microsoft.com/win/2004/08/events/event{q}><System>\
         <Provider Name={q}Microsoft-Windows-Sysmon{q}/><EventID>1</EventID>\
         <TimeCreated SystemTime={q}2026-03-02T09:14:07.512Z{q}/><Channel>Microsoft-Windows-Sysmon/Operational</Channel>\
         <Computer>{host}</Computer></System><EventData><Data Name={q}Image{q}>{}</Data>\
         <Data Name={q}OriginalFileName{q}>schtasks.exe</Data><Data Name={q}CommandLine{q}>{}</Data>\
         <Data Name={q}User{q}>{}</Data><Data Name={q}ParentImage{q}>C:\\Windows\\System32\\cmd.exe</Data></EventData></Event>",
        escape(image),
        escape(cmd),
        escape(user)
    )
}

/// A Security 4688 record in XmlWinEventLog form.
pub fn sec4688(host: &str, image: &str, cmd: &str, domain: &str, user: &str) -> String {
    format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
         <Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4688</EventID>\
         <TimeCreated SystemTime='2026-03-02T09:21:45.004Z'/><Channel>Security</Channel>\
         <Computer>{host}</Computer></System><EventData><Data Name='SubjectUserName'>{user}</Data>\
         <Data Name='SubjectDomainName'>{domain}</Data><Data Name='NewProcessName'>{}</Data>\
         <Data Name='CommandLine'>{}</Data><Data Name='ParentProcessName'>C:\\Windows\\System32\\cmd.exe</Data></EventData></Event>",
        escape(image),
        escape(cmd)
    )
}

/// A non-process event (Sysmon 3, network connection) whose data names a schtasks image.
pub fn sysmon3(host: &str) -> String {
    format!(
        "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>\
         <Provider Name=\"Microsoft-Windows-Sysmon\"/><EventID>3</EventID><Computer>{host}</Computer></System>\
         <EventData><Data Name=\"Image\">C:\\Windows\\System32\\schtasks.exe</Data>\
         <Data Name=\"CommandLine\">schtasks /create /s FAR /tn x /tr y</Data></EventData></Event>"
    )
}

pub const SCHTASKS: &str = r"C:\Windows\System32\schtasks.exe";
pub const REMOTE_CMD: &str =
    r#"schtasks /create /tn "Updater" /tr "C:\ProgramData\u.exe" /sc onstart /s FILESRV01"#;
pub const LOCAL_CMD: &str = r#"schtasks /create /tn "Backup" /tr "C:\b.cmd" /sc daily /st 09:00"#;

/// Runs `schtasksremote scan <args>` with `stdin` as standard input.
pub fn scan_cli(args: &[&std::ffi::OsStr], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_schtasksremote"))
        .arg("scan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    // The scanner may exit before reading everything (nothing to read on stdin).
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("the binary runs")
}

/// The `/s` target of each detection, in order.
pub fn remote_hosts(report: &schtasksremote::replay::InputReport) -> Vec<String> {
    report
        .detections
        .iter()
        .map(|d| match d.field("remote_host") {
            Some(schtasksremote::replay::Value::One(h)) => h.clone(),
            other => panic!("remote_host {other:?}"),
        })
        .collect()
}

/// The record number of each detection, in order.
pub fn detection_records(report: &schtasksremote::replay::InputReport) -> Vec<u64> {
    report
        .detections
        .iter()
        .map(|d| d.sighting.record)
        .collect()
}

/// `text` in UTF-16LE, after a byte-order mark when `bom`.
pub fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

/// `text` in UTF-16BE, after a byte-order mark when `bom`.
pub fn utf16be(text: &str, bom: bool) -> Vec<u8> {
    let mut out = if bom { vec![0xFE, 0xFF] } else { Vec::new() };
    out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
