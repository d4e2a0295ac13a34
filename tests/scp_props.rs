//! Properties of the search command on generated sessions, run in-process
//! (`command::serve`): arbitrary headers and rows (field names and values with quotes,
//! commas, line ends, `$`, invalid UTF-8; SDK multivalue companions; varied but valid
//! CSV styles; 1-3 execute chunks).
//!
//! - `action=annotate` returns every input row byte for byte, in order, followed by `,`
//!   and our added fields, under the input header's own bytes plus our column names.
//! - `action=filter` returns exactly the rows the detection core marks as detections,
//!   computed here independently through `FieldPlan` and `analyze`, and the added
//!   fields are the core's `Analysis::fields()`.
//! - `action=annotate` gives every schtasks row that is not a detection the core's
//!   `Analysis::fields()` too (its reason and parse; the detection-only fields empty),
//!   and every other row empty added fields.
//! - Input columns named like ours are replaced by our values on the rows that get
//!   them (detections; in annotate mode every schtasks row) only.
//! - A last row cut inside an open quote by the end of the body (found by the fuzzer)
//!   comes back as well-formed CSV with the same values.

mod scp_support;

use csv::ByteRecord;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use schtasksremote::cim::FieldPlan;
use schtasksremote::command::serve;
use schtasksremote::command::stream::MAX_COMBINATIONS;
use schtasksremote::detection::{analyze, Analysis, DetectorConfig, FieldValue, OUTPUT_FIELDS};
use schtasksremote::protocol::body::BodyReader;
use scp_support::*;

/// What kind of value a column holds, so that detections are common.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Image,
    Command,
    Host,
    User,
    Other,
}

/// Names the field mapping reads (src/cim.rs), CIM with and without the `Processes.`
/// prefix and raw Sysmon / 4688 / CrowdStrike ones.
const KNOWN: &[(&str, Role)] = &[
    ("process_name", Role::Image),
    ("Processes.process_name", Role::Image),
    ("process_path", Role::Image),
    ("Processes.process_path", Role::Image),
    ("original_file_name", Role::Image),
    ("Processes.original_file_name", Role::Image),
    ("parent_process_name", Role::Image),
    ("Processes.parent_process_name", Role::Image),
    ("Image", Role::Image),
    ("NewProcessName", Role::Image),
    ("ImageFileName", Role::Image),
    ("OriginalFileName", Role::Image),
    ("ParentImage", Role::Image),
    ("process", Role::Command),
    ("Processes.process", Role::Command),
    ("CommandLine", Role::Command),
    ("Process_Command_Line", Role::Command),
    ("dest", Role::Host),
    ("Processes.dest", Role::Host),
    ("Computer", Role::Host),
    ("ComputerName", Role::Host),
    ("user", Role::User),
    ("Processes.user", Role::User),
    ("User", Role::User),
    ("SubjectDomainName", Role::User),
    ("SubjectUserName", Role::User),
    ("_time", Role::Other),
    ("host", Role::Other),
];

const COMMANDS: &[&str] = &[
    r"schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once",
    r#"schtasks.exe /create /s "HOST2" /tn "t" /tr "c:\x.exe" /sc once /st 00:00"#,
    r#""C:\Windows\System32\schtasks.exe" -create -s \\FILESRV01 -tn t -tr c:\x.exe -sc daily"#,
    r#"schtasks /"create" /"s" HOST4 /tn t /tr x /sc once"#,
    r#"schtasks -cr"ea"te ﹣s \\FILESRV01 /tn t /tr "c:\x.exe /s" /sc once"#,
    "schtasks \u{2013}create \u{2013}s HOST3 /tn t /tr x /sc once",
    "schtasks \u{2010}create \u{2010}s HOST3 /tn t /tr x /sc once",
    r"schtasks /create /s 10.0.0.5 /u CORP\admin /p secret /tn t /tr c:\x.exe /sc once",
    r"schtasks /create /xml C:\t.xml /s HOST5 /tn t /ru SYSTEM",
    "schtasks /create /s HOST$ /tn \"a,b\" /tr \"c:\\x.exe\n\" /sc once",
    "schtasks /create /s \"HO\"\"ST\" /tn t /tr x /sc once",
    r"schtasks /create /s ws1 /tn t /tr x /sc once",
    // Not detections: loopback and local targets, no /s, other operations.
    r"schtasks /create /s localhost /tn t /tr c:\x.exe /sc once",
    r"schtasks /create /s 127.0.0.1 /tn t /tr c:\x.exe /sc once",
    r"schtasks /create /tn t /tr c:\x.exe /sc once",
    r"schtasks /create /sc minute /tn t /tr c:\x.exe",
    r"schtasks /query /s HOST2 /tn t",
    r"cmd.exe /c schtasks /create /s HOST2 /tn t /tr c:\x.exe /sc once",
    "",
];

const IMAGES: &[&str] = &[
    "schtasks.exe",
    "SCHTASKS.EXE",
    r"C:\Windows\System32\schtasks.exe",
    r"C:\Windows\SysWOW64\SchTasks.exe",
    "\"schtasks.exe\" ",
    "cmd.exe",
    r"C:\Windows\System32\cmd.exe",
    "notschtasks.exe",
    "schtasks.exe.bak",
    "",
];

const HOSTS: &[&str] = &[
    "HOST2",
    "ws1",
    "ws1.corp.local",
    "FILESRV01",
    "localhost",
    "",
];
const USERS: &[&str] = &[r"CORP\admin", "SYSTEM", "-", "", "pgustavo", "user$"];

/// Bytes of random names and values: CSV and multivalue syntax, and a valid `é`.
const TEXT: &[&str] = &[
    "a", "Z", "0", " ", "_", ".", ",", "\"", "\r", "\n", "$", "\\", "/", "é",
];
/// The same with invalid UTF-8: lone 0xff and 0xfe, and 0xc3 or 0xa9 alone.
const BYTES: &[u8] = b"aZ0 _.,\"\r\n$\\/\xff\xfe\xc3\xa9";

/// Our column names: `OUTPUT_FIELDS`, then their `__mv_` companions.
fn added_names() -> Vec<String> {
    OUTPUT_FIELDS
        .iter()
        .map(|f| f.to_string())
        .chain(OUTPUT_FIELDS.iter().map(|f| format!("__mv_{f}")))
        .collect()
}

fn random_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => vec(select(TEXT), 0..max).prop_map(|v| v.concat().into_bytes()),
        1 => vec(select(BYTES), 0..max),
    ]
}

fn random_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => random_bytes(10),
        // A companion of a known name written by someone else, or a near miss.
        1 => select(KNOWN).prop_map(|(n, _)| format!("__mv_{n}").into_bytes()),
        1 => (select(KNOWN), random_bytes(3)).prop_map(|((n, _), junk)| [n.as_bytes(), &junk].concat()),
    ]
}

fn pool(list: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    select(list).prop_map(|s| s.as_bytes().to_vec())
}

fn value(role: Role) -> BoxedStrategy<Vec<u8>> {
    match role {
        Role::Image => prop_oneof![6 => pool(IMAGES), 1 => random_bytes(16)].boxed(),
        Role::Command => prop_oneof![
            6 => pool(COMMANDS),
            // A real line with junk (maybe invalid UTF-8) inserted anywhere.
            2 => (pool(COMMANDS), random_bytes(4), any::<Index>()).prop_map(|(mut c, junk, at)| {
                let at = at.index(c.len() + 1);
                c.splice(at..at, junk);
                c
            }),
            1 => random_bytes(24),
        ]
        .boxed(),
        Role::Host => prop_oneof![4 => pool(HOSTS), 1 => random_bytes(8)].boxed(),
        Role::User => prop_oneof![4 => pool(USERS), 1 => random_bytes(8)].boxed(),
        Role::Other => random_bytes(16).boxed(),
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Plain(Role),
    /// The `__mv_` companion of the named column.
    Mv(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Column {
    name: Vec<u8>,
    kind: Kind,
}

/// What a generated header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// 1-12 unique names from the mapping's names and random ones, `__mv_` companions
    /// for some of the known ones; none of our own column names.
    Mixed,
    /// The same plus 1-3 of our own column names.
    Clash,
    /// 8-14 names the mapping reads, each with a companion holding 2-4 values: most rows
    /// have more than `MAX_COMBINATIONS` combinations.
    WideMultivalue,
}

/// A header of the given shape, columns in random order.
fn header(shape: Shape) -> impl Strategy<Value = Vec<Column>> {
    let added = added_names();
    let clashing = if shape == Shape::Clash {
        vec(select(added.clone()), 1..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    let mapped: Vec<(&str, Role)> = KNOWN
        .iter()
        .copied()
        .filter(|(_, r)| *r != Role::Other)
        .collect();
    let names = if shape == Shape::WideMultivalue {
        vec(
            select(mapped).prop_map(|(n, r)| (n.as_bytes().to_vec(), r)),
            8..=14,
        )
        .boxed()
    } else {
        vec(
            prop_oneof![
                3 => select(KNOWN).prop_map(|(n, r)| (n.as_bytes().to_vec(), r)),
                2 => random_name().prop_map(|n| (n, Role::Other)),
            ],
            1..=12,
        )
        .boxed()
    };
    let companions = if shape == Shape::WideMultivalue {
        Just(vec![true; 14]).boxed()
    } else {
        vec(proptest::bool::weighted(0.3), 12).boxed()
    };
    (names, companions, clashing)
        .prop_map(move |(names, companions, clashing)| {
            let mut cols: Vec<Column> = Vec::new();
            let push = |cols: &mut Vec<Column>, name: Vec<u8>, kind: Kind| {
                let ours = added.iter().any(|a| a.as_bytes() == name.as_slice());
                if !cols.iter().any(|c| c.name == name) && (shape == Shape::Clash || !ours) {
                    cols.push(Column { name, kind });
                }
            };
            for (name, role) in names {
                push(&mut cols, name, Kind::Plain(role));
            }
            for (i, with) in companions.into_iter().enumerate() {
                let Some(Column {
                    name,
                    kind: Kind::Plain(role),
                }) = cols.get(i).cloned()
                else {
                    continue;
                };
                if with && role != Role::Other {
                    push(
                        &mut cols,
                        [b"__mv_".as_slice(), &name].concat(),
                        Kind::Mv(name),
                    );
                }
            }
            for name in clashing {
                push(&mut cols, name.into_bytes(), Kind::Plain(Role::Other));
            }
            if cols.is_empty() {
                cols.push(Column {
                    name: b"x".to_vec(),
                    kind: Kind::Plain(Role::Other),
                });
            }
            cols
        })
        .prop_shuffle()
}

/// One column's draw for one row: 1-3 values, and how a multivalue companion writes them.
#[derive(Debug, Clone)]
struct Draw {
    values: Vec<Vec<u8>>,
    mv_style: u8,
}

fn mv_encode(values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.push(b'$');
        for &b in v {
            out.push(b);
            if b == b'$' {
                out.push(b'$');
            }
        }
        out.push(b'$');
    }
    out
}

/// The cells of one row from each column's draw. A column with a companion holds its
/// values joined by `\n` (as splunkd writes them) and the companion their `$a$;$b$`
/// encoding, with now and then an inconsistent, empty or malformed companion.
fn assemble(cols: &[Column], draws: &[Draw]) -> Vec<Vec<u8>> {
    let companion_of = |name: &[u8]| {
        cols.iter()
            .position(|c| matches!(&c.kind, Kind::Mv(t) if t.as_slice() == name))
    };
    cols.iter()
        .zip(draws)
        .map(|(col, draw)| match &col.kind {
            Kind::Mv(target) => match cols.iter().position(|c| &c.name == target) {
                Some(t) => {
                    let Draw { values, mv_style } = &draws[t];
                    match mv_style {
                        0..=2 if values.len() > 1 => mv_encode(values),
                        0..=2 | 4 => Vec::new(),
                        3 => mv_encode(values),
                        _ => [b"$".as_slice(), &values[0]].concat(),
                    }
                }
                None => draw.values[0].clone(),
            },
            Kind::Plain(_) if companion_of(&col.name).is_some() => draw.values.join(&b'\n'),
            Kind::Plain(_) => draw.values[0].clone(),
        })
        .collect()
}

type Table = (Vec<Column>, Vec<Vec<Vec<u8>>>);

fn table(shape: Shape, max_rows: usize) -> impl Strategy<Value = Table> {
    let counts = if shape == Shape::WideMultivalue {
        2..=4
    } else {
        1..=3
    };
    header(shape).prop_flat_map(move |cols| {
        let draws: Vec<BoxedStrategy<Draw>> = cols
            .iter()
            .map(|c| {
                let role = match c.kind {
                    Kind::Plain(r) => r,
                    Kind::Mv(_) => Role::Other,
                };
                (vec(value(role), counts.clone()), 0u8..6)
                    .prop_map(|(values, mv_style)| Draw { values, mv_style })
                    .boxed()
            })
            .collect();
        (Just(cols), vec(draws, 0..max_rows)).prop_map(|(cols, rows)| {
            let rows = rows.iter().map(|draws| assemble(&cols, draws)).collect();
            (cols, rows)
        })
    })
}

#[derive(Debug, Clone, Copy)]
enum Quoting {
    Minimal,
    Always,
    /// Every other field quoted even when it need not be.
    Alternate,
}

#[derive(Debug, Clone, Copy)]
struct Style {
    quoting: Quoting,
    crlf: bool,
    last_terminated: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop_oneof![
            Just(Quoting::Minimal),
            Just(Quoting::Always),
            Just(Quoting::Alternate)
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(quoting, crlf, last_terminated)| Style {
            quoting,
            crlf,
            last_terminated,
        })
}

/// One execute chunk: the header's cells, the rows' cells, and the body with the exact
/// bytes of each record (without line ends).
#[derive(Debug, Clone)]
struct Chunk {
    header: Vec<Vec<u8>>,
    rows: Vec<Vec<Vec<u8>>>,
    body: Vec<u8>,
    header_raw: Vec<u8>,
    rows_raw: Vec<Vec<u8>>,
}

fn encode_record(fields: &[Vec<u8>], quoting: Quoting) -> Vec<u8> {
    let mut out = Vec::new();
    for (j, f) in fields.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        let needs = f.iter().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
            // A lone empty field unquoted would be a blank line, which CSV skips.
            || (fields.len() == 1 && f.is_empty());
        let quote = needs
            || match quoting {
                Quoting::Minimal => false,
                Quoting::Always => true,
                Quoting::Alternate => j % 2 == 0,
            };
        if quote {
            out.push(b'"');
            for &b in f {
                out.push(b);
                if b == b'"' {
                    out.push(b'"');
                }
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(f);
        }
    }
    out
}

fn encode(header: Vec<Vec<u8>>, rows: Vec<Vec<Vec<u8>>>, style: Style) -> Chunk {
    let end: &[u8] = if style.crlf { b"\r\n" } else { b"\n" };
    let header_raw = encode_record(&header, style.quoting);
    let rows_raw: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| encode_record(r, style.quoting))
        .collect();
    let mut body = Vec::new();
    for raw in std::iter::once(&header_raw).chain(&rows_raw) {
        body.extend_from_slice(raw);
        body.extend_from_slice(end);
    }
    if !style.last_terminated {
        body.truncate(body.len() - end.len());
    }
    Chunk {
        header,
        rows,
        body,
        header_raw,
        rows_raw,
    }
}

/// 1-3 execute chunks: one table's rows split among chunks (each with the header), or
/// independent tables with different headers.
fn session(shape: Shape) -> impl Strategy<Value = Vec<Chunk>> {
    let names = |cols: &[Column]| cols.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    prop_oneof![
        (table(shape, 30), vec(any::<Index>(), 0..3), vec(style(), 3)).prop_map(
            move |((cols, rows), cuts, styles)| {
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(rows.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.push(rows.len());
                let mut start = 0;
                cuts.iter()
                    .zip(styles)
                    .map(|(&end, style)| {
                        let part = rows[start..end].to_vec();
                        start = end;
                        encode(names(&cols), part, style)
                    })
                    .collect()
            }
        ),
        vec((table(shape, 12), style()), 1..=3).prop_map(move |tables| {
            tables
                .into_iter()
                .map(|((cols, rows), style)| encode(names(&cols), rows, style))
                .collect()
        }),
    ]
}

/// Runs a session in-process; the replies to the execute chunks.
fn serve_session(args: &[&str], chunks: &[Chunk]) -> Vec<Reply> {
    let mut stream = getinfo(args);
    for (i, c) in chunks.iter().enumerate() {
        stream.extend_from_slice(&execute(i + 1 == chunks.len(), &c.body));
    }
    let mut out = Vec::new();
    let status = serve(stream.as_slice(), &mut out);
    let replies: Vec<Reply> = split_chunks(&out)
        .into_iter()
        .map(|(m, body)| Reply {
            meta: serde_json::from_slice(&m).expect("reply metadata is JSON"),
            body,
        })
        .collect();
    assert_eq!(status, 0, "exit status; replies: {replies:?}");
    assert_eq!(replies.len(), chunks.len() + 1, "one reply per request");
    replies.into_iter().skip(1).collect()
}

/// The added cells of a detection: (plain, `__mv_`) per output field.
type Cells = Vec<(Vec<u8>, Vec<u8>)>;

fn cells(analysis: &Analysis) -> Cells {
    analysis
        .fields()
        .iter()
        .map(|(_, v)| match v {
            FieldValue::Empty => (Vec::new(), Vec::new()),
            FieldValue::One(s) => (s.as_bytes().to_vec(), Vec::new()),
            FieldValue::Many(l) if l.len() == 1 => (l[0].as_bytes().to_vec(), Vec::new()),
            FieldValue::Many(l) => (
                l.join("\n").into_bytes(),
                mv_encode(&l.iter().map(|v| v.as_bytes().to_vec()).collect::<Vec<_>>()),
            ),
        })
        .collect()
}

/// An SDK `__mv_` value's list, or `None` when it is not a well-formed `$a$;$b$`.
fn mv_values(encoded: &str) -> Option<Vec<String>> {
    let mut chars = encoded.chars().peekable();
    let mut values = Vec::new();
    loop {
        if chars.next()? != '$' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '$' if chars.peek() == Some(&'$') => {
                    chars.next();
                    value.push('$');
                }
                '$' => break,
                c => value.push(c),
            }
        }
        values.push(value);
        match chars.next() {
            None => return Some(values),
            Some(';') => {}
            Some(_) => return None,
        }
    }
}

/// The core's verdict on one row: the added cells of each detecting combination of
/// values (empty when the row is not a detection), those of the first combination that
/// is schtasks, and whether the row had only one combination. Invalid UTF-8 is read lossily; a column with a non-empty, well-formed
/// `__mv_<name>` companion contributes each of its values; the first
/// `MAX_COMBINATIONS` combinations are judged, the first column varying fastest.
fn verdict(plan: &FieldPlan, names: &[String], row: &[Vec<u8>]) -> Verdict {
    let mut columns: Vec<usize> = Vec::new();
    for c in plan.columns() {
        if !columns.contains(&c) {
            columns.push(c);
        }
    }
    let lists: Vec<Vec<String>> = columns
        .iter()
        .map(|&c| {
            let plain = String::from_utf8_lossy(&row[c]).into_owned();
            let companion = format!("__mv_{}", names[c]);
            names
                .iter()
                .position(|n| *n == companion)
                .map(|m| String::from_utf8_lossy(&row[m]).into_owned())
                .filter(|enc| !enc.is_empty())
                .and_then(|enc| mv_values(&enc))
                .unwrap_or_else(|| vec![plain])
        })
        .collect();
    let total: usize = lists.iter().map(Vec::len).product();
    let (mut found, mut first) = (Vec::new(), None);
    for n in 0..total.min(MAX_COMBINATIONS) {
        let mut rest = n;
        let choice: Vec<&str> = lists
            .iter()
            .map(|l| {
                let v = &l[rest % l.len()];
                rest /= l.len();
                v.as_str()
            })
            .collect();
        let event = plan.map(|i| {
            let k = columns.iter().position(|&c| c == i)?;
            Some(choice[k])
        });
        if let Some(a) = analyze(&event.as_event(), &DetectorConfig::default()) {
            if a.is_detection() {
                found.push(cells(&a));
            }
            first.get_or_insert_with(|| cells(&a));
        }
    }
    Verdict {
        found,
        first,
        single: total == 1,
    }
}

/// What the core says of one row (see [`verdict`]).
struct Verdict {
    /// The added cells of each detecting combination.
    found: Vec<Cells>,
    /// The added cells of the first combination that is schtasks, detection or not.
    first: Option<Cells>,
    /// The row has one combination only.
    single: bool,
}

impl Verdict {
    /// The cells a reply in `mode` must carry for this row, if any: a detection's in
    /// either mode, else in annotate mode the first schtasks reading's.
    fn expected(&self, mode: Mode) -> Option<&Cells> {
        self.found
            .first()
            .or(self.first.as_ref().filter(|_| mode == Mode::Annotate))
    }
}

/// The output's records with the byte offset each starts at.
fn records_at(body: &[u8]) -> Result<Vec<(usize, ByteRecord)>, TestCaseError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body);
    let mut out = Vec::new();
    loop {
        let start = rdr.position().byte() as usize;
        let mut rec = ByteRecord::new();
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => out.push((start, rec)),
            Ok(false) => return Ok(out),
            Err(e) => return Err(TestCaseError::fail(format!("reply is not CSV: {e}"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Annotate,
    Filter,
}

/// Checks one reply against its request chunk: the header, which rows come back, each
/// row's bytes and values, and our added cells.
fn check_reply(mode: Mode, chunk: &Chunk, reply: &Reply) -> Result<usize, TestCaseError> {
    let added = added_names();
    let names: Vec<String> = chunk
        .header
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    let plan = FieldPlan::from_names(names.iter().map(String::as_str));
    // For each added column, the input column it replaces; for each input column, the
    // added column that replaces it on detections.
    let clash: Vec<Option<usize>> = added
        .iter()
        .map(|a| chunk.header.iter().position(|n| n == a.as_bytes()))
        .collect();
    let replaced_by = |j: usize| clash.iter().position(|c| *c == Some(j));
    let appended: Vec<usize> = (0..added.len()).filter(|&k| clash[k].is_none()).collect();

    let verdicts: Vec<Verdict> = chunk
        .rows
        .iter()
        .map(|r| verdict(&plan, &names, r))
        .collect();
    let wanted: Vec<usize> = (0..chunk.rows.len())
        .filter(|&i| mode == Mode::Annotate || !verdicts[i].found.is_empty())
        .collect();
    if wanted.is_empty() {
        prop_assert!(reply.body.is_empty(), "no rows to pass: empty body");
        return Ok(0);
    }

    prop_assert_eq!(reply.body.last(), Some(&b'\n'));
    prop_assert!(
        reply.body.iter().filter(|&&b| b == b'"').count() % 2 == 0,
        "every quote is closed"
    );
    let mut header_line = chunk.header_raw.clone();
    for &k in &appended {
        header_line.push(b',');
        header_line.extend_from_slice(added[k].as_bytes());
    }
    header_line.push(b'\n');
    prop_assert!(
        reply.body.starts_with(&header_line),
        "header: the input's bytes, then our names: {:?}",
        String::from_utf8_lossy(&reply.body[..header_line.len().min(reply.body.len())])
    );

    let out = records_at(&reply.body)?;
    prop_assert_eq!(out.len() - 1, wanted.len(), "row count");
    let width = chunk.header.len();
    let mut detections = 0;
    for ((start, rec), &i) in out.iter().skip(1).zip(&wanted) {
        let Verdict { found, single, .. } = &verdicts[i];
        let expected = verdicts[i].expected(mode);
        let input = &chunk.rows[i];
        let fields: Vec<&[u8]> = rec.iter().collect();
        prop_assert_eq!(fields.len(), width + appended.len());
        let ours: Option<Vec<&[u8]>> = expected.is_some().then(|| {
            // Our value of added column k, wherever it is written.
            (0..added.len())
                .map(|k| match clash[k] {
                    Some(j) => fields[j],
                    None => fields[width + appended.iter().position(|&a| a == k).unwrap()],
                })
                .collect()
        });
        match &ours {
            None => {
                for (j, v) in input.iter().enumerate() {
                    prop_assert_eq!(fields[j], v.as_slice(), "input field {}", names[j]);
                }
                prop_assert!(fields[width..].iter().all(|f| f.is_empty()));
            }
            Some(ours) => {
                let n = OUTPUT_FIELDS.len();
                let got: Cells = (0..n)
                    .map(|k| (ours[k].to_vec(), ours[n + k].to_vec()))
                    .collect();
                if found.is_empty() {
                    // Annotate mode, a schtasks row that is not a detection.
                    prop_assert_eq!(Some(&got), expected, "added fields of row {}", i);
                } else if *single {
                    detections += 1;
                    prop_assert_eq!(&got, &found[0], "added fields of row {}", i);
                } else {
                    detections += 1;
                    prop_assert!(
                        found.contains(&got),
                        "row {i}: added fields are not those of a detecting combination"
                    );
                }
                for (j, v) in input.iter().enumerate() {
                    if replaced_by(j).is_none() {
                        prop_assert_eq!(fields[j], v.as_slice(), "input field {}", names[j]);
                    }
                }
            }
        }
        // Rows come back as their own bytes unless a clashing column is rewritten.
        if ours.is_none() || clash.iter().all(Option::is_none) {
            let mut prefix = chunk.rows_raw[i].clone();
            prefix.push(if appended.is_empty() { b'\n' } else { b',' });
            prop_assert!(
                reply.body[*start..].starts_with(&prefix),
                "row {} is not byte-identical: sent {:?}, got {:?}",
                i,
                String::from_utf8_lossy(&chunk.rows_raw[i]),
                String::from_utf8_lossy(
                    &reply.body[*start..(*start + prefix.len()).min(reply.body.len())]
                )
            );
        }
    }
    Ok(detections)
}

fn check_session(mode: Mode, chunks: &[Chunk]) -> Result<(), TestCaseError> {
    let args: &[&str] = match mode {
        Mode::Annotate => &["action=annotate"],
        Mode::Filter => &[],
    };
    let replies = serve_session(args, chunks);
    for (i, (chunk, reply)) in chunks.iter().zip(&replies).enumerate() {
        prop_assert_eq!(reply.finished(), Some(i + 1 == chunks.len()));
        let detections = check_reply(mode, chunk, reply)?;
        let [_, _, rows_in, rows_out] = reply.metric("schtasksremote.rows");
        prop_assert_eq!(rows_in, chunk.rows.len() as f64);
        let expected_out = match mode {
            Mode::Annotate => chunk.rows.len(),
            Mode::Filter => detections,
        };
        prop_assert_eq!(rows_out, expected_out as f64);
        prop_assert_eq!(
            reply.metric("schtasksremote.detections")[3],
            detections as f64
        );
    }
    Ok(())
}

/// Cases per property: `n` in a debug build, 10 x `n` in the release build that CI
/// runs (about 5 s for this file on 2 cores), where a case costs a tenth as much.
fn cases(n: u32) -> u32 {
    if cfg!(debug_assertions) {
        n
    } else {
        10 * n
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(200)))]

    #[test]
    fn annotate_returns_every_row_byte_identical_plus_the_added_fields(chunks in session(Shape::Mixed)) {
        check_session(Mode::Annotate, &chunks)?;
    }

    #[test]
    fn filter_returns_exactly_the_rows_the_core_marks_as_detections(chunks in session(Shape::Mixed)) {
        check_session(Mode::Filter, &chunks)?;
    }

    #[test]
    fn columns_named_like_ours_keep_input_values_except_on_rows_that_get_ours(chunks in session(Shape::Clash)) {
        check_session(Mode::Annotate, &chunks)?;
        check_session(Mode::Filter, &chunks)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(40)))]

    #[test]
    fn many_multivalue_combinations_are_judged_up_to_the_limit(chunks in session(Shape::WideMultivalue)) {
        check_session(Mode::Filter, &chunks)?;
    }
}

/// The fuzzer's find (fixed in 947a2a1): a last row that the end of the body cuts inside
/// an open quote used to be copied raw, so our added columns fell inside its quote.
/// It is re-encoded now: well-formed CSV, the same values, in both modes.
#[test]
fn a_last_row_cut_inside_an_open_quote_comes_back_well_formed_with_its_values() {
    let bodies: [&[u8]; 4] = [
        b"process_name,process\nschtasks.exe,\"schtasks /create /s H /tn x /tr y",
        b"process_name,process\r\ncmd.exe,x\r\nschtasks.exe,\"schtasks /create /s H /tn \"\"x\"\" /tr y\r\n",
        b"process_name,process\ncmd.exe,\"dir /s \xff,",
        b"process,process_name\n\"schtasks /create /s H /tn x /tr y\",\"schtasks.exe",
    ];
    let added = added_names();
    for body in bodies {
        // The values as the lenient CSV reader reads them (what splunkd meant).
        let input = records(body);
        let width = input[0].len();
        let names: Vec<String> = input[0]
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        let plan = FieldPlan::from_names(names.iter().map(String::as_str));
        let last: Vec<Vec<u8>> = input[input.len() - 1].iter().map(<[u8]>::to_vec).collect();
        let last_verdict = verdict(&plan, &names, &last);
        let found = &last_verdict.found;
        for mode in [Mode::Annotate, Mode::Filter] {
            let args: &[&str] = if mode == Mode::Annotate {
                &["action=annotate"]
            } else {
                &[]
            };
            let mut stream = getinfo(args);
            stream.extend_from_slice(&execute(true, body));
            let mut out = Vec::new();
            assert_eq!(serve(stream.as_slice(), &mut out), 0);
            let reply = &split_chunks(&out)[1].1;
            let shown = String::from_utf8_lossy(reply);
            let kept: Vec<&ByteRecord> = match mode {
                Mode::Annotate => input[1..].iter().collect(),
                Mode::Filter if found.is_empty() => vec![],
                Mode::Filter => vec![&input[input.len() - 1]],
            };
            if kept.is_empty() {
                assert!(reply.is_empty(), "{shown}");
                continue;
            }
            assert_eq!(reply.last(), Some(&b'\n'), "{shown}");
            assert_eq!(
                reply.iter().filter(|&&b| b == b'"').count() % 2,
                0,
                "an open quote in {shown}"
            );
            // Strict: every record as wide as the header.
            let got: Vec<ByteRecord> = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(reply.as_slice())
                .byte_records()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{e}: {shown}"));
            assert_eq!(got.len(), kept.len() + 1, "{shown}");
            assert_eq!(got[0].len(), width + added.len());
            for (out, inp) in got[1..].iter().zip(&kept) {
                assert_eq!(
                    &out.iter().take(width).collect::<Vec<_>>(),
                    &inp.iter().collect::<Vec<_>>(),
                    "{shown}"
                );
            }
            let out_last = &got[got.len() - 1];
            let ours: Vec<&[u8]> = out_last.iter().skip(width).collect();
            let expected: Vec<&[u8]> = match last_verdict.expected(mode) {
                Some(cells) => cells
                    .iter()
                    .map(|(p, _)| p.as_slice())
                    .chain(cells.iter().map(|(_, mv)| mv.as_slice()))
                    .collect(),
                None => vec![b""; added.len()],
            };
            assert_eq!(ours, expected, "{shown}");
        }
    }
    // The first body is the fuzzer's: a remote creation, so filter mode passes it.
    let input = records(bodies[0]);
    let names = ["process_name".to_string(), "process".to_string()];
    let row: Vec<Vec<u8>> = input[1].iter().map(<[u8]>::to_vec).collect();
    let plan = FieldPlan::from_names(names.iter().map(String::as_str));
    assert!(!verdict(&plan, &names, &row).found.is_empty());
}

/// For each data row of `body`: whether `raw_is_exact` held, the raw span, the fields,
/// and whether the row was the last.
fn read_rows(body: &[u8]) -> Vec<(bool, Vec<u8>, ByteRecord)> {
    let (mut header, mut row) = (ByteRecord::new(), ByteRecord::new());
    let Some(mut rdr) = BodyReader::new(body, 0, &mut header).expect("a header") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Ok(Some(span)) = rdr.next_row(&mut row) {
        out.push((rdr.raw_is_exact(), body[span].to_vec(), row.clone()));
    }
    out
}

#[test]
fn raw_is_exact_is_false_only_for_a_last_row_cut_inside_quotes() {
    let cases: [(&[u8], &[bool]); 7] = [
        (b"a,b\n1,\"2\"", &[true]),
        (b"a,b\n1,2", &[true]),
        (b"a,b\n1,\"\"", &[true]),
        (b"a,b\n1,\"2", &[false]),
        (b"a,b\n1,\"2\"\"", &[false]),
        (b"a,b\n\"1\",2\r\n3,\"4\r\n", &[true, false]),
        (b"a,b\n\"1\n\",2\n3,\"4\"\n", &[true, true]),
    ];
    for (body, exact) in cases {
        let got: Vec<bool> = read_rows(body).iter().map(|(e, _, _)| *e).collect();
        assert_eq!(got, exact, "{:?}", String::from_utf8_lossy(body));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1000)))]

    /// What `raw_is_exact` promises: the span followed by `,` reads back as the record
    /// plus one field, so our columns can be appended to the copied bytes.
    #[test]
    fn raw_is_exact_spans_read_back_with_an_appended_field(
        rows in vec(vec(select(b"a,\"\r\n\xff".as_slice()), 0..12), 0..4),
    ) {
        let mut body = b"a,b\n".to_vec();
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                body.push(b'\n');
            }
            body.extend_from_slice(r);
        }
        let read = read_rows(&body);
        for (i, (exact, raw, record)) in read.iter().enumerate() {
            if *exact {
                let again = records(&[raw.as_slice(), b",\n"].concat());
                prop_assert_eq!(again.len(), 1);
                prop_assert_eq!(again[0].len(), record.len() + 1);
                prop_assert!(again[0].iter().zip(record.iter()).all(|(a, b)| a == b));
            } else {
                prop_assert_eq!(i + 1, read.len(), "only the last row may be inexact");
            }
        }
    }
}
