//! A small thread-safe pool of blocking clients.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::client::SmtpClient;
use super::error::NativeError;
use super::options::Options;
use super::session::SentMessage;
use crate::mime::Message;

/// A pool of SMTP connections shared by many threads: at most
/// [`Pool::max_connections`] open at once, each replaced (QUIT, then a new
/// connection) after [`Pool::max_messages`] messages. Each connection is an
/// [`SmtpClient`], so every message gets its retries and its typed errors
/// (including [`NativeError::OutcomeUnknown`]).
///
/// ```no_run
/// use mimeograph::mime::Message;
/// use mimeograph::native::{Options, Pool};
/// let pool = Pool::new(Options::from_url("smtp://mail.example.com:587")?)
///     .with_max_connections(4)
///     .with_max_messages(100);
/// std::thread::scope(|s| {
///     for n in 0..8 {
///         let pool = &pool;
///         s.spawn(move || {
///             let m = Message::builder()
///                 .from("ann@example.com")
///                 .to("bob@example.net")
///                 .subject(format!("Hi {n}"))
///                 .text("Hello\n")
///                 .build()?;
///             pool.send(m).map(|_| ())
///         });
///     }
/// });
/// pool.close()?;
/// # Ok::<(), mimeograph::native::NativeError>(())
/// ```
pub struct Pool {
    options: Options,
    max_connections: usize,
    max_messages: usize,
    state: Mutex<State>,
    available: Condvar,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("options", &self.options)
            .field("max_connections", &self.max_connections)
            .field("max_messages", &self.max_messages)
            .finish_non_exhaustive()
    }
}

struct State {
    idle: Vec<Worker>,
    busy: usize,
    closed: bool,
}

/// One client and how many messages its current connection carried.
struct Worker {
    client: SmtpClient,
    connection: u64,
    messages: usize,
}

impl Pool {
    /// A pool with these options, at most 5 connections and 100 messages
    /// per connection (nodemailer's defaults). Nothing is connected yet.
    pub fn new(options: Options) -> Pool {
        Pool {
            options,
            max_connections: 5,
            max_messages: 100,
            state: Mutex::new(State {
                idle: Vec::new(),
                busy: 0,
                closed: false,
            }),
            available: Condvar::new(),
        }
    }

    /// Sets the most connections open at once (at least 1).
    pub fn with_max_connections(mut self, n: usize) -> Pool {
        self.max_connections = n.max(1);
        self
    }

    /// Sets the most messages sent over one connection before it is
    /// replaced (at least 1).
    pub fn with_max_messages(mut self, n: usize) -> Pool {
        self.max_messages = n.max(1);
        self
    }

    /// The most connections open at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The most messages per connection.
    pub fn max_messages(&self) -> usize {
        self.max_messages
    }

    /// The options every connection uses.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends a message over a free connection (opening one if fewer than
    /// the maximum are open, else waiting for one), as
    /// [`SmtpClient::send`] does. Callable from many threads at once.
    pub fn send(&self, message: Message) -> Result<SentMessage, NativeError> {
        let mut worker = self.checkout()?;
        // Frees the slot if the send panics (a logger's panic, say) and the
        // worker is never checked in: without it, a pool at its maximum
        // would wait for that slot forever.
        let slot = SlotGuard { pool: self };
        let result = worker.client.send(message);
        std::mem::forget(slot);
        let connection = worker.client.connections_opened();
        if connection != worker.connection {
            // The message went over a new connection (a reconnect).
            worker.connection = connection;
            worker.messages = 0;
        }
        worker.messages += 1;
        self.checkin(worker);
        result
    }

    /// A slot taken by a send that panicked: freed (its connection is
    /// dropped with the worker).
    fn release_slot(&self) {
        let mut state = self.lock();
        state.busy = state.busy.saturating_sub(1);
        drop(state);
        self.available.notify_one();
    }

    fn checkout(&self) -> Result<Worker, NativeError> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(NativeError::PoolClosed);
            }
            if let Some(worker) = state.idle.pop() {
                state.busy += 1;
                return Ok(worker);
            }
            if state.busy < self.max_connections {
                state.busy += 1;
                return Ok(Worker {
                    client: SmtpClient::new(self.options.clone()),
                    connection: 0,
                    messages: 0,
                });
            }
            state = self
                .available
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn checkin(&self, mut worker: Worker) {
        // QUIT before the slot is freed, so that no more than the maximum
        // of connections are ever open.
        let spent = worker.messages >= self.max_messages;
        if spent {
            let _ = worker.client.close();
        }
        let mut state = self.lock();
        state.busy = state.busy.saturating_sub(1);
        let back = if spent || state.closed {
            Some(worker)
        } else {
            state.idle.push(worker);
            None
        };
        drop(state);
        self.available.notify_one();
        if let (Some(mut worker), false) = (back, spent) {
            // The pool was closed while this message was in flight.
            let _ = worker.client.close();
        }
    }

    /// Closes the pool: says QUIT on every idle connection (connections
    /// busy with a message are closed when it is done); later sends fail
    /// with [`NativeError::PoolClosed`]. Returns the first QUIT error.
    pub fn close(&self) -> Result<(), NativeError> {
        let idle = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.idle)
        };
        self.available.notify_all();
        let mut result = Ok(());
        for mut worker in idle {
            if let Err(e) = worker.client.close() {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }
}

/// Frees a checked-out slot when dropped during a panic (see `Pool::send`);
/// forgotten on the normal path, where `checkin` frees it.
struct SlotGuard<'p> {
    pool: &'p Pool,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.pool.release_slot();
    }
}
