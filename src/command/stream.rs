//! One execute chunk in, one reply body out.
//!
//! The reply header is the input header followed by the fields we add; each passed row
//! is the input record's own bytes followed by `,` and our encoded fields. Input fields
//! are never re-encoded, so they come back byte for byte (invalid UTF-8, quoting style and
//! all). Two exceptions are re-encoded field by field, same values: a row that gets our
//! values (a detection, or any schtasks row under `action=annotate`) in an input that
//! already has a column named like one of ours (a CSV header cannot name a
//! field twice), and a last row that the end of the body cut inside quotes.
//!
//! The reply is not built as a copy of the request. [`Annotator::process`] reads the
//! rows and records a [`ReplyPlan`]: which spans of the request body come back, and the
//! few bytes of our own (the header, judged rows' cells). [`Annotator::write_reply`] then
//! streams those spans out of the request body. So a chunk costs its own size in
//! memory, not twice that, and its rows are copied once, into the output buffer.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{self, Write};

use csv::ByteRecord;

use crate::cim::{
    is_target_event_id, CimField, EventField, EventKind, FieldPlan, Missing, Source, TargetPlan,
};
use crate::detection::task::{analyze_share_access, analyze_task, TaskEventId};
use crate::detection::{analyze, Analysis, DetectorConfig, FieldValue, OUTPUT_FIELDS};
use crate::protocol::body::{mv_decode, mv_encode, write_field, BodyError, BodyReader};
use crate::protocol::metadata::Level;

use super::options::{Action, Options};

/// At most this many combinations of multivalue inputs are judged per row.
pub const MAX_COMBINATIONS: usize = 256;

const ADDED: usize = 2 * OUTPUT_FIELDS.len();

/// A process-creation row that cannot be judged (issue 10 kind B). `Display` names
/// the row, what it lacks and the options that supply it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "schtasksremote: a process creation cannot be judged: row {row} of the results{splunk_source} \
     has {missing}; name the field that holds it with {}",
    supplying_options(*missing)
)]
pub struct UnjudgedRow {
    /// The row's position in the search's results, from 1.
    pub row: u64,
    /// ` (source=…)` when the row has a `source` field, else empty.
    splunk_source: String,
    pub missing: Missing,
}

/// The `<field>_field=` options that would supply what is missing.
fn supplying_options(missing: Missing) -> String {
    let options: Vec<String> = missing
        .fields()
        .iter()
        .map(|f| format!("{}_field=<field>", f.name()))
        .collect();
    options.join(" or ")
}

/// Why a chunk gets no reply but an error.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The CSV body cannot be read.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// `strict=true` met a process creation it cannot judge.
    #[error(transparent)]
    Unjudged(UnjudgedRow),
}

/// Counts for one chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkStats {
    pub rows_in: u64,
    pub rows_out: u64,
    pub detections: u64,
    /// Process-creation rows that could not be judged (issue 10 kind B).
    pub unjudged: u64,
}

/// The per-session state: options and buffers reused from chunk to chunk.
pub struct Annotator {
    opts: Options,
    /// Our column names: [`OUTPUT_FIELDS`], then their `__mv_` companions.
    added_names: Vec<String>,
    header: ByteRecord,
    row: ByteRecord,
    /// The reply body of the last chunk.
    reply: ReplyPlan,
    /// One judged row's added cells, CSV-encoded, and where each ends.
    cells: Vec<u8>,
    cell_ends: Vec<usize>,
    scratch: Vec<u8>,
    /// Inspector messages for the next reply.
    messages: Vec<(Level, String)>,
    warned_missing: Vec<CimField>,
    warned_combinations: bool,
    warned_no_process: bool,
    warned_unjudged: bool,
    /// Rows read in this search so far.
    rows_seen: u64,
}

/// A reply body as steps over the request body it answers.
#[derive(Default)]
struct ReplyPlan {
    /// Bytes of our own: the header row first, then each row's own part in order.
    own: Vec<u8>,
    header_len: usize,
    /// Per output row: a varint `kind | gap << 2`, where `gap` is how many request bytes
    /// were skipped since the previous copied span; then the copied span's length (kinds
    /// [`COPY_EMPTY`], [`COPY_OWN`]); then the length of its own part (kinds
    /// [`COPY_OWN`], [`OWN`]). About 3 bytes per row.
    steps: Vec<u8>,
    /// What ends a row that gets no value of ours: `,` per added column, and `\n`.
    empty_tail: Vec<u8>,
    /// The body's length in bytes, for the reply's chunk header.
    len: u64,
}

/// A row: its request bytes, then [`ReplyPlan::empty_tail`].
const COPY_EMPTY: u64 = 0;
/// A row: its request bytes, then its own part (`,` and our cells, `\n`).
const COPY_OWN: u64 = 1;
/// A row re-encoded whole: its own part only.
const OWN: u64 = 2;

impl ReplyPlan {
    fn clear(&mut self) {
        self.own.clear();
        self.steps.clear();
        self.header_len = 0;
        self.len = 0;
    }

    fn push_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.steps.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.steps.push(v as u8);
    }

    /// Records a row; its own part, if any, is `own[own_from..]`.
    fn push_row(&mut self, kind: u64, gap: usize, copied: usize, own_from: usize) {
        self.push_varint(kind | (gap as u64) << 2);
        if kind != OWN {
            self.push_varint(copied as u64);
            self.len += copied as u64;
        }
        if kind == COPY_EMPTY {
            self.len += self.empty_tail.len() as u64;
        } else {
            let own = self.own.len().saturating_sub(own_from);
            self.push_varint(own as u64);
            self.len += own as u64;
        }
    }
}

/// Reads one varint of [`ReplyPlan::steps`].
fn next_varint(steps: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = steps.split_first()?;
        *steps = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// How one chunk's columns are read and written. Rebuilt for every chunk: each chunk
/// has its own header and the field set may change.
struct Layout {
    plan: FieldPlan,
    /// The target side's columns (4698/4702/5145 rows), when the input has any and an
    /// event ID column; `None` keeps the reject path as it was before issue 13.
    target: Option<(TargetPlan, Vec<usize>)>,
    /// Splunk's `source` column, to name a row in a warning.
    source: Option<usize>,
    /// The columns the plan reads, each with its `__mv_` companion column.
    inputs: Vec<(usize, Option<usize>)>,
    /// For each of our added columns, the input column of the same name, if any.
    clash: [Option<usize>; ADDED],
    /// For each input column, which added column replaces it on rows that get ours.
    replaced_by: Vec<Option<usize>>,
    any_clash: bool,
    /// What ends a row with no value of ours: `,` once per added column that the input
    /// does not already have, then the line end.
    empty_tail: Vec<u8>,
}

impl Annotator {
    pub fn new(opts: Options) -> Annotator {
        let added_names = OUTPUT_FIELDS
            .iter()
            .map(|f| f.to_string())
            .chain(OUTPUT_FIELDS.iter().map(|f| format!("__mv_{f}")))
            .collect();
        Annotator {
            opts,
            added_names,
            header: ByteRecord::new(),
            row: ByteRecord::new(),
            reply: ReplyPlan::default(),
            cells: Vec::new(),
            cell_ends: Vec::with_capacity(ADDED),
            scratch: Vec::new(),
            messages: Vec::new(),
            warned_missing: Vec::new(),
            warned_combinations: false,
            warned_no_process: false,
            warned_unjudged: false,
            rows_seen: 0,
        }
    }

    /// The length of the reply body to the last [`Annotator::process`].
    pub fn reply_len(&self) -> u64 {
        self.reply.len
    }

    /// Writes the reply body to the last [`Annotator::process`]; `body` must be the
    /// request body given to it. Writes exactly [`Annotator::reply_len`] bytes.
    pub fn write_reply<W: Write + ?Sized>(&self, body: &[u8], out: &mut W) -> io::Result<()> {
        let plan = &self.reply;
        if plan.len == 0 {
            return Ok(());
        }
        let out_of_step = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "internal error: the reply plan is out of step with the request body",
            )
        };
        out.write_all(plan.own.get(..plan.header_len).ok_or_else(out_of_step)?)?;
        let (mut at, mut own_at) = (0usize, plan.header_len);
        let mut steps = plan.steps.as_slice();
        while !steps.is_empty() {
            let head = next_varint(&mut steps).ok_or_else(out_of_step)?;
            let kind = head & 3;
            at = at.saturating_add(usize::try_from(head >> 2).map_err(|_| out_of_step())?);
            if kind != OWN {
                let n = next_varint(&mut steps).ok_or_else(out_of_step)? as usize;
                let end = at.saturating_add(n);
                out.write_all(body.get(at..end).ok_or_else(out_of_step)?)?;
                at = end;
            }
            if kind == COPY_EMPTY {
                out.write_all(&plan.empty_tail)?;
            } else {
                let n = next_varint(&mut steps).ok_or_else(out_of_step)? as usize;
                let end = own_at.saturating_add(n);
                out.write_all(plan.own.get(own_at..end).ok_or_else(out_of_step)?)?;
                own_at = end;
            }
        }
        Ok(())
    }

    /// Inspector messages gathered since the last call.
    pub fn take_messages(&mut self) -> Vec<(Level, String)> {
        std::mem::take(&mut self.messages)
    }

    /// Reads one request body and builds the reply body. `body_offset` is the body's
    /// offset in the stream, for error messages. With no rows to pass on, the reply body
    /// is empty (as the SDK replies).
    pub fn process(&mut self, body: &[u8], body_offset: u64) -> Result<ChunkStats, ChunkError> {
        self.reply.clear();
        let mut stats = ChunkStats::default();
        let mut header = std::mem::take(&mut self.header);
        let mut row = std::mem::take(&mut self.row);
        let result = self.process_rows(body, body_offset, &mut header, &mut row, &mut stats);
        self.header = header;
        self.row = row;
        if result.is_err() || stats.rows_out == 0 {
            self.reply.clear();
        }
        result.map(|()| stats)
    }

    fn process_rows(
        &mut self,
        body: &[u8],
        body_offset: u64,
        header: &mut ByteRecord,
        row: &mut ByteRecord,
        stats: &mut ChunkStats,
    ) -> Result<(), ChunkError> {
        let Some(mut reader) = BodyReader::new(body, body_offset, header)? else {
            return Ok(());
        };
        let layout = self.layout(header);
        let own = &mut self.reply.own;
        own.extend_from_slice(body.get(reader.header_span()).unwrap_or_default());
        for (name, clash) in self.added_names.iter().zip(layout.clash) {
            if clash.is_none() {
                own.push(b',');
                own.extend_from_slice(name.as_bytes());
            }
        }
        own.push(b'\n');
        self.reply.header_len = own.len();
        self.reply.len = own.len() as u64;
        self.reply.empty_tail.clone_from(&layout.empty_tail);
        // The end of the last span the reply copies from the request.
        let mut copied_to = 0usize;

        // Without a field naming the process no row can be schtasks: skip judging.
        let can_detect = layout.plan.has_process_fields() || layout.target.is_some();
        while let Some(span) = reader.next_row(row)? {
            stats.rows_in += 1;
            self.rows_seen += 1;
            // Kind B: a few blank checks per row; only a row that lacks a field is classified.
            if let Some(missing) = layout.plan.missing(|i| row.get(i)) {
                if self.unjudged(&layout, row, missing)? {
                    stats.unjudged += 1;
                }
            }
            // `None` when the input's bytes cannot be copied as they are (see
            // `BodyReader::raw_is_exact`): the row is then re-encoded, same values.
            let exact = reader.raw_is_exact() && span.end <= body.len();
            let verdict = if can_detect {
                self.judge(&layout, row)
            } else {
                None
            };
            let detection = verdict.as_ref().is_some_and(Analysis::is_detection);
            let annotate = self.opts.action == Action::Annotate;
            match verdict {
                // Annotate mode gives every schtasks row its parse and reason (the
                // detection-only fields stay empty, see `Analysis::fields`): tuning
                // reads them on the rows that are not detections.
                Some(analysis) if detection || annotate => {
                    stats.detections += u64::from(detection);
                    stats.rows_out += 1;
                    self.encode_cells(&analysis);
                    let own_from = self.reply.own.len();
                    if exact && !layout.any_clash {
                        self.write_cells(&layout);
                        let gap = span.start.saturating_sub(copied_to);
                        self.reply.push_row(COPY_OWN, gap, span.len(), own_from);
                        copied_to = span.end;
                    } else {
                        self.write_reencoded(&layout, row);
                        self.reply.push_row(OWN, 0, 0, own_from);
                    }
                }
                _ if annotate => {
                    stats.rows_out += 1;
                    if exact {
                        let gap = span.start.saturating_sub(copied_to);
                        self.reply.push_row(COPY_EMPTY, gap, span.len(), 0);
                        copied_to = span.end;
                    } else {
                        let own_from = self.reply.own.len();
                        write_record(&mut self.reply.own, row);
                        self.reply.own.extend_from_slice(&layout.empty_tail);
                        self.reply.push_row(OWN, 0, 0, own_from);
                    }
                }
                _ => {}
            }
        }
        if stats.rows_in > 0 && !can_detect && !self.warned_no_process {
            self.warned_no_process = true;
            self.messages.push((
                Level::Warn,
                format!(
                    "schtasksremote: the input has no field naming the process (any of {}), \
                     so no row can be a detection; name one with process_name_field=<field>",
                    CimField::process_identifying_names().join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Kind B, for a row that lacks `missing`: when it is a process creation it is
    /// counted (`Ok(true)`), the first named in one inspector WARN per search, or it is
    /// an error with `strict=true`.
    #[cold]
    fn unjudged(
        &mut self,
        layout: &Layout,
        row: &ByteRecord,
        missing: Missing,
    ) -> Result<bool, ChunkError> {
        let text = |i| row.get(i).and_then(|v| std::str::from_utf8(v).ok());
        if layout.plan.event_kind(text) != EventKind::ProcessCreation {
            return Ok(false);
        }
        if self.warned_unjudged {
            return Ok(true);
        }
        let splunk_source = layout
            .source
            .and_then(|i| row.get(i))
            .map(|v| format!(" (source={})", String::from_utf8_lossy(v)))
            .unwrap_or_default();
        let found = UnjudgedRow {
            row: self.rows_seen,
            splunk_source,
            missing,
        };
        if self.opts.strict {
            return Err(ChunkError::Unjudged(found));
        }
        self.warned_unjudged = true;
        self.messages.push((
            Level::Warn,
            format!("{found}; strict=true makes this an error"),
        ));
        Ok(true)
    }

    fn layout(&mut self, header: &ByteRecord) -> Layout {
        let names: Vec<&str> = header
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap_or(""))
            .collect();
        let position = |wanted: &str| names.iter().position(|n| *n == wanted);
        let mut plan = FieldPlan::from_names(names.iter().copied());
        for (field, name) in &self.opts.field_overrides {
            match position(name) {
                Some(i) => plan.set_source(*field, Source::Column(i)),
                None => {
                    plan.set_source(*field, Source::Absent);
                    if !self.warned_missing.contains(field) {
                        self.warned_missing.push(*field);
                        self.messages.push((
                            Level::Warn,
                            format!(
                                "schtasksremote: {}_field={name}: the input has no field named \
                                 {name:?}, so {} reads as empty",
                                field.name(),
                                field.name()
                            ),
                        ));
                    }
                }
            }
        }
        let mut inputs: Vec<(usize, Option<usize>)> = Vec::with_capacity(8);
        for i in plan.columns() {
            if !inputs.iter().any(|&(c, _)| c == i) {
                let mv = names.get(i).and_then(|n| position(&format!("__mv_{n}")));
                inputs.push((i, mv));
            }
        }
        let mut clash = [None; ADDED];
        let mut replaced_by = vec![None; names.len()];
        let mut empty_tail = Vec::with_capacity(ADDED + 1);
        for (k, name) in self.added_names.iter().enumerate() {
            clash[k] = position(name);
            match clash[k] {
                Some(i) => replaced_by[i] = Some(k),
                None => empty_tail.push(b','),
            }
        }
        empty_tail.push(b'\n');
        let target_plan = TargetPlan::from_names(names.iter().copied());
        let event_ids = plan.event_field_columns(EventField::EventId).to_vec();
        let target = (target_plan.has_target_fields() && !event_ids.is_empty())
            .then_some((target_plan, event_ids));
        Layout {
            source: position("source"),
            target,
            plan,
            inputs,
            any_clash: clash.iter().any(Option::is_some),
            clash,
            replaced_by,
            empty_tail,
        }
    }

    /// The row's analysis when it is schtasks: its detection if it is one, else the
    /// first schtasks reading of it. Each value of a multivalue input field is judged;
    /// the row is a detection when any combination of values is.
    fn judge(&mut self, layout: &Layout, row: &ByteRecord) -> Option<Analysis> {
        let multivalue = layout
            .inputs
            .iter()
            .any(|&(_, mv)| mv.and_then(|m| row.get(m)).is_some_and(|v| !v.is_empty()));
        if !multivalue && !layout.plan.may_name_schtasks(|i| row.get(i)) {
            return layout.target.as_ref().and_then(|(plan, ids)| {
                judge_target(&layout.plan, plan, ids, row, &self.opts.detector)
            });
        }
        let irregular = Cell::new(false);
        let event = layout.plan.map(|i| {
            let value = row.get(i)?;
            match std::str::from_utf8(value) {
                Ok(s) => Some(s),
                Err(_) => {
                    irregular.set(true);
                    None
                }
            }
        });
        if !irregular.get() && !multivalue {
            return analyze(&event.as_event(), &self.opts.detector);
        }
        drop(event);
        self.judge_irregular(layout, row)
    }

    /// The slow path for rows with invalid UTF-8 (read lossily) or multivalue inputs.
    fn judge_irregular(&mut self, layout: &Layout, row: &ByteRecord) -> Option<Analysis> {
        let mut lists: Vec<(usize, Vec<String>)> = Vec::with_capacity(layout.inputs.len());
        for &(i, mv) in &layout.inputs {
            let plain = String::from_utf8_lossy(row.get(i).unwrap_or_default()).into_owned();
            let encoded = mv
                .and_then(|m| row.get(m))
                .filter(|v| !v.is_empty())
                .map(String::from_utf8_lossy);
            let mut decoded: Vec<Cow<str>> = Vec::new();
            let values = match &encoded {
                Some(enc) if mv_decode(enc, &mut decoded) && !decoded.is_empty() => {
                    decoded.into_iter().map(Cow::into_owned).collect()
                }
                _ => vec![plain],
            };
            lists.push((i, values));
        }
        let total = lists
            .iter()
            .fold(1usize, |n, (_, v)| n.saturating_mul(v.len().max(1)));
        if total > MAX_COMBINATIONS && !self.warned_combinations {
            self.warned_combinations = true;
            self.messages.push((
                Level::Warn,
                format!(
                    "schtasksremote: a row has {total} combinations of multivalue process \
                     fields; only the first {MAX_COMBINATIONS} were judged"
                ),
            ));
        }
        let mut choice = vec![0usize; lists.len()];
        let mut first = None;
        for _ in 0..total.min(MAX_COMBINATIONS) {
            let event = layout.plan.map(|i| {
                let k = lists.iter().position(|(c, _)| *c == i)?;
                let (_, values) = lists.get(k)?;
                values.get(*choice.get(k)?).map(String::as_str)
            });
            if let Some(a) = analyze(&event.as_event(), &self.opts.detector) {
                if a.is_detection() {
                    return Some(a);
                }
                first.get_or_insert(a);
            }
            // Next combination: a mixed-radix counter over the value lists.
            for (k, (_, values)) in lists.iter().enumerate() {
                let Some(c) = choice.get_mut(k) else { break };
                *c += 1;
                if *c < values.len() {
                    break;
                }
                *c = 0;
            }
        }
        first
    }

    /// Encodes an analysis's added fields into `cells`: the plain columns, then the
    /// `__mv_` columns (set only for lists of two or more values, as the SDK writes).
    fn encode_cells(&mut self, analysis: &Analysis) {
        self.cells.clear();
        self.cell_ends.clear();
        let fields = analysis.fields();
        for (_, value) in &fields {
            match value {
                FieldValue::Empty => {}
                FieldValue::One(s) => write_field(&mut self.cells, s.as_bytes()),
                FieldValue::Many(list) => {
                    self.scratch.clear();
                    for (i, v) in list.iter().enumerate() {
                        if i > 0 {
                            self.scratch.push(b'\n');
                        }
                        self.scratch.extend_from_slice(v.as_bytes());
                    }
                    write_field(&mut self.cells, &self.scratch);
                }
            }
            self.cell_ends.push(self.cells.len());
        }
        for (_, value) in &fields {
            if let FieldValue::Many(list) = value {
                if list.len() > 1 {
                    self.scratch.clear();
                    mv_encode(&mut self.scratch, list.iter().copied());
                    write_field(&mut self.cells, &self.scratch);
                }
            }
            self.cell_ends.push(self.cells.len());
        }
    }

    fn cell(&self, k: usize) -> &[u8] {
        let start = if k == 0 {
            0
        } else {
            self.cell_ends.get(k - 1).copied().unwrap_or(0)
        };
        let end = self.cell_ends.get(k).copied().unwrap_or(start);
        self.cells.get(start..end).unwrap_or_default()
    }

    /// Appends to the reply's own bytes `,` and each added cell the input has no column
    /// for, then the line end: what follows a judged row's copied bytes.
    fn write_cells(&mut self, layout: &Layout) {
        let mut own = std::mem::take(&mut self.reply.own);
        for (k, clash) in layout.clash.iter().enumerate() {
            if clash.is_none() {
                own.push(b',');
                own.extend_from_slice(self.cell(k));
            }
        }
        own.push(b'\n');
        self.reply.own = own;
    }

    /// Appends a judged row re-encoded whole: its fields, ours in the columns named
    /// like ours, then the cells it has no column for.
    fn write_reencoded(&mut self, layout: &Layout, row: &ByteRecord) {
        let mut own = std::mem::take(&mut self.reply.own);
        for (j, value) in row.iter().enumerate() {
            if j > 0 {
                own.push(b',');
            }
            match layout.replaced_by.get(j).copied().flatten() {
                Some(k) => own.extend_from_slice(self.cell(k)),
                None => write_field(&mut own, value),
            }
        }
        self.reply.own = own;
        self.write_cells(layout);
    }
}

/// The target side of one row (issue 13): a 4698/4702 judged by its RPC fields, or a
/// 5145 write to the `atsvc` pipe. 4624 rows are not judged here: linking a logon to a
/// task event needs both, which is a search's job (the shipped saved search), not a
/// streaming command's. Rare rows: read lossily, allocating.
#[cold]
fn judge_target(
    plan: &FieldPlan,
    target: &TargetPlan,
    event_ids: &[usize],
    row: &ByteRecord,
    config: &DetectorConfig,
) -> Option<Analysis> {
    let id = event_ids
        .iter()
        .find_map(|&i| row.get(i).filter(|v| !v.is_empty()))?;
    if !is_target_event_id(id) {
        return None;
    }
    let text: Vec<Cow<str>> = row.iter().map(String::from_utf8_lossy).collect();
    let get = |i: usize| text.get(i).map(|v| v.as_ref());
    let kind = plan.event_kind(get);
    let mapped = plan.map(get);
    let id = String::from_utf8_lossy(id);
    let (dest, user) = (mapped.get(CimField::Dest), mapped.get(CimField::User));
    match kind {
        EventKind::TaskRegistered => {
            let event = target.task_event(TaskEventId::from_event_id(&id)?, dest, user, get);
            Some(analyze_task(&event, config))
        }
        EventKind::ShareAccess => {
            analyze_share_access(&target.share_access(dest, user, get), config)
        }
        _ => None,
    }
}

/// Appends `row`, each field encoded by [`write_field`].
fn write_record(out: &mut Vec<u8>, row: &ByteRecord) {
    for (j, value) in row.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        write_field(out, value);
    }
}
