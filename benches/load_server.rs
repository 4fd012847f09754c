//! The servers `benches/load.sh` compares under load, one per run:
//!
//! - `bare`: an axum handler that answers every POST with fixed bytes (the floor);
//! - `hand`: a careful hand-written axum handler: the signature checked, the body read with
//!   quick-xml's serde, the text reply written with `format!` (no retry guard, no deadline);
//! - `memory`: `Endpoint` with a `MemoryStore` (a 1 GiB budget, so it stays below it);
//!   `memory-default`: with the default one (64 MiB), which a long run fills; `GET /counts` tells
//!   how many deliveries its handler ran, and the guard's counts (`unguarded_full`);
//! - `nostore`: `Endpoint` with a store that remembers nothing (every claim runs the handler): not
//!   a configuration to serve with (retries run the handler again), a floor, for the store's
//!   share of `memory`'s cost (`bash benches/load-ab.sh nostore:memory 4 8 BIN BIN`);
//! - `redis`: `Endpoint` with a `RedisStore` on `--redis URL` (`redis-poll`: waking waiters by
//!   polling every 10 ms instead of pub/sub).
//!
//! `bare` and `hand` are served by `axum::serve`; the endpoint's modes by the crate's own server
//! (`passive_reply::server::Server`, as the examples serve), or by `axum::serve` too with
//! `LOAD_SERVER=axum` in the environment.
//!
//! Each answers a text message with a text reply. `GET /allocations` tells how many allocations
//! the process has made so far (a counting allocator), so the script can divide by requests.
//!
//! `cargo run --release -p passive-reply-benches --bin load_server -- MODE ADDR [--redis URL]`
//! (one tokio worker: pin it to a core with `taskset`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::routing::{get, post};
use passive_reply::axum::Endpoint;
use passive_reply::serve::{
    Claim, DEFAULT_RETRY_WINDOW, MemoryStore, RedisOptions, RedisStore, ReplyStore, RetryGuard, StoreError, Wake,
};
use passive_reply::{DedupKey, Incoming, Message, Text};
use sha1::{Digest, Sha1};

const TOKEN: &str = "load-token";

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to `System` unchanged; the counter is a static atomic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

async fn allocations() -> String {
    ALLOCATIONS.load(Ordering::Relaxed).to_string()
}

async fn answer(msg: Incoming<'static>) -> Text<'static> {
    let content = match msg.message() {
        Message::Text { content, .. } => content.to_owned(),
        _ => String::new(),
    };
    msg.into_reply_text(content)
}

/// How many deliveries `counted` handled.
static HANDLED: AtomicU64 = AtomicU64::new(0);

async fn counted(msg: Incoming<'static>) -> Text<'static> {
    HANDLED.fetch_add(1, Ordering::Relaxed);
    answer(msg).await
}

async fn bare() -> &'static str {
    "<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName>\
     <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content></xml>"
}

/// `bare`, after spinning in user space for `BARE_SPIN_US` microseconds (default 3): a server as
/// slow as the endpoint that makes no more system calls than bare, to tell what the kernel's
/// part of a delivery owes to the server's own speed under this load (BENCHMARKS.md, "The
/// handler's reply made of the message").
async fn bare_spin() -> &'static str {
    static SPIN: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    let spin = *SPIN.get_or_init(|| {
        let us = std::env::var("BARE_SPIN_US").ok().and_then(|us| us.parse().ok()).unwrap_or(3);
        std::time::Duration::from_micros(us)
    });
    let until = std::time::Instant::now() + spin;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
    bare().await
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
struct Delivery {
    to_user_name: String,
    from_user_name: String,
    create_time: u64,
    msg_type: String,
    content: Option<String>,
    msg_id: Option<u64>,
}

/// What a careful hand-written server does: check the signature, parse with serde, `format!`.
async fn hand(RawQuery(query): RawQuery, body: Bytes) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    let query = query.unwrap_or_default();
    let param =
        |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')));
    let (Some(signature), Some(timestamp), Some(nonce)) = (param("signature"), param("timestamp"), param("nonce"))
    else {
        return (StatusCode::FORBIDDEN, String::new());
    };
    let mut parts = [TOKEN, timestamp, nonce];
    parts.sort_unstable();
    let digest = Sha1::digest(parts.concat().as_bytes());
    let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if expected != signature.to_ascii_lowercase() {
        return (StatusCode::FORBIDDEN, String::new());
    }
    let Ok(text) = std::str::from_utf8(&body) else { return (StatusCode::BAD_REQUEST, String::new()) };
    let Ok(delivery) = quick_xml::de::from_str::<Delivery>(text) else {
        return (StatusCode::BAD_REQUEST, String::new());
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let reply = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{}]]></Content></xml>",
        delivery.from_user_name,
        delivery.to_user_name,
        delivery.content.unwrap_or_default()
    );
    (StatusCode::OK, reply)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(addr)) = (args.first(), args.get(1)) else {
        return Err(
            "usage: load_server bare|bare-spin|hand|nostore|memory|memory-default|redis|redis-poll ADDR [--redis URL]"
                .into(),
        );
    };
    let redis_url = args.iter().position(|a| a == "--redis").and_then(|i| args.get(i + 1)).cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let app: Router = match mode.as_str() {
            "bare" => Router::new().route("/", post(bare)),
            "bare-spin" => Router::new().route("/", post(bare_spin)),
            "hand" => Router::new().route("/", post(hand)),
            // The floor under `memory`: the same endpoint, nothing remembered.
            "nostore" => Endpoint::new(TOKEN, answer).retry_guard(RetryGuard::with_store(NoStore)).into_router(),
            // Kept below its budget for the run, as the comparison asks: 1 GiB holds about 2 million
            // remembered deliveries.
            "memory" => {
                let store = MemoryStore::with_budget(DEFAULT_RETRY_WINDOW, 1 << 30);
                Endpoint::new(TOKEN, answer).retry_guard(RetryGuard::with_store(store)).into_router()
            }
            // The default store (64 MiB), as an operator would run it: `benches/load.sh` doesn't
            // run it; `benches/load/unanswered.lua` counts who got no answer.
            "memory-default" => {
                let guard = RetryGuard::new();
                let counts = guard.clone();
                Endpoint::new(TOKEN, counted).retry_guard(guard).into_router().route(
                    "/counts",
                    get(move || async move { format!("{:?}\n", (HANDLED.load(Ordering::Relaxed), counts.counts())) }),
                )
            }
            "redis" | "redis-poll" => {
                let url = redis_url.ok_or("redis needs --redis URL")?;
                let store = if mode == "redis" {
                    RedisStore::connect(&url).await?
                } else {
                    let options = RedisOptions::new().wake(Wake::Poll(std::time::Duration::from_millis(10)));
                    RedisStore::new(redis::Client::open(url.as_str())?, options).await?
                };
                Endpoint::new(TOKEN, answer).retry_guard(RetryGuard::with_store(store)).into_router()
            }
            other => return Err(format!("unknown server {other}").into()),
        };
        let app = app.route("/allocations", get(allocations));
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
        let baseline = matches!(mode.as_str(), "bare" | "bare-spin" | "hand");
        if baseline || std::env::var("LOAD_SERVER").as_deref() == Ok("axum") {
            eprintln!("{mode} listening on {} (axum::serve)", listener.local_addr()?);
            axum::serve(listener, app).await?;
        } else {
            eprintln!("{mode} listening on {} (server::Server)", listener.local_addr()?);
            passive_reply::server::Server::new(listener).serve(app).await?;
        }
        Ok(())
    })
}

/// The store of `nostore`: remembers nothing, so every delivery, retries too, runs the handler.
struct NoStore;

impl ReplyStore for NoStore {
    async fn claim(&self, _: &DedupKey) -> Claim {
        Claim::Run
    }

    async fn complete(&self, _: &DedupKey, _: Bytes) -> Result<(), StoreError> {
        Ok(())
    }

    async fn wait(&self, _: &DedupKey) -> Claim {
        Claim::Run
    }
}
