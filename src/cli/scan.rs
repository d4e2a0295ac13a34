//! `schtasksremote scan`: inputs are scanned by worker threads (one file each at a
//! time; with fewer files than threads, the threads left over read pieces of a large
//! file at once, [`ScanOptions::piece_threads`]); the main thread prints results in
//! input order, drives the progress bar, and writes the summary.
//!
//! Memory stays flat whatever the inputs and however slowly stdout is read (issue 15):
//! each input's detections go through a bounded queue ([`QUEUE_LEN`]) and workers stay
//! within a window of the input being printed ([`Ordered`]), so a slow reader slows
//! the scan. A closed stdout raises the scan's [`Stop`] within [`TICK`], seen by a
//! write error or, when nothing is being written, by `poll(2)`; readers look at it at
//! every record and every read.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use schtasksremote::detection::{DetectorConfig, Operations};
use schtasksremote::replay::ordered::Ordered;
use schtasksremote::replay::{
    self, Detection, DetectionSink, HostMatch, InputReport, Linker, ProblemKind, ScanOptions,
    SightingGrouper, Stop,
};

use super::output::{self, OutputFormat, Printer, Totals};

/// `schtasksremote scan` options.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Formats are told by content, not by name: XmlWinEventLog (<Event> records, any number per \
file), EVTX, JSON lines (NXLog, winlogbeat / ECS, OTRF Security-Datasets, Defender for \
Endpoint streaming API, CrowdStrike FDR), CSV with CIM or raw field names (Splunk exports, \
Defender Advanced Hunting), classic WinEventLog text (renderXml=false); UTF-8 or UTF-16 \
(with or without a BOM); inside .gz, .zip, .tar or .tar.gz. Folders are walked like `find -type f` (files that are not event data, \
FIFOs, sockets, devices and symbolic links are skipped and counted; --follow follows links). Process creations are judged (the source side): Sysmon 1, Security 4688, CrowdStrike \
ProcessRollup2 / SyntheticProcessRollup2, Defender ProcessCreated, ECS process start, and \
rows without an event type that name a process. A process creation without a command \
line or any image name is counted as not judged and named in the summary. On the target \
side, Security 4698/4702 are judged (a task registered by a remote RPC caller, or in a \
network logon: 4624 type 3 in the same source), and 5145 (writes to the atsvc pipe); the \
two ends of one movement are linked (--link-window) and the summary prints each edge.

Exit status:
  0  the scan ran (whether or not anything was found)
  1  --fail-on-detection was given and at least one detection was found
  2  nothing could be read, --strict met a bad record, a bad file or a process creation \
     that cannot be judged, or stdout failed")]
pub struct ScanArgs {
    /// Files or folders to scan; `-` is stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// How detections are written to stdout (json: one object per detection per line).
    /// (Any case: `--format JSON` too, as SPL options take any case.)
    #[arg(long, value_enum, ignore_case = true, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Exit with status 1 when anything is found.
    #[arg(long)]
    pub fail_on_detection: bool,
    /// Report every schtasks.exe event with its verdict and reason (detection_reason),
    /// not only detections: what `explain` shows, for a whole dataset, to tune offline.
    #[arg(long)]
    pub verdicts: bool,
    /// Stop at the first bad record, unreadable file or process creation that cannot be
    /// judged, with status 2.
    #[arg(long)]
    pub strict: bool,
    /// Threads (default: the number of CPUs). Files are spread over them; when there
    /// are fewer files than threads, a large EVTX, XML or JSON-lines file is also cut
    /// into pieces (see --piece-size) read at once, with the same output as one thread.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<std::num::NonZeroUsize>,
    /// The size of the pieces a large file is cut into when threads are left over: a
    /// regular, uncompressed EVTX, XML or JSON-lines file larger than this is split
    /// (its last pieces smaller, down to an eighth of this, so that the threads end
    /// together). Bytes, or with a unit: K, M, G, T (powers of 1024). Below a few MB
    /// the pieces' own costs outweigh what they save.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub piece_size: u64,
    /// Follow symbolic links met while walking a folder (links named on the command line
    /// are always followed). Without it, links are skipped and counted, as `find` and
    /// ripgrep do; with it, a loop back to a folder being walked is detected by device
    /// and inode and skipped, and a file reached by two paths is scanned once.
    #[arg(long, short = 'L')]
    pub follow: bool,
    /// At most this many bytes are decompressed from one input, a file or stdin (all its
    /// archive members and nested archives together); the rest is not read and is
    /// reported. Bytes, or with
    /// a unit: K, M, G, T (powers of 1024; KiB, MB… read the same).
    #[arg(long, value_name = "SIZE", default_value = "16G", value_parser = parse_size)]
    pub max_archive_bytes: u64,
    /// CSV output: write cells that start with = + - @, a tab or a carriage return as
    /// they are. By default such a cell gets a leading ' (OWASP's CSV-injection guard),
    /// so that a spreadsheet shows an attacker-chosen command line instead of running it
    /// as a formula. JSON output is always exact.
    #[arg(long)]
    pub no_formula_guard: bool,
    /// Read every record in full: no prefilter on raw bytes, no EVTX record skipped
    /// before rendering, no file split across threads. Slower; the same detections,
    /// links and counts (the reference the fast path is tested against).
    #[arg(long)]
    pub full_path: bool,
    /// Sightings of one process creation by two sensors (Sysmon 1 and Security 4688: same
    /// host, same command line) at most this many seconds apart are one detection that
    /// lists both; 0 lists every event on its own. The last 4096 detections are held
    /// for this.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = parse_window)]
    pub group_window: f64,
    /// The remote schtasks operations that are detections: a comma list of create,
    /// change and run, or all (the default; the search command's default is create,
    /// ESCU's rule). Each has its own detection_name; create is always on.
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub operations: Operations,
    /// A source-side detection (schtasks on A with /s B) and a target-side one (a task
    /// registered on B) at most this many seconds apart are linked: each lists the
    /// other in `linked`, and the summary prints the edge A -> B. 0 links nothing. The
    /// detections that may link (at most 4096) are printed at the end of the scan.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = parse_window)]
    pub link_window: f64,
    /// How B's names are compared when linking: short (the first DNS label, any case:
    /// WS6 = ws6.corp.local) or exact (the whole name, any case).
    #[arg(long, value_enum, ignore_case = true, default_value_t = LinkHosts::Short)]
    pub link_hosts: LinkHosts,
    /// Print per-source counts (records, process events, …) and the names of the files
    /// skipped (not event data, not regular files, links), before the summary (also with
    /// -q: it was asked for). The first 10,000 sources and 100 skipped files are listed.
    #[arg(long)]
    pub per_source: bool,
    /// No summary and no progress bar on stderr (problems are still reported).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--link-hosts` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LinkHosts {
    /// The first DNS label, any case.
    Short,
    /// The whole name, any case.
    Exact,
}

/// `--max-archive-bytes`: a whole number of bytes, optionally with a binary unit
/// (`16G`, `512MiB`, `1t`). Units are powers of 1024 whichever spelling is used: the
/// cap is a guard, not a measure.
fn parse_size(value: &str) -> Result<u64, String> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => 64,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|_| shift < 64)
        .and_then(|n| n.checked_mul(1u64 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            format!("{value:?} is not a size: give bytes, or a number with K, M, G or T (16G)")
        })
}

/// `--threads`: a whole number of at least 1, with a message that says so (clap's own
/// for `NonZeroUsize` is "number would be zero for non-zero type").
fn parse_threads(value: &str) -> Result<std::num::NonZeroUsize, String> {
    value
        .parse::<usize>()
        .ok()
        .and_then(std::num::NonZeroUsize::new)
        .ok_or_else(|| {
            format!("{value:?} is not a number of threads: give a whole number of at least 1")
        })
}

/// `--group-window`: seconds, 0 or more.
fn parse_window(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .ok_or_else(|| format!("{value:?} is not a window: give seconds, from 0 to 86400"))
}

/// A progress bar is shown only for scans at least this large.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Detections one input may have waiting for the printer. A worker whose queue is full
/// waits: a slow reader of stdout slows the scan instead of growing its memory
/// (issue 15 case 6).
const QUEUE_LEN: usize = 256;

/// The most detections a worker hands the printer in one message ([`Msg::Detections`]).
const BATCH: usize = 64;

/// A worker sends a detection at once when it sent nothing for this long; otherwise it
/// holds it back, to send with the next ones when this long has passed since its last
/// message (or [`BATCH`] are held), and when no more follow the printer takes it at its
/// next [`TICK`]. One message per detection woke the printer each time: on a file with
/// 1,728 detections per 100 MB, the context switches cost a tenth of the scan's CPU.
const COALESCE: Duration = Duration::from_millis(10);

/// How often the printer flushes a quiet output and looks whether stdout was closed.
const TICK: Duration = Duration::from_millis(100);

/// Runs a scan and returns the process exit status (see `--help`).
pub fn run(args: &ScanArgs) -> i32 {
    let started = Instant::now();
    let progress_counter = Arc::new(AtomicU64::new(0));
    let stop = Stop::default();
    let mut options = ScanOptions {
        config: DetectorConfig {
            operations: args.operations,
            ..DetectorConfig::default()
        },
        strict: args.strict,
        stop: stop.clone(),
        progress: Some(Arc::clone(&progress_counter)),
        sink: None,
        every_verdict: args.verdicts,
        follow_links: args.follow,
        max_archive_bytes: args.max_archive_bytes,
        full_path: args.full_path,
        piece_bytes: args.piece_size,
        ..ScanOptions::default()
    };
    let (mut inputs, mut pre) = replay::expand_paths(&args.paths, &options);
    if args.strict && pre.problem_count > 0 {
        pre.aborted = true;
        inputs.clear();
    }
    let total_bytes: u64 = inputs.iter().map(replay::Input::size).sum();
    let asked = args
        .threads
        .map(|n| n.get())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    let threads = asked.clamp(1, inputs.len().max(1));
    // Fewer inputs than threads: the threads left over read pieces of one large file
    // at once (issue 14), so that one file also uses every core.
    options.piece_threads = asked / threads;
    // The threads that read, for the summary: more when a file is split.
    let split = options.piece_threads > 1
        && inputs.iter().any(|input| match input {
            replay::Input::Path { path, .. } => replay::pieces(path, &options) > 1,
            replay::Input::Stdin => false,
        });
    let reading = if split {
        threads * options.piece_threads
    } else {
        threads
    };

    let bar = (!args.quiet && io::stderr().is_terminal() && total_bytes >= PROGRESS_MIN_BYTES)
        .then(|| {
            let bar = indicatif::ProgressBar::new(total_bytes);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });

    let mut totals = Totals {
        files: inputs.len() as u64,
        report: InputReport::default(),
        merged_sightings: 0,
        output_closed: false,
        edges: Vec::new(),
        links_released_early: 0,
    };
    let stdout = io::stdout().lock();
    let grouper = SightingGrouper::new(Duration::from_secs_f64(args.group_window));
    let hosts = match args.link_hosts {
        LinkHosts::Short => HostMatch::Short,
        LinkHosts::Exact => HostMatch::Exact,
    };
    let linker = Linker::new(Duration::from_secs_f64(args.link_window), hosts);
    let mut printer = Printer::new(
        args.format,
        io::BufWriter::new(stdout),
        args.verdicts,
        !args.no_formula_guard,
        grouper,
        linker,
    );
    report_problems(&pre, bar.as_ref(), args.strict);
    totals.report.merge(pre);

    let pipeline = Ordered::new(inputs.len(), threads, 2 * threads);
    let mut out = Out {
        printer: &mut printer,
        output_error: None,
        stop: &stop,
        last_tick: Instant::now(),
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (pipeline, inputs, options) = (&pipeline, &inputs, &options);
            s.spawn(move || {
                pipeline.work(&options.stop, open, |i, tx| {
                    if let Some(input) = inputs.get(i) {
                        scan_into(input, options, tx);
                    }
                });
            });
        }
        // Inputs finish in any order; their detections are printed in input order,
        // each input's as they are found.
        let mut printing = 0;
        while let Some(queue) = pipeline.take(printing, || out.tick()) {
            out.drain(
                queue,
                &mut totals,
                bar.as_ref(),
                args.strict,
                &progress_counter,
            );
            printing += 1;
        }
        // After a stop, inputs after a gap may have run: their reports still count.
        for queue in pipeline.finish() {
            out.drain(
                queue,
                &mut totals,
                bar.as_ref(),
                args.strict,
                &progress_counter,
            );
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut output_error = out.output_error;
    if output_error.is_none() {
        if let Err(e) = printer.finish() {
            output_error = Some(e);
        }
    }
    totals.merged_sightings = printer.merged();
    totals.edges = printer.edges();
    totals.links_released_early = printer.links_released_early();
    totals.output_closed = output_error
        .as_ref()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe);
    let elapsed = started.elapsed();
    let mut text = String::new();
    if args.per_source {
        text.push_str(&output::per_source(&totals));
    }
    // With nothing read there is nothing to sum up: the problems and exit_status's
    // "nothing could be read" say it all.
    if !args.quiet && totals.report.counts.sources > 0 {
        text.push_str(&output::summary(&totals, elapsed, reading));
    }
    let _ = io::stderr().lock().write_all(text.as_bytes());
    if let Some(e) = output_error {
        // A closed pipe (`| head`) is a quiet, successful end, like any Unix filter.
        if e.kind() == io::ErrorKind::BrokenPipe {
            return 0;
        }
        eprintln!(
            "schtasksremote: cannot write to stdout: {}",
            output::visible(&e.to_string())
        );
        return 2;
    }
    exit_status(&totals.report, args)
}

/// What a worker sends the printer about its input.
enum Msg {
    /// Detections in the order found, at most [`BATCH`].
    Detections(Vec<Detection>),
    /// The input's report, after its last detection.
    Done(Box<InputReport>),
}

/// Detections a worker holds back ([`COALESCE`]), shared with the printer, which takes
/// them when its queue stays quiet for a [`TICK`].
#[derive(Default)]
struct Held {
    detections: Vec<Detection>,
    /// When the worker last sent detections (or the printer took them).
    sent: Option<Instant>,
}

type Shared = Arc<Mutex<Held>>;

fn lock(held: &Shared) -> std::sync::MutexGuard<'_, Held> {
    // A worker that panicked holding it ends the scan anyway (the threads join).
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends what `held` holds. Called with its lock held, so that the printer, taking
/// the held detections under the same lock, knows every message in its queue then is
/// older than what it takes ([`Out::take_held`]).
fn send_held(held: &mut Held, tx: &SyncSender<Msg>) {
    held.sent = Some(Instant::now());
    let detections = std::mem::take(&mut held.detections);
    if !detections.is_empty() {
        // The printer gone (it never is before the workers) only drops these.
        let _ = tx.send(Msg::Detections(detections));
    }
}

/// An input's queue and held detections: the printer takes the first half ([`Ordered`]
/// keeps the inputs within a window of the one being printed, so at most that many
/// queues wait), its worker the second.
fn open(_input: usize) -> ((Receiver<Msg>, Shared), (SyncSender<Msg>, Shared)) {
    let (tx, rx) = mpsc::sync_channel(QUEUE_LEN.div_ceil(BATCH));
    let held = Shared::default();
    ((rx, Arc::clone(&held)), (tx, held))
}

/// Scans one input into its queue.
fn scan_into(input: &replay::Input, options: &ScanOptions, (tx, held): (SyncSender<Msg>, Shared)) {
    let (sink_tx, sink_held) = (tx.clone(), Arc::clone(&held));
    let options = ScanOptions {
        sink: Some(DetectionSink(Arc::new(move |d| {
            let mut held = lock(&sink_held);
            held.detections.push(d);
            let quiet = held.sent.is_none_or(|t| t.elapsed() >= COALESCE);
            if quiet || held.detections.len() >= BATCH {
                send_held(&mut held, &sink_tx);
            }
        }))),
        ..options.clone()
    };
    let report = replay::scan_input(input, &options);
    send_held(&mut lock(&held), &tx);
    let _ = tx.send(Msg::Done(Box::new(report)));
}

/// The printer's side: stdout, its first error, and the stop it raises on that error.
struct Out<'a, W: Write> {
    printer: &'a mut Printer<W>,
    output_error: Option<io::Error>,
    stop: &'a Stop,
    last_tick: Instant,
}

impl<W: Write> Out<'_, W> {
    /// Prints one input's detections as its worker finds them, then takes its report.
    fn drain(
        &mut self,
        (queue, held): (Receiver<Msg>, Shared),
        totals: &mut Totals,
        bar: Option<&indicatif::ProgressBar>,
        strict: bool,
        progress: &AtomicU64,
    ) {
        loop {
            let msg = queue.recv_timeout(TICK);
            if self.last_tick.elapsed() >= TICK {
                self.tick();
                if let Some(bar) = bar {
                    bar.set_position(progress.load(Ordering::Relaxed));
                }
            }
            let report = match msg {
                Ok(Msg::Detections(d)) => {
                    self.detections(d);
                    // Out now, not at the next tick: batches come at most every 10 ms
                    // (COALESCE), so this is a write per batch, not per detection.
                    self.flush();
                    None
                }
                Ok(Msg::Done(report)) => Some(*report),
                Err(mpsc::RecvTimeoutError::Timeout) => self.take_held(&queue, &held),
                // Its worker panicked (the panic ends the scan when the threads join).
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if let Some(report) = report {
                report_problems(&report, bar, strict);
                self.printer.learn_addresses(&report.addresses);
                totals.report.merge(report);
                self.flush();
                return;
            }
        }
    }

    /// Prints the detections a worker holds back: first the messages queued before
    /// (the worker sends only under the lock taken here, so those are older), then
    /// the held ones. Gives the input's report if it came meanwhile (it is always the
    /// last message). Nothing while the worker holds the lock (pushing or sending): the
    /// printer looks again at its next message or [`TICK`].
    fn take_held(&mut self, queue: &Receiver<Msg>, held: &Shared) -> Option<InputReport> {
        let (queued, taken) = {
            let Ok(mut held) = held.try_lock() else {
                return None;
            };
            let queued: Vec<Msg> = queue.try_iter().collect();
            held.sent = Some(Instant::now());
            (queued, std::mem::take(&mut held.detections))
        };
        let mut report = None;
        for msg in queued {
            match msg {
                Msg::Detections(d) => self.detections(d),
                Msg::Done(r) => report = Some(*r),
            }
        }
        self.detections(taken);
        report
    }

    fn detections(&mut self, d: Vec<Detection>) {
        if self.output_error.is_some() || d.is_empty() {
            return;
        }
        if let Err(e) = self.printer.detections(d) {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: io::Error) {
        // Nobody reads the output any more: stop scanning.
        self.stop.raise();
        self.output_error = Some(e);
    }

    fn flush(&mut self) {
        if self.output_error.is_none() {
            if let Err(e) = self.printer.flush() {
                self.fail(e);
            }
        }
    }

    /// Every [`TICK`]: pushes what was written to stdout, and stops the scan when
    /// stdout was closed, even if nothing is being written (issue 15 case 9: `| head
    /// -1` on a file with one detection at its start).
    fn tick(&mut self) {
        self.last_tick = Instant::now();
        self.flush();
        if self.output_error.is_none() && stdout_closed() {
            self.fail(io::ErrorKind::BrokenPipe.into());
        }
    }
}

/// Whether the reader of stdout is gone, without writing: `poll(2)` reports `POLLERR`
/// on a pipe whose read end is closed and `POLLHUP` on a hung-up terminal.
#[cfg(target_os = "linux")]
fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: 1,
        events: 0,
        revents: 0,
    };
    // SAFETY: poll on one pollfd we own, with a zero timeout; it only fills `revents`.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Elsewhere a closed stdout is seen at the next write.
#[cfg(not(target_os = "linux"))]
fn stdout_closed() -> bool {
    false
}

fn exit_status(report: &InputReport, args: &ScanArgs) -> i32 {
    if report.aborted {
        eprintln!("schtasksremote: stopped at the first problem (--strict)");
        return 2;
    }
    if report.counts.sources == 0 {
        eprintln!("schtasksremote: nothing could be read");
        return 2;
    }
    if args.fail_on_detection && report.detection_count() > 0 {
        return 1;
    }
    0
}

/// Each problem on stderr. Without `--strict` the scan skips a bad record and goes on,
/// and says so; with it, the scan stops there (exit_status says that), so nothing was
/// skipped. Other problems say themselves what they cost (a source's rest, a line).
/// Source names and messages carry attacker-chosen text (archive member names, values),
/// so control and bidi characters are escaped ([`output::visible`]).
fn report_problems(report: &InputReport, bar: Option<&indicatif::ProgressBar>, strict: bool) {
    let mut text = String::new();
    for p in &report.problems {
        let outcome = if !strict && p.kind == ProblemKind::BadRecord {
            "; skipped"
        } else {
            ""
        };
        let line = format!("schtasksremote: {p}{outcome}");
        output::push_visible_line(&mut text, &line);
    }
    let more = report
        .problem_count
        .saturating_sub(report.problems.len() as u64);
    if more > 0 {
        text.push_str(&format!(
            "schtasksremote: … and {more} more problems in this input (counted in the summary)\n"
        ));
    }
    if text.is_empty() {
        return;
    }
    match bar {
        Some(bar) => bar.suspend(|| eprint!("{text}")),
        None => eprint!("{text}"),
    }
}
