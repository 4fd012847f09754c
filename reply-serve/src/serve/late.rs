//! Late replies: a handler that misses the budget keeps running, and its reply goes out through
//! the customer-service message API (features `tokio` and `client`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        LateReplies { client, limit: DEFAULT_LATE_LIMIT, hook: None }
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
        tokio::spawn(async move {
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
            match &late.hook {
                Some(hook) => hook(&report),
                None => match &report.outcome {
                    LateOutcome::Failed(error) => {
                        log::warn!("passive-reply: the late reply to {:?} was not sent: {error}", report.key);
                    }
                    LateOutcome::TimedOut => log::warn!(
                        "passive-reply: the handler of {:?} took longer than {:?}; its work was dropped",
                        report.key,
                        late.limit
                    ),
                    LateOutcome::Panicked => log::warn!("passive-reply: the handler of {:?} panicked", report.key),
                    _ => {}
                },
            }
        });
    }
}
