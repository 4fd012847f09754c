//! A third-party platform ("component") serving the accounts that authorized it: the platform's
//! authorization notices at `/component` (the `component_verify_ticket` kept, authorizations
//! exchanged for the accounts' tokens), and every authorized account's messages at
//! `/{appid}/callback` (texts echoed, the platform's release test answered).
//!
//! `cargo run --features component --example component_server -- --component-app-id ID
//! --component-secret SECRET --token TOKEN --aes-key KEY [--api-base URL] [--addr IP:PORT]
//! [--redis URL]`
//!
//! With `--redis URL` (and the feature `redis`) the ticket, the tokens and the retry guard are kept
//! in that Redis, shared by every instance. It prints curl commands to try it with: a ticket
//! notice, a text and the release test's text to the platform's test account.

use std::net::SocketAddr;

use passive_reply::client::{Component, TokenStore};
use passive_reply::crypto::{MessageCrypto, msg_signature};
use passive_reply::endpoint::component::{Notices, authorizers, release_test};
use passive_reply::endpoint::{Endpoint, signature_of};
use passive_reply::serve::{ReplyStore, RetryGuard};
use passive_reply::server::Server;
use passive_reply::{Incoming, Notice, Text};

/// An authorized account's text, echoed.
async fn echo(msg: Incoming<'static>) -> Text<'static> {
    let content = msg.field("Content").unwrap_or("(not a text)").to_owned();
    msg.into_reply_text(content)
}

struct Options {
    addr: SocketAddr,
    app_id: String,
    secret: String,
    token: String,
    aes_key: String,
    api_base: String,
    redis: Option<String>,
}

fn options() -> Result<Options, String> {
    let (mut addr, mut app_id, mut secret, mut token, mut aes_key, mut redis) =
        (SocketAddr::from(([127, 0, 0, 1], 8080)), None, None, None, None, None);
    let mut api_base = passive_reply::client::DEFAULT_API_BASE.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--addr" => {
                let given = value("--addr")?;
                addr = given.parse().map_err(|e| format!("--addr {given}: {e}"))?;
            }
            "--component-app-id" => app_id = Some(value("--component-app-id")?),
            "--component-secret" => secret = Some(value("--component-secret")?),
            "--token" => token = Some(value("--token")?),
            "--aes-key" => aes_key = Some(value("--aes-key")?),
            "--api-base" => api_base = value("--api-base")?,
            "--redis" => redis = Some(value("--redis")?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let needed = |value: Option<String>, name: &str| value.ok_or_else(|| format!("{name} is needed"));
    Ok(Options {
        addr,
        app_id: needed(app_id, "--component-app-id")?,
        secret: needed(secret, "--component-secret")?,
        token: needed(token, "--token")?,
        aes_key: needed(aes_key, "--aes-key")?,
        api_base,
        redis,
    })
}

fn exit_with(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("component_server: {problem}");
    }
    eprintln!(
        "usage: cargo run --features component --example component_server -- --component-app-id ID \
         --component-secret SECRET --token TOKEN --aes-key KEY [--api-base URL] [--addr IP:PORT] [--redis URL]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}

/// curl commands that try the server at `addr`, made now: a ticket notice, and two messages to
/// the platform's test account.
fn requests(addr: SocketAddr, crypto: &MessageCrypto) -> Vec<String> {
    let timestamp = passive_reply::now().to_string();
    let nonce = "nonce";
    let signed = |encrypt: &str| {
        format!(
            "signature={}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
            signature_of(crypto.token(), &timestamp, nonce),
            msg_signature(crypto.token(), &timestamp, nonce, encrypt)
        )
    };
    let ticket = format!(
        "<xml><AppId>{}</AppId><CreateTime>{timestamp}</CreateTime><InfoType>component_verify_ticket</InfoType>\
         <ComponentVerifyTicket>ticket@@@from-curl</ComponentVerifyTicket></xml>",
        crypto.app_id()
    );
    let encrypt = crypto.encrypt(&ticket);
    let mut commands = vec![format!(
        "curl -d '<xml><AppId>{}</AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>' 'http://{addr}/component?{}'",
        crypto.app_id(),
        signed(&encrypt)
    )];
    for (id, content) in [(1, "你好"), (2, "TESTCOMPONENT_MSG_TYPE_TEXT")] {
        let message = format!(
            "<xml><ToUserName>gh_3c884a361561</ToUserName><FromUserName>oUser</FromUserName>\
             <CreateTime>{timestamp}</CreateTime><MsgType>text</MsgType><Content>{content}</Content>\
             <MsgId>{timestamp}{id}</MsgId></xml>"
        );
        let encrypt = crypto.encrypt(&message);
        commands.push(format!(
            "curl -d '<xml><ToUserName>gh_3c884a361561</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>' \
             'http://{addr}/wx570bc396a51b8ff8/callback?{}'",
            signed(&encrypt)
        ));
    }
    commands
}

#[tokio::main]
async fn main() {
    let options = options().unwrap_or_else(|problem| exit_with(&problem));
    let crypto = MessageCrypto::new(options.token.clone(), &options.aes_key, options.app_id.clone())
        .unwrap_or_else(|e| exit_with(&format!("--aes-key: {e}")));
    match &options.redis {
        None => serve(&options, crypto, passive_reply::client::MemoryTokenStore::new(), RetryGuard::new()).await,
        #[cfg(feature = "redis")]
        Some(url) => {
            let store = passive_reply::serve::RedisStore::connect(url)
                .await
                .unwrap_or_else(|e| exit_with(&format!("--redis {url}: {e}")));
            serve(&options, crypto, store.clone(), RetryGuard::with_store(store)).await
        }
        #[cfg(not(feature = "redis"))]
        Some(_) => exit_with(
            "--redis needs the redis feature: cargo run --features component,redis --example component_server …",
        ),
    }
}

async fn serve<S: ReplyStore>(options: &Options, crypto: MessageCrypto, store: impl TokenStore, guard: RetryGuard<S>) {
    let component = Component::builder(&options.app_id, &options.secret)
        .api_base(&options.api_base)
        .store(store)
        .build()
        .unwrap_or_else(|e| exit_with(&format!("--api-base: {e}")));
    let notices = Notices::new(component.clone(), crypto.clone()).on_notice({
        let component = component.clone();
        move |notice| {
            let component = component.clone();
            async move {
                println!(
                    "notice: {} for {}",
                    notice.info_type(),
                    notice.field("AuthorizerAppid").unwrap_or("the component")
                );
                if let Notice::Authorized { authorization_code, .. }
                | Notice::UpdateAuthorized { authorization_code, .. } = notice.notice()
                {
                    match component.query_auth(authorization_code).await {
                        Ok(authorization) => println!("authorized: {}", authorization.authorizer_app_id),
                        Err(e) => println!("the authorization code could not be exchanged: {e}"),
                    }
                }
            }
        }
    });
    // Every well-formed AppID is served here; an application asks its database.
    let messages = authorizers(component.clone(), crypto.clone(), |_appid: String| async { true }, {
        let component = component.clone();
        move |_appid: &str| Endpoint::new("", release_test(component.clone(), echo)).retry_guard(guard.clone())
    });
    let app = axum::Router::new()
        .route_service("/component", notices.into_service())
        .route_service("/{appid}/callback", messages.into_service());
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .unwrap_or_else(|e| exit_with(&format!("can't listen on {}: {e}", options.addr)));
    let addr = listener.local_addr().unwrap_or(options.addr);
    println!("component {} on http://{addr}: notices at /component, messages at /{{appid}}/callback", options.app_id);
    println!("try (for the next 300 s):");
    for command in requests(addr, &crypto) {
        println!("  {command}");
    }
    // Stops on Ctrl-C or SIGTERM once the requests under way are answered and the late replies
    // (to the authorizers' users) sent; a second signal gives them up (and logs them).
    match Server::new(listener).serve_until_signal(app).await {
        Ok(stopped) => std::process::exit(if stopped.forced { 1 } else { 0 }),
        Err(e) => exit_with(&e.to_string()),
    }
}
