//! The binary's command-line side of `schtasksremote scan` (ripgrep's split: the library
//! reads and judges, the binary parses flags, runs threads, prints and picks the exit
//! status).

// The static builds' allocator; its tests run on any Linux host.
#[cfg(all(target_os = "linux", any(test, target_env = "musl")))]
pub mod alloc;
pub mod output;
pub mod scan;
