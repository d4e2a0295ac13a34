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
//! How the verdict is made: [`is_schtasks`] looks at the binary's names only; then
//! [`argv::split`] splits the command line as `CommandLineToArgvW` does,
//! [`grammar::Parse`] assigns values to switches by the schtasks grammar, and
//! [`locality::locate`] decides whether the `/s` target is another machine.
//!
//! ```
//! use schtasksremote::detection::{analyze, DetectorConfig, ProcessEvent, Reason};
//! let event = ProcessEvent {
//!     process_name: "schtasks.exe",
//!     process: r#"schtasks -cr"ea"te ﹣s \\FILESRV01 /tn t /tr "c:\x.exe /s" /sc once"#,
//!     dest: "ws1.corp.local",
//!     ..Default::default()
//! };
//! let a = analyze(&event, &DetectorConfig::default()).unwrap();
//! assert_eq!(a.reason, Reason::RemoteCreate);
//! assert_eq!(a.remote_host_normalized.as_deref(), Some("filesrv01"));
//! ```

pub mod argv;
mod explain;
pub mod grammar;
pub mod locality;
mod risk;
pub mod task;

use std::borrow::Cow;
use std::fmt;

use grammar::{Parse, Switch};
use locality::Locality;

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
    /// The risk score of ESCU's detection (`remote_create`). ESCU's is 63 (impact 70 x
    /// confidence 90 / 100). The other kinds keep their own ([`Kind::risk_score`]).
    pub risk_score: u32,
    /// Which remote schtasks operations are detections ([`Operations`]); the default,
    /// `create` only, is ESCU's rule.
    pub operations: Operations,
}

/// A word of an operation list that is not an operation ([`Operations::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an operation: give a comma list of create, change and run, or all")]
pub struct UnknownOperation(pub String);

/// The command line's `--operations`: [`Operations::parse`] with a typed error.
impl std::str::FromStr for Operations {
    type Err = UnknownOperation;

    fn from_str(value: &str) -> Result<Operations, UnknownOperation> {
        Operations::parse(value).map_err(UnknownOperation)
    }
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            risk_score: RISK_SCORE,
            operations: Operations::CREATE,
        }
    }
}

/// The set of schtasks operations that are judged as remote-task detections when they
/// target another machine with `/s`: `/create` (ESCU's rule, always on), `/change` and
/// `/run` (issue 13). `/query` is inventory, `/delete` and `/end` clean up after a
/// `/create` or `/run` that was already seen; none of them is a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operations(u8);

impl Operations {
    /// `/create` only: ESCU's rule, the search command's default.
    pub const CREATE: Operations = Operations(1);
    /// `/create`, `/change` and `/run`: `operations=all`, and `scan`'s default.
    pub const ALL: Operations = Operations(1 | 2 | 4);
    /// The operations that may be named, in the order the option lists them.
    pub const NAMES: [Operation; 3] = [Operation::Create, Operation::Change, Operation::Run];

    fn bit(op: Operation) -> u8 {
        match op {
            Operation::Create => 1,
            Operation::Change => 2,
            Operation::Run => 4,
            _ => 0,
        }
    }

    /// Whether `op` is judged as a detection.
    pub fn contains(self, op: Operation) -> bool {
        self.0 & Self::bit(op) != 0
    }

    /// Parses the `operations=` value: a comma list of `create`, `change`, `run`
    /// (ASCII case ignored, blanks around names ignored), or `all`. `/create` is always
    /// included: ESCU's detection cannot be switched off. `Err` names the word that is
    /// not an operation.
    ///
    /// ```
    /// use schtasksremote::detection::{Operation, Operations};
    /// let ops = Operations::parse("Change, run").unwrap();
    /// assert!(ops.contains(Operation::Create) && ops.contains(Operation::Run));
    /// assert_eq!(Operations::parse("all"), Ok(Operations::ALL));
    /// assert_eq!(Operations::parse("create,query"), Err("query".to_string()));
    /// ```
    pub fn parse(value: &str) -> Result<Operations, String> {
        if value.trim().eq_ignore_ascii_case("all") {
            return Ok(Operations::ALL);
        }
        let mut set = Operations::CREATE;
        for word in value.split(',') {
            let word = word.trim();
            let op = Self::NAMES
                .into_iter()
                .find(|op| op.as_str().eq_ignore_ascii_case(word))
                .ok_or_else(|| word.to_owned())?;
            set.0 |= Self::bit(op);
        }
        Ok(set)
    }

    /// The operations in the set, as the option writes them (`create,change`).
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .into_iter()
            .filter(|op| self.contains(*op))
            .map(Operation::as_str)
            .collect()
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
pub const OUTPUT_FIELDS: [&str; 20] = [
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
    "detection_side",
    "task_author",
    "src",
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

impl Operation {
    /// The switch name without prefix, as reported in `schtasks_operation`.
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

impl Evasion {
    /// The marker's name in `evasion_markers`.
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
    /// `/change` with a remote `/s` target (when [`Operations`] holds `change`).
    RemoteChange,
    /// `/run` with a remote `/s` target (when [`Operations`] holds `run`).
    RemoteRun,
    /// Target side: a 4698/4702 whose `RpcCallClientLocality` and `ClientProcessId`
    /// are both 0 ([`task::analyze_task`]).
    RemoteRpcTask,
    /// Target side: a 4698/4702 whose RPC fields name a local caller.
    LocalRpcCaller,
    /// Target side: a 4698/4702 without (both) RPC fields, and no network logon known.
    NoRpcCallerFields,
    /// Target side: a 4698/4702 without the RPC fields, registered in a network logon
    /// (4624 type 3) from another machine ([`task::analyze_network_logon_task`]).
    NetworkLogonTask,
    /// Target side: a 5145 write to the `atsvc` pipe on `IPC$`
    /// ([`task::analyze_share_access`]).
    AtsvcPipeWrite,
}

impl Reason {
    /// The reason's name in `detection_reason`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::RemoteCreate => "remote_create",
            Reason::NotCreate(_) => "not_create",
            Reason::NoTargetSystem => "no_target_system",
            Reason::EmptyTargetSystem => "empty_target_system",
            Reason::LoopbackTarget => "loopback_target",
            Reason::SelfTarget => "self_target",
            Reason::RemoteChange => "remote_change",
            Reason::RemoteRun => "remote_run",
            Reason::RemoteRpcTask => "remote_rpc_task",
            Reason::LocalRpcCaller => "local_rpc_caller",
            Reason::NoRpcCallerFields => "no_rpc_caller_fields",
            Reason::NetworkLogonTask => "network_logon_task",
            Reason::AtsvcPipeWrite => "atsvc_pipe_write",
        }
    }

    /// The detection this reason makes, if any; `operation` tells a 4698 from a 4702.
    pub fn kind(&self, operation: Option<Operation>) -> Option<Kind> {
        match self {
            Reason::RemoteCreate => Some(Kind::RemoteCreate),
            Reason::RemoteChange => Some(Kind::RemoteChange),
            Reason::RemoteRun => Some(Kind::RemoteRun),
            Reason::RemoteRpcTask if operation == Some(Operation::Change) => {
                Some(Kind::RpcTaskUpdated)
            }
            Reason::RemoteRpcTask => Some(Kind::RpcTaskCreated),
            Reason::NetworkLogonTask => Some(Kind::NetworkLogonTask),
            Reason::AtsvcPipeWrite => Some(Kind::AtsvcPipe),
            _ => None,
        }
    }

    /// Which end of the lateral movement the event was logged on.
    pub fn side(&self) -> Side {
        match self {
            Reason::RemoteRpcTask
            | Reason::LocalRpcCaller
            | Reason::NoRpcCallerFields
            | Reason::NetworkLogonTask
            | Reason::AtsvcPipeWrite => Side::Target,
            _ => Side::Source,
        }
    }
}

/// Which end saw it (`detection_side`): the machine the attacker typed on (`source`,
/// where schtasks.exe ran) or the machine the task was registered on (`target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    /// `source` or `target`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// Every detection this crate makes, each with its own name, risk score and message.
///
/// | kind | `detection_name` | side | risk | where the name, score and message come from |
/// |---|---|---|---|---|
/// | `RemoteCreate` | Schtasks scheduling job on remote system | source | 63 | ESCU 1297fb80 (impact 70 x confidence 90) |
/// | `RemoteChange` | Schtasks changing job on remote system | source | 63 | ours: a new action on a trusted task name is as much a remote task as a new one, so ESCU's create figures |
/// | `RemoteRun` | Scheduled Task Initiation on Remote Endpoint | source | 54 | ESCU 95cf4608 (impact 90 x confidence 60) and its message |
/// | `RpcTaskCreated` | Remote Scheduled Task Creation via RPC | target | 56 | Elastic's rule name; ours: impact 70 x confidence 80 (tool-agnostic, both fields needed) |
/// | `RpcTaskUpdated` | Remote Scheduled Task Update via RPC | target | 56 | as above, for 4702 |
/// | `NetworkLogonTask` | Scheduled Task Registered in a Network Logon | target | 49 | Sigma's unsupported win_remote_schtask; ours: impact 70 x confidence 70 (a correlation of two events) |
/// | `AtsvcPipe` | Remote Task Creation via ATSVC Named Pipe | target | 49 | Sigma win_security_atsvc_task (level medium); ours: impact 70 x confidence 70 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    RemoteCreate,
    RemoteChange,
    RemoteRun,
    RpcTaskCreated,
    RpcTaskUpdated,
    NetworkLogonTask,
    AtsvcPipe,
}

impl Kind {
    /// Every kind, in the table's order.
    pub const ALL: [Kind; 7] = [
        Kind::RemoteCreate,
        Kind::RemoteChange,
        Kind::RemoteRun,
        Kind::RpcTaskCreated,
        Kind::RpcTaskUpdated,
        Kind::NetworkLogonTask,
        Kind::AtsvcPipe,
    ];

    /// The `detection_name`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::RemoteCreate => DETECTION_NAME,
            Kind::RemoteChange => "Schtasks changing job on remote system",
            Kind::RemoteRun => "Scheduled Task Initiation on Remote Endpoint",
            Kind::RpcTaskCreated => "Remote Scheduled Task Creation via RPC",
            Kind::RpcTaskUpdated => "Remote Scheduled Task Update via RPC",
            Kind::NetworkLogonTask => "Scheduled Task Registered in a Network Logon",
            Kind::AtsvcPipe => "Remote Task Creation via ATSVC Named Pipe",
        }
    }

    /// The default risk score (the table's); `remote_create`'s is
    /// [`DetectorConfig::risk_score`].
    pub fn risk_score(self) -> u32 {
        match self {
            Kind::RemoteCreate | Kind::RemoteChange => RISK_SCORE,
            Kind::RemoteRun => 54,
            Kind::RpcTaskCreated | Kind::RpcTaskUpdated => 56,
            Kind::NetworkLogonTask | Kind::AtsvcPipe => 49,
        }
    }

    /// The risk message template (`$field$` is the field's value).
    pub fn message_template(self) -> &'static str {
        match self {
            Kind::RemoteCreate => RISK_MESSAGE_TEMPLATE,
            Kind::RemoteChange => "A schedule task process $process_name$ changed a job on remote host $remote_host$ with command-line $process$ in host $dest$ by $user$.",
            Kind::RemoteRun => "A Windows Scheduled Task was ran on a remote endpoint from $dest$",
            Kind::RpcTaskCreated => "Scheduled task $task_name$ was created on $dest$ by $user$ over RPC from a remote client.",
            Kind::RpcTaskUpdated => "Scheduled task $task_name$ was updated on $dest$ by $user$ over RPC from a remote client.",
            Kind::NetworkLogonTask => "Scheduled task $task_name$ was registered on $dest$ by $user$ in a network logon from $src$.",
            Kind::AtsvcPipe => "The AT service pipe atsvc on $dest$ was opened for writing by $user$ from $src$.",
        }
    }

    /// MITRE ATT&CK technique IDs: T1053.005 (Scheduled Task), T1053.002 (At) for the
    /// AT service.
    pub fn mitre_technique_ids(self) -> &'static [&'static str] {
        match self {
            Kind::AtsvcPipe => &["T1053.002", "T1053"],
            _ => &MITRE_TECHNIQUE_IDS,
        }
    }

    /// Which end sees it.
    pub fn side(self) -> Side {
        match self {
            Kind::RemoteCreate | Kind::RemoteChange | Kind::RemoteRun => Side::Source,
            _ => Side::Target,
        }
    }
}

/// The snake-case name emitted as `detection_reason` (`remote_create`, `not_create`,
/// `no_target_system`, `empty_target_system`, `loopback_target`, `self_target`).
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The full result of analysing a schtasks event. Owned: built only for candidates.
///
/// Every field is filled for every schtasks event, detection or not; `risk_message`
/// stays empty unless [`Analysis::is_detection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The verdict and why (`detection_reason`).
    pub reason: Reason,
    /// The first operation switch (`schtasks_operation`).
    pub operation: Option<Operation>,
    /// The command line split the way Windows splits it; `/p` and `/rp` values are
    /// replaced by `****` here too.
    pub argv: Vec<String>,
    /// The `/s` value as written (after quote removal), for any operation
    /// (`remote_host`).
    pub remote_host: Option<String>,
    /// The `/s` value normalised: blanks trimmed, leading `\\` dropped, lower-cased
    /// (`remote_host_normalized`).
    pub remote_host_normalized: Option<String>,
    /// `/tn` (`task_name`).
    pub task_name: Option<String>,
    /// `/tr`, the program the task runs (`task_action`).
    pub task_action: Option<String>,
    /// `/sc`, the schedule type (`task_schedule`).
    pub schedule: Option<String>,
    /// `/ru`, the account the task runs as (`task_run_as`).
    pub run_as: Option<String>,
    /// `/u`, the account schtasks connects to the remote system as
    /// (`task_connect_user`).
    pub connect_user: Option<String>,
    /// `/xml`, the task definition file (`task_xml_file`).
    pub xml_file: Option<String>,
    /// `/p` or `/rp` carried a password on the command line: a value other than empty
    /// or `*` (which make schtasks prompt). The value is never reported
    /// (`task_password_supplied`).
    pub password_supplied: bool,
    /// Sorted, without duplicates (`evasion_markers`).
    pub evasions: Vec<Evasion>,
    /// From [`DetectorConfig::risk_score`] (`risk_score`).
    pub risk_score: u32,
    /// The rendered ESCU risk message, passwords masked. Empty unless a detection
    /// (`risk_message`).
    pub risk_message: String,
    /// The command line with `/p` and `/rp` values replaced by `****`
    /// (`process_masked`). The event's own `process` field is never changed.
    pub process_masked: String,
    /// Target side: the task XML's `RegistrationInfo/Author` (`task_author`).
    pub task_author: Option<String>,
    /// Target side: the remote caller's address or name, from the network logon or
    /// the share access (`src`, the CIM name for a connection's source).
    pub src: Option<String>,
}

/// One output field's value: absent, a single value, or a multivalue list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Empty,
    One(std::borrow::Cow<'a, str>),
    Many(Vec<&'a str>),
}

fn one(value: Option<&str>) -> FieldValue<'_> {
    match value {
        Some(v) if !v.is_empty() => FieldValue::One(Cow::Borrowed(v)),
        _ => FieldValue::Empty,
    }
}

impl Analysis {
    /// An analysis with this verdict and nothing else filled (the target side fills
    /// the task fields it knows, then calls [`Analysis::finish`]).
    pub(crate) fn empty(reason: Reason, operation: Option<Operation>) -> Analysis {
        Analysis {
            reason,
            operation,
            argv: Vec::new(),
            remote_host: None,
            remote_host_normalized: None,
            task_name: None,
            task_action: None,
            schedule: None,
            run_as: None,
            connect_user: None,
            xml_file: None,
            password_supplied: false,
            evasions: Vec::new(),
            risk_score: 0,
            risk_message: String::new(),
            process_masked: String::new(),
            task_author: None,
            src: None,
        }
    }

    /// Sets the risk score and renders the risk message of a detection (`lookup` gives
    /// the template's `$field$`s); leaves both empty otherwise.
    pub(crate) fn finish<'v>(
        &mut self,
        config: &DetectorConfig,
        lookup: impl Fn(&str) -> Option<&'v str>,
    ) {
        let Some(kind) = self.kind() else {
            self.risk_score = config.risk_score;
            return;
        };
        self.risk_score = match kind {
            Kind::RemoteCreate => config.risk_score,
            other => other.risk_score(),
        };
        self.risk_message = risk::expand_template(kind.message_template(), lookup);
    }

    /// The detection this analysis is, if any.
    pub fn kind(&self) -> Option<Kind> {
        self.reason.kind(self.operation)
    }

    /// Which end of the movement the event was logged on (`detection_side`).
    pub fn side(&self) -> Side {
        self.reason.side()
    }

    /// Whether this event is a detection: ESCU's remote creation, or one of the other
    /// [`Kind`]s (which [`DetectorConfig::operations`] and the event type enable).
    pub fn is_detection(&self) -> bool {
        self.kind().is_some()
    }

    /// The fields we add, named and ordered as [`OUTPUT_FIELDS`]. The four that say
    /// "this is a detection" (`detection_name` of its [`Kind`], `risk_score`, `risk_message`,
    /// `mitre_technique_id`) are empty unless [`Analysis::is_detection`], so a
    /// `where isnotnull(detection_name)` or an ES risk rule never counts a local task;
    /// the others describe the parse and are filled on every schtasks event, which is
    /// what tuning with `action=annotate` reads (issue 12, item 1):
    ///
    /// | field | value |
    /// |---|---|
    /// | `detection_name` | [`DETECTION_NAME`]; empty unless a detection |
    /// | `detection_reason` | [`Reason`]'s display name, e.g. `remote_create`, `loopback_target` |
    /// | `risk_score` | [`Analysis::risk_score`]; empty unless a detection |
    /// | `risk_message` | [`Analysis::risk_message`]; empty unless a detection |
    /// | `mitre_technique_id` | [`MITRE_TECHNIQUE_IDS`], multivalue; empty unless a detection |
    /// | `schtasks_operation` | [`Operation::as_str`]; empty without an operation switch |
    /// | `remote_host`, `remote_host_normalized` | the `/s` value as written / normalised |
    /// | `task_name` .. `task_xml_file` | `/tn`, `/tr`, `/sc`, `/ru`, `/u`, `/xml` |
    /// | `task_password_supplied` | `true` or `false` |
    /// | `evasion_markers` | [`Evasion::as_str`] of each marker, multivalue; empty when none |
    /// | `process_masked` | [`Analysis::process_masked`] |
    /// | `detection_side` | [`Side::as_str`]: `source` or `target`, on every judged event |
    /// | `task_author` | target side: the task XML's author |
    /// | `src` | target side: the remote caller's address or name, when an event says it |
    ///
    /// Absent and empty values are [`FieldValue::Empty`].
    pub fn fields(&self) -> [(&'static str, FieldValue<'_>); OUTPUT_FIELDS.len()] {
        let [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, side, author, src] =
            OUTPUT_FIELDS;
        let evasions = if self.evasions.is_empty() {
            FieldValue::Empty
        } else {
            FieldValue::Many(self.evasions.iter().map(|e| e.as_str()).collect())
        };
        let kind = self.kind();
        [
            (
                f0,
                kind.map_or(FieldValue::Empty, |k| {
                    FieldValue::One(Cow::Borrowed(k.name()))
                }),
            ),
            (f1, FieldValue::One(Cow::Borrowed(self.reason.as_str()))),
            (
                f2,
                kind.map_or(FieldValue::Empty, |_| {
                    FieldValue::One(Cow::Owned(self.risk_score.to_string()))
                }),
            ),
            (f3, one(Some(&self.risk_message))),
            (
                f4,
                kind.map_or(FieldValue::Empty, |k| {
                    FieldValue::Many(k.mitre_technique_ids().to_vec())
                }),
            ),
            (f5, one(self.operation.map(Operation::as_str))),
            (f6, one(self.remote_host.as_deref())),
            (f7, one(self.remote_host_normalized.as_deref())),
            (f8, one(self.task_name.as_deref())),
            (f9, one(self.task_action.as_deref())),
            (f10, one(self.schedule.as_deref())),
            (f11, one(self.run_as.as_deref())),
            (f12, one(self.connect_user.as_deref())),
            (f13, one(self.xml_file.as_deref())),
            (
                f14,
                FieldValue::One(Cow::Borrowed(if self.password_supplied {
                    "true"
                } else {
                    "false"
                })),
            ),
            (f15, evasions),
            (f16, one(Some(&self.process_masked))),
            (side, FieldValue::One(Cow::Borrowed(self.side().as_str()))),
            (author, one(self.task_author.as_deref())),
            (src, one(self.src.as_deref())),
        ]
    }
}

/// The file-name part of a Windows (or POSIX) path: after the last `\\` or `/`.
/// The one basename of the crate: the CIM mapping's `process_name` from a path and the
/// risk message's `$process_name$` both use it.
///
/// ```
/// use schtasksremote::detection::basename;
/// assert_eq!(basename(r"C:\Windows\System32\schtasks.exe"), "schtasks.exe");
/// assert_eq!(basename("schtasks.exe"), "schtasks.exe");
/// ```
pub fn basename(path: &str) -> &str {
    match memchr::memrchr2(b'\\', b'/', path.as_bytes()) {
        // The separator is ASCII, so the byte after it is a char boundary.
        Some(i) => path.get(i + 1..).unwrap_or_default(),
        None => path,
    }
}

fn is_junk(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'"')
}

/// `value` with trailing blanks and quotes dropped.
fn trim_junk_end(value: &[u8]) -> &[u8] {
    let end = value.iter().rposition(|b| !is_junk(b)).map_or(0, |p| p + 1);
    value.get(..end).unwrap_or_default()
}

/// The byte-level pre-test that both the search command and the scanner run on the
/// columns an image name may come from, before any mapping or UTF-8 check: `value`
/// ends with `schtasks.exe` (ASCII case ignored, trailing blanks and quotes ignored).
///
/// It is a superset of [`is_schtasks`] on every name and path: when it is false for
/// every image column, no mapping of those columns can be schtasks (the differential
/// test `fast_reject_never_drops_a_row_the_core_calls_schtasks` in `cim` checks it).
///
/// ```
/// use schtasksremote::detection::may_name_schtasks;
/// assert!(may_name_schtasks(br#""C:\Windows\System32\SCHTASKS.EXE" "#));
/// assert!(!may_name_schtasks(b"cmd.exe"));
/// ```
pub fn may_name_schtasks(value: &[u8]) -> bool {
    let value = trim_junk_end(value);
    value
        .len()
        .checked_sub(SCHTASKS_EXE.len())
        .and_then(|start| value.get(start..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(SCHTASKS_EXE))
}

const SCHTASKS_EXE: &[u8] = b"schtasks.exe";

/// The name, or with `path` the file-name part of the path, is `schtasks.exe`,
/// ignoring ASCII case and surrounding blanks or quotes.
///
/// Read from the end, so no byte before the last 13 is looked at: this runs on every
/// event and must cost a few comparisons.
fn ends_in_schtasks_exe(value: &str, path: bool) -> bool {
    if !may_name_schtasks(value.as_bytes()) {
        return false;
    }
    let bytes = trim_junk_end(value.as_bytes());
    let head = bytes
        .get(..bytes.len() - SCHTASKS_EXE.len())
        .unwrap_or_default();
    match head.last() {
        Some(b'\\' | b'/') if path => true,
        _ => head.iter().all(is_junk),
    }
}

fn is_schtasks_exe(name: &str) -> bool {
    ends_in_schtasks_exe(name, false)
}

/// The image (by name or path) is schtasks.exe.
fn image_is_schtasks(event: &ProcessEvent<'_>) -> bool {
    ends_in_schtasks_exe(event.process_name, true) || ends_in_schtasks_exe(event.process_path, true)
}

/// `original_file_name` says schtasks.exe, but an image name is known and is not.
fn is_renamed(event: &ProcessEvent<'_>) -> bool {
    is_schtasks_exe(event.original_file_name)
        && !(event.process_name.trim().is_empty() && event.process_path.trim().is_empty())
        && !image_is_schtasks(event)
}

/// True when the event's binary is schtasks.exe (by image name, path or original file
/// name). Allocation-free: this is the reject path for ~98% of rows.
///
/// The image counts when the file-name part of `process_name` or of `process_path`
/// is `schtasks.exe`; the renamed-binary case is caught by `original_file_name`.
/// ASCII case is ignored. `cmd.exe /c schtasks ...` is not schtasks.
pub fn is_schtasks(event: &ProcessEvent<'_>) -> bool {
    image_is_schtasks(event) || is_schtasks_exe(event.original_file_name)
}

/// A verdict with the `/s` value as written and normalised ([`judge`]).
type Judged = (Reason, Option<String>, Option<String>);

/// The verdict on a parsed command line, with the `/s` value as written. `/create` is
/// always judged (ESCU); `/change` and `/run` only when `operations` holds them, by the
/// same target and locality rules; every other operation is `not_create`.
fn judge(parse: &Parse<'_>, dest: &str, operations: Operations) -> Judged {
    let target = parse
        .first(Switch::S)
        .map(|s| s.value.and_then(|v| parse.args.get(v)).map(|a| &*a.value));
    let host = target.flatten();
    let normalized = host.map(locality::normalize);
    let judged = parse
        .operation
        .filter(|op| *op == Operation::Create || operations.contains(*op));
    let reason = match (judged, target) {
        (None, _) => Reason::NotCreate(parse.operation),
        (Some(_), None) => Reason::NoTargetSystem,
        (Some(op), Some(_)) => {
            match locality::locate(normalized.as_deref().unwrap_or_default(), dest) {
                Locality::Empty => Reason::EmptyTargetSystem,
                Locality::Loopback => Reason::LoopbackTarget,
                Locality::SelfHost => Reason::SelfTarget,
                Locality::Remote => match op {
                    Operation::Change => Reason::RemoteChange,
                    Operation::Run => Reason::RemoteRun,
                    _ => Reason::RemoteCreate,
                },
            }
        }
    };
    (reason, host.map(str::to_owned), normalized)
}

/// The name shown as `$process_name$`: `process_name`, else the file name of
/// `process_path`.
fn display_name<'a>(event: &ProcessEvent<'a>) -> &'a str {
    if event.process_name.is_empty() {
        basename(event.process_path)
    } else {
        event.process_name
    }
}

fn build(
    event: &ProcessEvent<'_>,
    config: &DetectorConfig,
    parse: Parse<'_>,
    judged: Judged,
) -> Analysis {
    let (reason, host, normalized) = judged;
    let secrets: Vec<usize> = parse.secret_args().collect();
    let spans: Vec<_> = secrets
        .iter()
        .filter_map(|&i| parse.args.get(i).map(|a| a.span.clone()))
        .collect();
    let process_masked = risk::mask(event.process, &spans);
    let text = |s: Switch| parse.value(s).map(str::to_owned);
    let (task_name, task_action, schedule) = (text(Switch::Tn), text(Switch::Tr), text(Switch::Sc));
    let (run_as, connect_user, xml_file) = (text(Switch::Ru), text(Switch::U), text(Switch::Xml));
    let password_supplied = secrets.iter().any(|&i| {
        parse
            .args
            .get(i)
            .is_some_and(|a| !a.value.is_empty() && a.value != "*")
    });
    let mut evasions = parse.evasions.clone();
    if is_renamed(event) {
        evasions.push(Evasion::RenamedBinary);
        evasions.sort_unstable();
        evasions.dedup();
    }
    let operation = parse.operation;
    let argv = parse
        .args
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            if secrets.contains(&i) {
                risk::MASK.to_owned()
            } else {
                a.value.into_owned()
            }
        })
        .collect();
    let mut analysis = Analysis {
        argv,
        remote_host: host,
        remote_host_normalized: normalized,
        task_name,
        task_action,
        schedule,
        run_as,
        connect_user,
        xml_file,
        password_supplied,
        evasions,
        ..Analysis::empty(reason, operation)
    };
    let (masked, remote_host) = (process_masked, analysis.remote_host.clone());
    analysis.finish(config, |name| match name {
        "process_name" => Some(display_name(event)),
        "process" => Some(masked.as_str()),
        "dest" => Some(event.dest),
        "user" => Some(event.user),
        "remote_host" => remote_host.as_deref(),
        _ => None,
    });
    analysis.process_masked = masked;
    analysis
}

/// Analyse one event. `None` when it is not schtasks (no allocation on that path).
pub fn analyze(event: &ProcessEvent<'_>, config: &DetectorConfig) -> Option<Analysis> {
    analyze_detection(event, config, true)
}

/// [`analyze`] for a caller that keeps detections only: `None` also for a schtasks
/// event that is no detection, unless `every_verdict`. The verdict follows from the
/// parse alone, so the output fields (masked command line, task switches, risk message)
/// of the many local or read-only schtasks runs are never built: `scan` without
/// `--verdicts` judges every schtasks event of a collection.
pub fn analyze_detection(
    event: &ProcessEvent<'_>,
    config: &DetectorConfig,
    every_verdict: bool,
) -> Option<Analysis> {
    if !is_schtasks(event) {
        return None;
    }
    let parse = Parse::new(argv::split(event.process));
    let judged = judge(&parse, event.dest, config.operations);
    if !every_verdict && judged.0.kind(parse.operation).is_none() {
        return None;
    }
    Some(build(event, config, parse, judged))
}

/// A human-readable explanation: argv as Windows splits it, the parsed switches, the
/// verdict and its reason. Backs `schtasksremote explain`.
///
/// The command line is parsed even when the binary is not schtasks, so the output
/// always shows how Windows would split it; the verdict then says why it is not one.
pub fn explain(event: &ProcessEvent<'_>, config: &DetectorConfig) -> String {
    explain::render(event, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(name: &'a str, line: &'a str, dest: &'a str) -> ProcessEvent<'a> {
        ProcessEvent {
            process_name: name,
            process: line,
            dest,
            user: "CORP\\adm",
            ..Default::default()
        }
    }

    fn run(line: &str, dest: &str) -> Analysis {
        analyze(
            &event("schtasks.exe", line, dest),
            &DetectorConfig::default(),
        )
        .expect("schtasks.exe is a candidate")
    }

    #[test]
    fn analyze_detection_drops_only_the_verdicts_that_are_no_detection() {
        let config = DetectorConfig::default();
        let lines = [
            ("schtasks /create /tn t /tr c /s FILESRV01", true),
            ("schtasks /create /tn t /tr c /s localhost", false),
            ("schtasks /create /tn t /tr c", false),
            ("schtasks /query /s FILESRV01", false),
            ("schtasks /change /tn t /s FILESRV01 /disable", false),
        ];
        for (line, detection) in lines {
            let e = event("schtasks.exe", line, "WKS-07");
            let full = analyze(&e, &config).expect("schtasks.exe is judged");
            assert_eq!(full.is_detection(), detection, "{line}");
            assert_eq!(analyze_detection(&e, &config, true).as_ref(), Some(&full));
            let kept = analyze_detection(&e, &config, false);
            assert_eq!(kept.as_ref(), detection.then_some(&full), "{line}");
        }
        let other = event("cmd.exe", "schtasks /create /s FILESRV01", "WKS-07");
        assert_eq!(analyze_detection(&other, &config, true), None);
    }

    #[test]
    fn schtasks_by_name_path_or_original_file_name_only() {
        let yes = [
            ProcessEvent {
                process_name: "SchTasks.EXE",
                ..Default::default()
            },
            ProcessEvent {
                process_path: r"C:\Windows\System32\schtasks.exe",
                ..Default::default()
            },
            ProcessEvent {
                process_path: r"\Device\HarddiskVolume1\Windows\System32\SCHTASKS.exe",
                ..Default::default()
            },
            ProcessEvent {
                process_name: "x.exe",
                original_file_name: "schtasks.exe",
                ..Default::default()
            },
        ];
        for e in &yes {
            assert!(is_schtasks(e), "{e:?}");
        }
        let no = [
            ProcessEvent {
                process_name: "cmd.exe",
                process: "cmd /c schtasks /create /s h",
                ..Default::default()
            },
            ProcessEvent {
                process_name: "schtasks_report.exe",
                ..Default::default()
            },
            ProcessEvent {
                process_path: r"C:\schtasks.exe\evil.exe",
                ..Default::default()
            },
            ProcessEvent::default(),
        ];
        for e in &no {
            assert!(!is_schtasks(e), "{e:?}");
            assert!(analyze(e, &DetectorConfig::default()).is_none());
        }
    }

    #[test]
    fn name_test_reads_the_file_name_part_only() {
        assert!(ends_in_schtasks_exe(
            r#""C:\Windows\System32\schtasks.exe" "#,
            true
        ));
        assert!(ends_in_schtasks_exe(
            "/mnt/c/Windows/System32/SCHTASKS.EXE",
            true
        ));
        assert!(ends_in_schtasks_exe(" \"schtasks.exe\"", false));
        assert!(!ends_in_schtasks_exe(r"C:\x\myschtasks.exe", true));
        assert!(!ends_in_schtasks_exe("xschtasks.exe", true));
        assert!(!ends_in_schtasks_exe(r"C:\x\schtasks.exe", false));
        assert!(!ends_in_schtasks_exe("chtasks.exe", true));
        assert!(!ends_in_schtasks_exe("", true));
    }

    /// The value of the output field `name` in `fields` (from [`Analysis::fields`]).
    fn field<'a>(fields: &[(&str, FieldValue<'a>)], name: &str) -> FieldValue<'a> {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    #[test]
    fn remote_create_fills_every_field_and_masks_passwords() {
        let line = r#"schtasks /create /s \\FILESRV01 /u CORP\adm /p "s3 cret" /ru SYSTEM /rp x /tn \Microsoft\Up /tr C:\a.exe /sc once /xml t.xml"#;
        let a = run(line, "ws1");
        assert!(a.is_detection());
        let fields = a.fields();
        let get = |name: &str| field(&fields, name);
        let masked = r#"schtasks /create /s \\FILESRV01 /u CORP\adm /p **** /ru SYSTEM /rp **** /tn \Microsoft\Up /tr C:\a.exe /sc once /xml t.xml"#;
        assert_eq!(fields.clone().map(|(n, _)| n), OUTPUT_FIELDS);
        assert_eq!(
            get("detection_reason"),
            FieldValue::One("remote_create".into())
        );
        assert_eq!(get("risk_score"), FieldValue::One("63".into()));
        assert_eq!(
            get("risk_message"),
            FieldValue::One(
                format!("A schedule task process schtasks.exe with remote job command-line {masked} in host ws1 by CORP\\adm.").into()
            )
        );
        assert_eq!(
            get("mitre_technique_id"),
            FieldValue::Many(vec!["T1053.005", "T1053"])
        );
        assert_eq!(get("schtasks_operation"), FieldValue::One("create".into()));
        assert_eq!(get("remote_host"), FieldValue::One(r"\\FILESRV01".into()));
        assert_eq!(
            get("remote_host_normalized"),
            FieldValue::One("filesrv01".into())
        );
        assert_eq!(get("task_name"), FieldValue::One(r"\Microsoft\Up".into()));
        assert_eq!(get("task_action"), FieldValue::One(r"C:\a.exe".into()));
        assert_eq!(get("task_schedule"), FieldValue::One("once".into()));
        assert_eq!(get("task_run_as"), FieldValue::One("SYSTEM".into()));
        assert_eq!(
            get("task_connect_user"),
            FieldValue::One(r"CORP\adm".into())
        );
        assert_eq!(get("task_xml_file"), FieldValue::One("t.xml".into()));
        assert_eq!(
            get("task_password_supplied"),
            FieldValue::One("true".into())
        );
        assert_eq!(get("evasion_markers"), FieldValue::Empty);
        assert_eq!(get("process_masked"), FieldValue::One(masked.into()));
        assert!(!a.argv.iter().any(|v| v.contains("cret")));
    }

    #[test]
    fn non_detections_have_no_risk_message_but_keep_the_parse() {
        let a = run("schtasks /query /s HOST2 /tn t", "ws1");
        assert_eq!(a.reason, Reason::NotCreate(Some(Operation::Query)));
        assert_eq!(a.remote_host.as_deref(), Some("HOST2"));
        assert_eq!(a.fields()[3].1, FieldValue::Empty);
        assert_eq!(a.fields()[14].1, FieldValue::One("false".into()));
    }

    /// Issue 12 item 1: a local creation (the README's tuning example) carries its
    /// reason and parse, and none of the fields that mark a detection.
    #[test]
    fn a_local_create_carries_its_reason_and_parse_but_no_detection_fields() {
        let a = run("schtasks /create /tn t /tr x /sc daily", "ws1");
        let fields = a.fields();
        let get = |name: &str| field(&fields, name);
        for name in [
            "detection_name",
            "risk_score",
            "risk_message",
            "mitre_technique_id",
            "remote_host",
        ] {
            assert_eq!(get(name), FieldValue::Empty, "{name}");
        }
        let filled = [
            ("detection_reason", "no_target_system"),
            ("schtasks_operation", "create"),
            ("task_name", "t"),
            ("task_action", "x"),
            ("task_schedule", "daily"),
            ("task_password_supplied", "false"),
            ("process_masked", "schtasks /create /tn t /tr x /sc daily"),
        ];
        for (name, value) in filled {
            assert_eq!(get(name), FieldValue::One(value.into()), "{name}");
        }
    }

    #[test]
    fn renamed_binary_is_marked() {
        let e = ProcessEvent {
            process_name: "svc.exe",
            original_file_name: "schtasks.exe",
            process: "svc.exe /create /s HOST2 /tn t /tr x /sc once",
            ..Default::default()
        };
        let a = analyze(&e, &DetectorConfig::default()).unwrap();
        assert!(a.is_detection());
        assert_eq!(a.evasions, [Evasion::RenamedBinary]);
        assert_eq!(a.fields()[15].1, FieldValue::Many(vec!["renamed_binary"]));
    }

    #[test]
    fn risk_score_comes_from_the_config() {
        let a = analyze(
            &event("schtasks.exe", "schtasks /create /s h2 /tn t", ""),
            &DetectorConfig {
                risk_score: 90,
                ..DetectorConfig::default()
            },
        )
        .unwrap();
        assert_eq!(a.risk_score, 90);
        assert!(a
            .risk_message
            .starts_with("A schedule task process schtasks.exe "));
    }
}
