//! One record's fields as name/value pairs, in a store that is reused from record to
//! record (one growing `String`, one growing `Vec` of spans), so that reading a record
//! allocates nothing once the store has warmed up.

use std::fmt::Write as _;
use std::ops::Range;

use super::{SourceScan, Stopped};
use crate::cim::{self, EventField, EventKind};

#[derive(Debug, Clone)]
struct Span {
    name: Range<usize>,
    value: Range<usize>,
}

/// The fields of the record being read. Names may repeat (a JSON key given twice, two
/// `<Data Name="CommandLine">`, two CSV columns of one name); lookups take the first,
/// and [`judge_every_reading`] judges the record once per value of a repeated name, so
/// that a second value cannot hide the first, nor the first the second.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    text: String,
    spans: Vec<Span>,
    /// A name written by [`Fields::begin`] whose value is still being written.
    open: Option<(Range<usize>, usize)>,
    /// Scratch for [`judge_every_reading`]: span indices sorted by name.
    order: Vec<usize>,
    /// Scratch for [`Fields::may_repeat`]: the names' hashes.
    hashes: Vec<u64>,
}

/// At most this many readings of one record (every combination of the values of its
/// repeated names) are judged; beyond, each value of each repeated name is judged
/// with the other names at their first value.
pub const MAX_READINGS: usize = 64;

/// Judges the other readings of a record already judged with its first values: one per
/// combination of the values of its repeated names (issue 15 case 10: an attacker who
/// writes `CommandLine` twice cannot choose which one is judged). A record without a
/// repeated name (nearly all) costs one sort of its field indices.
pub(crate) fn judge_every_reading(
    fields: &mut Fields,
    scan: &mut SourceScan<'_>,
    record: u64,
) -> Result<(), Stopped> {
    let groups = fields.repeated_groups();
    if groups.is_empty() {
        return Ok(());
    }
    let product = groups
        .iter()
        .try_fold(1usize, |acc, g| acc.checked_mul(g.len()))
        .filter(|&p| p <= MAX_READINGS);
    if product.is_some() {
        // Every combination (an odometer over the groups' choices), the first skipped.
        let mut choice = vec![0usize; groups.len()];
        loop {
            let mut g = 0;
            loop {
                let Some((c, group)) = choice.get_mut(g).zip(groups.get(g)) else {
                    return Ok(());
                };
                *c += 1;
                if *c < group.len() {
                    break;
                }
                *c = 0;
                g += 1;
            }
            fields.reading(&groups, &choice, scan, record)?;
        }
    }
    for (g, group) in groups.iter().enumerate() {
        for c in 1..group.len() {
            let mut choice = vec![0usize; groups.len()];
            if let Some(slot) = choice.get_mut(g) {
                *slot = c;
            }
            fields.reading(&groups, &choice, scan, record)?;
        }
    }
    Ok(())
}

impl Fields {
    /// The span indices of each name given more than once, in record order.
    fn repeated_groups(&mut self) -> Vec<Vec<usize>> {
        if !self.may_repeat() {
            return Vec::new();
        }
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(0..self.spans.len());
        let name = |i: &usize| {
            self.spans
                .get(*i)
                .and_then(|s| self.text.get(s.name.clone()))
                .unwrap_or("")
        };
        // Stable: indices of one name stay in record order.
        order.sort_by(|a, b| name(a).cmp(name(b)));
        let mut groups = Vec::new();
        for run in order.chunk_by(|a, b| name(a) == name(b)) {
            if run.len() > 1 {
                groups.push(run.to_vec());
            }
        }
        self.order = order;
        groups
    }

    /// Whether a name may be given twice: `false` is sure. The names' 64-bit hashes
    /// are sorted (integers, cheap) and compared with their neighbours; only when two
    /// are equal (a repeat, or a collision) are the names themselves sorted
    /// ([`Fields::repeated_groups`]). Nearly every record has no repeat, and this saves
    /// it a sort of its fields by name (issue 14).
    fn may_repeat(&mut self) -> bool {
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        hashes.extend(self.spans.iter().map(|span| {
            let name = self
                .text
                .as_bytes()
                .get(span.name.clone())
                .unwrap_or_default();
            // FNV-1a: the names are short.
            name.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        }));
        hashes.sort_unstable();
        let repeat = hashes.windows(2).any(|w| w.first() == w.last());
        self.hashes = hashes;
        repeat
    }

    /// Judges the reading where group `g` takes its value `choice[g]`: that span is
    /// swapped to where the group's first value was (lookups take the first), then
    /// swapped back.
    fn reading(
        &mut self,
        groups: &[Vec<usize>],
        choice: &[usize],
        scan: &mut SourceScan<'_>,
        record: u64,
    ) -> Result<(), Stopped> {
        let swaps: Vec<(usize, usize)> = groups
            .iter()
            .zip(choice)
            .filter_map(|(g, &c)| Some((*g.first()?, *g.get(c)?)))
            .filter(|(a, b)| a != b)
            .collect();
        for &(a, b) in &swaps {
            self.spans.swap(a, b);
        }
        let judged = scan.judge_again(self, record);
        for &(a, b) in swaps.iter().rev() {
            self.spans.swap(a, b);
        }
        judged
    }

    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
        self.open = None;
    }

    /// Adds a complete field.
    #[cfg(test)]
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        self.begin(name);
        self.text.push_str(value);
        self.end();
    }

    /// Starts a field whose value is then written with [`Fields::value_text`].
    pub(crate) fn begin(&mut self, name: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let name = start..self.text.len();
        self.open = Some((name, self.text.len()));
    }

    /// Starts a field whose name `write_name` appends to the given buffer.
    pub(crate) fn begin_with(&mut self, write_name: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write_name(&mut self.text);
        self.open = Some((start..self.text.len(), self.text.len()));
    }

    /// The text of the value being written (after [`Fields::begin`]).
    pub(crate) fn value_text(&mut self) -> &mut String {
        &mut self.text
    }

    /// Appends a number to the value being written.
    pub(crate) fn value_display(&mut self, v: impl std::fmt::Display) {
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{v}");
    }

    /// Ends the field started by [`Fields::begin`].
    pub(crate) fn end(&mut self) {
        if let Some((name, value_start)) = self.open.take() {
            self.spans.push(Span {
                name,
                value: value_start..self.text.len(),
            });
        }
    }

    /// Drops the field started by [`Fields::begin`] (its value was not a scalar).
    pub(crate) fn abandon(&mut self) {
        if let Some((name, _)) = self.open.take() {
            self.text.truncate(name.start);
        }
    }

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the record has no field at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans
            .iter()
            .map(|s| self.text.get(s.name.clone()).unwrap_or(""))
    }

    pub(crate) fn value(&self, i: usize) -> Option<&str> {
        let span = self.spans.get(i)?;
        self.text.get(span.value.clone())
    }

    /// The value of the first field called `name`.
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let i = self.names().position(|n| n == name)?;
        self.value(i)
    }

    /// Classifies the record from its fields so far, by name ([`cim::classify_event`]).
    /// For a reader that must decide before the whole record is read (the XML reader
    /// after `<System>`); the judge classifies through the cached field plan instead.
    pub(crate) fn event_kind(&self) -> EventKind {
        let values = |field: EventField| {
            field.names().iter().flat_map(move |wanted| {
                self.names()
                    .enumerate()
                    .filter(move |(_, n)| wanted.matches(n))
                    .filter_map(move |(i, _)| self.value(i))
            })
        };
        let says = |field: EventField, word: &str| cim::any_says(values(field), word);
        cim::classify_event(|field| values(field).next(), says)
    }
}

/// Counts a record the fast paths (issue 14) classified as `kind` from its raw bytes
/// `raw`, as the full path counts it, when the full path would read no more of it: an
/// event that is not judged, or a connection whose bytes cannot name schtasks
/// ([`cim::connection_may_matter`], the test the full path runs). Both are counted with
/// the other events. `Ok(false)`: the record must be read further.
pub(crate) fn count_unread(
    kind: Option<EventKind>,
    raw: &[u8],
    fields: &mut Fields,
    scan: &mut SourceScan<'_>,
    record: u64,
) -> Result<bool, Stopped> {
    let unread = is_unread(kind, raw);
    if unread {
        count_other(fields, scan, record)?;
    }
    Ok(unread)
}

/// Whether the full path reads no more of a record the fast paths classified as
/// `kind` from its raw bytes `raw` ([`count_unread`]).
pub(crate) fn is_unread(kind: Option<EventKind>, raw: &[u8]) -> bool {
    match kind {
        Some(EventKind::Other) => true,
        Some(EventKind::Connection) => !cim::connection_may_matter(raw),
        _ => false,
    }
}

/// Counts a record [`is_unread`] says the full path reads no further, as it counts it.
pub(crate) fn count_other(
    fields: &mut Fields,
    scan: &mut SourceScan<'_>,
    record: u64,
) -> Result<(), Stopped> {
    // The fast paths give a kind only to a record without a repeated event-type name:
    // one reading, as the full path would judge.
    fields.clear();
    scan.judge_as(EventKind::Other, fields, record)
}

/// The first byte of `b` that is one of `set`, eight bytes at a time (SWAR: a zero
/// byte of `word ^ pattern` is a match, and the lowest one flagged is exact). For the
/// fast paths' short searches (a tag's end, a string's end), where a SIMD search's
/// setup costs more than it saves.
pub(crate) fn find_any_of<const N: usize>(b: &[u8], set: [u8; N]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let hits = set
            .iter()
            .fold(0, |acc, &c| acc | zero_byte(word ^ (ONES * u64::from(c))));
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|c| set.contains(c))
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_field_leaves_no_trace() {
        let mut f = Fields::default();
        f.push("a", "1");
        f.begin("nested");
        f.abandon();
        f.begin("b");
        f.value_display(42);
        f.end();
        assert_eq!(f.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(f.get("b"), Some("42"));
    }

    /// Every layout of up to three names from `a`, `b`, `ab` and `` read one after
    /// another through one `Fields`, as a reader does (its scratch kept from the record
    /// before): the repeated names are found exactly.
    #[test]
    fn repeats_are_found_whatever_layout_came_before() {
        let names = ["a", "b", "ab", ""];
        let mut layouts: Vec<Vec<&str>> = vec![vec![]];
        for len in 1..=3u32 {
            for n in 0..names.len().pow(len) {
                let layout = (0..len)
                    .map(|i| names[n / names.len().pow(i) % names.len()])
                    .collect();
                layouts.push(layout);
            }
        }
        let mut f = Fields::default();
        // Each layout after every other, and after itself.
        for first in &layouts {
            for second in &layouts {
                for layout in [first, second, second] {
                    f.clear();
                    for name in layout {
                        f.push(name, "v");
                    }
                    let mut sorted = layout.clone();
                    sorted.sort_unstable();
                    let repeats = sorted.windows(2).any(|w| w[0] == w[1]);
                    assert_eq!(
                        !f.repeated_groups().is_empty(),
                        repeats,
                        "{layout:?} after {first:?}"
                    );
                }
            }
        }
    }
}
