//! Charsets for mail text, backed by the WHATWG Encoding Standard
//! (`encoding_rs`), with real transcoding that refuses to substitute.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, EncoderResult, Encoding};

use super::EncodingError;

/// A charset usable in mail: any WHATWG encoding except UTF-16LE/BE,
/// `replacement` and `x-user-defined`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Charset(&'static Encoding);

impl Default for Charset {
    fn default() -> Self {
        Self::UTF_8
    }
}

impl Charset {
    /// UTF-8.
    pub const UTF_8: Charset = Charset(encoding_rs::UTF_8);

    /// Looks up a charset by any WHATWG label (surrounding whitespace and
    /// case are ignored), e.g. `utf8`, `latin1`, `sjis`, `iso-2022-jp`.
    ///
    /// Note that, as in browsers, `latin1` / `iso-8859-1` / `us-ascii` name
    /// `windows-1252`. Unknown labels give [`EncodingError::UnknownCharset`];
    /// UTF-16, `replacement` (which also covers `iso-2022-kr`, `hz-gb-2312`)
    /// and `x-user-defined` give [`EncodingError::UnsupportedCharset`].
    pub fn from_label(label: &str) -> Result<Charset, EncodingError> {
        let trimmed = label.trim();
        match Encoding::for_label_no_replacement(trimmed.as_bytes()) {
            Some(enc) => {
                if enc == encoding_rs::UTF_16LE
                    || enc == encoding_rs::UTF_16BE
                    || enc == encoding_rs::X_USER_DEFINED
                {
                    Err(EncodingError::UnsupportedCharset(mime_name(enc)))
                } else {
                    Ok(Charset(enc))
                }
            }
            None => match Encoding::for_label(trimmed.as_bytes()) {
                // `for_label_no_replacement` maps these labels to None.
                Some(enc) => Err(EncodingError::UnsupportedCharset(mime_name(enc))),
                None => Err(EncodingError::UnknownCharset(label.to_owned())),
            },
        }
    }

    /// The charset's name for MIME headers: lowercase, IANA style, e.g.
    /// `utf-8`, `iso-2022-jp`, `shift_jis`, `windows-1252`.
    pub fn name(self) -> &'static str {
        mime_name(self.0)
    }

    /// Whether this is UTF-8.
    pub fn is_utf8(self) -> bool {
        self.0 == encoding_rs::UTF_8
    }

    /// Whether ASCII text encodes to the same bytes and every ASCII byte in
    /// encoded text stands for itself (false only for ISO-2022-JP here).
    pub fn is_ascii_compatible(self) -> bool {
        self.0.is_ascii_compatible()
    }

    /// Whether the encoder carries state between characters (ISO-2022-JP).
    pub(crate) fn is_stateful(self) -> bool {
        self.0 == encoding_rs::ISO_2022_JP
    }

    /// The underlying `encoding_rs` encoding.
    pub fn encoding(self) -> &'static Encoding {
        self.0
    }

    /// Transcodes `text` into this charset.
    ///
    /// Borrows for UTF-8 and for ASCII-only text. A character the charset
    /// cannot represent gives [`EncodingError::Unmappable`] naming the first
    /// such character; nothing is ever substituted.
    pub fn encode(self, text: &str) -> Result<Cow<'_, [u8]>, EncodingError> {
        // ISO-2022-JP starts and ends in ASCII state, so ASCII text is
        // unchanged there too, but for ESC, SO and SI, which it cannot
        // carry (they would switch a reader's state).
        let shifts = self.is_stateful() && text.contains(['\u{1b}', '\u{e}', '\u{f}']);
        if self.is_utf8() || (text.is_ascii() && !shifts) {
            return Ok(Cow::Borrowed(text.as_bytes()));
        }
        let mut out = Vec::new();
        self.encode_into(text, &mut out)?;
        Ok(Cow::Owned(out))
    }

    /// Transcodes `text`, appending to `out` (always transcodes, even ASCII).
    /// On error `out` may hold a partial result.
    ///
    /// A character the WHATWG encoder writes as another one's bytes (in
    /// Shift_JIS and EUC-JP `¥` as `\` and `‾` as `~`; in those and
    /// ISO-2022-JP `−` as `－`; in ISO-2022-JP half-width katakana as
    /// full-width) is unmappable too: the written bytes are decoded back,
    /// and the first character that does not come back is named.
    pub fn encode_into(self, text: &str, out: &mut Vec<u8>) -> Result<(), EncodingError> {
        if self.is_utf8() {
            out.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        let start = out.len();
        // On an unmappable character, a changed one before it comes first.
        let (done, unmappable) = match self.encode_raw(text, out) {
            Ok(()) => (text, None),
            Err((before, character)) => (before, Some(character)),
        };
        let encoded = out.get(start..).unwrap_or_default();
        match self.first_changed(done, encoded).or(unmappable) {
            None => Ok(()),
            Some(character) => Err(EncodingError::Unmappable {
                charset: self.name(),
                character,
            }),
        }
    }

    /// The first character of `text` that `encoded` (its encoding in this
    /// charset) does not decode back to, if any: the WHATWG encoders map a
    /// few characters onto others' bytes without reporting them.
    pub(crate) fn first_changed(self, text: &str, encoded: &[u8]) -> Option<char> {
        // The character of `text` that starts at or before byte `at`.
        let char_at = |at: usize| {
            let mut i = at.min(text.len());
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.get(i..)
                .and_then(|t| t.chars().next())
                .or_else(|| text.chars().next_back())
        };
        let mut decoder = self.0.new_decoder_without_bom_handling();
        let mut buf = [0u8; 1024];
        let mut input = encoded;
        let mut pos = 0usize;
        loop {
            let (result, read, written) =
                decoder.decode_to_utf8_without_replacement(input, &mut buf, true);
            input = input.get(read..).unwrap_or_default();
            let got = buf.get(..written).unwrap_or_default();
            let want = text.as_bytes().get(pos..).unwrap_or_default();
            if let Some(k) = got.iter().zip(want).position(|(a, b)| a != b) {
                return char_at(pos + k);
            }
            if got.len() > want.len() {
                return char_at(text.len());
            }
            pos += written;
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(..) => return char_at(pos),
            }
        }
        if pos < text.len() {
            return char_at(pos);
        }
        None
    }

    /// [`Charset::encode_into`] without the round-trip check (non-UTF-8).
    /// On an unmappable character, gives the text before it and the
    /// character (`out` then holds the encoding of that text).
    fn encode_raw<'t>(self, text: &'t str, out: &mut Vec<u8>) -> Result<(), (&'t str, char)> {
        let mut encoder = self.0.new_encoder();
        let guess = encoder
            .max_buffer_length_from_utf8_without_replacement(text.len())
            .unwrap_or(text.len().saturating_mul(2));
        out.reserve(guess);
        let mut done = 0usize;
        loop {
            let rest = text.get(done..).unwrap_or("");
            let (result, read) =
                encoder.encode_from_utf8_to_vec_without_replacement(rest, out, true);
            done += read;
            match result {
                EncoderResult::InputEmpty => return Ok(()),
                EncoderResult::OutputFull => out.reserve(rest.len().max(16) * 2 + 16),
                EncoderResult::Unmappable(reported) => {
                    // The unmappable character is the last one read; the
                    // ISO-2022-JP encoder reports ESC, SO and SI as U+FFFD
                    // (WHATWG), which the text may not even hold.
                    let read_so_far = text.get(..done).unwrap_or("");
                    let character = read_so_far.chars().next_back().unwrap_or(reported);
                    let before = read_so_far
                        .get(..read_so_far.len() - character.len_utf8())
                        .unwrap_or("");
                    return Err((before, character));
                }
            }
        }
    }
}

impl std::fmt::Display for Charset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn mime_name(enc: &'static Encoding) -> &'static str {
    match enc.name() {
        "Big5" => "big5",
        "EUC-JP" => "euc-jp",
        "EUC-KR" => "euc-kr",
        "GBK" => "gbk",
        "IBM866" => "ibm866",
        "ISO-2022-JP" => "iso-2022-jp",
        "ISO-8859-10" => "iso-8859-10",
        "ISO-8859-13" => "iso-8859-13",
        "ISO-8859-14" => "iso-8859-14",
        "ISO-8859-15" => "iso-8859-15",
        "ISO-8859-16" => "iso-8859-16",
        "ISO-8859-2" => "iso-8859-2",
        "ISO-8859-3" => "iso-8859-3",
        "ISO-8859-4" => "iso-8859-4",
        "ISO-8859-5" => "iso-8859-5",
        "ISO-8859-6" => "iso-8859-6",
        "ISO-8859-7" => "iso-8859-7",
        "ISO-8859-8" => "iso-8859-8",
        "ISO-8859-8-I" => "iso-8859-8-i",
        "KOI8-R" => "koi8-r",
        "KOI8-U" => "koi8-u",
        "Shift_JIS" => "shift_jis",
        "UTF-16BE" => "utf-16be",
        "UTF-16LE" => "utf-16le",
        "UTF-8" => "utf-8",
        // Already lowercase: gb18030, macintosh, replacement, windows-125x,
        // windows-874, x-mac-cyrillic, x-user-defined.
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `header` fuzz target: ISO-2022-JP reports ESC, SO and
    /// SI as unmappable U+FFFD, so the error named a character the text
    /// did not hold; and ASCII text skipped the encoder, so ESC, SO and SI
    /// went out raw in ISO-2022-JP text (where they switch the reader's
    /// state) although the charset cannot carry them.
    #[test]
    fn unmappable_names_the_character_of_the_text() {
        let jp = Charset::from_label("iso-2022-jp").unwrap();
        for (text, bad) in [
            ("\u{e}", '\u{e}'),
            ("\u{3042}\u{f}x", '\u{f}'),
            ("a\u{1b}(B", '\u{1b}'),
            ("\u{3042}\u{20ac}", '\u{20ac}'),
        ] {
            let want = EncodingError::Unmappable {
                charset: "iso-2022-jp",
                character: bad,
            };
            assert_eq!(jp.encode(text).map(drop), Err(want.clone()), "{text:?}");
            let phrase = crate::encoding::rfc2047::encode_phrase(text, jp);
            assert_eq!(phrase.map(drop), Err(want), "{text:?}");
        }
    }

    /// Found by review: the WHATWG encoders write a few characters as
    /// another one's bytes without reporting them (Shift_JIS `−` as `－`,
    /// `‾` as `~`, `¥` as `\`; EUC-JP the same three; ISO-2022-JP half-width
    /// katakana as full-width and `−` as `－`): the text read back was not
    /// the text given. Each is unmappable, named, in bodies and in words.
    #[test]
    fn characters_written_as_others_are_unmappable() {
        let cases = [
            ("shift_jis", '\u{2212}'),
            ("shift_jis", '\u{203e}'),
            ("shift_jis", '\u{a5}'),
            ("euc-jp", '\u{a5}'),
            ("euc-jp", '\u{203e}'),
            ("euc-jp", '\u{2212}'),
            ("iso-2022-jp", '\u{ff61}'),
            ("iso-2022-jp", '\u{ff71}'),
            ("iso-2022-jp", '\u{ff9f}'),
            ("iso-2022-jp", '\u{2212}'),
        ];
        for (label, bad) in cases {
            let cs = Charset::from_label(label).unwrap();
            let want = EncodingError::Unmappable {
                charset: cs.name(),
                character: bad,
            };
            for text in [
                format!("{bad}"),
                format!("ab{bad}cd"),
                format!("日本{bad}語"),
                format!("{}{bad}", "日本語".repeat(400)),
            ] {
                assert_eq!(
                    cs.encode(&text).map(drop),
                    Err(want.clone()),
                    "{label} {text:?}"
                );
                let phrase = crate::encoding::rfc2047::encode_phrase(&text, cs);
                assert_eq!(phrase.map(drop), Err(want.clone()), "{label} {text:?}");
            }
            // The first such character is named, before a later one.
            let text = format!("x{bad}😀");
            assert_eq!(cs.encode(&text).map(drop), Err(want.clone()), "{label}");
            let phrase = crate::encoding::rfc2047::encode_phrase(&text, cs);
            assert_eq!(phrase.map(drop), Err(want), "{label}");
        }
        // What does come back is still accepted (¥ and ‾ have their own
        // bytes in ISO-2022-JP's Roman set; full-width forms everywhere).
        for (label, text) in [
            ("iso-2022-jp", "¥‾ａ－ア"),
            ("shift_jis", "－ア＼～"),
            ("euc-jp", "－ア＼～ｱ"),
        ] {
            let cs = Charset::from_label(label).unwrap();
            let bytes = cs.encode(text).unwrap();
            let (back, _, bad) = cs.encoding().decode(&bytes);
            assert!(!bad, "{label}");
            assert_eq!(back, text, "{label}");
            assert!(crate::encoding::rfc2047::encode_phrase(text, cs).is_ok());
        }
    }

    #[test]
    fn labels_and_names() {
        let cases = [
            ("utf8", "utf-8"),
            (" UTF-8 ", "utf-8"),
            ("latin1", "windows-1252"),
            ("iso-2022-jp", "iso-2022-jp"),
            ("shift_jis", "shift_jis"),
            ("sjis", "shift_jis"),
            ("euc-kr", "euc-kr"),
            ("windows-1252", "windows-1252"),
            ("iso-8859-15", "iso-8859-15"),
            ("ISO-8859-2", "iso-8859-2"),
            ("koi8-r", "koi8-r"),
            ("gbk", "gbk"),
            ("gb2312", "gbk"),
            ("gb18030", "gb18030"),
            ("big5", "big5"),
            ("\tKOI8-R\n", "koi8-r"),
        ];
        for (label, name) in cases {
            let cs = Charset::from_label(label).unwrap();
            assert_eq!(cs.name(), name, "{label}");
            assert_eq!(cs.name(), cs.name().to_ascii_lowercase());
        }
        assert!(Charset::from_label("utf-8").unwrap().is_utf8());
        assert!(!Charset::from_label("latin1").unwrap().is_utf8());
        assert_eq!(Charset::default(), Charset::UTF_8);
    }

    #[test]
    fn rejected_labels() {
        for label in [
            "utf-16le",
            "utf-16be",
            "utf-16",
            "replacement",
            "iso-2022-kr",
            "x-user-defined",
        ] {
            assert!(
                matches!(
                    Charset::from_label(label),
                    Err(EncodingError::UnsupportedCharset(_))
                ),
                "{label}"
            );
        }
        for label in ["", "klingon", "utf-9", "utf-8\0"] {
            assert!(
                matches!(
                    Charset::from_label(label),
                    Err(EncodingError::UnknownCharset(_))
                ),
                "{label:?}"
            );
        }
    }

    #[test]
    fn encode_borrowing() {
        let cs = Charset::UTF_8;
        assert!(matches!(cs.encode("héllo").unwrap(), Cow::Borrowed(_)));
        let l1 = Charset::from_label("latin1").unwrap();
        assert!(matches!(l1.encode("hello").unwrap(), Cow::Borrowed(_)));
        assert_eq!(&*l1.encode("héllo €").unwrap(), b"h\xe9llo \x80");
        let jp = Charset::from_label("iso-2022-jp").unwrap();
        assert!(matches!(jp.encode("hello").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn encode_real_transcoding() {
        let jp = Charset::from_label("iso-2022-jp").unwrap();
        assert_eq!(
            &*jp.encode("ハロー").unwrap(),
            b"\x1b$B%O%m!<\x1b(B".as_slice()
        );
        let sjis = Charset::from_label("sjis").unwrap();
        assert_eq!(
            &*sjis.encode("ハロー").unwrap(),
            b"\x83n\x83\x8d\x81[".as_slice()
        );
        let koi = Charset::from_label("koi8-r").unwrap();
        let bytes = koi.encode("Привет").unwrap();
        let (back, _, bad) = encoding_rs::KOI8_R.decode(&bytes);
        assert!(!bad);
        assert_eq!(back, "Привет");
        // Long input exercising the OutputFull path.
        let long = "日本語テキスト".repeat(500);
        let enc = jp.encode(&long).unwrap();
        let (back, _, bad) = encoding_rs::ISO_2022_JP.decode(&enc);
        assert!(!bad);
        assert_eq!(back, long);
    }

    #[test]
    fn unmappable_names_first_char() {
        let l1 = Charset::from_label("latin1").unwrap();
        assert_eq!(
            l1.encode("ok é 日本 😀"),
            Err(EncodingError::Unmappable {
                charset: "windows-1252",
                character: '日'
            })
        );
        let jp = Charset::from_label("iso-2022-jp").unwrap();
        assert_eq!(
            jp.encode("日本😀x"),
            Err(EncodingError::Unmappable {
                charset: "iso-2022-jp",
                character: '😀'
            })
        );
        let gbk = Charset::from_label("gbk").unwrap();
        assert!(gbk.encode("中文").is_ok());
        let gb = Charset::from_label("gb18030").unwrap();
        assert!(gb.encode("😀").is_ok());
    }
}
