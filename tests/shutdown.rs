//! Stopping at a deploy: SIGTERM to this very process (a test binary of its own, so that the
//! signal reaches nothing else) while a late reply's handler runs. The server stops accepting,
//! and `serve_until_signal` returns only after the reply was sent through the platform double's
//! customer-service API, once; a second SIGTERM gives up at once, and says what it gave up.
//! The examples stop through the same `Server::serve_until_signal`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use passive_reply::client::Client;
use passive_reply::endpoint::Endpoint;
use passive_reply::serve::LateReplies;
use passive_reply::server::{Server, Stopped};
use passive_reply::{Incoming, Text};
use tokio::net::TcpListener;

mod common;

use common::http::{TOKEN, request, signed_query, text_delivery};
use passive_reply_test::api::{APP_ID, ApiDouble, SECRET};

/// `slow N`: answered after N hundred milliseconds (past the test's 200 ms budget: late).
async fn slow(msg: Incoming<'static>) -> Text<'static> {
    let content = msg.field("Content").unwrap_or_default().to_owned();
    let tenths = content.strip_prefix("slow ").and_then(|n| n.parse().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(100 * tenths)).await;
    msg.reply_text(format!("done: {content}")).into_owned()
}

fn sigterm() {
    let pid = std::process::id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

async fn start(platform: &ApiDouble) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<Stopped>>) {
    start_with_grace(platform, Duration::from_secs(20)).await
}

async fn start_with_grace(
    platform: &ApiDouble,
    late_grace: Duration,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<Stopped>>) {
    let base = platform.serve().await;
    let client = Client::builder(APP_ID, SECRET).api_base(base).build().unwrap();
    let endpoint = Endpoint::new(TOKEN, slow).budget(Duration::from_millis(200)).late_replies(LateReplies::new(client));
    let server = Server::new(TcpListener::bind("127.0.0.1:0").await.unwrap()).late_grace(late_grace);
    let addr = server.local_addr().unwrap();
    (addr, tokio::spawn(server.serve_until_signal(endpoint.into_service())))
}

/// One test: a signal reaches the whole process, so the two stops run one after the other.
#[tokio::test(flavor = "multi_thread")]
async fn a_signal_waits_for_the_late_replies_and_a_second_gives_them_up() {
    // A delivery whose handler takes 1.5 s: answered empty, then sent late.
    let platform = ApiDouble::default();
    let (addr, serving) = start(&platform).await;
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(1, "slow 15")).await;
    assert_eq!((answered.status, answered.body.as_str()), (200, ""));
    // A request under way when the signal comes (its handler takes 100 ms, within the budget) is
    // answered, not cut.
    let under_way = tokio::spawn(async move {
        request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(3, "slow 1")).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let signalled = Instant::now();
    sigterm();
    let under_way = under_way.await.unwrap();
    assert_eq!(under_way.status, 200);
    assert!(under_way.body.contains("done: slow 1"), "{}", under_way.body);
    // The listener closes at once: no new connection is served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after SIGTERM");
    assert!(platform.sends().is_empty(), "sent before its handler finished");
    let stopped = tokio::time::timeout(Duration::from_secs(10), serving).await.unwrap().unwrap().unwrap();
    // It stopped only once the reply was sent, and sent once.
    let sends = platform.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].body["text"]["content"], "done: slow 15");
    assert!(signalled.elapsed() >= Duration::from_millis(1000), "stopped after {:?}", signalled.elapsed());
    assert_eq!((stopped.abandoned.len(), stopped.forced), (0, false));

    // A handler of 30 s: the first signal waits for it, the second gives it up, and says so.
    let platform = ApiDouble::default();
    let (addr, serving) = start(&platform).await;
    let body = text_delivery(2, "slow 300");
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &body).await;
    assert_eq!(answered.status, 200);
    sigterm();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!serving.is_finished(), "the first signal didn't wait for the late reply");
    let second = Instant::now();
    sigterm();
    let stopped = tokio::time::timeout(Duration::from_secs(2), serving).await.unwrap().unwrap().unwrap();
    assert!(second.elapsed() < Duration::from_secs(1));
    assert!(stopped.forced);
    assert_eq!(stopped.abandoned.len(), 1);
    assert_eq!(stopped.abandoned[0].key, Incoming::parse(&body).unwrap().dedup_key());
    assert!(stopped.abandoned[0].ran >= Duration::from_millis(500), "{:?}", stopped.abandoned[0].ran);
    assert!(platform.sends().is_empty());

    // One signal, and the late grace (600 ms) ends before the 30-second handler: given up then.
    let platform = ApiDouble::default();
    let (addr, serving) = start_with_grace(&platform, Duration::from_millis(600)).await;
    let body = text_delivery(4, "slow 300");
    assert_eq!(request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &body).await.status, 200);
    let signalled = Instant::now();
    sigterm();
    let stopped = tokio::time::timeout(Duration::from_secs(3), serving).await.unwrap().unwrap().unwrap();
    assert!(signalled.elapsed() >= Duration::from_millis(600), "{:?}", signalled.elapsed());
    assert!(!stopped.forced);
    assert_eq!(stopped.abandoned.len(), 1);
    assert_eq!(stopped.abandoned[0].key, Incoming::parse(&body).unwrap().dedup_key());
    assert!(platform.sends().is_empty());
}

/// The example itself (`cargo test --workspace --all-features` builds it with late replies), as
/// a deploy stops it: SIGTERM while its 6-second handler runs. Started with late replies through
/// the platform double at `api`.
async fn run_example(api: &str) -> (std::process::Child, SocketAddr) {
    common::example::start(&["--token", TOKEN, "--app-id", APP_ID, "--app-secret", SECRET, "--api-base", api]).await
}

fn signal(child: &std::process::Child) {
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

/// Waits for the child to exit, at most `within`: its exit code and its output.
async fn exited(mut child: std::process::Child, within: Duration) -> (i32, String) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
            return (status.code().unwrap_or(-1), out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example didn't exit within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_stops_only_once_its_late_reply_is_sent() {
    let platform = ApiDouble::default();
    let api = platform.serve().await;

    // `sleep 6`: the empty reply at the 4-second budget, SIGTERM then; the send at 6 s, then exit.
    let (child, addr) = run_example(&api).await;
    let delivered = Instant::now();
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(1, "sleep 6")).await;
    assert_eq!((answered.status, answered.body.as_str()), (200, ""));
    signal(&child);
    let (code, out) = exited(child, Duration::from_secs(15)).await;
    assert_eq!(code, 0, "{out}");
    assert!(delivered.elapsed() >= Duration::from_secs(6), "exited after {:?}", delivered.elapsed());
    let sends = platform.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].body["text"]["content"], "sleep 6");
    assert!(out.contains("Sent") && out.ends_with("stopped\n"), "{out}");

    // `sleep 60`: the first SIGTERM waits for it, the second gives it up at once, and says so.
    let (mut child, addr) = run_example(&api).await;
    let answered = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(2, "sleep 60")).await;
    assert_eq!(answered.status, 200);
    signal(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().unwrap().is_none(), "the first SIGTERM didn't wait");
    let second = Instant::now();
    signal(&child);
    let (code, out) = exited(child, Duration::from_secs(5)).await;
    assert!(second.elapsed() < Duration::from_secs(2), "{:?}", second.elapsed());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("gave up the late reply to"), "{out}");
    assert_eq!(platform.sends().len(), 1);
}
