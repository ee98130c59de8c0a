//! The async client: a tokio driver of the sans-IO engine, sharing options,
//! TLS configuration, event handling and the delivery policy with the
//! blocking client (see `session.rs`); only the I/O differs.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::body::BodySignal;
use super::dial;
use super::error::NativeError;
use super::options::Options;
use super::session::{self, Delivery, Next, SentMessage, Session, Step, Until};
use super::tls;
use crate::mime::Message;
use crate::smtp::{Capabilities, Event, SmtpError};

/// An async SMTP client over tokio (and tokio-rustls for TLS), driving the
/// crate's sans-IO engine ([`crate::smtp::Client`]) with the same options
/// and behaviour as [`super::SmtpClient`]: lazy connection, many messages
/// over one connection, reconnect and greylisting retries, never a resend
/// once a message's end of data was sent, QUIT on
/// [`AsyncSmtpClient::close`]. Timeouts follow the engine's deadlines.
///
/// A message with a stream attachment ([`crate::mime::Attachment::reader`],
/// whose `read` blocks) is rendered on a thread of its own, never on the
/// runtime: the client awaits its chunks, and a stream that gives no bytes
/// for [`Options::timeout`] fails the message with
/// [`SmtpError::BodyTimeout`], as with the blocking client. The thread
/// blocked in that `read` cannot be stopped: it is left behind and ends
/// when the `read` returns. Other messages are rendered by the task that
/// sends them.
///
/// ```no_run
/// # async fn run() -> Result<(), mimeograph::native::NativeError> {
/// use mimeograph::mime::Message;
/// use mimeograph::native::{AsyncSmtpClient, Options};
/// let mut client = AsyncSmtpClient::new(Options::from_url("smtps://ann:secret@mail.example.com")?);
/// let message = Message::builder()
///     .from("ann@example.com")
///     .to("bob@example.net")
///     .subject("Hi")
///     .text("Hello Bob\n")
///     .build()?;
/// let sent = client.send(message).await?;
/// println!("accepted: {}", sent.reply);
/// client.close().await?;
/// # Ok(())
/// # }
/// ```
pub struct AsyncSmtpClient {
    options: Options,
    tls_config: tls::ConfigCache,
    conn: Option<Connection>,
    epoch: Instant,
}

impl std::fmt::Debug for AsyncSmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSmtpClient")
            .field("options", &self.options)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// Plain TCP or TLS over TCP.
enum AsyncStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for AsyncStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            AsyncStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AsyncStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            AsyncStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => Pin::new(s).poll_flush(cx),
            AsyncStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            AsyncStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One open connection and its engine.
struct Connection {
    stream: AsyncStream,
    session: Session,
    /// Set while a call drives the engine and cleared when it returns: still
    /// set at the next call means that call's future was dropped mid-way
    /// (a caller's timeout, `select!`), perhaps inside a write, so the
    /// session is out of step with the server and is dropped, never reused.
    driving: bool,
}

/// A timeout on an I/O step, as the blocking socket would report it.
fn timed_out() -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

/// Opens the TCP connection as the blocking client does (`dial::connect`):
/// the name lookup and every address share `timeout`, and each address gets
/// its share of the time left, so one that never answers leaves time for
/// the next.
async fn dial(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + timeout;
    let addrs: Vec<std::net::SocketAddr> = match dial::ip_literal(host, port) {
        Some(addr) => vec![addr],
        None => tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| timed_out())??
            .collect(),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        let attempt = dial::attempt_timeout(left, addrs.len() - i);
        match tokio::time::timeout(attempt, TcpStream::connect(addr)).await {
            Ok(Ok(sock)) => return Ok(sock),
            Ok(Err(e)) => last = e,
            Err(_) => last = timed_out(),
        }
    }
    Err(last)
}

impl AsyncSmtpClient {
    /// A client with these options; nothing is connected yet.
    pub fn new(options: Options) -> AsyncSmtpClient {
        AsyncSmtpClient {
            options,
            tls_config: tls::ConfigCache::default(),
            conn: None,
            epoch: Instant::now(),
        }
    }

    /// A client for an `smtp://` or `smtps://` URL (see [`Options::from_url`]).
    pub fn from_url(url: &str) -> Result<AsyncSmtpClient, NativeError> {
        Ok(AsyncSmtpClient::new(Options::from_url(url)?))
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// True while a connection is open.
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

    /// Connects now (if not connected) and waits until the session is ready
    /// for mail; returns the server's capabilities. See
    /// [`super::SmtpClient::connect`].
    pub async fn connect(&mut self) -> Result<Capabilities, NativeError> {
        self.ensure_connected().await?;
        if let Some(caps) = self.conn.as_ref().and_then(|c| c.session.ready.clone()) {
            return Ok(caps);
        }
        self.drive(Until::Ready, None).await?;
        self.conn
            .as_ref()
            .and_then(|c| c.session.ready.clone())
            .ok_or(NativeError::Smtp(SmtpError::Closed))
    }

    /// Sends a message and waits for the server's verdict, with the same
    /// retries and errors as [`super::SmtpClient::send`].
    ///
    /// Dropping the future before it completes (a caller's timeout,
    /// `select!`) leaves the connection out of step with the server (a
    /// flight may be half written): the next call drops that connection,
    /// without QUIT, and opens a new one. A message cut off before its end
    /// of data is then not delivered; one whose end of data was written may
    /// have been (nobody read the verdict).
    pub async fn send(&mut self, message: Message) -> Result<SentMessage, NativeError> {
        let mut delivery = Delivery::new(message);
        loop {
            self.ensure_connected().await?;
            let now = self.now();
            let conn = self
                .conn
                .as_mut()
                .ok_or(NativeError::Smtp(SmtpError::NotConnected))?;
            let id = delivery.start(&mut conn.session, now)?;
            let result = self.drive(Until::Message(id), delivery.body_signal()).await;
            let session = self.conn.as_mut().map(|c| &mut c.session);
            match delivery.finish(&self.options, session, id, result) {
                Next::Done(r) => return r,
                Next::Retry(delay) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }
    }

    /// Says QUIT (after any message in flight) and closes the connection.
    /// Does nothing when not connected.
    pub async fn close(&mut self) -> Result<(), NativeError> {
        self.drop_if_cancelled();
        let now = self.now();
        match self.conn.as_mut() {
            Some(c) if !c.session.engine.is_closed() => c.session.engine.quit(now),
            _ => {
                self.conn = None;
                return Ok(());
            }
        }
        let result = self.drive(Until::Closed, None).await;
        if let Some(mut c) = self.conn.take() {
            let timeout = session::io_timeout(&self.options);
            let _ = tokio::time::timeout(timeout, c.stream.shutdown()).await;
        }
        result.map(|_| ())
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    async fn ensure_connected(&mut self) -> Result<(), NativeError> {
        self.drop_if_cancelled();
        self.check_idle().await;
        if self.is_connected() {
            return Ok(());
        }
        self.conn = None;
        self.options.validate()?;
        let o = &self.options;
        let timeout = session::io_timeout(o);
        let sock = dial(&o.host, o.effective_port(), timeout)
            .await
            .map_err(|e| session::connect_error(o, e))?;
        sock.set_nodelay(true).map_err(NativeError::Io)?;
        let mut stream = AsyncStream::Plain(sock);
        if self.options.ssl {
            stream = self.handshake(stream).await?;
        }
        let session = Session::new(&self.options, self.now())?;
        self.conn = Some(Connection {
            stream,
            session,
            driving: false,
        });
        Ok(())
    }

    /// Wraps a plain stream in TLS within the timeout.
    async fn handshake(&mut self, stream: AsyncStream) -> Result<AsyncStream, NativeError> {
        let AsyncStream::Plain(sock) = stream else {
            return Err(NativeError::Tls("the link is already TLS".into()));
        };
        let config = self.tls_config.get(&self.options)?;
        let name = tls::server_name(&self.options.host)?;
        let timeout = session::io_timeout(&self.options);
        let connect = TlsConnector::from(config).connect(name, sock);
        match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(tls)) => Ok(AsyncStream::Tls(Box::new(tls))),
            Ok(Err(e)) => Err(NativeError::Tls(tls::tls_io_message(&e))),
            Err(_) => Err(NativeError::Tls("the handshake timed out".into())),
        }
    }

    /// Reads what the server said while the connection was idle, without
    /// waiting (see the blocking client's `check_idle`).
    async fn check_idle(&mut self) {
        let now = self.now();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if !conn.session.is_idle() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            // Poll the read once: ready data or nothing. (A zero timeout
            // would wait for the timer's next tick, about 1 ms, per send.)
            let r = std::future::poll_fn(|cx| {
                let mut rb = ReadBuf::new(&mut buf);
                Poll::Ready(match Pin::new(&mut conn.stream).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => Ok(rb.filled().len()),
                    Poll::Ready(Err(e)) => Err(e),
                    Poll::Pending => Err(io::Error::from(io::ErrorKind::WouldBlock)),
                })
            })
            .await;
            if !conn.session.idle_read(r, &buf, now) {
                break;
            }
        }
        conn.session.idle_done();
        conn.session.log(&self.options.logger);
    }

    /// Drops a connection whose last call was cancelled mid-way (see
    /// [`Connection::driving`]): without QUIT, which would follow whatever
    /// part of a flight was written. A message cut short before its end of
    /// data is then not delivered by the server.
    fn drop_if_cancelled(&mut self) {
        if self.conn.as_ref().is_some_and(|c| c.driving) {
            self.conn = None;
        }
    }

    /// Runs the engine until `until` (see `drive_steps`), marking the
    /// connection as driven meanwhile.
    async fn drive(
        &mut self,
        until: Until,
        signal: Option<&BodySignal>,
    ) -> Result<Option<Event>, NativeError> {
        if let Some(c) = self.conn.as_mut() {
            c.driving = true;
        }
        let result = self.drive_steps(until, signal).await;
        if let Some(c) = self.conn.as_mut() {
            c.driving = false;
        }
        result
    }

    /// Runs the engine until `until` happens (see the blocking client's
    /// `drive`). While the body of the message is pending (a stream
    /// attachment read on its own thread), waits for its `signal`, the
    /// server or the engine's deadline, whichever comes first.
    async fn drive_steps(
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
                let write = async {
                    conn.stream.write_all(&bytes).await?;
                    conn.stream.flush().await
                };
                let r = match tokio::time::timeout(timeout, write).await {
                    Ok(r) => r,
                    Err(_) => Err(timed_out()),
                };
                if let Err(e) = r {
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
                        let _ = tokio::time::timeout(timeout, conn.stream.write_all(&bytes)).await;
                    }
                    let _ = tokio::time::timeout(timeout, conn.stream.shutdown()).await;
                    return result;
                }
                Step::StartTls => {
                    self.upgrade().await?;
                    continue;
                }
                Step::Found(event) => return Ok(Some(event)),
                Step::Wait => {}
            }
            // 3. Wait for the server, at most until the engine's deadline
            // (and, while the body waits for its data, for the body).
            let wait = conn.session.wait(self.epoch.elapsed(), timeout);
            if let (Some(signal), Some(_)) = (signal, conn.session.engine.body_pending()) {
                let woke = wait_body(signal, &mut conn.stream, &mut buf, wait).await;
                let now = self.epoch.elapsed();
                match woke {
                    Woke::Body => conn.session.body_waited(true, now),
                    Woke::Server(r) => conn.session.on_read(r, &buf, now),
                    Woke::Deadline => conn.session.body_waited(false, now),
                }
                continue;
            }
            let r = match tokio::time::timeout(wait, conn.stream.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => Err(timed_out()),
            };
            let now = self.epoch.elapsed();
            conn.session.on_read(r, &buf, now);
        }
    }

    /// STARTTLS: wraps the socket in TLS and tells the engine.
    async fn upgrade(&mut self) -> Result<(), NativeError> {
        let Some(Connection {
            stream, session, ..
        }) = self.conn.take()
        else {
            return Err(NativeError::Smtp(SmtpError::NotConnected));
        };
        let stream = self.handshake(stream).await?;
        let mut conn = Connection {
            stream,
            session,
            driving: true,
        };
        conn.session.engine.tls_established(self.now());
        self.conn = Some(conn);
        Ok(())
    }
}

/// What ended a wait for a pending body.
enum Woke {
    /// The body's source gave something.
    Body,
    /// A read from the server finished with this.
    Server(io::Result<usize>),
    /// The wait's time is up.
    Deadline,
}

/// Waits (at most `wait`) for whichever comes first: the body's signal, or
/// the server (read into `buf`). Nothing is lost when the read loses: a
/// read that was not ready took nothing.
async fn wait_body(
    signal: &BodySignal,
    stream: &mut AsyncStream,
    buf: &mut [u8],
    wait: Duration,
) -> Woke {
    let sleep = tokio::time::sleep(wait);
    let mut sleep = std::pin::pin!(sleep);
    std::future::poll_fn(|cx| {
        if signal.poll_raised(cx).is_ready() {
            return Poll::Ready(Woke::Body);
        }
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
            Poll::Ready(r) => return Poll::Ready(Woke::Server(r.map(|()| rb.filled().len()))),
            Poll::Pending => {}
        }
        sleep.as_mut().poll(cx).map(|()| Woke::Deadline)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dials_a_name_and_a_bracketed_literal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = Duration::from_secs(5);
        // `localhost` may list ::1 first, where nothing listens: the next
        // address is tried.
        dial("localhost", port, t).await.unwrap();
        dial("127.0.0.1", port, t).await.unwrap();
        dial("[127.0.0.1]", port, t).await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_connection_is_the_address_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = dial("127.0.0.1", port, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
}
