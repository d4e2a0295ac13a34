//! The one mapping from event field names to a CIM `Endpoint.Processes` event.
//!
//! Two users share it: the search command (whose rows carry CIM names, with or without
//! the `Processes.` prefix, or raw Sysmon / Security 4688 / CrowdStrike names when it
//! runs on raw events) and the offline scanner (whose records carry raw names only).
//!
//! The mapping follows the Splunk add-ons (`detection-research.md` §5):
//!
//! | CIM field | CIM names | Sysmon EID 1 | Security 4688 | CrowdStrike ProcessRollup2 |
//! |---|---|---|---|---|
//! | process_name | `process_name` | basename of `Image` | basename of `NewProcessName` | basename of `ImageFileName` |
//! | process_path | `process_path` | `Image` | `NewProcessName` | `ImageFileName` |
//! | original_file_name | `original_file_name` | `OriginalFileName` | — | — |
//! | process | `process` | `CommandLine` | `CommandLine` (`Process_Command_Line`) | `CommandLine` |
//! | parent_process_name | `parent_process_name` | basename of `ParentImage` | basename of `ParentProcessName` | `ParentBaseFileName` |
//! | dest | `dest` | `Computer` | `Computer` | `ComputerName`, `aid_computer_name` |
//! | user | `user` | `User` | `SubjectDomainName\SubjectUserName` | `UserName`, else `UserSid` |
//!
//! A plan is computed once per set of field names (a CSV header, an event's keys) and
//! then applied to each record without searching names again. It keeps every candidate
//! that is present, in priority order, and each record takes the first non-empty one:
//! a Splunk search over Sysmon and 4688 events together has both `Image` and
//! `NewProcessName` in its header, and each row fills only one of them.

use std::borrow::Cow;

use crate::detection::ProcessEvent;

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

    /// Candidate sources in priority order: the CIM names first, then raw names.
    fn candidates(self) -> &'static [Candidate] {
        use Candidate::{Basename, DomainUser, Plain};
        match self {
            CimField::ProcessName => &[
                Plain("process_name"),
                Plain("Processes.process_name"),
                Basename("process_path"),
                Basename("Processes.process_path"),
                Basename("Image"),
                Basename("NewProcessName"),
                Basename("ImageFileName"),
            ],
            CimField::ProcessPath => &[
                Plain("process_path"),
                Plain("Processes.process_path"),
                Plain("Image"),
                Plain("NewProcessName"),
                Plain("ImageFileName"),
            ],
            CimField::OriginalFileName => &[
                Plain("original_file_name"),
                Plain("Processes.original_file_name"),
                Plain("OriginalFileName"),
            ],
            CimField::Process => &[
                Plain("process"),
                Plain("Processes.process"),
                Plain("CommandLine"),
                Plain("Process_Command_Line"),
            ],
            CimField::ParentProcessName => &[
                Plain("parent_process_name"),
                Plain("Processes.parent_process_name"),
                Basename("ParentImage"),
                Basename("ParentProcessName"),
                Plain("ParentBaseFileName"),
            ],
            CimField::Dest => &[
                Plain("dest"),
                Plain("Processes.dest"),
                Plain("Computer"),
                Plain("ComputerName"),
                Plain("aid_computer_name"),
                Plain("Hostname"),
                // winlogbeat's `winlog.computer_name`, flattened to its leaf name.
                Plain("computer_name"),
            ],
            CimField::User => &[
                Plain("user"),
                Plain("Processes.user"),
                Plain("User"),
                DomainUser("SubjectDomainName", "SubjectUserName"),
                Plain("SubjectUserName"),
                Plain("UserName"),
                Plain("UserSid"),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Candidate {
    Plain(&'static str),
    Basename(&'static str),
    DomainUser(&'static str, &'static str),
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
        let find = |wanted: &str| names.iter().position(|n| *n == wanted);
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
        plan
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

/// The file-name part of a Windows (or POSIX) path: after the last `\` or `/`.
///
/// ```
/// assert_eq!(schtasksremote::cim::basename(r"C:\Windows\System32\schtasks.exe"), "schtasks.exe");
/// assert_eq!(schtasksremote::cim::basename("schtasks.exe"), "schtasks.exe");
/// ```
pub fn basename(path: &str) -> &str {
    match path.rfind(['\\', '/']) {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
