//! Domain validation: host names (with IDNA / UTS-46) and address literals.

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
    // A host name of ASCII letters, digits and hyphens with no `xn--`-like
    // label: UTS-46 only lowercases it (checked against `idna` in the
    // tests). Invalid ones go on, and fail below as they did here.
    if ldh_host(domain.as_bytes(), true).is_some() {
        return Some(domain.to_ascii_lowercase());
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

/// The Unicode form of a domain in its ASCII form as [`domain_to_ascii`]
/// gives it (lowercase, valid A-labels): each A-label decoded to its
/// U-label, other labels kept. This is UTS-46 ToUnicode of that form (its
/// mapping step changes nothing in a valid domain), so `bücher。de`,
/// `ｅｘａｍｐｌｅ．com` and `Ⅻ.com` become `bücher.de`, `example.com` and
/// `xii.com`. The same Punycode decoder serves the native and the wasm
/// build (which has no `idna` tables). `None` for an undecodable A-label.
pub(crate) fn domain_to_unicode(ascii: &str) -> Option<String> {
    let mut out = String::with_capacity(ascii.len() * 2);
    for (i, label) in ascii.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        match label.strip_prefix("xn--") {
            Some(encoded) => out.extend(punycode_decode(encoded)?),
            None => out.push_str(label),
        }
    }
    Some(out)
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
    ldh_host(ascii.as_bytes(), false).is_some()
}

/// [`hostname_ok`] in one pass over the bytes; with `plain`, also no label
/// with `--` in its third and fourth places (so no A-label). Returns
/// whether the name is lowercase; `None` when it is not such a host name.
pub(super) fn ldh_host(d: &[u8], plain: bool) -> Option<bool> {
    if d.len() > 253 {
        return None;
    }
    // One table lookup an octet; labels are checked at their dots (and
    // at the end, as if a dot followed).
    let mut upper = false;
    let mut label = 0;
    let mut i = 0;
    loop {
        // The run of lowercase letters, digits and hyphens, then what
        // ends it.
        while i < d.len() && LDH[usize::from(d[i])] == LDH_PLAIN {
            i += 1;
        }
        let Some(&c) = d.get(i) else {
            break;
        };
        match LDH[usize::from(c)] {
            LDH_UPPER => upper = true,
            LDH_DOT => {
                if !ldh_label_ok(&d[label..i], plain) {
                    return None;
                }
                label = i + 1;
            }
            _ => return None,
        }
        i += 1;
    }
    ldh_label_ok(&d[label..], plain).then_some(!upper)
}

/// Lowercase letters, digits and `-`.
const LDH_PLAIN: u8 = 1;
/// Uppercase letters.
const LDH_UPPER: u8 = 2;
/// `.`.
const LDH_DOT: u8 = 3;

/// The class of each octet in a host name (0: not allowed).
const LDH: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' {
            LDH_PLAIN
        } else if b.is_ascii_uppercase() {
            LDH_UPPER
        } else if b == b'.' {
            LDH_DOT
        } else {
            0
        };
        c += 1;
    }
    t
};

/// A label of 1..=63 octets that neither starts nor ends with `-` (and,
/// with `plain`, has no `--` in its third and fourth places).
#[inline]
fn ldh_label_ok(l: &[u8], plain: bool) -> bool {
    !(l.is_empty()
        || l.len() > 63
        || l[0] == b'-'
        || l[l.len() - 1] == b'-'
        || (plain && l.get(2..4) == Some(b"--")))
}

/// `1.2.3.4` or `IPv6:…` (RFC 5321 §4.1.3). General address literals
/// (`tag:content`) are not accepted.
fn address_literal_ok(inner: &str) -> bool {
    if let Some(v6) = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
    {
        return crate::ip::is_ipv6(v6);
    }
    crate::ip::is_ipv4(inner)
}

/// RFC 3492 Punycode decoding (the part of an A-label after `xn--`).
/// Shared with the wasm build's CheckHyphens (`crate::wasm::idna`).
pub(crate) fn punycode_decode(input: &str) -> Option<Vec<char>> {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let adapt = |mut delta: u32, points: u32, first: bool| {
        delta /= if first { DAMP } else { 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - T_MIN) * T_MAX) / 2 {
            delta /= BASE - T_MIN;
            k += BASE;
        }
        k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
    };
    let (basic, rest) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut out: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (0x80u32, 0u32, 72u32);
    let mut digits = rest.bytes().peekable();
    while digits.peek().is_some() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let digit = match digits.next()? {
                c @ b'a'..=b'z' => u32::from(c - b'a'),
                c @ b'A'..=b'Z' => u32::from(c - b'A'),
                c @ b'0'..=b'9' => u32::from(c - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = if k <= bias {
                T_MIN
            } else if k >= bias + T_MAX {
                T_MAX
            } else {
                k - bias
            };
            if digit < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = u32::try_from(out.len()).ok()? + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        out.insert(usize::try_from(i).ok()?, char::from_u32(n)?);
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`ldh_host`] as it was written first, an octet at a time.
    fn ldh_host_reference(d: &[u8], plain: bool) -> Option<bool> {
        if d.len() > 253 {
            return None;
        }
        let mut lowercase = true;
        let mut label = 0;
        for i in 0..=d.len() {
            let c = d.get(i).copied().unwrap_or(b'.');
            if c == b'.' {
                let l = &d[label..i];
                if l.is_empty()
                    || l.len() > 63
                    || l[0] == b'-'
                    || l[l.len() - 1] == b'-'
                    || (plain && l.get(2..4) == Some(b"--"))
                {
                    return None;
                }
                label = i + 1;
            } else if c.is_ascii_uppercase() {
                lowercase = false;
            } else if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
                return None;
            }
        }
        Some(lowercase)
    }

    /// Every string of up to six octets over letters of both cases, a
    /// digit, `-`, `.`, `_` and a non-ASCII octet, then long labels and
    /// names at the length limits.
    #[test]
    fn ldh_host_matches_the_reference() {
        let alphabet = b"aZ9-._\xc3";
        let mut cases: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..6 {
            last = last
                .iter()
                .flat_map(|s: &Vec<u8>| {
                    alphabet.iter().map(move |&c| {
                        let mut t = s.clone();
                        t.push(c);
                        t
                    })
                })
                .collect();
            cases.extend(last.iter().cloned());
        }
        for n in [62, 63, 64] {
            cases.push(vec![b'a'; n]);
            cases.push([vec![b'a'; n], b".com".to_vec()].concat());
            cases.push([b"ab--".to_vec(), vec![b'a'; n]].concat());
        }
        for n in [252, 253, 254] {
            let mut name: Vec<u8> = (0..n)
                .map(|i| if i % 50 == 49 { b'.' } else { b'b' })
                .collect();
            name[0] = b'A';
            cases.push(name);
        }
        let mut some = 0;
        for d in &cases {
            for plain in [false, true] {
                let want = ldh_host_reference(d, plain);
                assert_eq!(
                    ldh_host(d, plain),
                    want,
                    "{:?} {plain}",
                    String::from_utf8_lossy(d)
                );
                some += usize::from(want.is_some());
            }
        }
        assert!(some > 10_000, "{some}");
    }

    /// The fast path gives what `idna` gives, on ASCII domains of every shape.
    #[test]
    fn plain_ascii_domains_match_idna() {
        let alphabet = b"aZ9-.x";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut checked = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 12) as usize;
            let domain: String = (0..len)
                .map(|k| alphabet[((x >> (k * 3 % 60)) % 6) as usize] as char)
                .collect();
            if ldh_host(domain.as_bytes(), true).is_some() {
                let slow = idna::domain_to_ascii_strict(&domain).ok();
                let slow = slow.filter(|a| hostname_ok(a));
                assert_eq!(domain_to_ascii(&domain), slow, "{domain:?}");
                assert_eq!(slow, Some(domain.to_ascii_lowercase()), "{domain:?}");
                checked += 1;
            } else if domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                // Not a plain host name: refused, as `idna` + STD3 refuse it.
                let slow = idna::domain_to_ascii_strict(&domain).ok();
                assert_eq!(slow.filter(|a| hostname_ok(a)), None, "{domain:?}");
                assert_eq!(domain_to_ascii(&domain), None, "{domain:?}");
            }
        }
        assert!(checked > 3_000, "{checked}");
        let long = format!("{}.com", "a".repeat(64));
        assert_eq!(domain_to_ascii(&long), None);
        assert_eq!(
            domain_to_ascii("Mail.Example.COM").as_deref(),
            Some("mail.example.com")
        );
        assert_eq!(domain_to_ascii("ab--c.com"), None);
        assert_eq!(
            domain_to_ascii("xn--mnchen-3ya.de").as_deref(),
            Some("xn--mnchen-3ya.de")
        );
    }
}
