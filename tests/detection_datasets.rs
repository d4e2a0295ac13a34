//! The core on real events: `../shared/datasets/derived/schtasks_related_events.jsonl`
//! (32 flattened records from splunk/attack_data, OTRF Security-Datasets and
//! EVTX-ATTACK-SAMPLES; provenance in that folder's README). Each record goes through
//! the crate's one field mapping (`cim::FieldPlan`) with its own keys, as the scanner
//! reads it.

use schtasksremote::cim::FieldPlan;
use schtasksremote::detection::{analyze, Analysis, DetectorConfig, Operation, Reason};
use serde_json::{Map, Value};

const DATASET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/datasets/derived/schtasks_related_events.jsonl"
);

struct Record {
    fields: Map<String, Value>,
    analysis: Option<Analysis>,
}

impl Record {
    fn str(&self, key: &str) -> &str {
        self.fields.get(key).and_then(Value::as_str).unwrap_or("")
    }
    fn event_id(&self) -> i64 {
        self.fields
            .get("EventID")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn records() -> Vec<Record> {
    let data =
        std::fs::read_to_string(DATASET).unwrap_or_else(|e| panic!("cannot read {DATASET}: {e}"));
    data.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Map<String, Value> = serde_json::from_str(line).expect("a JSON object");
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            let values: Vec<String> = fields.values().map(text).collect();
            let plan = FieldPlan::from_names(names);
            let mapped = plan.map(|i| values.get(i).map(String::as_str));
            let analysis = analyze(&mapped.as_event(), &DetectorConfig::default());
            Record { fields, analysis }
        })
        .collect()
}

#[test]
fn the_dataset_is_the_one_described() {
    let all = records();
    assert_eq!(all.len(), 32);
    let schtasks = all.iter().filter(|r| r.analysis.is_some()).count();
    // 8 attack_data + 2 OTRF schtask_create + 2 OTRF Empire + 3 EVTX-ATTACK-SAMPLES.
    assert_eq!(schtasks, 15);
}

#[test]
fn both_otrf_remote_creations_are_detections_and_nothing_else_is() {
    let all = records();
    let hits: Vec<&Record> = all
        .iter()
        .filter(|r| r.analysis.as_ref().is_some_and(Analysis::is_detection))
        .collect();
    assert_eq!(hits.len(), 2, "exactly the Sysmon and 4688 events");
    let mut ids: Vec<i64> = hits.iter().map(|r| r.event_id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 4688]);
    for r in hits {
        assert!(r
            .str("dataset")
            .contains("lateral_movement/host/schtask_create.zip"));
        let a = r.analysis.as_ref().unwrap();
        assert_eq!(a.remote_host.as_deref(), Some("WORKSTATION6"));
        assert_eq!(a.remote_host_normalized.as_deref(), Some("workstation6"));
        assert_eq!(
            a.task_name.as_deref(),
            Some(r"\Microsoft\Windows\SoftwareProtectionPlatform\EventCacheManager")
        );
        assert_eq!(a.schedule.as_deref(), Some("ONSTART"));
        assert_eq!(a.run_as.as_deref(), Some("system"));
        assert!(a.risk_message.ends_with(
            r"/S WORKSTATION6 in host WORKSTATION5.theshire.local by THESHIRE\pgustavo."
        ));
    }
}

#[test]
fn the_attack_data_localhost_creation_is_loopback_not_remote() {
    let all = records();
    let localhost: Vec<&Analysis> = all
        .iter()
        .filter_map(|r| r.analysis.as_ref())
        .filter(|a| a.operation == Some(Operation::Create) && a.remote_host.is_some())
        .filter(|a| a.remote_host.as_deref() == Some("localhost"))
        .collect();
    assert_eq!(localhost.len(), 1);
    assert_eq!(localhost[0].reason, Reason::LoopbackTarget);
    assert!(localhost[0].password_supplied);
    assert!(localhost[0].process_masked.contains("/RP **** /TN"));
}

#[test]
fn every_local_creation_is_not_a_detection() {
    let all = records();
    let local: Vec<&Record> = all
        .iter()
        .filter(|r| {
            r.analysis
                .as_ref()
                .is_some_and(|a| a.operation == Some(Operation::Create) && a.remote_host.is_none())
        })
        .collect();
    // attack_data 3, Empire 2, EVTX mshta, VSS and XML: 8 local creations.
    assert_eq!(local.len(), 8);
    for r in local {
        assert_eq!(
            r.analysis.as_ref().unwrap().reason,
            Reason::NoTargetSystem,
            "{}",
            r.str("CommandLine")
        );
    }
}

#[test]
fn other_operations_and_parent_shells_are_not_detections() {
    let all = records();
    for r in &all {
        let line = r.str("CommandLine").to_ascii_lowercase();
        match &r.analysis {
            // cmd.exe /c "schtasks /create ..." is judged through schtasks.exe's own event.
            None => assert!(
                !r.str("Image")
                    .to_ascii_lowercase()
                    .ends_with("schtasks.exe")
                    && !r
                        .str("NewProcessName")
                        .to_ascii_lowercase()
                        .ends_with("schtasks.exe"),
                "{line}"
            ),
            Some(a) if line.contains("/delete") => {
                assert_eq!(
                    a.reason,
                    Reason::NotCreate(Some(Operation::Delete)),
                    "{line}"
                );
            }
            Some(_) => {}
        }
    }
}
