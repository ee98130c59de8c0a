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
