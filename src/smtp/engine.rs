//! The SMTP client state machine (sans-IO): bytes and time in, bytes,
//! events and deadlines out.

use std::collections::VecDeque;
use std::task::Poll;
use std::time::Duration;

use super::auth::{AuthExchange, AuthStep, Credentials, Mechanism};
use super::capabilities::Capabilities;
use super::command::Command;
use super::data::ContentEncoder;
use super::error::{RecipientResult, SmtpError};
use super::reply::{Reply, ReplyParser, DEFAULT_MAX_LINE, DEFAULT_MAX_REPLY};
use super::MessageBody;
use crate::envelope::{Envelope, EnvelopeAddress, RenderOptions};

mod manual;
use manual::{ManualTxn, Step};

/// When to use STARTTLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsPolicy {
    /// Never upgrade (the link may already be TLS: see [`Client::new`]).
    Never,
    /// Upgrade when the server offers STARTTLS, else go on in the clear.
    #[default]
    Opportunistic,
    /// Upgrade, or end the session with [`SmtpError::TlsRequired`].
    Required,
}

/// Engine configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The name sent with EHLO/HELO (a domain or an address literal).
    pub hello_name: String,
    /// STARTTLS policy.
    pub tls: TlsPolicy,
    /// Credentials for AUTH; `None` skips AUTH.
    pub credentials: Option<Credentials>,
    /// Mechanisms to use, in order of preference (emailjs's `authentication`).
    pub authentication: Vec<Mechanism>,
    /// Allow AUTH over an unencrypted link.
    pub allow_insecure_auth: bool,
    /// Use PIPELINING when offered.
    pub pipelining: bool,
    /// Use BDAT when CHUNKING is offered.
    pub chunking: bool,
    /// Send the message only if every recipient is accepted.
    pub require_all_recipients: bool,
    /// One timeout for every wait, replacing RFC 5321 §4.5.3.2's defaults.
    /// Each deadline bounds one whole reply, from the moment the engine
    /// waits for it (its command was written, or the reply before it
    /// arrived) to its last line: octets received meanwhile do not move it,
    /// so a server trickling a reply cannot hold the session past it.
    pub timeout: Option<Duration>,
    /// Record a transcript (see [`Client::take_transcript`]).
    pub transcript: bool,
    /// Bound on one reply line, in octets.
    pub max_reply_line: usize,
    /// Bound on one whole reply, in octets.
    pub max_reply: usize,
    /// For a message of unknown size sent with BDAT: the least size of a
    /// chunk but the last (small pieces are gathered up to it).
    pub bdat_chunk_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hello_name: "localhost".into(),
            tls: TlsPolicy::Opportunistic,
            credentials: None,
            authentication: Mechanism::DEFAULT_PREFERENCE.to_vec(),
            allow_insecure_auth: false,
            pipelining: true,
            chunking: true,
            require_all_recipients: false,
            timeout: None,
            transcript: false,
            max_reply_line: DEFAULT_MAX_LINE,
            max_reply: DEFAULT_MAX_REPLY,
            bdat_chunk_size: DEFAULT_BDAT_CHUNK,
        }
    }
}

/// Identifies a message given to [`Client::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// A message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The message.
    pub id: MessageId,
    /// One result per (de-duplicated) recipient, accepted or not.
    pub recipients: Vec<RecipientResult>,
    /// The server's reply to the end of the data (often carries a queue id).
    pub reply: Reply,
}

/// What the engine tells its transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The session is ready for mail (greeting, EHLO, STARTTLS, AUTH done).
    Ready(Capabilities),
    /// Upgrade the connection to TLS now, then call [`Client::tls_established`].
    /// Write everything [`Client::poll_transmit`] gave first (nothing is pending).
    StartTls,
    /// A message was accepted.
    MessageSent(SentMessage),
    /// A message failed; the session goes on unless [`Event::Closed`] follows.
    MessageFailed {
        /// The message.
        id: MessageId,
        /// Why.
        error: SmtpError,
    },
    /// The reply to a [`Client::noop`].
    Noop(Reply),
    /// The reply to a low-level command ([`Client::mail`], [`Client::rcpt`],
    /// [`Client::data`], [`Client::data_end`], [`Client::rset`],
    /// [`Client::help`], [`Client::vrfy`], [`Client::expn`]), whatever its
    /// code: the caller decides what counts as success.
    Reply {
        /// The command as shown in transcripts, e.g. `RCPT TO:<b@y.org>`,
        /// or `end of data` for [`Client::data_end`].
        command: String,
        /// The server's reply.
        reply: Reply,
    },
    /// The session is over: write what [`Client::poll_transmit`] still
    /// gives, then close the connection. `error` is `None` after QUIT.
    Closed {
        /// Why the session ended, if not by QUIT.
        error: Option<SmtpError>,
    },
}

/// Who sent a transcript line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The client (this engine).
    Client,
    /// The server.
    Server,
}

/// One transcript line (without CRLF; AUTH secrets redacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptLine {
    /// Who sent it.
    pub direction: Direction,
    /// The line.
    pub text: String,
}

/// The reply the engine waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    AuthCancel,
    Mail,
    Rcpt,
    Data,
    Bdat {
        last: bool,
    },
    DataEnd,
    Rset,
    Noop,
    Quit,
    /// The reply to a low-level command.
    Manual(Step),
}

impl Expect {
    /// RFC 5321 §4.5.3.2 (BDAT like MAIL, its last chunk like the end of DATA).
    fn timeout(self) -> Duration {
        let min = |m: u64| Duration::from_secs(60 * m);
        match self {
            Expect::Data | Expect::Manual(Step::Data) => min(2),
            Expect::DataEnd | Expect::Bdat { last: true } | Expect::Manual(Step::DataEnd) => {
                min(10)
            }
            _ => min(5),
        }
    }
}

/// Output side: bytes to write, replies expected, transcript, recording.
#[derive(Default)]
struct Wire {
    out: Vec<u8>,
    expect: VecDeque<(Expect, String)>,
    transcript: Option<Vec<TranscriptLine>>,
    record: Option<Vec<Command>>,
    /// `out` holds the end of this message's data (the final `.CRLF`, or
    /// the last octets of a `BDAT … LAST` chunk). The message is named: its
    /// transaction may end, and the next one start, before `out` is taken.
    end_pending: Option<MessageId>,
    /// How many entries at the back of `expect` answer commands still in
    /// `out` (not yet taken by `poll_transmit`): no server can have read
    /// them, so a reply that would answer one is out of turn.
    unsent: usize,
    /// A `BDAT n LAST` at the back of `expect` whose chunk has not been
    /// handed over whole (its last octets are not in a taken `out` yet): no
    /// server can answer it before reading them all (RFC 3030 §2), so it
    /// stays counted in `unsent` until the end of the data is taken.
    bdat_held: bool,
}

impl Wire {
    fn write(&mut self, cmd: Command, expect: Option<Expect>) {
        let shown = cmd.shown();
        cmd.write_wire_shown(&shown, &mut self.out);
        if let Some(t) = &mut self.transcript {
            t.push(TranscriptLine {
                direction: Direction::Client,
                text: shown.clone(),
            });
        }
        if let Some(e) = expect {
            self.expect.push_back((e, shown));
            self.unsent += 1;
        }
        if let Some(r) = &mut self.record {
            r.push(cmd);
        }
    }

    /// Message content, already encoded, appended to `out`.
    fn content(&mut self, start: usize) {
        if let Some(r) = &mut self.record {
            let bytes = &self.out[start..];
            match r.last_mut() {
                Some(Command::Content(c)) => c.extend_from_slice(bytes),
                _ => r.push(Command::Content(bytes.to_vec())),
            }
        }
    }

    /// The lines of a server reply, into the transcript.
    #[inline(never)]
    fn note_reply(&mut self, reply: &Reply) {
        for (i, line) in reply.lines().iter().enumerate() {
            let sep = if i + 1 == reply.lines().len() {
                ' '
            } else {
                '-'
            };
            self.note(Direction::Server, || format!("{}{sep}{line}", reply.code()));
        }
    }

    /// A transcript line, built only when there is a transcript.
    fn note(&mut self, direction: Direction, text: impl FnOnce() -> String) {
        if let Some(t) = &mut self.transcript {
            t.push(TranscriptLine {
                direction,
                text: text(),
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyMode {
    Data,
    BdatLast(u64),
    BdatChunked,
}

/// With PIPELINING, how many replies a chunked BDAT body may owe before it
/// waits for some (32 chunks of 64 KiB: 2 MiB in flight, a fast link kept
/// full, and replies that fit any receive buffer).
pub(crate) const MAX_REPLIES_AWAITED: usize = 32;

/// [`Config::bdat_chunk_size`]'s default.
const DEFAULT_BDAT_CHUNK: usize = 64 * 1024;

/// How long a body may wait for its data without [`Config::timeout`]:
/// RFC 5321 §4.5.3.2.5's data block (the client's wait to hand over a
/// block of the message).
const BODY_WAIT: Duration = Duration::from_secs(180);

/// How many octets [`Client::poll_transmit`] gathers into one flight before
/// it stops pulling message content (one body chunk may take it past this).
pub const FLIGHT: usize = 64 * 1024;

struct Txn {
    id: MessageId,
    recipients: Vec<String>,
    mail: Option<Command>,
    body: Box<dyn MessageBody + Send>,
    mode: BodyMode,
    pipelining: bool,
    rcpt_sent: usize,
    data_sent: bool,
    streaming: bool,
    body_done: bool,
    /// The body said `Pending`: pull again after [`Client::body_ready`];
    /// the time past which it has given no data for too long (the timeout
    /// from its `Pending`).
    body_waiting: Option<Duration>,
    /// The end of the data was handed to the transport: from now on the
    /// server may accept the message at any moment.
    end_sent: bool,
    /// `BDAT … LAST`: the announced size is reached, and its last octets
    /// (in `scratch`; for `BDAT 0 LAST`, the command itself) wait until the
    /// body has shown its end, so that a body longer than it said is never
    /// cut into a shorter message that the server takes as complete. The
    /// body may be pending meanwhile.
    end_held: bool,
    encoder: ContentEncoder,
    scratch: Vec<u8>,
    content_len: u64,
    results: Vec<RecipientResult>,
    failure: Option<SmtpError>,
    final_reply: Option<Reply>,
}

enum Job {
    Message(MessageId, Envelope, Box<dyn MessageBody + Send>),
    Noop,
}

enum Phase {
    Handshake,
    TlsHandshake,
    Auth(AuthExchange),
    /// `*` was sent to cancel AUTH; the error is reported after the 501.
    AuthCancelled(SmtpError),
    Ready,
    Txn(Box<Txn>),
    /// A low-level transaction (after [`Client::mail`]).
    Manual(Box<ManualTxn>),
    Closed,
}

/// The SMTP client engine for one connection.
pub struct Client {
    config: Config,
    /// The forms of the AUTH secret scrubbed from the server's replies.
    secrets: Vec<String>,
    encrypted: bool,
    tls_done: bool,
    parser: ReplyParser,
    wire: Wire,
    phase: Phase,
    caps: Option<Capabilities>,
    ready_sent: bool,
    jobs: VecDeque<Job>,
    next_id: u64,
    quit_requested: bool,
    events: VecDeque<Event>,
    now: Duration,
    deadline: Option<(Duration, String)>,
    armed: Option<usize>,
    armed_count: usize,
    outcome_unknown: Option<MessageId>,
    /// The last message whose transaction began (its MAIL was queued).
    begun: Option<MessageId>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("encrypted", &self.encrypted)
            .field("capabilities", &self.caps)
            .field("pending_replies", &self.wire.expect.len())
            .field("queued", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

fn valid_hello_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b > b' ' && b != 0x7f)
}

/// An envelope path: no CR, LF, NUL, controls, `<` or `>`; spaces only
/// inside a quoted local part (`"john doe"@example.com`, RFC 5321
/// Quoted-string), where they cannot end the command's argument. An
/// unquoted local part is a dot-string (`atext`, dots and UTF-8), the
/// domain host-name characters or an address literal, so that no server
/// can read another mailbox or domain in it (`a@evil.example@good.example`,
/// an unbalanced quote).
fn valid_path(path: &str) -> bool {
    // RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its `<>`.
    if path.len() > 254 {
        return false;
    }
    let plain = |b: u8| b > b' ' && b != 0x7f && b != b'<' && b != b'>';
    // RFC 5322 atext, dots, and UTF-8 (RFC 6531).
    let dot_string = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '!' | '#'
                            | '$'
                            | '%'
                            | '&'
                            | '\''
                            | '*'
                            | '+'
                            | '-'
                            | '/'
                            | '='
                            | '?'
                            | '^'
                            | '_'
                            | '`'
                            | '{'
                            | '|'
                            | '}'
                            | '~'
                            | '.'
                    )
                    || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
            })
    };
    let Some((local, domain)) = path.rsplit_once('@') else {
        return dot_string(path);
    };
    let quoted_ok = |q: &str| {
        let mut escaped = false;
        q.bytes().all(|b| {
            let ok = (b == b' ' || plain(b)) && (escaped || b != b'"');
            escaped = !escaped && b == b'\\';
            ok
        }) && !escaped
    };
    let local_ok = match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(inner) => quoted_ok(inner),
        None => dot_string(local),
    };
    let domain_ok = match domain.strip_prefix('[') {
        Some(literal) => literal.strip_suffix(']').is_some_and(address_literal_ok),
        None => {
            !domain.is_empty()
                && domain.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '-' | '.' | '_')
                        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
                })
        }
    };
    local_ok && domain_ok
}

/// The inside of an RFC 5321 address literal (§4.1.3): an IPv4 address,
/// or `tag:dcontent` (`IPv6:…` and general literals). dcontent is printable
/// ASCII but `[\]`; `<` and `>` are refused as well, though the grammar
/// allows them in a general literal: a server that ends the path at the
/// first `>` would read the rest as parameters.
fn address_literal_ok(d: &str) -> bool {
    if crate::ip::is_ipv4(d) {
        return true;
    }
    let Some((tag, content)) = d.split_once(':') else {
        return false;
    };
    let tag_ok = !tag.is_empty()
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !tag.ends_with('-');
    tag_ok
        && !content.is_empty()
        && content
            .bytes()
            .all(|b| (33..=126).contains(&b) && !matches!(b, b'[' | b'\\' | b']' | b'<' | b'>'))
}

/// Both forms of an envelope address are RFC 5321 paths, and the ASCII
/// form (sent to a server without SMTPUTF8) is ASCII.
fn check_address(field: impl FnOnce() -> String, a: &EnvelopeAddress) -> Result<(), SmtpError> {
    if valid_path(a.utf8()) && a.ascii().is_none_or(|s| s.is_ascii() && valid_path(s)) {
        Ok(())
    } else {
        Err(SmtpError::InvalidEnvelopeAddress {
            field: field(),
            address: a.utf8().to_string(),
        })
    }
}

/// Replaces every form of the secret that a server sent back (a hostile or
/// buggy server echoing the AUTH line) with `<redacted>`, so that it never
/// reaches an error, an event or the transcript.
fn scrub(reply: Reply, secrets: &[String]) -> Reply {
    if !reply
        .lines()
        .iter()
        .any(|l| secrets.iter().any(|s| crate::substr::contains(l, s)))
    {
        return reply;
    }
    let lines = reply
        .lines()
        .iter()
        .map(|l| {
            secrets.iter().fold(l.clone(), |l, s| {
                crate::substr::replace(&l, s, "<redacted>")
            })
        })
        .collect();
    Reply::new(reply.code(), lines)
}

/// The extensions [`Client::begin_txn`] reads (absent: none).
#[derive(Default)]
struct TxnCaps {
    pipelining: bool,
    size: Option<u64>,
    eight_bit_mime: bool,
    smtp_utf8: bool,
    chunking: bool,
}

/// The address as (local part, lower-cased domain), for de-duplication: the
/// ASCII (A-label) form where there is one, whose domain UTS-46 already
/// mapped to lower case, so ASCII case folding is enough (and the wasm build
/// carries no Unicode case tables).
///
/// A pair, not one string: the key type of the composer's duplicate set in
/// `mime::builder`, so that the wasm build carries one `HashSet`
/// instantiation, not two (issue 7: −937 B gzipped). A path without `@`
/// gets the domain `@`, which no domain (the text after the last `@`) is.
fn dedup_key(a: &EnvelopeAddress) -> (String, String) {
    let path = a.ascii().unwrap_or(a.utf8());
    match path.rsplit_once('@') {
        Some((local, domain)) => (local.to_owned(), domain.to_ascii_lowercase()),
        None => (path.to_owned(), "@".to_owned()),
    }
}

impl Client {
    /// A client for a connection just opened at `now`. `encrypted` is true
    /// when the link is already TLS (implicit TLS, port 465) or otherwise
    /// protected. The engine waits for the server's greeting.
    pub fn new(config: Config, encrypted: bool, now: Duration) -> Result<Client, SmtpError> {
        if !valid_hello_name(&config.hello_name) {
            return Err(SmtpError::InvalidHelloName(config.hello_name));
        }
        if let Some(credentials) = &config.credentials {
            credentials.check()?;
        }
        let secrets = config
            .credentials
            .as_ref()
            .map(Credentials::secret_forms)
            .unwrap_or_default();
        let mut c = Client {
            secrets,
            parser: ReplyParser::new(config.max_reply_line, config.max_reply),
            wire: Wire {
                transcript: config.transcript.then(Vec::new),
                ..Wire::default()
            },
            config,
            encrypted,
            tls_done: encrypted,
            phase: Phase::Handshake,
            caps: None,
            ready_sent: false,
            jobs: VecDeque::new(),
            next_id: 0,
            quit_requested: false,
            events: VecDeque::new(),
            now,
            deadline: None,
            armed: None,
            armed_count: 0,
            outcome_unknown: None,
            begun: None,
        };
        c.wire
            .expect
            .push_back((Expect::Greeting, "connection greeting".into()));
        c.rearm();
        Ok(c)
    }

    /// A client already in the ready state with these capabilities, that
    /// records what it writes (for the dry run).
    pub(crate) fn recording(config: Config, caps: Capabilities) -> Client {
        let mut c = Client {
            secrets: Vec::new(),
            parser: ReplyParser::default(),
            wire: Wire {
                record: Some(Vec::new()),
                ..Wire::default()
            },
            config,
            encrypted: true,
            tls_done: true,
            phase: Phase::Ready,
            caps: Some(caps),
            ready_sent: true,
            jobs: VecDeque::new(),
            next_id: 0,
            quit_requested: false,
            events: VecDeque::new(),
            now: Duration::ZERO,
            deadline: None,
            armed: None,
            armed_count: 0,
            outcome_unknown: None,
            begun: None,
        };
        c.config.hello_name = "localhost".into();
        c
    }

    /// Takes the commands recorded so far (dry run).
    pub(crate) fn take_record(&mut self) -> Vec<Command> {
        self.wire
            .record
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Answers the first awaited reply positively (dry run). False when
    /// nothing is awaited.
    pub(crate) fn answer_positively(&mut self) -> bool {
        let Some((e, _)) = self.wire.expect.front() else {
            return false;
        };
        let code = match e {
            Expect::Data | Expect::Manual(Step::Data) => 354,
            Expect::Greeting => 220,
            Expect::Quit => 221,
            _ => 250,
        };
        self.on_reply(Reply::new(code, vec!["OK".into()]));
        self.rearm();
        true
    }

    // ----- inputs -----

    /// Feeds bytes received from the server at `now`.
    pub fn receive(&mut self, data: &[u8], now: Duration) {
        self.now = now;
        if matches!(self.phase, Phase::Closed) || data.is_empty() {
            return;
        }
        if matches!(self.phase, Phase::TlsHandshake) {
            self.fatal(
                SmtpError::Protocol(
                    "plaintext received after the STARTTLS 220 (response injection)".into(),
                ),
                false,
            );
            return;
        }
        self.parser.feed(data);
        while !matches!(self.phase, Phase::Closed) {
            match self.parser.next_reply() {
                None => break,
                Some(Ok(reply)) => {
                    let reply = scrub(reply, &self.secrets);
                    if self.wire.transcript.is_some() {
                        self.wire.note_reply(&reply);
                    }
                    self.on_reply(reply);
                }
                Some(Err(e)) => self.fatal(e, false),
            }
        }
        self.rearm();
    }

    /// The transport finished the TLS handshake the engine asked for with
    /// [`Event::StartTls`]; the engine sends EHLO again (RFC 3207).
    pub fn tls_established(&mut self, now: Duration) {
        self.now = now;
        if !matches!(self.phase, Phase::TlsHandshake) {
            return;
        }
        self.encrypted = true;
        self.tls_done = true;
        self.caps = None;
        self.phase = Phase::Handshake;
        self.wire.write(
            Command::Ehlo(self.config.hello_name.clone()),
            Some(Expect::Ehlo),
        );
        self.rearm();
    }

    /// The connection was closed by the peer or failed.
    pub fn connection_closed(&mut self, now: Duration) {
        self.now = now;
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        if matches!(self.wire.expect.front(), Some((Expect::Quit, _))) {
            self.close(None);
        } else {
            self.fatal(SmtpError::Closed, false);
        }
    }

    /// Checks the deadlines; past one, the session ends with a timeout, or
    /// (a body that gave no data in time) the message fails with
    /// [`SmtpError::BodyTimeout`], without its end of data.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = now;
        if let Some((at, what)) = &self.deadline {
            if now >= *at {
                let waiting_for = what.clone();
                self.fatal(SmtpError::Timeout { waiting_for }, false);
                return;
            }
        }
        if self.body_deadline().is_some_and(|at| now >= at) {
            self.body_timed_out();
        }
    }

    /// The transport has data for the body that was pending (its
    /// [`MessageBody::poll_chunk`] gave `Pending`, see
    /// [`Client::body_pending`]): the next [`Client::poll_transmit`] pulls it
    /// again. A body that waits is bounded by [`Config::timeout`] (without
    /// one, RFC 5321 §4.5.3.2.5's 3 minutes for a data block), counted from
    /// its `Pending`: a source that neither gives data nor ends within it
    /// fails the message with [`SmtpError::BodyTimeout`] (see
    /// [`Client::handle_timeout`]), as a socket idle that long would. The
    /// server's deadlines do not run meanwhile: after DATA's 354 nothing is
    /// awaited; with BDAT only the replies to chunks already sent are (and
    /// the reply to `BDAT n LAST` is awaited only from its last octet on).
    pub fn body_ready(&mut self, now: Duration) {
        self.now = now;
        if let Phase::Txn(t) = &mut self.phase {
            t.body_waiting = None;
        }
        self.rearm();
    }

    /// The message whose body waits for data (until [`Client::body_ready`]).
    pub fn body_pending(&self) -> Option<MessageId> {
        match &self.phase {
            Phase::Txn(t) if t.body_waiting.is_some() && !t.body_done => Some(t.id),
            _ => None,
        }
    }

    /// Queues a message. The envelope is checked now (addresses, at least
    /// one recipient); the server's abilities when its turn comes.
    pub fn send(
        &mut self,
        envelope: Envelope,
        body: Box<dyn MessageBody + Send>,
        now: Duration,
    ) -> Result<MessageId, SmtpError> {
        self.now = now;
        if matches!(self.phase, Phase::Closed) || self.quit_requested {
            return Err(SmtpError::NotConnected);
        }
        if matches!(self.phase, Phase::Manual(_)) {
            return Err(SmtpError::Misuse(
                "a low-level transaction is open (MAIL FROM was sent): finish it with data_end or rset before queueing a message".into(),
            ));
        }
        if envelope.to.is_empty() {
            return Err(SmtpError::NoRecipients);
        }
        if let Some(from) = &envelope.from {
            check_address(|| "from".into(), from)?;
        }
        for (i, to) in envelope.to.iter().enumerate() {
            check_address(|| format!("to[{i}]"), to)?;
        }
        let id = MessageId(self.next_id);
        self.next_id += 1;
        self.jobs.push_back(Job::Message(id, envelope, body));
        self.start_next();
        self.rearm();
        Ok(id)
    }

    /// Queues a NOOP (answered by [`Event::Noop`]).
    pub fn noop(&mut self, now: Duration) -> Result<(), SmtpError> {
        self.now = now;
        if matches!(self.phase, Phase::Closed) || self.quit_requested {
            return Err(SmtpError::NotConnected);
        }
        if matches!(self.phase, Phase::Manual(_)) {
            // Inside a low-level transaction NOOP is sent now (the queue
            // only runs between transactions).
            self.manual_noop()?;
            self.rearm();
            return Ok(());
        }
        self.jobs.push_back(Job::Noop);
        self.start_next();
        self.rearm();
        Ok(())
    }

    /// Sends QUIT once every queued message is done. An open low-level
    /// transaction is abandoned (QUIT ends it, RFC 5321 §4.1.1.10) as soon as
    /// no reply is awaited, but message content being sent after DATA's 354
    /// is first ended by [`Client::data_end`].
    pub fn quit(&mut self, now: Duration) {
        self.now = now;
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.quit_requested = true;
        self.manual_settle();
        self.start_next();
        self.rearm();
    }

    // ----- outputs -----

    /// The next bytes to write, or `None`; call this until it gives `None`.
    ///
    /// Each call gives one flight: the commands that may be sent now and,
    /// when the transaction streams, the message content after them, pulled
    /// from the body until about [`FLIGHT`] octets are gathered (so a large
    /// attachment is never held whole). With PIPELINING and CHUNKING a small
    /// message (MAIL, RCPTs, `BDAT n LAST` and its content) is one call; with
    /// PIPELINING alone, MAIL…DATA then content and `.`. Write each flight
    /// with one write (and TCP_NODELAY): split writes meet Nagle's algorithm
    /// and the server's delayed ACK.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        // A chunk may encode to nothing (the LF of a split CRLF).
        let mut pulled = false;
        while self.wire.out.len() < FLIGHT && self.pump_body() {
            pulled = true;
        }
        if pulled || self.wire.out.is_empty() {
            self.rearm();
        }
        if self.wire.out.is_empty() {
            return None;
        }
        if let Some(id) = self.wire.end_pending.take() {
            self.wire.bdat_held = false;
            if let Phase::Txn(t) = &mut self.phase {
                if t.id == id {
                    t.end_sent = true;
                }
            }
        }
        self.wire.unsent = usize::from(self.wire.bdat_held);
        Some(std::mem::take(&mut self.wire.out))
    }

    /// The next event, or `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] must be called, if the engine waits
    /// (for the server, or for the data of a body that is pending).
    pub fn poll_timeout(&self) -> Option<Duration> {
        let reply = self.deadline.as_ref().map(|(at, _)| *at);
        match (reply, self.body_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The server's capabilities (after EHLO/HELO).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// True when the link is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// True when the session is ready and nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Ready) && self.wire.expect.is_empty() && self.jobs.is_empty()
    }

    /// The message whose outcome is unknown: the session ended (closed,
    /// timed out, broke the protocol) after the end of its data (`.` or
    /// `BDAT … LAST` with its last octets) was handed to the transport by
    /// [`Client::poll_transmit`] and before the server's final reply was
    /// read. The server may have accepted it (RFC 1047), so sending it
    /// again may deliver it twice. `None` when no such message exists: every
    /// message failed by [`Event::MessageFailed`] before its end of data was
    /// handed over was certainly not accepted.
    pub fn outcome_unknown(&self) -> Option<MessageId> {
        self.outcome_unknown
    }

    /// True when message `id`'s transaction began on this session (its
    /// `MAIL` was queued). A message that failed without beginning was
    /// never offered: the session failed before it (e.g. the `RSET` after
    /// an earlier failed message was refused), so nothing of it reached
    /// the server.
    pub fn began(&self, id: MessageId) -> bool {
        self.begun.is_some_and(|b| b >= id)
    }

    /// Takes the transcript lines recorded since the last call (empty
    /// unless [`Config::transcript`] is set).
    pub fn take_transcript(&mut self) -> Vec<TranscriptLine> {
        self.wire
            .transcript
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    // ----- internals -----

    /// The deadline of the body that waits for its data, if one waits.
    fn body_deadline(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Txn(t) if !t.body_done => t.body_waiting,
            _ => None,
        }
    }

    /// The body gave no data in time: the message fails as if its source
    /// had failed ([`Client::body_failed`]): with BDAT chunks, RSET after
    /// the chunks in flight and the session goes on; after DATA, or inside
    /// `BDAT n LAST`, the session ends without the end of data.
    fn body_timed_out(&mut self) {
        let Phase::Txn(t) = &self.phase else {
            return;
        };
        let command = match t.mode {
            BodyMode::Data => "DATA".to_string(),
            BodyMode::BdatLast(n) => format!("BDAT {n} LAST"),
            BodyMode::BdatChunked => "BDAT".to_string(),
        };
        self.wire.note(Direction::Client, || {
            format!("<message content stalled: no data from the body in time ({command})>")
        });
        self.body_failed(SmtpError::BodyTimeout { command });
        self.rearm();
    }

    fn rearm(&mut self) {
        let key = match (&self.phase, self.wire.expect.front()) {
            (Phase::Closed, _) => None,
            // The reply to `BDAT n LAST` cannot come before its last octet:
            // no deadline while the body is still being sent (a body that
            // waits for its data has its own: `Txn::body_waiting`).
            (Phase::Txn(t), Some((Expect::Bdat { last: true }, _))) if !t.body_done => None,
            (_, Some((e, what))) => Some((self.armed_count, e.timeout(), what.clone())),
            (Phase::TlsHandshake, None) => Some((
                usize::MAX,
                Duration::from_secs(300),
                "the TLS handshake".into(),
            )),
            _ => None,
        };
        match key {
            None => {
                self.deadline = None;
                self.armed = None;
            }
            Some((k, default, what)) => {
                if self.armed != Some(k) {
                    self.armed = Some(k);
                    let t = self.config.timeout.unwrap_or(default);
                    self.deadline = Some((self.now.saturating_add(t), what));
                }
            }
        }
    }

    fn emit(&mut self, e: Event) {
        self.events.push_back(e);
    }

    fn close(&mut self, error: Option<SmtpError>) {
        self.phase = Phase::Closed;
        self.wire.expect.clear();
        self.wire.unsent = 0;
        self.wire.bdat_held = false;
        self.wire.end_pending = None;
        self.deadline = None;
        self.armed = None;
        self.emit(Event::Closed { error });
    }

    /// Ends the session: fails the message in flight and those queued.
    fn fatal(&mut self, error: SmtpError, send_quit: bool) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        if let Phase::Txn(t) = &mut self.phase {
            let id = t.id;
            if t.end_sent && t.failure.is_none() {
                self.outcome_unknown = Some(id);
            }
            // The server's own verdict on the transaction (a refused MAIL,
            // every recipient refused, a refused chunk) or the body's
            // failure says more than the close or timeout that followed
            // it, and that the message was not accepted: a client must not
            // take it for a dropped connection and send the message again.
            let error = t.failure.take().unwrap_or_else(|| error.clone());
            self.emit(Event::MessageFailed { id, error });
        }
        for job in std::mem::take(&mut self.jobs) {
            if let Job::Message(id, _, _) = job {
                self.emit(Event::MessageFailed {
                    id,
                    error: error.clone(),
                });
            }
        }
        if send_quit {
            self.wire.write(Command::Quit, None);
        }
        self.close(Some(error));
    }

    fn on_reply(&mut self, reply: Reply) {
        // A reply to a command the transport has not been given yet (a
        // server answering ahead, or replaying a script) is not taken as that
        // command's answer: acting on it could report a message sent before
        // its data left. Out of turn, like a reply when none is awaited.
        let in_turn = self.wire.expect.len() > self.wire.unsent;
        let Some((expect, command)) = in_turn.then(|| self.wire.expect.pop_front()).flatten()
        else {
            let e = if reply.code() == 421 {
                SmtpError::ServiceClosing {
                    command: None,
                    reply,
                }
            } else {
                SmtpError::Protocol(format!("unexpected reply {reply}"))
            };
            self.fatal(e, false);
            return;
        };
        self.armed_count += 1;
        if expect == Expect::Quit {
            self.close(None);
            return;
        }
        if reply.code() == 421 {
            let command = (expect != Expect::Greeting).then_some(command);
            let error = SmtpError::ServiceClosing { command, reply };
            // A 421 is a verdict, not a silence: the transaction in flight
            // was not accepted, even when its end of data was sent, so its
            // outcome is known.
            if let Phase::Txn(t) = &mut self.phase {
                t.failure.get_or_insert_with(|| error.clone());
            }
            self.fatal(error, false);
            return;
        }
        match expect {
            Expect::Greeting
            | Expect::Ehlo
            | Expect::Helo
            | Expect::StartTls
            | Expect::Auth
            | Expect::AuthCancel => self.handshake_reply(expect, command, reply),
            Expect::Mail | Expect::Rcpt | Expect::Data | Expect::Bdat { .. } | Expect::DataEnd => {
                self.txn_reply(expect, command, reply)
            }
            Expect::Rset => {
                if reply.is_positive() {
                    self.start_next();
                } else {
                    self.fatal(SmtpError::Reply { command, reply }, true);
                }
            }
            Expect::Noop => {
                self.emit(Event::Noop(reply));
                self.manual_settle();
                self.start_next();
            }
            Expect::Manual(step) => self.manual_reply(step, command, reply),
            Expect::Quit => self.close(None),
        }
    }

    /// The replies of the opening (greeting, EHLO/HELO, STARTTLS, AUTH): once
    /// per connection, kept out of `on_reply` (and so out of `receive`, into
    /// which it is inlined), which runs for every message: a JIT compiling
    /// the per-message path (the wasm build's) then compiles less.
    #[inline(never)]
    fn handshake_reply(&mut self, expect: Expect, command: String, reply: Reply) {
        match expect {
            Expect::Greeting => {
                if reply.code() == 220 {
                    self.wire.write(
                        Command::Ehlo(self.config.hello_name.clone()),
                        Some(Expect::Ehlo),
                    );
                } else {
                    // RFC 5321 §3.1: after a 554 greeting the client
                    // should still send QUIT.
                    let quit = reply.code() == 554;
                    self.fatal(SmtpError::Reply { command, reply }, quit);
                }
            }
            Expect::Ehlo => {
                if reply.is_positive() {
                    self.caps = Some(Capabilities::from_ehlo(&reply));
                    self.after_hello();
                } else if reply.is_permanent() {
                    self.wire.write(
                        Command::Helo(self.config.hello_name.clone()),
                        Some(Expect::Helo),
                    );
                } else {
                    self.fatal(SmtpError::Reply { command, reply }, false);
                }
            }
            Expect::Helo => {
                if reply.is_positive() {
                    let first = reply.lines().first().map(String::as_str).unwrap_or("");
                    let server_name = first.split(' ').next().unwrap_or("").to_string();
                    self.caps = Some(Capabilities {
                        server_name,
                        ..Capabilities::default()
                    });
                    self.after_hello();
                } else {
                    self.fatal(SmtpError::Reply { command, reply }, false);
                }
            }
            Expect::StartTls => {
                if reply.code() == 220 {
                    if !self.parser.is_empty() {
                        self.fatal(
                            SmtpError::Protocol(
                                "data pipelined after the STARTTLS 220 (response injection)".into(),
                            ),
                            false,
                        );
                    } else {
                        self.phase = Phase::TlsHandshake;
                        self.emit(Event::StartTls);
                    }
                } else if self.config.tls == TlsPolicy::Required {
                    self.fatal(
                        SmtpError::TlsRequired(format!("STARTTLS refused: {reply}")),
                        true,
                    );
                } else {
                    self.tls_done = true;
                    self.after_tls();
                }
            }
            Expect::Auth => {
                let Phase::Auth(ex) = &mut self.phase else {
                    self.fatal(SmtpError::Protocol("AUTH reply outside AUTH".into()), false);
                    return;
                };
                match ex.on_reply(&reply) {
                    AuthStep::Send(cmd) => self.wire.write(cmd, Some(Expect::Auth)),
                    AuthStep::Done => self.become_ready(),
                    AuthStep::Failed(e) => self.fatal(e, true),
                    AuthStep::Cancel(e) => {
                        self.wire
                            .write(Command::AuthCancel, Some(Expect::AuthCancel));
                        self.phase = Phase::AuthCancelled(e);
                    }
                }
            }
            Expect::AuthCancel => {
                // The server answers `*` with 501; the exchange is over.
                let error = match std::mem::replace(&mut self.phase, Phase::Handshake) {
                    Phase::AuthCancelled(e) => e,
                    _ => SmtpError::Protocol("AUTH cancel outside AUTH".into()),
                };
                self.fatal(error, true);
            }
            // (on_reply sends only the arms above here)
            _ => self.fatal(
                SmtpError::Protocol(format!("reply to {command} out of place")),
                false,
            ),
        }
    }
    fn after_hello(&mut self) {
        let offers_tls = self.caps.as_ref().is_some_and(|c| c.starttls);
        if !self.tls_done {
            match self.config.tls {
                TlsPolicy::Required | TlsPolicy::Opportunistic if offers_tls => {
                    self.wire.write(Command::StartTls, Some(Expect::StartTls));
                    return;
                }
                TlsPolicy::Required => {
                    self.fatal(
                        SmtpError::TlsRequired("the server does not offer STARTTLS".into()),
                        true,
                    );
                    return;
                }
                _ => {}
            }
        }
        self.after_tls();
    }

    fn after_tls(&mut self) {
        let Some(creds) = self.config.credentials.clone() else {
            self.become_ready();
            return;
        };
        if !self.encrypted && !self.config.allow_insecure_auth {
            self.fatal(
                SmtpError::TlsRequired(
                    "refusing to send credentials over an unencrypted connection".into(),
                ),
                true,
            );
            return;
        }
        let caps = self.caps.clone().unwrap_or_default();
        let Some(&mech) = self
            .config
            .authentication
            .iter()
            .find(|m| caps.offers_auth(**m))
        else {
            self.fatal(SmtpError::AuthUnsupported { offered: caps.auth }, true);
            return;
        };
        let ex = AuthExchange::new(mech, creds);
        self.wire.write(ex.initial(), Some(Expect::Auth));
        self.phase = Phase::Auth(ex);
    }

    fn become_ready(&mut self) {
        self.phase = Phase::Ready;
        if !self.ready_sent {
            self.ready_sent = true;
            let caps = self.caps.clone().unwrap_or_default();
            self.emit(Event::Ready(caps));
        }
        self.start_next();
    }

    /// Starts queued work when the session is ready and nothing is awaited.
    fn start_next(&mut self) {
        while matches!(self.phase, Phase::Ready) && self.wire.expect.is_empty() {
            match self.jobs.pop_front() {
                Some(Job::Noop) => self.wire.write(Command::Noop, Some(Expect::Noop)),
                Some(Job::Message(id, envelope, body)) => {
                    if let Err(error) = self.begin_txn(id, envelope, body) {
                        self.emit(Event::MessageFailed { id, error });
                    }
                }
                None => {
                    if self.quit_requested {
                        self.wire.write(Command::Quit, Some(Expect::Quit));
                    }
                    return;
                }
            }
        }
    }

    fn begin_txn(
        &mut self,
        id: MessageId,
        envelope: Envelope,
        mut body: Box<dyn MessageBody + Send>,
    ) -> Result<(), SmtpError> {
        // The few extensions a transaction uses (not a copy of the whole
        // capabilities, names and lists, per message).
        let caps = self
            .caps
            .as_ref()
            .map_or_else(TxnCaps::default, |c| TxnCaps {
                pipelining: c.pipelining,
                size: c.size,
                eight_bit_mime: c.eight_bit_mime,
                smtp_utf8: c.smtp_utf8,
                chunking: c.chunking,
            });
        let needs_utf8 = envelope.requires_smtputf8() || body.requires_smtputf8();
        if needs_utf8 && !caps.smtp_utf8 {
            return Err(SmtpError::SmtpUtf8Required);
        }
        let form = |a: &EnvelopeAddress| -> String {
            match (needs_utf8, a.ascii()) {
                (false, Some(ascii)) => ascii.to_string(),
                _ => a.utf8().to_string(),
            }
        };
        let from = envelope.from.as_ref().map(form).unwrap_or_default();
        let mut recipients: Vec<String> = Vec::with_capacity(envelope.to.len());
        // A handful of recipients (the usual case) are compared one by one;
        // a long list through a set.
        let mut seen_few: Vec<(String, String)> = Vec::new();
        let mut seen_many = std::collections::HashSet::new();
        let many = envelope.to.len() > 16;
        for a in &envelope.to {
            let key = dedup_key(a);
            let new = if many {
                seen_many.insert(key)
            } else if seen_few.contains(&key) {
                false
            } else {
                seen_few.push(key);
                true
            };
            if new {
                recipients.push(form(a));
            }
        }
        let opts = RenderOptions {
            utf8_headers: needs_utf8,
            allow_8bit: caps.eight_bit_mime,
        };
        let size = body
            .start(opts)
            .map_err(|e| SmtpError::Body(e.to_string()))?;
        if let (Some(limit), Some(size)) = (caps.size, size) {
            if limit > 0 && size > limit {
                return Err(SmtpError::MessageTooLarge { size, limit });
            }
        }
        if body.is_8bit() && !caps.eight_bit_mime && !needs_utf8 {
            return Err(SmtpError::EightBitMimeRequired);
        }
        let mut params = Vec::new();
        if let (Some(_), Some(size)) = (caps.size, size) {
            params.push(format!("SIZE={size}"));
        }
        if body.is_8bit() && caps.eight_bit_mime {
            params.push("BODY=8BITMIME".into());
        }
        if needs_utf8 {
            params.push("SMTPUTF8".into());
        }
        let mode = match (self.config.chunking && caps.chunking, size) {
            (false, _) => BodyMode::Data,
            (true, Some(n)) => BodyMode::BdatLast(n),
            (true, None) => BodyMode::BdatChunked,
        };
        let encoder = if mode == BodyMode::Data {
            ContentEncoder::data()
        } else {
            ContentEncoder::bdat()
        };
        self.begun = Some(id);
        self.phase = Phase::Txn(Box::new(Txn {
            id,
            recipients,
            mail: Some(Command::Mail { from, params }),
            body,
            mode,
            pipelining: self.config.pipelining && caps.pipelining,
            rcpt_sent: 0,
            data_sent: false,
            streaming: false,
            body_done: false,
            body_waiting: None,
            end_sent: false,
            end_held: false,
            encoder,
            scratch: Vec::new(),
            content_len: 0,
            results: Vec::new(),
            failure: None,
            final_reply: None,
        }));
        self.txn_pump();
        Ok(())
    }

    /// Sends whatever the transaction may send now.
    fn txn_pump(&mut self) {
        let Phase::Txn(t) = &mut self.phase else {
            return;
        };
        let wire = &mut self.wire;
        if let Some(mail) = t.mail.take() {
            wire.write(mail, Some(Expect::Mail));
            if !t.pipelining {
                return;
            }
        }
        if t.failure.is_some() && !t.pipelining {
            return;
        }
        while t.rcpt_sent < t.recipients.len() {
            if !t.pipelining && !wire.expect.is_empty() {
                return;
            }
            let to = t.recipients[t.rcpt_sent].clone();
            wire.write(Command::Rcpt { to }, Some(Expect::Rcpt));
            t.rcpt_sent += 1;
        }
        if t.data_sent {
            return;
        }
        // With every recipient required, the data waits for the RCPT
        // replies, unless there is one recipient: a server that refuses it
        // has no recipient to deliver to and refuses the data (RFC 2920
        // §3.1; RFC 3030), so the pipelined flight keeps its one round trip.
        let wait_for_replies =
            !t.pipelining || (self.config.require_all_recipients && t.recipients.len() > 1);
        if wait_for_replies && !wire.expect.is_empty() {
            return;
        }
        if wire.expect.is_empty() && t.failure.is_some() {
            return;
        }
        t.data_sent = true;
        match t.mode {
            BodyMode::Data => wire.write(Command::Data, Some(Expect::Data)),
            BodyMode::BdatLast(0) => {
                // An empty message ends with its command: it is written
                // once the body has shown its end (see `Txn::end_held`).
                t.end_held = true;
                t.streaming = true;
            }
            BodyMode::BdatLast(size) => {
                wire.write(
                    Command::Bdat { size, last: true },
                    Some(Expect::Bdat { last: true }),
                );
                // Its reply is out of turn until the chunk's end is taken.
                wire.bdat_held = true;
                t.streaming = true;
            }
            BodyMode::BdatChunked => t.streaming = true,
        }
    }

    fn txn_reply(&mut self, expect: Expect, command: String, reply: Reply) {
        let require_all = self.config.require_all_recipients;
        let Phase::Txn(t) = &mut self.phase else {
            self.fatal(
                SmtpError::Protocol(format!("reply to {command} outside a transaction")),
                false,
            );
            return;
        };
        match expect {
            Expect::Mail if !reply.is_positive() && t.failure.is_none() => {
                t.failure = Some(SmtpError::Reply { command, reply });
            }
            Expect::Rcpt => {
                let address = t
                    .recipients
                    .get(t.results.len())
                    .cloned()
                    .unwrap_or_default();
                t.results.push(RecipientResult { address, reply });
                if t.results.len() == t.recipients.len() && t.failure.is_none() {
                    let accepted = t.results.iter().filter(|r| r.accepted()).count();
                    if accepted == 0 {
                        t.failure = Some(SmtpError::AllRecipientsRejected {
                            recipients: t.results.clone(),
                        });
                    } else if require_all && accepted < t.results.len() {
                        t.failure = Some(SmtpError::RecipientsRejected {
                            recipients: t.results.clone(),
                        });
                    }
                }
            }
            Expect::Data => {
                if reply.code() == 354 {
                    if t.failure.is_some() {
                        // Accepted DATA despite the failures (pipelined):
                        // end an empty message rather than send this one.
                        t.body_done = true;
                        self.wire
                            .write(Command::Content(b".\r\n".to_vec()), Some(Expect::DataEnd));
                    } else {
                        t.streaming = true;
                    }
                } else if t.failure.is_none() {
                    t.failure = Some(SmtpError::Reply { command, reply });
                }
            }
            Expect::Bdat { last } => {
                if !reply.is_positive() {
                    if t.failure.is_none() {
                        t.failure = Some(SmtpError::Reply { command, reply });
                    }
                } else if last {
                    t.final_reply = Some(reply);
                }
            }
            Expect::DataEnd => {
                if !reply.is_positive() {
                    if t.failure.is_none() {
                        t.failure = Some(SmtpError::Reply { command, reply });
                    }
                } else {
                    t.final_reply = Some(reply);
                }
            }
            _ => {}
        }
        self.txn_check();
    }

    /// Finishes the transaction when nothing more can happen, else pumps.
    fn txn_check(&mut self) {
        let Phase::Txn(t) = &mut self.phase else {
            return;
        };
        // A chunked body can stop at a chunk boundary once it has failed.
        if t.failure.is_some() && t.mode == BodyMode::BdatChunked && t.streaming {
            t.body_done = true;
        }
        let in_flight = !self.wire.expect.is_empty() || (t.streaming && !t.body_done);
        if in_flight {
            self.txn_pump();
            return;
        }
        if let Some(error) = t.failure.take() {
            let id = t.id;
            self.phase = Phase::Ready;
            self.emit(Event::MessageFailed { id, error });
            self.wire.write(Command::Rset, Some(Expect::Rset));
        } else if let Some(reply) = t.final_reply.take() {
            let sent = SentMessage {
                id: t.id,
                recipients: std::mem::take(&mut t.results),
                reply,
            };
            self.phase = Phase::Ready;
            self.emit(Event::MessageSent(sent));
            self.start_next();
        } else {
            self.txn_pump();
        }
    }

    /// Pulls one body chunk into the output when the transaction streams;
    /// false when there was nothing to pull.
    fn pump_body(&mut self) -> bool {
        let Phase::Txn(t) = &mut self.phase else {
            return false;
        };
        if !t.streaming || t.body_done || t.body_waiting.is_some() {
            return false;
        }
        // Chunks of unknown count wait for their replies: one at a time
        // without PIPELINING; with it, at most MAX_REPLIES_AWAITED replies
        // are owed, so the transport reads them while it writes (RFC 2920
        // §3.1). Unbounded, a large body went out whole before any reply
        // was read, and a server that answers each chunk as it reads it
        // filled the client's receive buffer and stopped reading.
        if t.mode == BodyMode::BdatChunked
            && !self.wire.expect.is_empty()
            && (!t.pipelining || self.wire.expect.len() >= MAX_REPLIES_AWAITED)
        {
            return false;
        }
        let wire = &mut self.wire;
        let start = wire.out.len();
        let chunk = match t.body.poll_chunk() {
            Ok(Poll::Ready(c)) => c,
            Ok(Poll::Pending) => {
                let wait = self.config.timeout.unwrap_or(BODY_WAIT);
                t.body_waiting = Some(self.now.saturating_add(wait));
                return false;
            }
            Err(e) => {
                self.body_failed(SmtpError::Body(e.to_string()));
                return false;
            }
        };
        match (chunk, t.mode) {
            (Some(chunk), BodyMode::Data) => {
                t.encoder.encode(chunk, &mut wire.out);
                t.content_len += (wire.out.len() - start) as u64;
                wire.content(start);
            }
            (Some(chunk), BodyMode::BdatLast(size)) => {
                t.encoder.encode(chunk, &mut wire.out);
                let produced = (wire.out.len() - start) as u64;
                t.content_len += produced;
                if t.content_len > size {
                    // Never write past the announced size: the excess would
                    // be read as commands. Drop the chunk (and the held
                    // last octets) and end the session.
                    wire.out.truncate(start);
                    t.scratch.clear();
                    let actual = t.content_len;
                    self.fatal(
                        SmtpError::SizeMismatch {
                            declared: size,
                            actual,
                        },
                        false,
                    );
                    return false;
                }
                if t.content_len == size && !t.end_held {
                    // The last announced octets are here: hold them until
                    // the body has shown its end (the next pulls).
                    t.end_held = true;
                    t.scratch.extend_from_slice(&wire.out[start..]);
                    wire.out.truncate(start);
                } else {
                    wire.content(start);
                }
            }
            (Some(chunk), BodyMode::BdatChunked) => {
                // Gather small pieces into chunks of BDAT_CHUNK octets or
                // more; the rest goes with `BDAT n LAST`.
                t.encoder.encode(chunk, &mut t.scratch);
                if t.scratch.len() >= self.config.bdat_chunk_size.max(1) {
                    let size = t.scratch.len() as u64;
                    t.content_len += size;
                    wire.write(
                        Command::Bdat { size, last: false },
                        Some(Expect::Bdat { last: false }),
                    );
                    let start = wire.out.len();
                    wire.out.append(&mut t.scratch);
                    wire.content(start);
                }
            }
            (None, mode) => {
                t.body_done = true;
                match mode {
                    BodyMode::Data => {
                        t.encoder.finish(&mut wire.out);
                        t.content_len += (wire.out.len() - start) as u64;
                        wire.content(start);
                        wire.end_pending = Some(t.id);
                        wire.expect
                            .push_back((Expect::DataEnd, "end of data".into()));
                        wire.unsent += 1;
                    }
                    BodyMode::BdatLast(size) => {
                        if t.content_len != size {
                            let actual = t.content_len;
                            self.fatal(
                                SmtpError::SizeMismatch {
                                    declared: size,
                                    actual,
                                },
                                false,
                            );
                            return false;
                        }
                        // The body ended at its size: its end goes out.
                        if size == 0 {
                            wire.write(
                                Command::Bdat { size, last: true },
                                Some(Expect::Bdat { last: true }),
                            );
                        } else {
                            let start = wire.out.len();
                            wire.out.append(&mut t.scratch);
                            wire.content(start);
                        }
                        wire.end_pending = Some(t.id);
                    }
                    BodyMode::BdatChunked => {
                        let size = t.scratch.len() as u64;
                        t.content_len += size;
                        wire.write(
                            Command::Bdat { size, last: true },
                            Some(Expect::Bdat { last: true }),
                        );
                        if size > 0 {
                            let start = wire.out.len();
                            wire.out.append(&mut t.scratch);
                            wire.content(start);
                        }
                        wire.end_pending = Some(t.id);
                    }
                }
                let n = t.content_len;
                wire.note(Direction::Client, || {
                    format!("<{n} octets of message content>")
                });
                self.txn_check();
            }
        }
        true
    }

    /// The body failed mid-way. Nothing may end the message: with BDAT
    /// chunks (none sent with LAST) the message fails and RSET discards
    /// what was sent, after the replies to the chunks in flight; the session
    /// goes on. After DATA, or `BDAT n LAST` with n octets announced, only
    /// closing the connection can stop the server from taking a truncated
    /// message: the session ends without the end of data.
    fn body_failed(&mut self, error: SmtpError) {
        let Phase::Txn(t) = &mut self.phase else {
            return;
        };
        if t.mode != BodyMode::BdatChunked {
            self.fatal(error, false);
            return;
        }
        t.scratch.clear();
        t.body_done = true;
        t.body_waiting = None;
        // The body's error says more than a server's rejection of a chunk.
        t.failure = Some(error);
        self.wire.note(Direction::Client, || {
            "<message content failed: no BDAT LAST, RSET>".into()
        });
        self.txn_check();
    }
}
