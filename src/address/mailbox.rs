//! The validated [`Mailbox`].

use std::fmt;

use super::{format, idn, parse, AddressEntry, AddressError};
use crate::envelope::{EnvelopeAddress, RenderOptions};

/// A validated mailbox: an optional display name and an RFC 5321 address
/// (local part and domain), possibly internationalized (RFC 6531/6532).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    name: Option<String>,
    local: String,
    domain: String,
    /// The domain in A-labels when that differs from `domain`.
    ascii_domain: Option<String>,
}

impl Mailbox {
    /// Builds a mailbox from a display name and an addr-spec, validating both.
    ///
    /// `address` must be exactly `local@domain`: the local part a dot-atom
    /// (ASCII `atext` or non-ASCII characters, RFC 6532) or a quoted string
    /// (RFC 5321 `Quoted-string`, which keeps its quotes), the domain a host
    /// name that passes UTS-46 ToASCII (STD3 rules) or an `[IPv4]` /
    /// `[IPv6:…]` literal. No comments, no surrounding whitespace, no angle
    /// brackets. `<` and `>` are refused even inside a quoted local part.
    ///
    /// `name` may hold any Unicode except CR, LF and NUL; an empty name is
    /// the same as `None`.
    pub fn new(name: Option<&str>, address: &str) -> Result<Mailbox, AddressError> {
        if let Some(n) = name {
            if let Some(c) = n.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
                return Err(AddressError::InvalidCharacter {
                    input: n.to_owned(),
                    character: c,
                });
            }
        }
        let (local, domain) = split_addr_spec(address)?;
        // Cheap bound before IDNA: no valid domain is this long in any form.
        if local.len() > 64 || domain.len() > 1024 {
            return Err(AddressError::TooLong(address.to_owned()));
        }
        let ascii_domain = idn::domain_to_ascii(domain)
            .ok_or_else(|| AddressError::InvalidDomain(address.to_owned()))?;
        if local.len() > 64
            || domain.len() > 255
            || ascii_domain.len() > 255
            || local.len() + 1 + ascii_domain.len() > 254
            || local.len() + 1 + domain.len() > 254
        {
            return Err(AddressError::TooLong(address.to_owned()));
        }
        Ok(Mailbox {
            name: name.filter(|n| !n.is_empty()).map(str::to_owned),
            local: local.to_owned(),
            domain: domain.to_owned(),
            ascii_domain: (ascii_domain != domain).then_some(ascii_domain),
        })
    }

    /// Parses exactly one mailbox in header syntax, e.g. `"Ann B." <ann@example.com>`,
    /// `ann@example.com` or `ann@example.com (Ann)`.
    ///
    /// Errors as [`AddressList::parse`](super::AddressList::parse); a list
    /// of zero or several entries, or a group, is
    /// [`AddressError::NotSingleMailbox`].
    pub fn parse(input: &str) -> Result<Mailbox, AddressError> {
        let mut entries = parse::parse_strict(input)?;
        if entries.is_empty() && input.trim().is_empty() {
            return Err(AddressError::Empty);
        }
        match (entries.pop(), entries.is_empty()) {
            (Some(AddressEntry::Mailbox(m)), true) => Ok(m),
            _ => Err(AddressError::NotSingleMailbox(input.to_owned())),
        }
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The local part as given (a quoted local part keeps its quotes).
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The domain as given (Unicode allowed, case kept).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The domain in its ASCII form (A-labels), as computed at validation.
    pub(crate) fn ascii_domain(&self) -> &str {
        self.ascii_domain.as_deref().unwrap_or(&self.domain)
    }

    /// `local@domain` in its Unicode form.
    pub fn address(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }

    /// `local@domain` with the domain in A-labels (UTS-46 ToASCII), or
    /// `None` when the local part is not ASCII.
    pub fn ascii_address(&self) -> Option<String> {
        (!self.requires_smtputf8()).then(|| format!("{}@{}", self.local, self.ascii_domain()))
    }

    /// True when the local part is not ASCII (only SMTPUTF8 can carry it).
    pub fn requires_smtputf8(&self) -> bool {
        !self.local.is_ascii()
    }

    /// The address for the SMTP envelope (`MAIL FROM` / `RCPT TO`).
    pub fn envelope_address(&self) -> EnvelopeAddress {
        let join = |domain: &str| {
            let mut s = String::with_capacity(self.local.len() + 1 + domain.len());
            s.push_str(&self.local);
            s.push('@');
            s.push_str(domain);
            s
        };
        let ascii = (!self.requires_smtputf8()).then(|| join(self.ascii_domain()));
        EnvelopeAddress::new(join(&self.domain), ascii)
    }
}

impl std::str::FromStr for Mailbox {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Mailbox {
    /// The header form with UTF-8 allowed: `Name <local@domain>` (the name
    /// quoted when needed) or `local@domain`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opts = RenderOptions {
            utf8_headers: true,
            allow_8bit: true,
        };
        match format::format_mailbox(self, opts) {
            Ok(tokens) => {
                for (i, t) in tokens.iter().enumerate() {
                    if i > 0 {
                        f.write_str(&t.space)?;
                    }
                    f.write_str(&t.text)?;
                }
                Ok(())
            }
            // Only reachable if encoding a name fails; the address alone is
            // still a faithful header form.
            Err(_) => write!(f, "<{}>", self.address()),
        }
    }
}

/// Splits a strict addr-spec into local part and domain, validating the
/// local part's syntax (the domain is validated by the caller).
fn split_addr_spec(address: &str) -> Result<(&str, &str), AddressError> {
    if address.is_empty() {
        return Err(AddressError::Empty);
    }
    let bad = |c: char| AddressError::InvalidCharacter {
        input: address.to_owned(),
        character: c,
    };
    if let Some(c) = address
        .chars()
        .find(|&c| c.is_control() || matches!(c, '<' | '>'))
    {
        return Err(bad(c));
    }
    let local_end = if address.starts_with('"') {
        quoted_end(address).ok_or_else(|| AddressError::InvalidLocalPart(address.to_owned()))?
    } else {
        match address.find('@') {
            Some(i) => i,
            None => {
                if let Some(c) = address.chars().find(|&c| c.is_whitespace()) {
                    return Err(bad(c));
                }
                return Err(AddressError::MissingAt(address.to_owned()));
            }
        }
    };
    let (local, rest) = address.split_at(local_end);
    let Some(domain) = rest.strip_prefix('@') else {
        return Err(match rest.chars().next() {
            None => AddressError::MissingAt(address.to_owned()),
            Some(_) => AddressError::InvalidLocalPart(address.to_owned()),
        });
    };
    if local.is_empty() {
        return Err(AddressError::InvalidLocalPart(address.to_owned()));
    }
    if !local.starts_with('"') {
        if let Some(c) = local.chars().find(|&c| !is_atext(c) && c != '.') {
            return Err(bad(c));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(AddressError::InvalidLocalPart(address.to_owned()));
        }
    } else if local.len() <= 2 {
        // `""@x`: syntactically a quoted string, but an empty mailbox name.
        return Err(AddressError::InvalidLocalPart(address.to_owned()));
    }
    if domain.is_empty() {
        return Err(AddressError::InvalidDomain(address.to_owned()));
    }
    if let Some(c) = domain.chars().find(|&c| c.is_whitespace() || c == '@') {
        return Err(if c == '@' {
            AddressError::InvalidDomain(address.to_owned())
        } else {
            bad(c)
        });
    }
    Ok((local, domain))
}

/// Given `s` starting with `"`, the byte index just past the closing quote
/// of an RFC 5321 quoted string (`qtextSMTP` / `quoted-pairSMTP`, plus
/// non-ASCII per RFC 6531), or `None` if it is malformed.
fn quoted_end(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some(i + 1),
            '\\' => match chars.next() {
                Some((_, e)) if (' '..='~').contains(&e) => {}
                _ => return None,
            },
            ' '..='~' => {}
            c if !c.is_ascii() && !c.is_control() => {}
            _ => return None,
        }
    }
    None
}

/// RFC 5322 `atext`, extended with non-ASCII characters (RFC 6532) other
/// than controls and whitespace.
pub(crate) fn is_atext(c: char) -> bool {
    if c.is_ascii() {
        ASCII_ATEXT[c as usize]
    } else {
        !c.is_control() && !c.is_whitespace() && !is_invisible(c)
    }
}

/// ASCII `atext`: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
const ASCII_ATEXT: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric();
        i += 1;
    }
    let specials = b"!#$%&'*+-/=?^_`{|}~";
    let mut k = 0;
    while k < specials.len() {
        t[specials[k] as usize] = true;
        k += 1;
    }
    t
};

/// Default-ignorable code points (format, bidi and other invisible
/// characters) that could disguise an address or that UTS-46 would
/// silently delete from a domain. ZWJ/ZWNJ are among them, so IDN labels
/// that need them are refused (strict).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff0}'..='\u{fff8}' | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}
