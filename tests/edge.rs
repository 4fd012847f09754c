//! The edge, attacked as a stranger would (issue 21): over real sockets on loopback, one test per
//! way an unauthenticated client (or one holding a captured query) could make the server spend,
//! or believe, what it shouldn't. Each asserts the fixed behaviour.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use passive_reply::axum::Endpoint;
use passive_reply::crypto::MessageCrypto;
use passive_reply::serve::{MemoryStore, RetryGuard};
use passive_reply::server::Server;
use passive_reply::{Incoming, Message, Text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};

mod common;
use common::http::{TOKEN, encrypted_delivery, request, signed_query, signed_query_at, text_delivery};

async fn echo(msg: Incoming<'static>) -> Text<'static> {
    let content = match msg.message() {
        Message::Text { content, .. } => content.to_owned(),
        _ => String::new(),
    };
    msg.reply_text(content).into_owned()
}

/// `service` served by the crate's server, configured by `configure`, on a free loopback port.
async fn serve_with<S, B>(configure: impl FnOnce(Server) -> Server, service: S) -> SocketAddr
where
    S: tower_service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let server = configure(Server::new(TcpListener::bind("127.0.0.1:0").await.unwrap()));
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(service));
    addr
}

/// How long until the server closes `stream` (reads return 0 or fail), reading and discarding
/// whatever it answers meanwhile; `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let started = Instant::now();
    let mut answered = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some((started.elapsed(), answered)),
            Ok(Ok(n)) => answered.extend_from_slice(&buf[..n]),
        }
    }
}

fn head(target: &str, extra: &str) -> String {
    format!("POST {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n")
}

/// Row 1: a head sent a byte at a time, a socket that sends nothing, a body shorter than its
/// Content-Length, a chunked body that never ends. Each is closed by its deadline, never left open.
#[tokio::test]
async fn slow_and_silent_clients_are_closed_by_their_deadlines() {
    let service = Endpoint::new(TOKEN, echo).body_timeout(Duration::from_millis(500)).into_service();
    let addr = serve_with(
        |server| server.header_timeout(Duration::from_millis(400)).idle_timeout(Duration::from_millis(700)),
        service,
    )
    .await;

    // Silent: closed at the idle timeout.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    // A head, a byte every 100 ms: closed at the header timeout, from its first byte.
    let mut slow_head = TcpStream::connect(addr).await.unwrap();
    let dripping = tokio::spawn(async move {
        let started = Instant::now();
        for byte in b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
            if slow_head.write_all(&[*byte]).await.is_err() {
                return started.elapsed();
            }
            sleep(Duration::from_millis(100)).await;
        }
        panic!("the whole slow head was taken");
    });
    // A signed delivery whose body stops 10 bytes short of its Content-Length.
    let body = text_delivery(1, "short");
    let mut short = TcpStream::connect(addr).await.unwrap();
    let target = format!("/?{}", signed_query(TOKEN));
    let short_head = head(&target, &format!("Content-Length: {}\r\n", body.len() + 10));
    short.write_all(format!("{short_head}{body}").as_bytes()).await.unwrap();
    let sent = Instant::now();
    // A signed delivery with a chunked body that never ends.
    let mut endless = TcpStream::connect(addr).await.unwrap();
    endless.write_all(head(&target, "Transfer-Encoding: chunked\r\n").as_bytes()).await.unwrap();
    let feeding = {
        let (_, mut write) = endless.into_split();
        tokio::spawn(async move {
            while write.write_all(b"1\r\na\r\n").await.is_ok() {
                sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let limit = Duration::from_secs(3);
    closed_within(&mut silent, limit).await.expect("a silent socket is closed");
    let took = opened.elapsed();
    assert!(took >= Duration::from_millis(600) && took < Duration::from_millis(1500), "silent: {took:?}");
    let (_, answer) = closed_within(&mut short, limit).await.expect("a short body is closed");
    let took = sent.elapsed();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(1500), "short body: {took:?}");
    let dripped = timeout(limit, dripping).await.expect("the slow head is cut off").unwrap();
    assert!(dripped < Duration::from_millis(1500), "slow head: {dripped:?}");
    timeout(limit, feeding).await.expect("the endless body is cut off").unwrap();
}

/// A signed delivery whose body comes chunked: in three chunks with pauses between them (three
/// frames to the endpoint), and in chunks of one byte: read whole, joined, and answered.
#[tokio::test]
async fn a_body_in_chunks_is_read_whole() {
    let addr = serve_with(|server| server, Endpoint::new(TOKEN, echo).into_service()).await;
    for (msg_id, content, chunk, pause) in [(7, "sent in three chunks", 0, 30), (8, "sent a byte at a time", 1, 0)] {
        let body = text_delivery(msg_id, content);
        let chunk = if chunk == 0 { body.len() / 3 + 1 } else { chunk };
        let target = format!("/?{}", signed_query(TOKEN));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head(&target, "Transfer-Encoding: chunked\r\n").as_bytes()).await.unwrap();
        for part in body.as_bytes().chunks(chunk) {
            stream.write_all(format!("{:x}\r\n", part.len()).as_bytes()).await.unwrap();
            stream.write_all(part).await.unwrap();
            stream.write_all(b"\r\n").await.unwrap();
            sleep(Duration::from_millis(pause)).await;
        }
        stream.write_all(b"0\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.ends_with(b"</xml>") {
            let n = timeout(Duration::from_secs(3), stream.read(&mut buf)).await.expect("answered").unwrap();
            assert!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(&format!("<Content><![CDATA[{content}]]></Content>")), "{answer}");
    }
}

/// Row 1, the descriptors: more idle connections than the server may hold open (its bound is
/// reached before the process's descriptor limit), and a real delivery still answered at once:
/// the connection idle the longest is closed to make room.
#[tokio::test]
async fn idle_connections_beyond_the_bound_never_keep_a_delivery_waiting() {
    let addr = serve_with(|server| server.max_connections(20), Endpoint::new(TOKEN, echo).into_service()).await;
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    sleep(Duration::from_millis(100)).await;
    for n in 0..10 {
        let started = Instant::now();
        let answer = timeout(
            Duration::from_secs(2),
            request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(100 + n, "through")),
        )
        .await
        .expect("answered while the bound is full of idle connections");
        assert_eq!(answer.status, 200);
        assert!(answer.body.contains("through"));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    // Idle connections were closed to make that room, oldest first.
    let mut closed = 0;
    for stream in &mut idle[..20] {
        if closed_within(stream, Duration::from_millis(10)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed >= 10, "only {closed} of the oldest idle connections closed");
}

/// Row 2: a POST without a valid signature is refused before a byte of its body is read, and
/// its connection closed; the bytes of the bodies that are read (valid queries, a captured one
/// among them) are bounded by the endpoint's budget.
#[tokio::test]
async fn unsigned_bodies_are_never_read_and_signed_ones_are_bounded() {
    let service =
        Endpoint::new(TOKEN, echo).body_budget(100_000).body_timeout(Duration::from_millis(600)).into_service();
    let endpoint = service.clone();
    let endpoint = endpoint.endpoint();
    let addr = serve_with(|server| server, service).await;

    // 300 unsigned POSTs that each say 1 MiB and send 64 KiB of it: each refused at once.
    let mut unsigned = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = head("/?timestamp=1&nonce=2", &format!("Content-Length: {}\r\n", (1 << 20) - 1));
        stream.write_all(head.as_bytes()).await.unwrap();
        let _ = stream.write_all(&[b'x'; 64 << 10]).await;
        unsigned.push(stream);
    }
    for stream in &mut unsigned {
        let (took, answer) = closed_within(stream, Duration::from_secs(2)).await.expect("refused and closed");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(took < Duration::from_secs(2));
    }

    // Signed (a captured query, say), five at once, each sending 40,000 bytes of 80,000 and
    // stopping: 200,000 bytes sent, never more than the budget's 100,000 held (those waiting for
    // room are not read meanwhile). Each ends at its deadline: 408 if it was waiting for its
    // body, 503 if for room in the budget (which of the two depends on whose deadline comes
    // first: a waiter finds room as soon as an earlier request gives its bytes back).
    let target = format!("/?{}", signed_query(TOKEN));
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head(&target, "Content-Length: 80000\r\n").as_bytes()).await.unwrap();
        stream.write_all(&[b'x'; 40_000]).await.unwrap();
        held.push(stream);
    }
    let mut most = 0;
    for _ in 0..50 {
        most = most.max(endpoint.body_bytes());
        sleep(Duration::from_millis(10)).await;
    }
    assert!((80_000..=100_000).contains(&most), "{most}");
    let mut statuses = Vec::new();
    for stream in &mut held {
        let (_, answer) = closed_within(stream, Duration::from_secs(3)).await.expect("answered and closed");
        statuses.push(String::from_utf8_lossy(&answer)[9..12].to_string());
    }
    assert!(statuses.iter().all(|status| status == "408" || status == "503"), "{statuses:?}");
    assert_eq!(endpoint.body_bytes(), 0, "all given back");
    // Said longer than a delivery may be: refused before it is read.
    let mut long = TcpStream::connect(addr).await.unwrap();
    long.write_all(head(&target, &format!("Content-Length: {}\r\n", (1 << 20) + 1)).as_bytes()).await.unwrap();
    let (took, answer) = closed_within(&mut long, Duration::from_secs(2)).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer));
    assert!(took < Duration::from_millis(500));
    // And the budget is whole again: a delivery goes through.
    let ok = request(addr, "POST", &target, &text_delivery(200, "after")).await;
    assert_eq!(ok.status, 200);
}

/// Row 3: concurrent deliveries whose handlers make replies far larger than the store's budget:
/// the store never holds more than its budget; each is answered in full, and its retries get
/// the empty reply (the reply is longer than the store keeps, or found no room).
#[tokio::test]
async fn the_memory_store_keeps_its_budget_with_large_replies() {
    let budget = 256 << 10;
    let guard = RetryGuard::with_store(MemoryStore::with_budget(Duration::from_secs(30), budget));
    let runs = Arc::new(AtomicUsize::new(0));
    let big = {
        let runs = runs.clone();
        move |msg: Incoming<'static>| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                sleep(Duration::from_millis(100)).await;
                // 60,000 bytes: under the 64 KiB kept, so only the budget can refuse it.
                msg.reply_text("长".repeat(20_000)).into_owned()
            }
        }
    };
    let addr = serve_with(|server| server, Endpoint::new(TOKEN, big).retry_guard(guard.clone()).into_service()).await;
    let target = format!("/?{}", signed_query(TOKEN));
    let watching = {
        let guard = guard.clone();
        tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..100 {
                most = most.max(guard.store().bytes());
                sleep(Duration::from_millis(5)).await;
            }
            most
        })
    };
    let answers: Vec<_> = (0..30)
        .map(|n| {
            let target = target.clone();
            tokio::spawn(async move { request(addr, "POST", &target, &text_delivery(300 + n, "big")).await })
        })
        .collect();
    for answer in answers {
        let answer = answer.await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body.matches('长').count(), 20_000, "answered in full");
    }
    assert!(guard.store().bytes() <= budget, "{} > {budget}", guard.store().bytes());
    assert!(watching.await.unwrap() <= budget);
    assert_eq!(runs.load(Ordering::SeqCst), 30);
    // Four fit; the others' retries get the empty reply, and no handler runs again.
    let mut kept = 0;
    for n in 0..30 {
        let retry = request(addr, "POST", &target, &text_delivery(300 + n, "big")).await;
        assert_eq!(retry.status, 200);
        if !retry.body.is_empty() {
            kept += 1;
        }
    }
    assert_eq!(kept, 4, "256 KiB hold four replies of 60,000 bytes");
    assert_eq!(guard.store().kept_empty(), 26);
    assert_eq!(runs.load(Ordering::SeqCst), 30);
}

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx0123456789abcdef";

/// Rows 4 and 5: a captured safe-mode query reused without `encrypt_type=aes` (or with `AES`,
/// `raw`, nothing) and a plaintext body is refused; and even where plaintext is allowed for a
/// migration, a planted plaintext delivery can't give its reply to the real encrypted one.
#[tokio::test]
async fn safe_mode_cannot_be_downgraded() {
    let crypto = MessageCrypto::new(TOKEN, KEY, APP_ID).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let counting = {
        let runs = runs.clone();
        move |msg: Incoming<'static>| {
            runs.fetch_add(1, Ordering::SeqCst);
            echo(msg)
        }
    };
    let strict = serve_with(|s| s, Endpoint::new(TOKEN, counting.clone()).crypto(crypto.clone()).into_service()).await;
    let (target, _) = encrypted_delivery(&crypto, &text_delivery(400, "real"), false);
    let query = target.trim_start_matches("/?");
    let planted = text_delivery(400, "planted");
    let without = |param: &str| query.split('&').filter(|part| !part.starts_with(param)).collect::<Vec<_>>().join("&");
    let downgrades = [
        format!("/?{}", without("encrypt_type")),
        format!("/?{}", query.replace("encrypt_type=aes", "encrypt_type=AES")),
        format!("/?{}", query.replace("encrypt_type=aes", "encrypt_type=raw")),
        format!("/?{}", query.replace("encrypt_type=aes", "encrypt_type=aes%20")),
        format!("/?{}", without("msg_signature")),
    ];
    for downgrade in &downgrades {
        let answer = request(strict, "POST", downgrade, &planted).await;
        assert_eq!(answer.status, 403, "{downgrade}: {}", answer.body);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no planted body reached the handler");
    let refused = request(strict, "POST", &downgrades[0], &planted).await;
    assert_eq!(refused.body, "this account takes encrypted deliveries only (encrypt_type=aes)\n");

    // Plaintext allowed for a migration: the planted delivery is answered, and the real encrypted
    // one (same sender, same MsgId) after it still gets its own reply.
    let migrating =
        serve_with(|s| s, Endpoint::new(TOKEN, counting).crypto(crypto.clone()).allow_plaintext(true).into_service())
            .await;
    let answer = request(migrating, "POST", &downgrades[0], &planted).await;
    assert!(answer.body.contains("planted"), "{}", answer.body);
    let (target, body) = encrypted_delivery(&crypto, &text_delivery(400, "real"), false);
    let real = request(migrating, "POST", &target, &body).await;
    assert_eq!(real.status, 200);
    let envelope = |name| common::envelope_field(&real.body, name);
    let reply = crypto.decrypt(&envelope("Encrypt")).unwrap();
    assert!(reply.contains("<Content><![CDATA[real]]></Content>"), "{reply}");
}

/// Row 6: the URL check has the replay window, and tells browsers not to sniff what it reflects.
#[tokio::test]
async fn the_url_check_has_the_replay_window() {
    let addr = serve_with(|s| s, Endpoint::new(TOKEN, echo).into_service()).await;
    let a_year_ago = passive_reply::now() - 365 * 24 * 3600;
    let old = request(addr, "GET", &format!("/?{}&echostr=%3Cscript%3E", signed_query_at(TOKEN, a_year_ago)), "").await;
    assert_eq!(old.status, 403);
    assert!(!old.body.contains("script"));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let check = format!("GET /?{}&echostr=hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", signed_query(TOKEN));
    stream.write_all(check.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-content-type-options: nosniff\r\n"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: text/plain; charset=utf-8\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
}

/// Row 7: with the replay window off, a signed timestamp that is not digits (`]]>`, NUL, a
/// sign, a space) is still refused, so nothing from the query reaches an envelope as it came.
#[tokio::test]
async fn timestamps_must_be_digits_whatever_the_window() {
    let crypto = MessageCrypto::new(TOKEN, KEY, APP_ID).unwrap();
    let addr =
        serve_with(|s| s, Endpoint::new(TOKEN, echo).crypto(crypto.clone()).replay_window(None).into_service()).await;
    for timestamp in ["1]]>", "1\u{0}", "+1", " 1", "1 ", ""] {
        let nonce = "n";
        let signature = passive_reply::axum::signature_of(TOKEN, timestamp, nonce);
        let encoded: String = timestamp.bytes().map(|b| format!("%{b:02X}")).collect();
        let query = format!("signature={signature}&timestamp={encoded}&nonce={nonce}");
        let body = format!("<xml><Encrypt><![CDATA[{}]]></Encrypt></xml>", crypto.encrypt(&text_delivery(500, "x")));
        let answer = request(addr, "POST", &format!("/?{query}&encrypt_type=aes&msg_signature=0"), &body).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (403, "the timestamp is not a whole number of seconds\n"),
            "{timestamp:?}"
        );
        let check = request(addr, "GET", &format!("/?{query}&echostr=e"), "").await;
        assert_eq!(check.status, 403, "{timestamp:?}");
    }
}

/// An axum application that holds the endpoint among its own routes gets the same limits by
/// serving its router with the crate's server: a silent connection closed at the idle timeout,
/// a slow head at the header timeout, and both kinds of route answered.
#[tokio::test]
async fn an_axum_application_served_by_the_crate_s_server() {
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest_service("/wx", Endpoint::new(TOKEN, echo).into_service());
    let addr = serve_with(
        |server| server.header_timeout(Duration::from_millis(300)).idle_timeout(Duration::from_millis(500)),
        app,
    )
    .await;
    let health = request(addr, "GET", "/health", "").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let delivery = request(addr, "POST", &format!("/wx?{}", signed_query(TOKEN)), &text_delivery(600, "nested")).await;
    assert!(delivery.body.contains("nested"), "{}", delivery.body);

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    closed_within(&mut slow, Duration::from_secs(2)).await.expect("the slow head is closed");
    let slow_took = started.elapsed();
    closed_within(&mut silent, Duration::from_secs(2)).await.expect("the silent connection is closed");
    let silent_took = started.elapsed();
    assert!(slow_took >= Duration::from_millis(250) && slow_took < Duration::from_millis(450), "{slow_took:?}");
    assert!(silent_took >= Duration::from_millis(450) && silent_took < Duration::from_millis(900), "{silent_took:?}");
}
