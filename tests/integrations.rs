//! The endpoint outside axum, over loopback: its tower service on hyper alone (as
//! `examples/hyper_server.rs` serves it), and its plain async function (`Endpoint::respond`)
//! behind an HTTP/1.1 server written here, as a framework outside tower would call it. (axum's
//! router, a thin layer over the same service, is tests/serving.rs.)

use std::net::SocketAddr;

use std::time::Duration;

use passive_reply::endpoint::Endpoint;
use passive_reply::{Incoming, ParseOptions, Text};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

mod common;
use common::http::{TOKEN, request, signed_query, text_delivery};

#[path = "../examples/hyper_server.rs"]
#[allow(dead_code)]
mod hyper_server;

async fn answer(msg: Incoming<'static>) -> Text<'static> {
    msg.reply_text("served").into_owned()
}

/// What every integration must answer the same way.
async fn check(addr: SocketAddr) {
    let query = signed_query(TOKEN);
    let reply = request(addr, "POST", &format!("/?{query}"), &text_delivery(1, "hi")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type.as_deref(), Some("text/xml; charset=utf-8"));
    assert!(reply.body.starts_with("<xml><ToUserName><![CDATA[oUser]]></ToUserName>"), "{}", reply.body);
    assert!(reply.body.ends_with("<Content><![CDATA[served]]></Content></xml>"), "{}", reply.body);
    // The platform's retry: the same bytes.
    let retry = request(addr, "POST", &format!("/?{query}"), &text_delivery(1, "hi")).await;
    assert_eq!(retry.body, reply.body);
    let check = request(addr, "GET", &format!("/?{query}&echostr=hello"), "").await;
    assert_eq!((check.status, check.body.as_str()), (200, "hello"));
    let forged = request(addr, "POST", "/?signature=0&timestamp=1&nonce=2", &text_delivery(2, "hi")).await;
    assert_eq!(forged.status, 403);
    let not_xml = request(addr, "POST", &format!("/?{query}"), "{\"json\": true}").await;
    assert_eq!(not_xml.status, 400, "{}", not_xml.body);
    let put = request(addr, "PUT", &format!("/?{query}"), "").await;
    assert_eq!(put.status, 405);
}

#[tokio::test]
async fn hyper_alone() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Endpoint::new(TOKEN, answer).parse_options(ParseOptions::new().max_body_len(4096)).into_service();
    // The example's own protections: hyper's header timeout (which is its idle timeout too), its
    // read buffer, and a bound on connections.
    tokio::spawn(hyper_server::serve(listener, service, 8));
    check(addr).await;
    // The body is read only up to the limit.
    let long = format!("<xml>{}</xml>", " ".repeat(5000));
    let too_long = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &long).await;
    assert_eq!(too_long.status, 413, "{}", too_long.body);
    // A connection that sends nothing, and one that sends its head a byte a second, are closed
    // by hyper's header timeout (2 s), and give their places back: eight of them, the bound,
    // then a delivery that waited for a place is answered.
    let mut idle = Vec::new();
    for n in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        if n % 2 == 1 {
            stream.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
        }
        idle.push(stream);
    }
    let started = tokio::time::Instant::now();
    let waited = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &text_delivery(3, "hi")).await;
    assert_eq!(waited.status, 200);
    let took = started.elapsed();
    assert!(took > Duration::from_millis(1500) && took < Duration::from_secs(4), "{took:?}");
    for stream in &mut idle {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(_)) | Ok(Err(_))), "closed by the header timeout");
    }
}

/// A framework outside tower: it asks `authorize` with the method and the query before it reads
/// the body (an unsigned request is answered without it), hands the body to `respond`, and
/// writes what it gets back.
#[tokio::test]
async fn the_plain_async_function() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let endpoint = std::sync::Arc::new(Endpoint::new(TOKEN, answer));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                stream.read_line(&mut line).await.unwrap();
                let mut words = line.split(' ');
                let (method, target) = (words.next().unwrap().to_owned(), words.next().unwrap().to_owned());
                let mut length = 0;
                loop {
                    line.clear();
                    stream.read_line(&mut line).await.unwrap();
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(": ")
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.parse().unwrap();
                    }
                }
                let method = http::Method::from_bytes(method.as_bytes()).unwrap();
                let query = target.split_once('?').map(|(_, query)| query);
                let answer = match endpoint.authorize(&method, query) {
                    Err(answer) => answer,
                    Ok(delivery) if length > delivery.body_limit() => {
                        let refusal =
                            "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                        stream.into_inner().write_all(refusal.as_bytes()).await.unwrap();
                        return;
                    }
                    Ok(delivery) => {
                        let mut body = vec![0; length];
                        stream.read_exact(&mut body).await.unwrap();
                        delivery.respond(body.into()).await
                    }
                };
                let mut head = format!("HTTP/1.1 {}\r\nContent-Length: {}\r\n", answer.status(), answer.body().len());
                if let Some(content_type) = answer.content_type() {
                    head.push_str(&format!("Content-Type: {content_type}\r\n"));
                }
                head.push_str("Connection: close\r\n\r\n");
                let mut stream = stream.into_inner();
                stream.write_all(head.as_bytes()).await.unwrap();
                stream.write_all(answer.body()).await.unwrap();
            });
        }
    });
    check(addr).await;
    // Unsigned, saying 100 MB and sending none of it: answered at once, nothing read or held.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = "POST /?timestamp=1&nonce=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(1), stream.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}
