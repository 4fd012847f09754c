//! Serves the platform's URL, routed: answers a text with the same text, `count` with 1, then 2,
//! then 3… for each user (a conversation: a session), a new follower with a news reply, and
//! anything else with the empty reply.
//!
//! `cargo run --example echo_server [-- --addr 127.0.0.1:8080 --token passive-reply]`
//!
//! With `--aes-key KEY --app-id ID` it serves an account in safe or compatible mode (encrypted
//! deliveries, encrypted replies; plaintext refused, unless `--allow-plaintext` as while an
//! account is switched to safe mode); `--replay-window SECONDS` sets how old a delivery may be (0
//! switches the check off; default 300).
//!
//! With `--redis URL` (and `--features redis`) its retry guard and its sessions are kept in that
//! Redis, so several instances behind one URL answer each delivery once and continue one count:
//! `cargo run --features redis --example echo_server -- --redis redis://127.0.0.1:6379/`.
//!
//! With `--account NAME:TOKEN[:AES_KEY:APP_ID]`, repeated, it serves several accounts at once,
//! each at `/NAME` with its own token (and key: safe mode), sharing one retry guard whose keys
//! keep the accounts apart (`passive_reply::endpoint::Accounts`).
//!
//! A text `sleep N` is answered after N seconds: past the 4-second budget, the platform gets the
//! empty reply. With `--app-id ID --app-secret SECRET --api-base URL` (and `--features client`)
//! such a reply is sent later through the customer-service message API instead, and what became of
//! it is printed: `cargo run --features client --example echo_server -- --app-id wx… --app-secret …
//! --api-base https://api.weixin.qq.com`.
//!
//! It serves with the crate's own server (`passive_reply::server::Server`), whose limits bound
//! what a client that never authenticates can cost (see the README's "Exposing the URL").
//!
//! It prints curl commands to try it with: the URL check the platform makes (the signature is the
//! SHA-1 of the token, timestamp and nonce, sorted and joined), a delivery, and, with a key, an
//! encrypted delivery. They carry the time they were made, so they are refused as replays once
//! the window has passed: `--requests` prints fresh ones and exits.

use std::net::SocketAddr;
use std::time::Duration;

use passive_reply::axum::{Endpoint, signature_of};
use passive_reply::crypto::{MessageCrypto, msg_signature};
use passive_reply::router::{Msg, ReplyFuture, Router, kind};
use passive_reply::server::Server;
use passive_reply::session::{MemorySessions, Session, Sessions};
use passive_reply::{Article, Articles, Incoming, News, Text};

/// The routes: a text is echoed (`sleep N` after N seconds), `count` counts, a new follower is
/// welcomed with a news reply, anything else gets the empty reply (no route matches, no
/// fallback). Sessions in the process.
pub fn answer() -> impl Fn(Incoming<'static>) -> ReplyFuture + Clone + Send + Sync + 'static {
    answer_with(Sessions::new(MemorySessions::new()))
}

/// [`answer`], its sessions kept as `sessions` says (in a Redis that instances share, say).
pub fn answer_with(sessions: Sessions) -> impl Fn(Incoming<'static>) -> ReplyFuture + Clone + Send + Sync + 'static {
    Router::new()
        .text("count", count)
        .text_prefix("sleep ", sleep_then_echo)
        .event("subscribe", welcome)
        .on::<kind::Text, _, _>(echo)
        .sessions(sessions)
        .into_handler()
}

/// `count`: 1, then 2, then 3… for each user. The session is the count so far; only this route
/// reaches the store.
async fn count(mut session: Session<u64>, msg: Msg<kind::Text>) -> Text<'static> {
    let count = session.get_or_insert(0);
    *count += 1;
    let count = count.to_string();
    msg.into_inner().into_reply_text(count) // the message's addresses moved into the reply
}

/// A text, answered with the same text.
async fn echo(msg: Msg<kind::Text>) -> Text<'static> {
    let content = msg.content().to_owned();
    msg.into_inner().into_reply_text(content)
}

/// `sleep N`: answered after N seconds (capped at 600, so a typo can't hold a task for days).
async fn sleep_then_echo(msg: Msg<kind::Text>) -> Text<'static> {
    if let Some(seconds) = msg.content().strip_prefix("sleep ").and_then(|n| n.trim().parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_secs(seconds.min(600))).await;
    }
    echo(msg).await
}

/// A new follower, welcomed with two articles.
async fn welcome(msg: Msg<kind::Event>) -> News<'static> {
    let mut articles = Articles::new(
        Article::new()
            .title("Welcome")
            .description("Send any text and it comes back.")
            .url("https://example.com/welcome"),
    );
    articles
        .push(Article::new().title("How replies are built").url("https://example.com/passive-reply"))
        .expect("2 articles fit");
    msg.reply_news(articles).into_owned()
}

struct Options {
    addr: SocketAddr,
    token: String,
    aes_key: Option<String>,
    app_id: Option<String>,
    replay_window: u64,
    allow_plaintext: bool,
    requests_only: bool,
    redis: Option<String>,
    app_secret: Option<String>,
    api_base: Option<String>,
    accounts: Vec<AccountOption>,
}

/// `--account NAME:TOKEN[:AES_KEY:APP_ID]`: one of several accounts, served at `/NAME`.
struct AccountOption {
    name: String,
    token: String,
    crypto: Option<MessageCrypto>,
}

impl AccountOption {
    fn parse(value: &str) -> Result<Self, String> {
        let problem = |why: String| format!("--account {value}: {why}");
        let parts: Vec<&str> = value.split(':').collect();
        let (name, token, crypto) = match parts[..] {
            [name, token] => (name, token, None),
            [name, token, key, app_id] => {
                let crypto = MessageCrypto::new(token, key, app_id).map_err(|e| problem(e.to_string()))?;
                (name, token, Some(crypto))
            }
            _ => return Err(problem("expected NAME:TOKEN or NAME:TOKEN:AES_KEY:APP_ID".into())),
        };
        if !passive_reply::endpoint::is_account_name(name) {
            return Err(problem("a name is 1 to 64 of A-Z a-z 0-9 _ - .".into()));
        }
        Ok(AccountOption { name: name.to_owned(), token: token.to_owned(), crypto })
    }
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        token: "passive-reply".into(),
        aes_key: None,
        app_id: None,
        replay_window: 300,
        allow_plaintext: false,
        requests_only: false,
        redis: None,
        app_secret: None,
        api_base: None,
        accounts: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--addr" => {
                let addr = value("--addr")?;
                options.addr = addr.parse().map_err(|e| format!("--addr {addr}: {e}"))?;
            }
            "--token" => options.token = value("--token")?,
            "--aes-key" => options.aes_key = Some(value("--aes-key")?),
            "--app-id" => options.app_id = Some(value("--app-id")?),
            "--replay-window" => {
                let seconds = value("--replay-window")?;
                options.replay_window = seconds.parse().map_err(|e| format!("--replay-window {seconds}: {e}"))?;
            }
            "--requests" => options.requests_only = true,
            "--allow-plaintext" => options.allow_plaintext = true,
            "--redis" => options.redis = Some(value("--redis")?),
            "--app-secret" => options.app_secret = Some(value("--app-secret")?),
            "--api-base" => options.api_base = Some(value("--api-base")?),
            "--account" => options.accounts.push(AccountOption::parse(&value("--account")?)?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// The account's safe-mode settings, when a key and an AppID are given.
fn crypto(options: &Options) -> Result<Option<MessageCrypto>, String> {
    match (&options.aes_key, &options.app_id) {
        (Some(key), Some(app_id)) => MessageCrypto::new(options.token.clone(), key, app_id.clone())
            .map(Some)
            .map_err(|e| format!("--aes-key/--app-id: {e}")),
        (None, _) => Ok(None),
        (Some(_), None) => Err("--aes-key needs --app-id".into()),
    }
}

/// The account's API settings for late replies, when all three are given.
fn api(options: &Options) -> Result<Option<(&str, &str, &str)>, String> {
    match (&options.app_id, &options.app_secret, &options.api_base) {
        (Some(id), Some(secret), Some(base)) => Ok(Some((id, secret, base))),
        (_, None, None) => Ok(None),
        _ => Err("late replies need --app-id, --app-secret and --api-base together".into()),
    }
}

/// curl commands that try the account served at `url` with `token`, made now.
fn requests(url: &str, token: &str, allow_plaintext: bool, crypto: Option<&MessageCrypto>) -> Vec<String> {
    let timestamp = passive_reply::now().to_string();
    let nonce = "nonce";
    let signature = signature_of(token, &timestamp, nonce);
    let query = format!("signature={signature}&timestamp={timestamp}&nonce={nonce}");
    let delivery = format!(
        "<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>{timestamp}</CreateTime>\
         <MsgType>text</MsgType><Content>你好</Content><MsgId>{timestamp}</MsgId></xml>"
    );
    let mut commands = vec![format!("curl '{url}?{query}&echostr=hello'")];
    if crypto.is_none() || allow_plaintext {
        commands.push(format!("curl -d '{delivery}' '{url}?{query}'"));
    }
    if let Some(crypto) = crypto {
        // A message of its own (another MsgId: the same one would be answered as a retry).
        let encrypted = delivery
            .replace("你好", "加密的你好")
            .replace(&format!("<MsgId>{timestamp}</MsgId>"), &format!("<MsgId>{}</MsgId>", passive_reply::now() + 1));
        let encrypt = crypto.encrypt(&encrypted);
        let msg_signature = msg_signature(token, &timestamp, nonce, &encrypt);
        commands.push(format!(
            "curl -d '<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>' \
             '{url}?{query}&openid=oUser&encrypt_type=aes&msg_signature={msg_signature}'"
        ));
    }
    commands
}

fn exit_with(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("echo_server: {problem}");
    }
    eprintln!(
        "usage: cargo run --example echo_server [-- --addr IP:PORT --token TOKEN \
         [--aes-key KEY --app-id ID [--allow-plaintext]] [--app-id ID --app-secret SECRET --api-base URL] \
         [--replay-window SECONDS] [--redis URL] [--requests]]\n   \
         or: cargo run --example echo_server -- --account NAME:TOKEN[:AES_KEY:APP_ID] [--account …] \
         [--addr IP:PORT] [--replay-window SECONDS] [--redis URL] [--requests]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}

#[tokio::main]
async fn main() {
    let options = options().unwrap_or_else(|problem| exit_with(&problem));
    let crypto = crypto(&options).unwrap_or_else(|problem| exit_with(&problem));
    let api = api(&options).unwrap_or_else(|problem| exit_with(&problem));
    if !options.accounts.is_empty() {
        return accounts::serve(options).await;
    }
    if options.requests_only {
        for command in
            requests(&format!("http://{}/", options.addr), &options.token, options.allow_plaintext, crypto.as_ref())
        {
            println!("{command}");
        }
        return;
    }
    let window = (options.replay_window > 0).then(|| Duration::from_secs(options.replay_window));
    let shared = match &options.redis {
        None => None,
        Some(url) => Some(redis(url).await.unwrap_or_else(|problem| exit_with(&problem))),
    };
    let sessions = match &shared {
        None => Sessions::new(MemorySessions::new()),
        Some((sessions, _)) => sessions.clone(),
    };
    let mut endpoint = Endpoint::new(options.token.clone(), answer_with(sessions)).replay_window(window);
    if let Some(crypto) = crypto.clone() {
        endpoint = endpoint.crypto(crypto).allow_plaintext(options.allow_plaintext);
    }
    if let Some((app_id, secret, base)) = api {
        endpoint = with_late_replies(endpoint, app_id, secret, base).unwrap_or_else(|problem| exit_with(&problem));
    }
    let router = match shared {
        None => endpoint.into_router(),
        Some((_, guard)) => endpoint.retry_guard(guard).into_router(),
    };
    let listener = match tokio::net::TcpListener::bind(options.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo_server: can't listen on {}: {e}", options.addr);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(options.addr);
    let mode = match (&crypto, options.allow_plaintext) {
        (None, _) => "plaintext mode",
        (Some(_), false) => "compatible and safe mode (plaintext refused)",
        (Some(_), true) => "plaintext, compatible and safe mode",
    };
    println!("listening on http://{addr}/ with token {:?}, {mode}", options.token);
    println!("try (for the next {} s; --requests prints fresh ones):", options.replay_window);
    for command in requests(&format!("http://{addr}/"), &options.token, options.allow_plaintext, crypto.as_ref()) {
        println!("  {command}");
    }
    // The crate's server: header and idle timeouts, and a bound on open connections, so that
    // nobody who finds the URL can hold the process's descriptors or memory. It stops on Ctrl-C
    // or SIGTERM once the requests under way are answered and the late replies sent.
    stop(Server::new(listener).serve_until_signal(router).await);
}

/// Reports how the server stopped, and exits.
pub fn stop(stopped: std::io::Result<passive_reply::server::Stopped>) -> ! {
    match stopped {
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(1);
        }
        Ok(stopped) => {
            #[cfg(feature = "client")]
            for abandoned in &stopped.abandoned {
                println!("gave up the late reply to {:?} after {:?}", abandoned.key, abandoned.ran);
            }
            println!("stopped");
            std::process::exit(if stopped.forced { 1 } else { 0 });
        }
    }
}

/// The endpoint, sending the replies that miss the budget through the account's API at `base`.
#[cfg(feature = "client")]
fn with_late_replies<H>(endpoint: Endpoint<H>, app_id: &str, secret: &str, base: &str) -> Result<Endpoint<H>, String> {
    use passive_reply::client::Client;
    use passive_reply::serve::LateReplies;

    let client = Client::builder(app_id, secret).api_base(base).build().map_err(|e| format!("--api-base: {e}"))?;
    println!("late replies sent through {base} for {app_id}");
    let late = LateReplies::new(client).on_outcome(|report| {
        println!("late reply to {:?}: {:?} after {:?}", report.key, report.outcome, report.elapsed);
    });
    Ok(endpoint.late_replies(late))
}

#[cfg(not(feature = "client"))]
fn with_late_replies<H>(_: Endpoint<H>, _: &str, _: &str, _: &str) -> Result<Endpoint<H>, String> {
    Err("late replies need the client feature: cargo run --features client --example echo_server -- …".into())
}

/// The Redis at `url`, shared by every instance that uses it: the sessions kept there, and the
/// retry guard.
#[cfg(feature = "redis")]
async fn redis(
    url: &str,
) -> Result<(Sessions, passive_reply::serve::RetryGuard<passive_reply::serve::RedisStore>), String> {
    use passive_reply::serve::{RedisStore, RetryGuard};

    let store = RedisStore::connect(url).await.map_err(|e| format!("--redis {url}: {e}"))?;
    println!("retries and sessions shared through the Redis at {url}");
    Ok((Sessions::new(store.clone()), RetryGuard::with_store(store)))
}

#[cfg(not(feature = "redis"))]
async fn redis(_: &str) -> Result<(Sessions, passive_reply::serve::RetryGuard), String> {
    Err("--redis needs the redis feature: cargo run --features redis --example echo_server -- --redis URL".into())
}

/// `--account NAME:TOKEN[:AES_KEY:APP_ID]`, repeated: every account served at `/NAME` by one
/// server, each with its token and key, all sharing one retry guard (in memory, or in the Redis
/// of `--redis`), its keys kept apart by account.
mod accounts {
    use std::time::Duration;

    use passive_reply::endpoint::{Accounts, Endpoint};
    use passive_reply::serve::{ReplyStore, RetryGuard};
    use passive_reply::server::Server;
    use passive_reply::session::{MemorySessions, Sessions};

    use super::{Options, answer_with, exit_with, requests};

    pub async fn serve(options: Options) {
        if options.aes_key.is_some() || options.app_secret.is_some() || options.allow_plaintext {
            exit_with("with --account, each account's key goes in its --account (late replies: one account only)");
        }
        match &options.redis {
            None => serve_with(options, RetryGuard::new(), Sessions::new(MemorySessions::new())).await,
            Some(url) => {
                let (sessions, guard) = super::redis(url).await.unwrap_or_else(|problem| exit_with(&problem));
                serve_with(options, guard, sessions).await
            }
        }
    }

    async fn serve_with<S: ReplyStore>(options: Options, guard: RetryGuard<S>, sessions: Sessions) {
        let window = (options.replay_window > 0).then(|| Duration::from_secs(options.replay_window));
        let listener = match tokio::net::TcpListener::bind(options.addr).await {
            Ok(listener) => listener,
            Err(e) => exit_with(&format!("can't listen on {}: {e}", options.addr)),
        };
        let addr = listener.local_addr().unwrap_or(options.addr);
        let mut accounts = Accounts::new();
        for account in &options.accounts {
            let mut endpoint =
                Endpoint::new(account.token.clone(), answer_with(sessions.clone())).replay_window(window);
            if let Some(crypto) = account.crypto.clone() {
                endpoint = endpoint.crypto(crypto);
            }
            accounts = accounts.account(&account.name, endpoint.retry_guard(guard.clone()));
            let mode = if account.crypto.is_some() { "safe mode" } else { "plaintext mode" };
            let url = format!("http://{addr}/{}", account.name);
            if !options.requests_only {
                println!("account {:?} at {url} with token {:?}, {mode}; try:", account.name, account.token);
            }
            for command in requests(&url, &account.token, false, account.crypto.as_ref()) {
                println!("  {command}");
            }
        }
        if options.requests_only {
            return;
        }
        super::stop(Server::new(listener).serve_until_signal(accounts.into_service()).await);
    }
}
