//! Stopping at a deploy with the retry guard on Redis: SIGTERM to this very process (a test
//! binary of its own, so that the signal reaches nothing else) right after a delivery was
//! answered while Redis's writes were paused, its reply's `SET` still queued (the guard's
//! response doesn't wait for it). `serve_until_signal` returns only once Redis has the reply.
//!
//! Needs `redis-server`, as `tests/redis.rs` does.

use std::time::{Duration, Instant};

use passive_reply::Incoming;
use passive_reply::endpoint::Endpoint;
use passive_reply::serve::{RedisOptions, RedisStore, RetryGuard};
use passive_reply::server::Server;
use tokio::net::TcpListener;

mod common;

use common::http::{TOKEN, request, signed_query, text_delivery};
use common::redis_server::{RedisServer, pause_writes};

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_waits_until_redis_has_the_replies_answered() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let store = RedisStore::new(client.clone(), RedisOptions::new().timeout(Duration::from_secs(5))).await.unwrap();
    let inspect = client.get_multiplexed_async_connection().await.unwrap();
    let pause = Duration::from_millis(1_500);
    // The handler runs after the claim: it pauses Redis's writes, so its reply's `SET` waits.
    let handler = {
        let inspect = inspect.clone();
        move |msg: Incoming<'static>| {
            let mut inspect = inspect.clone();
            async move {
                pause_writes(&mut inspect, pause).await;
                msg.reply_text("made").into_owned()
            }
        }
    };
    let endpoint = Endpoint::new(TOKEN, handler).retry_guard(RetryGuard::with_store(store));
    let listening = Server::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = listening.local_addr().unwrap();
    let serving = tokio::spawn(listening.serve_until_signal(endpoint.into_service()));

    let body = text_delivery(1, "hello");
    let started = Instant::now();
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &body).await;
    assert_eq!(answered.status, 200);
    assert!(answered.body.contains("made"), "{}", answered.body);
    assert!(started.elapsed() < pause / 3, "answered after {:?}", started.elapsed());
    let pid = std::process::id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let stopped = tokio::time::timeout(Duration::from_secs(10), serving).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() >= pause, "stopped after {:?}, before Redis had the reply", started.elapsed());
    assert!(!stopped.forced);
    let key = Incoming::parse(&body).unwrap().dedup_key();
    let redis_key = [b"passive-reply:".as_slice(), key.as_bytes()].concat();
    let mut inspect = inspect;
    let held: Vec<u8> = redis::cmd("GET").arg(redis_key).query_async(&mut inspect).await.unwrap();
    assert_eq!(held, [b"D".as_slice(), answered.body.as_bytes()].concat());
}
