//! Opening the blocking client's TCP connection within one deadline: the
//! name lookup and every address tried share the `timeout`.
//!
//! `getaddrinfo` has no timeout of its own (a broken resolver can hold it
//! for tens of seconds), so a host name is looked up on a helper thread and
//! waited for at most the time left; a lookup that overruns is abandoned
//! (its thread ends on its own when the resolver gives up). An IP literal
//! needs no lookup and no thread.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Connects to `host:port` (a name or an IP literal) within `timeout`,
/// trying each address the name has in turn. Each attempt gets its share of
/// the time left (see [`attempt_timeout`]), so an address that never
/// answers (a black-holed IPv6 route, say) leaves time for the next. The
/// error is the last address's, or `TimedOut` when the time ran out.
pub(crate) fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let addrs = resolve(host, port, timeout, system_lookup)?;
    try_in_turn(&addrs, deadline, |addr, t| {
        TcpStream::connect_timeout(&addr, t)
    })
}

/// Tries `attempt` on each address in turn, each with its share of the time
/// left before `deadline`, until one succeeds.
fn try_in_turn<T>(
    addrs: &[SocketAddr],
    deadline: Instant,
    mut attempt: impl FnMut(SocketAddr, Duration) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for (i, &addr) in addrs.iter().enumerate() {
        let Some(left) = time_left(deadline) else {
            return Err(timed_out("connecting"));
        };
        match attempt(addr, attempt_timeout(left, addrs.len() - i)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// How long one connection attempt may take when `left` remains for
/// `remaining` addresses (this one included): an equal share, but at least
/// two seconds (or all that is left), so that a slow but working address
/// is not cut short when there are many (Go's dialer does the same).
pub(crate) fn attempt_timeout(left: Duration, remaining: usize) -> Duration {
    const SANE_MINIMUM: Duration = Duration::from_secs(2);
    let share = left / u32::try_from(remaining.max(1)).unwrap_or(u32::MAX);
    share.max(SANE_MINIMUM.min(left))
}

/// `host` as an IP address when it is a literal (`::1` or `[::1]`, as a URL
/// or an SMTP literal brackets it), with `port`.
pub(crate) fn ip_literal(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

/// The addresses of `host:port`, looked up with `lookup` on a helper thread
/// and waited for at most `timeout` (no thread for an IP literal).
fn resolve<F>(host: &str, port: u16, timeout: Duration, lookup: F) -> io::Result<Vec<SocketAddr>>
where
    F: FnOnce(String, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    if let Some(addr) = ip_literal(host, port) {
        return Ok(vec![addr]);
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let name = host.to_owned();
    thread::Builder::new()
        .name("mimeograph-dns".into())
        .spawn(move || {
            // The receiver is gone when the wait timed out: nothing to do.
            let _ = tx.send(lookup(name, port));
        })?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(timed_out("looking up the host name")),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(io::Error::other("the host name lookup failed"))
        }
    }
}

/// The system resolver (`getaddrinfo`).
fn system_lookup(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host.as_str(), port).to_socket_addrs()?.collect())
}

/// The time until `deadline`, or `None` once it has passed.
fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_that_overruns_the_timeout_is_a_timeout() {
        let started = Instant::now();
        let err = resolve("slow.example", 25, Duration::from_millis(100), |_, _| {
            thread::sleep(Duration::from_secs(5));
            Ok(vec![])
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("looking up"), "{err}");
        // The wait ended at the timeout, not when the lookup did.
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn a_lookup_within_the_timeout_gives_its_addresses_or_its_error() {
        let a: SocketAddr = "192.0.2.7:587".parse().unwrap();
        let got = resolve("mx.example", 587, Duration::from_secs(5), move |h, p| {
            assert_eq!((h.as_str(), p), ("mx.example", 587));
            Ok(vec![a])
        })
        .unwrap();
        assert_eq!(got, vec![a]);
        let err = resolve("nx.example", 25, Duration::from_secs(5), |_, _| {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "no such host");
    }

    #[test]
    fn an_ip_literal_is_not_looked_up() {
        let lookup = |_: String, _: u16| -> io::Result<Vec<SocketAddr>> { panic!("looked up") };
        let v4 = resolve("127.0.0.1", 25, Duration::from_secs(1), lookup).unwrap();
        assert_eq!(v4, vec!["127.0.0.1:25".parse().unwrap()]);
        let v6 = resolve("[::1]", 465, Duration::from_secs(1), lookup).unwrap();
        assert_eq!(v6, vec!["[::1]:465".parse().unwrap()]);
        let bare = resolve("::1", 465, Duration::from_secs(1), lookup).unwrap();
        assert_eq!(bare, vec!["[::1]:465".parse().unwrap()]);
    }

    #[test]
    fn each_attempt_gets_its_share_of_the_time_left_but_at_least_two_seconds() {
        let s = Duration::from_secs;
        assert_eq!(attempt_timeout(s(30), 3), s(10));
        assert_eq!(attempt_timeout(s(30), 1), s(30));
        assert_eq!(attempt_timeout(s(30), 100), s(2));
        assert_eq!(
            attempt_timeout(Duration::from_millis(500), 4),
            Duration::from_millis(500)
        );
        assert_eq!(attempt_timeout(s(3), 0), s(3));
    }

    #[test]
    fn an_address_that_never_answers_leaves_time_for_the_next() {
        let dead: SocketAddr = "[2001:db8::1]:25".parse().unwrap();
        let live: SocketAddr = "192.0.2.1:25".parse().unwrap();
        let mut tried = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = try_in_turn(&[dead, live], deadline, |addr, t| {
            tried.push((addr, t));
            if addr == dead {
                Err(timed_out("connecting"))
            } else {
                Ok(addr)
            }
        })
        .unwrap();
        assert_eq!(got, live);
        assert_eq!(tried.len(), 2);
        // The first address got about half of the 30 s, not all of it.
        assert!(tried[0].1 <= Duration::from_secs(15), "{:?}", tried[0].1);
        assert!(tried[1].1 > Duration::from_secs(14), "{:?}", tried[1].1);
    }

    #[test]
    fn every_address_failing_gives_the_last_error() {
        let a: SocketAddr = "192.0.2.1:25".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:25".parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = try_in_turn::<()>(&[a, b], deadline, |addr, _| {
            Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                addr.to_string(),
            ))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "192.0.2.2:25");
    }

    #[test]
    fn connects_to_a_listening_socket_by_name_and_by_literal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        connect("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        connect("localhost", port, Duration::from_secs(5)).unwrap();
    }
}
