//! Serves the platform's URL: answers a text with the same text, a new follower with a news
//! reply, and anything else with the empty reply.
//!
//! `cargo run --example echo_server [-- --addr 127.0.0.1:8080 --token passive-reply]`
//!
//! Then try it with the URL check the platform makes (the signature is the SHA-1 of the token,
//! timestamp and nonce, sorted and joined), and a delivery; `--help` prints both as curl commands.

use std::net::SocketAddr;

use passive_reply::axum::{Endpoint, signature_of};
use passive_reply::{Article, Articles, Empty, Event, Incoming, Message, News, PassiveReply, Text};

/// What the server answers with: one of three kinds, without boxing.
#[derive(PassiveReply)]
pub enum Answer {
    /// A text, answered with the same text.
    Echo(Text<'static>),
    /// A new follower, welcomed with two articles.
    Welcome(News<'static>),
    /// Anything else: the empty reply.
    Nothing(Empty),
}

/// The handler: text is echoed, a subscription is welcomed, everything else gets no reply.
pub async fn answer(msg: Incoming<'static>) -> Answer {
    match msg.message() {
        Message::Text { content } => Answer::Echo(msg.reply_text(content.to_owned()).into_owned()),
        Message::Event(Event::Subscribe { .. }) => {
            let mut articles = Articles::new(
                Article::new()
                    .title("Welcome")
                    .description("Send any text and it comes back.")
                    .url("https://example.com/welcome"),
            );
            articles
                .push(Article::new().title("How replies are built").url("https://example.com/passive-reply"))
                .expect("2 articles fit");
            Answer::Welcome(msg.reply_news(articles).into_owned())
        }
        _ => Answer::Nothing(Empty),
    }
}

struct Options {
    addr: SocketAddr,
    token: String,
}

fn options() -> Result<Options, String> {
    let mut options = Options { addr: SocketAddr::from(([127, 0, 0, 1], 8080)), token: "passive-reply".into() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--addr" => {
                let addr = value("--addr")?;
                options.addr = addr.parse().map_err(|e| format!("--addr {addr}: {e}"))?;
            }
            "--token" => options.token = value("--token")?,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("echo_server: {problem}");
            }
            eprintln!("usage: cargo run --example echo_server [-- --addr IP:PORT --token TOKEN]");
            std::process::exit(if problem.is_empty() { 0 } else { 2 });
        }
    };
    let listener = match tokio::net::TcpListener::bind(options.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo_server: can't listen on {}: {e}", options.addr);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(options.addr);
    let (timestamp, nonce) = ("1700000000", "nonce");
    let signature = signature_of(&options.token, timestamp, nonce);
    let query = format!("signature={signature}&timestamp={timestamp}&nonce={nonce}");
    println!("listening on http://{addr}/ with token {:?}", options.token);
    println!("try:");
    println!("  curl 'http://{addr}/?{query}&echostr=hello'");
    println!(
        "  curl -d '<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1</MsgId></xml>' 'http://{addr}/?{query}'"
    );
    let app = Endpoint::new(options.token, answer).into_router();
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
