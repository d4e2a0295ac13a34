//! Any bytes read as classic WinEventLog text: no panic, and the same report whether the
//! reader hands them over at once or a few bytes at a time.
#![no_main]

mod support;

use libfuzzer_sys::fuzz_target;
use schtasksremote::replay::Format;

fuzz_target!(|data: &[u8]| support::same_report_in_pieces(data, Format::ClassicText));
