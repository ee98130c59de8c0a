//! Text analysis for choosing a `Content-Transfer-Encoding`, and line-ending
//! normalisation.

use std::borrow::Cow;

use super::TransferEncoding;

/// Longest line allowed unencoded by RFC 5322 §2.1.1, excluding CRLF.
pub const MAX_LINE_LEN: usize = 998;

/// Turns every bare CR and every bare LF into CRLF; existing CRLF pairs are
/// kept. Borrows when nothing changes.
pub fn normalize_crlf(input: &[u8]) -> Cow<'_, [u8]> {
    let lines = scan_lines(input);
    if lines.bare == 0 {
        return Cow::Borrowed(input);
    }
    Cow::Owned(normalize_into(input, lines.bare))
}

/// Normalises like [`normalize_crlf`] and analyses like [`analyze`] (the
/// stats describe the normalised text), taking ownership so that text
/// already in CRLF form is never copied.
pub fn normalize_and_analyze(input: Vec<u8>) -> (Vec<u8>, TextStats) {
    let lines = scan_lines(&input);
    let (non_ascii, control) = count_classes(&input);
    let bytes = if lines.bare == 0 {
        input
    } else {
        normalize_into(&input, lines.bare)
    };
    let stats = TextStats {
        len: bytes.len(),
        non_ascii,
        control,
        max_line_len: lines.max_line_len,
        bare_cr_or_lf: false,
    };
    (bytes, stats)
}

/// The CRLF form of `input`, which has `bare` bare CRs and LFs (each
/// becomes two octets).
fn normalize_into(input: &[u8], bare: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + bare);
    let mut copied = 0;
    let mut lf_of_crlf = usize::MAX;
    for pos in memchr::memchr2_iter(b'\r', b'\n', input) {
        if pos == lf_of_crlf {
            continue;
        }
        if input[pos] == b'\r' && input.get(pos + 1) == Some(&b'\n') {
            lf_of_crlf = pos + 1;
            continue;
        }
        out.extend_from_slice(&input[copied..pos]);
        out.extend_from_slice(b"\r\n");
        copied = pos + 1;
    }
    out.extend_from_slice(&input[copied..]);
    out
}

/// Line structure: the longest line and the number of bare breaks.
struct Lines {
    max_line_len: usize,
    bare: usize,
}

/// Walks the line breaks (any CR, LF or CRLF ends a line).
fn scan_lines(text: &[u8]) -> Lines {
    let mut max = 0usize;
    let mut bare = 0usize;
    let mut line_start = 0usize;
    let mut lf_of_crlf = usize::MAX;
    for pos in memchr::memchr2_iter(b'\r', b'\n', text) {
        if pos == lf_of_crlf {
            line_start = pos + 1;
            continue;
        }
        max = max.max(pos - line_start);
        line_start = pos + 1;
        if text[pos] == b'\r' && text.get(pos + 1) == Some(&b'\n') {
            lf_of_crlf = pos + 1;
        } else {
            bare += 1;
        }
    }
    Lines {
        max_line_len: max.max(text.len() - line_start),
        bare,
    }
}

/// Counts octets ≥ 0x80, and C0 controls other than TAB, CR and LF plus
/// DEL, in a loop the compiler vectorises (byte counters per lane, summed
/// every 255 rounds).
fn count_classes(text: &[u8]) -> (usize, usize) {
    const LANES: usize = 32;
    #[inline(always)]
    fn is_control(b: u8) -> u8 {
        u8::from((b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7F)
    }
    let mut high = 0usize;
    let mut control = 0usize;
    let mut blocks = text.chunks_exact(LANES * 255);
    let mut count_block = |block: &[u8]| {
        let mut h = [0u8; LANES];
        let mut c = [0u8; LANES];
        for chunk in block.chunks_exact(LANES) {
            for i in 0..LANES {
                h[i] += chunk[i] >> 7;
                c[i] += is_control(chunk[i]);
            }
        }
        high += h.iter().map(|&x| usize::from(x)).sum::<usize>();
        control += c.iter().map(|&x| usize::from(x)).sum::<usize>();
    };
    for block in &mut blocks {
        count_block(block);
    }
    let rest = blocks.remainder();
    let whole = rest.len() / LANES * LANES;
    count_block(&rest[..whole]);
    for &b in &rest[whole..] {
        high += usize::from(b >> 7);
        control += usize::from(is_control(b));
    }
    (high, control)
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

/// Gathers [`TextStats`].
pub fn analyze(text: &[u8]) -> TextStats {
    let lines = scan_lines(text);
    let (non_ascii, control) = count_classes(text);
    TextStats {
        len: text.len(),
        non_ascii,
        control,
        max_line_len: lines.max_line_len,
        bare_cr_or_lf: lines.bare > 0,
    }
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

    /// The byte-at-a-time definition of [`analyze`].
    fn naive_analyze(text: &[u8]) -> TextStats {
        let mut stats = TextStats {
            len: text.len(),
            ..TextStats::default()
        };
        let mut line = 0usize;
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            match b {
                b'\r' | b'\n' => {
                    stats.max_line_len = stats.max_line_len.max(line);
                    line = 0;
                    if b == b'\r' && text.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    } else {
                        stats.bare_cr_or_lf = true;
                    }
                }
                _ => {
                    line += 1;
                    if b >= 0x80 {
                        stats.non_ascii += 1;
                    } else if (b < 0x20 && b != b'\t') || b == 0x7F {
                        stats.control += 1;
                    }
                }
            }
            i += 1;
        }
        stats.max_line_len = stats.max_line_len.max(line);
        stats
    }

    #[test]
    fn analyze_matches_naive_on_noise() {
        let alphabet = b"ab \t\r\n\x00\x7f\x80\xff=.";
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for round in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Long inputs too, to cross the 32-lane and 8160-byte blocks.
            let len = if round % 100 == 0 { 20_000 } else { (x % 400) as usize };
            let mut v = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                v.push(alphabet[(y >> 33) as usize % alphabet.len()]);
            }
            let want = naive_analyze(&v);
            assert_eq!(analyze(&v), want, "{v:?}");
            let (normalized, stats) = normalize_and_analyze(v.clone());
            assert_eq!(normalized, &*normalize_crlf(&v));
            assert_eq!(
                stats,
                TextStats {
                    len: normalized.len(),
                    bare_cr_or_lf: false,
                    ..want
                }
            );
        }
    }

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
