//! Shared test support: message specs that build a message and describe
//! what any parser must read back, checks with the `mail-parser` crate, and
//! structural checks on the raw bytes.
#![allow(dead_code)]

pub mod corpus;
pub mod external;
pub mod servers;

use mimeograph::envelope::RenderOptions;
use mimeograph::mime::{Attachment, Message, MessageBuilder};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Where the shared fixtures are: `MIMEOGRAPH_FIXTURES`, else
/// `../shared/fixtures` beside the repo, else the copies in `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("MIMEOGRAPH_FIXTURES").map(PathBuf::from),
        Some(repo.join("../shared/fixtures")),
        Some(repo.join("tests/fixtures")),
    ];
    for dir in candidates.into_iter().flatten() {
        let path = dir.join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("fixture {name} not found (set MIMEOGRAPH_FIXTURES or run beside ../shared)");
}

/// An address as given and as a parser must read it back.
#[derive(Clone, Debug)]
pub struct Addr {
    pub name: String,
    pub address: String,
    /// The address as it reads back (A-label domain when rendered ASCII).
    pub reads_as: String,
}

pub fn addr(name: &str, address: &str) -> Addr {
    Addr {
        name: name.into(),
        address: address.into(),
        reads_as: address.into(),
    }
}

/// An IDN address that reads back with its A-label domain.
pub fn idn(name: &str, address: &str, ascii: &str) -> Addr {
    Addr {
        name: name.into(),
        address: address.into(),
        reads_as: ascii.into(),
    }
}

impl Addr {
    fn header_form(&self) -> mimeograph::address::Mailbox {
        let name = (!self.name.is_empty()).then_some(self.name.as_str());
        mimeograph::address::Mailbox::new(name, &self.address).expect("valid test address")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Attach,
    Inline,
    Alternative,
}

#[derive(Clone, Debug)]
pub enum Src {
    Bytes(Vec<u8>),
    Text(String),
    Fixture(&'static str),
    Reader { data: Vec<u8>, declare_len: bool },
    Chunks(Vec<Vec<u8>>),
    Base64(Vec<u8>),
    Calendar { ics: String, method: String },
    Rfc822(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct Part {
    pub place: Place,
    pub src: Src,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub cid: Option<String>,
    pub charset: Option<String>,
    /// The media type a parser must report.
    pub expect_type: String,
    pub related: Vec<Part>,
}

pub fn part(place: Place, src: Src, expect_type: &str) -> Part {
    Part {
        place,
        src,
        filename: None,
        content_type: None,
        cid: None,
        charset: None,
        expect_type: expect_type.into(),
        related: Vec::new(),
    }
}

impl Part {
    pub fn named(mut self, filename: &str) -> Self {
        self.filename = Some(filename.into());
        self
    }
    pub fn typed(mut self, content_type: &str) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
    pub fn cid(mut self, cid: &str) -> Self {
        self.cid = Some(cid.into());
        self
    }
    pub fn charset(mut self, label: &str) -> Self {
        self.charset = Some(label.into());
        self
    }
    pub fn with_related(mut self, parts: Vec<Part>) -> Self {
        self.related = parts;
        self
    }

    /// The decoded bytes a parser must give back.
    pub fn expected_bytes(&self) -> Vec<u8> {
        match &self.src {
            Src::Bytes(b) | Src::Reader { data: b, .. } => b.clone(),
            Src::Text(t) => {
                let label = self.charset.as_deref().unwrap_or("utf-8");
                let enc = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap();
                crlf(&enc.encode(t).0)
            }
            Src::Calendar { ics, .. } => crlf(ics.as_bytes()),
            Src::Rfc822(b) => crlf(b),
            Src::Fixture(name) => std::fs::read(fixture(name)).unwrap(),
            Src::Chunks(c) => c.concat(),
            Src::Base64(encoded) => {
                use base64::Engine;
                let clean: Vec<u8> = encoded
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(clean)
                    .unwrap()
            }
        }
    }

    fn attachment(&self) -> Attachment {
        let mut a = match &self.src {
            Src::Bytes(b) => Attachment::bytes(b.clone()),
            Src::Text(t) => Attachment::text(t.clone()),
            Src::Fixture(name) => Attachment::path(fixture(name)),
            Src::Reader { data, declare_len } => {
                let len = data.len() as u64;
                let reader = std::io::Cursor::new(data.clone());
                if *declare_len {
                    Attachment::reader_with_len(reader, len)
                } else {
                    Attachment::reader(reader)
                }
            }
            Src::Chunks(chunks) => Attachment::chunks(chunks.clone().into_iter().map(Ok)),
            Src::Base64(encoded) => Attachment::base64(encoded.clone()),
            Src::Calendar { ics, method } => Attachment::calendar(ics.clone(), method.clone()),
            Src::Rfc822(b) => Attachment::message(b.clone()),
        };
        if let Some(f) = &self.filename {
            a = a.filename(f.clone());
        }
        if let Some(t) = &self.content_type {
            a = a.content_type(t.clone());
        }
        if let Some(c) = &self.cid {
            a = a.content_id(c.clone());
        }
        if let Some(c) = &self.charset {
            a = a.charset(c.clone());
        }
        if !self.related.is_empty() {
            a = a.related(self.related.iter().map(Part::attachment));
        }
        a
    }

    /// What a parser reports for this part when the message was rendered
    /// with or without 8bit bodies allowed.
    fn expectation(&self, eight_bit: bool) -> Value {
        let data = self.expected_bytes();
        // An attached message that needs base64 goes as a plain file (RFC 2046).
        let content_type = match &self.src {
            Src::Rfc822(bytes) if !eight_bit && !bytes.is_ascii() => "application/octet-stream",
            _ => self.expect_type.as_str(),
        };
        json!({
            "filename": self.filename,
            "content_type": content_type,
            "content_id": self.cid,
            "inline": self.cid.is_some() || self.place == Place::Inline,
            "sha256": sha256_hex(&data),
            "size": data.len(),
        })
    }
}

/// A message to build, and what it must read back as.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub name: &'static str,
    pub from: Vec<Addr>,
    pub sender: Option<Addr>,
    pub to: Vec<Addr>,
    pub to_groups: Vec<(String, Vec<Addr>)>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub charset: Option<String>,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<Part>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub opts: Option<RenderOptions>,
}

impl Spec {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            from: vec![addr("Sender", "sender@example.com")],
            to: vec![addr("Recipient", "rcpt@example.org")],
            ..Self::default()
        }
    }

    pub fn builder(&self) -> MessageBuilder {
        let mut b = Message::builder().deterministic(42);
        for a in &self.from {
            b = b.from(a.header_form());
        }
        if let Some(s) = &self.sender {
            b = b.sender(s.header_form());
        }
        for a in &self.to {
            b = b.to(a.header_form());
        }
        for (name, members) in &self.to_groups {
            let list: Vec<String> = members
                .iter()
                .map(|m| m.header_form().to_string())
                .collect();
            b = b.to(format!("{name}: {};", list.join(", ")));
        }
        for a in &self.cc {
            b = b.cc(a.header_form());
        }
        for a in &self.bcc {
            b = b.bcc(a.header_form());
        }
        for a in &self.reply_to {
            b = b.reply_to(a.header_form());
        }
        if let Some(s) = &self.subject {
            b = b.subject(s.clone());
        }
        if let Some(t) = &self.text {
            b = b.text(t.clone());
        }
        if let Some(h) = &self.html {
            b = b.html(h.clone());
        }
        if let Some(c) = &self.charset {
            b = b.charset(c.clone());
        }
        for (n, v) in &self.headers {
            b = b.header(n.clone(), v.clone());
        }
        if let Some(id) = &self.message_id {
            b = b.message_id(id.clone());
        }
        if let Some(id) = &self.in_reply_to {
            b = b.in_reply_to(id.clone()).references(id.clone());
        }
        for p in &self.parts {
            b = match p.place {
                Place::Attach => b.attach(p.attachment()),
                Place::Inline => b.inline(p.attachment()),
                Place::Alternative => b.alternative(p.attachment()),
            };
        }
        b
    }

    pub fn build(&self) -> Message {
        self.builder()
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// The bytes, rendered with the spec's options or the message's defaults.
    pub fn render(&self) -> (Message, Vec<u8>) {
        let message = self.build();
        let opts = self.opts.unwrap_or_else(|| message.default_options());
        let bytes = message
            .to_bytes_with(opts)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        (message, bytes)
    }

    fn utf8_headers(&self) -> bool {
        self.opts.is_some_and(|o| o.utf8_headers)
            || self
                .from
                .iter()
                .chain(&self.to)
                .chain(&self.cc)
                .chain(&self.bcc)
                .any(|a| !a.address.split('@').next().unwrap_or("").is_ascii())
    }

    fn addrs(&self, list: &[Addr]) -> Value {
        let utf8 = self.utf8_headers();
        Value::Array(
            list.iter()
                .map(|a| {
                    let address = if utf8 { &a.address } else { &a.reads_as };
                    json!({"name": a.name, "address": address})
                })
                .collect(),
        )
    }

    /// The HTML body: given as such, or as a `text/html` alternative part.
    pub fn html_body(&self) -> Option<String> {
        self.html.clone().or_else(|| {
            self.parts
                .iter()
                .find_map(|p| match (&p.src, p.place, p.expect_type.as_str()) {
                    (Src::Text(t), Place::Alternative, "text/html") => Some(t.clone()),
                    _ => None,
                })
        })
    }

    /// All leaf parts that are not the text/HTML bodies, in message order.
    pub fn attachment_parts(&self) -> Vec<&Part> {
        let mut out = Vec::new();
        let (inline, rest): (Vec<&Part>, Vec<&Part>) =
            self.parts.iter().partition(|p| p.place == Place::Inline);
        // Inline parts of the HTML body come first (inside related), then
        // alternatives with their related parts, then attachments.
        out.extend(inline);
        for p in rest.iter().filter(|p| p.place == Place::Alternative) {
            if p.expect_type != "text/html" {
                out.push(p);
            }
            out.extend(p.related.iter());
        }
        out.extend(rest.iter().filter(|p| p.place == Place::Attach));
        out
    }

    /// The expectation JSON of `tests/parsers/README.md`.
    pub fn expectation(&self, message: &Message) -> Value {
        self.expectation_with(message, self.opts.is_some_and(|o| o.allow_8bit))
    }

    /// The expectation for the message rendered with 8bit bodies allowed or
    /// not (an SMTP server offering 8BITMIME gets them).
    pub fn expectation_with(&self, message: &Message, eight_bit: bool) -> Value {
        let mut to = self.to.clone();
        for (_, members) in &self.to_groups {
            to.extend(members.iter().cloned());
        }
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        json!({
            "subject": self.subject,
            "from": self.addrs(&self.from),
            "to": self.addrs(&to),
            "cc": self.addrs(&self.cc),
            "reply_to": self.addrs(&self.reply_to),
            "message_id": message.message_id(),
            "text": self.text.as_deref().map(lf),
            "html": self.html_body().map(|h| lf(&h)),
            "attachments": self.attachment_parts().iter().map(|p| p.expectation(eight_bit)).collect::<Vec<_>>(),
            "headers": headers,
        })
    }
}

/// CRLF for every line end (what the composer writes for text).
pub fn crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// LF for every line end (how text compares across parsers).
pub fn lf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

pub fn sha256_hex(data: &[u8]) -> String {
    sha256::digest_hex(data)
}

mod sha256 {
    //! A small SHA-256 for test expectations (FIPS 180-4).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    pub fn digest_hex(data: &[u8]) -> String {
        let mut h: [u32; 8] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut msg = data.to_vec();
        let bits = (data.len() as u64).wrapping_mul(8);
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bits.to_be_bytes());
        for block in msg.chunks(64) {
            let mut w = [0u32; 64];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([
                    block[4 * i],
                    block[4 * i + 1],
                    block[4 * i + 2],
                    block[4 * i + 3],
                ]);
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
            for i in 0..64 {
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let ch = (e & f) ^ (!e & g);
                let t1 = hh
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                let t2 = s0.wrapping_add(maj);
                hh = g;
                g = f;
                f = e;
                e = d.wrapping_add(t1);
                d = c;
                c = b;
                b = a;
                a = t1.wrapping_add(t2);
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
                *x = x.wrapping_add(y);
            }
        }
        h.iter().map(|x| format!("{x:08x}")).collect()
    }

    #[test]
    fn known_digests() {
        assert_eq!(
            digest_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

/// Structural checks on raw message bytes; returns the problems found.
pub fn structural_problems(bytes: &[u8], utf8_headers: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        let bare_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        let bare_lf = b == b'\n' && (i == 0 || bytes[i - 1] != b'\r');
        if bare_cr || bare_lf {
            problems.push(format!("bare CR or LF at offset {i}"));
            break;
        }
    }
    if !bytes.ends_with(b"\r\n") {
        problems.push("does not end with CRLF".into());
    }
    let header_end = find(bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    let head = &bytes[..header_end];
    if !utf8_headers && !head.is_ascii() {
        problems.push("8-bit octets in the header section".into());
    }
    for line in head.split(|&b| b == b'\n') {
        if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:") {
            problems.push("a Bcc header was written".into());
        }
    }
    // Per-part checks: boundaries, line lengths, base64 and QP form.
    let mut boundaries: Vec<Vec<u8>> = Vec::new();
    let mut in_headers = true;
    let mut cte = String::from("7bit");
    let mut last_header = String::new();
    for raw in bytes.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > 998 {
            problems.push(format!("line of {} octets", line.len()));
        }
        let is_delimiter = boundaries.iter().any(|b| {
            line.strip_prefix(b"--")
                .is_some_and(|rest| rest == &b[..] || rest.strip_suffix(b"--") == Some(&b[..]))
        });
        if is_delimiter {
            in_headers = true;
            cte = "7bit".into();
            continue;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            let text = String::from_utf8_lossy(line).to_string();
            if text.starts_with([' ', '\t']) {
                last_header.push_str(&text);
            } else {
                last_header = text;
            }
            let lower = last_header.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-transfer-encoding:") {
                cte = v.trim().to_string();
            }
            if let Some(pos) = lower.find("boundary=") {
                let value =
                    last_header[pos + 9..].trim_matches(|c| c == '"' || c == ' ' || c == ';');
                let value = value.split('"').next().unwrap_or(value);
                let b = value.as_bytes().to_vec();
                if boundaries.contains(&b) {
                    problems.push(format!("boundary {value} used twice"));
                } else if !b.is_empty() {
                    // Unique against everything written so far.
                    if !occurs_only_as_boundary(bytes, &b) {
                        problems.push(format!("boundary {value} occurs inside content"));
                    }
                    boundaries.push(b);
                }
            }
            continue;
        }
        match cte.as_str() {
            "base64" => {
                let ok = line.len() <= 76
                    && line
                        .iter()
                        .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(c));
                if !ok {
                    problems.push(format!(
                        "malformed base64 line {:?}",
                        String::from_utf8_lossy(line)
                    ));
                }
            }
            "quoted-printable" => {
                if line.len() > 76 {
                    problems.push(format!("QP line of {} characters", line.len()));
                }
                if line.iter().any(|&c| c > 126 || (c < 32 && c != b'\t')) {
                    problems.push("unencoded octet in QP".into());
                }
            }
            "7bit" if !line.is_ascii() => problems.push("8-bit octet in a 7bit part".into()),
            _ => {}
        }
    }
    problems
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// True when every occurrence of boundary `b` is in a `boundary=`
/// parameter or on a delimiter line (never inside content).
fn occurs_only_as_boundary(hay: &[u8], b: &[u8]) -> bool {
    let mut pos = 0;
    while let Some(off) = find(&hay[pos..], b) {
        let before = &hay[..pos + off];
        let ok = before.ends_with(b"boundary=\"")
            || before.ends_with(b"boundary=")
            || before.ends_with(b"\n--");
        if !ok {
            return false;
        }
        pos += off + b.len();
    }
    true
}

/// Compares what the `mail-parser` crate reads with the expectation.
pub fn mail_parser_problems(bytes: &[u8], expect: &Value) -> Vec<String> {
    use mail_parser::{MessageParser, MimeHeaders};
    let mut problems = Vec::new();
    let Some(msg) = MessageParser::default().parse(bytes) else {
        return vec!["mail-parser could not parse the message".into()];
    };
    let mut check = |field: &str, got: Value, want: &Value| {
        if &got != want {
            problems.push(format!("{field}: expected {want} got {got}"));
        }
    };
    check("subject", json!(msg.subject()), &expect["subject"]);
    let addrs = |a: Option<&mail_parser::Address>| -> Value {
        Value::Array(
            a.map(|a| {
                a.iter()
                    .map(|x| json!({"name": x.name().unwrap_or(""), "address": x.address().unwrap_or("")}))
                    .collect()
            })
            .unwrap_or_default(),
        )
    };
    check("from", addrs(msg.from()), &expect["from"]);
    check("to", addrs(msg.to()), &expect["to"]);
    check("cc", addrs(msg.cc()), &expect["cc"]);
    check("reply_to", addrs(msg.reply_to()), &expect["reply_to"]);
    check("message_id", json!(msg.message_id()), &expect["message_id"]);
    let text = msg
        .text_bodies()
        .find(|p| p.is_text() && !p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(lf);
    if !expect["text"].is_null() {
        check("text", json!(text), &expect["text"]);
    }
    let html = msg
        .html_bodies()
        .find(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(lf);
    check("html", json!(html), &expect["html"]);
    let mut got: Vec<Value> = msg
        .attachments()
        .map(|p| {
            let ct = p.content_type().map(|c| {
                format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_ascii_lowercase()
            });
            // mail-parser hands text parts over as UTF-8: put them back
            // into their charset to compare bytes.
            let charset = p.content_type().and_then(|c| c.attribute("charset"));
            let data: Vec<u8> = match (p.text_contents(), charset) {
                (Some(text), Some(label)) => encoding_rs::Encoding::for_label(label.as_bytes())
                    .map_or_else(|| p.contents().to_vec(), |e| e.encode(text).0.into_owned()),
                _ => p.contents().to_vec(),
            };
            let data = &data[..];
            json!({
                "filename": p.attachment_name(),
                "content_type": ct,
                "content_id": p.content_id(),
                "sha256": sha256_hex(data),
                "size": data.len(),
            })
        })
        .collect();
    let mut want: Vec<Value> = expect["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut v| {
            v.as_object_mut().map(|o| o.remove("inline"));
            v
        })
        .collect();
    let key = |v: &Value| {
        v["sha256"].as_str().unwrap_or("").to_string() + v["filename"].as_str().unwrap_or("")
    };
    got.sort_by_key(key);
    want.sort_by_key(key);
    check("attachments", Value::Array(got), &Value::Array(want));
    if let Some(headers) = expect["headers"].as_object() {
        for (name, value) in headers {
            let got = msg
                .header_as(name.as_str(), mail_parser::HeaderForm::Text)
                .first()
                .and_then(|h| h.as_text())
                .map(str::to_owned);
            check(&format!("header {name}"), json!(got), value);
        }
    }
    problems
}
