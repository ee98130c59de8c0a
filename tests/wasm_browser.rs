//! The wasm bindings in a headless browser:
//! `wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver --mode no-install -- --no-default-features --features wasm --test wasm_browser`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Reflect, Uint8Array};
use mail_parser::{MessageParser, MimeHeaders};
use mimeograph::wasm::{get_rfc2822_date, WasmMessage, WasmSmtpClient};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn js(src: &str) -> JsValue {
    js_sys::eval(&format!("({src})")).expect(src)
}

fn json(v: &JsValue) -> String {
    js_sys::JSON::stringify(v).unwrap().into()
}

#[wasm_bindgen_test]
fn compose_with_a_blob_like_attachment_and_read_back() {
    let m = WasmMessage::from_options(js(r#"{
        from: 'Zoë <zoe@example.com>', to: 'bob@example.com', subject: 'Browser ✓',
        text: 'plain', attachment: [
            { data: '<p>html</p>', alternative: true },
            { data: new Uint8Array([1, 2, 3, 250]).buffer, name: 'picked.bin' },
        ] }"#))
    .unwrap();
    let raw = m.to_bytes().unwrap().to_vec();
    assert_eq!(m.size(), Some(raw.len() as f64));
    let p = MessageParser::default().parse(&raw[..]).unwrap();
    assert_eq!(p.subject(), Some("Browser ✓"));
    assert_eq!(p.body_text(0).unwrap().trim_end(), "plain");
    assert_eq!(p.body_html(0).unwrap().trim_end(), "<p>html</p>");
    let a = p.attachments().next().unwrap();
    assert_eq!(
        (a.attachment_name(), a.contents()),
        (Some("picked.bin"), &[1u8, 2, 3, 250][..])
    );
    // The Date header uses the browser's clock.
    let year = js_sys::Date::new_0().get_full_year();
    assert!(String::from_utf8_lossy(&raw).contains(&format!(" {year} ")));
    assert_eq!(
        get_rfc2822_date(js("0"), js("true")).unwrap(),
        "Thu, 01 Jan 1970 00:00:00 +0000"
    );
}

#[wasm_bindgen_test]
fn errors_are_mimeograph_errors() {
    for (src, code, field) in [
        (
            r"{from: 'a@example.com', to: 'b@example.com', subject: 'x\r\ny'}",
            "HEADER",
            "subject",
        ),
        (
            r"{from: 'a\uD800@example.com', to: 'b@example.com'}",
            "INVALID_ARGUMENT",
            "from",
        ),
        (r"{from: 'a@example.com', to: 5}", "INVALID_ARGUMENT", "to"),
    ] {
        let e = WasmMessage::from_options(js(src)).err().unwrap();
        assert!(e.is_instance_of::<js_sys::Error>());
        let get = |k: &str| Reflect::get(&e, &k.into()).unwrap().as_string();
        assert_eq!(get("name").as_deref(), Some("MimeographError"));
        assert_eq!(
            (get("code").as_deref(), get("field").as_deref()),
            (Some(code), Some(field)),
            "{src}"
        );
    }
}

#[wasm_bindgen_test]
fn engine_scripted_conversation() {
    let mut c = WasmSmtpClient::new(js("{domain: 'browser.example'}"), true, 0.0).unwrap();
    let mut m = WasmMessage::from_options(js(
        "{from: 'a@example.com', to: 'b@example.com', text: 'hi'}",
    ))
    .unwrap();
    c.send(&mut m, 0.0).unwrap();
    c.quit(0.0);
    let mut step = |server: &str| {
        if !server.is_empty() {
            c.receive(Uint8Array::from(server.as_bytes()).into(), 1.0)
                .unwrap();
        }
        let mut out = Vec::new();
        while let Some(b) = c.poll_transmit() {
            out.extend(b.to_vec());
        }
        let mut ev = Vec::new();
        loop {
            let e = c.poll_event().unwrap();
            if e.is_undefined() {
                break;
            }
            ev.push(json(&e));
        }
        (String::from_utf8(out).unwrap(), ev)
    };
    assert_eq!(step("220 mx\r\n").0, "EHLO browser.example\r\n");
    let (out, ev) = step("250-mx\r\n250 PIPELINING\r\n");
    assert!(ev[0].starts_with(r#"{"type":"ready""#));
    assert_eq!(
        out,
        "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
    );
    let (out, _) = step("250 ok\r\n250 ok\r\n354 go\r\n");
    assert!(out.ends_with("\r\n.\r\n"));
    let (out, ev) = step("250 2.0.0 queued\r\n");
    assert_eq!(out, "QUIT\r\n");
    assert!(
        ev[0].starts_with(r#"{"type":"sent","id":0,"reply":{"code":250,"enhancedCode":"2.0.0""#),
        "{ev:?}"
    );
    let (_, ev) = step("221 bye\r\n");
    assert_eq!(ev, [r#"{"type":"closed","error":null}"#]);
}

#[wasm_bindgen_test]
fn engine_5xx_and_421() {
    let mut c = WasmSmtpClient::new(js("{}"), true, 0.0).unwrap();
    let mut m =
        WasmMessage::from_options(js("{from: 'a@example.com', to: 'b@example.com'}")).unwrap();
    c.send(&mut m, 0.0).unwrap();
    for s in [
        "220 mx\r\n",
        "250 mx\r\n",
        "550 5.7.1 no\r\n",
        "421 4.4.2 bye\r\n",
    ] {
        c.receive(Uint8Array::from(s.as_bytes()).into(), 1.0)
            .unwrap();
        while c.poll_transmit().is_some() {}
    }
    let mut ev = Vec::new();
    loop {
        let e = c.poll_event().unwrap();
        if e.is_undefined() {
            break;
        }
        ev.push(json(&e));
    }
    assert!(
        ev.iter().any(|e| e.contains(r#""type":"failed""#)
            && e.contains(r#""smtpCode":550,"enhancedCode":"5.7.1""#)),
        "{ev:?}"
    );
    assert!(
        ev.last()
            .unwrap()
            .starts_with(r#"{"type":"closed","error":{"emailjsCode":2,"kind":"ServiceClosing""#),
        "{ev:?}"
    );
    assert!(c.closed());
}
