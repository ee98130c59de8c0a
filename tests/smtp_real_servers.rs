//! The engine against real SMTP servers we did not write: Python
//! `aiosmtpd` and npm `smtp-server`, over a small std TCP driver that lives
//! here (the native transport will replace it). Each test starts its
//! server on a free loopback port (scripts in `tests/servers/`), sends
//! messages, and compares what the server captured with what was sent.
//!
//! Needs `python3` with `aiosmtpd`, and `node` with `smtp-server`
//! installed under `tests/node/node_modules`. Missing tools fail the tests
//! with a message saying what to install.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::servers::*;
use mimeograph::envelope::{Envelope, EnvelopeAddress};
use mimeograph::smtp::{Config, Credentials, Event, Mechanism, RawMessage, SmtpError, TlsPolicy};

fn addr(a: &str) -> EnvelopeAddress {
    EnvelopeAddress::new(a, Some(a.to_string()))
}

fn env(to: &[&str]) -> Envelope {
    Envelope {
        from: Some(addr("alice@example.org")),
        to: to.iter().map(|a| addr(a)).collect(),
    }
}

/// A message with the DATA hazards: dot lines, a lone dot, bare LF and CR,
/// and 8-bit text.
fn message(n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: test {n}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         .leading dot\r\n.\r\nbare lf\nbare cr\rcaf\u{e9}\r\n..two dots\r\n"
    )
    .into_bytes();
    for i in 0..3000 {
        m.extend_from_slice(
            format!("line {i} of a long body to cross chunk boundaries\r\n").as_bytes(),
        );
    }
    m
}

fn config() -> Config {
    Config {
        hello_name: "client.test".into(),
        tls: TlsPolicy::Never,
        ..Config::default()
    }
}

fn auth_config(mech: Mechanism, user: &str, pass: &str) -> Config {
    Config {
        credentials: Some(Credentials::new(user, pass)),
        authentication: vec![mech],
        allow_insecure_auth: true,
        ..config()
    }
}

fn sent_count(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::MessageSent(_)))
        .count()
}

/// Sends two messages (one with a rejected recipient) and checks the
/// captured bytes and envelopes; returns the captured records.
fn round_trip(server: &Server, config: Config) -> Vec<Captured> {
    round_trip_of(server, config, message)
}

/// `message` without its 8-bit octets, for servers without 8BITMIME.
fn message_7bit(n: usize) -> Vec<u8> {
    String::from_utf8(message(n))
        .unwrap()
        .replace('\u{e9}', "e")
        .into_bytes()
}

fn round_trip_of(server: &Server, config: Config, message: fn(usize) -> Vec<u8>) -> Vec<Captured> {
    let m0 = message(0);
    let m1 = message(1);
    let events = drive(
        server.port,
        config,
        vec![
            (
                env(&["bob@example.net", "reject@example.net"]),
                RawMessage::new(m0.clone()).with_chunk_size(1000),
            ),
            (env(&["carol@example.net"]), RawMessage::new(m1.clone())),
        ],
    );
    assert_eq!(sent_count(&events), 2, "{events:?}");
    assert_eq!(
        events.last(),
        Some(&Event::Closed { error: None }),
        "{events:?}"
    );
    let Some(Event::MessageSent(first)) =
        events.iter().find(|e| matches!(e, Event::MessageSent(_)))
    else {
        unreachable!()
    };
    let acc: Vec<bool> = first.recipients.iter().map(|r| r.accepted()).collect();
    assert_eq!(acc, [true, false]);
    assert_eq!(first.recipients[1].reply.code(), 550);
    let got = captured(&server.out);
    assert_eq!(got.len(), 2, "{got:?}");
    for (g, m) in got.iter().zip([&m0, &m1]) {
        assert_eq!(g.mail_from, "alice@example.org");
        assert_eq!(
            g.data,
            // The composer's CRLF normaliser, apart from the engine's encoder.
            mimeograph::encoding::text::normalize_crlf(m).into_owned(),
            "captured bytes differ from the message sent"
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(&g.data)
            .unwrap();
        assert!(parsed.subject().unwrap().starts_with("test "));
        assert!(parsed
            .body_text(0)
            .unwrap()
            .contains(".leading dot\r\n.\r\nbare lf\r\nbare cr\r\ncaf"));
    }
    assert_eq!(got[0].rcpt_tos, ["bob@example.net"]);
    assert_eq!(got[1].rcpt_tos, ["carol@example.net"]);
    got
}

#[test]
fn aiosmtpd_plain_and_pipelined() {
    let s = aiosmtpd(&[]);
    let got = round_trip(&s, config());
    assert!(
        got[0].mail_options.iter().any(|o| o == "BODY=8BITMIME"),
        "{:?}",
        got[0].mail_options
    );
    let s = aiosmtpd(&["--pipelining"]);
    round_trip(&s, config());
    let s = aiosmtpd(&["--pipelining"]);
    round_trip(
        &s,
        Config {
            pipelining: false,
            ..config()
        },
    );
}

#[test]
fn aiosmtpd_greylisting_and_all_rejected() {
    let s = aiosmtpd(&["--pipelining"]);
    let events = drive(
        s.port,
        config(),
        vec![
            (env(&["later@example.net"]), RawMessage::new(message(0))),
            (env(&["reject@example.net"]), RawMessage::new(message(1))),
            (env(&["bob@example.net"]), RawMessage::new(message(2))),
        ],
    );
    let errors: Vec<&SmtpError> = events
        .iter()
        .filter_map(|e| match e {
            Event::MessageFailed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{events:?}");
    assert!(
        matches!(errors[0], SmtpError::AllRecipientsRejected { .. }) && errors[0].is_retryable()
    );
    assert!(
        matches!(errors[1], SmtpError::AllRecipientsRejected { .. }) && !errors[1].is_retryable()
    );
    assert_eq!(sent_count(&events), 1);
    assert_eq!(captured(&s.out).len(), 1);
}

#[test]
fn aiosmtpd_smtputf8() {
    let utf8 = Envelope {
        from: Some(EnvelopeAddress::new("jörg@example.org", None)),
        to: vec![EnvelopeAddress::new(
            "bob@bücher.example",
            Some("bob@xn--bcher-kva.example".into()),
        )],
    };
    let idn = Envelope {
        from: Some(addr("alice@example.org")),
        to: vec![EnvelopeAddress::new(
            "bob@bücher.example",
            Some("bob@xn--bcher-kva.example".into()),
        )],
    };
    let m = "From: jörg@example.org\r\nSubject: utf8\r\n\r\nhi\r\n"
        .as_bytes()
        .to_vec();
    let s = aiosmtpd(&["--smtputf8"]);
    let events = drive(
        s.port,
        config(),
        vec![
            (utf8.clone(), RawMessage::new(m.clone())),
            (idn.clone(), RawMessage::new(m.clone())),
        ],
    );
    assert_eq!(sent_count(&events), 2, "{events:?}");
    let got = captured(&s.out);
    assert_eq!(got[0].mail_from, "jörg@example.org");
    assert_eq!(got[0].rcpt_tos, ["bob@bücher.example"]);
    assert!(
        got[0].mail_options.iter().any(|o| o == "SMTPUTF8"),
        "{:?}",
        got[0].mail_options
    );
    assert_eq!(got[0].data, m);
    assert_eq!(got[1].rcpt_tos, ["bob@xn--bcher-kva.example"]);
    // Without SMTPUTF8 on the server: a typed error, nothing sent.
    let s = aiosmtpd(&[]);
    let events = drive(
        s.port,
        config(),
        vec![
            (utf8, RawMessage::new(m.clone())),
            (idn, RawMessage::new(m)),
        ],
    );
    assert!(events.contains(&Event::MessageFailed {
        id: mimeograph::smtp::MessageId(0),
        error: SmtpError::SmtpUtf8Required
    }));
    assert_eq!(sent_count(&events), 1);
}

#[test]
fn aiosmtpd_auth_plain_and_login() {
    for mech in [Mechanism::Plain, Mechanism::Login] {
        let s = aiosmtpd(&["--auth", "alice:s3cret pass"]);
        round_trip(&s, auth_config(mech, "alice", "s3cret pass"));
        let s = aiosmtpd(&["--auth", "alice:s3cret pass"]);
        let events = drive(
            s.port,
            auth_config(mech, "alice", "wrong"),
            vec![(env(&["b@x.org"]), RawMessage::new("x\r\n"))],
        );
        assert!(
            matches!(events.last(), Some(Event::Closed { error: Some(SmtpError::AuthFailed { reply, .. }) }) if reply.code() == 535),
            "{mech:?}: {events:?}"
        );
        assert!(captured(&s.out).is_empty());
    }
}

#[test]
fn smtp_server_extensions_on_and_off() {
    for options in [
        serde_json::json!({}),
        serde_json::json!({"hidePIPELINING": true}),
        serde_json::json!({"hide8BITMIME": true, "hideSMTPUTF8": true}),
        serde_json::json!({"hidePIPELINING": true, "hide8BITMIME": true, "hideENHANCEDSTATUSCODES": true}),
        serde_json::json!({"size": 10_000_000}),
    ] {
        let s = smtp_server(options.clone());
        let no_8bitmime = options.get("hide8BITMIME").is_some();
        if no_8bitmime {
            // An 8-bit message is refused before anything is sent (RFC 6152).
            let events = drive(
                s.port,
                config(),
                vec![(env(&["bob@example.net"]), RawMessage::new(message(0)))],
            );
            assert!(
                events.iter().any(|e| matches!(
                    e,
                    Event::MessageFailed {
                        error: SmtpError::EightBitMimeRequired,
                        ..
                    }
                )),
                "{events:?}"
            );
            assert!(captured(&s.out).is_empty());
        }
        let make = if no_8bitmime { message_7bit } else { message };
        let got = round_trip_of(&s, config(), make);
        let has_8bit = got[0].mail_options.iter().any(|o| o == "BODY=8BITMIME");
        assert_eq!(
            has_8bit,
            options.get("hide8BITMIME").is_none(),
            "{options}: {:?}",
            got[0].mail_options
        );
    }
    // SIZE limit enforced before MAIL.
    let s = smtp_server(serde_json::json!({"size": 1000}));
    let events = drive(
        s.port,
        config(),
        vec![(env(&["bob@example.net"]), RawMessage::new(message(0)))],
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::MessageFailed {
            error: SmtpError::MessageTooLarge { limit: 1000, .. },
            ..
        }
    )));
}

#[test]
fn smtp_server_auth_mechanisms() {
    for mech in [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::XOAuth2,
    ] {
        let options = serde_json::json!({
            "authMethods": [mech.name()],
            "user": "alice",
            "pass": "s3cret",
        });
        let s = smtp_server(options.clone());
        round_trip(&s, auth_config(mech, "alice", "s3cret"));
        let s = smtp_server(options);
        let events = drive(
            s.port,
            auth_config(mech, "alice", "wrong"),
            vec![(env(&["b@x.org"]), RawMessage::new("x\r\n"))],
        );
        assert!(
            matches!(
                events.last(),
                Some(Event::Closed {
                    error: Some(SmtpError::AuthFailed { .. })
                })
            ),
            "{mech:?}: {events:?}"
        );
        assert!(captured(&s.out).is_empty());
    }
    // Default preference picks CRAM-MD5 among what is offered.
    let s = smtp_server(
        serde_json::json!({"authMethods": ["PLAIN", "LOGIN", "CRAM-MD5"], "user": "u", "pass": "p"}),
    );
    let c = Config {
        credentials: Some(Credentials::new("u", "p")),
        allow_insecure_auth: true,
        transcript: true,
        ..config()
    };
    let events = drive(
        s.port,
        c,
        vec![(env(&["b@x.org"]), RawMessage::new("x\r\n"))],
    );
    assert_eq!(sent_count(&events), 1, "{events:?}");
}
