//! A panic in user code (a `socket_hook`, a `Resolve` implementation, in
//! `resolve` itself or inside the stream it returns) propagates to the
//! caller, as a panic in any polled future does, and leaves nothing behind:
//! every socket the call opened is closed (the descriptor count is back to
//! where it was), and the same builder configuration, `Connector`,
//! `Resolver` and cached hickory resolver work for the next call.
//!
//! The tests count descriptors, so they run one at a time (a lock), each on
//! a runtime of its own made before the count starts. Whatever a test makes
//! outside its count (a DNS server on a thread of its own) is made under
//! the lock too ([`counting_with`]): made while another test counts, its
//! descriptors were that test's "leak" (the flaky failure of
//! `a_panicking_socket_hook_with_a_tls_handshake_in_flight`, which libtest
//! runs beside `the_cached_hickory_resolver_survives_panics_around_it`).

mod common;
mod counting_dns;
mod support;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use futures::FutureExt;
use tokio::net::TcpListener;
use tokio_endpoints::hickory_resolver::proto::rr::RecordType;
use tokio_endpoints::{
    Addrs, ConnectionBuilder, Connector, DatagramBuilder, Family, Resolve, ResolveError, Resolver,
    ServerBuilder,
};

use common::{dual_stack_blackholed_v6, open_fds, Blackhole, V4, V6};

/// One test at a time: they count the process's descriptors.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A failed test must not fail the others through the lock.
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const PANIC: &str = "deliberate panic in user code";

/// Runs `body` on a fresh multi-thread runtime (made before the count) and
/// checks that the descriptor count is back to `before` after it.
fn counting<F, Fut>(body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    counting_with(|| (), |()| body())
}

/// [`counting`], with `setup` run under the lock before the count: what it
/// makes (and keeps open) is in `before`, and no other test counts while
/// it opens descriptors.
fn counting_with<S, F, Fut>(setup: impl FnOnce() -> S, body: F)
where
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = ()>,
{
    let _guard = serial();
    let made = setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Warm the runtime's own descriptors (blocking pool, I/O driver).
    rt.block_on(async {
        tokio::task::spawn_blocking(|| ()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
    let before = open_fds();
    rt.block_on(body(made));
    if let (Some(before), Some(after)) = (before, open_fds()) {
        assert_eq!(after, before, "descriptors leaked");
    }
}

/// Polls `fut` to its end, catching a panic: `Err(message)` if it panicked.
async fn catch<T>(fut: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|payload| {
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        })
}

/// A socket hook that panics while `armed` and counts its calls.
#[derive(Clone, Default)]
struct Hook {
    armed: Arc<AtomicBool>,
    /// Panic only from this call on (counted from 1), while armed.
    from_call: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl Hook {
    fn arm(&self, from_call: usize) {
        self.calls.store(0, Ordering::SeqCst);
        self.from_call.store(from_call, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn func(&self) -> impl Fn(&socket2::Socket) -> io::Result<()> + Send + Sync + 'static {
        let this = self.clone();
        move |_socket| {
            let n = this.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if this.armed.load(Ordering::SeqCst) && n >= this.from_call.load(Ordering::SeqCst) {
                panic!("{PANIC}");
            }
            Ok(())
        }
    }
}

/// A listener on 127.0.0.1 that accepts and drops connections until told
/// to stop (so that its descriptors are gone before the count).
async fn acceptor() -> (SocketAddr, impl FnOnce() -> tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            drop(conn);
        }
    });
    (addr, move || {
        task.abort();
        task
    })
}

#[test]
fn a_panicking_socket_hook_propagates_closes_the_race_and_poisons_nothing() {
    counting(|| async {
        let (ok, stop) = acceptor().await;
        let bh6 = Blackhole::new(V6);
        let hook = Hook::default();
        let connector = Connector::new()
            .socket_hook(hook.func())
            .happy_eyeballs(Duration::from_millis(5));
        let targets = vec![bh6.addr, ok];

        // The first attempt (to the blackhole) is in flight when the hook
        // panics on the second one.
        hook.arm(2);
        let got = catch(connector.connect(targets.clone())).await;
        assert_eq!(got.unwrap_err(), PANIC, "the panic reaches the caller");
        assert_eq!(hook.calls(), 2);

        // The panic on the very first attempt, through a builder.
        hook.arm(1);
        let builder = ConnectionBuilder::new(targets.clone())
            .socket_hook(hook.func())
            .happy_eyeballs(Duration::from_millis(5));
        assert_eq!(catch(builder.connect()).await.unwrap_err(), PANIC);

        // In a spawned task, as tokio reports any panic in a polled future.
        hook.arm(2);
        let task = tokio::spawn(connector.connect(targets.clone()));
        let err = task.await.unwrap_err();
        assert!(err.is_panic(), "{err}");

        // Nothing is poisoned: the same connector (and hook) works.
        hook.disarm();
        for _ in 0..3 {
            let stream = connector.connect(targets.clone()).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), ok);
        }
        stop().await.unwrap_err();
        drop(bh6);
    });
}

#[test]
fn a_panicking_socket_hook_with_a_tls_handshake_in_flight() {
    counting(|| async {
        let ca = support::Ca::new("panics CA");
        let leaf = ca.leaf(&["localhost"]);
        // [::1] takes TCP and never answers the ClientHello: its handshake
        // is in flight when the next attempt's hook panics.
        let silent = TcpListener::bind((V6, 0)).await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        let silent_task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = silent.accept().await else {
                    return;
                };
                // Held unread: the ClientHello waits in the kernel's buffer.
                keep.lock().unwrap().push(conn);
            }
        });
        let (tls_addr, server) = support::echo_server("127.0.0.1:0", leaf.server_config(&[])).await;
        let hook = Hook::default();
        let connector = Connector::new()
            .socket_hook(hook.func())
            .tls_config(ca.client_config())
            .happy_eyeballs(Duration::from_millis(20));
        let targets = vec![silent_addr, tls_addr];

        hook.arm(2);
        let got = catch(
            connector
                .builder(targets.clone())
                .server_name("localhost")
                .connect_tls(),
        )
        .await;
        assert_eq!(got.unwrap_err(), PANIC);

        hook.disarm();
        let stream = connector
            .builder(targets)
            .server_name("localhost")
            .connect_tls()
            .await
            .unwrap();
        assert_eq!(stream.get_ref().0.peer_addr().unwrap(), tls_addr);
        drop(stream);
        assert!(server.await.unwrap().handshake_ok);
        silent_task.abort();
        let _ = silent_task.await;
        held.lock().unwrap().clear();
    });
}

/// A resolver that panics where it is told to, and otherwise answers
/// `ips` in one batch.
#[derive(Debug, Clone)]
struct PanickyResolver {
    ips: Vec<IpAddr>,
    mode: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

type Batch = Result<Vec<IpAddr>, ResolveError>;

/// Answers normally.
const CALM: usize = 0;
/// Panics in `resolve` itself.
const IN_RESOLVE: usize = 1;
/// Yields the first address at once, then panics inside the stream 20 ms
/// later (while that first address's attempt is in flight).
const IN_STREAM: usize = 2;
/// Panics in the stream's first poll.
const AT_FIRST_POLL: usize = 3;

impl PanickyResolver {
    fn new(ips: Vec<IpAddr>) -> PanickyResolver {
        PanickyResolver {
            ips,
            mode: Arc::default(),
            calls: Arc::default(),
        }
    }

    fn set(&self, mode: usize) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

impl Resolve for PanickyResolver {
    fn resolve(&self, _host: &str, _family: Family) -> Addrs {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let ips = self.ips.clone();
        match self.mode.load(Ordering::SeqCst) {
            IN_RESOLVE => panic!("{PANIC}"),
            IN_STREAM => stream::iter([Ok(vec![ips[0]])])
                .chain(stream::once(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    panic!("{PANIC}")
                }))
                .boxed(),
            AT_FIRST_POLL => {
                stream::poll_fn(|_| -> Poll<Option<Batch>> { panic!("{PANIC}") }).boxed()
            }
            _ => stream::iter([Ok(ips)]).boxed(),
        }
    }
}

#[test]
fn a_panicking_resolver_propagates_closes_the_race_and_poisons_nothing() {
    counting(|| async {
        // [::1] is blackholed and 127.0.0.1 listens, on one port.
        let (listener, bh6, port) = dual_stack_blackholed_v6();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                drop(conn);
            }
        });
        let panicky = PanickyResolver::new(vec![V6, V4]);
        let resolver = Resolver::new(panicky.clone());
        let connector = Connector::new()
            .resolver(resolver.clone())
            .happy_eyeballs(Duration::from_millis(250));
        let target = format!("panicky.test:{port}");

        for mode in [IN_RESOLVE, IN_STREAM, AT_FIRST_POLL] {
            panicky.set(mode);
            let got = catch(connector.connect(target.as_str())).await;
            assert_eq!(got.unwrap_err(), PANIC, "mode {mode}");
            // Through a builder that shares the resolver, too.
            let builder = ConnectionBuilder::new(target.as_str()).resolver(resolver.clone());
            assert_eq!(
                catch(builder.connect()).await.unwrap_err(),
                PANIC,
                "mode {mode}"
            );
        }
        assert_eq!(panicky.calls.load(Ordering::SeqCst), 6);

        // Nothing is poisoned: the same connector, resolver and builder
        // configuration work.
        panicky.set(CALM);
        let stream = connector.connect(target.as_str()).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), SocketAddr::new(V4, port));
        drop(stream);
        let stream = ConnectionBuilder::new(target.as_str())
            .resolver(resolver.clone())
            .happy_eyeballs(Duration::from_millis(10))
            .connect()
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), port);
        drop(stream);
        accept.abort();
        let _ = accept.await;
        drop(bh6);
    });
}

/// Wraps a resolver and panics inside its stream after the first item.
#[derive(Debug)]
struct PanicAfterFirst(Resolver);

impl Resolve for PanicAfterFirst {
    fn resolve(&self, host: &str, family: Family) -> Addrs {
        self.0
            .resolve(host, family)
            .take(1)
            .chain(stream::poll_fn(|_| -> Poll<Option<Batch>> {
                panic!("{PANIC}")
            }))
            .boxed()
    }
}

#[test]
fn the_cached_hickory_resolver_survives_panics_around_it() {
    counting_with(counting_dns::DnsServer::start, |dns| async move {
        let (ok, stop) = acceptor().await;
        let port = ok.port();
        let cached = Resolver::new(dns.resolver());
        let hook = Hook::default();
        let connector = Connector::new()
            .resolver(cached.clone())
            .socket_hook(hook.func())
            .family(Family::V4);
        let target = format!("panic-cache.test:{port}");

        // A panic in the hook, with the resolution done or in flight.
        hook.arm(1);
        assert_eq!(
            catch(connector.connect(target.as_str())).await.unwrap_err(),
            PANIC
        );
        // A panic inside a stream around the cached resolver, with its
        // other lookup possibly in flight. The port refuses, so the race
        // asks the stream for more after the first batch whichever family
        // it is (to `ok`'s port, a first batch of 127.0.0.1 could win
        // before the stream is polled again: no panic).
        let closed = common::refused(V4).port();
        let wrapped = ConnectionBuilder::new(format!("panic-wrapped.test:{closed}"))
            .resolver(PanicAfterFirst(cached.clone()));
        assert_eq!(catch(wrapped.connect()).await.unwrap_err(), PANIC);

        // The cache and its locks are intact: the next calls work, and
        // the first name's answer comes from the cache.
        hook.disarm();
        let stream = connector.connect(target.as_str()).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), ok);
        drop(stream);
        assert_eq!(dns.count("panic-cache.test", RecordType::A), 1, "cached");
        let stream = ConnectionBuilder::new(format!("panic-wrapped.test:{port}"))
            .resolver(cached.clone())
            .family(Family::V4)
            .connect()
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), ok);
        drop(stream);
        stop().await.unwrap_err();
    });
}

#[test]
fn a_panicking_server_socket_hook_closes_the_listeners_it_made() {
    counting(|| async {
        let hook = Hook::default();
        // "localhost" is [::1] and 127.0.0.1: the hook panics on the
        // second socket, after the first one is bound.
        let config = |hook: &Hook| ServerBuilder::new("localhost:0").socket_hook(hook.func());
        hook.arm(2);
        let got = catch(config(&hook).bind()).await;
        assert_eq!(got.unwrap_err(), PANIC);
        assert_eq!(hook.calls(), 2);

        hook.disarm();
        let listener = config(&hook).bind().await.unwrap();
        assert_eq!(listener.local_addrs().len(), 2);
        drop(listener);
    });
}

#[test]
fn a_panicking_datagram_socket_hook_closes_its_socket() {
    counting(|| async {
        let hook = Hook::default();
        let config = |hook: &Hook| {
            DatagramBuilder::new()
                .local_addr("127.0.0.1:0")
                .socket_hook(hook.func())
        };
        hook.arm(1);
        assert_eq!(catch(config(&hook).bind()).await.unwrap_err(), PANIC);
        hook.disarm();
        let socket = config(&hook).bind().await.unwrap();
        assert_eq!(socket.local_addr().unwrap().ip(), V4);
        drop(socket);
    });
}
