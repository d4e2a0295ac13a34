//! Any bytes read as UTF-16LE text (transcoded, then told again and read by whichever
//! text reader the content names): no panic, and the same report whether the bytes come
//! at once or a few at a time (code units and lines split across reads).
#![no_main]

mod support;

use libfuzzer_sys::fuzz_target;
use schtasksremote::replay::{Format, Utf16};

fuzz_target!(|data: &[u8]| support::same_report_in_pieces(data, Format::Utf16(Utf16::Le)));
