//! The one mapping from event field names to a CIM `Endpoint.Processes` event, and the
//! one event classification (which records are process creations).
//!
//! Two users share it: the search command (whose rows carry CIM names, with or without
//! the `Processes.` prefix, or raw names when it runs on raw events) and the offline
//! scanner (whose records carry raw names only).
//!
//! The mapping follows the Splunk add-ons (`detection-research.md` §5) and each
//! rendering's own documentation (issue 10 kind A; sources in [`CimField::source_names`]'s
//! candidates and the README's "Which input fields are read"):
//!
//! | CIM field | Sysmon 1 | Security 4688 | classic WinEventLog (Splunk_TA_windows) | ECS (winlogbeat) | Defender `DeviceProcessEvents` | CrowdStrike ProcessRollup2 |
//! |---|---|---|---|---|---|---|
//! | process_name | basename of `Image` | basename of `NewProcessName` | basename of `New_Process_Name` | `process.name` | `FileName` | basename of `ImageFileName` |
//! | process_path | `Image` | `NewProcessName` | `New_Process_Name` | `process.executable` | `FolderPath` | `ImageFileName` |
//! | original_file_name | `OriginalFileName` | — | — | `process.pe.original_file_name` | `ProcessVersionInfoOriginalFileName` | — |
//! | process | `CommandLine` | `CommandLine` | `Process_Command_Line` | `process.command_line` | `ProcessCommandLine` | `CommandLine` |
//! | parent_process_name | basename of `ParentImage` | basename of `ParentProcessName` | basename of `Creator_Process_Name` | `process.parent.name` | `InitiatingProcessFileName` | `ParentBaseFileName` |
//! | dest | `Computer` | `Computer` | `ComputerName` | `winlog.computer_name`, `host.name` | `DeviceName` | `ComputerName`, `aid_computer_name` |
//! | user | `User` | `SubjectDomainName\SubjectUserName` | `Account_Domain\Account_Name` | `user.domain\user.name` | `AccountDomain\AccountName` | `UserName`, else `UserSid` |
//!
//! CIM names (`process_name`, …, with or without `Processes.`) come first; Splunk's
//! `host` is `dest`'s last resort. Raw names are also found at the end of a dotted path
//! ([`Name::Leaf`]): winlogbeat keeps `winlog.event_data.CommandLine` on 4688 and moves
//! it to `process.command_line` on Sysmon, and either copy is read.
//!
//! A plan is computed once per set of field names (a CSV header, an event's keys) and
//! then applied to each record without searching names again. It keeps every candidate
//! that is present, in priority order, and each record takes the first non-empty one:
//! a Splunk search over Sysmon and 4688 events together has both `Image` and
//! `NewProcessName` in its header, and each row fills only one of them.

use std::borrow::Cow;

use crate::detection::task::{ShareAccess, TaskEvent, TaskEventId};
use crate::detection::{basename, ProcessEvent};

/// A field of the CIM `Endpoint.Processes` dataset that the detection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CimField {
    ProcessName,
    ProcessPath,
    OriginalFileName,
    Process,
    ParentProcessName,
    Dest,
    User,
}

impl CimField {
    /// Every field, in [`ProcessEvent`] order.
    pub const ALL: [CimField; 7] = [
        CimField::ProcessName,
        CimField::ProcessPath,
        CimField::OriginalFileName,
        CimField::Process,
        CimField::ParentProcessName,
        CimField::Dest,
        CimField::User,
    ];

    /// The CIM name, without the `Processes.` prefix.
    pub fn name(self) -> &'static str {
        match self {
            CimField::ProcessName => "process_name",
            CimField::ProcessPath => "process_path",
            CimField::OriginalFileName => "original_file_name",
            CimField::Process => "process",
            CimField::ParentProcessName => "parent_process_name",
            CimField::Dest => "dest",
            CimField::User => "user",
        }
    }

    /// Parses a CIM name (as a user would write it in an option).
    pub fn from_name(name: &str) -> Option<CimField> {
        CimField::ALL.into_iter().find(|f| f.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The names this field is read from, best first, as the README's mapping table
    /// writes them: `` `Image` ``, `` basename of `Image` ``, `` `SubjectDomainName\SubjectUserName` ``;
    /// a `†` marks a raw name that is also found at the end of a dotted path.
    ///
    /// ```
    /// use schtasksremote::cim::CimField;
    /// let names = CimField::Process.source_names();
    /// assert_eq!(names[..3], ["`process`", "`Processes.process`", "`process.command_line`"]);
    /// assert_eq!(names[3], "`CommandLine`†");
    /// ```
    pub fn source_names(self) -> Vec<String> {
        let name = |n: Name| match n {
            Name::Exact(n) => format!("`{n}`"),
            Name::Leaf(n) => format!("`{n}`†"),
        };
        self.candidates()
            .iter()
            .map(|candidate| match *candidate {
                Candidate::Plain(n) => name(n),
                Candidate::Basename(n) => format!("basename of {}", name(n)),
                Candidate::DomainUser(Name::Leaf(d), Name::Leaf(u)) => format!("`{d}\\{u}`†"),
                Candidate::DomainUser(d, u) => {
                    let bare = |n: Name| match n {
                        Name::Exact(n) | Name::Leaf(n) => n,
                    };
                    format!("`{}\\{}`", bare(d), bare(u))
                }
            })
            .collect()
    }

    /// The input names that identify a process at all (those of `process_name`,
    /// `process_path` and `original_file_name`, each once, best first): what
    /// [`FieldPlan::has_process_fields`] looks for, for messages that say what is missing.
    ///
    /// ```
    /// use schtasksremote::cim::CimField;
    /// let names = CimField::process_identifying_names();
    /// assert_eq!(names[0], "process_name");
    /// assert!(names.contains(&"Image") && names.contains(&"FolderPath"));
    /// ```
    pub fn process_identifying_names() -> Vec<&'static str> {
        let mut names = Vec::new();
        for field in [
            CimField::ProcessName,
            CimField::ProcessPath,
            CimField::OriginalFileName,
        ] {
            for candidate in field.candidates() {
                let (Candidate::Plain(name) | Candidate::Basename(name)) = *candidate else {
                    continue;
                };
                let (Name::Exact(name) | Name::Leaf(name)) = name;
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// Candidate sources in priority order: the CIM names first, then raw names.
    /// Sources of the names (see the module doc's table): [CIM] Splunk's
    /// `Endpoint.Processes` data model; [SYSMON] Sysmon event 1 `<Data Name=>`s;
    /// [4688] Security 4688 `<Data Name=>`s; [TA] Splunk_TA_windows's field
    /// extractions of classic (`renderXml=false`) WinEventLog; [ECS] Elastic's
    /// winlogbeat Sysmon/Security modules and the ECS `process.*`, `host.*`, `user.*`
    /// field sets; [MDE] Microsoft Defender for Endpoint's `DeviceProcessEvents` table
    /// (Advanced Hunting export, and the streaming API's `properties` object);
    /// [CS] CrowdStrike's `ProcessRollup2` event dictionary; [SPLUNK] Splunk's default
    /// `host` field.
    fn candidates(self) -> &'static [Candidate] {
        use Candidate::{Basename, DomainUser, Plain};
        use Name::{Exact, Leaf};
        match self {
            CimField::ProcessName => &[
                Plain(Exact("process_name")),              // CIM
                Plain(Exact("Processes.process_name")),    // CIM (tstats)
                Basename(Exact("process_path")),           // CIM
                Basename(Exact("Processes.process_path")), // CIM (tstats)
                Plain(Exact("process.name")),              // ECS
                Basename(Exact("process.executable")),     // ECS
                Basename(Leaf("Image")),                   // SYSMON
                Basename(Leaf("NewProcessName")),          // 4688
                Basename(Leaf("New_Process_Name")),        // TA
                Plain(Leaf("FileName")),                   // MDE
                Basename(Leaf("FolderPath")),              // MDE
                Basename(Leaf("ImageFileName")),           // CS
            ],
            CimField::ProcessPath => &[
                Plain(Exact("process_path")),
                Plain(Exact("Processes.process_path")),
                Plain(Exact("process.executable")), // ECS
                Plain(Leaf("Image")),               // SYSMON
                Plain(Leaf("NewProcessName")),      // 4688
                Plain(Leaf("New_Process_Name")),    // TA
                Plain(Leaf("FolderPath")),          // MDE: the folder and the file name
                Plain(Leaf("ImageFileName")),       // CS
            ],
            CimField::OriginalFileName => &[
                Plain(Exact("original_file_name")),
                Plain(Exact("Processes.original_file_name")),
                Plain(Exact("process.pe.original_file_name")), // ECS
                Plain(Leaf("OriginalFileName")),               // SYSMON
                Plain(Leaf("ProcessVersionInfoOriginalFileName")), // MDE
            ],
            CimField::Process => &[
                Plain(Exact("process")),
                Plain(Exact("Processes.process")),
                Plain(Exact("process.command_line")), // ECS
                Plain(Leaf("CommandLine")),           // SYSMON, 4688, CS
                Plain(Leaf("Process_Command_Line")),  // TA
                Plain(Leaf("ProcessCommandLine")),    // MDE
            ],
            CimField::ParentProcessName => &[
                Plain(Exact("parent_process_name")),
                Plain(Exact("Processes.parent_process_name")),
                Plain(Exact("process.parent.name")), // ECS
                Basename(Exact("process.parent.executable")), // ECS
                Basename(Leaf("ParentImage")),       // SYSMON
                Basename(Leaf("ParentProcessName")), // 4688
                Basename(Leaf("Creator_Process_Name")), // TA
                Plain(Leaf("InitiatingProcessFileName")), // MDE
                Plain(Leaf("ParentBaseFileName")),   // CS
            ],
            CimField::Dest => &[
                Plain(Exact("dest")),
                Plain(Exact("Processes.dest")),
                Plain(Leaf("Computer")),          // SYSMON, 4688 (`<System>`)
                Plain(Leaf("ComputerName")),      // TA, CS
                Plain(Leaf("aid_computer_name")), // CS
                Plain(Leaf("Hostname")),          // NXLog
                // ECS: the event's computer (`winlog.computer_name`) before the shipper's
                // host (`host.name`), which differs for forwarded events.
                Plain(Leaf("computer_name")),
                Plain(Exact("host.name")),
                Plain(Leaf("DeviceName")), // MDE
                // SPLUNK: every Splunk event has `host`; the last resort.
                Plain(Exact("host")),
            ],
            CimField::User => &[
                Plain(Exact("user")),
                Plain(Exact("Processes.user")),
                Plain(Leaf("User")), // SYSMON
                DomainUser(Leaf("SubjectDomainName"), Leaf("SubjectUserName")), // 4688
                Plain(Leaf("SubjectUserName")),
                DomainUser(Exact("user.domain"), Exact("user.name")), // ECS
                Plain(Exact("user.name")),
                DomainUser(Leaf("Account_Domain"), Leaf("Account_Name")), // TA
                Plain(Leaf("Account_Name")),
                DomainUser(Leaf("AccountDomain"), Leaf("AccountName")), // MDE
                Plain(Leaf("AccountName")),
                Plain(Leaf("UserName")), // CS
                Plain(Leaf("UserSid")),  // CS
            ],
        }
    }
}

/// How a name of the mapping is found among a record's field names.
///
/// Nested JSON (winlogbeat's `winlog.event_data.CommandLine`) and Splunk's JSON field
/// extraction both name a field by its dotted path; raw Windows names are found at the
/// end of such a path, CIM names only as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// This name and nothing else (`process_name`, `Processes.process_name`).
    Exact(&'static str),
    /// This name, or a dotted path that ends in `.` + this name
    /// (`CommandLine` finds `winlog.event_data.CommandLine`).
    Leaf(&'static str),
}

impl Name {
    /// Whether a record's field called `field` is this name.
    ///
    /// ```
    /// use schtasksremote::cim::Name;
    /// assert!(Name::Leaf("CommandLine").matches("winlog.event_data.CommandLine"));
    /// assert!(!Name::Leaf("CommandLine").matches("winlog.event_data.XCommandLine"));
    /// assert!(!Name::Exact("process").matches("Processes.process"));
    /// ```
    pub fn matches(self, field: &str) -> bool {
        match self {
            Name::Exact(n) => field == n,
            Name::Leaf(n) => {
                field == n
                    || field
                        .strip_suffix(n)
                        .is_some_and(|path| path.ends_with('.'))
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Candidate {
    Plain(Name),
    Basename(Name),
    DomainUser(Name, Name),
}

/// A field that says what kind of event a record is, or when it happened. Not a CIM
/// field: read to pick process creations out of everything else and to date them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventField {
    /// CrowdStrike's `event_simpleName`.
    SimpleName,
    /// Defender for Endpoint's `ActionType` (`ProcessCreated` in `DeviceProcessEvents`).
    ActionType,
    /// The Windows event ID.
    EventId,
    /// The log or provider that wrote the event.
    Provider,
    /// ECS `event.category` (`process` for a process event).
    Category,
    /// ECS `event.type` (`start` for a process creation).
    Type,
    /// The event's time.
    Time,
    /// The log the event was written to (`Microsoft-Windows-Sysmon/Operational`,
    /// `Security`): with the event ID, which sensor saw it (issue 12 item 7).
    Channel,
    /// The event's own record number in its log (`<EventRecordID>`, NXLog and Splunk's
    /// `RecordNumber`, ECS `winlog.record_id`), where the format has one.
    RecordId,
}

impl EventField {
    /// Every event field. The fast paths of `scan` (issue 14) must know every name an
    /// event-type field is read from; [`EventField::listed`] makes a new variant a
    /// compile error until it is added here.
    pub(crate) const ALL: [EventField; 9] = [
        EventField::SimpleName,
        EventField::ActionType,
        EventField::EventId,
        EventField::Provider,
        EventField::Category,
        EventField::Type,
        EventField::Time,
        EventField::Channel,
        EventField::RecordId,
    ];

    /// Exhaustive on purpose: a new variant stops compiling here, a reminder to list
    /// it in [`EventField::ALL`].
    #[allow(dead_code)]
    const fn listed(self) {
        match self {
            EventField::SimpleName
            | EventField::ActionType
            | EventField::EventId
            | EventField::Provider
            | EventField::Category
            | EventField::Type
            | EventField::Time
            | EventField::Channel
            | EventField::RecordId => {}
        }
    }

    /// The names that carry this field, in preference order (sources as in
    /// `CimField::candidates`).
    pub fn names(self) -> &'static [Name] {
        use Name::{Exact, Leaf};
        match self {
            EventField::SimpleName => &[Exact("event_simpleName")], // CS
            EventField::ActionType => &[Leaf("ActionType")],        // MDE
            EventField::EventId => &[
                Leaf("EventID"),     // XML, NXLog, OTRF
                Exact("EventCode"),  // Splunk (TA)
                Leaf("event_id"),    // ECS `winlog.event_id`
                Exact("event.code"), // ECS
            ],
            EventField::Provider => &[
                Leaf("Provider"),
                Leaf("SourceName"),
                Leaf("Channel"),
                Leaf("provider_name"),   // ECS `winlog.provider_name`
                Leaf("channel"),         // ECS `winlog.channel`
                Exact("event.provider"), // ECS
                Exact("event.module"),   // ECS (`sysmon`, `security`)
                Exact("LogName"),        // TA classic WinEventLog
                Exact("source"),
                Exact("sourcetype"),
            ],
            EventField::Category => &[Exact("event.category")], // ECS
            EventField::Type => &[Exact("event.type")],         // ECS
            EventField::Time => &[
                Leaf("TimeCreated"),
                Exact("@timestamp"),
                Leaf("EventTime"),
                Exact("_time"),
                Leaf("timestamp"),
                Leaf("Timestamp"), // MDE
                Leaf("UtcTime"),
                Exact("time"),
            ],
            EventField::Channel => &[
                Leaf("Channel"),  // XML `<System>`, NXLog, OTRF
                Leaf("channel"),  // ECS `winlog.channel`
                Exact("LogName"), // TA classic WinEventLog
            ],
            EventField::RecordId => &[
                Leaf("EventRecordID"), // XML `<System>`, EVTX
                Leaf("RecordNumber"),  // NXLog, TA classic WinEventLog
                Leaf("record_id"),     // ECS `winlog.record_id`
            ],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What kind of event a record is, judged from its event-type fields only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A process creation: Sysmon 1, Security 4688, CrowdStrike ProcessRollup2 /
    /// SyntheticProcessRollup2, Defender `ProcessCreated`, ECS `process`/`start`.
    ProcessCreation,
    /// Another event: skipped and counted.
    Other,
    /// No event type at all (a CSV export of `Endpoint.Processes`): a process creation
    /// when it carries process fields ([`FieldPlan::has_process_fields`]).
    Untyped,
    /// Security 4698 or 4702: a scheduled task created or updated (the target side,
    /// issue 13; read through [`TargetPlan`]).
    TaskRegistered,
    /// Security 4624: a logon (the target side reads logon type 3 only).
    Logon,
    /// Security 5145: a network share object access check.
    ShareAccess,
    /// Sysmon 3 (network connection) or Security 5156 (the Windows Filtering Platform
    /// allowed a connection): when schtasks.exe made it, its local address tells
    /// `scan` which address the source host used to reach the target, so a target side
    /// that names its caller by address (the 4624's `IpAddress`) is linked to the
    /// source on that host (issue 13). Other processes' connections are not read
    /// ([`connection_may_matter`]): they keep the reject path.
    Connection,
}

impl EventKind {
    /// Whether the target side reads this kind ([`TargetPlan`]).
    pub fn is_target_side(self) -> bool {
        matches!(
            self,
            EventKind::TaskRegistered
                | EventKind::Logon
                | EventKind::ShareAccess
                | EventKind::Connection
        )
    }
}

/// The event fields [`classify_event`] reads, and no other: whatever any other field
/// says, the kind is the same (test `classify_event_reads_only_classifying_fields`).
/// A fast path that rebuilds or looks for only these fields (the EVTX skip, the JSON
/// lines fast path) gets the kind the full reading gets.
pub const CLASSIFYING_FIELDS: [EventField; 6] = [
    EventField::EventId,
    EventField::Provider,
    EventField::SimpleName,
    EventField::ActionType,
    EventField::Category,
    EventField::Type,
];

/// Classifies an event from its event-type fields. `first(field)` is the field's first
/// value; `says(field, word)` whether any of its values contains `word` (ASCII case
/// ignored), `None` when the record has no such field.
///
/// In this order: the Windows event ID (1 is a process creation only for Sysmon and
/// 4688 only for Security, as other providers reuse the numbers; without any provider
/// field the ID is trusted); CrowdStrike's `event_simpleName`; Defender's `ActionType`;
/// ECS `event.category` `process` with `event.type` `start`.
///
/// ```
/// use schtasksremote::cim::{classify_event, EventField, EventKind};
/// let sysmon = |f| match f { EventField::EventId => Some("1"), EventField::Provider => Some("Microsoft-Windows-Sysmon"), _ => None };
/// let says = |f, w: &str| sysmon(f).map(|v| v.to_ascii_lowercase().contains(w));
/// assert_eq!(classify_event(sysmon, says), EventKind::ProcessCreation);
/// assert_eq!(classify_event(|_| None, |_, _| None), EventKind::Untyped);
/// ```
pub fn classify_event<'a>(
    first: impl Fn(EventField) -> Option<&'a str>,
    says: impl Fn(EventField, &str) -> Option<bool>,
) -> EventKind {
    let kind = |yes: bool| {
        if yes {
            EventKind::ProcessCreation
        } else {
            EventKind::Other
        }
    };
    // The Windows event ID first: most records have one, and no rendering that has
    // `event_simpleName` or `ActionType` also has one.
    if let Some(eid) = first(EventField::EventId) {
        let security = |yes: EventKind| {
            if says(EventField::Provider, "security").unwrap_or(true) {
                yes
            } else {
                EventKind::Other
            }
        };
        let word = match eid.trim() {
            // Sysmon's 3 only with Sysmon named: other providers reuse small numbers.
            "3" if says(EventField::Provider, "sysmon") == Some(true) => {
                return EventKind::Connection
            }
            "5156" => return security(EventKind::Connection),
            "1" => "sysmon",
            "4688" => "security",
            "4698" | "4702" => return security(EventKind::TaskRegistered),
            "4624" => return security(EventKind::Logon),
            "5145" => return security(EventKind::ShareAccess),
            _ => return EventKind::Other,
        };
        return kind(says(EventField::Provider, word).unwrap_or(true));
    }
    if let Some(name) = first(EventField::SimpleName) {
        return kind(matches!(name, "ProcessRollup2" | "SyntheticProcessRollup2"));
    }
    if let Some(action) = first(EventField::ActionType) {
        return kind(action.trim().eq_ignore_ascii_case("ProcessCreated"));
    }
    match says(EventField::Category, "process") {
        Some(category) => kind(category && says(EventField::Type, "start") == Some(true)),
        None => EventKind::Untyped,
    }
}

/// `None` when `values` is empty, else whether any value contains `word` (ASCII case
/// ignored): the `says` of [`classify_event`].
pub(crate) fn any_says<'a>(values: impl Iterator<Item = &'a str>, word: &str) -> Option<bool> {
    let mut values = values.peekable();
    values.peek()?;
    Some(values.any(|v| contains_ignore_ascii_case(v, word)))
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Where one CIM field's value comes from, as indices into a record's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Absent,
    /// The value of this column as it is.
    Column(usize),
    /// The file-name part of a Windows path in this column.
    Basename(usize),
    /// `domain\user` from two columns; just `user` when the domain is empty or `-`.
    DomainUser { domain: usize, user: usize },
}

/// For each CIM field, where to read it: the candidates present, best first.
/// Built once per set of field names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPlan {
    sources: [Vec<Source>; 7],
    /// For each [`EventField`], the columns that carry it, best first.
    event_fields: [Vec<usize>; 9],
}

impl FieldPlan {
    /// Plans the mapping for records whose field names are `names` (index = position).
    ///
    /// ```
    /// use schtasksremote::cim::{CimField, FieldPlan, Source};
    /// let plan = FieldPlan::from_names(["Image", "CommandLine", "Processes.dest"]);
    /// assert_eq!(plan.source(CimField::ProcessName), Source::Basename(0));
    /// assert_eq!(plan.source(CimField::Process), Source::Column(1));
    /// assert_eq!(plan.source(CimField::Dest), Source::Column(2));
    /// assert_eq!(plan.source(CimField::User), Source::Absent);
    /// ```
    pub fn from_names<'n, I>(names: I) -> FieldPlan
    where
        I: IntoIterator<Item = &'n str>,
    {
        let names: Vec<&str> = names.into_iter().collect();
        // Every name is looked for among all the record's names first, in the
        // order the mapping prefers, so that field order in a record does not matter.
        let find = |wanted: Name| names.iter().position(|n| wanted.matches(n));
        let mut plan = FieldPlan::default();
        for field in CimField::ALL {
            let found = field
                .candidates()
                .iter()
                .filter_map(|candidate| match *candidate {
                    Candidate::Plain(n) => find(n).map(Source::Column),
                    Candidate::Basename(n) => find(n).map(Source::Basename),
                    Candidate::DomainUser(d, u) => match (find(d), find(u)) {
                        (Some(domain), Some(user)) => Some(Source::DomainUser { domain, user }),
                        _ => None,
                    },
                });
            plan.sources[field.index()] = found.collect();
        }
        for field in EventField::ALL {
            let columns = field.names().iter().flat_map(|wanted| {
                names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| wanted.matches(n))
                    .map(|(i, _)| i)
            });
            plan.event_fields[field.index()] = columns.collect();
        }
        plan
    }

    /// The first present value of an event-type field in one record.
    pub fn event_field<'a, F>(&self, field: EventField, get: F) -> Option<&'a str>
    where
        F: Fn(usize) -> Option<&'a str>,
    {
        self.event_fields[field.index()]
            .iter()
            .find_map(|&i| get(i))
    }

    /// The columns that carry an event-type field, best first.
    pub fn event_field_columns(&self, field: EventField) -> &[usize] {
        &self.event_fields[field.index()]
    }

    /// Classifies one record ([`classify_event`]) from the columns this plan found;
    /// [`EventKind::Untyped`] is settled by [`FieldPlan::has_process_fields`].
    ///
    /// ```
    /// use schtasksremote::cim::{EventKind, FieldPlan};
    /// let plan = FieldPlan::from_names(["winlog.event_id", "winlog.provider_name", "x"]);
    /// let values = ["1", "Microsoft-Windows-Sysmon", ""];
    /// assert_eq!(plan.event_kind(|i| values.get(i).copied()), EventKind::ProcessCreation);
    /// ```
    pub fn event_kind<'a, F>(&self, get: F) -> EventKind
    where
        F: Fn(usize) -> Option<&'a str>,
    {
        let says = |field: EventField, word: &str| {
            any_says(
                self.event_fields[field.index()]
                    .iter()
                    .filter_map(|&i| get(i)),
                word,
            )
        };
        self.settle(classify_event(|f| self.event_field(f, &get), says))
    }

    /// Settles [`EventKind::Untyped`]: a process creation when this plan can read a
    /// process from the record, another event otherwise. Other kinds stay.
    pub fn settle(&self, kind: EventKind) -> EventKind {
        match kind {
            EventKind::Untyped if self.has_process_fields() => EventKind::ProcessCreation,
            EventKind::Untyped => EventKind::Other,
            kind => kind,
        }
    }

    /// What a process creation lacks for a verdict, if anything: every source of the
    /// command line is absent or blank, or every source of the image and of the original
    /// file name is. `get(i)` gives column `i`'s bytes. Allocation-free.
    ///
    /// ```
    /// use schtasksremote::cim::{FieldPlan, Missing};
    /// let plan = FieldPlan::from_names(["Image", "CommandLine"]);
    /// let row: [&[u8]; 2] = [br"C:\Windows\System32\schtasks.exe", b" "];
    /// assert_eq!(plan.missing(|i| row.get(i).copied()), Some(Missing::CommandLine));
    /// ```
    #[inline]
    pub fn missing<'a, F>(&self, get: F) -> Option<Missing>
    where
        F: Fn(usize) -> Option<&'a [u8]>,
    {
        let blank = |field: &CimField| {
            self.sources(*field).iter().all(|source| match *source {
                Source::Column(i) | Source::Basename(i) => {
                    get(i).unwrap_or_default().trim_ascii().is_empty()
                }
                Source::DomainUser { .. } | Source::Absent => true,
            })
        };
        [Missing::CommandLine, Missing::Image]
            .into_iter()
            .find(|missing| missing.fields().iter().all(blank))
    }

    /// The allocation- and validation-free reject path (~98% of rows and events):
    /// whether any column an image name can come from may name schtasks.exe
    /// ([`crate::detection::may_name_schtasks`] on each): the byte-level reject path the
    /// search command and the scanner share, run before mapping or UTF-8 checks.
    /// `get(i)` gives column `i`'s bytes.
    #[inline]
    pub fn may_name_schtasks<'a, F>(&self, get: F) -> bool
    where
        F: Fn(usize) -> Option<&'a [u8]>,
    {
        [
            CimField::ProcessName,
            CimField::ProcessPath,
            CimField::OriginalFileName,
        ]
        .into_iter()
        .flat_map(|f| self.sources(f).iter())
        .any(|source| match *source {
            Source::Column(i) | Source::Basename(i) => {
                crate::detection::may_name_schtasks(get(i).unwrap_or_default())
            }
            Source::DomainUser { .. } | Source::Absent => true,
        })
    }

    /// Where `field` is read from first ([`Source::Absent`] when nothing is).
    pub fn source(&self, field: CimField) -> Source {
        self.sources[field.index()]
            .first()
            .copied()
            .unwrap_or(Source::Absent)
    }

    /// Every source of `field`, in the order they are tried on each record.
    pub fn sources(&self, field: CimField) -> &[Source] {
        &self.sources[field.index()]
    }

    /// Makes `source` the only place `field` is read from (a user's `<field>_field=`
    /// option); [`Source::Absent`] makes the field always empty.
    pub fn set_source(&mut self, field: CimField, source: Source) {
        self.sources[field.index()] = match source {
            Source::Absent => Vec::new(),
            source => vec![source],
        };
    }

    /// Every column the plan may read, in any record, possibly repeated.
    ///
    /// ```
    /// use schtasksremote::cim::FieldPlan;
    /// let plan = FieldPlan::from_names(["x", "Image", "process_name"]);
    /// let mut cols: Vec<usize> = plan.columns().collect();
    /// cols.sort();
    /// cols.dedup();
    /// assert_eq!(cols, [1, 2]);
    /// ```
    pub fn columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.sources
            .iter()
            .flatten()
            .flat_map(|source| match *source {
                Source::Absent => [None, None],
                Source::Column(i) | Source::Basename(i) => [Some(i), None],
                Source::DomainUser { domain, user } => [Some(domain), Some(user)],
            })
            .flatten()
    }

    /// Whether the plan can read anything that identifies a process at all.
    pub fn has_process_fields(&self) -> bool {
        [
            CimField::ProcessName,
            CimField::ProcessPath,
            CimField::OriginalFileName,
        ]
        .into_iter()
        .any(|f| self.source(f) != Source::Absent)
    }

    /// Reads one record. `get(i)` returns the value of field `i` (None when missing).
    /// Borrows from the record; allocates only for `domain\user`.
    pub fn map<'a, F>(&self, get: F) -> MappedEvent<'a>
    where
        F: Fn(usize) -> Option<&'a str>,
    {
        let read = |source: Source| -> Cow<'a, str> {
            match source {
                Source::Absent => Cow::Borrowed(""),
                Source::Column(i) => Cow::Borrowed(get(i).unwrap_or("")),
                Source::Basename(i) => Cow::Borrowed(basename(get(i).unwrap_or(""))),
                Source::DomainUser { domain, user } => {
                    let d = get(domain).unwrap_or("");
                    let u = get(user).unwrap_or("");
                    if d.is_empty() || d == "-" || u.is_empty() {
                        Cow::Borrowed(u)
                    } else {
                        Cow::Owned(format!("{d}\\{u}"))
                    }
                }
            }
        };
        let first_non_empty = |sources: &Vec<Source>| -> Cow<'a, str> {
            sources
                .iter()
                .map(|s| read(*s))
                .find(|v| !v.is_empty())
                .unwrap_or(Cow::Borrowed(""))
        };
        MappedEvent {
            values: std::array::from_fn(|i| first_non_empty(&self.sources[i])),
        }
    }
}

/// What a process creation lacks for a verdict (issue 10 kind B): such an event is
/// counted and named, never silently passed over as "not schtasks".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No command line (CIM `process`).
    CommandLine,
    /// No image name, image path or original file name (CIM `process_name`,
    /// `process_path`, `original_file_name`).
    Image,
}

impl Missing {
    /// The CIM fields any one of which would supply what is missing.
    pub fn fields(self) -> &'static [CimField] {
        match self {
            Missing::CommandLine => &[CimField::Process],
            Missing::Image => &[
                CimField::ProcessName,
                CimField::ProcessPath,
                CimField::OriginalFileName,
            ],
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::CommandLine => f.write_str("no command line (CIM process)"),
            Missing::Image => {
                f.write_str("no image (CIM process_name, process_path or original_file_name)")
            }
        }
    }
}

/// A record read through a [`FieldPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedEvent<'a> {
    values: [Cow<'a, str>; 7],
}

impl<'a> MappedEvent<'a> {
    /// The value of one CIM field (empty when absent).
    pub fn get(&self, field: CimField) -> &str {
        &self.values[field.index()]
    }

    /// The event as the detection core takes it.
    pub fn as_event(&self) -> ProcessEvent<'_> {
        ProcessEvent {
            process_name: self.get(CimField::ProcessName),
            process_path: self.get(CimField::ProcessPath),
            original_file_name: self.get(CimField::OriginalFileName),
            process: self.get(CimField::Process),
            parent_process_name: self.get(CimField::ParentProcessName),
            dest: self.get(CimField::Dest),
            user: self.get(CimField::User),
        }
    }
}

/// A field of the target-side events (Security 4698, 4702, 4624, 5145) that the
/// detection reads, beside `dest` and `user` (which come from [`FieldPlan`]).
///
/// | field | raw `XmlWinEventLog:Security` `<Data Name=>` | classic WinEventLog (Splunk_TA_windows) |
/// |---|---|---|
/// | `SubjectLogonId` | `SubjectLogonId` | first `Logon_ID` |
/// | `TaskName` | `TaskName` | `Task_Name` |
/// | `TaskContent` | `TaskContent` (4698), `TaskContentNew` (4702) | `Task_Content`, `Task_New_Content` (multi-line, see `replay::classic`) |
/// | `RpcCallClientLocality` | `RpcCallClientLocality` | — (not in the message) |
/// | `ClientProcessId` | `ClientProcessId` | `ClientProcessId` |
/// | `TargetLogonId` | `TargetLogonId` | last `Logon_ID` (the New Logon section's) |
/// | `LogonType` | `LogonType` | `Logon_Type` |
/// | `IpAddress` | `IpAddress` | `Source_Network_Address` |
/// | `WorkstationName` | `WorkstationName` | `Workstation_Name` |
/// | `ShareName` | `ShareName` | `Share_Name` |
/// | `RelativeTargetName` | `RelativeTargetName` | `Relative_Target_Name` |
/// | `AccessList` | `AccessList` | `Accesses` |
/// | `SourceAddress` | `SourceIp` (Sysmon 3), `SourceAddress` (5156) | `Source_Address` |
/// | `DestAddress` | `DestinationIp` (Sysmon 3), `DestAddress` (5156) | `Destination_Address` |
/// | `Initiated` | `Initiated` (Sysmon 3: `true` when this host connected out) | — |
/// | `Direction` | `Direction` (5156: `%%14593` outbound, `%%14592` inbound) | `Direction` (`Outbound`, `Inbound`) |
/// | `ConnectionProcess` | `Image` (Sysmon 3), `Application` (5156) | `Application_Name` |
///
/// Sources: Microsoft's event documentation for 4698, 4702, 4624 and 5145 (the
/// `<EventData>` schema), and the field extractions of Splunk_TA_windows for classic
/// events (label with spaces turned into `_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetField {
    SubjectLogonId,
    TaskName,
    TaskContent,
    RpcCallClientLocality,
    ClientProcessId,
    TargetLogonId,
    LogonType,
    IpAddress,
    WorkstationName,
    ShareName,
    RelativeTargetName,
    AccessList,
    SourceAddress,
    DestAddress,
    Initiated,
    Direction,
    ConnectionProcess,
}

/// Which copy of a repeated name a candidate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurrence {
    First,
    Last,
}

impl TargetField {
    const ALL: [TargetField; 17] = [
        TargetField::SubjectLogonId,
        TargetField::TaskName,
        TargetField::TaskContent,
        TargetField::RpcCallClientLocality,
        TargetField::ClientProcessId,
        TargetField::TargetLogonId,
        TargetField::LogonType,
        TargetField::IpAddress,
        TargetField::WorkstationName,
        TargetField::ShareName,
        TargetField::RelativeTargetName,
        TargetField::AccessList,
        TargetField::SourceAddress,
        TargetField::DestAddress,
        TargetField::Initiated,
        TargetField::Direction,
        TargetField::ConnectionProcess,
    ];

    /// Candidate names, best first (the table in [`TargetField`]'s doc).
    fn candidates(self) -> &'static [(Name, Occurrence)] {
        use Name::Leaf;
        use Occurrence::{First, Last};
        match self {
            TargetField::SubjectLogonId => {
                &[(Leaf("SubjectLogonId"), First), (Leaf("Logon_ID"), First)]
            }
            TargetField::TaskName => &[(Leaf("TaskName"), First), (Leaf("Task_Name"), First)],
            TargetField::TaskContent => &[
                (Leaf("TaskContent"), First),
                (Leaf("TaskContentNew"), First),
                (Leaf("Task_Content"), First),
                (Leaf("Task_New_Content"), First),
            ],
            TargetField::RpcCallClientLocality => &[(Leaf("RpcCallClientLocality"), First)],
            TargetField::ClientProcessId => &[(Leaf("ClientProcessId"), First)],
            TargetField::TargetLogonId => {
                &[(Leaf("TargetLogonId"), First), (Leaf("Logon_ID"), Last)]
            }
            TargetField::LogonType => &[(Leaf("LogonType"), First), (Leaf("Logon_Type"), First)],
            TargetField::IpAddress => &[
                (Leaf("IpAddress"), First),
                (Leaf("Source_Network_Address"), First),
                (Leaf("Source_Address"), First),
            ],
            TargetField::WorkstationName => &[
                (Leaf("WorkstationName"), First),
                (Leaf("Workstation_Name"), First),
            ],
            TargetField::ShareName => &[(Leaf("ShareName"), First), (Leaf("Share_Name"), First)],
            TargetField::RelativeTargetName => &[
                (Leaf("RelativeTargetName"), First),
                (Leaf("Relative_Target_Name"), First),
            ],
            TargetField::AccessList => &[(Leaf("AccessList"), First), (Leaf("Accesses"), First)],
            TargetField::SourceAddress => &[
                (Leaf("SourceIp"), First),
                (Leaf("SourceAddress"), First),
                (Leaf("Source_Address"), First),
            ],
            TargetField::DestAddress => &[
                (Leaf("DestinationIp"), First),
                (Leaf("DestAddress"), First),
                (Leaf("Destination_Address"), First),
            ],
            TargetField::Initiated => &[(Leaf("Initiated"), First)],
            TargetField::Direction => &[(Leaf("Direction"), First)],
            TargetField::ConnectionProcess => &[
                (Leaf("Image"), First),
                (Leaf("Application"), First),
                (Leaf("Application_Name"), First),
            ],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// For each [`TargetField`], the columns to read, best first; with the [`FieldPlan`]
/// for `dest`, `user` and the event ID. Built once per set of field names, like
/// [`FieldPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetPlan {
    columns: [Vec<usize>; TargetField::ALL.len()],
}

impl TargetPlan {
    /// Plans the target-side fields for records whose field names are `names`.
    ///
    /// ```
    /// use schtasksremote::cim::{TargetField, TargetPlan};
    /// let plan = TargetPlan::from_names(["Logon_ID", "Task_Name", "Logon_ID"]);
    /// let row = ["0x1", r"\T", "0x2"];
    /// let get = |i: usize| row.get(i).copied();
    /// assert_eq!(plan.get(TargetField::SubjectLogonId, get), "0x1");
    /// assert_eq!(plan.get(TargetField::TargetLogonId, get), "0x2");
    /// assert!(plan.has_target_fields());
    /// ```
    pub fn from_names<'n, I>(names: I) -> TargetPlan
    where
        I: IntoIterator<Item = &'n str>,
    {
        let names: Vec<&str> = names.into_iter().collect();
        let mut plan = TargetPlan::default();
        for field in TargetField::ALL {
            let mut columns = Vec::new();
            for (wanted, copy) in field.candidates() {
                let mut found = names.iter().enumerate().filter(|(_, n)| wanted.matches(n));
                let column = match copy {
                    Occurrence::First => found.next(),
                    Occurrence::Last => found.next_back(),
                };
                if let Some((i, _)) = column {
                    columns.push(i);
                }
            }
            plan.columns[field.index()] = columns;
        }
        plan
    }

    /// Whether the records can be task, logon or share events at all (any task name,
    /// task content, target logon ID or share name column): without one, no row is
    /// judged on the target side, and the search command's reject path is unchanged.
    pub fn has_target_fields(&self) -> bool {
        [
            TargetField::TaskName,
            TargetField::TaskContent,
            TargetField::TargetLogonId,
            TargetField::RelativeTargetName,
        ]
        .into_iter()
        .any(|f| !self.columns[f.index()].is_empty())
    }

    /// Every column the plan may read.
    pub fn columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.columns.iter().flatten().copied()
    }

    /// One record as a 4698/4702 ([`TaskEvent`]); `dest` and `user` come from the
    /// record's [`FieldPlan`].
    pub fn task_event<'a, F>(
        &self,
        id: TaskEventId,
        dest: &'a str,
        user: &'a str,
        get: F,
    ) -> TaskEvent<'a>
    where
        F: Fn(usize) -> Option<&'a str> + Copy,
    {
        TaskEvent {
            id,
            dest,
            user,
            logon_id: self.get(TargetField::SubjectLogonId, get),
            task_name: self.get(TargetField::TaskName, get),
            task_content: self.get(TargetField::TaskContent, get),
            rpc_call_client_locality: self.get(TargetField::RpcCallClientLocality, get),
            client_process_id: self.get(TargetField::ClientProcessId, get),
        }
    }

    /// One record as a 5145 ([`ShareAccess`]).
    pub fn share_access<'a, F>(&self, dest: &'a str, user: &'a str, get: F) -> ShareAccess<'a>
    where
        F: Fn(usize) -> Option<&'a str> + Copy,
    {
        ShareAccess {
            dest,
            user,
            share_name: self.get(TargetField::ShareName, get),
            relative_target_name: self.get(TargetField::RelativeTargetName, get),
            access_list: self.get(TargetField::AccessList, get),
            ip_address: self.get(TargetField::IpAddress, get),
        }
    }

    /// The first non-empty value of `field` in one record (empty when none).
    pub fn get<'a, F>(&self, field: TargetField, get: F) -> &'a str
    where
        F: Fn(usize) -> Option<&'a str>,
    {
        self.columns[field.index()]
            .iter()
            .filter_map(|&i| get(i))
            .find(|v| !v.trim().is_empty())
            .unwrap_or("")
    }
}

/// The local end of a connection event (Sysmon 3, Security 5156): its source address
/// when this host connected out, its destination address when it was connected to.
/// `None` when the event does not say which (`initiated` is Sysmon's `Initiated`,
/// `direction` 5156's `Direction`, raw `%%14593`/`%%14592` or rendered
/// `Outbound`/`Inbound`), or when the address is not one another host could name it by
/// (not an IP, loopback, unspecified).
///
/// Sources: Sysmon's event 3 schema (`Initiated`, `SourceIp`, `DestinationIp`);
/// Microsoft's 5156 documentation (`Direction`, `SourceAddress`, `DestAddress`; the
/// source is the side that connected).
///
/// ```
/// use schtasksremote::cim::local_address;
/// assert_eq!(local_address("true", "", "172.18.39.5", "172.18.39.6"), Some("172.18.39.5"));
/// assert_eq!(local_address("", "%%14592", "172.18.39.5", "172.18.39.6"), Some("172.18.39.6"));
/// assert_eq!(local_address("", "", "172.18.39.5", "172.18.39.6"), None);
/// assert_eq!(local_address("true", "", "127.0.0.1", "127.0.0.1"), None);
/// ```
pub fn local_address<'a>(
    initiated: &str,
    direction: &str,
    source: &'a str,
    destination: &'a str,
) -> Option<&'a str> {
    let (initiated, direction) = (initiated.trim(), direction.trim());
    let outbound = if initiated.eq_ignore_ascii_case("true") {
        true
    } else if initiated.eq_ignore_ascii_case("false") {
        false
    } else if direction == "%%14593" || direction.eq_ignore_ascii_case("outbound") {
        true
    } else if direction == "%%14592" || direction.eq_ignore_ascii_case("inbound") {
        false
    } else {
        return None;
    };
    let address = if outbound { source } else { destination }.trim();
    let ip = address.parse::<std::net::IpAddr>().ok()?;
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(address)
}

/// Whether a connection event's raw bytes (a Sysmon 3 or 5156 record, as read) may
/// name schtasks.exe as the connecting process: they contain `schtasks` (ASCII case
/// ignored) or an `&` (an XML entity could spell it). A superset of the rule `scan`
/// applies to the process field ([`TargetField::ConnectionProcess`] read by
/// [`crate::detection::may_name_schtasks`]), so a reader may skip the rest of a
/// record for which it is false: a network connection by any other process is counted
/// and skipped, as before issue 13.
///
/// ```
/// use schtasksremote::cim::connection_may_matter;
/// assert!(connection_may_matter(br"<Data Name='Application'>\device\harddiskvolume2\windows\system32\SchTasks.exe</Data>"));
/// assert!(connection_may_matter(b"<Data Name='Image'>C:\\&#83;chtasks.exe</Data>"));
/// assert!(!connection_may_matter(b"<Data Name='Image'>C:\\chrome.exe</Data>"));
/// ```
pub fn connection_may_matter(raw: &[u8]) -> bool {
    const WORD: &[u8] = b"schtasks";
    // `k` is rare in event text, so the candidates are few; its place in the word is 6.
    memchr::memchr(b'&', raw).is_some()
        || memchr::memchr2_iter(b'k', b'K', raw).any(|at| {
            at.checked_sub(6)
                .and_then(|start| raw.get(start..start + WORD.len()))
                .is_some_and(|w| w.eq_ignore_ascii_case(WORD))
        })
}

/// Whether a record's event-ID bytes are one the target side reads (4698, 4702, 4624,
/// 5145; blanks ignored): the byte-level test the search command runs before any
/// mapping on inputs with target-side columns.
///
/// ```
/// assert!(schtasksremote::cim::is_target_event_id(b" 4698"));
/// assert!(!schtasksremote::cim::is_target_event_id(b"4688"));
/// ```
pub fn is_target_event_id(value: &[u8]) -> bool {
    let id = |v: &[u8]| matches!(v, b"4698" | b"4702" | b"4624" | b"5145");
    // The classification trims Unicode blanks too; only non-ASCII bytes can hold them.
    id(value.trim_ascii())
        || (!value.is_ascii() && std::str::from_utf8(value).is_ok_and(|s| id(s.trim().as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classifier reads no event field outside [`CLASSIFYING_FIELDS`]: whatever
    /// such a field says, the kind is the same.
    #[test]
    fn classify_event_reads_only_classifying_fields() {
        let all = EventField::ALL;
        let ids = [
            None,
            Some("1"),
            Some("3"),
            Some("4688"),
            Some("4624"),
            Some("7"),
        ];
        let words = [
            None,
            Some("Microsoft-Windows-Sysmon"),
            Some("Security"),
            Some("x"),
        ];
        let others = [None, Some("ProcessRollup2"), Some("process"), Some("start")];
        for outside in all.iter().filter(|f| !CLASSIFYING_FIELDS.contains(f)) {
            for id in ids {
                for word in words {
                    for other in others {
                        let get = |with: bool| {
                            move |f: EventField| match f {
                                EventField::EventId => id,
                                EventField::Provider => word,
                                _ if f == *outside => with
                                    .then_some("Microsoft-Windows-Sysmon security process start 1"),
                                _ => other,
                            }
                        };
                        let says = |with: bool| {
                            move |f: EventField, w: &str| {
                                get(with)(f).map(|v| v.to_ascii_lowercase().contains(w))
                            }
                        };
                        assert_eq!(
                            classify_event(get(true), says(true)),
                            classify_event(get(false), says(false)),
                            "{outside:?} changes the kind"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn cim_names_win_over_raw_names() {
        let plan = FieldPlan::from_names(["Image", "process_name", "Computer", "dest"]);
        assert_eq!(plan.source(CimField::ProcessName), Source::Column(1));
        assert_eq!(plan.source(CimField::Dest), Source::Column(3));
        assert_eq!(plan.source(CimField::ProcessPath), Source::Column(0));
    }

    #[test]
    fn security_4688_user_is_domain_backslash_user() {
        let names = [
            "NewProcessName",
            "SubjectDomainName",
            "SubjectUserName",
            "Computer",
        ];
        let values = [
            r"C:\Windows\System32\schtasks.exe",
            "THESHIRE",
            "pgustavo",
            "WS5",
        ];
        let plan = FieldPlan::from_names(names);
        let ev = plan.map(|i| values.get(i).copied());
        let ev = ev.as_event();
        assert_eq!(ev.process_name, "schtasks.exe");
        assert_eq!(ev.process_path, values[0]);
        assert_eq!(ev.user, r"THESHIRE\pgustavo");
        assert_eq!(ev.dest, "WS5");
    }

    #[test]
    fn dash_domain_is_dropped_from_user() {
        let plan = FieldPlan::from_names(["SubjectDomainName", "SubjectUserName"]);
        let values = ["-", "SYSTEM"];
        assert_eq!(
            plan.map(|i| values.get(i).copied()).get(CimField::User),
            "SYSTEM"
        );
    }

    #[test]
    fn each_record_takes_the_first_non_empty_candidate() {
        // Sysmon and 4688 events in one search: the header has both names.
        let plan = FieldPlan::from_names(["Image", "NewProcessName", "User", "SubjectUserName"]);
        let sysmon = [r"C:\Windows\System32\schtasks.exe", "", r"D\u", ""];
        let security = ["", r"C:\Windows\System32\SCHTASKS.EXE", "", "pgustavo"];
        let a = plan.map(|i| sysmon.get(i).copied());
        let b = plan.map(|i| security.get(i).copied());
        assert_eq!(a.get(CimField::ProcessName), "schtasks.exe");
        assert_eq!(b.get(CimField::ProcessName), "SCHTASKS.EXE");
        assert_eq!(b.get(CimField::ProcessPath), security[1]);
        assert_eq!(
            (a.get(CimField::User), b.get(CimField::User)),
            (r"D\u", "pgustavo")
        );
    }

    #[test]
    fn an_override_is_the_only_source() {
        let mut plan = FieldPlan::from_names(["process", "cmdline"]);
        plan.set_source(CimField::Process, Source::Column(1));
        let values = ["schtasks /create /s a", ""];
        assert_eq!(
            plan.map(|i| values.get(i).copied()).get(CimField::Process),
            ""
        );
        plan.set_source(CimField::Process, Source::Absent);
        assert_eq!(plan.sources(CimField::Process), &[]);
    }

    #[test]
    fn missing_values_read_as_empty() {
        let plan = FieldPlan::from_names(["process", "dest"]);
        let ev = plan.map(|_| None);
        assert_eq!(ev.as_event(), ProcessEvent::default());
        assert!(!plan.has_process_fields());
    }

    /// The byte-level reject path must never reject a record the detection core would
    /// call schtasks, whichever column (CIM or raw) names the image.
    #[test]
    fn fast_reject_never_drops_a_row_the_core_calls_schtasks() {
        let values: [&[u8]; 14] = [
            b"schtasks.exe",
            b"SchTasks.EXE",
            b"\"schtasks.exe\"",
            b"schtasks.exe \t",
            br"C:\Windows\System32\schtasks.exe",
            br"C:/Windows/System32/SCHTASKS.EXE",
            br#""C:\Windows\System32\schtasks.exe" "#,
            br"C:\Windows\System32\schtasks.exe\ ",
            b"schtasks",
            b"notschtasks.exe.bak",
            b"cmd.exe",
            b"",
            b"\xffschtasks.exe",
            b"schtasks.exe\xff",
        ];
        for header in [
            &["process_name", "process_path", "original_file_name"][..],
            &["Image", "OriginalFileName", "CommandLine"][..],
            &["NewProcessName", "CommandLine"][..],
            &["winlog.event_data.Image", "CommandLine"][..],
        ] {
            let plan = FieldPlan::from_names(header.iter().copied());
            for column in 0..header.len() {
                for value in values {
                    let mut row: Vec<&[u8]> = vec![b""; header.len()];
                    row[column] = value;
                    let text: Vec<String> = row
                        .iter()
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .collect();
                    let mapped = plan.map(|i| text.get(i).map(String::as_str));
                    if crate::detection::is_schtasks(&mapped.as_event()) {
                        assert!(
                            plan.may_name_schtasks(|i| row.get(i).copied()),
                            "{header:?}[{column}] = {:?} is schtasks but was rejected",
                            String::from_utf8_lossy(value)
                        );
                    }
                }
            }
        }
    }

    /// Issue 13: the target-side events are told apart by event ID (Security only).
    #[test]
    fn task_logon_and_share_events_are_target_side_kinds() {
        let plan = FieldPlan::from_names(["EventID", "Channel"]);
        for (eid, kind) in [
            ("4698", EventKind::TaskRegistered),
            ("4702", EventKind::TaskRegistered),
            ("4624", EventKind::Logon),
            ("5145", EventKind::ShareAccess),
        ] {
            assert_eq!(plan.event_kind(|i| [eid, "Security"].get(i).copied()), kind);
            assert!(kind.is_target_side());
        }
        assert_eq!(
            plan.event_kind(|i| ["4698", "Microsoft-Windows-Sysmon/Operational"]
                .get(i)
                .copied()),
            EventKind::Other
        );
        assert!(!EventKind::ProcessCreation.is_target_side());
    }

    /// The search command's byte-level pretest for target rows must pass every event
    /// ID that the classification makes a target-side kind (else a task event would be
    /// dropped unjudged), whatever blanks surround it.
    #[test]
    fn connection_events_are_sysmon_3_and_security_5156_only() {
        let classify = |id: &'static str, provider: Option<&'static str>| {
            let first = move |f| match f {
                EventField::EventId => Some(id),
                EventField::Provider => provider,
                _ => None,
            };
            classify_event(first, move |f, w: &str| {
                first(f).map(|v| v.to_ascii_lowercase().contains(w))
            })
        };
        assert_eq!(
            classify("3", Some("Microsoft-Windows-Sysmon")),
            EventKind::Connection
        );
        assert_eq!(
            classify("5156", Some("Microsoft-Windows-Security-Auditing")),
            EventKind::Connection
        );
        assert_eq!(classify("5156", None), EventKind::Connection);
        // Another provider's 3, or a 3 with no provider named, is not Sysmon's.
        assert_eq!(
            classify("3", Some("Service Control Manager")),
            EventKind::Other
        );
        assert_eq!(classify("3", None), EventKind::Other);
        assert_eq!(
            classify("5156", Some("Microsoft-Windows-Sysmon")),
            EventKind::Other
        );
    }

    #[test]
    fn target_event_id_pretest_never_drops_a_row_the_classification_keeps() {
        let plan = FieldPlan::from_names(["EventCode", "LogName"]);
        for id in [
            "4698",
            " 4702",
            "4624 ",
            "\t5145",
            "4688",
            "1",
            "46980",
            "",
            "0x1262",
            "４６９８",
            "\u{3000}4698\u{a0}",
        ] {
            let id = id.replace("\\t", "\t");
            let kind = plan.event_kind(|i| [id.as_str(), "Security"].get(i).copied());
            if kind.is_target_side() {
                assert!(
                    is_target_event_id(id.as_bytes()),
                    "{id:?} is {kind:?} but rejected"
                );
            } else {
                assert!(!is_target_event_id(id.as_bytes()), "{id:?}");
            }
        }
    }

    #[test]
    fn raw_and_classic_task_names_map_to_the_same_target_fields() {
        let raw = TargetPlan::from_names([
            "SubjectLogonId",
            "TaskName",
            "TaskContentNew",
            "ClientProcessId",
        ]);
        let classic = TargetPlan::from_names([
            "Logon_ID",
            "Task_Name",
            "Task_New_Content",
            "ClientProcessId",
        ]);
        let row = ["0x1", r"\T", "<Task/>", "0"];
        for plan in [raw, classic] {
            let get = |i: usize| row.get(i).copied();
            assert_eq!(plan.get(TargetField::SubjectLogonId, get), "0x1");
            assert_eq!(plan.get(TargetField::TaskName, get), r"\T");
            assert_eq!(plan.get(TargetField::TaskContent, get), "<Task/>");
            assert_eq!(plan.get(TargetField::ClientProcessId, get), "0");
            assert_eq!(plan.get(TargetField::RpcCallClientLocality, get), "");
        }
        assert!(!TargetPlan::from_names(["Image", "CommandLine"]).has_target_fields());
    }

    #[test]
    fn sysmon_eid_1_is_a_process_event_but_other_providers_eid_1_is_not() {
        let plan = FieldPlan::from_names(["EventID", "SourceName"]);
        let sysmon = ["1", "Microsoft-Windows-Sysmon"];
        let time = ["1", "Microsoft-Windows-Time-Service"];
        assert_eq!(
            plan.event_kind(|i| sysmon.get(i).copied()),
            EventKind::ProcessCreation
        );
        assert_eq!(plan.event_kind(|i| time.get(i).copied()), EventKind::Other);
    }

    #[test]
    fn security_4688_and_crowdstrike_rollups_are_process_events() {
        let sec = FieldPlan::from_names(["EventID", "Channel"]);
        assert_eq!(
            sec.event_kind(|i| ["4688", "Security"].get(i).copied()),
            EventKind::ProcessCreation
        );
        let cs = FieldPlan::from_names(["event_simpleName", "CommandLine"]);
        assert_eq!(
            cs.event_kind(|i| ["SyntheticProcessRollup2", "x"].get(i).copied()),
            EventKind::ProcessCreation
        );
        assert_eq!(
            cs.event_kind(|i| ["DnsRequest", "x"].get(i).copied()),
            EventKind::Other
        );
    }

    #[test]
    fn rows_without_event_type_are_process_events_only_with_process_fields() {
        let cim = FieldPlan::from_names(["process_name"]);
        assert_eq!(
            cim.event_kind(|_| Some("a.exe")),
            EventKind::ProcessCreation
        );
        let other = FieldPlan::from_names(["foo"]);
        assert_eq!(other.event_kind(|_| Some("bar")), EventKind::Other);
    }

    #[test]
    fn raw_names_are_found_at_the_end_of_a_dotted_path_and_cim_names_are_not() {
        let plan = FieldPlan::from_names([
            "winlog.event_data.CommandLine",
            "x.process_name",
            "winlog.computer_name",
        ]);
        assert_eq!(plan.source(CimField::Process), Source::Column(0));
        assert_eq!(plan.source(CimField::ProcessName), Source::Absent);
        assert_eq!(plan.source(CimField::Dest), Source::Column(2));
    }

    /// Issue 10 kind A, one row per rendering: the same process creation under each
    /// naming maps to the same CIM event (sources of the names in
    /// `CimField::candidates`).
    #[test]
    fn every_rendering_maps_to_the_same_process_event() {
        let path = r"C:\Windows\System32\schtasks.exe";
        let cmd = "schtasks /create /s HOST2 /tn t /tr c:\\a.exe";
        let table: [(&str, &[(&str, &str)]); 7] = [
            (
                "CIM",
                &[
                    ("process_path", path),
                    ("process", cmd),
                    ("dest", "wks01"),
                    ("user", r"CORP\u1"),
                    ("parent_process_name", "cmd.exe"),
                ],
            ),
            (
                "Sysmon 1",
                &[
                    ("Image", path),
                    ("CommandLine", cmd),
                    ("Computer", "wks01"),
                    ("User", r"CORP\u1"),
                    ("ParentImage", r"C:\Windows\System32\cmd.exe"),
                ],
            ),
            (
                "Security 4688",
                &[
                    ("NewProcessName", path),
                    ("CommandLine", cmd),
                    ("Computer", "wks01"),
                    ("SubjectDomainName", "CORP"),
                    ("SubjectUserName", "u1"),
                    ("ParentProcessName", r"C:\Windows\System32\cmd.exe"),
                ],
            ),
            (
                "classic WinEventLog",
                &[
                    ("New_Process_Name", path),
                    ("Process_Command_Line", cmd),
                    ("ComputerName", "wks01"),
                    ("Account_Domain", "CORP"),
                    ("Account_Name", "u1"),
                    ("Creator_Process_Name", r"C:\Windows\System32\cmd.exe"),
                ],
            ),
            (
                "ECS",
                &[
                    ("process.executable", path),
                    ("process.command_line", cmd),
                    ("winlog.computer_name", "wks01"),
                    ("host.name", "shipper"),
                    ("user.domain", "CORP"),
                    ("user.name", "u1"),
                    ("process.parent.name", "cmd.exe"),
                ],
            ),
            (
                "Defender",
                &[
                    ("properties.FolderPath", path),
                    ("properties.ProcessCommandLine", cmd),
                    ("properties.DeviceName", "wks01"),
                    ("properties.AccountDomain", "CORP"),
                    ("properties.AccountName", "u1"),
                    ("properties.InitiatingProcessFileName", "cmd.exe"),
                ],
            ),
            (
                "Splunk host only",
                &[
                    ("Image", path),
                    ("CommandLine", cmd),
                    ("host", "wks01"),
                    ("User", r"CORP\u1"),
                    ("ParentImage", "cmd.exe"),
                ],
            ),
        ];
        for (rendering, pairs) in table {
            let plan = FieldPlan::from_names(pairs.iter().map(|(n, _)| *n));
            let mapped = plan.map(|i| pairs.get(i).map(|(_, v)| *v));
            let event = mapped.as_event();
            assert_eq!(
                (event.process_name, event.process_path, event.process),
                ("schtasks.exe", path, cmd),
                "{rendering}"
            );
            assert_eq!(
                (event.dest, event.user, event.parent_process_name),
                ("wks01", r"CORP\u1", "cmd.exe"),
                "{rendering}"
            );
        }
    }
}
