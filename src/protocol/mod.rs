//! Splunk's chunked custom search command protocol (SCP v2, "chunked 1.0").
//!
//! Framing, metadata types and the CSV body codec (`__mv_` fields). Knows nothing about
//! schtasks. See `../shared/reference/scp-protocol.md` for the wire format.
