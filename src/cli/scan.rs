//! `schtasksremote scan`: inputs are scanned by worker threads (one file each at a
//! time); the main thread prints results in input order, drives the progress bar, and
//! writes the summary.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use schtasksremote::detection::DetectorConfig;
use schtasksremote::replay::{
    self, Detection, DetectionSink, InputReport, ProblemKind, ScanOptions, SightingGrouper, Stop,
};

use super::output::{self, OutputFormat, Printer, Totals};

/// `schtasksremote scan` options.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Formats are told by content, not by name: XmlWinEventLog (<Event> records, any number per \
file), EVTX, JSON lines (NXLog, winlogbeat / ECS, OTRF Security-Datasets, Defender for \
Endpoint streaming API, CrowdStrike FDR), CSV with CIM or raw field names (Splunk exports, \
Defender Advanced Hunting), classic WinEventLog text (renderXml=false); UTF-8 or UTF-16 \
(with or without a BOM); inside .gz, .zip, .tar or .tar.gz. Folders are walked (files that are not event data are skipped and \
counted). Only process creations are judged: Sysmon 1, Security 4688, CrowdStrike \
ProcessRollup2 / SyntheticProcessRollup2, Defender ProcessCreated, ECS process start, and \
rows without an event type that name a process. A process creation without a command \
line or any image name is counted as not judged and named in the summary.

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
    /// Files scanned at once (default: the number of CPUs).
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Sightings of one process creation by two sensors (Sysmon 1 and Security 4688: same
    /// host, same command line) at most this many seconds apart are one detection that
    /// lists both; 0 lists every event on its own. The last 4096 detections are held
    /// for this.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = parse_window)]
    pub group_window: f64,
    /// Print per-source counts (records, process events, …) and the names of the files
    /// skipped as not event data, before the summary (also with -q: it was asked for).
    #[arg(long)]
    pub per_source: bool,
    /// No summary and no progress bar on stderr (problems are still reported).
    #[arg(long, short)]
    pub quiet: bool,
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

/// Runs a scan and returns the process exit status (see `--help`).
pub fn run(args: &ScanArgs) -> i32 {
    let started = Instant::now();
    let (mut inputs, mut pre) = replay::expand_paths(&args.paths);
    if args.strict && pre.problem_count > 0 {
        pre.aborted = true;
        inputs.clear();
    }
    let total_bytes: u64 = inputs.iter().map(replay::Input::size).sum();
    let progress_counter = Arc::new(AtomicU64::new(0));
    let stop = Stop::default();
    let options = ScanOptions {
        config: DetectorConfig::default(),
        strict: args.strict,
        stop: stop.clone(),
        progress: Some(Arc::clone(&progress_counter)),
        sink: None,
        every_verdict: args.verdicts,
    };
    let threads = args
        .threads
        .map(|n| n.get())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, inputs.len().max(1));

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
    };
    let stdout = io::stdout().lock();
    let grouper = SightingGrouper::new(Duration::from_secs_f64(args.group_window));
    let mut printer = Printer::new(
        args.format,
        io::BufWriter::new(stdout),
        args.verdicts,
        grouper,
    );
    let mut output_error: Option<io::Error> = None;
    report_problems(&pre, bar.as_ref(), args.strict);
    totals.report.merge(pre);

    let next = AtomicUsize::new(0);
    let inputs = &inputs;
    let options = &options;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Msg>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || loop {
                if stop.is_raised() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(i) else { return };
                // Detections go to the printer as they are found, not at the end of
                // the input: memory stays flat even when a file is full of them.
                let sink_tx = tx.clone();
                let options = ScanOptions {
                    sink: Some(DetectionSink(Arc::new(move |d| {
                        let _ = sink_tx.send(Msg::Detection(i, d));
                    }))),
                    ..options.clone()
                };
                let report = replay::scan_input(input, &options);
                if tx.send(Msg::Done(i, report)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        // Inputs finish in any order; their detections are printed in input order.
        // Only detections of inputs after the one being printed wait in memory.
        let mut out = Ordered {
            printer: &mut printer,
            output_error: &mut output_error,
            stop: &stop,
            strict: args.strict,
            current: 0,
            ahead: BTreeMap::new(),
            done: BTreeMap::new(),
        };
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Msg::Detection(i, d)) => out.detection(i, d),
                Ok(Msg::Done(i, report)) => {
                    out.done.insert(i, report);
                    out.advance(&mut totals, bar.as_ref());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => out.flush(),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if let Some(bar) = &bar {
                bar.set_position(progress_counter.load(Ordering::Relaxed));
            }
        }
        // After a --strict stop, inputs may be missing from the sequence.
        out.drain(&mut totals, bar.as_ref());
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if output_error.is_none() {
        if let Err(e) = printer.finish() {
            output_error = Some(e);
        }
    }
    totals.merged_sightings = printer.merged();
    let elapsed = started.elapsed();
    let mut text = String::new();
    if args.per_source {
        text.push_str(&output::per_source(&totals));
    }
    // With nothing read there is nothing to sum up: the problems and exit_status's
    // "nothing could be read" say it all.
    if !args.quiet && !totals.report.sources.is_empty() {
        text.push_str(&output::summary(&totals, elapsed, threads));
    }
    let _ = io::stderr().lock().write_all(text.as_bytes());
    if let Some(e) = output_error {
        // A closed pipe (`| head`) is a quiet, successful end, like any Unix filter.
        if e.kind() == io::ErrorKind::BrokenPipe {
            return 0;
        }
        eprintln!("schtasksremote: cannot write to stdout: {e}");
        return 2;
    }
    exit_status(&totals.report, args)
}

enum Msg {
    Detection(usize, Detection),
    Done(usize, InputReport),
}

/// Prints detections in input order while inputs finish in any order.
struct Ordered<'a, W: Write> {
    printer: &'a mut Printer<W>,
    output_error: &'a mut Option<io::Error>,
    stop: &'a Stop,
    /// `--strict`: problems stop the scan instead of being skipped.
    strict: bool,
    /// The input whose detections are printed as they come.
    current: usize,
    ahead: BTreeMap<usize, Vec<Detection>>,
    done: BTreeMap<usize, InputReport>,
}

impl<W: Write> Ordered<'_, W> {
    fn print(&mut self, detections: Vec<Detection>) {
        if self.output_error.is_some() || detections.is_empty() {
            return;
        }
        if let Err(e) = self.printer.detections(detections) {
            // Nobody reads the output any more: stop scanning.
            self.stop.raise();
            *self.output_error = Some(e);
        }
    }

    fn flush(&mut self) {
        if self.output_error.is_none() {
            if let Err(e) = self.printer.flush() {
                self.stop.raise();
                *self.output_error = Some(e);
            }
        }
    }

    fn detection(&mut self, input: usize, d: Detection) {
        if input == self.current {
            self.print(vec![d]);
        } else {
            self.ahead.entry(input).or_default().push(d);
        }
    }

    fn finish_input(
        &mut self,
        report: InputReport,
        totals: &mut Totals,
        bar: Option<&indicatif::ProgressBar>,
    ) {
        report_problems(&report, bar, self.strict);
        totals.report.merge(report);
    }

    /// Moves past every finished input at the head of the sequence.
    fn advance(&mut self, totals: &mut Totals, bar: Option<&indicatif::ProgressBar>) {
        while let Some(report) = self.done.remove(&self.current) {
            self.finish_input(report, totals, bar);
            self.current += 1;
            let waiting = self.ahead.remove(&self.current).unwrap_or_default();
            self.print(waiting);
        }
        self.flush();
    }

    /// Prints what is left, in input order.
    fn drain(&mut self, totals: &mut Totals, bar: Option<&indicatif::ProgressBar>) {
        let mut left: BTreeMap<usize, (Vec<Detection>, Option<InputReport>)> = BTreeMap::new();
        for (i, d) in std::mem::take(&mut self.ahead) {
            left.entry(i).or_default().0 = d;
        }
        for (i, r) in std::mem::take(&mut self.done) {
            left.entry(i).or_default().1 = Some(r);
        }
        for (_, (detections, report)) in left {
            self.print(detections);
            if let Some(report) = report {
                self.finish_input(report, totals, bar);
            }
        }
        self.flush();
    }
}

fn exit_status(report: &InputReport, args: &ScanArgs) -> i32 {
    if report.aborted {
        eprintln!("schtasksremote: stopped at the first problem (--strict)");
        return 2;
    }
    if report.sources.is_empty() {
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
fn report_problems(report: &InputReport, bar: Option<&indicatif::ProgressBar>, strict: bool) {
    let mut text = String::new();
    for p in &report.problems {
        let outcome = if !strict && p.kind == ProblemKind::BadRecord {
            "; skipped"
        } else {
            ""
        };
        text.push_str(&format!("schtasksremote: {p}{outcome}\n"));
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
