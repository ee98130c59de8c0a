//! Text analysis for choosing a `Content-Transfer-Encoding`, and line-ending
//! normalisation.

use std::borrow::Cow;

use super::TransferEncoding;

/// Longest line allowed unencoded by RFC 5322 §2.1.1, excluding CRLF.
pub const MAX_LINE_LEN: usize = 998;

/// Turns every bare CR and every bare LF into CRLF; existing CRLF pairs are
/// kept. Borrows when nothing changes.
pub fn normalize_crlf(input: &[u8]) -> Cow<'_, [u8]> {
    let first_bad = match first_bare_break(input) {
        Some(i) => i,
        None => return Cow::Borrowed(input),
    };
    let mut out = Vec::with_capacity(input.len() + input.len() / 32 + 2);
    out.extend_from_slice(&input[..first_bad]);
    let mut i = first_bad;
    let n = input.len();
    while i < n {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                i += if input.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            _ => {
                // Copy the run up to the next CR or LF in one go.
                let run = input[i..]
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(n - i);
                out.extend_from_slice(&input[i..i + run]);
                i += run;
            }
        }
    }
    Cow::Owned(out)
}

/// Index of the first bare CR or bare LF.
fn first_bare_break(input: &[u8]) -> Option<usize> {
    let mut i = 0;
    let n = input.len();
    while i < n {
        match input[i] {
            b'\r' => {
                if input.get(i + 1) == Some(&b'\n') {
                    i += 2;
                } else {
                    return Some(i);
                }
            }
            b'\n' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// What [`analyze`] found in a text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextStats {
    /// Length in octets.
    pub len: usize,
    /// Octets ≥ 0x80.
    pub non_ascii: usize,
    /// NUL and other C0 controls except TAB, CR and LF, plus DEL.
    pub control: usize,
    /// Longest line in octets, excluding its line break. Any CR, LF or CRLF
    /// ends a line (as it will after [`normalize_crlf`]).
    pub max_line_len: usize,
    /// Whether a CR not followed by LF, or an LF not preceded by CR, occurs.
    pub bare_cr_or_lf: bool,
}

// Byte classes for `analyze`.
const PLAIN: u8 = 0;
const HIGH: u8 = 1;
const CTRL: u8 = 2;
const CR: u8 = 3;
const LF: u8 = 4;

const CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i >= 0x80 {
            HIGH
        } else if i == 0x0D {
            CR
        } else if i == 0x0A {
            LF
        } else if (i < 0x20 && i != 0x09) || i == 0x7F {
            CTRL
        } else {
            PLAIN
        };
        i += 1;
    }
    t
};

/// Gathers [`TextStats`] in one pass.
pub fn analyze(text: &[u8]) -> TextStats {
    let mut stats = TextStats {
        len: text.len(),
        ..TextStats::default()
    };
    let mut line_start = 0usize;
    let mut max_line = 0usize;
    let mut non_ascii = 0usize;
    let mut control = 0usize;
    let mut bare = false;
    let mut prev_cr = false;
    for (i, &b) in text.iter().enumerate() {
        match CLASS[b as usize] {
            PLAIN => {
                if prev_cr {
                    bare = true;
                    prev_cr = false;
                }
                continue;
            }
            HIGH => non_ascii += 1,
            CTRL => control += 1,
            CR => {
                bare |= prev_cr;
                max_line = max_line.max(i - line_start);
                line_start = i + 1;
                prev_cr = true;
                continue;
            }
            _ => {
                // LF
                if !prev_cr {
                    bare = true;
                    max_line = max_line.max(i - line_start);
                }
                line_start = i + 1;
                prev_cr = false;
                continue;
            }
        }
        if prev_cr {
            bare = true;
            prev_cr = false;
        }
    }
    bare |= prev_cr;
    max_line = max_line.max(text.len() - line_start);
    stats.max_line_len = max_line;
    stats.non_ascii = non_ascii;
    stats.control = control;
    stats.bare_cr_or_lf = bare;
    stats
}

/// Picks a transfer encoding for text with these stats.
///
/// * `7bit`: no non-ASCII, no controls, lines ≤ 998, no bare CR/LF.
/// * `8bit` (when `allow_8bit`): as 7bit but non-ASCII allowed.
/// * otherwise quoted-printable if its estimated size (`1` per ASCII octet,
///   `3` per octet needing an escape, plus soft breaks) is at most that of
///   base64, else base64.
pub fn choose_text_encoding(stats: &TextStats, allow_8bit: bool) -> TransferEncoding {
    let clean = stats.control == 0 && stats.max_line_len <= MAX_LINE_LEN && !stats.bare_cr_or_lf;
    if clean && stats.non_ascii == 0 {
        return TransferEncoding::SevenBit;
    }
    if clean && allow_8bit {
        return TransferEncoding::EightBit;
    }
    let escaped = stats.non_ascii.saturating_add(stats.control);
    let plain = stats.len.saturating_sub(escaped);
    let body = plain.saturating_add(escaped.saturating_mul(3));
    // A soft break ("=" CRLF) roughly every 75 output characters.
    let qp = body.saturating_add(body / 75 * 3);
    let b64 = super::base64::encoded_len(stats.len as u64);
    if (qp as u64) <= b64 {
        TransferEncoding::QuotedPrintable
    } else {
        TransferEncoding::Base64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_normalize(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            if input[i] == b'\r' {
                out.extend_from_slice(b"\r\n");
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            } else if input[i] == b'\n' {
                out.extend_from_slice(b"\r\n");
            } else {
                out.push(input[i]);
            }
            i += 1;
        }
        out
    }

    #[test]
    fn normalize_cases() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"abc", b"abc"),
            (b"a\r\nb", b"a\r\nb"),
            (b"a\nb", b"a\r\nb"),
            (b"a\rb", b"a\r\nb"),
            (b"\r", b"\r\n"),
            (b"\n", b"\r\n"),
            (b"\n\r", b"\r\n\r\n"),
            (b"\r\r\n", b"\r\n\r\n"),
            (b"a\r\n\nb\r", b"a\r\n\r\nb\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(&*normalize_crlf(input), *want, "{input:?}");
        }
        assert!(matches!(normalize_crlf(b"a\r\nb"), Cow::Borrowed(_)));
        assert!(matches!(normalize_crlf(b"a\nb"), Cow::Owned(_)));
    }

    #[test]
    fn normalize_matches_naive_on_noise() {
        // Deterministic pseudo-random bytes drawn from a small alphabet.
        let mut x: u32 = 12345;
        for _ in 0..300 {
            let len = (x % 40) as usize;
            let mut v = Vec::new();
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push([b'a', b'\r', b'\n', b' '][(x >> 16) as usize % 4]);
            }
            let got = normalize_crlf(&v);
            assert_eq!(&*got, naive_normalize(&v).as_slice(), "{v:?}");
            let s = analyze(&got);
            assert!(!s.bare_cr_or_lf);
            assert_eq!(analyze(&v).bare_cr_or_lf, got.len() != v.len());
            assert_eq!(analyze(&v).max_line_len, s.max_line_len);
        }
    }

    #[test]
    fn analyze_counts() {
        let s = analyze(b"");
        assert_eq!(s, TextStats::default());
        let s = analyze("h\u{e9}llo\tx\0\x7f\r\nab".as_bytes());
        assert_eq!(s.len, 14);
        assert_eq!(s.non_ascii, 2);
        assert_eq!(s.control, 2);
        assert_eq!(s.max_line_len, 10);
        assert!(!s.bare_cr_or_lf);
        assert!(analyze(b"a\rb").bare_cr_or_lf);
        assert!(analyze(b"a\r").bare_cr_or_lf);
        assert!(analyze(b"a\n").bare_cr_or_lf);
        assert!(analyze(b"\r\r\n").bare_cr_or_lf);
        assert!(!analyze(b"\r\n\r\n").bare_cr_or_lf);
        assert_eq!(analyze(b"abc\r\nabcde\r\nx").max_line_len, 5);
        assert_eq!(analyze(b"abc\nabcdef").max_line_len, 6);
        assert_eq!(analyze(b"abc\rab").max_line_len, 3);
    }

    #[test]
    fn choose() {
        let te = |t: &[u8], eight| choose_text_encoding(&analyze(t), eight);
        assert_eq!(te(b"", false), TransferEncoding::SevenBit);
        assert_eq!(te(b"hello\r\nworld", false), TransferEncoding::SevenBit);
        assert_eq!(te("héllo".as_bytes(), true), TransferEncoding::EightBit);
        assert_eq!(
            te("héllo wörld, mostly latin".as_bytes(), false),
            TransferEncoding::QuotedPrintable
        );
        assert_eq!(
            te("日本語のテキストです".as_bytes(), false),
            TransferEncoding::Base64
        );
        assert_eq!(
            te("日本語のテキストです".as_bytes(), true),
            TransferEncoding::EightBit
        );
        let long = vec![b'a'; 999];
        assert_eq!(te(&long, false), TransferEncoding::QuotedPrintable);
        assert_eq!(te(&long[..998], false), TransferEncoding::SevenBit);
        assert_eq!(te(b"a\nb", false), TransferEncoding::QuotedPrintable);
        assert_eq!(te(b"a\0b", true), TransferEncoding::QuotedPrintable);
        assert_eq!(te(&[0u8; 100], true), TransferEncoding::Base64);
    }
}
