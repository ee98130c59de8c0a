//! A message body the client can hand to the engine more than once (for a
//! retry), and that keeps the real composition error.
//!
//! The engine owns the handle it is given and drops it when the message
//! is done (sent or failed, before the event is reported); the handle then
//! puts the message stream back, so a retry can start it again. The handle
//! reads the stream directly: no lock and no copy per chunk.

use std::sync::{Arc, Mutex, PoisonError};

use crate::envelope::RenderOptions;
use crate::mime::{ComposeError, Message, MessageStream};
use crate::smtp::{BodyError, MessageBody};

/// The message between attempts, and the composition error of the last one.
#[derive(Default)]
struct Slot {
    stream: Option<MessageStream>,
    error: Option<ComposeError>,
}

/// The client's side: where the message waits between attempts.
pub(crate) struct SharedBody {
    slot: Arc<Mutex<Slot>>,
    requires_smtputf8: bool,
}

/// The engine's side: the message for one attempt.
pub(crate) struct BodyHandle {
    slot: Arc<Mutex<Slot>>,
    stream: Option<MessageStream>,
    requires_smtputf8: bool,
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SharedBody {
    pub(crate) fn new(message: Message) -> SharedBody {
        SharedBody {
            requires_smtputf8: message.requires_smtputf8(),
            slot: Arc::new(Mutex::new(Slot {
                stream: Some(message.into_stream()),
                error: None,
            })),
        }
    }

    /// The message for another attempt (rendering restarts at `start`).
    /// Empty, so that `start` fails, if the previous attempt's handle is
    /// still alive.
    pub(crate) fn handle(&self) -> BodyHandle {
        BodyHandle {
            slot: Arc::clone(&self.slot),
            stream: lock(&self.slot).stream.take(),
            requires_smtputf8: self.requires_smtputf8,
        }
    }

    /// Whether another attempt can write the message (false once a reader
    /// attachment was taken by an attempt, or while a handle holds it).
    pub(crate) fn restartable(&self) -> bool {
        lock(&self.slot)
            .stream
            .as_ref()
            .is_some_and(MessageStream::can_start_again)
    }

    /// The composition error that made the engine fail the message, if any.
    pub(crate) fn take_error(&self) -> Option<ComposeError> {
        lock(&self.slot).error.take()
    }
}

/// Keeps the composition error for the client; the engine gets its text.
fn fail(slot: &Mutex<Slot>, e: ComposeError) -> BodyError {
    let shown: BodyError = e.to_string().into();
    lock(slot).error = Some(e);
    shown
}

fn held_elsewhere() -> BodyError {
    "the message is still held by an earlier attempt".into()
}

impl Drop for BodyHandle {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            lock(&self.slot).stream = Some(stream);
        }
    }
}

impl MessageBody for BodyHandle {
    fn requires_smtputf8(&self) -> bool {
        self.requires_smtputf8
    }

    fn start(&mut self, opts: RenderOptions) -> Result<Option<u64>, BodyError> {
        let stream = self.stream.as_mut().ok_or_else(held_elsewhere)?;
        stream.start(opts).map_err(|e| fail(&self.slot, e))
    }

    fn is_8bit(&self) -> bool {
        self.stream.as_ref().is_some_and(MessageStream::is_8bit)
    }

    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        let stream = self.stream.as_mut().ok_or_else(held_elsewhere)?;
        stream.next_chunk().map_err(|e| fail(&self.slot, e))
    }
}
