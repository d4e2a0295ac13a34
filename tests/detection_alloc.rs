//! The reject path allocates nothing: `is_schtasks` and `analyze` on events that are
//! not schtasks are counted by a global allocator that tallies this thread's calls.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use schtasksremote::detection::{analyze, is_schtasks, DetectorConfig, ProcessEvent};

struct Counting;

thread_local! {
    // Const-initialised and without destructor: safe to touch from inside the allocator.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Ordinary process events, including ones whose command line mentions schtasks.
fn others() -> Vec<[String; 4]> {
    let mut v = Vec::new();
    for (name, path, ofn, line) in [
        (
            "svchost.exe",
            r"C:\Windows\System32\svchost.exe",
            "svchost.exe",
            "svchost.exe -k netsvcs -p -s Schedule",
        ),
        (
            "cmd.exe",
            r"C:\Windows\System32\cmd.exe",
            "Cmd.Exe",
            r"cmd.exe /c schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once",
        ),
        (
            "powershell.exe",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            "PowerShell.EXE",
            r#"powershell -c "schtasks /create /s HOST2""#,
        ),
        (
            "schtasks_report.exe",
            r"C:\tools\schtasks_report.exe",
            "",
            "schtasks_report.exe /create /s h",
        ),
        (
            "",
            r"\Device\HarddiskVolume1\Windows\System32\conhost.exe",
            "",
            r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
        ),
        ("", "", "", ""),
        (
            "SCHTASKS.EX",
            r"C:\schtasks.exe\x.exe",
            "schtasks.ex",
            "/create /s h",
        ),
        ("\u{FF53}chtasks.exe", "", "", "fullwidth s is not schtasks"),
    ] {
        v.push([name.into(), path.into(), ofn.into(), line.into()]);
    }
    v
}

fn event(f: &[String; 4]) -> ProcessEvent<'_> {
    ProcessEvent {
        process_name: &f[0],
        process_path: &f[1],
        original_file_name: &f[2],
        process: &f[3],
        dest: "ws1.corp.local",
        user: r"CORP\adm",
        ..Default::default()
    }
}

#[test]
fn rejecting_non_schtasks_events_allocates_nothing() {
    let events = others();
    let config = DetectorConfig::default();
    let n = allocations_during(|| {
        for f in &events {
            let e = event(f);
            assert!(!is_schtasks(&e));
            assert!(analyze(&e, &config).is_none());
        }
    });
    assert_eq!(n, 0, "allocations on the reject path");
}

#[test]
fn the_counter_sees_the_allocations_of_a_real_analysis() {
    // Control: a schtasks event is parsed, which allocates; so a zero above means zero.
    let f: [String; 4] = [
        "schtasks.exe".into(),
        String::new(),
        String::new(),
        "schtasks /create /s HOST2 /tn t".into(),
    ];
    let config = DetectorConfig::default();
    let n = allocations_during(|| {
        assert!(analyze(&event(&f), &config).is_some_and(|a| a.is_detection()));
    });
    assert!(n > 0);
}
