//! Late replies against a double of the platform's API served on loopback by the test
//! (the test kit's `api::ApiDouble`): what the endpoint answers, and what reaches the API, when.
//!
//! Real time and real sockets throughout (a paused clock would fire the client's timeouts while it
//! waits on a socket), so the timings asserted have slack for a slow machine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passive_reply::axum::Endpoint;
use passive_reply::client::{ApiErrorKind, Client};
use passive_reply::serve::{DEFAULT_BUDGET, LateOutcome, LateReplies, LateReport};
use passive_reply::{Empty, Incoming, Message, PassiveReply, Text, TransferCustomerService};
use serde_json::json;
use tokio::time::{Instant, sleep};

mod common;
use common::http::{TOKEN, request, serve, signed_query, text_delivery};
use passive_reply_test::api::{APP_ID, ApiDouble, Next, SECRET};

/// The reports the hook heard.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<LateReport>>>);

impl Reports {
    fn late_replies(&self, client: Client) -> LateReplies {
        let reports = self.clone();
        LateReplies::new(client).on_outcome(move |report| reports.0.lock().unwrap().push(report.clone()))
    }

    /// The reports, once there are `n` (or a panic after `within`).
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<LateReport> {
        let deadline = Instant::now() + within;
        loop {
            let reports = self.0.lock().unwrap().clone();
            if reports.len() >= n {
                return reports;
            }
            assert!(Instant::now() < deadline, "{} of {n} late replies reported in {within:?}", reports.len());
            sleep(Duration::from_millis(10)).await;
        }
    }
}

/// An endpoint with late replies through the platform at `base`, its handler given `budget`.
async fn late_server<H, Fut, R>(handler: H, base: &str, budget: Duration, reports: &Reports) -> std::net::SocketAddr
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
{
    let app = Endpoint::new(TOKEN, handler).budget(budget).late_replies(reports.late_replies(client(base)));
    serve(app.into_router()).await
}

fn client(base: &str) -> Client {
    Client::builder(APP_ID, SECRET).api_base(base).retries(2, Duration::from_millis(20)).build().unwrap()
}

/// A handler that answers `sleep N` after N milliseconds with "done: sleep N", and counts its runs.
fn sleeper(
    runs: Arc<AtomicUsize>,
) -> impl Fn(Incoming<'static>) -> std::pin::Pin<Box<dyn Future<Output = Text<'static>> + Send>> + Clone {
    move |msg: Incoming<'static>| {
        let runs = runs.clone();
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let Message::Text { content, .. } = msg.message() else { panic!("a text") };
            let millis: u64 = content.strip_prefix("sleep ").and_then(|n| n.parse().ok()).unwrap_or(0);
            sleep(Duration::from_millis(millis)).await;
            msg.reply_text(format!("done: {content}")).into_owned()
        })
    }
}

fn expected_body(content: &str) -> serde_json::Value {
    json!({"touser": "oUser", "msgtype": "text", "text": {"content": format!("done: {content}")}})
}

/// The case, on the default budget (4 s): a handler that takes 6 s. The platform's first
/// try gets the empty body at 4 s; its retries at 5 s and 10 s get the empty body too and run
/// nothing; the reply reaches the send API once, at 6 s, with the token the platform handed out.
#[tokio::test]
async fn a_six_second_handler_is_answered_empty_then_sent_once() {
    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let reports = Reports::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let addr = late_server(sleeper(runs.clone()), &base, DEFAULT_BUDGET, &reports).await;
    let delivery = text_delivery(1, "sleep 6000");
    let target = format!("/?{}", signed_query(TOKEN));

    let start = Instant::now();
    let first = request(addr, "POST", &target, &delivery).await;
    let answered = start.elapsed();
    assert_eq!((first.status, first.body.as_str(), first.content_type), (200, "", None));
    assert!(answered >= Duration::from_millis(3950) && answered < Duration::from_millis(4900), "{answered:?}");

    sleep(Duration::from_secs(5).saturating_sub(start.elapsed())).await;
    let retry = request(addr, "POST", &target, &delivery).await;
    assert_eq!((retry.status, retry.body.as_str()), (200, ""));
    assert!(platform.sends().is_empty(), "nothing sent before the handler is done");

    let reports = reports.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(reports[0].outcome, LateOutcome::Sent);
    let sends = platform.sends();
    assert_eq!(sends.len(), 1);
    let sent_after = sends[0].at - start;
    assert!(sent_after >= Duration::from_secs(6) && sent_after < Duration::from_millis(7500), "{sent_after:?}");
    assert_eq!(sends[0].body, expected_body("sleep 6000"));
    assert_eq!(sends[0].token, "TOKEN-1");

    sleep(Duration::from_secs(10).saturating_sub(start.elapsed())).await;
    let last = request(addr, "POST", &target, &delivery).await;
    assert_eq!((last.status, last.body.as_str()), (200, ""));
    sleep(Duration::from_millis(200)).await;
    assert_eq!(platform.sends().len(), 1, "no second send");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!(platform.token_requests(), 1);
}

/// 100 deliveries that all miss the budget at once: one token request (single flight, with the
/// token slow to come), 100 sends, each with its own reply.
#[tokio::test]
async fn a_hundred_late_replies_fetch_one_token() {
    let platform = ApiDouble::default();
    platform.with(|r| r.token_delay = Duration::from_millis(300));
    let base = platform.serve().await;
    let reports = Reports::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let addr = late_server(sleeper(runs.clone()), &base, Duration::from_millis(100), &reports).await;
    let target = format!("/?{}", signed_query(TOKEN));
    let deliveries = (0..100).map(|i| {
        let target = target.clone();
        tokio::spawn(async move {
            request(addr, "POST", &target, &text_delivery(1000 + i, &format!("sleep {}", 200 + i))).await
        })
    });
    for answered in futures_util::future::join_all(deliveries).await {
        assert_eq!(answered.unwrap().body, "");
    }
    let reports = reports.wait_for(100, Duration::from_secs(10)).await;
    assert!(reports.iter().all(|r| r.outcome == LateOutcome::Sent), "{reports:?}");
    assert_eq!(platform.token_requests(), 1);
    let mut contents: Vec<String> =
        platform.sends().iter().map(|s| s.body["text"]["content"].as_str().unwrap().to_owned()).collect();
    contents.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("done: sleep {}", 200 + i)).collect();
    expected.sort();
    assert_eq!(contents, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 100);
}

/// Sends through the client alone, answered as `script` says: what the hook-less caller sees.
async fn send_with(script: &[Next]) -> (Result<(), passive_reply::client::ApiError>, ApiDouble) {
    let platform = ApiDouble::default();
    platform.with(|r| r.script.extend(script.iter().copied()));
    let base = platform.serve().await;
    let result = client(&base).send(&Text::new("oUser", "gh_account", "hello")).await;
    (result, platform)
}

#[tokio::test]
async fn a_stale_token_is_refreshed_once_and_the_send_tried_again() {
    let (result, platform) = send_with(&[Next::Code(40001)]).await;
    assert_eq!(result, Ok(()));
    let tokens: Vec<String> = platform.sends().into_iter().map(|s| s.token).collect();
    assert_eq!(tokens, ["TOKEN-1", "TOKEN-2"]);
    assert_eq!(platform.token_requests(), 2);
    // Stale again after the refresh: reported, not refreshed forever.
    let (result, platform) = send_with(&[Next::Code(40001), Next::Code(42001)]).await;
    assert_eq!(result.unwrap_err().kind(), ApiErrorKind::StaleToken);
    assert_eq!((platform.sends().len(), platform.token_requests()), (2, 2));
}

#[tokio::test]
async fn errors_that_are_not_retried_and_those_that_are() {
    for (code, kind) in
        [(45015, ApiErrorKind::OutOfWindow), (45047, ApiErrorKind::Limit), (40003, ApiErrorKind::Platform)]
    {
        let (result, platform) = send_with(&[Next::Code(code)]).await;
        let error = result.unwrap_err();
        assert_eq!((error.kind(), error.code()), (kind, Some(code)));
        assert_eq!(platform.sends().len(), 1, "{code}: not retried");
    }
    // Busy, then taken: retried. Busy on every try: 1 + 2 retries, then reported.
    let (result, platform) = send_with(&[Next::Code(-1)]).await;
    assert_eq!((result, platform.sends().len()), (Ok(()), 2));
    let (result, platform) = send_with(&[Next::Code(-1); 3]).await;
    assert_eq!((result.unwrap_err().kind(), platform.sends().len()), (ApiErrorKind::Busy, 3));
    // A gateway's 502 is retried; a 400 (not the platform's answer) is not.
    let (result, platform) = send_with(&[Next::Status(502)]).await;
    assert_eq!((result, platform.sends().len()), (Ok(()), 2));
    let (result, platform) = send_with(&[Next::Status(400)]).await;
    assert_eq!((result.unwrap_err().kind(), platform.sends().len()), (ApiErrorKind::BadResponse, 1));
}

/// The hook hears of a 45015 (the user's 48 hours passed), sent once and not retried.
#[tokio::test]
async fn out_of_the_window_reaches_the_hook() {
    let platform = ApiDouble::default();
    platform.with(|r| r.script.push_back(Next::Code(45015)));
    let base = platform.serve().await;
    let reports = Reports::default();
    let addr = late_server(sleeper(Arc::default()), &base, Duration::from_millis(100), &reports).await;
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(7, "sleep 300")).await;
    assert_eq!(answered.body, "");
    let reports = reports.wait_for(1, Duration::from_secs(5)).await;
    let LateOutcome::Failed(error) = &reports[0].outcome else { panic!("{reports:?}") };
    assert_eq!((error.kind(), error.code()), (ApiErrorKind::OutOfWindow, Some(45015)));
    assert_eq!(reports[0].key, Incoming::parse(&text_delivery(7, "")).unwrap().dedup_key());
    sleep(Duration::from_millis(100)).await;
    assert_eq!(platform.sends().len(), 1);
}

/// The platform down: answering 503 to everything (a bounded number of token requests, then the
/// hook hears of it), or not listening at all (the same, and every task the late reply started
/// is gone afterwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_down() {
    let platform = ApiDouble::default();
    platform.with(|r| r.down = Some(503));
    let base = platform.serve().await;
    let reports = Reports::default();
    let addr = late_server(sleeper(Arc::default()), &base, Duration::from_millis(100), &reports).await;
    let target = format!("/?{}", signed_query(TOKEN));
    assert_eq!(request(addr, "POST", &target, &text_delivery(8, "sleep 200")).await.body, "");
    let reports = reports.wait_for(1, Duration::from_secs(5)).await;
    let LateOutcome::Failed(error) = &reports[0].outcome else { panic!("{reports:?}") };
    assert_eq!(error.kind(), ApiErrorKind::Network, "{error}");
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(platform.with(|r| r.refused), 3, "the token asked for once, then retried twice");

    // Nothing listening: a port that was free a moment ago.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let reports = Reports::default();
    let addr = late_server(sleeper(Arc::default()), &base, Duration::from_millis(100), &reports).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let start = Instant::now();
    for i in 0..10 {
        assert_eq!(request(addr, "POST", &target, &text_delivery(100 + i, "sleep 200")).await.body, "");
    }
    let reports = reports.wait_for(10, Duration::from_secs(5)).await;
    for report in &reports {
        let LateOutcome::Failed(error) = &report.outcome else { panic!("{reports:?}") };
        assert_eq!(error.kind(), ApiErrorKind::Network, "{error}");
    }
    // 1 + 2 retries, 20 ms and 40 ms apart, for the token, shared by all ten.
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    let deadline = Instant::now() + Duration::from_secs(2);
    while metrics.num_alive_tasks() > before && Instant::now() < deadline {
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.num_alive_tasks(), before, "every task the late replies started has ended");
}

/// A handler within the budget: answered passively, nothing sent, no token fetched.
#[tokio::test]
async fn a_fast_handler_sends_nothing() {
    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let reports = Reports::default();
    let addr = late_server(sleeper(Arc::default()), &base, DEFAULT_BUDGET, &reports).await;
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(9, "sleep 10")).await;
    assert!(answered.body.contains("<Content><![CDATA[done: sleep 10]]></Content>"), "{}", answered.body);
    sleep(Duration::from_millis(300)).await;
    assert_eq!((platform.sends().len(), platform.token_requests()), (0, 0));
    assert!(reports.0.lock().unwrap().is_empty());
}

/// What can't be sent is reported, not sent: a handler past its limit, one that panics, one that
/// answers with a transfer to a human agent (no customer-service form), one that answers empty.
#[tokio::test]
async fn late_replies_that_are_not_sent() {
    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let reports = Reports::default();
    let handler = |msg: Incoming<'static>| async move {
        let Message::Text { content, .. } = msg.message() else { panic!("a text") };
        sleep(Duration::from_millis(200)).await;
        match content {
            "slow" => {
                sleep(Duration::from_secs(5)).await;
                Empty.boxed()
            }
            "panic" => panic!("the handler's bug"),
            "transfer" => TransferCustomerService::new("oUser", "gh_account").boxed(),
            _ => Empty.boxed(),
        }
    };
    let app = Endpoint::new(TOKEN, handler)
        .budget(Duration::from_millis(100))
        .late_replies(reports.late_replies(client(&base)).limit(Duration::from_secs(1)));
    let addr = serve(app.into_router()).await;
    let target = format!("/?{}", signed_query(TOKEN));
    // The panic last: printing its backtrace can hold up this test's one thread past another
    // delivery's budget.
    for (i, content) in ["slow", "transfer", "empty", "panic"].into_iter().enumerate() {
        let answered = request(addr, "POST", &target, &text_delivery(200 + i as u64, content)).await;
        assert_eq!(answered.body, "", "{content}");
    }
    let mut reports = reports.wait_for(4, Duration::from_secs(3)).await;
    reports.sort_by_key(|r| format!("{:?}", r.key));
    let outcomes: Vec<String> = reports.iter().map(|r| format!("{:?}", r.outcome)).collect();
    assert_eq!(outcomes[0], "TimedOut");
    assert!(reports[0].elapsed >= Duration::from_secs(1), "{:?}", reports[0].elapsed);
    let LateOutcome::Failed(error) = &reports[1].outcome else { panic!("{outcomes:?}") };
    assert_eq!(error.kind(), ApiErrorKind::NotSendable);
    assert_eq!(outcomes[2], "Empty");
    assert_eq!(outcomes[3], "Panicked");
    assert_eq!((platform.sends().len(), platform.token_requests()), (0, 0));
}

/// A token is replaced ahead of its expiry (here: tokens of 4 s, replaced in the last 2 s of
/// their life, the default 5 minutes being more than half of it), while it still works: the send
/// that finds it due uses the new one, and nothing is ever sent with an expired token.
#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry() {
    let platform = ApiDouble::default();
    platform.with(|r| r.expires_in = 4);
    let base = platform.serve().await;
    let client = client(&base);
    let text = Text::new("oUser", "gh", "hi");
    client.send(&text).await.unwrap();
    sleep(Duration::from_millis(1000)).await;
    client.send(&text).await.unwrap();
    assert_eq!(platform.token_requests(), 1, "fresh for the first half of its life");
    sleep(Duration::from_millis(1200)).await;
    client.send(&text).await.unwrap();
    assert_eq!(platform.token_requests(), 2, "due: replaced before it expired");
    let tokens: Vec<String> = platform.sends().into_iter().map(|s| s.token).collect();
    assert_eq!(tokens, ["TOKEN-1", "TOKEN-1", "TOKEN-2"]);
}

/// Stable-token mode: the token comes from `POST /cgi-bin/stable_token` without forcing a refresh.
#[tokio::test]
async fn stable_tokens() {
    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let stable = Client::builder(APP_ID, SECRET).api_base(&base).stable_token(true).build().unwrap();
    stable.send(&Text::new("oUser", "gh", "hi")).await.unwrap();
    let (request, _) = platform.with(|r| r.token_requests[0].clone());
    let request: serde_json::Value = serde_json::from_str(&request).unwrap();
    assert_eq!(
        request,
        json!({"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET, "force_refresh": false})
    );
    // A wrong secret: the platform's error, as a token error.
    let wrong = Client::builder(APP_ID, "wrong").api_base(&base).build().unwrap();
    let error = wrong.send(&Text::new("oUser", "gh", "hi")).await.unwrap_err();
    assert_eq!((error.kind(), error.code()), (ApiErrorKind::Token, Some(40125)));
}

#[path = "../examples/echo_server.rs"]
#[allow(dead_code)]
mod echo_server;

/// The example's handler: `sleep 1` past a 100 ms budget reaches the user through the API, as
/// the example's text it echoes.
#[tokio::test]
async fn the_echo_example_answers_sleep_late() {
    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let reports = Reports::default();
    let addr = late_server(echo_server::answer(), &base, Duration::from_millis(100), &reports).await;
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(300, "sleep 1")).await;
    assert_eq!(answered.body, "");
    let reports = reports.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(reports[0].outcome, LateOutcome::Sent);
    assert!(reports[0].elapsed >= Duration::from_secs(1));
    let sends = platform.sends();
    assert_eq!(sends[0].body, json!({"touser": "oUser", "msgtype": "text", "text": {"content": "sleep 1"}}));
}

/// An `https://` base speaks TLS (rustls): the first byte the "platform" gets is a TLS handshake
/// record (0x16), and a peer that isn't TLS is a network error, retried like a failed connection.
#[tokio::test]
async fn https_bases_speak_tls() {
    use tokio::io::AsyncReadExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let first_bytes = tokio::spawn(async move {
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.unwrap();
            firsts.push(byte[0]);
            // Not TLS: a plain HTTP answer, then gone.
            use tokio::io::AsyncWriteExt;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        }
        firsts
    });
    let error = client(&base).send(&Text::new("oUser", "gh", "hi")).await.unwrap_err();
    assert_eq!(error.kind(), ApiErrorKind::Network, "{error}");
    assert_eq!(first_bytes.await.unwrap(), [0x16; 3], "three tries, each a TLS handshake");
}

/// Safe mode: an encrypted delivery past the budget gets the empty body (not an envelope), and its
/// reply goes out late as plain JSON, which is what the customer-service API takes.
#[tokio::test]
async fn encrypted_deliveries_are_answered_late_too() {
    use passive_reply::crypto::MessageCrypto;

    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let reports = Reports::default();
    let crypto = MessageCrypto::new(TOKEN, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", APP_ID).unwrap();
    let app = Endpoint::new(TOKEN, sleeper(Arc::default()))
        .crypto(crypto.clone())
        .budget(Duration::from_millis(100))
        .late_replies(reports.late_replies(client(&base)));
    let addr = serve(app.into_router()).await;
    let (target, body) = common::http::encrypted_delivery(&crypto, &text_delivery(400, "sleep 300"), false);
    let answered = request(addr, "POST", &target, &body).await;
    assert_eq!((answered.status, answered.body.as_str()), (200, ""));
    let reports = reports.wait_for(1, Duration::from_secs(3)).await;
    assert_eq!(reports[0].outcome, LateOutcome::Sent);
    assert_eq!(platform.sends()[0].body, expected_body("sleep 300"));
}
