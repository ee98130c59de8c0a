//! # mimeograph
//!
//! One Rust core that composes internet mail (RFC 5322 / MIME) and speaks
//! SMTP as a sans-IO engine, used from Rust, Node and the browser.
//!
//! Layers (dependencies point one way):
//!
//! * [`address`] — RFC 5322 address parsing, validation and formatting.
//! * [`encoding`] — charsets, transfer encodings, RFC 2047 / RFC 2231.
//! * [`header`] — header names, values, folding and dates.
//! * [`mime`] — the MIME tree, the message builder and the streaming writer.
//! * [`envelope`] — the SMTP envelope and the render options a server's
//!   extensions decide.
//! * `smtp` — the sans-IO SMTP client engine.
//! * `native` (feature `native`) — the transports over std::net + rustls:
//!   `SmtpClient`, `Pool`, and `AsyncSmtpClient` over tokio (feature `tokio`).
//! * `wasm` (feature `wasm`) — the wasm-bindgen bindings the npm package uses.
//!
//! See `ARCHITECTURE.md` for how a message flows from builder to bytes.
// Four modules may use `unsafe`: the SSE2 (native) and SIMD128 (wasm)
// block tests of the text scan (`encoding::text`) and of the
// quoted-printable encoder (`encoding::qp`), the SIMD base64 line encoders
// (`encoding::base64`), and one unchecked UTF-8 view of an encoded word
// (`encoding::rfc2047`, `WordBuf::as_str`), each block with its soundness
// comment.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod encoding;
pub mod envelope;
mod excerpt;
pub mod header;
mod ip;
pub mod mime;
#[cfg(feature = "native")]
pub mod native;
pub mod smtp;
mod substr;
#[cfg(feature = "wasm")]
pub mod wasm;
