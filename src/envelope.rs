//! The SMTP envelope a composed message carries, and the options its bytes
//! are rendered with.
//!
//! These types are the seam between the composer and the SMTP engine: the
//! composer fills them in, the engine reads them. Neither knows the other.

/// One envelope address (an RFC 5321 mailbox without angle brackets).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EnvelopeAddress {
    /// The Unicode form, then the ASCII form when it differs from it (one
    /// allocation for both).
    buf: String,
    /// Length of the Unicode form.
    utf8_len: usize,
    ascii: AsciiForm,
}

/// Where [`EnvelopeAddress::ascii`] is; each address has one
/// representation, so the derived comparisons compare the two forms.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum AsciiForm {
    /// No ASCII form (SMTPUTF8 only).
    None,
    /// The same as the Unicode form.
    Same,
    /// After the Unicode form in `buf`.
    After,
}

impl std::fmt::Debug for EnvelopeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeAddress")
            .field("utf8", &self.utf8())
            .field("ascii", &self.ascii())
            .finish()
    }
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
        let mut buf = utf8.into();
        let utf8_len = buf.len();
        let ascii = match ascii {
            None => AsciiForm::None,
            Some(a) if a == buf => AsciiForm::Same,
            Some(a) => {
                buf.push_str(&a);
                AsciiForm::After
            }
        };
        Self {
            buf,
            utf8_len,
            ascii,
        }
    }

    /// An address whose two forms are `addr`.
    pub(crate) fn same(addr: &str) -> Self {
        Self {
            buf: addr.to_owned(),
            utf8_len: addr.len(),
            ascii: AsciiForm::Same,
        }
    }

    /// `addr` (`local@domain`, the local part `local_len` octets of ASCII)
    /// and its ASCII form with `ascii_domain`, which differs from the domain.
    pub(crate) fn with_ascii_domain(addr: &str, local_len: usize, ascii_domain: &str) -> Self {
        let mut buf = String::with_capacity(addr.len() + local_len + 1 + ascii_domain.len());
        buf.push_str(addr);
        buf.push_str(&addr[..=local_len]);
        buf.push_str(ascii_domain);
        Self {
            buf,
            utf8_len: addr.len(),
            ascii: AsciiForm::After,
        }
    }

    /// The address in its Unicode form (for SMTPUTF8 transactions).
    pub fn utf8(&self) -> &str {
        &self.buf[..self.utf8_len]
    }

    /// The address in its ASCII form (A-label domain), if it has one.
    pub fn ascii(&self) -> Option<&str> {
        match self.ascii {
            AsciiForm::None => None,
            AsciiForm::Same => Some(self.utf8()),
            AsciiForm::After => Some(&self.buf[self.utf8_len..]),
        }
    }

    /// True when the address can only be sent in an SMTPUTF8 transaction.
    pub fn requires_smtputf8(&self) -> bool {
        self.ascii == AsciiForm::None
    }

    /// True when the Unicode form differs from the ASCII form (an IDN domain
    /// or a non-ASCII local part).
    pub fn is_internationalized(&self) -> bool {
        self.ascii != AsciiForm::Same
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
