//! The "bare csv-crate read-and-rewrite" baseline: an SCP v2 streaming command that
//! does no detection at all. It frames exactly like `schtasksremote` (exact-length
//! reads, one reply per request, `finished` echoed) so that the difference in the
//! bench is the cost of the command's own work.
//!
//! The bench binary runs itself as this command (`scp_session --passthrough <mode>`), so
//! it is built with the same profile as `schtasksremote` and pays the same process and
//! pipe costs.

use std::io::{self, BufRead, BufReader, Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Echo each body unparsed: the cost of framing and pipes alone.
    Frame,
    /// Parse every row with the `csv` crate and copy its raw bytes.
    Copy,
    /// Parse every row with the `csv` crate and re-encode it with `csv::Writer`.
    Reencode,
}

impl Mode {
    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "frame" => Some(Mode::Frame),
            "copy" => Some(Mode::Copy),
            "reencode" => Some(Mode::Reencode),
            _ => None,
        }
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads one `chunked 1.0,M,B\n` header; `None` at a clean EOF.
fn read_header<R: BufRead>(
    input: &mut R,
    line: &mut Vec<u8>,
) -> io::Result<Option<(usize, usize)>> {
    line.clear();
    input.by_ref().take(64).read_until(b'\n', line)?;
    if line.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|e| bad(format!("header: {e}")))?;
    let rest = text
        .strip_prefix("chunked 1.0,")
        .and_then(|r| r.strip_suffix('\n'))
        .ok_or_else(|| bad(format!("bad header {text:?}")))?;
    let (m, b) = rest
        .split_once(',')
        .ok_or_else(|| bad(format!("bad header {text:?}")))?;
    let m = m
        .parse()
        .map_err(|_| bad(format!("bad metadata length in {text:?}")))?;
    let b = b
        .parse()
        .map_err(|_| bad(format!("bad body length in {text:?}")))?;
    Ok(Some((m, b)))
}

fn read_exact_into<R: Read>(input: &mut R, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
    buf.clear();
    let got = input.by_ref().take(len as u64).read_to_end(buf)?;
    if got != len {
        return Err(bad(format!(
            "truncated chunk: expected {len} bytes, got {got}"
        )));
    }
    Ok(())
}

fn transform(mode: Mode, body: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    match mode {
        Mode::Frame => out.extend_from_slice(body),
        Mode::Copy => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(body);
            let mut record = csv::ByteRecord::new();
            let mut start = 0usize;
            while reader
                .read_byte_record(&mut record)
                .map_err(|e| bad(e.to_string()))?
            {
                let end = reader.position().byte() as usize;
                out.extend_from_slice(body.get(start..end).ok_or_else(|| bad("offset".into()))?);
                start = end;
            }
        }
        Mode::Reencode => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(body);
            let mut writer = csv::WriterBuilder::new()
                .flexible(true)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(out);
            let mut record = csv::ByteRecord::new();
            while reader
                .read_byte_record(&mut record)
                .map_err(|e| bad(e.to_string()))?
            {
                writer.write_byte_record(&record)?;
            }
            writer.flush()?;
        }
    }
    Ok(())
}

fn serve(mode: Mode) -> io::Result<()> {
    let mut input = BufReader::with_capacity(64 * 1024, io::stdin().lock());
    let mut output = io::stdout().lock();
    let (mut line, mut meta, mut body, mut out) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some((meta_len, body_len)) = read_header(&mut input, &mut line)? {
        read_exact_into(&mut input, &mut meta, meta_len)?;
        read_exact_into(&mut input, &mut body, body_len)?;
        let meta: serde_json::Value =
            serde_json::from_slice(&meta).map_err(|e| bad(e.to_string()))?;
        let reply = match meta.get("action").and_then(|a| a.as_str()) {
            Some("getinfo") => {
                out.clear();
                r#"{"type":"streaming"}"#.to_string()
            }
            Some("execute") => {
                transform(mode, &body, &mut out)?;
                let finished = meta
                    .get("finished")
                    .and_then(|f| f.as_bool())
                    .unwrap_or(false);
                format!(r#"{{"finished":{finished}}}"#)
            }
            other => return Err(bad(format!("unexpected action {other:?}"))),
        };
        write!(output, "chunked 1.0,{},{}\n{reply}", reply.len(), out.len())?;
        output.write_all(&out)?;
        output.flush()?;
    }
    Ok(())
}

/// Runs the passthrough command on stdin/stdout; the process exit status.
pub fn main(mode: Mode) -> i32 {
    match serve(mode) {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("passthrough: {e}");
            1
        }
    }
}
