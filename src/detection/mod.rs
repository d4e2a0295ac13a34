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
    One(std::borrow::Cow<'a, str>),
    Many(Vec<&'a str>),
}

impl Analysis {
    /// Whether this event is a remote scheduled-task creation.
    pub fn is_detection(&self) -> bool {
        self.reason == Reason::RemoteCreate
    }

    /// The fields we add, named and ordered as [`OUTPUT_FIELDS`].
    pub fn fields(&self) -> [(&'static str, FieldValue<'_>); OUTPUT_FIELDS.len()] {
        unimplemented!("detection core: issue 2")
    }
}

/// True when the event's binary is schtasks.exe (by image name, path or original file
/// name). Allocation-free: this is the reject path for ~98% of rows.
pub fn is_schtasks(event: &ProcessEvent<'_>) -> bool {
    let _ = event;
    unimplemented!("detection core: issue 2")
}

/// Analyse one event. `None` when it is not schtasks (no allocation on that path).
pub fn analyze(event: &ProcessEvent<'_>, config: &DetectorConfig) -> Option<Analysis> {
    let _ = (event, config);
    unimplemented!("detection core: issue 2")
}

/// A human-readable explanation: argv as Windows splits it, the parsed switches, the
/// verdict and its reason. Backs `schtasksremote explain`.
pub fn explain(event: &ProcessEvent<'_>, config: &DetectorConfig) -> String {
    let _ = (event, config);
    unimplemented!("detection core: issue 2")
}
