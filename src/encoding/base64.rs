//! Base64 body encoding in 76-character CRLF lines (RFC 2045 §6.8), streaming.

use super::EncodingError;

/// Base64 characters per output line, excluding CRLF.
pub const LINE_CHARS: usize = 76;
/// Input bytes that make one full line.
const LINE_BYTES: usize = LINE_CHARS / 4 * 3;

/// The encoder for whole lines: 76 characters and CRLF per 57 input bytes,
/// a CRLF after the last line, vectorised where the CPU allows.
/// Native builds: SIMD base64 in CRLF-terminated 76-character lines.
#[cfg(not(target_arch = "wasm32"))]
const LINES: NativeLines = NativeLines;

/// Native builds: whole lines with this crate's AVX2 line kernel
/// ([`avx2::lines`]) on x86_64 CPUs that have AVX2 (found at run time),
/// else, and for a last, shorter line, `encodify`'s MIME encoder. Same
/// output either way.
#[cfg(not(target_arch = "wasm32"))]
struct NativeLines;

#[cfg(not(target_arch = "wasm32"))]
impl NativeLines {
    #[allow(unsafe_code)]
    #[inline]
    fn encode_append(&self, input: impl AsRef<[u8]>, out: &mut Vec<u8>) {
        let input = input.as_ref();
        #[cfg(target_arch = "x86_64")]
        if input.len() >= LINE_BYTES && has_avx2() {
            let whole = input.len() / LINE_BYTES * LINE_BYTES;
            let (lines, rest) = input.split_at(whole);
            // SAFETY: the CPU has AVX2 (checked just above), which is all
            // `avx2::lines` asks of its caller.
            unsafe { avx2::lines(lines, out) };
            if !rest.is_empty() {
                encodify::base64::MIME.encode_append(rest, out);
            }
            return;
        }
        encodify::base64::MIME.encode_append(input, out);
    }
}

/// Whether to take the AVX2 line kernel: the CPU has AVX2 (found at run
/// time) and, in tests, it is not switched off to test the other path.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    #[cfg(test)]
    if tests::NO_AVX2.with(std::cell::Cell::get) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

/// Octets [`word_groups`] takes at most.
#[cfg(target_arch = "x86_64")]
pub(crate) const WORD_GROUPS_MAX: usize = 48;

/// The base64 characters of the whole 3-octet groups of `input` (at most
/// [`WORD_GROUPS_MAX`] octets: an encoded word's payload), in
/// `out[..input.len() / 3 * 4]` (what follows is unspecified), or `false`
/// (and `out` untouched) on a CPU without AVX2: the caller encodes them
/// itself.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline]
pub(crate) fn word_groups(input: &[u8], out: &mut [u8; 64]) -> bool {
    if input.len() > WORD_GROUPS_MAX || !has_avx2() {
        return false;
    }
    // The kernel reads 16 octets at offset 36: 52 octets, zero past the
    // input (those characters are beyond the whole groups, not asked for).
    let mut padded = [0u8; 52];
    padded[..input.len()].copy_from_slice(input);
    // SAFETY: the CPU has AVX2 (checked just above), which is all
    // `avx2::groups48` asks of its caller.
    *out = unsafe { avx2::groups48(&padded) };
    true
}

/// Whole lines with AVX2: per 57 input octets, blocks of 12 octets (input
/// offsets 0 and 12 in one register, 24 and 36 in another, and 45 in a
/// 16-octet load at 41, so that every load stays inside the line) become
/// 16 characters each (output offsets 0, 16, 32, 48 and 60, the last
/// overlapping the fourth with the same characters), then CRLF: 78 octets
/// per line written straight into the output (the layout of the wasm
/// build's `simd128` kernel). A block: its octets shuffled into four
/// 32-bit lanes of `b1 b0 b2 b1`, the sextets moved into octets with 16-bit
/// multiplies and a shift (after W. Muła), then each sextet turned into its
/// character by adding an offset looked up with a shuffle.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use super::LINE_BYTES;
    use core::arch::x86_64::*;

    /// Octets written per input line: 76 characters and CRLF.
    const LINE_OUT: usize = super::LINE_CHARS + 2;

    /// The multipliers of [`chars`]: `0x0010_0001` (`hi`) and
    /// `0x0100_0010` (`lo`) in each 32-bit lane, made opaque to the
    /// optimiser, which otherwise turns the multiplies into a longer run of
    /// shifts, packs and blends.
    #[derive(Clone, Copy)]
    struct Muls {
        hi: __m256i,
        lo: __m256i,
    }

    /// The characters of the blocks of `v` (12 octets at lanes 0..12 of
    /// each 128-bit half, or at 4..16 when `SHIFTED`).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn chars<const SHIFTED: bool>(v: __m256i, mul: Muls) -> __m256i {
        let spread = if SHIFTED {
            _mm256_setr_epi8(
                5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14, //
                5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14,
            )
        } else {
            _mm256_setr_epi8(
                1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, //
                1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
            )
        };
        let x = _mm256_shuffle_epi8(v, spread);
        // Sextet 0 (bits 10..16 of the lane's low word) and sextet 2 (bits
        // 6..12 of its high word, moved up to 10..16 by the multiply) down
        // to bits 0 and 16 of the lane; sextets 1 and 3 up to bits 8 and 24.
        let hi = _mm256_srli_epi16::<10>(_mm256_mullo_epi16(x, mul.hi));
        let lo = _mm256_mullo_epi16(_mm256_and_si256(x, _mm256_set1_epi32(0x003F_03F0)), mul.lo);
        let s = _mm256_or_si256(hi, lo);
        // 0..=25 -> 0, 26..=51 -> 1, 52..=61 -> 2..=11, 62 -> 12, 63 -> 13.
        let idx = _mm256_sub_epi8(
            _mm256_subs_epu8(s, _mm256_set1_epi8(51)),
            _mm256_cmpgt_epi8(s, _mm256_set1_epi8(25)),
        );
        let offsets = _mm256_setr_epi8(
            65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0, //
            65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0,
        );
        _mm256_add_epi8(s, _mm256_shuffle_epi8(offsets, idx))
    }

    /// The 64 base64 characters of the first 48 octets of `input` (as
    /// [`lines`] makes a line's first 64): 12-octet blocks at 0 and 12 in
    /// one register, 24 and 36 in another.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn groups48(input: &[u8; 52]) -> [u8; 64] {
        let mul = Muls {
            hi: _mm256_set1_epi32(0x0010_0001),
            lo: _mm256_set1_epi32(0x0100_0010),
        };
        let src = input.as_ptr();
        // SAFETY: the loads read 16 octets at offsets 0, 12, 24 and 36 of
        // the 52-octet `input`, the last ending at 52. No alignment needed.
        let (a, b) = unsafe {
            (
                _mm256_loadu2_m128i(src.add(12).cast(), src.cast()),
                _mm256_loadu2_m128i(src.add(36).cast(), src.add(24).cast()),
            )
        };
        let mut out = [0u8; 64];
        let d = out.as_mut_ptr();
        // SAFETY: the stores write 32 octets at offsets 0 and 32 of the
        // 64-octet `out`. No alignment needed.
        unsafe {
            _mm256_storeu_si256(d.cast(), chars::<false>(a, mul));
            _mm256_storeu_si256(d.add(32).cast(), chars::<false>(b, mul));
        }
        out
    }

    /// Writes one line into `dst` (at least 78 octets): the characters
    /// `a` at 0, `b` at 32 and `c` at 60 (its first four the same
    /// characters as `b`'s last four), then CRLF at 76.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn store_line(dst: &mut [core::mem::MaybeUninit<u8>], a: __m256i, b: __m256i, c: __m128i) {
        let dst = &mut dst[..LINE_OUT];
        let d = dst.as_mut_ptr().cast::<u8>();
        // SAFETY: `dst` is 78 octets (sliced above), valid for writes; the
        // stores write 32 octets at offsets 0 and 32, 16 at 60 and 2 at
        // 76, all inside it. No alignment needed.
        unsafe {
            _mm256_storeu_si256(d.cast(), a);
            _mm256_storeu_si256(d.add(32).cast(), b);
            _mm_storeu_si128(d.add(60).cast(), c);
            d.add(76).cast::<[u8; 2]>().write_unaligned(*b"\r\n");
        }
    }

    /// Appends the lines of `input` (a multiple of 57 octets long), each
    /// 76 characters and CRLF.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn lines(input: &[u8], out: &mut Vec<u8>) {
        debug_assert_eq!(input.len() % LINE_BYTES, 0);
        let n = input.len() / LINE_BYTES;
        out.reserve(n * LINE_OUT);
        let spare = &mut out.spare_capacity_mut()[..n * LINE_OUT];
        let mul = Muls {
            hi: std::hint::black_box(_mm256_set1_epi32(0x0010_0001)),
            lo: std::hint::black_box(_mm256_set1_epi32(0x0100_0010)),
        };
        // Two lines at a time: their last 12-octet blocks share one
        // register (the one-line loop below leaves half of it unused).
        let (pairs, _) = input.as_chunks::<{ 2 * LINE_BYTES }>();
        let (pair_dsts, _) = spare.as_chunks_mut::<{ 2 * LINE_OUT }>();
        for (two, dst) in pairs.iter().zip(pair_dsts.iter_mut()) {
            let src = two.as_ptr();
            // SAFETY: `two` is 114 octets; the loads read 16 octets at
            // offsets 0, 12, 24, 36 and 41 of each 57-octet line (the last
            // ending at 57 + 57 = 114), all inside it. No alignment needed.
            let (a1, b1, a2, b2, c) = unsafe {
                let l2 = src.add(LINE_BYTES);
                (
                    _mm256_loadu2_m128i(src.add(12).cast(), src.cast()),
                    _mm256_loadu2_m128i(src.add(36).cast(), src.add(24).cast()),
                    _mm256_loadu2_m128i(l2.add(12).cast(), l2.cast()),
                    _mm256_loadu2_m128i(l2.add(36).cast(), l2.add(24).cast()),
                    _mm256_loadu2_m128i(l2.add(41).cast(), src.add(41).cast()),
                )
            };
            let c = chars::<true>(c, mul);
            let (first, second) = dst.split_at_mut(LINE_OUT);
            store_line(
                first,
                chars::<false>(a1, mul),
                chars::<false>(b1, mul),
                _mm256_castsi256_si128(c),
            );
            store_line(
                second,
                chars::<false>(a2, mul),
                chars::<false>(b2, mul),
                _mm256_extracti128_si256::<1>(c),
            );
        }
        let done = pairs.len() * 2;
        for (line, dst) in input[done * LINE_BYTES..]
            .chunks_exact(LINE_BYTES)
            .zip(spare[done * LINE_OUT..].chunks_exact_mut(LINE_OUT))
        {
            let src = line.as_ptr();
            // SAFETY: `line` is 57 octets; the loads read 16 octets at
            // offsets 0, 12, 24, 36 and 41, the last ending at 57, all
            // inside it. The loads need no alignment.
            let (a, b, c) = unsafe {
                (
                    _mm256_loadu2_m128i(src.add(12).cast(), src.cast()),
                    _mm256_loadu2_m128i(src.add(36).cast(), src.add(24).cast()),
                    _mm256_castsi128_si256(_mm_loadu_si128(src.add(41).cast())),
                )
            };
            store_line(
                dst,
                chars::<false>(a, mul),
                chars::<false>(b, mul),
                _mm256_castsi256_si128(chars::<true>(c, mul)),
            );
        }
        let len = out.len() + n * LINE_OUT;
        // SAFETY: the loop above initialised all `n * 78` octets after the
        // old length (`n` lines, each written in full), within the
        // capacity reserved.
        unsafe { out.set_len(len) };
    }
}

/// The wasm build encodes with its own SIMD128 encoder ([`simd128`]; the
/// npm package's download size: `encodify` adds ~15 KB gzipped there, where
/// its SIMD paths do not apply). Same output: every 57 input octets become
/// one 76-character line with its CRLF, the last line padded.
#[cfg(target_arch = "wasm32")]
const LINES: WasmLines = WasmLines;

#[cfg(target_arch = "wasm32")]
struct WasmLines;

#[cfg(target_arch = "wasm32")]
impl WasmLines {
    fn encode_append(&self, input: impl AsRef<[u8]>, out: &mut Vec<u8>) {
        let input = input.as_ref();
        let whole = input.len() / LINE_BYTES * LINE_BYTES;
        let (lines, rest) = input.split_at(whole);
        #[cfg(target_feature = "simd128")]
        simd128::lines(lines, out);
        // (A build without SIMD128: scalar lines.)
        #[cfg(not(target_feature = "simd128"))]
        for line in lines.chunks_exact(LINE_BYTES) {
            encode_into(line, out);
            out.extend_from_slice(b"\r\n");
        }
        if !rest.is_empty() {
            encode_into(rest, out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Whole lines with SIMD128: per 57 input octets, five 12-octet blocks
/// (input offsets 0, 12, 24, 36 and 45, the last overlapping the fourth so
/// that every load stays inside the line) become 16 characters each
/// (output offsets 0, 16, 32, 48 and 60), then CRLF: 78 octets written
/// straight into the output, no second pass for the line breaks.
///
/// A block: the 12 octets are shuffled into four 32-bit lanes of
/// `b1 b0 b2 b1`, the four sextets of each lane are moved into its four
/// octets with a multiply, shifts and a mask, and each sextet
/// becomes its character by adding an offset looked up with a swizzle
/// (W. Muła's method, as in SSSE3 encoders).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[allow(unsafe_code)]
mod simd128 {
    use super::LINE_BYTES;
    use core::arch::wasm32::*;

    /// Octets written per input line: 76 characters and CRLF.
    const LINE_OUT: usize = super::LINE_CHARS + 2;

    /// The vectors the kernel uses, made once per call and passed through
    /// `black_box` so that they stay in registers: V8 builds every
    /// `v128.const` anew where it is used (25 a line here). And LLVM turns
    /// a multiply by a constant power-of-two vector into per-lane shifts,
    /// which SIMD128 has only with one amount for all lanes: 70
    /// `replace_lane`s a line, 1.5 times slower than the whole encoder.
    #[derive(Clone, Copy)]
    struct Consts {
        /// 16-bit lanes 1, 16, 1, 16, ...
        by_1_16: v128,
        /// 16-bit lanes 0x3F00.
        upper_sextet: v128,
        /// Octets 51, 26 and 13.
        k51: v128,
        k26: v128,
        k13: v128,
        /// The offset from a sextet to its character, by the index
        /// [`ascii`] computes.
        offsets: v128,
    }

    impl Consts {
        fn new() -> Self {
            core::hint::black_box(Consts {
                by_1_16: u32x4_splat(0x0010_0001),
                upper_sextet: u16x8_splat(0x3F00),
                k51: u8x16_splat(51),
                k26: u8x16_splat(26),
                k13: u8x16_splat(13),
                offsets: i8x16(
                    71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0,
                ),
            })
        }
    }

    /// The sextets of the 12 octets at lanes `K..K + 12` of `v`, one per
    /// output lane (values 0..=63).
    #[inline(always)]
    fn sextets<const K: usize>(v: v128, k: Consts) -> v128 {
        let x = if K == 0 {
            i8x16_shuffle::<1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10>(v, v)
        } else {
            i8x16_shuffle::<5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14>(v, v)
        };
        // Lane (little-endian) = b1 | b0 << 8 | b2 << 16 | b1 << 24: its
        // low 16 bits hold sextet 0 at bits 10..16 and sextet 1 at 4..10,
        // its high 16 bits sextet 2 at 6..12 and sextet 3 at 0..6.
        // Multiplying the high half by 16 (the low one by 1) lines them up
        // as the low one (the 4 bits pushed out are b1's, sextet 1's): then
        // in every 16-bit half, `>> 10` is the first sextet and `<< 4`
        // masked the second, moved to the upper octet. Five operations
        // (SSSE3 encoders use a mulhi, which SIMD128 lacks).
        let y = i16x8_mul(x, k.by_1_16);
        v128_or(u16x8_shr(y, 10), v128_and(i16x8_shl(y, 4), k.upper_sextet))
    }

    /// The base64 characters of 16 sextets.
    #[inline(always)]
    fn ascii(s: v128, k: Consts) -> v128 {
        // 0..=25 -> 13 ('A' - 0), 26..=51 -> 0 ('a' - 26), 52..=61 -> 1..=10
        // ('0' - 52), 62 -> 11 ('+' - 62), 63 -> 12 ('/' - 63).
        let idx = v128_or(u8x16_sub_sat(s, k.k51), v128_and(u8x16_lt(s, k.k26), k.k13));
        i8x16_add(s, i8x16_swizzle(k.offsets, idx))
    }

    /// Appends the lines of `input` (a multiple of 57 octets long), each
    /// 76 characters and CRLF.
    pub(super) fn lines(input: &[u8], out: &mut Vec<u8>) {
        debug_assert_eq!(input.len() % LINE_BYTES, 0);
        let n = input.len() / LINE_BYTES;
        out.reserve(n * LINE_OUT);
        let spare = &mut out.spare_capacity_mut()[..n * LINE_OUT];
        let k = Consts::new();
        for (line, dst) in input
            .chunks_exact(LINE_BYTES)
            .zip(spare.chunks_exact_mut(LINE_OUT))
        {
            let src = line.as_ptr();
            // SAFETY: `line` is 57 octets; the loads read 16 octets at
            // offsets 0, 12, 24, 36 and 41, the last ending at 57, all
            // inside it. `v128_load` is an unaligned load.
            let (v0, v1, v2, v3, v4) = unsafe {
                (
                    v128_load(src.cast()),
                    v128_load(src.add(12).cast()),
                    v128_load(src.add(24).cast()),
                    v128_load(src.add(36).cast()),
                    v128_load(src.add(41).cast()),
                )
            };
            let (c0, c1, c2, c3) = (
                ascii(sextets::<0>(v0, k), k),
                ascii(sextets::<0>(v1, k), k),
                ascii(sextets::<0>(v2, k), k),
                ascii(sextets::<0>(v3, k), k),
            );
            let c4 = ascii(sextets::<4>(v4, k), k);
            let d = dst.as_mut_ptr().cast::<u8>();
            // SAFETY: `dst` is 78 octets of `out`'s spare capacity; the
            // stores write 16 octets at offsets 0, 16, 32, 48 and 60 (the
            // last ending at 76, its first four octets the same characters
            // as the fourth store's last four) and CRLF at 76 and 77, all
            // inside it. `v128_store` is an unaligned store.
            unsafe {
                v128_store(d.cast(), c0);
                v128_store(d.add(16).cast(), c1);
                v128_store(d.add(32).cast(), c2);
                v128_store(d.add(48).cast(), c3);
                v128_store(d.add(60).cast(), c4);
                d.add(76).cast::<[u8; 2]>().write_unaligned(*b"\r\n");
            }
        }
        let len = out.len() + n * LINE_OUT;
        // SAFETY: the loop above initialised all `n * 78` octets after the
        // old length (`n` lines, each written in full), within the
        // capacity reserved.
        unsafe { out.set_len(len) };
    }
}

/// Appends the base64 of `input`, padded, with no line breaks (scalar).
fn encode_into(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len().div_ceil(3) * 4);
    let mut groups = input.chunks_exact(3);
    for g in &mut groups {
        let n = u32::from(g[0]) << 16 | u32::from(g[1]) << 8 | u32::from(g[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize],
            ALPHABET[(n >> 12 & 63) as usize],
            ALPHABET[(n >> 6 & 63) as usize],
            ALPHABET[(n & 63) as usize],
        ]);
    }
    match *groups.remainder() {
        [a] => out.extend_from_slice(&[
            ALPHABET[usize::from(a >> 2)],
            ALPHABET[usize::from((a & 3) << 4)],
            b'=',
            b'=',
        ]),
        [a, b] => out.extend_from_slice(&[
            ALPHABET[usize::from(a >> 2)],
            ALPHABET[usize::from((a & 3) << 4 | b >> 4)],
            ALPHABET[usize::from((b & 15) << 2)],
            b'=',
        ]),
        _ => {}
    }
}

/// The padded base64 of `input` in one line (RFC 4648 §4), as SMTP AUTH
/// sends its responses.
pub(crate) fn encode(input: impl AsRef<[u8]>) -> String {
    let mut out = Vec::new();
    encode_into(input.as_ref(), &mut out);
    // Only ASCII from the alphabet and '=' was written.
    String::from_utf8(out).unwrap_or_default()
}

/// Streaming base64 encoder writing CRLF-terminated lines of 76 characters.
///
/// Feeding the input in any chunking gives the same output as one call.
/// Whole lines are encoded straight from the input; only the bytes of an
/// unfinished line (at most 56) are kept between calls.
#[derive(Clone, Debug)]
pub struct LineEncoder {
    /// Input bytes of the current, unfinished line.
    pending: [u8; LINE_BYTES],
    pending_len: usize,
}

impl Default for LineEncoder {
    fn default() -> Self {
        Self {
            pending: [0; LINE_BYTES],
            pending_len: 0,
        }
    }
}

impl LineEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes `input`, appending base64 text to `out` with CRLF after
    /// every 76 characters.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.pending_len > 0 {
            let take = (LINE_BYTES - self.pending_len).min(input.len());
            let (head, rest) = input.split_at(take);
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(head);
            self.pending_len += take;
            input = rest;
            if self.pending_len < LINE_BYTES {
                return;
            }
            LINES.encode_append(self.pending, out);
            self.pending_len = 0;
        }
        let whole = input.len() / LINE_BYTES * LINE_BYTES;
        let (lines, rest) = input.split_at(whole);
        if !lines.is_empty() {
            LINES.encode_append(lines, out);
        }
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// Flushes the last line, padded, with its CRLF. Writes nothing if no
    /// input was ever pushed.
    pub fn finish(self, out: &mut Vec<u8>) {
        if self.pending_len > 0 {
            LINES.encode_append(&self.pending[..self.pending_len], out);
        }
    }
}

/// Encodes `input` in CRLF-terminated lines of 76 characters.
pub fn encode_lines(input: &[u8], out: &mut Vec<u8>) {
    if !input.is_empty() {
        LINES.encode_append(input, out);
    }
}

/// Exactly the number of octets [`LineEncoder`] writes for `input_len` bytes.
pub fn encoded_len(input_len: u64) -> u64 {
    let chars = input_len.div_ceil(3).saturating_mul(4);
    let lines = chars.div_ceil(LINE_CHARS as u64);
    chars.saturating_add(lines * 2)
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes canonical padded base64 (RFC 4648 §4: groups of four, `=`
/// padding, unused bits zero), as SMTP AUTH challenges are sent; `None` for
/// anything else. Small on purpose: the wasm build carries no general
/// decoder.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (g, group) in b.chunks_exact(4).enumerate() {
        let last = (g + 1) * 4 == b.len();
        let pad = if last {
            group.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &group[..4 - pad] {
            n = (n << 6) | u32::from(b64_value(c)?);
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        let keep = 3 - pad;
        // The unused bits of a padded group must be zero (canonical form).
        if bytes[1 + keep..].iter().any(|&x| x != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[1..1 + keep]);
    }
    Some(out)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Re-wraps already base64-encoded data into 76-character CRLF lines,
/// exactly as [`LineEncoder`] would write the decoded bytes.
///
/// ASCII whitespace is ignored. Missing final padding is accepted; unused
/// trailing bits in the last group are cleared. Characters outside the
/// base64 alphabet, misplaced or excess `=`, data after padding, or a
/// truncated final group give [`EncodingError::InvalidBase64`].
pub fn rewrap(pre_encoded: &[u8], out: &mut Vec<u8>) -> Result<(), EncodingError> {
    let mut quad = [0u8; 4];
    let mut qlen = 0usize;
    let mut pads = 0usize;
    let mut done = false; // a padded final group has been seen
    let mut col = 0usize;
    out.reserve(pre_encoded.len() + pre_encoded.len() / 38 + 4);
    for (pos, &c) in pre_encoded.iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            if done {
                return Err(invalid(format!("excess padding at offset {pos}")));
            }
            if qlen < 2 {
                return Err(invalid(format!("misplaced '=' at offset {pos}")));
            }
            pads += 1;
            quad[qlen] = c;
            qlen += 1;
            if qlen == 4 {
                done = true;
            }
            continue;
        }
        if b64_value(c).is_none() {
            return Err(invalid(format!(
                "byte 0x{c:02X} at offset {pos} is not in the base64 alphabet"
            )));
        }
        if done || pads > 0 {
            return Err(invalid(format!("data after padding at offset {pos}")));
        }
        quad[qlen] = c;
        qlen += 1;
        if qlen == 4 {
            out.extend_from_slice(&quad);
            col += 4;
            if col == LINE_CHARS {
                out.extend_from_slice(b"\r\n");
                col = 0;
            }
            qlen = 0;
        }
    }
    if pads > 0 && qlen != 4 {
        return Err(invalid("incomplete padding".to_string()));
    }
    let data = qlen - pads;
    match data {
        0 => {}
        1 => return Err(invalid("truncated final group".to_string())),
        2 | 3 => {
            // Canonicalise: clear the bits that carry no data.
            let mask = if data == 2 { 0x30 } else { 0x3C };
            let last = quad[data - 1];
            let v = b64_value(last).unwrap_or(0) & mask;
            quad[data - 1] = ALPHABET[v as usize];
            for slot in quad.iter_mut().skip(data) {
                *slot = b'=';
            }
            out.extend_from_slice(&quad);
            col += 4;
        }
        _ => {}
    }
    if col > 0 {
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

fn invalid(why: String) -> EncodingError {
    EncodingError::InvalidBase64(why)
}

#[cfg(test)]
mod decode_tests {
    use super::decode;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    /// Agrees with the `base64` crate's strict decoder on what it accepts
    /// and what it refuses.
    #[test]
    fn decode_agrees_with_the_base64_crate() {
        let mut x: u32 = 5;
        let alphabet = b"AQgw+/=z9 \r";
        for round in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let text: String = if round % 2 == 0 {
                let n = (x >> 8) as usize % 40;
                let bytes: Vec<u8> = (0..n).map(|i| (x >> (i % 24)) as u8 ^ i as u8).collect();
                STANDARD.encode(bytes)
            } else {
                let n = (x >> 8) as usize % 13;
                (0..n)
                    .map(|i| {
                        char::from(alphabet[((x >> (i * 2 % 28)) as usize + i) % alphabet.len()])
                    })
                    .collect()
            };
            assert_eq!(decode(&text), STANDARD.decode(&text).ok(), "{text:?}");
        }
        assert_eq!(decode("").as_deref(), Some(&b""[..]));
        assert_eq!(decode("QQ==").as_deref(), Some(&b"A"[..]));
        assert_eq!(decode("QR=="), None);
        assert_eq!(decode("Q==="), None);
        assert_eq!(decode("QQ=A"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::base64::engine::general_purpose::STANDARD;
    use ::base64::Engine as _;

    #[cfg(target_arch = "x86_64")]
    thread_local! {
        /// Set by a test to take the encoder without the AVX2 kernel on a
        /// CPU that has AVX2.
        pub(super) static NO_AVX2: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// The reference comparisons again without the AVX2 line kernel.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn without_avx2_too() {
        NO_AVX2.with(|off| off.set(true));
        matches_the_reference_line_by_line();
        lines_of_noise_match_the_reference();
        chunking_is_invisible();
        word_groups_match_the_reference();
        NO_AVX2.with(|off| off.set(false));
    }

    /// An encoded word's groups, every length up to the most and noise in
    /// every octet: the base64 crate's characters of the whole groups (or
    /// `false` without AVX2).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn word_groups_match_the_reference() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for round in 0..3000 {
            let len = round % (WORD_GROUPS_MAX + 2);
            let input = noise(&mut x, len);
            let mut out = [b'#'; 64];
            let done = word_groups(&input, &mut out);
            assert_eq!(done, len <= WORD_GROUPS_MAX && has_avx2(), "{len}");
            if done {
                let whole = len / 3 * 3;
                let want = STANDARD.encode(&input[..whole]);
                assert_eq!(&out[..whole / 3 * 4], want.as_bytes(), "{input:?}");
            } else {
                assert_eq!(out, [b'#'; 64]);
            }
        }
    }

    /// Noise (every sextet value at every position of a line, with high
    /// probability), whole lines and not, against the base64 crate.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn lines_of_noise_match_the_reference() {
        let mut x: u64 = 0xD1B5_4A32_D192_ED03;
        for round in 0..400 {
            let len = match round % 3 {
                0 => (x % 200) as usize,
                1 => 57 * (x % 40) as usize,
                _ => (x % 5000) as usize,
            };
            let input = noise(&mut x, len);
            let want = reference_lines(&input);
            let mut out = b"keep".to_vec();
            encode_lines(&input, &mut out);
            assert_eq!(&out[..4], b"keep");
            assert_eq!(out[4..], want[..], "len {len}");
        }
    }

    /// `len` octets of xorshift noise from the state `x`.
    fn noise(x: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                (*x >> 24) as u8
            })
            .collect()
    }

    /// The 76-column lines of `input` as the base64 crate writes them one
    /// by one, each with CRLF.
    fn reference_lines(input: &[u8]) -> Vec<u8> {
        let mut want = Vec::new();
        for line in input.chunks(LINE_BYTES) {
            want.extend_from_slice(STANDARD.encode(line).as_bytes());
            want.extend_from_slice(b"\r\n");
        }
        want
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 13) as u8).collect()
    }

    fn check_lines(enc: &[u8], input: &[u8]) {
        assert_eq!(enc.len() as u64, encoded_len(input.len() as u64));
        if input.is_empty() {
            assert!(enc.is_empty());
            return;
        }
        assert!(enc.ends_with(b"\r\n"));
        let text = std::str::from_utf8(enc).unwrap();
        let lines: Vec<&str> = text[..text.len() - 2].split("\r\n").collect();
        for (k, line) in lines.iter().enumerate() {
            if k + 1 < lines.len() {
                assert_eq!(line.len(), LINE_CHARS);
            } else {
                assert!(!line.is_empty() && line.len() <= LINE_CHARS);
            }
        }
        let joined: String = lines.concat();
        assert_eq!(STANDARD.decode(joined).unwrap(), input);
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn one_shot_lengths() {
        for len in (0..400).chain([57 * 100, 57 * 100 + 1, 100_000]) {
            let input = data(len);
            let mut out = Vec::new();
            encode_lines(&input, &mut out);
            check_lines(&out, &input);
        }
        assert_eq!(encoded_len(0), 0);
        assert_eq!(encoded_len(1), 6);
        assert_eq!(encoded_len(57), 78);
        assert_eq!(encoded_len(58), 78 + 6);
    }

    /// The lines, byte for byte, as the base64 crate writes them one by one.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn matches_the_reference_line_by_line() {
        for len in (0..300).chain([57 * 1000 - 1, 57 * 1000, 57 * 1000 + 1, 1 << 20]) {
            let input = data(len);
            let want = reference_lines(&input);
            let mut out = b"keep".to_vec();
            encode_lines(&input, &mut out);
            assert_eq!(&out[..4], b"keep");
            assert_eq!(out[4..], want[..], "len {len}");
        }
    }

    /// The one-line encoder (SMTP AUTH) against the base64 crate, and the
    /// scalar line writer the wasm build uses for a last line.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn one_line_encoder_matches_the_base64_crate() {
        for len in 0..300 {
            let input: Vec<u8> = (0..len).map(|i| (i * 151 + 7) as u8).collect();
            assert_eq!(encode(&input), STANDARD.encode(&input), "len {len}");
        }
        assert_eq!(encode(b"\xFF\xFF"), "//8=");
        assert_eq!(encode("a"), "YQ==");
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn chunking_is_invisible() {
        let input = data(1000);
        let mut whole = Vec::new();
        encode_lines(&input, &mut whole);
        for step in [1, 2, 3, 4, 5, 7, 56, 57, 58, 100, 113, 999] {
            let mut enc = LineEncoder::new();
            let mut out = Vec::new();
            for chunk in input.chunks(step) {
                enc.push(chunk, &mut out);
                enc.push(&[], &mut out);
            }
            enc.finish(&mut out);
            assert_eq!(out, whole, "step {step}");
        }
        // Irregular chunk sizes.
        let mut enc = LineEncoder::new();
        let mut out = Vec::new();
        let mut rest = &input[..];
        let mut k = 0usize;
        while !rest.is_empty() {
            k = (k * 31 + 17) % 90;
            let take = k.min(rest.len());
            let (a, b) = rest.split_at(take);
            enc.push(a, &mut out);
            rest = b;
        }
        enc.finish(&mut out);
        assert_eq!(out, whole);
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn empty_writes_nothing() {
        let mut out = Vec::new();
        let mut enc = LineEncoder::new();
        enc.push(&[], &mut out);
        enc.finish(&mut out);
        assert!(out.is_empty());
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn rewrap_matches_encoder() {
        for len in [0usize, 1, 2, 3, 4, 56, 57, 58, 114, 500] {
            let input = data(len);
            let mut want = Vec::new();
            encode_lines(&input, &mut want);
            let flat = STANDARD.encode(&input);
            // Weird wrapping and whitespace.
            let mut messy = String::new();
            for (i, ch) in flat.chars().enumerate() {
                messy.push(ch);
                if i % 10 == 9 {
                    messy.push_str(" \r\n\t");
                }
            }
            for src in [flat.clone(), messy, flat.trim_end_matches('=').to_string()] {
                let mut out = Vec::new();
                rewrap(src.as_bytes(), &mut out).unwrap();
                assert_eq!(out, want, "len {len} src {src:?}");
            }
        }
    }

    #[test]
    fn rewrap_canonicalises_trailing_bits() {
        let mut out = Vec::new();
        rewrap(b"QR==", &mut out).unwrap();
        assert_eq!(out, b"QQ==\r\n");
        out.clear();
        rewrap(b"QUJ", &mut out).unwrap();
        assert_eq!(out, b"QUI=\r\n");
    }

    #[test]
    fn rewrap_errors() {
        for bad in [
            &b"QQ=A"[..],
            b"Q===",
            b"=QQQ",
            b"QQ==QQ==",
            b"QQ==\n=",
            b"QUJD*",
            b"QUJDQ",
            b"QQ=",
            "QUJD\u{e9}".as_bytes(),
        ] {
            let mut out = Vec::new();
            assert!(
                matches!(rewrap(bad, &mut out), Err(EncodingError::InvalidBase64(_))),
                "{bad:?}"
            );
        }
        let mut out = Vec::new();
        rewrap(b"  \r\n ", &mut out).unwrap();
        assert!(out.is_empty());
    }
}
