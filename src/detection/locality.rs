//! Is a `/s` target another machine?

use std::net::Ipv6Addr;

/// What a `/s` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Locality {
    /// Nothing left after dropping the leading `\\`.
    Empty,
    /// `.`, `localhost`, an IPv4 or IPv6 loopback address.
    Loopback,
    /// The host the command ran on (`dest`).
    SelfHost,
    /// Anything else.
    Remote,
}

/// The host part of a `/s` value: leading backslashes (`\\host`) dropped.
pub fn strip_unc(value: &str) -> &str {
    value.trim_start_matches('\\')
}

/// `strip_unc`, lower-cased: the value reported as `remote_host_normalized`.
pub fn normalize(value: &str) -> String {
    strip_unc(value).to_lowercase()
}

/// Judge a `/s` value against `dest`, the host the command ran on.
pub fn classify(value: &str, dest: &str) -> Locality {
    let host = strip_unc(value);
    if host.is_empty() {
        return Locality::Empty;
    }
    if is_loopback(host) {
        return Locality::Loopback;
    }
    if is_same_host(host, dest) {
        return Locality::SelfHost;
    }
    Locality::Remote
}

/// `.`, `localhost`, an IPv4 loopback in any inet_aton spelling, or an IPv6 loopback.
pub fn is_loopback(host: &str) -> bool {
    // A trailing dot is the DNS root; `localhost.` is `localhost`.
    let bare = host.strip_suffix('.').unwrap_or(host);
    host == "."
        || bare.eq_ignore_ascii_case("localhost")
        || ipv4_is_loopback(host)
        || ipv6_is_loopback(host)
}

fn ipv4_is_loopback(host: &str) -> bool {
    parse_inet_aton(host).is_some_and(|addr| addr >> 24 == 127)
}

/// One part of an inet_aton address: `0x…` hex, `0…` octal, else decimal.
fn parse_part(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (part.get(1..)?, 8)
        } else {
            (part, 10)
        };
    // from_str_radix accepts a sign; inet_aton does not.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// The 32-bit address of an inet_aton spelling: `a`, `a.b` (8.24 bits), `a.b.c`
/// (8.8.16), `a.b.c.d` (8.8.8.8). Windows' `inet_addr` accepts the same forms.
pub fn parse_inet_aton(host: &str) -> Option<u32> {
    let mut parts = [0u64; 4];
    let mut count = 0;
    for part in host.split('.') {
        *parts.get_mut(count)? = parse_part(part)?;
        count += 1;
    }
    let [a, b, c, d] = parts;
    let value = match count {
        1 => a,
        2 if a <= 0xFF && b <= 0xFF_FFFF => a << 24 | b,
        3 if a <= 0xFF && b <= 0xFF && c <= 0xFFFF => a << 24 | b << 16 | c,
        4 if a <= 0xFF && b <= 0xFF && c <= 0xFF && d <= 0xFF => a << 24 | b << 16 | c << 8 | d,
        _ => return None,
    };
    u32::try_from(value).ok()
}

/// An IPv6 address in any spelling std accepts, optionally in brackets, with a zone
/// (`%eth0`), or in the UNC form Windows uses (`0--1.ipv6-literal.net`).
fn parse_ipv6(host: &str) -> Option<Ipv6Addr> {
    let lower;
    let mut text = host;
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        text = inner;
    }
    let literal_suffix = ".ipv6-literal.net";
    if text.len() > literal_suffix.len()
        && text
            .get(text.len() - literal_suffix.len()..)
            .is_some_and(|s| s.eq_ignore_ascii_case(literal_suffix))
    {
        let stem = text.get(..text.len() - literal_suffix.len())?;
        lower = stem.replace('-', ":").replace(['s', 'S'], "%");
        text = &lower;
    }
    let without_zone = text.split_once('%').map_or(text, |(addr, _)| addr);
    without_zone.parse().ok()
}

fn ipv6_is_loopback(host: &str) -> bool {
    parse_ipv6(host).is_some_and(|addr| {
        addr.is_loopback()
            || addr
                .to_ipv4_mapped()
                .is_some_and(|v4| v4.octets()[0] == 127)
    })
}

fn is_ip_literal(host: &str) -> bool {
    parse_inet_aton(host).is_some() || parse_ipv6(host).is_some()
}

/// `host` names `dest`: equal ignoring case (and a trailing root dot), or, when one is a
/// fully qualified name and the other a short name, the short name equals the first
/// DNS label of the other. IP literals are compared whole, never by label.
pub fn is_same_host(host: &str, dest: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let dest = strip_unc(dest);
    let dest = dest.strip_suffix('.').unwrap_or(dest);
    if dest.is_empty() || host.is_empty() {
        return false;
    }
    if host.eq_ignore_ascii_case(dest) {
        return true;
    }
    let qualified = |name: &str| name.contains('.') && !is_ip_literal(name);
    let label_matches = |fqdn: &str, short: &str| {
        fqdn.split('.')
            .next()
            .is_some_and(|label| label.eq_ignore_ascii_case(short))
    };
    match (qualified(host), qualified(dest)) {
        (true, false) if !dest.contains('.') => label_matches(host, dest),
        (false, true) if !host.contains('.') => label_matches(dest, host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_spellings() {
        for (text, addr) in [
            ("127.0.0.1", 0x7f00_0001),
            ("127.1", 0x7f00_0001),
            ("127.0.1", 0x7f00_0001),
            ("2130706433", 0x7f00_0001),
            ("0x7f000001", 0x7f00_0001),
            ("0177.0.0.1", 0x7f00_0001),
            ("0x7F.0.0.0x1", 0x7f00_0001),
            ("10.1.2.3", 0x0a01_0203),
        ] {
            assert_eq!(parse_inet_aton(text), Some(addr), "{text}");
        }
        for text in [
            "",
            "1.2.3.4.5",
            "256.1.1.1",
            "08.1.1.1",
            "+1",
            "1..2",
            "0x",
            "host",
            "4294967296",
        ] {
            assert_eq!(parse_inet_aton(text), None, "{text}");
        }
    }

    #[test]
    fn loopback_spellings() {
        for text in [
            ".",
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "[::1]",
            "0:0:0:0:0:0:0:1",
            "::ffff:127.0.0.1",
            "[::FFFF:7f00:1]",
            "::1%3",
            "0--1.ipv6-literal.net",
        ] {
            assert!(is_loopback(text), "{text}");
        }
        for text in [
            "128.0.0.1",
            "::2",
            "10.0.0.1",
            "localhost2",
            "..",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_loopback(text), "{text}");
        }
    }

    #[test]
    fn same_host_by_short_name_and_fqdn() {
        assert!(is_same_host("ws5", "WS5"));
        assert!(is_same_host("ws5.corp.local", "WS5"));
        assert!(is_same_host("WS5", "ws5.corp.local"));
        assert!(is_same_host("ws5.corp.local.", "ws5.corp.local"));
        assert!(!is_same_host("ws5.other.local", "ws5.corp.local"));
        assert!(!is_same_host("ws6", "ws5.corp.local"));
        assert!(!is_same_host("ws5", ""));
        assert!(!is_same_host("10.1.2.3", "10"));
    }

    #[test]
    fn classify_orders_the_verdicts() {
        assert_eq!(classify(r"\\", "x"), Locality::Empty);
        assert_eq!(classify(r"\\127.1", "x"), Locality::Loopback);
        assert_eq!(classify(r"\\WS5", "ws5.corp"), Locality::SelfHost);
        assert_eq!(classify("ws6", "ws5"), Locality::Remote);
        assert_eq!(classify("ws6", ""), Locality::Remote);
    }
}
