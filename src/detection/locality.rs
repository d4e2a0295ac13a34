//! Is a `/s` target another machine?
//!
//! Not remote: `.`, `localhost`, any IPv4 loopback in a spelling Windows accepts
//! (`inet_aton` forms), any IPv6 loopback (including `::ffff:127.0.0.1` and the UNC
//! form `0--1.ipv6-literal.net`), and the host the command ran on (`dest`), also when
//! one side is a fully qualified name and the other its first label. Everything else
//! is remote, including every target when `dest` is unknown.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Where a `/s` target points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    /// No name left once `\\` and blanks are dropped: schtasks targets the local machine.
    Empty,
    /// `.`, `localhost` or a loopback address.
    Loopback,
    /// The host the command ran on.
    SelfHost,
    Remote,
}

/// The target as compared: white space trimmed, leading backslashes dropped, lower
/// case. White space is Unicode's (`\n`, `\r`, no-break spaces too): Windows splits the
/// command line only at spaces and tabs, so a `/s` value may hold any other blank, and
/// a value of blanks alone names no host.
pub fn normalize(host: &str) -> String {
    host.trim().trim_start_matches('\\').trim().to_lowercase()
}

/// A single trailing dot (an absolute DNS name) does not change the host.
fn without_root_dot(host: &str) -> &str {
    host.strip_suffix('.')
        .filter(|h| !h.is_empty())
        .unwrap_or(host)
}

/// Classifies a target already passed through [`normalize`].
pub fn locate(normalized: &str, dest: &str) -> Locality {
    if normalized.is_empty() {
        return Locality::Empty;
    }
    if normalized == "." {
        return Locality::Loopback;
    }
    let host = without_root_dot(normalized);
    if host == "localhost" || is_loopback_ip(host) {
        return Locality::Loopback;
    }
    if is_self(host, dest) {
        return Locality::SelfHost;
    }
    Locality::Remote
}

fn is_self(host: &str, dest: &str) -> bool {
    let dest = without_root_dot(dest.trim_matches([' ', '\t']).trim_start_matches('\\'));
    if dest.is_empty() {
        return false;
    }
    let dest = dest.to_lowercase();
    if host == dest {
        return true;
    }
    // An IPv4 address is not a DNS name: `10` is not the first label of `10.1.2.3`.
    let fqdn = |name: &str| name.contains('.') && parse_inet_aton(name).is_none();
    let first_label = |name: &str| name.split('.').next().unwrap_or_default().to_owned();
    if fqdn(host) && !dest.contains('.') {
        first_label(host) == dest
    } else if fqdn(&dest) && !host.contains('.') {
        first_label(&dest) == host
    } else {
        false
    }
}

/// Loopback in any IPv4 or IPv6 spelling Windows accepts.
pub fn is_loopback_ip(host: &str) -> bool {
    if let Some(v4) = parse_inet_aton(host) {
        return v4.is_loopback();
    }
    is_loopback_v6(host)
}

fn is_loopback_v6(host: &str) -> bool {
    let literal;
    let mut text = host;
    // Windows' UNC spelling of an IPv6 address: `:` as `-`, `%` as `s`.
    if let Some(prefix) = host.strip_suffix(".ipv6-literal.net") {
        literal = prefix.replace('-', ":").replace('s', "%");
        text = &literal;
    }
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    // A zone index (`::1%1`) does not change the address.
    let text = text.split_once('%').map_or(text, |(addr, _)| addr);
    match text.parse::<Ipv6Addr>() {
        Ok(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

/// Parses an IPv4 address the way `inet_aton` (and Windows' `inet_addr`) does: one to
/// four parts, each decimal, octal (`0` prefix) or hex (`0x` prefix); the last part
/// fills the remaining bytes (`127.1` is 127.0.0.1, `2130706433` is 127.0.0.1).
pub fn parse_inet_aton(s: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u64; 4];
    let mut n = 0;
    for part in s.split('.') {
        let slot = parts.get_mut(n)?;
        *slot = parse_part(part)?;
        n += 1;
    }
    let (head, last) = match n {
        1..=4 => (parts.get(..n - 1)?, *parts.get(n - 1)?),
        _ => return None,
    };
    if head.iter().any(|&p| p > 0xff) {
        return None;
    }
    let last_bits = 8 * (5 - n as u32);
    if last >= (1u64 << last_bits) {
        return None;
    }
    let value = head
        .iter()
        .enumerate()
        .fold(last, |acc, (i, &p)| acc | (p << (24 - 8 * i as u32)));
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_part(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (part.get(1..)?, 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Longer than any u32 in any radix: out of range, and keeps from_str_radix safe.
    if digits.trim_start_matches('0').len() > 11 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(target: &str, dest: &str) -> Locality {
        locate(&normalize(target), dest)
    }

    #[test]
    fn inet_aton_spellings_of_loopback() {
        for s in [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F.1",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "127.255.255.254",
            "017700000001",
        ] {
            assert!(is_loopback_ip(s), "{s}");
        }
        for s in [
            "128.0.0.1",
            "10.0.0.1",
            "127.0.0.256",
            "1.2.3.4.5",
            "127..1",
            "0x",
            "08.0.0.1",
            "4294967296",
        ] {
            assert!(!is_loopback_ip(s), "{s}");
        }
    }

    #[test]
    fn inet_aton_ranges_per_part_count() {
        assert_eq!(
            parse_inet_aton("1.65535"),
            Some(Ipv4Addr::new(1, 0, 255, 255))
        );
        assert_eq!(parse_inet_aton("1.65536"), Some(Ipv4Addr::new(1, 1, 0, 0)));
        assert_eq!(parse_inet_aton("1.2.65536"), None);
        assert_eq!(parse_inet_aton("4294967295"), Some(Ipv4Addr::BROADCAST));
        assert_eq!(parse_inet_aton(""), None);
    }

    #[test]
    fn ipv6_loopback_spellings() {
        for s in [
            "::1",
            "[::1]",
            "0:0:0:0:0:0:0:1",
            "0000::0001",
            "::ffff:127.0.0.1",
            "[::ffff:7f00:1]",
            "::1%1",
            "0--1.ipv6-literal.net",
        ] {
            assert!(is_loopback_ip(s), "{s}");
        }
        assert!(!is_loopback_ip("::2"));
        assert!(!is_loopback_ip("fe80::1"));
        assert!(!is_loopback_ip("::ffff:10.0.0.1"));
    }

    #[test]
    fn targets_classified() {
        assert_eq!(loc(".", "ws1"), Locality::Loopback);
        assert_eq!(loc("LocalHost", ""), Locality::Loopback);
        assert_eq!(loc(r"\\localhost", ""), Locality::Loopback);
        assert_eq!(loc("localhost.", ""), Locality::Loopback);
        assert_eq!(loc(r"\\", "ws1"), Locality::Empty);
        assert_eq!(loc("", "ws1"), Locality::Empty);
        assert_eq!(loc("WS1", "ws1"), Locality::SelfHost);
        assert_eq!(loc("ws1", "WS1.corp.local"), Locality::SelfHost);
        assert_eq!(loc(r"\\WS1.corp.local", "ws1"), Locality::SelfHost);
        assert_eq!(loc("ws1.other.local", "ws1.corp.local"), Locality::Remote);
        assert_eq!(loc("ws2", "ws1.corp.local"), Locality::Remote);
        assert_eq!(loc("ws1", ""), Locality::Remote);
        assert_eq!(loc("10", "10.1.2.3"), Locality::Remote);
        assert_eq!(loc("10.1.2.3", "10.1.2.3"), Locality::SelfHost);
    }
}
