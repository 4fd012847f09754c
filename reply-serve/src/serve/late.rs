//! Late replies: a handler that misses the budget keeps running, and its reply goes out through
//! the customer-service message API (features `tokio` and `client`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::{BoxFuture, CatchPanic, OnTime, StoreError, renewing};
use reply_client::{ApiError, Client};
use reply_core::DedupKey;
use reply_core::PassiveReply;

/// How long a handler that missed the budget may still take by default, from the delivery: 60 s.
/// Past it, its work is dropped and the user gets nothing.
pub const DEFAULT_LATE_LIMIT: Duration = Duration::from_secs(60);

/// What became of a late reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LateOutcome {
    /// The platform took it: the user sees it.
    Sent,
    /// Sending it failed, after the client's retries: [`ApiError::kind`] says how (the user's
    /// 48-hour window passed, the platform was down, a reply with no customer-service form...).
    Failed(ApiError),
    /// The handler answered with the empty reply: nothing to send.
    Empty,
    /// The handler didn't finish within the limit; its work was dropped.
    TimedOut,
    /// The handler panicked.
    Panicked,
    /// Another instance took the delivery over (this one's lease lapsed: it was paused, or cut
    /// off from the store), and that one sends it ([`LateReplies::durable`]).
    Elsewhere,
}

/// A late reply's fate, as the hook of [`LateReplies::on_outcome`] hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LateReport {
    /// The delivery it answers.
    pub key: DedupKey,
    /// What became of it.
    pub outcome: LateOutcome,
    /// From the handler's start to the outcome.
    pub elapsed: Duration,
}

type Hook = Arc<dyn Fn(&LateReport) + Send + Sync>;

/// Sends the replies that miss the budget later, through the customer-service message API: give
/// it to `axum::Endpoint::late_replies`, or use [`within_or_late`](LateReplies::within_or_late).
///
/// When the budget runs out, the empty reply goes out now (the retry guard keeps it for the
/// delivery's retries, so they get it too, here or on another instance), the handler keeps
/// running in a task of its own, and its reply, when it comes within the limit, is sent once.
/// A reply is sent either passively or late, never both.
///
/// ```no_run
/// use std::time::Duration;
/// use reply_client::Client;
/// use reply_serve::serve::{LateOutcome, LateReplies};
///
/// let client = Client::new("wx0123456789abcdef", "the-app-secret");
/// let late = LateReplies::new(client).limit(Duration::from_secs(30)).on_outcome(|report| {
///     if let LateOutcome::Failed(error) = &report.outcome {
///         eprintln!("late reply to {:?} not sent: {error}", report.key);
///     }
/// });
/// ```
#[derive(Clone)]
pub struct LateReplies {
    client: Client,
    limit: Duration,
    hook: Option<Hook>,
    tasks: LateTasks,
    /// Where late replies are recorded ([`durable`](LateReplies::durable)).
    durable: Option<Arc<dyn LateStore>>,
    /// How long this instance holds each one it records.
    lease: Duration,
}

impl fmt::Debug for LateReplies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LateReplies")
            .field("client", &self.client)
            .field("limit", &self.limit)
            .field("hook", &self.hook.is_some())
            .field("durable", &self.durable.is_some())
            .field("lease", &self.lease)
            .finish()
    }
}

impl From<Client> for LateReplies {
    fn from(client: Client) -> Self {
        LateReplies::new(client)
    }
}

impl LateReplies {
    /// Late replies sent through `client`, within [`DEFAULT_LATE_LIMIT`], failures logged.
    pub fn new(client: Client) -> Self {
        LateReplies {
            client,
            limit: DEFAULT_LATE_LIMIT,
            hook: None,
            tasks: LateTasks::global().clone(),
            durable: None,
            lease: DEFAULT_LATE_LEASE,
        }
    }

    /// How long, from the delivery, a handler may take in all before its work is dropped.
    #[must_use]
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Calls `hook` with what became of each late reply (in the task that sent it: keep it short).
    /// Without a hook, failures are logged (`log` crate).
    #[must_use]
    pub fn on_outcome(mut self, hook: impl Fn(&LateReport) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Counts the late replies under way in `tasks` rather than in the process's
    /// ([`LateTasks::global`], which a shutdown drains): for a part of an application that is
    /// stopped on its own, and for tests.
    #[must_use]
    pub fn tasks(mut self, tasks: LateTasks) -> Self {
        self.tasks = tasks;
        self
    }

    /// Records each late reply in `store` while it runs, so that if this instance dies (a crash,
    /// a kill, a deploy that doesn't wait) another instance on the same store finishes it: the
    /// delivery (its XML, decrypted) is recorded when the budget runs out, under a lease this
    /// instance renews while the handler runs ([`DEFAULT_LATE_LEASE`], 5 s, renewed every third of
    /// it); an instance whose endpoint has the same store takes over a record whose lease lapsed
    /// (it looks every lease), runs its handler on the delivery, and sends. One send in all: the
    /// right to send is taken in the store before the send, once; an instance that dies between
    /// taking it and sending loses that reply rather than send it twice. Records end when the
    /// send is settled, and expire after twice the limit (so the platform's 48 hours and the
    /// limit still bound them); nothing is recorded but the delivery itself. `RedisStore`
    /// (feature `redis`) is such a store. With a store only this process sees, draining at
    /// shutdown ([`LateTasks`]) is the guarantee instead.
    #[must_use]
    pub fn durable(mut self, store: impl LateStore) -> Self {
        self.durable = Some(Arc::new(store));
        self
    }

    /// How long an instance holds a late reply it records before another may take it over
    /// ([`DEFAULT_LATE_LEASE`]); renewed every third of it while its handler runs.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// Whether late replies are recorded ([`durable`](LateReplies::durable)).
    pub fn is_durable(&self) -> bool {
        self.durable.is_some()
    }

    /// How long a record lives: twice the limit and a lease.
    fn record_life(&self) -> Duration {
        self.limit.saturating_mul(2).saturating_add(self.lease)
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `handler` for at most `budget`: its reply if it comes in time; otherwise
    /// [`OnTime::Late`] (zero bytes) now, and the handler goes on in a task of its own, its reply
    /// sent through the client when it comes (within the limit). `key` names the delivery in
    /// the report. The handler's future is boxed (one allocation per delivery) so that it can
    /// move to that task.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn within_or_late<F>(&self, budget: Duration, key: DedupKey, handler: F) -> OnTime<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: PassiveReply + Send + 'static,
    {
        self.within_or_late_recorded(budget, key, None, Box::pin(handler)).await
    }

    /// [`within_or_late`](LateReplies::within_or_late), with the delivery's XML to record when
    /// late replies are [`durable`](LateReplies::durable).
    pub(crate) async fn within_or_late_recorded<F>(
        &self,
        budget: Duration,
        key: DedupKey,
        delivery: Option<String>,
        mut handler: Pin<Box<F>>,
    ) -> OnTime<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: PassiveReply + Send + 'static,
    {
        let started = Instant::now();
        match tokio::time::timeout(budget, handler.as_mut()).await {
            Ok(reply) => OnTime::Reply(reply),
            Err(_) => {
                let record = match delivery {
                    Some(xml) if self.durable.is_some() => Record::New(xml),
                    _ => Record::None,
                };
                self.spawn(started, key, record, handler);
                OnTime::Late
            }
        }
    }

    /// Takes over the late replies whose instance died (their lease lapsed in the durable store),
    /// at most `max`: each leased to this instance now, for `handler` to be run on.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // the endpoint's
    pub(crate) async fn take_over(&self, max: usize) -> Vec<(DedupKey, String)> {
        let Some(store) = &self.durable else { return Vec::new() };
        match store.take_over(self.lease, max).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!("passive-reply: {e}; the late replies of other instances were not looked at");
                Vec::new()
            }
        }
    }

    /// Runs `handler` on a delivery taken over from another instance, and sends its reply.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // the endpoint's
    pub(crate) fn finish_taken<F>(&self, key: DedupKey, handler: F)
    where
        F: Future + Send + 'static,
        F::Output: PassiveReply + Send + 'static,
    {
        self.spawn(Instant::now(), key, Record::Taken, Box::pin(handler));
    }

    /// How often the endpoint looks for late replies to take over: every lease.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // the endpoint's
    pub(crate) fn sweep_every(&self) -> Option<Duration> {
        self.durable.as_ref().map(|_| self.lease)
    }

    fn spawn<R>(
        &self,
        started: Instant,
        key: DedupKey,
        record: Record,
        handler: Pin<Box<dyn Future<Output = R> + Send>>,
    ) where
        R: PassiveReply + Send + 'static,
    {
        let late = self.clone();
        let running = self.tasks.start(&key, started);
        let id = running.id;
        // The rest of the handler and the send stay in the delivery's span (when there is one), so
        // that the span ends with the late reply's outcome.
        let span = tracing::Span::current();
        let task = tokio::spawn(tracing::Instrument::instrument(
            async move {
                // Leaves the count when the task ends, however it ends (aborted by a shutdown too).
                let _running = running;
                let store = late.record(&key, record).await;
                let outcome = late.run_and_send(started, &key, store, handler).await;
                if let Some(store) = store
                    && !matches!(outcome, LateOutcome::Elsewhere)
                    && let Err(e) = store.settle(&key).await
                {
                    tracing::warn!(
                        "passive-reply: {e}; the record of the late reply to {key:?} stays until it expires"
                    );
                }
                late.report(LateReport { key, outcome, elapsed: started.elapsed() });
            },
            span,
        ));
        self.tasks.set_abort(id, task.abort_handle());
    }

    /// Records the delivery when late replies are durable (a store that fails: logged, and the
    /// reply goes on unrecorded); the durable store when it holds the delivery for this instance.
    async fn record(&self, key: &DedupKey, record: Record) -> Option<&dyn LateStore> {
        let store = self.durable.as_deref()?;
        match record {
            Record::None => None,
            Record::Taken => Some(store),
            Record::New(xml) => match store.record(key, &xml, self.lease, self.record_life()).await {
                Ok(()) => Some(store),
                Err(e) => {
                    tracing::warn!("passive-reply: {e}; the late reply to {key:?} is not recorded for other instances");
                    None
                }
            },
        }
    }

    /// The handler to its end (within the limit; the lease renewed meanwhile when recorded), and
    /// the send.
    async fn run_and_send<R: PassiveReply>(
        &self,
        started: Instant,
        key: &DedupKey,
        store: Option<&dyn LateStore>,
        handler: Pin<Box<dyn Future<Output = R> + Send>>,
    ) -> LateOutcome {
        let deadline = tokio::time::Instant::from_std(started + self.limit);
        let handler = tokio::time::timeout_at(deadline, CatchPanic(handler));
        let finished = match store {
            None => handler.await,
            Some(store) => {
                let lease = self.lease;
                let renew = move || async move {
                    match store.renew(key, lease).await {
                        Ok(renewed) => renewed,
                        // The store is down: go on; the record expires, nobody takes it over meanwhile
                        // (taking over needs the store too).
                        Err(e) => {
                            tracing::warn!("passive-reply: {e}; the lease of the late reply to {key:?} not renewed");
                            true
                        }
                    }
                };
                match renewing(handler, self.lease / 3, renew).await {
                    Some(finished) => finished,
                    // Another instance took it over (this one was paused past its lease): it sends.
                    None => return LateOutcome::Elsewhere,
                }
            }
        };
        let reply = match finished {
            Err(_) => return LateOutcome::TimedOut,
            Ok(None) => return LateOutcome::Panicked,
            Ok(Some(reply)) if reply.customer_service_len().is_none() && reply.encoded_len() == 0 => {
                return LateOutcome::Empty;
            }
            Ok(Some(reply)) => reply,
        };
        // Written now, so the reply itself is not held across the sending.
        let body = match reply_client::customer_service_body(&reply) {
            Ok(body) => body,
            Err(error) => return LateOutcome::Failed(error),
        };
        drop(reply);
        if let Some(store) = store {
            match store.take_send(key, self.record_life()).await {
                Ok(true) => {}
                Ok(false) => return LateOutcome::Elsewhere,
                // Nobody else can take it over while the store is down: send.
                Err(e) => tracing::warn!("passive-reply: {e}; the late reply to {key:?} sent without marking it"),
            }
        }
        match self.client.send_json(body).await {
            Ok(()) => LateOutcome::Sent,
            Err(error) => LateOutcome::Failed(error),
        }
    }

    /// Counts, and tells the hook (or the log) what became of a late reply.
    fn report(&self, report: LateReport) {
        let name = match &report.outcome {
            LateOutcome::Sent => "sent",
            LateOutcome::Failed(_) => "failed",
            LateOutcome::Empty => "empty",
            LateOutcome::TimedOut => "timed_out",
            LateOutcome::Panicked => "panicked",
            LateOutcome::Elsewhere => "elsewhere",
        };
        super::observe::late(name, report.elapsed);
        match &self.hook {
            Some(hook) => hook(&report),
            None => match &report.outcome {
                LateOutcome::Failed(error) => {
                    tracing::warn!("passive-reply: the late reply to {:?} was not sent: {error}", report.key);
                }
                LateOutcome::TimedOut => tracing::warn!(
                    "passive-reply: the handler of {:?} took longer than {:?}; its work was dropped",
                    report.key,
                    self.limit
                ),
                LateOutcome::Panicked => tracing::warn!("passive-reply: the handler of {:?} panicked", report.key),
                _ => {}
            },
        }
    }
}

/// What a late reply's task records of its delivery.
enum Record {
    /// Nothing: late replies are not durable, or the delivery is not known.
    None,
    /// The delivery's XML, to record now.
    New(String),
    /// Already recorded, and leased to this instance (taken over).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // the endpoint's
    Taken,
}

/// How long an instance holds a late reply it recorded before another may take it over, by
/// default: 5 s.
pub const DEFAULT_LATE_LEASE: Duration = Duration::from_secs(5);

/// Where late replies are recorded while they run ([`LateReplies::durable`]), so that another
/// instance finishes one whose instance died. `RedisStore` (feature `redis`) is one; its methods
/// are its parts, for a store of the application's own.
pub trait LateStore: Send + Sync + 'static {
    /// Records `delivery` (its XML) under `key` for `life`, leased to this instance for `lease`.
    fn record<'a>(
        &'a self,
        key: &'a DedupKey,
        delivery: &'a str,
        lease: Duration,
        life: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Renews this instance's lease on `key`: false when it is not this instance's any more.
    fn renew<'a>(&'a self, key: &'a DedupKey, lease: Duration) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Takes the right to send the reply to `key`, once in all instances (kept for `life`): false
    /// when it was taken already.
    fn take_send<'a>(&'a self, key: &'a DedupKey, life: Duration) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Ends the record of `key`: its reply was sent, or won't be.
    fn settle<'a>(&'a self, key: &'a DedupKey) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Takes over at most `max` records whose lease lapsed and whose reply wasn't sent: each
    /// leased to this instance for `lease` now, given back with its delivery.
    fn take_over(&self, lease: Duration, max: usize) -> BoxFuture<'_, Result<Vec<(DedupKey, String)>, StoreError>>;
}

/// The late replies under way (handlers running past the budget, and their sends), counted so
/// that a shutdown can wait for them: [`drain`](LateTasks::drain). Every [`LateReplies`] counts
/// its own in the process's ([`global`](LateTasks::global)) unless given others
/// ([`LateReplies::tasks`]). The crate's server drains the process's when it stops
/// (`server::Server::serve_until_signal`).
///
/// With a store that only this process sees (`MemoryStore`), draining at shutdown is what keeps
/// a late reply from being lost: the platform asks once, and the user was given the empty reply.
#[derive(Debug, Clone, Default)]
pub struct LateTasks {
    inner: Arc<TasksInner>,
}

#[derive(Debug, Default)]
struct TasksInner {
    next: AtomicU64,
    running: Mutex<HashMap<u64, Running>>,
    /// Told when the last one ends.
    idle: Notify,
}

#[derive(Debug)]
struct Running {
    key: DedupKey,
    started: Instant,
    abort: Option<AbortHandle>,
}

/// A late reply a shutdown stopped before it was sent: its delivery, and how long its handler
/// had run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Abandoned {
    /// The delivery it answered.
    pub key: DedupKey,
    /// How long it ran, from its handler's start.
    pub ran: Duration,
}

/// A late reply's place in its [`LateTasks`], given back when its task ends.
struct RunningGuard {
    tasks: LateTasks,
    id: u64,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut running = self.tasks.inner.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.remove(&self.id);
        if running.is_empty() {
            self.tasks.inner.idle.notify_waiters();
        }
    }
}

impl LateTasks {
    /// The process's: every [`LateReplies`] counts its late replies here unless told otherwise.
    pub fn global() -> &'static LateTasks {
        static GLOBAL: OnceLock<LateTasks> = OnceLock::new();
        GLOBAL.get_or_init(LateTasks::default)
    }

    /// A count of its own (for a part of an application stopped on its own, and for tests).
    pub fn new() -> Self {
        LateTasks::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Running>> {
        self.inner.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a late reply that is about to start; the guard ends its count.
    fn start(&self, key: &DedupKey, started: Instant) -> RunningGuard {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Running { key: key.clone(), started, abort: None });
        RunningGuard { tasks: self.clone(), id }
    }

    /// Notes how to stop the late reply `id`, if it is still running (it may have ended already).
    fn set_abort(&self, id: u64, abort: AbortHandle) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.abort = Some(abort);
        }
    }

    /// How many late replies are under way.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is under way.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the late replies under way to be sent (or to fail, or to time out), at most
    /// `deadline`; those still under way then are stopped, and given back.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled.
    pub async fn drain(&self, deadline: Duration) -> Vec<Abandoned> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let idle = self.inner.idle.notified();
            if self.is_empty() {
                return Vec::new();
            }
            if tokio::time::timeout_at(until, idle).await.is_err() {
                return self.abandon();
            }
        }
    }

    /// Stops every late reply under way now, and gives them back (for a second signal, when
    /// waiting is over).
    pub fn abandon(&self) -> Vec<Abandoned> {
        let running: Vec<Running> = self.lock().drain().map(|(_, running)| running).collect();
        self.inner.idle.notify_waiters();
        running
            .into_iter()
            .map(|running| {
                if let Some(abort) = &running.abort {
                    abort.abort();
                }
                let ran = running.started.elapsed();
                super::observe::late("abandoned", ran);
                Abandoned { key: running.key, ran }
            })
            .collect()
    }
}
