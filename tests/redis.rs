//! Several instances behind one URL, sharing a real Redis (`redis-server`, started by each test
//! on a free loopback port): each delivery handled once wherever its copies land, an instance
//! killed mid-handler, Redis stopped and slow, and what the store keeps.
//!
//! Needs `redis-server` on the PATH (Debian's package; `.ci/run` installs it), or its path in
//! `REDIS_SERVER`: without it these tests fail and say so.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passive_reply::axum::Endpoint;
use passive_reply::serve::{
    Claim, DEFAULT_PAUSE_AFTER_FAILURE, OnStoreError, RedisOptions, RedisStore, ReplyStore, RetryGuard, Wake,
};
use passive_reply::{DedupKey, Incoming, Text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::http::{TOKEN, request, serve, signed_query, text_delivery};
use common::redis_server::{RedisServer, pause_writes};

/// Which deliveries each instance's handler ran, by MsgId.
#[derive(Clone, Default)]
struct Runs(Arc<Mutex<HashMap<u64, Vec<&'static str>>>>);

impl Runs {
    fn record(&self, msg: &Incoming, instance: &'static str) {
        self.0.lock().unwrap().entry(msg.msg_id().unwrap()).or_default().push(instance);
    }

    fn of(&self, msg_id: u64) -> usize {
        self.0.lock().unwrap().get(&msg_id).map_or(0, Vec::len)
    }
}

/// The store's options for a test that is not about its timeout: the default 250 ms is a long
/// time for Redis on loopback, but not for a CI machine of two cores running these tests side by
/// side, where a claim that times out answers its delivery empty and fails a test about something
/// else. The tests of Redis stopped, paused and failing keep the default.
fn loaded() -> RedisOptions {
    RedisOptions::new().timeout(Duration::from_secs(5))
}

async fn store(server: &RedisServer, options: RedisOptions) -> RedisStore {
    let client = redis::Client::open(server.url()).unwrap();
    RedisStore::new(client, options).await.expect("connects to the test's redis-server")
}

/// An instance: an endpoint on its own store (its own connections) over the shared Redis, whose
/// handler records its runs and answers with its name, after `delay`.
async fn instance(
    name: &'static str,
    store: RedisStore,
    runs: &Runs,
    delay: Duration,
    on_error: OnStoreError,
) -> (SocketAddr, RetryGuard<RedisStore>) {
    let runs = runs.clone();
    let handler = move |msg: Incoming<'static>| {
        let runs = runs.clone();
        async move {
            runs.record(&msg, name);
            tokio::time::sleep(delay).await;
            let answer = format!("{name} answered {}", msg.msg_id().unwrap());
            Text::new(msg.from_user_name(), msg.to_user_name(), answer).with_create_time(1).into_owned()
        }
    };
    let guard = RetryGuard::with_store(store).on_store_error(on_error);
    let app = Endpoint::new(TOKEN, handler).budget(Duration::from_secs(2)).retry_guard(guard.clone()).into_router();
    (serve(app).await, guard)
}

fn percentile(mut values: Vec<Duration>, p: f64) -> Duration {
    values.sort();
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// 1,000 deliveries, each sent three times at once, the copies spread over two instances: every
/// handler runs once in all, and the three copies get the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_handle_each_delivery_once_wherever_its_copies_land() {
    let server = RedisServer::start();
    let runs = Runs::default();
    // A handler that takes a few milliseconds, so copies arrive while it runs.
    let delay = Duration::from_millis(5);
    let a = instance("A", store(&server, loaded()).await, &runs, delay, OnStoreError::default()).await;
    let b = instance("B", store(&server, loaded()).await, &runs, delay, OnStoreError::default()).await;
    let (a, b) = (a.0, b.0);
    let target = Arc::new(format!("/?{}", signed_query(TOKEN)));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(48));
    let started = Instant::now();
    let mut copies = Vec::new();
    for id in 0..1000u64 {
        let body = Arc::new(text_delivery(id, "hi"));
        for copy in 0..3u64 {
            let (target, body, in_flight) = (target.clone(), body.clone(), in_flight.clone());
            // Copies alternate between the instances, starting on either.
            let (addr, name) = if (id + copy) % 2 == 0 { (a, "A") } else { (b, "B") };
            copies.push(tokio::spawn(async move {
                let _permit = in_flight.acquire().await.unwrap();
                let sent = Instant::now();
                let response = request(addr, "POST", &target, &body).await;
                (id, name, response.status, response.body, sent.elapsed())
            }));
        }
    }
    let mut bodies: HashMap<u64, Vec<String>> = HashMap::new();
    let mut other_instance = Vec::new();
    for copy in copies {
        let (id, name, status, body, took) = copy.await.unwrap();
        assert_eq!(status, 200);
        // A copy answered by the instance that didn't run the handler: the cross-instance path.
        if !body.contains(&format!("{name} answered")) {
            other_instance.push(took);
        }
        bodies.entry(id).or_default().push(body);
    }
    let wall = started.elapsed();
    for id in 0..1000 {
        assert_eq!(runs.of(id), 1, "delivery {id} was handled {} times", runs.of(id));
        let copies = &bodies[&id];
        assert!(copies[0].contains(&format!(" answered {id}]]>")), "{copies:?}");
        assert!(copies.iter().all(|body| body == &copies[0]), "copies of {id} got different bytes: {copies:?}");
    }
    eprintln!(
        "3,000 copies of 1,000 deliveries over two instances: {wall:?}; {} answered by the other instance, p50 {:?}, p99 {:?} (the handler takes {delay:?})",
        other_instance.len(),
        percentile(other_instance.clone(), 0.5),
        percentile(other_instance, 0.99),
    );
}

/// How long a retry that lands on the other instance, while the handler runs there, waits after
/// the reply is made, for each way of waking it: pub/sub, and polling every 10 and 50 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_the_other_instance_is_woken_by_the_reply() {
    let server = RedisServer::start();
    let handler_time = Duration::from_millis(30);
    let mut report = Vec::new();
    for (what, wake) in [
        ("pub/sub", Wake::default()),
        ("poll 10 ms", Wake::Poll(Duration::from_millis(10))),
        ("poll 50 ms", Wake::Poll(Duration::from_millis(50))),
    ] {
        let options = || loaded().prefix(format!("wake-{what}:")).wake(wake);
        let owner = RetryGuard::with_store(store(&server, options()).await);
        let other = RetryGuard::with_store(store(&server, options()).await);
        let mut after_reply = Vec::new();
        for n in 0..200 {
            let key = DedupKey::new("gh", &n.to_string());
            let made = Arc::new(Mutex::new(None));
            let first = {
                let (owner, key, made) = (owner.clone(), key.clone(), made.clone());
                tokio::spawn(async move {
                    owner
                        .answer(key, move || async move {
                            tokio::time::sleep(handler_time).await;
                            *made.lock().unwrap() = Some(Instant::now());
                            Text::new("u", "gh", "made once").with_create_time(1)
                        })
                        .await
                })
            };
            tokio::time::sleep(handler_time / 3).await;
            let retry = other.answer(key, || async { Text::new("u", "gh", "made twice").with_create_time(1) }).await;
            let answered = Instant::now();
            assert_eq!(retry, first.await.unwrap(), "the retry gets the first reply");
            let made = made.lock().unwrap().expect("the handler ran (a claim that failed answers both empty)");
            after_reply.push(answered - made);
        }
        report.push(format!(
            "{what}: p50 {:?}, p99 {:?}",
            percentile(after_reply.clone(), 0.5),
            percentile(after_reply.clone(), 0.99)
        ));
        // Whatever the mode, the retry is answered well inside a try.
        assert!(percentile(after_reply, 0.99) < Duration::from_secs(1));
    }
    eprintln!("a retry on the other instance, answered after the reply was made: {}", report.join("; "));
}

/// The child process of `a_killed_instance_s_delivery_is_answered_by_the_other`: an instance
/// that serves until it is killed. Run only as that child.
#[tokio::test]
#[ignore = "the child process of a_killed_instance_s_delivery_is_answered_by_the_other"]
async fn instance_process() {
    let Ok(url) = std::env::var("PASSIVE_REPLY_TEST_REDIS") else { return };
    let options = loaded().lease(Duration::from_secs(2));
    let store = RedisStore::new(redis::Client::open(url.as_str()).unwrap(), options).await.unwrap();
    let counter = redis::Client::open(url.as_str()).unwrap();
    let handler = move |msg: Incoming<'static>| {
        let counter = counter.clone();
        async move {
            // Counted in Redis, where the parent reads it; then a long piece of work.
            let mut connection = counter.get_multiplexed_async_connection().await.unwrap();
            let _: u64 = redis::cmd("INCR").arg("runs").query_async(&mut connection).await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            msg.reply_text("never").into_owned()
        }
    };
    let app = Endpoint::new(TOKEN, handler).budget(Duration::from_secs(60)).retry_guard(RetryGuard::with_store(store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    axum::serve(listener, app.into_router()).await.unwrap();
}

/// An instance (a process of its own) killed while its handler runs: the retry on the other
/// instance waits out the dead claim's lease, runs the handler and answers. The handler ran twice
/// in all, once in each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_delivery_is_answered_by_the_other() {
    use std::io::BufRead;

    let server = RedisServer::start();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["instance_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("PASSIVE_REPLY_TEST_REDIS", server.url())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let doomed: SocketAddr = loop {
        let line = lines.next().expect("the child says where it listens").unwrap();
        // After libtest's "test instance_process ... ", on the same line.
        if let Some((_, addr)) = line.split_once("listening on ") {
            break addr.trim().parse().unwrap();
        }
    };
    let counter = redis::Client::open(server.url()).unwrap();
    let mut counter = counter.get_multiplexed_async_connection().await.unwrap();
    let target = format!("/?{}", signed_query(TOKEN));
    let body = text_delivery(7, "slow");
    // The first try, on the instance about to die: sent, never answered.
    let mut first = tokio::net::TcpStream::connect(doomed).await.unwrap();
    let head = format!("POST {target} HTTP/1.1\r\nHost: {doomed}\r\nContent-Length: {}\r\n\r\n", body.len());
    first.write_all(format!("{head}{body}").as_bytes()).await.unwrap();
    // Its handler has started: kill the process.
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("GET").arg("runs").query_async::<Option<u64>>(&mut counter).await.unwrap() != Some(1) {
        assert!(Instant::now() < deadline, "the child's handler never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let mut answer = Vec::new();
    let _ = first.read_to_end(&mut answer).await;
    assert!(answer.is_empty(), "the killed instance never answers");

    // The platform's retry, on the other instance, which counts its runs in the same place.
    let runs = Runs::default();
    let options = loaded().lease(Duration::from_secs(2));
    let (survivor, _) =
        instance("B", store(&server, options).await, &runs, Duration::ZERO, OnStoreError::default()).await;
    let retry = request(survivor, "POST", &target, &body).await;
    let waited = killed.elapsed();
    assert_eq!(retry.status, 200);
    assert!(retry.body.contains("B answered 7"), "{}", retry.body);
    assert_eq!(runs.of(7), 1);
    let in_all = 1 + runs.of(7);
    assert_eq!(in_all, 2, "once in the killed instance, once in the survivor");
    // The dead claim held for its 2 s lease from when it was made, then no longer.
    assert!(waited < Duration::from_secs(3), "answered {waited:?} after the kill");
    // Later retries get that answer, without a third run.
    let again = request(survivor, "POST", &target, &body).await;
    assert_eq!((again.body, runs.of(7)), (retry.body, 1));
    eprintln!("killed instance: the retry on the survivor was answered {waited:?} after the kill");
}

/// Redis stopped in the middle of a run of deliveries, then started again: every delivery is
/// answered, none with a 5xx, none late; while it is down a delivery whose copies land on both
/// instances may be handled twice (the default, `RunUnguarded`); once it is back, once again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_started_again() {
    let mut server = RedisServer::start();
    let runs = Runs::default();
    let delay = Duration::from_millis(2);
    let (a, guard_a) =
        instance("A", store(&server, RedisOptions::new()).await, &runs, delay, OnStoreError::default()).await;
    let (b, guard_b) =
        instance("B", store(&server, RedisOptions::new()).await, &runs, delay, OnStoreError::default()).await;
    let target = format!("/?{}", signed_query(TOKEN));
    // One delivery every 10 ms, its first copy on A and a second on B; phases of 150 deliveries
    // with Redis up, down, and up again.
    let mut slowest = Duration::ZERO;
    let phase = |from: u64, to: u64| {
        let target = target.clone();
        async move {
            let mut slowest = Duration::ZERO;
            for id in from..to {
                let body = text_delivery(id, "hi");
                let sent = Instant::now();
                let (first, second) =
                    tokio::join!(request(a, "POST", &target, &body), request(b, "POST", &target, &body));
                slowest = slowest.max(sent.elapsed());
                assert_eq!((first.status, second.status), (200, 200), "delivery {id}");
                assert!(first.body.contains(&format!("answered {id}")), "delivery {id}: {}", first.body);
                assert!(second.body.contains(&format!("answered {id}")), "delivery {id}: {}", second.body);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            slowest
        }
    };
    slowest = slowest.max(phase(0, 150).await);
    server.stop();
    slowest = slowest.max(phase(150, 300).await);
    let stopped_for = 150;
    server.restart();
    let restarted = Instant::now();
    // Back: the first deliveries may still find the connections being made again.
    let mut back_at = None;
    for id in 300..600 {
        let body = text_delivery(id, "hi");
        let (first, second) = tokio::join!(request(a, "POST", &target, &body), request(b, "POST", &target, &body));
        assert_eq!((first.status, second.status), (200, 200));
        if runs.of(id) == 1 && first.body == second.body && back_at.is_none() {
            back_at = Some((id, restarted.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (back_id, back_after) = back_at.expect("the guard works again once Redis is back");
    slowest = slowest.max(phase(600, 750).await);
    let before = (0..150).filter(|&id| runs.of(id) != 1).count();
    let while_down = (150..300).filter(|&id| runs.of(id) == 2).count();
    let after = (back_id..750).filter(|&id| runs.of(id) != 1).count();
    assert_eq!(before, 0, "with Redis up, once each");
    assert_eq!(after, 0, "once back, once each again (from delivery {back_id} on)");
    let unguarded = guard_a.counts().unguarded_failed + guard_b.counts().unguarded_failed;
    assert!(unguarded >= 2 * stopped_for, "every copy while down ran unguarded: {unguarded}");
    assert!(slowest < Duration::from_secs(1), "the slowest delivery took {slowest:?}");
    eprintln!(
        "Redis down for {stopped_for} deliveries: {while_down} handled twice (both copies), every one answered, none 5xx, \
         slowest {slowest:?}; the guard worked again {back_after:?} after the restart"
    );
}

/// Redis down for several seconds (3, or `REDIS_DOWN_SECONDS`) under bursts of deliveries (each
/// sent to both instances), then started again: both instances' guards work again within a second of Redis accepting
/// connections, and stay working. "Working": every delivery of a burst runs its handler once
/// and both copies get the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_is_back_within_a_second_of_redis() {
    let mut server = RedisServer::start();
    let runs = Runs::default();
    let delay = Duration::from_millis(20);
    let (a, _) = instance("A", store(&server, RedisOptions::new()).await, &runs, delay, OnStoreError::default()).await;
    let (b, _) = instance("B", store(&server, RedisOptions::new()).await, &runs, delay, OnStoreError::default()).await;
    let target = format!("/?{}", signed_query(TOKEN));
    // A burst: 20 deliveries at once, each to A and to B. Whether every one of them ran once.
    let burst = |first: u64| {
        let target = target.clone();
        let runs = runs.clone();
        async move {
            let copies: Vec<_> = (first..first + 20)
                .map(|id| {
                    let target = target.clone();
                    tokio::spawn(async move {
                        let body = text_delivery(id, "hi");
                        tokio::join!(request(a, "POST", &target, &body), request(b, "POST", &target, &body))
                    })
                })
                .collect();
            let mut guarded = true;
            for (id, copies) in (first..).zip(copies) {
                let (one, other) = copies.await.unwrap();
                assert_eq!((one.status, other.status), (200, 200), "delivery {id}");
                guarded &= runs.of(id) == 1 && one.body == other.body;
            }
            guarded
        }
    };
    let mut next = 0;
    assert!(burst(next).await, "guarded with Redis up");
    next += 20;
    server.stop();
    let down = Instant::now();
    let down_for =
        Duration::from_secs(std::env::var("REDIS_DOWN_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3));
    while down.elapsed() < down_for {
        burst(next).await;
        next += 20;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.restart();
    let accepting = Instant::now();
    let mut back_after = None;
    while accepting.elapsed() < Duration::from_secs(4) {
        let sent = accepting.elapsed();
        let guarded = burst(next).await;
        next += 20;
        match (guarded, back_after) {
            (true, None) => back_after = Some(sent),
            (false, Some(at)) => panic!("guarded from {at:?}, then not at {sent:?}"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back_after = back_after.expect("the guard works again once Redis is back");
    eprintln!(
        "Redis down {down_for:?} under bursts: the guard worked again for bursts sent {back_after:?} after it accepted \
         connections"
    );
    assert!(back_after < Duration::from_secs(1), "back after {back_after:?}");
}

/// The store chosen at run time (by configuration, say) as a `Box<dyn ReplyStore>`: two
/// instances on one Redis still run each delivery once, and their copies get the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_chosen_at_run_time() {
    use passive_reply::serve::ReplyStore;

    let server = RedisServer::start();
    let configured = Some(server.url());
    let choose = async |url: &Option<String>| -> Box<dyn ReplyStore> {
        let store: Box<dyn ReplyStore> = match url {
            Some(url) => Box::new(RedisStore::connect(url).await.unwrap()),
            None => Box::new(passive_reply::serve::MemoryStore::new()),
        };
        store
    };
    let runs = Runs::default();
    let mut addrs = Vec::new();
    for name in ["A", "B"] {
        let runs = runs.clone();
        let handler = move |msg: Incoming<'static>| {
            runs.record(&msg, name);
            let reply = Text::new(msg.from_user_name(), msg.to_user_name(), name).with_create_time(1).into_owned();
            async move { reply }
        };
        let guard = RetryGuard::with_store(choose(&configured).await);
        addrs.push(serve(Endpoint::new(TOKEN, handler).retry_guard(guard).into_router()).await);
    }
    let target = format!("/?{}", signed_query(TOKEN));
    for id in 0..20 {
        let body = text_delivery(id, "hi");
        let (a, b) = tokio::join!(request(addrs[0], "POST", &target, &body), request(addrs[1], "POST", &target, &body));
        assert_eq!(a.body, b.body, "delivery {id}");
        assert_eq!(runs.of(id), 1, "delivery {id}");
    }
}

/// With `AnswerEmpty`, a delivery is answered empty while Redis is down and its handler does not
/// run; with the default it runs. Either way the answer comes at once, and is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_failed_store_means_is_a_setting() {
    let mut server = RedisServer::start();
    let runs = Runs::default();
    let (careful, careful_guard) = instance(
        "careful",
        store(&server, RedisOptions::new()).await,
        &runs,
        Duration::ZERO,
        OnStoreError::AnswerEmpty,
    )
    .await;
    let (eager, eager_guard) =
        instance("eager", store(&server, RedisOptions::new()).await, &runs, Duration::ZERO, OnStoreError::RunUnguarded)
            .await;
    let target = format!("/?{}", signed_query(TOKEN));
    server.stop();
    let sent = Instant::now();
    let empty = request(careful, "POST", &target, &text_delivery(1, "hi")).await;
    assert_eq!((empty.status, empty.body.as_str(), runs.of(1)), (200, "", 0));
    let answered = request(eager, "POST", &target, &text_delivery(2, "hi")).await;
    assert!(answered.body.contains("eager answered 2"));
    assert!(sent.elapsed() < Duration::from_secs(1), "{:?}", sent.elapsed());
    assert_eq!((careful_guard.counts().empty_failed, eager_guard.counts().unguarded_failed), (1, 1));
}

/// A Redis that stops answering (the process paused) costs each request its timeout, not more;
/// once it answers again, so does the guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_hangs_costs_a_delivery_its_timeout() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(200);
    let store = store(&server, RedisOptions::new().timeout(timeout)).await;
    let guard = RetryGuard::with_store(store);
    let reply = || async { Text::new("u", "gh", "r").with_create_time(1) };
    server.pause();
    let sent = Instant::now();
    let answer = guard.answer(DedupKey::new("gh", "1"), reply).await;
    let took = sent.elapsed();
    assert!(!answer.is_empty());
    // The claim timed out, and the handler ran without the guard.
    assert!(took >= timeout && took < timeout + Duration::from_millis(300), "{took:?}");
    assert_eq!(guard.counts().unguarded_failed, 1);
    server.resume();
    // After a failure the store leaves Redis alone for a moment (each delivery in it is answered
    // at once, unguarded), then asks again.
    let paused = guard.answer(DedupKey::new("gh", "paused"), reply).await;
    assert!(!paused.is_empty() && sent.elapsed() < timeout + DEFAULT_PAUSE_AFTER_FAILURE);
    assert_eq!(guard.counts().unguarded_failed, 2);
    tokio::time::sleep(DEFAULT_PAUSE_AFTER_FAILURE).await;
    let key = DedupKey::new("gh", "2");
    let first = guard.answer(key.clone(), reply).await;
    let again = guard.answer(key, || async { Text::new("u", "gh", "twice").with_create_time(1) }).await;
    assert_eq!((again, guard.counts().unguarded_failed), (first, 2), "guarded again");
    eprintln!("a hung Redis: a delivery answered in {took:?} (timeout {timeout:?})");
}

/// Keys are the prefix and the delivery's key, replies are kept for the window and no longer,
/// and a claim without a reply for its lease. Then 100,000 deliveries, and what Redis holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_redis_keeps_and_for_how_long() {
    let server = RedisServer::start();
    let options = loaded().prefix("acct:").window(Duration::from_secs(2)).lease(Duration::from_secs(1));
    let windowed = store(&server, options).await;
    let inspect = redis::Client::open(server.url()).unwrap();
    let mut inspect = inspect.get_multiplexed_async_connection().await.unwrap();
    let key = DedupKey::new("gh", "k");
    assert_eq!(windowed.claim(&key).await, Claim::Run);
    let ttl: i64 = redis::cmd("PTTL").arg("acct:c:2:gh:1:k").query_async(&mut inspect).await.unwrap();
    assert!((1..=1000).contains(&ttl), "the claim holds for its lease: {ttl} ms");
    windowed.complete(&key, bytes::Bytes::from_static(b"<xml>reply</xml>")).await.unwrap();
    let value: Vec<u8> = redis::cmd("GET").arg("acct:c:2:gh:1:k").query_async(&mut inspect).await.unwrap();
    assert_eq!(value, b"D<xml>reply</xml>");
    let ttl: i64 = redis::cmd("PTTL").arg("acct:c:2:gh:1:k").query_async(&mut inspect).await.unwrap();
    assert!((1000..=2000).contains(&ttl), "the reply is kept for the window: {ttl} ms");
    // A reply longer than the store keeps is kept as the empty reply.
    let small = RedisStore::new(redis::Client::open(server.url()).unwrap(), loaded().max_reply_len(4)).await.unwrap();
    let long = DedupKey::new("gh", "long");
    assert_eq!(small.claim(&long).await, Claim::Run);
    small.complete(&long, bytes::Bytes::from_static(b"<xml>too long</xml>")).await.unwrap();
    assert_eq!(small.claim(&long).await, Claim::Done(bytes::Bytes::new()));

    let completed = Instant::now();

    // 100,000 deliveries with a 200-byte reply, 64 at a time, on a store with the default window.
    let store = Arc::new(store(&server, loaded().prefix("bulk:")).await);
    let reply = bytes::Bytes::from(vec![b'x'; 200]);
    let before: u64 = used_memory(&mut inspect).await;
    let started = Instant::now();
    let mut batches = Vec::new();
    for batch in 0..64u64 {
        let (store, reply) = (store.clone(), reply.clone());
        batches.push(tokio::spawn(async move {
            for n in (batch..100_000).step_by(64) {
                // A delivery's key as the endpoint makes it: account, 28-character OpenID, MsgId.
                let message = format!(
                    "<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oABCDEFGHIJKLMNOPQRSTUVWXYZ01</FromUserName>\
                     <CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>{n}</MsgId></xml>"
                );
                let key = Incoming::parse(&message).unwrap().dedup_key();
                assert_eq!(store.claim(&key).await, Claim::Run);
                store.complete(&key, reply.clone()).await.unwrap();
            }
        }));
    }
    for batch in batches {
        batch.await.unwrap();
    }
    let took = started.elapsed();
    let keys: u64 = redis::cmd("DBSIZE").query_async(&mut inspect).await.unwrap();
    let used = used_memory(&mut inspect).await - before;
    assert!(keys >= 100_000, "{keys}");
    // Every one of them leaves with the window (30 s): a sample of their expiries.
    for _ in 0..100 {
        let key: String = redis::cmd("RANDOMKEY").query_async(&mut inspect).await.unwrap();
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut inspect).await.unwrap();
        assert!(key.starts_with("acct:") || (1..=30_000).contains(&ttl), "{key}: {ttl} ms");
    }
    // And past its window, the first reply is gone.
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(completed.elapsed())).await;
    let left: i64 = redis::cmd("EXISTS").arg("acct:c:2:gh:1:k").query_async(&mut inspect).await.unwrap();
    assert_eq!(left, 0, "a reply leaves with its window");
    eprintln!(
        "100,000 deliveries (claim + complete, 64 at a time): {took:?}; Redis used {} bytes more, {} per delivery with a 200-byte reply; each key expires with the window",
        used,
        used / 100_000
    );
}

async fn used_memory(connection: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query_async(connection).await.unwrap();
    let line = info.lines().find_map(|line| line.strip_prefix("used_memory:")).unwrap();
    line.trim().parse().unwrap()
}

/// Deliveries in progress together share their trips to Redis: 64 claims made at once, and then
/// their 64 replies, reach Redis in a few reads of its socket (one pipeline per batch), not one
/// each (Redis's own count, `total_reads_processed`). Each its own task, as a server runs
/// deliveries: sent one by one they took 23 to 76 reads (checked with batches of one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_at_once_share_their_trips_to_redis() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut observer = client.get_multiplexed_async_connection().await.unwrap();
    let store = Arc::new(store(&server, loaded()).await);
    let reply = bytes::Bytes::from_static(b"<xml>r</xml>");
    let keys: Vec<DedupKey> = (0..64).map(|n| DedupKey::new("gh", &format!("batch-{n}"))).collect();
    let before = reads_processed(&mut observer).await;
    // Each delivery a task of its own, as the server runs them.
    let claims: Vec<_> = keys
        .iter()
        .map(|key| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.claim(&key).await })
        })
        .collect();
    let claims = futures_util::future::try_join_all(claims).await.unwrap();
    assert!(claims.iter().all(|claim| *claim == Claim::Run), "{claims:?}");
    let after_claims = reads_processed(&mut observer).await;
    let replies: Vec<_> = keys
        .iter()
        .map(|key| {
            let (store, key, reply) = (store.clone(), key.clone(), reply.clone());
            tokio::spawn(async move { store.complete(&key, reply).await })
        })
        .collect();
    let replies = futures_util::future::try_join_all(replies).await.unwrap();
    assert!(replies.iter().all(Result::is_ok), "{replies:?}");
    let after_replies = reads_processed(&mut observer).await;
    // Each count includes the INFO that asked it.
    let (claim_reads, reply_reads) = (after_claims - before - 1, after_replies - after_claims - 1);
    eprintln!("64 claims: {claim_reads} reads by Redis; 64 replies: {reply_reads}");
    // One each would be 128; batched, a few (2 and 2 on an idle machine).
    assert!(claim_reads + reply_reads <= 8, "64 claims in {claim_reads} reads, 64 replies in {reply_reads}");
    // And each was answered as its own: a second claim of each finds its reply.
    for key in &keys {
        assert_eq!(store.claim(key).await, Claim::Done(reply.clone()));
    }
}

async fn reads_processed(connection: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query_async(connection).await.unwrap();
    let line = info.lines().find_map(|line| line.strip_prefix("total_reads_processed:")).unwrap();
    line.trim().parse().unwrap()
}

/// The delivery path's own connection, closed under it (Redis's `CLIENT KILL`, as a restart of a
/// proxy or an idle timeout would). Closed while idle: the store notices, and the next claim goes
/// on a new connection without failing. Closed just before a claim: the claim may fail (with an
/// error, at once, not at its timeout), and the next one connects again and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_under_the_store_is_made_again() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let first = DedupKey::new("gh", "killed-1");
    let reply = bytes::Bytes::from_static(b"<xml>r</xml>");
    // Every client but the admin's: the store's connections (the deliveries' and the manager's).
    let kill = async |admin: &mut redis::aio::MultiplexedConnection| {
        let killed: u64 =
            redis::cmd("CLIENT").arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"]).query_async(admin).await.unwrap();
        assert!(killed >= 1, "{killed} connections closed");
    };
    // Closed while idle: nothing fails (the default pause after a failure would show it).
    let store = store(&server, loaded()).await;
    assert_eq!(store.claim(&first).await, Claim::Run);
    for round in 0..3 {
        kill(&mut admin).await;
        // Time for the store's reader to see the end (it is woken by it at once).
        tokio::time::sleep(Duration::from_millis(250)).await;
        let key = DedupKey::new("gh", &format!("idle-{round}"));
        assert_eq!(store.claim(&key).await, Claim::Run, "round {round}");
        store.complete(&key, reply.clone()).await.unwrap();
        assert_eq!(store.claim(&key).await, Claim::Done(reply.clone()), "round {round}");
    }
    // What was claimed before is still claimed.
    assert_eq!(store.claim(&first).await, Claim::Running);
    // Closed right before a claim; no pause after a failure, so the next try goes to Redis.
    let store = store_with_no_pause(&server).await;
    for round in 0..3 {
        let key = DedupKey::new("gh", &format!("killed-{round}-next"));
        kill(&mut admin).await;
        let sent = Instant::now();
        let mut tries = 0;
        let claim = loop {
            tries += 1;
            match store.claim(&key).await {
                Claim::Failed(error) => {
                    assert!(tries < 3, "round {round}: still failing after {tries} tries: {error}");
                    assert!(error.to_string().contains("Redis"), "{error}");
                }
                claim => break claim,
            }
        };
        assert_eq!(claim, Claim::Run, "round {round}");
        assert!(sent.elapsed() < Duration::from_secs(1), "round {round}: {:?}", sent.elapsed());
        store.complete(&key, reply.clone()).await.unwrap();
        assert_eq!(store.claim(&key).await, Claim::Done(reply.clone()), "round {round}");
    }
}

async fn store_with_no_pause(server: &RedisServer) -> RedisStore {
    store(server, loaded().pause_after_failure(Duration::ZERO)).await
}

/// A Redis with a password, the store on its database 3 (`redis://:password@host:port/3`): its
/// connections authenticate and select it (the deliveries' own one too), and the keys are there,
/// not in database 0. A wrong password is an error when the store is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_a_password_and_a_database() {
    let server = RedisServer::start();
    let mut admin = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("CONFIG").arg(&["SET", "requirepass", "s3cret"]).query_async(&mut admin).await.unwrap();
    let url = |password: &str| server.url().replace("redis://", &format!("redis://:{password}@")) + "3";
    let store = RedisStore::new(redis::Client::open(url("s3cret")).unwrap(), loaded()).await.unwrap();
    let key = DedupKey::new("gh", "on-db-3");
    assert_eq!(store.claim(&key).await, Claim::Run);
    store.complete(&key, bytes::Bytes::from_static(b"<xml>3</xml>")).await.unwrap();
    assert_eq!(store.claim(&key).await, Claim::Done(bytes::Bytes::from_static(b"<xml>3</xml>")));
    let redis_key = "passive-reply:c:2:gh:7:on-db-3";
    let mut db0 = redis::Client::open(url("s3cret").trim_end_matches('3'))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut db3 = redis::Client::open(url("s3cret")).unwrap().get_multiplexed_async_connection().await.unwrap();
    let (in0, in3): (i64, i64) = (
        redis::cmd("EXISTS").arg(redis_key).query_async(&mut db0).await.unwrap(),
        redis::cmd("EXISTS").arg(redis_key).query_async(&mut db3).await.unwrap(),
    );
    assert_eq!((in0, in3), (0, 1));
    assert!(RedisStore::new(redis::Client::open(url("wrong")).unwrap(), loaded()).await.is_err());
}

/// Redis on a Unix socket (`redis+unix:///path`): the store connects there, both connections.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("passive-reply-test-{}.sock", std::process::id()));
    let server = RedisServer::start_with(&["--unixsocket", path.to_str().unwrap(), "--unixsocketperm", "700"]);
    let store = RedisStore::connect(&format!("redis+unix://{}", path.display())).await.unwrap();
    let key = DedupKey::new("gh", "on-a-socket");
    assert_eq!(store.claim(&key).await, Claim::Run);
    store.complete(&key, bytes::Bytes::from_static(b"<xml>u</xml>")).await.unwrap();
    assert_eq!(store.claim(&key).await, Claim::Done(bytes::Bytes::from_static(b"<xml>u</xml>")));
    // And it is the same Redis as on TCP.
    let mut tcp = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let held: Vec<u8> =
        redis::cmd("GET").arg("passive-reply:c:2:gh:11:on-a-socket").query_async(&mut tcp).await.unwrap();
    assert_eq!(held, b"D<xml>u</xml>");
    drop(server);
    let _ = std::fs::remove_file(path);
}

/// A reply is published only when a waiter flagged its key: instances don't each hear of every
/// delivery, only of the ones their retries wait for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_replies_someone_waits_for_are_published() {
    use futures_util::StreamExt;

    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut listener = client.get_async_pubsub().await.unwrap();
    listener.subscribe("passive-reply:done").await.unwrap();
    let store = Arc::new(store(&server, loaded()).await);
    let reply = bytes::Bytes::from_static(b"<xml>r</xml>");
    // Nobody waits for the first.
    let alone = DedupKey::new("gh", "alone");
    assert_eq!(store.claim(&alone).await, Claim::Run);
    store.complete(&alone, reply.clone()).await.unwrap();
    // Somebody waits for the second.
    let awaited = DedupKey::new("gh", "awaited");
    assert_eq!(store.claim(&awaited).await, Claim::Run);
    let waiter = || {
        let (store, awaited) = (store.clone(), awaited.clone());
        tokio::spawn(async move { store.wait(&awaited).await })
    };
    let mut inspect = client.get_multiplexed_async_connection().await.unwrap();
    let mut held = async |key: &str| -> Vec<u8> { redis::cmd("GET").arg(key).query_async(&mut inspect).await.unwrap() };
    let (first, second) = (waiter(), waiter());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Flagged on the claim, once for both waiters.
    let claim = held("passive-reply:c:2:gh:7:awaited").await;
    assert!(claim.starts_with(b"R") && claim.ends_with(b"W") && !claim.ends_with(b"WW"), "{claim:?}");
    store.complete(&awaited, reply.clone()).await.unwrap();
    assert_eq!(first.await.unwrap(), Claim::Done(reply.clone()));
    assert_eq!(second.await.unwrap(), Claim::Done(reply.clone()));
    // A waiter that comes after the reply changes nothing.
    assert_eq!(waiter().await.unwrap(), Claim::Done(reply.clone()));
    assert_eq!(held("passive-reply:c:2:gh:7:awaited").await, b"D<xml>r</xml>");
    let mut messages = listener.on_message();
    let first = tokio::time::timeout(Duration::from_secs(1), messages.next()).await.unwrap().unwrap();
    assert_eq!(first.get_payload_bytes(), b"passive-reply:c:2:gh:7:awaited");
    assert!(tokio::time::timeout(Duration::from_millis(200), messages.next()).await.is_err(), "nothing else");
}

/// The guard's response doesn't wait for Redis to have its reply (`ReplyStore::record`): with
/// Redis's writes paused by the handler, after the claim, the reply is answered at once, while
/// Redis still holds the claim; `RedisStore::settle` waits until Redis has the reply, which a
/// retry then gets. A waiter on another store is woken by the reply recorded so (published).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_does_not_wait_for_redis_to_record_its_reply() {
    let server = RedisServer::start();
    let guard = RetryGuard::with_store(store(&server, loaded()).await);
    let client = redis::Client::open(server.url()).unwrap();
    let inspect = client.get_multiplexed_async_connection().await.unwrap();
    let pause = Duration::from_millis(1_500);
    let key = DedupKey::new("gh", "paused");
    let started = Instant::now();
    let answer = guard
        .answer(key.clone(), || {
            let mut inspect = inspect.clone();
            async move {
                pause_writes(&mut inspect, pause).await;
                Text::new("u", "gh", "made").with_create_time(1)
            }
        })
        .await;
    let answered = started.elapsed();
    assert!(String::from_utf8_lossy(&answer).contains("made"));
    assert!(answered < pause / 3, "answered in {answered:?}, while Redis's writes are paused for {pause:?}");
    let held = |mut inspect: redis::aio::MultiplexedConnection| async move {
        let value: Vec<u8> =
            redis::cmd("GET").arg("passive-reply:c:2:gh:6:paused").query_async(&mut inspect).await.unwrap();
        value
    };
    assert_eq!(held(inspect.clone()).await.first(), Some(&b'R'), "still the claim in Redis");
    assert!(RedisStore::settle(Duration::from_millis(100)).await >= 1, "the reply not yet answered for");
    RedisStore::settle(Duration::from_secs(10)).await;
    assert!(started.elapsed() >= pause, "settled once the pause was over: {:?}", started.elapsed());
    assert_eq!(held(inspect.clone()).await, [b"D".as_slice(), &answer].concat());
    assert_eq!(guard.store().claim(&key).await, Claim::Done(answer));

    // A retry waiting on another store, woken by a reply the guard recorded.
    let other = store(&server, loaded().wake(Wake::PubSub { backstop: Duration::from_secs(5) })).await;
    let key = DedupKey::new("gh", "waited");
    assert_eq!(guard.store().claim(&key).await, Claim::Run);
    let waiter = tokio::spawn(async move { other.wait(&DedupKey::new("gh", "waited")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reply = bytes::Bytes::from_static(b"<xml>w</xml>");
    let woken = Instant::now();
    guard.store().record(&key, reply.clone()).await.unwrap();
    assert_eq!(waiter.await.unwrap(), Claim::Done(reply));
    // Published: not found by the waiter's look every 5 s (its backstop).
    assert!(woken.elapsed() < Duration::from_secs(2), "{:?}", woken.elapsed());
}

/// No Redis at the address: `connect` says so, promptly, instead of a store that fails later.
#[tokio::test]
async fn connecting_to_nothing_is_an_error() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let error = RedisStore::connect(&format!("redis://127.0.0.1:{free}/")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(error.is_connection_refusal() || error.is_io_error(), "{error}");
}

/// API.md's "Serving across instances", as written there (with the test's own Redis for the URL):
/// two endpoints made that way answer one delivery once, with the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_contract_serving_across_instances() -> Result<(), Box<dyn std::error::Error>> {
    use passive_reply::serve::{RedisStore, RetryGuard};

    let server = RedisServer::start();
    let runs = Runs::default();
    let answer = {
        let runs = runs.clone();
        move |msg: Incoming<'static>| {
            runs.record(&msg, "either");
            async move { msg.reply_text("once").into_owned() }
        }
    };
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(&server.url()).await?; // or RedisStore::new(client, options)
        let app = Endpoint::new(TOKEN, answer.clone()).retry_guard(RetryGuard::with_store(store)).into_router();
        addrs.push(serve(app).await);
    }
    let target = format!("/?{}", signed_query(TOKEN));
    let body = text_delivery(77, "hi");
    let (a, b) = tokio::join!(request(addrs[0], "POST", &target, &body), request(addrs[1], "POST", &target, &body));
    assert_eq!((a.status, b.status, runs.of(77)), (200, 200, 1));
    assert_eq!(a.body, b.body);
    assert!(a.body.contains("<![CDATA[once]]>"));
    Ok(())
}

/// Two instances share their access token through the Redis: 40 sends at once, half from each,
/// make one token request between them; when the platform calls the token stale, the instance
/// that heard it drops it from the Redis only if it is still the stale one (the other instance's
/// 40001 on the same old token then leaves the new one alone), so one more token request covers
/// both.
#[cfg(feature = "client")]
#[tokio::test]
async fn instances_share_one_access_token() {
    use passive_reply::client::{Client, TokenStore};
    use passive_reply_test::api::{APP_ID, ApiDouble, Next, SECRET};

    let server = RedisServer::start();
    let platform = ApiDouble::default();
    platform.with(|r| r.token_delay = Duration::from_millis(200));
    let base = platform.serve().await;
    let client =
        |store: RedisStore| Client::builder(APP_ID, SECRET).api_base(&base).token_store(store).build().unwrap();
    let (a, b) = (client(store(&server, loaded()).await), client(store(&server, loaded()).await));
    let text = |i: usize| Text::new("oUser", "gh_account", format!("message {i}"));
    let sends = (0..40).map(|i| {
        let instance = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move { instance.send(&text(i)).await })
    });
    for sent in futures_util::future::join_all(sends).await {
        sent.unwrap().unwrap();
    }
    assert_eq!(platform.token_requests(), 1);
    assert!(platform.sends().iter().all(|s| s.token == "TOKEN-1"));
    let kept = store(&server, loaded()).await.get(APP_ID).await.unwrap().unwrap();
    assert_eq!(&*kept.token, "TOKEN-1");
    assert!(kept.expires_in > Duration::from_secs(7100) && kept.expires_in <= Duration::from_secs(7200));
    // Compare and expire: another token's staleness leaves this one.
    let probe = store(&server, loaded()).await;
    probe.expire(APP_ID, "TOKEN-0").await.unwrap();
    assert_eq!(&*probe.get(APP_ID).await.unwrap().unwrap().token, "TOKEN-1");

    // Stale: A's next send is refused, A fetches TOKEN-2 for both; B, still holding TOKEN-1, is
    // refused too, and finds TOKEN-2 in the Redis instead of fetching a third.
    platform.with(|r| r.script.push_back(Next::Code(40001)));
    a.send(&text(100)).await.unwrap();
    b.send(&text(101)).await.unwrap();
    let tokens: Vec<String> = platform.sends()[40..].iter().map(|s| s.token.clone()).collect();
    assert_eq!(tokens, ["TOKEN-1", "TOKEN-2", "TOKEN-1", "TOKEN-2"]);
    assert_eq!(platform.token_requests(), 2);
}

/// A late reply across instances: the platform's first try reaches A, whose handler misses the
/// budget; its retries reach B (while A's handler runs, and after it sent): B answers both with
/// the empty reply from the Redis and runs nothing, and the reply reaches the send API once.
#[cfg(feature = "client")]
#[tokio::test]
async fn a_late_reply_goes_out_once_across_instances() {
    use passive_reply::client::Client;
    use passive_reply::serve::{LateOutcome, LateReplies};

    use passive_reply_test::api::{APP_ID, ApiDouble, SECRET};

    let server = RedisServer::start();
    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let runs = Runs::default();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut addrs = Vec::new();
    for name in ["A", "B"] {
        let runs = runs.clone();
        let handler = move |msg: Incoming<'static>| {
            let runs = runs.clone();
            async move {
                runs.record(&msg, name);
                tokio::time::sleep(Duration::from_millis(600)).await;
                Text::new(msg.from_user_name(), msg.to_user_name(), format!("{name} answered late")).into_owned()
            }
        };
        let client = Client::builder(APP_ID, SECRET).api_base(&base).build().unwrap();
        let sent = sent.clone();
        let late = LateReplies::new(client).on_outcome(move |report| sent.lock().unwrap().push(report.outcome.clone()));
        let guard = RetryGuard::with_store(store(&server, loaded()).await);
        let app =
            Endpoint::new(TOKEN, handler).budget(Duration::from_millis(200)).retry_guard(guard).late_replies(late);
        addrs.push(serve(app.into_router()).await);
    }
    let (target, delivery) = (format!("/?{}", signed_query(TOKEN)), text_delivery(77, "hello"));
    let first = request(addrs[0], "POST", &target, &delivery).await;
    assert_eq!(first.body, "", "A's budget ran out");
    let during = request(addrs[1], "POST", &target, &delivery).await;
    assert_eq!(during.body, "", "B, while A's handler runs");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = request(addrs[1], "POST", &target, &delivery).await;
    assert_eq!(after.body, "", "B, after A sent the reply");
    assert_eq!(runs.of(77), 1);
    assert_eq!(*sent.lock().unwrap(), [LateOutcome::Sent]);
    let sends = platform.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].body["text"]["content"], "A answered late");
}

/// The future the endpoint's tower service boxes for each request, with a `RedisStore`, is small
/// enough for glibc's thread cache (chunks of up to 1,032 bytes), as with a `MemoryStore`
/// (`reply-serve`'s own test): the store's rarer requests (a publish to waiters, a retry's wait)
/// are boxed where they are made, and the claim and the handler's run share their room. It was
/// 2,824 bytes when the delivery path's futures were `async fn`s, and the box came from glibc's
/// slower paths on every delivery.
#[tokio::test]
async fn the_services_future_with_redis_fits_the_allocators_thread_cache() {
    let server = RedisServer::start();
    let guard = RetryGuard::with_store(store(&server, loaded()).await);
    let handler = |msg: Incoming<'static>| async move { msg.into_reply_text("ok") };
    let mut service = passive_reply::endpoint::Endpoint::new(TOKEN, handler).retry_guard(guard).into_service();
    let request = http::Request::post(format!("/?{}", signed_query(TOKEN))).body(axum::body::Body::empty()).unwrap();
    let future = tower_service::Service::call(&mut service, request);
    let size = std::mem::size_of_val(&*future);
    assert!(size <= 1_024, "the service's future is {size} bytes");
}
