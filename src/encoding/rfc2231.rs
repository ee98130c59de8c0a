//! MIME parameters (RFC 2045 §5.1) with RFC 2231 continuations and
//! charset encoding.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest segment returned by [`encode_parameter`].
pub const MAX_SEGMENT: usize = 76;

/// RFC 2045 token characters: printable ASCII except SPACE and tspecials.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    // A `match`, not `contains` on the list: that is a `memchr` call per
    // octet.
    (0x21..=0x7E).contains(&b)
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

/// [`is_token_char`] but for RFC 2231's metacharacters `'`, `*` and `%`:
/// what a value may hold to be written as a bare token. RFC 2045 allows
/// them in tokens, but readers that know RFC 2231 misread such a token
/// (Python's `email` reads `filename=a'b.txt` as no filename and
/// `filename=star*.txt` as `star`); quoted, every reader gets them right.
#[inline]
pub(crate) fn is_bare_token_char(b: u8) -> bool {
    is_token_char(b) && !matches!(b, b'\'' | b'*' | b'%')
}

/// RFC 2231 / RFC 5987 `attr-char`: left literal in extended values.
#[inline]
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// `value` as a token if it is a non-empty RFC 2045 token without RFC
/// 2231's metacharacters `'`, `*` and `%`, else as a quoted-string with
/// `"` and `\` escaped (`a'b.txt` becomes `"a'b.txt"`: some readers take
/// a bare `'`, `*` or `%` for RFC 2231 syntax).
///
/// Other characters are copied as they are: the caller must not pass
/// controls (CR/LF in particular); [`encode_parameter`] never does.
pub fn quote_if_needed(value: &str) -> Cow<'_, str> {
    if !value.is_empty() && value.bytes().all(is_bare_token_char) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    push_escaped(value, &mut out);
    out.push('"');
    Cow::Owned(out)
}

/// Appends `value` as a quoted-string, `"` and `\` escaped, even when
/// it is a token (the caller must not pass controls).
pub(crate) fn push_quoted(value: &str, out: &mut String) {
    out.push('"');
    push_escaped(value, out);
    out.push('"');
}

fn push_escaped(value: &str, out: &mut String) {
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Encodes one MIME parameter as segments, each to be written after `; `
/// and each at most 76 characters (unless `name` itself is absurdly long).
///
/// * Printable ASCII that fits: `name=token` or `name="quoted"` (quoted
///   when it holds `'`, `*` or `%`, see [`quote_if_needed`]).
/// * Printable ASCII too long for one segment: `name*0="..."`,
///   `name*1="..."`, ... (RFC 2231 §3).
/// * Any non-ASCII or control character: `name*=utf-8''%XX...`
///   (RFC 2231 §4), or `name*0*=utf-8''...`, `name*1*=...` when long.
///   `%XX` escapes and UTF-8 sequences are never split across segments.
/// * With `raw_utf8` (RFC 6532), non-ASCII without controls stays raw in
///   quoted strings, with the same continuation scheme as ASCII; but
///   whitespace other than a plain space (U+2028, U+2029, NBSP, ...),
///   which a reader may take as a line break or fold, is always encoded
///   as above (as in display names).
///
/// `name` should be an RFC 2045 token such as `filename`.
pub fn encode_parameter(name: &str, value: &str, raw_utf8: bool) -> Vec<String> {
    let has_control = value
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' '));
    // A value holding `=?` goes out in the extended form: many readers
    // (mail-parser among them) decode RFC 2047 words even inside a quoted
    // parameter, so `"=?utf-8?Q?x?="` would come back as `x`.
    let word_like = super::rfc2047::has_word_start(value.as_bytes());
    if !has_control && !word_like && (raw_utf8 || value.is_ascii()) {
        let quoted = quote_if_needed(value);
        if name.len() + 1 + quoted.len() <= MAX_SEGMENT {
            let mut seg = String::with_capacity(name.len() + 1 + quoted.len());
            seg.push_str(name);
            seg.push('=');
            seg.push_str(&quoted);
            return vec![seg];
        }
        return quoted_continuations(name, value);
    }
    extended(name, value)
}

fn quoted_continuations(name: &str, value: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut chars = value.chars().peekable();
    let mut n = 0usize;
    while chars.peek().is_some() {
        let mut seg = String::with_capacity(MAX_SEGMENT);
        // Writing to a String cannot fail.
        let _ = write!(seg, "{name}*{n}=\"");
        let mut any = false;
        while let Some(&c) = chars.peek() {
            let w = c.len_utf8() + usize::from(c == '"' || c == '\\');
            if any && seg.len() + w + 1 > MAX_SEGMENT {
                break;
            }
            if c == '"' || c == '\\' {
                seg.push('\\');
            }
            seg.push(c);
            any = true;
            chars.next();
        }
        seg.push('"');
        segs.push(seg);
        n += 1;
    }
    segs
}

/// Appends the percent-encoding of `c` to `out`.
fn push_pct(c: char, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut buf = [0u8; 4];
    for &b in c.encode_utf8(&mut buf).as_bytes() {
        if is_attr_char(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

fn pct_len(c: char) -> usize {
    let mut buf = [0u8; 4];
    c.encode_utf8(&mut buf)
        .bytes()
        .map(|b| if is_attr_char(b) { 1 } else { 3 })
        .sum()
}

/// `value` in RFC 2231's extended form whatever it holds:
/// `name*=utf-8''%XX...`, or `name*0*=utf-8''...`, `name*1*=...` when
/// long; segments as [`encode_parameter`]'s.
pub(crate) fn extended(name: &str, value: &str) -> Vec<String> {
    let total: usize = value.chars().map(pct_len).sum();
    // name*=utf-8''...
    if name.len() + 9 + total <= MAX_SEGMENT {
        let mut seg = String::with_capacity(name.len() + 9 + total);
        seg.push_str(name);
        seg.push_str("*=utf-8''");
        for c in value.chars() {
            push_pct(c, &mut seg);
        }
        return vec![seg];
    }
    let mut segs = Vec::new();
    let mut chars = value.chars().peekable();
    let mut n = 0usize;
    while chars.peek().is_some() {
        let mut seg = String::with_capacity(MAX_SEGMENT);
        let _ = write!(seg, "{name}*{n}*=");
        if n == 0 {
            seg.push_str("utf-8''");
        }
        let mut any = false;
        while let Some(&c) = chars.peek() {
            if any && seg.len() + pct_len(c) > MAX_SEGMENT {
                break;
            }
            push_pct(c, &mut seg);
            any = true;
            chars.next();
        }
        segs.push(seg);
        n += 1;
    }
    segs
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The `match`es are the character lists of the RFCs.
    #[test]
    fn token_and_attr_chars_match_their_lists() {
        for b in 0..=255u8 {
            let token = (0x21..=0x7E).contains(&b) && !b"()<>@,;:\\\"/[]?=".contains(&b);
            assert_eq!(is_token_char(b), token, "{b:#x}");
            let attr = b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b);
            assert_eq!(is_attr_char(b), attr, "{b:#x}");
        }
    }

    /// Found by `tests/proptest_roundtrip.rs`: a filename that is an
    /// encoded word, quoted, read back through mail-parser as its decoded
    /// text (here, empty). Such values take the extended form.
    #[test]
    fn word_like_values_take_the_extended_form() {
        assert_eq!(
            encode_parameter("filename", "=?utf-8?Q??=", false),
            ["filename*=utf-8''%3D%3Futf-8%3FQ%3F%3F%3D"]
        );
        assert_eq!(
            encode_parameter("filename", "a=b?.txt", false),
            ["filename=\"a=b?.txt\""]
        );
    }

    /// Found by review: with raw UTF-8 a value holding U+2028 (or any
    /// whitespace but a plain space) was written raw in a quoted string,
    /// and npm mailparser lost the filename. Such values take the extended
    /// form, as display names take encoded words.
    #[test]
    fn unusual_whitespace_takes_the_extended_form_even_raw() {
        for ws in [
            '\u{2028}', '\u{2029}', '\u{a0}', '\u{85}', '\u{1680}', '\u{2009}', '\u{3000}',
        ] {
            let value = format!("a{ws}b.txt");
            for raw in [false, true] {
                let segs = encode_parameter("filename", &value, raw);
                assert!(segs[0].starts_with("filename*=utf-8''a%"), "{segs:?}");
                assert!(segs.iter().all(|s| s.is_ascii()), "{segs:?}");
                assert_eq!(decode("filename", &segs), value);
                let long = format!("{}{ws}.txt", "é".repeat(60));
                let segs = encode_parameter("filename", &long, raw);
                assert!(segs[0].starts_with("filename*0*=utf-8''"), "{segs:?}");
                assert!(segs.iter().all(|s| s.is_ascii()), "{segs:?}");
                assert_eq!(decode("filename", &segs), long);
            }
        }
        // A plain space, and other raw UTF-8, stay raw.
        assert_eq!(
            encode_parameter("filename", "é b.txt", true),
            ["filename=\"é b.txt\""]
        );
    }

    /// Found by review: values holding `'`, `*` or `%` were written as
    /// bare tokens, which Python's `email` (policy.default) misreads as
    /// RFC 2231 syntax (`filename=a'b.txt`: no filename;
    /// `filename=star*.txt`: `star`). They are quoted.
    #[test]
    fn rfc2231_metacharacters_are_quoted() {
        for value in ["a'b.txt", "star*.txt", "100%.txt", "x*0*=a", "'", "*", "%"] {
            let quoted = format!("\"{value}\"");
            assert_eq!(quote_if_needed(value), quoted.as_str());
            for raw in [false, true] {
                let want = format!("filename={quoted}");
                assert_eq!(encode_parameter("filename", value, raw), [want]);
            }
        }
        for b in 0..=255u8 {
            let bare = is_token_char(b) && !b"'*%".contains(&b);
            assert_eq!(is_bare_token_char(b), bare, "{b:#x}");
        }
    }

    /// A small RFC 2231 decoder for the segments of one parameter.
    fn decode(name: &str, segs: &[String]) -> String {
        fn unquote(v: &str) -> String {
            match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => {
                    let mut out = String::new();
                    let mut esc = false;
                    for c in inner.chars() {
                        if !esc && c == '\\' {
                            esc = true;
                        } else {
                            assert!(esc || c != '"', "unescaped quote in {v}");
                            out.push(c);
                            esc = false;
                        }
                    }
                    out
                }
                None => {
                    assert!(v.bytes().all(is_token_char), "bad token {v}");
                    v.to_string()
                }
            }
        }
        fn unpct(v: &str) -> Vec<u8> {
            let b = v.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    assert!(is_attr_char(b[i]), "{v}");
                    out.push(b[i]);
                    i += 1;
                }
            }
            out
        }
        if segs.len() == 1 {
            let s = &segs[0];
            if let Some(v) = s.strip_prefix(&format!("{name}=")) {
                return unquote(v);
            }
            if let Some(v) = s.strip_prefix(&format!("{name}*=utf-8''")) {
                return String::from_utf8(unpct(v)).unwrap();
            }
        }
        let mut bytes = Vec::new();
        for (n, s) in segs.iter().enumerate() {
            if let Some(v) = s.strip_prefix(&format!("{name}*{n}=")) {
                bytes.extend_from_slice(unquote(v).as_bytes());
            } else if let Some(v) = s.strip_prefix(&format!("{name}*{n}*=")) {
                let v = if n == 0 {
                    v.strip_prefix("utf-8''").unwrap()
                } else {
                    v
                };
                // Each segment holds whole characters.
                String::from_utf8(unpct(v)).unwrap();
                bytes.extend(unpct(v));
            } else {
                panic!("bad segment {s}");
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    pub(crate) fn tricky_values() -> Vec<String> {
        let mut v: Vec<String> = [
            "report.pdf",
            "my report.pdf",
            "",
            "a\"b\\c.txt",
            "Grüße.txt",
            "日本語のファイル名.txt",
            "😀.png",
            "tab\there.txt",
            "new\r\nline.txt",
            "100% legit; really=yes (1).doc",
            "'quoted'.txt",
            "a*b'c%d.txt",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("long-ascii-name-".repeat(12) + ".txt");
        v.push("\"".repeat(100));
        v.push("é".repeat(100));
        v.push("文件".repeat(60) + ".zip");
        v.push(format!("{}{}", "a".repeat(60), "😀".repeat(20)));
        v
    }

    #[test]
    fn shapes() {
        assert_eq!(encode_parameter("name", "a.pdf", false), ["name=a.pdf"]);
        assert_eq!(encode_parameter("name", "a b", false), ["name=\"a b\""]);
        assert_eq!(encode_parameter("name", "", false), ["name=\"\""]);
        assert_eq!(
            encode_parameter("filename", "é.txt", false),
            ["filename*=utf-8''%C3%A9.txt"]
        );
        assert_eq!(
            encode_parameter("filename", "é.txt", true),
            ["filename=\"é.txt\""]
        );
        assert_eq!(
            encode_parameter("filename", "a\tb", true),
            ["filename*=utf-8''a%09b"]
        );
        let segs = encode_parameter("filename", &"x".repeat(100), false);
        assert_eq!(segs.len(), 2);
        assert!(segs[0].starts_with("filename*0=\"xxx"));
        assert!(segs[1].starts_with("filename*1=\"xxx"));
        let segs = encode_parameter("filename", &"é".repeat(40), false);
        assert!(segs[0].starts_with("filename*0*=utf-8''%C3%A9"));
        assert!(segs[1].starts_with("filename*1*=%C3%A9"));
        assert_eq!(quote_if_needed("abc"), "abc");
        assert_eq!(quote_if_needed("a=b"), "\"a=b\"");
        assert_eq!(quote_if_needed("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_if_needed(""), "\"\"");
    }

    #[test]
    fn roundtrip_and_limits() {
        for name in ["name", "filename"] {
            for value in tricky_values() {
                for raw in [false, true] {
                    let segs = encode_parameter(name, &value, raw);
                    assert!(!segs.is_empty());
                    for s in &segs {
                        assert!(s.len() <= MAX_SEGMENT, "{s}");
                        assert!(!s.contains(['\r', '\n', '\t']), "{s}");
                        if !raw {
                            assert!(s.is_ascii(), "{s}");
                        }
                    }
                    assert_eq!(decode(name, &segs), value, "{segs:?}");
                }
            }
        }
    }
}
