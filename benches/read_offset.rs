//! What `read(2)` of a cached file costs by where the buffer it fills starts in its page
//! (issue 14, eighth round): 64 KiB reads, as the EVTX reader reads its chunks, of a
//! 64 MiB file (written to a temporary folder and read once first, so it is in the page
//! cache), into a buffer that starts 0 to 96 bytes past a page boundary in steps of 8,
//! and 2048, 4064, 4072 and 4088 bytes past it. The fastest of 5 passes for each
//! offset, wall time (the copy is the kernel's, in this thread).
//!
//! `cargo bench --bench read_offset` prints the table in `benches/README.md`. Run as a
//! test (`cargo test --all-targets`) it reads a 1 MiB file once per offset, and checks
//! that every pass read the whole file.

use std::fs::File;
use std::io::{Read, Write};
use std::time::Instant;

const PAGE: usize = 4096;
const READ: usize = 64 << 10;

/// Reads `path` to its end in `READ`-byte reads into `buf`; the bytes read.
fn read_all(path: &std::path::Path, buf: &mut [u8]) -> usize {
    let mut file = File::open(path).expect("the temporary file opens");
    let mut total = 0;
    loop {
        match file.read(buf).expect("the temporary file reads") {
            0 => return total,
            n => total += n,
        }
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (size, passes) = if bench { (64 << 20, 5) } else { (1 << 20, 1) };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cached");
    let mut file = File::create(&path).expect("temp file");
    // Not zeros, not a pattern a filesystem could store sparsely.
    let block: Vec<u8> = (0..READ).map(|i| (i * 7 + i / 251) as u8).collect();
    for _ in 0..size / READ {
        file.write_all(&block).expect("temp file written");
    }
    drop(file);
    let mut buf = vec![0u8; READ + 2 * PAGE];
    let page_start = buf.as_ptr().align_offset(PAGE);
    assert!(page_start < PAGE, "a page boundary in the buffer");
    assert_eq!(read_all(&path, &mut buf[..READ]), size, "warm-up read");

    println!(
        "| buffer's offset in its page, bytes | ms per {} MiB (fastest of {passes}) |",
        size >> 20
    );
    println!("|---:|---:|");
    for offset in (0..=96).step_by(8).chain([2048, 4064, 4072, 4088]) {
        let at = page_start + offset;
        let mut best = f64::MAX;
        for _ in 0..passes {
            let started = Instant::now();
            let read = read_all(&path, &mut buf[at..at + READ]);
            best = best.min(started.elapsed().as_secs_f64());
            assert_eq!(read, size, "every pass reads the whole file");
        }
        println!("| {offset} | {:.1} |", best * 1e3);
    }
}
