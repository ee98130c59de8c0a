//! Text analysis for choosing a `Content-Transfer-Encoding`, and line-ending
//! normalisation.

use std::borrow::Cow;
#[cfg(not(target_arch = "wasm32"))]
use std::mem::MaybeUninit;

use super::TransferEncoding;

/// Longest line allowed unencoded by RFC 5322 §2.1.1, excluding CRLF.
pub const MAX_LINE_LEN: usize = 998;

/// Turns every bare CR and every bare LF into CRLF; existing CRLF pairs are
/// kept. Borrows when nothing changes.
pub fn normalize_crlf(input: &[u8]) -> Cow<'_, [u8]> {
    if !analyze_text(input).bare {
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
pub(crate) fn crlf_into(input: &[u8], start: usize, end: usize, out: &mut impl Sink) {
    let mut copied = start;
    let mut fix = |p: usize, out: &mut _| {
        if input[p] == b'\r' {
            if input.get(p + 1) != Some(&b'\n') {
                Sink::put(out, &input[copied..=p]);
                Sink::put(out, b"\n");
                copied = p + 1;
            }
        } else if p == 0 || input[p - 1] != b'\r' {
            // The CR before it; the LF goes out with the next run.
            Sink::put(out, &input[copied..p]);
            Sink::put(out, b"\r");
            copied = p;
        }
    };
    let (blocks, tail) = input[start..end].as_chunks::<16>();
    for (k, block) in blocks.iter().enumerate() {
        let mut mask = lanes::breaks(block);
        while mask != 0 {
            fix(start + k * 16 + mask.trailing_zeros() as usize, out);
            mask &= mask - 1;
        }
    }
    let at = start + blocks.len() * 16;
    for (k, &b) in tail.iter().enumerate() {
        if b == b'\r' || b == b'\n' {
            fix(at + k, out);
        }
    }
    out.put(&input[copied..end]);
}

/// Spare capacity [`crlf_into_vec`] needs beyond the converted octets to
/// take its fast path.
pub(crate) const CRLF_SLACK: usize = 32;

/// [`crlf_into`] into a `Vec` that has room for the CRLF form of
/// `input[start..end]` (`added` bounds the octets the conversion adds) plus
/// [`CRLF_SLACK`]: each 64-octet block is appended whole, and each bare
/// break in it fixed by cutting the block off at the break, writing its CR
/// or LF and appending the 64 octets from there (then cutting off what ran
/// past the block). Without that room it is [`crlf_into`]. The last 64 to
/// 127 octets go through [`crlf_into`] too (the 64 octets after a break
/// must lie before `end`).
#[allow(unsafe_code)]
pub(crate) fn crlf_into_vec(
    input: &[u8],
    start: usize,
    end: usize,
    out: &mut Vec<u8>,
    added: usize,
) {
    #[cfg(target_arch = "x86_64")]
    let start = crlf_into_vec_lean(input, start, end, out);
    let fast = ((end - start) / 64).saturating_sub(1);
    // Native only: the wasm build keeps to `crlf_into` (its size is bounded).
    if cfg!(target_arch = "wasm32")
        || fast == 0
        || out.capacity() - out.len() < 64 * fast + added + CRLF_SLACK
    {
        crlf_into(input, start, end, out);
        return;
    }
    let (blocks, _) = input[start..].as_chunks::<64>();
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 (checked just above), which is all
        // `avx2::crlf_blocks` asks of its caller.
        unsafe { avx2::crlf_blocks(input, start, &blocks[..fast], out) };
        crlf_into(input, start + 64 * fast, end, out);
        return;
    }
    for (k, block) in blocks[..fast].iter().enumerate() {
        out.extend_from_slice(block);
        patch_breaks(input, start + 64 * k, lanes::breaks64(block), out);
    }
    crlf_into(input, start + 64 * fast, end, out);
}

/// The first part of [`crlf_into_vec`] with AVX2: runs of whole 64-octet
/// blocks through [`avx2::crlf_buf_blocks`] (the base64 path's pointer
/// loop) straight into `out`'s spare capacity, each run as long as half
/// the room left allows (that loop asks for twice a run's octets, the
/// most a run can become), while runs of at least 4 blocks fit. Returns
/// where the rest of `input[start..end]` starts.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn crlf_into_vec_lean(input: &[u8], start: usize, end: usize, out: &mut Vec<u8>) -> usize {
    if !has_avx2_scan() {
        return start;
    }
    // Blocks must start 127 octets before the input's end at the latest.
    let limit = end.min(input.len().saturating_sub(127));
    let mut at = start;
    loop {
        let spare = out.spare_capacity_mut();
        let room = spare.len().saturating_sub(BUF_SLACK) / 2;
        let run = limit.saturating_sub(at).min(room) / 64 * 64;
        if run < 256 {
            return at;
        }
        // SAFETY: the CPU has AVX2, BMI1, LZCNT and POPCNT (checked
        // above), all `crlf_buf_blocks` asks of its caller; it checks its
        // ranges itself (`at + run + 127 <= input.len()` as `at + run <=
        // limit`; `2 * run + BUF_SLACK <= spare.len()` as `run <= room`).
        let written = unsafe { avx2::crlf_buf_blocks(input, at, at + run, spare, 0) };
        // SAFETY: `crlf_buf_blocks` wrote every octet of `spare` below
        // `written` (its contract), and `spare` is `out`'s spare capacity
        // from its length on, so the first `written` octets after the
        // length are initialised and within the capacity.
        unsafe { out.set_len(out.len() + written) };
        at += run;
    }
}

/// Fixes up the 64-octet block of `input` at `base`, just appended to `out`,
/// at the lanes of `mask` (its CR and LF): a bare LF gets its CR and a bare
/// CR its LF, and the rest of the block is copied again one octet further
/// on (`input` holds 64 octets past each break; `crlf_into_vec` checks).
#[inline(always)]
fn patch_breaks(input: &[u8], base: usize, mut mask: u64, out: &mut Vec<u8>) {
    while mask != 0 {
        let i = mask.trailing_zeros() as usize;
        let p = base + i;
        if input[p] == b'\n' {
            if p == 0 || input[p - 1] != b'\r' {
                out.truncate(out.len() - (64 - i));
                out.push(b'\r');
                let from: &[u8; 64] = input[p..p + 64].try_into().expect("64 octets");
                out.extend_from_slice(from);
                out.truncate(out.len() - i);
            }
        } else if input[p + 1] != b'\n' {
            out.truncate(out.len() - (63 - i));
            out.push(b'\n');
            let from: &[u8; 64] = input[p + 1..p + 65].try_into().expect("64 octets");
            out.extend_from_slice(from);
            out.truncate(out.len() - (i + 1));
        }
        mask &= mask - 1;
    }
}

/// Room [`crlf_into_buf`] needs in `buf` beyond twice the converted
/// octets (each 64-octet block is written whole, past the last one too).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const BUF_SLACK: usize = 64;

/// [`crlf_into`] into `buf` from `buf[w..]`: returns where the CRLF form
/// of `input[start..end]` ends in `buf`, having written every octet from
/// `w` to there. `buf` must have room for `w + 2 * (end - start) +
/// BUF_SLACK` octets. Each 64-octet block is written whole and each bare
/// break in it fixed up by writing its CR or LF and the 64 octets of
/// `input` after it one octet further on (a fixed-size copy; what runs past
/// the block is overwritten by the next). Blocks that do not have 128
/// octets of `input` from their start (the text's last 64 to 127 octets)
/// go through [`crlf_into`]. Native builds only.
#[cfg(not(target_arch = "wasm32"))]
#[allow(unsafe_code)]
fn crlf_into_buf(
    input: &[u8],
    start: usize,
    end: usize,
    buf: &mut [MaybeUninit<u8>],
    w: usize,
) -> usize {
    assert!(end <= input.len() && start <= end && buf.len() >= w + 2 * (end - start) + BUF_SLACK);
    // Blocks from `start` below `fast_end` have 128 octets of input from
    // their start: the last one may run past `end` (its lanes beyond `end`
    // are cut off).
    let fast_end = end.min(input.len().saturating_sub(127));
    let mut w = w;
    let mut at = start;
    if fast_end > start {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_scan() {
            // SAFETY: the CPU has AVX2 and BMI1 (checked just above),
            // which is all `avx2::crlf_buf_blocks` asks of its caller.
            w = unsafe { avx2::crlf_buf_blocks(input, start, fast_end, buf, w) };
            at = fast_end;
        }
        if at == start {
            w = crlf_buf_blocks(input, start, fast_end, buf, w, lanes::breaks64);
            at = fast_end;
        }
    }
    if at < end {
        let mut slice = SliceSink { buf, len: w };
        crlf_into(input, at, end, &mut slice);
        w = slice.len;
    }
    w
}

/// Copies `bytes` into `buf` at `at` (bounds-checked: panics if they do
/// not fit).
#[cfg(not(target_arch = "wasm32"))]
#[allow(unsafe_code)]
#[inline(always)]
fn write_at(buf: &mut [MaybeUninit<u8>], at: usize, bytes: &[u8]) {
    let dst = &mut buf[at..at + bytes.len()];
    // SAFETY: `dst` is `bytes.len()` octets of `buf` (the slicing above
    // checked the range), valid for writes; `bytes` is a shared borrow, so
    // it cannot overlap the unique borrow `buf`; `MaybeUninit<u8>` has the
    // layout of `u8`, and any octet is a valid one to write.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.as_mut_ptr().cast::<u8>(), bytes.len());
    }
}

/// [`crlf_into_buf`]'s block loop over `input[start..end]` (every block
/// from `start` below `end` has 128 octets of `input` from its start),
/// with `breaks` finding a block's CR and LF lanes. Every octet of `buf`
/// from `w` to the returned end is written: a block's 64 octets, then per
/// fix-up the octets from its break to 64 past it, one further on each
/// time, which covers the lanes kept.
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn crlf_buf_blocks(
    input: &[u8],
    start: usize,
    end: usize,
    buf: &mut [MaybeUninit<u8>],
    mut w: usize,
    breaks: impl Fn(&[u8; 64]) -> u64,
) -> usize {
    let mut base = start;
    while base < end {
        let block: &[u8; 64] = input[base..base + 64].try_into().expect("64 octets");
        write_at(buf, w, block);
        let n = (end - base).min(64);
        let mut mask = breaks(block) & (u64::MAX >> (64 - n));
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            let p = base + i;
            if input[p] == b'\n' {
                if p == 0 || input[p - 1] != b'\r' {
                    // The CR, then the block from the LF on, one further.
                    buf[w + i] = MaybeUninit::new(b'\r');
                    let from: &[u8; 64] = input[p..p + 64].try_into().expect("64 octets");
                    write_at(buf, w + i + 1, from);
                    w += 1;
                }
            } else if input[p + 1] != b'\n' {
                // The LF after the CR, then the rest of the block.
                buf[w + i + 1] = MaybeUninit::new(b'\n');
                let from: &[u8; 64] = input[p + 1..p + 65].try_into().expect("64 octets");
                write_at(buf, w + i + 2, from);
                w += 1;
            }
            mask &= mask - 1;
        }
        w += n;
        base += n;
    }
    w
}

/// A [`Sink`] into a slice with room for what is put.
#[cfg(not(target_arch = "wasm32"))]
struct SliceSink<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    len: usize,
}

#[cfg(not(target_arch = "wasm32"))]
impl Sink for SliceSink<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        write_at(self.buf, self.len, bytes);
        self.len += bytes.len();
    }
}

/// A buffer of `N` octets on the stack (not cleared first) into which text
/// is converted to its CRLF form: the base64 of text with bare line ends
/// is encoded from it. Native builds only.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) struct CrlfBuf<const N: usize> {
    buf: [MaybeUninit<u8>; N],
    /// `buf[..len]` is initialised.
    len: usize,
}

#[cfg(not(target_arch = "wasm32"))]
#[allow(unsafe_code)]
impl<const N: usize> CrlfBuf<N> {
    /// An empty buffer.
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            buf: [MaybeUninit::uninit(); N],
            len: 0,
        }
    }

    /// Appends the CRLF form of `input[start..end]` (see [`crlf_into`]);
    /// panics unless `N` is at least `self.as_bytes().len() + 2 * (end -
    /// start) + BUF_SLACK`.
    #[inline]
    pub(crate) fn push_crlf(&mut self, input: &[u8], start: usize, end: usize) {
        // `crlf_into_buf` writes every octet from `len` to what it returns.
        self.len = crlf_into_buf(input, start, end, &mut self.buf, self.len);
    }

    /// The octets written and not yet consumed.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        // SAFETY: `buf[..len]` is initialised (the field's invariant, kept
        // by `push_crlf`, whose `crlf_into_buf` writes every octet up to
        // the new `len`, and by `consume`, which moves initialised octets
        // to the front), and `len <= N`; `MaybeUninit<u8>` has the layout
        // of `u8`.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.len) }
    }

    /// Drops the first `n` octets written, moving the rest to the front.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// Whether to take the AVX2 paths: the CPU has AVX2 (found at run time)
/// and, in tests, they are not switched off to test the SSE2 ones.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    #[cfg(test)]
    if tests::SSE2_ONLY.with(std::cell::Cell::get) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

/// Whether to take [`analyze_text`]'s AVX2 path: [`has_avx2`], and the
/// bit instructions its mask arithmetic is built with (every CPU with AVX2
/// has them, but each is its own feature).
#[cfg(target_arch = "x86_64")]
fn has_avx2_scan() -> bool {
    has_avx2()
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("popcnt")
}

/// [`crlf_into_vec`]'s block loop with 32-octet AVX2 break tests, for
/// x86_64 CPUs that have AVX2 (found at run time; the build's baseline is
/// SSE2).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use core::arch::x86_64::*;

    /// The bits of the lanes of a 64-octet `block` that hold CR or LF.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn breaks64(block: &[u8; 64]) -> u64 {
        // SAFETY: each load reads 32 octets at offset 0 or 32 of the
        // 64-octet `block`, valid for reads; no alignment is needed.
        let (a, b) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().cast()),
                _mm256_loadu_si256(block.as_ptr().add(32).cast()),
            )
        };
        let cr = _mm256_set1_epi8(b'\r' as i8);
        let lf = _mm256_set1_epi8(b'\n' as i8);
        let lo = _mm256_or_si256(_mm256_cmpeq_epi8(a, cr), _mm256_cmpeq_epi8(a, lf));
        let hi = _mm256_or_si256(_mm256_cmpeq_epi8(b, cr), _mm256_cmpeq_epi8(b, lf));
        u64::from(_mm256_movemask_epi8(lo) as u32)
            | u64::from(_mm256_movemask_epi8(hi) as u32) << 32
    }

    /// The loop of [`crlf_into_vec`](super::crlf_into_vec) over `blocks`,
    /// the first 64-octet blocks of `input[start..]` (each with 64 octets
    /// of `input` after it), into `out`, which has the room that function
    /// checks for.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn crlf_blocks(
        input: &[u8],
        start: usize,
        blocks: &[[u8; 64]],
        out: &mut Vec<u8>,
    ) {
        for (k, block) in blocks.iter().enumerate() {
            out.extend_from_slice(block);
            super::patch_breaks(input, start + 64 * k, breaks64(block), out);
        }
    }

    /// [`crlf_into_buf`](super::crlf_into_buf)'s block loop with
    /// 32-octet AVX2 break tests, over `input[start..end]` into `buf` from
    /// `w` (the same contract as [`super::crlf_buf_blocks`]: every block
    /// from `start` below `end` has 128 octets of `input` from its start,
    /// and `buf` room for `w + 2 * (end - start) + BUF_SLACK` octets; both
    /// checked here).
    ///
    /// Whole blocks without a CR, whose octet before is no CR either (LF
    /// texts: every LF in them is bare), take a lean loop: the block is
    /// written whole, and per LF its CR and then a fixed 64-octet copy of
    /// the input from the LF on, one octet further each time (what runs
    /// past the block is overwritten by the next). Any other block (a CR
    /// in it or just before it, or the last, partial one) goes through
    /// [`super::crlf_buf_blocks`], one block at a time.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 and BMI1.
    #[target_feature(enable = "avx2,bmi1")]
    pub(super) unsafe fn crlf_buf_blocks(
        input: &[u8],
        start: usize,
        end: usize,
        buf: &mut [core::mem::MaybeUninit<u8>],
        w: usize,
    ) -> usize {
        assert!(
            start <= end
                && end.saturating_add(127) <= input.len()
                && w + 2 * (end - start) + super::BUF_SLACK <= buf.len()
        );
        let cr = _mm256_set1_epi8(b'\r' as i8);
        let lf = _mm256_set1_epi8(b'\n' as i8);
        let src = input.as_ptr();
        let dst = buf.as_mut_ptr().cast::<u8>();
        let mut base = start;
        let mut w = w;
        let mut after_cr = start > 0 && input[start - 1] == b'\r';
        while base < end {
            if !after_cr {
                // Blocks from below `lean_end` are whole (`base + 64 <=
                // end`); `d` is where the next block's first octet goes.
                let lean_end = end.saturating_sub(63);
                // SAFETY: `w <= buf.len()` (see below), so `dst + w` is
                // inside `buf` or one past it.
                let mut d = unsafe { dst.add(w) };
                while base < lean_end {
                    // SAFETY (this block): `base + 128 <= input.len()`
                    // (`base < end`, `end + 127 <= input.len()`), so the
                    // loads at `base`, `base + 32` and, per LF at lane
                    // `i < 64`, at `base + i` and `base + i + 32` (32
                    // octets each) are inside `input`. Every break from
                    // `start` adds at most one octet, so the block goes to
                    // `d = dst + w` with `w <= w0 + 2 * (base - start)`
                    // (`w0` the `w` passed in; `d` moves one octet per LF
                    // and 64 per block, as the output does); the `k`-th
                    // LF of the block (from 0) at lane `i >= k` writes up
                    // to `w + k + i + 65 <= w + 2 * 63 + 65`, which is at
                    // most `w0 + 2 * (end - start) + 63 <= buf.len()` as
                    // `base + 64 <= end`; the block's own 64 octets end
                    // before that. `buf` is a unique borrow, so the writes
                    // do not overlap `input`; `MaybeUninit<u8>` has the
                    // layout of `u8` and any octet is valid to write; no
                    // alignment is needed.
                    unsafe {
                        let a = _mm256_loadu_si256(src.add(base).cast());
                        let b = _mm256_loadu_si256(src.add(base + 32).cast());
                        let crs =
                            _mm256_or_si256(_mm256_cmpeq_epi8(a, cr), _mm256_cmpeq_epi8(b, cr));
                        if _mm256_testz_si256(crs, crs) == 0 {
                            break;
                        }
                        _mm256_storeu_si256(d.cast(), a);
                        _mm256_storeu_si256(d.add(32).cast(), b);
                        let mut mask =
                            u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, lf)) as u32)
                                | u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, lf)) as u32)
                                    << 32;
                        while mask != 0 {
                            let i = mask.trailing_zeros() as usize;
                            let s = src.add(base + i);
                            *d.add(i) = b'\r';
                            let x = _mm256_loadu_si256(s.cast());
                            let y = _mm256_loadu_si256(s.add(32).cast());
                            _mm256_storeu_si256(d.add(i + 1).cast(), x);
                            _mm256_storeu_si256(d.add(i + 33).cast(), y);
                            d = d.add(1);
                            mask &= mask - 1;
                        }
                        d = d.add(64);
                    }
                    base += 64;
                }
                // SAFETY: `d` was derived from `dst` by `add`s within
                // `buf` (as above).
                w = unsafe { d.offset_from(dst) } as usize;
                if base >= end {
                    break;
                }
            }
            // One block the general way (its CRs, or an LF right after a
            // CR); the precondition holds for it as for the whole range.
            let n = (end - base).min(64);
            w = super::crlf_buf_blocks(input, base, base + n, buf, w, |block| breaks64(block));
            after_cr = input[base + n - 1] == b'\r';
            base += n;
        }
        w
    }

    /// What [`scan_wide`] has counted so far.
    #[derive(Clone, Copy, Default)]
    struct Scan {
        /// Octets ≥ 0x80.
        high: usize,
        /// C0 controls other than TAB, CR and LF, and DEL.
        control: usize,
        /// `=` octets.
        equals: usize,
        /// LFs right after a CR.
        pairs: usize,
        /// Breaks (CR or LF) with a dot after them or a space or tab
        /// before.
        edges: usize,
        /// CR and LF octets.
        brk_octets: usize,
        /// Longest run of octets between two CRs or LFs so far (see
        /// [`scan_wide`]).
        max_line: usize,
        /// The octets scanned since the last CR or LF (all of them before
        /// the first).
        open: usize,
    }

    /// [`analyze_text`](super::analyze_text)'s loop over its 64-octet
    /// `blocks` (the text's first octets; `walk` has seen nothing yet),
    /// with no per-octet walk: each 32-octet half is compared with the
    /// octets one before and one after it (loads one octet off), lane
    /// counts are kept of what the text's stats count, and a 64-bit mask
    /// of each block's breaks gives the lines' lengths. Groups of 63
    /// blocks are scanned first as if their only octets below 0x20 were
    /// LFs, with no DEL and no `=` ([`group`]`::<false>`, which says so if
    /// that was wrong), else (and from then on) with every count
    /// (`group::<true>`). Returns the octets ≥ 0x80 and leaves `walk` as
    /// its own walk over the blocks would, except that its `max_line` may
    /// miss lines that start and end inside one block (at most 62 octets
    /// long: see [`inner_max_line`]).
    ///
    /// A line's octets are a run between two octets of breaks: a CRLF
    /// leaves an empty run between its CR and LF, which is no line, but
    /// empty runs have no length and no edges, so the longest run and the
    /// runs' edges (a dot after a CR or LF, or at the text's start; a
    /// space or tab before one) are those of the lines. Every break octet
    /// ends a line but the LF of a CRLF.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2, BMI1, LZCNT and POPCNT.
    #[target_feature(enable = "avx2,bmi1,lzcnt,popcnt")]
    pub(super) unsafe fn scan_wide(blocks: &[[u8; 64]], walk: &mut super::Lines<'_>) -> usize {
        debug_assert!(walk.line_start == 0 && walk.breaks == 0 && walk.edges == 0);
        let input = walk.input;
        let n = blocks.len();
        let end = n * 64;
        let mut scan = Scan::default();
        let mut full = false;
        for g in (0..n).step_by(63) {
            // (The lean scan takes the octet before the group for no CR
            // or tab: it is in the group before, scanned lean only if so.)
            if !full {
                // SAFETY: the CPU has what `group` asks for (as this
                // function does), and `g` is below `blocks.len()`.
                match unsafe { group::<false>(input, blocks, g, scan) } {
                    Some(next) => {
                        scan = next;
                        continue;
                    }
                    None => full = true,
                }
            }
            // SAFETY: as above.
            scan = unsafe { group::<true>(input, blocks, g, scan) }.expect("a full scan");
        }
        // A CR in the last lane whose LF comes after the blocks: the walk
        // goes on from its LF, as its own walk would have.
        let split_pair = end > 0 && input[end - 1] == b'\r' && input.get(end) == Some(&b'\n');
        // A dot at the text's start; the line still open at the end is
        // the walk's to finish, its starting dot included.
        let mut edges = scan.edges + usize::from(end > 0 && input[0] == b'.');
        let line_start = end - scan.open;
        if line_start < end && input[line_start] == b'.' {
            edges -= 1;
        }
        walk.edges = edges;
        walk.breaks = scan.brk_octets - scan.pairs;
        walk.bare = scan.brk_octets - 2 * scan.pairs - usize::from(split_pair);
        walk.max_line = scan.max_line;
        walk.equals = scan.equals;
        walk.control = scan.control;
        walk.line_start = line_start;
        walk.lf_of_crlf = if split_pair { end } else { usize::MAX };
        scan.high
    }

    /// Scans the (up to) 63 blocks of `blocks` from `g` on, adding to
    /// `scan`. With `FULL`, counts everything; without, counts as if the
    /// blocks had no octet below 0x20 but LFs, no DEL and no `=`, and the
    /// octet before them were no CR or tab (the caller sees to it), and
    /// returns `None` if the blocks are not so.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2, BMI1, LZCNT and POPCNT; `g` must be
    /// below `blocks.len()`.
    #[target_feature(enable = "avx2,bmi1,lzcnt,popcnt")]
    #[inline]
    unsafe fn group<const FULL: bool>(
        input: &[u8],
        blocks: &[[u8; 64]],
        g: usize,
        mut scan: Scan,
    ) -> Option<Scan> {
        let n = blocks.len();
        let zero = _mm256_setzero_si256();
        let [cr, lf, dot, space, tab, equals, one, c21] =
            [b'\r', b'\n', b'.', b' ', b'\t', b'=', 1, 0x21].map(|b| _mm256_set1_epi8(b as i8));
        let odd_table = {
            let mut t = [0x80u8 as i8; 16];
            t[0xD] = b'=' as i8;
            t[0xF] = 0x7F;
            // SAFETY: one 16-octet read of the 16-octet array `t`.
            unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(t.as_ptr().cast())) }
        };
        // Lane counts: octets ≥ 0x80; below 0x20, DEL or ≥ 0x80, but
        // tabs; `=`; LFs after a CR; edges. Each block adds at most 2 to a
        // lane's count (4 to its edges).
        let [mut high, mut low, mut eqs, mut pairs, mut edges] = [zero; 5];
        // Without `FULL`: the least of the octets with LFs made 0xFF, and
        // the lanes that held a DEL or `=`.
        let (mut least, mut odd) = (_mm256_set1_epi8(-1), zero);
        let mut brk_octets = 0;
        // Scans the block at `p` (the text's blocks in order). `p` must
        // have 64 octets and one before and one after them valid for reads.
        let mut scan_block = |p: *const u8| {
            let mut brk = 0u64;
            for half in [0, 32] {
                // SAFETY: `p` has 64 octets with one octet before and one
                // after them valid for reads (see the calls below). Each
                // load reads 32 octets from `half` − 1, `half` or `half` +
                // 1, within those 66; no alignment is needed.
                let (v, before, after) = unsafe {
                    (
                        _mm256_loadu_si256(p.add(half).cast()),
                        _mm256_loadu_si256(p.add(half).sub(1).cast()),
                        _mm256_loadu_si256(p.add(half + 1).cast()),
                    )
                };
                // Lanes ≥ 0x80 are negative as i8: -1 each, subtracted.
                high = _mm256_sub_epi8(high, _mm256_cmpgt_epi8(zero, v));
                let is_lf = _mm256_cmpeq_epi8(v, lf);
                let dot_after = _mm256_cmpeq_epi8(after, dot);
                let is_brk = if FULL {
                    eqs = _mm256_sub_epi8(eqs, _mm256_cmpeq_epi8(v, equals));
                    // v + 1 below 0x21 as i8: v below 0x20, or ≥ 0x7F.
                    let ctl = _mm256_cmpgt_epi8(c21, _mm256_add_epi8(v, one));
                    low = _mm256_add_epi8(_mm256_sub_epi8(low, ctl), _mm256_cmpeq_epi8(v, tab));
                    let is_brk = _mm256_or_si256(_mm256_cmpeq_epi8(v, cr), is_lf);
                    let pair = _mm256_and_si256(is_lf, _mm256_cmpeq_epi8(before, cr));
                    pairs = _mm256_sub_epi8(pairs, pair);
                    let blank = _mm256_or_si256(
                        _mm256_cmpeq_epi8(before, space),
                        _mm256_cmpeq_epi8(before, tab),
                    );
                    edges = _mm256_sub_epi8(edges, _mm256_and_si256(is_brk, blank));
                    is_brk
                } else {
                    least = _mm256_min_epu8(least, _mm256_or_si256(v, is_lf));
                    // `=` or DEL: the one octet of their low nibble that a
                    // lane below 0x80 is compared with (others with 0x80).
                    let eq_or_del = _mm256_cmpeq_epi8(_mm256_shuffle_epi8(odd_table, v), v);
                    odd = _mm256_or_si256(odd, eq_or_del);
                    // -1 for a space before, -1 for a dot after.
                    let both = _mm256_add_epi8(_mm256_cmpeq_epi8(before, space), dot_after);
                    edges = _mm256_sub_epi8(edges, _mm256_and_si256(is_lf, both));
                    is_lf
                };
                if FULL {
                    edges = _mm256_sub_epi8(edges, _mm256_and_si256(is_brk, dot_after));
                }
                brk |= u64::from(_mm256_movemask_epi8(is_brk) as u32) << half;
            }
            brk_octets += brk.count_ones() as usize;
            // The run that reaches this block's first break (or its end,
            // when it has none: a part of a line, no longer).
            let run = scan.open + brk.trailing_zeros() as usize;
            scan.max_line = scan.max_line.max(run);
            scan.open = if brk != 0 {
                brk.leading_zeros() as usize
            } else {
                scan.open + 64
            };
        };
        // The first and last blocks are read from a copy with an octet on
        // either side: the one before the text is none of CR, space or
        // tab, and the one after the blocks no dot (the line it would
        // start is the walk's to finish).
        let copy_of = |k: usize| {
            let mut copy = [b'a'; 66];
            if k > 0 {
                copy[0] = input[64 * k - 1];
            }
            copy[1..65].copy_from_slice(&blocks[k]);
            if k + 1 < n {
                copy[65] = input[64 * k + 64];
            }
            copy
        };
        let (mut k, last) = (g, n.min(g + 63));
        if k == 0 {
            let copy = copy_of(0);
            scan_block(copy.as_ptr().wrapping_add(1));
            k = 1;
        }
        // The blocks between the text's first and last: `blocks` has one
        // before and after each (a pointer from the whole slice).
        while k < last.min(n - 1) {
            scan_block(blocks.as_ptr().cast::<u8>().wrapping_add(64 * k));
            k += 1;
        }
        if k < last {
            let copy = copy_of(k);
            scan_block(copy.as_ptr().wrapping_add(1));
        }
        if !FULL {
            let below = _mm256_cmpeq_epi8(_mm256_min_epu8(least, _mm256_set1_epi8(0x1F)), least);
            if _mm256_movemask_epi8(_mm256_or_si256(below, odd)) != 0 {
                return None;
            }
        }
        let sum = |lanes: __m256i| {
            let sums = _mm256_sad_epu8(lanes, zero);
            _mm256_extract_epi64::<0>(sums) as usize
                + _mm256_extract_epi64::<1>(sums) as usize
                + _mm256_extract_epi64::<2>(sums) as usize
                + _mm256_extract_epi64::<3>(sums) as usize
        };
        let high = sum(high);
        scan.high += high;
        scan.edges += sum(edges);
        scan.brk_octets += brk_octets;
        if FULL {
            scan.control += sum(low) - high - brk_octets;
            scan.equals += sum(eqs);
            scan.pairs += sum(pairs);
        }
        Some(scan)
    }

    /// The longest line of `blocks` (the text's first 64-octet blocks)
    /// that starts and ends inside one of them, which
    /// [`scan_wide`] does not look for (such a line has at most 62 octets).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn inner_max_line(blocks: &[[u8; 64]]) -> usize {
        let mut max = 0;
        for block in blocks {
            let mut brk = breaks64(block);
            while brk & (brk - 1) != 0 {
                let from = brk.trailing_zeros();
                brk &= brk - 1;
                max = max.max((brk.trailing_zeros() - from - 1) as usize);
            }
        }
        max
    }

    #[test]
    fn scan_wide_counts_every_high_octet() {
        // Every octet ≥ 0x80 across several 63-block groups (a lane's 8-bit
        // count reaches 126 in each), with a break now and then.
        for len in [64, 4032, 4096, 8064, 20_000] {
            let mut v = vec![0xFF; len];
            for p in (100..len).step_by(997) {
                v[p] = b'\n';
            }
            let stats = super::analyze(&v);
            assert_eq!(stats.non_ascii, v.iter().filter(|&&b| b >= 0x80).count());
            assert_eq!(
                stats.max_line_len,
                if len > 100 {
                    996.min(len - 101).max(100)
                } else {
                    len
                }
            );
        }
    }

    #[test]
    fn breaks64_agrees_with_lanes() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for b in 0..=255u8 {
            for lane in 0..64 {
                let mut block = [b'a'; 64];
                block[lane] = b;
                block[(lane * 7 + 3) % 64] = b'\n';
                // SAFETY: the CPU has AVX2 (checked above).
                let got = unsafe { breaks64(&block) };
                assert_eq!(got, super::lanes::breaks64(&block), "{b} at {lane}");
            }
        }
    }
}

/// Where [`crlf_into`] writes.
/// Whether every octet is ASCII: `<[u8]>::is_ascii`, with SIMD128 blocks
/// in the wasm build (where the core one reads four octets at a time).
#[cfg(any(feature = "wasm", test))]
pub(crate) fn is_ascii(bytes: &[u8]) -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let (blocks, tail) = bytes.as_chunks::<16>();
        blocks.iter().all(|block| lanes::high(block) == 0) && tail.is_ascii()
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    bytes.is_ascii()
}

pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
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
    /// `=` octets (none: the text cannot hold a boundary, which starts
    /// with `=_`).
    pub equals: usize,
}

/// Analyses a text as its CRLF form, without making that form: one pass
/// in 16-octet blocks that counts octets ≥ 0x80 lane by lane and looks
/// closer only at the octets below 0x20, DEL and `=` (line breaks among
/// them).
#[allow(unsafe_code)]
pub(crate) fn analyze_text(input: &[u8]) -> TextScan {
    let mut st = Lines {
        input,
        breaks: 0,
        bare: 0,
        max_line: 0,
        edges: 0,
        equals: 0,
        control: 0,
        line_start: 0,
        lf_of_crlf: usize::MAX,
    };
    // 64 octets at a time (one mask for four 16-octet blocks), then the
    // 16-octet blocks of the rest, then its last octets one by one.
    // (Native only: the wasm build takes 16-octet blocks, for its size.)
    let wide: &[[u8; 64]] = if cfg!(target_arch = "wasm32") {
        &[]
    } else {
        input.as_chunks::<64>().0
    };
    let wide_len = wide.len();
    let (blocks, tail) = input[wide_len * 64..].as_chunks::<16>();
    let mut high = lanes::HighCount::new();
    // With AVX2 (found at run time), the 64-octet blocks by mask
    // arithmetic, with no walk over their octets.
    #[cfg(target_arch = "x86_64")]
    let masked = !wide.is_empty() && has_avx2_scan();
    #[cfg(target_arch = "x86_64")]
    let (wide, wide_high) = if masked {
        // SAFETY: the CPU has AVX2, BMI1, LZCNT and POPCNT (checked just
        // above), which is all `avx2::scan_wide` asks of its caller.
        let high = unsafe { avx2::scan_wide(wide, &mut st) };
        (&wide[wide.len()..], high)
    } else {
        (wide, 0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let wide_high = 0;
    // Groups of 63 × 4 blocks: no per-lane counter of `high` overflows.
    for (g, group) in wide.chunks(63).enumerate() {
        for (k, block) in group.iter().enumerate() {
            let (q, _) = block.as_chunks::<16>();
            let mut mask = u64::from(high.add_special(&q[0]))
                | u64::from(high.add_special(&q[1])) << 16
                | u64::from(high.add_special(&q[2])) << 32
                | u64::from(high.add_special(&q[3])) << 48;
            while mask != 0 {
                st.octet((g * 63 + k) * 64 + mask.trailing_zeros() as usize);
                mask &= mask - 1;
            }
        }
        high.flush();
    }
    let at = wide_len * 64;
    for (k, block) in blocks.iter().enumerate() {
        let mut mask = high.add_special(block);
        while mask != 0 {
            st.octet(at + k * 16 + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
    let mut non_ascii = high.total() + wide_high;
    let at = at + blocks.len() * 16;
    for (k, &b) in tail.iter().enumerate() {
        non_ascii += usize::from(b >> 7);
        if b < 0x20 || b == 0x7F || b == b'=' {
            st.octet(at + k);
        }
    }
    let last = &input[st.line_start.min(input.len())..];
    #[allow(unused_mut)]
    let mut max_line = st.max_line.max(last.len());
    // The masks find every line longer than 62 octets; the shorter lines
    // inside a block count only if no line is longer (texts of short lines).
    #[cfg(target_arch = "x86_64")]
    if masked && max_line < 63 {
        // SAFETY: `masked` says the CPU has AVX2, all `inner_max_line`
        // asks of its caller.
        max_line = max_line.max(unsafe { avx2::inner_max_line(input.as_chunks::<64>().0) });
    }
    let edges = st.edges + edges(last);
    let len = input.len() + st.bare;
    let qp = QpBound {
        breaks: st.breaks,
        escapes: non_ascii + st.control + st.equals,
        edges,
    };
    TextScan {
        stats: TextStats {
            len,
            non_ascii,
            control: st.control,
            max_line_len: max_line,
            bare_cr_or_lf: false,
        },
        bare: st.bare > 0,
        qp_bound: qp.bound(len),
        equals: st.equals,
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

/// The walk state of [`analyze_text`]: a CRLF, a bare CR or a bare LF ends
/// a line.
#[derive(Clone, Copy)]
struct Lines<'a> {
    input: &'a [u8],
    /// Line breaks.
    breaks: usize,
    /// Bare CRs and LFs among them.
    bare: usize,
    /// Longest line so far, without its break.
    max_line: usize,
    /// Lines that start with a dot, plus those that end with a space or tab.
    edges: usize,
    /// `=` octets.
    equals: usize,
    /// C0 controls other than TAB, CR and LF, and DEL.
    control: usize,
    line_start: usize,
    /// The LF of a CRLF seen at its CR.
    lf_of_crlf: usize,
}

impl Lines<'_> {
    /// Looks at the octet at `pos`, which is below 0x20, DEL or `=`.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline)]
    fn octet(&mut self, pos: usize) {
        match self.input[pos] {
            b'\n' if pos == self.lf_of_crlf => self.line_start = pos + 1,
            b'\r' if self.input.get(pos + 1) == Some(&b'\n') => {
                self.end_line(pos);
                self.lf_of_crlf = pos + 1;
            }
            b'\r' | b'\n' => {
                self.end_line(pos);
                self.bare += 1;
            }
            b'\t' => {}
            b'=' => self.equals += 1,
            _ => self.control += 1,
        }
    }

    /// Ends the line that runs to the break at `pos`.
    #[inline]
    #[cfg(not(target_arch = "wasm32"))]
    fn end_line(&mut self, pos: usize) {
        // (`line_start <= pos`: it is one past an earlier break, or 0.)
        let len = pos - self.line_start;
        self.max_line = self.max_line.max(len);
        if len > 0 {
            self.edges += usize::from(self.input[self.line_start] == b'.')
                + usize::from(matches!(self.input[pos - 1], b' ' | b'\t'));
        }
        self.line_start = pos + 1;
        self.breaks += 1;
    }

    /// The same (the wasm build: this form is the smaller code there).
    #[inline]
    #[cfg(target_arch = "wasm32")]
    fn end_line(&mut self, pos: usize) {
        let line = &self.input[self.line_start..pos];
        self.max_line = self.max_line.max(line.len());
        self.line_start = pos + 1;
        self.breaks += 1;
        self.edges += edges(line);
    }
}

/// Per-block tests over 16 octets: SSE2 on x86_64, SIMD128 on wasm32 (the
/// npm package's build enables it), plain code elsewhere.
mod lanes {
    #[cfg(not(any(
        all(target_arch = "x86_64", target_feature = "sse2"),
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    pub(super) use portable::{breaks, HighCount};

    /// A reduction the compiler makes vector compares of says whether a
    /// block needs a closer look, and exact bit tricks on its two words
    /// then say which lanes.
    #[cfg_attr(
        any(
            all(target_arch = "x86_64", target_feature = "sse2"),
            all(target_arch = "wasm32", target_feature = "simd128")
        ),
        allow(dead_code)
    )]
    mod portable {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

        /// The high bit of each lane of `x` that is zero (exact: the low seven
        /// bits are added without carrying out of a lane).
        #[inline(always)]
        fn zero(x: u64) -> u64 {
            !(((x & LOW7) + LOW7) | x) & HIGH
        }

        /// The high bit of each lane that equals `b`.
        #[inline(always)]
        fn equal(w: u64, b: u8) -> u64 {
            zero(w ^ (u64::from(b) * ONES))
        }

        /// The high bit of each lane below 0x20 (exact, as in [`zero`]).
        #[inline(always)]
        fn below_0x20(w: u64) -> u64 {
            !(((w & LOW7) + 0x60 * ONES) | w) & HIGH
        }

        /// Lane high bits as bits, lane `i` at bit `i`: the multiplication
        /// puts lane `i`'s bit on bit 56 + `i` (the partial products never
        /// overlap, so nothing carries).
        #[inline(always)]
        fn gather(h: u64) -> u32 {
            ((h >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
        }

        /// Both words of a block, lane `i` of the block at bits `i` of the
        /// gathered result.
        #[inline(always)]
        fn bits(block: &[u8; 16], lanes: impl Fn(u64) -> u64) -> u32 {
            let (lo, hi) = block.split_at(8);
            let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
            let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
            gather(lanes(lo)) | gather(lanes(hi)) << 8
        }

        /// The bits of the lanes of `block` that hold CR or LF.
        #[inline(always)]
        pub(in super::super) fn breaks(block: &[u8; 16]) -> u32 {
            let any = block.iter().fold(0u8, |acc, &b| {
                acc | u8::from(b == b'\r') | u8::from(b == b'\n')
            });
            if any == 0 {
                return 0;
            }
            bits(block, |w| equal(w, b'\r') | equal(w, b'\n'))
        }

        /// Counts octets ≥ 0x80 block by block.
        pub(in super::super) struct HighCount {
            total: usize,
        }

        impl HighCount {
            pub(in super::super) fn new() -> Self {
                Self { total: 0 }
            }

            /// Counts the octets ≥ 0x80 of `block` and returns the bits of its
            /// lanes that hold an octet below 0x20, DEL or `=`.
            #[inline(always)]
            pub(in super::super) fn add_special(&mut self, block: &[u8; 16]) -> u32 {
                // Reductions the compiler turns into vector compares and sums.
                let high = block.iter().fold(0u8, |n, &b| n.wrapping_add(b >> 7));
                self.total += usize::from(high);
                let any = block.iter().fold(0u8, |acc, &b| {
                    acc | u8::from(b < 0x20) | u8::from(b == 0x7F) | u8::from(b == b'=')
                });
                if any == 0 {
                    return 0;
                }
                bits(block, |w| below_0x20(w) | equal(w, 0x7F) | equal(w, b'='))
            }

            /// Nothing to sum here (the counts are kept whole).
            pub(in super::super) fn flush(&mut self) {}

            /// The count so far.
            pub(in super::super) fn total(self) -> usize {
                self.total
            }
        }
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    pub(super) use sse2::{breaks, HighCount};

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub(super) use simd128::{breaks, high, HighCount};

    /// The bits of the lanes of a 64-octet `block` that hold CR or LF.
    #[inline(always)]
    pub(super) fn breaks64(block: &[u8; 64]) -> u64 {
        let (quarters, _) = block.as_chunks::<16>();
        quarters.iter().enumerate().fold(0, |bits, (q, quarter)| {
            bits | u64::from(breaks(quarter)) << (16 * q)
        })
    }

    /// The same tests in SSE2 (part of the x86_64 baseline): a compare per
    /// condition and a move-mask per block, which the reductions above do
    /// not compile to.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[allow(unsafe_code)]
    mod sse2 {
        use core::arch::x86_64::*;

        /// The block in a vector register.
        #[inline(always)]
        fn load(block: &[u8; 16]) -> __m128i {
            // SAFETY: SSE2 is enabled for this build (the module's cfg), so
            // the intrinsic exists on the CPU; it reads exactly the 16
            // octets of `block`, which is valid for reads, and needs no
            // alignment.
            unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
        }

        /// The bits of the lanes of `block` that hold CR or LF.
        #[inline(always)]
        pub(in super::super) fn breaks(block: &[u8; 16]) -> u32 {
            let v = load(block);
            // SAFETY: SSE2 is enabled for this build (the module's cfg);
            // these intrinsics only compute on registers.
            unsafe {
                let cr = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8));
                let lf = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
                _mm_movemask_epi8(_mm_or_si128(cr, lf)) as u32
            }
        }

        /// Counts octets ≥ 0x80 in per-lane 8-bit counters, which
        /// [`HighCount::flush`] sums (at least every 255 blocks, before a
        /// lane could overflow).
        pub(in super::super) struct HighCount {
            lanes: __m128i,
            total: usize,
        }

        impl HighCount {
            pub(in super::super) fn new() -> Self {
                Self {
                    // SAFETY: SSE2 is enabled for this build; register only.
                    lanes: unsafe { _mm_setzero_si128() },
                    total: 0,
                }
            }

            /// Counts the octets ≥ 0x80 of `block` and returns the bits of
            /// its lanes that hold an octet below 0x20, DEL or `=`.
            #[inline(always)]
            pub(in super::super) fn add_special(&mut self, block: &[u8; 16]) -> u32 {
                let v = load(block);
                // SAFETY: SSE2 is enabled for this build (the module's
                // cfg); these intrinsics only compute on registers.
                unsafe {
                    // Lanes ≥ 0x80 are negative as i8: -1 each, subtracted.
                    let high = _mm_cmplt_epi8(v, _mm_setzero_si128());
                    self.lanes = _mm_sub_epi8(self.lanes, high);
                    let low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
                    let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
                    let eq = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'=' as i8));
                    _mm_movemask_epi8(_mm_or_si128(low, _mm_or_si128(del, eq))) as u32
                }
            }

            /// Sums the lanes into the count: at least once per 255 blocks.
            pub(in super::super) fn flush(&mut self) {
                // SAFETY: SSE2 is enabled for this build; register only.
                let (lo, hi) = unsafe {
                    let sums = _mm_sad_epu8(self.lanes, _mm_setzero_si128());
                    self.lanes = _mm_setzero_si128();
                    (
                        _mm_cvtsi128_si64(sums),
                        _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)),
                    )
                };
                self.total += lo as usize + hi as usize;
            }

            /// The count so far.
            pub(in super::super) fn total(mut self) -> usize {
                self.flush();
                self.total
            }
        }
    }

    /// The same tests in WebAssembly SIMD128 (enabled for the wasm build
    /// by .cargo/config.toml): a compare per condition and a bitmask per
    /// block, which the reductions of `portable` do not compile to at
    /// `opt-level = "z"`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[allow(unsafe_code)]
    mod simd128 {
        use core::arch::wasm32::*;

        /// The block in a vector.
        #[inline(always)]
        fn load(block: &[u8; 16]) -> v128 {
            // SAFETY: `v128_load` reads exactly 16 octets from the pointer,
            // with no alignment requirement; `block` is 16 octets, valid
            // for reads for the duration of the call.
            unsafe { v128_load(block.as_ptr().cast()) }
        }

        /// The bits of the lanes of `block` that hold CR or LF.
        #[inline(always)]
        pub(in super::super) fn breaks(block: &[u8; 16]) -> u32 {
            let v = load(block);
            let cr = u8x16_eq(v, u8x16_splat(b'\r'));
            let lf = u8x16_eq(v, u8x16_splat(b'\n'));
            u32::from(u8x16_bitmask(v128_or(cr, lf)))
        }

        /// The bits of the lanes of `block` that hold an octet ≥ 0x80.
        #[inline(always)]
        pub(in super::super) fn high(block: &[u8; 16]) -> u32 {
            u32::from(u8x16_bitmask(load(block)))
        }

        /// Counts octets ≥ 0x80: the high bits of a block's lanes
        /// (`u8x16_bitmask`), counted.
        pub(in super::super) struct HighCount {
            total: usize,
        }

        impl HighCount {
            pub(in super::super) fn new() -> Self {
                Self { total: 0 }
            }

            /// Counts the octets ≥ 0x80 of `block` and returns the bits of
            /// its lanes that hold an octet below 0x20, DEL or `=`.
            #[inline(always)]
            pub(in super::super) fn add_special(&mut self, block: &[u8; 16]) -> u32 {
                let v = load(block);
                self.total += u8x16_bitmask(v).count_ones() as usize;
                let low = u8x16_lt(v, u8x16_splat(0x20));
                let del = u8x16_eq(v, u8x16_splat(0x7F));
                let eq = u8x16_eq(v, u8x16_splat(b'='));
                u32::from(u8x16_bitmask(v128_or(low, v128_or(del, eq))))
            }

            /// Nothing to sum here (the counts are kept whole).
            pub(in super::super) fn flush(&mut self) {}

            /// The count so far.
            pub(in super::super) fn total(self) -> usize {
                self.total
            }
        }
    }

    #[cfg(test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn bits_are_exact() {
        let mut x: u64 = 0x1234_5678_9ABC_DEF0;
        for _ in 0..20_000 {
            let mut block = [0u8; 16];
            for b in &mut block {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = [
                    0,
                    0x0A,
                    0x0D,
                    0x1F,
                    0x20,
                    0x3D,
                    0x7F,
                    0x80,
                    0xFF,
                    (x >> 8) as u8,
                ][(x % 10) as usize];
            }
            let want = |f: &dyn Fn(u8) -> bool| {
                (0..16).fold(0u32, |m, i| m | (u32::from(f(block[i])) << i))
            };
            let high = block.iter().filter(|&&b| b >= 0x80).count();
            let special = want(&|b| b < 0x20 || b == 0x7F || b == b'=');
            assert_eq!(breaks(&block), want(&|b| b == b'\r' || b == b'\n'));
            let mut h = HighCount::new();
            assert_eq!(h.add_special(&block), special);
            assert_eq!(h.total(), high);
            assert_eq!(
                portable::breaks(&block),
                want(&|b| b == b'\r' || b == b'\n')
            );
            let mut h = portable::HighCount::new();
            assert_eq!(h.add_special(&block), special);
            assert_eq!(h.total(), high);
        }
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
    if base64_is_shorter(stats.len, escaped) {
        TransferEncoding::Base64
    } else {
        TransferEncoding::QuotedPrintable
    }
}

/// [`choose_text_encoding`]'s choice between quoted-printable and base64
/// for a text of `len` octets of which `escaped` need an escape: whether
/// the quoted-printable estimate (`1` per plain octet, `3` per escaped one,
/// plus soft breaks) is longer than base64.
///
/// For `escaped ≤ len`, the estimate never falls as `escaped` grows (each
/// escaped octet adds two), so a `true` for a lower bound on `escaped`
/// holds for every larger count: what [`QuickScan::base64_without_scan`]
/// rests on.
#[inline]
fn base64_is_shorter(len: usize, escaped: usize) -> bool {
    let plain = len.saturating_sub(escaped);
    let body = plain.saturating_add(escaped.saturating_mul(3));
    // A soft break ("=" CRLF) roughly every 75 output characters.
    let qp = body.saturating_add(body / 75 * 3);
    let b64 = super::base64::encoded_len(len as u64);
    (qp as u64) > b64
}

/// What [`quick_scan`] counts in a text (as given, line ends unconverted):
/// enough to pick base64 for a text dense in non-ASCII without
/// [`analyze_text`]'s full scan (line lengths, controls, line edges).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QuickScan {
    /// Octets of the text.
    pub len: usize,
    /// Octets ≥ 0x80.
    pub non_ascii: usize,
    /// CR octets.
    pub cr: usize,
    /// LF octets.
    pub lf: usize,
    /// `=` octets.
    pub equals: usize,
}

impl QuickScan {
    /// The length of the text's CRLF form and whether it has a bare CR or
    /// LF, when the counts tell them: with no CR, every LF is bare (and
    /// with no LF, every CR), each one octet longer once converted. A text
    /// with both needs the full scan (`None`).
    pub(crate) fn crlf_len(&self) -> Option<(usize, bool)> {
        let breaks = self.cr + self.lf;
        (self.cr == 0 || self.lf == 0).then_some((self.len + breaks, breaks > 0))
    }

    /// Whether [`choose_text_encoding`] would pick base64 for this text's
    /// [`analyze_text`] stats with `allow_8bit` false, known from these
    /// counts alone (`false`: not known, scan it).
    ///
    /// It is exact where it says `true`: with non-ASCII octets the text is
    /// not 7bit, without `allow_8bit` not 8bit, and the choice between
    /// quoted-printable and base64 is [`base64_is_shorter`] for the CRLF
    /// form's length (known exactly here) and the non-ASCII plus control
    /// octets, of which the non-ASCII ones are a lower bound (a larger
    /// count only makes quoted-printable longer).
    pub(crate) fn base64_without_scan(&self) -> bool {
        match self.crlf_len() {
            Some((len, _)) if self.non_ascii > 0 => base64_is_shorter(len, self.non_ascii),
            _ => false,
        }
    }
}

/// The 64-octet blocks [`quick_scan`] looks at before it goes on.
const QUICK_PROBE: usize = 4;

/// Counts a text's non-ASCII octets, CRs, LFs and `=`s in one pass of
/// plain per-lane byte counters (vectorised by the compiler; AVX2 natively
/// when the CPU has it), much cheaper than [`analyze_text`].
///
/// `None` when fewer than one in eight of the first [`QUICK_PROBE`] blocks'
/// octets are non-ASCII: such a text is likely quoted-printable or
/// unencoded, which needs the full scan anyway, so it is not counted on.
#[allow(unsafe_code)]
pub(crate) fn quick_scan(input: &[u8]) -> Option<QuickScan> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 (checked just above), the only target
        // feature `quick_scan_avx2` is compiled with.
        return unsafe { quick_scan_avx2(input) };
    }
    quick_counts(input)
}

/// [`quick_counts`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn quick_scan_avx2(input: &[u8]) -> Option<QuickScan> {
    quick_counts(input)
}

/// [`quick_scan`] over 64-octet blocks, the last octets as one more block
/// padded with NULs (which count as nothing here).
#[inline(always)]
fn quick_counts(input: &[u8]) -> Option<QuickScan> {
    let (blocks, tail) = input.as_chunks::<64>();
    let (probe, rest) = blocks.split_at(blocks.len().min(QUICK_PROBE));
    // All ASCII (most texts): given up at once, by the high bits of the
    // probe's octets ORed together.
    let mut any = [0u8; 64];
    for block in probe {
        for (a, &b) in any.iter_mut().zip(block) {
            *a |= b;
        }
    }
    if !probe.is_empty() && any.iter().fold(0, |a, &b| a | b) < 0x80 {
        return None;
    }
    let mut lanes = QuickLanes::ZERO;
    for block in probe {
        lanes.add(block);
    }
    if lane_sum(&lanes.high) * 8 < probe.len() * 64 {
        return None;
    }
    let mut last = [0u8; 64];
    last[..tail.len()].copy_from_slice(tail);
    let mut q = QuickScan {
        len: input.len(),
        ..QuickScan::default()
    };
    // Blocks in the lanes' counters: at most 255 (`last` included) before
    // they are emptied.
    let mut held = probe.len();
    for group in rest.chunks(250) {
        if held + group.len() >= 255 {
            lanes.empty_into(&mut q);
            held = 0;
        }
        for block in group {
            lanes.add(block);
        }
        held += group.len();
    }
    lanes.add(&last);
    lanes.empty_into(&mut q);
    Some(q)
}

/// [`quick_scan`]'s counters: one 8-bit counter per lane of a 64-octet
/// block and count, good for 255 blocks.
struct QuickLanes {
    high: [u8; 64],
    cr: [u8; 64],
    lf: [u8; 64],
    eq: [u8; 64],
}

impl QuickLanes {
    /// Every counter at zero.
    const ZERO: Self = Self {
        high: [0; 64],
        cr: [0; 64],
        lf: [0; 64],
        eq: [0; 64],
    };

    /// Counts one block.
    #[inline(always)]
    fn add(&mut self, block: &[u8; 64]) {
        for (i, &b) in block.iter().enumerate() {
            // 0xFF for a match, subtracted: one more.
            self.high[i] = self.high[i].wrapping_sub(((b as i8) >> 7) as u8);
            self.cr[i] = self.cr[i].wrapping_sub(u8::from(b == b'\r').wrapping_neg());
            self.lf[i] = self.lf[i].wrapping_sub(u8::from(b == b'\n').wrapping_neg());
            self.eq[i] = self.eq[i].wrapping_sub(u8::from(b == b'=').wrapping_neg());
        }
    }

    /// Adds the counts to `q` (but `len`) and starts again from zero.
    #[inline(always)]
    fn empty_into(&mut self, q: &mut QuickScan) {
        q.non_ascii += lane_sum(&self.high);
        q.cr += lane_sum(&self.cr);
        q.lf += lane_sum(&self.lf);
        q.equals += lane_sum(&self.eq);
        *self = Self::ZERO;
    }
}

/// The sum of 64 8-bit counters, eight at a time in a `u64`: pairs into
/// 16-bit lanes (at most 8 × 2 × 255 each over the eight words), then the
/// four lanes by a multiply (at most 16,320, no carry out of 16 bits).
#[inline(always)]
fn lane_sum(lanes: &[u8; 64]) -> usize {
    const PAIRS: u64 = 0x00FF_00FF_00FF_00FF;
    let (words, _) = lanes.as_chunks::<8>();
    let mut sum = 0u64;
    for w in words {
        let x = u64::from_le_bytes(*w);
        sum += (x & PAIRS) + ((x >> 8) & PAIRS);
    }
    // The top 16 bits of the product: the sum of the four 16-bit lanes.
    (sum.wrapping_mul(0x0001_0001_0001_0001) >> 48) as usize
}

/// Natively with `cargo test`; in the wasm build (its SIMD128 block tests)
/// with `wasm-pack test --mode no-install --node -- --no-default-features
/// --features wasm --lib` (stage `wasm-lib` of scripts/test.sh).
#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    thread_local! {
        /// Set by a test to run the SSE2 paths on a CPU that has AVX2.
        pub(super) static SSE2_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// The reference comparisons again with the AVX2 paths switched off, so
    /// that the SSE2 ones are tested on CPUs that have AVX2 too.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_paths_match_the_references_too() {
        SSE2_ONLY.with(|only| only.set(true));
        analyze_matches_naive_on_noise();
        crlf_into_vec_matches_crlf_into();
        crlf_into_buf_matches_crlf_into();
        crlf_into_buf_around_a_cr_in_lf_text();
        analyze_matches_naive_on_lf_texts();
        SSE2_ONLY.with(|only| only.set(false));
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn is_ascii_agrees_with_core() {
        for len in 0..300 {
            let mut bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 128) as u8).collect();
            assert!(is_ascii(&bytes), "len {len}");
            for at in 0..len {
                for high in [0x80, 0xC3, 0xFF] {
                    bytes[at] = high;
                    assert!(!is_ascii(&bytes), "len {len}, {high:#x} at {at}");
                    bytes[at] = 0x7F;
                    assert!(is_ascii(&bytes), "len {len}, DEL at {at}");
                }
            }
        }
    }

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

    /// Generated texts for [`quick_scan`]: pieces drawn from `pieces`,
    /// each with the given weights, to about `len` octets.
    fn quick_texts() -> Vec<Vec<u8>> {
        let pieces: [&[u8]; 14] = [
            b"a",
            b"word ",
            b"=",
            b"\r",
            b"\n",
            b"\r\n",
            b"\x00",
            b"\x7f",
            b"\t",
            "é".as_bytes(),
            "日本語".as_bytes(),
            "🚀".as_bytes(),
            b".",
            b" ",
        ];
        // Weights per profile: ASCII, dense non-ASCII with LF, with CRLF,
        // with bare CR, mixed, controls, near the quoted-printable/base64
        // edge, no line breaks at all.
        let profiles: [[u32; 14]; 8] = [
            [20, 20, 1, 0, 2, 1, 0, 0, 1, 0, 0, 0, 1, 3],
            [2, 4, 0, 0, 1, 0, 0, 0, 0, 2, 10, 3, 0, 2],
            [2, 4, 0, 0, 0, 1, 0, 0, 0, 2, 10, 3, 0, 2],
            [2, 4, 1, 1, 0, 0, 0, 0, 0, 2, 10, 3, 0, 2],
            [10, 10, 1, 1, 1, 1, 0, 0, 1, 4, 3, 1, 1, 2],
            [4, 4, 1, 0, 1, 0, 3, 3, 1, 2, 6, 1, 1, 1],
            [12, 6, 1, 0, 1, 0, 0, 0, 0, 3, 2, 0, 1, 1],
            [1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 8, 2, 0, 1],
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        for round in 0..400 {
            let weights = profiles[round % profiles.len()];
            let total: u32 = weights.iter().sum();
            let len = match round % 5 {
                0 => (next() % 70) as usize,
                1 => (next() % 300) as usize,
                2 => 200 + (next() % 4000) as usize,
                3 => 12_000 + (next() % 4000) as usize,
                // Past 255 blocks: the lane counters are emptied mid-text.
                _ => 16_300 + (next() % 20_000) as usize,
            };
            let mut v = Vec::with_capacity(len + 16);
            while v.len() < len {
                let mut pick = (next() % u64::from(total)) as u32;
                let k = weights.iter().position(|&w| {
                    let hit = pick < w;
                    pick = pick.saturating_sub(w);
                    hit
                });
                v.extend_from_slice(pieces[k.unwrap_or(0)]);
            }
            out.push(v);
        }
        out
    }

    /// [`quick_scan`] counts exactly (natively on both its paths), gives up
    /// only on a thin first probe, and where it tells the CRLF form's
    /// length or picks base64, [`analyze_text`] and [`choose_text_encoding`]
    /// agree; it picks base64 for some texts and leaves others to the scan.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn quick_scan_agrees_with_the_full_scan() {
        let (mut quick_base64, mut scanned_base64) = (0, 0);
        for v in quick_texts() {
            let count = |f: &dyn Fn(u8) -> bool| v.iter().filter(|&&b| f(b)).count();
            let want = QuickScan {
                len: v.len(),
                non_ascii: count(&|b| b >= 0x80),
                cr: count(&|b| b == b'\r'),
                lf: count(&|b| b == b'\n'),
                equals: count(&|b| b == b'='),
            };
            let probe = &v[..(v.len() / 64).min(QUICK_PROBE) * 64];
            let thin = probe.iter().filter(|&&b| b >= 0x80).count() * 8 < probe.len();
            let want = (!thin).then_some(want);
            assert_eq!(quick_scan(&v), want, "{v:?}");
            #[cfg(target_arch = "x86_64")]
            {
                tests::SSE2_ONLY.with(|c| c.set(true));
                let sse2 = quick_scan(&v);
                tests::SSE2_ONLY.with(|c| c.set(false));
                assert_eq!(sse2, want, "{v:?}");
            }
            let Some(q) = want else { continue };
            let scan = analyze_text(&v);
            if let Some(known) = q.crlf_len() {
                assert_eq!(known, (scan.stats.len, scan.bare), "{v:?}");
            }
            let full = choose_text_encoding(&scan.stats, false);
            if q.base64_without_scan() {
                assert_eq!(full, TransferEncoding::Base64, "{v:?}");
                quick_base64 += 1;
            } else if full == TransferEncoding::Base64 {
                scanned_base64 += 1;
            }
        }
        assert!(
            quick_base64 > 20 && scanned_base64 > 0,
            "{quick_base64} {scanned_base64}"
        );
    }

    /// Long lines (soft breaks), escapes, dots and trailing whitespace: the
    /// bound is never below the encoder's length, and not far above it.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
            assert_eq!(scan.equals, v.iter().filter(|&&b| b == b'=').count());
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

    /// Texts whose line ends are mostly bare LFs (most blocks with no other
    /// octet below 0x20, DEL or `=`), with a CRLF, CR, tab or `=` now and
    /// then, at block edges more often than not.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn analyze_matches_naive_on_lf_texts() {
        let mut x: u64 = 0x0123_4567_89AB_CDEF;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..1500 {
            let len = (next() % 3000) as usize;
            let line = 1 + (round % 90);
            let mut v: Vec<u8> = (0..len)
                .map(|_| match next() % (line as u64 + 4) {
                    0 => b'\n',
                    1 => b'.',
                    2 => b' ',
                    3 => 0xE3,
                    _ => b'a',
                })
                .collect();
            for _ in 0..(next() % 4) {
                if len < 2 {
                    break;
                }
                let at = match next() % 3 {
                    0 => (next() as usize % (len / 64 + 1)) * 64,
                    1 => ((next() as usize % (len / 64 + 1)) * 64).saturating_sub(1),
                    _ => next() as usize,
                } % (len - 1);
                match next() % 5 {
                    0 => v[at..at + 2].copy_from_slice(b"\r\n"),
                    1 => v[at] = b'\r',
                    2 => v[at] = b'\t',
                    3 => v[at] = b'=',
                    _ => v[at..at + 2].copy_from_slice(b" \n"),
                }
            }
            let want = naive_analyze(&v);
            assert_eq!(analyze(&v), want, "{v:?}");
            let normalized = naive_normalize(&v);
            let scan = analyze_text(&v);
            let qp = crate::encoding::qp::encoded_len(&normalized);
            assert!(qp <= scan.qp_bound, "{qp} > {} for {v:?}", scan.qp_bound);
            assert!(
                scan.qp_bound <= qp + qp / 10 + 8,
                "{} far above {qp}",
                scan.qp_bound
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn crlf_into_vec_matches_crlf_into() {
        let mut x: u32 = 777;
        for round in 0..4000 {
            let len = (x % 400) as usize;
            let mut v = Vec::new();
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let pick = [3, 5, 8][round % 3];
                v.push(
                    [b'\r', b'\n', b'a', b' ', b'b', b'.', b'c', b'd'][(x >> 16) as usize % pick],
                );
            }
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let start = (x >> 8) as usize % (len + 1);
            let end = start + (x >> 20) as usize % (len - start + 1);
            let mut want = b"head".to_vec();
            crlf_into(&v, start, end, &mut want);
            let added = want.len() - 4 - (end - start);
            // With room (the fast path), without room, and with more room.
            for extra in [CRLF_SLACK, 0, 100] {
                let mut got = Vec::with_capacity(4 + (end - start) + added + extra);
                got.extend_from_slice(b"head");
                crlf_into_vec(&v, start, end, &mut got, added);
                assert_eq!(got, want, "{v:?} {start}..{end}");
            }
            // A bound above the count, as the renderer passes.
            let mut got = Vec::with_capacity(4 + 2 * (end - start) + CRLF_SLACK);
            got.extend_from_slice(b"head");
            crlf_into_vec(&v, start, end, &mut got, end - start);
            assert_eq!(got, want, "{v:?} {start}..{end}");
        }
    }

    /// Texts long enough for `crlf_into_vec`'s runs straight into the
    /// spare capacity (AVX2), of every kind of line end, any range of them,
    /// with room from just enough to more than twice: the same octets as
    /// `crlf_into`.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn crlf_into_vec_long_texts_match_crlf_into() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..1500 {
            let len = 300 + (next() % 6000) as usize;
            // Octets drawn from the first `pick` of these: only LFs as
            // breaks, then CRLFs and bare CRs too.
            let pick = [3, 5, 8, 2][round % 4];
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    [b'a', b' ', b'\n', b'\r', b'.', b'b', b'c', b'\r'][(next() % pick) as usize]
                })
                .collect();
            let start = (next() % 200) as usize;
            let end = (len - (next() % 200) as usize).max(start);
            let mut want = b"head".to_vec();
            crlf_into(&v, start, end, &mut want);
            let added = want.len() - 4 - (end - start);
            let least = 4 + (end - start) + added + CRLF_SLACK;
            for extra in [0, 100, end - start, 2 * (end - start), 3 * (end - start)] {
                let mut got = Vec::with_capacity(least + extra);
                got.extend_from_slice(b"head");
                crlf_into_vec(&v, start, end, &mut got, added);
                assert_eq!(
                    got, want,
                    "round {round}: {start}..{end} of {len}, extra {extra}"
                );
            }
        }
    }

    /// Noise texts of every kind of line end (all breaks, runs of CR, CRLF
    /// across block edges), any range of them, written after a carried-over
    /// prefix: the same octets as `crlf_into`.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn crlf_into_buf_matches_crlf_into() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..6000 {
            let len = match round % 4 {
                0 => (next() % 130) as usize,
                1 => (next() % 700) as usize,
                2 => 1000 + (next() % 4200) as usize,
                _ => 120 + (next() % 16) as usize,
            };
            let alphabets: [&[u8]; 7] = [
                b"\r\naaaaa.b ",
                b"\n",
                b"\r",
                b"\r\n",
                b"\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                b"\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                b"\xe3\x81\x82\n\r",
            ];
            // LF texts with a rare CR: the lean blocks, a CR block
            // between them, the block after a CR at a block's end.
            let mut rare = [b'a'; 400];
            rare[0] = b'\n';
            rare[1] = b'\n';
            rare[2] = b'\r';
            let rare = &rare[..[70, 400][round % 2]];
            let alphabet = if round % 9 == 8 {
                rare
            } else {
                alphabets[round % 7]
            };
            let v: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() >> 20) as usize % alphabet.len()])
                .collect();
            let start = (next() as usize) % (len + 1);
            let end = start + (next() as usize) % (len - start + 1);
            let w = (next() % 57) as usize;
            let prefix: Vec<u8> = (0..w).map(|k| b'0' + (k % 10) as u8).collect();
            let mut want = prefix.clone();
            crlf_into(&v, start, end, &mut want);
            // After a carried-over prefix, as the renderer converts.
            let mut piece = CrlfBuf::<{ 2 * 5200 + 57 + BUF_SLACK }>::new();
            piece.push_crlf(&prefix, 0, w);
            piece.push_crlf(&v, start, end);
            assert_eq!(piece.as_bytes(), &want[..], "{v:?} {start}..{end}");
            let cut = (next() as usize) % (want.len() + 1);
            piece.consume(cut);
            assert_eq!(piece.as_bytes(), &want[cut..]);
        }
    }

    /// An LF text (lines of 0 to 69 octets) with a CR, CRLF, LF CR or
    /// CR CR put at every place in its first 200 octets, converted from
    /// every start up to 130 (on each side of the block edges): the same
    /// octets as `crlf_into`, which the lean blocks of the AVX2 path (no CR
    /// in or just before them) must give up to around each CR.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn crlf_into_buf_around_a_cr_in_lf_text() {
        let mut text = Vec::new();
        let mut line = 0;
        while text.len() < 700 {
            text.extend(std::iter::repeat_n(b'x', line % 70));
            text.push(b'\n');
            line = (line * 7 + 13) % 1000;
        }
        for odd in [&b"\r"[..], b"\r\n", b"\n\r", b"\r\r"] {
            for at in 0..200 {
                let mut v = text.clone();
                v.splice(at..at + odd.len(), odd.iter().copied());
                for start in [
                    0,
                    1,
                    2,
                    63,
                    64,
                    65,
                    127,
                    128,
                    129,
                    at.saturating_sub(1),
                    at,
                    at + 1,
                ] {
                    let mut want = Vec::new();
                    crlf_into(&v, start, v.len(), &mut want);
                    let mut piece = CrlfBuf::<{ 2 * 700 + BUF_SLACK }>::new();
                    piece.push_crlf(&v, start, v.len());
                    assert_eq!(piece.as_bytes(), &want[..], "{odd:?} at {at} from {start}");
                }
            }
        }
    }

    /// [`analyze_text`]'s AVX2 path (mask arithmetic over 64-octet blocks)
    /// against its SSE2 path (a walk over every break) and the naive
    /// stats, whole `TextScan`s compared, on texts built to put breaks,
    /// dots, spaces and tabs at block edges: CRLFs split across blocks,
    /// a CR at the very end, bare CRs before LF-only lines, empty lines,
    /// lines of 62, 63, 64, 998 and 999 octets, texts shorter than a
    /// block, all-control texts.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_scan_matches_the_walk_at_block_edges() {
        fn check(v: &[u8]) {
            let got = analyze_text(v);
            SSE2_ONLY.with(|only| only.set(true));
            let walked = analyze_text(v);
            SSE2_ONLY.with(|only| only.set(false));
            assert_eq!(got, walked, "{v:?}");
            let want = naive_analyze(v);
            assert_eq!(got.stats.max_line_len, want.max_line_len, "{v:?}");
            assert_eq!(got.bare, want.bare_cr_or_lf, "{v:?}");
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let breaks: [&[u8]; 4] = [b"\r\n", b"\n", b"\r", b"\r\r\n"];
        let lens = [0, 1, 2, 61, 62, 63, 64, 65, 127, 128, 998, 999, 1000];
        for round in 0..4000 {
            let mut v = Vec::new();
            let target = match round % 4 {
                _ if round % 50 == 0 => 4000 + (next() % 12_000) as usize,
                0 => (next() % 64) as usize,
                1 => (next() % 400) as usize,
                _ => (next() % 3000) as usize,
            };
            // Half the texts have only LFs below 0x20, no DEL and no `=`
            // (the AVX2 scan's lean path), but for one octet at most.
            let lean = round % 2 == 0;
            while v.len() < target {
                let r = next();
                let len = if r % 3 == 0 {
                    lens[(r >> 8) as usize % lens.len()]
                } else {
                    (r >> 8) as usize % 70
                };
                let mut line: Vec<u8> = (0..len)
                    .map(|k| match (next() >> 20) % 40 {
                        0..=2 if lean => b'a',
                        4 if lean => b' ',
                        0 => b'=',
                        1 => 0x01,
                        2 => 0x7F,
                        3 => 0xC3,
                        4 => b'\t',
                        5..=8 => b' ',
                        9 => b'.',
                        _ => b'a' + (k % 26) as u8,
                    })
                    .collect();
                if !line.is_empty() && r & (1 << 40) != 0 {
                    line[0] = b'.';
                }
                if !line.is_empty() && r & (1 << 41) != 0 {
                    *line.last_mut().unwrap() = if r & (1 << 42) != 0 || lean {
                        b' '
                    } else {
                        b'\t'
                    };
                }
                v.extend_from_slice(&line);
                // Bare LF lines mostly, with the other breaks now and then.
                let kind = if r & (3 << 43) == 0 && !lean {
                    (r >> 50) as usize % 4
                } else {
                    1
                };
                v.extend_from_slice(breaks[kind]);
            }
            // Move a break, a dot or a space to a block edge.
            if v.len() > 2 {
                let edge = (next() as usize % (v.len() / 64 + 1)) * 64;
                let at = (edge + (next() % 3) as usize)
                    .saturating_sub(1)
                    .min(v.len() - 2);
                match next() % 6 {
                    0 => v[at..at + 2].copy_from_slice(b"\r\n"),
                    1 => v[at] = b'\r',
                    2 => v[at] = b'\n',
                    3 => v[at] = b'.',
                    4 => v[at] = b' ',
                    _ => v[at..at + 2].copy_from_slice(b" \n"),
                }
            }
            match round % 7 {
                0 => v.push(b'\r'),
                1 => v.push(b'.'),
                _ => {}
            }
            check(&v);
            // One octet the lean path does not expect, anywhere.
            if lean && !v.is_empty() {
                let odd = [b'\r', b'\t', b'=', 0x7F, 0x00, 0x1F][(next() % 6) as usize];
                let at = next() as usize % v.len();
                v[at] = odd;
                check(&v);
            }
        }
        // Every split of a CRLF, a lone CR and a lone LF over each block edge.
        for len in [63, 64, 65, 127, 128, 129, 200] {
            for at in 0..len {
                for piece in [&b"\r\n"[..], b"\r", b"\n", b". ", b" \n.", b"\r\r\n\n"] {
                    let mut v = vec![b'a'; len];
                    let end = (at + piece.len()).min(len);
                    v[at..end].copy_from_slice(&piece[..end - at]);
                    check(&v);
                }
            }
        }
        // The same over the edge of the scan's 63-block groups (the group
        // after one that is not lean is not scanned lean either).
        for at in 4029..4035 {
            for piece in [&b"\r\n"[..], b"\r", b"\t\n", b" \n.", b"=\n"] {
                let mut v = b"ab \n".repeat(3000);
                v[at..at + piece.len()].copy_from_slice(piece);
                check(&v);
            }
        }
        // All-control texts, all-break texts, lines of exactly n octets.
        for len in [0, 1, 63, 64, 65, 128, 1000] {
            for b in [
                0x00, 0x01, 0x1F, 0x7F, b'\t', b'\r', b'\n', b'=', b'.', b' ',
            ] {
                check(&vec![b; len]);
            }
            check(&b"\r\n".repeat(len));
            check(&b"\n\r".repeat(len));
        }
        for n in [61, 62, 63, 64, 65, 998, 999] {
            for count in [1, 2, 5] {
                for brk in breaks {
                    let mut line = vec![b'x'; n];
                    line.extend_from_slice(brk);
                    check(&line.repeat(count));
                    check(&[&b"ab\n"[..], &line.repeat(count)].concat());
                }
            }
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
