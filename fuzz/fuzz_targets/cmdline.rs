//! Any command line: the tokenizer and the schtasks grammar never panic, argv spans are
//! sound, passwords never survive masking, and the verdict does not change when the
//! line is replaced by its own masked form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use schtasksremote::detection::argv::split;
use schtasksremote::detection::{analyze, explain, is_schtasks, DetectorConfig, ProcessEvent};

/// What `/p` and `/rp` values become.
const MASK: &str = "****";

const DESTS: [&str; 4] = [
    "",
    "WORKSTATION5",
    "workstation5.theshire.local",
    "127.0.0.1",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let line = String::from_utf8_lossy(rest);
    let line = line.as_ref();

    let args = split(line);
    let mut end = 0;
    for (i, arg) in args.iter().enumerate() {
        // Only the program name may be empty: Windows reads a line that starts with a
        // blank as an empty program name.
        assert!(arg.span.start >= end && (arg.span.start < arg.span.end || i == 0));
        assert!(
            line.get(arg.span.clone()).is_some(),
            "span off a char boundary"
        );
        end = arg.span.end;
    }

    let event = ProcessEvent {
        process_name: if pick & 4 == 0 { "schtasks.exe" } else { "" },
        original_file_name: if pick & 8 == 0 { "" } else { "schtasks.exe" },
        process: line,
        dest: DESTS[usize::from(pick & 3)],
        user: "THESHIRE\\sam",
        ..Default::default()
    };
    let config = DetectorConfig::default();
    let _ = explain(&event, &config);
    let Some(analysis) = analyze(&event, &config) else {
        return;
    };
    assert!(is_schtasks(&event));
    assert_eq!(analysis.argv.len(), args.len());
    if analysis.is_detection() {
        assert!(analysis
            .remote_host
            .as_deref()
            .is_some_and(|h| !h.trim().is_empty()));
        assert!(!analysis.risk_message.is_empty());
    }
    for (shown, arg) in analysis.argv.iter().zip(&args) {
        let secret = &line[arg.span.clone()];
        if shown == MASK && arg.value != MASK && !secret.contains('*') {
            // Each masked argument is gone from the line we show.
            assert!(
                analysis.process_masked.matches(secret).count() < line.matches(secret).count(),
                "{secret:?} survived masking in {:?}",
                analysis.process_masked
            );
        }
    }

    // Masking is stable and does not change what the line means.
    let masked = ProcessEvent {
        process: &analysis.process_masked,
        ..event
    };
    let again = analyze(&masked, &config).expect("a masked schtasks line is still schtasks");
    assert_eq!(
        again.reason, analysis.reason,
        "{line:?} vs {:?}",
        analysis.process_masked
    );
    assert_eq!(again.remote_host, analysis.remote_host);
    assert_eq!(again.task_name, analysis.task_name);
    assert_eq!(again.process_masked, analysis.process_masked);
});
