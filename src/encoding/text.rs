//! Text analysis for choosing a `Content-Transfer-Encoding`, and line-ending
//! normalisation.

use std::borrow::Cow;

use super::TransferEncoding;

/// Longest line allowed unencoded by RFC 5322 §2.1.1, excluding CRLF.
pub const MAX_LINE_LEN: usize = 998;

/// Turns every bare CR and every bare LF into CRLF; existing CRLF pairs are
/// kept. Borrows when nothing changes.
pub fn normalize_crlf(input: &[u8]) -> Cow<'_, [u8]> {
    if lines(input).bare == 0 {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len() + input.len() / 16 + 2);
    crlf_into(input, 0, input.len(), &mut out);
    Cow::Owned(out)
}

/// Appends the CRLF form of `input[start..end]` to `out`: each bare CR or
/// LF as CRLF. The octets on either side of the range decide whether a CR
/// or LF at its edge is bare, so the pieces of any split of `input` add up
/// to its [`normalize_crlf`] form.
pub(crate) fn crlf_into(input: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
    let mut pos = start;
    while let Some(k) = memchr::memchr2(b'\n', b'\r', &input[pos..end]) {
        let p = pos + k;
        out.extend_from_slice(&input[pos..p]);
        pos = p + 1;
        if input[p] == b'\r' {
            if input.get(p + 1) == Some(&b'\n') {
                if p + 1 < end {
                    out.extend_from_slice(b"\r\n");
                    pos = p + 2;
                } else {
                    out.push(b'\r');
                }
            } else {
                out.extend_from_slice(b"\r\n");
            }
        } else if p > 0 && input[p - 1] == b'\r' {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(&input[pos..end]);
}

/// Normalises like [`normalize_crlf`] and analyses like [`analyze`] (the
/// stats describe the normalised text) in one pass, taking ownership so
/// that text already in CRLF form is never copied.
pub fn normalize_and_analyze(input: Vec<u8>) -> (Vec<u8>, TextStats) {
    let scan = analyze_text(&input);
    let bytes = if scan.bare {
        normalize_crlf(&input).into_owned()
    } else {
        input
    };
    (bytes, scan.stats)
}

/// What [`analyze_text`] finds in a text whose line ends may be CRLF, bare
/// CR or bare LF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TextScan {
    /// The stats of the text's CRLF form ([`normalize_crlf`]).
    pub stats: TextStats,
    /// Whether the text has a bare CR or LF (differs from its CRLF form).
    pub bare: bool,
    /// An upper bound on the length of the CRLF form in quoted-printable
    /// ([`qp::encoded_len`](super::qp::encoded_len)).
    pub qp_bound: usize,
}

/// Analyses a text as its CRLF form, without making that form: two passes
/// that stop at nothing: counts of octets (sixteen lanes at a time) and
/// line breaks (found with `memchr`).
pub(crate) fn analyze_text(input: &[u8]) -> TextScan {
    let counts = counts(input);
    let lines = lines(input);
    let len = input.len() + lines.bare;
    let qp = QpBound {
        breaks: lines.breaks,
        escapes: counts.high + counts.control + counts.equals,
        edges: lines.edges,
    };
    TextScan {
        stats: TextStats {
            len,
            non_ascii: counts.high,
            control: counts.control,
            max_line_len: lines.max_line,
            bare_cr_or_lf: false,
        },
        bare: lines.bare > 0,
        qp_bound: qp.bound(len),
    }
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

/// Octet counts of a text.
#[derive(Default)]
struct Counts {
    /// Octets ≥ 0x80.
    high: usize,
    /// C0 controls other than TAB, CR and LF, and DEL.
    control: usize,
    /// `=` octets.
    equals: usize,
}

/// Counts octets sixteen lanes at a time: per-lane 8-bit counters (which
/// the compiler keeps in vector registers) over groups of at most 255
/// blocks, so that no lane overflows, then summed per group.
fn counts(input: &[u8]) -> Counts {
    #[inline(always)]
    fn control(b: u8) -> u8 {
        u8::from(b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r') | u8::from(b == 0x7F)
    }
    let mut c = Counts::default();
    let (blocks, tail) = input.as_chunks::<16>();
    for group in blocks.chunks(255) {
        let mut high = [0u8; 16];
        let mut ctl = [0u8; 16];
        let mut eq = [0u8; 16];
        for block in group {
            for i in 0..16 {
                let b = block[i];
                high[i] += b >> 7;
                ctl[i] += control(b);
                eq[i] += u8::from(b == b'=');
            }
        }
        let sum = |lanes: [u8; 16]| lanes.iter().map(|&n| usize::from(n)).sum::<usize>();
        c.high += sum(high);
        c.control += sum(ctl);
        c.equals += sum(eq);
    }
    for &b in tail {
        c.high += usize::from(b >> 7);
        c.control += usize::from(control(b));
        c.equals += usize::from(b == b'=');
    }
    c
}

/// The line structure of a text: a CRLF, a bare CR or a bare LF ends a line.
struct Lines {
    /// Line breaks.
    breaks: usize,
    /// Bare CRs and LFs among them.
    bare: usize,
    /// Longest line, without its break.
    max_line: usize,
    /// Lines (the last one included) that start with a dot, plus those that
    /// end with a space or tab.
    edges: usize,
}

fn lines(input: &[u8]) -> Lines {
    let mut l = Lines {
        breaks: 0,
        bare: 0,
        max_line: 0,
        edges: 0,
    };
    let mut start = 0;
    let mut pos = 0;
    while let Some(k) = memchr::memchr2(b'\n', b'\r', &input[pos..]) {
        let p = pos + k;
        let line = &input[start..p];
        l.max_line = l.max_line.max(line.len());
        l.edges += edges(line);
        l.breaks += 1;
        if input[p] == b'\r' && input.get(p + 1) == Some(&b'\n') {
            pos = p + 2;
        } else {
            l.bare += 1;
            pos = p + 1;
        }
        start = pos;
    }
    let last = &input[start..];
    l.max_line = l.max_line.max(last.len());
    l.edges += edges(last);
    l
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

/// Gathers [`TextStats`] (of the text as it is).
pub fn analyze(text: &[u8]) -> TextStats {
    let scan = analyze_text(text);
    TextStats {
        len: text.len(),
        bare_cr_or_lf: scan.bare,
        ..scan.stats
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
            let normalized = normalize_crlf(&v);
            let bound = analyze_text(&v).qp_bound;
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
            let normalized = naive_normalize(&v);
            assert_eq!(&*normalize_crlf(&v), normalized);
            let scan = analyze_text(&v);
            let qp = crate::encoding::qp::encoded_len(&normalized);
            assert!(qp <= scan.qp_bound, "{qp} > {} for {v:?}", scan.qp_bound);
            assert_eq!(scan.bare, want.bare_cr_or_lf);
            assert_eq!(
                scan.stats,
                TextStats {
                    len: normalized.len(),
                    bare_cr_or_lf: false,
                    ..want
                }
            );
            assert_eq!(
                normalize_and_analyze(v.clone()),
                (normalized.clone(), scan.stats)
            );
            // Any split of the text converts piece by piece to its CRLF form.
            let cut = (x as usize) % (v.len() + 1);
            let mut pieces = Vec::new();
            crlf_into(&v, 0, cut, &mut pieces);
            crlf_into(&v, cut, v.len(), &mut pieces);
            assert_eq!(pieces, normalized);
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
