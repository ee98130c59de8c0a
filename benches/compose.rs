//! Issue 7, W1–W3: composing messages with mimeograph, mail-builder and
//! lettre, side by side (`cargo bench --bench compose`).
//!
//! 1. Every library's output for every workload is parsed back with
//!    mail-parser and checked to hold every header, body and attachment
//!    (so no library is measured doing less); this also runs under
//!    `cargo test`, where each benchmark then runs once.
//! 2. Criterion measures one message per iteration (statistics, HTML
//!    reports in `target/criterion`).
//! 3. The protocol: W1 and W2 build 10,000 messages, W3 builds 50;
//!    each run is timed whole (owned inputs are copied beforehand, 8 at a
//!    time, outside the clock), the median of 7 runs (`COMPOSE_RUNS`) is
//!    reported as messages/s (W1, W2) and output MB/s (W3, 1 MB = 10^6
//!    bytes), with the ratio of mimeograph to each peer. One untimed round comes first (a W1
//!    run is ~10 ms: without it the first library measured pays for the
//!    heap's and the CPU's warm-up), then the runs of the libraries
//!    alternate, so that a change in the machine's load weighs on all of
//!    them alike.
//!
//! `COMPOSE_BENCH=table` skips step 2, `COMPOSE_BENCH=criterion` skips
//! step 3. Peak memory is measured by the `compose_memory` bench.

mod common;

use common::peers::{compose, compose_len, verify, Lib};
use common::workloads::{self, Input};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

struct Workload {
    name: &'static str,
    input: Input,
    /// Messages per run in the protocol.
    count: usize,
    /// Reported in output MB/s rather than messages/s.
    bytes: bool,
}

fn workload(name: &str) -> Workload {
    let (name, input, count, bytes) = match name {
        "W1" => ("W1", workloads::w1(), 10_000, false),
        "W2" => ("W2", workloads::w2(), 10_000, false),
        "W3" => ("W3", workloads::w3(), 50, true),
        _ => panic!("no workload {name:?} (W1, W2 or W3)"),
    };
    Workload {
        name,
        input,
        count,
        bytes,
    }
}

/// Each message's own copy of the input, made before the clock starts,
/// for every library: the ones that take their inputs by value consume it,
/// mail-builder borrows it. (Until 2026-12-02 mail-builder borrowed the one
/// shared input, hot in the cache, while the others read 500 fresh copies,
/// 6 MiB for W2, from memory: the batch measured the cache, not the
/// library. `COMPOSE_SHARED_INPUT=1` measures that way again.)
fn owned(lib: Lib, input: &Input) -> Option<Input> {
    if std::env::var_os("COMPOSE_SHARED_INPUT").is_some() {
        return lib.owns_input().then(|| input.clone());
    }
    Some(input.clone())
}

fn check(workloads: &[Workload]) {
    for w in workloads {
        for lib in Lib::ALL {
            let out = compose(lib, &w.input);
            if let Ok(dir) = std::env::var("COMPOSE_DUMP") {
                let path = format!("{dir}/{}-{}.eml", w.name, lib.name());
                std::fs::write(&path, &out).expect("COMPOSE_DUMP");
            }
            if let Err(e) = verify(lib, &w.input, &out) {
                panic!("{}: {e}", w.name);
            }
        }
    }
    eprintln!("compose: every library's W1–W3 output parses back with all its parts");
}

fn criterion_benches(c: &mut Criterion, workloads: &[Workload]) {
    for w in workloads {
        let mut group = c.benchmark_group(format!("compose/{}", w.name));
        if w.bytes {
            group
                .sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .measurement_time(Duration::from_secs(8));
        }
        for lib in Lib::ALL {
            let throughput = if w.bytes {
                Throughput::Bytes(compose(lib, &w.input).len() as u64)
            } else {
                Throughput::Elements(1)
            };
            group.throughput(throughput);
            let batch = if w.bytes {
                BatchSize::PerIteration
            } else {
                BatchSize::SmallInput
            };
            group.bench_function(lib.name(), |b| {
                b.iter_batched(
                    || owned(lib, &w.input),
                    |o| black_box(compose_len(lib, black_box(&w.input), o)),
                    batch,
                )
            });
        }
        group.finish();
    }
}

/// One run of the protocol: `count` messages; returns the time
/// spent composing and the bytes written.
fn run(lib: Lib, w: &Workload) -> (Duration, u64) {
    // COMPOSE_BATCH (default 8): owned inputs copied per clock reading. A
    // batch of 500 W2 inputs (~6 MB) made the heap grow and shrink back
    // (glibc trims its top) every batch, and the kernel's page faults
    // took over half the process's time, every library's alike.
    let batch: usize = std::env::var("COMPOSE_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(8);
    let mut spent = Duration::ZERO;
    let mut bytes = 0u64;
    let mut left = w.count;
    while left > 0 {
        let n = left.min(if w.bytes { 1 } else { batch });
        let inputs: Vec<Option<Input>> = (0..n).map(|_| owned(lib, &w.input)).collect();
        let t0 = Instant::now();
        for o in inputs {
            bytes += compose_len(lib, black_box(&w.input), o) as u64;
        }
        spent += t0.elapsed();
        left -= n;
    }
    (spent, bytes)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn table(workloads: &[Workload]) {
    // COMPOSE_LIBS=mimeograph,lettre limits the table to some libraries.
    let libs = std::env::var("COMPOSE_LIBS").ok();
    let wanted = |lib: &Lib| {
        libs.as_ref()
            .is_none_or(|l| l.split(',').any(|n| n == lib.name()))
    };
    let libs: Vec<Lib> = Lib::ALL.into_iter().filter(wanted).collect();
    // COMPOSE_RUNS (default 7): runs per library and workload, after one
    // untimed round. The rounds interleave the libraries, so that a change
    // in the machine's load during the table weighs on all of them alike.
    let runs: usize = std::env::var("COMPOSE_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    for w in workloads {
        for &lib in &libs {
            black_box(run(lib, w));
        }
    }
    let mut samples = vec![vec![Vec::new(); workloads.len()]; libs.len()];
    for _ in 0..runs {
        for (j, w) in workloads.iter().enumerate() {
            for (i, &lib) in libs.iter().enumerate() {
                let (spent, bytes) = run(lib, w);
                let secs = spent.as_secs_f64();
                samples[i][j].push(if w.bytes {
                    bytes as f64 / secs / 1e6
                } else {
                    w.count as f64 / secs
                });
            }
        }
    }
    let rows: Vec<(&str, Vec<f64>)> = libs
        .iter()
        .zip(samples)
        .map(|(lib, per_workload)| (lib.name(), per_workload.into_iter().map(median).collect()))
        .collect();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!("Issue 7 protocol, medians of {runs} runs ({cores} cores, {cpu}):");
    println!();
    let header: Vec<String> = workloads
        .iter()
        .map(|w| {
            let unit = if w.bytes { "MB/s out" } else { "msgs/s" };
            format!(" {} {unit} |", w.name)
        })
        .collect();
    println!("| library |{}", header.concat());
    println!("|---|{}", "---:|".repeat(workloads.len()));
    for (name, rates) in &rows {
        let cells: Vec<String> = rates.iter().map(|r| format!(" {r:.0} |")).collect();
        println!("| {name} |{}", cells.concat());
    }
    if rows.first().map(|r| r.0) != Some(Lib::Mimeograph.name()) {
        return;
    }
    let ours = &rows[0].1;
    for (name, rates) in &rows[1..] {
        if *name == Lib::MimeographStream.name() {
            continue;
        }
        let cells: Vec<String> = ours
            .iter()
            .zip(rates)
            .map(|(o, r)| format!(" {:.2}× |", o / r))
            .collect();
        println!("| mimeograph / {name} |{}", cells.concat());
    }
    println!();
}

/// `COMPOSE_PROFILE=W2:mimeograph:200`: composes 200 W2 messages with one
/// library and nothing else, for a profiler (callgrind, perf).
fn profile(spec: &str) {
    let mut parts = spec.split(':');
    let (w, lib, n) = (parts.next(), parts.next(), parts.next());
    let w = workload(w.unwrap_or(""));
    let lib = Lib::ALL
        .into_iter()
        .find(|l| Some(l.name()) == lib)
        .expect("COMPOSE_PROFILE: library name");
    let n: usize = n.and_then(|n| n.parse().ok()).unwrap_or(100);
    let mut total = 0;
    for _ in 0..n {
        total += compose_len(lib, &w.input, owned(lib, &w.input));
    }
    eprintln!("{n} messages, {total} bytes");
}

fn main() {
    if let Ok(spec) = std::env::var("COMPOSE_PROFILE") {
        return profile(&spec);
    }
    // COMPOSE_ONLY=W1,W3 limits the run to some workloads.
    let only = std::env::var("COMPOSE_ONLY").unwrap_or_else(|_| "W1,W2,W3".into());
    let workloads: Vec<Workload> = ["W1", "W2", "W3"]
        .into_iter()
        .filter(|w| only.split(',').any(|o| o.trim() == *w))
        .map(workload)
        .collect();
    check(&workloads);
    let mode = std::env::var("COMPOSE_BENCH").unwrap_or_default();
    let bench = std::env::args().any(|a| a == "--bench");
    if mode != "table" {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c, &workloads);
        c.final_summary();
    }
    // Under `cargo test` (no --bench) the check and one pass are enough.
    if bench && mode != "criterion" {
        table(&workloads);
    }
}
