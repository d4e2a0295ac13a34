//! Records the crate need not even build (issue 14): runs of records that
//! [`ChunkSkips`] skips or counts without rendering ([`Verdict::unrendered`]: other
//! events, process creations counted like an exemplar) are folded, in the chunk's
//! buffer, into one record the crate
//! builds at almost no cost, so that only the chunk's other records are built,
//! rendered and read, exactly as on the full path.
//!
//! Why: the `evtx` crate's only public way to a record, `EvtxChunk::iter`, builds
//! every record's content (reads all its values, copies its template) before the
//! caller sees it; alone it costs 71 % of what `evtx_dump` spends rendering the file
//! to XML. Skipping rendering (the [`super::skip`] module) cannot go below that.
//!
//! How: the chunk's live-record walk is replicated here (evtx 0.15.1,
//! `IterRawRecords::next` without `recover_records`: from byte 512, record after
//! record, up to the free space or the chunk header's last record ID, each header read
//! by the crate's own [`EvtxRecordHeader::from_bytes_at`]). Every record is decided by
//! [`ChunkSkips::record`] before the crate sees the chunk. A run of consecutive skipped
//! records becomes one record: the first one's header gets the run's size and the last
//! one's ID (so the walk goes on, or stops, where it did), and its template instance
//! gets no values (so building it reads nothing but its template, from the crate's
//! per-pass cache). 17 bytes change per run; [`Folding::restore`] puts them back.
//!
//! When it is exact (the full path reports the same for every record): a record is
//! folded only when the crate would build it without error, and nothing the crate
//! reads for another record changes:
//! - every record of the chunk is a plain instance [`ChunkSkips`] can bound, so what
//!   each reads is known: its own bytes, and the definitions and names its instances
//!   use ([`ChunkSkips::read_ranges`]); no edited byte is in those;
//! - a folded record's values are plain scalars of the size their type has, inside
//!   the record ([`ChunkSkips::record`]), ANSI strings ASCII: the crate reads such
//!   values without error (evtx 0.15.1 `BinXmlValue::deserialize_value_type_cursor_in`);
//! - the crate is known to parse every definition a folded record uses: it was used
//!   by a record before it that is built (the crate parses a definition once per
//!   pass, by offset, so one it cannot parse fails that earlier record, and one it
//!   parsed is what the folded record would have got), or one of the same content
//!   was parsed in an earlier chunk of the scan, whose records the crate all built
//!   without error ([`ChunkSkips::last_definitions_known`]). A built record that
//!   fails, while a run is folded, sends the chunk to the full path (its bytes put
//!   back first), as does any surprise in what the crate gives;
//! - the whole chunk's bound stays within the crate's chunk budget
//!   ([`ChunkSkips::within_budget`]), so no record is refused for what others spent.
//!
//! A chunk whose records all fold is not given to the crate at all: nothing is left
//! for it to vouch for. There, nothing checks at run time what is trusted elsewhere:
//! that [`live_records`] is the crate's walk, that every definition is known to parse,
//! and that [`strings_read`] reads the string table as the crate does (each is
//! compared with the crate by `tests/scan_fast_evtx.rs`, this module's tests and the
//! `fast_path` fuzz target).
//!
//! When the records cannot all be decided (a header the crate's walk would stop or
//! resync at, an instance that is not plain), nothing is folded and the chunk is read
//! as before ([`super::FastPass`]'s record-by-record pass); when an edit would touch a
//! byte that is read, nothing is folded either.

use evtx::EvtxRecordHeader;

use super::skip::{instance, name_entry, ChunkSkips, Cursor, Verdict};

/// The chunk header's size: the first record starts here.
const CHUNK_HEADER: usize = 512;
/// A record's header: magic, size, ID, time.
const RECORD_HEADER: usize = 24;
/// The token that ends a BinXML stream (MS-EVEN6 §2.2.12).
const EOF: u8 = 0x00;

/// A record of the chunk's live-record walk.
#[derive(Debug, Clone, Copy)]
struct Walked {
    /// Where the record (its header) starts in the chunk.
    start: usize,
    /// Its size, header and trailing size copy included.
    size: u32,
    /// Its EventRecordID.
    id: u64,
}

/// What the crate's iterator gives, item by item, over the edited chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// A record of the original chunk, as [`ChunkSkips::record`] decided it, with the
    /// output bound it was charged.
    Kept { verdict: Verdict, bound: u64 },
    /// `records` unrendered records folded into one (their verdicts are
    /// [`Folding::folded`]), which the crate gives with the
    /// last one's ID.
    Folded { records: u64, id: u64 },
}

/// The chunk's live records, as the crate's walk (without `recover_records`) finds
/// them; `None` where that walk would meet an error (and resync), which is left to
/// the crate.
fn live_records(
    data: &[u8],
    free_space_offset: u32,
    last_id: u64,
    out: &mut Vec<Walked>,
) -> Option<()> {
    out.clear();
    let live_end = (free_space_offset as usize).min(data.len());
    let mut offset = CHUNK_HEADER;
    while offset < live_end {
        let header = EvtxRecordHeader::from_bytes_at(data, offset).ok()?;
        let binxml = header.record_data_size().ok()? as usize;
        if offset.checked_add(RECORD_HEADER)?.checked_add(binxml)? > data.len() {
            return None;
        }
        out.push(Walked {
            start: offset,
            size: header.data_size,
            id: header.event_record_id,
        });
        if header.event_record_id == last_id {
            break;
        }
        offset = offset.checked_add(header.data_size as usize)?;
    }
    Some(())
}

/// The chunk header's 64 string table offsets start here (MS-EVEN6 §2.2.3).
const STRING_TABLE: usize = 128;

/// Whether the crate reads the chunk's string table without error: evtx 0.15.1
/// `StringCache::populate`, which `EvtxChunkData::parse` runs before any record is read
/// (its error makes the whole chunk unreadable). Each of the 64 offsets that is not 0
/// starts a chain of names; at each: the next name's offset (4 bytes, 0 for none), a
/// hash (2), a character count (2), the characters, and 2 bytes more (the NUL), all
/// inside the chunk, the characters up to the first NUL UTF-16 with no lone surrogate.
/// A chain ends at offset 0 or at a name read before. `seen`: scratch, one bit per
/// chunk offset, left all clear; `read`: scratch.
fn strings_read(data: &[u8], seen: &mut Vec<u64>, read: &mut Vec<usize>) -> bool {
    if seen.len() <= data.len() / 64 {
        seen.resize(data.len() / 64 + 1, 0);
    }
    read.clear();
    let bit = |at: usize| (at / 64, 1u64 << (at % 64));
    let is_seen = |seen: &[u64], at: usize| {
        let (word, mask) = bit(at);
        seen.get(word).is_some_and(|w| w & mask != 0)
    };
    let mut table = Cursor::at(data, STRING_TABLE);
    let mut ok = true;
    'table: for _ in 0..64 {
        let Some(mut at) = table.u32().map(|o| o as usize) else {
            ok = false;
            break;
        };
        if at == 0 {
            continue;
        }
        loop {
            let Some((next, text)) = name_entry(data, at) else {
                ok = false;
                break 'table;
            };
            let units = text
                .as_chunks::<2>()
                .0
                .iter()
                .map(|&u| u16::from_le_bytes(u))
                .take_while(|&u| u != 0);
            if char::decode_utf16(units).any(|c| c.is_err()) {
                ok = false;
                break 'table;
            }
            let (word, mask) = bit(at);
            if let Some(w) = seen.get_mut(word) {
                *w |= mask;
                read.push(word);
            }
            let next = next as usize;
            if next == 0 || is_seen(seen, next) {
                break;
            }
            if next > data.len() {
                ok = false;
                break 'table;
            }
            at = next;
        }
    }
    for &word in read.iter() {
        if let Some(w) = seen.get_mut(word) {
            *w = 0;
        }
    }
    ok
}

/// The folding of one chunk pass: its scratch, kept between chunks.
#[derive(Default)]
pub(super) struct Folding {
    walked: Vec<Walked>,
    /// Definitions used by a record of this pass that the crate builds.
    built: Vec<u32>,
    /// Each fold: the index in `walked` of its first and last record.
    folds: Vec<(usize, usize)>,
    /// The bytes the folds replaced: where, how many, and what they were.
    saved: Vec<(usize, usize, [u8; 12])>,
    /// The verdicts of the folded records, in order ([`Folding::folded`]).
    folded: Vec<Verdict>,
    /// Scratch of [`strings_read`].
    seen: Vec<u64>,
    read: Vec<usize>,
    /// The byte ranges the pass reads definitions and names from (scratch of
    /// [`Folding::edit`]).
    ranges: Vec<std::ops::Range<usize>>,
}

impl Folding {
    /// Decides every record of the chunk `data` (with `skips`, fresh for this pass)
    /// and folds the runs of skipped records in `data`; [`Folding::restore`] puts the
    /// bytes back before the chunk is read again in full. Fills `steps` with what the
    /// crate's iterator will give over the (edited) chunk. `false` (and `data`
    /// untouched, `skips` reset) when the records cannot all be decided here: the
    /// chunk is then read as before.
    pub(super) fn fold(
        &mut self,
        data: &mut [u8],
        free_space_offset: u32,
        last_id: u64,
        skips: &mut ChunkSkips,
        steps: &mut Vec<Step>,
    ) -> bool {
        steps.clear();
        self.built.clear();
        self.folds.clear();
        self.saved.clear();
        self.folded.clear();
        skips.reset();
        let planned = self.plan(data, free_space_offset, last_id, skips, steps);
        if !planned || !self.edit(data, skips) {
            skips.reset();
            steps.clear();
            return false;
        }
        true
    }

    /// Whether the crate reads the string table of the chunk `data` without error
    /// ([`strings_read`]): then a chunk whose records are all folded need not be
    /// given to the crate at all.
    pub(super) fn strings_read(&mut self, data: &[u8]) -> bool {
        strings_read(data, &mut self.seen, &mut self.read)
    }

    /// The definitions (offsets) used by the records the crate builds in the pass
    /// last planned ([`ChunkSkips::prove`] keeps them once all were built).
    pub(super) fn built(&self) -> &[u32] {
        &self.built
    }

    /// The verdicts of the records folded by the last [`Folding::fold`], in order
    /// ([`Verdict::Skip`] or [`Verdict::Count`]): a [`Step::Folded`] of `records`
    /// stands for the next `records` of them.
    pub(super) fn folded(&self) -> &[Verdict] {
        &self.folded
    }

    /// Puts back the bytes [`Folding::fold`] replaced.
    pub(super) fn restore(&self, data: &mut [u8]) {
        for &(at, n, bytes) in &self.saved {
            if let (Some(to), Some(from)) = (data.get_mut(at..at + n), bytes.get(..n)) {
                to.copy_from_slice(from);
            }
        }
    }

    /// Decides the records and plans the folds (into `steps` and `self.folds`).
    fn plan(
        &mut self,
        data: &[u8],
        free_space_offset: u32,
        last_id: u64,
        skips: &mut ChunkSkips,
        steps: &mut Vec<Step>,
    ) -> bool {
        if live_records(data, free_space_offset, last_id, &mut self.walked).is_none() {
            return false;
        }
        for (i, w) in self.walked.iter().enumerate() {
            let binxml = (w.start + RECORD_HEADER) as u64;
            let size = w.size.saturating_sub(RECORD_HEADER as u32 + 4);
            let (verdict, bound) = skips.record(data, binxml, size);
            if !skips.last_sure() {
                return false;
            }
            let folds = verdict.unrendered()
                && skips.last_ansi_is_ascii(data)
                && skips.last_definitions_known(&self.built);
            if !folds {
                for &d in skips.last_definitions() {
                    if !self.built.contains(&d) {
                        self.built.push(d);
                    }
                }
                steps.push(Step::Kept { verdict, bound });
                continue;
            }
            self.folded.push(verdict);
            match (steps.last_mut(), self.folds.last_mut()) {
                (Some(Step::Folded { records, id }), Some((_, last))) => {
                    *records += 1;
                    *id = w.id;
                    *last = i;
                }
                _ => {
                    steps.push(Step::Folded {
                        records: 1,
                        id: w.id,
                    });
                    self.folds.push((i, i));
                }
            }
        }
        skips.within_budget()
    }

    /// [`ChunkSkips::read_ranges`] into `self.ranges`, sorted by start and merged
    /// where they overlap or touch (so their ends rise too).
    fn merge_ranges(&mut self, skips: &ChunkSkips, data: &[u8]) {
        self.ranges.extend(skips.read_ranges(data));
        self.ranges.sort_unstable_by_key(|r| r.start);
        let mut merged: usize = 0;
        for i in 0..self.ranges.len() {
            let Some(r) = self.ranges.get(i).cloned() else {
                break;
            };
            match merged.checked_sub(1).and_then(|m| self.ranges.get_mut(m)) {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => {
                    if let Some(slot) = self.ranges.get_mut(merged) {
                        *slot = r;
                    }
                    merged += 1;
                }
            }
        }
        self.ranges.truncate(merged);
    }

    /// Edits `data` for the planned folds (none: nothing to do); `false` (nothing
    /// edited) if an edit would touch a byte some record's definitions or names are
    /// read from.
    fn edit(&mut self, data: &mut [u8], skips: &ChunkSkips) -> bool {
        // Per fold: where its first record starts, its size, its last ID, and where
        // its first record's value count is.
        let mut edits = Vec::with_capacity(self.folds.len());
        for &(first, last) in &self.folds {
            let (Some(a), Some(b)) = (self.walked.get(first), self.walked.get(last)) else {
                return false;
            };
            let Some(end) = b.start.checked_add(b.size as usize) else {
                return false;
            };
            let binxml = (a.start + RECORD_HEADER) as u64;
            let size = a.size.saturating_sub(RECORD_HEADER as u32 + 4);
            // A plain instance (decided above) with at least one value: its value count
            // is 4 bytes before its descriptors, and a descriptor follows it.
            let Some((_, values_at, _, count)) = instance(data, binxml, size) else {
                return false;
            };
            let Ok(run) = u32::try_from(end - a.start) else {
                return false;
            };
            if count == 0 || values_at < 4 {
                return false;
            }
            edits.push((a.start, run, b.id, values_at - 4));
        }
        // The ranges read: few in a real chunk, checked one by one; in a crafted one
        // (one per name reference: thousands), sorted and merged once, so that each
        // edit is checked by a binary search.
        let linear = edits.len().saturating_mul(skips.read_range_count()) <= 4096;
        self.ranges.clear();
        if !linear {
            self.merge_ranges(skips, data);
        }
        let ranges = &self.ranges;
        let touched = |at: usize, n: usize| {
            if linear {
                return skips
                    .read_ranges(data)
                    .any(|r| r.start < at + n && at < r.end);
            }
            let first_after = ranges.partition_point(|r| r.end <= at);
            ranges.get(first_after).is_some_and(|r| r.start < at + n)
        };
        if edits
            .iter()
            .any(|&(start, _, _, count_at)| touched(start + 4, 12) || touched(count_at, 5))
        {
            return false;
        }
        for (start, run, id, count_at) in edits {
            let mut header = [0u8; 12];
            header[..4].copy_from_slice(&run.to_le_bytes());
            header[4..].copy_from_slice(&id.to_le_bytes());
            let mut count = [0u8; 5];
            count[4] = EOF;
            for (at, bytes) in [(start + 4, &header[..]), (count_at, &count[..])] {
                let Some(to) = data.get_mut(at..at + bytes.len()) else {
                    continue;
                };
                let mut was = [0u8; 12];
                if let Some(was) = was.get_mut(..bytes.len()) {
                    was.copy_from_slice(to);
                }
                self.saved.push((at, bytes.len(), was));
                to.copy_from_slice(bytes);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A zeroed 64 KiB chunk with a valid header magic (the crate checks nothing
    /// else of the header without checksums) and the given string table `entries`:
    /// (offset, next offset, character count, UTF-16 units), written in order (a
    /// later one may overwrite an earlier one), and table `heads`.
    fn chunk(heads: &[u32], entries: &[(u32, u32, u16, Vec<u16>)]) -> Vec<u8> {
        let mut data = vec![0u8; super::super::CHUNK_SIZE];
        data[..8].copy_from_slice(b"ElfChnk\0");
        for (i, head) in heads.iter().take(64).enumerate() {
            let at = STRING_TABLE + 4 * i;
            data[at..at + 4].copy_from_slice(&head.to_le_bytes());
        }
        for (at, next, count, units) in entries {
            let mut bytes = next.to_le_bytes().to_vec();
            bytes.extend_from_slice(&[0, 0]);
            bytes.extend_from_slice(&count.to_le_bytes());
            bytes.extend(units.iter().flat_map(|u| u.to_le_bytes()));
            let at = *at as usize;
            let n = bytes.len().min(data.len().saturating_sub(at));
            if let Some(to) = data.get_mut(at..at + n) {
                to.copy_from_slice(&bytes[..n]);
            }
        }
        data
    }

    /// What the crate says of the chunk's string table: its parse reads nothing else.
    fn crate_reads(data: Vec<u8>) -> bool {
        let settings = std::sync::Arc::new(evtx::ParserSettings::default().num_threads(1));
        let mut chunk = evtx::EvtxChunkData::new(data, false).expect("a valid chunk header");
        chunk.parse(settings).is_ok()
    }

    fn ours(data: &[u8]) -> bool {
        strings_read(data, &mut Vec::new(), &mut Vec::new())
    }

    #[test]
    fn string_tables_the_crate_reads_or_refuses_are_read_or_refused_alike() {
        let name = |s: &str| s.encode_utf16().chain([0]).collect::<Vec<u16>>();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("no names", chunk(&[], &[])),
            (
                "a chain of two",
                chunk(
                    &[600],
                    &[(600, 700, 4, name("Data")), (700, 0, 4, name("Name"))],
                ),
            ),
            (
                "a name linking to itself",
                chunk(&[600], &[(600, 600, 1, name("A"))]),
            ),
            (
                "two names linking to each other",
                chunk(
                    &[600],
                    &[(600, 700, 1, name("A")), (700, 600, 1, name("B"))],
                ),
            ),
            ("a head past the chunk", chunk(&[70_000], &[])),
            ("a head at the chunk's end", chunk(&[65_536], &[])),
            ("a name cut by the chunk's end", chunk(&[65_530], &[])),
            (
                "a name whose NUL is past the end",
                chunk(&[65_520], &[(65_520, 0, 4, name("Dat"))]),
            ),
            (
                "a link past the chunk",
                chunk(&[600], &[(600, 90_000, 1, name("A"))]),
            ),
            (
                "a lone high surrogate",
                chunk(&[600], &[(600, 0, 2, vec![0x41, 0xd800, 0])]),
            ),
            (
                "a lone low surrogate",
                chunk(&[600], &[(600, 0, 1, vec![0xdc00, 0])]),
            ),
            (
                "a surrogate pair",
                chunk(&[600], &[(600, 0, 2, vec![0xd83d, 0xde00, 0])]),
            ),
            (
                "a lone surrogate after a NUL",
                chunk(&[600], &[(600, 0, 3, vec![0x41, 0, 0xd800, 0])]),
            ),
            ("no characters", chunk(&[600], &[(600, 0, 0, vec![0])])),
        ];
        for (what, data) in cases {
            assert_eq!(ours(&data), crate_reads(data.clone()), "{what}");
        }
    }

    fn unit() -> impl Strategy<Value = u16> {
        prop_oneof![
            Just(0u16),
            Just(0x41),
            Just(0xd800),
            Just(0xdc00),
            any::<u16>()
        ]
    }

    fn offset() -> impl Strategy<Value = u32> {
        prop_oneof![Just(0u32), 600u32..640, (65_500u32..65_545), any::<u32>(),]
    }

    /// Where a name is written: not over the chunk header.
    fn place() -> impl Strategy<Value = u32> {
        prop_oneof![600u32..640, 65_500u32..65_545, 512u32..65_536]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
            ..ProptestConfig::default()
        })]
        /// Generated string tables: heads and links at, near and past the chunk's
        /// end, overlapping names, counts past the end, NULs and surrogates.
        #[test]
        fn generated_string_tables_are_read_or_refused_as_the_crate_does(
            heads in proptest::collection::vec(offset(), 0..6),
            entries in proptest::collection::vec(
                (place(), offset(), 0u16..12, proptest::collection::vec(unit(), 0..12)),
                0..8,
            ),
        ) {
            let data = chunk(&heads, &entries);
            prop_assert_eq!(ours(&data), crate_reads(data.clone()));
        }
    }
}
