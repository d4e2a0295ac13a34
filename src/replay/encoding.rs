//! UTF-16 text (LE or BE, with or without a byte-order mark), transcoded to UTF-8 before
//! any text reader sees it.
//!
//! Windows writes UTF-16LE more often than users expect: Windows PowerShell 5.1's `>`,
//! `Out-File` and `Export-Csv -Encoding Unicode`, `wevtutil qe` redirected by `cmd`,
//! Notepad's "Unicode". Every text reader (XML, JSON lines, CSV, classic WinEventLog)
//! reads UTF-8, so a UTF-16 stream is told by its first bytes and wrapped in a
//! transcoding [`Read`] adapter, like a gzip layer: the readers never know.
//!
//! Decoding is lossy by design (the project's rule: a value we cannot decode is read
//! lossily, never a reason to drop an event): an unpaired surrogate or an odd trailing
//! byte becomes U+FFFD, as invalid UTF-8 does in the readers.

use std::io::Read;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

/// A UTF-16 byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Utf16 {
    Le,
    Be,
}

impl Utf16 {
    /// `UTF-16LE` or `UTF-16BE` (the WHATWG / IANA labels).
    pub fn name(self) -> &'static str {
        self.encoding().name()
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            Utf16::Le => UTF_16LE,
            Utf16::Be => UTF_16BE,
        }
    }
}

/// How many leading code units the BOM-less test looks at.
const PROBE_UNITS: usize = 256;
/// The fewest code units a BOM-less guess needs: shorter text is not told apart from
/// binary data.
const MIN_PROBE_UNITS: usize = 4;

/// Tells UTF-16 from the first bytes of a stream.
///
/// - A byte-order mark says it: `FF FE` is UTF-16LE, `FE FF` UTF-16BE (Unicode §23.8).
///   (`FF FE 00 00` would be UTF-32LE, which no Windows tool writes for logs; it is read
///   as UTF-16LE, where the `00 00` is a NUL character the readers skip.)
/// - Without a BOM, the bytes say it when the text is mostly ASCII, as event data is:
///   every ASCII character is one code unit whose high byte is 0. The stream is UTF-16LE
///   when, over its first 256 code units, at most 1 in 4 is a NUL (`00 00`), at least
///   3 in 4 of the others are `xx 00` with `xx` non-zero, and at most 1 in 16 of those
///   as many are `00 xx` (a character such as U+0100 `Ā`, or a surrogate half of an
///   emoji or a CJK extension character, is `00 xx` in UTF-16LE: one in a value must
///   not make the stream binary); UTF-16BE mirrored. UTF-8 text has no zero
///   bytes at all, and binary formats are told by their magic numbers before this runs.
pub(crate) fn utf16_of(head: &[u8]) -> Option<Utf16> {
    if head.starts_with(&[0xFF, 0xFE]) {
        return Some(Utf16::Le);
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Some(Utf16::Be);
    }
    let probe = head
        .get(..(2 * PROBE_UNITS).min(head.len()))
        .unwrap_or_default();
    let units = probe.len() / 2;
    if units < MIN_PROBE_UNITS {
        return None;
    }
    let (mut low_first, mut high_first, mut nul) = (0usize, 0usize, 0usize);
    for unit in probe.chunks_exact(2) {
        match (unit.first().copied(), unit.get(1).copied()) {
            (Some(0), Some(0)) => nul += 1,
            (Some(_), Some(0)) => low_first += 1,
            (Some(0), Some(_)) => high_first += 1,
            _ => {}
        }
    }
    // A NUL character or two (padding, a value) is text; many are binary, or UTF-32.
    if nul * 4 > units {
        return None;
    }
    let mostly = |n: usize| n * 4 >= (units - nul) * 3;
    if mostly(low_first) && high_first * 16 <= low_first {
        Some(Utf16::Le)
    } else if mostly(high_first) && low_first * 16 <= high_first {
        Some(Utf16::Be)
    } else {
        None
    }
}

/// Wraps `reader` (which starts at the first byte of the stream, BOM included) in a
/// UTF-16 → UTF-8 transcoder. A BOM, when present, wins over `utf16` and is not passed
/// on.
pub(crate) fn decode_utf16<R: Read>(reader: R, utf16: Utf16) -> DecodeReaderBytes<R, Vec<u8>> {
    DecodeReaderBytesBuilder::new()
        .encoding(Some(utf16.encoding()))
        .bom_override(true)
        .strip_bom(true)
        .build(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn be(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    fn decoded(bytes: &[u8], utf16: Utf16) -> String {
        let mut out = String::new();
        decode_utf16(bytes, utf16).read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn a_byte_order_mark_names_the_byte_order() {
        let mut with_bom = vec![0xFF, 0xFE];
        with_bom.extend(le("<Event>"));
        assert_eq!(utf16_of(&with_bom), Some(Utf16::Le));
        assert_eq!(decoded(&with_bom, Utf16::Le), "<Event>");
        let mut with_bom = vec![0xFE, 0xFF];
        with_bom.extend(be("{\"a\":1}"));
        assert_eq!(utf16_of(&with_bom), Some(Utf16::Be));
        // The BOM wins over the caller's guess.
        assert_eq!(decoded(&with_bom, Utf16::Le), "{\"a\":1}");
    }

    #[test]
    fn bomless_utf16_is_told_by_its_zero_bytes() {
        let text = "_time,dest,process_name,process\r\n";
        assert_eq!(utf16_of(&le(text)), Some(Utf16::Le));
        assert_eq!(utf16_of(&be(text)), Some(Utf16::Be));
        assert_eq!(decoded(&le(text), Utf16::Le), text);
        assert_eq!(decoded(&be(text), Utf16::Be), text);
        // A few non-ASCII characters do not hide it.
        let accented = "Ordinateur_Évènement,Image,CommandLine\r\n";
        assert_eq!(utf16_of(&le(accented)), Some(Utf16::Le));
        // Nor does a NUL character in a value.
        assert_eq!(
            utf16_of(&le("LogName=Security\r\nComputerName=a\0b\r\n")),
            Some(Utf16::Le)
        );
    }

    /// Found by scan_lossy's property test: U+D0000 (a surrogate pair `00 DB 00 DC` in
    /// UTF-16LE) at the start of a value made BOM-less UTF-16 text "binary data".
    #[test]
    fn a_few_code_units_with_a_zero_low_byte_do_not_hide_utf16() {
        let text = "10/27/2020 08:00:14 PM\r\nLogName=Security\r\nEventCode=4688\r\n";
        for odd in ["\u{d0000}", "\u{100}", "\u{4e00}\u{d0000}"] {
            let with = format!("{text}Process_Command_Line={odd}schtasks\r\n");
            assert_eq!(utf16_of(&le(&with)), Some(Utf16::Le), "{odd:?}");
            assert_eq!(utf16_of(&be(&with)), Some(Utf16::Be), "{odd:?}");
        }
    }

    #[test]
    fn utf8_binary_and_tiny_inputs_are_not_utf16() {
        assert_eq!(utf16_of(b"_time,dest,process_name,process\n"), None);
        assert_eq!(utf16_of("Évènement,€".as_bytes()), None);
        assert_eq!(utf16_of(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"), None);
        assert_eq!(utf16_of(&[0u8; 64]), None);
        // UTF-32LE: half the code units are NULs.
        assert_eq!(
            utf16_of(b"<\0\0\0E\0\0\0v\0\0\0e\0\0\0n\0\0\0t\0\0\0"),
            None
        );
        assert_eq!(utf16_of(&le("ab")), None);
        assert_eq!(utf16_of(b""), None);
    }

    #[test]
    fn unpaired_surrogates_and_odd_bytes_decode_to_replacement_characters() {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(le("a"));
        bytes.extend(0xD800u16.to_le_bytes());
        bytes.extend(le("b"));
        bytes.push(b'c');
        assert_eq!(decoded(&bytes, Utf16::Le), "a\u{FFFD}b\u{FFFD}");
    }
}
