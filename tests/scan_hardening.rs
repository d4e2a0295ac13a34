//! Hardening of the offline scanner's readers (src/replay/): reports that do not depend
//! on how the input is read, damaged EVTX chunks, cut-off gzip, a closed stdout.

mod scan_support;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use scan_support::*;
use schtasksremote::replay::{
    scan_path, scan_reader, scan_reader_as, Format, InputReport, ScanOptions,
};

// ---------------------------------------------------------------------------------------
// Readers that hand out the input in pieces.

/// Hands out `data` 1 to 8 bytes per read, sizes drawn from `seed` (splitmix64).
struct Trickle<'a> {
    data: &'a [u8],
    at: usize,
    state: u64,
}

impl<'a> Trickle<'a> {
    fn new(data: &'a [u8], seed: u64) -> Self {
        Trickle {
            data,
            at: 0,
            state: seed,
        }
    }

    fn next_size(&mut self) -> usize {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % 8) as usize + 1
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.data[self.at..];
        let n = self.next_size().min(rest.len()).min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

/// Hands out `data` in two reads: the first `cut` bytes, then the rest (as far as the
/// caller's buffer takes it).
struct TwoReads<'a> {
    data: &'a [u8],
    at: usize,
    cut: usize,
}

impl Read for TwoReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = if self.at < self.cut {
            self.cut
        } else {
            self.data.len()
        };
        let n = (end - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn scan_at_once(data: &[u8]) -> InputReport {
    scan_reader("input", data, &ScanOptions::default())
}

/// Scans `data` at once and in 1-8 byte pieces; the two reports must be equal.
fn assert_same_in_pieces(data: &[u8], seed: u64) -> InputReport {
    let whole = scan_at_once(data);
    let pieces = scan_reader("input", Trickle::new(data, seed), &ScanOptions::default());
    assert_eq!(
        whole, pieces,
        "the report depends on read sizes (seed {seed})"
    );
    whole
}

fn single(report: &InputReport) -> &schtasksremote::replay::SourceStats {
    assert_eq!(report.sources.len(), 1, "{report:?}");
    &report.sources[0]
}

// ---------------------------------------------------------------------------------------
// Inputs.

const SAMPLE: &[u8] = include_bytes!("../examples/schtasks_sample.xml");

fn remote() -> String {
    sysmon1('"', "WS1", SCHTASKS, REMOTE_CMD, "CORP\\u")
}

fn local() -> String {
    sec4688("WS2", SCHTASKS, LOCAL_CMD, "CORP", "v")
}

/// XmlWinEventLog with every kind of damage the splitter must frame the same way
/// whatever the read sizes: orphan end tags (with blanks before `>`, several in one
/// gap), a record cut off by the next `<Event`, `<EventData`/`<EventID`/`</Events>`
/// look-alikes between records, and a last record cut off by the end of the input.
/// Records: 4 readable remote creations, 1 readable local one, 7 bad.
fn damaged_xml() -> Vec<u8> {
    let r = remote();
    let cut_off = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>\
                   <System><EventID>1</EventID></System><EventData><Data Name='CommandLine'>\
                   schtasks /create /s FAR";
    let mut s = String::from("<?xml version=\"1.0\"?>\n<Events>\n");
    s += &r;
    s += "\n</Event >\n";
    s += &local();
    s += "\n</Event\n\n>\n";
    s += &r;
    s += "\n</Event></Event >\n</Event\r\n\t>\n";
    s += cut_off;
    s += &r;
    s += "\n<EventData>stray</EventData><EventIDx/><EventID>4688</EventID>\n";
    s += &r;
    s += "\n</Events>\n";
    s += &r[..r.len() / 2];
    s.into_bytes()
}

/// Real JSON lines (the first of the OTRF zip member, all the derived schtasks events),
/// a blank line, a line that is not JSON and a line with a Latin-1 byte in a command
/// line.
fn jsonl_lines() -> Vec<u8> {
    let zip = fs::File::open(dataset(OTRF_CREATE)).unwrap();
    let mut archive = zip::ZipArchive::new(zip).unwrap();
    let mut member = archive.by_index(0).unwrap();
    let mut otrf = Vec::new();
    member.read_to_end(&mut otrf).unwrap();
    let derived = fs::read(dataset("derived/schtasks_related_events.jsonl")).unwrap();

    let mut out = Vec::new();
    for line in otrf.split_inclusive(|&b| b == b'\n').take(20) {
        out.extend_from_slice(line);
    }
    out.extend_from_slice(&derived);
    out.extend_from_slice(b"\r\n\nnot a JSON object\n");
    out.extend_from_slice(
        b"{\"EventID\":1,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"Computer\":\"WS1\",\
          \"Image\":\"C:\\\\Windows\\\\System32\\\\schtasks.exe\",\
          \"CommandLine\":\"schtasks /create /s FAR /tn caf\xe9 /tr x\"}\n",
    );
    out
}

/// CSV as a Splunk export: quoted command lines (one over two lines), a row with the
/// wrong number of fields, invalid UTF-8.
fn csv_rows() -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    w.write_record(["_time", "dest", "user", "process_name", "process"])
        .unwrap();
    for i in 0..20 {
        let cmd = if i % 3 == 0 { REMOTE_CMD } else { LOCAL_CMD };
        w.write_record(["2026-03-02T09:14:07", "WS1", "CORP\\u", "schtasks.exe", cmd])
            .unwrap();
    }
    w.write_record([
        "t",
        "WS1",
        "u",
        "schtasks.exe",
        "schtasks /create /s FAR /tn \"two\nlines\" /tr b",
    ])
    .unwrap();
    w.write_record(["t", "WS1", "schtasks.exe"]).unwrap();
    let mut out = w.into_inner().unwrap();
    out.extend_from_slice(b"t,WS1,u,schtasks.exe,schtasks /create /s FAR /tn caf\xe9 /tr b\n");
    out
}

fn evtx_chunk(rel: &str) -> Vec<u8> {
    let bytes = fs::read(dataset(rel)).unwrap();
    assert_eq!(bytes.len(), 4096 + 65536, "{rel}: one chunk");
    bytes[4096..].to_vec()
}

/// A three-chunk EVTX file made of the chunks of three real one-chunk files, with a file
/// header that says so (chunk count, last chunk, checksum).
fn three_chunk_evtx() -> Vec<u8> {
    let mut out = fs::read(dataset(EVTX_RUNDLL32)).unwrap()[..4096].to_vec();
    out[16..24].copy_from_slice(&2u64.to_le_bytes());
    out[42..44].copy_from_slice(&3u16.to_le_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&out[..120]);
    out[124..128].copy_from_slice(&crc.sum().to_le_bytes());
    for rel in [EVTX_RUNDLL32, EVTX_VSS, EVTX_MSHTA] {
        out.extend(evtx_chunk(rel));
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. Reads of any size.

/// Scans `input` in two reads cut at every byte; each report must equal `whole`.
fn assert_same_at_every_cut(input: &[u8], whole: &InputReport) {
    for cut in 0..=input.len() {
        let two = TwoReads {
            data: input,
            at: 0,
            cut,
        };
        let report = scan_reader("input", two, &ScanOptions::default());
        assert_eq!(*whole, report, "reads cut at byte {cut}");
    }
}

/// The fault fixed in 947a2a1 (found by fuzzing): an orphan `</Event>` (what is left of
/// a record whose start tag is damaged) that straddled two reads was dropped when
/// blanks stood before its `>`.
#[test]
fn regression_947a2a1_orphan_end_tag_straddling_two_reads_is_still_reported() {
    let r = remote();
    let input = format!("{r}\n</Event\n\n\n>\n{r}\n</Event    >{r}");
    let whole = scan_at_once(input.as_bytes());
    let src = single(&whole);
    assert_eq!((src.records, src.bad_records, src.detections), (5, 2, 3));
    assert!(whole
        .problems
        .iter()
        .all(|p| p.message.contains("</Event> without its <Event> start tag")));
    assert_same_at_every_cut(input.as_bytes(), &whole);
}

/// The other half of 947a2a1: of several orphan end tags in one gap between records,
/// only the first was counted.
#[test]
fn regression_947a2a1_every_orphan_end_tag_in_one_gap_is_reported() {
    let r = remote();
    let input = format!("{r}\n</Event >\n\n</Event\n\n\n>\n</Event>{r}\n");
    let whole = scan_at_once(input.as_bytes());
    let src = single(&whole);
    assert_eq!((src.records, src.bad_records, src.detections), (5, 3, 2));
    assert_same_at_every_cut(input.as_bytes(), &whole);
}

#[test]
fn xml_damage_is_framed_the_same_at_every_cut_between_two_reads() {
    let input = damaged_xml();
    assert_same_at_every_cut(&input, &scan_at_once(&input));
}

#[test]
fn damaged_xml_input_holds_the_damage_the_piecewise_tests_rely_on() {
    let report = scan_at_once(&damaged_xml());
    let src = single(&report);
    assert_eq!(src.format, Format::Xml);
    assert_eq!(
        (
            src.records,
            src.process_events,
            src.bad_records,
            src.detections
        ),
        (12, 7, 5, 4),
        "{:#?}",
        report.problems
    );
    // The two records cut short are judged from their whole fields (issue 15): both
    // are cut inside their command line, so both are counted as not judged.
    assert_eq!((src.truncated_records, src.unjudged_events), (2, 2));
    let count = |text: &str| {
        report
            .problems
            .iter()
            .filter(|p| p.message.contains(text))
            .count()
    };
    assert_eq!(count("without its <Event> start tag"), 5);
    assert_eq!(count("(a new <Event> starts before its </Event>)"), 1);
    assert_eq!(count("(the input ends before its </Event>)"), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn xml_sample_gives_the_same_report_in_1_to_8_byte_reads(seed in any::<u64>()) {
        let report = assert_same_in_pieces(SAMPLE, seed);
        let src = single(&report);
        prop_assert_eq!(src.format, Format::Xml);
        prop_assert_eq!(src.detections, 2);
    }

    #[test]
    fn damaged_xml_gives_the_same_report_in_1_to_8_byte_reads(seed in any::<u64>()) {
        let report = assert_same_in_pieces(&damaged_xml(), seed);
        prop_assert_eq!(single(&report).bad_records, 5);
    }

    #[test]
    fn json_lines_give_the_same_report_in_1_to_8_byte_reads(seed in any::<u64>()) {
        let input = jsonl_lines();
        let report = assert_same_in_pieces(&input, seed);
        let src = single(&report);
        prop_assert_eq!(src.format, Format::JsonLines);
        prop_assert_eq!(src.bad_records, 1);
        // The Latin-1 line is judged, not dropped: it is a detection too.
        let replaced = "caf\u{fffd}";
        prop_assert!(report.detections.iter().any(|d| d.process.contains(replaced)));
    }

    #[test]
    fn csv_gives_the_same_report_in_1_to_8_byte_reads(seed in any::<u64>()) {
        let input = csv_rows();
        let report = assert_same_in_pieces(&input, seed);
        let src = single(&report);
        prop_assert_eq!(src.format, Format::Csv);
        prop_assert_eq!((src.records, src.bad_records, src.detections), (23, 1, 9));
    }
}

proptest! {
    // An EVTX scan in pieces is some 15,000 reads: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn evtx_gives_the_same_report_in_1_to_8_byte_reads(seed in any::<u64>()) {
        let input = fs::read(dataset(EVTX_VSS)).unwrap();
        let report = assert_same_in_pieces(&input, seed);
        let src = single(&report);
        prop_assert_eq!(src.format, Format::Evtx);
        prop_assert_eq!((src.records, src.bad_records), (17, 0));
    }

    #[test]
    fn xml_read_as_xml_gives_the_same_report_in_1_to_8_byte_reads(seed in any::<u64>()) {
        // Without sniffing in front (the fuzz targets' entry point).
        let input = damaged_xml();
        let options = ScanOptions::default();
        let whole = scan_reader_as("x", &input[..], Format::Xml, &options);
        let pieces = scan_reader_as("x", Trickle::new(&input, seed), Format::Xml, &options);
        prop_assert_eq!(whole, pieces);
    }
}

// ---------------------------------------------------------------------------------------
// 2. A damaged first EVTX chunk.

/// Stats of the one-chunk files whose chunks come second and third.
fn later_chunks() -> (u64, u64, u64) {
    let mut sums = (0, 0, 0);
    for rel in [EVTX_VSS, EVTX_MSHTA] {
        let report = scan_path(&dataset(rel), &ScanOptions::default());
        let src = single(&report);
        assert_eq!(src.bad_records, 0);
        sums.0 += src.records;
        sums.1 += src.process_events;
        sums.2 += src.other_events;
    }
    sums
}

#[test]
fn three_chunk_evtx_reads_all_its_chunks_when_intact() {
    let report = scan_at_once(&three_chunk_evtx());
    let src = single(&report);
    let (records, _, _) = later_chunks();
    assert_eq!((src.records, src.bad_records), (50 + records, 0));
    assert_eq!(report.problem_count, 0, "{:?}", report.problems);
}

/// The first chunk's `ElfChnk` magic overwritten.
fn bad_magic() -> Vec<u8> {
    let mut bytes = three_chunk_evtx();
    bytes[4096..4103].copy_from_slice(b"XXXXXXX");
    bytes
}

fn assert_first_chunk_lost_later_chunks_read(report: &InputReport) {
    let src = single(report);
    let (records, process, other) = later_chunks();
    assert_eq!(src.format, Format::Evtx);
    assert_eq!(
        (
            src.records,
            src.process_events,
            src.other_events,
            src.bad_records
        ),
        (records, process, other, 0)
    );
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert!(
        report.problems[0]
            .message
            .contains("EVTX chunk 0 (at byte 4096) unreadable"),
        "{}",
        report.problems[0]
    );
}

#[test]
fn evtx_first_chunk_with_bad_magic_is_reported_and_later_chunks_read() {
    assert_first_chunk_lost_later_chunks_read(&scan_at_once(&bad_magic()));
}

#[test]
fn evtx_first_chunk_with_bad_magic_inside_gzip_is_reported_and_later_chunks_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.evtx.gz");
    fs::write(&path, gzip(&bad_magic())).unwrap();
    let report = scan_path(&path, &ScanOptions::default());
    assert_first_chunk_lost_later_chunks_read(&report);
}

#[test]
fn evtx_first_chunk_with_bad_magic_on_stdin_is_reported_and_later_chunks_read() {
    let (records, process, other) = later_chunks();
    for input in [bad_magic(), gzip(&bad_magic())] {
        let out = scan_cli(&[OsStr::new("--per-source"), OsStr::new("-")], &input);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains("schtasksremote: -: EVTX chunk 0 (at byte 4096) unreadable"),
            "{err}"
        );
        // records, process events, not judged, other events, bad records, detections.
        let row = format!("-\tevtx\t{records}\t{process}\t0\t{other}\t0\t0\n");
        assert!(err.contains(&row), "{row:?} in {err}");
    }
}

/// The first chunk's body damaged: the start of its records, after the 512-byte chunk
/// header, which its string table points into (the chunk header itself is intact).
fn bad_body() -> Vec<u8> {
    let mut bytes = three_chunk_evtx();
    for b in &mut bytes[4096 + 512..4096 + 512 + 8192] {
        *b = 0xa5;
    }
    bytes
}

#[test]
fn evtx_first_chunk_with_damaged_records_is_reported_and_later_chunks_read() {
    let at_once = scan_at_once(&bad_body());
    assert_first_chunk_lost_later_chunks_read(&at_once);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.evtx.gz");
    fs::write(&path, gzip(&bad_body())).unwrap();
    let gz = scan_path(&path, &ScanOptions::default());
    assert_first_chunk_lost_later_chunks_read(&gz);

    let out = scan_cli(&[OsStr::new("-")], &bad_body());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("schtasksremote: -: EVTX chunk 0 (at byte 4096) unreadable"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. A gzip cut halfway.

/// 2,000 remote creations as XML, gzipped, cut at half.
fn cut_gzip() -> Vec<u8> {
    let xml = format!("{}\n", remote()).repeat(2000);
    let gz = gzip(xml.as_bytes());
    gz[..gz.len() / 2].to_vec()
}

#[test]
fn gzip_cut_halfway_keeps_the_records_before_the_cut_and_reports_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.xml.gz");
    fs::write(&path, cut_gzip()).unwrap();
    let report = scan_path(&path, &ScanOptions::default());
    let src = single(&report);
    assert!(src.records > 100 && src.records < 2000, "{src:?}");
    // The record cut by the end is judged from its whole fields: a detection, or not
    // judged when the cut fell in its command line.
    assert!(src.truncated_records <= 1, "{src:?}");
    assert_eq!(
        src.detections,
        src.records - src.bad_records - src.unjudged_events
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("read error")
                && p.message.contains("the rest of this input is skipped")),
        "{:?}",
        report.problems
    );

    // The CLI: every record before the cut printed, the cut on stderr, status 0 (the
    // scan ran); with --strict, status 2.
    let out = scan_cli(
        &[OsStr::new("--format"), OsStr::new("csv"), path.as_os_str()],
        b"",
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("schtasksremote: ")
            && l.contains("cut.xml.gz: ")
            && l.contains("read error at byte ")),
        "{err}"
    );
    assert_eq!(
        text(&out.stdout).lines().count() as u64,
        1 + src.detections,
        "header and one row per detection"
    );

    let out = scan_cli(&[OsStr::new("--strict"), path.as_os_str()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("stopped at the first problem (--strict)"));
}

// ---------------------------------------------------------------------------------------
// 4. A closed stdout.

#[test]
fn closed_stdout_ends_the_scan_quietly_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.xml");
    let record = remote();
    let mut file = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    for _ in 0..20_000 {
        writeln!(file, "{record}").unwrap();
    }
    file.flush().unwrap();
    drop(file);

    let mut child = Command::new(env!("CARGO_BIN_EXE_schtasksremote"))
        .args([OsStr::new("scan"), path.as_os_str()])
        .args(["--format", "csv"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"source,record,"));
    drop(stdout);

    // A guard against a hang, not a timing measure.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the scan did not end after its stdout was closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("cannot write to stdout"), "{err}");
}
