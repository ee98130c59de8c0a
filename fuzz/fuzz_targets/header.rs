//! Header values: the folder (`header::write_header`), RFC 2047 encoded
//! words (`encode_unstructured`, `encode_phrase`), RFC 2231 parameters
//! (`encode_parameter`, `quote_if_needed`) and the value and name checks
//! (`check_value`, `HeaderName`, `parse_message_id`).
//!
//! Input: a structured case (`arbitrary`).
//!
//! Properties:
//! * every field written is one header: CRLF only, lines ≤ 998 octets,
//!   continuation lines only (no injected header, no blank line), and
//!   unfolds to exactly the tokens it was given;
//! * lines stay within 78 columns whenever the tokens allow it (single
//!   spaces between tokens that fit), and a header whose words all fit is
//!   never refused;
//! * encoded words are at most 75 characters, ASCII, and the tokens have
//!   no CR, LF or edge whitespace; without UTF-8 headers all is ASCII;
//! * `mail-parser` decodes an unstructured value, a display name and a
//!   parameter back to exactly the input; an unstructured value folds only
//!   at single spaces (mail-parser reads whitespace around a fold as one
//!   space), encoded words carrying runs that could not fit a line;
//! * an encoding error names a character the charset really lacks;
//! * `check_value`, `HeaderName` and `parse_message_id` accept exactly
//!   what their documentation says.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mail_parser::{MessageParser, MimeHeaders};
use mimeograph::encoding::rfc2047::{self, MAX_PLAIN_WORD_LEN, MAX_WORD_LEN};
use mimeograph::encoding::rfc2231::{self, MAX_SEGMENT};
use mimeograph::encoding::{Charset, EncodingError, Token};
use mimeograph::header::{
    check_value, parse_message_id, write_header, HeaderError, HeaderName, SOFT_LINE_LEN,
};
use mimeograph_fuzz::check_header_field;

const NAMES: [&str; 5] = [
    "Subject",
    "X-Fuzz",
    "Comments",
    "X",
    "X-A-Rather-Long-Header-Name-That-Goes-On-And-On-0123456789-abcdefghijklmno",
];
const CHARSETS: [&str; 12] = [
    "utf-8",
    "iso-8859-1",
    "iso-8859-2",
    "koi8-r",
    "shift_jis",
    "euc-jp",
    "iso-2022-jp",
    "gb18030",
    "big5",
    "euc-kr",
    "windows-1252",
    "utf-16",
];
const PARAMS: [&str; 4] = ["filename", "name", "x-a", "charset"];
const RESERVED: [&str; 17] = [
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "return-path",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
];

#[derive(Arbitrary, Debug)]
enum Case {
    Unstructured {
        name: u8,
        value: Text,
        charset: u8,
        raw_utf8: bool,
    },
    Phrase {
        text: Text,
        charset: u8,
    },
    Param {
        name: u8,
        value: Text,
        raw_utf8: bool,
    },
    Tokens {
        name: u8,
        tokens: Vec<(u8, String)>,
    },
    Check {
        name: String,
        value: String,
    },
}

/// Text, with a way to make long values cheaply.
#[derive(Arbitrary, Debug)]
enum Text {
    Plain(String),
    Repeated(String, u8),
}

impl Text {
    fn get(&self) -> String {
        match self {
            Text::Plain(s) => s.clone(),
            Text::Repeated(s, n) => s.repeat(usize::from(*n)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(case) = Case::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    if std::env::var_os("FUZZ_TRACE").is_some() {
        eprintln!("{case:?}");
    }
    match case {
        Case::Unstructured {
            name,
            value,
            charset,
            raw_utf8,
        } => unstructured(
            NAMES[usize::from(name) % NAMES.len()],
            &value.get(),
            CHARSETS[usize::from(charset) % CHARSETS.len()],
            raw_utf8,
        ),
        Case::Phrase { text, charset } => {
            phrase(&text.get(), CHARSETS[usize::from(charset) % CHARSETS.len()])
        }
        Case::Param {
            name,
            value,
            raw_utf8,
        } => param(
            PARAMS[usize::from(name) % PARAMS.len()],
            &value.get(),
            raw_utf8,
        ),
        Case::Tokens { name, tokens } => {
            let tokens: Vec<Token> = tokens
                .into_iter()
                .enumerate()
                .filter_map(|(i, (ws, text))| {
                    // Honour the Token contract: no CR/LF, no edge whitespace.
                    let text: String = text
                        .chars()
                        .map(|c| if matches!(c, '\r' | '\n') { '_' } else { c })
                        .collect();
                    let text = text.trim_matches([' ', '\t']).to_owned();
                    if text.is_empty() {
                        return None;
                    }
                    let space = match ws % 8 {
                        0 if i > 0 => String::new(),
                        1 => "\t".into(),
                        2 => "  ".into(),
                        3 => " \t ".into(),
                        4 => " ".repeat(usize::from(ws)),
                        _ => " ".into(),
                    };
                    Some(Token { space, text })
                })
                .collect();
            folded(NAMES[usize::from(name) % NAMES.len()], &tokens);
        }
        Case::Check { name, value } => checks(&name, &value),
    }
});

/// Writes the field and checks it; `None` when it cannot be folded.
fn folded(name: &str, tokens: &[Token]) -> Option<String> {
    let mut out = b"before".to_vec();
    match write_header(&mut out, name, tokens) {
        Ok(()) => {}
        Err(HeaderError::LineTooLong { field }) => {
            assert_eq!(field, name);
            assert_eq!(out, b"before", "a refused header left bytes behind");
            return None;
        }
        Err(e) => panic!("write_header: {e:?}"),
    }
    let field = &out[6..];
    let value = check_header_field(field, name);
    // Unfolding gives the tokens back exactly (the first after one space).
    let mut want = String::new();
    for (i, t) in tokens.iter().enumerate() {
        want.push_str(if i == 0 { " " } else { &t.space });
        want.push_str(&t.text);
    }
    assert_eq!(value, want, "unfolded value");
    // 78 columns whenever the tokens allow it.
    let fits = |t: &Token| t.text.len() < SOFT_LINE_LEN;
    let simple = tokens.iter().skip(1).all(|t| t.space == " " && fits(t))
        && tokens
            .first()
            .is_none_or(|t| name.len() + 2 + t.text.len() <= SOFT_LINE_LEN);
    if simple {
        for line in field.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            assert!(
                line.len() <= SOFT_LINE_LEN,
                "line of {} octets where 78 was possible: {:?}",
                line.len(),
                String::from_utf8_lossy(line)
            );
        }
    }
    Some(value)
}

fn check_tokens(tokens: &[Token], raw_utf8: bool) {
    for (i, t) in tokens.iter().enumerate() {
        assert!(!t.text.is_empty(), "empty token {i}");
        assert!(
            !t.text.contains(['\r', '\n']) && !t.space.contains(['\r', '\n']),
            "line break in {t:?}"
        );
        assert!(t.space.chars().all(|c| c == ' ' || c == '\t'), "{t:?}");
        assert!(
            !t.text.starts_with([' ', '\t']) && !t.text.ends_with([' ', '\t']),
            "edge whitespace in {t:?}"
        );
        if i == 0 {
            assert!(t.space.is_empty(), "first token spaced: {t:?}");
        }
        if !raw_utf8 {
            assert!(t.text.is_ascii(), "non-ASCII token without UTF-8: {t:?}");
        }
        if t.text.starts_with("=?") && t.text.ends_with("?=") {
            assert!(
                t.text.len() <= MAX_WORD_LEN,
                "encoded word of {} chars",
                t.text.len()
            );
        }
    }
}

/// Every character of `text` the charset can encode.
fn unmappable_is_real(e: &EncodingError, cs: Charset, text: &str) {
    match e {
        EncodingError::Unmappable { character, .. } => {
            assert!(
                text.contains(*character),
                "{character:?} is not in the text"
            );
            assert!(
                cs.encode(&character.to_string()).is_err(),
                "{} can encode {character:?}",
                cs.name()
            );
        }
        other => panic!("unexpected encoding error {other:?}"),
    }
}

fn unstructured(name: &str, value: &str, label: &str, raw_utf8: bool) {
    let Ok(cs) = Charset::from_label(label) else {
        return;
    };
    let tokens = match rfc2047::encode_unstructured(value, cs, raw_utf8) {
        Ok(t) => t,
        Err(e) => {
            unmappable_is_real(&e, cs, value);
            return;
        }
    };
    if !raw_utf8 {
        // Every non-ASCII word is encoded in the charset: what it lacks
        // would have been an error.
        for c in value.chars().filter(|c| !c.is_ascii()) {
            assert!(
                cs.encode(&c.to_string()).is_ok(),
                "{c:?} encoded although {label} lacks it"
            );
        }
    }
    if value.is_empty() {
        assert!(tokens.is_empty());
        return;
    }
    check_tokens(&tokens, raw_utf8);
    if !rfc2047::needs_encoding(value) && !raw_utf8 {
        let joined: String = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i == 0 {
                    t.text.clone()
                } else {
                    format!("{}{}", t.space, t.text)
                }
            })
            .collect();
        assert_eq!(joined, value, "a value needing no encoding was changed");
    }
    // Words that fit and short whitespace runs: the header must fold.
    let words_fit = value
        .split([' ', '\t'])
        .all(|w| w.len() <= MAX_PLAIN_WORD_LEN);
    let short_runs = !value.contains(&" ".repeat(40)) && !value.contains("\t\t\t\t\t\t\t\t");
    let written = folded(name, &tokens);
    if written.is_none() {
        assert!(
            !(words_fit && short_runs && name.len() <= 76),
            "a header of short words was refused: {value:?}"
        );
        return;
    }
    // mail-parser decodes it back to the value (as Subject: the encoding
    // does not depend on the name).
    if check_value("x", value).is_err() {
        // Controls: encoded, but the builder refuses such values anyway.
        return;
    }
    let mut message = Vec::new();
    if write_header(&mut message, "Subject", &tokens).is_err() {
        return;
    }
    // Every fold is at a single space (CRLF SP, then not WSP, and no WSP
    // before the CRLF): mail-parser reads any whitespace around a fold as
    // one space, so a value whose only fold points are runs of whitespace
    // must have been encoded (RFC 2047 words carry their whitespace).
    for (i, w) in message.windows(2).enumerate() {
        if w == b"\r\n" && i + 2 < message.len() {
            let before = i.checked_sub(1).map(|j| message[j]);
            assert!(
                message[i + 2] == b' '
                    && !matches!(message.get(i + 3), Some(b' ' | b'\t'))
                    && !matches!(before, Some(b' ' | b'\t')),
                "a fold inside a run of whitespace: {:?}",
                String::from_utf8_lossy(&message)
            );
        }
    }
    message.extend_from_slice(b"\r\n");
    let parsed = MessageParser::default()
        .parse(&message[..])
        .expect("mail-parser reads the header");
    assert_eq!(
        parsed.subject(),
        Some(value),
        "mail-parser decodes {:?} ({label}, raw_utf8 {raw_utf8})",
        String::from_utf8_lossy(&message)
    );
}

fn phrase(text: &str, label: &str) {
    let Ok(cs) = Charset::from_label(label) else {
        return;
    };
    let words = match rfc2047::encode_phrase(text, cs) {
        Ok(w) => w,
        Err(e) => {
            unmappable_is_real(&e, cs, text);
            return;
        }
    };
    assert_eq!(words.is_empty(), text.is_empty());
    let prefix = format!("=?{}?", cs.name());
    for w in &words {
        assert!(
            w.len() <= MAX_WORD_LEN,
            "encoded word of {} chars: {w}",
            w.len()
        );
        assert!(w.starts_with(&prefix) && w.ends_with("?="), "{w}");
        let kind = &w[prefix.len()..prefix.len() + 2];
        let body = &w[prefix.len() + 2..w.len() - 2];
        match kind {
            "B?" => assert!(
                body.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
                "{w}"
            ),
            // RFC 2047 §5(3): only these may stand in a phrase.
            "Q?" => assert!(
                body.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!*+-/=_".contains(&b)),
                "{w}"
            ),
            _ => panic!("not B or Q: {w}"),
        }
    }
    if words.is_empty() || check_value("x", text).is_err() {
        return;
    }
    let tokens: Vec<Token> = words
        .iter()
        .map(|w| Token::spaced(w.clone()))
        .chain([Token::spaced("<a@b.example>")])
        .collect();
    let mut message = Vec::new();
    write_header(&mut message, "From", &tokens).expect("encoded words fold");
    check_header_field(&message, "From");
    message.extend_from_slice(b"\r\n");
    let parsed = MessageParser::default()
        .parse(&message[..])
        .expect("mail-parser reads the header");
    let name = parsed
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name())
        .map(str::to_owned);
    assert_eq!(
        name.as_deref(),
        Some(text),
        "mail-parser decodes {:?} ({label})",
        String::from_utf8_lossy(&message)
    );
}

fn param(name: &str, value: &str, raw_utf8: bool) {
    let segments = rfc2231::encode_parameter(name, value, raw_utf8);
    assert!(!segments.is_empty() || value.is_empty());
    for s in &segments {
        assert!(s.len() <= MAX_SEGMENT, "segment of {} octets: {s}", s.len());
        assert!(!s.chars().any(char::is_control), "control in {s:?}");
        if !raw_utf8 {
            assert!(s.is_ascii(), "non-ASCII segment {s:?}");
        }
        assert!(s.starts_with(name), "{s:?}");
    }
    if !value.chars().any(char::is_control) {
        let q = rfc2231::quote_if_needed(value);
        let unquoted = match q.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => q.to_string(),
        };
        assert_eq!(unquoted, value, "quote_if_needed({value:?}) = {q}");
    }
    if value.is_empty() {
        return;
    }
    let mut tokens = vec![Token::spaced("attachment;")];
    let last = segments.len() - 1;
    for (i, s) in segments.iter().enumerate() {
        let mut s = s.clone();
        if i != last {
            s.push(';');
        }
        tokens.push(Token::spaced(s));
    }
    let mut message = Vec::new();
    write_header(&mut message, "Content-Disposition", &tokens).expect("segments fold");
    let unfolded = check_header_field(&message, "Content-Disposition");
    assert!(unfolded.starts_with(" attachment;"));
    message.extend_from_slice(b"\r\n");
    let parsed = MessageParser::default()
        .parse(&message[..])
        .expect("mail-parser reads the header");
    let got = parsed
        .content_disposition()
        .and_then(|cd| cd.attribute(name))
        .map(str::to_owned);
    assert_eq!(
        got.as_deref(),
        Some(value),
        "mail-parser reads {:?}",
        String::from_utf8_lossy(&message)
    );
}

fn checks(name: &str, value: &str) {
    let value_ok = !value.chars().any(|c| c.is_control() && c != '\t');
    assert_eq!(
        check_value("x", value).is_ok(),
        value_ok,
        "check_value({value:?})"
    );
    if let Err(e) = check_value("x", value) {
        // The first offending character decides.
        let first = value.chars().find(|&c| c.is_control() && c != '\t');
        let line_break = matches!(first, Some('\r' | '\n'));
        assert_eq!(
            matches!(e, HeaderError::LineBreak { .. }),
            line_break,
            "{e:?} for {value:?}"
        );
    }
    let name_ok = !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    assert_eq!(
        HeaderName::new(name).is_ok(),
        name_ok,
        "HeaderName::new({name:?})"
    );
    let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name));
    assert_eq!(
        HeaderName::custom(name).is_ok(),
        name_ok && !reserved,
        "HeaderName::custom({name:?})"
    );
    if let Ok(id) = parse_message_id(value) {
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>'),
            "message id {id:?} from {value:?}"
        );
        assert!(id.contains('@') && id.len() <= 900, "{id:?}");
        let (left, right) = id.rsplit_once('@').unwrap_or_default();
        assert!(!left.is_empty() && !right.is_empty(), "{id:?}");
        assert_eq!(
            parse_message_id(&format!("<{id}>")).as_deref(),
            Ok(id.as_str())
        );
    }
}
