//! The message-content encoder: CRLF normalisation (bare CR and bare LF
//! become CRLF) and, for DATA, dot-stuffing (RFC 5321 §4.5.2) and the
//! terminating `.` line. Stateful across chunk boundaries and
//! allocation-free per byte: it copies runs of ordinary bytes at once.
//!
//! Because every line end it writes is CRLF and every line that starts
//! with `.` gets a second one, the only `CRLF . CRLF` in a DATA stream is
//! the one [`ContentEncoder::finish`] writes: SMTP smuggling is impossible.

use crate::encoding::text::crlf_into;

/// Encodes message content chunk by chunk.
#[derive(Clone, Debug)]
pub struct ContentEncoder {
    stuff_dots: bool,
    line_start: bool,
    after_cr: bool,
}

impl ContentEncoder {
    /// For DATA: normalise line ends and dot-stuff.
    pub fn data() -> ContentEncoder {
        ContentEncoder {
            stuff_dots: true,
            line_start: true,
            after_cr: false,
        }
    }

    /// For BDAT: normalise line ends only.
    pub fn bdat() -> ContentEncoder {
        ContentEncoder {
            stuff_dots: false,
            ..ContentEncoder::data()
        }
    }

    /// Encodes the next chunk, appending to `out`: through the block scan
    /// of `crlf_into` (src/encoding/text.rs), which copies the runs between bare CRs and LFs at
    /// once (a rendered message, CRLF throughout, in one copy per line that
    /// starts with a dot). A CR at the end of a chunk becomes CRLF there,
    /// and the LF that may start the next chunk is its own. (The same
    /// output as the line-by-line definition, `encode_runs`, in the tests.)
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let rest = match input.split_first() {
            None => return,
            Some((b'\n', tail)) if self.after_cr => tail,
            Some(_) => input,
        };
        self.after_cr = false;
        let Some(&last) = rest.last() else {
            return;
        };
        out.reserve(rest.len() + rest.len() / 64 + 4);
        let mut from = 0;
        if self.stuff_dots {
            // A dot that starts a line (after any CR or LF, each of which
            // ends one) gets a second one; `crlf_into` reads the octets
            // around its range, so a CR cut off before the dot is bare.
            for at in memchr::memchr_iter(b'.', rest) {
                let starts_line = match at.checked_sub(1) {
                    None => self.line_start,
                    Some(before) => matches!(rest[before], b'\r' | b'\n'),
                };
                if starts_line {
                    crlf_into(rest, from, at, out);
                    out.push(b'.');
                    from = at;
                }
            }
        }
        crlf_into(rest, from, rest.len(), out);
        self.after_cr = last == b'\r';
        self.line_start = last == b'\r' || last == b'\n';
    }

    /// Line by line: normalises line ends and, for DATA, stuffs dots (the
    /// definition `encode` is tested against).
    #[cfg(test)]
    fn encode_runs(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 64 + 4);
        let mut rest = input;
        while let Some((&first, _)) = rest.split_first() {
            if self.after_cr {
                self.after_cr = false;
                if first == b'\n' {
                    // The LF of a CRLF whose CR ended the previous run.
                    rest = &rest[1..];
                    continue;
                }
            }
            if self.line_start && self.stuff_dots && first == b'.' {
                out.push(b'.');
            }
            match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
                None => {
                    out.extend_from_slice(rest);
                    self.line_start = false;
                    return;
                }
                Some(p) => {
                    out.extend_from_slice(&rest[..p]);
                    out.extend_from_slice(b"\r\n");
                    self.line_start = true;
                    self.after_cr = rest[p] == b'\r';
                    rest = &rest[p + 1..];
                }
            }
        }
    }

    /// Ends the content: for DATA, a CRLF if the last line is unterminated,
    /// then `.` CRLF; for BDAT nothing.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.stuff_dots {
            if !self.line_start {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b".\r\n");
        }
        self.line_start = true;
        self.after_cr = false;
    }
}

/// The length `bytes` has once bare CR and bare LF become CRLF.
pub fn normalized_len(bytes: &[u8]) -> u64 {
    let mut n = bytes.len() as u64;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i += 1,
            b'\r' | b'\n' => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(chunks: &[&[u8]]) -> Vec<u8> {
        let mut e = ContentEncoder::data();
        let mut out = Vec::new();
        for c in chunks {
            e.encode(c, &mut out);
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn stuffing_and_line_ends() {
        assert_eq!(data(&[b""]), b".\r\n");
        assert_eq!(data(&[b"."]), b"..\r\n.\r\n");
        assert_eq!(data(&[b"a\n.\nb"]), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(data(&[b"a\r.\rb\r\n"]), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(data(&[b".\r\n"]), b"..\r\n.\r\n");
        assert_eq!(data(&[b"a\r\n\r\n.."]), b"a\r\n\r\n...\r\n.\r\n");
    }

    #[test]
    fn chunk_boundaries() {
        assert_eq!(data(&[b"a\r", b"\n.b"]), data(&[b"a\r\n.b"]));
        assert_eq!(data(&[b"a\r", b"\r\n"]), b"a\r\n\r\n.\r\n");
        assert_eq!(data(&[b"a\n", b".", b"\n"]), b"a\r\n..\r\n.\r\n");
    }

    /// The block-scan path gives what the line-by-line one gives, for DATA
    /// and BDAT, for any content split anywhere (bare CRs and LFs, CRLFs
    /// cut in two, dots at line starts and elsewhere).
    #[test]
    fn block_scan_matches_runs() {
        for make in [ContentEncoder::data, ContentEncoder::bdat] {
            block_scan_matches_runs_for(make);
        }
    }

    fn block_scan_matches_runs_for(make: fn() -> ContentEncoder) {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let len = next(200) as usize;
            let content: Vec<u8> = (0..len)
                .map(|_| match next(8) {
                    0 => b'\r',
                    1 => b'\n',
                    2 => b'.',
                    _ => b'a' + next(26) as u8,
                })
                .collect();
            let mut cuts: Vec<usize> = (0..next(5))
                .map(|_| next(len as u64 + 1) as usize)
                .collect();
            cuts.sort_unstable();
            let (mut fast, mut slow) = (make(), make());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut from = 0;
            for &cut in cuts.iter().chain([len].iter()) {
                fast.encode(&content[from..cut], &mut a);
                slow.encode_runs(&content[from..cut], &mut b);
                assert_eq!(
                    (fast.after_cr, fast.line_start),
                    (slow.after_cr, slow.line_start)
                );
                from = cut;
            }
            fast.finish(&mut a);
            slow.finish(&mut b);
            assert_eq!(a, b, "content {content:?} cut at {cuts:?}");
            if !fast.stuff_dots {
                assert_eq!(a.len() as u64, normalized_len(&content));
            }
        }
    }

    #[test]
    fn bdat_and_len() {
        let mut e = ContentEncoder::bdat();
        let mut out = Vec::new();
        e.encode(b".a\nb\r", &mut out);
        e.encode(b"\nc", &mut out);
        e.finish(&mut out);
        assert_eq!(out, b".a\r\nb\r\nc");
        assert_eq!(normalized_len(b".a\nb\r\nc\r"), out.len() as u64 + 2);
    }
}
