//! W4 (issue 7): SMTP send throughput over one connection, against a
//! loopback sink, for mimeograph (blocking, tokio, npm package) and its
//! peers (lettre, mail-send, nodemailer, emailjs).
//!
//! ```text
//! cargo bench --bench smtp [-- OPTIONS]     (or benches/w4.sh OPTIONS)
//!   --messages N       messages per run (2000)
//!   --cap SECS         stop a run after this long (10; stalled peers)
//!   --repeat R         runs per cell, the median is kept (1)
//!   --senders a,b      among mimeograph, mimeograph-async, mimeograph-js,
//!                      lettre, mail-send, mail-send-pipelined, nodemailer,
//!                      emailjs (all)
//!   --sinks m:a,...    sink modes pc|p|none, ACK quick|normal
//!                      (pc:quick,p:quick,none:quick,pc:normal,p:normal,none:normal)
//!   --out PATH         write the Markdown table there (benches/results/w4.md;
//!                      "-" for none)
//!   --node PATH        the Node binary for the Node senders (node on PATH)
//!   --sink m:a[:port]  only run a sink (for manual runs) until killed
//! ```
//!
//! The sink and what "round trip" and "stall" mean: `sink.rs`. The
//! senders and the message: `senders.rs`, `benches/node/w4.mjs`.

mod senders;
mod sink;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use senders::{Outcome, Sender};
use sink::{Ack, Ext, Sink};

struct Args {
    messages: u64,
    cap: Duration,
    repeat: usize,
    senders: Vec<Sender>,
    sinks: Vec<(Ext, Ack)>,
    out: Option<PathBuf>,
    sink_only: Option<(Ext, Ack, u16)>,
}

fn parse_sink(s: &str) -> Result<(Ext, Ack, u16), String> {
    let mut it = s.split(':');
    let ext = it.next().and_then(Ext::parse);
    let ack = it.next().map_or(Some(Ack::Quick), Ack::parse);
    let port = it.next().map_or(Ok(0), str::parse::<u16>);
    match (ext, ack, port) {
        (Some(e), Some(a), Ok(p)) => Ok((e, a, p)),
        _ => Err(format!(
            "bad sink {s:?}: MODE[:ACK[:PORT]], MODE pc|p|none, ACK quick|normal"
        )),
    }
}

fn parse_args() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        messages: 2000,
        cap: Duration::from_secs(10),
        repeat: 1,
        senders: Sender::ALL.to_vec(),
        sinks: [Ack::Quick, Ack::Normal]
            .into_iter()
            .flat_map(|ack| [Ext::PipeChunk, Ext::Pipe, Ext::Plain].map(|e| (e, ack)))
            .collect(),
        out: Some(root.join("benches/results/w4.md")),
        sink_only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            // cargo bench passes --bench to harness-less targets.
            "--bench" => {}
            "--messages" => a.messages = value()?.parse().map_err(|e| format!("{e}"))?,
            "--cap" => {
                a.cap = Duration::from_secs_f64(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--repeat" => {
                a.repeat = value()?
                    .parse::<usize>()
                    .map_err(|e| format!("{e}"))?
                    .max(1)
            }
            "--senders" => {
                a.senders = value()?
                    .split(',')
                    .map(|s| Sender::parse(s).ok_or(format!("unknown sender {s:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--sinks" => {
                a.sinks = value()?
                    .split(',')
                    .map(|s| parse_sink(s).map(|(e, k, _)| (e, k)))
                    .collect::<Result<_, _>>()?
            }
            "--out" => {
                let v = value()?;
                a.out = (v != "-").then(|| PathBuf::from(v));
            }
            "--sink" => a.sink_only = Some(parse_sink(&value()?)?),
            "--node" => {
                let v = value()?;
                senders::NODE
                    .set(v)
                    .map_err(|_| "--node given twice".to_string())?;
            }
            "-h" | "--help" => {
                let me = include_str!("main.rs");
                for l in me.lines().skip(4).take(15) {
                    println!("{}", l.trim_start_matches("//! "));
                }
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(a)
}

/// One cell: a sender against one sink.
struct Cell {
    sender: Sender,
    ext: Ext,
    ack: Ack,
    result: Result<Measured, String>,
}

#[derive(Clone, Copy)]
struct Measured {
    sent: u64,
    rate: f64,
    rt_per_msg: f64,
    stalls_per_msg: f64,
    /// Sender CPU µs per message.
    cpu_us: f64,
}

fn run_once(sender: Sender, ext: Ext, ack: Ack, a: &Args) -> Result<Measured, String> {
    let sink = Sink::start(ext, ack, 0).map_err(|e| format!("sink: {e}"))?;
    let Outcome { sent, elapsed, cpu } = sender.run(sink.addr, a.messages, a.cap)?;
    // Let the sink read the QUIT (its counts are then final).
    sink.wait_idle(Duration::from_secs(5));
    let c = sink.stats.snapshot();
    if c.messages != sent {
        return Err(format!(
            "the sender counted {sent} messages, the sink {}",
            c.messages
        ));
    }
    // Each message carried its 2 KiB text at least (the sink counts content).
    if c.content_octets < sent * 2048 {
        return Err(format!(
            "the sink received {} content octets for {sent} messages",
            c.content_octets
        ));
    }
    if c.connections != 1 {
        return Err(format!("{} connections (expected 1)", c.connections));
    }
    if sent == 0 {
        return Err("no message sent".into());
    }
    let n = sent as f64;
    Ok(Measured {
        sent,
        rate: n / elapsed.as_secs_f64(),
        rt_per_msg: c.round_trips as f64 / n,
        stalls_per_msg: c.stalls as f64 / n,
        cpu_us: cpu.as_secs_f64() * 1e6 / n,
    })
}

/// The median of a cell's runs by msgs/s (CPU per message: its own median).
fn median(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by(|x, y| x.cpu_us.total_cmp(&y.cpu_us));
    let cpu_us = runs[runs.len() / 2].cpu_us;
    runs.sort_by(|x, y| x.rate.total_cmp(&y.rate));
    Measured {
        cpu_us,
        ..runs[runs.len() / 2]
    }
}

/// Without `--bench` (`cargo test --all-targets` runs bench targets that
/// way): a quick check that the sink and the Rust senders work, and that
/// mimeograph's round trips per message are exactly 1 with PIPELINING and
/// CHUNKING, 2 with PIPELINING, 4 with neither (counts, not timings).
fn smoke() {
    let a = Args {
        messages: 20,
        cap: Duration::from_secs(60),
        repeat: 1,
        senders: Vec::new(),
        sinks: Vec::new(),
        out: None,
        sink_only: None,
    };
    let mut failures = Vec::new();
    for (ext, ack, want) in [
        (Ext::PipeChunk, Ack::Quick, 1.0),
        (Ext::Pipe, Ack::Quick, 2.0),
        (Ext::Plain, Ack::Quick, 4.0),
        (Ext::PipeChunk, Ack::Normal, 1.0),
    ] {
        for sender in [Sender::Mimeograph, Sender::MimeographAsync] {
            match run_once(sender, ext, ack, &a) {
                Ok(m) if m.sent == a.messages && m.rt_per_msg == want => {}
                Ok(m) => failures.push(format!(
                    "{} against {} / {}: {} messages, {} round trips per message (want {want})",
                    sender.name(),
                    ext.label(),
                    ack.label(),
                    m.sent,
                    m.rt_per_msg
                )),
                Err(e) => failures.push(format!("{}: {e}", sender.name())),
            }
        }
    }
    // The peers' senders work (their numbers are the bench's business).
    let peers = Args { messages: 3, ..a };
    for sender in [Sender::Lettre, Sender::MailSend, Sender::MailSendPipelined] {
        if let Err(e) = run_once(sender, Ext::PipeChunk, Ack::Quick, &peers) {
            failures.push(format!("{}: {e}", sender.name()));
        }
    }
    if failures.is_empty() {
        println!("smtp bench smoke test: ok (run the bench with `cargo bench --features tokio --bench smtp` or benches/w4.sh)");
    } else {
        for f in &failures {
            eprintln!("smtp bench smoke test: {f}");
        }
        std::process::exit(1);
    }
}

fn main() {
    if !std::env::args()
        .skip(1)
        .any(|a| a == "--bench" || a == "--sink" || a == "-h" || a == "--help")
    {
        smoke();
        return;
    }
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("smtp bench: {e}");
            std::process::exit(2);
        }
    };
    if let Some((ext, ack, port)) = a.sink_only {
        let sink = Sink::start(ext, ack, port).expect("start the sink");
        println!(
            "sink ({}, {}) listening on {}; Ctrl-C to stop",
            ext.label(),
            ack.label(),
            sink.addr
        );
        let mut last = sink.stats.snapshot();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let c = sink.stats.snapshot();
            if c.messages != last.messages {
                let m = (c.messages - last.messages) as f64;
                println!(
                    "{:>8} msgs/s  {:.2} round trips/msg  {:.2} stalls/msg  ({} messages, {} connections)",
                    m,
                    (c.round_trips - last.round_trips) as f64 / m,
                    (c.stalls - last.stalls) as f64 / m,
                    c.messages,
                    c.connections
                );
            }
            last = c;
        }
    }

    // Rounds: every cell once per round, so that a busy spell of the
    // machine touches every sender alike. A cell whose first run stalled
    // (its rate is the delayed-ACK timer's) or failed is not run again.
    let plan: Vec<(Ext, Ack, Sender)> = a
        .sinks
        .iter()
        .flat_map(|&(e, k)| a.senders.iter().map(move |&s| (e, k, s)))
        .collect();
    let mut runs: Vec<Result<Vec<Measured>, String>> = vec![Ok(Vec::new()); plan.len()];
    for round in 0..a.repeat {
        for (i, &(ext, ack, sender)) in plan.iter().enumerate() {
            let Ok(done) = &mut runs[i] else { continue };
            if round > 0 && done.first().is_some_and(|m| m.stalls_per_msg >= 0.5) {
                continue;
            }
            match run_once(sender, ext, ack, &a) {
                Ok(m) => {
                    eprintln!(
                        "{:<17} {:<20} {:<11} {:>9.0} msgs/s {:>5.2} RT/msg {:>5.2} stalls/msg {:>6.0} CPU µs/msg ({} msgs)",
                        sender.name(),
                        ext.label(),
                        ack.label(),
                        m.rate,
                        m.rt_per_msg,
                        m.stalls_per_msg,
                        m.cpu_us,
                        m.sent
                    );
                    done.push(m);
                }
                Err(e) => {
                    eprintln!(
                        "{:<17} {:<20} {:<11} FAILED: {e}",
                        sender.name(),
                        ext.label(),
                        ack.label()
                    );
                    runs[i] = Err(e);
                }
            }
        }
    }
    let cells: Vec<Cell> = plan
        .iter()
        .zip(runs)
        .map(|(&(ext, ack, sender), r)| Cell {
            sender,
            ext,
            ack,
            result: r.map(median),
        })
        .collect();
    let report = report(&a, &cells);
    println!("{report}");
    if let Some(path) = &a.out {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::write(path, &report) {
            Ok(()) => eprintln!("smtp bench: wrote {}", path.display()),
            Err(e) => eprintln!("smtp bench: cannot write {}: {e}", path.display()),
        }
    }
    if cells.iter().any(|c| c.result.is_err()) {
        std::process::exit(1);
    }
}

fn report(a: &Args, cells: &[Cell]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# W4: send small messages over one connection\n");
    let _ = writeln!(
        s,
        "Each sender builds and sends W1 messages (ASCII From/To/Subject with display names, \
         a 2 KiB ASCII text with LF line ends, one line starting with a dot) one after the \
         other over one connection to a loopback SMTP sink (`benches/smtp/sink.rs`), up to {} \
         messages or {:.0} s per run{}. msgs/s: messages / time from before connecting to the \
         last final reply. RT/msg: the sink's round trips (it flushes its replies and waits for \
         the client) after EHLO, per message. Stalls: reads that came ≥ 20 ms after the sink's \
         last I/O inside a transaction (Nagle's algorithm waiting for a delayed ACK). \
         Sender CPU: the sending thread's (Node: process's) CPU time per message, which a busy \
         machine disturbs less than msgs/s. ×mail-send: msgs/s over mail-send's `send()` against \
         the same sink; ×… pipelined: over mail-send pipelined with its public API (`cmds`, then \
         `bdat` or `write_message`).\n",
        a.messages,
        a.cap.as_secs_f64(),
        if a.repeat > 1 {
            format!(
                ", median of {} runs taken in rounds (a run that stalls is not repeated)",
                a.repeat
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(s, "Machine: {}\n", machine());
    let _ = writeln!(s, "Load average (1, 5, 15 min) at the end: {}\n", loadavg());
    let _ = writeln!(s, "Peers: {}\n", peers());

    // The summary: one row per sender, one column per sink.
    let sinks: Vec<(Ext, Ack)> = a.sinks.clone();
    let _ = write!(s, "| sender |");
    for (e, k) in &sinks {
        let _ = write!(s, " {} · {} |", e.label(), k.label());
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|");
    for _ in &sinks {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    let find = |sender: Sender, e: Ext, k: Ack| {
        cells
            .iter()
            .find(|c| c.sender == sender && c.ext == e && c.ack == k)
    };
    for &sender in &a.senders {
        let _ = write!(s, "| {} |", sender.name());
        for &(e, k) in &sinks {
            let text = match find(sender, e, k).map(|c| &c.result) {
                Some(Ok(m)) => {
                    let mut ratio = String::new();
                    for (base, label) in [
                        (Sender::MailSend, ""),
                        (Sender::MailSendPipelined, " pipelined"),
                    ] {
                        if let Some(Ok(b)) = find(base, e, k).map(|c| &c.result) {
                            if sender != base {
                                let _ = write!(ratio, "; ×{:.2}{label}", m.rate / b.rate);
                            }
                        }
                    }
                    format!(
                        "{:.0} msgs/s; {:.2} RT; {:.0} µs CPU{ratio}",
                        m.rate, m.rt_per_msg, m.cpu_us
                    )
                }
                Some(Err(_)) => "failed".into(),
                None => String::new(),
            };
            let _ = write!(s, " {text} |");
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "\n## Every run\n");
    let _ = writeln!(
        s,
        "| sender | sink extensions | sink ACK | messages | msgs/s | RT/msg | stalls/msg | sender CPU µs/msg | ×mail-send | ×mail-send pipelined |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for c in cells {
        match &c.result {
            Ok(m) => {
                let ratio = |base: Sender| match find(base, c.ext, c.ack).map(|b| &b.result) {
                    Some(Ok(b)) => format!("{:.2}", m.rate / b.rate),
                    _ => "–".into(),
                };
                let (send, pipelined) = (ratio(Sender::MailSend), ratio(Sender::MailSendPipelined));
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {send} | {pipelined} |",
                    c.sender.describe(),
                    c.ext.label(),
                    c.ack.label(),
                    m.sent,
                    m.rate,
                    m.rt_per_msg,
                    m.stalls_per_msg,
                    m.cpu_us
                );
            }
            Err(e) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | failed: {} | | | | | | |",
                    c.sender.describe(),
                    c.ext.label(),
                    c.ack.label(),
                    e.replace('|', "/")
                );
            }
        }
    }
    s
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "?".into())
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| format!("{cmd} ?"))
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{model}, {cpus} CPUs available; Linux {}; {}; node {}",
        command_line("uname", &["-r"]),
        command_line("rustc", &["-V"]),
        command_line(senders::node_binary(), &["--version"])
    )
}

/// The peers' versions, from Cargo.lock and benches/node/node_modules.
fn peers() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let crate_version = |name: &str| {
        let key = format!("name = \"{name}\"\nversion = \"");
        lock.find(&key)
            .map(|i| {
                let rest = &lock[i + key.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_string()
            })
            .unwrap_or_else(|| "?".into())
    };
    let npm_version = |name: &str| {
        let p = root.join(format!("benches/node/node_modules/{name}/package.json"));
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(str::to_string))
            .unwrap_or_else(|| "not installed".into())
    };
    format!(
        "lettre {}, mail-send {}, nodemailer {}, emailjs {}",
        crate_version("lettre"),
        crate_version("mail-send"),
        npm_version("nodemailer"),
        npm_version("emailjs")
    )
}
