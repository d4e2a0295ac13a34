//! The `| schtasksremote` search command: SPL options, field mapping, output fields.
//! Glues [`crate::protocol`] to [`crate::detection`].
//!
//! A session: splunkd sends one getinfo, we reply `{"type":"streaming"}` (a distributable
//! streaming command); then each execute chunk gets exactly one reply that echoes its
//! `finished`, carries the rows (see [`stream`]) and the inspector metrics. EOF right
//! after the getinfo reply is a probe. Anything malformed gets one error reply
//! (`finished:true`, `error`, an inspector ERROR saying where and what was expected) and
//! exit status 1. Nothing but chunks is written to stdout; diagnostics go to stderr.
//!
//! `required_fields` is deliberately not sent. It would make splunkd send only the
//! named fields and merge our output back into the full events by `_chunked_idx`, a win
//! on wide raw events; but how that merge treats rows a streaming command drops (our
//! default `action=filter`) is undocumented, the mapping reads any of ~30 raw or CIM
//! names, and the cost it saves is the pipe's, not ours (rows are copied, not
//! re-encoded).

pub mod options;
pub mod stream;

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::protocol::body::BodyError;
use crate::protocol::framing::{
    write_chunk, write_chunk_with, ChunkHeader, ChunkReader, FrameError,
};
use crate::protocol::metadata::{Inspector, Level, Metric, Reply, Request, RequestKind};

use self::options::{OptionError, Options};
use self::stream::{Annotator, ChunkError, ChunkStats, UnjudgedRow};

/// Serves one SCP v2 session on `input`/`output` (stdin/stdout in production) and
/// returns the process exit status: 0 on a clean end (including a getinfo-only probe
/// and a closed stdout), 1 after an error was reported to splunkd.
pub fn serve<R: std::io::Read, W: std::io::Write>(input: R, output: W) -> i32 {
    let mut session = Session {
        reader: ChunkReader::new(BufReader::with_capacity(64 * 1024, input)),
        // Replies are written in many pieces (spans of the request, our cells) and
        // flushed once each.
        output: BufWriter::with_capacity(256 * 1024, output),
        metadata: Vec::new(),
        body: Vec::new(),
        json: Vec::new(),
        inspector: Inspector::default(),
    };
    match session.run() {
        Ok(()) => 0,
        Err(End::Failed) => 1,
        // splunkd closed our stdout: it no longer wants the results.
        Err(End::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(End::Write(e)) => {
            log(&format!(
                "schtasksremote: cannot write to splunkd (stdout): {e}"
            ));
            1
        }
    }
}

/// Why a session ends with an error reply. `Display` is the message splunkd shows (the
/// reply's `error` and its inspector ERROR); each says where in the stream it was met
/// and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The chunk framing is broken (or a chunk is over `max_chunk_mb`).
    #[error("schtasksremote: malformed request from splunkd: {source}{hint}")]
    Frame {
        source: FrameError,
        /// What the user can do about it, if anything.
        hint: String,
    },
    /// A chunk's metadata is not the JSON the protocol describes.
    #[error(
        "schtasksremote: malformed request from splunkd: at byte {at}: expected the chunk \
         metadata to be {shape}: {source}"
    )]
    Metadata {
        at: u64,
        shape: &'static str,
        source: serde_json::Error,
    },
    /// A request other than the one the protocol expects here.
    #[error("schtasksremote: malformed request from splunkd: at byte {at}: expected {expected}, found {found}")]
    UnexpectedRequest {
        at: u64,
        expected: &'static str,
        found: String,
    },
    /// A bad option of the search command.
    #[error(transparent)]
    Options(#[from] OptionError),
    /// The CSV body of an execute chunk cannot be read.
    #[error("schtasksremote: cannot read the CSV body of the chunk at byte {at}: {source}")]
    Body { at: u64, source: BodyError },
    /// `strict=true` met a process creation it cannot judge.
    #[error("{0} (strict=true)")]
    Unjudged(UnjudgedRow),
    /// A bug: a panic while a chunk was processed, caught.
    #[error("schtasksremote: internal error while processing the chunk at byte {at}: {what}")]
    Internal { at: u64, what: String },
}

enum End {
    /// An error was reported (or could not be, the output being gone).
    Failed,
    Write(io::Error),
}

struct Session<R, W: Write> {
    reader: ChunkReader<BufReader<R>>,
    output: BufWriter<W>,
    metadata: Vec<u8>,
    body: Vec<u8>,
    json: Vec<u8>,
    inspector: Inspector,
}

/// Which request an error answers: the getinfo reply also says what the command is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Getinfo,
    Execute,
}

impl<R: Read, W: Write> Session<R, W> {
    fn run(&mut self) -> Result<(), End> {
        let Some(header) = self.next_chunk(Phase::Getinfo)? else {
            // Nothing was asked: nothing to answer.
            return Ok(());
        };
        let opts = self.getinfo(&header)?;
        let reply = Reply {
            command_type: Some("streaming"),
            inspector: &self.inspector,
            ..Default::default()
        };
        reply.write_json(&mut self.json);
        write_chunk(&mut self.output, &self.json, &[]).map_err(End::Write)?;

        self.reader.set_max_chunk_bytes(opts.max_chunk_bytes);
        let mut annotator = Annotator::new(opts);
        while let Some(header) = self.next_chunk(Phase::Execute)? {
            let finished = self.execute(&header)?;
            let started = Instant::now();
            let body = std::mem::take(&mut self.body);
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                annotator.process(&body, header.body_offset)
            }));
            self.body = body;
            let stats = match outcome {
                Ok(Ok(stats)) => stats,
                Ok(Err(ChunkError::Body(source))) => {
                    let at = header.offset;
                    return Err(self.fail(Phase::Execute, SessionError::Body { at, source }));
                }
                Ok(Err(ChunkError::Unjudged(row))) => {
                    return Err(self.fail(Phase::Execute, SessionError::Unjudged(row)));
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    let at = header.offset;
                    return Err(self.fail(Phase::Execute, SessionError::Internal { at, what }));
                }
            };
            self.inspector.clear();
            self.inspector.messages = annotator.take_messages();
            self.inspector.metrics = metrics(&stats, started.elapsed().as_secs_f64());
            let reply = Reply {
                inspector: &self.inspector,
                finished: Some(finished),
                ..Default::default()
            };
            reply.write_json(&mut self.json);
            let body = &self.body;
            write_chunk_with(&mut self.output, &self.json, annotator.reply_len(), |out| {
                annotator.write_reply(body, out)
            })
            .map_err(End::Write)?;
        }
        Ok(())
    }

    fn next_chunk(&mut self, phase: Phase) -> Result<Option<ChunkHeader>, End> {
        match self.reader.read_chunk(&mut self.metadata, &mut self.body) {
            Ok(header) => Ok(header),
            Err(source) => {
                // The one framing error a user can do something about.
                let hint = match source {
                    FrameError::TooLarge { .. } => format!(
                        "; raise the limit with the option max_chunk_mb=<MiB> (at most {}), or \
                         lower maxresultrows so splunkd sends smaller chunks",
                        options::MAX_CHUNK_MB.end()
                    ),
                    _ => String::new(),
                };
                Err(self.fail(phase, SessionError::Frame { source, hint }))
            }
        }
    }

    /// Reads the getinfo request and the options in it.
    fn getinfo(&mut self, header: &ChunkHeader) -> Result<Options, End> {
        let parsed = match Request::parse(&self.metadata) {
            Ok(request) => match request.kind() {
                RequestKind::Getinfo => Ok(request
                    .searchinfo
                    .and_then(|info| info.args)
                    .unwrap_or_default()),
                other => Err(SessionError::UnexpectedRequest {
                    at: header.metadata_offset,
                    expected: "a getinfo request first",
                    found: describe(other),
                }),
            },
            Err(e) => Err(json_error(header, &self.metadata, e, GETINFO_SHAPE)),
        };
        let args = parsed.map_err(|e| self.fail(Phase::Getinfo, e))?;
        options::parse(&args).map_err(|e| self.fail(Phase::Getinfo, e.into()))
    }

    /// Reads an execute request's metadata; returns its `finished`.
    fn execute(&mut self, header: &ChunkHeader) -> Result<bool, End> {
        let parsed = match Request::parse(&self.metadata) {
            Ok(request) => match request.kind() {
                RequestKind::Execute => Ok(request.finished()),
                other => Err(SessionError::UnexpectedRequest {
                    at: header.metadata_offset,
                    expected: "an execute request",
                    found: describe(other),
                }),
            },
            Err(e) => Err(json_error(header, &self.metadata, e, EXECUTE_SHAPE)),
        };
        parsed.map_err(|e| self.fail(Phase::Execute, e))
    }

    /// Reports a fatal error in reply to the pending request: `finished:true`, `error`
    /// and an inspector ERROR with the same text; also on stderr (search.log).
    fn fail(&mut self, phase: Phase, error: SessionError) -> End {
        let message = error.to_string();
        log(&message);
        self.inspector.clear();
        self.inspector.messages.push((Level::Error, message));
        let error = self.inspector.messages.first().map(|(_, m)| m.as_str());
        let reply = Reply {
            command_type: (phase == Phase::Getinfo).then_some("streaming"),
            inspector: &self.inspector,
            error,
            finished: Some(true),
            ..Default::default()
        };
        reply.write_json(&mut self.json);
        // If splunkd is gone too there is no one left to tell; the exit status says it.
        let _ = write_chunk(&mut self.output, &self.json, &[]);
        End::Failed
    }
}

/// One line to stderr (the job's search.log). Unlike `eprintln!`, a closed stderr is
/// not a panic.
fn log(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

fn describe(action: RequestKind<'_>) -> String {
    match action {
        RequestKind::Getinfo => "a second getinfo request".to_string(),
        RequestKind::Execute => "an execute request".to_string(),
        RequestKind::Other(a) => format!("action {a:?}"),
        RequestKind::Missing => "metadata without an \"action\"".to_string(),
    }
}

const GETINFO_SHAPE: &str =
    "a JSON object with a string \"action\" and a \"searchinfo\" whose \"args\" is a list of strings";
const EXECUTE_SHAPE: &str = "a JSON object with a string \"action\" and a boolean \"finished\"";

/// A metadata JSON error, placed at its byte in the stream.
fn json_error(
    header: &ChunkHeader,
    metadata: &[u8],
    e: serde_json::Error,
    shape: &'static str,
) -> SessionError {
    // serde_json counts lines from 1 and columns (bytes) from 1 within the line.
    let line_start = if e.line() <= 1 {
        0
    } else {
        metadata
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(e.line() - 2)
            .map_or(0, |(i, _)| i + 1)
    };
    let at = header.metadata_offset + (line_start + e.column().saturating_sub(1)) as u64;
    SessionError::Metadata {
        at,
        shape,
        source: e,
    }
}

/// Inspector metrics for one reply, in the SDK's `[elapsed seconds, invocations, input
/// count, output count]` layout. Per chunk, so splunkd's sums are the session's totals.
fn metrics(stats: &ChunkStats, elapsed: f64) -> Vec<Metric> {
    vec![
        Metric {
            name: "schtasksremote.rows".to_string(),
            elapsed_seconds: elapsed,
            invocations: 1,
            input_count: stats.rows_in,
            output_count: stats.rows_out,
        },
        Metric {
            name: "schtasksremote.detections".to_string(),
            elapsed_seconds: elapsed,
            invocations: 1,
            input_count: stats.rows_in,
            output_count: stats.detections,
        },
        // Process creations that could not be judged (no command line or no image
        // name): counted apart, so the job inspector shows what was not looked at.
        Metric {
            name: "schtasksremote.unjudged".to_string(),
            elapsed_seconds: elapsed,
            invocations: 1,
            input_count: stats.rows_in,
            output_count: stats.unjudged,
        },
    ]
}
