//! Windows command-line splitting, the way the MSVC runtime (and, for the cases that
//! matter here, `CommandLineToArgvW`) does it.
//!
//! Every argument keeps the byte span it came from in the original command line, so a
//! password value can be masked in place without re-quoting the rest of the line.

use std::ops::Range;

/// One argument as the program sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The argument after quote removal and backslash processing.
    pub value: String,
    /// Byte range of the raw token in the command line (quotes included).
    pub span: Range<usize>,
    /// A double quote acted as a delimiter inside this token (`/cr"ea"te`, `"/s"`).
    /// Escaped quotes (`\"`) are literal characters and do not count.
    pub quoted: bool,
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Bytes to a `String`. Only ASCII bytes (quotes, backslashes, blanks) are ever dropped
/// from a token, and always whole, so the bytes stay valid UTF-8; the lossy fallback
/// exists so that an unforeseen case degrades instead of panicking.
fn into_string(buf: Vec<u8>) -> String {
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Split `cmdline` into arguments.
///
/// `argv[0]` (the program) has its own rule: double quotes toggle quoting and are
/// removed, backslashes are ordinary characters, a blank outside quotes ends it. A
/// command line that starts with a blank therefore has an empty `argv[0]`, as on
/// Windows.
///
/// The other arguments follow the MSVC rules (Visual C++ 2008 and later):
/// - blanks (space, tab) outside quotes separate arguments;
/// - `"` toggles quoting and is removed; inside quotes, `""` is one literal `"`;
/// - `2n` backslashes before `"` become `n` backslashes and the quote delimits;
///   `2n+1` backslashes before `"` become `n` backslashes and a literal `"`;
/// - backslashes not followed by `"` are literal.
pub fn split(cmdline: &str) -> Vec<Arg> {
    let bytes = cmdline.as_bytes();
    let mut args = Vec::new();
    if bytes.is_empty() {
        return args;
    }

    let mut i = 0;
    let mut buf = Vec::new();
    let mut in_quotes = false;
    let mut quoted = false;
    while let Some(&c) = bytes.get(i) {
        if c == b'"' {
            in_quotes = !in_quotes;
            quoted = true;
        } else if !in_quotes && is_blank(c) {
            break;
        } else {
            buf.push(c);
        }
        i += 1;
    }
    args.push(Arg {
        value: into_string(std::mem::take(&mut buf)),
        span: 0..i,
        quoted,
    });

    loop {
        while bytes.get(i).is_some_and(|&c| is_blank(c)) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        in_quotes = false;
        quoted = false;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'\\' => {
                    let mut run = 0;
                    while bytes.get(i) == Some(&b'\\') {
                        run += 1;
                        i += 1;
                    }
                    if bytes.get(i) == Some(&b'"') {
                        buf.extend(std::iter::repeat(b'\\').take(run / 2));
                        if run % 2 == 1 {
                            buf.push(b'"');
                            i += 1;
                        }
                        // Even run: the quote is a delimiter, handled next iteration.
                    } else {
                        buf.extend(std::iter::repeat(b'\\').take(run));
                    }
                }
                b'"' => {
                    quoted = true;
                    if in_quotes && bytes.get(i + 1) == Some(&b'"') {
                        buf.push(b'"');
                        i += 2;
                    } else {
                        in_quotes = !in_quotes;
                        i += 1;
                    }
                }
                c if is_blank(c) && !in_quotes => break,
                c => {
                    buf.push(c);
                    i += 1;
                }
            }
        }
        args.push(Arg {
            value: into_string(std::mem::take(&mut buf)),
            span: start..i,
            quoted,
        });
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<String> {
        split(s).into_iter().map(|a| a.value).collect()
    }

    #[test]
    fn msvc_documented_examples() {
        // The table in Microsoft's "Parsing C++ command-line arguments".
        assert_eq!(values(r#"p "abc" d e"#), ["p", "abc", "d", "e"]);
        assert_eq!(values(r#"p a\\b d"e f"g h"#), ["p", r"a\\b", "de fg", "h"]);
        assert_eq!(values(r#"p a\\\"b c d"#), ["p", r#"a\"b"#, "c", "d"]);
        assert_eq!(values(r#"p a\\\\"b c" d e"#), ["p", r"a\\b c", "d", "e"]);
        assert_eq!(values(r#"p a"b"" c d"#), ["p", r#"ab" c d"#]);
    }

    #[test]
    fn program_name_keeps_backslashes_and_drops_quotes() {
        let args = split(r#""C:\Program Files\x\"schtasks.exe /create"#);
        assert_eq!(args[0].value, r"C:\Program Files\x\schtasks.exe");
        assert_eq!(args[1].value, "/create");
    }

    #[test]
    fn leading_blank_gives_empty_program() {
        assert_eq!(values(" /create"), ["", "/create"]);
    }

    #[test]
    fn spans_cover_the_raw_tokens() {
        let line = "schtasks  /rp \"pa ss\"\t/tn x";
        let args = split(line);
        let raw: Vec<&str> = args.iter().map(|a| &line[a.span.clone()]).collect();
        assert_eq!(raw, ["schtasks", "/rp", "\"pa ss\"", "/tn", "x"]);
        assert!(args[2].quoted);
        assert!(!args[1].quoted);
    }

    #[test]
    fn quote_insertion_is_flagged_and_removed() {
        let args = split(r#"s /cr"ea"te "/s" a\"b"#);
        assert_eq!(args[1].value, "/create");
        assert!(args[1].quoted);
        assert_eq!(args[2].value, "/s");
        assert!(args[2].quoted);
        assert_eq!(args[3].value, r#"a"b"#);
        assert!(!args[3].quoted);
    }

    #[test]
    fn empty_quotes_are_an_empty_argument() {
        assert_eq!(values(r#"s /s "" /tn"#), ["s", "/s", "", "/tn"]);
    }
}
