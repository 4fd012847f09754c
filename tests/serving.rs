//! The platform's URL served over real HTTP on loopback: a server bound to port 0, and a plain
//! HTTP/1.1 client written here, so what is tested is what goes over the wire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passive_reply::axum::Endpoint;
use passive_reply::serve::{MemoryStore, RetryGuard};
use passive_reply::{Incoming, Message, Text};
use tokio::time::Instant;

#[macro_use]
mod common;
use common::http::{TOKEN, encrypted_delivery, request, serve, signed_query, signed_query_at, text_delivery};

#[path = "../examples/echo_server.rs"]
#[allow(dead_code)]
mod echo_server;

/// An event. Events have no MsgId: FromUserName and CreateTime identify them, so each event
/// here has a CreateTime of its own.
fn event_delivery(event: &str, create_time: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>"
    )
}

#[tokio::test]
async fn url_check_and_signatures() {
    let addr = serve(Endpoint::new(TOKEN, echo_server::answer()).into_router()).await;
    let good = request(addr, "GET", &format!("/?{}&echostr=5837397520665436492", signed_query(TOKEN)), "").await;
    assert_eq!((good.status, good.body.as_str()), (200, "5837397520665436492"));

    let forged = request(addr, "GET", &format!("/?{}&echostr=1", signed_query("another-token")), "").await;
    assert_eq!(forged.status, 403);
    let unsigned = request(addr, "GET", "/?echostr=1", "").await;
    assert_eq!(unsigned.status, 403);

    let bad_post =
        request(addr, "POST", &format!("/?{}", signed_query("another-token")), &text_delivery(1, "hi")).await;
    assert_eq!(bad_post.status, 403);
    let no_query = request(addr, "POST", "/", &text_delivery(1, "hi")).await;
    assert_eq!(no_query.status, 403);
}

#[tokio::test]
async fn each_message_type_is_answered_as_the_example_says() {
    let addr = serve(Endpoint::new(TOKEN, echo_server::answer()).into_router()).await;
    let target = format!("/?{}", signed_query(TOKEN));

    // The delivery's Content is `你好 ]]> there`, written as the platform writes it: split
    // across two CDATA sections.
    let text = request(addr, "POST", &target, &text_delivery(1, "你好 ]]> there")).await;
    assert_eq!((text.status, text.content_type.as_deref()), (200, Some("text/xml; charset=utf-8")));
    let reply = Incoming::parse(&text.body).unwrap();
    assert_eq!((reply.to_user_name(), reply.from_user_name()), ("oUser", "gh_account"));
    assert_is!(reply.message(), Message::Text { content: "你好 ]]> there" });

    let welcome = request(addr, "POST", &target, &event_delivery("subscribe", 1348831861)).await;
    let reply = Incoming::parse(&welcome.body).unwrap();
    assert_eq!((reply.to_user_name(), reply.from_user_name(), reply.msg_type()), ("oUser", "gh_account", "news"));
    assert_eq!(reply.field("ArticleCount"), Some("2"));
    assert_eq!(reply.field("Title"), Some("Welcome"));

    for other in [event_delivery("unsubscribe", 1348831862), event_delivery("CLICK", 1348831863)] {
        let empty = request(addr, "POST", &target, &other).await;
        assert_eq!((empty.status, empty.body.as_str(), empty.content_type), (200, "", None));
    }
    let image = text_delivery(2, "x").replace("[text]", "[image]");
    let empty = request(addr, "POST", &target, &image).await;
    assert_eq!((empty.status, empty.body.as_str()), (200, ""));
}

#[tokio::test]
async fn a_malformed_body_gets_400_and_the_server_keeps_serving() {
    let addr = serve(Endpoint::new(TOKEN, echo_server::answer()).into_router()).await;
    let target = format!("/?{}", signed_query(TOKEN));
    let cases = [
        ("{\"MsgType\": \"text\"}", "the body is JSON; the platform sends XML (at byte 0)\n"),
        ("<xml><ToUserName>a</ToUserName>", "the body ends before </xml> (at byte 31)\n"),
        ("", "the body is empty (at byte 0)\n"),
    ];
    for (body, reason) in cases {
        let response = request(addr, "POST", &target, body).await;
        assert_eq!((response.status, response.body.as_str()), (400, reason));
    }
    let still = request(addr, "POST", &target, &text_delivery(3, "still here")).await;
    assert_eq!(still.status, 200);
    assert!(still.body.contains("still here"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_handler_past_its_budget_gets_the_empty_reply_in_time() {
    let budget = Duration::from_secs(4);
    let slow = |msg: Incoming<'static>| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        msg.reply_text("too late").into_owned()
    };
    let addr = serve(Endpoint::new(TOKEN, slow).budget(budget).into_router()).await;
    let started = Instant::now();
    let response = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(4, "hi")).await;
    let took = started.elapsed();
    assert_eq!((response.status, response.body.as_str()), (200, ""));
    assert!(took >= budget && took < budget + Duration::from_millis(200), "answered after {took:?}");
}

/// Counts how often the handler ran for each MsgId.
#[derive(Clone, Default)]
struct Runs(Arc<Mutex<HashMap<u64, usize>>>);

impl Runs {
    fn record(&self, msg: &Incoming) {
        *self.0.lock().unwrap().entry(msg.msg_id().unwrap()).or_default() += 1;
    }

    fn of(&self, msg_id: u64) -> usize {
        self.0.lock().unwrap().get(&msg_id).copied().unwrap_or(0)
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retries_get_the_same_reply_and_the_handler_runs_once() {
    let runs = Runs::default();
    let handler = {
        let runs = runs.clone();
        move |msg: Incoming<'static>| {
            runs.record(&msg);
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                // CreateTime is now: a second run would differ from the first.
                msg.reply_text(format!("run at {:?}", Instant::now())).into_owned()
            }
        }
    };
    let addr = serve(Endpoint::new(TOKEN, handler).into_router()).await;
    let target = format!("/?{}", signed_query(TOKEN));
    let body = text_delivery(5, "once");

    let three = futures_join3(
        request(addr, "POST", &target, &body),
        request(addr, "POST", &target, &body),
        request(addr, "POST", &target, &body),
    )
    .await;
    assert_eq!(runs.of(5), 1);
    assert!(three.iter().all(|r| r.status == 200 && r.body.starts_with("<xml>")));
    assert!(three.iter().all(|r| r.body == three[0].body), "three identical bodies");

    tokio::time::sleep(Duration::from_secs(10)).await;
    let later = request(addr, "POST", &target, &body).await;
    assert_eq!(later.body, three[0].body, "a retry after the answer gets the same bytes");
    assert_eq!(runs.of(5), 1);
}

async fn futures_join3<F: std::future::Future>(a: F, b: F, c: F) -> [F::Output; 3] {
    let (a, b, c) = tokio::join!(a, b, c);
    [a, b, c]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_from_32_clients_are_each_handled_once() {
    let runs = Runs::default();
    let handler = {
        let runs = runs.clone();
        move |msg: Incoming<'static>| {
            runs.record(&msg);
            async move { msg.reply_text(format!("#{}", msg.msg_id().unwrap())).into_owned() }
        }
    };
    let addr = serve(Endpoint::new(TOKEN, handler).into_router()).await;
    let target = Arc::new(format!("/?{}", signed_query(TOKEN)));
    let clients: Vec<_> = (0..32u64)
        .map(|client| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut answered = 0;
                // Clients 0..8 send 32 messages, the others 31: 1,000 in all.
                let count = if client < 8 { 32 } else { 31 };
                for i in 0..count {
                    let msg_id = client * 1000 + i;
                    let response = request(addr, "POST", &target, &text_delivery(msg_id, "m")).await;
                    assert_eq!(response.status, 200);
                    assert!(response.body.contains(&format!("<Content><![CDATA[#{msg_id}]]></Content>")));
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for client in clients {
        answered += client.await.unwrap();
    }
    assert_eq!(answered, 1000);
    let counts = runs.0.lock().unwrap();
    assert_eq!(counts.len(), 1000);
    assert!(counts.values().all(|&n| n == 1), "a message was handled twice");
}

/// A `subscribe` and a `SCAN` from one user in the same second: by default two deliveries, each
/// answered; with the platform's rule (`seed_dedup_key`) the second is taken for a retry of the
/// first and gets its reply; with a key of the application's own, as that key says.
#[tokio::test]
async fn the_endpoint_keys_deliveries_as_configured() {
    let with_key = |key: Option<fn(&Incoming<'static>) -> passive_reply::DedupKey>| {
        let endpoint = Endpoint::new(TOKEN, |msg: Incoming<'static>| async move {
            let event = msg.field("Event").unwrap_or_default().to_owned();
            msg.reply_text(format!("answered {event}")).with_create_time(1).into_owned()
        });
        match key {
            Some(key) => endpoint.dedup_key(key).into_router(),
            None => endpoint.into_router(),
        }
    };
    let target = format!("/?{}", signed_query(TOKEN));
    let (subscribe, scan) = (event_delivery("subscribe", 1348831860), event_delivery("SCAN", 1348831860));
    let both = |addr| {
        let target = target.clone();
        let (subscribe, scan) = (subscribe.clone(), scan.clone());
        async move {
            let first = request(addr, "POST", &target, &subscribe).await.body;
            let second = request(addr, "POST", &target, &scan).await.body;
            (first, second)
        }
    };
    let (first, second) = both(serve(with_key(None)).await).await;
    assert!(first.contains("answered subscribe") && second.contains("answered SCAN"), "{first} {second}");
    let (first, second) = both(serve(with_key(Some(Incoming::seed_dedup_key))).await).await;
    assert!(first.contains("answered subscribe") && second == first, "the seed's rule: {second}");
    // The application's own: one key per user, whatever the delivery.
    let per_user: fn(&Incoming<'static>) -> passive_reply::DedupKey =
        |msg| passive_reply::DedupKey::new(msg.to_user_name(), msg.from_user_name());
    let (first, second) = both(serve(with_key(Some(per_user))).await).await;
    assert_eq!(first, second);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_full_store_still_answers_and_forgets_after_its_window() {
    // Room for two deliveries with short replies (about 350 bytes each as the store counts them)
    // and the store's one map and its queue (1,808 bytes, counted from the start), and not a third.
    let guard = RetryGuard::with_store(MemoryStore::with_budget(Duration::from_secs(30), 2_576));
    let key = |id: u64| passive_reply::DedupKey::new("gh", &id.to_string());
    let reply = || async { Text::new("u", "gh", "r").with_create_time(1) };
    assert!(!guard.answer(key(1), reply).await.is_empty());
    assert!(!guard.answer(key(2), reply).await.is_empty());
    assert!((1_808 + 2 * 340..=2_576).contains(&guard.store().bytes()), "{}", guard.store().bytes());
    // Full of deliveries the platform may still retry: a third is handled without the guard
    // (not answered empty), and counted.
    let runs = Arc::new(Mutex::new(0));
    let handler = || {
        let runs = runs.clone();
        move || async move {
            *runs.lock().unwrap() += 1;
            Text::new("u", "gh", "third").with_create_time(1)
        }
    };
    let third = guard.answer(key(3), handler()).await;
    assert!(third.ends_with(b"<Content><![CDATA[third]]></Content></xml>"));
    assert_eq!((guard.store().len(), guard.counts().unguarded_full), (2, 1));
    // Unguarded, so its retry runs it again: the price of never answering empty for want of room.
    let _ = guard.answer(key(3), handler()).await;
    assert_eq!(*runs.lock().unwrap(), 2);
    // Past the platform's retry span the first two may go, and the guard works again.
    tokio::time::sleep(passive_reply::serve::RETRY_SPAN).await;
    let _ = guard.answer(key(3), handler()).await;
    let _ = guard.answer(key(3), handler()).await;
    assert_eq!((*runs.lock().unwrap(), guard.store().len(), guard.counts().unguarded_full), (3, 1, 2));
    // After the window every reply is forgotten.
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(!guard.answer(key(4), reply).await.is_empty());
    assert_eq!(guard.store().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Safe and compatible mode, and replays.

use passive_reply::crypto::{MessageCrypto, msg_signature};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OLD_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const APP_ID: &str = "wx0123456789abcdef";

fn account(key: &str, app_id: &str) -> MessageCrypto {
    MessageCrypto::new(TOKEN, key, app_id).unwrap()
}

/// The reply inside an envelope, decrypted with `with`, after the envelope's own signature is
/// checked.
fn opened(with: &MessageCrypto, envelope: &str) -> String {
    let field = |name| common::envelope_field(envelope, name);
    let (encrypt, signature) = (field("Encrypt"), field("MsgSignature"));
    assert_eq!(signature, msg_signature(TOKEN, &field("TimeStamp"), &field("Nonce"), &encrypt), "{envelope}");
    with.decrypt(&encrypt).unwrap()
}

#[tokio::test]
async fn safe_compatible_and_plaintext_deliveries_each_get_their_kind_of_reply() {
    let crypto = account(KEY, APP_ID);
    // Plaintext too, as during an account's switch to safe mode (without it, plaintext is
    // refused: tests/edge.rs).
    let endpoint = Endpoint::new(TOKEN, echo_server::answer()).crypto(crypto.clone()).allow_plaintext(true);
    let addr = serve(endpoint.into_router()).await;
    for (msg_id, compatible) in [(10, false), (11, true)] {
        let (target, body) = encrypted_delivery(&crypto, &text_delivery(msg_id, "加密 ]]> hi"), compatible);
        let response = request(addr, "POST", &target, &body).await;
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(response.body.starts_with("<xml><Encrypt><![CDATA["), "{}", response.body);
        let reply = opened(&crypto, &response.body);
        let reply = Incoming::parse(&reply).unwrap();
        assert_is!(reply.message(), Message::Text { content: "加密 ]]> hi" });
        // The platform's retry gets the same envelope.
        let again = request(addr, "POST", &target, &body).await;
        assert_eq!(again.body, response.body);
    }
    // The empty reply stays empty, encrypted or not.
    let (target, body) = encrypted_delivery(&crypto, &event_delivery("CLICK", 1348831870), false);
    let empty = request(addr, "POST", &target, &body).await;
    assert_eq!((empty.status, empty.body.as_str()), (200, ""));
    // A plaintext delivery to the same endpoint: a plaintext reply.
    let plain = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(12, "plain")).await;
    assert_is!(Incoming::parse(&plain.body).unwrap().message(), Message::Text { content: "plain" });
}

#[tokio::test]
async fn forged_foreign_and_unknown_encrypted_deliveries_are_refused() {
    let crypto = account(KEY, APP_ID);
    let addr = serve(Endpoint::new(TOKEN, echo_server::answer()).crypto(crypto.clone()).into_router()).await;
    let (target, body) = encrypted_delivery(&crypto, &text_delivery(20, "hi"), false);
    // A wrong msg_signature: 403, before anything is decrypted.
    let forged = target.replace("msg_signature=", "msg_signature=0");
    let response = request(addr, "POST", &forged, &body).await;
    assert_eq!((response.status, response.body.as_str()), (403, "msg_signature does not match\n"));
    let unsigned = target.split("&msg_signature").next().unwrap().to_string();
    assert_eq!(request(addr, "POST", &unsigned, &body).await.status, 403);
    // Another account's message, signed with this token: 400, and why.
    let foreign = account(KEY, "wxffffffffffffffff");
    let (target, body) = encrypted_delivery(&foreign, &text_delivery(21, "hi"), false);
    let response = request(addr, "POST", &target, &body).await;
    assert_eq!((response.status, response.body.as_str()), (400, "the message is for another AppID\n"));
    // A body without <Encrypt>.
    let (target, _) = encrypted_delivery(&crypto, &text_delivery(22, "hi"), false);
    let response = request(addr, "POST", &target, "<xml><ToUserName>gh</ToUserName></xml>").await;
    assert_eq!((response.status, response.body.as_str()), (400, "the body has no <Encrypt> element\n"));
    let response = request(addr, "POST", &target, "not xml").await;
    assert_eq!((response.status, response.body.as_str()), (400, "the body has no <Encrypt> element\n"));
    let response = request(addr, "POST", &target, "<xml><Encrypt>abc</Wrong></xml>").await;
    assert_eq!((response.status, response.body.as_str()), (400, "the body is not well-formed XML\n"));
}

#[tokio::test]
async fn a_previous_key_is_accepted_only_when_given_and_the_reply_uses_it() {
    let old = account(OLD_KEY, APP_ID);
    let rotated = account(KEY, APP_ID).with_previous_key(OLD_KEY).unwrap();
    let addr = serve(Endpoint::new(TOKEN, echo_server::answer()).crypto(rotated).into_router()).await;
    let (target, body) = encrypted_delivery(&old, &text_delivery(30, "old key"), false);
    let response = request(addr, "POST", &target, &body).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let reply = opened(&old, &response.body);
    assert_is!(Incoming::parse(&reply).unwrap().message(), Message::Text { content: "old key" });

    let current_only =
        serve(Endpoint::new(TOKEN, echo_server::answer()).crypto(account(KEY, APP_ID)).into_router()).await;
    let response = request(current_only, "POST", &target, &body).await;
    assert_eq!(response.status, 400, "{}", response.body);
}

#[tokio::test]
async fn stale_timestamps_are_refused_as_replays_and_retries_inside_the_window_answered() {
    let now = passive_reply::now();
    let addr = serve(Endpoint::new(TOKEN, echo_server::answer()).into_router()).await;
    let stale =
        request(addr, "POST", &format!("/?{}", signed_query_at(TOKEN, now - 301)), &text_delivery(40, "hi")).await;
    assert_eq!(stale.status, 403);
    assert!(stale.body.contains("more than the 300 s a delivery may be"), "{}", stale.body);
    let future =
        request(addr, "POST", &format!("/?{}", signed_query_at(TOKEN, now + 400)), &text_delivery(41, "hi")).await;
    assert_eq!(future.status, 403);
    // A delivery of four minutes ago, and its retry, still inside the window: answered alike.
    let target = format!("/?{}", signed_query_at(TOKEN, now - 240));
    let first = request(addr, "POST", &target, &text_delivery(42, "late")).await;
    let retry = request(addr, "POST", &target, &text_delivery(42, "late")).await;
    assert_eq!((first.status, retry.status), (200, 200));
    assert_eq!(first.body, retry.body);
    assert!(first.body.contains("<Content><![CDATA[late]]></Content>"));
    // Switched off, a delivery of 2014 is answered.
    let open = serve(Endpoint::new(TOKEN, echo_server::answer()).replay_window(None).into_router()).await;
    let old =
        request(open, "POST", &format!("/?{}", signed_query_at(TOKEN, 1409304348)), &text_delivery(43, "hi")).await;
    assert_eq!(old.status, 200);
}
