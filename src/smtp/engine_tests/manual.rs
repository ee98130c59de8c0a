//! Transcript tests for the low-level command API (`Client::mail` …).

use super::*;

const READY: &str = "S: 220 mx ESMTP
     C: EHLO localhost
     S: 250-mx
     S: 250 8BITMIME";

fn ready() -> Run {
    let mut r = Run::new(cfg());
    r.script(READY);
    r.events.clear();
    r
}

/// A ready session inside a low-level DATA (MAIL, RCPT and DATA accepted).
fn in_data() -> Run {
    let mut r = ready();
    r.c.mail("a@x.org", &[], T0).unwrap();
    r.script("C: MAIL FROM:<a@x.org>\nS: 250 ok");
    r.c.rcpt("b@y.org", T0).unwrap();
    r.script("C: RCPT TO:<b@y.org>\nS: 250 ok");
    r.c.data(T0).unwrap();
    r.script("C: DATA\nS: 354 go");
    r
}

/// The (command, code) of every `Event::Reply`, in order.
fn replies(r: &Run) -> Vec<(String, u16)> {
    r.events
        .iter()
        .filter_map(|e| match e {
            Event::Reply { command, reply } => Some((command.clone(), reply.code())),
            _ => None,
        })
        .collect()
}

fn misuse(e: Result<(), SmtpError>) -> String {
    match e {
        Err(SmtpError::Misuse(why)) => why,
        other => panic!("expected Misuse, got {other:?}"),
    }
}

#[test]
fn full_session_success() {
    let mut r = ready();
    r.c.mail("a@x.org", &["BODY=8BITMIME".into()], T0).unwrap();
    r.script("C: MAIL FROM:<a@x.org> BODY=8BITMIME\nS: 250 2.1.0 ok");
    r.c.rcpt("b@y.org", T0).unwrap();
    r.script("C: RCPT TO:<b@y.org>\nS: 251 2.1.5 will forward");
    r.c.data(T0).unwrap();
    r.script("C: DATA\nS: 354 go ahead");
    r.c.data_chunk(b"Subject: t\n\n.dot\r").unwrap();
    r.c.data_chunk(b"\n.").unwrap();
    r.c.data_chunk(b"\r\n.\r\nend").unwrap();
    r.c.data_end(T0).unwrap();
    r.script(
        "C: Subject: t
         C:
         C: ..dot
         C: ..
         C: ..
         C: end
         C: .
         S: 250 2.0.0 queued as 42",
    );
    r.c.rset(T0).unwrap();
    r.script("C: RSET\nS: 250 2.0.0 ok");
    r.c.help(None, T0).unwrap();
    r.script("C: HELP\nS: 214-2.0.0 commands\nS: 214 2.0.0 MAIL RCPT");
    r.c.help(Some("MAIL"), T0).unwrap();
    r.script("C: HELP MAIL\nS: 214 MAIL FROM:<path>");
    r.c.vrfy("bob", T0).unwrap();
    r.script("C: VRFY bob\nS: 252 2.5.2 cannot verify");
    r.c.expn("staff", T0).unwrap();
    r.script("C: EXPN staff\nS: 250-<a@y.org>\nS: 250 <b@y.org>");
    r.c.quit(T0);
    r.script("C: QUIT\nS: 221 bye");
    assert_eq!(
        replies(&r),
        [
            ("MAIL FROM:<a@x.org> BODY=8BITMIME".to_string(), 250),
            ("RCPT TO:<b@y.org>".into(), 251),
            ("DATA".into(), 354),
            ("end of data".into(), 250),
            ("RSET".into(), 250),
            ("HELP".into(), 214),
            ("HELP MAIL".into(), 214),
            ("VRFY bob".into(), 252),
            ("EXPN staff".into(), 250),
        ]
    );
    let Some(Event::Reply { reply, .. }) = r
        .events
        .iter()
        .find(|e| matches!(e, Event::Reply { command, .. } if command == "EXPN staff"))
    else {
        panic!()
    };
    assert_eq!(reply.lines(), ["<a@y.org>", "<b@y.org>"]);
    assert_eq!(r.closed(), Some(&None));
    let transcript = r.c.take_transcript();
    let text: Vec<&str> = transcript.iter().map(|l| l.text.as_str()).collect();
    assert!(text.contains(&"<37 octets of message content>"), "{text:?}");
    assert!(text.contains(&"250 2.0.0 queued as 42"), "{text:?}");
}

#[test]
fn failures_are_replies_and_keep_the_state_right() {
    let mut r = ready();
    // A refused MAIL opens nothing: RCPT is a misuse, MAIL may be retried.
    r.c.mail("a@x.org", &[], T0).unwrap();
    r.script("C: MAIL FROM:<a@x.org>\nS: 550 5.7.1 go away");
    assert!(misuse(r.c.rcpt("b@y.org", T0)).contains("no MAIL FROM"));
    r.c.mail("", &[], T0).unwrap();
    r.script("C: MAIL FROM:<>\nS: 250 ok");
    // A refused recipient: DATA needs an accepted one.
    r.c.rcpt("nobody@y.org", T0).unwrap();
    r.script("C: RCPT TO:<nobody@y.org>\nS: 550 5.1.1 unknown");
    assert!(misuse(r.c.data(T0)).contains("no recipient"));
    r.c.rcpt("b@y.org", T0).unwrap();
    r.script("C: RCPT TO:<b@y.org>\nS: 250 ok");
    // A refused DATA: no content may follow, the transaction stays open.
    r.c.data(T0).unwrap();
    r.script("C: DATA\nS: 451 4.3.0 try later");
    assert!(misuse(r.c.data_chunk(b"x")).contains("outside DATA"));
    assert!(misuse(r.c.data_end(T0)).contains("outside DATA"));
    r.c.data(T0).unwrap();
    r.script("C: DATA\nS: 354 go");
    r.c.data_chunk(b"x").unwrap();
    r.c.data_end(T0).unwrap();
    r.script("C: x\nC: .\nS: 554 5.6.0 rejected");
    // Whatever the final reply, the transaction is over.
    assert!(misuse(r.c.rcpt("b@y.org", T0)).contains("no MAIL FROM"));
    r.c.rset(T0).unwrap();
    r.script("C: RSET\nS: 500 what");
    r.c.help(Some("x"), T0).unwrap();
    r.script("C: HELP x\nS: 502 5.5.1 no help");
    r.c.vrfy("bob", T0).unwrap();
    r.script("C: VRFY bob\nS: 550 5.1.1 unknown");
    r.c.expn("staff", T0).unwrap();
    r.script("C: EXPN staff\nS: 502 5.5.1 disabled");
    let codes: Vec<u16> = replies(&r).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        codes,
        [550, 250, 550, 250, 451, 354, 554, 500, 502, 550, 502]
    );
    assert!(!r.c.is_closed());
    assert!(r.c.is_idle());
}

#[test]
fn misuse_is_a_typed_error_and_writes_nothing() {
    let mut r = Run::new(cfg());
    assert!(misuse(r.c.mail("a@x.org", &[], T0)).contains("not ready"));
    assert!(misuse(r.c.help(None, T0)).contains("not ready"));
    r.script(READY);
    assert!(misuse(r.c.rcpt("b@y.org", T0)).contains("no MAIL FROM"));
    assert!(misuse(r.c.data(T0)).contains("no MAIL FROM"));
    assert!(misuse(r.c.data_chunk(b"x")).contains("outside DATA"));
    assert!(misuse(r.c.data_end(T0)).contains("outside DATA"));
    // One command at a time.
    r.c.mail("a@x.org", &[], T0).unwrap();
    assert!(misuse(r.c.rcpt("b@y.org", T0)).contains("MAIL FROM:<a@x.org> is still awaited"));
    assert!(misuse(r.c.noop(T0)).contains("still awaited"));
    r.script("C: MAIL FROM:<a@x.org>\nS: 250 ok");
    assert!(misuse(r.c.mail("a@x.org", &[], T0)).contains("already open"));
    // A queued message cannot start inside a low-level transaction.
    let e = r.c.send(
        env("a@x.org", &["b@y.org"]),
        Box::new(RawMessage::new("x")),
        T0,
    );
    assert!(matches!(e, Err(SmtpError::Misuse(_))), "{e:?}");
    // NOOP is fine between commands.
    r.c.noop(T0).unwrap();
    r.script("C: NOOP\nS: 250 ok");
    assert!(matches!(r.events.last(), Some(Event::Noop(_))));
    r.c.rcpt("b@y.org", T0).unwrap();
    r.script("C: RCPT TO:<b@y.org>\nS: 250 ok");
    r.c.data(T0).unwrap();
    r.script("C: DATA\nS: 354 go");
    // Inside the content, commands would be content: refused.
    for e in [r.c.rset(T0), r.c.noop(T0), r.c.vrfy("x", T0), r.c.data(T0)] {
        assert!(misuse(e).contains("content is being sent"));
    }
    r.c.data_end(T0).unwrap();
    r.script("C: .\nS: 250 ok");
    // A queued message blocks low-level commands until it is done.
    r.send(env("a@x.org", &["b@y.org"]), "x");
    assert!(misuse(r.c.mail("a@x.org", &[], T0)).contains("queued"));
    r.script("C: MAIL FROM:<a@x.org>\nS: 250 ok\nC: RCPT TO:<b@y.org>\nS: 250 ok\nC: DATA\nS: 354 go\nC: x\nC: .\nS: 250 ok");
    assert_eq!(r.sent().len(), 1);
    r.c.rset(T0).unwrap();
    r.script("C: RSET\nS: 250 ok");
    r.c.quit(T0);
    r.script("C: QUIT\nS: 221 bye");
    assert_eq!(r.c.mail("a@x.org", &[], T0), Err(SmtpError::NotConnected));
    assert_eq!(r.c.data_chunk(b"x"), Err(SmtpError::NotConnected));
}

#[test]
fn arguments_are_checked_like_transactions() {
    let mut r = ready();
    for bad in [
        "a@x.org\r\nRCPT TO:<c@d>",
        "<a@x.org>",
        "a b@x.org",
        "a@x.org>",
        "a\0@x",
    ] {
        assert_eq!(
            r.c.mail(bad, &[], T0),
            Err(SmtpError::InvalidAddress(bad.into()))
        );
    }
    for bad in ["SIZE=", "A B", "X=\r\nRSET", "=1", "BODY=8BIT MIME"] {
        let e = r.c.mail("a@x.org", &[bad.to_string()], T0);
        assert!(
            matches!(e, Err(SmtpError::InvalidArgument(_))),
            "{bad:?}: {e:?}"
        );
    }
    // Non-ASCII needs SMTPUTF8, which this server does not offer.
    assert_eq!(
        r.c.mail("jöran@x.org", &[], T0),
        Err(SmtpError::SmtpUtf8Required)
    );
    r.c.mail("a@x.org", &[], T0).unwrap();
    r.script("C: MAIL FROM:<a@x.org>\nS: 250 ok");
    assert_eq!(
        r.c.rcpt("jöran@y.org", T0),
        Err(SmtpError::SmtpUtf8Required)
    );
    for bad in ["", "b@y.org\r\nDATA", "<b@y.org>"] {
        assert_eq!(
            r.c.rcpt(bad, T0),
            Err(SmtpError::InvalidAddress(bad.into()))
        );
    }
    for bad in ["", " ", "x\r\nQUIT", "x\ny"] {
        assert!(matches!(
            r.c.vrfy(bad, T0),
            Err(SmtpError::InvalidArgument(_))
        ));
        assert!(matches!(
            r.c.expn(bad, T0),
            Err(SmtpError::InvalidArgument(_))
        ));
        assert!(matches!(
            r.c.help(Some(bad), T0),
            Err(SmtpError::InvalidArgument(_))
        ));
    }
    assert_eq!(r.drain(), "");
    assert_eq!(
        SmtpError::InvalidArgument(String::new()).emailjs_code(),
        EmailjsCode::Error
    );
    assert_eq!(
        SmtpError::Misuse(String::new()).emailjs_code(),
        EmailjsCode::Error
    );
}

#[test]
fn smtputf8_is_added_when_offered() {
    let mut r = Run::new(cfg());
    r.script("S: 220 mx\nC: EHLO localhost\nS: 250-mx\nS: 250 SMTPUTF8");
    r.c.mail("jöran@x.org", &[], T0).unwrap();
    r.script("C: MAIL FROM:<jöran@x.org> SMTPUTF8\nS: 250 ok");
    r.c.rcpt("ünï@y.org", T0).unwrap();
    r.script("C: RCPT TO:<ünï@y.org>\nS: 250 ok");
    r.c.rset(T0).unwrap();
    r.script("C: RSET\nS: 250 ok");
    // Asked for explicitly, with an ASCII sender: UTF-8 recipients may follow.
    r.c.mail("a@x.org", &["smtputf8".into()], T0).unwrap();
    r.script("C: MAIL FROM:<a@x.org> smtputf8\nS: 250 ok");
    r.c.rcpt("ünï@y.org", T0).unwrap();
    r.script("C: RCPT TO:<ünï@y.org>\nS: 250 ok");
}

#[test]
fn service_closing_421_on_each_command() {
    type Call = fn(&mut Client) -> Result<(), SmtpError>;
    let steps: [(&str, Call); 5] = [
        ("MAIL FROM:<a@x.org>", |c| c.mail("a@x.org", &[], T0)),
        ("RSET", |c| c.rset(T0)),
        ("HELP", |c| c.help(None, T0)),
        ("VRFY b", |c| c.vrfy("b", T0)),
        ("EXPN l", |c| c.expn("l", T0)),
    ];
    for (shown, call) in steps {
        let mut r = ready();
        call(&mut r.c).unwrap();
        r.script(&format!("C: {shown}\nS: 421 4.3.2 bye"));
        let Some(Some(SmtpError::ServiceClosing { command, .. })) = r.closed() else {
            panic!("{shown}: {:?}", r.events)
        };
        assert_eq!(command.as_deref(), Some(shown));
        assert!(replies(&r).is_empty());
        assert_eq!(r.c.rset(T0), Err(SmtpError::NotConnected));
    }
    // During the final reply.
    let mut r = in_data();
    r.c.data_end(T0).unwrap();
    r.script("C: .\nS: 421 4.3.2 bye");
    assert!(matches!(
        r.closed(),
        Some(Some(SmtpError::ServiceClosing { command: Some(c), .. })) if c == "end of data"
    ));
}

#[test]
fn deadlines_follow_rfc5321() {
    let min = |m: u64| Duration::from_secs(60 * m);
    let mut r = ready();
    assert_eq!(r.c.poll_timeout(), None);
    r.c.mail("a@x.org", &[], T0).unwrap();
    assert_eq!(r.c.poll_timeout(), Some(T0 + min(5)));
    r.script("C: MAIL FROM:<a@x.org>\nS: 250 ok");
    r.c.rcpt("b@y.org", T0).unwrap();
    assert_eq!(r.c.poll_timeout(), Some(T0 + min(5)));
    r.script("C: RCPT TO:<b@y.org>\nS: 250 ok");
    r.c.data(T0).unwrap();
    assert_eq!(r.c.poll_timeout(), Some(T0 + min(2)));
    r.script("C: DATA\nS: 354 go");
    // The client is not waiting while it writes content.
    r.c.data_chunk(b"x").unwrap();
    assert_eq!(r.c.poll_timeout(), None);
    let t1 = T0 + Duration::from_secs(30);
    r.c.data_end(t1).unwrap();
    assert_eq!(r.c.poll_timeout(), Some(t1 + min(10)));
    assert_eq!(r.drain(), "x\r\n.\r\n");
    r.c.handle_timeout(t1 + min(10));
    r.drain();
    assert!(matches!(
        r.closed(),
        Some(Some(SmtpError::Timeout { waiting_for })) if waiting_for == "end of data"
    ));
    // One configured timeout replaces them all.
    let mut r = Run::new(Config {
        timeout: Some(Duration::from_secs(7)),
        ..cfg()
    });
    r.script(READY);
    r.c.vrfy("bob", T0).unwrap();
    assert_eq!(r.c.poll_timeout(), Some(T0 + Duration::from_secs(7)));
}

#[test]
fn quit_abandons_an_open_transaction_but_ends_content_first() {
    let mut r = ready();
    r.c.mail("a@x.org", &[], T0).unwrap();
    r.c.quit(T0);
    r.script("C: MAIL FROM:<a@x.org>\nS: 250 ok\nC: QUIT\nS: 221 bye");
    assert_eq!(r.closed(), Some(&None));

    let mut r = in_data();
    r.c.quit(T0);
    // QUIT now would be message content: it waits for the end of data.
    assert_eq!(r.drain(), "");
    r.c.data_chunk(b"QUIT\r\n").unwrap();
    r.c.data_end(T0).unwrap();
    r.script("C: QUIT\nC: .\nS: 250 queued\nC: QUIT\nS: 221 bye");
    assert_eq!(replies(&r).last().map(|(_, c)| *c), Some(250));
    assert_eq!(r.closed(), Some(&None));
}

#[test]
fn queued_work_runs_after_a_low_level_command() {
    let mut r = ready();
    r.c.help(None, T0).unwrap();
    r.send(env("a@x.org", &["b@y.org"]), "x");
    r.script("C: HELP\nS: 214 ok\nC: MAIL FROM:<a@x.org>\nS: 250 ok\nC: RCPT TO:<b@y.org>\nS: 250 ok\nC: DATA\nS: 354 go\nC: x\nC: .\nS: 250 ok");
    assert_eq!(r.sent().len(), 1);
    assert_eq!(replies(&r), [("HELP".to_string(), 214)]);
}

/// A reply that arrives before the end of data was taken (the `.` still in
/// the output) cannot answer it: out of turn, as on the queued path.
#[test]
fn a_reply_before_the_end_of_data_left_is_out_of_turn() {
    let mut r = in_data();
    r.c.data_chunk(b"Subject: x\r\n\r\nhi\r\n").unwrap();
    r.c.data_end(T0).unwrap();
    r.c.receive(b"250 queued\r\n", T0);
    r.drain();
    assert!(
        !replies(&r).iter().any(|(c, _)| c == "end of data"),
        "{:?}",
        r.events
    );
    assert!(
        matches!(r.closed(), Some(Some(SmtpError::Protocol(m))) if m.contains("unexpected reply")),
        "{:?}",
        r.closed()
    );
}
