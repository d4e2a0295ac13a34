//! Detection core throughput on a realistic mix: 98% of events are not schtasks (the
//! reject path), 2% are schtasks with varied command lines (each fully parsed).
//! ESCU v9's wildcard test, as a naive substring matcher, runs on the same events as a
//! reference point.
//!
//! `cargo bench --bench detection` (criterion reports elements/s = events/s, one core).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use schtasksremote::detection::{analyze, is_schtasks, DetectorConfig, ProcessEvent};

const EVENTS: usize = 10_000;

/// (process_name, process_path, original_file_name, command line)
const OTHERS: &[(&str, &str, &str, &str)] = &[
    (
        "svchost.exe",
        r"C:\Windows\System32\svchost.exe",
        "svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
    ),
    (
        "conhost.exe",
        r"C:\Windows\System32\conhost.exe",
        "CONHOST.EXE",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
    ),
    (
        "chrome.exe",
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        "chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --renderer-client-id=12 --field-trial-handle=1732,i,1577"#,
    ),
    (
        "cmd.exe",
        r"C:\Windows\System32\cmd.exe",
        "Cmd.Exe",
        r#""C:\Windows\system32\cmd.exe" /c "schtasks /create /tn t /sc daily /tr c:\x.exe""#,
    ),
    (
        "powershell.exe",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "PowerShell.EXE",
        r#"powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "Get-ScheduledTask""#,
    ),
    (
        "MsMpEng.exe",
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.2109.6-0\MsMpEng.exe",
        "MsMpEng.exe",
        r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.2109.6-0\MsMpEng.exe""#,
    ),
    (
        "taskhostw.exe",
        r"C:\Windows\System32\taskhostw.exe",
        "taskhostw.exe",
        "taskhostw.exe Install $(Arg0)",
    ),
    (
        "WmiPrvSE.exe",
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        "Wmiprvse.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
    ),
];

const SCHTASKS: &[&str] = &[
    r#"schtasks  /create /F /tn \Microsoft\Windows\SoftwareProtectionPlatform\EventCacheManager /tr "C:\Windows\system32\cmd.exe /C C:\Windows\System32\notepad.exe" /sc ONSTART /ru system /S WORKSTATION6"#,
    r#""C:\windows\system32\schtasks.exe" /Create /F /SC DAILY /ST 09:00 /TN MordorSchtask /TR "C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -NonI -W hidden -c IEX""#,
    r#"SCHTASKS  /Create /S localhost /RU ATTACKRANGE\Administrator /RP I-l1ke-Attack-Range! /TN "Atomic task" /TR "C:\windows\system32\cmd.exe" /SC daily /ST 20:10"#,
    r#"schtasks /query /s HOST2 /fo csv /nh"#,
    "schtasks -cr\"ea\"te \u{FE63}\u{02E2} \\\\HOST2 /tn t /tr c:\\x.exe /sc once /st 00:00",
    r#"schtasks /run /s 10.0.0.5 /tn "\Microsoft\Windows\Defrag\ScheduledDefrag""#,
];

fn mix() -> Vec<ProcessEvent<'static>> {
    (0..EVENTS)
        .map(|i| {
            if i % 50 == 7 {
                ProcessEvent {
                    process_name: "schtasks.exe",
                    process_path: r"C:\Windows\System32\schtasks.exe",
                    original_file_name: "schtasks.exe",
                    process: SCHTASKS[(i / 50) % SCHTASKS.len()],
                    parent_process_name: "cmd.exe",
                    dest: "WORKSTATION5.theshire.local",
                    user: r"THESHIRE\pgustavo",
                }
            } else {
                let (name, path, ofn, line) = OTHERS[i % OTHERS.len()];
                ProcessEvent {
                    process_name: name,
                    process_path: path,
                    original_file_name: ofn,
                    process: line,
                    parent_process_name: "services.exe",
                    dest: "WORKSTATION5.theshire.local",
                    user: r"NT AUTHORITY\SYSTEM",
                }
            }
        })
        .collect()
}

/// ESCU v9 as a search head evaluates it, done naively: lower-case and substring.
fn escu_v9(e: &ProcessEvent<'_>) -> bool {
    let name = |s: &str| s.eq_ignore_ascii_case("schtasks.exe");
    if !(name(e.process_name) || name(e.original_file_name)) {
        return false;
    }
    let p = e.process.to_lowercase();
    p.contains("/create") && p.contains("/s")
}

fn bench(c: &mut Criterion) {
    let events = mix();
    let schtasks_share = events.iter().filter(|e| is_schtasks(e)).count();
    assert_eq!(schtasks_share, EVENTS / 50, "2% schtasks");
    let config = DetectorConfig::default();

    let mut g = c.benchmark_group("detection_mix_98pct_other");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function(BenchmarkId::new("analyze", EVENTS), |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|e| analyze(black_box(e), &config).is_some_and(|a| a.is_detection()))
                .count()
        })
    });
    g.bench_function(BenchmarkId::new("is_schtasks", EVENTS), |b| {
        b.iter(|| events.iter().filter(|e| is_schtasks(black_box(e))).count())
    });
    g.bench_function(BenchmarkId::new("escu_v9_substring", EVENTS), |b| {
        b.iter(|| events.iter().filter(|e| escu_v9(black_box(e))).count())
    });
    g.finish();

    let only: Vec<ProcessEvent<'static>> = events.iter().copied().filter(is_schtasks).collect();
    let mut g = c.benchmark_group("detection_schtasks_only");
    g.throughput(Throughput::Elements(only.len() as u64));
    g.bench_function(BenchmarkId::new("analyze", only.len()), |b| {
        b.iter(|| {
            only.iter()
                .filter(|e| analyze(black_box(e), &config).is_some_and(|a| a.is_detection()))
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
