//! Attachments and other body parts given by the user: where their bytes
//! come from and how they are labelled.

use crate::encoding::TransferEncoding;
use std::fmt;
use std::io::{self, Read};

/// Where a part's bytes come from.
pub(crate) enum Source {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// Text in memory, transcoded to the part's charset when the message is built.
    Text(String),
    /// Data that is already base64 (emailjs's `encoded`).
    Base64(Vec<u8>),
    /// A file, read when the message is written.
    #[cfg(feature = "native")]
    Path(std::path::PathBuf),
    /// A stream, read once when the message is written. `len`, when given,
    /// is checked against what the stream yields.
    Reader {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
    },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Self::Base64(b) => write!(f, "Base64({} bytes)", b.len()),
            #[cfg(feature = "native")]
            Self::Path(p) => write!(f, "Path({})", p.display()),
            Self::Reader { len, .. } => write!(f, "Reader(len: {len:?})"),
        }
    }
}

/// A body part: an attachment, an inline image, or an alternative body
/// (such as `text/calendar`). Build one from its source, then label it.
///
/// ```
/// use mimeograph::mime::Attachment;
/// let pdf = Attachment::bytes(b"%PDF-1.4 ...".to_vec()).filename("Q3 report.pdf");
/// let logo = Attachment::bytes(vec![0x47, 0x49, 0x46]).filename("logo.gif").content_id("logo@example");
/// ```
#[derive(Debug)]
pub struct Attachment {
    pub(crate) source: Source,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) charset: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) content_id: Option<String>,
    pub(crate) inline: bool,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) encoding: Option<TransferEncoding>,
    pub(crate) related: Vec<Attachment>,
}

impl Attachment {
    fn from_source(source: Source) -> Self {
        Self {
            source,
            filename: None,
            content_type: None,
            charset: None,
            method: None,
            content_id: None,
            inline: false,
            headers: Vec::new(),
            encoding: None,
            related: Vec::new(),
        }
    }

    /// A part from bytes in memory (sent as they are, base64 by default).
    pub fn bytes(data: impl Into<Vec<u8>>) -> Self {
        Self::from_source(Source::Bytes(data.into()))
    }

    /// A part from text (`text/plain` unless a type is given), written in
    /// the part's charset (UTF-8 unless [`Attachment::charset`] says other).
    pub fn text(text: impl Into<String>) -> Self {
        Self::from_source(Source::Text(text.into()))
    }

    /// A part whose data is already base64 (emailjs's `encoded: true`); it
    /// is checked and re-wrapped in 76-character lines.
    pub fn base64(encoded: impl Into<Vec<u8>>) -> Self {
        Self::from_source(Source::Base64(encoded.into()))
            .transfer_encoding(TransferEncoding::Base64)
    }

    /// A part read from a file when the message is written; the file name
    /// is its default `filename`. The file must exist when the message is
    /// built.
    #[cfg(feature = "native")]
    pub fn path(path: impl Into<std::path::PathBuf>) -> Self {
        let path = path.into();
        let filename = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        let mut part = Self::from_source(Source::Path(path));
        part.filename = filename;
        part
    }

    /// A part read from a stream when the message is written. The stream is
    /// read once: a message with a stream can be written once.
    ///
    /// The native clients (`native::SmtpClient`, `native::AsyncSmtpClient`)
    /// read a message with a stream on a thread of its own, so that a
    /// `read` that blocks is bounded by their timeout
    /// (`native::Options::timeout`): a stream that gives no bytes
    /// (and does not end) for that long fails the message with
    /// [`crate::smtp::SmtpError::BodyTimeout`]. That thread cannot be
    /// stopped while it is blocked in `read`: it is left behind and ends
    /// when the `read` returns (what it read then goes nowhere). A stream
    /// that can stay silent for good (a socket, a pipe) should be closed
    /// by its other end, or be given a read timeout, to free the thread.
    pub fn reader(reader: impl Read + Send + 'static) -> Self {
        Self::from_source(Source::Reader {
            reader: Box::new(reader),
            len: None,
        })
    }

    /// Like [`Attachment::reader`], for a stream of known length (the
    /// message then knows its size, for SMTP `SIZE=` and `BDAT`); a stream
    /// that yields a different number of bytes is an error.
    pub fn reader_with_len(reader: impl Read + Send + 'static, len: u64) -> Self {
        Self::from_source(Source::Reader {
            reader: Box::new(reader),
            len: Some(len),
        })
    }

    /// A part from a sequence of chunks (an iterator of byte buffers, or of
    /// `io::Result`s of them), read once when the message is written.
    pub fn chunks<I, C>(chunks: I) -> Self
    where
        I: IntoIterator<Item = io::Result<C>>,
        I::IntoIter: Send + 'static,
        C: AsRef<[u8]> + Send + 'static,
    {
        Self::reader(ChunkReader {
            chunks: chunks.into_iter(),
            current: None,
            pos: 0,
        })
    }

    /// An attached message (`message/rfc822`), given as its bytes. It is
    /// sent 7bit or 8bit (RFC 2046 §5.2.1); when its content needs base64
    /// (8-bit content without 8BITMIME, lines over 998 octets) it goes as
    /// `application/octet-stream` instead, and a forced quoted-printable
    /// or base64 is an error.
    pub fn message(rfc822: impl Into<Vec<u8>>) -> Self {
        Self::bytes(rfc822).content_type("message/rfc822")
    }

    /// A `text/calendar` body with its iTIP `method` (e.g. `REQUEST`), to be
    /// added with [`crate::mime::MessageBuilder::alternative`].
    pub fn calendar(ics: impl Into<String>, method: impl Into<String>) -> Self {
        let mut part = Self::text(ics).content_type("text/calendar");
        part.method = Some(method.into());
        part
    }

    /// The file name shown to the recipient. An empty name, or one of
    /// whitespace only, is refused at build
    /// ([`crate::mime::ComposeError::InvalidFilename`]): leave it unset for
    /// a part without a name.
    pub fn filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = Some(filename.into());
        self
    }

    /// The media type (`type/subtype`); guessed from the file name when not
    /// given. `multipart/*` is refused at build
    /// ([`crate::mime::ComposeError::InvalidContentType`]). A `message/*`
    /// part (but `message/global*`, RFC 6532) is written like
    /// [`Attachment::message`], text included: 7bit or 8bit, else (files,
    /// streams, content that needs base64) as `application/octet-stream`.
    pub fn content_type(mut self, media_type: impl Into<String>) -> Self {
        self.content_type = Some(media_type.into());
        self
    }

    /// The charset of a text part (any WHATWG label); for [`Attachment::text`]
    /// the text is transcoded into it.
    pub fn charset(mut self, label: impl Into<String>) -> Self {
        self.charset = Some(label.into());
        self
    }

    /// The `method` parameter of a `text/calendar` part.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Gives the part a Content-ID (without `<>`), so HTML can refer to it
    /// as `cid:…`, and marks it inline. It must be an RFC 5322 msg-id
    /// (RFC 2392), e.g. `logo@example.com`: a left part and a domain-like
    /// right part, or a bare left part (`logo`, as HTML mail often has),
    /// checked at build ([`crate::mime::ComposeError::InvalidContentId`]).
    pub fn content_id(mut self, cid: impl Into<String>) -> Self {
        self.content_id = Some(cid.into());
        self.inline = true;
        self
    }

    /// Sets `Content-Disposition: inline` (true) or `attachment` (false).
    pub fn inline(mut self, inline: bool) -> Self {
        self.inline = inline;
        self
    }

    /// Adds a custom header to this part.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Forces a transfer encoding (base64 and quoted-printable always work,
    /// but for `message/*` parts, which may only be 7bit or 8bit; 7bit and
    /// 8bit only for in-memory content that fits them).
    pub fn transfer_encoding(mut self, encoding: TransferEncoding) -> Self {
        self.encoding = Some(encoding);
        self
    }

    /// Parts shown together with this one in a `multipart/related` (emailjs's
    /// `related`), e.g. the images of an HTML alternative.
    pub fn related(mut self, parts: impl IntoIterator<Item = Attachment>) -> Self {
        self.related.extend(parts);
        self
    }
}

/// Reads an iterator of chunks as a stream.
struct ChunkReader<I, C> {
    chunks: I,
    current: Option<C>,
    pos: usize,
}

impl<I, C> Read for ChunkReader<I, C>
where
    I: Iterator<Item = io::Result<C>>,
    C: AsRef<[u8]>,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let rest = self
                .current
                .as_ref()
                .and_then(|c| c.as_ref().get(self.pos..))
                .unwrap_or_default();
            if !rest.is_empty() {
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                self.pos += n;
                return Ok(n);
            }
            match self.chunks.next() {
                Some(chunk) => {
                    self.current = Some(chunk?);
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
    }
}
