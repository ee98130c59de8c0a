//! Large attachments are composed and sent with bounded memory (issue 7):
//! a file (`Attachment::path`, a sparse file: no disk used) and a reader
//! (`Attachment::reader`, a generated stream) of 256 MiB go through
//! `SmtpClient` to a discard sink (`tests/servers/stream_sink.py`, which
//! decodes and checks the base64 part as it streams in and keeps nothing)
//! while the sending process's peak RSS (`VmHWM`) stays under 64 MiB. The
//! sender runs in a child process (this test binary again, running the
//! ignored `child_send` entry) so that its peak is its own.
//!
//! Also: a streamed attachment arrives intact at a real server (aiosmtpd)
//! and reads back byte for byte with two parsers we did not write
//! (`mail-parser`, Python's `email`), and a stream that fails mid-way fails
//! its message with a typed error, delivers nothing, and leaves the client
//! usable.
//!
//! `MIMEOGRAPH_STREAM_BYTES` overrides the size (benches/streaming.sh sends
//! 1 GiB with it).

#[path = "common/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mimeograph::mime::{Attachment, ComposeError, Message};
use mimeograph::native::{NativeError, Options, SmtpClient};
use serde_json::Value;

const MIB: u64 = 1 << 20;
/// The bound on the sender's peak RSS.
const LIMIT: u64 = 64 * MIB;

fn stream_bytes() -> u64 {
    std::env::var("MIMEOGRAPH_STREAM_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 * MIB)
}

// ----- the test pattern (the sink checks the same; see its docstring) -----

const BLOCK: usize = 1 << 20;

fn pattern_base() -> Vec<u8> {
    (0..BLOCK)
        .map(|i| ((i * 167 + (i >> 11)) & 0xff) as u8)
        .collect()
}

/// `len` octets of the test pattern; fails with an I/O error at `fail_at`.
struct PatternReader {
    base: Vec<u8>,
    pos: u64,
    len: u64,
    fail_at: Option<u64>,
}

impl PatternReader {
    fn new(len: u64) -> PatternReader {
        PatternReader {
            base: pattern_base(),
            pos: 0,
            len,
            fail_at: None,
        }
    }
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|at| self.pos >= at) {
            return Err(io::Error::other("the generator broke down"));
        }
        let end = self.fail_at.unwrap_or(u64::MAX).min(self.len);
        let mut n = 0;
        while n < buf.len() && self.pos < end {
            let k = self.pos / BLOCK as u64;
            let at = (self.pos % BLOCK as u64) as usize;
            let take = (BLOCK - at)
                .min(buf.len() - n)
                .min((end - self.pos) as usize);
            buf[n..n + take].copy_from_slice(&self.base[at..at + take]);
            // The block's index in its first 8 octets.
            let stamp = k.to_le_bytes();
            for (i, b) in buf[n..n + take].iter_mut().enumerate() {
                match stamp.get(at + i) {
                    Some(s) => *b = *s,
                    None => break,
                }
            }
            n += take;
            self.pos += take as u64;
        }
        Ok(n)
    }
}

fn pattern(len: u64) -> Vec<u8> {
    let mut v = Vec::new();
    PatternReader::new(len).read_to_end(&mut v).unwrap();
    v
}

// ----- the sink -----

struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

impl Sink {
    fn start(flags: &[&str]) -> Sink {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out =
            std::env::temp_dir().join(format!("mimeograph-sink-{}-{n}.jsonl", std::process::id()));
        let mut child = Command::new("python3")
            .arg(servers::root().join("tests/servers/stream_sink.py"))
            .arg(&out)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the sink did not start: {line:?}"));
        Sink { child, port, out }
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn messages(&self) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r["event"] == "message")
            .collect()
    }
}

fn options(port: u16) -> Options {
    let mut o = Options::new("127.0.0.1");
    o.port = Some(port);
    o.domain = Some("client.test".into());
    o.timeout = Duration::from_secs(60);
    o
}

fn message(part: Attachment) -> Message {
    Message::builder()
        .from("ann@example.com")
        .to("bob@example.org")
        .subject("a large attachment")
        .text("The data is attached.\n")
        .attach(part)
        .build()
        .unwrap()
}

// ----- the child process: sends one message, reports its peak RSS -----

/// The peak resident set size of this process (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// The CPU time this process has used (user + system), in seconds, from
/// `/proc/self/stat` (in clock ticks, 100 a second on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields[i].parse::<f64>().unwrap();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

#[test]
#[ignore = "the child process the memory tests start (it needs their environment)"]
fn child_send() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let port: u16 = var("STREAM_CHILD_PORT").parse().unwrap();
    let bytes: u64 = var("STREAM_CHILD_BYTES").parse().unwrap();
    let mut sparse = None;
    let part = match var("STREAM_CHILD_SOURCE").as_str() {
        "path" => {
            // A sparse file: reads as zeros, takes no disk.
            let path =
                std::env::temp_dir().join(format!("mimeograph-sparse-{}.bin", std::process::id()));
            std::fs::File::create(&path)
                .unwrap()
                .set_len(bytes)
                .unwrap();
            sparse = Some(path.clone());
            Attachment::path(path)
        }
        "reader" => Attachment::reader(PatternReader::new(bytes)).filename("pattern.bin"),
        other => panic!("unknown source {other}"),
    };
    let started = Instant::now();
    let mut client = SmtpClient::new(options(port));
    let result = client.send(message(part));
    let elapsed = started.elapsed();
    let _ = client.close();
    if let Some(path) = sparse {
        let _ = std::fs::remove_file(path);
    }
    let report = serde_json::json!({
        "sent": result.as_ref().map(|s| s.reply.to_string()).map_err(|e| e.to_string()),
        "peak_rss": peak_rss(),
        "seconds": elapsed.as_secs_f64(),
        "cpu_seconds": cpu_seconds(),
        "bytes": bytes,
    });
    println!("\nCHILD-REPORT {report}");
}

/// Runs `child_send` in a new process; returns its report.
fn run_child(port: u16, source: &str, bytes: u64) -> Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_send",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STREAM_CHILD_PORT", port.to_string())
        .env("STREAM_CHILD_SOURCE", source)
        .env("STREAM_CHILD_BYTES", bytes.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the child failed: {stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD-REPORT "))
        .unwrap_or_else(|| panic!("no report from the child: {stdout}"));
    let report: Value = serde_json::from_str(line).unwrap();
    eprintln!(
        "streaming {source}: {bytes} bytes in {:.2} s ({:.0} MB/s), peak RSS {:.1} MiB, CPU {:.2} s",
        report["seconds"].as_f64().unwrap(),
        bytes as f64 / 1e6 / report["seconds"].as_f64().unwrap(),
        report["peak_rss"].as_u64().unwrap() as f64 / MIB as f64,
        report["cpu_seconds"].as_f64().unwrap()
    );
    report
}

fn check_bounded(report: &Value, sink: &Sink, bytes: u64, mode: &str) -> Value {
    assert!(report["sent"].get("Ok").is_some(), "not sent: {report}");
    let peak = report["peak_rss"].as_u64().unwrap();
    assert!(
        peak < LIMIT,
        "peak RSS {peak} bytes ({:.1} MiB) is over {} MiB",
        peak as f64 / MIB as f64,
        LIMIT / MIB
    );
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "{:?}", sink.records());
    let m = messages[0].clone();
    assert_eq!(m["mode"], mode, "{m}");
    assert_eq!(m["decoded"].as_u64(), Some(bytes), "{m}");
    assert_eq!(m["expected"], true, "the attachment's bytes differ: {m}");
    assert_eq!(m["b64_ok"], true, "{m}");
    m
}

#[cfg(target_os = "linux")]
#[test]
fn a_large_file_is_sent_with_bounded_memory() {
    // No CHUNKING: DATA, with dot-stuffing; the size is known (SIZE=).
    let sink = Sink::start(&["--expect", "zeros"]);
    let bytes = stream_bytes();
    let report = run_child(sink.port, "path", bytes);
    let m = check_bounded(&report, &sink, bytes, "DATA");
    let size = m["size"].as_u64().unwrap();
    assert_eq!(
        m["mail_options"],
        serde_json::json!([format!("SIZE={size}")])
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_large_reader_is_sent_with_bounded_memory() {
    // Size unknown, CHUNKING offered: BDAT chunks, then BDAT n LAST.
    let sink = Sink::start(&["--chunking", "--expect", "pattern"]);
    let bytes = stream_bytes();
    let report = run_child(sink.port, "reader", bytes);
    let m = check_bounded(&report, &sink, bytes, "BDAT");
    // Chunks of about 64 KiB (Config::bdat_chunk_size), many of them.
    assert!(m["chunks"].as_u64().unwrap() > bytes / MIB, "{m}");
    assert_eq!(m["mail_options"], serde_json::json!([]));
}

// ----- intact at a real server, read by real parsers -----

fn python_attachment(raw: &[u8]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!(
        "mimeograph-stream-py-{}-{}",
        std::process::id(),
        raw.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let eml = dir.join("m.eml");
    std::fs::write(&eml, raw).unwrap();
    let script = "import sys, email, email.policy\n\
        m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n\
        parts = list(m.iter_attachments())\n\
        assert len(parts) == 1, parts\n\
        assert not m.defects, m.defects\n\
        sys.stdout.buffer.write(parts[0].get_content())\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&eml)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn streamed_attachments_arrive_intact_at_aiosmtpd() {
    let server = servers::aiosmtpd(&[]);
    let data = pattern(3 * MIB + 12_345);
    let file = std::env::temp_dir().join(format!("mimeograph-stream-{}.bin", std::process::id()));
    std::fs::write(&file, &data).unwrap();
    let mut client = SmtpClient::new(options(server.port));
    let sources = [
        (
            "reader",
            Attachment::reader(PatternReader::new(data.len() as u64)).filename("p.bin"),
        ),
        ("path", Attachment::path(&file)),
        (
            "reader_with_len",
            Attachment::reader_with_len(PatternReader::new(data.len() as u64), data.len() as u64)
                .filename("p.bin"),
        ),
    ];
    let n = sources.len();
    for (what, part) in sources {
        client
            .send(message(part))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    client.close().unwrap();
    let _ = std::fs::remove_file(&file);
    let captured = servers::captured(&server.out);
    assert_eq!(captured.len(), n);
    for c in &captured {
        let parsed = mail_parser::MessageParser::default()
            .parse(&c.data)
            .expect("mail-parser reads it");
        assert_eq!(parsed.attachment_count(), 1);
        let att = parsed.attachment(0).unwrap();
        assert!(att.contents() == &data[..], "mail-parser: the bytes differ");
        assert!(
            python_attachment(&c.data) == data,
            "Python email: the bytes differ"
        );
    }
}

// ----- a stream failing mid-way -----

fn failing(len: u64, fail_at: u64) -> Attachment {
    let mut r = PatternReader::new(len);
    r.fail_at = Some(fail_at);
    Attachment::reader(r).filename("broken.bin")
}

fn assert_stream_error(e: NativeError) {
    match e {
        NativeError::Compose(ComposeError::Io { field, source }) => {
            assert_eq!(field, "attachment[0]");
            assert_eq!(source.to_string(), "the generator broke down");
        }
        other => panic!("expected the stream's error, got {other:?}"),
    }
}

#[test]
fn a_stream_failing_after_data_delivers_nothing_and_the_client_goes_on() {
    // aiosmtpd has no CHUNKING: DATA. The only way to stop a message after
    // 354 without ending it is to close the connection.
    let server = servers::aiosmtpd(&[]);
    let mut client = SmtpClient::new(options(server.port));
    let e = client
        .send(message(failing(4 * MIB, 2 * MIB + 7)))
        .unwrap_err();
    assert_stream_error(e);
    assert!(!client.is_connected());
    let sent = client
        .send(message(Attachment::bytes(pattern(1000)).filename("ok.bin")))
        .unwrap();
    client.close().unwrap();
    let captured = servers::captured(&server.out);
    assert_eq!(captured.len(), 1, "only the second message arrives");
    assert_eq!(captured[0].message_id(), sent.message_id);
}

#[test]
fn a_stream_failing_between_bdat_chunks_is_reset_and_the_connection_goes_on() {
    let sink = Sink::start(&["--chunking"]);
    let mut client = SmtpClient::new(options(sink.port));
    let e = client
        .send(message(failing(4 * MIB, 2 * MIB + 7)))
        .unwrap_err();
    assert_stream_error(e);
    assert!(client.is_connected(), "RSET keeps the connection");
    let data = pattern(100_000);
    client
        .send(message(Attachment::bytes(data.clone()).filename("ok.bin")))
        .unwrap();
    client.close().unwrap();
    let records = reset_then_next(&sink);
    let md5 = {
        use md5::{Digest, Md5};
        format!("{:x}", Md5::digest(&data))
    };
    assert_eq!(records[1]["md5"], md5);
}

// ----- a stream stalling mid-way -----

/// The sink's records after a message failed between BDAT chunks and a
/// good one followed: a reset transaction with more than 1 MiB received,
/// then the message, on the same connection.
fn reset_then_next(sink: &Sink) -> Vec<Value> {
    let records = sink.records();
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["reset", "message"], "{records:?}");
    assert!(
        records[0]["received"].as_u64().unwrap() > MIB,
        "{records:?}"
    );
    assert_eq!(records[1]["conn"], 1, "the same connection: {records:?}");
    records
}

/// A send that failed with `BodyTimeout` at a BDAT chunk.
#[cfg(unix)]
fn assert_bdat_timeout<T: std::fmt::Debug>(result: Result<T, NativeError>) {
    match result {
        Err(NativeError::Smtp(mimeograph::smtp::SmtpError::BodyTimeout { command })) => {
            assert_eq!(command, "BDAT")
        }
        other => panic!("expected BodyTimeout, got {other:?}"),
    }
}

/// A BDAT sink, options with a 1 s timeout for it, and a message whose
/// stream gives 1 MiB and then a `read` that never returns (a Unix socket
/// pair whose other end, returned, is kept open and never written).
#[cfg(unix)]
fn stalling_after_1_mib() -> (Sink, Options, Message, std::os::unix::net::UnixStream) {
    let sink = Sink::start(&["--chunking"]);
    let mut o = options(sink.port);
    o.timeout = Duration::from_secs(1);
    let (stalled, other_end) = std::os::unix::net::UnixStream::pair().unwrap();
    let part = Attachment::reader(PatternReader::new(MIB).chain(stalled)).filename("stalls.bin");
    (sink, o, message(part), other_end)
}

#[cfg(unix)]
#[test]
fn a_stream_stalling_between_bdat_chunks_is_reset_and_the_connection_goes_on() {
    // 1 MiB, then a `read` that never returns (the other end of a Unix
    // socket pair, kept open, is never written): the message fails with
    // BodyTimeout once the timeout passes without data, RSET ends its
    // transaction, and the connection carries the next message.
    let (sink, o, m, other_end) = stalling_after_1_mib();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut client = SmtpClient::new(o);
        let _ = tx.send((client.send(m), client));
    });
    let (result, mut client) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a send with a stalled stream did not return within 30 s");
    assert_bdat_timeout(result);
    assert!(client.is_connected(), "RSET keeps the connection");
    let data = pattern(100_000);
    client
        .send(message(Attachment::bytes(data.clone()).filename("ok.bin")))
        .unwrap();
    client.close().unwrap();
    reset_then_next(&sink);
    drop(other_end);
}

#[cfg(all(unix, feature = "tokio"))]
#[test]
fn the_async_client_resets_a_stream_stalling_between_bdat_chunks_too() {
    use mimeograph::native::AsyncSmtpClient;
    let (sink, o, m, other_end) = stalling_after_1_mib();
    let data = pattern(100_000);
    let next = message(Attachment::bytes(data.clone()).filename("ok.bin"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(rt.block_on(async {
            let mut client = AsyncSmtpClient::new(o);
            let first = client.send(m).await;
            let connected = client.is_connected();
            let second = client.send(next).await;
            let closed = client.close().await;
            (first, connected, second, closed)
        }));
    });
    let (first, connected, second, closed) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a send with a stalled stream did not return within 30 s");
    assert_bdat_timeout(first);
    assert!(connected, "RSET keeps the connection");
    second.unwrap();
    closed.unwrap();
    reset_then_next(&sink);
    drop(other_end);
}
