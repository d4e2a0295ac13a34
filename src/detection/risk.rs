//! Password masking and the ESCU risk message.

use std::ops::Range;

/// What replaces a `/p` or `/rp` value.
pub const MASK: &str = "****";

/// `line` with each span replaced by [`MASK`]. Spans are argv spans: ordered and
/// disjoint. A span that does not fit the line is ignored rather than trusted.
pub fn mask(line: &str, spans: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for span in spans {
        let (Some(before), true) = (line.get(at..span.start), span.end <= line.len()) else {
            continue;
        };
        if span.start >= span.end {
            continue;
        }
        out.push_str(before);
        out.push_str(MASK);
        at = span.end;
    }
    out.push_str(line.get(at..).unwrap_or_default());
    out
}

/// Expands ESCU's template: each `$name$` is replaced once, in a single pass, so a
/// value that itself contains `$dest$` is not expanded again.
pub fn expand_template<'v>(template: &str, lookup: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len() + 128);
    let mut rest = template;
    while let Some(open) = rest.find('$') {
        let (head, tail) = rest.split_at(open);
        out.push_str(head);
        let after = tail.get(1..).unwrap_or_default();
        match after.find('$') {
            Some(close) => {
                let name = after.get(..close).unwrap_or_default();
                match lookup(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push('$');
                        out.push_str(name);
                        out.push('$');
                    }
                }
                rest = after.get(close + 1..).unwrap_or_default();
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_replaces_spans_only() {
        let line = r#"schtasks /create /p "a b" /rp c /tn t"#;
        assert_eq!(
            mask(line, &[20..25, 30..31]),
            "schtasks /create /p **** /rp **** /tn t"
        );
        assert_eq!(mask(line, &[]), line);
        let past_the_end = [1..2, 2..9];
        assert_eq!(mask("abc", &past_the_end), "a****c");
    }

    #[test]
    fn expand_template_is_single_pass() {
        let msg = expand_template("a $x$ b $y$ $z$ $", |n| match n {
            "x" => Some("$y$"),
            "y" => Some("Y"),
            _ => None,
        });
        assert_eq!(msg, "a $y$ b Y $z$ $");
    }
}
