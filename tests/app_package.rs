//! The package `app/package.sh` builds: its layout and permissions, its binaries,
//! Splunk AppInspect's verdict, the launcher's choice of binary, and the same protocol
//! session answered identically by the aarch64 build (under qemu-user) and the x86_64
//! build.
//!
//! `.ci/test` builds the package before `cargo test`; without it these tests fail,
//! saying how to build it.

mod app_support;
mod scp_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use app_support::*;
use serde_json::Value;

/// (CPU name in the package, ELF e_machine).
const BINARIES: [(&str, u16); 2] = [("x86_64", 62), ("aarch64", 183)];

#[test]
fn package_has_one_app_folder_with_644_files_755_folders_and_executables_only_in_bin() {
    let Some(package) = package() else { return };
    let members = read_package(&package);
    let mut paths = Vec::new();
    for m in &members {
        let mut parts = m.path.split('/');
        assert_eq!(
            parts.next(),
            Some(APP_ID),
            "{} is outside the app folder",
            m.path
        );
        assert!(
            !m.path.split('/').any(|p| p.starts_with('.')),
            "dotfile {}",
            m.path
        );
        let in_bin = m.path.starts_with(&format!("{APP_ID}/bin/"));
        let expected = if m.is_dir || in_bin { 0o755 } else { 0o644 };
        assert_eq!(m.mode, expected, "{} has mode {:o}", m.path, m.mode);
        if !m.is_dir {
            paths.push(m.path.trim_start_matches(&format!("{APP_ID}/")).to_string());
        }
    }
    paths.sort();
    // Exactly the app's files: no build leftovers, nothing from the repository besides.
    assert_eq!(
        paths,
        [
            "README.md",
            "app.manifest",
            "bin/schtasksremote",
            "bin/schtasksremote-linux-aarch64",
            "bin/schtasksremote-linux-x86_64",
            "default/app.conf",
            "default/commands.conf",
            "default/macros.conf",
            "default/savedsearches.conf",
            "default/searchbnf.conf",
            "metadata/default.meta",
            "static/appIcon.png",
            "static/appIconAlt.png",
            "static/appIconAlt_2x.png",
            "static/appIcon_2x.png",
        ]
    );
    // The repository's own files go in unchanged.
    for path in ["default/savedsearches.conf", "bin/schtasksremote"] {
        let packed = members
            .iter()
            .find(|m| m.path == format!("{APP_ID}/{path}"))
            .unwrap();
        assert_eq!(packed.data, std::fs::read(repo(path)).unwrap(), "{path}");
    }
    // The icons are PNGs of the sizes app.conf.spec asks for (36 px, 72 px for _2x).
    for m in members.iter().filter(|m| m.path.ends_with(".png")) {
        assert_eq!(&m.data[..8], b"\x89PNG\r\n\x1a\n", "{}", m.path);
        let size = if m.path.ends_with("_2x.png") { 72 } else { 36 };
        let width = u32::from_be_bytes(m.data[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(m.data[20..24].try_into().unwrap());
        assert_eq!((width, height), (size, size), "{}", m.path);
    }
}

/// e_machine, whether a PT_INTERP header asks for a dynamic loader, whether a symbol
/// table is present; for a 64-bit little-endian ELF file.
fn elf_facts(data: &[u8]) -> (u16, bool, bool) {
    assert_eq!(
        &data[..6],
        b"\x7fELF\x02\x01",
        "not a 64-bit little-endian ELF"
    );
    let u16_at = |at: usize| u16::from_le_bytes(data[at..at + 2].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap()) as usize;
    let (phoff, shoff) = (u64_at(0x20), u64_at(0x28));
    let (phentsize, phnum) = (u16_at(0x36) as usize, u16_at(0x38) as usize);
    let (shentsize, shnum) = (u16_at(0x3A) as usize, u16_at(0x3C) as usize);
    const PT_INTERP: u32 = 3;
    const SHT_SYMTAB: u32 = 2;
    let interp = (0..phnum).any(|i| u32_at(phoff + i * phentsize) == PT_INTERP);
    let symtab = (0..shnum).any(|i| u32_at(shoff + i * shentsize + 4) == SHT_SYMTAB);
    (u16_at(0x12), interp, symtab)
}

#[test]
fn packaged_binaries_are_static_stripped_builds_for_the_cpu_in_their_name() {
    let Some(package) = package() else { return };
    let members = read_package(&package);
    for (cpu, machine) in BINARIES {
        let name = format!("{APP_ID}/bin/schtasksremote-linux-{cpu}");
        let m = members.iter().find(|m| m.path == name).unwrap();
        let (e_machine, interp, symtab) = elf_facts(&m.data);
        assert_eq!(e_machine, machine, "{name} is built for the wrong CPU");
        assert!(!interp, "{name} needs a dynamic loader; it must be static");
        assert!(!symtab, "{name} is not stripped");
        eprintln!("{name}: {} bytes", m.data.len());
    }
}

#[test]
fn appinspect_cloud_precert_reports_no_failure_error_or_warning() {
    let Some(package) = package() else { return };
    let Some(appinspect) = venv_tool("splunk-appinspect") else {
        return;
    };
    let report = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    let out = Command::new(&appinspect)
        .args(["inspect"])
        .arg(&package)
        .args([
            "--mode",
            "precert",
            "--included-tags",
            "cloud",
            "--skip-trusted-libraries-update",
            "--ci",
            "--data-format",
            "json",
            "--output-file",
        ])
        .arg(report.path())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(report.path()).unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); splunk-appinspect said:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut problems = Vec::new();
    let mut results = std::collections::BTreeMap::new();
    for report in json["reports"].as_array().unwrap() {
        for group in report["groups"].as_array().unwrap() {
            for check in group["checks"].as_array().unwrap() {
                let (name, result) = (
                    check["name"].as_str().unwrap(),
                    check["result"].as_str().unwrap(),
                );
                results.insert(name.to_string(), result.to_string());
                if !matches!(result, "success" | "not_applicable") {
                    problems.push(format!("{name}: {result}: {}", check["messages"]));
                }
            }
        }
    }
    let summary = &json["summary"];
    eprintln!("AppInspect summary: {summary}");
    for count in ["failure", "error", "warning", "future_failure", "skipped"] {
        assert_eq!(summary[count], 0, "{count}: {problems:#?}");
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(summary["success"].as_u64().unwrap() > 0);
    // The checks this app is most exposed to ran and passed (not skipped or N/A).
    for check in [
        "check_for_valid_package_id",
        "check_idx_binary_compatibility",
        "check_command_scripts_exist_for_cloud",
        "check_for_bin_files",
    ] {
        assert_eq!(
            results.get(check).map(String::as_str),
            Some("success"),
            "{check}"
        );
    }
    assert_eq!(out.status.code(), Some(0), "--ci exit status");
}

/// Runs a program on `input` and returns (exit status, stdout, stderr).
fn run(mut command: Command, input: &[u8]) -> (i32, Vec<u8>, String) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The launcher, copied with stub "binaries" that print their name and arguments, run
/// with a `uname` on PATH that reports `system` and `machine`.
fn launch_as(system: &str, machine: &str) -> (i32, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let fake = dir.path().join("fake");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&fake).unwrap();
    let script = |path: PathBuf, text: String| {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    std::fs::copy(repo("bin/schtasksremote"), bin.join("schtasksremote")).unwrap();
    for (cpu, _) in BINARIES {
        script(
            bin.join(format!("schtasksremote-linux-{cpu}")),
            format!("#!/bin/sh\nprintf '%s|' {cpu} \"$@\"\n"),
        );
    }
    script(
        fake.join("uname"),
        format!("#!/bin/sh\ncase $1 in -s) echo {system};; -m) echo {machine};; esac\n"),
    );
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(bin.join("schtasksremote"));
    command
        .env("PATH", path)
        .args(["explain", "a b", "--dest=x"]);
    run(command, b"")
}

#[test]
fn launcher_execs_the_binary_for_the_cpu_and_passes_arguments_unchanged() {
    for (system, machine, chosen) in [
        ("Linux", "x86_64", "x86_64"),
        ("Linux", "aarch64", "aarch64"),
        ("Linux", "arm64", "aarch64"),
    ] {
        let (status, stdout, stderr) = launch_as(system, machine);
        assert_eq!(status, 0, "{system} {machine}: {stderr}");
        assert_eq!(
            String::from_utf8(stdout).unwrap(),
            format!("{chosen}|explain|a b|--dest=x|"),
            "{system} {machine}"
        );
    }
}

#[test]
fn launcher_on_a_platform_without_a_binary_answers_with_an_scp_error() {
    for (system, machine) in [
        ("Linux", "riscv64"),
        ("Darwin", "arm64"),
        ("Linux", "x86_64\"; x"),
    ] {
        let (status, stdout, stderr) = launch_as(system, machine);
        assert_eq!(status, 1, "{system} {machine}");
        let chunks = scp_support::split_chunks(&stdout);
        assert_eq!(chunks.len(), 1, "{system} {machine}");
        let (meta, body) = &chunks[0];
        assert!(body.is_empty());
        let meta: Value = serde_json::from_slice(meta).expect("the error reply is JSON");
        assert_eq!(meta["finished"], true);
        let error = meta["error"].as_str().unwrap();
        assert!(
            error.contains("no binary for") && error.contains(system),
            "{error}"
        );
        assert_eq!(meta["inspector"]["messages"][0][0], "ERROR");
        assert!(stderr.contains(error), "stderr: {stderr}");
    }
}

/// A multi-chunk annotate session over the real schtasks events of the shared dataset
/// (raw Sysmon/4688 field names), with an invalid UTF-8 `_raw` on every row.
fn session() -> Vec<u8> {
    let text = std::fs::read_to_string(scp_support::shared(
        "datasets/derived/schtasks_related_events.jsonl",
    ))
    .expect("the shared dataset");
    let events: Vec<serde_json::Map<String, Value>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut names: Vec<String> = Vec::new();
    for event in &events {
        for key in event.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    let mut stream = scp_support::getinfo(&["action=annotate"]);
    let batches: Vec<_> = events.chunks(events.len().div_ceil(3)).collect();
    for (i, batch) in batches.iter().enumerate() {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let mut header: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        header.push(b"_raw");
        w.write_record(&header).unwrap();
        for event in *batch {
            let mut row: Vec<Vec<u8>> = names
                .iter()
                .map(|n| match event.get(n) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::String(s)) => s.clone().into_bytes(),
                    Some(v) => v.to_string().into_bytes(),
                })
                .collect();
            row.push(b"caf\xe9 \xff\"quoted\"".to_vec());
            w.write_record(&row).unwrap();
        }
        let body = w.into_inner().unwrap();
        stream.extend(scp_support::execute(i + 1 == batches.len(), &body));
    }
    stream
}

/// The reply stream with the elapsed seconds of each inspector metric zeroed: the only
/// part of a reply that may differ between two runs.
fn without_timings(stdout: &[u8]) -> Vec<(Value, Vec<u8>)> {
    scp_support::split_chunks(stdout)
        .into_iter()
        .map(|(meta, body)| {
            let mut meta: Value = serde_json::from_slice(&meta).unwrap();
            if let Some(inspector) = meta.get_mut("inspector").and_then(Value::as_object_mut) {
                for (key, value) in inspector.iter_mut() {
                    if key.starts_with("metric.") {
                        value[0] = Value::from(0);
                    }
                }
            }
            (meta, body)
        })
        .collect()
}

#[test]
fn aarch64_build_under_qemu_and_x86_64_build_answer_a_session_identically() {
    let Some(package) = package() else { return };
    let Some(qemu) = system_tool("qemu-aarch64", "qemu-user") else {
        return;
    };
    let app = extract_package(&package);
    let bin = app.path().join(APP_ID).join("bin");
    let input = session();

    let mut runs = Vec::new();
    let mut x86 = Command::new(bin.join("schtasksremote-linux-x86_64"));
    x86.env_clear();
    runs.push(("x86_64", run(x86, &input)));
    let mut arm = Command::new(&qemu);
    arm.arg(bin.join("schtasksremote-linux-aarch64"))
        .env_clear();
    runs.push(("aarch64 under qemu", run(arm, &input)));
    // The way Splunk starts it: the launcher, which picks this host's build.
    runs.push((
        "launcher",
        run(Command::new(bin.join("schtasksremote")), &input),
    ));

    let (_, (status, reference, stderr)) = &runs[0];
    assert_eq!(*status, 0, "x86_64: {stderr}");
    let reference = without_timings(reference);
    // getinfo + one reply per execute chunk, and the session found something, so the
    // comparison covers detections, not only pass-through.
    assert_eq!(reference.len(), 4);
    assert_eq!(reference[0].0["type"], "streaming");
    let mut detections = 0;
    for (_, body) in &reference[1..] {
        let records = scp_support::records(body);
        let Some(header) = records.first() else {
            continue;
        };
        let column = header
            .iter()
            .position(|name| name == b"detection_name")
            .expect("annotate mode adds detection_name");
        detections += records[1..]
            .iter()
            .filter(|r| !r.get(column).unwrap_or_default().is_empty())
            .count();
    }
    assert!(detections > 0, "no detection in the session's replies");
    for (name, (status, stdout, stderr)) in &runs[1..] {
        assert_eq!(*status, 0, "{name}: {stderr}");
        let replies = without_timings(stdout);
        assert_eq!(replies.len(), reference.len(), "{name}");
        for (i, (ours, theirs)) in replies.iter().zip(&reference).enumerate() {
            assert_eq!(ours.0, theirs.0, "{name}: metadata of reply {i}");
            assert!(ours.1 == theirs.1, "{name}: body of reply {i} differs");
        }
    }
}
