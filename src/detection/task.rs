//! The target side: the events the *remote* machine writes when a scheduled task is
//! registered on it, and the task definition XML they carry. Pure: no I/O.
//!
//! - Security 4698 ("A scheduled task was created") and 4702 ("A scheduled task was
//!   updated") carry the task's XML (`TaskContent`, `TaskContentNew`) and, since
//!   Windows 10 / Server 2016 builds of 2019 on, `RpcCallClientLocality` and
//!   `ClientProcessId`. Both are 0 when the Task Scheduler service was called over the
//!   network (Elastic's rule "Remote Scheduled Task Creation via RPC"; its false-positive
//!   history, detection-rules issue #3417 / PR #3419: the locality alone is 0 for tasks
//!   SYSTEM registers locally, so both are needed).
//! - Security 5145 ("A network share object was checked to see whether client can be
//!   granted desired access") on `\\*\IPC$` for the `atsvc` pipe with `WriteData`: the
//!   AT service (`at.exe \\host`, Impacket `atexec`) being driven remotely (Sigma
//!   `win_security_atsvc_task.yml`).
//! - Security 4624 logon type 3 (network): on Windows without the two RPC fields, a
//!   4698/4702 whose `SubjectLogonId` is a network logon's `TargetLogonId` was made by a
//!   remote caller (Sigma's unsupported `win_remote_schtask.yml`). The correlation
//!   needs both events, so it is the scanner's (and a saved search's) job; this module
//!   only judges each side ([`analyze_task`], [`analyze_network_logon_task`]).
//!
//! [`TaskDefinition::parse`] reads the task XML (schema: Microsoft "Task Scheduler
//! Schema", `http://schemas.microsoft.com/windows/2004/02/mit/task`) with quick-xml into
//! the same fields the source side fills from the command line (`task_name`,
//! `task_action`, `task_schedule`, `task_run_as`) plus `task_author`.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{Analysis, DetectorConfig, Operation, Reason};

/// Which task event a [`TaskEvent`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEventId {
    /// Security 4698, a scheduled task was created.
    Created,
    /// Security 4702, a scheduled task was updated.
    Updated,
}

impl TaskEventId {
    /// From the Windows event ID (`"4698"`, `"4702"`; blanks ignored).
    pub fn from_event_id(id: &str) -> Option<TaskEventId> {
        match id.trim() {
            "4698" => Some(TaskEventId::Created),
            "4702" => Some(TaskEventId::Updated),
            _ => None,
        }
    }

    /// The schtasks operation the event stands for (`create`, `change`).
    pub fn operation(self) -> Operation {
        match self {
            TaskEventId::Created => Operation::Create,
            TaskEventId::Updated => Operation::Change,
        }
    }
}

/// One Security 4698 or 4702 event, by its `<Data Name=>`s (see `cim` for the classic
/// names). An empty string means the field is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskEvent<'a> {
    pub id: TaskEventId,
    /// The host that logged the event: the machine the task was registered on.
    pub dest: &'a str,
    /// `SubjectDomainName\SubjectUserName`: the account that registered the task.
    pub user: &'a str,
    /// `SubjectLogonId` (`0xead4335`).
    pub logon_id: &'a str,
    /// `TaskName` (`\Microsoft\Windows\…\EventCacheManager`).
    pub task_name: &'a str,
    /// `TaskContent` (4698) or `TaskContentNew` (4702): the task XML.
    pub task_content: &'a str,
    /// `RpcCallClientLocality`: 0 for a network caller.
    pub rpc_call_client_locality: &'a str,
    /// `ClientProcessId`: 0 when the caller is not a local process.
    pub client_process_id: &'a str,
}

/// What the two RPC fields of a 4698/4702 say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcCaller {
    /// Both present and 0: the call came over the network.
    Remote,
    /// Either present and not 0: a local process made the call.
    Local,
    /// Neither is decisive (absent, as before Windows 10 1903-era builds, or only one
    /// present and 0): only a network logon can tell (the correlated rule).
    Unknown,
}

/// A field value that is the number 0 (`0`, `0x0`, blanks ignored).
fn is_zero(value: &str) -> bool {
    let v = value.trim();
    let digits = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

impl TaskEvent<'_> {
    /// The caller, from `RpcCallClientLocality` and `ClientProcessId` (module doc).
    pub fn caller(&self) -> RpcCaller {
        let (locality, pid) = (self.rpc_call_client_locality, self.client_process_id);
        let present = |v: &str| !v.trim().is_empty();
        if (present(locality) && !is_zero(locality)) || (present(pid) && !is_zero(pid)) {
            RpcCaller::Local
        } else if present(locality) && present(pid) {
            RpcCaller::Remote
        } else {
            RpcCaller::Unknown
        }
    }
}

/// A network logon (Security 4624, logon type 3) on the host a task event was logged
/// on: where the remote caller came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkLogon<'a> {
    /// `IpAddress` (`172.18.39.5`; `-` when unknown).
    pub ip_address: &'a str,
    /// `WorkstationName` (`-` when unknown, as for Kerberos logons).
    pub workstation: &'a str,
}

impl NetworkLogon<'_> {
    /// The caller as `src`: the workstation name when known, else the address.
    pub fn src(&self) -> &str {
        let known = |v: &str| !v.trim().is_empty() && v.trim() != "-";
        if known(self.ip_address) {
            self.ip_address.trim()
        } else if known(self.workstation) {
            self.workstation.trim()
        } else {
            ""
        }
    }

    /// Whether the logon came from this machine itself (`::1`, `127.0.0.1`): Sigma's
    /// filter; such a logon says nothing about a remote caller.
    pub fn is_loopback(&self) -> bool {
        let ip = self.ip_address.trim();
        ip == "::1" || ip.starts_with("127.") || ip == "::ffff:127.0.0.1"
    }
}

/// The parts of a task definition the analyst asks for first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskDefinition {
    /// `RegistrationInfo/Author`.
    pub author: Option<String>,
    /// `RegistrationInfo/URI`: the task's path.
    pub uri: Option<String>,
    /// One entry per action: `Exec` as `Command Arguments`; `ComHandler` as
    /// `ComHandler {ClassId}`; `SendEmail`/`ShowMessage` by name.
    pub actions: Vec<String>,
    /// The triggers in schtasks' `/sc` terms (`once`, `daily`, `weekly`, `monthly`,
    /// `onstart`, `onlogon`, `onidle`, `onevent`), or the element name for the others
    /// (`RegistrationTrigger`).
    pub schedules: Vec<String>,
    /// `Principal/UserId` (well-known SIDs by name: `S-1-5-18` is `SYSTEM`), else
    /// `Principal/GroupId`.
    pub run_as: Option<String>,
    /// `Settings/Hidden` is `true`.
    pub hidden: bool,
}

/// Why task XML could not be read to its end. What was read before stays in the
/// [`TaskDefinition`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed task XML at byte {at}: {message}")]
pub struct TaskXmlError {
    pub at: u64,
    pub message: String,
}

/// Names of the well-known accounts a task may run as (Microsoft "Well-known SIDs").
fn account_name(sid: &str) -> Option<&'static str> {
    match sid.trim() {
        "S-1-5-18" => Some("SYSTEM"),
        "S-1-5-19" => Some("LOCAL SERVICE"),
        "S-1-5-20" => Some("NETWORK SERVICE"),
        _ => None,
    }
}

/// A trigger element's name in schtasks `/sc` terms.
fn schedule_name(trigger: &str, calendar: Option<&str>) -> String {
    let name = match trigger {
        "TimeTrigger" => "once",
        "BootTrigger" => "onstart",
        "LogonTrigger" => "onlogon",
        "IdleTrigger" => "onidle",
        "EventTrigger" => "onevent",
        "CalendarTrigger" => match calendar {
            Some("ScheduleByDay") => "daily",
            Some("ScheduleByWeek") => "weekly",
            Some("ScheduleByMonth" | "ScheduleByMonthDayOfWeek") => "monthly",
            _ => "calendar",
        },
        other => other,
    };
    name.to_owned()
}

impl TaskDefinition {
    /// Reads task XML. The text may arrive escaped once more than XML needs (NXLog's JSON
    /// of 2020 writes `&lt;?xml …`, as in the OTRF Empire dataset): it is then unescaped
    /// first. A definition that stops being well-formed keeps what was read before the
    /// error, which is returned beside it.
    ///
    /// ```
    /// use schtasksremote::detection::task::TaskDefinition;
    /// let xml = r#"<Task><RegistrationInfo><Author>CORP\adm</Author></RegistrationInfo>
    ///   <Triggers><BootTrigger/></Triggers><Principals><Principal><UserId>S-1-5-18</UserId>
    ///   </Principal></Principals><Actions><Exec><Command>cmd.exe</Command>
    ///   <Arguments>/c x</Arguments></Exec></Actions></Task>"#;
    /// let (task, error) = TaskDefinition::parse(xml);
    /// assert!(error.is_none());
    /// assert_eq!(task.actions, ["cmd.exe /c x"]);
    /// assert_eq!(task.run_as.as_deref(), Some("SYSTEM"));
    /// assert_eq!(task.schedules, ["onstart"]);
    /// ```
    pub fn parse(xml: &str) -> (TaskDefinition, Option<TaskXmlError>) {
        let text: Cow<str> = if xml.trim_start().starts_with("&lt;") {
            quick_xml::escape::unescape(xml).unwrap_or(Cow::Borrowed(xml))
        } else {
            Cow::Borrowed(xml)
        };
        let mut task = TaskDefinition::default();
        let error = read_definition(&text, &mut task).err();
        (task, error)
    }
}

/// Where in the definition the reader is: the element path (local names), bounded.
const MAX_DEPTH: usize = 16;

fn read_definition(xml: &str, task: &mut TaskDefinition) -> Result<(), TaskXmlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::with_capacity(8);
    let mut command = String::new();
    let mut arguments = String::new();
    let mut group: Option<String> = None;
    let mut trigger: Option<(String, Option<String>)> = None;
    let fail = |reader: &Reader<&[u8]>, message: String| TaskXmlError {
        at: reader.error_position(),
        message,
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| fail(&reader, e.to_string()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if path.len() >= MAX_DEPTH => {
                let _ = e;
                return Err(fail(&reader, format!("nested deeper than {MAX_DEPTH}")));
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                open(&path, &name, &mut trigger);
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                open(&path, &name, &mut trigger);
                path.push(name);
                close(&mut path, task, &mut command, &mut arguments, &mut trigger);
            }
            Event::Text(t) => {
                let value = t
                    .unescape()
                    .map_err(|e| fail(&reader, e.to_string()))?
                    .into_owned();
                let at = |tail: &[&str]| {
                    path.ends_with(&tail.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                };
                if at(&["RegistrationInfo", "Author"]) {
                    task.author = Some(value);
                } else if at(&["RegistrationInfo", "URI"]) {
                    task.uri = Some(value);
                } else if at(&["Exec", "Command"]) {
                    command = value;
                } else if at(&["Exec", "Arguments"]) {
                    arguments = value;
                } else if at(&["ComHandler", "ClassId"]) {
                    task.actions.push(format!("ComHandler {value}"));
                } else if at(&["Principal", "UserId"]) {
                    let name = account_name(&value).map(str::to_owned);
                    task.run_as = Some(name.unwrap_or(value));
                } else if at(&["Principal", "GroupId"]) {
                    group = Some(value);
                } else if at(&["Settings", "Hidden"]) {
                    task.hidden = value.eq_ignore_ascii_case("true");
                }
            }
            Event::End(_) => close(&mut path, task, &mut command, &mut arguments, &mut trigger),
            Event::Eof => break,
            _ => {}
        }
    }
    if task.run_as.is_none() {
        task.run_as = group;
    }
    Ok(())
}

/// An element opens at `path`: remember which trigger, and how a calendar repeats.
fn open(path: &[String], name: &str, trigger: &mut Option<(String, Option<String>)>) {
    let parent = path.last().map(String::as_str);
    if parent == Some("Triggers") {
        *trigger = Some((name.to_owned(), None));
    } else if parent == Some("CalendarTrigger") && name.starts_with("ScheduleBy") {
        if let Some((_, calendar)) = trigger {
            *calendar = Some(name.to_owned());
        }
    }
}

/// The innermost element closes: finish an `Exec` action or a trigger.
fn close(
    path: &mut Vec<String>,
    task: &mut TaskDefinition,
    command: &mut String,
    arguments: &mut String,
    trigger: &mut Option<(String, Option<String>)>,
) {
    let Some(name) = path.pop() else { return };
    let parent = path.last().map(String::as_str);
    match (parent, name.as_str()) {
        (Some("Actions"), "Exec") => {
            let action = match (command.is_empty(), arguments.is_empty()) {
                (_, true) => std::mem::take(command),
                (true, false) => std::mem::take(arguments),
                (false, false) => format!("{command} {arguments}"),
            };
            command.clear();
            arguments.clear();
            task.actions.push(action);
        }
        (Some("Actions"), other @ ("SendEmail" | "ShowMessage")) => {
            task.actions.push(other.to_owned());
        }
        (Some("Triggers"), _) => {
            if let Some((kind, calendar)) = trigger.take() {
                task.schedules
                    .push(schedule_name(&kind, calendar.as_deref()));
            }
        }
        _ => {}
    }
}

/// An analysis with the task fields of `event` and the given verdict; `src` is the
/// remote caller when known.
fn task_analysis(
    event: &TaskEvent<'_>,
    reason: Reason,
    src: &str,
    config: &DetectorConfig,
) -> Analysis {
    let (definition, _error) = TaskDefinition::parse(event.task_content);
    let mut analysis = Analysis::empty(reason, Some(event.id.operation()));
    let non_empty = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
    analysis.task_name = non_empty(event.task_name).or(definition.uri);
    analysis.task_action = (!definition.actions.is_empty()).then(|| definition.actions.join("; "));
    analysis.schedule = (!definition.schedules.is_empty()).then(|| definition.schedules.join(","));
    analysis.run_as = definition.run_as;
    analysis.task_author = definition.author;
    analysis.src = non_empty(src);
    analysis.finish(config, |name| match name {
        "dest" => Some(event.dest),
        "user" => Some(event.user),
        "src" => Some(src),
        "task_name" => Some(event.task_name),
        _ => None,
    });
    analysis
}

/// Judges one 4698/4702 on its own: a detection when both RPC fields say the caller
/// was remote ([`RpcCaller::Remote`]); otherwise the reason is `local_rpc_caller` or
/// `no_rpc_caller_fields` (which [`analyze_network_logon_task`] may still make a
/// detection). The task fields are filled either way.
///
/// ```
/// use schtasksremote::detection::{DetectorConfig, Reason};
/// use schtasksremote::detection::task::{analyze_task, TaskEvent, TaskEventId};
/// let event = TaskEvent {
///     id: TaskEventId::Created, dest: "WS6", user: r"CORP\u", logon_id: "0x1",
///     task_name: r"\T", task_content: "<Task/>",
///     rpc_call_client_locality: "0", client_process_id: "0",
/// };
/// let a = analyze_task(&event, &DetectorConfig::default());
/// assert_eq!(a.reason, Reason::RemoteRpcTask);
/// assert!(a.is_detection());
/// ```
pub fn analyze_task(event: &TaskEvent<'_>, config: &DetectorConfig) -> Analysis {
    let reason = match event.caller() {
        RpcCaller::Remote => Reason::RemoteRpcTask,
        RpcCaller::Local => Reason::LocalRpcCaller,
        RpcCaller::Unknown => Reason::NoRpcCallerFields,
    };
    task_analysis(event, reason, "", config)
}

/// Judges a 4698/4702 together with the network logon (4624 type 3, same host) whose
/// `TargetLogonId` is the event's `SubjectLogonId`. A task event whose RPC fields say
/// the caller was local stays local; one whose fields say remote stays the one-event
/// detection, with the caller's address added as `src`; one without the fields becomes
/// the correlated detection (`network_logon_task`), unless the logon came from the
/// loopback address.
pub fn analyze_network_logon_task(
    event: &TaskEvent<'_>,
    logon: &NetworkLogon<'_>,
    config: &DetectorConfig,
) -> Analysis {
    let reason = match event.caller() {
        RpcCaller::Local => Reason::LocalRpcCaller,
        RpcCaller::Remote => Reason::RemoteRpcTask,
        RpcCaller::Unknown if logon.is_loopback() => Reason::NoRpcCallerFields,
        RpcCaller::Unknown => Reason::NetworkLogonTask,
    };
    task_analysis(event, reason, logon.src(), config)
}

/// One Security 5145 event (a share object access check), by its `<Data Name=>`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShareAccess<'a> {
    /// The host that logged the event (the target).
    pub dest: &'a str,
    pub user: &'a str,
    /// `ShareName` (`\\*\IPC$`).
    pub share_name: &'a str,
    /// `RelativeTargetName` (`atsvc`).
    pub relative_target_name: &'a str,
    /// `AccessList`: `%%4417` (raw) or `WriteData (or AddFile)` (rendered).
    pub access_list: &'a str,
    /// `IpAddress`: the client.
    pub ip_address: &'a str,
}

/// Judges a 5145: `Some` detection when the AT service's pipe on `IPC$` was opened for
/// writing (Sigma `win_security_atsvc_task.yml`: ShareName `\\*\IPC$`,
/// RelativeTargetName `atsvc`, AccessList contains `WriteData`; `%%4417` is
/// WriteData's message ID in raw XML). `None` for every other share access.
pub fn analyze_share_access(event: &ShareAccess<'_>, config: &DetectorConfig) -> Option<Analysis> {
    let share = event.share_name.trim();
    let ipc = share.len() >= 4
        && share
            .get(share.len() - 4..)
            .is_some_and(|t| t.eq_ignore_ascii_case("IPC$"));
    let pipe = event
        .relative_target_name
        .trim()
        .trim_start_matches('\\')
        .eq_ignore_ascii_case("atsvc");
    let write = event.access_list.contains("%%4417")
        || event.access_list.to_ascii_lowercase().contains("writedata");
    if !(ipc && pipe && write) {
        return None;
    }
    let mut analysis = Analysis::empty(Reason::AtsvcPipeWrite, None);
    let src = event.ip_address.trim();
    analysis.src = (!src.is_empty() && src != "-").then(|| src.to_owned());
    analysis.finish(config, |name| match name {
        "dest" => Some(event.dest),
        "user" => Some(event.user),
        "src" => Some(src),
        _ => None,
    });
    Some(analysis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OTRF `schtask_create` (SDWIN-201219070027), the 4698 on WORKSTATION6, abridged.
    const OTRF_4698: &str = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n  <RegistrationInfo>\n    <Date>2020-12-19T07:00:22</Date>\n    <Author>THESHIRE\\pgustavo</Author>\n    <URI>\\Microsoft\\Windows\\SoftwareProtectionPlatform\\EventCacheManager</URI>\n  </RegistrationInfo>\n  <Triggers>\n    <BootTrigger>\n      <StartBoundary>2020-12-19T07:00:00</StartBoundary>\n      <Enabled>true</Enabled>\n    </BootTrigger>\n  </Triggers>\n  <Actions Context=\"Author\">\n    <Exec>\n      <Command>C:\\Windows\\system32\\cmd.exe</Command>\n      <Arguments>/C C:\\Windows\\System32\\notepad.exe</Arguments>\n    </Exec>\n  </Actions>\n  <Principals>\n    <Principal id=\"Author\">\n      <UserId>S-1-5-18</UserId>\n      <RunLevel>LeastPrivilege</RunLevel>\n    </Principal>\n  </Principals>\n</Task>";

    #[test]
    fn the_otrf_task_xml_gives_the_source_sides_fields() {
        let (task, error) = TaskDefinition::parse(OTRF_4698);
        assert_eq!(error, None);
        assert_eq!(task.author.as_deref(), Some(r"THESHIRE\pgustavo"));
        assert_eq!(
            task.uri.as_deref(),
            Some(r"\Microsoft\Windows\SoftwareProtectionPlatform\EventCacheManager")
        );
        assert_eq!(
            task.actions,
            [r"C:\Windows\system32\cmd.exe /C C:\Windows\System32\notepad.exe"]
        );
        assert_eq!(task.schedules, ["onstart"]);
        assert_eq!(task.run_as.as_deref(), Some("SYSTEM"));
    }

    /// OTRF Empire dataset: NXLog wrote the XML escaped twice (`&lt;Task …&gt;`).
    #[test]
    fn doubly_escaped_xml_is_unescaped_first() {
        let escaped = "&lt;Task&gt;&lt;Triggers&gt;&lt;CalendarTrigger&gt;&lt;ScheduleByDay/&gt;&lt;/CalendarTrigger&gt;&lt;/Triggers&gt;&lt;Actions&gt;&lt;Exec&gt;&lt;Command&gt;powershell.exe&lt;/Command&gt;&lt;/Exec&gt;&lt;/Actions&gt;&lt;/Task&gt;";
        let (task, error) = TaskDefinition::parse(escaped);
        assert_eq!(error, None);
        assert_eq!(task.actions, ["powershell.exe"]);
        assert_eq!(task.schedules, ["daily"]);
    }

    #[test]
    fn malformed_xml_keeps_what_was_read_and_says_where_it_broke() {
        let (task, error) =
            TaskDefinition::parse("<Task><RegistrationInfo><Author>a</Author></Oops>");
        assert_eq!(task.author.as_deref(), Some("a"));
        assert!(error.is_some_and(|e| e.to_string().starts_with("malformed task XML at byte")));
        let (task, _) = TaskDefinition::parse("");
        assert_eq!(task, TaskDefinition::default());
    }

    #[test]
    fn com_handler_and_group_principals_are_read() {
        let xml = "<Task><Actions><ComHandler><ClassId>{1-2}</ClassId></ComHandler></Actions><Principals><Principal><GroupId>S-1-5-32-545</GroupId></Principal></Principals></Task>";
        let (task, _) = TaskDefinition::parse(xml);
        assert_eq!(task.actions, ["ComHandler {1-2}"]);
        assert_eq!(task.run_as.as_deref(), Some("S-1-5-32-545"));
    }

    fn event<'a>(locality: &'a str, pid: &'a str) -> TaskEvent<'a> {
        TaskEvent {
            id: TaskEventId::Created,
            dest: "WORKSTATION6.theshire.local",
            user: r"THESHIRE\pgustavo",
            logon_id: "0xead4335",
            task_name: r"\T",
            task_content: OTRF_4698,
            rpc_call_client_locality: locality,
            client_process_id: pid,
        }
    }

    /// The spec table of the one-event rule (issue 13): both 0, either non-zero, absent.
    #[test]
    fn only_both_rpc_fields_zero_is_a_remote_caller() {
        let table = [
            ("0", "0", RpcCaller::Remote),
            ("0x0", " 0 ", RpcCaller::Remote),
            ("1", "0", RpcCaller::Local),
            ("0", "4242", RpcCaller::Local),
            ("", "4242", RpcCaller::Local),
            ("", "", RpcCaller::Unknown),
            ("0", "", RpcCaller::Unknown),
            ("", "0", RpcCaller::Unknown),
        ];
        for (locality, pid, expected) in table {
            assert_eq!(
                event(locality, pid).caller(),
                expected,
                "{locality:?} {pid:?}"
            );
        }
    }

    #[test]
    fn a_network_logon_makes_a_task_without_rpc_fields_a_detection_but_not_a_local_one() {
        let config = DetectorConfig::default();
        let logon = NetworkLogon {
            ip_address: "172.18.39.5",
            workstation: "-",
        };
        let a = analyze_network_logon_task(&event("", ""), &logon, &config);
        assert_eq!(a.reason, Reason::NetworkLogonTask);
        assert_eq!(a.src.as_deref(), Some("172.18.39.5"));
        let local = analyze_network_logon_task(&event("1", "880"), &logon, &config);
        assert!(!local.is_detection());
        let loopback = NetworkLogon {
            ip_address: "::1",
            workstation: "-",
        };
        assert!(!analyze_network_logon_task(&event("", ""), &loopback, &config).is_detection());
    }

    #[test]
    fn only_a_write_to_the_atsvc_pipe_on_ipc_is_a_detection() {
        let config = DetectorConfig::default();
        let mut e = ShareAccess {
            dest: "DC1",
            user: r"CORP\adm",
            share_name: r"\\*\IPC$",
            relative_target_name: "atsvc",
            access_list: "%%1538\r\n\t%%4417\r\n",
            ip_address: "10.0.0.5",
        };
        let a = analyze_share_access(&e, &config).expect("atsvc write");
        assert_eq!(a.reason, Reason::AtsvcPipeWrite);
        assert_eq!(a.src.as_deref(), Some("10.0.0.5"));
        e.access_list = "%%1541";
        assert!(analyze_share_access(&e, &config).is_none());
        e.access_list = "WriteData (or AddFile)";
        e.relative_target_name = "svcctl";
        assert!(analyze_share_access(&e, &config).is_none());
    }
}
