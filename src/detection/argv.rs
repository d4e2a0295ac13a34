//! Splitting a command line into arguments exactly as `CommandLineToArgvW` does.
//!
//! The rules (shell32's `CommandLineToArgvW`, reproduced by Wine and checked there
//! against Windows):
//!
//! - `argv[0]`, the program, has its own rule: when it starts with `"` it runs to the
//!   next `"`, no matter what (no backslash escapes); otherwise it runs to the first
//!   space or tab. A command line starting with whitespace has an empty `argv[0]`.
//! - Other arguments are separated by runs of spaces and tabs outside quotes.
//! - `2n` backslashes before `"` become `n` backslashes and the quote toggles quoting;
//!   `2n+1` backslashes before `"` become `n` backslashes and a literal `"`. Backslashes
//!   not followed by `"` are literal.
//! - A run of quotes counts in threes: inside quotes, `""` yields a literal `"` and
//!   leaves quoted mode (so `a""b` is `ab` and `"a""b"` is `a"b`).
//!
//! Every argument keeps the byte span it came from, so a value (a password) can be
//! masked in the original string without re-quoting anything.

use std::borrow::Cow;
use std::ops::Range;

/// One argument as Windows hands it to the program, borrowed from the command line it
/// was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg<'a> {
    /// The argument after quote and escape processing: the command line's own bytes when
    /// the argument has no `"` (most have none: `scan` judges every schtasks run of a
    /// collection, so no allocation for them, issue 14), a copy otherwise.
    pub value: Cow<'a, str>,
    /// The bytes of the original command line this argument was read from
    /// (quotes and backslashes included, surrounding whitespace excluded).
    pub span: Range<usize>,
    /// A `"` occurred in the span: quoting changed how the argument is written.
    pub quoted: bool,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).copied().is_some_and(is_blank) {
        i += 1;
    }
    i
}

fn owned(bytes: Vec<u8>) -> String {
    // Only ASCII bytes are ever removed or inserted, so the buffer stays UTF-8; the
    // fallback exists so that a broken invariant cannot become a panic.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The image file name that a process started as `program` (a command line's
/// `argv[0]`) runs: the file-name part, with `.exe` appended when it has no extension,
/// because `CreateProcess` appends it ("If the file name does not contain an extension,
/// .exe is appended", CreateProcessW, `lpCommandLine`). Empty for an empty `program`.
///
/// ```
/// use schtasksremote::detection::argv::image_name;
/// assert_eq!(image_name("schtasks"), "schtasks.exe");
/// assert_eq!(image_name(r"C:\Windows\System32\SCHTASKS"), "SCHTASKS.exe");
/// assert_eq!(image_name("cmd.exe"), "cmd.exe");
/// assert_eq!(image_name(""), "");
/// ```
pub fn image_name(program: &str) -> String {
    let name = program
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or_default()
        .trim();
    if name.is_empty() || name.contains('.') {
        name.to_owned()
    } else {
        format!("{name}.exe")
    }
}

/// Splits `line` into arguments the way `CommandLineToArgvW` does. An empty line has
/// no arguments (Windows would substitute the module path, which a log never has).
///
/// ```
/// use schtasksremote::detection::argv::split;
/// let args = split(r#""C:\Windows\schtasks.exe" /cr"ea"te "/s" HOST2 /tr "a b\"c""#);
/// let values: Vec<&str> = args.iter().map(|a| &*a.value).collect();
/// assert_eq!(values, [r"C:\Windows\schtasks.exe", "/create", "/s", "HOST2", "/tr", r#"a b"c"#]);
/// assert!(args[1].quoted);
/// assert_eq!(args[3].span, 41..46);
/// ```
pub fn split(line: &str) -> Vec<Arg<'_>> {
    let bytes = line.as_bytes();
    // At most one argument per blank, plus argv[0]: one allocation for the list.
    let mut args = Vec::with_capacity(bytes.iter().filter(|&&b| is_blank(b)).count() + 1);
    if bytes.is_empty() {
        return args;
    }

    // argv[0]: quotes delimit, nothing escapes.
    let (value, end, quoted) = if bytes.first() == Some(&b'"') {
        match memchr::memchr(b'"', bytes.get(1..).unwrap_or_default()) {
            Some(j) => (line.get(1..1 + j).unwrap_or_default(), 2 + j, true),
            None => (line.get(1..).unwrap_or_default(), bytes.len(), true),
        }
    } else {
        let end = bytes
            .iter()
            .position(|&b| is_blank(b))
            .unwrap_or(bytes.len());
        (line.get(..end).unwrap_or_default(), end, false)
    };
    args.push(Arg {
        value: Cow::Borrowed(value),
        span: 0..end,
        quoted,
    });

    let mut i = skip_blanks(bytes, end);
    while i < bytes.len() {
        let start = i;
        // Most arguments have no quote: they are their own bytes, up to the next blank.
        let end = bytes
            .get(i..)
            .unwrap_or_default()
            .iter()
            .position(|&b| is_blank(b) || b == b'"')
            .map_or(bytes.len(), |n| i + n);
        if bytes.get(end) != Some(&b'"') {
            args.push(Arg {
                value: Cow::Borrowed(line.get(start..end).unwrap_or_default()),
                span: start..end,
                quoted: false,
            });
            i = skip_blanks(bytes, end);
            continue;
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut backslashes = 0usize;
        let mut quotes = 0u8;
        let mut quoted = false;
        while let Some(&b) = bytes.get(i) {
            if is_blank(b) && quotes == 0 {
                break;
            }
            match b {
                b'\\' => {
                    buf.push(b);
                    backslashes += 1;
                    i += 1;
                }
                b'"' => {
                    quoted = true;
                    if backslashes.is_multiple_of(2) {
                        buf.truncate(buf.len().saturating_sub(backslashes / 2));
                        quotes += 1;
                    } else {
                        buf.truncate(buf.len().saturating_sub(backslashes / 2 + 1));
                        buf.push(b'"');
                    }
                    i += 1;
                    backslashes = 0;
                    while bytes.get(i) == Some(&b'"') {
                        quotes += 1;
                        if quotes == 3 {
                            buf.push(b'"');
                            quotes = 0;
                        }
                        i += 1;
                    }
                    if quotes == 2 {
                        quotes = 0;
                    }
                }
                _ => {
                    buf.push(b);
                    backslashes = 0;
                    i += 1;
                }
            }
        }
        args.push(Arg {
            value: Cow::Owned(owned(buf)),
            span: start..i,
            quoted,
        });
        i = skip_blanks(bytes, i);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::split;

    fn values(line: &str) -> Vec<String> {
        split(line)
            .into_iter()
            .map(|a| a.value.into_owned())
            .collect()
    }

    #[test]
    fn program_name_ends_at_the_next_quote_without_escapes() {
        assert_eq!(
            values(r#""C:\a b\x.exe"rest /s"#),
            [r"C:\a b\x.exe", "rest", "/s"]
        );
        assert_eq!(values(r#""C:\a\"x"#), [r"C:\a\", "x"]);
        assert_eq!(values(r#""unterminated"#), ["unterminated"]);
    }

    #[test]
    fn leading_whitespace_gives_an_empty_program_name() {
        assert_eq!(values("  /create"), ["", "/create"]);
    }

    #[test]
    fn backslash_rules_follow_commandlinetoargvw() {
        // The examples from Microsoft's "Parsing C++ command-line arguments".
        assert_eq!(values(r#"p "a b c" d e"#), ["p", "a b c", "d", "e"]);
        assert_eq!(values(r#"p "ab\"c" "\\" d"#), ["p", r#"ab"c"#, r"\", "d"]);
        assert_eq!(
            values(r#"p a\\\b d"e f"g h"#),
            ["p", r"a\\\b", "de fg", "h"]
        );
        assert_eq!(values(r#"p a\\\"b c d"#), ["p", r#"a\"b"#, "c", "d"]);
        assert_eq!(values(r#"p a\\\\"b c" d e"#), ["p", r"a\\b c", "d", "e"]);
    }

    #[test]
    fn doubled_quotes_count_in_threes() {
        assert_eq!(values(r#"p a""b"#), ["p", "ab"]);
        assert_eq!(values(r#"p "a""b""#), ["p", r#"a"b"#]);
        assert_eq!(values(r#"p """"#), ["p", r#"""#]);
        assert_eq!(values(r#"p "" x"#), ["p", "", "x"]);
    }

    #[test]
    fn tabs_separate_and_trailing_blanks_add_nothing() {
        assert_eq!(values("p\t/s\tHOST2 \t "), ["p", "/s", "HOST2"]);
    }

    #[test]
    fn spans_cover_the_raw_argument() {
        let line = r#"schtasks  /p "pa ss" /rp x"#;
        let args = split(line);
        assert_eq!(&line[args[2].span.clone()], r#""pa ss""#);
        assert!(args[2].quoted && !args[1].quoted);
        assert_eq!(&line[args[4].span.clone()], "x");
    }

    #[test]
    fn non_ascii_survives_intact() {
        assert_eq!(values("p –ˢ \"ｓｃ\"h"), ["p", "–ˢ", "ｓｃh"]);
    }
}
