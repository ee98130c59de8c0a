//! Quoted-printable body encoding (RFC 2045 §6.7).
//!
//! [`encode`] takes text whose line breaks are CRLF (see
//! [`normalize_crlf`](super::text::normalize_crlf)); each CRLF becomes a hard
//! line break, and any other CR or LF is escaped. [`encode_text`] takes
//! text as given and makes a hard break of a bare CR or LF too (what
//! encoding its CRLF form gives). Output lines are at most 76
//! characters including a soft-break `=`, never end in whitespace, never
//! start with `.`, and are pure ASCII.

/// Longest output line, excluding CRLF.
pub const MAX_LINE: usize = 76;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether a byte is always escaped: `=`, controls other than TAB, DEL and
/// non-ASCII.
const ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i == b'=' as usize || i >= 0x7F || (i < 0x20 && i != b'\t' as usize);
        i += 1;
    }
    t
};

/// Where the encoder sends its output; lets `encoded_len` share the exact
/// same state machine as `encode`.
trait Sink {
    fn literal(&mut self, bytes: &[u8]);
    fn escape(&mut self, b: u8);
    fn soft_break(&mut self);
    fn hard_break(&mut self);
}

impl Sink for Vec<u8> {
    #[inline]
    fn literal(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline]
    fn escape(&mut self, b: u8) {
        self.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
    }
    #[inline]
    fn soft_break(&mut self) {
        self.extend_from_slice(b"=\r\n");
    }
    #[inline]
    fn hard_break(&mut self) {
        self.extend_from_slice(b"\r\n");
    }
}

struct Counter(usize);

impl Sink for Counter {
    #[inline]
    fn literal(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    #[inline]
    fn escape(&mut self, _: u8) {
        self.0 += 3;
    }
    #[inline]
    fn soft_break(&mut self) {
        self.0 += 3;
    }
    #[inline]
    fn hard_break(&mut self) {
        self.0 += 2;
    }
}

#[inline]
fn is_crlf_at(input: &[u8], i: usize) -> bool {
    input.get(i) == Some(&b'\r') && input.get(i + 1) == Some(&b'\n')
}

/// Whether a line break starts at `i`: CRLF, or in `text` mode also a bare
/// CR or LF (each of which is a CRLF in the text's normalised form).
#[inline]
fn is_break_at(input: &[u8], i: usize, text: bool) -> bool {
    if text {
        matches!(input.get(i), Some(b'\r' | b'\n'))
    } else {
        is_crlf_at(input, i)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether `b` is escaped wherever it stands (the `ESCAPE` table), as
/// arithmetic the compiler can vectorise.
#[inline(always)]
fn escaped(b: u8) -> u8 {
    u8::from(b < 0x20 && b != b'\t') | u8::from(b >= 0x7F) | u8::from(b == b'=')
}

/// The end of the run of bytes from `i` (before `end`) that `ESCAPE` lets
/// through as they are: sixteen at a time (a branch-free test per block
/// that compiles to vector compares), then eight (bit tricks on a word),
/// then one by one.
#[inline]
fn plain_run(input: &[u8], mut i: usize, end: usize) -> usize {
    let Some(span) = input.get(i..end) else {
        return i;
    };
    let (blocks, _) = span.as_chunks::<16>();
    for block in blocks {
        if block.iter().fold(0u8, |acc, &b| acc | escaped(b)) != 0 {
            break;
        }
        i += 16;
    }
    if let Some(word) = input.get(i..end).and_then(|s| s.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*word);
        // Below 0x20 (a borrow can flag more, which only ends the fast
        // step early), at least 0x7F (0x7F + 1 and up set the high bit),
        // and `=`.
        let low = w.wrapping_sub(0x20 * ONES) & !w;
        let high = w | w.wrapping_add(ONES);
        let eq = w ^ (b'=' as u64 * ONES);
        let eq = eq.wrapping_sub(ONES) & !eq;
        if (low | high | eq) & HIGH == 0 {
            i += 8;
        }
    }
    while i < end && !ESCAPE[input[i] as usize] {
        i += 1;
    }
    i
}

/// The encoder. `text`: the input is text whose line ends may be bare CR
/// or LF, each a hard break (as encoding its CRLF form would give); else
/// only CRLF is, and a bare CR or LF is escaped. (A flag, not a const
/// parameter: one copy of the encoder per sink in the wasm build.)
fn run<S: Sink>(input: &[u8], sink: &mut S, text: bool) {
    let n = input.len();
    let mut col = 0usize;
    let mut i = 0usize;
    while i < n {
        let b = input[i];
        // Block step (x86_64 SSE2, wasm SIMD128): the run of plain octets from `i` (what the
        // fast path below takes) found sixteen at a time with a vector test
        // per block, then written as one slice. It stops where the fast
        // path would (an octet `ESCAPE` marks, two columns before the soft
        // break limit), or before the last block of the input, which the
        // fast path below finishes.
        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "sse2"),
            all(target_arch = "wasm32", target_feature = "simd128")
        ))]
        if col < MAX_LINE - 2 && !(ESCAPE[b as usize] || col == 0 && b == b'.') {
            let limit = n.min(i + (MAX_LINE - 2 - col));
            let mut j = i;
            while let Some(block) = input.get(j..).and_then(|s| s.first_chunk::<16>()) {
                let special = simd::special(block);
                if special == 0 && j + 16 <= limit {
                    j += 16;
                    continue;
                }
                j = limit.min(j + (special | 1 << 16).trailing_zeros() as usize);
                break;
            }
            // Whitespace right before the line's end is escaped below.
            if j > i
                && (j == n || is_break_at(input, j, text))
                && matches!(input[j - 1], b' ' | b'\t')
            {
                j -= 1;
            }
            if j > i {
                sink.literal(&input[i..j]);
                col += j - i;
                i = j;
                continue;
            }
        }
        if b == b'\r' && input.get(i + 1) == Some(&b'\n') {
            sink.hard_break();
            col = 0;
            i += 2;
            continue;
        }
        if text && (b == b'\r' || b == b'\n') {
            sink.hard_break();
            col = 0;
            i += 1;
            continue;
        }
        // Fast path: a run of bytes that need no escape (spaces and tabs
        // included, unless one ends the line), not a dot at column 0, that
        // ends at least two columns before the soft break limit, needs no
        // per-byte decisions.
        if !(ESCAPE[b as usize] || col == 0 && b == b'.') {
            let room = (MAX_LINE - 2).saturating_sub(col);
            let end = n.min(i + room);
            let mut j = plain_run(input, i, end);
            // Whitespace right before the line's end is escaped below.
            if j > i
                && (j == n || is_break_at(input, j, text))
                && matches!(input[j - 1], b' ' | b'\t')
            {
                j -= 1;
            }
            if j > i {
                sink.literal(&input[i..j]);
                col += j - i;
                i = j;
                continue;
            }
        }
        let last_on_line = i + 1 == n || is_break_at(input, i + 1, text);
        let must_escape = ESCAPE[b as usize] || ((b == b' ' || b == b'\t') && last_on_line);
        let mut width = if must_escape || (col == 0 && b == b'.') {
            3
        } else {
            1
        };
        let limit = if last_on_line { MAX_LINE } else { MAX_LINE - 1 };
        if col + width > limit {
            sink.soft_break();
            col = 0;
            if b == b'.' {
                width = 3;
            }
        }
        if width == 3 {
            sink.escape(b);
        } else {
            sink.literal(&input[i..i + 1]);
        }
        col += width;
        i += 1;
    }
}

/// SSE2 block test for the encoder's block step.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[allow(unsafe_code)]
mod simd {
    use core::arch::x86_64::*;

    /// The bits of the lanes of `block` that `ESCAPE` marks: octets below
    /// 0x20 other than TAB, from 0x7F up, and `=`.
    #[inline(always)]
    pub(super) fn special(block: &[u8; 16]) -> u32 {
        // SAFETY: SSE2 is enabled for this build (the module's cfg), so the
        // intrinsics exist on the CPU. The load reads exactly the 16 octets
        // of `block`, which is valid for reads, and needs no alignment; the
        // others only compute on registers.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            // v + 1 as a signed octet is below 0x21 exactly for octets
            // below 0x20 (0x01..=0x20), from 0x7F to 0xFE (negative) and
            // 0xFF (0): one add and one compare for both ranges.
            let out = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(1)), _mm_set1_epi8(0x21));
            let tab = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\t' as i8));
            let eq = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'=' as i8));
            let m = _mm_or_si128(_mm_andnot_si128(tab, out), eq);
            _mm_movemask_epi8(m) as u32
        }
    }
}

/// SIMD128 block test for the encoder's block step (the wasm build).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[allow(unsafe_code)]
mod simd {
    use core::arch::wasm32::*;

    /// The bits of the lanes of `block` that `ESCAPE` marks: octets below
    /// 0x20 other than TAB, from 0x7F up, and `=`.
    #[inline(always)]
    pub(super) fn special(block: &[u8; 16]) -> u32 {
        // SAFETY: the load reads exactly the 16 octets of `block`, which is
        // valid for reads; `v128_load` is an unaligned load.
        let v = unsafe { v128_load(block.as_ptr().cast()) };
        // As in the SSE2 test: v + 1 as a signed octet is below 0x21
        // exactly for octets below 0x20 and from 0x7F up.
        let out = i8x16_lt(i8x16_add(v, i8x16_splat(1)), i8x16_splat(0x21));
        let tab = i8x16_eq(v, i8x16_splat(b'\t' as i8));
        let eq = i8x16_eq(v, i8x16_splat(b'=' as i8));
        u32::from(i8x16_bitmask(v128_or(v128_andnot(out, tab), eq)))
    }
}

/// Appends the quoted-printable encoding of `input` (CRLF-normalised text)
/// to `out`.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    // The output is at least as long as the input; a caller that knows
    // [`encoded_len`] reserves it whole.
    out.reserve(input.len());
    run(input, out, false);
}

/// Exactly the number of octets [`encode`] appends for `input`.
pub fn encoded_len(input: &[u8]) -> usize {
    let mut c = Counter(0);
    run(input, &mut c, false);
    c.0
}

/// Appends the quoted-printable encoding of text whose line ends may be
/// CRLF, bare CR or bare LF to `out`: the same octets as [`encode`] gives
/// for its [`normalize_crlf`](super::text::normalize_crlf) form, without
/// making that form.
pub fn encode_text(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    run(input, out, true);
}

/// Exactly the number of octets [`encode_text`] appends for `input`.
pub fn encoded_text_len(input: &[u8]) -> usize {
    let mut c = Counter(0);
    run(input, &mut c, true);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strict decoder: checks the output rules while decoding.
    fn decode_checked(enc: &[u8]) -> Vec<u8> {
        assert!(enc.is_ascii(), "non-ASCII output");
        assert!(!enc.ends_with(b"=\r\n"), "ends with soft break");
        let text = std::str::from_utf8(enc).unwrap();
        let mut out = Vec::new();
        let lines: Vec<&str> = text.split("\r\n").collect();
        for (k, line) in lines.iter().enumerate() {
            assert!(line.len() <= MAX_LINE, "line too long: {line:?}");
            assert!(!line.contains('\r') && !line.contains('\n'));
            assert!(!line.starts_with('.'), "line starts with dot: {line:?}");
            let soft = line.ends_with('=') && k + 1 < lines.len();
            let body = if soft { &line[..line.len() - 1] } else { line };
            assert!(
                !body.ends_with(' ') && !body.ends_with('\t') || soft,
                "trailing whitespace: {line:?}"
            );
            let bytes = body.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' {
                    let hex = &body[i + 1..i + 3];
                    assert_eq!(hex, hex.to_ascii_uppercase());
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    assert!(bytes[i] == b'\t' || (0x20..0x7f).contains(&bytes[i]));
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            if !soft && k + 1 < lines.len() {
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    fn roundtrip(input: &[u8]) -> Vec<u8> {
        let mut out = b"junk".to_vec();
        encode(input, &mut out);
        let enc = out.split_off(4);
        assert_eq!(enc.len(), encoded_len(input), "encoded_len for {input:?}");
        assert_eq!(decode_checked(&enc), input, "roundtrip of {input:?}");
        // The reference crate decodes it the same way.
        assert_eq!(
            quoted_printable::decode(&enc, quoted_printable::ParseMode::Strict).unwrap(),
            input
        );
        enc
    }

    #[test]
    fn simple() {
        assert_eq!(roundtrip(b""), b"");
        assert_eq!(roundtrip(b"hello"), b"hello");
        assert_eq!(roundtrip(b"a=b"), b"a=3Db");
        assert_eq!(roundtrip("é".as_bytes()), b"=C3=A9");
        assert_eq!(roundtrip(b"a \r\nb\t"), b"a=20\r\nb=09");
        assert_eq!(roundtrip(b"a b"), b"a b");
        assert_eq!(roundtrip(b"a\rb\nc"), b"a=0Db=0Ac");
        assert_eq!(roundtrip(b".\r\n.x"), b"=2E\r\n=2Ex");
        assert_eq!(roundtrip(b"a.b"), b"a.b");
        assert_eq!(roundtrip(b"\x00\x7f\t"), b"=00=7F=09");
        assert_eq!(roundtrip(b"x \r\n"), b"x=20\r\n");
        assert_eq!(roundtrip(b"\r\n\r\n"), b"\r\n\r\n");
    }

    #[test]
    fn line_lengths() {
        // Exactly 76 fits with no soft break; 77 needs one.
        let s76 = vec![b'a'; 76];
        assert_eq!(roundtrip(&s76), s76);
        let s77 = vec![b'a'; 77];
        let enc = roundtrip(&s77);
        assert_eq!(&enc[75..78], b"=\r\n");
        // Escapes are never split around the soft break.
        for pad in 70..80 {
            let mut v = vec![b'a'; pad];
            v.extend_from_slice("ééé".as_bytes());
            v.extend_from_slice(b" \r\n");
            v.extend(std::iter::repeat_n(b'.', pad));
            roundtrip(&v);
        }
        // A dot right after a soft break is escaped.
        let mut v = vec![b'a'; 75];
        v.extend_from_slice(b".....");
        let enc = roundtrip(&v);
        assert!(enc.windows(6).any(|w| w == b"=\r\n=2E"));
    }

    #[test]
    fn noise_roundtrips() {
        let alphabet = b"ab .=\t\r\n\xc3\xa9\x00~";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 300) as usize;
            let mut v = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v.push(alphabet[(y >> 33) as usize % alphabet.len()]);
            }
            roundtrip(&v);
        }
    }

    /// The encoder before its fast runs took spaces in, byte by byte.
    fn reference_run(input: &[u8], sink: &mut Vec<u8>) {
        let n = input.len();
        let mut col = 0usize;
        let mut i = 0usize;
        while i < n {
            let b = input[i];
            if b == b'\r' && input.get(i + 1) == Some(&b'\n') {
                sink.hard_break();
                col = 0;
                i += 2;
                continue;
            }
            // Fast path: a run of plain bytes (no escape, no whitespace, not a
            // dot at column 0) that ends at least two columns before the soft
            // break limit needs no per-byte decisions.
            if !ESCAPE[b as usize] && b != b' ' && b != b'\t' && !(col == 0 && b == b'.') {
                let room = (MAX_LINE - 2).saturating_sub(col);
                let end = n.min(i + room);
                let mut j = i;
                while j < end {
                    let c = input[j];
                    if ESCAPE[c as usize] || c == b' ' || c == b'\t' {
                        break;
                    }
                    j += 1;
                }
                if j > i {
                    sink.literal(&input[i..j]);
                    col += j - i;
                    i = j;
                    continue;
                }
            }
            let last_on_line = i + 1 == n || is_crlf_at(input, i + 1);
            let must_escape = ESCAPE[b as usize] || ((b == b' ' || b == b'\t') && last_on_line);
            let mut width = if must_escape || (col == 0 && b == b'.') {
                3
            } else {
                1
            };
            let limit = if last_on_line { MAX_LINE } else { MAX_LINE - 1 };
            if col + width > limit {
                sink.soft_break();
                col = 0;
                if b == b'.' {
                    width = 3;
                }
            }
            if width == 3 {
                sink.escape(b);
            } else {
                sink.literal(&input[i..i + 1]);
            }
            col += width;
            i += 1;
        }
    }

    #[test]
    fn same_output_as_the_reference() {
        let alphabet = b"ab .=\t\r\n\xc3\xa9\x00~";
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        for round in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = if round % 50 == 0 {
                5000
            } else {
                (x % 400) as usize
            };
            let mut v = Vec::with_capacity(len);
            let mut y = x;
            // Long plain stretches too, so runs reach the soft break.
            let plain = round % 3 == 0;
            for _ in 0..len {
                y = y
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let k = (y >> 33) as usize;
                v.push(if plain && !k.is_multiple_of(8) {
                    b'x'
                } else {
                    alphabet[k % alphabet.len()]
                });
            }
            let mut want = Vec::new();
            reference_run(&v, &mut want);
            let mut got = Vec::new();
            encode(&v, &mut got);
            assert_eq!(got, want, "{v:?}");
            assert_eq!(encoded_len(&v), want.len());
        }
    }

    /// Word-like text (the block step's case): words, spaces and tabs
    /// before line ends at every offset from a block edge, a dot or `=` at
    /// line starts, lines near the soft break limit, in both modes.
    #[test]
    fn word_text_matches_the_reference() {
        let words: [&[u8]; 9] = [
            b"the",
            b"report",
            b"na\xc3\xafve",
            b" ",
            b"\t",
            b".",
            b"=",
            b"sixteen-octets!!",
            b"x",
        ];
        let ends: [&[u8]; 5] = [b"\n", b" \n", b"\t\r\n", b"\r\n", b"\r"];
        let mut y: u64 = 0x005E_ED0F_B10C;
        for round in 0..3000 {
            let mut v = Vec::new();
            for _ in 0..(round % 40 + 1) {
                let target = (y >> 40) as usize % 90;
                while v.len() % 97 < target {
                    y = y
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    v.extend_from_slice(words[(y >> 33) as usize % words.len()]);
                    v.push(b' ');
                }
                v.extend_from_slice(ends[(y >> 37) as usize % ends.len()]);
            }
            let mut want = Vec::new();
            reference_run(&v, &mut want);
            let mut got = Vec::new();
            encode(&v, &mut got);
            assert_eq!(got, want, "{v:?}");
            assert_eq!(encoded_len(&v), want.len());
            let normalized = crate::encoding::text::normalize_crlf(&v);
            let mut want = Vec::new();
            reference_run(&normalized, &mut want);
            let mut got = Vec::new();
            encode_text(&v, &mut got);
            assert_eq!(got, want, "{v:?}");
            assert_eq!(encoded_text_len(&v), want.len());
        }
    }

    /// The vector test marks exactly the octets `ESCAPE` marks, in every lane.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn block_test_matches_the_table() {
        for b in 0..=255u8 {
            for lane in 0..16 {
                let mut block = [b'a'; 16];
                block[lane] = b;
                let want = if ESCAPE[b as usize] { 1 << lane } else { 0 };
                assert_eq!(simd::special(&block), want, "octet {b:#04x} in lane {lane}");
            }
        }
    }

    /// Text mode gives what the CRLF form of the text gives.
    #[test]
    fn text_mode_matches_the_normalised_form() {
        let alphabet = b"ab .=\t\r\n\r\n\xc3\xa9\x00~";
        let mut x: u64 = 0x0DDB_1A5E_5BAD_5EED;
        for round in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = if round % 50 == 0 {
                3000
            } else {
                (x % 300) as usize
            };
            let plain = round % 3 == 0;
            let mut v = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let k = (y >> 33) as usize;
                v.push(if plain && !k.is_multiple_of(8) {
                    b'x'
                } else {
                    alphabet[k % alphabet.len()]
                });
            }
            let normalized = crate::encoding::text::normalize_crlf(&v);
            let mut want = Vec::new();
            encode(&normalized, &mut want);
            let mut got = Vec::new();
            encode_text(&v, &mut got);
            assert_eq!(got, want, "{v:?}");
            assert_eq!(encoded_text_len(&v), want.len());
        }
    }

    #[test]
    fn all_bytes() {
        let v: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
        roundtrip(&v);
        let long_plain = b"The quick brown fox jumps over the lazy dog. ".repeat(100);
        let enc = roundtrip(&long_plain);
        assert!(enc.len() < long_plain.len() + long_plain.len() / 20);
    }
}
