//! `schtasksremote explain`: the verdict with its working shown.

use std::fmt::Write;

use super::grammar::{Parse, Role, Switch};
use super::{
    argv, build, image_is_schtasks, is_renamed, is_schtasks, judge, DetectorConfig, Evasion,
    ProcessEvent, Reason,
};

fn describe(switch: Switch) -> &'static str {
    use Switch::*;
    match switch {
        Op(_) => "operation",
        S => "target system",
        U => "connect as user",
        P => "password",
        Ru => "run as user",
        Rp => "run-as password",
        Sc => "schedule",
        Mo => "modifier",
        D => "days",
        M => "months",
        I => "idle time",
        Tn => "task name",
        Tr => "task action",
        St => "start time",
        Ri => "repeat interval",
        Et => "end time",
        Du => "duration",
        K => "kill at end",
        Xml => "task XML file",
        V1 => "pre-Vista task",
        Sd => "start date",
        Ed => "end date",
        Ec => "event channel",
        It => "interactive only",
        Np => "no stored password",
        Z => "delete after final run",
        F => "force",
        Rl => "run level",
        Delay => "delay",
        Hresult => "HRESULT exit code",
        Fo => "output format",
        Nh => "no header",
        V => "verbose",
        Enable => "enable",
        Disable => "disable",
        Help => "help",
    }
}

/// Control characters would garble a terminal; everything else is shown as is.
fn visible(s: &str) -> String {
    if s.is_empty() {
        return "(empty)".to_owned();
    }
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn markers(evasions: &[Evasion]) -> String {
    if evasions.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = evasions.iter().map(|e| e.as_str()).collect();
    format!("  [{}]", names.join(", "))
}

fn why(reason: &Reason, host: Option<&str>, normalized: Option<&str>, dest: &str) -> String {
    let host = host.map(visible).unwrap_or_default();
    let normalized = normalized.map(visible).unwrap_or_default();
    match reason {
        Reason::RemoteCreate if dest.is_empty() => format!(
            "/create targets {host} ({normalized}): not loopback, and dest is unknown so it cannot be this host"
        ),
        Reason::RemoteCreate => format!(
            "/create targets {host} ({normalized}): not loopback and not this host ({dest})"
        ),
        Reason::NotCreate(Some(op)) => {
            format!("the operation is /{op}, not /create: no task is created")
        }
        Reason::NotCreate(None) => "no operation switch: schtasks would only list tasks".to_owned(),
        Reason::NoTargetSystem => "/create without /s: the task is created on this host".to_owned(),
        Reason::EmptyTargetSystem => {
            "/create with /s but no target name: the task is created on this host".to_owned()
        }
        Reason::LoopbackTarget => {
            format!("the /s target {host} ({normalized}) is a name or address of the local machine")
        }
        Reason::SelfTarget => format!("the /s target {host} ({normalized}) is this host ({dest})"),
        Reason::RemoteChange | Reason::RemoteRun => format!(
            "the operation targets {host} ({normalized}): not loopback and not this host ({})",
            if dest.is_empty() { "dest is unknown" } else { dest }
        ),
        // Target-side reasons never come from a command line.
        other => other.as_str().to_owned(),
    }
}

pub(super) fn render(event: &ProcessEvent<'_>, config: &DetectorConfig) -> String {
    let mut out = String::new();
    let parse = Parse::new(argv::split(event.process));
    let secrets: Vec<usize> = parse.secret_args().collect();
    let judged = judge(&parse, event.dest, config.operations);
    let analysis = build(event, config, parse.clone(), judged.clone());
    let _ = writeln!(out, "command line  {}", visible(&analysis.process_masked));

    let binary = if image_is_schtasks(event) {
        "schtasks.exe".to_owned()
    } else if is_renamed(event) {
        "schtasks.exe renamed (original_file_name is schtasks.exe, the image name is not)"
            .to_owned()
    } else if is_schtasks(event) {
        "schtasks.exe (by original_file_name)".to_owned()
    } else {
        "not schtasks.exe".to_owned()
    };
    let _ = writeln!(
        out,
        "binary        {binary}  (process_name {}, original_file_name {})",
        visible(event.process_name),
        visible(event.original_file_name)
    );
    let _ = writeln!(out, "dest          {}", visible(event.dest));

    let _ = writeln!(out, "\nargv (as CommandLineToArgvW splits it)");
    for (i, (arg, role)) in parse.args.iter().zip(&parse.roles).enumerate() {
        let shown = if secrets.contains(&i) {
            "****".to_owned()
        } else {
            visible(&arg.value)
        };
        let raw = event.process.get(arg.span.clone()).unwrap_or_default();
        let written = if arg.quoted && !secrets.contains(&i) {
            format!("  (written {raw})")
        } else {
            String::new()
        };
        let role = match role {
            Role::Program => "program".to_owned(),
            Role::Switch(k) => match parse.switches.get(*k) {
                Some(s) => match s.switch {
                    Some(sw) => format!("switch /{}", sw.name()),
                    None => "unknown switch".to_owned(),
                },
                None => String::new(),
            },
            Role::Value(k) => match parse.switches.get(*k).and_then(|s| s.switch) {
                Some(sw) => format!("value of /{}", sw.name()),
                None => "value".to_owned(),
            },
            Role::Stray => "not a switch or a switch's value".to_owned(),
        };
        let index = format!("[{i}]");
        let _ = writeln!(out, "  {index:<4} {shown:<28} {role}{written}");
    }

    let _ = writeln!(out, "\nswitches");
    if parse.switches.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for s in &parse.switches {
        let value = match s.value {
            Some(v) if secrets.contains(&v) => "****".to_owned(),
            Some(v) => parse
                .args
                .get(v)
                .map(|a| visible(&a.value))
                .unwrap_or_default(),
            None => String::new(),
        };
        let (name, what) = match s.switch {
            Some(Switch::Op(op)) => (format!("/{op}"), "operation".to_owned()),
            Some(sw) => (
                format!("/{}", sw.name()),
                if s.value.is_none() && matches!(sw, Switch::P | Switch::Rp) {
                    format!("{} (none given: schtasks prompts)", describe(sw))
                } else {
                    describe(sw).to_owned()
                },
            ),
            None => (
                format!("{}{}", s.prefix, visible(&s.name)),
                "unknown to schtasks".to_owned(),
            ),
        };
        let _ = writeln!(
            out,
            "  {name:<9} {value:<28} {what}{}",
            markers(&s.evasions)
        );
    }

    let (reason, host, normalized) = judged;
    let host = host.as_deref();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "operation     {}",
        analysis.operation.map_or("(none)", |o| o.as_str())
    );
    if let Some(h) = host {
        let _ = writeln!(
            out,
            "remote host   {}  (normalized {})",
            visible(h),
            visible(normalized.as_deref().unwrap_or_default())
        );
    }
    let names: Vec<&str> = analysis.evasions.iter().map(|e| e.as_str()).collect();
    let _ = writeln!(
        out,
        "evasions      {}",
        if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        }
    );
    if !is_schtasks(event) {
        let _ = writeln!(
            out,
            "verdict       not a detection: the binary is not schtasks.exe"
        );
        let _ = writeln!(
            out,
            "why           only schtasks.exe itself (by image name, path or original_file_name) is judged; \
             cmd.exe or powershell.exe running schtasks produce their own schtasks.exe event"
        );
        return out;
    }
    let verdict = if analysis.is_detection() {
        format!("DETECTION ({reason})")
    } else {
        format!("not a detection ({reason})")
    };
    let _ = writeln!(out, "verdict       {verdict}");
    let _ = writeln!(
        out,
        "why           {}",
        why(&reason, host, normalized.as_deref(), event.dest)
    );
    if let Some(kind) = analysis.kind() {
        let _ = writeln!(
            out,
            "detection     {} ({} side)",
            kind.name(),
            kind.side().as_str()
        );
        let _ = writeln!(out, "risk score    {}", analysis.risk_score);
        let _ = writeln!(out, "risk message  {}", analysis.risk_message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(line: &str, dest: &str) -> String {
        let event = ProcessEvent {
            process_name: "schtasks.exe",
            process: line,
            dest,
            ..Default::default()
        };
        render(&event, &DetectorConfig::default())
    }

    #[test]
    fn shows_argv_switches_and_a_detection_verdict() {
        let text = explain(
            r#"schtasks /cr"ea"te -s HOST2 /tn t /tr "a /s" /p pw"#,
            "ws1",
        );
        assert!(text.contains("[1]  /create"), "{text}");
        assert!(text.contains(r#"(written /cr"ea"te)"#), "{text}");
        assert!(text.contains("value of /tr"), "{text}");
        assert!(
            text.contains("verdict       DETECTION (remote_create)")
                && text.contains(
                    "detection     Schtasks scheduling job on remote system (source side)"
                ),
            "{text}"
        );
        assert!(text.contains("dash_prefix, quote_insertion"), "{text}");
        assert!(!text.contains("pw"), "the password leaked: {text}");
    }

    #[test]
    fn explains_a_non_detection_and_a_non_schtasks_binary() {
        let text = explain("schtasks /create /s 127.1 /tn t", "");
        assert!(text.contains("not a detection (loopback_target)"), "{text}");
        let event = ProcessEvent {
            process_name: "cmd.exe",
            process: "cmd /c schtasks /create /s h",
            ..Default::default()
        };
        let text = render(&event, &DetectorConfig::default());
        assert!(text.contains("the binary is not schtasks.exe"), "{text}");
    }
}
