//! Issue 7: peak heap while composing W1–W3, per library
//! (`cargo bench --bench compose_memory`).
//!
//! A counting global allocator tracks the bytes live on the heap. For each
//! library and workload, the inputs are prepared first (owned copies for
//! the libraries that take ownership, as in the `compose` bench), then the
//! peak is reset to the bytes live at that moment and the message is built
//! and rendered into a `Vec<u8>` (or streamed, chunks dropped, for
//! `mimeograph-stream`). The figure reported is the peak minus that
//! baseline: what composing added on top of inputs the caller already
//! held, the output included. Counting requested sizes, not the
//! allocator's pages, keeps it exact and independent of the allocator.

mod common;

use common::peers::{compose_len, Lib};
use common::workloads::{self, Input};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's own
// arguments, so `System`'s guarantees (and the caller's obligations) carry
// over unchanged; the counters are plain atomics with no effect on the
// memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as `GlobalAlloc::alloc`, passed through.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as `GlobalAlloc::alloc_zeroed`, passed through.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from
        // `System`, as `GlobalAlloc::dealloc` requires.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as `GlobalAlloc::realloc`, passed through.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // During a moving realloc both blocks are live for a moment.
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes added while composing `input` with `lib`, and the output size.
fn peak(lib: Lib, input: &Input) -> (usize, usize) {
    let owned = lib.owns_input().then(|| input.clone());
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let len = compose_len(lib, input, owned);
    (PEAK.load(Ordering::Relaxed) - base, len)
}

fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB ({bytes} B)", bytes as f64 / 1024.0)
    }
}

fn main() {
    let inputs = [
        ("W1", workloads::w1()),
        ("W2", workloads::w2()),
        ("W3", workloads::w3()),
    ];
    println!();
    println!("Peak heap added while composing (inputs excluded, output included):");
    println!();
    println!("| library | W1 | W2 | W3 | W3 output |");
    println!("|---|---:|---:|---:|---:|");
    let mut w3 = Vec::new();
    for lib in Lib::ALL {
        let mut cells = Vec::new();
        let mut out = 0;
        for (name, input) in &inputs {
            let (p, len) = peak(lib, input);
            cells.push(mib(p));
            if *name == "W3" {
                out = len;
                w3.push((lib, p));
            }
        }
        println!(
            "| {} | {} | {} | {} | {} |",
            lib.name(),
            cells[0],
            cells[1],
            cells[2],
            mib(out)
        );
    }
    let ours = w3[0].1 as f64;
    for (lib, p) in &w3[1..] {
        println!(
            "W3 peak: mimeograph / {} = {:.2}",
            lib.name(),
            ours / *p as f64
        );
    }
    println!();
}
