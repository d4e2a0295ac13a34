//! `schtasksremote explain`: show the split, the parse and the verdict.

use std::fmt::Write as _;

use super::argv;
use super::grammar::{self, Arity, Prefix};
use super::risk::{self, MASK};
use super::{is_schtasks, Analysis, DetectorConfig, ProcessEvent};

fn prefix_note(prefix: Prefix) -> String {
    match prefix {
        Prefix::Slash => String::new(),
        Prefix::Dash => ", dash prefix".into(),
        Prefix::UnicodeDash(c) => format!(", Unicode dash U+{:04X}", u32::from(c)),
    }
}

/// A value in double quotes, as written: backslashes are Windows path separators and
/// are not escaped; only control characters are, so a tab stays visible.
fn show(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

// `write!` to a String cannot fail; the results are ignored on purpose.
pub fn render(event: &ProcessEvent<'_>, config: &DetectorConfig) -> String {
    let mut out = String::new();
    let args = argv::split(event.process);
    let parsed = grammar::parse(&args);
    let secrets = risk::secret_indices(&parsed);

    let _ = writeln!(
        out,
        "command line: {}",
        risk::mask_line(event.process, &args, &secrets)
    );
    let _ = writeln!(out, "\nargv (as Windows splits it):");
    for (i, arg) in args.iter().enumerate() {
        let shown = if secrets.contains(&i) {
            MASK
        } else {
            arg.value.as_str()
        };
        let note = if i == 0 {
            "  (program)"
        } else if arg.quoted {
            "  (quotes removed)"
        } else {
            ""
        };
        let _ = writeln!(out, "  [{i}] {}{note}", show(shown));
    }

    let _ = writeln!(out, "\nswitches (schtasks grammar):");
    if parsed.switches.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for s in &parsed.switches {
        let written = args
            .get(s.index)
            .and_then(|a| event.process.get(a.span.clone()))
            .unwrap_or_default();
        let mut notes = prefix_note(s.token.prefix);
        if s.token.nfkc_folded {
            notes.push_str(", NFKC-folded");
        }
        if args.get(s.index).is_some_and(|a| a.quoted) {
            notes.push_str(", quotes inside");
        }
        let value = match (s.value, grammar::arity(s.token.name, parsed.operation)) {
            (Some(i), _) if secrets.contains(&i) => format!(" = {MASK}"),
            (Some(i), _) => format!(" = {}", show(args.get(i).map_or("", |a| a.value.as_str()))),
            (None, Arity::Operation(_)) => "  (operation)".into(),
            (None, Arity::Value) => "  (value missing)".into(),
            (None, Arity::OptionalValue) => "  (no value: prompts)".into(),
            (None, Arity::Flag) => String::new(),
        };
        let _ = writeln!(
            out,
            "  /{:<8}{value}    [written {}{notes}]",
            s.token.name,
            show(written)
        );
    }
    if !parsed.stray.is_empty() {
        let stray: Vec<String> = parsed
            .stray
            .iter()
            .filter_map(|&i| args.get(i))
            .map(|a| show(&a.value))
            .collect();
        let _ = writeln!(out, "  not switches nor values: {}", stray.join(", "));
    }

    let _ = writeln!(out);
    if !is_schtasks(event) {
        let _ = writeln!(
            out,
            "verdict: not a detection: the binary is not schtasks.exe (process_name {}, original_file_name {})",
            show(event.process_name),
            show(event.original_file_name)
        );
        return out;
    }
    let analysis: Analysis = risk::build(event, config, &args, &parsed);
    let _ = writeln!(
        out,
        "verdict: {} ({}): {}",
        if analysis.is_detection() {
            "DETECTION"
        } else {
            "not a detection"
        },
        analysis.reason,
        analysis.reason.describe()
    );
    let _ = writeln!(
        out,
        "operation: {}",
        analysis.operation.map_or("(none)", |op| op.as_str())
    );
    if let (Some(host), Some(norm)) = (&analysis.remote_host, &analysis.remote_host_normalized) {
        let _ = writeln!(
            out,
            "target system: {} (normalised {}; dest {})",
            show(host),
            show(norm),
            show(event.dest)
        );
    }
    if !analysis.evasions.is_empty() {
        let markers: Vec<&str> = analysis.evasions.iter().map(|e| e.as_str()).collect();
        let _ = writeln!(out, "evasion markers: {}", markers.join(", "));
    }
    if analysis.is_detection() {
        let _ = writeln!(out, "risk score: {}", analysis.risk_score);
        let _ = writeln!(out, "risk message: {}", analysis.risk_message);
    }
    out
}
