//! A stream attachment fed from outside, a piece at a time: the bindings
//! push what JavaScript reads (a file, a Node stream, a web
//! `ReadableStream`) while the message is being sent, so a large attachment
//! is never held whole.
//!
//! The reading side ([`FeedReader`], given to [`super::Attachment::reader`])
//! fails with [`io::ErrorKind::WouldBlock`] while nothing is buffered and
//! the feed has not ended; the writer then reports
//! [`std::task::Poll::Pending`] (see [`super::MessageStream::poll_chunk`]),
//! and the SMTP engine waits for [`crate::smtp::Client::body_ready`].
//! [`Feed::is_waiting`] tells the pushing side that the reader wants more:
//! push then, not before, and the feed holds at most what one push gave.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Default)]
struct State {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already read.
    pos: usize,
    buffered: usize,
    pushed: u64,
    ended: bool,
    error: Option<String>,
    /// The reader found nothing and waits for a push.
    waiting: bool,
    /// The reader was dropped: nobody will read what is pushed.
    closed: bool,
}

/// The pushing side of a fed stream; clones share the same stream.
#[derive(Clone, Default)]
pub struct Feed {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Feed")
            .field("buffered", &s.buffered)
            .field("pushed", &s.pushed)
            .field("ended", &s.ended)
            .field("waiting", &s.waiting)
            .finish_non_exhaustive()
    }
}

/// Why a push was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedError {
    /// The feed was already ended or failed.
    Ended,
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream was already ended or failed")
    }
}

impl std::error::Error for FeedError {}

impl Feed {
    /// An empty feed.
    pub fn new() -> Feed {
        Feed::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reading side, for [`super::Attachment::reader`] (or
    /// [`super::Attachment::reader_with_len`] when the length is known).
    /// Take it once: two readers would share (and split) the bytes.
    pub fn reader(&self) -> FeedReader {
        FeedReader { feed: self.clone() }
    }

    /// Appends bytes (empty pushes are ignored).
    pub fn push(&self, bytes: Vec<u8>) -> Result<(), FeedError> {
        let mut s = self.lock();
        if s.ended || s.error.is_some() {
            return Err(FeedError::Ended);
        }
        if !bytes.is_empty() {
            s.buffered += bytes.len();
            s.pushed += bytes.len() as u64;
            s.chunks.push_back(bytes);
            s.waiting = false;
        }
        Ok(())
    }

    /// Ends the stream: the reader sees its end once the buffer is read.
    pub fn end(&self) {
        let mut s = self.lock();
        if s.error.is_none() {
            s.ended = true;
        }
        s.waiting = false;
    }

    /// Fails the stream: the reader's next read is an error with this text
    /// (bytes still buffered are dropped: the message is not finished).
    pub fn fail(&self, message: impl Into<String>) {
        let mut s = self.lock();
        if !s.ended && s.error.is_none() {
            s.error = Some(message.into());
            s.chunks.clear();
            s.buffered = 0;
            s.pos = 0;
        }
        s.waiting = false;
    }

    /// True when the reader found the buffer empty and waits for a push.
    pub fn is_waiting(&self) -> bool {
        self.lock().waiting
    }

    /// Bytes pushed and not yet read.
    pub fn buffered(&self) -> usize {
        self.lock().buffered
    }

    /// Bytes pushed so far.
    pub fn pushed(&self) -> u64 {
        self.lock().pushed
    }

    /// True once the stream was ended or failed.
    pub fn is_ended(&self) -> bool {
        let s = self.lock();
        s.ended || s.error.is_some()
    }

    /// True when the reader is gone (the message was sent, failed or
    /// dropped): stop reading the source.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// The reading side of a [`Feed`]: `read` gives what was pushed, fails with
/// `WouldBlock` while nothing is buffered, `Ok(0)` after [`Feed::end`], and
/// an error after [`Feed::fail`].
pub struct FeedReader {
    feed: Feed,
}

impl std::fmt::Debug for FeedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedReader")
            .field("feed", &self.feed)
            .finish()
    }
}

impl Read for FeedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.feed.lock();
        let mut n = 0;
        while n < buf.len() {
            let pos = s.pos;
            let Some(front) = s.chunks.front() else {
                break;
            };
            let take = (front.len() - pos).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&front[pos..pos + take]);
            n += take;
            if pos + take == front.len() {
                s.chunks.pop_front();
                s.pos = 0;
            } else {
                s.pos = pos + take;
            }
            s.buffered -= take;
        }
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if let Some(e) = &s.error {
            return Err(io::Error::other(e.clone()));
        }
        if s.ended {
            return Ok(0);
        }
        s.waiting = true;
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Drop for FeedReader {
    fn drop(&mut self) {
        let mut s = self.feed.lock();
        s.closed = true;
        s.waiting = false;
        s.chunks.clear();
        s.buffered = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_pushed_then_waits_then_ends() {
        let feed = Feed::new();
        let mut r = feed.reader();
        let mut buf = [0u8; 4];
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(feed.is_waiting());
        feed.push(b"abcdef".to_vec()).unwrap();
        assert!(!feed.is_waiting());
        assert_eq!(feed.buffered(), 6);
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"abcd");
        feed.push(b"gh".to_vec()).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"efgh");
        assert_eq!(feed.buffered(), 0);
        feed.end();
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert_eq!(feed.push(b"x".to_vec()), Err(FeedError::Ended));
        assert_eq!(feed.pushed(), 8);
    }

    #[test]
    fn a_failed_feed_is_an_error_and_drops_its_buffer() {
        let feed = Feed::new();
        let mut r = feed.reader();
        feed.push(b"abc".to_vec()).unwrap();
        feed.fail("disk on fire");
        let e = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert_eq!(e.to_string(), "disk on fire");
        assert!(feed.is_ended());
        // end after fail changes nothing
        feed.end();
        assert!(r.read(&mut [0u8; 8]).is_err());
    }

    #[test]
    fn dropping_the_reader_closes_the_feed() {
        let feed = Feed::new();
        let r = feed.reader();
        feed.push(vec![1; 10]).unwrap();
        assert!(!feed.is_closed());
        drop(r);
        assert!(feed.is_closed());
        assert_eq!(feed.buffered(), 0);
    }

    fn message(part: crate::mime::Attachment) -> crate::mime::Message {
        crate::mime::Message::builder()
            .from("a@example.com")
            .to("b@example.com")
            .subject("fed")
            .text("see attached\n")
            .attach(part.filename("data.bin"))
            .deterministic(7)
            .build()
            .unwrap()
    }

    /// Rendering a fed attachment, pushed in uneven pieces and polled
    /// while it waits, gives the same bytes as the attachment in memory.
    #[test]
    fn a_fed_attachment_renders_like_the_same_bytes_in_memory() {
        use std::task::Poll;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for declare_len in [false, true] {
            let expected = message(crate::mime::Attachment::bytes(data.clone()))
                .to_bytes()
                .unwrap();
            let feed = Feed::new();
            let part = if declare_len {
                crate::mime::Attachment::reader_with_len(feed.reader(), data.len() as u64)
            } else {
                crate::mime::Attachment::reader(feed.reader())
            };
            let mut stream = message(part).into_stream();
            let size = stream.start(Default::default()).unwrap();
            assert_eq!(size, declare_len.then_some(expected.len() as u64));
            let mut out = Vec::new();
            let mut rest = &data[..];
            let mut pending = 0;
            let mut piece = 1;
            loop {
                match stream.poll_chunk().unwrap() {
                    Poll::Ready(Some(chunk)) => out.extend_from_slice(chunk),
                    Poll::Ready(None) => break,
                    Poll::Pending => {
                        pending += 1;
                        assert!(feed.is_waiting());
                        // Pieces of 1, 2, 4 … bytes: every alignment mod 3 and 57.
                        let n = piece.min(rest.len());
                        piece = piece * 2 % 70_001 + 1;
                        if n == 0 {
                            feed.end();
                        } else {
                            feed.push(rest[..n].to_vec()).unwrap();
                            rest = &rest[n..];
                        }
                    }
                }
            }
            assert!(pending > 10, "{pending}");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    #[test]
    fn the_blocking_writer_reports_a_waiting_feed_as_would_block() {
        let feed = Feed::new();
        let message = message(crate::mime::Attachment::reader(feed.reader()));
        match message.to_bytes() {
            Err(crate::mime::ComposeError::Io { field, source }) => {
                assert_eq!(source.kind(), io::ErrorKind::WouldBlock);
                assert_eq!(field, "attachment[0]");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_feed_failing_midway_fails_the_rendering() {
        use std::task::Poll;
        let feed = Feed::new();
        let mut stream = message(crate::mime::Attachment::reader(feed.reader())).into_stream();
        stream.start(Default::default()).unwrap();
        feed.push(vec![0; 100_000]).unwrap();
        let mut got = 0;
        let err = loop {
            match stream.poll_chunk() {
                Ok(Poll::Ready(Some(c))) => got += c.len(),
                Ok(Poll::Ready(None)) => panic!("ended"),
                Ok(Poll::Pending) => feed.fail("connection reset by peer"),
                Err(e) => break e,
            }
        };
        assert!(got > 100_000);
        assert_eq!(err.to_string(), "attachment[0]: connection reset by peer");
    }
}
