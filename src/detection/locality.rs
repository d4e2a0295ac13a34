//! Is a `/s` target another machine?
//!
//! Not remote: `.`, `localhost`, any IPv4 loopback in a spelling Windows accepts
//! (`inet_aton` forms), any IPv6 loopback (including `::ffff:127.0.0.1` and the UNC
//! form `0--1.ipv6-literal.net`), and the host the command ran on (`dest`) by one of
//! its own names: its full name, its first DNS label, or its NetBIOS name (that label
//! cut to 15 characters, what `%COMPUTERNAME%` expands to); also a fully qualified
//! target whose first label is a short `dest`. Everything else is remote, including
//! every target when `dest` is unknown.

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

/// Windows' `MAX_COMPUTERNAME_LENGTH`: a computer's NetBIOS name (what `%COMPUTERNAME%`
/// expands to) is its DNS host label cut to this many characters.
pub const MAX_COMPUTERNAME_LENGTH: usize = 15;

/// A host's NetBIOS name from its first DNS label: the label's first
/// [`MAX_COMPUTERNAME_LENGTH`] characters.
fn netbios_name(label: &str) -> &str {
    match label.char_indices().nth(MAX_COMPUTERNAME_LENGTH) {
        Some((cut, _)) => label.get(..cut).unwrap_or(label),
        None => label,
    }
}

/// Whether `host` (normalized) names `dest`. `dest`'s own names are exactly: its full
/// name, its first DNS label, and that label cut to 15 characters (its NetBIOS name,
/// issue 10 kind E); a longer prefix of the label is another machine. A fully qualified
/// target whose first label is a short `dest` is `dest` too.
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
        return first_label(host) == dest;
    }
    if host.contains('.') {
        return false;
    }
    let label = if fqdn(&dest) {
        first_label(&dest)
    } else if dest.contains('.') {
        // An IP address: it has no other names.
        return false;
    } else {
        dest
    };
    host == label || host == netbios_name(&label)
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

    /// Issue 10 kind E: `%COMPUTERNAME%` is the NetBIOS name, the first DNS label cut
    /// to 15 characters (MAX_COMPUTERNAME_LENGTH, Microsoft's "Computer names" rules).
    #[test]
    fn a_hosts_own_names_are_its_full_name_first_label_and_netbios_name_exactly() {
        let dest = "DESKTOP-ENGINEERING01.corp.example";
        assert_eq!(
            loc("desktop-engineering01.corp.example", dest),
            Locality::SelfHost
        );
        assert_eq!(loc("DESKTOP-ENGINEERING01", dest), Locality::SelfHost);
        assert_eq!(loc("DESKTOP-ENGINEE", dest), Locality::SelfHost);
        // 16 and 14 characters: prefixes that are not a name of the host.
        assert_eq!(loc("DESKTOP-ENGINEER", dest), Locality::Remote);
        assert_eq!(loc("DESKTOP-ENGINE", dest), Locality::Remote);
        // A short dest longer than 15 characters has a NetBIOS name too.
        assert_eq!(
            loc("DESKTOP-ENGINEE", "desktop-engineering01"),
            Locality::SelfHost
        );
        // A label of 15 characters or fewer is its own NetBIOS name.
        assert_eq!(loc("ws1", "ws1.corp.local"), Locality::SelfHost);
        // An IP address has no shorter names.
        assert_eq!(loc("10", "10.1.2.3"), Locality::Remote);
        // Multibyte characters are cut at a character boundary, never inside one.
        assert_eq!(
            loc("ééééééééééééééé", "éééééééééééééééé.corp"),
            Locality::SelfHost
        );
    }
}
