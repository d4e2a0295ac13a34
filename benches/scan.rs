//! `schtasksremote scan` throughput on ≥ 100 MB inputs made by repeating real records:
//! XmlWinEventLog (the EVTX samples' records rendered to single-line XML, plus the README
//! sample), EVTX (the samples' chunks repeated after one file header) and JSON lines
//! (attack_data's NXLog records). Each is scanned single-threaded (one file) and across
//! files on all cores (the same bytes split into one file per core, one thread per
//! file, as `scan --threads N` does). Inputs are written to a temporary folder.
//!
//! `cargo bench --bench scan` prints the table for `benches/README.md`. Run as a test
//! (`cargo test --all-targets`), it scans 2 MB per case once and checks the counts.
//!
//! Before / after: with `SCAN_BENCH_BASELINE=<another schtasksremote binary>` (for
//! example one built from the commit before a change), each case is also scanned by
//! this build's binary and by that one (`schtasksremote scan --threads N <files>`, as
//! child processes, rounds interleaved), side by side in the same run; CPU time is the
//! child's (`getrusage(RUSAGE_CHILDREN)`), and both must count the same records and
//! detections.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schtasksremote::replay::{scan_path, ScanOptions};

const DATASETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets");
const EVTX: [&str; 3] = [
    "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx",
    "EVTX-ATTACK-SAMPLES/Execution/sysmon_exec_from_vss_persistence.evtx",
    "EVTX-ATTACK-SAMPLES/Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx",
];
const ATTACK_DATA: &str =
    "splunk_attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.tar.gz";

/// Real records, and how many records and detections one copy of them holds.
struct Unit {
    bytes: Vec<u8>,
    records: u64,
    detections: u64,
}

fn xml_unit() -> Unit {
    let mut bytes = Vec::new();
    let mut records = 0;
    for rel in EVTX {
        let settings = evtx::ParserSettings::default().indent(false);
        let mut parser = evtx::EvtxParser::from_path(Path::new(DATASETS).join(rel))
            .expect("EVTX sample opens")
            .with_configuration(settings);
        for r in parser.records() {
            let xml = r.expect("EVTX sample record renders").data;
            let xml = xml.trim_start_matches("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            bytes.extend_from_slice(xml.trim().as_bytes());
            bytes.push(b'\n');
            records += 1;
        }
    }
    let sample = fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/schtasks_sample.xml"
    ))
    .expect("README sample");
    bytes.extend_from_slice(&sample);
    Unit {
        bytes,
        records: records + 8,
        detections: 2,
    }
}

/// The chunks of the EVTX samples (each is one 64 KiB chunk after a 4 KiB header).
fn evtx_chunks() -> (Vec<u8>, Vec<u8>, u64) {
    let mut header = Vec::new();
    let mut chunks = Vec::new();
    for rel in EVTX {
        let file = fs::read(Path::new(DATASETS).join(rel)).expect("EVTX sample");
        if header.is_empty() {
            header = file[..4096].to_vec();
        }
        chunks.extend_from_slice(&file[4096..]);
    }
    (header, chunks, 75)
}

fn jsonl_unit() -> Unit {
    let gz = File::open(Path::new(DATASETS).join(ATTACK_DATA)).expect("attack_data");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut bytes = Vec::new();
    for entry in tar.entries().expect("tar") {
        entry
            .expect("tar entry")
            .read_to_end(&mut bytes)
            .expect("tar read");
    }
    Unit {
        bytes,
        records: 9005,
        detections: 0,
    }
}

/// Writes `files` files that together hold about `total` bytes of repeated units;
/// returns the paths and the number of units written.
fn write_files(
    dir: &Path,
    name: &str,
    head: &[u8],
    unit: &[u8],
    total: usize,
    files: usize,
) -> (Vec<PathBuf>, u64) {
    let per_file = (total / files / unit.len()).max(1);
    let mut paths = Vec::new();
    for i in 0..files {
        let path = dir.join(format!("{name}-{i}"));
        let mut w = BufWriter::new(File::create(&path).expect("temp file"));
        w.write_all(head).expect("write");
        for _ in 0..per_file {
            w.write_all(unit).expect("write");
        }
        w.flush().expect("flush");
        paths.push(path);
    }
    (paths, (per_file * files) as u64)
}

struct Measure {
    bytes: u64,
    records: u64,
    detections: u64,
    time: Duration,
    /// CPU seconds the process used (all threads): on a shared machine, wall time also
    /// counts waiting for a core.
    cpu: f64,
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, in
/// 1/100 s ticks); 0 where that is not available.
fn cpu_seconds() -> f64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// User + system CPU seconds of this process's waited-for children so far.
fn children_cpu_seconds() -> f64 {
    // SAFETY: rusage is plain data that getrusage fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage we own.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// A number before `word` in the scan summary (`…: 83 records, 34 process events, …`).
fn summary_count(summary: &str, word: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.starts_with("scanned "))
        .unwrap_or_else(|| panic!("no summary in {summary}"));
    let before = line.split(&format!(" {word}")).next().unwrap_or_default();
    let number = before.rsplit([' ', ':']).next().unwrap_or_default();
    number
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("no count of {word} in {line}"))
}

/// One run of `binary scan --threads N paths` (N = the number of paths).
fn run_binary(binary: &Path, paths: &[PathBuf]) -> Measure {
    let cpu_start = children_cpu_seconds();
    let start = Instant::now();
    let out = Command::new(binary)
        .arg("scan")
        .arg("--threads")
        .arg(paths.len().to_string())
        .args(paths)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let time = start.elapsed();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {summary}", binary.display());
    let total: u64 = paths
        .iter()
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    Measure {
        bytes: total,
        records: summary_count(&summary, "records"),
        detections: summary_count(&summary, "detection"),
        time,
        cpu: children_cpu_seconds() - cpu_start,
    }
}

/// This build's binary and the baseline, rounds interleaved; the best of each.
fn measure_binaries(
    ours: &Path,
    baseline: &Path,
    paths: &[PathBuf],
    rounds: usize,
) -> [Measure; 2] {
    let mut best: [Option<Measure>; 2] = [None, None];
    for _ in 0..rounds {
        for (k, binary) in [ours, baseline].into_iter().enumerate() {
            let m = run_binary(binary, paths);
            if best[k].as_ref().is_none_or(|b| m.time < b.time) {
                best[k] = Some(m);
            }
        }
    }
    best.map(|m| m.expect("at least one round"))
}

/// Scans each path on its own thread; the best of `rounds` runs.
fn measure(paths: &[PathBuf], rounds: usize) -> Measure {
    let mut best: Option<Measure> = None;
    for _ in 0..rounds {
        let cpu_start = cpu_seconds();
        let start = Instant::now();
        let reports: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = paths
                .iter()
                .map(|p| s.spawn(move || scan_path(p, &ScanOptions::default())))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("scan thread"))
                .collect()
        });
        let time = start.elapsed();
        let cpu = cpu_seconds() - cpu_start;
        let m = Measure {
            cpu,
            bytes: reports.iter().map(|r| r.bytes).sum(),
            records: reports.iter().map(|r| r.records()).sum(),
            detections: reports.iter().map(|r| r.detections.len() as u64).sum(),
            time,
        };
        for r in &reports {
            assert_eq!(r.problem_count, 0, "{:?}", r.problems);
        }
        if best.as_ref().is_none_or(|b| m.time < b.time) {
            best = Some(m);
        }
    }
    best.expect("at least one round")
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (total, rounds) = if bench { (100 << 20, 3) } else { (2 << 20, 1) };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let dir = tempfile::tempdir().expect("temp dir");

    let xml = xml_unit();
    let json = jsonl_unit();
    let (evtx_header, evtx_chunks, evtx_records) = evtx_chunks();
    // (name, file header, repeated unit, records and detections per unit)
    type Case<'a> = (&'a str, &'a [u8], &'a [u8], u64, u64);
    let cases: [Case; 3] = [
        (
            "XmlWinEventLog",
            &[],
            &xml.bytes,
            xml.records,
            xml.detections,
        ),
        ("EVTX", &evtx_header, &evtx_chunks, evtx_records, 0),
        (
            "JSON lines (NXLog)",
            &[],
            &json.bytes,
            json.records,
            json.detections,
        ),
    ];
    let baseline = std::env::var_os("SCAN_BENCH_BASELINE").map(PathBuf::from);
    let ours_binary = Path::new(env!("CARGO_BIN_EXE_schtasksremote"));
    println!("| input | threads (files) | build | MB | records | wall s | MB/s | records/s | CPU s | MB per CPU-second | records per CPU-second |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, head, unit, unit_records, unit_detections) in cases {
        let slug: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        for files in [1, cores] {
            let (paths, units) = write_files(
                dir.path(),
                &format!("{slug}-{files}"),
                head,
                unit,
                total,
                files,
            );
            let mut rows = vec![("library, in process", measure(&paths, rounds))];
            if let Some(baseline) = &baseline {
                let [after, before] = measure_binaries(ours_binary, baseline, &paths, rounds);
                rows.push(("binary, this build", after));
                rows.push(("binary, baseline", before));
            }
            for (build, m) in rows {
                // Every record of every copy was read, and every detection found.
                assert_eq!(m.records, units * unit_records, "{name} {build}");
                assert_eq!(m.detections, units * unit_detections, "{name} {build}");
                let secs = m.time.as_secs_f64();
                let mb = m.bytes as f64 / 1e6;
                let cpu = m.cpu.max(0.01);
                println!(
                    "| {name} | {files} | {build} | {mb:.1} | {} | {secs:.2} | {:.1} | {:.0} | {cpu:.2} | {:.1} | {:.0} |",
                    m.records,
                    mb / secs,
                    m.records as f64 / secs,
                    mb / cpu,
                    m.records as f64 / cpu
                );
            }
            for p in paths {
                let _ = fs::remove_file(p);
            }
            if cores == 1 {
                break;
            }
        }
    }
}
