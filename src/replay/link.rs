//! Both ends of one lateral movement, linked (issue 13).
//!
//! A source-side detection (schtasks.exe on host A with `/s B` at time t) and a
//! target-side detection (a 4698/4702/5145 logged on B near t) are one movement A → B.
//! [`Linker`] finds such pairs among a scan's detections, gives each detection the
//! other's sightings in `linked` (`source:record`, multivalue), and counts the
//! lateral-movement [`Edge`]s for the summary. Pure over detections: no I/O.
//!
//! Two detections are linked when all of these hold:
//!
//! | rule | why |
//! |---|---|
//! | one is `source`-side with a `remote_host_normalized`, the other `target`-side | the two ends |
//! | B's names agree: the source's `/s` value and the target's `dest`, by [`HostMatch`] | `WORKSTATION6` and `WORKSTATION6.theshire.local` are one host under [`HostMatch::Short`] |
//! | times within the window (default [`DEFAULT_LINK_WINDOW`]) | a task registers within seconds of the command; 5 minutes is Kerberos' default clock-skew tolerance, the most two domain members' clocks may differ |
//! | A is not contradicted: when the target side names its caller (`src`) by name, it is the source's `dest` by [`HostMatch`]; when by address and the scan learned A's addresses ([`Linker::learn_address`]), the address is one of them | a network logon from elsewhere is another movement |
//!
//! How A was confirmed is recorded per edge ([`Edge::how`]): `by name`, `by address`,
//! or `by target and time` (the target named no caller, or an address the scan could
//! not tie to a host).
//!
//! Memory is bounded: detections that may link (source-side remote detections and
//! target-side ones) are held until the end of the scan, at most [`MAX_HELD`]; past
//! that the oldest is released with the links it has, and [`Linker::released_early`]
//! counts them (the summary says so). Every other detection passes through at once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use super::sightings::parse_time;
use super::{Detection, KeyMap, Value};

/// The default link window (see the module doc).
pub const DEFAULT_LINK_WINDOW: Duration = Duration::from_secs(300);

/// At most this many detections wait for the other end; past that the oldest is
/// released as it is.
pub const MAX_HELD: usize = 4096;

/// How host names of the two ends are compared (both ASCII case-insensitively, after
/// dropping a leading `\\` and a trailing `.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostMatch {
    /// The first DNS label: `ws6` = `WS6.corp.local` = `ws6.other.local` (the default:
    /// schtasks is usually given the NetBIOS name, the event log writes the FQDN).
    #[default]
    Short,
    /// The whole name: `ws6` ≠ `ws6.corp.local` (for forests where short names repeat).
    Exact,
}

impl HostMatch {
    /// The comparison key of a host name under this rule.
    pub fn key(self, name: &str) -> String {
        let name = name.trim().trim_start_matches('\\').trim_end_matches('.');
        let name = match self {
            // An IP address is kept whole: its first "label" is not a host. (Whether
            // it is one does not depend on case: IPv6 takes hex digits in either.)
            HostMatch::Short if name.parse::<std::net::IpAddr>().is_err() => {
                name.split('.').next().unwrap_or_default()
            }
            _ => name,
        };
        // One copy, lowercased in place (this runs for every detection that may link).
        let mut key = name.to_owned();
        key.make_ascii_lowercase();
        key
    }
}

/// One lateral-movement edge A → B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// A, as the source side's `dest` names it.
    pub source_host: String,
    /// B, as the target side's `dest` names it.
    pub target_host: String,
    /// Linked pairs.
    pub count: u64,
    /// The earliest and latest time of either end (milliseconds since the epoch).
    pub first_ms: i64,
    pub last_ms: i64,
    /// How each end was seen: the source side's sensors (`Sysmon 1`, `Security 4688`),
    /// the target side's events (`Security 4698`).
    pub source_seen: BTreeSet<String>,
    pub target_seen: BTreeSet<String>,
    /// How A was confirmed (module doc): `by name`, `by address`, `by target and time`.
    pub how: BTreeSet<&'static str>,
}

struct Held {
    detection: Detection,
    at: Option<i64>,
    side: Side,
    /// The target host's key: `remote_host_normalized` (source) or `dest` (target).
    target_key: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Target,
}

impl Side {
    /// Its place in [`Linker::by_target`].
    fn index(self) -> usize {
        match self {
            Side::Source => 0,
            Side::Target => 1,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Source => Side::Target,
            Side::Target => Side::Source,
        }
    }
}

fn text<'a>(d: &'a Detection, name: &str) -> &'a str {
    match d.field(name) {
        Some(Value::One(s)) => s,
        _ => "",
    }
}

/// `Sysmon 1`, `Security 4688`, `Security 4698`: how a sighting saw the event.
fn seen(d: &Detection) -> Vec<String> {
    d.sightings()
        .map(|s| {
            let channel = s.channel.rsplit(['-', '/']).next().unwrap_or_default();
            let channel = match channel {
                "Operational" => s.channel.split('/').next().unwrap_or_default(),
                c => c,
            };
            let channel = channel.trim_start_matches("Microsoft-Windows-");
            format!("{channel} {}", s.event_id).trim().to_owned()
        })
        .collect()
}

/// `source:record` of each sighting.
fn references(d: &Detection) -> Vec<String> {
    d.sightings()
        .map(|s| format!("{}:{}", s.source, s.record))
        .collect()
}

/// Links the two ends of remote task registrations; see the module documentation.
pub struct Linker {
    window_ms: u64,
    hosts: HostMatch,
    held: VecDeque<Option<Held>>,
    first_seq: u64,
    /// Held sequence numbers by side ([`Side::index`]), then by target key, each list
    /// in increasing order: the oldest held detection is the front of its list, so
    /// releasing it is O(1) (a search of the list per release made 17,700 detections
    /// of one target quadratic). Looked up by `&str`: no key is copied but a new one.
    by_target: [KeyMap<String, VecDeque<u64>>; 2],
    /// Learned addresses: address → host keys.
    addresses: KeyMap<String, BTreeSet<String>>,
    edges: BTreeMap<(String, String), Edge>,
    released_early: u64,
    linked_pairs: u64,
}

impl Linker {
    /// A linker with this window and host-name rule.
    pub fn new(window: Duration, hosts: HostMatch) -> Linker {
        Linker {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            hosts,
            held: VecDeque::new(),
            first_seq: 0,
            by_target: [KeyMap::default(), KeyMap::default()],
            addresses: KeyMap::default(),
            edges: BTreeMap::new(),
            released_early: 0,
            linked_pairs: 0,
        }
    }

    /// Tells the linker that `address` belongs to `host` (seen as a source address of
    /// that host's own connections): a target side that names its caller by address
    /// is then linked only to a source on that host.
    pub fn learn_address(&mut self, host: &str, address: &str) {
        let Some(address) = address_key(address) else {
            return;
        };
        self.addresses
            .entry(address)
            .or_default()
            .insert(self.hosts.key(host));
    }

    /// Takes one detection; returns those that are final. A detection that may link is
    /// held (see the module doc) and returned by a later call or by [`Linker::finish`].
    pub fn push(&mut self, detection: Detection) -> Vec<Detection> {
        let side = match text(&detection, "detection_side") {
            "target" if detection.is_detection() => Side::Target,
            "source" if detection.is_detection() => Side::Source,
            _ => return vec![detection],
        };
        let target_key = match side {
            Side::Source => self.hosts.key(text(&detection, "remote_host_normalized")),
            Side::Target => self.hosts.key(&detection.dest),
        };
        if target_key.is_empty() || self.window_ms == 0 {
            return vec![detection];
        }
        let at = parse_time(&detection.sighting.time);
        let seq = self.first_seq + self.held.len() as u64;
        let lists = &mut self.by_target[side.index()];
        match lists.get_mut(&target_key) {
            Some(list) => list.push_back(seq),
            None => {
                lists.insert(target_key.clone(), VecDeque::from([seq]));
            }
        }
        self.held.push_back(Some(Held {
            detection,
            at,
            side,
            target_key,
        }));
        let mut released = Vec::new();
        while self.held.len() > MAX_HELD {
            // The oldest leaves now: it is linked to what is held, and later arrivals
            // cannot link to it (counted and said in the summary).
            self.link(0);
            if let Some(Some(h)) = self.pop_front() {
                self.released_early += 1;
                released.push(h.detection);
            }
        }
        released
    }

    /// Links the held detection at `index` to every later-held one of the other side
    /// with the same target key, within the window, where A is not contradicted.
    /// Pairing waits until a detection leaves (the end of the scan, or the bound), so
    /// that addresses learned meanwhile ([`Linker::learn_address`]) count.
    fn link(&mut self, index: usize) {
        let Some(Some(me)) = self.held.get(index) else {
            return;
        };
        let Some(at) = me.at else {
            return;
        };
        let side = me.side;
        let my_seq = self.first_seq + index as u64;
        // The other side's held detections of this target, after this one.
        let candidates: Vec<u64> = match self.by_target[side.other().index()].get(&me.target_key) {
            Some(list) => list.iter().copied().filter(|&s| s > my_seq).collect(),
            None => return,
        };
        for other_seq in candidates {
            let Some(other) = other_seq
                .checked_sub(self.first_seq)
                .and_then(|i| usize::try_from(i).ok())
            else {
                continue;
            };
            let (Some(Some(me)), Some(Some(held))) = (self.held.get(index), self.held.get(other))
            else {
                continue;
            };
            let Some(held_at) = held.at.filter(|t| t.abs_diff(at) <= self.window_ms) else {
                continue;
            };
            let (source, target) = match side {
                Side::Source => (&me.detection, &held.detection),
                Side::Target => (&held.detection, &me.detection),
            };
            let Some(how) = self.confirm(source, target) else {
                continue;
            };
            let (source_host, target_host) = (source.dest.clone(), target.dest.clone());
            let (source_seen, target_seen) = (seen(source), seen(target));
            let (mine, theirs) = (references(&me.detection), references(&held.detection));
            if let Some(Some(held)) = self.held.get_mut(other) {
                push_linked(&mut held.detection, mine);
            }
            if let Some(Some(me)) = self.held.get_mut(index) {
                push_linked(&mut me.detection, theirs);
            }
            self.linked_pairs += 1;
            let edge = self
                .edges
                .entry((
                    source_host.to_ascii_lowercase(),
                    target_host.to_ascii_lowercase(),
                ))
                .or_insert_with(|| Edge {
                    source_host,
                    target_host,
                    count: 0,
                    first_ms: at.min(held_at),
                    last_ms: at.max(held_at),
                    source_seen: BTreeSet::new(),
                    target_seen: BTreeSet::new(),
                    how: BTreeSet::new(),
                });
            edge.count += 1;
            edge.first_ms = edge.first_ms.min(at.min(held_at));
            edge.last_ms = edge.last_ms.max(at.max(held_at));
            edge.source_seen.extend(source_seen);
            edge.target_seen.extend(target_seen);
            edge.how.insert(how);
        }
    }

    fn pop_front(&mut self) -> Option<Option<Held>> {
        let front = self.held.pop_front()?;
        if let Some(h) = &front {
            let lists = &mut self.by_target[h.side.index()];
            if let Some(seqs) = lists.get_mut(&h.target_key) {
                if seqs.front() == Some(&self.first_seq) {
                    seqs.pop_front();
                }
                if seqs.is_empty() {
                    lists.remove(&h.target_key);
                }
            }
        }
        self.first_seq += 1;
        Some(front)
    }

    /// Whether A is consistent with the target side's caller, and how it was confirmed.
    fn confirm(&self, source: &Detection, target: &Detection) -> Option<&'static str> {
        let src = text(target, "src").trim();
        if src.is_empty() || src == "-" {
            return Some("by target and time");
        }
        let a = self.hosts.key(&source.dest);
        let Some(address) = address_key(src) else {
            return (self.hosts.key(src) == a).then_some("by name");
        };
        match self.addresses.get(&address) {
            Some(hosts) if hosts.contains(&a) => Some("by address"),
            Some(_) => None,
            None => Some("by target and time"),
        }
    }

    /// Links the held detections (with every address learned so far) and releases
    /// them, in arrival order (at the end of a scan).
    pub fn finish(&mut self) -> Vec<Detection> {
        for index in 0..self.held.len() {
            self.link(index);
        }
        let mut out = Vec::with_capacity(self.held.len());
        while let Some(front) = self.pop_front() {
            if let Some(h) = front {
                out.push(h.detection);
            }
        }
        self.by_target.iter_mut().for_each(KeyMap::clear);
        out
    }

    /// The lateral-movement edges found so far, by source then target host.
    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges.values()
    }

    /// Detections released before the end because [`MAX_HELD`] were waiting: links to
    /// them found later are missing.
    pub fn released_early(&self) -> u64 {
        self.released_early
    }

    /// Pairs linked so far.
    pub fn linked_pairs(&self) -> u64 {
        self.linked_pairs
    }
}

/// An IP address in one spelling: 4624 writes IPv4 callers as `::ffff:172.18.39.5`
/// when the logon came over IPv6 sockets, Sysmon and 5156 as `172.18.39.5`. `None`
/// when `address` is not an IP.
fn address_key(address: &str) -> Option<String> {
    let ip: std::net::IpAddr = address.trim().parse().ok()?;
    Some(ip.to_canonical().to_string())
}

/// Adds `references` to the detection's `linked` field (multivalue, no repeats).
fn push_linked(d: &mut Detection, references: Vec<String>) {
    match d.fields.iter_mut().find(|(n, _)| *n == LINKED) {
        Some((_, Value::Many(list))) => {
            for r in references {
                if !list.contains(&r) {
                    list.push(r);
                }
            }
        }
        Some((_, value)) => *value = Value::Many(references),
        None => d.fields.push((LINKED, Value::Many(references))),
    }
}

/// The name of the field that lists the other end's sightings (`source:record`).
pub const LINKED: &str = "linked";

#[cfg(test)]
mod tests {
    use super::super::Sighting;
    use super::*;

    fn detection(
        side: &str,
        dest: &str,
        remote: &str,
        src: &str,
        time: &str,
        record: u64,
    ) -> Detection {
        let one = |s: &str| {
            if s.is_empty() {
                Value::Empty
            } else {
                Value::One(s.to_owned())
            }
        };
        Detection {
            sighting: Sighting {
                source: "otrf.json".into(),
                record,
                event_id: if side == "source" { "1" } else { "4698" }.into(),
                channel: if side == "source" {
                    "Microsoft-Windows-Sysmon/Operational"
                } else {
                    "Security"
                }
                .into(),
                time: time.into(),
                ..Sighting::default()
            },
            dest: dest.into(),
            user: String::new(),
            process_name: String::new(),
            process: String::new(),
            fields: vec![
                ("detection_name", one("x")),
                ("detection_side", one(side)),
                ("remote_host_normalized", one(remote)),
                ("src", one(src)),
            ],
            also_seen: Vec::new(),
        }
    }

    fn linked(d: &Detection) -> Vec<String> {
        match d.field(LINKED) {
            Some(Value::Many(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    /// OTRF schtask_create: schtasks on WORKSTATION5 `/S WORKSTATION6` at 07:00:22.191;
    /// the 4698 on WORKSTATION6.theshire.local at 07:00:22.264, after a network logon
    /// from 172.18.39.5.
    #[test]
    fn the_otrf_pair_is_linked_both_ways_and_makes_one_edge() {
        let mut l = Linker::new(DEFAULT_LINK_WINDOW, HostMatch::Short);
        let t = "2020-12-19T07:00:22.264Z";
        assert!(l
            .push(detection(
                "source",
                "WORKSTATION5.theshire.local",
                "workstation6",
                "",
                "2020-12-19T07:00:22.191Z",
                7
            ))
            .is_empty());
        assert!(l
            .push(detection(
                "target",
                "WORKSTATION6.theshire.local",
                "",
                "172.18.39.5",
                t,
                9
            ))
            .is_empty());
        let out = l.finish();
        assert_eq!(linked(&out[0]), ["otrf.json:9"]);
        assert_eq!(linked(&out[1]), ["otrf.json:7"]);
        let edges: Vec<&Edge> = l.edges().collect();
        assert_eq!(edges.len(), 1);
        assert_eq!(edges[0].count, 1);
        assert_eq!(edges[0].source_host, "WORKSTATION5.theshire.local");
        assert_eq!(edges[0].target_host, "WORKSTATION6.theshire.local");
        assert!(edges[0].how.contains("by target and time"));
        assert!(
            edges[0].source_seen.contains("Sysmon 1"),
            "{:?}",
            edges[0].source_seen
        );
        assert!(
            edges[0].target_seen.contains("Security 4698"),
            "{:?}",
            edges[0].target_seen
        );
        assert_eq!(edges[0].last_ms - edges[0].first_ms, 73);
    }

    #[test]
    fn host_keys_are_lowercase_and_short_keys_keep_addresses_whole() {
        let short = HostMatch::Short;
        assert_eq!(short.key(" \\\\WS6.Corp.Local. "), "ws6");
        assert_eq!(short.key("WS6"), "ws6");
        assert_eq!(short.key("10.0.4.21"), "10.0.4.21");
        // IPv6 in capitals is still an address: kept whole, lowercased.
        assert_eq!(short.key("FE80::1:AB"), "fe80::1:ab");
        assert_eq!(HostMatch::Exact.key("WS6.Corp.Local."), "ws6.corp.local");
        assert_eq!(short.key(""), "");
    }

    #[test]
    fn other_hosts_far_times_and_a_caller_from_elsewhere_are_not_linked() {
        let t = "2020-12-19T07:00:22.000Z";
        let cases = [
            // Another target host.
            detection("target", "WORKSTATION7", "", "", t, 2),
            // Ten minutes later.
            detection(
                "target",
                "WORKSTATION6",
                "",
                "",
                "2020-12-19T07:10:22.000Z",
                2,
            ),
            // The caller named by name is another host.
            detection("target", "WORKSTATION6", "", "WORKSTATION9", t, 2),
            // The caller's address belongs to another host.
            detection("target", "WORKSTATION6", "", "10.0.0.9", t, 2),
        ];
        for target in cases {
            let mut l = Linker::new(DEFAULT_LINK_WINDOW, HostMatch::Short);
            l.learn_address("WORKSTATION9", "10.0.0.9");
            l.push(detection(
                "source",
                "WORKSTATION5",
                "workstation6",
                "",
                t,
                1,
            ));
            l.push(target.clone());
            let out = l.finish();
            assert!(out.iter().all(|d| linked(d).is_empty()), "{target:?}");
            assert_eq!(l.edges().count(), 0);
        }
        // Exact host matching tells the short name from the FQDN.
        let mut l = Linker::new(DEFAULT_LINK_WINDOW, HostMatch::Exact);
        l.push(detection(
            "source",
            "WORKSTATION5",
            "workstation6",
            "",
            t,
            1,
        ));
        l.push(detection(
            "target",
            "WORKSTATION6.theshire.local",
            "",
            "",
            t,
            2,
        ));
        l.finish();
        assert_eq!(l.edges().count(), 0);
    }

    /// Addresses come from connection events in any file, in any order: one learned
    /// after both ends arrived still confirms (or refutes) the caller, and IPv4 written
    /// as IPv6 (`::ffff:a.b.c.d`, as 4624 may) is the same address.
    #[test]
    fn an_address_learned_after_both_ends_still_decides_the_link() {
        let t = "2020-12-19T07:00:22.000Z";
        let ends = |l: &mut Linker, caller: &str| {
            l.push(detection("target", "WORKSTATION6", "", caller, t, 2));
            l.push(detection(
                "source",
                "WORKSTATION5",
                "WORKSTATION6",
                "",
                t,
                1,
            ));
        };
        let mut l = Linker::new(DEFAULT_LINK_WINDOW, HostMatch::Short);
        ends(&mut l, "::ffff:172.18.39.5");
        l.learn_address("workstation5.theshire.local", "172.18.39.5");
        let out = l.finish();
        assert!(out.iter().all(|d| linked(d).len() == 1));
        let how: Vec<_> = l.edges().flat_map(|e| e.how.iter().copied()).collect();
        assert_eq!(how, ["by address"]);

        let mut l = Linker::new(DEFAULT_LINK_WINDOW, HostMatch::Short);
        ends(&mut l, "172.18.39.9");
        l.learn_address("WORKSTATION9", "172.18.39.9");
        let out = l.finish();
        assert!(out.iter().all(|d| linked(d).is_empty()));
        assert_eq!(l.edges().count(), 0);
    }

    #[test]
    fn a_learned_address_confirms_the_source() {
        let t = "2020-12-19T07:00:22.000Z";
        let mut l = Linker::new(DEFAULT_LINK_WINDOW, HostMatch::Short);
        l.learn_address("WORKSTATION5.theshire.local", "172.18.39.5");
        l.push(detection("target", "WORKSTATION6", "", "172.18.39.5", t, 2));
        l.push(detection(
            "source",
            "WORKSTATION5",
            "WORKSTATION6",
            "",
            t,
            1,
        ));
        l.finish();
        let edge = l.edges().next().expect("an edge");
        assert_eq!(edge.how.iter().copied().collect::<Vec<_>>(), ["by address"]);
    }

    #[test]
    fn non_linkable_detections_pass_at_once_and_at_most_max_held_wait() {
        let t = "2020-12-19T07:00:22.000Z";
        let mut l = Linker::new(DEFAULT_LINK_WINDOW, HostMatch::Short);
        let mut local = detection("source", "WS5", "", "", t, 1);
        local.fields[0].1 = Value::Empty;
        assert_eq!(l.push(local).len(), 1);
        for i in 0..MAX_HELD {
            assert!(l
                .push(detection(
                    "source",
                    "WS5",
                    &format!("h{i}"),
                    "",
                    t,
                    i as u64
                ))
                .is_empty());
        }
        let out = l.push(detection("source", "WS5", "last", "", t, 0));
        assert_eq!(out.len(), 1);
        assert_eq!(l.released_early(), 1);
        assert_eq!(l.finish().len(), MAX_HELD);
    }
}
