//! User input shown in error messages, bounded: a 1 MB subject or a list of
//! 100,000 recipients must not make a 1 MB error message, and a CR or LF in
//! the input must not start a new line in a log.

use std::fmt;

/// How many characters of a value an error message shows.
const MAX_CHARS: usize = 80;

/// Displays a value as a quoted, escaped string (`{:?}`: CR, LF and other
/// controls come out as `\r`, `\n`, `\u{0}`), cut after [`MAX_CHARS`]
/// characters with the whole length in bytes.
pub(crate) struct Excerpt<'a>(pub(crate) &'a str);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(f, "{:?}… ({} bytes)", &self.0[..cut], self.0.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Excerpt;

    #[test]
    fn short_values_are_quoted_and_long_ones_cut() {
        assert_eq!(Excerpt("a\r\nb").to_string(), "\"a\\r\\nb\"");
        let long = "é".repeat(100_000);
        let shown = Excerpt(&long).to_string();
        assert!(shown.len() < 200, "{shown}");
        assert!(shown.ends_with("… (200000 bytes)"), "{shown}");
    }
}
