//! One execute chunk whose CSV body is the fuzz input. Whatever the body holds, either
//! the command refuses it with an error reply, or (annotate) every input row comes back
//! with its fields byte-identical and our 34 columns added; filter returns a subset of
//! those rows, unchanged likewise.
#![no_main]

mod support;

use csv::ByteRecord;
use libfuzzer_sys::fuzz_target;
use schtasksremote::command::serve;
use schtasksremote::detection::OUTPUT_FIELDS;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let action = if mode & 1 == 0 { "annotate" } else { "filter" };
    let mut stream = chunk(
        &format!(r#"{{"action":"getinfo","searchinfo":{{"args":["action={action}"]}}}}"#),
        b"",
    );
    stream.extend(chunk(r#"{"action":"execute","finished":true}"#, body));
    let mut out = Vec::new();
    let status = serve(stream.as_slice(), &mut out);
    let replies = support::split_replies(&out);
    assert_eq!(replies.len(), 2, "one reply per request");
    let (meta, reply_body) = &replies[1];
    if status == 1 {
        assert!(meta["error"].is_string(), "{meta}");
        return;
    }
    assert_eq!(status, 0);
    let input = records(body).expect("the command accepted a body that is not CSV");
    let output = records(reply_body).expect("reply body is CSV");
    let Some((in_header, in_rows)) = input.split_first() else {
        assert!(reply_body.is_empty());
        return;
    };
    if output.is_empty() {
        assert!(
            action == "filter" || in_rows.is_empty(),
            "annotate dropped rows"
        );
        return;
    }
    let (out_header, out_rows) = output.split_first().unwrap();
    let width = in_header.len();
    assert!(
        out_header.iter().take(width).eq(in_header.iter()),
        "header changed"
    );
    for name in out_header.iter().skip(width) {
        let name = name.strip_prefix(b"__mv_").unwrap_or(name);
        assert!(
            OUTPUT_FIELDS.iter().any(|f| f.as_bytes() == name),
            "unknown column"
        );
    }
    let reason = out_header.iter().position(|n| n == b"detection_reason");
    if action == "annotate" {
        assert_eq!(out_rows.len(), in_rows.len(), "annotate lost or added rows");
    }
    let clash = clashes(in_header);
    // Rows keep their order: each output row is the next input row it matches.
    let mut remaining = in_rows.iter();
    for row in out_rows {
        assert_eq!(row.len(), out_header.len(), "ragged reply");
        let is_detection = reason.and_then(|i| row.get(i)) == Some(b"remote_create".as_slice());
        if action == "filter" {
            assert!(is_detection, "filter passed a row that is no detection");
        }
        if clash && is_detection {
            // Our value replaces the input's in a column named like ours.
            continue;
        }
        remaining
            .find(|r| r.iter().eq(row.iter().take(width)))
            .expect("an output row whose input fields changed");
    }
});

/// An input column named like one of ours is replaced on detection rows.
fn clashes(header: &ByteRecord) -> bool {
    header.iter().any(|name| {
        let name = name.strip_prefix(b"__mv_").unwrap_or(name);
        OUTPUT_FIELDS.iter().any(|f| f.as_bytes() == name)
    })
}

fn chunk(metadata: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("chunked 1.0,{},{}\n", metadata.len(), body.len()).into_bytes();
    out.extend_from_slice(metadata.as_bytes());
    out.extend_from_slice(body);
    out
}

fn records(body: &[u8]) -> Option<Vec<ByteRecord>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body)
        .byte_records()
        .collect::<Result<_, _>>()
        .ok()
}
