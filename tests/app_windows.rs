//! The Windows build of the all-platforms package, run under Wine, answers every session
//! exactly as the Linux x86_64 build of the same package does: replies byte for byte
//! (inspector metric seconds masked), stderr and exit status. Sessions: annotate and
//! filter over real schtasks events, the real splunkd recordings in
//! `../shared/scp-vectors`, every class of protocol error, and a large many-chunk session.
//! Then the command line: `explain`, and `scan` given Windows paths (drive letter, `\` or
//! `/`, `\\?\`, `\\.\`, UNC) of the sample and of a copy of a `winevt\Logs` folder of
//! `.evtx` files. And both packaged names of the build, started by CreateProcessW from a
//! Windows parent as splunkd starts them.
//!
//! Wine is not Windows: these tests show that the program behaves as a Windows program
//! on the Win32 API that Wine implements (pipes, exit codes, paths, file reads). Which
//! file Windows splunkd starts is known from the spec only (README "Binaries: which file
//! splunkd runs").
//!
//! Needs `bash app/package.sh` (the all-platforms package) and Wine (`wine` on PATH); a
//! missing one fails the tests, saying what to install.

mod app_support;
mod crossbuild_support;
mod scp_support;

use std::path::{Path, PathBuf};

use crossbuild_support::{detections, json, run, windows, wine_path, without_timings};
use scp_support::{chunk, execute, getinfo, rewrap, run_with_stdout_closed, vector};
use serde_json::Value;

const COUNTMATCHES: &str = "tests/searchcommands/recordings/scpv2/Splunk-6.3/countmatches.input.gz";
const SUM_MAP: &str = "tests/searchcommands/recordings/scpv2/Splunk-6.3/sum.map.input.gz";
const MULTIBYTE: &str = "tests/unit/data/custom_search/multibyte_input.gz";

#[test]
fn windows_build_answers_annotate_and_filter_sessions_of_real_events_like_linux() {
    let w = windows();
    for args in [
        &["action=annotate"][..],
        &[][..],
        &["action=filter", "risk_score=90"][..],
    ] {
        let input = crossbuild_support::events_session(args);
        let linux = w.same_session(&format!("events {args:?}"), &input);
        assert_eq!(linux.status, 0, "{}", linux.stderr);
        let replies = without_timings(&linux.stdout);
        assert_eq!(replies.len(), 4, "getinfo + three execute replies");
        assert!(
            detections(&replies) > 0,
            "{args:?}: no detection to compare"
        );
    }
}

#[test]
fn windows_build_answers_the_real_splunkd_recordings_like_linux() {
    let w = windows();
    // Splunk 6.3 (500 tweets with quoted newlines and multibyte text; 50,000 rows by 48
    // columns in one 16 MB chunk) and Splunk 8.0.3 (nine chunks), from splunk-sdk-python
    // (../shared/scp-vectors/README.md).
    for (path, args) in [
        (COUNTMATCHES, &["action=annotate"][..]),
        (SUM_MAP, &["action=annotate"][..]),
        (MULTIBYTE, &["action=annotate"][..]),
        (MULTIBYTE, &[][..]),
    ] {
        let (input, requests) = rewrap(&vector(path), args);
        let linux = w.same_session(&format!("{path} {args:?}"), &input);
        assert_eq!(linux.status, 0, "{path}: {}", linux.stderr);
        assert_eq!(
            without_timings(&linux.stdout).len(),
            requests.len() + 1,
            "{path}: one reply per request"
        );
    }
}

#[test]
fn windows_build_reports_every_protocol_error_like_linux() {
    let w = windows();
    let with_getinfo = |args: &[&str], rest: &[u8]| {
        let mut stream = getinfo(args);
        stream.extend_from_slice(rest);
        stream
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown option",
            with_getinfo(&["bogus=1"], &execute(true, b"a\n1\n")),
        ),
        (
            "bad value",
            with_getinfo(&["action=drop"], &execute(true, b"a\n1\n")),
        ),
        (
            "bad chunk header",
            with_getinfo(&[], b"chunked 1.0,abc\n{}"),
        ),
        (
            "bad metadata JSON",
            with_getinfo(&[], &chunk("{\"action\":", b"")),
        ),
        (
            "truncated body",
            with_getinfo(
                &[],
                b"chunked 1.0,37,100\n{\"action\":\"execute\",\"finished\":true}a,b\n",
            ),
        ),
        ("truncated header", with_getinfo(&[], b"chunked 1.0,3")),
        (
            "row of the wrong width",
            with_getinfo(&[], &execute(true, b"a,b\n1,2\n1,2,3\n")),
        ),
        ("execute before getinfo", execute(true, b"a\n1\n")),
        ("getinfo twice", with_getinfo(&[], &getinfo(&[]))),
    ];
    for (name, input) in cases {
        let linux = w.same_session(name, &input);
        assert_eq!(linux.status, 1, "{name}: an error exits 1");
        assert!(
            linux.stderr.contains("schtasksremote:"),
            "{name}: {}",
            linux.stderr
        );
    }
    // Not errors: a probe (getinfo, then EOF) and nothing at all.
    for (name, input) in [("probe", getinfo(&[])), ("empty stdin", Vec::new())] {
        let linux = w.same_session(name, &input);
        assert_eq!(linux.status, 0, "{name}: {}", linux.stderr);
    }
}

#[test]
fn windows_build_ends_quietly_like_linux_when_splunkd_closes_its_stdout() {
    // A cancelled search: splunkd closes the pipe it reads our replies from. On Windows a
    // write then fails with ERROR_NO_DATA / ERROR_BROKEN_PIPE instead of SIGPIPE.
    let w = windows();
    let mut input = getinfo(&["action=annotate"]);
    let mut body = b"a\n".to_vec();
    body.extend(b"xxxxxxxx\n".repeat(100_000));
    input.extend(execute(true, &body));
    let linux = run_with_stdout_closed(w.linux(&[]), &input);
    assert_eq!(linux, (Some(0), String::new()));
    assert_eq!(
        run_with_stdout_closed(w.command("schtasksremote.exe", &[]), &input),
        linux
    );
}

#[test]
fn windows_build_answers_a_large_many_chunk_session_like_linux() {
    // 200,000 CIM rows in 100 chunks (about 27 MB); every 100th is a remote creation.
    let w = windows();
    let mut input = getinfo(&["action=annotate"]);
    let chunks = 100;
    let rows = 2_000;
    for c in 0..chunks {
        let mut body = b"_time,dest,user,process_name,process\n".to_vec();
        for r in 0..rows {
            let n = c * rows + r;
            let process = if n % 100 == 0 {
                format!("schtasks.exe /create /s srv{n} /tn \"\"t{n}\"\" /tr c:\\x.exe /sc once")
            } else {
                format!("cmd.exe /c echo {n}")
            };
            body.extend_from_slice(
                format!("{n},WKS{n},CORP\\u{n},schtasks.exe,\"{process}\"\n").as_bytes(),
            );
        }
        input.extend(execute(c + 1 == chunks, &body));
    }
    let linux = w.same_session("large session", &input);
    assert_eq!(linux.status, 0, "{}", linux.stderr);
    let replies = without_timings(&linux.stdout);
    assert_eq!(replies.len(), chunks + 1);
    assert_eq!(detections(&replies), chunks * rows / 100);
}

#[test]
fn windows_build_explains_command_lines_like_linux() {
    let w = windows();
    for args in [
        &[
            "explain",
            r#"SCHTASKS /Create /S 10.0.4.21 /RU CORP\svc /RP p@ss /TN "A B" /TR "C:\Program Files\x.exe" /SC once"#,
            "--dest",
            "WKS-HR-07",
        ][..],
        &[
            "explain",
            "schtasks.exe –create –s ＦＩＬＥＳＲＶ /tn x /tr y",
        ][..],
        &[
            "explain",
            "schtasks /create /s localhost /tn x /tr y",
            "--dest=localhost",
        ][..],
        &["explain"][..],
        &["--version"][..],
    ] {
        let mut linux = run(w.linux(args), b"");
        let mut windows = run(w.command("schtasksremote.exe", args), b"");
        // clap's usage text names the program by the file that was run.
        linux.stderr = linux
            .stderr
            .replace("schtasksremote-linux-x86_64", "schtasksremote");
        windows.stderr = windows
            .stderr
            .replace("schtasksremote.exe", "schtasksremote");
        assert_eq!(windows, linux, "{args:?}");
        assert!(
            !linux.stdout.is_empty() || !linux.stderr.is_empty(),
            "{args:?}"
        );
    }
}

/// `scan --format json --per-source` of `linux_path` by the Linux build and of
/// `windows_path` (the same file or folder) by the Windows build. Checks that both exit
/// alike, that every detection is the same apart from its `source`, which names the path
/// each build was given, and that the per-source counts and the summary agree (apart
/// from the timing line). Returns the Linux build's detections.
fn same_scan(name: &str, linux_path: &Path, windows_path: &str) -> Vec<Value> {
    let w = windows();
    let args = ["scan", "--format", "json", "--per-source", "--threads", "1"];
    let mut linux = w.linux(&args);
    linux.arg(linux_path);
    let mut windows = w.command("schtasksremote.exe", &args);
    windows.arg(windows_path);
    let (linux, windows) = (run(linux, b""), run(windows, b""));
    assert_eq!(windows.status, linux.status, "{name}: {}", windows.stderr);
    // A source below the Windows path, as the Linux build names the same file: the Unix
    // path, then `/` for Windows' `\` below it.
    let root = windows_path.trim_end_matches(['\\', '/']);
    let unix = linux_path.display().to_string();
    let unix_source = |source: &str| -> String {
        let below = source
            .strip_prefix(root)
            .unwrap_or_else(|| panic!("{name}: source {source:?} is not below {root:?}"));
        format!("{unix}{}", below.replace('\\', "/"))
    };
    let detections = |stdout: &[u8]| -> Vec<Value> {
        String::from_utf8(stdout.to_vec())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut ours = detections(&windows.stdout);
    for detection in &mut ours {
        let source = detection["source"].as_str().expect("a source").to_string();
        detection["source"] = Value::from(unix_source(&source));
        // Each sighting names its own source too (`scan` groups one process creation
        // seen by two sensors).
        if let Some(sightings) = detection["sightings"].as_array_mut() {
            for sighting in sightings {
                let source = sighting["source"].as_str().expect("a source").to_string();
                sighting["source"] = Value::from(unix_source(&source));
            }
        }
    }
    let theirs = detections(&linux.stdout);
    assert_eq!(ours, theirs, "{name}: detections");
    let summary = |stderr: &str, rename: bool| -> Vec<String> {
        let mut lines: Vec<String> = stderr
            .lines()
            .map(|line| match line.find(root) {
                Some(at) if rename => {
                    // --per-source rows: the source, then tab-separated counts.
                    let end = line[at..].find('\t').map_or(line.len(), |e| at + e);
                    format!(
                        "{}{}{}",
                        &line[..at],
                        unix_source(&line[at..end]),
                        &line[end..]
                    )
                }
                _ => line.to_string(),
            })
            .collect();
        // The last line is the elapsed time and speed.
        let last = lines.pop().expect("a summary");
        assert!(last.contains(" s: "), "{name}: {last}");
        lines
    };
    assert_eq!(
        summary(&windows.stderr, true),
        summary(&linux.stderr, false),
        "{name}: summary"
    );
    theirs
}

#[test]
fn windows_build_scans_the_sample_given_as_a_drive_letter_path() {
    let sample = app_support::repo("examples/schtasks_sample.xml");
    let windows = wine_path(&sample);
    assert!(
        windows.starts_with("Z:\\") && !windows.contains('/'),
        "{windows}"
    );
    let found = same_scan("sample", &sample, &windows);
    // README quick start: the two remote creations and nothing else.
    assert_eq!(found.len(), 2, "{found:?}");
}

/// A folder laid out like a copy of `C:\Windows\System32\winevt\Logs`: real EVTX files
/// (EVTX-ATTACK-SAMPLES, ../shared/datasets/README.md) under Windows' own file names
/// (`%4` for `/`), and a file that is not event data.
fn winevt_logs_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("winevt").join("Logs");
    std::fs::create_dir_all(&logs).unwrap();
    for (from, to) in [
        (
            "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx",
            "Microsoft-Windows-Sysmon%4Operational.evtx",
        ),
        (
            "EVTX-ATTACK-SAMPLES/Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx",
            "Archive-Microsoft-Windows-Sysmon%4Operational-2019-03-17.evtx",
        ),
        (
            "EVTX-ATTACK-SAMPLES/Execution/sysmon_exec_from_vss_persistence.evtx",
            "Security.evtx",
        ),
    ] {
        std::fs::copy(scp_support::shared("datasets").join(from), logs.join(to)).unwrap();
    }
    std::fs::write(logs.join("desktop.ini"), b"[.ShellClassInfo]\r\n").unwrap();
    (dir, logs)
}

#[test]
fn windows_build_scans_a_winevt_logs_folder_of_evtx_given_as_windows_paths() {
    let (_dir, logs) = winevt_logs_copy();
    let w = windows();
    let windows = wine_path(&logs);
    // A UNC path to a share of the same folder: Wine serves \\<server>\<share> from
    // $WINEPREFIX/dosdevices/unc/<server>/<share>.
    let server = w.prefix.join("dosdevices/unc/logserver");
    std::fs::create_dir_all(&server).unwrap();
    let share = format!("winevt-{}", std::process::id());
    let link = server.join(&share);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(logs.parent().unwrap(), &link).unwrap();
    let mut reference = None;
    for (name, path) in [
        ("drive letter and backslashes", windows.clone()),
        ("forward slashes", windows.replace('\\', "/")),
        ("trailing backslash", format!("{windows}\\")),
        ("verbatim", format!(r"\\?\{windows}")),
        ("device namespace", format!(r"\\.\{windows}")),
        ("UNC", format!(r"\\logserver\{share}\Logs")),
        ("verbatim UNC", format!(r"\\?\UNC\logserver\{share}\Logs")),
    ] {
        let found = same_scan(name, &logs, &path);
        match &reference {
            None => reference = Some(found),
            Some(first) => assert_eq!(&found, first, "{name}"),
        }
    }
    std::fs::remove_file(&link).unwrap();
}

#[test]
fn windows_build_reports_a_missing_windows_path_like_linux() {
    let w = windows();
    let linux = run(w.linux(&["scan", "/no/such/Security.evtx"]), b"");
    let windows = run(
        w.command("schtasksremote.exe", &["scan", r"Z:\no\such\Security.evtx"]),
        b"",
    );
    assert_eq!(linux.status, 2, "{}", linux.stderr);
    assert_eq!(windows.status, linux.status, "{}", windows.stderr);
    assert!(
        windows.stderr.contains(r"Z:\no\such\Security.evtx"),
        "{}",
        windows.stderr
    );
}

#[test]
fn both_packaged_windows_names_answer_like_linux_when_started_by_create_process() {
    // splunkd on Windows starts a command with CreateProcessW on the file it found:
    // windows_x86_64\bin\schtasksremote.exe, or the extensionless copy if it uses
    // `filename` as written. Either must run as the same program, with pipes handed down
    // as inherited handles.
    let w = windows();
    let input = crossbuild_support::events_session(&["action=annotate"]);
    let linux = run(w.linux(&[]), &input);
    assert_eq!(linux.status, 0, "{}", linux.stderr);
    for name in ["schtasksremote.exe", "schtasksremote"] {
        let started = run(w.create_process(name, ""), &input);
        assert_eq!(started.status, 0, "{name}: {}", started.stderr);
        assert_eq!(started.stderr, linux.stderr, "{name}");
        assert_eq!(
            without_timings(&started.stdout),
            without_timings(&linux.stdout),
            "{name}"
        );
        // A Windows command line, parsed by the program itself (CommandLineToArgvW rules).
        let explain = run(
            w.create_process(
                name,
                r#"explain "schtasks /create /s \\FILESRV01 /tn t /tr c:\x.exe""#,
            ),
            b"",
        );
        let expected = run(
            w.linux(&[
                "explain",
                r"schtasks /create /s \\FILESRV01 /tn t /tr c:\x.exe",
            ]),
            b"",
        );
        assert_eq!(explain, expected, "{name}: explain");
        assert!(
            String::from_utf8_lossy(&explain.stdout).contains("FILESRV01"),
            "{name}"
        );
    }
    assert_eq!(
        json(&without_timings(&linux.stdout)[0].0)["type"],
        "streaming"
    );
}
