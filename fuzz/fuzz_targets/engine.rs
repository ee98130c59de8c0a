//! The sans-IO SMTP engine (`smtp::Client`) against arbitrary servers.
//!
//! Input: 4 configuration bytes, then a script: server bytes, with
//! `0xFF op arg` for everything else (`0xFF 0xFF` is a literal 0xFF).
//!
//! * byte 0: bit 0 pipelining, 1 chunking, 2 require all recipients,
//!   3–4 TLS policy (0 never, 2 required, else opportunistic),
//!   5 credentials, 6 allow insecure AUTH, 7 link encrypted from the start;
//! * byte 1: bits 0–1 AUTH preference, 2–3 BDAT chunk size (64 KiB, 1, 7,
//!   100), 4 small reply bounds (64 / 256), 5 a 30 s timeout, 6 transcript,
//!   7 an invalid hello name;
//! * byte 2: bits 0–1 messages queued at the start, then 3 bits of kind for
//!   each of the first two;
//! * byte 3: bits 0–3 + 1: the octets per body chunk (bit 4: 64 KiB),
//!   bits 5–6 the hello name, 7 which invalid name.
//!
//! Ops (the byte after `op` is its argument, even when unused):
//! `|` deliver the server bytes so far (they are also delivered before
//! every op), `T` TLS established, `C` connection closed, `W` time passes
//! to the deadline, `w` one second passes, `0`–`7` queue a message of that
//! kind, `!` queue a message with a bad envelope (must be refused), `N`
//! NOOP, `Q` QUIT, `B` the bytes up to the next op are the message body
//! (prefixed `X-Fuzz: id` per message), `m`/`r` low-level MAIL / RCPT (arg:
//! path and parameters from a table, some malicious), `d` DATA, `k` the
//! bytes up to the next op are a `data_chunk`, `e` data_end, `s` RSET,
//! `h`/`v`/`x` HELP / VRFY / EXPN (arg: text from a table).
//!
//! Properties (see `server.rs` for what the model of the server checks on
//! the wire): no panic; every `poll_transmit` output is CRLF-clean and the
//! whole stream reads as well-formed commands and content; `MessageSent`
//! only for a transaction the server finished with a 2xx to the end of the
//! data, with exactly the message's content (so nothing ended early), and
//! with the recipients' results as the server gave them; no message the
//! server accepted is reported failed unless its outcome is unknown; every
//! queued message gets exactly one outcome; `outcome_unknown` names only a
//! failed message whose end of data was sent; after `Closed` nothing more
//! is transmitted and no event follows.
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mimeograph::envelope::{Envelope, EnvelopeAddress, RenderOptions};
use mimeograph::mime::{Attachment, Message};
use mimeograph::smtp::reply::{DEFAULT_MAX_LINE, DEFAULT_MAX_REPLY};
use mimeograph::smtp::{
    BodyError, Client, Config, Credentials, Event, Mechanism, MessageBody, MessageId, SmtpError,
    TlsPolicy,
};
use mimeograph_fuzz::server::{ClientFacts, Server};
use mimeograph_fuzz::{bare_cr_or_lf, normalize_crlf};

const HELLO: [&str; 4] = [
    "localhost",
    "[127.0.0.1]",
    "mx.example.com",
    "h\u{e9}.example",
];
const BAD_HELLO: [&str; 2] = ["bad name", "x\r\nMAIL FROM:<a@b.example>"];

/// Paths for the low-level MAIL and RCPT, valid and malicious.
const PATHS: [&str; 16] = [
    "a@x.example",
    "",
    "b@y.example",
    "j\u{f6}rg@m\u{fc}ller.example",
    "\"john doe\"@x.example",
    "a@b.example>",
    "a@b.example> SIZE=1",
    "a@b.example>\r\nRCPT TO:<evil@x.example",
    "a b@x.example",
    "<a@b.example>",
    "a@b.example\n",
    "x@y.example\0",
    "\"a\\\"@b\"@c.example",
    "\"unterminated@x.example",
    "@x.example",
    "a@",
];
const PARAMS: [&[&str]; 8] = [
    &[],
    &["SIZE=10"],
    &["BODY=8BITMIME"],
    &["SMTPUTF8"],
    &["A=b c"],
    &["X\r\nRSET"],
    &["=x"],
    &["SIZE=10", "RET=HDRS"],
];
const TEXTS: [&str; 6] = ["postmaster", "", " ", "x\r\nRSET", "list\0", "a b"];

fn addr(a: &str) -> EnvelopeAddress {
    let ascii = a.is_ascii().then(|| a.to_owned());
    EnvelopeAddress::new(a, ascii)
}

fn envelope(kind: u8) -> Envelope {
    match kind {
        1 => Envelope {
            from: Some(EnvelopeAddress::new("j\u{f6}rg@m\u{fc}ller.example", None)),
            to: vec![
                EnvelopeAddress::new("\u{7528}\u{6237}@\u{4f8b}\u{5b50}.example", None),
                EnvelopeAddress::new(
                    "x@b\u{fc}cher.example",
                    Some("x@xn--bcher-kva.example".into()),
                ),
            ],
        },
        7 => Envelope {
            from: None,
            to: vec![
                addr("b@y.example"),
                addr("b@Y.EXAMPLE"),
                addr("\"q r\"@y.example"),
                addr("c@[192.0.2.1]"),
            ],
        },
        _ => Envelope {
            from: Some(addr("a@x.example")),
            to: vec![addr("b@y.example"), addr("c@y.example")],
        },
    }
}

fn bad_envelope(arg: u8) -> Envelope {
    let bad = [
        "a b@x.example",
        "a@b.example>",
        "<a@b.example>",
        "a@b.example\r\nRCPT TO:<e@x.example>",
        "a@x.example\0",
        "",
        "a@x.example SIZE=1",
    ];
    let b = addr(bad[usize::from(arg) % bad.len()]);
    if arg & 0x80 == 0 {
        Envelope {
            from: Some(b),
            to: vec![addr("b@y.example")],
        }
    } else {
        Envelope {
            from: Some(addr("a@x.example")),
            to: vec![addr("b@y.example"), b],
        }
    }
}

/// How a test body reports its size.
#[derive(Clone, Copy, Debug)]
enum Declared {
    Exact,
    Plus,
    Minus,
    Unknown,
}

/// A message body with the faults a `MessageBody` implementation can have.
struct FuzzBody {
    bytes: Vec<u8>,
    pos: usize,
    chunk: usize,
    declared: Declared,
    fail_after: Option<usize>,
    given: usize,
    utf8: bool,
}

impl MessageBody for FuzzBody {
    fn requires_smtputf8(&self) -> bool {
        self.utf8
    }

    fn start(&mut self, _opts: RenderOptions) -> Result<Option<u64>, BodyError> {
        self.pos = 0;
        self.given = 0;
        let n = normalize_crlf(&self.bytes).len() as u64;
        Ok(match self.declared {
            Declared::Exact => Some(n),
            Declared::Plus => Some(n + 1),
            Declared::Minus => Some(n.saturating_sub(1)),
            Declared::Unknown => None,
        })
    }

    fn is_8bit(&self) -> bool {
        self.bytes.iter().any(|&b| b >= 0x80)
    }

    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        // A failing body fails after `n` chunks, or at its end at the latest.
        if self
            .fail_after
            .is_some_and(|n| self.given >= n || self.pos >= self.bytes.len())
        {
            return Err("the body failed".into());
        }
        self.given += 1;
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let end = self.bytes.len().min(self.pos + self.chunk);
        let chunk = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(Some(chunk))
    }
}

/// What the server may receive as a message's content: the DATA form
/// (a final CRLF added to an unterminated last line) and the BDAT form.
fn content_forms(normalized: Vec<u8>) -> Vec<Vec<u8>> {
    let mut data = normalized.clone();
    if !data.is_empty() && !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    vec![data, normalized]
}

struct Harness {
    client: Client,
    server: Server,
    now: Duration,
    chunk: usize,
    body: Vec<u8>,
    expected: HashMap<MessageId, Vec<Vec<u8>>>,
    outcomes: HashMap<MessageId, Result<(), SmtpError>>,
    require_all: bool,
    closed: bool,
    manual_content: Option<Vec<u8>>,
    manual_ended: Vec<Vec<u8>>,
}

impl Harness {
    /// Writes what the engine transmits to the server model, then checks
    /// the events.
    fn settle(&mut self) {
        while let Some(bytes) = self.client.poll_transmit() {
            assert!(
                !self.closed,
                "{} octets transmitted after Closed was reported",
                bytes.len()
            );
            assert!(!bytes.is_empty(), "poll_transmit gave an empty buffer");
            if let Some(i) = bare_cr_or_lf(&bytes) {
                panic!(
                    "bare CR or LF at {i} of a transmit: {:?}",
                    String::from_utf8_lossy(
                        &bytes[i.saturating_sub(40)..(i + 40).min(bytes.len())]
                    )
                );
            }
            if trace() {
                eprintln!("C: {:?}", String::from_utf8_lossy(&bytes));
            }
            self.server.client_sent(&bytes);
        }
        while let Some(event) = self.client.poll_event() {
            if trace() {
                eprintln!("event: {event:?}");
            }
            assert!(!self.closed, "event after Closed: {event:?}");
            match event {
                Event::MessageSent(sent) => self.sent(sent),
                Event::MessageFailed { id, error } => {
                    assert!(self.expected.contains_key(&id), "failed unknown {id:?}");
                    let before = self.outcomes.insert(id, Err(error));
                    assert!(before.is_none(), "second outcome for {id:?}: {before:?}");
                }
                Event::Closed { .. } => {
                    self.closed = true;
                    assert!(self.client.is_closed());
                    assert_eq!(self.client.poll_timeout(), None, "deadline after Closed");
                }
                Event::Ready(_) | Event::StartTls | Event::Noop(_) | Event::Reply { .. } => {}
            }
        }
    }

    fn sent(&mut self, sent: mimeograph::smtp::SentMessage) {
        let id = sent.id;
        let forms = self
            .expected
            .get(&id)
            .unwrap_or_else(|| panic!("MessageSent for unknown {id:?}"));
        assert!(
            sent.reply.is_positive(),
            "MessageSent with {:?}",
            sent.reply
        );
        let Some(txn) = self
            .server
            .finished
            .iter_mut()
            .find(|t| !t.claimed && forms.contains(&t.content))
        else {
            panic!(
                "MessageSent({id:?}) but the server finished no transaction with its content; finished: {:?}",
                self.server
                    .finished
                    .iter()
                    .map(|t| (t.accepted, t.claimed, String::from_utf8_lossy(&t.content[..t.content.len().min(60)]).into_owned()))
                    .collect::<Vec<_>>()
            );
        };
        assert!(
            txn.accepted,
            "MessageSent({id:?}) for a transaction the server did not accept"
        );
        txn.claimed = true;
        let got: Vec<bool> = sent.recipients.iter().map(|r| r.accepted()).collect();
        assert_eq!(got, txn.recipients, "recipient results of {id:?}");
        if self.require_all {
            assert!(got.iter().all(|&a| a), "sent with a refused recipient");
        }
        let before = self.outcomes.insert(id, Ok(()));
        assert!(before.is_none(), "second outcome for {id:?}: {before:?}");
    }

    fn deliver(&mut self, pending: &mut Vec<u8>) {
        if pending.is_empty() {
            return;
        }
        if trace() {
            eprintln!("S: {:?}", String::from_utf8_lossy(pending));
        }
        self.server.server_sent(pending);
        self.client.receive(pending, self.now);
        pending.clear();
        self.settle();
    }

    fn queue(&mut self, kind: u8) {
        let id_hint = self.expected.len();
        let prefix = format!("X-Fuzz: {id_hint}\r\n").into_bytes();
        let bytes = [prefix, self.body.clone()].concat();
        let env = envelope(kind);
        let fuzz_body = |declared, fail_after| FuzzBody {
            bytes: bytes.clone(),
            pos: 0,
            chunk: self.chunk,
            declared,
            fail_after,
            given: 0,
            utf8: false,
        };
        let (body, forms): (Box<dyn MessageBody + Send>, Vec<Vec<u8>>) = match kind {
            1 => {
                let mut b = fuzz_body(Declared::Exact, None);
                b.utf8 = true;
                (Box::new(b), content_forms(normalize_crlf(&bytes)))
            }
            2 => (
                Box::new(fuzz_body(Declared::Plus, None)),
                content_forms(normalize_crlf(&bytes)),
            ),
            3 => (
                Box::new(fuzz_body(Declared::Minus, None)),
                content_forms(normalize_crlf(&bytes)),
            ),
            4 => (
                Box::new(fuzz_body(Declared::Unknown, None)),
                content_forms(normalize_crlf(&bytes)),
            ),
            5 => (
                Box::new(fuzz_body(Declared::Exact, Some(2))),
                // Never complete: nothing may count as this message.
                vec![],
            ),
            6 => {
                let text = String::from_utf8_lossy(&self.body).into_owned();
                let built = Message::builder()
                    .from("Ann <a@x.example>")
                    .to("b@y.example, x@b\u{fc}cher.example")
                    .subject(format!("fuzz {id_hint} \u{2713}"))
                    .message_id(format!("<{id_hint}@fuzz.example>"))
                    .text(text.clone())
                    .attach(Attachment::bytes(self.body.clone()).filename("a.bin"))
                    .deterministic(id_hint as u64)
                    .build();
                let Ok(message) = built else {
                    return;
                };
                let mut forms = Vec::new();
                for (utf8_headers, allow_8bit) in
                    [(false, false), (false, true), (true, false), (true, true)]
                {
                    let opts = RenderOptions {
                        utf8_headers,
                        allow_8bit,
                    };
                    if let Ok(b) = message.to_bytes_with(opts) {
                        forms.push(b);
                    }
                }
                match self.client.send_message(message, self.now) {
                    Ok(id) => {
                        self.expected.insert(id, forms);
                    }
                    Err(e) => refused(e),
                }
                self.settle();
                return;
            }
            _ => (
                Box::new(fuzz_body(Declared::Exact, None)),
                content_forms(normalize_crlf(&bytes)),
            ),
        };
        match self.client.send(env, body, self.now) {
            Ok(id) => {
                self.expected.insert(id, forms);
            }
            Err(e) => refused(e),
        }
        self.settle();
    }
}

/// `FUZZ_TRACE=1` prints the session (for reading what a seed does).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// A valid envelope is refused only when the session cannot take it.
fn refused(e: SmtpError) {
    assert!(
        matches!(e, SmtpError::NotConnected | SmtpError::Misuse(_)),
        "a valid message was refused: {e:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (cfg, script) = data.split_at(4);
    let tls = match (cfg[0] >> 3) & 3 {
        0 => TlsPolicy::Never,
        2 => TlsPolicy::Required,
        _ => TlsPolicy::Opportunistic,
    };
    let small = cfg[1] & 0x10 != 0;
    let hello_name = if cfg[1] & 0x80 != 0 {
        BAD_HELLO[usize::from(cfg[3] >> 7)]
    } else {
        HELLO[usize::from((cfg[3] >> 5) & 3)]
    };
    let config = Config {
        hello_name: hello_name.into(),
        tls,
        credentials: (cfg[0] & 0x20 != 0)
            .then(|| Credentials::new("user\u{e9}", "p\u{e4}ss\0word")),
        authentication: match cfg[1] & 3 {
            0 => Mechanism::DEFAULT_PREFERENCE.to_vec(),
            1 => vec![Mechanism::Plain],
            2 => vec![Mechanism::Login, Mechanism::XOAuth2],
            _ => vec![Mechanism::XOAuth2, Mechanism::CramMd5],
        },
        allow_insecure_auth: cfg[0] & 0x40 != 0,
        pipelining: cfg[0] & 1 != 0,
        chunking: cfg[0] & 2 != 0,
        require_all_recipients: cfg[0] & 4 != 0,
        timeout: (cfg[1] & 0x20 != 0).then(|| Duration::from_secs(30)),
        transcript: cfg[1] & 0x40 != 0,
        max_reply_line: if small { 64 } else { DEFAULT_MAX_LINE },
        max_reply: if small { 256 } else { DEFAULT_MAX_REPLY },
        bdat_chunk_size: [64 * 1024, 1, 7, 100][usize::from((cfg[1] >> 2) & 3)],
    };
    let encrypted = cfg[0] & 0x80 != 0;
    let facts = ClientFacts {
        hello_name: config.hello_name.clone(),
        encrypted,
        allow_insecure_auth: config.allow_insecure_auth,
        tls_required: tls == TlsPolicy::Required,
        pipelining: config.pipelining,
        chunking: config.chunking,
        credentials: config.credentials.is_some(),
        max_reply_line: config.max_reply_line,
        max_reply: config.max_reply,
    };
    let client = match Client::new(config, encrypted, Duration::ZERO) {
        Ok(c) => c,
        // Credentials with NUL/0x01 (or controls in the user) are refused
        // up front: they would change the meaning of AUTH PLAIN/XOAUTH2.
        Err(SmtpError::InvalidCredentials { .. }) => return,
        Err(e) => {
            assert!(
                BAD_HELLO.contains(&hello_name),
                "valid hello name refused: {e:?}"
            );
            assert!(matches!(e, SmtpError::InvalidHelloName(_)));
            return;
        }
    };
    assert!(
        !BAD_HELLO.contains(&hello_name),
        "invalid hello name accepted"
    );

    let mut h = Harness {
        client,
        server: Server::new(facts),
        now: Duration::ZERO,
        chunk: if cfg[3] & 0x10 != 0 {
            64 * 1024
        } else {
            1 + usize::from(cfg[3] & 0x0f)
        },
        body: b"Subject: fuzz\r\n\r\n.\r\n..\nline\r.\r\n\r\n.\r\nend".to_vec(),
        expected: HashMap::new(),
        outcomes: HashMap::new(),
        require_all: cfg[0] & 4 != 0,
        closed: false,
        manual_content: None,
        manual_ended: Vec::new(),
    };
    h.settle();
    for i in 0..(cfg[2] & 3) {
        let kind = if i < 2 {
            (cfg[2] >> (2 + 3 * i)) & 7
        } else {
            0
        };
        h.queue(kind);
    }

    let mut pending = Vec::new();
    let mut i = 0;
    while i < script.len() {
        let b = script[i];
        i += 1;
        if b != 0xFF {
            pending.push(b);
            continue;
        }
        let Some(&op) = script.get(i) else { break };
        i += 1;
        if op == 0xFF {
            pending.push(0xFF);
            continue;
        }
        let arg = script.get(i).copied().unwrap_or(0);
        i += 1;
        h.deliver(&mut pending);
        let now = h.now;
        match op {
            b'|' => {}
            b'T' => {
                h.server.tls_established();
                h.client.tls_established(now);
            }
            b'C' => h.client.connection_closed(now),
            b'W' => {
                if let Some(t) = h.client.poll_timeout() {
                    h.now = h.now.max(t);
                }
                h.client.handle_timeout(h.now);
            }
            b'w' => {
                h.now += Duration::from_secs(1);
                h.client.handle_timeout(h.now);
            }
            b'0'..=b'7' => h.queue(op - b'0'),
            b'!' => {
                let r = h.client.send(
                    bad_envelope(arg),
                    Box::new(FuzzBody {
                        bytes: Vec::new(),
                        pos: 0,
                        chunk: 1,
                        declared: Declared::Exact,
                        fail_after: None,
                        given: 0,
                        utf8: false,
                    }),
                    now,
                );
                assert!(
                    r.is_err(),
                    "a bad envelope was accepted: {:?}",
                    bad_envelope(arg)
                );
            }
            b'N' => {
                let _ = h.client.noop(now);
            }
            b'Q' => h.client.quit(now),
            b'B' | b'k' => {
                // The argument byte is the first byte of the data.
                i -= 1;
                let start = i;
                while i < script.len() && script[i] != 0xFF {
                    i += 1;
                }
                let bytes = script[start..i].to_vec();
                if op == b'B' {
                    h.body = bytes;
                } else if h.client.data_chunk(&bytes).is_ok() {
                    h.manual_content
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&bytes);
                }
            }
            b'm' => {
                let path = PATHS[usize::from(arg) % PATHS.len()];
                let params: Vec<String> = PARAMS[usize::from(arg >> 4) % PARAMS.len()]
                    .iter()
                    .map(|p| p.to_string())
                    .collect();
                h.server.manual_mail = true;
                if h.client.mail(path, &params, now).is_err() {
                    h.server.manual_mail = false;
                }
            }
            b'r' => {
                let _ = h.client.rcpt(PATHS[usize::from(arg) % PATHS.len()], now);
            }
            b'd' => {
                if h.client.data(now).is_ok() {
                    h.manual_content = Some(Vec::new());
                }
            }
            b'e' => {
                if h.client.data_end(now).is_ok() {
                    let content = h.manual_content.take().unwrap_or_default();
                    h.manual_ended
                        .extend(content_forms(normalize_crlf(&content)));
                }
            }
            b's' => {
                let _ = h.client.rset(now);
            }
            b'h' => {
                let t = TEXTS[usize::from(arg) % TEXTS.len()];
                let _ = h.client.help((arg & 0x80 == 0).then_some(t), now);
            }
            b'v' => {
                let _ = h.client.vrfy(TEXTS[usize::from(arg) % TEXTS.len()], now);
            }
            b'x' => {
                let _ = h.client.expn(TEXTS[usize::from(arg) % TEXTS.len()], now);
            }
            _ => {}
        }
        h.settle();
    }
    h.deliver(&mut pending);

    // Content the server read to its end is some message's whole content,
    // a low-level transaction's, or the empty message sent to end a DATA
    // the server accepted after the transaction had failed.
    for c in &h.server.ended_contents {
        let known = c.is_empty()
            || h.manual_ended.contains(c)
            || h.expected.values().any(|forms| forms.contains(c));
        assert!(
            known,
            "the server read a message content no message has (ended early?): {:?}",
            String::from_utf8_lossy(&c[..c.len().min(300)])
        );
    }

    // The session ends.
    let unknown = h.client.outcome_unknown();
    h.client.connection_closed(h.now);
    h.settle();
    assert!(h.closed, "not closed after connection_closed");
    assert!(h.client.poll_transmit().is_none());
    for id in h.expected.keys() {
        assert!(h.outcomes.contains_key(id), "{id:?} got no outcome");
    }
    if let Some(id) = h.client.outcome_unknown() {
        assert!(
            matches!(h.outcomes.get(&id), Some(Err(_))),
            "outcome unknown for {id:?}, which did not fail"
        );
        let forms = &h.expected[&id];
        assert!(
            h.server.ended_contents.iter().any(|c| forms.contains(c)),
            "outcome unknown for {id:?}, whose end of data was never sent"
        );
    }
    let _ = unknown;
    // A message the server accepted is not reported failed, unless its
    // outcome is unknown (the session died before the reply was read).
    for (id, outcome) in &h.outcomes {
        if outcome.is_err() && h.client.outcome_unknown() != Some(*id) {
            let forms = &h.expected[id];
            assert!(
                !h.server
                    .finished
                    .iter()
                    .any(|t| t.accepted && !t.claimed && forms.contains(&t.content)),
                "{id:?} reported failed ({outcome:?}) although the server accepted it"
            );
        }
    }
});
