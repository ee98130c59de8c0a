//! The composer's corpus: at least one message for every feature of the
//! builder, shared by the parser read-back test and the SMTP end-to-end test.

use super::*;
use mimeograph::envelope::RenderOptions;

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = mimeograph::mime::IdGenerator::from_seed(seed);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

fn calendar() -> String {
    "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//mimeograph//EN\nMETHOD:REQUEST\nBEGIN:VEVENT\n\
     UID:1@example.com\nDTSTAMP:20261128T120000Z\nDTSTART:20261201T090000Z\nSUMMARY:Réunion ☕\n\
     END:VEVENT\nEND:VCALENDAR\n"
        .into()
}

fn nested_message() -> Vec<u8> {
    b"From: Inner <inner@example.com>\r\nTo: x@example.com\r\nSubject: inner message\r\n\
      Message-ID: <inner@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
      This message is attached.\r\n"
        .to_vec()
}

/// The corpus. Each spec is built deterministically.
pub fn corpus() -> Vec<Spec> {
    let html_fixture =
        String::from_utf8_lossy(&std::fs::read(fixture("smtp2.html")).unwrap()).into_owned();
    let mut v = Vec::new();
    let mut s = Spec::new("plain_ascii");
    s.subject = Some("Hello".into());
    s.text = Some("Hi there.\nThis is a plain message.\n".into());
    v.push(s);

    let mut s = Spec::new("utf8_subject_and_text");
    s.subject = Some("Grüße aus Köln — 日本語の件名 🎉✉️".into());
    s.text = Some("Ünïcödé everywhere: ñ, ß, 中文, עברית, العربية, 😀\n".into());
    v.push(s);

    let mut s = Spec::new("html_only");
    s.subject = Some("HTML only".into());
    s.html = Some("<h1>Title</h1><p>Paragraph with <b>bold</b> &amp; ünïcode.</p>\n".into());
    v.push(s);

    let mut s = Spec::new("text_and_html");
    s.subject = Some("Alternative".into());
    s.text = Some("Plain version\n".into());
    s.html = Some("<p>HTML version</p>\n".into());
    v.push(s);

    let mut s = Spec::new("inline_image");
    s.subject = Some("Inline image".into());
    s.text = Some("See the image in the HTML version.\n".into());
    s.html = Some("<p>Look: <img src=\"cid:smtp-gif@mimeograph\"></p>\n".into());
    s.parts.push(
        part(Place::Inline, Src::Fixture("smtp.gif"), "image/gif")
            .named("smtp.gif")
            .cid("smtp-gif@mimeograph"),
    );
    v.push(s);

    let mut s = Spec::new("full_tree");
    s.subject = Some("Report with chart ✓".into());
    s.text = Some("Report attached.\n".into());
    s.html = Some("<p>Report attached. <img src=\"cid:chart\"></p>\n".into());
    s.parts.push(
        part(Place::Inline, Src::Fixture("smtp.gif"), "image/gif")
            .named("chart.gif")
            .cid("chart"),
    );
    s.parts
        .push(part(Place::Attach, Src::Fixture("smtp.pdf"), "application/pdf").named("smtp.pdf"));
    v.push(s);

    let mut s = Spec::new("binary_bytes");
    s.text = Some("Binary attached.\n".into());
    s.parts.push(
        part(
            Place::Attach,
            Src::Bytes(random_bytes(10_000, 1)),
            "application/octet-stream",
        )
        .named("random.bin"),
    );
    v.push(s);

    let mut s = Spec::new("empty_attachment");
    s.text = Some("An empty file is attached.\n".into());
    s.parts
        .push(part(Place::Attach, Src::Bytes(Vec::new()), "text/plain").named("empty.txt"));
    v.push(s);

    let mut s = Spec::new("utf8_filename");
    s.text = Some("Résumé attached.\n".into());
    s.parts.push(
        part(Place::Attach, Src::Fixture("smtp.pdf"), "application/pdf")
            .named("Résumé – 履歴書.pdf"),
    );
    v.push(s);

    let mut s = Spec::new("long_utf8_filename");
    s.text = Some("Long name.\n".into());
    let long = format!("{}.pdf", "非常に長いファイル名のテスト".repeat(8));
    s.parts.push(
        part(
            Place::Attach,
            Src::Bytes(b"%PDF-1.4\n".to_vec()),
            "application/pdf",
        )
        .named(&long),
    );
    v.push(s);

    let mut s = Spec::new("long_ascii_filename");
    s.text = Some("Long ASCII name.\n".into());
    let long = format!("{}.txt", "a-very-long-file-name-".repeat(8));
    s.parts
        .push(part(Place::Attach, Src::Text("contents\n".into()), "text/plain").named(&long));
    v.push(s);

    let mut s = Spec::new("display_names");
    s.from = vec![addr("Zoë Ångström", "zoe@example.com")];
    s.to = vec![
        addr("Smith, John", "john@example.com"),
        addr("J. R. R. Tolkien", "jrr@example.com"),
        addr("", "bare@example.com"),
        addr("山田 太郎", "taro@example.jp"),
    ];
    s.cc = vec![
        addr("O'Brien \"Ob\" \\ Co", "ob@example.com"),
        addr("Ελληνικά", "el@example.gr"),
    ];
    s.reply_to = vec![addr("Replies", "replies@example.com")];
    s.subject = Some("Names".into());
    s.text = Some("Names test.\n".into());
    v.push(s);

    let mut s = Spec::new("undisclosed_recipients");
    s.to = vec![];
    s.to_groups = vec![("undisclosed-recipients".into(), vec![])];
    s.bcc = vec![
        addr("Hidden", "hidden@example.com"),
        addr("", "hidden2@example.com"),
    ];
    s.subject = Some("Bcc only".into());
    s.text = Some("Nobody sees the recipients.\n".into());
    v.push(s);

    let mut s = Spec::new("group_with_members");
    s.to_groups = vec![(
        "The Team".into(),
        vec![addr("Ann", "ann@example.com"), addr("", "ben@example.com")],
    )];
    s.subject = Some("Group".into());
    s.text = Some("Hello team.\n".into());
    v.push(s);

    let mut s = Spec::new("idn_domain");
    s.to = vec![
        idn("Müller", "info@münchen.de", "info@xn--mnchen-3ya.de"),
        idn("", "taro@例え.jp", "taro@xn--r8jz45g.jp"),
    ];
    s.subject = Some("IDN".into());
    s.text = Some("Internationalised domains become A-labels.\n".into());
    v.push(s);

    let mut s = Spec::new("smtputf8_headers");
    s.to = vec![addr("Ünïcode Local", "用户@例子.广告")];
    s.subject = Some("Raw UTF-8 headers ✓".into());
    s.text = Some("SMTPUTF8 message.\n".into());
    v.push(s);

    let mut s = Spec::new("charset_latin1");
    s.charset = Some("iso-8859-1".into());
    s.subject = Some("Café crème à la française".into());
    s.text = Some("Ça coûte 10 £, señor. Größe: ½.\n".into());
    v.push(s);

    let mut s = Spec::new("charset_iso2022jp");
    s.charset = Some("iso-2022-jp".into());
    s.subject = Some("会議の件について（ご確認ください）".into());
    s.text = Some("お世話になっております。\n明日の会議は十時からです。\n".into());
    v.push(s);

    let mut s = Spec::new("charset_shift_jis");
    s.charset = Some("shift_jis".into());
    s.subject = Some("シフトJISの件名".into());
    s.text = Some("シフトJISの本文です。ｶﾀｶﾅ\n".into());
    v.push(s);

    let mut s = Spec::new("charset_windows1252");
    s.charset = Some("windows-1252".into());
    s.subject = Some("Price: 5 € – “quoted”".into());
    s.text = Some("It costs 5 € — “really”.\n".into());
    v.push(s);

    let mut s = Spec::new("charset_koi8r");
    s.charset = Some("koi8-r".into());
    s.subject = Some("Привет, мир".into());
    s.text = Some("Съешь же ещё этих мягких французских булок.\n".into());
    v.push(s);

    let mut s = Spec::new("long_lines");
    s.subject = Some("Long lines".into());
    s.text = Some(format!(
        "{}\nshort\n{}\n",
        "x".repeat(2000),
        "word ".repeat(400)
    ));
    v.push(s);

    let mut s = Spec::new("mostly_non_ascii_text");
    s.subject = Some("Base64 text".into());
    s.text = Some("日本語の文章がたくさん続きます。".repeat(40) + "\n");
    v.push(s);

    let mut s = Spec::new("mixed_line_ends");
    s.subject = Some("Line ends".into());
    s.text = Some("unix\nmac\rwindows\r\nend\n".into());
    s.html = Some("<p>a</p>\n<p>b</p>\r<p>c</p>\r\n".into());
    v.push(s);

    let mut s = Spec::new("dots_and_from");
    s.subject = Some("Dots".into());
    s.text = Some(".\n..\n.leading dot\nFrom the start\n.\r\n".into());
    v.push(s);

    let mut s = Spec::new("custom_headers");
    s.subject = Some("Custom headers".into());
    s.text = Some("Headers.\n".into());
    s.headers = vec![
        ("X-Mailer-Test".into(), "mimeograph corpus".into()),
        ("X-Unicode".into(), "café ☕ 東京".into()),
        (
            "List-Unsubscribe".into(),
            "<mailto:unsubscribe@example.com>".into(),
        ),
    ];
    v.push(s);

    let mut s = Spec::new("lookalike_encoded_word");
    s.subject = Some("=?UTF-8?B?SGk=?= is literal text, and so is =?x?q?y?=".into());
    s.text = Some("Subject must read back literally.\n".into());
    v.push(s);

    let mut s = Spec::new("subject_whitespace");
    s.subject = Some("double  space\tand tab   end".into());
    s.text = Some("Whitespace.\n".into());
    v.push(s);

    let mut s = Spec::new("long_subject");
    s.subject = Some(format!(
        "{} {} {}",
        "A long subject line that needs folding".repeat(3),
        "日本語の長い件名が続きます".repeat(6),
        "😀🎉".repeat(20)
    ));
    s.text = Some("Folded subject.\n".into());
    v.push(s);

    let mut s = Spec::new("calendar_invite");
    s.subject = Some("Invitation: Réunion".into());
    s.text = Some("You are invited.\n".into());
    s.html = Some("<p>You are invited.</p>\n".into());
    s.parts.push(part(
        Place::Alternative,
        Src::Calendar {
            ics: calendar(),
            method: "REQUEST".into(),
        },
        "text/calendar",
    ));
    v.push(s);

    let mut s = Spec::new("attached_message");
    s.subject = Some("Fwd: inner message".into());
    s.text = Some("Forwarded message attached.\n".into());
    s.parts.push(
        part(
            Place::Attach,
            Src::Rfc822(nested_message()),
            "message/rfc822",
        )
        .named("inner.eml"),
    );
    v.push(s);

    let mut s = Spec::new("pre_encoded_base64");
    s.text = Some("Pre-encoded.\n".into());
    let data = random_bytes(3000, 2);
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(&data)
            .into_bytes()
    };
    s.parts
        .push(part(Place::Attach, Src::Base64(encoded), "image/png").named("pixel.png"));
    v.push(s);

    let mut s = Spec::new("streams");
    s.text = Some("Streams.\n".into());
    s.parts.push(
        part(
            Place::Attach,
            Src::Reader {
                data: random_bytes(200_000, 3),
                declare_len: false,
            },
            "application/octet-stream",
        )
        .named("stream.bin"),
    );
    s.parts.push(
        part(
            Place::Attach,
            Src::Reader {
                data: random_bytes(70_001, 4),
                declare_len: true,
            },
            "application/octet-stream",
        )
        .named("sized.bin"),
    );
    s.parts.push(
        part(
            Place::Attach,
            Src::Chunks(vec![b"chunk one, ".to_vec(), vec![], b"chunk two".to_vec()]),
            "text/plain",
        )
        .named("chunks.txt"),
    );
    v.push(s);

    let mut s = Spec::new("large_tarball");
    s.subject = Some("Postfix source".into());
    s.text = Some("3.6 MB attached.\n".into());
    s.parts.push(
        part(
            Place::Attach,
            Src::Fixture("postfix-2.8.7.tar.gz"),
            "application/gzip",
        )
        .named("postfix-2.8.7.tar.gz"),
    );
    v.push(s);

    let mut s = Spec::new("html_fixtures");
    s.subject = Some("SMTP documentation".into());
    s.html = Some(html_fixture);
    s.parts
        .push(part(Place::Attach, Src::Fixture("smtp.html"), "text/html").named("smtp.html"));
    v.push(s);

    let mut s = Spec::new("reply_threading");
    s.subject = Some("Re: thread".into());
    s.text = Some("Reply.\n".into());
    s.message_id = Some("<custom.id.123@example.com>".into());
    s.in_reply_to = Some("<parent.456@example.com>".into());
    v.push(s);

    let mut s = Spec::new("related_alternative");
    s.subject = Some("emailjs-style related".into());
    s.text = Some("Text.\n".into());
    s.parts.push(
        part(
            Place::Alternative,
            Src::Text("<p><img src=\"cid:pic\"></p>\n".into()),
            "text/html",
        )
        .typed("text/html")
        .with_related(vec![part(
            Place::Inline,
            Src::Fixture("smtp.gif"),
            "image/gif",
        )
        .named("pic.gif")
        .cid("pic")]),
    );
    v.push(s);

    let mut s = Spec::new("eight_bit");
    s.subject = Some("8bit body".into());
    s.text = Some("Körper mit Umlauten, ohne Kodierung.\n".into());
    s.opts = Some(RenderOptions {
        utf8_headers: false,
        allow_8bit: true,
    });
    v.push(s);

    let mut s = Spec::new("text_attachments");
    s.text = Some("Text attachments.\n".into());
    s.parts.push(
        part(
            Place::Attach,
            Src::Text("utf-8 text ✓\n".into()),
            "text/plain",
        )
        .named("utf8.txt"),
    );
    s.parts.push(
        part(
            Place::Attach,
            Src::Text("latin1 café\n".into()),
            "text/plain",
        )
        .named("latin1.txt")
        .charset("iso-8859-1"),
    );
    s.parts
        .push(part(Place::Attach, Src::Text("a,b\n1,2\n".into()), "text/csv").named("data.csv"));
    v.push(s);

    let mut s = Spec::new("attachments_only");
    s.subject = Some("No body".into());
    s.parts
        .push(part(Place::Attach, Src::Fixture("smtp.gif"), "image/gif").named("a.gif"));
    s.parts
        .push(part(Place::Attach, Src::Fixture("smtp.pdf"), "application/pdf").named("b.pdf"));
    v.push(s);

    let mut s = Spec::new("sender_and_multiple_from");
    s.from = vec![
        addr("Ann", "ann@example.com"),
        addr("Ben", "ben@example.com"),
    ];
    s.sender = Some(addr("Secretary", "sec@example.com"));
    s.subject = Some("Two authors".into());
    s.text = Some("From two people.\n".into());
    v.push(s);

    let mut s = Spec::new("empty_parts_in_multipart");
    s.subject = Some("Empty parts".into());
    s.text = Some("Two empty attachments follow.\n".into());
    s.parts
        .push(part(Place::Attach, Src::Text(String::new()), "text/plain").named("empty.txt"));
    s.parts.push(
        part(
            Place::Attach,
            Src::Base64(Vec::new()),
            "application/octet-stream",
        )
        .named("empty.bin"),
    );
    v.push(s);

    let mut s = Spec::new("attached_message_8bit");
    s.subject = Some("Fwd: 8-bit message".into());
    s.text = Some("An 8-bit message without 8BITMIME goes as a file.\n".into());
    let inner = "From: x@example.com\r\nSubject: héllo\r\n\r\nbödy\r\n"
        .as_bytes()
        .to_vec();
    s.parts.push(
        part(Place::Attach, Src::Rfc822(inner), "message/rfc822").named("forwarded 8-bit message"),
    );
    v.push(s);

    let mut s = Spec::new("long_subject_with_double_spaces");
    s.subject = Some("word  ".repeat(60).trim_end().to_owned() + " \tand a\t\ttab run");
    s.text = Some("Folded inside runs of whitespace.\n".into());
    v.push(s);

    let mut s = Spec::new("no_subject_empty_text");
    s.text = Some(String::new());
    v.push(s);
    v
}
