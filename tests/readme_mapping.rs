//! The README's table "Which input fields are read" is the mapping the code uses: each
//! CIM field's row lists exactly `cim::CimField::source_names`, in order.

use schtasksremote::cim::CimField;

/// The cells of the README's row for `field` in the mapping table.
fn row(field: CimField) -> Vec<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("<!-- section:mapping -->")
        .nth(1)
        .and_then(|s| s.split("<!-- /section:mapping -->").next())
        .expect("README has a mapping section");
    let start = format!("| `{}` |", field.name());
    let line = section
        .lines()
        .find(|l| l.starts_with(&start))
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
        assert_eq!(row(field), field.source_names(), "{}", field.name());
    }
}
