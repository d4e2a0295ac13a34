//! Any byte stream on stdin: `serve` never panics or hangs, and what it writes is
//! always a well-formed reply stream (exact chunk lengths, JSON metadata), ending in an
//! error reply whenever it exits 1.
#![no_main]

mod support;

use libfuzzer_sys::fuzz_target;
use schtasksremote::command::serve;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let status = serve(data, &mut out);
    assert!(status == 0 || status == 1, "exit status {status}");
    let replies = support::split_replies(&out);
    for (_, body) in &replies {
        // A reply body is a CSV table with a header row: every record as wide.
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(body.as_slice());
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
    if status == 1 {
        let (last, _) = replies.last().expect("exit 1 without an error reply");
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
