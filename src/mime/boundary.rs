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
        use std::cell::Cell;
        thread_local! {
            static STREAM: Cell<Option<IdGenerator>> = const { Cell::new(None) };
        }
        let mut stream = STREAM.take().unwrap_or_else(IdGenerator::from_entropy);
        let seed = stream.next_u64() ^ clock_nanos();
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
                    *slot = ALPHABET[(bits % 62) as usize];
                    bits /= 62;
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
                let mut bits = g.next_u64();
                for _ in 0..10.min(left) {
                    s.push(ALPHABET[(bits % 62) as usize] as char);
                    bits /= 62;
                }
                left -= 10.min(left);
            }
            s
        }
        for len in 0..200 {
            let mut a = IdGenerator::from_seed(len as u64);
            let mut b = a.clone();
            assert_eq!(a.alphanumeric(len), reference(&mut b, len), "{len}");
            assert_eq!(a.next_u64(), b.next_u64(), "{len}");
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
