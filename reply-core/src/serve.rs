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
//!   bytes.
//!
//! ```
//! use std::time::Duration;
//! use reply_core::serve::{within, OnTime, RetryGuard};
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

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::incoming::DedupKey;
use crate::reply::PassiveReply;
use crate::sink::Sink;

/// The default budget for a handler: 4 s, under the platform's 5 s, leaving time for the network.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(4);

/// How long a [`MemoryStore`] keeps a reply by default: 30 s, longer than the platform's three
/// tries of five seconds each.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(30);

/// How many deliveries a [`MemoryStore`] remembers by default.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// A handler's reply, or nothing when it did not come in time.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Runs `handler` for at most `budget`, and answers with its reply or, when the budget runs
/// out, with [`OnTime::Late`] (zero bytes).
///
/// At the deadline the handler's future is dropped, so its work stops there. To finish the work
/// and answer later, spawn it and send the answer through the platform's customer-service
/// message API; give `within` only the part that must answer now:
///
/// ```
/// use std::time::Duration;
/// use reply_core::serve::{within, OnTime};
///
/// # async fn send_customer_service_message(_: &str, _: String) {}
/// # async fn slow_answer(q: &str) -> String { q.to_string() }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let (done_tx, done_rx) = tokio::sync::oneshot::channel();
/// let work = tokio::spawn(async move {
///     let answer = slow_answer("question").await;
///     let _ = done_tx.send(answer);
/// });
/// match within(Duration::from_secs(4), done_rx).await {
///     OnTime::Reply(Ok(answer)) => { /* reply with it */ }
///     _ => {
///         // Too late for a passive reply: the empty body goes out now, the answer later.
///         tokio::spawn(async move { let _ = work.await; send_customer_service_message("openid", String::new()).await });
///     }
/// }
/// # }
/// ```
pub async fn within<R, F>(budget: Duration, handler: F) -> OnTime<R>
where
    F: Future<Output = R>,
{
    match tokio::time::timeout(budget, handler).await {
        Ok(reply) => OnTime::Reply(reply),
        Err(_) => OnTime::Late,
    }
}

/// What a [`ReplyStore`] knows of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nothing: the caller now owns it, runs the handler and calls [`ReplyStore::complete`].
    Run,
    /// Another caller is running the handler; [`ReplyStore::wait`] for its reply.
    Running,
    /// Answered already, with these bytes.
    Done(Bytes),
    /// The store is full of deliveries inside their window and can't take another without
    /// forgetting one that may still be retried. The caller answers with the empty reply.
    Full,
}

/// Where a [`RetryGuard`] keeps what it knows of deliveries. [`MemoryStore`] keeps it in the
/// process; a deployment of several instances behind one URL implements this over a shared
/// store, so a retry that reaches another instance is still answered from the first.
pub trait ReplyStore: Send + Sync + 'static {
    /// Looks `key` up, and claims it when it is unknown.
    fn claim(&self, key: &DedupKey) -> impl Future<Output = Claim> + Send;

    /// Records the reply to `key`, and wakes those waiting for it.
    fn complete(&self, key: &DedupKey, reply: Bytes) -> impl Future<Output = ()> + Send;

    /// Waits for the reply to `key`, which another caller is making. `None` if the store lost it.
    fn wait(&self, key: &DedupKey) -> impl Future<Output = Option<Bytes>> + Send;
}

/// The in-memory [`ReplyStore`]: replies kept for a window (default 30 s), at most a capacity of
/// deliveries (default 100,000).
///
/// Memory is bounded by the capacity. An entry leaves when its window has passed and its reply
/// is made; an entry still inside its window is never dropped to make room, because the
/// platform may still retry it and the handler would run again. When every entry is inside its
/// window, a new delivery gets [`Claim::Full`].
#[derive(Debug)]
pub struct MemoryStore {
    window: Duration,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<DedupKey, Entry>,
    /// Keys in the order they were claimed, for expiry.
    order: VecDeque<(Instant, DedupKey)>,
}

#[derive(Debug)]
struct Entry {
    since: Instant,
    reply: watch::Sender<Option<Bytes>>,
}

impl MemoryStore {
    /// A store with the default window and capacity.
    pub fn new() -> Self {
        MemoryStore::with_limits(DEFAULT_RETRY_WINDOW, DEFAULT_CAPACITY)
    }

    /// A store that keeps each reply for `window` and remembers at most `capacity` deliveries.
    pub fn with_limits(window: Duration, capacity: usize) -> Self {
        MemoryStore { window, capacity, state: Mutex::new(State::default()) }
    }

    /// How many deliveries it remembers now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock is held leaves the map consistent (every change is one insert
        // or remove), so a poisoned lock is still good to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl State {
    /// Forgets deliveries whose window has passed and whose reply is made.
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((since, _)) = self.order.front() {
            if now.duration_since(*since) < window {
                break;
            }
            let Some((since, key)) = self.order.pop_front() else { break };
            match self.entries.get(&key) {
                // Still running: kept (and looked at again once it is done).
                Some(entry) if entry.since == since && entry.reply.borrow().is_none() => {
                    self.order.push_back((since, key));
                    break;
                }
                Some(entry) if entry.since == since => {
                    self.entries.remove(&key);
                }
                _ => {}
            }
        }
    }
}

impl ReplyStore for MemoryStore {
    async fn claim(&self, key: &DedupKey) -> Claim {
        let now = Instant::now();
        let mut state = self.lock();
        state.expire(now, self.window);
        if let Some(entry) = state.entries.get(key) {
            return match &*entry.reply.borrow() {
                Some(bytes) => Claim::Done(bytes.clone()),
                None => Claim::Running,
            };
        }
        if state.entries.len() >= self.capacity {
            return Claim::Full;
        }
        let (reply, _) = watch::channel(None);
        state.entries.insert(key.clone(), Entry { since: now, reply });
        state.order.push_back((now, key.clone()));
        Claim::Run
    }

    async fn complete(&self, key: &DedupKey, reply: Bytes) {
        if let Some(entry) = self.lock().entries.get(key) {
            entry.reply.send_replace(Some(reply));
        }
    }

    async fn wait(&self, key: &DedupKey) -> Option<Bytes> {
        let mut receiver = self.lock().entries.get(key)?.reply.subscribe();
        let reply = receiver.wait_for(Option::is_some).await.ok()?;
        reply.clone()
    }
}

/// Runs a handler once per delivery, however often the platform retries it.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use reply_core::serve::RetryGuard;
/// use reply_core::DedupKey;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let guard = RetryGuard::new();
/// let runs = Arc::new(AtomicUsize::new(0));
/// for _ in 0..3 {
///     let runs = runs.clone();
///     let reply = guard
///         .answer(DedupKey::MsgId(1), move || async move {
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
}

impl<S> Clone for RetryGuard<S> {
    fn clone(&self) -> Self {
        RetryGuard { store: self.store.clone() }
    }
}

impl RetryGuard<MemoryStore> {
    /// A guard over a [`MemoryStore`] with the default window and capacity.
    pub fn new() -> Self {
        RetryGuard::with_store(MemoryStore::new())
    }
}

impl Default for RetryGuard<MemoryStore> {
    fn default() -> Self {
        RetryGuard::new()
    }
}

impl<S: ReplyStore> RetryGuard<S> {
    /// A guard over `store`.
    pub fn with_store(store: S) -> Self {
        RetryGuard { store: Arc::new(store) }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The reply to the delivery `key`, written: made by `handler` if this is the first time the
    /// key is seen, otherwise the one made (or being made) for it.
    ///
    /// The handler runs in a task of its own, so it finishes even when the request that started
    /// it goes away, and its reply is there for the retry. A handler that panics answers with
    /// the empty reply. When the store is [full](Claim::Full), the answer is the empty reply and
    /// the handler does not run.
    pub async fn answer<F, Fut, R>(&self, key: DedupKey, handler: F) -> Bytes
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R> + Send + 'static,
        R: PassiveReply + Send + 'static,
    {
        let empty = Bytes::new;
        match self.store.claim(&key).await {
            Claim::Done(bytes) => bytes,
            Claim::Running => self.store.wait(&key).await.unwrap_or_else(empty),
            Claim::Full => empty(),
            Claim::Run => {
                let work = handler();
                let store = self.store.clone();
                let task_key = key.clone();
                let task = tokio::spawn(async move {
                    // Written once, into the buffer the response sends and every retry shares
                    // (`to_xml` allocates exactly its length, which `Bytes` takes as it is).
                    let bytes = Bytes::from(work.await.to_xml().into_bytes());
                    store.complete(&task_key, bytes.clone()).await;
                    bytes
                });
                match task.await {
                    Ok(bytes) => bytes,
                    Err(_) => {
                        self.store.complete(&key, empty()).await;
                        empty()
                    }
                }
            }
        }
    }
}
