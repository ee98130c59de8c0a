//! Rendering addresses for a header, as tokens for the header folder.

use super::mailbox::is_atext;
use super::{AddressEntry, AddressError, Mailbox};
use crate::encoding::{rfc2047, Charset, Token};
use crate::envelope::RenderOptions;

/// Renders address entries for an address header (`From`, `To`, `Cc`, …)
/// as tokens for the header folder, which may fold only before a token's
/// `space`. The first token is glued (empty `space`); the caller writes the
/// space after the header's colon.
///
/// * Display names are written bare when they are a phrase of atoms
///   separated by single spaces, as a quoted string (with `\"` and `\\`
///   escapes) when ASCII but not atoms, and as RFC 2047 encoded words
///   ([`rfc2047::encode_phrase`], UTF-8) when they hold non-ASCII or control
///   characters, or something that looks like an encoded word. With
///   `opts.utf8_headers`, non-ASCII names are written raw (RFC 6532),
///   quoted if needed; control characters and whitespace other than
///   U+0020 still get encoded words.
/// * Domains are written in A-labels unless `opts.utf8_headers`.
/// * A mailbox with a non-ASCII local part is an
///   [`AddressError::RequiresSmtpUtf8`] unless `opts.utf8_headers`.
/// * Entries are separated by commas; groups render as `name: a@b, c@d;`
///   and empty groups as `name:;`. A group name with CR, LF or NUL is an
///   [`AddressError::InvalidCharacter`]; an empty group name renders as `""`.
///
/// Each word of a bare name, each encoded word, each quoted string and each
/// address is its own token, so a fold can come between any two of them.
pub fn format_entries(
    entries: &[AddressEntry],
    opts: RenderOptions,
) -> Result<Vec<Token>, AddressError> {
    let mut out: Vec<Token> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            if let Some(last) = out.last_mut() {
                last.text.push(',');
            }
        }
        let start = out.len();
        match entry {
            AddressEntry::Mailbox(m) => out.extend(format_mailbox(m, opts)?),
            AddressEntry::Group { name, members } => {
                if let Some(c) = name.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
                    return Err(AddressError::InvalidCharacter {
                        input: name.clone(),
                        character: c,
                    });
                }
                let mut name_tokens = phrase_tokens(name, opts)?;
                if let Some(last) = name_tokens.last_mut() {
                    last.text.push(':');
                }
                out.extend(name_tokens);
                for (j, m) in members.iter().enumerate() {
                    if j > 0 {
                        if let Some(last) = out.last_mut() {
                            last.text.push(',');
                        }
                    }
                    out.extend(format_mailbox(m, opts)?);
                }
                if let Some(last) = out.last_mut() {
                    last.text.push(';');
                }
            }
        }
        if let Some(first) = out.get_mut(start) {
            first.space = if start == 0 {
                String::new()
            } else {
                " ".into()
            };
        }
    }
    Ok(out)
}

/// One mailbox: `[name] <addr>` or bare `addr`; the first token is spaced.
pub(crate) fn format_mailbox(m: &Mailbox, opts: RenderOptions) -> Result<Vec<Token>, AddressError> {
    let domain = if opts.utf8_headers {
        m.domain()
    } else {
        if m.requires_smtputf8() {
            return Err(AddressError::RequiresSmtpUtf8(m.address()));
        }
        m.ascii_domain()
    };
    let addr = format!("{}@{}", m.local_part(), domain);
    match m.name() {
        None => Ok(vec![Token::spaced(addr)]),
        Some(name) => {
            let mut tokens = phrase_tokens(name, opts)?;
            tokens.push(Token::spaced(format!("<{addr}>")));
            Ok(tokens)
        }
    }
}

/// A display name as phrase tokens (each spaced); `""` for an empty name.
fn phrase_tokens(name: &str, opts: RenderOptions) -> Result<Vec<Token>, AddressError> {
    // Controls, and whitespace other than a plain space (U+2028, NBSP, …)
    // that a reader might take as a line break or fold, are always encoded.
    let has_control = name
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' '));
    let looks_encoded = name.contains("=?");
    let ascii_printable = name.chars().all(|c| (' '..='~').contains(&c));
    if has_control || looks_encoded || (!ascii_printable && !opts.utf8_headers) {
        let words = rfc2047::encode_phrase(name, Charset::UTF_8)?;
        return Ok(words.into_iter().map(Token::spaced).collect());
    }
    // ASCII printable, or UTF-8 allowed: bare atoms or one quoted string.
    let is_atoms = !name.is_empty()
        && name
            .split(' ')
            .all(|w| !w.is_empty() && w.chars().all(is_atext));
    if is_atoms {
        return Ok(name.split(' ').map(Token::spaced).collect());
    }
    let mut q = String::with_capacity(name.len() + 2);
    q.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    Ok(vec![Token::spaced(q)])
}
