//! The endpoint outside axum, over loopback: its tower service on hyper alone (as
//! `examples/hyper_server.rs` serves it), and its plain async function (`Endpoint::respond`)
//! behind an HTTP/1.1 server written here, as a framework outside tower would call it. (axum's
//! router, a thin layer over the same service, is tests/serving.rs.)

use std::net::SocketAddr;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use passive_reply::endpoint::Endpoint;
use passive_reply::{Incoming, ParseOptions, Text};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

mod common;
use common::http::{TOKEN, request, signed_query, text_delivery};

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
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    check(addr).await;
    // The body is read only up to the limit.
    let long = format!("<xml>{}</xml>", " ".repeat(5000));
    let too_long = request(addr, "POST", &format!("/?{}", signed_query(TOKEN)), &long).await;
    assert_eq!(too_long.status, 413, "{}", too_long.body);
}

/// A framework outside tower: it hands the method, the query and the body to `respond`, and
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
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.unwrap();
                let method = http::Method::from_bytes(method.as_bytes()).unwrap();
                let query = target.split_once('?').map(|(_, query)| query);
                let answer = endpoint.respond(&method, query, body.into()).await;
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
}
