//! Charsets for mail text, backed by the WHATWG Encoding Standard
//! (`encoding_rs`), with real transcoding that refuses to substitute.

use std::borrow::Cow;

use encoding_rs::{EncoderResult, Encoding};

use super::EncodingError;

/// A charset usable in mail: any WHATWG encoding except UTF-16LE/BE,
/// `replacement` and `x-user-defined`, and US-ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Charset {
    encoding: &'static Encoding,
    /// US-ASCII, which WHATWG labels name windows-1252: written with that
    /// encoding (which writes ASCII as itself), labelled `us-ascii`, and
    /// refusing every non-ASCII character.
    ascii: bool,
}

/// Labels of US-ASCII (IANA's names and aliases); WHATWG maps the first
/// three to windows-1252.
const US_ASCII_LABELS: [&str; 11] = [
    "us-ascii",
    "ascii",
    "ansi_x3.4-1968",
    "ansi_x3.4-1986",
    "iso-ir-6",
    "iso_646.irv:1991",
    "iso646-us",
    "us",
    "ibm367",
    "cp367",
    "csascii",
];

impl Default for Charset {
    fn default() -> Self {
        Self::UTF_8
    }
}

impl Charset {
    /// UTF-8.
    pub const UTF_8: Charset = Charset::new(encoding_rs::UTF_8);

    /// US-ASCII: text with any non-ASCII character is unmappable.
    pub const US_ASCII: Charset = Charset {
        encoding: encoding_rs::WINDOWS_1252,
        ascii: true,
    };

    const fn new(encoding: &'static Encoding) -> Charset {
        Charset {
            encoding,
            ascii: false,
        }
    }

    /// Looks up a charset by any WHATWG label (surrounding whitespace and
    /// case are ignored), e.g. `utf8`, `latin1`, `sjis`, `iso-2022-jp`.
    ///
    /// Note that, as in browsers, `latin1` / `iso-8859-1` name
    /// `windows-1252`; but `us-ascii`, `ascii` (and US-ASCII's other IANA
    /// aliases, such as `ansi_x3.4-1968` and `csascii`) name
    /// [`Charset::US_ASCII`], which WHATWG would map to windows-1252 too.
    /// Unknown labels give [`EncodingError::UnknownCharset`];
    /// UTF-16, `replacement` (which also covers `iso-2022-kr`, `hz-gb-2312`)
    /// and `x-user-defined` give [`EncodingError::UnsupportedCharset`].
    pub fn from_label(label: &str) -> Result<Charset, EncodingError> {
        let trimmed = label.trim();
        if US_ASCII_LABELS
            .iter()
            .any(|l| l.eq_ignore_ascii_case(trimmed))
        {
            return Ok(Charset::US_ASCII);
        }
        match Encoding::for_label_no_replacement(trimmed.as_bytes()) {
            Some(enc) => {
                if enc == encoding_rs::UTF_16LE
                    || enc == encoding_rs::UTF_16BE
                    || enc == encoding_rs::X_USER_DEFINED
                {
                    Err(EncodingError::UnsupportedCharset(mime_name(enc)))
                } else {
                    Ok(Charset::new(enc))
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
        if self.ascii {
            return "us-ascii";
        }
        mime_name(self.encoding)
    }

    /// Whether this is UTF-8.
    pub fn is_utf8(self) -> bool {
        self.encoding == encoding_rs::UTF_8
    }

    /// Whether ASCII text encodes to the same bytes and every ASCII byte in
    /// encoded text stands for itself (false only for ISO-2022-JP here).
    pub fn is_ascii_compatible(self) -> bool {
        self.encoding.is_ascii_compatible()
    }

    /// Whether the encoder carries state between characters (ISO-2022-JP).
    pub(crate) fn is_stateful(self) -> bool {
        self.encoding == encoding_rs::ISO_2022_JP
    }

    /// Whether this is US-ASCII ([`Charset::US_ASCII`]).
    pub fn is_us_ascii(self) -> bool {
        self.ascii
    }

    /// The underlying `encoding_rs` encoding; windows-1252 for US-ASCII
    /// (which writes ASCII as US-ASCII does, but does not refuse other
    /// characters: [`Charset::encode`] does).
    pub fn encoding(self) -> &'static Encoding {
        self.encoding
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
    /// A character the WHATWG encoder writes as another one's bytes (see
    /// `Charset::substitutes`) is unmappable too: the first one, or the
    /// first character the encoder cannot write at all, is named.
    pub fn encode_into(self, text: &str, out: &mut Vec<u8>) -> Result<(), EncodingError> {
        if self.is_utf8() {
            out.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        if self.ascii {
            return match text.chars().find(|c| !c.is_ascii()) {
                None => {
                    out.extend_from_slice(text.as_bytes());
                    Ok(())
                }
                Some(character) => Err(EncodingError::Unmappable {
                    charset: self.name(),
                    character,
                }),
            };
        }
        // On an unmappable character, a substituted one before it comes first.
        let (done, unmappable) = match self.encode_raw(text, out) {
            Ok(()) => (text, None),
            Err((before, character)) => (before, Some(character)),
        };
        match self.first_substituted(done).or(unmappable) {
            None => Ok(()),
            Some(character) => Err(EncodingError::Unmappable {
                charset: self.name(),
                character,
            }),
        }
    }

    /// True when this charset's WHATWG encoder writes `c` as another
    /// character's bytes without reporting an error (the Encoding
    /// Standard's Shift_JIS, EUC-JP and ISO-2022-JP encoders): in Shift_JIS
    /// and EUC-JP `¥` (U+00A5) as `\`, `‾` (U+203E) as `~` and `−`
    /// (U+2212) as `－` (U+FF0D); in ISO-2022-JP `−` as `－` and half-width
    /// katakana (U+FF61–U+FF9F) as full-width; in GBK and gb18030 18
    /// private-use code points as the characters they stood for. Every
    /// other charset writes
    /// only what decodes back (a test checks every character of every
    /// charset against a decode of its encoding). A check by rule, not by
    /// decoding back: the wasm build carries no decoders.
    ///
    /// US-ASCII, written with the windows-1252 encoder, substitutes every
    /// non-ASCII character.
    pub(crate) fn substitutes(self, c: char) -> bool {
        let e = self.encoding;
        if self.ascii {
            !c.is_ascii()
        } else if e == encoding_rs::SHIFT_JIS || e == encoding_rs::EUC_JP {
            matches!(c, '\u{A5}' | '\u{203E}' | '\u{2212}')
        } else if e == encoding_rs::ISO_2022_JP {
            c == '\u{2212}' || ('\u{FF61}'..='\u{FF9F}').contains(&c)
        } else if e == encoding_rs::GBK || e == encoding_rs::GB18030 {
            // Private-use code points GB 18030-2005 had for characters
            // Unicode has since encoded: their bytes decode as those.
            matches!(
                c,
                '\u{E78D}'
                    ..='\u{E796}'
                        | '\u{E81E}'
                        | '\u{E826}'
                        | '\u{E82B}'
                        | '\u{E82C}'
                        | '\u{E832}'
                        | '\u{E843}'
                        | '\u{E854}'
                        | '\u{E864}'
            )
        } else {
            false
        }
    }

    /// The first character of `text` this charset substitutes
    /// ([`Charset::substitutes`]), if any.
    fn first_substituted(self, text: &str) -> Option<char> {
        let e = self.encoding;
        let has_substitutions = [
            encoding_rs::SHIFT_JIS,
            encoding_rs::EUC_JP,
            encoding_rs::ISO_2022_JP,
            encoding_rs::GBK,
            encoding_rs::GB18030,
        ]
        .contains(&e);
        if !has_substitutions {
            // (The test below checks every character against `substitutes`.)
            return None;
        }
        text.chars().find(|&c| self.substitutes(c))
    }

    /// [`Charset::encode_into`] without the round-trip check (non-UTF-8).
    /// On an unmappable character, gives the text before it and the
    /// character (`out` then holds the encoding of that text).
    fn encode_raw<'t>(self, text: &'t str, out: &mut Vec<u8>) -> Result<(), (&'t str, char)> {
        let mut encoder = self.encoding.new_encoder();
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
    /// `substitutes` (a rule, for the wasm build's sake) says exactly which
    /// characters do not come back when decoded: every scalar value of the
    /// BMP and the first astral planes, alone, in every non-UTF-8 charset.
    #[test]
    fn substitutes_matches_a_decode_of_every_character_in_every_charset() {
        let all = [
            encoding_rs::BIG5,
            encoding_rs::EUC_JP,
            encoding_rs::EUC_KR,
            encoding_rs::GBK,
            encoding_rs::GB18030,
            encoding_rs::IBM866,
            encoding_rs::ISO_2022_JP,
            encoding_rs::ISO_8859_2,
            encoding_rs::ISO_8859_3,
            encoding_rs::ISO_8859_4,
            encoding_rs::ISO_8859_5,
            encoding_rs::ISO_8859_6,
            encoding_rs::ISO_8859_7,
            encoding_rs::ISO_8859_8,
            encoding_rs::ISO_8859_8_I,
            encoding_rs::ISO_8859_10,
            encoding_rs::ISO_8859_13,
            encoding_rs::ISO_8859_14,
            encoding_rs::ISO_8859_15,
            encoding_rs::ISO_8859_16,
            encoding_rs::KOI8_R,
            encoding_rs::KOI8_U,
            encoding_rs::MACINTOSH,
            encoding_rs::SHIFT_JIS,
            encoding_rs::WINDOWS_874,
            encoding_rs::WINDOWS_1250,
            encoding_rs::WINDOWS_1251,
            encoding_rs::WINDOWS_1252,
            encoding_rs::WINDOWS_1253,
            encoding_rs::WINDOWS_1254,
            encoding_rs::WINDOWS_1255,
            encoding_rs::WINDOWS_1256,
            encoding_rs::WINDOWS_1257,
            encoding_rs::WINDOWS_1258,
            encoding_rs::X_MAC_CYRILLIC,
            encoding_rs::X_USER_DEFINED,
        ];
        let mut mismatches = Vec::new();
        let mut buf = [0u8; 16];
        for e in all {
            let cs = Charset::new(e);
            let mut encoder = e.new_encoder();
            for c in (0..0x3_0000u32).filter_map(char::from_u32) {
                let mut tmp = [0u8; 4];
                let (res, _, written) = encoder.encode_from_utf8_without_replacement(
                    c.encode_utf8(&mut tmp),
                    &mut buf,
                    true,
                );
                if !matches!(res, EncoderResult::InputEmpty) {
                    continue;
                }
                let (back, malformed) = e.decode_without_bom_handling(&buf[..written]);
                let changed = malformed || back.chars().ne(std::iter::once(c));
                // The rule, and what the public paths make of it (a body
                // through `encode`, a word through `encode_phrase`).
                let refused = |r: Result<(), EncodingError>| matches!(r, Err(EncodingError::Unmappable { character, .. }) if character == c);
                let text = format!("a{c}b");
                let body = refused(cs.encode(&text).map(drop));
                let word = refused(crate::encoding::rfc2047::encode_phrase(&text, cs).map(drop));
                if changed != cs.substitutes(c) || changed != body || changed != word {
                    mismatches.push(format!("{} U+{:04X}", e.name(), c as u32));
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} mismatches: {:?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(40)]
        );
    }

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

    /// Found by review: `us-ascii` (and `ascii`), which WHATWG maps to
    /// windows-1252, was labelled windows-1252, and its non-ASCII text went
    /// out as windows-1252 bytes. It is US-ASCII: ASCII text as it is,
    /// anything else unmappable, everywhere text is encoded.
    #[test]
    fn us_ascii_is_us_ascii() {
        for label in [
            "us-ascii",
            "US-ASCII",
            " ascii\t",
            "ASCII",
            "ansi_x3.4-1968",
            "ANSI_X3.4-1986",
            "iso646-us",
            "csASCII",
        ] {
            let cs = Charset::from_label(label).unwrap();
            assert_eq!(cs, Charset::US_ASCII, "{label}");
            assert_eq!(cs.name(), "us-ascii", "{label}");
            assert!(cs.is_us_ascii() && cs.is_ascii_compatible() && !cs.is_utf8());
            let ascii = "plain ASCII\t~\x7f";
            assert_eq!(cs.encode(ascii).unwrap(), ascii.as_bytes());
            let mut out = Vec::new();
            cs.encode_into(ascii, &mut out).unwrap();
            assert_eq!(out, ascii.as_bytes());
            for (text, bad) in [("café", 'é'), ("a\u{80}", '\u{80}'), ("5 €", '€')] {
                let want = EncodingError::Unmappable {
                    charset: "us-ascii",
                    character: bad,
                };
                assert_eq!(cs.encode(text).unwrap_err(), want, "{text}");
                assert_eq!(cs.encode_into(text, &mut out).unwrap_err(), want);
                assert_eq!(
                    crate::encoding::rfc2047::encode_phrase(text, cs).unwrap_err(),
                    want
                );
            }
        }
        // latin1 still names windows-1252, as in browsers.
        let l1 = Charset::from_label("iso-8859-1").unwrap();
        assert_eq!(l1.name(), "windows-1252");
        assert!(!l1.is_us_ascii());
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
