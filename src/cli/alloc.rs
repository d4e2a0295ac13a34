//! The static Linux builds' allocator (the Splunk app's `bin/` binaries, musl): dlmalloc
//! for everything under 1 MiB, the kernel's own pages (`mmap`/`munmap`) from 1 MiB up.
//!
//! Why: musl's allocator gives memory back to the kernel as soon as it is freed, and
//! takes it again, zeroed page by page, for the next allocation of the size. The
//! evtx crate allocates per chunk, so the static build's EVTX scan spent twice the CPU
//! time of the glibc build on the same file (4,345 `mmap` and 4,315 `munmap` calls per
//! 100 MB, `strace -c`). dlmalloc (Doug Lea's allocator, in pure Rust: no C compiler
//! for the aarch64 cross build) keeps freed memory for the next allocation. Alone, it
//! also kept the search command's 14 MiB chunk buffers after their chunk, and the
//! command's peak memory moved with the chunks' sizes and order (19 to 25 MiB where musl
//! stayed at 17); so blocks of 1 MiB and more are mapped for themselves and unmapped when
//! freed, as glibc does from its mmap threshold (128 KiB to 32 MiB, adaptive; one
//! fixed threshold here).
//!
//! The rule depends on the layout alone, so `dealloc` and `realloc` always know which
//! side a block came from.

use std::alloc::{GlobalAlloc, Layout};

/// Blocks of this size and more are mapped for themselves.
const DIRECT: usize = 1 << 20;
/// What `mmap` aligns to (Linux pages are at least this).
const PAGE: usize = 4096;

/// dlmalloc under [`DIRECT`], the kernel's pages from it. See the module doc.
pub struct StaticAlloc;

static SMALL: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn direct(layout: Layout) -> bool {
    layout.size() >= DIRECT && layout.align() <= PAGE
}

/// Fresh zeroed pages, or null.
unsafe fn map(size: usize) -> *mut u8 {
    let p = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

unsafe impl GlobalAlloc for StaticAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if direct(layout) {
            map(layout.size())
        } else {
            SMALL.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if direct(layout) {
            // Anonymous pages are zeroed by the kernel.
            map(layout.size())
        } else {
            SMALL.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if direct(layout) {
            libc::munmap(ptr.cast(), layout.size());
        } else {
            SMALL.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        match (direct(layout), direct(new)) {
            (false, false) => SMALL.realloc(ptr, layout, new_size),
            (true, true) => {
                let p = libc::mremap(ptr.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE);
                if p == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    p.cast()
                }
            }
            // From one side to the other: a new block, the bytes both hold, the old freed.
            _ => {
                let p = self.alloc(new);
                if !p.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                p
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocates through [`StaticAlloc`] (the test binary's own allocator is glibc's).
    fn with(size: usize, align: usize, f: impl FnOnce(*mut u8, Layout)) {
        let layout = Layout::from_size_align(size, align).expect("a valid layout");
        unsafe {
            let p = StaticAlloc.alloc_zeroed(layout);
            assert!(!p.is_null(), "{size} bytes");
            assert_eq!(p as usize % align, 0, "{size} bytes aligned to {align}");
            assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
            f(p, layout);
        }
    }

    #[test]
    fn blocks_on_both_sides_of_the_threshold_keep_their_bytes_through_realloc() {
        // Sizes under, at and over the threshold, grown and shrunk across it.
        let sizes = [1, 4096, DIRECT - 1, DIRECT, DIRECT + 1, 3 * DIRECT];
        for &from in &sizes {
            for &to in &sizes {
                with(from, 8, |p, layout| unsafe {
                    for i in 0..from {
                        *p.add(i) = (i % 251) as u8;
                    }
                    let q = StaticAlloc.realloc(p, layout, to);
                    assert!(!q.is_null(), "{from} -> {to}");
                    let kept = std::slice::from_raw_parts(q, from.min(to));
                    assert!(
                        kept.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
                        "{from} -> {to}: bytes kept"
                    );
                    StaticAlloc.dealloc(q, Layout::from_size_align(to, 8).expect("layout"));
                });
            }
        }
    }

    #[test]
    fn large_blocks_are_mapped_for_themselves_and_aligned_as_asked() {
        with(DIRECT, 8, |p, layout| unsafe {
            // A mapping of its own starts at a page.
            assert_eq!(p as usize % PAGE, 0);
            StaticAlloc.dealloc(p, layout);
        });
        // An alignment past a page stays with dlmalloc, which honours it.
        with(DIRECT, 2 * PAGE, |p, layout| unsafe {
            StaticAlloc.dealloc(p, layout)
        });
        with(64, 64, |p, layout| unsafe {
            StaticAlloc.dealloc(p, layout)
        });
    }
}
