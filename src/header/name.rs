//! Validated header field names.

use super::HeaderError;
use std::fmt;

/// A header field name: 1 to 76 printable ASCII characters, no colon
/// (RFC 5322 §2.2 `ftext`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeaderName(String);

/// Names the builder sets itself; a custom header may not use them.
const RESERVED: &[&str] = &[
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "return-path",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
];

impl HeaderName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<Self, HeaderError> {
        let ok = !name.is_empty()
            && name.len() <= 76
            && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(HeaderError::InvalidName(name.to_owned()))
        }
    }

    /// Validates a name for a custom header: like [`HeaderName::new`], and
    /// not one the builder manages itself.
    pub fn custom(name: &str) -> Result<Self, HeaderError> {
        let name = Self::new(name)?;
        if name.is_reserved() {
            return Err(HeaderError::Reserved(name.0));
        }
        Ok(name)
    }

    /// True for names the builder sets itself (From, Subject, Content-Type, ...).
    pub fn is_reserved(&self) -> bool {
        RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&self.0))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(HeaderName::new("X-Custom-Header").is_ok());
        assert!(HeaderName::new("List-Unsubscribe").is_ok());
        for bad in [
            "",
            "X Bad",
            "X:Bad",
            "X-Bad\r\nBcc",
            "Ünï",
            "X\0",
            &"x".repeat(77),
        ] {
            assert!(HeaderName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builder_managed_names_are_reserved_for_custom_headers() {
        assert_eq!(
            HeaderName::custom("bcc"),
            Err(HeaderError::Reserved("bcc".into()))
        );
        assert!(HeaderName::custom("Content-Type").is_err());
        assert!(HeaderName::custom("X-Priority").is_ok());
    }
}
