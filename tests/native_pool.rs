//! `mimeograph::native::Pool` against a real aiosmtpd server: many threads,
//! a few connections, every message exactly once, and the server's count of
//! concurrent connections and of messages per connection.
//!
//! Needs `python3` with `aiosmtpd` (`pip install -r tests/requirements.txt`).
#![cfg(all(not(target_arch = "wasm32"), feature = "native"))]

mod native_support;

use std::collections::HashMap;
use std::sync::Mutex;

use mimeograph::native::{NativeError, Pool};
use native_support::*;

/// Sends `threads × per_thread` messages through `pool` from `threads`
/// threads; returns their Message-IDs.
fn send_from_threads(pool: &Pool, threads: usize, per_thread: usize) -> Vec<String> {
    let ids = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let (pool, ids) = (pool, &ids);
            s.spawn(move || {
                for k in 0..per_thread {
                    let n = t * per_thread + k;
                    let m = message(n, &format!("user{n}@example.net"));
                    let id = m.message_id().to_string();
                    let sent = pool.send(m).unwrap();
                    assert_eq!(sent.message_id, id);
                    ids.lock().unwrap().push(id);
                }
            });
        }
    });
    ids.into_inner().unwrap()
}

/// Messages per server-side connection.
fn per_connection(got: &[Captured]) -> HashMap<u64, usize> {
    let mut per: HashMap<u64, usize> = HashMap::new();
    for g in got {
        *per.entry(g.conn).or_default() += 1;
    }
    per
}

#[test]
fn four_connections_250_messages_each_from_eight_threads() {
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.logger = None;
    let pool = Pool::new(o).with_max_connections(4).with_max_messages(250);
    let ids = send_from_threads(&pool, 8, 125);
    pool.close().unwrap();
    assert_eq!(ids.len(), 1000);
    let got = captured(&s);
    exactly_once(&ids, &got);
    let peak = got.iter().map(|g| g.peak).max().unwrap();
    assert!(peak <= 4, "the server saw {peak} connections at once");
    assert!(peak >= 2, "the pool never used two connections at once");
    let per = per_connection(&got);
    assert!(per.values().all(|&n| n <= 250), "{per:?}");
    // 1000 messages, at most 250 per connection: at least 4 connections.
    assert!(per.len() >= 4, "{per:?}");
    // The pool is closed: no more sends.
    let e = pool.send(message(0, "bob@example.net")).unwrap_err();
    assert!(matches!(e, NativeError::PoolClosed), "{e:?}");
}

#[test]
fn connections_are_replaced_after_max_messages() {
    let s = server(&[]);
    let (mut o, _) = options(s.port);
    o.logger = None;
    let pool = Pool::new(o).with_max_connections(2).with_max_messages(7);
    let ids = send_from_threads(&pool, 4, 15);
    pool.close().unwrap();
    let got = captured(&s);
    exactly_once(&ids, &got);
    let per = per_connection(&got);
    assert!(per.values().all(|&n| n <= 7), "{per:?}");
    // 60 messages, at most 7 per connection: at least 9 connections.
    assert!(per.len() >= 9, "{per:?}");
    let peak = got.iter().map(|g| g.peak).max().unwrap();
    assert!(peak <= 2, "the server saw {peak} connections at once");
}

#[test]
fn a_dropped_pooled_connection_is_retried_once() {
    // The 5th MAIL the server sees aborts its connection.
    let s = server(&["--drop-at", "5"]);
    let (mut o, _) = options(s.port);
    o.logger = None;
    let pool = Pool::new(o).with_max_connections(3).with_max_messages(100);
    let ids = send_from_threads(&pool, 3, 6);
    pool.close().unwrap();
    exactly_once(&ids, &captured(&s));
}

#[test]
fn a_send_that_panics_frees_its_slot() {
    let s = server(&[]);
    let (o, _) = options(s.port);
    // A logger that panics once (a user's bug): the first send panics.
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let fire = std::sync::Arc::clone(&armed);
    let o = o.with_logger(move |_| {
        if fire.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("the logger's panic");
        }
    });
    let pool = std::sync::Arc::new(Pool::new(o).with_max_connections(1));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.send(message(1, "bob@example.net"))
    }));
    assert!(panicked.is_err(), "the first send was meant to panic");
    assert!(!armed.load(std::sync::atomic::Ordering::SeqCst));
    // With one connection at most, the next send waits for that slot: it
    // must have been freed (in a thread left behind if it hangs, so that a
    // hang fails the test instead of blocking it).
    let (tx, rx) = std::sync::mpsc::channel();
    let p = std::sync::Arc::clone(&pool);
    std::thread::spawn(move || {
        let _ = tx.send(p.send(message(2, "bob@example.net")).map(|m| m.message_id));
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the second send never got a connection");
    r.unwrap();
    pool.close().unwrap();
}
