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
mod utf16;

pub use compose::{
    addressparser, compose, compose_spec, composed_is_ascii, composed_message_id, composed_ptr,
    get_rfc2822_date, mime_encode, mime_word_encode, spec_buffer, wasm_memory, WasmFeed,
    WasmMessage,
};
pub use engine::WasmSmtpClient;

use std::sync::Mutex;
use wasm_bindgen::prelude::wasm_bindgen;

/// The wasm build's allocator: talc instead of std's dlmalloc. The module
/// is 1.7 KB smaller gzipped (issue 7's 250 KB bound), with the same
/// composition and W4 rates and the same memory growth in the Node
/// benchmarks (benches/node, benches/w4.sh).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The message of the last panic, for `takePanicMessage`.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(text: &str);
}

/// Runs when the module is instantiated: installs a panic hook. No input
/// should make the bindings panic (every bad value is a `MimeographError`);
/// if a bug does, the panic message goes to `console.error` and is kept for
/// `takePanicMessage`, so that the JS layer can report it instead of a bare
/// `RuntimeError: unreachable`.
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        console_error(&format!(
            "mimeograph: internal error (a bug; please report it): {text}"
        ));
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(text);
        }
    }));
}

/// The message of the last Rust panic (an internal error), if any, and
/// forgets it.
#[wasm_bindgen(js_name = takePanicMessage)]
pub fn take_panic_message() -> Option<String> {
    LAST_PANIC.lock().ok().and_then(|mut last| last.take())
}
