//! Whether a string is an IPv4 or IPv6 address as `str::parse::<Ipv4Addr>`
//! and `str::parse::<Ipv6Addr>` accept it: the address literal checks only
//! need the yes or no, and std's parser (with its address values and error
//! kinds) is ~0.7 KB gzipped of the wasm build. The same grammar, step by step
//! as `core::net::parser` reads it (a test compares the two).

/// A cursor over the bytes; each `read_*` leaves it where it was on failure.
struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn atomically(&mut self, f: impl FnOnce(&mut Self) -> bool) -> bool {
        let at = self.at;
        let ok = f(self);
        if !ok {
            self.at = at;
        }
        ok
    }

    fn given(&mut self, c: u8) -> bool {
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// A number of at most `max` digits in `radix` (10 or 16), below
    /// `limit`; with `zero_prefix` false, no leading zero but in `0` itself.
    fn number(&mut self, radix: u32, max: usize, limit: u32, zero_prefix: bool) -> bool {
        self.atomically(|p| {
            let lead_zero = p.s.get(p.at) == Some(&b'0');
            let mut value = 0u32;
            let mut digits = 0;
            while let Some(d) = p.s.get(p.at).and_then(|&b| (b as char).to_digit(radix)) {
                p.at += 1;
                value = value * radix + d;
                digits += 1;
                if digits > max || value >= limit {
                    return false;
                }
            }
            digits > 0 && (zero_prefix || !lead_zero || digits == 1)
        })
    }

    /// `sep` (but before the first item) and then `inner`, or nothing.
    fn separated(&mut self, sep: u8, index: usize, inner: impl FnOnce(&mut Self) -> bool) -> bool {
        self.atomically(|p| (index == 0 || p.given(sep)) && inner(p))
    }

    fn ipv4(&mut self) -> bool {
        self.atomically(|p| (0..4).all(|i| p.separated(b'.', i, |p| p.number(10, 3, 256, false))))
    }

    /// Up to `limit` groups (the last two may be an IPv4 address): how many
    /// 16-bit groups were read, and whether an IPv4 address ended them.
    fn groups(&mut self, limit: usize) -> (usize, bool) {
        for i in 0..limit {
            if i + 1 < limit && self.separated(b':', i, Self::ipv4) {
                return (i + 2, true);
            }
            if !self.separated(b':', i, |p| p.number(16, 4, 0x1_0000, true)) {
                return (i, false);
            }
        }
        (limit, false)
    }

    fn ipv6(&mut self) -> bool {
        self.atomically(|p| {
            let (head, head_ipv4) = p.groups(8);
            if head == 8 {
                return true;
            }
            if head_ipv4 || !p.given(b':') || !p.given(b':') {
                return false;
            }
            // `::` stands for at least one group.
            p.groups(8 - (head + 1));
            true
        })
    }
}

/// `s.parse::<std::net::Ipv4Addr>().is_ok()`.
pub(crate) fn is_ipv4(s: &str) -> bool {
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
    };
    s.len() <= 15 && p.ipv4() && p.at == s.len()
}

/// `s.parse::<std::net::Ipv6Addr>().is_ok()`.
pub(crate) fn is_ipv6(s: &str) -> bool {
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
    };
    p.ipv6() && p.at == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn check(s: &str) {
        assert_eq!(is_ipv4(s), s.parse::<Ipv4Addr>().is_ok(), "v4 {s:?}");
        assert_eq!(is_ipv6(s), s.parse::<Ipv6Addr>().is_ok(), "v6 {s:?}");
    }

    #[test]
    fn as_std() {
        for s in [
            "",
            "0.0.0.0",
            "1.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "0.00.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1234.1.1.1",
            "1.2.3.4 ",
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7::",
            "::1:2:3:4:5:6:7",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:1.2.3.4",
            "::1.2.3.4",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6::1.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "12345::",
            "fFfF::",
            "g::",
            ":::",
            "1:::2",
            "::1::",
            "1.2.3.4::",
            "0000:0:00:000::",
            "00000::",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::01.2.3.4",
            "::1.2.3.04",
            "::256.0.0.1",
            "١.2.3.4",
            "+1.2.3.4",
            "1.2.3.-4",
        ] {
            check(s);
        }
        // Every string of up to 6 characters from a small alphabet, then
        // longer ones from a fixed-seed generator.
        let alphabet = b"0129af:.";
        let mut s = Vec::new();
        fn all(s: &mut Vec<u8>, alphabet: &[u8], depth: usize) {
            check(std::str::from_utf8(s).unwrap());
            if depth == 0 {
                return;
            }
            for &c in alphabet {
                s.push(c);
                all(s, alphabet, depth - 1);
                s.pop();
            }
        }
        all(&mut s, alphabet, 6);
        let alphabet = b"0123456789abcdefABCDEFg:.:::..";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 42) as usize;
            let text: String = (0..len)
                .map(|i| {
                    alphabet[((seed >> (i % 8 * 6)) as usize + i * 7) % alphabet.len()] as char
                })
                .collect();
            check(&text);
        }
        // Token strings, where valid addresses are common.
        let tokens = [
            "0", "1", "9", "10", "99", "255", "256", "01", "00", "abc", "ffff", "FFFF", "12345",
            "1.2.3.4", "0.0.0.0", ":", "::", ".", ":::",
        ];
        let (mut v4, mut v6) = (0, 0);
        for _ in 0..300_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = 1 + (seed % 12) as usize;
            let text: String = (0..n)
                .map(|i| tokens[((seed >> (i * 5)) as usize) % tokens.len()])
                .collect();
            check(&text);
            v4 += usize::from(is_ipv4(&text));
            v6 += usize::from(is_ipv6(&text));
        }
        assert!(v4 > 100 && v6 > 1000, "{v4} {v6}");
    }
}
