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

use super::{CatchPanic, OnTime};
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
}

impl fmt::Debug for LateReplies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LateReplies")
            .field("client", &self.client)
            .field("limit", &self.limit)
            .field("hook", &self.hook.is_some())
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
        LateReplies { client, limit: DEFAULT_LATE_LIMIT, hook: None, tasks: LateTasks::global().clone() }
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
        let started = Instant::now();
        let mut handler = Box::pin(handler);
        match tokio::time::timeout(budget, handler.as_mut()).await {
            Ok(reply) => OnTime::Reply(reply),
            Err(_) => {
                self.spawn(started, key, handler);
                OnTime::Late
            }
        }
    }

    fn spawn<R>(&self, started: Instant, key: DedupKey, handler: Pin<Box<dyn Future<Output = R> + Send>>)
    where
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
                let deadline = tokio::time::Instant::from_std(started + late.limit);
                let outcome = match tokio::time::timeout_at(deadline, CatchPanic(handler)).await {
                    Err(_) => LateOutcome::TimedOut,
                    Ok(None) => LateOutcome::Panicked,
                    Ok(Some(reply)) if reply.customer_service_len().is_none() && reply.encoded_len() == 0 => {
                        LateOutcome::Empty
                    }
                    Ok(Some(reply)) => {
                        // Written now, so the reply itself is not held across the sending.
                        let body = reply_client::customer_service_body(&reply);
                        drop(reply);
                        match body {
                            Ok(body) => match late.client.send_json(body).await {
                                Ok(()) => LateOutcome::Sent,
                                Err(error) => LateOutcome::Failed(error),
                            },
                            Err(error) => LateOutcome::Failed(error),
                        }
                    }
                };
                let report = LateReport { key, outcome, elapsed: started.elapsed() };
                let name = match &report.outcome {
                    LateOutcome::Sent => "sent",
                    LateOutcome::Failed(_) => "failed",
                    LateOutcome::Empty => "empty",
                    LateOutcome::TimedOut => "timed_out",
                    LateOutcome::Panicked => "panicked",
                };
                super::observe::late(name, report.elapsed);
                match &late.hook {
                    Some(hook) => hook(&report),
                    None => match &report.outcome {
                        LateOutcome::Failed(error) => {
                            tracing::warn!("passive-reply: the late reply to {:?} was not sent: {error}", report.key);
                        }
                        LateOutcome::TimedOut => tracing::warn!(
                            "passive-reply: the handler of {:?} took longer than {:?}; its work was dropped",
                            report.key,
                            late.limit
                        ),
                        LateOutcome::Panicked => {
                            tracing::warn!("passive-reply: the handler of {:?} panicked", report.key)
                        }
                        _ => {}
                    },
                }
            },
            span,
        ));
        self.tasks.set_abort(id, task.abort_handle());
    }
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
