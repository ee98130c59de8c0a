//! The incremental SMTP reply parser (`smtp::reply::ReplyParser`).
//!
//! Input: byte 0 picks the line bound (0: the default 4096, else 8 + b),
//! byte 1 the whole-reply bound (0: the default 64 KiB, else 8 + 4·b),
//! byte 2 how the rest is split into feeds (0: one byte at a time, else
//! pseudo-random pieces of 1 to 2·b octets); the rest is what the server
//! sends.
//!
//! Properties:
//! * the replies and the error are the same for every split, and the same
//!   as a straightforward whole-input reading of RFC 5321 §4.2 (a second,
//!   independent implementation here);
//! * the parser never holds more than its bounds: once an unterminated
//!   line passes the line bound, or a multiline reply the reply bound, the
//!   error is reported at once, whatever comes after;
//! * every reply has a code from 200 to 599, no line break in its lines,
//!   and an enhanced code, when it has one, of the reply's class; the
//!   accessors (`text`, `Display`, EHLO capabilities) do not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeograph::smtp::reply::{ReplyParser, DEFAULT_MAX_LINE, DEFAULT_MAX_REPLY};
use mimeograph::smtp::{Capabilities, Reply, SmtpError};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max_line = match data[0] {
        0 => DEFAULT_MAX_LINE,
        b => 8 + usize::from(b),
    };
    let max_reply = match data[1] {
        0 => DEFAULT_MAX_REPLY,
        b => 8 + 4 * usize::from(b),
    };
    let split = data[2];
    let stream = &data[3..];

    let expected = reference(stream, max_line, max_reply);

    // All at once.
    let mut whole = ReplyParser::new(max_line, max_reply);
    whole.feed(stream);
    let got_whole = drain(&mut whole);
    compare(&got_whole, &expected, "whole input");

    // In pieces, taking replies out after every piece.
    let mut parser = ReplyParser::new(max_line, max_reply);
    let mut got = Vec::new();
    let mut fed = 0usize;
    let mut rng = u32::from(split).wrapping_mul(0x9E37_79B9) | 1;
    while fed < stream.len() {
        let n = if split == 0 {
            1
        } else {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            1 + (rng as usize) % (2 * usize::from(split))
        };
        let end = (fed + n).min(stream.len());
        parser.feed(&stream[fed..end]);
        fed = end;
        got.extend(drain(&mut parser));
        // Bounded buffering: an overlong line is an error as soon as it is
        // seen, not when (if ever) its line feed arrives.
        let tail = stream[..fed]
            .iter()
            .rev()
            .take_while(|&&b| b != b'\n')
            .count();
        if tail > max_line {
            assert!(
                got.iter().any(|r| r.is_err()),
                "{tail} octets of an unterminated line held (bound {max_line})"
            );
        }
    }
    compare(&got, &expected, "split input");

    for reply in got.iter().flatten() {
        check_reply(reply);
    }
});

fn drain(p: &mut ReplyParser) -> Vec<Result<Reply, SmtpError>> {
    let mut out = Vec::new();
    while let Some(r) = p.next_reply() {
        let err = r.is_err();
        out.push(r);
        if err {
            // After an error, nothing more (input after it is ignored).
            assert!(p.next_reply().is_none(), "a reply after the error");
            break;
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Want {
    Reply(u16, Vec<String>),
    /// Over a bound (the line bound or the reply bound, by its value).
    TooLong(usize),
    Malformed,
}

/// RFC 5321 §4.2 read plainly: lines end with LF (an optional CR before
/// it is dropped), `code SP text` ends a reply, `code - text` continues
/// it with the same code, a code is three digits starting with 2 to 5.
/// A line (with its CR) over `max_line` octets, or a reply whose lines
/// (counted with CRLF) pass `max_reply` octets, is an error; so is an
/// unterminated line already over `max_line`. Nothing is read after an
/// error.
fn reference(stream: &[u8], max_line: usize, max_reply: usize) -> Vec<Want> {
    let mut out = Vec::new();
    let mut rest = stream;
    let mut code: Option<u16> = None;
    let mut lines = Vec::new();
    let mut size = 0usize;
    loop {
        let Some(p) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > max_line {
                out.push(Want::TooLong(max_line));
            }
            return out;
        };
        let raw = &rest[..p];
        rest = &rest[p + 1..];
        if raw.len() > max_line {
            out.push(Want::TooLong(max_line));
            return out;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let digits_ok = line.len() >= 3
            && line[..3].iter().all(u8::is_ascii_digit)
            && (b'2'..=b'5').contains(&line[0]);
        if !digits_ok {
            out.push(Want::Malformed);
            return out;
        }
        let c = line[..3]
            .iter()
            .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        let last = match line.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => {
                out.push(Want::Malformed);
                return out;
            }
        };
        if code.is_some_and(|k| k != c) {
            out.push(Want::Malformed);
            return out;
        }
        size += line.len() + 2;
        if size > max_reply {
            out.push(Want::TooLong(max_reply));
            return out;
        }
        code = Some(c);
        // Lossy UTF-8, every control character but HT shown as U+FFFD.
        lines.push(
            String::from_utf8_lossy(line.get(4..).unwrap_or_default())
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\t' {
                        '\u{FFFD}'
                    } else {
                        c
                    }
                })
                .collect(),
        );
        if last {
            out.push(Want::Reply(c, std::mem::take(&mut lines)));
            code = None;
            size = 0;
        }
    }
}

fn compare(got: &[Result<Reply, SmtpError>], want: &[Want], how: &str) {
    let got: Vec<Want> = got
        .iter()
        .map(|r| match r {
            Ok(reply) => Want::Reply(reply.code(), reply.lines().to_vec()),
            Err(SmtpError::ReplyTooLong { limit }) => Want::TooLong(*limit),
            Err(SmtpError::Protocol(_)) => Want::Malformed,
            Err(e) => panic!("{how}: unexpected error kind {e:?}"),
        })
        .collect();
    assert_eq!(got, want, "{how}");
}

fn check_reply(reply: &Reply) {
    assert!((200..600).contains(&reply.code()), "{reply:?}");
    assert!(!reply.lines().is_empty(), "{reply:?}");
    for line in reply.lines() {
        assert!(!line.contains('\n'), "line feed in {line:?}");
    }
    if let Some(e) = reply.enhanced_code() {
        assert_eq!(u16::from(e.class), reply.code() / 100, "{reply:?}");
        assert!(e.subject <= 999 && e.detail <= 999, "{reply:?}");
    }
    let _ = reply.text();
    let _ = reply.to_string();
    let caps = Capabilities::from_ehlo(reply);
    assert!(caps.extensions.len() < reply.lines().len().max(1));
}
