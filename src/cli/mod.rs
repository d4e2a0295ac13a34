//! The binary's command-line side of `schtasksremote scan` (ripgrep's split: the library
//! reads and judges, the binary parses flags, runs threads, prints and picks the exit
//! status).

pub mod output;
pub mod scan;
