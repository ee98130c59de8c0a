//! The one error type of the native transport.

use std::fmt;

use crate::mime::ComposeError;
use crate::smtp::SmtpError;

/// Errors of the native transport: SMTP (from the engine), I/O, TLS,
/// composition and bad options.
#[derive(Debug)]
#[non_exhaustive]
pub enum NativeError {
    /// The SMTP session failed or the server refused the message (rejections,
    /// 421, timeouts while waiting for a reply, authentication failures…).
    Smtp(SmtpError),
    /// No TCP connection could be made to any address of the host.
    Connect {
        /// The host name as configured.
        host: String,
        /// The port.
        port: u16,
        /// The last connection error.
        source: std::io::Error,
    },
    /// Reading from or writing to the socket failed (other than the peer
    /// closing it, which is [`SmtpError::Closed`]).
    Io(std::io::Error),
    /// The TLS handshake failed (untrusted or invalid certificate, protocol
    /// mismatch, timeout during the handshake…).
    Tls(String),
    /// The message could not be rendered.
    Compose(ComposeError),
    /// The options are unusable (bad URL, bad certificate, bad host name).
    InvalidOptions(String),
    /// The connection failed (closed, timed out, broke) after the end of
    /// the message's data was sent and before the server's verdict was
    /// read: the server may or may not have accepted it (RFC 1047). The
    /// message is not sent again automatically, since that could deliver
    /// it twice; the caller decides (resend and risk a duplicate, or not).
    OutcomeUnknown {
        /// The message's Message-ID (without angle brackets).
        message_id: String,
        /// What ended the connection.
        source: Box<NativeError>,
    },
    /// The pool was closed ([`crate::native::Pool::close`]).
    PoolClosed,
}

impl NativeError {
    /// The SMTP error, if this is one.
    pub fn smtp(&self) -> Option<&SmtpError> {
        match self {
            NativeError::Smtp(e) => Some(e),
            _ => None,
        }
    }

    /// The reply code, if a server reply caused the error.
    pub fn code(&self) -> Option<u16> {
        self.smtp().and_then(SmtpError::code)
    }

    /// True when the outcome of the message is unknown
    /// ([`NativeError::OutcomeUnknown`]): the server may have accepted it.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, NativeError::OutcomeUnknown { .. })
    }

    /// True when the error is a timeout (a server that stopped answering,
    /// or a connect or TLS handshake that took too long), also when it
    /// left the outcome of a message unknown.
    pub fn is_timeout(&self) -> bool {
        match self {
            NativeError::OutcomeUnknown { source, .. } => source.is_timeout(),
            NativeError::Smtp(SmtpError::Timeout { .. }) => true,
            NativeError::Connect { source, .. } | NativeError::Io(source) => matches!(
                source.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ),
            NativeError::Tls(m) => m.contains("timed out"),
            _ => false,
        }
    }
}

impl fmt::Display for NativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeError::Smtp(e) => write!(f, "SMTP: {e}"),
            NativeError::Connect { host, port, source } => write!(
                f,
                "cannot connect to {}:{port}: {source}",
                crate::excerpt::Excerpt(host)
            ),
            NativeError::Io(e) => write!(f, "I/O error: {e}"),
            NativeError::Tls(m) => write!(f, "TLS: {m}"),
            NativeError::Compose(e) => write!(f, "cannot render the message: {e}"),
            NativeError::InvalidOptions(m) => write!(f, "invalid options: {m}"),
            NativeError::OutcomeUnknown { message_id, source } => write!(
                f,
                "unknown whether the server accepted <{message_id}> (the connection failed after the end of its data: {source}); it was not resent"
            ),
            NativeError::PoolClosed => f.write_str("the pool is closed"),
        }
    }
}

impl std::error::Error for NativeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NativeError::Smtp(e) => Some(e),
            NativeError::Connect { source, .. } | NativeError::Io(source) => Some(source),
            NativeError::Compose(e) => Some(e),
            NativeError::OutcomeUnknown { source, .. } => Some(source.as_ref()),
            NativeError::Tls(_) | NativeError::InvalidOptions(_) | NativeError::PoolClosed => None,
        }
    }
}

impl From<SmtpError> for NativeError {
    fn from(e: SmtpError) -> Self {
        NativeError::Smtp(e)
    }
}

impl From<ComposeError> for NativeError {
    fn from(e: ComposeError) -> Self {
        NativeError::Compose(e)
    }
}
