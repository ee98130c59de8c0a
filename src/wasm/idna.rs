//! UTS-46 ToASCII for the wasm build, through the JS host's URL parser.
//!
//! The `idna` crate's Unicode tables (ICU4X normalizer and properties data)
//! are about 55 KB of the gzipped `.wasm`; every JS host already carries
//! the same algorithm in its URL parser (the URL Standard's "domain to
//! ASCII", which is UTS-46 ToASCII with Transitional_Processing=false,
//! CheckBidi and CheckJoiners on). `idna::domain_to_ascii_strict`, which the
//! native build uses, is that algorithm with `beStrict` set; the difference
//! is made up here:
//!
//! - UseSTD3ASCIIRules: the result must be letters, digits, `-` and `.`
//!   (the caller's `hostname_ok`; anything the lax mapping lets through,
//!   e.g. `＿` → `_`, fails there);
//! - CheckHyphens: no label (its Unicode form for an A-label) starts or
//!   ends with `-` or has `--` in its third and fourth positions
//!   ([`hyphens_ok`], with the Punycode decoder that also gives mailboxes
//!   their U-labels, `crate::address::idn`);
//! - VerifyDnsLength: `hostname_ok` again (labels of 1..=63 octets, 253 in
//!   all);
//! - the URL parser's own steps that are not UTS-46 (percent-decoding,
//!   forbidden code points, IPv4 numbers): the caller refuses `%` and the
//!   other ASCII specials first, and the domain gets a last label `a` while
//!   it is parsed, so that a numeric last label is never read as an IPv4
//!   number.
//!
//! A domain of ASCII letters, digits, `-` and `.` without an A-label does
//! not cross to JS: UTS-46 only lowercases it.
//!
//! `tests/wasm_node.rs` compares the result with the `idna` crate on about
//! a hundred hard cases. Under Node (whose URL parser is ada) two differ:
//! an RTL label that starts with a digit (the Bidi rule refuses it; ada
//! does not check that condition) is accepted, and a ZWJ after a virama
//! (allowed by CONTEXTJ) is refused. Browsers' URL parsers may differ from
//! ada in such corners too. The result is a valid LDH host name either way.

// Used in the wasm32 build only; compiled (and unit-tested) everywhere.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The host's WHATWG `URL`.
    #[wasm_bindgen(js_name = URL)]
    type Url;

    #[wasm_bindgen(constructor, catch, js_class = "URL")]
    fn new(url: &str) -> Result<Url, JsValue>;

    #[wasm_bindgen(method, getter, js_class = "URL")]
    fn hostname(this: &Url) -> String;
}

/// `idna::domain_to_ascii_strict(domain)`, less the checks the caller
/// makes on the result (`hostname_ok`). `domain` holds no ASCII character
/// other than letters, digits, `-` and `.` (the caller checks).
pub(crate) fn domain_to_ascii_strict(domain: &str) -> Option<String> {
    let ascii = if domain.is_ascii() && !has_a_label(domain) {
        domain.to_ascii_lowercase()
    } else {
        let host = Url::new(&format!("http://{domain}.a/")).ok()?.hostname();
        host.strip_suffix(".a")?.to_owned()
    };
    ascii.split('.').all(hyphens_ok).then_some(ascii)
}

fn has_a_label(domain: &str) -> bool {
    domain
        .split('.')
        .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
}

/// UTS-46 CheckHyphens on an ASCII label, on its Unicode form for an
/// A-label: no `-` first or last, no `--` in the third and fourth positions.
pub(crate) fn hyphens_ok(label: &str) -> bool {
    match label.strip_prefix("xn--") {
        Some(encoded) => match punycode_decode(encoded) {
            Some(chars) => {
                chars.first() != Some(&'-')
                    && chars.last() != Some(&'-')
                    && !(chars.get(2) == Some(&'-') && chars.get(3) == Some(&'-'))
            }
            None => false,
        },
        None => {
            let b = label.as_bytes();
            b.first() != Some(&b'-') && b.last() != Some(&b'-') && b.get(2..4) != Some(b"--")
        }
    }
}

pub(crate) use crate::address::punycode_decode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punycode_decodes_rfc_3492_samples() {
        let s = |v: Option<Vec<char>>| v.map(|c| c.into_iter().collect::<String>());
        assert_eq!(s(punycode_decode("bcher-kva")).as_deref(), Some("bücher"));
        assert_eq!(s(punycode_decode("r8jz45g")).as_deref(), Some("例え"));
        assert_eq!(
            s(punycode_decode("egbpdaj6bu4bxfgehfvwxn")).as_deref(),
            Some("ليهمابتكلموشعربي؟")
        );
        assert_eq!(
            s(punycode_decode("-> $1.00 <--")).as_deref(),
            Some("-> $1.00 <-")
        );
        // Unterminated, overflowing, not a digit, not a code point.
        assert_eq!(s(punycode_decode("zz")), None);
        assert_eq!(s(punycode_decode("99999999999")), None);
        assert_eq!(s(punycode_decode("ab-c_d")), None);
        assert_eq!(s(punycode_decode("ü-abc")), None);
    }

    #[test]
    fn hyphen_rules_follow_uts46() {
        for (label, ok) in [
            ("abc", true),
            ("a-b", true),
            ("-ab", false),
            ("ab-", false),
            ("ab--c", false),
            ("a--b", true),
            ("xn--bcher-kva", true),
            ("xn---bcher-kva", false), // "-bücher"
            ("xn--bcher--kva", false), // "bücher-"
            ("xn--zz", false),
        ] {
            assert_eq!(hyphens_ok(label), ok, "{label}");
        }
    }

    /// The ASCII path against the idna crate (the host path is compared in
    /// tests/wasm_node.rs, where there is a host).
    #[test]
    fn ascii_domains_match_the_idna_crate() {
        for d in [
            "example.com",
            "EXAMPLE.Com",
            "a-b.c-d.org",
            "ab--cd.com",
            "-ab.com",
            "ab-.com",
            "a.b.c.d.e",
            "123.example",
            "example.123",
            "x.y--z.com",
        ] {
            let ours = if has_a_label(d) {
                continue;
            } else {
                let ascii = d.to_ascii_lowercase();
                ascii.split('.').all(hyphens_ok).then_some(ascii)
            };
            assert_eq!(ours, ::idna::domain_to_ascii_strict(d).ok(), "{d}");
        }
    }
}
