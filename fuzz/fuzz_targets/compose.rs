//! The composer: `MessageBuilder` → `Message` → bytes, from a
//! structure-aware message spec (`arbitrary`).
//!
//! Properties:
//! * `build` either fails with a typed error naming a field that was given,
//!   or gives a message whose rendering (with and without UTF-8 headers
//!   and 8bit bodies where allowed) is CRLF only, lines ≤ 998 octets, one
//!   header block without `Bcc` and without raw 8-bit octets unless
//!   allowed, exactly `encoded_len` octets long, and the same through
//!   `to_bytes` and the `MessageStream` the engine reads;
//! * `mail-parser` reads back the subject, the From/To/Cc names and
//!   addresses (A-label domains without UTF-8 headers), the text and HTML
//!   bodies, and every part's bytes and filename;
//! * the envelope is the first From (or Sender, or Return-Path) and the
//!   de-duplicated To, Cc and Bcc (same local part, same host: U-label and
//!   A-label domains alike, ASCII case ignored);
//! * the dry-run SMTP transaction of the message (DATA and BDAT, with and
//!   without 8BITMIME / SMTPUTF8) carries exactly the rendered bytes, with
//!   no end of data (`CRLF.CRLF`) anywhere but at the end.
#![no_main]

use std::collections::HashSet;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use mimeograph::address::Mailbox;
use mimeograph::encoding::{Charset, TransferEncoding};
use mimeograph::envelope::RenderOptions;
use mimeograph::header::DateTime;
use mimeograph::mime::{content_type, Attachment, ComposeError, Message, MessageBuilder};
use mimeograph::smtp::{transaction_with, Capabilities, Command, Config, SmtpError};
use mimeograph_fuzz::{assert_crlf_only, assert_line_lengths, lf, normalize_crlf};

const LOCALS: [&str; 9] = [
    "ann",
    "bob.smith",
    "o'brien",
    "\"john doe\"",
    "j\u{f6}rg",
    "\u{7528}\u{6237}",
    "x+tag",
    "A_B",
    "\"a@b\"",
];
const DOMAINS: [&str; 7] = [
    "example.com",
    "b\u{fc}cher.example",
    "\u{4f8b}\u{5b50}.example",
    "[192.0.2.1]",
    "xn--bcher-kva.example",
    "EXAMPLE.ORG",
    "sub.example.net",
];
const CHARSETS: [&str; 8] = [
    "utf-8",
    "iso-8859-1",
    "iso-8859-15",
    "koi8-r",
    "shift_jis",
    "iso-2022-jp",
    "gb18030",
    "no-such-charset",
];
const TYPES: [&str; 8] = [
    "application/octet-stream",
    "image/png",
    "text/plain",
    "text/html",
    "message/rfc822",
    "text/calendar",
    "application/pdf",
    "not a type",
];
const HEADER_NAMES: [&str; 5] = ["X-Fuzz", "Comments", "List-Unsubscribe", "Bcc", "X"];

#[derive(Arbitrary, Debug, Clone)]
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

#[derive(Arbitrary, Debug, Clone)]
struct Addr {
    name: Option<Text>,
    local: u8,
    domain: u8,
}

impl Addr {
    fn address(&self) -> String {
        format!(
            "{}@{}",
            LOCALS[usize::from(self.local) % LOCALS.len()],
            DOMAINS[usize::from(self.domain) % DOMAINS.len()]
        )
    }

    fn mailbox(&self) -> Option<Mailbox> {
        let name = self.name.as_ref().map(Text::get);
        Mailbox::new(name.as_deref(), &self.address()).ok()
    }

    /// Header text our strict parser reads back as this mailbox.
    fn text(&self) -> String {
        match self.name.as_ref().map(Text::get) {
            Some(n) => format!(
                "\"{}\" <{}>",
                n.replace('\\', "\\\\").replace('"', "\\\""),
                self.address()
            ),
            None => self.address(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum AddrList {
    Mailboxes(Vec<Addr>),
    Text(Vec<Addr>),
    Raw(String),
}

#[derive(Arbitrary, Debug, Clone)]
enum Src {
    Bytes(Vec<u8>),
    Text(Text),
    Base64(Vec<u8>, bool),
    Reader(Vec<u8>, bool),
    Message(Vec<u8>),
    Calendar(Text, u8),
}

#[derive(Arbitrary, Debug, Clone)]
struct Part {
    place: u8,
    src: Src,
    filename: Option<Text>,
    content_type: Option<u8>,
    content_id: Option<String>,
    charset: Option<u8>,
    inline: bool,
    encoding: Option<u8>,
    header: Option<(u8, String)>,
    related: Option<Box<Part>>,
}

#[derive(Arbitrary, Debug, Clone)]
struct Spec {
    from: AddrList,
    sender: Option<Addr>,
    reply_to: Option<AddrList>,
    to: AddrList,
    cc: Option<AddrList>,
    bcc: Option<AddrList>,
    return_path: Option<Addr>,
    subject: Option<Text>,
    text: Option<Text>,
    html: Option<Text>,
    charset: Option<u8>,
    headers: Vec<(u8, Text)>,
    parts: Vec<Part>,
    message_id: Option<String>,
    date: Option<(i32, i16)>,
    seed: u64,
}

fn add_list(
    b: MessageBuilder,
    list: &AddrList,
    f: fn(MessageBuilder, String) -> MessageBuilder,
    g: fn(MessageBuilder, Vec<Mailbox>) -> MessageBuilder,
) -> MessageBuilder {
    match list {
        AddrList::Mailboxes(v) => g(b, v.iter().filter_map(Addr::mailbox).collect()),
        AddrList::Text(v) => f(b, v.iter().map(Addr::text).collect::<Vec<_>>().join(", ")),
        AddrList::Raw(s) => f(b, s.clone()),
    }
}

fn attachment(p: &Part, depth: usize) -> Attachment {
    let mut a = match &p.src {
        Src::Bytes(b) => Attachment::bytes(b.clone()),
        Src::Text(t) => Attachment::text(t.get()),
        Src::Base64(b, wrap) => {
            use base64_like::encode;
            Attachment::base64(encode(b, *wrap))
        }
        Src::Reader(b, declared) => {
            let r = std::io::Cursor::new(b.clone());
            if *declared {
                Attachment::reader_with_len(r, b.len() as u64)
            } else {
                Attachment::reader(r)
            }
        }
        Src::Message(b) => Attachment::message(b.clone()),
        Src::Calendar(t, m) => Attachment::calendar(
            t.get(),
            ["REQUEST", "CANCEL", "bad\r\nmethod"][usize::from(*m) % 3],
        ),
    };
    if let Some(f) = &p.filename {
        a = a.filename(f.get());
    }
    if let Some(t) = p.content_type {
        a = a.content_type(TYPES[usize::from(t) % TYPES.len()]);
    }
    if let Some(c) = &p.content_id {
        a = a.content_id(c.clone());
    }
    if let Some(c) = p.charset {
        a = a.charset(CHARSETS[usize::from(c) % CHARSETS.len()]);
    }
    a = a.inline(p.inline || p.content_id.is_some());
    if let Some(e) = p.encoding {
        a = a.transfer_encoding(match e % 4 {
            0 => TransferEncoding::SevenBit,
            1 => TransferEncoding::EightBit,
            2 => TransferEncoding::QuotedPrintable,
            _ => TransferEncoding::Base64,
        });
    }
    if let Some((n, v)) = &p.header {
        a = a.header(
            HEADER_NAMES[usize::from(*n) % HEADER_NAMES.len()],
            v.clone(),
        );
    }
    if let (Some(r), true) = (&p.related, depth < 2) {
        a = a.related([attachment(r, depth + 1)]);
    }
    a
}

/// A tiny base64 encoder (the composer's own is what is under test).
mod base64_like {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(data: &[u8], wrap: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in data.chunks(3).enumerate() {
            if wrap && i > 0 && i % 19 == 0 {
                out.extend_from_slice(b"\r\n");
            }
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            out.push(A[(n >> 18) as usize & 63]);
            out.push(A[(n >> 12) as usize & 63]);
            out.push(if c.len() > 1 {
                A[(n >> 6) as usize & 63]
            } else {
                b'='
            });
            out.push(if c.len() > 2 {
                A[n as usize & 63]
            } else {
                b'='
            });
        }
        out
    }
}

fn builder(s: &Spec) -> MessageBuilder {
    let mut b = Message::builder().deterministic(s.seed);
    b = add_list(b, &s.from, |b, t| b.from(t), |b, v| b.from(v));
    if let Some(a) = &s.sender {
        b = b.sender(a.text());
    }
    if let Some(l) = &s.reply_to {
        b = add_list(b, l, |b, t| b.reply_to(t), |b, v| b.reply_to(v));
    }
    b = add_list(b, &s.to, |b, t| b.to(t), |b, v| b.to(v));
    if let Some(l) = &s.cc {
        b = add_list(b, l, |b, t| b.cc(t), |b, v| b.cc(v));
    }
    if let Some(l) = &s.bcc {
        b = add_list(b, l, |b, t| b.bcc(t), |b, v| b.bcc(v));
    }
    if let Some(a) = &s.return_path {
        b = b.return_path(a.address());
    }
    if let Some(t) = &s.subject {
        b = b.subject(t.get());
    }
    if let Some(t) = &s.text {
        b = b.text(t.get());
    }
    if let Some(t) = &s.html {
        b = b.html(t.get());
    }
    if let Some(c) = s.charset {
        b = b.charset(CHARSETS[usize::from(c) % CHARSETS.len()]);
    }
    for (n, v) in &s.headers {
        b = b.header(HEADER_NAMES[usize::from(*n) % HEADER_NAMES.len()], v.get());
    }
    for p in &s.parts {
        let a = attachment(p, 0);
        b = match p.place % 3 {
            0 => b.attach(a),
            1 => b.inline(a),
            _ => b.alternative(a),
        };
    }
    if let Some(id) = &s.message_id {
        b = b.message_id(id.clone());
    }
    if let Some((t, o)) = s.date {
        b = b.date(DateTime::from_unix(i64::from(t)).with_offset_minutes(o));
    }
    b
}

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = Spec::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    let message = match builder(&spec).build() {
        Ok(m) => m,
        Err(e) => {
            if trace {
                eprintln!("build error: {e:?}");
            }
            check_error(&e);
            return;
        }
    };
    if trace {
        eprintln!("built: {spec:?}");
    }
    let utf8_required = message.requires_smtputf8();
    let opts_list: Vec<RenderOptions> =
        [(false, false), (false, true), (true, false), (true, true)]
            .into_iter()
            .filter(|&(u, _)| u || !utf8_required)
            .map(|(utf8_headers, allow_8bit)| RenderOptions {
                utf8_headers,
                allow_8bit,
            })
            .collect();
    for &opts in &opts_list {
        // A fresh message each time: a stream source can be read once.
        let m = builder(&spec).build().expect("the same spec builds again");
        let len = m.encoded_len(opts);
        let bytes = match m.to_bytes_with(opts) {
            Ok(b) => b,
            Err(e) => {
                check_render_error(&e);
                return;
            }
        };
        if let Some(n) = len {
            assert_eq!(n, bytes.len() as u64, "encoded_len");
        }
        if trace {
            eprintln!("rendered {opts:?}:\n{}", String::from_utf8_lossy(&bytes));
        }
        check_bytes(&bytes, opts, forces_8bit(&spec));
        let m = builder(&spec).build().expect("builds again");
        let mut stream = m.into_stream();
        stream.start(opts).expect("stream starts");
        let mut streamed = Vec::new();
        while let Some(chunk) = stream.next_chunk().expect("stream chunk") {
            streamed.extend_from_slice(chunk);
        }
        assert!(streamed == bytes, "MessageStream differs from to_bytes");
        if opts == message.default_options() || opts.utf8_headers == utf8_required {
            read_back(&spec, &message, &bytes, opts);
        }
    }
    check_envelope(&spec, &message);
    for (chunking, eight_bit, smtputf8) in [
        (false, false, false),
        (false, true, true),
        (true, false, true),
        (true, true, false),
    ] {
        dry_run(&spec, chunking, eight_bit, smtputf8);
    }
});

fn check_error(e: &ComposeError) {
    // Every error names what it is about; Display never panics.
    let _ = e.to_string();
    match e {
        ComposeError::Address { field, .. } => {
            // A list field names the entry (`to[1]`: the builder refuses
            // an address list its strict parser rejects, e.g. `:;0:#`); a
            // single-mailbox field names only itself.
            let (base, index) = match field.strip_suffix(']').and_then(|f| f.split_once('[')) {
                Some((base, i)) => (base, Some(i)),
                None => (field.as_str(), None),
            };
            let list = ["from", "reply-to", "to", "cc", "bcc"].contains(&base);
            let single = ["sender", "return-path"].contains(&base);
            assert!(list || single, "{e:?}");
            if let Some(i) = index {
                assert!(list, "an index on a single-mailbox field: {e:?}");
                assert!(
                    !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) && i.len() < 6,
                    "{e:?}"
                );
            }
        }
        ComposeError::Io { .. } | ComposeError::SourceConsumed { .. } => {
            panic!("I/O error from in-memory sources: {e:?}")
        }
        _ => {}
    }
}

fn check_render_error(e: &ComposeError) {
    match e {
        // A single unbreakable word (a display name, a parameter) longer
        // than a line: a typed error.
        ComposeError::Header(mimeograph::header::HeaderError::LineTooLong { .. }) => {}
        _ => panic!("a built message failed to render: {e:?}"),
    }
}

/// A part forced to `8bit` is written so whatever the options (and the
/// engine then requires 8BITMIME).
fn forces_8bit(spec: &Spec) -> bool {
    spec.parts.iter().any(|p| {
        let mut x = Some(p);
        let mut found = false;
        while let Some(q) = x {
            found |= q.encoding.is_some_and(|e| e % 4 == 1);
            x = q.related.as_deref();
        }
        found
    })
}

fn check_bytes(bytes: &[u8], opts: RenderOptions, forced_8bit: bool) {
    assert_crlf_only(bytes, "message");
    assert_line_lengths(bytes, "message");
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = &bytes[..head_end + 2];
    for line in head.split(|&b| b == b'\n') {
        let l = line.to_ascii_lowercase();
        assert!(!l.starts_with(b"bcc:"), "Bcc header written");
    }
    if !opts.utf8_headers {
        assert!(head.is_ascii(), "raw 8-bit header without UTF-8 headers");
    }
    if !opts.utf8_headers && !opts.allow_8bit && !forced_8bit {
        assert!(bytes.is_ascii(), "8-bit octets in a 7-bit message");
    }
}

fn addresses(a: Option<&Address>) -> Vec<(Option<String>, Option<String>)> {
    match a {
        None => Vec::new(),
        Some(Address::List(l)) => l
            .iter()
            .map(|x| (x.name().map(str::to_owned), x.address().map(str::to_owned)))
            .collect(),
        Some(Address::Group(g)) => g
            .iter()
            .flat_map(|g| g.addresses.iter())
            .map(|x| (x.name().map(str::to_owned), x.address().map(str::to_owned)))
            .collect(),
    }
}

/// The mailboxes a list stands for, when the spec says (not for raw text).
fn spec_mailboxes(list: &AddrList) -> Option<Vec<Mailbox>> {
    match list {
        AddrList::Mailboxes(v) => Some(v.iter().filter_map(Addr::mailbox).collect()),
        AddrList::Text(v) => Some(
            v.iter()
                .map(|a| {
                    Mailbox::parse(&a.text()).expect("the text form of a built address parses")
                })
                .collect(),
        ),
        AddrList::Raw(_) => None,
    }
}

fn read_back(spec: &Spec, message: &Message, bytes: &[u8], opts: RenderOptions) {
    let parsed = MessageParser::default()
        .parse(bytes)
        .expect("mail-parser reads the message");
    if std::env::var_os("FUZZ_TRACE").is_some() {
        for (i, p) in parsed.parts.iter().enumerate() {
            eprintln!(
                "mail-parser part {i}: {:?} name {:?}",
                p.body,
                p.attachment_name()
            );
        }
    }
    if let Some(s) = spec
        .subject
        .as_ref()
        .map(Text::get)
        .filter(|s| !s.is_empty())
    {
        if !bytes.windows(3).any(|w| w == b"\r\n\t") {
            assert_eq!(parsed.subject(), Some(s.as_str()), "subject");
        }
    }
    assert_eq!(
        message.subject(),
        spec.subject.as_ref().map(Text::get).as_deref()
    );
    for (list, got) in [
        (Some(&spec.from), parsed.from()),
        (Some(&spec.to), parsed.to()),
        (spec.cc.as_ref(), parsed.cc()),
    ] {
        let Some(want) = list.and_then(spec_mailboxes) else {
            continue;
        };
        let got = addresses(got);
        let simple = want
            .iter()
            .all(|m| !m.local_part().starts_with('"') && !m.domain().starts_with('['));
        if !simple {
            continue;
        }
        assert_eq!(got.len(), want.len(), "address count: {got:?} vs {want:?}");
        for (m, (name, address)) in want.iter().zip(&got) {
            let addr = if opts.utf8_headers {
                m.address()
            } else {
                m.envelope_address().ascii().unwrap_or_default().to_owned()
            };
            assert_eq!(address.as_deref(), Some(addr.as_str()), "address");
            assert_eq!(name.as_deref(), m.name(), "display name of {addr}");
        }
    }
    // Bodies: the text and the HTML.
    let has_rfc822 = spec.parts.iter().any(|p| {
        let mut x = Some(p);
        let mut found = false;
        while let Some(q) = x {
            found |= matches!(q.src, Src::Message(_))
                || q.content_type.map(|t| TYPES[usize::from(t) % TYPES.len()])
                    == Some("message/rfc822");
            x = q.related.as_deref();
        }
        found
    });
    let charset_ok = !has_rfc822
        && spec
            .charset
            .is_none_or(|c| Charset::from_label(CHARSETS[usize::from(c) % CHARSETS.len()]).is_ok());
    if charset_ok {
        // Bare CR and LF become CRLF in the composer.
        let crlf = |t: &Text| {
            lf(&String::from_utf8_lossy(&normalize_crlf(
                t.get().as_bytes(),
            )))
        };
        if let Some(t) = &spec.text {
            let want = crlf(t);
            let found = parsed.parts.iter().any(|p| {
                p.is_content_type("text", "plain")
                    && p.text_contents()
                        .map(lf)
                        .is_some_and(|g| g == want || g.strip_suffix('\n') == Some(&want))
            });
            assert!(found, "text body {want:?} not read back");
        }
        if let Some(h) = &spec.html {
            let want = crlf(h);
            let found = parsed.parts.iter().any(|p| {
                p.is_content_type("text", "html")
                    && p.text_contents()
                        .map(lf)
                        .is_some_and(|g| g == want || g.strip_suffix('\n') == Some(&want))
            });
            assert!(found, "html body {want:?} not read back");
        }
    }
    // Parts: bytes and filename.
    let mut all = Vec::new();
    let rfc822 = |p: &Part| {
        matches!(p.src, Src::Message(_))
            || p.content_type.map(|t| TYPES[usize::from(t) % TYPES.len()]) == Some("message/rfc822")
    };
    for p in &spec.parts {
        all.push(p);
        let mut r = p.related.as_deref();
        let mut depth = 0;
        while let (Some(x), true) = (r, depth < 2) {
            all.push(x);
            r = x.related.as_deref();
            depth += 1;
        }
    }
    if all.iter().any(|p| rfc822(p)) {
        // An attached message that is no message (any bytes are taken)
        // makes mail-parser read past its boundary: no oracle here.
        return;
    }
    // The most constrained first (a greedy match): named parts.
    all.sort_by_key(|p| p.filename.as_ref().is_none_or(|f| f.get().is_empty()));
    let mut used = HashSet::new();
    for p in all {
        let Some(want) = expected_bytes(p) else {
            continue;
        };
        // mail-parser reads an empty file name as none.
        let name = p.filename.as_ref().map(Text::get).filter(|n| !n.is_empty());
        let hit = parsed.parts.iter().enumerate().find(|(i, part)| {
            if used.contains(i) {
                return false;
            }
            // A single-part body is the rest of the message, which ends
            // with CRLF: an unencoded one reads back with it.
            let single = parsed.parts.len() == 1;
            let same = match &part.body {
                PartType::Binary(b) | PartType::InlineBinary(b) => {
                    b.as_ref() == want.as_slice()
                        || (single && b.strip_suffix(b"\r\n") == Some(want.as_slice()))
                }
                PartType::Text(t) | PartType::Html(t) => {
                    let (got, want) = (lf(t), lf(&String::from_utf8_lossy(&want)));
                    got == want || (single && got.strip_suffix('\n') == Some(want.as_str()))
                }
                _ => false,
            };
            same && (name.is_none() || part.attachment_name() == name.as_deref())
        });
        match hit {
            Some((i, _)) => {
                used.insert(i);
            }
            None => panic!(
                "part not read back: {} bytes, filename {name:?}, {:?}",
                want.len(),
                p.src
            ),
        }
    }
}

/// What a reader must get back from a part, when the spec says simply.
fn expected_bytes(p: &Part) -> Option<Vec<u8>> {
    let ty = p.content_type.map(|t| TYPES[usize::from(t) % TYPES.len()]);
    if ty == Some("message/rfc822") || ty == Some("text/calendar") {
        return None;
    }
    match &p.src {
        Src::Bytes(b) | Src::Reader(b, _) => {
            let guessed = p
                .filename
                .as_ref()
                .map(|f| content_type::guess_from_filename(&f.get()));
            let text = ty.or(guessed).is_some_and(|t| t.starts_with("text/"));
            if text || p.charset.is_some() {
                // Read as text by mail-parser, in its charset.
                return None;
            }
            Some(b.clone())
        }
        Src::Base64(b, _) => Some(b.clone()),
        Src::Text(t) => {
            let cs = p.charset.map(|c| CHARSETS[usize::from(c) % CHARSETS.len()]);
            if cs.is_some_and(|c| c != "utf-8") {
                return None;
            }
            Some(normalize_crlf(t.get().as_bytes()))
        }
        Src::Message(_) | Src::Calendar(..) => None,
    }
}

fn check_envelope(spec: &Spec, message: &Message) {
    let env = message.envelope();
    // A composed message always has an author and a reverse path: the
    // null path `<>` is for bounces, which suppress further bounces.
    assert!(
        env.from.is_some(),
        "null reverse path for a composed message"
    );
    assert!(!env.to.is_empty(), "no recipient");
    let mut want = Vec::new();
    let mut seen = HashSet::new();
    for list in [Some(&spec.to), spec.cc.as_ref(), spec.bcc.as_ref()]
        .into_iter()
        .flatten()
    {
        let Some(boxes) = spec_mailboxes(list) else {
            return;
        };
        for m in boxes {
            // The same local part at the same host: a U-label domain and
            // its A-label form are one host, compared ignoring ASCII case.
            let host = match m.domain().starts_with('[') {
                true => m.domain().to_owned(),
                false => idna::domain_to_ascii(m.domain()).unwrap_or_else(|_| m.domain().into()),
            };
            if seen.insert((m.local_part().to_owned(), host.to_ascii_lowercase())) {
                want.push(m.address());
            }
        }
    }
    let got: Vec<&str> = env.to.iter().map(|a| a.utf8()).collect();
    assert_eq!(got, want, "envelope recipients");
    let want_from = if let Some(rp) = &spec.return_path {
        Mailbox::parse(&rp.address()).ok().map(|m| m.address())
    } else if let Some(sender) = &spec.sender {
        Mailbox::parse(&sender.text()).ok().map(|m| m.address())
    } else {
        match spec_mailboxes(&spec.from) {
            Some(v) => v.first().map(Mailbox::address),
            None => return,
        }
    };
    assert_eq!(
        env.from.as_ref().map(|a| a.utf8().to_owned()),
        want_from,
        "reverse path"
    );
}

/// The dry-run transaction carries exactly the rendered message.
fn dry_run(spec: &Spec, chunking: bool, eight_bit: bool, smtputf8: bool) {
    let Ok(m) = builder(spec).build() else {
        return;
    };
    let needs_utf8 = m.requires_smtputf8() || m.envelope().requires_smtputf8();
    let opts = RenderOptions {
        utf8_headers: needs_utf8,
        allow_8bit: eight_bit,
    };
    let Ok(expected) = builder(spec)
        .build()
        .expect("builds again")
        .to_bytes_with(opts)
    else {
        return;
    };
    let caps = Capabilities {
        pipelining: true,
        chunking,
        eight_bit_mime: eight_bit,
        smtp_utf8: smtputf8,
        size: Some(0),
        ..Capabilities::default()
    };
    let envelope = m.envelope().clone();
    let commands = match transaction_with(&Config::default(), &envelope, m.into_stream(), &caps) {
        Ok(c) => c,
        Err(SmtpError::SmtpUtf8Required) => {
            assert!(needs_utf8 && !smtputf8, "SMTPUTF8 required without need");
            return;
        }
        Err(SmtpError::EightBitMimeRequired) => {
            assert!(!eight_bit && !needs_utf8);
            // 8-bit octets, or a part forced to `8bit` (honoured).
            let labelled = expected
                .windows(30)
                .any(|w| w.eq_ignore_ascii_case(b"Content-Transfer-Encoding: 8bi"));
            assert!(
                !expected.is_ascii() || labelled,
                "8BITMIME required for a 7-bit message"
            );
            return;
        }
        Err(e) => panic!("dry run failed: {e:?}"),
    };
    let mut content = Vec::new();
    for c in &commands {
        match c {
            Command::Content(b) => content.extend_from_slice(b),
            Command::Mail { params, .. } => {
                let size = params.iter().find_map(|p| p.strip_prefix("SIZE="));
                if let Some(size) = size {
                    assert_eq!(size, expected.len().to_string(), "SIZE=");
                }
            }
            _ => {}
        }
    }
    if chunking {
        assert!(content == expected, "BDAT content differs from the message");
        return;
    }
    assert!(content.ends_with(b".\r\n"), "no end of data");
    let body = &content[..content.len() - 3];
    // The only CRLF.CRLF is the end: no line of the body is a lone dot.
    assert!(
        body.is_empty() || body.ends_with(b"\r\n"),
        "unterminated last line"
    );
    let mut unstuffed = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        assert!(line != b".\r\n", "premature end of data inside DATA");
        unstuffed.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        assert!(
            !line.starts_with(b".") || line.starts_with(b".."),
            "unstuffed dot line"
        );
    }
    assert!(
        unstuffed == expected,
        "DATA content differs from the message"
    );
}
