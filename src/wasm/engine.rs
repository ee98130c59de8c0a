//! The SMTP engine for JS: a thin driver over [`Client`] (see `API.md`).

use js_sys::Uint8Array;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::compose::WasmMessage;
use super::convert::{
    bytes, duration_to_ms, get, is_absent, ms_to_duration, object, opt_bool, opt_number,
    opt_string, string, type_name,
};
use super::error::{BResult, BindingError};
use super::to_js;
use crate::smtp::{
    Capabilities, Client, Config, Credentials, Direction, Event, Mechanism, RecipientResult, Reply,
    SmtpError, TlsPolicy,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplyJs {
    code: u16,
    enhanced_code: Option<String>,
    text: String,
    lines: Vec<String>,
}

impl From<&Reply> for ReplyJs {
    fn from(r: &Reply) -> Self {
        ReplyJs {
            code: r.code(),
            enhanced_code: r.enhanced_code().map(|c| c.to_string()),
            text: r.text(),
            lines: r.lines().to_vec(),
        }
    }
}

#[derive(Serialize)]
struct RecipientJs {
    address: String,
    reply: ReplyJs,
}

#[derive(Serialize)]
struct RecipientResultJs {
    address: String,
    accepted: bool,
    reply: ReplyJs,
}

impl From<&RecipientResult> for RecipientResultJs {
    fn from(r: &RecipientResult) -> Self {
        RecipientResultJs {
            address: r.address.clone(),
            accepted: r.accepted(),
            reply: (&r.reply).into(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorInfo {
    emailjs_code: u8,
    kind: &'static str,
    message: String,
    smtp_code: Option<u16>,
    enhanced_code: Option<String>,
    command: Option<String>,
    retryable: bool,
    greylisted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<Vec<RecipientJs>>,
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
        SmtpError::Misuse(_) => "Misuse",
        SmtpError::InvalidArgument(_) => "InvalidArgument",
    }
}

impl From<&SmtpError> for ErrorInfo {
    fn from(e: &SmtpError) -> Self {
        let recipients = match e {
            SmtpError::AllRecipientsRejected { recipients }
            | SmtpError::RecipientsRejected { recipients } => Some(
                recipients
                    .iter()
                    .map(|r| RecipientJs {
                        address: r.address.clone(),
                        reply: (&r.reply).into(),
                    })
                    .collect(),
            ),
            _ => None,
        };
        // Rejected recipients: the codes of the first rejection, as emailjs
        // reports the code of the reply that failed.
        let reply = e.reply().or_else(|| match e {
            SmtpError::AllRecipientsRejected { recipients }
            | SmtpError::RecipientsRejected { recipients } => {
                recipients.iter().find(|r| !r.accepted()).map(|r| &r.reply)
            }
            _ => None,
        });
        ErrorInfo {
            emailjs_code: e.emailjs_code() as u8,
            kind: kind(e),
            message: e.to_string(),
            smtp_code: reply.map(Reply::code),
            enhanced_code: reply.and_then(Reply::enhanced_code).map(|c| c.to_string()),
            command: e.command().map(str::to_owned),
            retryable: e.is_retryable(),
            greylisted: e.is_greylisting(),
            recipients,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CapabilitiesJs {
    server_name: String,
    pipelining: bool,
    size: Option<f64>,
    eight_bit_mime: bool,
    smtp_utf8: bool,
    starttls: bool,
    auth: Vec<String>,
    chunking: bool,
    extensions: Vec<String>,
}

impl From<Capabilities> for CapabilitiesJs {
    fn from(c: Capabilities) -> Self {
        CapabilitiesJs {
            server_name: c.server_name,
            pipelining: c.pipelining,
            size: c.size.map(|s| s as f64),
            eight_bit_mime: c.eight_bit_mime,
            smtp_utf8: c.smtp_utf8,
            starttls: c.starttls,
            auth: c.auth,
            chunking: c.chunking,
            extensions: c.extensions,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum EventJs {
    Ready {
        capabilities: CapabilitiesJs,
    },
    Starttls,
    Sent {
        id: f64,
        reply: ReplyJs,
        recipients: Vec<RecipientResultJs>,
    },
    Failed {
        id: f64,
        error: ErrorInfo,
        /// The end of the message's data was handed over before the
        /// session failed (`Client::outcome_unknown`): the server may have
        /// accepted it.
        #[serde(rename = "outcomeUnknown")]
        outcome_unknown: bool,
    },
    Noop {
        reply: ReplyJs,
    },
    Reply {
        command: String,
        reply: ReplyJs,
    },
    Closed {
        error: Option<ErrorInfo>,
    },
}

impl From<Event> for EventJs {
    fn from(e: Event) -> Self {
        match e {
            Event::Ready(c) => EventJs::Ready {
                capabilities: c.into(),
            },
            Event::StartTls => EventJs::Starttls,
            Event::MessageSent(s) => EventJs::Sent {
                id: s.id.0 as f64,
                reply: (&s.reply).into(),
                recipients: s.recipients.iter().map(Into::into).collect(),
            },
            Event::MessageFailed { id, error } => EventJs::Failed {
                id: id.0 as f64,
                error: (&error).into(),
                outcome_unknown: false,
            },
            Event::Noop(r) => EventJs::Noop { reply: (&r).into() },
            Event::Reply { command, reply } => EventJs::Reply {
                command,
                reply: (&reply).into(),
            },
            Event::Closed { error } => EventJs::Closed {
                error: error.as_ref().map(Into::into),
            },
        }
    }
}

#[derive(Serialize)]
struct TranscriptJs {
    direction: &'static str,
    text: String,
}

/// The SMTP engine, driven by the JS transport (see `API.md`).
#[wasm_bindgen]
pub struct WasmSmtpClient {
    client: Client,
    /// Bytes from the engine not yet copied out by `pollTransmitInto`.
    out: Vec<u8>,
    out_pos: usize,
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
            if self.out_pos >= self.out.len() {
                match self.client.poll_transmit() {
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
                let unknown = matches!(&e, Event::MessageFailed { id, .. }
                    if self.client.outcome_unknown() == Some(*id));
                let mut event = EventJs::from(e);
                if let EventJs::Failed {
                    outcome_unknown, ..
                } = &mut event
                {
                    *outcome_unknown = unknown;
                }
                Ok(to_js(&event)?)
            }
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The absolute deadline (ms, same clock as `nowMs`), if any.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.client.poll_timeout().map(duration_to_ms)
    }

    /// The transcript so far (AUTH secrets redacted), emptied.
    #[wasm_bindgen(js_name = takeTranscript)]
    pub fn take_transcript(&mut self) -> Result<JsValue, JsValue> {
        let lines: Vec<TranscriptJs> = self
            .client
            .take_transcript()
            .into_iter()
            .map(|l| TranscriptJs {
                direction: match l.direction {
                    Direction::Client => "client",
                    Direction::Server => "server",
                },
                text: l.text,
            })
            .collect();
        Ok(to_js(&lines)?)
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
