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

/// A scripted server (a real one reads too fast to cut a write short): it
/// reads message content 16 KiB at a time with a pause between reads, and
/// records every message whose end of data arrived (its content length).
fn slow_reader() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<usize>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&got);
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            let record = std::sync::Arc::clone(&record);
            std::thread::spawn(move || {
                let mut w = sock.try_clone().unwrap();
                let mut r = BufReader::new(sock);
                let _ = w.write_all(b"220 slow ESMTP\r\n");
                let mut line = Vec::new();
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = String::from_utf8_lossy(&line).to_ascii_uppercase();
                    let reply: &[u8] = if verb.starts_with("EHLO") {
                        b"250-slow\r\n250 PIPELINING\r\n"
                    } else if verb.starts_with("DATA") {
                        let _ = w.write_all(b"354 go on\r\n");
                        // Content, slowly, up to the end of data.
                        let mut content = Vec::new();
                        let mut chunk = vec![0u8; 16 * 1024];
                        while !content.ends_with(b"\r\n.\r\n") {
                            std::thread::sleep(Duration::from_millis(20));
                            match r.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => content.extend_from_slice(&chunk[..n]),
                            }
                        }
                        record.lock().unwrap().push(content.len());
                        b"250 2.0.0 queued\r\n"
                    } else if verb.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 2.0.0 ok\r\n"
                    };
                    if w.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, got)
}

#[tokio::test]
async fn a_send_cancelled_mid_write_leaves_no_corrupt_message() {
    let (port, got) = slow_reader();
    let (o, _) = options(port);
    let mut c = AsyncSmtpClient::new(o);
    // 2 MiB of content, read at ~800 KiB/s: cancelled long before its end.
    let big = mimeograph::mime::Message::builder()
        .from("zoe@example.com")
        .to("bob@example.net")
        .subject("big")
        .text("big")
        .attach(mimeograph::mime::Attachment::bytes(vec![0x5a; 2 << 20]).filename("big.bin"))
        .build()
        .unwrap();
    let cut = tokio::time::timeout(Duration::from_millis(300), c.send(big)).await;
    assert!(cut.is_err(), "the big message was meant to be cut short");
    // The next message goes on a new connection; the server never sees the
    // big one end (the old connection is dropped, not finished with a
    // small message's bytes after a missing flight).
    c.send(message(1, "bob@example.net")).await.unwrap();
    c.close().await.unwrap();
    let lens = got.lock().unwrap().clone();
    assert_eq!(
        lens.len(),
        1,
        "messages whose end of data arrived: {lens:?}"
    );
    assert!(lens[0] < 4096, "the small message only: {lens:?}");
}

// ----- stream attachments that stall or trickle -----

/// Runs the future `f` makes on a current-thread runtime (a read that
/// blocked it would stop everything else on it) on a thread of its own,
/// and waits at most 30 s for it: a send that hangs fails the test
/// instead of hanging it.
fn on_runtime_within_30s<T, F>(what: &str, f: impl FnOnce() -> F + Send + 'static) -> T
where
    F: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(rt.block_on(f()));
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{what} did not return within 30 s: {e}"))
}

/// A task counting 10 ms ticks in `ticks` on the current runtime: it only
/// counts while the runtime's thread is free.
fn ticker(ticks: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    })
}

#[cfg(unix)]
#[test]
fn a_stalled_reader_attachment_times_out_and_the_next_send_works() {
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.timeout = Duration::from_secs(1);
    let (m, other_end) = stalled_message("bob@example.net");
    let stalled_id = m.message_id().to_string();
    let next = message(2, "bob@example.net");
    let next_id = next.message_id().to_string();
    let (first, connected, second, ticked) = on_runtime_within_30s("a stalled send", || async {
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = ticker(std::sync::Arc::clone(&ticks));
        let mut c = AsyncSmtpClient::new(o);
        let before = ticks.load(std::sync::atomic::Ordering::SeqCst);
        let first = c.send(m).await;
        let ticked = ticks.load(std::sync::atomic::Ordering::SeqCst) - before;
        let connected = c.is_connected();
        let second = c.send(next).await;
        task.abort();
        (first, connected, second, ticked)
    });
    let e = first.unwrap_err();
    assert!(
        matches!(&e, NativeError::Smtp(SmtpError::BodyTimeout { command }) if command == "DATA"),
        "{e:?}"
    );
    assert!(!connected, "the session ended after DATA");
    // The runtime went on while the send waited for the stalled stream.
    assert!(ticked > 0, "the runtime was blocked");
    assert_eq!(second.unwrap().attempts, 1);
    let got = captured(&s);
    exactly_once(&[next_id], &got);
    assert!(got.iter().all(|g| g.message_id() != stalled_id));
    drop(other_end);
}

#[test]
fn a_reader_trickling_slower_than_the_timeout_per_window_is_sent_intact() {
    // As the blocking client's test: pauses shorter than the timeout, the
    // stream longer. The runtime is free while the reader sleeps: ticks
    // counted across its pauses (none if a pause blocked the runtime).
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.timeout = Duration::from_millis(2500);
    let data = pieces(&[10_000, 10_000, 10_000, 200_000]);
    let ticks = Arc::new(AtomicUsize::new(0));
    // How many pauses of the reader saw the runtime tick.
    let free_pauses = Arc::new(Mutex::new((0usize, 0usize)));
    let (t, f) = (Arc::clone(&ticks), Arc::clone(&free_pauses));
    let reader = Trickle::watched(data.clone(), Duration::from_millis(800), move |before| {
        let mut f = f.lock().unwrap();
        let now = t.load(Ordering::SeqCst);
        if before {
            f.0 = now;
        } else if now > f.0 {
            f.1 += 1;
        }
    });
    let m = reader_message("bob@example.net", reader);
    let id = m.message_id().to_string();
    let sent = on_runtime_within_30s("a send with a slow reader", move || async move {
        let task = ticker(ticks);
        let mut c = AsyncSmtpClient::new(o);
        let sent = c.send(m).await;
        task.abort();
        sent
    });
    assert_eq!(sent.unwrap().message_id, id);
    assert!(
        free_pauses.lock().unwrap().1 > 0,
        "the runtime was blocked during every pause of the reader"
    );
    let got = captured(&s);
    exactly_once(&[id], &got);
    assert_eq!(attachment_bytes(&got[0].data, "slow.bin"), data.concat());
}
