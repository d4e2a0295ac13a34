//! Lines of a stream for the line-based readers (JSON lines, classic WinEventLog text):
//! one reused buffer, a bound on what one line may hold, and where each line is.

use std::io::{BufRead, BufReader, Read};

use super::{SourceScan, Stopped};

/// How a scan of one piece of a file ended (`xml::scan_piece`, `jsonl::scan_piece`):
/// the split of one large file across threads (issue 14) starts the next piece at
/// `next` and numbers its lines after `lines`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    /// The absolute byte offset of the first record start at or after the piece's end,
    /// as the reader saw it from a clean top-level state (between records); `None`:
    /// the input ended first, and this piece read everything after its start.
    pub(crate) next: Option<u64>,
    /// The lines the piece read (up to `next`): its problems carry line numbers counted
    /// from 1 at the piece's start (JSON lines; 0 for XML, whose problems have none).
    pub(crate) lines: u64,
}

/// One line read.
pub(crate) enum Line {
    /// The line is in [`Lines::text`] (with its `\n`, if it had one).
    Text,
    /// The line was longer than the bound: it was consumed, not kept. Its length.
    Overlong(usize),
}

/// Reads `reader` line by line into one reused buffer, counting lines and bytes.
pub(crate) struct Lines<R> {
    reader: BufReader<R>,
    text: Vec<u8>,
    max: usize,
    /// The number of the line last read, from 1.
    pub(crate) number: u64,
    /// The byte offset of the line last read.
    pub(crate) offset: u64,
    /// The byte offset after it.
    end: u64,
}

impl<R: Read> Lines<R> {
    /// Lines of at most `max` bytes (a longer one is reported as [`Line::Overlong`]).
    pub(crate) fn new(reader: R, max: usize) -> Self {
        Self::starting_at(reader, max, 0)
    }

    /// Lines of a stream whose first byte is byte `offset` of the file (one piece of a
    /// split file): offsets are absolute, line numbers count from 1 at `offset`.
    pub(crate) fn starting_at(reader: R, max: usize, offset: u64) -> Self {
        Lines {
            reader: BufReader::with_capacity(1 << 16, reader),
            text: Vec::with_capacity(1 << 12),
            max,
            number: 0,
            offset,
            end: offset,
        }
    }

    /// The byte offset after the line last read: where the next line starts.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Whether another line follows (the input has more bytes). A read error is
    /// left for [`Lines::next`] to meet and report.
    pub(crate) fn has_more(&mut self) -> bool {
        loop {
            match self.reader.fill_buf() {
                Ok(buf) => return !buf.is_empty(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
    }

    /// The line last read.
    pub(crate) fn text(&self) -> &[u8] {
        &self.text
    }

    /// Reads the next line; `None` at the end of the input. Counts its bytes as read.
    /// A read error is reported as a problem of the source and ends it.
    pub(crate) fn next(&mut self, scan: &mut SourceScan<'_>) -> Result<Option<Line>, Stopped> {
        self.text.clear();
        let (n, overlong) = match read_line_bounded(&mut self.reader, &mut self.text, self.max) {
            Ok((0, _)) => return Ok(None),
            Ok(got) => got,
            Err(e) => {
                scan.source_error(format!(
                    "read error after line {} (byte {}): {e}",
                    self.number, self.end
                ))?;
                return Ok(None);
            }
        };
        self.number += 1;
        self.offset = self.end;
        self.end += n as u64;
        scan.add_bytes(n as u64);
        Ok(Some(if overlong {
            Line::Overlong(n)
        } else {
            Line::Text
        }))
    }
}

/// Reads one line (with its `\n`) into `line`, keeping at most `max` bytes. Returns the
/// bytes consumed and whether the line was longer than that; the rest of an over-long
/// line is consumed without being kept.
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut overlong = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((consumed, overlong));
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !overlong {
            let room = max.saturating_sub(line.len());
            match buf.get(..take) {
                Some(part) if part.len() <= room => line.extend_from_slice(part),
                _ => {
                    overlong = true;
                    line.clear();
                }
            }
        }
        reader.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, overlong));
        }
    }
}
