//! Issue 13, the search command's spec tables: `/change /s` and `/run /s` are
//! detections only when `operations=` names them (`/create` always is, ESCU's rule);
//! Security 4698/4702 rows are judged on the target side by their RPC fields (both 0,
//! one of them non-zero, absent), under raw XmlWinEventLog names and classic ones.

mod scp_support;

use scp_support::*;

/// One SCP session over `body` with `args`; the (detection_name, detection_reason,
/// detection_side) of each row that comes back, in order.
fn verdicts(args: &[&str], body: &str) -> Vec<(String, String, String)> {
    let mut stream = getinfo(args);
    stream.extend_from_slice(&execute(true, body.as_bytes()));
    let run = run(&stream);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let replies = run.replies();
    let rows = replies[1].records();
    let Some(header) = rows.first() else {
        return Vec::new();
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|n| n == name.as_bytes())
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (name, reason, side) = (
        col("detection_name"),
        col("detection_reason"),
        col("detection_side"),
    );
    rows[1..]
        .iter()
        .map(|r| {
            let text = |i: usize| String::from_utf8_lossy(&r[i]).into_owned();
            (text(name), text(reason), text(side))
        })
        .collect()
}

fn process_rows(lines: &[&str]) -> String {
    let mut body = String::from("process_name,process,dest\n");
    for line in lines {
        body.push_str(&format!(
            "schtasks.exe,\"{}\",WS5\n",
            line.replace('"', "\"\"")
        ));
    }
    body
}

#[test]
fn change_and_run_on_a_remote_host_are_detections_only_when_named_in_operations() {
    let lines = [
        r"schtasks /change /s WS6 /tn \Microsoft\Windows\T /tr c:\evil.exe",
        r"schtasks /run /s \\WS6 /tn \Microsoft\Windows\T",
        r"schtasks /create /s WS6 /tn T /tr c:\a.exe /sc once",
        r"schtasks /change /s localhost /tn T /tr c:\a.exe",
        r"schtasks /run /tn T",
        r"schtasks /query /s WS6",
    ];
    let body = process_rows(&lines);
    let create = (
        "Schtasks scheduling job on remote system".to_string(),
        "remote_create".to_string(),
        "source".to_string(),
    );
    // The default is ESCU's rule: only the /create.
    assert_eq!(verdicts(&[], &body), std::slice::from_ref(&create));
    let change = (
        "Schtasks changing job on remote system".to_string(),
        "remote_change".to_string(),
        "source".to_string(),
    );
    let run = (
        "Scheduled Task Initiation on Remote Endpoint".to_string(),
        "remote_run".to_string(),
        "source".to_string(),
    );
    assert_eq!(
        verdicts(&["operations=change"], &body),
        [change.clone(), create.clone()]
    );
    assert_eq!(
        verdicts(&["operations=run"], &body),
        [run.clone(), create.clone()]
    );
    assert_eq!(verdicts(&["operations=all"], &body), [change, run, create]);
    // Annotate: the local /change and the /run without /s say why they are not ones.
    let all = verdicts(&["operations=all", "action=annotate"], &body);
    let reasons: Vec<&str> = all.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "remote_change",
            "remote_run",
            "remote_create",
            "loopback_target",
            "no_target_system",
            "not_create"
        ]
    );
}

/// The OTRF schtask_create 4698 (WORKSTATION6), with its RPC fields varied: the spec
/// table of the one-event rule.
const TASK_XML: &str = r#"<?xml version="1.0" encoding="UTF-16"?><Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><RegistrationInfo><Author>THESHIRE\pgustavo</Author></RegistrationInfo><Triggers><BootTrigger/></Triggers><Actions><Exec><Command>C:\Windows\system32\cmd.exe</Command><Arguments>/C C:\Windows\System32\notepad.exe</Arguments></Exec></Actions><Principals><Principal><UserId>S-1-5-18</UserId></Principal></Principals></Task>"#;

fn csv_field(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

#[test]
fn task_events_are_detections_only_when_both_rpc_fields_are_zero() {
    let header = "EventCode,Channel,Computer,SubjectDomainName,SubjectUserName,SubjectLogonId,TaskName,TaskContent,RpcCallClientLocality,ClientProcessId\n";
    let table = [
        (
            "4698",
            "0",
            "0",
            Some(("Remote Scheduled Task Creation via RPC", "remote_rpc_task")),
        ),
        (
            "4702",
            "0",
            "0",
            Some(("Remote Scheduled Task Update via RPC", "remote_rpc_task")),
        ),
        ("4698", "1", "0", None),
        ("4698", "0", "5520", None),
        ("4698", "", "", None),
        ("4702", "", "0", None),
    ];
    for (eid, locality, pid, expected) in table {
        let body = format!(
            "{header}{eid},Security,WORKSTATION6.theshire.local,THESHIRE,pgustavo,0xead4335,\\T,{},{locality},{pid}\n",
            csv_field(TASK_XML)
        );
        let got = verdicts(&[], &body);
        let want: Vec<(String, String, String)> = expected
            .map(|(n, r)| (n.to_string(), r.to_string(), "target".to_string()))
            .into_iter()
            .collect();
        assert_eq!(got, want, "{eid} locality={locality:?} pid={pid:?}");
    }
}

#[test]
fn a_detected_task_event_carries_the_task_fields_from_its_xml() {
    let body = format!(
        "EventCode,Computer,SubjectDomainName,SubjectUserName,TaskName,TaskContent,RpcCallClientLocality,ClientProcessId\n\
         4698,WORKSTATION6,THESHIRE,pgustavo,\\T,{},0,0\n",
        csv_field(TASK_XML)
    );
    let mut stream = getinfo(&[]);
    stream.extend_from_slice(&execute(true, body.as_bytes()));
    let run = run(&stream);
    let rows = run.replies()[1].records();
    let get = |name: &str| {
        let i = rows[0].iter().position(|n| n == name.as_bytes()).unwrap();
        String::from_utf8_lossy(&rows[1][i]).into_owned()
    };
    assert_eq!(get("task_name"), r"\T");
    assert_eq!(
        get("task_action"),
        r"C:\Windows\system32\cmd.exe /C C:\Windows\System32\notepad.exe"
    );
    assert_eq!(get("task_run_as"), "SYSTEM");
    assert_eq!(get("task_schedule"), "onstart");
    assert_eq!(get("task_author"), r"THESHIRE\pgustavo");
    assert_eq!(get("schtasks_operation"), "create");
    assert_eq!(get("risk_score"), "56");
    assert_eq!(
        get("risk_message"),
        r"Scheduled task \T was created on WORKSTATION6 by THESHIRE\pgustavo over RPC from a remote client."
    );
    // The input row comes back byte for byte before our fields.
    assert!(rows[1]
        .iter()
        .take(8)
        .eq(records(body.as_bytes())[1].iter()));
}

/// Classic (`renderXml = false`) names: `Task_Name`, `Task_Content`, `ClientProcessId`;
/// the classic message has no `RpcCallClientLocality`, so the one-event rule cannot
/// fire there (only the correlated saved search can).
#[test]
fn classic_task_events_lack_the_locality_field_and_are_not_one_event_detections() {
    let body = format!(
        "EventCode,LogName,ComputerName,Account_Domain,Account_Name,Task_Name,Task_Content,ClientProcessId\n\
         4698,Security,WORKSTATION6,THESHIRE,pgustavo,\\T,{},0\n",
        csv_field(TASK_XML)
    );
    let all = verdicts(&["action=annotate"], &body);
    assert_eq!(
        all,
        [(
            String::new(),
            "no_rpc_caller_fields".to_string(),
            "target".to_string()
        )]
    );
}

#[test]
fn a_write_to_the_atsvc_pipe_is_a_detection_and_other_share_access_is_not() {
    let body = "EventCode,Channel,Computer,SubjectUserName,ShareName,RelativeTargetName,AccessList,IpAddress\n\
                5145,Security,DC1,adm,\\\\*\\IPC$,atsvc,%%4417,10.0.0.5\n\
                5145,Security,DC1,adm,\\\\*\\IPC$,srvsvc,%%4417,10.0.0.5\n\
                5145,Security,DC1,adm,\\\\*\\SYSVOL,atsvc,%%4417,10.0.0.5\n";
    assert_eq!(
        verdicts(&[], body),
        [(
            "Remote Task Creation via ATSVC Named Pipe".to_string(),
            "atsvc_pipe_write".to_string(),
            "target".to_string()
        )]
    );
}
