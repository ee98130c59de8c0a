//! The native transport (`mimeograph::native::SmtpClient`) against a real
//! Python `aiosmtpd` server started by each test (`tests/servers/
//! aiosmtpd_server.py`): plain, STARTTLS and implicit TLS with a
//! certificate made here with rcgen and trusted through
//! `Options::add_root_certificate`, AUTH checked by the server, untrusted
//! certificates, many messages over one connection, greylisting, dropped
//! connections, 421 and a server that stops answering.
//!
//! Needs `python3` with `aiosmtpd` (`pip install -r tests/requirements.txt`).
#![cfg(all(not(target_arch = "wasm32"), feature = "native"))]

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use mimeograph::native::{NativeError, Options, SmtpClient};
use mimeograph::smtp::{Mechanism, SmtpError, TlsPolicy};

mod native_support;
use native_support::*;

// ----- tests -----

#[test]
fn plain_send_with_transcript() {
    let s = server(&[]);
    let (o, log) = options(s.port);
    let mut c = SmtpClient::new(o);
    assert!(!c.is_connected());
    let m = message(1, "Bob <bob@example.net>");
    let id = m.message_id().to_string();
    let sent = c.send(m).unwrap();
    assert_eq!(sent.message_id, id);
    assert_eq!(sent.attempts, 1);
    assert_eq!(sent.reply.code(), 250);
    assert!(sent.recipients.iter().all(|r| r.accepted()));
    assert!(c.is_connected());
    assert!(!c.is_encrypted());
    c.close().unwrap();
    assert!(!c.is_connected());
    let got = captured(&s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id(), id);
    assert_eq!(got[0].rcpt_tos, vec!["bob@example.net"]);
    assert!(!got[0].tls);
    let text = String::from_utf8_lossy(&got[0].data);
    assert!(text.contains("\r\n.\r\nA dot line above."), "{text}");
    let log = log.lock().unwrap();
    assert!(log.iter().any(|l| l == "C: EHLO client.test"), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("S: 220 ")), "{log:?}");
    assert!(log.iter().any(|l| l == "C: QUIT"), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("S: 221")), "{log:?}");
}

#[test]
fn starttls_required_with_auth_plain_and_login() {
    let pki = Pki::new("starttls");
    let s = server(&[
        "--starttls",
        &pki.cert(),
        &pki.key(),
        "--auth",
        "ann:s3cret pass",
    ]);
    for mech in [Mechanism::Plain, Mechanism::Login] {
        let (mut o, log) = options(s.port);
        o.tls = TlsPolicy::Required;
        o.user = Some("ann".into());
        o.password = Some("s3cret pass".into());
        o.authentication = vec![mech];
        o.add_root_certificate(pki.ca_pem.as_bytes()).unwrap();
        let mut c = SmtpClient::new(o);
        let caps = c.connect().unwrap();
        assert!(c.is_encrypted());
        assert!(caps.offers_auth(mech), "{caps:?}");
        c.send(message(1, "bob@example.net")).unwrap();
        c.close().unwrap();
        let log = log.lock().unwrap().join("\n");
        assert!(log.contains("C: STARTTLS"), "{log}");
        assert!(log.contains(&format!("C: AUTH {}", mech.name())), "{log}");
        assert!(!log.contains("s3cret"), "password leaked: {log}");
        let b64 = base64::engine::general_purpose::STANDARD;
        for leak in [b64.encode("\0ann\0s3cret pass"), b64.encode("s3cret pass")] {
            assert!(!log.contains(&leak), "password leaked: {log}");
        }
    }
    let got = captured(&s);
    assert_eq!(got.len(), 2);
    for g in &got {
        assert!(g.tls);
        assert_eq!(g.auth.as_deref(), Some("ann"));
        assert_eq!(g.sni.as_deref(), Some("localhost"), "SNI not sent");
    }
}

#[test]
fn implicit_tls_with_der_root() {
    let pki = Pki::new("implicit");
    let s = server(&["--implicit", &pki.cert(), &pki.key(), "--auth", "ann:pw"]);
    let (mut o, _log) = options(s.port);
    o.ssl = true;
    o.user = Some("ann".into());
    o.password = Some("pw".into());
    // DER this time (PEM is covered above).
    let der = rustls_pemfile_free_der(&pki.ca_pem);
    o.add_root_certificate(&der).unwrap();
    let mut c = SmtpClient::new(o);
    let sent = c.send(message(1, "bob@example.net")).unwrap();
    assert!(c.is_encrypted());
    assert_eq!(sent.reply.code(), 250);
    c.close().unwrap();
    let got = captured(&s);
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert_eq!(got[0].auth.as_deref(), Some("ann"));
    assert_eq!(got[0].sni.as_deref(), Some("localhost"));
}

/// PEM → DER without another crate: base64 between the armour lines.
fn rustls_pemfile_free_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn wrong_password_is_auth_failed() {
    let pki = Pki::new("badpass");
    let s = server(&["--starttls", &pki.cert(), &pki.key(), "--auth", "ann:right"]);
    let (mut o, _log) = options(s.port);
    o.user = Some("ann".into());
    o.password = Some("wrong".into());
    o.add_root_certificate(pki.ca_pem.as_bytes()).unwrap();
    let mut c = SmtpClient::new(o);
    let e = c.send(message(1, "bob@example.net")).unwrap_err();
    assert!(
        matches!(e, NativeError::Smtp(SmtpError::AuthFailed { .. })),
        "{e:?}"
    );
    assert_eq!(e.code(), Some(535));
    assert!(captured(&s).is_empty());
}

#[test]
fn untrusted_certificate_fails_by_default() {
    let pki = Pki::new("untrusted");
    let other = Pki::new("other-ca");
    let starttls = server(&["--starttls", &pki.cert(), &pki.key()]);
    let implicit = server(&["--implicit", &pki.cert(), &pki.key()]);
    for (s, ssl) in [(&starttls, false), (&implicit, true)] {
        // Not trusted at all (only the webpki roots).
        let (mut o, _) = options(s.port);
        o.ssl = ssl;
        let e = SmtpClient::new(o.clone())
            .send(message(1, "bob@example.net"))
            .unwrap_err();
        assert!(matches!(e, NativeError::Tls(_)), "{e:?}");
        assert!(e.to_string().contains("certificate"), "{e}");
        // Trusting another CA does not help.
        let mut o2 = o.clone();
        o2.add_root_certificate(other.ca_pem.as_bytes()).unwrap();
        let e = SmtpClient::new(o2)
            .send(message(2, "bob@example.net"))
            .unwrap_err();
        assert!(matches!(e, NativeError::Tls(_)), "{e:?}");
        // The right CA, but the wrong name: 127.0.0.1 is not in the cert.
        let mut o3 = o.clone();
        o3.host = "127.0.0.1".into();
        o3.add_root_certificate(pki.ca_pem.as_bytes()).unwrap();
        let e = SmtpClient::new(o3)
            .send(message(3, "bob@example.net"))
            .unwrap_err();
        assert!(matches!(e, NativeError::Tls(_)), "{e:?}");
        // The loudly named opt-out accepts it.
        let mut o4 = o.clone();
        o4.host = "127.0.0.1".into();
        o4.danger_accept_invalid_certs = true;
        SmtpClient::new(o4)
            .send(message(4, "bob@example.net"))
            .unwrap();
    }
    assert_eq!(captured(&starttls).len(), 1);
    assert_eq!(captured(&implicit).len(), 1);
}

#[test]
fn starttls_required_but_not_offered() {
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.tls = TlsPolicy::Required;
    let e = SmtpClient::new(o)
        .send(message(1, "bob@example.net"))
        .unwrap_err();
    assert!(
        matches!(e, NativeError::Smtp(SmtpError::TlsRequired(_))),
        "{e:?}"
    );
    assert!(captured(&s).is_empty());
}

#[test]
fn hundred_messages_over_one_connection() {
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.logger = None;
    let mut c = SmtpClient::new(o);
    let mut ids = Vec::new();
    for n in 0..100 {
        let m = message(n, &format!("user{n}@example.net"));
        ids.push(m.message_id().to_string());
        let sent = c.send(m).unwrap();
        assert_eq!(sent.attempts, 1);
    }
    c.close().unwrap();
    let got = captured(&s);
    exactly_once(&ids, &got);
    let ports: HashSet<u64> = got.iter().map(|g| g.peer_port).collect();
    assert_eq!(ports.len(), 1, "more than one connection was used");
}

#[test]
fn greylisting_is_retried_once() {
    let s = server(&["--greylist"]);
    let (o, log) = options(s.port);
    let mut o_short = o.clone();
    o_short.greylist_retry = Some(Duration::from_millis(20));
    let mut c = SmtpClient::new(o_short);
    let m = message(1, "grey1@example.net");
    let id = m.message_id().to_string();
    let sent = c.send(m).unwrap();
    assert_eq!(sent.attempts, 2);
    assert!(log.lock().unwrap().iter().any(|l| l.starts_with("S: 450")));
    // Retry disabled: the 450 is the caller's.
    let mut o_off = o.clone();
    o_off.greylist_retry = None;
    let mut c2 = SmtpClient::new(o_off);
    let e = c2.send(message(2, "grey2@example.net")).unwrap_err();
    assert_eq!(
        e.code().or_else(|| match &e {
            NativeError::Smtp(SmtpError::AllRecipientsRejected { recipients }) => {
                Some(recipients[0].reply.code())
            }
            _ => None,
        }),
        Some(450),
        "{e:?}"
    );
    assert!(e.smtp().is_some_and(SmtpError::is_retryable));
    // A permanent failure is not retried: the connection stays usable.
    c2.close().unwrap();
    let got = captured(&s);
    exactly_once(&[id], &got);
}

/// `require_all_recipients`: one refused recipient among accepted ones
/// fails the message and nothing is delivered (with PIPELINING too: the data
/// waits for the RCPT replies); a greylisted one among accepted ones makes
/// the whole message greylisted, tried again, and delivered to both. Off
/// (the default), the message goes to the accepted recipients.
#[test]
fn require_all_recipients_sends_to_everyone_or_no_one() {
    let two = |n: usize, to: &str| {
        mimeograph::mime::Message::builder()
            .from("zoe@example.com")
            .to("bob@example.net")
            .to(to)
            .subject(format!("Test {n}"))
            .text("hi\n")
            .build()
            .unwrap()
    };
    for flags in [&["--greylist"][..], &["--greylist", "--pipelining"][..]] {
        let s = server(flags);
        let (mut o, _) = options(s.port);
        o.require_all_recipients = true;
        o.greylist_retry = Some(Duration::from_millis(20));
        let mut c = SmtpClient::new(o.clone());
        let e = c.send(two(1, "reject@example.net")).unwrap_err();
        assert!(
            matches!(&e, NativeError::Smtp(SmtpError::RecipientsRejected { recipients })
                if recipients.len() == 2 && recipients[1].reply.code() == 550),
            "{flags:?}: {e:?}"
        );
        assert!(!e.smtp().is_some_and(SmtpError::is_greylisting));
        let grey = two(2, "grey-both@example.net");
        let grey_id = grey.message_id().to_string();
        let sent = c.send(grey).unwrap();
        assert_eq!(sent.attempts, 2, "{flags:?}");
        assert!(sent.recipients.iter().all(|r| r.accepted()));
        // The default: the accepted recipient gets it, the result says who did not.
        o.require_all_recipients = false;
        let mut c2 = SmtpClient::new(o);
        let partial = two(3, "reject@example.net");
        let partial_id = partial.message_id().to_string();
        let sent = c2.send(partial).unwrap();
        let accepted: Vec<bool> = sent.recipients.iter().map(|r| r.accepted()).collect();
        assert_eq!(accepted, [true, false]);
        c.close().unwrap();
        c2.close().unwrap();
        let got = captured(&s);
        assert_eq!(got.len(), 2, "{flags:?}: {got:?}");
        exactly_once(&[grey_id, partial_id], &got);
        assert_eq!(
            got[0].rcpt_tos,
            ["bob@example.net", "grey-both@example.net"]
        );
        assert_eq!(got[1].rcpt_tos, ["bob@example.net"]);
    }
}

#[test]
fn a_greylisted_message_with_a_reader_attachment_reports_the_450() {
    // A reader can be taken once: the retry cannot write the message again,
    // so the caller gets the greylisting reply, not the retry's
    // SourceConsumed (found by review).
    let s = server(&["--greylist"]);
    let (mut o, _) = options(s.port);
    o.greylist_retry = Some(Duration::from_millis(20));
    let mut c = SmtpClient::new(o);
    let m = mimeograph::mime::Message::builder()
        .from("zoe@example.com")
        .to("grey9@example.net")
        .subject("reader")
        .text("attached")
        .attach(
            mimeograph::mime::Attachment::reader(std::io::Cursor::new(vec![7u8; 1000]))
                .filename("r.bin"),
        )
        .build()
        .unwrap();
    let e = c.send(m).unwrap_err();
    let code = e.code().or_else(|| match &e {
        NativeError::Smtp(SmtpError::AllRecipientsRejected { recipients }) => {
            Some(recipients[0].reply.code())
        }
        _ => None,
    });
    assert_eq!(code, Some(450), "{e:?}");
    c.close().unwrap();
}

#[test]
fn dropped_connection_is_retried_once_without_duplicates() {
    // The 3rd MAIL command the server sees aborts the connection.
    let s = server(&["--drop-at", "3"]);
    let (mut o, _) = options(s.port);
    o.logger = None;
    let mut c = SmtpClient::new(o);
    let mut ids = Vec::new();
    for n in 0..6 {
        let m = message(n, "bob@example.net");
        ids.push(m.message_id().to_string());
        let sent = c.send(m).unwrap();
        assert_eq!(sent.attempts, if n == 2 { 2 } else { 1 }, "message {n}");
    }
    c.close().unwrap();
    let got = captured(&s);
    exactly_once(&ids, &got);
    let ports: HashSet<u64> = got.iter().map(|g| g.peer_port).collect();
    assert_eq!(ports.len(), 2, "expected exactly one reconnection");
}

#[test]
fn reconnect_retry_can_be_disabled() {
    let s = server(&["--drop-at", "1"]);
    let (mut o, _) = options(s.port);
    o.reconnect_retry = false;
    let mut c = SmtpClient::new(o);
    let e = c.send(message(1, "bob@example.net")).unwrap_err();
    assert!(matches!(e, NativeError::Smtp(SmtpError::Closed)), "{e:?}");
    // The next send reconnects.
    c.send(message(2, "bob@example.net")).unwrap();
    assert_eq!(captured(&s).len(), 1);
}

#[test]
fn service_closing_421_is_typed_and_the_client_recovers() {
    let s = server(&["--421-at", "2"]);
    let (mut o, _) = options(s.port);
    // With reconnect retries on, a 421 to the MAIL of a reused connection
    // is retried on a new one (see below).
    o.reconnect_retry = false;
    let mut c = SmtpClient::new(o.clone());
    c.send(message(1, "bob@example.net")).unwrap();
    let e = c.send(message(2, "bob@example.net")).unwrap_err();
    assert!(
        matches!(e, NativeError::Smtp(SmtpError::ServiceClosing { .. })),
        "{e:?}"
    );
    assert_eq!(e.code(), Some(421));
    assert!(!c.is_connected());
    c.send(message(3, "bob@example.net")).unwrap();
    c.close().unwrap();
    assert_eq!(captured(&s).len(), 2);

    // Retries on: nothing of the message was accepted, so it goes out on a
    // new connection (the race with an idle timeout, issue 6).
    let s = server(&["--421-at", "2"]);
    o.port = Some(s.port);
    o.reconnect_retry = true;
    let mut c = SmtpClient::new(o);
    c.send(message(1, "bob@example.net")).unwrap();
    assert_eq!(c.send(message(2, "bob@example.net")).unwrap().attempts, 2);
    c.close().unwrap();
    assert_eq!(captured(&s).len(), 2);
}

#[test]
fn drop_before_end_of_data_is_retried_after_is_outcome_unknown() {
    // Before: the 2nd MAIL aborts the connection; the message is sent again
    // on a new connection and arrives once.
    let s = server(&["--drop-at", "2"]);
    let (o, _) = options(s.port);
    let mut c = SmtpClient::new(o.clone());
    let first = message(1, "bob@example.net");
    let second = message(2, "bob@example.net");
    let ids = vec![
        first.message_id().to_string(),
        second.message_id().to_string(),
    ];
    assert_eq!(c.send(first).unwrap().attempts, 1);
    assert_eq!(c.send(second).unwrap().attempts, 2);
    c.close().unwrap();
    exactly_once(&ids, &captured(&s));
    // After: the server takes the 2nd message's data, then the connection
    // dies before the reply. Retrying could deliver it twice: the caller
    // gets OutcomeUnknown, and the message arrived exactly once.
    let s = server(&["--drop-after-data", "2"]);
    let mut o = o.clone();
    o.port = Some(s.port);
    let mut c = SmtpClient::new(o);
    let first = message(3, "bob@example.net");
    let second = message(4, "bob@example.net");
    let third = message(5, "bob@example.net");
    let ids = vec![
        first.message_id().to_string(),
        second.message_id().to_string(),
        third.message_id().to_string(),
    ];
    c.send(first).unwrap();
    let e = c.send(second).unwrap_err();
    match &e {
        NativeError::OutcomeUnknown { message_id, source } => {
            assert_eq!(message_id, &ids[1]);
            assert!(
                matches!(**source, NativeError::Smtp(SmtpError::Closed)),
                "{source:?}"
            );
        }
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
    assert!(e.is_outcome_unknown());
    assert!(!c.is_connected());
    // The client recovers for the next message.
    assert_eq!(c.send(third).unwrap().attempts, 1);
    c.close().unwrap();
    exactly_once(&ids, &captured(&s));
}

#[test]
fn server_that_stops_answering_times_out() {
    let s = server(&["--hang-data"]);
    let (mut o, _) = options(s.port);
    o.timeout = Duration::from_millis(400);
    let mut c = SmtpClient::new(o);
    let e = c.send(message(1, "bob@example.net")).unwrap_err();
    // The data went out and no verdict came: the outcome is unknown.
    assert!(
        matches!(&e, NativeError::OutcomeUnknown { source, .. }
            if matches!(**source, NativeError::Smtp(SmtpError::Timeout { .. }))),
        "{e:?}"
    );
    assert!(e.is_timeout());
    assert!(!c.is_connected());
}

#[test]
fn connection_refused_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut o = Options::new("127.0.0.1");
    o.port = Some(port);
    o.timeout = Duration::from_secs(5);
    let e = SmtpClient::new(o)
        .send(message(1, "bob@example.net"))
        .unwrap_err();
    assert!(
        matches!(&e, NativeError::Connect { port: p, .. } if *p == port),
        "{e:?}"
    );
}

#[test]
fn url_form_reaches_the_server() {
    let s = server(&["--auth", "ann:p@ss:word"]);
    let mut o =
        Options::from_url(&format!("smtp://ann:p%40ss%3Aword@127.0.0.1:{}", s.port)).unwrap();
    o.allow_insecure_auth = true;
    o.domain = Some("client.test".into());
    let mut c = SmtpClient::new(o);
    c.send(message(1, "bob@example.net")).unwrap();
    c.close().unwrap();
    let got = captured(&s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].auth.as_deref(), Some("ann"));
}

#[test]
fn idle_connection_closed_by_the_server_with_421_is_replaced() {
    // The server says 421 and closes after 0.3 s without a command.
    let s = server(&["--idle", "0.3"]);
    let (mut o, _) = options(s.port);
    o.reconnect_retry = false;
    let mut c = SmtpClient::new(o);
    let first = message(1, "bob@example.net");
    let second = message(2, "bob@example.net");
    let ids = vec![
        first.message_id().to_string(),
        second.message_id().to_string(),
    ];
    c.send(first).unwrap();
    // Give the server time to hit its idle timeout (no timing is asserted).
    std::thread::sleep(Duration::from_millis(900));
    let sent = c.send(second).unwrap();
    assert_eq!(
        sent.attempts, 1,
        "the stale connection should not cost a retry"
    );
    c.close().unwrap();
    let got = captured(&s);
    exactly_once(&ids, &got);
    let ports: HashSet<u64> = got.iter().map(|g| g.peer_port).collect();
    assert_eq!(ports.len(), 2);
}

#[test]
fn xoauth2_token() {
    let s = server(&["--auth", "ann:pw", "--xoauth2", "ann@example.com:ya29.tok"]);
    let (mut o, log) = options(s.port);
    o.allow_insecure_auth = true;
    o.user = Some("ann@example.com".into());
    o.xoauth2 = Some("ya29.tok".into());
    let mut c = SmtpClient::new(o.clone());
    c.send(message(1, "bob@example.net")).unwrap();
    c.close().unwrap();
    let log = log.lock().unwrap().join("\n");
    assert!(log.contains("C: AUTH XOAUTH2"), "{log}");
    assert!(!log.contains("ya29"), "token leaked: {log}");
    let got = captured(&s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].auth.as_deref(), Some("ann@example.com"));
    // A wrong token is refused.
    o.xoauth2 = Some("expired".into());
    let e = SmtpClient::new(o)
        .send(message(2, "bob@example.net"))
        .unwrap_err();
    assert!(
        matches!(e, NativeError::Smtp(SmtpError::AuthFailed { .. })),
        "{e:?}"
    );
}

#[test]
fn server_killed_and_restarted_mid_run() {
    let first = server(&[]);
    let port = first.port;
    let (mut o, _) = options(port);
    o.logger = None;
    let mut c = SmtpClient::new(o);
    let mut ids = Vec::new();
    for n in 0..5 {
        let m = message(n, "bob@example.net");
        ids.push(m.message_id().to_string());
        c.send(m).unwrap();
    }
    let before = captured(&first);
    drop(first); // kills the server
    let second = server(&["--port", &port.to_string()]);
    for n in 5..10 {
        let m = message(n, "bob@example.net");
        ids.push(m.message_id().to_string());
        c.send(m).unwrap();
    }
    c.close().unwrap();
    let mut all = before;
    all.extend(captured(&second));
    exactly_once(&ids, &all);
}

#[test]
fn a_tls_handshake_dripped_octet_by_octet_still_times_out() {
    // A scripted server: after the ClientHello it starts a 16 KiB TLS record
    // and sends one octet of it every 100 ms, each well within the socket
    // timeout. rustls reads until the record is whole, so only a deadline
    // over all those reads bounds the handshake (found by review).
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut sock, _)) = listener.accept() else {
            return;
        };
        let mut hello = [0u8; 4096];
        let _ = sock.read(&mut hello);
        if sock.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]).is_err() {
            return;
        }
        while sock.write_all(&[0x02]).is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut o = Options::new("127.0.0.1");
    o.port = Some(port);
    o.ssl = true;
    o.timeout = Duration::from_millis(800);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let r = SmtpClient::new(o).connect().map(|_| ());
        let _ = tx.send((r, started.elapsed()));
    });
    let (r, took) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the handshake was not bounded by the timeout");
    let e = r.unwrap_err();
    assert!(
        matches!(&e, NativeError::Tls(m) if m.contains("timed out")),
        "{e:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

// ----- stream attachments that stall or trickle -----

/// Runs `f` on a thread of its own and waits at most 30 s for it: a send
/// that hangs fails the test instead of hanging it.
fn within_30s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{what} did not return within 30 s: {e}"))
}

#[cfg(unix)]
#[test]
fn a_stalled_reader_attachment_times_out_and_the_next_send_works() {
    let s = server(&[]);
    let (mut o, log) = options(s.port);
    o.timeout = Duration::from_secs(1);
    let (m, other_end) = stalled_message("bob@example.net");
    let stalled_id = m.message_id().to_string();
    let (result, mut c) = within_30s("a send with a stalled reader", move || {
        let mut c = SmtpClient::new(o);
        (c.send(m), c)
    });
    let e = result.unwrap_err();
    assert!(
        matches!(&e, NativeError::Smtp(SmtpError::BodyTimeout { command }) if command == "DATA"),
        "{e:?}"
    );
    // After DATA the session ended without the end of data: nothing was
    // delivered, and the next message goes over a new connection.
    assert!(!c.is_connected());
    let next = message(2, "bob@example.net");
    let next_id = next.message_id().to_string();
    let (sent, c) = within_30s("the send after the stall", move || (c.send(next), c));
    assert_eq!(sent.unwrap().attempts, 1);
    drop(c);
    let got = captured(&s);
    exactly_once(&[next_id], &got);
    assert!(got.iter().all(|g| g.message_id() != stalled_id));
    let log = log.lock().unwrap().join("\n");
    assert!(log.contains("stalled"), "{log}");
    // The reader's thread, still blocked in `read`, ends now.
    drop(other_end);
}

#[test]
fn a_reader_trickling_slower_than_the_timeout_per_window_is_sent_intact() {
    // Each pause (800 ms) is shorter than the timeout (2.5 s), the whole
    // stream (4 pauses) is longer, and the first three pieces fill less
    // than one window of the writer: bytes read keep the message alive.
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.timeout = Duration::from_millis(2500);
    let data = pieces(&[10_000, 10_000, 10_000, 200_000]);
    let m = reader_message(
        "bob@example.net",
        Trickle::new(data.clone(), Duration::from_millis(800)),
    );
    let id = m.message_id().to_string();
    let (sent, _c) = within_30s("a send with a slow reader", move || {
        let mut c = SmtpClient::new(o);
        (c.send(m), c)
    });
    assert_eq!(sent.unwrap().message_id, id);
    let got = captured(&s);
    exactly_once(&[id], &got);
    assert_eq!(attachment_bytes(&got[0].data, "slow.bin"), data.concat());
}

#[test]
fn a_failing_reader_on_its_thread_is_the_compose_error() {
    // The composition error of a stream read on its own thread reaches the
    // caller as it is (not as text), and the client goes on.
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = self.0.min(buf.len()).min(1000);
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }
    let s = server(&[]);
    let (o, _) = options(s.port);
    let mut c = SmtpClient::new(o);
    let e = c
        .send(reader_message("bob@example.net", Failing(100_000)))
        .unwrap_err();
    match &e {
        NativeError::Compose(mimeograph::mime::ComposeError::Io { field, source }) => {
            assert_eq!(field, "attachment[0]");
            assert_eq!(source.to_string(), "disk on fire");
        }
        other => panic!("{other:?}"),
    }
    c.send(message(3, "bob@example.net")).unwrap();
    c.close().unwrap();
    assert_eq!(captured(&s).len(), 1);
}
