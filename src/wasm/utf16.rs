//! UTF-16 to UTF-8 for the compact encoding's UTF-16 strings (tag 9,
//! `API.md`, "The compact encoding").
//!
//! Node's UTF-8 encoder (`Buffer#utf8Write`, `TextEncoder.encodeInto`) is
//! fast for V8's one-byte strings but takes ~2.5 ns a character for
//! two-byte ones (CJK, emoji, anything past U+00FF): 14–18 µs for the 4 KiB
//! text and 8 KiB HTML of a W2 message, a third of the npm package's
//! composing time there. `Buffer#ucs2Write` copies such a string as it is
//! (0.3 µs), and this module transcodes it with SIMD128 in about half the
//! time Node's encoder takes (benches/results/node.md).
//!
//! A lone surrogate gives `None`: the JS layer then calls `compose(options)`,
//! which refuses the string by field name.

/// `le` (UTF-16 code units, little-endian, as `Buffer#ucs2Write` writes
/// them) as a `String`; `None` for an odd length or a lone surrogate.
pub(crate) fn utf16le_to_string(le: &[u8]) -> Option<String> {
    if !le.len().is_multiple_of(2) {
        return None;
    }
    let n = le.len() / 2;
    // At most 3 octets a unit (a surrogate pair's 4 for 2 units), and room
    // for the SIMD path's 16-octet stores past the last octet written.
    let mut out = vec![0u8; 3 * n + 16];
    let written = transcode(le, &mut out)?;
    out.truncate(written);
    into_string(out)
}

/// The `i`-th code unit of `le`.
#[inline(always)]
fn unit(le: &[u8], i: usize) -> u32 {
    u32::from(u16::from_le_bytes([le[2 * i], le[2 * i + 1]]))
}

/// Transcodes the units `i..` of `le` into `out` at `o` until at least
/// `end` units are done (a pair that straddles `end` is taken whole);
/// `(units done, octets written)`, or `None` at a lone surrogate.
fn scalar(
    le: &[u8],
    mut i: usize,
    end: usize,
    out: &mut [u8],
    mut o: usize,
) -> Option<(usize, usize)> {
    let n = le.len() / 2;
    while i < end {
        let u = unit(le, i);
        let c = if (0xD800..0xDC00).contains(&u) {
            let low = if i + 1 < n { unit(le, i + 1) } else { 0 };
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            i += 2;
            char::from_u32(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00))?
        } else {
            i += 1;
            // A low surrogate alone is not a `char`: `None`.
            char::from_u32(u)?
        };
        o += c.encode_utf8(&mut out[o..]).len();
    }
    Some((i, o))
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn transcode(le: &[u8], out: &mut [u8]) -> Option<usize> {
    scalar(le, 0, le.len() / 2, out, 0).map(|(_, o)| o)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn into_string(out: Vec<u8>) -> Option<String> {
    String::from_utf8(out).ok()
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd::{into_string, transcode};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[allow(unsafe_code)]
mod simd {
    //! Eight units at a time. A block of ASCII units is narrowed to octets;
    //! otherwise each group of four units becomes four 32-bit lanes
    //! holding each unit's UTF-8 octets in order (a high surrogate its
    //! pair's first two, the low one the last two), which one shuffle from
    //! a table, indexed by the four lengths, packs together. Blocks with a
    //! surrogate check their pairs first and compute the surrogate forms;
    //! the others skip that work.

    use super::scalar;
    use core::arch::wasm32::*;
    use std::sync::OnceLock;

    /// The 16 octets of `bytes` at `at`.
    #[inline(always)]
    fn load(bytes: &[u8], at: usize) -> v128 {
        let b: &[u8; 16] = bytes[at..at + 16].try_into().expect("16 octets");
        // SAFETY: `b` is 16 readable octets; `v128_load` has no alignment
        // requirement.
        unsafe { v128_load(b.as_ptr().cast()) }
    }

    /// Writes `v` over the 16 octets of `out` at `at`.
    #[inline(always)]
    fn store(out: &mut [u8], at: usize, v: v128) {
        let d: &mut [u8; 16] = (&mut out[at..at + 16]).try_into().expect("16 octets");
        // SAFETY: `d` is 16 writable octets; no alignment requirement.
        unsafe { v128_store(d.as_mut_ptr().cast(), v) }
    }

    /// Shuffles that pack four 32-bit lanes of 1, 2 or 3 octets each, and
    /// the octets packed, indexed by the lanes' "2 octets or more" bits
    /// (low nibble) and "3 octets" bits (high nibble); 81 of the 256 are
    /// used.
    struct Pack {
        shuffle: [[u8; 16]; 256],
        len: [u8; 256],
    }

    fn pack() -> &'static Pack {
        static PACK: OnceLock<Pack> = OnceLock::new();
        PACK.get_or_init(|| {
            // 0x80: a lane index past 15, which the swizzle makes zero.
            let mut p = Pack {
                shuffle: [[0x80; 16]; 256],
                len: [0; 256],
            };
            for idx in 0..256usize {
                let mut o = 0;
                for lane in 0..4 {
                    let n = if (idx >> (4 + lane)) & 1 == 1 {
                        3
                    } else if (idx >> lane) & 1 == 1 {
                        2
                    } else {
                        1
                    };
                    for k in 0..n {
                        p.shuffle[idx][o] = (lane * 4 + k) as u8;
                        o += 1;
                    }
                }
                p.len[idx] = o as u8;
            }
            p
        })
    }

    /// Packs four lanes (`r`, each lane's octets from its low octet up) of
    /// the lengths that `two` (2 octets or more) and `three` (3 octets)
    /// give into `out` at `o`; the octets written.
    #[inline(always)]
    fn put(p: &Pack, r: v128, two: v128, three: v128, out: &mut [u8], o: usize) -> usize {
        let idx = (u32x4_bitmask(two) | (u32x4_bitmask(three) << 4)) as usize;
        let shuffle = load(&p.shuffle[idx], 0);
        store(out, o, i8x16_swizzle(r, shuffle));
        usize::from(p.len[idx])
    }

    /// The vectors the kernel uses, made once per call and passed through
    /// `black_box` so that the loop keeps them in registers (or spill
    /// slots): V8 builds every `v128.const` anew where it is used, several
    /// instructions each (the base64 encoder took half the time once its
    /// vectors were made so).
    #[derive(Clone, Copy)]
    struct Consts {
        /// 16-bit lanes: ASCII test, surrogate tests.
        not_ascii16: v128,
        f800_16: v128,
        fc00_16: v128,
        d800_16: v128,
        dc00_16: v128,
        /// 32-bit lanes.
        x3f: v128,
        x80: v128,
        xc0: v128,
        xe0: v128,
        xf0: v128,
        x800: v128,
        x3ff: v128,
        x40: v128,
        x3: v128,
        xf: v128,
        xf800: v128,
        xfc00: v128,
        xd800: v128,
    }

    impl Consts {
        fn new() -> Self {
            core::hint::black_box(Consts {
                not_ascii16: u16x8_splat(0xFF80),
                f800_16: u16x8_splat(0xF800),
                fc00_16: u16x8_splat(0xFC00),
                d800_16: u16x8_splat(0xD800),
                dc00_16: u16x8_splat(0xDC00),
                x3f: u32x4_splat(0x3F),
                x80: u32x4_splat(0x80),
                xc0: u32x4_splat(0xC0),
                xe0: u32x4_splat(0xE0),
                xf0: u32x4_splat(0xF0),
                x800: u32x4_splat(0x800),
                x3ff: u32x4_splat(0x3FF),
                x40: u32x4_splat(0x40),
                x3: u32x4_splat(3),
                xf: u32x4_splat(0xF),
                xf800: u32x4_splat(0xF800),
                xfc00: u32x4_splat(0xFC00),
                xd800: u32x4_splat(0xD800),
            })
        }
    }

    /// The 2- and 3-octet forms of four units (u32 lanes), and the
    /// continuation octet of each unit's low six bits.
    #[inline(always)]
    fn forms(c: v128, k: &Consts) -> (v128, v128, v128) {
        let last = v128_or(v128_and(c, k.x3f), k.x80);
        let two = v128_or(v128_or(u32x4_shr(c, 6), k.xc0), u32x4_shl(last, 8));
        let three = v128_or(
            v128_or(u32x4_shr(c, 12), k.xe0),
            v128_or(
                u32x4_shl(v128_or(v128_and(u32x4_shr(c, 6), k.x3f), k.x80), 8),
                u32x4_shl(last, 16),
            ),
        );
        (two, three, last)
    }

    /// Four units without surrogates (u32 lanes) as UTF-8 at `o`.
    #[inline(always)]
    fn plain4(p: &Pack, k: &Consts, c: v128, out: &mut [u8], o: usize) -> usize {
        let (two, three, _) = forms(c, k);
        let m2 = u32x4_ge(c, k.x80);
        let m3 = u32x4_ge(c, k.x800);
        let r = v128_bitselect(three, v128_bitselect(two, c, m2), m3);
        put(p, r, m2, m3, out, o)
    }

    /// Four units (u32 lanes `c`, the unit before each in `prev`) whose
    /// surrogates are paired (checked by the caller) as UTF-8 at `o`: a
    /// high surrogate gives its pair's first two octets, a low one the
    /// last two (which take two bits from the high one, in `prev`).
    #[inline(always)]
    fn paired4(p: &Pack, k: &Consts, c: v128, prev: v128, out: &mut [u8], o: usize) -> usize {
        let (two, three, last) = forms(c, k);
        // The code point of a pair is (w << 10) | (low & 0x3FF) with
        // w = (high & 0x3FF) + 0x40: octets F0|w>>8, 80|(w>>2)&3F,
        // 80|(w&3)<<4|(low>>6)&F, 80|low&3F; w & 3 == high & 3.
        let w = u32x4_add(v128_and(c, k.x3ff), k.x40);
        let high_form = v128_or(
            v128_or(u32x4_shr(w, 8), k.xf0),
            u32x4_shl(v128_or(v128_and(u32x4_shr(w, 2), k.x3f), k.x80), 8),
        );
        let low_form = v128_or(
            v128_or(
                v128_or(
                    u32x4_shl(v128_and(prev, k.x3), 4),
                    v128_and(u32x4_shr(c, 6), k.xf),
                ),
                k.x80,
            ),
            u32x4_shl(last, 8),
        );
        let m2 = u32x4_ge(c, k.x80);
        let m3 = u32x4_ge(c, k.x800);
        let surrogate = u32x4_eq(v128_and(c, k.xf800), k.xd800);
        let high = u32x4_eq(v128_and(c, k.xfc00), k.xd800);
        let r = v128_bitselect(three, v128_bitselect(two, c, m2), m3);
        let r = v128_bitselect(v128_bitselect(high_form, low_form, high), r, surrogate);
        put(p, r, m2, v128_andnot(m3, surrogate), out, o)
    }

    pub(super) fn transcode(le: &[u8], out: &mut [u8]) -> Option<usize> {
        let n = le.len() / 2;
        let p = pack();
        let k = &Consts::new();
        // The first unit alone, so that every block has the unit before it.
        let (mut i, mut o) = scalar(le, 0, n.min(1), out, 0)?;
        let mut blocks = false;
        // A block reads the unit after it too.
        while i + 9 <= n {
            blocks = true;
            let v = load(le, 2 * i);
            if !v128_any_true(v128_and(v, k.not_ascii16)) {
                store(out, o, u8x16_narrow_i16x8(v, v));
                i += 8;
                o += 8;
                continue;
            }
            let surrogate = u16x8_eq(v128_and(v, k.f800_16), k.d800_16);
            if !v128_any_true(surrogate) {
                o += plain4(p, k, u32x4_extend_low_u16x8(v), out, o);
                o += plain4(p, k, u32x4_extend_high_u16x8(v), out, o);
                i += 8;
                continue;
            }
            let prev = load(le, 2 * i - 2);
            let next = load(le, 2 * i + 2);
            // Every low surrogate after a high one, every high one before
            // a low one.
            let is_high = |x: v128| u16x8_eq(v128_and(x, k.fc00_16), k.d800_16);
            let is_low = |x: v128| u16x8_eq(v128_and(x, k.fc00_16), k.dc00_16);
            let unpaired = v128_or(
                v128_xor(is_high(prev), is_low(v)),
                v128_xor(is_high(v), is_low(next)),
            );
            if v128_any_true(unpaired) {
                return None;
            }
            o += paired4(
                p,
                k,
                u32x4_extend_low_u16x8(v),
                u32x4_extend_low_u16x8(prev),
                out,
                o,
            );
            o += paired4(
                p,
                k,
                u32x4_extend_high_u16x8(v),
                u32x4_extend_high_u16x8(prev),
                out,
                o,
            );
            i += 8;
        }
        // A pair split by the last block: its high half went out (checked
        // against this low one) with the pair's first two octets.
        if blocks && i < n && (0xD800..0xDC00).contains(&super::unit(le, i - 1)) {
            let (high, low) = (super::unit(le, i - 1), super::unit(le, i));
            out[o] = (0x80 | ((high & 3) << 4) | ((low >> 6) & 0xF)) as u8;
            out[o + 1] = (0x80 | (low & 0x3F)) as u8;
            i += 1;
            o += 2;
        }
        scalar(le, i, n, out, o).map(|(_, o)| o)
    }

    pub(super) fn into_string(out: Vec<u8>) -> Option<String> {
        simdutf8::basic::from_utf8(&out).ok()?;
        // SAFETY: `out` is valid UTF-8: checked just above.
        Some(unsafe { String::from_utf8_unchecked(out) })
    }
}

#[cfg(test)]
mod tests {
    use super::utf16le_to_string;

    fn le(units: &[u16]) -> Vec<u8> {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    /// What std makes of `units`: `None` where it finds a lone surrogate.
    fn reference(units: &[u16]) -> Option<String> {
        char::decode_utf16(units.iter().copied())
            .collect::<Result<String, _>>()
            .ok()
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn agrees_with_std_on_generated_units() {
        // Every kind of unit, lone and paired surrogates at every position
        // of a block and across blocks, lengths around the block size.
        const ALPHABET: [u16; 16] = [
            0x41, 0x0A, 0x7F, 0x80, 0xE9, 0x7FF, 0x800, 0x3B1, 0x4E2D, 0xFFFF, 0xFFFD, 0xD800,
            0xDBFF, 0xDC00, 0xDFFF, 0xD83D,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |k: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % k
        };
        for round in 0..60_000 {
            let len = next(if round % 4 == 0 { 80 } else { 30 }) as usize;
            let mut units: Vec<u16> = (0..len)
                .map(|_| ALPHABET[next(ALPHABET.len() as u64) as usize])
                .collect();
            if next(2) == 0 {
                // Mostly well-formed: pairs where the draw put a surrogate.
                let mut i = 0;
                while i < units.len() {
                    if (0xD800..0xE000).contains(&units[i]) {
                        if i + 1 < units.len() {
                            units[i] = 0xD800 + next(0x400) as u16;
                            units[i + 1] = 0xDC00 + next(0x400) as u16;
                            i += 1;
                        } else {
                            units[i] = 0x4E2D;
                        }
                    }
                    i += 1;
                }
            }
            assert_eq!(
                utf16le_to_string(&le(&units)),
                reference(&units),
                "{units:04X?}"
            );
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn long_texts_and_odd_lengths() {
        let text = "Grüße 世界 🙂 <p>naïve façade</p>\n".repeat(500);
        let units: Vec<u16> = text.encode_utf16().collect();
        assert_eq!(utf16le_to_string(&le(&units)).as_deref(), Some(&*text));
        for cut in 0..units.len().min(200) {
            assert_eq!(
                utf16le_to_string(&le(&units[cut..])),
                reference(&units[cut..])
            );
        }
        assert_eq!(utf16le_to_string(&[0x41]), None);
        assert_eq!(utf16le_to_string(&[]).as_deref(), Some(""));
    }
}
