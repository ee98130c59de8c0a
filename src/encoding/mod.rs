//! Charsets and encodings: transfer encodings (base64, quoted-printable),
//! RFC 2047 encoded words, RFC 2231 parameters, and the text analysis that
//! picks a transfer encoding for a part.

use std::fmt;

pub mod base64;
pub mod charset;
pub mod qp;
pub mod rfc2047;
pub mod rfc2231;
pub mod text;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod interop_tests;

pub use charset::Charset;

/// Errors from this layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodingError {
    /// The label names no charset known to the WHATWG Encoding Standard.
    UnknownCharset(String),
    /// The charset is known but cannot be used for mail (UTF-16, `replacement`, ...).
    UnsupportedCharset(&'static str),
    /// The text holds a character the charset cannot represent.
    Unmappable {
        /// The charset's name.
        charset: &'static str,
        /// The first character that could not be encoded.
        character: char,
    },
    /// Pre-encoded base64 data is not valid base64.
    InvalidBase64(String),
}

impl fmt::Display for EncodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCharset(label) => {
                write!(
                    f,
                    "unknown charset label {}",
                    crate::excerpt::Excerpt(label)
                )
            }
            Self::UnsupportedCharset(name) => write!(f, "charset {name} cannot be used in mail"),
            Self::Unmappable { charset, character } => write!(
                f,
                "character {character:?} (U+{:04X}) cannot be represented in {charset}",
                *character as u32
            ),
            Self::InvalidBase64(why) => write!(f, "invalid pre-encoded base64 data: {why}"),
        }
    }
}

impl std::error::Error for EncodingError {}

/// A `Content-Transfer-Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferEncoding {
    /// ASCII text with lines of at most 998 octets.
    SevenBit,
    /// Text with 8-bit octets and lines of at most 998 octets (needs 8BITMIME).
    EightBit,
    /// Quoted-printable (RFC 2045 §6.7).
    QuotedPrintable,
    /// Base64 in lines of 76 characters (RFC 2045 §6.8).
    Base64,
}

impl TransferEncoding {
    /// The header value, e.g. `quoted-printable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7bit",
            Self::EightBit => "8bit",
            Self::QuotedPrintable => "quoted-printable",
            Self::Base64 => "base64",
        }
    }
}

/// A piece of a header value, as the folder sees it: the whitespace that
/// stands before it in the value (empty when it is glued to the previous
/// token) and its text. A header line may be folded only in `space`, by
/// writing CRLF before it; unfolding gives back `space` + `text` exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Whitespace before the token (spaces and tabs only).
    pub space: String,
    /// The token's text: no CR, LF, and no whitespace at its ends.
    pub text: String,
}

impl Token {
    /// A token preceded by a single space.
    pub fn spaced(text: impl Into<String>) -> Self {
        Self {
            space: " ".into(),
            text: text.into(),
        }
    }

    /// A token glued to the one before it (no whitespace, no fold point).
    pub fn glued(text: impl Into<String>) -> Self {
        Self {
            space: String::new(),
            text: text.into(),
        }
    }
}
