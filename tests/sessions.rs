//! Sessions: state per account and user between messages, kept only when changed, removed when
//! cleared, expired, one message of a user at a time, no store traffic for routes without a
//! session; in memory, and on a real Redis across two instances.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passive_reply::router::{Msg, ReplyFuture, Router, kind};
use passive_reply::serve::{BoxFuture, StoreError, StoreErrorKind};
use passive_reply::session::{Begin, Change, MemorySessions, Session, SessionKey, SessionStore, Sessions};
use passive_reply::{Incoming, PassiveReply, Text};
use serde::{Deserialize, Serialize};

mod common;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Counter {
    count: u32,
}

/// "count" answers 1, 2, 3… per user; "peek" reads without changing; "reset" clears; "slow" counts
/// after 200 ms; anything else answers "plain" without a session.
async fn count(mut session: Session<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
    let counter = session.get_or_insert(Counter { count: 0 });
    counter.count += 1;
    msg.reply_text(counter.count.to_string()).with_create_time(1).into_owned()
}

async fn slow(session: Session<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    count(session, msg).await
}

async fn peek(session: Session<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
    let seen = session.as_ref().map_or("none".to_owned(), |counter| counter.count.to_string());
    msg.reply_text(seen).with_create_time(1).into_owned()
}

async fn rewrite(mut session: Session<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
    // Written to, with the value it had: not saved.
    if let Some(counter) = session.as_mut() {
        counter.count += 0;
    }
    msg.reply_text("rewritten").with_create_time(1).into_owned()
}

async fn reset(mut session: Session<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
    *session = None;
    msg.reply_text("reset").with_create_time(1).into_owned()
}

async fn plain(msg: Incoming<'static>) -> Text<'static> {
    msg.reply_text("plain").with_create_time(1).into_owned()
}

fn router(sessions: Sessions) -> impl Fn(Incoming<'static>) -> ReplyFuture + Clone {
    Router::new()
        .text("count", count)
        .text("slow", slow)
        .text("peek", peek)
        .text("rewrite", rewrite)
        .text("reset", reset)
        .fallback(plain)
        .sessions(sessions)
        .into_handler()
}

fn text(account: &str, user: &str, content: &str) -> Incoming<'static> {
    let xml = format!(
        "<xml><ToUserName>{account}</ToUserName><FromUserName>{user}</FromUserName><CreateTime>1</CreateTime>\
         <MsgType>text</MsgType><Content>{content}</Content><MsgId>1</MsgId></xml>"
    );
    Incoming::parse(&xml).unwrap().into_owned()
}

/// The Content of a text reply, or "" for the empty reply.
fn content(xml: &str) -> String {
    match xml.split_once("<Content><![CDATA[") {
        Some((_, rest)) => rest.split_once("]]>").unwrap().0.to_owned(),
        None => {
            assert!(xml.is_empty(), "{xml}");
            String::new()
        }
    }
}

async fn say(handler: &impl Fn(Incoming<'static>) -> ReplyFuture, user: &str, what: &str) -> String {
    content(&handler(text("gh_account", user, what)).await.to_xml())
}

/// A store that counts what it is asked, around a `MemorySessions`, and fails when told.
#[derive(Clone, Default)]
struct Counted {
    inner: MemorySessions,
    calls: Arc<Mutex<Vec<String>>>,
    failing: Arc<AtomicUsize>,
}

impl Counted {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl SessionStore for Counted {
    fn begin<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Begin, StoreError>> {
        self.calls.lock().unwrap().push("begin".into());
        if self.failing.load(Ordering::SeqCst) > 0 {
            return Box::pin(std::future::ready(Err(StoreError::new(StoreErrorKind::Unavailable, "told to fail"))));
        }
        self.inner.begin(key, token, lease)
    }

    fn renew<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.calls.lock().unwrap().push("renew".into());
        self.inner.renew(key, token, lease)
    }

    fn end<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        change: Change,
        expiry: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let what = match &change {
            Change::Keep => "end keep".to_owned(),
            Change::Save(json) => format!("end save {}", String::from_utf8_lossy(json)),
            Change::Remove => "end remove".to_owned(),
        };
        self.calls.lock().unwrap().push(what);
        self.inner.end(key, token, change, expiry)
    }
}

#[tokio::test]
async fn a_dialog_per_user_saved_only_when_changed_and_removed_when_cleared() {
    let store = Counted::default();
    let handler = router(Sessions::new(store.clone()));

    assert_eq!(say(&handler, "oAlice", "peek").await, "none");
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
    assert_eq!(say(&handler, "oAlice", "count").await, "2");
    assert_eq!(say(&handler, "oBob", "count").await, "1", "another user has a session of their own");
    assert_eq!(say(&handler, "oAlice", "count").await, "3");
    // The same user of another account: another session.
    assert_eq!(content(&handler(text("gh_other", "oAlice", "count")).await.to_xml()), "1");
    assert_eq!(
        store.calls(),
        [
            "begin",
            "end keep",
            "begin",
            r#"end save {"count":1}"#,
            "begin",
            r#"end save {"count":2}"#,
            "begin",
            r#"end save {"count":1}"#,
            "begin",
            r#"end save {"count":3}"#,
            "begin",
            r#"end save {"count":1}"#,
        ]
    );

    // Read, and written back unchanged: nothing saved.
    let before = store.calls().len();
    assert_eq!(say(&handler, "oAlice", "peek").await, "3");
    assert_eq!(say(&handler, "oAlice", "rewrite").await, "rewritten");
    assert_eq!(store.calls()[before..], ["begin", "end keep", "begin", "end keep"]);

    // No store traffic for a route without a session.
    let before = store.calls().len();
    assert_eq!(say(&handler, "oAlice", "hello").await, "plain");
    assert_eq!(store.calls().len(), before);

    // Cleared: removed from the store, and the next count starts again.
    let (sessions_before, used_before) = (store.inner.len(), store.inner.used());
    assert_eq!(say(&handler, "oAlice", "reset").await, "reset");
    assert_eq!(store.calls().last().unwrap(), "end remove");
    assert_eq!(store.inner.len(), sessions_before - 1, "Alice's session is gone from the map");
    assert!(store.inner.used() < used_before);
    assert_eq!(say(&handler, "oAlice", "peek").await, "none");
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
    // A user with nothing saved leaves nothing behind.
    assert_eq!(say(&handler, "oCarol", "peek").await, "none");
    assert_eq!(store.inner.len(), 3, "Alice, Bob, Alice of gh_other, and no entry for Carol");
}

#[tokio::test(start_paused = true)]
async fn sessions_expire_after_the_last_message_that_used_them() {
    let store = MemorySessions::new();
    let handler = router(Sessions::new(store.clone()).expiry(Duration::from_secs(60)));
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
    tokio::time::advance(Duration::from_secs(50)).await;
    // Read at 50 s: its time starts again.
    assert_eq!(say(&handler, "oAlice", "peek").await, "1");
    tokio::time::advance(Duration::from_secs(50)).await;
    assert_eq!(say(&handler, "oAlice", "count").await, "2", "100 s after it was saved, 50 s after it was read");
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(say(&handler, "oAlice", "peek").await, "none", "61 s without a message");
    // The expired session left the store as messages came.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(say(&handler, "oBob", "peek").await, "none");
    assert_eq!(store.len(), 0);
    // What is left is Bob's place in the expiry queue, stale since his entry left (it goes when
    // its time comes).
    assert!(store.used() <= 100, "{}", store.used());
}

/// The rule: a user's messages with a session are handled one after another, so two at once
/// count 1 and 2 (never 1 and 1), and the second waits for the first.
#[tokio::test]
async fn two_messages_of_one_user_at_once_run_one_after_the_other() {
    let handler = router(Sessions::new(MemorySessions::new()));
    let started = tokio::time::Instant::now();
    let (a, b, other) =
        tokio::join!(say(&handler, "oAlice", "slow"), say(&handler, "oAlice", "slow"), say(&handler, "oBob", "slow"));
    let mut answers = [a, b];
    answers.sort();
    assert_eq!(answers, ["1", "2"]);
    assert_eq!(other, "1");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "one after the other: {took:?}");
    assert!(took < Duration::from_millis(1500), "Bob did not wait for Alice: {took:?}");
    assert_eq!(say(&handler, "oAlice", "peek").await, "2");
}

#[tokio::test(start_paused = true)]
async fn a_lock_never_freed_holds_one_lease_and_the_message_waits_at_most_its_wait() {
    let store = MemorySessions::new();
    let key = SessionKey::new("gh_account", "oAlice");
    // A holder that died: it took the lock and never ended.
    assert_eq!(store.begin(&key, 7, Duration::from_secs(10)).await.unwrap(), Begin::Locked(None));
    let handler = router(Sessions::new(store.clone()).wait(Duration::from_secs(3)));
    let started = tokio::time::Instant::now();
    assert_eq!(say(&handler, "oAlice", "count").await, "", "answered empty after waiting 3 s");
    assert!(started.elapsed() >= Duration::from_secs(3));
    let handler = router(Sessions::new(store.clone()));
    assert_eq!(say(&handler, "oAlice", "count").await, "1", "once the dead holder's lease is over");
    assert!(started.elapsed() >= Duration::from_secs(10));
    // The late holder can't save over it.
    assert!(!store.end(&key, 7, Change::Save(b"{\"count\":9}".to_vec()), Duration::from_secs(60)).await.unwrap());
    assert_eq!(say(&handler, "oAlice", "peek").await, "1");
}

/// A handler that panics (or whose handling is dropped) frees its user's lock at once: the next
/// message doesn't wait out the lease, and nothing the panicking handler did is saved.
#[tokio::test(start_paused = true)]
async fn a_panicking_handler_frees_the_lock() {
    let handler = Router::new()
        .text("count", count)
        .text("panic", |mut session: Session<Counter>, _: Msg<kind::Text>| async move {
            *session = Some(Counter { count: 100 });
            panic!("a bug in the handler");
            #[allow(unreachable_code)]
            Text::new("", "", "")
        })
        .sessions(Sessions::new(MemorySessions::new()))
        .into_handler();
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
    let panicked = tokio::spawn(handler(text("gh_account", "oAlice", "panic"))).await;
    assert!(panicked.is_err_and(|e| e.is_panic()));
    let started = tokio::time::Instant::now();
    assert_eq!(say(&handler, "oAlice", "count").await, "2", "the panicking handler's state not saved");
    assert!(started.elapsed() < Duration::from_secs(1), "waited {:?} for the lock", started.elapsed());
}

#[tokio::test]
async fn a_failing_store_answers_empty_without_running_the_handler() {
    let store = Counted::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let handler = Router::new()
        .text("count", move |session: Session<Counter>, msg: Msg<kind::Text>| {
            counted.fetch_add(1, Ordering::SeqCst);
            count(session, msg)
        })
        .sessions(Sessions::new(store.clone()))
        .into_handler();
    store.failing.store(1, Ordering::SeqCst);
    assert_eq!(say(&handler, "oAlice", "count").await, "");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    store.failing.store(0, Ordering::SeqCst);
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn state_that_no_longer_reads_as_its_type_starts_over() {
    let store = MemorySessions::new();
    let key = SessionKey::new("gh_account", "oAlice");
    store.begin(&key, 1, Duration::from_secs(1)).await.unwrap();
    assert!(store.end(&key, 1, Change::Save(br#"{"step":"menu"}"#.to_vec()), Duration::from_secs(60)).await.unwrap());
    let handler = router(Sessions::new(store.clone()));
    assert_eq!(say(&handler, "oAlice", "peek").await, "none");
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
}

#[tokio::test]
async fn the_memory_store_keeps_its_budget() {
    let store = MemorySessions::with_budget(2_000);
    let handler = router(Sessions::new(store.clone()));
    let mut answered = 0;
    for user in 0..50 {
        if say(&handler, &format!("oUser{user}"), "count").await == "1" {
            answered += 1;
        }
        assert!(store.used() <= 2_000, "{}", store.used());
    }
    assert!((5..50).contains(&answered), "some users fit, not all: {answered}");
    // A state too long for the budget is refused, and what was there stays.
    let key = SessionKey::new("gh_account", "oUser0");
    store.begin(&key, 1, Duration::from_secs(1)).await.unwrap();
    let error = store.end(&key, 1, Change::Save(vec![b'1'; 5_000]), Duration::from_secs(60)).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Full);
    assert_eq!(say(&handler, "oUser0", "peek").await, "1");
}

#[tokio::test]
async fn a_state_longer_than_max_len_is_not_saved() {
    // `{"count":1}` is 11 bytes.
    let handler = router(Sessions::new(MemorySessions::new()).max_len(11));
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
    assert_eq!(say(&handler, "oAlice", "peek").await, "1");
    let handler = router(Sessions::new(MemorySessions::new()).max_len(10));
    assert_eq!(say(&handler, "oAlice", "count").await, "1");
    assert_eq!(say(&handler, "oAlice", "peek").await, "none", "11 bytes, more than 10: not saved");
}

#[test]
#[should_panic(expected = "the router has no sessions")]
fn a_router_whose_handler_takes_a_session_needs_sessions() {
    let _ = Router::new().text("count", count).into_handler();
}

/// Two instances, each with its own connection to one real Redis, its own router and server: a
/// dialog continues whichever instance the platform reaches, and two messages at once on the two
/// instances count 1 and 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialog_across_two_instances_on_redis() {
    use common::http::{TOKEN, serve};
    use passive_reply::axum::Endpoint;
    use passive_reply::serve::RedisStore;
    use passive_reply_test::{Inbound, Platform, Url};

    let redis = common::redis_server::RedisServer::start();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(&redis.url()).await.unwrap();
        let handler = router(Sessions::new(store));
        instances.push(Url::from(serve(Endpoint::new(TOKEN, handler).into_router()).await));
    }
    let platform = Platform::new(TOKEN);
    let alice = |content: &str| Inbound::text(content).from("oAlice");
    for (instance, expected) in [(0, "1"), (1, "2"), (0, "3")] {
        platform.send(&instances[instance], alice("count")).await.assert_text(expected);
    }
    // The second message, on the other instance, continued the count.

    // What Redis holds: the state as JSON, with its expiry; no lock left.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("passive-reply:S:{}", SessionKey::new("gh_account", "oAlice").as_str());
    let state: String = redis::cmd("GET").arg(&key).query_async(&mut connection).await.unwrap();
    assert_eq!(state, r#"{"count":3}"#);
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
    assert!((1700..=1800).contains(&ttl), "{ttl}");
    let locks: Vec<String> = redis::cmd("KEYS").arg("passive-reply:SL:*").query_async(&mut connection).await.unwrap();
    assert!(locks.is_empty(), "{locks:?}");

    // Two messages at once, one on each instance: one after the other.
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(platform.send(&instances[0], alice("slow")), platform.send(&instances[1], alice("slow")));
    let mut answers = [a.assert_reply().text().unwrap().to_owned(), b.assert_reply().text().unwrap().to_owned()];
    answers.sort();
    assert_eq!(answers, ["4", "5"]);
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());

    // Cleared on one instance: gone from Redis, and the other starts again.
    platform.send(&instances[1], alice("reset")).await.assert_text("reset");
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut connection).await.unwrap();
    assert_eq!(exists, 0);
    platform.send(&instances[0], alice("count")).await.assert_text("1");
}

/// The example itself, twice, on one Redis (`--redis`): `count` continues from one instance to
/// the other, for each user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_counts_across_two_instances_on_redis() {
    use passive_reply_test::{Inbound, Platform, Url};

    let redis = common::redis_server::RedisServer::start();
    let url = redis.url();
    let mut children = Vec::new();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let (child, addr) = common::example::start(&["--token", "example-token", "--redis", &url]).await;
        children.push(common::example::Killed(child));
        instances.push(Url::from(addr));
    }
    let platform = Platform::new("example-token");
    let count = |user: &str| Inbound::text("count").from(user);
    let mut answers = Vec::new();
    for (instance, user) in [(0, "oAlice"), (1, "oAlice"), (1, "oBob"), (0, "oAlice"), (0, "oBob")] {
        answers.push(platform.send(&instances[instance], count(user)).await.assert_reply().text().unwrap().to_owned());
    }
    drop(children);
    assert_eq!(answers, ["1", "2", "1", "3", "2"]);
}
