//! A message body the client can hand to the engine more than once (for a
//! retry), and that keeps the real composition error.
//!
//! The engine owns the handle it is given and drops it when the message
//! is done (sent or failed, before the event is reported); the handle then
//! puts the message stream back, so a retry can start it again.
//!
//! A message without a stream attachment is read directly by the handle:
//! no thread, no lock and no copy per chunk. A message with one
//! ([`crate::mime::Attachment::reader`]) is rendered on a thread of its own
//! (the *pump*), because the user's `read` blocks and may never return:
//! the pump sends copies of the chunks through a bounded channel (at most
//! [`PUMP_BOUND`] waiting), the handle's `poll_chunk` gives `Pending` while
//! none has come, and the pump raises a [`BodySignal`] at every chunk, at
//! the end, and whenever a `read` gave bytes, so that the transport calls
//! [`crate::smtp::Client::body_ready`]. The engine's body timeout then
//! bounds a source that stalls ([`crate::smtp::SmtpError::BodyTimeout`]).
//! A pump blocked in a `read` cannot be stopped: once its message is done
//! it is left behind and ends when that `read` returns (its sends fail,
//! nobody receives them); the stream goes back to the body's slot then.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::envelope::RenderOptions;
use crate::mime::{ComposeError, Message, MessageStream};
use crate::smtp::{BodyError, MessageBody};

/// How many chunks the pump renders ahead of the engine (besides the one
/// it holds and the one the engine reads): memory stays a few chunks.
const PUMP_BOUND: usize = 1;

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
    /// Set for a message with a stream attachment: its attempts render it
    /// on a pump, which raises this signal.
    signal: Option<Arc<BodySignal>>,
}

/// The engine's side: the message for one attempt.
pub(crate) struct BodyHandle {
    slot: Arc<Mutex<Slot>>,
    /// The stream while it is here: always on the direct path; on the
    /// pumped path until the pump takes it.
    stream: Option<MessageStream>,
    requires_smtputf8: bool,
    /// The pumped path's state (`None`: the direct path).
    pumped: Option<Pumped>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SharedBody {
    pub(crate) fn new(message: Message) -> SharedBody {
        let signal = message.has_reader().then(|| {
            let signal = Arc::new(BodySignal::default());
            message.wrap_readers(|inner| {
                Box::new(Watched {
                    inner,
                    signal: Arc::clone(&signal),
                })
            });
            signal
        });
        SharedBody {
            requires_smtputf8: message.requires_smtputf8(),
            slot: Arc::new(Mutex::new(Slot {
                stream: Some(message.into_stream()),
                error: None,
            })),
            signal,
        }
    }

    /// The message for another attempt (rendering restarts at `start`).
    /// Empty, so that `start` fails, if the previous attempt's handle (or
    /// its pump) still holds it.
    pub(crate) fn handle(&self) -> BodyHandle {
        BodyHandle {
            slot: Arc::clone(&self.slot),
            stream: lock(&self.slot).stream.take(),
            requires_smtputf8: self.requires_smtputf8,
            pumped: self.signal.as_ref().map(|signal| Pumped {
                signal: Arc::clone(signal),
                is_8bit: false,
                pump: None,
            }),
        }
    }

    /// What the transport waits on while the engine says the body is
    /// pending ([`crate::smtp::Client::body_pending`]); `None` for a
    /// message read directly, which never is.
    pub(crate) fn signal(&self) -> Option<&BodySignal> {
        self.signal.as_deref()
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
        if let Some(pump) = self.pumped.as_mut().and_then(|p| p.pump.take()) {
            // The pump's stream goes back to the slot: now if the pump
            // is done, else when it is (it may be blocked in a `read`).
            let mut home = lock(&pump.home);
            home.detached = true;
            if let Some(stream) = home.stream.take() {
                lock(&self.slot).stream = Some(stream);
            }
        }
    }
}

impl MessageBody for BodyHandle {
    fn requires_smtputf8(&self) -> bool {
        self.requires_smtputf8
    }

    fn start(&mut self, opts: RenderOptions) -> Result<Option<u64>, BodyError> {
        let stream = self.stream.as_mut().ok_or_else(held_elsewhere)?;
        let size = stream.start(opts).map_err(|e| fail(&self.slot, e))?;
        if let Some(p) = self.pumped.as_mut() {
            p.is_8bit = stream.is_8bit();
        }
        Ok(size)
    }

    fn is_8bit(&self) -> bool {
        match &self.pumped {
            Some(p) => p.is_8bit,
            None => self.stream.as_ref().is_some_and(MessageStream::is_8bit),
        }
    }

    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        if self.pumped.is_some() {
            // (Blocking: never `Pending`.)
            return match self.pull(true)? {
                Poll::Ready(chunk) => Ok(chunk),
                Poll::Pending => Ok(None),
            };
        }
        let stream = self.stream.as_mut().ok_or_else(held_elsewhere)?;
        stream.next_chunk().map_err(|e| fail(&self.slot, e))
    }

    fn poll_chunk(&mut self) -> Result<Poll<Option<&[u8]>>, BodyError> {
        if self.pumped.is_some() {
            return self.pull(false);
        }
        self.next_chunk().map(Poll::Ready)
    }
}

impl BodyHandle {
    /// The pumped path: the next piece from the pump (started at the first
    /// pull), waiting for it when `block`, else `Pending` when none came.
    fn pull(&mut self, block: bool) -> Result<Poll<Option<&[u8]>>, BodyError> {
        if let Some(p) = self.pumped.as_mut().filter(|p| p.pump.is_none()) {
            if self.stream.is_none() {
                return Err(held_elsewhere());
            }
            match Pump::spawn(&mut self.stream, &self.slot, &p.signal) {
                Some(pump) => p.pump = Some(pump),
                None => {
                    // No thread to be had: read it here, as before.
                    self.pumped = None;
                    return self.next_chunk().map(Poll::Ready);
                }
            }
        }
        let Some(pump) = self.pumped.as_mut().and_then(|p| p.pump.as_mut()) else {
            return Ok(Poll::Ready(None));
        };
        if pump.ended {
            return Ok(Poll::Ready(None));
        }
        let piece = if block {
            pump.rx.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            pump.rx.try_recv()
        };
        match piece {
            Ok(Piece::Chunk(chunk)) => {
                pump.current = chunk;
                Ok(Poll::Ready(Some(&pump.current)))
            }
            Ok(Piece::End) => {
                pump.ended = true;
                Ok(Poll::Ready(None))
            }
            Ok(Piece::Failed(e)) => {
                pump.ended = true;
                Err(fail(&self.slot, e))
            }
            Err(TryRecvError::Empty) => Ok(Poll::Pending),
            Err(TryRecvError::Disconnected) => {
                pump.ended = true;
                Err("the thread reading the message's stream ended (a read panicked)".into())
            }
        }
    }
}

/// The pumped path of one attempt.
struct Pumped {
    signal: Arc<BodySignal>,
    /// Whether the started rendering is 8bit (asked after `start`, when
    /// the stream may be on the pump).
    is_8bit: bool,
    /// The pump, once the first pull started it.
    pump: Option<Pump>,
}

/// What the pump sends.
enum Piece {
    Chunk(Vec<u8>),
    End,
    Failed(ComposeError),
}

/// The engine's side of a pump thread.
struct Pump {
    rx: Receiver<Piece>,
    home: Arc<Mutex<Home>>,
    /// The chunk the engine was last given.
    current: Vec<u8>,
    /// The end or an error was received.
    ended: bool,
}

/// Where a pump leaves its stream when it is done.
#[derive(Default)]
struct Home {
    stream: Option<MessageStream>,
    /// The handle is gone: the stream goes straight to the slot.
    detached: bool,
}

impl Pump {
    /// Starts a pump thread rendering the started `stream` (taken);
    /// `None`, the stream left in place, if no thread could be started.
    fn spawn(
        stream: &mut Option<MessageStream>,
        slot: &Arc<Mutex<Slot>>,
        signal: &Arc<BodySignal>,
    ) -> Option<Pump> {
        let (tx, rx) = mpsc::sync_channel(PUMP_BOUND);
        // The thread takes the stream from its home (so that a failed
        // spawn, which drops the closure, leaves it there).
        let home = Arc::new(Mutex::new(Home {
            stream: stream.take(),
            detached: false,
        }));
        let run = {
            let (home, slot, signal) = (Arc::clone(&home), Arc::clone(slot), Arc::clone(signal));
            move || pump(&home, &slot, &signal, &tx)
        };
        match std::thread::Builder::new()
            .name("mimeograph-body".into())
            .spawn(run)
        {
            Ok(_) => Some(Pump {
                rx,
                home,
                current: Vec::new(),
                ended: false,
            }),
            Err(_) => {
                *stream = lock(&home).stream.take();
                None
            }
        }
    }
}

/// The pump thread: renders the stream left in `home`, sends its pieces,
/// and puts the stream back when the rendering is over or nobody listens.
fn pump(home: &Mutex<Home>, slot: &Mutex<Slot>, signal: &BodySignal, tx: &SyncSender<Piece>) {
    let Some(mut stream) = lock(home).stream.take() else {
        return;
    };
    loop {
        let piece = match stream.next_chunk() {
            Ok(Some(chunk)) => Piece::Chunk(chunk.to_vec()),
            Ok(None) => Piece::End,
            Err(e) => Piece::Failed(e),
        };
        let last = !matches!(piece, Piece::Chunk(_));
        if last {
            // Back home before the engine hears the end, so that its
            // handle, dropped then, finds it.
            give_back(stream, home, slot);
            let _ = tx.send(piece);
            signal.raise();
            return;
        }
        let sent = tx.send(piece).is_ok();
        signal.raise();
        if !sent {
            give_back(stream, home, slot);
            return;
        }
    }
}

/// A pump's stream goes home, or to the slot once the handle is gone.
fn give_back(stream: MessageStream, home: &Mutex<Home>, slot: &Mutex<Slot>) {
    let mut home = lock(home);
    if home.detached {
        lock(slot).stream = Some(stream);
    } else {
        home.stream = Some(stream);
    }
}

/// A stream attachment's reader that raises the body signal whenever a
/// `read` gives bytes: a source that trickles keeps its message alive
/// while the writer fills a window of it.
struct Watched {
    inner: Box<dyn Read + Send>,
    signal: Arc<BodySignal>,
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.signal.raise();
        }
        Ok(n)
    }
}

/// What a pump raises and a transport waits on: a flag set by the pump
/// (a chunk, the end, or bytes read) and cleared by the waiter. A blocking
/// transport waits on the condition variable, an async one registers its
/// waker.
#[derive(Default)]
pub(crate) struct BodySignal {
    state: Mutex<SignalState>,
    cond: Condvar,
}

#[derive(Default)]
struct SignalState {
    raised: bool,
    waker: Option<Waker>,
}

impl BodySignal {
    fn raise(&self) {
        let waker = {
            let mut s = lock(&self.state);
            s.raised = true;
            s.waker.take()
        };
        self.cond.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits until the signal is raised or `timeout` has passed; true (and
    /// the signal cleared) if it was raised.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut s = lock(&self.state);
        while !s.raised {
            let left = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => timeout,
            };
            if left.is_zero() {
                break;
            }
            s = self
                .cond
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::take(&mut s.raised)
    }

    /// `Ready` (and the signal cleared) once it was raised; else `cx`'s
    /// waker is woken when it is.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll_raised(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.state);
        if std::mem::take(&mut s.raised) {
            return Poll::Ready(());
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Attachment;

    fn message(part: Attachment) -> Message {
        Message::builder()
            .from("a@example.com")
            .to("b@example.com")
            .subject("pumped")
            .text("see attached\n")
            .attach(part.filename("data.bin"))
            .deterministic(3)
            .build()
            .unwrap()
    }

    fn data() -> Vec<u8> {
        (0..300_000u32).map(|i| (i * 31 % 253) as u8).collect()
    }

    /// Waits (at most 10 s) until the slot holds the stream again.
    fn stream_comes_back(body: &SharedBody) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if lock(&body.slot).stream.is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_message_without_a_stream_is_read_directly() {
        let body = SharedBody::new(message(Attachment::bytes(data())));
        assert!(body.signal().is_none());
        let mut h = body.handle();
        assert!(h.pumped.is_none());
        h.start(RenderOptions::default()).unwrap();
        let mut n = 0;
        while let Poll::Ready(Some(c)) = h.poll_chunk().unwrap() {
            n += c.len();
        }
        assert!(n > 300_000);
        drop(h);
        assert!(body.restartable());
    }

    #[test]
    fn a_pumped_message_gives_the_same_bytes_and_comes_back() {
        let expected = message(Attachment::bytes(data())).to_bytes().unwrap();
        for len in [None, Some(data().len() as u64)] {
            let part = match len {
                Some(len) => Attachment::reader_with_len(std::io::Cursor::new(data()), len),
                None => Attachment::reader(std::io::Cursor::new(data())),
            };
            let body = SharedBody::new(message(part));
            let signal = body.signal().expect("a stream attachment is pumped");
            let mut h = body.handle();
            let size = h.start(RenderOptions::default()).unwrap();
            assert_eq!(size, len.map(|_| expected.len() as u64));
            assert!(!h.is_8bit());
            let mut out = Vec::new();
            loop {
                match h.poll_chunk().unwrap() {
                    Poll::Ready(Some(c)) => out.extend_from_slice(c),
                    Poll::Ready(None) => break,
                    Poll::Pending => {
                        signal.wait(Duration::from_secs(10));
                    }
                }
            }
            assert!(out == expected, "the pumped bytes differ");
            // The end again, and the stream back in the slot once the
            // handle is gone (not restartable: its reader was taken).
            assert!(matches!(h.poll_chunk(), Ok(Poll::Ready(None))));
            drop(h);
            assert!(lock(&body.slot).stream.is_some());
            assert!(!body.restartable());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_pump_left_behind_puts_the_stream_back_when_its_read_returns() {
        use std::io::Write;
        let (stalled, mut other_end) = std::os::unix::net::UnixStream::pair().unwrap();
        let body = SharedBody::new(message(Attachment::reader(stalled)));
        let mut h = body.handle();
        h.start(RenderOptions::default()).unwrap();
        // Headers and the text come before the stream is read, then
        // nothing: the signal stays down.
        let signal = body.signal().unwrap();
        let mut stalled = false;
        for _ in 0..1000 {
            match h.poll_chunk().unwrap() {
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => panic!("ended"),
                Poll::Pending => {
                    if !signal.wait(Duration::from_millis(200)) {
                        stalled = true;
                        break;
                    }
                }
            }
        }
        assert!(stalled);
        drop(h);
        // The pump is blocked in `read`: nothing in the slot yet.
        assert!(lock(&body.slot).stream.is_none());
        other_end.write_all(b"late").unwrap();
        drop(other_end);
        assert!(stream_comes_back(&body), "the pump kept the stream");
    }

    #[test]
    fn a_pump_blocked_on_a_full_channel_ends_when_the_handle_is_dropped() {
        let body = SharedBody::new(message(Attachment::reader(std::io::Cursor::new(data()))));
        let mut h = body.handle();
        h.start(RenderOptions::default()).unwrap();
        // One pull starts the pump; it renders ahead until the channel
        // is full, then waits to send.
        let _ = h.poll_chunk().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(h);
        assert!(stream_comes_back(&body), "the pump kept the stream");
    }

    #[test]
    fn a_failing_stream_is_the_composition_error() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let body = SharedBody::new(message(Attachment::reader(Failing)));
        let signal = body.signal().unwrap();
        let mut h = body.handle();
        h.start(RenderOptions::default()).unwrap();
        let err = loop {
            match h.poll_chunk() {
                Ok(Poll::Ready(Some(_))) => {}
                Ok(Poll::Ready(None)) => panic!("ended"),
                Ok(Poll::Pending) => {
                    signal.wait(Duration::from_secs(10));
                }
                Err(e) => break e,
            }
        };
        assert_eq!(err.to_string(), "attachment[0]: disk on fire");
        drop(h);
        match body.take_error() {
            Some(ComposeError::Io { field, source }) => {
                assert_eq!(field, "attachment[0]");
                assert_eq!(source.to_string(), "disk on fire");
            }
            other => panic!("{other:?}"),
        }
        assert!(stream_comes_back(&body));
    }

    #[test]
    fn the_signal_is_sticky_until_waited() {
        let s = BodySignal::default();
        assert!(!s.wait(Duration::from_millis(1)));
        s.raise();
        s.raise();
        assert!(s.wait(Duration::from_secs(10)));
        assert!(!s.wait(Duration::from_millis(1)));
        let s = Arc::new(s);
        let r = Arc::clone(&s);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            r.raise();
        });
        assert!(s.wait(Duration::from_secs(10)));
        t.join().unwrap();
    }
}
