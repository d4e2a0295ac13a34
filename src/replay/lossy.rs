//! Lossy repair of text that a strict parser refused, so that one odd character never
//! hides an event (issue 10, kind D: "a value we cannot decode is read lossily, never a
//! reason to drop an event").
//!
//! Each repair maps what a writer got wrong to what a human reading the line would read,
//! and nothing else: text the strict parser accepts is never passed through here (the
//! readers call these only after a parse error, so the hot path pays nothing).

/// The character a value that cannot be decoded reads as (U+FFFD REPLACEMENT CHARACTER,
/// as `String::from_utf8_lossy` and WHATWG decoders write).
pub(crate) const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// Rewrites one JSON text (a line holding one object) into `out` so that a strict
/// parser (RFC 8259) reads what its writer meant. Returns whether anything changed.
///
/// Inside strings:
/// - an unpaired surrogate escape (`\uD800`–`\uDFFF` without its partner; Python's
///   `json.dumps` writes them, python-evtx#43, openwec#199) becomes `\uFFFD`;
/// - a raw control character (U+0000–U+001F, which RFC 8259 §7 requires escaped) is
///   escaped as `\u00XX`, so it keeps its value;
/// - a backslash that starts no valid escape (`"C:\Windows"` written without escaping,
///   `\u` without four hex digits, a `\` at the end) is read as a literal backslash.
///
/// Outside strings, a number that does not fit an `f64` (`1e400`, an integer of a
/// million digits: serde_json's "number out of range") becomes a string of its digits,
/// so that the record is judged and the value kept as written (issue 15 case 10);
/// a control character other than JSON white space (a NUL left by a
/// crash or padding) becomes a space, and the non-numbers `NaN`, `Infinity` and
/// `-Infinity` (which Python's `json.dumps` writes by default) become `null`. `text` must be UTF-8 (the caller decodes
/// lossily first); every repair rewrites ASCII only, so `out` stays UTF-8.
pub(crate) fn repair_json(text: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    out.reserve(text.len() + 16);
    let mut changed = false;
    let mut in_string = false;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if !in_string {
            let rest = text.get(i..).unwrap_or_default();
            if let Some(token) = NON_NUMBERS.iter().find(|t| rest.starts_with(t)) {
                out.extend_from_slice(b"null");
                changed = true;
                i += token.len();
                continue;
            }
            if b == b'-' || b.is_ascii_digit() {
                let len = rest
                    .iter()
                    .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                let token = rest.get(..len).unwrap_or_default();
                let fits = std::str::from_utf8(token)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(f64::is_finite);
                if fits {
                    out.extend_from_slice(token);
                } else {
                    // Beyond f64 (`1e400`, a million digits): kept as text, exactly.
                    out.push(b'"');
                    out.extend_from_slice(token);
                    out.push(b'"');
                    changed = true;
                }
                i += len.max(1);
                continue;
            }
            match b {
                b'"' => in_string = true,
                b' ' | b'\t' | b'\r' | b'\n' => {}
                0..=0x1f | 0x7f => {
                    out.push(b' ');
                    changed = true;
                    i += 1;
                    continue;
                }
                _ => {}
            }
            out.push(b);
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = false;
                out.push(b);
                i += 1;
            }
            b'\\' => {
                let (step, same) = escape(text.get(i..).unwrap_or_default(), out);
                changed |= !same;
                i += step;
            }
            0..=0x1f => {
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                changed = true;
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed
}

/// What Python's `json.dumps(allow_nan=True)` writes for floats JSON cannot hold.
const NON_NUMBERS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];

/// Copies (or repairs) the escape at the start of `at` (which begins with `\`) into
/// `out`. Returns the bytes consumed and whether they were copied unchanged.
fn escape(at: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
    match at.get(1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
            out.extend_from_slice(at.get(..2).unwrap_or_default());
            (2, true)
        }
        Some(b'u') => match hex4(at.get(2..6)) {
            Some(0xD800..=0xDBFF) => {
                let low = match (at.get(6..8), hex4(at.get(8..12))) {
                    (Some(b"\\u"), Some(low @ 0xDC00..=0xDFFF)) => Some(low),
                    _ => None,
                };
                match low {
                    Some(_) => {
                        out.extend_from_slice(at.get(..12).unwrap_or_default());
                        (12, true)
                    }
                    None => {
                        out.extend_from_slice(b"\\uFFFD");
                        (6, false)
                    }
                }
            }
            Some(0xDC00..=0xDFFF) => {
                out.extend_from_slice(b"\\uFFFD");
                (6, false)
            }
            Some(_) => {
                out.extend_from_slice(at.get(..6).unwrap_or_default());
                (6, true)
            }
            None => {
                out.extend_from_slice(b"\\\\");
                (1, false)
            }
        },
        // Not an escape: the backslash is a character of the value.
        _ => {
            out.extend_from_slice(b"\\\\");
            (1, false)
        }
    }
}

/// Four ASCII hex digits as a number.
fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = digits?;
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The character an XML character reference (`&#xD800;`, `&#55296;`) names; a number
/// that is no Unicode scalar value (a surrogate, or above U+10FFFF) reads as U+FFFD.
/// `None` when `digits` is not a number at all (then the reference is not one, and is
/// read as written).
pub(crate) fn char_reference(digits: &[u8], hex: bool) -> Option<char> {
    let text = std::str::from_utf8(digits).ok()?;
    let radix = if hex { 16 } else { 10 };
    if text.is_empty() || !text.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(
        u32::from_str_radix(text, radix)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or(REPLACEMENT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(text: &str) -> (String, bool) {
        let mut out = Vec::new();
        let changed = repair_json(text.as_bytes(), &mut out);
        (String::from_utf8(out).unwrap(), changed)
    }

    fn parsed(text: &str) -> serde_json::Value {
        let (fixed, _) = repaired(text);
        serde_json::from_str(&fixed).unwrap()
    }

    #[test]
    fn valid_json_is_left_as_it_is() {
        for text in [
            r#"{"a":"b \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00","n":[1,2.5,null,true]}"#,
            "{ \"a\" :\t\"x\" }\r",
        ] {
            assert_eq!(repaired(text), (text.to_owned(), false));
        }
    }

    #[test]
    fn lone_surrogate_escapes_become_replacement_characters() {
        // Issue 10, example 3.
        let v = parsed(
            r#"{"CommandLine":"schtasks /create /s HOST2 /tn t /tr c:\\a.exe\ud800 /sc once"}"#,
        );
        assert_eq!(
            v["CommandLine"],
            "schtasks /create /s HOST2 /tn t /tr c:\\a.exe\u{FFFD} /sc once"
        );
        assert_eq!(parsed(r#"{"a":"\uDC00x"}"#)["a"], "\u{FFFD}x");
        assert_eq!(
            parsed(r#"{"a":"\uD800\uD800\uDC00"}"#)["a"],
            "\u{FFFD}\u{10000}"
        );
        assert_eq!(parsed(r#"{"a":"\uD800"}"#)["a"], "\u{FFFD}");
        assert_eq!(parsed(r#"{"a":"\uD800\n"}"#)["a"], "\u{FFFD}\n");
    }

    #[test]
    fn raw_control_characters_keep_their_value_inside_strings() {
        assert_eq!(parsed("{\"a\":\"x\ty\0z\u{1}\"}")["a"], "x\ty\0z\u{1}");
        // Outside strings they are white space.
        assert_eq!(parsed("{\"a\":1}\0\0\0")["a"], 1);
        assert_eq!(parsed("\0{\"a\":\u{1}1}")["a"], 1);
    }

    #[test]
    fn python_non_numbers_become_null_outside_strings_only() {
        let v = parsed(r#"{"a":NaN,"b":[Infinity,-Infinity],"c":"NaN Infinity"}"#);
        assert_eq!(v["a"], serde_json::Value::Null);
        assert_eq!(v["b"], serde_json::json!([null, null]));
        assert_eq!(v["c"], "NaN Infinity");
    }

    #[test]
    fn backslashes_that_escape_nothing_are_literal() {
        assert_eq!(
            parsed(r#"{"a":"C:\Windows\System32\x.exe"}"#)["a"],
            r"C:\Windows\System32\x.exe"
        );
        assert_eq!(parsed(r#"{"a":"\u12"}"#)["a"], r"\u12");
        assert_eq!(parsed(r#"{"a":"\uZZZZ"}"#)["a"], r"\uZZZZ");
        assert_eq!(parsed(r#"{"a":"x\\"}"#)["a"], "x\\");
    }

    #[test]
    fn character_references_outside_unicode_read_as_replacement() {
        assert_eq!(char_reference(b"D800", true), Some(REPLACEMENT));
        assert_eq!(char_reference(b"55296", false), Some(REPLACEMENT));
        assert_eq!(char_reference(b"110000", true), Some(REPLACEMENT));
        assert_eq!(char_reference(b"FFFFFFFFFFFF", true), Some(REPLACEMENT));
        assert_eq!(char_reference(b"41", true), Some('A'));
        assert_eq!(char_reference(b"0", false), Some('\0'));
        assert_eq!(char_reference(b"", true), None);
        assert_eq!(char_reference(b"4G", true), None);
        assert_eq!(char_reference(b"-1", false), None);
    }
}
