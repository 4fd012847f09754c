//! The third-party platform ("component"), end to end over loopback: its notices (the ticket,
//! authorizations), its authorizers' messages at `/{appid}/callback`, their tokens, late replies
//! with them, and the platform's release test, against a double of the platform's API served by
//! the test (`passive_reply_test::api`) and, for what instances share, a real `redis-server`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passive_reply::client::{Component, MemoryTokenStore, TokenStore};
use passive_reply::crypto::{MessageCrypto, msg_signature};
use passive_reply::endpoint::Endpoint;
use passive_reply::endpoint::component::{Notices, authorizers, release_test};
use passive_reply::endpoint::signature_of;
use passive_reply::serve::{RedisStore, RetryGuard};
use passive_reply::server::Server;
use passive_reply::{BoxedReply, ComponentNotice, Incoming, Message, Notice, PassiveReply, Text};
use tokio::net::TcpListener;

#[macro_use]
mod common;

use common::http::{TOKEN, encrypted_delivery, request, signed_query, text_delivery};
use common::redis_server::RedisServer;
use passive_reply_test::api::{ApiDouble, COMPONENT_APP_ID, COMPONENT_SECRET};

/// The component's key (its token is the helpers' `TOKEN`).
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// An account that authorized the component.
const AUTHORIZER: &str = "wxauthorizer000001";
/// The platform's test account for the release test.
const TEST_ACCOUNT: &str = "wx570bc396a51b8ff8";

fn crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, AES_KEY, COMPONENT_APP_ID).unwrap()
}

fn component(base: &str, store: impl TokenStore) -> Component {
    Component::builder(COMPONENT_APP_ID, COMPONENT_SECRET)
        .api_base(base)
        .retries(0, Duration::from_millis(10))
        .store(store)
        .build()
        .unwrap()
}

async fn serve<S, B>(service: S) -> SocketAddr
where
    S: tower_service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let server = Server::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move { server.serve(service).await.unwrap() });
    addr
}

/// A notice as the platform posts it: encrypted with `with`, signed with its token, the query
/// with `msg_signature`. (`/` as the path: the test serves the notices alone.)
fn notice(with: &MessageCrypto, xml: &str) -> (String, String) {
    let (timestamp, nonce) = (passive_reply::now().to_string(), "1234567");
    let encrypt = with.encrypt(xml);
    let query = format!(
        "signature={}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
        signature_of(with.token(), &timestamp, nonce),
        msg_signature(with.token(), &timestamp, nonce, &encrypt)
    );
    (
        format!("/?{query}"),
        format!("<xml><AppId><![CDATA[{COMPONENT_APP_ID}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
    )
}

fn ticket_notice(ticket: &str) -> String {
    format!(
        "<xml><AppId>{COMPONENT_APP_ID}</AppId><CreateTime>1413192605</CreateTime>\
         <InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>{ticket}</ComponentVerifyTicket></xml>"
    )
}

/// A reply's envelope opened with the component's key (its signature checked), as the platform
/// would: the query's timestamp and nonce are the reply's.
fn open(target: &str, envelope: &str) -> String {
    let query = target.split_once('?').unwrap().1;
    let param = |name: &str| {
        query.split('&').find_map(|pair| pair.strip_prefix(name).and_then(|v| v.strip_prefix('='))).unwrap()
    };
    let start = envelope.find("<MsgSignature><![CDATA[").expect("an envelope") + "<MsgSignature><![CDATA[".len();
    let signature = envelope[start..].split("]]>").next().unwrap();
    crypto().decrypt_delivery(signature, param("timestamp"), param("nonce"), envelope).unwrap()
}

/// Waits until `done` holds of the platform's records, or fails after `within`.
async fn eventually(platform: &ApiDouble, within: Duration, done: impl Fn(&passive_reply_test::api::Recorded) -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !platform.with(|r| done(r)) {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_pushed_to_one_instance_serves_the_other_and_outlives_a_restart() {
    let redis = RedisServer::start();
    let platform = ApiDouble::default();
    platform.with(|r| r.component.ticket = Some("ticket@@@pushed".into()));
    let base = platform.serve().await;
    let store = || async { RedisStore::connect(&redis.url()).await.expect("connects to the test's redis-server") };
    let (a, b) = (component(&base, store().await), component(&base, store().await));
    let addr_a = serve(Notices::new(a.clone(), crypto()).into_service()).await;

    let (target, body) = notice(&crypto(), &ticket_notice("ticket@@@pushed"));
    let pushed = request(addr_a, "POST", &target, &body).await;
    assert_eq!((pushed.status, pushed.body.as_str()), (200, "success"));
    // Instance B never saw the push: it fetches the component's token with the ticket A kept,
    // and A uses the same token (one fetch in all).
    let token = b.access_token().await.unwrap();
    assert_eq!(a.access_token().await.unwrap(), token);
    platform.with(|r| {
        assert_eq!(r.component.token_requests.len(), 1);
        assert_eq!(r.component.token_requests[0]["component_verify_ticket"], "ticket@@@pushed");
    });
    // Both restarted: the ticket and the token are still there.
    let (a, b) = (component(&base, store().await), component(&base, store().await));
    assert_eq!(a.ticket().await.unwrap().as_deref(), Some("ticket@@@pushed"));
    assert_eq!(b.access_token().await.unwrap(), token);
    assert_eq!(platform.with(|r| r.component.token_requests.len()), 1);
}

#[tokio::test]
async fn notices_that_fail_a_check_are_refused_and_keep_nothing() {
    let platform = ApiDouble::default();
    let base = platform.serve().await;
    let store = MemoryTokenStore::new();
    let component = component(&base, store.clone());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let notices = Notices::new(component.clone(), crypto()).on_notice({
        let seen = seen.clone();
        move |notice: ComponentNotice<'static>| {
            seen.lock().unwrap().push(notice.info_type().to_owned());
            async {}
        }
    });
    let addr = serve(notices.into_service()).await;
    let ticket = ticket_notice("ticket@@@bad");

    // Signed with another token.
    let other_token = MessageCrypto::new("another-token", AES_KEY, COMPONENT_APP_ID).unwrap();
    let (target, body) = notice(&other_token, &ticket);
    let refused = request(addr, "POST", &target, &body).await;
    assert_eq!((refused.status, refused.body.as_str()), (403, "the signature does not match\n"));
    // The query's signature right, the body's not (another body under the same query).
    let (target, _) = notice(&crypto(), &ticket);
    let (_, other_body) = notice(&crypto(), &ticket_notice("ticket@@@swapped"));
    let refused = request(addr, "POST", &target, &other_body).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // Encrypted with another key: it doesn't open.
    let other_key = MessageCrypto::new(TOKEN, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", COMPONENT_APP_ID).unwrap();
    let (target, body) = notice(&other_key, &ticket);
    assert_eq!(request(addr, "POST", &target, &body).await.status, 400);
    // Encrypted for another component (the AppID inside is checked).
    let other_app = MessageCrypto::new(TOKEN, AES_KEY, "wxanothercomponent").unwrap();
    let (target, body) = notice(&other_app, &ticket);
    assert_eq!(request(addr, "POST", &target, &body).await.status, 400);
    // Opened, but naming another component.
    let (target, body) = notice(&crypto(), &ticket.replace(COMPONENT_APP_ID, "wxanothercomponent"));
    let refused = request(addr, "POST", &target, &body).await;
    assert_eq!((refused.status, refused.body.as_str()), (403, "the notice is for another component\n"));
    // Unsigned, a GET, no msg_signature.
    assert_eq!(request(addr, "POST", "/", &body).await.status, 403);
    assert_eq!(request(addr, "GET", &format!("/?{}&echostr=x", signed_query(TOKEN)), "").await.status, 405);
    assert_eq!(request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &ticket).await.status, 403);

    assert_eq!(component.ticket().await.unwrap(), None);
    assert!(seen.lock().unwrap().is_empty());

    // And the ones that pass: the ticket kept, an authorization handed on, a withdrawal forgotten.
    let (target, body) = notice(&crypto(), &ticket_notice("ticket@@@good"));
    assert_eq!(request(addr, "POST", &target, &body).await.body, "success");
    assert_eq!(component.ticket().await.unwrap().as_deref(), Some("ticket@@@good"));
    component.set_refresh_token(AUTHORIZER, "REFRESH-old").await.unwrap();
    let withdrawn = format!(
        "<xml><AppId>{COMPONENT_APP_ID}</AppId><CreateTime>1413192760</CreateTime><InfoType>unauthorized</InfoType>\
         <AuthorizerAppid>{AUTHORIZER}</AuthorizerAppid></xml>"
    );
    let (target, body) = notice(&crypto(), &withdrawn);
    assert_eq!(request(addr, "POST", &target, &body).await.body, "success");
    assert_eq!(component.refresh_token(AUTHORIZER).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(seen.lock().unwrap().as_slice(), ["component_verify_ticket", "unauthorized"]);
}

/// Echoes a text; `slow …` after a second, past the test's budget.
fn echo(msg: Incoming<'static>) -> std::pin::Pin<Box<dyn std::future::Future<Output = BoxedReply<'static>> + Send>> {
    Box::pin(async move {
        let content = msg.field("Content").unwrap_or_default().to_owned();
        if content.starts_with("slow") {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Text::new(msg.from_user_name(), msg.to_user_name(), format!("echo: {content}")).into_owned().boxed()
    })
}

/// A component whose ticket is kept, with `AUTHORIZER` authorized (code `code-1`), serving its
/// authorizers' messages with `release_test` over `echo`.
async fn authorized(platform: &ApiDouble) -> (Component, SocketAddr) {
    platform.with(|r| {
        r.component.ticket = Some("ticket@@@1".into());
        r.component.codes.insert("code-1".into(), AUTHORIZER.into());
        r.component.codes.insert("code-2".into(), TEST_ACCOUNT.into());
    });
    let base = platform.serve().await;
    let component = component(&base, MemoryTokenStore::new());
    component.set_ticket("ticket@@@1").await.unwrap();
    let authorization = component.query_auth("code-1").await.unwrap();
    assert_eq!(authorization.authorizer_app_id, AUTHORIZER);
    let guard = RetryGuard::new();
    let accounts = authorizers(
        component.clone(),
        crypto(),
        |appid: String| async move { appid == AUTHORIZER || appid == TEST_ACCOUNT },
        {
            let component = component.clone();
            move |_appid: &str| {
                Endpoint::new("set by the component", release_test(component.clone(), echo))
                    .budget(Duration::from_millis(300))
                    .retry_guard(guard.clone())
            }
        },
    );
    (component, serve(accounts.into_service()).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn authorizers_messages_are_answered_with_the_components_key() {
    let platform = ApiDouble::default();
    let (component, addr) = authorized(&platform).await;
    let (target, body) = encrypted_delivery(&crypto(), &text_delivery(1, "hi"), false);
    let target = target.replacen("/?", &format!("/{AUTHORIZER}/callback?"), 1);
    let answered = request(addr, "POST", &target, &body).await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert_is!(
        Incoming::parse(&open(&target, &answered.body)).unwrap().message(),
        Message::Text { content: "echo: hi" }
    );

    // An AppID the application refuses, or no AppID: 404, the body not even read as XML.
    for path in ["/wxnotauthorized01/callback", "/callback", "/wx1/other", &format!("/{AUTHORIZER}")] {
        let target = target.replacen(&format!("/{AUTHORIZER}/callback"), path, 1);
        let refused = request(addr, "POST", &target, "not a body").await;
        assert_eq!((refused.status, refused.body.as_str()), (404, "no such account\n"), "{path}");
    }
    // Plaintext, though signed with the component's token: refused (safe mode).
    let plain_target = format!("/{AUTHORIZER}/callback?{}", signed_query(TOKEN));
    assert_eq!(request(addr, "POST", &plain_target, &text_delivery(2, "x")).await.status, 403);

    // Past the budget: the empty reply now, then the reply through the customer-service API with
    // the authorizer's token.
    let (target, body) = encrypted_delivery(&crypto(), &text_delivery(3, "slow one"), false);
    let target = target.replacen("/?", &format!("/{AUTHORIZER}/callback?"), 1);
    let late = request(addr, "POST", &target, &body).await;
    assert_eq!((late.status, late.body.as_str()), (200, ""));
    eventually(&platform, Duration::from_secs(5), |r| !r.sends.is_empty()).await;
    let sent = platform.sends();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].token.starts_with(&format!("AUTHORIZER-{AUTHORIZER}-")), "{}", sent[0].token);
    assert_eq!(sent[0].body["text"]["content"], "echo: slow one");
    assert_eq!(sent[0].body["touser"], "oUser");

    // The authorizer's token called stale: refreshed with its refresh token, whose successor is kept.
    let first_refresh = component.refresh_token(AUTHORIZER).await.unwrap().unwrap();
    platform.with(|r| r.component.authorizer_tokens.clear());
    component.authorizer(AUTHORIZER).send(&Text::new("oUser", "gh_account", "again")).await.unwrap();
    platform.with(|r| {
        assert_eq!(r.component.refresh_requests.len(), 1);
        assert_eq!(r.component.refresh_requests[0]["authorizer_refresh_token"], &*first_refresh);
        assert_eq!(r.component.refresh_requests[0]["authorizer_appid"], AUTHORIZER);
    });
    let kept = component.refresh_token(AUTHORIZER).await.unwrap().unwrap();
    assert_ne!(kept, first_refresh);
    assert_eq!(platform.with(|r| r.component.refresh_tokens[AUTHORIZER].clone()), &*kept);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platforms_release_test() {
    let platform = ApiDouble::default();
    let (_component, addr) = authorized(&platform).await;
    let at = |target: String| target.replacen("/?", &format!("/{TEST_ACCOUNT}/callback?"), 1);

    // An event: `<Event>from_callback`.
    let event = "<xml><ToUserName><![CDATA[gh_3c884a361561]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
        <CreateTime>1348831860</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event></xml>";
    let (target, body) = encrypted_delivery(&crypto(), event, false);
    let target = at(target);
    let answered = request(addr, "POST", &target, &body).await;
    let reply = open(&target, &answered.body);
    assert_is!(Incoming::parse(&reply).unwrap().message(), Message::Text { content: "LOCATIONfrom_callback" });

    // The text message: `TESTCOMPONENT_MSG_TYPE_TEXT_callback`.
    let (target, body) = encrypted_delivery(&crypto(), &text_delivery(10, "TESTCOMPONENT_MSG_TYPE_TEXT"), false);
    let target = at(target);
    let answered = request(addr, "POST", &target, &body).await;
    let reply = open(&target, &answered.body);
    assert_is!(
        Incoming::parse(&reply).unwrap().message(),
        Message::Text { content: "TESTCOMPONENT_MSG_TYPE_TEXT_callback" }
    );

    // The authorization code: the empty reply at once, then the code exchanged and
    // `<code>_from_api` sent with the token it gave.
    let (target, body) = encrypted_delivery(&crypto(), &text_delivery(11, "QUERY_AUTH_CODE:code-2"), false);
    let answered = request(addr, "POST", &at(target), &body).await;
    assert_eq!((answered.status, answered.body.as_str()), (200, ""));
    eventually(&platform, Duration::from_secs(5), |r| !r.sends.is_empty()).await;
    platform.with(|r| {
        let codes: Vec<_> = r.component.query_auth_requests.iter().map(|q| q["authorization_code"].clone()).collect();
        assert_eq!(codes, ["code-1", "code-2"]);
        assert_eq!(r.sends.len(), 1);
        assert!(r.sends[0].token.starts_with(&format!("AUTHORIZER-{TEST_ACCOUNT}-")), "{}", r.sends[0].token);
        assert_eq!(
            r.sends[0].body,
            serde_json::json!({"touser": "oUser", "msgtype": "text", "text": {"content": "code-2_from_api"}})
        );
    });
}

#[tokio::test]
async fn an_authorization_notice_handed_to_the_application_gives_the_accounts_tokens() {
    let platform = ApiDouble::default();
    platform.with(|r| {
        r.component.ticket = Some("ticket@@@1".into());
        r.component.codes.insert("code-9".into(), AUTHORIZER.into());
    });
    let base = platform.serve().await;
    let component = component(&base, MemoryTokenStore::new());
    component.set_ticket("ticket@@@1").await.unwrap();
    let (done, mut exchanged) = tokio::sync::mpsc::unbounded_channel();
    let notices = Notices::new(component.clone(), crypto()).on_notice({
        let component = component.clone();
        move |notice: ComponentNotice<'static>| {
            let (component, done) = (component.clone(), done.clone());
            async move {
                if let Notice::Authorized { authorization_code, .. } = notice.notice() {
                    let _ = done.send(component.query_auth(authorization_code).await.map(|a| a.authorizer_app_id));
                }
            }
        }
    });
    let addr = serve(notices.into_service()).await;
    let authorized = format!(
        "<xml><AppId>{COMPONENT_APP_ID}</AppId><CreateTime>1413192760</CreateTime><InfoType>authorized</InfoType>\
         <AuthorizerAppid>{AUTHORIZER}</AuthorizerAppid><AuthorizationCode>code-9</AuthorizationCode>\
         <AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime><PreAuthCode>pre</PreAuthCode></xml>"
    );
    let (target, body) = notice(&crypto(), &authorized);
    assert_eq!(request(addr, "POST", &target, &body).await.body, "success");
    let app_id = tokio::time::timeout(Duration::from_secs(5), exchanged.recv()).await.unwrap().unwrap().unwrap();
    assert_eq!(app_id, AUTHORIZER);
    assert!(component.refresh_token(AUTHORIZER).await.unwrap().is_some());
    // The account's client has its token without asking for one.
    let token = component.authorizer(AUTHORIZER).access_token().await.unwrap();
    assert!(token.starts_with(&format!("AUTHORIZER-{AUTHORIZER}-")));
    assert!(platform.with(|r| r.component.refresh_requests.is_empty()));
}

#[tokio::test]
async fn the_platforms_refusals_are_told_and_a_stale_component_token_is_replaced_once() {
    let platform = ApiDouble::default();
    platform.with(|r| r.component.codes.insert("code-1".into(), AUTHORIZER.into()));
    let base = platform.serve().await;
    let component = component(&base, MemoryTokenStore::new());
    // No ticket yet: nothing to fetch the component's token with, and it says so.
    let no_ticket = component.query_auth("code-1").await.unwrap_err();
    assert!(no_ticket.to_string().contains("component_verify_ticket"), "{no_ticket}");
    assert!(platform.with(|r| r.component.token_requests.is_empty()));
    // A ticket the platform doesn't know (an old one): its error, as the platform gave it.
    platform.with(|r| r.component.ticket = Some("ticket@@@current".into()));
    component.set_ticket("ticket@@@old").await.unwrap();
    let refused = component.access_token().await.unwrap_err();
    assert_eq!(refused.code(), Some(61006));
    component.set_ticket("ticket@@@current").await.unwrap();
    let first = component.access_token().await.unwrap();
    // The component's token called stale by the platform (replaced elsewhere): fetched again,
    // and the call made once more.
    platform.with(|r| r.component.valid = None);
    let authorization = component.query_auth("code-1").await.unwrap();
    assert_eq!(authorization.authorizer_app_id, AUTHORIZER);
    assert_ne!(component.access_token().await.unwrap(), first);
    platform.with(|r| {
        assert_eq!(r.component.token_requests.len(), 3);
        assert_eq!(r.component.query_auth_requests.len(), 2);
    });
    // A code the platform doesn't know: its error; nothing kept for an account.
    let expired = component.query_auth("code-unknown").await.unwrap_err();
    assert_eq!(expired.code(), Some(61010));
    // An account with no refresh token kept: its client says what is missing.
    let unknown = component.authorizer("wxneverauthorized1").access_token().await.unwrap_err();
    assert!(unknown.to_string().contains("no refresh token"), "{unknown}");
}
