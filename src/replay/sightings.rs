//! One process creation seen by two sensors is one detection (issue 12 item 7).
//!
//! A host that runs Sysmon and audits process creation (Security 4688) logs every
//! process twice: OTRF's `schtask_create` has one remote creation as Sysmon event 1 and
//! as Security 4688, 1 ms apart. [`SightingGrouper`] folds such *sightings* into one
//! [`Detection`] that lists them all ([`Detection::sightings`]).
//!
//! Two detections are one process creation when all of these hold:
//!
//! | rule | why |
//! |---|---|
//! | same `dest`, compared case-insensitively | one host; `WS5` and `ws5` are one name |
//! | same `process` (the command line, as reported) | one command line |
//! | times within the window (default [`DEFAULT_WINDOW`], 2 s) | the sensors log the same process within milliseconds; the same command run again later is another creation |
//! | a sensor (event ID + channel) not already in the group, and a known one | one sensor logs a process once: two Sysmon 1 events are two processes, and a record naming no sensor cannot be told apart |
//! | both times readable ([`parse_time`]) | without a time the window cannot be judged: never grouped |
//! | a source-side detection (`detection_side` is not `target`) | a target-side event has no process: two task events on one host are two registrations (issue 13) |
//!
//! Memory stays flat in the input size: the grouper holds at most [`MAX_PENDING`]
//! recent detections (a bounded window, keyed by host + command line), and releases the
//! oldest in arrival order as new ones come. Sightings further apart in the stream than
//! that are not grouped. It is a separate step after the scan, so a caller that links
//! detections (both ends of a remote creation) can reuse it.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use super::{Detection, KeyMap};

/// The default window: sightings at most this far apart are grouped (issue 12 item 7:
/// "within a couple of seconds").
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(2);

/// At most this many detections wait in the grouper for a second sighting; past that
/// the oldest is released as it is.
pub const MAX_PENDING: usize = 4096;

/// Where one sensor saw a process creation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sighting {
    /// The file (and archive member, after `!`) the record came from.
    pub source: String,
    /// The record's position in its source, from 1.
    pub record: u64,
    /// The Windows event ID (`1`, `4688`), or empty when the format has none.
    pub event_id: String,
    /// The log (`Microsoft-Windows-Sysmon/Operational`, `Security`), or empty.
    pub channel: String,
    /// The event's own record number in its log (`EventRecordID`), or empty when the
    /// format does not carry one (OTRF's JSON does not).
    pub event_record_id: String,
    /// The event's time, as written in the record.
    pub time: String,
}

impl Sighting {
    /// The sensor: event ID and channel, lowercased; `None` when the record names neither.
    fn sensor(&self) -> Option<(String, String)> {
        if self.event_id.is_empty() && self.channel.is_empty() {
            return None;
        }
        Some((
            self.event_id.to_ascii_lowercase(),
            self.channel.to_ascii_lowercase(),
        ))
    }
}

struct Pending {
    detection: Detection,
    /// Where it is indexed, when it can take another sighting (it has a time and every
    /// sighting names its sensor).
    group: Option<Group>,
}

/// A waiting detection's place in [`SightingGrouper::by_key`], computed once when it
/// arrives (the printer's thread runs this for every detection: each key and sensor
/// built again cost an allocation).
struct Group {
    /// Milliseconds since the Unix epoch of its first sighting.
    at: i64,
    key: Key,
    /// The sensors that saw it, sorted.
    sensors: Sensors,
}

/// A sensor: event ID and channel, lowercased ([`Sighting::sensor`]).
type Sensor = (String, String);

/// The sensors that saw a waiting detection, sorted, without repeats.
type Sensors = Vec<Sensor>;

/// A detection's grouping key: its host, lowercased, and its command line, in one
/// string: the host's length in bytes, `:`, the host, the command line (the length
/// keeps `a` + `bc` apart from `ab` + `c`).
type Key = String;

fn key_of(d: &Detection) -> Key {
    let len = d.dest.len().to_string();
    let mut key = String::with_capacity(len.len() + 1 + d.dest.len() + d.process.len());
    key.push_str(&len);
    key.push(':');
    let host = key.len();
    key.push_str(&d.dest);
    if let Some(host) = key.get_mut(host..) {
        host.make_ascii_lowercase();
    }
    key.push_str(&d.process);
    key
}

/// Groups the sightings of one process creation; see the module documentation.
///
/// ```
/// use schtasksremote::replay::{scan_reader, ScanOptions, SightingGrouper, DEFAULT_WINDOW};
/// let mut g = SightingGrouper::new(DEFAULT_WINDOW);
/// let report = scan_reader("x", &b""[..], &ScanOptions::default());
/// let mut out = Vec::new();
/// for d in report.detections {
///     out.extend(g.push(d));
/// }
/// out.extend(g.finish());
/// assert!(out.is_empty());
/// ```
pub struct SightingGrouper {
    window_ms: u64,
    /// Waiting detections, oldest first; the front one is number `first_seq`.
    pending: VecDeque<Pending>,
    first_seq: u64,
    /// The waiting detections that can take another sighting, by key, then by the
    /// sensors that saw them, as (time in ms, number): a new sighting looks only at the
    /// groups its sensor is missing from, and there only within the window. (Walking
    /// every waiting detection of the key made a push cost up to 4,096 steps: 200,000
    /// detections of one host and command line a second apart took 74 s, a dataset
    /// repeated with its times unchanged 0.7 s per 300 MB.)
    by_key: KeyMap<Key, KeyMap<Sensors, BTreeSet<(i64, u64)>>>,
    merged: u64,
}

impl SightingGrouper {
    /// A grouper with this window; `Duration::ZERO` groups nothing.
    pub fn new(window: Duration) -> Self {
        SightingGrouper {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            pending: VecDeque::new(),
            first_seq: 0,
            by_key: KeyMap::default(),
            merged: 0,
        }
    }

    /// Takes one detection; returns those that are final (in arrival order). A detection
    /// that is another sighting of a waiting one is added to it and not returned.
    pub fn push(&mut self, detection: Detection) -> Vec<Detection> {
        let target_side = detection
            .field("detection_side")
            .is_some_and(|v| matches!(v, super::Value::One(s) if s == "target"));
        if self.window_ms == 0 || target_side {
            return vec![detection];
        }
        let group = match (
            parse_time(&detection.sighting.time),
            detection.sighting.sensor(),
        ) {
            (Some(at), Some(sensor)) => {
                let key = key_of(&detection);
                if let Some(seq) = self.oldest_without(&key, &sensor, at) {
                    self.add_sighting(seq, sensor, detection.sighting);
                    return Vec::new();
                }
                let group = Group {
                    at,
                    key,
                    sensors: vec![sensor],
                };
                let seq = self.first_seq + self.pending.len() as u64;
                self.index(&group, seq);
                Some(group)
            }
            _ => None,
        };
        self.pending.push_back(Pending { detection, group });
        let mut released = Vec::new();
        while self.pending.len() > MAX_PENDING {
            if let Some(p) = self.pending.pop_front() {
                if let Some(group) = &p.group {
                    self.unindex(group, self.first_seq);
                }
                self.first_seq += 1;
                released.push(p.detection);
            }
        }
        released
    }

    /// The number of the oldest waiting detection of `key` within the window of `at`
    /// that no sighting by `sensor` has joined yet.
    fn oldest_without(&self, key: &str, sensor: &Sensor, at: i64) -> Option<u64> {
        let window = i64::try_from(self.window_ms).unwrap_or(i64::MAX);
        let near = (at.saturating_sub(window), 0)..=(at.saturating_add(window), u64::MAX);
        self.by_key
            .get(key)?
            .iter()
            .filter(|(sensors, _)| !sensors.contains(sensor))
            .flat_map(|(_, waiting)| waiting.range(near.clone()).map(|&(_, seq)| seq))
            .min()
    }

    /// Adds `sighting` (by `sensor`) to waiting detection `seq`, which moves to the group
    /// of its new set of sensors.
    fn add_sighting(&mut self, seq: u64, sensor: Sensor, sighting: Sighting) {
        let Some(i) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(p) = self.pending.get_mut(i) else {
            return;
        };
        p.detection.also_seen.push(sighting);
        self.merged += 1;
        let Some(mut group) = p.group.take() else {
            return;
        };
        self.unindex(&group, seq);
        if let Err(place) = group.sensors.binary_search(&sensor) {
            group.sensors.insert(place, sensor);
        }
        self.index(&group, seq);
        if let Some(p) = self.pending.get_mut(i) {
            p.group = Some(group);
        }
    }

    /// Lists waiting detection `seq` under its group; the key and sensors are copied
    /// only for a group not met yet.
    fn index(&mut self, group: &Group, seq: u64) {
        let add = |groups: &mut KeyMap<Sensors, BTreeSet<(i64, u64)>>| {
            if let Some(waiting) = groups.get_mut(&group.sensors) {
                waiting.insert((group.at, seq));
            } else {
                groups.insert(group.sensors.clone(), BTreeSet::from([(group.at, seq)]));
            }
        };
        if let Some(groups) = self.by_key.get_mut(&group.key) {
            add(groups);
        } else {
            let mut groups = KeyMap::default();
            add(&mut groups);
            self.by_key.insert(group.key.clone(), groups);
        }
    }

    fn unindex(&mut self, group: &Group, seq: u64) {
        let Some(groups) = self.by_key.get_mut(&group.key) else {
            return;
        };
        if let Some(waiting) = groups.get_mut(&group.sensors) {
            waiting.remove(&(group.at, seq));
            if waiting.is_empty() {
                groups.remove(&group.sensors);
            }
        }
        if groups.is_empty() {
            self.by_key.remove(&group.key);
        }
    }

    /// Releases every detection still waiting (at the end of a scan).
    pub fn finish(&mut self) -> Vec<Detection> {
        self.by_key.clear();
        self.first_seq += self.pending.len() as u64;
        self.pending.drain(..).map(|p| p.detection).collect()
    }

    /// Sightings folded into an earlier detection so far (detections found minus
    /// detections released).
    pub fn merged(&self) -> u64 {
        self.merged
    }
}

/// Milliseconds since the Unix epoch of an event time as the readers give it:
/// ISO 8601 / RFC 3339 (`2020-12-19T07:00:22.190Z`, `2020-12-19 07:00:22.190`, with an
/// optional `±hh:mm` offset; no offset is UTC, as Sysmon's `UtcTime` is), Splunk's
/// classic `MM/DD/YYYY hh:mm:ss AM`, or epoch seconds or milliseconds (`_time`,
/// CrowdStrike's `timestamp`). `None` for anything else.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        // 1e11 s is the year 5138: larger values are milliseconds.
        return Some(if n >= 1e11 {
            n as i64
        } else {
            (n * 1000.0) as i64
        });
    }
    let b = s.as_bytes();
    // At most 4 digits: read by hand (`str::parse` cost more than the rest of this
    // function, which runs twice per detection on the printer's thread).
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes().try_fold(0, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    if b.get(2) == Some(&b'/') {
        // MM/DD/YYYY hh:mm:ss AM
        let (mo, d, y) = (num(0, 2)?, num(3, 2)?, num(6, 4)?);
        let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        let h = match s.get(20..22) {
            Some("PM") if h < 12 => h + 12,
            Some("AM") if h == 12 => 0,
            _ => h,
        };
        return Some(epoch_ms(y, mo, d, h, mi, sec, 0, 0));
    }
    if b.get(4) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut rest = s.get(19..)?;
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        // The first three digits, the missing ones read as 0 (`.5` is 500 ms): no
        // allocation, as this runs on the printer's thread for every detection.
        ms = frac
            .bytes()
            .take(digits.min(3))
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0, |ms, d| ms * 10 + i64::from(d - b'0'));
        rest = frac.get(digits..)?;
    }
    let offset_min = match rest.as_bytes().first() {
        None | Some(b'Z' | b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let hh: i64 = rest.get(1..3)?.parse().ok()?;
            let mm: i64 = rest
                .get(3..)
                .map(|m| m.trim_start_matches(':'))?
                .parse()
                .unwrap_or(0);
            let m = hh * 60 + mm;
            if sign == b'+' {
                m
            } else {
                -m
            }
        }
        Some(_) => return None,
    };
    Some(epoch_ms(y, mo, d, h, mi, sec, ms, offset_min))
}

/// Days from civil (Howard Hinnant's algorithm), to milliseconds, minus a UTC offset.
#[allow(clippy::too_many_arguments)]
fn epoch_ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64, offset_min: i64) -> i64 {
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + h) * 60 + mi - offset_min) * 60_000 + s * 1000 + ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(dest: &str, event_id: &str, time: &str) -> Detection {
        Detection {
            sighting: Sighting {
                source: "s".into(),
                record: 1,
                event_id: event_id.into(),
                time: time.into(),
                ..Sighting::default()
            },
            dest: dest.into(),
            user: String::new(),
            process_name: "schtasks.exe".into(),
            process: "schtasks /create /s h".into(),
            fields: Vec::new(),
            also_seen: Vec::new(),
        }
    }

    #[test]
    fn at_most_max_pending_detections_wait_oldest_released_first() {
        let mut g = SightingGrouper::new(DEFAULT_WINDOW);
        let t = "2020-12-19T07:00:22.190Z";
        for i in 0..MAX_PENDING {
            assert!(g.push(detection(&format!("h{i}"), "1", t)).is_empty());
        }
        let out = g.push(detection("last", "1", t));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dest, "h0");
        // h0 has left the window: another sensor's sighting of it stands alone (and
        // pushes h1 out); h2 is still there and takes one.
        let out = g.push(detection("h0", "4688", t));
        assert_eq!(
            out.iter().map(|d| d.dest.as_str()).collect::<Vec<_>>(),
            ["h1"]
        );
        assert!(g.push(detection("H2", "4688", t)).is_empty());
        assert_eq!(g.merged(), 1);
        let rest = g.finish();
        assert_eq!(rest.len(), MAX_PENDING);
        assert_eq!(rest[0].dest, "h2");
        assert_eq!(rest[0].also_seen.len(), 1);
    }

    /// Issue 13: a 4698 and a 4702 on one host a moment apart are two registrations.
    /// One host and command line seen by one sensor every second (a scheduled loop): a
    /// second sensor's sighting joins the oldest waiting one within the window, among
    /// thousands of the same key, and those outside the window are never candidates.
    #[test]
    fn a_sighting_joins_the_oldest_same_key_detection_within_the_window() {
        let mut g = SightingGrouper::new(DEFAULT_WINDOW);
        let time = |s: usize| {
            format!(
                "2020-12-19T{:02}:{:02}:{:02}.000Z",
                s / 3600,
                s / 60 % 60,
                s % 60
            )
        };
        let mut released = Vec::new();
        for s in 0..MAX_PENDING + 100 {
            released.extend(g.push(detection("ws5", "1", &time(s))));
        }
        assert_eq!(released.len(), 100);
        // 4688 at second 4000: the window holds seconds 3998..=4002; 3998 is oldest.
        assert!(g.push(detection("WS5", "4688", &time(4000))).is_empty());
        // Same again: 3998 has a 4688 now, so 3999 takes it.
        assert!(g.push(detection("ws5", "4688", &time(4000))).is_empty());
        let rest = g.finish();
        let seen: Vec<&str> = rest
            .iter()
            .filter(|d| !d.also_seen.is_empty())
            .map(|d| d.sighting.time.as_str())
            .collect();
        assert_eq!(seen, [time(3998), time(3999)]);
        assert_eq!(g.merged(), 2);
    }

    #[test]
    fn target_side_detections_are_never_grouped() {
        let mut g = SightingGrouper::new(DEFAULT_WINDOW);
        let t = "2020-12-19T07:00:22.190Z";
        for id in ["4698", "4702"] {
            let mut d = detection("ws6", id, t);
            d.process.clear();
            d.fields
                .push(("detection_side", super::super::Value::One("target".into())));
            assert_eq!(g.push(d).len(), 1);
        }
        assert!(g.finish().is_empty());
    }

    /// The key is one string (host, then command line): the host's length keeps a
    /// host that ends where another's command line begins apart, and the host is
    /// compared in any case, the command line exactly.
    #[test]
    fn the_key_tells_host_and_command_line_apart() {
        let t = "2020-12-19T07:00:22.190Z";
        let with = |dest: &str, process: &str, event_id: &str| {
            let mut d = detection(dest, event_id, t);
            d.process = process.into();
            d
        };
        let mut g = SightingGrouper::new(DEFAULT_WINDOW);
        assert!(g.push(with("ws5", "1schtasks /s h", "1")).is_empty());
        assert!(g.push(with("ws51", "schtasks /s h", "4688")).is_empty());
        assert!(g.push(with("ws5", "1SCHTASKS /s h", "4688")).is_empty());
        assert_eq!(g.merged(), 0);
        assert!(g.push(with("WS5", "1schtasks /s h", "4688")).is_empty());
        assert_eq!(g.merged(), 1);
        let out = g.finish();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].also_seen.len(), 1);
    }

    #[test]
    fn records_without_a_sensor_or_a_readable_time_are_never_grouped() {
        let mut g = SightingGrouper::new(DEFAULT_WINDOW);
        let t = "2020-12-19T07:00:22.190Z";
        g.push(detection("h", "", t));
        g.push(detection("h", "", t));
        g.push(detection("h", "1", "soon"));
        g.push(detection("h", "4688", "soon"));
        assert_eq!(g.finish().len(), 4);
        assert_eq!(g.merged(), 0);
    }

    #[test]
    fn event_times_in_every_rendering_are_read_to_the_millisecond() {
        // 2020-12-19T07:00:22.190Z (OTRF schtask_create's Security 4688).
        let t = 1_608_361_222_190;
        assert_eq!(parse_time("2020-12-19T07:00:22.190Z"), Some(t));
        assert_eq!(parse_time("2020-12-19 07:00:22.190"), Some(t));
        assert_eq!(parse_time("2020-12-19T07:00:22.1903456Z"), Some(t));
        assert_eq!(parse_time("2020-12-19T09:00:22.190+02:00"), Some(t));
        assert_eq!(parse_time("1608361222.190"), Some(t));
        assert_eq!(parse_time("1608361222190"), Some(t));
        assert_eq!(parse_time("12/19/2020 07:00:22 AM"), Some(t - 190));
        assert_eq!(
            parse_time("12/19/2020 07:00:22 PM"),
            Some(t - 190 + 12 * 3_600_000)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        // Fewer than three digits of a second: the missing ones are zeros.
        assert_eq!(parse_time("2020-12-19T07:00:22.5Z"), Some(t - 190 + 500));
        assert_eq!(parse_time("2020-12-19T07:00:22.05Z"), Some(t - 190 + 50));
        assert_eq!(parse_time("2020-12-19T07:00:22.Z"), Some(t - 190));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }
}
