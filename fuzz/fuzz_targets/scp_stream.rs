//! Any byte stream on stdin: `serve` never panics or hangs, and what it writes is
//! always a well-formed reply stream (exact chunk lengths, JSON metadata), ending in an
//! error reply whenever it exits 1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use schtasksremote::command::serve;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let status = serve(data, &mut out);
    assert!(status == 0 || status == 1, "exit status {status}");
    let replies = split(&out);
    if status == 1 {
        let last = replies.last().expect("exit 1 without an error reply");
        assert_eq!(last["finished"], serde_json::Value::Bool(true), "{last}");
        let error = last["error"]
            .as_str()
            .expect("error reply without an error");
        // Framing and metadata errors also say where (`at byte N`); option errors name
        // the option instead.
        assert!(error.starts_with("schtasksremote: "), "{error}");
        assert_eq!(last["inspector"]["messages"][0][0], "ERROR", "{last}");
    }
});

/// Each reply's metadata, checking the framing exactly as splunkd reads it.
fn split(mut stream: &[u8]) -> Vec<serde_json::Value> {
    let mut replies = Vec::new();
    while !stream.is_empty() {
        let nl = stream
            .iter()
            .position(|&b| b == b'\n')
            .expect("header line");
        let line = std::str::from_utf8(&stream[..nl]).expect("ASCII header");
        let (m, b) = line
            .strip_prefix("chunked 1.0,")
            .and_then(|l| l.split_once(','))
            .expect("chunked 1.0,<m>,<b>");
        let (m, b): (usize, usize) = (m.parse().unwrap(), b.parse().unwrap());
        let rest = &stream[nl + 1..];
        assert!(rest.len() >= m + b, "reply shorter than its header");
        let meta: serde_json::Value = serde_json::from_slice(&rest[..m]).expect("JSON metadata");
        assert!(rest[..m].is_ascii(), "metadata must be ASCII JSON");
        if b > 0 {
            // A reply body is a CSV table with a header row.
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(&rest[m..m + b]);
            let mut width = None;
            for record in rdr.byte_records() {
                let record = record.expect("reply body is CSV");
                assert_eq!(
                    *width.get_or_insert(record.len()),
                    record.len(),
                    "ragged reply"
                );
            }
        }
        replies.push(meta);
        stream = &rest[m + b..];
    }
    replies
}
