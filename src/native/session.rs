//! What the blocking and the async clients share: the engine of one
//! connection with the handling of its events and of I/O outcomes, and the
//! delivery policy of one message (greylisting and reconnect retries, and
//! never a retry once the outcome is unknown). The clients only move bytes,
//! wait and upgrade to TLS.

use std::io;
use std::time::Duration;

use super::body::{BodySignal, SharedBody};
use super::error::NativeError;
use super::options::{Logger, Options};
use crate::envelope::Envelope;
use crate::mime::Message;
use crate::smtp::{
    Capabilities, Client, Config, Event, MessageId, RecipientResult, Reply, SmtpError, TlsPolicy,
};

/// A message the server accepted (its final 2xx reply was read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The message's Message-ID (without angle brackets).
    pub message_id: String,
    /// One result per envelope recipient; some may have been refused (the
    /// message went to the others).
    pub recipients: Vec<RecipientResult>,
    /// The server's reply to the end of the data (often carries a queue id).
    pub reply: Reply,
    /// How many times the message was offered (1, or 2 after a greylisting
    /// or dropped-connection retry).
    pub attempts: u32,
}

/// The engine configuration for these options.
pub(crate) fn engine_config(o: &Options) -> Config {
    let (credentials, authentication) = o.credentials();
    Config {
        hello_name: o.hello_name(),
        tls: if o.ssl { TlsPolicy::Never } else { o.tls },
        credentials,
        authentication,
        allow_insecure_auth: o.allow_insecure_auth,
        require_all_recipients: o.require_all_recipients,
        timeout: Some(io_timeout(o)),
        transcript: o.logger.is_some(),
        ..Config::default()
    }
}

/// The longest wait: a timeout beyond it (`Duration::MAX` for "never",
/// say) waits this long. Deadlines are `Instant`s, which cannot hold
/// `now + Duration::MAX`.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The one timeout, at least a millisecond (zero means "no timeout" to
/// some socket APIs) and at most a year ([`LONGEST_WAIT`]).
pub(crate) fn io_timeout(o: &Options) -> Duration {
    o.timeout.clamp(Duration::from_millis(1), LONGEST_WAIT)
}

/// The error for a failed TCP connect.
pub(crate) fn connect_error(o: &Options, source: io::Error) -> NativeError {
    NativeError::Connect {
        host: o.host.clone(),
        port: o.effective_port(),
        source,
    }
}

/// Peer-closed I/O errors: the connection is gone, nothing more to say.
pub(crate) fn is_peer_close(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

/// A read that found nothing before its deadline.
pub(crate) fn is_would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// What a drive of the engine waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    Ready,
    Message(MessageId),
    Closed,
}

/// What the transport does after [`Session::step`].
pub(crate) enum Step {
    /// Wait for the server (at most [`Session::wait`]).
    Wait,
    /// Upgrade to TLS, then call `engine.tls_established`.
    StartTls,
    /// The awaited event happened.
    Found(Event),
    /// The session is over: write what `poll_transmit` still gives (best
    /// effort), close the connection, and return this.
    Closed(Result<Option<Event>, NativeError>),
}

/// The engine of one open connection, and what the transport learnt.
pub(crate) struct Session {
    pub(crate) engine: Client,
    /// The capabilities once the session was ready.
    pub(crate) ready: Option<Capabilities>,
    /// An I/O error (not a plain close by the peer) that ended the link.
    pub(crate) io_error: Option<io::Error>,
    /// How many messages were queued on this connection.
    offered: u32,
}

impl Session {
    pub(crate) fn new(o: &Options, now: Duration) -> Result<Session, NativeError> {
        Ok(Session {
            engine: Client::new(engine_config(o), o.ssl, now)?,
            ready: None,
            io_error: None,
            offered: 0,
        })
    }

    /// Writing failed: the connection is gone. A write that timed out (the
    /// server stopped reading) is reported as `TimedOut` by both clients
    /// (a blocking socket says `WouldBlock`).
    pub(crate) fn write_failed(&mut self, e: io::Error, now: Duration) {
        if is_would_block(&e) {
            self.io_error = Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "timed out writing to the server (it stopped reading)",
            ));
        } else if !is_peer_close(&e) {
            self.io_error = Some(e);
        }
        self.engine.connection_closed(now);
    }

    /// The next bytes to write, if any. `now` keeps the engine's clock
    /// current while a long body is written (`poll_transmit` takes no
    /// clock, and the deadline for the reply to the end of the data is
    /// armed when its last octets are pulled): without it an upload that
    /// outlasts the timeout would time out at its last octet. Receiving
    /// no bytes only sets the clock; no deadline is checked.
    pub(crate) fn transmit(&mut self, now: Duration) -> Option<Vec<u8>> {
        self.engine.receive(&[], now);
        self.engine.poll_transmit()
    }

    /// A read (bounded by [`Session::wait`]) finished with `r`; `buf` holds
    /// the bytes read.
    pub(crate) fn on_read(&mut self, r: io::Result<usize>, buf: &[u8], now: Duration) {
        match r {
            Ok(0) => self.engine.connection_closed(now),
            Ok(n) => {
                self.engine.receive(&buf[..n.min(buf.len())], now);
                // The deadline bounds a whole reply: a server trickling
                // octets faster than the read timeout must not outlive it.
                self.engine.handle_timeout(now);
            }
            Err(e) if is_would_block(&e) => self.engine.handle_timeout(now),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.write_failed(e, now),
        }
    }

    /// How long to wait for the server: until the engine's deadline, within
    /// `[1 ms, timeout]`.
    pub(crate) fn wait(&self, now: Duration, timeout: Duration) -> Duration {
        self.engine
            .poll_timeout()
            .map_or(timeout, |at| at.saturating_sub(now))
            .clamp(Duration::from_millis(1), timeout)
    }

    /// True when a reused connection should be checked for what the server
    /// said while it was idle (see [`Session::idle_read`]).
    pub(crate) fn is_idle(&self) -> bool {
        !self.engine.is_closed() && self.engine.is_idle()
    }

    /// A read without waiting on an idle connection gave `r`; false when
    /// there is nothing more to read now.
    pub(crate) fn idle_read(&mut self, r: io::Result<usize>, buf: &[u8], now: Duration) -> bool {
        self.read_without_wait(r, buf, now, false)
    }

    /// While a body waits for its data: a read without waiting gave `r`
    /// (replies to what was sent, e.g. BDAT chunks); false when there is
    /// nothing more to read now. An I/O error is kept for the caller.
    pub(crate) fn read_now(&mut self, r: io::Result<usize>, buf: &[u8], now: Duration) -> bool {
        self.read_without_wait(r, buf, now, true)
    }

    /// [`Session::idle_read`] and [`Session::read_now`]: an I/O error
    /// closes the session, and is kept in `io_error` when `keep_error`.
    fn read_without_wait(
        &mut self,
        r: io::Result<usize>,
        buf: &[u8],
        now: Duration,
        keep_error: bool,
    ) -> bool {
        match r {
            Ok(0) => self.engine.connection_closed(now),
            Ok(n) => self.engine.receive(&buf[..n.min(buf.len())], now),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
            Err(e) if is_would_block(&e) => return false,
            Err(e) if keep_error => self.write_failed(e, now),
            Err(_) => self.engine.connection_closed(now),
        }
        !self.engine.is_closed()
    }

    /// A wait for a pending body ended: `moved` when its source gave
    /// something (a chunk, its end, bytes read), so the engine pulls again;
    /// else the wait's time is up and the deadlines are checked: a body
    /// that gave nothing for the timeout fails its message
    /// ([`SmtpError::BodyTimeout`]).
    pub(crate) fn body_waited(&mut self, moved: bool, now: Duration) {
        if moved {
            self.engine.body_ready(now);
        } else {
            self.engine.handle_timeout(now);
        }
    }

    /// After an idle check: drops the events of the idle session (an
    /// unsolicited 421 closes it).
    pub(crate) fn idle_done(&mut self) {
        while self.engine.poll_event().is_some() {}
    }

    /// Acts on the engine's events for a drive that waits for `until`.
    pub(crate) fn step(&mut self, until: Until) -> Step {
        let mut found = None;
        let mut closed = None;
        let mut start_tls = false;
        while let Some(event) = self.engine.poll_event() {
            match &event {
                Event::StartTls => start_tls = true,
                Event::Ready(caps) => {
                    self.ready = Some(caps.clone());
                    if until == Until::Ready {
                        found = Some(event);
                    }
                }
                Event::MessageSent(s) if until == Until::Message(s.id) => found = Some(event),
                Event::MessageFailed { id, .. } if until == Until::Message(*id) => {
                    found = Some(event)
                }
                Event::Closed { error } => closed = Some(error.clone()),
                _ => {}
            }
        }
        if let Some(error) = closed {
            return Step::Closed(if until == Until::Closed {
                Ok(None)
            } else if found.is_some() {
                Ok(found)
            } else {
                Err(NativeError::Smtp(error.unwrap_or(SmtpError::Closed)))
            });
        }
        if start_tls {
            return Step::StartTls;
        }
        match found {
            Some(event) => Step::Found(event),
            None => Step::Wait,
        }
    }

    /// Hands the transcript to the logger.
    pub(crate) fn log(&mut self, logger: &Option<Logger>) {
        if let Some(logger) = logger {
            for line in self.engine.take_transcript() {
                logger(&line);
            }
        }
    }
}

/// What the client does after an attempt at a message.
pub(crate) enum Next {
    /// Return this to the caller.
    Done(Result<SentMessage, NativeError>),
    /// Try again (reconnecting if the connection is closed), after this
    /// delay.
    Retry(Duration),
}

/// One message being delivered: its envelope and re-renderable body, and
/// the retry policy's state.
pub(crate) struct Delivery {
    message_id: String,
    envelope: Envelope,
    body: SharedBody,
    attempts: u32,
    greylist_retried: bool,
    reconnect_retried: bool,
    /// The current attempt went over a connection that carried a message
    /// before.
    reused: bool,
    /// The message was queued again after a reused connection failed
    /// before its transaction began.
    requeued: bool,
}

impl Delivery {
    pub(crate) fn new(message: Message) -> Delivery {
        Delivery {
            message_id: message.message_id().to_string(),
            envelope: message.envelope().clone(),
            body: SharedBody::new(message),
            attempts: 0,
            greylist_retried: false,
            reconnect_retried: false,
            reused: false,
            requeued: false,
        }
    }

    /// What to wait on while the engine says the message's body is
    /// pending (a message with a stream attachment; `None` otherwise).
    pub(crate) fn body_signal(&self) -> Option<&BodySignal> {
        self.body.signal()
    }

    /// Queues the message (again) on the session's engine.
    pub(crate) fn start(
        &mut self,
        session: &mut Session,
        now: Duration,
    ) -> Result<MessageId, NativeError> {
        self.attempts += 1;
        session.offered += 1;
        self.reused = session.offered > 1;
        Ok(session
            .engine
            .send(self.envelope.clone(), Box::new(self.body.handle()), now)?)
    }

    /// Decides after the drive for message `id` ended with `result` (the
    /// session, if still there, tells how the connection ended).
    pub(crate) fn finish(
        &mut self,
        options: &Options,
        session: Option<&mut Session>,
        id: MessageId,
        result: Result<Option<Event>, NativeError>,
    ) -> Next {
        let error = match result {
            Ok(Some(Event::MessageSent(s))) => {
                return Next::Done(Ok(SentMessage {
                    message_id: self.message_id.clone(),
                    recipients: s.recipients,
                    reply: s.reply,
                    attempts: self.attempts,
                }))
            }
            Ok(Some(Event::MessageFailed { error, .. })) | Err(NativeError::Smtp(error)) => error,
            Ok(_) => SmtpError::Closed,
            Err(e) => return Next::Done(Err(e)),
        };
        if let SmtpError::Body(shown) = error {
            return Next::Done(Err(match self.body.take_error() {
                Some(e) => NativeError::Compose(e),
                None => NativeError::Smtp(SmtpError::Body(shown)),
            }));
        }
        let (io_error, unknown, began) = match session {
            Some(s) => (
                s.io_error.take(),
                s.engine.outcome_unknown() == Some(id),
                // Only a closed session says for sure that it never will.
                !s.engine.is_closed() || s.engine.began(id),
            ),
            None => (None, false, true),
        };
        let cause = match io_error {
            Some(io) => NativeError::Io(io),
            None => NativeError::Smtp(error.clone()),
        };
        if unknown {
            // RFC 1047: the server may have the message; never resend it.
            return Next::Done(Err(NativeError::OutcomeUnknown {
                message_id: self.message_id.clone(),
                source: Box::new(cause),
            }));
        }
        if self.reused && !began && !self.requeued {
            // A reused connection failed before this message's transaction
            // began (e.g. the RSET after the previous, failed message was
            // refused, or the server closed it while idle): nothing of the
            // message reached the server. Offer it on a new connection; it
            // is not an attempt.
            self.requeued = true;
            self.attempts -= 1;
            return Next::Retry(Duration::ZERO);
        }
        if !matches!(cause, NativeError::Smtp(_)) {
            return Next::Done(Err(cause));
        }
        if !self.body.restartable() {
            // A reader attachment was taken by this attempt: another would
            // only fail with `SourceConsumed`, hiding this error.
            return Next::Done(Err(cause));
        }
        if self.reused && is_idle_close(&error) {
            // The race with an idle timeout: the server's 421 answered the
            // message's MAIL (or came unasked) on a reused connection, so
            // nothing of the message was accepted. Safe to offer it again
            // on a new connection, as after a plain close.
            if options.reconnect_retry && !self.reconnect_retried {
                self.reconnect_retried = true;
                return Next::Retry(Duration::ZERO);
            }
            return Next::Done(Err(cause));
        }
        if error == SmtpError::Closed {
            if options.reconnect_retry && !self.reconnect_retried {
                self.reconnect_retried = true;
                return Next::Retry(Duration::ZERO);
            }
            return Next::Done(Err(cause));
        }
        match options.greylist_retry {
            Some(delay) if !self.greylist_retried && error.is_greylisting() => {
                self.greylist_retried = true;
                Next::Retry(delay)
            }
            _ => Next::Done(Err(cause)),
        }
    }
}

/// A 421 before anything of the message was accepted: unasked, or the
/// answer to its MAIL.
fn is_idle_close(error: &SmtpError) -> bool {
    match error {
        SmtpError::ServiceClosing { command: None, .. } => true,
        SmtpError::ServiceClosing {
            command: Some(c), ..
        } => c.starts_with("MAIL "),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(timeout: Duration) -> Session {
        let mut o = Options::new("localhost");
        o.timeout = timeout;
        o.tls = TlsPolicy::Never;
        Session::new(&o, Duration::ZERO).unwrap()
    }

    /// A port whose server closes every connection at once (no greeting):
    /// a session there ends at once, whatever the timeout.
    fn closing_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                drop(conn);
            }
        });
        port
    }

    #[test]
    fn a_timeout_of_duration_max_is_a_year_not_a_panic() {
        // Found by review: `Instant::now() + Duration::MAX` panicked in
        // both clients' connect.
        let mut o = Options::new("127.0.0.1");
        o.port = Some(closing_port());
        o.timeout = Duration::MAX;
        o.tls = TlsPolicy::Never;
        assert_eq!(io_timeout(&o), LONGEST_WAIT);
        // The connect (where `Instant + Duration::MAX` panicked) succeeds;
        // the server's close ends the session.
        let err = super::super::SmtpClient::new(o.clone())
            .connect()
            .unwrap_err();
        assert!(
            matches!(err, NativeError::Smtp(SmtpError::Closed)),
            "{err:?}"
        );
        #[cfg(feature = "tokio")]
        {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let err = rt
                .block_on(super::super::AsyncSmtpClient::new(o).connect())
                .unwrap_err();
            assert!(
                matches!(err, NativeError::Smtp(SmtpError::Closed)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn a_server_trickling_faster_than_the_read_timeout_still_times_out() {
        // Reads never time out (an octet every 10 ms), yet the reply never
        // ends: the deadline of the whole reply (1 s) ends the session.
        let mut s = session(Duration::from_secs(1));
        let mut now = Duration::ZERO;
        while !s.engine.is_closed() && now < Duration::from_secs(5) {
            now += Duration::from_millis(10);
            s.on_read(Ok(1), b"2", now);
        }
        assert!(now <= Duration::from_millis(1010), "closed at {now:?}");
        let mut closed = None;
        while let Some(e) = s.engine.poll_event() {
            if let Event::Closed { error } = e {
                closed = error;
            }
        }
        assert!(
            matches!(closed, Some(SmtpError::Timeout { .. })),
            "{closed:?}"
        );
    }

    #[test]
    fn a_write_that_timed_out_is_a_timeout_for_both_clients() {
        for kind in [io::ErrorKind::WouldBlock, io::ErrorKind::TimedOut] {
            let mut s = session(Duration::from_secs(1));
            s.write_failed(io::Error::from(kind), Duration::ZERO);
            assert_eq!(
                s.io_error.as_ref().map(io::Error::kind),
                Some(io::ErrorKind::TimedOut)
            );
            assert!(s.engine.is_closed());
        }
        let mut s = session(Duration::from_secs(1));
        s.write_failed(io::Error::from(io::ErrorKind::BrokenPipe), Duration::ZERO);
        assert!(s.io_error.is_none(), "a peer close is SmtpError::Closed");
    }
}
