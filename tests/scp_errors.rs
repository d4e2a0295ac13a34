//! Every error class ends the session with exactly one error reply (`finished:true`,
//! `error`, an inspector ERROR with the same text naming where and what was expected),
//! the same text on stderr, and exit status 1. Never a panic, never a hang.

mod scp_support;

use scp_support::*;

fn after_getinfo(args: &[&str], rest: &[u8]) -> (usize, Run) {
    let mut stream = getinfo(args);
    let offset = stream.len();
    stream.extend_from_slice(rest);
    (offset, run(&stream))
}

fn error_text(run: &Run, replies_before: usize) -> String {
    let reply = run.error_reply();
    assert_eq!(
        run.replies().len(),
        replies_before + 1,
        "exactly one error reply"
    );
    reply.meta["error"].as_str().unwrap().to_string()
}

#[test]
fn bad_options_fail_the_getinfo_reply_naming_the_option_and_what_is_allowed() {
    let cases: [(&[&str], &str); 5] = [
        (&["bogus=1"], "schtasksremote: unknown option \"bogus\" in \"bogus=1\"; allowed options: action, risk_score, max_chunk_mb, process_name_field"),
        (&["action=drop"], "schtasksremote: invalid value action=\"drop\": allowed values are action=filter (the default: only detections) and action=annotate (every row)"),
        (&["risk_score=high"], "schtasksremote: invalid value risk_score=\"high\": allowed values are whole numbers from 0 to 10000"),
        (&["annotate"], "schtasksremote: unexpected argument \"annotate\": options are written name=value without spaces"),
        (&["dest_field=a", "dest_field=b"], "schtasksremote: option dest_field is given more than once"),
    ];
    for (args, expected) in cases {
        let mut stream = getinfo(args);
        stream.extend_from_slice(&execute(true, b"a\n1\n"));
        let run = run(&stream);
        let reply = run.error_reply();
        assert_eq!(run.replies().len(), 1, "only the getinfo reply: {args:?}");
        assert_eq!(reply.meta["type"], "streaming");
        let error = reply.meta["error"].as_str().unwrap();
        assert!(error.starts_with(expected), "{args:?}: {error}");
    }
}

/// Issue 12 item 2: the search shows the nearest option, as the CLI does for its flags.
#[test]
fn a_mistyped_option_is_answered_with_the_nearest_one() {
    for (arg, expected) in [
        ("actoin=annotate", "did you mean action=annotate?"),
        ("action=anotate", "did you mean action=annotate?"),
    ] {
        let mut stream = getinfo(&[arg]);
        stream.extend_from_slice(&execute(true, b"a\n1\n"));
        let run = run(&stream);
        let error = run.error_reply().meta["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(error.contains(expected), "{arg}: {error}");
        assert!(error.contains("allowed"), "{arg}: {error}");
    }
}

#[test]
fn a_bad_chunk_header_is_reported_at_its_offset() {
    let (offset, run) = after_getinfo(&[], b"chunked 1.0,abc\n{}");
    assert_eq!(
        error_text(&run, 1),
        format!(
            "schtasksremote: malformed request from splunkd: at byte {offset}: expected a chunk \
             header `chunked 1.0,<metadata length>,<body length>` ending in a newline, found \
             \"chunked 1.0,abc\\n\""
        )
    );
}

#[test]
fn bad_metadata_json_is_reported_at_its_byte() {
    let meta = r#"{"action":"execute","finished":tru}"#;
    let (offset, run) = after_getinfo(&[], &chunk(meta, b""));
    let header_len = format!("chunked 1.0,{},0\n", meta.len()).len();
    // serde_json stops at the byte it cannot take: the `}` after `tru`.
    let at = offset + header_len + meta.rfind('}').unwrap();
    let error = error_text(&run, 1);
    let prefix = format!(
        "schtasksremote: malformed request from splunkd: at byte {at}: expected the chunk \
         metadata to be a JSON object with a string \"action\" and a boolean \"finished\": "
    );
    assert!(error.starts_with(&prefix), "{error}\n{prefix}");
}

#[test]
fn a_truncated_body_names_what_was_declared_and_what_arrived() {
    let (offset, run) = after_getinfo(
        &[],
        b"chunked 1.0,36,10\n{\"action\":\"execute\",\"finished\":true}a\n1",
    );
    let end = offset + 18 + 36 + 3;
    assert_eq!(
        error_text(&run, 1),
        format!(
            "schtasksremote: malformed request from splunkd: at byte {end}: the stream ended \
             after 3 of the 10 body bytes declared by the chunk header at byte {offset}"
        )
    );
}

#[test]
fn truncated_metadata_and_header_are_reported() {
    let (offset, run) = after_getinfo(&[], b"chunked 1.0,36,0\n{\"action\"");
    assert!(error_text(&run, 1).ends_with(&format!(
        "the stream ended after 9 of the 36 metadata bytes declared by the chunk header at byte {offset}"
    )));
    let (offset, run) = after_getinfo(&[], b"chunked 1.0,3");
    assert!(error_text(&run, 1).contains(&format!(
        "at byte {offset}: the stream ended inside a chunk header"
    )));
}

#[test]
fn a_csv_row_of_the_wrong_width_is_reported_with_both_offsets() {
    let body = b"a,b\n1,2\n3,4,5\n";
    let (offset, run) = after_getinfo(&["action=annotate"], &execute(false, body));
    let body_at = offset + 18 + 37;
    assert_eq!(
        error_text(&run, 1),
        format!(
            "schtasksremote: cannot read the CSV body of the chunk at byte {offset}: at byte {}: \
             expected 2 CSV fields (as in the header row), found 3 in row 2",
            body_at + 8
        )
    );
}

#[test]
fn requests_out_of_order_are_refused() {
    let first = execute(true, b"a\n1\n");
    let header_len = first.iter().position(|&b| b == b'\n').unwrap() + 1;
    let run = run(&first);
    let reply = run.error_reply();
    assert_eq!(reply.meta["type"], "streaming");
    assert_eq!(
        reply.meta["error"].as_str().unwrap(),
        format!(
            "schtasksremote: malformed request from splunkd: at byte {header_len}: expected a \
             getinfo request first, found an execute request"
        )
    );
    let second = getinfo(&[]);
    let header_len = second.iter().position(|&b| b == b'\n').unwrap() + 1;
    let (offset, run) = after_getinfo(&[], &second);
    assert!(error_text(&run, 1).ends_with(&format!(
        "at byte {}: expected an execute request, found a second getinfo request",
        offset + header_len
    )));
    let (_, run) = after_getinfo(&[], &chunk(r#"{"action":"finish"}"#, b""));
    assert!(error_text(&run, 1).ends_with("expected an execute request, found action \"finish\""));
    let (_, run) = after_getinfo(&[], &chunk(r#"{"finished":true}"#, b""));
    assert!(error_text(&run, 1).ends_with("found metadata without an \"action\""));
}

#[test]
fn a_wrongly_typed_getinfo_is_refused_in_the_getinfo_reply() {
    let run = run(&chunk(
        r#"{"action":"getinfo","searchinfo":{"args":"action=annotate"}}"#,
        b"",
    ));
    let reply = run.error_reply();
    assert_eq!(reply.meta["type"], "streaming");
    assert!(reply.meta["error"]
        .as_str()
        .unwrap()
        .contains("expected the chunk metadata to be a JSON object with a string \"action\" and a \"searchinfo\" whose \"args\" is a list of strings: invalid type: string"), "{}", reply.meta);
}
