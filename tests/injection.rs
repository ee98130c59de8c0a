//! Header and envelope injection attempts against the composer. Each one
//! must be refused with a specific, typed error, so that nothing is built
//! (and so nothing can be written or sent).

mod common;

use common::structural_problems;
use mimeograph::address::{AddressError, Mailbox};
use mimeograph::encoding::EncodingError;
use mimeograph::header::HeaderError;
use mimeograph::mime::{Attachment, ComposeError, Message, MessageBuilder};

/// A builder that would build fine: one From, one To.
fn base() -> MessageBuilder {
    Message::builder()
        .deterministic(7)
        .from("Ann <ann@example.com>")
        .to("bob@example.org")
}

/// Builds, expecting an error; panics with the bytes if something was built.
fn refused(builder: MessageBuilder) -> ComposeError {
    match builder.build() {
        Ok(message) => panic!(
            "built a message that should have been refused:\n{}",
            String::from_utf8_lossy(&message.to_bytes().unwrap_or_default())
        ),
        Err(e) => e,
    }
}

macro_rules! assert_refused {
    ($builder:expr, $pattern:pat $(if $guard:expr)?) => {{
        let e = refused($builder);
        assert!(
            matches!(&e, $pattern $(if $guard)?),
            "wrong error: {e:?} ({e})"
        );
    }};
}

fn line_break(e: &ComposeError, want: &str) -> bool {
    matches!(e, ComposeError::Header(HeaderError::LineBreak { field }) if field == want)
}

fn bad_char(e: &ComposeError, want_field: &str, want: char) -> bool {
    matches!(
        e,
        ComposeError::Address { field, source: AddressError::InvalidCharacter { character, .. } }
            if field == want_field && *character == want
    )
}

#[test]
fn subject_with_crlf_cr_or_lf() {
    for subject in [
        "Hi\r\nBcc: victim@example.net",
        "Hi\nBcc: victim@example.net",
        "Hi\rBcc: victim@example.net",
        "\r\n",
        "trailing\r\n",
        "folded\r\n continuation",
    ] {
        let e = refused(base().subject(subject));
        assert!(line_break(&e, "subject"), "{subject:?}: {e:?}");
    }
}

#[test]
fn subject_with_nul_or_controls() {
    for subject in [
        "nul\0byte",
        "bell\x07",
        "esc\x1b[31m",
        "del\x7f",
        "c1\u{85}",
    ] {
        let e = refused(base().subject(subject));
        assert!(
            matches!(&e, ComposeError::Header(HeaderError::ControlCharacter { field }) if field == "subject"),
            "{subject:?}: {e:?}"
        );
    }
}

#[test]
fn display_name_with_line_break_in_text_input() {
    for (from, c) in [
        ("\"Ann\r\nBcc: victim@example.net\" <ann@example.com>", '\r'),
        ("\"Ann\nBcc: victim@example.net\" <ann@example.com>", '\n'),
        ("Ann\r\nBcc: victim@example.net <ann@example.com>", '\r'),
        ("\"Ann\0\" <ann@example.com>", '\0'),
    ] {
        let e = refused(Message::builder().from(from).to("bob@example.org"));
        assert!(bad_char(&e, "from[0]", c), "{from:?}: {e:?}");
    }
    // The same in To.
    let e = refused(base().to("\"Bob\r\nX-Evil: 1\" <bob@example.org>"));
    assert!(bad_char(&e, "to[1]", '\r'), "{e:?}");
}

#[test]
fn display_name_with_line_break_in_mailbox() {
    for (name, c) in [
        ("Ann\r\nBcc: victim@example.net", '\r'),
        ("Ann\nX: y", '\n'),
        ("Ann\rX: y", '\r'),
        ("Ann\0", '\0'),
    ] {
        assert_eq!(
            Mailbox::new(Some(name), "ann@example.com"),
            Err(AddressError::InvalidCharacter {
                input: name.into(),
                character: c
            })
        );
    }
}

#[test]
fn address_smuggling_smtp_commands() {
    for (to, c) in [
        ("a@b.com\r\nRCPT TO:<x@y.com>", '\r'),
        ("a@b.com\nRCPT TO:<x@y.com>", '\n'),
        ("a@b.com\rRCPT TO:<x@y.com>", '\r'),
        ("<a@b.com\r\nDATA>", '\r'),
        ("a@b.com\0", '\0'),
    ] {
        let e = refused(base().cc(to));
        assert!(bad_char(&e, "cc[0]", c), "{to:?}: {e:?}");
    }
    // Mailbox::new refuses the same without any header parsing.
    assert!(matches!(
        Mailbox::new(None, "a@b.com\r\nRCPT TO:<x@y.com>"),
        Err(AddressError::InvalidCharacter {
            character: '\r',
            ..
        })
    ));
}

#[test]
fn bcc_and_envelope_fields_with_line_breaks() {
    let e = refused(base().bcc("hidden@example.net\r\nRCPT TO:<x@y.com>"));
    assert!(bad_char(&e, "bcc[0]", '\r'), "{e:?}");
    let e = refused(base().reply_to("r@example.net\nX: y"));
    assert!(bad_char(&e, "reply-to[0]", '\n'), "{e:?}");
    let e = refused(base().sender("s@example.net\r\nX: y"));
    assert!(bad_char(&e, "sender", '\r'), "{e:?}");
    let e = refused(base().return_path("bounce@example.net\r\nRCPT TO:<x@y.com>"));
    assert!(bad_char(&e, "return-path", '\r'), "{e:?}");
}

#[test]
fn group_name_with_line_break() {
    let e = refused(base().to("team\r\nBcc: victim@example.net: a@example.com;"));
    assert!(
        matches!(&e, ComposeError::Address { field, .. } if field == "to[1]"),
        "{e:?}"
    );
    // A group member with a line break.
    let e = refused(base().to("team: a@example.com\r\nRCPT TO:<x@y.com>;"));
    assert!(bad_char(&e, "to[1]", '\r'), "{e:?}");
}

#[test]
fn angle_bracket_smuggling() {
    for input in [
        "<a@b.com>c@d.com",
        "a@b.com<c@d.com>",
        "<a@b.com>>",
        "<<a@b.com>",
        "x <a@b.com> <c@d.com>",
    ] {
        let e = refused(base().to(input));
        assert!(
            matches!(
                &e,
                ComposeError::Address {
                    field,
                    source: AddressError::InvalidCharacter { .. } | AddressError::Unparsable(_)
                } if field == "to[1]"
            ),
            "{input:?}: {e:?}"
        );
    }
    assert!(matches!(
        Mailbox::new(None, "<a@b.com>c@d.com"),
        Err(AddressError::InvalidCharacter { .. })
    ));
}

#[test]
fn quoted_local_part_never_becomes_the_inner_address() {
    // `"a@b.com"@evil.com` is a valid RFC 5321 address at evil.com, with a
    // quoted local part. Whatever the composer does with it, the envelope
    // must never carry a@b.com.
    match Message::builder()
        .from("ann@example.com")
        .to("\"a@b.com\"@evil.com")
        .build()
    {
        Ok(message) => {
            let to: Vec<&str> = message.envelope().to.iter().map(|a| a.utf8()).collect();
            assert_eq!(to, ["\"a@b.com\"@evil.com"]);
            let bytes = message.to_bytes().unwrap();
            assert!(structural_problems(&bytes, false).is_empty());
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains("To: \"a@b.com\"@evil.com\r\n"), "{text}");
        }
        Err(e) => assert!(
            matches!(&e, ComposeError::Address { field, .. } if field == "to[0]"),
            "{e:?}"
        ),
    }
}

#[test]
fn custom_header_name_with_line_break() {
    for name in [
        "X-A\r\nBcc",
        "X-A\nBcc",
        "X-A\r",
        "X-A\0",
        "X A",
        "X-A:",
        "",
    ] {
        let e = refused(base().header(name, "value"));
        assert!(
            matches!(&e, ComposeError::Header(HeaderError::InvalidName(n)) if n == name),
            "{name:?}: {e:?}"
        );
    }
}

#[test]
fn custom_header_value_with_line_break() {
    for value in ["v\r\nBcc: victim@example.net", "v\nX: y", "v\rX: y", "\r\n"] {
        let e = refused(base().header("X-Tag", value));
        assert!(line_break(&e, "X-Tag"), "{value:?}: {e:?}");
    }
    let e = refused(base().header("X-Tag", "v\0"));
    assert!(
        matches!(&e, ComposeError::Header(HeaderError::ControlCharacter { field }) if field == "X-Tag"),
        "{e:?}"
    );
}

#[test]
fn reserved_custom_headers() {
    for name in [
        "Bcc",
        "bcc",
        "BCC",
        "From",
        "To",
        "Subject",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
        "Return-Path",
    ] {
        let e = refused(base().header(name, "victim@example.net"));
        assert!(
            matches!(&e, ComposeError::Header(HeaderError::Reserved(n)) if n == name),
            "{name:?}: {e:?}"
        );
    }
}

#[test]
fn filename_with_line_break() {
    for name in [
        "a\r\n.pdf",
        "a.pdf\r\nContent-Type: text/html",
        "a\n",
        "a\r",
    ] {
        let e = refused(base().attach(Attachment::bytes(b"x".to_vec()).filename(name)));
        assert!(line_break(&e, "attachment[0].filename"), "{name:?}: {e:?}");
    }
    let e = refused(base().inline(Attachment::bytes(b"x".to_vec()).filename("a\0.gif")));
    assert!(
        matches!(&e, ComposeError::Header(HeaderError::ControlCharacter { field }) if field == "inline[0].filename"),
        "{e:?}"
    );
}

#[test]
fn content_id_with_line_break_or_brackets() {
    for cid in [
        "a@b\r\nBcc: x@y",
        "a@b\n",
        "a\rb",
        "<a@b>",
        "a@b>\r\nX: <y",
        "a b@c",
        "",
        "a\0@b",
    ] {
        let e = refused(base().inline(Attachment::bytes(b"x".to_vec()).content_id(cid)));
        assert!(
            matches!(&e, ComposeError::InvalidContentId { field, value } if field == "inline[0]" && value == cid),
            "{cid:?}: {e:?}"
        );
    }
}

#[test]
fn content_type_with_line_break() {
    for ct in [
        "text/plain\r\nBcc: victim@example.net",
        "text/html\n",
        "image/png\r",
        "text/plain; charset=\"x\r\nX: y\"",
        "text\0/plain",
    ] {
        let e = refused(base().attach(Attachment::bytes(b"x".to_vec()).content_type(ct)));
        assert!(
            matches!(&e, ComposeError::InvalidContentType { field, value } if field == "attachment[0]" && value == ct),
            "{ct:?}: {e:?}"
        );
    }
}

#[test]
fn charset_label_with_line_break() {
    let e = refused(
        base()
            .text("hi")
            .charset("utf-8\r\nBcc: victim@example.net"),
    );
    assert!(
        matches!(&e, ComposeError::Encoding { field, source: EncodingError::UnknownCharset(_) } if field == "charset"),
        "{e:?}"
    );
    let e = refused(base().attach(Attachment::text("hi").charset("latin1\nX: y")));
    assert!(
        matches!(&e, ComposeError::Encoding { field, source: EncodingError::UnknownCharset(_) } if field == "attachment[0].charset"),
        "{e:?}"
    );
    // Labels are WHATWG labels, which ignore surrounding ASCII whitespace
    // (CR and LF included); the label itself is never written, only the
    // charset's canonical name, so this cannot inject anything.
    let message = base().text("hi").charset("\r\nUTF8\r\n").build().unwrap();
    let bytes = message.to_bytes().unwrap();
    assert!(structural_problems(&bytes, false).is_empty());
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{text}"
    );
}

#[test]
fn message_ids_with_line_breaks() {
    for id in [
        "<a@b>\r\nBcc: x@y",
        "a@b\r\n",
        "a\r\n@b",
        "<a@b\n>",
        "a@b\0",
    ] {
        let e = refused(base().message_id(id));
        assert!(
            matches!(&e, ComposeError::HeaderField { field, source: HeaderError::InvalidMessageId(_) } if field == "message-id"),
            "message_id {id:?}: {e:?}"
        );
    }
    // In-Reply-To and References take several ids separated by spaces, but
    // a line break is never a separator.
    for id in ["<a@b>\r\n<c@d>", "a@b\r\nX-Evil:x@y", "<a@b>\n", "a@b\r"] {
        let e = refused(base().in_reply_to(id));
        assert!(line_break(&e, "in-reply-to"), "in_reply_to {id:?}: {e:?}");
        let e = refused(base().references(id));
        assert!(line_break(&e, "references"), "references {id:?}: {e:?}");
    }
    let e = refused(base().references("<a@b> <c\0@d>"));
    assert!(
        matches!(&e, ComposeError::Header(HeaderError::ControlCharacter { field }) if field == "references"),
        "{e:?}"
    );
}

#[test]
fn attachment_part_headers() {
    let e =
        refused(base().attach(
            Attachment::bytes(b"x".to_vec()).header("X-Part", "v\r\nContent-Type: text/html"),
        ));
    assert!(line_break(&e, "attachment[0].X-Part"), "{e:?}");
    let e = refused(base().attach(Attachment::bytes(b"x".to_vec()).header("X-Part\r\nBcc", "v")));
    assert!(
        matches!(&e, ComposeError::HeaderField { field, source: HeaderError::InvalidName(_) } if field == "attachment[0].headers"),
        "{e:?}"
    );
    let e = refused(
        base().attach(Attachment::bytes(b"x".to_vec()).header("Content-Disposition", "inline")),
    );
    assert!(
        matches!(&e, ComposeError::HeaderField { field, source: HeaderError::Reserved(_) } if field == "attachment[0].headers"),
        "{e:?}"
    );
    // Calendar method parameter.
    let e = refused(base().alternative(Attachment::calendar(
        "BEGIN:VCALENDAR\nEND:VCALENDAR\n",
        "REQUEST\r\nBcc: x@y",
    )));
    assert!(line_break(&e, "alternative[0].method"), "{e:?}");
    // Related parts of a part.
    let e = refused(
        base().alternative(
            Attachment::text("<p>x</p>")
                .content_type("text/html")
                .related([Attachment::bytes(b"x".to_vec()).filename("a\r\nb.gif")]),
        ),
    );
    assert!(
        line_break(&e, "alternative[0].related[0].filename"),
        "{e:?}"
    );
}

#[test]
fn nul_bytes_in_headers_and_addresses() {
    let e = refused(base().subject("a\0b"));
    assert!(matches!(
        &e,
        ComposeError::Header(HeaderError::ControlCharacter { .. })
    ));
    let e = refused(
        Message::builder()
            .from("ann\0@example.com")
            .to("b@example.org"),
    );
    assert!(bad_char(&e, "from[0]", '\0'), "{e:?}");
    let e = refused(base().to("bob@exa\0mple.org"));
    assert!(
        matches!(&e, ComposeError::Address { field, .. } if field == "to[1]"),
        "{e:?}"
    );
}

#[test]
fn several_from_need_a_sender() {
    let e = refused(
        Message::builder()
            .from("a@example.com, b@example.com")
            .to("c@example.org"),
    );
    assert!(matches!(e, ComposeError::SenderRequired), "{e:?}");
    let e = refused(
        Message::builder()
            .from("a@example.com")
            .from("b@example.com")
            .to("c@example.org"),
    );
    assert!(matches!(e, ComposeError::SenderRequired), "{e:?}");
    // Sender must be a single mailbox.
    let e = refused(
        Message::builder()
            .from("a@example.com, b@example.com")
            .sender("a@example.com, b@example.com")
            .to("c@example.org"),
    );
    assert!(
        matches!(&e, ComposeError::Address { field, source: AddressError::NotSingleMailbox(_) } if field == "sender"),
        "{e:?}"
    );
    // With a Sender it builds.
    Message::builder()
        .from("a@example.com, b@example.com")
        .sender("a@example.com")
        .to("c@example.org")
        .build()
        .unwrap();
}

#[test]
fn check_validity() {
    let b = Message::builder().to("b@example.org");
    assert!(matches!(b.check_validity(), Err(ComposeError::MissingFrom)));
    assert_refused!(b, ComposeError::MissingFrom);

    let b = Message::builder().from("a@example.com");
    assert!(matches!(
        b.check_validity(),
        Err(ComposeError::NoRecipients)
    ));
    assert_refused!(b, ComposeError::NoRecipients);

    // An empty group is no recipient.
    let b = Message::builder()
        .from("a@example.com")
        .to("undisclosed-recipients:;");
    assert!(matches!(
        b.check_validity(),
        Err(ComposeError::NoRecipients)
    ));
    assert_refused!(b, ComposeError::NoRecipients);

    let b = Message::builder()
        .from("a@example.com")
        .to("b@example.org\r\nRCPT TO:<c@d.com>");
    assert!(
        matches!(b.check_validity(), Err(ComposeError::Address { ref field, .. }) if field == "to[0]")
    );

    let b = Message::builder()
        .from("a@example.com")
        .bcc("b@example.org");
    assert!(b.check_validity().is_ok());
}

#[test]
fn smtp_terminator_in_body_is_plain_content() {
    // Dot-stuffing is the SMTP engine's job; the composer must only keep
    // the body well-formed: CRLF line ends everywhere, lines ≤ 998 octets.
    let body = "a\r\n.\r\nMAIL FROM:<x@y.com>\r\n.\n.\r..\r\n.\r\n\r\n.\r\nQUIT\r\n.".to_owned()
        + &".".repeat(3000)
        + "\n.";
    for (html, message) in [
        (false, base().text(body.clone()).build().unwrap()),
        (true, base().html(body.clone()).build().unwrap()),
        (
            false,
            base()
                .text(body.clone())
                .attach(Attachment::text(body.clone()))
                .build()
                .unwrap(),
        ),
    ] {
        let bytes = message.to_bytes().unwrap();
        let problems = structural_problems(&bytes, false);
        assert!(problems.is_empty(), "{problems:?}");
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\r' {
                assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
            }
            if b == b'\n' {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
            }
        }
        assert!(bytes.split(|&b| b == b'\n').all(|l| l.len() <= 999));
        let parsed = mail_parser::MessageParser::default()
            .parse(&bytes[..])
            .unwrap();
        let text = if html {
            parsed.body_html(0).unwrap()
        } else {
            parsed.body_text(0).unwrap()
        };
        assert_eq!(
            common::lf(&text).trim_end_matches('\n'),
            common::lf(&body).trim_end_matches('\n')
        );
    }
}
