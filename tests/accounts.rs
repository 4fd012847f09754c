//! Many accounts on one server (`endpoint::Accounts`), over real sockets to the crate's server:
//! each account answered in its own mode with its own key, one account's signature refused on
//! another's path, the same MsgId kept apart, names that are no account's refused before the
//! body is read, and accounts found at run time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passive_reply::crypto::MessageCrypto;
use passive_reply::endpoint::{Accounts, Endpoint};
use passive_reply::serve::RetryGuard;
use passive_reply::server::Server;
use passive_reply::{BoxedReply, Incoming, Message, PassiveReply, Text};
use tokio::net::TcpListener;

#[macro_use]
mod common;

use common::http::{TOKEN, encrypted_delivery, request, signed_query, text_delivery};

/// The plaintext account's token (the safe-mode one signs with `TOKEN`, as the helpers do).
const PLAIN_TOKEN: &str = "plain-token";
/// The safe-mode account's key and AppID.
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx5823bf96d3bd56c7";

/// What the handlers saw: (account, content), in order.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A handler made for `account`: it answers with the account's name and records the delivery.
fn answer(
    account: &'static str,
    seen: Seen,
) -> impl Fn(Incoming<'static>) -> std::future::Ready<BoxedReply<'static>> + Clone + Send + Sync + 'static {
    move |msg: Incoming<'static>| {
        let content = msg.field("Content").unwrap_or_default().to_owned();
        seen.lock().unwrap().push((account.to_owned(), content.clone()));
        let text = format!("{account}: {content}");
        std::future::ready(Text::new(msg.from_user_name(), msg.to_user_name(), text).into_owned().boxed())
    }
}

fn crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, AES_KEY, APP_ID).unwrap()
}

async fn serve<H, Fut>(accounts: Accounts<H>) -> SocketAddr
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = BoxedReply<'static>> + Send + 'static,
{
    let server = Server::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = server.local_addr().unwrap();
    let service = accounts.into_service();
    tokio::spawn(async move { server.serve(service).await.unwrap() });
    addr
}

/// Two accounts sharing one retry guard: `plain` in plaintext mode, `safe` in safe mode.
fn two_accounts(
    seen: &Seen,
) -> Accounts<impl Fn(Incoming<'static>) -> std::future::Ready<BoxedReply<'static>> + Clone + Send + Sync + 'static> {
    let guard = RetryGuard::new();
    // Both endpoints have the same handler type: made by one function.
    let make = |account: &'static str, token: &str| {
        Endpoint::new(token, answer(account, seen.clone())).retry_guard(guard.clone())
    };
    Accounts::new().account("plain", make("plain", PLAIN_TOKEN)).account("safe", make("safe", TOKEN).crypto(crypto()))
}

#[tokio::test]
async fn each_account_in_its_mode_with_its_key() {
    let seen = Seen::default();
    let addr = serve(two_accounts(&seen)).await;

    let plain = request(addr, "POST", &format!("/plain?{}", signed_query(PLAIN_TOKEN)), &text_delivery(1, "hi")).await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let reply = Incoming::parse(&plain.body).unwrap();
    assert_is!(reply.message(), Message::Text { content: "plain: hi" });

    let (target, body) = encrypted_delivery(&crypto(), &text_delivery(2, "secret"), false);
    let target = target.replacen("/?", "/wx/safe?", 1);
    let safe = request(addr, "POST", &target, &body).await;
    assert_eq!(safe.status, 200, "{}", safe.body);
    // Encrypted with the safe account's key: opened with it, it is the account's answer.
    assert!(safe.body.contains("<Encrypt>"), "{}", safe.body);
    let query = target.split_once('?').unwrap().1;
    let param = |name: &str| {
        query.split('&').find_map(|pair| pair.strip_prefix(name).and_then(|v| v.strip_prefix('='))).unwrap()
    };
    let opened =
        crypto().decrypt_delivery(&signature_of_reply(&safe.body), param("timestamp"), param("nonce"), &safe.body);
    let opened = opened.unwrap();
    assert_is!(Incoming::parse(&opened).unwrap().message(), Message::Text { content: "safe: secret" });

    // The safe account refuses plaintext; the plaintext account has no key to open anything.
    let refused = request(addr, "POST", &format!("/safe?{}", signed_query(TOKEN)), &text_delivery(3, "x")).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(seen.lock().unwrap().as_slice(), [("plain".into(), "hi".into()), ("safe".into(), "secret".into())]);
}

/// The MsgSignature inside a reply's envelope.
fn signature_of_reply(envelope: &str) -> String {
    let start = envelope.find("<MsgSignature><![CDATA[").unwrap() + "<MsgSignature><![CDATA[".len();
    envelope[start..].split("]]>").next().unwrap().to_owned()
}

#[tokio::test]
async fn one_accounts_signature_is_refused_on_anothers_path() {
    let seen = Seen::default();
    let addr = serve(two_accounts(&seen)).await;
    // Signed with the safe account's token, sent to the plaintext account: refused before the
    // body, whatever it holds.
    let wrong = request(addr, "POST", &format!("/plain?{}", signed_query(TOKEN)), &text_delivery(1, "hi")).await;
    assert_eq!((wrong.status, wrong.body.as_str()), (403, "the signature does not match\n"));
    // And the other way: the plaintext account's signature on the safe account's path.
    let wrong = request(addr, "GET", &format!("/safe?{}&echostr=e", signed_query(PLAIN_TOKEN)), "").await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    // Each account's own URL check passes.
    let check = request(addr, "GET", &format!("/plain?{}&echostr=hello", signed_query(PLAIN_TOKEN)), "").await;
    assert_eq!((check.status, check.body.as_str()), (200, "hello"));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_same_msg_id_to_two_accounts_is_answered_for_each() {
    let guard = RetryGuard::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let make = |account: &'static str| {
        let runs = runs.clone();
        let handler = move |msg: Incoming<'static>| {
            runs.fetch_add(1, Ordering::SeqCst);
            let text = format!("{account}: {}", msg.field("Content").unwrap_or_default());
            std::future::ready(Text::new(msg.from_user_name(), msg.to_user_name(), text).into_owned().boxed())
        };
        Endpoint::new(PLAIN_TOKEN, handler).retry_guard(guard.clone())
    };
    // Same token, same ToUserName, same sender, same MsgId: only the path tells them apart.
    let addr = serve(Accounts::new().account("a", make("a")).account("b", make("b"))).await;
    let body = text_delivery(42, "same");
    let mut answers = Vec::new();
    for path in ["a", "b", "a", "b"] {
        let response = request(addr, "POST", &format!("/{path}?{}", signed_query(PLAIN_TOKEN)), &body).await;
        assert_eq!(response.status, 200);
        answers.push(Incoming::parse(&response.body).unwrap().field("Content").unwrap().to_owned());
    }
    assert_eq!(answers, ["a: same", "b: same", "a: same", "b: same"]);
    // Once per account: the retries were answered from the shared store.
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn names_that_are_no_accounts_are_refused_before_the_body() {
    let seen = Seen::default();
    let addr = serve(two_accounts(&seen)).await;
    let query = signed_query(PLAIN_TOKEN);
    for path in ["/nobody", "/", "/plain%2F", &format!("/{}", "a".repeat(65)), "/plain/extra"] {
        let response = request(addr, "POST", &format!("{path}?{query}"), &text_delivery(1, "hi")).await;
        assert_eq!((response.status, response.body.as_str()), (404, "no such account\n"), "{path}");
    }
    // Refused with the body unread: a request that says it has 10 MB gets its 404 at once.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!("POST /nobody?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 404"));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn accounts_found_at_run_time() {
    let seen = Seen::default();
    let lookups = Arc::new(AtomicUsize::new(0));
    // The "database": one account, its endpoint made when it is first asked for, then kept.
    let kept = Arc::new(Mutex::new(None));
    let (seen2, lookups2) = (seen.clone(), lookups.clone());
    let resolver = move |name: String| {
        lookups2.fetch_add(1, Ordering::SeqCst);
        let (kept, seen) = (kept.clone(), seen2.clone());
        async move {
            match name.as_str() {
                "dynamic" => Some(
                    kept.lock()
                        .unwrap()
                        .get_or_insert_with(|| {
                            Arc::new(Endpoint::new(PLAIN_TOKEN, answer("dynamic", seen)).account("dynamic"))
                        })
                        .clone(),
                ),
                // A mistake: an endpoint not named after its account is not used.
                "misnamed" => Some(Arc::new(Endpoint::new(PLAIN_TOKEN, answer("misnamed", seen)))),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    None
                }
                _ => None,
            }
        }
    };
    let accounts = Accounts::new()
        .account("fixed", Endpoint::new(PLAIN_TOKEN, answer("fixed", seen.clone())))
        .resolver(resolver)
        .resolve_timeout(Duration::from_millis(200));
    let addr = serve(accounts).await;
    let post = |path: &'static str, id: u64| {
        let query = signed_query(PLAIN_TOKEN);
        async move { request(addr, "POST", &format!("/{path}?{query}"), &text_delivery(id, path)).await }
    };
    assert_eq!(post("dynamic", 1).await.status, 200);
    assert_eq!(post("dynamic", 2).await.status, 200);
    assert_eq!(post("fixed", 3).await.status, 200);
    assert_eq!(post("nobody", 4).await.status, 404);
    assert_eq!(post("misnamed", 5).await.status, 500);
    assert_eq!(post("slow", 6).await.status, 503);
    // The fixed account is never looked up; a name that is not a name neither.
    assert_eq!(post("a%20b", 7).await.status, 404);
    assert_eq!(lookups.load(Ordering::SeqCst), 5);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [("dynamic".into(), "dynamic".into()), ("dynamic".into(), "dynamic".into()), ("fixed".into(), "fixed".into())]
    );
}

#[tokio::test]
async fn accounts_share_the_processs_body_budget() {
    let seen = Seen::default();
    let addr = serve(two_accounts(&seen)).await;
    // Half a body, signed for `plain`, held open.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    let head =
        format!("POST /plain?{} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n", signed_query(PLAIN_TOKEN));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b' '; 5000]).await.unwrap();
    // Any endpoint with the default budget counts those bytes: one budget for the process, however
    // many accounts (each with its endpoint) are served.
    let probe = Endpoint::new("probe", |_: Incoming<'static>| async { passive_reply::Empty });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while probe.body_bytes() < 5000 {
        assert!(tokio::time::Instant::now() < deadline, "the held body is not counted: {}", probe.body_bytes());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
