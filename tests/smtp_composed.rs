//! End to end: the whole corpus composed, sent through the SMTP engine to
//! real servers (Python `aiosmtpd` and npm `smtp-server`) over one
//! connection each, and what the servers received read back by `mail-parser`
//! and compared field by field with what was composed; the envelopes must
//! carry To, Cc and Bcc.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::corpus::corpus;
use common::servers::{aiosmtpd, captured, drive, smtp_server, Server};
use common::*;
use mimeograph::mime::MessageStream;
use mimeograph::smtp::{Config, Event, TlsPolicy};

fn send_corpus(server: &Server) {
    let specs = corpus();
    let mut expectations = Vec::new();
    let mut messages = Vec::new();
    for spec in &specs {
        let message = spec.build();
        let envelope = message.envelope().clone();
        let rcpts: Vec<String> = envelope.to.iter().map(|a| a.utf8().to_owned()).collect();
        // Both servers offer 8BITMIME, so text may travel as 8bit.
        expectations.push((spec.name, spec.expectation_with(&message, true), rcpts));
        let stream: MessageStream = message.into_stream();
        messages.push((envelope, stream));
    }
    let config = Config {
        hello_name: "client.test".into(),
        tls: TlsPolicy::Never,
        ..Config::default()
    };
    let events = drive(server.port, config, messages);
    let sent = events
        .iter()
        .filter(|e| matches!(e, Event::MessageSent(_)))
        .count();
    assert_eq!(sent, specs.len(), "{events:?}");
    assert_eq!(events.last(), Some(&Event::Closed { error: None }));

    let received = captured(&server.out);
    assert_eq!(received.len(), specs.len());
    let mut failures = Vec::new();
    for ((name, expect, rcpts), got) in expectations.iter().zip(&received) {
        for p in mail_parser_problems(&got.data, expect) {
            failures.push(format!("{name}: {p}"));
        }
        let want: Vec<String> = rcpts.iter().map(|a| idna_ascii(a)).collect();
        let have: Vec<String> = got.rcpt_tos.iter().map(|a| idna_ascii(a)).collect();
        if want != have {
            failures.push(format!("{name}: recipients {want:?} != {have:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Compares addresses whatever form of the domain the server reports.
fn idna_ascii(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => format!(
            "{local}@{}",
            idna::domain_to_ascii(domain).unwrap_or_default()
        ),
        None => address.to_owned(),
    }
}

#[test]
fn corpus_through_aiosmtpd_with_smtputf8_and_pipelining() {
    send_corpus(&aiosmtpd(&["--smtputf8", "--pipelining"]));
}

#[test]
fn corpus_through_smtp_server() {
    send_corpus(&smtp_server(serde_json::json!({})));
}
