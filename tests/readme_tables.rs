//! The README's tables that state what the code does: the "Limits" table states each
//! limit's default, the mapping table ("Which input fields are read") the names each CIM
//! field is read from. Each test fails when its table stops matching the code.

use schtasksremote::cim::CimField;
use schtasksremote::command::options::MAX_CHUNK_MB;
use schtasksremote::command::stream::MAX_COMBINATIONS;
use schtasksremote::protocol::framing::{DEFAULT_MAX_CHUNK_BYTES, MAX_HEADER_LINE};
use schtasksremote::replay::{
    DEFAULT_MAX_ARCHIVE_BYTES, MAX_ADDRESSES, MAX_ERRORS_PER_CHUNK, MAX_HELD, MAX_JSON_DEPTH,
    MAX_JSON_LINE, MAX_LAYERS, MAX_LOGONS, MAX_NESTING, MAX_PENDING, MAX_PROBLEMS_KEPT,
    MAX_READINGS, MAX_RECORD, MAX_SOURCES_LISTED, MAX_WAITING, MAX_ZIP_DIRECTORY, PIECE_QUEUE,
    SNIFF_LEN,
};

/// The first table row of the README's section `name` that `is_row` picks.
fn table_row(name: &str, is_row: impl Fn(&str) -> bool) -> Option<&'static str> {
    let readme = include_str!("../README.md");
    let section = readme
        .split(&format!("<!-- section:{name} -->"))
        .nth(1)
        .and_then(|s| s.split(&format!("<!-- /section:{name} -->")).next())
        .unwrap_or_else(|| panic!("README has no section {name}"));
    section.lines().find(|l| l.starts_with('|') && is_row(l))
}

/// The Limits table's row that names `constant`, split into its cells.
fn row(constant: &str) -> Vec<String> {
    let line = table_row("limits", |l| l.contains(&format!("`{constant}`")))
        .unwrap_or_else(|| panic!("no row of the README's Limits table names `{constant}`"));
    line.split('|').map(|c| c.trim().to_string()).collect()
}

/// The names in the mapping table's row for `field`.
fn mapping_row(field: CimField) -> Vec<String> {
    let start = format!("| `{}` |", field.name());
    let line = table_row("mapping", |l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no row of the README's mapping table for {}", field.name()));
    line.split(" | ")
        .nth(1)
        .unwrap_or_default()
        .split(", ")
        .map(|c| c.trim_end_matches(" |").trim().to_string())
        .collect()
}

#[test]
fn the_readme_mapping_table_lists_every_name_the_code_reads_in_order() {
    for field in CimField::ALL {
        assert_eq!(mapping_row(field), field.source_names(), "{}", field.name());
    }
}

fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes >> 20)
}

#[test]
fn the_readme_limits_table_states_the_defaults_the_code_enforces() {
    let expected = [
        (
            "DEFAULT_MAX_CHUNK_BYTES",
            format!("{} GiB", DEFAULT_MAX_CHUNK_BYTES >> 30),
        ),
        ("MAX_HEADER_LINE", format!("{MAX_HEADER_LINE} bytes")),
        ("MAX_COMBINATIONS", MAX_COMBINATIONS.to_string()),
        ("MAX_RECORD", mib(MAX_RECORD)),
        ("MAX_JSON_LINE", mib(MAX_JSON_LINE)),
        ("MAX_ERRORS_PER_CHUNK", MAX_ERRORS_PER_CHUNK.to_string()),
        ("MAX_NESTING", format!("{MAX_NESTING} levels")),
        ("MAX_PROBLEMS_KEPT", MAX_PROBLEMS_KEPT.to_string()),
        (
            "DEFAULT_MAX_ARCHIVE_BYTES",
            format!("{} GiB", DEFAULT_MAX_ARCHIVE_BYTES >> 30),
        ),
        ("SNIFF_LEN", format!("{SNIFF_LEN} bytes")),
        ("MAX_JSON_DEPTH", format!("{MAX_JSON_DEPTH} levels")),
        ("MAX_SOURCES_LISTED", MAX_SOURCES_LISTED.to_string()),
        ("MAX_LAYERS", format!("{MAX_LAYERS} layers")),
        ("MAX_ZIP_DIRECTORY", format!("{MAX_ZIP_DIRECTORY} members")),
        ("MAX_READINGS", format!("{MAX_READINGS} readings")),
        ("MAX_PENDING", format!("{MAX_PENDING} detections")),
        ("MAX_HELD", format!("{MAX_HELD} detections")),
        ("MAX_LOGONS", format!("{MAX_LOGONS} logons")),
        ("MAX_WAITING", format!("{MAX_WAITING} events")),
        ("MAX_ADDRESSES", format!("{MAX_ADDRESSES} pairs")),
        ("PIECE_QUEUE", format!("{PIECE_QUEUE} events")),
    ];
    for (constant, default) in expected {
        let cells = row(constant);
        // The README groups thousands (`65,536 bytes`).
        let stated = cells.get(3).map(|c| c.replace(',', "")).unwrap_or_default();
        assert!(
            stated == default || stated.starts_with(&format!("{default} ")),
            "README says {stated:?} for `{constant}`, the code says {default:?}"
        );
    }
    let option = row("DEFAULT_MAX_CHUNK_BYTES");
    let range = format!(
        "`max_chunk_mb=<{}–{}>`",
        MAX_CHUNK_MB.start(),
        MAX_CHUNK_MB.end()
    );
    assert!(option[4].contains(&range), "{} vs {range}", option[4]);
}
