//! Late replies that survive their instance: two instances on a real Redis (`redis-server`,
//! started by the test), each with its own tokio runtime, its own server on loopback and its own
//! API client to the platform double. Instance A takes deliveries late and is killed mid-handler
//! (its runtime shut down at once: its tasks dropped, its sockets closed, its leases no longer
//! renewed, as a SIGKILL leaves them); instance B takes each over once A's lease lapses, runs its
//! handler on the recorded delivery, and sends: one send per delivery in all.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use passive_reply::client::Client;
use passive_reply::endpoint::Endpoint;
use passive_reply::serve::{LateReplies, LateTasks, RedisStore, RetryGuard};
use passive_reply::server::Server;
use passive_reply::{Incoming, Text};
use tokio::net::TcpListener;

mod common;

use common::http::{TOKEN, request, signed_query, text_delivery};
use common::redis_server::RedisServer;
use passive_reply_test::api::{APP_ID, ApiDouble, SECRET};

/// The lease: short, so that a dead instance's deliveries are taken over soon.
const LEASE: Duration = Duration::from_millis(300);

/// `slow N …`: answered after N milliseconds (all past the 100 ms budget: late).
async fn slow(msg: Incoming<'static>) -> Text<'static> {
    let content = msg.field("Content").unwrap_or_default().to_owned();
    let millis = content.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(millis)).await;
    msg.reply_text(format!("done: {content}")).into_owned()
}

/// An instance: a runtime of its own, serving on loopback.
struct Instance {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

impl Instance {
    /// Started from a thread of its own (the test's runtime can't block on another).
    fn start(redis: &str, api: &str) -> Instance {
        let (redis, api) = (redis.to_owned(), api.to_owned());
        std::thread::spawn(move || Instance::start_here(&redis, &api)).join().unwrap()
    }

    fn start_here(redis: &str, api: &str) -> Instance {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (redis, api) = (redis.to_owned(), api.to_owned());
        let addr = runtime.block_on(async move {
            let store = RedisStore::connect(&redis).await.expect("connects to the test's redis-server");
            let client = Client::builder(APP_ID, SECRET).api_base(api).build().unwrap();
            let late = LateReplies::new(client).tasks(LateTasks::new()).durable(store.clone()).lease(LEASE);
            let endpoint = Endpoint::new(TOKEN, slow)
                .budget(Duration::from_millis(100))
                .retry_guard(RetryGuard::with_store(store))
                .late_replies(late);
            let server = Server::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let addr = server.local_addr().unwrap();
            tokio::spawn(server.serve(endpoint.into_service()));
            addr
        });
        Instance { runtime, addr }
    }

    /// As a SIGKILL: every task of the instance dropped now.
    fn kill(self) {
        self.runtime.shutdown_background();
    }
}

/// The contents the platform took (a send refused for a stale token, and made again with a new
/// one, is one send), and how many times each.
fn sent(platform: &ApiDouble) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for send in platform.sends().into_iter().filter(|send| send.accepted) {
        *counts.entry(send.body["text"]["content"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    counts
}

async fn wait_for(platform: &ApiDouble, sends: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while platform.sends().len() < sends {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} sends of {sends} within {within:?}",
            platform.sends().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deliver(addr: SocketAddr, msg_id: u64, content: &str) {
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(msg_id, content)).await;
    assert_eq!((answered.status, answered.body.as_str()), (200, ""), "late: the empty reply now");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_reply_outlives_its_instance_and_is_sent_once() {
    let redis = RedisServer::start();
    let platform = ApiDouble::default();
    let api = platform.serve().await;
    let b = Instance::start(&redis.url(), &api);

    // A takes a delivery late, and is killed 300 ms into its 1-second handler: B sends it.
    let a = Instance::start(&redis.url(), &api);
    deliver(a.addr, 1, "slow 1000").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    wait_for(&platform, 1, Duration::from_secs(5)).await;
    assert_eq!(sent(&platform), HashMap::from([("done: slow 1000".to_owned(), 1)]));

    // A alive, its handler five leases long: it keeps its lease, B never takes it over, one send.
    let a = Instance::start(&redis.url(), &api);
    deliver(a.addr, 2, "slow 1500").await;
    wait_for(&platform, 2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sent(&platform).get("done: slow 1500"), Some(&1));
    a.kill();

    // 100 deliveries, A killed at a random point of each handler (they run 500 to 1,500 ms; A dies
    // 100 to 450 ms after the last was answered): 100 sends, none twice.
    let a = Instance::start(&redis.url(), &api);
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::from(std::process::id());
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    // (Each content names its delivery, so that each send is told apart.)
    let deliveries: Vec<(u64, String)> =
        (0..100).map(|i| (100 + i, format!("slow {} #{}", 500 + next(1000), 100 + i))).collect();
    let sends: Vec<_> = deliveries.iter().map(|(id, content)| deliver(a.addr, *id, content)).collect();
    for send in sends {
        send.await;
    }
    tokio::time::sleep(Duration::from_millis(100 + next(350))).await;
    a.kill();
    wait_for(&platform, 102, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let counts = sent(&platform);
    assert_eq!(counts.values().sum::<usize>(), 102, "no send twice: {counts:?}");
    for (_, content) in &deliveries {
        assert_eq!(counts.get(&format!("done: {content}")), Some(&1), "{content}");
    }
    b.kill();
}
