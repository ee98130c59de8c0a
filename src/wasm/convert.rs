//! Reading JS values strictly: every wrong type, lone surrogate or
//! out-of-range number is an `INVALID_ARGUMENT` naming the option.

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
/// The string crosses once (wasm-bindgen's `TextEncoder.encodeInto`); only a
/// result holding U+FFFD, which is either in the string or stands for a lone
/// surrogate, is checked unit by unit (`is_valid_utf16` costs one JS call per
/// UTF-16 unit: most of the boundary's time when done on every string).
pub(crate) fn string(v: &JsValue, field: &str) -> BResult<String> {
    let Some(js) = v.dyn_ref::<JsString>() else {
        return Err(BindingError::invalid(
            field,
            format!("{field} must be a string, got {}", type_name(v)),
        ));
    };
    let s = match js.length() {
        len if len > LONG_STRING => match long_ascii_string(js, len, field)? {
            Some(s) => s,
            None => String::from(js),
        },
        _ => String::from(js),
    };
    if has_replacement_char(&s) && !v.unchecked_ref::<JsString>().is_valid_utf16() {
        return Err(BindingError::invalid(
            field,
            format!("{field} contains a lone surrogate (invalid UTF-16)"),
        ));
    }
    Ok(s)
}

/// Strings longer than this (UTF-16 units) cross through `TextEncoder`.
const LONG_STRING: u32 = 256;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The host's WHATWG `TextEncoder` (UTF-8; a lone surrogate becomes
    /// U+FFFD, as with wasm-bindgen's own string passing).
    type TextEncoder;

    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;

    #[wasm_bindgen(method)]
    fn encode(this: &TextEncoder, input: &JsString) -> Uint8Array;
}

thread_local! {
    static ENCODER: TextEncoder = TextEncoder::new();
}

/// A long ASCII JS string, encoded natively by `TextEncoder.encode` and
/// copied in once; `None` when it is not ASCII. wasm-bindgen's string
/// passing copies ASCII one UTF-16 unit at a time in a JS loop (measured:
/// 6 µs for 2 KB, against 0.2 µs natively: a tenth of composing a small
/// message), but moves other text faster than this can (no UTF-8
/// validation), so it keeps that (`len` is the string's UTF-16 length).
fn long_ascii_string(js: &JsString, len: u32, field: &str) -> BResult<Option<String>> {
    let encoded = ENCODER.with(|e| e.encode(js));
    // One byte per UTF-16 unit only when every unit is ASCII.
    if encoded.length() != len {
        return Ok(None);
    }
    let bytes = bytes(encoded.as_ref(), field)?;
    Ok(String::from_utf8(bytes).ok())
}

/// Whether `s` holds U+FFFD (EF BF BD), looking for its first byte before
/// anything slower (`str::contains` runs a substring search).
fn has_replacement_char(s: &str) -> bool {
    let bytes = s.as_bytes();
    !s.is_ascii()
        && bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b == 0xEF && bytes[i + 1..].starts_with(&[0xBF, 0xBD]))
}

/// An optional string: `undefined`/`null` give `None`.
pub(crate) fn opt_string(v: &JsValue, field: &str) -> BResult<Option<String>> {
    if is_absent(v) {
        Ok(None)
    } else {
        string(v, field).map(Some)
    }
}

/// A string or an array of strings (emailjs's `to`, `cc`, ...).
pub(crate) fn string_or_array(v: &JsValue, field: &str) -> BResult<Vec<String>> {
    if Array::is_array(v) {
        let arr: &Array = v.unchecked_ref();
        (0..arr.length())
            .map(|i| string(&arr.get(i), &format!("{field}[{i}]")))
            .collect()
    } else {
        string(v, field).map(|s| vec![s])
    }
}

/// An optional boolean; JS truthiness is not used: a non-boolean is an error.
pub(crate) fn opt_bool(v: &JsValue, field: &str) -> BResult<Option<bool>> {
    if is_absent(v) {
        return Ok(None);
    }
    v.as_bool().map(Some).ok_or_else(|| {
        BindingError::invalid(
            field,
            format!("{field} must be a boolean, got {}", type_name(v)),
        )
    })
}

/// An optional finite number.
pub(crate) fn opt_number(v: &JsValue, field: &str) -> BResult<Option<f64>> {
    if is_absent(v) {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(BindingError::invalid(
            field,
            format!("{field} must be a finite number, got {}", type_name(v)),
        )),
    }
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
        let name = string(&key, "").map_err(|e| e.map_field(|_| format!("{field} key")))?;
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
