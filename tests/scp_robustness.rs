//! Arbitrary bytes after a valid getinfo never panic, never hang, and always leave a
//! well-formed reply stream: one reply per complete request, and on exit status 1 a
//! final error reply. `serve` runs in-process here.

mod scp_support;

use proptest::prelude::*;
use schtasksremote::command::serve;
use scp_support::*;

fn check(stream: &[u8]) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    let status = serve(stream, &mut out);
    prop_assert!(status == 0 || status == 1, "status {status}");
    let replies = split_chunks(&out);
    prop_assert!(!replies.is_empty());
    let last: serde_json::Value = serde_json::from_slice(&replies[replies.len() - 1].0).unwrap();
    if status == 1 {
        prop_assert_eq!(&last["finished"], &serde_json::Value::Bool(true));
        prop_assert!(
            last["error"]
                .as_str()
                .is_some_and(|e| e.contains("at byte")),
            "{}",
            last
        );
        prop_assert_eq!(&last["inspector"]["messages"][0][1], &last["error"]);
    }
    Ok(())
}

fn noise() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        // Near-valid chunks: real framing with damaged lengths, JSON or CSV.
        (
            0usize..60,
            0usize..60,
            proptest::collection::vec(any::<u8>(), 0..80)
        )
            .prop_map(|(m, b, tail)| {
                let mut v = format!("chunked 1.0,{m},{b}\n").into_bytes();
                v.extend_from_slice(br#"{"action":"execute","finished":false}a,b"#);
                v.extend_from_slice(&tail);
                v
            }),
        proptest::collection::vec(
            prop_oneof![
                Just(b'"'),
                Just(b','),
                Just(b'\n'),
                Just(b'\r'),
                Just(b'a'),
                Just(0xff)
            ],
            0..80
        )
        .prop_map(|body| execute(true, &[b"a,b\n".as_slice(), &body].concat())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn damaged_streams_end_with_a_well_formed_error_or_cleanly(tail in noise()) {
        let mut stream = getinfo(&["action=annotate"]);
        stream.extend_from_slice(&tail);
        check(&stream)?;
    }

    #[test]
    fn damaged_getinfo_is_answered_with_an_error(bytes in proptest::collection::vec(any::<u8>(), 1..120)) {
        let mut stream = format!("chunked 1.0,{},0\n", bytes.len()).into_bytes();
        stream.extend_from_slice(&bytes);
        check(&stream)?;
    }
}
