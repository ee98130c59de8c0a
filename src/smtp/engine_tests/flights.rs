//! Flight-shape tests: how many writes a transaction takes and how often
//! the engine waits for the server, for each capability set. A *flight* is
//! one [`Client::poll_transmit`] result; a *wait* is a point where the engine
//! has written everything it may and needs a reply to go on. On a warm
//! connection the targets are 1 wait per message with PIPELINING and
//! CHUNKING, 2 with PIPELINING alone, 4 with neither.

use super::*;
use crate::smtp::engine::{FLIGHT, MAX_REPLIES_AWAITED};

/// A config with the default BDAT chunk size (the chunked tests set it).
fn flight_cfg() -> Config {
    Config {
        tls: TlsPolicy::Never,
        ..Config::default()
    }
}

/// A session that read the greeting and this EHLO reply (lines without
/// CRLF) and is ready: no output pending, no reply awaited.
fn warm(config: Config, ehlo: &[&str]) -> Run {
    let mut r = Run::new(config);
    r.c.receive(b"220 mx ESMTP\r\n", T0);
    assert_eq!(flights(&mut r), ["EHLO localhost\r\n"]);
    let mut reply = String::new();
    for (i, l) in ehlo.iter().enumerate() {
        let sep = if i + 1 == ehlo.len() { ' ' } else { '-' };
        reply.push_str(&format!("250{sep}{l}\r\n"));
    }
    r.c.receive(reply.as_bytes(), T0);
    assert_eq!(flights(&mut r), Vec::<String>::new());
    assert!(matches!(r.c.poll_event(), Some(Event::Ready(_))));
    assert!(r.c.is_idle());
    r
}

/// Every `poll_transmit` result until `None`, one string each.
fn flights(r: &mut Run) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(b) = r.c.poll_transmit() {
        out.push(String::from_utf8_lossy(&b).into_owned());
    }
    out
}

/// Events since the last call.
fn events(r: &mut Run) -> Vec<Event> {
    std::iter::from_fn(|| r.c.poll_event()).collect()
}

/// Plays one message as a conversation: `exchanges[i]` is the server's
/// answer (one read) to the client's i-th flight. Asserts that every turn
/// gives exactly one flight (one write) and that the engine waits (a
/// deadline is armed, no output) after each; returns the flights and the
/// events seen at the end.
fn converse(r: &mut Run, exchanges: &[&str]) -> (Vec<String>, Vec<Event>) {
    let mut seen = Vec::new();
    for (i, answer) in exchanges.iter().enumerate() {
        let f = flights(r);
        assert_eq!(f.len(), 1, "turn {i}: one write, got {f:?}");
        seen.push(f.into_iter().next().unwrap_or_default());
        assert!(r.c.poll_timeout().is_some(), "turn {i}: the engine waits");
        let early = events(r);
        assert!(
            !early
                .iter()
                .any(|e| matches!(e, Event::MessageSent(_) | Event::MessageFailed { .. })),
            "turn {i}: no verdict before the server's reply: {early:?}"
        );
        r.c.receive(answer.as_bytes(), T0);
    }
    (seen, events(r))
}

/// W1-like: a 2 KiB text with LF line ends and a line that starts with a dot.
fn w1_body() -> String {
    let mut b =
        String::from("From: Ann Sender <a@x.org>\nTo: Bob Receiver <b@y.org>\nSubject: W4\n\n");
    let mut i = 0;
    while b.len() < 2048 {
        let dot = if i == 7 { "." } else { "" };
        b.push_str(&format!("{dot}line {i:02} of the body, plain ASCII text\n"));
        i += 1;
    }
    b
}

fn sent_ok(events: &[Event]) -> &SentMessage {
    match events {
        [Event::MessageSent(s)] => s,
        other => panic!("expected one MessageSent, got {other:?}"),
    }
}

#[test]
fn pipelining_and_chunking_one_flight_one_wait() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "CHUNKING", "8BITMIME"]);
    let body = w1_body();
    let wire = data::normalized_len(body.as_bytes());
    for _ in 0..3 {
        r.send(env("a@x.org", &["b@y.org", "c@y.org"]), &body);
        let (f, ev) = converse(
            &mut r,
            &["250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"],
        );
        let expected_head = format!(
            "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\nBDAT {wire} LAST\r\n"
        );
        assert!(f[0].starts_with(&expected_head), "{:?}", &f[0][..120]);
        let content = &f[0][expected_head.len()..];
        assert_eq!(content.len() as u64, wire);
        // BDAT content is not dot-stuffed.
        assert!(content.contains("\r\n.line 07"));
        let s = sent_ok(&ev);
        assert_eq!(s.reply.text(), "queued");
        assert_eq!(s.reply.enhanced_code().unwrap().to_string(), "2.0.0");
        assert!(s.recipients.iter().all(RecipientResult::accepted));
        assert!(r.c.is_idle());
        assert_eq!(r.c.poll_timeout(), None);
    }
}

#[test]
fn verdict_only_after_the_last_reply() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    assert_eq!(flights(&mut r).len(), 1);
    // Replies trickle in: nothing is decided before the BDAT LAST reply.
    for part in ["250 ok\r\n", "250 ok\r\n", "250 done"] {
        r.c.receive(part.as_bytes(), T0);
        assert_eq!(flights(&mut r), Vec::<String>::new());
        assert_eq!(events(&mut r), []);
    }
    r.c.receive(b"\r\n", T0);
    assert_eq!(sent_ok(&events(&mut r)).reply.text(), "done");
}

#[test]
fn pipelining_alone_two_flights_two_waits() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "8BITMIME"]);
    let body = w1_body();
    for _ in 0..2 {
        r.send(env("a@x.org", &["b@y.org", "c@y.org"]), &body);
        let (f, ev) = converse(
            &mut r,
            &["250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", "250 queued\r\n"],
        );
        assert_eq!(
            f[0],
            "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"
        );
        // The content and the final dot in one write; dot-stuffed.
        assert!(f[1].ends_with("\r\n.\r\n"));
        assert!(f[1].contains("\r\n..line 07"));
        assert!(
            !f[1].replace("\r\n", "").contains('\n'),
            "CRLF line ends only"
        );
        sent_ok(&ev);
        assert!(r.c.is_idle());
    }
}

#[test]
fn no_extensions_four_waits() {
    let mut r = warm(flight_cfg(), &["mx", "8BITMIME"]);
    r.send(env("a@x.org", &["b@y.org"]), &w1_body());
    let (f, ev) = converse(
        &mut r,
        &["250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n"],
    );
    assert_eq!(
        f[..3],
        [
            "MAIL FROM:<a@x.org>\r\n",
            "RCPT TO:<b@y.org>\r\n",
            "DATA\r\n"
        ]
    );
    assert!(f[3].ends_with("\r\n.\r\n"));
    sent_ok(&ev);
}

#[test]
fn chunking_without_pipelining_three_waits() {
    let mut r = warm(flight_cfg(), &["mx", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org"]), "hello\r\n");
    let (f, ev) = converse(&mut r, &["250 ok\r\n", "250 ok\r\n", "250 queued\r\n"]);
    assert_eq!(
        f,
        [
            "MAIL FROM:<a@x.org>\r\n",
            "RCPT TO:<b@y.org>\r\n",
            "BDAT 7 LAST\r\nhello\r\n"
        ]
    );
    sent_ok(&ev);
}

#[test]
fn unknown_size_chunks_then_last_in_one_flight() {
    let mut r = warm(
        Config {
            bdat_chunk_size: 4,
            ..flight_cfg()
        },
        &["mx", "PIPELINING", "CHUNKING"],
    );
    let body = Chunks(vec![b"abc\n".to_vec(), b"de".to_vec(), b"f\n".to_vec()], 0);
    r.c.send(env("a@x.org", &["b@y.org"]), Box::new(body), T0)
        .unwrap();
    let (f, ev) = converse(
        &mut r,
        &["250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 queued\r\n"],
    );
    assert_eq!(
        f,
        ["MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nBDAT 5\r\nabc\r\nBDAT 5\r\ndef\r\nBDAT 0 LAST\r\n"]
    );
    sent_ok(&ev);
}

#[test]
fn bdat_rejected_recipients_are_reported_per_recipient() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org", "c@y.org"]), "x\r\n");
    let (_, ev) = converse(
        &mut r,
        &["250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n250 queued\r\n"],
    );
    let s = sent_ok(&ev);
    let acc: Vec<bool> = s.recipients.iter().map(RecipientResult::accepted).collect();
    assert_eq!(acc, [false, true]);
}

/// RFC 3030 §2: the BDAT content is sent whatever the replies to the
/// pipelined MAIL/RCPT were; the transaction is then reset.
#[test]
fn bdat_all_recipients_rejected_content_still_sent_then_rset() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "CHUNKING"]);
    // A body longer than a flight: the rejections arrive mid-content.
    let line = "0123456789012345678901234567890123456789012345678901234567890123456789\r\n";
    let body = line.repeat(3 * FLIGHT / line.len());
    r.send(env("a@x.org", &["b@y.org"]), &body);
    // The first flight only; the rest is still to be pulled.
    let first = String::from_utf8(r.c.poll_transmit().unwrap()).unwrap();
    let head = format!(
        "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nBDAT {} LAST\r\n",
        body.len()
    );
    assert!(first.starts_with(&head));
    assert!(
        first.len() < body.len(),
        "the engine stops at a flight's size"
    );
    r.c.receive(b"250 ok\r\n550 5.1.1 no such user\r\n", T0);
    // The rest of the announced octets still go out, and nothing else.
    let rest = flights(&mut r).concat();
    assert_eq!(first.len() - head.len() + rest.len(), body.len());
    assert!(!rest.contains("RSET"));
    assert_eq!(events(&mut r), []);
    r.c.receive(b"554 5.5.1 no valid recipients\r\n", T0);
    let ev = events(&mut r);
    assert!(matches!(
        &ev[..],
        [Event::MessageFailed { error: SmtpError::AllRecipientsRejected { recipients }, .. }]
            if recipients.len() == 1 && !recipients[0].accepted()
    ));
    assert_eq!(flights(&mut r), ["RSET\r\n"]);
    assert_eq!(r.c.outcome_unknown(), None);
    r.c.receive(b"250 ok\r\n", T0);
    assert!(r.c.is_idle());
    // The session goes on: the next message is one flight again.
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    let (_, ev) = converse(&mut r, &["250 ok\r\n250 ok\r\n250 ok\r\n"]);
    sent_ok(&ev);
}

/// A server that accepts BDAT LAST although the MAIL was refused (it
/// should not): the message is failed, not reported sent, and reset.
#[test]
fn bdat_accepted_after_mail_refused_is_still_a_failure() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    let (_, ev) = converse(
        &mut r,
        &["451 4.3.0 try later\r\n503 no mail\r\n250 ok\r\n"],
    );
    assert!(matches!(
        &ev[..],
        [Event::MessageFailed { error: SmtpError::Reply { reply, .. }, .. }] if reply.code() == 451
    ));
    assert_eq!(flights(&mut r), ["RSET\r\n"]);
}

/// require_all_recipients with BDAT: the content (with LAST) must not go
/// before every RCPT is known to be accepted, so it costs a second wait.
#[test]
fn require_all_recipients_with_chunking_waits_for_rcpt_replies() {
    let cfg = Config {
        require_all_recipients: true,
        ..flight_cfg()
    };
    let mut r = warm(cfg.clone(), &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org", "c@y.org"]), "x\r\n");
    let (f, ev) = converse(
        &mut r,
        &["250 ok\r\n250 ok\r\n250 ok\r\n", "250 queued\r\n"],
    );
    assert_eq!(
        f,
        [
            "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\n",
            "BDAT 3 LAST\r\nx\r\n"
        ]
    );
    sent_ok(&ev);

    let mut r = warm(cfg, &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org", "c@y.org"]), "x\r\n");
    let (_, ev) = converse(&mut r, &["250 ok\r\n250 ok\r\n550 no\r\n"]);
    assert!(matches!(
        &ev[..],
        [Event::MessageFailed { error: SmtpError::RecipientsRejected { recipients }, .. }]
            if recipients.len() == 2
    ));
    // No content was sent: the transaction is reset.
    assert_eq!(flights(&mut r), ["RSET\r\n"]);
}

/// With one recipient, requiring every recipient costs nothing: a server
/// that refuses it has no one to deliver to and refuses the data, so the
/// flight keeps MAIL, RCPT and BDAT … LAST together (one round trip).
#[test]
fn require_all_recipients_with_one_recipient_keeps_one_flight() {
    let cfg = Config {
        require_all_recipients: true,
        ..flight_cfg()
    };
    let mut r = warm(cfg.clone(), &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    let (f, ev) = converse(&mut r, &["250 ok\r\n250 ok\r\n250 queued\r\n"]);
    assert_eq!(
        f,
        ["MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nBDAT 3 LAST\r\nx\r\n"]
    );
    sent_ok(&ev);
    // Refused: the message fails (the server refused the data too).
    let mut r = warm(cfg, &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    let (_, ev) = converse(
        &mut r,
        &["250 ok\r\n550 no such user\r\n554 no valid recipients\r\n"],
    );
    assert!(
        matches!(
            &ev[..],
            [Event::MessageFailed { error: SmtpError::AllRecipientsRejected { recipients }, .. }]
                if recipients.len() == 1
        ),
        "{ev:?}"
    );
}

/// The end of data is handed over in the flight: a drop after it leaves
/// the outcome unknown; a drop before the flight was taken does not.
#[test]
fn outcome_unknown_after_the_one_flight() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "CHUNKING"]);
    let id = r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    assert_eq!(flights(&mut r).len(), 1);
    r.c.receive(b"250 ok\r\n250 ok\r\n", T0);
    r.c.connection_closed(T0);
    assert_eq!(r.c.outcome_unknown(), Some(id));

    let mut r = warm(flight_cfg(), &["mx", "PIPELINING", "CHUNKING"]);
    r.send(env("a@x.org", &["b@y.org"]), "x\r\n");
    r.c.connection_closed(T0);
    assert_eq!(r.c.outcome_unknown(), None);
}

/// Large content comes in flights of about [`FLIGHT`] octets, never the
/// whole message at once.
#[test]
fn large_content_is_bounded_per_flight() {
    let mut r = warm(flight_cfg(), &["mx", "PIPELINING"]);
    let line = "abcdefghijklmnopqrstuvwxyz\r\n";
    let body = line.repeat(10 * FLIGHT / line.len());
    r.send(env("a@x.org", &["b@y.org"]), &body);
    assert_eq!(flights(&mut r).len(), 1);
    r.c.receive(b"250 ok\r\n250 ok\r\n354 go\r\n", T0);
    let f = flights(&mut r);
    assert!(f.len() >= 10, "{} flights", f.len());
    // RawMessage gives 64 KiB chunks: at most a flight plus one chunk.
    assert!(f.iter().all(|x| x.len() <= 2 * FLIGHT));
    assert_eq!(f.concat().len(), body.len() + 3);
}

#[test]
fn pipelined_bdat_chunks_wait_once_too_many_replies_are_owed() {
    // Found by review: a chunked body went out whole before any reply was
    // read; a server answering each chunk as it read it filled the
    // client's receive buffer and stopped reading (a deadlock, reported
    // as a write timeout). At most MAX_REPLIES_AWAITED replies are owed.
    let mut r = warm(
        Config {
            bdat_chunk_size: 4,
            ..flight_cfg()
        },
        &["mx", "PIPELINING", "CHUNKING"],
    );
    let pieces = 3 * MAX_REPLIES_AWAITED;
    let body = Chunks(vec![b"abc\n".to_vec(); pieces], 0);
    r.c.send(env("a@x.org", &["b@y.org"]), Box::new(body), T0)
        .unwrap();
    let mut chunks_sent = 0;
    let mut replies_owed = 0;
    let mut turns = 0;
    loop {
        let out = flights(&mut r).concat();
        let commands = out.matches("MAIL FROM").count()
            + out.matches("RCPT TO").count()
            + out.matches("BDAT ").count();
        chunks_sent += out.matches("BDAT 5\r\n").count();
        replies_owed += commands;
        assert!(
            replies_owed <= MAX_REPLIES_AWAITED,
            "{replies_owed} replies owed after turn {turns}"
        );
        if replies_owed == 0 {
            break;
        }
        // The server answers half of what it owes (the last is the verdict).
        let n = replies_owed.div_ceil(2);
        r.c.receive("250 ok\r\n".repeat(n).as_bytes(), T0);
        replies_owed -= n;
        turns += 1;
        assert!(turns < 10 * pieces, "no progress");
    }
    assert_eq!(chunks_sent, pieces);
    r.drain();
    assert_eq!(r.sent().len(), 1, "{:?}", r.events);
}
