//! Fault injection (issue 6): every case of `tests/faults/cases.json` run
//! against the scripted fault server (`tests/servers/fault_server.py`) with
//! the blocking `SmtpClient`, the tokio `AsyncSmtpClient` and a `Pool`.
//!
//! For each case: the message from `fault@faults.test` meets the fault and
//! the client must report exactly the expected outcome (a typed error, or
//! `sent` — only when the server wrote a 2xx for the end of its data); the
//! server's log must agree (no 2xx for a message reported failed, no
//! resend of a message whose outcome is unknown); then the same client (or
//! pool) must send the next message. Cases run concurrently, with a 3 s
//! timeout. `js/test/faults.test.mjs` runs the same cases with the npm
//! package; the fault table in `SECURITY.md` is generated from the expectations
//! (`table_is_current`; regenerate with `MIMEOGRAPH_WRITE_FAULT_TABLE=1`).
#![cfg(all(not(target_arch = "wasm32"), feature = "native"))]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mimeograph::mime::{Attachment, Message};
use mimeograph::native::{NativeError, Options, Pool, SentMessage, SmtpClient};
use mimeograph::smtp::{SmtpError, TlsPolicy};
use serde_json::Value;

mod native_support;
use native_support::Pki;

/// The one timeout of every client in these tests.
const TIMEOUT: Duration = Duration::from_secs(3);
/// No case may take longer than this (hang guard).
const CASE_LIMIT: Duration = Duration::from_secs(60);
const FAULT_SENDER: &str = "fault@faults.test";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases_path() -> PathBuf {
    root().join("tests/faults/cases.json")
}

fn all_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(cases_path()).expect("tests/faults/cases.json");
    let doc: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    doc["cases"].as_array().expect("a cases array").clone()
}

/// The cases to run: all, or those named in `MIMEOGRAPH_FAULT_CASES`
/// (comma-separated, for debugging one case).
fn cases() -> Vec<Value> {
    let mut all = all_cases();
    if let Ok(only) = std::env::var("MIMEOGRAPH_FAULT_CASES") {
        let only: Vec<&str> = only.split(',').collect();
        all.retain(|c| only.contains(&c["name"].as_str().unwrap()));
    }
    all
}

// ----- the fault server -----

struct FaultServer {
    child: Child,
    ports: HashMap<String, u16>,
    out: PathBuf,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

impl FaultServer {
    /// One listener per case of cases.json.
    fn start(pki: &Pki, tag: &str) -> FaultServer {
        let out = std::env::temp_dir().join(format!(
            "mimeograph-faults-{}-{tag}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&out);
        let mut child = Command::new("python3")
            .arg(root().join("tests/servers/fault_server.py"))
            .arg(cases_path())
            .arg(&out)
            .args(["--cert", &pki.cert(), "--key", &pki.key()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 (for tests/servers/fault_server.py)");
        let mut ports = HashMap::new();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        for line in stdout.lines() {
            let line = line.unwrap();
            if line == "READY" {
                break;
            }
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("PORT"), Some(name), Some(port)) => {
                    ports.insert(name.to_string(), port.parse().unwrap());
                }
                _ => panic!("fault server said {line:?}"),
            }
        }
        assert!(!ports.is_empty(), "the fault server did not start");
        FaultServer { child, ports, out }
    }

    /// The server's records for one case.
    fn records(&self, case: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["case"] == case)
            .collect()
    }
}

// ----- one case -----

/// A case of cases.json.
struct Spec<'a>(&'a Value);

impl<'a> Spec<'a> {
    fn name(&self) -> &'a str {
        self.0["name"].as_str().unwrap()
    }
    fn server(&self, key: &str) -> &'a Value {
        &self.0["server"][key]
    }
    fn client(&self, key: &str) -> &'a Value {
        &self.0["client"][key]
    }
    fn tls(&self) -> &'a str {
        self.server("tls").as_str().unwrap_or("none")
    }
    fn trusted(&self) -> bool {
        self.client("trust").as_bool().unwrap_or(true)
    }
    fn checks_next(&self) -> bool {
        self.client("next").as_bool().unwrap_or(true)
    }
    fn retries(&self) -> bool {
        self.client("retries").as_bool().unwrap_or(false)
    }
    /// Send a message from `warm@faults.test` first, so that the fault
    /// message goes over a reused connection.
    fn warm(&self) -> bool {
        self.client("warm").as_bool().unwrap_or(false)
    }
    /// What closing the client (QUIT) must give: `ok` or an error.
    fn expected_close(&self) -> &'a str {
        self.0["expect"]["close"].as_str().unwrap_or("ok")
    }
    fn expected(&self, driver: Driver) -> String {
        let e = &self.0["expect"];
        e[driver.key()]
            .as_str()
            .or_else(|| e["native"].as_str())
            .unwrap()
            .to_string()
    }
}

fn options(spec: &Spec, port: u16, ca_pem: &str) -> Options {
    let mut o = Options::new("localhost");
    o.port = Some(port);
    o.domain = Some("client.faults.test".into());
    o.timeout = TIMEOUT;
    if !spec.retries() {
        o.reconnect_retry = false;
        o.greylist_retry = None;
    }
    match spec.tls() {
        "starttls" => o.tls = TlsPolicy::Required,
        "implicit" => o.ssl = true,
        _ => o.tls = TlsPolicy::Never,
    }
    if spec.trusted() {
        o.add_root_certificate(ca_pem.as_bytes()).unwrap();
    }
    if spec.server("auth").as_bool().unwrap_or(false) {
        o.user = Some("user".into());
        o.password = Some("secret".into());
    }
    o
}

fn fault_message(spec: &Spec) -> Message {
    let mut b = Message::builder()
        .from(FAULT_SENDER)
        .to("one@faults.test, two@faults.test")
        .subject(format!("fault case {}", spec.name()))
        .text("This message meets a fault.\n.\nA dot line above.\n");
    if let Some(mib) = spec.client("big_mib").as_u64() {
        // 6 MiB is 8 MB on the wire (base64): more than the socket
        // buffers hold (the client's send buffer grows to 4 MiB), so that
        // the client is still writing when the server gives up.
        let bytes = noise()[..(mib as usize * 1024 * 1024).min(NOISE_MIB << 20)].to_vec();
        b = b.attach(Attachment::bytes(bytes).filename("big.bin"));
    }
    b.build().unwrap()
}

const NOISE_MIB: usize = 8;

/// Incompressible bytes for large attachments (made once).
fn noise() -> &'static [u8] {
    static NOISE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    NOISE.get_or_init(|| {
        (0..(NOISE_MIB << 20) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    })
}

fn warm_message(spec: &Spec) -> Message {
    Message::builder()
        .from("warm@faults.test")
        .to("one@faults.test")
        .subject(format!("before fault case {}", spec.name()))
        .text("A message before the fault, on the same connection.\n")
        .build()
        .unwrap()
}

fn next_message(spec: &Spec) -> Message {
    Message::builder()
        .from("next@faults.test")
        .to("one@faults.test")
        .subject(format!("after fault case {}", spec.name()))
        .text("The next message.\n")
        .build()
        .unwrap()
}

/// An SMTP command as the table shows it: its verb.
fn verb(command: &str) -> String {
    match command {
        "connection greeting" => "greeting".into(),
        c if c.starts_with(|ch: char| ch.is_ascii_uppercase()) => {
            c.split([' ', ':']).next().unwrap_or(c).to_string()
        }
        c => c.to_string(),
    }
}

fn describe_smtp(e: &SmtpError) -> String {
    match e {
        SmtpError::Reply { command, reply } => format!("Reply {} {}", reply.code(), verb(command)),
        SmtpError::ServiceClosing { command, reply } => match command {
            Some(c) => format!("ServiceClosing {} {}", reply.code(), verb(c)),
            None => format!("ServiceClosing {}", reply.code()),
        },
        SmtpError::Protocol(_) => "Protocol".into(),
        SmtpError::ReplyTooLong { limit } => format!("ReplyTooLong {limit}"),
        SmtpError::TlsRequired(_) => "TlsRequired".into(),
        SmtpError::AuthFailed { reply, .. } => format!("AuthFailed {}", reply.code()),
        SmtpError::Timeout { waiting_for } => format!("Timeout {}", verb(waiting_for)),
        SmtpError::Closed => "Closed".into(),
        SmtpError::AllRecipientsRejected { recipients } => format!(
            "AllRecipientsRejected {}",
            recipients.first().map_or(0, |r| r.reply.code())
        ),
        other => format!("{other:?}"),
    }
}

fn describe_error(e: &NativeError) -> String {
    match e {
        NativeError::Smtp(s) => format!("Smtp({})", describe_smtp(s)),
        NativeError::OutcomeUnknown { source, .. } => {
            format!("OutcomeUnknown({})", describe_error(source))
        }
        NativeError::Tls(_) => "Tls".into(),
        NativeError::Io(io) => format!("Io({:?})", io.kind()),
        NativeError::Connect { source, .. } => format!("Connect({source})"),
        other => format!("{other:?}"),
    }
}

/// The outcome as cases.json writes it.
fn describe(r: &Result<SentMessage, NativeError>) -> String {
    match r {
        Ok(s) => {
            let mut out = String::from("sent");
            if s.attempts > 1 {
                out += &format!(" after {} attempts", s.attempts);
            }
            let refused = s.recipients.iter().filter(|r| !r.accepted()).count();
            if refused > 0 {
                out += &format!(", {refused} of {} recipients refused", s.recipients.len());
            }
            out
        }
        Err(e) => describe_error(e),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    Blocking,
    // Built only with the `tokio` feature.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Async,
    Pool,
}

impl Driver {
    fn key(self) -> &'static str {
        match self {
            Driver::Blocking => "native",
            Driver::Async => "async",
            Driver::Pool => "pool",
        }
    }
}

/// What a client did in one case.
struct Observed {
    outcome: String,
    fault_id: String,
    /// The next message's Message-ID, or why it failed (`None` when the
    /// case does not check it).
    next: Option<Result<String, String>>,
    /// The warm-up message failed (when the case sends one).
    warm: Option<String>,
    /// The client's QUIT at the end (`ok` or the error as cases.json
    /// writes it), and how long it took.
    close: String,
    close_took: Duration,
}

fn describe_close(r: Result<(), NativeError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => describe_error(&e),
    }
}

fn pause(spec: &Spec) -> Option<Duration> {
    spec.client("pause_ms").as_u64().map(Duration::from_millis)
}

fn run_blocking(spec: &Spec, port: u16, ca_pem: &str) -> Observed {
    let client = SmtpClient::new(options(spec, port, ca_pem));
    run_sync(spec, client, |c, m| c.send(m), |c| c.close())
}

fn run_pool(spec: &Spec, port: u16, ca_pem: &str) -> Observed {
    let pool = Pool::new(options(spec, port, ca_pem)).with_max_connections(1);
    run_sync(spec, pool, |p, m| p.send(m), |p| p.close())
}

/// One case through a blocking sender (`SmtpClient` or `Pool`): the warm-up
/// message, the faulted one, the next one, then the close.
fn run_sync<S>(
    spec: &Spec,
    mut sender: S,
    send: impl Fn(&mut S, Message) -> Result<SentMessage, NativeError>,
    close: impl FnOnce(&mut S) -> Result<(), NativeError>,
) -> Observed {
    let mut send = |m| send(&mut sender, m);
    let warm = spec
        .warm()
        .then(|| send(warm_message(spec)).err().map(|e| e.to_string()))
        .flatten();
    let m = fault_message(spec);
    let fault_id = m.message_id().to_string();
    let outcome = describe(&send(m));
    if let Some(p) = pause(spec) {
        std::thread::sleep(p);
    }
    let next = spec.checks_next().then(|| {
        let m = next_message(spec);
        let id = m.message_id().to_string();
        send(m).map(|_| id).map_err(|e| e.to_string())
    });
    let started = Instant::now();
    let close = describe_close(close(&mut sender));
    Observed {
        outcome,
        fault_id,
        next,
        warm,
        close,
        close_took: started.elapsed(),
    }
}

#[cfg(feature = "tokio")]
async fn run_async(case: Value, port: u16, ca_pem: String) -> Observed {
    use mimeograph::native::AsyncSmtpClient;
    let spec = &Spec(&case);
    let mut client = AsyncSmtpClient::new(options(spec, port, &ca_pem));
    let warm = if spec.warm() {
        client
            .send(warm_message(spec))
            .await
            .err()
            .map(|e| e.to_string())
    } else {
        None
    };
    let m = fault_message(spec);
    let fault_id = m.message_id().to_string();
    let outcome = describe(&client.send(m).await);
    if let Some(p) = pause(spec) {
        tokio::time::sleep(p).await;
    }
    let next = if spec.checks_next() {
        let m = next_message(spec);
        let id = m.message_id().to_string();
        Some(client.send(m).await.map(|_| id).map_err(|e| e.to_string()))
    } else {
        None
    };
    let started = Instant::now();
    let close = describe_close(client.close().await);
    Observed {
        outcome,
        fault_id,
        next,
        warm,
        close,
        close_took: started.elapsed(),
    }
}

/// What is wrong with one case's run (empty when nothing).
fn check(spec: &Spec, driver: Driver, o: &Observed, records: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let expected = spec.expected(driver);
    if o.outcome != expected {
        problems.push(format!("outcome {:?}, expected {expected:?}", o.outcome));
    }
    let count = |event: &str, id: &str| {
        records
            .iter()
            .filter(|r| r["event"] == event && r["message_id"] == id)
            .count()
    };
    let fires = records.iter().filter(|r| r["event"] == "fault").count();
    if spec.0["at"] != "none" && fires == 0 {
        problems.push("the fault never fired".into());
    }
    // Reported sent only after the final 2xx, and never twice.
    let accepted = count("accepted", &o.fault_id);
    let sent = o.outcome.starts_with("sent");
    if sent && accepted != 1 {
        problems.push(format!(
            "reported sent, but the server wrote {accepted} 2xx for its end of data"
        ));
    }
    if !sent && accepted != 0 {
        problems.push(format!(
            "reported failed, but the server wrote {accepted} 2xx for its end of data"
        ));
    }
    if o.outcome.starts_with("OutcomeUnknown") {
        let data = count("data", &o.fault_id);
        if data > 1 {
            problems.push(format!(
                "outcome unknown, yet the data arrived {data} times (resent)"
            ));
        }
    }
    match &o.next {
        None => {}
        Some(Err(e)) => problems.push(format!("the next message failed: {e}")),
        Some(Ok(id)) => {
            let n = count("accepted", id);
            if n != 1 {
                problems.push(format!("the next message was accepted {n} times"));
            }
        }
    }
    if let Some(e) = &o.warm {
        problems.push(format!("the warm-up message failed: {e}"));
    }
    if spec.checks_next() && o.close != spec.expected_close() {
        problems.push(format!(
            "close (QUIT) gave {:?}, expected {:?}",
            o.close,
            spec.expected_close()
        ));
    }
    // A hang guard, not a speed check: closing waits for one reply at most.
    if o.close_took > TIMEOUT + Duration::from_secs(5) {
        problems.push(format!("close (QUIT) took {:?}", o.close_took));
    }
    problems
}

/// Runs every case with `driver`, at once; panics with every mismatch.
fn run_all(driver: Driver) {
    let pki = Pki::new(&format!("faults-{}", driver.key()));
    let server = FaultServer::start(&pki, driver.key());
    let all = cases();
    let started = Instant::now();
    let observed: Vec<(String, Result<Observed, String>)> = match driver {
        Driver::Blocking | Driver::Pool => {
            // Detached threads (not scoped): a hung case fails the test
            // instead of hanging it.
            let (tx, rx) = mpsc::channel();
            for case in &all {
                let (tx, case, ca) = (tx.clone(), case.clone(), pki.ca_pem.clone());
                let port = server.ports[Spec(&case).name()];
                std::thread::spawn(move || {
                    let spec = Spec(&case);
                    let o =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match driver {
                            Driver::Pool => run_pool(&spec, port, &ca),
                            _ => run_blocking(&spec, port, &ca),
                        }))
                        .map_err(|_| "panicked".to_string());
                    let _ = tx.send((spec.name().to_string(), o));
                });
            }
            drop(tx);
            let mut got = HashMap::new();
            while got.len() < all.len() {
                match rx.recv_timeout(CASE_LIMIT.saturating_sub(started.elapsed())) {
                    Ok((name, o)) => {
                        got.insert(name, o);
                    }
                    Err(_) => break,
                }
            }
            all.iter()
                .map(|c| {
                    let name = Spec(c).name().to_string();
                    let o = got.remove(&name).unwrap_or_else(|| {
                        Err(format!("still running after {CASE_LIMIT:?} (hung)"))
                    });
                    (name, o)
                })
                .collect()
        }
        Driver::Async => run_all_async(&all, &pki, &server),
    };
    let elapsed = started.elapsed();
    // Let the server write its last records (a close after a reply).
    std::thread::sleep(Duration::from_millis(200));
    let mut failures = Vec::new();
    for (case, (name, o)) in all.iter().zip(&observed) {
        let spec = Spec(case);
        assert_eq!(spec.name(), name);
        let problems = match o {
            Ok(o) => check(&spec, driver, o, &server.records(name)),
            Err(e) => vec![e.clone()],
        };
        if !problems.is_empty() {
            failures.push(format!("  {name}: {}", problems.join("; ")));
        }
    }
    eprintln!(
        "{} fault cases with {driver:?} in {:.1} s",
        all.len(),
        elapsed.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} fault cases went wrong with {driver:?}:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[cfg(feature = "tokio")]
fn run_all_async(
    all: &[Value],
    pki: &Pki,
    server: &FaultServer,
) -> Vec<(String, Result<Observed, String>)> {
    noise();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // One task per case, so that rendering a large body (CPU work, in a
        // debug build seconds) does not hold up the other cases.
        let tasks: Vec<_> = all
            .iter()
            .map(|case| {
                let name = Spec(case).name().to_string();
                let port = server.ports[&name];
                let run = run_async(case.clone(), port, pki.ca_pem.clone());
                (name, tokio::spawn(tokio::time::timeout(CASE_LIMIT, run)))
            })
            .collect();
        let mut out = Vec::new();
        for (name, task) in tasks {
            let o = match task.await {
                Ok(Ok(o)) => Ok(o),
                Ok(Err(_)) => Err(format!("still running after {CASE_LIMIT:?} (hung)")),
                Err(e) => Err(format!("the task failed (panicked?): {e}")),
            };
            out.push((name, o));
        }
        out
    })
}

#[cfg(not(feature = "tokio"))]
fn run_all_async(_: &[Value], _: &Pki, _: &FaultServer) -> Vec<(String, Result<Observed, String>)> {
    unreachable!("the async driver needs the tokio feature")
}

#[test]
fn every_fault_with_the_blocking_client() {
    run_all(Driver::Blocking);
}

#[cfg(feature = "tokio")]
#[test]
fn every_fault_with_the_async_client() {
    run_all(Driver::Async);
}

#[test]
fn every_fault_through_a_pool() {
    run_all(Driver::Pool);
}

// ----- the table -----

fn table() -> String {
    let mut out = String::from(
        "Generated from `tests/faults/cases.json` by `tests/faults.rs` \
         (`MIMEOGRAPH_WRITE_FAULT_TABLE=1 cargo test --test faults table_is_current`); \
         do not edit by hand. Every row is checked on every test run: \
         `tests/faults.rs` runs each case with the blocking `SmtpClient`, the tokio \
         `AsyncSmtpClient` and a `Pool` (column *native*), and \
         `js/test/faults.test.mjs` with the npm package's `SMTPClient` over the \
         Node transport (column *JS*), against the scripted server \
         `tests/servers/fault_server.py`; a run whose outcome differs from its row fails.\n\n\
         - **native**: `Smtp(kind …)` is `NativeError::Smtp(SmtpError::kind)` with the reply \
         code and the command (verb) it answered; `OutcomeUnknown(…)` is \
         `NativeError::OutcomeUnknown`: the end of the data was sent and no verdict read, \
         so the message is never resent; `Tls` is `NativeError::Tls`; `Io(kind)` is \
         `NativeError::Io`. Retries (reconnect, greylisting) are off unless the stage says \
         *retries on*. A connection that carried a message before and failed before the \
         next message's transaction began (its `RSET` refused, a `421` while idle) is \
         replaced and the message offered on the new one, retries or not; a `421` to the \
         `MAIL` of a reused connection (the race with an idle timeout) is retried once \
         when retries are on.\n\
         - **JS**: the `SMTPError`'s `code` (`SMTPErrorStates` name), its `kind` (the engine's \
         error, `-` for a transport error), `smtpCode` and `command`; `outcome-unknown` is \
         `err.outcomeUnknown === true`. `SMTPClient` retries a greylisting 450/451 once. \
         Like the native clients, it offers a message again on a new connection when a \
         reused connection failed before the message's transaction began, and (option \
         `reconnectRetry`, on by default, off in these rows unless *retries on*) retries \
         once, on a new connection, a message whose connection the server closed before \
         the end of its data was sent (a plain close or a reset, with no reply) or \
         whose `MAIL` on a reused connection got a `421`.\n\
         - **sent**: the client reported the message sent; the server's log confirms it wrote \
         a 2xx for the end of its data (and for every other row, that it did not).\n\
         - **next message**: after the fault, the same client object (and pool) sent another \
         message successfully (checked in every row but the two with an untrusted \
         certificate, where every connection fails alike). Then the client is closed \
         (`QUIT`): it must give `ok` unless the cell says `close: …`, and never take longer \
         than one timeout (plus slack).\n\
         - Timeouts are 3 s in these tests. The timeout bounds the wait for each reply as a \
         whole, from when it is awaited to its last line: octets that trickle in do not \
         extend it. Over TLS the same holds for the octets of a record and for the \
         handshake (a deadline over every socket read; `tests/native_aiosmtpd.rs`).\n\n\
         | # | stage | fault | server | native | JS | sent | next message |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (i, case) in all_cases().iter().enumerate() {
        let spec = Spec(case);
        let mut server = vec![match spec.tls() {
            "starttls" => "STARTTLS",
            "implicit" => "TLS",
            _ => "plain",
        }
        .to_string()];
        if spec.server("auth").as_bool().unwrap_or(false) {
            server.push("AUTH".into());
        }
        if spec.server("chunking").as_bool().unwrap_or(false) {
            server.push("CHUNKING".into());
        }
        if !spec.server("pipelining").as_bool().unwrap_or(true) {
            server.push("no PIPELINING".into());
        }
        let mut native = spec.expected(Driver::Blocking);
        let mut js = case["expect"]["js"].as_str().unwrap().to_string();
        if let Some(or) = case["expect"]["js_or"].as_str() {
            js += &format!(" or {or}");
        }
        if spec.expected_close() != "ok" {
            native += &format!("; close: {}", spec.expected_close());
        }
        if let Some(close) = case["expect"]["close_js"].as_str() {
            js += &format!("; close: {close}");
        }
        let js = js.as_str();
        let sent = |o: &str| {
            if o.starts_with("sent") {
                "yes"
            } else if o.contains("OutcomeUnknown") || o.contains("outcome-unknown") {
                "unknown"
            } else {
                "no"
            }
        };
        let sent = if sent(&native) == sent(js) {
            sent(&native).to_string()
        } else {
            format!("{} / {}", sent(&native), sent(js))
        };
        let next = match (spec.checks_next(), case["expect"]["next_js"].as_str()) {
            (false, _) => "n/a".to_string(),
            (true, None) => "yes".to_string(),
            (true, Some(e)) => format!("native yes; JS no (`{e}`)"),
        };
        let cell = |s: &str| s.replace('|', "\\|");
        out += &format!(
            "| {} | {} | {} | {} | `{}` | `{}` | {} | {} |\n",
            i + 1,
            cell(case["stage"].as_str().unwrap()),
            cell(case["fault"].as_str().unwrap()),
            server.join(", "),
            cell(&native),
            cell(js),
            sent,
            next
        );
    }
    out
}

/// The fault table lives in SECURITY.md, between these markers.
const TABLE_BEGIN: &str = "<!-- fault table begin: generated by tests/faults.rs -->\n";
const TABLE_END: &str = "<!-- fault table end -->";

#[test]
fn table_is_current() {
    let path = root().join("SECURITY.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(begin), Some(end)) = (doc.find(TABLE_BEGIN), doc.find(TABLE_END)) else {
        panic!("SECURITY.md has no fault table markers ({TABLE_BEGIN:?} … {TABLE_END:?})");
    };
    let have = &doc[begin + TABLE_BEGIN.len()..end];
    let want = table();
    if have == want {
        return;
    }
    if std::env::var_os("MIMEOGRAPH_WRITE_FAULT_TABLE").is_some() {
        let updated = format!("{}{want}{}", &doc[..begin + TABLE_BEGIN.len()], &doc[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "SECURITY.md's fault table is not what tests/faults/cases.json says: regenerate it with \
         MIMEOGRAPH_WRITE_FAULT_TABLE=1 cargo test --test faults table_is_current"
    );
}

#[test]
fn cases_are_well_formed() {
    let all = all_cases();
    let mut names = std::collections::HashSet::new();
    for case in &all {
        let spec = Spec(case);
        assert!(names.insert(spec.name()), "duplicate case {}", spec.name());
        for key in ["stage", "fault", "at", "do"] {
            assert!(case[key].is_string(), "{}: no {key}", spec.name());
        }
        assert!(
            case["expect"]["native"].is_string() && case["expect"]["js"].is_string(),
            "{}: expect.native and expect.js",
            spec.name()
        );
    }
    assert!(all.len() >= 90, "{} cases", all.len());
}
