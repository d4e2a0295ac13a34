//! The launcher `bin/schtasksremote` started every way splunkd or an admin may start it
//! (issue 16): under dash (Debian's /bin/sh, and the `#!/bin/sh` of a direct exec), bash
//! and busybox sh; with no PATH, `env -i` and `PATH=/nonexistent`; through symlinks in
//! other folders; from a path with spaces; on a CPU it has no build for; with the binary
//! missing, without `+x`, on a real `noexec` mount, failing at exec (ETXTBSY); and with no
//! uname or readlink on the machine. Each run either answers a real session exactly as the
//! binary alone does, or sends ONE well-formed SCP v2 error reply (read with the project's
//! own `ChunkReader`; once also with the Splunk Python SDK's chunk reader) naming the
//! cause and the path it tried, with the same line on stderr.
//!
//! Each test copies the launcher and the debug binary (`CARGO_BIN_EXE_schtasksremote`, as
//! `schtasksremote-linux-<this CPU>`) into a fresh app folder under a path with spaces.
//! The mount tests run in a private mount namespace (`unshare`), so nothing leaks.

mod app_support;
mod crossbuild_support;
mod scp_support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use app_support::{cannot_check, repo, require_tool, APP_ID};
use crossbuild_support::{without_timings, Outcome};
use schtasksremote::protocol::framing::ChunkReader;
use serde_json::Value;

/// The binary the tests copy into each app folder.
const BIN: &str = env!("CARGO_BIN_EXE_schtasksremote");

/// This machine's CPU as the package names it (`bin/schtasksremote-linux-<cpu>`).
fn host_cpu() -> &'static str {
    match std::env::consts::ARCH {
        cpu @ ("x86_64" | "aarch64") => cpu,
        other => cannot_check(&format!(
            "the app ships builds for x86_64 and aarch64 only, and this machine is {other}"
        )),
    }
}

/// One app folder: `<tmp>/Program Files/splunk home/etc/apps/schtasksremote/bin/` with the
/// launcher and this CPU's build, both 755.
struct App {
    root: tempfile::TempDir,
    bin: PathBuf,
}

impl App {
    fn new() -> App {
        let root = tempfile::tempdir().unwrap();
        let bin = root
            .path()
            .join("Program Files/splunk home/etc/apps")
            .join(APP_ID)
            .join("bin");
        install_app(&bin);
        App { root, bin }
    }

    fn launcher(&self) -> PathBuf {
        self.bin.join(APP_ID)
    }

    fn binary(&self) -> PathBuf {
        self.bin.join(format!("{APP_ID}-linux-{}", host_cpu()))
    }

    /// A folder of this app's temporary tree, outside the app.
    fn elsewhere(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// Writes the launcher and this CPU's build into `bin`, both 755. `cp` writes them, not
/// this process: a file this process held open for writing could be inherited by a child
/// another test thread is starting, and exec of it would then fail (ETXTBSY) at random.
fn install_app(bin: &Path) {
    fs::create_dir_all(bin).unwrap();
    let launcher = bin.join(APP_ID);
    let binary = bin.join(format!("{APP_ID}-linux-{}", host_cpu()));
    for (from, to) in [
        (repo("bin/schtasksremote"), &launcher),
        (PathBuf::from(BIN), &binary),
    ] {
        let status = Command::new("cp").arg(&from).arg(to).status().unwrap();
        assert!(status.success(), "cp {} {}", from.display(), to.display());
        fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// How the launcher is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shell {
    /// execve of the script itself, as splunkd does: its `#!/bin/sh`.
    Exec,
    Dash,
    Bash,
    Busybox,
}

const SHELLS: [Shell; 4] = [Shell::Exec, Shell::Dash, Shell::Bash, Shell::Busybox];

impl Shell {
    /// The program and arguments that run `script` under this shell.
    fn argv(self, script: &Path) -> Vec<String> {
        let script = script.display().to_string();
        let tool = |name: &str, install: &str| {
            // Absolute, so a test may clear PATH.
            require_tool(name, install).display().to_string()
        };
        match self {
            Shell::Exec => vec![script],
            Shell::Dash => vec![tool("dash", "Debian package dash"), script],
            Shell::Bash => vec![tool("bash", "Debian package bash"), script],
            Shell::Busybox => vec![
                tool("busybox", "Debian package busybox"),
                "sh".into(),
                script,
            ],
        }
    }

    fn command(self, script: &Path) -> Command {
        let argv = self.argv(script);
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        command
    }
}

/// What a run did, and whether our whole request was written (false: the program closed
/// stdin before reading it all, which splunkd would see as a failed write).
struct Launch {
    outcome: Outcome,
    wrote_all: bool,
}

/// Runs `command` with `input` on stdin, written while stdout and stderr are read.
fn launch(mut command: Command, input: &[u8]) -> Launch {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).is_ok());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap().code().unwrap_or(-1);
    Launch {
        outcome: Outcome {
            status,
            stdout,
            stderr: reader.join().unwrap(),
        },
        wrote_all: writer.join().unwrap(),
    }
}

/// A getinfo request as splunkd writes it.
fn getinfo() -> Vec<u8> {
    scp_support::getinfo(&[])
}

/// The binary's own replies to `session`, timings masked: what the launcher must send.
fn reference(session: &[u8]) -> Vec<(String, Vec<u8>)> {
    let direct = launch(Command::new(BIN), session).outcome;
    assert_eq!(direct.status, 0, "the binary alone: {}", direct.stderr);
    without_timings(&direct.stdout)
}

/// Asserts that `outcome` is the session answered exactly as the binary answers it.
fn assert_answered(what: &str, outcome: &Outcome, expected: &[(String, Vec<u8>)]) {
    assert_eq!(outcome.status, 0, "{what}: stderr: {}", outcome.stderr);
    assert!(
        without_timings(&outcome.stdout) == expected,
        "{what}: the replies differ from the binary's own; stderr: {}",
        outcome.stderr
    );
}

/// The one error reply of a launcher that could not start the binary, read with the
/// project's `ChunkReader`: exactly one chunk and nothing after it, an empty body, and
/// metadata shaped like the binary's own getinfo error reply (`type`, `inspector` with one
/// ERROR equal to `error`, `finished: true`), in printable ASCII. stderr carries the
/// same text and the exit status is `status`. Returns the error text.
fn error_reply(what: &str, outcome: &Outcome, status: i32) -> String {
    assert_eq!(
        outcome.status, status,
        "{what}: exit status; stderr: {}",
        outcome.stderr
    );
    let mut reader = ChunkReader::new(&outcome.stdout[..]);
    let (mut meta, mut body) = (Vec::new(), Vec::new());
    reader
        .read_chunk(&mut meta, &mut body)
        .unwrap_or_else(|e| panic!("{what}: not a chunk: {e}"))
        .unwrap_or_else(|| panic!("{what}: no reply; stderr: {}", outcome.stderr));
    assert!(body.is_empty(), "{what}: the error reply has a body");
    assert!(
        meta.iter().all(|b| (0x20..0x7f).contains(b)),
        "{what}: metadata is not printable ASCII"
    );
    let json: Value = serde_json::from_slice(&meta)
        .unwrap_or_else(|e| panic!("{what}: metadata is not JSON ({e})"));
    let (mut more, mut more_body) = (Vec::new(), Vec::new());
    assert!(
        reader
            .read_chunk(&mut more, &mut more_body)
            .unwrap()
            .is_none(),
        "{what}: more than one reply"
    );
    let error = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error key: {json}"))
        .to_string();
    assert_eq!(json["type"], "streaming", "{what}");
    assert_eq!(json["finished"], true, "{what}");
    assert_eq!(
        json["inspector"]["messages"],
        serde_json::json!([["ERROR", error]]),
        "{what}"
    );
    assert!(error.starts_with("schtasksremote: cannot start"), "{error}");
    assert!(error.contains("Fix: "), "{what}: no fix in {error}");
    let line = format!("{error}\n");
    assert!(
        outcome.stderr.ends_with(&line),
        "{what}: stderr does not end with the reply's text: {}",
        outcome.stderr
    );
    error
}

#[test]
fn launcher_answers_a_real_session_like_the_binary_under_each_shell_from_a_path_with_spaces() {
    let app = App::new();
    assert!(app.launcher().display().to_string().contains(' '));
    let session = crossbuild_support::events_session(&["action=annotate"]);
    let expected = reference(&session);
    assert!(
        crossbuild_support::detections(&expected[1..]) > 0,
        "the session finds nothing, so it proves little"
    );
    for shell in SHELLS {
        let outcome = launch(shell.command(&app.launcher()), &session).outcome;
        assert_answered(&format!("{shell:?}"), &outcome, &expected);
    }
}

#[test]
fn launcher_answers_with_no_path_with_a_path_without_coreutils_and_under_env_i() {
    let app = App::new();
    let session = crossbuild_support::events_session(&[]);
    let expected = reference(&session);
    for shell in SHELLS {
        // env -i: nothing at all. Then a PATH with nothing on it (the issue's case, where
        // `dirname` and `tr` were not found), and an empty one.
        for path in [None, Some("/nonexistent"), Some("")] {
            let mut command = shell.command(&app.launcher());
            command.env_clear();
            if let Some(path) = path {
                command.env("PATH", path);
            }
            let outcome = launch(command, &session).outcome;
            assert_answered(&format!("{shell:?}, PATH {path:?}"), &outcome, &expected);
        }
    }
}

#[test]
fn launcher_reached_through_symlinks_in_other_folders_runs_the_build_beside_the_real_script() {
    let app = App::new();
    // A relative symlink in another folder, and an absolute one to that symlink from a
    // third folder: the chain must be followed to the end, each link from its own folder.
    let first = app.elsewhere("links one").join("schtasksremote");
    symlink(
        Path::new("../Program Files/splunk home/etc/apps/schtasksremote/bin/schtasksremote"),
        &first,
    )
    .unwrap();
    let second = app.elsewhere("links two").join("search command");
    symlink(&first, &second).unwrap();
    // And a symlinked folder on the way: `cd -P` resolves it.
    let folder = app.elsewhere("linked").join("bin");
    symlink(&app.bin, &folder).unwrap();

    let session = crossbuild_support::events_session(&[]);
    let expected = reference(&session);
    for shell in SHELLS {
        for script in [&first, &second, &folder.join(APP_ID)] {
            let mut command = shell.command(script);
            command.env_clear();
            let outcome = launch(command, &session).outcome;
            assert_answered(
                &format!("{shell:?} via {}", script.display()),
                &outcome,
                &expected,
            );
        }
    }
}

#[test]
fn binary_without_x_gets_one_error_reply_naming_chmod_and_the_path() {
    let app = App::new();
    fs::set_permissions(app.binary(), fs::Permissions::from_mode(0o644)).unwrap();
    let binary = app.binary().display().to_string();
    for shell in SHELLS {
        let mut command = shell.command(&app.launcher());
        command.env_clear();
        let launch = launch(command, &getinfo());
        let error = error_reply(&format!("{shell:?}"), &launch.outcome, 126);
        assert!(
            error.contains(&format!(
                "cannot start: {binary} is not executable by this user"
            )) && error.contains("chmod 755"),
            "{shell:?}: {error}"
        );
        assert!(launch.wrote_all, "{shell:?}: the request was not read");
    }
    // The Splunk Python SDK's own chunk reader (what splunkd's peer code mirrors) takes
    // the reply as one chunk and then a clean end of stream.
    let outcome = launch(Shell::Exec.command(&app.launcher()), &getinfo()).outcome;
    let python = scp_support::python().unwrap();
    let sdk = Command::new(&python)
        .args([
            "-c",
            "import sys\n\
             from splunklib.searchcommands.search_command import SearchCommand\n\
             meta, body = SearchCommand._read_chunk(sys.stdin.buffer)\n\
             assert body == '' and meta.finished is True, meta\n\
             assert meta.inspector.messages == [['ERROR', meta.error]], meta\n\
             assert SearchCommand._read_chunk(sys.stdin.buffer) is None\n\
             print(meta.error)\n",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
    let read = launch_with(sdk, &outcome.stdout);
    assert_eq!(read.status, 0, "the SDK rejects the reply: {}", read.stderr);
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("is not executable by this user"),
        "{}",
        String::from_utf8_lossy(&read.stdout)
    );
}

/// Feeds `input` to an already spawned child with piped stdio and collects what it did.
fn launch_with(mut child: std::process::Child, input: &[u8]) -> Outcome {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn missing_binary_gets_one_error_reply_naming_the_file_it_looked_for() {
    let app = App::new();
    fs::remove_file(app.binary()).unwrap();
    let binary = app.binary().display().to_string();
    for shell in SHELLS {
        let outcome = launch(shell.command(&app.launcher()), &getinfo()).outcome;
        let error = error_reply(&format!("{shell:?}"), &outcome, 127);
        assert!(
            error.contains(&format!("cannot start: {binary} does not exist")),
            "{shell:?}: {error}"
        );
    }
}

#[test]
fn unknown_cpu_gets_one_error_reply_naming_the_platform() {
    // `setarch linux32` sets the 32-bit personality, under which the kernel itself reports
    // i686 (on x86_64) or armv8l (on aarch64) to uname: a CPU the app has no build for,
    // on whatever machine the test runs.
    let setarch = require_tool("setarch", "Debian package util-linux");
    let machine = Command::new(&setarch)
        .args(["linux32", "uname", "-m"])
        .output()
        .unwrap();
    let machine = String::from_utf8(machine.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        !machine.is_empty() && machine != host_cpu(),
        "setarch linux32 did not change the CPU uname reports ({machine:?})"
    );
    let app = App::new();
    for shell in SHELLS {
        let mut command = Command::new(&setarch);
        command.arg("linux32").args(shell.argv(&app.launcher()));
        let outcome = launch(command, &getinfo()).outcome;
        let error = error_reply(&format!("{shell:?}"), &outcome, 127);
        assert!(
            error.contains(&format!("this app has no build for Linux {machine} ("))
                && error.contains(&app.bin.display().to_string()),
            "{shell:?}: {error}"
        );
    }
}

#[test]
fn exec_that_fails_after_every_check_passed_still_gets_one_error_reply() {
    // A program open for writing cannot be executed (execve: ETXTBSY, "Text file busy"):
    // the file exists and has +x, so only the exec itself fails. dash and busybox sh exit
    // on a failed exec (the EXIT trap replies), bash returns from it (execfail).
    let app = App::new();
    let _writer = fs::OpenOptions::new()
        .write(true)
        .open(app.binary())
        .unwrap();
    assert_exec_failed(&app, &SHELLS, "Text file busy");
}

/// Under each of `shells`, the launcher's exec of the build fails: one error reply saying
/// so, with the shell's own line giving the system's `reason` on stderr.
fn assert_exec_failed(app: &App, shells: &[Shell], reason: &str) {
    let binary = app.binary().display().to_string();
    for shell in shells {
        let outcome = launch(shell.command(&app.launcher()), &getinfo()).outcome;
        let error = error_reply(&format!("{shell:?}"), &outcome, 126);
        assert!(
            error.contains(&format!(
                "the shell could not run {binary} (exit status 126"
            )),
            "{shell:?}: {error}"
        );
        assert!(
            outcome.stderr.contains(reason),
            "{shell:?}: the shell's reason is not on stderr: {}",
            outcome.stderr
        );
    }
}

#[test]
fn a_getinfo_larger_than_a_pipe_is_read_whole_before_the_error_reply() {
    // 300 KB of search string: more than a pipe holds (64 KiB), so splunkd's write of it
    // only completes if the launcher reads it all; exiting first would fail that write.
    let app = App::new();
    fs::remove_file(app.binary()).unwrap();
    let search = "x".repeat(300_000);
    let mut request = getinfo();
    let text = String::from_utf8(request.clone()).unwrap();
    let meta = text.split_once('\n').unwrap().1.replacen(
        r#""search":"#,
        &format!(r#""search":"{search}","was":"#),
        1,
    );
    request = scp_support::chunk(&meta, b"");
    for shell in SHELLS {
        for path in [None, Some("/nonexistent")] {
            let mut command = shell.command(&app.launcher());
            command.env_clear();
            if let Some(path) = path {
                command.env("PATH", path);
            }
            let launch = launch(command, &request);
            error_reply(&format!("{shell:?}"), &launch.outcome, 127);
            assert!(
                launch.wrote_all,
                "{shell:?}, PATH {path:?}: the launcher exited before reading the request"
            );
        }
    }
}

#[test]
fn with_arguments_the_launcher_runs_the_binary_or_says_why_on_stderr_only() {
    let app = App::new();
    let run = |app: &App| {
        let mut command = Shell::Exec.command(&app.launcher());
        command.arg("--version").env_clear();
        launch(command, b"").outcome
    };
    let ok = run(&app);
    assert_eq!(ok.status, 0, "{}", ok.stderr);
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{ok:?}"
    );
    fs::set_permissions(app.binary(), fs::Permissions::from_mode(0o600)).unwrap();
    let failed = run(&app);
    assert_eq!(failed.status, 126);
    assert!(
        failed.stdout.is_empty(),
        "an admin's terminal gets no chunk"
    );
    assert!(
        failed.stderr.starts_with("schtasksremote: cannot start: ")
            && failed.stderr.contains("is not executable"),
        "{}",
        failed.stderr
    );
}

/// `unshare` arguments for a private mount namespace: as root `-m`, otherwise also a user
/// namespace that maps us to root in it (`-r`), which unprivileged mounts need.
fn unshare() -> Command {
    let unshare = require_tool("unshare", "Debian package util-linux");
    let mut command = Command::new(unshare);
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        command.arg("--mount");
    } else {
        command.args(["--mount", "--map-root-user"]);
    }
    command
}

/// Runs `setup` (sh) in a private mount namespace, then execs `argv` there with `input`
/// on stdin. Fails, saying why, if the namespace or a mount cannot be made.
fn in_mount_namespace(setup: &str, argv: &[String], input: &[u8]) -> Outcome {
    let mut command = unshare();
    command
        .args(["sh", "-c"])
        .arg(format!(
            "{setup} || {{ echo 'in_mount_namespace: setup failed' >&2; exit 99; }}\nexec \"$@\""
        ))
        .arg("sh")
        .args(argv);
    let outcome = launch(command, input).outcome;
    if outcome.status == 99 || outcome.stderr.contains("unshare: ") {
        cannot_check(&format!(
            "a private mount namespace with its own mounts is needed (root with \
             CAP_SYS_ADMIN, or unprivileged user namespaces): {}",
            outcome.stderr
        ));
    }
    outcome
}

/// Single-quoted for sh.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn noexec_mount_gets_one_error_reply_naming_the_mount_point() {
    // A real tmpfs mounted noexec, at a path with spaces, holding the whole app. splunkd
    // execs the launcher itself, which Linux refuses there (the first run below: status
    // 126 and nothing on stdout, so search.log shows only splunkd's own error); a shell
    // that runs it as a script (an admin: `sh …/bin/schtasksremote`, or a wrapper) reads
    // it fine and must then name the mount. busybox sh's `[ -x ]` says yes on noexec for
    // root, so there the failed exec's EXIT trap finds the mount.
    let app = App::new();
    let mount = app.elsewhere("noexec mount");
    let bin = mount.join(APP_ID).join("bin");
    let setup = format!(
        "mount -t tmpfs -o noexec tmpfs {mount} && mkdir -p {bin} && cp {launcher} {binary} {bin}/",
        mount = quoted(&mount),
        bin = quoted(&bin),
        launcher = quoted(&app.launcher()),
        binary = quoted(&app.binary()),
    );
    let launcher = bin.join(APP_ID);
    let direct = in_mount_namespace(&setup, &Shell::Exec.argv(&launcher), &getinfo());
    assert_eq!(direct.status, 126, "{direct:?}");
    assert!(direct.stdout.is_empty());
    for shell in [Shell::Dash, Shell::Bash, Shell::Busybox] {
        let outcome = in_mount_namespace(&setup, &shell.argv(&launcher), &getinfo());
        let error = error_reply(&format!("{shell:?}"), &outcome, 126);
        assert!(
            error.contains(&format!(
                "is on a filesystem mounted noexec (mount point {}, options ",
                mount.display()
            )) && error.contains(&bin.display().to_string()),
            "{shell:?}: {error}"
        );
    }
}

#[test]
fn without_uname_the_kernel_names_the_cpu_and_without_either_the_reply_says_so() {
    // uname and readlink made unusable for this test only: /dev/null bound over them in a
    // private mount namespace (a character device, so not an executable file).
    let hide = |tools: &[&str]| {
        tools
            .iter()
            .flat_map(|t| [format!("/bin/{t}"), format!("/usr/bin/{t}")])
            .filter(|p| Path::new(p).exists())
            .map(|p| format!("mount --bind /dev/null {p}"))
            .collect::<Vec<_>>()
            .join(" && ")
    };
    let app = App::new();
    let session = crossbuild_support::events_session(&[]);
    let expected = reference(&session);
    let proc_arch = Path::new("/proc/sys/kernel/arch").exists();
    for shell in SHELLS {
        let what = format!("{shell:?} without uname");
        let outcome = in_mount_namespace(&hide(&["uname"]), &shell.argv(&app.launcher()), &session);
        if proc_arch {
            assert_answered(&what, &outcome, &expected);
        } else {
            error_reply(&what, &outcome, 127);
        }
        let mut setup = hide(&["uname"]);
        if proc_arch {
            setup.push_str(" && mount --bind /dev/null /proc/sys/kernel/arch");
        }
        let outcome = in_mount_namespace(&setup, &shell.argv(&app.launcher()), &getinfo());
        let error = error_reply(&format!("{what} or /proc"), &outcome, 127);
        assert!(
            error.contains("cannot tell this host's CPU"),
            "{shell:?}: {error}"
        );
    }
    // Started through a symlink with no readlink to follow it: refused, naming the link.
    let link = app.elsewhere("links").join("schtasksremote");
    symlink(app.launcher(), &link).unwrap();
    for shell in SHELLS {
        let outcome = in_mount_namespace(&hide(&["readlink"]), &shell.argv(&link), &getinfo());
        let error = error_reply(&format!("{shell:?} without readlink"), &outcome, 127);
        assert!(
            error.contains(&format!("started through the symlink {}", link.display())),
            "{shell:?}: {error}"
        );
    }
}

#[test]
fn launcher_execs_the_build_for_each_cpu_name_and_passes_arguments_unchanged() {
    // The machine's own uname hidden, a stand-in on PATH (the launcher's third place to
    // look) reports each CPU name. Both build names hold this machine's binary, which
    // names itself by argv[0] in its usage text: that tells which one ran.
    let app = App::new();
    let other = if host_cpu() == "x86_64" {
        "aarch64"
    } else {
        "x86_64"
    };
    let status = Command::new("cp")
        .arg(BIN)
        .arg(app.bin.join(format!("{APP_ID}-linux-{other}")))
        .status()
        .unwrap();
    assert!(status.success());
    let fake = app.elsewhere("fake tools");
    let hide = ["/bin/uname", "/usr/bin/uname"]
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| format!("mount --bind /dev/null {p}"))
        .collect::<Vec<_>>()
        .join(" && ");
    let setup = format!("{hide} && export PATH={}:\"$PATH\"", quoted(&fake));
    for (machine, chosen) in [
        ("x86_64", "x86_64"),
        ("amd64", "x86_64"),
        ("aarch64", "aarch64"),
        ("arm64", "aarch64"),
    ] {
        write_executable(
            &fake.join("uname"),
            &format!("#!/bin/sh\n[ \"$1\" = -sm ] && echo 'Linux {machine}'\n"),
        );
        for shell in SHELLS {
            let what = format!("{machine} {shell:?}");
            let run = |args: &[&str]| {
                let mut argv = shell.argv(&app.launcher());
                argv.extend(args.iter().map(|a| a.to_string()));
                in_mount_namespace(&setup, &argv, b"")
            };
            // The arguments arrive unchanged, "a b" as one.
            let explained = run(&["explain", "a b", "--dest=x"]);
            assert_eq!(explained.status, 0, "{what}: {}", explained.stderr);
            let text = String::from_utf8_lossy(&explained.stdout);
            assert!(
                text.contains("command line  a b\n") && text.contains("dest          x\n"),
                "{what}: {text}"
            );
            // And the build named for the CPU ran.
            let usage = run(&["explain", "--no-such-option"]);
            assert!(
                usage
                    .stderr
                    .contains(&format!("Usage: {APP_ID}-linux-{chosen} explain")),
                "{what}: {}",
                usage.stderr
            );
        }
    }
}

#[test]
fn the_app_readme_troubleshooting_table_lists_every_reason_the_launcher_gives() {
    let readme = fs::read_to_string(repo("app/README.md")).unwrap();
    let section = readme
        .split("<!-- section:troubleshooting -->")
        .nth(1)
        .and_then(|s| s.split("<!-- /section:troubleshooting -->").next())
        .expect("app/README.md has a section:troubleshooting");
    let phrases: Vec<String> = section
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2) // the header and the |---| line
        .map(|line| {
            let cell = line
                .trim_start_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim();
            cell.trim_matches('`').to_string()
        })
        .collect();
    // What each host must have, in Install, with the fixes the messages give.
    let hosts = readme
        .split("<!-- section:host-requirements -->")
        .nth(1)
        .and_then(|s| s.split("<!-- /section:host-requirements -->").next())
        .expect("app/README.md has a section:host-requirements");
    for need in [
        "755",
        "chown -R",
        "`noexec`",
        "var/run/searchpeers",
        "/bin/sh",
    ] {
        assert!(hosts.contains(need), "Install does not say {need:?}");
    }
    let script = fs::read_to_string(repo("bin/schtasksremote")).unwrap();
    let messages: Vec<&str> = script
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("stop 12")?;
            rest.split_once('"').map(|(_, message)| message)
        })
        .collect();
    assert!(messages.len() >= 10, "{messages:#?}");
    for message in &messages {
        let rows: Vec<&String> = phrases.iter().filter(|p| message.contains(*p)).collect();
        assert_eq!(rows.len(), 1, "rows of the table for {message:?}: {rows:?}");
    }
    for phrase in &phrases {
        assert!(
            messages.iter().any(|m| m.contains(phrase.as_str())),
            "the table lists {phrase:?}, which the launcher never says"
        );
    }
}

#[test]
fn launcher_is_posix_sh_by_shellcheck() {
    // Every construct outside POSIX sh (read -n, shopt) is guarded by a run-time probe
    // and marked with a shellcheck directive saying so; anything else unportable fails.
    let shellcheck = require_tool("shellcheck", "Debian package shellcheck");
    let out = Command::new(shellcheck)
        .args(["--shell=sh", "--severity=style"])
        .arg(repo("bin/schtasksremote"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_file_that_is_not_a_program_in_the_builds_place_gets_one_error_reply_and_never_runs() {
    // A Git LFS pointer (what a checkout without git-lfs holds) with +x: the kernel
    // refuses it (ENOEXEC) and every sh would then run it line by line as a script. Its
    // last line would create a file; it must not exist afterwards.
    let app = App::new();
    let marker = app.elsewhere("marker").join("ran");
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\ntouch '{}'\n",
        marker.display()
    );
    write_executable(&app.binary(), &pointer);
    let binary = app.binary().display().to_string();
    for shell in SHELLS {
        let outcome = launch(shell.command(&app.launcher()), &getinfo()).outcome;
        let error = error_reply(&format!("{shell:?}"), &outcome, 126);
        assert!(
            error.contains(&format!("cannot start: {binary} is not a program")),
            "{shell:?}: {error}"
        );
        assert!(!marker.exists(), "{shell:?} ran the file as a script");
    }
}

#[test]
fn a_damaged_build_that_the_kernel_refuses_gets_one_error_reply_from_dash_and_bash() {
    // The ELF magic and nothing else: execve fails with ENOEXEC ("Exec format error").
    // dash (0.5.12) and bash report that and return to the launcher. busybox sh instead
    // runs such a file as a script (stderr "not found", no reply): a gap the launcher's
    // comments and README state, so busybox is not in this loop.
    let app = App::new();
    write_executable(&app.binary(), "\u{7f}ELF\u{2}\u{1}\u{1}damaged\n");
    assert_exec_failed(
        &app,
        &[Shell::Exec, Shell::Dash, Shell::Bash],
        "Exec format error",
    );
}

/// Writes `text` to `path` with mode 755, through sh, not this process (see install_app:
/// ETXTBSY).
fn write_executable(path: &Path, text: &str) {
    let mut sh = Command::new("sh");
    sh.args(["-c", "cat >\"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path);
    let done = launch(sh, text.as_bytes()).outcome;
    assert_eq!(
        done.status,
        0,
        "writing {}: {}",
        path.display(),
        done.stderr
    );
}

#[test]
fn the_error_reply_is_valid_json_when_the_path_holds_quotes_backslashes_and_non_ascii() {
    // The reply's text is the stderr line with `"` and `\` escaped by JSON and every byte
    // outside printable ASCII written `?`; stderr keeps the path's own bytes.
    let root = tempfile::tempdir().unwrap();
    let bin = root
        .path()
        .join("spl\u{fc}nk \"home\" back\\slash\ttab/etc/apps")
        .join(APP_ID)
        .join("bin");
    install_app(&bin);
    fs::remove_file(bin.join(format!("{APP_ID}-linux-{}", host_cpu()))).unwrap();
    for shell in SHELLS {
        let outcome = launch(shell.command(&bin.join(APP_ID)), &getinfo()).outcome;
        assert_eq!(outcome.status, 127, "{shell:?}: {}", outcome.stderr);
        let chunks = scp_support::split_chunks(&outcome.stdout);
        assert_eq!(chunks.len(), 1, "{shell:?}");
        let json: Value = serde_json::from_slice(&chunks[0].0)
            .unwrap_or_else(|e| panic!("{shell:?}: not JSON ({e})"));
        let line = outcome.stderr.lines().last().unwrap();
        assert!(
            line.contains("spl\u{fc}nk \"home\" back\\slash\ttab"),
            "{line}"
        );
        let expected: String = line
            .bytes()
            .map(|b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '?'
                }
            })
            .collect();
        assert_eq!(json["error"], expected.as_str(), "{shell:?}");
        assert!(expected.contains("spl??nk \"home\" back\\slash?tab"));
    }
}
