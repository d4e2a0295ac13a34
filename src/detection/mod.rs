//! The detection core: decide, the way schtasks.exe itself would, whether a
//! process-creation event creates a scheduled task on a remote system.
//!
//! Pure functions only: no Splunk, no I/O. The search command and the offline scanner
//! both call [`analyze`].
//!
//! INTERFACE CONTRACT (shared with `command` and `replay`; do not change the public
//! names or field types below without updating every caller):
//! - [`ProcessEvent`]: the input, CIM names, empty string = absent.
//! - [`is_schtasks`]: the allocation-free reject path.
//! - [`analyze`]: `None` when the event is not schtasks (no allocation), otherwise an
//!   [`Analysis`].
//! - [`Analysis::is_detection`], [`Analysis::fields`]: what callers emit.
//! - [`OUTPUT_FIELDS`]: the names of the fields we add, in output order.
//!
//! How a verdict is made: [`argv`] splits the command line the way Windows does,
//! [`grammar`] reads it with the schtasks switch table, [`locality`] judges the `/s`
//! target, [`risk`] renders the ESCU risk message with passwords masked.
//!
//! ```
//! use schtasksremote::detection::{analyze, DetectorConfig, ProcessEvent, Reason};
//!
//! let event = ProcessEvent {
//!     process_name: "schtasks.exe",
//!     process: r#"schtasks -create "/s" \\WS6 /tn t /tr c:\x.exe /sc once /st 00:00"#,
//!     dest: "ws5.corp.local",
//!     ..Default::default()
//! };
//! let analysis = analyze(&event, &DetectorConfig::default()).unwrap();
//! assert_eq!(analysis.reason, Reason::RemoteCreate);
//! assert_eq!(analysis.remote_host_normalized.as_deref(), Some("ws6"));
//!
//! let other = ProcessEvent { process_name: "cmd.exe", ..event };
//! assert!(analyze(&other, &DetectorConfig::default()).is_none());
//! ```

pub mod argv;
mod explain;
pub mod grammar;
pub mod locality;
mod risk;

use std::borrow::Cow;
use std::fmt;

/// One process-creation event, by CIM `Endpoint.Processes` field names.
/// An empty string means the field is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessEvent<'a> {
    pub process_name: &'a str,
    pub process_path: &'a str,
    pub original_file_name: &'a str,
    /// The full command line.
    pub process: &'a str,
    pub parent_process_name: &'a str,
    /// The host the process ran on (the *source* of a remote task creation).
    pub dest: &'a str,
    pub user: &'a str,
}

/// Settings of the detection that a user may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorConfig {
    /// ESCU's risk score is 63 (impact 70 x confidence 90 / 100).
    pub risk_score: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            risk_score: RISK_SCORE,
        }
    }
}

/// ESCU "Schtasks scheduling job on remote system" risk score.
pub const RISK_SCORE: u32 = 63;
/// The detection's name, as ESCU names it.
pub const DETECTION_NAME: &str = "Schtasks scheduling job on remote system";
/// MITRE ATT&CK technique IDs, as ESCU tags them.
pub const MITRE_TECHNIQUE_IDS: [&str; 2] = ["T1053.005", "T1053"];
/// ESCU's risk message template (v6-v9).
pub const RISK_MESSAGE_TEMPLATE: &str =
    "A schedule task process $process_name$ with remote job command-line $process$ in host $dest$ by $user$.";

/// The names of the fields that [`Analysis::fields`] yields, in output order.
/// The search command adds exactly these columns; the scanner reports them.
pub const OUTPUT_FIELDS: [&str; 17] = [
    "detection_name",
    "detection_reason",
    "risk_score",
    "risk_message",
    "mitre_technique_id",
    "schtasks_operation",
    "remote_host",
    "remote_host_normalized",
    "task_name",
    "task_action",
    "task_schedule",
    "task_run_as",
    "task_connect_user",
    "task_xml_file",
    "task_password_supplied",
    "evasion_markers",
    "process_masked",
];

/// The schtasks operation (the first operation switch on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Query,
    Run,
    Delete,
    End,
    Change,
    ShowSid,
}

/// An evasion technique seen on the command line or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Evasion {
    /// A switch written with `-` instead of `/`.
    DashPrefix,
    /// A switch written with a Unicode dash (U+2013, U+2014, U+2015, U+FE63).
    UnicodeDash,
    /// A switch name that only matches after NFKC folding (`/ˢ`, fullwidth letters).
    NfkcFolded,
    /// Double quotes inside a switch name (`/cr"ea"te`, `"/s"`).
    QuoteInsertion,
    /// `original_file_name` is schtasks.exe but the image name is not.
    RenamedBinary,
}

/// Why an event is, or is not, a detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `/create` with a remote `/s` target: a detection.
    RemoteCreate,
    /// An operation other than `/create` (or none at all).
    NotCreate(Option<Operation>),
    /// `/create` without a `/s` switch.
    NoTargetSystem,
    /// `/create` with `/s` but no (or an empty) value.
    EmptyTargetSystem,
    /// The `/s` target is the local machine: `.`, `localhost`, a loopback address.
    LoopbackTarget,
    /// The `/s` target is the host the command ran on (`dest`).
    SelfTarget,
}

/// The full result of analysing a schtasks event. Owned: built only for candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub reason: Reason,
    pub operation: Option<Operation>,
    /// The command line split the way Windows splits it.
    pub argv: Vec<String>,
    /// The `/s` value as written (after quote removal).
    pub remote_host: Option<String>,
    /// The `/s` value normalised: leading `\\` dropped, lower-cased.
    pub remote_host_normalized: Option<String>,
    pub task_name: Option<String>,
    pub task_action: Option<String>,
    pub schedule: Option<String>,
    pub run_as: Option<String>,
    pub connect_user: Option<String>,
    pub xml_file: Option<String>,
    /// `/p` or `/rp` was on the command line (its value is never reported).
    pub password_supplied: bool,
    /// Sorted, without duplicates.
    pub evasions: Vec<Evasion>,
    pub risk_score: u32,
    /// The rendered ESCU risk message, passwords masked. Empty unless a detection.
    pub risk_message: String,
    /// The command line with `/p` and `/rp` values replaced by `****`.
    pub process_masked: String,
}

/// One output field's value: absent, a single value, or a multivalue list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Empty,
    One(Cow<'a, str>),
    Many(Vec<&'a str>),
}

impl Operation {
    /// The switch name, lower-case, as reported in `schtasks_operation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Query => "query",
            Operation::Run => "run",
            Operation::Delete => "delete",
            Operation::End => "end",
            Operation::Change => "change",
            Operation::ShowSid => "showsid",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Evasion {
    /// The marker as reported in `evasion_markers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Evasion::DashPrefix => "dash_prefix",
            Evasion::UnicodeDash => "unicode_dash",
            Evasion::NfkcFolded => "nfkc_folded",
            Evasion::QuoteInsertion => "quote_insertion",
            Evasion::RenamedBinary => "renamed_binary",
        }
    }
}

impl fmt::Display for Evasion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reason {
    /// A stable code, the value of `detection_reason` (searchable in SPL).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::RemoteCreate => "remote_create",
            Reason::NotCreate(_) => "not_create",
            Reason::NoTargetSystem => "no_target_system",
            Reason::EmptyTargetSystem => "empty_target_system",
            Reason::LoopbackTarget => "loopback_target",
            Reason::SelfTarget => "self_target",
        }
    }

    /// One sentence for people (`schtasksremote explain`).
    pub fn describe(&self) -> String {
        match self {
            Reason::RemoteCreate => "/create with a /s target that is another machine".into(),
            Reason::NotCreate(Some(op)) => format!("operation /{op} does not create a task"),
            Reason::NotCreate(None) => "no schtasks operation switch (no /create)".into(),
            Reason::NoTargetSystem => "/create without /s: the task is created locally".into(),
            Reason::EmptyTargetSystem => {
                "/s has no value (or an empty one): the task is created locally".into()
            }
            Reason::LoopbackTarget => {
                "/s names the local machine (., localhost or a loopback address)".into()
            }
            Reason::SelfTarget => "/s names the host the command ran on (dest)".into(),
        }
    }
}

/// Writes [`Reason::code`]: the value of the `detection_reason` field.
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Analysis {
    /// Whether this event is a remote scheduled-task creation.
    pub fn is_detection(&self) -> bool {
        self.reason == Reason::RemoteCreate
    }

    /// The fields we add, named and ordered as [`OUTPUT_FIELDS`]. Values never contain
    /// a `/p` or `/rp` password.
    ///
    /// | field | value |
    /// |---|---|
    /// | `detection_name` | [`DETECTION_NAME`] (the analytic that judged the event) |
    /// | `detection_reason` | [`Reason::code`]: `remote_create` for a detection, else why not |
    /// | `risk_score` | the configured score (63) for a detection; empty otherwise |
    /// | `risk_message` | ESCU's message, rendered, passwords masked; empty otherwise |
    /// | `mitre_technique_id` | multivalue `T1053.005`, `T1053` |
    /// | `schtasks_operation` | `create`, `query`, `run`, `delete`, `end`, `change`, `showsid`; empty if none |
    /// | `remote_host` | the `/s` value as written (quotes removed) |
    /// | `remote_host_normalized` | the `/s` value with leading `\\` dropped, lower-cased |
    /// | `task_name` | `/tn` |
    /// | `task_action` | `/tr` (what the task runs) |
    /// | `task_schedule` | `/sc` |
    /// | `task_run_as` | `/ru` (account the task runs as) |
    /// | `task_connect_user` | `/u` (account schtasks connects to the remote system as) |
    /// | `task_xml_file` | `/xml` |
    /// | `task_password_supplied` | `true` when `/p` or `/rp` is present, else `false` |
    /// | `evasion_markers` | multivalue: `dash_prefix`, `unicode_dash`, `nfkc_folded`, `quote_insertion`, `renamed_binary` |
    /// | `process_masked` | the command line with `/p` and `/rp` values replaced by `****` |
    ///
    /// Switch values are empty when the switch is absent.
    pub fn fields(&self) -> [(&'static str, FieldValue<'_>); OUTPUT_FIELDS.len()] {
        fn opt(value: &Option<String>) -> FieldValue<'_> {
            value
                .as_deref()
                .map_or(FieldValue::Empty, |v| FieldValue::One(Cow::Borrowed(v)))
        }
        let detection = self.is_detection();
        let [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16] =
            OUTPUT_FIELDS;
        [
            (f0, FieldValue::One(Cow::Borrowed(DETECTION_NAME))),
            (f1, FieldValue::One(Cow::Borrowed(self.reason.code()))),
            (
                f2,
                if detection {
                    FieldValue::One(Cow::Owned(self.risk_score.to_string()))
                } else {
                    FieldValue::Empty
                },
            ),
            (
                f3,
                if self.risk_message.is_empty() {
                    FieldValue::Empty
                } else {
                    FieldValue::One(Cow::Borrowed(&self.risk_message))
                },
            ),
            (f4, FieldValue::Many(MITRE_TECHNIQUE_IDS.to_vec())),
            (
                f5,
                self.operation.map_or(FieldValue::Empty, |op| {
                    FieldValue::One(Cow::Borrowed(op.as_str()))
                }),
            ),
            (f6, opt(&self.remote_host)),
            (f7, opt(&self.remote_host_normalized)),
            (f8, opt(&self.task_name)),
            (f9, opt(&self.task_action)),
            (f10, opt(&self.schedule)),
            (f11, opt(&self.run_as)),
            (f12, opt(&self.connect_user)),
            (f13, opt(&self.xml_file)),
            (
                f14,
                FieldValue::One(Cow::Borrowed(if self.password_supplied {
                    "true"
                } else {
                    "false"
                })),
            ),
            (
                f15,
                if self.evasions.is_empty() {
                    FieldValue::Empty
                } else {
                    FieldValue::Many(self.evasions.iter().map(|e| e.as_str()).collect())
                },
            ),
            (f16, FieldValue::One(Cow::Borrowed(&self.process_masked))),
        ]
    }
}

const SCHTASKS: &str = "schtasks.exe";

/// The file-name part of a Windows or POSIX path, without allocating.
fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

fn image_is_schtasks(event: &ProcessEvent<'_>) -> bool {
    file_name(event.process_name).eq_ignore_ascii_case(SCHTASKS)
        || file_name(event.process_path).eq_ignore_ascii_case(SCHTASKS)
}

/// True when the event's binary is schtasks.exe (by image name, path or original file
/// name), ASCII case-insensitive. Allocation-free: this is the reject path for ~98% of
/// rows.
pub fn is_schtasks(event: &ProcessEvent<'_>) -> bool {
    image_is_schtasks(event) || event.original_file_name.eq_ignore_ascii_case(SCHTASKS)
}

/// Analyse one event. `None` when it is not schtasks (no allocation on that path).
pub fn analyze(event: &ProcessEvent<'_>, config: &DetectorConfig) -> Option<Analysis> {
    if !is_schtasks(event) {
        return None;
    }
    let args = argv::split(event.process);
    let parsed = grammar::parse(&args);
    Some(risk::build(event, config, &args, &parsed))
}

/// A human-readable explanation: argv as Windows splits it, the parsed switches, the
/// verdict and its reason. Backs `schtasksremote explain`.
pub fn explain(event: &ProcessEvent<'_>, config: &DetectorConfig) -> String {
    explain::render(event, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(process: &str) -> ProcessEvent<'_> {
        ProcessEvent {
            process_name: "schtasks.exe",
            process,
            dest: "ws5.corp.local",
            user: "alice",
            ..Default::default()
        }
    }

    fn run(process: &str) -> Analysis {
        analyze(&event(process), &DetectorConfig::default()).expect("schtasks event")
    }

    #[test]
    fn is_schtasks_by_name_path_or_original_file_name_only() {
        let by = |name: &str, path: &str, ofn: &str| {
            is_schtasks(&ProcessEvent {
                process_name: name,
                process_path: path,
                original_file_name: ofn,
                ..Default::default()
            })
        };
        assert!(by("SchTasks.EXE", "", ""));
        assert!(by("", r"C:\Windows\System32\schtasks.exe", ""));
        assert!(by(
            "",
            r"\Device\HarddiskVolume1\Windows\System32\SCHTASKS.exe",
            ""
        ));
        assert!(by("x.exe", "", "schtasks.exe"));
        assert!(!by("cmd.exe", r"C:\Windows\System32\cmd.exe", "Cmd.Exe"));
        assert!(!by("schtasks_report.exe", "", ""));
        assert!(!by("", "", ""));
    }

    #[test]
    fn remote_create_is_a_detection_with_rendered_message() {
        let a = run("schtasks /create /s WS6 /u corp\\bob /p s3cret /tn t /tr c:\\x.exe /sc once");
        assert_eq!(a.reason, Reason::RemoteCreate);
        assert_eq!(a.risk_score, 63);
        assert_eq!(
            a.risk_message,
            "A schedule task process schtasks.exe with remote job command-line \
             schtasks /create /s WS6 /u corp\\bob /p **** /tn t /tr c:\\x.exe /sc once \
             in host ws5.corp.local by alice."
        );
        assert!(!a.argv.iter().any(|v| v.contains("s3cret")));
        assert!(a.password_supplied);
    }

    #[test]
    fn fields_follow_output_fields_order_and_hide_passwords() {
        let a =
            run("schtasks -create /s \\\\WS6 /ru SYSTEM /rp pw /tn t /tr x /sc daily /xml f.xml");
        let fields = a.fields();
        let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, OUTPUT_FIELDS);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .expect("field present")
        };
        let one = |s: &'static str| FieldValue::One(Cow::Borrowed(s));
        assert_eq!(get("detection_reason"), one("remote_create"));
        assert_eq!(get("risk_score"), one("63"));
        assert_eq!(
            get("mitre_technique_id"),
            FieldValue::Many(vec!["T1053.005", "T1053"])
        );
        assert_eq!(get("schtasks_operation"), one("create"));
        assert_eq!(get("remote_host"), one("\\\\WS6"));
        assert_eq!(get("remote_host_normalized"), one("ws6"));
        assert_eq!(get("task_run_as"), one("SYSTEM"));
        assert_eq!(get("task_xml_file"), one("f.xml"));
        assert_eq!(get("task_password_supplied"), one("true"));
        assert_eq!(
            get("evasion_markers"),
            FieldValue::Many(vec!["dash_prefix"])
        );
        for (_, value) in &fields {
            let text = format!("{value:?}");
            assert!(!text.contains("pw "), "password leaked: {text}");
        }
    }

    #[test]
    fn non_detections_have_no_risk() {
        let a = run("schtasks /create /s localhost /tn t /tr x /sc daily");
        assert_eq!(a.reason, Reason::LoopbackTarget);
        assert_eq!(a.risk_message, "");
        assert_eq!(a.fields()[2].1, FieldValue::Empty);
        assert_eq!(a.fields()[3].1, FieldValue::Empty);
    }

    #[test]
    fn explain_shows_argv_switches_and_verdict() {
        let text = explain(
            &event(r#"schtasks /cr"ea"te /tr "cmd /s /c x" /s WS6 /rp hunter2"#),
            &DetectorConfig::default(),
        );
        assert!(
            text.contains(r#"[1] "/create"  (quotes removed)"#),
            "{text}"
        );
        assert!(text.contains(r#"/tr       = "cmd /s /c x""#), "{text}");
        assert!(
            text.contains("verdict: DETECTION (remote_create)"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
