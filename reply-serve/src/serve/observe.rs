//! What the serving side tells an operator: a `tracing` span per delivery, events for what goes
//! wrong, and metrics through the [`metrics`](https://docs.rs/metrics) facade. Nothing is
//! recorded or printed unless the application installs a subscriber or a recorder (and an
//! exporter: Prometheus' with `metrics-exporter-prometheus`, say); without a `tracing`
//! subscriber, events go to the `log` crate's logger, as before.
//!
//! The span, `delivery`, has the fields `account` (the endpoint's, [`Endpoint::account`]),
//! `key` (the retry guard's), `msg_type`, `event`, `mode` (`plaintext` or `encrypted`), and,
//! when it ends, `outcome` (as [`DELIVERIES`]' label) and `latency_ms`. The store's and the
//! API client's failures are events inside it.
//!
//! The metrics, by name:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`DELIVERIES`] | counter | `outcome`: `answered` (within the budget), `late` (past it: the empty reply, and with late replies on, the reply sent later), `retry` (answered from the store), `empty` (the store failed, [`OnStoreError::AnswerEmpty`]) |
//! | [`REFUSED`] | counter | `reason`: `method`, `signature`, `timestamp`, `replay`, `plaintext`, `encrypt_type`, `too_long`, `body_timeout`, `body_budget`, `body_error`, `not_utf8`, `decrypt`, `parse`, `account` (a name that is no account's, [`Accounts`]) |
//! | [`HANDLER_RUNS`] | counter | |
//! | [`UNGUARDED`] | counter | `cause`: `full`, `store_error` |
//! | [`STORE_ERRORS`] | counter | |
//! | [`LATE_REPLIES`] | counter | `outcome`: `sent`, `failed`, `empty`, `timed_out`, `panicked`, `abandoned` |
//! | [`DELIVERY_SECONDS`] | histogram | from the body's arrival to the answer |
//! | [`LATE_REPLY_SECONDS`] | histogram | from the handler's start to the late reply's outcome |
//!
//! and, from the API client (`reply-client`): `passive_reply_token_fetches_total` (label `kind`:
//! `account`, `component`, `authorizer`) and `passive_reply_api_errors_total` (label `kind`, the
//! error's kind).
//!
//! [`Endpoint::account`]: crate::endpoint::Endpoint::account
//! [`Accounts`]: crate::endpoint::Accounts
//! [`OnStoreError::AnswerEmpty`]: super::OnStoreError::AnswerEmpty

/// Deliveries answered, by outcome.
pub const DELIVERIES: &str = "passive_reply_deliveries_total";
/// Requests refused before a handler ran, by reason.
pub const REFUSED: &str = "passive_reply_refused_total";
/// Handler runs.
pub const HANDLER_RUNS: &str = "passive_reply_handler_runs_total";
/// Handler runs without the retry guard, by cause.
pub const UNGUARDED: &str = "passive_reply_unguarded_runs_total";
/// Failures of the retry guard's store.
pub const STORE_ERRORS: &str = "passive_reply_store_errors_total";
/// Late replies, by outcome.
pub const LATE_REPLIES: &str = "passive_reply_late_replies_total";
/// How long a delivery took to answer, in seconds.
pub const DELIVERY_SECONDS: &str = "passive_reply_delivery_seconds";
/// How long a late reply took, in seconds.
pub const LATE_REPLY_SECONDS: &str = "passive_reply_late_reply_seconds";

/// Counts a delivery's outcome, and puts it in the current span.
pub(crate) fn delivery(outcome: &'static str) {
    metrics::counter!(DELIVERIES, "outcome" => outcome).increment(1);
    tracing::Span::current().record("outcome", outcome);
}

/// Counts a refusal.
pub(crate) fn refused(reason: &'static str) {
    metrics::counter!(REFUSED, "reason" => reason).increment(1);
    tracing::debug!(reason, "passive-reply: a request refused");
}

pub(crate) fn handler_run() {
    metrics::counter!(HANDLER_RUNS).increment(1);
}

pub(crate) fn unguarded(cause: &'static str) {
    metrics::counter!(UNGUARDED, "cause" => cause).increment(1);
}

pub(crate) fn store_error() {
    metrics::counter!(STORE_ERRORS).increment(1);
}

#[cfg(feature = "client")]
pub(crate) fn late(outcome: &'static str, elapsed: std::time::Duration) {
    metrics::counter!(LATE_REPLIES, "outcome" => outcome).increment(1);
    metrics::histogram!(LATE_REPLY_SECONDS).record(elapsed.as_secs_f64());
}

/// Records how long a delivery took, in its span and its histogram.
pub(crate) fn latency(elapsed: std::time::Duration) {
    metrics::histogram!(DELIVERY_SECONDS).record(elapsed.as_secs_f64());
    tracing::Span::current().record("latency_ms", elapsed.as_millis() as u64);
}
