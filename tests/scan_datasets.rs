//! The real replay datasets in `../shared/datasets/`: record counts per file (a reader
//! that silently drops records fails here) and exactly the detections that are there.
//! Counts were taken independently (Python `json`/`zipfile`/`tarfile` and python-evtx),
//! and agree with `datasets/README.md`.

mod scan_support;

use scan_support::*;
use schtasksremote::replay::{scan_path, Format, InputReport, ScanOptions, SourceStats, Value};

fn scan(rel: &str) -> InputReport {
    let path = dataset(rel);
    assert!(path.exists(), "dataset missing: {}", path.display());
    scan_path(&path, &ScanOptions::default())
}

fn only_source(report: &InputReport) -> &SourceStats {
    assert_eq!(report.sources.len(), 1, "{:?}", report.sources);
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    assert_eq!(report.unreadable, 0);
    &report.sources[0]
}

fn counts(s: &SourceStats) -> (u64, u64, u64, u64) {
    (s.records, s.process_events, s.other_events, s.bad_records)
}

#[test]
fn otrf_schtask_create_yields_exactly_the_sysmon_and_4688_remote_creations() {
    let report = scan(OTRF_CREATE);
    let src = only_source(&report);
    assert!(src
        .name
        .ends_with("schtask_create.zip!schtask_create_2020-12-1907003032.json"));
    assert_eq!(src.format, Format::JsonLines);
    // 1,041 events: 10 Sysmon EID 1 + 10 Security 4688 process creations.
    assert_eq!(counts(src), (1041, 20, 1021, 0));
    // Issue 13: the target side's 4698 on WORKSTATION6 (record 578) is a detection too.
    assert_eq!(src.detections, 3);
    let (d, target): (Vec<_>, Vec<_>) = report
        .detections
        .iter()
        .partition(|d| d.field("detection_side") == Some(&Value::One("source".into())));
    assert_eq!(
        target.iter().map(|d| d.sighting.record).collect::<Vec<_>>(),
        [578]
    );
    assert_eq!(d.len(), 2);
    // Record 66 is the 4688 event (user from SubjectDomainName\SubjectUserName),
    // record 480 the Sysmon one (user from User).
    assert_eq!(
        d.iter().map(|d| d.sighting.record).collect::<Vec<_>>(),
        [66, 480]
    );
    assert_eq!(d[0].sighting.time, "2020-12-19T07:00:22.190Z");
    assert_eq!(d[1].sighting.time, "2020-12-19T07:00:22.191Z");
    for det in d {
        assert_eq!(det.dest, "WORKSTATION5.theshire.local");
        assert_eq!(det.user, r"THESHIRE\pgustavo");
        assert_eq!(det.process_name, "schtasks.exe");
        assert!(
            det.process.ends_with("/ru system /S WORKSTATION6"),
            "{}",
            det.process
        );
        assert_eq!(
            det.field("remote_host"),
            Some(&Value::One("WORKSTATION6".into()))
        );
        assert_eq!(det.field("risk_score"), Some(&Value::One("63".into())));
    }
}

#[test]
fn attack_data_tar_gz_has_9005_events_and_no_remote_creation() {
    // Its one `/create /S localhost` and the local `/sc` creations are not remote.
    let report = scan(ATTACK_DATA);
    let src = only_source(&report);
    assert!(src.name.ends_with("attack_data.tar.gz!attack_data.txt"));
    assert_eq!(src.format, Format::JsonLines);
    assert_eq!(counts(src), (9005, 329, 8676, 0));
    assert!(report.detections.is_empty(), "{:?}", report.detections);
}

#[test]
fn otrf_empire_local_creation_is_not_a_detection() {
    let report = scan(OTRF_EMPIRE);
    let src = only_source(&report);
    // 1 Sysmon EID 1 + 2 Security 4688.
    assert_eq!(counts(src), (1297, 3, 1294, 0));
    assert!(report.detections.is_empty(), "{:?}", report.detections);
}

/// Issue 13: no schtasks.exe at all, so nothing on the source side; the target side's
/// 4702 (both RPC caller fields 0) is the one detection.
#[test]
fn otrf_remote_modification_without_schtasks_is_one_target_side_detection() {
    let report = scan(OTRF_MODIFICATION);
    let src = only_source(&report);
    // 15 Sysmon EID 1 + 13 Security 4688.
    assert_eq!(counts(src), (2657, 28, 2629, 0));
    let d = &report.detections;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].sighting.event_id, "4702");
    assert_eq!(
        d[0].field("detection_name"),
        Some(&Value::One("Remote Scheduled Task Update via RPC".into()))
    );
}

#[test]
fn evtx_samples_are_read_whole_and_hold_no_remote_creation() {
    for (rel, records, process) in [
        (EVTX_RUNDLL32, 50, 8),
        (EVTX_VSS, 17, 16),
        (EVTX_MSHTA, 8, 4),
    ] {
        let report = scan(rel);
        let src = only_source(&report);
        assert_eq!(src.format, Format::Evtx, "{rel}");
        assert_eq!(
            counts(src),
            (records, process, records - process, 0),
            "{rel}"
        );
        assert!(
            report.detections.is_empty(),
            "{rel}: {:?}",
            report.detections
        );
    }
}
