//! Shared helpers for running the packaged builds of other platforms beside the native
//! one and comparing what they answer: the aarch64 build under qemu-user
//! (`tests/app_package.rs`) and the Windows build under Wine (`tests/app_windows.rs`).
//!
//! A test crate that uses this module also declares `mod app_support;` and
//! `mod scp_support;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::{app_support, scp_support};

/// What one run of a program did: exit status, stdout, stderr (lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Longest a single run may take. A Wine prefix that is not warm starts services that
/// inherit our pipes and keep them open after the program exits; the deadline turns that
/// hang into a failure that says so.
const DEADLINE: Duration = Duration::from_secs(300);

/// Runs a program with `input` on stdin (written while stdout and stderr are read, as
/// splunkd does) and returns what it did. Panics when it runs past [`DEADLINE`].
pub fn run(mut command: Command, input: &[u8]) -> Outcome {
    let mut child = scp_support::spawn_piped(&mut command);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    std::thread::spawn(move || {
        // The program may stop reading early (an error reply); that is not our failure.
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = mpsc::channel();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        let mut data = Vec::new();
        let _ = stdout.read_to_end(&mut data);
        let _ = out_tx.send((1, data));
    });
    std::thread::spawn(move || {
        let mut data = Vec::new();
        let _ = stderr.read_to_end(&mut data);
        let _ = tx.send((2, data));
    });
    let (mut out, mut err) = (None, None);
    while out.is_none() || err.is_none() {
        match rx.recv_timeout(DEADLINE) {
            Ok((1, data)) => out = Some(data),
            Ok((_, data)) => err = Some(data),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "{command:?} did not close its output within {} s (under Wine: a prefix \
                     that was not warmed with stdio on /dev/null)",
                    DEADLINE.as_secs()
                );
            }
        }
    }
    let status = child.wait().unwrap();
    Outcome {
        status: status.code().unwrap_or(-1),
        stdout: out.unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.unwrap_or_default()).into_owned(),
    }
}

/// The reply stream as (metadata, body) pairs, with the elapsed seconds of each inspector
/// metric (`"metric.<name>":[<seconds>,…]`) replaced by `0`: the only bytes of a reply
/// that may differ between two runs. Everything else is kept byte for byte, so two
/// streams compare equal only if they are the same bytes apart from those seconds (and
/// the chunk headers' metadata lengths, which count them).
pub fn without_timings(stdout: &[u8]) -> Vec<(String, Vec<u8>)> {
    scp_support::split_chunks(stdout)
        .into_iter()
        .map(|(meta, body)| {
            let meta = String::from_utf8(meta).expect("reply metadata is UTF-8");
            serde_json::from_str::<Value>(&meta)
                .unwrap_or_else(|e| panic!("reply metadata is not JSON ({e}): {meta}"));
            let mut masked = String::with_capacity(meta.len());
            let mut rest = meta.as_str();
            while let Some(at) = rest.find("\"metric.") {
                let open = at + rest[at..].find(":[").expect("a metric is an array") + 2;
                let close = open + rest[open..].find(',').expect("a metric has 4 numbers");
                masked.push_str(&rest[..open]);
                masked.push('0');
                rest = &rest[close..];
            }
            masked.push_str(rest);
            (masked, body)
        })
        .collect()
}

/// The metadata of a reply as JSON.
pub fn json(meta: &str) -> Value {
    serde_json::from_str(meta).unwrap()
}

/// The real schtasks events of the shared dataset (raw Sysmon/4688 field names), as one
/// SCP session with `args` in three execute chunks, with an invalid UTF-8 `_raw` on
/// every row.
pub fn events_session(args: &[&str]) -> Vec<u8> {
    let (mut header, events) = scp_support::schtasks_events();
    header.push("_raw".to_string());
    let mut stream = scp_support::getinfo(args);
    let batches: Vec<_> = events.chunks(events.len().div_ceil(3)).collect();
    for (i, batch) in batches.iter().enumerate() {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(&header).unwrap();
        for event in *batch {
            let mut row: Vec<&[u8]> = event.iter().map(|v| v.as_bytes()).collect();
            row.push(b"caf\xe9 \xff\"quoted\"");
            w.write_record(&row).unwrap();
        }
        let body = w.into_inner().unwrap();
        stream.extend(scp_support::execute(i + 1 == batches.len(), &body));
    }
    stream
}

/// Rows that have a `detection_name` in the reply bodies of an annotate or filter session.
pub fn detections(replies: &[(String, Vec<u8>)]) -> usize {
    let mut count = 0;
    for (_, body) in replies {
        let records = scp_support::records(body);
        let Some(header) = records.first() else {
            continue;
        };
        let Some(column) = header.iter().position(|name| name == b"detection_name") else {
            continue;
        };
        count += records[1..]
            .iter()
            .filter(|r| !r.get(column).unwrap_or_default().is_empty())
            .count();
    }
    count
}

/// The all-platforms package extracted once per test process, and a warm Wine prefix to
/// run its Windows build.
pub struct Windows {
    /// `wine` (the 64-bit loader on PATH).
    pub wine: PathBuf,
    /// The extracted app folder (`…/schtasksremote`).
    pub app: PathBuf,
    /// `WINEPREFIX`, kept between test runs in Cargo's test scratch folder.
    pub prefix: PathBuf,
    /// Whether the test-only `bcryptprimitives.dll` shim sits beside the build.
    pub shimmed: bool,
    /// The test-only `spawn.exe` (see `spawn.c`), which starts a program the way
    /// splunkd does on Windows: CreateProcessW on its full path, stdio inherited.
    pub spawn: PathBuf,
}

/// Folders under Cargo's per-build scratch folder (`target/tmp`).
fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Everything the Wine tests need, prepared once per test process: panics, saying what
/// to install, when Wine, MinGW-w64 or the all-platforms package is missing.
pub fn windows() -> &'static Windows {
    static WINDOWS: OnceLock<Windows> = OnceLock::new();
    WINDOWS.get_or_init(|| {
        let wine = app_support::require_tool(
            "wine",
            "Debian packages wine and wine64 (apt-get install wine wine64)",
        );
        let package = app_support::require_package(app_support::Package::AllPlatforms);
        let root = scratch("windows-package");
        if root.exists() {
            std::fs::remove_dir_all(&root).unwrap();
        }
        std::fs::create_dir_all(&root).unwrap();
        app_support::extract_package_into(&package, &root);
        let app = root.join(app_support::APP_ID);
        let prefix = scratch("wine-prefix");
        warm(&wine, &prefix);
        // Wine 8.13 and newer have their own bcryptprimitives.dll.
        let shimmed = !prefix
            .join("drive_c/windows/system32/bcryptprimitives.dll")
            .is_file();
        if shimmed {
            mingw_build(
                "bcryptprimitives.c",
                &app.join("windows_x86_64/bin/bcryptprimitives.dll"),
                &["-shared", "-ladvapi32"],
            );
        }
        let spawn = root.join("spawn.exe");
        mingw_build("spawn.c", &spawn, &["-municode"]);
        Windows {
            wine,
            app,
            prefix,
            shimmed,
            spawn,
        }
    })
}

/// The environment of every Wine run: our prefix, no debug channels on stderr (so stderr
/// can be compared with the Linux build's), no Mono or Gecko installers, no display, and
/// a UTF-8 locale, which Wine uses to turn Unix arguments into the UTF-16 command line a
/// Windows program gets (under the C locale it mangles non-ASCII arguments).
fn wine_env(command: &mut Command, prefix: &Path) {
    command
        .env("WINEPREFIX", prefix)
        .env("LC_ALL", "C.UTF-8")
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
}

/// Creates (first time: 5-15 s) or updates the prefix with stdio on /dev/null, so the
/// services Wine starts hold no pipe of a later test.
fn warm(wine: &Path, prefix: &Path) {
    let mut command = Command::new(wine);
    command.args(["wineboot", "--init"]);
    wine_env(&mut command, prefix);
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", wine.display()));
    assert!(
        status.success(),
        "`wine wineboot --init` failed ({status}) for the prefix {}",
        prefix.display()
    );
}

/// Builds one of the test-only Windows programs in `tests/crossbuild_support/` with
/// MinGW-w64 (`flags` after the source, so libraries resolve).
fn mingw_build(source: &str, out: &Path, flags: &[&str]) {
    let gcc = app_support::require_tool(
        "x86_64-w64-mingw32-gcc",
        "Debian package gcc-mingw-w64-x86-64",
    );
    let source = app_support::repo(&format!("tests/crossbuild_support/{source}"));
    let built = Command::new(gcc)
        .args(["-O2", "-s", "-o"])
        .arg(out)
        .arg(&source)
        .args(flags)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "building {} failed: {}",
        source.display(),
        String::from_utf8_lossy(&built.stderr)
    );
}

impl Windows {
    /// `wine` with only PATH, HOME and the variables of [`wine_env`] in its environment.
    fn wine_command(&self) -> Command {
        let mut command = Command::new(&self.wine);
        command.env_clear();
        for name in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        wine_env(&mut command, &self.prefix);
        command
    }

    /// `wine <windows_x86_64/bin/exe> args…`: the packaged Windows build started by Wine's
    /// loader with Unix arguments (converted to a Windows command line).
    pub fn command(&self, exe: &str, args: &[&str]) -> Command {
        let mut command = self.wine_command();
        command
            .arg(self.app.join("windows_x86_64/bin").join(exe))
            .args(args);
        command
    }

    /// `spawn.exe <windows_x86_64\bin\name> <arguments>` under Wine: the packaged file
    /// `name` started by CreateProcessW from a Windows parent, as splunkd starts it, with
    /// `arguments` as the rest of its Windows command line.
    pub fn create_process(&self, name: &str, arguments: &str) -> Command {
        let mut command = self.wine_command();
        command
            .arg(&self.spawn)
            .arg(wine_path(&self.app.join("windows_x86_64/bin").join(name)))
            .arg(arguments);
        command
    }

    /// The packaged Linux x86_64 build, the reference the Windows build is compared with.
    pub fn linux(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.app.join("bin/schtasksremote-linux-x86_64"));
        command.env_clear().args(args);
        command
    }

    /// Runs one SCP session through both builds and checks that the Windows build's exit
    /// status, stderr and replies (metric seconds masked) are the Linux build's, byte for
    /// byte. Returns the Linux build's outcome.
    pub fn same_session(&self, name: &str, input: &[u8]) -> Outcome {
        let linux = run(self.linux(&[]), input);
        let windows = run(self.command("schtasksremote.exe", &[]), input);
        assert_eq!(windows.status, linux.status, "{name}: exit status");
        assert_eq!(windows.stderr, linux.stderr, "{name}: stderr");
        let (ours, theirs) = (
            without_timings(&windows.stdout),
            without_timings(&linux.stdout),
        );
        assert_eq!(ours.len(), theirs.len(), "{name}: number of replies");
        for (i, (w, l)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(w.0, l.0, "{name}: metadata of reply {i}");
            assert!(w.1 == l.1, "{name}: body of reply {i} differs");
        }
        linux
    }
}

/// `Z:\…`: how Wine's default `Z:` drive names a Unix path (all of `/`).
pub fn wine_path(unix: &Path) -> String {
    let unix = unix
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", unix.display()));
    format!("Z:{}", unix.display()).replace('/', "\\")
}
