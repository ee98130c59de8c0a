//! The streaming writer: a built [`Message`] becomes a plan of header bytes
//! and body parts, then chunks. In-memory text comes out without a copy,
//! attachments are base64-encoded a window at a time, so a large file or
//! stream is never held whole.
//!
//! A stream that has no data yet (its `read` fails with
//! [`std::io::ErrorKind::WouldBlock`], as a [`super::Feed`] does until the
//! next push) makes the writer *pending*: [`MessageStream::poll_chunk`]
//! gives [`Poll::Pending`] and the same call later goes on where it
//! stopped. The blocking entry points (`to_bytes`, `write_to`, `Chunks`,
//! `next_chunk`) report it as an I/O error of that kind instead.

use super::message::{hot, Leaf, LeafBody, Message, Node};
use super::ComposeError;
use crate::encoding::base64::{self, LineEncoder};
use crate::encoding::{qp, rfc2047, rfc2231, text, Charset, TransferEncoding};
use crate::envelope::RenderOptions;
use crate::header::{put, Folder, PendingFolder, TokenBuffers, TokenSink};
use std::io::Read;
use std::task::Poll;

/// Input bytes base64-encoded per chunk: a multiple of 57, so each chunk is
/// whole 76-character lines.
const WINDOW: usize = 57 * 1024;

/// Octets of text with bare line ends converted to CRLF at a time (into a
/// [`CrlfBuf`](crate::encoding::text::CrlfBuf) of twice that) before they are base64-encoded.
#[cfg(not(target_arch = "wasm32"))]
const PIECE: usize = 2048;
/// (The wasm build: a heap buffer, so smaller pieces.)
#[cfg(target_arch = "wasm32")]
const PIECE: usize = 1024;

/// The room for the CRLF form of a piece of text (natively a
/// [`text::CrlfBuf`] on the stack, in the wasm build the renderer's
/// scratch): at most `2 * PIECE` octets of a piece plus the at most 56
/// octets of an unfinished line carried over.
const PIECE_BUF: usize = 2 * PIECE + 57;

/// A message laid out for writing: all header and boundary bytes in one
/// buffer, and the segments that alternate between them and body parts.
struct Plan {
    head: Vec<u8>,
    segs: Vec<Seg>,
}

enum Seg {
    /// Header and boundary bytes: `head[start..end]`.
    Bytes(usize, usize),
    Leaf {
        leaf: usize,
        enc: TransferEncoding,
        multipart: bool,
        /// The encoded length of a quoted-printable part (0 otherwise),
        /// counted once when planning.
        qp_len: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Body,
    Tail,
    Done,
}

enum Stream {
    Reader(Box<dyn Read + Send>),
    #[cfg(feature = "native")]
    File(std::fs::File),
}

struct Active {
    leaf: usize,
    enc: TransferEncoding,
    multipart: bool,
    qp_len: u64,
    phase: Phase,
    pos: usize,
    total: u64,
    expected: Option<u64>,
    ended_crlf: bool,
    /// Bare line ends of a text written so far (each one octet more).
    bare_done: usize,
    encoder: LineEncoder,
    stream: Option<Stream>,
}

impl Active {
    fn new(
        leaf: usize,
        enc: TransferEncoding,
        multipart: bool,
        qp_len: u64,
        stream: Option<Stream>,
        expected: Option<u64>,
    ) -> Self {
        Active {
            leaf,
            enc,
            multipart,
            qp_len,
            phase: Phase::Body,
            pos: 0,
            total: 0,
            expected,
            ended_crlf: false,
            bare_done: 0,
            encoder: LineEncoder::new(),
            stream,
        }
    }
}

enum Step {
    /// The part produced nothing this time; step it again (its tail follows).
    Again,
    Plan(usize),
    Buf,
    Borrow(usize, usize, usize),
    Done,
    /// A stream has no data yet.
    Pending,
}

/// Renders one message once; see [`Message::chunks`] and [`MessageStream`].
pub(crate) struct Renderer {
    plan: Plan,
    idx: usize,
    size: Option<u64>,
    is_8bit: bool,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    active: Option<Active>,
    /// Streams taken from the message and files' sizes, by leaf; empty
    /// when every part is in memory.
    sources: Vec<(Option<Stream>, Option<u64>)>,
}

impl Renderer {
    /// Plans the message under `opts`: renders every header, opens files,
    /// takes streams, and computes the size when it is known.
    pub(crate) fn new(msg: &Message, opts: RenderOptions) -> Result<Self, ComposeError> {
        Self::planned(msg, opts, true)
    }

    /// [`Renderer::new`], except that quoted-printable parts are counted
    /// by an upper bound (without encoding them): `size` is then a bound,
    /// for sizing a buffer that takes the whole message.
    pub(crate) fn with_bounds(msg: &Message, opts: RenderOptions) -> Result<Self, ComposeError> {
        Self::planned(msg, opts, false)
    }

    fn planned(msg: &Message, opts: RenderOptions, exact: bool) -> Result<Self, ComposeError> {
        let in_memory = msg.leaves.iter().all(|leaf| {
            matches!(
                leaf.body,
                LeafBody::Text { .. } | LeafBody::Bytes(_) | LeafBody::Base64Lines(_)
            )
        });
        let mut sources = Vec::new();
        if !in_memory {
            sources.reserve(msg.leaves.len());
            for leaf in msg.leaves.iter() {
                sources.push(open_source(leaf)?);
            }
        }
        let plan = plan(msg, opts, exact)?;
        let size = size_of(msg, &plan, |leaf| match sources.get(leaf) {
            Some(&(_, size)) => size,
            None => Some(leaf_bytes_len(&msg.leaves[leaf].body)),
        });
        let is_8bit = plan.segs.iter().any(|s| {
            matches!(
                s,
                Seg::Leaf {
                    enc: TransferEncoding::EightBit,
                    ..
                }
            )
        });
        Ok(Self {
            plan,
            idx: 0,
            size,
            is_8bit,
            buf: Vec::new(),
            scratch: Vec::new(),
            active: None,
            sources,
        })
    }

    /// The exact size of the output, when every part's size is known.
    pub(crate) fn size(&self) -> Option<u64> {
        self.size
    }

    /// True when a part is written as 8bit (SMTP `BODY=8BITMIME`).
    pub(crate) fn is_8bit(&self) -> bool {
        self.is_8bit
    }

    /// Starts the part of plan segment `idx`, or returns false when the
    /// segment is bytes.
    fn activate(&mut self, idx: usize) -> bool {
        let Seg::Leaf {
            leaf,
            enc,
            multipart,
            qp_len,
        } = self.plan.segs[idx]
        else {
            return false;
        };
        let (stream, expected) = match self.sources.get_mut(leaf) {
            Some((stream, size)) => (stream.take(), *size),
            None => (None, None),
        };
        self.active = Some(Active::new(leaf, enc, multipart, qp_len, stream, expected));
        true
    }

    /// Writes the whole (rest of the) message to `out`: what
    /// [`Renderer::next_chunk`] gives, without a chunk buffer in between.
    pub(crate) fn render_into(
        &mut self,
        msg: &Message,
        out: &mut Vec<u8>,
    ) -> Result<(), ComposeError> {
        loop {
            if self.active.is_some() {
                match self.step(msg, out)? {
                    Step::Done => self.active = None,
                    Step::Borrow(leaf, start, end) => {
                        out.extend_from_slice(&leaf_bytes(&msg.leaves[leaf])[start..end]);
                    }
                    Step::Pending => return Err(self.would_block(msg)),
                    Step::Again | Step::Buf | Step::Plan(_) => {}
                }
                continue;
            }
            let idx = self.idx;
            let Some(seg) = self.plan.segs.get(idx) else {
                return Ok(());
            };
            self.idx += 1;
            if let &Seg::Bytes(start, end) = seg {
                out.extend_from_slice(&self.plan.head[start..end]);
            } else {
                self.activate(idx);
            }
        }
    }

    /// The next chunk, `Ready(None)` at the end, or `Pending` when a stream
    /// has no data yet (call again once it has).
    pub(crate) fn poll_chunk<'a>(
        &'a mut self,
        msg: &'a Message,
    ) -> Result<Poll<Option<&'a [u8]>>, ComposeError> {
        let step = self.advance(msg)?;
        Ok(match step {
            Step::Pending => Poll::Pending,
            step => Poll::Ready(self.output(step, msg)),
        })
    }

    /// The next chunk, or `None` at the end. A stream without data yet is
    /// an I/O error of kind `WouldBlock` (use [`Renderer::poll_chunk`] to wait).
    pub(crate) fn next_chunk<'a>(
        &'a mut self,
        msg: &'a Message,
    ) -> Result<Option<&'a [u8]>, ComposeError> {
        let step = self.advance(msg)?;
        if let Step::Pending = step {
            return Err(self.would_block(msg));
        }
        Ok(self.output(step, msg))
    }

    /// What the blocking entry points report for a stream without data yet.
    fn would_block(&self, msg: &Message) -> ComposeError {
        let field = self
            .active
            .as_ref()
            .map(|a| msg.leaves[a.leaf].field.to_string())
            .unwrap_or_default();
        ComposeError::Io {
            field,
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the stream has no data yet (a pushed source needs poll_chunk)",
            ),
        }
    }

    /// Moves to the next chunk; the step says where it is.
    fn advance(&mut self, msg: &Message) -> Result<Step, ComposeError> {
        // Decide first, borrow after: the loop holds no borrow of `self`.
        loop {
            if self.active.is_some() {
                let mut buf = std::mem::take(&mut self.buf);
                buf.clear();
                let step = self.step(msg, &mut buf);
                self.buf = buf;
                match step? {
                    Step::Done => self.active = None,
                    Step::Again => {}
                    Step::Buf if self.buf.is_empty() => {}
                    step => return Ok(step),
                }
                continue;
            }
            let idx = self.idx;
            if idx >= self.plan.segs.len() {
                return Ok(Step::Done);
            }
            self.idx += 1;
            if !self.activate(idx) {
                return Ok(Step::Plan(idx));
            }
        }
    }

    /// The bytes of a step from [`Renderer::advance`].
    fn output<'a>(&'a self, step: Step, msg: &'a Message) -> Option<&'a [u8]> {
        match step {
            Step::Buf => Some(&self.buf),
            Step::Borrow(leaf, start, end) => leaf_bytes(&msg.leaves[leaf]).get(start..end),
            Step::Plan(idx) => match self.plan.segs[idx] {
                Seg::Bytes(start, end) => self.plan.head.get(start..end),
                Seg::Leaf { .. } => None,
            },
            Step::Done | Step::Again | Step::Pending => None,
        }
    }

    /// Advances the active part; what it writes is appended to `out`
    /// (`Step::Buf`), or borrowed from the message (`Step::Borrow`).
    fn step(&mut self, msg: &Message, out: &mut Vec<u8>) -> Result<Step, ComposeError> {
        let Some(a) = self.active.as_mut() else {
            return Ok(Step::Done);
        };
        let leaf = &msg.leaves[a.leaf];
        match a.phase {
            Phase::Done => Ok(Step::Done),
            Phase::Tail => {
                a.phase = Phase::Done;
                let needs_crlf = match a.enc {
                    TransferEncoding::Base64 => a.multipart && a.total == 0,
                    _ => a.multipart || (a.total > 0 && !a.ended_crlf),
                };
                if needs_crlf {
                    out.extend_from_slice(b"\r\n");
                    Ok(Step::Buf)
                } else {
                    Ok(Step::Done)
                }
            }
            Phase::Body => match (&leaf.body, a.enc) {
                (LeafBody::Base64Lines(lines), _) => {
                    a.phase = Phase::Tail;
                    a.total = lines.len() as u64;
                    Ok(whole(a.leaf, lines.len()))
                }
                // Text with bare line ends, unencoded: its CRLF form, a
                // window at a time.
                (LeafBody::Text { bytes, scan, .. }, enc)
                    if matches!(enc, TransferEncoding::SevenBit | TransferEncoding::EightBit)
                        && scan.crlf_len().1 =>
                {
                    let (crlf_len, _) = scan.crlf_len();
                    let end = (a.pos + WINDOW).min(bytes.len());
                    // Room for the window and at most all the bare line
                    // ends left (never more than the whole part needs).
                    let raw = end - a.pos;
                    let left = crlf_len - bytes.len() - a.bare_done;
                    out.reserve(raw + left.min(raw) + text::CRLF_SLACK);
                    let before = out.len();
                    text::crlf_into_vec(bytes, a.pos, end, out, left.min(raw));
                    a.bare_done += out.len() - before - raw;
                    a.total += (end - a.pos) as u64;
                    a.pos = end;
                    if end == bytes.len() {
                        a.ended_crlf = ends_with_break(&leaf.body);
                        a.phase = Phase::Tail;
                    }
                    Ok(Step::Buf)
                }
                (LeafBody::Text { bytes, .. } | LeafBody::Bytes(bytes), enc)
                    if enc != TransferEncoding::Base64 =>
                {
                    a.phase = Phase::Tail;
                    a.total = bytes.len() as u64;
                    a.ended_crlf = ends_with_break(&leaf.body);
                    if enc == TransferEncoding::QuotedPrintable {
                        out.reserve(a.qp_len as usize);
                        if let LeafBody::Text { .. } = leaf.body {
                            qp::encode_text(bytes, out);
                        } else {
                            qp::encode(bytes, out);
                        }
                        Ok(Step::Buf)
                    } else {
                        Ok(whole(a.leaf, bytes.len()))
                    }
                }
                (LeafBody::Text { bytes, .. } | LeafBody::Bytes(bytes), _) => {
                    let end = (a.pos + WINDOW).min(bytes.len());
                    if matches!(&leaf.body, LeafBody::Text { scan, .. } if scan.crlf_len().1) {
                        // The CRLF form of the window a piece at a time (on
                        // the stack, at most twice `PIECE` octets and an
                        // unfinished line), then its base64.
                        // Only whole 57-octet lines go to the encoder until
                        // the window's end (the rest waits in front of the
                        // next piece), so that it never encodes a line of
                        // its own between pieces.
                        // Native builds: on the stack (no heap buffer).
                        #[cfg(not(target_arch = "wasm32"))]
                        {
                            let mut piece = text::CrlfBuf::<{ PIECE_BUF + text::BUF_SLACK }>::new();
                            let mut at = a.pos;
                            while at < end {
                                let stop = (at + PIECE).min(end);
                                piece.push_crlf(bytes, at, stop);
                                let len = piece.as_bytes().len();
                                let whole = if stop == end { len } else { len / 57 * 57 };
                                a.encoder.push(&piece.as_bytes()[..whole], out);
                                piece.consume(whole);
                                at = stop;
                            }
                        }
                        // The wasm build: in the renderer's scratch, kept
                        // between calls (the smaller code there).
                        #[cfg(target_arch = "wasm32")]
                        {
                            self.scratch.clear();
                            self.scratch.reserve(PIECE_BUF + text::CRLF_SLACK);
                            let mut at = a.pos;
                            while at < end {
                                let stop = (at + PIECE).min(end);
                                text::crlf_into_vec(bytes, at, stop, &mut self.scratch, stop - at);
                                let len = self.scratch.len();
                                let whole = if stop == end { len } else { len / 57 * 57 };
                                a.encoder.push(&self.scratch[..whole], out);
                                self.scratch.copy_within(whole.., 0);
                                self.scratch.truncate(len - whole);
                                at = stop;
                            }
                        }
                    } else {
                        a.encoder.push(&bytes[a.pos..end], out);
                    }
                    a.total += (end - a.pos) as u64;
                    a.pos = end;
                    if end == bytes.len() {
                        std::mem::take(&mut a.encoder).finish(out);
                        a.phase = Phase::Tail;
                    }
                    Ok(Step::Buf)
                }
                _ => {
                    let field = &leaf.field;
                    let Some(stream) = a.stream.as_mut() else {
                        return Err(ComposeError::SourceConsumed {
                            field: field.to_string(),
                        });
                    };
                    self.scratch.resize(WINDOW, 0);
                    let mut filled = 0;
                    let mut eof = false;
                    while filled < WINDOW {
                        let read = match stream {
                            Stream::Reader(r) => r.read(&mut self.scratch[filled..]),
                            #[cfg(feature = "native")]
                            Stream::File(f) => f.read(&mut self.scratch[filled..]),
                        };
                        match read {
                            Ok(0) => {
                                eof = true;
                                break;
                            }
                            Ok(n) => filled += n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            // No data yet: encode what came, or wait.
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                if filled == 0 {
                                    return Ok(Step::Pending);
                                }
                                break;
                            }
                            Err(source) => {
                                return Err(ComposeError::Io {
                                    field: field.to_string(),
                                    source,
                                })
                            }
                        }
                    }
                    a.total += filled as u64;
                    if let Some(expected) = a.expected {
                        if a.total > expected || (eof && a.total != expected) {
                            return Err(ComposeError::LengthMismatch {
                                field: field.to_string(),
                                expected,
                                actual: a.total,
                            });
                        }
                    }
                    a.encoder.push(&self.scratch[..filled], out);
                    if eof {
                        std::mem::take(&mut a.encoder).finish(out);
                        a.stream = None;
                        a.phase = Phase::Tail;
                    }
                    Ok(Step::Buf)
                }
            },
        }
    }
}

fn whole(leaf: usize, len: usize) -> Step {
    if len == 0 {
        Step::Again
    } else {
        Step::Borrow(leaf, 0, len)
    }
}

fn leaf_bytes(leaf: &Leaf) -> &[u8] {
    match &leaf.body {
        LeafBody::Text { bytes, .. } | LeafBody::Bytes(bytes) | LeafBody::Base64Lines(bytes) => {
            bytes
        }
        _ => &[],
    }
}

/// Opens a file or takes a stream; returns it with the source's size.
fn open_source(leaf: &Leaf) -> Result<(Option<Stream>, Option<u64>), ComposeError> {
    match &leaf.body {
        #[cfg(feature = "native")]
        LeafBody::Path(path) => {
            let io = |source| ComposeError::Io {
                field: format!(
                    "{}.path ({})",
                    leaf.field,
                    crate::excerpt::Excerpt(&path.display().to_string())
                ),
                source,
            };
            let file = std::fs::File::open(path).map_err(io)?;
            let len = file.metadata().map_err(io)?.len();
            Ok((Some(Stream::File(file)), Some(len)))
        }
        LeafBody::Reader { reader, len } => {
            let taken = reader.lock().ok().and_then(|mut slot| slot.take());
            match taken {
                Some(r) => Ok((Some(Stream::Reader(r)), *len)),
                None => Err(ComposeError::SourceConsumed {
                    field: leaf.field.to_string(),
                }),
            }
        }
        body => Ok((None, Some(leaf_bytes_len(body)))),
    }
}

/// The length of an in-memory part as written before its transfer
/// encoding (text: of its CRLF form).
fn leaf_bytes_len(body: &LeafBody) -> u64 {
    match body {
        LeafBody::Text { scan, .. } => scan.crlf_len().0 as u64,
        LeafBody::Bytes(bytes) | LeafBody::Base64Lines(bytes) => bytes.len() as u64,
        _ => 0,
    }
}

/// Whether an in-memory part (unencoded or quoted-printable) ends with a
/// line break: text with a CR or LF (CRLF once converted), bytes with CRLF.
fn ends_with_break(body: &LeafBody) -> bool {
    match body {
        LeafBody::Text { bytes, .. } => matches!(bytes.last(), Some(b'\r' | b'\n')),
        LeafBody::Bytes(bytes) => bytes.ends_with(b"\r\n"),
        _ => false,
    }
}

/// The size of a plan, when every part's size (`size(leaf)`) is known.
fn size_of(msg: &Message, plan: &Plan, size: impl Fn(usize) -> Option<u64>) -> Option<u64> {
    let mut total = 0u64;
    for seg in &plan.segs {
        total += match *seg {
            Seg::Bytes(start, end) => (end - start) as u64,
            Seg::Leaf {
                leaf,
                enc,
                multipart,
                qp_len,
            } => {
                let body = &msg.leaves[leaf].body;
                let n = size(leaf)?;
                match (body, enc) {
                    (LeafBody::Base64Lines(_), _) => n + u64::from(multipart && n == 0) * 2,
                    (_, TransferEncoding::Base64) => {
                        base64::encoded_len(n) + u64::from(multipart && n == 0) * 2
                    }
                    (LeafBody::Text { .. } | LeafBody::Bytes(_), enc) => {
                        let out = if enc == TransferEncoding::QuotedPrintable {
                            qp_len
                        } else {
                            n
                        };
                        let tail = multipart || (n > 0 && !ends_with_break(body));
                        out + u64::from(tail) * 2
                    }
                    _ => return None,
                }
            }
        };
    }
    Some(total)
}

/// The size of the message under `opts`, without reading any stream.
pub(crate) fn plan_size(msg: &Message, opts: RenderOptions) -> Option<u64> {
    let plan = plan(msg, opts, true).ok()?;
    size_of(msg, &plan, |leaf| match &msg.leaves[leaf].body {
        #[cfg(feature = "native")]
        LeafBody::Path(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        LeafBody::Reader { len, .. } => *len,
        body => Some(leaf_bytes_len(body)),
    })
}

/// The message under `opts` as header/boundary byte runs and body parts.
/// With `exact`, quoted-printable parts are counted exactly (they are
/// encoded to count them); else by the bound their text was built with.
fn plan(msg: &Message, opts: RenderOptions, exact: bool) -> Result<Plan, ComposeError> {
    let mut segs = Vec::with_capacity(2 * msg.leaves.len() + 1);
    // Room for the usual headers: about 300 octets for the message and
    // its first part, less for each further part and boundary, and the
    // subject's length again (encoded words).
    let mut head = Vec::with_capacity(head_room(msg));
    let mut w = HeaderWriter {
        msg,
        opts,
        exact,
        buffers: TokenBuffers::default(),
        seg_start: 0,
        #[cfg(not(target_arch = "wasm32"))]
        direct: None,
    };
    w.top_headers(&mut head)?;
    w.node(&msg.root, false, &mut head, &mut segs)?;
    if head.len() > w.seg_start {
        segs.push(Seg::Bytes(w.seg_start, head.len()));
    }
    Ok(Plan { head, segs })
}

/// A guess at the headers' room: about 300 octets for the message's own,
/// the subject's length again (encoded words), and each part's
/// ([`leaf_room`]) with its boundary line.
fn head_room(msg: &Message) -> usize {
    let subject = msg.headers.subject.as_ref().map_or(0, String::len);
    msg.leaves.iter().fold(320 + subject, |room, leaf| {
        room.saturating_add(leaf_room(leaf))
    })
}

/// A guess at a part's headers with the boundary line before it: 280
/// octets for a part with a Content-Type and a transfer encoding only (a
/// text or HTML body: ~125 written, the rest for nested multiparts'
/// headers), more for names, ids and custom headers, which encoding may
/// triple.
fn leaf_room(leaf: &Leaf) -> usize {
    let name = leaf.filename.as_ref().map_or(0, String::len);
    let id = leaf.content_id.as_ref().map_or(0, String::len);
    let custom = leaf.headers.iter().fold(0usize, |n, (h, v)| {
        n.saturating_add(h.as_str().len() + v.len())
    });
    if name == 0 && id == 0 && custom == 0 && leaf.disposition.is_none() {
        return 280;
    }
    // The name twice (Content-Type and Content-Disposition), each up to
    // three octets per octet in RFC 2231 form, folded.
    320usize
        .saturating_add(name.saturating_mul(7))
        .saturating_add(id.saturating_mul(2))
        .saturating_add(custom.saturating_mul(4))
}

/// What a message writes after its last body: the closing boundary lines
/// of the multiparts that end there, innermost first.
#[cfg(not(target_arch = "wasm32"))]
fn trailing_room(node: &Node) -> usize {
    match node {
        Node::Leaf(_) => 0,
        Node::Multipart(m) => {
            let last = m.children.last().map_or(0, trailing_room);
            last.saturating_add(m.boundary.as_str().len() + 6)
        }
    }
}

/// The encoded length of a quoted-printable part as [`plan`] counts it (0
/// for other encodings).
fn qp_len(leaf: &Leaf, enc: TransferEncoding, exact: bool) -> u64 {
    match &leaf.body {
        _ if enc != TransferEncoding::QuotedPrintable => 0,
        LeafBody::Text { bytes, scan, .. } if !exact => scan.full(bytes).qp_bound as u64,
        LeafBody::Text { bytes, .. } => qp::encoded_text_len(bytes) as u64,
        LeafBody::Bytes(bytes) => qp::encoded_len(bytes) as u64,
        _ => 0,
    }
}

/// An upper bound on what an in-memory part writes as its body (its
/// closing line break included), `qp_len` as [`qp_len`] gives it.
#[cfg(not(target_arch = "wasm32"))]
fn body_bound(leaf: &Leaf, enc: TransferEncoding, qp_len: u64) -> usize {
    let n = leaf_bytes_len(&leaf.body);
    let body = match (&leaf.body, enc) {
        (LeafBody::Base64Lines(_), _) => n,
        (_, TransferEncoding::Base64) => base64::encoded_len(n),
        (_, TransferEncoding::QuotedPrintable) => qp_len,
        _ => n,
    };
    usize::try_from(body)
        .unwrap_or(usize::MAX)
        .saturating_add(2)
}

/// Writes each body as soon as its headers are written, into the same
/// buffer (`to_bytes` of a message whose parts are all in memory): no plan
/// kept, no header bytes copied.
#[cfg(not(target_arch = "wasm32"))]
struct Direct {
    /// Writes one part at a time (`active`); its plan is empty.
    renderer: Renderer,
    /// An upper bound on the body octets still to write.
    left: usize,
    /// Kept free beyond `left` before each body: the CRLF slack and the
    /// closing boundaries after the last body.
    room: usize,
}

/// [`Message::to_bytes_with`] for a message whose parts are all in memory
/// (native builds; `None` for any other message): headers and bodies
/// written in order into one buffer, sized once with upper bounds for the
/// bodies (the same output as the plan's, without the plan).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn render_in_memory(
    msg: &Message,
    opts: RenderOptions,
) -> Result<Option<Vec<u8>>, ComposeError> {
    let mut bodies = 0usize;
    for leaf in msg.leaves.iter() {
        if !matches!(
            leaf.body,
            LeafBody::Text { .. } | LeafBody::Bytes(_) | LeafBody::Base64Lines(_)
        ) {
            return Ok(None);
        }
        let enc = leaf.transfer_encoding(opts);
        bodies = bodies.saturating_add(body_bound(leaf, enc, qp_len(leaf, enc, false)));
    }
    // Kept free before each body beyond the bodies' bounds: the slack of
    // CRLF writing and the closing boundaries written after the last body
    // (the headers between bodies are in `head_room`'s guess: while they
    // stay within it, the bodies and what follows them fit).
    let room = text::CRLF_SLACK.saturating_add(trailing_room(&msg.root));
    let mut out = Vec::with_capacity(head_room(msg).saturating_add(bodies).saturating_add(room));
    let mut w = HeaderWriter {
        msg,
        opts,
        exact: false,
        buffers: TokenBuffers::default(),
        seg_start: 0,
        direct: Some(Direct {
            renderer: Renderer {
                plan: Plan {
                    head: Vec::new(),
                    segs: Vec::new(),
                },
                idx: 0,
                size: None,
                is_8bit: false,
                buf: Vec::new(),
                scratch: Vec::new(),
                active: None,
                sources: Vec::new(),
            },
            left: bodies,
            room,
        }),
    };
    w.top_headers(&mut out)?;
    w.node(&msg.root, false, &mut out, &mut Vec::new())?;
    Ok(Some(out))
}

fn address_error(field: &str) -> impl FnOnce(crate::address::AddressError) -> ComposeError + '_ {
    move |source| ComposeError::Address {
        field: field.to_owned(),
        source,
    }
}

/// Writes a message's headers, folding tokens as they come (no token
/// lists), with one pair of token buffers for the whole message.
struct HeaderWriter<'m> {
    msg: &'m Message,
    opts: RenderOptions,
    /// Whether quoted-printable parts are counted exactly (see [`plan`]).
    exact: bool,
    buffers: TokenBuffers,
    /// Where the header run being written started in the head buffer.
    seg_start: usize,
    /// Bodies written in place instead of planned (native `to_bytes`).
    #[cfg(not(target_arch = "wasm32"))]
    direct: Option<Direct>,
}

impl HeaderWriter<'_> {
    /// An unstructured header (Subject, custom headers): plain words as
    /// they are, RFC 2047 words where needed.
    fn unstructured(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        field: &str,
        text: &str,
    ) -> Result<(), ComposeError> {
        // A plain value that fits on the header's line is the header as it
        // is (what its words would fold to).
        if name.len() + 2 + text.len() <= crate::header::SOFT_LINE_LEN
            && !rfc2047::needs_encoding(text)
        {
            one_line(out, name, text);
            return Ok(());
        }
        self.unstructured_folded(out, name, field, text)
    }

    /// [`HeaderWriter::unstructured`] for a value that needs folding or
    /// encoded words (kept out of line: most subjects fit their line).
    #[inline(never)]
    fn unstructured_folded(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        field: &str,
        text: &str,
    ) -> Result<(), ComposeError> {
        let mut folder = PendingFolder::new(out, name, &mut self.buffers);
        rfc2047::encode_unstructured_into(
            text,
            self.msg.headers.charset,
            self.opts.utf8_headers,
            &mut folder,
        )
        .map_err(|source| ComposeError::Encoding {
            field: field.to_owned(),
            source,
        })?;
        Ok(folder.finish()?)
    }

    #[inline(never)]
    fn addresses(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        entries: &[crate::address::AddressEntry],
    ) -> Result<(), ComposeError> {
        // The one-line form straight into the output, taken back when it
        // is not the header.
        let start = out.len();
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        if crate::address::format_entries_line(entries, self.opts, out)
            && out.len() - start <= crate::header::SOFT_LINE_LEN
        {
            out.extend_from_slice(b"\r\n");
            return Ok(());
        }
        out.truncate(start);
        self.addresses_folded(out, name, entries)
    }

    /// [`HeaderWriter::addresses`] for a list that does not fit one line
    /// as it is (groups, encoded names, long lists).
    #[inline(never)]
    fn addresses_folded(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        entries: &[crate::address::AddressEntry],
    ) -> Result<(), ComposeError> {
        let mut folder = PendingFolder::new(out, name, &mut self.buffers);
        crate::address::format_entries_into(entries, self.opts, &mut folder)
            .map_err(address_error(name))?;
        Ok(folder.finish()?)
    }

    fn top_headers(&mut self, out: &mut Vec<u8>) -> Result<(), ComposeError> {
        let h = &self.msg.headers;
        h.date.write_header(out);
        if !h.from.is_empty() {
            hot(self.addresses(out, "From", &h.from.0))?;
            if let Some(sender) = self.msg.extra.as_deref().and_then(|e| e.sender.as_ref()) {
                self.sender(out, sender)?;
            }
        }
        for (name, list) in [("Reply-To", &h.reply_to), ("To", &h.to), ("Cc", &h.cc)] {
            if !list.is_empty() {
                hot(self.addresses(out, name, &list.0))?;
            }
        }
        if let Some(subject) = &h.subject {
            hot(self.unstructured(out, "Subject", "subject", subject))?;
        }
        // One token, which the folder would write on the header's line
        // (an id is at most 900 octets: `parse_message_id`, or generated).
        put(out, &[b"Message-ID: <", h.message_id.as_bytes(), b">\r\n"]);
        let extra = self.msg.extra.as_deref();
        if extra.is_some_and(|e| !e.in_reply_to.is_empty() || !e.references.is_empty()) {
            self.id_lists(out)?;
        }
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
        if extra.is_some_and(|e| !e.custom.is_empty()) {
            self.custom(out)?;
        }
        Ok(())
    }

    /// The Sender header.
    #[cold]
    #[inline(never)]
    fn sender(
        &mut self,
        out: &mut Vec<u8>,
        sender: &crate::address::Mailbox,
    ) -> Result<(), ComposeError> {
        let entry = crate::address::AddressEntry::Mailbox(sender.clone());
        self.addresses(out, "Sender", std::slice::from_ref(&entry))
    }

    /// In-Reply-To and References.
    #[cold]
    #[inline(never)]
    fn id_lists(&mut self, out: &mut Vec<u8>) -> Result<(), ComposeError> {
        let Some(h) = self.msg.extra.as_deref() else {
            return Ok(());
        };
        for (name, ids) in [
            ("In-Reply-To", &h.in_reply_to),
            ("References", &h.references),
        ] {
            if !ids.is_empty() {
                let mut folder = Folder::new(out, name);
                for id in ids {
                    folder.token(" ", &["<", id, ">"]);
                }
                folder.finish()?;
            }
        }
        Ok(())
    }

    /// The message's custom headers.
    #[cold]
    #[inline(never)]
    fn custom(&mut self, out: &mut Vec<u8>) -> Result<(), ComposeError> {
        let Some(extra) = self.msg.extra.as_deref() else {
            return Ok(());
        };
        for (name, value) in &extra.custom {
            self.unstructured(out, name.as_str(), name.as_str(), value)?;
        }
        Ok(())
    }

    /// Appends a node's headers and body to the plan; `head` collects bytes
    /// until the next body part.
    fn node(
        &mut self,
        node: &Node,
        in_multipart: bool,
        head: &mut Vec<u8>,
        plan: &mut Vec<Seg>,
    ) -> Result<(), ComposeError> {
        match node {
            Node::Multipart(m) => {
                self.multipart(m.subtype, &m.boundary, &m.children, head, plan)?;
            }
            &Node::Leaf(index) => {
                let leaf = &self.msg.leaves[index];
                let enc = leaf.transfer_encoding(self.opts);
                hot(self.leaf_headers(leaf, enc, head))?;
                head.extend_from_slice(b"\r\n");
                let qp_len = qp_len(leaf, enc, self.exact);
                #[cfg(not(target_arch = "wasm32"))]
                if let Some(direct) = self.direct.as_mut() {
                    // Room for this body, the ones after it and the
                    // boundaries between them: made here only when the
                    // headers outgrew their guess (never by doubling a
                    // large buffer while a body is written).
                    let need = direct.left.saturating_add(direct.room);
                    if head.capacity() - head.len() < need {
                        // A new buffer takes only the bytes written
                        // (`realloc` would copy the whole old one).
                        let mut bigger = Vec::with_capacity(head.len().saturating_add(need));
                        bigger.extend_from_slice(head);
                        *head = bigger;
                    }
                    let bound = body_bound(leaf, enc, qp_len);
                    direct.left = direct.left.saturating_sub(bound);
                    // The token buffers are not held while bodies are
                    // written (the peak); a later header that needs them
                    // makes them again.
                    self.buffers = TokenBuffers::default();
                    direct.renderer.active =
                        Some(Active::new(index, enc, in_multipart, qp_len, None, None));
                    hot(direct.renderer.render_into(self.msg, head))?;
                    return Ok(());
                }
                plan.push(Seg::Bytes(self.seg_start, head.len()));
                self.seg_start = head.len();
                plan.push(Seg::Leaf {
                    leaf: index,
                    enc,
                    multipart: in_multipart,
                    qp_len,
                });
            }
        }
        Ok(())
    }

    /// A multipart's headers, its children and its closing boundary.
    #[inline(never)]
    fn multipart(
        &mut self,
        subtype: &str,
        boundary: &super::boundary::ShortText,
        children: &[Node],
        head: &mut Vec<u8>,
        plan: &mut Vec<Seg>,
    ) -> Result<(), ComposeError> {
        let mut folder = PendingFolder::new(head, "Content-Type", &mut self.buffers);
        folder.token_with(" ", |t| {
            t.push_str("multipart/");
            t.push_str(subtype);
        });
        parameter(&mut folder, "boundary", boundary.as_str(), false);
        if subtype == "related" {
            // RFC 2387 §3.1: `type` names the root (first) part's media type.
            let root = match children.first() {
                Some(&Node::Leaf(index)) => Some(&*self.msg.leaves[index].media_type),
                Some(Node::Multipart(m)) => Some(match m.subtype {
                    "alternative" => "multipart/alternative",
                    "related" => "multipart/related",
                    _ => "multipart/mixed",
                }),
                None => None,
            };
            if let Some(root) = root {
                parameter(&mut folder, "type", root, false);
            }
        }
        folder.finish()?;
        head.extend_from_slice(b"\r\n");
        for child in children {
            head.extend_from_slice(b"--");
            head.extend_from_slice(boundary.as_bytes());
            head.extend_from_slice(b"\r\n");
            self.node(child, true, head, plan)?;
        }
        head.extend_from_slice(b"--");
        head.extend_from_slice(boundary.as_bytes());
        head.extend_from_slice(b"--\r\n");
        Ok(())
    }

    fn leaf_headers(
        &mut self,
        leaf: &Leaf,
        enc: TransferEncoding,
        out: &mut Vec<u8>,
    ) -> Result<(), ComposeError> {
        // RFC 2045 §6.4, RFC 2046 §5.2: message/* may only be 7bit or 8bit;
        // one that needs base64 (8-bit content without 8BITMIME, overlong
        // lines, a file or a stream) goes as an opaque file instead.
        let is_message = super::content_type::is_unencodable_message(&leaf.media_type);
        let media_type = if is_message && enc == TransferEncoding::Base64 {
            super::content_type::OCTET_STREAM
        } else {
            &leaf.media_type
        };
        if leaf.filename.is_none() && simple_content_type(out, media_type, &leaf.params) {
            return self.leaf_rest(leaf, enc, out);
        }
        self.content_type_folded(leaf, media_type, out)?;
        self.leaf_rest(leaf, enc, out)
    }

    /// A part's Content-Type with a name, or with parameters that need
    /// quoting, encoding or folding.
    #[inline(never)]
    fn content_type_folded(
        &mut self,
        leaf: &Leaf,
        media_type: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), ComposeError> {
        let opts = self.opts;
        let mut folder = PendingFolder::new(out, "Content-Type", &mut self.buffers);
        folder.token(" ", media_type);
        for (name, value) in leaf.params.iter() {
            parameter(&mut folder, name, value, opts.utf8_headers);
        }
        if let Some(name) = &leaf.filename {
            name_parameter(&mut folder, &leaf.field, name, opts)?;
        }
        Ok(folder.finish()?)
    }

    /// A part's headers after its Content-Type.
    fn leaf_rest(
        &mut self,
        leaf: &Leaf,
        enc: TransferEncoding,
        out: &mut Vec<u8>,
    ) -> Result<(), ComposeError> {
        one_line(out, "Content-Transfer-Encoding", enc.as_str());
        if leaf.disposition.is_some() || leaf.content_id.is_some() || !leaf.headers.is_empty() {
            self.part_headers(leaf, out)?;
        }
        Ok(())
    }

    /// A part's Content-Disposition, Content-ID and custom headers (text
    /// bodies have none).
    #[inline(never)]
    fn part_headers(&mut self, leaf: &Leaf, out: &mut Vec<u8>) -> Result<(), ComposeError> {
        let opts = self.opts;
        if let Some(inline) = leaf.disposition {
            let mut folder = PendingFolder::new(out, "Content-Disposition", &mut self.buffers);
            folder.token(" ", if inline { "inline" } else { "attachment" });
            if let Some(name) = &leaf.filename {
                parameter(&mut folder, "filename", name, opts.utf8_headers);
            }
            folder.finish()?;
        }
        if let Some(cid) = &leaf.content_id {
            let mut folder = Folder::new(out, "Content-ID");
            folder.token(" ", &["<", cid, ">"]);
            folder.finish()?;
        }
        for (name, value) in &leaf.headers {
            let field = format!("{}.{}", leaf.field, name);
            self.unstructured(out, name.as_str(), &field, value)?;
        }
        Ok(())
    }
}

/// Writes `Content-Type: type/subtype; name=value…` and CRLF when every
/// parameter is a plain token (as [`parameter`] writes it) and the whole
/// fits in 78 columns: what the folder would write for the same tokens.
/// Returns false, writing nothing, otherwise.
fn simple_content_type(
    out: &mut Vec<u8>,
    media_type: &str,
    params: &super::message::Params,
) -> bool {
    // The parameters in order (`charset`, then `method`), without an
    // iterator chain: this runs for every part.
    let params = [
        ("charset", params.charset.as_deref()),
        ("method", params.method.as_deref()),
    ];
    let mut len = "Content-Type: ".len() + media_type.len();
    for (name, value) in params {
        let Some(value) = value else { continue };
        let simple = !value.is_empty()
            && name.len() + 1 + value.len() <= rfc2231::MAX_SEGMENT
            && value.bytes().all(rfc2231::is_bare_token_char);
        if !simple {
            return false;
        }
        len += 2 + name.len() + 1 + value.len();
    }
    if len > crate::header::SOFT_LINE_LEN {
        return false;
    }
    out.reserve(len + 2);
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(media_type.as_bytes());
    for (name, value) in params {
        let Some(value) = value else { continue };
        put(out, &[b"; ", name.as_bytes(), b"=", value.as_bytes()]);
    }
    out.extend_from_slice(b"\r\n");
    true
}

/// Writes `Name: value` and CRLF.
fn one_line(out: &mut Vec<u8>, name: &str, value: &str) {
    put(out, &[name.as_bytes(), b": ", value.as_bytes(), b"\r\n"]);
}

/// Appends `; name=value` to a header's tokens: the parameter as RFC 2231
/// segments, each its own token, separated by `;` (see
/// [`rfc2231::encode_parameter`]).
fn parameter(sink: &mut impl TokenSink, name: &str, value: &str, raw_utf8: bool) {
    sink.glue(";");
    // A token value that fits one segment, as `encode_parameter` would write it.
    // Shortcuts for the usual values, native only (the wasm build's size
    // is bounded); `encode_parameter` below gives the same.
    let simple = !cfg!(target_arch = "wasm32")
        && !value.is_empty()
        && name.len() + 1 + value.len() <= rfc2231::MAX_SEGMENT
        && value.bytes().all(rfc2231::is_bare_token_char);
    if simple {
        sink.token_with(" ", |t| {
            t.push_str(name);
            t.push('=');
            t.push_str(value);
        });
        return;
    }
    // Printable ASCII without quotes or backslashes (a boundary) that fits
    // one segment: the quoted string `encode_parameter` would write.
    let quoted = !cfg!(target_arch = "wasm32")
        && !value.is_empty()
        && name.len() + 3 + value.len() <= rfc2231::MAX_SEGMENT
        && crate::header::is_printable_ascii(value.as_bytes())
        && !value.bytes().any(|b| b == b'"' || b == b'\\')
        && !crate::encoding::rfc2047::has_word_start(value.as_bytes());
    if quoted {
        sink.token_with(" ", |t| {
            t.push_str(name);
            t.push_str("=\"");
            t.push_str(value);
            t.push('"');
        });
        return;
    }
    let segments = rfc2231::encode_parameter(name, value, raw_utf8);
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            sink.glue(";");
        }
        sink.token(" ", segment);
    }
}

/// The Content-Type `name=` parameter for old clients: RFC 2047 words in a
/// quoted string when the name is not ASCII, else as RFC 2231 would write it;
/// an ASCII name RFC 2231 cannot write as one plain `name=` (too long for
/// a segment, or holding `=?`) is written in the extended form followed by
/// a plain quoted `name="..."` ([`ascii_name_with_fallback`]).
fn name_parameter(
    sink: &mut impl TokenSink,
    field: &str,
    name: &str,
    opts: RenderOptions,
) -> Result<(), ComposeError> {
    let ascii = crate::header::is_printable_ascii(name.as_bytes());
    if ascii
        && (rfc2047::has_word_start(name.as_bytes())
            || "name=".len() + rfc2231::quote_if_needed(name).len() > rfc2231::MAX_SEGMENT)
    {
        ascii_name_with_fallback(sink, name);
        return Ok(());
    }
    if opts.utf8_headers || ascii {
        parameter(sink, "name", name, opts.utf8_headers);
        return Ok(());
    }
    // The first word follows ` name="` on a folded line, the last one
    // ends with `"` and may have a `;` after it: each line within the 76
    // characters of RFC 2047 §2.
    const PREFIX: usize = " name=\"".len();
    let first = rfc2047::MAX_ENCODED_LINE_LEN - PREFIX - "\";".len();
    let rest = rfc2047::MAX_ENCODED_LINE_LEN - " ".len() - "\";".len();
    let words =
        rfc2047::encode_phrase_sized(name, Charset::UTF_8, first, rest).map_err(|source| {
            ComposeError::Encoding {
                field: field.to_owned(),
                source,
            }
        })?;
    sink.glue(";");
    let last = words.len().saturating_sub(1);
    for (i, word) in words.iter().enumerate() {
        sink.token_with(" ", |t| {
            if i == 0 {
                t.push_str("name=\"");
            }
            t.push_str(word);
            if i == last {
                t.push('"');
            }
        });
    }
    Ok(())
}

/// An ASCII `name` that does not fit one plain `name=` segment: RFC 2231's
/// extended form (`name*0*=utf-8''...; name*1*=...`, or `name*=utf-8''...`
/// for a short name holding `=?`), then a plain `name="..."` for the
/// readers that know only that (Outlook, older Apple Mail). The folder
/// folds before it, never inside it, so its line passes 78 columns when
/// the name is that long; it is left out when it would pass 998 octets.
///
/// The extended form, not `name*0="..."`, and that order, because of how
/// readers resolve both forms: with `name*0="..."` first, CPython's `email`
/// takes the later `name="..."` for a duplicate of `name*0` and keeps only
/// the first segment; with `name="..."` first, mail-parser appends
/// `name*1` to it. Extended segments first read right in both (the plain
/// value comes after the first, then it is ignored, or it is the whole name).
/// Never RFC 2047 words here (RFC 2047 §5: not in parameters).
fn ascii_name_with_fallback(sink: &mut impl TokenSink, name: &str) {
    for segment in rfc2231::extended("name", name) {
        sink.glue(";");
        sink.token(" ", &segment);
    }
    // ` name="..."` after a fold, and room for a `;` after it.
    let quoted_len = name.len() + name.bytes().filter(|&b| b == b'"' || b == b'\\').count() + 2;
    if " name=".len() + quoted_len + ";".len() <= crate::header::MAX_LINE_LEN {
        sink.glue(";");
        sink.token_with(" ", |t| {
            t.push_str("name=");
            rfc2231::push_quoted(name, t);
        });
    }
}

/// [`Message::chunks`]: the message as an iterator of owned chunks.
pub struct Chunks<'m> {
    msg: &'m Message,
    renderer: Renderer,
    failed: bool,
}

impl<'m> Chunks<'m> {
    pub(crate) fn new(msg: &'m Message, opts: RenderOptions) -> Result<Self, ComposeError> {
        Ok(Self {
            msg,
            renderer: Renderer::new(msg, opts)?,
            failed: false,
        })
    }

    /// The exact size of the output, when every part's size is known.
    pub fn size(&self) -> Option<u64> {
        self.renderer.size()
    }
}

impl Iterator for Chunks<'_> {
    type Item = Result<Vec<u8>, ComposeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.renderer.next_chunk(self.msg) {
            Ok(chunk) => chunk.map(|c| Ok(c.to_vec())),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// An owned message and its rendering state, for transports and bindings
/// that pull chunks across calls (the SMTP engine's message body).
///
/// ```
/// # use mimeograph::mime::Message;
/// # use mimeograph::envelope::RenderOptions;
/// let message = Message::builder().from("a@example.com").to("b@example.com").text("hi").build()?;
/// let mut stream = message.into_stream();
/// let size = stream.start(RenderOptions::default())?;
/// let mut out = Vec::new();
/// while let Some(chunk) = stream.next_chunk()? {
///     out.extend_from_slice(chunk);
/// }
/// assert_eq!(Some(out.len() as u64), size);
/// # Ok::<(), mimeograph::mime::ComposeError>(())
/// ```
pub struct MessageStream {
    message: Message,
    renderer: Option<Renderer>,
}

impl MessageStream {
    /// False once a reader attachment's reader was taken (by a start): the
    /// stream cannot be written again, and a retry would fail with
    /// [`ComposeError::SourceConsumed`]. (Asked by the native clients'
    /// retry policy.)
    #[cfg(feature = "native")]
    pub(crate) fn can_start_again(&self) -> bool {
        self.message.leaves.iter().all(|leaf| match &leaf.body {
            LeafBody::Reader { reader, .. } => reader.lock().map(|r| r.is_some()).unwrap_or(false),
            _ => true,
        })
    }
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl MessageStream {
    pub(crate) fn new(message: Message) -> Self {
        Self {
            message,
            renderer: None,
        }
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Starts (or restarts) rendering with `opts`; returns the exact size
    /// when known. Restarting a message with a stream attachment fails
    /// with [`ComposeError::SourceConsumed`].
    pub fn start(&mut self, opts: RenderOptions) -> Result<Option<u64>, ComposeError> {
        let renderer = Renderer::new(&self.message, opts)?;
        let size = renderer.size();
        self.renderer = Some(renderer);
        Ok(size)
    }

    /// True when the started rendering writes an 8bit part.
    pub fn is_8bit(&self) -> bool {
        self.renderer.as_ref().is_some_and(Renderer::is_8bit)
    }

    /// The next chunk, or `None` at the end (or before `start`). A stream
    /// attachment without data yet (a [`super::Feed`] waiting for its next
    /// push) is an I/O error of kind `WouldBlock`: use
    /// [`MessageStream::poll_chunk`] for such sources.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, ComposeError> {
        match self.renderer.as_mut() {
            Some(renderer) => renderer.next_chunk(&self.message),
            None => Ok(None),
        }
    }

    /// The next chunk (`Ready(Some)`), the end (`Ready(None)`, also before
    /// `start`), or `Pending` when a stream attachment has no data yet (its
    /// `read` failed with `WouldBlock`): call again once it has; rendering
    /// goes on where it stopped.
    pub fn poll_chunk(&mut self) -> Result<Poll<Option<&[u8]>>, ComposeError> {
        match self.renderer.as_mut() {
            Some(renderer) => renderer.poll_chunk(&self.message),
            None => Ok(Poll::Ready(None)),
        }
    }
}

/// Text kept with bare line ends is written as its CRLF form would be.
#[cfg(test)]
mod bare_text_tests {
    use crate::encoding::text::normalize_crlf;
    use crate::encoding::TransferEncoding;
    use crate::envelope::RenderOptions;
    use crate::mime::{Attachment, Message};

    fn message(text: &str, forced: Option<TransferEncoding>) -> Message {
        let mut part = Attachment::text(text).filename("notes.txt");
        if let Some(enc) = forced {
            part = part.transfer_encoding(enc);
        }
        Message::builder()
            .from("a@example.com")
            .to("b@example.com")
            .text(text)
            .html(text)
            .attach(part)
            .attach(Attachment::bytes(text.as_bytes().to_vec()).content_type("message/rfc822"))
            .deterministic(7)
            .build()
            .unwrap()
    }

    fn render(msg: &Message, opts: RenderOptions) -> Vec<u8> {
        let bytes = msg.to_bytes_with(opts).unwrap();
        assert_eq!(msg.encoded_len(opts), Some(bytes.len() as u64));
        let mut stream = Vec::new();
        for chunk in msg.chunks(opts).unwrap() {
            stream.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(stream, bytes);
        bytes
    }

    #[test]
    fn bare_line_ends_render_as_their_crlf_form() {
        let words = [
            "plain",
            "words",
            "naïve",
            "日本語",
            "=",
            ".",
            " ",
            "\t",
            "\n",
            "\r",
            "\r\n",
            "\n\r",
        ];
        let mut x: u64 = 0xC0FF_EE00_1234_5678;
        for round in 0..96 {
            let len = match round % 8 {
                0 => 70_000,
                1 => 3000,
                _ => 300,
            };
            let ascii = round % 4 == 1;
            let mut text = String::new();
            while text.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let w = words[(x >> 40) as usize % words.len()];
                if !ascii || w.is_ascii() {
                    text.push_str(w);
                }
                if x.is_multiple_of(7) {
                    text.push_str(" \n.");
                }
            }
            let crlf = String::from_utf8(normalize_crlf(text.as_bytes()).into_owned()).unwrap();
            let forced = [
                None,
                Some(TransferEncoding::QuotedPrintable),
                Some(TransferEncoding::Base64),
            ][round % 3];
            let raw_msg = message(&text, forced);
            let crlf_msg = message(&crlf, forced);
            for allow_8bit in [false, true] {
                let opts = RenderOptions {
                    utf8_headers: false,
                    allow_8bit,
                };
                assert_eq!(
                    render(&raw_msg, opts),
                    render(&crlf_msg, opts),
                    "round {round}"
                );
            }
        }
    }
}

#[cfg(test)]
mod parameter_tests {
    use super::*;
    use crate::encoding::Token;
    use crate::mime::{Attachment, MessageBuilder};

    /// Found by review: with raw UTF-8 headers, a filename holding U+2028
    /// (or other whitespace but a plain space) was written raw in the
    /// quoted `filename=` and `name=`, and npm mailparser lost it. Both
    /// take the RFC 2231 extended form.
    #[test]
    fn unusual_whitespace_in_a_filename_is_encoded_with_raw_utf8() {
        for ws in ['\u{2028}', '\u{2029}', '\u{a0}'] {
            let filename = format!("Grüße{ws}x.txt");
            let m = MessageBuilder::new()
                .from("a@example.com")
                .to("b@example.com")
                .text("body")
                .attach(Attachment::bytes(b"data".to_vec()).filename(filename.clone()))
                .deterministic(3)
                .build()
                .unwrap();
            let opts = RenderOptions {
                utf8_headers: true,
                allow_8bit: true,
            };
            let out = String::from_utf8(m.to_bytes_with(opts).unwrap()).unwrap();
            assert!(!out.contains(ws), "{out}");
            let mut pct = String::new();
            for b in ws.to_string().bytes() {
                pct.push_str(&format!("%{b:02X}"));
            }
            let want = format!("utf-8''Gr%C3%BC%C3%9Fe{pct}x.txt");
            assert!(out.contains(&format!("filename*={want}")), "{out}");
            assert!(out.contains(&format!("name*={want}")), "{out}");
            let parsed = mail_parser::MessageParser::default()
                .parse(out.as_bytes())
                .unwrap();
            let att = parsed.attachment(0).unwrap();
            use mail_parser::MimeHeaders;
            assert_eq!(att.attachment_name(), Some(filename.as_str()));
        }
    }

    /// Found by review: parameter values holding `'`, `*` or `%` went out
    /// as bare tokens (`filename=a'b.txt`), which Python's `email` misreads
    /// as RFC 2231 syntax (no filename; `star` for `star*.txt`). Quoted in
    /// every path: filename, name, and the Content-Type shortcut (method).
    #[test]
    fn rfc2231_metacharacters_are_quoted_in_parameters() {
        for value in ["a'b.txt", "star*.txt", "100%.txt"] {
            for raw in [false, true] {
                let m = MessageBuilder::new()
                    .from("a@example.com")
                    .to("b@example.com")
                    .text("body")
                    .alternative(Attachment::calendar("BEGIN:VCALENDAR", value))
                    .attach(Attachment::bytes(b"data".to_vec()).filename(value))
                    .deterministic(3)
                    .build()
                    .unwrap();
                let opts = RenderOptions {
                    utf8_headers: raw,
                    allow_8bit: raw,
                };
                let out = String::from_utf8(m.to_bytes_with(opts).unwrap()).unwrap();
                for want in [
                    format!("; filename=\"{value}\"\r\n"),
                    format!("; name=\"{value}\"\r\n"),
                    format!("; method=\"{value}\"\r\n"),
                ] {
                    assert!(out.contains(&want), "{want:?} in\n{out}");
                }
                assert!(!out.contains(&format!("={value}")), "{out}");
            }
        }
    }

    /// Found by review: an ASCII name too long for one segment, or holding
    /// `=?`, went out in Content-Type only in RFC 2231 form (`name*0="..."`,
    /// `name*=utf-8''...`), and clients that read only `name=` (Outlook,
    /// older Apple Mail) showed no name. A plain quoted `name="..."`
    /// follows the RFC 2231 form now, on a line of its own (over 78
    /// columns if need be, never over 998), and mail-parser reads the name
    /// back from Content-Type and Content-Disposition.
    #[test]
    fn long_or_word_like_ascii_names_have_a_plain_name_fallback() {
        let names = [
            "long-ascii-name-".repeat(8) + ".pdf",
            format!("{} \"quoted\" back\\slash.pdf", "x".repeat(80)),
            "=?utf-8?Q?abc?=.pdf".to_owned(),
            "a=?b.pdf".to_owned(),
            format!("=?utf-8?Q?{}?=", "y".repeat(90)),
            "n".repeat(985),
        ];
        for name in &names {
            for raw in [false, true] {
                let out = render_with_name(name, raw);
                let ct = part_header(&out, "Content-Type: application/");
                let mut fallback = String::from("name=");
                rfc2231::push_quoted(name, &mut fallback);
                // The fallback is the header's last parameter, never split
                // by a fold.
                assert!(ct.ends_with(&format!(" {fallback}")), "{ct}");
                let unfolded = ct.replace("\r\n", "");
                assert!(unfolded.ends_with(&format!("; {fallback}")), "{ct}");
                assert!(ct.contains(" name*0*=utf-8''") || ct.contains(" name*=utf-8''"));
                if !name.contains("=?") {
                    assert!(!ct.contains("=?"), "no encoded word: {ct}");
                }
                assert!(out.split("\r\n").all(|l| l.len() <= 998), "{out}");
                assert_eq!(read_back(&out), (name.clone(), name.clone()));
            }
        }
        // A name whose quoted form would pass 998 octets has none; RFC
        // 2231 still carries it.
        let huge = "h".repeat(1200);
        let out = render_with_name(&huge, false);
        let ct = part_header(&out, "Content-Type: application/");
        assert!(!ct.contains(" name=\""), "{ct}");
        assert!(out.split("\r\n").all(|l| l.len() <= 998), "{out}");
        assert_eq!(read_back(&out), (huge.clone(), huge));
        // Short plain names, and non-ASCII ones, are written as before.
        let out = render_with_name("report 1.pdf", false);
        assert!(out.contains("; name=\"report 1.pdf\"\r\n"), "{out}");
        assert!(!out.contains("name*"), "{out}");
        let out = render_with_name("Grüße.pdf", false);
        let ct = part_header(&out, "Content-Type: application/");
        assert!(
            ct.ends_with("; name=\"=?utf-8?B?R3LDvMOfZS5wZGY=?=\""),
            "{ct}"
        );
    }

    fn render_with_name(name: &str, raw: bool) -> String {
        let m = MessageBuilder::new()
            .from("a@example.com")
            .to("b@example.com")
            .text("body")
            .attach(Attachment::bytes(b"data".to_vec()).filename(name))
            .deterministic(3)
            .build()
            .unwrap();
        let opts = RenderOptions {
            utf8_headers: raw,
            allow_8bit: raw,
        };
        let bytes = m.to_bytes_with(opts).unwrap();
        assert_eq!(m.encoded_len(opts), Some(bytes.len() as u64));
        String::from_utf8(bytes).unwrap()
    }

    /// The header (folded, without its final CRLF) that starts with `start`.
    fn part_header<'a>(out: &'a str, start: &str) -> &'a str {
        let at = out.find(start).unwrap();
        let len = out[at..]
            .match_indices("\r\n")
            .map(|(i, _)| i)
            .find(|&i| !out[at + i + 2..].starts_with([' ', '\t']))
            .unwrap();
        &out[at..at + len]
    }

    /// The attachment's Content-Type `name` and its name (Content-Disposition's
    /// `filename` first), as mail-parser reads them.
    fn read_back(out: &str) -> (String, String) {
        use mail_parser::MimeHeaders;
        let parsed = mail_parser::MessageParser::default()
            .parse(out.as_bytes())
            .unwrap();
        let att = parsed.attachment(0).unwrap();
        let ct_name = att.content_type().unwrap().attribute("name").unwrap();
        (
            ct_name.to_owned(),
            att.attachment_name().unwrap().to_owned(),
        )
    }

    /// The shortcuts write what `encode_parameter` writes.
    #[test]
    fn parameter_shortcuts_match_encode_parameter() {
        let long = "b".repeat(70);
        let values = [
            "",
            "x",
            "utf-8",
            "=_mg_abc",
            "a b",
            "a\"b",
            "a\\b",
            "naïve",
            "a\tb",
            "a;b",
            "=?x?=",
            "a'b.txt",
            "star*.txt",
            "100%",
            "a\u{2028}b",
            &long,
        ];
        for name in ["boundary", "charset", "filename"] {
            for value in values {
                for raw in [false, true] {
                    let mut tokens: Vec<Token> = vec![Token::glued("x")];
                    parameter(&mut tokens, name, value, raw);
                    // Segments after the first are glued on with `;`.
                    let last = tokens.len() - 1;
                    let got: Vec<&str> = tokens[1..]
                        .iter()
                        .enumerate()
                        .map(|(i, t)| match i + 1 == last {
                            true => t.text.as_str(),
                            false => t.text.strip_suffix(';').unwrap_or("missing ;"),
                        })
                        .collect();
                    let want = rfc2231::encode_parameter(name, value, raw);
                    assert_eq!(got, want, "{name} {value:?}");
                    assert!(tokens[0].text.starts_with("x;"));
                }
            }
        }
    }
}

#[cfg(test)]
mod first_word_tests {
    use crate::encoding::rfc2047::tests::decode_unstructured;
    use crate::encoding::rfc2047::MAX_WORD_LEN;
    use crate::mime::{Attachment, MessageBuilder};

    /// The header's lines, unfolded values by name (lowercase).
    fn header_lines(msg: &[u8]) -> Vec<String> {
        let text = String::from_utf8(msg.to_vec()).unwrap();
        let head = &text[..text.find("\r\n\r\n").unwrap()];
        head.split("\r\n").map(str::to_owned).collect()
    }

    fn value_of(lines: &[String], name: &str) -> String {
        let mut value = None::<String>;
        for line in lines {
            match &mut value {
                Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
                Some(_) => break,
                None => {
                    if let Some((n, v)) = line.split_once(':') {
                        if n.eq_ignore_ascii_case(name) {
                            value = Some(v.to_owned());
                        }
                    }
                }
            }
        }
        value.unwrap_or_else(|| panic!("no {name}"))
    }

    /// Found by review: the first encoded word of a header was as long as
    /// any other, so `Subject: =?utf-8?B?…?=` reached 81 columns, a custom
    /// header with a long name 131, and ` name="=?…?=` 79. Every line of
    /// every header now stays within 78 octets and every encoded word
    /// within 75, whatever the header name's length, and the values decode
    /// back exactly.
    #[test]
    fn first_encoded_words_fit_their_line() {
        let subjects = [
            "Ünïcödé sübjéct wïth ä löng fïrst wörd: Donaudampfschifffahrtsgesellschaftskapitän",
            &"é".repeat(40),
            "日本語の件名はとても長いのでいくつかの行に折り返されるはずです。日本語の件名はとても長い",
            "😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘😗😚😙🥲😋😛😜🤪😝🤑🤗",
            "ASCII first then ünïcödé and more plain words here to fold them",
            "Ä",
            "x日本語ab😀cdé fgh 日本語 ijk",
        ];
        let jis_subjects = [
            "日本語の件名はとても長いのでいくつかの行に折り返されるはずです。日本語の件名",
            "ASCII と 日本語 の混在した件名 with words",
        ];
        let mut checked = 0;
        for (charset, list) in [("utf-8", &subjects[..]), ("iso-2022-jp", &jis_subjects[..])] {
            for subject in list {
                for name_len in (2..=72).step_by(5) {
                    let name = format!("X-{}", "a".repeat(name_len - 2));
                    let m = MessageBuilder::new()
                        .from("f@example.com")
                        .to("t@example.com")
                        .text("x")
                        .charset(charset)
                        .subject(*subject)
                        .header(name.clone(), *subject)
                        .attach(
                            Attachment::bytes(b"x".to_vec())
                                .filename("résumé-ünïcödé-fïlénämé-wïth-many-àccents.pdf"),
                        )
                        .deterministic(1)
                        .build()
                        .unwrap();
                    let out = m.to_bytes().unwrap();
                    let lines = header_lines(&out);
                    for line in &lines {
                        assert!(line.len() <= 78, "{charset} {name_len}: {line:?}");
                        for word in line.split([' ', '"']).filter(|w| w.starts_with("=?")) {
                            let word = word.trim_end_matches([';', ',']);
                            assert!(word.len() <= MAX_WORD_LEN, "{line:?}");
                        }
                    }
                    for header in ["Subject", &name] {
                        let value = value_of(&lines, header);
                        assert_eq!(
                            decode_unstructured(value.trim_start()),
                            *subject,
                            "{header}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }
}
