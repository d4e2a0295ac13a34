//! `schtasksremote scan` throughput on ≥ 100 MB inputs made by repeating real records:
//! XmlWinEventLog (the EVTX samples' records rendered to single-line XML, plus the README
//! sample), EVTX (the samples' chunks repeated after one file header) and JSON lines
//! (attack_data's NXLog records). Each is scanned single-threaded (one file) and across
//! files on all cores (the same bytes split into one file per core, one thread per
//! file, as `scan --threads N` does). Inputs are written to a temporary folder.
//!
//! Two more inputs, for issue 14's side-by-side and collection tables only: the EVTX
//! chunks made a Sysmon-shaped log (in 9 copies of 10, process creations made process
//! accesses: 3.7 % process creations, as in a real Sysmon log; [`sysmon_mix`]), and that
//! log's records rendered to XmlWinEventLog as the XML unit's are ([`rendered`]).
//!
//! Two more renderings of the XmlWinEventLog records: the same bytes in UTF-16LE (with a
//! BOM, as PowerShell 5.1 writes them), and classic WinEventLog text made from each
//! record's `<System>` fields and `<EventData>` (one `Name: value` line per `<Data>`).
//! A baseline binary that cannot read them is not run on them.
//!
//! `cargo bench --bench scan` prints the table for `benches/README.md`. Run as a test
//! (`cargo test --all-targets`), it scans 2 MB per case once and checks the counts.
//!
//! Before / after: with `SCAN_BENCH_BASELINE=<another schtasksremote binary>` (for
//! example one built from the commit before a change), each case is also scanned by
//! this build's binary and by that one (`schtasksremote scan --threads N <files>`, as
//! child processes, rounds interleaved), side by side in the same run; CPU time is the
//! child's (`getrusage(RUSAGE_CHILDREN)`), and both must count the same records and
//! detections. `SCAN_BENCH_BIN` names "this build"'s binary (default: the one cargo
//! built for the bench).
//!
//! Issue 14, "scan at the speed of reading the bytes", side by side in the same run
//! (bench mode only; `SCAN_BENCH_SIDE=0` skips it). The contenders run interleaved,
//! round by round (round 1: each contender once, in order; round 2: each again; …), so
//! that the shared machine's drifting speed falls on a round's runs alike. A
//! contender's columns are its median run; a ratio is the median over rounds of the
//! ratio taken within each round (paired ratios), not the ratio of two medians:
//! - one thread, CPU seconds of each child, 9 rounds of `scan --threads 1 FILE`, the
//!   same with `--full-path` (the reference), `grep -c -i schtasks FILE` (stdout to a
//!   file: with stdout on /dev/null GNU grep stops at the first match) and, for EVTX,
//!   the evtx crate's `evtx_dump -t 1 -o xml FILE` (`SCAN_BENCH_EVTX_DUMP`, else the one
//!   `benches/setup.sh` installs, the version our Cargo.lock uses, else `PATH`'s), and
//!   the crate's public record iterator alone (in this process, after the round's
//!   children, nothing rendered: the least any reader built on that API can spend,
//!   since it builds every record before a caller can skip one);
//! - the same bytes as one file and as a collection of 1 MiB files, as a triage's
//!   folder of logs (a file would start cold but for what the thread keeps from the
//!   files before it: EVTX definitions, proofs, kinds and shapes, field plans, the XML
//!   window), `scan --threads 1` on each and
//!   `grep -c -i -r schtasks` on the folder, CPU seconds, 5 rounds;
//! - one large file (`SCAN_BENCH_BIG_MB`, default 1024) scanned with `--threads 1` and
//!   `--threads 2`, 3 rounds: wall seconds (the median run by wall time, whose CPU
//!   seconds and peak RSS are shown), the speed-up (paired), peak RSS.

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

/// Every record of an EVTX file rendered by the evtx crate to single-line XML (no
/// declaration), one record per line, as a forwarder's XmlWinEventLog; with the count.
fn rendered(evtx_file: Vec<u8>) -> (Vec<u8>, u64) {
    let mut bytes = Vec::new();
    let mut records = 0;
    let settings = evtx::ParserSettings::default().indent(false);
    let mut parser = evtx::EvtxParser::from_buffer(evtx_file)
        .expect("EVTX opens")
        .with_configuration(settings);
    for r in parser.records() {
        let xml = r.expect("EVTX record renders").data;
        let xml = xml.trim_start_matches("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        bytes.extend_from_slice(xml.trim().as_bytes());
        bytes.push(b'\n');
        records += 1;
    }
    (bytes, records)
}

fn xml_unit() -> Unit {
    let mut bytes = Vec::new();
    let mut records = 0;
    for rel in EVTX {
        let file = fs::read(Path::new(DATASETS).join(rel)).expect("EVTX sample");
        let (xml, n) = rendered(file);
        bytes.extend_from_slice(&xml);
        records += n;
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

/// The XML unit's bytes in UTF-16LE (the BOM goes at the head of each file).
fn utf16_unit(xml: &Unit) -> Unit {
    let text = std::str::from_utf8(&xml.bytes).expect("the XML unit is UTF-8");
    Unit {
        bytes: text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        records: xml.records,
        detections: xml.detections,
    }
}

/// The XML unit's records as classic WinEventLog text: a timestamp line, the `<System>`
/// fields as `Key=Value` header lines, then `Message=` and one `Name: value` line per
/// `<Data Name=…>` (line breaks in values become spaces).
fn classic_unit(xml: &Unit) -> Unit {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(&xml.bytes[..]);
    let mut buf = Vec::new();
    let mut out = String::new();
    // (name, value) pairs of the record being read.
    let mut system: Vec<(String, String)> = Vec::new();
    let mut data: Vec<(String, String)> = Vec::new();
    let mut open: Option<(bool, String)> = None; // (in EventData, name)
    let mut records = 0;
    loop {
        match reader
            .read_event_into(&mut buf)
            .expect("the XML unit parses")
        {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let attr = |a: &str| {
                    e.try_get_attribute(a)
                        .ok()
                        .flatten()
                        .map(|v| v.unescape_value().expect("attribute").into_owned())
                };
                match name.as_str() {
                    "Provider" => system.extend(attr("Name").map(|v| ("SourceName".into(), v))),
                    "EventID" => open = Some((false, "EventCode".into())),
                    "Channel" => open = Some((false, "LogName".into())),
                    "Computer" => open = Some((false, "ComputerName".into())),
                    "Data" => {
                        open = Some((true, attr("Name").unwrap_or_else(|| "Data".into())));
                        data.push((open.clone().expect("just set").1, String::new()));
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                let text = t.unescape().expect("text").replace(['\r', '\n'], " ");
                match open.take() {
                    Some((true, _)) => data.last_mut().expect("a Data").1.push_str(&text),
                    Some((false, key)) => system.push((key, text)),
                    None => {}
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"Event" => {
                out.push_str("12/19/2020 07:00:30 AM\r\n");
                for (k, v) in system.drain(..) {
                    out.push_str(&format!("{k}={v}\r\n"));
                }
                out.push_str("Message=Event data:\r\n");
                for (k, v) in data.drain(..) {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                records += 1;
            }
            Event::End(_) => open = None,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    assert_eq!(
        records, xml.records,
        "every XML record became a classic event"
    );
    Unit {
        bytes: out.into_bytes(),
        records,
        detections: xml.detections,
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

/// A Sysmon-shaped log made of the samples' chunks (issue 14): ten copies of them, in
/// nine of which every record whose EventID value (the outer template instance's
/// fourth) is 1 says 10 (a process access): 3.7 % process creations, the rest Sysmon
/// 3, 10, 11, 12 and 13, as in a real Sysmon log. `benches/README.md` has the same
/// construction in Python, for inputs made by hand.
fn sysmon_mix(chunks: &[u8]) -> Vec<u8> {
    let u32_at = |c: &[u8], at: usize| u32::from_le_bytes(c[at..at + 4].try_into().unwrap());
    let u16_at = |c: &[u8], at: usize| u16::from_le_bytes(c[at..at + 2].try_into().unwrap());
    let mut other = chunks.to_vec();
    let mut changed = 0;
    for chunk in other.chunks_mut(65536) {
        let mut at = 0x200;
        while chunk.get(at..at + 4) == Some(b"**\0\0") {
            // Record header (24), fragment header (4), instance token, a byte and the
            // template ID (6), then the definition's offset: the definition follows
            // when it is stored here.
            let mut p = at + 34;
            let definition = u32_at(chunk, p) as usize;
            p += 4;
            if p == definition {
                p += 24 + u32_at(chunk, p + 20) as usize;
            }
            let count = u32_at(chunk, p) as usize;
            p += 4;
            let mut value = p + 4 * count;
            for i in 0..count.min(4) {
                if i == 3 && u16_at(chunk, value) == 1 {
                    chunk[value..value + 2].copy_from_slice(&10u16.to_le_bytes());
                    changed += 1;
                }
                value += usize::from(u16_at(chunk, p + 4 * i));
            }
            at += u32_at(chunk, at + 4) as usize;
        }
    }
    // The samples hold 28 process creations (Sysmon 1).
    assert_eq!(changed, 28, "Sysmon 1 records made process accesses");
    let mut out = chunks.to_vec();
    for _ in 0..9 {
        out.extend_from_slice(&other);
    }
    out
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

/// User + system CPU seconds in `usage` (microsecond resolution).
fn rusage_cpu(usage: &libc::rusage) -> f64 {
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// User + system CPU seconds so far of `who` (`getrusage`'s `RUSAGE_CHILDREN`: this
/// process's waited-for children; `RUSAGE_THREAD`: the calling thread); 0 on error.
fn cpu_seconds_of(who: libc::c_int) -> f64 {
    // SAFETY: rusage is plain data that getrusage fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage we own.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0.0;
    }
    rusage_cpu(&usage)
}

/// The floor of any reader built on the evtx crate's public API: its record iterator
/// (`EvtxChunk::iter`, which builds every record's content before a caller sees it)
/// run once over `file` with nothing rendered, one thread, in this process. Returns the
/// thread's CPU seconds and the records it yielded.
fn evtx_iterator_alone(file: &Path) -> (f64, u64) {
    let settings = std::sync::Arc::new(evtx::ParserSettings::default().num_threads(1));
    let start = cpu_seconds_of(libc::RUSAGE_THREAD);
    let mut parser = evtx::EvtxParser::from_path(file)
        .expect("bench EVTX opens")
        .with_configuration((*settings).clone());
    let mut records = 0u64;
    for chunk in parser.chunks() {
        let Ok(mut data) = chunk else { continue };
        let Ok(mut chunk) = data.parse(settings.clone()) else {
            continue;
        };
        records += chunk.iter().filter(Result::is_ok).count() as u64;
    }
    (cpu_seconds_of(libc::RUSAGE_THREAD) - start, records)
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
    let cpu_start = cpu_seconds_of(libc::RUSAGE_CHILDREN);
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
        cpu: cpu_seconds_of(libc::RUSAGE_CHILDREN) - cpu_start,
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

/// GNU time, for a child's own peak RSS (Debian package `time`).
const TIME: &str = "/usr/bin/time";

/// What one child process cost: wall time, CPU seconds (user + system), peak RSS.
struct Child {
    wall: Duration,
    cpu: f64,
    max_rss_kib: i64,
    stderr: String,
}

/// Runs `command` with stdout to the file `stdout` (no reader slows it, and GNU grep
/// reads everything), and waits for it with `wait4` to read its own rusage. The peak
/// RSS is GNU time's (`/usr/bin/time -f %M`): a child spawned from this large process
/// inherits its high-water mark across `exec` (Linux `exec_mmap`), one spawned by
/// `time` does not.
fn run_child(command: &mut Command, stdout: &Path) -> Child {
    use std::os::unix::process::ExitStatusExt;
    let out = File::create(stdout).expect("bench output file");
    let rss_file = stdout.with_extension("rss");
    let mut timed = Command::new(TIME);
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(command.get_program())
        .args(command.get_args());
    let start = Instant::now();
    // Reaped by wait4 below, not by std's wait: wait4 also returns its rusage (its own
    // and its waited-for child's, the command's, at microsecond resolution).
    #[allow(clippy::zombie_processes)]
    let mut child = timed
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{TIME} {command:?}: {e} (GNU time: apt-get install time)"));
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: our own child and valid pointers; std never waits for it (we do, here).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(waited, pid, "wait4 {command:?}");
    let status = std::process::ExitStatus::from_raw(status);
    // grep -c exits 1 when it counts no line.
    assert!(
        status.success() || status.code() == Some(1),
        "{command:?}: {status}: {stderr}"
    );
    let max_rss_kib = fs::read_to_string(&rss_file)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{TIME} wrote no peak RSS for {command:?}"));
    Child {
        wall,
        cpu: rusage_cpu(&usage),
        max_rss_kib,
        stderr,
    }
}

/// Issue 14's tables: `rounds` rounds, each running every contender once, in order
/// (round 1: each contender, round 2: each again, …), so that a drift in the shared
/// machine's speed falls on a round's runs alike and a ratio taken within a round
/// cancels it; after a round's children, `in_process` (a contender run in this
/// process). Returns each contender's runs: `runs[contender][round]`.
fn interleaved(
    rounds: usize,
    stdout: &Path,
    contenders: &[&dyn Fn() -> Command],
    mut in_process: impl FnMut(),
) -> Vec<Vec<Child>> {
    let mut runs: Vec<Vec<Child>> = contenders.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (make, runs) in contenders.iter().zip(&mut runs) {
            runs.push(run_child(&mut make(), stdout));
        }
        in_process();
    }
    runs
}

/// The median of `values` (of an even count, the upper middle one; the rounds are
/// odd).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median of `runs` by `key` (CPU or wall seconds).
fn median_run(runs: &[Child], key: impl Fn(&Child) -> f64) -> &Child {
    let mut sorted: Vec<&Child> = runs.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted[sorted.len() / 2]
}

/// The median over rounds of `numerator ÷ denominator` taken within each round (the
/// denominator at least `floor`): paired ratios.
fn paired_ratio(numerators: &[f64], denominators: &[f64], floor: f64) -> f64 {
    assert_eq!(numerators.len(), denominators.len(), "one pair per round");
    median(
        numerators
            .iter()
            .zip(denominators)
            .map(|(n, d)| n / d.max(floor))
            .collect(),
    )
}

/// Round by round, both contenders' summaries count the same records and detections.
fn assert_same_counts(a: &[Child], b: &[Child], name: &str) {
    for (a, b) in a.iter().zip(b) {
        for word in ["records", "detection"] {
            assert_eq!(
                summary_count(&a.stderr, word),
                summary_count(&b.stderr, word),
                "{name}: {} / {}",
                a.stderr,
                b.stderr
            );
        }
    }
}

/// Each run's CPU seconds.
fn cpus(runs: &[Child]) -> Vec<f64> {
    runs.iter().map(|c| c.cpu).collect()
}

/// `evtx_dump`: `SCAN_BENCH_EVTX_DUMP`, else the one `benches/setup.sh` installs, else
/// `PATH`'s. A bench that cannot compare with it fails and says how to install it.
fn evtx_dump() -> PathBuf {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tools/bin/evtx_dump");
    let found = std::env::var_os("SCAN_BENCH_EVTX_DUMP")
        .map(PathBuf::from)
        .or_else(|| installed.is_file().then_some(installed))
        .unwrap_or_else(|| PathBuf::from("evtx_dump"));
    let works = Command::new(&found)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        works,
        "evtx_dump not found ({}): run `bash benches/setup.sh` (it installs the evtx \
         crate's evtx_dump, the version in Cargo.lock, under target/bench-tools), or set \
         SCAN_BENCH_EVTX_DUMP",
        found.display()
    );
    found
}

/// A file of one case: (name, file header, repeated unit, whether it is EVTX).
type BigCase<'a> = (&'a str, &'a [u8], &'a [u8], bool);

/// Issue 14's table: ours (fast and full path) vs `grep -c -i schtasks` vs `evtx_dump`
/// vs the evtx crate's record iterator alone, one thread, the same file for each, in
/// `rounds` interleaved rounds ([`interleaved`]). A contender's columns are its median
/// run by CPU seconds; a ratio is the median over rounds of the ratio within a round.
fn side_by_side(binary: &Path, dir: &Path, cases: &[BigCase], total: usize, rounds: usize) {
    let dump = evtx_dump();
    let sink = dir.join("stdout");
    println!();
    println!("| input | MB | scan CPU s | scan --full-path CPU s | grep -c -i schtasks CPU s | evtx_dump -t 1 -o xml CPU s | evtx crate's record iterator alone CPU s | scan ÷ grep | evtx_dump ÷ scan | evtx_dump ÷ iterator alone | scan MB per CPU-second | scan peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(name, head, unit, is_evtx) in cases {
        let slug: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let (paths, _) = write_files(dir, &format!("side-{slug}"), head, unit, total, 1);
        let file = &paths[0];
        let mb = fs::metadata(file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let scan = |full: bool| {
            let mut c = Command::new(binary);
            c.args(["scan", "--threads", "1"]);
            if full {
                c.arg("--full-path");
            }
            c.arg(file);
            c
        };
        let fast = || scan(false);
        let full = || scan(true);
        let grep = || {
            let mut c = Command::new("grep");
            c.args(["-c", "-i", "schtasks"]).arg(file);
            c
        };
        let dumped = || {
            let mut c = Command::new(&dump);
            c.args(["-t", "1", "-o", "xml"]).arg(file);
            c
        };
        let mut contenders: Vec<&dyn Fn() -> Command> = vec![&fast, &full, &grep];
        if is_evtx {
            contenders.push(&dumped);
        }
        // (CPU seconds, records) of each round's iterator run, for EVTX.
        let mut iterated: Vec<(f64, u64)> = Vec::new();
        let runs = interleaved(rounds, &sink, &contenders, || {
            if is_evtx {
                iterated.push(evtx_iterator_alone(file));
            }
        });
        let [fast_runs, full_runs, grep_runs] = [&runs[0], &runs[1], &runs[2]];
        let dump_runs = runs.get(3);
        // Both paths read the same records and find the same detections.
        assert_same_counts(fast_runs, full_runs, name);
        for ((_, records), fast) in iterated.iter().zip(fast_runs) {
            assert_eq!(
                *records,
                summary_count(&fast.stderr, "records"),
                "{name}: {}",
                fast.stderr
            );
        }
        let by_cpu = |c: &Child| c.cpu;
        let fast = median_run(fast_runs, by_cpu);
        let full = median_run(full_runs, by_cpu);
        let grep = median_run(grep_runs, by_cpu);
        let iterator_cpus: Vec<f64> = iterated.iter().map(|&(cpu, _)| cpu).collect();
        let or_dash =
            |v: Option<f64>, places: usize| v.map_or("—".into(), |v| format!("{v:.places$}"));
        println!(
            "| {name} | {mb:.1} | {:.3} | {:.3} | {:.3} | {} | {} | {:.2} | {} | {} | {:.0} | {:.1} |",
            fast.cpu,
            full.cpu,
            grep.cpu,
            or_dash(dump_runs.map(|d| median_run(d, by_cpu).cpu), 3),
            or_dash(is_evtx.then(|| median(iterator_cpus.clone())), 3),
            paired_ratio(&cpus(fast_runs), &cpus(grep_runs), 0.005),
            or_dash(dump_runs.map(|d| paired_ratio(&cpus(d), &cpus(fast_runs), 0.005)), 2),
            or_dash(dump_runs.map(|d| paired_ratio(&cpus(d), &iterator_cpus, 0.005)), 2),
            mb / fast.cpu.max(0.005),
            fast.max_rss_kib as f64 / 1024.0,
        );
        for p in paths {
            let _ = fs::remove_file(p);
        }
    }
}

/// Issue 14's collection table: the side-by-side table's file, and the same bytes cut
/// into files of about 1 MiB (a triage's folder of logs) at record boundaries (EVTX:
/// 16 chunks after a copy of the file header; XML: before a `<Event `; JSON lines: after
/// a line), one thread: `scan --threads 1` on each and `grep -c -i -r schtasks` on the
/// folder, in `rounds` interleaved rounds ([`interleaved`]); CPU columns are medians,
/// ratios medians of the ratios within a round. Both scans must count the same records
/// and detections.
fn collection(binary: &Path, dir: &Path, cases: &[BigCase], total: usize, rounds: usize) {
    const PIECE: usize = 1 << 20;
    let sink = dir.join("stdout");
    println!();
    println!("| input | MB | files | scan, one file CPU s | scan, the files CPU s | files ÷ one file | grep -c -i -r schtasks, the files CPU s | scan ÷ grep, the files |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &(name, head, unit, is_evtx) in cases {
        let slug: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let (one, _) = write_files(dir, &format!("one-{slug}"), head, unit, total, 1);
        let bytes = fs::read(&one[0]).expect("read back");
        let folder = dir.join(format!("collection-{slug}"));
        fs::create_dir_all(&folder).expect("collection folder");
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        if is_evtx {
            let (header, chunks) = bytes.split_at(head.len());
            for run in chunks.chunks(16 * 65536) {
                pieces.push([header, run].concat());
            }
        } else {
            // XmlWinEventLog records start with `<Event ` (not `<EventData>`, `<EventID>`);
            // JSON lines are lines.
            let xml = unit.first() == Some(&b'<');
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let from = PIECE.min(rest.len());
                let cut = if xml {
                    memchr::memmem::find(&rest[from..], b"<Event ")
                } else {
                    memchr::memchr(b'\n', &rest[from..]).map(|i| i + 1)
                }
                .map_or(rest.len(), |i| from + i);
                pieces.push(rest[..cut].to_vec());
                rest = &rest[cut..];
            }
        }
        for (i, piece) in pieces.iter().enumerate() {
            fs::write(folder.join(format!("log-{i:04}")), piece).expect("collection file");
        }
        let mb = bytes.len() as f64 / 1e6;
        let scan = |path: &Path| {
            let mut c = Command::new(binary);
            c.args(["scan", "--threads", "1"]).arg(path);
            c
        };
        let grep = || {
            let mut c = Command::new("grep");
            c.args(["-c", "-i", "-r", "schtasks"]).arg(&folder);
            c
        };
        let runs = interleaved(
            rounds,
            &sink,
            &[&|| scan(&one[0]), &|| scan(&folder), &grep],
            || {},
        );
        let [single, many, grepped] = [&runs[0], &runs[1], &runs[2]];
        assert_same_counts(single, many, name);
        let cpu = |runs: &[Child]| median(cpus(runs));
        println!(
            "| {name} | {mb:.1} | {} | {:.3} | {:.3} | {:.2} | {:.3} | {:.2} |",
            pieces.len(),
            cpu(single),
            cpu(many),
            paired_ratio(&cpus(many), &cpus(single), 0.005),
            cpu(grepped),
            paired_ratio(&cpus(many), &cpus(grepped), 0.005),
        );
        let _ = fs::remove_file(&one[0]);
        let _ = fs::remove_dir_all(&folder);
    }
}

/// Issue 14's one-file table: one large file, `--threads 1` vs `--threads 2`, in
/// `rounds` interleaved rounds ([`interleaved`]). Each thread count's columns are its
/// median run by wall time; the speed-up is the median over rounds of the ratio
/// within a round.
fn one_file_on_every_core(binary: &Path, dir: &Path, cases: &[BigCase], big: usize, rounds: usize) {
    let sink = dir.join("stdout");
    println!();
    println!("| input | MB | --threads 1 wall s | --threads 2 wall s | speed-up | CPU s (1 / 2 threads) | peak RSS MiB (1 / 2 threads) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for &(name, head, unit, _) in cases {
        let slug: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let (paths, _) = write_files(dir, &format!("big-{slug}"), head, unit, big, 1);
        let file = &paths[0];
        let mb = fs::metadata(file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let scan = |threads: &str| {
            let mut c = Command::new(binary);
            c.args(["scan", "--threads", threads]).arg(file);
            c
        };
        let runs = interleaved(rounds, &sink, &[&|| scan("1"), &|| scan("2")], || {});
        let [one_runs, two_runs] = [&runs[0], &runs[1]];
        assert_same_counts(one_runs, two_runs, name);
        let by_wall = |c: &Child| c.wall.as_secs_f64();
        let walls = |runs: &[Child]| runs.iter().map(by_wall).collect::<Vec<f64>>();
        let one = median_run(one_runs, by_wall);
        let two = median_run(two_runs, by_wall);
        println!(
            "| {name} | {mb:.0} | {:.2} | {:.2} | {:.2}× | {:.2} / {:.2} | {:.1} / {:.1} |",
            one.wall.as_secs_f64(),
            two.wall.as_secs_f64(),
            paired_ratio(&walls(one_runs), &walls(two_runs), 0.001),
            one.cpu,
            two.cpu,
            one.max_rss_kib as f64 / 1024.0,
            two.max_rss_kib as f64 / 1024.0,
        );
        for p in paths {
            let _ = fs::remove_file(p);
        }
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (total, rounds) = if bench { (100 << 20, 3) } else { (2 << 20, 1) };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let dir = tempfile::tempdir().expect("temp dir");

    let xml = xml_unit();
    let utf16 = utf16_unit(&xml);
    let classic = classic_unit(&xml);
    let json = jsonl_unit();
    let (evtx_header, evtx_chunks, evtx_records) = evtx_chunks();
    let mix = sysmon_mix(&evtx_chunks);
    // (name, file header, repeated unit, records and detections per unit, whether a
    // baseline binary from before issue 10 reads it)
    type Case<'a> = (&'a str, &'a [u8], &'a [u8], u64, u64, bool);
    let cases: [Case; 5] = [
        (
            "XmlWinEventLog",
            &[],
            &xml.bytes,
            xml.records,
            xml.detections,
            true,
        ),
        (
            "XmlWinEventLog, UTF-16LE",
            &[0xFF, 0xFE],
            &utf16.bytes,
            utf16.records,
            utf16.detections,
            false,
        ),
        (
            "Classic WinEventLog text",
            &[],
            &classic.bytes,
            classic.records,
            classic.detections,
            false,
        ),
        ("EVTX", &evtx_header, &evtx_chunks, evtx_records, 0, true),
        (
            "JSON lines (NXLog)",
            &[],
            &json.bytes,
            json.records,
            json.detections,
            true,
        ),
    ];
    let baseline = std::env::var_os("SCAN_BENCH_BASELINE").map(PathBuf::from);
    // Both binaries are best built the same way (`cargo build --release`); by default
    // "this build" is the one cargo built for the bench.
    let ours_binary = std::env::var_os("SCAN_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_schtasksremote")),
        PathBuf::from,
    );
    println!("| input | threads (files) | build | MB | records | wall s | MB/s | records/s | CPU s | MB per CPU-second | records per CPU-second |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, head, unit, unit_records, unit_detections, baseline_reads) in cases {
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
            if let Some(baseline) = baseline.as_ref().filter(|_| baseline_reads) {
                let [after, before] = measure_binaries(&ours_binary, baseline, &paths, rounds);
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
    if bench && std::env::var_os("SCAN_BENCH_SIDE").is_none_or(|v| v != "0") {
        let big_cases: [BigCase; 3] = [
            ("XmlWinEventLog", &[], &xml.bytes, false),
            ("JSON lines (NXLog)", &[], &json.bytes, false),
            ("EVTX", &evtx_header, &evtx_chunks, true),
        ];
        let mut side_cases = big_cases.to_vec();
        side_cases.push(("EVTX, Sysmon-shaped mix", &evtx_header, &mix, true));
        // The same Sysmon-shaped log as a forwarder's XmlWinEventLog: the XML unit is a
        // hard mix (41 % process creations, most of them schtasks); a Sysmon log is not.
        let (mix_xml, mix_records) = rendered([&evtx_header[..], &mix[..]].concat());
        assert_eq!(
            mix_records,
            10 * evtx_records,
            "every record of the mix rendered"
        );
        side_cases.insert(
            1,
            ("XmlWinEventLog, Sysmon-shaped mix", &[], &mix_xml, false),
        );
        // Interleaved rounds (see `interleaved`): 9 for the side-by-side table (a run
        // takes a second or less), 3 for the one large file.
        side_by_side(&ours_binary, dir.path(), &side_cases, total, 9);
        collection(&ours_binary, dir.path(), &side_cases, total, 5);
        // A size that does not parse stops the bench: a typo must not measure 1 GB
        // while the reader believes another size was asked.
        let big = std::env::var("SCAN_BENCH_BIG_MB").map_or(1024, |v| {
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|&mb| (1..=1 << 20).contains(&mb))
                .unwrap_or_else(|| {
                    panic!("SCAN_BENCH_BIG_MB={v:?}: expected a whole number of MiB, 1 or more")
                })
        }) << 20;
        one_file_on_every_core(&ours_binary, dir.path(), &big_cases, big, 3);
    }
}
