//! Composes a rich message (UTF-8 subject and names, text + HTML, an inline
//! image, a PDF attachment), prints it, then prints the complete SMTP
//! transaction the engine would send for it to a server offering
//! PIPELINING, 8BITMIME, SMTPUTF8 and SIZE (a dry run: no network).
//!
//! `cargo run --example compose [-- --out message.eml]`

use mimeograph::mime::{Attachment, Message};
use mimeograph::smtp::{transaction, Capabilities, Command};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let message = Message::builder()
        .from("Zoë Ångström <zoe@example.com>")
        .to("Bob Smith <bob@example.com>, 山田太郎 <taro@例え.jp>")
        .cc("\"Carol, the auditor\" <carol@example.org>")
        .bcc("archive@example.com")
        .subject("Quarterly report ✓ — 四半期報告書 📈")
        .text("Hello Bob,\n\nThe report is attached; the chart is inline in the HTML version.\n\n— Zoë\n")
        .html(
            "<p>Hello Bob,</p><p>The report is attached. Here is the chart:</p>\
             <p><img src=\"cid:chart@mimeograph\" alt=\"chart\"></p><p>— Zoë</p>",
        )
        .inline(
            Attachment::path(fixtures.join("smtp.gif"))
                .filename("chart.gif")
                .content_id("chart@mimeograph"),
        )
        .attach(Attachment::path(fixtures.join("smtp.pdf")).filename("Quartalsbericht Q3 – 2026.pdf"))
        .build()?;

    let out = std::env::args().skip_while(|a| a != "--out").nth(1);
    if let Some(path) = out {
        message.write_to(std::fs::File::create(&path)?)?;
        eprintln!("wrote {path}");
        return Ok(());
    }
    println!("{}", String::from_utf8_lossy(&message.to_bytes()?));

    let envelope = message.envelope().clone();
    let server = Capabilities {
        server_name: "mx.example.com".into(),
        pipelining: true,
        eight_bit_mime: true,
        smtp_utf8: true,
        size: Some(35_882_577),
        ..Capabilities::default()
    };
    println!("---- SMTP transaction (dry run) ----");
    for command in transaction(&envelope, message.into_stream(), &server)? {
        match command {
            Command::Content(bytes) => {
                println!("C: <{} octets of dot-stuffed message data>", bytes.len())
            }
            other => println!("C: {other}"),
        }
    }
    Ok(())
}
