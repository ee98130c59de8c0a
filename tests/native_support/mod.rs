//! Shared support of the native transport's tests: a real Python
//! aiosmtpd server (`tests/servers/native_aiosmtpd.py`) started per test,
//! its captured messages, certificates made with rcgen, test messages.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
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

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub out: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

pub fn server(flags: &[&str]) -> Server {
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
    let out = std::env::temp_dir().join(format!(
        "mimeograph-native-{}-{}.jsonl",
        std::process::id(),
        unique()
    ));
    let mut child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/native_aiosmtpd.py"))
        .arg(&out)
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start python3");
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
        panic!("aiosmtpd did not start (got {line:?}); see its error above");
    };
    Server { child, port, out }
}

#[derive(Debug)]
pub struct Captured {
    pub rcpt_tos: Vec<String>,
    pub data: Vec<u8>,
    pub tls: bool,
    pub sni: Option<String>,
    pub auth: Option<String>,
    pub peer_port: u64,
    pub conn: u64,
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

pub fn captured(s: &Server) -> Vec<Captured> {
    let text = std::fs::read_to_string(&s.out).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Captured {
                rcpt_tos: v["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect(),
                data: base64::engine::general_purpose::STANDARD
                    .decode(v["data"].as_str().unwrap())
                    .unwrap(),
                tls: v["tls"].as_bool().unwrap(),
                sni: v["sni"].as_str().map(str::to_string),
                auth: v["auth"].as_str().map(str::to_string),
                peer_port: v["peer_port"].as_u64().unwrap(),
                conn: v["conn"].as_u64().unwrap(),
                peak: v["peak"].as_u64().unwrap(),
            }
        })
        .collect()
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
