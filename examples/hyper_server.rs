//! Serves the platform's URL with hyper alone, no axum: the endpoint's tower service
//! (`Endpoint::into_service`, feature `tower`) on hyper's HTTP/1 connections, through
//! hyper-util's adapter. The same handler as `echo_server`.
//!
//! `cargo run --example hyper_server [-- --addr 127.0.0.1:8080 --token passive-reply]`

use std::net::SocketAddr;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use passive_reply::endpoint::{Endpoint, signature_of};
use passive_reply::{BoxedReply, Empty, Incoming, Message, PassiveReply};

/// Text is echoed; anything else gets the empty reply.
pub async fn answer(msg: Incoming<'static>) -> BoxedReply<'static> {
    match msg.message() {
        Message::Text { content } => msg.reply_text(content.to_owned()).into_owned().boxed(),
        _ => Empty.boxed(),
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
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (timestamp, nonce) = (passive_reply::now().to_string(), "nonce");
    let query = format!("signature={}&timestamp={timestamp}&nonce={nonce}", signature_of(&token, &timestamp, nonce));
    println!("listening on http://{addr}/ with token {token:?} (hyper, no axum); try:");
    println!(
        "  curl -d '<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>{timestamp}</CreateTime>\
         <MsgType>text</MsgType><Content>你好</Content><MsgId>{timestamp}</MsgId></xml>' 'http://{addr}/?{query}'"
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                eprintln!("hyper_server: {e}");
            }
        });
    }
}
