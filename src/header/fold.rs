//! Folding: a header's tokens become lines of at most [`SOFT_LINE_LEN`]
//! columns where the tokens allow it, and never more than [`MAX_LINE_LEN`].

use super::HeaderError;
use crate::encoding::Token;

/// Where lines are folded when possible (RFC 5322 §2.1.1's 78 characters).
pub const SOFT_LINE_LEN: usize = 78;
/// The hard limit for a line, excluding CRLF (RFC 5322 §2.1.1).
pub const MAX_LINE_LEN: usize = 998;

/// Writes `Name: tokens…\r\n` to `out`, folding before a token whose
/// whitespace is a single space whenever the line would pass 78 columns
/// (parsers such as `mail-parser` collapse other whitespace at a fold, so
/// only a lone space is a safe place). The first token is written after
/// `": "` whatever its own whitespace. Fails, writing nothing, when a line
/// would exceed 998 octets.
pub fn write_header(out: &mut Vec<u8>, name: &str, tokens: &[Token]) -> Result<(), HeaderError> {
    let start = out.len();
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    let mut line_len = name.len() + 1;
    let mut longest = line_len;
    for (i, token) in tokens.iter().enumerate() {
        let space = if i == 0 { " " } else { token.space.as_str() };
        let added = space.len() + token.text.len();
        if i > 0 && space == " " && line_len + added > SOFT_LINE_LEN {
            out.extend_from_slice(b"\r\n");
            line_len = 0;
        }
        out.extend_from_slice(space.as_bytes());
        out.extend_from_slice(token.text.as_bytes());
        line_len += added;
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
