//! The native transport (`mimeograph::native::SmtpClient`) against a real
//! Postfix (Debian's package, 3.7 on bookworm), the one real server in the
//! suite that offers CHUNKING (RFC 3030): `BDAT n LAST` pipelined with MAIL
//! and RCPT, chunked BDAT for a body of unknown length, many messages on one
//! connection and a rejected recipient among accepted ones. Each test starts
//! a private Postfix instance (`tests/servers/postfix/start.sh`: its own
//! config, queue and data directories in a temp dir, smtpd on a free port at
//! 127.0.0.1) that delivers mail for `mail.test` to Maildirs there; the test
//! reads what Postfix delivered and compares it with what was composed.
//!
//! Needs Debian's `postfix` (`scripts/setup.sh` installs it) and root
//! (Postfix's master process runs as root); fails with a clear message
//! otherwise. The instance is stopped with `postfix -c DIR stop`, killed on
//! drop if that does not work. Its log is `DIR/maillog`, shown on failures.
#![cfg(all(not(target_arch = "wasm32"), feature = "native"))]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders};
use mimeograph::envelope::RenderOptions;
use mimeograph::mime::{Attachment, Message};
use mimeograph::native::{NativeError, Options, SmtpClient};
use mimeograph::smtp::{Direction, SmtpError, TlsPolicy};

/// Hang guard for every wait on Postfix (start, a listening port, a
/// delivery, a log line, stop). Not a performance assertion: a healthy
/// instance needs a fraction of it.
const GUARD: Duration = Duration::from_secs(20);

// ----- the Postfix instance -----

struct Postfix {
    dir: PathBuf,
    port: u16,
    stopped: bool,
}

impl Postfix {
    /// Starts a private instance and waits until smtpd greets.
    fn start(tag: &str) -> Postfix {
        assert!(
            Path::new("/usr/sbin/postfix").exists(),
            "this test needs Debian's postfix (/usr/sbin/postfix): run scripts/setup.sh \
             (apt-get install postfix, preseeded to 'No configuration')"
        );
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        assert_eq!(
            uid, "0",
            "this test must run as root: Postfix's master process runs as root \
             (the test starts a private instance from a temp dir, never the system one)"
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/postfix/start.sh");
        // A free port can be taken between our probe and Postfix's bind;
        // then the start fails and we try another port.
        let mut failures = Vec::new();
        for attempt in 0..3 {
            let dir = std::env::temp_dir().join(format!(
                "mimeograph-postfix-{}-{tag}-{attempt}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let port = free_port();
            let pf = Postfix {
                dir,
                port,
                stopped: false,
            };
            let out = run_bounded(
                Command::new("sh")
                    .arg(&script)
                    .arg(&pf.dir)
                    .arg(port.to_string()),
                "start.sh",
            );
            if out.0 {
                pf.wait_listening();
                return pf;
            }
            failures.push(format!(
                "attempt {attempt} (port {port}): {}\nmaillog:\n{}",
                out.1,
                pf.log()
            ));
            drop(pf); // stops whatever did start, removes the dir
        }
        panic!("postfix did not start:\n{}", failures.join("\n"));
    }

    fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }

    /// The instance's log (maillog_file).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Waits for smtpd's 220 greeting on the port.
    fn wait_listening(&self) {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + GUARD;
        loop {
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut line = String::new();
                if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("220 ") {
                    assert!(line.contains("ESMTP Postfix"), "greeting: {line:?}");
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "postfix does not answer on port {}; maillog:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a log line containing every one of `needles` appears;
    /// returns it. Postfix logs through postlogd, a little after the fact.
    fn wait_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?}; maillog:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The messages delivered to `user@mail.test` (its Maildir's `new/`);
    /// call [`Postfix::wait_delivered`] first.
    fn mailbox(&self, user: &str) -> Vec<Vec<u8>> {
        let dir = self.dir.join("mail").join(user).join("new");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(d) => d.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    }

    /// Waits until `n` deliveries were made (to all mailboxes together) and
    /// nothing is left in the queue.
    fn wait_delivered(&self, n: usize) {
        let deadline = Instant::now() + GUARD;
        loop {
            let delivered = count_files(&self.dir.join("mail"));
            let queued: usize = ["incoming", "active", "deferred", "hold", "maildrop"]
                .iter()
                .map(|q| count_files(&self.dir.join("spool").join(q)))
                .sum();
            if delivered >= n && queued == 0 {
                assert_eq!(
                    delivered,
                    n,
                    "more deliveries than expected; maillog:\n{}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{delivered} of {n} deliveries, {queued} queue files left; maillog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let (ok, out) = run_bounded(
            Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(self.etc())
                .arg("stop"),
            "postfix stop",
        );
        if !ok {
            eprintln!("postfix stop failed: {out}; killing the master");
        }
        // The master leads its process group (postfix-script's own last
        // resort is the same `kill -9 -PID`); only if it is still running.
        let pid = std::fs::read_to_string(self.dir.join("spool/pid/master.pid"))
            .map(|p| p.trim().to_string())
            .unwrap_or_default();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !ok && !pid.is_empty() && comm.trim() == "master" {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "postfix instance kept for inspection: {}",
                self.dir.display()
            );
        }
    }
}

/// Runs a command with the hang guard; (success, stdout + stderr). Does not
/// panic (it also runs in `Drop`).
fn run_bounded(cmd: &mut Command, what: &str) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let deadline = Instant::now() + GUARD;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (false, format!("{what} did not finish within {GUARD:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.success(), out)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap())
        .map(|e| {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                count_files(&e.path())
            } else {
                usize::from(t.is_file())
            }
        })
        .sum()
}

// ----- the client side -----

/// Options for the instance, with a transcript ("C: …" / "S: …").
fn options(pf: &Postfix) -> (Options, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let mut o = Options::new("127.0.0.1").with_logger(move |line| {
        let who = match line.direction {
            Direction::Client => "C",
            Direction::Server => "S",
        };
        sink.lock().unwrap().push(format!("{who}: {}", line.text));
    });
    o.port = Some(pf.port);
    o.tls = TlsPolicy::Never;
    o.domain = Some("client.test".into());
    o.timeout = Duration::from_secs(10);
    (o, log)
}

/// Deterministic binary content (all 256 byte values, no pattern a base64
/// or line-ending bug could hide in).
fn binary(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A reader that hands out its data in small, uneven reads, with no length
/// known up front.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 4093 + 1;
        let n = buf.len().min(self.step).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A message with text, HTML and an attachment held in memory: its size is
/// known, so it goes as one `BDAT n LAST`.
fn known_size_message(n: usize, to: &[&str]) -> (Message, Vec<u8>) {
    let attachment = binary(5000 + n * 777, n as u64);
    let m = Message::builder()
        .from("Zoë <zoe@example.com>")
        .to(to.join(", "))
        .subject(format!("Known size {n} ✓"))
        .text(format!(
            "Message {n}, grüße.\n.\nA dot line above.\n..\nFrom the start of a line.\n"
        ))
        .html(format!("<p>Message {n}, <b>grüße</b></p>"))
        .attach(
            Attachment::bytes(attachment.clone())
                .filename(format!("data-{n}.bin"))
                .content_type("application/octet-stream"),
        )
        .build()
        .unwrap();
    (m, attachment)
}

/// The bytes the client sends for `m` to a server offering 8BITMIME (as
/// Postfix does), for comparison with what Postfix delivered.
fn composed(m: &Message) -> Vec<u8> {
    m.to_bytes_with(RenderOptions {
        utf8_headers: m.requires_smtputf8(),
        allow_8bit: true,
    })
    .unwrap()
}

// ----- checks -----

/// Splits off the header lines Postfix prepends (Return-Path, X-Original-To,
/// Delivered-To, Received with its continuation lines); returns their names
/// and the rest, which must be the message as sent (with LF line endings:
/// Maildir files are written in the local format).
fn strip_postfix_headers(delivered: &[u8]) -> (Vec<String>, &[u8]) {
    let mut names = Vec::new();
    let mut rest = delivered;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = String::from_utf8_lossy(&rest[..end]);
        let continuation = line.starts_with(' ') || line.starts_with('\t');
        let name = line.split(':').next().unwrap_or("").to_string();
        let added = ["Return-Path", "X-Original-To", "Delivered-To", "Received"];
        if continuation && !names.is_empty() {
            rest = &rest[end..];
        } else if added.contains(&name.as_str()) {
            names.push(name);
            rest = &rest[end..];
        } else {
            return (names, rest);
        }
    }
}

fn crlf_to_lf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `delivered` is `sent` (byte for byte, but for line endings) behind the
/// headers Postfix adds for `rcpt`; the parsed subject, text and
/// attachments agree too.
fn assert_delivered_as_sent(delivered: &[u8], sent: &[u8], rcpt: &str) {
    let (added, rest) = strip_postfix_headers(delivered);
    assert_eq!(
        added,
        ["Return-Path", "X-Original-To", "Delivered-To", "Received"],
        "{}",
        String::from_utf8_lossy(delivered)
    );
    let head = String::from_utf8_lossy(&delivered[..delivered.len() - rest.len()]);
    assert!(head.contains(&format!("Delivered-To: {rcpt}\n")), "{head}");
    assert!(head.contains("Return-Path: <zoe@example.com>\n"), "{head}");
    assert!(
        rest == crlf_to_lf(sent).as_slice(),
        "delivered message differs from the sent one:\n--- sent\n{}\n--- delivered\n{}",
        String::from_utf8_lossy(sent),
        String::from_utf8_lossy(delivered)
    );
    let a = MessageParser::default().parse(sent).unwrap();
    let b = MessageParser::default().parse(delivered).unwrap();
    assert_eq!(a.subject(), b.subject());
    assert_eq!(a.message_id(), b.message_id());
    let norm = |s: Option<std::borrow::Cow<'_, str>>| s.map(|s| s.replace("\r\n", "\n"));
    assert_eq!(norm(a.body_text(0)), norm(b.body_text(0)));
    assert_eq!(norm(a.body_html(0)), norm(b.body_html(0)));
    let atts = |m: &mail_parser::Message<'_>| {
        m.attachments()
            .map(|p| {
                (
                    p.attachment_name().map(str::to_string),
                    p.contents().to_vec(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(atts(&a), atts(&b));
}

fn parse_id(bytes: &[u8]) -> String {
    MessageParser::default()
        .parse(bytes)
        .and_then(|m| m.message_id().map(str::to_string))
        .unwrap_or_else(|| panic!("no Message-ID in {}", String::from_utf8_lossy(bytes)))
}

/// Index of the first transcript line starting with `prefix` at or after `from`.
fn find(log: &[String], from: usize, prefix: &str) -> usize {
    log[from..]
        .iter()
        .position(|l| l.starts_with(prefix))
        .map(|i| i + from)
        .unwrap_or_else(|| panic!("no {prefix:?} after line {from} in:\n{}", log.join("\n")))
}

// ----- tests -----

/// (a) A message of known size: `BDAT n LAST` with n = the composed size,
/// MAIL, both RCPTs and the BDAT sent before any of their replies
/// (PIPELINING), and both recipients get exactly what was composed.
#[test]
fn known_size_is_one_bdat_last_pipelined_with_mail_and_rcpt() {
    let mut pf = Postfix::start("known");
    let (o, log) = options(&pf);
    let mut c = SmtpClient::new(o);
    let caps = c.connect().unwrap();
    assert!(caps.chunking, "Postfix does not offer CHUNKING: {caps:?}");
    assert!(caps.pipelining, "{caps:?}");
    assert!(caps.eight_bit_mime, "{caps:?}");

    let (m, _) = known_size_message(1, &["Bob <bob@mail.test>", "carol@mail.test"]);
    let sent_bytes = composed(&m);
    let id = m.message_id().to_string();
    let sent = c.send(m).unwrap();
    assert_eq!(sent.message_id, id);
    assert_eq!(sent.reply.code(), 250, "{:?}", sent.reply);
    assert_eq!(sent.recipients.len(), 2);
    assert!(sent.recipients.iter().all(|r| r.accepted()), "{sent:?}");
    c.close().unwrap();

    let log = log.lock().unwrap().clone();
    let text = log.join("\n");
    assert!(!log.iter().any(|l| l.starts_with("C: DATA")), "{text}");
    let mail = find(&log, 0, "C: MAIL FROM:<zoe@example.com>");
    assert!(
        log[mail].contains(&format!("SIZE={}", sent_bytes.len())),
        "{text}"
    );
    assert!(log[mail].contains("BODY=8BITMIME"), "{text}");
    // MAIL, RCPT, RCPT, BDAT n LAST, then the four replies in order.
    assert!(
        log[mail + 1].starts_with("C: RCPT TO:<bob@mail.test>"),
        "{text}"
    );
    assert!(
        log[mail + 2].starts_with("C: RCPT TO:<carol@mail.test>"),
        "{text}"
    );
    assert_eq!(
        log[mail + 3],
        format!("C: BDAT {} LAST", sent_bytes.len()),
        "{text}"
    );
    assert_eq!(
        log[mail + 4],
        format!("C: <{} octets of message content>", sent_bytes.len()),
        "{text}"
    );
    let replies: Vec<&str> = log[mail + 5..]
        .iter()
        .take_while(|l| l.starts_with("S: "))
        .map(String::as_str)
        .collect();
    assert_eq!(replies.len(), 4, "{text}");
    assert!(replies[0].starts_with("S: 250 2.1.0"), "{text}");
    assert!(replies[1].starts_with("S: 250 2.1.5"), "{text}");
    assert!(replies[2].starts_with("S: 250 2.1.5"), "{text}");
    assert!(replies[3].starts_with("S: 250 2.0.0 Ok"), "{text}");

    // Postfix's own account of the session: one BDAT, pipelining accepted
    // (smtpd_forbid_unauth_pipelining would have dropped the connection).
    let disconnect = pf.wait_log(&["disconnect from", " ehlo=1 "]);
    assert!(disconnect.contains(" bdat=1 "), "{disconnect}");
    assert!(disconnect.contains(" rcpt=2 "), "{disconnect}");
    assert!(!disconnect.contains("data="), "{disconnect}");

    pf.wait_delivered(2);
    for (user, rcpt) in [("bob", "bob@mail.test"), ("carol", "carol@mail.test")] {
        let got = pf.mailbox(user);
        assert_eq!(got.len(), 1, "{user}");
        assert_delivered_as_sent(&got[0], &sent_bytes, rcpt);
    }
    pf.stop();
}

/// (b) An attachment read from a stream of unknown length: the size is not
/// known, so the body goes in several `BDAT n` chunks of at least 64 KiB
/// and a final `BDAT n LAST` with the rest; the attachment arrives byte for
/// byte.
#[test]
fn unknown_length_stream_is_chunked_bdat() {
    let mut pf = Postfix::start("stream");
    let (o, log) = options(&pf);
    let mut c = SmtpClient::new(o);
    let data = binary(300_000, 7);
    let m = Message::builder()
        .from("zoe@example.com")
        .to("bob@mail.test")
        .subject("A stream of unknown length")
        .text("See the attachment.\n")
        .attach(
            Attachment::reader(Trickle {
                data: data.clone(),
                pos: 0,
                step: 0,
            })
            .filename("stream.bin")
            .content_type("application/octet-stream"),
        )
        .build()
        .unwrap();
    let id = m.message_id().to_string();
    let sent = c.send(m).unwrap();
    assert_eq!(sent.reply.code(), 250, "{:?}", sent.reply);
    c.close().unwrap();

    let log = log.lock().unwrap().clone();
    let text = log.join("\n");
    let mail = find(&log, 0, "C: MAIL FROM:<zoe@example.com>");
    assert!(!log[mail].contains("SIZE="), "size is unknown: {text}");
    let bdats: Vec<&String> = log.iter().filter(|l| l.starts_with("C: BDAT ")).collect();
    assert!(bdats.len() >= 3, "expected several chunks: {text}");
    let (last, chunks) = bdats.split_last().unwrap();
    let size = |b: &str, suffix: &str| -> u64 {
        b["C: BDAT ".len()..]
            .strip_suffix(suffix)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not `BDAT n{suffix}`: {b}"))
    };
    let mut total = size(last, " LAST");
    for b in chunks {
        let n = size(b, "");
        assert!(n >= 64 * 1024, "small pieces are gathered: {text}");
        total += n;
    }
    // base64 of 300 000 bytes alone is 400 000 characters plus line breaks.
    assert!(total > 400_000, "{text}");
    assert!(!log.iter().any(|l| l.starts_with("C: DATA")), "{text}");
    let disconnect = pf.wait_log(&["disconnect from", " ehlo=1 "]);
    assert!(
        disconnect.contains(&format!(" bdat={} ", bdats.len())),
        "{disconnect}\n{text}"
    );
    pf.wait_delivered(1);
    let got = pf.mailbox("bob");
    assert_eq!(got.len(), 1);
    // Postfix stored every octet of the chunks: the delivered message (LF
    // line ends) plus one CR per line is what the BDAT commands announced.
    let (added, rest) = strip_postfix_headers(&got[0]);
    assert_eq!(added.len(), 4, "{added:?}");
    assert!(!rest.contains(&b'\r'));
    let lines = rest.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(rest.len() as u64 + lines, total, "{text}");
    let parsed = MessageParser::default().parse(&got[0]).unwrap();
    assert_eq!(parsed.message_id(), Some(id.as_str()));
    assert_eq!(parsed.subject(), Some("A stream of unknown length"));
    assert_eq!(
        parsed.body_text(0).unwrap().replace("\r\n", "\n"),
        "See the attachment.\n"
    );
    let atts: Vec<_> = parsed.attachments().collect();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].attachment_name(), Some("stream.bin"));
    assert!(atts[0].contents() == data.as_slice(), "attachment differs");
    pf.stop();
}

/// (c) Several messages on one connection (one greeting, one EHLO), known
/// sizes and a stream mixed; each arrives once, as composed.
#[test]
fn several_messages_on_one_connection() {
    let mut pf = Postfix::start("many");
    let (o, log) = options(&pf);
    let mut c = SmtpClient::new(o);
    let mut expected: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    let streamed = binary(100_000, 99);
    for n in 0..5 {
        if n == 2 {
            let m = Message::builder()
                .from("zoe@example.com")
                .to("dave@mail.test")
                .subject("Streamed in the middle")
                .text("Streamed.\n")
                .attach(
                    Attachment::reader(std::io::Cursor::new(streamed.clone())).filename("s.bin"),
                )
                .build()
                .unwrap();
            expected.insert(m.message_id().to_string(), None);
            let sent = c.send(m).unwrap();
            assert_eq!(sent.reply.code(), 250);
        } else {
            let (m, _) = known_size_message(n, &["dave@mail.test"]);
            expected.insert(m.message_id().to_string(), Some(composed(&m)));
            let sent = c.send(m).unwrap();
            assert_eq!(sent.reply.code(), 250);
        }
        assert!(c.is_connected());
    }
    c.close().unwrap();

    let log = log.lock().unwrap().clone();
    let text = log.join("\n");
    let count = |p: &str| log.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(count("S: 220 "), 1, "{text}");
    assert_eq!(count("C: EHLO "), 1, "{text}");
    assert_eq!(count("C: MAIL FROM:"), 5, "{text}");
    // Four of known size and the stream: each ends with one `BDAT n LAST`.
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("C: BDAT ") && l.ends_with(" LAST"))
            .count(),
        5,
        "{text}"
    );
    assert_eq!(count("C: RSET"), 0, "{text}");
    let disconnect = pf.wait_log(&["disconnect from", " ehlo=1 "]);
    assert!(disconnect.contains(" mail=5 "), "{disconnect}");
    assert!(disconnect.contains(" rcpt=5 "), "{disconnect}");
    // (The readiness probe's connection is in the log too, without EHLO.)
    assert_eq!(
        pf.log().matches(" ehlo=1 ").count(),
        1,
        "one session expected:\n{}",
        pf.log()
    );

    pf.wait_delivered(5);
    let got = pf.mailbox("dave");
    assert_eq!(got.len(), 5);
    for g in &got {
        let id = parse_id(g);
        match expected.remove(&id) {
            Some(Some(sent)) => assert_delivered_as_sent(g, &sent, "dave@mail.test"),
            Some(None) => {
                let p = MessageParser::default().parse(g).unwrap();
                assert_eq!(p.subject(), Some("Streamed in the middle"));
                let att = p.attachments().next().unwrap();
                assert!(att.contents() == streamed.as_slice());
            }
            None => panic!("unexpected or duplicate delivery {id}"),
        }
    }
    assert!(expected.is_empty(), "not delivered: {expected:?}");
    pf.stop();
}

/// (d) An unknown user among known ones: a per-recipient 550 5.1.1 while
/// the others get the message; then a message for unknown users only,
/// whose pipelined BDAT Postfix refuses, leaves the session usable.
#[test]
fn rejected_recipient_among_accepted_ones() {
    let mut pf = Postfix::start("reject");
    let (o, log) = options(&pf);
    let mut c = SmtpClient::new(o);

    let (m, _) = known_size_message(1, &["bob@mail.test", "nobody@mail.test", "carol@mail.test"]);
    let sent_bytes = composed(&m);
    let sent = c.send(m).unwrap();
    assert_eq!(sent.reply.code(), 250);
    let results: Vec<(&str, u16)> = sent
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.reply.code()))
        .collect();
    assert_eq!(
        results,
        [
            ("bob@mail.test", 250),
            ("nobody@mail.test", 550),
            ("carol@mail.test", 250)
        ]
    );
    let rejected = &sent.recipients[1];
    assert!(!rejected.accepted());
    let ec = rejected.reply.enhanced_code().unwrap();
    assert_eq!(
        (ec.class, ec.subject, ec.detail),
        (5, 1, 1),
        "{:?}",
        rejected.reply
    );
    assert!(
        rejected.reply.text().contains("User unknown"),
        "{:?}",
        rejected.reply
    );

    // Only unknown users: the message fails, the connection stays.
    let (m, _) = known_size_message(2, &["nobody@mail.test", "ghost@mail.test"]);
    let e = c.send(m).unwrap_err();
    match &e {
        NativeError::Smtp(SmtpError::AllRecipientsRejected { recipients }) => {
            assert_eq!(recipients.len(), 2, "{e:?}");
            assert!(recipients.iter().all(|r| r.reply.code() == 550), "{e:?}");
        }
        _ => panic!("expected AllRecipientsRejected, got {e:?}"),
    }
    assert!(c.is_connected());

    // And the next message goes through on the same connection.
    let (m, _) = known_size_message(3, &["bob@mail.test"]);
    let third = composed(&m);
    c.send(m).unwrap();
    c.close().unwrap();

    let text = log.lock().unwrap().join("\n");
    assert_eq!(text.matches("S: 220 ").count(), 1, "{text}");
    // Postfix refuses the pipelined BDAT of the second message (no valid
    // recipients) and the client resets the transaction.
    assert!(
        text.contains("S: 554 5.5.1 Error: no valid recipients\nC: RSET\nS: 250 "),
        "{text}"
    );
    let disconnect = pf.wait_log(&["disconnect from", " ehlo=1 "]);
    assert!(disconnect.contains(" rcpt=3/6 "), "{disconnect}");
    assert!(disconnect.contains(" bdat=2/3 "), "{disconnect}");

    pf.wait_delivered(3);
    let bob = pf.mailbox("bob");
    assert_eq!(bob.len(), 2);
    let by_id: HashMap<String, &Vec<u8>> = bob.iter().map(|g| (parse_id(g), g)).collect();
    let first_id = parse_id(&sent_bytes);
    assert_delivered_as_sent(by_id[&first_id], &sent_bytes, "bob@mail.test");
    assert_delivered_as_sent(by_id[&parse_id(&third)], &third, "bob@mail.test");
    let carol = pf.mailbox("carol");
    assert_eq!(carol.len(), 1);
    assert_delivered_as_sent(&carol[0], &sent_bytes, "carol@mail.test");
    assert!(pf.mailbox("nobody").is_empty());
    assert!(pf.mailbox("ghost").is_empty());
    pf.stop();
}
