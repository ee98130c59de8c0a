//! Passwords and tokens never appear in errors (`Display`, `Debug`, the
//! `source()` chain), logs (the transcript logger), `Debug` of options and
//! clients, or the engine's transcript and events — in failing and
//! succeeding sessions against real servers (aiosmtpd with AUTH PLAIN /
//! LOGIN / XOAUTH2, npm smtp-server with PLAIN / LOGIN / CRAM-MD5 /
//! XOAUTH2), and against scripted servers for what a real one does not do
//! (dropping the connection in the middle of AUTH, echoing the AUTH line
//! back). Every output is searched for the secret as it is, in base64 at
//! every alignment (which covers LOGIN, PLAIN and XOAUTH2), and in the
//! whole SASL forms.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use mimeograph::native::{NativeError, Options, Pool, SmtpClient};
use mimeograph::smtp::{Client, Config, Credentials, Event, Mechanism};

#[path = "common/servers.rs"]
#[allow(dead_code)]
mod servers;

const USER: &str = "ann.secret-test";
/// Distinctive, so that finding it anywhere is a leak.
const PASSWORD: &str = "Pw-7qZ!xV3kL9#mR2tY";
const TOKEN: &str = "ya29.Tok3n-Hq8Nw2Jx5Lp0Rv7Zs4";

/// Every string that would reveal `secret` (sent by `user`).
fn forms(user: &str, secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    // The secret's base64 at each of the three alignments: the middle of
    // the encoding of (k filler bytes + secret), which any base64 holding
    // the secret at that alignment contains.
    for k in 0..3 {
        let mut input = vec![b'\0'; k];
        input.extend_from_slice(secret.as_bytes());
        let enc = B64.encode(&input);
        let start = if k == 0 { 0 } else { 4 };
        let end = enc.len() - 4;
        if end > start + 8 {
            out.push(enc[start..end].to_string());
        }
    }
    out.push(B64.encode(secret));
    out.push(B64.encode(format!("\0{user}\0{secret}")));
    out.push(B64.encode(format!("user={user}\x01auth=Bearer {secret}\x01\x01")));
    out
}

/// Fails if any of `outputs` holds any form of the password or the token.
fn assert_clean(what: &str, outputs: &[String]) {
    let secrets: Vec<String> = forms(USER, PASSWORD)
        .into_iter()
        .chain(forms(USER, TOKEN))
        .collect();
    for out in outputs {
        for s in &secrets {
            assert!(
                !out.contains(s.as_str()),
                "{what}: a secret form {s:?} appears in {out:?}"
            );
        }
    }
    assert!(!outputs.is_empty());
}

/// Display, Debug and the whole source chain of an error.
fn error_outputs(e: &NativeError) -> Vec<String> {
    let mut out = vec![e.to_string(), format!("{e:?}"), format!("{e:#?}")];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push(s.to_string());
        out.push(format!("{s:?}"));
        source = s.source();
    }
    out
}

/// Options for a local server with a logger that keeps every line.
fn options(port: u16) -> (Options, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let mut o = Options::new("127.0.0.1").with_logger(move |line| {
        sink.lock()
            .unwrap()
            .push(format!("{:?} {}", line.direction, line.text));
    });
    o.port = Some(port);
    o.domain = Some("client.test".into());
    o.timeout = Duration::from_secs(10);
    o.allow_insecure_auth = true; // loopback test servers without TLS
    (o, log)
}

fn message() -> mimeograph::mime::Message {
    mimeograph::mime::Message::builder()
        .from("ann@example.com")
        .to("bob@example.org")
        .subject("secrets")
        .text("nothing secret here\n")
        .build()
        .unwrap()
}

/// Sends one message; returns every output the caller could see.
fn session(o: Options, log: &Arc<Mutex<Vec<String>>>) -> (Result<(), NativeError>, Vec<String>) {
    let mut outputs = vec![format!("{o:?}")];
    let mut client = SmtpClient::new(o);
    outputs.push(format!("{client:?}"));
    let result = client.send(message()).map(|sent| {
        outputs.push(format!("{sent:?}"));
    });
    if let Err(e) = &result {
        outputs.extend(error_outputs(e));
    }
    outputs.push(format!("{client:?}"));
    if let Err(e) = client.close() {
        outputs.extend(error_outputs(&e));
    }
    let lines = log.lock().unwrap().clone();
    assert!(!lines.is_empty(), "the logger saw nothing");
    outputs.extend(lines);
    (result, outputs)
}

#[test]
fn aiosmtpd_plain_and_login_rejected_and_accepted() {
    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        // Rejected: the server knows another password (535).
        let server = servers::aiosmtpd(&["--auth", &format!("{USER}:other-password")]);
        let (mut o, log) = options(server.port);
        o.user = Some(USER.into());
        o.password = Some(PASSWORD.into());
        o.authentication = vec![mechanism];
        let (result, outputs) = session(o, &log);
        let e = result.unwrap_err();
        assert_eq!(e.code(), Some(535), "{mechanism:?}: {e}");
        assert!(
            outputs.iter().any(|l| l.contains("<redacted>")),
            "{outputs:?}"
        );
        assert_clean(&format!("aiosmtpd {mechanism:?} rejected"), &outputs);

        // Accepted: the same password is the right one.
        let server = servers::aiosmtpd(&["--auth", &format!("{USER}:{PASSWORD}")]);
        let (mut o, log) = options(server.port);
        o.user = Some(USER.into());
        o.password = Some(PASSWORD.into());
        o.authentication = vec![mechanism];
        let (result, outputs) = session(o, &log);
        result.unwrap();
        assert_eq!(
            servers::captured(&server.out)[0].auth.as_deref(),
            Some(USER)
        );
        assert_clean(&format!("aiosmtpd {mechanism:?} accepted"), &outputs);
    }
}

#[test]
fn aiosmtpd_xoauth2_rejected_and_accepted_and_wrong_mechanism() {
    let server = servers::aiosmtpd(&[
        "--auth",
        &format!("{USER}:unused"),
        "--xoauth2",
        &format!("{USER}:another-token"),
    ]);
    let (mut o, log) = options(server.port);
    o.user = Some(USER.into());
    o.xoauth2 = Some(TOKEN.into());
    let (result, outputs) = session(o, &log);
    assert!(result.is_err());
    assert_clean("aiosmtpd XOAUTH2 rejected", &outputs);

    let server = servers::aiosmtpd(&[
        "--auth",
        &format!("{USER}:unused"),
        "--xoauth2",
        &format!("{USER}:{TOKEN}"),
    ]);
    let (mut o, log) = options(server.port);
    o.user = Some(USER.into());
    o.xoauth2 = Some(TOKEN.into());
    let (result, outputs) = session(o, &log);
    result.unwrap();
    assert_clean("aiosmtpd XOAUTH2 accepted", &outputs);

    // A mechanism the server does not offer: refused before anything is sent.
    let server = servers::aiosmtpd(&["--auth", &format!("{USER}:{PASSWORD}")]);
    let (mut o, log) = options(server.port);
    o.user = Some(USER.into());
    o.password = Some(PASSWORD.into());
    o.authentication = vec![Mechanism::CramMd5];
    let (result, outputs) = session(o, &log);
    let e = result.unwrap_err();
    assert!(e.to_string().contains("AUTH"), "{e}");
    assert!(!log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("Client AUTH")));
    assert_clean("aiosmtpd wrong mechanism", &outputs);

    // Credentials on an unencrypted link without the opt-in: never sent.
    let (mut o, log) = options(server.port);
    o.allow_insecure_auth = false;
    o.user = Some(USER.into());
    o.password = Some(PASSWORD.into());
    let (result, outputs) = session(o, &log);
    let e = result.unwrap_err();
    assert!(e.to_string().contains("unencrypted"), "{e}");
    assert!(!log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("Client AUTH")));
    assert_clean("aiosmtpd insecure auth refused", &outputs);
}

#[test]
fn smtp_server_every_mechanism_rejected_and_accepted() {
    for (mechanism, name) in [
        (Mechanism::Plain, "PLAIN"),
        (Mechanism::Login, "LOGIN"),
        (Mechanism::CramMd5, "CRAM-MD5"),
        (Mechanism::XOAuth2, "XOAUTH2"),
    ] {
        for right in [false, true] {
            let secret = if mechanism == Mechanism::XOAuth2 {
                TOKEN
            } else {
                PASSWORD
            };
            let known = if right { secret } else { "something-else" };
            let server = servers::smtp_server(serde_json::json!({
                "user": USER,
                "pass": known,
                "authMethods": [name],
            }));
            let (mut o, log) = options(server.port);
            o.user = Some(USER.into());
            if mechanism == Mechanism::XOAuth2 {
                o.xoauth2 = Some(TOKEN.into());
            } else {
                o.password = Some(PASSWORD.into());
                o.authentication = vec![mechanism];
            }
            let (result, outputs) = session(o, &log);
            assert_eq!(result.is_ok(), right, "{name} right={right}: {result:?}");
            assert_clean(&format!("smtp-server {name} right={right}"), &outputs);
        }
    }
}

#[test]
fn pool_errors_and_debug_hold_no_secret() {
    let server = servers::aiosmtpd(&["--auth", &format!("{USER}:other-password")]);
    let (mut o, log) = options(server.port);
    o.user = Some(USER.into());
    o.password = Some(PASSWORD.into());
    let pool = Pool::new(o);
    let mut outputs = vec![format!("{:?}", pool.options())];
    let e = pool.send(message()).unwrap_err();
    outputs.extend(error_outputs(&e));
    pool.close().ok();
    outputs.extend(log.lock().unwrap().clone());
    assert_clean("pool", &outputs);
}

// ----- scripted servers: what a real one does not do -----

/// A one-connection server that follows `script` (it reads the client's
/// lines with the reader and writes replies on the stream).
fn scripted(script: fn(&mut BufReader<TcpStream>, &mut TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            script(&mut reader, &mut stream);
        }
    });
    port
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap_or(0);
    l.trim_end().to_string()
}

/// Greeting and EHLO with AUTH PLAIN LOGIN.
fn open(r: &mut BufReader<TcpStream>, w: &mut TcpStream) {
    w.write_all(b"220 scripted ESMTP\r\n").unwrap();
    let _ehlo = line(r);
    w.write_all(b"250-scripted\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
        .unwrap();
}

fn scripted_session(port: u16, mechanism: Mechanism) -> Vec<String> {
    let (mut o, log) = options(port);
    o.user = Some(USER.into());
    o.password = Some(PASSWORD.into());
    o.authentication = vec![mechanism];
    o.reconnect_retry = false;
    let (result, outputs) = session(o, &log);
    assert!(result.is_err());
    outputs
}

#[test]
fn connection_dropped_in_the_middle_of_auth() {
    // PLAIN: the line with the secret arrives, then the server hangs up.
    let port = scripted(|r, w| {
        open(r, w);
        let _auth = line(r);
    });
    let outputs = scripted_session(port, Mechanism::Plain);
    assert_clean("dropped after AUTH PLAIN", &outputs);
    // LOGIN: after the user name, the password is asked for and sent.
    let port = scripted(|r, w| {
        open(r, w);
        let _auth = line(r);
        w.write_all(b"334 VXNlcm5hbWU6\r\n").unwrap();
        let _user = line(r);
        w.write_all(b"334 UGFzc3dvcmQ6\r\n").unwrap();
        let _password = line(r);
    });
    let outputs = scripted_session(port, Mechanism::Login);
    assert_clean("dropped after AUTH LOGIN's password", &outputs);
}

#[test]
fn a_server_echoing_the_secret_is_scrubbed() {
    // The AUTH PLAIN line sent back in the 535.
    let port = scripted(|r, w| {
        open(r, w);
        let auth = line(r);
        let echoed = format!("535-5.7.8 rejected: {auth}\r\n535 5.7.8 you sent {auth}\r\n");
        w.write_all(echoed.as_bytes()).unwrap();
        let _quit = line(r);
    });
    let outputs = scripted_session(port, Mechanism::Plain);
    assert!(outputs.iter().any(|o| o.contains("<redacted>")));
    assert_clean("535 echoing AUTH PLAIN", &outputs);

    // LOGIN's password line echoed; and the raw password in the text.
    let port = scripted(|r, w| {
        open(r, w);
        let _auth = line(r);
        w.write_all(b"334 VXNlcm5hbWU6\r\n").unwrap();
        let _user = line(r);
        w.write_all(b"334 UGFzc3dvcmQ6\r\n").unwrap();
        let password = line(r);
        let decoded = String::from_utf8(B64.decode(&password).unwrap()).unwrap();
        let echoed = format!("535 5.7.8 bad password {decoded} ({password})\r\n");
        w.write_all(echoed.as_bytes()).unwrap();
        let _quit = line(r);
    });
    let outputs = scripted_session(port, Mechanism::Login);
    assert_clean("535 echoing AUTH LOGIN", &outputs);
}

/// The sans-IO engine on its own: its transcript, its events and their
/// `Debug`, and `Config`'s `Debug`, with XOAUTH2's error step (the server's
/// base64 JSON, here echoing the token) and the final 535.
#[test]
fn engine_transcript_events_and_config() {
    let config = Config {
        credentials: Some(Credentials::new(USER, TOKEN)),
        authentication: vec![Mechanism::XOAuth2],
        transcript: true,
        ..Config::default()
    };
    let mut outputs = vec![format!("{config:?}")];
    let t = Duration::ZERO;
    let mut c = Client::new(config, true, t).unwrap();
    let feed = |c: &mut Client, bytes: &[u8]| {
        while c.poll_transmit().is_some() {}
        c.receive(bytes, t);
    };
    feed(&mut c, b"220 hi\r\n");
    feed(&mut c, b"250-hi\r\n250 AUTH XOAUTH2\r\n");
    let json = format!("{{\"status\":\"401\",\"token\":\"{TOKEN}\"}}");
    feed(&mut c, format!("334 {}\r\n", B64.encode(json)).as_bytes());
    feed(&mut c, b"535 5.7.8 no\r\n");
    while c.poll_transmit().is_some() {}
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(matches!(
        events.last(),
        Some(Event::Closed { error: Some(_) })
    ));
    for e in &events {
        outputs.push(format!("{e:?}"));
        if let Event::Closed { error: Some(err) } = e {
            outputs.push(err.to_string());
            assert!(err.to_string().contains("<redacted>"), "{err}");
        }
    }
    let transcript = c.take_transcript();
    assert!(transcript.len() >= 5);
    outputs.extend(transcript.iter().map(|l| format!("{l:?}")));
    outputs.push(format!("{c:?}"));
    assert_clean("engine", &outputs);
}
