//! Verifiable releases (issue 17): what `app/package.sh` releases carries no absolute path
//! of the building machine, each binary has its CycloneDX SBOM listing the crates compiled
//! into it, `dist/SHA256SUMS` verifies every released file, the toolchain is pinned, and
//! the cargo-deny policy (`deny.toml`) passes on our tree and fails on a planted git
//! source or a planted copyleft licence.
//!
//! `.ci/test` builds the packages before `cargo test`; without them the package tests
//! fail, saying how to build them. The byte-for-byte double build is `.ci/reproduce`.

mod app_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use app_support::*;
use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// (platform name in file names, package member of its binary, the packages holding it).
const BINARIES: [(&str, &str, &[Package]); 3] = [
    (
        "linux-x86_64",
        "bin/schtasksremote-linux-x86_64",
        &Package::ALL,
    ),
    (
        "linux-aarch64",
        "bin/schtasksremote-linux-aarch64",
        &Package::ALL,
    ),
    (
        "windows-x86_64",
        "windows_x86_64/bin/schtasksremote.exe",
        &[Package::AllPlatforms],
    ),
];

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The member at `path` below the app folder of `package`.
fn package_member(package: Package, path: &str) -> Vec<u8> {
    let members = read_package(&require_package(package));
    let wanted = format!("{APP_ID}/{path}");
    members
        .into_iter()
        .find(|m| m.path == wanted)
        .unwrap_or_else(|| panic!("{path} is not in {package:?}"))
        .data
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `path` as given and with symlinks resolved (rustc may see either).
fn spellings(path: &Path) -> Vec<String> {
    let mut all = vec![path.to_string_lossy().into_owned()];
    if let Ok(real) = path.canonicalize() {
        all.push(real.to_string_lossy().into_owned());
    }
    all
}

/// The folders of this machine a build reads sources from, which rustc would otherwise
/// write into the binaries (issue 17 found 91 registry paths).
fn build_machine_paths() -> Vec<String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".cargo")))
        .expect("CARGO_HOME or HOME is set");
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(ROOT)
        .output()
        .expect("rustc runs");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let mut paths = Vec::new();
    for dir in [Path::new(ROOT), &cargo_home, Path::new(&sysroot)] {
        paths.extend(spellings(dir));
    }
    if let Some(home) = home {
        paths.extend(spellings(&home).into_iter().map(|h| format!("{h}/")));
    }
    paths
}

#[test]
fn shipped_binaries_contain_no_absolute_path_of_the_build_machine() {
    // Spelled out as well as this machine's own folders, since a CI machine's are others.
    let generic = [
        "/root/",
        "/home/",
        "/work/",
        ".cargo/registry",
        ".rustup/",
        "/tmp/",
    ];
    let machine = build_machine_paths();
    for (platform, member, packages) in BINARIES {
        for &package in packages {
            let binary = package_member(package, member);
            for needle in generic.iter().map(|s| s.to_string()).chain(machine.clone()) {
                assert!(
                    !contains(&binary, needle.as_bytes()),
                    "{package:?} {member} contains the build machine's path {needle:?} \
                     (app/package.sh --remap-path-prefix)"
                );
            }
            // The sources are named by the remapped prefixes instead: proof that the check
            // above looks at the text where the paths used to be.
            assert!(
                contains(&binary, b"/cargo/registry/src/"),
                "{platform}: no remapped registry path in {member}"
            );
        }
    }
}

/// MinGW-w64's ld writes the link time into the PE file header unless
/// `--no-insert-timestamp` (app/package.sh): the Windows build must carry zero there, or two
/// builds a second apart differ (seen in the first double build).
#[test]
fn windows_build_has_no_link_time_in_its_pe_header() {
    let exe = package_member(
        Package::AllPlatforms,
        "windows_x86_64/bin/schtasksremote.exe",
    );
    let u32_at = |at: usize| {
        exe.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .expect("PE header in range")
    };
    // MS-DOS header: e_lfanew at 0x3c; then "PE\0\0", Machine, NumberOfSections,
    // TimeDateStamp (Microsoft PE format, "COFF File Header").
    let pe = u32_at(0x3c) as usize;
    assert_eq!(exe.get(pe..pe + 4), Some(&b"PE\0\0"[..]), "PE signature");
    assert_eq!(u32_at(pe + 8), 0, "TimeDateStamp of the Windows build");
}

/// The SBOM of one binary as released in `dist/`.
fn dist_sbom(platform: &str) -> Value {
    let path = repo(&format!("dist/{APP_ID}-{VERSION}-{platform}.cdx.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run `bash app/package.sh` first (.ci/test does)",
            path.display()
        )
    });
    serde_json::from_slice(&text).expect("the SBOM is JSON")
}

/// (name, version) of every crate Cargo.lock takes from crates.io: its `[[package]]`
/// tables, each with `name`, `version` and `source` lines.
fn locked_crates() -> BTreeSet<(String, String)> {
    let lock = read("Cargo.lock");
    let value = |block: &str, key: &str| {
        block.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix(" = "))
                .map(|v| v.trim_matches('"').to_string())
        })
    };
    lock.split("[[package]]")
        .filter(|b| value(b, "source").is_some_and(|s| s.contains("crates.io")))
        .filter_map(|b| Some((value(b, "name")?, value(b, "version")?)))
        .collect()
}

/// The crates an SBOM lists: name -> version.
fn sbom_components(sbom: &Value) -> BTreeMap<String, String> {
    sbom["components"]
        .as_array()
        .expect("components is an array")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_string(),
                c["version"].as_str().expect("version").to_string(),
            )
        })
        .collect()
}

#[test]
fn each_binary_has_a_cyclonedx_sbom_of_the_crates_compiled_into_it() {
    let locked = locked_crates();
    for (platform, _, packages) in BINARIES {
        let sbom = dist_sbom(platform);
        assert_eq!(sbom["bomFormat"], "CycloneDX", "{platform}");
        assert_eq!(sbom["specVersion"], "1.5", "{platform}");
        assert_eq!(sbom["metadata"]["component"]["name"], APP_ID, "{platform}");
        assert_eq!(sbom["metadata"]["component"]["version"], VERSION);
        // Reproducible: no random serial number, no folder of this machine.
        assert!(
            sbom.get("serialNumber").is_none(),
            "{platform}: serialNumber"
        );
        let text = sbom.to_string();
        for needle in build_machine_paths() {
            assert!(
                !text.contains(&needle),
                "{platform} SBOM contains {needle:?}"
            );
        }
        assert!(text.contains("path+file:///build/schtasksremote#schtasksremote@"));
        let components = sbom_components(&sbom);
        for (name, version) in &components {
            assert!(
                locked.contains(&(name.clone(), version.clone())),
                "{platform}: {name} {version} is not a crates.io crate of Cargo.lock"
            );
        }
        // Every [dependencies] crate is compiled in, ...
        for name in [
            "serde",
            "serde_json",
            "csv",
            "thiserror",
            "clap",
            "quick-xml",
            "evtx",
            "flate2",
            "zip",
            "tar",
            "memchr",
            "encoding_rs",
            "indicatif",
        ] {
            assert!(components.contains_key(name), "{platform}: {name} missing");
        }
        // ... and no dev-dependency.
        for dev_only in ["proptest", "criterion", "tempfile"] {
            assert!(!components.contains_key(dev_only), "{platform}: {dev_only}");
        }
        for c in sbom["components"].as_array().unwrap() {
            let purl = c["purl"].as_str().unwrap_or_default();
            assert!(purl.starts_with("pkg:cargo/"), "{platform}: purl {purl}");
            assert!(
                c.get("licenses").is_some(),
                "{platform}: {} has no licence",
                c["name"]
            );
        }
        // The packages ship the same SBOM as dist/.
        let released = std::fs::read(repo(&format!(
            "dist/{APP_ID}-{VERSION}-{platform}.cdx.json"
        )))
        .unwrap();
        for &package in packages {
            let shipped = package_member(package, &format!("sbom/{APP_ID}-{platform}.cdx.json"));
            assert!(shipped == released, "{package:?}: sbom/ differs from dist/");
        }
    }
    // Each SBOM is of its own target: Windows builds windows-sys (the terminal, file
    // times), Linux rustix and linux-raw-sys (tar's xattr) instead.
    for (platform, has, lacks) in [
        ("linux-x86_64", "linux-raw-sys", "windows-sys"),
        ("linux-aarch64", "linux-raw-sys", "windows-sys"),
        ("windows-x86_64", "windows-sys", "linux-raw-sys"),
    ] {
        let components = sbom_components(&dist_sbom(platform));
        assert!(components.contains_key(has), "{platform} SBOM lacks {has}");
        assert!(
            !components.contains_key(lacks),
            "{platform} SBOM has {lacks}"
        );
    }
}

#[test]
fn sha256sums_verifies_every_released_file_and_the_binaries_are_the_packaged_ones() {
    let dist = repo("dist");
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap_or_else(|e| {
        panic!("dist/SHA256SUMS: {e}: run `bash app/package.sh` first (.ci/test does)")
    });
    let listed: BTreeSet<String> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("sha256sum format").1.to_string())
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    assert_eq!(listed, present, "SHA256SUMS lists every file in dist/");
    for package in ["", "-all-platforms"] {
        for ext in ["tgz", "spl"] {
            assert!(listed.contains(&format!("{APP_ID}-{VERSION}{package}.{ext}")));
        }
    }
    require_tool("sha256sum", "GNU coreutils");
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "sha256sum -c: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    for (platform, member, packages) in BINARIES {
        let exe = if platform.starts_with("windows") {
            ".exe"
        } else {
            ""
        };
        let released =
            std::fs::read(dist.join(format!("{APP_ID}-{VERSION}-{platform}{exe}"))).unwrap();
        for &package in packages {
            assert!(
                package_member(package, member) == released,
                "{package:?} {member} is not dist/'s {platform} binary"
            );
        }
    }
}

#[test]
fn toolchain_is_pinned_to_an_exact_version_with_the_package_targets() {
    let file = read("rust-toolchain.toml");
    let channel = file
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .expect("rust-toolchain.toml sets channel")
        .trim_matches('"');
    let parts: Vec<&str> = channel.split('.').collect();
    assert!(
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "channel {channel:?} is not an exact version (x.y.z)"
    );
    let package = read("app/package.sh");
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-pc-windows-gnu",
    ] {
        assert!(package.contains(target), "app/package.sh builds {target}");
        assert!(file.contains(&format!("\"{target}\"")), "{target} pinned");
    }
    // The compiler these tests were built with is the pinned one (rustup honours the file).
    let rustc = Command::new("rustc")
        .arg("--version")
        .current_dir(ROOT)
        .output()
        .expect("rustc runs");
    let rustc = String::from_utf8_lossy(&rustc.stdout);
    assert!(
        rustc.starts_with(&format!("rustc {channel} ")),
        "rustc here is {rustc:?}, rust-toolchain.toml pins {channel}"
    );
}

#[test]
fn release_tools_are_installed_at_the_versions_the_scripts_and_readme_name() {
    let run = read(".ci/run");
    let package = read("app/package.sh");
    let readme = read("README.md");
    for (tool, version) in [("cargo-deny", "0.20.2"), ("cargo-cyclonedx", "0.5.9")] {
        assert!(
            run.contains(&format!("\"{tool} {version}\"")),
            ".ci/run: {tool}"
        );
        assert!(
            readme.contains(&format!(
                "cargo install --locked --version {version} {tool}"
            )),
            "README: {tool} {version}"
        );
    }
    assert!(package.contains("cyclonedx_version=0.5.9"));
}

// --- cargo-deny ---------------------------------------------------------------------

/// The cargo that runs the tests (the pinned toolchain's), for its `deny` subcommand.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `cargo deny <global> check --config deny.toml <checks>` on the manifest in `dir`, with
/// `cargo_home` when given. Fails the test, saying what to install, without cargo-deny.
fn cargo_deny(dir: &Path, cargo_home: Option<&Path>, global: &[&str], checks: &[&str]) -> Output {
    let probe = cargo()
        .args(["deny", "--version"])
        .output()
        .expect("cargo runs");
    if !probe.status.success() {
        cannot_check(
            "cargo-deny is not installed: cargo install --locked --version 0.20.2 cargo-deny",
        );
    }
    let mut command = cargo();
    command
        .arg("deny")
        .args(global)
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--config")
        .arg(repo("deny.toml"))
        .arg("check")
        .args(checks)
        .current_dir(dir);
    if let Some(home) = cargo_home {
        command.env("CARGO_HOME", home);
    }
    command.output().expect("cargo deny runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn cargo_deny_policy_passes_on_the_locked_tree() {
    let out = cargo_deny(
        Path::new(ROOT),
        None,
        &["--locked", "--offline"],
        &["licenses", "bans", "sources"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Duplicate versions are reported, not refused.
    assert!(
        stderr(&out).contains("duplicate"),
        "bans reports duplicates: {}",
        stderr(&out)
    );
}

/// A copy of our manifest and lock file (sources linked, not copied) in a temporary folder,
/// with `dependency` added to [dependencies], and a crate `planted` of licence `license`
/// beside it as a git repository. Offline: cargo resolves the git dependency from the
/// local repository and every other crate from the lock file and the registry cache.
fn planted_project(license: &str, dependency: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted");
    std::fs::create_dir_all(planted.join("src")).unwrap();
    std::fs::write(
        planted.join("Cargo.toml"),
        format!(
            "[package]\nname = \"planted\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             license = \"{license}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(planted.join("src/lib.rs"), "").unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&planted)
            .output()
            .expect("git runs");
        assert!(status.status.success(), "git {args:?}: {}", stderr(&status));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "planted"]);

    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let manifest = read("Cargo.toml");
    let dependency = dependency.replace("PLANTED", &planted.to_string_lossy());
    let planted_manifest = manifest.replacen(
        "\n[dependencies]\n",
        &format!("\n[dependencies]\nplanted = {dependency}\n"),
        1,
    );
    assert_ne!(
        planted_manifest, manifest,
        "Cargo.toml has a [dependencies] table"
    );
    std::fs::write(project.join("Cargo.toml"), planted_manifest).unwrap();
    std::fs::copy(repo("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    for linked in ["src", "benches", "examples", "tests"] {
        std::os::unix::fs::symlink(repo(linked), project.join(linked)).unwrap();
    }
    dir
}

/// cargo-deny's verdict on the planted project in `dir`. Its cargo home links our
/// registry (offline: the lock file and the crate cache have every crates.io crate) and has
/// its own git folder, so the planted checkout stays in the temporary folder. cargo fetches
/// the planted repository from the local disk first; cargo-deny then reads offline.
fn deny_planted(dir: &Path, checks: &[&str]) -> Output {
    let cargo_home = dir.join("cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    let ours = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME is set");
    std::os::unix::fs::symlink(ours.join("registry"), cargo_home.join("registry")).unwrap();
    let project = dir.join("project");
    let fetch = cargo()
        .args(["metadata", "--format-version", "1"])
        .env("CARGO_HOME", &cargo_home)
        .current_dir(&project)
        .output()
        .expect("cargo runs");
    assert!(fetch.status.success(), "cargo metadata: {}", stderr(&fetch));
    cargo_deny(&project, Some(&cargo_home), &["--offline"], checks)
}

/// cargo-deny failed, and its report names the planted crate and each of `why`.
fn assert_refused(out: &Output, check: &str, why: &[&str]) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "{check} passed the planted crate: {err}"
    );
    for needle in std::iter::once(&"planted").chain(why) {
        assert!(err.contains(needle), "{check}: no {needle:?} in {err}");
    }
}

#[test]
fn cargo_deny_refuses_a_crate_from_a_git_repository() {
    let dir = planted_project("MIT", "{ git = \"file://PLANTED\" }");
    let out = deny_planted(dir.path(), &["sources"]);
    assert_refused(&out, "sources", &["source-not-allowed"]);
}

#[test]
fn cargo_deny_refuses_a_licence_outside_the_allow_list() {
    // A path dependency: a source cargo-deny does not judge, so only the licence fails.
    let dir = planted_project("GPL-3.0-only", "{ path = \"PLANTED\" }");
    let out = deny_planted(dir.path(), &["licenses"]);
    assert_refused(&out, "licenses", &["GPL-3.0-only", "rejected"]);
    // Control: the same planted crate under MIT passes, so the licence is what failed.
    let dir = planted_project("MIT", "{ path = \"PLANTED\" }");
    let out = deny_planted(dir.path(), &["licenses"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

// --- .ci/reproduce's comparison ---------------------------------------------------------

/// The files `.ci/reproduce` compares, below a checkout: dist/ and the three binaries.
fn release_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo("dist"))
        .unwrap_or_else(|e| panic!("dist/: {e}: run `bash app/package.sh` first (.ci/test does)"))
        .map(|e| format!("dist/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    files.extend([
        "target/x86_64-unknown-linux-musl/dist/schtasksremote".to_string(),
        "target/aarch64-unknown-linux-musl/dist/schtasksremote".to_string(),
        "target/x86_64-pc-windows-gnu/dist/schtasksremote.exe".to_string(),
    ]);
    files
}

/// `bash .ci/reproduce --compare OTHER`: (success, stderr).
fn reproduce_compare(other: &Path) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo(".ci/reproduce"))
        .arg("--compare")
        .arg(other)
        .output()
        .expect("bash runs");
    (out.status.success(), stderr(&out))
}

/// The comparison CI's double build ends with: a copy of this build is byte-identical; a
/// copy with one byte changed in the Linux x86_64 binary fails, naming the file and the
/// byte; a copy with an extra file in dist/ fails, naming the file.
#[test]
fn reproduce_names_the_first_file_and_byte_that_differ() {
    let other = tempfile::tempdir().unwrap();
    for file in release_files() {
        let to = other.path().join(&file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo(&file), &to)
            .unwrap_or_else(|e| panic!("{file}: {e}: run `bash app/package.sh` first"));
    }
    let (same, err) = reproduce_compare(other.path());
    assert!(same, "{err}");
    assert!(err.contains("byte-identical"), "{err}");

    let changed = other
        .path()
        .join("target/x86_64-unknown-linux-musl/dist/schtasksremote");
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes[4096] ^= 0xff;
    std::fs::write(&changed, &bytes).unwrap();
    let (same, err) = reproduce_compare(other.path());
    assert!(!same, "a changed byte passed: {err}");
    assert!(
        err.contains("first difference: target/x86_64-unknown-linux-musl/dist/schtasksremote"),
        "{err}"
    );
    assert!(err.contains("byte 4097"), "{err}");

    std::fs::write(other.path().join("dist/extra"), b"").unwrap();
    let (same, err) = reproduce_compare(other.path());
    assert!(!same, "an extra file passed: {err}");
    assert!(err.contains("> ./extra"), "{err}");
}
