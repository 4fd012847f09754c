//! Serves the platform's URL with hyper alone, no axum and not the crate's own server: the
//! endpoint's tower service (`Endpoint::into_service`, feature `tower`) on hyper's HTTP/1
//! connections, through hyper-util's adapter, with the limits a public URL needs set by hand
//! (what `passive_reply::server::Server` sets for you). The same handler as `echo_server`.
//!
//! `cargo run --example hyper_server [-- --addr 127.0.0.1:8080 --token passive-reply]`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use passive_reply::endpoint::{Endpoint, signature_of};
use passive_reply::{BoxedReply, Empty, Incoming, Message, PassiveReply};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Text is echoed; anything else gets the empty reply.
pub async fn answer(msg: Incoming<'static>) -> BoxedReply<'static> {
    match msg.message() {
        Message::Text { content, .. } => msg.reply_text(content.to_owned()).into_owned().boxed(),
        _ => Empty.boxed(),
    }
}

/// hyper's HTTP/1 connections with the limits of the crate's server: a request's head must come
/// within 2 s (hyper's timer starts when a connection opens and when it goes idle between
/// requests, so this is the idle timeout too), and at most 16 KiB of it are read. Without a
/// timer, hyper has no header timeout at all.
pub fn protected_http1() -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(2)).max_buf_size(16 << 10);
    http
}

/// Serves `service` on `listener` with [`protected_http1`] and at most `max_connections` open at
/// once (keep it under the process's descriptor limit, `ulimit -n`): past it, new connections
/// wait in the listener's backlog. The body's deadline and the bound on the bytes of bodies being
/// read are the endpoint's own (`Endpoint::body_timeout`, `Endpoint::body_budget`).
pub async fn serve<S, B>(listener: TcpListener, service: S, max_connections: usize)
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
    let http = protected_http1();
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, or a connection reset before it was taken: wait, go on.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut token = "passive-reply".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value.parse().map_err(std::io::Error::other)?,
            ("--token", Some(value)) => token = value,
            _ => {
                eprintln!("usage: cargo run --example hyper_server [-- --addr IP:PORT --token TOKEN]");
                std::process::exit(2);
            }
        }
    }
    let service = Endpoint::new(token.clone(), answer).into_service();
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (timestamp, nonce) = (passive_reply::now().to_string(), "nonce");
    let query = format!("signature={}&timestamp={timestamp}&nonce={nonce}", signature_of(&token, &timestamp, nonce));
    println!("listening on http://{addr}/ with token {token:?} (hyper, no axum); try:");
    println!(
        "  curl -d '<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>{timestamp}</CreateTime>\
         <MsgType>text</MsgType><Content>你好</Content><MsgId>{timestamp}</MsgId></xml>' 'http://{addr}/?{query}'"
    );
    serve(listener, service, 768).await;
    Ok(())
}
