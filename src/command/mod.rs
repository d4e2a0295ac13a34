//! The `| schtasksremote` search command: SPL options, field mapping, output fields.
//! Glues [`crate::protocol`] to [`crate::detection`].

/// Serves one SCP v2 session on `input`/`output` (stdin/stdout in production) and
/// returns the process exit status: 0 on a clean end (including a getinfo-only probe
/// and a closed stdout), 1 after an error was reported to splunkd.
pub fn serve<R: std::io::Read, W: std::io::Write>(input: R, output: W) -> i32 {
    let _ = (input, output);
    unimplemented!("search command: issue 3")
}
