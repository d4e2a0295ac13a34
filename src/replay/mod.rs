//! Offline replay: read datasets (XmlWinEventLog, EVTX, JSON lines, CSV; inside `.gz`,
//! `.zip`, `.tar.gz`; folders; stdin) into process events, run the detection core, and
//! report what it finds. Backs `schtasksremote scan`.

/// `schtasksremote scan` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// Files or folders to scan; `-` is stdin.
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
}

/// Runs a scan and returns the process exit status (see `--help`).
pub fn run(args: &ScanArgs) -> i32 {
    let _ = args;
    unimplemented!("scan: issue 5")
}
