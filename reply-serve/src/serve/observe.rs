//! What the serving side tells an operator: a `tracing` span per delivery, events for what goes
//! wrong, and metrics through the [`metrics`](https://docs.rs/metrics) facade. Nothing is
//! recorded or printed unless the application installs a subscriber or a recorder (and an
//! exporter: Prometheus' with `metrics-exporter-prometheus`, say); without a `tracing`
//! subscriber, events go to the `log` crate's logger, as before.
//!
//! The span, `delivery`, has the fields `account` (the endpoint's, [`Endpoint::account`]),
//! `key` (the retry guard's), `msg_type`, `event`, `mode` (`plaintext` or `encrypted`), and,
//! when it ends, `outcome` (as [`DELIVERIES`]' label) and `latency_ms`; a late delivery's span
//! lasts until its late reply's outcome, `late_outcome` (as [`LATE_REPLIES`]' label). The
//! store's and the API client's failures are events inside it.
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
//! | [`LATE_REPLIES`] | counter | `outcome`: `sent`, `failed`, `empty`, `timed_out`, `panicked`, `elsewhere` (taken over by another instance), `abandoned` (at shutdown) |
//! | [`SESSIONS`] | counter | `outcome`: `saved`, `removed`, `unchanged`, `lapsed` (the lock's lease ran out: not saved), `failed` (the store failed), `busy` (the user's lock not had in time) |
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
/// Messages handled with a session (feature `session`), by outcome.
pub const SESSIONS: &str = "passive_reply_sessions_total";
/// How long a delivery took to answer, in seconds.
pub const DELIVERY_SECONDS: &str = "passive_reply_delivery_seconds";
/// How long a late reply took, in seconds.
pub const LATE_REPLY_SECONDS: &str = "passive_reply_late_reply_seconds";

/// Whether a `tracing` subscriber was ever installed: when none was, the span and its fields are
/// skipped altogether (one atomic load), so an application that doesn't look pays nothing for it.
#[inline]
pub(crate) fn tracing_on() -> bool {
    tracing::dispatcher::has_been_set()
}

// The metrics below are written with literal names and labels: the `metrics` macros then build
// their keys as statics, with no allocation per delivery (a label whose value is a variable
// costs a `Vec`, recorder or not).

/// A delivery's outcome, as [`DELIVERIES`] labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "tower"), allow(dead_code))] // the endpoint's
pub(crate) enum Outcome {
    Answered,
    Late,
    Retry,
    Empty,
}

/// Counts a delivery's outcome, and puts it in the current span.
pub(crate) fn delivery(outcome: Outcome) {
    let label = match outcome {
        Outcome::Answered => {
            metrics::counter!("passive_reply_deliveries_total", "outcome" => "answered").increment(1);
            "answered"
        }
        Outcome::Late => {
            metrics::counter!("passive_reply_deliveries_total", "outcome" => "late").increment(1);
            "late"
        }
        Outcome::Retry => {
            metrics::counter!("passive_reply_deliveries_total", "outcome" => "retry").increment(1);
            "retry"
        }
        Outcome::Empty => {
            metrics::counter!("passive_reply_deliveries_total", "outcome" => "empty").increment(1);
            "empty"
        }
    };
    if tracing_on() {
        tracing::Span::current().record("outcome", label);
    }
}

/// Counts a refusal (not on a delivery's way: a label of any value).
#[cfg_attr(not(feature = "tower"), allow(dead_code))] // the endpoint's
pub(crate) fn refused(reason: &'static str) {
    metrics::counter!(REFUSED, "reason" => reason).increment(1);
    tracing::debug!(reason, "passive-reply: a request refused");
}

pub(crate) fn handler_run() {
    metrics::counter!("passive_reply_handler_runs_total").increment(1);
}

pub(crate) fn unguarded(cause: &'static str) {
    metrics::counter!(UNGUARDED, "cause" => cause).increment(1);
}

pub(crate) fn store_error() {
    metrics::counter!("passive_reply_store_errors_total").increment(1);
}

#[cfg(feature = "session")]
pub(crate) fn session(outcome: &'static str) {
    metrics::counter!(SESSIONS, "outcome" => outcome).increment(1);
}

#[cfg(feature = "client")]
pub(crate) fn late(outcome: &'static str, elapsed: std::time::Duration) {
    metrics::counter!(LATE_REPLIES, "outcome" => outcome).increment(1);
    metrics::histogram!("passive_reply_late_reply_seconds").record(elapsed.as_secs_f64());
    if tracing_on() {
        tracing::Span::current().record("late_outcome", outcome);
    }
}

/// Records how long a delivery took, in its span and its histogram.
#[cfg_attr(not(feature = "tower"), allow(dead_code))] // the endpoint's
pub(crate) fn latency(elapsed: std::time::Duration) {
    metrics::histogram!("passive_reply_delivery_seconds").record(elapsed.as_secs_f64());
    if tracing_on() {
        tracing::Span::current().record("latency_ms", u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal names the macros are given are the documented constants.
    #[test]
    fn names() {
        let source = include_str!("observe.rs");
        for name in [DELIVERIES, HANDLER_RUNS, STORE_ERRORS, DELIVERY_SECONDS, LATE_REPLY_SECONDS] {
            assert!(source.matches(&format!("!(\"{name}\"")).count() >= 1, "{name}");
        }
    }
}
