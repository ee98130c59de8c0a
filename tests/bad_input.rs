//! Bad input at every public Rust entry point: empty values, CR, LF, CRLF,
//! NUL and other controls, overlong values, non-UTF-8 bytes, missing or
//! unreadable files, readers that fail midway, huge attachments. Each must
//! give a typed error whose message names the field (`subject`, `to[3]`,
//! `attachment[1].filename`, `host`, ...), is bounded and holds no raw CR
//! or LF (it may end up in a log) — and never a panic.
//!
//! The cases are one table: adding an entry point is one line in
//! `cases()`. Every case runs under `catch_unwind`, and every failure is
//! listed at the end, not only the first.

mod native_support;

use std::fmt::{Debug, Display};
use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use mimeograph::address::{parse_address_list, AddressList, Mailbox};
use mimeograph::encoding::TransferEncoding;
use mimeograph::envelope::{Envelope, EnvelopeAddress, RenderOptions};
use mimeograph::header::{check_value, parse_message_id, DateTime, HeaderName};
use mimeograph::mime::{Attachment, Message, MessageBuilder};
use mimeograph::native::{NativeError, Options, Pool, SmtpClient};
use mimeograph::smtp::{
    transaction, Capabilities, Client, Config, Credentials, Event, Mechanism, RawMessage, SmtpError,
};

// ----- the table -----

/// One call with bad input, and the field its error must name.
struct Case {
    what: String,
    field: String,
    run: Box<dyn FnOnce() -> Result<(), Shown>>,
}

/// An error as the tests see it: its `Display` and its `Debug`.
struct Shown {
    display: String,
    debug: String,
}

fn shown<E: Display + Debug>(e: E) -> Shown {
    Shown {
        display: e.to_string(),
        debug: format!("{e:?}"),
    }
}

/// The longest error message accepted (a 1 MB input must not make a 1 MB
/// message).
const MAX_MESSAGE: usize = 600;

struct Table(Vec<Case>);

impl Table {
    /// A case: `run` must fail with an error naming `field`.
    fn add<E: Display + Debug>(
        &mut self,
        what: impl Into<String>,
        field: impl Into<String>,
        run: impl FnOnce() -> Result<(), E> + 'static,
    ) {
        self.0.push(Case {
            what: what.into(),
            field: field.into(),
            run: Box::new(move || run().map_err(shown)),
        });
    }

    /// A builder case: building (or, for errors found while reading a
    /// file or stream, writing) must fail.
    fn build(
        &mut self,
        what: impl Into<String>,
        field: impl Into<String>,
        builder: impl FnOnce() -> MessageBuilder + 'static,
    ) {
        self.add(what, field, move || {
            let message = builder().build()?;
            message.write_to(io::sink())
        });
    }

    /// Runs every case; returns one line per failure.
    fn run(self) -> Vec<String> {
        let mut failures = Vec::new();
        let total = self.0.len();
        for case in self.0 {
            let Case { what, field, run } = case;
            match catch_unwind(AssertUnwindSafe(run)) {
                Err(p) => failures.push(format!("{what}: PANICKED: {}", panic_text(&p))),
                Ok(Ok(())) => failures.push(format!(
                    "{what}: accepted, expected an error naming {field:?}"
                )),
                Ok(Err(e)) => {
                    if !e.display.contains(&field) {
                        failures.push(format!(
                            "{what}: the message does not name {field:?}: {}",
                            e.display
                        ));
                    }
                    if e.display.contains(['\r', '\n']) {
                        failures.push(format!("{what}: raw CR/LF in the message: {:?}", e.display));
                    }
                    if e.display.len() > MAX_MESSAGE {
                        failures.push(format!(
                            "{what}: message of {} bytes: {:?}…",
                            e.display.len(),
                            e.display.chars().take(120).collect::<String>()
                        ));
                    }
                    assert!(!e.debug.is_empty());
                }
            }
        }
        eprintln!("bad_input: {total} cases, {} failures", failures.len());
        failures
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".into())
}

// ----- values -----

/// Text that may not stand in a header value.
fn bad_text() -> Vec<(&'static str, String)> {
    vec![
        ("CR", "a\rb".into()),
        ("LF", "a\nb".into()),
        (
            "CRLF header injection",
            "a\r\nBcc: victim@example.net".into(),
        ),
        ("NUL", "a\0b".into()),
        ("BEL", "a\x07b".into()),
        ("ESC", "\x1b[31mred".into()),
        ("DEL", "a\x7fb".into()),
        ("NEL (C1 control)", "a\u{85}b".into()),
        ("1 MB", "x ".repeat(512 * 1024)),
    ]
}

/// Addresses (as header text) that must be refused.
fn bad_addresses() -> Vec<(&'static str, String)> {
    vec![
        ("CR", "b@example.org\rRCPT TO:<x@evil.example>".into()),
        ("LF", "b@example.org\nRCPT TO:<x@evil.example>".into()),
        (
            "CRLF SMTP injection",
            "b@example.org\r\nRCPT TO:<x@evil.example>".into(),
        ),
        (
            "CRLF in a display name",
            "\"Bob\r\nBcc: x@evil.example\" <b@example.org>".into(),
        ),
        ("NUL", "b@exa\0mple.org".into()),
        ("BEL", "b\x07@example.org".into()),
        ("DEL", "b\x7f@example.org".into()),
        ("NEL (C1 control)", "b@example.org\u{85}".into()),
        ("angle smuggling", "<b@example.org>x@evil.example".into()),
        ("nested angle", "<<b@example.org>>".into()),
        ("no @", "nobody".into()),
        ("empty local part", "@example.org".into()),
        ("bad domain", "b@-example-.org".into()),
        ("space in domain", "b@exa mple.org".into()),
        (
            "10k-character local part",
            format!("{}@example.org", "a".repeat(10_000)),
        ),
        ("1 MB domain", format!("b@{}.org", "d".repeat(1 << 20))),
        ("unclosed quote", "\"Bob <b@example.org>".into()),
        ("unclosed comment", "b@example.org (Bob".into()),
    ]
}

fn base() -> MessageBuilder {
    Message::builder()
        .deterministic(1)
        .from("Ann <ann@example.com>")
        .to("bob@example.org")
}

/// `base()` with one good attachment already, so that the bad one is
/// `attachment[1]`.
fn with_one() -> MessageBuilder {
    base().attach(Attachment::bytes(b"fine".to_vec()).filename("fine.txt"))
}

/// A reader that yields `good` bytes, then fails.
struct FailingReader {
    left: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("the disk went away"));
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(b'z');
        self.left -= n;
        Ok(n)
    }
}

fn temp_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mimeograph-bad-input-{}-{tag}", std::process::id()))
}

fn env_addr(s: &str) -> EnvelopeAddress {
    EnvelopeAddress::new(s, s.is_ascii().then(|| s.to_string()))
}

fn good_envelope() -> Envelope {
    Envelope {
        from: Some(env_addr("a@example.com")),
        to: vec![env_addr("b@example.org"), env_addr("c@example.org")],
    }
}

fn caps() -> Capabilities {
    Capabilities {
        pipelining: true,
        size: Some(0),
        ..Capabilities::default()
    }
}

/// An engine in the ready state (greeting and EHLO answered).
fn ready_client() -> Client {
    let mut c = Client::new(Config::default(), true, Duration::ZERO).unwrap();
    c.receive(b"220 test ESMTP\r\n", Duration::ZERO);
    while c.poll_transmit().is_some() {}
    c.receive(
        b"250-test\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n",
        Duration::ZERO,
    );
    while c.poll_transmit().is_some() {}
    let ready = std::iter::from_fn(|| c.poll_event()).any(|e| matches!(e, Event::Ready(_)));
    assert!(ready);
    c
}

/// Connects a native client with these options (no server is needed: the
/// options are refused before any connection is made).
fn native_connect(options: Options) -> Result<(), NativeError> {
    SmtpClient::new(options).connect().map(drop)
}

fn options() -> Options {
    let mut o = Options::new("127.0.0.1");
    o.port = Some(9); // discard: nothing listens; the options fail first
    o.timeout = Duration::from_secs(2);
    o
}

// ----- the cases -----

/// A change that makes [`options()`] invalid.
type OptionChange = fn(&mut Options);

fn cases() -> Table {
    let mut t = Table(Vec::new());

    // --- MessageBuilder: address fields ---
    for (what, v) in bad_addresses() {
        let w = v.clone();
        t.build(format!("from: {what}"), "from[0]", move || {
            Message::builder().from(w).to("bob@example.org")
        });
        let w = v.clone();
        t.build(format!("to: {what}"), "to[1]", move || base().to(w));
        let w = v.clone();
        t.build(format!("to, second entry: {what}"), "to[2]", move || {
            base().to(format!("carol@example.org, {w}"))
        });
        let w = v.clone();
        t.build(format!("cc: {what}"), "cc[0]", move || base().cc(w));
        let w = v.clone();
        t.build(format!("bcc: {what}"), "bcc[0]", move || base().bcc(w));
        let w = v.clone();
        t.build(format!("reply-to: {what}"), "reply-to[0]", move || {
            base().reply_to(w)
        });
        let w = v.clone();
        t.build(format!("sender: {what}"), "sender", move || {
            base().sender(w)
        });
        let w = v.clone();
        t.build(format!("return-path: {what}"), "return-path", move || {
            base().return_path(w)
        });
    }
    t.build("from: empty", "From", || {
        Message::builder().from("").to("b@example.org")
    });
    t.build("from: none", "From", || {
        Message::builder().to("b@example.org")
    });
    t.build("to: empty", "recipient", || {
        Message::builder().from("a@example.com").to("")
    });
    t.build("to: only an empty group", "recipient", || {
        Message::builder()
            .from("a@example.com")
            .to("undisclosed-recipients:;")
    });
    t.build("sender: two mailboxes", "sender", || {
        base().sender("a@example.com, b@example.com")
    });
    t.build("from: two mailboxes without a sender", "Sender", || {
        Message::builder()
            .from("a@example.com, b@example.com")
            .to("c@example.org")
    });
    t.build("to: bad entry among 100,000", "to[54322]", || {
        let mut list: Vec<String> = (0..100_000).map(|i| format!("u{i}@example.com")).collect();
        list[54321] = "bad\r\nRCPT TO:<x@evil.example>".into();
        base().to(list.join(", "))
    });
    t.build("to: 1 MB display name", "to[1]", || {
        base().to(format!("\"{}\" <b@example.org>", "n".repeat(1 << 20)))
    });
    t.build("to: 1 MB display name with spaces", "to[1]", || {
        base().to(format!("\"{}\" <b@example.org>", "n, ".repeat(1 << 18)))
    });

    // --- MessageBuilder: unstructured headers ---
    for (what, v) in bad_text() {
        let w = v.clone();
        t.build(format!("subject: {what}"), "subject", move || {
            base().subject(w)
        });
        let w = v.clone();
        t.build(
            format!("custom header value: {what}"),
            "X-Custom",
            move || base().header("X-Custom", w),
        );
        let w = v.clone();
        t.build(format!("in-reply-to: {what}"), "in-reply-to", move || {
            base().in_reply_to(format!("<a@b> {w}"))
        });
        let w = v.clone();
        t.build(format!("references: {what}"), "references", move || {
            base().references(format!("<a@b> {w}"))
        });
        let w = v.clone();
        t.build(format!("message-id: {what}"), "message-id", move || {
            base().message_id(format!("<a{w}@b>"))
        });
        let w = v.clone();
        t.build(format!("content-type: {what}"), "content-type", move || {
            base()
                .text("x")
                .text_content_type(format!("text/plain; charset={w}"))
        });
        let w = v.clone();
        t.build(format!("charset: {what}"), "charset", move || {
            base().text("x").charset(format!("utf-8{w}"))
        });
    }
    for (what, name) in [
        ("empty", String::new()),
        ("space", "X Custom".into()),
        ("colon", "X:Custom".into()),
        ("CRLF injection", "X-A\r\nBcc".into()),
        ("NUL", "X-A\0".into()),
        ("non-ASCII", "X-Ünï".into()),
        ("77 characters", "X".repeat(77)),
        ("1 MB", "X".repeat(1 << 20)),
        ("reserved Bcc", "Bcc".into()),
        ("reserved Content-Type", "content-type".into()),
    ] {
        t.build(format!("custom header name: {what}"), "header", move || {
            base().header(name, "v")
        });
    }
    for (what, id) in [
        ("empty", ""),
        ("no @", "no-at"),
        ("space", "<a b@c>"),
        ("brackets", "<a<@b>"),
    ] {
        t.build(format!("message-id: {what}"), "message-id", move || {
            base().message_id(id)
        });
    }
    for (what, ct) in [
        ("no subtype", "text"),
        ("unknown parameter", "text/html; format=flowed"),
        ("empty charset", "text/html; charset="),
        ("empty", ""),
    ] {
        t.build(format!("content-type: {what}"), "content-type", move || {
            base().text("x").text_content_type(ct)
        });
    }
    t.build("charset: unknown", "charset", || {
        base().text("x").charset("no-such-charset")
    });
    t.build("charset: empty", "charset", || base().text("x").charset(""));
    t.build("text: unmappable in the charset", "text", || {
        base().text("日本語").charset("iso-8859-1")
    });
    t.build("html: unmappable in the charset", "html", || {
        base().html("<p>日本語</p>").charset("iso-8859-1")
    });
    t.build("subject: unmappable in the charset", "subject", || {
        base().subject("日本語").charset("iso-8859-1")
    });

    // --- Attachments ---
    for (what, v) in [("empty", ""), ("blank", " \t\u{a0}")] {
        t.build(
            format!("attachment filename: {what}"),
            "attachment[1].filename",
            move || with_one().attach(Attachment::bytes(b"x".to_vec()).filename(v)),
        );
    }
    for (what, v) in bad_text() {
        let w = v.clone();
        t.build(
            format!("attachment filename: {what}"),
            "attachment[1].filename",
            move || with_one().attach(Attachment::bytes(b"x".to_vec()).filename(w)),
        );
        let w = v.clone();
        t.build(
            format!("inline filename: {what}"),
            "inline[0].filename",
            move || {
                base()
                    .html("<p>x</p>")
                    .inline(Attachment::bytes(b"x".to_vec()).filename(w))
            },
        );
        let w = v.clone();
        t.build(
            format!("related filename: {what}"),
            "alternative[0].related[0].filename",
            move || {
                base().alternative(
                    Attachment::text("<p>x</p>")
                        .content_type("text/html")
                        .related([Attachment::bytes(b"x".to_vec()).filename(w)]),
                )
            },
        );
        let w = v.clone();
        t.build(
            format!("calendar method: {what}"),
            "alternative[0].method",
            move || base().alternative(Attachment::calendar("BEGIN:VCALENDAR\nEND:VCALENDAR\n", w)),
        );
        let w = v.clone();
        t.build(
            format!("part header value: {what}"),
            "attachment[1].X-Part",
            move || with_one().attach(Attachment::bytes(b"x".to_vec()).header("X-Part", w)),
        );
        let w = v.clone();
        t.build(
            format!("attachment content type: {what}"),
            "attachment[1]",
            move || {
                with_one()
                    .attach(Attachment::bytes(b"x".to_vec()).content_type(format!("text/plain{w}")))
            },
        );
        let w = v.clone();
        t.build(
            format!("attachment charset: {what}"),
            "attachment[1].charset",
            move || with_one().attach(Attachment::text("x").charset(format!("utf-8{w}"))),
        );
        let w = v.clone();
        t.build(format!("content id: {what}"), "inline[0]", move || {
            base()
                .html("<p>x</p>")
                .inline(Attachment::bytes(b"x".to_vec()).content_id(format!("a{w}@b")))
        });
    }
    for (what, name) in [
        ("empty", ""),
        ("CRLF", "X-P\r\nBcc"),
        ("reserved", "Content-Disposition"),
        ("1 MB", "1 MB"),
    ] {
        let name = if what == "1 MB" {
            "X".repeat(1 << 20)
        } else {
            name.to_string()
        };
        t.build(
            format!("part header name: {what}"),
            "attachment[1].headers",
            move || with_one().attach(Attachment::bytes(b"x".to_vec()).header(name, "v")),
        );
    }
    for (what, cid) in [
        ("empty", String::new()),
        ("space", "a b@c".into()),
        ("brackets", "<a@b>".into()),
        ("1000 characters", "a".repeat(1000)),
    ] {
        t.build(format!("content id: {what}"), "inline[0]", move || {
            base()
                .html("<p>x</p>")
                .inline(Attachment::bytes(b"x".to_vec()).content_id(cid))
        });
    }
    for (what, ct) in [
        ("empty", ""),
        ("no subtype", "image"),
        ("space", "image/p ng"),
        ("1 MB", "1 MB"),
    ] {
        let ct = if what == "1 MB" {
            format!("image/{}", "p".repeat(1 << 20))
        } else {
            ct.to_string()
        };
        t.build(
            format!("attachment content type: {what}"),
            "attachment[1]",
            move || with_one().attach(Attachment::bytes(b"x".to_vec()).content_type(ct)),
        );
    }
    t.build(
        "attachment charset: unknown",
        "attachment[1].charset",
        || with_one().attach(Attachment::text("x").charset("no-such-charset")),
    );
    t.build(
        "attachment text: unmappable in its charset",
        "attachment[1]",
        || with_one().attach(Attachment::text("日本語").charset("iso-8859-1")),
    );
    t.build("base64 attachment: not base64", "attachment[1]", || {
        with_one().attach(Attachment::base64(b"!!! not base64 !!!".to_vec()))
    });
    t.build(
        "base64 attachment: non-UTF-8 bytes",
        "attachment[1]",
        || with_one().attach(Attachment::base64(vec![0xff, 0xfe, 0x80, 0x00])),
    );
    t.build(
        "base64 attachment: forced quoted-printable",
        "attachment[1]",
        || {
            with_one().attach(
                Attachment::base64(b"aGk=".to_vec())
                    .transfer_encoding(TransferEncoding::QuotedPrintable),
            )
        },
    );
    t.build("forced 7bit on non-ASCII text", "attachment[1]", || {
        with_one().attach(Attachment::text("café").transfer_encoding(TransferEncoding::SevenBit))
    });
    t.build("forced 8bit on a stream", "attachment[1]", || {
        with_one()
            .attach(Attachment::reader(io::empty()).transfer_encoding(TransferEncoding::EightBit))
    });
    t.build("path: missing file", "attachment[1].path", || {
        with_one().attach(Attachment::path("/nonexistent/mimeograph/report.pdf"))
    });
    t.build("path: empty", "attachment[1].path", || {
        with_one().attach(Attachment::path(""))
    });
    t.build("path: a directory", "attachment[1].path", || {
        with_one().attach(Attachment::path(std::env::temp_dir()))
    });
    // The file name (taken from the path) is checked first.
    t.build(
        "path: missing, CRLF in the name",
        "attachment[1].filename",
        || {
            with_one().attach(Attachment::path(
                "/nonexistent/a\r\nBcc: x@evil.example.pdf",
            ))
        },
    );
    t.add(
        "path: deleted between build and write",
        "attachment[1].path",
        || {
            let p = temp_path("deleted");
            std::fs::write(&p, b"soon gone").unwrap();
            let message = with_one().attach(Attachment::path(&p)).build()?;
            std::fs::remove_file(&p).unwrap();
            message.write_to(io::sink())
        },
    );
    t.build("reader: fails midway", "attachment[1]", || {
        with_one().attach(Attachment::reader(FailingReader { left: 200_000 }).filename("x.bin"))
    });
    t.build("reader: fails at once", "attachment[1]", || {
        with_one().attach(Attachment::reader(FailingReader { left: 0 }))
    });
    t.build("reader: shorter than declared", "attachment[1]", || {
        with_one().attach(Attachment::reader_with_len(io::repeat(b'a').take(10), 100))
    });
    t.build("reader: longer than declared", "attachment[1]", || {
        with_one().attach(Attachment::reader_with_len(
            io::repeat(b'a').take(1000),
            100,
        ))
    });
    t.build("chunks: an error item", "attachment[1]", || {
        let items: Vec<io::Result<Vec<u8>>> = vec![
            Ok(b"one".to_vec()),
            Err(io::Error::other("broken pipe upstream")),
            Ok(b"two".to_vec()),
        ];
        with_one().attach(Attachment::chunks(items))
    });
    t.build("inline: reader fails", "inline[0]", || {
        base()
            .html("<p>x</p>")
            .inline(Attachment::reader(FailingReader { left: 5 }).content_id("a@b"))
    });
    t.build("alternative: reader fails", "alternative[0]", || {
        base().alternative(
            Attachment::reader(FailingReader { left: 5 }).content_type("text/calendar"),
        )
    });
    t.add("write_to: a writer that fails", "output", || {
        struct Broken;
        impl io::Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        base().build().unwrap().write_to(Broken)
    });
    t.add("a stream attachment written twice", "attachment[0]", || {
        let m = base()
            .attach(Attachment::reader(io::repeat(b'a').take(10)))
            .build()
            .unwrap();
        m.to_bytes()?;
        m.to_bytes().map(drop)
    });

    // --- address, header and date functions ---
    for (what, v) in bad_addresses() {
        let w = v.clone();
        t.add(
            format!("AddressList::parse: {what}"),
            "address",
            move || AddressList::parse(&w).map(drop),
        );
        let w = v.clone();
        t.add(format!("Mailbox::parse: {what}"), "address", move || {
            Mailbox::parse(&w).map(drop)
        });
    }
    for (what, name, addr) in [
        ("CRLF in the name", "Ann\r\nBcc: x@y", "a@example.com"),
        ("NUL in the name", "Ann\0", "a@example.com"),
        ("angle brackets in the address", "Ann", "<a@example.com>"),
        (
            "CRLF in the address",
            "Ann",
            "a@example.com\r\nRCPT TO:<x@y>",
        ),
        ("empty address", "Ann", ""),
    ] {
        t.add(format!("Mailbox::new: {what}"), "address", move || {
            Mailbox::new(Some(name), addr).map(drop)
        });
    }
    t.add("Mailbox::new: 10k local part", "too long", || {
        Mailbox::new(None, &format!("{}@example.com", "a".repeat(10_000))).map(drop)
    });
    t.add("Mailbox::parse: empty", "empty", || {
        Mailbox::parse("").map(drop)
    });
    t.add("Mailbox::parse: two", "one mailbox", || {
        Mailbox::parse("a@b.c, d@e.f").map(drop)
    });
    for (what, v) in bad_text() {
        let w = v.clone();
        t.add(format!("check_value: {what}"), "Subject", move || {
            check_value("Subject", &w)
        });
        let w = v.clone();
        t.add(
            format!("parse_message_id: {what}"),
            "message id",
            move || parse_message_id(&format!("<a{w}@b>")).map(drop),
        );
        let w = v.clone();
        t.add(
            format!("HeaderName::new: {what}"),
            "header name",
            move || HeaderName::new(&format!("X{w}")).map(drop),
        );
    }
    t.add("HeaderName::custom: reserved", "Bcc", || {
        HeaderName::custom("Bcc").map(drop)
    });

    // --- the SMTP engine: envelope, config, low-level commands ---
    for (what, bad) in [
        ("empty", String::new()),
        ("CRLF", "b@example.org\r\nRCPT TO:<x@evil.example>".into()),
        ("NUL", "b@exa\0mple.org".into()),
        ("space", "b c@example.org".into()),
        ("angle brackets", "<b@example.org>".into()),
        ("300 octets", format!("{}@example.org", "a".repeat(288))),
        (
            "10k-character local part",
            format!("{}@example.org", "a".repeat(10_000)),
        ),
    ] {
        let b = bad.clone();
        t.add(
            format!("transaction: envelope to[2]: {what}"),
            "to[2]",
            move || {
                let mut e = good_envelope();
                e.to.push(env_addr(&b));
                transaction(&e, RawMessage::new("Subject: x\r\n\r\nx\r\n"), &caps()).map(drop)
            },
        );
        let b = bad.clone();
        t.add(
            format!("transaction: envelope from: {what}"),
            "from",
            move || {
                let mut e = good_envelope();
                e.from = Some(env_addr(&b));
                transaction(&e, RawMessage::new("x\r\n"), &caps()).map(drop)
            },
        );
        let b = bad.clone();
        t.add(
            format!("Client::send: envelope to[0]: {what}"),
            "to[0]",
            move || {
                let mut c = ready_client();
                let e = Envelope {
                    from: None,
                    to: vec![env_addr(&b)],
                };
                c.send(e, Box::new(RawMessage::new("x\r\n")), Duration::ZERO)
                    .map(drop)
            },
        );
        if !bad.is_empty() {
            // (The empty reverse path is the null path `<>`: valid.)
            let b = bad.clone();
            t.add(
                format!("Client::mail (low level): {what}"),
                "address",
                move || ready_client().mail(&b, &[], Duration::ZERO),
            );
        }
        let b = bad.clone();
        t.add(
            format!("Client::rcpt (low level): {what}"),
            "address",
            move || {
                let mut c = ready_client();
                c.mail("a@example.com", &[], Duration::ZERO)?;
                while c.poll_transmit().is_some() {}
                c.receive(b"250 ok\r\n", Duration::ZERO);
                while c.poll_event().is_some() {}
                c.rcpt(&b, Duration::ZERO)
            },
        );
        if bad.is_empty() || bad.chars().any(char::is_control) {
            // (Printable text is a valid VRFY argument.)
            let b = bad.clone();
            t.add(
                format!("Client::vrfy (low level): {what}"),
                "VRFY",
                move || ready_client().vrfy(&b, Duration::ZERO),
            );
        }
    }
    t.add("transaction: no recipients", "recipient", || {
        let e = Envelope {
            from: None,
            to: vec![],
        };
        transaction(&e, RawMessage::new("x\r\n"), &caps()).map(drop)
    });
    for (what, name) in [
        ("empty", ""),
        ("space", "my host"),
        ("CRLF", "host\r\nMAIL FROM:<x@y>"),
        ("NUL", "h\0"),
    ] {
        t.add(format!("Config hello_name: {what}"), "EHLO", move || {
            Client::new(
                Config {
                    hello_name: name.into(),
                    ..Config::default()
                },
                false,
                Duration::ZERO,
            )
            .map(drop)
        });
    }
    for (what, user, secret, field) in [
        ("NUL in the user", "ann\0admin", "pw", "user"),
        ("CRLF in the user", "ann\r\nQUIT", "pw", "user"),
        ("NUL in the password", "ann", "pass\0word", "secret"),
        ("0x01 in the token", "ann", "tok\x01auth=Bearer x", "secret"),
    ] {
        t.add(format!("Config credentials: {what}"), field, move || {
            let config = Config {
                credentials: Some(Credentials::new(user, secret)),
                ..Config::default()
            };
            Client::new(config, true, Duration::ZERO).map(drop)
        });
    }
    t.add("Client::mail: bad parameter", "parameter", || {
        ready_client().mail(
            "a@example.com",
            &["SIZE=1\r\nRCPT TO:<x@y>".into()],
            Duration::ZERO,
        )
    });
    t.add("Client::rcpt before mail", "MAIL FROM", || {
        ready_client().rcpt("b@example.org", Duration::ZERO)
    });
    t.add("Client::data_chunk outside DATA", "content", || {
        ready_client().data_chunk(b"x")
    });
    t.add("Client::help: CRLF", "HELP", || {
        ready_client().help(Some("x\r\nQUIT"), Duration::ZERO)
    });
    t.add("Client::expn: empty", "EXPN", || {
        ready_client().expn("", Duration::ZERO)
    });
    t.add("Client::send after QUIT", "ended", || {
        let mut c = ready_client();
        c.quit(Duration::ZERO);
        c.send(
            good_envelope(),
            Box::new(RawMessage::new("x")),
            Duration::ZERO,
        )
        .map(drop)
    });

    // --- native options and clients ---
    for (what, url) in [
        ("empty", ""),
        ("no scheme", "mail.example.com:25"),
        ("other scheme", "http://mail.example.com"),
        ("no host", "smtp://"),
        ("bad port", "smtp://h:99999"),
        ("CRLF in the host", "smtp://h\r\nx:25"),
        ("bad percent escape", "smtp://u:%zz@h"),
    ] {
        t.add(format!("Options::from_url: {what}"), "URL", move || {
            Options::from_url(url).map(drop)
        });
    }
    let option_cases: Vec<(&str, &str, OptionChange)> = vec![
        ("host empty", "host", |o| o.host = String::new()),
        ("host CRLF", "host", |o| {
            o.host = "mail.example.com\r\nEHLO x".into()
        }),
        ("host NUL", "host", |o| o.host = "mail\0.example.com".into()),
        ("host 1 MB", "host", |o| o.host = "h".repeat(1 << 20)),
        ("port 0", "port", |o| o.port = Some(0)),
        ("domain empty", "domain", |o| o.domain = Some(String::new())),
        ("domain CRLF", "domain", |o| {
            o.domain = Some("client\r\nMAIL FROM:<x@y>".into())
        }),
        ("timeout zero", "timeout", |o| o.timeout = Duration::ZERO),
        ("user NUL", "user", |o| {
            o.user = Some("ann\0root".into());
            o.password = Some("pw".into());
        }),
        ("user CRLF", "user", |o| {
            o.user = Some("ann\r\n".into());
            o.password = Some("pw".into());
        }),
        ("password NUL", "password", |o| {
            o.user = Some("ann".into());
            o.password = Some("p\0w".into());
        }),
        ("xoauth2 0x01", "xoauth2", |o| {
            o.user = Some("ann".into());
            o.xoauth2 = Some("t\x01auth=Bearer x".into());
        }),
        ("no mechanism for the credentials", "authentication", |o| {
            o.user = Some("ann".into());
            o.password = Some("pw".into());
            o.authentication = vec![Mechanism::XOAuth2];
        }),
    ];
    for (what, field, change) in option_cases {
        t.add(format!("SmtpClient::connect: {what}"), field, move || {
            let mut o = options();
            change(&mut o);
            native_connect(o)
        });
        t.add(format!("Pool::send: {what}"), field, move || {
            let mut o = options();
            change(&mut o);
            Pool::new(o).send(base().build().unwrap()).map(drop)
        });
        #[cfg(feature = "tokio")]
        t.add(
            format!("AsyncSmtpClient::connect: {what}"),
            field,
            move || {
                let mut o = options();
                change(&mut o);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    mimeograph::native::AsyncSmtpClient::new(o)
                        .connect()
                        .await
                        .map(drop)
                })
            },
        );
    }
    for (what, pem) in [
        ("empty", Vec::new()),
        ("garbage", b"not a certificate".to_vec()),
        (
            "truncated PEM",
            b"-----BEGIN CERTIFICATE-----\nMIIB\n".to_vec(),
        ),
        ("non-UTF-8", vec![0xff, 0xfe, 0x00, 0x80]),
    ] {
        t.add(
            format!("Options::add_root_certificate: {what}"),
            "certificate",
            move || options().add_root_certificate(&pem),
        );
    }
    t.add("Pool::send after close", "closed", || {
        let pool = Pool::new(options());
        pool.close()?;
        pool.send(base().build().unwrap()).map(drop)
    });
    t
}

#[test]
fn every_entry_point_refuses_bad_input_naming_the_field() {
    let failures = cases().run();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A 200 MB attachment from a reader is streamed, never held whole: every
/// chunk is small, the total is the size announced up front, and (on
/// Linux) the peak memory of a process doing only this stays far below
/// 200 MB: the test runs itself again in a child process, alone, and reads
/// its `VmHWM`.
#[test]
fn huge_attachment_from_a_reader_is_streamed() {
    const CHILD: &str = "MIMEOGRAPH_BAD_INPUT_HWM_CHILD";
    if cfg!(target_os = "linux") && std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "huge_attachment_from_a_reader_is_streamed",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("peak memory"),
            "the child did not run the test: {text}"
        );
        return;
    }
    const LEN: u64 = 200 * 1024 * 1024;
    let message = base()
        .attach(Attachment::reader_with_len(io::repeat(b'A').take(LEN), LEN).filename("huge.bin"))
        .build()
        .unwrap();
    let opts = RenderOptions::default();
    let size = message
        .encoded_len(opts)
        .expect("the size is known up front");
    assert!(size > LEN * 4 / 3, "{size}");
    let (mut total, mut largest) = (0u64, 0usize);
    for chunk in message.chunks(opts).unwrap() {
        let chunk = chunk.unwrap();
        total += chunk.len() as u64;
        largest = largest.max(chunk.len());
    }
    assert_eq!(total, size);
    assert!(largest <= 128 * 1024, "a chunk of {largest} bytes");
    if std::env::var_os(CHILD).is_some() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let hwm_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        eprintln!("peak memory: {hwm_kb} kB for a {LEN}-byte attachment");
        assert!(
            hwm_kb < 64 * 1024,
            "peak memory {hwm_kb} kB: the attachment was held"
        );
    }
}

/// The same attachment offered to a real server (aiosmtpd announces SIZE
/// 33554432): refused up front with a typed error, nothing is streamed,
/// and the client sends the next message on the same connection.
#[test]
fn huge_attachment_is_refused_by_size_and_the_client_goes_on() {
    const LEN: u64 = 200 * 1024 * 1024;
    let server = native_support::server(&[]);
    let (o, log) = native_support::options(server.port);
    let mut client = SmtpClient::new(o);
    let huge = base()
        .attach(Attachment::reader_with_len(io::repeat(b'A').take(LEN), LEN).filename("huge.bin"))
        .build()
        .unwrap();
    let e = client.send(huge).unwrap_err();
    assert!(
        matches!(
            e.smtp(),
            Some(SmtpError::MessageTooLarge {
                limit: 33_554_432,
                ..
            })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("limit"), "{e}");
    assert!(
        !log.lock().unwrap().iter().any(|l| l.starts_with("C: MAIL")),
        "nothing was offered: {:?}",
        log.lock().unwrap()
    );
    let sent = client
        .send(native_support::message(1, "bob@example.org"))
        .unwrap();
    assert!(sent.reply.is_positive());
    client.close().unwrap();
    let got = native_support::captured(&server);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id(), sent.message_id);
}

/// A reader that fails in the middle of the DATA: the send fails naming
/// the attachment, the server keeps nothing (the engine never ends the
/// data), and the client sends the next message.
#[test]
fn reader_failing_midway_through_a_real_send() {
    let server = native_support::server(&[]);
    let (o, _log) = native_support::options(server.port);
    let mut client = SmtpClient::new(o);
    let broken = with_one()
        .attach(Attachment::reader(FailingReader { left: 300_000 }).filename("x.bin"))
        .build()
        .unwrap();
    let e = client.send(broken).unwrap_err();
    assert!(e.to_string().contains("attachment[1]"), "{e}");
    assert!(e.to_string().contains("the disk went away"), "{e}");
    assert!(!e.is_outcome_unknown(), "{e:?}");
    let sent = client
        .send(native_support::message(2, "bob@example.org"))
        .unwrap();
    client.close().unwrap();
    let got = native_support::captured(&server);
    assert_eq!(got.len(), 1, "only the good message arrived");
    assert_eq!(got[0].message_id(), sent.message_id);
}

/// Where bytes are accepted, non-UTF-8 bytes are not an error: they are
/// carried exactly (base64), and a real parser reads them back.
#[test]
fn non_utf8_bytes_are_accepted_where_bytes_are() {
    let bytes: Vec<u8> = (0..=255u8)
        .rev()
        .chain([0xc3, 0x28, 0xff, 0xfe, 0, 0x80])
        .collect();
    let message = base()
        .attach(Attachment::bytes(bytes.clone()).filename("raw.bin"))
        .attach(Attachment::message(
            b"Subject: \xff\xfe\r\n\r\nbody \x80\x81\r\n".to_vec(),
        ))
        .build()
        .unwrap();
    let out = message.to_bytes().unwrap();
    assert!(out.is_ascii(), "7-bit on the wire");
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(&out).unwrap();
    let att = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some("raw.bin"))
        .unwrap();
    assert_eq!(att.contents(), &bytes[..]);
    // And a raw message of arbitrary bytes through the engine's dry run.
    // (8-bit content needs 8BITMIME: without it, a typed error.)
    let raw = RawMessage::new(bytes.clone());
    let e = transaction(&good_envelope(), raw, &caps()).unwrap_err();
    assert_eq!(e, SmtpError::EightBitMimeRequired);
    let eight_bit = Capabilities {
        eight_bit_mime: true,
        ..caps()
    };
    let raw = RawMessage::new(bytes.clone());
    let commands = transaction(&good_envelope(), raw, &eight_bit).unwrap();
    assert!(commands
        .iter()
        .any(|c| c.to_string().contains("BODY=8BITMIME")));
}

/// Valid but large: 100,000 recipients build, every one in the envelope,
/// and the To header folds into lines of at most 998 octets.
#[test]
fn hundred_thousand_recipients_build() {
    let list: Vec<String> = (0..100_000).map(|i| format!("u{i}@example.com")).collect();
    let message = base().to(list.join(", ")).build().unwrap();
    assert_eq!(message.envelope().to.len(), 100_001);
    let out = message.to_bytes().unwrap();
    let head = &out[..out.windows(4).position(|w| w == b"\r\n\r\n").unwrap()];
    assert!(head.split(|&b| b == b'\n').all(|l| l.len() <= 999));
}

/// The lenient parser (emailjs's addressparser) never fails and never
/// panics; dates at the ends of the range still format.
#[test]
fn lenient_parser_and_dates_take_anything() {
    let deep = "a:".repeat(100_000);
    let quotes = "\"".repeat(100_001);
    let angles = "<".repeat(100_000);
    let comments = "(".repeat(100_000);
    let mixed = "\"a\\\0\r\n<>(),;:@[]\u{85}\u{202e}\u{fffd}".repeat(10_000);
    for input in [
        &deep, &quotes, &angles, &comments, &mixed, "", "\0", "\r\n", "@", "<>", ":;",
    ] {
        let r = catch_unwind(|| parse_address_list(input));
        assert!(
            r.is_ok(),
            "panicked on {:?}…",
            input.chars().take(20).collect::<String>()
        );
    }
    for secs in [i64::MIN, -62_167_219_201, 0, 253_402_300_800, i64::MAX] {
        for off in [i16::MIN, -1439, 0, 1439, i16::MAX] {
            let s = DateTime::from_unix(secs)
                .with_offset_minutes(off)
                .to_string();
            assert!(s.len() <= 31 && s.is_ascii(), "{s}");
        }
    }
}

/// A file that exists but cannot be read is refused when the message is
/// built (when the tests run as root, every file is readable: then the
/// case is shown to be moot rather than passed).
#[cfg(unix)]
#[test]
fn unreadable_file_is_refused_at_build() {
    use std::os::unix::fs::PermissionsExt;
    let p = temp_path("unreadable");
    std::fs::write(&p, b"secret").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let readable_anyway = std::fs::File::open(&p).is_ok();
    let r = with_one().attach(Attachment::path(&p)).build();
    std::fs::remove_file(&p).unwrap();
    if readable_anyway {
        eprintln!("unreadable_file_is_refused_at_build: running as root, every file is readable; nothing to check");
        assert!(r.is_ok());
        return;
    }
    let e = r.unwrap_err();
    assert!(e.to_string().contains("attachment[1].path"), "{e}");
    assert!(e.to_string().to_lowercase().contains("permission"), "{e}");
}
