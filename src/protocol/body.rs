//! The CSV body: a byte-level reader that yields each record with its raw bytes, the
//! CSV field writer, and the `__mv_` multivalue encoding.
//!
//! Records are parsed as bytes with the `csv` crate (quoted newlines, doubled quotes,
//! invalid UTF-8 are all fine). Each record also comes with the exact span of the body
//! it was read from, so a streaming command can pass an input row on by copying its bytes
//! instead of re-encoding it.

use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;

use csv::ByteRecord;

/// A body that cannot be read as CSV. Offsets are stream offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error(
        "at byte {offset}: expected {expected} CSV fields (as in the header row), found {found} \
         in row {row}"
    )]
    FieldCount {
        offset: u64,
        row: u64,
        expected: usize,
        found: usize,
    },
    #[error("at byte {offset}: cannot read the CSV body: {message}")]
    Csv { offset: u64, message: String },
}

impl BodyError {
    pub fn offset(&self) -> u64 {
        match *self {
            BodyError::FieldCount { offset, .. } | BodyError::Csv { offset, .. } => offset,
        }
    }
}

/// Reads one chunk's CSV body: the header row, then data rows with their raw spans.
///
/// ```
/// use csv::ByteRecord;
/// use schtasksremote::protocol::body::BodyReader;
/// let body = b"a,\"b\"\r\n1,\"x\ny\"\r\n2,z";
/// let (mut header, mut row) = (ByteRecord::new(), ByteRecord::new());
/// let mut rdr = BodyReader::new(body, 0, &mut header).unwrap().unwrap();
/// assert_eq!(&body[rdr.header_span()], b"a,\"b\"");
/// let span = rdr.next_row(&mut row).unwrap().unwrap();
/// assert_eq!((&body[span], &row[1]), (&b"1,\"x\ny\""[..], &b"x\ny"[..]));
/// let span = rdr.next_row(&mut row).unwrap().unwrap();
/// assert_eq!(&body[span], b"2,z"); // no terminator after the last row
/// assert!(rdr.next_row(&mut row).unwrap().is_none());
/// ```
pub struct BodyReader<'b> {
    body: &'b [u8],
    base_offset: u64,
    csv: csv::Reader<&'b [u8]>,
    header_span: Range<usize>,
    width: usize,
    rows: u64,
    raw_exact: bool,
}

impl<'b> BodyReader<'b> {
    /// Reads the header row into `header`. `Ok(None)` when the body holds no record at
    /// all (empty, or only line ends). `base_offset` is the body's offset in the stream.
    pub fn new(
        body: &'b [u8],
        base_offset: u64,
        header: &mut ByteRecord,
    ) -> Result<Option<BodyReader<'b>>, BodyError> {
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            // Row widths are checked here, to report them with our own offsets.
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(body);
        let mut reader = BodyReader {
            body,
            base_offset,
            csv,
            header_span: 0..0,
            width: 0,
            rows: 0,
            raw_exact: true,
        };
        match reader.read(header)? {
            Some(span) => {
                reader.header_span = span;
                reader.width = header.len();
                Ok(Some(reader))
            }
            None => Ok(None),
        }
    }

    /// The header row's bytes in the body, without its line end.
    pub fn header_span(&self) -> Range<usize> {
        self.header_span.clone()
    }

    /// Reads the next data row into `row` and returns its bytes' span in the body,
    /// without the line end. Every row must have as many fields as the header.
    pub fn next_row(&mut self, row: &mut ByteRecord) -> Result<Option<Range<usize>>, BodyError> {
        let Some(span) = self.read(row)? else {
            return Ok(None);
        };
        self.rows += 1;
        if row.len() != self.width {
            return Err(BodyError::FieldCount {
                offset: self.base_offset + span.start as u64,
                row: self.rows,
                expected: self.width,
                found: row.len(),
            });
        }
        Ok(Some(span))
    }

    /// Data rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn read(&mut self, record: &mut ByteRecord) -> Result<Option<Range<usize>>, BodyError> {
        let before = self.csv.position().byte();
        match self.csv.read_byte_record(record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                let at = e.position().map_or(before, |p| p.byte());
                return Err(BodyError::Csv {
                    offset: self.base_offset + at,
                    message: e.to_string(),
                });
            }
        }
        let after = self.csv.position().byte();
        let span = trim_line_ends(self.body, before, after);
        // A record can only be cut inside quotes by the end of the body; only there
        // may its bytes fail to read back as the record.
        self.raw_exact = usize::try_from(after).map_or(true, |a| a < self.body.len())
            || reads_back(self.body.get(span.clone()).unwrap_or_default(), record);
        Ok(Some(span))
    }

    /// Whether the span of the record last read, followed by `,` or a line end, reads
    /// back as that record, so it may be copied instead of re-encoded. False only for a
    /// last record that the end of the body cut inside quotes (`a,"b` with no closing
    /// quote): its bytes followed by `,x` would read as one field.
    pub fn raw_is_exact(&self) -> bool {
        self.raw_exact
    }
}

/// Whether `raw`, followed by `,` and a line end, reads as `record` plus one empty field.
fn reads_back(raw: &[u8], record: &ByteRecord) -> bool {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(raw.chain(&b",\n"[..]));
    let mut again = ByteRecord::new();
    matches!(reader.read_byte_record(&mut again), Ok(true))
        && again.len() == record.len() + 1
        && again.iter().zip(record.iter()).all(|(a, b)| a == b)
        && again.get(record.len()) == Some(b"".as_slice())
        && matches!(reader.read_byte_record(&mut again), Ok(false))
}

/// The span between two reader positions holds blank lines skipped before the record
/// and the record's line end. No record starts or ends with `\r` or `\n` outside quotes
/// (a line end would end it; an empty line is skipped), so trimming them is exact.
fn trim_line_ends(body: &[u8], start: u64, end: u64) -> Range<usize> {
    let clamp = |p: u64| usize::try_from(p).unwrap_or(usize::MAX).min(body.len());
    let (mut start, mut end) = (clamp(start), clamp(end));
    while start < end && matches!(body.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    while end > start && matches!(body.get(end - 1), Some(b'\r' | b'\n')) {
        end -= 1;
    }
    start..end
}

/// Appends one CSV field, quoted only when it must be (it holds `,`, `"`, `\r` or `\n`),
/// with inner quotes doubled.
///
/// ```
/// let mut out = Vec::new();
/// schtasksremote::protocol::body::write_field(&mut out, b"a\"b,c");
/// out.push(b',');
/// schtasksremote::protocol::body::write_field(&mut out, b"plain");
/// assert_eq!(out, b"\"a\"\"b,c\",plain");
/// ```
pub fn write_field(out: &mut Vec<u8>, value: &[u8]) {
    let needs_quotes = value
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if !needs_quotes {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    for part in value.split_inclusive(|&b| b == b'"') {
        out.extend_from_slice(part);
        if part.last() == Some(&b'"') {
            out.push(b'"');
        }
    }
    out.push(b'"');
}

/// Appends the `__mv_` encoding of `values`: `$v1$;$v2$`, with `$` doubled inside a
/// value. The caller quotes the result as a CSV field.
///
/// ```
/// let mut out = Vec::new();
/// schtasksremote::protocol::body::mv_encode(&mut out, ["a", "b$c", "d"]);
/// assert_eq!(out, b"$a$;$b$$c$;$d$");
/// ```
pub fn mv_encode<'v, I>(out: &mut Vec<u8>, values: I)
where
    I: IntoIterator<Item = &'v str>,
{
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.push(b'$');
        for part in value.as_bytes().split_inclusive(|&b| b == b'$') {
            out.extend_from_slice(part);
            if part.last() == Some(&b'$') {
                out.push(b'$');
            }
        }
        out.push(b'$');
    }
}

/// Decodes an `__mv_` value into `values` (cleared first). Returns false, leaving
/// `values` empty, when `encoded` is not a well-formed `$v1$;$v2$` list; callers then
/// keep the plain field, as splunkd's own value is always well formed.
///
/// ```
/// use std::borrow::Cow;
/// let mut values: Vec<Cow<str>> = Vec::new();
/// assert!(schtasksremote::protocol::body::mv_decode("$a$;$b$$c$;$$", &mut values));
/// assert_eq!(values, ["a", "b$c", ""]);
/// assert!(!schtasksremote::protocol::body::mv_decode("$a$;b", &mut values));
/// ```
pub fn mv_decode<'s>(encoded: &'s str, values: &mut Vec<Cow<'s, str>>) -> bool {
    values.clear();
    let bytes = encoded.as_bytes();
    let mut i = 0;
    loop {
        if bytes.get(i) != Some(&b'$') {
            values.clear();
            return false;
        }
        let start = i + 1;
        let mut j = start;
        let mut doubled = false;
        // Find the closing `$`: a `$` not followed by another `$`.
        let end = loop {
            match bytes.get(j) {
                Some(b'$') if bytes.get(j + 1) == Some(&b'$') => {
                    doubled = true;
                    j += 2;
                }
                Some(b'$') => break j,
                Some(_) => j += 1,
                None => {
                    values.clear();
                    return false;
                }
            }
        };
        let item = &encoded[start..end];
        values.push(if doubled {
            Cow::Owned(item.replace("$$", "$"))
        } else {
            Cow::Borrowed(item)
        });
        match bytes.get(end + 1) {
            None => return true,
            Some(b';') => i = end + 2,
            Some(_) => {
                values.clear();
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's fields and raw span.
    type Rows = Vec<(Vec<Vec<u8>>, Vec<u8>)>;

    fn rows(body: &[u8]) -> Result<Rows, BodyError> {
        let (mut header, mut row) = (ByteRecord::new(), ByteRecord::new());
        let Some(mut rdr) = BodyReader::new(body, 100, &mut header)? else {
            return Ok(Vec::new());
        };
        let mut out = vec![(
            header.iter().map(<[u8]>::to_vec).collect(),
            body[rdr.header_span()].to_vec(),
        )];
        while let Some(span) = rdr.next_row(&mut row)? {
            out.push((
                row.iter().map(<[u8]>::to_vec).collect(),
                body[span].to_vec(),
            ));
        }
        Ok(out)
    }

    #[test]
    fn empty_and_blank_bodies_have_no_header() {
        assert!(rows(b"").unwrap().is_empty());
        assert!(rows(b"\n\r\n").unwrap().is_empty());
    }

    #[test]
    fn raw_spans_exclude_line_ends_and_blank_lines() {
        let got = rows(b"a,b\r\n\r\n1,\"2\r\n\"\r\n\n3,4").unwrap();
        let spans: Vec<&[u8]> = got.iter().map(|(_, s)| &s[..]).collect();
        assert_eq!(spans, [&b"a,b"[..], b"1,\"2\r\n\"", b"3,4"]);
        assert_eq!(got[1].0, [b"1".to_vec(), b"2\r\n".to_vec()]);
    }

    #[test]
    fn invalid_utf8_is_kept_as_bytes() {
        let got = rows(b"a\n\xff\xfe\n").unwrap();
        assert_eq!(got[1].0, [vec![0xff, 0xfe]]);
    }

    #[test]
    fn a_row_of_the_wrong_width_is_an_error_with_its_offset() {
        let err = rows(b"a,b\n1,2\n3\n").unwrap_err();
        assert_eq!(
            err,
            BodyError::FieldCount {
                offset: 108,
                row: 2,
                expected: 2,
                found: 1
            }
        );
    }

    #[test]
    fn write_field_round_trips_through_the_csv_crate() {
        let values: [&[u8]; 6] = [b"", b"plain", b"a,b", b"q\"q", b"line\nbreak\r", b"\xff$"];
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_field(&mut out, v);
        }
        out.push(b'\n');
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&out[..]);
        let rec = rdr.byte_records().next().unwrap().unwrap();
        assert_eq!(rec.iter().collect::<Vec<_>>(), values);
    }

    #[test]
    fn mv_round_trip() {
        let values = ["", "$", "a$$b", ";$;"];
        let mut enc = Vec::new();
        mv_encode(&mut enc, values);
        let enc = String::from_utf8(enc).unwrap();
        let mut back = Vec::new();
        assert!(mv_decode(&enc, &mut back), "{enc}");
        assert_eq!(back, values);
    }

    #[test]
    fn malformed_mv_values_are_refused() {
        let mut v = Vec::new();
        for bad in ["", "a", "$a", "$a$$", "$a$;", "$a$b$"] {
            assert!(!mv_decode(bad, &mut v), "{bad}");
            assert!(v.is_empty());
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn field() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..12),
                proptest::collection::vec(
                    prop_oneof![
                        Just(b'"'),
                        Just(b','),
                        Just(b'\n'),
                        Just(b'\r'),
                        Just(b'$'),
                        Just(b'a')
                    ],
                    0..8
                ),
            ]
        }

        proptest! {
            /// Whatever the fields, quoting and line ends, each record's raw span parses
            /// back to the same fields: copying the span is as good as re-encoding.
            #[test]
            fn raw_spans_reparse_to_the_same_records(
                rows in proptest::collection::vec(proptest::collection::vec(field(), 3), 1..20),
                crlf in any::<bool>(),
                quote_all in any::<bool>(),
                final_terminator in any::<bool>(),
            ) {
                let mut w = csv::WriterBuilder::new()
                    .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                    .quote_style(if quote_all { csv::QuoteStyle::Always } else { csv::QuoteStyle::Necessary })
                    .from_writer(Vec::new());
                w.write_record(["h1", "h2", "h3"]).unwrap();
                for r in &rows {
                    w.write_record(r).unwrap();
                }
                let mut body = w.into_inner().unwrap();
                if !final_terminator {
                    while matches!(body.last(), Some(b'\n' | b'\r')) {
                        body.pop();
                    }
                }
                let (mut header, mut row) = (ByteRecord::new(), ByteRecord::new());
                let mut rdr = BodyReader::new(&body, 0, &mut header).unwrap().unwrap();
                let mut seen = 0;
                while let Some(span) = rdr.next_row(&mut row).unwrap() {
                    let raw = &body[span];
                    let mut again = csv::ReaderBuilder::new().has_headers(false).from_reader(raw);
                    let mut rec = ByteRecord::new();
                    prop_assert!(again.read_byte_record(&mut rec).unwrap());
                    prop_assert_eq!(&rec, &row);
                    prop_assert_eq!(row.iter().collect::<Vec<_>>(), rows[seen].iter().map(Vec::as_slice).collect::<Vec<_>>());
                    seen += 1;
                }
                prop_assert_eq!(seen, rows.len());
            }

            #[test]
            fn mv_encoding_round_trips(values in proptest::collection::vec(".{0,6}", 1..6)) {
                let mut enc = Vec::new();
                mv_encode(&mut enc, values.iter().map(String::as_str));
                let enc = String::from_utf8(enc).unwrap();
                let mut back = Vec::new();
                prop_assert!(mv_decode(&enc, &mut back));
                prop_assert_eq!(back, values);
            }
        }
    }
}
