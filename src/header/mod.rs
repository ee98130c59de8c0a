//! Header fields: validated names, RFC 5322 dates, Message-IDs, and the
//! folder that turns a value's tokens into lines of at most 78 columns
//! (never more than 998 octets).

mod date;
mod fold;
mod name;

pub use date::DateTime;
pub use fold::{write_header, MAX_LINE_LEN, SOFT_LINE_LEN};
pub(crate) use fold::{Folder, PendingFolder, TokenBuffers, TokenSink};
pub use name::HeaderName;

use crate::excerpt::Excerpt;
use std::fmt;

/// Errors in header names and values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A header name is empty, too long, or has characters outside
    /// printable ASCII (or a colon).
    InvalidName(String),
    /// The header is managed by the builder (From, Subject, Content-Type, ...)
    /// and cannot be set as a custom header.
    Reserved(String),
    /// A value holds CR or LF, which would start a new header line.
    LineBreak {
        /// The header (or field) whose value held the line break.
        field: String,
    },
    /// A value holds NUL or another control character that cannot be sent.
    ControlCharacter {
        /// The header (or field) whose value held the character.
        field: String,
    },
    /// A Message-ID (or In-Reply-To / References entry) is not `<left@right>`.
    InvalidMessageId(String),
    /// A header line could not be folded to 998 octets.
    LineTooLong {
        /// The header whose line was too long.
        field: String,
    },
    /// A value is longer than [`MAX_VALUE_LEN`] octets: mail servers cut
    /// or refuse header sections far smaller than that.
    ValueTooLong {
        /// The header (or field) whose value was too long.
        field: String,
        /// The value's length in octets.
        len: usize,
    },
}

/// The longest header value [`check_value`] accepts, in octets (64 KiB).
/// Header sections are limited by servers (Postfix keeps 100 KiB of a
/// header and drops the rest, Sendmail refuses more than 32 KiB), so a
/// longer value is a mistake that would reach the recipient cut, or not at
/// all.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(name) => write!(f, "invalid header name {}", Excerpt(name)),
            Self::Reserved(name) => write!(
                f,
                "header {} is set by the message builder, not as a custom header",
                Excerpt(name)
            ),
            Self::LineBreak { field } => {
                write!(f, "the value of {field} contains a CR or LF line break")
            }
            Self::ControlCharacter { field } => {
                write!(f, "the value of {field} contains a control character")
            }
            Self::InvalidMessageId(id) => write!(f, "invalid message id {}", Excerpt(id)),
            Self::ValueTooLong { field, len } => write!(
                f,
                "the value of {field} is {len} octets long, more than the {MAX_VALUE_LEN} allowed"
            ),
            Self::LineTooLong { field } => {
                write!(
                    f,
                    "the {field} header cannot be folded into 998-octet lines"
                )
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Checks that a header value (or any text bound for a header) has no CR,
/// LF, NUL or other C0 control character except TAB, and is at most
/// [`MAX_VALUE_LEN`] octets long. `field` names the value in the error.
pub fn check_value(field: &str, value: &str) -> Result<(), HeaderError> {
    if is_printable_ascii(value.as_bytes()) {
        return check_len(field, value);
    }
    // Bytes, not chars: the C0 controls and DEL are single bytes, and the
    // C1 controls (U+0080..=U+009F) are 0xC2 followed by 0x80..=0x9F in
    // UTF-8 (a continuation byte after 0xC2 is always that character's).
    // Eight bytes at a time up to the first that holds a byte below 0x20,
    // 0x7F or 0xC2, then byte by byte.
    let b = value.as_bytes();
    let clean = b.chunks_exact(8).take_while(|chunk| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        !(has_below(x, 0x20) || has_byte(x, 0x7f) || has_byte(x, 0xc2))
    });
    let skip = clean.count() * 8;
    for (i, &c) in b.iter().enumerate().skip(skip) {
        let control = match c {
            b'\r' | b'\n' => {
                return Err(HeaderError::LineBreak {
                    field: field.to_owned(),
                })
            }
            b'\t' => false,
            0..=0x1f | 0x7f => true,
            0xc2 => matches!(b.get(i + 1), Some(0x80..=0x9f)),
            _ => false,
        };
        if control {
            return Err(HeaderError::ControlCharacter {
                field: field.to_owned(),
            });
        }
    }
    check_len(field, value)
}

fn check_len(field: &str, value: &str) -> Result<(), HeaderError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(HeaderError::ValueTooLong {
            field: field.to_owned(),
            len: value.len(),
        });
    }
    Ok(())
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether a byte of `x` is below `n` (`n` at most 0x80).
#[inline]
fn has_below(x: u64, n: u8) -> bool {
    x.wrapping_sub(LO * u64::from(n)) & !x & HI != 0
}

/// Whether a byte of `x` is `b`.
#[inline]
fn has_byte(x: u64, b: u8) -> bool {
    has_below(x ^ (LO * u64::from(b)), 1)
}

/// Appends every piece to `out`, in order. Always inlined: constant
/// pieces (`": "`, CRLF) become plain stores (a shared out-of-line copy
/// was measured: a `memcpy` call per piece costs more than it saves).
#[inline(always)]
pub(crate) fn put(out: &mut Vec<u8>, pieces: &[&[u8]]) {
    for piece in pieces {
        out.extend_from_slice(piece);
    }
}

/// Whether every byte is printable ASCII (0x20..=0x7E), eight bytes at a
/// time: the usual header value.
pub(crate) fn is_printable_ascii(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // A byte with its high bit set, below 0x20 (subtracting 0x20 sets
        // the high bit of a byte that had it clear), or 0x7F (adding 1 sets
        // the high bit only there, once the others are known below 0x80).
        if (x | x.wrapping_sub(LO * 0x20) | x.wrapping_add(LO)) & HI != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c))
}

/// RFC 5322 `atext`.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// RFC 5322 `dot-atom-text`: `1*atext *("." 1*atext)`.
pub(crate) fn is_dot_atom_text(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(is_atext))
}

/// RFC 5322 `no-fold-literal`: `"[" *dtext "]"` (dtext: printable ASCII
/// but `[`, `]` and `\`).
fn is_no_fold_literal(s: &str) -> bool {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .is_some_and(|inner| {
            inner
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'[' | b']' | b'\\'))
        })
}

/// Whether `id` (without angle brackets) is RFC 5322 §3.6.4's
/// `id-left "@" id-right`: `dot-atom-text "@" (dot-atom-text /
/// no-fold-literal)`, without the obsolete forms. Content-IDs (RFC 2392)
/// have the same syntax.
pub(crate) fn is_msg_id(id: &str) -> bool {
    match id.split_once('@') {
        Some((left, right)) => {
            is_dot_atom_text(left) && (is_dot_atom_text(right) || is_no_fold_literal(right))
        }
        None => false,
    }
}

/// Normalises a Message-ID given with or without angle brackets to its
/// `left@right` form (no brackets), checking RFC 5322 §3.6.4's syntax:
/// `id-left` a `dot-atom-text` (letters, digits, ``!#$%&'*+-/=?^_`{|}~``
/// and single inner dots), `id-right` a `dot-atom-text` or a
/// `[`…`]` literal of printable ASCII without `[`, `]` or `\`; at most
/// 900 octets. `(`, `)`, `,`, `;`, `:`, `[`, `]`, `"` or a second `@` in
/// the left part are errors (readers cut the id there).
pub fn parse_message_id(input: &str) -> Result<String, HeaderError> {
    let bad = || HeaderError::InvalidMessageId(input.to_owned());
    // Only spaces and tabs are trimmed: a CR, LF or other control is an
    // error, never silently dropped.
    let trimmed = input.trim_matches([' ', '\t']);
    let inner = match (trimmed.strip_prefix('<'), trimmed.ends_with('>')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (None, false) => trimmed,
        _ => return Err(bad()),
    };
    if inner.len() > 900 || !is_msg_id(inner) {
        return Err(bad());
    }
    Ok(inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_line_breaks_or_controls_are_rejected() {
        assert!(check_value("Subject", "fine\tvalue ünïcode").is_ok());
        for bad in [
            "a\rb",
            "a\nb",
            "a\r\nX-Evil: 1",
            "nul\0",
            "bell\x07",
            "del\x7f",
        ] {
            assert!(check_value("Subject", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn printable_ascii_matches_a_byte_test() {
        let mut x: u64 = 5;
        for round in 0..50_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (x >> 59) as usize;
            let mut v: Vec<u8> = (0..len).map(|k| b'a' + (k as u8 % 26)).collect();
            if len > 0 && round % 4 != 0 {
                let i = (x >> 20) as usize % len;
                v[i] = (x >> 40) as u8;
            }
            let want = v.iter().all(|&c| (0x20..0x7f).contains(&c));
            assert_eq!(is_printable_ascii(&v), want, "{v:?}");
        }
        for c in [0x1f, 0x7f, 0x80, 0xff, 0x00] {
            assert!(!is_printable_ascii(&[
                b'a', b'b', b'c', b'd', b'e', b'f', b'g', c
            ]));
        }
        assert!(is_printable_ascii(b" ~~~~~~~ ~~~~~~~"));
    }

    /// The byte scan finds what a scan of characters finds, first
    /// problem first.
    #[test]
    fn check_value_matches_a_char_scan() {
        fn by_chars(value: &str) -> Result<(), HeaderError> {
            for c in value.chars() {
                match c {
                    '\r' | '\n' => return Err(HeaderError::LineBreak { field: "f".into() }),
                    '\t' => {}
                    c if c.is_control() => {
                        return Err(HeaderError::ControlCharacter { field: "f".into() })
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        let pieces = [
            "a", " ", "\t", "\r", "\n", "\0", "\x1f", "\x7f", "\u{80}", "\u{9f}", "\u{a0}",
            "\u{c2}", "é", "\u{100}", "日", "😀", "\u{85}", "\u{2028}",
        ];
        let mut x: u64 = 99;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let value: String = (0..(x >> 60) as usize)
                .map(|k| pieces[(x >> (k * 4)) as usize % pieces.len()])
                .collect();
            assert_eq!(check_value("f", &value), by_chars(&value), "{value:?}");
        }
    }

    #[test]
    fn message_ids_are_normalised_and_checked() {
        assert_eq!(parse_message_id("<a.b@c.d>").unwrap(), "a.b@c.d");
        assert_eq!(parse_message_id("x@y").unwrap(), "x@y");
        assert_eq!(parse_message_id(" <x@y>\t").unwrap(), "x@y");
        assert_eq!(
            parse_message_id("<x@[127.0.0.1]>").unwrap(),
            "x@[127.0.0.1]"
        );
        for bad in [
            "",
            "<>",
            "no-at",
            "<a@b",
            "a@b>",
            "a b@c",
            "<a@b>\r\nBcc: x",
            "a@",
            "@b",
            "<a<@b>",
            "a@b\r\n",
            "\r\n<a@b>",
            "<a@b>\n",
            "a@b\0",
        ] {
            assert!(parse_message_id(bad).is_err(), "{bad:?}");
        }
    }

    /// Found by review: the left part took `( ) , ; : [ ]` (Python reads
    /// `<a(b)c@x>` as `<a`), and the right part anything printable. Both
    /// follow RFC 5322 §3.6.4 now: dot-atom-text, and dot-atom-text or a
    /// no-fold-literal on the right.
    #[test]
    fn message_ids_follow_rfc_5322() {
        for good in [
            "a@b",
            "a.b.c@d.e",
            "!#$%&'*+-/=?^_`{|}~@x",
            "uHLCzQsa2ViaHAw8gc9XlchJNxPj67Br@example.com",
            "x@[127.0.0.1]",
            "x@[IPv6:::1]",
            "x@[]",
            "x@[a@b]",
            "fixed.1@example.com",
        ] {
            assert!(is_msg_id(good), "{good:?}");
            assert_eq!(parse_message_id(&format!("<{good}>")).unwrap(), good);
        }
        for bad in [
            "a(b)c@x", "a,b@x", "a;b@x", "a:b@x", "a[b]@x", "a\"b\"@x", "a\\b@x", "a@b@c", "@",
            "@x", "x@", "nodomain", "(c)@x", "a@(c)", "a@b,c", "a@b;c", "a@b:c", ".a@x", "a.@x",
            "a..b@x", "a@.b", "a@b.", "a@b..c", "a@[x\\y]", "a@[a[b]", "a@[x", "a@x]", "a@[x]y",
            "é@x", "a@é", "a@b c",
        ] {
            assert!(!is_msg_id(bad), "{bad:?}");
            assert!(parse_message_id(&format!("<{bad}>")).is_err(), "{bad:?}");
        }
        let long = format!("{}@x", "a".repeat(899));
        assert!(parse_message_id(&long).is_err());
        assert!(parse_message_id(&long[1..]).is_ok());
    }
}
