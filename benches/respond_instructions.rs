//! The delivery path in process, for instruction counts: `Endpoint::respond` on N plaintext
//! deliveries (distinct MsgIds, a MemoryStore), no socket. Per delivery, run it twice under
//! callgrind and divide the difference by the difference of N:
//!
//! `valgrind --tool=callgrind target/release/respond_instructions 1000` (and 3000).
//!
//! With `--redis URL` after N, the store is a `RedisStore` on that Redis instead (one delivery at
//! a time, so each of its batches holds one delivery's command: the client's whole cost per
//! command, which concurrent deliveries share under load).
//!
//! With `RESPOND_THROUGH=service` in the environment, each delivery goes through the endpoint's
//! tower service (`Endpoint::into_service`, an `http::Request` with its body), as a server calls
//! it, instead of `Endpoint::respond`; the size of the future it boxes for each request is printed
//! first.
//!
//! With `RESPOND_WINDOW_MS=W`, the `MemoryStore`'s window is W milliseconds instead of 30 s: with 0,
//! each claim forgets the replies before it, so the store stays at one delivery (a store at its
//! window, as a server's is after its first 30 s, instead of one that grows for the whole run).
use std::time::Duration;

use passive_reply::endpoint::Endpoint;
use passive_reply::endpoint::signature_of;
use passive_reply::serve::{MemoryStore, RedisStore, ReplyStore, RetryGuard};
use passive_reply::{Incoming, Text};

/// The handler: a text reply made of the message it consumes (its addresses moved, not copied).
async fn answer(msg: Incoming<'static>) -> Text<'static> {
    msg.into_reply_text("ok")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let redis = match args.get(2).map(String::as_str) {
        Some("--redis") => Some(args.get(3).expect("--redis needs a URL").clone()),
        Some(other) => panic!("unknown argument {other:?}"),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let endpoint = Endpoint::new("t", answer).budget(Duration::from_secs(4));
        match redis {
            // Keys stay in Redis for the window: each run's MsgIds start where no other's do.
            Some(url) => {
                let store = RedisStore::connect(&url).await.unwrap();
                deliver(endpoint.retry_guard(RetryGuard::with_store(store)), passive_reply::now() * 1_000_000, n).await
            }
            None => {
                let window =
                    std::env::var("RESPOND_WINDOW_MS").map_or(30_000, |ms| ms.parse().expect("RESPOND_WINDOW_MS"));
                let store = MemoryStore::with_budget(Duration::from_millis(window), 1 << 30);
                // MsgIds of the platform's length (its page's example is 1234567890123456).
                deliver(endpoint.retry_guard(RetryGuard::with_store(store)), 1_234_567_890_123_456, n).await
            }
        }
    });
}

/// `n` deliveries through `endpoint`, one after the other, MsgIds from `first`.
async fn deliver<H, Fut, S>(endpoint: Endpoint<H, S>, first: u64, n: u64)
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Text<'static>> + Send + 'static,
    S: ReplyStore,
{
    let timestamp = passive_reply::now().to_string();
    let query = format!("signature={}&timestamp={timestamp}&nonce=1", signature_of("t", &timestamp, "1"));
    let method = axum::http::Method::POST;
    let body = |i| {
        format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
             <MsgType>text</MsgType><Content>hi</Content><MsgId>{i}</MsgId></xml>"
        )
    };
    if std::env::var("RESPOND_THROUGH").as_deref() == Ok("service") {
        let mut service = endpoint.into_service();
        let uri = format!("/?{query}");
        for i in first..first + n {
            let request = axum::http::Request::post(&uri).body(axum::body::Body::from(body(i))).unwrap();
            let future = tower_service::Service::call(&mut service, request);
            if i == first {
                eprintln!("the service's future: {} bytes", std::mem::size_of_val(&*future));
            }
            let response = future.await.unwrap();
            assert_eq!(response.status(), axum::http::StatusCode::OK);
        }
        return;
    }
    for i in first..first + n {
        let answer = endpoint.respond(&method, Some(&query), axum::body::Bytes::from(body(i))).await;
        assert_eq!(answer.status(), axum::http::StatusCode::OK);
    }
}
