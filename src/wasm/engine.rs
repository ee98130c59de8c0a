//! The SMTP engine for JS: a thin driver over [`Client`] (see `API.md`).

use std::fmt::Write as _;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::compose::WasmMessage;
use super::convert::{
    bytes, duration_to_ms, get, is_absent, ms_to_duration, object, opt_bool, opt_number,
    opt_string, string, type_name,
};
use super::error::{BResult, BindingError};
use crate::smtp::{
    Capabilities, Client, Config, Credentials, Direction, Event, Mechanism, RecipientResult, Reply,
    SentMessage, SmtpError, TlsPolicy,
};

// Events go to JS as JSON text (written here, read with `JSON.parse`): one
// string per batch of events instead of an object built property by
// property across the wasm boundary, which cost more than the SMTP work.

/// Appends `s` as a JSON string.
fn json_str(o: &mut String, s: &str) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

fn json_opt_str(o: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_str(o, s),
        None => o.push_str("null"),
    }
}

fn json_str_list(o: &mut String, list: &[String]) {
    o.push('[');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        json_str(o, s);
    }
    o.push(']');
}

fn json_bool(o: &mut String, b: bool) {
    o.push_str(if b { "true" } else { "false" });
}

/// `{ code, enhancedCode, text, lines }`.
fn json_reply(o: &mut String, r: &Reply) {
    let _ = write!(o, "{{\"code\":{},\"enhancedCode\":", r.code());
    match r.enhanced_code() {
        Some(c) => {
            let _ = write!(o, "\"{c}\"");
        }
        None => o.push_str("null"),
    }
    o.push_str(",\"text\":");
    json_str(o, &r.text());
    o.push_str(",\"lines\":");
    json_str_list(o, r.lines());
    o.push('}');
}

fn kind(e: &SmtpError) -> &'static str {
    match e {
        SmtpError::Reply { .. } => "Reply",
        SmtpError::ServiceClosing { .. } => "ServiceClosing",
        SmtpError::Protocol(_) => "Protocol",
        SmtpError::ReplyTooLong { .. } => "ReplyTooLong",
        SmtpError::TlsRequired(_) => "TlsRequired",
        SmtpError::AuthUnsupported { .. } => "AuthUnsupported",
        SmtpError::AuthFailed { .. } => "AuthFailed",
        SmtpError::Timeout { .. } => "Timeout",
        SmtpError::Closed => "Closed",
        SmtpError::NotConnected => "NotConnected",
        SmtpError::AllRecipientsRejected { .. } => "AllRecipientsRejected",
        SmtpError::RecipientsRejected { .. } => "RecipientsRejected",
        SmtpError::SmtpUtf8Required => "SmtpUtf8Required",
        SmtpError::EightBitMimeRequired => "EightBitMimeRequired",
        SmtpError::MessageTooLarge { .. } => "MessageTooLarge",
        SmtpError::SizeMismatch { .. } => "SizeMismatch",
        SmtpError::InvalidAddress(_) => "InvalidAddress",
        SmtpError::InvalidHelloName(_) => "InvalidHelloName",
        SmtpError::InvalidEnvelopeAddress { .. } => "InvalidEnvelopeAddress",
        SmtpError::InvalidCredentials { .. } => "InvalidCredentials",
        SmtpError::NoRecipients => "NoRecipients",
        SmtpError::Body(_) => "Body",
        SmtpError::BodyTimeout { .. } => "BodyTimeout",
        SmtpError::Misuse(_) => "Misuse",
        SmtpError::InvalidArgument(_) => "InvalidArgument",
    }
}

/// `SmtpErrorInfo` (see `API.md`).
fn json_error(o: &mut String, e: &SmtpError) {
    let recipients = match e {
        SmtpError::AllRecipientsRejected { recipients }
        | SmtpError::RecipientsRejected { recipients } => Some(recipients),
        _ => None,
    };
    // Rejected recipients: the codes of the first rejection, as emailjs
    // reports the code of the reply that failed (`SmtpError::reply`).
    let reply = e.reply();
    let _ = write!(
        o,
        "{{\"emailjsCode\":{},\"kind\":\"{}\",\"message\":",
        e.emailjs_code() as u8,
        kind(e)
    );
    json_str(o, &e.to_string());
    o.push_str(",\"smtpCode\":");
    match reply {
        Some(r) => {
            let _ = write!(o, "{}", r.code());
        }
        None => o.push_str("null"),
    }
    o.push_str(",\"enhancedCode\":");
    match reply.and_then(Reply::enhanced_code) {
        Some(c) => {
            let _ = write!(o, "\"{c}\"");
        }
        None => o.push_str("null"),
    }
    o.push_str(",\"command\":");
    json_opt_str(o, e.command());
    o.push_str(",\"retryable\":");
    json_bool(o, e.is_retryable());
    o.push_str(",\"greylisted\":");
    json_bool(o, e.is_greylisting());
    if let Some(list) = recipients {
        o.push_str(",\"recipients\":[");
        for (i, r) in list.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"address\":");
            json_str(o, &r.address);
            o.push_str(",\"reply\":");
            json_reply(o, &r.reply);
            o.push('}');
        }
        o.push(']');
    }
    o.push('}');
}

fn json_capabilities(o: &mut String, c: &Capabilities) {
    o.push_str("{\"serverName\":");
    json_str(o, &c.server_name);
    o.push_str(",\"pipelining\":");
    json_bool(o, c.pipelining);
    o.push_str(",\"size\":");
    match c.size {
        Some(s) => {
            let _ = write!(o, "{s}");
        }
        None => o.push_str("null"),
    }
    o.push_str(",\"eightBitMime\":");
    json_bool(o, c.eight_bit_mime);
    o.push_str(",\"smtpUtf8\":");
    json_bool(o, c.smtp_utf8);
    o.push_str(",\"starttls\":");
    json_bool(o, c.starttls);
    o.push_str(",\"auth\":");
    json_str_list(o, &c.auth);
    o.push_str(",\"chunking\":");
    json_bool(o, c.chunking);
    o.push_str(",\"extensions\":");
    json_str_list(o, &c.extensions);
    o.push('}');
}

/// Appends the event as a JSON object (`SmtpEvent` in `API.md`);
/// `outcome_unknown`: `Client::outcome_unknown` named this failed message;
/// `began`: its transaction began, or the session is not over (only a
/// closed session says for sure that it never will).
fn json_event(o: &mut String, e: &Event, outcome_unknown: bool, began: bool) {
    match e {
        Event::Ready(c) => {
            o.push_str("{\"type\":\"ready\",\"capabilities\":");
            json_capabilities(o, c);
        }
        Event::StartTls => o.push_str("{\"type\":\"starttls\""),
        Event::MessageSent(s) => {
            let _ = write!(o, "{{\"type\":\"sent\",\"id\":{},\"reply\":", s.id.0);
            json_reply(o, &s.reply);
            o.push_str(",\"recipients\":[");
            for (i, r) in s.recipients.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                json_recipient(o, r);
            }
            o.push(']');
        }
        Event::MessageFailed { id, error } => {
            let _ = write!(o, "{{\"type\":\"failed\",\"id\":{},\"error\":", id.0);
            json_error(o, error);
            o.push_str(",\"outcomeUnknown\":");
            json_bool(o, outcome_unknown);
            o.push_str(",\"began\":");
            json_bool(o, began);
        }
        Event::Noop(r) => {
            o.push_str("{\"type\":\"noop\",\"reply\":");
            json_reply(o, r);
        }
        Event::Reply { command, reply } => {
            o.push_str("{\"type\":\"reply\",\"command\":");
            json_str(o, command);
            o.push_str(",\"reply\":");
            json_reply(o, reply);
        }
        Event::Closed { error } => {
            o.push_str("{\"type\":\"closed\",\"error\":");
            match error {
                Some(e) => json_error(o, e),
                None => o.push_str("null"),
            }
        }
    }
    o.push('}');
}

fn json_recipient(o: &mut String, r: &RecipientResult) {
    o.push_str("{\"address\":");
    json_str(o, &r.address);
    o.push_str(",\"accepted\":");
    json_bool(o, r.accepted());
    o.push_str(",\"reply\":");
    json_reply(o, &r.reply);
    o.push('}');
}

/// The SMTP engine, driven by the JS transport (see `API.md`).
#[wasm_bindgen]
pub struct WasmSmtpClient {
    client: Client,
    /// Bytes from the engine not yet copied out by `pollTransmitInto` or
    /// `step` (`out[out_pos..]`).
    out: Vec<u8>,
    out_pos: usize,
    /// The bytes of the last `step`, at `outPtr`.
    flight: Vec<u8>,
    /// The events of the last `step`, a JSON array (empty: none).
    events: String,
    /// The events of a `step` while they are sorted into JSON or records.
    polled: Vec<Event>,
    /// The last `step`'s `sent` events as records (`STEP_SENT`): numbers…
    sent_nums: Vec<f64>,
    /// …and the text of their strings, one after the other.
    sent_text: String,
    /// What the last `step` reports besides its result, at `statePtr` (see
    /// `STATE_*`): boxed, so that its address stays put.
    state: Box<[f64; STATE_LEN]>,
    /// Bytes from the server for `stepInput`, written in place by JS
    /// (`inputBuffer`): no allocation per reply.
    input: Vec<u8>,
}

/// `step`'s result: bit 0, there are events (`takeEvents`); bit 1, the body
/// waits for a fed attachment (`bodyPending`); bit 2, the output reached
/// `max` (call `step` again for more); bit 3, the events were all `sent`
/// events, given as records at `statePtr` instead (no `takeEvents`); the
/// rest, the number of bytes at `outPtr` (`result >>> 4`).
const STEP_EVENTS: u32 = 1;
const STEP_BODY_PENDING: u32 = 2;
const STEP_MORE: u32 = 4;
const STEP_SENT: u32 = 8;
/// How far `step`'s byte count is shifted.
const STEP_SHIFT: u32 = 4;

/// The state block (`statePtr`, f64s): where the last `step`'s bytes are
/// (`outPtr`)…
const STATE_OUT_PTR: usize = 0;
/// …the engine's deadline after it (`pollTimeout`; NaN for none)…
const STATE_DEADLINE: usize = 1;
/// …its `sent` records (`STEP_SENT`): where their numbers are and how many…
const STATE_SENT_PTR: usize = 2;
const STATE_SENT_LEN: usize = 3;
/// …where their text is, its length in bytes, and 1 when it is ASCII.
const STATE_TEXT_PTR: usize = 4;
const STATE_TEXT_LEN: usize = 5;
const STATE_TEXT_ASCII: usize = 6;
const STATE_LEN: usize = 8;

/// A string of a `sent` record: its text goes to `text`, its length in
/// UTF-16 units (what JS slices by) to `nums`.
fn record_str(nums: &mut Vec<f64>, text: &mut String, s: &str) {
    text.push_str(s);
    record_units(nums, s);
}

/// The length of `s` in UTF-16 units, to `nums`.
fn record_units(nums: &mut Vec<f64>, s: &str) {
    let units = if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    };
    nums.push(units as f64);
}

/// A reply of a `sent` record: code, enhanced code (its length; -1 for
/// none), text, line count, lines.
fn record_reply(nums: &mut Vec<f64>, text: &mut String, r: &Reply) {
    nums.push(f64::from(r.code()));
    match r.enhanced_code() {
        Some(c) => {
            let start = text.len();
            c.push_to(text);
            nums.push((text.len() - start) as f64);
        }
        None => nums.push(-1.0),
    }
    let start = text.len();
    r.push_text(text);
    record_units(nums, &text[start..]);
    nums.push(r.lines().len() as f64);
    for line in r.lines() {
        record_str(nums, text, line);
    }
}

/// A `sent` event as a record (read back by `js/lib/connection.js`,
/// `readSent`, into the `SmtpEvent` that `takeEvents` would give): id,
/// reply, recipient count, then per recipient its address, 1 or 0
/// (accepted) and its reply.
fn record_sent(nums: &mut Vec<f64>, text: &mut String, s: &SentMessage) {
    nums.push(s.id.0 as f64);
    record_reply(nums, text, &s.reply);
    nums.push(s.recipients.len() as f64);
    for r in &s.recipients {
        record_str(nums, text, &r.address);
        nums.push(if r.accepted() { 1.0 } else { 0.0 });
        record_reply(nums, text, &r.reply);
    }
}

fn config_from(value: &JsValue) -> BResult<Config> {
    let mut config = Config::default();
    if is_absent(value) {
        return Ok(config);
    }
    let obj = object(value, "config")?;
    let prop = |k: &str| get(obj, k, k);
    if let Some(domain) = opt_string(&prop("domain")?, "domain")? {
        config.hello_name = domain;
    }
    if let Some(tls) = opt_string(&prop("tls")?, "tls")? {
        config.tls = match tls.as_str() {
            "never" => TlsPolicy::Never,
            "opportunistic" => TlsPolicy::Opportunistic,
            "required" => TlsPolicy::Required,
            _ => {
                return Err(BindingError::invalid(
                    "tls",
                    format!("tls must be 'never', 'opportunistic' or 'required', got {tls:?}"),
                ))
            }
        };
    }
    let user = opt_string(&prop("user")?, "user")?;
    let password = opt_string(&prop("password")?, "password")?;
    let xoauth2 = opt_string(&prop("xoauth2")?, "xoauth2")?;
    let auth = prop("authentication")?;
    if !is_absent(&auth) {
        if !js_sys::Array::is_array(&auth) {
            return Err(BindingError::invalid(
                "authentication",
                format!(
                    "authentication must be an array of mechanism names, got {}",
                    type_name(&auth)
                ),
            ));
        }
        let arr: &js_sys::Array = auth.unchecked_ref();
        let mut mechs = Vec::new();
        for i in 0..arr.length() {
            let f = format!("authentication[{i}]");
            let name = string(&arr.get(i), &f)?;
            let m = match name.to_ascii_uppercase().as_str() {
                "PLAIN" => Mechanism::Plain,
                "LOGIN" => Mechanism::Login,
                "CRAM-MD5" => Mechanism::CramMd5,
                "XOAUTH2" => Mechanism::XOAuth2,
                _ => {
                    return Err(BindingError::invalid(
                        &f,
                        format!("unknown AUTH mechanism {name:?}"),
                    ))
                }
            };
            if !mechs.contains(&m) {
                mechs.push(m);
            }
        }
        if mechs.is_empty() {
            return Err(BindingError::invalid(
                "authentication",
                "authentication must name at least one mechanism",
            ));
        }
        config.authentication = mechs;
    }
    let token_given = xoauth2.is_some();
    match (user, password, xoauth2) {
        (Some(u), _, Some(token)) => {
            config.credentials = Some(Credentials::new(u, token));
            config.authentication = vec![Mechanism::XOAuth2];
        }
        (Some(u), Some(p), None) => config.credentials = Some(Credentials::new(u, p)),
        (Some(_), None, None) => {
            return Err(BindingError::invalid(
                "password",
                "a user needs a password (or an xoauth2 token)",
            ))
        }
        (None, Some(_), _) | (None, None, Some(_)) => {
            return Err(BindingError::invalid(
                "user",
                "a password or an xoauth2 token needs a user",
            ))
        }
        (None, None, None) => {}
    }
    if let Some(Err(SmtpError::InvalidCredentials { field, reason })) =
        config.credentials.as_ref().map(Credentials::check)
    {
        let field = match (field, token_given) {
            ("user", _) => "user",
            (_, true) => "xoauth2",
            _ => "password",
        };
        return Err(BindingError::invalid(field, format!("{field}: {reason}")));
    }
    let flag = |k: &str, default: bool| -> BResult<bool> {
        Ok(opt_bool(&prop(k)?, k)?.unwrap_or(default))
    };
    config.allow_insecure_auth = flag("allowInsecureAuth", config.allow_insecure_auth)?;
    config.pipelining = flag("pipelining", config.pipelining)?;
    config.chunking = flag("chunking", config.chunking)?;
    config.require_all_recipients = flag("requireAllRecipients", config.require_all_recipients)?;
    config.transcript = flag("transcript", config.transcript)?;
    if let Some(ms) = opt_number(&prop("timeout")?, "timeout")? {
        if ms <= 0.0 {
            return Err(BindingError::invalid(
                "timeout",
                "timeout must be a positive number of ms",
            ));
        }
        config.timeout = Some(ms_to_duration(ms));
    }
    Ok(config)
}

fn smtp_result(r: Result<(), SmtpError>) -> Result<(), JsValue> {
    r.map_err(|e| BindingError::from(e).into())
}

#[wasm_bindgen]
impl WasmSmtpClient {
    /// A session on a new connection (`encrypted`: implicit TLS already).
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue, encrypted: bool, now_ms: f64) -> Result<WasmSmtpClient, JsValue> {
        let config = config_from(&config)?;
        let client =
            Client::new(config, encrypted, ms_to_duration(now_ms)).map_err(BindingError::from)?;
        Ok(WasmSmtpClient {
            client,
            out: Vec::new(),
            out_pos: 0,
            flight: Vec::new(),
            events: String::new(),
            polled: Vec::new(),
            sent_nums: Vec::new(),
            sent_text: String::new(),
            state: Box::new([0.0; STATE_LEN]),
            input: Vec::new(),
        })
    }

    /// Queues a message; returns its id (the `id` of its `sent`/`failed`
    /// event). The `WasmMessage` is emptied.
    pub fn send(&mut self, message: &mut WasmMessage, now_ms: f64) -> Result<f64, JsValue> {
        let message = message.take()?;
        let id = self
            .client
            .send_message(message, ms_to_duration(now_ms))
            .map_err(BindingError::from)?;
        Ok(id.0 as f64)
    }

    /// Sends NOOP (a `noop` event carries the reply).
    pub fn noop(&mut self, now_ms: f64) -> Result<(), JsValue> {
        self.client
            .noop(ms_to_duration(now_ms))
            .map_err(|e| BindingError::from(e).into())
    }

    /// Low-level `MAIL FROM:<from> params…` (`from` without angle brackets,
    /// `""` for the null path; `params` an optional array of
    /// `KEYWORD[=value]` strings). A `reply` event answers.
    pub fn mail(&mut self, from: JsValue, params: JsValue, now_ms: f64) -> Result<(), JsValue> {
        let from = string(&from, "from")?;
        let mut list = Vec::new();
        if !is_absent(&params) {
            if !js_sys::Array::is_array(&params) {
                return Err(BindingError::invalid(
                    "params",
                    format!(
                        "params must be an array of strings, got {}",
                        type_name(&params)
                    ),
                )
                .into());
            }
            let arr: &js_sys::Array = params.unchecked_ref();
            for i in 0..arr.length() {
                list.push(string(&arr.get(i), &format!("params[{i}]"))?);
            }
        }
        smtp_result(self.client.mail(&from, &list, ms_to_duration(now_ms)))
    }

    /// Low-level `RCPT TO:<to>` (`to` without angle brackets). A `reply`
    /// event answers.
    pub fn rcpt(&mut self, to: JsValue, now_ms: f64) -> Result<(), JsValue> {
        let to = string(&to, "to")?;
        smtp_result(self.client.rcpt(&to, ms_to_duration(now_ms)))
    }

    /// Low-level `DATA`; a `reply` event answers (354 opens the content).
    pub fn data(&mut self, now_ms: f64) -> Result<(), JsValue> {
        smtp_result(self.client.data(ms_to_duration(now_ms)))
    }

    /// Message content after DATA's 354 (a string, sent as UTF-8, or a
    /// `Uint8Array`/`ArrayBuffer`): CRLF-normalised and dot-stuffed.
    #[wasm_bindgen(js_name = dataChunk)]
    pub fn data_chunk(&mut self, chunk: JsValue) -> Result<(), JsValue> {
        let chunk = if chunk.is_string() {
            string(&chunk, "chunk")?.into_bytes()
        } else {
            bytes(&chunk, "chunk")?
        };
        smtp_result(self.client.data_chunk(&chunk))
    }

    /// Ends the content (`.` CRLF); a `reply` event with the command
    /// `end of data` carries the final reply.
    #[wasm_bindgen(js_name = dataEnd)]
    pub fn data_end(&mut self, now_ms: f64) -> Result<(), JsValue> {
        smtp_result(self.client.data_end(ms_to_duration(now_ms)))
    }

    /// Low-level `RSET`; a `reply` event answers.
    pub fn rset(&mut self, now_ms: f64) -> Result<(), JsValue> {
        smtp_result(self.client.rset(ms_to_duration(now_ms)))
    }

    /// `HELP [topic]` (`topic` a string or absent); a `reply` event answers.
    pub fn help(&mut self, topic: JsValue, now_ms: f64) -> Result<(), JsValue> {
        let topic = opt_string(&topic, "topic")?;
        smtp_result(self.client.help(topic.as_deref(), ms_to_duration(now_ms)))
    }

    /// `VRFY string`; a `reply` event answers.
    pub fn vrfy(&mut self, what: JsValue, now_ms: f64) -> Result<(), JsValue> {
        let what = string(&what, "address")?;
        smtp_result(self.client.vrfy(&what, ms_to_duration(now_ms)))
    }

    /// `EXPN string`; a `reply` event answers.
    pub fn expn(&mut self, list: JsValue, now_ms: f64) -> Result<(), JsValue> {
        let list = string(&list, "address")?;
        smtp_result(self.client.expn(&list, ms_to_duration(now_ms)))
    }

    /// QUIT once the queue is empty.
    pub fn quit(&mut self, now_ms: f64) {
        self.client.quit(ms_to_duration(now_ms));
    }

    /// Bytes from the server (a `Uint8Array` or an `ArrayBuffer`).
    pub fn receive(&mut self, data: JsValue, now_ms: f64) -> Result<(), JsValue> {
        let data = bytes(&data, "bytes")?;
        self.client.receive(&data, ms_to_duration(now_ms));
        Ok(())
    }

    /// The TLS handshake after a `starttls` event is done.
    #[wasm_bindgen(js_name = tlsEstablished)]
    pub fn tls_established(&mut self, now_ms: f64) {
        self.client.tls_established(ms_to_duration(now_ms));
    }

    /// The connection was closed (EOF or error).
    #[wasm_bindgen(js_name = connectionClosed)]
    pub fn connection_closed(&mut self, now_ms: f64) {
        self.client.connection_closed(ms_to_duration(now_ms));
    }

    /// The deadline from `pollTimeout` passed.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_ms: f64) {
        self.client.handle_timeout(ms_to_duration(now_ms));
    }

    /// Bytes to write to the server; call until `undefined`.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self) -> Option<Uint8Array> {
        if self.out_pos < self.out.len() {
            let rest = Uint8Array::from(&self.out[self.out_pos..]);
            self.out.clear();
            self.out_pos = 0;
            return Some(rest);
        }
        self.client
            .poll_transmit()
            .map(|b| Uint8Array::from(&b[..]))
    }

    /// Like `pollTransmit`, into a buffer the caller reuses (no new JS
    /// buffer per chunk, which keeps a long message's garbage, and so the
    /// process's memory, low): fills `buf` from its start with as many
    /// bytes as there are, up to its length, and returns how many (0:
    /// nothing to write). Call until 0.
    #[wasm_bindgen(js_name = pollTransmitInto)]
    pub fn poll_transmit_into(&mut self, buf: &Uint8Array) -> u32 {
        let cap = buf.length() as usize;
        let mut n = 0;
        while n < cap {
            if self.out_pos >= self.out.len() && !self.refill_out() {
                break;
            }
            let take = (self.out.len() - self.out_pos).min(cap - n);
            buf.subarray(n as u32, (n + take) as u32)
                .copy_from(&self.out[self.out_pos..self.out_pos + take]);
            self.out_pos += take;
            n += take;
        }
        n as u32
    }

    /// The next event (see `API.md`); call until `undefined`.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> Result<JsValue, JsValue> {
        match self.client.poll_event() {
            Some(e) => {
                let mut json = String::new();
                self.event_json(&mut json, &e);
                js_sys::JSON::parse(&json)
            }
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Takes the engine's next output into `out` (from its start); false
    /// when there is none.
    fn refill_out(&mut self) -> bool {
        self.out_pos = 0;
        match self.client.poll_transmit() {
            Some(bytes) => {
                self.out = bytes;
                true
            }
            None => {
                self.out.clear();
                false
            }
        }
    }

    fn event_json(&self, o: &mut String, e: &Event) {
        let (unknown, began) = match e {
            Event::MessageFailed { id, .. } => (
                self.client.outcome_unknown() == Some(*id),
                !self.client.is_closed() || self.client.began(*id),
            ),
            _ => (false, true),
        };
        json_event(o, e, unknown, began);
    }

    /// One turn of the transport's loop in one call: feeds `input` (bytes
    /// from the server, if any) at `nowMs`, then collects up to `max` bytes
    /// to write (what `pollTransmit` would give; read them at `outPtr`
    /// before the next call into the module) and every event (`takeEvents`).
    /// Returns `(bytes << 4) | flags`: 1, events; 2, the body waits for a fed
    /// attachment (`bodyPending`); 4, `max` was reached (there may be more);
    /// 8, the events were all `sent` events, as records (not `takeEvents`).
    /// `outPtr`, the deadline and the records are also in the state block
    /// (`statePtr`).
    pub fn step(&mut self, input: Option<Vec<u8>>, now_ms: f64, max: u32) -> u32 {
        self.turn(input.as_deref().unwrap_or_default(), now_ms, max)
    }

    /// A buffer of at least `len` bytes in the wasm memory for the input of
    /// `stepInput`; returns where it is (it stays there until a later call
    /// asks for more room).
    #[wasm_bindgen(js_name = inputBuffer)]
    pub fn input_buffer(&mut self, len: u32) -> f64 {
        let len = len as usize;
        if self.input.len() < len {
            self.input.resize(len, 0);
        }
        self.input.as_ptr() as usize as f64
    }

    /// `step` with its input already in the `inputBuffer`: its first `len`
    /// bytes (0: none).
    #[wasm_bindgen(js_name = stepInput)]
    pub fn step_input(&mut self, len: u32, now_ms: f64, max: u32) -> u32 {
        let input = std::mem::take(&mut self.input);
        let n = (len as usize).min(input.len());
        let r = self.turn(&input[..n], now_ms, max);
        self.input = input;
        r
    }
}

impl WasmSmtpClient {
    /// `step`: feeds `input`, then collects the bytes and the events.
    fn turn(&mut self, input: &[u8], now_ms: f64, max: u32) -> u32 {
        // Without input this only moves the engine's clock: a deadline armed
        // by what goes out now counts from now (not from the last reply or
        // fed data, which may be long ago after a wait for the socket).
        self.client.receive(input, ms_to_duration(now_ms));
        // The length goes back shifted by 4 bits: at most 2^27 bytes.
        let cap = (max as usize).min(1 << 27);
        self.flight.clear();
        while self.flight.len() < cap {
            if self.out_pos >= self.out.len() {
                match self.client.poll_transmit() {
                    // A whole flight that fits: no copy.
                    Some(bytes) if self.flight.is_empty() && bytes.len() <= cap => {
                        self.flight = bytes;
                        continue;
                    }
                    Some(bytes) => {
                        self.out = bytes;
                        self.out_pos = 0;
                    }
                    None => {
                        self.out.clear();
                        self.out_pos = 0;
                        break;
                    }
                }
            }
            let take = (self.out.len() - self.out_pos).min(cap - self.flight.len());
            self.flight
                .extend_from_slice(&self.out[self.out_pos..self.out_pos + take]);
            self.out_pos += take;
        }
        let mut flags = 0;
        if cap > 0 && self.flight.len() >= cap {
            flags |= STEP_MORE;
        }
        self.events.clear();
        self.sent_nums.clear();
        self.sent_text.clear();
        let mut polled = std::mem::take(&mut self.polled);
        while let Some(e) = self.client.poll_event() {
            polled.push(e);
        }
        if !polled.is_empty() {
            // The usual turn's only event (a message accepted) as numbers
            // and one text, which JS reads without JSON.parse; any other
            // event makes the whole batch JSON, which keeps their order.
            if polled.iter().all(|e| matches!(e, Event::MessageSent(_))) {
                for e in &polled {
                    if let Event::MessageSent(s) = e {
                        record_sent(&mut self.sent_nums, &mut self.sent_text, s);
                    }
                }
                flags |= STEP_SENT;
            } else {
                let mut events = std::mem::take(&mut self.events);
                for e in &polled {
                    events.push(if events.is_empty() { '[' } else { ',' });
                    self.event_json(&mut events, e);
                }
                events.push(']');
                self.events = events;
                flags |= STEP_EVENTS;
            }
            polled.clear();
        }
        self.polled = polled;
        if self.client.body_pending().is_some() {
            flags |= STEP_BODY_PENDING;
        }
        let state = &mut self.state;
        state[STATE_OUT_PTR] = self.flight.as_ptr() as usize as f64;
        state[STATE_DEADLINE] = self.client.poll_timeout().map_or(f64::NAN, duration_to_ms);
        state[STATE_SENT_PTR] = self.sent_nums.as_ptr() as usize as f64;
        state[STATE_SENT_LEN] = self.sent_nums.len() as f64;
        state[STATE_TEXT_PTR] = self.sent_text.as_ptr() as usize as f64;
        state[STATE_TEXT_LEN] = self.sent_text.len() as f64;
        state[STATE_TEXT_ASCII] = if self.sent_text.is_ascii() { 1.0 } else { 0.0 };
        ((self.flight.len() as u32) << STEP_SHIFT) | flags
    }
}

#[wasm_bindgen]
impl WasmSmtpClient {
    /// Where the state block is in the wasm memory (`wasmMemory()`): eight
    /// f64s that each `step` writes, for the caller to read after it (valid
    /// until the next call into the module): 0, `outPtr`; 1, the deadline
    /// (`pollTimeout`, NaN for none); 2 and 3, where the numbers of the
    /// `sent` records (`STEP_SENT`) are and how many; 4 and 5, where their
    /// text (UTF-8) is and its length in bytes; 6, 1 when that text is
    /// ASCII. The block stays where it is for the engine's life.
    #[wasm_bindgen(getter, js_name = statePtr)]
    pub fn state_ptr(&self) -> f64 {
        self.state.as_ptr() as usize as f64
    }

    /// Where the bytes of the last `step` start in the wasm memory
    /// (`wasmMemory()`).
    #[wasm_bindgen(getter, js_name = outPtr)]
    pub fn out_ptr(&self) -> f64 {
        self.flight.as_ptr() as usize as f64
    }

    /// The events of the last `step`, a JSON array of `SmtpEvent`s (`"[]"`
    /// when there were none).
    #[wasm_bindgen(js_name = takeEvents)]
    pub fn take_events(&mut self) -> String {
        if self.events.is_empty() {
            return "[]".into();
        }
        std::mem::take(&mut self.events)
    }

    /// The absolute deadline (ms, same clock as `nowMs`), if any.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.client.poll_timeout().map(duration_to_ms)
    }

    /// The transcript so far (AUTH secrets redacted), emptied.
    #[wasm_bindgen(js_name = takeTranscript)]
    pub fn take_transcript(&mut self) -> Result<JsValue, JsValue> {
        // Built with js_sys (not serde): an array of plain objects
        // `{ direction, text }`.
        let lines = js_sys::Array::new();
        let (direction, text) = (JsValue::from_str("direction"), JsValue::from_str("text"));
        for l in self.client.take_transcript() {
            let obj = js_sys::Object::new();
            let dir = match l.direction {
                Direction::Client => "client",
                Direction::Server => "server",
            };
            // Setting a property on a fresh plain object cannot fail.
            let _ = js_sys::Reflect::set(&obj, &direction, &JsValue::from_str(dir));
            let _ = js_sys::Reflect::set(&obj, &text, &JsValue::from_str(&l.text));
            lines.push(&obj);
        }
        Ok(lines.into())
    }

    /// A fed attachment has new data for the message whose body was
    /// waiting (`bodyPending`); the next `pollTransmit` pulls again.
    #[wasm_bindgen(js_name = bodyReady)]
    pub fn body_ready(&mut self, now_ms: f64) {
        self.client.body_ready(ms_to_duration(now_ms));
    }

    /// The id of the message whose body waits for a fed attachment's data,
    /// or `undefined`.
    #[wasm_bindgen(getter, js_name = bodyPending)]
    pub fn body_pending(&self) -> Option<f64> {
        self.client.body_pending().map(|id| id.0 as f64)
    }

    /// The session is over.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Nothing queued or in flight.
    #[wasm_bindgen(getter)]
    pub fn idle(&self) -> bool {
        self.client.is_idle()
    }
}
