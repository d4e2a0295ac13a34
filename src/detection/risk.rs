//! From a parsed command line to an [`Analysis`]: verdict, fields, masking, risk message.

use super::argv::Arg;
use super::grammar::{Parsed, Prefix};
use super::locality::{self, Locality};
use super::{
    file_name, image_is_schtasks, Analysis, DetectorConfig, Evasion, Operation, ProcessEvent,
    Reason, RISK_MESSAGE_TEMPLATE, SCHTASKS,
};

/// What a masked password is replaced with.
pub const MASK: &str = "****";

/// Argv indices whose values are secrets: the values of `/p` and `/rp`.
pub fn secret_indices(parsed: &Parsed) -> Vec<usize> {
    parsed
        .switches
        .iter()
        .filter(|s| s.token.name == "p" || s.token.name == "rp")
        .filter_map(|s| s.value)
        .collect()
}

/// `line` with the raw tokens of `secrets` replaced by [`MASK`]. The spans are sorted
/// and disjoint because they come from one left-to-right split.
pub fn mask_line(line: &str, args: &[Arg], secrets: &[usize]) -> String {
    if secrets.is_empty() {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for span in secrets.iter().filter_map(|&i| args.get(i)).map(|a| &a.span) {
        out.push_str(line.get(at..span.start).unwrap_or_default());
        out.push_str(MASK);
        at = span.end;
    }
    out.push_str(line.get(at..).unwrap_or_default());
    out
}

/// The first value of switch `name`.
fn first_value(args: &[Arg], parsed: &Parsed, name: &str) -> Option<String> {
    parsed
        .uses(name)
        .find_map(|s| s.value)
        .and_then(|i| args.get(i))
        .map(|a| a.value.clone())
}

/// Render ESCU's template in one pass, so a `$dest$` inside the command line is not
/// substituted again.
pub fn render_message(process_name: &str, process: &str, dest: &str, user: &str) -> String {
    let mut out = String::with_capacity(RISK_MESSAGE_TEMPLATE.len() + process.len() + 64);
    let mut rest = RISK_MESSAGE_TEMPLATE;
    while let Some(open) = rest.find('$') {
        out.push_str(rest.get(..open).unwrap_or_default());
        let after = rest.get(open + 1..).unwrap_or_default();
        let Some(close) = after.find('$') else {
            out.push_str(rest.get(open..).unwrap_or_default());
            rest = "";
            break;
        };
        match after.get(..close).unwrap_or_default() {
            "process_name" => out.push_str(process_name),
            "process" => out.push_str(process),
            "dest" => out.push_str(dest),
            "user" => out.push_str(user),
            other => {
                out.push('$');
                out.push_str(other);
                out.push('$');
            }
        }
        rest = after.get(close + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// The evasions seen on the switches and the binary, sorted and deduplicated.
pub fn evasions(event: &ProcessEvent<'_>, args: &[Arg], parsed: &Parsed) -> Vec<Evasion> {
    let mut seen = Vec::new();
    for s in &parsed.switches {
        match s.token.prefix {
            Prefix::Slash => {}
            Prefix::Dash => seen.push(Evasion::DashPrefix),
            Prefix::UnicodeDash(_) => seen.push(Evasion::UnicodeDash),
        }
        if s.token.nfkc_folded {
            seen.push(Evasion::NfkcFolded);
        }
        if args.get(s.index).is_some_and(|a| a.quoted) {
            seen.push(Evasion::QuoteInsertion);
        }
    }
    let has_image = !event.process_name.is_empty() || !event.process_path.is_empty();
    if has_image
        && !image_is_schtasks(event)
        && event.original_file_name.eq_ignore_ascii_case(SCHTASKS)
    {
        seen.push(Evasion::RenamedBinary);
    }
    seen.sort_unstable();
    seen.dedup();
    seen
}

/// The `/s` use that decides the verdict: the most remote one (a later `/s` cannot hide
/// an earlier remote target), the first among equals. `None` when there is no `/s`.
fn target<'a>(args: &'a [Arg], parsed: &Parsed, dest: &str) -> Option<(Locality, Option<&'a str>)> {
    let mut best: Option<(Locality, Option<&'a str>)> = None;
    for s in parsed.uses("s") {
        let value = s.value.and_then(|i| args.get(i)).map(|a| a.value.as_str());
        let locality = value.map_or(Locality::Empty, |v| locality::classify(v, dest));
        if best.map_or(true, |(l, _)| locality > l) {
            best = Some((locality, value));
        }
    }
    best
}

pub fn build(
    event: &ProcessEvent<'_>,
    config: &DetectorConfig,
    args: &[Arg],
    parsed: &Parsed,
) -> Analysis {
    let target = target(args, parsed, event.dest);
    let reason = match (parsed.operation, target) {
        (op, _) if op != Some(Operation::Create) => Reason::NotCreate(op),
        (_, None) => Reason::NoTargetSystem,
        (_, Some((Locality::Empty, _))) => Reason::EmptyTargetSystem,
        (_, Some((Locality::Loopback, _))) => Reason::LoopbackTarget,
        (_, Some((Locality::SelfHost, _))) => Reason::SelfTarget,
        (_, Some((Locality::Remote, _))) => Reason::RemoteCreate,
    };
    let remote_host = target.and_then(|(_, v)| v).filter(|v| !v.is_empty());

    let secrets = secret_indices(parsed);
    let process_masked = mask_line(event.process, args, &secrets);
    let argv = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if secrets.contains(&i) {
                MASK.to_owned()
            } else {
                a.value.clone()
            }
        })
        .collect();

    let is_detection = reason == Reason::RemoteCreate;
    let risk_message = if is_detection {
        let name = if event.process_name.is_empty() {
            file_name(event.process_path)
        } else {
            event.process_name
        };
        render_message(name, &process_masked, event.dest, event.user)
    } else {
        String::new()
    };

    Analysis {
        operation: parsed.operation,
        argv,
        remote_host: remote_host.map(str::to_owned),
        remote_host_normalized: remote_host.map(locality::normalize),
        task_name: first_value(args, parsed, "tn"),
        task_action: first_value(args, parsed, "tr"),
        schedule: first_value(args, parsed, "sc"),
        run_as: first_value(args, parsed, "ru"),
        connect_user: first_value(args, parsed, "u"),
        xml_file: first_value(args, parsed, "xml"),
        password_supplied: parsed.uses("p").chain(parsed.uses("rp")).next().is_some(),
        evasions: evasions(event, args, parsed),
        risk_score: if is_detection { config.risk_score } else { 0 },
        risk_message,
        process_masked,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{argv::split, grammar::parse};
    use super::*;

    #[test]
    fn masks_password_tokens_in_place() {
        let line = r#"schtasks /create /s h /u a /p "pa ss" /rp x1 /tn t"#;
        let args = split(line);
        let parsed = parse(&args);
        assert_eq!(
            mask_line(line, &args, &secret_indices(&parsed)),
            "schtasks /create /s h /u a /p **** /rp **** /tn t"
        );
    }

    #[test]
    fn message_placeholders_in_values_are_not_expanded() {
        assert_eq!(
            render_message("schtasks.exe", "x $dest$", "ws5", "bob"),
            "A schedule task process schtasks.exe with remote job command-line x $dest$ in host ws5 by bob."
        );
    }
}
