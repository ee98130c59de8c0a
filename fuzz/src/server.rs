//! A model of the SMTP server's side of a session, for the `engine` target.
//!
//! It reads everything the client transmits the way a server does
//! (RFC 5321, 2920, 3030, 3207, 4954, 6531), with its own decisions taken
//! from the replies the fuzzer sent, paired with the commands in order, as
//! a server would have sent them. It panics on anything a correct client
//! never sends: a bare CR or LF, a line that is not one well-formed
//! command, bytes sent before a reply the client must wait for, plaintext
//! after `STARTTLS` was accepted, AUTH in clear (unless allowed), mail in
//! clear under `TlsPolicy::Required`, an extension the server did not
//! offer, a path with a space, `<`, `>` or a control, message content that
//! ends (`CRLF.CRLF`) anywhere but at the end of a message, or anything
//! after `QUIT`.
//!
//! It records every transaction the server completed and accepted (MAIL
//! and at least one RCPT accepted, then a 2xx to the end of the data), with
//! the content as the server received it, so that the target can check
//! each `MessageSent` against it.

use std::collections::VecDeque;

use mimeograph::smtp::reply::ReplyParser;
use mimeograph::smtp::Reply;

/// What the model needs to know of the client's configuration.
#[derive(Clone, Debug)]
pub struct ClientFacts {
    /// `Config::hello_name`.
    pub hello_name: String,
    /// The link was encrypted from the start.
    pub encrypted: bool,
    /// `Config::allow_insecure_auth`.
    pub allow_insecure_auth: bool,
    /// `TlsPolicy::Required`.
    pub tls_required: bool,
    /// `Config::pipelining`.
    pub pipelining: bool,
    /// `Config::chunking`.
    pub chunking: bool,
    /// Credentials are configured.
    pub credentials: bool,
    /// Bounds of the engine's reply parser.
    pub max_reply_line: usize,
    /// Bounds of the engine's reply parser.
    pub max_reply: usize,
}

/// A command whose reply is still to be paired.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Awaited {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
    DataEnd,
    Bdat {
        last: bool,
    },
    /// RSET: a refused one leaves the transaction open.
    Rset,
    Other,
    Quit,
}

impl Awaited {
    /// RFC 2920 §3.1: the client waits for these replies before sending
    /// anything more (and for every reply when pipelining is off).
    fn syncs(&self) -> bool {
        matches!(
            self,
            Awaited::Greeting
                | Awaited::Ehlo
                | Awaited::Helo
                | Awaited::StartTls
                | Awaited::Auth
                | Awaited::Data
                | Awaited::Quit
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    /// Reading command lines.
    Command,
    /// After a 334: the next line is a SASL response.
    AuthResponse,
    /// After DATA's 354: message content until `.` alone on a line.
    Content,
    /// After `BDAT n`: `n` octets of content.
    Bdat { remaining: u64, last: bool },
    /// After STARTTLS's 220: nothing may come until the TLS handshake.
    AwaitTls,
    /// After QUIT: nothing may come at all.
    Quit,
}

/// What the server learned from EHLO.
#[derive(Clone, Debug, Default)]
struct Offers {
    pipelining: bool,
    chunking: bool,
    eight_bit: bool,
    smtputf8: bool,
    starttls: bool,
    size: Option<u64>,
    auth: Vec<String>,
}

#[derive(Clone, Debug, Default)]
struct Txn {
    mail_ok: Option<bool>,
    smtputf8: bool,
    eight_bit: bool,
    size: Option<u64>,
    rcpt_ok: Vec<Option<bool>>,
    bdat_ok: Vec<Option<bool>>,
    data_ok: Option<bool>,
    content: Vec<u8>,
    /// The end of the data was read (`.` line or `BDAT … LAST` complete).
    ended: bool,
    bdat: bool,
    data_sent: bool,
    /// Opened by the low-level `Client::mail`.
    manual: bool,
}

/// A transaction the server finished, accepted or not.
#[derive(Clone, Debug)]
pub struct Finished {
    /// MAIL and at least one RCPT accepted, and the end of the data too.
    pub accepted: bool,
    /// The content as the server received it (dot-stuffing undone).
    pub content: Vec<u8>,
    /// The replies to the RCPTs, accepted or not, in order.
    pub recipients: Vec<bool>,
    /// Claimed by a `MessageSent` already.
    pub claimed: bool,
}

/// The server's side of one session.
pub struct Server {
    facts: ClientFacts,
    unread: Vec<u8>,
    mode: Mode,
    awaited: VecDeque<Awaited>,
    replies: VecDeque<Reply>,
    parser: ReplyParser,
    offers: Option<Offers>,
    encrypted: bool,
    txn: Option<Txn>,
    /// The transaction the last RSET discarded, until its reply.
    reset_txn: Option<Txn>,
    /// Every transaction that got its final reply.
    pub finished: Vec<Finished>,
    /// Contents the server read to their end, in order (before the final
    /// reply is known).
    pub ended_contents: Vec<Vec<u8>>,
    /// Octets the client transmitted in all.
    pub transmitted: usize,
    /// Set by the target before it calls `Client::mail`: the next MAIL is
    /// a low-level one, with the caller's own parameters.
    pub manual_mail: bool,
}

fn fail(what: &str, line: &[u8]) -> ! {
    panic!(
        "server model: {what}: {:?}",
        String::from_utf8_lossy(&line[..line.len().min(200)])
    )
}

impl Server {
    /// A server that has just accepted the connection (its greeting is the
    /// first reply the fuzzer sends).
    pub fn new(facts: ClientFacts) -> Server {
        Server {
            parser: ReplyParser::new(facts.max_reply_line, facts.max_reply),
            encrypted: facts.encrypted,
            facts,
            unread: Vec::new(),
            mode: Mode::Command,
            awaited: VecDeque::from([Awaited::Greeting]),
            replies: VecDeque::new(),
            offers: None,
            txn: None,
            reset_txn: None,
            finished: Vec::new(),
            ended_contents: Vec::new(),
            transmitted: 0,
            manual_mail: false,
        }
    }

    /// The server sent these bytes (the fuzzer's), in the same call as the
    /// engine received them.
    pub fn server_sent(&mut self, bytes: &[u8]) {
        self.parser.feed(bytes);
        while let Some(Ok(reply)) = self.parser.next_reply() {
            self.replies.push_back(reply);
        }
        self.pair();
        self.read();
    }

    /// The transport finished the TLS handshake.
    pub fn tls_established(&mut self) {
        if self.mode == Mode::AwaitTls {
            self.mode = Mode::Command;
            self.encrypted = true;
            self.offers = None;
            self.txn = None;
        }
    }

    /// The client transmitted these bytes.
    pub fn client_sent(&mut self, bytes: &[u8]) {
        self.transmitted += bytes.len();
        // Line ends are CRLF everywhere: commands, content, BDAT chunks.
        let joined_at = self.unread.len().saturating_sub(1);
        self.unread.extend_from_slice(bytes);
        if let Some(i) = crate::bare_cr_or_lf(&self.unread[joined_at..]) {
            let i = joined_at + i;
            // A CR at the very end may still get its LF.
            if !(i + 1 == self.unread.len() && self.unread[i] == b'\r') {
                fail("bare CR or LF", &self.unread[i.saturating_sub(60)..]);
            }
        }
        self.read();
    }

    fn pipelining(&self) -> bool {
        self.facts.pipelining && self.offers.as_ref().is_some_and(|o| o.pipelining)
    }

    /// Pairs replies with the commands awaiting them, in order.
    fn pair(&mut self) {
        while !self.awaited.is_empty() && !self.replies.is_empty() {
            let (Some(a), Some(r)) = (self.awaited.pop_front(), self.replies.pop_front()) else {
                return;
            };
            self.on_reply(a, &r);
        }
    }

    fn on_reply(&mut self, awaited: Awaited, r: &Reply) {
        let ok = r.is_positive();
        match awaited {
            Awaited::Greeting | Awaited::Other | Awaited::Quit => {}
            Awaited::Ehlo => {
                if ok {
                    self.offers = Some(parse_offers(r));
                }
            }
            Awaited::Helo => {
                if ok {
                    self.offers = Some(Offers::default());
                }
            }
            Awaited::StartTls => {
                if r.code() == 220 {
                    self.mode = Mode::AwaitTls;
                }
            }
            Awaited::Auth => {
                if r.code() == 334 {
                    self.mode = Mode::AuthResponse;
                }
            }
            Awaited::Mail => {
                if let Some(t) = &mut self.txn {
                    t.mail_ok = Some(ok);
                }
            }
            Awaited::Rcpt => {
                if let Some(t) = &mut self.txn {
                    if let Some(slot) = t.rcpt_ok.iter_mut().find(|s| s.is_none()) {
                        *slot = Some(ok);
                    }
                }
            }
            Awaited::Data => {
                if r.code() == 354 {
                    self.mode = Mode::Content;
                    if let Some(t) = &mut self.txn {
                        t.data_ok = Some(true);
                    }
                } else if let Some(t) = &mut self.txn {
                    // Refused: the transaction goes on (more RCPT, DATA again).
                    t.data_ok = Some(false);
                    t.data_sent = false;
                }
            }
            Awaited::DataEnd => self.finish(ok),
            Awaited::Rset => {
                let before = self.reset_txn.take();
                if !ok && self.txn.is_none() {
                    self.txn = before;
                }
            }
            Awaited::Bdat { last } => {
                if let Some(t) = &mut self.txn {
                    if let Some(slot) = t.bdat_ok.iter_mut().find(|s| s.is_none()) {
                        *slot = Some(ok);
                    }
                }
                if last {
                    self.finish(ok);
                }
            }
        }
    }

    fn finish(&mut self, ok: bool) {
        let Some(t) = self.txn.take() else {
            return;
        };
        let rcpts: Vec<bool> = t.rcpt_ok.iter().map(|r| *r == Some(true)).collect();
        let accepted = ok
            && t.ended
            && t.mail_ok == Some(true)
            && rcpts.iter().any(|&r| r)
            && (!t.bdat || t.bdat_ok.iter().all(|b| *b == Some(true)))
            && (t.bdat || t.data_ok == Some(true));
        self.finished.push(Finished {
            accepted,
            content: t.content,
            recipients: rcpts,
            claimed: false,
        });
    }

    /// True when the client must wait for a reply before sending more.
    fn blocked(&self) -> bool {
        match self.awaited.back() {
            None => false,
            Some(a) => a.syncs() || !self.pipelining(),
        }
    }

    /// Reads as much of what the client sent as the server can now.
    fn read(&mut self) {
        loop {
            self.pair();
            if self.unread.is_empty() {
                return;
            }
            match self.mode.clone() {
                Mode::Quit => fail("bytes after QUIT", &self.unread),
                Mode::AwaitTls => fail(
                    "plaintext after STARTTLS was accepted, before TLS",
                    &self.unread,
                ),
                Mode::Bdat { remaining, last } => {
                    let n = (remaining as usize).min(self.unread.len());
                    let chunk: Vec<u8> = self.unread.drain(..n).collect();
                    if let Some(t) = &mut self.txn {
                        t.content.extend_from_slice(&chunk);
                    }
                    let remaining = remaining - n as u64;
                    if remaining > 0 {
                        self.mode = Mode::Bdat { remaining, last };
                        return;
                    }
                    self.mode = Mode::Command;
                    self.awaited.push_back(Awaited::Bdat { last });
                    if last {
                        self.end_content();
                    }
                }
                Mode::Content => {
                    let Some(p) = self.unread.windows(2).position(|w| w == b"\r\n") else {
                        return;
                    };
                    let line: Vec<u8> = self.unread.drain(..p + 2).collect();
                    let line = &line[..p];
                    if line == b"." {
                        self.mode = Mode::Command;
                        self.awaited.push_back(Awaited::DataEnd);
                        self.end_content();
                    } else {
                        let line = line.strip_prefix(b".").unwrap_or(line);
                        if let Some(t) = &mut self.txn {
                            t.content.extend_from_slice(line);
                            t.content.extend_from_slice(b"\r\n");
                        } else {
                            fail("content outside a transaction", line);
                        }
                    }
                }
                Mode::Command | Mode::AuthResponse => {
                    if self.blocked() {
                        fail(
                            &format!(
                                "sent before the reply to {:?} (pipelining {})",
                                self.awaited.back(),
                                self.pipelining()
                            ),
                            &self.unread,
                        );
                    }
                    let Some(p) = self.unread.windows(2).position(|w| w == b"\r\n") else {
                        return;
                    };
                    let line: Vec<u8> = self.unread.drain(..p + 2).collect();
                    let line = &line[..p];
                    if self.mode == Mode::AuthResponse {
                        self.mode = Mode::Command;
                        let ok = line == b"*"
                            || line
                                .iter()
                                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b));
                        if !ok {
                            fail("SASL response is not base64 or *", line);
                        }
                        self.awaited.push_back(Awaited::Auth);
                    } else {
                        self.command(line);
                    }
                }
            }
        }
    }

    fn end_content(&mut self) {
        let Some(t) = &mut self.txn else {
            return;
        };
        t.ended = true;
        if !t.manual && t.content.iter().any(|&b| b >= 0x80) && !t.eight_bit && !t.smtputf8 {
            fail(
                "8-bit content without BODY=8BITMIME or SMTPUTF8",
                &t.content,
            );
        }
        if t.bdat {
            if let Some(size) = t.size {
                if size != t.content.len() as u64 {
                    fail(
                        &format!("SIZE={size} but {} octets sent by BDAT", t.content.len()),
                        b"",
                    );
                }
            }
        }
        self.ended_contents.push(t.content.clone());
    }

    fn command(&mut self, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line) else {
            fail("command line is not UTF-8", line);
        };
        let upper = text.to_ascii_uppercase();
        let offers = self.offers.clone();
        let need_offers = |what: &str| -> Offers {
            offers
                .clone()
                .unwrap_or_else(|| fail(&format!("{what} before EHLO/HELO"), line))
        };
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), Some(a)),
            None => (upper.clone(), None),
        };
        let awaited = match (verb.as_str(), arg) {
            ("EHLO", Some(name)) | ("HELO", Some(name)) => {
                if name != self.facts.hello_name {
                    fail("EHLO/HELO with another name", line);
                }
                self.txn = None;
                if verb == "EHLO" {
                    Awaited::Ehlo
                } else {
                    Awaited::Helo
                }
            }
            ("STARTTLS", None) => {
                if !need_offers("STARTTLS").starttls {
                    fail("STARTTLS not offered", line);
                }
                if self.encrypted {
                    fail("STARTTLS on an encrypted link", line);
                }
                Awaited::StartTls
            }
            ("AUTH", Some(rest)) => {
                let o = need_offers("AUTH");
                if !self.facts.credentials {
                    fail("AUTH without credentials", line);
                }
                if !self.encrypted && !self.facts.allow_insecure_auth {
                    fail("AUTH in clear", line);
                }
                if self.facts.tls_required && !self.encrypted {
                    fail("AUTH before TLS under TlsPolicy::Required", line);
                }
                let mut words = rest.split(' ');
                let mech = words.next().unwrap_or("").to_ascii_uppercase();
                if !o.auth.contains(&mech) {
                    fail("AUTH mechanism not offered", line);
                }
                if let Some(ir) = words.next() {
                    if ir.is_empty()
                        || !ir
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                    {
                        fail("AUTH initial response is not base64", line);
                    }
                }
                if words.next().is_some() {
                    fail("AUTH with extra words", line);
                }
                Awaited::Auth
            }
            ("MAIL", Some(rest)) => {
                let o = need_offers("MAIL");
                if self.facts.tls_required && !self.encrypted {
                    fail("MAIL in clear under TlsPolicy::Required", line);
                }
                // A refused MAIL opens no transaction.
                if self.txn.as_ref().is_some_and(|t| t.mail_ok != Some(false)) {
                    fail("MAIL inside an open transaction", line);
                }
                let Some(rest) = rest.strip_prefix("FROM:<") else {
                    fail("MAIL without FROM:<", line);
                };
                let Some((path, params)) = rest.split_once('>') else {
                    fail("MAIL path not closed", line);
                };
                if !path.is_empty() {
                    check_path(path, line);
                }
                let mut t = Txn {
                    manual: std::mem::take(&mut self.manual_mail),
                    ..Txn::default()
                };
                if !params.is_empty() && !params.starts_with(' ') {
                    fail("MAIL parameters not space-separated", line);
                }
                for p in params.split(' ').skip(1) {
                    check_param(p, line);
                    let (k, v) = p.split_once('=').map_or((p, None), |(k, v)| (k, Some(v)));
                    match k.to_ascii_uppercase().as_str() {
                        "SMTPUTF8" => t.smtputf8 = true,
                        "BODY" if v.is_some_and(|v| v.eq_ignore_ascii_case("8BITMIME")) => {
                            t.eight_bit = true
                        }
                        "SIZE" => {
                            let Some(n) = v.and_then(|v| v.parse::<u64>().ok()) else {
                                fail("SIZE without a number", line);
                            };
                            t.size = Some(n);
                        }
                        _ => {}
                    }
                }
                if !path.is_ascii() && !t.smtputf8 {
                    fail("non-ASCII reverse path without SMTPUTF8", line);
                }
                // A low-level MAIL carries the caller's parameters as given.
                if !t.manual {
                    if t.eight_bit && !o.eight_bit {
                        fail("BODY=8BITMIME not offered", line);
                    }
                    if t.smtputf8 && !o.smtputf8 {
                        fail("SMTPUTF8 not offered", line);
                    }
                    if t.size.is_some() && o.size.is_none() {
                        fail("SIZE not offered", line);
                    }
                    if let (Some(limit), Some(size)) = (o.size, t.size) {
                        if limit > 0 && size > limit {
                            fail("SIZE over the server's limit", line);
                        }
                    }
                }
                self.txn = Some(t);
                Awaited::Mail
            }
            ("RCPT", Some(rest)) => {
                let Some(rest) = rest.strip_prefix("TO:<") else {
                    fail("RCPT without TO:<", line);
                };
                let Some(path) = rest.strip_suffix('>') else {
                    fail("RCPT path not closed at the end of the line", line);
                };
                check_path(path, line);
                let Some(t) = &mut self.txn else {
                    fail("RCPT outside a transaction", line);
                };
                if t.ended || t.data_sent || !t.bdat_ok.is_empty() {
                    fail("RCPT after the data", line);
                }
                if !path.is_ascii() && !t.smtputf8 {
                    fail("non-ASCII forward path without SMTPUTF8", line);
                }
                t.rcpt_ok.push(None);
                Awaited::Rcpt
            }
            ("DATA", None) => {
                let Some(t) = &mut self.txn else {
                    fail("DATA outside a transaction", line);
                };
                if t.bdat || t.data_sent {
                    fail("DATA twice or after BDAT", line);
                }
                t.data_sent = true;
                if t.rcpt_ok.is_empty() {
                    fail("DATA without RCPT", line);
                }
                Awaited::Data
            }
            ("BDAT", Some(rest)) => {
                if !self.facts.chunking || !need_offers("BDAT").chunking {
                    fail("BDAT without CHUNKING (offered and configured)", line);
                }
                let (n, last) = match rest.split_once(' ') {
                    Some((n, "LAST")) => (n, true),
                    None => (rest, false),
                    _ => fail("BDAT syntax", line),
                };
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    fail("BDAT size", line);
                }
                let Ok(n) = n.parse::<u64>() else {
                    fail("BDAT size", line);
                };
                let Some(t) = &mut self.txn else {
                    fail("BDAT outside a transaction", line);
                };
                if t.data_sent || t.ended {
                    fail("BDAT after DATA or after LAST", line);
                }
                if t.rcpt_ok.is_empty() {
                    fail("BDAT without RCPT", line);
                }
                t.bdat = true;
                t.bdat_ok.push(None);
                if n == 0 {
                    self.awaited.push_back(Awaited::Bdat { last });
                    if last {
                        self.end_content();
                    }
                    return;
                }
                self.mode = Mode::Bdat { remaining: n, last };
                return;
            }
            ("RSET", None) => {
                // Gone unless the RSET is refused (then it never happened).
                self.reset_txn = self.txn.take();
                Awaited::Rset
            }
            ("NOOP", None) | ("HELP", _) => Awaited::Other,
            ("VRFY", Some(a)) | ("EXPN", Some(a)) => {
                if a.trim().is_empty() {
                    fail("VRFY/EXPN without argument", line);
                }
                Awaited::Other
            }
            ("QUIT", None) => {
                self.mode = Mode::Quit;
                Awaited::Quit
            }
            _ => fail("not a command line", line),
        };
        if let Some(a) = arg {
            if a.chars().any(char::is_control) {
                fail("control character in a command", line);
            }
        }
        self.awaited.push_back(awaited);
    }
}

fn parse_offers(r: &Reply) -> Offers {
    let mut o = Offers::default();
    for line in r.lines().iter().skip(1) {
        let mut words = line.split([' ', '=']).filter(|w| !w.is_empty());
        let Some(kw) = words.next() else { continue };
        match kw.to_ascii_uppercase().as_str() {
            "PIPELINING" => o.pipelining = true,
            "CHUNKING" => o.chunking = true,
            "8BITMIME" => o.eight_bit = true,
            "SMTPUTF8" => o.smtputf8 = true,
            "STARTTLS" => o.starttls = true,
            "SIZE" => o.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
            "AUTH" => o.auth.extend(words.map(|w| w.to_ascii_uppercase())),
            _ => {}
        }
    }
    o
}

/// An RFC 5321 path (RFC 6531 for UTF-8): a dot-string or quoted local
/// part, `@`, host-name labels or an address literal; or a bare local
/// name (`postmaster`). No control, no space outside quotes, no `<>`, and
/// nothing that could be read as another mailbox or domain.
fn check_path(path: &str, line: &[u8]) {
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~.".contains(c)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
    };
    let (local, domain) = if let Some(rest) = path.strip_prefix('"') {
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            if c.is_control() || c == '<' || c == '>' {
                fail("bad character in a quoted local part", line);
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(i);
                break;
            }
        }
        let Some(end) = end else {
            fail("unterminated quoted local part", line);
        };
        let Some(domain) = rest[end + 1..].strip_prefix('@') else {
            fail("no @ after a quoted local part", line);
        };
        (None, domain)
    } else {
        match path.split_once('@') {
            Some((local, domain)) => (Some(local), domain),
            None => {
                if path.is_empty() || !path.chars().all(atext) {
                    fail("bad local name", line);
                }
                return;
            }
        }
    };
    if let Some(local) = local {
        if local.is_empty() || !local.chars().all(atext) {
            fail("bad unquoted local part", line);
        }
    }
    let domain_ok = match domain.strip_prefix('[') {
        Some(lit) => lit.strip_suffix(']').is_some_and(|d| {
            !d.is_empty()
                && d.bytes()
                    .all(|b| (33..=126).contains(&b) && !b"[]\\".contains(&b))
        }),
        None => {
            !domain.is_empty()
                && domain.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '-' | '.' | '_')
                        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
                })
        }
    };
    if !domain_ok {
        fail("bad domain", line);
    }
}

/// `esmtp-param = esmtp-keyword ["=" esmtp-value]`.
fn check_param(p: &str, line: &[u8]) {
    let (k, v) = p.split_once('=').map_or((p, None), |(k, v)| (k, Some(v)));
    let k_ok = k.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let v_ok =
        v.is_none_or(|v| !v.is_empty() && v.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
    if !k_ok || !v_ok {
        fail("malformed MAIL parameter", line);
    }
}
