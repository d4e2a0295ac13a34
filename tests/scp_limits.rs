//! Each limit of the search command (README, "Limits"), tested against the built binary
//! the way splunkd runs it: stdin and stdout are pipes, written and read at the same
//! time; memory is the child's peak resident set as the kernel counts it (`VmHWM`); and
//! a watchdog turns a hang into a failure instead of a stuck CI job.

mod scp_support;

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use scp_support::*;
use serde_json::Value;

const MIB: u64 = 1 << 20;

/// What one measured run of the binary gave.
struct Measured<T> {
    status: i32,
    /// Peak resident set size in bytes (`VmHWM`, polled).
    peak_rss: u64,
    consumed: T,
    stderr: String,
}

/// Runs the binary on a stream written by `feed` (from its own thread, through a 1 MiB
/// buffer) while `consume` reads its stdout (from another). Fails the test if the
/// process is still running after `deadline`.
// The child is reaped with waitpid (`wait_for`), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured<T: Send + 'static>(
    args: &[&str],
    deadline: Duration,
    feed: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    consume: impl FnOnce(&mut dyn BufRead) -> T + Send + 'static,
) -> Measured<T> {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let pid = child.id() as libc::pid_t;
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let writer = thread::spawn(move || {
        let mut w = BufWriter::with_capacity(MIB as usize, stdin);
        // The command may stop reading (an error, a closed stdout): not a test failure.
        let _ = feed(&mut w).and_then(|()| w.flush());
    });
    let reader = thread::spawn(move || {
        let mut r = BufReader::with_capacity(MIB as usize, stdout);
        consume(&mut r)
    });
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (done, timed_out) = (done.clone(), timed_out.clone());
        thread::spawn(move || {
            let start = Instant::now();
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(high_water_mark(pid).unwrap_or(0));
                if start.elapsed() > deadline {
                    timed_out.store(true, Ordering::SeqCst);
                    // SAFETY: kill(2) on our own child, which is not reaped yet.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let status = wait_for(pid);
    done.store(true, Ordering::SeqCst);
    let peak_rss = watchdog.join().unwrap();
    assert!(
        !timed_out.load(Ordering::SeqCst),
        "the command was still running after {deadline:?}: a hang"
    );
    let consumed = reader
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    writer.join().unwrap();
    Measured {
        status,
        peak_rss,
        consumed,
        stderr: errors.join().unwrap(),
    }
}

/// The process's peak resident set so far (`VmHWM`), in bytes. Not `wait4`'s
/// `ru_maxrss`: Linux carries the parent's high-water mark over a `vfork`+`exec`, so
/// it would report the test process's memory for a small child. Polled every few
/// milliseconds while the child runs; the peak of a run that reads and writes hundreds
/// of MB lasts far longer than that.
fn high_water_mark(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Reaps `pid` and returns its exit status, or minus the signal that ended it.
fn wait_for(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: a valid pointer to a local; pid is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        assert_eq!(
            io::Error::last_os_error().kind(),
            io::ErrorKind::Interrupted
        );
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    }
}

/// Reads one reply's header line and metadata, leaving its body in `r`; `None` at EOF.
fn next_reply(r: &mut dyn BufRead) -> Option<(Value, u64)> {
    let mut line = String::new();
    if r.read_line(&mut line).expect("read a reply header") == 0 {
        return None;
    }
    let lens = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("chunked 1.0,"))
        .unwrap_or_else(|| panic!("not a reply header: {line:?}"));
    let (m, b) = lens.split_once(',').expect("two lengths");
    let (m, b): (usize, u64) = (m.parse().unwrap(), b.parse().unwrap());
    let mut meta = vec![0; m];
    r.read_exact(&mut meta).expect("the reply's metadata");
    Some((serde_json::from_slice(&meta).expect("JSON metadata"), b))
}

/// Reads one reply whole.
fn read_reply(r: &mut dyn BufRead) -> Option<(Value, Vec<u8>)> {
    let (meta, len) = next_reply(r)?;
    let mut body = Vec::new();
    r.take(len).read_to_end(&mut body).unwrap();
    assert_eq!(body.len() as u64, len, "reply shorter than its header");
    Some((meta, body))
}

fn write_execute_header(w: &mut dyn Write, finished: bool, body_len: u64) -> io::Result<()> {
    let meta = format!(r#"{{"action":"execute","finished":{finished}}}"#);
    write!(w, "chunked 1.0,{},{body_len}\n{meta}", meta.len())
}

// ---------------------------------------------------------------------------------------
// A 500 MB chunk.

const BIG_HEADER: &[u8] = b"_time,dest,process_name,process,_raw\n";
/// Every row is exactly this long, so the body's length is known before it is made.
const BIG_ROW: usize = 500;
const BIG_ROWS: u64 = 1_000_000;
/// Every this-many rows is a remote task creation.
const BIG_EVERY: u64 = 10_000;

/// The values of big row `i`: a Sysmon-like event with a quoted `_raw` full of commas,
/// quotes and a line break, padded to [`BIG_ROW`] bytes when encoded.
fn big_values(i: u64) -> [Vec<u8>; 5] {
    let schtasks = i % BIG_EVERY == 7;
    let (name, line) = if schtasks {
        (
            "schtasks.exe".to_string(),
            format!(r#"schtasks /create /s SRV{i} /tn "Upd {i}" /tr "c:\x.exe" /sc once"#),
        )
    } else {
        (
            "svchost.exe".to_string(),
            r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule".to_string(),
        )
    };
    let fields = [
        format!("{}", 1_700_000_000 + i).into_bytes(),
        format!("wks-{}.corp.example", i % 97).into_bytes(),
        name.into_bytes(),
        line.into_bytes(),
        Vec::new(),
    ];
    let mut raw = format!("<Event><Data Name=\"Image\">{i}</Data>, \"quoted\",\r\n").into_bytes();
    let fixed: usize = fields[..4].iter().map(|f| encoded_len(f)).sum::<usize>() + 4 + 1;
    // Each `x` adds one byte to the encoded field.
    let pad = BIG_ROW.saturating_sub(fixed + encoded_len(&raw));
    raw.resize(raw.len() + pad, b'x');
    let [a, b, c, d, _] = fields;
    [a, b, c, d, raw]
}

fn encoded_len(value: &[u8]) -> usize {
    let mut out = Vec::new();
    schtasksremote::protocol::body::write_field(&mut out, value);
    out.len()
}

fn big_row(i: u64, out: &mut Vec<u8>) {
    for (k, value) in big_values(i).iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        schtasksremote::protocol::body::write_field(out, value);
    }
    out.push(b'\n');
}

#[test]
fn a_500_mb_chunk_within_the_limit_comes_back_whole_in_memory_close_to_its_size() {
    let body_len = BIG_HEADER.len() as u64 + BIG_ROWS * BIG_ROW as u64;
    let run = run_measured(
        &[],
        Duration::from_secs(300),
        move |w| {
            w.write_all(&getinfo(&["action=annotate"]))?;
            write_execute_header(w, true, body_len)?;
            w.write_all(BIG_HEADER)?;
            let mut row = Vec::with_capacity(BIG_ROW);
            for i in 0..BIG_ROWS {
                row.clear();
                big_row(i, &mut row);
                assert_eq!(row.len(), BIG_ROW);
                w.write_all(&row)?;
            }
            Ok(())
        },
        |r| {
            read_reply(r).expect("the getinfo reply");
            let (meta, len) = next_reply(r).expect("the execute reply");
            assert_eq!(meta["finished"], true, "{meta}");
            assert!(meta.get("error").is_none(), "{meta}");
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(r.take(len));
            let mut records = csv.byte_records();
            let header = records.next().expect("a header").unwrap();
            let ours = header.iter().position(|n| n == b"remote_host").unwrap();
            assert_eq!(
                header.len(),
                5 + 2 * schtasksremote::detection::OUTPUT_FIELDS.len()
            );
            let (mut rows, mut detections) = (0u64, 0u64);
            for record in records {
                let record = record.expect("the reply body is CSV");
                let expected = big_values(rows);
                assert!(
                    record.iter().take(5).eq(expected.iter().map(Vec::as_slice)),
                    "row {rows} changed"
                );
                let remote = record.get(ours).unwrap();
                if rows % BIG_EVERY == 7 {
                    assert_eq!(remote, format!("SRV{rows}").as_bytes());
                    detections += 1;
                } else {
                    assert_eq!(remote, b"");
                }
                rows += 1;
            }
            (rows, detections)
        },
    );
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.consumed, (BIG_ROWS, BIG_ROWS / BIG_EVERY));
    eprintln!(
        "500 MB chunk: {} MiB body, peak RSS {} MiB",
        body_len / MIB,
        run.peak_rss / MIB
    );
    // The chunk itself must be held (the reply's length comes before its body); the
    // reply is not held beside it.
    assert!(
        run.peak_rss < body_len + body_len / 4 + 64 * MIB,
        "peak RSS {} MiB for a {} MiB chunk",
        run.peak_rss / MIB,
        body_len / MIB
    );
}

/// A declared length above the limit is refused at once, while stdin stays open and
/// nothing of the body has been sent: no read, no allocation, no hang.
fn refused_without_waiting(args: &[&str], header: &str) -> String {
    let (args, header) = (
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        header.to_string(),
    );
    let answered = Arc::new(AtomicBool::new(false));
    let held_until_answered = Arc::new(AtomicBool::new(false));
    let run = {
        let (answered, held) = (answered.clone(), held_until_answered.clone());
        let answered_feed = answered.clone();
        run_measured(
            &[],
            Duration::from_secs(20),
            move |w| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                w.write_all(&getinfo(&args))?;
                w.write_all(header.as_bytes())?;
                w.flush()?;
                // Hold stdin open: the command must answer without waiting for more.
                let start = Instant::now();
                while !answered_feed.load(Ordering::SeqCst) && start.elapsed().as_secs() < 10 {
                    thread::sleep(Duration::from_millis(10));
                }
                held.store(answered_feed.load(Ordering::SeqCst), Ordering::SeqCst);
                Ok(())
            },
            move |r| {
                let mut replies = Vec::new();
                while let Some(reply) = read_reply(r) {
                    replies.push(reply);
                    if replies.len() == 2 {
                        answered.store(true, Ordering::SeqCst);
                    }
                }
                replies
            },
        )
    };
    assert!(
        held_until_answered.load(Ordering::SeqCst),
        "the command waited for stdin to close before answering"
    );
    assert_eq!(run.status, 1);
    assert!(run.peak_rss < 32 * MIB, "{} MiB", run.peak_rss / MIB);
    let replies = run.consumed;
    assert_eq!(replies.len(), 2);
    let meta = &replies[1].0;
    assert_eq!(meta["finished"], true);
    assert_eq!(meta["inspector"]["messages"][0][1], meta["error"]);
    meta["error"].as_str().unwrap().to_string()
}

#[test]
fn a_500_mb_chunk_above_the_limit_is_refused_from_its_header_saying_how_to_raise_it() {
    let offset = getinfo(&["max_chunk_mb=100"]).len();
    let error = refused_without_waiting(&["max_chunk_mb=100"], "chunked 1.0,37,500000000\n");
    assert_eq!(
        error,
        format!(
            "schtasksremote: malformed request from splunkd: at byte {offset}: the chunk header \
             declares 37 metadata bytes and 500000000 body bytes, above the limit of 104857600 \
             bytes per chunk; raise the limit with the option max_chunk_mb=<MiB> (at most \
             16384), or lower maxresultrows so splunkd sends smaller chunks"
        )
    );
    // The default limit is 1 GiB; a length no integer type holds is refused the same way.
    let error = refused_without_waiting(&[], "chunked 1.0,37,99999999999999999999999999999\n");
    assert!(
        error.contains(
            "declares 37 metadata bytes and a 29-digit number body bytes, above the limit of \
             1073741824 bytes"
        ),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// Many chunks, a huge field, many columns.

#[test]
fn a_million_tiny_chunks_are_each_answered_once_in_flat_memory() {
    const CHUNKS: u64 = 1_000_000;
    let run = run_measured(
        &[],
        Duration::from_secs(300),
        |w| {
            w.write_all(&getinfo(&[]))?;
            let body = b"process_name,process\nschtasks.exe,schtasks /query\n";
            for i in 0..CHUNKS {
                write_execute_header(w, i + 1 == CHUNKS, body.len() as u64)?;
                w.write_all(body)?;
            }
            Ok(())
        },
        |r| {
            read_reply(r).expect("the getinfo reply");
            let (mut replies, mut last_finished) = (0u64, false);
            while let Some((meta, body)) = read_reply(r) {
                assert!(meta.get("error").is_none(), "{meta}");
                // Filter mode and no detection: no rows come back.
                assert!(body.is_empty());
                last_finished = meta["finished"] == true;
                replies += 1;
            }
            (replies, last_finished)
        },
    );
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.consumed, (CHUNKS, true));
    eprintln!("a million tiny chunks: peak RSS {} MiB", run.peak_rss / MIB);
    assert!(run.peak_rss < 32 * MIB, "{} MiB", run.peak_rss / MIB);
}

#[test]
fn a_50_mb_field_comes_back_byte_identical_and_is_judged() {
    const FIELD: usize = 50 * 1000 * 1000;
    // A remote task creation whose action is 50 MB long, and beside it a 50 MB field of
    // quotes, commas and line breaks.
    let mut process = br#"schtasks /create /s SRV9 /tn big /tr "c:\x.exe "#.to_vec();
    process.resize(FIELD - 1, b'A');
    process.push(b'"');
    let junk: Vec<u8> = b"\",\r\n$x$;".iter().copied().cycle().take(FIELD).collect();
    let mut body = b"process_name,process,_raw\nschtasks.exe,".to_vec();
    schtasksremote::protocol::body::write_field(&mut body, &process);
    body.push(b',');
    schtasksremote::protocol::body::write_field(&mut body, &junk);
    body.extend_from_slice(b"\r\n");
    let stream = [getinfo(&["action=annotate"]), execute(true, &body)].concat();
    let run = run_measured(
        &[],
        Duration::from_secs(120),
        move |w| w.write_all(&stream),
        |r| {
            read_reply(r).expect("the getinfo reply");
            read_reply(r).expect("the execute reply")
        },
    );
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let (meta, reply) = run.consumed;
    assert!(meta.get("error").is_none(), "{meta}");
    let records = records(&reply);
    assert_eq!(records.len(), 2);
    let (header, row) = (&records[0], &records[1]);
    assert_eq!(&row[1], process.as_slice());
    assert_eq!(&row[2], junk.as_slice());
    let field = |name: &str| {
        let i = header.iter().position(|n| n == name.as_bytes()).unwrap();
        &row[i]
    };
    assert_eq!(field("remote_host"), b"SRV9");
    // The /tr value: from after its opening quote to before the closing one.
    let opening = process.iter().position(|&b| b == b'"').unwrap();
    assert_eq!(field("task_action"), &process[opening + 1..FIELD - 1]);
    // The input row's bytes are copied, not re-encoded.
    let row_start = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    let raw_row = &body[row_start..body.len() - 2];
    let reply_row_start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert!(reply[reply_row_start..].starts_with(raw_row));
    eprintln!(
        "a 50 MB field (100 MB body, {} MB reply): peak RSS {} MiB",
        reply.len() / 1_000_000,
        run.peak_rss / MIB
    );
    // A detection holds its parsed task and masked line beside the row: a few copies of
    // the field, never an unbounded amount.
    assert!(
        run.peak_rss < 10 * body.len() as u64,
        "{} MiB",
        run.peak_rss / MIB
    );
}

#[test]
fn ten_thousand_columns_come_back_in_order_and_are_mapped_by_name() {
    const COLUMNS: usize = 10_000;
    let mut names: Vec<String> = (0..COLUMNS - 3).map(|i| format!("field_{i}")).collect();
    names.extend(["dest", "process_name", "process"].map(String::from));
    let row = |i: usize| -> Vec<String> {
        let mut values: Vec<String> = (0..COLUMNS - 3).map(|c| format!("v{i}.{c}")).collect();
        values.push("wks-1".into());
        if i == 25 {
            values.push("schtasks.exe".into());
            values.push("schtasks /create /s SRV25 /tn t /tr c:\\x.exe /sc once".into());
        } else {
            values.push("svchost.exe".into());
            values.push("svchost.exe -k netsvcs".into());
        }
        values
    };
    let mut body = names.join(",").into_bytes();
    body.push(b'\n');
    for i in 0..50 {
        body.extend_from_slice(row(i).join(",").as_bytes());
        body.push(b'\n');
    }
    for action in ["annotate", "filter"] {
        let stream = [
            getinfo(&[&format!("action={action}")]),
            execute(true, &body),
        ]
        .concat();
        let out = run(&stream);
        assert_eq!(out.status, 0, "stderr: {}", out.stderr);
        let replies = out.replies();
        let records = replies[1].records();
        let header = &records[0];
        assert!(header
            .iter()
            .take(COLUMNS)
            .eq(names.iter().map(|n| n.as_bytes())));
        let remote = header.iter().position(|n| n == b"remote_host").unwrap();
        let rows: Vec<_> = records[1..].iter().collect();
        let expected: Vec<usize> = match action {
            "annotate" => (0..50).collect(),
            _ => vec![25],
        };
        assert_eq!(rows.len(), expected.len(), "{action}");
        for (record, i) in rows.iter().zip(expected) {
            assert!(record
                .iter()
                .take(COLUMNS)
                .eq(row(i).iter().map(|v| v.as_bytes())));
            let want: &[u8] = if i == 25 { b"SRV25" } else { b"" };
            assert_eq!(&record[remote], want, "{action} row {i}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// A stream cut anywhere; a reader that goes away.

#[test]
fn a_session_cut_at_every_byte_offset_ends_in_an_error_reply_and_exit_1_never_a_hang() {
    let chunks = [
        getinfo(&["action=annotate"]),
        execute(
            false,
            b"process_name,process,dest\r\nschtasks.exe,\"schtasks /create /s H2 /tn \"\"a b\"\" /tr x\",wks\r\ncmd.exe,cmd /c dir,wks\r\n",
        ),
        execute(true, b"process_name,process\nsvchost.exe,x\n"),
    ];
    let stream = chunks.concat();
    let mut boundaries = vec![0];
    for c in &chunks {
        boundaries.push(boundaries.last().unwrap() + c.len());
    }
    for cut in 0..=stream.len() {
        let part = stream[..cut].to_vec();
        let run = run_measured(
            &[],
            Duration::from_secs(20),
            move |w| w.write_all(&part),
            |r| {
                let mut replies = Vec::new();
                while let Some(reply) = read_reply(r) {
                    replies.push(reply.0);
                }
                replies
            },
        );
        let complete = boundaries.iter().filter(|&&b| b > 0 && b <= cut).count();
        let replies = run.consumed;
        if boundaries.contains(&cut) {
            // Between chunks: splunkd closed the stream; every request was answered.
            assert_eq!(run.status, 0, "cut at {cut}: {}", run.stderr);
            assert_eq!(replies.len(), complete, "cut at {cut}");
        } else {
            assert_eq!(run.status, 1, "cut at {cut}");
            assert_eq!(replies.len(), complete + 1, "cut at {cut}");
            let last = replies.last().unwrap();
            assert_eq!(last["finished"], true, "cut at {cut}: {last}");
            let error = last["error"].as_str().unwrap();
            assert!(
                error.starts_with("schtasksremote: malformed request from splunkd: at byte"),
                "cut at {cut}: {error}"
            );
            assert_eq!(last["inspector"]["messages"][0][0], "ERROR");
            assert!(run.stderr.contains(error), "cut at {cut}");
        }
    }
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    let run = run_measured(
        &[],
        Duration::from_secs(60),
        |w| {
            w.write_all(&getinfo(&["action=annotate"]))?;
            let mut body = b"process_name,process\n".to_vec();
            while body.len() < 4 << 20 {
                body.extend_from_slice(b"svchost.exe,svchost.exe -k netsvcs -p\n");
            }
            // Far more than any pipe holds: the command must notice the reader is gone.
            for _ in 0..1000 {
                w.write_all(&execute(false, &body))?;
            }
            Ok(())
        },
        |r| {
            read_reply(r).expect("the getinfo reply");
            let (meta, len) = next_reply(r).expect("the first execute reply");
            assert_eq!(meta["finished"], false);
            // Read part of its body, then go away.
            let mut some = vec![0; (len / 2) as usize];
            r.read_exact(&mut some).unwrap();
        },
    );
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.stderr, "");
}
