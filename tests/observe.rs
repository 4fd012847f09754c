//! What an operator sees: a recorder (`metrics`) and a subscriber (`tracing`) installed by the
//! test, a scripted run of deliveries over loopback (answered, a retry, a late reply sent through
//! the platform double, refusals, a store that fails), and the counters, histograms and
//! `delivery` spans it left. A test binary of its own: the recorder and the subscriber are the
//! process's.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use passive_reply::client::Client;
use passive_reply::endpoint::Endpoint;
use passive_reply::serve::{Claim, LateReplies, ReplyStore, RetryGuard, StoreError, StoreErrorKind};
use passive_reply::{DedupKey, Incoming, Text};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

mod common;

use common::http::{TOKEN, request, serve, signed_query, text_delivery};
use passive_reply_test::api::{APP_ID, ApiDouble, SECRET};

/// Counters and histograms by name and labels (`name{label=value,…}`).
#[derive(Default)]
struct Recorded {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

fn name(key: &Key) -> String {
    let labels: Vec<String> = key.labels().map(|label| format!("{}={}", label.key(), label.value())).collect();
    match labels.is_empty() {
        true => key.name().to_owned(),
        false => format!("{}{{{}}}", key.name(), labels.join(",")),
    }
}

struct Shared(Arc<Recorded>);

impl Recorder for Shared {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.0.counters.lock().unwrap().entry(name(key)).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.0.histograms.lock().unwrap().entry(name(key)).or_default().clone())
    }
}

impl Recorded {
    fn counter(&self, name: &str) -> u64 {
        self.counters.lock().unwrap().get(name).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn samples(&self, name: &str) -> usize {
        self.histograms.lock().unwrap().get(name).map_or(0, |h| h.0.lock().unwrap().len())
    }
}

/// A span's fields, as text.
#[derive(Debug, Default, Clone)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps the fields of every `delivery` span that closed.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Fields>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        context.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, context: Context<'_, S>) {
        if let Some(fields) = context.span(id).unwrap().extensions_mut().get_mut::<Fields>() {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, context: Context<'_, S>) {
        let span = context.span(&id).unwrap();
        if span.name() == "delivery"
            && let Some(fields) = span.extensions().get::<Fields>()
        {
            self.0.lock().unwrap().push(fields.clone());
        }
    }
}

/// A store that always fails.
struct Down;

impl ReplyStore for Down {
    fn claim(&self, _: &DedupKey) -> impl Future<Output = Claim> + Send {
        std::future::ready(Claim::Failed(StoreError::new(StoreErrorKind::Unavailable, "down for the test")))
    }

    fn complete(&self, _: &DedupKey, _: bytes::Bytes) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Err(StoreError::new(StoreErrorKind::Unavailable, "down for the test")))
    }

    fn wait(&self, _: &DedupKey) -> impl Future<Output = Claim> + Send {
        std::future::ready(Claim::Failed(StoreError::new(StoreErrorKind::Unavailable, "down for the test")))
    }

    fn ready(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Err(StoreError::new(StoreErrorKind::Unavailable, "down for the test")))
    }
}

/// `slow …` after 600 ms (past the 200 ms budget); anything else at once.
async fn answer(msg: Incoming<'static>) -> Text<'static> {
    let content = msg.field("Content").unwrap_or_default().to_owned();
    if content.starts_with("slow") {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    msg.reply_text(format!("got {content}")).into_owned()
}

/// One test: the recorder and the subscriber belong to the whole process.
#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_run_leaves_its_counts_and_spans() {
    let recorded = Arc::new(Recorded::default());
    metrics::set_global_recorder(Shared(recorded.clone())).unwrap();
    let spans = Spans::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans.clone())).unwrap();

    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let client = Client::builder(APP_ID, SECRET).api_base(base).build().unwrap();
    let endpoint =
        Endpoint::new(TOKEN, answer).budget(Duration::from_millis(200)).late_replies(LateReplies::new(client));
    let ready = endpoint.readiness();
    let addr = serve(endpoint.into_router()).await;
    let post = |body: String| async move { request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &body).await };

    // Answered; the same again (the platform's retry): from the store; a late one; refusals.
    assert_eq!(post(text_delivery(1, "hello")).await.status, 200);
    assert_eq!(post(text_delivery(1, "hello")).await.status, 200);
    assert_eq!(post(text_delivery(2, "slow one")).await.body, "");
    assert_eq!(request(addr, "POST", "/?signature=0&timestamp=1&nonce=2", &text_delivery(3, "x")).await.status, 403);
    assert_eq!(post("not xml".into()).await.status, 400);
    assert_eq!(request(addr, "PUT", "/", "").await.status, 405);
    // A store that fails: handled without the guard.
    let down = Endpoint::new(TOKEN, answer).retry_guard(RetryGuard::with_store(Down));
    let down_ready = down.readiness();
    let down_addr = serve(down.into_router()).await;
    let unguarded = request(down_addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(4, "y")).await;
    assert_eq!(unguarded.status, 200);
    // The late reply goes out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while platform.sends().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the late reply was not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    let count = |name: &str| recorded.counter(name);
    assert_eq!(count("passive_reply_deliveries_total{outcome=answered}"), 2); // one guarded, one unguarded
    assert_eq!(count("passive_reply_deliveries_total{outcome=retry}"), 1);
    assert_eq!(count("passive_reply_deliveries_total{outcome=late}"), 1);
    assert_eq!(count("passive_reply_handler_runs_total"), 3);
    assert_eq!(count("passive_reply_refused_total{reason=signature}"), 1);
    assert_eq!(count("passive_reply_refused_total{reason=parse}"), 1);
    assert_eq!(count("passive_reply_refused_total{reason=method}"), 1);
    assert_eq!(count("passive_reply_unguarded_runs_total{cause=store_error}"), 1);
    assert_eq!(count("passive_reply_store_errors_total"), 1); // its claim (an unguarded run records nothing)
    assert_eq!(count("passive_reply_late_replies_total{outcome=sent}"), 1);
    assert_eq!(count("passive_reply_token_fetches_total{kind=account}"), 1);
    assert_eq!(recorded.samples("passive_reply_delivery_seconds"), 4); // each delivery that reached the guard
    assert_eq!(recorded.samples("passive_reply_late_reply_seconds"), 1);

    // One span per delivery that reached a handler or the store, with what became of it; the late
    // one ends last, once its late reply went out.
    let spans = spans.0.lock().unwrap().clone();
    let outcomes: Vec<&str> = spans.iter().map(|s| s.0.get("outcome").map_or("-", String::as_str)).collect();
    assert_eq!(outcomes, ["answered", "retry", "answered", "late"]);
    assert_eq!(spans[3].0.get("late_outcome").map(String::as_str), Some("sent"));
    assert!(spans[..3].iter().all(|s| !s.0.contains_key("late_outcome")));
    for span in &spans {
        assert_eq!(span.0["msg_type"], "text");
        assert_eq!(span.0["mode"], "plaintext");
        assert!(span.0["key"].contains("gh_account"), "{:?}", span.0);
        assert!(span.0.contains_key("latency_ms"), "{:?}", span.0);
    }

    // Readiness: the memory store is; the failing store isn't, and says why.
    assert_eq!(ready.answer().await.status(), http::StatusCode::OK);
    let not_ready = down_ready.answer().await;
    assert_eq!(not_ready.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(std::str::from_utf8(not_ready.body()).unwrap().contains("down for the test"));

    // Sessions: what became of each message's session.
    use passive_reply::router::{Msg, Router, kind};
    use passive_reply::session::{MemorySessions, Session, Sessions};
    async fn counting(mut session: Session<u32>, msg: Msg<kind::Text>) -> Text<'static> {
        match msg.content() {
            "count" => *session.get_or_insert(0) += 1,
            "reset" => *session = None,
            _ => {}
        }
        msg.reply_text("ok").into_owned()
    }
    let handler =
        Router::new().on::<kind::Text, _, _>(counting).sessions(Sessions::new(MemorySessions::new())).into_handler();
    for content in ["count", "count", "peek", "reset"] {
        handler(Incoming::parse(&text_delivery(9, content)).unwrap().into_owned()).await;
    }
    assert_eq!(count("passive_reply_sessions_total{outcome=saved}"), 2);
    assert_eq!(count("passive_reply_sessions_total{outcome=unchanged}"), 1);
    assert_eq!(count("passive_reply_sessions_total{outcome=removed}"), 1);
}
