//! The two packages `app/package.sh` builds (Linux; all-platforms = Linux + Windows):
//! their layout and permissions, their binaries, Splunk AppInspect's verdict on each, and
//! the same protocol session answered identically by the aarch64 build (under qemu-user)
//! and the x86_64 build. The Windows build's sessions under Wine are in
//! `tests/app_windows.rs`; the launcher started every other way, in `tests/app_launcher.rs`.
//!
//! `.ci/test` builds the packages before `cargo test`; without them these tests fail,
//! saying how to build them.

mod app_support;
mod crossbuild_support;
mod scp_support;

use std::path::Path;
use std::process::Command;

use app_support::*;
use crossbuild_support::{run, without_timings};
use serde_json::Value;

/// (CPU name in the package, ELF e_machine).
const BINARIES: [(&str, u16); 2] = [("x86_64", 62), ("aarch64", 183)];

/// The files of the Linux package, below the app folder.
const LINUX_FILES: [&str; 18] = [
    "LICENSE",
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
    // The CycloneDX SBOM of each binary (issue 17; tests/release.rs checks them).
    "sbom/schtasksremote-linux-aarch64.cdx.json",
    "sbom/schtasksremote-linux-x86_64.cdx.json",
    "static/appIcon.png",
    "static/appIconAlt.png",
    "static/appIconAlt_2x.png",
    "static/appIcon_2x.png",
];

/// What the all-platforms package adds to the Linux package's files.
const WINDOWS_FILES: [&str; 4] = [
    "default/distsearch.conf",
    "sbom/schtasksremote-windows-x86_64.cdx.json",
    "windows_x86_64/bin/schtasksremote",
    "windows_x86_64/bin/schtasksremote.exe",
];

/// The member at `path` below the app folder.
fn member<'a>(members: &'a [Member], path: &str) -> &'a Member {
    members
        .iter()
        .find(|m| m.path == format!("{APP_ID}/{path}"))
        .unwrap_or_else(|| panic!("{path} is not in the package"))
}

#[test]
fn packages_have_one_app_folder_with_644_files_755_folders_and_executables_only_in_bin() {
    let linux = read_package(&require_package(Package::Linux));
    for which in Package::ALL {
        let members = read_package(&which.path());
        let mut paths = Vec::new();
        for m in &members {
            let mut parts = m.path.split('/');
            assert_eq!(
                parts.next(),
                Some(APP_ID),
                "{which:?}: {} is outside the app folder",
                m.path
            );
            assert!(
                !m.path.split('/').any(|p| p.starts_with('.')),
                "{which:?}: dotfile {}",
                m.path
            );
            // AppInspect's check_for_bin_files: execute bits only in folders named bin.
            let in_bin = m.path.split('/').rev().nth(1) == Some("bin");
            let expected = if m.is_dir || in_bin { 0o755 } else { 0o644 };
            assert_eq!(
                m.mode, expected,
                "{which:?}: {} has mode {:o}",
                m.path, m.mode
            );
            if !m.is_dir {
                paths.push(m.path.trim_start_matches(&format!("{APP_ID}/")).to_string());
            }
        }
        paths.sort();
        // Exactly the app's files: no build leftovers, nothing from the repository besides.
        let mut expected: Vec<&str> = LINUX_FILES.to_vec();
        if which == Package::AllPlatforms {
            expected.extend(WINDOWS_FILES);
            expected.sort();
        }
        assert_eq!(paths, expected, "{which:?}");
        // The repository's own files go in unchanged, and the two packages share the
        // Linux package's files byte for byte.
        for path in [
            "LICENSE",
            "default/savedsearches.conf",
            "default/commands.conf",
            "bin/schtasksremote",
        ] {
            assert_eq!(
                member(&members, path).data,
                std::fs::read(repo(path)).unwrap(),
                "{which:?}: {path}"
            );
        }
        for path in LINUX_FILES {
            assert!(
                member(&members, path).data == member(&linux, path).data,
                "{which:?}: {path} differs from the Linux package's"
            );
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
}

#[test]
fn all_platforms_package_replicates_exactly_its_windows_folder_to_search_peers() {
    let members = read_package(&require_package(Package::AllPlatforms));
    let conf = member(&members, "default/distsearch.conf");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("distsearch.conf");
    std::fs::write(&file, &conf.data).unwrap();
    let stanzas = parse_conf(&file);
    assert_eq!(stanzas.len(), 1, "only the allowlist: {stanzas:?}");
    let allow = stanza(&stanzas, "replicationAllowlist");
    // distsearch.conf.spec: matched against the path below $SPLUNK_HOME/etc, `...` is any
    // path, `*` any name, `.` a literal dot. The lists are global, so ours names our app.
    let patterns: Vec<&str> = allow.settings.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        patterns,
        [format!("apps/{APP_ID}/windows_x86_64/bin/...")],
        "{stanzas:?}"
    );
    // Everything the pattern covers is in the package, and the Linux files replicate by
    // Splunk's default rule (apps/*/bin/...), not by ours.
    let prefix = format!("{APP_ID}/windows_x86_64/bin/");
    let covered: Vec<&str> = members
        .iter()
        .filter(|m| !m.is_dir && m.path.starts_with(&prefix))
        .map(|m| m.path.as_str())
        .collect();
    assert_eq!(covered.len(), 2, "{covered:?}");
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
fn packaged_linux_binaries_are_static_stripped_builds_for_the_cpu_in_their_name() {
    for which in Package::ALL {
        let members = read_package(&require_package(which));
        for (cpu, machine) in BINARIES {
            let name = format!("bin/schtasksremote-linux-{cpu}");
            let m = member(&members, &name);
            let (e_machine, interp, symtab) = elf_facts(&m.data);
            assert_eq!(e_machine, machine, "{name} is built for the wrong CPU");
            assert!(!interp, "{name} needs a dynamic loader; it must be static");
            assert!(!symtab, "{name} is not stripped");
            eprintln!("{which:?} {name}: {} bytes", m.data.len());
        }
    }
}

/// What the Windows loader reads from a PE file (Microsoft "PE Format"): COFF Machine,
/// NumberOfSymbols, the optional header's Magic and Subsystem, and the DLL names of the
/// import directory (data directory 1), lower-cased.
#[derive(Debug)]
struct PeFacts {
    machine: u16,
    symbols: u32,
    magic: u16,
    subsystem: u16,
    imports: Vec<String>,
}

fn pe_facts(data: &[u8]) -> PeFacts {
    assert_eq!(&data[..2], b"MZ", "no MS-DOS header");
    let u16_at = |at: usize| u16::from_le_bytes(data[at..at + 2].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    let pe = u32_at(0x3C) as usize;
    assert_eq!(&data[pe..pe + 4], b"PE\0\0", "no PE signature");
    let coff = pe + 4;
    let sections = u16_at(coff + 2) as usize;
    let optional = coff + 20;
    let optional_size = u16_at(coff + 16) as usize;
    let magic = u16_at(optional);
    assert_eq!(magic, 0x20B, "not PE32+");
    // PE32+: the data directories start 112 bytes into the optional header.
    let import_rva = u32_at(optional + 112 + 8) as usize;
    let section_table = optional + optional_size;
    let offset_of = |rva: usize| -> usize {
        (0..sections)
            .map(|i| section_table + i * 40)
            .find_map(|s| {
                let (size, start) = (u32_at(s + 8) as usize, u32_at(s + 12) as usize);
                (start..start + size)
                    .contains(&rva)
                    .then(|| rva - start + u32_at(s + 20) as usize)
            })
            .unwrap_or_else(|| panic!("RVA {rva:#x} is in no section"))
    };
    let mut imports = Vec::new();
    let mut descriptor = offset_of(import_rva);
    // IMAGE_IMPORT_DESCRIPTOR: 20 bytes, Name RVA at 12; a zero entry ends the table.
    while u32_at(descriptor + 12) != 0 {
        let name = offset_of(u32_at(descriptor + 12) as usize);
        let end = name + data[name..].iter().position(|&b| b == 0).unwrap();
        imports.push(String::from_utf8_lossy(&data[name..end]).to_ascii_lowercase());
        descriptor += 20;
    }
    PeFacts {
        machine: u16_at(coff),
        symbols: u32_at(coff + 12),
        magic,
        subsystem: u16_at(optional + 68),
        imports,
    }
}

/// DLLs in System32 of every Windows that Rust's std supports (Windows 10 / Server 2016
/// and newer): the only imports a build may have that ships as a single .exe. A MinGW
/// runtime DLL (libgcc_s_seh-1.dll, libwinpthread-1.dll) is not among them.
const WINDOWS_SYSTEM_DLLS: [&str; 8] = [
    "advapi32.dll",
    "api-ms-win-core-synch-l1-2-0.dll",
    "bcryptprimitives.dll",
    "kernel32.dll",
    "msvcrt.dll",
    "ntdll.dll",
    "userenv.dll",
    "ws2_32.dll",
];

#[test]
fn windows_build_is_a_stripped_x86_64_console_program_that_imports_only_system_dlls() {
    let members = read_package(&require_package(Package::AllPlatforms));
    let exe = member(&members, "windows_x86_64/bin/schtasksremote.exe");
    assert!(
        member(&members, "windows_x86_64/bin/schtasksremote").data == exe.data,
        "both Windows names must be the same build"
    );
    let pe = pe_facts(&exe.data);
    eprintln!("schtasksremote.exe: {} bytes, {pe:?}", exe.data.len());
    assert_eq!(pe.machine, 0x8664, "IMAGE_FILE_MACHINE_AMD64");
    assert_eq!(pe.magic, 0x20B, "PE32+");
    // IMAGE_SUBSYSTEM_WINDOWS_CUI: splunkd gives it pipes, no window.
    assert_eq!(pe.subsystem, 3, "a console program");
    assert_eq!(pe.symbols, 0, "not stripped");
    assert!(pe.imports.contains(&"kernel32.dll".to_string()));
    for dll in &pe.imports {
        assert!(
            WINDOWS_SYSTEM_DLLS.contains(&dll.as_str()),
            "imports {dll}, which does not ship with Windows: {:?}",
            pe.imports
        );
    }
}

/// One AppInspect check's result.
#[derive(Debug)]
struct CheckResult {
    result: String,
    messages: String,
}

type CheckResults = std::collections::BTreeMap<String, CheckResult>;

/// Runs `splunk-appinspect inspect <package> --mode precert <extra…>` and returns the
/// report's summary counts and each check's result by name.
fn appinspect(package: &Path, extra: &[&str]) -> (Value, CheckResults) {
    let appinspect = venv_tool("splunk-appinspect");
    let report = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    let out = Command::new(&appinspect)
        .args(["inspect"])
        .arg(package)
        .args(["--mode", "precert"])
        .args(extra)
        .args([
            "--skip-trusted-libraries-update",
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
    let mut results = CheckResults::new();
    for report in json["reports"].as_array().unwrap() {
        for group in report["groups"].as_array().unwrap() {
            for check in group["checks"].as_array().unwrap() {
                results.insert(
                    check["name"].as_str().unwrap().to_string(),
                    CheckResult {
                        result: check["result"].as_str().unwrap().to_string(),
                        messages: check["messages"].to_string(),
                    },
                );
            }
        }
    }
    let summary = json["summary"].clone();
    eprintln!("AppInspect {package:?} {extra:?}: {summary}");
    assert!(summary["success"].as_u64().unwrap() > 0);
    (summary, results)
}

/// The checks that did not pass, as `name: result: messages`, for assertion messages.
fn problems(results: &CheckResults) -> Vec<String> {
    results
        .iter()
        .filter(|(_, c)| !matches!(c.result.as_str(), "success" | "not_applicable"))
        .map(|(name, c)| format!("{name}: {}: {}", c.result, c.messages))
        .collect()
}

#[test]
fn appinspect_precert_on_the_linux_package_reports_no_failure_error_or_warning() {
    let package = require_package(Package::Linux);
    // The cloud set (what Splunk Cloud vets), then every check (no tag filter).
    for extra in [&["--included-tags", "cloud"][..], &[][..]] {
        let (summary, results) = appinspect(&package, extra);
        let problems = problems(&results);
        for count in ["failure", "error", "warning", "future_failure", "skipped"] {
            assert_eq!(summary[count], 0, "{extra:?} {count}: {problems:#?}");
        }
        assert!(problems.is_empty(), "{extra:?}: {problems:#?}");
        // The checks this app is most exposed to ran and passed (not skipped or N/A).
        for check in [
            "check_for_valid_package_id",
            "check_idx_binary_compatibility",
            "check_command_scripts_exist_for_cloud",
            "check_for_bin_files",
        ] {
            assert_eq!(
                results.get(check).map(|c| c.result.as_str()),
                Some("success"),
                "{extra:?} {check}"
            );
        }
    }
}

/// The README's text from the heading `heading` (e.g. `### Supported platforms`) to the
/// next heading.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let (_, section) = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README: no heading {heading:?}"));
    section.split("\n#").next().unwrap().to_string()
}

/// The AppInspect warnings the README explains for the all-platforms package: the check
/// names in the first column of the table under its "AppInspect on the all-platforms
/// package" heading.
fn readme_all_platforms_warnings() -> Vec<String> {
    let mut names: Vec<String> = readme_section("#### AppInspect on the all-platforms package")
        .lines()
        .filter_map(|line| line.strip_prefix("| `check_"))
        .map(|rest| format!("check_{}", rest.split('`').next().unwrap()))
        .collect();
    names.sort();
    names
}

#[test]
fn appinspect_on_the_all_platforms_package_fails_nothing_and_warns_only_as_the_readme_says() {
    let package = require_package(Package::AllPlatforms);
    let documented = readme_all_platforms_warnings();
    assert!(!documented.is_empty(), "the README lists no warning");
    // Every check (no tag filter), then the cloud set the Linux package passes cleanly.
    for extra in [&[][..], &["--included-tags", "cloud"][..]] {
        let (summary, results) = appinspect(&package, extra);
        let problems = problems(&results);
        for count in ["failure", "error", "future_failure", "skipped"] {
            assert_eq!(summary[count], 0, "{extra:?} {count}: {problems:#?}");
        }
        let warned: Vec<String> = results
            .iter()
            .filter(|(_, c)| c.result == "warning")
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(
            summary["warning"].as_u64(),
            Some(warned.len() as u64),
            "{extra:?}"
        );
        assert!(
            warned.iter().all(|w| documented.contains(w)),
            "{extra:?}: warnings the README does not explain: {problems:#?}"
        );
        // The no-filter run sees every check, so each documented warning must appear.
        if extra.is_empty() {
            assert_eq!(warned, documented, "{problems:#?}");
        }
        // The Windows build does not hide the command from the cloud checks: the file
        // Linux splunkd runs is still found and still passes.
        assert_eq!(
            results
                .get("check_command_scripts_exist_for_cloud")
                .map(|c| c.result.as_str()),
            Some("success"),
            "{extra:?}"
        );
    }
}

#[test]
fn aarch64_build_under_qemu_and_x86_64_build_answer_a_session_identically() {
    let package = require_package(Package::Linux);
    let qemu = require_tool("qemu-aarch64", "Debian package qemu-user");
    let app = extract_package(&package);
    let bin = app.path().join(APP_ID).join("bin");
    let input = crossbuild_support::events_session(&["action=annotate"]);

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

    let (_, x86) = &runs[0];
    assert_eq!(x86.status, 0, "x86_64: {}", x86.stderr);
    let reference = without_timings(&x86.stdout);
    // getinfo + one reply per execute chunk, and the session found something, so the
    // comparison covers detections, not only pass-through.
    assert_eq!(reference.len(), 4);
    assert_eq!(
        crossbuild_support::json(&reference[0].0)["type"],
        "streaming"
    );
    assert!(
        crossbuild_support::detections(&reference[1..]) > 0,
        "no detection in the session's replies"
    );
    for (name, outcome) in &runs[1..] {
        assert_eq!(outcome.status, 0, "{name}: {}", outcome.stderr);
        let replies = without_timings(&outcome.stdout);
        assert_eq!(replies.len(), reference.len(), "{name}");
        for (i, (ours, theirs)) in replies.iter().zip(&reference).enumerate() {
            assert_eq!(ours.0, theirs.0, "{name}: metadata of reply {i}");
            assert!(ours.1 == theirs.1, "{name}: body of reply {i} differs");
        }
    }
}

/// The rows of the README's "Supported platforms" table, as their cells.
fn readme_platform_rows() -> Vec<Vec<String>> {
    readme_section("### Supported platforms")
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2) // the header and the |---| line
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn readme_supported_platforms_table_matches_the_packages() {
    let packages: Vec<(Package, Vec<Member>)> = Package::ALL
        .into_iter()
        .map(|p| (p, read_package(&require_package(p))))
        .collect();
    let rows = readme_platform_rows();
    assert!(rows.len() >= 3, "{rows:?}");
    for row in &rows {
        assert_eq!(row.len(), 6, "{row:?}");
        // The paths in the "file splunkd runs" column.
        let files: Vec<&str> = row[4]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| s.contains('/'))
            .collect();
        for ((which, members), cell) in packages.iter().zip([&row[2], &row[3]]) {
            match cell.as_str() {
                "yes" => {
                    assert!(!files.is_empty(), "{row:?}: no file named");
                    for file in &files {
                        member(members, file);
                    }
                }
                "no" => {
                    for file in &files {
                        assert!(
                            !members.iter().any(|m| m.path == format!("{APP_ID}/{file}")),
                            "{row:?}: {which:?} has {file}"
                        );
                    }
                }
                other => panic!("{row:?}: {which:?} column says {other:?}, not yes or no"),
            }
        }
    }
    // Every binary in the all-platforms package is on some row.
    for m in &packages[1].1 {
        let name = m.path.trim_start_matches(&format!("{APP_ID}/"));
        if name.contains("bin/") && !m.is_dir {
            assert!(
                rows.iter().any(|row| row[4].contains(&format!("`{name}`"))),
                "{name} is on no row of the README's platform table"
            );
        }
    }
}
