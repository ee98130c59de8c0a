//! `examples/send.rs` end to end: its embedded capture server receives the
//! rich message over the native client, and the received bytes parse back
//! (with mail-parser) into what was composed.
#![cfg(all(not(target_arch = "wasm32"), feature = "native"))]

#[allow(dead_code)]
#[path = "../examples/send.rs"]
mod send_example;

use mail_parser::{MessageParser, MimeHeaders};

#[test]
fn example_sends_the_rich_message_to_its_capture_server() {
    let demo = send_example::run_embedded().unwrap();
    assert_eq!(demo.received.len(), 1);
    let r = &demo.received[0];
    assert_eq!(r.mail_from, "zoe@example.com");
    assert_eq!(r.rcpt_to, vec!["bob@example.com", "taro@xn--r8jz45g.jp"]);
    assert_eq!(demo.sent.attempts, 1);
    assert!(demo.sent.reply.to_string().contains("CAPTURE1"));

    let t = demo.transcript.join("\n");
    for needle in [
        "S: 220 capture.local",
        "C: EHLO client.example",
        "C: DATA",
        "S: 354",
        "C: QUIT",
        "S: 221",
    ] {
        assert!(t.contains(needle), "{needle} missing from:\n{t}");
    }

    let m = MessageParser::default().parse(&r.data[..]).unwrap();
    assert_eq!(
        m.message_id(),
        Some(demo.sent.message_id.as_str()),
        "Message-ID"
    );
    assert_eq!(m.subject(), Some("Quarterly report ✓ — 四半期報告書 📈"));
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Zoë Ångström"));
    let text = m.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(text.contains("\n.\nA line with a lone dot"), "{text}");
    assert!(m.body_html(0).unwrap().contains("cid:chart@mimeograph"));

    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let gif = std::fs::read(fixtures.join("smtp.gif")).unwrap();
    let pdf = std::fs::read(fixtures.join("smtp.pdf")).unwrap();
    let parts: Vec<_> = m
        .attachments()
        .map(|a| {
            (
                a.attachment_name().map(str::to_string),
                a.contents().to_vec(),
            )
        })
        .collect();
    assert!(
        parts
            .iter()
            .any(|(n, c)| n.as_deref() == Some("chart.gif") && *c == gif),
        "inline image missing or altered"
    );
    assert!(
        parts
            .iter()
            .any(|(n, c)| n.as_deref() == Some("Quartalsbericht Q3 – 2026.pdf") && *c == pdf),
        "PDF missing or altered: {:?}",
        parts.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
}

#[test]
fn abbreviate_keeps_headers_and_shortens_base64() {
    let line = "QUJD".repeat(19);
    let data = format!("Subject: x\r\n\r\n{line}\r\n{line}\r\n{line}\r\n{line}\r\nend\r\n");
    let short = send_example::abbreviate(data.as_bytes(), false);
    assert!(short.contains("Subject: x"));
    assert!(short.contains("[… 2 more lines of base64 …]"), "{short}");
    assert!(short.ends_with("end\n\n"), "{short:?}");
    let full = send_example::abbreviate(data.as_bytes(), true);
    assert_eq!(full, data);
}
