//! The README's tables of detections, output fields and options state what the code
//! does (issue 13: "the README documents every new detection, its fields, its SPL").

use schtasksremote::command::options::OPTION_NAMES;
use schtasksremote::detection::{Kind, OUTPUT_FIELDS};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The cells of the table rows of `section` (between its markers).
fn rows(section: &str) -> Vec<Vec<String>> {
    let text = readme();
    let body = text
        .split(&format!("<!-- section:{section} -->"))
        .nth(1)
        .and_then(|s| s.split(&format!("<!-- /section:{section} -->")).next())
        .unwrap_or_else(|| panic!("README has no section {section}"))
        .to_string();
    body.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn every_detection_is_in_the_readme_with_its_side_and_risk_score() {
    let text = readme();
    let table = text
        .split("<!-- detections-table -->")
        .nth(1)
        .expect("README marks the detections table");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(3)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(
        names,
        Kind::ALL.map(Kind::name),
        "one row per kind, in order"
    );
    for (row, kind) in rows.iter().zip(Kind::ALL) {
        assert_eq!(row[1], kind.side().as_str(), "{}", kind.name());
        assert_eq!(row[3], kind.risk_score().to_string(), "{}", kind.name());
    }
}

#[test]
fn the_output_fields_table_lists_every_field_in_order() {
    let documented: Vec<String> = rows("fields")
        .into_iter()
        .filter_map(|r| {
            let name = r.first()?.strip_prefix('`')?.strip_suffix('`')?.to_string();
            Some(name)
        })
        .collect();
    assert_eq!(documented, OUTPUT_FIELDS);
}

#[test]
fn the_options_table_lists_every_option() {
    let mut documented: Vec<String> = rows("spl")
        .into_iter()
        .filter_map(|r| {
            let name = r.first()?.strip_prefix('`')?.strip_suffix('`')?.to_string();
            OPTION_NAMES.contains(&name.as_str()).then_some(name)
        })
        .collect();
    documented.sort();
    documented.dedup();
    let mut expected: Vec<String> = OPTION_NAMES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(documented, expected);
}
