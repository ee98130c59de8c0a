//! A message body the client can hand to the engine more than once (for a
//! retry), and that keeps the real composition error.

use std::sync::{Arc, Mutex, PoisonError};

use crate::envelope::RenderOptions;
use crate::mime::{ComposeError, Message, MessageStream};
use crate::smtp::{BodyError, MessageBody};

/// The message, shared between the client and the engine's copy of it.
#[derive(Clone)]
pub(crate) struct SharedBody {
    inner: Arc<Mutex<Inner>>,
    chunk: Vec<u8>,
    requires_smtputf8: bool,
}

struct Inner {
    stream: MessageStream,
    error: Option<ComposeError>,
}

impl SharedBody {
    pub(crate) fn new(message: Message) -> SharedBody {
        let requires_smtputf8 = message.requires_smtputf8();
        SharedBody {
            inner: Arc::new(Mutex::new(Inner {
                stream: message.into_stream(),
                error: None,
            })),
            chunk: Vec::new(),
            requires_smtputf8,
        }
    }

    /// A fresh handle for another attempt (rendering restarts at `start`).
    pub(crate) fn handle(&self) -> SharedBody {
        SharedBody {
            inner: Arc::clone(&self.inner),
            chunk: Vec::new(),
            requires_smtputf8: self.requires_smtputf8,
        }
    }

    /// The composition error that made the engine fail the message, if any.
    pub(crate) fn take_error(&self) -> Option<ComposeError> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .error
            .take()
    }

    fn fail(inner: &mut Inner, e: ComposeError) -> BodyError {
        let shown: BodyError = e.to_string().into();
        inner.error = Some(e);
        shown
    }
}

impl MessageBody for SharedBody {
    fn requires_smtputf8(&self) -> bool {
        self.requires_smtputf8
    }

    fn start(&mut self, opts: RenderOptions) -> Result<Option<u64>, BodyError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.stream.start(opts) {
            Ok(size) => Ok(size),
            Err(e) => Err(Self::fail(&mut inner, e)),
        }
    }

    fn is_8bit(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stream
            .is_8bit()
    }

    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.stream.next_chunk() {
            Ok(Some(c)) => {
                self.chunk.clear();
                self.chunk.extend_from_slice(c);
            }
            Ok(None) => return Ok(None),
            Err(e) => return Err(Self::fail(&mut inner, e)),
        }
        drop(inner);
        Ok(Some(&self.chunk))
    }
}
