//! Real SMTP servers for tests (Python `aiosmtpd`, npm `smtp-server`,
//! started from `tests/servers/` on free loopback ports), what they
//! captured, and a small std TCP driver for the sans-IO engine. Also
//! included by `tests/native_support/` (the native transport's tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use mimeograph::envelope::Envelope;
use mimeograph::smtp::{Client, Config, Event, MessageBody};

pub struct Server {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    /// Where it writes what it captured (JSON lines).
    pub out: PathBuf,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn out_file(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!(
        "mimeograph-smtp-{}-{tag}-{n}.jsonl",
        std::process::id()
    ))
}

fn spawn(mut cmd: Command, out: PathBuf, what: &str) -> Server {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(port) = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
    else {
        let _ = child.kill();
        panic!("{what} did not start (no PORT line; got {line:?}); see its error above");
    };
    Server { child, port, out }
}

/// `tests/servers/aiosmtpd_server.py` with these flags (see its docstring).
pub fn aiosmtpd(flags: &[&str]) -> Server {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with aiosmtpd is required for this test: `pip install -r tests/requirements.txt`"
    );
    let out = out_file("aiosmtpd");
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("tests/servers/aiosmtpd_server.py"))
        .arg(&out)
        .args(flags);
    spawn(cmd, out, "aiosmtpd")
}

pub fn smtp_server(options: serde_json::Value) -> Server {
    let modules = root().join("tests/node/node_modules");
    assert!(
        modules.join("smtp-server").exists(),
        "npm smtp-server is required for this test: `npm install --prefix tests/node smtp-server`"
    );
    let out = out_file("smtp-server");
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", &modules)
        .arg(root().join("tests/servers/smtp_server.js"))
        .arg(&out)
        .arg(options.to_string());
    spawn(cmd, out, "node smtp-server (is node installed?)")
}

/// The std TCP driver: runs the engine until the session closes.
pub fn drive<B: MessageBody + Send + 'static>(
    port: u16,
    config: Config,
    messages: Vec<(Envelope, B)>,
) -> Vec<Event> {
    let epoch = Instant::now();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut c = Client::new(config, false, epoch.elapsed()).unwrap();
    for (e, m) in messages {
        c.send(e, Box::new(m), epoch.elapsed()).unwrap();
    }
    c.quit(epoch.elapsed());
    let mut events = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(bytes) = c.poll_transmit() {
            sock.write_all(&bytes).unwrap();
        }
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
        if matches!(events.last(), Some(Event::Closed { .. })) {
            while let Some(bytes) = c.poll_transmit() {
                let _ = sock.write_all(&bytes);
            }
            return events;
        }
        assert!(
            epoch.elapsed() < Duration::from_secs(30),
            "session hung: {events:?}"
        );
        match sock.read(&mut buf) {
            Ok(0) => c.connection_closed(epoch.elapsed()),
            Ok(n) => c.receive(&buf[..n], epoch.elapsed()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                c.handle_timeout(epoch.elapsed())
            }
            Err(_) => c.connection_closed(epoch.elapsed()),
        }
    }
}

/// One message a server accepted (one JSON line of its output). The fields
/// after `data` are written by aiosmtpd only (smtp-server's records leave
/// them out: they read as false, None and 0).
#[derive(Debug)]
pub struct Captured {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub mail_options: Vec<String>,
    pub data: Vec<u8>,
    /// Whether the session was encrypted.
    pub tls: bool,
    /// The last server name a TLS client sent.
    pub sni: Option<String>,
    /// The authenticated login.
    pub auth: Option<String>,
    pub peer_port: u64,
    /// The connection's number, from 1.
    pub conn: u64,
    /// The most connections open at once so far.
    pub peak: u64,
}

impl Captured {
    pub fn message_id(&self) -> String {
        let text = String::from_utf8_lossy(&self.data);
        text.lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("no Message-ID in {text}"))
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    }
}

/// What a server wrote to `path` (its `Server::out`).
pub fn captured(path: &Path) -> Vec<Captured> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let strings = |k: &str| -> Vec<String> {
                v[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            // Absent (smtp-server) or of the right type (aiosmtpd).
            let u64_or_0 = |k: &str| v.get(k).map_or(0, |n| n.as_u64().unwrap());
            let string = |k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_string);
            Captured {
                mail_from: v["mail_from"].as_str().unwrap().to_string(),
                rcpt_tos: strings("rcpt_tos"),
                mail_options: strings("mail_options"),
                data: base64::engine::general_purpose::STANDARD
                    .decode(v["data"].as_str().unwrap())
                    .unwrap(),
                tls: v.get("tls").is_some_and(|t| t.as_bool().unwrap()),
                sni: string("sni"),
                auth: string("auth"),
                peer_port: u64_or_0("peer_port"),
                conn: u64_or_0("conn"),
                peak: u64_or_0("peak"),
            }
        })
        .collect()
}
