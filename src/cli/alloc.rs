//! The static Linux builds' allocator (the Splunk app's `bin/` binaries, musl): dlmalloc
//! for blocks under 1 MiB (and larger ones aligned past a page), the kernel's own pages
//! (`mmap`/`munmap`) for the others.
//!
//! Why: musl's allocator gives memory back to the kernel as soon as it is freed, and
//! takes it again, zeroed page by page, for the next allocation of the size. The
//! evtx crate allocates per chunk, so the static build's EVTX scan spent twice the CPU
//! time of the glibc build on the same file (4,345 `mmap` and 4,315 `munmap` calls per
//! 100 MB, `strace -f -c`). dlmalloc (Doug Lea's allocator, in pure Rust: no C compiler
//! for the aarch64 cross build) keeps freed memory for the next allocation. Alone, it
//! also kept the search command's 14 MiB chunk buffers after their chunk, and the
//! command's peak memory moved with the chunks' sizes and order (19 to 25 MiB where musl
//! stayed at 17); so blocks of 1 MiB and more are mapped for themselves and unmapped when
//! freed, as glibc does from its mmap threshold (128 KiB to 32 MiB, adaptive; one
//! fixed threshold here).
//!
//! dlmalloc has one lock for the whole process, and `scan --threads N` allocates from
//! N workers and the printer at once: two threads on one 1 GB XmlWinEventLog file
//! spent 1.41 times the CPU of one (contended locks), against 1.19 for the glibc build
//! (1.16 with this cache; `benches/README.md`, eighth round).
//! So each thread keeps a few freed small blocks of each size (a cache in the manner
//! of glibc's tcache: [`CLASSES`] sizes of 16 bytes up to 1 KiB, [`DEPTH`] blocks each)
//! and takes from them without the lock; it takes blocks from the heap, and gives them
//! back, [`BATCH`] + 1 at a time under one lock (a worker allocates what the printer
//! frees, so one side's cache is always empty and the other's full). A block cached by
//! a thread that ends is not given back: at most 520 KiB a thread, for the threads a
//! process starts (`scan`'s workers and printer, a split file's piece threads, the
//! printer's helper; the search command starts none); each lasts as long as its work.
//!
//! The rule depends on the layout alone, so `dealloc` and `realloc` always know which
//! side a block came from, and a small block's class (what it was allocated as).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Blocks of this size and more are mapped for themselves.
const DIRECT: usize = 1 << 20;
/// What `mmap` aligns to (Linux pages are at least this).
const PAGE: usize = 4096;

/// Small blocks come in this many sizes, 16 bytes apart (16 to 1,024 bytes).
const CLASSES: usize = 64;
/// A thread keeps at most this many freed blocks of each size.
const DEPTH: usize = 16;
/// The alignment every small block has (dlmalloc's own).
const SMALL_ALIGN: usize = 16;

/// A block of class `c` from the heap, with [`BATCH`] more of it put in this thread's
/// cache, under one lock. Null when the heap has no memory left.
fn refill(c: usize) -> *mut u8 {
    let layout = class_layout(c);
    let mut heap = heap();
    // SAFETY: a valid layout; the blocks are this thread's until freed.
    let block = unsafe { heap.malloc(layout.size(), layout.align()) };
    for _ in 0..BATCH {
        // SAFETY: as above.
        let more = unsafe { heap.malloc(layout.size(), layout.align()) };
        if more.is_null() || !keep(c, more) {
            if !more.is_null() {
                // SAFETY: just allocated with this layout.
                unsafe { heap.free(more, layout.size(), layout.align()) };
            }
            break;
        }
    }
    block
}

/// Gives `block` and [`BATCH`] blocks of this thread's full class `c` back to the
/// heap, under one lock.
fn flush(c: usize, block: *mut u8) {
    let layout = class_layout(c);
    let mut heap = heap();
    // SAFETY: `block` and the cached blocks were allocated as class `c` and are free.
    unsafe { heap.free(block, layout.size(), layout.align()) };
    for _ in 0..BATCH {
        match cached(c) {
            // SAFETY: as above.
            Some(b) => unsafe { heap.free(b, layout.size(), layout.align()) },
            None => break,
        }
    }
}

/// dlmalloc under [`DIRECT`], the kernel's pages from it, small blocks cached per
/// thread. See the module doc.
pub struct StaticAlloc;

/// The process's one dlmalloc, behind one lock: taken once per batch of small blocks,
/// and for each block of more than 1 KiB (or aligned past 16 bytes) it serves.
static HEAP: Mutex<dlmalloc::Dlmalloc> = Mutex::new(dlmalloc::Dlmalloc::new());

/// The heap, locked (a panic cannot happen while it is held: poisoning is ignored).
fn heap() -> MutexGuard<'static, dlmalloc::Dlmalloc> {
    HEAP.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Blocks taken from or given back to the heap at a time, for one size class.
const BATCH: usize = DEPTH / 2;

fn direct(layout: Layout) -> bool {
    layout.size() >= DIRECT && layout.align() <= PAGE
}

/// The cache class of a small layout: `Some(c)` for blocks allocated as
/// `(c + 1) * 16` bytes.
fn class(layout: Layout) -> Option<usize> {
    let c = layout.size().max(1).div_ceil(SMALL_ALIGN) - 1;
    (c < CLASSES && layout.align() <= SMALL_ALIGN).then_some(c)
}

/// What a block of class `c` is allocated as.
fn class_layout(c: usize) -> Layout {
    // (c + 1) * 16 is at most 1 KiB, and 16 a power of two: always a valid layout.
    Layout::from_size_align((c + 1) * SMALL_ALIGN, SMALL_ALIGN).unwrap_or(Layout::new::<u128>())
}

/// One thread's freed small blocks, by class.
struct Cache {
    counts: [usize; CLASSES],
    blocks: [[*mut u8; DEPTH]; CLASSES],
}

thread_local! {
    /// Const-initialised and without `Drop`: reachable from any point of a thread's
    /// life, and it allocates nothing.
    static CACHE: std::cell::UnsafeCell<Cache> = const {
        std::cell::UnsafeCell::new(Cache {
            counts: [0; CLASSES],
            blocks: [[std::ptr::null_mut(); DEPTH]; CLASSES],
        })
    };
}

/// A block of class `c` from this thread's cache.
fn cached(c: usize) -> Option<*mut u8> {
    CACHE.with(|cache| {
        // SAFETY: the cache is this thread's alone, and nothing here calls out while
        // the reference lives (no allocation, no reentry).
        let cache = unsafe { &mut *cache.get() };
        let count = cache.counts.get_mut(c)?;
        let n = count.checked_sub(1)?;
        let block = *cache.blocks.get(c)?.get(n)?;
        *count = n;
        Some(block)
    })
}

/// Keeps a freed block of class `c` in this thread's cache; `false` when its class is
/// full.
fn keep(c: usize, block: *mut u8) -> bool {
    CACHE.with(|cache| {
        // SAFETY: as in `cached`.
        let cache = unsafe { &mut *cache.get() };
        let (Some(count), Some(blocks)) = (cache.counts.get_mut(c), cache.blocks.get_mut(c)) else {
            return false;
        };
        match blocks.get_mut(*count) {
            Some(slot) => {
                *slot = block;
                *count += 1;
                true
            }
            None => false,
        }
    })
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
        if let Some(c) = class(layout) {
            return cached(c).unwrap_or_else(|| refill(c));
        }
        if direct(layout) {
            map(layout.size())
        } else {
            heap().malloc(layout.size(), layout.align())
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_some() {
            let p = self.alloc(layout);
            if !p.is_null() {
                std::ptr::write_bytes(p, 0, layout.size());
            }
            return p;
        }
        if direct(layout) {
            // Anonymous pages are zeroed by the kernel.
            map(layout.size())
        } else {
            heap().calloc(layout.size(), layout.align())
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(c) = class(layout) {
            if !keep(c, ptr) {
                flush(c, ptr);
            }
        } else if direct(layout) {
            libc::munmap(ptr.cast(), layout.size());
        } else {
            heap().free(ptr, layout.size(), layout.align())
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        if class(layout).is_some() || class(new).is_some() {
            // The same class: the block already holds the new size.
            if class(layout) == class(new) {
                return ptr;
            }
            return self.moved(ptr, layout, new);
        }
        match (direct(layout), direct(new)) {
            (false, false) => heap().realloc(ptr, layout.size(), layout.align(), new_size),
            (true, true) => {
                let p = libc::mremap(ptr.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE);
                if p == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    p.cast()
                }
            }
            // From one side to the other.
            _ => self.moved(ptr, layout, new),
        }
    }
}

impl StaticAlloc {
    /// A new block, the bytes both hold, the old one freed.
    unsafe fn moved(&self, ptr: *mut u8, layout: Layout, new: Layout) -> *mut u8 {
        let p = self.alloc(new);
        if !p.is_null() {
            std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new.size()));
            self.dealloc(ptr, layout);
        }
        p
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
    fn a_freed_small_block_is_taken_again_by_its_thread() {
        let layout = Layout::from_size_align(40, 8).expect("layout");
        unsafe {
            let p = StaticAlloc.alloc(layout);
            StaticAlloc.dealloc(p, layout);
            // 33 to 48 bytes are one class: the block comes back from the cache.
            let bigger = Layout::from_size_align(48, 16).expect("layout");
            let q = StaticAlloc.alloc(bigger);
            assert_eq!(p, q);
            // Grown within its class, it stays where it is; past it, it moves.
            assert_eq!(StaticAlloc.realloc(q, bigger, 33), q);
            let r = StaticAlloc.realloc(q, Layout::from_size_align(33, 16).expect("layout"), 49);
            assert!(!r.is_null());
            StaticAlloc.dealloc(r, Layout::from_size_align(49, 16).expect("layout"));
        }
    }

    /// Threads allocate, fill, check and free blocks of every size up to 4 KiB, and
    /// hand a third of them to another thread to free (as scan's workers hand their
    /// detections to the printer): no block is handed out while it is live (a set of
    /// the live blocks' addresses, shared by all threads), and each keeps the tag its
    /// owner wrote.
    #[test]
    fn threads_allocating_and_freeing_each_others_blocks_keep_their_bytes() {
        use std::collections::HashSet;
        use std::sync::{Arc, Mutex};
        struct Block(*mut u8, Layout, u8);
        // SAFETY: a block is owned by one thread at a time, handed over whole.
        unsafe impl Send for Block {}
        let live_set = Arc::new(Mutex::new(HashSet::<usize>::new()));
        // Checks a block's bytes, forgets it and frees it.
        let free = {
            let live_set = Arc::clone(&live_set);
            move |Block(p, layout, tag): Block| {
                let bytes = unsafe { std::slice::from_raw_parts(p, layout.size()) };
                assert!(
                    bytes.iter().all(|&b| b == tag),
                    "a block kept its owner's bytes"
                );
                assert!(
                    live_set.lock().expect("set").remove(&(p as usize)),
                    "freed once"
                );
                unsafe { StaticAlloc.dealloc(p, layout) };
            }
        };
        let (give, take) = std::sync::mpsc::channel::<Block>();
        let freer = {
            let free = free.clone();
            std::thread::spawn(move || take.into_iter().for_each(free))
        };
        let workers: Vec<_> = (0..4u8)
            .map(|t| {
                let (give, free, live_set) = (give.clone(), free.clone(), Arc::clone(&live_set));
                std::thread::spawn(move || {
                    let mut live: Vec<Block> = Vec::new();
                    for i in 0..20_000usize {
                        let size = 1 + (i * 7919 + usize::from(t) * 104_729) % 4096;
                        let layout = Layout::from_size_align(size, 8).expect("layout");
                        let tag = (i as u8) ^ t;
                        let p = unsafe { StaticAlloc.alloc(layout) };
                        assert!(!p.is_null());
                        let new = live_set.lock().expect("set").insert(p as usize);
                        assert!(new, "a block handed out while live");
                        unsafe { std::ptr::write_bytes(p, tag, size) };
                        live.push(Block(p, layout, tag));
                        if i % 3 == 0 {
                            if let Some(b) = live.pop() {
                                give.send(b).expect("the freer runs");
                            }
                        } else if i % 2 == 0 && live.len() > 8 {
                            free(live.swap_remove(i % live.len()));
                        }
                    }
                    live.into_iter().for_each(free);
                })
            })
            .collect();
        drop(give);
        for w in workers {
            w.join().expect("a worker");
        }
        freer.join().expect("the freer");
        assert!(
            live_set.lock().expect("set").is_empty(),
            "every block freed"
        );
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
