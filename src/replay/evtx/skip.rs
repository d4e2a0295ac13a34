//! Which EVTX records need no rendering (issue 14): a record whose `<System>` part
//! classifies as [`EventKind::Other`] is counted and skipped, as the XML reader does
//! after `<System>`, without the `evtx` crate rendering it to XML first.
//!
//! A record is read here only when it has the shape nearly every real record has: one
//! template instance whose values are all plain scalars, its template definition a
//! plain element tree (no nested instance, no CDATA, no entity or character reference,
//! no processing instruction). Its `<System>` fields are rebuilt from the definition
//! and the instance's values, only for the fields that name an event type, and
//! classified by the one classifier every reader uses ([`Fields::event_kind`], that is
//! [`crate::cim::classify_event`]). A definition is parsed once per scan by its
//! content ([`content`]: its body with the names it refers to, the same in every
//! chunk that holds it), and a kind is classified once per scan by its definition's
//! content and the raw bytes of the values it reads. Any other
//! shape, or a value this module cannot render byte for byte as the crate does (not
//! printable ASCII, a NULL, an element that depends on a value), is not judged here:
//! the record is rendered and read in full.
//!
//! Skipping a record's rendering must not change what the crate does with the others:
//! a chunk pass has one render budget (the crate's `ChunkBudget`: 4 × 2^18 nodes and
//! 4 × 16 MiB of output, a record may start while a whole record's worth is left).
//! [`ChunkSkips`] adds up a bound of what every record of the chunk can spend; a chunk
//! whose bound stays within the budget can never run out of it, whichever records are
//! rendered, so each record renders (or fails) the same way on both paths. When the
//! bound is exceeded, or a record or a render fails after a record was skipped, the
//! caller reads the chunk again in full (the records' outcomes are held until the
//! chunk is done, so nothing was reported yet).
//!
//! A process creation ([`Verdict::Exemplar`], [`Verdict::Count`]; issue 14) is rendered
//! only when it may matter: the first one of each shape (its definitions by content, its
//! values' types and [`value_class`]es) is rendered and read, and how the judge counts
//! it ([`crate::replay::PlanCache::tally`]: a process event, not judged for lacking a
//! command line or an image, or another event) is kept; the next ones of that shape, in
//! this chunk or a later one of the same reading, are counted the same without
//! rendering. Why that is exact is [`ChunkSkips::shape_key`]'s doc. A value that could
//! end a field in `schtasks.exe` (the judge's byte-level test,
//! [`crate::detection::may_name_schtasks`], on an image field) makes its record be
//! rendered and judged, as does an exemplar the judge asked a verdict of.
//!
//! Formats: MS-EVEN6 §2.2 (BinXML tokens, template definitions and instances, value
//! types); the rendering rules mirrored are the `evtx` crate's (`binxml::compiled`,
//! `binxml::value_render`): `<X/>` only for an element closed empty, NULL as nothing,
//! integers in decimal, strings up to their first NUL.

use std::rc::Rc;

use crate::cim::{EventKind, CLASSIFYING_FIELDS};
use crate::replay::fields::Fields;
use crate::replay::Tally;

/// BinXML tokens (MS-EVEN6 §2.2.12), without the "more data" flag 0x40.
mod token {
    pub const EOF: u8 = 0x00;
    pub const OPEN_START_ELEMENT: u8 = 0x01;
    pub const CLOSE_START_ELEMENT: u8 = 0x02;
    pub const CLOSE_EMPTY_ELEMENT: u8 = 0x03;
    pub const END_ELEMENT: u8 = 0x04;
    pub const VALUE: u8 = 0x05;
    pub const ATTRIBUTE: u8 = 0x06;
    pub const TEMPLATE_INSTANCE: u8 = 0x0c;
    pub const NORMAL_SUBSTITUTION: u8 = 0x0d;
    pub const OPTIONAL_SUBSTITUTION: u8 = 0x0e;
    pub const FRAGMENT_HEADER: u8 = 0x0f;
    pub const MORE: u8 = 0x40;
}

/// Value types (MS-EVEN6 §2.2.13, `evtx::binxml::value_variant`).
mod ty {
    pub const NULL: u8 = 0x00;
    pub const STRING: u8 = 0x01;
    pub const ANSI_STRING: u8 = 0x02;
    pub const INT8: u8 = 0x03;
    pub const UINT64: u8 = 0x0a;
    pub const REAL32: u8 = 0x0b;
    pub const REAL64: u8 = 0x0c;
    pub const BOOL: u8 = 0x0d;
    pub const BINARY: u8 = 0x0e;
    pub const GUID: u8 = 0x0f;
    pub const SIZE_T: u8 = 0x10;
    pub const FILETIME: u8 = 0x11;
    pub const BIN_XML: u8 = 0x21;
    pub const SYSTIME: u8 = 0x12;
    pub const SID: u8 = 0x13;
    pub const HEX_INT32: u8 = 0x14;
    pub const HEX_INT64: u8 = 0x15;
}

/// The DependencyId of an element that depends on no value.
const NO_DEPENDENCY: u16 = 0xffff;
/// BinXML values in values followed when bounding a record (real records nest one:
/// their `<EventData>`).
const MAX_NESTING: usize = 3;
/// The size of a template definition's header: next offset, GUID, data size.
const DEFINITION_HEADER: usize = 24;
/// The crate's per-record limits and what one chunk pass may spend (4 × each): evtx
/// 0.15.1, `src/binxml/compiled.rs` (`MAX_RENDER_NODES`, `MAX_RECORD_OUTPUT`,
/// `MAX_CHUNK_NODES`, `MAX_CHUNK_OUTPUT`, `ChunkBudget::admit`). Cargo.lock pins that
/// version; a new one must be checked against these before it is taken.
const RECORD_NODES: u64 = 1 << 18;
const RECORD_OUTPUT: u64 = 16 << 20;
/// A chunk pass may start a record while it has a whole record's budget left, so a
/// pass that spends no more than this in all can never be refused one.
const CHUNK_NODES_SAFE: u64 = 3 * RECORD_NODES;
const CHUNK_OUTPUT_SAFE: u64 = 3 * RECORD_OUTPUT;
/// Output a record or instance has besides its names, text and values: the XML
/// declaration the crate writes before each record (39 bytes), with room to spare.
const RECORD_OVERHEAD: u64 = 64;
/// Deepest template definition read here (real ones are 4 deep; the crate's own
/// limit is far larger).
const MAX_DEPTH: usize = 32;
/// Nodes a plain record can cost per token of its definition and value: building
/// copies the template once, rendering may materialize it once more and visit each
/// node with its attributes and children. 8 is twice that.
const NODES_PER_TOKEN: u64 = 8;
/// Output `count` values of `n` bytes in all can render to: an escaped ANSI byte
/// (`&quot;`, 1 byte in, 6 out) is the worst, plus a fixed allowance per value for
/// numbers, times, GUIDs and SIDs.
fn value_output(n: u64, count: u64) -> u64 {
    6 * n + 64 * count
}

/// The piece of a field's value: literal text or a substitution's value.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Value(u16),
}

/// A `<System>` field that names an event type, as the XML reader would read it.
#[derive(Debug, Clone)]
struct SystemField {
    name: String,
    value: Vec<Piece>,
    /// The value whose NULL leaves the element (and so this field) out (MS-EVEN6
    /// §2.2.12 DependencyId).
    dependency: Option<u16>,
}

impl SystemField {
    /// Whether the field is left out of the rendered record: its element depends on a
    /// value that is NULL. `values`: the instance's values (type, offset, size).
    fn left_out(&self, values: &[(u8, usize, usize)]) -> bool {
        self.dependency.is_some_and(|d| {
            values
                .get(usize::from(d))
                .is_some_and(|&(t, _, _)| t == ty::NULL)
        })
    }
}

/// What this module knows of one template definition.
#[derive(Debug)]
struct Definition {
    /// The `<System>` fields that [`Fields::event_kind`] reads, in reading order.
    fields: Vec<SystemField>,
    /// Tokens in the definition (elements, attributes, values, substitutions).
    tokens: u64,
    /// Output of the definition's own text (names and literal values), escaped.
    output: u64,
    /// The most times one substitution appears.
    max_uses: u64,
    /// Whether its names or literal text may put `schtasks` or an `&` in the rendered
    /// record ([`crate::cim::connection_may_matter`]).
    may_name: bool,
    /// The values used in `<System>` or before it: a record whose value there is BinXML
    /// (elements) is not read here.
    system_values: Vec<u16>,
    /// Whether a literal text may end a field text in `schtasks.exe` ([`may_end_word`]):
    /// then the values before it could spell the word's start, so its records are
    /// never counted like an exemplar.
    may_end_word: bool,
    /// Whether a substitution feeds a `Name` attribute outside `<System>` (a
    /// `<Data Name=>` names a field by it): the record's field names then depend on
    /// its values, so it is never counted like an exemplar ([`Verdict::Count`]).
    names_from_values: bool,
}

/// A definition's content, into `out`: its body (the bytes after its 24-byte header)
/// with each name reference (an offset in the chunk, and the name itself when stored
/// right there) replaced by the name (its character count and UTF-16 characters). It
/// is the same in every chunk that holds the definition, wherever it and its names
/// are, and it is all that parsing the definition reads, here ([`definition`]) and in
/// the crate (which also reads the 2 bytes of each name's NUL: they must be in the
/// chunk). The offsets of the names are added to `names`. `None` (`out` partly filled)
/// when the body is not a token stream [`definition`] could accept, within the body's
/// bounds, a name cannot be read, or the content would pass `limit` bytes (names
/// referred to many times can make it far larger than the body: the pass's
/// [`MAX_PASS_CONTENT`]).
fn content(
    data: &[u8],
    offset: u32,
    limit: usize,
    out: &mut Vec<u8>,
    names: &mut Vec<u32>,
) -> Option<()> {
    out.clear();
    let start = (offset as usize).checked_add(DEFINITION_HEADER)?;
    let size = Cursor {
        data,
        pos: start.checked_sub(4)?,
    }
    .u32()? as usize;
    let end = start.checked_add(size)?;
    let mut c = Cursor {
        data: data.get(..end)?,
        pos: start,
    };
    let mut copied = start;
    // A name reference at the cursor: the name in place of it (and of the name
    // stored after it).
    let mut name = |c: &mut Cursor<'_>, out: &mut Vec<u8>| -> Option<()> {
        let at = c.pos;
        let name_offset = c.u32()?;
        if c.pos == name_offset as usize {
            // Stored in place, inside the body.
            let (_, chars) = name_entry(c.data, c.pos)?;
            c.bytes(8 + chars.len() + 2)?;
        }
        let (_, text) = name_entry(data, name_offset as usize)?;
        let len = u16::try_from(text.len() / 2).ok()?;
        out.extend_from_slice(c.data.get(copied..at)?);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(text);
        if out.len() > limit {
            return None;
        }
        copied = c.pos;
        names.push(name_offset);
        Some(())
    };
    while c.pos < end {
        let t = c.u8()?;
        match t & !token::MORE {
            // The crate refuses an EOF token with the "more" flag.
            token::EOF if t == token::EOF => break,
            token::FRAGMENT_HEADER if t == token::FRAGMENT_HEADER => {
                c.bytes(3)?;
            }
            token::OPEN_START_ELEMENT => {
                c.bytes(6)?;
                name(&mut c, out)?;
                if t & token::MORE != 0 {
                    c.u32()?;
                }
            }
            token::ATTRIBUTE => name(&mut c, out)?,
            token::CLOSE_START_ELEMENT if t == token::CLOSE_START_ELEMENT => {}
            token::CLOSE_EMPTY_ELEMENT | token::END_ELEMENT if t & token::MORE == 0 => {}
            token::VALUE => {
                if c.u8()? != ty::STRING {
                    return None;
                }
                let len = c.u16()?;
                c.bytes(usize::from(len) * 2)?;
            }
            token::NORMAL_SUBSTITUTION | token::OPTIONAL_SUBSTITUTION if t & token::MORE == 0 => {
                c.bytes(3)?;
            }
            _ => return None,
        }
    }
    out.extend_from_slice(data.get(copied..end)?);
    Some(())
}

/// Whether `name` is read by the event classifier: a name of one of the fields
/// [`crate::cim::classify_event`] looks at ([`CLASSIFYING_FIELDS`]).
fn classifies(name: &str) -> bool {
    CLASSIFYING_FIELDS
        .iter()
        .any(|f| f.names().iter().any(|n| n.matches(name)))
}

/// A little-endian reader over the chunk, bounds-checked: `None` past the end.
pub(super) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A reader of `data` from byte `pos`.
    pub(super) fn at(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }
    fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes(2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_le_bytes)
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    }
}

/// The name stored at `offset` (MS-EVEN6 §2.2.4: the next name's offset, 4 bytes; a
/// hash, 2; a character count, 2; the UTF-16 characters; and the 2 bytes of a NUL, which
/// the crate reads too): the next offset and the characters. `None` unless all of it
/// is in `data`. The one reading of a name's layout, for the string table
/// ([`super::collapse`]), the names a definition refers to ([`content`]) and those it
/// stores in place.
pub(super) fn name_entry(data: &[u8], offset: usize) -> Option<(u32, &[u8])> {
    let mut c = Cursor::at(data, offset);
    let next = c.u32()?;
    c.bytes(2)?;
    let count = c.u16()?;
    let chars = c.bytes(usize::from(count) * 2)?;
    c.bytes(2)?;
    Some((next, chars))
}

/// A name in the chunk's string table at `offset` ([`name_entry`]): `None` unless it
/// is a plain XML name (ASCII letters, digits, `_`, `-`, `.`, `:`; not starting with a
/// digit, `-` or `.`), which renders and parses as itself.
fn name_at(data: &[u8], offset: u32) -> Option<String> {
    let name = exact_text(name_entry(data, offset as usize)?.1)?;
    let first = name.bytes().next()?;
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    (plain && !first.is_ascii_digit() && first != b'-' && first != b'.').then_some(name)
}

/// [`safe_text`] of all of `utf16`: `None` if it holds a NUL (which the crate may
/// render, where a value's text ends at it).
fn exact_text(utf16: &[u8]) -> Option<String> {
    let text = safe_text(utf16)?;
    (text.len() * 2 == utf16.len()).then_some(text)
}

/// UTF-16LE text up to its first NUL, when every unit is printable ASCII that XML
/// writes as itself (no `&<>"'`): then the crate's rendering and our XML reader's
/// reading give back exactly these characters.
fn safe_text(utf16: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(utf16.len() / 2);
    push_safe_text(utf16, &mut s)?;
    Some(s)
}

/// [`safe_text`], appended to `out` (partly, when `None`).
fn push_safe_text(utf16: &[u8], out: &mut String) -> Option<()> {
    for &unit in utf16.as_chunks::<2>().0 {
        let c = u16::from_le_bytes(unit);
        if c == 0 {
            break;
        }
        let b = u8::try_from(c).ok()?;
        if !(0x20..0x7f).contains(&b) || b"&<>\"'".contains(&b) {
            return None;
        }
        out.push(char::from(b));
    }
    Some(())
}

/// Reads a name reference at the cursor (an offset, and the name itself when it is
/// stored right there) and returns the name, with whether it may put `schtasks` or an
/// `&` in the rendered record ([`crate::cim::connection_may_matter`], asked once per
/// name and chunk).
fn read_name(c: &mut Cursor<'_>, names: &mut Names) -> Option<(Rc<str>, bool)> {
    let offset = c.u32()?;
    if c.pos == offset as usize {
        c.bytes(6)?;
        let len = c.u16()?;
        c.bytes(usize::from(len) * 2 + 2)?;
    }
    let data = c.data;
    names
        .entry(offset)
        .or_insert_with(|| {
            name_at(data, offset).map(|n| {
                let may_name = crate::cim::connection_may_matter(n.as_bytes());
                (Rc::from(n), may_name)
            })
        })
        .clone()
}

/// The names read in one chunk, by offset (a chunk's templates share its string
/// table: every `<Data>` names `Data` and `Name` at the same two offsets).
type Names = std::collections::HashMap<u32, Option<(Rc<str>, bool)>, OffsetHash>;

/// Hashes a chunk offset with one multiplication (Fibonacci hashing): the keys are
/// offsets in one 64 KiB chunk, not chosen by anyone who gains from collisions that
/// the standard SipHash would stop (a crafted chunk holds at most a few thousand
/// names).
type OffsetHash = std::hash::BuildHasherDefault<OffsetHasher>;

/// The [`std::hash::Hasher`] of [`OffsetHash`].
#[derive(Default)]
struct OffsetHasher(u64);

impl std::hash::Hasher for OffsetHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Where the walk of a definition is, for the `<System>` part.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    /// In an attribute of the element on top of the stack; `Some(i)`: the one that
    /// feeds field `i`.
    Attribute(Option<usize>),
    /// In the content of the element on top of the stack.
    Content,
}

/// Parses the template definition at `offset` of the chunk: `None` when it is not a
/// plain element tree this module can follow.
fn definition(data: &[u8], offset: u32, outer: bool, names: &mut Names) -> Option<Definition> {
    let mut c = Cursor {
        data,
        pos: offset as usize,
    };
    c.bytes(20)?;
    let size = c.u32()? as usize;
    let end = (offset as usize)
        .checked_add(DEFINITION_HEADER)?
        .checked_add(size)?;
    if end > data.len() {
        return None;
    }
    let mut def = Definition {
        fields: Vec::new(),
        tokens: 0,
        output: 0,
        max_uses: 0,
        may_name: false,
        system_values: Vec::new(),
        names_from_values: false,
        may_end_word: false,
    };
    // Whether the attribute being read is a `Name` (any prefix).
    let mut in_name = false;
    let mut uses: Vec<u64> = Vec::new();
    // Element names from the root; the field each open element feeds, if any.
    let mut stack: Vec<(Rc<str>, Option<usize>, Option<u16>)> = Vec::new();
    let mut at = At::Content;
    // Whether the first `<System>` under the root was seen, and has ended.
    let (mut in_system, mut system_done) = (false, false);
    while c.pos < end {
        let t = c.u8()?;
        def.tokens += 1;
        match t & !token::MORE {
            token::EOF if t == token::EOF => break,
            token::FRAGMENT_HEADER if t == token::FRAGMENT_HEADER => {
                c.bytes(3)?;
            }
            token::OPEN_START_ELEMENT => {
                let dependency = c.u16()?;
                c.u32()?;
                let (name, may_name) = read_name(&mut c, names)?;
                def.may_name |= may_name;
                if t & token::MORE != 0 {
                    c.u32()?;
                }
                // The XML reader compares local names: a prefix is not followed here.
                if name.contains(':') || stack.len() >= MAX_DEPTH {
                    return None;
                }
                def.output += 2 * name.len() as u64 + 8;
                let depth = stack.len() + 1;
                if outer && depth == 1 && &*name != "Event" {
                    return None;
                }
                let mut feeds = None;
                let dependency = (dependency != NO_DEPENDENCY).then_some(dependency);
                if outer && depth == 2 && &*name == "System" && !system_done {
                    // A `<System>` that a NULL could leave out is not followed.
                    if dependency.is_some() {
                        return None;
                    }
                    in_system = true;
                }
                if in_system && depth == 3 {
                    // A System child: the field named after it, and the one its
                    // attribute feeds (the XML reader's `system_attributes`).
                    if classifies(&name) {
                        feeds = Some(def.fields.len());
                    }
                } else if in_system && depth > 3 {
                    // Nested content of a classifying field is not followed.
                    if stack.get(2).is_some_and(|(_, f, _)| f.is_some()) {
                        return None;
                    }
                }
                stack.push((name, feeds, dependency));
                at = At::Attribute(None);
                in_name = false;
            }
            token::ATTRIBUTE => {
                let (name, may_name) = read_name(&mut c, names)?;
                in_name = name
                    .strip_suffix("Name")
                    .is_some_and(|p| p.is_empty() || p.ends_with(':'));
                // The XML reader compares local names (`x:Name` is `Name`): a prefix in
                // `<System>` is not followed.
                if in_system && name.contains(':') {
                    return None;
                }
                def.may_name |= may_name;
                def.output += name.len() as u64 + 4;
                let (element, _, dependency) = stack.last()?;
                let dependency = *dependency;
                let field = match (&**element, &*name) {
                    ("Provider", "Name") => Some("Provider"),
                    ("TimeCreated", "SystemTime") => Some("TimeCreated"),
                    ("Security", "UserID") => Some("UserID"),
                    _ => None,
                };
                let mut feeds = None;
                if in_system && stack.len() == 3 {
                    if let Some(field) = field.filter(|f| classifies(f)) {
                        // The attribute's field comes before the element's own.
                        let own = stack.last().and_then(|(_, f, _)| *f);
                        let at_index = own.unwrap_or(def.fields.len());
                        def.fields.insert(
                            at_index,
                            SystemField {
                                name: field.to_owned(),
                                value: Vec::new(),
                                dependency,
                            },
                        );
                        if let Some((_, f, _)) = stack.last_mut() {
                            *f = own.map(|i| i + 1);
                        }
                        feeds = Some(at_index);
                    }
                }
                at = At::Attribute(feeds);
            }
            token::CLOSE_START_ELEMENT if t == token::CLOSE_START_ELEMENT => {
                at = At::Content;
                in_name = false;
                if in_system && stack.len() == 3 {
                    if let Some((name, Some(i), dependency)) = stack.last() {
                        def.fields.insert(
                            *i,
                            SystemField {
                                name: name.to_string(),
                                value: Vec::new(),
                                dependency: *dependency,
                            },
                        );
                    }
                }
            }
            token::CLOSE_EMPTY_ELEMENT | token::END_ELEMENT if t & token::MORE == 0 => {
                // `<X/>`: no field of its own (the XML reader reads an empty element's
                // attributes only).
                stack.pop();
                if stack.len() == 1 && in_system {
                    in_system = false;
                    system_done = true;
                }
                at = At::Content;
                in_name = false;
            }
            token::VALUE => {
                if c.u8()? != ty::STRING {
                    return None;
                }
                let len = c.u16()?;
                let raw = c.bytes(usize::from(len) * 2)?;
                def.output += 3 * raw.len() as u64;
                def.may_name |= utf16_may_name(raw);
                def.may_end_word |= literal_may_end_word(raw);
                if let Some(i) = feeding(at, &stack, in_system) {
                    let text = exact_text(raw)?;
                    def.fields.get_mut(i)?.value.push(Piece::Text(text));
                }
            }
            token::NORMAL_SUBSTITUTION | token::OPTIONAL_SUBSTITUTION if t & token::MORE == 0 => {
                let index = c.u16()?;
                c.u8()?;
                let i = usize::from(index);
                if uses.len() <= i {
                    uses.resize(i + 1, 0);
                }
                if let Some(n) = uses.get_mut(i) {
                    *n += 1;
                }
                if let Some(f) = feeding(at, &stack, in_system) {
                    def.fields.get_mut(f)?.value.push(Piece::Value(index));
                }
                // `<Provider Name=>` in `<System>` is a value (the field `Provider`).
                if in_name && !in_system && matches!(at, At::Attribute(_)) {
                    def.names_from_values = true;
                }
                // A value in `<System>`, or before it under the root, could render
                // elements (BinXML) the XML reader would read there: noted.
                if outer && (in_system || !system_done) {
                    def.system_values.push(index);
                }
            }
            // CDATA, character and entity references, processing instructions, a
            // nested template instance: not followed.
            _ => return None,
        }
    }
    if !stack.is_empty() || (outer && !system_done) {
        return None;
    }
    def.max_uses = uses.into_iter().max().unwrap_or(0);
    Some(def)
}

/// The field the token at `at` feeds, if any: an attribute's (when it feeds one) or
/// the content of a classifying System child.
fn feeding(
    at: At,
    stack: &[(Rc<str>, Option<usize>, Option<u16>)],
    in_system: bool,
) -> Option<usize> {
    if !in_system {
        return None;
    }
    match at {
        At::Attribute(f) => f,
        At::Content if stack.len() == 3 => stack.last().and_then(|(_, f, _)| *f),
        At::Content => None,
    }
}

/// One substitution value of a record: its type and bytes.
#[derive(Clone, Copy)]
struct Value<'a> {
    ty: u8,
    bytes: &'a [u8],
}

/// Whether UTF-16LE text may render with `schtasks` (ASCII case ignored) or an `&` in
/// it: it holds `schtasks`, or a character XML escapes (`&<>"'`). Other characters
/// render as themselves, `_` (C0 controls) or non-ASCII UTF-8, none of which spells
/// either.
fn utf16_may_name(utf16: &[u8]) -> bool {
    const WORD: &[u8; 8] = b"schtasks";
    let unit = |i: usize| {
        utf16
            .get(2 * i..2 * i + 2)
            .and_then(|u| u.try_into().ok())
            .map_or(0, u16::from_le_bytes)
    };
    let lower = |c: u16| u8::try_from(c).map_or(0, |b| b.to_ascii_lowercase());
    let units = utf16.len() / 2;
    (0..units).any(|i| {
        let c = unit(i);
        matches!(c, 0x26 | 0x3c | 0x3e | 0x22 | 0x27)
            // `k` is rare in event text and is the word's 7th letter.
            || (lower(c) == b'k'
                && i >= 6
                && WORD
                    .iter()
                    .enumerate()
                    .all(|(j, &w)| lower(unit(i - 6 + j)) == w))
    })
}

/// [`utf16_may_name`] for ANSI text (Windows-1252: ASCII bytes are themselves).
fn ansi_may_name(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| b"<>\"'".contains(b)) || crate::cim::connection_may_matter(bytes)
}

/// The size a value of type `ty` must have for the crate to read exactly `size` bytes
/// as a plain scalar (so that the next value starts where this module thinks);
/// `false` for arrays, BinXML, handles and anything else.
fn plain_value(ty: u8, bytes: &[u8]) -> bool {
    let size = bytes.len();
    match ty {
        ty::NULL | ty::ANSI_STRING | ty::BINARY => true,
        ty::STRING => size.is_multiple_of(2),
        ty::INT8..=ty::UINT64 => size == 1 << ((ty - ty::INT8) / 2),
        ty::REAL32 | ty::BOOL | ty::HEX_INT32 => size == 4,
        ty::REAL64 | ty::FILETIME | ty::HEX_INT64 => size == 8,
        ty::GUID | ty::SYSTIME => size == 16,
        ty::SIZE_T => size == 4 || size == 8,
        // Revision, count, 6-byte authority, `count` 4-byte sub-authorities.
        ty::SID => bytes
            .get(1)
            .is_some_and(|&n| size == 8 + 4 * usize::from(n)),
        _ => false,
    }
}

/// Appends a value as the crate renders it, for the types whose rendering is certain
/// here (integers in decimal, hexadecimal integers, plain ASCII strings); `None`
/// otherwise, NULL included.
fn render(value: Value<'_>, out: &mut String) -> Option<()> {
    use std::fmt::Write;
    let b = value.bytes;
    let le = |n: usize| -> Option<u64> {
        let mut x = [0u8; 8];
        x.get_mut(..n)?.copy_from_slice(b.get(..n)?);
        Some(u64::from_le_bytes(x))
    };
    match value.ty {
        // An empty string may be left out like a NULL (an optional substitution).
        ty::STRING => {
            let before = out.len();
            push_safe_text(b, out)?;
            if out.len() == before {
                return None;
            }
        }
        0x03 => write!(out, "{}", le(1)? as u8 as i8).ok()?,
        0x04 => write!(out, "{}", le(1)?).ok()?,
        0x05 => write!(out, "{}", le(2)? as u16 as i16).ok()?,
        0x06 => write!(out, "{}", le(2)?).ok()?,
        0x07 => write!(out, "{}", le(4)? as u32 as i32).ok()?,
        0x08 => write!(out, "{}", le(4)?).ok()?,
        0x09 => write!(out, "{}", le(8)? as i64).ok()?,
        0x0a => write!(out, "{}", le(8)?).ok()?,
        ty::HEX_INT32 => write!(out, "0x{:x}", le(4)?).ok()?,
        ty::HEX_INT64 => write!(out, "0x{:x}", le(8)?).ok()?,
        _ => return None,
    }
    Some(())
}

/// The kind of a record from its classifying fields' texts, as the XML reader would
/// read them (rendered as the crate renders them), by the one classifier; `None` when
/// a text cannot be rendered here with certainty. `values`: the record's outer
/// instance's values (type, offset, size in `data`); `text` and `fields`: scratch.
fn classify(
    def: &Definition,
    values: &[(u8, usize, usize)],
    data: &[u8],
    text: &mut String,
    fields: &mut Fields,
) -> Option<EventKind> {
    fields.clear();
    for field in &def.fields {
        if field.left_out(values) {
            continue;
        }
        text.clear();
        for piece in &field.value {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Value(i) => {
                    let &(t, at, len) = values.get(usize::from(*i))?;
                    let bytes = data.get(at..at + len)?;
                    render(Value { ty: t, bytes }, text)?;
                }
            }
        }
        fields.begin(&field.name);
        fields.value_text().push_str(text);
        fields.end();
    }
    Some(fields.event_kind())
}

/// What [`ChunkSkips::record`] says of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Its `<System>` says another event: count it, do not render it.
    Skip,
    /// Render and read it in full.
    Render,
    /// A process creation none of whose values can spell `schtasks.exe`, the first of
    /// its shape in this pass: render and read it in full, and tell
    /// [`ChunkSkips::tallied`] how the judge counts it.
    Exemplar(u16),
    /// A process creation of the same shape as an exemplar, none of whose values can
    /// spell `schtasks.exe`: the judge counts it as it counts the exemplar (see
    /// [`ChunkSkips::shape_key`] for why); do not render it.
    Count(u16),
}

impl Verdict {
    /// Whether the record is not rendered: a run of such records can be folded.
    pub(super) fn unrendered(self) -> bool {
        matches!(self, Verdict::Skip | Verdict::Count(_))
    }
}

/// Shapes remembered per chunk pass ([`Verdict::Exemplar`]).
const MAX_SHAPES: usize = 64;
/// Definitions, shapes and kinds remembered across chunks (a real log has a few dozen
/// of each), and the bytes of their keys (a real log's definitions are a few KiB
/// each): a crafted chunk, whose names can make a definition's content far larger
/// than its body, must not make memory grow with the input ([`Memo`]).
const MAX_CONTENTS: usize = 4096;
const MAX_CONTENT_BYTES: usize = 16 << 20;
/// The most bytes of definitions' contents one chunk pass builds (a real chunk's are
/// a few tens of KiB): a crafted chunk's names, referred to many times, cannot make
/// the pass copy and hash much more than the chunk holds. A definition past it is not
/// plain (its records are rendered).
const MAX_PASS_CONTENT: usize = 1 << 20;

/// A map from byte keys to what was learned of them, kept across chunks and bounded
/// in entries and key bytes ([`MAX_CONTENTS`], [`MAX_CONTENT_BYTES`]). Its keys are
/// hashed with `ahash` (random keys per process: a crafted file cannot force
/// collisions).
struct Memo<V> {
    map: std::collections::HashMap<Vec<u8>, V, ahash::RandomState>,
    bytes: usize,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo {
            map: std::collections::HashMap::default(),
            bytes: 0,
        }
    }
}

impl<V> Memo<V> {
    fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key)
    }

    /// Whether `key` fits: one more entry of its length stays within the bounds.
    fn fits(&self, key: &[u8]) -> bool {
        self.map.len() < MAX_CONTENTS && self.bytes.saturating_add(key.len()) <= MAX_CONTENT_BYTES
    }

    /// Inserts `key`, first forgetting everything if it would not fit (for a memo whose
    /// entries only save work: forgetting them changes no result).
    fn insert_forgetting(&mut self, key: &[u8], value: V) {
        if !self.fits(key) {
            self.clear();
        }
        self.insert(key, value);
    }

    fn insert(&mut self, key: &[u8], value: V) {
        self.bytes = self.bytes.saturating_add(key.len());
        self.map.insert(key.to_vec(), value);
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }
}
/// The word a value must not help spell for its record to be counted like an
/// exemplar (what [`crate::detection::may_name_schtasks`] looks for at the end of an
/// image value).
const WORD: &[u8; 12] = b"schtasks.exe";

/// The class of a value's rendered text in a record's shape ([`ChunkSkips::shape_key`]):
/// 0 empty, 1 spaces and tabs, 2 other ASCII whitespace (blank: `trim_ascii` leaves
/// nothing), 3 spaces, tabs and quotes (junk that `may_name_schtasks` trims, not
/// blank), 4 anything else. `None` when a field text could end in `schtasks.exe`
/// through it ([`may_end_word`]). `chars(i)`: the `i`th character as the XML reader
/// reads it back, lowercased ASCII (anything else as 0xff); `n` of them.
fn text_class(n: usize, chars: impl Fn(usize) -> u8) -> Option<u8> {
    if n == 0 {
        return Some(0);
    }
    // Nearly every value: its first character is neither blank nor junk.
    if !matches!(chars(0), b' ' | b'\t' | b'\n' | b'\r' | b'"') {
        return (!may_end_word(n, chars)).then_some(4);
    }
    let all = |set: &[u8]| (0..n).all(|i| set.contains(&chars(i)));
    if all(b" \t") {
        Some(1)
    } else if all(b" \t\n\r") {
        Some(2)
    } else if all(b" \t\"") {
        Some(3)
    } else if may_end_word(n, chars) {
        None
    } else {
        Some(4)
    }
}

/// Whether a field text could end in `schtasks.exe` (once its trailing spaces, tabs
/// and quotes are trimmed, as [`crate::detection::may_name_schtasks`] reads it) at this
/// text of `n` characters (`chars` as in [`text_class`]), whatever comes before it in
/// the field (the XML reader joins all the texts under a field's element): its last 12
/// characters that are not trailing junk spell the word, or all of them (fewer) are
/// the word's end. A text that cannot cannot help spell the word at all, as long as
/// the word cannot end in a literal text after it either (see
/// `Definition::may_end_word`): the word's 12 characters, none junk, would end in a
/// later piece, which is this text or literal text.
fn may_end_word(n: usize, chars: impl Fn(usize) -> u8) -> bool {
    let junk = |c: u8| matches!(c, b' ' | b'\t' | b'"');
    let trimmed = (0..n).rev().find(|&i| !junk(chars(i))).map_or(0, |i| i + 1);
    let k = trimmed.min(WORD.len());
    k > 0 && (0..k).all(|j| WORD.get(WORD.len() - k + j) == Some(&chars(trimmed - k + j)))
}

/// [`may_end_word`] of a literal text (UTF-16LE), as the crate renders it (all of it:
/// a literal's NUL is rendered as `_`, which spells nothing).
fn literal_may_end_word(utf16: &[u8]) -> bool {
    let units = utf16.as_chunks::<2>().0;
    may_end_word(units.len(), |i| {
        units
            .get(i)
            .map_or(0xff, |u| rendered_char(u16::from_le_bytes(*u)))
    })
}

/// A UTF-16 unit as the XML reader reads it back after the crate renders it,
/// lowercased when ASCII (0xff for anything else): tab, LF and CR as themselves, other
/// C0 controls as `_`.
fn rendered_char(c: u16) -> u8 {
    match c {
        0x09 | 0x0a | 0x0d => c as u8,
        0x00..=0x1f => b'_',
        0x20..=0x7e => (c as u8).to_ascii_lowercase(),
        _ => 0xff,
    }
}

/// Where the first NUL of UTF-16 text is (its length when it has none): 16 units at a
/// time (the compiler vectorizes the test of a block), then the block that has one.
fn first_nul(units: &[[u8; 2]]) -> usize {
    let (blocks, _) = units.as_chunks::<16>();
    let nul = |u: &[u8; 2]| u[0] | u[1] == 0;
    let clean = blocks
        .iter()
        .take_while(|b| !b.iter().fold(false, |any, u| any | nul(u)))
        .count();
    let from = clean * 16;
    units
        .get(from..)
        .and_then(|rest| rest.iter().position(nul))
        .map_or(units.len(), |i| from + i)
}

/// The class of a value in a record's shape ([`text_class`]), from its type and bytes
/// as the crate renders them (evtx 0.15.1 `ValueRenderer::write_value_text`): UTF-16 up
/// to its first NUL, C0 controls other than tab, LF and CR as `_`; ANSI when it is
/// ASCII without NUL; decimal integers; `0x` and lowercase hexadecimal; GUIDs in braces;
/// times ending in `Z`; SIDs ending in a digit. 5 for a BinXML value (its definition is
/// in the key). `None` for other types (arrays are not plain; reals and binary are not
/// followed).
fn value_class(ty: u8, bytes: &[u8]) -> Option<u8> {
    match ty {
        ty::NULL => Some(0),
        ty::BIN_XML => Some(5),
        ty::STRING => {
            let units = bytes.as_chunks::<2>().0;
            let n = first_nul(units);
            let unit = |i: usize| {
                units
                    .get(i)
                    .map_or(0xff, |u| rendered_char(u16::from_le_bytes(*u)))
            };
            text_class(n, unit)
        }
        ty::ANSI_STRING if bytes.is_ascii() && !bytes.contains(&0) => {
            let byte = |i: usize| bytes.get(i).map_or(0xff, |&b| rendered_char(u16::from(b)));
            text_class(bytes.len(), byte)
        }
        // None of these renderings ends in any end of `schtasks.exe`: a hexadecimal
        // one ends in `e` only after a digit or `0x` (`0xe` is not `exe`).
        ty::INT8..=ty::UINT64
        | ty::SIZE_T
        | ty::GUID
        | ty::FILETIME
        | ty::SYSTIME
        | ty::SID
        | ty::HEX_INT32
        | ty::HEX_INT64 => Some(4),
        _ => None,
    }
}

/// A plain definition met in a chunk pass.
struct Met {
    def: Rc<Definition>,
    /// Its content's number in the scan ([`content`]).
    id: u32,
    /// Whether the crate parsed that content in an earlier pass ([`ChunkSkips::prove`]).
    proven: bool,
}

/// The skip decisions and the budget bound of one pass over one chunk.
#[derive(Default)]
pub(super) struct ChunkSkips {
    /// Definitions met in this chunk pass: offset, whether read as a record's outer
    /// template (with `<System>`), and what it is (`None`: not plain).
    definitions: Vec<(u32, bool, Option<Met>)>,
    /// The names read in this chunk pass: by the definitions parsed here, and the
    /// offsets of those the definitions met refer to ([`content`]).
    names: Names,
    name_offsets: Vec<u32>,
    /// The outer definition of the record being decided (an index in `definitions`).
    outer: usize,
    /// Bounds of what the pass spends in the crate, over every record so far.
    nodes: u64,
    output: u64,
    /// Records skipped so far.
    skipped: u64,
    /// Tests only: vouch for no chunk ([`ChunkSkips::tight`]).
    tight: bool,
    values: Vec<(u8, usize, usize)>,
    /// The key of the record being decided (its outer definition's content number
    /// and the raw bytes of the values its classifying fields read), and the kinds of
    /// the keys met in the scan (`None`: a text this module cannot render), forgotten
    /// with the contents.
    raw_key: Vec<u8>,
    kinds: Memo<Option<EventKind>>,
    /// The last record's key and kind (forgotten with the contents).
    last_key: Vec<u8>,
    last_kind: Option<Option<EventKind>>,
    /// One classifying field's rendered text (scratch).
    key: String,
    /// Whether the definitions of the record being decided may render with
    /// `schtasks` or an `&` in them.
    may_name: bool,
    fields: Fields,
    /// The definitions (offsets) the record being decided uses, at any depth.
    used: Vec<u32>,
    /// Whether the record being decided could be bounded (a plain instance).
    sure: bool,
    /// The record's values at every depth, in the crate's reading order (type,
    /// offset, size): read only for a process creation's shape, a connection's
    /// strings and whether its ANSI strings are ASCII.
    all: Vec<(u8, usize, usize)>,
    /// Whether one of them is an ANSI string.
    ansi: bool,
    /// Whether a definition the record uses names a field by a value, or has literal
    /// text a field may end in `schtasks.exe` at.
    named_by_value: bool,
    /// The shape key of the record being decided ([`ChunkSkips::shape_key`]), and the
    /// shapes of this pass with how the judge counted their exemplar (`None`: not yet
    /// known; `Some(None)`: it asked a verdict, or could not be read).
    shape: Vec<u8>,
    shapes: Vec<(Vec<u8>, Option<Option<Tally>>)>,
    /// The definitions (indices in `definitions`) the record being decided uses, in
    /// reading order.
    used_defs: Vec<usize>,
    /// A definition's content (scratch).
    content: Vec<u8>,
    /// Kept across chunks (a log's chunks hold the same few definitions): each
    /// definition's [`content`] and its number, the definition parsed from it (as a
    /// record's outer template or not; `None`: not plain), and how the judge counted
    /// the exemplar of each shape keyed by those numbers. Emptied together, between
    /// chunks, past [`MAX_CONTENTS`].
    contents: Memo<u32>,
    /// Whether a content was refused in this pass for want of room: `contents` is
    /// emptied before the next.
    contents_full: bool,
    /// The bytes of contents built in this pass ([`MAX_PASS_CONTENT`]).
    pass_content: usize,
    parsed: Vec<Parsed>,
    tallies: Memo<Tally>,
}

/// What is known of one content ([`content`]) in the scan: the definition parsed from
/// it as a record's outer template and as a nested one (`None`: not parsed yet;
/// `Some(None)`: not plain), and whether the crate parsed it without error in an
/// earlier pass ([`ChunkSkips::prove`]).
#[derive(Default)]
struct Parsed {
    outer: Option<Option<Rc<Definition>>>,
    nested: Option<Option<Rc<Definition>>>,
    proven: bool,
}

impl ChunkSkips {
    /// Forgets the previous chunk (its definitions are at other offsets).
    pub(super) fn reset(&mut self) {
        self.definitions.clear();
        self.names.clear();
        self.name_offsets.clear();
        self.pass_content = 0;
        self.shapes.clear();
        // The contents' numbers are in the keys of tallies and kinds: all go together,
        // between chunks (never while a pass holds numbers).
        if self.contents_full {
            self.contents.clear();
            self.contents_full = false;
            self.parsed.clear();
            self.tallies.clear();
            self.kinds.clear();
            self.last_kind = None;
        }
        self.nodes = 0;
        self.output = 0;
        self.skipped = 0;
    }

    /// How many definitions' contents the scan knows (tests).
    #[cfg(test)]
    pub(super) fn contents_known(&self) -> usize {
        self.contents.len()
    }

    /// Whether a record was skipped in this pass.
    pub(super) fn skipped_any(&self) -> bool {
        self.skipped > 0
    }

    /// Whether the pass stayed within what the crate's chunk budget can never refuse:
    /// if not, and a record was skipped, the chunk must be read again in full.
    pub(super) fn within_budget(&self) -> bool {
        self.nodes <= CHUNK_NODES_SAFE && self.output <= CHUNK_OUTPUT_SAFE
    }

    /// For tests: every chunk with a skipped record is read again in full (the path a
    /// crafted chunk takes).
    #[cfg(test)]
    pub(super) fn tight() -> Self {
        ChunkSkips {
            tight: true,
            ..ChunkSkips::default()
        }
    }

    /// A record that failed to build or render, or that this module cannot bound: it
    /// is charged all a record may spend.
    pub(super) fn unsure(&mut self) {
        self.nodes = self.nodes.saturating_add(RECORD_NODES);
        self.output = self.output.saturating_add(RECORD_OUTPUT);
    }

    /// Whether the pass must be read again in full: a record was skipped, and the pass
    /// may have spent more than the crate's chunk budget can always grant.
    pub(super) fn must_redo(&self) -> bool {
        self.skipped_any() && (self.tight || !self.within_budget())
    }

    /// A rendered record's actual output, in place of its bound.
    pub(super) fn rendered(&mut self, bound: u64, actual: usize) {
        self.output = self
            .output
            .saturating_sub(bound)
            .saturating_add(actual as u64);
    }

    /// Decides about the record whose BinXML is `data[offset..offset + size]` (the
    /// chunk's bytes) and adds its bound to the pass. Returns the verdict and the
    /// output bound charged for it (for [`ChunkSkips::rendered`]).
    pub(super) fn record(&mut self, data: &[u8], offset: u64, size: u32) -> (Verdict, u64) {
        self.values.clear();
        self.used.clear();
        self.used_defs.clear();
        self.all.clear();
        self.ansi = false;
        self.may_name = false;
        self.named_by_value = false;
        self.sure = false;
        let Some((nodes, output)) = self.instance_bound(data, offset, size, 0) else {
            self.unsure();
            return (Verdict::Render, RECORD_OUTPUT);
        };
        if nodes > RECORD_NODES / 2 || output > RECORD_OUTPUT / 2 {
            self.unsure();
            return (Verdict::Render, RECORD_OUTPUT);
        }
        self.sure = true;
        self.nodes = self.nodes.saturating_add(nodes);
        self.output = self.output.saturating_add(output);
        if !self.within_budget() {
            return (Verdict::Render, output);
        }
        let Some((_, _, Some(Met { def, id, .. }))) = self.definitions.get(self.outer) else {
            return (Verdict::Render, output);
        };
        let elements_in_system = def.system_values.iter().any(|&i| {
            self.values
                .get(usize::from(i))
                .is_some_and(|&(t, _, _)| t == ty::BIN_XML)
        });
        if elements_in_system {
            return (Verdict::Render, output);
        }
        // The key of the kind in the scan: the definition's content and the raw bytes
        // of the values its classifying fields read (or that a field is left out).
        // The same key renders the same texts, so it classifies the same, or fails to
        // render the same: the texts are rendered only for a key not met yet.
        self.raw_key.clear();
        self.raw_key.extend_from_slice(&id.to_le_bytes());
        // Markers no value type uses (a plain type is below 0x80), so that keys are
        // prefix-free.
        for field in &def.fields {
            self.raw_key.push(0xf1);
            if field.left_out(&self.values) {
                self.raw_key.push(0xf2);
                continue;
            }
            for piece in &field.value {
                let Piece::Value(i) = piece else { continue };
                let value = self
                    .values
                    .get(usize::from(*i))
                    .and_then(|&(t, at, len)| Some((t, data.get(at..at + len)?)));
                match value {
                    Some((t, bytes)) => {
                        self.raw_key.push(t);
                        self.raw_key
                            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                        self.raw_key.extend_from_slice(bytes);
                    }
                    None => self.raw_key.push(0xf3),
                }
            }
        }
        // Records of one kind come in runs: the last key is compared first.
        let kind = match self.last_kind {
            Some(kind) if self.last_key == self.raw_key => kind,
            _ => match self.kinds.get(&self.raw_key) {
                Some(&kind) => kind,
                None => {
                    let kind = classify(def, &self.values, data, &mut self.key, &mut self.fields);
                    self.kinds.insert_forgetting(&self.raw_key, kind);
                    kind
                }
            },
        };
        self.last_kind = Some(kind);
        std::mem::swap(&mut self.last_key, &mut self.raw_key);
        let Some(kind) = kind else {
            return (Verdict::Render, output);
        };
        // A connection the XML reader would stop reading after `<System>` (its rendered
        // bytes fail `connection_may_matter`) comes to the same as another event.
        if kind == EventKind::Other || (kind == EventKind::Connection && !self.may_name(data)) {
            self.skipped += 1;
            return (Verdict::Skip, output);
        }
        if kind == EventKind::ProcessCreation {
            if let Some(verdict) = self.shape_verdict(data) {
                return (verdict, output);
            }
        }
        (Verdict::Render, output)
    }

    /// A process creation's verdict by its shape ([`ChunkSkips::shape_key`]): the
    /// first of a shape is an exemplar, the next ones are counted like it unless it
    /// turned out to need a verdict. `None`: render it.
    fn shape_verdict(&mut self, data: &[u8]) -> Option<Verdict> {
        self.shape_key(data)?;
        let i = match self.shapes.iter().position(|(k, _)| *k == self.shape) {
            Some(i) => i,
            None if self.shapes.len() < MAX_SHAPES => {
                // Counted in an earlier chunk: no exemplar needed here.
                let known = self.tallies.get(&self.shape).copied();
                self.shapes.push((self.shape.clone(), known.map(Some)));
                let i = u16::try_from(self.shapes.len() - 1).ok()?;
                if known.is_none() {
                    return Some(Verdict::Exemplar(i));
                }
                self.shapes.len() - 1
            }
            None => return None,
        };
        let i16 = u16::try_from(i).ok()?;
        match self.shapes.get(i)?.1 {
            Some(None) => None,
            _ => {
                self.skipped += 1;
                Some(Verdict::Count(i16))
            }
        }
    }

    /// The shape of the process creation being decided, into `self.shape`: the
    /// definitions it uses (offsets, in reading order) and, for each of its values at
    /// every depth, its type and [`value_class`]. `None` when a field could end in
    /// `schtasks.exe` at a value, a definition names a field by a value or has literal
    /// text such a field could end at, or an ANSI string is not ASCII.
    ///
    /// Why two records of one shape are counted alike (issue 14; the judge's rules
    /// are [`crate::replay::PlanCache::tally`]): the crate renders them to the same
    /// elements and attributes (the same definitions; a NULL or an empty value, which
    /// may leave an element or attribute out, in the same places), so the XML reader
    /// reads the same field names (no name comes from a value), so they get the same
    /// plan; `<System>` gives the same kind ([`ChunkSkips::record`] classified both as
    /// process creations). A field's text is its pieces (literal text, values) joined:
    /// blank only when each piece is, and each value is blank or not alike in both
    /// (its class). And no field text can end in `schtasks.exe` at a value
    /// ([`may_end_word`]) nor at a literal text after a value (no definition with
    /// such a literal is followed), so one that does is made of literal text and
    /// empty values alike in both. So what the plan asks (which values are blank,
    /// which image values end in `schtasks.exe`) has the same answers for both.
    fn shape_key(&mut self, data: &[u8]) -> Option<()> {
        if self.named_by_value || !self.last_ansi_is_ascii(data) {
            return None;
        }
        self.shape.clear();
        for i in 0..self.used_defs.len() {
            let d = *self.used_defs.get(i)?;
            let id = self.definition_id(d)?;
            self.shape.extend_from_slice(&id.to_le_bytes());
        }
        for &(t, at, len) in &self.all {
            let class = value_class(t, data.get(at..at + len)?)?;
            self.shape.push(t);
            self.shape.push(class);
        }
        Some(())
    }

    /// The number of the `d`th definition of this pass among the contents met in the
    /// scan ([`content`]).
    fn definition_id(&self, d: usize) -> Option<u32> {
        self.definitions.get(d)?.2.as_ref().map(|met| met.id)
    }

    /// Whether the crate is known to parse every definition the record last decided
    /// uses: its offset is in `built` (definitions of this pass that a record the
    /// crate builds before it uses), or its content was proven in an earlier pass
    /// ([`ChunkSkips::prove`]).
    ///
    /// Why a content stands for the definition in any chunk: the crate (evtx 0.15.1,
    /// `IrTemplateCache::get_or_parse_template_direct`) parses a definition from its
    /// body alone, reading each name reference as the name at that offset (from the
    /// chunk's string cache, or read in place: the same bytes either way, and the 2
    /// bytes of its NUL, which [`content`] requires in the chunk), and skipping a name
    /// stored inline; two definitions of one [`content`] (the body with each reference
    /// replaced by its name) are the same tokens with the same names, so the crate
    /// parses both or neither. (The definition's 24-byte header adds only the body's
    /// size; its GUID is read only for the crate's `wevt_templates` feature, which is
    /// not built.)
    pub(super) fn last_definitions_known(&self, built: &[u32]) -> bool {
        for i in 0..self.used.len() {
            let (Some(&offset), Some(&d)) = (self.used.get(i), self.used_defs.get(i)) else {
                return false;
            };
            if built.contains(&offset) {
                continue;
            }
            let met = self.definitions.get(d).and_then(|(_, _, met)| met.as_ref());
            if !met.is_some_and(|met| met.proven) {
                return false;
            }
        }
        true
    }

    /// Keeps, for the passes after this one, that the crate parsed the definitions at
    /// `offsets` (of this pass) without error: it built, without error, records that
    /// use them.
    pub(super) fn prove(&mut self, offsets: &[u32]) {
        for &offset in offsets {
            let plain = self
                .definitions
                .iter()
                .position(|(o, _, def)| *o == offset && def.is_some());
            let id = plain.and_then(|d| self.definition_id(d));
            if let Some(known) = id.and_then(|id| self.parsed.get_mut(id as usize)) {
                known.proven = true;
            }
        }
    }

    /// How the judge counted the exemplar of shape `i` ([`Verdict::Exemplar`]):
    /// `None` when it asked a verdict of it, or it could not be read.
    pub(super) fn tallied(&mut self, i: u16, tally: Option<Tally>) {
        if let Some((key, t)) = self.shapes.get_mut(usize::from(i)) {
            *t = Some(tally);
            if let Some(tally) = tally {
                self.tallies.insert_forgetting(key, tally);
            }
        }
    }

    /// How the records of shape `i` are counted ([`Verdict::Count`]): `None` when
    /// its exemplar was not counted (they must be read in full).
    pub(super) fn tally_of(&self, i: u16) -> Option<Tally> {
        self.shapes.get(usize::from(i))?.1?
    }
}

impl ChunkSkips {
    /// Whether the record being decided may render with `schtasks` or an `&` in it
    /// (see [`crate::cim::connection_may_matter`]): through its definitions' names and
    /// text, or its string values.
    fn may_name(&self, data: &[u8]) -> bool {
        self.may_name
            || self.all.iter().any(|&(t, at, len)| {
                let text = data.get(at..at + len);
                match t {
                    ty::STRING => text.is_none_or(utf16_may_name),
                    ty::ANSI_STRING => text.is_none_or(ansi_may_name),
                    _ => false,
                }
            })
    }

    /// Whether the record last decided was a plain instance, bounded (not charged as
    /// [`ChunkSkips::unsure`]).
    pub(super) fn last_sure(&self) -> bool {
        self.sure
    }

    /// The definitions (offsets in the chunk) the record last decided uses, its outer
    /// one first, then those of its BinXML values, at any depth.
    pub(super) fn last_definitions(&self) -> &[u32] {
        &self.used
    }

    /// Whether every ANSI string of the record last decided is ASCII, which every
    /// code page the crate may decode it with reads without error (evtx 0.15.1
    /// `decode_ansi_value`; a byte another code page cannot map is an error there).
    pub(super) fn last_ansi_is_ascii(&self, data: &[u8]) -> bool {
        !self.ansi
            || self
                .all
                .iter()
                .filter(|&&(t, _, _)| t == ty::ANSI_STRING)
                .all(|&(_, at, len)| data.get(at..at + len).is_some_and(|b| b.is_ascii()))
    }

    /// How many ranges [`ChunkSkips::read_ranges`] gives.
    pub(super) fn read_range_count(&self) -> usize {
        self.definitions
            .len()
            .saturating_add(self.name_offsets.len())
    }

    /// The byte ranges of the chunk that this pass read definitions and names from:
    /// each definition (its 24-byte header and body) and each name (next offset,
    /// hash, length, characters and the NUL after them). The crate reads these same
    /// bytes for every record that uses them.
    pub(super) fn read_ranges<'a>(
        &'a self,
        data: &'a [u8],
    ) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        let size_at = |at: usize, n: usize| -> usize {
            let mut x = [0u8; 4];
            if let (Some(to), Some(from)) = (x.get_mut(..n), data.get(at..at + n)) {
                to.copy_from_slice(from);
            }
            u32::from_le_bytes(x) as usize
        };
        let definitions = self.definitions.iter().map(move |&(o, _, _)| {
            let o = o as usize;
            o..o.saturating_add(DEFINITION_HEADER + size_at(o + 20, 4))
        });
        let names = self.name_offsets.iter().map(move |&o| {
            let o = o as usize;
            o..o.saturating_add(8 + 2 * size_at(o + 6, 2) + 2)
        });
        definitions.chain(names)
    }

    /// The definition at `offset` (parsed once per chunk pass and kind): its index in
    /// `definitions`, `None` when it is not plain.
    fn definition(&mut self, data: &[u8], offset: u32, outer: bool) -> Option<usize> {
        let i = match self
            .definitions
            .iter()
            .position(|(o, k, _)| *o == offset && *k == outer)
        {
            Some(i) => i,
            None => {
                let def = self.parse(data, offset, outer);
                self.definitions.push((offset, outer, def));
                self.definitions.len() - 1
            }
        };
        self.definitions.get(i)?.2.as_ref().map(|_| i)
    }

    /// The definition at `offset`, parsed once per content and kind in the scan
    /// ([`content`]: the same content parses the same), with its content's number.
    fn parse(&mut self, data: &[u8], offset: u32, outer: bool) -> Option<Met> {
        let limit = MAX_PASS_CONTENT.saturating_sub(self.pass_content);
        let built = content(
            data,
            offset,
            limit,
            &mut self.content,
            &mut self.name_offsets,
        );
        self.pass_content = self.pass_content.saturating_add(self.content.len());
        built?;
        let id = match self.contents.get(&self.content) {
            Some(&id) => id,
            // No room left in this pass: not read here (its records are rendered).
            None if !self.contents.fits(&self.content) => {
                self.contents_full = true;
                return None;
            }
            None => {
                let id = u32::try_from(self.contents.len()).ok()?;
                self.contents.insert(&self.content, id);
                self.parsed.push(Parsed::default());
                id
            }
        };
        let known = self.parsed.get_mut(id as usize)?;
        let slot = if outer {
            &mut known.outer
        } else {
            &mut known.nested
        };
        let def = match slot {
            Some(def) => def.clone(),
            None => slot
                .insert(definition(data, offset, outer, &mut self.names).map(Rc::new))
                .clone(),
        };
        Some(Met {
            def: def?,
            id,
            proven: known.proven,
        })
    }

    /// Bounds what the crate can spend building and rendering the template instance
    /// `data[offset..offset + size]`: nodes and output bytes. Values that are BinXML
    /// (the `<EventData>` of nearly every record is a nested instance) are bounded the
    /// same way, down to [`MAX_NESTING`]. At depth 0, the instance's values are kept in
    /// `self.values` and its definition in `self.outer`. `None`: not a plain instance.
    fn instance_bound(
        &mut self,
        data: &[u8],
        offset: u64,
        size: u32,
        depth: usize,
    ) -> Option<(u64, u64)> {
        if depth > MAX_NESTING {
            return None;
        }
        let (def_offset, values_at, values_end, count) = instance(data, offset, size)?;
        let def = self.definition(data, def_offset, depth == 0)?;
        self.used.push(def_offset);
        if depth == 0 {
            self.outer = def;
        }
        self.used_defs.push(def);
        let (tokens, def_output, uses) = {
            let d = &self.definitions.get(def)?.2.as_ref()?.def;
            self.may_name |= d.may_name;
            self.named_by_value |= d.names_from_values || d.may_end_word;
            (d.tokens, d.output, d.max_uses.max(1))
        };
        let mut at = values_at.checked_add(4 * count)?;
        let descriptors = data.get(values_at..at)?;
        let (mut nodes, mut output) = (0u64, 0u64);
        let mut scalar_bytes = 0u64;
        // Each descriptor: size (u16), type, padding.
        for &[lo, hi, t, _] in descriptors.as_chunks::<4>().0 {
            let len = usize::from(u16::from_le_bytes([lo, hi]));
            let end = at.checked_add(len)?;
            // A value past the record's own bytes is not followed.
            if end > values_end {
                return None;
            }
            let bytes = data.get(at..end)?;
            self.all.push((t, at, len));
            self.ansi |= t == ty::ANSI_STRING;
            if t == ty::BIN_XML {
                let (n, o) = self.instance_bound(data, at as u64, len as u32, depth + 1)?;
                nodes = nodes.saturating_add(n);
                output = output.saturating_add(o);
            } else if plain_value(t, bytes) {
                scalar_bytes += len as u64;
            } else {
                return None;
            }
            if depth == 0 {
                self.values.push((t, at, len));
            }
            at = end;
        }
        // The instance must end its stream (EOF or the end).
        if at != values_end && data.get(at) != Some(&token::EOF) {
            return None;
        }
        // A value placed in several places is built and rendered in each.
        nodes = nodes
            .saturating_mul(uses)
            .saturating_add(NODES_PER_TOKEN * (tokens + count as u64 + 1));
        output = output
            .saturating_mul(uses)
            .saturating_add(def_output)
            .saturating_add(uses * value_output(scalar_bytes, count as u64))
            .saturating_add(RECORD_OVERHEAD);
        Some((nodes, output))
    }
}

/// The single template instance a record's BinXML `data[offset..offset + size]` is:
/// its definition's offset, where its value descriptors start, where the stream ends,
/// and how many values it has. `None` for any other shape.
pub(super) fn instance(data: &[u8], offset: u64, size: u32) -> Option<(u32, usize, usize, usize)> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(size as usize)?;
    if end > data.len() {
        return None;
    }
    let mut c = Cursor {
        data: data.get(..end)?,
        pos: start,
    };
    let mut t = c.u8()?;
    if t == token::FRAGMENT_HEADER {
        c.bytes(3)?;
        t = c.u8()?;
    }
    if t != token::TEMPLATE_INSTANCE {
        return None;
    }
    c.u8()?;
    c.u32()?;
    let def_offset = c.u32()?;
    if c.pos == def_offset as usize {
        // The definition is stored here, on its first use: skip it.
        c.bytes(20)?;
        let len = c.u32()? as usize;
        c.bytes(len)?;
    }
    let count = c.u32()? as usize;
    let values_at = c.pos;
    // Each descriptor is 4 bytes: a count the record cannot hold is no plain instance.
    if count > (end - values_at) / 4 {
        return None;
    }
    Some((def_offset, values_at, end, count))
}

#[cfg(test)]
mod definitions {
    use super::*;

    /// Writes a template definition (MS-EVEN6 §2.2.12: element starts with a
    /// DependencyId, names stored in place) at offset 0 of a buffer.
    struct Def(Vec<u8>);

    impl Def {
        fn name(&mut self, name: &str) {
            let at = self.0.len() as u32 + 4;
            self.0.extend_from_slice(&at.to_le_bytes());
            self.0.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            let units: Vec<u16> = name.encode_utf16().collect();
            self.0
                .extend_from_slice(&(units.len() as u16).to_le_bytes());
            for u in units {
                self.0.extend_from_slice(&u.to_le_bytes());
            }
            self.0.extend_from_slice(&[0, 0]);
        }
        fn open(&mut self, name: &str, attributes: bool, dependency: u16) -> &mut Self {
            self.0.push(if attributes { 0x41 } else { 0x01 });
            self.0.extend_from_slice(&dependency.to_le_bytes());
            self.0.extend_from_slice(&[0; 4]);
            self.name(name);
            if attributes {
                self.0.extend_from_slice(&[0; 4]);
            }
            self
        }
        fn attribute(&mut self, name: &str) -> &mut Self {
            self.0.push(0x06);
            self.name(name);
            self
        }
        fn text(&mut self, text: &str) -> &mut Self {
            let units: Vec<u16> = text.encode_utf16().collect();
            self.0.extend_from_slice(&[0x05, 0x01]);
            self.0
                .extend_from_slice(&(units.len() as u16).to_le_bytes());
            for u in units {
                self.0.extend_from_slice(&u.to_le_bytes());
            }
            self
        }
        fn value(&mut self, index: u16) -> &mut Self {
            self.0.push(0x0d);
            self.0.extend_from_slice(&index.to_le_bytes());
            self.0.push(0x01);
            self
        }
        fn close_start(&mut self) -> &mut Self {
            self.0.push(0x02);
            self
        }
        fn close_empty(&mut self) -> &mut Self {
            self.0.push(0x03);
            self
        }
        fn end(&mut self) -> &mut Self {
            self.0.push(0x04);
            self
        }
    }

    /// `<Event><System><Provider Name=%0/><EventID>%1</EventID>{system}</System>%9</Event>`.
    fn event(system: impl FnOnce(&mut Def)) -> Vec<u8> {
        event_then(system, |d| {
            d.value(9);
        })
    }

    /// [`event`], with `after` writing the `<Event>` content after `<System>`.
    fn event_then(system: impl FnOnce(&mut Def), after: impl FnOnce(&mut Def)) -> Vec<u8> {
        // The header (filled in below), then a fragment header.
        let mut d = Def(vec![0; DEFINITION_HEADER]);
        d.0.extend_from_slice(&[0x0f, 1, 1, 0]);
        d.open("Event", false, NO_DEPENDENCY).close_start();
        d.open("System", false, NO_DEPENDENCY).close_start();
        d.open("Provider", true, NO_DEPENDENCY)
            .attribute("Name")
            .value(0)
            .close_empty();
        d.open("EventID", false, NO_DEPENDENCY)
            .close_start()
            .value(1)
            .end();
        system(&mut d);
        d.end();
        after(&mut d);
        d.end();
        d.0.push(0x00);
        let size = (d.0.len() - DEFINITION_HEADER) as u32;
        d.0[20..24].copy_from_slice(&size.to_le_bytes());
        d.0
    }

    fn fields(def: &Definition) -> Vec<(String, String)> {
        def.fields
            .iter()
            .map(|f| (f.name.clone(), format!("{:?}{:?}", f.value, f.dependency)))
            .collect()
    }

    fn utf16_value(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn a_value_is_classed_by_how_blank_it_reads_and_refused_where_a_field_may_end_in_schtasks_exe()
    {
        let class = |text: &str| value_class(ty::STRING, &utf16_value(text));
        for (text, want) in [
            ("", Some(0)),
            ("\0schtasks.exe", Some(0)),
            (" \t ", Some(1)),
            (" \r\n", Some(2)),
            (" \" ", Some(3)),
            ("cmd.exe", Some(4)),
            (r"C:\Windows\System32\cmd.exe", Some(4)),
            ("schtasks.exe\r", Some(4)),
            ("schtasks.exe\u{1}", Some(4)),
            ("x", Some(4)),
            ("\u{c}", Some(4)),
            (r"C:\Windows\System32\SchTasks.EXE", None),
            ("schtasks.exe \"\t", None),
            ("schtasks.exe\0x", None),
            // A field's earlier pieces could spell the rest of the word.
            ("tasks.exe", None),
            (".exe", None),
            ("e", None),
            ("E \"", None),
        ] {
            assert_eq!(class(text), want, "{text:?}");
        }
        assert_eq!(value_class(ty::ANSI_STRING, b"cmd.exe"), Some(4));
        assert_eq!(value_class(ty::ANSI_STRING, b"SCHTASKS.EXE"), None);
        assert_eq!(value_class(ty::ANSI_STRING, b"cmd\xe9"), None);
        assert_eq!(value_class(ty::HEX_INT32, &0xeu32.to_le_bytes()), Some(4));
        assert_eq!(value_class(ty::REAL64, &[0; 8]), None);
        assert_eq!(value_class(ty::NULL, &[]), Some(0));
    }

    #[test]
    fn definitions_whose_field_names_or_literal_text_could_change_a_count_are_marked() {
        // `<EventData><Data Name=NAME>%5TEXT</Data></EventData>` after `<System>`; no
        // NAME: `Name=%4`.
        let def = |name: Option<&str>, text: &str| {
            let data = event_then(
                |_| {},
                |d| {
                    d.open("EventData", false, NO_DEPENDENCY).close_start();
                    d.open("Data", true, NO_DEPENDENCY).attribute("Name");
                    match name {
                        Some(name) => d.text(name),
                        None => d.value(4),
                    };
                    d.close_start().value(5);
                    if !text.is_empty() {
                        d.text(text);
                    }
                    d.end().end();
                },
            );
            definition(&data, 0, true, &mut Names::default()).unwrap()
        };
        // A literal name and a value, as Sysmon and Security write them (`<Provider
        // Name=%0>` in `<System>` is a value, not a field's name).
        let plain = def(Some("Image"), "");
        assert!(!plain.names_from_values && !plain.may_end_word);
        assert!(def(None, "").names_from_values);
        // A value then the literal end of the word: the value could spell its start.
        assert!(def(Some("Image"), ".EXE").may_end_word);
        assert!(!def(Some("Image"), ".exe x").may_end_word);
    }

    #[test]
    fn contents_far_larger_than_their_bodies_are_refused_and_the_scans_contents_stay_bounded() {
        // A 30,000-character name at offset 0, then a definition whose 40 attributes
        // all refer to it: a 200-byte body whose content would be 2.4 MB.
        let mut data = vec![0u8; 8];
        data[6..8].copy_from_slice(&30_000u16.to_le_bytes());
        data.extend("a".repeat(30_000).encode_utf16().flat_map(u16::to_le_bytes));
        data.extend_from_slice(&[0, 0]);
        let at = data.len();
        data.extend_from_slice(&[0; DEFINITION_HEADER]);
        for _ in 0..40 {
            data.push(token::ATTRIBUTE);
            data.extend_from_slice(&0u32.to_le_bytes());
        }
        data[at + 20..at + 24].copy_from_slice(&200u32.to_le_bytes());
        let (mut out, mut names) = (Vec::new(), Vec::new());
        assert!(content(&data, at as u32, MAX_PASS_CONTENT, &mut out, &mut names).is_none());
        assert!(out.len() <= MAX_PASS_CONTENT + 60_002);
        assert!(content(&data, at as u32, usize::MAX, &mut out, &mut names).is_some());
        // A pass that built its room of contents refuses the next one.
        let mut skips = ChunkSkips::default();
        assert!(skips.parse(&data, at as u32, true).is_none());
        assert!(skips.parse(&event(|_| {}), 0, true).is_none());
        skips.reset();
        assert!(skips.parse(&event(|_| {}), 0, true).is_some());
        // A scan whose contents fill their room refuses new ones until the next pass,
        // which starts with none.
        let event = event(|_| {});
        let mut skips = ChunkSkips::default();
        skips.contents.bytes = MAX_CONTENT_BYTES;
        assert!(skips.parse(&event, 0, true).is_none());
        skips.reset();
        assert_eq!((skips.contents.len(), skips.contents.bytes), (0, 0));
        assert!(skips.parse(&event, 0, true).is_some());
        // A memo that only saves work forgets all to make room.
        let mut kinds: Memo<u8> = Memo::default();
        for i in 0..=MAX_CONTENTS {
            kinds.insert_forgetting(&(i as u32).to_le_bytes(), 0);
        }
        assert_eq!(kinds.len(), 1);
    }

    #[test]
    fn a_definition_has_one_content_wherever_it_and_its_names_are_in_the_chunk() {
        let data = event(|_| {});
        let (mut content1, mut names1) = (Vec::new(), Vec::new());
        content(&data, 0, usize::MAX, &mut content1, &mut names1).unwrap();
        // The same definition 100 bytes further on, its names (stored in it, right
        // after their references: `Def::name`) too.
        let mut moved = vec![0u8; 100];
        moved.extend_from_slice(&data);
        for &name in &names1 {
            let at = 100 + name as usize - 4;
            moved[at..at + 4].copy_from_slice(&(name + 100).to_le_bytes());
        }
        let (mut content2, mut names2) = (Vec::new(), Vec::new());
        content(&moved, 100, usize::MAX, &mut content2, &mut names2).unwrap();
        assert_eq!(content1, content2);
        assert_eq!(names2, names1.iter().map(|n| n + 100).collect::<Vec<_>>());
        let system: Vec<u8> = "System".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(content1.windows(12).any(|w| w == system));
        // Parsed once in the scan: the second chunk's definition is the first's.
        let mut skips = ChunkSkips::default();
        let first = skips.parse(&data, 0, true).unwrap();
        skips.reset();
        let second = skips.parse(&moved, 100, true).unwrap();
        assert!(Rc::ptr_eq(&first.def, &second.def) && first.id == second.id);
        // Another name is another content.
        let mut other = data.clone();
        other[names1[0] as usize + 8] ^= 1;
        content(&other, 0, usize::MAX, &mut content2, &mut names2).unwrap();
        assert_ne!(content1, content2);
    }

    #[test]
    fn a_plain_event_gives_its_classifying_system_fields_in_reading_order() {
        let data = event(|d| {
            d.open("Channel", false, 16)
                .close_start()
                .text("Sec")
                .value(2)
                .end();
            d.open("Computer", false, NO_DEPENDENCY)
                .close_start()
                .value(3)
                .end();
        });
        let def = definition(&data, 0, true, &mut Names::default()).unwrap();
        assert_eq!(
            fields(&def),
            [
                ("Provider".into(), "[Value(0)]None".into()),
                ("EventID".into(), "[Value(1)]None".into()),
                ("Channel".into(), "[Text(\"Sec\"), Value(2)]Some(16)".into()),
            ]
        );
        // The values used in <System> (not %9, after it).
        assert_eq!(def.system_values, [0, 1, 2, 3]);
    }

    #[test]
    fn what_the_xml_reader_would_read_otherwise_is_not_followed() {
        type Case = (&'static str, fn(&mut Def));
        let cases: [Case; 5] = [
            ("a prefixed attribute", |d| {
                d.open("Channel", true, NO_DEPENDENCY)
                    .attribute("x:Name")
                    .value(2)
                    .close_empty();
            }),
            ("a prefixed element", |d| {
                d.open("x:Channel", false, NO_DEPENDENCY)
                    .close_start()
                    .value(2)
                    .end();
            }),
            ("a name that is no XML name", |d| {
                d.open("Chan nel", false, NO_DEPENDENCY)
                    .close_start()
                    .value(2)
                    .end();
            }),
            ("a NUL in literal text", |d| {
                d.open("Channel", false, NO_DEPENDENCY)
                    .close_start()
                    .text("Sec\0x")
                    .end();
            }),
            ("nested content in a classifying field", |d| {
                d.open("Channel", false, NO_DEPENDENCY).close_start();
                d.open("Inner", false, NO_DEPENDENCY)
                    .close_start()
                    .value(2)
                    .end();
                d.end();
            }),
        ];
        for (what, system) in cases {
            assert!(
                definition(&event(system), 0, true, &mut Names::default(),).is_none(),
                "{what}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_text_refuses_markup_and_non_ascii() {
        let utf16 = |s: &str| {
            s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>()
        };
        assert_eq!(
            safe_text(&utf16("Security\0junk")).as_deref(),
            Some("Security")
        );
        assert_eq!(safe_text(&utf16("a&b")), None);
        assert_eq!(safe_text(&utf16("é")), None);
        assert_eq!(safe_text(&utf16("tab\there")), None);
    }

    #[test]
    fn text_may_name_schtasks_in_any_case_or_through_markup() {
        let utf16 = |s: &str| {
            s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>()
        };
        for yes in [
            r"C:\Windows\SchTasks.exe",
            "xSCHTASKSx",
            "a&b",
            "<",
            "\"",
            "'",
        ] {
            assert!(utf16_may_name(&utf16(yes)), "{yes}");
            assert!(ansi_may_name(yes.as_bytes()), "{yes}");
        }
        for no in [
            r"C:\Windows\mshta.exe",
            "schtask",
            "sch\u{0}tasks",
            "schtäsks",
            "",
        ] {
            assert!(!utf16_may_name(&utf16(no)), "{no}");
        }
    }

    #[test]
    fn a_skip_in_a_pass_past_the_safe_budget_asks_for_the_chunk_again() {
        let mut skips = ChunkSkips::default();
        skips.unsure();
        skips.unsure();
        assert!(skips.within_budget() && !skips.must_redo());
        skips.skipped = 1;
        assert!(!skips.must_redo());
        skips.unsure();
        skips.unsure();
        assert!(!skips.within_budget() && skips.must_redo());
        skips.reset();
        assert!(skips.within_budget() && !skips.must_redo());
    }

    #[test]
    fn values_render_as_the_crate_renders_them() {
        let mut s = String::new();
        render(
            Value {
                ty: 0x06,
                bytes: &4688u16.to_le_bytes(),
            },
            &mut s,
        )
        .unwrap();
        s.push(' ');
        render(
            Value {
                ty: 0x05,
                bytes: &(-2i16).to_le_bytes(),
            },
            &mut s,
        )
        .unwrap();
        s.push(' ');
        render(
            Value {
                ty: ty::HEX_INT64,
                bytes: &0x8020u64.to_le_bytes(),
            },
            &mut s,
        )
        .unwrap();
        assert_eq!(s, "4688 -2 0x8020");
        assert!(render(
            Value {
                ty: ty::NULL,
                bytes: &[]
            },
            &mut s
        )
        .is_none());
        assert!(plain_value(0x06, &[0, 0]) && !plain_value(0x06, &[0, 0, 0, 0]));
        assert!(plain_value(0x09, &[0; 8]) && plain_value(0x03, &[0]));
        assert!(plain_value(ty::SID, &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]));
        assert!(!plain_value(
            ty::SID,
            &[1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]
        ));
        assert!(!plain_value(0x81, &[0, 0]));
    }
}
#[cfg(test)]
mod on_real_records {
    use super::*;

    /// On the real samples' chunks, every record the fast path skips reads as another
    /// event in full (rendered by the crate, read by the XML reader), and nearly every
    /// record that reads so is skipped: real records have the plain shape.
    #[test]
    fn skipped_records_read_as_other_events_and_most_other_events_are_skipped() {
        let (_, chunks) = crate::replay::evtx::tests::sample_chunks();
        let settings = std::sync::Arc::new(evtx::ParserSettings::default().indent(false));
        let (mut skipped, mut other) = (0, 0);
        for c in chunks {
            let mut d = evtx::EvtxChunkData::new(c, false).unwrap();
            let mut chunk = d.parse(settings.clone()).unwrap();
            let data = chunk.data;
            let mut skips = ChunkSkips::default();
            for r in chunk.iter() {
                let r = r.unwrap();
                let (verdict, _) = skips.record(data, r.binxml_offset, r.binxml_size);
                let xml = r.into_xml_bytes().unwrap().data;
                let mut fields = Fields::default();
                let kind = crate::replay::xml::read_record(&xml, &mut fields, true, false);
                let is_other = kind == Ok(EventKind::Other);
                other += u32::from(is_other);
                if verdict == Verdict::Skip {
                    skipped += 1;
                    assert!(
                        is_other,
                        "skipped, but reads as {kind:?}: {}",
                        String::from_utf8_lossy(&xml)
                    );
                }
            }
            assert!(!skips.must_redo());
        }
        assert!(other >= 40, "{other} other events in the samples");
        assert!(
            skipped * 10 >= other * 9,
            "{skipped} of {other} other events skipped"
        );
    }
}
