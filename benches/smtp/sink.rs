//! A fast SMTP sink on loopback for the W4 bench: accepts every command,
//! discards message content, and counts round trips and stalls.
//!
//! **Round trip.** The sink answers like a pipelining server (RFC 2920 §3.2
//! batching): it works through all the input it has, queueing replies, and
//! writes the queued replies (one write) only when it has consumed
//! everything and nothing more is readable — that is, when it must wait for
//! the client. Each such write-then-wait is one round trip. Round trips are
//! counted from the end of the EHLO/HELO exchange to QUIT (the flush that
//! carries EHLO's or QUIT's reply is not counted), so a client's per-message
//! NOOP or RSET counts too; round trips per message = round trips /
//! messages accepted. A client that writes a whole message (MAIL, RCPT,
//! `BDAT n LAST` and the content) at once costs 1; MAIL…DATA then the
//! content and `.` costs 2; one command at a time costs 4.
//!
//! **Stall.** Inside a transaction (MAIL to its final reply), a read that
//! comes 20 ms or more after the sink's last read or write: the client held
//! back bytes it could have sent (on Linux, Nagle's algorithm waiting for
//! the sink's delayed ACK, about 40 ms).
//!
//! **ACK behaviour.** [`Ack::Quick`] sets TCP_NODELAY and re-arms
//! TCP_QUICKACK after every read, so every segment is acknowledged at once.
//! [`Ack::Normal`] leaves the socket as Linux makes it: delayed ACKs (the
//! ACK waits for a reply to ride on, up to about 40 ms), as most servers do.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The extensions the sink advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ext {
    /// PIPELINING and CHUNKING.
    PipeChunk,
    /// PIPELINING only.
    Pipe,
    /// Neither.
    Plain,
}

impl Ext {
    pub fn label(self) -> &'static str {
        match self {
            Ext::PipeChunk => "PIPELINING+CHUNKING",
            Ext::Pipe => "PIPELINING",
            Ext::Plain => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Ext> {
        match s {
            "pc" | "pipelining+chunking" => Some(Ext::PipeChunk),
            "p" | "pipelining" => Some(Ext::Pipe),
            "none" | "plain" => Some(Ext::Plain),
            _ => None,
        }
    }
}

/// How the sink acknowledges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// TCP_NODELAY, and TCP_QUICKACK after every read.
    Quick,
    /// Linux's default delayed ACK.
    Normal,
}

impl Ack {
    pub fn label(self) -> &'static str {
        match self {
            Ack::Quick => "quick ACK",
            Ack::Normal => "delayed ACK",
        }
    }

    pub fn parse(s: &str) -> Option<Ack> {
        match s {
            "quick" => Some(Ack::Quick),
            "normal" | "delayed" => Some(Ack::Normal),
            _ => None,
        }
    }
}

/// What the sink saw, over all its connections.
#[derive(Default, Debug)]
pub struct Stats {
    pub connections: AtomicU64,
    /// Final 2xx replies to message content (end of DATA, BDAT … LAST).
    pub messages: AtomicU64,
    pub round_trips: AtomicU64,
    pub stalls: AtomicU64,
    /// Message content octets received (after DATA or BDAT).
    pub content_octets: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub connections: u64,
    pub messages: u64,
    pub round_trips: u64,
    pub stalls: u64,
    pub content_octets: u64,
}

impl Stats {
    pub fn snapshot(&self) -> Counts {
        Counts {
            connections: self.connections.load(Ordering::SeqCst),
            messages: self.messages.load(Ordering::SeqCst),
            round_trips: self.round_trips.load(Ordering::SeqCst),
            stalls: self.stalls.load(Ordering::SeqCst),
            content_octets: self.content_octets.load(Ordering::SeqCst),
        }
    }
}

/// A running sink; stops accepting when dropped (open connections run on
/// until their client closes).
pub struct Sink {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Sink {
    /// Starts a sink on 127.0.0.1 (`port` 0: any free port).
    pub fn start(ext: Ext, ack: Ack, port: u16) -> io::Result<Sink> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = {
            let (stats, stop, conns) = (stats.clone(), stop.clone(), conns.clone());
            std::thread::spawn(move || {
                for sock in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(sock) = sock else { continue };
                    let stats = stats.clone();
                    let h = std::thread::spawn(move || {
                        stats.connections.fetch_add(1, Ordering::SeqCst);
                        let _ = Conn::new(sock, ext, ack, stats).run();
                    });
                    conns.lock().unwrap().push(h);
                }
            })
        };
        Ok(Sink {
            addr,
            stats,
            stop,
            accept: Some(accept),
            conns,
        })
    }

    /// Waits until every connection so far has ended (at most `limit`).
    pub fn wait_idle(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            let done = self.conns.lock().unwrap().iter().all(|h| h.is_finished());
            if done || start.elapsed() > limit {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// `recv(2)` with flags into `buf`.
fn recv(sock: &TcpStream, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the descriptor belongs to `sock`, which outlives the call, and
    // `buf` is a valid, writable region of `buf.len()` bytes for its whole
    // duration; recv writes at most that many bytes into it.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::c_void>(),
            buf.len(),
            flags,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sets an `IPPROTO_TCP` integer option.
fn set_tcp_opt(sock: &TcpStream, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the descriptor belongs to `sock`, alive during the call; the
    // option value points to a live c_int whose size is passed.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            opt,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

const STALL: Duration = Duration::from_millis(20);
const MAX_LINE: usize = 4096;

enum State {
    Command,
    /// After DATA's 354; `bol`: at the start of a line.
    Data {
        bol: bool,
    },
    /// Reading a chunk; `refused`: its reply is a refusal.
    Bdat {
        left: u64,
        last: bool,
        refused: bool,
    },
}

struct Conn {
    sock: TcpStream,
    ext: Ext,
    ack: Ack,
    stats: Arc<Stats>,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    state: State,
    in_txn: bool,
    rcpts: u32,
    /// Round trips are counted (after EHLO/HELO).
    counting: bool,
    /// The queued replies include EHLO's/HELO's or QUIT's: not counted.
    uncounted_flush: bool,
    quit: bool,
    last_io: Instant,
}

impl Conn {
    fn new(sock: TcpStream, ext: Ext, ack: Ack, stats: Arc<Stats>) -> Conn {
        Conn {
            sock,
            ext,
            ack,
            stats,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            out: Vec::new(),
            state: State::Command,
            in_txn: false,
            rcpts: 0,
            counting: false,
            uncounted_flush: false,
            quit: false,
            last_io: Instant::now(),
        }
    }

    fn run(mut self) -> io::Result<()> {
        if self.ack == Ack::Quick {
            self.sock.set_nodelay(true)?;
        }
        self.out.extend_from_slice(b"220 sink ESMTP\r\n");
        self.uncounted_flush = true;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            self.process();
            if self.quit {
                self.flush()?;
                return Ok(());
            }
            // Everything buffered is consumed: read more, without waiting
            // if the client already sent it; else flush, then wait.
            let mut n = match recv(&self.sock, &mut chunk, libc::MSG_DONTWAIT) {
                Ok(n) => Some(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n.is_none() {
                if !self.out.is_empty() {
                    self.flush()?;
                }
                loop {
                    match recv(&self.sock, &mut chunk, 0) {
                        Ok(k) => {
                            n = Some(k);
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let n = n.unwrap_or(0);
            if n == 0 {
                return Ok(());
            }
            if self.ack == Ack::Quick {
                // Linux clears quick-ACK mode by itself: set it again.
                let _ = set_tcp_opt(&self.sock, libc::TCP_QUICKACK, 1);
            }
            let now = Instant::now();
            if self.in_txn && now.duration_since(self.last_io) >= STALL {
                self.stats.stalls.fetch_add(1, Ordering::Relaxed);
            }
            self.last_io = now;
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.sock.write_all(&self.out)?;
        self.out.clear();
        self.last_io = Instant::now();
        if self.counting && !self.uncounted_flush {
            self.stats.round_trips.fetch_add(1, Ordering::Relaxed);
        }
        self.uncounted_flush = false;
        Ok(())
    }

    fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn accepted(&mut self) {
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        self.in_txn = false;
        self.rcpts = 0;
        self.reply("250 2.0.0 Ok: queued");
    }

    /// Consumes what it can of the buffered input.
    fn process(&mut self) {
        while !self.quit {
            let rest = &self.buf[self.pos..];
            match self.state {
                State::Command => {
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() > MAX_LINE {
                            self.reply("500 5.5.2 line too long");
                            self.pos = self.buf.len();
                        }
                        return;
                    };
                    let line = String::from_utf8_lossy(&rest[..nl]).trim_end().to_string();
                    self.pos += nl + 1;
                    self.command(&line);
                }
                State::Data { bol } => {
                    if rest.is_empty() {
                        return;
                    }
                    if bol && rest.len() < 3 && b".\r\n".starts_with(rest) {
                        return; // maybe the end: wait for more
                    }
                    if bol && rest.starts_with(b".\r\n") {
                        self.pos += 3;
                        self.state = State::Command;
                        self.accepted();
                        continue;
                    }
                    let (used, bol) = match rest.iter().position(|&b| b == b'\n') {
                        Some(nl) => (nl + 1, true),
                        None => (rest.len(), false),
                    };
                    self.pos += used;
                    self.stats
                        .content_octets
                        .fetch_add(used as u64, Ordering::Relaxed);
                    self.state = State::Data { bol };
                }
                State::Bdat {
                    left,
                    last,
                    refused,
                } => {
                    let take = (rest.len() as u64).min(left);
                    self.pos += take as usize;
                    self.stats.content_octets.fetch_add(take, Ordering::Relaxed);
                    if take < left {
                        self.state = State::Bdat {
                            left: left - take,
                            last,
                            refused,
                        };
                        return;
                    }
                    self.state = State::Command;
                    if refused {
                        self.reply("554 5.5.1 no valid recipients");
                    } else if last {
                        self.accepted();
                    } else {
                        self.reply("250 2.0.0 chunk ok");
                    }
                }
            }
        }
    }

    fn command(&mut self, line: &str) {
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                let mut lines = vec!["sink"];
                if self.ext != Ext::Plain {
                    lines.push("PIPELINING");
                }
                if self.ext == Ext::PipeChunk {
                    lines.push("CHUNKING");
                }
                lines.push("8BITMIME");
                for (i, l) in lines.iter().enumerate() {
                    let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                    self.reply(&format!("250{sep}{l}"));
                }
                self.counting = true;
                self.uncounted_flush = true;
            }
            "HELO" => {
                self.reply("250 sink");
                self.counting = true;
                self.uncounted_flush = true;
            }
            "MAIL" => {
                self.in_txn = true;
                self.rcpts = 0;
                self.reply("250 2.1.0 Ok");
            }
            "RCPT" if self.in_txn => {
                self.rcpts += 1;
                self.reply("250 2.1.5 Ok");
            }
            "DATA" if self.in_txn && self.rcpts > 0 => {
                self.state = State::Data { bol: true };
                self.reply("354 End data with <CR><LF>.<CR><LF>");
            }
            "BDAT" => {
                let mut args = line.split_ascii_whitespace().skip(1);
                let size = args.next().and_then(|s| s.parse::<u64>().ok());
                let last = args.next().is_some_and(|a| a.eq_ignore_ascii_case("LAST"));
                match size {
                    // The octets are read (and dropped) whatever happens.
                    Some(left) => {
                        let refused = !(self.in_txn && self.rcpts > 0);
                        if refused {
                            self.in_txn = false;
                        }
                        self.state = State::Bdat {
                            left,
                            last,
                            refused,
                        };
                    }
                    None => self.reply("501 5.5.4 BDAT needs a size"),
                }
            }
            "RSET" => {
                self.in_txn = false;
                self.rcpts = 0;
                self.reply("250 2.0.0 Ok");
            }
            "NOOP" => self.reply("250 2.0.0 Ok"),
            "QUIT" => {
                self.reply("221 2.0.0 Bye");
                self.uncounted_flush = true;
                self.quit = true;
            }
            "RCPT" | "DATA" => self.reply("503 5.5.1 bad sequence of commands"),
            _ => self.reply("502 5.5.2 command not recognized"),
        }
    }
}
