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
/// is written after `": "` whatever its own whitespace, unless it would pass
/// 78 columns there but fits on a line of its own: then the header's first
/// line is `Name:` alone and the token starts the next (`Name:` CRLF SP
/// token; a header name so long that not even a short encoded word fits
/// after it).
///
/// Some parsers (`mail-parser`) collapse all whitespace around a fold into
/// one space, against RFC 5322's unfolding, so a longer run of whitespace is
/// a fold point only when the line would otherwise pass 998 octets; the fold
/// then leaves one whitespace character after the CRLF (more when the line
/// before has no room for them) and the rest at the end of the line before,
/// which RFC 5322 unfolding reads back exactly.
/// Fails, writing nothing, when a line would still exceed 998 octets.
pub fn write_header(out: &mut Vec<u8>, name: &str, tokens: &[Token]) -> Result<(), HeaderError> {
    let mut folder = Folder::new(out, name);
    for token in tokens {
        folder.token(&token.space, &[&token.text]);
    }
    folder.finish()
}

/// [`write_header`] one token at a time, without collecting the tokens
/// first: the composer's header writer.
pub(crate) struct Folder<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    name_len: usize,
    line_len: usize,
    longest: usize,
    first: bool,
}

impl<'o> Folder<'o> {
    /// Starts `Name:`.
    pub(crate) fn new(out: &'o mut Vec<u8>, name: &str) -> Self {
        let start = out.len();
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        Folder {
            out,
            start,
            name_len: name.len(),
            line_len: name.len() + 1,
            longest: name.len() + 1,
            first: true,
        }
    }

    /// Writes a token: `space` (spaces and tabs) then the text made of
    /// `parts`, folding before it as [`write_header`] does.
    pub(crate) fn token(&mut self, space: &str, parts: &[&str]) {
        let text_len: usize = parts.iter().map(|p| p.len()).sum();
        let first = std::mem::replace(&mut self.first, false);
        let space = if first { " " } else { space };
        let added = space.len() + text_len;
        let past_soft = self.line_len + added > SOFT_LINE_LEN;
        // A single space is the fold point every reader agrees on; a longer
        // run is used only to stay within 998 octets.
        let foldable = space == " " || (!space.is_empty() && self.line_len + added > MAX_LINE_LEN);
        if first && past_soft && added <= SOFT_LINE_LEN {
            // Too long for the name's line, short enough for its own.
            self.out.extend_from_slice(b"\r\n ");
            self.line_len = added;
        } else if !first && past_soft && foldable {
            // Spaces and tabs are one byte each: split before the last one,
            // or earlier when the rest of the run would pass 998 octets on
            // this line (unfolding reads either split back exactly).
            let keep = (space.len() - 1).min(MAX_LINE_LEN.saturating_sub(self.line_len));
            let (kept, carried) = space.split_at(keep);
            self.out.extend_from_slice(kept.as_bytes());
            self.longest = self.longest.max(self.line_len + kept.len());
            self.out.extend_from_slice(b"\r\n");
            self.out.extend_from_slice(carried.as_bytes());
            self.line_len = carried.len() + text_len;
        } else {
            self.out.extend_from_slice(space.as_bytes());
            self.line_len += added;
        }
        for part in parts {
            self.out.extend_from_slice(part.as_bytes());
        }
        self.longest = self.longest.max(self.line_len);
    }

    /// Ends the header with CRLF; on a line over 998 octets, removes the
    /// whole header from the output and fails.
    pub(crate) fn finish(self) -> Result<(), HeaderError> {
        self.out.extend_from_slice(b"\r\n");
        if self.longest > MAX_LINE_LEN {
            let name = &self.out[self.start..self.start + self.name_len];
            let field = String::from_utf8_lossy(name).into_owned();
            self.out.truncate(self.start);
            return Err(HeaderError::LineTooLong { field });
        }
        Ok(())
    }
}

/// Where header tokens go: a list of [`Token`]s, or straight into a header
/// being folded ([`PendingFolder`]). A token's text may still grow
/// ([`TokenSink::glue`]) until the next token starts.
pub(crate) trait TokenSink {
    /// Starts a token preceded by `space`; `write` appends its text.
    fn token_with(&mut self, space: &str, write: impl FnOnce(&mut String));

    /// Starts a token with the text `text`.
    fn token(&mut self, space: &str, text: &str) {
        self.token_with(space, |buf| buf.push_str(text));
    }

    /// Appends `text` to the last token (no fold point in between). Does
    /// nothing before the first token.
    fn glue(&mut self, text: &str);

    /// When the next token is the header's first, written on the header's
    /// line right after `Name: `, the column its text starts at; `None`
    /// otherwise, or when the sink does not know the header (a token list).
    /// The RFC 2047 encoder sizes a first encoded word by it.
    fn lead(&self) -> Option<usize> {
        None
    }
}

impl TokenSink for Vec<Token> {
    fn token_with(&mut self, space: &str, write: impl FnOnce(&mut String)) {
        let mut text = String::new();
        write(&mut text);
        self.push(Token {
            space: space.to_owned(),
            text,
        });
    }

    fn glue(&mut self, text: &str) {
        if let Some(last) = self.last_mut() {
            last.text.push_str(text);
        }
    }
}

/// The reusable buffer of [`PendingFolder`]: the token being written.
#[derive(Default)]
pub(crate) struct TokenBuffers {
    /// The current token: its whitespace, then its text.
    token: String,
}

/// A [`TokenSink`] that writes a header as [`write_header`] would write the
/// same tokens, without a token list: each token is held only until the
/// next one starts (its text may still grow, [`TokenSink::glue`]), then
/// folded into the output. The buffer holds one token (an encoded word is
/// at most 75 octets), not the header.
pub(crate) struct PendingFolder<'o, 'b> {
    folder: Folder<'o>,
    buffers: &'b mut TokenBuffers,
    /// Where the held token's text starts in `buffers.token` (none held).
    text_at: Option<usize>,
    /// Set by [`PendingFolder::finish`]; a folder dropped unfinished (its
    /// caller failed) takes its partial header back out of the output.
    done: bool,
}

impl<'o, 'b> PendingFolder<'o, 'b> {
    /// Starts the header `name`.
    pub(crate) fn new(out: &'o mut Vec<u8>, name: &'o str, buffers: &'b mut TokenBuffers) -> Self {
        buffers.token.clear();
        // Room for an encoded word or a usual address at once (a no-op
        // once the message's first folded header has run).
        buffers.token.reserve(80);
        PendingFolder {
            folder: Folder::new(out, name),
            buffers,
            text_at: None,
            done: false,
        }
    }

    /// Folds the held token into the output.
    fn flush(&mut self) {
        if let Some(at) = self.text_at.take() {
            let token = &self.buffers.token;
            self.folder.token(&token[..at], &[&token[at..]]);
            self.buffers.token.clear();
        }
    }

    /// Writes the header (see [`Folder::finish`]).
    pub(crate) fn finish(mut self) -> Result<(), HeaderError> {
        self.flush();
        self.done = true;
        let folder = Folder {
            out: &mut *self.folder.out,
            ..self.folder
        };
        folder.finish()
    }
}

impl Drop for PendingFolder<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            self.folder.out.truncate(self.folder.start);
        }
    }
}

impl TokenSink for PendingFolder<'_, '_> {
    fn token_with(&mut self, space: &str, write: impl FnOnce(&mut String)) {
        self.flush();
        let token = &mut self.buffers.token;
        token.push_str(space);
        self.text_at = Some(token.len());
        write(token);
    }

    fn glue(&mut self, text: &str) {
        if self.text_at.is_some() {
            self.buffers.token.push_str(text);
        }
    }

    fn lead(&self) -> Option<usize> {
        (self.folder.first && self.text_at.is_none()).then_some(self.folder.name_len + 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Token> {
        text.split(' ').map(Token::spaced).collect()
    }

    /// The token-by-token writer gives what `write_header` gives for the
    /// same tokens, folded or not.
    #[test]
    fn pending_folder_matches_write_header() {
        let mut buffers = TokenBuffers::default();
        let spaces = ["", " ", "  ", "\t", " \t"];
        let mut x: u64 = 7;
        for round in 0..2000 {
            let mut tokens = Vec::new();
            for k in 0..(round % 40) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let len = 1 + (x >> 40) as usize % if round % 7 == 0 { 300 } else { 20 };
                tokens.push(Token {
                    space: spaces[(x >> 20) as usize % spaces.len()].into(),
                    text: "w".repeat(len) + &k.to_string(),
                });
            }
            let mut want = b"x".to_vec();
            let a = write_header(&mut want, "Subject", &tokens);
            let mut got = b"x".to_vec();
            let mut folder = PendingFolder::new(&mut got, "Subject", &mut buffers);
            for (k, t) in tokens.iter().enumerate() {
                // Some tokens arrive in pieces: the text grows by glue.
                let cut = if k % 3 == 1 {
                    t.text.len() / 2
                } else {
                    t.text.len()
                };
                folder.token(&t.space, &t.text[..cut]);
                folder.glue(&t.text[cut..]);
            }
            let b = folder.finish();
            assert_eq!(a, b);
            assert_eq!(got, want, "{tokens:?}");
        }
    }

    /// A header given up half-way (its caller failed) leaves the output
    /// as it was.
    #[test]
    fn an_unfinished_pending_folder_writes_nothing() {
        let mut buffers = TokenBuffers::default();
        let mut out = b"Before: x\r\n".to_vec();
        let mut folder = PendingFolder::new(&mut out, "Subject", &mut buffers);
        for _ in 0..30 {
            folder.token(" ", "word");
        }
        drop(folder);
        assert_eq!(out, b"Before: x\r\n");
        // Glue before any token is dropped, as no token holds it.
        let mut folder = PendingFolder::new(&mut out, "Subject", &mut buffers);
        folder.glue("lost");
        folder.token("", "kept");
        folder.finish().unwrap();
        assert_eq!(out, b"Before: x\r\nSubject: kept\r\n");
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
