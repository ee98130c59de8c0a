//! The SMTP envelope a composed message carries, and the options its bytes
//! are rendered with.
//!
//! These types are the seam between the composer and the SMTP engine: the
//! composer fills them in, the engine reads them. Neither knows the other.

/// One envelope address (an RFC 5321 mailbox without angle brackets).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvelopeAddress {
    utf8: String,
    ascii: Option<String>,
}

impl EnvelopeAddress {
    /// Builds an envelope address from its two forms.
    ///
    /// `utf8` is the address as the user wrote it (domain in U-labels);
    /// `ascii` is the same address with the domain in A-labels, or `None`
    /// when the local part is not ASCII and the address can only travel in
    /// an SMTPUTF8 transaction. Neither form may contain CR, LF, `<`, `>`,
    /// spaces or control characters; callers validate before building.
    pub fn new(utf8: impl Into<String>, ascii: Option<String>) -> Self {
        Self {
            utf8: utf8.into(),
            ascii,
        }
    }

    /// The address in its Unicode form (for SMTPUTF8 transactions).
    pub fn utf8(&self) -> &str {
        &self.utf8
    }

    /// The address in its ASCII form (A-label domain), if it has one.
    pub fn ascii(&self) -> Option<&str> {
        self.ascii.as_deref()
    }

    /// True when the address can only be sent in an SMTPUTF8 transaction.
    pub fn requires_smtputf8(&self) -> bool {
        self.ascii.is_none()
    }

    /// True when the Unicode form differs from the ASCII form (an IDN domain
    /// or a non-ASCII local part).
    pub fn is_internationalized(&self) -> bool {
        self.ascii.as_deref() != Some(self.utf8.as_str())
    }
}

/// The SMTP envelope: the reverse path and the de-duplicated recipients
/// (To, Cc and Bcc together).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path (`MAIL FROM`); `None` is the null path `<>`.
    pub from: Option<EnvelopeAddress>,
    /// The forward paths (`RCPT TO`), in order, without duplicates.
    pub to: Vec<EnvelopeAddress>,
}

impl Envelope {
    /// True when any envelope address needs an SMTPUTF8 transaction.
    pub fn requires_smtputf8(&self) -> bool {
        self.from
            .iter()
            .chain(&self.to)
            .any(EnvelopeAddress::requires_smtputf8)
    }
}

/// How a message's bytes are rendered, decided by what the transport offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RenderOptions {
    /// Write raw UTF-8 in headers and keep IDN domains in U-labels
    /// (only for SMTPUTF8 transactions, RFC 6532).
    pub utf8_headers: bool,
    /// Allow `Content-Transfer-Encoding: 8bit` for text parts
    /// (only when the server offers 8BITMIME).
    pub allow_8bit: bool,
}
