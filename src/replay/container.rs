//! Paths, folders and containers: `.gz`, `.zip`, `.tar` (and `.tar.gz`) are opened
//! transparently, by content; archive members are streamed, never extracted.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::encoding::{decode_utf16, Utf16};
use super::sniff::{sniff, Format, SNIFF_LEN};
use super::{
    Counting, InputReport, Location, Problem, ProblemKind, ScanOptions, Skip, SourceScan, Stopped,
};

/// Archives inside archives are followed this deep (a zip bomb of nested archives stops).
pub const MAX_NESTING: u32 = 4;

/// A file or archive member that cannot be read at all: reported and counted; with
/// `--strict`, the scan stops.
fn unreadable(
    report: &mut InputReport,
    options: &ScanOptions,
    source: &str,
    message: String,
) -> Result<(), Stopped> {
    report.unreadable += 1;
    report.problem(Problem {
        source: source.to_owned(),
        kind: ProblemKind::Unreadable,
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

/// The files a walk that follows links has listed, by device and inode (Unix), so
/// that a file reached by two links is scanned once.
#[derive(Default)]
struct SeenFiles(std::collections::HashSet<(u64, u64)>);

impl SeenFiles {
    #[cfg(unix)]
    fn first_time(&mut self, entry: &walkdir::DirEntry) -> bool {
        use std::os::unix::fs::MetadataExt;
        match entry.metadata() {
            Ok(m) => self.0.insert((m.dev(), m.ino())),
            Err(_) => true,
        }
    }

    #[cfg(not(unix))]
    fn first_time(&mut self, _entry: &walkdir::DirEntry) -> bool {
        true
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
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = unreadable(report, options, &name, format!("cannot open: {e}"));
            return;
        }
    };
    let mut head = Vec::with_capacity(SNIFF_LEN);
    if let Err(e) = (&mut file).take(SNIFF_LEN as u64).read_to_end(&mut head) {
        let _ = unreadable(report, options, &name, format!("cannot read: {e}"));
        return;
    }
    let format = sniff(&head);
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
    let rest = Counting::new(file, options);
    if format == Format::Zip {
        // A zip on disk is read through its central directory, which is reliable where
        // streaming is not (entries written with data descriptors have no sizes up front).
        let mut rest = rest;
        if let Err(e) = rest.seek(SeekFrom::Start(0)) {
            let _ = unreadable(report, options, &name, format!("cannot read: {e}"));
            return;
        }
        let _ = zip_archive(&name, rest, options, report, 0);
        return;
    }
    let mut whole = Cursor::new(head).chain(rest);
    let _ = dispatch(&name, format, &mut whole, options, report, 0, walked);
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

/// Scans a stream whose format is not known yet.
pub(crate) fn scan_stream<R: Read>(
    name: &str,
    mut reader: R,
    options: &ScanOptions,
    report: &mut InputReport,
    depth: u32,
) -> Result<(), Stopped> {
    scan_member(name, &mut reader, options, report, depth, false, None)
}

/// Scans a stream known to hold `format` (no sniffing).
pub(crate) fn scan_as(
    name: &str,
    reader: &mut dyn Read,
    format: Format,
    options: &ScanOptions,
    report: &mut InputReport,
) -> Result<(), Stopped> {
    dispatch(name, format, reader, options, report, 0, false)
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
    depth: u32,
    member: bool,
    encoding: Option<Utf16>,
) -> Result<(), Stopped> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    if let Err(e) = (&mut *reader).take(SNIFF_LEN as u64).read_to_end(&mut head) {
        return unreadable(report, options, name, format!("cannot read: {e}"));
    }
    let format = sniff(&head);
    if format == Format::Unknown {
        if member {
            report.not_event_data += 1;
            return Ok(());
        }
        return unreadable(
            report,
            options,
            name,
            not_event_data_message(&head, encoding),
        );
    }
    let mut whole = Cursor::new(head).chain(reader);
    dispatch(name, format, &mut whole, options, report, depth, member)
}

/// Archive readers nest, so streams are passed as `&mut dyn Read`: generic readers
/// would make the compiler build a type for every depth of nesting.
fn dispatch(
    name: &str,
    format: Format,
    reader: &mut dyn Read,
    options: &ScanOptions,
    report: &mut InputReport,
    depth: u32,
    member: bool,
) -> Result<(), Stopped> {
    let layer = matches!(
        format,
        Format::Gzip | Format::Zip | Format::Tar | Format::Utf16(_)
    );
    if depth > MAX_NESTING && layer {
        return unreadable(
            report,
            options,
            name,
            format!("archives nested more than {MAX_NESTING} deep, not opened"),
        );
    }
    match format {
        Format::Gzip => {
            let mut decoder = flate2::read::MultiGzDecoder::new(reader);
            scan_member(name, &mut decoder, options, report, depth + 1, member, None)
        }
        Format::Utf16(utf16) => {
            let mut decoder = decode_utf16(reader, utf16);
            scan_member(
                name,
                &mut decoder,
                options,
                report,
                depth + 1,
                member,
                Some(utf16),
            )
        }
        Format::Zip => zip_stream(name, reader, options, report, depth + 1),
        Format::Tar => tar_stream(name, reader, options, report, depth + 1),
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

fn zip_archive<R: Read + Seek>(
    name: &str,
    reader: R,
    options: &ScanOptions,
    report: &mut InputReport,
    depth: u32,
) -> Result<(), Stopped> {
    let mut archive = match zip::ZipArchive::new(reader) {
        Ok(a) => a,
        Err(e) => {
            return unreadable(
                report,
                options,
                name,
                format!("not a readable zip archive: {e}"),
            )
        }
    };
    for i in 0..archive.len() {
        match archive.by_index(i) {
            Ok(entry) => {
                if entry.is_dir() {
                    continue;
                }
                let member = member_name(name, entry.name());
                let mut entry = entry;
                scan_member(&member, &mut entry, options, report, depth + 1, true, None)?;
            }
            Err(e) => unreadable(report, options, name, format!("zip member {}: {e}", i + 1))?,
        }
    }
    Ok(())
}

/// A zip that is not a file on disk (stdin, an archive member): read entry by entry
/// from the local headers.
fn zip_stream<R: Read>(
    name: &str,
    mut reader: R,
    options: &ScanOptions,
    report: &mut InputReport,
    depth: u32,
) -> Result<(), Stopped> {
    loop {
        match zip::read::read_zipfile_from_stream(&mut reader) {
            Ok(Some(entry)) => {
                if entry.is_dir() {
                    continue;
                }
                let member = member_name(name, entry.name());
                let mut entry = entry;
                scan_member(&member, &mut entry, options, report, depth, true, None)?;
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                return unreadable(report, options, name, format!("zip stream unreadable: {e}"));
            }
        }
    }
}

fn tar_stream<R: Read>(
    name: &str,
    reader: R,
    options: &ScanOptions,
    report: &mut InputReport,
    depth: u32,
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
        let mut entry = entry;
        scan_member(&member, &mut entry, options, report, depth, true, None)?;
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
