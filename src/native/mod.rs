//! The native transport: a blocking SMTP client over `std::net`, with TLS
//! through rustls (implicit TLS and STARTTLS, certificates verified against
//! the webpki roots by default).
//!
//! The transport only moves bytes, time and TLS; every protocol decision is
//! the engine's ([`crate::smtp::Client`]). The client adds the delivery
//! policy around it: connect lazily, reconnect when closed, retry once after
//! greylisting or a dropped connection.
//!
//! * [`Options`] — emailjs-like options and the `smtp://` / `smtps://` URL form.
//! * [`SmtpClient`] — connect, [`SmtpClient::send`], [`SmtpClient::close`].
//! * [`Pool`] — a few [`SmtpClient`]s shared by many threads.
//! * `AsyncSmtpClient` (feature `tokio`) — the same client over tokio.
//! * [`NativeError`] — the layer's one error type.

#[cfg(feature = "tokio")]
mod async_client;
mod body;
mod client;
mod dial;
mod error;
mod options;
mod pool;
mod session;
mod tls;

#[cfg(feature = "tokio")]
pub use async_client::AsyncSmtpClient;
pub use client::SmtpClient;
pub use error::NativeError;
pub use options::{Logger, Options};
pub use pool::Pool;
pub use session::SentMessage;
