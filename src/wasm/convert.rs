//! Reading JS values strictly: every wrong type, lone surrogate or
//! out-of-range number is an `INVALID_ARGUMENT` naming the option.

use std::borrow::Cow;
use std::time::Duration;

use js_sys::{Array, ArrayBuffer, JsString, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::error::{BResult, BindingError};

/// A JS `typeof`-like name for error messages.
pub(crate) fn type_name(v: &JsValue) -> &'static str {
    if v.is_null() {
        "null"
    } else if v.is_undefined() {
        "undefined"
    } else if v.is_string() {
        "a string"
    } else if v.as_f64().is_some() {
        "a number"
    } else if v.as_bool().is_some() {
        "a boolean"
    } else if Array::is_array(v) {
        "an array"
    } else if v.is_function() {
        "a function"
    } else if v.is_bigint() {
        "a bigint"
    } else if v.is_symbol() {
        "a symbol"
    } else {
        "an object"
    }
}

/// True for `undefined` and `null` (an absent option, as in emailjs).
pub(crate) fn is_absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// A JS string as a Rust string; a lone surrogate (invalid UTF-16, which
/// `as_string` would silently replace with U+FFFD) is refused.
///
/// The string crosses once (wasm-bindgen's string passing); only a result
/// holding U+FFFD, which is either in the string or stands for a lone
/// surrogate, is checked unit by unit (`is_valid_utf16` costs one JS call per
/// UTF-16 unit: most of the boundary's time when done on every string).
/// The composer's hot path does not come here: the JS layer writes the
/// options in the compact encoding ([`Spec`]).
pub(crate) fn string(v: &JsValue, field: &str) -> BResult<String> {
    let Some(js) = v.dyn_ref::<JsString>() else {
        return Err(BindingError::invalid(
            field,
            format!("{field} must be a string, got {}", type_name(v)),
        ));
    };
    let s = String::from(js);
    if has_replacement_char(&s) && !v.unchecked_ref::<JsString>().is_valid_utf16() {
        return Err(BindingError::invalid(
            field,
            format!("{field} contains a lone surrogate (invalid UTF-16)"),
        ));
    }
    Ok(s)
}

/// Whether `s` holds U+FFFD (EF BF BD), looking for its first byte before
/// anything slower (`str::contains` runs a substring search).
fn has_replacement_char(s: &str) -> bool {
    // From one 0xEF lead byte to the next with memchr (SIMD128 in the wasm
    // build; memmem would add ~2.7 KB gzipped): CJK text has many of them
    // (fullwidth forms).
    let mut rest = s.as_bytes();
    while let Some(i) = memchr::memchr(0xEF, rest) {
        rest = &rest[i + 1..];
        if rest.starts_with(&[0xBF, 0xBD]) {
            return true;
        }
    }
    false
}

/// `bytes` as UTF-8. The wasm build checks with simdutf8's SIMD128 validator:
/// std's scalar check (at opt-level "z") took about a quarter of the npm
/// package's W2 composition time (CJK text and HTML, 12 KiB a message).
fn utf8(bytes: &[u8]) -> Option<&str> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simdutf8::basic::from_utf8(bytes).ok();
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return std::str::from_utf8(bytes).ok();
}

/// An optional string: `undefined`/`null` give `None`.
pub(crate) fn opt_string(v: &JsValue, field: &str) -> BResult<Option<String>> {
    opt_string_of(&AnyVal::Js(v.clone()), field)
}

/// A string or an array of strings (emailjs's `to`, `cc`, ...).
pub(crate) fn string_or_array(v: &JsValue, field: &str) -> BResult<Vec<String>> {
    string_or_array_of(&AnyVal::Js(v.clone()), field)
}

/// An optional boolean; JS truthiness is not used: a non-boolean is an error.
pub(crate) fn opt_bool(v: &JsValue, field: &str) -> BResult<Option<bool>> {
    opt_bool_of(&AnyVal::Js(v.clone()), field)
}

/// An optional finite number.
pub(crate) fn opt_number(v: &JsValue, field: &str) -> BResult<Option<f64>> {
    opt_number_of(&AnyVal::Js(v.clone()), field)
}

/// A plain object (not null, not an array, not a function).
pub(crate) fn object<'a>(v: &'a JsValue, field: &str) -> BResult<&'a Object> {
    if v.is_object() && !Array::is_array(v) && !v.is_function() {
        Ok(v.unchecked_ref())
    } else {
        Err(BindingError::invalid(
            field,
            format!("{field} must be an object, got {}", type_name(v)),
        ))
    }
}

/// A property of an object (getters may throw: that is reported, not propagated).
pub(crate) fn get(obj: &Object, key: &str, field: &str) -> BResult<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
        .map_err(|_| BindingError::invalid(field, format!("reading {field} threw")))
}

/// The own enumerable keys of an object, with their values, in order.
pub(crate) fn entries(obj: &Object, field: &str) -> BResult<Vec<(String, JsValue)>> {
    let keys = Object::keys(obj);
    let mut out = Vec::with_capacity(keys.length() as usize);
    for i in 0..keys.length() {
        let key = keys.get(i);
        // Object.keys gives strings; only a lone surrogate can fail here, so
        // the field name is made only then.
        let name = string(&key, "").map_err(|_| {
            let key_field = format!("{field} key");
            BindingError::invalid(
                &key_field,
                format!("a key of {field} contains a lone surrogate (invalid UTF-16)"),
            )
        })?;
        let value = Reflect::get(obj, &key)
            .map_err(|_| BindingError::invalid(&name, format!("reading {name} threw")))?;
        out.push((name, value));
    }
    Ok(out)
}

/// Bytes from a `Uint8Array` (Node `Buffer` included) or an `ArrayBuffer`.
/// The copy's allocation is fallible: a huge input is an error, not a trap.
pub(crate) fn bytes(v: &JsValue, field: &str) -> BResult<Vec<u8>> {
    let arr = if let Some(a) = v.dyn_ref::<Uint8Array>() {
        a.clone()
    } else if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        Uint8Array::new(b)
    } else {
        return Err(BindingError::invalid(
            field,
            format!(
                "{field} must be a Uint8Array or an ArrayBuffer, got {}",
                type_name(v)
            ),
        ));
    };
    let len = arr.length() as usize;
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| {
        BindingError::new(
            "COMPOSE",
            Some(field),
            format!("{field}: {len} bytes do not fit in the wasm memory"),
        )
    })?;
    out.resize(len, 0);
    arr.copy_to(&mut out);
    Ok(out)
}

/// JS milliseconds (the transport's clock) as a `Duration`; negative and
/// NaN clamp to 0, +Infinity to about 31,700 years.
pub(crate) fn ms_to_duration(ms: f64) -> Duration {
    let ms = if ms.is_nan() || ms < 0.0 {
        0.0
    } else {
        ms.min(1e15)
    };
    Duration::from_secs_f64(ms / 1000.0)
}

/// A `Duration` as JS milliseconds.
pub(crate) fn duration_to_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The values the composer reads its options from ([`AnyVal`]): JS values
/// ([`JsValue`], the `compose(options)` path) or a [`Spec`] decoded from the
/// compact encoding the JS layer writes into the wasm memory
/// (`composeSpec`). The composer's reading code is generic over this, so
/// both paths accept exactly the same options.
pub(crate) trait Val: Sized {
    /// A JS `typeof`-like name for error messages.
    fn type_name(&self) -> &'static str;
    /// `undefined` or `null`.
    fn is_absent(&self) -> bool;
    /// A string.
    fn is_string(&self) -> bool;
    /// An array (`Array.isArray`).
    fn is_array(&self) -> bool;
    /// `typeof` is `"object"`, not `null`, not an array.
    fn is_non_array_object(&self) -> bool;
    /// A number.
    fn as_f64(&self) -> Option<f64>;
    /// A boolean.
    fn as_bool(&self) -> Option<bool>;
    /// Milliseconds since the epoch of a JS `Date`.
    fn date_ms(&self) -> Option<f64>;
    /// A string, read strictly (see [`string`]).
    fn string(&self, field: &str) -> BResult<String>;
    /// The items of an array (call when [`Val::is_array`]).
    fn items(&self) -> Vec<Self>;
    /// A property of an object (see [`object`] and [`get`]); `parent`
    /// names the object (the error names `parent.key`).
    fn prop(&self, key: &str, parent: &str) -> BResult<Self>;
    /// Checks that this is a plain object (see [`object`]).
    fn check_object(&self, field: &str) -> BResult<()>;
    /// The own enumerable keys with their values, in order (see [`entries`]);
    /// the compact encoding's keys are borrowed.
    fn entries(&self, field: &str) -> BResult<Vec<(Cow<'_, str>, Self)>>;
    /// Bytes (see [`bytes`]).
    fn bytes(&self, field: &str) -> BResult<Vec<u8>>;
}

/// A JS value decoded from the compact encoding (`API.md`, "The compact
/// encoding"): strings (but UTF-16 ones, transcoded) and bytes borrow the
/// encoded buffer.
#[derive(Debug)]
pub(crate) enum Spec<'a> {
    /// `undefined` or `null`.
    Undefined,
    Bool(bool),
    Num(f64),
    /// Borrowed from the buffer (tag 5) or transcoded from UTF-16 (tag 9).
    Str(Cow<'a, str>),
    Bytes(&'a [u8]),
    Array(Vec<Spec<'a>>),
    Object(Vec<(&'a str, Spec<'a>)>),
}

static UNDEFINED: Spec<'static> = Spec::Undefined;

/// How deep arrays and objects may nest in the compact encoding (the JS
/// encoder gives the slow path anything deeper).
pub(crate) const SPEC_MAX_DEPTH: usize = 32;

/// Why a [`Spec`] could not be read: the fast path gives up and the JS
/// layer calls `compose(options)`, which gives the exact error (or succeeds
/// where the compact form cannot say what the JS value is).
pub(crate) const SPEC_FALLBACK: &str = "the compact encoding cannot stand for this value";

fn fallback(field: &str) -> BindingError {
    BindingError::invalid(field, SPEC_FALLBACK)
}

/// Reads the compact encoding; `None` when it is malformed (a bug in the JS
/// encoder) or a string holds U+FFFD (the JS `TextEncoder` writes that for
/// a lone surrogate too: the slow path tells them apart).
pub(crate) fn decode_spec(buf: &[u8]) -> Option<Spec<'_>> {
    let mut at = 0;
    let v = decode_value(buf, &mut at, 0)?;
    (at == buf.len()).then_some(v)
}

fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = at.checked_add(n)?;
    let out = buf.get(*at..end)?;
    *at = end;
    Some(out)
}

fn take_u32(buf: &[u8], at: &mut usize) -> Option<usize> {
    let b = take(buf, at, 4)?;
    Some(u32::from_le_bytes(b.try_into().ok()?) as usize)
}

fn take_f64(buf: &[u8], at: &mut usize) -> Option<f64> {
    let b = take(buf, at, 8)?;
    Some(f64::from_le_bytes(b.try_into().ok()?))
}

fn take_str<'a>(buf: &'a [u8], at: &mut usize) -> Option<&'a str> {
    let n = take_u32(buf, at)?;
    let s = utf8(take(buf, at, n)?)?;
    (!has_replacement_char(s)).then_some(s)
}

fn decode_value<'a>(buf: &'a [u8], at: &mut usize, depth: usize) -> Option<Spec<'a>> {
    let tag = *buf.get(*at)?;
    *at += 1;
    Some(match tag {
        0 | 1 => Spec::Undefined,
        2 => Spec::Bool(false),
        3 => Spec::Bool(true),
        4 => Spec::Num(take_f64(buf, at)?),
        5 => Spec::Str(Cow::Borrowed(take_str(buf, at)?)),
        9 => {
            let n = take_u32(buf, at)?;
            Spec::Str(Cow::Owned(super::utf16::utf16le_to_string(take(
                buf,
                at,
                n.checked_mul(2)?,
            )?)?))
        }
        6 => {
            let n = take_u32(buf, at)?;
            Spec::Bytes(take(buf, at, n)?)
        }
        7 | 8 if depth >= SPEC_MAX_DEPTH => return None,
        7 => {
            let n = take_u32(buf, at)?;
            // Each item takes one byte at least.
            let mut items = Vec::with_capacity(n.min(buf.len() - *at));
            for _ in 0..n {
                items.push(decode_value(buf, at, depth + 1)?);
            }
            Spec::Array(items)
        }
        8 => {
            let n = take_u32(buf, at)?;
            let mut props = Vec::with_capacity(n.min(buf.len() - *at));
            for _ in 0..n {
                let key = take_str(buf, at)?;
                props.push((key, decode_value(buf, at, depth + 1)?));
            }
            Spec::Object(props)
        }
        _ => return None,
    })
}

/// Either kind of [`Val`], so that the composer's reading code is compiled
/// once (generic over both, it would be twice: about 8 KB of the gzipped
/// `.wasm`).
pub(crate) enum AnyVal<'s, 'a> {
    Js(JsValue),
    Spec(&'s Spec<'a>),
}

impl Val for AnyVal<'_, '_> {
    // The `Spec` arms' errors are never shown: the JS layer asks
    // `compose(options)` for the exact error (see [`SPEC_FALLBACK`]).
    fn type_name(&self) -> &'static str {
        match self {
            AnyVal::Js(v) => type_name(v),
            AnyVal::Spec(_) => "a value",
        }
    }
    fn is_absent(&self) -> bool {
        match self {
            AnyVal::Js(v) => is_absent(v),
            AnyVal::Spec(v) => matches!(v, Spec::Undefined),
        }
    }
    fn is_string(&self) -> bool {
        match self {
            AnyVal::Js(v) => v.is_string(),
            AnyVal::Spec(v) => matches!(v, Spec::Str(_)),
        }
    }
    fn is_array(&self) -> bool {
        match self {
            AnyVal::Js(v) => Array::is_array(v),
            AnyVal::Spec(v) => matches!(v, Spec::Array(_)),
        }
    }
    fn is_non_array_object(&self) -> bool {
        match self {
            AnyVal::Js(v) => v.is_object() && !Array::is_array(v),
            AnyVal::Spec(v) => matches!(v, Spec::Bytes(_) | Spec::Object(_)),
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            AnyVal::Js(v) => v.as_f64(),
            AnyVal::Spec(Spec::Num(n)) => Some(*n),
            AnyVal::Spec(_) => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            AnyVal::Js(v) => v.as_bool(),
            AnyVal::Spec(Spec::Bool(b)) => Some(*b),
            AnyVal::Spec(_) => None,
        }
    }
    fn date_ms(&self) -> Option<f64> {
        match self {
            AnyVal::Js(v) => v.dyn_ref::<js_sys::Date>().map(|d| d.get_time()),
            AnyVal::Spec(_) => None,
        }
    }
    fn string(&self, field: &str) -> BResult<String> {
        match self {
            AnyVal::Js(v) => string(v, field),
            AnyVal::Spec(Spec::Str(s)) => Ok((**s).to_owned()),
            AnyVal::Spec(_) => Err(fallback(field)),
        }
    }
    fn items(&self) -> Vec<Self> {
        match self {
            AnyVal::Js(v) => {
                let arr: &Array = v.unchecked_ref();
                (0..arr.length()).map(|i| AnyVal::Js(arr.get(i))).collect()
            }
            AnyVal::Spec(Spec::Array(items)) => items.iter().map(AnyVal::Spec).collect(),
            AnyVal::Spec(_) => Vec::new(),
        }
    }
    fn prop(&self, key: &str, parent: &str) -> BResult<Self> {
        match self {
            AnyVal::Js(v) => Reflect::get(object(v, parent)?, &JsValue::from_str(key))
                .map(AnyVal::Js)
                .map_err(|_| {
                    let field = format!("{parent}.{key}");
                    BindingError::invalid(&field, format!("reading {field} threw"))
                }),
            AnyVal::Spec(Spec::Object(props)) => Ok(AnyVal::Spec(
                props
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(&UNDEFINED, |(_, v)| v),
            )),
            AnyVal::Spec(_) => Err(fallback(parent)),
        }
    }
    fn check_object(&self, field: &str) -> BResult<()> {
        match self {
            AnyVal::Js(v) => object(v, field).map(|_| ()),
            AnyVal::Spec(Spec::Object(_)) => Ok(()),
            AnyVal::Spec(_) => Err(fallback(field)),
        }
    }
    fn entries(&self, field: &str) -> BResult<Vec<(Cow<'_, str>, Self)>> {
        match self {
            AnyVal::Js(v) => Ok(entries(object(v, field)?, field)?
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), AnyVal::Js(v)))
                .collect()),
            AnyVal::Spec(Spec::Object(props)) => Ok(props
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), AnyVal::Spec(v)))
                .collect()),
            AnyVal::Spec(_) => Err(fallback(field)),
        }
    }
    fn bytes(&self, field: &str) -> BResult<Vec<u8>> {
        match self {
            AnyVal::Js(v) => bytes(v, field),
            AnyVal::Spec(Spec::Bytes(b)) => {
                let mut out = Vec::new();
                // A copy too large for the wasm memory: `compose` says so.
                out.try_reserve_exact(b.len())
                    .map_err(|_| fallback(field))?;
                out.extend_from_slice(b);
                Ok(out)
            }
            AnyVal::Spec(_) => Err(fallback(field)),
        }
    }
}

/// [`opt_bool`] for any [`Val`].
pub(crate) fn opt_bool_of<V: Val>(v: &V, field: &str) -> BResult<Option<bool>> {
    if v.is_absent() {
        return Ok(None);
    }
    v.as_bool().map(Some).ok_or_else(|| {
        BindingError::invalid(
            field,
            format!("{field} must be a boolean, got {}", v.type_name()),
        )
    })
}

/// [`opt_number`] for any [`Val`].
pub(crate) fn opt_number_of<V: Val>(v: &V, field: &str) -> BResult<Option<f64>> {
    if v.is_absent() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(BindingError::invalid(
            field,
            format!("{field} must be a finite number, got {}", v.type_name()),
        )),
    }
}

/// [`opt_string`] for any [`Val`].
pub(crate) fn opt_string_of<V: Val>(v: &V, field: &str) -> BResult<Option<String>> {
    if v.is_absent() {
        Ok(None)
    } else {
        v.string(field).map(Some)
    }
}

/// [`string_or_array`] for any [`Val`].
pub(crate) fn string_or_array_of<V: Val>(v: &V, field: &str) -> BResult<Vec<String>> {
    if v.is_array() {
        v.items()
            .iter()
            .enumerate()
            .map(|(i, item)| item.string(&format!("{field}[{i}]")))
            .collect()
    } else {
        v.string(field).map(|s| vec![s])
    }
}
