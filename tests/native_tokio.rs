//! `mimeograph::native::AsyncSmtpClient` (feature `tokio`) against a real
//! aiosmtpd server: plain, STARTTLS with AUTH, implicit TLS, 100 messages
//! over one connection, a dropped connection retried, an unknown outcome
//! not retried, and a server that stops answering.
//!
//! Needs `python3` with `aiosmtpd` (`pip install -r tests/requirements.txt`).
#![cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]

mod native_support;

use std::collections::HashSet;
use std::time::Duration;

use mimeograph::native::{AsyncSmtpClient, NativeError};
use mimeograph::smtp::{Mechanism, SmtpError, TlsPolicy};
use native_support::*;

#[tokio::test]
async fn plain_send_and_close() {
    let s = server(&[]);
    let (o, log) = options(s.port);
    let mut c = AsyncSmtpClient::new(o);
    assert!(!c.is_connected());
    let m = message(1, "Bob <bob@example.net>");
    let id = m.message_id().to_string();
    let sent = c.send(m).await.unwrap();
    assert_eq!(sent.message_id, id);
    assert_eq!(sent.attempts, 1);
    assert!(c.is_connected());
    assert!(!c.is_encrypted());
    c.close().await.unwrap();
    assert!(!c.is_connected());
    let got = captured(&s);
    exactly_once(&[id], &got);
    assert!(!got[0].tls);
    let log = log.lock().unwrap();
    assert!(log.iter().any(|l| l == "C: EHLO client.test"), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("S: 221")), "{log:?}");
}

#[tokio::test]
async fn starttls_required_with_auth() {
    let pki = Pki::new("tokio-starttls");
    let s = server(&[
        "--starttls",
        &pki.cert(),
        &pki.key(),
        "--auth",
        "ann:s3cret",
    ]);
    let (mut o, log) = options(s.port);
    o.tls = TlsPolicy::Required;
    o.user = Some("ann".into());
    o.password = Some("s3cret".into());
    o.authentication = vec![Mechanism::Login];
    o.add_root_certificate(pki.ca_pem.as_bytes()).unwrap();
    let mut c = AsyncSmtpClient::new(o);
    let caps = c.connect().await.unwrap();
    assert!(caps.offers_auth(Mechanism::Login));
    assert!(c.is_encrypted());
    c.send(message(1, "bob@example.net")).await.unwrap();
    c.close().await.unwrap();
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("C: STARTTLS") && log.contains("C: AUTH LOGIN"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
    let got = captured(&s);
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert_eq!(got[0].auth.as_deref(), Some("ann"));
    assert_eq!(got[0].sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn implicit_tls_and_untrusted_certificate() {
    let pki = Pki::new("tokio-implicit");
    let s = server(&["--implicit", &pki.cert(), &pki.key(), "--auth", "ann:pw"]);
    let (mut o, _) = options(s.port);
    o.ssl = true;
    o.user = Some("ann".into());
    o.password = Some("pw".into());
    // Not trusted: a TLS error.
    let e = AsyncSmtpClient::new(o.clone())
        .send(message(1, "bob@example.net"))
        .await
        .unwrap_err();
    assert!(matches!(e, NativeError::Tls(_)), "{e:?}");
    o.add_root_certificate(pki.ca_pem.as_bytes()).unwrap();
    let mut c = AsyncSmtpClient::new(o);
    c.send(message(2, "bob@example.net")).await.unwrap();
    assert!(c.is_encrypted());
    c.close().await.unwrap();
    let got = captured(&s);
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert_eq!(got[0].auth.as_deref(), Some("ann"));
}

#[tokio::test]
async fn hundred_messages_over_one_connection() {
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.logger = None;
    let mut c = AsyncSmtpClient::new(o);
    let mut ids = Vec::new();
    for n in 0..100 {
        let m = message(n, &format!("user{n}@example.net"));
        ids.push(m.message_id().to_string());
        assert_eq!(c.send(m).await.unwrap().attempts, 1);
    }
    c.close().await.unwrap();
    let got = captured(&s);
    exactly_once(&ids, &got);
    let conns: HashSet<u64> = got.iter().map(|g| g.conn).collect();
    assert_eq!(conns.len(), 1, "more than one connection was used");
}

#[tokio::test]
async fn drop_before_end_of_data_is_retried_after_is_outcome_unknown() {
    let s = server(&["--drop-at", "2"]);
    let (o, _) = options(s.port);
    let mut c = AsyncSmtpClient::new(o.clone());
    let (a, b) = (message(1, "bob@example.net"), message(2, "bob@example.net"));
    let ids = vec![a.message_id().to_string(), b.message_id().to_string()];
    assert_eq!(c.send(a).await.unwrap().attempts, 1);
    assert_eq!(c.send(b).await.unwrap().attempts, 2);
    c.close().await.unwrap();
    exactly_once(&ids, &captured(&s));

    let s = server(&["--drop-after-data", "1"]);
    let mut o = o.clone();
    o.port = Some(s.port);
    let mut c = AsyncSmtpClient::new(o);
    let (a, b) = (message(3, "bob@example.net"), message(4, "bob@example.net"));
    let ids = vec![a.message_id().to_string(), b.message_id().to_string()];
    let e = c.send(a).await.unwrap_err();
    assert!(
        matches!(&e, NativeError::OutcomeUnknown { message_id, source }
            if *message_id == ids[0] && matches!(**source, NativeError::Smtp(SmtpError::Closed))),
        "{e:?}"
    );
    c.send(b).await.unwrap();
    c.close().await.unwrap();
    exactly_once(&ids, &captured(&s));
}

#[tokio::test]
async fn server_that_stops_answering_times_out() {
    let s = server(&["--hang-data"]);
    let (mut o, _) = options(s.port);
    o.timeout = Duration::from_millis(400);
    let mut c = AsyncSmtpClient::new(o);
    let e = c.send(message(1, "bob@example.net")).await.unwrap_err();
    assert!(e.is_timeout() && e.is_outcome_unknown(), "{e:?}");
    assert!(!c.is_connected());
}
