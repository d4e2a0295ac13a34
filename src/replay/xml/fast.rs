//! The XML reader's fast path (issue 14): frames a record and reads its `<System>` part
//! from the raw bytes with a few SIMD searches, when the bytes leave no doubt about
//! what the full path ([`super::Framer`]'s lexer, then quick-xml in
//! [`super::read_record`]) would make of them. Anything unusual gives `None`, and the
//! full path reads that record: exact, never a guess.
//!
//! Framing. From a clean top-level state (between records), the lexer sends every `<`
//! it meets to markup. When the bytes from a `<Event …>` to the first `</Event>` after
//! it hold no `<!` (comment, CDATA, declaration), no `<?` and no other `<Event`, every
//! `<` in between is an ordinary tag to the lexer, whatever quotes surround it (a `<`
//! ends even a damaged tag), so the record is exactly `<Event` .. `</Event>`. The tags
//! named `Event` (a record's start and end, and what would break its framing), `<!`
//! and `<?` are looked for once per stretch of the window, at each `E`, `!` and `?` of
//! its 64-byte blocks ([`EventTags`]).
//!
//! `<System>`. When it is the record's first child, holds no `&`, no nested element and
//! no malformed attribute on the elements whose attributes are fields, and its names
//! have no prefix, its fields are its texts and those attributes as written, so the
//! kind [`crate::cim::classify_event`] gives them is the kind the full path gives. The
//! classifier's lookups are resolved once per layout (the sequence of field names,
//! the same for nearly every record of a log) and cached, and the kind it gave is kept
//! by layout and the values it reads ([`Kinds`]).
//!
//! Process creations. Only one whose image may be schtasks.exe is mapped and analysed
//! by the judge; for the others (nearly all) it counts the process event and asks
//! whether a command line or an image is missing. [`Fast::missing`] answers both from
//! the raw `<Data>` texts (which are blank, which may name schtasks.exe), without
//! storing the fields, and leaves the rest to [`Fast::read_rest`] and the judge. The
//! plan's answers are kept with the questions it asked ([`Asked`]).
//!
//! Templates. Consecutive records of a log share their markup and differ in their
//! values. A part read in full leaves its markup with the values cut out
//! ([`Markup`]); the next record whose part is that markup around other values (each
//! free of what would end it early) is read by comparing the markup and finding where
//! each value ends, which gives what the full reading would ([`Template`] for
//! `<System>`, [`DataTemplate`] for what follows it in a process creation). A
//! `<System>` part is compared with the last one read through its template, most of
//! its values being the same ([`Template::read_like_last`]); the `<Data>` texts end at
//! the `<` of one mask pass over the part ([`lt_masks`]).

use std::ops::{ControlFlow, Range};

use memchr::memmem;

use crate::cim::{self, EventField, EventKind, FieldPlan, Missing};
use crate::replay::fields::{find_any_of, is_unread, Fields};

/// A tag named `Event` as the lexer ([`super::Framer`]) tells them apart, by the byte
/// after the name, or the start of what the lexer reads otherwise than a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventTag {
    /// `<Event` followed by a blank, `>` or `/`: a record starts (or an empty one is).
    Start,
    /// `</Event>`: a record ends.
    End,
    /// `</Event` followed by a blank or `/`: an end tag the lexer reads otherwise.
    OddEnd,
    /// `<!` or `<?`: a comment, CDATA, a declaration, a processing instruction.
    Opener,
}

/// Every tag named `Event` of the stream, and every `<!` and `<?`, in order, found a
/// stretch of the window at a time by looking at each `E`, `!` and `?` of its 64-byte
/// blocks (issue 14: one pass for a record's start, its end and what would make its
/// framing unsure, where three substring searches ran per record; round 4 added the
/// openers, which had a search of their own). `<EventID>`, `<EventData>` and the like
/// are met and dropped.
struct EventTags {
    /// The tags whose `Event` starts in `from..scanned`: where their `<` is.
    tags: Vec<(u64, EventTag)>,
    /// The first of `tags` a query may still want: none before the last query's
    /// `asked`.
    next: usize,
    asked: u64,
    from: u64,
    scanned: u64,
    /// The processor has AVX2: blocks are read 32 bytes at a time.
    #[cfg(target_arch = "x86_64")]
    avx2: bool,
}

/// How much of the window [`EventTags`] reads at a time: a few dozen records, so that
/// its list stays short.
const TAGS_STRETCH: usize = 64 << 10;

impl EventTags {
    fn new() -> Self {
        EventTags {
            tags: Vec::new(),
            next: 0,
            asked: 0,
            from: u64::MAX,
            scanned: u64::MAX,
            #[cfg(target_arch = "x86_64")]
            avx2: std::arch::is_x86_feature_detected!("avx2"),
        }
    }

    /// The first tag named `Event` (or opener) whose `<` is at or after `at`, with where that `<`
    /// is; `None` when the window (the stream from offset `base`) holds none whose next
    /// byte it holds too.
    fn first_from(&mut self, window: &[u8], base: u64, at: u64) -> Option<(u64, EventTag)> {
        // A `<` at `at` has its `Event` at `at + 1` or `at + 2`.
        if at < self.asked || !(self.from..=self.scanned).contains(&(at + 1)) {
            self.tags.clear();
            self.next = 0;
            self.from = at + 1;
            self.scanned = at + 1;
        }
        self.asked = at;
        loop {
            while let Some(&(lt, tag)) = self.tags.get(self.next) {
                if lt >= at {
                    return Some((lt, tag));
                }
                self.next += 1;
            }
            self.scan(window, base)?;
        }
    }

    /// Reads the next stretch of the window, from `scanned`. `None` when nothing is
    /// left to read: a `Event` is read only with the byte after it.
    fn scan(&mut self, window: &[u8], base: u64) -> Option<()> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where the processor reports AVX2
            // (`EventTags::new`).
            return unsafe { self.scan_avx2(window, base) };
        }
        self.scan_with(window, base, key_bytes)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn scan_avx2(&mut self, window: &[u8], base: u64) -> Option<()> {
        self.scan_with(window, base, |block, next| key_bytes_avx2(block, next))
    }

    /// [`EventTags::scan`] with `keys` (one of [`key_bytes`], [`key_bytes_avx2`]) on
    /// blocks of `B` bytes, inlined into each caller so that it is compiled with the
    /// caller's features.
    #[inline(always)]
    fn scan_with<const B: usize>(
        &mut self,
        window: &[u8],
        base: u64,
        keys: impl Fn(&[u8; B], &[u8; B]) -> u64,
    ) -> Option<()> {
        const NAME: usize = b"Event".len();
        let from = usize::try_from(self.scanned.checked_sub(base)?).ok()?;
        let to = window.len().min(from.saturating_add(TAGS_STRETCH));
        let done = to.checked_sub(NAME).filter(|&done| done > from)?;
        self.tags.clear();
        self.next = 0;
        // Every `Ev`, `!` and `?` of a block at once (a byte search stops at each, and
        // a record holds a dozen): then only those after `<` or followed by `ent` are
        // looked at. A block is read with the block one byte on (the window holds the
        // name's next byte beyond `done`).
        let mut blocks = window.get(from..done)?.chunks_exact(B);
        let nexts = window.get(from + 1..done + 1)?.chunks_exact(B);
        let mut block = from;
        for (bytes, next) in blocks.by_ref().zip(nexts) {
            let mask = match (<&[u8; B]>::try_from(bytes), <&[u8; B]>::try_from(next)) {
                (Ok(bytes), Ok(next)) => keys(bytes, next),
                _ => 0,
            };
            if mask != 0 {
                self.push_tags(window, base, block, mask);
            }
            block += B;
        }
        // The stretch's last bytes: what lies beyond is none of them.
        let (mut bytes, mut next) = ([0; B], [0; B]);
        let rest = blocks.remainder();
        bytes.iter_mut().zip(rest).for_each(|(b, t)| *b = *t);
        let shifted = window
            .get(block + 1..block + 1 + rest.len())
            .unwrap_or_default();
        next.iter_mut().zip(shifted).for_each(|(b, t)| *b = *t);
        self.push_tags(window, base, block, keys(&bytes, &next));
        self.scanned = base + done as u64;
        Some(())
    }

    /// Adds the tags of the bytes at `block` whose bit `mask` sets (bit `i` for byte
    /// `block + i`): each `E` (of `Ev`) that starts a tag named `Event`, each `!` or
    /// `?` after `<`.
    fn push_tags(&mut self, window: &[u8], base: u64, block: usize, mut mask: u64) {
        while mask != 0 {
            let at = block + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let tag = match window.get(at) {
                Some(b'E') => event_tag(window, at),
                _ => at
                    .checked_sub(1)
                    .filter(|&lt| window.get(lt) == Some(&b'<'))
                    .map(|lt| (lt, EventTag::Opener)),
            };
            if let Some((lt, tag)) = tag {
                self.tags.push((base + lt as u64, tag));
            }
        }
    }
}

/// The tag named `Event` whose name starts at `e` in `window` (which holds the byte
/// after the name), with where its `<` is; `None` for any other `E`.
fn event_tag(window: &[u8], e: usize) -> Option<(usize, EventTag)> {
    if window.get(e + 1..e + 5)? != b"vent" {
        return None;
    }
    let after = *window.get(e + 5)?;
    let before = |n: usize| e.checked_sub(n).and_then(|b| window.get(b)).copied();
    match (before(2), before(1)) {
        (_, Some(b'<')) if ends_name(after) => Some((e - 1, EventTag::Start)),
        (Some(b'<'), Some(b'/')) if after == b'>' => Some((e - 2, EventTag::End)),
        (Some(b'<'), Some(b'/')) if is_blank(after) || after == b'/' => {
            Some((e - 2, EventTag::OddEnd))
        }
        _ => None,
    }
}

/// Bit `i` set for each byte `block[i]` that [`EventTags`] looks at: an `E` that
/// `next[i]` (the byte after it) says is followed by `v`, a `!`, a `?`. SSE2, which
/// every x86-64 processor has, 16 bytes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn key_bytes(block: &[u8; 16], next: &[u8; 16]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the build configuration (the cfg above); `block` and
    // `next` are 16 bytes, the load's width, and the loads need no alignment.
    let keys = unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        let after = _mm_loadu_si128(next.as_ptr().cast::<__m128i>());
        let e = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'E' as i8));
        let v = _mm_cmpeq_epi8(after, _mm_set1_epi8(b'v' as i8));
        let bang = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'!' as i8));
        let question = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'?' as i8));
        let ev = _mm_and_si128(e, v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(ev, bang), question))
    };
    u64::from(keys as u16)
}

/// [`key_bytes`] 32 bytes at a time, for processors with AVX2. (One block's mask
/// only: LLVM read a `u64` made of two such masks as 64 flags and took them apart one
/// by one, 300 instructions a 64-byte block.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn key_bytes_avx2(block: &[u8; 32], next: &[u8; 32]) -> u64 {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };
    // SAFETY: `block` and `next` are 32 bytes, the load's width; the loads need no
    // alignment.
    let (bytes, after) = unsafe {
        (
            _mm256_loadu_si256(block.as_ptr().cast::<__m256i>()),
            _mm256_loadu_si256(next.as_ptr().cast::<__m256i>()),
        )
    };
    let e = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi8(b'E' as i8));
    let v = _mm256_cmpeq_epi8(after, _mm256_set1_epi8(b'v' as i8));
    let bang = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi8(b'!' as i8));
    let question = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi8(b'?' as i8));
    let keys = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(e, v), bang), question);
    u64::from(_mm256_movemask_epi8(keys) as u32)
}

/// [`key_bytes`] a byte at a time, for other processors (and the tests' reference).
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn key_bytes_plain<const B: usize>(block: &[u8; B], next: &[u8; B]) -> u64 {
    block
        .iter()
        .zip(next)
        .enumerate()
        .fold(0, |m, (i, (&b, &n))| {
            let key = (b == b'E' && n == b'v') || b == b'!' || b == b'?';
            m | (u64::from(key) << i)
        })
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn key_bytes(block: &[u8; 64], next: &[u8; 64]) -> u64 {
    key_bytes_plain(block, next)
}

/// The first byte of `hay` that is one of `set` (what ends a value: its quote, `<`,
/// `&`). SSE2, 16 bytes at a time, where it has them: values are short and many (a
/// record's template reads about 35), so a search that needs no setup nor call pays
/// (issue 14, round 4; `memchr` and [`find_any_of`] cost two to four times more here).
#[inline]
fn find_stop<const N: usize>(hay: &[u8], set: [u8; N]) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8, _mm_setzero_si128,
        };
        let mut at = 0;
        while let Some(chunk) = hay.get(at..at + 16) {
            // SAFETY: SSE2 is part of the build configuration (the cfg above); `chunk`
            // is 16 bytes, the load's width, and the load needs no alignment.
            let hits = unsafe {
                let bytes = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let equal = set.iter().fold(_mm_setzero_si128(), |acc, &c| {
                    _mm_or_si128(acc, _mm_cmpeq_epi8(bytes, _mm_set1_epi8(c as i8)))
                });
                _mm_movemask_epi8(equal)
            };
            if hits != 0 {
                return Some(at + hits.trailing_zeros() as usize);
            }
            at += 16;
        }
        find_any_of(hay.get(at..)?, set).map(|i| at + i)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    find_any_of(hay, set)
}

/// Whether `a` and `b` hold the same bytes: a template's markup against a record's,
/// pieces of a few to a few dozen bytes, compared inline in a few loads (`==` calls
/// `memcmp`, whose call costs more than the comparison; issue 14, round 4).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => same_ends::<4>(a, b),
        8..16 => same_ends::<8>(a, b),
        _ => {
            let (mut a, mut b) = (a, b);
            while a.len() > 32 {
                let (Some((head_a, tail_a)), Some((head_b, tail_b))) =
                    (a.split_at_checked(16), b.split_at_checked(16))
                else {
                    return false;
                };
                if !same_ends::<16>(head_a, head_b) {
                    return false;
                }
                (a, b) = (tail_a, tail_b);
            }
            same_ends::<16>(a, b)
        }
    }
}

/// How many bytes `a` and `b` share at their start: SSE2, 16 at a time, where it has
/// them ([`equal_blocks`]).
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let at = match equal_blocks(a, b) {
        ControlFlow::Break(differs_at) => return differs_at,
        ControlFlow::Continue(at) => at,
    };
    at + a
        .get(at..n)
        .unwrap_or_default()
        .iter()
        .zip(b.get(at..n).unwrap_or_default())
        .take_while(|(x, y)| x == y)
        .count()
}

/// The whole 16-byte blocks `a` and `b` share at their start: `Break(i)` at the first
/// byte that differs in a block both have, `Continue(n)` when their first `n` bytes
/// are equal and one has no whole block after them (the rest is compared byte by byte).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn equal_blocks(a: &[u8], b: &[u8]) -> ControlFlow<usize, usize> {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8};
    let mut at = 0;
    while let (Some(x), Some(y)) = (a.get(at..at + 16), b.get(at..at + 16)) {
        // SAFETY: SSE2 is part of the build configuration (the cfg above); `x` and `y`
        // are 16 bytes, the load's width, and the loads need no alignment.
        let equal = unsafe {
            let x = _mm_loadu_si128(x.as_ptr().cast::<__m128i>());
            let y = _mm_loadu_si128(y.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) as u32
        };
        if equal != 0xffff {
            return ControlFlow::Break(at + (!equal).trailing_zeros() as usize);
        }
        at += 16;
    }
    ControlFlow::Continue(at)
}

/// [`equal_blocks`] without SSE2: everything is compared byte by byte.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn equal_blocks(_a: &[u8], _b: &[u8]) -> ControlFlow<usize, usize> {
    ControlFlow::Continue(0)
}

/// Whether `a` and `b`, of one length from `W` to `2 * W`, are equal: a load of `W`
/// bytes at their start and one at their end (which overlap when they are shorter
/// than `2 * W`).
#[inline]
fn same_ends<const W: usize>(a: &[u8], b: &[u8]) -> bool {
    let word = |s: &[u8], at: usize| -> Option<[u8; W]> { s.get(at..)?.get(..W)?.try_into().ok() };
    let last = a.len().saturating_sub(W);
    word(a, 0) == word(b, 0) && word(a, last) == word(b, last)
}

/// The fast path's state, kept from record to record.
pub(super) struct Fast {
    event_tags: EventTags,
    system_end: memmem::Finder<'static>,
    /// Scratch of [`Fast::read_system`]: the fields of the `<System>` part it reads,
    /// name and value (a range of the part), from which its template is built.
    spans: Vec<(FieldName, Range<usize>)>,
    /// Where the `<System>` part read last is in its record (between its tags).
    system: Range<usize>,
    /// Scratch of [`Fast::read_system`]: every value of the part (an attribute's, with
    /// its quote, or an element's text), in order.
    slots: Vec<(Range<usize>, Option<u8>)>,
    /// The values of the `<System>` part read last (ranges of the part), in the slot
    /// order of its template, the first of [`Fast::templates`]: its fields are
    /// [`Template::field`] of these.
    values_at: Vec<Range<usize>>,
    /// Where the texts of the record's `<Data>` are in what follows `<System>`
    /// ([`Fast::rest_of`]), in the order of the first of [`Fast::data`], when
    /// `data_read`: [`Fast::missing`] read them through it ([`Fast::read_rest`] then
    /// takes the names from it and walks nothing again).
    data_at: Vec<Range<usize>>,
    data_read: bool,
    /// The markups of the `<System>` parts read in full lately, the last used first.
    templates: Vec<Template>,
    /// The last start tag [`tag_end`] read that is not empty, `<Event` to `>`.
    start_tag: Vec<u8>,
    /// How many layouts were built: the last one's [`Layout::id`].
    layouts_built: u64,
    /// The markups after `<System>` of the process creations [`Fast::missing`] read
    /// lately, the last used first.
    data: Vec<DataTemplate>,
    /// The layouts of `<System>` met lately, the last used first: a log mixes a few
    /// (Sysmon's, Security's, another export's), record after record.
    layouts: Vec<Layout>,
    /// The field plans of the whole layouts (`<System>` and `<EventData>` names) met
    /// lately, the last used first ([`Fast::missing`]).
    plans: Vec<Plan>,
    /// Scratch of [`Fast::missing`]: the record's layout key ([`Plan::key`]).
    key: Vec<u8>,
    kinds: Kinds,
    /// Scratch of [`Fast::read_values`]: where the `<` of what follows `<System>` are
    /// ([`lt_masks`]).
    lt_masks: Vec<u64>,
}

/// A field plan for the records of one layout ([`Fast::missing`]).
struct Plan {
    /// The field names in order, each after its length (one byte).
    key: Vec<u8>,
    /// `None`: the layout is left to the judge.
    plan: Option<FieldPlan>,
    /// A name is given twice.
    repeated: bool,
}

/// What [`Fast::missing`] needs of a value, `raw` (its text as written), as the full
/// path writes it (entities resolved): whether it is blank (ASCII blanks only, as
/// [`FieldPlan::missing`] trims). Resolved only when its first byte that is not blank
/// is an `&`: any other byte is written as it is (one that is not UTF-8 as U+FFFD),
/// so the value is not blank (issue 14, round 4: a command line holding `&quot;` was
/// resolved in full to learn that).
fn blank_value(raw: &[u8]) -> bool {
    match raw.trim_ascii_start().first() {
        None => true,
        Some(&b) if b != b'&' => false,
        Some(_) => resolved(raw).trim_ascii().is_empty(),
    }
}

/// Whether a value, `raw` as written, may name schtasks.exe
/// ([`crate::detection::may_name_schtasks`]) as the full path writes it.
fn may_name_value(raw: &[u8]) -> bool {
    match find_stop(raw, [b'&']) {
        None => crate::detection::may_name_schtasks(raw),
        Some(_) => crate::detection::may_name_schtasks(resolved(raw).as_bytes()),
    }
}

/// `raw` as the full path writes it: entities resolved, bad UTF-8 replaced.
fn resolved(raw: &[u8]) -> String {
    let mut text = String::new();
    super::unescape_into(raw, &mut text);
    text
}

/// A value that [`crate::detection::may_name_schtasks`] accepts.
const SCHTASKS: &[u8] = b"schtasks.exe";

/// At most this many layouts of `<System>`, and this many field plans and templates of
/// each kind, are kept.
const MAX_LAYOUTS: usize = 16;

/// What the fast path keeps of a record (a layout's names, a template's markup) is
/// smaller than this, so that what it keeps stays small whatever the records' size
/// (a `<System>` part, or what follows it in a process creation, larger than this is
/// read by the full path): 16 KiB, tens of times a real record's.
const MAX_KEPT: usize = 16 << 10;

/// Moves item `i` to the front, the others keeping their order (a list of the last
/// used first).
fn to_front<T>(list: &mut [T], i: usize) {
    if let Some(head) = list.get_mut(..=i) {
        head.rotate_right(1);
    }
}

/// A stretch of a record read once in full, its values cut out. The same markup
/// around other values, each free of what ends it (its quote and `<` for an attribute
/// value, `<` for a text), is read alike: the fast path's readings scan from left to
/// right and look inside a value only for what ends it, so they meet the same markup
/// at the same places and give the same fields with the new values.
/// [`Markup::read_values`] checks that: a few comparisons instead of a reading of every
/// tag.
struct Markup {
    /// The markup between the values, in order.
    literal: Vec<u8>,
    /// For each value, in order: where the markup before it ends in `literal`, and what
    /// ends it (its quote; `None` for a text, ended by `<`).
    slots: Vec<(usize, Option<u8>)>,
    /// Whether a value may hold `&` (`<EventData>`'s texts, whose entities the reader
    /// resolves); otherwise an `&` ends the reading (`<System>`, read without one).
    entities: bool,
    /// `entities`, and every value is a text: each ends at the first `<` after it
    /// ([`Markup::read_texts`]).
    texts_only: bool,
}

impl Markup {
    /// The markup of `body` whose values are `slots` (in order), and where each
    /// stretch of markup starts in `body`.
    fn build(
        body: &[u8],
        slots: impl Iterator<Item = (Range<usize>, Option<u8>)>,
        entities: bool,
    ) -> Option<(Markup, Vec<usize>)> {
        let mut literal = Vec::with_capacity(body.len());
        let mut ends = Vec::new();
        let mut starts = vec![0];
        let mut p = 0;
        for (value, quote) in slots {
            literal.extend_from_slice(body.get(p..value.start)?);
            ends.push((literal.len(), quote));
            p = value.end;
            starts.push(p);
        }
        literal.extend_from_slice(body.get(p..)?);
        let texts_only = entities && ends.iter().all(|(_, quote)| quote.is_none());
        let markup = Markup {
            literal,
            slots: ends,
            entities,
            texts_only,
        };
        Some((markup, starts))
    }

    /// Where each value is (into `values`) when `hay` starts with this markup around
    /// other values: the length of that start (`hay` may go on after it). Each value is
    /// read up to what ends it (its quote, `<`, and `&` unless [`Markup::entities`]),
    /// which must be what the markup after it starts with.
    fn read_values(&self, hay: &[u8], values: &mut Vec<Range<usize>>) -> Option<usize> {
        self.walk(hay, values, |p, quote| {
            let rest = hay.get(p..)?;
            let len = match (quote, self.entities) {
                (Some(q), true) => find_stop(rest, [q, b'<'])?,
                (Some(q), false) => find_stop(rest, [q, b'<', b'&'])?,
                (None, true) => find_stop(rest, [b'<'])?,
                (None, false) => find_stop(rest, [b'<', b'&'])?,
            };
            // What ended the value: its quote, or the `<` of the markup after a text.
            (*rest.get(len)? == quote.unwrap_or(b'<')).then_some(p + len)
        })
    }

    /// [`Markup::read_values`] given `masks`, the `<` of `hay` ([`lt_masks`]): for a
    /// markup whose values are all texts that may hold `&` ([`Markup::texts_only`]),
    /// each ends at the first `<` after it, found in the masks.
    fn read_texts(
        &self,
        hay: &[u8],
        masks: &[u64],
        values: &mut Vec<Range<usize>>,
    ) -> Option<usize> {
        if !self.texts_only {
            return self.read_values(hay, values);
        }
        self.walk(hay, values, |p, _| {
            // The first `<` at or after `p`.
            let mut block = p / 64;
            let mut mask = masks.get(block)? & (u64::MAX << (p % 64));
            while mask == 0 {
                block += 1;
                mask = *masks.get(block)?;
            }
            Some(block * 64 + mask.trailing_zeros() as usize)
        })
    }

    /// The walk of [`Markup::read_values`] and [`Markup::read_texts`]: each stretch of
    /// markup compared with `hay`'s, and the value after it taken up to `end(p,
    /// quote)`, where the value starting at `p` (ended by its `quote`, or `<` for a
    /// text) ends.
    #[inline(always)]
    fn walk(
        &self,
        hay: &[u8],
        values: &mut Vec<Range<usize>>,
        end: impl Fn(usize, Option<u8>) -> Option<usize>,
    ) -> Option<usize> {
        values.clear();
        let (mut p, mut from) = (0, 0);
        for &(to, quote) in &self.slots {
            let markup = self.literal.get(from..to)?;
            if !same_bytes(hay.get(p..p + markup.len())?, markup) {
                return None;
            }
            p += markup.len();
            from = to;
            let value_end = end(p, quote)?;
            values.push(p..value_end);
            p = value_end;
        }
        let markup = self.literal.get(from..)?;
        same_bytes(hay.get(p..p + markup.len())?, markup).then_some(p + markup.len())
    }
}

/// Bit `i % 64` of `masks[i / 64]` set where `hay[i]` is `<` (`masks` is cleared
/// first): for [`Markup::read_texts`], one pass over a part where a search per value
/// cost its setup twenty times (issue 14, round 4). AVX2 where the processor has it,
/// else SSE2, else a byte at a time.
fn lt_masks(hay: &[u8], masks: &mut Vec<u64>) {
    masks.clear();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor reports AVX2 (checked above).
        return unsafe { lt_masks_avx2(hay, masks) };
    }
    lt_masks_with(hay, masks, |block| {
        let mut mask = 0;
        for (i, chunk) in block.chunks_exact(16).enumerate() {
            if let Ok(chunk) = <&[u8; 16]>::try_from(chunk) {
                mask |= bytes_are(chunk, b'<') << (16 * i);
            }
        }
        mask
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lt_masks_avx2(hay: &[u8], masks: &mut Vec<u64>) {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    lt_masks_with(hay, masks, |block| {
        // SAFETY: `block` is 64 bytes, two loads of 32; they need no alignment.
        let (low, high) = unsafe {
            let lt = _mm256_set1_epi8(b'<' as i8);
            let low = _mm256_loadu_si256(block.as_ptr().cast::<__m256i>());
            let high = _mm256_loadu_si256(block.as_ptr().add(32).cast::<__m256i>());
            (
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(low, lt)),
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(high, lt)),
            )
        };
        // Opaque to the optimizer: see [`key_bytes_avx2`].
        let (low, high) = std::hint::black_box((low as u32, high as u32));
        u64::from(low) | (u64::from(high) << 32)
    })
}

/// [`lt_masks`] with `mask` (64 bytes to their mask), inlined into each caller so that
/// it is compiled with the caller's features.
#[inline(always)]
fn lt_masks_with(hay: &[u8], masks: &mut Vec<u64>, mask: impl Fn(&[u8; 64]) -> u64) {
    let mut blocks = hay.chunks_exact(64);
    masks.extend(
        blocks
            .by_ref()
            .map(|block| <&[u8; 64]>::try_from(block).map_or(0, &mask)),
    );
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut last = [0; 64];
        last.iter_mut().zip(rest).for_each(|(b, r)| *b = *r);
        masks.push(mask(&last));
    }
}

/// Bit `i` set where `chunk[i]` is `c`: SSE2, 16 bytes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn bytes_are(chunk: &[u8; 16], c: u8) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the build configuration (the cfg above); `chunk` is 16
    // bytes, the load's width, and the load needs no alignment.
    let mask = unsafe {
        let bytes = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(c as i8)))
    };
    u64::from(std::hint::black_box(mask as u16))
}

/// [`bytes_are`] a byte at a time, for other processors.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn bytes_are(chunk: &[u8; 16], c: u8) -> u64 {
    chunk
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(b == c) << i))
}

/// The markup of a `<System>` part that [`Fast::read_system`] has read ([`Markup`]),
/// and where its fields are in it. A layout may have a few (`'` or `"` around values,
/// blanks).
struct Template {
    /// The [`Layout::id`] of the part.
    layout: u64,
    markup: Markup,
    /// The last part read through it (or the one it was built from), and its values:
    /// [`Template::read_like_last`] compares the next with it.
    last: Vec<u8>,
    last_values: Vec<Range<usize>>,
    /// The fields, as [`Fast::read_system`] reads them: the name (an element's is a piece of
    /// one stretch of markup: its index, where in it and how long) and the index of
    /// the value.
    fields: Vec<(TemplateName, usize)>,
}

enum TemplateName {
    Element {
        stretch: usize,
        at: usize,
        len: usize,
    },
    Attribute(&'static str),
}

impl Template {
    /// The template of `body`, read by [`Fast::read_system`] into `spans` and `slots`.
    fn build(
        layout: u64,
        body: &[u8],
        slots: &[(Range<usize>, Option<u8>)],
        spans: &[(FieldName, Range<usize>)],
    ) -> Option<Template> {
        let (markup, starts) = Markup::build(body, slots.iter().cloned(), false)?;
        let mut fields = Vec::with_capacity(spans.len());
        for (name, value) in spans {
            let slot = slots.iter().position(|(v, _)| v == value)?;
            let name = match name {
                FieldName::Attribute(n) => TemplateName::Attribute(n),
                FieldName::Element(n) => {
                    let stretch = starts.partition_point(|&s| s <= n.start).checked_sub(1)?;
                    TemplateName::Element {
                        stretch,
                        at: n.start - starts.get(stretch)?,
                        len: n.len(),
                    }
                }
            };
            fields.push((name, slot));
        }
        Some(Template {
            layout,
            markup,
            fields,
            last: body.to_vec(),
            last_values: slots.iter().map(|(value, _)| value.clone()).collect(),
        })
    }

    /// When `hay` (a record from just after its `<System>`) starts with this markup
    /// around other values, then `</System>`: the length of the part, its values read
    /// into `values` (in slot order: [`Template::field`] gives the fields
    /// [`Fast::read_system`] would read). `None` otherwise.
    ///
    /// The part is then what [`Fast::system_kind`] would find up to the first
    /// `</System>`: none starts inside a value (it holds no `<`), nor runs from the
    /// markup into a value or across one, since the markup before a value ends with a
    /// quote or the `>` of a start tag, neither of which can be inside a `</System>`;
    /// and the markup alone was cut from a part that held none. It holds no `&`
    /// ([`Markup::entities`] is off), as the reading afresh asks.
    fn read(&mut self, hay: &[u8], values: &mut Vec<Range<usize>>) -> Option<usize> {
        let len = self.read_like_last(hay, values)?;
        if len > MAX_KEPT || !hay.get(len..)?.starts_with(b"</System>") {
            return None;
        }
        self.last.clear();
        self.last.extend_from_slice(hay.get(..len)?);
        self.last_values.clone_from(values);
        Some(len)
    }

    /// [`Markup::read_values`] of `hay`, found by comparing it with the last part read
    /// through this template ([`Template::last`]): the stretches they share are
    /// skipped 16 bytes at a time, and only a value that differs is looked at (issue
    /// 14, round 4: consecutive records share most of their `<System>` values, and the
    /// reading slot by slot cost 1,300 instructions a record).
    ///
    /// It gives what [`Markup::read_values`] gives. The last part is this markup
    /// around values that hold none of what ends a value (its quote, `<`, `&`): read
    /// so, or read afresh by [`Fast::read_system`], which takes no value holding its
    /// quote or `<`, from a part without `&`. Where `hay` equals the last part up to
    /// just past a value's end (the byte that ended it), its value there is the same
    /// bytes ended by the same byte, as the reading slot by slot would find it. Where
    /// they differ first inside a value (or at the byte that ended it), that value is
    /// read as [`Markup::read_values`] reads it, and the comparing goes on from what
    /// ended it, the start of the next stretch of markup in both. Where they differ
    /// first in the markup, with every value before read as the reading slot by slot
    /// reads it, that reading would find the same markup different: `None`, as it.
    fn read_like_last(&self, hay: &[u8], values: &mut Vec<Range<usize>>) -> Option<usize> {
        values.clear();
        let last = self.last.as_slice();
        if self.last_values.len() != self.markup.slots.len() {
            return None;
        }
        // `hay` from `q` is compared with the last part from `p` (the same place in
        // both): they first differ at `x` of the last part.
        let (mut p, mut q) = (0, 0);
        let mut x = common_prefix(last, hay);
        for (&(_, quote), was) in self.markup.slots.iter().zip(&self.last_values) {
            if x > was.end {
                // The value and what ended it are the same.
                values.push(was.start - p + q..was.end - p + q);
                continue;
            }
            if x < was.start {
                // In the markup before it.
                return None;
            }
            let at = was.start - p + q;
            let rest = hay.get(at..)?;
            let len = match quote {
                Some(q) => find_stop(rest, [q, b'<', b'&'])?,
                None => find_stop(rest, [b'<', b'&'])?,
            };
            if *rest.get(len)? != quote.unwrap_or(b'<') {
                return None;
            }
            values.push(at..at + len);
            (p, q) = (was.end, at + len);
            x = p + common_prefix(last.get(p..)?, hay.get(q..)?);
        }
        // The markup after the last value.
        (x == last.len()).then_some(q + (last.len() - p))
    }

    /// Field `i` of a part read through this template, whose values are `values`: its
    /// name and its value, where they are in the part. Built only when asked for
    /// (issue 14, round 4: building every field of every record cost 500 instructions
    /// a record, where the judge asks for two or three).
    fn field(&self, i: usize, values: &[Range<usize>]) -> Option<(FieldName, Range<usize>)> {
        let (name, slot) = self.fields.get(i)?;
        let name = match *name {
            TemplateName::Attribute(n) => FieldName::Attribute(n),
            TemplateName::Element { stretch, at, len } => {
                // A stretch of markup starts where the value before it ends.
                let start = match stretch.checked_sub(1) {
                    Some(v) => values.get(v)?.end,
                    None => 0,
                };
                FieldName::Element(start + at..start + at + len)
            }
        };
        Some((name, values.get(*slot)?.clone()))
    }

    /// The value of field `i` ([`Template::field`]).
    fn value(&self, i: usize, values: &[Range<usize>]) -> Option<Range<usize>> {
        values.get(self.fields.get(i)?.1).cloned()
    }
}

/// The markup of what follows a `<System>` part in a process creation that
/// [`Fast::missing`] has read ([`Markup`]), with what it found of its layout.
struct DataTemplate {
    /// The [`Layout::id`] of the `<System>` part before it.
    layout: u64,
    markup: Markup,
    /// For each `<Data>`, in order: its name, as the full path writes it, and the index
    /// of its text, `None` for an empty element.
    fields: Vec<(Box<str>, Option<usize>)>,
    /// The plan of the layout ([`Plan::plan`]) and whether a name repeats in it.
    plan: Option<FieldPlan>,
    repeated: bool,
    /// What the plan said of the last record read through this template, with what
    /// it asked: which values are blank ([`FieldPlan::missing`]), which may name
    /// schtasks.exe ([`FieldPlan::may_name_schtasks`]).
    missing: std::cell::RefCell<Asked<Option<Missing>>>,
    named: std::cell::RefCell<Asked<bool>>,
}

/// The answer of a question about a record that a field plan answers by asking
/// yes-or-no questions about its values (is value `i` blank, may it name
/// schtasks.exe), kept with the questions it asked and their answers (issue 14, round
/// 4: asking the plan again cost about 1,000 instructions a process creation).
///
/// Exact: the plan's answer is a function of the answers it is given, and which
/// question it asks next is a function of the answers before it (it reads nothing
/// else: [`FieldPlan::missing`] and [`FieldPlan::may_name_schtasks`] read only its
/// sources and `get`). Where every question asked last time gets the same answer
/// now, the plan would ask the same questions again and give the same answer.
#[derive(Default)]
struct Asked<T> {
    questions: Vec<(usize, bool)>,
    answer: Option<T>,
}

impl<T: Copy> Asked<T> {
    /// The answer of `run`, given `ask`'s answers to the questions it asks: the kept
    /// one when `ask` answers the kept questions as before, else `run`'s, then kept.
    fn answer(
        &mut self,
        ask: impl Fn(usize) -> bool,
        run: impl FnOnce(&dyn Fn(usize) -> bool) -> T,
    ) -> T {
        if let Some(answer) = self.answer {
            if self.questions.iter().all(|&(i, was)| ask(i) == was) {
                return answer;
            }
        }
        let mut questions = std::mem::take(&mut self.questions);
        questions.clear();
        let asked = std::cell::RefCell::new(questions);
        let answer = run(&|i| {
            let answer = ask(i);
            asked.borrow_mut().push((i, answer));
            answer
        });
        self.questions = asked.into_inner();
        self.answer = Some(answer);
        answer
    }
}

impl Default for Fast {
    fn default() -> Self {
        Fast {
            event_tags: EventTags::new(),
            system_end: memmem::Finder::new(b"</System>"),
            spans: Vec::new(),
            system: 0..0,
            slots: Vec::new(),
            values_at: Vec::new(),
            data_at: Vec::new(),
            data_read: false,
            start_tag: Vec::new(),
            layouts_built: 0,
            templates: Vec::new(),
            data: Vec::new(),
            layouts: Vec::new(),
            plans: Vec::new(),
            key: Vec::new(),
            kinds: Kinds::default(),
            lt_masks: Vec::new(),
        }
    }
}

/// A sequence of field names and, for each event-type field, the indices of the fields
/// the classifier reads for it, in its order ([`super::Fields::event_kind`]'s).
#[derive(Default)]
struct Layout {
    /// Which layout this is: a number no other layout met by this [`Fast`] has.
    id: u64,
    /// The names, each after its length (one byte): the start of a [`Plan::key`].
    names: Vec<u8>,
    lookups: Vec<(EventField, Vec<usize>)>,
    /// The indices of [`cim::CLASSIFYING_FIELDS`]' lookups, one after the other: the
    /// values the kind depends on ([`Kinds`]).
    classifying: Vec<usize>,
    /// A name given twice: the full path judges every reading of such a record.
    repeated: bool,
}

impl Layout {
    fn same<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        let mut rest = self.names.as_slice();
        for name in names.by_ref() {
            let n = name.len();
            let Some((&len, after)) = rest.split_first() else {
                return false;
            };
            if usize::from(len) != n || !after.get(..n).is_some_and(|a| eq(a, name.as_bytes())) {
                return false;
            }
            rest = after.get(n..).unwrap_or_default();
        }
        rest.is_empty()
    }

    fn build<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Layout {
        let mut layout = Layout::default();
        for name in names.clone() {
            // `read_system` takes no longer name.
            layout
                .names
                .push(u8::try_from(name.len()).unwrap_or(u8::MAX));
            layout.names.extend_from_slice(name.as_bytes());
        }
        let list: Vec<&str> = names.collect();
        layout.repeated = list
            .iter()
            .enumerate()
            .any(|(i, a)| list.iter().skip(i + 1).any(|b| a == b));
        for field in EventField::ALL {
            let mut indices = Vec::new();
            for wanted in field.names() {
                for (i, name) in list.iter().enumerate() {
                    if wanted.matches(name) {
                        indices.push(i);
                    }
                }
            }
            layout.lookups.push((field, indices));
        }
        for field in cim::CLASSIFYING_FIELDS {
            let indices = layout.indices(field).to_vec();
            layout.classifying.extend(indices);
        }
        layout
    }

    fn indices(&self, field: EventField) -> &[usize] {
        self.lookups
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, i)| i.as_slice())
            .unwrap_or_default()
    }
}

/// The kinds [`cim::classify_event`] gave lately, by layout and the values it reads
/// (issue 14, round 4: a log repeats a few pairs of event ID and provider, and
/// matching names in them cost about 450 instructions a record). The classifier reads
/// only the fields of [`cim::CLASSIFYING_FIELDS`], each a value of the record or
/// absent, so the layout (which fields there are, in which order) and those values
/// (their bytes, in the layout's order) decide the kind.
#[derive(Default)]
struct Kinds {
    /// The last used first: a layout's id, its classifying values (each after its
    /// length, two bytes), and the kind.
    met: Vec<(u64, Vec<u8>, EventKind)>,
}

/// At most this many kinds are kept ([`Kinds`]): a few dozen event IDs per provider.
const MAX_KINDS: usize = 64;

impl Kinds {
    /// The kind of a record of `layout` whose field `i` has the value `value(i)` (as
    /// written; `None` when the record has no such field). `None` when a value the
    /// classifier reads is not UTF-8 (the full path reads it, lossily).
    fn kind<'a>(
        &mut self,
        layout: &Layout,
        value: impl Fn(usize) -> Option<&'a [u8]>,
    ) -> Option<EventKind> {
        // Compared value by value: building a key first would copy them for nothing
        // on nearly every record.
        let same = |key: &[u8]| {
            let mut rest = key;
            for &i in &layout.classifying {
                let Some(v) = value(i) else {
                    return false;
                };
                let Some((len, after)) = rest.split_first_chunk::<2>() else {
                    return false;
                };
                let Some((kept, after)) = after.split_at_checked(v.len()) else {
                    return false;
                };
                if usize::from(u16::from_le_bytes(*len)) != v.len() || !same_bytes(kept, v) {
                    return false;
                }
                rest = after;
            }
            rest.is_empty()
        };
        if let Some(i) = self
            .met
            .iter()
            .position(|(id, key, _)| *id == layout.id && same(key))
        {
            if i > 0 {
                to_front(&mut self.met, i);
            }
            return self.met.first().map(|&(_, _, kind)| kind);
        }
        let text = |i: usize| value(i).and_then(|v| std::str::from_utf8(v).ok());
        if layout.classifying.iter().any(|&i| text(i).is_none()) {
            return None;
        }
        let values = |field: EventField| layout.indices(field).iter().filter_map(|&i| text(i));
        let says = |field: EventField, word: &str| cim::any_says(values(field), word);
        let kind = cim::classify_event(|field| values(field).next(), says);
        let mut key = match self.met.len() {
            MAX_KINDS.. => self.met.pop().map(|(_, k, _)| k).unwrap_or_default(),
            _ => Vec::new(),
        };
        key.clear();
        for &i in &layout.classifying {
            let v = value(i)?;
            key.extend_from_slice(&u16::try_from(v.len()).ok()?.to_le_bytes());
            key.extend_from_slice(v);
        }
        self.met.insert(0, (layout.id, key, kind));
        Some(kind)
    }
}

/// Whether `b`, after a name, ends it for the lexer ([`super::is_event_name`]).
fn ends_name(b: u8) -> bool {
    is_blank(b) || b == b'>' || b == b'/'
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A tag (`tag` starts at its `<`) whose end both readers agree on: the index of its
/// `>` (outside quoted values) and whether it is empty (`…/>`). `None` when a `<` comes
/// first (the lexer would end the tag there, quick-xml would not) or when the lexer and
/// quick-xml would disagree on emptiness (`<a / >`: the lexer skips the blank, quick-xml
/// does not).
fn tag_end(tag: &[u8]) -> Option<(usize, bool)> {
    let mut i = 1;
    loop {
        // Outside quotes: the next `<`, `>` or quote; inside: the closing quote (a `<`
        // before it is looked for too).
        i += find_any_of(tag.get(i..)?, [b'<', b'>', b'"', b'\''])?;
        match *tag.get(i)? {
            b'<' => return None,
            b'>' => {
                let content = tag.get(..i)?;
                let last = content.iter().rev().find(|&&b| !is_blank(b));
                let empty = content.last() == Some(&b'/');
                return (empty == (last == Some(&b'/'))).then_some((i, empty));
            }
            quote => {
                let value = tag.get(i + 1..)?;
                let close = memchr::memchr(quote, value)?;
                if memchr::memchr(b'<', value.get(..close)?).is_some() {
                    return None;
                }
                i += close + 2;
            }
        }
    }
}

impl Fast {
    /// At `data` (the window from the lexer's position, in a clean top-level state at
    /// offset `pos`): the record that starts at the first `<`, up to the first
    /// `</Event>`, when no `<!`, no `<?` and no other tag named `Event` (another
    /// `<Event`, an odd `</Event`) lies between: then every `<` in between is an
    /// ordinary tag to the lexer, and the record is framed as it frames it. Returns its
    /// start and end offsets and the offset after its start tag.
    fn frame(
        &mut self,
        window: &[u8],
        base: u64,
        pos: u64,
        limit: u64,
        max_record: usize,
    ) -> Option<(u64, u64, usize)> {
        let data = window.get(usize::try_from(pos - base).ok()?..)?;
        // Most often the next byte or the one after (a record per line).
        let i = find_stop(data, [b'<'])?;
        let rec = data.get(i..)?;
        let start = pos + i as u64;
        if start >= limit
            || !rec.starts_with(b"<Event")
            || !rec.get(6).is_some_and(|&b| is_blank(b) || b == b'>')
        {
            return None;
        }
        // The next tag named `Event` (`</EventData>` is another name) must be its end,
        // with no `<!` nor `<?` before it.
        let (close_at, tag) = self.event_tags.first_from(window, base, start + 1)?;
        if tag != EventTag::End {
            return None;
        }
        let close = usize::try_from(close_at - start).ok()?;
        let end = close + 8;
        if end > max_record {
            return None;
        }
        // The start tag: an empty `<Event …/>` would be a whole record. [`tag_end`]
        // reads no further than the `>` it finds: the same bytes as the last start
        // tag's (nearly every record's) end the same way.
        let tag = match rec.get(..self.start_tag.len()) {
            Some(same) if !same.is_empty() && same == self.start_tag.as_slice() => same.len(),
            _ => {
                let (gt, empty) = tag_end(rec.get(..close)?)?;
                if empty {
                    return None;
                }
                self.start_tag.clear();
                if gt < MAX_KEPT {
                    self.start_tag.extend_from_slice(rec.get(..=gt)?);
                }
                gt + 1
            }
        };
        Some((start, start + end as u64, tag))
    }

    /// The kind the full path gives `record` (framed by [`Fast::frame`], its start tag
    /// ending at `tag_end`) from its `<System>` part, or `None` when the raw bytes do not
    /// make it sure. `Some` also says the record has no repeated field name in
    /// `<System>` (the full path judges every reading of such a record).
    pub(super) fn system_kind(&mut self, record: &[u8], tag_end: usize) -> Option<EventKind> {
        self.data_read = false;
        let after = record.get(tag_end..)?;
        let open = next_lt(after, 0)?;
        let body_at = tag_end + open + b"<System>".len();
        if !after.get(open..)?.starts_with(b"<System>") {
            return None;
        }
        let from_body = record.get(body_at..)?;
        let values = &mut self.values_at;
        let mut body_len = 0;
        let mut read = |t: &mut Template| {
            t.read(from_body, values)
                .map(|len| body_len = len)
                .is_some()
        };
        let layout = self.templates.iter_mut().position(&mut read).and_then(|i| {
            to_front(&mut self.templates, i);
            let id = self.templates.first()?.layout;
            self.layouts.iter().position(|l| l.id == id)
        });
        match layout {
            Some(i) => {
                to_front(&mut self.layouts, i);
                self.system = body_at..body_at + body_len;
            }
            None => {
                let body_len = self.system_end.find(from_body)?;
                if body_len > MAX_KEPT {
                    return None;
                }
                self.system = body_at..body_at + body_len;
                let body = from_body.get(..body_len)?;
                if memchr::memchr(b'&', body).is_some() {
                    return None;
                }
                let body = std::str::from_utf8(body).ok()?;
                self.read_system(body)?;
                let spans = &self.spans;
                let name = |(n, _): &(FieldName, Range<usize>)| match n {
                    FieldName::Element(n) => body.get(n.clone()).unwrap_or(""),
                    FieldName::Attribute(n) => n,
                };
                match self
                    .layouts
                    .iter()
                    .position(|l| l.same(spans.iter().map(name)))
                {
                    Some(i) => to_front(&mut self.layouts, i),
                    None => {
                        self.layouts.truncate(MAX_LAYOUTS - 1);
                        let mut layout = Layout::build(spans.iter().map(name));
                        self.layouts_built += 1;
                        layout.id = self.layouts_built;
                        self.layouts.insert(0, layout);
                    }
                }
                // The record's fields are read through its template from here on.
                let id = self.layouts.first()?.id;
                let template = Template::build(id, body.as_bytes(), &self.slots, spans)?;
                self.templates.truncate(MAX_LAYOUTS - 1);
                self.templates.insert(0, template);
                self.values_at.clear();
                self.values_at
                    .extend(self.slots.iter().map(|(value, _)| value.clone()));
            }
        }
        let layout = self.layouts.first()?;
        if layout.repeated {
            return None;
        }
        let body = record.get(self.system.clone())?;
        let (template, values) = (self.templates.first()?, &self.values_at);
        self.kinds
            .kind(layout, |i| body.get(template.value(i, values)?))
    }

    /// Reads the children of `<System>` (`body`, between `<System>` and `</System>`)
    /// into `spans` as [`super::read_record`] reads them into fields, or `None`.
    fn read_system(&mut self, body: &str) -> Option<()> {
        self.spans.clear();
        self.slots.clear();
        let bytes = body.as_bytes();
        let mut p = 0;
        while let Some(at) = next_lt(bytes, p) {
            let name_at = at + 1;
            let name_len = bytes.get(name_at..)?.iter().position(|&b| {
                !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            })?;
            if name_len == 0 || name_len > MAX_NAME || !bytes.get(name_at)?.is_ascii_alphabetic() {
                return None;
            }
            let name = name_at..name_at + name_len;
            // `<Event` inside a record: the lexer would start a record there.
            if bytes.get(name.clone())? == b"Event" {
                return None;
            }
            // quick-xml's name runs to a blank, `/` or `>`.
            if !bytes
                .get(name.end)
                .is_some_and(|&b| is_blank(b) || b == b'/' || b == b'>')
            {
                return None;
            }
            let field = match bytes.get(name.clone())? {
                b"Provider" => Some((b"Name".as_slice(), "Provider")),
                b"TimeCreated" => Some((b"SystemTime".as_slice(), "TimeCreated")),
                b"Security" => Some((b"UserID".as_slice(), "UserID")),
                _ => None,
            };
            let (spans, slots) = (&mut self.spans, &mut self.slots);
            let tag = bytes.get(at..)?;
            let (gt, empty) = read_tag(tag, name_len + 1, |key, value| {
                let value = at + value.start..at + value.end;
                let quote = tag.get(value.end - at).copied();
                slots.push((value.clone(), quote));
                if let Some((_, field)) = field.filter(|(w, _)| eq(key, w)) {
                    spans.push((FieldName::Attribute(field), value));
                }
            })?;
            let gt = at + gt;
            if empty {
                p = gt + 1;
                continue;
            }
            // Short texts: a SIMD search costs more to set up than it saves.
            let text_len = find_any_of(bytes.get(gt + 1..)?, [b'<'])?;
            let text = gt + 1..gt + 1 + text_len;
            let close = bytes.get(text.end..)?;
            let name_bytes = bytes.get(name.clone())?;
            if close.get(..2) != Some(b"</")
                || !close
                    .get(2..2 + name_len)
                    .is_some_and(|c| eq(c, name_bytes))
                || close.get(2 + name_len) != Some(&b'>')
            {
                return None;
            }
            self.spans.push((FieldName::Element(name), text.clone()));
            self.slots.push((text.clone(), None));
            p = text.end + name_len + 3;
        }
        Some(())
    }

    /// Reads the rest of a record whose `<System>` part [`Fast::system_kind`] has just
    /// read into `fields`, as [`super::read_record`] (without `filter`) does: `<System>`'s
    /// fields, then each `<Data>` of `<EventData>` (named by its `Name` attribute, or
    /// `Data`), their text and names unescaped by the full path's own
    /// [`super::unescape_into`]. `None` unless the rest is plain ([`Fast::each_data`]).
    pub(super) fn read_rest(&mut self, record: &[u8], fields: &mut Fields) -> Option<()> {
        fields.clear();
        let body = std::str::from_utf8(record.get(self.system.clone())?).ok()?;
        let template = self.templates.first()?;
        for i in 0..template.fields.len() {
            let (name, value) = template.field(i, &self.values_at)?;
            let name = match name {
                FieldName::Element(n) => body.get(n)?,
                FieldName::Attribute(n) => n,
            };
            fields.begin(name);
            fields.value_text().push_str(body.get(value)?);
            fields.end();
        }
        let rest = self.rest_of(record)?;
        // Checked once: then no value needs it again.
        let utf8 = std::str::from_utf8(rest).ok();
        // As the full path writes them: entities resolved, bad UTF-8 replaced.
        let unescape = |raw: Range<usize>, out: &mut String| match utf8
            .and_then(|text| text.get(raw.clone()))
        {
            Some(text) => super::unescape_str_into(text, out),
            None => super::unescape_into(rest.get(raw).unwrap_or_default(), out),
        };
        if self.data_read {
            // [`Fast::missing`] has read the texts through a template, which holds the
            // names as the full path writes them.
            for (name, text) in &self.data.first()?.fields {
                fields.begin(name);
                if let Some(slot) = text {
                    unescape(self.data_at.get(*slot)?.clone(), fields.value_text());
                }
                fields.end();
            }
            return Some(());
        }
        self.each_data(record, |name, text| {
            match name {
                DataName::Attribute(raw) => fields.begin_with(|name| unescape(raw, name)),
                DataName::Element(name) => {
                    fields.begin(std::str::from_utf8(rest.get(name)?).ok()?);
                }
            }
            if let Some(text) = text {
                unescape(text, fields.value_text());
            }
            fields.end();
            Some(())
        })
    }

    /// Frames the record at `pos` ([`Fast::frame`]) and reads what the judge needs of
    /// it, as the full path would: its start and end offsets and what to do with it
    /// ([`Reading`]); `None` when its framing is not sure (the lexer frames it then).
    /// `fields` is filled for [`Reading::Fields`].
    pub(super) fn read(
        &mut self,
        window: &[u8],
        base: u64,
        pos: u64,
        limit: u64,
        max_record: usize,
        fields: &mut Fields,
    ) -> Option<(u64, u64, Reading)> {
        let (start, end, tag_end) = self.frame(window, base, pos, limit, max_record)?;
        let at = |offset: u64| usize::try_from(offset - base).ok();
        let record = window.get(at(start)?..at(end)?)?;
        let kind = self.system_kind(record, tag_end);
        if kind == Some(EventKind::ProcessCreation) {
            if let Some(missing) = self.missing(record) {
                return Some((start, end, Reading::Counted(missing)));
            }
        }
        let reading = match kind {
            None => Reading::Whole,
            Some(kind) if is_unread(Some(kind), record) => Reading::Unread,
            Some(kind) => match self.read_rest(record, fields) {
                Some(()) => Reading::Fields(kind),
                None => Reading::Whole,
            },
        };
        Some((start, end, reading))
    }

    /// Whether a process creation (the kind [`Fast::system_kind`] has just given
    /// `record`) can be counted as the judge would count it, without storing its
    /// fields, because no value its plan reads an image name from can name
    /// schtasks.exe: then what it lacks for a verdict, if anything; `None` when the
    /// record must be read and judged.
    ///
    /// Why it is exact: the judge ([`crate::replay::SourceScan::judge_as`]) maps and analyses a process
    /// creation only when [`FieldPlan::may_name_schtasks`] says so, which reads the
    /// image columns with [`crate::detection::may_name_schtasks`] (the value ends with
    /// `schtasks.exe`, ASCII case ignored); short of that it counts the process event
    /// and asks [`FieldPlan::missing`], which reads only which values are blank. Both
    /// are answered here, only for the values the plan asks about, from each as the
    /// full path would write it: the raw text,
    /// unescaped by [`super::unescape_into`] when it holds an `&` (no CDATA: a framed
    /// record holds no `<!`). Bad UTF-8 is not decoded: a byte that is not UTF-8 becomes
    /// U+FFFD, never an ASCII byte nor part of one, so neither answer changes. The plan
    /// is [`FieldPlan::from_names`] of the same names (cached by layout). A record with
    /// a repeated name and any value that may name schtasks.exe is left to the judge
    /// ([`super::judge_every_reading`] judges its other readings); without one, no
    /// other reading can map anything either.
    fn missing(&mut self, record: &[u8]) -> Option<Option<Missing>> {
        let mut at = std::mem::take(&mut self.data_at);
        let read = self.read_values(record, &mut at);
        self.data_at = at;
        self.data_read = read.is_some();
        let repeated = read?;
        let template = self.data.first()?;
        let plan = template.plan.as_ref()?;
        let system = record.get(self.system.clone())?;
        let rest = self.rest_of(record)?;
        let (system_template, values, at) =
            (self.templates.first()?, &self.values_at, &self.data_at);
        let system_fields = system_template.fields.len();
        // What the plan asks of field `i` (`<System>`'s, then the `<Data>`), only for
        // the few fields it reads.
        let value = |i: usize| {
            let raw = match i.checked_sub(system_fields) {
                None => system.get(system_template.value(i, values)?)?,
                Some(i) => match template.fields.get(i)?.1 {
                    Some(slot) => rest.get(at.get(slot)?.clone())?,
                    None => b"",
                },
            };
            Some(raw)
        };
        let count = system_fields + template.fields.len();
        if repeated && (0..count).any(|i| value(i).is_some_and(may_name_value)) {
            return None;
        }
        let blank = |i: usize| value(i).is_none_or(blank_value);
        let missing = template.missing.borrow_mut().answer(blank, |blank| {
            plan.missing(|i| Some(if blank(i) { b"" } else { b"x" }))
        });
        if missing.is_some() {
            return Some(missing);
        }
        // The judge asks for a verdict only when nothing is missing.
        let named = |i: usize| value(i).is_some_and(may_name_value);
        let named = template.named.borrow_mut().answer(named, |named| {
            plan.may_name_schtasks(|i| Some(if named(i) { SCHTASKS } else { b"" }))
        });
        (!named).then_some(missing)
    }

    /// Where the `<Data>` texts of `record` are (into `at`, in field order), found
    /// through the record's [`DataTemplate`] when one fits, else by [`Fast::each_data`]
    /// (then building one); the template is then the first of [`Fast::data`]. Gives
    /// whether a name repeats in the layout.
    fn read_values(&mut self, record: &[u8], at: &mut Vec<Range<usize>>) -> Option<bool> {
        let rest = self.rest_of(record).filter(|r| r.len() <= MAX_KEPT)?;
        let layout = self.layouts.first()?;
        lt_masks(rest, &mut self.lt_masks);
        let lt = &self.lt_masks;
        let fits = |t: &DataTemplate| {
            t.layout == layout.id && t.markup.read_texts(rest, lt, at) == Some(rest.len())
        };
        if let Some(i) = self.data.iter().position(fits) {
            to_front(&mut self.data, i);
            return Some(self.data.first()?.repeated);
        }
        // The key: each name's length (one byte), then the name; `<System>`'s names
        // are its layout's, in that form.
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.extend_from_slice(&layout.names);
        let mut texts = Vec::new();
        let mut names = Vec::new();
        let mut name_text = String::new();
        let mut name = |name: &[u8]| {
            key.push(u8::try_from(name.len()).ok()?);
            key.extend_from_slice(name);
            names.push(Box::from(std::str::from_utf8(name).ok()?));
            Some(())
        };
        let walked = self.each_data(record, |data, text| {
            texts.push(text);
            let data = match data {
                DataName::Attribute(raw) => DataName::Attribute(rest.get(raw)?),
                DataName::Element(name) => DataName::Element(rest.get(name)?),
            };
            match data {
                DataName::Attribute(raw) if raw.is_ascii() && !raw.contains(&b'&') => name(raw),
                DataName::Attribute(raw) => {
                    // As the full path names it: entities resolved, bad UTF-8 replaced.
                    name_text.clear();
                    super::unescape_into(raw, &mut name_text);
                    name(name_text.as_bytes())
                }
                DataName::Element(element) => name(element),
            }
        });
        let plan = walked.and_then(|()| self.plan_of(&key));
        self.key = key;
        let (plan, repeated) = plan?;
        let plan = plan.and_then(|i| self.plans.get(i)?.plan.clone());
        let slots = texts.iter().flatten().map(|t| (t.clone(), None));
        let (markup, _) = Markup::build(rest, slots, true)?;
        let mut slot = 0;
        let fields = names
            .into_iter()
            .zip(&texts)
            .map(|(name, t)| {
                let slot = t.as_ref().map(|_| {
                    slot += 1;
                    slot - 1
                });
                (name, slot)
            })
            .collect();
        at.clear();
        at.extend(texts.into_iter().flatten());
        self.data.truncate(MAX_LAYOUTS - 1);
        self.data.insert(
            0,
            DataTemplate {
                layout: self.layouts.first()?.id,
                markup,
                fields,
                plan,
                repeated,
                missing: Default::default(),
                named: Default::default(),
            },
        );
        Some(repeated)
    }

    /// The plan of a layout key ([`Fast::missing`]): its index in [`Fast::plans`] (the
    /// first), `None` for a layout left to the judge; and whether a name repeats in it.
    fn plan_of(&mut self, key: &[u8]) -> Option<(Option<usize>, bool)> {
        match self.plans.iter().position(|p| p.key == key) {
            Some(0) => {}
            Some(i) => to_front(&mut self.plans, i),
            None => {
                let mut names = Vec::new();
                let mut rest = key;
                while let Some((&len, after)) = rest.split_first() {
                    let (name, after) = after.split_at_checked(usize::from(len))?;
                    names.push(std::str::from_utf8(name).ok()?);
                    rest = after;
                }
                let repeated = names
                    .iter()
                    .enumerate()
                    .any(|(i, a)| names.iter().skip(i + 1).any(|b| a == b));
                let plan = FieldPlan::from_names(names);
                // An image source that is not one field's value (none today) may name
                // schtasks whatever the values are: such a layout is left to the judge.
                let sure = !plan.may_name_schtasks(|_| Some(b""));
                self.plans.truncate(MAX_LAYOUTS - 1);
                self.plans.insert(
                    0,
                    Plan {
                        key: key.to_vec(),
                        plan: sure.then_some(plan),
                        repeated,
                    },
                );
            }
        }
        let first = self.plans.first()?;
        Some((first.plan.as_ref().map(|_| 0), first.repeated))
    }

    /// What follows the `<System>` part read last by [`Fast::system_kind`] in `record`,
    /// up to its `</Event>`.
    fn rest_of<'r>(&self, record: &'r [u8]) -> Option<&'r [u8]> {
        let end = record.len().checked_sub(b"</Event>".len())?;
        record.get(self.system.end + b"</System>".len()..end)
    }

    /// Walks the rest of a record after `<System>` ([`Fast::rest_of`]) as
    /// [`super::read_record`] reads it, calling `each(name, text)` for each `<Data>`
    /// of `<EventData>` in order: where its name is (its raw `Name` attribute, or the
    /// element's name) and where its raw text is, in the rest (`None` for `<Data/>`).
    /// `None` unless the rest is plain: `<EventData>` whose children hold only text, or
    /// nothing, then `</Event>`; anything else (`<UserData>`, `<RenderingInfo>`, a
    /// nested element) goes to the full path. `each` may give `None` to stop.
    fn each_data(
        &self,
        record: &[u8],
        mut each: impl FnMut(DataName<Range<usize>>, Option<Range<usize>>) -> Option<()>,
    ) -> Option<()> {
        let bytes = self.rest_of(record)?;
        // Text between the parts is not read by the full path either.
        let Some(open) = memchr::memchr(b'<', bytes) else {
            return Some(());
        };
        if !bytes.get(open..)?.starts_with(b"<EventData>") {
            return None;
        }
        let mut p = open + b"<EventData>".len();
        loop {
            p = next_lt(bytes, p)?;
            let tail = bytes.get(p..)?;
            if let Some(after) = tail.strip_prefix(b"</EventData>") {
                // Text may follow, up to `</Event>`, and what the full path skips.
                return skipped_parts(after);
            }
            let (name, gt, empty, field) = match data_tag(tail) {
                Some((gt, empty, value)) => (b"Data".as_slice(), gt, empty, Some(value)),
                None => {
                    let name_len = tail.get(1..)?.iter().position(|&b| {
                        !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
                    })?;
                    if name_len == 0
                        || !tail.get(1)?.is_ascii_alphabetic()
                        || !tail.get(1 + name_len).is_some_and(|&b| ends_name(b))
                        || tail.get(1..1 + name_len)? == b"Event"
                    {
                        return None;
                    }
                    let mut field = None;
                    let (gt, empty) = read_tag(tail, 1 + name_len, |key, value| {
                        if field.is_none() && eq(key, b"Name") {
                            field = Some(value);
                        }
                    })?;
                    (tail.get(1..1 + name_len)?, gt, empty, field)
                }
            };
            let name_of = match field {
                Some(v) => DataName::Attribute(p + v.start..p + v.end),
                None => DataName::Element(p + 1..p + 1 + name.len()),
            };
            if empty {
                each(name_of, None)?;
                p += gt + 1;
                continue;
            }
            let text_at = p + gt + 1;
            let text_len = memchr::memchr(b'<', bytes.get(text_at..)?)?;
            each(name_of, Some(text_at..text_at + text_len))?;
            let close = bytes.get(text_at + text_len..)?;
            let name_len = name.len();
            if close.get(..2) != Some(b"</")
                || !close.get(2..2 + name_len).is_some_and(|c| eq(c, name))
                || close.get(2 + name_len) != Some(&b'>')
            {
                return None;
            }
            p = text_at + text_len + name_len + 3;
        }
    }
}

/// Whether `bytes` (what follows `</EventData>` in a record, up to its `</Event>`) is
/// text and `<RenderingInfo>` elements (`wevtutil qe /f:RenderedXml` writes one after
/// every record's data) that [`super::read_record`] skips without an error: each
/// well formed as quick-xml checks it (every end tag names the element it ends, every
/// tag ends where the lexer ends it, [`tag_end`]), its names plain, its attributes and
/// texts unread. `None` for anything else (another part, which the full path may read,
/// a prefix, a blank in an end tag): the full path reads those.
fn skipped_parts(bytes: &[u8]) -> Option<()> {
    let mut open: Vec<&[u8]> = Vec::new();
    let mut p = 0;
    while let Some(at) = memchr::memchr(b'<', bytes.get(p..)?).map(|i| p + i) {
        let tail = bytes.get(at..)?;
        if let Some(end) = tail.strip_prefix(b"</") {
            let name = open.pop()?;
            if end.get(..name.len())? != name || end.get(name.len()) != Some(&b'>') {
                return None;
            }
            p = at + 2 + name.len() + 1;
            continue;
        }
        let name_len = tail
            .get(1..)?
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'))?;
        let name = tail.get(1..1 + name_len)?;
        if !name.first()?.is_ascii_alphabetic()
            || !tail.get(1 + name_len).is_some_and(|&b| ends_name(b))
            || (open.is_empty() && name != b"RenderingInfo")
        {
            return None;
        }
        let (gt, empty) = tag_end(tail)?;
        if !empty {
            open.push(name);
        }
        p = at + gt + 1;
    }
    open.is_empty().then_some(())
}

/// The longest name of a `<System>` child the fast path reads.
const MAX_NAME: usize = u8::MAX as usize;

/// Whether two short byte strings (names) are equal: a loop the compiler keeps inline,
/// where `==` calls `memcmp`.
#[inline]
fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The first `<` of `bytes` at or after `p`: most often at `p`, after an end tag.
fn next_lt(bytes: &[u8], p: usize) -> Option<usize> {
    match bytes.get(p..)? {
        [b'<', ..] => Some(p),
        rest => memchr::memchr(b'<', rest).map(|i| p + i),
    }
}

/// The commonest tag of `<EventData>`, `<Data Name="…">` or `<Data Name='…'/>` (`tail`
/// starts with it), read at once: the index of its `>`, whether it is empty, and where
/// its `Name` value is, as [`read_tag`] reads it. `None` for any
/// other tag (they decide), and for a value holding a `<`.
fn data_tag(tail: &[u8]) -> Option<(usize, bool, Range<usize>)> {
    const OPEN: &[u8] = b"<Data Name=";
    let quote = *tail.strip_prefix(OPEN)?.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let at = OPEN.len() + 1;
    let len = find_any_of(tail.get(at..)?, [quote, b'<'])?;
    let value = at..at + len;
    if tail.get(value.end) != Some(&quote) {
        return None;
    }
    match tail.get(value.end + 1..)? {
        [b'>', ..] => Some((value.end + 1, false, value)),
        [b'/', b'>', ..] => Some((value.end + 2, true, value)),
        _ => None,
    }
}

/// What [`Fast::read`] made of a record.
pub(super) enum Reading {
    /// Counted with the other events, not read further
    /// ([`crate::replay::fields::count_other`]).
    Unread,
    /// A process creation that cannot name schtasks.exe ([`Fast::missing`]): counted,
    /// as not judged when it lacks this ([`crate::replay::SourceScan::count`]).
    Counted(Option<Missing>),
    /// Its fields are read: to be judged as this kind.
    Fields(EventKind),
    /// Framed, to be read by the full path's reader ([`super::read_record`]).
    Whole,
}

/// The name of a `<Data>` field as [`Fast::each_data`] meets it: its `Name` attribute
/// as written (entities not resolved), or, without one, the element's name: where it
/// is in what follows `<System>` ([`Fast::rest_of`]), or the name itself.
enum DataName<T> {
    Attribute(T),
    Element(T),
}

/// Reads a start tag (`tag` starts at its `<`; its name ends at `name_end`) in one
/// pass: the index of its `>` and whether it is empty, as [`tag_end`] gives them (the
/// lexer and quick-xml agree on both), and `each(key, value)` for every attribute,
/// `key='value'` or `key="value"` between blanks, without a prefix: what quick-xml's
/// attribute reader takes as it is. `None` otherwise, and for a few shapes that no real
/// record has (a key holding `/`, `<` or `>`; a `/` not followed by `>`): the full path
/// reads those.
fn read_tag(
    tag: &[u8],
    name_end: usize,
    mut each: impl FnMut(&[u8], Range<usize>),
) -> Option<(usize, bool)> {
    let mut p = name_end;
    loop {
        let blanks = tag.get(p..)?.iter().take_while(|&&b| is_blank(b)).count();
        p += blanks;
        match *tag.get(p)? {
            // After a name, blanks or a quote: not a `/`, so not empty for either.
            b'>' => return Some((p, false)),
            b'/' => return (tag.get(p + 1) == Some(&b'>')).then_some((p + 1, true)),
            _ if blanks == 0 => return None,
            _ => {}
        }
        let key_len = tag.get(p..)?.iter().position(|&b| {
            matches!(b, b'=' | b'"' | b'\'' | b'<' | b'>' | b'/' | b':') || is_blank(b)
        })?;
        let quote = *tag.get(p + key_len + 1)?;
        if key_len == 0 || tag.get(p + key_len) != Some(&b'=') || !matches!(quote, b'"' | b'\'') {
            return None;
        }
        let at = p + key_len + 2;
        // Inside the value, a `<` would end the tag for the lexer.
        let len = find_any_of(tag.get(at..)?, [quote, b'<'])?;
        if tag.get(at + len) != Some(&quote) {
            return None;
        }
        each(tag.get(p..p + key_len)?, at..at + len);
        p = at + len + 1;
    }
}

/// Calls `each(key, value)` for every attribute of a tag (`bytes[range]`, after its
/// name), or gives `None` unless every attribute is `name='value'` or `name="value"`
/// between blanks, without a prefix: what quick-xml's attribute reader takes as it is.
/// The reference [`read_tag`] is tested against.
#[cfg(test)]
fn each_attribute(
    bytes: &[u8],
    range: Range<usize>,
    mut each: impl FnMut(&[u8], Range<usize>),
) -> Option<()> {
    let mut p = range.start;
    loop {
        let blanks = bytes
            .get(p..range.end)?
            .iter()
            .take_while(|&&b| is_blank(b))
            .count();
        p += blanks;
        if p == range.end {
            return Some(());
        }
        if blanks == 0 {
            return None;
        }
        let key_len = bytes
            .get(p..range.end)?
            .iter()
            .position(|&b| b == b'=' || is_blank(b) || b == b'\'' || b == b'"')?;
        let key = bytes.get(p..p + key_len)?;
        if key_len == 0 || key.contains(&b':') {
            return None;
        }
        let quote = *bytes.get(p + key_len + 1)?;
        if bytes.get(p + key_len) != Some(&b'=') || !matches!(quote, b'\'' | b'"') {
            return None;
        }
        let value_at = p + key_len + 2;
        let value_len = memchr::memchr(quote, bytes.get(value_at..range.end)?)?;
        each(key, value_at..value_at + value_len);
        p = value_at + value_len + 1;
    }
}

/// The name of a field of `<System>`: a child element's (a range of the part) or the
/// one its attribute makes (`Provider Name=` is `Provider`, `Security UserID=` is
/// `UserID`, as [`super::read_record`] names them).
enum FieldName {
    Element(Range<usize>),
    Attribute(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSMON3: &[u8] = br#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f}'/><EventID>3</EventID><Version>5</Version><TimeCreated SystemTime='2020-12-19T07:00:22.000Z'/><EventRecordID>0</EventRecordID><Correlation/><Execution ProcessID='3000' ThreadID='4000'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS0</Computer><Security UserID='S-1-5-18'/></System><EventData><Data Name='Image'>C:\svchost.exe</Data></EventData></Event>"#;

    /// The fast path's answer on `record` followed by a newline: its kind, or `None`
    /// when it leaves the record to the full path.
    fn fast_kind(record: &[u8]) -> Option<EventKind> {
        let window = [record, b"\n"].concat();
        let framed = Fast::default().read(&window, 0, 0, u64::MAX, 1 << 20, &mut Fields::default());
        framed?;
        let mut fast = Fast::default();
        let (start, end, tag_end) = fast.frame(&window, 0, 0, u64::MAX, 1 << 20)?;
        assert_eq!((start, end), (0, record.len() as u64));
        let kind = fast.system_kind(record, tag_end);
        // What the fast path says is what the full path says.
        if let Some(kind) = kind {
            let mut full = Fields::default();
            assert_eq!(
                super::super::read_record(record, &mut full, false, false),
                Ok(kind)
            );
            // And the fields it reads are the full path's, in order.
            let all = |f: &Fields| {
                (0..f.len())
                    .map(|i| {
                        (
                            f.names().nth(i).map(str::to_owned),
                            f.value(i).map(str::to_owned),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            let mut fast_fields = Fields::default();
            if fast.read_rest(record, &mut fast_fields).is_some() {
                assert_eq!(all(&fast_fields), all(&full));
                assert!(full.len() > 5, "{full:?}");
            }
            // A process creation read through its `<Data>` template first (afresh, then
            // as the second of its markup): the same fields.
            if kind == EventKind::ProcessCreation {
                let mut fast = Fast::default();
                for _ in 0..2 {
                    let (_, _, tag_end) = fast.frame(&window, 0, 0, u64::MAX, 1 << 20)?;
                    fast.system_kind(record, tag_end)?;
                    fast.missing(record);
                    if fast.read_rest(record, &mut fast_fields).is_some() {
                        assert_eq!(all(&fast_fields), all(&full));
                    }
                }
            }
        }
        kind
    }

    fn with(from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(SYSMON3)
            .replacen(from, to, 1)
            .into_bytes()
    }

    #[test]
    fn a_canonical_record_is_framed_and_classified_from_its_bytes() {
        assert_eq!(fast_kind(SYSMON3), Some(EventKind::Connection));
        assert_eq!(fast_kind(&with(">3<", ">10<")), Some(EventKind::Other));
        assert_eq!(
            fast_kind(&with(">3<", ">1<")),
            Some(EventKind::ProcessCreation)
        );
        // Names and texts of `<Data>` as the full path writes them, read afresh and
        // through a template.
        let data = r#"<Data Name='Im&#97;ge'>a&amp;b</Data><Data Name='CommandLine'/><Data>x</Data><Data Name="User"></Data><Data Name='Hashes'>&#xD800;</Data>"#;
        let rich = String::from_utf8_lossy(&with(">3<", ">1<")).replacen(
            r"<Data Name='Image'>C:\svchost.exe</Data>",
            data,
            1,
        );
        assert!(rich.contains(data));
        assert_eq!(fast_kind(rich.as_bytes()), Some(EventKind::ProcessCreation));
        // Entities in `<EventData>` are resolved as the full path resolves them.
        let entities = with("svchost", "sv&amp;c&#x68;o&lt;st&bogus;&#xD800;");
        assert_eq!(fast_kind(&entities), Some(EventKind::Connection));
        let quoted = String::from_utf8_lossy(SYSMON3).replace('\'', "\"");
        assert_eq!(fast_kind(quoted.as_bytes()), Some(EventKind::Connection));
        assert_eq!(
            fast_kind(&with("<EventID>", "\n  <EventID Qualifiers=''>")),
            Some(EventKind::Connection)
        );
    }

    #[test]
    fn a_rendering_info_part_is_skipped_as_the_full_path_skips_it() {
        for info in [
            "<RenderingInfo/>",
            "\n<RenderingInfo Culture='en-US'><Message>a &amp; b &bogus; > c</Message><Level>Information</Level><Keywords><Keyword>Audit Success</Keyword></Keywords><x a=\"1>2\"/></RenderingInfo>\n",
            "<RenderingInfo></RenderingInfo><RenderingInfo/>",
        ] {
            for eid in [">3<", ">1<", ">4624<"] {
                let record = with("</EventData>", &format!("</EventData>{info}"));
                let record = String::from_utf8_lossy(&record).replacen(">3<", eid, 1);
                let record = record.replace("Sysmon'", "Security-Auditing'");
                let mut fast = Fast::default();
                let (_, _, tag_end) = fast.frame(record.as_bytes(), 0, 0, u64::MAX, 1 << 20).unwrap();
                assert!(fast.system_kind(record.as_bytes(), tag_end).is_some());
                let mut fields = Fields::default();
                assert!(fast.read_rest(record.as_bytes(), &mut fields).is_some(), "{info}");
                // The same kind and fields as the full path's (fast_kind compares).
                assert!(fast_kind(record.as_bytes()).is_some(), "{info}");
            }
        }
    }

    #[test]
    fn what_could_fool_a_byte_reader_goes_to_the_full_path() {
        let games = [
            ("<EventID>3", "<EventID>&#51;"),
            ("<EventID>3", "<EventID><![CDATA[3]]>"),
            ("<Version>", "<!-- x --><Version>"),
            ("<Version>", "<e:Version>"),
            ("<Correlation/>", "<Correlation / >"),
            ("<Correlation/>", "<EventID>1</EventID>"),
            ("<Channel>", "<Channel><x/>"),
            ("Name=", "Name ="),
            ("Name=", "x:Name="),
            ("</Computer>", "</computer>"),
            ("<System>", "<RenderingInfo/><System>"),
            ("</Data>", "</Data><Event>"),
            ("</Data>", "</Data></Event >"),
            ("<Event ", "<Event/><x "),
            ("<EventID>3", "<?pi?><EventID>3"),
        ];
        for (from, to) in games {
            assert_eq!(fast_kind(&with(from, to)), None, "{to}");
        }
        // The rest of a record the fast path reads only when it is plain.
        let rendering = |info: &str| format!("</EventData>{info}");
        for (from, to) in [
            ("</EventData>", "</EventData><UserData/>".into()),
            ("</EventData>", rendering("<x:RenderingInfo/>")),
            (
                "</EventData>",
                rendering("<RenderingInfo><a></b></RenderingInfo>"),
            ),
            (
                "</EventData>",
                rendering("<RenderingInfo></RenderingInfo >"),
            ),
            ("</EventData>", rendering("<RenderingInfo><a>")),
            ("</EventData>", rendering("<RenderingInfo/></a>")),
            ("</EventData>", rendering("<RenderingInfo/><System/>")),
            ("</EventData>", rendering("<RenderingInfo x='<'/>")),
            (
                "</EventData>",
                rendering("<RenderingInfo><a/ ></RenderingInfo>"),
            ),
            ("<Data Name='Image'>", "<Data x:Name='Image'>".into()),
            ("<Data Name='Image'>", "<Data Name='Image'><b/>".into()),
            ("</Data>", "</Dat>".into()),
        ] {
            let record = with(from, &to);
            let mut fast = Fast::default();
            let (_, _, tag_end) = fast.frame(&record, 0, 0, u64::MAX, 1 << 20).unwrap();
            assert!(fast.system_kind(&record, tag_end).is_some());
            assert!(
                fast.read_rest(&record, &mut Fields::default()).is_none(),
                "{to}"
            );
        }
    }

    /// [`Fast::missing`] on a Sysmon 1 made of [`SYSMON3`] with `data` as its
    /// `<EventData>` children: `None` when the record is left to the judge.
    fn unnamed(data: &str) -> Option<Option<Missing>> {
        let record = String::from_utf8_lossy(&with(">3<", ">1<")).replacen(
            "<Data Name='Image'>C:\\svchost.exe</Data>",
            data,
            1,
        );
        let read = |fast: &mut Fast| {
            let (_, _, tag_end) = fast.frame(record.as_bytes(), 0, 0, u64::MAX, 1 << 20)?;
            assert_eq!(
                fast.system_kind(record.as_bytes(), tag_end),
                Some(EventKind::ProcessCreation)
            );
            fast.missing(record.as_bytes())
        };
        let afresh = read(&mut Fast::default());
        // Through the templates of the records read before (the same markup with other
        // values, or other markup), and through its own.
        SHARED.with_borrow_mut(|fast| {
            assert_eq!(read(fast), afresh, "{data}");
            assert_eq!(read(fast), afresh, "{data}");
        });
        afresh
    }

    thread_local! {
        static SHARED: std::cell::RefCell<Fast> = std::cell::RefCell::new(Fast::default());
    }

    #[test]
    fn a_process_creation_that_cannot_name_schtasks_is_counted_without_its_values() {
        let cmd = "<Data Name='CommandLine'>schtasks /create /s WS6</Data>";
        let image = |v: &str| format!("<Data Name='Image'>{v}</Data>{cmd}");
        // Another image, even with schtasks on its command line: nothing to judge.
        assert_eq!(unnamed(&image(r"C:\Windows\cmd.exe")), Some(None));
        // What lacks a command line or an image is counted as not judged.
        assert_eq!(
            unnamed("<Data Name='Image'>cmd.exe</Data><Data Name='CommandLine'> &#9;</Data>"),
            Some(Some(Missing::CommandLine))
        );
        assert_eq!(unnamed(cmd), Some(Some(Missing::Image)));
        assert_eq!(
            unnamed(&format!("<Data Name='Image'/>{cmd}")),
            Some(Some(Missing::Image))
        );
        // Whatever may name schtasks.exe, in a field an image is read from, is judged.
        for hidden in [
            r"C:\Windows\System32\SchTasks.EXE",
            r"C:\x\sch&#116;asks.exe",
            "schtasks.exe\" ",
        ] {
            assert_eq!(unnamed(&image(hidden)), None, "{hidden}");
        }
        let renamed = format!(
            "{}<Data Name='OriginalFileName'>schtasks.exe</Data>",
            image("a.exe")
        );
        assert_eq!(unnamed(&renamed), None);
        let entity_name = format!("<Data Name='Im&#97;ge'>schtasks.exe</Data>{cmd}");
        assert_eq!(unnamed(&entity_name), None);
        // A repeated name whose other value may name it: every reading is judged.
        let twice = format!(
            "{}<Data Name='ParentImage'>x</Data><Data Name='ParentImage'>schtasks.exe</Data>",
            image("a.exe")
        );
        assert_eq!(unnamed(&twice), None);
        let twice = format!("{}{}", image("a.exe"), image("b.exe"));
        assert_eq!(unnamed(&twice), Some(None));
        // The same markup with values that end early, or hold what a template cannot
        // skip.
        assert_eq!(unnamed(&image("a<b/>.exe")), None);
        assert_eq!(unnamed(&image("a.exe&amp;")), Some(None));
        assert_eq!(unnamed(&image(" ")), Some(Some(Missing::Image)));
        assert_eq!(unnamed(&image("schtasks.exe")), None);
        // What it would keep of a large record stays small: the full path reads it.
        assert_eq!(unnamed(&image(&"a".repeat(MAX_KEPT))), None);
    }

    #[test]
    fn a_system_part_read_by_its_template_reads_as_read_afresh() {
        let variants = [
            ("", ""),
            (">3<", ">1<"),
            (">3<", "><"),
            (">3<", ">10 >x<"),
            ("'3000'", "'\"30\"00'"),
            ("'3000'", "''"),
            ("'3000'", "'3<000'"),
            ("'S-1-5-18'", "'S-1-5-18' x='1'"),
            ("<Computer>WS0", "<Computer>WS0 <b/>"),
            ("<Computer>WS0", "<Computer>W&amp;S0"),
            (
                "Microsoft-Windows-Sysmon",
                "Microsoft-Windows-Security-Auditing",
            ),
            ("<EventRecordID>0", "<EventRecordID>99999999"),
            ("<Correlation/>", "<Correlation />"),
            ("</Channel>", "</Channel>\n"),
        ];
        let read = |fast: &mut Fast, record: &[u8]| {
            let (_, _, tag_end) = fast.frame(record, 0, 0, u64::MAX, 1 << 20)?;
            let kind = fast.system_kind(record, tag_end)?;
            let body = record.get(fast.system.clone())?;
            let template = fast.templates.first()?;
            let fields: Vec<(String, Vec<u8>)> = (0..template.fields.len())
                .map(|i| {
                    let (n, v) = template.field(i, &fast.values_at).unwrap();
                    let n = match n {
                        FieldName::Element(n) => String::from_utf8_lossy(&body[n]).into(),
                        FieldName::Attribute(n) => n.to_string(),
                    };
                    (n, body[v].to_vec())
                })
                .collect();
            Some((kind, fields))
        };
        let mut primed = Fast::default();
        let mut templated = 0;
        for (from, to) in variants {
            let record = with(from, to);
            let afresh = read(&mut Fast::default(), &record);
            // Every variant after every other: the template of the one before is tried.
            for (before, _) in variants {
                let _ = read(&mut primed, &with(before, before));
                templated += usize::from(primed.templates.iter().any(|t| {
                    t.markup
                        .read_values(&record[fast_body(&record)], &mut Vec::new())
                        == Some(fast_body(&record).len())
                }));
                assert_eq!(read(&mut primed, &record), afresh, "{to}");
            }
        }
        assert!(templated > 50, "{templated}");
        // Compared with the last part read through a template, every variant reads
        // as the template's markup reads it, whatever that last part was.
        let mut compared = 0;
        for (from, to) in variants {
            let mut fast = Fast::default();
            if read(&mut fast, &with(from, to)).is_none() {
                continue;
            }
            let template = fast.templates.first().unwrap();
            for (from, to) in variants {
                let record = with(from, to);
                let hay = &record[fast_body(&record).start..];
                let (mut like_last, mut slot_by_slot) = (Vec::new(), Vec::new());
                let read = template.read_like_last(hay, &mut like_last);
                assert_eq!(
                    read,
                    template.markup.read_values(hay, &mut slot_by_slot),
                    "{to}"
                );
                if read.is_some() {
                    assert_eq!(like_last, slot_by_slot, "{to}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 50, "{compared}");
    }

    /// Where `record`'s `<System>` part is (between its tags).
    fn fast_body(record: &[u8]) -> Range<usize> {
        let at = memmem::find(record, b"<System>").unwrap() + 8;
        at..memmem::find(record, b"</System>").unwrap()
    }

    #[test]
    fn a_tag_read_in_one_pass_reads_as_its_end_and_attributes_do() {
        let pieces = [
            " ", "\t", "\n", "a", "Name", "x:a", "=", "'", "\"", "<", ">", "/", "v", "'v'",
            "\"v'\"", "a='1'", " b=\"2\"", "=''",
        ];
        let mut tags = vec![Vec::new()];
        for _ in 0..4 {
            let mut longer = Vec::new();
            for tag in &tags {
                for piece in pieces {
                    longer.push([tag.as_slice(), piece.as_bytes()].concat());
                }
            }
            tags.extend(longer);
        }
        let mut read = 0;
        for rest in tags {
            let tag = [b"<Data".as_slice(), &rest, b">x"].concat();
            let mut one = Vec::new();
            let Some((gt, empty)) = read_tag(&tag, 5, |k, v| one.push((k.to_vec(), v))) else {
                continue;
            };
            read += 1;
            let text = String::from_utf8_lossy(&tag);
            assert_eq!(tag_end(&tag), Some((gt, empty)), "{text}");
            let mut two = Vec::new();
            let attrs = 5..if empty { gt - 1 } else { gt };
            let each = each_attribute(&tag, attrs, |k, v| two.push((k.to_vec(), v)));
            assert!(each.is_some(), "{text}");
            assert_eq!(one, two, "{text}");
        }
        assert!(read > 1000, "{read}");
    }

    #[test]
    fn event_tags_are_told_apart_by_the_byte_after_their_name() {
        let window = b"<EventData><Event></EventData></Event ><Event/></Event></Eventx><EventID>";
        let all = |tags: &mut EventTags, window: &[u8], base: u64| {
            let mut found = Vec::new();
            let mut at = base;
            while let Some((lt, tag)) = tags.first_from(window, base, at) {
                found.push((lt, tag));
                at = lt + 1;
            }
            found
        };
        let expected = vec![
            (11, EventTag::Start),
            (30, EventTag::OddEnd),
            (39, EventTag::Start),
            (47, EventTag::End),
        ];
        assert_eq!(all(&mut EventTags::new(), window, 0), expected);
        // A name whose next byte the window does not hold yet is not told.
        assert_eq!(all(&mut EventTags::new(), &window[..53], 0), &expected[..3]);
        // Read a few bytes at a time, as the window grows: the same tags.
        let mut tags = EventTags::new();
        let mut found = Vec::new();
        let mut at = 0;
        for len in 1..=window.len() {
            while let Some((lt, tag)) = tags.first_from(&window[..len], 0, at) {
                found.push((lt, tag));
                at = lt + 1;
            }
        }
        assert_eq!(found, expected);
        // The window slid on (base 12): offsets stay absolute; a query before the
        // last one reads again.
        let mut tags = EventTags::new();
        assert_eq!(
            tags.first_from(&window[12..], 12, 31),
            Some((39, EventTag::Start))
        );
        assert_eq!(
            tags.first_from(&window[12..], 12, 12),
            Some((30, EventTag::OddEnd))
        );
        // Stretch by stretch, over more than one.
        let long = [
            b"<Event>".as_slice(),
            &vec![b'x'; TAGS_STRETCH],
            b"</Event>",
        ]
        .concat();
        let mut tags = EventTags::new();
        assert_eq!(tags.first_from(&long, 0, 0), Some((0, EventTag::Start)));
        let end = (long.len() - 8) as u64;
        assert_eq!(tags.first_from(&long, 0, 1), Some((end, EventTag::End)));
    }

    #[test]
    fn openers_are_found_with_the_event_tags_in_one_pass() {
        // `<!` and `<?`; `!` or `?` after another byte is text.
        let text = b"a?b!<x><?p?>!<!-- --><Event></Event>";
        let mut tags = EventTags::new();
        assert_eq!(tags.first_from(text, 0, 0), Some((7, EventTag::Opener)));
        assert_eq!(tags.first_from(text, 0, 8), Some((13, EventTag::Opener)));
        assert_eq!(tags.first_from(text, 0, 14), Some((21, EventTag::Start)));
        // The window slid on (base 5): offsets stay absolute.
        let mut tags = EventTags::new();
        assert_eq!(
            tags.first_from(&text[5..], 5, 8),
            Some((13, EventTag::Opener))
        );
        // A `!` at the stretch's first byte, its `<` just before.
        let mut tags = EventTags::new();
        assert_eq!(tags.first_from(text, 0, 13), Some((13, EventTag::Opener)));
        // Every processor's reading: the plain one's.
        #[cfg(target_arch = "x86_64")]
        {
            let mut plain = EventTags::new();
            plain.avx2 = false;
            let mut found = (Vec::new(), Vec::new());
            let (mut at, mut at_plain) = (0, 0);
            while let Some((lt, tag)) = tags.first_from(text, 0, at) {
                found.0.push((lt, tag));
                at = lt + 1;
            }
            while let Some((lt, tag)) = plain.first_from(text, 0, at_plain) {
                found.1.push((lt, tag));
                at_plain = lt + 1;
            }
            assert_eq!(found.0, found.1);
            assert_eq!(found.0.len(), 4);
        }
    }

    #[test]
    fn the_simd_masks_of_a_block_are_the_plain_one() {
        let mut block = [0u8; 64];
        for (i, b) in block.iter_mut().enumerate() {
            *b = b"EvEx!?Ee<vA"[i % 11] ^ if i % 13 == 0 { 0x80 } else { 0 };
        }
        for at in [0, 7, 16, 31] {
            let sixteen: &[u8; 16] = block[at..at + 16].try_into().unwrap();
            let next16: &[u8; 16] = block[at + 1..at + 17].try_into().unwrap();
            let mask = key_bytes_plain(sixteen, next16);
            assert_ne!(mask, 0);
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            assert_eq!(key_bytes(sixteen, next16), mask);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let half: &[u8; 32] = block[at..at + 32].try_into().unwrap();
                let next: &[u8; 32] = block[at + 1..at + 33].try_into().unwrap();
                // SAFETY: the processor has AVX2 (checked above).
                assert_eq!(
                    unsafe { key_bytes_avx2(half, next) },
                    key_bytes_plain(half, next)
                );
            }
        }
        let (head, next): (&[u8; 63], &[u8; 63]) = (
            block[..63].try_into().unwrap(),
            block[1..].try_into().unwrap(),
        );
        assert_ne!(key_bytes_plain(head, next), (1 << 63) - 1);
    }
}
