//! The Splunk Python SDK (splunk-sdk, pinned in .ci/requirements.txt) reads our replies
//! with its own chunk reader and record reader: a real peer, not only our parser.
//! The driver is tests/scp_python_peer.py; the interpreter comes from
//! SCHTASKSREMOTE_PYTHON (set by .ci/test).

mod scp_support;

use std::process::Command;

use schtasksremote::cim::FieldPlan;
use schtasksremote::command::options;
use schtasksremote::detection::{analyze, FieldValue};
use scp_support::*;
use serde_json::{json, Map, Value};

#[test]
fn splunk_sdk_reads_our_replies_rows_multivalues_and_errors() {
    let Some(python) = python() else { return };

    // A detection, with the values the core gives it, read back through the SDK's
    // `__mv_` decoding.
    let names = ["_time", "process_name", "process", "dest", "user"];
    let values = [
        "1700000000",
        "schtasks.exe",
        r#"schtasks.exe /create /s "10.1.2.3" /u CORP\adm /tn "Up,date" /tr "C:\t\a.exe" /sc once /st 00:00"#,
        "ws-1",
        r"CORP\adm",
    ];
    let plan = FieldPlan::from_names(names);
    let event = plan.map(|i| values.get(i).copied());
    // The option parser builds the detector settings, as the command does.
    let config = options::parse(&["risk_score=77".to_string()])
        .unwrap()
        .detector;
    let analysis = analyze(&event.as_event(), &config)
        .filter(|a| a.is_detection())
        .expect("the core detects a remote /create");
    let mut expect = Map::new();
    for (name, value) in analysis.fields() {
        let v = match value {
            FieldValue::Empty => json!(""),
            FieldValue::One(s) => json!(s),
            FieldValue::Many(list) if list.len() == 1 => json!(list[0]),
            FieldValue::Many(list) => json!(list),
        };
        expect.insert(name.to_string(), v);
    }
    for (n, v) in names.iter().zip(values) {
        expect.insert(n.to_string(), json!(v));
    }
    assert_eq!(expect["risk_score"], "77");
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(names).unwrap();
    w.write_record(values).unwrap();
    let body = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let case = json!({"args": ["risk_score=77"], "body": body, "expect": Value::Object(expect)});
    let dir = tempfile::tempdir().unwrap();
    let case_path = dir.path().join("case.json");
    std::fs::write(&case_path, case.to_string()).unwrap();

    let out = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/scp_python_peer.py"
        ))
        .arg(BIN)
        .arg(shared(
            "scp-vectors/tests/unit/data/custom_search/multibyte_input.gz",
        ))
        .arg(&case_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "peer failed:\n{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim(),
        "ok: 9 chunks, 40682 rows read back by splunk-sdk"
    );
}
