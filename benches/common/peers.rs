//! One workload [`Input`] composed by each library, and a check that each
//! output is a complete message holding every input.
//!
//! Each library gets its inputs the way its API takes them: mimeograph and
//! lettre take ownership (`String`, `Vec<u8>`), so they are handed an owned
//! copy made beforehand (outside any measurement, as a caller that owns its
//! data would move it in); mail-builder borrows. Each library adds its own
//! Date and Message-ID, chooses its own transfer encodings and boundaries,
//! and writes the whole message into a `Vec<u8>`.

#![allow(dead_code)]

use super::workloads::{Data, Input};

/// The libraries measured (mimeograph twice: whole and streamed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lib {
    /// `Message::to_bytes`.
    Mimeograph,
    /// `Message::into_stream`, chunks pulled and dropped (the SMTP path).
    MimeographStream,
    MailBuilder,
    Lettre,
}

impl Lib {
    pub const ALL: [Lib; 4] = [
        Lib::Mimeograph,
        Lib::MimeographStream,
        Lib::MailBuilder,
        Lib::Lettre,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Lib::Mimeograph => "mimeograph",
            Lib::MimeographStream => "mimeograph-stream",
            Lib::MailBuilder => "mail-builder",
            Lib::Lettre => "lettre",
        }
    }

    /// Whether the library takes its inputs by value.
    pub fn owns_input(self) -> bool {
        !matches!(self, Lib::MailBuilder)
    }
}

/// Composes `input` with `lib`; `owned` is the library's own copy, required
/// when it takes ownership (see [`Lib::owns_input`]) and borrowed by
/// mail-builder when given. Returns the output length.
pub fn compose_len(lib: Lib, input: &Input, owned: Option<Input>) -> usize {
    match lib {
        Lib::Mimeograph => mimeograph(owned.expect("owned input")).len(),
        Lib::MimeographStream => mimeograph_stream(owned.expect("owned input"), |_| {}),
        // (A copy of its own when given: see benches/compose.rs `owned`.)
        Lib::MailBuilder => mail_builder(owned.as_ref().unwrap_or(input)).len(),
        Lib::Lettre => lettre(owned.expect("owned input")).len(),
    }
}

/// Composes `input` with `lib` into bytes (the streamed variant collects
/// its chunks).
pub fn compose(lib: Lib, input: &Input) -> Vec<u8> {
    match lib {
        Lib::Mimeograph => mimeograph(input.clone()),
        Lib::MimeographStream => {
            let mut out = Vec::new();
            mimeograph_stream(input.clone(), |chunk| out.extend_from_slice(chunk));
            out
        }
        Lib::MailBuilder => mail_builder(input),
        Lib::Lettre => lettre(input.clone()),
    }
}

fn mimeograph_message(input: Input) -> mimeograph::mime::Message {
    use mimeograph::address::Mailbox;
    use mimeograph::mime::{Attachment, Message};
    let mailbox = |(name, addr): (&str, &str)| Mailbox::new(Some(name), addr).expect("mailbox");
    let mut builder = Message::builder()
        .from(mailbox(input.from))
        .to(mailbox(input.to))
        .subject(input.subject)
        .text(input.text);
    if let Some(html) = input.html {
        builder = builder.html(html);
    }
    for a in input.attachments {
        let part = match a.data {
            Data::Binary(bytes) => Attachment::bytes(bytes),
            Data::Text(text) => Attachment::text(text),
        };
        builder = builder.attach(part.filename(a.filename).content_type(a.content_type));
    }
    builder.build().expect("mimeograph build")
}

pub fn mimeograph(input: Input) -> Vec<u8> {
    mimeograph_message(input)
        .to_bytes()
        .expect("mimeograph to_bytes")
}

/// Streams the message as the SMTP engine does; returns its length.
pub fn mimeograph_stream(input: Input, mut sink: impl FnMut(&[u8])) -> usize {
    let message = mimeograph_message(input);
    let opts = message.default_options();
    let mut stream = message.into_stream();
    stream.start(opts).expect("mimeograph start");
    let mut len = 0;
    while let Some(chunk) = stream.next_chunk().expect("mimeograph chunk") {
        len += chunk.len();
        sink(chunk);
    }
    len
}

pub fn mail_builder(input: &Input) -> Vec<u8> {
    use mail_builder::MessageBuilder;
    let mut builder = MessageBuilder::new()
        .from(input.from)
        .to(input.to)
        .subject(input.subject.as_str())
        .text_body(input.text.as_str());
    if let Some(html) = &input.html {
        builder = builder.html_body(html.as_str());
    }
    for a in &input.attachments {
        builder = match &a.data {
            Data::Binary(bytes) => builder.attachment(a.content_type, a.filename, bytes.as_slice()),
            Data::Text(text) => builder.attachment(a.content_type, a.filename, text.as_str()),
        };
    }
    builder.write_to_vec().expect("mail-builder write")
}

pub fn lettre(input: Input) -> Vec<u8> {
    use lettre::message::header::ContentType;
    use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
    use lettre::Message;
    let mailbox = |(name, addr): (&str, &str)| {
        Mailbox::new(Some(name.to_owned()), addr.parse().expect("lettre address"))
    };
    let builder = Message::builder()
        .from(mailbox(input.from))
        .to(mailbox(input.to))
        .subject(input.subject)
        .message_id(None);
    let body = match input.html {
        Some(html) => MultiPart::alternative_plain_html(input.text, html),
        None => {
            assert!(input.attachments.is_empty());
            let message = builder
                .singlepart(SinglePart::plain(input.text))
                .expect("lettre build");
            return message.formatted();
        }
    };
    let message = if input.attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in input.attachments {
            let content_type = ContentType::parse(a.content_type).expect("lettre content type");
            let attachment = Attachment::new(a.filename.to_owned());
            mixed = mixed.singlepart(match a.data {
                Data::Binary(bytes) => attachment.body(bytes, content_type),
                Data::Text(text) => attachment.body(text, content_type),
            });
        }
        builder.multipart(mixed)
    };
    message.expect("lettre build").formatted()
}

/// Parses `out` with mail-parser and checks that it holds every header and
/// body of `input`. Line ends are compared after CRLF → LF, and a body's
/// final line break may differ (libraries disagree on whether the one
/// before a boundary belongs to the body).
pub fn verify(lib: Lib, input: &Input, out: &[u8]) -> Result<(), String> {
    use mail_parser::{MessageParser, MimeHeaders};
    let fail = |what: String| Err(format!("{}: {what}", lib.name()));
    let bare = (0..out.len()).any(|i| match out[i] {
        b'\n' => i == 0 || out[i - 1] != b'\r',
        b'\r' => out.get(i + 1) != Some(&b'\n'),
        _ => false,
    });
    if bare {
        return fail("bare CR or LF in the output".into());
    }
    if let Some(line) = out.split(|&b| b == b'\n').find(|l| l.len() > 999) {
        return fail(format!("a line of {} octets", line.len()));
    }
    let Some(msg) = MessageParser::default().parse(out) else {
        return fail("mail-parser cannot parse the output".into());
    };
    let mailbox = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first()).map(|m| {
            (
                m.name().unwrap_or("").to_owned(),
                m.address().unwrap_or("").to_owned(),
            )
        })
    };
    let want = |(n, a): (&str, &str)| Some((n.to_owned(), a.to_owned()));
    if mailbox(msg.from()) != want(input.from) {
        return fail(format!("From {:?}", mailbox(msg.from())));
    }
    if mailbox(msg.to()) != want(input.to) {
        return fail(format!("To {:?}", mailbox(msg.to())));
    }
    if msg.subject() != Some(input.subject.as_str()) {
        return fail(format!("Subject {:?}", msg.subject()));
    }
    if msg.date().is_none() {
        return fail("no Date".into());
    }
    if msg.message_id().is_none_or(str::is_empty) {
        return fail("no Message-ID".into());
    }
    if msg.header("MIME-Version").is_none() {
        return fail("no MIME-Version".into());
    }
    let same = |got: &str, want: &str| {
        let got = got.replace("\r\n", "\n");
        got.trim_end_matches('\n') == want.trim_end_matches('\n')
    };
    match msg.body_text(0) {
        Some(text) if same(&text, &input.text) => {}
        other => return fail(format!("text body differs: {:?}", other.map(|t| t.len()))),
    }
    if let Some(html) = &input.html {
        match msg.body_html(0) {
            Some(got) if same(&got, html) => {}
            other => return fail(format!("HTML body differs: {:?}", other.map(|t| t.len()))),
        }
    }
    if msg.attachment_count() != input.attachments.len() {
        return fail(format!("{} attachments", msg.attachment_count()));
    }
    for (i, want) in input.attachments.iter().enumerate() {
        let Some(got) = msg.attachment(i as u32) else {
            return fail(format!("attachment {i} missing"));
        };
        if got.attachment_name() != Some(want.filename) {
            return fail(format!("attachment {i} name {:?}", got.attachment_name()));
        }
        let ok = match &want.data {
            Data::Binary(bytes) => got.contents() == bytes.as_slice(),
            Data::Text(text) => same(&String::from_utf8_lossy(got.contents()), text),
        };
        if !ok {
            return fail(format!(
                "attachment {i} ({}) content differs",
                want.filename
            ));
        }
    }
    Ok(())
}
