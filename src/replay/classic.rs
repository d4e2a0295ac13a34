//! Classic WinEventLog raw text: what Splunk's Windows inputs index with
//! `renderXml = false` (sourcetype `WinEventLog`, the Splunk_TA_windows default before
//! XML), and what a search exported as raw events holds. Many events per file, CRLF or LF
//! (the message's indents are tabs, shown here as spaces):
//!
//! ```text
//! 10/27/2020 08:00:14 PM
//! LogName=Security
//! EventCode=4688
//! ComputerName=wks01.corp.example
//! …
//! Message=A new process has been created.
//!
//! Creator Subject:
//!     Account Name:        user1
//!     Account Domain:        CORP
//! …
//! Process Information:
//!     New Process Name:    C:\Windows\System32\schtasks.exe
//!     Creator Process Name:    C:\Windows\System32\cmd.exe
//!     Process Command Line:    schtasks /create /s HOST2 …
//! ```
//!
//! An event starts at a line holding only a timestamp (`MM/DD/YYYY hh:mm:ss AM`, the
//! `LINE_BREAKER` of Splunk_TA_windows' `[WinEventLog]` stanza), or, in exports that dropped
//! that line, at a second `LogName=`. Before `Message=`, lines are `Key=Value` header
//! fields, named as written (`EventCode`, `ComputerName`, `SourceName`). After it, each
//! `Label:<TAB>value` line of Security events and each `Name: value` line of Sysmon
//! events is a field named as Splunk_TA_windows names it: the label with spaces turned
//! into `_` (`New_Process_Name`, `Process_Command_Line`, `Account_Name`; Sysmon's
//! `CommandLine`, `Image` stay as they are). A label that repeats (4688's two
//! `Account Name:` lines, creator then target) keeps every copy; lookups take the first,
//! the creator's, which is the one that ran the command. Section headings
//! (`Process Information:`) and prose are not fields. One label spans lines: the task
//! XML of 4698 (`Task Content:`) and 4702 (`Task New Content:`) starts on the label's
//! line and goes on, unindented, to its `</Task>`; its lines are one field
//! (`Task_Content`, `Task_New_Content`), joined by `\n` (issue 13).
//!
//! [`ClassicParser`] is a pure state machine over lines, writing into the caller's
//! reused field store; [`scan`] feeds it the lines of a stream. Bytes that are not
//! UTF-8 read as U+FFFD: the format has no escapes, so no line is ever unreadable.

use std::io::Read;

use super::fields::Fields;
use super::jsonl::MAX_JSON_LINE;
use super::lines::{Line, Lines};
use super::{SourceScan, Stopped};

/// Reads classic WinEventLog events from `reader` and hands each to the judge. A line
/// longer than [`MAX_JSON_LINE`] is reported and skipped; its event is still judged.
pub(crate) fn scan<R: Read>(reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
    let mut lines = Lines::new(reader, MAX_JSON_LINE);
    let mut parser = ClassicParser::default();
    let mut fields = Fields::default();
    // The record number of the event being read (counted at its first line).
    let mut record = 0;
    while let Some(line) = lines.next(scan)? {
        if let Line::Overlong(n) = line {
            // The event goes on being read; it is judged without this line.
            scan.source_error(format!(
                "line {} (byte {}) is longer than {MAX_JSON_LINE} bytes ({n} bytes), \
                 skipped; its event is judged without it",
                lines.number, lines.offset
            ))?;
            continue;
        }
        let text = String::from_utf8_lossy(lines.text());
        let text = text.trim_end_matches(['\r', '\n']);
        let text = if lines.number == 1 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        if parser.starts_event(text) && parser.in_event() {
            parser.finish(&mut fields);
            scan.judge(&fields, record)?;
            fields.clear();
            parser.reset();
        }
        let was_in_event = parser.in_event();
        parser.feed(text, &mut fields);
        if !was_in_event && parser.in_event() {
            record = scan.next_record()?;
        }
    }
    if parser.in_event() {
        parser.finish(&mut fields);
        scan.judge(&fields, record)?;
    }
    Ok(())
}

/// Where the parser is in the current event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Part {
    /// No line of an event read yet.
    #[default]
    Before,
    /// In the `Key=Value` header.
    Header,
    /// After `Message=`.
    Message,
}

/// Reads classic WinEventLog events line by line.
///
/// For each line (without its line end): when [`ClassicParser::starts_event`] says so
/// and [`ClassicParser::in_event`] holds, the fields gathered are one whole event; the
/// caller takes them, clears the store and calls [`ClassicParser::reset`]. Then
/// [`ClassicParser::feed`] reads the line. At the end of input, an event in progress is
/// whole too.
#[derive(Debug, Default)]
pub(crate) struct ClassicParser {
    part: Part,
    seen_log_name: bool,
    /// A `Task Content:` field is open: the lines that follow are its XML.
    task_xml: bool,
}

/// The field a timestamp line is written to.
pub(crate) const TIME_FIELD: &str = "_time";

impl ClassicParser {
    /// Whether some line of an event has been read since the last reset.
    pub(crate) fn in_event(&self) -> bool {
        self.part != Part::Before
    }

    /// Forgets the event read so far.
    pub(crate) fn reset(&mut self) {
        *self = ClassicParser::default();
    }

    /// Ends a field still open (the task XML of an event cut before its `</Task>`);
    /// call before taking an event's fields.
    pub(crate) fn finish(&mut self, fields: &mut Fields) {
        if std::mem::take(&mut self.task_xml) {
            fields.end();
        }
    }

    /// Whether `line` is the first line of a new event.
    pub(crate) fn starts_event(&self, line: &str) -> bool {
        is_timestamp(line)
            || (self.seen_log_name && header(line).is_some_and(|(k, _)| k == "LogName"))
    }

    /// Reads one line of the current event into `fields`.
    pub(crate) fn feed(&mut self, line: &str, fields: &mut Fields) {
        if self.part == Part::Before && line.trim().is_empty() {
            return;
        }
        if self.part == Part::Before && is_timestamp(line) {
            self.part = Part::Header;
            write(fields, TIME_FIELD, line.trim());
            return;
        }
        if self.part != Part::Message {
            if let Some((key, value)) = header(line) {
                self.part = Part::Header;
                self.seen_log_name |= key == "LogName";
                match key {
                    // The account the event was logged under (`SYSTEM`, or
                    // `NOT_TRANSLATED` for Sysmon), not the process's user: the XML
                    // reader names it `UserID` (from `<Security UserID=>`), and so does
                    // this one; the name-less `User=` and `SidType=` are left out, so
                    // that Sysmon's own `User:` line is the `User` field.
                    "Sid" => write(fields, "UserID", value),
                    "User" | "SidType" => {}
                    _ => write(fields, key, value),
                }
                if key == "Message" {
                    self.part = Part::Message;
                }
            }
            return;
        }
        if self.task_xml {
            // The message's own labels are tab-indented, its headings unindented words;
            // the XML's lines are space-indented or start with `<`.
            let message_again = label(line).is_some()
                && !line.trim_start().starts_with('<')
                && (line.starts_with('\t') || !line.starts_with(' '));
            if !message_again {
                let text = fields.value_text();
                text.push('\n');
                text.push_str(line);
                if line.trim_end().ends_with("</Task>") {
                    self.finish(fields);
                }
                return;
            }
            self.finish(fields);
        }
        if let Some((label, value)) = label(line) {
            fields.begin_with(|name| {
                name.extend(label.chars().map(|c| if c == ' ' { '_' } else { c }));
            });
            fields.value_text().push_str(value);
            let xml = matches!(label, "Task Content" | "Task New Content");
            if xml && value.starts_with('<') && !value.ends_with("</Task>") {
                self.task_xml = true;
            } else {
                fields.end();
            }
        }
    }
}

fn write(fields: &mut Fields, name: &str, value: &str) {
    fields.begin(name);
    fields.value_text().push_str(value);
    fields.end();
}

/// `MM/DD/YYYY hh:mm:ss AM` (one- or two-digit month, day and hour; two- or four-digit
/// year; the AM/PM part optional, as a 24-hour clock writes none), alone on its line.
fn is_timestamp(line: &str) -> bool {
    let mut parts = line.trim().split(' ').filter(|p| !p.is_empty());
    let date_ok = parts.next().is_some_and(|d| numbers(d, '/', &[2, 2, 4]));
    let time_ok = parts.next().is_some_and(|t| numbers(t, ':', &[2, 2, 2]));
    let rest_ok = match parts.next() {
        None => true,
        Some(p) => p.eq_ignore_ascii_case("AM") || p.eq_ignore_ascii_case("PM"),
    };
    date_ok && time_ok && rest_ok && parts.next().is_none()
}

/// `text` is `sep`-separated groups of 1..=`max[i]` ASCII digits, exactly `max.len()` of them.
/// Allocation-free: it runs on every line.
fn numbers(text: &str, sep: char, max: &[usize]) -> bool {
    let mut groups = 0;
    for group in text.split(sep) {
        let ok = max.get(groups).is_some_and(|&m| {
            !group.is_empty() && group.len() <= m && group.bytes().all(|b| b.is_ascii_digit())
        });
        if !ok {
            return false;
        }
        groups += 1;
    }
    groups == max.len()
}

/// A `Key=Value` header line: the key is a Windows event property name (letters, digits,
/// `_`), unindented.
fn header(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let is_name = !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    is_name.then_some((key, value.trim_end()))
}

/// A `Label:<TAB>value` or `Name: value` message line. The label is words of letters,
/// digits and `_-()./'`, at most 64 bytes, starting with a letter; the value is what
/// follows the first `:`, trimmed. An unindented label with no value is a section
/// heading, not a field.
fn label(line: &str) -> Option<(&str, &str)> {
    let indented = line.starts_with([' ', '\t']);
    let (label, value) = line.trim_start().split_once(':')?;
    let label = label.trim_end();
    let is_label = label.len() <= 64
        && label.starts_with(|c: char| c.is_ascii_alphabetic())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" _-()./'".contains(&b));
    let value = value.trim();
    (is_label && (indented || !value.is_empty())).then_some((label, value))
}

/// Whether the first bytes of a stream are classic WinEventLog text: after blank lines,
/// a timestamp line or a `Key=Value` header line, and among the first 8 lines both
/// `LogName=` and `EventCode=` (Splunk writes `LogName=` first; other tools may not).
pub(crate) fn looks_like_classic(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(8);
    let first_ok = lines
        .next()
        .is_some_and(|first| is_timestamp(first) || header(first).is_some());
    let (mut log_name, mut event_code) = (false, false);
    for line in lines.chain(text.lines().map(str::trim).find(|l| !l.is_empty())) {
        log_name |= line.starts_with("LogName=");
        event_code |= line.starts_with("EventCode=");
    }
    first_ok && log_name && event_code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Security 4688 (version 2, Windows 10) as Splunk_TA_windows indexes it with
    /// `renderXml = false`: the layout of Microsoft's "4688(S): A new process has been
    /// created" page, values from OTRF's schtask_create dataset (WORKSTATION5).
    pub(crate) const SECURITY_4688: &str = "12/19/2020 07:00:30 AM\r\n\
LogName=Security\r\n\
EventCode=4688\r\n\
EventType=0\r\n\
ComputerName=WORKSTATION5.theshire.local\r\n\
SourceName=Microsoft Windows security auditing.\r\n\
Type=Information\r\n\
RecordNumber=1208317\r\n\
Keywords=Audit Success\r\n\
TaskCategory=Process Creation\r\n\
OpCode=Info\r\n\
Message=A new process has been created.\r\n\
\r\n\
Creator Subject:\r\n\
\tSecurity ID:\t\tS-1-5-21-4228717743-1032521047-1810997296-1104\r\n\
\tAccount Name:\t\tpgustavo\r\n\
\tAccount Domain:\t\tTHESHIRE\r\n\
\tLogon ID:\t\t0xC61D9\r\n\
\r\n\
Target Subject:\r\n\
\tSecurity ID:\t\tS-1-0-0\r\n\
\tAccount Name:\t\t-\r\n\
\tAccount Domain:\t\t-\r\n\
\tLogon ID:\t\t0x0\r\n\
\r\n\
Process Information:\r\n\
\tNew Process ID:\t\t0x1a94\r\n\
\tNew Process Name:\tC:\\Windows\\System32\\schtasks.exe\r\n\
\tToken Elevation Type:\t%%1938\r\n\
\tMandatory Label:\t\tMandatory Label\\Medium Mandatory Level\r\n\
\tCreator Process ID:\t0x1b14\r\n\
\tCreator Process Name:\tC:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\r\n\
\tProcess Command Line:\t\"C:\\Windows\\system32\\schtasks.exe\" /Create /S WORKSTATION6 /TN \"Atomic task\" /TR \"C:\\windows\\system32\\cmd.exe\" /SC once /ST 20:10\r\n\
\r\n\
Token Elevation Type indicates the type of token that was assigned to the new process in accordance with User Account Control policy.\r\n\
\r\n\
Type 1 is a full token with no privileges removed or groups disabled.\r\n";

    /// A Sysmon EID 1 as the same input indexes it (Sysmon's own `Name: value` lines).
    pub(crate) const SYSMON_1: &str = "10/27/2020 08:00:14 PM\n\
LogName=Microsoft-Windows-Sysmon/Operational\n\
EventCode=1\n\
EventType=4\n\
ComputerName=wks01.corp.example\n\
User=NOT_TRANSLATED\n\
Sid=S-1-5-18\n\
SidType=0\n\
SourceName=Microsoft-Windows-Sysmon\n\
Type=Information\n\
RecordNumber=4242\n\
Keywords=None\n\
TaskCategory=Process Create (rule: ProcessCreate)\n\
OpCode=Info\n\
Message=Process Create:\n\
RuleName: -\n\
UtcTime: 2020-10-27 20:00:14.320\n\
ProcessGuid: {8d7b0b0c-7b1e-5f98-6c02-000000000b00}\n\
ProcessId: 4120\n\
Image: C:\\Windows\\System32\\schtasks.exe\n\
OriginalFileName: schtasks.exe\n\
CommandLine: schtasks /create /s HOST2 /tn Updater /tr C:\\ProgramData\\upd.exe /sc once /st 00:00\n\
CurrentDirectory: C:\\Users\\user1\\\n\
User: CORP\\user1\n\
ParentImage: C:\\Windows\\System32\\cmd.exe\n\
ParentCommandLine: cmd.exe\n";

    fn parse(text: &str) -> Vec<Vec<(String, String)>> {
        let mut parser = ClassicParser::default();
        let mut fields = Fields::default();
        let mut events = Vec::new();
        let take = |fields: &Fields, events: &mut Vec<_>| {
            let pairs: Vec<(String, String)> = fields
                .names()
                .enumerate()
                .map(|(i, n)| (n.to_owned(), fields.value(i).unwrap_or("").to_owned()))
                .collect();
            events.push(pairs);
        };
        for line in text.lines() {
            if parser.starts_event(line) && parser.in_event() {
                parser.finish(&mut fields);
                take(&fields, &mut events);
                fields.clear();
                parser.reset();
            }
            parser.feed(line, &mut fields);
        }
        if parser.in_event() {
            parser.finish(&mut fields);
            take(&fields, &mut events);
        }
        events
    }

    fn get<'a>(event: &'a [(String, String)], name: &str) -> Option<&'a str> {
        event
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn security_4688_labels_become_splunk_ta_windows_field_names() {
        let events = parse(SECURITY_4688);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(get(e, "_time"), Some("12/19/2020 07:00:30 AM"));
        assert_eq!(get(e, "EventCode"), Some("4688"));
        assert_eq!(get(e, "LogName"), Some("Security"));
        assert_eq!(get(e, "ComputerName"), Some("WORKSTATION5.theshire.local"));
        assert_eq!(get(e, "Message"), Some("A new process has been created."));
        assert_eq!(
            get(e, "New_Process_Name"),
            Some(r"C:\Windows\System32\schtasks.exe")
        );
        assert_eq!(
            get(e, "Creator_Process_Name"),
            Some(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
        );
        assert!(get(e, "Process_Command_Line")
            .is_some_and(|c| c
                .starts_with("\"C:\\Windows\\system32\\schtasks.exe\" /Create /S WORKSTATION6")));
        // The creator's account first; the target's `-` after it.
        assert_eq!(get(e, "Account_Name"), Some("pgustavo"));
        assert_eq!(get(e, "Account_Domain"), Some("THESHIRE"));
        let accounts: Vec<_> = e.iter().filter(|(n, _)| n == "Account_Name").collect();
        assert_eq!(accounts.len(), 2);
        // Headings and prose are not fields.
        assert_eq!(get(e, "Process_Information"), None);
        assert_eq!(get(e, "Creator_Subject"), None);
        assert!(e
            .iter()
            .all(|(n, _)| !n.starts_with("Token_Elevation_Type_indicates")));
    }

    #[test]
    fn sysmon_name_value_lines_keep_sysmon_names() {
        let events = parse(SYSMON_1);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(get(e, "EventCode"), Some("1"));
        assert_eq!(get(e, "Image"), Some(r"C:\Windows\System32\schtasks.exe"));
        assert_eq!(get(e, "OriginalFileName"), Some("schtasks.exe"));
        assert_eq!(
            get(e, "CommandLine"),
            Some(
                r"schtasks /create /s HOST2 /tn Updater /tr C:\ProgramData\upd.exe /sc once /st 00:00"
            )
        );
        // The header's `User=NOT_TRANSLATED` is the logging account, not the process's.
        assert_eq!(get(e, "User"), Some(r"CORP\user1"));
        assert_eq!(get(e, "UserID"), Some("S-1-5-18"));
        assert_eq!(get(e, "UtcTime"), Some("2020-10-27 20:00:14.320"));
        // `RuleName: -` is a field, the value `-`.
        assert_eq!(get(e, "RuleName"), Some("-"));
    }

    #[test]
    fn many_events_per_file_split_at_timestamps_or_at_a_second_log_name() {
        let two = format!("{SECURITY_4688}\r\n{SYSMON_1}\n{SECURITY_4688}");
        let events = parse(&two);
        assert_eq!(events.len(), 3);
        assert_eq!(get(&events[1], "EventCode"), Some("1"));
        assert_eq!(get(&events[2], "EventCode"), Some("4688"));
        // Without timestamp lines.
        let bare = "LogName=Security\nEventCode=4688\nMessage=A\n\tNew Process Name:\ta.exe\n\
                    LogName=Security\nEventCode=4689\nMessage=B\n";
        let events = parse(bare);
        assert_eq!(events.len(), 2);
        assert_eq!(get(&events[0], "New_Process_Name"), Some("a.exe"));
        assert_eq!(get(&events[1], "EventCode"), Some("4689"));
        assert_eq!(get(&events[1], "New_Process_Name"), None);
    }

    #[test]
    fn timestamps_in_the_message_do_not_split_an_event_unless_alone_on_their_line() {
        let text = "1/2/2021 3:04:05 PM\nLogName=Security\nMessage=x\n\tProcess Command Line:\tat 1/2/2021 3:04:05 PM\n";
        let events = parse(text);
        assert_eq!(events.len(), 1);
        assert_eq!(
            get(&events[0], "Process_Command_Line"),
            Some("at 1/2/2021 3:04:05 PM")
        );
    }

    #[test]
    fn timestamp_lines_are_told_exactly() {
        for yes in [
            "10/27/2020 08:00:14 PM",
            "1/2/20 3:04:05 am",
            "12/31/2020 23:59:59",
            " 10/27/2020 08:00:14 PM \r",
        ] {
            assert!(is_timestamp(yes), "{yes:?}");
        }
        for no in [
            "10/27/2020",
            "10/27/2020 08:00:14 PM x",
            "2020-10-27 08:00:14",
            "10/27/20201 08:00:14 PM",
            "a/b/c d:e:f",
        ] {
            assert!(!is_timestamp(no), "{no:?}");
        }
    }

    #[test]
    fn classic_text_is_told_by_its_first_lines() {
        assert!(looks_like_classic(SECURITY_4688.as_bytes()));
        assert!(looks_like_classic(SYSMON_1.as_bytes()));
        assert!(looks_like_classic(
            b"\r\n\r\nLogName=Security\r\nEventCode=4688\r\n"
        ));
        assert!(!looks_like_classic(b"10/27/2020 08:00:14 PM\nhello\n"));
        assert!(!looks_like_classic(b"_time,LogName\n"));
        assert!(!looks_like_classic(b""));
    }

    /// A Security 4698 as Splunk_TA_windows indexes it with `renderXml = false`: the
    /// layout of the `Message` of OTRF's schtask_create 4698 (WORKSTATION6), abridged.
    pub(crate) const SECURITY_4698: &str = "12/19/2020 07:00:22 AM\r\n\
LogName=Security\r\n\
EventCode=4698\r\n\
ComputerName=WORKSTATION6.theshire.local\r\n\
SourceName=Microsoft Windows security auditing.\r\n\
Message=A scheduled task was created.\r\n\
\r\n\
Subject:\r\n\
\tSecurity ID:\t\tS-1-5-21-3786818125-2382361537-3207726629-1104\r\n\
\tAccount Name:\t\tpgustavo\r\n\
\tAccount Domain:\t\tTHESHIRE\r\n\
\tLogon ID:\t\t0xEAD4335\r\n\
\r\n\
Task Information:\r\n\
\tTask Name: \t\t\\Microsoft\\Windows\\SoftwareProtectionPlatform\\EventCacheManager\r\n\
\tTask Content: \t\t<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n\
<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\r\n\
  <RegistrationInfo>\r\n\
    <Author>THESHIRE\\pgustavo</Author>\r\n\
  </RegistrationInfo>\r\n\
  <Actions Context=\"Author\">\r\n\
    <Exec>\r\n\
      <Command>C:\\Windows\\system32\\cmd.exe</Command>\r\n\
      <Arguments>/C C:\\Windows\\System32\\notepad.exe</Arguments>\r\n\
    </Exec>\r\n\
  </Actions>\r\n\
</Task>\r\n\
\r\n\
Other Information:\r\n\
\tProcessCreationTime: \t\t0\r\n\
\tClientProcessId: \t\t\t0\r\n\
\tParentProcessId: \t\t\t0\r\n\
\tFQDN: \t\t0\r\n";

    /// Issue 13: the task XML spans many lines; it is one field, and the labels after
    /// it are read as before.
    #[test]
    fn the_multi_line_task_content_of_a_4698_is_one_field() {
        let events = parse(SECURITY_4698);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        let xml = get(e, "Task_Content").expect("Task_Content");
        assert!(xml.starts_with("<?xml version=\"1.0\""), "{xml}");
        assert!(xml.ends_with("</Task>"), "{xml}");
        assert!(xml.contains("<Command>C:\\Windows\\system32\\cmd.exe</Command>"));
        let (task, error) = crate::detection::task::TaskDefinition::parse(xml);
        assert_eq!(error, None);
        assert_eq!(
            task.actions,
            [r"C:\Windows\system32\cmd.exe /C C:\Windows\System32\notepad.exe"]
        );
        assert_eq!(get(e, "ClientProcessId"), Some("0"));
        assert_eq!(get(e, "Logon_ID"), Some("0xEAD4335"));
        assert_eq!(get(e, "Other_Information"), None);
        // An event cut inside the XML still has it, up to the cut.
        let cut = SECURITY_4698
            .split("  </Actions>")
            .next()
            .unwrap_or_default();
        let events = parse(cut);
        assert!(get(&events[0], "Task_Content").is_some_and(|x| x.contains("<Exec>")));
    }

    #[test]
    fn a_missing_command_line_value_is_an_empty_field_not_a_missing_one() {
        // Command-line auditing off: the label is there, its value empty.
        let text = "LogName=Security\nEventCode=4688\nMessage=A new process has been created.\n\
                    Process Information:\n\tNew Process Name:\tC:\\x\\schtasks.exe\n\tProcess Command Line:\t\n";
        let events = parse(text);
        assert_eq!(get(&events[0], "Process_Command_Line"), Some(""));
    }
}
