//! Server replies (RFC 5321 §4.2) and an incremental, bounded reply parser.

use std::collections::VecDeque;
use std::fmt;

use super::error::SmtpError;

/// An enhanced mail system status code (RFC 3463), e.g. `5.1.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// The class: 2 (success), 4 (persistent transient) or 5 (permanent).
    pub class: u8,
    /// The subject (0 to 999).
    pub subject: u16,
    /// The detail (0 to 999).
    pub detail: u16,
}

impl EnhancedCode {
    /// Parses `class.subject.detail` at the start of `text` (followed by a
    /// space or the end); returns the code and the rest of the text.
    pub fn parse_prefix(text: &str) -> Option<(EnhancedCode, &str)> {
        let end = text.find(' ').unwrap_or(text.len());
        let mut parts = text[..end].split('.');
        let class = parts.next()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let num = |s: &str, max_len: usize| -> Option<u16> {
            if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let class = num(class, 1)? as u8;
        if !matches!(class, 2 | 4 | 5) {
            return None;
        }
        let code = EnhancedCode {
            class,
            subject: num(subject, 3)?,
            detail: num(detail, 3)?,
        };
        Some((code, text[end..].trim_start_matches(' ')))
    }
}

impl EnhancedCode {
    /// Appends the code as [`Display`](fmt::Display) writes it, without the
    /// formatting machinery (the wasm bindings write one per reply).
    pub fn push_to(&self, out: &mut String) {
        let num = |out: &mut String, n: u16| super::command::push_decimal(out, u64::from(n));
        num(out, u16::from(self.class));
        out.push('.');
        num(out, self.subject);
        out.push('.');
        num(out, self.detail);
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One complete (possibly multiline) server reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl Reply {
    /// Builds a reply from its code and text lines (the text after
    /// `250-` / `250 `). The enhanced code is taken from the first line
    /// when its class matches the reply's class.
    pub fn new(code: u16, lines: Vec<String>) -> Reply {
        let enhanced = lines
            .first()
            .and_then(|l| EnhancedCode::parse_prefix(l))
            .map(|(c, _)| c)
            .filter(|c| u16::from(c.class) == code / 100);
        Reply {
            code,
            enhanced,
            lines,
        }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, when the server sent one.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text lines as received (after the code and separator).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The text, lines joined with `\n`, without enhanced codes.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.push_text(&mut out);
        out
    }

    /// Appends [`Reply::text`] to `out`.
    pub fn push_text(&self, out: &mut String) {
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match (self.enhanced, EnhancedCode::parse_prefix(line)) {
                (Some(e), Some((c, rest))) if c == e => out.push_str(rest),
                _ => out.push_str(line),
            }
        }
    }

    /// 2xx: the command succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: the server waits for more (354, 334).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: a transient failure; the command may succeed later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: a permanent failure.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for (i, line) in self.lines.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { " / " })?;
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// Default bound on one reply line (RFC 5321 allows 512 octets; be generous).
pub const DEFAULT_MAX_LINE: usize = 4096;
/// Default bound on one whole (multiline) reply.
pub const DEFAULT_MAX_REPLY: usize = 64 * 1024;

/// Incremental reply parser: feed it bytes as they arrive, in any split,
/// and take complete replies out. Accepts CRLF and bare LF line ends.
#[derive(Debug)]
pub struct ReplyParser {
    partial: Vec<u8>,
    code: Option<u16>,
    lines: Vec<String>,
    reply_size: usize,
    ready: VecDeque<Reply>,
    error: Option<SmtpError>,
    /// An error was found: every later input is ignored, also once the
    /// error itself has been taken by `next_reply`.
    failed: bool,
    max_line: usize,
    max_reply: usize,
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser::new(DEFAULT_MAX_LINE, DEFAULT_MAX_REPLY)
    }
}

impl ReplyParser {
    /// A parser that rejects lines longer than `max_line` and replies longer
    /// than `max_reply` octets.
    pub fn new(max_line: usize, max_reply: usize) -> ReplyParser {
        ReplyParser {
            partial: Vec::new(),
            code: None,
            lines: Vec::new(),
            reply_size: 0,
            ready: VecDeque::new(),
            error: None,
            failed: false,
            max_line: max_line.max(8),
            max_reply: max_reply.max(8),
        }
    }

    /// Feeds received bytes. Errors are reported by [`ReplyParser::next_reply`]
    /// after the replies that came before them; input after an error is
    /// ignored, also after the error was taken.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !self.failed && !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(p) => {
                    if self.partial.len() + p > self.max_line {
                        self.fail(SmtpError::ReplyTooLong {
                            limit: self.max_line,
                        });
                        return;
                    }
                    let line = if self.partial.is_empty() {
                        self.line(&data[..p])
                    } else {
                        let mut l = std::mem::take(&mut self.partial);
                        l.extend_from_slice(&data[..p]);
                        self.line(&l)
                    };
                    if let Err(e) = line {
                        self.fail(e);
                    }
                    data = &data[p + 1..];
                }
                None => {
                    if self.partial.len() + data.len() > self.max_line {
                        self.fail(SmtpError::ReplyTooLong {
                            limit: self.max_line,
                        });
                        return;
                    }
                    self.partial.extend_from_slice(data);
                    return;
                }
            }
        }
    }

    fn fail(&mut self, e: SmtpError) {
        self.error = Some(e);
        self.failed = true;
    }

    fn line(&mut self, line: &[u8]) -> Result<(), SmtpError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let bad = || {
            SmtpError::Protocol(format!(
                "malformed reply line {:?}",
                String::from_utf8_lossy(line)
            ))
        };
        if line.len() < 3
            || !line[..3].iter().all(u8::is_ascii_digit)
            || !(b'2'..=b'5').contains(&line[0])
        {
            return Err(bad());
        }
        let code = u16::from(line[0] - b'0') * 100
            + u16::from(line[1] - b'0') * 10
            + u16::from(line[2] - b'0');
        let (last, text) = match line.get(3) {
            None => (true, &[][..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(bad()),
        };
        if let Some(c) = self.code {
            if c != code {
                return Err(SmtpError::Protocol(format!(
                    "reply code changed from {c} to {code} inside a multiline reply"
                )));
            }
        }
        self.reply_size += line.len() + 2;
        if self.reply_size > self.max_reply {
            return Err(SmtpError::ReplyTooLong {
                limit: self.max_reply,
            });
        }
        self.code = Some(code);
        self.lines.push(reply_text(text));
        if last {
            self.code = None;
            self.reply_size = 0;
            self.ready
                .push_back(Reply::new(code, std::mem::take(&mut self.lines)));
        }
        Ok(())
    }

    /// The next complete reply, or the parse error that followed the
    /// replies already taken, or `None` when more input is needed.
    pub fn next_reply(&mut self) -> Option<Result<Reply, SmtpError>> {
        if let Some(r) = self.ready.pop_front() {
            return Some(Ok(r));
        }
        self.error.take().map(Err)
    }

    /// True when no byte is buffered (no pending reply, partial line or error).
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
            && self.partial.is_empty()
            && self.lines.is_empty()
            && self.error.is_none()
    }
}

/// A reply line's text as kept and shown: lossy UTF-8, with every control
/// character but HT (a bare CR, ESC, NUL, BEL…; RFC 5321 §4.2 allows none
/// in reply text) replaced by U+FFFD, so that no error message, event or
/// log line carries them raw (forged log lines, terminal escapes).
fn reply_text(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    let bad = |c: char| c.is_control() && c != '\t';
    if s.contains(bad) {
        s.chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect()
    } else {
        s.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut ReplyParser) -> Vec<Result<Reply, SmtpError>> {
        std::iter::from_fn(|| p.next_reply()).collect()
    }

    #[test]
    fn multiline_and_enhanced() {
        let mut p = ReplyParser::default();
        p.feed(b"250-mx.example.com hi\r\n250-PIPELINING\r\n250 SIZE 100\r\n550 5.1.1 <x@y>: no such user\r\n");
        let r = all(&mut p);
        assert_eq!(r.len(), 2);
        let a = r[0].as_ref().unwrap();
        assert_eq!(a.code(), 250);
        assert_eq!(a.lines(), ["mx.example.com hi", "PIPELINING", "SIZE 100"]);
        assert_eq!(a.enhanced_code(), None);
        let b = r[1].as_ref().unwrap();
        assert_eq!(b.code(), 550);
        assert_eq!(b.enhanced_code().unwrap().to_string(), "5.1.1");
        assert_eq!(b.text(), "<x@y>: no such user");
        assert!(b.is_permanent());
        assert!(p.is_empty());
    }

    #[test]
    fn split_and_lf_only() {
        let mut p = ReplyParser::default();
        for b in b"220 ready\n250-a\n250 b\n354".iter() {
            p.feed(std::slice::from_ref(b));
        }
        let r = all(&mut p);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].as_ref().unwrap().lines(), ["a", "b"]);
        assert!(!p.is_empty());
        p.feed(b"\r\n");
        assert_eq!(p.next_reply().unwrap().unwrap().code(), 354);
    }

    #[test]
    fn push_to_writes_what_display_does() {
        for (class, subject, detail) in [
            (2, 0, 0),
            (5, 1, 1),
            (4, 7, 0),
            (5, 999, 999),
            (2, 10, 65535),
        ] {
            let code = EnhancedCode {
                class,
                subject,
                detail,
            };
            let mut out = String::from("x");
            code.push_to(&mut out);
            assert_eq!(out, format!("x{code}"));
        }
        let r = Reply::new(250, vec!["2.1.5 a".into(), "2.1.5 b".into()]);
        let mut out = String::from("x");
        r.push_text(&mut out);
        assert_eq!(out, format!("x{}", r.text()));
    }

    #[test]
    fn enhanced_class_must_match() {
        let r = Reply::new(250, vec!["5.1.1 odd".into()]);
        assert_eq!(r.enhanced_code(), None);
        assert_eq!(r.text(), "5.1.1 odd");
    }

    #[test]
    fn bounded() {
        let mut p = ReplyParser::new(100, 1000);
        p.feed(&[b'2'; 101]);
        assert!(matches!(
            p.next_reply(),
            Some(Err(SmtpError::ReplyTooLong { limit: 100 }))
        ));
        let mut p = ReplyParser::new(100, 1000);
        for _ in 0..100 {
            p.feed(b"250-xxxxxxxxxxxxxxxxxx\r\n");
        }
        assert!(matches!(
            p.next_reply(),
            Some(Err(SmtpError::ReplyTooLong { limit: 1000 }))
        ));
    }

    /// A hostile server's bare CR, escape sequences, NUL or BEL never reach
    /// a reply's text (and so no error message or log line); HT and
    /// non-ASCII text stay.
    #[test]
    fn control_characters_in_reply_text_are_replaced() {
        let mut p = ReplyParser::default();
        p.feed(b"550 5.1.1 no such user\rINFO forged\x1b[2K\r\n250-a\tb \xc3\xa9\x00\r\n250 \xc2\x9bx\x07\r\n");
        let r = p.next_reply().unwrap().unwrap();
        assert_eq!(r.code(), 550);
        assert_eq!(
            r.lines(),
            ["5.1.1 no such user\u{FFFD}INFO forged\u{FFFD}[2K"]
        );
        let shown = SmtpError::Reply {
            command: "RCPT TO:<b@y.org>".into(),
            reply: r,
        }
        .to_string();
        assert!(!shown.contains(['\r', '\x1b']), "{shown:?}");
        let r = p.next_reply().unwrap().unwrap();
        assert_eq!(r.lines(), ["a\tb \u{e9}\u{FFFD}", "\u{FFFD}x\u{FFFD}"]);
    }

    /// Found by the `reply` fuzz target: once the error had been taken,
    /// more input was parsed again from the middle of the bad line (and a
    /// multiline reply could be completed across the error).
    #[test]
    fn input_after_a_taken_error_is_ignored() {
        let mut p = ReplyParser::new(8, 1000);
        p.feed(b"250 too long");
        assert!(matches!(
            p.next_reply(),
            Some(Err(SmtpError::ReplyTooLong { limit: 8 }))
        ));
        p.feed(b" still\r\n250 ok\r\n");
        assert!(p.next_reply().is_none());

        let mut p = ReplyParser::default();
        p.feed(b"250-a\r\n251 b\r\n");
        assert!(matches!(p.next_reply(), Some(Err(SmtpError::Protocol(_)))));
        p.feed(b"250 c\r\n");
        assert!(p.next_reply().is_none());
    }

    #[test]
    fn a_ten_megabyte_line_is_never_buffered() {
        // Fed in small pieces, the partial line grows up to the bound and
        // no further; what follows the error is dropped unread.
        let mut p = ReplyParser::default();
        p.feed(b"250 ");
        let piece = [b'x'; 1000];
        for _ in 0..10 * 1024 {
            p.feed(&piece);
            assert!(p.partial.capacity() <= 2 * DEFAULT_MAX_LINE);
        }
        p.feed(b"\r\n250 ok\r\n");
        assert!(matches!(
            p.next_reply(),
            Some(Err(SmtpError::ReplyTooLong {
                limit: DEFAULT_MAX_LINE
            }))
        ));
        assert!(p.next_reply().is_none());
        assert!(p.partial.len() <= DEFAULT_MAX_LINE);
    }

    #[test]
    fn malformed() {
        for bad in [
            &b"hello\r\n"[..],
            b"25\r\n",
            b"250x\r\n",
            b"650 no\r\n",
            b"250-a\r\n251 b\r\n",
        ] {
            let mut p = ReplyParser::default();
            p.feed(bad);
            assert!(
                matches!(p.next_reply(), Some(Err(SmtpError::Protocol(_)))),
                "{bad:?}"
            );
        }
        let mut p = ReplyParser::default();
        p.feed(b"250\r\n");
        assert_eq!(p.next_reply().unwrap().unwrap().lines(), [""]);
    }
}
