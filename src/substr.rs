//! Substring search and replace without `str`'s two-way searcher, which the
//! wasm build would otherwise carry for six callers (the `.wasm` is ~1.3 KB
//! smaller gzipped). Same results as `str::contains` and `str::replace`:
//! the haystack and the pattern are both UTF-8, so a byte match of a
//! non-empty pattern starts and ends on character boundaries.

/// The byte offset of the first `needle` in `hay` at or after `from`.
fn find_from(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let n = needle.as_bytes();
    if n.is_empty() {
        return Some(from);
    }
    hay.as_bytes()
        .get(from..)?
        .windows(n.len())
        .position(|w| w == n)
        .map(|i| from + i)
}

/// `hay.contains(needle)`.
pub(crate) fn contains(hay: &str, needle: &str) -> bool {
    find_from(hay, needle, 0).is_some()
}

/// `hay.replace(from, to)`.
pub(crate) fn replace(hay: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(hay.len());
    if from.is_empty() {
        // As `str::replace`: `to` at every character boundary.
        for c in hay.chars() {
            out.push_str(to);
            out.push(c);
        }
        out.push_str(to);
        return out;
    }
    let mut last = 0;
    while let Some(at) = find_from(hay, from, last) {
        out.push_str(&hay[last..at]);
        out.push_str(to);
        last = at + from.len();
    }
    out.push_str(&hay[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_std() {
        let hays = [
            "",
            "a",
            "..",
            "a..b...c",
            "héllo wörld héllo",
            "aaaa",
            "xyz",
            "日本語の日本",
        ];
        let needles = [
            "", ".", "..", "...", "héllo", "aa", "a", "xyz!", "日本", "z",
        ];
        for h in hays {
            for n in needles {
                assert_eq!(contains(h, n), h.contains(n), "{h:?} {n:?}");
                for to in ["", "<redacted>", "b"] {
                    assert_eq!(replace(h, n, to), h.replace(n, to), "{h:?} {n:?} {to:?}");
                }
            }
        }
    }
}
