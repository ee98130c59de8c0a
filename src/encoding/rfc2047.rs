//! RFC 2047 encoded words for header text.
//!
//! Every encoded word is at most 75 characters, holds whole characters only
//! and, for stateful charsets (ISO-2022-JP), is decodable on its own. Per
//! word the shorter of `B` and `Q` is used (`Q` on a tie).
//!
//! The first word of a header value is shorter, so that its line (header
//! name, `": "`, word) stays within 76 characters (RFC 2047 §2): the token
//! sink tells where that word starts (`TokenSink::lead`). The words after
//! it follow a fold point and get the whole 75. When the header name is so
//! long that not even a word of one character fits after it, the first word
//! gets the whole 75 too and the folder starts it on the next line
//! (`Name:` CRLF SP word; see [`crate::header::write_header`]).

use super::{Charset, EncodingError, Token};
use crate::header::TokenSink;

/// Longest encoded word (RFC 2047 §2).
pub const MAX_WORD_LEN: usize = 75;

/// Longest line holding an encoded word (RFC 2047 §2), CRLF excluded.
pub(crate) const MAX_ENCODED_LINE_LEN: usize = 76;

/// The least payload (encoded text between `?X?` and `?=`) a first word is
/// given a budget of its own for: a character or two of any charset. With
/// less room the word starts on the next line instead.
const MIN_FIRST_PAYLOAD: usize = 12;

/// The longest first encoded word for a token sink: one that fits on the
/// header's first line when the next token starts it, else any word.
pub(crate) fn first_word_len(tokens: &impl TokenSink) -> usize {
    tokens.lead().map_or(MAX_WORD_LEN, |lead| {
        MAX_ENCODED_LINE_LEN.saturating_sub(lead).min(MAX_WORD_LEN)
    })
}

/// A plain word longer than this is encoded (split over several encoded
/// words) so that the header can be folded under 998 octets per line.
pub const MAX_PLAIN_WORD_LEN: usize = 900;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Which characters `Q` may leave literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QMode {
    /// `*text` (RFC 2047 §5(1)): printable ASCII except `=`, `?`, `_`.
    Text,
    /// `phrase` (RFC 2047 §5(3)): only `A-Za-z0-9!*+-/`.
    Phrase,
}

#[inline]
fn q_literal(b: u8, mode: QMode) -> bool {
    match mode {
        QMode::Text => (0x21..=0x7E).contains(&b) && b != b'=' && b != b'?' && b != b'_',
        QMode::Phrase => b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/'),
    }
}

#[inline]
fn q_cost(b: u8, mode: QMode) -> usize {
    if b == b' ' || q_literal(b, mode) {
        1
    } else {
        3
    }
}

fn q_len(bytes: &[u8], mode: QMode) -> usize {
    bytes.iter().map(|&b| q_cost(b, mode)).sum()
}

#[inline]
fn b_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Whether `text` needs RFC 2047 encoding to survive as an unstructured
/// header value: non-ASCII, C0 controls (CR, LF included; TAB excluded) or
/// DEL, a whitespace-separated word containing `=?` (so anything that
/// could pass for an encoded word), leading or trailing whitespace, or a
/// word, or a stretch of words joined by whitespace other than a single
/// space, longer than [`MAX_PLAIN_WORD_LEN`].
///
/// When this is false, [`encode_unstructured`] returns the words unchanged.
pub fn needs_encoding(text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    // The usual short plain value: printable ASCII and tabs, no `=?`, no
    // whitespace at its ends (no word or stretch can pass 900 octets).
    let b = text.as_bytes();
    if b.len() <= MAX_PLAIN_WORD_LEN
        && (crate::header::is_printable_ascii(b)
            || b.iter().all(|&c| c == b'\t' || (0x20..0x7F).contains(&c)))
        && !is_wsp(b[0])
        && !is_wsp(b[b.len() - 1])
        && !has_word_start(b)
    {
        return false;
    }
    if !text.is_ascii() {
        return true;
    }
    let b = text.as_bytes();
    if is_wsp(b[0]) || is_wsp(b[b.len() - 1]) {
        return true;
    }
    words(text).any(|(_, w)| word_needs_encoding(w, false)) || has_long_stretch(text)
}

/// Whether some stretch of words joined by whitespace other than a single
/// space is longer than [`MAX_PLAIN_WORD_LEN`]. Such a stretch has no fold
/// point every reader agrees on (mail-parser turns the whitespace around
/// a fold into one space), so, like an overlong word, it is encoded: the
/// encoded words carry its whitespace and fold at single spaces.
fn has_long_stretch(text: &str) -> bool {
    let mut stretch_start = None;
    let mut offset = 0usize;
    for (ws, word) in words(text) {
        let start = offset + ws.len();
        offset = start + word.len();
        if ws == " " || stretch_start.is_none() {
            stretch_start = Some(start);
        }
        if offset - stretch_start.unwrap_or(start) > MAX_PLAIN_WORD_LEN {
            return true;
        }
    }
    false
}

/// Whether `text` holds `=?`, which could start an encoded word: a plain
/// scan (a substring searcher's set-up costs more on header-sized values).
#[inline]
pub(crate) fn has_word_start(text: &[u8]) -> bool {
    memchr::memchr_iter(b'=', text).any(|i| text.get(i + 1) == Some(&b'?'))
}

#[inline]
fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits into (preceding whitespace, word) pairs; trailing whitespace is
/// not returned.
fn words(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let bytes = text.as_bytes();
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let ws_start = pos;
        while pos < bytes.len() && is_wsp(bytes[pos]) {
            pos += 1;
        }
        if pos == bytes.len() {
            return None;
        }
        let word_start = pos;
        while pos < bytes.len() && !is_wsp(bytes[pos]) {
            pos += 1;
        }
        // Spaces and tabs are ASCII, so these are char boundaries.
        Some((
            slice(text, ws_start, word_start),
            slice(text, word_start, pos),
        ))
    })
}

fn word_needs_encoding(word: &str, raw_utf8: bool) -> bool {
    if word.len() > MAX_PLAIN_WORD_LEN || has_word_start(word.as_bytes()) {
        return true;
    }
    if raw_utf8 {
        word.chars().any(|c| c.is_control() && c != '\t')
    } else {
        word.bytes().any(|b| !(0x20..0x7F).contains(&b))
    }
}

/// Encodes an unstructured header value (Subject, comments-free custom
/// header text) into tokens for folding.
///
/// Words that need no encoding stay plain, with their original preceding
/// whitespace; but a plain word separated from an encoded word by anything
/// other than one space is encoded with it (see below). Maximal runs of words that need encoding become encoded
/// words; the whitespace inside such a run, and any leading or trailing
/// whitespace of the value, is encoded too (decoders drop whitespace
/// between adjacent encoded words). Encoded words after the first in a run
/// get a single-space `space`. The first token's `space` is always empty.
///
/// Between a plain token and an encoded word the `space` is always exactly
/// one space: RFC 2047 says such whitespace is kept, but common decoders
/// (mail-parser) normalise it to one space, so other whitespace there is
/// moved inside the encoded text by encoding the neighbouring plain word.
///
/// A stretch of words joined by whitespace other than a single space
/// (double spaces, tabs) that is longer than [`MAX_PLAIN_WORD_LEN`] is
/// encoded, as an overlong word is: it could only be folded inside its
/// whitespace, which mail-parser reads back as one space.
///
/// With `raw_utf8` (SMTPUTF8, RFC 6532) non-ASCII words stay raw; only
/// controls, look-alike encoded words, overlong words and overlong
/// stretches are encoded.
pub fn encode_unstructured(
    text: &str,
    charset: Charset,
    raw_utf8: bool,
) -> Result<Vec<Token>, EncodingError> {
    let mut tokens = Vec::new();
    encode_unstructured_into(text, charset, raw_utf8, &mut tokens)?;
    Ok(tokens)
}

/// [`encode_unstructured`] into any token sink (the composer folds the
/// tokens straight into the header).
pub(crate) fn encode_unstructured_into(
    text: &str,
    charset: Charset,
    raw_utf8: bool,
    tokens: &mut impl TokenSink,
) -> Result<(), EncodingError> {
    // Plain text (the usual subject): its words, each with the whitespace
    // before it, exactly as the general path below would give them.
    if !needs_encoding(text) {
        for (k, (ws, word)) in words(text).enumerate() {
            tokens.token(if k == 0 { "" } else { ws }, word);
        }
        return Ok(());
    }
    // One word (no space or tab: a CJK subject): what the general path
    // below gives for a single word, without its lists (native only: the
    // wasm build's size is bounded).
    if !cfg!(target_arch = "wasm32") && memchr::memchr2(b' ', b'\t', text.as_bytes()).is_none() {
        if word_needs_encoding(text, raw_utf8) {
            push_run(text, "", charset, tokens)?;
        } else {
            tokens.token("", text);
        }
        return Ok(());
    }
    encode_spaced(text, charset, raw_utf8, tokens)
}

/// [`encode_unstructured_into`] for any text that needs encoding (the
/// general path).
fn encode_spaced(
    text: &str,
    charset: Charset,
    raw_utf8: bool,
    tokens: &mut impl TokenSink,
) -> Result<(), EncodingError> {
    let n = text.len();
    let lead = text.bytes().take_while(|&b| is_wsp(b)).count();
    if lead == n {
        if n > 0 {
            push_run(text, "", charset, tokens)?;
        }
        return Ok(());
    }
    let trail_start = n - text.bytes().rev().take_while(|&b| is_wsp(b)).count();

    // (start, end, encode) per word; the whitespace before word k is
    // text[end of word k-1 .. start of word k].
    let mut list: Vec<(usize, usize, bool)> = Vec::new();
    let mut offset = 0usize;
    for (ws, word) in words(text) {
        let start = offset + ws.len();
        let end = start + word.len();
        offset = end;
        let first = start == lead;
        let last = end == trail_start;
        let encode =
            word_needs_encoding(word, raw_utf8) || (first && lead > 0) || (last && end < n);
        list.push((start, end, encode));
    }
    // A stretch of words without a single space between them that is too
    // long for a line is encoded (see `has_long_stretch`).
    let mut first_of_stretch = 0;
    for k in 1..=list.len() {
        let breaks = k == list.len() || slice(text, list[k - 1].1, list[k].0) == " ";
        if breaks {
            if list[k - 1].1 - list[first_of_stretch].0 > MAX_PLAIN_WORD_LEN {
                for w in &mut list[first_of_stretch..k] {
                    w.2 = true;
                }
            }
            first_of_stretch = k;
        }
    }
    // Whitespace between a plain word and an encoded word survives only as
    // a single space in common decoders (mail-parser normalises it), so when
    // it is anything else the plain word joins the encoded run, which then
    // carries that whitespace inside its encoded text.
    for k in 1..list.len() {
        if list[k - 1].2 && !list[k].2 && slice(text, list[k - 1].1, list[k].0) != " " {
            list[k].2 = true;
        }
    }
    for k in (1..list.len()).rev() {
        if list[k].2 && !list[k - 1].2 && slice(text, list[k - 1].1, list[k].0) != " " {
            list[k - 1].2 = true;
        }
    }

    // The encoded run being gathered: its start offset and preceding space.
    let mut run: Option<(usize, &str)> = None;
    let mut run_end = 0usize;
    let mut prev_end = 0usize;
    for &(start, end, encode) in &list {
        let first = start == lead;
        let last = end == trail_start;
        let ws = slice(text, prev_end, start);
        prev_end = end;
        if encode {
            if run.is_none() {
                run = Some(if first { (0, "") } else { (start, ws) });
            }
            run_end = if last { n } else { end };
        } else {
            if let Some((run_start, space)) = run.take() {
                push_run(slice(text, run_start, run_end), space, charset, tokens)?;
            }
            tokens.token(if first { "" } else { ws }, slice(text, start, end));
        }
    }
    if let Some((run_start, space)) = run {
        push_run(slice(text, run_start, run_end), space, charset, tokens)?;
    }
    Ok(())
}

/// `text[a..b]` without any way to panic (the offsets are char boundaries
/// by construction).
fn slice(text: &str, a: usize, b: usize) -> &str {
    text.get(a..b).unwrap_or("")
}

fn push_run(
    run: &str,
    space: &str,
    charset: Charset,
    tokens: &mut impl TokenSink,
) -> Result<(), EncodingError> {
    let mut space = space;
    let first = first_word_len(tokens);
    encode_run(run, charset, QMode::Text, first, MAX_WORD_LEN, |word| {
        tokens.token(space, word);
        space = " ";
    })
}

/// Encodes a whole display name as encoded words (to be joined by single
/// spaces), using the restricted phrase form of `Q` (RFC 2047 §5(3)) or
/// `B`, whichever is shorter per word. Decoders give back the exact name,
/// spaces included. Empty input gives no words.
pub fn encode_phrase(text: &str, charset: Charset) -> Result<Vec<String>, EncodingError> {
    encode_phrase_sized(text, charset, MAX_WORD_LEN, MAX_WORD_LEN)
}

/// [`encode_phrase`] with the first word at most `first` characters long
/// and the others at most `rest` (each at most [`MAX_WORD_LEN`]; a word
/// of a single character may still be longer).
pub(crate) fn encode_phrase_sized(
    text: &str,
    charset: Charset,
    first: usize,
    rest: usize,
) -> Result<Vec<String>, EncodingError> {
    let mut out = Vec::new();
    encode_run(text, charset, QMode::Phrase, first, rest, |w| {
        out.push(w.to_owned())
    })?;
    Ok(out)
}

/// [`encode_phrase`], handing each word to `emit` instead of collecting,
/// the first one at most `first` characters long (see [`first_word_len`]).
pub(crate) fn encode_phrase_each(
    text: &str,
    charset: Charset,
    first: usize,
    emit: impl FnMut(&str),
) -> Result<(), EncodingError> {
    encode_run(text, charset, QMode::Phrase, first, MAX_WORD_LEN, emit)
}

/// Encodes the whole text as encoded words (to be joined by single spaces),
/// `B` or `Q` per word, whichever is shorter, like emailjs's
/// `mimeWordEncode`. `Q` uses the restricted phrase alphabet so the words are
/// safe in any header context (phrases, comments, quoted strings).
pub fn encode_words(text: &str, charset: Charset) -> Result<Vec<String>, EncodingError> {
    encode_phrase(text, charset)
}

/// The escape sequence that returns ISO-2022-JP to ASCII.
const ESC_ASCII: &[u8] = b"\x1b(B";

/// Splits `s` into encoded words, calling `emit` for each: the first at
/// most `first` characters long, the others at most `rest` (see
/// [`MIN_FIRST_PAYLOAD`] for a `first` too small for any word).
fn encode_run<F: FnMut(&str)>(
    s: &str,
    charset: Charset,
    mode: QMode,
    first: usize,
    rest: usize,
    mut emit: F,
) -> Result<(), EncodingError> {
    let name = charset.name();
    let mut word = WordBuf::new();
    // "=?" name "?X?" ... "?="
    let overhead = name.len() + 7;
    let rest_budget = rest.min(MAX_WORD_LEN).saturating_sub(overhead).max(12);
    let first_budget = match first.min(MAX_WORD_LEN).saturating_sub(overhead) {
        b if b >= MIN_FIRST_PAYLOAD => b,
        _ => MAX_WORD_LEN.saturating_sub(overhead).max(12),
    };
    let mut budget = first_budget;
    let mut start = 0usize;
    while start < s.len() {
        let rest = slice(s, start, s.len());
        // UTF-8: the plan counts the Q length of exactly these octets.
        let (mut end, mut planned_q) = if charset.is_utf8() {
            let (end, q) = plan_word_utf8(rest.as_bytes(), mode, budget);
            (end, Some(q))
        } else {
            (plan_word(rest, charset, mode, budget)?, None)
        };
        if end == 0 {
            break;
        }
        loop {
            let chunk = slice(rest, 0, end);
            let bytes = charset.encode(chunk)?;
            let q = planned_q.take().unwrap_or_else(|| q_len(&bytes, mode));
            let b = b_len(bytes.len());
            let single = chunk.chars().nth(1).is_none();
            if q.min(b) <= budget || single {
                word.clear();
                write_word(&mut word, name, &bytes, mode, q <= b);
                // Always ASCII: the charset name, `B` or `Q` text.
                emit(word.as_str());
                break;
            }
            // The plan over-estimated (should not happen): drop a char.
            end = chunk.char_indices().next_back().map_or(end, |(i, _)| i);
        }
        start += end;
        budget = rest_budget;
    }
    Ok(())
}

/// Byte length of the longest prefix of `s` (at least one char) whose
/// encoding fits `budget` characters as B or Q. For stateful charsets the
/// cost is an upper bound on the real encoding of the prefix.
fn plan_word(
    s: &str,
    charset: Charset,
    mode: QMode,
    budget: usize,
) -> Result<usize, EncodingError> {
    let utf8 = charset.is_utf8();
    if utf8 {
        return Ok(plan_word_utf8(s.as_bytes(), mode, budget).0);
    }
    let stateful = charset.is_stateful();
    let mut q = 0usize;
    let mut nbytes = 0usize;
    // ISO-2022-JP model: the current escape (None = ASCII).
    let mut state: Option<[u8; 3]> = None;
    let mut end = 0usize;
    let mut buf = [0u8; 16];
    for (i, ch) in s.char_indices() {
        let cb: &[u8] = if utf8 {
            ch.encode_utf8(&mut buf).as_bytes()
        } else {
            let mut tmp = [0u8; 4];
            let ch_str: &str = ch.encode_utf8(&mut tmp);
            let mut encoder = charset.encoding().new_encoder();
            let (res, _, written) =
                encoder.encode_from_utf8_without_replacement(ch_str, &mut buf, true);
            let cb = &buf[..written.min(buf.len())];
            // `ch` itself: ISO-2022-JP reports ESC, SO and SI as U+FFFD.
            // A character written as another's bytes (Shift_JIS `¥` as
            // `\`) is as unmappable as one the encoder reports.
            if matches!(res, encoding_rs::EncoderResult::Unmappable(_)) || charset.substitutes(ch) {
                return Err(EncodingError::Unmappable {
                    charset: charset.name(),
                    character: ch,
                });
            }
            cb
        };
        let (mut dq, mut dn) = (0usize, 0usize);
        let mut new_state = state;
        let payload: &[u8] = if stateful && cb.len() >= 6 && cb[0] == 0x1B {
            let esc = [cb[0], cb[1], cb[2]];
            if state != Some(esc) {
                dq += q_len(&esc, mode);
                dn += 3;
            }
            new_state = Some(esc);
            &cb[3..cb.len() - 3]
        } else {
            if stateful && state.is_some() {
                dq += q_len(ESC_ASCII, mode);
                dn += 3;
            }
            new_state = if stateful { None } else { new_state };
            cb
        };
        dq += q_len(payload, mode);
        dn += payload.len();
        let (rq, rn) = if new_state.is_some() {
            (q_len(ESC_ASCII, mode), 3)
        } else {
            (0, 0)
        };
        let total_q = q + dq + rq;
        let total_b = b_len(nbytes + dn + rn);
        if i > 0 && total_q.min(total_b) > budget {
            break;
        }
        q += dq;
        nbytes += dn;
        state = new_state;
        end = i + ch.len_utf8();
    }
    Ok(end)
}

/// [`plan_word`] for UTF-8, where a character's bytes are its encoding:
/// the same decisions, per byte instead of per transcoded character.
/// Returns the prefix's length and its Q length.
fn plan_word_utf8(s: &[u8], mode: QMode, budget: usize) -> (usize, usize) {
    // Native only (the wasm build's size is bounded): a prefix with no
    // ASCII octet (CJK, emoji) costs three Q columns an octet against at
    // most four B columns for three, so B decides, and the loop below
    // takes every character that ends within the octets B fits: found
    // here without a step per character.
    let b_max = budget / 4 * 3;
    if !cfg!(target_arch = "wasm32") && b_max >= 4 {
        let n = s.len().min(b_max);
        if s[..n].iter().fold(0x80, |acc, &b| acc & b) == 0x80 && n > 0 {
            let mut end = n;
            if s.len() > b_max {
                // Back to the start of the character that crosses `b_max`
                // (a lead octet is never 0b10xx_xxxx).
                while end > 0 && s[end] & 0xC0 == 0x80 {
                    end -= 1;
                }
            }
            if end > 0 {
                return (end, 3 * end);
            }
        }
    }
    plan_word_utf8_each(s, mode, budget)
}

/// [`plan_word_utf8`] a character at a time.
fn plan_word_utf8_each(s: &[u8], mode: QMode, budget: usize) -> (usize, usize) {
    let mut q = 0usize;
    let mut i = 0usize;
    while i < s.len() {
        let lead = s[i];
        let ch_len = match lead {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let ch = &s[i..(i + ch_len).min(s.len())];
        let dq = if ch_len == 1 {
            q_cost(lead, mode)
        } else {
            // Non-ASCII octets are never literal in Q.
            3 * ch.len()
        };
        let total_q = q + dq;
        let total_b = b_len(i + ch.len());
        if i > 0 && total_q.min(total_b) > budget {
            break;
        }
        q = total_q;
        i += ch.len();
    }
    (i, q)
}

/// Octets an encoded word is written in without the heap: every word
/// (at most [`MAX_WORD_LEN`], or one character's few octets encoded with
/// the charset's name) fits; anything longer would go to `spill`.
const WORD_BUF: usize = 128;

/// One encoded word being written, on the stack.
struct WordBuf {
    buf: [u8; WORD_BUF],
    len: usize,
    /// The word when it outgrows `buf` (never, by the bounds above).
    spill: Vec<u8>,
}

impl WordBuf {
    fn new() -> Self {
        WordBuf {
            buf: [0; WORD_BUF],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    // Inlined natively: most calls append a few constant octets. (Not in
    // the wasm build, whose size is bounded.)
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if self.spill.is_empty() && end <= WORD_BUF {
            self.buf[self.len..end].copy_from_slice(bytes);
            self.len = end;
        } else {
            self.spill_extend(bytes);
        }
    }

    /// [`WordBuf::extend_from_slice`] past the stack buffer (never, by
    /// the bounds above).
    #[cfg_attr(not(target_arch = "wasm32"), cold, inline(never))]
    fn spill_extend(&mut self, bytes: &[u8]) {
        if self.spill.is_empty() {
            self.spill.extend_from_slice(&self.buf[..self.len]);
        }
        self.spill.extend_from_slice(bytes);
    }

    #[inline]
    fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    fn as_bytes(&self) -> &[u8] {
        if self.spill.is_empty() {
            &self.buf[..self.len]
        } else {
            &self.spill
        }
    }

    /// The word as text, without validating it again: a word is only ever
    /// written by [`write_word`], of ASCII octets and the charset's name.
    #[allow(unsafe_code)]
    fn as_str(&self) -> &str {
        let bytes = self.as_bytes();
        debug_assert!(std::str::from_utf8(bytes).is_ok(), "{bytes:?}");
        // SAFETY: `bytes` is UTF-8: `encode_run` clears the buffer, then
        // `write_word` appends only the ASCII octets `=?`, `?Q?` or `?B?`,
        // `?=`, Q's `_`, `=`, hex digits and the octets `q_literal` passes
        // (all within 0x21..=0x7E), base64 characters (`push_base64`), and
        // the whole of a `&str` (the charset's name). ASCII octets and
        // whole UTF-8 strings joined are UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

/// Appends the padded base64 of `bytes` (an encoded word's few dozen
/// octets: a plain table walk beats a general engine's setup here).
fn push_base64(bytes: &[u8], w: &mut WordBuf) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| ALPHABET[(v & 63) as usize];
    let mut groups = bytes.chunks_exact(3);
    // Whole groups written in place when they fit (they always do).
    let (start, end) = (w.len, w.len + bytes.len() / 3 * 4);
    // Native x86_64 with AVX2: all of them at once (64 characters written,
    // those past the groups left past `len`).
    #[cfg(target_arch = "x86_64")]
    let vector = w.spill.is_empty() && start + 64 <= WORD_BUF && {
        let mut chars = [0u8; 64];
        super::base64::word_groups(bytes, &mut chars) && {
            w.buf[start..start + 64].copy_from_slice(&chars);
            w.len = end;
            true
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let vector = false;
    if vector {
        // Done above.
    } else if w.spill.is_empty() && end <= WORD_BUF {
        for (g, o) in (&mut groups).zip(w.buf[start..end].chunks_exact_mut(4)) {
            let v = u32::from(g[0]) << 16 | u32::from(g[1]) << 8 | u32::from(g[2]);
            o.copy_from_slice(&[sym(v >> 18), sym(v >> 12), sym(v >> 6), sym(v)]);
        }
        w.len = end;
    } else {
        for g in &mut groups {
            let v = u32::from(g[0]) << 16 | u32::from(g[1]) << 8 | u32::from(g[2]);
            w.extend_from_slice(&[sym(v >> 18), sym(v >> 12), sym(v >> 6), sym(v)]);
        }
    }
    match *groups.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            w.extend_from_slice(&[sym(v >> 18), sym(v >> 12), b'=', b'=']);
        }
        [a, b] => {
            let v = u32::from(a) << 16 | u32::from(b) << 8;
            w.extend_from_slice(&[sym(v >> 18), sym(v >> 12), sym(v >> 6), b'=']);
        }
        _ => {}
    }
}

/// Appends one encoded word (ASCII) to `w`.
fn write_word(w: &mut WordBuf, name: &str, bytes: &[u8], mode: QMode, use_q: bool) {
    w.extend_from_slice(b"=?");
    w.extend_from_slice(name.as_bytes());
    if use_q {
        w.extend_from_slice(b"?Q?");
        for &b in bytes {
            if b == b' ' {
                w.push(b'_');
            } else if q_literal(b, mode) {
                w.push(b);
            } else {
                w.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
        }
    } else {
        w.extend_from_slice(b"?B?");
        push_base64(bytes, w);
    }
    w.extend_from_slice(b"?=");
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A strict RFC 2047 decoder for unstructured text: whitespace between
    /// two adjacent encoded words is dropped, everything else is literal.
    pub(crate) fn decode_unstructured(value: &str) -> String {
        let mut out = String::new();
        let mut pending_ws = String::new();
        let mut prev_encoded = false;
        let mut rest = value;
        while !rest.is_empty() {
            let ws_len = rest.bytes().take_while(|&b| is_wsp(b)).count();
            let (ws, after) = rest.split_at(ws_len);
            pending_ws.push_str(ws);
            if after.is_empty() {
                out.push_str(&pending_ws);
                break;
            }
            let wl = after.bytes().take_while(|&b| !is_wsp(b)).count();
            let (word, tail) = after.split_at(wl);
            rest = tail;
            match decode_word(word) {
                Some(text) => {
                    if !prev_encoded {
                        out.push_str(&pending_ws);
                    }
                    out.push_str(&text);
                    prev_encoded = true;
                }
                None => {
                    out.push_str(&pending_ws);
                    out.push_str(word);
                    prev_encoded = false;
                }
            }
            pending_ws.clear();
        }
        out
    }

    /// Decodes one encoded word, or None if `word` is not one.
    pub(crate) fn decode_word(word: &str) -> Option<String> {
        let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
        let mut parts = inner.splitn(3, '?');
        let cs = parts.next()?;
        let enc = parts.next()?;
        let text = parts.next()?;
        if text.contains('?') || text.contains(' ') || text.is_empty() {
            return None;
        }
        let bytes = match enc {
            "B" | "b" => {
                use ::base64::Engine as _;
                ::base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()?
            }
            "Q" | "q" => {
                let t = text.as_bytes();
                let mut v = Vec::new();
                let mut i = 0;
                while i < t.len() {
                    match t[i] {
                        b'_' => v.push(b' '),
                        b'=' => {
                            let h = std::str::from_utf8(t.get(i + 1..i + 3)?).ok()?;
                            v.push(u8::from_str_radix(h, 16).ok()?);
                            i += 2;
                        }
                        b => v.push(b),
                    }
                    i += 1;
                }
                v
            }
            _ => return None,
        };
        let encoding = encoding_rs::Encoding::for_label(cs.as_bytes())?;
        let (s, bad) = encoding.decode_without_bom_handling(&bytes);
        assert!(!bad, "malformed bytes in {word}");
        // Each word must end in the initial state for stateful charsets.
        if encoding == encoding_rs::ISO_2022_JP {
            if let Some(p) = bytes.iter().rposition(|&b| b == 0x1B) {
                assert!(
                    bytes[p..].starts_with(ESC_ASCII),
                    "{word} does not end in ASCII"
                );
            }
        }
        Some(s.into_owned())
    }

    /// Checks the structural rules on tokens and returns the header value.
    pub(crate) fn check_tokens(tokens: &[Token], raw_utf8: bool) -> String {
        let mut value = String::new();
        for (k, t) in tokens.iter().enumerate() {
            if k == 0 {
                assert_eq!(t.space, "", "first token has space");
            } else {
                assert!(!t.space.is_empty(), "glued token {t:?}");
            }
            assert!(t.space.bytes().all(is_wsp));
            assert!(!t.text.is_empty());
            assert!(!t.text.starts_with([' ', '\t']) && !t.text.ends_with([' ', '\t']));
            assert!(!t.text.contains(['\r', '\n']));
            if !raw_utf8 {
                assert!(t.text.is_ascii(), "non-ASCII token {t:?}");
            }
            if t.text.starts_with("=?") {
                assert!(t.text.len() <= MAX_WORD_LEN, "long word {}", t.text);
                assert!(t.text.is_ascii());
                assert!(decode_word(&t.text).is_some(), "bad word {}", t.text);
            } else {
                assert!(t.text.len() <= MAX_PLAIN_WORD_LEN);
                assert!(!t.text.contains("=?"));
            }
            if k > 0 && tokens[k - 1].text.starts_with("=?") != t.text.starts_with("=?") {
                assert_eq!(t.space, " ", "plain/encoded boundary {t:?}");
            }
            value.push_str(&t.space);
            value.push_str(&t.text);
        }
        value
    }

    pub(crate) fn tricky_inputs() -> Vec<String> {
        let mut v: Vec<String> = [
            "Hello world",
            "Grüße aus Köln",
            "😀 emoji 😀😀 end",
            "日本語の件名です。とても長い件名をテストしています。文字化けしないでください。",
            "mixed English, Ελληνικά, русский, 中文, العربية and עברית",
            "  leading",
            "trailing  ",
            "  both  ",
            "a   b    c",
            "a\tb \t c",
            "\t",
            "   ",
            " ",
            "é",
            "é  é   é",
            "é a  é",
            "é  a",
            "a  é",
            "x\té\ty",
            "p  q é r\ts",
            "plain é plain",
            "=?UTF-8?B?SGk=?=",
            "x =?utf-8?q?hi?= y",
            "=?",
            "?=",
            "a=?b?=c",
            "=?iso-8859-1?q?caf=E9?= and =?utf-8?B?w6k=?=",
            "under_score and = equals ? question",
            "ctrl\u{7f}del",
            "line1\r\nline2",
            "bell\u{7}",
            "tab\tonly ascii",
            "naïve café résumé façade",
            "Ünïcödé_with_underscores=and=equals?and?questions",
            "(comment) \"quoted\" <angle> [brackets]",
            "\u{200b}zero width",
            "🇯🇵🇺🇸👨‍👩‍👧‍👦 flags and families",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("x".repeat(2000));
        v.push(format!("short {} short", "y".repeat(950)));
        v.push("é".repeat(2000));
        v.push("漢字".repeat(300));
        v.push(format!("{} {}", "a".repeat(900), "b".repeat(901)));
        v.push("word ".repeat(300));
        v.push("é ".repeat(200));
        v
    }

    #[test]
    fn small_base64_matches_the_engine() {
        use ::base64::Engine as _;
        for len in 0..100usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let want = ::base64::engine::general_purpose::STANDARD.encode(&bytes);
            // In the stack buffer, and past it (spilled).
            for lead in [1, WORD_BUF - 20] {
                let mut got = WordBuf::new();
                got.extend_from_slice(&vec![b'x'; lead]);
                push_base64(&bytes, &mut got);
                assert_eq!(got.as_bytes()[lead..], *want.as_bytes());
                assert!(got.as_bytes()[..lead].iter().all(|&b| b == b'x'));
            }
        }
    }

    /// The one-word shortcut gives the general path's tokens.
    #[test]
    fn single_words_match_the_general_path() {
        let pieces = [
            "a", "é", "日本", "=?", "?=", "_", "😀", "\u{1}", "\u{7f}", "x=y",
        ];
        let mut x: u64 = 3;
        for round in 0..3000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let count = 1 + (x >> 58) as usize;
            let mut word: String = (0..count)
                .map(|k| pieces[(x >> (k % 16 * 4)) as usize % pieces.len()])
                .collect();
            if round % 50 == 0 {
                word = word.repeat(100);
            }
            for cs in [Charset::UTF_8, Charset::from_label("iso-8859-1").unwrap()] {
                for raw in [false, true] {
                    let fast = encode_unstructured(&word, cs, raw);
                    let mut general = Vec::new();
                    let general = match needs_encoding(&word) {
                        true => encode_spaced(&word, cs, raw, &mut general).map(|()| general),
                        false => Ok(vec![Token::glued(word.clone())]),
                    };
                    assert_eq!(fast, general, "{word:?} {raw}");
                }
            }
        }
    }

    /// The shortcut for octets without ASCII gives what the loop gives.
    #[test]
    fn utf8_plan_shortcut_matches_the_loop() {
        let pieces = ["日", "é", "😀", "a", " ", "=", "한국", "✓"];
        let mut x: u64 = 11;
        for round in 0..4000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let count = (x >> 57) as usize;
            let mixed = round % 3 == 0;
            let text: String = (0..count)
                .map(|k| {
                    let i = (x >> (k % 20 * 3)) as usize % pieces.len();
                    if mixed {
                        pieces[i]
                    } else {
                        ["日", "é", "😀", "한국", "✓"][i % 5]
                    }
                })
                .collect();
            for budget in [12, 13, 14, 15, 16, 45, 60, 63, 64, 65, 66, 67] {
                for mode in [QMode::Text, QMode::Phrase] {
                    for start in 0..text.len().min(6) {
                        if !text.is_char_boundary(start) {
                            continue;
                        }
                        let s = &text.as_bytes()[start..];
                        assert_eq!(
                            plan_word_utf8(s, mode, budget),
                            plan_word_utf8_each(s, mode, budget),
                            "{text:?} from {start}, budget {budget}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn needs_encoding_cases() {
        assert!(!needs_encoding(""));
        assert!(!needs_encoding("Hello world"));
        assert!(!needs_encoding("a  b\tc"));
        assert!(!needs_encoding("a=b ?= x?"));
        assert!(needs_encoding("é"));
        assert!(needs_encoding("a\r\nb"));
        assert!(needs_encoding("a\u{7f}"));
        assert!(needs_encoding("=?UTF-8?B?SGk=?="));
        assert!(needs_encoding("x =?a?q?b?= y"));
        assert!(needs_encoding(" lead"));
        assert!(needs_encoding("trail\t"));
        assert!(needs_encoding(&"x".repeat(901)));
        assert!(!needs_encoding(&"x".repeat(900)));
    }

    #[test]
    fn plain_stays_plain() {
        let toks = encode_unstructured("Hello  big\tworld", Charset::UTF_8, false).unwrap();
        assert_eq!(
            toks,
            vec![
                Token::glued("Hello"),
                Token {
                    space: "  ".into(),
                    text: "big".into()
                },
                Token {
                    space: "\t".into(),
                    text: "world".into()
                },
            ]
        );
        assert!(encode_unstructured("", Charset::UTF_8, false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn simple_shapes() {
        let toks =
            encode_unstructured("Straßenbahnhaltestelle aus Köln", Charset::UTF_8, false).unwrap();
        let texts: Vec<&str> = toks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "=?utf-8?Q?Stra=C3=9Fenbahnhaltestelle?=",
                "aus",
                "=?utf-8?B?S8O2bG4=?="
            ]
        );
        assert_eq!(toks[1].space, " ");
        assert_eq!(toks[2].space, " ");
        let toks = encode_unstructured("  x", Charset::UTF_8, false).unwrap();
        assert_eq!(toks, vec![Token::glued("=?utf-8?Q?__x?=")]);
        let toks = encode_unstructured("é  é", Charset::UTF_8, false).unwrap();
        assert_eq!(toks, vec![Token::glued("=?utf-8?B?w6kgIMOp?=")]);
        let toks = encode_unstructured("日本語", Charset::UTF_8, false).unwrap();
        assert_eq!(toks, vec![Token::glued("=?utf-8?B?5pel5pys6Kqe?=")]);
    }

    #[test]
    fn roundtrip_own_decoder() {
        let charsets = [
            "utf-8",
            "iso-2022-jp",
            "shift_jis",
            "latin1",
            "gb18030",
            "koi8-r",
        ];
        for label in charsets {
            let cs = Charset::from_label(label).unwrap();
            for input in tricky_inputs() {
                for raw in [false, true] {
                    let toks = match encode_unstructured(&input, cs, raw) {
                        Ok(t) => t,
                        Err(EncodingError::Unmappable { charset, character }) => {
                            assert_eq!(charset, cs.name());
                            assert!(input.contains(character));
                            assert!(cs.encode(&input).is_err());
                            continue;
                        }
                        Err(e) => panic!("{e}"),
                    };
                    let value = check_tokens(&toks, raw);
                    assert_eq!(decode_unstructured(&value), input, "{label} {raw} {value}");
                    if !needs_encoding(&input) {
                        assert_eq!(value, input);
                    }
                }
            }
        }
    }

    #[test]
    fn words_are_full_and_short() {
        // Long runs pack words close to the limit.
        let toks = encode_unstructured(&"é".repeat(2000), Charset::UTF_8, false).unwrap();
        for t in &toks[..toks.len() - 1] {
            assert!(t.text.len() >= MAX_WORD_LEN - 4, "{}", t.text);
        }
        let jp = Charset::from_label("iso-2022-jp").unwrap();
        let toks = encode_unstructured(&"日本語".repeat(100), jp, false).unwrap();
        for t in &toks[..toks.len() - 1] {
            assert!(t.text.len() >= MAX_WORD_LEN - 8, "{}", t.text);
        }
    }

    #[test]
    fn unmappable_is_reported() {
        let l1 = Charset::from_label("latin1").unwrap();
        assert_eq!(
            encode_unstructured("ok é 日本", l1, false),
            Err(EncodingError::Unmappable {
                charset: "windows-1252",
                character: '日'
            })
        );
        assert!(encode_phrase("日本", l1).is_err());
        // Raw UTF-8 mode never transcodes plain non-ASCII words.
        assert!(encode_unstructured("ok 日本", l1, true).is_ok());
    }

    #[test]
    fn raw_utf8_keeps_non_ascii() {
        let toks = encode_unstructured("Grüße  aus =?x?= Köln", Charset::UTF_8, true).unwrap();
        let texts: Vec<&str> = toks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["Grüße", "aus", "=?utf-8?B?PT94Pz0=?=", "Köln"]);
        assert_eq!(toks[1].space, "  ");
    }

    #[test]
    fn phrase_words() {
        for name in tricky_inputs() {
            let words = encode_phrase(&name, Charset::UTF_8).unwrap();
            let joined = words.join(" ");
            for w in &words {
                assert!(w.len() <= MAX_WORD_LEN && w.is_ascii());
                // Only the phrase-safe set may appear in Q text.
                if let Some(t) = w.strip_prefix("=?utf-8?Q?") {
                    let t = t.strip_suffix("?=").unwrap();
                    assert!(t
                        .bytes()
                        .all(|b| q_literal(b, QMode::Phrase) || b == b'_' || b == b'='));
                }
            }
            assert_eq!(decode_unstructured(&joined), name, "{joined}");
        }
        assert_eq!(
            encode_phrase("Jöhn Smith", Charset::UTF_8).unwrap(),
            ["=?utf-8?Q?J=C3=B6hn_Smith?="]
        );
        assert!(encode_phrase("", Charset::UTF_8).unwrap().is_empty());
        assert_eq!(
            encode_words("hello world.", Charset::UTF_8).unwrap(),
            ["=?utf-8?Q?hello_world=2E?="]
        );
    }

    #[test]
    fn b_chosen_when_shorter() {
        let w = encode_words("😀😀😀", Charset::UTF_8).unwrap();
        assert_eq!(w, ["=?utf-8?B?8J+YgPCfmIDwn5iA?="]);
        let sj = Charset::from_label("shift_jis").unwrap();
        let w = encode_words("ハロー", sj).unwrap();
        assert_eq!(decode_word(&w[0]).unwrap(), "ハロー");
    }
}
