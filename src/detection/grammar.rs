//! The schtasks switch grammar: which tokens are switches, which switches take a value.

use unicode_normalization::UnicodeNormalization;

use super::argv::Arg;
use super::Operation;

/// How a switch was introduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Slash,
    Dash,
    /// U+2013, U+2014, U+2015 or U+FE63.
    UnicodeDash(char),
}

/// What follows a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Selects the operation; takes no value.
    Operation(Operation),
    /// Takes no value.
    Flag,
    /// Always takes the next argument, even one that looks like a switch (`/tn /s`).
    Value,
    /// Takes the next argument unless it is a known switch or there is none (`/p`, `/rp`).
    OptionalValue,
}

/// The switches of every schtasks operation, lower-case. From `schtasks /<op> /?` and
/// Microsoft Learn (detection-research.md §3.1). Switches whose arity depends on the
/// operation (`/i`, `/xml`) are resolved in [`arity`].
const SWITCHES: &[&str] = &[
    "create", "query", "run", "delete", "end", "change", "showsid", "s", "u", "p", "ru", "rp",
    "sc", "mo", "d", "m", "i", "tn", "tr", "st", "ri", "et", "du", "k", "sd", "ed", "ec", "it",
    "np", "z", "xml", "v1", "f", "rl", "delay", "hresult", "?", "fo", "nh", "v", "enable",
    "disable",
];

/// The arity of switch `name` (lower-case, from [`SWITCHES`]) under operation `op`.
pub fn arity(name: &str, op: Option<Operation>) -> Arity {
    match name {
        "create" => Arity::Operation(Operation::Create),
        "query" => Arity::Operation(Operation::Query),
        "run" => Arity::Operation(Operation::Run),
        "delete" => Arity::Operation(Operation::Delete),
        "end" => Arity::Operation(Operation::End),
        "change" => Arity::Operation(Operation::Change),
        "showsid" => Arity::Operation(Operation::ShowSid),
        "p" | "rp" => Arity::OptionalValue,
        // `/query /xml [type]`: the type is optional; `/create /xml file` requires it.
        "xml" if op == Some(Operation::Query) => Arity::OptionalValue,
        // `/run /i` runs now ignoring constraints; `/create /i` is the idle time.
        "i" if op == Some(Operation::Run) => Arity::Flag,
        "s" | "u" | "ru" | "sc" | "mo" | "d" | "m" | "i" | "tn" | "tr" | "st" | "ri" | "et"
        | "du" | "sd" | "ed" | "ec" | "xml" | "rl" | "delay" | "fo" => Arity::Value,
        _ => Arity::Flag,
    }
}

/// A token recognised as a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchToken {
    pub prefix: Prefix,
    /// The canonical lower-case name from [`SWITCHES`].
    pub name: &'static str,
    /// The name matched only after NFKC folding.
    pub nfkc_folded: bool,
}

fn split_prefix(value: &str) -> Option<(Prefix, &str)> {
    let mut chars = value.chars();
    let prefix = match chars.next()? {
        '/' => Prefix::Slash,
        '-' => Prefix::Dash,
        c @ ('\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{FE63}') => Prefix::UnicodeDash(c),
        _ => return None,
    };
    Some((prefix, chars.as_str()))
}

fn lookup(name: &str) -> Option<&'static str> {
    SWITCHES
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(name))
}

/// The switch this argument spells, if it spells a known one. Names are compared
/// ASCII-case-insensitively; a non-ASCII name is NFKC-folded first (`/ˢ` is `/s`,
/// fullwidth `／ＣＲＥＡＴＥ` letters are ASCII letters).
pub fn recognise(arg: &Arg) -> Option<SwitchToken> {
    let (prefix, name) = split_prefix(&arg.value)?;
    if name.is_ascii() {
        return lookup(name).map(|name| SwitchToken {
            prefix,
            name,
            nfkc_folded: false,
        });
    }
    let folded: String = name.nfkc().collect();
    lookup(&folded).map(|name| SwitchToken {
        prefix,
        name,
        nfkc_folded: true,
    })
}

/// One switch as used on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchUse {
    /// Index of the switch in argv.
    pub index: usize,
    pub token: SwitchToken,
    /// Index in argv of the value this switch consumed.
    pub value: Option<usize>,
}

/// The command line read with the schtasks grammar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub switches: Vec<SwitchUse>,
    /// Indices of arguments that are neither a known switch nor a switch's value.
    pub stray: Vec<usize>,
    /// The operation: `create` when any `/create` switch is present (the contract asks
    /// whether the line *contains* `create`), otherwise the first operation switch.
    pub operation: Option<Operation>,
}

impl Parsed {
    /// The uses of switch `name`, in command-line order.
    pub fn uses<'p>(&'p self, name: &'p str) -> impl Iterator<Item = &'p SwitchUse> + 'p {
        self.switches.iter().filter(move |s| s.token.name == name)
    }
}

/// Read `args[1..]` (`args[0]` is the program) with the schtasks grammar.
pub fn parse(args: &[Arg]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut first_op = None;
    let mut has_create = false;
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        let Some(token) = recognise(arg) else {
            parsed.stray.push(i);
            i += 1;
            continue;
        };
        let next = args.get(i + 1);
        let value = match arity(token.name, first_op) {
            Arity::Operation(op) => {
                has_create |= op == Operation::Create;
                first_op.get_or_insert(op);
                None
            }
            Arity::Flag => None,
            Arity::Value => next.map(|_| i + 1),
            Arity::OptionalValue => next.filter(|a| recognise(a).is_none()).map(|_| i + 1),
        };
        parsed.switches.push(SwitchUse {
            index: i,
            token,
            value,
        });
        i += if value.is_some() { 2 } else { 1 };
    }
    parsed.operation = if has_create {
        Some(Operation::Create)
    } else {
        first_op
    };
    parsed
}

#[cfg(test)]
mod tests {
    use super::super::argv::split;
    use super::*;

    fn names(line: &str) -> Vec<(&'static str, Option<String>)> {
        let args = split(line);
        parse(&args)
            .switches
            .iter()
            .map(|s| {
                (
                    s.token.name,
                    s.value.and_then(|v| args.get(v)).map(|a| a.value.clone()),
                )
            })
            .collect()
    }

    #[test]
    fn value_switches_consume_switch_looking_values() {
        assert_eq!(
            names("schtasks /create /tn /s /tr \"x /s y\""),
            [
                ("create", None),
                ("tn", Some("/s".into())),
                ("tr", Some("x /s y".into()))
            ]
        );
    }

    #[test]
    fn password_value_is_optional() {
        assert_eq!(
            names("schtasks /create /s h /u a /p /tn t"),
            [
                ("create", None),
                ("s", Some("h".into())),
                ("u", Some("a".into())),
                ("p", None),
                ("tn", Some("t".into()))
            ]
        );
        assert_eq!(
            names("schtasks /create /rp -secret"),
            [("create", None), ("rp", Some("-secret".into()))]
        );
    }

    #[test]
    fn all_prefixes_and_nfkc_names_are_switches() {
        for line in [
            "x -create",
            "x \u{2013}create",
            "x \u{2014}create",
            "x \u{2015}create",
            "x \u{FE63}create",
            "x /CREATE",
            "x /\u{FF23}\u{FF32}\u{FF25}\u{FF21}\u{FF34}\u{FF25}",
        ] {
            assert_eq!(names(line), [("create", None)], "{line}");
        }
        let args = split("x /\u{02E2}");
        let token = recognise(&args[1]).expect("ˢ folds to s");
        assert_eq!(token.name, "s");
        assert!(token.nfkc_folded);
    }

    #[test]
    fn create_anywhere_makes_the_operation_create() {
        let args = split("schtasks /query /create");
        assert_eq!(parse(&args).operation, Some(Operation::Create));
        let args = split("schtasks /run /i /tn t");
        assert_eq!(parse(&args).operation, Some(Operation::Run));
    }
}
