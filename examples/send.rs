//! Composes a rich message (UTF-8 subject and names, text + HTML, an inline
//! image, a PDF attachment) and sends it with the native SMTP client.
//!
//! ```text
//! cargo run --example send
//!     starts an SMTP capture server in this process, sends to it, and prints
//!     the SMTP transcript and the message as the server received it
//!     (long base64 bodies shortened; add --full to see them whole)
//!
//! cargo run --example send -- --server smtp://user:pass@mail.example.com:587 \
//!     --from me@example.com --to you@example.net [--ca root.pem]
//!     sends for real (smtps://… for implicit TLS); the transcript goes to
//!     stderr with the password redacted
//! ```

use std::error::Error;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mimeograph::mime::{Attachment, ComposeError, Message};
use mimeograph::native::{Options, SentMessage, SmtpClient};
use mimeograph::smtp::{Direction, TranscriptLine};

/// The rich message; `from` and `to` replace the demo addresses.
pub fn compose(from: Option<&str>, to: Option<&str>) -> Result<Message, ComposeError> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    Message::builder()
        .from(from.unwrap_or("Zoë Ångström <zoe@example.com>"))
        .to(to.unwrap_or("Bob Smith <bob@example.com>, 山田太郎 <taro@例え.jp>"))
        .subject("Quarterly report ✓ — 四半期報告書 📈")
        .text(
            "Hello Bob,\n\nThe report is attached; the chart is inline in the HTML version.\n\
             \n.\nA line with a lone dot, above, travels safely.\n\n— Zoë\n",
        )
        .html(
            "<p>Hello Bob,</p><p>The report is attached. Here is the chart:</p>\
             <p><img src=\"cid:chart@mimeograph\" alt=\"chart\"></p><p>— Zoë</p>",
        )
        .inline(
            Attachment::path(fixtures.join("smtp.gif"))
                .filename("chart.gif")
                .content_id("chart@mimeograph"),
        )
        .attach(
            Attachment::path(fixtures.join("smtp.pdf")).filename("Quartalsbericht Q3 – 2026.pdf"),
        )
        .build()
}

/// A line of the transcript as `C: …` / `S: …`.
pub fn show(line: &TranscriptLine) -> String {
    let who = match line.direction {
        Direction::Client => "C",
        Direction::Server => "S",
    };
    format!("{who}: {}", line.text)
}

/// What the embedded run produced.
pub struct Demo {
    /// The client's transcript (secrets redacted).
    pub transcript: Vec<String>,
    /// What the client reported.
    pub sent: SentMessage,
    /// What the capture server received.
    pub received: Vec<capture::Received>,
}

/// Starts the capture server, sends the rich message to it, closes.
pub fn run_embedded() -> Result<Demo, Box<dyn Error>> {
    let server = capture::CaptureServer::start()?;
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&transcript);
    let mut options = Options::new("127.0.0.1").with_logger(move |line| {
        if let Ok(mut t) = sink.lock() {
            t.push(show(line));
        }
    });
    options.port = Some(server.port());
    options.domain = Some("client.example".into());
    options.timeout = Duration::from_secs(10);
    let mut client = SmtpClient::new(options);
    let sent = client.send(compose(None, None)?)?;
    client.close()?;
    let received = server.received(Duration::from_secs(5));
    let transcript = transcript.lock().map(|t| t.clone()).unwrap_or_default();
    Ok(Demo {
        transcript,
        sent,
        received,
    })
}

/// The message with long base64 runs shortened (unless `full`).
pub fn abbreviate(data: &[u8], full: bool) -> String {
    let text = String::from_utf8_lossy(data);
    if full {
        return text.into_owned();
    }
    let is_b64 = |l: &str| {
        l.len() >= 60
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    };
    let mut out = String::new();
    let mut run = 0usize;
    let lines: Vec<&str> = text.split("\r\n").collect();
    for (i, line) in lines.iter().enumerate() {
        if is_b64(line) {
            run += 1;
            let next_is_b64 = lines.get(i + 1).is_some_and(|l| is_b64(l));
            if run <= 2 {
                out.push_str(line);
                out.push('\n');
            } else if !next_is_b64 {
                out.push_str(&format!("[… {} more lines of base64 …]\n", run - 2));
            }
        } else {
            run = 0;
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = arg(&args, "--server") else {
        let demo = run_embedded()?;
        println!("--- SMTP transcript (client side) ---");
        for line in &demo.transcript {
            println!("{line}");
        }
        println!(
            "\n--- sent: {} after {} attempt(s); server said {} ---",
            demo.sent.message_id, demo.sent.attempts, demo.sent.reply
        );
        for r in &demo.received {
            println!(
                "\n--- received by the capture server: MAIL FROM:<{}> RCPT TO:{} ({} bytes) ---",
                r.mail_from,
                r.rcpt_to
                    .iter()
                    .map(|a| format!("<{a}>"))
                    .collect::<String>(),
                r.data.len()
            );
            print!(
                "{}",
                abbreviate(&r.data, args.iter().any(|a| a == "--full"))
            );
        }
        return Ok(());
    };
    let mut options = Options::from_url(&url)?.with_logger(|line| eprintln!("{}", show(line)));
    if let Some(ca) = arg(&args, "--ca") {
        options.add_root_certificate(&std::fs::read(ca)?)?;
    }
    let message = compose(
        arg(&args, "--from").as_deref(),
        arg(&args, "--to").as_deref(),
    )?;
    let mut client = SmtpClient::new(options);
    let sent = client.send(message)?;
    client.close()?;
    println!(
        "sent {} after {} attempt(s): {}",
        sent.message_id, sent.attempts, sent.reply
    );
    for r in sent.recipients.iter().filter(|r| !r.accepted()) {
        println!("refused: {} ({})", r.address, r.reply);
    }
    Ok(())
}

/// A small SMTP capture server: just enough SMTP for the demo (EHLO with
/// PIPELINING, 8BITMIME, SMTPUTF8 and SIZE; HELO, MAIL, RCPT, DATA with
/// dot-unstuffing, RSET, NOOP, QUIT), one thread per connection, on a
/// loopback port. Not a mail server: it keeps what it receives in memory.
pub mod capture {
    use std::io::{self, BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::time::Duration;

    /// Bound on one command line and on one message, in octets.
    const MAX_LINE: usize = 4096;
    const MAX_MESSAGE: usize = 10 * 1024 * 1024;

    /// A message as the server received it.
    #[derive(Clone, Debug)]
    pub struct Received {
        /// The reverse path.
        pub mail_from: String,
        /// The forward paths.
        pub rcpt_to: Vec<String>,
        /// The bytes after dot-unstuffing, CRLF line ends.
        pub data: Vec<u8>,
    }

    /// The running server (its threads end with the process).
    pub struct CaptureServer {
        port: u16,
        rx: Receiver<Received>,
    }

    impl CaptureServer {
        /// Listens on a free loopback port and serves in the background.
        pub fn start() -> io::Result<CaptureServer> {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        let _ = session(conn, &tx);
                    });
                }
            });
            Ok(CaptureServer { port, rx })
        }

        /// The port.
        pub fn port(&self) -> u16 {
            self.port
        }

        /// The messages received so far (waiting up to `wait` for the first).
        pub fn received(&self, wait: Duration) -> Vec<Received> {
            let mut out: Vec<Received> = self.rx.try_iter().collect();
            if out.is_empty() {
                if let Ok(m) = self.rx.recv_timeout(wait) {
                    out.push(m);
                    out.extend(self.rx.try_iter());
                }
            }
            out
        }
    }

    /// Reads one line (up to LF) of at most `max` octets; `None` at EOF.
    fn line<R: BufRead>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        let mut limited = io::Read::take(&mut *r, max as u64);
        let n = limited.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() != Some(&b'\n') {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        Ok(Some(buf))
    }

    /// The address between `<` and `>` after a `MAIL FROM:` / `RCPT TO:`.
    fn path(arg: &str) -> Option<String> {
        let start = arg.find('<')?;
        let end = arg[start..].find('>')? + start;
        Some(arg[start + 1..end].to_string())
    }

    fn session(conn: TcpStream, tx: &Sender<Received>) -> io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut w = conn;
        w.write_all(b"220 capture.local ESMTP mimeograph capture server\r\n")?;
        let mut from: Option<String> = None;
        let mut rcpt: Vec<String> = Vec::new();
        let mut queued = 0u32;
        while let Some(raw) = line(&mut reader, MAX_LINE)? {
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim_end_matches(['\r', '\n']);
            let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
            let reply: String = match verb.to_ascii_uppercase().as_str() {
                "EHLO" => "250-capture.local greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
                           250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
                    .into(),
                "HELO" => "250 capture.local\r\n".into(),
                "MAIL" => match path(arg) {
                    Some(p) => {
                        from = Some(p);
                        rcpt.clear();
                        "250 2.1.0 OK\r\n".into()
                    }
                    None => "501 5.5.4 syntax: MAIL FROM:<address>\r\n".into(),
                },
                "RCPT" => match (&from, path(arg)) {
                    (None, _) => "503 5.5.1 MAIL first\r\n".into(),
                    (_, None) => "501 5.5.4 syntax: RCPT TO:<address>\r\n".into(),
                    (Some(_), Some(p)) => {
                        rcpt.push(p);
                        "250 2.1.5 OK\r\n".into()
                    }
                },
                "DATA" if from.is_none() || rcpt.is_empty() => {
                    "503 5.5.1 MAIL and RCPT first\r\n".into()
                }
                "DATA" => {
                    w.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                    let mut data = Vec::new();
                    loop {
                        let Some(l) = line(&mut reader, MAX_LINE * 256)? else {
                            return Ok(());
                        };
                        if l == b".\r\n" || l == b".\n" {
                            break;
                        }
                        // Dot-unstuffing (RFC 5321 §4.5.2).
                        let l = l.strip_prefix(b".").unwrap_or(&l);
                        if data.len() + l.len() > MAX_MESSAGE {
                            w.write_all(b"552 5.3.4 message too big\r\n")?;
                            return Ok(());
                        }
                        data.extend_from_slice(l);
                    }
                    queued += 1;
                    let _ = tx.send(Received {
                        mail_from: from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut rcpt),
                        data,
                    });
                    format!("250 2.0.0 OK: queued as CAPTURE{queued}\r\n")
                }
                "RSET" => {
                    from = None;
                    rcpt.clear();
                    "250 2.0.0 OK\r\n".into()
                }
                "NOOP" => "250 2.0.0 OK\r\n".into(),
                "QUIT" => {
                    w.write_all(b"221 2.0.0 bye\r\n")?;
                    return Ok(());
                }
                _ => "502 5.5.2 command not implemented\r\n".into(),
            };
            w.write_all(reply.as_bytes())?;
        }
        Ok(())
    }
}
