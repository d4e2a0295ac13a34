//! The detection specification as a table: one row per behaviour, read like a spec.
//! Shared by `detection_spec.rs` (our verdicts) and `detection_escu_comparison.rs`
//! (ESCU v9's wildcard search on the same rows).
//!
//! `dest` is the host the command ran on (CIM `dest`); `markers` are the evasion
//! markers the row must report, exactly.

#![allow(dead_code)]

use schtasksremote::detection::{Operation, Reason};

/// What the core must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A remote scheduled-task creation.
    Detect,
    /// Schtasks, but not a detection, for this reason.
    Not(Reason),
    /// Not schtasks at all: `analyze` returns `None`.
    NotSchtasks,
}

impl Verdict {
    pub fn is_detection(&self) -> bool {
        *self == Verdict::Detect
    }
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub process_name: &'static str,
    pub process_path: &'static str,
    pub original_file_name: &'static str,
    pub line: &'static str,
    pub dest: &'static str,
    pub verdict: Verdict,
    pub markers: &'static [&'static str],
    pub why: &'static str,
}

const BASE: Case = Case {
    name: "",
    process_name: "schtasks.exe",
    process_path: "",
    original_file_name: "",
    line: "",
    dest: "ws1",
    verdict: Verdict::Detect,
    markers: &[],
    why: "",
};

use Verdict::{Not, NotSchtasks};
const NO_S: Verdict = Not(Reason::NoTargetSystem);
const EMPTY_S: Verdict = Not(Reason::EmptyTargetSystem);
const LOOP: Verdict = Not(Reason::LoopbackTarget);
const SELF: Verdict = Not(Reason::SelfTarget);
const fn op(o: Operation) -> Verdict {
    Not(Reason::NotCreate(Some(o)))
}

pub const CASES: &[Case] = &[
    // ---- Which binary --------------------------------------------------------------
    Case {
        name: "canonical remote creation",
        line: r"schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once /st 00:00",
        why: "schtasks.exe, /create, /s names another machine",
        ..BASE
    },
    Case {
        name: "quoted full path as argv[0]",
        line: r#""C:\Windows\System32\schtasks.exe" /create /s HOST2 /tn t /tr c:\x.exe /sc once"#,
        why: "argv[0] ends at its closing quote; the rest parses as usual",
        ..BASE
    },
    Case {
        name: "process_name in upper case",
        process_name: "SCHTASKS.EXE",
        line: r"SCHTASKS /CREATE /S HOST2 /TN t /TR c:\x.exe /SC ONCE",
        why: "file names and switch names compare case-insensitively",
        ..BASE
    },
    Case {
        name: "only process_path given (CrowdStrike device path)",
        process_name: "",
        process_path: r"\Device\HarddiskVolume1\Windows\System32\schtasks.exe",
        line: r"schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once",
        why: "the file-name part of process_path is schtasks.exe",
        ..BASE
    },
    Case {
        name: "renamed binary caught by original_file_name",
        process_name: "svch0st.exe",
        process_path: r"C:\Users\Public\svch0st.exe",
        original_file_name: "schtasks.exe",
        line: r"svch0st.exe /create /s HOST2 /tn t /tr c:\x.exe /sc once",
        markers: &["renamed_binary"],
        why: "the PE header says schtasks.exe although the image name does not",
        ..BASE
    },
    Case {
        name: "cmd.exe running schtasks is not schtasks",
        process_name: "cmd.exe",
        line: r"cmd.exe /c schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once",
        verdict: NotSchtasks,
        why: "only schtasks.exe's own event is judged (it has its own process event)",
        ..BASE
    },
    Case {
        name: "powershell running schtasks is not schtasks",
        process_name: "powershell.exe",
        line: r#"powershell.exe -c "schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once""#,
        verdict: NotSchtasks,
        why: "only schtasks.exe's own event is judged",
        ..BASE
    },
    Case {
        name: "schtasks_report.exe is not schtasks",
        process_name: "schtasks_report.exe",
        line: r"schtasks_report.exe /create /s HOST2 /tn t /sc once",
        verdict: NotSchtasks,
        why: "the whole file name must be schtasks.exe",
        ..BASE
    },
    Case {
        name: "no name fields at all",
        process_name: "",
        line: r"schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once",
        verdict: NotSchtasks,
        why: "without process_name, process_path or original_file_name nothing says schtasks",
        ..BASE
    },
    // ---- Switch spellings (all remote) ----------------------------------------------
    Case {
        name: "dash switches",
        line: r"schtasks -create -s HOST2 -tn t -tr c:\x.exe -sc once -st 00:00",
        markers: &["dash_prefix"],
        why: "schtasks accepts - as the switch prefix",
        ..BASE
    },
    Case {
        name: "mixed /create -s",
        line: r"schtasks /create -s HOST2 /tn t /tr c:\x.exe /sc once",
        markers: &["dash_prefix"],
        why: "prefixes may be mixed",
        ..BASE
    },
    Case {
        name: "en dash U+2013",
        line: "schtasks \u{2013}create \u{2013}s HOST2 /tn t /tr c:\\x.exe /sc once",
        markers: &["unicode_dash"],
        why: "Windows maps U+2013 to a switch prefix",
        ..BASE
    },
    Case {
        name: "em dash U+2014",
        line: "schtasks /create \u{2014}s HOST2 /tn t /tr c:\\x.exe /sc once",
        markers: &["unicode_dash"],
        why: "U+2014 is a switch prefix",
        ..BASE
    },
    Case {
        name: "horizontal bar U+2015",
        line: "schtasks \u{2015}create /s HOST2 /tn t /tr c:\\x.exe /sc once",
        markers: &["unicode_dash"],
        why: "U+2015 is a switch prefix",
        ..BASE
    },
    Case {
        name: "small hyphen-minus U+FE63",
        line: "schtasks \u{FE63}create \u{FE63}s HOST2 \u{FE63}tn t \u{FE63}sc once",
        markers: &["unicode_dash"],
        why: "U+FE63 is a switch prefix (seen accepted by schtasks on Windows 10)",
        ..BASE
    },
    Case {
        name: "modifier letter small s U+02E2",
        line: "schtasks /create /\u{02E2} HOST2 /tn t /tr c:\\x.exe /sc once",
        markers: &["nfkc_folded"],
        why: "NFKC folds U+02E2 to s",
        ..BASE
    },
    Case {
        name: "fullwidth letters",
        line: "schtasks /\u{FF43}\u{FF52}\u{FF45}\u{FF41}\u{FF54}\u{FF45} /\u{FF33} HOST2 /tn t /sc once",
        markers: &["nfkc_folded"],
        why: "NFKC folds fullwidth letters to ASCII",
        ..BASE
    },
    Case {
        name: "quote insertion inside the switch name",
        line: r#"schtasks /cr"ea"te /s HOST2 /tn t /tr c:\x.exe /sc once"#,
        markers: &["quote_insertion"],
        why: "quote removal happens before the name is read: /cr\"ea\"te is /create",
        ..BASE
    },
    Case {
        name: "whole switch quoted",
        line: r#"schtasks /create "/s" HOST2 /tn t /tr c:\x.exe /sc once"#,
        markers: &["quote_insertion"],
        why: "\"/s\" is the argument /s",
        ..BASE
    },
    Case {
        name: "empty quotes inside switch names",
        line: r#"schtasks /cre""ate /s"" HOST2 /tn t /sc once"#,
        markers: &["quote_insertion"],
        why: "\"\" outside quotes is nothing",
        ..BASE
    },
    Case {
        name: "tab after /s",
        line: "schtasks /create /s\tHOST2 /tn t /tr c:\\x.exe /sc once",
        why: "tab separates arguments like space",
        ..BASE
    },
    Case {
        name: "mixed case switches",
        line: r"schtasks /CrEaTe /S HOST2 /Tn t /sC once",
        why: "switch names are case-insensitive",
        ..BASE
    },
    Case {
        name: "switches in any order, /create last",
        line: r"schtasks /s HOST2 /tn t /tr c:\x.exe /sc once /create",
        why: "schtasks parameters may appear in any order",
        ..BASE
    },
    Case {
        name: "/S last on the line (OTRF)",
        line: r"schtasks /create /tn t /tr c:\x.exe /sc onstart /ru system /S HOST2",
        why: "position does not matter",
        ..BASE
    },
    Case {
        name: "all obfuscations at once",
        line: "schtasks -cr\"ea\"te \u{FE63}\u{02E2} \\\\HOST2 /tn t /sc once",
        markers: &["dash_prefix", "unicode_dash", "nfkc_folded", "quote_insertion"],
        why: "each marker is reported once",
        ..BASE
    },
    // ---- Remote target forms ---------------------------------------------------------
    Case {
        name: "UNC target",
        line: r"schtasks /create /s \\HOST2 /tn t /tr c:\x.exe /sc once",
        why: "the leading \\\\ is dropped",
        ..BASE
    },
    Case {
        name: "quoted target",
        line: r#"schtasks /create /s "HOST2" /tn t /sc once"#,
        why: "quotes around a value are removed",
        ..BASE
    },
    Case {
        name: "remote IPv4",
        line: r"schtasks /create /s 10.0.0.5 /tn t /sc once",
        why: "not a loopback address",
        ..BASE
    },
    Case {
        name: "remote IPv6",
        line: r"schtasks /create /s [2001:db8::5] /tn t /sc once",
        why: "not a loopback address",
        ..BASE
    },
    Case {
        name: "IPv4-mapped non-loopback",
        line: r"schtasks /create /s ::ffff:10.0.0.5 /tn t /sc once",
        why: "maps to 10.0.0.5",
        ..BASE
    },
    Case {
        name: "remote FQDN",
        line: r"schtasks /create /s host2.corp.local /tn t /sc once",
        dest: "ws1.corp.local",
        why: "a different host in the same domain",
        ..BASE
    },
    Case {
        name: "same first label, other domain",
        line: r"schtasks /create /s ws1.other.local /tn t /sc once",
        dest: "ws1.corp.local",
        why: "two FQDNs must be equal to be the same host",
        ..BASE
    },
    Case {
        name: "dest unknown",
        line: r"schtasks /create /s HOST2 /tn t /sc once",
        dest: "",
        why: "with no dest a named target cannot be shown to be local",
        ..BASE
    },
    Case {
        name: "password on the command line",
        line: r"schtasks /create /s HOST2 /u CORP\adm /p S3cret! /ru SYSTEM /tn t /tr c:\x.exe /sc once",
        why: "credentials do not change the verdict (and are masked)",
        ..BASE
    },
    Case {
        name: "/p without value before the next switch",
        line: r"schtasks /create /s HOST2 /u CORP\adm /p /tn t /sc once",
        why: "/p takes an optional value; /tn is a switch, not a password",
        ..BASE
    },
    Case {
        name: "dash-led password after /p",
        line: r"schtasks /create /s HOST2 /u CORP\adm /p -S3cret! /tn t /tr c:\x.exe /sc once",
        why: "only a switch schtasks knows ends /p's optional value: -S3cret! is the password",
        ..BASE
    },
    Case {
        name: "slash-led password after /rp",
        line: r"schtasks /create /s HOST2 /ru CORP\svc /rp /S3cret! /tn t /tr c:\x.exe /sc once",
        why: "/S3cret! is no schtasks switch, so it is /rp's value (and masked)",
        ..BASE
    },
    Case {
        name: "/s followed by a known switch",
        line: r"schtasks /create /s /tn HOST2 /tr c:\x.exe /sc once",
        verdict: EMPTY_S,
        why: "schtasks refuses the line (value expected for /s): no remote task is created",
        ..BASE
    },
    Case {
        name: "remote /xml creation",
        line: r"schtasks /create /s HOST2 /tn t /xml c:\t.xml",
        why: "/xml replaces /sc and /tr",
        ..BASE
    },
    Case {
        name: "cmd double space (attack data artefact)",
        line: r"schtasks  /create /s HOST2 /tn t /sc daily",
        why: "runs of blanks are one separator",
        ..BASE
    },
    Case {
        name: "OTRF schtask_create verbatim",
        line: r#"schtasks  /create /F /tn \Microsoft\Windows\SoftwareProtectionPlatform\EventCacheManager /tr "C:\Windows\system32\cmd.exe /C C:\Windows\System32\notepad.exe" /sc ONSTART /ru system /S WORKSTATION6"#,
        dest: "WORKSTATION5.theshire.local",
        why: "the real remote creation in OTRF's dataset",
        ..BASE
    },
    Case {
        name: "IPv6 UNC literal, not loopback",
        line: r"schtasks /create /s 2001-db8--5.ipv6-literal.net /tn t /sc once",
        why: "Windows' UNC spelling of 2001:db8::5",
        ..BASE
    },
    // ---- Local creations ---------------------------------------------------------------
    Case {
        name: "local /create with /sc",
        line: r"schtasks /create /tn t /tr c:\x.exe /sc daily /st 09:00",
        verdict: NO_S,
        why: "/sc is not /s (ESCU's */s* fires on it)",
        ..BASE
    },
    Case {
        name: "local /create with /sd and /st",
        line: r"schtasks /create /tn t /tr c:\x.exe /sc once /sd 01/01/2026 /st 09:00",
        verdict: NO_S,
        why: "/sd and /st are not /s",
        ..BASE
    },
    Case {
        name: "/s inside the /tr payload",
        line: r#"schtasks /create /tn t /tr "cmd.exe /s /c calc.exe" /sc daily"#,
        verdict: NO_S,
        why: "the quoted /tr value belongs to /tr",
        ..BASE
    },
    Case {
        name: "shutdown /s payload",
        line: r#"schtasks /create /tn t /tr "shutdown /s /t 0" /sc once /st 23:00"#,
        verdict: NO_S,
        why: "the /s belongs to shutdown, inside /tr's value",
        ..BASE
    },
    Case {
        name: "switch-looking task name",
        line: r"schtasks /create /tn /s /tr c:\x.exe /sc once",
        verdict: NO_S,
        why: "/tn takes a value: the /s after it is the task name",
        ..BASE
    },
    Case {
        name: "whole /s HOST2 in one quoted argument",
        line: r#"schtasks /create "/s HOST2" /tn t /sc once"#,
        verdict: NO_S,
        why: "one argument named 's host2' is no /s switch; schtasks would reject it",
        ..BASE
    },
    Case {
        name: "local XML creation (EVTX sample)",
        line: r"schtasks  /Create /f /XML C:\Users\IEUser\AppData\Local\Temp\sduchxll.tmp /TN DataUsageHandlers",
        verdict: NO_S,
        why: "no /s: the task is created locally",
        ..BASE
    },
    // ---- Loopback targets --------------------------------------------------------------
    Case {
        name: "localhost",
        line: r"schtasks /create /s localhost /tn t /sc once",
        verdict: LOOP,
        why: "localhost is this machine (Atomic T1053.005-3's default)",
        ..BASE
    },
    Case {
        name: "LOCALHOST upper case",
        line: r"schtasks /create /s LOCALHOST /tn t /sc once",
        verdict: LOOP,
        why: "host names compare case-insensitively",
        ..BASE
    },
    Case {
        name: "UNC localhost",
        line: r"schtasks /create /s \\localhost /tn t /sc once",
        verdict: LOOP,
        why: "\\\\ is dropped first",
        ..BASE
    },
    Case {
        name: "dot",
        line: r"schtasks /create /s . /tn t /sc once",
        verdict: LOOP,
        why: ". is the local machine",
        ..BASE
    },
    Case {
        name: "127.0.0.1",
        line: r"schtasks /create /s 127.0.0.1 /tn t /sc once",
        verdict: LOOP,
        why: "IPv4 loopback",
        ..BASE
    },
    Case {
        name: "127.1 (two parts)",
        line: r"schtasks /create /s 127.1 /tn t /sc once",
        verdict: LOOP,
        why: "inet_aton: the last part fills the remaining bytes",
        ..BASE
    },
    Case {
        name: "127.0.1 (three parts)",
        line: r"schtasks /create /s 127.0.1 /tn t /sc once",
        verdict: LOOP,
        why: "inet_aton three-part form",
        ..BASE
    },
    Case {
        name: "2130706433 (one decimal part)",
        line: r"schtasks /create /s 2130706433 /tn t /sc once",
        verdict: LOOP,
        why: "127.0.0.1 as one 32-bit number",
        ..BASE
    },
    Case {
        name: "0x7f000001 (hex)",
        line: r"schtasks /create /s 0x7f000001 /tn t /sc once",
        verdict: LOOP,
        why: "127.0.0.1 in hex (ArgFuscator's IpToHex)",
        ..BASE
    },
    Case {
        name: "0177.0.0.1 (octal)",
        line: r"schtasks /create /s 0177.0.0.1 /tn t /sc once",
        verdict: LOOP,
        why: "a leading 0 means octal",
        ..BASE
    },
    Case {
        name: "127.5.6.7 (any 127/8)",
        line: r"schtasks /create /s 127.5.6.7 /tn t /sc once",
        verdict: LOOP,
        why: "all of 127.0.0.0/8 is loopback",
        ..BASE
    },
    Case {
        name: "::1",
        line: r"schtasks /create /s ::1 /tn t /sc once",
        verdict: LOOP,
        why: "IPv6 loopback",
        ..BASE
    },
    Case {
        name: "[::1] bracketed",
        line: r"schtasks /create /s [::1] /tn t /sc once",
        verdict: LOOP,
        why: "brackets around an IPv6 literal",
        ..BASE
    },
    Case {
        name: "0:0:0:0:0:0:0:1 uncompressed",
        line: r"schtasks /create /s 0:0:0:0:0:0:0:1 /tn t /sc once",
        verdict: LOOP,
        why: "every valid IPv6 spelling",
        ..BASE
    },
    Case {
        name: "::ffff:127.0.0.1 mapped",
        line: r"schtasks /create /s ::ffff:127.0.0.1 /tn t /sc once",
        verdict: LOOP,
        why: "IPv4-mapped IPv6 loopback",
        ..BASE
    },
    Case {
        name: "0--1.ipv6-literal.net",
        line: r"schtasks /create /s 0--1.ipv6-literal.net /tn t /sc once",
        verdict: LOOP,
        why: "Windows' UNC spelling of ::1",
        ..BASE
    },
    Case {
        name: "attack_data Atomic event verbatim",
        line: r#"SCHTASKS  /Create /S localhost /RU ATTACKRANGE\Administrator /RP I-l1ke-Attack-Range! /TN "Atomic task" /TR "C:\windows\system32\cmd.exe" /SC daily /ST 20:10"#,
        dest: "win-dc-8400769.attackrange.local",
        verdict: LOOP,
        why: "ESCU's only true-positive test event is not remote",
        ..BASE
    },
    // ---- The host itself ---------------------------------------------------------------
    Case {
        name: "self by exact name",
        line: r"schtasks /create /s WS1 /tn t /sc once",
        dest: "ws1",
        verdict: SELF,
        why: "the target equals dest ignoring case",
        ..BASE
    },
    Case {
        name: "self by short name, dest is FQDN",
        line: r"schtasks /create /s ws1 /tn t /sc once",
        dest: "WS1.corp.local",
        verdict: SELF,
        why: "a short name equal to dest's first label",
        ..BASE
    },
    Case {
        name: "self by FQDN, dest is short",
        line: r"schtasks /create /s \\WS1.corp.local /tn t /sc once",
        dest: "ws1",
        verdict: SELF,
        why: "the target's first label equals a short dest",
        ..BASE
    },
    Case {
        name: "self by identical FQDN",
        line: r"schtasks /create /s ws1.corp.local /tn t /sc once",
        dest: "WS1.CORP.LOCAL",
        verdict: SELF,
        why: "equal FQDNs",
        ..BASE
    },
    // ---- /s without a target -----------------------------------------------------------
    Case {
        name: "/s at the end with no value",
        line: r"schtasks /create /tn t /tr c:\x.exe /sc once /s",
        verdict: EMPTY_S,
        why: "no value follows /s",
        ..BASE
    },
    Case {
        name: "/s with an empty quoted value",
        line: r#"schtasks /create /s "" /tn t /sc once"#,
        verdict: EMPTY_S,
        why: "an empty target is the local machine",
        ..BASE
    },
    Case {
        name: "/s with only a line break (found by fuzzing)",
        line: "schtasks /create /s \n /tn t /tr c:\\x.exe /sc once",
        verdict: EMPTY_S,
        why: "Windows splits only at spaces and tabs, so the line break is /s's value; a \
              value of white space alone names no host",
        ..BASE
    },
    Case {
        name: "/s with only a no-break space and a carriage return",
        line: "schtasks /create /s \"\u{a0}\r\" /tn t /tr c:\\x.exe /sc once",
        verdict: EMPTY_S,
        why: "white space is trimmed by Unicode's definition, not only spaces and tabs",
        ..BASE
    },
    Case {
        name: "/s with only backslashes",
        line: r"schtasks /create /s \\ /tn t /sc once",
        verdict: EMPTY_S,
        why: "nothing is left once \\\\ is dropped",
        ..BASE
    },
    // ---- Other operations --------------------------------------------------------------
    Case {
        name: "remote query",
        line: r"schtasks /query /s HOST2 /fo list",
        verdict: op(Operation::Query),
        why: "/query creates nothing",
        ..BASE
    },
    Case {
        name: "remote run",
        line: r"schtasks /run /s HOST2 /tn t",
        verdict: op(Operation::Run),
        why: "/run starts an existing task",
        ..BASE
    },
    Case {
        name: "remote delete",
        line: r"schtasks /delete /s HOST2 /tn t /f",
        verdict: op(Operation::Delete),
        why: "/delete removes a task",
        ..BASE
    },
    Case {
        name: "remote end",
        line: r"schtasks /end /s HOST2 /tn t",
        verdict: op(Operation::End),
        why: "/end stops a task",
        ..BASE
    },
    Case {
        name: "remote change",
        line: r"schtasks /change /s HOST2 /tn t /disable",
        verdict: op(Operation::Change),
        why: "/change modifies an existing task",
        ..BASE
    },
    Case {
        name: "showsid",
        line: r"schtasks /showsid /tn t",
        verdict: op(Operation::ShowSid),
        why: "/showsid only prints a SID",
        ..BASE
    },
    Case {
        name: "/change with /create inside /tr",
        line: r#"schtasks /change /s HOST2 /tn t /tr "c:\app.exe /create""#,
        verdict: op(Operation::Change),
        why: "the /create text is /tr's value",
        ..BASE
    },
    Case {
        name: "/query with a switch-looking task name /create",
        line: r"schtasks /query /tn /create /s HOST2",
        verdict: op(Operation::Query),
        why: "/tn consumes /create as its value",
        ..BASE
    },
    Case {
        name: "remote delete, attack_data verbatim",
        line: r#"SCHTASKS  /Delete /S localhost /RU DOMAIN\user /RP At0micStrong /TN "Atomic task" /F"#,
        verdict: op(Operation::Delete),
        why: "cleanup of the Atomic test",
        ..BASE
    },
    Case {
        name: "no operation at all",
        line: r"schtasks /s HOST2",
        verdict: Not(Reason::NotCreate(None)),
        why: "without an operation schtasks only lists tasks",
        ..BASE
    },
    Case {
        name: "empty command line",
        line: "",
        verdict: Not(Reason::NotCreate(None)),
        why: "a missing process field creates nothing",
        ..BASE
    },
    Case {
        name: "dash-prefixed /create text inside /tn only",
        line: r#"schtasks /run /tn "-create -s HOST2""#,
        verdict: op(Operation::Run),
        why: "a quoted value is one argument",
        ..BASE
    },
];
