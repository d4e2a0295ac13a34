//! `schtasksremote`: with no arguments it speaks Splunk's chunked protocol (SCP v2) on
//! stdin/stdout; subcommands are for people.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use schtasksremote::{command, detection};

mod cli;

/// The static Linux builds: dlmalloc, and the kernel's pages for large blocks
/// (`cli::alloc`).
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[global_allocator]
static ALLOCATOR: cli::alloc::StaticAlloc = cli::alloc::StaticAlloc;

#[derive(Debug, Parser)]
#[command(
    name = "schtasksremote",
    version,
    about = "Find remote scheduled-task creation (schtasks /create /s <host>, MITRE T1053.005).",
    long_about = "Find remote scheduled-task creation (schtasks /create /s <host>, MITRE T1053.005).\n\n\
                  Run with no arguments, it is the Splunk custom search command `| schtasksremote` and \
                  speaks the chunked protocol (SCP v2) on stdin/stdout. The subcommands are for people."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show how a command line is split, parsed and judged. Exit status: 0 not a
    /// detection, 1 a detection (as `scan --fail-on-detection`), 2 an error.
    Explain(ExplainArgs),
    /// Scan replay datasets (XmlWinEventLog, EVTX, JSON lines, CSV, classic WinEventLog
    /// text) without Splunk.
    Scan(cli::scan::ScanArgs),
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// The full command line, as a process-creation event records it.
    command_line: String,
    /// The host the command ran on (CIM `dest`), to judge `/s <own name>`.
    #[arg(long, default_value = "")]
    dest: String,
    /// The process name (CIM `process_name`) [default: the file name of the command
    /// line's own argv[0], `.exe` added when it has no extension, as CreateProcess does:
    /// `schtasks /create …` is schtasks.exe, `cmd.exe /c schtasks …` is cmd.exe].
    #[arg(long)]
    process_name: Option<String>,
    /// The original file name from the PE header (CIM `original_file_name`).
    #[arg(long, default_value = "")]
    original_file_name: String,
    /// The account that ran the command (CIM `user`), for the risk message.
    #[arg(long, default_value = "")]
    user: String,
    /// The remote schtasks operations that are detections, as `scan --operations`: a
    /// comma list of create, change and run, or all (the search command's default is
    /// create, ESCU's rule).
    #[arg(long, value_name = "LIST", default_value = "all")]
    operations: detection::Operations,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.command {
        // splunkd always hands the command a pipe; a person who typed the bare name at
        // a terminal would otherwise wait on SCP input that never comes.
        None if io::stdin().is_terminal() => usage(),
        None => {
            widen_pipes();
            command::serve(io::stdin().lock(), io::stdout().lock())
        }
        Some(Command::Scan(args)) => cli::scan::run(&args),
        Some(Command::Explain(args)) => explain(&args),
    };
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

/// No arguments and stdin a terminal: say what the bare command is and list the
/// subcommands, on stderr, with clap's usage-error status 2.
fn usage() -> i32 {
    let _ = write!(
        io::stderr().lock(),
        "schtasksremote: with no arguments this is the Splunk search command `| \
         schtasksremote` and reads Splunk's chunked protocol on stdin, which is a terminal \
         here. To use it yourself, give a subcommand:\n\n{}",
        Cli::command().render_help()
    );
    2
}

/// splunkd talks to us over pipes of 64 KiB, so every chunk of megabytes costs both
/// processes hundreds of wake-ups. Asking for 1 MiB (the unprivileged maximum) is a hint:
/// it fails harmlessly on files, terminals and older kernels.
#[cfg(target_os = "linux")]
fn widen_pipes() {
    for fd in [0, 1] {
        // SAFETY: fcntl on a file descriptor we own; F_SETPIPE_SZ only resizes a pipe's
        // buffer and returns -1 on anything that is not a pipe.
        unsafe {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn widen_pipes() {}

/// `explain`'s exit status: like `scan --fail-on-detection`, 1 says "a detection", so a
/// script can tell the two verdicts apart; errors are 2, as clap's usage errors are.
const EXPLAIN_NOT_A_DETECTION: i32 = 0;
const EXPLAIN_DETECTION: i32 = 1;
const EXPLAIN_ERROR: i32 = 2;

fn explain(args: &ExplainArgs) -> i32 {
    // As the search and `scan` would see it: the event's process is the program the
    // command line starts, so `cmd.exe /c schtasks …` is judged as cmd.exe.
    let process_name = args.process_name.clone().unwrap_or_else(|| {
        detection::argv::split(&args.command_line)
            .first()
            .map(|program| detection::argv::image_name(&program.value))
            .unwrap_or_default()
    });
    let event = detection::ProcessEvent {
        process_name: &process_name,
        original_file_name: &args.original_file_name,
        process: &args.command_line,
        dest: &args.dest,
        user: &args.user,
        ..Default::default()
    };
    let config = detection::DetectorConfig {
        operations: args.operations,
        ..detection::DetectorConfig::default()
    };
    // The command line and dest are the attacker's: escape control and bidi characters
    // visibly, as `scan`'s table does, keeping the report's own line ends.
    let text: String = detection::explain(&event, &config)
        .split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            Some(body) => format!("{}\n", cli::output::visible(body)),
            None => cli::output::visible(line).into_owned(),
        })
        .collect();
    let verdict = if detection::analyze(&event, &config).is_some_and(|a| a.is_detection()) {
        EXPLAIN_DETECTION
    } else {
        EXPLAIN_NOT_A_DETECTION
    };
    match io::stdout().lock().write_all(text.as_bytes()) {
        // A closed pipe (`| head`) is a quiet exit, like any Unix filter.
        Ok(()) => verdict,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => verdict,
        Err(e) => {
            eprintln!("schtasksremote: cannot write to stdout: {e}");
            EXPLAIN_ERROR
        }
    }
}
