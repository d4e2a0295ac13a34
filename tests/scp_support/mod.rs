//! Shared helpers for the `scp_*` integration tests: build splunkd-like request streams,
//! run the built binary as splunkd would, and parse its replies strictly.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use csv::ByteRecord;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_schtasksremote");

/// A path under `../shared/` (read-only references next to the worktree).
pub fn shared(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/")).join(path)
}

/// A gunzipped file under `../shared/scp-vectors/`.
pub fn vector(path: &str) -> Vec<u8> {
    let file = std::fs::File::open(shared("scp-vectors").join(path))
        .unwrap_or_else(|e| panic!("cannot open scp vector {path}: {e}"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("cannot gunzip {path}: {e}"));
    out
}

/// The real schtasks events of `datasets/derived/schtasks_related_events.jsonl` (raw
/// Sysmon/4688 field names) as string rows: the field names in order of first
/// appearance, then one row per event (missing and null fields empty).
pub fn schtasks_events() -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(shared("datasets/derived/schtasks_related_events.jsonl"))
        .expect("the shared dataset");
    let events: Vec<serde_json::Map<String, Value>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut names: Vec<String> = Vec::new();
    for e in &events {
        for k in e.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let rows = events
        .iter()
        .map(|e| {
            names
                .iter()
                .map(|n| match e.get(n) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                })
                .collect()
        })
        .collect();
    (names, rows)
}

/// One chunk, lengths in bytes.
pub fn chunk(metadata: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("chunked 1.0,{},{}\n", metadata.len(), body.len()).into_bytes();
    out.extend_from_slice(metadata.as_bytes());
    out.extend_from_slice(body);
    out
}

/// A getinfo request as splunkd 8.2 writes it (compact JSON, times as strings).
pub fn getinfo(args: &[&str]) -> Vec<u8> {
    let meta = serde_json::json!({
        "action": "getinfo",
        "preview": false,
        "streaming_command_will_restart": false,
        "searchinfo": {
            "args": args,
            "raw_args": args,
            "dispatch_dir": "/opt/splunk/var/run/splunk/dispatch/1627357489.9",
            "sid": "1627357489.9",
            "app": "search",
            "owner": "admin",
            "username": "admin",
            "session_key": "opaque",
            "splunkd_uri": "https://127.0.0.1:8089",
            "splunk_version": "8.2.1",
            "search": "search%20index%3Dmain%20%7C%20schtasksremote",
            "command": "schtasksremote",
            "maxresultrows": 50000,
            "earliest_time": "1627333200",
            "latest_time": "1627419600"
        }
    });
    chunk(&meta.to_string(), b"")
}

pub fn execute(finished: bool, body: &[u8]) -> Vec<u8> {
    chunk(
        &format!(r#"{{"action":"execute","finished":{finished}}}"#),
        body,
    )
}

/// (metadata, body) of each chunk.
pub type Chunks = Vec<(Vec<u8>, Vec<u8>)>;

/// Splits a well-formed stream (splunkd's exact header form) into (metadata, body) pairs.
/// Panics on anything else: it is also the strict check of our own output.
pub fn split_chunks(stream: &[u8]) -> Chunks {
    let mut chunks = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or_else(|| panic!("no header line in {:?}", String::from_utf8_lossy(rest)));
        let line = std::str::from_utf8(&rest[..nl]).expect("header is ASCII");
        let lens = line
            .strip_prefix("chunked 1.0,")
            .unwrap_or_else(|| panic!("bytes outside a chunk: {line:?}"));
        let (m, b) = lens.split_once(',').expect("two lengths");
        let (m, b): (usize, usize) = (m.parse().unwrap(), b.parse().unwrap());
        let start = nl + 1;
        assert!(
            rest.len() >= start + m + b,
            "chunk shorter than declared: {line}"
        );
        chunks.push((
            rest[start..start + m].to_vec(),
            rest[start + m..start + m + b].to_vec(),
        ));
        rest = &rest[start + m + b..];
    }
    chunks
}

/// One reply: its metadata as JSON and its body.
#[derive(Debug)]
pub struct Reply {
    pub meta: Value,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn finished(&self) -> Option<bool> {
        self.meta.get("finished").and_then(Value::as_bool)
    }

    pub fn records(&self) -> Vec<ByteRecord> {
        records(&self.body)
    }

    /// The inspector messages as (level, text).
    pub fn messages(&self) -> Vec<(String, String)> {
        self.meta["inspector"]["messages"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|m| {
                        (
                            m[0].as_str().unwrap().to_string(),
                            m[1].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn metric(&self, name: &str) -> [f64; 4] {
        let v = &self.meta["inspector"][format!("metric.{name}")];
        let a = v
            .as_array()
            .unwrap_or_else(|| panic!("no metric {name}: {}", self.meta));
        [0, 1, 2, 3].map(|i| a[i].as_f64().unwrap())
    }
}

/// All records of a CSV body, the header row first.
pub fn records(body: &[u8]) -> Vec<ByteRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .byte_records()
        .map(|r| r.expect("our output is valid CSV"))
        .collect()
}

/// What the binary did with one session.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn replies(&self) -> Vec<Reply> {
        split_chunks(&self.stdout)
            .into_iter()
            .map(|(m, body)| Reply {
                meta: serde_json::from_slice(&m).unwrap_or_else(|e| {
                    panic!(
                        "reply metadata is not JSON ({e}): {}",
                        String::from_utf8_lossy(&m)
                    )
                }),
                body,
            })
            .collect()
    }

    /// The one error reply after the getinfo reply (or instead of it).
    pub fn error_reply(&self) -> Reply {
        assert_eq!(self.status, 1, "exit status; stderr: {}", self.stderr);
        let mut replies = self.replies();
        let last = replies.pop().expect("an error reply");
        assert_eq!(last.finished(), Some(true), "{}", last.meta);
        assert!(last.body.is_empty());
        let error = last.meta["error"]
            .as_str()
            .expect("an error key")
            .to_string();
        assert_eq!(last.messages(), vec![("ERROR".to_string(), error.clone())]);
        assert!(self.stderr.contains(&error), "stderr: {}", self.stderr);
        last
    }
}

/// Runs the binary with `stream` on stdin, like splunkd (writing and reading at once).
pub fn run(stream: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut stdin = child.stdin.take().unwrap();
    let input = stream.to_vec();
    let writer = std::thread::spawn(move || {
        // The command may stop reading early (an error reply); that is not our failure.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for the binary");
    writer.join().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts `command` with stdin, stdout and stderr on pipes; panics naming it if it
/// cannot start.
pub fn spawn_piped(command: &mut Command) -> std::process::Child {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

/// Runs `command` with `stream` on stdin and its stdout closed from the start, as when
/// splunkd stops reading (a cancelled search). Returns its exit status and stderr.
pub fn run_with_stdout_closed(mut command: Command, stream: &[u8]) -> (Option<i32>, String) {
    let mut child = spawn_piped(&mut command);
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(stream);
    drop(stdin);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}

/// The real splunkd execute chunks of a recorded stream, behind our own getinfo.
pub fn rewrap(recording: &[u8], args: &[&str]) -> (Vec<u8>, Chunks) {
    let chunks = split_chunks(recording);
    let executes: Vec<_> = chunks
        .into_iter()
        .filter(|(m, _)| {
            let v: Value = serde_json::from_slice(m).unwrap();
            v["action"] == "execute"
        })
        .collect();
    let mut stream = getinfo(args);
    for (m, b) in &executes {
        stream.extend_from_slice(&chunk(std::str::from_utf8(m).unwrap(), b));
    }
    (stream, executes)
}

/// The Python interpreter with splunk-sdk. A test that needs it and cannot have it
/// fails, in every environment, saying how to get it: a skipped check would pass without
/// checking (issue 12, item 12).
pub fn python() -> Option<String> {
    match std::env::var("SCHTASKSREMOTE_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => panic!(
            "SCHTASKSREMOTE_PYTHON is not set, so this test cannot run the Splunk Python SDK: \
             run `bash .ci/run` (it makes .venv from .ci/requirements.txt and points \
             SCHTASKSREMOTE_PYTHON at it), or set it to a Python where `pip install -r \
             .ci/requirements.txt` was run"
        ),
    }
}
