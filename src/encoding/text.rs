//! Text analysis for choosing a `Content-Transfer-Encoding`, and line-ending
//! normalisation.

use std::borrow::Cow;

use super::TransferEncoding;

/// Longest line allowed unencoded by RFC 5322 §2.1.1, excluding CRLF.
pub const MAX_LINE_LEN: usize = 998;

/// Turns every bare CR and every bare LF into CRLF; existing CRLF pairs are
/// kept. Borrows when nothing changes.
pub fn normalize_crlf(input: &[u8]) -> Cow<'_, [u8]> {
    match scan(input, true).1 {
        Some(normalized) => Cow::Owned(normalized),
        None => Cow::Borrowed(input),
    }
}

/// Normalises like [`normalize_crlf`] and analyses like [`analyze`] (the
/// stats describe the normalised text) in one pass, taking ownership so
/// that text already in CRLF form is never copied.
pub fn normalize_and_analyze(input: Vec<u8>) -> (Vec<u8>, TextStats) {
    let (bytes, stats, _) = normalize_analyze_bound(input);
    (bytes, stats)
}

/// [`normalize_and_analyze`], with an upper bound on the length of the
/// normalised text in quoted-printable.
pub(crate) fn normalize_analyze_bound(input: Vec<u8>) -> (Vec<u8>, TextStats, usize) {
    let (mut stats, normalized, qp) = scan(&input, true);
    let bytes = normalized.unwrap_or(input);
    stats.len = bytes.len();
    stats.bare_cr_or_lf = false;
    let bound = qp.bound(bytes.len());
    (bytes, stats, bound)
}

/// Counts from which [`QpBound::bound`] bounds a text's quoted-printable
/// length ([`qp::encoded_len`](super::qp::encoded_len)) without encoding it.
struct QpBound {
    /// Line breaks (each a CRLF once normalised).
    breaks: usize,
    /// Octets always escaped: ≥ 0x7F, controls, `=`.
    escapes: usize,
    /// Lines that start with a dot, plus lines that end with a space or tab.
    edges: usize,
}

impl QpBound {
    /// For the normalised text of `len` octets: every line as one column
    /// per octet and three per escape (which is exact for a line that needs
    /// no soft break), plus at most five octets per soft break (`=` CRLF,
    /// and a dot after it escaped), of which there are fewer than one per
    /// 71 columns (each broken-off piece holds at least 73 columns, two of
    /// which may be that dot's escape), and CRLF per break.
    fn bound(&self, len: usize) -> usize {
        let content = len - 2 * self.breaks;
        let width = content + 2 * self.escapes + 2 * self.edges;
        width + 5 * width.div_ceil(71) + 2 * self.breaks
    }
}

/// Whether a line starts with a dot, and whether it ends with a space or
/// tab (both escaped in quoted-printable).
#[inline]
fn edges(line: &[u8]) -> usize {
    match (line.first(), line.last()) {
        (Some(&first), Some(&last)) => {
            usize::from(first == b'.') + usize::from(last == b' ' || last == b'\t')
        }
        _ => 0,
    }
}

/// The walk behind [`analyze`] and [`normalize_crlf`]: sixteen octets at a
/// time, looking closer only at blocks that hold an octet below 0x20 or DEL
/// (line breaks included). With `normalize`, also writes the CRLF form of
/// `input` when it differs (from the first bare break on).
fn scan(input: &[u8], normalize: bool) -> (TextStats, Option<Vec<u8>>, QpBound) {
    let mut st = Scan {
        input,
        equals: 0,
        breaks: 0,
        edges: 0,
        non_ascii: 0,
        control: 0,
        max_line: 0,
        line_start: 0,
        lf_of_crlf: usize::MAX,
        bare: false,
        normalize,
        out: Vec::new(),
        normalizing: false,
        copied: 0,
    };
    let (blocks, tail) = input.as_chunks::<16>();
    let mut non_ascii = 0usize;
    for (k, block) in blocks.iter().enumerate() {
        // Branch-free reductions over the block, which the compiler turns
        // into vector compares: octets below 0x20 or DEL, and the count of
        // octets ≥ 0x80.
        let special = block.iter().fold(0u8, |acc, &b| {
            acc | u8::from(b < 0x20) | u8::from(b == 0x7F) | u8::from(b == b'=')
        });
        let high = block.iter().fold(0u8, |acc, &b| acc + (b >> 7));
        non_ascii += usize::from(high);
        if special != 0 {
            st.block(k * 16, block);
        }
    }
    let at = blocks.len() * 16;
    for (k, &b) in tail.iter().enumerate() {
        non_ascii += usize::from(b >> 7);
        if b < 0x20 || b == 0x7F || b == b'=' {
            st.octet(at + k);
        }
    }
    st.non_ascii = non_ascii;
    let stats = TextStats {
        len: input.len(),
        non_ascii: st.non_ascii,
        control: st.control,
        max_line_len: st.max_line.max(input.len() - st.line_start),
        bare_cr_or_lf: st.bare,
    };
    let last = &input[st.line_start.min(input.len())..];
    let qp = QpBound {
        breaks: st.breaks,
        escapes: stats.non_ascii + stats.control + st.equals,
        edges: st.edges + edges(last),
    };
    let out = st.normalizing.then(|| {
        let mut out = st.out;
        out.extend_from_slice(&input[st.copied..]);
        out
    });
    (stats, out, qp)
}

struct Scan<'a> {
    input: &'a [u8],
    /// `=` octets, line breaks, and lines that start with a dot or end
    /// with a space or tab (twice when both): for [`QpBound`].
    equals: usize,
    breaks: usize,
    edges: usize,
    non_ascii: usize,
    control: usize,
    max_line: usize,
    line_start: usize,
    /// The LF of a CRLF seen at its CR.
    lf_of_crlf: usize,
    bare: bool,
    normalize: bool,
    /// The normalised text, once a bare break was found (`normalizing`):
    /// everything before `copied` is in it.
    out: Vec<u8>,
    normalizing: bool,
    copied: usize,
}

impl Scan<'_> {
    /// Looks at the octets of the block at `base` that are below 0x20 or
    /// DEL, a word at a time: each flagged lane of a word is visited (a
    /// borrow can flag the lane above a real one, which `octet` ignores).
    #[inline(never)]
    fn block(&mut self, base: usize, block: &[u8; 16]) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        for (half, word) in block.as_chunks::<8>().0.iter().enumerate() {
            let w = u64::from_le_bytes(*word);
            let del = w ^ (0x7F * ONES);
            let eq = w ^ (u64::from(b'=') * ONES);
            let low = w.wrapping_sub(0x20 * ONES) & !w;
            let mut special =
                (low | (del.wrapping_sub(ONES) & !del) | (eq.wrapping_sub(ONES) & !eq)) & HIGH;
            while special != 0 {
                let lane = (special.trailing_zeros() / 8) as usize;
                self.octet(base + half * 8 + lane);
                special &= special - 1;
            }
        }
    }

    /// Looks at the octet at `pos`, which may be below 0x20 or DEL (or a
    /// neighbour of one, which is ignored).
    #[inline]
    fn octet(&mut self, pos: usize) {
        match self.input[pos] {
            b'\n' if pos == self.lf_of_crlf => self.line_start = pos + 1,
            b'\r' if self.input.get(pos + 1) == Some(&b'\n') => {
                self.end_line(pos);
                self.lf_of_crlf = pos + 1;
            }
            b'\r' | b'\n' => {
                self.end_line(pos);
                self.bare = true;
                if self.normalize {
                    self.bare_break(pos);
                }
            }
            b'\t' => {}
            b'=' => self.equals += 1,
            b if b < 0x20 || b == 0x7F => self.control += 1,
            _ => {}
        }
    }

    /// Ends the line that runs to the break at `pos`.
    #[inline]
    fn end_line(&mut self, pos: usize) {
        let line = &self.input[self.line_start..pos];
        self.max_line = self.max_line.max(line.len());
        self.line_start = pos + 1;
        self.breaks += 1;
        self.edges += edges(line);
    }

    #[cold]
    fn start_output(&mut self) {
        let n = self.input.len();
        self.out = Vec::with_capacity(n + n / 16 + 2);
        self.normalizing = true;
    }

    fn bare_break(&mut self, pos: usize) {
        if !self.normalizing {
            self.start_output();
        }
        self.out.extend_from_slice(&self.input[self.copied..pos]);
        self.out.push(b'\r');
        self.out.push(b'\n');
        self.copied = pos + 1;
    }
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

/// Gathers [`TextStats`] in one pass.
pub fn analyze(text: &[u8]) -> TextStats {
    scan(text, false).0
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

    /// Long lines (soft breaks), escapes, dots and trailing whitespace: the
    /// bound is never below the encoder's length, and not far above it.
    #[test]
    fn qp_bound_holds_on_long_lines() {
        let specials = b"=. \t\x80\xc3\x01\x7f";
        let mut x: u64 = 0x5DEE_CE66_D1CE_4E5B;
        for round in 0..3000 {
            let mut v = Vec::new();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = 40 + (x % if round % 2 == 0 { 60 } else { 400 }) as usize;
                let dense = 2 + round % 13;
                for k in 0..len {
                    let r = (x >> (k % 50)) as usize ^ k;
                    v.push(if r.is_multiple_of(dense) {
                        specials[r / dense % specials.len()]
                    } else {
                        b'a'
                    });
                }
                v.extend_from_slice(if x.is_multiple_of(3) { b"\n" } else { b"\r\n" });
            }
            let (normalized, _, bound) = normalize_analyze_bound(v.clone());
            let qp = crate::encoding::qp::encoded_len(&normalized);
            assert!(qp <= bound, "{qp} > {bound} for {v:?}");
            assert!(bound <= qp + qp / 10 + 8, "{bound} far above {qp}");
        }
    }

    #[test]
    fn analyze_matches_naive_on_noise() {
        let alphabet = b"ab \t\r\n\x00\x1f\x7f\x80\xff=.~";
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for round in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Long inputs too, to cross the 32-lane and 8160-byte blocks.
            let len = if round % 100 == 0 {
                20_000
            } else {
                (x % 400) as usize
            };
            let mut v = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v.push(alphabet[(y >> 33) as usize % alphabet.len()]);
            }
            let want = naive_analyze(&v);
            assert_eq!(analyze(&v), want, "{v:?}");
            let (normalized, stats, bound) = normalize_analyze_bound(v.clone());
            assert_eq!(normalized, &*normalize_crlf(&v));
            let qp = crate::encoding::qp::encoded_len(&normalized);
            assert!(qp <= bound, "{qp} > {bound} for {v:?}");
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
