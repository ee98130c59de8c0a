//! Random identifiers: multipart boundaries and Message-ID left parts.
//!
//! Boundaries start with `=_`, which can never occur in base64 or
//! quoted-printable output; the builder also checks them against every body
//! that is written as it is (7bit and 8bit parts).

/// A small, fast generator (SplitMix64), seeded from the operating system
/// (`getrandom`) or, in deterministic mode, from the caller's seed.
#[derive(Clone, Debug)]
pub struct IdGenerator {
    state: u64,
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The next character of a draw: `bits` read as a fraction of 2^64, its
/// next base-62 digit (the high word of `bits * 62`; the low word is the
/// fraction left). One widening multiply a character, where `% 62` and
/// `/ 62` took two. Ten characters take 59.5 of the draw's 64 bits, and
/// each 10-character string comes from 21 or 22 of the 2^64 draws, as it
/// did with the remainders.
#[inline(always)]
fn next_char(bits: &mut u64) -> u8 {
    let wide = u128::from(*bits) * 62;
    *bits = wide as u64;
    ALPHABET[(wide >> 64) as usize]
}

impl IdGenerator {
    /// A generator seeded from the operating system's random source.
    pub fn from_entropy() -> Self {
        let mut seed = [0u8; 8];
        if getrandom::getrandom(&mut seed).is_err() {
            // No entropy source: fall back to the clock and a counter; ids
            // stay unique enough for boundaries, which are also checked.
            use std::sync::atomic::{AtomicU64, Ordering};
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let t = crate::header::DateTime::now().unix_seconds() as u64;
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            seed = (t ^ n.rotate_left(32)).to_le_bytes();
        }
        Self::from_seed(u64::from_le_bytes(seed))
    }

    /// A generator for one message's boundaries and Message-ID, without a
    /// system call: each thread seeds a SplitMix64 stream once from the
    /// operating system and draws one seed per message from it, mixed with
    /// the clock's nanoseconds so that processes forked from one parent do
    /// not repeat each other's ids. (A `getrandom` call per message costs
    /// more than composing a small message.)
    pub(crate) fn for_message() -> Self {
        Self::for_message_at(clock_nanos())
    }

    /// [`IdGenerator::for_message`] with the clock's nanoseconds already
    /// read (the builder reads the clock once for the Date and the ids).
    pub(crate) fn for_message_at(clock_nanos: u64) -> Self {
        use std::cell::Cell;
        thread_local! {
            static STREAM: Cell<Option<IdGenerator>> = const { Cell::new(None) };
        }
        let mut stream = STREAM.take().unwrap_or_else(IdGenerator::from_entropy);
        let seed = stream.next_u64() ^ clock_nanos;
        STREAM.set(Some(stream));
        // One more SplitMix round so that the clock bits are spread.
        Self::from_seed(Self::from_seed(seed).next_u64())
    }

    /// A generator that gives the same sequence for the same seed.
    pub fn from_seed(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` random alphanumeric characters.
    pub fn alphanumeric(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        self.push_alphanumeric(&mut s, len);
        s
    }

    /// Fills `out` with random alphanumeric characters: the ones
    /// [`IdGenerator::push_alphanumeric`] appends for the same length.
    // One small loop, kept out of line: with a constant length inlined,
    // the compiler unrolls it into kilobytes of divisions by powers of 62
    // (instruction cache the composer's hot path cannot spare).
    #[inline(never)]
    pub(crate) fn fill_alphanumeric(&mut self, out: &mut [u8]) {
        // Ten characters per draw, as below (its 60-octet chunks are
        // whole draws): a fixed loop per whole draw (no count of
        // characters to test per character), then the rest of one.
        let (draws, rest) = out.as_chunks_mut::<10>();
        for draw in draws {
            let mut bits = self.next_u64();
            for slot in draw {
                *slot = next_char(&mut bits);
            }
        }
        if !rest.is_empty() {
            let mut bits = self.next_u64();
            for slot in rest {
                *slot = next_char(&mut bits);
            }
        }
    }

    /// A boundary as [`IdGenerator::boundary`] makes it, kept inline.
    pub(crate) fn boundary_text(&mut self) -> ShortText {
        let mut buf = [0u8; SHORT_TEXT];
        buf[..5].copy_from_slice(Self::BOUNDARY_PREFIX);
        self.fill_alphanumeric(&mut buf[5..40]);
        ShortText::Inline { len: 40, buf }
    }

    /// `len` (≤ 32) random alphanumeric characters, `@` and `domain`: a
    /// Message-ID, inline when it fits.
    pub(crate) fn message_id(&mut self, len: usize, domain: &str) -> ShortText {
        let total = len + 1 + domain.len();
        if total > SHORT_TEXT || !domain.is_ascii() {
            return self.message_id_heap(len, domain);
        }
        let mut buf = [0u8; SHORT_TEXT];
        self.fill_alphanumeric(&mut buf[..len]);
        buf[len] = b'@';
        buf[len + 1..total].copy_from_slice(domain.as_bytes());
        ShortText::Inline {
            len: total as u8,
            buf,
        }
    }

    /// [`IdGenerator::message_id`] for a long or non-ASCII domain.
    #[cold]
    #[inline(never)]
    fn message_id_heap(&mut self, len: usize, domain: &str) -> ShortText {
        let mut id = String::with_capacity(len + 1 + domain.len());
        self.push_alphanumeric(&mut id, len);
        id.push('@');
        id.push_str(domain);
        ShortText::Heap(id)
    }

    /// Appends `len` random alphanumeric characters to `s` (the same ones
    /// [`IdGenerator::alphanumeric`] gives).
    pub(crate) fn push_alphanumeric(&mut self, s: &mut String, len: usize) {
        // Ten characters per draw, gathered six draws at a time in a small
        // buffer, then pushed as one string.
        let mut chunk = [0u8; 60];
        let mut left = len;
        while left > 0 {
            let n = 60.min(left);
            for draw in chunk[..n].chunks_mut(10) {
                let mut bits = self.next_u64();
                for slot in draw {
                    *slot = next_char(&mut bits);
                }
            }
            s.push_str(std::str::from_utf8(&chunk[..n]).unwrap_or_default());
            left -= n;
        }
    }

    /// How every [`IdGenerator::boundary`] starts.
    pub(crate) const BOUNDARY_PREFIX: &'static [u8] = b"=_mg_";

    /// A multipart boundary: `=_` followed by random characters (40 in all,
    /// well under RFC 2046's 70).
    pub fn boundary(&mut self) -> String {
        let mut s = String::with_capacity(40);
        s.push_str("=_mg_");
        self.push_alphanumeric(&mut s, 35);
        s
    }
}

/// Octets of ASCII text [`ShortText`] keeps inline.
pub(crate) const SHORT_TEXT: usize = 70;

/// Short ASCII text kept inline (a boundary, a generated Message-ID),
/// anything else on the heap.
#[derive(Clone)]
pub(crate) enum ShortText {
    /// `buf[..len]`, ASCII.
    Inline {
        len: u8,
        buf: [u8; SHORT_TEXT],
    },
    Heap(String),
}

impl ShortText {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // ASCII by construction, so this never fails.
            Self::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(s) => s,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => &buf[..usize::from(*len)],
            Self::Heap(s) => s.as_bytes(),
        }
    }
}

impl Default for ShortText {
    fn default() -> Self {
        Self::Heap(String::new())
    }
}

impl From<String> for ShortText {
    fn from(s: String) -> Self {
        Self::Heap(s)
    }
}

impl std::fmt::Debug for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// Nanoseconds of the system clock (0 where there is none: wasm, which
/// cannot fork).
fn clock_nanos() -> u64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }
    #[cfg(target_arch = "wasm32")]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline boundary and Message-ID are what the `String` writers
    /// give for the same draws (long and non-ASCII domains on the heap).
    #[test]
    fn inline_ids_match_the_string_writers() {
        let long = "d".repeat(SHORT_TEXT);
        for seed in 0..200u64 {
            let want = IdGenerator::from_seed(seed).boundary();
            let got = IdGenerator::from_seed(seed).boundary_text();
            assert!(matches!(got, ShortText::Inline { .. }));
            assert_eq!(got.as_str(), want);
            assert_eq!(got.as_bytes(), want.as_bytes());
            for domain in [
                "example.com",
                "localhost",
                "",
                &long[..SHORT_TEXT - 33],
                &long,
                "bücher.de",
            ] {
                let mut rng = IdGenerator::from_seed(seed);
                let mut want = String::new();
                rng.push_alphanumeric(&mut want, 32);
                want.push('@');
                want.push_str(domain);
                let got = IdGenerator::from_seed(seed).message_id(32, domain);
                assert_eq!(got.as_str(), want);
                assert_eq!(
                    matches!(got, ShortText::Inline { .. }),
                    want.len() <= SHORT_TEXT && want.is_ascii(),
                    "{want}"
                );
                // The generator is left where the writer leaves it.
                let mut after = IdGenerator::from_seed(seed);
                let _ = after.message_id(32, domain);
                assert_eq!(after.next_u64(), rng.next_u64());
            }
        }
    }

    #[test]
    fn seeded_generators_repeat_and_differ_by_seed() {
        let a = IdGenerator::from_seed(7).boundary();
        assert_eq!(a, IdGenerator::from_seed(7).boundary());
        assert_ne!(a, IdGenerator::from_seed(8).boundary());
        assert_eq!(a.len(), 40);
        assert!(a.starts_with("=_"));
    }

    #[test]
    fn per_message_generators_differ() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| IdGenerator::for_message().alphanumeric(24))
            .collect();
        assert_eq!(ids.len(), 1000);
        let mut g = IdGenerator::from_seed(5);
        let mut s = String::from("x");
        g.push_alphanumeric(&mut s, 25);
        assert_eq!(s[1..], IdGenerator::from_seed(5).alphanumeric(25));
    }

    /// The buffered writer draws and writes what one push per character
    /// did (seeded ids and boundaries stay the same).
    #[test]
    fn alphanumeric_matches_the_character_by_character_reference() {
        fn reference(g: &mut IdGenerator, len: usize) -> String {
            let mut s = String::new();
            let mut left = len;
            while left > 0 {
                // The draw as a fraction of 2^64: its k-th base-62 digit
                // is the integer part of `draw * 62^(k+1) / 2^64`, mod 62
                // (62^10 < 2^60, so the product fits 128 bits).
                let draw = u128::from(g.next_u64());
                for k in 0..10.min(left) {
                    let digit = ((draw * 62u128.pow(k as u32 + 1)) >> 64) % 62;
                    s.push(ALPHABET[digit as usize] as char);
                }
                left -= 10.min(left);
            }
            s
        }
        for len in 0..200 {
            let mut a = IdGenerator::from_seed(len as u64);
            let mut b = a.clone();
            let want = reference(&mut b, len);
            let mut c = a.clone();
            assert_eq!(a.alphanumeric(len), want, "{len}");
            assert_eq!(a.next_u64(), b.clone().next_u64(), "{len}");
            // The slice filler (boundaries and Message-IDs inline) too.
            let mut filled = vec![0u8; len];
            c.fill_alphanumeric(&mut filled);
            assert_eq!(filled, want.as_bytes(), "{len}");
            assert_eq!(c.next_u64(), b.next_u64(), "{len}");
        }
    }

    /// Every character comes up about as often as the others, in every
    /// position of a draw.
    #[test]
    fn characters_are_evenly_spread() {
        let mut g = IdGenerator::from_seed(7);
        let mut counts = [[0u32; 62]; 10];
        for _ in 0..6200 {
            let id = g.alphanumeric(10);
            for (k, c) in id.bytes().enumerate() {
                let i = ALPHABET.iter().position(|&a| a == c).expect("alphabet");
                counts[k][i] += 1;
            }
        }
        // 100 expected each (standard deviation ~10).
        for (k, row) in counts.iter().enumerate() {
            for (i, &n) in row.iter().enumerate() {
                assert!(
                    (50..=150).contains(&n),
                    "position {k}, {}: {n}",
                    ALPHABET[i] as char
                );
            }
        }
    }

    #[test]
    fn entropy_generators_differ() {
        let a = IdGenerator::from_entropy().alphanumeric(24);
        let b = IdGenerator::from_entropy().alphanumeric(24);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
