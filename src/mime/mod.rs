//! The MIME tree: the message builder, body parts and attachments, and the
//! streaming writer that turns a built [`Message`] into bytes.
//!
//! The tree is the one mail clients expect:
//! `mixed(alternative(text, related(html, inline…), extra alternatives…), attachments…)`,
//! with each level left out when it would hold a single part.

mod attachment;
mod boundary;
mod builder;
pub mod content_type;
mod feed;
mod message;
mod render;

pub use attachment::Attachment;
pub use boundary::IdGenerator;
pub use builder::{AddressInput, MessageBuilder};
pub use feed::{Feed, FeedError, FeedReader};
pub use message::Message;
pub use render::{Chunks, MessageStream};

use crate::address::AddressError;
use crate::encoding::EncodingError;
use crate::excerpt::Excerpt;
use crate::header::HeaderError;
use std::fmt;
use std::io;

/// Errors from building or writing a message. Each names the field it is about.
#[derive(Debug)]
#[non_exhaustive]
pub enum ComposeError {
    /// An address in `field` (from, to, cc, ...) is invalid.
    Address {
        /// The field, e.g. `to`.
        field: String,
        /// What is wrong with it.
        source: AddressError,
    },
    /// A header name or value is invalid.
    Header(HeaderError),
    /// A header error in `field`, for errors that do not carry the field
    /// themselves: a part's custom header name (`attachment[1].headers`),
    /// a Message-ID (`message-id`, `in-reply-to`, `references`).
    HeaderField {
        /// Where: e.g. `attachment[1].headers` or `message-id`.
        field: String,
        /// What is wrong.
        source: HeaderError,
    },
    /// Text in `field` cannot be encoded (unknown charset, unmappable character, bad base64).
    Encoding {
        /// The field, e.g. `subject` or `attachment[1]`.
        field: String,
        /// What went wrong.
        source: EncodingError,
    },
    /// The message has no From address.
    MissingFrom,
    /// The message has no recipient in To, Cc or Bcc.
    NoRecipients,
    /// From holds several mailboxes, so RFC 5322 requires a Sender.
    SenderRequired,
    /// An attachment has no data, path or stream.
    MissingAttachmentSource {
        /// The attachment, e.g. `attachment[0]`.
        field: String,
    },
    /// A media type is malformed, or names a `multipart/*` type for one
    /// part (an attachment's type, `text_content_type`): the builder makes
    /// the multiparts.
    InvalidContentType {
        /// The part it belongs to.
        field: String,
        /// The value given.
        value: String,
    },
    /// An attachment's file name is empty, or only whitespace (spaces,
    /// tabs, NBSP, U+2028, ...): readers would show a nameless or blank
    /// file. Leave the name unset for a part without one.
    InvalidFilename {
        /// Where: e.g. `attachment[1].filename`.
        field: String,
        /// The value given.
        value: String,
    },
    /// A Content-ID is malformed: it must be an RFC 5322 §3.6.4 msg-id
    /// without its angle brackets (RFC 2392), `id-left@id-right` with a
    /// `dot-atom-text` left (letters, digits, ``!#$%&'*+-/=?^_`{|}~``,
    /// inner dots) and a `dot-atom-text` or `[`…`]` literal right, or a
    /// bare `dot-atom-text` left (no `@`); at most 250 octets.
    InvalidContentId {
        /// The part it belongs to.
        field: String,
        /// The value given.
        value: String,
    },
    /// A forced transfer encoding cannot carry the part's content, or is
    /// not allowed for its type (quoted-printable or base64 for a
    /// `message/*` part, RFC 2045 §6.4).
    InvalidTransferEncoding {
        /// The part it belongs to.
        field: String,
        /// Why not.
        reason: &'static str,
    },
    /// Reading a file or stream failed.
    Io {
        /// The part it belongs to.
        field: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A stream or file yielded a different number of bytes than declared.
    LengthMismatch {
        /// The part it belongs to.
        field: String,
        /// The length declared (or the file's size when it was opened).
        expected: u64,
        /// The length read.
        actual: u64,
    },
    /// A stream attachment was already read by an earlier write of this message.
    SourceConsumed {
        /// The part it belongs to.
        field: String,
    },
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address { field, source } => write!(f, "{field}: {source}"),
            Self::Header(e) => e.fmt(f),
            Self::HeaderField { field, source } => write!(f, "{field}: {source}"),
            Self::Encoding { field, source } => write!(f, "{field}: {source}"),
            Self::MissingFrom => f.write_str("the message has no From address"),
            Self::NoRecipients => f.write_str("the message has no recipient (to, cc or bcc)"),
            Self::SenderRequired => {
                f.write_str("From holds several mailboxes, so a Sender is required")
            }
            Self::MissingAttachmentSource { field } => {
                write!(f, "{field} has no data, path or stream")
            }
            Self::InvalidContentType { field, value } => {
                write!(f, "{field}: invalid content type {}", Excerpt(value))
            }
            Self::InvalidFilename { field, value } => {
                write!(
                    f,
                    "{field}: file name {} is empty or only whitespace",
                    Excerpt(value)
                )
            }
            Self::InvalidContentId { field, value } => {
                write!(f, "{field}: invalid content id {}", Excerpt(value))
            }
            Self::InvalidTransferEncoding { field, reason } => write!(f, "{field}: {reason}"),
            Self::Io { field, source } => write!(f, "{field}: {source}"),
            Self::LengthMismatch {
                field,
                expected,
                actual,
            } => write!(f, "{field}: expected {expected} bytes, read {actual}"),
            Self::SourceConsumed { field } => {
                write!(
                    f,
                    "{field}: the stream was already read by an earlier write"
                )
            }
        }
    }
}

impl std::error::Error for ComposeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Address { source, .. } => Some(source),
            Self::Header(e) => Some(e),
            Self::HeaderField { source, .. } => Some(source),
            Self::Encoding { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<HeaderError> for ComposeError {
    fn from(e: HeaderError) -> Self {
        Self::Header(e)
    }
}
