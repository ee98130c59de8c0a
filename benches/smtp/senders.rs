//! The W4 senders: each sends W1 messages one after the other over one
//! connection, building each message just before sending it, and stops at
//! `count` messages or after `cap` (a stalled peer would take minutes).
//! The clock runs from before the connection is opened to the last final
//! reply (QUIT and closing are not timed).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The W1 message: ASCII From/To/Subject with display names and a 2 KiB
/// ASCII text with LF line ends, one line starting with a dot. `w4.mjs`
/// builds the same.
pub mod w1 {
    pub const FROM_NAME: &str = "Ann Sender";
    pub const FROM_ADDR: &str = "ann@example.com";
    pub const TO_NAME: &str = "Bob Receiver";
    pub const TO_ADDR: &str = "bob@example.net";

    pub fn from() -> String {
        format!("{FROM_NAME} <{FROM_ADDR}>")
    }

    pub fn to() -> String {
        format!("{TO_NAME} <{TO_ADDR}>")
    }

    pub fn subject(i: u64) -> String {
        format!("W4 message number {i}")
    }

    /// 32 lines of 63 characters and LF: 2048 octets; line 16 starts with
    /// a dot.
    pub fn text() -> String {
        let mut t = String::with_capacity(2048);
        for i in 0..32 {
            let dot = if i == 16 { "." } else { "" };
            let line = format!("{dot}Line {i:02}: the quick brown fox jumps over the lazy dog ");
            t.push_str(&format!("{line:x<63}\n"));
        }
        assert_eq!(t.len(), 2048);
        t
    }
}

/// Who sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// `mimeograph::native::SmtpClient` (blocking).
    Mimeograph,
    /// `mimeograph::native::AsyncSmtpClient` on a tokio current-thread runtime.
    MimeographAsync,
    /// The npm package (wasm engine, Node transport).
    MimeographJs,
    /// lettre `SmtpTransport` with a pool of one connection.
    Lettre,
    /// mail-send `SmtpClient` (tokio), `send` (its one-call API: a reply
    /// awaited after MAIL, RCPT, DATA and the content).
    MailSend,
    /// mail-send `SmtpClient`, pipelined with its public API: `cmds` (MAIL
    /// and RCPT written one after the other, then their replies read) then
    /// `bdat` (`BDAT n LAST` and the content) when the server offers
    /// PIPELINING and CHUNKING; `cmds` with MAIL, RCPT and DATA, then
    /// `write_message` and `read` with PIPELINING alone: 2 round trips a
    /// message either way.
    MailSendPipelined,
    /// nodemailer, pooled SMTP transport with one connection.
    Nodemailer,
    /// emailjs `SMTPClient`.
    Emailjs,
}

impl Sender {
    pub const ALL: [Sender; 8] = [
        Sender::Mimeograph,
        Sender::MimeographAsync,
        Sender::MimeographJs,
        Sender::Lettre,
        Sender::MailSend,
        Sender::MailSendPipelined,
        Sender::Nodemailer,
        Sender::Emailjs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sender::Mimeograph => "mimeograph",
            Sender::MimeographAsync => "mimeograph-async",
            Sender::MimeographJs => "mimeograph-js",
            Sender::Lettre => "lettre",
            Sender::MailSend => "mail-send",
            Sender::MailSendPipelined => "mail-send-pipelined",
            Sender::Nodemailer => "nodemailer",
            Sender::Emailjs => "emailjs",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Sender::Mimeograph => "mimeograph SmtpClient (blocking)",
            Sender::MimeographAsync => "mimeograph AsyncSmtpClient (tokio)",
            Sender::MimeographJs => "mimeograph npm package (Node)",
            Sender::Lettre => "lettre SmtpTransport, pool of 1",
            Sender::MailSend => "mail-send (tokio), send()",
            Sender::MailSendPipelined => "mail-send (tokio), cmds() + bdat() or write_message()",
            Sender::Nodemailer => "nodemailer, pool of 1",
            Sender::Emailjs => "emailjs SMTPClient",
        }
    }

    pub fn parse(s: &str) -> Option<Sender> {
        Sender::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Sends up to `count` messages to `addr` within about `cap`.
    pub fn run(self, addr: SocketAddr, count: u64, cap: Duration) -> Result<Outcome, String> {
        match self {
            Sender::Mimeograph => mimeograph_blocking(addr, count, cap),
            Sender::MimeographAsync => runtime()?.block_on(mimeograph_async(addr, count, cap)),
            Sender::Lettre => lettre(addr, count, cap),
            Sender::MailSend => runtime()?.block_on(mail_send(addr, count, cap, false)),
            Sender::MailSendPipelined => runtime()?.block_on(mail_send(addr, count, cap, true)),
            Sender::MimeographJs | Sender::Nodemailer | Sender::Emailjs => {
                node(self.name(), addr, count, cap)
            }
        }
    }
}

/// What a sender did.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Messages the sender saw accepted.
    pub sent: u64,
    /// From before connecting to the last acceptance.
    pub elapsed: Duration,
    /// CPU time the sender used meanwhile (its thread; for Node, the
    /// process): less sensitive than `elapsed` to a busy machine.
    pub cpu: Duration,
}

/// CPU time used by the calling thread so far.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call, which only writes into it.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn mimeograph_options(addr: SocketAddr) -> mimeograph::native::Options {
    let mut o = mimeograph::native::Options::new(addr.ip().to_string());
    o.port = Some(addr.port());
    o.tls = mimeograph::smtp::TlsPolicy::Never;
    o
}

fn mimeograph_message(i: u64, text: &str) -> Result<mimeograph::mime::Message, String> {
    mimeograph::mime::Message::builder()
        .from(w1::from())
        .to(w1::to())
        .subject(w1::subject(i))
        .text(text)
        .build()
        .map_err(|e| e.to_string())
}

fn check_mimeograph(s: &mimeograph::native::SentMessage) -> Result<(), String> {
    if s.recipients.len() == 1 && s.recipients[0].accepted() && s.reply.code() == 250 {
        Ok(())
    } else {
        Err(format!("unexpected result {s:?}"))
    }
}

fn mimeograph_blocking(addr: SocketAddr, count: u64, cap: Duration) -> Result<Outcome, String> {
    let text = w1::text();
    let cpu0 = thread_cpu();
    let start = Instant::now();
    let mut client = mimeograph::native::SmtpClient::new(mimeograph_options(addr));
    let mut sent = 0;
    while sent < count && start.elapsed() < cap {
        let m = mimeograph_message(sent, &text)?;
        let s = client.send(m).map_err(|e| e.to_string())?;
        check_mimeograph(&s)?;
        sent += 1;
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu() - cpu0;
    client.close().map_err(|e| e.to_string())?;
    Ok(Outcome { sent, elapsed, cpu })
}

async fn mimeograph_async(addr: SocketAddr, count: u64, cap: Duration) -> Result<Outcome, String> {
    let text = w1::text();
    let cpu0 = thread_cpu();
    let start = Instant::now();
    let mut client = mimeograph::native::AsyncSmtpClient::new(mimeograph_options(addr));
    let mut sent = 0;
    while sent < count && start.elapsed() < cap {
        let m = mimeograph_message(sent, &text)?;
        let s = client.send(m).await.map_err(|e| e.to_string())?;
        check_mimeograph(&s)?;
        sent += 1;
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu() - cpu0;
    client.close().await.map_err(|e| e.to_string())?;
    Ok(Outcome { sent, elapsed, cpu })
}

fn lettre(addr: SocketAddr, count: u64, cap: Duration) -> Result<Outcome, String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::PoolConfig;
    use lettre::{Message, SmtpTransport, Transport};
    let text = w1::text();
    let cpu0 = thread_cpu();
    let start = Instant::now();
    let transport = SmtpTransport::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .pool_config(PoolConfig::new().max_size(1))
        .build();
    let mut sent = 0;
    while sent < count && start.elapsed() < cap {
        let from: lettre::message::Mailbox = w1::from().parse().map_err(|e| format!("{e}"))?;
        let to: lettre::message::Mailbox = w1::to().parse().map_err(|e| format!("{e}"))?;
        let m = Message::builder()
            .from(from)
            .to(to)
            .subject(w1::subject(sent))
            .header(ContentType::TEXT_PLAIN)
            .body(text.clone())
            .map_err(|e| e.to_string())?;
        let r = transport.send(&m).map_err(|e| e.to_string())?;
        if !r.is_positive() {
            return Err(format!("lettre: {r:?}"));
        }
        sent += 1;
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu() - cpu0;
    // Dropping the transport drops the pool (its connections say QUIT).
    drop(transport);
    Ok(Outcome { sent, elapsed, cpu })
}

/// mail-send: `send` (`pipelined` false) or, with the server's PIPELINING
/// and CHUNKING (the P+C sinks; otherwise as `send`), `cmds` + `bdat`.
async fn mail_send(
    addr: SocketAddr,
    count: u64,
    cap: Duration,
    pipelined: bool,
) -> Result<Outcome, String> {
    use mail_send::mail_builder::MessageBuilder;
    use mail_send::SmtpClientBuilder;
    let text = w1::text();
    let cpu0 = thread_cpu();
    let start = Instant::now();
    let mut client = SmtpClientBuilder::new(addr.ip().to_string(), addr.port())
        .map_err(|e| e.to_string())?
        .implicit_tls(false)
        .helo_host("localhost")
        .say_ehlo(false)
        .connect_plain()
        .await
        .map_err(|e| e.to_string())?;
    // EHLO ourselves, to see the extensions (`connect_plain` drops them).
    // smtp-proto's EXT_PIPELINING and EXT_CHUNKING (not re-exported).
    const EXT_CHUNKING: u32 = 1 << 6;
    const EXT_PIPELINING: u32 = 1 << 19;
    let ehlo = client
        .capabilities("localhost", false)
        .await
        .map_err(|e| e.to_string())?;
    let pipelining = ehlo.has_capability(EXT_PIPELINING);
    let chunking = pipelining && ehlo.has_capability(EXT_CHUNKING);
    let mut sent = 0;
    while sent < count && start.elapsed() < cap {
        let m = MessageBuilder::new()
            .from((w1::FROM_NAME, w1::FROM_ADDR))
            .to((w1::TO_NAME, w1::TO_ADDR))
            .subject(w1::subject(sent))
            .text_body(text.as_str());
        let r = if pipelined && pipelining {
            // The envelope as `send` makes it, written without waiting; then
            // the content: with BDAT … LAST, or after DATA's 354.
            let body = m.write_to_vec().map_err(|e| e.to_string())?;
            let mut cmds = vec![
                format!("MAIL FROM:<{}>\r\n", w1::FROM_ADDR),
                format!("RCPT TO:<{}>\r\n", w1::TO_ADDR),
            ];
            if !chunking {
                cmds.push("DATA\r\n".into());
            }
            let replies = client.cmds(cmds).await.map_err(|e| e.to_string())?;
            let expected = [250, 250, 354];
            if let Some(bad) = replies.iter().zip(expected).find(|(r, c)| r.code() != *c) {
                return Err(format!("mail-send: {:?}", bad.0));
            }
            if chunking {
                client.bdat(&body).await.map_err(|e| e.to_string())?
            } else {
                client
                    .write_message(&body)
                    .await
                    .map_err(|e| e.to_string())?;
                client.read().await.map_err(|e| e.to_string())?
            }
        } else {
            client.send(m).await.map_err(|e| e.to_string())?
        };
        if r.code() != 250 {
            return Err(format!("mail-send: {r:?}"));
        }
        sent += 1;
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu() - cpu0;
    client.quit().await.map_err(|e| e.to_string())?;
    Ok(Outcome { sent, elapsed, cpu })
}

/// The Node binary the Node senders run with (`--node`), if not `node`.
pub static NODE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The Node binary the Node senders run with: `--node`, else `node` on PATH.
pub fn node_binary() -> &'static str {
    NODE.get().map_or("node", String::as_str)
}

/// Runs `benches/node/w4.mjs` for a Node sender; it prints one JSON line
/// `{"sent": n, "seconds": s}` (or exits non-zero with the error).
fn node(name: &str, addr: SocketAddr, count: u64, cap: Duration) -> Result<Outcome, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("benches/node/w4.mjs");
    let out = Command::new(node_binary())
        .arg(&script)
        .args(["--sender", name])
        .args(["--host", &addr.ip().to_string()])
        .args(["--port", &addr.port().to_string()])
        .args(["--count", &count.to_string()])
        .args(["--cap", &cap.as_secs_f64().to_string()])
        .output()
        .map_err(|e| format!("node {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("{name}: {} {last}", out.status));
    }
    let line = stdout.lines().last().unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("{name}: output {line:?}: {e}"))?;
    match (
        v["sent"].as_u64(),
        v["seconds"].as_f64(),
        v["cpuSeconds"].as_f64(),
    ) {
        (Some(sent), Some(secs), Some(cpu)) => Ok(Outcome {
            sent,
            elapsed: Duration::from_secs_f64(secs),
            cpu: Duration::from_secs_f64(cpu),
        }),
        _ => Err(format!("{name}: unexpected output {line:?}")),
    }
}
