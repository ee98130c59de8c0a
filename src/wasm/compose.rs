//! The composer for JS: emailjs's option object → [`MessageBuilder`], and
//! emailjs's helper functions.

use std::cell::{Cell, RefCell};

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{
    self, bytes, decode_spec, is_absent, opt_bool, opt_bool_of, opt_number, opt_number_of,
    opt_string, opt_string_of, string, string_or_array, string_or_array_of, AnyVal, Val,
};
use super::error::{BResult, BindingError};
use crate::address::{parse_address_list, ParsedAddress};
use crate::encoding::{qp, rfc2047, Charset, TransferEncoding};
use crate::header::DateTime;
use crate::mime::{Attachment, Feed, Message, MessageBuilder};

/// A composed message (see `API.md`).
#[wasm_bindgen]
pub struct WasmMessage {
    message: Option<Message>,
    /// The feeds of its fed attachments, with their ids (`feed: id`).
    feeds: Vec<(u32, Feed)>,
}

impl WasmMessage {
    fn get(&self) -> BResult<&Message> {
        self.message.as_ref().ok_or_else(|| {
            BindingError::invalid("message", "the message was already given to send()")
        })
    }

    /// Takes the message out (for `WasmSmtpClient.send`).
    pub(crate) fn take(&mut self) -> BResult<Message> {
        self.get()?;
        Ok(self.message.take().expect("checked above"))
    }
}

/// A plain JS object with these properties (what serde-wasm-bindgen's
/// `json_compatible` gives, without its code for these few shapes).
fn js_object(props: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (k, v) in props {
        // Setting a property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(k), v);
    }
    obj.into()
}

#[wasm_bindgen]
impl WasmMessage {
    /// Builds and validates a message from emailjs's option names.
    #[wasm_bindgen(js_name = fromOptions)]
    pub fn from_options(options: JsValue) -> Result<WasmMessage, JsValue> {
        Self::build(&AnyVal::Js(options))
    }

    /// [`WasmMessage::from_options`] from the compact encoding of the
    /// options at [`spec_buffer`]'s pointer (as [`compose_spec`]; on any
    /// error the JS layer calls `fromOptions` for the exact one).
    #[wasm_bindgen(js_name = fromSpec)]
    pub fn from_spec(len: u32) -> Result<WasmMessage, JsValue> {
        SPEC.with(|cell| {
            let spec_buf = cell.borrow();
            let buf = spec_buf.get(..len as usize).unwrap_or_default();
            let spec = decode_spec(buf)
                .ok_or_else(|| BindingError::invalid("options", convert::SPEC_FALLBACK))?;
            Self::build(&AnyVal::Spec(&spec))
        })
    }

    /// `fromSpec` into this message object, replacing what it holds (the
    /// npm package gives it an emptied one: a message object made, and
    /// finalized, per message costs more than composing a small one). On
    /// an error it is left as it was.
    #[wasm_bindgen(js_name = refillSpec)]
    pub fn refill_spec(&mut self, len: u32) -> Result<(), JsValue> {
        *self = Self::from_spec(len)?;
        Ok(())
    }

    fn build(options: &AnyVal) -> Result<WasmMessage, JsValue> {
        let mut feeds = Vec::new();
        let (builder, fields) = builder_from_options(options, &mut feeds)?;
        let message = builder
            .build()
            .map_err(|e| BindingError::from(e).map_field(|f| fields.to_js(f)))?;
        Ok(WasmMessage {
            message: Some(message),
            feeds,
        })
    }

    /// The feeds of the attachments given as `feed: id`: an array with
    /// each feed at its id (emptied after the first call). The JS layer
    /// pushes each one's bytes while the message is sent (see `API.md`).
    #[wasm_bindgen(js_name = takeFeeds)]
    pub fn take_feeds(&mut self) -> Array {
        let out = Array::new();
        for (id, feed) in std::mem::take(&mut self.feeds) {
            out.set(id, JsValue::from(WasmFeed { feed }));
        }
        out
    }

    /// The rendered message (default options: UTF-8 headers only when the
    /// message needs them). The buffer is reserved up front, so a message
    /// too large for the wasm memory is an error, not a trap.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Result<Uint8Array, JsValue> {
        Ok(Uint8Array::from(&render(self.get()?)?[..]))
    }

    /// The rendered message as a string (lossy for 8-bit content that is
    /// not UTF-8).
    #[wasm_bindgen(js_name = toString)]
    pub fn to_js_string(&self) -> Result<String, JsValue> {
        let bytes = render(self.get()?)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// `{ from: string | null, to: string[] }`: the SMTP envelope.
    pub fn envelope(&self) -> Result<JsValue, JsValue> {
        let env = self.get()?.envelope();
        let from = env
            .from
            .as_ref()
            .map_or(JsValue::NULL, |a| JsValue::from_str(a.utf8()));
        let to: Array = env.to.iter().map(|a| JsValue::from_str(a.utf8())).collect();
        Ok(js_object(&[("from", from), ("to", to.into())]))
    }

    /// The Message-ID without `<>`.
    #[wasm_bindgen(js_name = messageId)]
    pub fn message_id(&self) -> Result<String, JsValue> {
        Ok(self.get()?.message_id().to_owned())
    }

    /// The exact rendered size in bytes (with the default options).
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> Option<f64> {
        let m = self.message.as_ref()?;
        m.encoded_len(m.default_options()).map(|n| n as f64)
    }
}

thread_local! {
    /// The last message [`compose`] rendered, kept (and its buffer reused)
    /// until the next call.
    static COMPOSED: RefCell<Composed> = RefCell::new(Composed::default());
    /// Id generator seeds drawn from the system's random source in batches.
    static SEEDS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// The compact encoding of the next [`compose_spec`]'s options, written
    /// by the JS layer (see [`spec_buffer`]).
    static SPEC: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct Composed {
    output: Vec<u8>,
    message_id: String,
}

/// Output buffers larger than this are not kept for the next message when it
/// is much smaller.
const KEEP_OUTPUT: usize = 1 << 20;

/// Builds, validates and renders a message from emailjs's option names in
/// one call (what `WasmMessage.fromOptions(options).toBytes()` does, without
/// the object and the copies) into this module's output buffer, and returns
/// its length in bytes. The bytes are at [`composed_ptr`] in the wasm memory
/// ([`wasm_memory`]) until the next call into this module, which may move
/// them: read or copy them first, then ask [`composed_message_id`] if needed.
#[wasm_bindgen]
pub fn compose(options: JsValue) -> Result<f64, JsValue> {
    Ok(compose_from(&AnyVal::Js(options))? as f64)
}

/// [`compose`] from the compact encoding of its options (`API.md`, "The
/// compact encoding"), written by the JS layer at [`spec_buffer`]'s pointer:
/// one call, and no JS value read from wasm. Returns the output's length
/// as [`compose`] does. Throws when the options are not composable *or* the
/// encoding cannot tell (a string holding U+FFFD, which may stand for a lone
/// surrogate; a byte array where an object is read, ...): the JS layer then
/// calls [`compose`] with the options object, which is the authority on
/// every error (both read options with the same generic code).
#[wasm_bindgen(js_name = composeSpec)]
pub fn compose_spec(len: u32) -> Result<f64, JsValue> {
    SPEC.with(|cell| -> BResult<f64> {
        let spec_buf = cell.borrow();
        let buf = spec_buf.get(..len as usize).unwrap_or_default();
        let spec = decode_spec(buf)
            .ok_or_else(|| BindingError::invalid("options", convert::SPEC_FALLBACK))?;
        Ok(compose_from(&AnyVal::Spec(&spec))? as f64)
    })
    .map_err(JsValue::from)
}

/// Makes the compact-encoding buffer at least `capacity` bytes long (what
/// was written so far is kept) and returns where it starts in the wasm
/// memory. The memory may grow meanwhile: views on it must be made again.
#[wasm_bindgen(js_name = specBuffer)]
pub fn spec_buffer(capacity: u32) -> Result<f64, JsValue> {
    SPEC.with(|cell| {
        let mut buf = cell.borrow_mut();
        let capacity = capacity as usize;
        if buf.len() < capacity {
            let more = capacity - buf.len();
            buf.try_reserve_exact(more)
                .map_err(|_| JsValue::from(too_large(capacity)))?;
            buf.resize(capacity, 0);
        } else if buf.len() > KEEP_OUTPUT && capacity < buf.len() / 4 {
            // A large buffer is not kept for much smaller messages.
            *buf = vec![0; capacity];
        }
        Ok(buf.as_ptr() as usize as f64)
    })
}

/// Builds and renders into [`COMPOSED`]; returns the length.
fn compose_from(options: &AnyVal) -> BResult<usize> {
    // A fed attachment has no data here: rendering it fails (`COMPOSE`,
    // the stream would block), as `WasmMessage.toBytes()` does.
    let mut feeds = Vec::new();
    let (builder, fields) = builder_from_options(options, &mut feeds)?;
    let message = builder
        .build()
        .map_err(|e| BindingError::from(e).map_field(|f| fields.to_js(f)))?;
    COMPOSED.with(|cell| -> BResult<usize> {
        let mut composed = cell.borrow_mut();
        let composed = &mut *composed;
        composed.message_id.clear();
        composed.message_id.push_str(message.message_id());
        let out = &mut composed.output;
        out.clear();
        message.render_append(message.default_options(), out, |out, bound| {
            if out.capacity() > KEEP_OUTPUT && bound < out.capacity() / 4 {
                *out = Vec::new();
            }
            out.try_reserve_exact(bound).map_err(|_| too_large(bound))
        })?;
        Ok(out.len())
    })
}

/// Where the output of the last [`compose`] starts in the wasm memory.
#[wasm_bindgen(js_name = composedPtr)]
pub fn composed_ptr() -> f64 {
    COMPOSED.with(|cell| cell.borrow().output.as_ptr() as usize as f64)
}

/// Whether the output of the last [`compose`] is all ASCII (JS may then
/// decode it with a faster one-byte decoder).
#[wasm_bindgen(js_name = composedIsAscii)]
pub fn composed_is_ascii() -> bool {
    // Asked for by the string readers only: the bytes readers do not pay
    // for the scan (0.6 ms of W3's 14.5 MB messages).
    COMPOSED.with(|cell| crate::encoding::text::is_ascii(&cell.borrow().output))
}

/// The Message-ID (without `<>`) of the last message [`compose`] rendered.
#[wasm_bindgen(js_name = composedMessageId)]
pub fn composed_message_id() -> String {
    COMPOSED.with(|cell| cell.borrow().message_id.clone())
}

/// This module's `WebAssembly.Memory` (to read [`compose`]'s output).
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

fn too_large(len: usize) -> BindingError {
    BindingError::new(
        "COMPOSE",
        None,
        format!("the message ({len} bytes) does not fit in the wasm memory"),
    )
}

/// How many seeds one `crypto.getRandomValues` call fetches.
const SEED_BATCH: usize = 256;

/// A seed for the builder's id generator (boundaries, Message-ID): 64 random
/// bits from `crypto.getRandomValues`, fetched [`SEED_BATCH`] seeds at a time:
/// one call out of wasm per message costs as much as composing a small one.
/// `None` when there is no random source (the builder then falls back on its
/// own `from_entropy`).
fn random_seed() -> Option<u64> {
    SEEDS.with(|cell| {
        let mut seeds = cell.borrow_mut();
        if seeds.is_empty() {
            let mut buf = [0u8; SEED_BATCH * 8];
            getrandom::getrandom(&mut buf).ok()?;
            seeds.extend(
                buf.chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
            );
        }
        seeds.pop()
    })
}

fn render(message: &Message) -> BResult<Vec<u8>> {
    let opts = message.default_options();
    let mut out = Vec::new();
    if let Some(len) = message.encoded_len(opts) {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        out.try_reserve_exact(len).map_err(|_| {
            BindingError::new(
                "COMPOSE",
                None,
                format!("the message ({len} bytes) does not fit in the wasm memory"),
            )
        })?;
    }
    message.write_to_with(&mut out, opts)?;
    Ok(out)
}

/// How the core's part names (`alternative[0]`, `inline[1]`, `html`) map
/// onto the JS option paths (`attachment[2]`, ...).
#[derive(Default)]
struct FieldMap(Vec<(String, String)>);

impl FieldMap {
    fn to_js(&self, core: &str) -> String {
        let mapped = self
            .0
            .iter()
            .find_map(|(c, js)| {
                let rest = core.strip_prefix(c.as_str())?;
                (rest.is_empty() || rest.starts_with('.') || rest.starts_with(' '))
                    .then(|| format!("{js}{rest}"))
            })
            .unwrap_or_else(|| core.to_owned());
        // The core's `filename` is emailjs's `name` option.
        if mapped.starts_with("attachment") {
            crate::substr::replace(&mapped, "].filename", "].name")
        } else {
            mapped
        }
    }
}

struct Counters {
    attachment: usize,
    inline: usize,
    alternative: usize,
}

fn builder_from_options<V: Val>(
    options: &V,
    feeds: &mut Vec<(u32, Feed)>,
) -> BResult<(MessageBuilder, FieldMap)> {
    let mut b = MessageBuilder::new();
    let mut fields = FieldMap::default();
    let mut counters = Counters {
        attachment: 0,
        inline: 0,
        alternative: 0,
    };
    let (mut seeded, mut dated) = (false, false);
    for (key, value) in options.entries("options")? {
        if value.is_absent() {
            continue;
        }
        // Option names are usually lower case already: no copy then.
        let lower: std::borrow::Cow<'_, str> = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            key.to_ascii_lowercase().into()
        } else {
            key.as_ref().into()
        };
        let lower = lower.as_ref();
        seeded |= lower == "deterministic";
        dated |= lower == "date";
        let k = key.as_ref();
        // The fields that take a string or an array of strings, one loop.
        let add: Option<fn(MessageBuilder, String) -> MessageBuilder> = match lower {
            "from" => Some(|b, s| b.from(s)),
            "to" => Some(|b, s| b.to(s)),
            "cc" => Some(|b, s| b.cc(s)),
            "bcc" => Some(|b, s| b.bcc(s)),
            "reply-to" => Some(|b, s| b.reply_to(s)),
            "in-reply-to" => Some(|b, s| b.in_reply_to(s)),
            "references" => Some(|b, s| b.references(s)),
            _ => None,
        };
        if let Some(add) = add {
            for s in string_or_array_of(&value, k)? {
                b = add(b, s);
            }
            continue;
        }
        b = match lower {
            "sender" => b.sender(value.string(k)?),
            "return-path" => b.return_path(value.string(k)?),
            "subject" => b.subject(value.string(k)?),
            "text" => b.text(value.string(k)?),
            "content-type" => b.text_content_type(value.string(k)?),
            "charset" => b.charset(value.string(k)?),
            "message-id" => b.message_id(value.string(k)?),
            "date" => b.date(date_option(&value, k)?),
            "deterministic" => {
                let seed = opt_number_of(&value, k)?.unwrap_or(0.0);
                if seed < 0.0 || seed.fract() != 0.0 || seed > 9_007_199_254_740_991.0 {
                    return Err(BindingError::invalid(
                        k,
                        "deterministic must be a non-negative integer seed",
                    ));
                }
                b.deterministic(seed as u64)
            }
            "attachment" => {
                if value.is_array() {
                    for (i, item) in value.items().iter().enumerate() {
                        let field = format!("{k}[{i}]");
                        b = add_attachment(b, item, &field, &mut fields, &mut counters, feeds)?;
                    }
                    b
                } else {
                    add_attachment(b, &value, k, &mut fields, &mut counters, feeds)?
                }
            }
            _ => b.header(k, header_value(&value, k)?),
        };
    }
    if !seeded {
        // Deterministic mode with a random seed is the builder's own
        // `from_entropy` with the random bits drawn in batches
        // (`random_seed`): the seed gives the boundaries and the Message-ID,
        // and the Date, which that mode would fix at 2000-01-01, is set to now
        // (UTC, as `build` does) when the options have none.
        if let Some(seed) = random_seed() {
            if !dated {
                b = b.date(DateTime::now());
            }
            b = b.deterministic(seed);
        }
    }
    Ok((b, fields))
}

fn header_value<V: Val>(value: &V, field: &str) -> BResult<String> {
    if value.is_string() {
        value.string(field)
    } else {
        Err(BindingError::invalid(
            field,
            format!(
                "{field}: a custom header's value must be a string, got {}",
                value.type_name()
            ),
        ))
    }
}

/// A date: ms since the epoch, a JS `Date`, or a string `Date.parse` reads;
/// shown at the JS local offset, as emailjs does.
fn date_option<V: Val>(value: &V, field: &str) -> BResult<DateTime> {
    let ms = if let Some(ms) = value.date_ms() {
        ms
    } else if value.is_string() {
        js_sys::Date::parse(&value.string(field)?)
    } else if let Some(n) = value.as_f64() {
        n
    } else {
        return Err(BindingError::invalid(
            field,
            format!(
                "{field} must be a number of ms, a Date or a date string, got {}",
                value.type_name()
            ),
        ));
    };
    date_time(ms, false)
        .ok_or_else(|| BindingError::invalid(field, format!("{field} is not a valid date")))
}

/// Ms since the epoch as a `DateTime` at the JS local offset (or UTC).
fn date_time(ms: f64, utc: bool) -> Option<DateTime> {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return None;
    }
    let dt = DateTime::from_unix((ms / 1000.0).floor() as i64);
    if utc {
        return Some(dt);
    }
    Some(dt.with_offset_minutes(local_offset_minutes(ms)))
}

thread_local! {
    /// The last (second since the epoch, JS local offset) looked up.
    static OFFSET: Cell<(f64, i16)> = const { Cell::new((f64::NAN, 0)) };
}

/// The JS local offset at `ms`, in minutes east of UTC. The date is shown to
/// the second, so one lookup (a `Date` object) serves a whole second.
fn local_offset_minutes(ms: f64) -> i16 {
    let second = (ms / 1000.0).floor();
    OFFSET.with(|cell| {
        let (cached, offset) = cell.get();
        if cached == second {
            return offset;
        }
        let offset = -js_sys::Date::new(&JsValue::from_f64(ms)).get_timezone_offset();
        let offset = offset.clamp(-1439.0, 1439.0) as i16;
        cell.set((second, offset));
        offset
    })
}

/// One emailjs attachment object, read.
struct Parsed {
    alternative: bool,
    inline: bool,
    /// A plain HTML alternative (a string, `text/html`, UTF-8, nothing else
    /// set): it can be the message's HTML body.
    html: Option<String>,
    part: Option<Attachment>,
    related: Vec<Attachment>,
}

/// One emailjs attachment object → the builder. `alternative: true` → an
/// alternative body (the first plain HTML one becomes the HTML body, with
/// its `related` parts inline beside it); `inline` or a Content-ID → an
/// inline part (`multipart/related`); else an attachment.
fn add_attachment<V: Val>(
    b: MessageBuilder,
    value: &V,
    field: &str,
    fields: &mut FieldMap,
    n: &mut Counters,
    feeds: &mut Vec<(u32, Feed)>,
) -> BResult<MessageBuilder> {
    let parsed = parse_part(value, field, 0, feeds)?;
    if let Some(html) = parsed.html {
        if !fields.0.iter().any(|(c, _)| c == "html") {
            fields.0.push(("html".into(), field.to_owned()));
            let mut b = b.html(html);
            for (i, part) in parsed.related.into_iter().enumerate() {
                fields.0.push((
                    format!("inline[{}]", n.inline),
                    format!("{field}.related[{i}]"),
                ));
                n.inline += 1;
                b = b.inline(part);
            }
            return Ok(b);
        }
        let part = Attachment::text(html)
            .content_type("text/html")
            .charset("utf-8")
            .related(parsed.related);
        n.alternative += 1;
        fields.0.push((
            format!("alternative[{}]", n.alternative - 1),
            field.to_owned(),
        ));
        return Ok(b.alternative(part));
    }
    let Some(mut part) = parsed.part else {
        return Err(BindingError::invalid(field, format!("{field} has no data")));
    };
    if !parsed.related.is_empty() {
        part = part.related(parsed.related);
    }
    let (core, b) = if parsed.alternative {
        n.alternative += 1;
        (
            format!("alternative[{}]", n.alternative - 1),
            b.alternative(part),
        )
    } else if parsed.inline {
        n.inline += 1;
        (format!("inline[{}]", n.inline - 1), b.inline(part))
    } else {
        n.attachment += 1;
        (format!("attachment[{}]", n.attachment - 1), b.attach(part))
    };
    fields.0.push((core, field.to_owned()));
    Ok(b)
}

/// How deep `related` may nest (a cyclic object must not overflow the stack).
const MAX_RELATED_DEPTH: usize = 8;

fn parse_part<V: Val>(
    value: &V,
    field: &str,
    depth: usize,
    feeds: &mut Vec<(u32, Feed)>,
) -> BResult<Parsed> {
    if depth > MAX_RELATED_DEPTH {
        return Err(BindingError::invalid(
            field,
            format!("{field}: related parts nest more than {MAX_RELATED_DEPTH} deep"),
        ));
    }
    value.check_object(field)?;
    let sub = |k: &str| format!("{field}.{k}");
    let prop = |k: &str| value.prop(k, field);
    let alternative = alt_flag(&prop("alternative")?, &sub("alternative"))?;
    let encoded = opt_bool_of(&prop("encoded")?, &sub("encoded"))?.unwrap_or(false);
    let mut ty = opt_string_of(&prop("type")?, &sub("type"))?;
    // emailjs writes `name: ''` as `filename=""`, which readers take for no
    // name; the builder refuses an empty file name, so '' here means none
    // (a name of only whitespace is still refused, by field).
    let name = opt_string_of(&prop("name")?, &sub("name"))?.filter(|n| !n.is_empty());
    let mut charset = opt_string_of(&prop("charset")?, &sub("charset"))?;
    let method = opt_string_of(&prop("method")?, &sub("method"))?;
    let inline = opt_bool_of(&prop("inline")?, &sub("inline"))?;
    let mut cid = opt_string_of(&prop("cid")?, &sub("cid"))?;
    let data = prop("data")?;

    // Part headers: Content-ID, Content-Type and Content-Transfer-Encoding
    // map onto the part's options; the rest are custom part headers.
    let mut headers = Vec::new();
    let mut transfer = None;
    let hv = prop("headers")?;
    if !hv.is_absent() {
        for (k, v) in hv.entries(&sub("headers"))? {
            if v.is_absent() {
                continue;
            }
            let f = format!("{field}.headers.{k}");
            let v = header_value(&v, &f)?;
            match k.to_ascii_lowercase().as_str() {
                "content-id" => cid = Some(v),
                "content-type" => ty = Some(v),
                "content-transfer-encoding" => {
                    transfer = Some(match v.trim().to_ascii_lowercase().as_str() {
                        "base64" => TransferEncoding::Base64,
                        "quoted-printable" => TransferEncoding::QuotedPrintable,
                        "7bit" => TransferEncoding::SevenBit,
                        "8bit" => TransferEncoding::EightBit,
                        _ => {
                            return Err(BindingError::invalid(
                                &f,
                                format!("{f}: unsupported transfer encoding {v:?}"),
                            ))
                        }
                    })
                }
                _ => headers.push((k.into_owned(), v)),
            }
        }
    }
    // A Content-ID may come with its angle brackets, as in a header.
    let cid = cid.map(|c| {
        let t = c.trim_matches([' ', '\t']);
        t.strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(t)
            .to_owned()
    });
    if alternative {
        ty.get_or_insert_with(|| "text/html".into());
        charset.get_or_insert_with(|| "utf-8".into());
    }

    let related_value = prop("related")?;
    let mut related = Vec::new();
    if !related_value.is_absent() {
        if !related_value.is_array() {
            return Err(BindingError::invalid(
                &sub("related"),
                format!(
                    "{} must be an array, got {}",
                    sub("related"),
                    related_value.type_name()
                ),
            ));
        }
        for (i, item) in related_value.items().iter().enumerate() {
            let f = format!("{field}.related[{i}]");
            let p = parse_part(item, &f, depth + 1, feeds)?;
            if p.alternative {
                return Err(BindingError::invalid(
                    &f,
                    format!("{f} cannot be an alternative body"),
                ));
            }
            let mut part = p.part.ok_or_else(|| BindingError::invalid(&f, "no data"))?;
            if !p.related.is_empty() {
                part = part.related(p.related);
            }
            related.push(part);
        }
    }

    let is_utf8 = |c: &str| c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("utf8");
    let plain_html = alternative
        && data.is_string()
        && !encoded
        && ty
            .as_deref()
            .map(|t| t.trim().eq_ignore_ascii_case("text/html"))
            == Some(true)
        && charset.as_deref().map(is_utf8) == Some(true)
        && name.is_none()
        && method.is_none()
        && cid.is_none()
        && inline != Some(false)
        && headers.is_empty()
        && transfer.is_none();
    if plain_html {
        return Ok(Parsed {
            alternative,
            inline: true,
            html: Some(data.string(&sub("data"))?),
            part: None,
            related,
        });
    }

    let mut part = source(value, &data, encoded, field, feeds)?;
    if let Some(t) = ty {
        part = part.content_type(t);
    }
    if let Some(nm) = name {
        part = part.filename(nm);
    }
    if let Some(c) = charset {
        part = part.charset(c);
    }
    if let Some(m) = method {
        part = part.method(m);
    }
    if let Some(t) = transfer {
        part = part.transfer_encoding(t);
    }
    for (k, v) in headers {
        part = part.header(k, v);
    }
    let is_inline = inline == Some(true) || cid.is_some();
    if let Some(c) = cid {
        part = part.content_id(c);
    }
    if let Some(i) = inline {
        part = part.inline(i);
    }
    Ok(Parsed {
        alternative,
        inline: is_inline,
        html: None,
        part: Some(part),
        related,
    })
}

fn alt_flag<V: Val>(v: &V, field: &str) -> BResult<bool> {
    // emailjs's type allows `alternative: MessageAttachment | boolean`.
    if v.is_non_array_object() {
        return Ok(true);
    }
    Ok(opt_bool_of(v, field)?.unwrap_or(false))
}

/// Where the part's bytes come from: `data`, or a feed (`feed: id`, a
/// small integer unique in the message, with `size` when the length is
/// known) that the JS layer pushes into.
fn source<V: Val>(
    obj: &V,
    data: &V,
    encoded: bool,
    field: &str,
    feeds: &mut Vec<(u32, Feed)>,
) -> BResult<Attachment> {
    let f = format!("{field}.data");
    let feed_field = format!("{field}.feed");
    let feed_id = opt_number_of(&obj.prop("feed", field)?, &feed_field)?;
    if let Some(id) = feed_id {
        if !(0.0..=65_535.0).contains(&id) || id.fract() != 0.0 {
            return Err(BindingError::invalid(
                &feed_field,
                format!("{feed_field} must be an integer id from 0 to 65535"),
            ));
        }
        let id = id as u32;
        if feeds.iter().any(|(i, _)| *i == id) {
            return Err(BindingError::invalid(
                &feed_field,
                format!("{feed_field}: the id {id} is used twice"),
            ));
        }
        if !data.is_absent() {
            return Err(BindingError::invalid(
                &feed_field,
                format!("{field}: give either data or feed, not both"),
            ));
        }
        if encoded {
            return Err(BindingError::invalid(
                &feed_field,
                format!("{field}: an encoded (base64) attachment cannot be fed"),
            ));
        }
        let size_field = format!("{field}.size");
        let size = opt_number_of(&obj.prop("size", field)?, &size_field)?;
        let feed = Feed::new();
        let part = match size {
            None => Attachment::reader(feed.reader()),
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => {
                Attachment::reader_with_len(feed.reader(), n as u64)
            }
            Some(_) => {
                return Err(BindingError::invalid(
                    &size_field,
                    format!("{size_field} must be a non-negative integer"),
                ))
            }
        };
        feeds.push((id, feed));
        return Ok(part);
    }
    if data.is_absent() {
        for k in ["path", "stream"] {
            if !obj.prop(k, field)?.is_absent() {
                return Err(BindingError::invalid(
                    &format!("{field}.{k}"),
                    format!(
                        "{field}.{k} must be read into data by the JS layer before the wasm call"
                    ),
                ));
            }
        }
        return Err(BindingError::invalid(
            &f,
            format!("{field} has no data associated with it"),
        ));
    }
    if data.is_string() {
        let s = data.string(&f)?;
        Ok(if encoded {
            Attachment::base64(s.into_bytes())
        } else {
            Attachment::text(s)
        })
    } else {
        let v = data.bytes(&f)?;
        Ok(if encoded {
            Attachment::base64(v)
        } else {
            Attachment::bytes(v)
        })
    }
}

fn address_js(a: ParsedAddress) -> JsValue {
    match a {
        ParsedAddress::Mailbox { name, address } => js_object(&[
            ("name", JsValue::from_str(&name)),
            ("address", JsValue::from_str(&address)),
        ]),
        ParsedAddress::Group { name, members } => {
            let group: Array = members.into_iter().map(address_js).collect();
            js_object(&[("name", JsValue::from_str(&name)), ("group", group.into())])
        }
    }
}

/// emailjs's `addressparser` (lenient; never fails on a string or an array
/// of strings).
#[wasm_bindgen]
pub fn addressparser(input: JsValue) -> Result<JsValue, JsValue> {
    let inputs = string_or_array(&input, "input")?;
    let list: Array = inputs
        .iter()
        .flat_map(|s| parse_address_list(s))
        .map(address_js)
        .collect();
    Ok(list.into())
}

/// emailjs's `getRFC2822Date(date?, useUtc?)`: `date` is ms since the epoch
/// or a JS `Date` (now when absent); local offset unless `useUtc`.
#[wasm_bindgen(js_name = getRFC2822Date)]
pub fn get_rfc2822_date(date: JsValue, use_utc: JsValue) -> Result<String, JsValue> {
    let utc = opt_bool(&use_utc, "useUtc")?.unwrap_or(false);
    let ms = if is_absent(&date) {
        js_sys::Date::now()
    } else if let Some(d) = date.dyn_ref::<js_sys::Date>() {
        d.get_time()
    } else {
        opt_number(&date, "date")?.unwrap_or(f64::NAN)
    };
    let dt = date_time(ms, utc)
        .ok_or_else(|| BindingError::invalid("date", "date is not a valid time"))?;
    Ok(dt.to_string())
}

fn charset_arg(charset: &JsValue) -> BResult<Charset> {
    match opt_string(charset, "charset")? {
        Some(label) => Charset::from_label(&label)
            .map_err(|e| BindingError::new("ENCODING", Some("charset"), e.to_string())),
        None => Ok(Charset::UTF_8),
    }
}

/// emailjs's `mimeWordEncode`: RFC 2047 encoded words joined by a space.
#[wasm_bindgen(js_name = mimeWordEncode)]
pub fn mime_word_encode(text: JsValue, charset: JsValue) -> Result<String, JsValue> {
    let text = string(&text, "text")?;
    let charset = charset_arg(&charset)?;
    let words = rfc2047::encode_words(&text, charset)
        .map_err(|e| BindingError::new("ENCODING", Some("text"), e.to_string()))?;
    Ok(words.join(" "))
}

/// emailjs's `mimeEncode`: quoted-printable of the text in `charset`.
#[wasm_bindgen(js_name = mimeEncode)]
pub fn mime_encode(text: JsValue, charset: JsValue) -> Result<String, JsValue> {
    let text = string(&text, "text")?;
    let charset = charset_arg(&charset)?;
    let bytes = charset
        .encode(&text)
        .map_err(|e| BindingError::new("ENCODING", Some("text"), e.to_string()))?;
    let mut out = Vec::new();
    qp::encode(&bytes, &mut out);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The pushing side of a `feed: true` attachment (see `API.md`): the JS
/// layer reads its source when `waiting` is true and pushes what it read.
#[wasm_bindgen]
pub struct WasmFeed {
    feed: Feed,
}

#[wasm_bindgen]
impl WasmFeed {
    /// Appends bytes (a `Uint8Array` or an `ArrayBuffer`; copied).
    pub fn push(&mut self, bytes_value: JsValue) -> Result<(), JsValue> {
        let data = bytes(&bytes_value, "bytes")?;
        self.feed
            .push(data)
            .map_err(|e| BindingError::invalid("bytes", e.to_string()).into())
    }

    /// Ends the stream.
    pub fn end(&mut self) {
        self.feed.end();
    }

    /// Fails the stream: the message fails with this text (the JS layer
    /// keeps the real error).
    pub fn fail(&mut self, message: JsValue) -> Result<(), JsValue> {
        let text = opt_string(&message, "message")?.unwrap_or_else(|| "stream error".into());
        self.feed.fail(text);
        Ok(())
    }

    /// The writer found the buffer empty and waits for a push.
    #[wasm_bindgen(getter)]
    pub fn waiting(&self) -> bool {
        self.feed.is_waiting()
    }

    /// The message is done with this feed (sent, failed or dropped): stop
    /// reading the source.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.feed.is_closed()
    }

    /// Bytes pushed and not yet read.
    #[wasm_bindgen(getter)]
    pub fn buffered(&self) -> f64 {
        self.feed.buffered() as f64
    }

    /// Bytes pushed so far.
    #[wasm_bindgen(getter)]
    pub fn pushed(&self) -> f64 {
        self.feed.pushed() as f64
    }
}
