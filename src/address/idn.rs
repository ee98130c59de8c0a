//! Domain validation: host names (with IDNA / UTS-46) and address literals.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::mailbox::is_invisible;

/// Validates a domain and returns its ASCII form: A-labels for a host name
/// (UTS-46 ToASCII with STD3 rules, hyphen checks and DNS lengths), the
/// literal itself for `[1.2.3.4]` or `[IPv6:…]`. `None` when invalid.
pub(crate) fn domain_to_ascii(domain: &str) -> Option<String> {
    if domain.is_empty() {
        return None;
    }
    if let Some(rest) = domain.strip_prefix('[') {
        let inner = rest.strip_suffix(']')?;
        return address_literal_ok(inner).then(|| domain.to_owned());
    }
    // Before mapping: only characters a host name can be made of. UTS-46
    // would map some (full-width letters) and reject most others, but we
    // refuse ASCII specials and controls outright so nothing odd is mapped
    // away (e.g. U+200B or U+00AD, which UTS-46 silently deletes).
    if domain
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || is_invisible(c) || is_ascii_non_ldh(c))
    {
        return None;
    }
    let ascii = uts46_to_ascii_strict(domain)?;
    hostname_ok(&ascii).then_some(ascii)
}

/// UTS-46 ToASCII, strict (STD3 rules, hyphen checks, DNS lengths).
#[cfg(not(all(target_arch = "wasm32", feature = "wasm")))]
fn uts46_to_ascii_strict(domain: &str) -> Option<String> {
    idna::domain_to_ascii_strict(domain).ok()
}

/// UTS-46 ToASCII, strict, in the wasm build: through the JS host's URL
/// parser, which saves the `idna` crate's Unicode tables (see
/// `crate::wasm::idna`).
#[cfg(all(target_arch = "wasm32", feature = "wasm"))]
fn uts46_to_ascii_strict(domain: &str) -> Option<String> {
    crate::wasm::idna::domain_to_ascii_strict(domain)
}

/// An ASCII character other than letters, digits, `-` and `.`.
fn is_ascii_non_ldh(c: char) -> bool {
    c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Checks an ASCII host name: LDH labels of 1..=63 octets without leading
/// or trailing hyphens, at most 253 octets in all, no trailing dot.
fn hostname_ok(ascii: &str) -> bool {
    if ascii.is_empty() || ascii.len() > 253 {
        return false;
    }
    ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// `1.2.3.4` or `IPv6:…` (RFC 5321 §4.1.3). General address literals
/// (`tag:content`) are not accepted.
fn address_literal_ok(inner: &str) -> bool {
    if let Some(v6) = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
    {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    inner.parse::<Ipv4Addr>().is_ok()
}
