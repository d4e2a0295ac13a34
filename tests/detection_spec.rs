//! The detection specification (`detection_cases::CASES`, one row per behaviour)
//! checked against the core, plus the output-field rules that every row shares.

mod detection_cases;

use detection_cases::{Case, Verdict, CASES};
use schtasksremote::detection::{
    analyze, is_schtasks, DetectorConfig, FieldValue, ProcessEvent, Reason, OUTPUT_FIELDS,
};

fn event(case: &Case) -> ProcessEvent<'static> {
    ProcessEvent {
        process_name: case.process_name,
        process_path: case.process_path,
        original_file_name: case.original_file_name,
        process: case.line,
        dest: case.dest,
        user: r"CORP\adm",
        ..Default::default()
    }
}

fn verdict(case: &Case) -> (Verdict, Vec<&'static str>) {
    match analyze(&event(case), &DetectorConfig::default()) {
        None => (Verdict::NotSchtasks, Vec::new()),
        Some(a) => {
            let markers = a.evasions.iter().map(|e| e.as_str()).collect();
            let v = if a.is_detection() {
                Verdict::Detect
            } else {
                Verdict::Not(a.reason)
            };
            (v, markers)
        }
    }
}

#[test]
fn every_row_of_the_specification_table_holds() {
    let mut failures = Vec::new();
    for case in CASES {
        let (got, markers) = verdict(case);
        if got != case.verdict || markers != case.markers {
            failures.push(format!(
                "{}\n    line: {}\n    dest: {:?}\n    want {:?} {:?} ({})\n    got  {:?} {:?}",
                case.name, case.line, case.dest, case.verdict, case.markers, case.why, got, markers
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_table_is_a_full_specification() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let detections = CASES
        .iter()
        .filter(|c| c.verdict == Verdict::Detect)
        .count();
    let count = |r: Reason| {
        CASES
            .iter()
            .filter(|c| c.verdict == Verdict::Not(r.clone()))
            .count()
    };
    assert!(detections >= 20);
    for r in [
        Reason::NoTargetSystem,
        Reason::EmptyTargetSystem,
        Reason::LoopbackTarget,
        Reason::SelfTarget,
    ] {
        assert!(count(r.clone()) >= 3, "{r:?}");
    }
    for m in [
        "dash_prefix",
        "unicode_dash",
        "nfkc_folded",
        "quote_insertion",
        "renamed_binary",
    ] {
        assert!(CASES.iter().any(|c| c.markers.contains(&m)), "{m}");
    }
    let names: std::collections::HashSet<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), CASES.len(), "case names are unique");
}

#[test]
fn is_schtasks_agrees_with_analyze_on_every_row() {
    for case in CASES {
        let e = event(case);
        assert_eq!(
            is_schtasks(&e),
            analyze(&e, &DetectorConfig::default()).is_some(),
            "{}",
            case.name
        );
    }
}

#[test]
fn risk_message_only_on_detections_and_passwords_never_leave_the_core() {
    for case in CASES {
        let Some(a) = analyze(&event(case), &DetectorConfig::default()) else {
            continue;
        };
        assert_eq!(
            a.is_detection(),
            !a.risk_message.is_empty(),
            "{}",
            case.name
        );
        let fields = a.fields();
        assert_eq!(fields.clone().map(|(n, _)| n), OUTPUT_FIELDS);
        for secret in ["S3cret!", "I-l1ke-Attack-Range!", "At0micStrong"] {
            if !case.line.contains(secret) {
                continue;
            }
            for (name, value) in &fields {
                let text = match value {
                    FieldValue::Empty => String::new(),
                    FieldValue::One(s) => s.to_string(),
                    FieldValue::Many(l) => l.join("\n"),
                };
                assert!(!text.contains(secret), "{}: {name} leaks", case.name);
            }
            assert!(!a.argv.iter().any(|v| v.contains(secret)), "{}", case.name);
            assert!(a.password_supplied, "{}", case.name);
        }
    }
}

#[test]
fn risk_message_renders_escu_template_with_masked_process() {
    let e = ProcessEvent {
        process_name: "schtasks.exe",
        process: r#"schtasks /create /s 10.0.0.5 /u CORP\adm /p "pa ss" /tn Updater /tr C:\temp\a.exe /sc once"#,
        dest: "ws-1",
        user: r"CORP\adm",
        ..Default::default()
    };
    let a = analyze(&e, &DetectorConfig::default()).unwrap();
    assert_eq!(
        a.risk_message,
        r"A schedule task process schtasks.exe with remote job command-line schtasks /create /s 10.0.0.5 /u CORP\adm /p **** /tn Updater /tr C:\temp\a.exe /sc once in host ws-1 by CORP\adm."
    );
    assert_eq!(
        a.process_masked,
        r"schtasks /create /s 10.0.0.5 /u CORP\adm /p **** /tn Updater /tr C:\temp\a.exe /sc once"
    );
    // The event itself is untouched.
    assert!(e.process.contains("pa ss"));
}

#[test]
fn password_supplied_only_for_a_real_value() {
    let supplied = |line: &str| {
        let e = ProcessEvent {
            process_name: "schtasks.exe",
            process: line,
            ..Default::default()
        };
        analyze(&e, &DetectorConfig::default())
            .unwrap()
            .password_supplied
    };
    assert!(supplied("schtasks /create /s h /u a /p x /tn t"));
    assert!(supplied("schtasks /create /s h /ru a /rp x /tn t"));
    assert!(!supplied("schtasks /create /s h /u a /p /tn t"));
    assert!(!supplied("schtasks /create /s h /ru a /rp * /tn t"));
    assert!(!supplied("schtasks /create /s h /tn t"));
}

#[test]
fn task_fields_come_from_their_switches_whatever_the_spelling() {
    let e = ProcessEvent {
        process_name: "schtasks.exe",
        process: "schtasks -create \u{2013}S \\\\FileSrv01 /TN \"\\Microsoft\\Up date\" /tr \"cmd /s /c x\" -sc ONCE /Ru SYSTEM -u CORP\\adm /xml c:\\t.xml",
        ..Default::default()
    };
    let a = analyze(&e, &DetectorConfig::default()).unwrap();
    assert_eq!(a.remote_host.as_deref(), Some(r"\\FileSrv01"));
    assert_eq!(a.remote_host_normalized.as_deref(), Some("filesrv01"));
    assert_eq!(a.task_name.as_deref(), Some(r"\Microsoft\Up date"));
    assert_eq!(a.task_action.as_deref(), Some("cmd /s /c x"));
    assert_eq!(a.schedule.as_deref(), Some("ONCE"));
    assert_eq!(a.run_as.as_deref(), Some("SYSTEM"));
    assert_eq!(a.connect_user.as_deref(), Some(r"CORP\adm"));
    assert_eq!(a.xml_file.as_deref(), Some(r"c:\t.xml"));
    let fields = a.fields();
    assert_eq!(fields[5].1, FieldValue::One("create".into()));
    assert_eq!(
        fields[15].1,
        FieldValue::Many(vec!["dash_prefix", "unicode_dash"])
    );
}
