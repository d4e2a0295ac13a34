//! Issue 14: the byte-level fast path of the XML and JSON-lines readers gives the same
//! report as the full path (`ScanOptions::full_path`, every record read in full) on
//! every input: the same detections (every field, in order), the same counts (records,
//! process events, other events, not judged, bad and truncated records), the same
//! problems (messages, record numbers, byte offsets), the same first unjudged event.
//! Generated inputs play the games that could fool a prefilter (case, entities, CDATA,
//! comments, `\u` escapes, quotes, repeated fields, truncation, UTF-16, renamed
//! binaries, target-side and connection events); the real datasets are compared too.

mod scan_support;

use std::io::Read;
use std::path::Path;

use proptest::prelude::*;
use scan_support::*;
use schtasksremote::replay::{scan_path, scan_reader, InputReport, ScanOptions};

fn options(full_path: bool) -> ScanOptions {
    ScanOptions {
        full_path,
        ..ScanOptions::default()
    }
}

/// Both paths' reports on `bytes` (sniffed as `scan` sniffs them), which must be equal.
fn same_report(bytes: &[u8]) -> InputReport {
    let full = scan_reader("input", bytes, &options(true));
    let fast = scan_reader("input", bytes, &options(false));
    assert_eq!(
        fast,
        full,
        "fast path and full path differ on:\n{}",
        String::from_utf8_lossy(bytes)
    );
    full
}

/// Text pieces an attacker or a damaged export may put anywhere.
const HOSTILE: [&str; 24] = [
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<?x ?>",
    "<!DOCTYPE x [",
    "]>",
    "&amp;",
    "&#49;",
    "&bogus;",
    "<",
    ">",
    "/",
    "'",
    "\"",
    "<Event>",
    "</Event>",
    "<Event/>",
    "</System>",
    "<System>",
    "\\u0031",
    "\\\\",
    "\n",
    "\u{FFFD}",
];

fn provider() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "Microsoft-Windows-Sysmon",
        "Microsoft-Windows-SYSMON",
        "Microsoft-Windows-Security-Auditing",
        "Microsoft-Windows-Security-auditing",
        "Microsoft-Windows-PowerShell",
        "sysmon",
    ])
}

fn event_id() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "1",
        "3",
        "10",
        "11",
        "4688",
        "4698",
        "4702",
        "4624",
        "5145",
        "5156",
        " 1",
        "1 ",
        "01",
        "&#49;",
        "<![CDATA[1]]>",
        "4688<!---->",
    ])
}

fn image() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        r"C:\Windows\System32\schtasks.exe",
        r"C:\Windows\System32\SCHTASKS.EXE",
        r"C:\Users\Public\svc.exe",
        r"C:\Windows\System32\svchost.exe",
        "",
    ])
}

fn command_line() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        r"schtasks /create /tn T /tr c:\x.exe /s WS6",
        r"SchTasks.exe /Create /S dc01 /TN upd /TR calc /RU SYSTEM",
        r"schtasks /create /tn T /tr c:\x.exe",
        "svchost.exe -k netsvcs",
        "cmd /c schtasks /create /s 10.0.0.5 /tn a /tr b",
        "",
    ])
}

/// A field name of `<EventData>`, as written: image and command-line names the plan
/// reads (some spelled with entities, one not ASCII), and others.
fn data_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "Image",
        "CommandLine",
        "OriginalFileName",
        "ParentImage",
        "ParentCommandLine",
        "User",
        "Im&#97;ge",
        "CommandLin&#x65;",
        "Original&#70;ileName",
        "Imäge",
        "Application",
        "process",
        "NewProcessName",
    ])
}

/// A value of `<EventData>`: what names schtasks.exe (case games, entities, quotes and
/// blanks after it), what only mentions it, what is blank to the judge, and others.
fn data_value() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        r"C:\Windows\System32\schtasks.exe",
        r"C:\Windows\System32\ScHtAsKs.ExE",
        "schtasks.exe\" \t",
        r"C:\x\sch&#116;asks.exe",
        "schtasks.ex&#x65;",
        "&#x53;chtasks.exe",
        "schtasks.exe&#32;",
        "schtasks.exe&amp;",
        "schtasks&#46;exe",
        "schtasks",
        r"C:\Windows\System32\cmd.exe",
        "cmd.exe /c schtasks /create /s WS6 /tn a /tr b",
        "schtasks /create /tn T /tr c:\\x.exe /s WS6",
        "",
        " ",
        "\t\n",
        "&#32;",
        "&#12;",
        "&#xA0;",
        "\u{FFFD}",
        "svc.exe",
    ])
}

/// More `<Data>` fields, after the usual ones or alone: repeated names, names that
/// are entities, renamed binaries (`OriginalFileName` saying schtasks.exe), blank or
/// missing command lines and images, and the shapes of a `<Data>` tag.
fn event_data(q: char) -> impl Strategy<Value = String> {
    prop::collection::vec((data_name(), data_value(), 0u8..6), 0..6).prop_map(move |fields| {
        fields
            .into_iter()
            .map(|(name, value, shape)| match shape {
                0 => format!("<Data Name={q}{name}{q}/>"),
                1 => format!("<Data>{value}</Data>"),
                2 => format!("<Data x={q}1{q} Name={q}{name}{q}>{value}</Data>"),
                3 => format!("<Data Name={q}{name}{q} >{value}</Data >"),
                _ => format!("<Data Name={q}{name}{q}>{value}</Data>"),
            })
            .collect()
    })
}

/// One XmlWinEventLog record with games in `<System>` and around it, and in
/// `<EventData>`.
fn xml_record() -> impl Strategy<Value = String> {
    let q = prop::sample::select(vec!['\'', '"']);
    let fields = q.prop_flat_map(|q| (Just(q), event_data(q), any::<bool>()));
    (
        provider(),
        event_id(),
        image(),
        command_line(),
        fields,
        0u8..17,
        any::<bool>(),
    )
        .prop_map(|(provider, eid, image, cmd, (q, more, usual), game, newline)| {
            let cmd = cmd.replace('&', "&amp;").replace('"', "&quot;");
            let mut system = format!(
                "<Provider Name={q}{provider}{q} Guid={q}{{5770385f}}{q}/><EventID>{eid}</EventID><Version>5</Version><TimeCreated SystemTime={q}2020-12-19T07:00:22Z{q}/><EventRecordID>42</EventRecordID><Correlation/><Execution ProcessID={q}1{q}/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WS5</Computer><Security UserID={q}S-1-5-18{q}/>"
            );
            match game {
                0 => system.push_str("<EventID>1</EventID>"),
                1 => system = system.replace("<Correlation/>", "<Correlation / >"),
                2 => system = system.replace("<Version>", "<e:Version>"),
                3 => system = system.replace("<Channel>", "<Channel><x/>"),
                4 => system = system.replace(" Guid=", " Guid = "),
                5 => system = system.replace("/><EventID>", "/>\n <EventID Qualifiers=''>"),
                6 => system = system.replace("Name=", "x:Name="),
                7 => system.push_str("<!-- <Event> -->"),
                8 => system = system.replace("</Computer>", "</computer>"),
                _ => {}
            }
            let mut data = String::new();
            if usual {
                data = format!(
                    "<Data Name={q}Image{q}>{image}</Data><Data Name={q}CommandLine{q}>{cmd}</Data><Data Name={q}User{q}>CORP\\bob</Data><Data Name={q}Application{q}>{image}</Data><Data Name={q}TaskName{q}>\\T</Data><Data Name={q}LogonType{q}>3</Data><Data Name={q}IpAddress{q}>10.0.0.9</Data>"
                );
            }
            data.push_str(&more);
            // A processing instruction the lexer skips, hiding an end or a start tag.
            match game {
                10 => data.push_str("<?pi </Event> ?>"),
                11 => data.push_str("<?pi <Event> ?>"),
                // End and start tags the lexer reads otherwise than `</Event>`, and
                // the bytes the fast path's framing looks at, in a text.
                12 => data.push_str("<Data Name='x'>a</Data></Event\t>"),
                13 => data.push_str("<Data Name='x'>E!?Event</Data><Event/>"),
                14 => data.push_str("<Data Name='x'>EventE</Data></Event/>"),
                _ => {}
            }
            let start = if game == 9 {
                "<Event>"
            } else {
                "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
            };
            let end = if newline { "</Event>\n" } else { "</Event>" };
            // The part `wevtutil qe /f:RenderedXml` adds, which the full path skips,
            // and a broken one, which it cannot.
            let info = match game {
                15 => "<RenderingInfo Culture='en-US'><Message>a &amp; b > c</Message><Keywords><Keyword>Audit</Keyword></Keywords></RenderingInfo>",
                16 => "<RenderingInfo><Message></Level></RenderingInfo>",
                _ => "",
            };
            format!("{start}<System>{system}</System><EventData>{data}</EventData>{info}{end}")
        })
}

fn json_record() -> impl Strategy<Value = String> {
    (
        provider(),
        prop::sample::select(vec!["1", "3", "4688", "4698", "4624", "5145", "10", "\"1\"", "1.0", "-1", "null", "[1]", "\"\\u0031\""]),
        image(),
        command_line(),
        0u8..10,
    )
        .prop_map(|(provider, eid, image, cmd, game)| {
            let esc = |s: &str| s.replace('\\', "\\\\");
            let (image, cmd) = (esc(image), esc(cmd));
            let mut line = format!(
                r#"{{"EventTime":"2020-12-19 07:00:22","Hostname":"WS5","EventID":{eid},"SourceName":"{provider}","Channel":"Microsoft-Windows-Sysmon/Operational","Image":"{image}","CommandLine":"{cmd}","User":"CORP\\bob","n":-1.5,"ok":true,"z":null,"t":["a",1,null,{{}}]}}"#
            );
            match game {
                0 => line = line.replace(r#""ok""#, r#""EventID":1,"ok""#),
                1 => line = line.replace(r#""Hostname""#, r#""winlog":{"event_id":4688,"provider_name":"Microsoft-Windows-Security-Auditing"},"Hostname""#),
                2 => line = line.replace(r#""EventTime""#, r#""Event\u0049D":1,"EventTime""#),
                3 => line = line.replace("}", "} x"),
                4 => line = line.replace(r#""n":-1.5"#, r#""n":1e999"#),
                5 => line = line.replace(r#""ok""#, r#""event":{"category":["process"],"type":["start"]},"ok""#),
                6 => line = line.replace("WS5", "WS\u{7f}5\u{1}"),
                7 => line = format!("\u{FEFF}{line}"),
                _ => {}
            }
            line + "\n"
        })
}

/// A file of records with hostile pieces inserted at random places, maybe cut short.
fn mutated(
    records: Vec<String>,
    inserts: Vec<(prop::sample::Index, usize)>,
    cut: Option<prop::sample::Index>,
) -> Vec<u8> {
    let mut text = records.concat().into_bytes();
    for (at, piece) in inserts {
        let i = at.index(text.len() + 1);
        let piece = HOSTILE[piece % HOSTILE.len()].as_bytes();
        text.splice(i..i, piece.iter().copied());
    }
    if let Some(cut) = cut {
        text.truncate(cut.index(text.len() + 1));
    }
    text
}

fn inserts() -> impl Strategy<Value = Vec<(prop::sample::Index, usize)>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0..HOSTILE.len()), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn xml_fast_path_reports_what_the_full_path_reports(
        records in prop::collection::vec(xml_record(), 1..8),
        inserts in inserts(),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        wrapper in any::<bool>(),
    ) {
        let mut records = records;
        if wrapper {
            records.insert(0, "<?xml version='1.0'?>\n<Events>".into());
            records.push("</Events>".into());
        }
        same_report(&mutated(records, inserts, cut));
    }

    #[test]
    fn json_fast_path_reports_what_the_full_path_reports(
        records in prop::collection::vec(json_record(), 1..8),
        inserts in inserts(),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        same_report(&mutated(records, inserts, cut));
    }

    /// Records of one markup with other values, as a real log's are: the second and
    /// later are read through the fast path's templates (a process creation judged
    /// takes its `<Data>` names from its template), the values playing the games.
    #[test]
    fn xml_records_of_one_markup_report_the_same_on_both_paths(
        names in prop::collection::vec((data_name(), 0u8..3), 1..6),
        values in prop::collection::vec(
            (event_id(), prop::collection::vec(data_value(), 6)),
            2..8,
        ),
        q in prop::sample::select(vec!['\'', '"']),
        rendered in any::<bool>(),
    ) {
        let mut log = String::new();
        for (eid, texts) in &values {
            let info = if rendered {
                format!("<RenderingInfo Culture={q}en-US{q}><Message>{}</Message></RenderingInfo>", texts[0])
            } else {
                String::new()
            };
            let data: String = names
                .iter()
                .zip(texts)
                .map(|((name, shape), text)| match shape {
                    0 => format!("<Data>{text}</Data>"),
                    _ => format!("<Data Name={q}{name}{q}>{text}</Data>"),
                })
                .collect();
            log.push_str(&format!(
                "<Event xmlns={q}http://schemas.microsoft.com/win/2004/08/events/event{q}><System><Provider Name={q}Microsoft-Windows-Sysmon{q}/><EventID>{eid}</EventID><Computer>WS5</Computer></System><EventData>{data}</EventData>{info}</Event>\n"
            ));
        }
        same_report(log.as_bytes());
    }

    #[test]
    fn utf16_text_reports_the_same_on_both_paths(
        records in prop::collection::vec(xml_record(), 1..4),
        json in prop::collection::vec(json_record(), 1..4),
        as_json in any::<bool>(),
    ) {
        let text = if as_json { json.concat() } else { records.concat() };
        same_report(&utf16le(&text, true));
    }
}

/// The sure cases the fast path exists for are counted as the full path counts them,
/// with a detection among them: not only "no difference" on inputs where both fail.
#[test]
fn a_real_looking_log_counts_and_detects_the_same_on_both_paths() {
    let mut log = String::new();
    for i in 0..50 {
        // Connections that name schtasks, and others that do not (skipped by the fast
        // path), and other events.
        let three = sysmon3(&format!("WS{i}"));
        log.push_str(&three);
        log.push_str(&three.replace("schtasks.exe", "svchost.exe"));
        log.push_str(&three.replace(">3<", ">10<"));
        log.push('\n');
    }
    log.push_str(&sysmon1(
        '"',
        "WS1",
        SCHTASKS,
        "schtasks /create /tn T /tr c:\\x.exe /s WS6",
        "CORP\\bob",
    ));
    let report = same_report(log.as_bytes());
    assert_eq!(report.records(), 151);
    assert_eq!(report.detection_count(), 1);
}

/// Bytes that are not UTF-8 beside `schtasks.exe`, in values and in names, do not
/// change what the fast path's count of a process creation says: a bad byte is read as
/// U+FFFD, never as a letter.
#[test]
fn bad_utf8_beside_schtasks_reads_the_same_on_both_paths() {
    let record = |image: &[u8], name: &[u8]| {
        let text = sysmon1('"', "WS1", "IMAGE", REMOTE_CMD, "CORP\\bob")
            .replace("OriginalFileName", "Description");
        let text = text.replace("\"Image\"", "\"NAME\"").into_bytes();
        let text = replace(&text, b"IMAGE", image);
        replace(&text, b"NAME", name)
    };
    let mut log = Vec::new();
    // Detected: the file name is schtasks.exe whatever comes before it.
    log.extend(record(b"C:\\Windows\\\xff\xfe\\schtasks.exe", b"Image"));
    // Not schtasks.exe: a bad byte inside the name.
    log.extend(record(b"C:\\Windows\\scht\xffasks.exe", b"Image"));
    log.extend(record(b"C:\\Windows\\schtasks.exe\xe2\x80", b"Image"));
    // An image under a name that is not `Image` once read: not judged.
    log.extend(record(b"C:\\Windows\\schtasks.exe", b"Im\xffage"));
    let report = same_report(&log);
    assert_eq!(report.counts.process_events, 4, "{report:?}");
    assert_eq!(report.detection_count(), 1, "{report:?}");
    assert_eq!(report.counts.unjudged_events, 1, "{report:?}");
}

/// `text` with the first `from` replaced by `to`.
fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = text
        .windows(from.len())
        .position(|w| w == from)
        .expect("the pattern is in the text");
    [&text[..at], to, &text[at + from.len()..]].concat()
}

/// The EVTX samples' records rendered to XmlWinEventLog, one per line (as `wevtutil
/// qe /f:RenderedXml` and Splunk's XmlWinEventLog keep them), and the real JSON-lines
/// collections (attack_data, OTRF Security-Datasets, the derived set), archives
/// included, read on both paths.
#[test]
fn real_datasets_report_the_same_on_both_paths() {
    let evtx = [
        "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx",
        "EVTX-ATTACK-SAMPLES/Execution/sysmon_exec_from_vss_persistence.evtx",
        "EVTX-ATTACK-SAMPLES/Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx",
    ];
    let mut xml = Vec::new();
    for rel in evtx {
        let settings = evtx::ParserSettings::default().indent(false);
        let mut parser = evtx::EvtxParser::from_path(dataset(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e} (the datasets are in ../shared)"))
            .with_configuration(settings);
        for r in parser.records() {
            let r = r.expect("EVTX sample record renders");
            let one = r
                .data
                .trim_start_matches("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml.extend_from_slice(one.trim().replace('\n', "&#10;").as_bytes());
            xml.push(b'\n');
        }
    }
    let report = same_report(&xml);
    assert!(report.records() > 70, "{report:?}");
    assert!(report.counts.process_events > 0, "{report:?}");

    let json = [
        "splunk_attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.tar.gz",
        "OTRF_Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_create.zip",
        "OTRF_Security-Datasets/datasets/atomic/windows/lateral_movement/host/schtask_modification.zip",
        "OTRF_Security-Datasets/datasets/atomic/windows/persistence/host/empire_schtasks_creation_standard_user.zip",
        "derived/schtasks_related_events.jsonl",
    ];
    for rel in json {
        let path = dataset(rel);
        let full = scan_path(&path, &options(true));
        let fast = scan_path(&path, &options(false));
        assert!(full.records() > 0, "{rel}: nothing read: {full:?}");
        assert_eq!(fast, full, "{rel}");
    }
    // The bench's own sample, as shipped.
    let mut sample = Vec::new();
    std::fs::File::open(example())
        .and_then(|mut f| f.read_to_end(&mut sample))
        .expect("examples/schtasks_sample.xml");
    assert!(same_report(&sample).detection_count() > 0);
    assert!(Path::new(&example()).exists());
}

// Issue 14 round 2: the JSON-lines fast path finds strings from per-block quote masks
// (escapes at every offset around a 64-byte block's edge) and tells keys from their
// last three bytes (keys that share them, dotted keys, repeated paths). These cases
// would fail if either shortcut misread a line.

/// Pieces of a string's text: escapes the first pass must read right wherever a
/// block edge falls, and bytes it must refuse.
const JSON_STRING_PIECES: [&[u8]; 16] = [
    b"\\\\",
    b"\\\\\\\\",
    b"\\\"",
    b"\\\\\\\"",
    b"\\r\\n",
    b"\\/",
    b"\\u0041",
    b"\\a",
    b"\\",
    b"\"",
    b"\t",
    b"\xc3\xa9",
    b"\xff",
    b"\x7f",
    b"sch\\/tasks",
    b"ScHtAsKs",
];

/// Fields that share an event-type name's last bytes, name one through a dotted
/// path, repeat one, or hide one behind an escape; numbers serde_json may write back
/// otherwise than written (a judged record is filled without it when none is).
const JSON_KEY_GAMES: [&str; 23] = [
    r#""n":-0"#,
    r#""n":-9223372036854775808"#,
    r#""n":18446744073709551616"#,
    r#""n":[1,2.50,null,"x\ty",[3],{"a":-4}]"#,
    r#""CommandLine":"schtasks /create /s h\r\n/tn x /tr y""#,
    r#""EventType":"INFO""#,
    r#""XEventID":1"#,
    r#""Event.ID":1"#,
    r#""a.EventID":4688"#,
    r#""ProcessID":1"#,
    r#""EVENTID":1"#,
    r#""EventID":1"#,
    r#""EventID":"3""#,
    r#""a":{"EventID":3},"a.EventID":3"#,
    r#""event":{"code":"1"}"#,
    r#""winlog":{"event_id":4688,"provider_name":"Microsoft-Windows-Security-Auditing"}"#,
    r#""event.category":["process"],"event.type":["start"]"#,
    r#""Channel":"Security""#,
    r#""sourcetype":"XmlWinEventLog:Security""#,
    r#""OriginalFileName":"schtasks.exe""#,
    r#""Event\/ID":1"#,
    r#""k\\":{"EventID":1}"#,
    r#""SourceName":"Microsoft-Windows-Sysmon""#,
];

/// An NXLog-shaped line whose string and key games land at any offset of a block.
fn json_block_record() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..140,
        prop::collection::vec(0..JSON_STRING_PIECES.len(), 0..5),
        prop::collection::vec(0..JSON_KEY_GAMES.len(), 0..3),
        prop::sample::select(vec!["1", "3", "4688", "4698", "10"]),
        provider(),
        image(),
        command_line(),
        any::<bool>(),
    )
        .prop_map(|(pad, pieces, keys, eid, provider, image, cmd, crlf)| {
            let esc = |s: &str| s.replace('\\', "\\\\");
            let mut line = br#"{"EventTime":"2020-12-19 07:00:22","pad":""#.to_vec();
            line.extend(std::iter::repeat_n(b'a', pad));
            for piece in pieces {
                line.extend_from_slice(JSON_STRING_PIECES[piece]);
            }
            line.extend_from_slice(
                format!(r#"","EventID":{eid},"SourceName":"{provider}""#).as_bytes(),
            );
            for key in keys {
                line.push(b',');
                line.extend_from_slice(JSON_KEY_GAMES[key].as_bytes());
            }
            line.extend_from_slice(
                format!(
                    r#","Image":"{}","CommandLine":"{}","User":"CORP\\bob"}}"#,
                    esc(image),
                    esc(cmd)
                )
                .as_bytes(),
            );
            line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn json_escapes_at_block_edges_and_key_games_report_the_same_on_both_paths(
        records in prop::collection::vec(json_block_record(), 1..6),
        cut in prop::option::weighted(0.1, any::<prop::sample::Index>()),
    ) {
        let mut text = records.concat();
        if let Some(cut) = cut {
            text.truncate(cut.index(text.len() + 1));
        }
        same_report(&text);
    }
}

// Issue 14 round 3: the JSON-lines fast path looks only for the names of the fields
// that say what kind an event is (not the time, record-number or channel-only names),
// tells keys from their last four bytes, their length and whether they hold a dot, and
// takes the space as the only blank between tokens (its first pass refuses every byte
// below 0x20). These cases would fail if a repeated, odd or nested time or
// record-number field, a key that shares an event-type name's last four bytes or
// length (or is over 64 bytes long and dotted), or a tab, CR or run of spaces between
// tokens misled it.

/// Fields and separators the round-3 shortcuts must read as the full path does.
const JSON_KIND_GAMES: [&str; 27] = [
    r#""UtcTime":"a","UtcTime":"b""#,
    r#""AourceName":"Microsoft-Windows-Security-Auditing""#,
    r#""SourceName.":"Microsoft-Windows-Security-Auditing""#,
    r#""a_key_longer_than_sixty_four_bytes_that_ends_in_a_path_of_its_own.EventID":4688"#,
    r#""RecordNumber":1,"RecordNumber":2"#,
    r#""EventTime":1.5"#,
    r#""EventTime":"x\ty""#,
    r#""@timestamp":["a",1,null]"#,
    r#""winlog":{"record_id":"7","channel":"Security"}"#,
    r#""TimeCreated":{"SystemTime":"t"},"TimeCreated":"u""#,
    r#""AccountName":"x","SourceModuleName":"eventlog","EventType":"AUDIT_SUCCESS""#,
    r#""XSourceName":"Microsoft-Windows-Security-Auditing""#,
    r#""a.SourceName":"Microsoft-Windows-Security-Auditing""#,
    r#""Channel":"Microsoft-Windows-Sysmon/Operational","Channel":"Security""#,
    r#""ID":1"#,
    r#""Name":"x""#,
    r#""type":"start""#,
    r#""code":"1""#,
    r#""event_id":4688"#,
    r#""EventCode":"4688""#,
    r#""ActionType":"ProcessCreated""#,
    r#""event_simpleName":"ProcessRollup2""#,
    "\"EventID\":\t1",
    "\"EventID\"\r:1",
    r#""EventID" : 1"#,
    r#""EventID":  1 "#,
    r#""EventID":4688 , "SourceName" :  "Microsoft-Windows-Security-Auditing""#,
];

/// A line with round-3 games before or after its own event ID, its separators
/// written with or without a space.
fn json_kind_record() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((0..JSON_KIND_GAMES.len(), any::<bool>()), 0..4),
        prop::sample::select(vec!["1", "3", "4688", "4624", "10"]),
        provider(),
        image(),
        command_line(),
        any::<bool>(),
    )
        .prop_map(|(games, eid, provider, image, cmd, spaced)| {
            let esc = |s: &str| s.replace('\\', "\\\\");
            let (colon, comma) = if spaced { (": ", ", ") } else { (":", ",") };
            let mut fields = vec![
                format!(r#""EventTime"{colon}"2020-12-19 07:00:22""#),
                format!(r#""EventID"{colon}{eid}"#),
                format!(r#""SourceName"{colon}"{provider}""#),
            ];
            for (game, early) in games {
                let at = if early { 0 } else { fields.len() };
                fields.insert(at, JSON_KIND_GAMES[game].to_owned());
            }
            fields.push(format!(r#""Image"{colon}"{}""#, esc(image)));
            fields.push(format!(r#""CommandLine"{colon}"{}""#, esc(cmd)));
            format!("{{{}}}\n", fields.join(comma)).into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn json_kind_names_four_byte_keys_and_blanks_report_the_same_on_both_paths(
        records in prop::collection::vec(json_kind_record(), 1..6),
    ) {
        same_report(&records.concat());
    }
}

// Issue 14 round 4: the XML fast path reads a `<System>` part through its template up
// to the `</System>` the markup ends with (no search for it, no `&` nor UTF-8 check of
// the whole part), and keeps the kind `classify_event` gave each layout and set of
// event-type values. These cases would fail if a value that ends early, holds an
// entity, a bad byte or another spelling of an event ID or provider were misread.

/// A value of `<System>` (text or attribute) of records that share their markup: what
/// ends a value early or hides in it, bytes that are not UTF-8, and plain values.
const SYSTEM_VALUE_GAMES: [&[u8]; 14] = [
    b"WS5",
    b"",
    b" ",
    b"W&amp;S5",
    b"W&#83;5",
    b"WS\xff5",
    b"\xc3\xa9",
    b"W'S\"5",
    b"W<b/>S5",
    b"W</System>",
    b"W>S5",
    b"Microsoft-Windows-Sysmon",
    b"Sysmon\xff",
    b"1",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Records of one `<System>` markup, their event IDs, providers and other values
    /// changing from record to record (so that the templates and kinds kept from the
    /// records before are tried on each), read the same on both paths.
    #[test]
    fn xml_system_values_of_one_markup_report_the_same_on_both_paths(
        values in prop::collection::vec(
            (
                provider(),
                event_id(),
                prop::collection::vec(0..SYSTEM_VALUE_GAMES.len(), 4),
                image(),
            ),
            2..10,
        ),
        q in prop::sample::select(vec!['\'', '"']),
    ) {
        let mut log = Vec::new();
        for (provider, eid, games, image) in &values {
            let game = |i: usize| SYSTEM_VALUE_GAMES[games[i]];
            // The provider's value is itself a game now and then.
            let provider = if games[0] % 3 == 0 { game(3) } else { provider.as_bytes() };
            let record = [
                format!("<Event xmlns={q}http://schemas.microsoft.com/win/2004/08/events/event{q}><System><Provider Name={q}").as_bytes(),
                provider,
                format!("{q} Guid={q}").as_bytes(),
                game(1),
                format!("{q}/><EventID>{eid}</EventID><Version>").as_bytes(),
                game(2),
                format!("</Version><Execution ProcessID={q}").as_bytes(),
                game(3),
                format!("{q}/><Computer>").as_bytes(),
                game(0),
                format!("</Computer></System><EventData><Data Name={q}Image{q}>{image}</Data><Data Name={q}CommandLine{q}>{REMOTE_CMD}</Data></EventData></Event>\n").as_bytes(),
            ]
            .concat();
            log.extend(record);
        }
        same_report(&log);
    }
}

/// The kinds kept by layout and event-type values: one log of one markup whose event
/// IDs and providers take turns, a record of each pair many times, counts as the full
/// path counts it (a kind kept for one pair and given to another would move a record
/// between process events and other events).
#[test]
fn kinds_kept_for_event_ids_and_providers_count_as_the_full_path_counts() {
    let pairs = [
        ("1", "Microsoft-Windows-Sysmon"),
        ("1", "Microsoft-Windows-Security-Auditing"),
        ("4688", "Microsoft-Windows-Security-Auditing"),
        ("4688", "Microsoft-Windows-Sysmon"),
        ("3", "Microsoft-Windows-SYSMON"),
        ("3", "Microsoft-Windows-PowerShell"),
        (" 1", "sysmon"),
        ("01", "Microsoft-Windows-Sysmon"),
        ("10", "Microsoft-Windows-Sysmon"),
    ];
    let mut log = String::new();
    for round in 0..5 {
        for (i, (eid, provider)) in pairs.iter().enumerate() {
            if (i + round) % 2 == 0 {
                continue;
            }
            log.push_str(&format!(
                "<Event><System><Provider Name='{provider}'/><EventID>{eid}</EventID><Computer>WS{round}</Computer></System><EventData><Data Name='Image'>{SCHTASKS}</Data><Data Name='CommandLine'>{REMOTE_CMD}</Data><Data Name='User'>CORP\\bob</Data></EventData></Event>\n"
            ));
        }
    }
    let report = same_report(log.as_bytes());
    assert_eq!(report.records(), 22);
    // Sysmon's 1, Security's 4688 and ` 1` (trimmed) from `sysmon`: process
    // creations, the even pairs, written in rounds 1 and 3.
    assert_eq!(report.counts.process_events, 6, "{report:?}");
    assert!(report.detection_count() > 0, "{report:?}");
}
