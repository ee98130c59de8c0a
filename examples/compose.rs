//! Composes a rich message (UTF-8 subject and names, text + HTML, an inline
//! image, a PDF attachment) and prints it.
//!
//! `cargo run --example compose [-- --out message.eml]`

use mimeograph::mime::{Attachment, Message};
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
    match out {
        Some(path) => {
            message.write_to(std::fs::File::create(&path)?)?;
            eprintln!("wrote {path}");
        }
        None => {
            let bytes = message.to_bytes()?;
            println!("{}", String::from_utf8_lossy(&bytes));
            eprintln!(
                "envelope: MAIL FROM:<{}> RCPT TO: {}",
                message.envelope().from.as_ref().map_or("", |a| a.utf8()),
                message
                    .envelope()
                    .to
                    .iter()
                    .map(|a| format!("<{}>", a.utf8()))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    Ok(())
}
