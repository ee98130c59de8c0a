mod common;
use common::peers::*;
use common::workloads::*;
use std::time::Instant;
fn build(owned: Input) -> mimeograph::mime::Message {
    use mimeograph::address::Mailbox;
    use mimeograph::mime::{Attachment, Message};
    let mailbox = |(name, addr): (&str, &str)| Mailbox::new(Some(name), addr).unwrap();
    let mut b = Message::builder().from(mailbox(owned.from)).to(mailbox(owned.to)).subject(owned.subject).text(owned.text);
    if let Some(h) = owned.html { b = b.html(h); }
    for a in owned.attachments { let p = match a.data { Data::Binary(x) => Attachment::bytes(x), Data::Text(t) => Attachment::text(t) }; b = b.attach(p.filename(a.filename).content_type(a.content_type)); }
    b.build().unwrap()
}
fn main() {
    let which = std::env::var("W").unwrap_or("W3".into());
    let w = match which.as_str() { "W1" => w1(), "W2" => w2(), _ => w3() };
    let n: usize = std::env::var("N").ok().and_then(|n| n.parse().ok()).unwrap_or(30);
    let mut mins = [f64::MAX; 6];
    for _ in 0..n {
        let owned = w.clone();
        let t0 = Instant::now();
        let m = build(owned);
        let t1 = Instant::now();
        let len = m.encoded_len(m.default_options());
        let t2 = Instant::now();
        let out = m.to_bytes().unwrap();
        let t3 = Instant::now();
        drop(m);
        let t4 = Instant::now();
        assert_eq!(Some(out.len() as u64), len);
        drop(out);
        let t5 = Instant::now();
        let o = mail_builder(&w);
        let t6 = Instant::now();
        drop(o);
        let d = [t1-t0, t2-t1, t3-t2, t4-t3, t6-t5, (t3-t2)+(t1-t0)+(t4-t3)];
        for (m, d) in mins.iter_mut().zip(d) { *m = m.min(d.as_secs_f64() * 1e6); }
    }
    println!("{which} min µs: build {:.1}, encoded_len {:.1}, to_bytes {:.1}, drop {:.1} | mimeograph total {:.1} | mail-builder {:.1}", mins[0], mins[1], mins[2], mins[3], mins[5], mins[4]);
}
