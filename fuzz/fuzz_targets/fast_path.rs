//! Any bytes, sniffed as `scan` sniffs them and read as XmlWinEventLog and as JSON
//! lines: the fast path (issue 14: byte-level framing and classification) gives the
//! same report as the full path (`ScanOptions::full_path`), whether the reader hands
//! the bytes over at once or a few at a time (the fast path looks at what the window
//! holds, so where reads end must not matter either). The same bytes laid over a real
//! EVTX chunk (records skipped before rendering), and written to a file that is split
//! into tiny pieces read on two threads, give the full path's report too.
#![no_main]

mod support;

use libfuzzer_sys::fuzz_target;
use schtasksremote::replay::Format;

fuzz_target!(|data: &[u8]| {
    support::fast_same_as_full(data, None);
    support::fast_same_as_full(data, Some(Format::Xml));
    support::fast_same_as_full(data, Some(Format::JsonLines));
    support::evtx_fast_same_as_full(data);
    support::split_same_as_full(data);
});
