//! Chunk framing: `chunked 1.0,<metadata bytes>,<body bytes>\n<metadata><body>`.
//!
//! Lengths count bytes. Reads are exact-length (never line by line inside a chunk), a
//! declared length above the limit is refused before anything is read or allocated, and
//! every error carries the byte offset in the stream where it was found.

use std::fmt;
use std::io::{self, BufRead, Read, Write};

/// Default limit on one chunk's metadata plus body, in bytes (1 GiB). splunkd sends at
/// most `maxresultrows` (50,000) rows per chunk; 50,000 wide raw events of 20 KB each
/// still fit. The limit exists to refuse absurd declarations, not to bound real data.
pub const DEFAULT_MAX_CHUNK_BYTES: u64 = 1 << 30;

/// The longest header line accepted (the SDK regex allows any amount of whitespace;
/// a real header is under 40 bytes). Keeps a stream without newlines from growing a
/// buffer without bound.
pub const MAX_HEADER_LINE: usize = 1024;

/// Where a chunk and its two parts start in the stream, and their lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Offset of the `chunked 1.0,…` line.
    pub offset: u64,
    /// Offset of the first metadata byte.
    pub metadata_offset: u64,
    /// Offset of the first body byte.
    pub body_offset: u64,
    pub metadata_len: usize,
    pub body_len: usize,
}

/// The part of a chunk a truncation was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Metadata,
    Body,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Metadata => "metadata",
            Part::Body => "body",
        })
    }
}

/// A framing error. Offsets are byte offsets from the start of the stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(
        "at byte {offset}: expected a chunk header `chunked 1.0,<metadata length>,<body length>` \
         ending in a newline, found {found}"
    )]
    BadHeader { offset: u64, found: String },
    #[error(
        "at byte {offset}: expected a chunk header ending in a newline within {MAX_HEADER_LINE} \
         bytes, found {found}"
    )]
    HeaderTooLong { offset: u64, found: String },
    #[error(
        "at byte {offset}: the stream ended inside a chunk header (expected \
         `chunked 1.0,<metadata length>,<body length>` and a newline), found {found}"
    )]
    TruncatedHeader { offset: u64, found: String },
    #[error(
        "at byte {offset}: the chunk header declares {metadata} metadata bytes and {body} body \
         bytes, above the limit of {limit} bytes per chunk"
    )]
    TooLarge {
        offset: u64,
        metadata: String,
        body: String,
        limit: u64,
    },
    #[error(
        "at byte {offset}: the stream ended after {got} of the {declared} {part} bytes declared \
         by the chunk header at byte {header_offset}"
    )]
    Truncated {
        offset: u64,
        header_offset: u64,
        part: Part,
        declared: usize,
        got: usize,
    },
    #[error("at byte {offset}: cannot read the input: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
}

impl FrameError {
    /// The stream offset the error was found at.
    pub fn offset(&self) -> u64 {
        match *self {
            FrameError::BadHeader { offset, .. }
            | FrameError::HeaderTooLong { offset, .. }
            | FrameError::TruncatedHeader { offset, .. }
            | FrameError::TooLarge { offset, .. }
            | FrameError::Truncated { offset, .. }
            | FrameError::Io { offset, .. } => offset,
        }
    }
}

/// Reads chunks from a byte stream into caller-owned buffers.
///
/// ```
/// use schtasksremote::protocol::framing::ChunkReader;
/// let stream = b"chunked 1.0,2,3\n{}a\nbchunked 1.0,2,0\n{}";
/// let mut reader = ChunkReader::new(&stream[..]);
/// let (mut meta, mut body) = (Vec::new(), Vec::new());
/// let first = reader.read_chunk(&mut meta, &mut body).unwrap().unwrap();
/// assert_eq!((&meta[..], &body[..], first.body_offset), (&b"{}"[..], &b"a\nb"[..], 18));
/// assert!(reader.read_chunk(&mut meta, &mut body).unwrap().is_some());
/// assert!(body.is_empty());
/// assert!(reader.read_chunk(&mut meta, &mut body).unwrap().is_none()); // clean EOF
/// ```
pub struct ChunkReader<R> {
    inner: R,
    offset: u64,
    max_chunk_bytes: u64,
    line: Vec<u8>,
}

impl<R: BufRead> ChunkReader<R> {
    pub fn new(inner: R) -> ChunkReader<R> {
        ChunkReader {
            inner,
            offset: 0,
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
            line: Vec::with_capacity(64),
        }
    }

    /// Sets the limit on one chunk's metadata plus body length.
    pub fn set_max_chunk_bytes(&mut self, limit: u64) {
        self.max_chunk_bytes = limit;
    }

    /// Bytes consumed so far: the offset of the next chunk.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next chunk into `metadata` and `body` (both cleared first). `Ok(None)` at
    /// a clean end of the stream: EOF where a header would start.
    ///
    /// Lines holding only whitespace between chunks are skipped: splunkd never sends
    /// them, but SDK-era peers and test harnesses wrote a `\n` after a chunk, and the SDK's
    /// own test reader skips them.
    pub fn read_chunk(
        &mut self,
        metadata: &mut Vec<u8>,
        body: &mut Vec<u8>,
    ) -> Result<Option<ChunkHeader>, FrameError> {
        metadata.clear();
        body.clear();
        let (offset, m, b) = loop {
            let start = self.offset;
            match self.read_line()? {
                Line::Eof => return Ok(None),
                Line::TooLong => {
                    return Err(FrameError::HeaderTooLong {
                        offset: start,
                        found: excerpt(&self.line),
                    })
                }
                Line::Unterminated => {
                    return Err(FrameError::TruncatedHeader {
                        offset: start,
                        found: excerpt(&self.line),
                    })
                }
                Line::Complete => {}
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_header(&self.line) {
                Some((m, b)) => break (start, m, b),
                None => {
                    return Err(FrameError::BadHeader {
                        offset: start,
                        found: excerpt(&self.line),
                    })
                }
            }
        };
        let too_large = || FrameError::TooLarge {
            offset,
            metadata: digits_excerpt(m),
            body: digits_excerpt(b),
            limit: self.max_chunk_bytes,
        };
        let (Some(m_len), Some(b_len)) = (decimal(m), decimal(b)) else {
            return Err(too_large());
        };
        match m_len.checked_add(b_len) {
            Some(total) if total <= self.max_chunk_bytes => {}
            _ => return Err(too_large()),
        }
        let (Ok(metadata_len), Ok(body_len)) = (usize::try_from(m_len), usize::try_from(b_len))
        else {
            return Err(too_large());
        };
        let header = ChunkHeader {
            offset,
            metadata_offset: self.offset,
            body_offset: self.offset + m_len,
            metadata_len,
            body_len,
        };
        self.read_exact_into(metadata, metadata_len, offset, Part::Metadata)?;
        self.read_exact_into(body, body_len, offset, Part::Body)?;
        Ok(Some(header))
    }

    /// Appends exactly `len` bytes to `buf`. The buffer grows with the bytes that
    /// actually arrive, never by the declared length up front.
    fn read_exact_into(
        &mut self,
        buf: &mut Vec<u8>,
        len: usize,
        header_offset: u64,
        part: Part,
    ) -> Result<(), FrameError> {
        let start = self.offset;
        let got = match (&mut self.inner).take(len as u64).read_to_end(buf) {
            Ok(n) => n,
            Err(source) => {
                return Err(FrameError::Io {
                    offset: start,
                    source,
                })
            }
        };
        self.offset += got as u64;
        if got < len {
            return Err(FrameError::Truncated {
                offset: self.offset,
                header_offset,
                part,
                declared: len,
                got,
            });
        }
        Ok(())
    }

    /// Reads one line (up to and including `\n`) into `self.line`, at most
    /// `MAX_HEADER_LINE` bytes.
    fn read_line(&mut self) -> Result<Line, FrameError> {
        self.line.clear();
        loop {
            let available = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(FrameError::Io {
                        offset: self.offset,
                        source,
                    })
                }
            };
            if available.is_empty() {
                return Ok(if self.line.is_empty() {
                    Line::Eof
                } else {
                    Line::Unterminated
                });
            }
            let room = MAX_HEADER_LINE - self.line.len();
            let window = &available[..available.len().min(room)];
            let (take, done) = match memchr::memchr(b'\n', window) {
                Some(i) => (i + 1, true),
                None => (window.len(), false),
            };
            self.line.extend_from_slice(&window[..take]);
            self.inner.consume(take);
            self.offset += take as u64;
            if done {
                return Ok(Line::Complete);
            }
            if self.line.len() >= MAX_HEADER_LINE {
                return Ok(Line::TooLong);
            }
        }
    }
}

enum Line {
    Eof,
    Complete,
    Unterminated,
    TooLong,
}

/// Python's `\s` on bytes: space, `\t`, `\n`, `\r`, `\f`, `\v`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b)
}

/// Matches one header line (with its `\n`) the way the SDK's
/// `chunked\s+1.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n` does, and returns the two digit runs.
/// As in the regex, the `.` of `1.0` is any byte but `\n`.
fn parse_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = line.strip_prefix(b"chunked")?;
    let spaces = rest.iter().take_while(|&&b| is_space(b)).count();
    if spaces == 0 {
        return None;
    }
    let rest = &rest[spaces..];
    let rest = match rest {
        [b'1', dot, b'0', rest @ ..] if *dot != b'\n' => rest,
        _ => return None,
    };
    let rest = skip_spaces(rest).strip_prefix(b",")?;
    let (m, rest) = digits(skip_spaces(rest))?;
    let rest = skip_spaces(rest).strip_prefix(b",")?;
    let (b, rest) = digits(skip_spaces(rest))?;
    // `\s*\n` at the end: the line ends in `\n` and whitespace may precede it.
    match rest.split_last() {
        Some((b'\n', before)) if before.iter().all(|&c| is_space(c)) => Some((m, b)),
        _ => None,
    }
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_space(b) && b != b'\n').count();
    &s[n..]
}

fn digits(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    (n > 0).then_some(s.split_at(n))
}

/// The value of a run of ASCII digits; `None` when it does not fit in a u64.
fn decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn digits_excerpt(digits: &[u8]) -> String {
    if digits.len() <= 24 {
        String::from_utf8_lossy(digits).into_owned()
    } else {
        format!("a {}-digit number", digits.len())
    }
}

/// A short, printable rendering of bytes for error messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let shown = &bytes[..bytes.len().min(MAX)];
    let mut s = String::with_capacity(shown.len() + 8);
    s.push('"');
    s.extend(shown.escape_ascii().map(char::from));
    s.push('"');
    if bytes.len() > MAX {
        s.push_str(&format!(" (first {MAX} of {} bytes)", bytes.len()));
    }
    s
}

/// Writes one chunk: the header with byte lengths, the metadata, the body, nothing
/// else; then flushes, because splunkd waits for the whole reply.
///
/// ```
/// let mut out = Vec::new();
/// schtasksremote::protocol::framing::write_chunk(&mut out, br#"{"finished":true}"#, "测试\n".as_bytes()).unwrap();
/// assert_eq!(out, "chunked 1.0,17,7\n{\"finished\":true}测试\n".as_bytes());
/// ```
pub fn write_chunk<W: Write + ?Sized>(out: &mut W, metadata: &[u8], body: &[u8]) -> io::Result<()> {
    let mut head = Vec::with_capacity(40 + metadata.len());
    writeln!(head, "chunked 1.0,{},{}", metadata.len(), body.len())?;
    head.extend_from_slice(metadata);
    // One write for a small reply; two for a large body, which is not copied again.
    if body.len() <= 16 * 1024 {
        head.extend_from_slice(body);
        out.write_all(&head)?;
    } else {
        out.write_all(&head)?;
        out.write_all(body)?;
    }
    out.flush()
}

/// Writes one chunk whose body `write_body` writes, `body_len` bytes of it, without
/// the body being held in one buffer first; then flushes. A body of another length is
/// an `InvalidData` error (the stream is then broken: the caller must stop).
///
/// ```
/// let mut out = Vec::new();
/// schtasksremote::protocol::framing::write_chunk_with(&mut out, b"{}", 4, |w| {
///     w.write_all(b"a,")?;
///     w.write_all(b"b\n")
/// })
/// .unwrap();
/// assert_eq!(out, b"chunked 1.0,2,4\n{}a,b\n");
/// ```
pub fn write_chunk_with<W: Write + ?Sized>(
    out: &mut W,
    metadata: &[u8],
    body_len: u64,
    write_body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    writeln!(out, "chunked 1.0,{},{body_len}", metadata.len())?;
    out.write_all(metadata)?;
    let mut counted = Counted {
        inner: out,
        count: 0,
    };
    write_body(&mut counted)?;
    if counted.count != body_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "internal error: a reply body of {} bytes was declared as {body_len}",
                counted.count
            ),
        ));
    }
    out.flush()
}

/// Counts what passes through.
struct Counted<'w, W: ?Sized> {
    inner: &'w mut W,
    count: u64,
}

impl<W: Write + ?Sized> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Chunks = Vec<(Vec<u8>, Vec<u8>)>;

    fn read_all(stream: &[u8]) -> Result<Chunks, FrameError> {
        let mut reader = ChunkReader::new(stream);
        let mut chunks = Vec::new();
        let (mut m, mut b) = (Vec::new(), Vec::new());
        while reader.read_chunk(&mut m, &mut b)?.is_some() {
            chunks.push((m.clone(), b.clone()));
        }
        Ok(chunks)
    }

    #[test]
    fn header_accepts_what_the_sdk_regex_accepts() {
        for line in [
            &b"chunked 1.0,12,34\n"[..],
            b"chunked  1.0 , 12 ,34 \r\n",
            b"chunked\t1.0,12,\t34\n",
            b"chunked 1x0,12,34\n",
        ] {
            assert_eq!(
                parse_header(line),
                Some((&b"12"[..], &b"34"[..])),
                "{line:?}"
            );
        }
    }

    #[test]
    fn header_rejects_what_the_sdk_regex_rejects() {
        for line in [
            &b"chunked1.0,12,34\n"[..],
            b"chunked 1.0,12\n",
            b"chunked 1.0,-1,34\n",
            b"chunked 1.0,12,34 x\n",
            b"chunked 2.0,12,34\n",
            b" chunked 1.0,12,34\n",
            b"CHUNKED 1.0,1,2\n",
        ] {
            assert_eq!(parse_header(line), None, "{line:?}");
        }
    }

    #[test]
    fn lengths_are_bytes_not_characters() {
        let body = "测试\n".as_bytes();
        let stream = [b"chunked 1.0,2,7\n{}".as_slice(), body].concat();
        let chunks = read_all(&stream).unwrap();
        assert_eq!(chunks, vec![(b"{}".to_vec(), body.to_vec())]);
    }

    #[test]
    fn blank_lines_between_chunks_are_skipped() {
        let chunks = read_all(b"\nchunked 1.0,2,0\n{}\r\n\n").unwrap();
        assert_eq!(chunks.len(), 1);
    }

    #[test]
    fn declared_length_above_the_limit_is_refused_before_reading() {
        let mut reader = ChunkReader::new(&b"chunked 1.0,2,101\n{}"[..]);
        reader.set_max_chunk_bytes(102);
        let (mut m, mut b) = (Vec::new(), Vec::new());
        let err = reader.read_chunk(&mut m, &mut b).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    offset: 0,
                    limit: 102,
                    ..
                }
            ),
            "{err}"
        );
        assert!(m.is_empty() && b.capacity() == 0);
        let huge = b"chunked 1.0,2,99999999999999999999999999\n";
        let err = read_all(huge).unwrap_err();
        assert!(err.to_string().contains("above the limit"), "{err}");
    }

    #[test]
    fn truncated_body_names_both_offsets() {
        let err = read_all(b"chunked 1.0,2,0\n{}chunked 1.0,2,10\n{}abc").unwrap_err();
        let FrameError::Truncated {
            offset,
            header_offset,
            part,
            declared,
            got,
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(
            (offset, header_offset, part, declared, got),
            (40, 18, Part::Body, 10, 3)
        );
    }

    #[test]
    fn truncated_and_bad_headers_are_reported_at_their_offset() {
        let err = read_all(b"chunked 1.0,2,0\n{}chunked 1.0,").unwrap_err();
        assert!(
            matches!(err, FrameError::TruncatedHeader { offset: 18, .. }),
            "{err}"
        );
        let err = read_all(b"chunked 1.0,2,0\n{}hello\n").unwrap_err();
        assert!(
            matches!(err, FrameError::BadHeader { offset: 18, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("\"hello\\n\""), "{err}");
        let long = vec![b'x'; 5000];
        let err = read_all(&long).unwrap_err();
        assert!(
            matches!(err, FrameError::HeaderTooLong { offset: 0, .. }),
            "{err}"
        );
    }
}
