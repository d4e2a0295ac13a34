//! Generated folder trees (issue 15): the input is a little program that builds a tree in
//! a temporary folder, with event files, gzip/zip/tar archives (whole, cut, with data
//! descriptors, nested), folders, symbolic links (to files, to folders, to an ancestor:
//! loops) and FIFOs; the tree is then walked and scanned as `scan` does, with and
//! without `--follow`, under a small decompressed-bytes cap.
//!
//! Checks besides "no panic" and "no hang" (libFuzzer's -timeout): a walk never lists a
//! FIFO or a path through a link it must not follow; with `--follow` no file is listed
//! twice; every report adds up (records = process + other + bad events) and stays
//! within its bounds (problems and skipped files kept).
#![no_main]

use std::io::Write;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/scan_support/zipgen.rs"]
mod zipgen;
use schtasksremote::replay::{
    expand_paths, scan_input, Input, ScanOptions, MAX_PROBLEMS_KEPT, MAX_SOURCES_LISTED,
};

const ONE: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID><Computer>WS1</Computer></System>\
<EventData><Data Name='Image'>C:\\Windows\\System32\\schtasks.exe</Data>\
<Data Name='CommandLine'>schtasks /create /tn T /s REMOTE01</Data></EventData></Event>\n";

/// Reads the program's bytes.
struct Program<'a>(&'a [u8]);

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// Event data of a kind the program picks: records, junk, or an archive of them.
fn content(p: &mut Program<'_>, depth: u32) -> Vec<u8> {
    let kind = p.byte().unwrap_or(0);
    let count = usize::from(p.byte().unwrap_or(1) % 4) + 1;
    let inner = |p: &mut Program<'_>| {
        if depth < 3 {
            content(p, depth + 1)
        } else {
            ONE.repeat(count).into_bytes()
        }
    };
    let mut data = match kind % 8 {
        0 => ONE.repeat(count).into_bytes(),
        1 => {
            let n = usize::from(p.byte().unwrap_or(0));
            p.bytes(n).to_vec()
        }
        2 => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = gz.write_all(&inner(p));
            gz.finish().unwrap_or_default()
        }
        3 | 4 => {
            // A zip; 4: written to a stream that cannot seek, so with data descriptors.
            let mut members = Vec::new();
            for i in 0..count {
                members.push((format!("m{i}.xml"), inner(p)));
            }
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            if kind % 8 == 3 {
                let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                for (name, data) in &members {
                    let _ = w.start_file(name.as_str(), options);
                    let _ = w.write_all(data);
                }
                w.finish().map(|c| c.into_inner()).unwrap_or_default()
            } else {
                zipgen::zip_with_descriptors(&members, true)
            }
        }
        5 => {
            let mut t = tar::Builder::new(Vec::new());
            for i in 0..count {
                let data = inner(p);
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                let _ = t.append_data(&mut h, format!("t{i}.xml"), data.as_slice());
            }
            t.into_inner().unwrap_or_default()
        }
        6 => {
            // Overwrite a few bytes of an archive.
            let mut data = inner(p);
            for _ in 0..count {
                let at = usize::from(p.byte().unwrap_or(0)) * 7;
                let b = p.byte().unwrap_or(0);
                if let Some(x) = data.get_mut(at) {
                    *x = b;
                }
            }
            data
        }
        _ => b"<Event><System><EventID>1</EventID></System>".repeat(count),
    };
    // Cut it (the last bytes of a zip, a gzip halfway).
    let cut = p.byte().unwrap_or(0);
    if cut >= 0xC0 {
        let keep = data.len() * usize::from(cut - 0xC0) / 64;
        data.truncate(keep);
    }
    data
}

fn build(root: &Path, p: &mut Program<'_>) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    let mut all = vec![root.to_path_buf()];
    let mut n = 0;
    while let Some(op) = p.byte() {
        n += 1;
        if n > 24 {
            break;
        }
        let pick = |p: &mut Program<'_>, v: &[PathBuf]| {
            let i = usize::from(p.byte().unwrap_or(0)) % v.len();
            v[i].clone()
        };
        let parent = pick(p, &dirs);
        let path = parent.join(format!("e{n}"));
        match op % 6 {
            0 | 1 => {
                let data = content(p, 0);
                let _ = std::fs::write(&path, data);
                all.push(path);
            }
            2 => {
                if std::fs::create_dir(&path).is_ok() {
                    dirs.push(path.clone());
                    all.push(path);
                }
            }
            3 => {
                // A link to anything made so far: a file, a folder, an ancestor (a loop),
                // or the folder itself.
                let target = pick(p, &all);
                let _ = std::os::unix::fs::symlink(&target, &path);
                all.push(path);
            }
            4 => {
                let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes().to_vec());
                if let Ok(c) = c {
                    // SAFETY: mkfifo on a NUL-terminated path we own.
                    unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
                }
            }
            _ => {
                let _ = std::os::unix::fs::symlink(path.join("dangling"), &path);
            }
        }
    }
    all
}

/// Whether any part of `path` below `root` is a symbolic link.
fn through_link(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return true;
    };
    let mut at = root.to_path_buf();
    rel.components().any(|c| {
        at.push(c);
        at.symlink_metadata()
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let root = dir.path().join("root");
    if std::fs::create_dir(&root).is_err() {
        return;
    }
    let mut program = Program(data);
    build(&root, &mut program);
    for follow in [false, true] {
        let options = ScanOptions {
            follow_links: follow,
            max_archive_bytes: 64 << 10,
            ..ScanOptions::default()
        };
        let (inputs, pre) = expand_paths(&[root.clone()], &options);
        let mut seen = std::collections::HashSet::new();
        for input in &inputs {
            let Input::Path { path, walked } = input else {
                panic!("a walk lists only paths");
            };
            assert!(*walked);
            let meta = std::fs::metadata(path).expect("a listed file exists");
            assert!(meta.is_file(), "{path:?} listed but not a regular file");
            if !follow {
                assert!(!through_link(&root, path), "{path:?}: a link was followed");
            } else {
                use std::os::unix::fs::MetadataExt;
                assert!(
                    seen.insert((meta.dev(), meta.ino())),
                    "{path:?} listed twice"
                );
            }
        }
        assert!(pre.problems.len() <= MAX_PROBLEMS_KEPT);
        assert!(pre.skipped_files.len() <= MAX_PROBLEMS_KEPT);
        for input in &inputs {
            let report = scan_input(input, &options);
            assert!(report.sources.len() <= MAX_SOURCES_LISTED);
            let c = report.counts;
            assert_eq!(c.sources, report.sources.len() as u64);
            assert_eq!(
                c.records,
                c.process_events + c.other_events + c.bad_records,
                "{report:?}"
            );
            assert_eq!(c.detections, report.detections.len() as u64);
            // The cap holds: what was read after decompression stays near it (each
            // member's sniffed head may pass it by one read).
            assert!(
                report.bytes <= (64 << 10) + 64 * 8192 + meta_len(input),
                "{report:?}"
            );
        }
    }
});

fn meta_len(input: &Input) -> u64 {
    match input {
        Input::Path { path, .. } => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        Input::Stdin => 0,
    }
}
