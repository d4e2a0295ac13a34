//! The app's own README (`app/README.md`, the only document inside the package) tells an
//! admin what the package's configuration really does (issue 12, item 3): supported
//! versions as `app.manifest` states them, upgrade and uninstall, where to enable the
//! detection, roles and permissions as `metadata/default.meta` sets them, why the app is
//! hidden (`is_visible`), and where to get support. Each check reads the file the README
//! describes, so changing one without the other fails here.

mod app_support;

use app_support::*;
use serde_json::Value;

fn readme() -> String {
    std::fs::read_to_string(repo("app/README.md")).expect("app/README.md")
}

/// The text between `<!-- section:NAME -->` and its closing marker.
fn section(name: &str) -> String {
    let text = readme();
    text.split(&format!("<!-- section:{name} -->"))
        .nth(1)
        .and_then(|s| s.split(&format!("<!-- /section:{name} -->")).next())
        .unwrap_or_else(|| panic!("app/README.md has no section:{name}"))
        .to_string()
}

/// Whitespace runs folded to one space, so a phrase may wrap across lines.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn supported_versions_name_every_product_and_match_app_manifest() {
    let versions = flat(&section("versions"));
    for product in [
        "Splunk Enterprise",
        "Splunk Cloud Platform",
        "Splunk Enterprise Security",
        "Splunk_SA_CIM",
    ] {
        assert!(versions.contains(product), "no row for {product}");
    }
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("app/app.manifest")).expect("app/app.manifest"),
    )
    .expect("app.manifest is JSON");
    let enterprise = manifest["platformRequirements"]["splunk"]["Enterprise"]
        .as_str()
        .expect("app.manifest platformRequirements.splunk.Enterprise");
    assert!(
        versions.contains(&format!("`{enterprise}`")),
        "the README does not state app.manifest's Splunk Enterprise range {enterprise}"
    );
    let minimum = enterprise.trim_start_matches(">=");
    assert!(
        versions.contains(&format!("| {minimum} and later")),
        "the Splunk Enterprise row does not start at {minimum}"
    );
}

#[test]
fn upgrade_and_uninstall_are_described_for_each_way_to_install() {
    let upgrade = flat(&section("upgrade"));
    for step in ["Upgrade app", "-update 1", "shcluster-bundle", "local/"] {
        assert!(upgrade.contains(step), "upgrade lacks {step:?}");
    }
    let uninstall = flat(&section("uninstall"));
    for step in ["splunk remove app schtasksremote", "shcluster-bundle"] {
        assert!(uninstall.contains(step), "uninstall lacks {step:?}");
    }
}

#[test]
fn enabling_the_detection_names_the_saved_search_and_its_default_state() {
    let enable = flat(&section("enable"));
    let searches = parse_conf(&repo("default/savedsearches.conf"));
    let detections: Vec<&Stanza> = searches
        .iter()
        .filter(|s| s.get("cron_schedule").is_some())
        .collect();
    assert!(!detections.is_empty());
    for search in detections {
        assert!(
            enable.contains(&format!("**{}**", search.name)),
            "the README does not name the saved search {:?}",
            search.name
        );
        assert_eq!(search.get("disabled"), Some("true"));
        assert!(enable.contains("disabled by default"));
        let cron = search.get("cron_schedule").unwrap_or_default();
        assert!(enable.contains(&format!("`{cron}`")), "schedule {cron}");
        for key in ["dispatch.earliest_time", "dispatch.latest_time"] {
            let value = search.get(key).unwrap_or_default();
            assert!(enable.contains(&format!("`{value}`")), "{key} {value}");
        }
    }
    assert!(enable.contains("Settings > Searches, reports, and alerts"));
}

/// `access = read : [ * ], write : [ admin, sc_admin ]` as (read roles, write roles).
fn access(value: &str) -> (Vec<String>, Vec<String>) {
    let mut read = Vec::new();
    let mut write = Vec::new();
    for part in value.split("],") {
        let (kind, roles) = part.split_once(':').expect("access = kind : [ roles ]");
        let roles: Vec<String> = roles
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        match kind.trim() {
            "read" => read = roles,
            "write" => write = roles,
            other => panic!("unknown access kind {other}"),
        }
    }
    (read, write)
}

#[test]
fn roles_and_permissions_are_those_default_meta_sets() {
    let permissions = flat(&section("permissions"));
    let meta = parse_conf(&repo("app/metadata/default.meta"));
    for stanza in &meta {
        if let Some(value) = stanza.get("access") {
            let (read, write) = access(value);
            if read == ["*"] {
                assert!(permissions.contains("readable by **every role** (`read : [ * ]`)"));
            }
            for role in read.iter().chain(&write).filter(|r| *r != "*") {
                assert!(
                    permissions.contains(&format!("`{role}`")),
                    "[{}] grants {role}, which the README does not name",
                    stanza.name
                );
            }
        }
        match (stanza.name.as_str(), stanza.get("export")) {
            ("", Some("system")) | ("commands/schtasksremote", Some("system")) => {
                assert!(permissions.contains("**exported to system** (`export = system`)"));
            }
            ("macros", Some("none")) => {
                assert!(permissions.contains("**not exported** (`export = none`)"));
            }
            (name, Some(export)) => panic!("[{name}] export = {export} is not described"),
            (_, None) => {}
        }
        if let Some(owner) = stanza.get("owner") {
            assert!(
                permissions.contains(&format!("owned by `{owner}`")),
                "[{}] owner",
                stanza.name
            );
        }
    }
}

#[test]
fn the_readme_explains_why_the_app_is_hidden() {
    let hidden = flat(&section("hidden"));
    let app = parse_conf(&repo("default/app.conf"));
    let visible = stanza(&app, "ui")
        .get("is_visible")
        .expect("[ui] is_visible");
    assert!(
        hidden.contains(&format!("`[ui] is_visible = {visible}`")),
        "app.conf says is_visible = {visible}"
    );
    // Nothing to show: no views or navigation ship in the app.
    for path in ["default/data/ui/views", "default/data/ui/nav"] {
        assert!(
            !repo(path).exists(),
            "{path} exists, so the app is not empty"
        );
    }
}

#[test]
fn support_says_what_to_collect_and_links_to_help() {
    let support = flat(&section("support"));
    assert!(
        support.contains("schtasksremote:"),
        "the log prefix to look for"
    );
    assert!(support.contains("--version"));
    assert!(support.contains("<https://"), "a link");
    // The prefix it tells admins to look for is the one the command writes.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_schtasksremote"))
        .arg("--version")
        .output()
        .expect("run schtasksremote --version");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("schtasksremote "));
}
