//! Property tests: arbitrary subjects, display names, bodies, filenames and
//! attachment bytes must read back exactly with the `mail-parser` crate, and
//! every generated message must pass the structural checks. Plus: no input
//! to the builder's setters makes it panic.

mod common;

use common::{lf, structural_problems};
use mail_parser::{MessageParser, MimeHeaders};
use mimeograph::address::Mailbox;
use mimeograph::header::{DateTime, HeaderError};
use mimeograph::mime::{Attachment, ComposeError, Message, MessageBuilder};
use proptest::prelude::*;

/// Characters that break naive composers, mixed into arbitrary Unicode.
const NASTY: &[char] = &[
    ' ', ' ', ' ', '\t', '"', '\\', ',', ';', ':', '<', '>', '@', '(', ')', '[', ']', '=', '?',
    '_', '.', '\'', '%', '*', 'é', 'ß', '日', '本', 'ア', '😀', '🎉', '\u{200f}', '\u{202e}', 'ש',
    'ל', 'ם', 'ع', 'ر', 'ب', '\u{a0}', '\u{2028}', '\u{feff}', '\u{fffd}',
];

/// Any char except the C0/C1 controls and DEL (`char::is_control`).
fn printable_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>().prop_filter("no controls", |c| !c.is_control()),
        2 => proptest::sample::select(NASTY),
        2 => proptest::char::range('!', '~'),
    ]
}

fn printable(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(printable_char(), 0..max).prop_map(|v| v.into_iter().collect())
}

/// An empty file name, or one of whitespace only, which the builder
/// refuses (`ComposeError::InvalidFilename`).
fn is_blank(name: &str) -> bool {
    name.chars().all(char::is_whitespace)
}

/// Strings with `=?` look-alikes and whitespace runs at the edges.
fn tricky(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => printable(max),
        1 => (printable(max / 3), printable(max / 3), "[ \t]{0,4}", "[ \t]{0,4}")
            .prop_map(|(a, b, l, t)| format!("{l}{a}=?utf-8?Q?{b}?={t}")),
        1 => (printable(max / 2), " {1,5}", " {1,5}").prop_map(|(a, l, t)| format!("{l}{a}{t}")),
    ]
}

/// Any string, controls included.
fn anything(max: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => any::<char>(),
        2 => proptest::sample::select(NASTY),
        1 => proptest::sample::select(&['\r', '\n', '\0', '\x07', '\x1b', '\x7f', '\u{85}'][..]),
        2 => proptest::char::range('!', '~'),
    ];
    prop::collection::vec(c, 0..max).prop_map(|v| v.into_iter().collect())
}

fn base() -> MessageBuilder {
    Message::builder()
        .deterministic(1)
        .from("sender@example.com")
        .to("rcpt@example.org")
}

/// Renders with the default options and checks the structure.
fn render(builder: MessageBuilder) -> Vec<u8> {
    let message = builder.build().expect("build");
    let bytes = message.to_bytes().expect("render");
    let problems = structural_problems(&bytes, message.default_options().utf8_headers);
    assert!(
        problems.is_empty(),
        "{problems:?}\n{}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

fn parse(bytes: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(bytes)
        .expect("mail-parser parses it")
}

/// The one allowed difference: a single-part body is the whole rest of the
/// message, which ends with CRLF, so a 7bit or quoted-printable body that
/// does not end with a line break reads back with one (base64 bodies read
/// back exactly). In a multipart, the CRLF before the boundary belongs to
/// the boundary and there is no difference at all.
fn single_part_body_matches(got: &str, want: &str) -> bool {
    got == want || (!want.ends_with('\n') && got.strip_suffix('\n') == Some(want))
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn subjects_round_trip(subject in tricky(120)) {
        let bytes = render(base().subject(subject.clone()));
        let got = parse(&bytes).subject().map(str::to_owned);
        // An empty subject is written as `Subject: ` (mail-parser reads an
        // empty value as no value).
        let want = (!subject.is_empty()).then_some(subject);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn subjects_with_line_breaks_or_controls_are_errors(
        (before, after) in (printable(40), printable(40)),
        bad in proptest::sample::select(&['\r', '\n', '\0', '\x01', '\x1b', '\x7f', '\u{80}', '\u{9f}'][..]),
        crlf in any::<bool>(),
    ) {
        let subject = if crlf && bad == '\r' {
            format!("{before}\r\n{after}")
        } else {
            format!("{before}{bad}{after}")
        };
        let e = base().subject(subject).build().expect_err("must be refused");
        let ok = match (bad, &e) {
            ('\r' | '\n', ComposeError::Header(HeaderError::LineBreak { field })) => field == "subject",
            (_, ComposeError::Header(HeaderError::ControlCharacter { field })) => field == "subject",
            _ => false,
        };
        prop_assert!(ok, "{:?}", e);
    }

    #[test]
    fn display_names_round_trip(
        from_name in tricky(60),
        to_name in tricky(60),
        as_text in any::<bool>(),
    ) {
        let from = Mailbox::new(Some(&from_name), "ann@example.com").unwrap();
        let to = Mailbox::new(Some(&to_name), "bob@example.org").unwrap();
        let builder = Message::builder().deterministic(3);
        // Either as mailboxes, or as header text our own parser reads back.
        // `Mailbox`'s Display is not used for the text form: it writes
        // names with controls, non-space whitespace or `=?` as RFC 2047
        // encoded words, which the strict parser (for user input) takes
        // literally, so `Mailbox::parse(&m.to_string())` is not `m` for
        // those names.
        let quoted = |n: &str| format!("\"{}\"", n.replace('\\', "\\\\").replace('"', "\\\""));
        let builder = if as_text {
            builder
                .from(format!("{} <ann@example.com>", quoted(&from_name)))
                .to(format!("{} <bob@example.org>, carol@example.net", quoted(&to_name)))
        } else {
            builder.from(from).to(to).to("carol@example.net")
        };
        let bytes = render(builder);
        let msg = parse(&bytes);
        let name = |a: Option<&mail_parser::Address>, i: usize| {
            a.and_then(|a| a.iter().nth(i)).and_then(|x| x.name()).map(str::to_owned)
        };
        let addr = |a: Option<&mail_parser::Address>, i: usize| {
            a.and_then(|a| a.iter().nth(i)).and_then(|x| x.address()).map(str::to_owned)
        };
        let want = |n: &str| (!n.is_empty()).then(|| n.to_owned());
        prop_assert_eq!(name(msg.from(), 0), want(&from_name));
        prop_assert_eq!(addr(msg.from(), 0), Some("ann@example.com".to_owned()));
        prop_assert_eq!(name(msg.to(), 0), want(&to_name));
        prop_assert_eq!(addr(msg.to(), 0), Some("bob@example.org".to_owned()));
        prop_assert_eq!(addr(msg.to(), 1), Some("carol@example.net".to_owned()));
        prop_assert_eq!(msg.to().map(|a| a.iter().count()), Some(2));
    }

    #[test]
    fn text_bodies_round_trip(body in anything(400)) {
        let bytes = render(base().text(body.clone()));
        let got = parse(&bytes).body_text(0).map(|t| lf(&t)).unwrap_or_default();
        prop_assert!(single_part_body_matches(&got, &lf(&body)), "{:?} vs {:?}", got, body);
    }

    #[test]
    fn text_and_html_bodies_round_trip(text in anything(300), html in anything(300)) {
        let bytes = render(base().text(text.clone()).html(html.clone()));
        let msg = parse(&bytes);
        let got_text = msg
            .text_bodies()
            .find(|p| !p.is_text_html())
            .and_then(|p| p.text_contents())
            .map(lf);
        let got_html = msg
            .html_bodies()
            .find(|p| p.is_text_html())
            .and_then(|p| p.text_contents())
            .map(lf);
        // In a multipart the CRLF before a boundary belongs to the boundary:
        // no difference at all.
        prop_assert_eq!(got_text.unwrap_or_default(), lf(&text));
        prop_assert_eq!(got_html.unwrap_or_default(), lf(&html));
    }

    #[test]
    fn html_only_bodies_round_trip(html in anything(400)) {
        let bytes = render(base().html(html.clone()));
        let got = parse(&bytes).body_html(0).map(|t| lf(&t)).unwrap_or_default();
        prop_assert!(single_part_body_matches(&got, &lf(&html)), "{:?} vs {:?}", got, html);
    }

    #[test]
    fn attachment_filenames_round_trip(
        name in prop_oneof![
            3 => tricky(80),
            1 => printable(400),
        ].prop_filter("not blank", |n| !is_blank(n)),
        inline in any::<bool>(),
    ) {
        let part = Attachment::bytes(b"hello".to_vec())
            .filename(name.clone())
            .content_type("application/octet-stream")
            .inline(inline);
        let bytes = render(base().text("see attachment\n").attach(part));
        let msg = parse(&bytes);
        let att = msg.attachments().next().expect("one attachment");
        prop_assert_eq!(att.attachment_name(), Some(name.as_str()));
        prop_assert_eq!(att.contents(), b"hello");
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn attachment_bytes_round_trip(
        data in prop_oneof![
            2 => prop::collection::vec(any::<u8>(), 0..2_000),
            1 => prop::collection::vec(any::<u8>(), 0..100_000),
            1 => prop::collection::vec(proptest::sample::select(&b"\r\n.-a =\0"[..]), 0..5_000),
        ],
        filename in printable(30).prop_filter("not blank", |n| !is_blank(n)),
    ) {
        let part = Attachment::bytes(data.clone())
            .filename(filename.clone())
            .content_type("application/octet-stream");
        let bytes = render(base().text("x\n").attach(part));
        let msg = parse(&bytes);
        let att = msg.attachments().next().expect("one attachment");
        prop_assert_eq!(att.attachment_name(), Some(filename.as_str()));
        prop_assert!(att.contents() == &data[..], "{} bytes differ", data.len());
    }
}

/// One arbitrary input to a builder setter.
#[derive(Clone, Debug)]
enum Input {
    From(String),
    To(String),
    Cc(String),
    Bcc(String),
    Sender(String),
    ReplyTo(String),
    Subject(String),
    Text(String),
    Html(String),
    Header(String, String),
    Charset(String),
    MessageId(String),
    InReplyTo(String),
    References(String),
    Date(i64, i16),
    Part {
        filename: Option<String>,
        content_type: Option<String>,
        content_id: Option<String>,
        charset: Option<String>,
        header: Option<(String, String)>,
        text: Option<String>,
        place: u8,
    },
}

fn address_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => anything(40),
        2 => (anything(12), anything(10), anything(10))
            .prop_map(|(n, l, d)| format!("{n} <{l}@{d}.com>")),
        1 => Just("a@example.com".to_owned()),
        1 => Just("\"a@b.com\"@evil.com, team: x@y.org, \"Q\\\" R\" <q@r.net>;".to_owned()),
        1 => Just("undisclosed-recipients:;".to_owned()),
    ]
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => anything(12),
        3 => proptest::sample::select(
            &["utf-8", "latin1", "iso-2022-jp", "shift_jis", "gb18030", "koi8-r",
              "utf-16", "replacement", "x-user-defined", " UTF8 ", "euc-kr"][..]
        ).prop_map(str::to_owned),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    let s = || anything(60);
    let part = (
        prop::option::of(s()),
        prop::option::of(prop_oneof![
            s(),
            Just("text/plain".to_owned()),
            Just("message/rfc822".to_owned())
        ]),
        prop::option::of(s()),
        prop::option::of(label()),
        prop::option::of((s(), s())),
        prop::option::of(anything(200)),
        0u8..3,
    )
        .prop_map(
            |(filename, content_type, content_id, charset, header, text, place)| Input::Part {
                filename,
                content_type,
                content_id,
                charset,
                header,
                text,
                place,
            },
        );
    prop_oneof![
        address_text().prop_map(Input::From),
        address_text().prop_map(Input::To),
        address_text().prop_map(Input::Cc),
        address_text().prop_map(Input::Bcc),
        address_text().prop_map(Input::Sender),
        address_text().prop_map(Input::ReplyTo),
        s().prop_map(Input::Subject),
        anything(200).prop_map(Input::Text),
        anything(200).prop_map(Input::Html),
        (
            prop_oneof![s(), Just("X-Test".to_owned()), Just("Bcc".to_owned())],
            s()
        )
            .prop_map(|(n, v)| Input::Header(n, v)),
        label().prop_map(Input::Charset),
        s().prop_map(Input::MessageId),
        s().prop_map(Input::InReplyTo),
        s().prop_map(Input::References),
        (any::<i64>(), any::<i16>()).prop_map(|(t, o)| Input::Date(t, o)),
        part,
    ]
}

fn apply(b: MessageBuilder, input: Input) -> MessageBuilder {
    match input {
        Input::From(s) => b.from(s),
        Input::To(s) => b.to(s),
        Input::Cc(s) => b.cc(s),
        Input::Bcc(s) => b.bcc(s),
        Input::Sender(s) => b.sender(s),
        Input::ReplyTo(s) => b.reply_to(s),
        Input::Subject(s) => b.subject(s),
        Input::Text(s) => b.text(s),
        Input::Html(s) => b.html(s),
        Input::Header(n, v) => b.header(n, v),
        Input::Charset(s) => b.charset(s),
        Input::MessageId(s) => b.message_id(s),
        Input::InReplyTo(s) => b.in_reply_to(s),
        Input::References(s) => b.references(s),
        Input::Date(t, o) => b.date(DateTime::from_unix(t).with_offset_minutes(o)),
        Input::Part {
            filename,
            content_type,
            content_id,
            charset,
            header,
            text,
            place,
        } => {
            let mut a = match text {
                Some(t) => Attachment::text(t),
                None => Attachment::bytes(b"\x00\xffdata".to_vec()),
            };
            if let Some(f) = filename {
                a = a.filename(f);
            }
            if let Some(t) = content_type {
                a = a.content_type(t);
            }
            if let Some(c) = content_id {
                a = a.content_id(c);
            }
            if let Some(c) = charset {
                a = a.charset(c);
            }
            if let Some((n, v)) = header {
                a = a.header(n, v);
            }
            match place {
                0 => b.attach(a),
                1 => b.inline(a),
                _ => b.alternative(a),
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn no_input_panics(
        inputs in prop::collection::vec(input(), 0..8),
        valid_base in any::<bool>(),
    ) {
        let mut b = if valid_base { base() } else { Message::builder().deterministic(5) };
        let _ = b.check_validity();
        for i in inputs {
            b = apply(b, i);
        }
        let _ = b.check_validity();
        if let Ok(message) = b.build() {
            // Rendering may still fail (e.g. a header that cannot be
            // folded), but must not panic; when it works the output is sound.
            if let Ok(bytes) = message.to_bytes() {
                let utf8 = message.default_options().utf8_headers;
                let problems = structural_problems(&bytes, utf8);
                prop_assert!(problems.is_empty(), "{:?}\n{}", problems, String::from_utf8_lossy(&bytes));
                prop_assert_eq!(message.encoded_len(message.default_options()), Some(bytes.len() as u64));
                prop_assert!(MessageParser::default().parse(&bytes[..]).is_some());
            }
        }
    }
}

/// Found by `attachment_filenames_round_trip`: filenames that are encoded
/// words read back as their decoded text when written quoted.
#[test]
fn word_like_filenames_round_trip() {
    for name in [
        "=?utf-8?Q??=",
        "=?utf-8?Q?abc?=",
        "=?iso-8859-1?B?QQ==?=.pdf",
    ] {
        let part = Attachment::bytes(b"hello".to_vec()).filename(name);
        let bytes = render(base().text("see attachment\n").attach(part));
        let msg = parse(&bytes);
        let att = msg.attachments().next().expect("one attachment");
        assert_eq!(att.attachment_name(), Some(name));
    }
}
