//! Issue 13's acceptance test on the shared datasets: `scan` reports the OTRF
//! `schtask_create` attack as its source-side detection (Sysmon 1 and Security 4688
//! grouped) linked to one target-side detection on WORKSTATION6, the
//! `schtask_modification` change as one target-side detection, and nothing else new:
//! no target-side detection on any local task event (Empire's 4698, attack_data, the
//! EVTX samples).

mod scan_support;

use std::ffi::OsStr;

use scan_support::*;
use serde_json::Value;

/// The JSON objects `scan --format json` prints for these datasets, and its stderr.
fn scan_json(datasets: &[&str], extra: &[&str]) -> (Vec<Value>, String) {
    let paths: Vec<std::path::PathBuf> = datasets.iter().map(|d| dataset(d)).collect();
    let mut args: Vec<&OsStr> = vec![OsStr::new("--format"), OsStr::new("json")];
    args.extend(extra.iter().map(OsStr::new));
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let out = scan_cli(&args, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let objects = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    (objects, stderr)
}

fn s<'a>(o: &'a Value, key: &str) -> &'a str {
    o[key].as_str().unwrap_or_default()
}

fn sightings(o: &Value) -> Vec<String> {
    o["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| format!("{}:{}", s(x, "source"), x["record"]))
        .collect()
}

fn linked(o: &Value) -> Vec<String> {
    o["linked"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// OTRF SDWIN-201219070027: `schtasks /create … /S WORKSTATION6` on WORKSTATION5 (Sysmon
/// 1 and Security 4688), and on WORKSTATION6 a network logon from 172.18.39.5 and a 4698
/// whose RpcCallClientLocality and ClientProcessId are 0.
#[test]
fn the_otrf_remote_creation_is_seen_from_both_ends_and_linked() {
    let (objects, stderr) = scan_json(&[OTRF_CREATE], &[]);
    assert_eq!(objects.len(), 2, "{objects:#?}");
    let source = objects
        .iter()
        .find(|o| s(o, "detection_side") == "source")
        .expect("the source side");
    let target = objects
        .iter()
        .find(|o| s(o, "detection_side") == "target")
        .expect("the target side");
    assert_eq!(
        s(source, "detection_name"),
        "Schtasks scheduling job on remote system"
    );
    assert_eq!(s(source, "dest"), "WORKSTATION5.theshire.local");
    let sensors: Vec<i64> = source["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(sensors.len(), 2);
    assert!(
        sensors.contains(&1) && sensors.contains(&4688),
        "{sensors:?}"
    );

    assert_eq!(
        s(target, "detection_name"),
        "Remote Scheduled Task Creation via RPC"
    );
    assert_eq!(s(target, "dest"), "WORKSTATION6.theshire.local");
    assert_eq!(target["event_id"], 4698);
    assert_eq!(s(target, "src"), "172.18.39.5");
    // The task XML gives the fields the source side has from the command line.
    assert_eq!(s(target, "task_name"), s(source, "task_name"));
    assert_eq!(s(target, "task_action"), s(source, "task_action"));
    assert_eq!(s(target, "task_run_as"), "SYSTEM");
    assert_eq!(s(target, "task_author"), r"THESHIRE\pgustavo");

    // Each lists the other's sightings.
    assert_eq!(linked(target), sightings(source));
    assert_eq!(linked(source), sightings(target));
    assert!(
        stderr.contains(
            "lateral movement: WORKSTATION5.theshire.local -> WORKSTATION6.theshire.local: 1 linked pair"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("target seen by Security 4698"), "{stderr}");
    // The 4624's caller 172.18.39.5 is WORKSTATION5's address: the 5156 of schtasks.exe's
    // connection to WORKSTATION6:135 (outbound) in the same dataset says so.
    assert!(stderr.contains("source confirmed by address"), "{stderr}");
    // The edge is one line of the summary: its end is not escaped into the next line.
    let edge = stderr
        .lines()
        .find(|l| l.starts_with("lateral movement:"))
        .expect("an edge line");
    assert!(
        !edge.contains("\\n") && !edge.contains("skipped:"),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.starts_with("skipped:")),
        "{stderr}"
    );
}

/// OTRF SDWIN-201219075059: a remote change over COM (Blacksmith's Update-RemoteTask),
/// no schtasks.exe anywhere; WORKSTATION6 logs a 4702 with both RPC fields 0.
#[test]
fn the_otrf_remote_change_is_one_target_side_detection() {
    let (objects, stderr) = scan_json(&[OTRF_MODIFICATION], &[]);
    assert_eq!(objects.len(), 1, "{objects:#?}");
    let o = &objects[0];
    assert_eq!(
        s(o, "detection_name"),
        "Remote Scheduled Task Update via RPC"
    );
    assert_eq!(s(o, "detection_side"), "target");
    assert_eq!(s(o, "schtasks_operation"), "change");
    assert_eq!(o["event_id"], 4702);
    assert_eq!(s(o, "dest"), "WORKSTATION6.theshire.local");
    assert!(linked(o).is_empty());
    assert!(!stderr.contains("lateral movement:"), "{stderr}");
}

/// No local task event fires on the target side, and the source side finds nothing it
/// did not find before issue 13 (these datasets hold no remote operation at all).
#[test]
fn local_task_events_in_the_shared_datasets_are_not_detections() {
    let (objects, stderr) = scan_json(
        &[
            OTRF_EMPIRE,
            ATTACK_DATA,
            EVTX_RUNDLL32,
            EVTX_VSS,
            EVTX_MSHTA,
        ],
        &[],
    );
    assert!(objects.is_empty(), "{objects:#?}");
    assert!(stderr.contains(", 0 detections"), "{stderr}");
    // The Empire 4698 (a local `/Create /SC DAILY`) is judged: its verdict says why.
    let (verdicts, _) = scan_json(&[OTRF_EMPIRE], &["--verdicts"]);
    let task: Vec<&Value> = verdicts
        .iter()
        .filter(|o| s(o, "detection_side") == "target")
        .collect();
    assert_eq!(task.len(), 1, "{verdicts:#?}");
    assert_eq!(s(task[0], "detection_reason"), "no_rpc_caller_fields");
    assert_eq!(s(task[0], "task_name"), r"\MordorSchtask");
    assert!(s(task[0], "task_action").starts_with(r"C:\Windows\System32\WindowsPowerShell"));
}

/// `--link-window 0` links nothing; `--operations create` is the search command's
/// default set.
#[test]
fn linking_and_operations_are_options() {
    let (objects, stderr) = scan_json(&[OTRF_CREATE], &["--link-window", "0"]);
    assert_eq!(objects.len(), 2);
    assert!(objects.iter().all(|o| linked(o).is_empty()));
    assert!(!stderr.contains("lateral movement:"), "{stderr}");
    let (objects, _) = scan_json(&[OTRF_CREATE], &["--link-hosts", "exact"]);
    // The /S value is the short name, the 4698's host the FQDN.
    assert!(objects.iter().all(|o| linked(o).is_empty()));
    let out = scan_cli(
        &[
            OsStr::new("--operations"),
            OsStr::new("create,query"),
            dataset(OTRF_CREATE).as_os_str(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("\"query\" is not an operation"));
}

/// A Security 4624 as Splunk_TA_windows indexes it with `renderXml = false` (the layout
/// of Microsoft's "4624(S): An account was successfully logged on", values from the
/// OTRF schtask_create logon on WORKSTATION6).
fn classic_4624(address: &str) -> String {
    format!(
        "12/19/2020 07:00:22 AM\r\nLogName=Security\r\nEventCode=4624\r\n\
         ComputerName=WORKSTATION6.theshire.local\r\n\
         SourceName=Microsoft Windows security auditing.\r\n\
         Message=An account was successfully logged on.\r\n\r\n\
         Subject:\r\n\tSecurity ID:\t\tS-1-0-0\r\n\tAccount Name:\t\t-\r\n\
         \tAccount Domain:\t\t-\r\n\tLogon ID:\t\t0x0\r\n\r\n\
         Logon Information:\r\n\tLogon Type:\t\t3\r\n\tRestricted Admin Mode:\t-\r\n\r\n\
         New Logon:\r\n\tSecurity ID:\t\tS-1-5-21-3786818125-2382361537-3207726629-1104\r\n\
         \tAccount Name:\t\tpgustavo\r\n\tAccount Domain:\t\tTHESHIRE.LOCAL\r\n\
         \tLogon ID:\t\t0xEAD4335\r\n\tLinked Logon ID:\t\t0x0\r\n\r\n\
         Network Information:\r\n\tWorkstation Name:\t-\r\n\
         \tSource Network Address:\t{address}\r\n\tSource Port:\t\t56588\r\n"
    )
}

/// The same registration's 4698 in classic text: its message carries `ClientProcessId`
/// but no `RpcCallClientLocality`, so only the network logon can tell it was remote.
const CLASSIC_4698: &str = "12/19/2020 07:00:22 AM\r\nLogName=Security\r\nEventCode=4698\r\n\
ComputerName=WORKSTATION6.theshire.local\r\nSourceName=Microsoft Windows security auditing.\r\n\
Message=A scheduled task was created.\r\n\r\nSubject:\r\n\
\tSecurity ID:\t\tS-1-5-21-3786818125-2382361537-3207726629-1104\r\n\
\tAccount Name:\t\tpgustavo\r\n\tAccount Domain:\t\tTHESHIRE\r\n\tLogon ID:\t\t0xEAD4335\r\n\r\n\
Task Information:\r\n\tTask Name: \t\t\\EventCacheManager\r\n\
\tTask Content: \t\t<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n\
<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\r\n\
  <Actions Context=\"Author\">\r\n    <Exec>\r\n\
      <Command>C:\\Windows\\system32\\cmd.exe</Command>\r\n    </Exec>\r\n  </Actions>\r\n\
</Task>\r\n\r\nOther Information:\r\n\tProcessCreationTime: \t\t0\r\n\
\tClientProcessId: \t\t\t0\r\n\tParentProcessId: \t\t\t0\r\n\tFQDN: \t\t0\r\n";

/// The correlated rule in `scan` (older Windows, or classic events): a task registered
/// in a network logon from another machine is a detection; from the loopback address
/// it is not.
#[test]
fn a_classic_task_event_registered_in_a_network_logon_is_a_detection() {
    let dir = tempfile::tempdir().unwrap();
    for (address, expected) in [("172.18.39.5", 1), ("::1", 0)] {
        let path = dir.path().join("security.log");
        std::fs::write(&path, format!("{}{CLASSIC_4698}", classic_4624(address))).unwrap();
        let out = scan_cli(
            &[OsStr::new("--format"), OsStr::new("json"), path.as_os_str()],
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let objects: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objects.len(), expected, "{address}: {objects:#?}");
        if let Some(o) = objects.first() {
            assert_eq!(
                s(o, "detection_name"),
                "Scheduled Task Registered in a Network Logon"
            );
            assert_eq!(s(o, "detection_reason"), "network_logon_task");
            assert_eq!(s(o, "src"), address);
            assert_eq!(s(o, "user"), r"THESHIRE\pgustavo");
            assert_eq!(s(o, "task_action"), r"C:\Windows\system32\cmd.exe");
            assert_eq!(o["event_id"], 4698);
        }
    }
}

/// The OTRF `schtask_create` records, as one JSON-lines text (read from the shared zip).
fn otrf_create_lines() -> String {
    let file = std::fs::File::open(dataset(OTRF_CREATE)).expect("the OTRF dataset");
    let mut zip = zip::ZipArchive::new(file).expect("a zip");
    let mut member = zip.by_index(0).expect("one member");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut member, &mut text).expect("UTF-8 JSON lines");
    text
}

/// Scans `text` as a JSON-lines file and returns stderr (the summary with its edges).
fn scan_text(text: &str, name: &str) -> String {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the variant");
    let out = scan_cli(
        &[OsStr::new("--format"), OsStr::new("json"), path.as_os_str()],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    text_of(&out.stderr)
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Which host owns the 4624's caller address is learned only from connections
/// schtasks.exe made (issue 13: A through the 4624, by IP). In OTRF `schtask_create`
/// (SDWIN-201219070027) that is WORKSTATION5's 5156 with `Application`
/// `…\schtasks.exe`; its Sysmon 3 events name `<unknown process>`, and the Azure
/// agent's 5156s from the same address teach nothing. Rename the process in those
/// 5156s and the link still holds, by target and time only; spell it in another case
/// and the address is learned again.
#[test]
fn only_schtasks_own_connections_tell_which_host_owns_an_address() {
    let original = otrf_create_lines();
    let exe = r"\\windows\\system32\\schtasks.exe";
    assert!(
        original.contains(exe),
        "the dataset's 5156 names schtasks.exe"
    );
    let as_is = scan_text(&original, "as_is.json");
    assert!(as_is.contains("source confirmed by address"), "{as_is}");

    let renamed = scan_text(
        &original.replace(exe, r"\\windows\\system32\\svchost.exe"),
        "renamed.json",
    );
    assert!(renamed.contains("1 linked pair"), "{renamed}");
    assert!(!renamed.contains("confirmed by address"), "{renamed}");
    assert!(
        renamed.contains("source confirmed by target and time"),
        "{renamed}"
    );

    let shouted = scan_text(
        &original.replace(exe, r"\\WINDOWS\\SYSTEM32\\SCHTASKS.EXE"),
        "shouted.json",
    );
    assert!(shouted.contains("source confirmed by address"), "{shouted}");
}

/// A Security 5156 as XmlWinEventLog renders it (`Application` in the device-path form
/// the Windows Filtering Platform logs; `Direction` raw).
fn xml_5156(host: &str, application: &str, direction: &str) -> String {
    format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
         <Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>5156</EventID>\
         <Channel>Security</Channel><Computer>{host}</Computer></System><EventData>\
         <Data Name='ProcessID'>4242</Data><Data Name='Application'>{application}</Data>\
         <Data Name='Direction'>{direction}</Data><Data Name='SourceAddress'>10.1.2.3</Data>\
         <Data Name='SourcePort'>50123</Data><Data Name='DestAddress'>10.9.8.7</Data>\
         <Data Name='DestPort'>135</Data><Data Name='Protocol'>6</Data></EventData></Event>\n"
    )
}

/// The XML reader skips a connection event's `<EventData>` unless its bytes may name
/// schtasks (`cim::connection_may_matter`); what it learns must not depend on how the
/// name is spelled: an entity, another case, either direction.
#[test]
fn connection_addresses_are_learned_from_schtasks_only_however_the_name_is_spelled() {
    let learned = |xml: String| {
        let report = schtasksremote::replay::scan_reader(
            "inline.xml",
            xml.as_bytes(),
            &schtasksremote::replay::ScanOptions::default(),
        );
        assert_eq!(
            report.sources[0].other_events, 1,
            "counted as another event"
        );
        report.addresses.into_iter().collect::<Vec<_>>()
    };
    let pair = |host: &str, ip: &str| vec![(host.to_owned(), ip.to_owned())];
    let path = r"\device\harddiskvolume2\windows\system32\";
    let plain = format!("{path}schtasks.exe");
    assert_eq!(
        learned(xml_5156("WS5", &plain, "%%14593")),
        pair("WS5", "10.1.2.3")
    );
    assert_eq!(
        learned(xml_5156("WS6", &plain, "%%14592")),
        pair("WS6", "10.9.8.7")
    );
    let entity = format!("{path}&#83;ch&#x74;asks.exe");
    assert_eq!(
        learned(xml_5156("WS5", &entity, "%%14593")),
        pair("WS5", "10.1.2.3")
    );
    let upper = format!("{path}SCHTASKS.EXE");
    assert_eq!(
        learned(xml_5156("WS5", &upper, "%%14593")),
        pair("WS5", "10.1.2.3")
    );
    assert!(learned(xml_5156("WS5", &format!("{path}chrome.exe"), "%%14593")).is_empty());
    // Named in another field only (a task-scheduler-looking path), not the process.
    let elsewhere = format!("{path}svchost.exe</Data><Data Name='Note'>schtasks.exe");
    assert!(learned(xml_5156("WS5", &elsewhere, "%%14593")).is_empty());
}
