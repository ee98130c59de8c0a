//! Header fields: validated names, RFC 5322 dates, Message-IDs, and the
//! folder that turns a value's tokens into lines of at most 78 columns
//! (never more than 998 octets).

mod date;
mod fold;
mod name;

pub use date::DateTime;
pub use fold::{write_header, MAX_LINE_LEN, SOFT_LINE_LEN};
pub(crate) use fold::{Folder, PendingFolder, TokenBuffers, TokenSink};
pub use name::HeaderName;

use crate::excerpt::Excerpt;
use std::fmt;

/// Errors in header names and values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A header name is empty, too long, or has characters outside
    /// printable ASCII (or a colon).
    InvalidName(String),
    /// The header is managed by the builder (From, Subject, Content-Type, ...)
    /// and cannot be set as a custom header.
    Reserved(String),
    /// A value holds CR or LF, which would start a new header line.
    LineBreak {
        /// The header (or field) whose value held the line break.
        field: String,
    },
    /// A value holds NUL or another control character that cannot be sent.
    ControlCharacter {
        /// The header (or field) whose value held the character.
        field: String,
    },
    /// A Message-ID (or In-Reply-To / References entry) is not `<left@right>`.
    InvalidMessageId(String),
    /// A header line could not be folded to 998 octets.
    LineTooLong {
        /// The header whose line was too long.
        field: String,
    },
    /// A value is longer than [`MAX_VALUE_LEN`] octets: mail servers cut
    /// or refuse header sections far smaller than that.
    ValueTooLong {
        /// The header (or field) whose value was too long.
        field: String,
        /// The value's length in octets.
        len: usize,
    },
}

/// The longest header value [`check_value`] accepts, in octets (64 KiB).
/// Header sections are limited by servers (Postfix keeps 100 KiB of a
/// header and drops the rest, Sendmail refuses more than 32 KiB), so a
/// longer value is a mistake that would reach the recipient cut, or not at
/// all.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(name) => write!(f, "invalid header name {}", Excerpt(name)),
            Self::Reserved(name) => write!(
                f,
                "header {} is set by the message builder, not as a custom header",
                Excerpt(name)
            ),
            Self::LineBreak { field } => {
                write!(f, "the value of {field} contains a CR or LF line break")
            }
            Self::ControlCharacter { field } => {
                write!(f, "the value of {field} contains a control character")
            }
            Self::InvalidMessageId(id) => write!(f, "invalid message id {}", Excerpt(id)),
            Self::ValueTooLong { field, len } => write!(
                f,
                "the value of {field} is {len} octets long, more than the {MAX_VALUE_LEN} allowed"
            ),
            Self::LineTooLong { field } => {
                write!(
                    f,
                    "the {field} header cannot be folded into 998-octet lines"
                )
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Checks that a header value (or any text bound for a header) has no CR,
/// LF, NUL or other C0 control character except TAB, and is at most
/// [`MAX_VALUE_LEN`] octets long. `field` names the value in the error.
pub fn check_value(field: &str, value: &str) -> Result<(), HeaderError> {
    for c in value.chars() {
        match c {
            '\r' | '\n' => {
                return Err(HeaderError::LineBreak {
                    field: field.to_owned(),
                })
            }
            '\t' => {}
            c if c.is_control() => {
                return Err(HeaderError::ControlCharacter {
                    field: field.to_owned(),
                })
            }
            _ => {}
        }
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(HeaderError::ValueTooLong {
            field: field.to_owned(),
            len: value.len(),
        });
    }
    Ok(())
}

/// Normalises a Message-ID given with or without angle brackets to its
/// `left@right` form (no brackets), checking that it can stand in a header
/// (`id-left "@" id-right`, printable ASCII, no spaces, no `<>`).
pub fn parse_message_id(input: &str) -> Result<String, HeaderError> {
    let bad = || HeaderError::InvalidMessageId(input.to_owned());
    // Only spaces and tabs are trimmed: a CR, LF or other control is an
    // error, never silently dropped.
    let trimmed = input.trim_matches([' ', '\t']);
    let inner = match (trimmed.strip_prefix('<'), trimmed.ends_with('>')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (None, false) => trimmed,
        _ => return Err(bad()),
    };
    let (left, right) = inner.rsplit_once('@').ok_or_else(bad)?;
    let allowed = |c: char| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\' | '@');
    let right_ok = !right.is_empty() && right.chars().all(|c| allowed(c) || c == '[' || c == ']');
    if left.is_empty() || !left.chars().all(allowed) || !right_ok || inner.len() > 900 {
        return Err(bad());
    }
    Ok(inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_line_breaks_or_controls_are_rejected() {
        assert!(check_value("Subject", "fine\tvalue ünïcode").is_ok());
        for bad in [
            "a\rb",
            "a\nb",
            "a\r\nX-Evil: 1",
            "nul\0",
            "bell\x07",
            "del\x7f",
        ] {
            assert!(check_value("Subject", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn message_ids_are_normalised_and_checked() {
        assert_eq!(parse_message_id("<a.b@c.d>").unwrap(), "a.b@c.d");
        assert_eq!(parse_message_id("x@y").unwrap(), "x@y");
        assert_eq!(parse_message_id(" <x@y>\t").unwrap(), "x@y");
        assert_eq!(
            parse_message_id("<x@[127.0.0.1]>").unwrap(),
            "x@[127.0.0.1]"
        );
        for bad in [
            "",
            "<>",
            "no-at",
            "<a@b",
            "a@b>",
            "a b@c",
            "<a@b>\r\nBcc: x",
            "a@",
            "@b",
            "<a<@b>",
            "a@b\r\n",
            "\r\n<a@b>",
            "<a@b>\n",
            "a@b\0",
        ] {
            assert!(parse_message_id(bad).is_err(), "{bad:?}");
        }
    }
}
