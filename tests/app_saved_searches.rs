//! Issue 13: every shipped saved search (ESCU's and the new detections) has ESCU's shape,
//! names a detection the command makes with that detection's risk score, makes the
//! target host a risk object beside `dest` and `user`, and calls only macros the app
//! defines (or Splunk_SA_CIM's `drop_dm_object_name`) and only options the command
//! accepts.

mod app_support;

use app_support::*;
use schtasksremote::command::options;
use schtasksremote::detection::{Kind, Side};
use serde_json::Value;

const ESCU: &str = "schtasksremote - Schtasks scheduling job on remote system - Rule";

fn saved_searches() -> Vec<Stanza> {
    parse_conf(&repo("default/savedsearches.conf"))
}

/// The [`Kind`] a saved search is for, by its rule title (`Remote Scheduled Task
/// Registration via RPC` covers both the creation and the update kinds).
fn kinds_of(title: &str) -> Vec<Kind> {
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| k.name() == title)
        .collect();
    if !kinds.is_empty() {
        return kinds;
    }
    assert_eq!(title, "Remote Scheduled Task Registration via RPC");
    vec![Kind::RpcTaskCreated, Kind::RpcTaskUpdated]
}

#[test]
fn every_detection_kind_has_one_saved_search_in_escus_shape() {
    let all = saved_searches();
    let escu = stanza(&all, ESCU);
    let mut covered = Vec::new();
    for search in &all {
        assert_eq!(search.keys(), escu.keys(), "[{}] keys", search.name);
        let title = search.get("action.notable.param.rule_title").unwrap();
        assert_eq!(
            search.name,
            format!("schtasksremote - {title} - Rule"),
            "stanza name"
        );
        assert_eq!(search.get("disabled"), Some("true"), "[{}]", search.name);
        covered.extend(kinds_of(title));
        let meta: Value =
            serde_json::from_str(search.get("action.correlationsearch.metadata").unwrap()).unwrap();
        assert!(meta["detection_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36));
    }
    covered.sort_by_key(|k| Kind::ALL.iter().position(|x| x == k));
    assert_eq!(covered, Kind::ALL, "one saved search per detection kind");
    let ids: std::collections::BTreeSet<String> = all
        .iter()
        .map(|s| {
            let meta: Value =
                serde_json::from_str(s.get("action.correlationsearch.metadata").unwrap()).unwrap();
            meta["detection_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), all.len(), "detection IDs are unique");
}

#[test]
fn the_target_host_is_a_risk_object_beside_dest_and_user_with_the_kinds_score() {
    for search in saved_searches() {
        let title = search.get("action.notable.param.rule_title").unwrap();
        let kinds = kinds_of(title);
        let risk: Value = serde_json::from_str(search.get("action.risk.param._risk").unwrap())
            .unwrap_or_else(|e| panic!("[{}] risk JSON: {e}", search.name));
        let objects: Vec<(&str, &str, u64)> = risk
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| {
                Some((
                    o["risk_object_field"].as_str()?,
                    o["risk_object_type"].as_str()?,
                    o["risk_score"].as_u64()?,
                ))
            })
            .collect();
        let score = u64::from(kinds[0].risk_score());
        // On the source side the target host is the `/s` value; on the target side it
        // is the host that logged the event, `dest`.
        let target_host = match kinds[0].side() {
            Side::Source => "remote_host_normalized",
            Side::Target => "dest",
        };
        for (field, kind) in [
            ("dest", "system"),
            (target_host, "system"),
            ("user", "user"),
        ] {
            assert!(
                objects.contains(&(field, kind, score)),
                "[{}] lacks {field} ({kind}, {score}): {objects:?}",
                search.name
            );
        }
        let mitre: Value =
            serde_json::from_str(search.get("action.escu.mappings").unwrap()).unwrap();
        assert_eq!(
            mitre["mitre_attack"],
            serde_json::json!(kinds[0].mitre_technique_ids()),
            "[{}]",
            search.name
        );
    }
}

#[test]
fn every_search_calls_defined_macros_and_accepted_options() {
    let macros = parse_conf(&repo("default/macros.conf"));
    let defined: Vec<&str> = macros.iter().map(|s| s.name.as_str()).collect();
    for search in saved_searches() {
        let spl = search.get("search").unwrap();
        let parts: Vec<&str> = spl.split('`').collect();
        assert!(
            parts.len() % 2 == 1,
            "[{}] unbalanced backticks",
            search.name
        );
        for call in parts.iter().skip(1).step_by(2) {
            let name = match call.split_once('(') {
                Some((name, _)) => format!("{name}(1)"),
                None => call.to_string(),
            };
            assert!(
                name == "drop_dm_object_name(1)" || defined.contains(&name.as_str()),
                "[{}] calls `{name}`, which is not defined",
                search.name
            );
        }
        for segment in spl.split('|').skip(1) {
            let mut words = segment.split_whitespace();
            if words.next() == Some("schtasksremote") {
                let args: Vec<String> = words.map(String::from).collect();
                if let Err(e) = options::parse(&args) {
                    panic!("[{}] passes options the command rejects: {e}", search.name);
                }
            }
        }
        // Each search ends in its own, empty, tuning macro, as ESCU's do.
        let filter = parts.iter().rev().nth(1).unwrap();
        assert!(filter.ends_with("_filter"), "[{}] {filter}", search.name);
        assert_eq!(stanza(&macros, filter).get("definition"), Some("search *"));
    }
}
