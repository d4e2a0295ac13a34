//! Issue 10 through the search command: examples 1, 2 and 5 as splunkd sends them
//! (one CSV chunk with the fields Splunk extracted), and kind B (a process creation
//! that cannot be judged gets one inspector WARN per search, or an error with
//! `strict=true`).

mod scp_support;

use csv::ByteRecord;
use scp_support::*;

/// One session: getinfo with `args`, then each body as an execute chunk.
fn session(args: &[&str], bodies: &[&[u8]]) -> Run {
    let mut stream = getinfo(args);
    for (i, body) in bodies.iter().enumerate() {
        stream.extend_from_slice(&execute(i + 1 == bodies.len(), body));
    }
    run(&stream)
}

/// The value of `name` in each output row.
fn column(records: &[ByteRecord], name: &str) -> Vec<String> {
    let header = &records[0];
    let i = header
        .iter()
        .position(|h| h == name.as_bytes())
        .unwrap_or_else(|| panic!("no column {name}"));
    records[1..]
        .iter()
        .map(|r| String::from_utf8_lossy(&r[i]).into_owned())
        .collect()
}

/// The detection rows of a one-chunk session in the default filter mode.
fn detections(args: &[&str], body: &[u8]) -> (Vec<ByteRecord>, Vec<(String, String)>) {
    let run = session(args, &[body]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let replies = run.replies();
    let reply = replies.last().expect("an execute reply");
    (reply.records(), reply.messages())
}

/// Issue 10 example 1: winlogbeat's Sysmon module events in Splunk (KV_MODE=json), whose
/// fields are the ECS dotted paths. `host` is the forwarder, not the event's computer.
#[test]
fn example_1_winlogbeat_ecs_fields_are_a_detection_of_host2() {
    let body = b"_time,host,event.code,event.module,process.command_line,process.executable,process.name,process.pe.original_file_name,process.parent.name,user.domain,user.name,winlog.channel,winlog.computer_name\n\
1603828814,fwd01,1,sysmon,schtasks /create /s HOST2 /tn Updater /tr C:\\ProgramData\\upd.exe /sc once /st 00:00,C:\\Windows\\System32\\schtasks.exe,schtasks.exe,schtasks.exe,cmd.exe,CORP,user1,Microsoft-Windows-Sysmon/Operational,wks01.corp.example\n";
    let (records, messages) = detections(&[], body);
    assert!(messages.is_empty(), "{messages:?}");
    assert_eq!(column(&records, "remote_host"), ["HOST2"]);
    assert_eq!(
        column(&records, "risk_message"),
        ["A schedule task process schtasks.exe with remote job command-line schtasks /create /s HOST2 /tn Updater /tr C:\\ProgramData\\upd.exe /sc once /st 00:00 in host wks01.corp.example by CORP\\user1."]
    );
}

/// Issue 10 example 2: classic (`renderXml=false`) WinEventLog as Splunk_TA_windows
/// extracts it. Before, the chunk got "no field naming the process" and no detection.
#[test]
fn example_2_classic_wineventlog_fields_are_a_detection_of_host2() {
    let body = b"_time,EventCode,ComputerName,Account_Name,New_Process_Name,Creator_Process_Name,Process_Command_Line\n\
1772443305,4688,wks01.corp.example,jdoe,C:\\Windows\\System32\\schtasks.exe,C:\\Windows\\System32\\cmd.exe,schtasks /create /s HOST2 /tn t /tr c:\\a.exe /sc once\n\
1772443306,4688,wks01.corp.example,jdoe,C:\\Windows\\System32\\notepad.exe,C:\\Windows\\explorer.exe,notepad.exe\n";
    let (records, messages) = detections(&[], body);
    assert!(messages.is_empty(), "{messages:?}");
    assert_eq!(column(&records, "remote_host"), ["HOST2"]);
    assert_eq!(column(&records, "EventCode"), ["4688"]);
}

/// Issue 10 example 5: `index=sysmon EventCode=1 | table _time host Image CommandLine
/// User | schtasksremote`. `host` names the machine: `/S <own name>` is not remote, and
/// the risk message names the host.
#[test]
fn example_5_splunk_host_is_dest() {
    let body = b"_time,host,Image,CommandLine,User\n\
1772443305,WKS01,C:\\Windows\\System32\\schtasks.exe,schtasks /create /s wks01 /tn t /tr c:\\a.exe /sc once,CORP\\jdoe\n\
1772443306,WKS01,C:\\Windows\\System32\\schtasks.exe,schtasks /create /s HOST2 /tn t /tr c:\\a.exe /sc once,CORP\\jdoe\n";
    let (records, _) = detections(&["action=annotate"], body);
    // Annotate mode gives the non-detection its reason too (issue 12 item 1).
    assert_eq!(
        column(&records, "detection_reason"),
        ["self_target", "remote_create"]
    );
    let message = &column(&records, "risk_message")[1];
    assert!(
        message.ends_with(" in host WKS01 by CORP\\jdoe."),
        "{message}"
    );
}

/// Kind B: 4688 rows whose names the mapping does not know are process creations that
/// cannot be judged: one WARN per search, naming the row, what is missing and the
/// options that supply it; the rows still pass through untouched with `action=annotate`.
#[test]
fn unknown_names_on_a_process_creation_get_one_warning_per_search() {
    let body: &[u8] = b"EventCode,source,Exe,Cmd\n4688,WinEventLog:Security,schtasks.exe,schtasks /create /s H2\n4688,WinEventLog:Security,cmd.exe,cmd\n";
    let run = session(&["action=annotate"], &[body, body]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let replies = run.replies();
    let warnings: Vec<Vec<(String, String)>> = replies[1..].iter().map(|r| r.messages()).collect();
    let first = &warnings[0];
    // The chunk names no process field at all, which has its own warning.
    assert!(first
        .iter()
        .any(|(_, m)| m.contains("no field naming the process")));
    assert!(
        first.contains(&(
            "WARN".to_string(),
            "schtasksremote: a process creation cannot be judged: row 1 of the results \
             (source=WinEventLog:Security) has no command line (CIM process); name the field \
             that holds it with process_field=<field>; strict=true makes this an error"
                .to_string()
        )),
        "{first:?}"
    );
    assert!(warnings[1].is_empty(), "once per search: {warnings:?}");
    // Every such row is counted in the job inspector, chunk by chunk.
    for reply in &replies[1..] {
        assert_eq!(reply.metric("schtasksremote.unjudged")[2..], [2.0, 2.0]);
    }
    assert_eq!(replies[1].records()[1..].len(), 2, "rows pass untouched");

    // Naming the fields makes the rows judgeable and the first a detection.
    let (records, messages) = detections(&["process_field=Cmd", "process_name_field=Exe"], body);
    assert!(messages.is_empty(), "{messages:?}");
    assert_eq!(column(&records, "remote_host"), ["H2"]);
}

/// Kind B: other events lacking process fields are not warned about.
#[test]
fn other_events_without_process_fields_are_not_unjudged() {
    let body = b"EventCode,source,Image,CommandLine\n4624,WinEventLog:Security,,\n22,XmlWinEventLog:Microsoft-Windows-Sysmon/Operational,C:\\x.exe,\n";
    let (_, messages) = detections(&[], body);
    assert!(messages.is_empty(), "{messages:?}");
}

#[test]
fn strict_makes_an_unjudged_process_creation_an_error_naming_it() {
    let body = b"_time,host,Image,CommandLine\n1,ws1,C:\\Windows\\System32\\schtasks.exe,schtasks /query\n2,ws1,C:\\Windows\\System32\\schtasks.exe,\n";
    let run = session(&["strict=true"], &[body]);
    let reply = run.error_reply();
    assert_eq!(
        reply.meta["error"],
        "schtasksremote: a process creation cannot be judged: row 2 of the results has no \
         command line (CIM process); name the field that holds it with process_field=<field> \
         (strict=true)"
    );
}
