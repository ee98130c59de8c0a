//! Folding: a header's tokens become lines of at most [`SOFT_LINE_LEN`]
//! columns where the tokens allow it, and never more than [`MAX_LINE_LEN`].

use super::HeaderError;
use crate::encoding::Token;

/// Where lines are folded when possible (RFC 5322 §2.1.1's 78 characters).
pub const SOFT_LINE_LEN: usize = 78;
/// The hard limit for a line, excluding CRLF (RFC 5322 §2.1.1).
pub const MAX_LINE_LEN: usize = 998;

/// Writes `Name: tokens…\r\n` to `out`, folding before a token preceded by
/// a single space whenever the line would pass 78 columns. The first token
/// is written after `": "` whatever its own whitespace.
///
/// Some parsers (`mail-parser`) collapse all whitespace around a fold into
/// one space, against RFC 5322's unfolding, so a longer run of whitespace is
/// a fold point only when the line would otherwise pass 998 octets; the fold
/// then leaves one whitespace character after the CRLF (more when the line
/// before has no room for them) and the rest at the end of the line before,
/// which RFC 5322 unfolding reads back exactly.
/// Fails, writing nothing, when a line would still exceed 998 octets.
pub fn write_header(out: &mut Vec<u8>, name: &str, tokens: &[Token]) -> Result<(), HeaderError> {
    let start = out.len();
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    let mut line_len = name.len() + 1;
    let mut longest = line_len;
    for (i, token) in tokens.iter().enumerate() {
        let space = if i == 0 { " " } else { token.space.as_str() };
        let added = space.len() + token.text.len();
        let past_soft = line_len + added > SOFT_LINE_LEN;
        // A single space is the fold point every reader agrees on; a longer
        // run is used only to stay within 998 octets.
        let foldable = space == " " || (!space.is_empty() && line_len + added > MAX_LINE_LEN);
        if i > 0 && past_soft && foldable {
            // Spaces and tabs are one byte each: split before the last one,
            // or earlier when the rest of the run would pass 998 octets on
            // this line (unfolding reads either split back exactly).
            let keep = (space.len() - 1).min(MAX_LINE_LEN.saturating_sub(line_len));
            let (kept, carried) = space.split_at(keep);
            out.extend_from_slice(kept.as_bytes());
            longest = longest.max(line_len + kept.len());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(carried.as_bytes());
            out.extend_from_slice(token.text.as_bytes());
            line_len = carried.len() + token.text.len();
        } else {
            out.extend_from_slice(space.as_bytes());
            out.extend_from_slice(token.text.as_bytes());
            line_len += added;
        }
        longest = longest.max(line_len);
    }
    out.extend_from_slice(b"\r\n");
    if longest > MAX_LINE_LEN {
        out.truncate(start);
        return Err(HeaderError::LineTooLong {
            field: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Token> {
        text.split(' ').map(Token::spaced).collect()
    }

    #[test]
    fn short_values_stay_on_one_line() {
        let mut out = Vec::new();
        write_header(&mut out, "Subject", &words("hello world")).unwrap();
        assert_eq!(out, b"Subject: hello world\r\n");
    }

    #[test]
    fn long_values_fold_at_78_and_unfold_back() {
        let text = "lorem ipsum dolor sit amet ".repeat(10);
        let text = text.trim_end();
        let mut out = Vec::new();
        write_header(&mut out, "Subject", &words(text)).unwrap();
        let s = String::from_utf8(out).unwrap();
        for line in s.split("\r\n") {
            assert!(line.len() <= SOFT_LINE_LEN, "{line:?}");
        }
        let unfolded = s.trim_end_matches("\r\n").replace("\r\n", "");
        assert_eq!(unfolded, format!("Subject: {text}"));
    }

    #[test]
    fn runs_of_whitespace_fold_keeping_every_character() {
        let text = "word  ".repeat(400);
        let text = text.trim_end();
        let tokens: Vec<Token> = text
            .split("  ")
            .enumerate()
            .map(|(i, w)| Token {
                space: if i == 0 { String::new() } else { "  ".into() },
                text: w.into(),
            })
            .collect();
        let mut out = Vec::new();
        write_header(&mut out, "Subject", &tokens).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.split("\r\n").all(|l| l.len() <= MAX_LINE_LEN), "{s}");
        assert!(s.matches("\r\n").count() > 2, "{s}");
        let unfolded = s.trim_end_matches("\r\n").replace("\r\n", "");
        assert_eq!(unfolded, format!("Subject: {text}"));
    }

    /// Found by the `header` fuzz target: a run of several tabs was
    /// folded only once the line would pass 998 octets, and all but one of
    /// its characters were left on that line, which could then pass 998
    /// itself: a subject of short words was refused as unfoldable.
    #[test]
    fn whitespace_runs_fold_whatever_the_alignment() {
        for lead in 1..16 {
            let mut tokens = vec![Token::glued("x".repeat(lead))];
            for _ in 0..400 {
                tokens.push(Token {
                    space: "\t\t\t\t".into(),
                    text: "abc".into(),
                });
            }
            let mut out = Vec::new();
            write_header(&mut out, "Subject", &tokens)
                .unwrap_or_else(|e| panic!("lead {lead}: {e:?}"));
            let s = String::from_utf8(out).unwrap();
            assert!(
                s.split("\r\n").all(|l| l.len() <= MAX_LINE_LEN),
                "lead {lead}"
            );
            let want: String = tokens
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{}{}", if i == 0 { " " } else { &t.space }, t.text))
                .collect();
            let unfolded = s.trim_end_matches("\r\n").replace("\r\n", "");
            assert_eq!(unfolded, format!("Subject:{want}"), "lead {lead}");
        }
    }

    #[test]
    fn glued_tokens_never_fold_and_overlong_lines_fail() {
        let mut tokens = vec![Token::spaced("a".repeat(70))];
        tokens.push(Token::glued("b".repeat(20)));
        let mut out = Vec::new();
        write_header(&mut out, "X", &tokens).unwrap();
        assert!(!out[..out.len() - 2].contains(&b'\n'));

        let mut out = b"kept".to_vec();
        let err = write_header(&mut out, "X", &[Token::spaced("c".repeat(1000))]);
        assert!(matches!(err, Err(HeaderError::LineTooLong { .. })));
        assert_eq!(out, b"kept");
    }
}
