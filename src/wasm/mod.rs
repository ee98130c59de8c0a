//! WebAssembly bindings (the `wasm` feature): JS values in, core calls,
//! JS values out. No protocol or composing logic lives here; the JS-facing
//! contract is `src/wasm/API.md`.
//!
//! Every error is thrown as a JS `Error` named `MimeographError` with
//! `code`, `field` and `message`. Strings are read strictly: a JS string
//! holding a lone surrogate (invalid UTF-16) is refused with
//! `INVALID_ARGUMENT` naming the option, never silently replaced.

mod compose;
mod convert;
mod engine;
mod error;
pub(crate) mod idna;

pub use compose::{
    addressparser, check_validity, compose, composed_is_ascii, composed_message_id, composed_ptr,
    get_rfc2822_date, mime_encode, mime_word_encode, wasm_memory, WasmMessage,
};
pub use engine::WasmSmtpClient;

use error::{BResult, BindingError};

/// Serializes a value as a plain JS object (maps as objects, `None` as `null`).
fn to_js<T: serde::Serialize>(value: &T) -> BResult<wasm_bindgen::JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| BindingError::new("COMPOSE", None, e.to_string()))
}
