//! A built message: validated headers, the MIME tree, and its envelope.

use super::render::{Chunks, MessageStream, Renderer};
use super::{builder::MessageBuilder, ComposeError};
use crate::address::{AddressList, Mailbox};
use crate::encoding::text::{analyze_text, quick_scan, QuickScan, TextScan, TextStats};
use crate::encoding::{Charset, TransferEncoding};
use crate::envelope::{Envelope, RenderOptions};
use crate::header::{DateTime, HeaderName};
use std::borrow::Cow;
use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};

/// Where a message keeps its envelope once made: a `OnceLock` (messages
/// are shared between threads natively), a plain `OnceCell` in the
/// single-threaded wasm build (less code).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type EnvelopeCell = std::sync::OnceLock<Envelope>;
#[cfg(target_arch = "wasm32")]
pub(crate) type EnvelopeCell = std::cell::OnceCell<Envelope>;

/// A composed message, ready to be written as bytes (any number of times,
/// unless it holds a stream attachment) or handed to the SMTP engine.
///
/// ```
/// use mimeograph::mime::Message;
/// let message = Message::builder()
///     .from("Ann <ann@example.com>")
///     .to("bob@example.com")
///     .subject("Hello")
///     .text("Hi Bob!\n")
///     .build()?;
/// let bytes = message.to_bytes()?;
/// assert!(bytes.starts_with(b"Date: "));
/// # Ok::<(), mimeograph::mime::ComposeError>(())
/// ```
#[derive(Debug)]
pub struct Message {
    pub(crate) headers: TopHeaders,
    pub(crate) root: Node,
    pub(crate) leaves: Leaves,
    /// Made from the headers, `bcc` and `return_path` the first time it is
    /// asked for (a message only rendered never needs it); `build` checked
    /// that it has a recipient.
    pub(crate) envelope: EnvelopeCell,
    /// What most messages lack (Sender, In-Reply-To, References, custom
    /// headers, Bcc, the envelope sender): boxed, so that the usual
    /// message is smaller to move.
    pub(crate) extra: Option<Box<Extra>>,
    pub(crate) requires_smtputf8: bool,
}

/// The message-level headers, validated (the less used ones in
/// [`Extra`]).
#[derive(Debug)]
pub(crate) struct TopHeaders {
    pub date: DateTime,
    pub from: AddressList,
    pub reply_to: AddressList,
    pub to: AddressList,
    pub cc: AddressList,
    pub subject: Option<String>,
    pub message_id: super::boundary::ShortText,
    pub charset: Charset,
}

/// A message's less used headers and its envelope-only inputs.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub sender: Option<Mailbox>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub custom: Vec<(HeaderName, String)>,
    /// Bcc recipients (envelope only).
    pub bcc: AddressList,
    /// The envelope sender.
    pub return_path: Option<Mailbox>,
}

/// `result`, with its error marked as the unlikely outcome: the error
/// paths of the composer's usual calls (`hot(f())?`) are then laid out
/// away from the code that runs for every message, which stays dense in
/// the instruction cache.
#[inline(always)]
pub(crate) fn hot<T, E>(result: Result<T, E>) -> Result<T, E> {
    if result.is_err() {
        cold();
    }
    result
}

/// Marks the path that calls it as rarely taken.
#[cold]
#[inline(never)]
fn cold() {}

/// A node of the MIME tree.
#[derive(Debug)]
pub(crate) enum Node {
    /// A body part: an index into `Message::leaves`.
    Leaf(usize),
    /// A multipart (boxed: a message of one part, the usual one, moves
    /// a small node).
    Multipart(Box<Multipart>),
}

/// A multipart node.
#[derive(Debug)]
pub(crate) struct Multipart {
    /// `mixed`, `alternative` or `related`.
    pub subtype: &'static str,
    pub boundary: super::boundary::ShortText,
    pub children: Vec<Node>,
}

/// A message's body parts, in the order [`Node::Leaf`] indexes them: the
/// usual one without a heap list.
// Inline on purpose: the part of most messages, without an allocation.
// Only one: a [`Message`] is moved whole (built, returned), and every
// inline part makes each move longer (and the code that moves it).
// Native builds; the wasm build keeps a plain list (less code).
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Leaves {
    One([Leaf; 1]),
    /// Any number (none: an empty list, which holds no memory).
    Many(Vec<Leaf>),
}

/// (The wasm build: a plain list.)
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Default)]
pub(crate) struct Leaves(Vec<Leaf>);

#[cfg(target_arch = "wasm32")]
impl Leaves {
    /// The list of one part.
    pub(crate) fn one(leaf: Leaf) -> Self {
        Self(vec![leaf])
    }

    /// Appends a part; returns its index.
    pub(crate) fn push(&mut self, leaf: Leaf) -> usize {
        self.0.push(leaf);
        self.0.len() - 1
    }
}

#[cfg(target_arch = "wasm32")]
impl std::ops::Deref for Leaves {
    type Target = [Leaf];
    fn deref(&self) -> &[Leaf] {
        &self.0
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for Leaves {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Leaves {
    /// The list of one part.
    pub(crate) fn one(leaf: Leaf) -> Self {
        Self::One([leaf])
    }

    /// Appends a part; returns its index.
    pub(crate) fn push(&mut self, leaf: Leaf) -> usize {
        *self = match std::mem::take(self) {
            Self::Many(list) if list.is_empty() => Self::One([leaf]),
            Self::One([a]) => {
                let mut list = Vec::with_capacity(2);
                list.extend([a, leaf]);
                Self::Many(list)
            }
            Self::Many(mut list) => {
                list.push(leaf);
                Self::Many(list)
            }
        };
        self.len() - 1
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl std::ops::Deref for Leaves {
    type Target = [Leaf];
    fn deref(&self) -> &[Leaf] {
        match self {
            Self::One(list) => list,
            Self::Many(list) => list,
        }
    }
}

/// A body part's labels and content.
#[derive(Debug)]
pub(crate) struct Leaf {
    /// Names the part in errors: `text`, `html`, `attachment[2]`, ...
    pub field: Cow<'static, str>,
    pub media_type: Cow<'static, str>,
    /// Content-Type parameters other than `name` (charset, method).
    pub params: Params,
    pub filename: Option<String>,
    /// `Some(true)` inline, `Some(false)` attachment, `None` no disposition.
    pub disposition: Option<bool>,
    pub content_id: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
    pub body: LeafBody,
    pub forced: Option<TransferEncoding>,
}

/// A part's Content-Type parameters other than `name`, in the order they
/// are written (inline: most parts have one, and none needs a list).
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub charset: Option<Cow<'static, str>>,
    pub method: Option<String>,
}

impl Params {
    /// `(name, value)` pairs: `charset`, then `method`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> + Clone {
        let charset = self.charset.as_deref().map(|v| ("charset", v));
        let method = self.method.as_deref().map(|v| ("method", v));
        charset.into_iter().chain(method)
    }
}

/// Where a part's bytes are when the message is written.
pub(crate) enum LeafBody {
    /// Text (or an attached message): charset-encoded, line ends as given
    /// (CRLF, bare CR or bare LF), written in CRLF form.
    Text {
        bytes: Vec<u8>,
        /// What is known of `bytes`: its full scan, or what picks base64
        /// without it.
        scan: TextScans,
        /// Whether `bytes` holds a `=` (without one it cannot hold a
        /// boundary, which starts with `=_`).
        has_equals: bool,
        /// `message/*` (but `message/global`): may not be quoted-printable
        /// (RFC 2045 §6.4, RFC 2046 §5.2); `build` refuses a forced
        /// quoted-printable or base64 for it.
        is_message: bool,
    },
    /// Binary bytes in memory.
    Bytes(Vec<u8>),
    /// Base64 given by the user, re-wrapped into 76-character lines.
    Base64Lines(Vec<u8>),
    /// A file read when written.
    #[cfg(feature = "native")]
    Path(std::path::PathBuf),
    /// A stream read once when written.
    Reader {
        reader: Mutex<Option<Box<dyn Read + Send>>>,
        len: Option<u64>,
    },
}

/// What writing a text needs of its full scan: [`TextScan`] without the
/// count of `=` (`LeafBody::Text` keeps whether there is one), so that a
/// text part costs no more memory than before the scan could wait.
#[derive(Clone, Copy)]
pub(crate) struct TextFacts {
    /// The stats of the CRLF form (`len` is its length).
    pub stats: TextStats,
    /// Whether the text has a bare CR or LF, so that writing it converts.
    pub bare: bool,
    /// An upper bound on the length of the text in quoted-printable,
    /// counted with `stats` (a whole message's buffer is sized with it).
    pub qp_bound: usize,
}

impl From<TextScan> for TextFacts {
    fn from(scan: TextScan) -> Self {
        TextFacts {
            stats: scan.stats,
            bare: scan.bare,
            qp_bound: scan.qp_bound,
        }
    }
}

/// What is known of a text body: its full scan (made at build), or, for a
/// text that the quick counts pick base64 for when 8bit is not allowed
/// ([`QuickScan::base64_without_scan`]), its CRLF form's length and bare
/// line ends from those counts, and the full scan when first needed (boxed:
/// a part that never needs it holds a pointer's room, not a scan's).
pub(crate) enum TextScans {
    /// The full scan.
    Full(TextFacts),
    /// Picked base64 (without 8bit) from the quick counts.
    Quick {
        /// The length of the CRLF form.
        crlf_len: usize,
        /// Whether the text has a bare CR or LF.
        bare: bool,
        /// The full scan, made when first needed.
        full: OnceLock<Box<TextFacts>>,
    },
}

impl TextScans {
    /// Scans `bytes`: the quick counts, and the full scan unless they pick
    /// base64. Also gives whether `bytes` holds a `=`.
    pub(crate) fn of(bytes: &[u8]) -> (Self, bool) {
        // Native only: in the wasm build the full scan is ~2 µs of a W2
        // message's ~40 (Node 24 profile), and the quick pass would cost
        // 1.0 KB gzipped of the .wasm's 250 KB bound.
        let quick = if cfg!(target_arch = "wasm32") {
            None
        } else {
            quick_scan(bytes)
        };
        if let Some(q) = quick.filter(QuickScan::base64_without_scan) {
            if let Some((crlf_len, bare)) = q.crlf_len() {
                let quick = Self::Quick {
                    crlf_len,
                    bare,
                    full: OnceLock::new(),
                };
                return (quick, q.equals > 0);
            }
        }
        let scan = analyze_text(bytes);
        (Self::Full(scan.into()), scan.equals > 0)
    }
}

impl TextScans {
    /// The length of the text's CRLF form and whether it has a bare CR or
    /// LF (from the quick counts, the same as the full scan's).
    pub(crate) fn crlf_len(&self) -> (usize, bool) {
        match self {
            Self::Full(f) => (f.stats.len, f.bare),
            Self::Quick { crlf_len, bare, .. } => (*crlf_len, *bare),
        }
    }

    /// The full scan if it has been made.
    fn made(&self) -> Option<&TextFacts> {
        match self {
            Self::Full(f) => Some(f),
            Self::Quick { full, .. } => full.get().map(|f| &**f),
        }
    }

    /// The full scan of `bytes` (the text these scans are of), made now if
    /// not yet.
    pub(crate) fn full(&self, bytes: &[u8]) -> &TextFacts {
        match self {
            Self::Full(f) => f,
            Self::Quick { full, .. } => full.get_or_init(|| Box::new(analyze_text(bytes).into())),
        }
    }
}

impl std::fmt::Debug for LeafBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text { bytes, .. } => write!(f, "Text({} bytes)", bytes.len()),
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Base64Lines(b) => write!(f, "Base64Lines({} bytes)", b.len()),
            #[cfg(feature = "native")]
            Self::Path(p) => write!(f, "Path({})", p.display()),
            Self::Reader { len, .. } => write!(f, "Reader(len: {len:?})"),
        }
    }
}

impl Leaf {
    /// The transfer encoding this part is written with under `opts`.
    pub(crate) fn transfer_encoding(&self, opts: RenderOptions) -> TransferEncoding {
        if let Some(forced) = self.forced {
            return forced;
        }
        match &self.body {
            // An empty attachment as empty base64: some readers (npm
            // mailparser) take the delimiter's CRLF for the content of an
            // empty 7bit part.
            LeafBody::Text { bytes, .. } if bytes.is_empty() && self.disposition.is_some() => {
                TransferEncoding::Base64
            }
            LeafBody::Text {
                bytes,
                scan,
                is_message,
                ..
            } => {
                // message/partial and message/external-body: 7bit only
                // (else base64, as application/octet-stream).
                let allow_8bit =
                    opts.allow_8bit && !super::content_type::is_seven_bit_only(&self.media_type);
                // Picked base64 from the quick counts: the choice the full
                // stats give (base64 stays base64 for a message/* part too).
                // (Once the full scan is made, it decides, as a check.)
                let stats = match scan.made() {
                    Some(facts) => &facts.stats,
                    None if !allow_8bit => return TransferEncoding::Base64,
                    None => &scan.full(bytes).stats,
                };
                let chosen = crate::encoding::text::choose_text_encoding(stats, allow_8bit);
                if *is_message && chosen == TransferEncoding::QuotedPrintable {
                    TransferEncoding::Base64
                } else {
                    chosen
                }
            }
            _ => TransferEncoding::Base64,
        }
    }
}

impl Message {
    /// Starts building a message.
    pub fn builder() -> MessageBuilder {
        MessageBuilder::new()
    }

    /// The SMTP envelope: reverse path (Return-Path, else Sender, else the
    /// first From) and the de-duplicated To, Cc and Bcc recipients.
    pub fn envelope(&self) -> &Envelope {
        self.envelope.get_or_init(|| {
            let h = &self.headers;
            let none = AddressList::default();
            let (sender, return_path, bcc) = match self.extra.as_deref() {
                Some(e) => (e.sender.as_ref(), e.return_path.as_ref(), &e.bcc),
                None => (None, None, &none),
            };
            super::builder::make_envelope(&h.from, sender, return_path, [&h.to, &h.cc, bcc])
                // `build` checked that there is a recipient, the only error.
                .unwrap_or_default()
        })
    }

    /// True when an address in the headers or envelope has a non-ASCII
    /// local part, so the message can only travel with SMTPUTF8.
    pub fn requires_smtputf8(&self) -> bool {
        self.requires_smtputf8
    }

    /// The options [`Message::to_bytes`] uses: UTF-8 headers only when the
    /// message requires SMTPUTF8, no 8bit bodies.
    pub fn default_options(&self) -> RenderOptions {
        RenderOptions {
            utf8_headers: self.requires_smtputf8,
            allow_8bit: false,
        }
    }

    /// The Message-ID, without angle brackets.
    pub fn message_id(&self) -> &str {
        self.headers.message_id.as_str()
    }

    /// The Date header's time.
    pub fn date(&self) -> DateTime {
        self.headers.date
    }

    /// The subject, if any.
    pub fn subject(&self) -> Option<&str> {
        self.headers.subject.as_deref()
    }

    /// The whole message as bytes, with [`Message::default_options`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, ComposeError> {
        self.to_bytes_with(self.default_options())
    }

    /// The whole message as bytes, rendered with `opts`.
    pub fn to_bytes_with(&self, opts: RenderOptions) -> Result<Vec<u8>, ComposeError> {
        // Sized with upper bounds for quoted-printable parts, so that they
        // are encoded once, straight into the buffer (and the slack in
        // which text with bare line ends is converted a block at a time).
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(out) = super::render::render_in_memory(self, opts)? {
            return Ok(out);
        }
        let mut out = Vec::new();
        self.render_append(opts, &mut out, |out, bound| {
            // A failed reservation is not an error here: writing grows `out`.
            let _ = out.try_reserve_exact(bound);
            Ok::<(), ComposeError>(())
        })?;
        Ok(out)
    }

    /// Appends the whole message, rendered with `opts`, to `out` without a
    /// chunk buffer in between (the bytes of [`Message::to_bytes_with`]);
    /// `reserve` first sizes `out` for an upper bound of the length (the
    /// wasm bindings reserve fallibly and keep `out` between messages).
    pub(crate) fn render_append<E: From<ComposeError>>(
        &self,
        opts: RenderOptions,
        out: &mut Vec<u8>,
        reserve: impl FnOnce(&mut Vec<u8>, usize) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut renderer = Renderer::with_bounds(self, opts)?;
        let bound = renderer
            .size()
            .map_or(0, |s| usize::try_from(s).unwrap_or(usize::MAX))
            .saturating_add(crate::encoding::text::CRLF_SLACK);
        reserve(out, bound)?;
        renderer.render_into(self, out)?;
        Ok(())
    }

    /// Writes the message to `w` chunk by chunk (large attachments are
    /// never held whole), with [`Message::default_options`].
    pub fn write_to(&self, w: impl Write) -> Result<(), ComposeError> {
        self.write_to_with(w, self.default_options())
    }

    /// Writes the message to `w`, rendered with `opts`.
    pub fn write_to_with(
        &self,
        mut w: impl Write,
        opts: RenderOptions,
    ) -> Result<(), ComposeError> {
        let mut renderer = Renderer::new(self, opts)?;
        while let Some(chunk) = renderer.next_chunk(self)? {
            w.write_all(chunk).map_err(|source| ComposeError::Io {
                field: "output".into(),
                source,
            })?;
        }
        Ok(())
    }

    /// The message as an iterator of byte chunks (of at most about 80 KiB,
    /// except in-memory text bodies, which come whole).
    pub fn chunks(&self, opts: RenderOptions) -> Result<Chunks<'_>, ComposeError> {
        Chunks::new(self, opts)
    }

    /// The exact size in bytes when rendered with `opts`, if every part's
    /// size is known (streams without a declared length are not).
    pub fn encoded_len(&self, opts: RenderOptions) -> Option<u64> {
        super::render::plan_size(self, opts)
    }

    /// Turns the message into an owned stream of chunks, for transports and
    /// bindings that keep it across calls (see [`MessageStream`]).
    pub fn into_stream(self) -> MessageStream {
        MessageStream::new(self)
    }

    /// True when a part is a stream attachment ([`super::Attachment::reader`]):
    /// writing it calls the user's blocking `read`, which may never return.
    /// (The native clients read such a message on a thread of its own.)
    #[cfg(feature = "native")]
    pub(crate) fn has_reader(&self) -> bool {
        self.leaves
            .iter()
            .any(|leaf| matches!(leaf.body, LeafBody::Reader { .. }))
    }

    /// Replaces every stream attachment's reader not yet taken by
    /// `wrap(reader)` (e.g. a reader that reports its progress).
    #[cfg(feature = "native")]
    pub(crate) fn wrap_readers(
        &self,
        mut wrap: impl FnMut(Box<dyn Read + Send>) -> Box<dyn Read + Send>,
    ) {
        for leaf in self.leaves.iter() {
            if let LeafBody::Reader { reader, .. } = &leaf.body {
                let mut slot = reader
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(r) = slot.take() {
                    *slot = Some(wrap(r));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Attachment;

    /// A message of `text` and `html`, and a text attachment of `notes`, the
    /// same for every call (fixed seed).
    fn message(text: &str, html: &str, notes: &str) -> Message {
        Message::builder()
            .from("Zoë <zoe@example.com>")
            .to("taro@example.jp")
            .subject("日本語")
            .text(text)
            .html(html)
            .attach(Attachment::text(notes.to_string()).filename("notes.txt"))
            .deterministic(11)
            .build()
            .unwrap()
    }

    /// The same message with every text's full scan made before it is
    /// written: the choices and output as before the scan was lazy.
    fn scanned(text: &str, html: &str, notes: &str) -> Message {
        let m = message(text, html, notes);
        for leaf in m.leaves.iter() {
            if let LeafBody::Text { bytes, scan, .. } = &leaf.body {
                scan.full(bytes);
            }
        }
        m
    }

    /// A text body taken base64 from the quick counts (its full scan never
    /// made) gives the same transfer encodings, bytes, streamed bytes and
    /// length as one whose full scan is made first, for every option, with
    /// texts that go each way (dense non-ASCII with LF, CRLF or bare CR;
    /// Latin text; ASCII; controls; long lines).
    #[test]
    fn quick_base64_writes_what_the_full_scan_does() {
        let line = "日本語のテキスト 📈 報告書 Grüße ";
        let dense_lf = line.repeat(200).replace(' ', "\n");
        let dense_crlf = line.repeat(200).replace(' ', "\r\n");
        let dense_cr = line.repeat(200).replace(' ', "\r");
        let html = format!(
            "<html><body>\n<p>{}</p>\n</body></html>\n",
            line.repeat(300)
        );
        let latin = "Grüße aus Köln, déjà vu\n".repeat(100);
        let ascii = "plain = text\n".repeat(100);
        let odd = format!("{}\u{1}\u{7f}\n{}", "日本".repeat(400), "x".repeat(1200));
        // Near where quoted-printable and base64 meet: 2 of 12 and 2 of 14
        // octets non-ASCII.
        let edge = format!("{}\n", "éaaaaaaaaa".repeat(100));
        let past_edge = format!("{}\n", "éaaaaaaaaaaaa".repeat(100));
        let bodies = [
            &dense_lf,
            &dense_crlf,
            &dense_cr,
            &html,
            &latin,
            &ascii,
            &odd,
            &edge,
            &past_edge,
        ];
        let mut lazy_parts = 0;
        for text in bodies {
            for html in bodies {
                for notes in [&dense_lf, &ascii, &odd] {
                    for (utf8_headers, allow_8bit) in
                        [(false, false), (false, true), (true, false), (true, true)]
                    {
                        let opts = RenderOptions {
                            utf8_headers,
                            allow_8bit,
                        };
                        let lazy = message(text, html, notes);
                        let full = scanned(text, html, notes);
                        let encodings = |m: &Message| {
                            let e = m.leaves.iter().map(|l| l.transfer_encoding(opts));
                            e.collect::<Vec<_>>()
                        };
                        assert_eq!(encodings(&lazy), encodings(&full));
                        let out = lazy.to_bytes_with(opts).unwrap();
                        lazy_parts += lazy
                            .leaves
                            .iter()
                            .filter(|l| matches!(&l.body, LeafBody::Text { scan: TextScans::Quick { full, .. }, .. } if full.get().is_none()))
                            .count();
                        let want = full.to_bytes_with(opts).unwrap();
                        assert!(out == want, "to_bytes_with({opts:?}) differs");
                        let lazy = message(text, html, notes);
                        let mut streamed = Vec::new();
                        lazy.write_to_with(&mut streamed, opts).unwrap();
                        assert!(streamed == out, "write_to_with({opts:?}) differs");
                        let lazy = message(text, html, notes);
                        assert_eq!(lazy.encoded_len(opts), full.encoded_len(opts));
                        assert_eq!(lazy.encoded_len(opts), Some(out.len() as u64));
                    }
                }
            }
        }
        // The quick counts did decide parts (else this tests nothing).
        assert!(lazy_parts > 100, "{lazy_parts}");
    }
}
