//! Property tests: reply splitting does not matter, DATA streams are
//! smuggling-proof, and no server input makes the engine panic.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::envelope::{Envelope, EnvelopeAddress};

fn addr(a: &str) -> EnvelopeAddress {
    EnvelopeAddress::new(a, Some(a.to_string()))
}

fn env(to: &[&str]) -> Envelope {
    Envelope {
        from: Some(addr("a@x.org")),
        to: to.iter().map(|a| addr(a)).collect(),
    }
}

/// A conversation: configuration and the server's turns (each one write).
struct Scenario {
    config: Config,
    turns: Vec<&'static str>,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            config: Config {
                tls: TlsPolicy::Never,
                credentials: Some(Credentials::new("tim", "tanstaaftanstaaf")),
                allow_insecure_auth: true,
                transcript: true,
                ..Config::default()
            },
            turns: vec![
                "220 mx ESMTP\r\n",
                "250-mx\r\n250 AUTH CRAM-MD5\r\n",
                "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
                "235 ok\r\n",
                "250 ok\r\n",
                "550 5.1.1 no\r\n",
                "250 ok\r\n",
                "354 go\r\n",
                "250 2.0.0 queued\r\n",
                "250 ok\r\n",
                "450 4.7.1 greylisted\r\n",
                "250 reset\r\n",
                "250 noop\r\n",
                "221 bye\r\n",
            ],
        },
        Scenario {
            config: Config {
                tls: TlsPolicy::Required,
                transcript: true,
                ..Config::default()
            },
            turns: vec![
                "220 mx\n",
                "250-mx\n250-STARTTLS\n250 PIPELINING\n",
                "220 go\n",
                "250-mx\n250-PIPELINING\n250-CHUNKING\n250-SIZE 0\n250 8BITMIME\n",
                "250 ok\n250 ok\n550 no\n250 ok\n",
                "250 ok\n250 ok\n451 later\n",
                "250 reset\n",
                "250 noop\n",
                "221 bye\n",
            ],
        },
    ]
}

fn start(s: &Scenario) -> Client {
    let mut c = Client::new(s.config.clone(), false, Duration::ZERO).unwrap();
    let t = Duration::ZERO;
    c.send(
        env(&["b@y.org", "c@y.org"]),
        Box::new(RawMessage::new(".hi\n.\r\n")),
        t,
    )
    .unwrap();
    c.send(
        env(&["b@y.org"]),
        Box::new(RawMessage::new("second\r\n")),
        t,
    )
    .unwrap();
    c.noop(t).unwrap();
    c.quit(t);
    c
}

/// Plays the scenario, each turn cut at `cuts` (positions modulo the
/// turn's length); returns the output bytes, events and transcript.
fn play(s: &Scenario, cuts: &[usize], extra: &[u8]) -> (Vec<u8>, Vec<Event>, Vec<TranscriptLine>) {
    let mut c = start(s);
    let mut out = Vec::new();
    let mut events = Vec::new();
    let drain = |c: &mut Client, out: &mut Vec<u8>, events: &mut Vec<Event>| {
        while let Some(b) = c.poll_transmit() {
            out.extend(b);
        }
        while let Some(e) = c.poll_event() {
            if e == Event::StartTls {
                c.tls_established(Duration::ZERO);
            }
            events.push(e);
        }
        // tls_established may have produced output.
        while let Some(b) = c.poll_transmit() {
            out.extend(b);
        }
    };
    drain(&mut c, &mut out, &mut events);
    let mut cut_iter = cuts.iter().cycle();
    for turn in &s.turns {
        let bytes = turn.as_bytes();
        let mut positions: Vec<usize> = (0..3)
            .filter_map(|_| cut_iter.next())
            .map(|p| p % (bytes.len() + 1))
            .collect();
        positions.push(0);
        positions.push(bytes.len());
        positions.sort_unstable();
        for w in positions.windows(2) {
            c.receive(&bytes[w[0]..w[1]], Duration::ZERO);
            drain(&mut c, &mut out, &mut events);
        }
    }
    for piece in extra.chunks(7) {
        c.receive(piece, Duration::ZERO);
        drain(&mut c, &mut out, &mut events);
    }
    (out, events, c.take_transcript())
}

fn play_bytewise(s: &Scenario) -> (Vec<u8>, Vec<Event>, Vec<TranscriptLine>) {
    let mut c = start(s);
    let mut out = Vec::new();
    let mut events = Vec::new();
    let drain = |c: &mut Client, out: &mut Vec<u8>, events: &mut Vec<Event>| loop {
        let mut progress = false;
        while let Some(b) = c.poll_transmit() {
            out.extend(b);
            progress = true;
        }
        while let Some(e) = c.poll_event() {
            if e == Event::StartTls {
                c.tls_established(Duration::ZERO);
            }
            events.push(e);
            progress = true;
        }
        if !progress {
            break;
        }
    };
    drain(&mut c, &mut out, &mut events);
    for turn in &s.turns {
        for b in turn.as_bytes() {
            c.receive(std::slice::from_ref(b), Duration::ZERO);
            drain(&mut c, &mut out, &mut events);
        }
    }
    (out, events, c.take_transcript())
}

#[test]
fn scenarios_end_as_expected() {
    for s in scenarios() {
        let (out, events, transcript) = play(&s, &[0], &[]);
        let sent = events
            .iter()
            .filter(|e| matches!(e, Event::MessageSent(_)))
            .count();
        let failed = events
            .iter()
            .filter(|e| matches!(e, Event::MessageFailed { .. }))
            .count();
        assert_eq!((sent, failed), (1, 1), "{events:?}");
        assert_eq!(events.last(), Some(&Event::Closed { error: None }));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("..hi\r\n..\r\n") || text.contains("BDAT 8 LAST\r\n.hi\r\n.\r\n"),
            "{text}"
        );
        assert!(
            !transcript.iter().any(|l| l.text.contains("dGlt")),
            "secret in transcript"
        );
        assert_eq!(play_bytewise(&s), (out, events, transcript));
    }
}

/// A DATA stream (content after the 354, terminator included) has no bare
/// CR or LF, its only end-of-data marker is the terminator, and un-stuffing
/// gives back `body` with CRLF line ends.
fn check_data_stream(stream: &[u8], body: &[u8]) -> Result<(), TestCaseError> {
    // No bare CR or LF.
    for (i, &b) in stream.iter().enumerate() {
        if b == b'\r' {
            prop_assert_eq!(stream.get(i + 1), Some(&b'\n'));
        }
        if b == b'\n' {
            prop_assert!(i > 0 && stream[i - 1] == b'\r');
        }
    }
    // The first end-of-data marker is the terminator.
    let marker = if stream.starts_with(b".\r\n") {
        Some(0)
    } else {
        stream
            .windows(5)
            .position(|w| w == b"\r\n.\r\n")
            .map(|p| p + 2)
    };
    prop_assert_eq!(marker, Some(stream.len() - 3));
    // Un-stuffing gives back the CRLF-normalised body.
    let mut unstuffed = Vec::new();
    for line in stream[..stream.len() - 3].split_inclusive(|&b| b == b'\n') {
        unstuffed.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    // The composer's CRLF normaliser, an implementation apart from the
    // engine's encoder.
    let mut expected = crate::encoding::text::normalize_crlf(body).into_owned();
    if !expected.is_empty() && !expected.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    prop_assert_eq!(unstuffed, expected);
    Ok(())
}

proptest! {
    #[test]
    fn splitting_replies_changes_nothing(cuts in proptest::collection::vec(0usize..200, 1..40)) {
        for s in scenarios() {
            let whole = play(&s, &[0], &[]);
            let split = play(&s, &cuts, &[]);
            prop_assert_eq!(&whole, &split);
        }
    }

    #[test]
    fn data_stream_is_smuggling_proof(
        body in proptest::collection::vec(prop::sample::select(vec![b'\r', b'\n', b'.', b'a', 0xc3]), 0..300),
        chunk in 1usize..40,
    ) {
        let caps = Capabilities { eight_bit_mime: true, ..Capabilities::default() };
        let cmds = transaction(&env(&["b@y.org"]), RawMessage::new(body.clone()).with_chunk_size(chunk), &caps).unwrap();
        let Some(Command::Content(stream)) = cmds.last() else { panic!("{cmds:?}") };
        check_data_stream(stream, &body)?;
    }

    #[test]
    fn manual_data_chunks_split_anywhere_are_smuggling_proof(
        body in proptest::collection::vec(prop::sample::select(vec![b'\r', b'\n', b'.', b'a', 0xc3]), 0..300),
        mut cuts in proptest::collection::vec(0usize..300, 0..12),
    ) {
        let t = Duration::ZERO;
        let mut c = Client::new(Config { tls: TlsPolicy::Never, ..Config::default() }, false, t).unwrap();
        let drain = |c: &mut Client| {
            let mut out = Vec::new();
            while let Some(b) = c.poll_transmit() { out.extend(b); }
            out
        };
        c.receive(b"220 mx\r\n", t);
        let mut before = drain(&mut c);
        c.receive(b"250 mx\r\n", t);
        c.mail("a@x.org", &[], t).unwrap();
        before.extend(drain(&mut c));
        c.receive(b"250 ok\r\n", t);
        c.rcpt("b@y.org", t).unwrap();
        before.extend(drain(&mut c));
        c.receive(b"250 ok\r\n", t);
        c.data(t).unwrap();
        before.extend(drain(&mut c));
        c.receive(b"354 go\r\n", t);
        before.extend(drain(&mut c));
        prop_assert!(before.ends_with(b"DATA\r\n"));
        cuts.push(0);
        cuts.push(body.len());
        cuts.iter_mut().for_each(|x| *x = (*x).min(body.len()));
        cuts.sort_unstable();
        for w in cuts.windows(2) {
            c.data_chunk(&body[w[0]..w[1]]).unwrap();
        }
        c.data_end(t).unwrap();
        let stream = drain(&mut c);
        check_data_stream(&stream, &body)?;
        c.receive(b"250 queued\r\n", t);
        let replies: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        let last = replies.last().cloned();
        let ended = matches!(last, Some(Event::Reply { command, reply }) if command == "end of data" && reply.code() == 250);
        prop_assert!(ended, "{:?}", replies);
        prop_assert!(c.is_idle());
    }

    #[test]
    fn arbitrary_server_bytes_never_panic(
        prefix in 0usize..14,
        junk in proptest::collection::vec(any::<u8>(), 0..600),
        lines in proptest::collection::vec(
            prop::sample::select(vec!["250 ok\r\n", "250-", "354 go\r\n", "334 \r\n", "334 eyJ9\r\n", "220 x\r\n", "421 x\r\n", "550 no\r\n", "235 ok\r\n", "\r\n", "\n", "999 x\r\n"]), 0..30),
        timeout_at in proptest::option::of(0u64..2000),
    ) {
        for mut s in scenarios() {
            s.turns.truncate(prefix.min(s.turns.len()));
            let mut extra: Vec<u8> = lines.concat().into_bytes();
            extra.extend_from_slice(&junk);
            let mut c = start(&s);
            let (_, events, _) = play(&s, &[1, 5, 9], &extra);
            let closes = events.iter().filter(|e| matches!(e, Event::Closed { .. })).count();
            prop_assert!(closes <= 1);
            if let Some(t) = timeout_at {
                c.handle_timeout(Duration::from_secs(t));
                c.tls_established(Duration::from_secs(t));
                c.connection_closed(Duration::from_secs(t));
                while c.poll_transmit().is_some() {}
                let mut closed = 0;
                while let Some(e) = c.poll_event() { if matches!(e, Event::Closed { .. }) { closed += 1; } }
                prop_assert_eq!(closed, 1);
            }
        }
    }
}
