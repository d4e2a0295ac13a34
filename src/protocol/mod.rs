//! Splunk's chunked custom search command protocol (SCP v2, "chunked 1.0").
//!
//! Framing, metadata types and the CSV body codec (`__mv_` fields). Knows nothing about
//! schtasks. See `../shared/reference/scp-protocol.md` for the wire format.
//!
//! - [`framing`]: `chunked 1.0,<metadata bytes>,<body bytes>\n` chunks, exact-length
//!   reads into caller-owned buffers, a limit checked before reading, errors with offsets.
//! - [`metadata`]: the JSON of requests (getinfo, execute) and replies (type, inspector
//!   messages and metrics, error, finished).
//! - [`body`]: the CSV body as bytes, each record with its raw span; CSV field quoting;
//!   the `$v1$;$v2$` multivalue encoding.

pub mod body;
pub mod framing;
pub mod metadata;
