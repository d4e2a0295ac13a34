//! Issue 10, kind D: lossy, never dropping. One odd character or byte in a value is read
//! lossily (U+FFFD where it cannot be decoded) and the record is still judged, in every
//! reader. Example 3 and the audit's findings, then a property across all readers.

mod scan_support;

use proptest::prelude::*;
use scan_support::*;

use schtasksremote::detection::{self, basename, DetectorConfig, ProcessEvent};
use schtasksremote::replay::{scan_reader, InputReport, ScanOptions, Value};

fn scan(bytes: &[u8]) -> InputReport {
    scan_reader("mem", bytes, &ScanOptions::default())
}

const SYSMON_JSON_HEAD: &str = r#"{"EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Hostname":"WKS1","Image":"C:\\Windows\\System32\\schtasks.exe","#;

#[test]
fn example_3_a_lone_surrogate_in_json_reads_as_replacement_and_the_record_is_judged() {
    // The command line of issue 10, example 3; Python's json.dumps writes such escapes.
    let line = format!(
        "{SYSMON_JSON_HEAD}\"CommandLine\":\"schtasks /create /s HOST2 /tn t /tr c:\\\\a.exe\\ud800 /sc once\"}}\n"
    );
    let report = scan(line.as_bytes());
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    assert_eq!(remote_hosts(&report), ["HOST2"]);
    assert_eq!(
        report.detections[0].field("task_action"),
        Some(&Value::One("c:\\a.exe\u{FFFD}".into()))
    );
}

#[test]
fn json_lines_with_control_characters_bad_escapes_nul_padding_and_stray_boms_and_nan_are_judged() {
    let cmd = |tail: &str| {
        format!(
            "{SYSMON_JSON_HEAD}\"CommandLine\":\"schtasks /create /s HOST2 /tn t /tr {tail}\"}}"
        )
    };
    let lines = [
        // Raw control characters inside a string (RFC 8259 wants them escaped).
        cmd("c:\\\\a\u{1}.exe\u{0}"),
        // Windows paths written without escaping their backslashes.
        cmd(r"C:\ProgramData\x.exe"),
        // A low surrogate alone, and a high one before a non-surrogate escape.
        cmd(r"c:\\a\udc00\ud800\u0041"),
        // Zero padding after the object, as a crashed writer leaves it.
        format!("{}\0\0\0\0", cmd("c:\\\\a.exe")),
        // `cat a.jsonl b.jsonl` where each file starts with a BOM.
        format!("\u{feff}{}", cmd("c:\\\\a.exe")),
        // Python's json.dumps writes NaN for a float it cannot represent.
        cmd("c:\\\\a.exe").replace("{\"EventID\":1,", "{\"EventID\":1,\"Score\":NaN,"),
    ];
    let report = scan(lines.join("\n").as_bytes());
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    assert_eq!(report.sources[0].records, 6);
    assert_eq!(remote_hosts(&report), ["HOST2"; 6]);
    let actions: Vec<_> = report
        .detections
        .iter()
        .map(|d| d.field("task_action").cloned())
        .collect();
    assert_eq!(actions[0], Some(Value::One("c:\\a\u{1}.exe\u{0}".into())));
    assert_eq!(actions[1], Some(Value::One(r"C:\ProgramData\x.exe".into())));
    assert_eq!(
        actions[2],
        Some(Value::One("c:\\a\u{FFFD}\u{FFFD}A".into()))
    );
}

#[test]
fn xml_surrogate_references_odd_entities_and_bare_ampersands_are_read_as_a_human_would() {
    let cmd = "schtasks /create /s HOST2 /tn t /tr c:\\a.exe";
    let record = |tail: &str| {
        sysmon1('"', "WKS1", SCHTASKS, cmd, "u")
            .replace(&format!("{cmd}</Data>"), &format!("{cmd}{tail}</Data>"))
    };
    let cases = [
        ("&#xD800;", "\u{FFFD}"),
        ("&#55296;", "\u{FFFD}"),
        ("&#x110000;", "\u{FFFD}"),
        ("&#x0;", "\0"),
        ("&nbsp;", "&nbsp;"),
        ("&b", "&b"),
        ("&", "&"),
        ("&#xZZ;", "&#xZZ;"),
        ("&amp", "&amp"),
    ];
    let text: String = cases.iter().map(|(raw, _)| record(raw)).collect();
    let report = scan(text.as_bytes());
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    assert_eq!(report.detections.len(), cases.len());
    for ((raw, read), d) in cases.iter().zip(&report.detections) {
        assert_eq!(
            d.field("task_action"),
            Some(&Value::One(format!("c:\\a.exe{read}"))),
            "{raw}"
        );
    }
}

#[test]
fn values_far_longer_than_a_read_buffer_are_read_in_every_reader() {
    // 1 MiB in the /tr value: bigger than any reader's buffer, far under its limit.
    let long = format!("c:\\{}.exe", "a".repeat(1 << 20));
    let cmd = format!("schtasks /create /s HOST2 /tn t /tr {long}");
    for text in Format::ALL.map(|f| f.render(&[("CommandLine", f.escape(&cmd).as_bytes())])) {
        let report = scan(&text);
        assert_eq!(report.problem_count, 0, "{:?}", report.problems);
        assert_eq!(remote_hosts(&report), ["HOST2"]);
    }
}

/// The fields of the record the property starts from. Each reader gets them in its own
/// rendering; the insertion goes into one of them.
const FIELDS: [(&str, &str); 6] = [
    ("Image", r"C:\Windows\System32\schtasks.exe"),
    (
        "CommandLine",
        r"schtasks /create /s HOST2 /tn Updater /tr C:\ProgramData\upd.exe /sc once",
    ),
    ("User", r"CORP\user1"),
    ("ParentImage", r"C:\Windows\System32\cmd.exe"),
    ("Computer", "wks01.corp.example"),
    ("CurrentDirectory", r"C:\Users\user1\"),
];

/// Where in each field an insertion goes: inside the directory part of a path (the file
/// name decides what the process is), inside the `/tr` value of the command line, in
/// the middle elsewhere.
fn insertion_point(field: usize, fraction: f64) -> usize {
    let (name, value) = FIELDS[field];
    let (from, to) = match name {
        "Image" | "ParentImage" => (0, value.rfind('\\').unwrap_or(0)),
        "CommandLine" => {
            let tr = value.find(r"C:\").unwrap();
            (tr + 1, value.find(".exe").unwrap())
        }
        _ => (1, value.len() - 1),
    };
    let at = from + ((to - from) as f64 * fraction) as usize;
    // Keep to a character boundary (the values are ASCII).
    at.min(to)
}

/// What is inserted, and how the writer wrote it.
#[derive(Debug, Clone)]
enum Insert {
    /// A character, escaped as the format escapes it.
    Char(char),
    /// A character written raw where the format would escape it (control characters in
    /// JSON strings), or as a numeric reference (XML).
    CharRaw(char),
    /// A byte that is not UTF-8 on its own.
    Byte(u8),
    /// An unpaired UTF-16 code unit: a `\uD800` escape (JSON), `&#xD800;` (XML), the code
    /// unit itself (UTF-16 text), its generalized-UTF-8 bytes (other text).
    Surrogate(u16),
}

impl Insert {
    /// The value a careful reader decodes (what the detection should see).
    fn decoded(&self) -> String {
        match self {
            Insert::Char(c) | Insert::CharRaw(c) => c.to_string(),
            Insert::Byte(_) | Insert::Surrogate(_) => "\u{FFFD}".into(),
        }
    }
}

fn insert_strategy() -> impl Strategy<Value = Insert> {
    prop_oneof![
        any::<char>().prop_map(Insert::Char),
        (0u32..0x80).prop_map(|c| Insert::CharRaw(char::from_u32(c).unwrap())),
        any::<char>().prop_map(Insert::CharRaw),
        (0x80u8..=0xFF).prop_map(Insert::Byte),
        (0xD800u16..=0xDFFF).prop_map(Insert::Surrogate),
    ]
}

/// The renderings the property runs through (each reader; UTF-16 wraps the text ones).
#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Xml,
    Csv,
    Classic,
    CsvUtf16,
    ClassicUtf16,
}

impl Format {
    const ALL: [Format; 6] = [
        Format::Json,
        Format::Xml,
        Format::Csv,
        Format::Classic,
        Format::CsvUtf16,
        Format::ClassicUtf16,
    ];

    /// Renders a Sysmon EID 1 whose fields are [`FIELDS`], with `values` (raw bytes, as
    /// the writer put them) replacing some.
    fn render(self, values: &[(&str, &[u8])]) -> Vec<u8> {
        let value = |name: &str| -> Vec<u8> {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_vec())
                .or_else(|| {
                    FIELDS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| self.escape(v).into_bytes())
                })
                .unwrap()
        };
        let mut out = Vec::new();
        match self {
            Format::Json => {
                out.extend(br#"{"EventID":1,"SourceName":"Microsoft-Windows-Sysmon""#);
                for (name, _) in FIELDS {
                    out.extend(format!(",\"{name}\":\"").as_bytes());
                    out.extend(value(name));
                    out.push(b'"');
                }
                out.extend(b"}\n");
            }
            Format::Xml => {
                out.extend(
                    b"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
                      <Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID><Computer>",
                );
                out.extend(value("Computer"));
                out.extend(b"</Computer></System><EventData>");
                for (name, _) in FIELDS.iter().filter(|(n, _)| *n != "Computer") {
                    out.extend(format!("<Data Name='{name}'>").as_bytes());
                    out.extend(value(name));
                    out.extend(b"</Data>");
                }
                out.extend(b"</EventData></Event>\n");
            }
            Format::Csv | Format::CsvUtf16 => {
                out.extend(b"EventCode,SourceName");
                for (name, _) in FIELDS {
                    out.extend(format!(",{name}").as_bytes());
                }
                out.extend(b"\r\n1,Microsoft-Windows-Sysmon");
                for (name, _) in FIELDS {
                    out.push(b',');
                    out.extend(value(name));
                }
                out.extend(b"\r\n");
            }
            Format::Classic | Format::ClassicUtf16 => {
                out.extend(
                    b"03/02/2026 09:14:07 AM\r\nLogName=Microsoft-Windows-Sysmon/Operational\r\n\
                      EventCode=1\r\nSourceName=Microsoft-Windows-Sysmon\r\nComputerName=",
                );
                out.extend(value("Computer"));
                out.extend(b"\r\nMessage=Process Create:\r\n");
                for (name, _) in FIELDS.iter().filter(|(n, _)| *n != "Computer") {
                    out.extend(format!("{name}: ").as_bytes());
                    out.extend(value(name));
                    out.extend(b"\r\n");
                }
            }
        }
        match self {
            // One with a byte-order mark, one told by its zero bytes.
            Format::CsvUtf16 => utf16le_marked(&out, true),
            Format::ClassicUtf16 => utf16le_marked(&out, false),
            _ => out,
        }
    }

    /// A value as the format's writer escapes it.
    fn escape(self, v: &str) -> String {
        match self {
            Format::Json => {
                let quoted = serde_json::to_string(v).unwrap();
                quoted[1..quoted.len() - 1].to_owned()
            }
            Format::Xml => v
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('\'', "&apos;"),
            Format::Csv | Format::CsvUtf16 => format!("\"{}\"", v.replace('"', "\"\"")),
            Format::Classic | Format::ClassicUtf16 => v.to_owned(),
        }
    }

    /// How the writer puts `insert` into `value` at byte `at`; `None` when the format
    /// cannot carry it at all (a line break inside a classic `Name: value` line is the
    /// end of that line; bytes that are not UTF-16 in a UTF-16 file).
    fn write_insert(self, value: &str, at: usize, insert: &Insert) -> Option<Vec<u8>> {
        let (before, after) = value.split_at(at);
        let utf16 = matches!(self, Format::CsvUtf16 | Format::ClassicUtf16);
        let classic = matches!(self, Format::Classic | Format::ClassicUtf16);
        let middle: Vec<u8> = match insert {
            Insert::Char('\r' | '\n') if classic => return None,
            Insert::CharRaw('\r' | '\n') if classic => return None,
            // A raw line feed ends a JSON line.
            Insert::CharRaw('\n') if matches!(self, Format::Json) => return None,
            Insert::Byte(_) if utf16 => return None,
            Insert::Char(c) => {
                let whole = format!("{before}{c}{after}");
                return Some(self.escape(&whole).into_bytes());
            }
            Insert::CharRaw(c) => match self {
                Format::Json if (*c as u32) < 0x20 => c.to_string().into_bytes(),
                Format::Xml => format!("&#x{:X};", *c as u32).into_bytes(),
                _ => return self.write_insert(value, at, &Insert::Char(*c)),
            },
            Insert::Byte(b) => vec![*b],
            Insert::Surrogate(u) => match self {
                Format::Json => format!("\\u{u:04x}").into_bytes(),
                Format::Xml => format!("&#x{u:X};").into_bytes(),
                // Generalized UTF-8 (WTF-8) of the code unit: what a careless encoder writes.
                _ if !utf16 => vec![
                    0xE0 | (u >> 12) as u8,
                    0x80 | ((u >> 6) & 0x3F) as u8,
                    0x80 | (u & 0x3F) as u8,
                ],
                // In UTF-16 text the unit itself; marked here, swapped in after encoding.
                _ => UNPAIRED_MARK.to_vec(),
            },
        };
        let mut out = self.escape(before).into_bytes();
        if let Format::Csv | Format::CsvUtf16 = self {
            // Inside the quotes: drop the closing one of `before`, re-open after.
            out.pop();
            out.extend(middle);
            out.extend(self.escape(after).bytes().skip(1));
        } else {
            out.extend(middle);
            out.extend(self.escape(after).into_bytes());
        }
        Some(out)
    }
}

/// Marks where a UTF-16 rendering gets an unpaired surrogate (bytes that are never
/// UTF-8, and never inserted into a UTF-16 rendering otherwise).
const UNPAIRED_MARK: &[u8] = b"\xFF\xFE\xFD";

fn utf16le_marked(bytes: &[u8], bom: bool) -> Vec<u8> {
    let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
    let mut rest = bytes;
    loop {
        let (part, next) = match rest.windows(3).position(|w| w == UNPAIRED_MARK) {
            Some(i) => (&rest[..i], Some(&rest[i + 3..])),
            None => (rest, None),
        };
        let text = std::str::from_utf8(part).expect("UTF-16 renderings are built from UTF-8");
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        match next {
            Some(next) => {
                out.extend(0xDBFFu16.to_le_bytes());
                rest = next;
            }
            None => return out,
        }
    }
}

/// The core's verdict on the values a careful reader decodes: the oracle.
fn core_detects(values: &[(&str, String)]) -> bool {
    let get = |n: &str| {
        values
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    let event = ProcessEvent {
        process_name: basename(get("Image")),
        process_path: get("Image"),
        original_file_name: "",
        process: get("CommandLine"),
        parent_process_name: basename(get("ParentImage")),
        dest: get("Computer"),
        user: get("User"),
    };
    detection::analyze(&event, &DetectorConfig::default()).is_some_and(|a| a.is_detection())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Issue 10, kind D: inserting any code point or byte into any field of a detecting
    /// record never removes the detection, in any reader: the reader's verdict is the
    /// core's verdict on the decoded values, and outside the command line that verdict
    /// is a detection.
    #[test]
    fn inserting_any_character_or_byte_into_a_field_never_removes_the_detection(
        field in 0..FIELDS.len(),
        fraction in 0.0..1.0f64,
        insert in insert_strategy(),
    ) {
        let (name, value) = FIELDS[field];
        let at = insertion_point(field, fraction);
        let mut decoded: Vec<(&str, String)> =
            FIELDS.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
        decoded[field].1 = format!("{}{}{}", &value[..at], insert.decoded(), &value[at..]);
        let expected = core_detects(&decoded);
        if name != "CommandLine" {
            prop_assert!(expected, "the core itself lost the detection: {decoded:?}");
        }
        for format in Format::ALL {
            let Some(written) = format.write_insert(value, at, &insert) else { continue };
            let bytes = format.render(&[(name, &written)]);
            let report = scan(&bytes);
            prop_assert_eq!(report.problem_count, 0, "{:?}: {:?}", format, report.problems);
            prop_assert_eq!(
                report.detection_count(),
                u64::from(expected),
                "{:?} {:?} into {} at {}: {}",
                format, insert, name, at, String::from_utf8_lossy(&bytes)
            );
        }
    }
}

#[test]
fn an_unpaired_surrogate_in_an_evtx_string_leaves_the_record_readable() {
    // EVTX strings are UTF-16LE; python-evtx#43 is such a record. Here the `e` of the
    // one `/Create` in a real file (EVTX-ATTACK-SAMPLES, mshta scheduled task) is
    // replaced by the code unit D800. The evtx crate renders it as `_`, as Windows' own
    // XML rendering does; the record must stay readable. Chunk checksums are not checked.
    let path = dataset(EVTX_MSHTA);
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let needle: Vec<u8> = "/Create"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the sample holds one /Create");
    bytes[at + 12..at + 14].copy_from_slice(&0xD800u16.to_le_bytes());
    let clean = scan_reader(
        "clean",
        &std::fs::read(&path).unwrap()[..],
        &ScanOptions::default(),
    );
    let damaged = scan(&bytes);
    assert_eq!(damaged.problem_count, 0, "{:?}", damaged.problems);
    let (c, d) = (&clean.sources[0], &damaged.sources[0]);
    assert_eq!(
        (d.records, d.process_events, d.bad_records),
        (c.records, c.process_events, 0)
    );
}
