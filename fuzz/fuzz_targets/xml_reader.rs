//! Any bytes read as XmlWinEventLog: no panic, and the same report whether the reader
//! hands them over at once or a few bytes at a time (the record splitter must not
//! depend on where reads end).
#![no_main]

mod support;

use libfuzzer_sys::fuzz_target;
use schtasksremote::replay::Format;

fuzz_target!(|data: &[u8]| support::same_report_in_pieces(data, Format::Xml));
