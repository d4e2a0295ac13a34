//! The Splunk app's conf files: they parse, they agree with each other and with the
//! crate, the detection has contentctl's ESCU shape, and its SPL calls only macros that
//! exist and only options the command accepts.

mod app_support;

use std::collections::BTreeSet;
use std::process::Command;

use app_support::*;
use schtasksremote::command::options::{self, OPTION_NAMES};
use schtasksremote::detection::DetectorConfig;
use serde_json::Value;

const DETECTION: &str = "schtasksremote - Schtasks scheduling job on remote system - Rule";

/// Macros the detection may take from Splunk_SA_CIM, which the app requires. Defined in
/// splunk/addonfactory-splunk_sa_cim @ c308d19 (5.0.1) `default/macros.conf` line 247,
/// `[drop_dm_object_name(1)] definition = rename "$object$.*" as *`, exported to system
/// by that app's `metadata/default.meta`.
const SPLUNK_SA_CIM_MACROS: &[&str] = &["drop_dm_object_name(1)"];

fn conf(name: &str) -> Vec<Stanza> {
    parse_conf(&repo(&format!("default/{name}.conf")))
}

fn detection() -> Stanza {
    stanza(&conf("savedsearches"), DETECTION).clone()
}

/// Each backtick macro call in an SPL string, as its macros.conf stanza name
/// (`name` or `name(<number of arguments>)`).
fn macro_calls(spl: &str) -> Vec<String> {
    let parts: Vec<&str> = spl.split('`').collect();
    assert!(parts.len() % 2 == 1, "unbalanced backticks in SPL: {spl}");
    parts
        .iter()
        .skip(1)
        .step_by(2)
        .map(|call| {
            let call = call.trim();
            match call.split_once('(') {
                None => call.to_string(),
                Some((name, rest)) => {
                    let args = rest
                        .strip_suffix(')')
                        .unwrap_or_else(|| panic!("macro call without `)`: {call}"));
                    let mut count = 1;
                    let mut quoted = false;
                    for c in args.chars() {
                        match c {
                            '"' => quoted = !quoted,
                            ',' if !quoted => count += 1,
                            _ => {}
                        }
                    }
                    format!("{}({count})", name.trim())
                }
            }
        })
        .collect()
}

/// The argument lists given to `| schtasksremote` in an SPL string.
fn command_args(spl: &str) -> Vec<Vec<String>> {
    spl.split('|')
        .skip(1)
        .filter_map(|segment| {
            let mut words = segment.split_whitespace();
            (words.next() == Some("schtasksremote")).then(|| words.map(String::from).collect())
        })
        .collect()
}

/// Every SPL string the detection runs: its search and Enterprise Security drilldowns.
fn detection_spl() -> Vec<String> {
    let d = detection();
    let mut spl = vec![d.get("search").unwrap().to_string()];
    let drilldowns: Value =
        serde_json::from_str(d.get("action.notable.param.drilldown_searches").unwrap()).unwrap();
    for drilldown in drilldowns.as_array().unwrap() {
        spl.push(drilldown["search"].as_str().unwrap().to_string());
    }
    spl
}

#[test]
fn every_conf_file_parses_with_ksconf() {
    let ksconf = venv_tool("ksconf");
    let files = [
        "default/app.conf",
        "default/commands.conf",
        "default/searchbnf.conf",
        "default/macros.conf",
        "default/savedsearches.conf",
        "app/metadata/default.meta",
    ];
    let out = Command::new(&ksconf)
        .arg("check")
        .args(files.iter().map(|f| repo(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ksconf check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The same ksconf rejects a broken file, so its verdict above means something.
    let broken = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
    std::fs::write(broken.path(), "[stanza\nkey = value\n").unwrap();
    let out = Command::new(&ksconf)
        .arg("check")
        .arg(broken.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "ksconf accepted a dangling stanza header"
    );
    // And our own reader (used by the other tests) reads every file too.
    for file in files {
        assert!(!parse_conf(&repo(file)).is_empty(), "{file} is empty");
    }
}

#[test]
fn app_id_and_version_agree_across_app_conf_manifest_and_crate() {
    let app = conf("app");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("app/app.manifest")).unwrap())
            .expect("app.manifest is plain JSON (AppInspect json.loads it)");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(stanza(&app, "package").get("id"), Some(APP_ID));
    assert_eq!(stanza(&app, "id").get("name"), Some(APP_ID));
    assert_eq!(manifest["info"]["id"]["name"], APP_ID);
    assert_eq!(stanza(&app, "id").get("version"), Some(version));
    assert_eq!(stanza(&app, "launcher").get("version"), Some(version));
    assert_eq!(manifest["info"]["id"]["version"], version);
    let build = stanza(&app, "install").get("build").unwrap();
    assert!(build.parse::<u64>().is_ok_and(|b| b > 0), "build {build:?}");
    assert_eq!(stanza(&app, "install").get("is_configured"), Some("false"));
    assert_eq!(
        stanza(&app, "package").get("check_for_updates"),
        Some("false")
    );
    let label = stanza(&app, "ui").get("label").unwrap();
    assert!((5..=80).contains(&label.len()), "label {label:?}");
}

#[test]
fn commands_conf_is_a_chunked_command_whose_file_is_the_executable_launcher() {
    let commands = conf("commands");
    let command = stanza(&commands, "schtasksremote");
    // commands.conf.spec: with chunked = true only these settings are valid.
    let valid = [
        "chunked",
        "filename",
        "is_risky",
        "maxwait",
        "maxchunksize",
        "python.version",
        "run_in_preview",
    ];
    for key in command.keys() {
        assert!(
            valid.contains(&key) || key.starts_with("command.arg."),
            "{key} is not valid with chunked = true"
        );
    }
    assert_eq!(command.get("chunked"), Some("true"));
    let filename = command
        .get("filename")
        .expect("filename (AppInspect quirk)");
    let file = repo(&format!("bin/{filename}"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755, "{} must be executable", file.display());
}

#[test]
fn detection_has_contentctl_escu_keys_in_order() {
    // savedsearches_detections.j2 of splunk/contentctl (shared/reference/
    // splunk-app-packaging.md §1.6), for a TTP detection with risk and notable actions,
    // no atomic tests and no throttling.
    let expected = [
        "action.escu",
        "action.escu.enabled",
        "description",
        "action.escu.mappings",
        "action.escu.data_models",
        "action.escu.eli5",
        "action.escu.how_to_implement",
        "action.escu.known_false_positives",
        "action.escu.creation_date",
        "action.escu.modification_date",
        "action.escu.confidence",
        "action.escu.search_type",
        "action.escu.product",
        "action.escu.providing_technologies",
        "action.escu.analytic_story",
        "action.risk",
        "action.risk.param._risk_message",
        "action.risk.param._risk",
        "action.risk.param._risk_score",
        "action.risk.param.verbose",
        "cron_schedule",
        "dispatch.earliest_time",
        "dispatch.latest_time",
        "action.correlationsearch.enabled",
        "action.correlationsearch.detection_type",
        "action.correlationsearch.label",
        "action.correlationsearch.annotations",
        "action.correlationsearch.metadata",
        "schedule_window",
        "action.notable",
        "action.notable.param._entities",
        "action.notable.param.nes_fields",
        "action.notable.param.rule_description",
        "action.notable.param.rule_title",
        "action.notable.param.security_domain",
        "action.notable.param.severity",
        "alert.digest_mode",
        "disabled",
        "enableSched",
        "allow_skew",
        "counttype",
        "relation",
        "quantity",
        "realtime_schedule",
        "is_visible",
        "search",
        "action.notable.param.drilldown_searches",
    ];
    assert_eq!(detection().keys(), expected);
}

#[test]
fn detection_schedule_risk_and_notable_match_escu() {
    let d = detection();
    for (key, value) in [
        ("cron_schedule", "0 * * * *"),
        ("dispatch.earliest_time", "-70m@m"),
        ("dispatch.latest_time", "-10m@m"),
        ("schedule_window", "auto"),
        ("disabled", "true"),
        ("enableSched", "1"),
        ("action.risk", "1"),
        ("action.notable", "1"),
        ("action.notable.param.nes_fields", "user,dest"),
        ("action.notable.param.severity", "high"),
        ("action.correlationsearch.label", DETECTION),
    ] {
        assert_eq!(d.get(key), Some(value), "{key}");
    }
    // ESCU's message, rendered from the command's `process_masked` (the `/p` and `/rp`
    // values replaced by `****`) so no password reaches the risk index.
    assert_eq!(
        d.get("action.risk.param._risk_message"),
        Some(
            schtasksremote::detection::RISK_MESSAGE_TEMPLATE
                .replace("$process$", "$process_masked$")
                .as_str()
        )
    );
    // The risk objects carry the command's own default score (ESCU's 63), and every
    // JSON-valued key is JSON. Issue 13: the target host is a risk object too.
    let score = DetectorConfig::default().risk_score;
    let risk: Value = serde_json::from_str(d.get("action.risk.param._risk").unwrap()).unwrap();
    assert_eq!(
        risk,
        serde_json::json!([
            {"risk_object_field": "dest", "risk_object_type": "system", "risk_score": score},
            {"risk_object_field": "remote_host_normalized", "risk_object_type": "system", "risk_score": score},
            {"risk_object_field": "user", "risk_object_type": "user", "risk_score": score},
            {"threat_object_field": "process_name", "threat_object_type": "process_name"}
        ])
    );
    for key in [
        "action.escu.mappings",
        "action.correlationsearch.annotations",
    ] {
        let v: Value = serde_json::from_str(d.get(key).unwrap()).unwrap();
        assert_eq!(
            v["mitre_attack"],
            serde_json::json!(["T1053.005", "T1053"]),
            "{key}"
        );
    }
    let meta: Value =
        serde_json::from_str(d.get("action.correlationsearch.metadata").unwrap()).unwrap();
    assert!(meta["detection_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
    // Enterprise Security's correlation-search label must fit 99 characters.
    assert!(format!("endpoint - {DETECTION} - Rule").len() <= 99);
}

#[test]
fn detection_search_prefilters_on_the_image_only_and_lets_the_command_decide() {
    let search = detection().get("search").unwrap().to_string();
    let stages: Vec<&str> = search.split(" | ").map(str::trim).collect();
    assert!(stages[0].starts_with("| tstats `security_content_summariesonly` "));
    assert!(stages[0].contains("from datamodel=Endpoint.Processes where (Processes.process_name=schtasks.exe OR Processes.original_file_name=schtasks.exe) by "));
    assert!(
        !search.contains("*/create*")
            && !search.contains("*/s")
            && !search.contains("Processes.process="),
        "the tstats prefilter must not judge the command line: {search}"
    );
    // The command reads original_file_name (renamed copies of schtasks.exe), so the
    // group-by must carry it through tstats.
    for field in [
        "process",
        "process_name",
        "original_file_name",
        "dest",
        "user",
    ] {
        assert!(
            stages[0].contains(&format!(" Processes.{field} "))
                || stages[0].ends_with(&format!(" Processes.{field}")),
            "group-by lacks Processes.{field}"
        );
    }
    assert_eq!(
        stages[1..],
        [
            "`drop_dm_object_name(Processes)`",
            "schtasksremote",
            "`security_content_ctime(firstTime)`",
            "`security_content_ctime(lastTime)`",
            "`schtasks_scheduling_job_on_remote_system_filter`",
        ]
    );
}

#[test]
fn detection_calls_only_macros_defined_in_the_app_or_splunk_sa_cim() {
    let macros = conf("macros");
    let defined: BTreeSet<&str> = macros.iter().map(|s| s.name.as_str()).collect();
    // Follow macros into their definitions: security_content_summariesonly uses three
    // more.
    let mut pending: Vec<String> = detection_spl()
        .iter()
        .flat_map(|s| macro_calls(s))
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(call) = pending.pop() {
        if !seen.insert(call.clone()) {
            continue;
        }
        if SPLUNK_SA_CIM_MACROS.contains(&call.as_str()) {
            continue;
        }
        assert!(
            defined.contains(call.as_str()),
            "`{call}` is defined neither in default/macros.conf nor in Splunk_SA_CIM"
        );
        let m = stanza(&macros, &call);
        if let Some(n) = call
            .strip_suffix(')')
            .and_then(|c| c.rsplit_once('('))
            .map(|(_, n)| n)
        {
            let args = m
                .get("args")
                .unwrap_or_else(|| panic!("[{call}] needs args"));
            assert_eq!(args.split(',').count().to_string(), n, "[{call}] args");
        }
        pending.extend(macro_calls(m.get("definition").unwrap()));
    }
    for required in [
        "security_content_summariesonly",
        "security_content_ctime(1)",
        "schtasks_scheduling_job_on_remote_system_filter",
        "drop_dm_object_name(1)",
    ] {
        assert!(
            seen.contains(required),
            "the detection no longer calls {required}"
        );
    }
    assert_eq!(
        stanza(&macros, "schtasks_scheduling_job_on_remote_system_filter").get("definition"),
        Some("search *")
    );
    assert_eq!(
        stanza(&macros, "security_content_ctime(1)").get("definition"),
        Some(r#"convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)"#)
    );
}

#[test]
fn detection_and_searchbnf_examples_pass_only_options_the_command_accepts() {
    let bnf = conf("searchbnf");
    let command = stanza(&bnf, "schtasksremote-command");
    let mut spl = detection_spl();
    spl.extend(
        command
            .settings
            .iter()
            .filter(|(k, _)| k.starts_with("example"))
            .map(|(_, v)| v.clone()),
    );
    let mut calls = 0;
    for text in &spl {
        for args in command_args(text) {
            calls += 1;
            if let Err(e) = options::parse(&args) {
                panic!("`schtasksremote {}` is rejected: {e}", args.join(" "));
            }
        }
    }
    assert!(
        calls >= 4,
        "expected the detection and three examples to call the command"
    );
}

#[test]
fn searchbnf_documents_exactly_the_options_the_command_accepts() {
    let bnf = conf("searchbnf");
    let syntax = stanza(&bnf, "schtasksremote-option").get("syntax").unwrap();
    let mut documented = BTreeSet::new();
    for alternative in syntax.split(" | ") {
        let (name, value) = alternative.trim().split_once('=').unwrap();
        documented.insert(name.to_string());
        // Each documented value form is one the parser takes.
        let samples: Vec<String> = match value {
            "<int>" => vec!["1".into()],
            "<field>" => vec!["some_field".into()],
            // searchbnf's boolean datatype: what SPL commands accept as one.
            "<bool>" => ["true", "false", "t", "f", "1", "0", "TRUE"]
                .map(String::from)
                .to_vec(),
            choice => choice
                .strip_prefix('(')
                .and_then(|c| c.strip_suffix(')'))
                .unwrap_or_else(|| panic!("unexpected value syntax {choice:?}"))
                .split('|')
                .map(String::from)
                .collect(),
        };
        for sample in samples {
            let arg = format!("{name}={sample}");
            if let Err(e) = options::parse(std::slice::from_ref(&arg)) {
                panic!("searchbnf documents {arg:?}, which the command rejects: {e}");
            }
        }
    }
    let accepted: BTreeSet<String> = OPTION_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(documented, accepted);
    assert_eq!(
        stanza(&bnf, "schtasksremote-command").get("usage"),
        Some("public")
    );
}

#[test]
fn macro_call_parser_counts_arguments_outside_quotes() {
    assert_eq!(
        macro_calls(r#"a | `m` | `f(x)` | `g("a,b", c)`"#),
        ["m", "f(1)", "g(2)"]
    );
    assert_eq!(
        command_args("x | schtasksremote action=annotate | schtasksremote"),
        [vec!["action=annotate".to_string()], vec![]]
    );
}
