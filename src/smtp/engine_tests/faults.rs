//! Engine-level checks for the fault-injection suite (`tests/faults.rs`
//! runs the same faults over real sockets): what a verdict, a silence and
//! a flood of octets do to a message's outcome and to the deadline.

use super::*;
use crate::smtp::reply::DEFAULT_MAX_LINE;

const TO_DATA_END: &str = "S: 220 mx
     C: EHLO localhost
     S: 250 mx
     C: MAIL FROM:<a@x.org>
     S: 250 ok
     C: RCPT TO:<b@y.org>
     S: 250 ok
     C: DATA
     S: 354 go
     C: x
     C: .";

#[test]
fn a_421_to_the_end_of_data_is_a_known_failure() {
    // A 421 answers the message: it was not accepted, whatever the
    // connection does next. Only silence (close, timeout, garbage) leaves
    // the outcome unknown.
    let mut r = Run::new(cfg());
    let id = r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(&format!("{TO_DATA_END}\nS: 421 4.3.2 shutting down"));
    assert!(
        matches!(r.failed()[..], [SmtpError::ServiceClosing { command: Some(c), .. }] if c == "end of data"),
        "{:?}",
        r.events
    );
    assert_eq!(r.c.outcome_unknown(), None);
    assert!(r.c.is_closed());
    // The same end of data with a garbage reply stays unknown.
    let mut r = Run::new(cfg());
    let id2 = r.send(env("a@x.org", &["b@y.org"]), "x");
    assert_eq!(id, id2);
    r.script(&format!("{TO_DATA_END}\nS: thanks!"));
    assert!(matches!(r.failed()[..], [SmtpError::Protocol(_)]));
    assert_eq!(r.c.outcome_unknown(), Some(id2));
}

#[test]
fn a_421_to_bdat_last_or_to_a_pipelined_rcpt_is_a_known_failure() {
    let caps = "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250-PIPELINING
         S: 250 CHUNKING";
    // The 421 answers BDAT … LAST.
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "a\r\n");
    r.script(&format!(
        "{caps}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: BDAT 3 LAST
         C: a
         S: 250 ok
         S: 250 ok
         S: 421 4.3.2 bye"
    ));
    assert!(matches!(r.failed()[..], [SmtpError::ServiceClosing { .. }]));
    assert_eq!(r.c.outcome_unknown(), None);
    // The 421 answers the RCPT before it: the server will not take the
    // BDAT that followed.
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "a\r\n");
    r.script(&format!(
        "{caps}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: BDAT 3 LAST
         C: a
         S: 250 ok
         S: 421 4.3.2 bye"
    ));
    assert!(
        matches!(r.failed()[..], [SmtpError::ServiceClosing { command: Some(c), .. }] if c.starts_with("RCPT"))
    );
    assert_eq!(r.c.outcome_unknown(), None);
}

#[test]
fn trickled_octets_do_not_extend_the_deadline() {
    // The timeout bounds the wait for a whole reply: a server that sends
    // one octet per 100 ms never resets it.
    let mut r = Run::new(Config {
        timeout: Some(Duration::from_secs(1)),
        ..cfg()
    });
    let deadline = r.c.poll_timeout().unwrap();
    assert_eq!(deadline, T0 + Duration::from_secs(1));
    let greeting = b"220 mx.y.org ESMTP trickling\r\n";
    let mut now = T0;
    let mut fed = 0;
    for &b in greeting {
        now += Duration::from_millis(100);
        r.c.handle_timeout(now);
        if r.c.is_closed() {
            break;
        }
        r.c.receive(&[b], now);
        fed += 1;
        assert_eq!(
            r.c.poll_timeout(),
            Some(deadline),
            "moved after octet {fed}"
        );
    }
    r.drain();
    assert!(fed < greeting.len());
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::Timeout { waiting_for })) if waiting_for == "connection greeting"),
        "{:?}",
        r.events
    );
    // A short reply trickled within the timeout is fine, and the next
    // reply gets a whole timeout of its own.
    let mut r = Run::new(Config {
        timeout: Some(Duration::from_secs(1)),
        ..cfg()
    });
    let mut now = T0;
    for &b in b"220 ok\r\n" {
        now += Duration::from_millis(100);
        r.c.handle_timeout(now);
        r.c.receive(&[b], now);
    }
    assert_eq!(r.drain(), "EHLO localhost\r\n");
    assert_eq!(r.c.poll_timeout(), Some(now + Duration::from_secs(1)));
}

#[test]
fn a_ten_megabyte_reply_line_ends_the_session_at_the_bound() {
    let mut r = Run::new(cfg());
    let id = r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250 mx\nC: MAIL FROM:<a@x.org>");
    let piece = vec![b'x'; 64 * 1024];
    r.c.receive(b"250 ", T0);
    let mut fed = 4;
    while fed < 10 * 1024 * 1024 {
        r.c.receive(&piece, T0);
        fed += piece.len();
        if fed == 4 + piece.len() {
            // Over the 4096-octet bound on the first piece.
            assert!(r.c.is_closed());
        }
    }
    r.c.receive(b"\r\n", T0);
    assert_eq!(r.drain(), "");
    assert_eq!(
        r.closed(),
        Some(&Some(SmtpError::ReplyTooLong {
            limit: DEFAULT_MAX_LINE
        }))
    );
    assert_eq!(r.failed().len(), 1);
    assert_eq!(
        r.c.outcome_unknown(),
        None,
        "{id:?} never reached its end of data"
    );
}

/// Found by the `engine` fuzz target: replies read in one go answered
/// commands the client had not sent yet (no PIPELINING: RCPT and BDAT wait
/// for MAIL's reply), which ended a message — reported sent — before its
/// content left, and started the next one in the same flight. A reply to a
/// command still in the output is out of turn: the session ends with a
/// protocol error, nothing is reported sent, and no outcome is unknown.
#[test]
fn a_reply_ahead_of_its_command_is_out_of_turn() {
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.send(env("a@x.org", &["c@y.org"]), "y");
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 CHUNKING\nC: MAIL FROM:<a@x.org>");
    // MAIL's reply, then replies to RCPT and BDAT, which are not sent yet.
    r.c.receive(b"250 ok\r\n250 ok\r\n250 ok\r\n", T0);
    assert!(r.c.is_closed());
    let flight = r.drain();
    assert!(!flight.contains("BDAT"), "{flight:?}");
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::Protocol(m))) if m.contains("unexpected reply")),
        "{:?}",
        r.closed()
    );
    assert!(r.sent().is_empty());
    assert_eq!(r.failed().len(), 2);
    assert_eq!(r.c.outcome_unknown(), None);
}

/// No server can answer `BDAT n LAST` before it has read all n octets
/// (RFC 3030 §2): a reply that arrives while part of the chunk is still
/// unsent is out of turn, and the message is not reported sent (it would
/// be before its data had left).
#[test]
fn a_reply_to_bdat_last_before_its_chunk_is_out_is_out_of_turn() {
    let body = "0123456789abcdef\r\n".repeat(20_000);
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), &body);
    r.c.receive(b"220 mx\r\n", T0);
    assert_eq!(r.drain(), "EHLO localhost\r\n");
    r.c.receive(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n", T0);
    let first = r.c.poll_transmit().unwrap();
    let first = String::from_utf8_lossy(&first);
    assert!(first.contains("BDAT 360000 LAST\r\n"), "{first:.200}");
    assert!(
        first.len() < body.len(),
        "the whole chunk went in one flight"
    );
    r.c.receive(b"250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n", T0);
    r.drain();
    assert!(r.sent().is_empty(), "{:?}", r.events);
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::Protocol(m))) if m.contains("unexpected reply")),
        "{:?}",
        r.closed()
    );
    assert_eq!(r.c.outcome_unknown(), None);
    // The same replies once the whole chunk is out: sent.
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), &body);
    r.c.receive(b"220 mx\r\n", T0);
    r.drain();
    r.c.receive(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n", T0);
    let out = r.drain();
    assert!(out.ends_with(&body), "{:.200}", &out[out.len() - 200..]);
    r.c.receive(b"250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n", T0);
    r.drain();
    assert_eq!(r.sent().len(), 1, "{:?}", r.events);
}

#[test]
fn a_refusal_followed_by_a_close_is_reported_as_the_refusal() {
    // Found by review: a 554 to MAIL (or a 550 to the only RCPT) followed
    // by the server's close was reported as `Closed`, which the clients
    // take for a dropped connection and send the message again. The
    // server's verdict is the message's error; the close only ends the
    // session.
    let caps = "S: 220 mx
         C: EHLO localhost
         S: 250-mx
         S: 250 PIPELINING
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: DATA";
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(&format!("{caps}\nS: 554 5.7.1 sender blocked"));
    r.c.connection_closed(T0);
    r.drain();
    assert!(
        matches!(r.failed()[..], [SmtpError::Reply { command, reply }] if command.starts_with("MAIL") && reply.code() == 554),
        "{:?}",
        r.events
    );
    assert_eq!(r.c.outcome_unknown(), None);
    assert!(matches!(r.closed(), Some(Some(SmtpError::Closed))));

    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(&format!("{caps}\nS: 250 ok\nS: 550 5.1.1 no such user"));
    r.c.connection_closed(T0);
    r.drain();
    assert!(
        matches!(r.failed()[..], [SmtpError::AllRecipientsRejected { recipients }] if recipients.len() == 1),
        "{:?}",
        r.events
    );
    // A timeout after the refusal alike.
    let mut r = Run::new(cfg());
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script(&format!("{caps}\nS: 554 5.7.1 sender blocked"));
    let deadline = r.c.poll_timeout().expect("waiting for the DATA reply");
    r.c.handle_timeout(deadline);
    r.drain();
    assert!(
        matches!(r.failed()[..], [SmtpError::Reply { reply, .. }] if reply.code() == 554),
        "{:?}",
        r.events
    );
}
