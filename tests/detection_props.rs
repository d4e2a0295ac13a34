//! Property tests of the detection core.

use proptest::prelude::*;
use schtasksremote::detection::argv::split;
use schtasksremote::detection::{analyze, explain, DetectorConfig, ProcessEvent, Reason};

/// Quotes one argument so that `CommandLineToArgvW` gives it back unchanged (the
/// algorithm from Microsoft's "Everyone quotes command line arguments the wrong way").
fn quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
}

const VOCABULARY: &[&str] = &[
    "/create",
    "-create",
    "\u{2013}create",
    "/CREATE",
    "/query",
    "/run",
    "/delete",
    "/end",
    "/change",
    "/showsid",
    "/s",
    "-s",
    "\u{FE63}s",
    "/\u{02E2}",
    "/S",
    "/tn",
    "/tr",
    "/sc",
    "/st",
    "/sd",
    "/p",
    "/rp",
    "/u",
    "/ru",
    "/xml",
    "/f",
    "/i",
    "HOST2",
    "localhost",
    "127.1",
    "::1",
    "[::1]",
    "ws1",
    "WS1.corp.local",
    r"\\HOST2",
    ".",
    "once",
    "t",
    r"c:\x.exe",
    "0x7f000001",
    "10.0.0.5",
    "*",
];

/// A token with no quote, blank or backslash: quoting it is pure decoration.
fn plain_token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(VOCABULARY)
            .prop_filter("no backslash", |t| !t.contains('\\'))
            .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9:.*/-]{1,8}",
    ]
}

fn any_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(VOCABULARY).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9:./\\\\-]{1,8}",
    ]
}

fn dest() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&["ws1", "", "ws1.corp.local", "HOST2"][..])
}

fn verdict(line: &str, dest: &str) -> Option<Reason> {
    let event = ProcessEvent {
        process_name: "schtasks.exe",
        process: line,
        dest,
        ..Default::default()
    };
    analyze(&event, &DetectorConfig::default()).map(|a| a.reason)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn tokenizer_never_panics_and_spans_are_ordered_slices(line in "\\PC*") {
        let args = split(&line);
        let mut at = 0;
        for a in &args {
            prop_assert!(a.span.start >= at && a.span.end >= a.span.start);
            prop_assert!(line.get(a.span.clone()).is_some(), "span on a char boundary");
            at = a.span.end;
        }
    }

    #[test]
    fn tokenizer_never_panics_on_quote_heavy_lines(line in "[ \t\"\\\\a/ˢ–]{0,40}") {
        let args = split(&line);
        for a in &args {
            prop_assert!(line.get(a.span.clone()).is_some());
        }
    }

    #[test]
    fn analyze_and_explain_never_panic_on_arbitrary_fields(
        name in "\\PC{0,20}",
        line in "\\PC*",
        dest in "\\PC{0,20}",
    ) {
        for process_name in [name.as_str(), "schtasks.exe"] {
            let event = ProcessEvent { process_name, process: &line, dest: &dest, ..Default::default() };
            let _ = analyze(&event, &DetectorConfig::default());
            let _ = explain(&event, &DetectorConfig::default());
        }
    }

    #[test]
    fn quoted_arguments_split_back_to_themselves(args in proptest::collection::vec("\\PC{0,12}", 0..8)) {
        let line = std::iter::once("schtasks".to_owned())
            .chain(args.iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let got: Vec<String> = split(&line).into_iter().skip(1).map(|a| a.value.into_owned()).collect();
        prop_assert_eq!(got, args);
    }

    #[test]
    fn wrapping_a_plain_argument_in_quotes_never_changes_the_verdict(
        tokens in proptest::collection::vec(plain_token(), 1..12),
        pick in any::<prop::sample::Index>(),
        dest in dest(),
    ) {
        let line = format!("schtasks {}", tokens.join(" "));
        let k = pick.index(tokens.len());
        let mut wrapped = tokens.clone();
        wrapped[k] = format!("\"{}\"", tokens[k]);
        let line2 = format!("schtasks {}", wrapped.join(" "));
        prop_assert_eq!(verdict(&line, dest), verdict(&line2, dest), "{} vs {}", line, line2);
    }

    #[test]
    fn inserting_empty_quotes_inside_a_switch_name_never_changes_the_verdict(
        tokens in proptest::collection::vec(any_token(), 1..12),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        dest in dest(),
    ) {
        let switches: Vec<usize> = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.chars().count() >= 2 && t.starts_with(['/', '-', '\u{2013}', '\u{FE63}']))
            // Switch names have no backslash; `\""` would be an escaped quote instead.
            .filter(|(_, t)| !t.contains('\\'))
            .map(|(i, _)| i)
            .collect();
        prop_assume!(!switches.is_empty());
        let k = switches[pick.index(switches.len())];
        let chars: Vec<char> = tokens[k].chars().collect();
        // Inside the name: after the prefix, up to the end.
        let pos = 1 + at.index(chars.len());
        let mut changed = tokens.clone();
        changed[k] = chars[..pos].iter().chain(['"', '"'].iter()).chain(&chars[pos..]).collect();
        let line = format!("schtasks {}", tokens.join(" "));
        let line2 = format!("schtasks {}", changed.join(" "));
        prop_assert_eq!(verdict(&line, dest), verdict(&line2, dest), "{} vs {}", line, line2);
    }

    #[test]
    fn password_values_never_appear_in_masked_output(
        secret in "[a-zA-Z0-9!@#%]{3,12}",
        tokens in proptest::collection::vec(plain_token(), 0..6),
    ) {
        prop_assume!(!tokens.iter().any(|t| t.contains(&secret)));
        prop_assume!(!"schtasks".contains(&secret));
        let line = format!("schtasks /create /s HOST2 /u a /p {secret} {} /ru b /rp \"{secret} x\"", tokens.join(" "));
        let event = ProcessEvent { process_name: "schtasks.exe", process: &line, ..Default::default() };
        let a = analyze(&event, &DetectorConfig::default()).unwrap();
        prop_assert!(!a.process_masked.contains(&secret));
        prop_assert!(!a.risk_message.contains(&secret));
        prop_assert!(!a.argv.iter().any(|v| v.contains(&secret)));
    }
}
