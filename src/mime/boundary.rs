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
        while s.len() < len {
            let mut bits = self.next_u64();
            for _ in 0..10 {
                if s.len() == len {
                    break;
                }
                s.push(ALPHABET[(bits % 62) as usize] as char);
                bits /= 62;
            }
        }
        s
    }

    /// A multipart boundary: `=_` followed by random characters (40 in all,
    /// well under RFC 2046's 70).
    pub fn boundary(&mut self) -> String {
        format!("=_mg_{}", self.alphanumeric(35))
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
    fn entropy_generators_differ() {
        let a = IdGenerator::from_entropy().alphanumeric(24);
        let b = IdGenerator::from_entropy().alphanumeric(24);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
