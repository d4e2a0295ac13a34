//! Lines of a stream for the line-based readers (JSON lines, classic WinEventLog text):
//! one reused buffer, a bound on what one line may hold, and where each line is.

use std::io::Read;
use std::ops::Range;

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

/// How many bytes [`Lines`] asks its reader for at a time: a few hundred lines of a
/// typical event log, few enough to stay in the CPU's second-level cache while the
/// lines are read (issue 14: measured against 64 KiB and 1 MiB, see `jsonl`).
const CHUNK: usize = 1 << 17;

/// Reads `reader` line by line into one reused buffer, counting lines and bytes. A
/// line is handed out where it was read (no copy); only a line that spans two reads
/// is moved, to the buffer's start.
pub(crate) struct Lines<R> {
    reader: R,
    /// Read bytes; those not handed out yet are `buf[start..filled]`.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// The line last read, in `buf`.
    line: Range<usize>,
    /// The reader said it has no more bytes.
    eof: bool,
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
            reader,
            buf: Vec::new(),
            start: 0,
            filled: 0,
            line: 0..0,
            eof: false,
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
        while self.start == self.filled && !self.eof {
            match self.fill() {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        self.start < self.filled
    }

    /// The line last read (with its `\n`, if it had one).
    pub(crate) fn text(&self) -> &[u8] {
        self.buf.get(self.line.clone()).unwrap_or_default()
    }

    /// Reads once into the room after `filled`, first moving the unread bytes to the
    /// buffer's start and growing it when the room is less than [`CHUNK`].
    fn fill(&mut self) -> std::io::Result<()> {
        if self.buf.len() - self.filled < CHUNK {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
            if self.buf.len() - self.filled < CHUNK {
                self.buf.resize(self.filled + CHUNK, 0);
            }
        }
        let room = self.buf.get_mut(self.filled..).unwrap_or_default();
        match self.reader.read(room)? {
            0 => self.eof = true,
            n => self.filled += n,
        }
        Ok(())
    }

    /// Reads the next line; `None` at the end of the input. Counts its bytes as read.
    /// A read error is reported as a problem of the source and ends it.
    pub(crate) fn next(&mut self, scan: &mut SourceScan<'_>) -> Result<Option<Line>, Stopped> {
        self.line = 0..0;
        // Bytes of an over-long line already dropped, and where the search for its end
        // goes on.
        let mut dropped = 0;
        let mut searched = self.start;
        loop {
            let unread = self.buf.get(searched..self.filled).unwrap_or_default();
            if let Some(i) = memchr::memchr(b'\n', unread) {
                return Ok(Some(self.take(searched + i + 1, dropped, scan)));
            }
            searched = self.filled;
            if self.eof {
                if self.start == self.filled && dropped == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.take(self.filled, dropped, scan)));
            }
            if dropped + (self.filled - self.start) > self.max {
                // Too long to keep: count it, hold none of it.
                dropped += self.filled - self.start;
                self.start = self.filled;
            }
            let held = searched - self.start;
            let fill = self.fill();
            searched = self.start + held;
            match fill {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    scan.source_error(format!(
                        "read error after line {} (byte {}): {e}",
                        self.number, self.end
                    ))?;
                    return Ok(None);
                }
            }
        }
    }

    /// Hands out the line that ends at `end` (with `dropped` bytes before `start` that
    /// were not kept).
    fn take(&mut self, end: usize, dropped: usize, scan: &mut SourceScan<'_>) -> Line {
        let n = dropped + (end - self.start);
        let overlong = n > self.max;
        if !overlong {
            self.line = self.start..end;
        }
        self.start = end;
        self.number += 1;
        self.offset = self.end;
        self.end += n as u64;
        scan.add_bytes(n as u64);
        if overlong {
            Line::Overlong(n)
        } else {
            Line::Text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{Format, InputReport, ScanOptions};

    /// Hands out `data` a few bytes at a time (sizes from `sizes`, cycled), an
    /// `Interrupted` error before every third read.
    struct Trickle<'a> {
        data: &'a [u8],
        sizes: &'a [usize],
        reads: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.reads += 1;
            if self.reads.is_multiple_of(3) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let size = self.sizes[self.reads % self.sizes.len()];
            let n = size.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Every line of `data` as [`Lines`] reads it with `max`: its text (`None`: over
    /// long, with its length), offset and end; and the bytes counted.
    #[allow(clippy::type_complexity)]
    fn read_all(
        data: &[u8],
        sizes: &[usize],
        max: usize,
    ) -> (Vec<(Result<Vec<u8>, usize>, u64, u64)>, u64) {
        let options = ScanOptions::default();
        let mut report = InputReport::default();
        let mut scan = SourceScan::new("t", Format::JsonLines, &options, &mut report);
        let reader = Trickle {
            data,
            sizes,
            reads: 0,
        };
        let mut lines = Lines::new(reader, max);
        let mut got = Vec::new();
        while let Some(line) = lines.next(&mut scan).unwrap() {
            let text = match line {
                Line::Text => Ok(lines.text().to_vec()),
                Line::Overlong(n) => Err(n),
            };
            assert_eq!(lines.number, got.len() as u64 + 1);
            got.push((text, lines.offset, lines.end()));
        }
        assert!(!lines.has_more());
        scan.finish();
        (got, report.bytes)
    }

    #[test]
    fn lines_across_reads_come_out_whole_and_over_long_ones_are_counted() {
        let long = "x".repeat(CHUNK + 5);
        let data = format!("a\n\nbb\r\n{long}\nccc\n{long}{long}\ndd");
        let max = 10;
        // What each line must be: split after every `\n`.
        let mut want = Vec::new();
        let mut at = 0u64;
        for piece in data.split_inclusive('\n') {
            let end = at + piece.len() as u64;
            let text = if piece.len() <= max {
                Ok(piece.as_bytes().to_vec())
            } else {
                Err(piece.len())
            };
            want.push((text, at, end));
            at = end;
        }
        for sizes in [&[1usize][..], &[3, 7, 1], &[CHUNK], &[CHUNK * 3, 5]] {
            let (got, bytes) = read_all(data.as_bytes(), sizes, max);
            assert_eq!(got, want, "reads of {sizes:?}");
            assert_eq!(bytes, data.len() as u64);
        }
        // With room for every line, the long ones come out whole.
        let (got, _) = read_all(data.as_bytes(), &[4096, 1], usize::MAX);
        let texts: Vec<_> = got.into_iter().map(|(t, _, _)| t.unwrap()).collect();
        assert_eq!(texts.concat(), data.as_bytes());
    }
}
