//! The SMTP client engine: a sans-IO state machine.
//!
//! The engine does no I/O and reads no clock. A transport (std, tokio,
//! Node, a browser WebSocket bridge) owns the connection and drives a
//! [`Client`]:
//!
//! ```text
//! let mut c = Client::new(config, link_encrypted, now)?;
//! c.send(envelope, Box::new(message), now)?;    // queue any number of messages
//! c.quit(now);                                  // QUIT once the queue is empty
//! loop {
//!     while let Some(bytes) = c.poll_transmit() { socket.write_all(&bytes) }
//!     while let Some(event) = c.poll_event() {
//!         match event {
//!             Event::StartTls => { upgrade(socket); c.tls_established(now) }
//!             Event::MessageSent(report) => …,
//!             Event::MessageFailed { id, error } => …, // c.outcome_unknown(): maybe accepted
//!             Event::Closed { error } => { flush poll_transmit, close the socket, stop }
//!             _ => {}
//!         }
//!     }
//!     match wait_for(socket readable, c.poll_timeout()) {
//!         Data(bytes) => c.receive(&bytes, now),
//!         Eof => c.connection_closed(now),
//!         TimedOut => c.handle_timeout(now),
//!     }
//! }
//! ```
//!
//! A body may have no data yet ([`MessageBody::poll_chunk`] gives
//! `Poll::Pending`, e.g. an attachment fed from JavaScript through a
//! [`crate::mime::Feed`]): [`Client::body_pending`] then names the message,
//! and the transport calls [`Client::body_ready`] once it has pushed more.
//! The wait is bounded like any other ([`Client::poll_timeout`]): a body
//! that gives nothing for the timeout fails its message with
//! [`SmtpError::BodyTimeout`], without its end of data.
//!
//! Modules, one idea each: [`reply`] (parsing replies), [`capabilities`]
//! (EHLO keywords), [`auth`] (SASL), [`command`] (what the client sends),
//! [`data`] (dot-stuffing and CRLF), [`error`], [`engine`] (the state
//! machine) and [`dry_run`] (a whole transaction as a command list).

pub mod auth;
pub mod capabilities;
pub mod command;
pub mod data;
pub mod dry_run;
pub mod engine;
pub mod error;
mod md5;
pub mod message;
pub mod reply;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod engine_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;

pub use auth::{Credentials, Mechanism};
pub use capabilities::Capabilities;
pub use command::{Command, Secret};
pub use dry_run::{transaction, transaction_with};
pub use engine::{
    Client, Config, Direction, Event, MessageId, SentMessage, TlsPolicy, TranscriptLine,
};
pub use error::{EmailjsCode, RecipientResult, SmtpError};
pub use reply::{EnhancedCode, Reply};

use std::task::Poll;

/// An error from a [`MessageBody`].
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// What the engine needs from a composed message.
pub trait MessageBody {
    /// The message needs an SMTPUTF8 transaction whatever the server offers (non-ASCII local parts in headers).
    fn requires_smtputf8(&self) -> bool;
    /// Starts (or restarts) rendering with these options; returns the exact byte size if known (for SIZE=).
    fn start(&mut self, opts: crate::envelope::RenderOptions) -> Result<Option<u64>, BodyError>;
    /// After `start`: whether the rendered bytes contain 8-bit octets (→ BODY=8BITMIME).
    fn is_8bit(&self) -> bool;
    /// The next chunk of the rendered message (CRLF line ends, not dot-stuffed), or None at the end.
    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError>;
    /// What the engine calls: the next chunk (`Ready(Some)`), the end
    /// (`Ready(None)`), or `Pending` when the body has no data yet (a
    /// stream fed from outside). After `Pending` the engine pulls again
    /// only once the transport calls [`Client::body_ready`]. The default
    /// never waits: it is [`MessageBody::next_chunk`].
    fn poll_chunk(&mut self) -> Result<Poll<Option<&[u8]>>, BodyError> {
        self.next_chunk().map(Poll::Ready)
    }
}

/// A message that is already rendered: raw bytes, given out in chunks.
/// Its size is reported after CRLF normalisation (what BDAT sends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    bytes: Vec<u8>,
    pos: usize,
    chunk_size: usize,
    smtputf8: bool,
}

impl RawMessage {
    /// Wraps rendered message bytes (chunks of 64 KiB).
    pub fn new(bytes: impl Into<Vec<u8>>) -> RawMessage {
        RawMessage {
            bytes: bytes.into(),
            pos: 0,
            chunk_size: 64 * 1024,
            smtputf8: false,
        }
    }

    /// Sets the chunk size `next_chunk` gives out (at least 1).
    pub fn with_chunk_size(mut self, size: usize) -> RawMessage {
        self.chunk_size = size.max(1);
        self
    }

    /// Marks the message as needing SMTPUTF8 (UTF-8 addresses in headers).
    pub fn with_smtputf8(mut self, required: bool) -> RawMessage {
        self.smtputf8 = required;
        self
    }
}

impl MessageBody for RawMessage {
    fn requires_smtputf8(&self) -> bool {
        self.smtputf8
    }

    fn start(&mut self, _opts: crate::envelope::RenderOptions) -> Result<Option<u64>, BodyError> {
        self.pos = 0;
        Ok(Some(data::normalized_len(&self.bytes)))
    }

    fn is_8bit(&self) -> bool {
        self.bytes.iter().any(|&b| b >= 0x80)
    }

    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let end = self.bytes.len().min(self.pos + self.chunk_size);
        let chunk = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(Some(chunk))
    }
}
