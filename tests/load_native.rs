//! Load: 10,000 distinct composed messages (text + HTML, UTF-8 subjects, a
//! few with attachments) through `mimeograph::native::Pool` with 4
//! connections, fed by 8 threads, to a real aiosmtpd (offering PIPELINING,
//! as most servers do). The server records each message's Message-ID,
//! Subject (both read by Python's `email` with policy.default) and envelope
//! (`--ids-only`); every Message-ID must arrive exactly once with its
//! subject and recipient, and no other.
//!
//! Memory must stay flat: the live heap (counted by a global allocator in
//! this test binary) and the RSS (`/proc/self/status`) are measured with no
//! message in flight after 2,000 and after 10,000 messages; the growth is
//! bounded. The figures (rate, CPU time, peak RSS (VmHWM), growth, a sample
//! every 1,000 messages) are printed on every run, captured or not.
//!
//! Needs `python3` with `aiosmtpd` (`pip install -r tests/requirements.txt`).
#![cfg(all(not(target_arch = "wasm32"), feature = "native", target_os = "linux"))]

mod native_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mimeograph::mime::{Attachment, Message};
use mimeograph::native::Pool;
use native_support::{options, server};

const TOTAL: usize = 10_000;
const CONNECTIONS: usize = 4;
const THREADS: usize = 8;
/// Samples are taken every this many messages sent.
const SAMPLE_EVERY: usize = 1_000;
/// Growth is measured from this many messages sent to the end.
const WARM_UP: usize = 2_000;
/// The most the live heap may grow from `WARM_UP` to `TOTAL` messages,
/// beyond the Message-IDs the test itself keeps, both measured with no
/// message in flight (measured: a few hundred bytes at most). A leak of 8
/// bytes per message would exceed it.
const HEAP_GROWTH_LIMIT: isize = 64 << 10;
/// The most the RSS may grow from `WARM_UP` to `TOTAL` messages (generous,
/// measured: about 3 MiB; the allocator keeps freed pages, and the heap
/// bound is the precise one).
const RSS_GROWTH_LIMIT_KIB: i64 = 16 << 10;

// ----- counting allocator -----

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the same arguments and
// returns its result unchanged, so `System`'s guarantees carry over; the
// only addition is an atomic counter update, which neither allocates nor
// touches the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ----- measurements -----

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// User + system CPU time of a process, from `/proc/PID/stat`.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) in ")".
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after ")".
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    sent: usize,
    rss_kib: i64,
    heap: isize,
    /// Bytes held by the Message-IDs the test kept so far.
    kept: isize,
}

/// Prints a line of figures to stderr even when the test harness captures
/// output (it captures `eprintln!`, not writes to the stderr handle), so
/// that every run, CI's included, shows them.
fn report(line: String) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "load_native: {line}");
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

// ----- the messages -----

const SUBJECTS: [&str; 6] = [
    "Grüße aus Köln",
    "日本語の件名",
    "ça va? — déjà vu",
    "Quarterly report 😀",
    "Ærøskøbing ✓ Ünïcödé",
    "plain ASCII subject",
];

fn subject(n: usize) -> String {
    format!("{} #{n}", SUBJECTS[n % SUBJECTS.len()])
}

fn recipient(n: usize) -> String {
    format!("user{n}@example.net")
}

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: usize) -> Vec<u8> {
    let mut x = seed as u32 ^ 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// Message `n`: text and HTML (a few KiB, UTF-8, a dot line), a UTF-8
/// subject; one in 50 with a binary attachment, one in 500 with a larger
/// one and a file attachment.
fn compose(n: usize) -> Message {
    let paragraph = format!(
        "Message {n}. Déjà vu: naïve café, Grüße, 日本語, emoji 😀. \
         The quick brown fox jumps over the lazy dog; line {n} keeps going for a while.\n"
    );
    let text = format!(
        "{}.\nA line with a single dot above.\n{}",
        paragraph.repeat(12),
        paragraph
    );
    let html = format!(
        "<html><body><h1>Message {n}</h1>{}<p>.</p></body></html>",
        format!("<p>{}</p>", paragraph.trim_end()).repeat(12)
    );
    let mut b = Message::builder()
        .from(format!("Zoë Sender <sender{}@example.com>", n % 7))
        .to(format!("Recipient {n} <{}>", recipient(n)))
        .subject(subject(n))
        .text(text)
        .html(html);
    if n.is_multiple_of(50) {
        b = b.attach(
            Attachment::bytes(noise(4096 + n % 16_384, n))
                .filename(format!("data-{n}.bin"))
                .content_type("application/octet-stream"),
        );
    }
    if n.is_multiple_of(500) {
        b = b
            .attach(Attachment::bytes(noise(256 << 10, n + 1)).filename(format!("big-{n}.bin")))
            .attach(
                Attachment::path(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/smtp.gif"),
                )
                .filename("smtp.gif"),
            );
    }
    b.build().unwrap()
}

// ----- the server's records -----

/// One `--ids-only` record.
struct Delivered {
    rcpt_tos: Vec<String>,
    conn: u64,
    peak: u64,
    size: u64,
    message_ids: Vec<String>,
    subject: Option<String>,
    defects: u64,
}

fn delivered(path: &std::path::Path) -> Vec<Delivered> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let strings = |k: &str| -> Vec<String> {
                v[k].as_array()
                    .unwrap_or_else(|| panic!("no {k} in {l}"))
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            let number = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {l}"));
            Delivered {
                rcpt_tos: strings("rcpt_tos"),
                conn: number("conn"),
                peak: number("peak"),
                size: number("size"),
                message_ids: strings("message_ids"),
                subject: v["subject"].as_str().map(str::to_string),
                defects: number("defects"),
            }
        })
        .collect()
}

// ----- the test -----

#[test]
fn ten_thousand_messages_through_a_pool_of_four_connections() {
    let s = server(&["--ids-only", "--pipelining"]);
    let (mut o, _) = options(s.port);
    o.logger = None;
    o.timeout = Duration::from_secs(30);
    let pool = Pool::new(o)
        .with_max_connections(CONNECTIONS)
        .with_max_messages(TOTAL);

    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let kept = AtomicIsize::new(0);
    // Reserved, so that neither grows between the measuring points.
    let samples = Mutex::new(Vec::with_capacity(TOTAL / SAMPLE_EVERY + 1));
    let sent: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::with_capacity(TOTAL));
    let sample = |count: usize| Sample {
        sent: count,
        rss_kib: status_kib("VmRSS"),
        heap: LIVE.load(Ordering::SeqCst),
        kept: kept.load(Ordering::SeqCst),
    };
    // Sends messages up to `upto` (exclusive) from THREADS threads; samples
    // every SAMPLE_EVERY messages (with other messages in flight).
    let send_up_to = |upto: usize| {
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= upto {
                        return;
                    }
                    let m = compose(n);
                    let id = m.message_id().to_string();
                    let result = pool
                        .send(m)
                        .unwrap_or_else(|e| panic!("message {n} ({id}): {e}"));
                    assert_eq!(result.message_id, id);
                    kept.fetch_add(id.capacity() as isize, Ordering::SeqCst);
                    sent.lock().unwrap().push((id, n));
                    let count = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if count.is_multiple_of(SAMPLE_EVERY) {
                        samples.lock().unwrap().push(sample(count));
                    }
                });
            }
        });
    };
    let server_cpu_before = cpu_time(&s.pid().to_string());
    let client_cpu_before = cpu_time("self");
    let started = Instant::now();
    // Two phases, so that both measuring points are taken with no message
    // in flight (the pool's connections stay open in between).
    send_up_to(WARM_UP);
    next.store(WARM_UP, Ordering::SeqCst);
    let warm = sample(WARM_UP);
    send_up_to(TOTAL);
    let end = sample(TOTAL);
    let elapsed = started.elapsed();
    let client_cpu = cpu_time("self").saturating_sub(client_cpu_before);
    let server_cpu = cpu_time(&s.pid().to_string()).saturating_sub(server_cpu_before);
    let peak_rss_kib = status_kib("VmHWM");
    pool.close().unwrap();

    // ----- the figures -----
    let mut samples = samples.into_inner().unwrap();
    samples.sort_by_key(|x| x.sent);
    report(format!(
        "{TOTAL} messages, {CONNECTIONS} connections, {THREADS} threads: {:.1} s, {:.0} messages/s; \
         CPU: this process {:.1} s, aiosmtpd {:.1} s",
        elapsed.as_secs_f64(),
        TOTAL as f64 / elapsed.as_secs_f64(),
        client_cpu.as_secs_f64(),
        server_cpu.as_secs_f64(),
    ));
    for x in &samples {
        report(format!(
            "after {:>5} messages: RSS {:>7} KiB, live heap {:>8.3} MiB (kept Message-IDs {:.3} MiB)",
            x.sent,
            x.rss_kib,
            mib(x.heap),
            mib(x.kept)
        ));
    }
    let rss_growth = end.rss_kib - warm.rss_kib;
    let heap_growth = (end.heap - warm.heap) - (end.kept - warm.kept);
    report(format!(
        "peak RSS (VmHWM) {peak_rss_kib} KiB; from message {WARM_UP} to {TOTAL} (nothing in flight): \
         RSS {rss_growth:+} KiB, live heap {:+} bytes beyond the kept Message-IDs ({warm:?} -> {end:?})",
        heap_growth
    ));

    // ----- what arrived -----
    let sent = sent.into_inner().unwrap();
    assert_eq!(sent.len(), TOTAL);
    let got = delivered(&s.out);
    let mut by_id: HashMap<&str, Vec<&Delivered>> = HashMap::new();
    for d in &got {
        assert_eq!(
            d.message_ids.len(),
            1,
            "one Message-ID header: {:?}",
            d.message_ids
        );
        let id = d.message_ids[0].trim();
        let id = id
            .strip_prefix('<')
            .and_then(|i| i.strip_suffix('>'))
            .unwrap_or_else(|| panic!("Message-ID without angle brackets: {id:?}"));
        by_id.entry(id).or_default().push(d);
    }
    let mut missing = Vec::new();
    for (id, n) in &sent {
        match by_id.remove(id.as_str()).as_deref() {
            Some([d]) => {
                assert_eq!(d.rcpt_tos, [recipient(*n)], "message {n} ({id})");
                assert_eq!(
                    d.subject.as_deref(),
                    Some(subject(*n).as_str()),
                    "message {n} ({id})"
                );
                assert_eq!(d.defects, 0, "message {n} ({id}): header defects");
                assert!(d.size > 2_000, "message {n} ({id}): {} bytes", d.size);
            }
            Some(more) => panic!("message {n} ({id}) arrived {} times", more.len()),
            None => missing.push(*n),
        }
    }
    assert!(
        missing.is_empty(),
        "{} messages never arrived: {missing:?}",
        missing.len()
    );
    assert!(
        by_id.is_empty(),
        "{} unexpected messages arrived",
        by_id.len()
    );
    assert_eq!(got.len(), TOTAL);

    let connections: std::collections::HashSet<u64> = got.iter().map(|d| d.conn).collect();
    let peak = got.iter().map(|d| d.peak).max().unwrap();
    report(format!(
        "the server saw {} connections, at most {peak} at once",
        connections.len()
    ));
    assert!(peak <= CONNECTIONS as u64, "{peak} connections at once");
    assert!(
        connections.len() <= CONNECTIONS,
        "{connections:?}: a connection was replaced"
    );
    assert!(peak >= 2, "the pool never used two connections at once");

    // ----- memory -----
    assert!(
        heap_growth < HEAP_GROWTH_LIMIT,
        "the live heap grew by {heap_growth} bytes from message {WARM_UP} to {TOTAL}: {warm:?} -> {end:?}"
    );
    assert!(
        rss_growth < RSS_GROWTH_LIMIT_KIB,
        "the RSS grew by {rss_growth} KiB from message {WARM_UP} to {TOTAL}: {warm:?} -> {end:?}"
    );
}
