//! The platform's serving rules: answer within five seconds, and answer a retry with the reply
//! already made (feature `tokio`).
//!
//! The platform waits five seconds for a reply, then drops the connection and retries, three
//! times in all. A server that can't answer in time must answer with an empty body: the platform
//! then neither retries nor tells the user that the account can't provide service.
//!
//! - [`within`] runs a handler under a budget (default [`DEFAULT_BUDGET`], 4 s) and gives
//!   [`OnTime::Late`], which writes zero bytes, when it runs out.
//! - [`RetryGuard`] runs the handler once per [`DedupKey`]: a retry that arrives while the first
//!   delivery is being handled waits for the same reply, one that arrives later gets the same
//!   bytes. It keeps what it knows in a [`ReplyStore`]: [`MemoryStore`] in the process, bounded by
//!   bytes, or `RedisStore` (feature `redis`) in a Redis that the instances behind one URL share.
//!   What it does when the store fails is its [`OnStoreError`]; what it did without the store,
//!   its [`counts`](RetryGuard::counts). Warnings go through the `log` crate.
//!
//! ```
//! use std::time::Duration;
//! use reply_serve::serve::{within, OnTime, RetryGuard};
//! use reply_core::{Incoming, PassiveReply};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let guard = RetryGuard::new();
//! let body = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>\
//!     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>7</MsgId></xml>";
//! let msg = Incoming::parse(body).unwrap().into_owned();
//! let key = msg.dedup_key();
//! let reply = guard
//!     .answer(key, move || within(Duration::from_secs(4), async move { msg.reply_text("hello").into_owned() }))
//!     .await;
//! assert!(reply.starts_with(b"<xml>"));
//! # }
//! ```

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;

use reply_core::DedupKey;
use reply_core::PassiveReply;
use reply_core::Sink;

#[cfg(feature = "client")]
mod late;
mod memory;
pub mod observe;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "client")]
pub use late::{
    Abandoned, DEFAULT_LATE_LEASE, DEFAULT_LATE_LIMIT, LateOutcome, LateReplies, LateReport, LateStore, LateTasks,
};
pub use memory::{DEFAULT_MEMORY_BUDGET, MemoryStore};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_LEASE, DEFAULT_PAUSE_AFTER_FAILURE, DEFAULT_STORE_TIMEOUT, RedisOptions, RedisStore, Wake};

/// The default budget for a handler: 4 s, under the platform's 5 s, leaving time for the network.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(4);

/// How long a store keeps a reply by default: 30 s, twice the span of the platform's three tries.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(30);

/// The largest reply a store keeps for a delivery's retries by default: 64 KiB (ten articles
/// with long links, encrypted, take under 10 KiB). The reply itself always goes out; a longer one
/// is kept as the empty reply (logged), which is what its retries get.
pub const DEFAULT_MAX_REPLY_LEN: usize = 64 << 10;

/// How long after its first try the platform may still retry a delivery: three tries, five
/// seconds apart, each waiting five seconds. A store short of room forgets replies older than
/// this first.
pub const RETRY_SPAN: Duration = Duration::from_secs(15);

/// A handler's reply, or nothing when it did not come in time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnTime<R> {
    /// The handler's reply.
    Reply(R),
    /// The budget ran out: writes zero bytes, the platform's "no reply".
    Late,
}

impl<R: PassiveReply> PassiveReply for OnTime<R> {
    fn encoded_len(&self) -> usize {
        match self {
            OnTime::Reply(reply) => reply.encoded_len(),
            OnTime::Late => 0,
        }
    }

    fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        match self {
            OnTime::Reply(reply) => reply.write_to(sink),
            OnTime::Late => Ok(()),
        }
    }

    // The reply's own: a derived reply writes its XML in one pass, where the trait's default
    // counts its escaped length first, then writes it (every value looked at twice).
    fn to_xml(&self) -> String {
        match self {
            OnTime::Reply(reply) => reply.to_xml(),
            OnTime::Late => String::new(),
        }
    }

    fn customer_service_len(&self) -> Option<usize> {
        match self {
            OnTime::Reply(reply) => reply.customer_service_len(),
            OnTime::Late => None,
        }
    }

    fn write_customer_service<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        match self {
            OnTime::Reply(reply) => reply.write_customer_service(sink),
            OnTime::Late => Ok(()),
        }
    }

    fn to_customer_service(&self) -> Option<String> {
        match self {
            OnTime::Reply(reply) => reply.to_customer_service(),
            OnTime::Late => None,
        }
    }
}

/// Runs `handler` for at most `budget`, and answers with its reply or, when the budget runs
/// out, with [`OnTime::Late`] (zero bytes).
///
/// At the deadline the handler's future is dropped, so its work stops there. To finish the work
/// and send its reply later through the platform's customer-service message API, use
/// `LateReplies::within_or_late` (feature `client`), or `axum::Endpoint::late_replies`.
///
/// ```
/// use std::time::Duration;
/// use reply_serve::serve::{within, OnTime};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let slow = async { tokio::time::sleep(Duration::from_secs(6)).await; "answer" };
/// assert_eq!(within(Duration::from_secs(4), slow).await, OnTime::Late);
/// assert_eq!(within(Duration::from_secs(4), async { "answer" }).await, OnTime::Reply("answer"));
/// # }
/// ```
///
/// # Panics
/// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
/// there), as every future of this crate that keeps a deadline.
pub async fn within<R, F>(budget: Duration, handler: F) -> OnTime<R>
where
    F: Future<Output = R>,
{
    Within::new(budget, handler).await
}

pin_project_lite::pin_project! {
    /// [`within`]'s future, made at once (its deadline starts when it is made): for the crate's
    /// own futures that hold the handler's future once, in it.
    pub(crate) struct Within<F> {
        #[pin]
        timeout: tokio::time::Timeout<F>,
    }
}

impl<F: Future> Within<F> {
    pub(crate) fn new(budget: Duration, handler: F) -> Self {
        Within { timeout: tokio::time::timeout(budget, handler) }
    }
}

impl<F: Future> Future for Within<F> {
    type Output = OnTime<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().timeout.poll(cx)) {
            Ok(reply) => OnTime::Reply(reply),
            Err(_) => OnTime::Late,
        })
    }
}

/// What a [`ReplyStore`] knows of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// Nothing: the caller now owns it, runs the handler and calls [`ReplyStore::complete`].
    Run,
    /// Another caller (here or on another instance) is running the handler;
    /// [`ReplyStore::wait`] for its reply.
    Running,
    /// Answered already, with these bytes.
    Done(Bytes),
    /// The store has no room without forgetting a delivery the platform may still retry. The
    /// guard runs the handler without it, counts that and logs it; it never answers empty for
    /// want of room.
    Full,
    /// The store can't be reached, or didn't answer in time. The guard does what its
    /// [`OnStoreError`] says.
    Failed(StoreError),
}

/// Why a store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// It didn't answer within its timeout.
    Timeout,
    /// It answered with an error, or the connection to it failed.
    Unavailable,
    /// It answered with something this crate didn't write.
    Corrupt,
    /// It has no room for what it was asked to keep (a store in a memory budget).
    Full,
}

/// A store's failure: which kind, and what the store said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    kind: StoreErrorKind,
    detail: Box<str>,
}

impl StoreError {
    /// A failure of `kind`, described by `detail`.
    pub fn new(kind: StoreErrorKind, detail: impl Into<Box<str>>) -> Self {
        StoreError { kind, detail: detail.into() }
    }

    /// Which kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            StoreErrorKind::Timeout => "the reply store did not answer in time",
            StoreErrorKind::Unavailable => "the reply store is unavailable",
            StoreErrorKind::Corrupt => "the reply store holds a value this crate did not write",
            StoreErrorKind::Full => "the store is full",
        };
        write!(f, "{what}: {}", self.detail)
    }
}

impl std::error::Error for StoreError {}

/// Where a [`RetryGuard`] keeps what it knows of deliveries. [`MemoryStore`] keeps it in the
/// process; `RedisStore` (feature `redis`) in a Redis that several instances behind one URL
/// share, so a retry that reaches another instance is answered from the first.
///
/// A store chosen at run time is a `Box<dyn ReplyStore>` or an `Arc<dyn ReplyStore>`, which are
/// stores themselves (each call then costs one allocation, for its boxed future):
///
/// ```
/// use reply_serve::serve::{MemoryStore, ReplyStore, RetryGuard};
///
/// let store: Box<dyn ReplyStore> = Box::new(MemoryStore::new()); // or a RedisStore, by configuration
/// let guard = RetryGuard::with_store(store);
/// ```
pub trait ReplyStore: DynReplyStore + Send + Sync + 'static {
    /// Looks `key` up, and claims it when it is unknown.
    fn claim(&self, key: &DedupKey) -> impl Future<Output = Claim> + Send
    where
        Self: Sized;

    /// Records the reply to `key`, and wakes those waiting for it, here and elsewhere.
    fn complete(&self, key: &DedupKey, reply: Bytes) -> impl Future<Output = Result<(), StoreError>> + Send
    where
        Self: Sized;

    /// Records the reply to `key` as [`complete`](ReplyStore::complete) does, for a caller that
    /// needn't wait for the store to confirm it: the guard, whose response carries the reply
    /// (a retry comes only when the response didn't arrive). A store may return once the reply
    /// is on its way, and report a failure to record it itself, in the log and the
    /// `passive_reply_store_errors_total` counter. `RedisStore` does: its deliveries' responses
    /// don't wait a round trip to Redis. The default is `complete`.
    fn record(&self, key: &DedupKey, reply: Bytes) -> impl Future<Output = Result<(), StoreError>> + Send
    where
        Self: Sized,
    {
        self.complete(key, reply)
    }

    /// Waits for the reply to `key`, which another caller is making: [`Claim::Done`] with it,
    /// or [`Claim::Run`] when that caller went away without answering (its claim expired) and
    /// this one now owns the delivery, or [`Claim::Failed`]. Never [`Claim::Running`].
    fn wait(&self, key: &DedupKey) -> impl Future<Output = Claim> + Send
    where
        Self: Sized;

    /// Whether the store can serve the guard now: for a readiness probe (a balancer's). A store
    /// in this process always can (the default); `RedisStore` asks Redis (`PING`, within its
    /// timeout, and not while it pauses after a failure).
    fn ready(&self) -> impl Future<Output = Result<(), StoreError>> + Send
    where
        Self: Sized,
    {
        std::future::ready(Ok(()))
    }
}

/// A future boxed, for the object-safe traits: [`DynReplyStore`], and the API client's token store.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe face of [`ReplyStore`], which `dyn ReplyStore` dispatches through: every
/// store has it (it is implemented for every [`ReplyStore`], and can't be otherwise).
pub trait DynReplyStore: Send + Sync + 'static {
    /// [`ReplyStore::claim`], boxed.
    fn claim_boxed<'a>(&'a self, key: &'a DedupKey) -> BoxFuture<'a, Claim>;
    /// [`ReplyStore::complete`], boxed.
    fn complete_boxed<'a>(&'a self, key: &'a DedupKey, reply: Bytes) -> BoxFuture<'a, Result<(), StoreError>>;
    /// [`ReplyStore::record`], boxed.
    fn record_boxed<'a>(&'a self, key: &'a DedupKey, reply: Bytes) -> BoxFuture<'a, Result<(), StoreError>>;
    /// [`ReplyStore::wait`], boxed.
    fn wait_boxed<'a>(&'a self, key: &'a DedupKey) -> BoxFuture<'a, Claim>;
    /// [`ReplyStore::ready`], boxed.
    fn ready_boxed(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

impl<T: ReplyStore> DynReplyStore for T {
    fn claim_boxed<'a>(&'a self, key: &'a DedupKey) -> BoxFuture<'a, Claim> {
        Box::pin(self.claim(key))
    }

    fn complete_boxed<'a>(&'a self, key: &'a DedupKey, reply: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.complete(key, reply))
    }

    fn record_boxed<'a>(&'a self, key: &'a DedupKey, reply: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.record(key, reply))
    }

    fn wait_boxed<'a>(&'a self, key: &'a DedupKey) -> BoxFuture<'a, Claim> {
        Box::pin(self.wait(key))
    }

    fn ready_boxed(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.ready())
    }
}

macro_rules! dyn_store {
    ($($pointer:ident),*) => {$(
        impl ReplyStore for $pointer<dyn ReplyStore> {
            fn claim(&self, key: &DedupKey) -> impl Future<Output = Claim> + Send {
                async move { (**self).claim_boxed(key).await }
            }

            fn complete(&self, key: &DedupKey, reply: Bytes) -> impl Future<Output = Result<(), StoreError>> + Send {
                async move { (**self).complete_boxed(key, reply).await }
            }

            fn record(&self, key: &DedupKey, reply: Bytes) -> impl Future<Output = Result<(), StoreError>> + Send {
                async move { (**self).record_boxed(key, reply).await }
            }

            fn wait(&self, key: &DedupKey) -> impl Future<Output = Claim> + Send {
                async move { (**self).wait_boxed(key).await }
            }

            fn ready(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
                async move { (**self).ready_boxed().await }
            }
        }
    )*};
}

dyn_store!(Box, Arc);

/// What a [`RetryGuard`] does with a delivery when its store fails ([`Claim::Failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnStoreError {
    /// Run the handler without the guard and log a warning (the default). Every user is
    /// answered; a delivery that the platform retries while the store is down may be handled
    /// twice. (The platform retries only a delivery it got no answer to within five seconds.)
    #[default]
    RunUnguarded,
    /// Answer with the empty reply, which the platform neither retries nor shows: no delivery
    /// is ever handled twice, and none is handled at all while the store is down.
    AnswerEmpty,
}

/// Runs a handler once per delivery, however often the platform retries it, and wherever the
/// retry lands when the store is shared.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use reply_serve::serve::RetryGuard;
/// use reply_core::DedupKey;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let guard = RetryGuard::new();
/// let runs = Arc::new(AtomicUsize::new(0));
/// for _ in 0..3 {
///     let runs = runs.clone();
///     let reply = guard
///         .answer(DedupKey::new("gh", "delivery-1"), move || async move {
///             runs.fetch_add(1, Ordering::SeqCst);
///             reply_core::Text::new("u", "gh", "hello").with_create_time(1)
///         })
///         .await;
///     assert!(reply.ends_with(b"<Content><![CDATA[hello]]></Content></xml>"));
/// }
/// assert_eq!(runs.load(Ordering::SeqCst), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct RetryGuard<S = MemoryStore> {
    store: Arc<S>,
    on_error: OnStoreError,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    unguarded_full: AtomicU64,
    unguarded_failed: AtomicU64,
    empty_failed: AtomicU64,
}

/// What a [`RetryGuard`] did without its store, since it was made: each count a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GuardCounts {
    /// Handled without the guard because the store was full ([`Claim::Full`]).
    pub unguarded_full: u64,
    /// Handled without the guard because the store failed ([`OnStoreError::RunUnguarded`]).
    pub unguarded_failed: u64,
    /// Answered empty because the store failed ([`OnStoreError::AnswerEmpty`]).
    pub empty_failed: u64,
}

impl<S> Clone for RetryGuard<S> {
    fn clone(&self) -> Self {
        RetryGuard { store: self.store.clone(), on_error: self.on_error, counts: self.counts.clone() }
    }
}

impl RetryGuard<MemoryStore> {
    /// A guard over a [`MemoryStore`] with the default window and budget.
    pub fn new() -> Self {
        RetryGuard::with_store(MemoryStore::new())
    }
}

impl Default for RetryGuard<MemoryStore> {
    fn default() -> Self {
        RetryGuard::new()
    }
}

/// Counts one more delivery the guard handled without its store, and logs it: the first, then
/// every 1,024th, so a store that stays full or down is reported without a line per delivery.
fn note(counter: &AtomicU64, cause: &dyn std::fmt::Display, outcome: &str, key: &DedupKey) {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    if n == 1 || n.is_multiple_of(1024) {
        tracing::warn!("passive-reply: {cause}; deliveries {outcome} so far: {n} (this one: {key:?})");
    }
}

impl<S: ReplyStore> RetryGuard<S> {
    /// A guard over `store`, that runs the handler unguarded when the store fails.
    pub fn with_store(store: S) -> Self {
        RetryGuard { store: Arc::new(store), on_error: OnStoreError::default(), counts: Arc::default() }
    }

    /// What to do with a delivery when the store fails. Default [`OnStoreError::RunUnguarded`].
    #[must_use]
    pub fn on_store_error(mut self, on_error: OnStoreError) -> Self {
        self.on_error = on_error;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Whether the guard's store can serve it now ([`ReplyStore::ready`]): for a readiness
    /// probe.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ready().await
    }

    /// What the guard did without its store so far (shared by its clones).
    pub fn counts(&self) -> GuardCounts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        GuardCounts {
            unguarded_full: load(&self.counts.unguarded_full),
            unguarded_failed: load(&self.counts.unguarded_failed),
            empty_failed: load(&self.counts.empty_failed),
        }
    }

    /// The reply to the delivery `key`, written: made by `handler` if this is the first time the
    /// key is seen, otherwise the one made (or being made, here or on another instance) for it.
    ///
    /// The handler runs in the request's task (no task per delivery), and if the request goes
    /// away before it is done, the rest of it in a task of its own: it finishes, and its reply is
    /// there for the retry. A handler that panics answers with the empty reply. When the store
    /// is full, the handler runs without it (counted in [`counts`](RetryGuard::counts) and
    /// logged); when the store fails, the guard's [`OnStoreError`] decides.
    ///
    /// (Not an `async fn`: its future is the claim, then the handler's run, one after the other
    /// in the same room, where an `async fn` would hold its arguments twice and the handler's
    /// closure beside the run.)
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    // An `async fn` would hold its arguments twice (above).
    #[allow(clippy::manual_async_fn)]
    pub fn answer<F, Fut, R>(&self, key: DedupKey, handler: F) -> impl Future<Output = Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R> + Send + 'static,
        R: PassiveReply + Send + 'static,
    {
        // What the store says: `Err` the reply to answer with, `Ok` the handler to run, with the
        // key to record its reply under (`None`: unguarded).
        let deciding = async move {
            let mut claim = self.store.claim(&key).await;
            loop {
                claim = match claim {
                    Claim::Done(bytes) => {
                        observe::delivery(observe::Outcome::Retry);
                        return Err(bytes);
                    }
                    // Boxed: only a retry waits, and the store's wait (Redis's: two requests
                    // and a timer) would otherwise make every delivery's future longer.
                    Claim::Running => Box::pin(self.store.wait(&key)).await,
                    Claim::Run => return Ok(Some(key)),
                    Claim::Full => {
                        let unguarded = &self.counts.unguarded_full;
                        note(unguarded, &"the reply store is full", "handled without the retry guard", &key);
                        observe::unguarded("full");
                        return Ok(None);
                    }
                    Claim::Failed(error) => {
                        observe::store_error();
                        if self.on_error == OnStoreError::AnswerEmpty {
                            note(&self.counts.empty_failed, &error, "answered empty", &key);
                            observe::delivery(observe::Outcome::Empty);
                            return Err(Bytes::new());
                        }
                        note(&self.counts.unguarded_failed, &error, "handled without the retry guard", &key);
                        observe::unguarded("store_error");
                        return Ok(None);
                    }
                };
            }
        };
        Then::First {
            first: deciding,
            then: move |decided: Result<Option<DedupKey>, Bytes>| match decided {
                Ok(key) => OneOf::First { future: self.run(key, handler()) },
                Err(bytes) => OneOf::Second { future: std::future::ready(bytes) },
            },
        }
    }

    /// Runs the handler's future in this request's task; with a key, records its reply in the
    /// store. If the request goes away first (the platform gave up on the connection), what is
    /// left of the handler is spawned, so its reply is still made and recorded for the retry.
    ///
    /// Not an `async fn`: the handler's future goes into its box here, at once, so that it is
    /// held once, there, and not also in the future this returns (an `async fn` keeps its
    /// arguments in its own state besides what it moves them into).
    fn run<Fut, R>(&self, key: Option<DedupKey>, work: Fut) -> impl Future<Output = Bytes> + Send + '_
    where
        Fut: Future<Output = R> + Send + 'static,
        R: PassiveReply + Send + 'static,
    {
        observe::handler_run();
        // Written once, into the buffer the response sends (`to_xml` allocates exactly its
        // length, which `Bytes` takes as it is). The store is given a copy rather than a share:
        // a share allocates a header that the response and the store both point to, and keeps
        // the buffer for the store's window; the copy is one allocation too, and the response's
        // buffer is freed once it is sent, while warm, where a share left two allocations to be
        // freed long after they were last touched (BENCHMARKS.md, "The memory store at its
        // window").
        let made: Making = Box::pin(Made { work });
        let mut work = Work { making: Some(CatchPanic(made)), key, store: self.store.clone() };
        async move {
            let bytes = std::future::poll_fn(|cx| work.poll_made(cx)).await;
            if let Some(key) = work.key.take() {
                record(&*self.store, &key, Bytes::copy_from_slice(&bytes)).await;
            }
            bytes
        }
    }
}

pin_project_lite::pin_project! {
    /// A handler's future, then its reply written: the future held once, and polled where it is.
    struct Made<F> {
        #[pin]
        work: F,
    }
}

impl<F: Future<Output = R>, R: PassiveReply> Future for Made<F> {
    type Output = Bytes;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Bytes> {
        let reply = ready!(self.project().work.poll(cx));
        Poll::Ready(Bytes::from(reply.to_xml().into_bytes()))
    }
}

/// A handler's reply being made.
type Making = Pin<Box<dyn Future<Output = Bytes> + Send>>;

/// A handler's work, polled by the request that started it, and spawned with the key and store it
/// completes if that request is dropped before it is done.
struct Work<S: ReplyStore> {
    making: Option<CatchPanic<Making>>,
    key: Option<DedupKey>,
    store: Arc<S>,
}

impl<S: ReplyStore> Work<S> {
    /// The reply, once made; the empty reply if the handler panicked.
    fn poll_made(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let Some(making) = &mut self.making else { return Poll::Ready(Bytes::new()) };
        let made = ready!(Pin::new(making).poll(cx));
        self.making = None;
        Poll::Ready(made.unwrap_or_default())
    }
}

impl<S: ReplyStore> Drop for Work<S> {
    fn drop(&mut self) {
        let (Some(making), Ok(runtime)) = (self.making.take(), tokio::runtime::Handle::try_current()) else { return };
        let (key, store) = (self.key.take(), self.store.clone());
        runtime.spawn(async move {
            let bytes = making.await.unwrap_or_default();
            if let Some(key) = key {
                record(&*store, &key, bytes).await;
            }
        });
    }
}

pin_project_lite::pin_project! {
    /// `first`, then the future `then` makes of its output, in the same room: as long as the
    /// longer of the two (and `then`'s values), where an `async` block that awaits one and then
    /// the other holds `then`'s values for as long as it lives.
    #[project = ThenNow]
    #[project_replace = ThenDone]
    pub(crate) enum Then<A, F, B> {
        First { #[pin] first: A, then: F },
        Second { #[pin] second: B },
        /// Between the two (only while `then` runs).
        Between,
    }
}

impl<A: Future, F: FnOnce(A::Output) -> B, B: Future> Future for Then<A, F, B> {
    type Output = B::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<B::Output> {
        loop {
            match self.as_mut().project() {
                ThenNow::First { first, .. } => {
                    let output = ready!(first.poll(cx));
                    let ThenDone::First { then, .. } = self.as_mut().project_replace(Then::Between) else {
                        unreachable!("the state was `First`")
                    };
                    self.set(Then::Second { second: then(output) });
                }
                ThenNow::Second { second } => return second.poll(cx),
                ThenNow::Between => panic!("`Then` polled after its `then` panicked"),
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// One of two futures of the same output, as one type.
    #[project = OneOfNow]
    pub(crate) enum OneOf<A, B> {
        First { #[pin] future: A },
        Second { #[pin] future: B },
    }
}

impl<A: Future, B: Future<Output = A::Output>> Future for OneOf<A, B> {
    type Output = A::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        match self.project() {
            OneOfNow::First { future } => future.poll(cx),
            OneOfNow::Second { future } => future.poll(cx),
        }
    }
}

/// Which of two futures finished first.
#[cfg(any(feature = "client", feature = "server", feature = "session"))]
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// The output of whichever of `a` and `b` finishes first (`a` when both are ready); the other is
/// dropped.
#[cfg(any(feature = "client", feature = "server", feature = "session"))]
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(a) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(a));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// `work` to its end, with `renew` called every `every` while it runs (a lease kept in a store:
/// a durable late reply's, a session's lock); `None` as soon as `renew` gives up (`false`).
#[cfg(any(feature = "client", feature = "session"))]
pub(crate) async fn renewing<F: Future, R: Future<Output = bool>>(
    work: F,
    every: Duration,
    mut renew: impl FnMut() -> R,
) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    loop {
        match race(work.as_mut(), tokio::time::sleep(every)).await {
            Either::Left(done) => return Some(done),
            Either::Right(()) => {
                if !renew().await {
                    return None;
                }
            }
        }
    }
}

/// A future whose panic is caught: `None` if it panicked.
struct CatchPanic<F>(F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Some(output)),
            Err(_) => Poll::Ready(None),
        }
    }
}

/// Records a reply; a store that fails to is logged (the reply still goes out, and a retry will
/// find the claim expired and run the handler again).
async fn record<S: ReplyStore>(store: &S, key: &DedupKey, reply: Bytes) {
    if let Err(error) = store.record(key, reply).await {
        not_recorded(key, &error);
    }
}

/// Logs and counts a reply a store failed to record.
fn not_recorded(key: &DedupKey, error: &dyn std::fmt::Display) {
    observe::store_error();
    tracing::warn!("passive-reply: {error}; the reply to {key:?} was not recorded for its retries");
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use reply_core::Text;

    fn text(content: &'static str) -> Text<'static> {
        Text::new("u", "gh", content).with_create_time(1)
    }

    /// `OnTime` hands `to_xml` and `to_customer_service` to the reply's own (a derived reply's
    /// own writes in one pass; the trait's defaults count the escaped length first). A probe
    /// whose own methods answer differently from the defaults shows which ran.
    #[test]
    fn on_time_uses_the_replys_own_to_xml() {
        struct Probe;
        impl PassiveReply for Probe {
            fn encoded_len(&self) -> usize {
                7
            }
            fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
                sink.write_str("default")
            }
            fn to_xml(&self) -> String {
                "own".to_owned()
            }
            fn customer_service_len(&self) -> Option<usize> {
                Some(7)
            }
            fn write_customer_service<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
                sink.write_str("default")
            }
            fn to_customer_service(&self) -> Option<String> {
                Some("own".to_owned())
            }
        }
        let on_time = OnTime::Reply(Probe);
        assert_eq!((on_time.to_xml(), on_time.to_customer_service()), ("own".to_owned(), Some("own".to_owned())));
        let late = OnTime::<Probe>::Late;
        assert_eq!((late.to_xml(), late.to_customer_service()), (String::new(), None));
        // The derived replies' own and the defaults write the same bytes.
        let reply = OnTime::Reply(text("a ]]> b"));
        assert_eq!(reply.to_xml(), text("a ]]> b").to_xml());
        assert_eq!(reply.to_xml().len(), reply.encoded_len());
    }

    /// A request that goes away mid-handler leaves the handler running: it finishes, its reply
    /// is recorded, and the retry gets it without a second run.
    #[tokio::test(start_paused = true)]
    async fn a_handler_outlives_the_request_that_started_it() {
        let guard = RetryGuard::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let handler = |runs: Arc<AtomicUsize>| {
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(6)).await;
                text("made late")
            }
        };
        let key = DedupKey::new("gh", "1");
        // The platform gives up on the first try after 5 s: the request's future is dropped.
        let first =
            tokio::time::timeout(Duration::from_secs(5), guard.answer(key.clone(), handler(runs.clone()))).await;
        assert!(first.is_err());
        let retry = guard.answer(key, handler(runs.clone())).await;
        assert!(retry.ends_with(b"<Content><![CDATA[made late]]></Content></xml>"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// A store chosen at run time, behind `Box<dyn ReplyStore>` or `Arc<dyn ReplyStore>`, guards
    /// as the store itself does: one run, the same bytes for the retry.
    #[tokio::test]
    async fn stores_chosen_at_run_time() {
        let boxed: Box<dyn ReplyStore> = Box::new(MemoryStore::new());
        let shared: Arc<dyn ReplyStore> = Arc::new(MemoryStore::new());
        let (boxed, shared) = (RetryGuard::with_store(boxed), RetryGuard::with_store(shared));
        let runs = Arc::new(AtomicUsize::new(0));
        let handler = || {
            let runs = runs.clone();
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                text("once")
            }
        };
        let key = DedupKey::new("gh", "3");
        let first = boxed.answer(key.clone(), handler()).await;
        assert_eq!(boxed.answer(key.clone(), handler()).await, first);
        assert_eq!(shared.answer(key.clone(), handler()).await, first, "a store of its own: run again");
        assert_eq!(shared.answer(key, handler()).await, first);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    /// A handler that panics answers with the empty reply, and so do its retries.
    #[tokio::test]
    async fn a_handler_that_panics_answers_empty() {
        let guard = RetryGuard::new();
        let key = DedupKey::new("gh", "2");
        let panics = || async {
            if true {
                panic!("the handler's bug");
            }
            text("never")
        };
        assert!(guard.answer(key.clone(), panics).await.is_empty());
        assert!(guard.answer(key, || async { text("second run") }).await.is_empty(), "not run again");
    }
}
