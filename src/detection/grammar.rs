//! The schtasks.exe command-line grammar: which arguments are switches, which switch
//! owns which value, and which operation the command performs.
//!
//! Switch names come from `schtasks /<operation> /?` (detection-research.md §3.1).
//! Values belong to their switch: a switch that takes a value consumes the next
//! argument whatever it looks like, so `/tr "cmd /s /c x"` or `/tn /s` carry no `/s`
//! switch. Two exceptions follow schtasks' own errors and prompts: `/p` and `/rp` take
//! an optional value, absent when the next argument is a switch schtasks knows or the
//! line ends (schtasks then prompts); and `/s` followed by a known switch has no value
//! (schtasks refuses the line, so no remote task is created).

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use super::argv::Arg;
use super::{Evasion, Operation};

/// A schtasks switch, across all operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch {
    Op(Operation),
    S,
    U,
    P,
    Ru,
    Rp,
    Sc,
    Mo,
    D,
    M,
    I,
    Tn,
    Tr,
    St,
    Ri,
    Et,
    Du,
    K,
    Xml,
    V1,
    Sd,
    Ed,
    Ec,
    It,
    Np,
    Z,
    F,
    Rl,
    Delay,
    Hresult,
    Fo,
    Nh,
    V,
    Enable,
    Disable,
    Help,
}

/// Whether a switch takes a value (under a given operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arity {
    Flag,
    Value,
    OptionalValue,
}

const SWITCHES: [(&str, Switch); 42] = [
    ("create", Switch::Op(Operation::Create)),
    ("query", Switch::Op(Operation::Query)),
    ("run", Switch::Op(Operation::Run)),
    ("delete", Switch::Op(Operation::Delete)),
    ("end", Switch::Op(Operation::End)),
    ("change", Switch::Op(Operation::Change)),
    ("showsid", Switch::Op(Operation::ShowSid)),
    ("s", Switch::S),
    ("u", Switch::U),
    ("p", Switch::P),
    ("ru", Switch::Ru),
    ("rp", Switch::Rp),
    ("sc", Switch::Sc),
    ("mo", Switch::Mo),
    ("d", Switch::D),
    ("m", Switch::M),
    ("i", Switch::I),
    ("tn", Switch::Tn),
    ("tr", Switch::Tr),
    ("st", Switch::St),
    ("ri", Switch::Ri),
    ("et", Switch::Et),
    ("du", Switch::Du),
    ("k", Switch::K),
    ("xml", Switch::Xml),
    ("v1", Switch::V1),
    ("sd", Switch::Sd),
    ("ed", Switch::Ed),
    ("ec", Switch::Ec),
    ("it", Switch::It),
    ("np", Switch::Np),
    ("z", Switch::Z),
    ("f", Switch::F),
    ("rl", Switch::Rl),
    ("delay", Switch::Delay),
    ("hresult", Switch::Hresult),
    ("fo", Switch::Fo),
    ("nh", Switch::Nh),
    ("v", Switch::V),
    ("enable", Switch::Enable),
    ("disable", Switch::Disable),
    ("?", Switch::Help),
];

impl Switch {
    /// The canonical (lower-case, ASCII) name, without prefix.
    pub fn name(self) -> &'static str {
        SWITCHES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(n, _)| n)
    }

    /// The arity under `op`. Before any operation switch is seen the `/create` grammar
    /// applies: it is the one that matters and the broadest.
    fn arity(self, op: Option<Operation>) -> Arity {
        use Switch::*;
        match self {
            P | Rp => Arity::OptionalValue,
            S | U | Ru | Sc | Mo | D | M | Tn | Tr | St | Ri | Et | Du | Sd | Ed | Ec | Rl
            | Delay | Fo => Arity::Value,
            // `/run /i` is a flag; `/create /i` is an idle time.
            I => match op {
                Some(Operation::Run) => Arity::Flag,
                _ => Arity::Value,
            },
            // `/query /xml [type]`; `/create /xml file`.
            Xml => match op {
                Some(Operation::Query) => Arity::OptionalValue,
                _ => Arity::Value,
            },
            _ => Arity::Flag,
        }
    }
}

/// The characters schtasks accepts before a switch name: `/`, `-`, and on Windows
/// versions that map them, U+2013, U+2014, U+2015 and U+FE63.
pub const SWITCH_PREFIXES: [char; 6] = ['/', '-', '\u{2013}', '\u{2014}', '\u{2015}', '\u{FE63}'];

/// The prefix and the rest, when `arg` is written as a switch.
pub fn switch_prefix(arg: &str) -> Option<(char, &str)> {
    let c = arg.chars().next()?;
    SWITCH_PREFIXES
        .contains(&c)
        .then(|| (c, arg.get(c.len_utf8()..).unwrap_or_default()))
}

/// The switch a written name stands for, and its folded form when schtasks does not
/// know it. ASCII names are compared ignoring case without allocating; others are
/// NFKC-folded and lower-cased first.
fn lookup(name: &str) -> (Option<Switch>, Cow<'static, str>) {
    let folded = if name.is_ascii() {
        if let Some((n, sw)) = SWITCHES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return (Some(*sw), Cow::Borrowed(n));
        }
        name.to_ascii_lowercase()
    } else {
        name.nfkc().collect::<String>().to_lowercase()
    };
    match SWITCHES.iter().find(|(n, _)| *n == folded) {
        Some((n, sw)) => (Some(*sw), Cow::Borrowed(n)),
        None => (None, Cow::Owned(folded)),
    }
}

/// One switch as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchUse {
    /// Index of the switch argument in argv.
    pub arg: usize,
    pub prefix: char,
    /// The folded name (`/ˢ` gives `s`); static for a known switch.
    pub name: Cow<'static, str>,
    /// `None` for a name schtasks does not know.
    pub switch: Option<Switch>,
    /// Index in argv of the value this switch consumed.
    pub value: Option<usize>,
    /// Evasions seen in the way this switch is written (known switches only).
    pub evasions: Vec<Evasion>,
}

/// What an argument is, in the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Program,
    /// Index into [`Parse::switches`].
    Switch(usize),
    /// The value of the switch with this index into [`Parse::switches`].
    Value(usize),
    /// Neither a switch nor a switch's value (schtasks would reject it).
    Stray,
}

/// A parsed schtasks command line, borrowing from the command line its arguments were
/// split from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parse<'a> {
    pub args: Vec<Arg<'a>>,
    pub roles: Vec<Role>,
    pub switches: Vec<SwitchUse>,
    /// The first operation switch.
    pub operation: Option<Operation>,
    /// Sorted, without duplicates.
    pub evasions: Vec<Evasion>,
}

impl<'a> Parse<'a> {
    /// Parses the arguments of a schtasks command line (`args[0]` is the program).
    pub fn new(args: Vec<Arg<'a>>) -> Parse<'a> {
        let mut roles = vec![Role::Stray; args.len()];
        let mut switches: Vec<SwitchUse> = Vec::with_capacity(args.len() / 2 + 1);
        let mut operation = None;
        if let Some(r) = roles.first_mut() {
            *r = Role::Program;
        }
        let mut i = 1;
        while let Some(arg) = args.get(i) {
            let Some((prefix, raw_name)) = switch_prefix(&arg.value) else {
                i += 1;
                continue;
            };
            let (switch, name) = lookup(raw_name);
            let mut evasions = Vec::new();
            if switch.is_some() {
                match prefix {
                    '/' => {}
                    '-' => evasions.push(Evasion::DashPrefix),
                    _ => evasions.push(Evasion::UnicodeDash),
                }
                if !raw_name.is_ascii() {
                    evasions.push(Evasion::NfkcFolded);
                }
                if arg.quoted {
                    evasions.push(Evasion::QuoteInsertion);
                }
            }
            if let (Some(Switch::Op(op)), None) = (switch, operation) {
                operation = Some(op);
            }
            let index = switches.len();
            if let Some(r) = roles.get_mut(i) {
                *r = Role::Switch(index);
            }
            let takes = switch.map_or(Arity::Flag, |s| s.arity(operation));
            let next_is_known_switch = args.get(i + 1).is_some_and(|next| {
                switch_prefix(&next.value).is_some_and(|(_, n)| lookup(n).0.is_some())
            });
            let value = match takes {
                Arity::Flag => None,
                // schtasks rejects `/s /tn …` ("value expected for /s"): no task is
                // created there, so a known switch after `/s` is not its target.
                Arity::Value if switch == Some(Switch::S) && next_is_known_switch => None,
                Arity::Value => args.get(i + 1).map(|_| i + 1),
                // Only a switch schtasks knows ends an optional password: `/p -Secret1`
                // passes the password `-Secret1`, which must be masked.
                Arity::OptionalValue if next_is_known_switch => None,
                Arity::OptionalValue => args.get(i + 1).map(|_| i + 1),
            };
            if let Some(v) = value {
                if let Some(r) = roles.get_mut(v) {
                    *r = Role::Value(index);
                }
            }
            switches.push(SwitchUse {
                arg: i,
                prefix,
                name,
                switch,
                value,
                evasions,
            });
            i = value.map_or(i + 1, |v| v + 1);
        }
        let mut evasions: Vec<Evasion> = switches
            .iter()
            .flat_map(|s| s.evasions.iter().copied())
            .collect();
        evasions.sort_unstable();
        evasions.dedup();
        Parse {
            args,
            roles,
            switches,
            operation,
            evasions,
        }
    }

    /// The first use of `switch`.
    pub fn first(&self, switch: Switch) -> Option<&SwitchUse> {
        self.switches.iter().find(|s| s.switch == Some(switch))
    }

    /// The value of the first use of `switch`; `None` when absent or without value.
    pub fn value(&self, switch: Switch) -> Option<&str> {
        let v = self.first(switch)?.value?;
        self.args.get(v).map(|a| &*a.value)
    }

    /// The argv indices of every `/p` and `/rp` value: what must never be shown.
    pub fn secret_args(&self) -> impl Iterator<Item = usize> + '_ {
        self.switches
            .iter()
            .filter(|s| matches!(s.switch, Some(Switch::P | Switch::Rp)))
            .filter_map(|s| s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::argv::split;

    fn parse(line: &str) -> Parse<'_> {
        Parse::new(split(line))
    }

    #[test]
    fn values_that_look_like_switches_belong_to_their_switch() {
        let p = parse(r#"schtasks /create /tn /s /tr "cmd /s /c x" /sc once"#);
        assert_eq!(p.value(Switch::Tn), Some("/s"));
        assert_eq!(p.value(Switch::Tr), Some("cmd /s /c x"));
        assert!(p.first(Switch::S).is_none());
        assert_eq!(p.operation, Some(Operation::Create));
    }

    #[test]
    fn optional_password_is_absent_before_a_switch_or_the_end() {
        let p = parse("schtasks /create /s h /u a /p /tn t /rp");
        assert_eq!(p.value(Switch::P), None);
        assert_eq!(p.value(Switch::Tn), Some("t"));
        assert_eq!(p.value(Switch::Rp), None);
        let p = parse("schtasks /create /s h /u a /p secret /tn t");
        assert_eq!(p.value(Switch::P), Some("secret"));
        assert_eq!(p.secret_args().collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn operation_is_the_first_operation_switch_anywhere() {
        assert_eq!(
            parse("schtasks /s h /tn t /run").operation,
            Some(Operation::Run)
        );
        assert_eq!(
            parse(r#"schtasks /change /s h /tn t /tr "c:\app.exe /create""#).operation,
            Some(Operation::Change)
        );
        assert_eq!(parse("schtasks").operation, None);
    }

    #[test]
    fn prefixes_case_and_nfkc_are_folded_and_marked() {
        let p = parse("schtasks -CREATE \u{2014}s h \u{FE63}\u{FF34}N t /\u{02E2}c once");
        assert_eq!(p.operation, Some(Operation::Create));
        assert_eq!(p.value(Switch::S), Some("h"));
        assert_eq!(p.value(Switch::Tn), Some("t"));
        assert_eq!(p.value(Switch::Sc), Some("once"));
        assert_eq!(
            p.evasions,
            [
                Evasion::DashPrefix,
                Evasion::UnicodeDash,
                Evasion::NfkcFolded
            ]
        );
    }

    #[test]
    fn quotes_inside_a_switch_mark_quote_insertion_but_not_in_values() {
        let p = parse(r#"schtasks /cr"ea"te "/s" HOST2 /tn "a b""#);
        assert_eq!(p.operation, Some(Operation::Create));
        assert_eq!(p.value(Switch::S), Some("HOST2"));
        assert_eq!(p.evasions, [Evasion::QuoteInsertion]);
    }

    #[test]
    fn run_slash_i_is_a_flag_but_create_slash_i_takes_a_value() {
        let p = parse("schtasks /run /i /s h");
        assert_eq!(p.value(Switch::S), Some("h"));
        let p = parse("schtasks /create /i 10 /s h");
        assert_eq!(p.value(Switch::I), Some("10"));
        assert_eq!(p.value(Switch::S), Some("h"));
    }

    #[test]
    fn unknown_switches_and_strays_take_nothing() {
        let p = parse("schtasks /create /bogus /s h stray");
        assert_eq!(p.value(Switch::S), Some("h"));
        assert_eq!(p.roles[2], Role::Switch(1));
        assert_eq!(p.roles[5], Role::Stray);
        assert!(p.switches[1].switch.is_none());
        assert!(p.evasions.is_empty());
    }
}
