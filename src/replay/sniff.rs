//! Format detection by content (the first bytes), not by file name.

use std::fmt;

use super::encoding::{utf16_of, Utf16};

/// What a stream holds, as told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Gzip,
    Zip,
    Tar,
    Evtx,
    /// `<Event xmlns=…>…</Event>` records, as Splunk's XmlWinEventLog or wevtutil write them.
    Xml,
    /// One JSON object per line (NXLog, winlogbeat, OTRF, CrowdStrike FDR).
    JsonLines,
    /// A CSV with a header row that names process fields (a Splunk export, Defender for
    /// Endpoint's Advanced Hunting export, PowerShell's `Export-Csv`).
    Csv,
    /// Classic WinEventLog raw text (`renderXml = false`): `LogName=…` headers, then
    /// `Message=` with `Label:<TAB>value` lines.
    ClassicText,
    /// UTF-16 text, transcoded to UTF-8 and then told again (like a compression layer).
    Utf16(Utf16),
    /// Nothing we read.
    Unknown,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::Evtx => "evtx",
            Format::Xml => "xml",
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
            Format::ClassicText => "classic",
            Format::Utf16(Utf16::Le) => "utf-16le",
            Format::Utf16(Utf16::Be) => "utf-16be",
            Format::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many bytes [`sniff`] wants to see (a tar header is 512 bytes; a CSV header row
/// can be long).
pub const SNIFF_LEN: usize = 8192;

/// Tells the format from the first bytes of a stream (`head` may be shorter than
/// [`SNIFF_LEN`] when the stream is).
pub(crate) fn sniff(head: &[u8]) -> Format {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Format::Zip;
    }
    if head.starts_with(b"ElfFile\0") {
        return Format::Evtx;
    }
    if head.get(257..262) == Some(b"ustar") {
        return Format::Tar;
    }
    if let Some(utf16) = utf16_of(head) {
        return Format::Utf16(utf16);
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let first = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Format::Unknown;
    };
    let rest = text.get(first..).unwrap_or_default();
    match rest.first() {
        Some(b'<') => Format::Xml,
        Some(b'{') => Format::JsonLines,
        _ if super::classic::looks_like_classic(rest) => Format::ClassicText,
        _ if looks_like_csv_header(skip_type_line(rest)) => Format::Csv,
        _ => Format::Unknown,
    }
}

/// The text after a first line `#TYPE <type name>`, which Windows PowerShell 5.1's
/// `Export-Csv` writes before the header unless told `-NoTypeInformation`; `text` as
/// it is otherwise.
pub(crate) fn skip_type_line(text: &[u8]) -> &[u8] {
    if !text.starts_with(b"#TYPE ") {
        return text;
    }
    match memchr::memchr(b'\n', text) {
        Some(i) => text.get(i + 1..).unwrap_or_default(),
        None => &[],
    }
}

/// A CSV header row that names at least one field the CIM mapping can read a process
/// from (`process_name`, `Image`, `CommandLine`, …).
fn looks_like_csv_header(text: &[u8]) -> bool {
    let line_end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    let line = text.get(..line_end).unwrap_or_default();
    if line.contains(&0) {
        return false;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line);
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {
            let plan = crate::cim::FieldPlan::from_names(record.iter().map(str::trim));
            plan.has_process_fields()
                || plan.source(crate::cim::CimField::Process) != crate::cim::Source::Absent
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_content() {
        assert_eq!(sniff(b"\x1f\x8b\x08\0"), Format::Gzip);
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Zip);
        assert_eq!(sniff(b"ElfFile\0\0\0"), Format::Evtx);
        assert_eq!(sniff(b"\xef\xbb\xbf\r\n <Event xmlns='x'>"), Format::Xml);
        assert_eq!(sniff(b"{\"EventID\":1}\n"), Format::JsonLines);
        assert_eq!(
            sniff(b"_time,dest,process_name,process\n1,2,3,4\n"),
            Format::Csv
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Format::Tar);
        assert_eq!(sniff(b"\xff\xfe<\0E\0"), Format::Utf16(Utf16::Le));
        assert_eq!(sniff(b"\0<\0E\0v\0e\0n\0t\0 "), Format::Utf16(Utf16::Be));
        assert_eq!(
            sniff(b"10/27/2020 08:00:14 PM\r\nLogName=Security\r\nEventCode=4688\r\n"),
            Format::ClassicText
        );
        assert_eq!(
            sniff(b"#TYPE System.Management.Automation.PSCustomObject\r\n\"Image\",\"CommandLine\"\r\n"),
            Format::Csv
        );
    }

    #[test]
    fn text_that_names_no_process_field_is_not_csv() {
        assert_eq!(sniff(b"# Real event data\n| a | b |\n"), Format::Unknown);
        assert_eq!(sniff(b"name,size\nx,1\n"), Format::Unknown);
        assert_eq!(sniff(b"   \n"), Format::Unknown);
    }
}
