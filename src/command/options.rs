//! SPL options of `| schtasksremote`, read from `searchinfo.args` and validated strictly:
//! an unknown option, a repeated one, a bare word or a bad value is an error that names
//! the option and what is allowed, and suggests the nearest option or value ("did you
//! mean action=annotate?") by the rule the command line's clap parser uses.

use crate::cim::CimField;
use crate::detection::{DetectorConfig, Operations};
use crate::protocol::framing::DEFAULT_MAX_CHUNK_BYTES;

/// What happens to rows that are not detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pass only detections (the default, like Splunk's `anomalydetection`).
    Filter,
    /// Pass every row. Schtasks rows that are not detections get the fields that
    /// describe the parse (`detection_reason`, `task_*`, …); other rows get empty ones.
    Annotate,
}

/// The parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub action: Action,
    pub detector: DetectorConfig,
    /// `<cim field>_field=<input field>`: read this CIM field from that input field
    /// instead of the automatic mapping.
    pub field_overrides: Vec<(CimField, String)>,
    /// Refuse request chunks whose metadata plus body exceed this many bytes.
    pub max_chunk_bytes: u64,
    /// `strict=true`: a process-creation row that cannot be judged (no command line, or
    /// no image name) stops the search with an error instead of a warning.
    pub strict: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            action: Action::Filter,
            detector: DetectorConfig::default(),
            field_overrides: Vec::new(),
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
            strict: false,
        }
    }
}

/// The largest accepted `risk_score`. Risk-based alerting sums scores per object; a
/// single event above this is certainly a typo.
pub const MAX_RISK_SCORE: u32 = 10_000;
/// `max_chunk_mb` range, in MiB.
pub const MAX_CHUNK_MB: std::ops::RangeInclusive<u64> = 1..=16_384;

/// Every option name, for error messages and the README.
pub const OPTION_NAMES: [&str; 12] = [
    "action",
    "risk_score",
    "max_chunk_mb",
    "process_name_field",
    "process_path_field",
    "original_file_name_field",
    "process_field",
    "parent_process_name_field",
    "dest_field",
    "user_field",
    "strict",
    "operations",
];

/// A bad option. `Display` is the message shown in Splunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OptionError {
    /// The argument as Splunk passed it.
    pub argument: String,
    pub message: String,
}

/// Parses `searchinfo.args` (`["action=annotate", "risk_score=80"]`).
///
/// ```
/// use schtasksremote::command::options::{parse, Action};
/// let opts = parse(&["action=Annotate".to_string(), "risk_score=80".to_string()]).unwrap();
/// assert_eq!((opts.action, opts.detector.risk_score), (Action::Annotate, 80));
/// let err = parse(&["action=drop".to_string()]).unwrap_err();
/// assert_eq!(err.to_string(), "schtasksremote: invalid value action=\"drop\": allowed values are action=filter (the default: only detections) and action=annotate (every row)");
/// ```
pub fn parse(args: &[String]) -> Result<Options, OptionError> {
    let mut opts = Options::default();
    let mut seen: Vec<&str> = Vec::new();
    for arg in args {
        let fail = |message: String| OptionError {
            argument: arg.clone(),
            message: format!("schtasksremote: {message}"),
        };
        let Some((name, value)) = arg.split_once('=') else {
            return Err(fail(format!(
                "unexpected argument {arg:?}: options are written name=value without spaces \
                 (for example action=annotate){}; allowed options: {}",
                did_you_mean(&bare_word_guess(arg)),
                OPTION_NAMES.join(", ")
            )));
        };
        let Some(&known) = OPTION_NAMES.iter().find(|n| **n == name) else {
            let guess = nearest(name, OPTION_NAMES).map(|n| format!("{n}={value}"));
            return Err(fail(format!(
                "unknown option {name:?} in {arg:?}{}; allowed options: {}",
                did_you_mean(&guess),
                OPTION_NAMES.join(", ")
            )));
        };
        if seen.contains(&known) {
            return Err(fail(format!("option {known} is given more than once")));
        }
        seen.push(known);
        let bad_value = |allowed: &str| fail(format!("invalid value {name}={value:?}: {allowed}"));
        match known {
            "action" => {
                opts.action = if value.eq_ignore_ascii_case("filter") {
                    Action::Filter
                } else if value.eq_ignore_ascii_case("annotate") {
                    Action::Annotate
                } else {
                    let guess = nearest(value, ACTION_VALUES).map(|v| format!("action={v}"));
                    return Err(bad_value(&format!(
                        "allowed values are action=filter (the default: only detections) and \
                         action=annotate (every row){}",
                        did_you_mean(&guess)
                    )));
                };
            }
            "risk_score" => {
                opts.detector.risk_score = parse_int(value)
                    .and_then(|v| u32::try_from(v).ok())
                    .filter(|v| *v <= MAX_RISK_SCORE)
                    .ok_or_else(|| {
                        bad_value(&format!(
                            "allowed values are whole numbers from 0 to {MAX_RISK_SCORE} (the \
                             default is {})",
                            DetectorConfig::default().risk_score
                        ))
                    })?;
            }
            "max_chunk_mb" => {
                let mb = parse_int(value)
                    .filter(|v| MAX_CHUNK_MB.contains(v))
                    .ok_or_else(|| {
                        bad_value(&format!(
                            "allowed values are whole numbers of MiB from {} to {} (the default is \
                             {})",
                            MAX_CHUNK_MB.start(),
                            MAX_CHUNK_MB.end(),
                            DEFAULT_MAX_CHUNK_BYTES >> 20
                        ))
                    })?;
                opts.max_chunk_bytes = mb << 20;
            }
            "operations" => {
                opts.detector.operations = Operations::parse(value).map_err(|word| {
                    let guess = nearest(&word, Operations::NAMES.map(|op| op.as_str()))
                        .map(|op| format!("operation {op}"));
                    bad_value(&format!(
                        "{word:?} is not an operation; allowed values are a comma list of \
                         create, change and run, or all (the default is create: ESCU's \
                         rule){}",
                        did_you_mean(&guess)
                    ))
                })?;
            }
            "strict" => {
                opts.strict = parse_bool(value).ok_or_else(|| {
                    bad_value(
                        "allowed values are true or false (also t/f, yes/no, 1/0, any case; \
                         the default is false)",
                    )
                })?;
            }
            field_option => {
                let cim = field_option
                    .strip_suffix("_field")
                    .and_then(CimField::from_name)
                    .ok_or_else(|| fail(format!("unknown option {name:?}")))?;
                if value.trim().is_empty() {
                    return Err(bad_value(
                        "name the input field to read (for example dest_field=host)",
                    ));
                }
                opts.field_overrides.push((cim, value.to_string()));
            }
        }
    }
    Ok(opts)
}

/// The values of `action`, for suggestions.
const ACTION_VALUES: [&str; 2] = ["filter", "annotate"];

/// The candidate most like `given`, if any is alike enough: the rule of clap's own
/// "did you mean" (clap_builder `parser/features/suggestions.rs`: Jaro similarity above
/// 0.7, the most similar wins), so the search command and the CLI suggest alike. Case
/// is ignored, as SPL users do not expect `Action=` to differ from `action=`.
pub fn nearest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro(&given, c), c))
        .filter(|(similarity, _)| *similarity > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// What a bare word (no `=`) was probably meant to be: a value of `action`
/// (`annotate` for `action=annotate`), else an option missing its `=value`.
fn bare_word_guess(word: &str) -> Option<String> {
    if let Some(v) = nearest(word, ACTION_VALUES) {
        return Some(format!("action={v}"));
    }
    nearest(word, OPTION_NAMES).map(|n| format!("{n}=<value>"))
}

/// `; did you mean X?` or nothing.
fn did_you_mean(guess: &Option<String>) -> String {
    guess
        .as_ref()
        .map(|g| format!("; did you mean {g}?"))
        .unwrap_or_default()
}

/// A Splunk boolean, as SPL's own commands read them.
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// A plain decimal: digits only, no sign, no spaces, no exponent.
fn parse_int(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_filter_and_escu_risk_score() {
        let opts = parse(&[]).unwrap();
        assert_eq!(opts.action, Action::Filter);
        assert_eq!(opts.detector, DetectorConfig::default());
        assert_eq!(opts.max_chunk_bytes, DEFAULT_MAX_CHUNK_BYTES);
        assert!(!opts.strict);
        assert!(parse(&args(&["strict=True"])).unwrap().strict);
        assert!(!parse(&args(&["strict=0"])).unwrap().strict);
    }

    #[test]
    fn field_overrides_name_cim_fields() {
        let opts = parse(&args(&[
            "process_field=cmd",
            "dest_field=host",
            "max_chunk_mb=2",
        ]))
        .unwrap();
        assert_eq!(
            opts.field_overrides,
            vec![
                (CimField::Process, "cmd".into()),
                (CimField::Dest, "host".into())
            ]
        );
        assert_eq!(opts.max_chunk_bytes, 2 << 20);
    }

    #[test]
    fn each_bad_argument_names_itself_and_what_is_allowed() {
        let cases: [(&[&str], &str); 10] = [
            (&["bogus=1"], "unknown option \"bogus\""),
            (
                &["annotate"],
                "unexpected argument \"annotate\": options are written name=value",
            ),
            (&["action=x", "action=y"], "invalid value action=\"x\""),
            (
                &["action=filter", "action=annotate"],
                "option action is given more than once",
            ),
            (&["risk_score=-1"], "whole numbers from 0 to 10000"),
            (&["risk_score=10001"], "invalid value risk_score=\"10001\""),
            (&["risk_score= 5"], "invalid value risk_score=\" 5\""),
            (&["max_chunk_mb=0"], "whole numbers of MiB from 1 to 16384"),
            (&["user_field="], "name the input field to read"),
            (&["strict=maybe"], "allowed values are true or false"),
        ];
        for (list, expected) in cases {
            let err = parse(&args(list)).unwrap_err();
            assert!(err.to_string().contains(expected), "{list:?}: {err}");
            assert!(err.to_string().starts_with("schtasksremote: "), "{err}");
        }
    }

    /// Issue 13: `operations=` adds `/change` and `/run`; `/create` stays on.
    #[test]
    fn operations_adds_change_and_run_to_create() {
        use crate::detection::Operation;
        let ops = parse(&args(&["operations=run"]))
            .unwrap()
            .detector
            .operations;
        assert!(ops.contains(Operation::Create) && ops.contains(Operation::Run));
        assert!(!ops.contains(Operation::Change));
        let all = parse(&args(&["operations=ALL"]))
            .unwrap()
            .detector
            .operations;
        assert_eq!(all, Operations::ALL);
        let err = parse(&args(&["operations=create,chnage"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"chnage\" is not an operation"), "{err}");
        assert!(err.contains("did you mean operation change?"), "{err}");
        assert!(parse(&args(&["operations=query"])).is_err());
    }

    /// Issue 12 item 2: a typo gets the nearest option or value, as the CLI does.
    #[test]
    fn typos_get_the_nearest_option_or_value() {
        let cases: [(&str, &str); 8] = [
            ("actoin=annotate", "did you mean action=annotate?"),
            ("Action=filter", "did you mean action=filter?"),
            ("risk_scroe=80", "did you mean risk_score=80?"),
            ("dest_feild=host", "did you mean dest_field=host?"),
            ("action=anotate", "did you mean action=annotate?"),
            ("action=FILTRE", "did you mean action=filter?"),
            ("annotate", "did you mean action=annotate?"),
            ("risk_score", "did you mean risk_score=<value>?"),
        ];
        for (arg, expected) in cases {
            let err = parse(&args(&[arg])).unwrap_err().to_string();
            assert!(err.contains(expected), "{arg}: {err}");
        }
        // Nothing alike: no guess, only the list of what is allowed.
        for arg in ["zzz=1", "action=drop", "42"] {
            let err = parse(&args(&[arg])).unwrap_err().to_string();
            assert!(!err.contains("did you mean"), "{arg}: {err}");
        }
    }
}
