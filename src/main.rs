//! `schtasksremote`: with no arguments it speaks Splunk's chunked protocol (SCP v2) on
//! stdin/stdout; subcommands are for people.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use schtasksremote::{command, detection};

mod cli;

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
    /// Show how a command line is split, parsed and judged.
    Explain(ExplainArgs),
    /// Scan replay datasets (XmlWinEventLog, EVTX, JSON lines, CSV) without Splunk.
    Scan(cli::scan::ScanArgs),
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// The full command line, as a process-creation event records it.
    command_line: String,
    /// The host the command ran on (CIM `dest`), to judge `/s <own name>`.
    #[arg(long, default_value = "")]
    dest: String,
    /// The process name (CIM `process_name`).
    #[arg(long, default_value = "schtasks.exe")]
    process_name: String,
    /// The original file name from the PE header (CIM `original_file_name`).
    #[arg(long, default_value = "")]
    original_file_name: String,
    /// The account that ran the command (CIM `user`), for the risk message.
    #[arg(long, default_value = "")]
    user: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.command {
        None => {
            widen_pipes();
            command::serve(io::stdin().lock(), io::stdout().lock())
        }
        Some(Command::Scan(args)) => cli::scan::run(&args),
        Some(Command::Explain(args)) => explain(&args),
    };
    ExitCode::from(u8::try_from(status).unwrap_or(1))
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

fn explain(args: &ExplainArgs) -> i32 {
    let event = detection::ProcessEvent {
        process_name: &args.process_name,
        original_file_name: &args.original_file_name,
        process: &args.command_line,
        dest: &args.dest,
        user: &args.user,
        ..Default::default()
    };
    let text = detection::explain(&event, &detection::DetectorConfig::default());
    match io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => 0,
        // A closed pipe (`| head`) is a quiet exit, like any Unix filter.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("schtasksremote: cannot write to stdout: {e}");
            1
        }
    }
}
