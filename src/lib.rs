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
//! * `smtp` — the sans-IO SMTP client engine.
//! * `native` (feature `native`) — the blocking std::net + rustls transport.
//!
//! See `ARCHITECTURE.md` for how a message flows from builder to bytes.
// Three modules may use `unsafe`: the SSE2 (native) and SIMD128 (wasm)
// block tests of the text scan (`encoding::text`) and of the
// quoted-printable encoder (`encoding::qp`), and the wasm SIMD128 base64
// encoder (`encoding::base64`), each block with its soundness comment.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod encoding;
pub mod envelope;
mod excerpt;
pub mod header;
pub mod mime;
#[cfg(feature = "native")]
pub mod native;
pub mod smtp;
#[cfg(feature = "wasm")]
pub mod wasm;
