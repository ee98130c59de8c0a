//! The blocking client: a std::net driver of the sans-IO engine.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::body::BodySignal;
use super::dial;
use super::error::NativeError;
use super::options::Options;
use super::session::{self, Delivery, Next, SentMessage, Session, Step, Until};
use super::tls::{self, Stream};
use crate::mime::Message;
use crate::smtp::{Capabilities, Event, SmtpError};

/// A blocking SMTP client over `std::net` (and rustls for TLS), driving
/// the crate's sans-IO engine ([`crate::smtp::Client`]).
///
/// It connects lazily on the first [`SmtpClient::send`], sends any number
/// of messages over one connection, reconnects when the connection was
/// closed, and says QUIT on [`SmtpClient::close`]. Dropping the client
/// closes the socket without QUIT.
///
/// A message with a stream attachment ([`crate::mime::Attachment::reader`])
/// is rendered on a thread of its own while it is sent, so that a `read`
/// that blocks cannot hold the client past [`Options::timeout`]: a stream
/// that gives no bytes (and does not end) for that long fails the message
/// with [`SmtpError::BodyTimeout`] (after DATA the connection is closed,
/// between BDAT chunks the transaction is reset), and the next
/// [`SmtpClient::send`] works as usual. The thread blocked in that `read`
/// cannot be stopped: it is left behind and ends when the `read` returns.
/// Messages without a stream attachment are rendered by the caller's
/// thread, as they are written.
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
    tls_config: tls::ConfigCache,
    conn: Option<Connection>,
    epoch: Instant,
    connections: u64,
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
    session: Session,
}

impl SmtpClient {
    /// A client with these options; nothing is connected yet.
    pub fn new(options: Options) -> SmtpClient {
        SmtpClient {
            options,
            tls_config: tls::ConfigCache::default(),
            conn: None,
            epoch: Instant::now(),
            connections: 0,
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
        self.conn
            .as_ref()
            .is_some_and(|c| !c.session.engine.is_closed())
    }

    /// True when the open connection is encrypted (implicit TLS or STARTTLS).
    pub fn is_encrypted(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.session.engine.is_encrypted())
    }

    /// How many connections this client has opened so far.
    pub(crate) fn connections_opened(&self) -> u64 {
        self.connections
    }

    /// Connects now (if not connected) and waits until the session is ready
    /// for mail: greeting, EHLO, STARTTLS, AUTH. Returns the server's
    /// capabilities (from the last EHLO).
    pub fn connect(&mut self) -> Result<Capabilities, NativeError> {
        self.ensure_connected()?;
        if let Some(caps) = self.conn.as_ref().and_then(|c| c.session.ready.clone()) {
            return Ok(caps);
        }
        self.drive(Until::Ready, None)?;
        self.conn
            .as_ref()
            .and_then(|c| c.session.ready.clone())
            .ok_or(NativeError::Smtp(SmtpError::Closed))
    }

    /// Sends a message and waits for the server's verdict: `Ok` only after
    /// the final 2xx. Retries once after a greylisting 450/451 (see
    /// [`Options::greylist_retry`]) and once on a new connection when the
    /// connection dropped before the end of the message's data was sent
    /// (see [`Options::reconnect_retry`]). When it dropped after, the
    /// server may have the message: [`NativeError::OutcomeUnknown`], never
    /// a resend.
    pub fn send(&mut self, message: Message) -> Result<SentMessage, NativeError> {
        let mut delivery = Delivery::new(message);
        loop {
            self.ensure_connected()?;
            let now = self.now();
            let conn = self
                .conn
                .as_mut()
                .ok_or(NativeError::Smtp(SmtpError::NotConnected))?;
            let id = delivery.start(&mut conn.session, now)?;
            let result = self.drive(Until::Message(id), delivery.body_signal());
            let session = self.conn.as_mut().map(|c| &mut c.session);
            match delivery.finish(&self.options, session, id, result) {
                Next::Done(r) => return r,
                Next::Retry(delay) => {
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                }
            }
        }
    }

    /// Says QUIT (after any message in flight) and closes the connection.
    /// Does nothing when not connected.
    pub fn close(&mut self) -> Result<(), NativeError> {
        let now = self.now();
        match self.conn.as_mut() {
            Some(c) if !c.session.engine.is_closed() => c.session.engine.quit(now),
            _ => {
                self.conn = None;
                return Ok(());
            }
        }
        let result = self.drive(Until::Closed, None);
        if let Some(mut c) = self.conn.take() {
            c.stream.shutdown();
        }
        result.map(|_| ())
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
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
        self.options.validate()?;
        let o = &self.options;
        let timeout = session::io_timeout(o);
        let sock = dial::connect(&o.host, o.effective_port(), timeout)
            .map_err(|e| session::connect_error(o, e))?;
        sock.set_nodelay(true).map_err(NativeError::Io)?;
        sock.set_read_timeout(Some(timeout))
            .map_err(NativeError::Io)?;
        sock.set_write_timeout(Some(timeout))
            .map_err(NativeError::Io)?;
        self.connections += 1;
        let mut stream = Stream::Plain(sock);
        if self.options.ssl {
            let config = self.tls_config.get(&self.options)?;
            stream = stream.into_tls(config, tls::server_name(&self.options.host)?, timeout)?;
        }
        let session = Session::new(&self.options, self.now())?;
        self.conn = Some(Connection { stream, session });
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
        if !conn.session.is_idle() || conn.stream.tcp().set_nonblocking(true).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            let r = conn.stream.read(&mut buf);
            if !conn.session.idle_read(r, &buf, now) {
                break;
            }
        }
        let _ = conn.stream.tcp().set_nonblocking(false);
        conn.session.idle_done();
        conn.session.log(&self.options.logger);
    }

    /// Runs the engine until `until` happens. Returns the event that
    /// matched (`MessageSent`/`MessageFailed`, `Ready`, `Closed`), or an
    /// error when the session ended first or the transport failed. While
    /// the body of the message is pending (a stream attachment read on its
    /// own thread), waits on its `signal` rather than on the server.
    fn drive(
        &mut self,
        until: Until,
        signal: Option<&BodySignal>,
    ) -> Result<Option<Event>, NativeError> {
        let mut buf = vec![0u8; 16 * 1024];
        let timeout = session::io_timeout(&self.options);
        loop {
            let now = self.now();
            let Some(conn) = self.conn.as_mut() else {
                return Err(NativeError::Smtp(SmtpError::NotConnected));
            };
            // 1. Write what the engine has to say (the clock moves on
            // while a long body is written).
            while let Some(bytes) = conn.session.transmit(self.epoch.elapsed()) {
                if let Err(e) = conn
                    .stream
                    .write_all(&bytes)
                    .and_then(|()| conn.stream.flush())
                {
                    conn.session.write_failed(e, now);
                    break;
                }
            }
            // 2. Act on its events.
            let step = conn.session.step(until);
            conn.session.log(&self.options.logger);
            match step {
                Step::Closed(result) => {
                    while let Some(bytes) = conn.session.engine.poll_transmit() {
                        let _ = conn.stream.write_all(&bytes);
                    }
                    let _ = conn.stream.flush();
                    conn.stream.shutdown();
                    return result;
                }
                Step::StartTls => {
                    self.upgrade()?;
                    continue;
                }
                Step::Found(event) => return Ok(Some(event)),
                Step::Wait => {}
            }
            // 3. Wait for the server, at most until the engine's deadline;
            // or, while the body waits for its data, for the body.
            let wait = conn.session.wait(self.epoch.elapsed(), timeout);
            if let (Some(signal), Some(_)) = (signal, conn.session.engine.body_pending()) {
                let moved = signal.wait(wait);
                let now = self.epoch.elapsed();
                if !moved {
                    // Before a deadline is checked: what the server said.
                    read_now(conn, &mut buf, now);
                }
                conn.session.body_waited(moved, now);
                continue;
            }
            conn.stream.set_read_wait(wait);
            let r = conn.stream.read(&mut buf);
            conn.stream.clear_read_wait();
            let now = self.epoch.elapsed();
            conn.session.on_read(r, &buf, now);
        }
    }

    /// STARTTLS: wraps the socket in TLS and tells the engine.
    fn upgrade(&mut self) -> Result<(), NativeError> {
        let config = self.tls_config.get(&self.options)?;
        let name = tls::server_name(&self.options.host)?;
        let timeout = session::io_timeout(&self.options);
        let Some(Connection { stream, session }) = self.conn.take() else {
            return Err(NativeError::Smtp(SmtpError::NotConnected));
        };
        let _ = stream.tcp().set_read_timeout(Some(timeout));
        let stream = stream.into_tls(config, name, timeout)?;
        let mut conn = Connection { stream, session };
        conn.session.engine.tls_established(self.now());
        self.conn = Some(conn);
        Ok(())
    }
}

/// Hands the engine what the server said while a body waited (replies to
/// BDAT chunks already sent, a close), without waiting: it is read before
/// any deadline is checked.
fn read_now(conn: &mut Connection, buf: &mut [u8], now: Duration) {
    if conn.stream.tcp().set_nonblocking(true).is_err() {
        return;
    }
    loop {
        let r = conn.stream.read(buf);
        if !conn.session.read_now(r, buf, now) {
            break;
        }
    }
    let _ = conn.stream.tcp().set_nonblocking(false);
}

impl Drop for SmtpClient {
    fn drop(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.stream.shutdown();
        }
    }
}
