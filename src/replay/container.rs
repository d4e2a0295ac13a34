//! Paths, folders and containers: `.gz`, `.zip`, `.tar` (and `.tar.gz`) are opened
//! transparently, by content; archive members are streamed, never extracted.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::encoding::{decode_utf16, Utf16};
use super::jsonl::MAX_JSON_LINE;
use super::sniff::{sniff, Format, SNIFF_LEN};
use super::{
    Counting, InputReport, Location, Problem, ProblemKind, ScanOptions, Skip, SourceScan, Stopped,
};

/// Archives (zip, tar) inside archives are opened this deep (a zip bomb of nested
/// archives stops). Compression and encoding layers (gzip, UTF-16) do not count: a
/// `.tar.gz` is one archive.
pub const MAX_NESTING: u32 = 4;

/// Layers of any kind (gzip, UTF-16, zip, tar) are followed this deep: a gzip that
/// holds itself (a gzip quine) stops here.
pub const MAX_LAYERS: u32 = 16;

/// A file or archive member that cannot be read at all: reported and counted; with
/// `--strict`, the scan stops.
fn unreadable(
    report: &mut InputReport,
    options: &ScanOptions,
    source: &str,
    message: String,
) -> Result<(), Stopped> {
    reported(report, options, source, ProblemKind::Unreadable, message)
}

/// Reports a problem of a whole file, archive or member (an unreadable one is also
/// counted); with `--strict`, the scan stops. Once the scan is stopped, what a reader
/// meets while winding down is not news: nothing is reported.
fn reported(
    report: &mut InputReport,
    options: &ScanOptions,
    source: &str,
    kind: ProblemKind,
    message: String,
) -> Result<(), Stopped> {
    if options.stop.is_raised() {
        return Err(Stopped);
    }
    report.unreadable += u64::from(kind == ProblemKind::Unreadable);
    report.problem(Problem {
        source: source.to_owned(),
        kind,
        location: Location::default(),
        message,
    });
    if options.strict {
        report.aborted = true;
        options.stop.raise();
        return Err(Stopped);
    }
    Ok(())
}

/// Lists the regular files under `dir` (any depth), sorted by name within each folder,
/// like `find -type f` and ripgrep: symbolic links are not followed unless
/// [`ScanOptions::follow_links`] (then a loop back to a folder being walked is detected
/// by device and inode, by `walkdir`, and a file reached twice is listed once);
/// non-regular files (FIFOs, sockets, devices) are skipped. What is skipped is counted
/// in `report` ([`InputReport::skip`]); a folder that cannot be read is reported as
/// unreadable.
pub(crate) fn walk(
    dir: &Path,
    options: &ScanOptions,
    files: &mut Vec<PathBuf>,
    report: &mut InputReport,
) {
    let mut seen = SeenFiles::default();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(options.follow_links)
        .sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let name = e.path().unwrap_or(dir).display().to_string();
                if e.loop_ancestor().is_some() {
                    report.skip(&name, Skip::AlreadySeen);
                } else {
                    report.unreadable += 1;
                    report.problem(Problem {
                        source: name,
                        kind: ProblemKind::Unreadable,
                        location: Location::default(),
                        message: format!("cannot read: {}", io::Error::from(e)),
                    });
                }
                continue;
            }
        };
        let kind = entry.file_type();
        let name = || entry.path().display().to_string();
        if kind.is_dir() {
            continue;
        } else if kind.is_symlink() {
            report.skip(&name(), Skip::Link);
        } else if !kind.is_file() {
            report.skip(&name(), Skip::NotRegular);
        } else if options.follow_links && !seen.first_time(&entry) {
            report.skip(&name(), Skip::AlreadySeen);
        } else {
            files.push(entry.into_path());
        }
    }
}

/// The files a walk that follows links has listed, so that a file reached by two links
/// is scanned once: by device and inode on Unix, by canonical path elsewhere.
#[derive(Default)]
struct SeenFiles {
    #[cfg(unix)]
    ids: std::collections::HashSet<(u64, u64)>,
    #[cfg(not(unix))]
    paths: std::collections::HashSet<PathBuf>,
}

impl SeenFiles {
    #[cfg(unix)]
    fn first_time(&mut self, entry: &walkdir::DirEntry) -> bool {
        use std::os::unix::fs::MetadataExt;
        match entry.metadata() {
            Ok(m) => self.ids.insert((m.dev(), m.ino())),
            Err(_) => true,
        }
    }

    #[cfg(not(unix))]
    fn first_time(&mut self, entry: &walkdir::DirEntry) -> bool {
        std::fs::canonicalize(entry.path()).map_or(true, |p| self.paths.insert(p))
    }
}

/// A problem with an archive as a whole that does not stop its reading (a missing
/// central directory, an overlapping member, the cap reached); with `--strict`, the
/// scan stops.
fn archive_problem(
    report: &mut InputReport,
    options: &ScanOptions,
    source: &str,
    message: String,
) -> Result<(), Stopped> {
    reported(report, options, source, ProblemKind::Source, message)
}

/// How deep a stream lies in archives and layers, and what is left of its input's
/// decompressed-bytes budget ([`ScanOptions::max_archive_bytes`]).
#[derive(Clone, Copy)]
struct Nest<'b> {
    layers: u32,
    archives: u32,
    budget: &'b Cell<u64>,
    cap: u64,
}

impl<'b> Nest<'b> {
    fn top(budget: &'b Cell<u64>, options: &ScanOptions) -> Self {
        Nest {
            layers: 0,
            archives: 0,
            budget,
            cap: options.max_archive_bytes,
        }
    }

    fn inner(self, archive: bool) -> Self {
        Nest {
            layers: self.layers + 1,
            archives: self.archives + u32::from(archive),
            ..self
        }
    }

    fn spent(&self) -> bool {
        self.budget.get() == 0
    }

    /// `inner`'s bytes, counted against the budget.
    fn capped<R: Read>(&self, inner: R) -> Capped<'b, R> {
        Capped {
            inner,
            budget: self.budget,
            cap: self.cap,
        }
    }

    fn cap_message(&self) -> String {
        format!(
            "more than {} bytes decompressed from this input (the --max-archive-bytes cap): \
             the rest is not read",
            self.cap
        )
    }
}

/// Decompressed bytes, counted against an input's budget: once it is spent, a read
/// that would return more fails (the readers report it and stop), so an archive bomb
/// (overlapping zip entries, a gzip of zeros) costs at most the cap.
struct Capped<'b, R> {
    inner: R,
    budget: &'b Cell<u64>,
    cap: u64,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.get();
        if left == 0 {
            // At the cap exactly: only the end of the stream may follow.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!(
                    "more than {} bytes decompressed from this input (the \
                     --max-archive-bytes cap)",
                    self.cap
                ))),
            };
        }
        let room = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(buf.get_mut(..room).unwrap_or_default())?;
        self.budget.set(left - n as u64);
        Ok(n)
    }
}

/// Scans a file or a folder. `walked`: the path was found by walking a folder, so a file
/// that is not event data is skipped quietly (counted), not reported.
pub(crate) fn scan_path(
    path: &Path,
    options: &ScanOptions,
    report: &mut InputReport,
    walked: bool,
) {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            let _ = unreadable(report, options, &name, format!("cannot open: {e}"));
            return;
        }
    };
    if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, options, &mut files, report);
        if options.strict && report.unreadable > 0 {
            report.aborted = true;
            options.stop.raise();
            return;
        }
        for file in files {
            if options.stop.is_raised() {
                return;
            }
            scan_path(&file, options, report, true);
        }
        return;
    }
    if walked && !meta.is_file() {
        // Replaced by a FIFO or a device since the walk listed it: opening it could
        // block for ever.
        report.skip(&name, Skip::NotRegular);
        return;
    }
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = unreadable(report, options, &name, format!("cannot open: {e}"));
            return;
        }
    };
    let (head, error) = read_head(&mut file);
    if let (true, Some(e)) = (head.is_empty(), &error) {
        let _ = unreadable(report, options, &name, format!("cannot read: {e}"));
        return;
    }
    let format = sniff(&head);
    if let (Format::Unknown, Some(e)) = (format, &error) {
        let _ = unreadable(report, options, &name, format!("cannot read: {e}"));
        return;
    }
    if format == Format::Unknown {
        if walked {
            report.skip_not_event_data(&name);
        } else {
            let _ = unreadable(report, options, &name, not_event_data_message(&head, None));
        }
        return;
    }
    if let Some(p) = &options.progress {
        p.fetch_add(head.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let budget = Cell::new(options.max_archive_bytes);
    let nest = Nest::top(&budget, options);
    let mut rest = Counting::new(file, options);
    if format == Format::Zip && meta.is_file() {
        // A zip on disk is read through its central directory, and as a stream of
        // local headers when that is missing or cut.
        if let Err(e) = rest.seek(SeekFrom::Start(0)) {
            let _ = unreadable(report, options, &name, format!("cannot read: {e}"));
            return;
        }
        let _ = zip_file(&name, rest, options, report, nest.inner(true));
        return;
    }
    let rest = AfterHead { error, inner: rest };
    let mut whole = Cursor::new(head).chain(rest);
    let _ = dispatch(&name, format, &mut whole, options, report, nest, walked);
}

/// The first bytes of a stream, enough to tell its format: [`SNIFF_LEN`] bytes, and
/// more while they are all white space or the first line is not whole (9,000 blank
/// lines before the first record, a CSV header row longer than 8 KiB: issue 15 case
/// 11), up to [`MAX_JSON_LINE`] (the longest line any reader takes). Reads grow
/// geometrically, so a long head costs linear time.
///
/// A read error ends the head early and comes back beside the bytes read before it, so
/// a stream cut inside its first 8 KiB (a gzip cut short) still gives its whole records:
/// the reader meets the same error after the head's bytes ([`AfterHead`]).
fn read_head(reader: &mut dyn Read) -> (Vec<u8>, Option<io::Error>) {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    if let Err(e) = reader.take(SNIFF_LEN as u64).read_to_end(&mut head) {
        return (head, Some(e));
    }
    let mut want = SNIFF_LEN;
    while head.len() < MAX_JSON_LINE && first_line_unfinished(&head) {
        want = want.saturating_mul(2).min(MAX_JSON_LINE - head.len());
        let before = head.len();
        if let Err(e) = reader.take(want as u64).read_to_end(&mut head) {
            return (head, Some(e));
        }
        if head.len() < before + want {
            break;
        }
    }
    (head, None)
}

/// The rest of a stream after its head: the error that ended the head, if one did,
/// then the stream itself.
struct AfterHead<R> {
    error: Option<io::Error>,
    inner: R,
}

impl<R: Read> Read for AfterHead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.inner.read(buf),
        }
    }
}

/// Whether `head` is text whose first line that is not blank has not ended yet (a
/// binary format or a told one needs nothing more).
fn first_line_unfinished(head: &[u8]) -> bool {
    if head.len() < SNIFF_LEN || sniff(head) != Format::Unknown {
        return false;
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    match text.iter().position(|b| !b.is_ascii_whitespace()) {
        None => true,
        Some(first) => memchr::memchr(b'\n', text.get(first..).unwrap_or_default()).is_none(),
    }
}

/// The message for an input no reader takes: what was seen (from its first bytes,
/// after transcoding from `encoding`), then what is read.
fn not_event_data_message(head: &[u8], encoding: Option<Utf16>) -> String {
    if head.is_empty() && encoding.is_none() {
        return "empty file, not event data".to_owned();
    }
    format!(
        "not event data: {}; expected XmlWinEventLog, EVTX, JSON lines, CSV with process \
         fields, classic WinEventLog text (UTF-8 or UTF-16), or a gzip/zip/tar archive of them",
        super::seen::describe(head, encoding.map(Utf16::name))
    )
}

/// Scans a stream whose format is not known yet; `layers`: how deep it already lies.
pub(crate) fn scan_stream<R: Read>(
    name: &str,
    mut reader: R,
    options: &ScanOptions,
    report: &mut InputReport,
    layers: u32,
) -> Result<(), Stopped> {
    let budget = Cell::new(options.max_archive_bytes);
    let nest = Nest {
        layers,
        ..Nest::top(&budget, options)
    };
    scan_member(name, &mut reader, options, report, nest, false, None)
}

/// Scans a stream known to hold `format` (no sniffing).
pub(crate) fn scan_as(
    name: &str,
    reader: &mut dyn Read,
    format: Format,
    options: &ScanOptions,
    report: &mut InputReport,
) -> Result<(), Stopped> {
    let budget = Cell::new(options.max_archive_bytes);
    let nest = Nest::top(&budget, options);
    dispatch(name, format, reader, options, report, nest, false)
}

/// Scans a stream; `member`: it is an archive member (or a file found in a walked
/// folder), where files that are not event data (a README in a zip) are skipped
/// quietly. `encoding`: the stream was transcoded from it (for the message when the
/// text is not event data).
fn scan_member(
    name: &str,
    reader: &mut dyn Read,
    options: &ScanOptions,
    report: &mut InputReport,
    nest: Nest<'_>,
    member: bool,
    encoding: Option<Utf16>,
) -> Result<(), Stopped> {
    let (head, error) = read_head(reader);
    if let (true, Some(e)) = (head.is_empty(), &error) {
        return unreadable(report, options, name, format!("cannot read: {e}"));
    }
    let format = sniff(&head);
    if let (Format::Unknown, Some(e)) = (format, &error) {
        return unreadable(report, options, name, format!("cannot read: {e}"));
    }
    if format == Format::Unknown {
        if member {
            report.skip_not_event_data(name);
            return Ok(());
        }
        return unreadable(
            report,
            options,
            name,
            not_event_data_message(&head, encoding),
        );
    }
    let rest = AfterHead {
        error,
        inner: reader,
    };
    let mut whole = Cursor::new(head).chain(rest);
    dispatch(name, format, &mut whole, options, report, nest, member)
}

/// Archive readers nest, so streams are passed as `&mut dyn Read`: generic readers
/// would make the compiler build a type for every depth of nesting.
fn dispatch(
    name: &str,
    format: Format,
    reader: &mut dyn Read,
    options: &ScanOptions,
    report: &mut InputReport,
    nest: Nest<'_>,
    member: bool,
) -> Result<(), Stopped> {
    let archive = matches!(format, Format::Zip | Format::Tar);
    let layer = archive || matches!(format, Format::Gzip | Format::Utf16(_));
    if archive && nest.archives >= MAX_NESTING {
        return unreadable(
            report,
            options,
            name,
            format!("archives nested more than {MAX_NESTING} deep, not opened"),
        );
    }
    if layer && nest.layers >= MAX_LAYERS {
        return unreadable(
            report,
            options,
            name,
            format!("more than {MAX_LAYERS} layers of compression or archives, not opened"),
        );
    }
    match format {
        Format::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(reader);
            let mut decoder = nest.capped(decoder);
            let inner = nest.inner(false);
            scan_member(name, &mut decoder, options, report, inner, member, None)
        }
        Format::Utf16(utf16) => {
            let mut decoder = decode_utf16(reader, utf16);
            let inner = nest.inner(false);
            scan_member(
                name,
                &mut decoder,
                options,
                report,
                inner,
                member,
                Some(utf16),
            )
        }
        Format::Zip => zip_stream(name, reader, options, report, nest.inner(true)),
        Format::Tar => tar_stream(name, reader, options, report, nest.inner(true)),
        Format::Unknown => {
            if member {
                report.skip_not_event_data(name);
                Ok(())
            } else {
                // Only a caller that named the format `Unknown` gets here (scan_as);
                // sniffed streams are refused in scan_member, with what they hold.
                let message = "not event data (read as format \"unknown\")".to_owned();
                unreadable(report, options, name, message)
            }
        }
        Format::Evtx | Format::Xml | Format::JsonLines | Format::Csv | Format::ClassicText => {
            let mut scan = SourceScan::new(name, format, options, report);
            let result = match format {
                Format::Evtx => super::evtx::scan(reader, &mut scan),
                Format::Xml => super::xml::scan(reader, &mut scan),
                Format::JsonLines => super::jsonl::scan(reader, &mut scan),
                Format::ClassicText => super::classic::scan(reader, &mut scan),
                _ => super::csv::scan(reader, &mut scan),
            };
            scan.finish();
            result
        }
    }
}

fn member_name(archive: &str, member: &str) -> String {
    format!("{archive}!{member}")
}

/// A zip on disk: through its central directory when it is whole, else (cut, or no
/// central directory) as a stream of local headers from the start, so that a cut zip
/// keeps the members before the cut, as on stdin (issue 15 case 3).
fn zip_file<R: Read + Seek>(
    name: &str,
    mut reader: R,
    options: &ScanOptions,
    report: &mut InputReport,
    nest: Nest<'_>,
) -> Result<(), Stopped> {
    let entries = directory_entries(&mut reader);
    if let Err(e) = reader.seek(SeekFrom::Start(0)) {
        return unreadable(report, options, name, format!("cannot read: {e}"));
    }
    if entries.is_some_and(|n| n > MAX_ZIP_DIRECTORY) {
        // Its central directory would be held whole (about 200 bytes a member): read
        // the members from their local headers instead, in flat memory.
        return zip_stream(name, &mut reader, options, report, nest);
    }
    let error = match zip::ZipArchive::new(&mut reader) {
        Ok(archive) => return zip_directory(name, archive, options, report, nest),
        Err(e) => e,
    };
    archive_problem(
        report,
        options,
        name,
        format!(
            "zip central directory unreadable ({error}): the members are read from their \
             local headers, up to the first damage"
        ),
    )?;
    if let Err(e) = reader.seek(SeekFrom::Start(0)) {
        return unreadable(report, options, name, format!("cannot read: {e}"));
    }
    zip_stream(name, &mut reader, options, report, nest)
}

/// The number of members a zip's end of central directory record (or its zip64 form)
/// declares, if it can be found (APPNOTE.TXT 4.3.14–4.3.16).
fn directory_entries<R: Read + Seek>(reader: &mut R) -> Option<u64> {
    let len = reader.seek(SeekFrom::End(0)).ok()?;
    // The record is 22 bytes and ends the file, after a comment of up to 65,535 bytes.
    let tail_len = len.min(22 + 65_535);
    reader.seek(SeekFrom::Start(len - tail_len)).ok()?;
    let mut tail = vec![0u8; usize::try_from(tail_len).ok()?];
    reader.read_exact(&mut tail).ok()?;
    let le16 = |b: Option<&[u8]>| b.and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
    let le64 = |b: Option<&[u8]>| b.and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    // The last signature whose comment length reaches exactly the end of the file (a
    // comment may hold the signature's bytes).
    let at = (0..tail.len().saturating_sub(21)).rev().find(|&at| {
        tail.get(at..at + 4) == Some(&ZIP_END.to_le_bytes()[..])
            && le16(tail.get(at + 20..at + 22))
                .is_some_and(|c| at + 22 + usize::from(c) == tail.len())
    })?;
    let entries = le16(tail.get(at + 10..at + 12))?;
    if entries != u16::MAX {
        return Some(u64::from(entries));
    }
    // Zip64: a locator 20 bytes before the record gives the zip64 record's offset.
    let locator = tail.get(at.checked_sub(20)?..at)?;
    if locator.get(..4) != Some(&ZIP64_LOCATOR.to_le_bytes()[..]) {
        return None;
    }
    reader
        .seek(SeekFrom::Start(le64(locator.get(8..16))?))
        .ok()?;
    let mut record = [0u8; 56];
    reader.read_exact(&mut record).ok()?;
    if record.get(..4) != Some(&ZIP64_END.to_le_bytes()[..]) {
        return None;
    }
    le64(record.get(32..40))
}

/// A zip declaring more members than this is read from its local headers, as a stream,
/// instead of through its central directory (which the `zip` crate holds whole: about
/// 200 bytes a member), so that memory stays flat (issue 15 case 7).
pub const MAX_ZIP_DIRECTORY: u64 = 100_000;

/// The members of a zip read through its central directory. A member whose bytes
/// overlap another's (the overlapping-entries zip bomb: every entry points at one
/// compressed stream) is reported and not read.
fn zip_directory<R: Read + Seek>(
    name: &str,
    mut archive: zip::ZipArchive<R>,
    options: &ScanOptions,
    report: &mut InputReport,
    nest: Nest<'_>,
) -> Result<(), Stopped> {
    // The byte ranges of the members read so far, sorted by start.
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for i in 0..archive.len() {
        if nest.spent() {
            let left = archive.len() - i;
            let message = format!("{}; {left} members not read", nest.cap_message());
            return archive_problem(report, options, name, message);
        }
        let entry = match archive.by_index(i) {
            Ok(entry) => entry,
            Err(e) => {
                unreadable(report, options, name, format!("zip member {}: {e}", i + 1))?;
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let member = member_name(name, entry.name());
        let start = entry.header_start();
        let end = entry
            .data_start()
            .saturating_add(entry.compressed_size())
            .max(start + 1);
        let at = spans.partition_point(|s| s.0 < start);
        let before = at.checked_sub(1).and_then(|b| spans.get(b));
        let overlaps =
            before.is_some_and(|b| b.1 > start) || spans.get(at).is_some_and(|a| a.0 < end);
        if overlaps {
            let message = format!(
                "zip member {:?} overlaps another member's bytes (an overlapping-entries \
                 zip bomb, or a damaged directory): not read",
                entry.name()
            );
            archive_problem(report, options, name, message)?;
            continue;
        }
        spans.insert(at, (start, end));
        let mut entry = nest.capped(entry);
        scan_member(&member, &mut entry, options, report, nest, true, None)?;
    }
    Ok(())
}

/// Local file header, central directory header, end of central directory (and its
/// zip64 forms), data descriptor: APPNOTE.TXT 4.3.
const ZIP_LOCAL: u32 = 0x0403_4b50;
const ZIP_CENTRAL: u32 = 0x0201_4b50;
const ZIP_END: u32 = 0x0605_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP_DESCRIPTOR: u32 = 0x0807_4b50;

/// What a local header says about its member (APPNOTE.TXT 4.3.7, 4.5.3).
struct LocalHeader {
    flags: u16,
    method: u16,
    compressed: u64,
    zip64: bool,
    name: String,
}

/// Reads a local header after its signature.
fn read_local_header(reader: &mut impl Read) -> io::Result<LocalHeader> {
    let mut fixed = [0u8; 26];
    reader.read_exact(&mut fixed)?;
    let u16_at = |i: usize| {
        u16::from_le_bytes([
            fixed.get(i).copied().unwrap_or(0),
            fixed.get(i + 1).copied().unwrap_or(0),
        ])
    };
    let u32_at = |i: usize| u32::from(u16_at(i)) | (u32::from(u16_at(i + 2)) << 16);
    let (flags, method) = (u16_at(2), u16_at(4));
    let (compressed, uncompressed) = (u32_at(14), u32_at(18));
    let (name_len, extra_len) = (usize::from(u16_at(22)), usize::from(u16_at(24)));
    let mut name = vec![0u8; name_len];
    reader.read_exact(&mut name)?;
    let mut extra = vec![0u8; extra_len];
    reader.read_exact(&mut extra)?;
    let mut compressed = u64::from(compressed);
    let mut zip64 = false;
    // The zip64 extended information field (0x0001): the 64-bit sizes, uncompressed
    // first, each present only when its 32-bit field is 0xFFFFFFFF.
    let mut rest = extra.as_slice();
    let le16 = |b: Option<&[u8]>| b.and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
    while let (Some(id), Some(len)) = (le16(rest.get(..2)), le16(rest.get(2..4))) {
        let len = usize::from(len);
        let data = rest.get(4..4 + len).unwrap_or_default();
        if id == 1 {
            zip64 = true;
            let mut fields = data
                .chunks_exact(8)
                .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes));
            if uncompressed == u32::MAX {
                fields.next();
            }
            if compressed == u64::from(u32::MAX) {
                if let Some(c) = fields.next() {
                    compressed = c;
                }
            }
        }
        rest = rest.get(4 + len..).unwrap_or_default();
    }
    Ok(LocalHeader {
        flags,
        method,
        compressed,
        zip64,
        name: String::from_utf8_lossy(&name).into_owned(),
    })
}

/// A zip read entry by entry from its local headers: stdin, an archive member, or a
/// zip on disk whose central directory is missing. Stored and deflated members are
/// read, deflated ones also when their sizes come after them in a data descriptor (as
/// streaming writers such as Python's `zipfile` on a pipe write them).
fn zip_stream(
    name: &str,
    reader: &mut dyn Read,
    options: &ScanOptions,
    report: &mut InputReport,
    nest: Nest<'_>,
) -> Result<(), Stopped> {
    let mut reader = io::BufReader::with_capacity(
        64 << 10,
        Tell {
            inner: reader,
            at: 0,
        },
    );
    for index in 1u64.. {
        if nest.spent() {
            return archive_problem(report, options, name, nest.cap_message());
        }
        let offset = position(&reader);
        let mut signature = [0u8; 4];
        match read_full(&mut reader, &mut signature) {
            Ok(0) if index > 1 => {
                let message = format!(
                    "zip cut after {} members (no central directory): the members before \
                     the cut were read",
                    index - 1
                );
                return archive_problem(report, options, name, message);
            }
            Ok(4) => {}
            Ok(_) => {
                let message = format!("zip cut at byte {offset}, in member {index}'s header");
                return unreadable(report, options, name, message);
            }
            Err(e) => return unreadable(report, options, name, format!("cannot read: {e}")),
        }
        match u32::from_le_bytes(signature) {
            ZIP_LOCAL => {}
            ZIP_CENTRAL | ZIP_END | ZIP64_END => return Ok(()),
            _ => {
                let message = format!(
                    "not a zip member header at byte {offset} (member {index}): the rest of \
                     the archive is not read"
                );
                return unreadable(report, options, name, message);
            }
        }
        let header = match read_local_header(&mut reader) {
            Ok(h) => h,
            Err(e) => {
                let message = format!("zip cut at byte {offset}, in member {index}'s header: {e}");
                return unreadable(report, options, name, message);
            }
        };
        let member = member_name(name, &header.name);
        let descriptor = header.flags & 0x08 != 0;
        let readable = header.flags & 0x01 == 0 && matches!(header.method, 0 | 8);
        if !readable || (descriptor && header.method == 0) {
            let why = if header.flags & 0x01 != 0 {
                "encrypted".to_owned()
            } else if header.method == 0 {
                "stored with its size after its data".to_owned()
            } else {
                format!("compression method {} is not supported", header.method)
            };
            if descriptor {
                unreadable(report, options, &member, format!("{why}: not read"))?;
                let message = format!(
                    "member {index} has no size before its data, so its end cannot be \
                     found: the rest of the archive is not read"
                );
                return unreadable(report, options, name, message);
            }
            unreadable(report, options, &member, format!("{why}: not read"))?;
            if let Err(e) = drain(&mut (&mut reader).take(header.compressed)) {
                return unreadable(report, options, name, format!("zip cut: {e}"));
            }
            continue;
        }
        let damage = if header.method == 0 {
            let mut data = (&mut reader).take(header.compressed);
            if !header.name.ends_with('/') {
                let mut data = nest.capped(&mut data);
                scan_member(&member, &mut data, options, report, nest, true, None)?;
            }
            drain(&mut data).err().map(|e| format!("cut: {e}"))
        } else if descriptor {
            let decoder = flate2::bufread::DeflateDecoder::new(&mut reader);
            zip_deflated(&member, decoder, options, report, nest)?
        } else {
            let data = (&mut reader).take(header.compressed);
            let decoder = flate2::bufread::DeflateDecoder::new(data);
            zip_deflated(&member, decoder, options, report, nest)?
        };
        if let Some(damage) = damage {
            // The member's end is not known any more: nothing after it can be found.
            let message = format!("member {index} {damage}: the rest of the archive is not read");
            return unreadable(report, options, name, message);
        }
        if descriptor {
            if let Err(e) = skip_descriptor(&mut reader, header.zip64) {
                let message = format!("zip cut in member {index}'s data descriptor: {e}");
                return unreadable(report, options, name, message);
            }
        }
    }
    Ok(())
}

/// Reads a deflated member, then decompresses what its reader left (a member that is
/// not event data is only sniffed) to reach its end. `Some(what)`: the member is
/// damaged or cut.
fn zip_deflated<R: BufRead>(
    member: &str,
    decoder: flate2::bufread::DeflateDecoder<R>,
    options: &ScanOptions,
    report: &mut InputReport,
    nest: Nest<'_>,
) -> Result<Option<String>, Stopped> {
    let mut data = nest.capped(decoder);
    scan_member(member, &mut data, options, report, nest, true, None)?;
    Ok(drain(&mut data)
        .err()
        .map(|e| format!("is damaged or cut ({e})")))
}

/// Skips a data descriptor: an optional signature, the CRC-32, then both sizes (8
/// bytes each for zip64 members, 4 otherwise).
fn skip_descriptor(reader: &mut impl Read, zip64: bool) -> io::Result<()> {
    let mut first = [0u8; 4];
    reader.read_exact(&mut first)?;
    let sizes = if zip64 { 16 } else { 8 };
    let rest = if u32::from_le_bytes(first) == ZIP_DESCRIPTOR {
        4 + sizes
    } else {
        sizes
    };
    let mut skip = vec![0u8; rest];
    reader.read_exact(&mut skip)
}

/// Counts the bytes read from a stream (for offsets in messages).
struct Tell<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Read for Tell<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// The offset in the stream of the next byte a `BufReader` hands out.
fn position<R>(reader: &io::BufReader<Tell<R>>) -> u64 {
    reader
        .get_ref()
        .at
        .saturating_sub(reader.buffer().len() as u64)
}

/// Reads to the end of `reader`, throwing the bytes away.
fn drain(reader: &mut impl Read) -> io::Result<u64> {
    io::copy(reader, &mut io::sink())
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn tar_stream<R: Read>(
    name: &str,
    reader: R,
    options: &ScanOptions,
    report: &mut InputReport,
    nest: Nest<'_>,
) -> Result<(), Stopped> {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            return unreadable(
                report,
                options,
                name,
                format!("not a readable tar archive: {e}"),
            )
        }
    };
    for entry in entries {
        if nest.spent() {
            return archive_problem(report, options, name, nest.cap_message());
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                return unreadable(report, options, name, format!("tar archive damaged: {e}"))
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = member_name(name, &String::from_utf8_lossy(&entry.path_bytes()));
        let mut entry = nest.capped(entry);
        scan_member(&member, &mut entry, options, report, nest, true, None)?;
    }
    Ok(())
}

/// Reading stdin (`-`).
pub(crate) fn scan_stdin(options: &ScanOptions, report: &mut InputReport) {
    // Not counted for the progress bar, whose total is the size of the files.
    let stdin = Counting {
        inner: io::stdin().lock(),
        counter: None,
        stop: options.stop.clone(),
    };
    let _ = scan_stream("-", stdin, options, report, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(n: usize, comment: &str) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..n {
            let _ = w.start_file(format!("m{i}"), zip::write::SimpleFileOptions::default());
            let _ = w.write_all(b"x");
        }
        w.set_comment(comment);
        w.finish().map(Cursor::into_inner).unwrap_or_default()
    }

    #[test]
    fn the_member_count_is_read_from_the_end_of_central_directory() {
        for (n, comment) in [(0, ""), (3, ""), (7, "a comment holding PK\x05\x06 too")] {
            let zip = zip_of(n, comment);
            assert_eq!(directory_entries(&mut Cursor::new(&zip)), Some(n as u64));
        }
        // A zip64 end record (count 0xFFFF in the classic one) is followed.
        let mut zip = zip_of(2, "");
        let end = zip.len() - 22;
        let mut zip64 = Vec::new();
        zip64.extend(ZIP64_END.to_le_bytes());
        zip64.extend(44u64.to_le_bytes());
        zip64.extend([0u8; 20]);
        zip64.extend(250_000u64.to_le_bytes());
        zip64.extend(250_000u64.to_le_bytes());
        zip64.extend([0u8; 16]);
        let at = end as u64;
        let mut locator = Vec::new();
        locator.extend(ZIP64_LOCATOR.to_le_bytes());
        locator.extend(0u32.to_le_bytes());
        locator.extend(at.to_le_bytes());
        locator.extend(1u32.to_le_bytes());
        let mut classic = zip.split_off(end);
        classic[8..12].copy_from_slice(&[0xFF; 4]);
        classic[10..12].copy_from_slice(&[0xFF, 0xFF]);
        zip.extend(zip64);
        zip.extend(locator);
        zip.extend(classic);
        let n = directory_entries(&mut Cursor::new(&zip));
        assert_eq!(n, Some(250_000));
        assert!(n.is_some_and(|n| n > MAX_ZIP_DIRECTORY));
        // Not a zip, or cut before its end record: unknown.
        assert_eq!(directory_entries(&mut Cursor::new(b"not a zip")), None);
        let zip = zip_of(3, "");
        assert_eq!(
            directory_entries(&mut Cursor::new(&zip[..zip.len() - 22])),
            None
        );
    }
}
