//! Transcript tests for the engine: scripted server replies in, exact
//! client bytes and events out.

use std::time::Duration;

use super::*;
use crate::envelope::{Envelope, EnvelopeAddress};

/// `a` with itself as its ASCII form when it is ASCII (else it needs SMTPUTF8).
fn addr(a: &str) -> EnvelopeAddress {
    EnvelopeAddress::new(a, a.is_ascii().then(|| a.to_string()))
}

fn env(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        from: Some(addr(from)),
        to: to.iter().map(|a| addr(a)).collect(),
    }
}

fn cfg() -> Config {
    Config {
        tls: TlsPolicy::Never,
        transcript: true,
        // One BDAT chunk per piece of the body, to see the chunking.
        bdat_chunk_size: 1,
        ..Config::default()
    }
}

const T0: Duration = Duration::from_secs(1000);

/// A body whose size is unknown, given in fixed chunks.
struct Chunks(Vec<Vec<u8>>, usize);

impl MessageBody for Chunks {
    fn requires_smtputf8(&self) -> bool {
        false
    }
    fn start(&mut self, _: crate::envelope::RenderOptions) -> Result<Option<u64>, BodyError> {
        self.1 = 0;
        Ok(None)
    }
    fn is_8bit(&self) -> bool {
        false
    }
    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        self.1 += 1;
        Ok(self.0.get(self.1 - 1).map(Vec::as_slice))
    }
}

/// A body that lies about its size, or fails.
struct Liar(u64, bool, bool);

impl MessageBody for Liar {
    fn requires_smtputf8(&self) -> bool {
        false
    }
    fn start(&mut self, _: crate::envelope::RenderOptions) -> Result<Option<u64>, BodyError> {
        Ok(Some(self.0))
    }
    fn is_8bit(&self) -> bool {
        false
    }
    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        if self.2 {
            return Err("renderer broke".into());
        }
        if self.1 {
            return Ok(None);
        }
        self.1 = true;
        Ok(Some(b"0123456789\r\n"))
    }
}

struct Run {
    c: Client,
    events: Vec<Event>,
    now: Duration,
}

impl Run {
    fn new(config: Config) -> Run {
        Run {
            c: Client::new(config, false, T0).unwrap(),
            events: Vec::new(),
            now: T0,
        }
    }

    fn drain(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(b) = self.c.poll_transmit() {
            out.extend(b);
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Plays a script: `S: line` is fed (consecutive S lines in one read),
    /// `C: line` is expected output (consecutive C lines in one write
    /// batch). `!tls` calls `tls_established`.
    fn script(&mut self, script: &str) {
        let mut server = String::new();
        let mut client = String::new();
        let mut lines = script
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .peekable();
        while let Some(line) = lines.next() {
            if let Some(s) = line.strip_prefix("S:") {
                server.push_str(s.strip_prefix(' ').unwrap_or(s));
                server.push_str("\r\n");
            } else if let Some(c) = line.strip_prefix("C:") {
                client.push_str(c.strip_prefix(' ').unwrap_or(c));
                client.push_str("\r\n");
            } else if line == "!tls" {
                self.c.tls_established(self.now);
            } else {
                panic!("bad script line {line}");
            }
            let next = lines.peek().map(|l| l.to_string());
            let next_is = |p: &str| next.as_deref().is_some_and(|l| l.starts_with(p));
            if !server.is_empty() && !next_is("S:") {
                self.c.receive(server.as_bytes(), self.now);
                server.clear();
            }
            if !client.is_empty() && !next_is("C:") {
                assert_eq!(self.drain(), client, "client output before {next:?}");
                client.clear();
            }
            if client.is_empty() && next_is("S:") {
                assert_eq!(self.drain(), "", "unexpected client output before {next:?}");
            }
        }
        assert_eq!(self.drain(), "", "client output after the script");
    }

    fn sent(&self) -> Vec<&SentMessage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::MessageSent(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn failed(&self) -> Vec<&SmtpError> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::MessageFailed { error, .. } => Some(error),
                _ => None,
            })
            .collect()
    }

    fn closed(&self) -> Option<&Option<SmtpError>> {
        self.events.iter().find_map(|e| match e {
            Event::Closed { error } => Some(error),
            _ => None,
        })
    }

    fn send(&mut self, e: Envelope, body: &str) -> MessageId {
        self.c
            .send(e, Box::new(RawMessage::new(body)), self.now)
            .unwrap()
    }
}

const BODY: &str = "Subject: t\r\n\r\nhello\r\n.dot\r\n";

#[test]
fn success_without_extensions() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org", "c@y.org"]), BODY);
    r.c.quit(T0);
    r.script(
        "S: 220 mx.y.org ESMTP
         C: EHLO localhost
         S: 250 mx.y.org
         C: MAIL FROM:<a@x.org>
         S: 250 2.1.0 ok
         C: RCPT TO:<b@y.org>
         S: 250 2.1.5 ok
         C: RCPT TO:<c@y.org>
         S: 251 2.1.5 will forward
         C: DATA
         S: 354 go ahead
         C: Subject: t
         C:
         C: hello
         C: ..dot
         C: .
         S: 250 2.0.0 queued as 1234
         C: QUIT
         S: 221 bye",
    );
    assert!(matches!(&r.events[0], Event::Ready(c) if c.server_name == "mx.y.org"));
    let sent = r.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].recipients.len(), 2);
    assert!(sent[0].recipients.iter().all(RecipientResult::accepted));
    assert_eq!(sent[0].reply.text(), "queued as 1234");
    assert_eq!(r.closed(), Some(&None));
    assert!(r.c.is_closed());
}

const EHLO_PIPE: &str = "S: 220 mx ready
     C: EHLO localhost
     S: 250-mx hello
     S: 250-PIPELINING
     S: 250-8BITMIME
     S: 250 SIZE 1000000";

#[test]
fn pipelined_data_one_round_trip() {
    let mut r = Run::new(cfg());
    r.send(
        env("a@x.org", &["b@y.org", "B@Y.ORG", "b@Y.org", "c@y.org"]),
        "hi\n",
    );
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org> SIZE=4
         C: RCPT TO:<b@y.org>
         C: RCPT TO:<B@Y.ORG>
         C: RCPT TO:<c@y.org>
         C: DATA
         S: 250 ok
         S: 250 ok
         S: 550 5.1.1 no such user
         S: 250 ok
         S: 354 go
         C: hi
         C: .
         S: 250 ok"
    ));
    let sent = r.sent();
    assert_eq!(sent.len(), 1);
    let acc: Vec<bool> = sent[0]
        .recipients
        .iter()
        .map(RecipientResult::accepted)
        .collect();
    assert_eq!(acc, [true, false, true]);
    assert_eq!(
        sent[0].recipients[1]
            .reply
            .enhanced_code()
            .unwrap()
            .to_string(),
        "5.1.1"
    );
    assert!(r.c.is_idle());
}

#[test]
fn chunking_pipelined_bdat_last() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "a\r\n.b\n");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250-PIPELINING
         S: 250-CHUNKING
         S: 250 8BITMIME
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: BDAT 7 LAST
         C: a
         C: .b
         S: 250 ok
         S: 250 ok
         S: 250 2.0.0 message ok",
    );
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn chunking_unknown_size_without_pipelining() {
    let mut r = Run::new(cfg());
    let body = Chunks(vec![b"a\n".to_vec(), b"b\r".to_vec(), b"\nc\n".to_vec()], 0);
    r.c.send(env("a@x.org", &["b@y.org"]), Box::new(body), T0)
        .unwrap();
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 CHUNKING
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: BDAT 3
         C: a
         S: 250 ok
         C: BDAT 3
         C: b
         S: 250 ok
         C: BDAT 3
         C: c
         S: 250 ok
         C: BDAT 0 LAST
         S: 250 done",
    );
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn chunking_disabled_uses_data() {
    let mut r = Run::new(Config {
        chunking: false,
        pipelining: false,
        ..cfg()
    });
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250-PIPELINING
         S: 250 CHUNKING
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: DATA
         S: 354 go
         C: x
         C: .
         S: 250 ok",
    );
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    for refusal in ["500 5.5.1 what?", "502 not implemented", "554 no"] {
        let mut r = Run::new(cfg());
        r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
        r.script(&format!(
            "S: 220 old.example
             C: EHLO localhost
             S: {refusal}
             C: HELO localhost
             S: 250 old.example
             C: MAIL FROM:<a@x.org>
             S: 250 ok
             C: RCPT TO:<b@y.org>"
        ));
        assert_eq!(
            r.c.capabilities().unwrap(),
            &Capabilities {
                server_name: "old.example".into(),
                ..Capabilities::default()
            }
        );
    }
    let mut r = Run::new(cfg());
    r.script(
        "S: 220 x
         C: EHLO localhost
         S: 500 no
         C: HELO localhost
         S: 501 no either",
    );
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::Reply { command, reply })) if command == "HELO localhost" && reply.code() == 501)
    );
}

#[test]
fn greeting_and_ehlo_failures_end_the_session() {
    let mut r = Run::new(cfg());
    let id = r.send(env("a@x.org", &["b@y.org"]), "x");
    // RFC 5321 §3.1: QUIT after a 554 greeting.
    r.script("S: 554 5.3.2 go away\nC: QUIT");
    let Some(Some(e)) = r.closed() else { panic!() };
    assert_eq!(e.code(), Some(554));
    assert_eq!(e.command(), Some("connection greeting"));
    assert!(matches!(&r.events[0], Event::MessageFailed { id: i, .. } if *i == id));
    let mut r = Run::new(cfg());
    r.script("S: 220 x\nC: EHLO localhost\nS: 451 later");
    assert!(matches!(r.closed(), Some(Some(e)) if e.is_retryable()));
}

/// Runs one message in both modes with one failing reply at `step`
/// (0 MAIL, 1 first RCPT, 2 DATA, 3 end of data) and checks the error,
/// the RSET, and that the next message goes through.
fn fail_at(step: usize, code: u16, pipelining: bool) {
    let mut r = Run::new(cfg());
    let first = r.send(env("a@x.org", &["b@y.org"]), "m1\r\n");
    let second = r.send(env("a@x.org", &["b@y.org"]), "m2\r\n");
    let ext = if pipelining {
        "250-mx\r\n250 PIPELINING"
    } else {
        "250 mx"
    };
    r.c.receive(b"220 mx\r\n", T0);
    r.drain();
    r.c.receive(format!("{ext}\r\n").as_bytes(), T0);
    let bad = format!("{code} {}.0.0 nope\r\n", code / 100);
    let ok = ["250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 ok\r\n"];
    let mut out = r.drain();
    let mut replies: Vec<String> = ok.iter().map(|s| s.to_string()).collect();
    replies[step] = bad.clone();
    if step == 2 {
        replies.truncate(3);
    }
    if step < 2 && !pipelining {
        replies.truncate(step + 1);
    }
    if pipelining && step < 2 {
        // The server refuses DATA after a failure.
        replies[2] = "554 5.5.1 no valid recipients\r\n".into();
        replies.truncate(3);
    }
    for reply in &replies {
        r.c.receive(reply.as_bytes(), T0);
        out.push_str(&r.drain());
    }
    assert!(out.ends_with("RSET\r\n"), "{out}");
    assert!(!out.contains("m1") || step == 3, "{out}");
    let f = r.failed();
    assert_eq!(f.len(), 1, "{:?}", r.events);
    let e = f[0];
    if step == 1 {
        assert!(
            matches!(e, SmtpError::AllRecipientsRejected { recipients } if recipients[0].reply.code() == code)
        );
        // The refusal's codes, as for any refused command (found by
        // review: `code()` was None for refused recipients).
        assert_eq!(e.code(), Some(code), "{e}");
        assert_eq!(e.reply().map(|r| r.code()), Some(code));
    } else {
        assert_eq!(e.code(), Some(code), "{e}");
        let cmd = ["MAIL FROM:<a@x.org>", "", "DATA", "end of data"][step];
        assert_eq!(e.command(), Some(cmd));
    }
    assert_eq!(e.is_retryable(), code < 500);
    assert!(matches!(r.events.last(), Some(Event::MessageFailed { id, .. }) if *id == first));
    r.c.receive(b"250 reset\r\n", T0);
    let out = r.drain();
    assert!(out.starts_with("MAIL FROM:<a@x.org>"), "{out}");
    let replies = if pipelining {
        "250 ok\r\n250 ok\r\n354 go\r\n"
    } else {
        "250 ok\r\n"
    };
    r.c.receive(replies.as_bytes(), T0);
    if !pipelining {
        r.drain();
        r.c.receive(b"250 ok\r\n", T0);
        r.drain();
        r.c.receive(b"354 go\r\n", T0);
    }
    assert!(r.drain().contains("m2\r\n.\r\n"));
    r.c.receive(b"250 ok\r\n", T0);
    r.drain();
    assert!(matches!(r.events.last(), Some(Event::MessageSent(s)) if s.id == second));
}

#[test]
fn each_4xx_and_5xx_at_each_transaction_command() {
    for pipelining in [false, true] {
        for step in 0..4 {
            for code in [450, 451, 452, 550, 552, 553, 554] {
                fail_at(step, code, pipelining);
            }
        }
    }
}

#[test]
fn bdat_failure() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 CHUNKING
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: BDAT 3 LAST
         C: x
         S: 552 5.3.4 too big
         C: RSET
         S: 250 ok",
    );
    assert_eq!(r.failed()[0].command(), Some("BDAT 3 LAST"));
    assert_eq!(r.failed()[0].code(), Some(552));
}

#[test]
fn rset_failure_ends_session() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250 mx
         C: MAIL FROM:<a@x.org>
         S: 550 no
         C: RSET
         S: 500 what
         C: QUIT",
    );
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::Reply { command, .. })) if command == "RSET")
    );
}

#[test]
fn service_closing_421_anywhere() {
    // (script up to the command that gets 421, the command's name)
    let prefixes = [
        ("", None),
        ("S: 220 mx\nC: EHLO localhost", Some("EHLO localhost")),
        ("S: 220 mx\nC: EHLO localhost\nS: 500 x\nC: HELO localhost", Some("HELO localhost")),
        ("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<a@x.org>", Some("MAIL FROM:<a@x.org>")),
        (
            "S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<a@x.org>\nS: 250 ok\nC: RCPT TO:<b@y.org>",
            Some("RCPT TO:<b@y.org>"),
        ),
        (
            "S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<a@x.org>\nS: 250 ok\nC: RCPT TO:<b@y.org>\nS: 250 ok\nC: DATA",
            Some("DATA"),
        ),
        (
            "S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<a@x.org>\nS: 250 ok\nC: RCPT TO:<b@y.org>\nS: 250 ok\nC: DATA\nS: 354 go\nC: x\nC: .",
            Some("end of data"),
        ),
        (
            "S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<a@x.org>\nS: 550 no\nC: RSET",
            Some("RSET"),
        ),
    ];
    for (prefix, command) in prefixes {
        let mut r = Run::new(cfg());
        r.send(env("a@x.org", &["b@y.org"]), "x");
        r.send(env("a@x.org", &["b@y.org"]), "y");
        r.script(&format!("{prefix}\nS: 421 4.3.2 shutting down"));
        let Some(Some(SmtpError::ServiceClosing { command: c, reply })) = r.closed() else {
            panic!("{prefix}: {:?}", r.events)
        };
        assert_eq!(c.as_deref(), command);
        assert_eq!(reply.code(), 421);
        let failed = r.failed().len();
        assert_eq!(failed, 2, "{prefix}");
        assert!(r.failed().last().unwrap().is_retryable());
        assert_eq!(
            r.closed().unwrap().as_ref().unwrap().emailjs_code(),
            EmailjsCode::BadResponse
        );
        r.c.receive(b"250 late\r\n", T0);
        assert_eq!(r.drain(), "");
    }
    // Unsolicited 421 while idle, and during AUTH and NOOP.
    let mut r = Run::new(cfg());
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nS: 421 idle timeout");
    assert!(matches!(
        r.closed(),
        Some(Some(SmtpError::ServiceClosing { command: None, .. }))
    ));
    let mut r = Run::new(cfg());
    r.c.noop(T0).unwrap();
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: NOOP\nS: 421 bye");
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::ServiceClosing { command: Some(c), .. })) if c == "NOOP")
    );
    let mut r = Run::new(Config {
        credentials: Some(Credentials::new("u", "p")),
        allow_insecure_auth: true,
        ..cfg()
    });
    r.script(
        "S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 AUTH LOGIN\nC: AUTH LOGIN\nS: 421 bye",
    );
    assert!(matches!(
        r.closed(),
        Some(Some(SmtpError::ServiceClosing { .. }))
    ));
}

fn auth_cfg(mechs: &[Mechanism], user: &str, secret: &str) -> Config {
    Config {
        credentials: Some(Credentials::new(user, secret)),
        authentication: mechs.to_vec(),
        allow_insecure_auth: true,
        ..cfg()
    }
}

fn assert_redacted(r: &mut Run, secrets: &[&str]) {
    let t = r.c.take_transcript();
    let all: String = t
        .iter()
        .map(|l| format!("{:?} {}\n", l.direction, l.text))
        .collect();
    for s in secrets {
        assert!(!all.contains(s), "{s} in transcript:\n{all}");
    }
    assert!(all.contains("<redacted>"), "{all}");
}

#[test]
fn auth_plain_rfc4616() {
    let mut r = Run::new(auth_cfg(
        &Mechanism::DEFAULT_PREFERENCE,
        "tim",
        "tanstaaftanstaaf",
    ));
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH PLAIN
         C: AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm
         S: 235 2.7.0 Authentication successful",
    );
    assert!(matches!(r.events[0], Event::Ready(_)));
    assert_redacted(&mut r, &["AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "tanstaaf"]);
}

#[test]
fn auth_login() {
    let mut r = Run::new(auth_cfg(
        &Mechanism::DEFAULT_PREFERENCE,
        "tim",
        "tanstaaftanstaaf",
    ));
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH PLAIN LOGIN
         C: AUTH LOGIN
         S: 334 VXNlcm5hbWU6
         C: dGlt
         S: 334 UGFzc3dvcmQ6
         C: dGFuc3RhYWZ0YW5zdGFhZg==
         S: 235 ok",
    );
    assert!(matches!(r.events[0], Event::Ready(_)));
    assert_redacted(&mut r, &["dGFuc3RhYWZ0YW5zdGFhZg=="]);
}

#[test]
fn auth_cram_md5_rfc2195() {
    let mut r = Run::new(auth_cfg(
        &Mechanism::DEFAULT_PREFERENCE,
        "tim",
        "tanstaaftanstaaf",
    ));
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2
         C: AUTH CRAM-MD5
         S: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+
         C: dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw
         S: 235 ok",
    );
    assert!(matches!(r.events[0], Event::Ready(_)));
    assert_redacted(
        &mut r,
        &["dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"],
    );
}

#[test]
fn auth_xoauth2_and_error_step() {
    // user=someuser@example.com^Aauth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg^A^A
    let token = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==";
    let c = auth_cfg(
        &[Mechanism::XOAuth2],
        "someuser@example.com",
        "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
    );
    let mut r = Run::new(c.clone());
    r.script(&format!(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH XOAUTH2 PLAIN
         C: AUTH XOAUTH2 {token}
         S: 235 2.7.0 Accepted"
    ));
    assert!(matches!(r.events[0], Event::Ready(_)));
    let mut r = Run::new(c);
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(&format!(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH XOAUTH2 PLAIN
         C: AUTH XOAUTH2 {token}
         S: 334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K
         C:
         S: 535 5.7.8 Username and Password not accepted
         C: QUIT"
    ));
    let Some(Some(SmtpError::AuthFailed {
        mechanism,
        reply,
        detail,
    })) = r.closed()
    else {
        panic!("{:?}", r.events)
    };
    assert_eq!(*mechanism, Mechanism::XOAuth2);
    assert_eq!(reply.code(), 535);
    assert!(detail.as_deref().unwrap().contains("\"status\":\"401\""));
    assert_eq!(r.failed().len(), 1);
    assert_eq!(
        r.closed().unwrap().as_ref().unwrap().emailjs_code(),
        EmailjsCode::AuthFailed
    );
}

#[test]
fn auth_preference_unsupported_and_insecure() {
    let mut r = Run::new(auth_cfg(&[Mechanism::Plain, Mechanism::Login], "u", "p"));
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 AUTH LOGIN PLAIN\nC: AUTH PLAIN AHUAcA==\nS: 235 ok");
    let mut r = Run::new(auth_cfg(&[Mechanism::CramMd5], "u", "p"));
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 AUTH LOGIN PLAIN\nC: QUIT");
    let Some(Some(e)) = r.closed() else { panic!() };
    assert_eq!(
        e,
        &SmtpError::AuthUnsupported {
            offered: vec!["LOGIN".into(), "PLAIN".into()]
        }
    );
    assert_eq!(e.emailjs_code(), EmailjsCode::AuthNotSupported);
    let mut r = Run::new(Config {
        allow_insecure_auth: false,
        ..auth_cfg(&[Mechanism::Plain], "u", "p")
    });
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 AUTH PLAIN\nC: QUIT");
    assert!(matches!(r.closed(), Some(Some(SmtpError::TlsRequired(_)))));
    // Implicit TLS: credentials may go.
    let mut r = Run {
        c: Client::new(
            Config {
                allow_insecure_auth: false,
                ..auth_cfg(&[Mechanism::Plain], "u", "p")
            },
            true,
            T0,
        )
        .unwrap(),
        events: vec![],
        now: T0,
    };
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 AUTH PLAIN\nC: AUTH PLAIN AHUAcA==\nS: 535 5.7.8 bad\nC: QUIT");
    assert!(matches!(
        r.closed(),
        Some(Some(SmtpError::AuthFailed { .. }))
    ));
}

#[test]
fn starttls_required_then_auth() {
    let mut r = Run::new(Config {
        tls: TlsPolicy::Required,
        allow_insecure_auth: false,
        ..auth_cfg(&[Mechanism::Plain], "u", "p")
    });
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250-PIPELINING
         S: 250 STARTTLS
         C: STARTTLS
         S: 220 2.0.0 go ahead",
    );
    assert_eq!(r.events, [Event::StartTls]);
    assert!(!r.c.is_encrypted());
    r.script(
        "!tls
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH PLAIN
         C: AUTH PLAIN AHUAcA==
         S: 235 ok",
    );
    assert!(r.c.is_encrypted());
    // Old capabilities are forgotten: no PIPELINING now.
    assert!(matches!(&r.events[1], Event::Ready(c) if !c.pipelining && !c.starttls));
}

#[test]
fn starttls_policies() {
    let tls = |p| Config { tls: p, ..cfg() };
    let mut r = Run::new(tls(TlsPolicy::Required));
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: QUIT");
    assert!(matches!(r.closed(), Some(Some(SmtpError::TlsRequired(_)))));
    assert_eq!(
        r.closed().unwrap().as_ref().unwrap().emailjs_code(),
        EmailjsCode::ConnectionAuth
    );
    let mut r = Run::new(tls(TlsPolicy::Required));
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\nS: 454 4.7.0 not now\nC: QUIT");
    assert!(matches!(r.closed(), Some(Some(SmtpError::TlsRequired(_)))));
    let mut r = Run::new(tls(TlsPolicy::Opportunistic));
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\nS: 454 4.7.0 not now");
    assert!(matches!(r.events[0], Event::Ready(_)));
    let mut r = Run::new(tls(TlsPolicy::Opportunistic));
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx");
    assert!(matches!(r.events[0], Event::Ready(_)));
    let mut r = Run::new(tls(TlsPolicy::Never));
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 STARTTLS");
    assert!(matches!(r.events[0], Event::Ready(_)));
}

#[test]
fn starttls_response_injection() {
    let mut r = Run::new(Config {
        tls: TlsPolicy::Required,
        ..cfg()
    });
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go\nS: 250-injected");
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::Protocol(m))) if m.contains("injection")),
        "{:?}",
        r.events
    );
    assert!(!r.events.contains(&Event::StartTls));
    // Even a partial line after the 220 counts.
    let mut r = Run::new(Config {
        tls: TlsPolicy::Required,
        ..cfg()
    });
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS");
    r.c.receive(b"220 go\r\n2", T0);
    r.drain();
    assert!(matches!(r.closed(), Some(Some(SmtpError::Protocol(_)))));
    // Plaintext arriving after the 220, before TLS.
    let mut r = Run::new(Config {
        tls: TlsPolicy::Required,
        ..cfg()
    });
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go");
    assert_eq!(r.events, [Event::StartTls]);
    r.c.receive(b"250 late\r\n", T0);
    r.drain();
    assert!(matches!(r.closed(), Some(Some(SmtpError::Protocol(_)))));
}

#[test]
fn eight_bit_body_needs_8bitmime() {
    let mut r = Run::new(cfg());
    r.c.send(
        env("a@x.org", &["b@y.org"]),
        Box::new(RawMessage::new("Subject: x\r\n\r\ncaf\u{e9}\r\n")),
        T0,
    )
    .unwrap();
    r.send(env("a@x.org", &["b@y.org"]), "ascii");
    // Nothing of the 8-bit message is sent; the next one goes through.
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 PIPELINING
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: DATA
         S: 250 ok
         S: 250 ok
         S: 354 go
         C: ascii
         C: .
         S: 250 queued",
    );
    assert_eq!(r.failed(), [&SmtpError::EightBitMimeRequired]);
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn auth_is_cancelled_with_a_star_after_a_334_it_cannot_answer() {
    // A CRAM-MD5 challenge that is not base64.
    let mut r = Run::new(auth_cfg(&[Mechanism::CramMd5], "tim", "secret"));
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH CRAM-MD5
         C: AUTH CRAM-MD5
         S: 334 !!not-base64!!
         C: *
         S: 501 5.7.0 cancelled
         C: QUIT",
    );
    assert!(matches!(r.closed(), Some(Some(SmtpError::Protocol(_)))));
    // LOGIN answered with a third challenge.
    let mut r = Run::new(auth_cfg(&[Mechanism::Login], "tim", "secret"));
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 AUTH LOGIN
         C: AUTH LOGIN
         S: 334 VXNlcm5hbWU6
         C: dGlt
         S: 334 UGFzc3dvcmQ6
         C: c2VjcmV0
         S: 334 again
         C: *
         S: 501 cancelled
         C: QUIT",
    );
    assert!(matches!(r.closed(), Some(Some(SmtpError::Protocol(_)))));
}

#[test]
fn smtputf8_and_8bitmime() {
    let utf8 = Envelope {
        from: Some(EnvelopeAddress::new("jörg@x.org", None)),
        to: vec![EnvelopeAddress::new(
            "b@bücher.de",
            Some("b@xn--bcher-kva.de".into()),
        )],
    };
    let idn = Envelope {
        from: Some(addr("a@x.org")),
        to: vec![EnvelopeAddress::new(
            "b@bücher.de",
            Some("b@xn--bcher-kva.de".into()),
        )],
    };
    // Without SMTPUTF8: typed error before MAIL, IDN sent as A-labels.
    let mut r = Run::new(cfg());
    r.c.send(utf8.clone(), Box::new(RawMessage::new("x\r\n")), T0)
        .unwrap();
    r.c.send(idn.clone(), Box::new(RawMessage::new("x\r\n")), T0)
        .unwrap();
    r.c.send(
        env("a@x.org", &["b@y.org"]),
        Box::new(RawMessage::new("x").with_smtputf8(true)),
        T0,
    )
    .unwrap();
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 8BITMIME\nC: MAIL FROM:<a@x.org>\nS: 250 ok\nC: RCPT TO:<b@xn--bcher-kva.de>");
    assert_eq!(r.failed(), [&SmtpError::SmtpUtf8Required]);
    // With SMTPUTF8: U-labels and the parameter; 8-bit body gets BODY=8BITMIME.
    let mut r = Run::new(cfg());
    r.c.send(utf8, Box::new(RawMessage::new("Subject: é\r\n")), T0)
        .unwrap();
    r.c.send(idn, Box::new(RawMessage::new("x\r\n")), T0)
        .unwrap();
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250-SMTPUTF8
         S: 250-SIZE
         S: 250 8BITMIME
         C: MAIL FROM:<jörg@x.org> SIZE=13 BODY=8BITMIME SMTPUTF8
         S: 250 ok
         C: RCPT TO:<b@bücher.de>
         S: 250 ok
         C: DATA
         S: 354 go
         C: Subject: é
         C: .
         S: 250 ok
         C: MAIL FROM:<a@x.org> SIZE=3
         S: 250 ok
         C: RCPT TO:<b@xn--bcher-kva.de>",
    );
}

#[test]
fn idn_recipients_are_deduplicated_by_their_a_labels() {
    // Two spellings of one IDN mailbox (same A-label form) and two of a
    // mailbox with a non-ASCII local part (no ASCII form: its domain's ASCII
    // letters are compared without case): one RCPT each, in an SMTPUTF8
    // transaction where the Unicode forms are sent.
    let idn = |utf8: &str| EnvelopeAddress::new(utf8, Some("b@xn--bcher-kva.de".into()));
    let envelope = Envelope {
        from: Some(addr("a@x.org")),
        to: vec![
            idn("b@BÜCHER.de"),
            idn("b@bücher.de"),
            EnvelopeAddress::new("jörg@Y.org", None),
            EnvelopeAddress::new("jörg@y.ORG", None),
            EnvelopeAddress::new("Jörg@y.org", None),
        ],
    };
    let mut r = Run::new(cfg());
    r.c.send(envelope, Box::new(RawMessage::new("x\r\n")), T0)
        .unwrap();
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250-PIPELINING
         S: 250 SMTPUTF8
         C: MAIL FROM:<a@x.org> SMTPUTF8
         C: RCPT TO:<b@BÜCHER.de>
         C: RCPT TO:<jörg@Y.org>
         C: RCPT TO:<Jörg@y.org>
         C: DATA
         S: 250 ok
         S: 250 ok
         S: 250 ok
         S: 250 ok
         S: 354 go
         C: x
         C: .
         S: 250 ok",
    );
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn require_all_recipients() {
    let mut r = Run::new(Config {
        require_all_recipients: true,
        ..cfg()
    });
    r.send(env("a@x.org", &["b@y.org", "c@y.org"]), "x\r\n");
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org> SIZE=3
         C: RCPT TO:<b@y.org>
         C: RCPT TO:<c@y.org>
         S: 250 ok
         S: 250 ok
         S: 450 4.2.0 greylisted
         C: RSET
         S: 250 ok"
    ));
    let f = r.failed();
    assert!(matches!(f[0], SmtpError::RecipientsRejected { recipients } if recipients.len() == 2));
    assert!(f[0].is_retryable());
    // Nothing was sent and every refusal was a 450: greylisting, tried again.
    assert!(f[0].is_greylisting());
    let mut r = Run::new(Config {
        require_all_recipients: true,
        ..cfg()
    });
    r.send(env("a@x.org", &["b@y.org", "c@y.org"]), "x\r\n");
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org> SIZE=3
         C: RCPT TO:<b@y.org>
         C: RCPT TO:<c@y.org>
         S: 250 ok
         S: 250 ok
         S: 250 ok
         C: DATA
         S: 354 go
         C: x
         C: .
         S: 250 ok"
    ));
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn pipelined_354_after_all_rejected_sends_empty_end() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "secret body\r\n");
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org> SIZE=13
         C: RCPT TO:<b@y.org>
         C: DATA
         S: 250 ok
         S: 550 no
         S: 354 go anyway
         C: .
         S: 554 no recipients
         C: RSET
         S: 250 ok"
    ));
    assert!(matches!(
        r.failed()[0],
        SmtpError::AllRecipientsRejected { .. }
    ));
}

#[test]
fn noop_quit_and_closed() {
    let mut r = Run::new(cfg());
    r.c.noop(T0).unwrap();
    r.c.quit(T0);
    r.script(
        "S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: NOOP\nS: 250 2.0.0 ok\nC: QUIT\nS: 221 bye",
    );
    assert!(matches!(&r.events[1], Event::Noop(rep) if rep.code() == 250));
    assert_eq!(r.closed(), Some(&None));
    assert_eq!(
        r.c.send(
            env("a@x.org", &["b@y.org"]),
            Box::new(RawMessage::new("x")),
            T0
        ),
        Err(SmtpError::NotConnected)
    );
    // The server hangs up after QUIT without replying: still a clean close.
    let mut r = Run::new(cfg());
    r.c.quit(T0);
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: QUIT");
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.closed(), Some(&None));
    // ... but not before.
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script("S: 220 mx\nC: EHLO localhost");
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.closed(), Some(&Some(SmtpError::Closed)));
    assert_eq!(r.failed(), [&SmtpError::Closed]);
    assert_eq!(
        SmtpError::Closed.emailjs_code(),
        EmailjsCode::ConnectionClosed
    );
}

#[test]
fn deadlines() {
    let mut r = Run::new(cfg());
    assert_eq!(r.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
    r.c.handle_timeout(T0 + Duration::from_secs(299));
    assert!(!r.c.is_closed());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<a@x.org>\nS: 250 ok\nC: RCPT TO:<b@y.org>");
    let t1 = T0 + Duration::from_secs(10);
    r.c.receive(b"250 ok\r\n", t1);
    assert_eq!(r.drain(), "DATA\r\n");
    assert_eq!(r.c.poll_timeout(), Some(t1 + Duration::from_secs(120)));
    r.c.receive(b"354 go\r\n", t1);
    assert_eq!(r.drain(), "x\r\n.\r\n");
    assert_eq!(r.c.poll_timeout(), Some(t1 + Duration::from_secs(600)));
    r.c.handle_timeout(t1 + Duration::from_secs(600));
    r.drain();
    let Some(Some(e)) = r.closed() else { panic!() };
    assert_eq!(
        e,
        &SmtpError::Timeout {
            waiting_for: "end of data".into()
        }
    );
    assert_eq!(r.failed().len(), 1);
    assert_eq!(e.emailjs_code(), EmailjsCode::TimedOut);
    assert_eq!(r.c.poll_timeout(), None);
    // One overall timeout.
    let r = Run::new(Config {
        timeout: Some(Duration::from_secs(7)),
        ..cfg()
    });
    assert_eq!(r.c.poll_timeout(), Some(T0 + Duration::from_secs(7)));
    // Waiting for the TLS handshake has a deadline too.
    let mut r = Run::new(Config {
        tls: TlsPolicy::Required,
        ..cfg()
    });
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go");
    assert_eq!(r.c.poll_timeout(), Some(T0 + Duration::from_secs(300)));
    // Idle: no deadline.
    let mut r = Run::new(cfg());
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx");
    assert_eq!(r.c.poll_timeout(), None);
}

#[test]
fn bounded_replies_and_protocol_errors() {
    let mut r = Run::new(Config {
        max_reply_line: 100,
        ..cfg()
    });
    r.c.receive(&[b'x'; 5000], T0);
    r.drain();
    assert_eq!(
        r.closed(),
        Some(&Some(SmtpError::ReplyTooLong { limit: 100 }))
    );
    let mut r = Run::new(cfg());
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nS: 250 unexpected");
    assert!(matches!(r.closed(), Some(Some(SmtpError::Protocol(_)))));
    let mut r = Run::new(cfg());
    r.script("S: 220 mx\nS: garbage\nC: EHLO localhost");
    assert!(matches!(r.closed(), Some(Some(SmtpError::Protocol(_)))));
}

#[test]
fn input_validation() {
    assert!(matches!(
        Client::new(
            Config {
                hello_name: "a b".into(),
                ..cfg()
            },
            false,
            T0
        ),
        Err(SmtpError::InvalidHelloName(_))
    ));
    assert!(Client::new(
        Config {
            hello_name: "a\r\nRSET".into(),
            ..cfg()
        },
        false,
        T0
    )
    .is_err());
    let mut r = Run::new(cfg());
    for bad in [
        "a b@x",
        "a@x>",
        "<a@x",
        "a@x\r\nRCPT TO:<e@vil>",
        "",
        "a\0@x",
        "\"a b\"@x y",
        "\"a\"b c\"@x",
        "\"a\r\nb\"@x",
        "\"a>\"@x",
        "\"a\\\"@x",
    ] {
        let e = Envelope {
            from: Some(addr("a@x.org")),
            to: vec![addr(bad)],
        };
        assert!(
            matches!(
                r.c.send(e, Box::new(RawMessage::new("x")), T0),
                Err(SmtpError::InvalidEnvelopeAddress { field, .. }) if field == "to[0]"
            ),
            "{bad:?}"
        );
        let e = Envelope {
            from: Some(addr(bad)),
            to: vec![addr("a@x.org")],
        };
        assert!(r.c.send(e, Box::new(RawMessage::new("x")), T0).is_err());
    }
    // A space inside a quoted local part is part of the address (RFC 5321).
    let e = Envelope {
        from: Some(addr("\"john doe\"@x.org")),
        to: vec![addr("\"a \\\" b\"@x.org")],
    };
    assert!(Run::new(cfg())
        .c
        .send(e, Box::new(RawMessage::new("x")), T0)
        .is_ok());
    let e = Envelope {
        from: None,
        to: vec![],
    };
    assert_eq!(
        r.c.send(e, Box::new(RawMessage::new("x")), T0),
        Err(SmtpError::NoRecipients)
    );
    // The null reverse path.
    r.c.send(
        Envelope {
            from: None,
            to: vec![addr("b@y.org")],
        },
        Box::new(RawMessage::new("x")),
        T0,
    )
    .unwrap();
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<>");
}

#[test]
fn size_limits_and_mismatch() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), &"x".repeat(200));
    r.send(env("a@x.org", &["b@y.org"]), "ok");
    r.script(
        "S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 SIZE 100\nC: MAIL FROM:<a@x.org> SIZE=2",
    );
    assert_eq!(
        r.failed(),
        [&SmtpError::MessageTooLarge {
            size: 200,
            limit: 100
        }]
    );
    // A body that produces more than it declared: nothing past the size.
    let mut r = Run::new(cfg());
    r.c.send(
        env("a@x.org", &["b@y.org"]),
        Box::new(Liar(5, false, false)),
        T0,
    )
    .unwrap();
    r.script(
        "S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250-CHUNKING\nS: 250 PIPELINING
         C: MAIL FROM:<a@x.org>\nC: RCPT TO:<b@y.org>\nC: BDAT 5 LAST",
    );
    assert!(matches!(
        r.closed(),
        Some(Some(SmtpError::SizeMismatch { declared: 5, .. }))
    ));
    // Less than declared.
    let mut r = Run::new(cfg());
    r.c.send(
        env("a@x.org", &["b@y.org"]),
        Box::new(Liar(50, false, false)),
        T0,
    )
    .unwrap();
    r.script(
        "S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250-CHUNKING\nS: 250 PIPELINING
         C: MAIL FROM:<a@x.org>\nC: RCPT TO:<b@y.org>\nC: BDAT 50 LAST\nC: 0123456789",
    );
    assert!(matches!(
        r.closed(),
        Some(Some(SmtpError::SizeMismatch {
            declared: 50,
            actual: 12
        }))
    ));
    // A body error mid-stream ends the session without a terminator.
    let mut r = Run::new(cfg());
    r.c.send(
        env("a@x.org", &["b@y.org"]),
        Box::new(Liar(5, false, true)),
        T0,
    )
    .unwrap();
    r.script(&format!("{EHLO_PIPE}\nC: MAIL FROM:<a@x.org> SIZE=5\nC: RCPT TO:<b@y.org>\nC: DATA\nS: 250 ok\nS: 250 ok\nS: 354 go"));
    assert!(matches!(r.closed(), Some(Some(SmtpError::Body(m))) if m == "renderer broke"));
}

#[test]
fn transcript_records_both_sides() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    r.script(&format!("{EHLO_PIPE}\nC: MAIL FROM:<a@x.org> SIZE=3\nC: RCPT TO:<b@y.org>\nC: DATA\nS: 250 ok\nS: 250 ok\nS: 354 go\nC: x\nC: .\nS: 250 ok"));
    let t: Vec<String> =
        r.c.take_transcript()
            .into_iter()
            .map(|l| {
                format!(
                    "{}{}",
                    if l.direction == Direction::Client {
                        "C: "
                    } else {
                        "S: "
                    },
                    l.text
                )
            })
            .collect();
    assert_eq!(
        t,
        [
            "S: 220 mx ready",
            "C: EHLO localhost",
            "S: 250-mx hello",
            "S: 250-PIPELINING",
            "S: 250-8BITMIME",
            "S: 250 SIZE 1000000",
            "C: MAIL FROM:<a@x.org> SIZE=3",
            "C: RCPT TO:<b@y.org>",
            "C: DATA",
            "S: 250 ok",
            "S: 250 ok",
            "S: 354 go",
            "C: <6 octets of message content>",
            "S: 250 ok",
        ]
    );
    assert!(r.c.take_transcript().is_empty());
}

#[test]
fn dry_run_modes() {
    let e = env("a@x.org", &["b@y.org", "c@y.org"]);
    let caps = Capabilities {
        pipelining: true,
        chunking: true,
        eight_bit_mime: true,
        ..Capabilities::default()
    };
    let cmds = transaction(&e, RawMessage::new("é\n"), &caps).unwrap();
    let lines: Vec<String> = cmds.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "MAIL FROM:<a@x.org> BODY=8BITMIME",
            "RCPT TO:<b@y.org>",
            "RCPT TO:<c@y.org>",
            "BDAT 4 LAST",
            "<4 octets of message content>"
        ]
    );
    let wire: Vec<u8> = cmds.iter().flat_map(Command::to_wire).collect();
    assert_eq!(wire, "MAIL FROM:<a@x.org> BODY=8BITMIME\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\nBDAT 4 LAST\r\né\r\n".as_bytes());
    let caps = Capabilities::default();
    let cmds = transaction(&e, Chunks(vec![b".a".to_vec(), b"\n.".to_vec()], 0), &caps).unwrap();
    assert_eq!(
        cmds.last(),
        Some(&Command::Content(b"..a\r\n..\r\n.\r\n".to_vec()))
    );
    let chunking = Capabilities {
        chunking: true,
        ..caps.clone()
    };
    // By default small pieces go together, with LAST.
    let cmds = transaction(
        &e,
        Chunks(vec![b".a".to_vec(), b"\n.".to_vec()], 0),
        &chunking,
    )
    .unwrap();
    let lines: Vec<String> = cmds.iter().map(ToString::to_string).collect();
    assert_eq!(
        &lines[3..],
        ["BDAT 5 LAST", "<5 octets of message content>"]
    );
    let cmds = transaction_with(
        &cfg(),
        &e,
        Chunks(vec![b".a".to_vec(), b"\n.".to_vec()], 0),
        &chunking,
    )
    .unwrap();
    let lines: Vec<String> = cmds.iter().map(ToString::to_string).collect();
    assert_eq!(
        &lines[3..],
        [
            "BDAT 2",
            "<2 octets of message content>",
            "BDAT 3",
            "<3 octets of message content>",
            "BDAT 0 LAST"
        ]
    );
    let utf8 = Envelope {
        from: Some(EnvelopeAddress::new("ö@x", None)),
        to: vec![addr("b@y")],
    };
    assert_eq!(
        transaction(&utf8, RawMessage::new(""), &caps),
        Err(SmtpError::SmtpUtf8Required)
    );
}

#[test]
fn emailjs_codes() {
    use EmailjsCode::*;
    let r = Reply::new(550, vec!["no".into()]);
    let cases = [
        (
            SmtpError::Reply {
                command: "X".into(),
                reply: r.clone(),
            },
            BadResponse,
            2,
        ),
        (SmtpError::Protocol("x".into()), BadResponse, 2),
        (
            SmtpError::AuthFailed {
                mechanism: Mechanism::Plain,
                reply: r,
                detail: None,
            },
            AuthFailed,
            3,
        ),
        (
            SmtpError::Timeout {
                waiting_for: "x".into(),
            },
            TimedOut,
            4,
        ),
        (SmtpError::Body("x".into()), Error, 5),
        (SmtpError::NotConnected, NoConnection, 6),
        (
            SmtpError::AuthUnsupported { offered: vec![] },
            AuthNotSupported,
            7,
        ),
        (SmtpError::Closed, ConnectionClosed, 8),
        (SmtpError::TlsRequired("x".into()), ConnectionAuth, 10),
    ];
    for (e, code, n) in cases {
        assert_eq!(e.emailjs_code(), code);
        assert_eq!(e.emailjs_code() as u8, n);
        assert!(!e.to_string().is_empty());
    }
}

// ----- RFC 1047: was the end of the data handed over? -----

#[test]
fn close_before_end_of_data_is_a_certain_failure() {
    // Closed while waiting for the 354: nothing of the message went out.
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250 mx
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: DATA",
    );
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.failed(), [&SmtpError::Closed]);
    assert_eq!(r.c.outcome_unknown(), None);
    // The 354 arrived, but the body was never handed over (not polled).
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250 mx
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: DATA",
    );
    r.c.receive(b"354 go\r\n", T0);
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.failed(), [&SmtpError::Closed]);
    assert_eq!(r.c.outcome_unknown(), None);
    // Chunked BDAT: chunks went out, but not the BDAT 0 LAST.
    let mut r = Run::new(cfg());
    let body = Chunks(vec![b"a\n".to_vec(), b"b\n".to_vec()], 0);
    r.c.send(env("a@x.org", &["b@y.org"]), Box::new(body), T0)
        .unwrap();
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 CHUNKING
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: BDAT 3
         C: a",
    );
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.failed(), [&SmtpError::Closed]);
    assert_eq!(r.c.outcome_unknown(), None);
}

#[test]
fn close_after_end_of_data_leaves_the_outcome_unknown() {
    // DATA: the final "." was handed over, then the link died.
    let mut r = Run::new(cfg());
    let id = r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250 mx
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: DATA
         S: 354 go
         C: x
         C: .",
    );
    assert_eq!(r.c.outcome_unknown(), None, "still waiting, not failed");
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.failed(), [&SmtpError::Closed]);
    assert_eq!(r.c.outcome_unknown(), Some(id));
    // A timeout waiting for the final reply is just as unknown.
    let mut r = Run::new(cfg());
    let id = r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250 mx
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: DATA
         S: 354 go
         C: x
         C: .",
    );
    r.c.handle_timeout(T0 + Duration::from_secs(600));
    r.drain();
    assert!(matches!(r.failed()[..], [SmtpError::Timeout { .. }]));
    assert_eq!(r.c.outcome_unknown(), Some(id));
    // BDAT … LAST with its octets.
    let mut r = Run::new(cfg());
    let id = r.send(env("a@x.org", &["b@y.org"]), "a\r\n");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250-PIPELINING
         S: 250 CHUNKING
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: BDAT 3 LAST
         C: a
         S: 250 ok
         S: 250 ok",
    );
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.failed(), [&SmtpError::Closed]);
    assert_eq!(r.c.outcome_unknown(), Some(id));
    // Chunked BDAT: the BDAT 0 LAST went out.
    let mut r = Run::new(cfg());
    let body = Chunks(vec![b"a\n".to_vec()], 0);
    let id =
        r.c.send(env("a@x.org", &["b@y.org"]), Box::new(body), T0)
            .unwrap();
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 CHUNKING
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: BDAT 3
         C: a
         S: 250 ok
         C: BDAT 0 LAST",
    );
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.c.outcome_unknown(), Some(id));
}

#[test]
fn answered_messages_are_never_unknown() {
    // Accepted, then the link dies: the message is known to be sent, and a
    // rejected message is known not to be.
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.send(env("a@x.org", &["b@y.org"]), "y");
    r.script(
        "S: 220 mx
         C: EHLO localhost
         S: 250 mx
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: DATA
         S: 354 go
         C: x
         C: .
         S: 250 queued
         C: MAIL FROM:<a@x.org>
         S: 250 ok
         C: RCPT TO:<b@y.org>
         S: 250 ok
         C: DATA
         S: 354 go
         C: y
         C: .
         S: 554 no
         C: RSET",
    );
    r.c.connection_closed(T0);
    r.drain();
    assert_eq!(r.sent().len(), 1);
    assert_eq!(r.failed().len(), 1);
    assert_eq!(r.c.outcome_unknown(), None);
}

/// The low-level command API.
mod faults;
mod manual;

/// Writes and waits per transaction for each capability set.
mod flights;

/// Bodies that wait for data (`MessageBody::poll_chunk` → pending).
mod pending;

/// A body with a declared size, given in fixed chunks.
struct Declared(u64, Vec<&'static [u8]>, usize);

impl MessageBody for Declared {
    fn requires_smtputf8(&self) -> bool {
        false
    }
    fn start(&mut self, _: crate::envelope::RenderOptions) -> Result<Option<u64>, BodyError> {
        self.2 = 0;
        Ok(Some(self.0))
    }
    fn is_8bit(&self) -> bool {
        false
    }
    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        self.2 += 1;
        Ok(self.1.get(self.2 - 1).copied())
    }
}

/// Found by the `engine` fuzz target: a body longer than it declared,
/// whose first chunks filled the announced size exactly, was cut there,
/// and the server got a complete `BDAT 5 LAST` — a truncated message it
/// would deliver — while the message was reported failed. The last
/// octets now go out only once the body has ended; a body declared empty
/// is checked before its `BDAT 0 LAST`.
#[test]
fn a_body_longer_than_declared_is_never_cut_at_the_declared_size() {
    let head = "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n";
    for (declared, chunks, sent) in [
        (5, vec![&b"01234"[..], b"56789\r\n"], "BDAT 5 LAST\r\n"),
        // Octets before the last ones may go out: the chunk stays short.
        (5, vec![&b"012"[..], b"34", b"", b"5"], "BDAT 5 LAST\r\n012"),
        (0, vec![&b""[..], b"x"], ""),
    ] {
        let mut r = Run::new(cfg());
        r.c.send(
            env("a@x.org", &["b@y.org"]),
            Box::new(Declared(declared, chunks, 0)),
            T0,
        )
        .unwrap();
        r.c.receive(b"220 mx\r\n", T0);
        assert_eq!(r.drain(), "EHLO localhost\r\n");
        r.c.receive(b"250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n", T0);
        assert_eq!(r.drain(), format!("{head}{sent}"));
        assert!(
            matches!(r.closed(), Some(Some(SmtpError::SizeMismatch { declared: d, .. })) if *d == declared),
            "{:?}",
            r.events
        );
        assert_eq!(r.c.outcome_unknown(), None);
    }
    // A body of exactly its size, split anywhere, still goes out whole.
    for chunks in [vec![&b"012"[..], b"34"], vec![b"01234", b""], vec![]] {
        let declared = chunks.iter().map(|c| c.len() as u64).sum();
        let mut r = Run::new(cfg());
        r.c.send(
            env("a@x.org", &["b@y.org"]),
            Box::new(Declared(declared, chunks, 0)),
            T0,
        )
        .unwrap();
        r.c.receive(b"220 mx\r\n", T0);
        assert_eq!(r.drain(), "EHLO localhost\r\n");
        r.c.receive(b"250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n", T0);
        let body = if declared == 0 { "" } else { "01234" };
        assert_eq!(r.drain(), format!("{head}BDAT {declared} LAST\r\n{body}"));
        r.c.receive(b"250 ok\r\n250 ok\r\n250 ok\r\n", T0);
        r.drain();
        assert_eq!(r.sent().len(), 1, "{:?}", r.events);
    }
}

/// Found by the `engine` fuzz target: paths that are no RFC 5321 path
/// (an unbalanced quote, a second `@` in an unquoted local part, specials)
/// were written as they were; `a@evil.example@good.example` is read by
/// some servers as a route to another domain.
#[test]
fn envelope_paths_are_rfc5321_paths() {
    let sends = |a: &str| {
        let mut r = Run::new(cfg());
        let e = Envelope {
            from: Some(addr("a@x.org")),
            to: vec![addr(a)],
        };
        let queued = r.c.send(e, Box::new(RawMessage::new("x")), T0);
        match queued {
            Ok(_) => true,
            Err(SmtpError::InvalidEnvelopeAddress { field, address }) => {
                assert_eq!((field.as_str(), address.as_str()), ("to[0]", a));
                false
            }
            Err(e) => panic!("{a:?}: {e:?}"),
        }
    };
    for bad in [
        "a@evil.example@good.example",
        "\"unterminated@x.example",
        "a\"b@x.example",
        "a(b)@x.example",
        "a,b@x.example",
        "a:b@x.example",
        "a;b@x.example",
        "a\\b@x.example",
        "a[b]@x.example",
        "a@x\"y.example",
        "a@x,y.example",
        "a@x(y).example",
        "a@[192.0.2.1",
        "a@[192.0.2.1]]",
        "a@[]",
        "a@[1.2.3.4>]",
        "a@[>NOTIFY=NEVER]",
        "a@[x<y]",
        "a@[tag:>NOTIFY=NEVER]",
        "a@[192.0.2.300]",
        "a@[tag:]",
        "a@",
        "@x.example",
        "post master",
        "post\"master",
    ] {
        assert!(!sends(bad), "{bad:?} was accepted");
    }
    // The ASCII form, sent to a server without SMTPUTF8, must be ASCII.
    let mut r = Run::new(cfg());
    let e = Envelope {
        from: Some(addr("a@x.org")),
        to: vec![EnvelopeAddress::new(
            "j\u{f6}rg@m\u{fc}ller.example",
            Some("j\u{f6}rg@m\u{fc}ller.example".into()),
        )],
    };
    assert!(matches!(
        r.c.send(e, Box::new(RawMessage::new("x")), T0),
        Err(SmtpError::InvalidEnvelopeAddress { .. })
    ));
    for good in [
        "postmaster",
        "user+tag@x.example",
        "a.b@sub.x.example",
        "a..b.@docomo.example",
        "\"a@b\"@x.example",
        "\"john doe\"@x.example",
        "a@[192.0.2.1]",
        "a@[IPv6:2001:db8::1]",
        "a@[x-tag:some.content]",
        "j\u{f6}rg@m\u{fc}ller.example",
        "o'brien@x_y.example",
    ] {
        assert!(sends(good), "{good:?} was refused");
    }
}
