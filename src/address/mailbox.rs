//! The validated [`Mailbox`].

use std::fmt;

use super::{format, idn, parse, AddressEntry, AddressError};
use crate::envelope::{EnvelopeAddress, RenderOptions};

/// A validated mailbox: an optional display name and an RFC 5321 address
/// (local part and domain), possibly internationalized (RFC 6531/6532).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// One allocation for every piece: the display name, then
    /// `local@domain` (the domain as given when ASCII, else its UTS-46
    /// Unicode form, see [`Mailbox::domain`]), then the domain in A-labels
    /// when that differs from the domain before it. The layout depends only on the
    /// pieces, so the derived comparisons compare the pieces.
    buf: String,
    /// Length of the name (0: no name; an empty name is no name).
    name_len: usize,
    /// Length of the local part (after the name).
    local_len: usize,
    /// Length of the domain (after `local@`).
    domain_len: usize,
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("name", &self.name())
            .field("local", &self.local_part())
            .field("domain", &self.domain())
            .field(
                "ascii_domain",
                &(self.buf.len() > self.addr_end()).then(|| self.ascii_domain()),
            )
            .finish()
    }
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
    /// `name` may hold any Unicode except CR, LF and NUL, at most
    /// [`crate::header::MAX_VALUE_LEN`] octets; an empty name is
    /// the same as `None`.
    pub fn new(name: Option<&str>, address: &str) -> Result<Mailbox, AddressError> {
        let name = name.unwrap_or("");
        if name.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(bad_name(name));
        }
        if name.len() > crate::header::MAX_VALUE_LEN {
            return Err(AddressError::NameTooLong(name.len()));
        }
        // The usual address (ASCII dot-atom, lowercase LDH host name) in
        // one pass; anything else takes the general path (kept out of
        // line), which accepts everything this accepts, in the same form.
        // (The wasm build, whose size is bounded, takes the general path,
        // which begins with the same test.)
        match plain_addr_spec(address) {
            Some((local_len, true)) if !cfg!(target_arch = "wasm32") => {
                let (local, domain) = (&address[..local_len], &address[local_len + 1..]);
                Ok(Self::from_parts(name, local, domain, ""))
            }
            _ => Self::new_general(name, address),
        }
    }

    /// [`Mailbox::new`] for any address but the usual one.
    #[inline(never)]
    fn new_general(name: &str, address: &str) -> Result<Mailbox, AddressError> {
        let checked = match plain_addr_spec(address) {
            Some((local_len, true)) => Checked {
                local_len,
                unicode: None,
                ascii: None,
            },
            Some((local_len, false)) => Checked {
                local_len,
                unicode: None,
                ascii: Some(address[local_len + 1..].to_ascii_lowercase()),
            },
            None => check_general(address)?,
        };
        let local = &address[..checked.local_len];
        let domain = checked
            .unicode
            .as_deref()
            .unwrap_or(&address[checked.local_len + 1..]);
        let ascii = checked.ascii.as_deref().unwrap_or("");
        Ok(Self::from_parts(name, local, domain, ascii))
    }

    /// The mailbox of checked pieces: `ascii` is the domain in A-labels
    /// when that differs from `domain`, else empty.
    fn from_parts(name: &str, local: &str, domain: &str, ascii: &str) -> Mailbox {
        let len = name.len() + local.len() + 1 + domain.len() + ascii.len();
        let mut buf = String::with_capacity(len);
        buf.push_str(name);
        buf.push_str(local);
        buf.push('@');
        buf.push_str(domain);
        buf.push_str(ascii);
        Mailbox {
            buf,
            name_len: name.len(),
            local_len: local.len(),
            domain_len: domain.len(),
        }
    }

    /// Where `local@domain` ends in `buf`.
    #[inline]
    fn addr_end(&self) -> usize {
        self.name_len + self.local_len + 1 + self.domain_len
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
    #[inline]
    pub fn name(&self) -> Option<&str> {
        (self.name_len > 0).then(|| &self.buf[..self.name_len])
    }

    /// The local part as given (a quoted local part keeps its quotes).
    #[inline]
    pub fn local_part(&self) -> &str {
        &self.buf[self.name_len..self.name_len + self.local_len]
    }

    /// The domain: as given when it is ASCII (case kept; an address
    /// literal, a host name, A-labels included); a domain given with
    /// non-ASCII characters in its UTS-46 Unicode form, the ToUnicode of
    /// its A-labels (U-labels, lowercase, every dot a `.`: `Bücher。DE` is
    /// `bücher.de`, `ｅｘａｍｐｌｅ．com` is `example.com`), which is what
    /// headers and the envelope carry with SMTPUTF8 (RFC 6531 §3.3).
    #[inline]
    pub fn domain(&self) -> &str {
        &self.buf[self.addr_end() - self.domain_len..self.addr_end()]
    }

    /// The domain in its ASCII form (A-labels), as computed at validation.
    #[inline]
    pub(crate) fn ascii_domain(&self) -> &str {
        match &self.buf[self.addr_end()..] {
            "" => self.domain(),
            ascii => ascii,
        }
    }

    /// The display name (empty for none), the local part, the domain (see
    /// [`Mailbox::domain`]) and the domain in A-labels, as bytes (no UTF-8 boundary
    /// checks: the header writers copy them as they are).
    #[inline]
    pub(crate) fn pieces(&self) -> (&[u8], &[u8], &[u8], &[u8]) {
        let (name, rest) = self.buf.as_bytes().split_at(self.name_len);
        let (local, rest) = rest.split_at(self.local_len);
        let (domain, ascii) = rest.get(1..).unwrap_or_default().split_at(self.domain_len);
        (
            name,
            local,
            domain,
            if ascii.is_empty() { domain } else { ascii },
        )
    }

    /// `local@domain` in its Unicode form, borrowed.
    pub(crate) fn addr_spec(&self) -> &str {
        &self.buf[self.name_len..self.addr_end()]
    }

    /// `local@domain` in its Unicode form.
    pub fn address(&self) -> String {
        self.addr_spec().to_owned()
    }

    /// `local@domain` with the domain in A-labels (UTS-46 ToASCII), or
    /// `None` when the local part is not ASCII.
    pub fn ascii_address(&self) -> Option<String> {
        (!self.requires_smtputf8())
            .then(|| format!("{}@{}", self.local_part(), self.ascii_domain()))
    }

    /// True when the local part is not ASCII (only SMTPUTF8 can carry it).
    #[inline]
    pub fn requires_smtputf8(&self) -> bool {
        // A plain loop over the (at most 64) octets: `is_ascii`'s
        // word-at-a-time code is larger than the work here.
        self.pieces().1.iter().any(|&b| b >= 0x80)
    }

    /// The address for the SMTP envelope (`MAIL FROM` / `RCPT TO`).
    pub fn envelope_address(&self) -> EnvelopeAddress {
        if self.requires_smtputf8() {
            return EnvelopeAddress::new(self.addr_spec(), None);
        }
        if self.buf.len() == self.addr_end() {
            return EnvelopeAddress::same(self.addr_spec());
        }
        EnvelopeAddress::with_ascii_domain(self.addr_spec(), self.local_len, self.ascii_domain())
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

/// The error for a display name with CR, LF or NUL.
#[cold]
#[inline(never)]
fn bad_name(name: &str) -> AddressError {
    let i = name
        .bytes()
        .position(|b| matches!(b, b'\r' | b'\n' | 0))
        .unwrap_or(0);
    AddressError::InvalidCharacter {
        input: name.to_owned(),
        character: char::from(name.as_bytes().get(i).copied().unwrap_or(0)),
    }
}

/// The common addr-spec, checked in one pass without allocating: an ASCII
/// dot-atom local part of at most 64 octets, `@`, and a host name of LDH
/// labels (1 to 63 octets, no hyphen at either end, none with `--` in its
/// third and fourth places, so no A-label), 253 octets at most, the whole
/// at most 254 octets. Returns the local part's length and whether the
/// domain is already lowercase (its UTS-46 form). `None` for anything else
/// (valid or not): [`split_addr_spec`] and IDNA decide those.
fn plain_addr_spec(address: &str) -> Option<(usize, bool)> {
    let b = address.as_bytes();
    let at = dot_atom_end(b, 0)?;
    if b.get(at) != Some(&b'@') || at > 64 || b.len() > 254 {
        return None;
    }
    Some((at, idn::ldh_host(&b[at + 1..], true)?))
}

/// The end of the ASCII dot-atom at `i` (atoms of ASCII `atext` joined by
/// single dots), or `None` when there is none.
pub(super) fn dot_atom_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let start = i;
        while b
            .get(i)
            .is_some_and(|&c| c < 0x80 && ASCII_ATEXT[usize::from(c)])
        {
            i += 1;
        }
        if i == start {
            return None;
        }
        if b.get(i) != Some(&b'.') {
            return Some(i);
        }
        i += 1;
    }
}

/// What [`check_general`] finds in a valid addr-spec.
struct Checked {
    /// The local part's length.
    local_len: usize,
    /// The domain's UTS-46 Unicode form when the domain as given is not
    /// ASCII (else the domain is kept as given).
    unicode: Option<String>,
    /// The domain in A-labels when that differs from the domain kept.
    ascii: Option<String>,
}

/// Validates any addr-spec (the general path of [`Mailbox::new`]).
fn check_general(address: &str) -> Result<Checked, AddressError> {
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
    if domain.is_ascii() {
        return Ok(Checked {
            local_len: local.len(),
            unicode: None,
            ascii: (ascii_domain != domain).then_some(ascii_domain),
        });
    }
    // Not ASCII: the U-labels of the A-labels (RFC 6531 §3.3 wants valid
    // U-labels, not full-width letters or ideographic full stops).
    let unicode = idn::domain_to_unicode(&ascii_domain)
        .ok_or_else(|| AddressError::InvalidDomain(address.to_owned()))?;
    if unicode.len() > 255 || local.len() + 1 + unicode.len() > 254 {
        return Err(AddressError::TooLong(address.to_owned()));
    }
    Ok(Checked {
        local_len: local.len(),
        ascii: (ascii_domain != unicode).then_some(ascii_domain),
        unicode: Some(unicode),
    })
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
        if local.starts_with('.') || local.ends_with('.') || crate::substr::contains(local, "..") {
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
#[inline]
pub(crate) fn is_atext(c: char) -> bool {
    if c.is_ascii() {
        ASCII_ATEXT[c as usize]
    } else {
        !c.is_control() && !c.is_whitespace() && !is_invisible(c)
    }
}

/// ASCII `atext`: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
pub(super) const ASCII_ATEXT: [bool; 128] = {
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

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// The one-pass check accepts only what the general path accepts, in
    /// the same form, and leaves everything else to it.
    #[test]
    fn plain_addr_specs_match_the_general_path() {
        let alphabet = b"aZ9-._@+\"x";
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut fast = 0;
        for round in 0..40_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 14) as usize;
            let mut addr: String = (0..len)
                .map(|k| alphabet[((x >> (k * 4 % 60)) % alphabet.len() as u64) as usize] as char)
                .collect();
            if round % 3 == 0 {
                addr = format!("ab.c@{addr}");
            } else if round % 3 == 1 {
                addr = format!("{addr}@Ex-a.mple.com");
            }
            if round % 5 == 0 {
                addr = addr.replace('Z', &"z".repeat(64));
            }
            // ASCII addresses only: the domain is kept as given.
            let general = check_general(&addr).map(|c| Mailbox {
                buf: format!("N{addr}{}", c.ascii.unwrap_or_default()),
                name_len: 1,
                local_len: c.local_len,
                domain_len: addr.len() - c.local_len - 1,
            });
            if plain_addr_spec(&addr).is_some() {
                fast += 1;
                assert!(general.is_ok(), "{addr:?}: {general:?}");
            }
            assert_eq!(Mailbox::new(Some("N"), &addr), general, "{addr:?}");
        }
        assert!(fast > 2_000, "{fast}");
        let m = Mailbox::new(Some("Ann"), "a.b@Mail.Example.COM").unwrap();
        assert_eq!(m.ascii_domain(), "mail.example.com");
        assert_eq!(m.domain(), "Mail.Example.COM");
        assert_eq!(m.local_part(), "a.b");
        assert_eq!(m.name(), Some("Ann"));
        let e = m.envelope_address();
        assert_eq!(e.utf8(), "a.b@Mail.Example.COM");
        assert_eq!(e.ascii(), Some("a.b@mail.example.com"));
        assert_eq!(
            e,
            EnvelopeAddress::new("a.b@Mail.Example.COM", Some("a.b@mail.example.com".into()))
        );
        let m = Mailbox::new(None, "x@bücher.de").unwrap();
        assert_eq!(m.name(), None);
        assert_eq!(m.ascii_domain(), "xn--bcher-kva.de");
        assert_eq!(m.ascii_address().as_deref(), Some("x@xn--bcher-kva.de"));
        assert_eq!(
            format!("{m:?}"),
            "Mailbox { name: None, local: \"x\", domain: \"bücher.de\", ascii_domain: Some(\"xn--bcher-kva.de\") }"
        );
        let m = Mailbox::new(Some(""), "ö@b.de").unwrap();
        assert_eq!(m.name(), None);
        assert_eq!(m.envelope_address().ascii(), None);
        assert!(m.envelope_address().is_internationalized());
        assert!(!Mailbox::new(None, "a@b.de")
            .unwrap()
            .envelope_address()
            .is_internationalized());
    }

    /// Found by review: a domain given with full-width letters, an
    /// ideographic full stop or a compatibility character was kept as
    /// typed, so with SMTPUTF8 the header and the envelope carried text
    /// that is no valid U-label (RFC 6531 §3.3). The Unicode form is now
    /// the ToUnicode of the A-labels.
    #[test]
    fn non_ascii_domains_are_kept_in_their_unicode_form() {
        use crate::address::{format_entries, AddressEntry};
        let utf8 = RenderOptions {
            utf8_headers: true,
            allow_8bit: true,
        };
        let cases = [
            ("jörg@ｅｘａｍｐｌｅ．com", "jörg@example.com", None),
            ("x@bücher。de", "x@bücher.de", Some("x@xn--bcher-kva.de")),
            ("x@Ⅻ.com", "x@xii.com", Some("x@xii.com")),
            ("x@BÜCHER.De", "x@bücher.de", Some("x@xn--bcher-kva.de")),
            (
                "x@ｍüｎｃｈｅｎ｡ＤＥ",
                "x@münchen.de",
                Some("x@xn--mnchen-3ya.de"),
            ),
            (
                "x@例え．テスト",
                "x@例え.テスト",
                Some("x@xn--r8jz45g.xn--zckzah"),
            ),
            // ASCII domains stay as given.
            (
                "x@Mail.Example.COM",
                "x@Mail.Example.COM",
                Some("x@mail.example.com"),
            ),
            (
                "x@xn--bcher-kva.de",
                "x@xn--bcher-kva.de",
                Some("x@xn--bcher-kva.de"),
            ),
        ];
        for (input, want, ascii) in cases {
            let m = Mailbox::new(Some("N"), input).unwrap();
            assert_eq!(m.address(), want, "{input}");
            assert_eq!(m.ascii_address().as_deref(), ascii, "{input}");
            let e = m.envelope_address();
            assert_eq!(e.utf8(), want, "{input}");
            assert_eq!(e.ascii(), ascii, "{input}");
            let tokens = format_entries(&[AddressEntry::Mailbox(m.clone())], utf8).unwrap();
            assert_eq!(tokens.last().unwrap().text, format!("<{want}>"), "{input}");
            assert_eq!(m.to_string(), format!("N <{want}>"));
            // For a non-ASCII domain, the native build's `idna` gives the
            // same Unicode form.
            let domain = input.split_once('@').unwrap().1;
            if !domain.is_ascii() {
                let (native, result) = idna::domain_to_unicode(domain);
                assert!(result.is_ok(), "{input}");
                assert_eq!(m.domain(), native, "{input}");
            }
        }
    }
}
