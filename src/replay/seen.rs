//! What a refused input was seen to be, for the "not event data" message: a user who
//! fed the wrong file (or the right file in a form we do not read) learns what we saw,
//! not only what we expected (issue 10, kind C).

use std::fmt::Write as _;

/// How much of the first line a message quotes.
const QUOTE_CHARS: usize = 60;
/// How many CSV column names a message lists.
const COLUMNS_LISTED: usize = 8;

/// Describes the first bytes of an input that no reader takes, in a few words:
/// `empty`, `binary data (first bytes 7f 45 4c 46)`, `a JSON array (not one JSON object
/// per line)`, `CSV whose header names no process field (columns: name, size)`,
/// `text starting with "…"`. `encoding` (for example `UTF-16LE`) is named first when the
/// text was transcoded.
pub(crate) fn describe(head: &[u8], encoding: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(enc) = encoding {
        let _ = write!(out, "{enc} text, ");
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if text.iter().all(u8::is_ascii_whitespace) {
        out.push_str(if text.is_empty() {
            "empty"
        } else {
            "only white space"
        });
        return out;
    }
    let binary = text
        .iter()
        .filter(|&&b| b == 0 || (b < 0x20 && !b.is_ascii_whitespace()))
        .count();
    if binary * 20 > text.len() {
        out.push_str("binary data (first bytes");
        for b in text.iter().take(8) {
            let _ = write!(out, " {b:02x}");
        }
        out.push(')');
        return out;
    }
    let body = String::from_utf8_lossy(text);
    let first = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    if first.starts_with('[') {
        out.push_str("a JSON array (not one JSON object per line)");
    } else if first.contains(',') && !first.contains(' ') || first.matches(',').count() >= 2 {
        let columns: Vec<&str> = first
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let _ = write!(
            out,
            "CSV whose header names no process field (columns: {}{})",
            columns
                .iter()
                .take(COLUMNS_LISTED)
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
            if columns.len() > COLUMNS_LISTED {
                ", …"
            } else {
                ""
            }
        );
    } else {
        let quoted: String = first.chars().take(QUOTE_CHARS).collect();
        let more = if first.chars().nth(QUOTE_CHARS).is_some() {
            "…"
        } else {
            ""
        };
        let _ = write!(out, "text starting with {:?}", format!("{quoted}{more}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_refused_input_is_named() {
        assert_eq!(describe(b"", None), "empty");
        assert_eq!(describe(b" \r\n", None), "only white space");
        assert_eq!(
            describe(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", None),
            "binary data (first bytes 7f 45 4c 46 02 01 01 00)"
        );
        assert_eq!(
            describe(b"[{\"a\":1}]", None),
            "a JSON array (not one JSON object per line)"
        );
        assert_eq!(
            describe(b"name,size\nx,1\n", None),
            "CSV whose header names no process field (columns: name, size)"
        );
        assert_eq!(
            describe(b"# Real event data\n| a | b |\n", Some("UTF-16LE")),
            "UTF-16LE text, text starting with \"# Real event data\""
        );
    }

    #[test]
    fn long_lines_and_headers_are_cut() {
        let long = "x".repeat(200);
        assert!(describe(long.as_bytes(), None).ends_with("…\""));
        let header = (0..20)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(describe(header.as_bytes(), None).ends_with("c7, …)"));
    }
}
