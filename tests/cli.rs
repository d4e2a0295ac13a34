//! The command line as a person meets it (issue 12, items 4 and 5): `explain` judges the
//! process the command line itself starts and says its verdict in the exit status; the
//! bare command at a terminal prints usage instead of waiting for Splunk's protocol.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_schtasksremote");

fn explain(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("explain")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run schtasksremote explain")
}

fn verdict_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("verdict"))
        .unwrap_or_default()
        .to_string()
}

/// The issue's case: `cmd.exe /c schtasks …` is a cmd.exe event, which the search and
/// `scan` do not judge as schtasks; `explain` now agrees with them unless told
/// otherwise with `--process-name`.
#[test]
fn explain_takes_the_process_from_argv0_and_exits_1_only_on_a_detection() {
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &["cmd.exe /c schtasks /create /s HOST2 /tn t /tr x /sc once"],
            0,
            "not a detection",
        ),
        (
            &["schtasks /create /s HOST2 /tn t /tr x /sc once"],
            1,
            "DETECTION (remote_create)",
        ),
        (
            &[r#""C:\Windows\System32\SCHTASKS.EXE" /create /s HOST2 /tn t /tr x"#],
            1,
            "DETECTION (remote_create)",
        ),
        (
            &[r"C:\Windows\System32\schtasks /create /s HOST2 /tn t /tr x"],
            1,
            "DETECTION (remote_create)",
        ),
        (
            &[
                "cmd.exe /c schtasks /create /s HOST2 /tn t /tr x /sc once",
                "--process-name",
                "schtasks.exe",
            ],
            1,
            "DETECTION (remote_create)",
        ),
        (
            &["schtasks /create /tn t /tr x /sc daily"],
            0,
            "not a detection (no_target_system)",
        ),
        (
            &[
                "schtasks /create /s ws1 /tn t /tr x",
                "--dest",
                "WS1.corp.local",
            ],
            0,
            "not a detection (self_target)",
        ),
    ];
    for (args, status, verdict) in cases {
        let out = explain(args);
        assert_eq!(
            out.status.code(),
            Some(status),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            verdict_line(&out).contains(verdict),
            "{args:?}: {}",
            verdict_line(&out)
        );
    }
    let text = String::from_utf8(explain(cases[0].0).stdout).unwrap();
    assert!(text.contains("(process_name cmd.exe,"), "{text}");
}

/// Issue 15 case 8 applies to `explain` too (found by a newcomer's run): the command
/// line and dest are attacker-controlled, so escape sequences and bidi overrides in them
/// are shown escaped, never sent to the terminal.
#[test]
fn explain_shows_control_and_bidi_characters_escaped() {
    let out = explain(&[
        "schtasks /create /s EV\u{202E}IL /tn t /tr \"a\u{1b}[2Jb\"",
        "--dest",
        "w\u{1b}[31m",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{202E}'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("\\u{1b}[2J") && stdout.contains("\\u{202e}"),
        "{stdout}"
    );
    assert!(stdout.lines().count() > 10, "{stdout}");
}

#[test]
fn explain_errors_exit_2() {
    let out = explain(&["schtasks /create /s H", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN).arg("explain").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no command line given");
}

/// A pseudo-terminal: (controller, the terminal's path side opened as a file).
fn pty() -> (OwnedFd, File) {
    // SAFETY: plain libc calls on a descriptor we own; each result is checked.
    unsafe {
        let controller = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(
            controller >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let controller = OwnedFd::from_raw_fd(controller);
        use std::os::fd::AsRawFd;
        assert_eq!(libc::grantpt(controller.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(controller.as_raw_fd()), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(controller.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        let terminal = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        (controller, terminal)
    }
}

#[test]
fn no_arguments_at_a_terminal_prints_usage_to_stderr_and_exits_2() {
    let (_controller, terminal) = pty();
    let mut child = Command::new(BIN)
        .stdin(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("schtasksremote with a terminal on stdin still waits after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = Vec::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty(), "nothing on stdout");
    for expected in ["Usage:", "explain", "scan", "chunked protocol"] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

/// splunkd's side is unchanged: on a pipe the bare command speaks the protocol, and an
/// empty pipe is a quiet end (status 0, nothing written), not usage.
#[test]
fn no_arguments_on_a_pipe_still_speaks_the_protocol() {
    let out = Command::new(BIN)
        .stdin(Stdio::piped())
        .output()
        .expect("run schtasksremote");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}
