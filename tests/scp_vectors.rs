//! The real splunkd streams in `../shared/scp-vectors/`, re-wrapped behind a getinfo for
//! our command: in annotate mode every row comes back with every field byte-identical,
//! one reply per request, `finished` echoed.

mod scp_support;

use schtasksremote::detection::OUTPUT_FIELDS;
use scp_support::*;
use serde_json::Value;

const COUNTMATCHES: &str = "tests/searchcommands/recordings/scpv2/Splunk-6.3/countmatches.input.gz";
const SUM_MAP: &str = "tests/searchcommands/recordings/scpv2/Splunk-6.3/sum.map.input.gz";
const MULTIBYTE: &str = "tests/unit/data/custom_search/multibyte_input.gz";

/// Runs a recording in annotate mode and checks every reply against its request.
/// Returns the number of data rows seen.
fn annotate_round_trip(path: &str) -> (usize, usize) {
    let (stream, requests) = rewrap(&vector(path), &["action=annotate"]);
    let run = run(&stream);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    let replies = run.replies();
    assert_eq!(replies.len(), requests.len() + 1, "one reply per request");
    assert_eq!(replies[0].meta, serde_json::json!({"type": "streaming"}));

    let mut rows = 0;
    for ((meta, body), reply) in requests.iter().zip(&replies[1..]) {
        let request: Value = serde_json::from_slice(meta).unwrap();
        assert_eq!(
            reply.meta["finished"], request["finished"],
            "finished echoed"
        );
        let input = records(body);
        let output = reply.records();
        assert_eq!(output.len(), input.len(), "every row back, header included");
        if input.is_empty() {
            continue;
        }
        let width = input[0].len();
        // The header: the input's names, then ours and their __mv_ companions.
        let out_header: Vec<&[u8]> = output[0].iter().collect();
        assert_eq!(
            &out_header[..width],
            &input[0].iter().collect::<Vec<_>>()[..]
        );
        let ours: Vec<String> = OUTPUT_FIELDS
            .iter()
            .map(|f| f.to_string())
            .chain(OUTPUT_FIELDS.iter().map(|f| format!("__mv_{f}")))
            .collect();
        let ours_bytes: Vec<&[u8]> = ours.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(&out_header[width..], &ours_bytes[..]);
        for (i, (inp, out)) in input.iter().zip(&output).enumerate().skip(1) {
            let fields: Vec<&[u8]> = out.iter().collect();
            assert_eq!(
                &fields[..width],
                &inp.iter().collect::<Vec<_>>()[..],
                "row {i}"
            );
            // No schtasks in these recordings: the added fields are empty.
            assert!(fields[width..].iter().all(|f| f.is_empty()), "row {i}");
        }
        rows += input.len() - 1;
        assert_eq!(
            reply.metric("schtasksremote.rows")[2] as usize,
            input.len() - 1
        );
        assert_eq!(
            reply.metric("schtasksremote.rows")[3] as usize,
            input.len() - 1
        );
        assert_eq!(reply.metric("schtasksremote.detections")[3], 0.0);
    }
    (requests.len(), rows)
}

#[test]
fn countmatches_tweets_with_quoted_newlines_and_multibyte_come_back_byte_identical() {
    assert_eq!(annotate_round_trip(COUNTMATCHES), (1, 500));
}

#[test]
fn sum_map_50000_rows_by_48_columns_come_back_byte_identical() {
    let (chunks, rows) = annotate_round_trip(SUM_MAP);
    assert_eq!((chunks, rows), (1, 50_000));
}

#[test]
fn multibyte_nine_chunks_from_splunk_803_come_back_byte_identical() {
    let (chunks, rows) = annotate_round_trip(MULTIBYTE);
    assert_eq!(chunks, 9);
    assert_eq!(
        rows,
        6_638 + 5_861 + 1 + 6_574 + 5_926 + 6_412 + 6_088 + 1_741 + 1_441
    );
}

#[test]
fn filter_mode_on_recordings_without_schtasks_replies_empty_bodies() {
    let (stream, requests) = rewrap(&vector(MULTIBYTE), &[]);
    let run = run(&stream);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let replies = run.replies();
    assert_eq!(replies.len(), requests.len() + 1);
    for ((meta, _), reply) in requests.iter().zip(&replies[1..]) {
        let request: Value = serde_json::from_slice(meta).unwrap();
        assert_eq!(reply.meta["finished"], request["finished"]);
        assert!(reply.body.is_empty());
        assert_eq!(reply.metric("schtasksremote.rows")[3], 0.0);
    }
}

#[test]
fn annotate_output_is_the_input_bytes_plus_our_columns() {
    // The fast path copies each record's bytes: splunkd's own quoting comes back as is.
    let (stream, requests) = rewrap(&vector(COUNTMATCHES), &["action=annotate"]);
    let run = run(&stream);
    let reply = &run.replies()[1];
    let input = &requests[0].1;
    let suffix = ",".repeat(2 * OUTPUT_FIELDS.len());
    let mut expected = Vec::new();
    let mut header_done = false;
    for line in records_raw(input) {
        expected.extend_from_slice(&line);
        if !header_done {
            for f in OUTPUT_FIELDS {
                expected.extend_from_slice(format!(",{f}").as_bytes());
            }
            for f in OUTPUT_FIELDS {
                expected.extend_from_slice(format!(",__mv_{f}").as_bytes());
            }
            header_done = true;
        } else {
            expected.extend_from_slice(suffix.as_bytes());
        }
        expected.push(b'\n');
    }
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        String::from_utf8_lossy(&expected)
    );
}

/// Each record's raw bytes, without line ends, using the csv crate's positions.
fn records_raw(body: &[u8]) -> Vec<Vec<u8>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body);
    let mut rec = csv::ByteRecord::new();
    let mut out = Vec::new();
    loop {
        let start = rdr.position().byte() as usize;
        if !rdr.read_byte_record(&mut rec).unwrap() {
            break;
        }
        let end = rdr.position().byte() as usize;
        let raw = &body[start..end];
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        out.push(raw.to_vec());
    }
    out
}
