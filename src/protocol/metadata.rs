//! The JSON metadata of requests (splunkd to command) and replies (command to splunkd).
//!
//! Requests are read leniently where splunkd varies (unknown keys are ignored; times are
//! strings in raw captures but numbers in some recordings) and strictly where a wrong
//! type would make us misbehave (`finished` must be a boolean, `args` strings).
//! Replies are written compact and ASCII-only, as the SDK writes them: non-ASCII text is
//! `\u` escaped, so splunkd only ever sees the bytes it has always seen.

use std::borrow::Cow;
use std::io;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A request chunk's metadata. Keys this command does not use are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Request<'a> {
    #[serde(default, borrow)]
    pub action: Option<Cow<'a, str>>,
    /// Echoed in the reply to an `execute`; absent reads as `false`.
    #[serde(default)]
    pub finished: Option<bool>,
    #[serde(default)]
    pub preview: Option<bool>,
    #[serde(default)]
    pub searchinfo: Option<SearchInfo>,
}

/// What kind of request a chunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind<'r> {
    Getinfo,
    Execute,
    Other(&'r str),
    Missing,
}

impl Request<'_> {
    /// Parses a request's metadata bytes.
    ///
    /// ```
    /// use schtasksremote::protocol::metadata::{RequestKind, Request};
    /// let r = Request::parse(br#"{"action":"execute","finished":true,"new_key":[1]}"#).unwrap();
    /// assert_eq!((r.kind(), r.finished()), (RequestKind::Execute, true));
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Request<'_>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn kind(&self) -> RequestKind<'_> {
        match self.action.as_deref() {
            Some("getinfo") => RequestKind::Getinfo,
            Some("execute") => RequestKind::Execute,
            Some(other) => RequestKind::Other(other),
            None => RequestKind::Missing,
        }
    }

    pub fn finished(&self) -> bool {
        self.finished.unwrap_or(false)
    }
}

/// `searchinfo` of the getinfo request. `session_key` is deliberately not kept, so it
/// can never end up in a log line or a `Debug` print.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchInfo {
    /// The command's arguments with quotes removed (`["action=annotate"]`).
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// The arguments as typed, quotes kept.
    #[serde(default)]
    pub raw_args: Option<Vec<String>>,
    #[serde(default)]
    pub dispatch_dir: Option<String>,
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub splunk_version: Option<String>,
    #[serde(default)]
    pub splunkd_uri: Option<String>,
    /// The phase's search string, URL-encoded.
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub maxresultrows: Option<StringOrNumber>,
    #[serde(default)]
    pub earliest_time: Option<StringOrNumber>,
    #[serde(default)]
    pub latest_time: Option<StringOrNumber>,
}

/// A value splunkd writes as a string (`"1627333200"`) and recorders as a number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

impl StringOrNumber {
    /// The numeric value, when there is one (`"0"` is 0.0: unbounded time).
    ///
    /// ```
    /// use schtasksremote::protocol::metadata::SearchInfo;
    /// let a: SearchInfo = serde_json::from_str(r#"{"earliest_time":"1627333200"}"#).unwrap();
    /// let b: SearchInfo = serde_json::from_str(r#"{"earliest_time":1599084000.0}"#).unwrap();
    /// assert_eq!(a.earliest_time.unwrap().as_f64(), Some(1627333200.0));
    /// assert_eq!(b.earliest_time.unwrap().as_f64(), Some(1599084000.0));
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            StringOrNumber::String(s) => s.trim().parse().ok(),
            StringOrNumber::Number(n) => n.as_f64(),
        }
    }
}

/// Inspector message levels, as the SDK names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Level {
    #[serde(rename = "DEBUG")]
    Debug,
    #[serde(rename = "INFO")]
    Info,
    #[serde(rename = "WARN")]
    Warn,
    #[serde(rename = "ERROR")]
    Error,
}

/// A search metric: `metric.<name>: [elapsed seconds, invocations, input count, output
/// count]`, the SDK's `SearchMetric` layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub elapsed_seconds: f64,
    pub invocations: u64,
    pub input_count: u64,
    pub output_count: u64,
}

/// The `inspector` object: messages for the UI and job inspector, and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspector {
    pub messages: Vec<(Level, String)>,
    pub metrics: Vec<Metric>,
}

impl Inspector {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.metrics.is_empty()
    }

    pub fn clear(&mut self) {
        self.messages.clear();
        self.metrics.clear();
    }
}

impl Serialize for Inspector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.messages.is_empty() {
            map.serialize_entry("messages", &self.messages)?;
        }
        for m in &self.metrics {
            map.serialize_entry(
                &format!("metric.{}", m.name),
                &(
                    m.elapsed_seconds,
                    m.invocations,
                    m.input_count,
                    m.output_count,
                ),
            )?;
        }
        map.end()
    }
}

/// A reply chunk's metadata. Keys are written in this order: configuration first, then
/// `inspector` before `error` (the order Splunk's own MLTK handler insists on), then
/// `finished`. Unset keys are left out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reply<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub command_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generating: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_fields: Option<&'a [&'a str]>,
    #[serde(skip_serializing_if = "Inspector::is_empty")]
    pub inspector: &'a Inspector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<bool>,
}

impl Default for &Inspector {
    fn default() -> Self {
        static EMPTY: Inspector = Inspector {
            messages: Vec::new(),
            metrics: Vec::new(),
        };
        &EMPTY
    }
}

impl Reply<'_> {
    /// Serializes into `out` (cleared first): compact, ASCII-only JSON.
    ///
    /// ```
    /// use schtasksremote::protocol::metadata::{Inspector, Level, Reply};
    /// let inspector = Inspector { messages: vec![(Level::Error, "bad é".into())], ..Default::default() };
    /// let reply = Reply { inspector: &inspector, error: Some("bad é"), finished: Some(true), ..Default::default() };
    /// let mut out = Vec::new();
    /// reply.write_json(&mut out);
    /// assert_eq!(out, br#"{"inspector":{"messages":[["ERROR","bad \u00e9"]]},"error":"bad \u00e9","finished":true}"#);
    /// ```
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut ser = serde_json::Serializer::with_formatter(&mut *out, AsciiFormatter);
        // Serializing these types into a Vec cannot fail: no maps with non-string keys,
        // no I/O errors, and f64 metrics are finite (non-finite ones become null).
        if self.serialize(&mut ser).is_err() {
            out.clear();
            out.extend_from_slice(br#"{"finished":true,"error":"cannot encode the reply"}"#);
        }
    }
}

/// Compact JSON with every non-ASCII character written as `\uXXXX` (UTF-16 escapes, as
/// Python's `json.dumps` does by default).
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_string_or_number_times_are_accepted() {
        let raw = br#"{"action":"getinfo","preview":false,"streaming_command_will_restart":false,"searchinfo":{"args":["action=annotate"],"raw_args":[],"dispatch_dir":"C:\\x","sid":"1.1","session_key":"secret","splunk_version":"8.2.1","maxresultrows":50000,"earliest_time":"1627333200","latest_time":1627419600.5,"brand_new":{"x":1}}}"#;
        let r = Request::parse(raw).unwrap();
        assert_eq!(r.kind(), RequestKind::Getinfo);
        assert!(!r.finished());
        let info = r.searchinfo.unwrap();
        assert_eq!(info.args.unwrap(), vec!["action=annotate".to_string()]);
        assert_eq!(info.earliest_time.unwrap().as_f64(), Some(1627333200.0));
        assert_eq!(info.latest_time.unwrap().as_f64(), Some(1627419600.5));
        assert_eq!(info.maxresultrows.unwrap().as_f64(), Some(50000.0));
        assert!(!format!("{:?}", info.dispatch_dir).contains("secret"));
    }

    #[test]
    fn wrongly_typed_finished_is_an_error() {
        assert!(Request::parse(br#"{"action":"execute","finished":"yes"}"#).is_err());
    }

    #[test]
    fn reply_key_order_and_metrics() {
        let inspector = Inspector {
            messages: vec![(Level::Warn, "w".into())],
            metrics: vec![Metric {
                name: "schtasksremote".into(),
                elapsed_seconds: 0.5,
                invocations: 1,
                input_count: 10,
                output_count: 2,
            }],
        };
        let reply = Reply {
            command_type: Some("streaming"),
            inspector: &inspector,
            finished: Some(false),
            ..Default::default()
        };
        let mut out = Vec::new();
        reply.write_json(&mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"type":"streaming","inspector":{"messages":[["WARN","w"]],"metric.schtasksremote":[0.5,1,10,2]},"finished":false}"#
        );
    }

    #[test]
    fn astral_characters_are_escaped_as_surrogate_pairs() {
        let inspector = Inspector::default();
        let reply = Reply {
            inspector: &inspector,
            error: Some("😀"),
            ..Default::default()
        };
        let mut out = Vec::new();
        reply.write_json(&mut out);
        assert_eq!(out, br#"{"error":"\ud83d\ude00"}"#);
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["error"], "😀");
    }
}
