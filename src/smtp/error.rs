//! The one error type of the SMTP layer, and its mapping onto emailjs codes.

use std::fmt;

use crate::excerpt::Excerpt;

use super::auth::Mechanism;
use super::reply::{EnhancedCode, Reply};

/// What happened to one recipient (`RCPT TO`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientResult {
    /// The address as sent in `RCPT TO:<…>`.
    pub address: String,
    /// The server's reply to its `RCPT TO`.
    pub reply: Reply,
}

impl RecipientResult {
    /// True when the server accepted the recipient (2xx).
    pub fn accepted(&self) -> bool {
        self.reply.is_positive()
    }
}

/// emailjs's `SMTPErrorStates` (`smtp/error.ts`), for the JS layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EmailjsCode {
    /// `COULDNOTCONNECT` (1): the transport could not connect.
    CouldNotConnect = 1,
    /// `BADRESPONSE` (2): the server refused a command or answered nonsense.
    BadResponse = 2,
    /// `AUTHFAILED` (3).
    AuthFailed = 3,
    /// `TIMEDOUT` (4).
    TimedOut = 4,
    /// `ERROR` (5): anything else (bad input, body errors).
    Error = 5,
    /// `NOCONNECTION` (6): used after the session ended.
    NoConnection = 6,
    /// `AUTHNOTSUPPORTED` (7).
    AuthNotSupported = 7,
    /// `CONNECTIONCLOSED` (8): the connection was closed under us.
    ConnectionClosed = 8,
    /// `CONNECTIONENDED` (9).
    ConnectionEnded = 9,
    /// `CONNECTIONAUTH` (10): no secure connection could be had.
    ConnectionAuth = 10,
}

/// Errors of the SMTP engine.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpError {
    /// The server refused a command (4xx/5xx, or an unexpected code).
    Reply {
        /// The command that got the reply (secrets redacted), e.g. `MAIL FROM:<a@b>`.
        command: String,
        /// The reply.
        reply: Reply,
    },
    /// The server said 421: it is closing the session.
    ServiceClosing {
        /// The command that got the reply, if any (`None` for the greeting
        /// or an unsolicited 421).
        command: Option<String>,
        /// The 421 reply.
        reply: Reply,
    },
    /// The server broke the protocol (malformed or unexpected reply, or data
    /// pipelined after its STARTTLS 220).
    Protocol(String),
    /// A reply line or reply exceeded the bound.
    ReplyTooLong {
        /// The bound that was exceeded, in octets.
        limit: usize,
    },
    /// TLS is required (by configuration, or to send credentials) but the
    /// link is not encrypted and cannot be.
    TlsRequired(String),
    /// None of the configured AUTH mechanisms is offered by the server.
    AuthUnsupported {
        /// The mechanisms the server offers.
        offered: Vec<String>,
    },
    /// The server rejected the credentials.
    AuthFailed {
        /// The mechanism used.
        mechanism: Mechanism,
        /// The final reply.
        reply: Reply,
        /// XOAUTH2's decoded JSON error, when the server sent one.
        detail: Option<String>,
    },
    /// A deadline passed while waiting.
    Timeout {
        /// What the engine was waiting for.
        waiting_for: String,
    },
    /// The connection was closed before the session ended.
    Closed,
    /// The session has ended; no more commands can be sent.
    NotConnected,
    /// Every recipient was rejected.
    AllRecipientsRejected {
        /// One result per recipient.
        recipients: Vec<RecipientResult>,
    },
    /// Some recipients were rejected and the configuration requires all.
    RecipientsRejected {
        /// One result per recipient.
        recipients: Vec<RecipientResult>,
    },
    /// The message needs SMTPUTF8 and the server does not offer it.
    SmtpUtf8Required,
    /// The message holds 8-bit octets and the server offers neither
    /// 8BITMIME nor SMTPUTF8 (RFC 6152).
    EightBitMimeRequired,
    /// The message is larger than the server's SIZE limit.
    MessageTooLarge {
        /// The message size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The message declared a size that its bytes did not match (BDAT).
    SizeMismatch {
        /// The declared size.
        declared: u64,
        /// The size actually produced (at least, when larger).
        actual: u64,
    },
    /// An envelope address is empty or contains CR, LF, `<`, `>`, space or
    /// control characters.
    InvalidAddress(String),
    /// The EHLO/HELO name is empty or contains spaces or control characters.
    InvalidHelloName(String),
    /// An address of the envelope given to [`Client::send`](super::Client::send)
    /// (or to the dry run) is empty, longer than RFC 5321 allows (a path
    /// of 256 octets with its brackets), or holds CR, LF, `<`, `>`, spaces
    /// or control characters.
    InvalidEnvelopeAddress {
        /// Which address: `from`, or `to[i]` (the index in `Envelope::to`).
        field: String,
        /// The address as given.
        address: String,
    },
    /// The credentials cannot be used: the user name holds a control
    /// character, or the user name or the secret holds NUL or 0x01, which
    /// would change the meaning of AUTH PLAIN or XOAUTH2. The secret is
    /// never shown.
    InvalidCredentials {
        /// `user` or `secret` (the password or the token).
        field: &'static str,
        /// What is wrong, without the value.
        reason: &'static str,
    },
    /// The envelope has no recipient.
    NoRecipients,
    /// The message body failed to render.
    Body(String),
    /// The message body gave no data for the timeout while its content
    /// was being sent: a source (a stream fed through
    /// [`Client::body_ready`](super::Client::body_ready)) that neither gave
    /// more nor ended. The message was not sent: it fails without its end
    /// of data (after DATA or inside `BDAT n LAST` the session ends; with
    /// BDAT chunks, RSET discards them and the session goes on).
    BodyTimeout {
        /// The command whose content stalled: `DATA`, `BDAT n LAST`, or
        /// `BDAT` (chunks of unknown count).
        command: String,
    },
    /// A low-level command was called when the session cannot take it
    /// (e.g. `RCPT TO` before an accepted `MAIL FROM`, message content
    /// outside DATA, a low-level command while a queued message is sent,
    /// or while the reply to the previous command is awaited). Nothing was
    /// written to the server.
    Misuse(String),
    /// A low-level command's argument is malformed: an ESMTP parameter that
    /// is not `KEYWORD[=value]`, or a HELP/VRFY/EXPN argument that is empty
    /// or holds CR, LF or other control characters.
    InvalidArgument(String),
}

impl SmtpError {
    /// The server reply carried by this error, if any (for refused
    /// recipients, the first refusal).
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            SmtpError::Reply { reply, .. }
            | SmtpError::ServiceClosing { reply, .. }
            | SmtpError::AuthFailed { reply, .. } => Some(reply),
            // Refused recipients: the first refusal (each recipient's reply
            // is in `recipients`).
            SmtpError::AllRecipientsRejected { recipients }
            | SmtpError::RecipientsRejected { recipients } => {
                recipients.iter().find(|r| !r.accepted()).map(|r| &r.reply)
            }
            _ => None,
        }
    }

    /// The reply code, if a reply caused the error.
    pub fn code(&self) -> Option<u16> {
        self.reply().map(Reply::code)
    }

    /// The enhanced status code, if the reply had one.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.reply().and_then(Reply::enhanced_code)
    }

    /// The failed command, if a reply caused the error, or the command
    /// whose content stalled ([`SmtpError::BodyTimeout`]).
    pub fn command(&self) -> Option<&str> {
        match self {
            SmtpError::Reply { command, .. } | SmtpError::BodyTimeout { command } => Some(command),
            SmtpError::ServiceClosing { command, .. } => command.as_deref(),
            _ => None,
        }
    }

    /// True for greylisting: a 450 or 451 to MAIL or RCPT, the message sent
    /// to no one (every recipient refused, or some with every recipient
    /// required), every refusal a 450 or 451. Transports try such a message
    /// once more after a short delay, as emailjs does.
    pub fn is_greylisting(&self) -> bool {
        let grey = |r: &Reply| matches!(r.code(), 450 | 451);
        match self {
            SmtpError::Reply { command, reply } => {
                grey(reply) && (command.starts_with("MAIL") || command.starts_with("RCPT"))
            }
            SmtpError::AllRecipientsRejected { recipients }
            | SmtpError::RecipientsRejected { recipients } => {
                let mut refused = recipients.iter().filter(|r| !r.accepted()).peekable();
                refused.peek().is_some() && refused.all(|r| grey(&r.reply))
            }
            _ => false,
        }
    }

    /// True when trying again later may succeed: 4xx replies (greylisting),
    /// 421, timeouts, closed connections, and recipient rejections that
    /// were all transient.
    pub fn is_retryable(&self) -> bool {
        match self {
            SmtpError::Reply { reply, .. } | SmtpError::AuthFailed { reply, .. } => {
                reply.is_transient()
            }
            SmtpError::ServiceClosing { .. } | SmtpError::Timeout { .. } | SmtpError::Closed => {
                true
            }
            SmtpError::AllRecipientsRejected { recipients }
            | SmtpError::RecipientsRejected { recipients } => recipients
                .iter()
                .filter(|r| !r.accepted())
                .all(|r| r.reply.is_transient()),
            _ => false,
        }
    }

    /// The emailjs `SMTPErrorStates` code for this error.
    pub fn emailjs_code(&self) -> EmailjsCode {
        match self {
            SmtpError::Reply { .. }
            | SmtpError::ServiceClosing { .. }
            | SmtpError::Protocol(_)
            | SmtpError::ReplyTooLong { .. }
            | SmtpError::AllRecipientsRejected { .. }
            | SmtpError::RecipientsRejected { .. } => EmailjsCode::BadResponse,
            SmtpError::TlsRequired(_) => EmailjsCode::ConnectionAuth,
            SmtpError::AuthUnsupported { .. } => EmailjsCode::AuthNotSupported,
            SmtpError::AuthFailed { .. } => EmailjsCode::AuthFailed,
            SmtpError::Timeout { .. } | SmtpError::BodyTimeout { .. } => EmailjsCode::TimedOut,
            SmtpError::Closed => EmailjsCode::ConnectionClosed,
            SmtpError::NotConnected => EmailjsCode::NoConnection,
            SmtpError::SmtpUtf8Required
            | SmtpError::EightBitMimeRequired
            | SmtpError::MessageTooLarge { .. }
            | SmtpError::SizeMismatch { .. }
            | SmtpError::InvalidAddress(_)
            | SmtpError::InvalidHelloName(_)
            | SmtpError::InvalidEnvelopeAddress { .. }
            | SmtpError::InvalidCredentials { .. }
            | SmtpError::NoRecipients
            | SmtpError::Body(_)
            | SmtpError::Misuse(_)
            | SmtpError::InvalidArgument(_) => EmailjsCode::Error,
        }
    }
}

fn rejected(f: &mut fmt::Formatter<'_>, recipients: &[RecipientResult]) -> fmt::Result {
    for r in recipients.iter().filter(|r| !r.accepted()) {
        write!(f, "; <{}>: {}", r.address, r.reply)?;
    }
    Ok(())
}

impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmtpError::Reply { command, reply } => write!(f, "{command} failed: {reply}"),
            SmtpError::ServiceClosing { command, reply } => match command {
                Some(c) => write!(f, "server closing the session after {c}: {reply}"),
                None => write!(f, "server closing the session: {reply}"),
            },
            SmtpError::Protocol(why) => write!(f, "SMTP protocol error: {why}"),
            SmtpError::ReplyTooLong { limit } => {
                write!(f, "server reply longer than {limit} octets")
            }
            SmtpError::TlsRequired(why) => write!(f, "TLS required: {why}"),
            SmtpError::AuthUnsupported { offered } => {
                write!(
                    f,
                    "no configured AUTH mechanism is offered (server offers: {})",
                    offered.join(" ")
                )
            }
            SmtpError::AuthFailed {
                mechanism,
                reply,
                detail,
            } => {
                write!(
                    f,
                    "authentication with {} failed: {reply}",
                    mechanism.name()
                )?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            SmtpError::Timeout { waiting_for } => write!(f, "timed out waiting for {waiting_for}"),
            SmtpError::Closed => f.write_str("connection closed"),
            SmtpError::NotConnected => f.write_str("the SMTP session has ended"),
            SmtpError::AllRecipientsRejected { recipients } => {
                f.write_str("all recipients were rejected")?;
                rejected(f, recipients)
            }
            SmtpError::RecipientsRejected { recipients } => {
                f.write_str("some recipients were rejected")?;
                rejected(f, recipients)
            }
            SmtpError::SmtpUtf8Required => {
                f.write_str("the message needs SMTPUTF8, which the server does not offer")
            }
            SmtpError::EightBitMimeRequired => f.write_str(
                "the message holds 8-bit data and the server offers neither 8BITMIME nor SMTPUTF8",
            ),
            SmtpError::MessageTooLarge { size, limit } => {
                write!(
                    f,
                    "message of {size} octets exceeds the server's limit of {limit}"
                )
            }
            SmtpError::SizeMismatch { declared, actual } => {
                write!(
                    f,
                    "message declared {declared} octets but produced {actual}"
                )
            }
            SmtpError::InvalidAddress(a) => write!(f, "invalid envelope address {}", Excerpt(a)),
            SmtpError::InvalidHelloName(n) => write!(f, "invalid EHLO name {}", Excerpt(n)),
            SmtpError::InvalidEnvelopeAddress { field, address } => write!(
                f,
                "invalid envelope address in {field}: {}",
                Excerpt(address)
            ),
            SmtpError::InvalidCredentials { field, reason } => {
                write!(f, "invalid credentials ({field}): {reason}")
            }
            SmtpError::NoRecipients => f.write_str("the envelope has no recipient"),
            SmtpError::Body(why) => write!(f, "message body error: {why}"),
            SmtpError::BodyTimeout { command } => write!(
                f,
                "timed out waiting for the message body's data (content of {command}); the message was not sent"
            ),
            SmtpError::Misuse(why) => write!(f, "command not allowed now: {why}"),
            SmtpError::InvalidArgument(why) => write!(f, "invalid command argument: {why}"),
        }
    }
}

impl std::error::Error for SmtpError {}
