//! Shared helpers for the `app_*` tests: read the Splunk app's conf files, find the
//! packages `app/package.sh` built and the tools `.ci/run` installs.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const APP_ID: &str = "schtasksremote";

/// A file of the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(ROOT).join(path)
}

/// One stanza of a conf file: its name and its settings in file order.
#[derive(Debug, Clone)]
pub struct Stanza {
    pub name: String,
    pub settings: Vec<(String, String)>,
}

impl Stanza {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn keys(&self) -> Vec<&str> {
        self.settings.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Parses a Splunk .conf file the way splunkd reads one: `#` comment lines, `[stanza]`
/// headers, `key = value` with surrounding blanks trimmed, and a trailing `\` joining
/// the next line (kept as a newline in the value, as btool shows it). Settings before
/// the first header belong to the stanza named "default". Panics on a line that is
/// none of these, naming the file and line.
pub fn parse_conf(path: &Path) -> Vec<Stanza> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut stanzas = vec![Stanza {
        name: "default".into(),
        settings: Vec::new(),
    }];
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .unwrap_or_else(|| panic!("{}:{}: unclosed stanza header", path.display(), n + 1));
            stanzas.push(Stanza {
                name: name.to_string(),
                settings: Vec::new(),
            });
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| {
            panic!(
                "{}:{}: expected `key = value`, got {line:?}",
                path.display(),
                n + 1
            )
        });
        let mut value = value.trim().to_string();
        while value.ends_with('\\') {
            value.pop();
            let (_, next) = lines.next().unwrap_or_else(|| {
                panic!("{}:{}: `\\` continues past the end", path.display(), n + 1)
            });
            value.push('\n');
            value.push_str(next.trim());
        }
        let last = stanzas.len() - 1;
        stanzas[last]
            .settings
            .push((key.trim().to_string(), value.trim().to_string()));
    }
    stanzas.retain(|s| s.name != "default" || !s.settings.is_empty());
    stanzas
}

/// The stanza of that name; panics naming the file if there is none.
pub fn stanza<'a>(stanzas: &'a [Stanza], name: &str) -> &'a Stanza {
    stanzas
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no [{name}] stanza"))
}

/// A tool installed next to the Python that `.ci/test` names in `SCHTASKSREMOTE_PYTHON`
/// (the venv's `bin/`). Fails the test, saying what to install, when it cannot be found:
/// a check that cannot run never passes quietly (issue 12, item 12).
pub fn venv_tool(name: &str) -> PathBuf {
    let Some(python) = std::env::var_os("SCHTASKSREMOTE_PYTHON") else {
        cannot_check(&format!(
            "SCHTASKSREMOTE_PYTHON is unset, so {name} (installed in the venv by .ci/run) \
             cannot be found: point it at a venv's python with .ci/requirements.txt installed \
             (.ci/test sets it to .venv/bin/python)"
        ));
    };
    let tool = Path::new(&python)
        .parent()
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name));
    if !tool.is_file() {
        cannot_check(&format!(
            "{} not found next to SCHTASKSREMOTE_PYTHON; install .ci/requirements.txt in that venv",
            tool.display()
        ));
    }
    tool
}

/// Fails the test: a check that cannot run fails, in every environment, since a skipped
/// check would pass without checking anything (issue 12, item 12). `why` says what is
/// missing; the message adds that `bash .ci/run` (the README's test command) installs it.
pub fn cannot_check(why: &str) -> ! {
    panic!(
        "{why}. This test cannot check without it: run `bash .ci/run`, which installs \
         everything the tests need (README, Development)"
    );
}

/// A program on PATH. Panics, naming what to install, when it is missing: a test that
/// cannot run its check fails.
pub fn require_tool(name: &str, install: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| cannot_check(&format!("{name} is not on PATH: install {install}")))
}

/// The two packages `app/package.sh` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package {
    /// `dist/<app>-<version>.tgz`: Linux x86_64 and aarch64 (Splunk Cloud, Splunkbase).
    Linux,
    /// `dist/<app>-<version>-all-platforms.tgz`: the same plus the Windows x86_64 build.
    AllPlatforms,
}

impl Package {
    pub const ALL: [Package; 2] = [Package::Linux, Package::AllPlatforms];

    /// The package's path, for this crate's version.
    pub fn path(self) -> PathBuf {
        let suffix = match self {
            Package::Linux => "",
            Package::AllPlatforms => "-all-platforms",
        };
        repo(&format!(
            "dist/{APP_ID}-{}{suffix}.tgz",
            env!("CARGO_PKG_VERSION")
        ))
    }
}

/// The package `app/package.sh` wrote. Panics, saying how to build it, when it is
/// missing (`.ci/test` builds both before `cargo test`).
pub fn require_package(which: Package) -> PathBuf {
    let path = which.path();
    assert!(
        path.is_file(),
        "{} does not exist: run `bash app/package.sh` first (.ci/test does; it needs the \
         rustup targets x86_64-unknown-linux-musl, aarch64-unknown-linux-musl and \
         x86_64-pc-windows-gnu and Debian's gcc-mingw-w64-x86-64)",
        path.display()
    );
    path
}

/// One archive member: path, mode bits, whether it is a directory, contents.
#[derive(Debug)]
pub struct Member {
    pub path: String,
    pub mode: u32,
    pub is_dir: bool,
    pub data: Vec<u8>,
}

/// Every member of a .tgz, in archive order.
pub fn read_package(path: &Path) -> Vec<Member> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut members = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header();
        let is_dir = header.entry_type().is_dir();
        assert!(
            is_dir || header.entry_type().is_file(),
            "{:?}: only files and folders belong in the package",
            entry.path().unwrap()
        );
        let mode = header.mode().unwrap() & 0o7777;
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        members.push(Member {
            path: path.trim_end_matches('/').to_string(),
            mode,
            is_dir,
            data,
        });
    }
    members
}

/// Extracts the package into a fresh temporary folder (modes kept).
pub fn extract_package(path: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    extract_package_into(path, dir.path());
    dir
}

/// Extracts the package into `dir` (modes kept).
pub fn extract_package_into(path: &Path, dir: &Path) {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_permissions(true);
    archive.unpack(dir).unwrap();
}
