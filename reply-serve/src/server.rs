//! The crate's own HTTP server (feature `server`; `axum` turns it on): hyper, with every limit an
//! unauthenticated client could otherwise stretch bounded.
//!
//! The platform's URL is public: anyone can open connections to it and send slowly or not at
//! all. [`Server`] serves any tower service (the [endpoint](crate::endpoint)'s, or an axum
//! router that holds it) over HTTP/1.1 with:
//!
//! - a **header timeout** ([`DEFAULT_HEADER_TIMEOUT`], 2 s): a request's head must be complete
//!   within this time of its first byte, or the connection is closed;
//! - an **idle timeout** ([`DEFAULT_IDLE_TIMEOUT`], 20 s): a connection with no request under way
//!   (a new one that sends nothing, or a kept-alive one between requests) is closed after it;
//! - a **bound on open connections** ([`Server::max_connections`], by default three quarters of
//!   the process's descriptor limit, at most 10,000), reached before the process runs out of
//!   descriptors. When it is reached, the connection idle the longest is closed to make room
//!   (a connection with a request under way never is); when every connection has a request under
//!   way, new connections wait in the listener's backlog until one ends;
//! - a **bound on a request head's bytes** ([`DEFAULT_MAX_HEAD_BYTES`], 16 KiB): hyper's read
//!   buffer, so a connection holds little memory before its request is checked.
//!
//! The body's own deadline and the bound on the bytes of bodies being read at once are the
//! endpoint's ([`Endpoint::body_timeout`], [`Endpoint::body_budget`]), so they hold under any
//! server; the endpoint checks a delivery's query before it reads a byte of its body.
//!
//! ```no_run
//! use reply_serve::endpoint::Endpoint;
//! use reply_serve::server::Server;
//! use reply_core::{Incoming, Text};
//!
//! async fn answer(msg: Incoming<'static>) -> Text<'static> {
//!     msg.reply_text("hello").into_owned()
//! }
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! Server::new(listener).serve(Endpoint::new("my-token", answer).into_service()).await
//! # }
//! ```
//!
//! An axum application serves its whole router this way (`Server::new(listener).serve(router)`),
//! with the endpoint's router nested in it.
//!
//! [`Endpoint::body_timeout`]: crate::endpoint::Endpoint::body_timeout
//! [`Endpoint::body_budget`]: crate::endpoint::Endpoint::body_budget

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::serve::{Either, race};

/// How long a request's head may take to arrive from its first byte, by default: 2 s. The
/// platform sends a head of a few hundred bytes at once.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a connection may stay open with no request under way, by default: 20 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// The most bytes of a request's head a connection reads, by default: 16 KiB (the platform's
/// heads are under 1 KiB). hyper takes no less than 8 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 << 10;

/// The most connections open at once when the descriptor limit can't be read: 768, three
/// quarters of the usual 1,024.
pub const FALLBACK_MAX_CONNECTIONS: usize = 768;

/// At a shutdown, how long the requests under way may take by default: 10 s.
pub const DEFAULT_REQUEST_GRACE: Duration = Duration::from_secs(10);

/// At a shutdown, how long the late replies under way may take by default: 70 s.
pub const DEFAULT_LATE_GRACE: Duration = Duration::from_secs(70);

type BoxError = Box<dyn Error + Send + Sync>;

/// The crate's HTTP/1.1 server, with the limits of the [module](self) documentation.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    header_timeout: Duration,
    idle_timeout: Duration,
    max_connections: Option<usize>,
    max_head_bytes: usize,
    request_grace: Duration,
    late_grace: Duration,
}

impl Server {
    /// A server on `listener`, with the default limits.
    pub fn new(listener: TcpListener) -> Self {
        Server {
            listener,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            request_grace: DEFAULT_REQUEST_GRACE,
            late_grace: DEFAULT_LATE_GRACE,
        }
    }

    /// At a shutdown, how long the requests under way may take to be answered before their
    /// connections are closed regardless ([`DEFAULT_REQUEST_GRACE`], 10 s: a delivery is answered
    /// within its 5 seconds).
    #[must_use]
    pub fn request_grace(mut self, grace: Duration) -> Self {
        self.request_grace = grace;
        self
    }

    /// At a shutdown ([`serve_until_signal`](Server::serve_until_signal)), how long the late
    /// replies under way may take to be sent once the requests are answered
    /// ([`DEFAULT_LATE_GRACE`], 70 s: the late limit's 60 s and a send). Keep the orchestrator's
    /// own grace period (Kubernetes' `terminationGracePeriodSeconds`, systemd's `TimeoutStopSec`)
    /// longer than both.
    #[must_use]
    pub fn late_grace(mut self, grace: Duration) -> Self {
        self.late_grace = grace;
        self
    }

    /// How long a request's head may take from its first byte ([`DEFAULT_HEADER_TIMEOUT`]).
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// How long a connection may stay open with no request under way
    /// ([`DEFAULT_IDLE_TIMEOUT`]).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The most connections open at once (at least 1). By default three quarters of the
    /// process's soft limit on open descriptors (`ulimit -n`, read when [`serve`](Server::serve)
    /// starts), at most 10,000; [`FALLBACK_MAX_CONNECTIONS`] where the limit can't be read. The
    /// rest of the descriptors are left for the application (a Redis connection, the API
    /// client, files).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max.max(1));
        self
    }

    /// The most bytes of a request's head a connection reads ([`DEFAULT_MAX_HEAD_BYTES`];
    /// 8 KiB at the least); a longer head is refused (431).
    #[must_use]
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes.max(8 << 10);
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The bound on open connections that [`serve`](Server::serve) uses.
    pub fn connection_limit(&self) -> usize {
        self.max_connections.unwrap_or_else(default_max_connections)
    }

    /// Serves `service` on every connection, until the task running it is dropped. Errors of
    /// accepting (a descriptor limit reached nonetheless, a connection reset before it was
    /// accepted) are waited out, not returned.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn serve<S, B>(self, service: S) -> io::Result<()>
    where
        S: tower_service::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        self.serve_with_shutdown(service, std::future::pending::<()>()).await
    }

    /// Serves `service` until `stop` resolves; then stops accepting connections, lets the
    /// requests under way be answered (a connection closes as soon as it has none, or when the
    /// [`request_grace`](Server::request_grace) ends), and returns once every connection is
    /// closed. Late replies are not waited for here: [`serve_until_signal`](Server::serve_until_signal)
    /// does both.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled.
    pub async fn serve_with_shutdown<S, B>(self, service: S, stop: impl Future<Output = ()>) -> io::Result<()>
    where
        S: tower_service::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let stopping = Arc::new(Stopping::default());
        let slots = Arc::new(Slots::new(self.connection_limit()));
        let mut stop = std::pin::pin!(stop);
        self.accept_until(service, &slots, &stopping, stop.as_mut()).await;
        // No more connections: the listener is closed, so a balancer sees it at once.
        let request_grace = self.request_grace;
        drop(self);
        stopping.begin(&slots);
        // Every connection closes once it has no request under way; at the grace's end, all do.
        let mut grace = std::pin::pin!(tokio::time::sleep(request_grace));
        loop {
            let closed = slots.closed.notified();
            if slots.lock().is_empty() {
                return Ok(());
            }
            if stopping.forced() {
                closed.await;
            } else if let Either::Right(()) = race(closed, grace.as_mut()).await {
                stopping.force(&slots);
            }
        }
    }

    /// Serves `service` until the process is told to stop (Ctrl-C, or SIGTERM on Unix, as a
    /// deploy or an orchestrator sends it): then stops accepting, lets the requests under way be
    /// answered, and waits for the process's late replies to be sent
    /// ([`LateTasks::global`](crate::serve::LateTasks::global), feature `client`), and for the
    /// replies its `RedisStore`s record to be in Redis (`RedisStore::settle`, feature `redis`),
    /// each within its grace ([`request_grace`](Server::request_grace),
    /// [`late_grace`](Server::late_grace)).
    /// A second signal ends the waiting at once. What had to be given up is logged and returned:
    /// the examples stop this way.
    ///
    /// ```no_run
    /// # use reply_serve::{endpoint::Endpoint, server::Server};
    /// # use reply_core::{Incoming, Text};
    /// # async fn answer(msg: Incoming<'static>) -> Text<'static> { msg.reply_text("hi").into_owned() }
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    /// let stopped = Server::new(listener).serve_until_signal(Endpoint::new("my-token", answer).into_service()).await?;
    /// std::process::exit(if stopped.forced { 1 } else { 0 });
    /// # }
    /// ```
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time and signal drivers enabled.
    pub async fn serve_until_signal<S, B>(self, service: S) -> io::Result<Stopped>
    where
        S: tower_service::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let mut signals = Signals::new()?;
        // The signals counted as they come, by a task of their own.
        let (count, counted) = tokio::sync::watch::channel(0_u32);
        let listening = tokio::spawn(async move {
            loop {
                signals.next().await;
                count.send_modify(|count| *count += 1);
            }
        });
        let signal = |n: u32| {
            let mut counted = counted.clone();
            async move {
                // (The sender lives as long as the task, which this function aborts last.)
                let _ = counted.wait_for(|count| *count >= n).await;
            }
        };
        let late_grace = self.late_grace;
        // A second signal during the requests' grace ends it.
        let second = match race(self.serve_with_shutdown(service, signal(1)), signal(2)).await {
            Either::Left(served) => {
                served?;
                false
            }
            Either::Right(()) => true,
        };
        #[cfg_attr(not(feature = "client"), allow(unused_mut))]
        let mut stopped = Stopped {
            #[cfg(feature = "client")]
            abandoned: Vec::new(),
            forced: second,
        };
        #[cfg(feature = "client")]
        {
            let tasks = crate::serve::LateTasks::global();
            if !tasks.is_empty() {
                tracing::info!("passive-reply: waiting for {} late replies to be sent", tasks.len());
            }
            stopped.abandoned = if second {
                tasks.abandon()
            } else {
                match race(tasks.drain(late_grace), signal(2)).await {
                    Either::Left(abandoned) => abandoned,
                    Either::Right(()) => {
                        stopped.forced = true;
                        tasks.abandon()
                    }
                }
            };
            for abandoned in &stopped.abandoned {
                tracing::warn!(
                    "passive-reply: the late reply to {:?} was given up at shutdown, after {:?}",
                    abandoned.key,
                    abandoned.ran
                );
            }
        }
        // The replies a `RedisStore` records while their responses go out (the guard doesn't
        // wait for Redis's answer): waited for until Redis has answered for them, each within
        // the store's timeout, unless a second signal came.
        #[cfg(feature = "redis")]
        if !stopped.forced
            && let Either::Left(left @ 1..) = race(crate::serve::RedisStore::settle(late_grace), signal(2)).await
        {
            tracing::warn!("passive-reply: {left} replies were not yet recorded in Redis at shutdown");
        }
        #[cfg(not(any(feature = "client", feature = "redis")))]
        let _ = late_grace;
        listening.abort();
        Ok(stopped)
    }

    /// Accepts connections and serves them until `stop` resolves.
    async fn accept_until<S, B>(
        &self,
        service: S,
        slots: &Arc<Slots>,
        stopping: &Arc<Stopping>,
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) where
        S: tower_service::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let limits = Arc::new(Limits {
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            origin: Instant::now(),
        });
        let mut http = http1::Builder::new();
        http.max_buf_size(self.max_head_bytes).header_read_timeout(None);
        loop {
            let next = async {
                let permit = slots.take().await;
                (permit, self.listener.accept().await)
            };
            let (permit, accepted) = match race(next, stop.as_mut()).await {
                Either::Left(next) => next,
                Either::Right(()) => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    wait_out(error).await;
                    continue;
                }
            };
            // Replies are one small write: send them at once.
            let _ = stream.set_nodelay(true);
            let connection = ConnectionState::new(&limits);
            let id = slots.add(connection.clone());
            let http = http.clone();
            let service = service.clone();
            let (slots, limits, stopping) = (slots.clone(), limits.clone(), stopping.clone());
            tokio::spawn(async move {
                let io = TokioIo::new(Watched { stream, state: connection.clone(), limits: limits.clone() });
                let service = TowerToHyperService::new(service);
                let service = Tracked { service, state: connection.clone(), limits: limits.clone() };
                watch(http.serve_connection(io, service), &connection, &limits, &stopping).await;
                slots.remove(id);
                drop(permit);
            });
        }
    }
}

/// What [`Server::serve_until_signal`] had to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stopped {
    /// The late replies stopped before they were sent: the grace ran out, or a second signal
    /// came (feature `client`).
    #[cfg(feature = "client")]
    pub abandoned: Vec<crate::serve::Abandoned>,
    /// Whether a second signal ended the waiting.
    pub forced: bool,
}

/// The process's stop signals: Ctrl-C, and SIGTERM on Unix.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> io::Result<Self> {
        Ok(Signals {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// The next signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        let _ = race(tokio::signal::ctrl_c(), self.terminate.recv()).await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A shutdown, as the connections see it. Each connection is told through its own `close`
/// (which its task polls anyway), not a notifier they would all share: polling one shared
/// notifier would take its lock on every poll of every connection.
#[derive(Debug, Default)]
struct Stopping {
    /// Begun: a connection closes once it has no request under way.
    on: AtomicBool,
    /// The grace is over: every connection closes now.
    now: AtomicBool,
}

impl Stopping {
    fn begin(&self, slots: &Slots) {
        self.on.store(true, Ordering::Release);
        slots.tell_all();
    }

    fn force(&self, slots: &Slots) {
        self.now.store(true, Ordering::Release);
        slots.tell_all();
    }

    fn forced(&self) -> bool {
        self.now.load(Ordering::Acquire)
    }
}

/// Waits out an error of `accept`: at once for one connection's own failure, 50 ms for the
/// process's (out of descriptors or memory), as hyper's and axum's servers do.
async fn wait_out(error: io::Error) {
    let own = matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    );
    if !own {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three quarters of the soft limit on open descriptors, at most 10,000.
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| soft_descriptor_limit(&limits));
    match soft {
        Some(soft) => (soft / 4 * 3).clamp(1, 10_000),
        None => FALLBACK_MAX_CONNECTIONS,
    }
}

/// The soft limit of `Max open files` in the text of `/proc/self/limits`.
fn soft_descriptor_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(usize::MAX),
        soft => soft.parse().ok(),
    }
}

/// The timeouts, shared by every connection.
#[derive(Debug)]
struct Limits {
    header_timeout: Duration,
    idle_timeout: Duration,
    origin: Instant,
}

impl Limits {
    /// Milliseconds since the server started, never 0 (0 means "not yet").
    fn now(&self) -> u64 {
        millis(self.origin.elapsed()).saturating_add(1)
    }

    /// The instant of `at`, in [`now`](Limits::now)'s milliseconds.
    fn instant(&self, at: u64) -> Instant {
        self.origin + Duration::from_millis(at.saturating_sub(1).min(millis(Duration::from_secs(1 << 40))))
    }
}

/// The connections open, and the permits that bound them.
#[derive(Debug)]
struct Slots {
    permits: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<ConnectionState>>>,
    next: AtomicU64,
    /// Told when a connection closes (a shutdown waits for the last).
    closed: Notify,
}

impl Slots {
    fn new(max: usize) -> Self {
        Slots {
            permits: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
            open: Mutex::default(),
            next: AtomicU64::new(0),
            closed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<ConnectionState>>> {
        // Every change is one insert or remove: a poisoned lock is still consistent.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for one more connection: at once if there is one; otherwise the connection idle
    /// the longest is closed to make one, and failing that (every connection has a request under
    /// way) this waits until one ends.
    async fn take(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return permit;
            }
            self.close_idlest();
            // Closed to make room, or ended: a slot comes back. Otherwise look again soon, as
            // connections go idle.
            let wait = tokio::time::timeout(Duration::from_millis(50), self.permits.clone().acquire_owned());
            if let Ok(Ok(permit)) = wait.await {
                return permit;
            }
        }
    }

    fn add(&self, connection: Arc<ConnectionState>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, connection);
        id
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.closed.notify_waiters();
    }

    /// Wakes every connection's task, to look at the shutdown.
    fn tell_all(&self) {
        for connection in self.lock().values() {
            connection.close.notify_one();
        }
    }

    /// Asks the connection idle the longest to close, unless one was asked already. Among those
    /// idle since the same millisecond, the one accepted first (ids are given in that order; the
    /// map's own order is random).
    fn close_idlest(&self) {
        let open = self.lock();
        let idlest = open
            .iter()
            .filter(|(_, c)| c.requests.load(Ordering::Acquire) == 0 && !c.closing.load(Ordering::Relaxed))
            .min_by_key(|(id, c)| (c.last_activity(), **id))
            .map(|(_, c)| c);
        if let Some(idlest) = idlest {
            idlest.closing.store(true, Ordering::Relaxed);
            idlest.close.notify_one();
        }
    }
}

/// What a connection's task, its reads and its requests tell one another.
#[derive(Debug)]
struct ConnectionState {
    /// Requests under way: from the service's call until the response's body has been sent.
    requests: AtomicUsize,
    /// When the last request ended (or the connection opened), in [`Limits::now`]'s millis.
    idle_since: AtomicU64,
    /// When the first byte of the next request's head came, or 0.
    head_since: AtomicU64,
    /// Asked to close to make room for a new connection.
    close: Notify,
    closing: AtomicBool,
}

impl ConnectionState {
    fn last_activity(&self) -> u64 {
        self.idle_since.load(Ordering::Relaxed).max(self.head_since.load(Ordering::Relaxed))
    }

    /// When the connection is to be closed, if no request starts first: the head's deadline
    /// once it has begun, the idle deadline before; none while a request is under way.
    fn deadline(&self, limits: &Limits) -> Option<u64> {
        if self.requests.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(match self.head_since.load(Ordering::Relaxed) {
            0 => self.idle_since.load(Ordering::Relaxed).saturating_add(millis(limits.idle_timeout)),
            since => since.saturating_add(millis(limits.header_timeout)),
        })
    }

    /// When the connection's task is to look at it next, at `now`: its deadline, but no later
    /// than one header timeout from now. Its reads and requests never wake the task (that would
    /// cost every request two wake-ups); instead the task looks at least once a header timeout,
    /// and a head that begins in between has its deadline no earlier than that look.
    fn next_look(&self, limits: &Limits, now: u64) -> u64 {
        let soon = now.saturating_add(millis(limits.header_timeout));
        self.deadline(limits).map_or(soon, |deadline| deadline.min(soon))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ConnectionState {
    fn new(limits: &Limits) -> Arc<ConnectionState> {
        Arc::new(ConnectionState {
            requests: AtomicUsize::new(0),
            idle_since: AtomicU64::new(limits.now()),
            head_since: AtomicU64::new(0),
            close: Notify::new(),
            closing: AtomicBool::new(false),
        })
    }
}

/// Keeps hyper's `connection` going until it ends, its deadline passes, or it is asked to make
/// room while no request is under way. Dropping it closes the socket.
async fn watch(connection: impl Future, state: &ConnectionState, limits: &Limits, stopping: &Stopping) {
    let mut connection = std::pin::pin!(connection);
    let mut look = std::pin::pin!(tokio::time::sleep_until(limits.instant(state.next_look(limits, limits.now()))));
    loop {
        let mut close = std::pin::pin!(state.close.notified());
        // A shutdown: closed as soon as no request is under way or beginning; at once when forced.
        let quiet = || state.requests.load(Ordering::Acquire) == 0 && state.head_since.load(Ordering::Relaxed) == 0;
        if stopping.forced() || (stopping.on.load(Ordering::Acquire) && quiet()) {
            return;
        }
        let event = std::future::poll_fn(|cx| {
            if connection.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Ended);
            }
            if look.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Look);
            }
            if close.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Close);
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Ended => return,
            Event::Look => {
                let now = limits.now();
                if state.deadline(limits).is_some_and(|at| at <= now) {
                    return;
                }
                // While stopping, looked at often: the request under way may end any moment.
                let next = match stopping.on.load(Ordering::Acquire) {
                    true => now.saturating_add(20),
                    false => state.next_look(limits, now),
                };
                look.as_mut().reset(limits.instant(next));
            }
            // A shutdown (checked at the loop's top): looked at again soon.
            Event::Close if stopping.on.load(Ordering::Acquire) => {
                look.as_mut().reset(limits.instant(limits.now().saturating_add(20)));
            }
            Event::Close if state.requests.load(Ordering::Acquire) == 0 => return,
            Event::Close => state.closing.store(false, Ordering::Relaxed),
        }
    }
}

/// What woke a connection's task.
enum Event {
    /// hyper's connection ended (the client closed it, or an error).
    Ended,
    /// Time to look at its deadline.
    Look,
    /// Asked to make room, or told of a shutdown.
    Close,
}

pin_project! {
    /// The connection's socket, noting when the first byte of a request's head comes.
    struct Watched {
        #[pin]
        stream: TcpStream,
        state: Arc<ConnectionState>,
        limits: Arc<Limits>,
    }
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        ready!(this.stream.poll_read(cx, buf))?;
        let state = &**this.state;
        if buf.filled().len() > before
            && state.requests.load(Ordering::Acquire) == 0
            && state.head_since.load(Ordering::Relaxed) == 0
        {
            state.head_since.store(this.limits.now(), Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The service, counting the requests under way on its connection.
struct Tracked<S> {
    service: TowerToHyperService<S>,
    state: Arc<ConnectionState>,
    limits: Arc<Limits>,
}

/// One request under way, from the service's call until its response's body is dropped (sent,
/// or abandoned with the connection).
struct UnderWay {
    state: Arc<ConnectionState>,
    limits: Arc<Limits>,
}

impl UnderWay {
    fn start(state: &Arc<ConnectionState>, limits: &Arc<Limits>) -> Self {
        state.requests.fetch_add(1, Ordering::AcqRel);
        state.head_since.store(0, Ordering::Relaxed);
        UnderWay { state: state.clone(), limits: limits.clone() }
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.state.idle_since.store(self.limits.now(), Ordering::Relaxed);
        self.state.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for Tracked<S>
where
    S: tower_service::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone,
{
    type Response = http::Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<<TowerToHyperService<S> as hyper::service::Service<http::Request<Incoming>>>::Future>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let under_way = UnderWay::start(&self.state, &self.limits);
        TrackedFuture { future: hyper::service::Service::call(&self.service, request), under_way: Some(under_way) }
    }
}

pin_project! {
    /// The service's future, handing the request's [`UnderWay`] on to the response's body.
    struct TrackedFuture<F> {
        #[pin]
        future: F,
        under_way: Option<UnderWay>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        let under_way = this.under_way.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody { body, _under_way: under_way })))
    }
}

pin_project! {
    /// A response's body, and the request it ends when it is dropped.
    struct TrackedBody<B> {
        #[pin]
        body: B,
        _under_way: Option<UnderWay>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_limits_are_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95632                95632                processes \n\
                      Max open files            1024                 1048576              files     \n";
        assert_eq!(soft_descriptor_limit(limits), Some(1024));
        assert_eq!(soft_descriptor_limit("Max open files  unlimited  unlimited  files"), Some(usize::MAX));
        assert_eq!(soft_descriptor_limit("nothing here"), None);
        assert!(default_max_connections() >= 1);
    }
}
