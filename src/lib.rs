//! schtasksremote: find remote scheduled-task creation (`schtasks /create /s <host>`,
//! MITRE ATT&CK T1053.005) in process-creation events.
//!
//! The crate is a library with a thin binary on top (`src/main.rs` and `src/cli/`: clap,
//! threads, progress, printing, exit codes):
//!
//! - [`detection`]: pure functions. Windows command-line tokenising, the schtasks
//!   grammar, target locality, risk. No Splunk, no I/O.
//! - [`cim`]: the one mapping from CIM `Endpoint.Processes` names (with or without the
//!   `Processes.` prefix) and raw Sysmon / Security 4688 / CrowdStrike names to a
//!   [`detection::ProcessEvent`], and the event classification (which records are
//!   process creations). Used by both the search command and the scanner.
//! - [`protocol`]: Splunk's chunked custom search command protocol (SCP v2): framing,
//!   metadata, the CSV body codec. Knows nothing about schtasks.
//! - [`command`]: the `| schtasksremote` search command; glues `protocol` to `detection`.
//! - [`replay`]: offline dataset readers (XmlWinEventLog, EVTX, JSON lines, CSV, inside
//!   archives) that turn inputs into judged events and an [`replay::InputReport`]. Prints
//!   nothing, parses no flags.

pub mod cim;
pub mod command;
pub mod detection;
pub mod protocol;
pub mod replay;
