//! Lines of a stream for the line-based readers (JSON lines, classic WinEventLog text):
//! one reused buffer, a bound on what one line may hold, and where each line is.

use std::io::{BufRead, BufReader, Read};

use super::{SourceScan, Stopped};

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
        Lines {
            reader: BufReader::with_capacity(1 << 16, reader),
            text: Vec::with_capacity(1 << 12),
            max,
            number: 0,
            offset: 0,
            end: 0,
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
