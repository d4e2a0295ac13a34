//! What the README promises someone who builds, tests or runs the project (issue 12,
//! items 10, 12 and 13): the minimum Rust version is the one the locked dependencies
//! need; the test command is what CI runs and no test behaves differently under CI;
//! `.ci/run` hides no failure; the README says how to get the binary on `PATH`.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whitespace runs folded to one space, so a phrase may wrap across lines.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cargo_toml_rust_version() -> String {
    read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("Cargo.toml sets rust-version")
}

fn version(v: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = v.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    parts.resize(3, 0);
    parts
}

/// `cargo` run offline on this crate; its stdout.
fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .args(["--offline", "--manifest-path"])
        .arg(Path::new(ROOT).join("Cargo.toml"))
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo's output is UTF-8")
}

/// (highest declared rust-version, the packages that declare it) among the packages
/// `cargo tree` builds for these edge kinds.
fn highest_rust_version(edges: &str) -> (String, Vec<String>) {
    let tree = cargo(&[
        "tree", "--locked", "-e", edges, "--prefix", "none", "--format", "{p}",
    ]);
    let built: Vec<(String, String)> = tree
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((
                words.next()?.to_string(),
                words.next()?.trim_start_matches('v').to_string(),
            ))
        })
        .collect();
    let metadata: serde_json::Value =
        serde_json::from_str(&cargo(&["metadata", "--locked", "--format-version", "1"]))
            .expect("cargo metadata is JSON");
    let mut best = (String::from("0"), Vec::new());
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or_default();
        let ver = package["version"].as_str().unwrap_or_default();
        if !built.iter().any(|(n, v)| n == name && v == ver) {
            continue;
        }
        let Some(rust) = package["rust_version"].as_str() else {
            continue;
        };
        let who = format!("{name} {ver}");
        match version(rust).cmp(&version(&best.0)) {
            std::cmp::Ordering::Greater => best = (rust.to_string(), vec![who]),
            std::cmp::Ordering::Equal => best.1.push(who),
            std::cmp::Ordering::Less => {}
        }
    }
    best
}

/// `rust-version` must not promise builds the locked dependencies refuse (it said 1.80
/// while clap 4.6 needed 1.85); `.ci/test` also builds every target with it.
#[test]
fn rust_version_is_the_highest_any_locked_dependency_declares() {
    let ours = cargo_toml_rust_version();
    let (needed, by) = highest_rust_version("normal,build");
    assert_eq!(
        version(&ours),
        version(&needed),
        "Cargo.toml rust-version is {ours}; the locked dependencies need {needed} ({by:?})"
    );
    let (tests_need, by) = highest_rust_version("normal,build,dev");
    assert!(
        version(&tests_need) <= version(&ours),
        "the tests' dependencies need {tests_need} ({by:?}), more than rust-version {ours}: \
         say so in the README and build the tests with a newer toolchain in .ci/test"
    );
}

#[test]
fn the_readme_states_the_minimum_rust_version() {
    let ours = cargo_toml_rust_version();
    let readme = flat(&read("README.md"));
    for phrase in [
        format!("You need a Rust toolchain, {ours} or newer"),
        format!("**Minimum supported Rust version: {ours}.**"),
    ] {
        assert!(readme.contains(&phrase), "README lacks {phrase:?}");
    }
    let ci = read(".ci/test");
    assert!(ci.contains("cargo \"+$msrv\" check --locked --all-targets"));
    assert!(ci.contains("awk -F'\"' '/^rust-version = /"));
}

/// The README's test command is `bash .ci/run`, what CI runs; no test reads `CI`, so the
/// same command checks the same things on a laptop (issue 12, item 12).
#[test]
fn the_readme_test_command_is_what_ci_runs_and_no_test_reads_ci() {
    let readme = read("README.md");
    let block = readme
        .split("<!-- test-command -->")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README marks its test command with <!-- test-command -->");
    assert_eq!(block.trim(), "bash .ci/run");
    assert!(read(".ci/run").trim_end().ends_with("exec bash .ci/test"));

    let mut readers = Vec::new();
    let mut stack = vec![Path::new(ROOT).join("tests")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let needle = ["var_os(\"", "CI\")"].concat();
                let needle2 = ["var(\"", "CI\")"].concat();
                if text.contains(&needle) || text.contains(&needle2) {
                    readers.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        readers.is_empty(),
        "tests that behave differently under CI: {readers:?}"
    );
}

/// `.ci/run` used to end install steps with `|| true` and `>/dev/null`, so a failed
/// install surfaced later as a confusing test failure. Each step now stops the run
/// naming itself.
#[test]
fn ci_run_hides_no_failure_and_the_readme_says_what_it_needs() {
    let run = read(".ci/run");
    for (n, line) in run.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default();
        assert!(!code.contains("|| true"), ".ci/run:{}: {line}", n + 1);
        if code.contains(">/dev/null") || code.contains("2>&1") {
            assert!(
                code.trim_start().starts_with("command -v")
                    || code.contains("&& command -v")
                    || code.contains("|| command -v")
                    || code.trim_start().starts_with("if command -v"),
                ".ci/run:{}: output thrown away: {line}",
                n + 1
            );
        }
    }
    assert!(run.contains("FAILED"));
    let development = flat(&read("README.md"));
    for need in [
        "root, or `sudo`, for `apt-get`",
        "`rustup`",
        "`python3` and `python3-venv`",
        "network access to the Debian mirrors",
    ] {
        assert!(
            development.contains(need),
            "README does not say .ci/run needs {need}"
        );
    }
    for package in ["libmagic1", "qemu-user", "python3-venv"] {
        assert!(run.contains(package), ".ci/run does not install {package}");
    }
}

/// Every example calls a bare `schtasksremote`; the README says how to get it there.
#[test]
fn the_readme_says_how_to_put_the_binary_on_path() {
    let readme = flat(&read("README.md"));
    assert!(readme.contains("cargo install --locked --path ."));
    assert!(readme.contains("`target/release/schtasksremote`"));
    let binary = Path::new(env!("CARGO_BIN_EXE_schtasksremote"));
    assert_eq!(
        binary.file_name().and_then(|n| n.to_str()),
        Some("schtasksremote")
    );
}

/// `explain`'s exit statuses as documented are the ones it returns (tests/cli.rs runs
/// them); here: the README table has exactly these rows.
#[test]
fn the_readme_documents_explains_exit_status() {
    let readme = read("README.md");
    let table = readme
        .split("<!-- explain-status -->")
        .nth(1)
        .expect("README marks explain's exit status table");
    let rows: Vec<&str> = table
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect();
    let statuses: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.split('|').nth(1).map(str::trim))
        .collect();
    assert_eq!(statuses, ["0", "1", "2"]);
    assert!(rows[0].contains("not a detection"));
    assert!(rows[1].contains("a detection"));
}
