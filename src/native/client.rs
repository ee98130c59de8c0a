//! The blocking client: a std::net driver of the sans-IO engine.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::body::SharedBody;
use super::error::NativeError;
use super::options::Options;
use super::tls::{self, Stream};
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

/// A blocking SMTP client over `std::net` (and rustls for TLS), driving
/// the crate's sans-IO engine ([`crate::smtp::Client`]).
///
/// It connects lazily on the first [`SmtpClient::send`], sends any number
/// of messages over one connection, reconnects when the connection was
/// closed, and says QUIT on [`SmtpClient::close`]. Dropping the client
/// closes the socket without QUIT.
///
/// ```no_run
/// use mimeograph::mime::Message;
/// use mimeograph::native::{Options, SmtpClient};
/// let mut client = SmtpClient::new(Options::from_url("smtp://ann:secret@mail.example.com:587")?);
/// let message = Message::builder()
///     .from("ann@example.com")
///     .to("bob@example.net")
///     .subject("Hi")
///     .text("Hello Bob\n")
///     .build()?;
/// let sent = client.send(message)?;
/// println!("accepted: {}", sent.reply);
/// client.close()?;
/// # Ok::<(), mimeograph::native::NativeError>(())
/// ```
pub struct SmtpClient {
    options: Options,
    tls_config: Option<Arc<ClientConfig>>,
    conn: Option<Connection>,
    epoch: Instant,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("options", &self.options)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// One open connection and its engine.
struct Connection {
    stream: Stream,
    engine: Client,
    ready: Option<Capabilities>,
    /// An I/O error (not a plain close by the peer) that ended the link.
    io_error: Option<io::Error>,
}

/// What a drive of the engine waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Ready,
    Message(MessageId),
    Closed,
}

/// Outcome of one attempt at a message.
enum Attempt {
    Sent(crate::smtp::SentMessage),
    Failed(SmtpError),
}

/// Peer-closed I/O errors: the connection is gone, nothing more to say.
fn is_peer_close(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

fn is_would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A 450/451 on MAIL or RCPT with no recipient accepted: greylisting.
fn is_greylisting(e: &SmtpError) -> bool {
    let grey = |r: &Reply| matches!(r.code(), 450 | 451);
    match e {
        SmtpError::Reply { command, reply } => {
            grey(reply) && (command.starts_with("MAIL") || command.starts_with("RCPT"))
        }
        SmtpError::AllRecipientsRejected { recipients } => {
            !recipients.is_empty() && recipients.iter().all(|r| grey(&r.reply))
        }
        _ => false,
    }
}

impl SmtpClient {
    /// A client with these options; nothing is connected yet.
    pub fn new(options: Options) -> SmtpClient {
        SmtpClient {
            options,
            tls_config: None,
            conn: None,
            epoch: Instant::now(),
        }
    }

    /// A client for an `smtp://` or `smtps://` URL (see [`Options::from_url`]).
    pub fn from_url(url: &str) -> Result<SmtpClient, NativeError> {
        Ok(SmtpClient::new(Options::from_url(url)?))
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// True while a connection is open (it may still be closed by the
    /// server at any time; [`SmtpClient::send`] then reconnects).
    pub fn is_connected(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.engine.is_closed())
    }

    /// True when the open connection is encrypted (implicit TLS or STARTTLS).
    pub fn is_encrypted(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.engine.is_encrypted())
    }

    /// Connects now (if not connected) and waits until the session is ready
    /// for mail: greeting, EHLO, STARTTLS, AUTH. Returns the server's
    /// capabilities (from the last EHLO).
    pub fn connect(&mut self) -> Result<Capabilities, NativeError> {
        self.ensure_connected()?;
        if let Some(caps) = self.conn.as_ref().and_then(|c| c.ready.clone()) {
            return Ok(caps);
        }
        self.drive(Until::Ready)?;
        self.conn
            .as_ref()
            .and_then(|c| c.ready.clone())
            .ok_or(NativeError::Smtp(SmtpError::Closed))
    }

    /// Sends a message and waits for the server's verdict: `Ok` only after
    /// the final 2xx. Retries once after a greylisting 450/451 (see
    /// [`Options::greylist_retry`]) and once on a new connection when the
    /// connection dropped before the message was accepted (see
    /// [`Options::reconnect_retry`]).
    pub fn send(&mut self, message: Message) -> Result<SentMessage, NativeError> {
        let message_id = message.message_id().to_string();
        let envelope = message.envelope().clone();
        let body = SharedBody::new(message);
        let mut attempts = 0;
        let mut greylist_retried = false;
        let mut reconnect_retried = false;
        loop {
            attempts += 1;
            self.ensure_connected()?;
            match self.attempt(envelope.clone(), body.handle())? {
                Attempt::Sent(s) => {
                    return Ok(SentMessage {
                        message_id,
                        recipients: s.recipients,
                        reply: s.reply,
                        attempts,
                    })
                }
                Attempt::Failed(SmtpError::Body(shown)) => {
                    return Err(match body.take_error() {
                        Some(e) => NativeError::Compose(e),
                        None => NativeError::Smtp(SmtpError::Body(shown)),
                    });
                }
                Attempt::Failed(SmtpError::Closed) => {
                    if let Some(e) = self.conn.take().and_then(|c| c.io_error) {
                        return Err(NativeError::Io(e));
                    }
                    if !self.options.reconnect_retry || reconnect_retried {
                        return Err(NativeError::Smtp(SmtpError::Closed));
                    }
                    reconnect_retried = true;
                }
                Attempt::Failed(e) => match self.options.greylist_retry {
                    Some(delay) if !greylist_retried && is_greylisting(&e) => {
                        greylist_retried = true;
                        std::thread::sleep(delay);
                    }
                    _ => {
                        if self.conn.as_ref().is_some_and(|c| c.io_error.is_some()) {
                            if let Some(io) = self.conn.take().and_then(|c| c.io_error) {
                                return Err(NativeError::Io(io));
                            }
                        }
                        return Err(NativeError::Smtp(e));
                    }
                },
            }
        }
    }

    /// Says QUIT (after any message in flight) and closes the connection.
    /// Does nothing when not connected.
    pub fn close(&mut self) -> Result<(), NativeError> {
        let now = self.now();
        match self.conn.as_mut() {
            Some(c) if !c.engine.is_closed() => c.engine.quit(now),
            _ => {
                self.conn = None;
                return Ok(());
            }
        }
        let result = self.drive(Until::Closed);
        if let Some(mut c) = self.conn.take() {
            c.stream.shutdown();
        }
        result.map(|_| ())
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn engine_config(&self) -> Config {
        let (credentials, authentication) = self.options.credentials();
        Config {
            hello_name: self.options.hello_name(),
            tls: if self.options.ssl {
                TlsPolicy::Never
            } else {
                self.options.tls
            },
            credentials,
            authentication,
            allow_insecure_auth: self.options.allow_insecure_auth,
            timeout: Some(self.options.timeout),
            transcript: self.options.logger.is_some(),
            ..Config::default()
        }
    }

    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, NativeError> {
        if let Some(c) = &self.tls_config {
            return Ok(Arc::clone(c));
        }
        let c = tls::client_config(&self.options)?;
        self.tls_config = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Opens a connection unless one is open.
    fn ensure_connected(&mut self) -> Result<(), NativeError> {
        self.check_idle();
        if self.is_connected() {
            return Ok(());
        }
        if let Some(mut old) = self.conn.take() {
            old.stream.shutdown();
        }
        let host = self.options.host.clone();
        let port = self.options.effective_port();
        let timeout = self.options.timeout.max(Duration::from_millis(1));
        let connect_error = |source| NativeError::Connect {
            host: host.clone(),
            port,
            source,
        };
        let addrs = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(connect_error)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        let mut sock = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let sock = sock.ok_or_else(|| connect_error(last))?;
        sock.set_nodelay(true).map_err(NativeError::Io)?;
        sock.set_read_timeout(Some(timeout))
            .map_err(NativeError::Io)?;
        sock.set_write_timeout(Some(timeout))
            .map_err(NativeError::Io)?;
        let mut stream = Stream::Plain(sock);
        if self.options.ssl {
            let config = self.tls_config()?;
            stream = stream.into_tls(config, tls::server_name(&host)?, timeout)?;
        }
        let engine = Client::new(self.engine_config(), self.options.ssl, self.now())?;
        self.conn = Some(Connection {
            stream,
            engine,
            ready: None,
            io_error: None,
        });
        Ok(())
    }

    /// On a reused idle connection, reads what the server said meanwhile
    /// (without waiting) and hands it to the engine, so that a connection
    /// the server closed (often after an idle `421`) is noticed before a
    /// message is offered on it.
    fn check_idle(&mut self) {
        let now = self.now();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.engine.is_closed() || !conn.engine.is_idle() {
            return;
        }
        if conn.stream.tcp().set_nonblocking(true).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    conn.engine.connection_closed(now);
                    break;
                }
                Ok(n) => conn.engine.receive(&buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_would_block(&e) => break,
                Err(_) => {
                    conn.engine.connection_closed(now);
                    break;
                }
            }
            if conn.engine.is_closed() {
                break;
            }
        }
        let _ = conn.stream.tcp().set_nonblocking(false);
        // Drop the events of an idle session (an unsolicited 421 closes it).
        while conn.engine.poll_event().is_some() {}
        self.log();
    }

    fn attempt(&mut self, envelope: Envelope, body: SharedBody) -> Result<Attempt, NativeError> {
        let now = self.now();
        let conn = self
            .conn
            .as_mut()
            .ok_or(NativeError::Smtp(SmtpError::NotConnected))?;
        let id = conn.engine.send(envelope, Box::new(body), now)?;
        match self.drive(Until::Message(id)) {
            Ok(Some(Event::MessageSent(s))) => Ok(Attempt::Sent(s)),
            Ok(Some(Event::MessageFailed { error, .. })) => Ok(Attempt::Failed(error)),
            Ok(_) => Ok(Attempt::Failed(SmtpError::Closed)),
            Err(NativeError::Smtp(e)) => Ok(Attempt::Failed(e)),
            Err(e) => Err(e),
        }
    }

    fn log(&mut self) {
        let (Some(logger), Some(conn)) = (&self.options.logger, self.conn.as_mut()) else {
            return;
        };
        for line in conn.engine.take_transcript() {
            logger(&line);
        }
    }

    /// Runs the engine until `until` happens. Returns the event that
    /// matched (`MessageSent`/`MessageFailed`, `Ready`, `Closed`), or an
    /// error when the session ended first or the transport failed.
    fn drive(&mut self, until: Until) -> Result<Option<Event>, NativeError> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let now = self.now();
            let timeout = self.options.timeout.max(Duration::from_millis(1));
            let Some(conn) = self.conn.as_mut() else {
                return Err(NativeError::Smtp(SmtpError::NotConnected));
            };
            // 1. Write what the engine has to say.
            while let Some(bytes) = conn.engine.poll_transmit() {
                if let Err(e) = conn
                    .stream
                    .write_all(&bytes)
                    .and_then(|()| conn.stream.flush())
                {
                    if !is_peer_close(&e) {
                        conn.io_error = Some(e);
                    }
                    conn.engine.connection_closed(now);
                    break;
                }
            }
            // 2. Act on its events.
            let mut found = None;
            let mut closed = None;
            let mut start_tls = false;
            while let Some(event) = conn.engine.poll_event() {
                match &event {
                    Event::StartTls => start_tls = true,
                    Event::Ready(caps) => {
                        conn.ready = Some(caps.clone());
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
                while let Some(bytes) = conn.engine.poll_transmit() {
                    let _ = conn.stream.write_all(&bytes);
                }
                let _ = conn.stream.flush();
                conn.stream.shutdown();
                self.log();
                if until == Until::Closed {
                    return Ok(None);
                }
                if found.is_some() {
                    return Ok(found);
                }
                return Err(NativeError::Smtp(error.unwrap_or(SmtpError::Closed)));
            }
            if start_tls {
                self.log();
                self.upgrade()?;
                continue;
            }
            self.log();
            if found.is_some() {
                return Ok(found);
            }
            // 3. Wait for the server, at most until the engine's deadline.
            let Some(conn) = self.conn.as_mut() else {
                return Err(NativeError::Smtp(SmtpError::NotConnected));
            };
            let wait = conn
                .engine
                .poll_timeout()
                .map_or(timeout, |at| at.saturating_sub(now))
                .clamp(Duration::from_millis(1), timeout);
            let _ = conn.stream.tcp().set_read_timeout(Some(wait));
            match conn.stream.read(&mut buf) {
                Ok(0) => conn.engine.connection_closed(self.epoch.elapsed()),
                Ok(n) => conn.engine.receive(&buf[..n], self.epoch.elapsed()),
                Err(e) if is_would_block(&e) => conn.engine.handle_timeout(self.epoch.elapsed()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if !is_peer_close(&e) {
                        conn.io_error = Some(e);
                    }
                    conn.engine.connection_closed(self.epoch.elapsed());
                }
            }
        }
    }

    /// STARTTLS: wraps the socket in TLS and tells the engine.
    fn upgrade(&mut self) -> Result<(), NativeError> {
        let config = self.tls_config()?;
        let name = tls::server_name(&self.options.host)?;
        let timeout = self.options.timeout.max(Duration::from_millis(1));
        let Some(conn) = self.conn.take() else {
            return Err(NativeError::Smtp(SmtpError::NotConnected));
        };
        let Connection {
            stream,
            engine,
            ready,
            io_error,
        } = conn;
        let _ = stream.tcp().set_read_timeout(Some(timeout));
        let stream = stream.into_tls(config, name, timeout)?;
        let mut conn = Connection {
            stream,
            engine,
            ready,
            io_error,
        };
        conn.engine.tls_established(self.now());
        self.conn = Some(conn);
        Ok(())
    }
}

impl Drop for SmtpClient {
    fn drop(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.stream.shutdown();
        }
    }
}
