//! Shared support of the native transport's tests: a real Python
//! aiosmtpd server (`tests/servers/aiosmtpd_server.py`, started per test by
//! `tests/common/servers.rs`), its captured messages, certificates made
//! with rcgen, test messages.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mimeograph::mime::Message;
use mimeograph::native::Options;
use mimeograph::smtp::Direction;

// ----- certificates -----

pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
}

impl Pki {
    /// A CA and a `localhost` leaf it signed, written to a temp dir.
    pub fn new(tag: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = std::env::temp_dir().join(format!(
            "mimeograph-native-{}-{tag}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("mimeograph test CA {tag}"));
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca_pem: ca.pem(),
        }
    }

    pub fn cert(&self) -> String {
        self.dir.join("cert.pem").display().to_string()
    }

    pub fn key(&self) -> String {
        self.dir.join("key.pem").display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn unique() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

// ----- the server -----

#[path = "../common/servers.rs"]
mod servers;
pub use servers::{Captured, Server};

/// `tests/servers/aiosmtpd_server.py` with SMTPUTF8 and these flags (see
/// its docstring).
pub fn server(flags: &[&str]) -> Server {
    let mut all = vec!["--smtputf8"];
    all.extend_from_slice(flags);
    servers::aiosmtpd(&all)
}

pub fn captured(s: &Server) -> Vec<Captured> {
    servers::captured(&s.out)
}

// ----- helpers -----

pub fn message(n: usize, to: &str) -> Message {
    Message::builder()
        .from("Zoë <zoe@example.com>")
        .to(to)
        .subject(format!("Test {n} ✓"))
        .text(format!("Message {n}.\n.\nA dot line above.\n"))
        .build()
        .unwrap()
}

/// Options for the test server, with a log of the transcript.
pub fn options(port: u16) -> (Options, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let mut o = Options::new("localhost").with_logger(move |line| {
        let who = match line.direction {
            Direction::Client => "C",
            Direction::Server => "S",
        };
        sink.lock().unwrap().push(format!("{who}: {}", line.text));
    });
    o.port = Some(port);
    o.domain = Some("client.test".into());
    o.timeout = Duration::from_secs(10);
    (o, log)
}

pub fn exactly_once(ids: &[String], captured: &[Captured]) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for c in captured {
        *counts.entry(c.message_id()).or_default() += 1;
    }
    for id in ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id} arrived {:?} times",
            counts.get(id)
        );
    }
    assert_eq!(captured.len(), ids.len(), "unexpected extra messages");
}

// ----- stream attachments that stall or trickle -----

/// A message with a stream attachment whose `read` blocks: one end of a
/// Unix socket pair, the other end (returned; keep it) never written.
/// Dropping the other end ends the read (EOF).
#[cfg(unix)]
pub fn stalled_message(to: &str) -> (Message, std::os::unix::net::UnixStream) {
    let (stalled, other_end) = std::os::unix::net::UnixStream::pair().unwrap();
    let m = Message::builder()
        .from("zoe@example.com")
        .to(to)
        .subject("stalled")
        .text("The attachment never comes.\n")
        .attach(mimeograph::mime::Attachment::reader(stalled).filename("stalled.bin"))
        .build()
        .unwrap();
    (m, other_end)
}

/// A stream that gives `pieces` one after the other, sleeping `pause`
/// before each, then ends; `on_pause(before)` is called around every
/// pause (`true` before it, `false` after).
pub struct Trickle {
    pieces: std::collections::VecDeque<Vec<u8>>,
    pos: usize,
    started: bool,
    pause: Duration,
    on_pause: Box<dyn FnMut(bool) + Send>,
}

impl Trickle {
    pub fn new(pieces: Vec<Vec<u8>>, pause: Duration) -> Trickle {
        Trickle::watched(pieces, pause, |_| {})
    }

    pub fn watched(
        pieces: Vec<Vec<u8>>,
        pause: Duration,
        on_pause: impl FnMut(bool) + Send + 'static,
    ) -> Trickle {
        Trickle {
            pieces: pieces.into(),
            pos: 0,
            started: false,
            pause,
            on_pause: Box::new(on_pause),
        }
    }
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.started {
                let Some(front) = self.pieces.front() else {
                    return Ok(0);
                };
                if self.pos < front.len() {
                    let n = (front.len() - self.pos).min(buf.len());
                    buf[..n].copy_from_slice(&front[self.pos..self.pos + n]);
                    self.pos += n;
                    return Ok(n);
                }
                self.pieces.pop_front();
                self.pos = 0;
                if self.pieces.is_empty() {
                    return Ok(0);
                }
            }
            self.started = true;
            (self.on_pause)(true);
            std::thread::sleep(self.pause);
            (self.on_pause)(false);
        }
    }
}

/// Pieces of pseudo-random bytes of these sizes (the same for every call).
pub fn pieces(sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut x: u32 = 0x9e37_79b9;
    sizes
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        })
        .collect()
}

/// A message with `reader` as its attachment `slow.bin`.
pub fn reader_message(to: &str, reader: impl std::io::Read + Send + 'static) -> Message {
    Message::builder()
        .from("zoe@example.com")
        .to(to)
        .subject("trickled")
        .text("The attachment comes slowly.\n")
        .attach(mimeograph::mime::Attachment::reader(reader).filename("slow.bin"))
        .build()
        .unwrap()
}

/// The bytes of the attachment named `name` in a received message (parsed
/// with mail-parser).
pub fn attachment_bytes(data: &[u8], name: &str) -> Vec<u8> {
    use mail_parser::MimeHeaders;
    let m = mail_parser::MessageParser::default()
        .parse(data)
        .expect("the received message parses");
    let found = m
        .attachments()
        .find(|a| a.attachment_name() == Some(name))
        .unwrap_or_else(|| panic!("no attachment {name}"));
    found.contents().to_vec()
}
