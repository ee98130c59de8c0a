//! Transcript tests for bodies that wait for data (`Poll::Pending`, then
//! `Client::body_ready`) and bodies that fail mid-way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::*;

/// What the test feeds a [`Tap`] body.
#[derive(Default)]
struct TapState {
    chunks: VecDeque<Vec<u8>>,
    ended: bool,
    failed: bool,
    pulls: usize,
}

/// A body fed by the test: `Pending` until something is pushed.
struct Tap {
    shared: Arc<Mutex<TapState>>,
    size: Option<u64>,
    current: Vec<u8>,
}

#[derive(Clone)]
struct TapHandle(Arc<Mutex<TapState>>);

impl TapHandle {
    fn push(&self, bytes: &str) {
        self.0
            .lock()
            .unwrap()
            .chunks
            .push_back(bytes.as_bytes().to_vec());
    }
    fn end(&self) {
        self.0.lock().unwrap().ended = true;
    }
    fn fail(&self) {
        self.0.lock().unwrap().failed = true;
    }
    fn pulls(&self) -> usize {
        self.0.lock().unwrap().pulls
    }
}

fn tap(size: Option<u64>) -> (Tap, TapHandle) {
    let shared = Arc::new(Mutex::new(TapState::default()));
    (
        Tap {
            shared: Arc::clone(&shared),
            size,
            current: Vec::new(),
        },
        TapHandle(shared),
    )
}

impl MessageBody for Tap {
    fn requires_smtputf8(&self) -> bool {
        false
    }
    fn start(&mut self, _: crate::envelope::RenderOptions) -> Result<Option<u64>, BodyError> {
        Ok(self.size)
    }
    fn is_8bit(&self) -> bool {
        false
    }
    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        Err("a tap must be polled".into())
    }
    fn poll_chunk(&mut self) -> Result<Poll<Option<&[u8]>>, BodyError> {
        let mut s = self.shared.lock().unwrap();
        s.pulls += 1;
        if s.failed {
            return Err("the stream broke".into());
        }
        match s.chunks.pop_front() {
            Some(c) => {
                drop(s);
                self.current = c;
                Ok(Poll::Ready(Some(&self.current)))
            }
            None if s.ended => Ok(Poll::Ready(None)),
            None => Ok(Poll::Pending),
        }
    }
}

fn send_tap(r: &mut Run, size: Option<u64>) -> (MessageId, TapHandle) {
    let (body, handle) = tap(size);
    let id =
        r.c.send(env("a@x.org", &["b@y.org"]), Box::new(body), r.now)
            .unwrap();
    (id, handle)
}

const EHLO_CHUNKING: &str = "S: 220 mx
     C: EHLO localhost
     S: 250-mx
     S: 250-PIPELINING
     S: 250 CHUNKING";

#[test]
fn a_pending_body_after_data_waits_for_its_data_at_most_the_timeout() {
    let mut r = Run::new(Config {
        timeout: Some(Duration::from_secs(5)),
        ..cfg()
    });
    let (id, h) = send_tap(&mut r, None);
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: DATA
         S: 250 ok
         S: 250 ok
         S: 354 go"
    ));
    assert_eq!(r.c.body_pending(), Some(id));
    // Nothing is awaited from the server; the body's data is, for the
    // timeout from its `Pending` (a stalled body: see
    // a_body_stalled_after_data_times_out_without_the_end_of_data).
    assert_eq!(r.c.poll_timeout(), Some(r.now + Duration::from_secs(5)));
    r.now += Duration::from_secs(4);
    r.c.handle_timeout(r.now);
    assert!(!r.c.is_closed());
    // Polling again without body_ready does not pull.
    let pulls = h.pulls();
    assert_eq!(r.drain(), "");
    assert_eq!(h.pulls(), pulls);

    h.push("Subject: s\r\n\r\n.line one\r\n");
    r.c.body_ready(r.now);
    assert_eq!(r.c.body_pending(), None);
    assert_eq!(r.drain(), "Subject: s\r\n\r\n..line one\r\n");
    assert_eq!(r.c.body_pending(), Some(id));
    // Data came: the body's deadline counts again from its next `Pending`.
    assert_eq!(r.c.poll_timeout(), Some(r.now + Duration::from_secs(5)));
    h.push("line two\r\n");
    h.end();
    r.c.body_ready(r.now);
    r.script("C: line two\nC: .");
    // The end of data is awaited from now on, with our timeout.
    assert_eq!(r.c.poll_timeout(), Some(r.now + Duration::from_secs(5)));
    r.script("S: 250 queued");
    assert_eq!(r.sent().len(), 1);
    assert_eq!(r.c.body_pending(), None);
}

#[test]
fn a_pending_body_with_bdat_chunks() {
    let mut r = Run::new(cfg());
    let (_, h) = send_tap(&mut r, None);
    // The body is pulled (and found waiting) in the first flight.
    r.script(&format!(
        "{EHLO_CHUNKING}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         S: 250 ok
         S: 250 ok"
    ));
    assert!(r.c.body_pending().is_some());
    // No reply is awaited; the body's data is (without `timeout`, RFC 5321
    // §4.5.3.2.5's 3 minutes for a data block).
    let body_wait = Duration::from_secs(180);
    assert_eq!(r.c.poll_timeout(), Some(r.now + body_wait));
    h.push("abc\r\n");
    r.c.body_ready(r.now);
    r.script("C: BDAT 5\nC: abc");
    // The chunk's reply is awaited, whether or not the body waits.
    assert!(r.c.poll_timeout().is_some());
    r.script("S: 250 ok");
    assert_eq!(r.c.poll_timeout(), Some(r.now + body_wait));
    h.push("def\r\n");
    h.end();
    r.c.body_ready(r.now);
    r.script("C: BDAT 5\nC: def\nC: BDAT 0 LAST\nS: 250 ok\nS: 250 done");
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn the_bdat_last_deadline_starts_at_its_last_octet() {
    let mut r = Run::new(Config {
        timeout: Some(Duration::from_secs(5)),
        ..cfg()
    });
    let (_, h) = send_tap(&mut r, Some(10));
    r.script(&format!(
        "{EHLO_CHUNKING}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: BDAT 10 LAST"
    ));
    r.script("S: 250 ok\nS: 250 ok");
    // The reply to BDAT … LAST cannot come yet: while the body waits, only
    // its own deadline runs (from its `Pending`, moved by its data).
    let body_at = r.now + Duration::from_secs(5);
    assert_eq!(r.c.poll_timeout(), Some(body_at));
    r.now += Duration::from_secs(4);
    r.c.handle_timeout(r.now);
    assert!(!r.c.is_closed());
    h.push("0123\r\n");
    r.c.body_ready(r.now);
    r.script("C: 0123");
    assert_eq!(r.c.poll_timeout(), Some(r.now + Duration::from_secs(5)));
    r.now += Duration::from_secs(4);
    r.c.handle_timeout(r.now);
    assert!(!r.c.is_closed());
    h.push("45\r\n");
    h.end();
    r.c.body_ready(r.now);
    r.script("C: 45");
    assert_eq!(r.c.poll_timeout(), Some(r.now + Duration::from_secs(5)));
    r.script("S: 250 done");
    assert_eq!(r.sent().len(), 1);
}

#[test]
fn a_body_failing_between_bdat_chunks_is_discarded_with_rset_and_the_session_goes_on() {
    let mut r = Run::new(cfg());
    let (id, h) = send_tap(&mut r, None);
    let next = r.send(env("a@x.org", &["c@y.org"]), "x\r\n");
    r.script(&format!(
        "{EHLO_CHUNKING}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>"
    ));
    h.push("part one\r\n");
    r.c.body_ready(r.now);
    r.script("C: BDAT 10\nC: part one");
    h.fail();
    r.c.body_ready(r.now);
    // No BDAT LAST: the failure waits for the replies in flight, then RSET.
    assert_eq!(r.drain(), "");
    r.script(
        "S: 250 ok
         S: 250 ok
         S: 250 chunk ok
         C: RSET
         S: 250 reset
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<c@y.org>
         C: BDAT 3 LAST
         C: x
         S: 250 ok
         S: 250 ok
         S: 250 done",
    );
    let failed: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MessageFailed { id, error } => Some((*id, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        vec![(id, SmtpError::Body("the stream broke".into()))]
    );
    assert_eq!(r.sent().len(), 1);
    assert_eq!(r.sent()[0].id, next);
    assert_eq!(r.c.outcome_unknown(), None);
    assert!(!r.c.is_closed());
}

#[test]
fn a_body_failing_after_data_closes_the_connection_without_the_end_of_data() {
    let mut r = Run::new(cfg());
    let (id, h) = send_tap(&mut r, None);
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: DATA
         S: 250 ok
         S: 250 ok
         S: 354 go"
    ));
    h.push("half a message\r\n");
    r.c.body_ready(r.now);
    r.script("C: half a message");
    h.fail();
    r.c.body_ready(r.now);
    // No `.`: the session ends instead.
    assert_eq!(r.drain(), "");
    assert_eq!(
        r.closed(),
        Some(&Some(SmtpError::Body("the stream broke".into())))
    );
    assert!(r.events.iter().any(|e| matches!(
        e,
        Event::MessageFailed { id: i, error: SmtpError::Body(_) } if *i == id
    )));
    assert_eq!(r.c.outcome_unknown(), None);
}

#[test]
fn a_body_failing_inside_bdat_last_closes_the_connection() {
    let mut r = Run::new(cfg());
    let (_, h) = send_tap(&mut r, Some(100));
    r.script(&format!(
        "{EHLO_CHUNKING}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: BDAT 100 LAST"
    ));
    h.push("some\r\n");
    r.c.body_ready(r.now);
    r.script("C: some");
    h.fail();
    r.c.body_ready(r.now);
    assert_eq!(r.drain(), "");
    assert!(matches!(r.closed(), Some(Some(SmtpError::Body(_)))));
    assert_eq!(r.c.outcome_unknown(), None);
}

#[test]
fn a_closed_connection_fails_a_waiting_body() {
    let mut r = Run::new(cfg());
    let (id, _h) = send_tap(&mut r, None);
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: DATA
         S: 250 ok
         S: 250 ok
         S: 354 go"
    ));
    assert_eq!(r.c.body_pending(), Some(id));
    r.c.connection_closed(r.now);
    r.drain();
    assert_eq!(r.c.body_pending(), None);
    assert_eq!(r.failed(), vec![&SmtpError::Closed]);
}

/// With `BDAT n LAST`, the last announced octets go out only once the body
/// has shown its end (a body longer than it said must never become a
/// shorter complete message): when the body waits right after them, they
/// wait too, with only the body's deadline; its end sends them, more data
/// fails the message without them.
#[test]
fn the_last_octets_of_bdat_last_wait_for_a_pending_body_to_end() {
    for more in [false, true] {
        let mut r = Run::new(Config {
            timeout: Some(Duration::from_secs(5)),
            ..cfg()
        });
        let (id, h) = send_tap(&mut r, Some(10));
        r.script(&format!(
            "{EHLO_CHUNKING}
             C: MAIL FROM:<a@x.org>
             C: RCPT TO:<b@y.org>
             C: BDAT 10 LAST
             S: 250 ok
             S: 250 ok"
        ));
        h.push("0123\r\n");
        r.c.body_ready(r.now);
        r.script("C: 0123");
        // The last 4 octets: held while the body has not ended.
        h.push("45\r\n");
        r.c.body_ready(r.now);
        assert_eq!(r.drain(), "");
        assert_eq!(r.c.body_pending(), Some(id));
        assert_eq!(r.c.poll_timeout(), Some(r.now + Duration::from_secs(5)));
        r.now += Duration::from_secs(4);
        r.c.handle_timeout(r.now);
        assert!(!r.c.is_closed());
        if more {
            h.push("6\r\n");
            r.c.body_ready(r.now);
            assert_eq!(r.drain(), "");
            assert!(
                matches!(
                    r.closed(),
                    Some(Some(SmtpError::SizeMismatch {
                        declared: 10,
                        actual: 13
                    }))
                ),
                "{:?}",
                r.events
            );
            assert_eq!(r.c.outcome_unknown(), None);
        } else {
            h.end();
            r.c.body_ready(r.now);
            r.script("C: 45");
            assert_eq!(r.c.poll_timeout(), Some(r.now + Duration::from_secs(5)));
            r.script("S: 250 done");
            assert_eq!(r.sent().len(), 1);
        }
    }
}

/// A stalled body (some data, then nothing, never an end): the engine
/// waits for its data at most `timeout` from its `Pending`, then fails the
/// message with `BodyTimeout` and ends the session without the `.` that
/// would make the server take the truncated message.
#[test]
fn a_body_stalled_after_data_times_out_without_the_end_of_data() {
    let timeout = Duration::from_millis(1500);
    let mut r = Run::new(Config {
        timeout: Some(timeout),
        ..cfg()
    });
    let (id, h) = send_tap(&mut r, None);
    let queued = r.send(env("a@x.org", &["c@y.org"]), "x\r\n");
    r.script(&format!(
        "{EHLO_PIPE}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: DATA
         S: 250 ok
         S: 250 ok
         S: 354 go"
    ));
    h.push("Subject: s\r\n\r\nhalf a message\r\n");
    r.now += Duration::from_millis(100);
    r.c.body_ready(r.now);
    r.script("C: Subject: s\nC:\nC: half a message");
    assert_eq!(r.c.body_pending(), Some(id));
    let at = r.now + timeout;
    assert_eq!(r.c.poll_timeout(), Some(at));
    // Not before the deadline.
    r.c.handle_timeout(at - Duration::from_millis(1));
    assert_eq!(r.drain(), "");
    assert!(!r.c.is_closed());
    // At it: the message fails, the session ends, nothing more is written
    // (every octet before was checked by the scripts: no `.`, no QUIT).
    r.c.handle_timeout(at);
    assert_eq!(r.drain(), "");
    let stalled = SmtpError::BodyTimeout {
        command: "DATA".into(),
    };
    assert_eq!(r.closed(), Some(&Some(stalled.clone())));
    assert_eq!(r.failed(), vec![&stalled, &stalled]);
    assert!(r.events.iter().any(|e| matches!(
        e,
        Event::MessageFailed { id: i, error: SmtpError::BodyTimeout { .. } } if *i == id
    )));
    assert!(r.events.iter().any(|e| matches!(
        e,
        Event::MessageFailed { id: i, .. } if *i == queued
    )));
    assert!(r.sent().is_empty());
    assert!(r.c.is_closed());
    assert_eq!(r.c.body_pending(), None);
    assert_eq!(r.c.poll_timeout(), None);
    // Certainly not accepted: no end of data was handed over.
    assert_eq!(r.c.outcome_unknown(), None);
    assert_eq!(stalled.emailjs_code(), EmailjsCode::TimedOut);
    assert_eq!(stalled.command(), Some("DATA"));
    assert!(!stalled.is_retryable());
    // Data after the deadline changes nothing.
    h.push("the rest\r\n");
    h.end();
    r.c.body_ready(r.now);
    assert_eq!(r.drain(), "");
}

#[test]
fn a_body_stalled_inside_bdat_last_times_out_without_its_last_octets() {
    let timeout = Duration::from_secs(5);
    let mut r = Run::new(Config {
        timeout: Some(timeout),
        ..cfg()
    });
    let (_, h) = send_tap(&mut r, Some(100));
    r.script(&format!(
        "{EHLO_CHUNKING}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>
         C: BDAT 100 LAST
         S: 250 ok
         S: 250 ok"
    ));
    h.push("some\r\n");
    r.c.body_ready(r.now);
    r.script("C: some");
    r.now += timeout;
    r.c.handle_timeout(r.now);
    assert_eq!(r.drain(), "");
    assert_eq!(
        r.closed(),
        Some(&Some(SmtpError::BodyTimeout {
            command: "BDAT 100 LAST".into()
        }))
    );
    assert!(r.sent().is_empty());
    assert_eq!(r.c.outcome_unknown(), None);
}

/// With BDAT chunks nothing is final until `BDAT … LAST`: a stalled body
/// is discarded with RSET (after the replies to the chunks in flight) and
/// the session goes on with the next message.
#[test]
fn a_body_stalled_between_bdat_chunks_is_discarded_with_rset_and_the_session_goes_on() {
    let timeout = Duration::from_secs(5);
    let mut r = Run::new(Config {
        timeout: Some(timeout),
        ..cfg()
    });
    let (id, h) = send_tap(&mut r, None);
    let next = r.send(env("a@x.org", &["c@y.org"]), "x\r\n");
    r.script(&format!(
        "{EHLO_CHUNKING}
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<b@y.org>"
    ));
    h.push("part one\r\n");
    r.c.body_ready(r.now);
    r.script("C: BDAT 10\nC: part one");
    // The chunk's reply is awaited first (the server's deadline)...
    assert_eq!(r.c.poll_timeout(), Some(r.now + timeout));
    r.now += Duration::from_secs(1);
    r.script("S: 250 ok\nS: 250 ok\nS: 250 chunk ok");
    // ...then only the body's data, from its `Pending`.
    assert_eq!(
        r.c.poll_timeout(),
        Some(r.now - Duration::from_secs(1) + timeout)
    );
    r.now += Duration::from_secs(4);
    r.c.handle_timeout(r.now);
    r.script(
        "C: RSET
         S: 250 reset
         C: MAIL FROM:<a@x.org>
         C: RCPT TO:<c@y.org>
         C: BDAT 3 LAST
         C: x
         S: 250 ok
         S: 250 ok
         S: 250 done",
    );
    assert_eq!(
        r.failed(),
        vec![&SmtpError::BodyTimeout {
            command: "BDAT".into()
        }]
    );
    assert!(r.events.iter().any(|e| matches!(
        e,
        Event::MessageFailed { id: i, .. } if *i == id
    )));
    assert_eq!(r.sent().len(), 1);
    assert_eq!(r.sent()[0].id, next);
    assert!(!r.c.is_closed());
}
