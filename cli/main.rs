//! `passive-reply`: the platform's side of a delivery, for a person debugging a live server.
//!
//! ```text
//! passive-reply send --url URL --token TOKEN [--aes-key KEY --app-id APPID]
//!                    (--text TEXT | --event NAME [--event-key KEY])
//!                    [--from OPENID] [--to ACCOUNT] [--msg-id N] [--timeout SECONDS]
//! ```
//!
//! `send` posts a delivery as the platform would: the query signed with the token (SHA-1 of the
//! sorted token, timestamp and nonce), and with a key the body encrypted (safe mode, with
//! `msg_signature`). It prints the reply decoded: its kind and fields, an encrypted reply opened
//! (its signature checked), the empty reply said as such, a refusal with the server's reason.
//! The exit code is 0 for a reply (the empty one included), 1 when the server refused or the reply
//! is not one, 2 for a wrong command line.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use passive_reply::Incoming;
use passive_reply::crypto::MessageCrypto;
use passive_reply_test::{Delivery, Inbound, Mode, Platform, envelope_field};

const USAGE: &str = "usage: passive-reply send --url URL --token TOKEN [--aes-key KEY --app-id APPID] \
    (--text TEXT | --event NAME [--event-key KEY]) [--from OPENID] [--to ACCOUNT] [--msg-id N] [--timeout SECONDS]";

/// What to send.
enum What {
    Text(String),
    Event { name: String, key: Option<String> },
}

struct Send {
    url: String,
    token: String,
    crypto: Option<MessageCrypto>,
    what: What,
    from: String,
    to: String,
    msg_id: u64,
    timeout: Duration,
}

fn parse(args: &[String]) -> Result<Send, String> {
    let [command, rest @ ..] = args else { return Err(String::new()) };
    if command != "send" {
        return Err(format!("unknown command {command:?}"));
    }
    let mut options = std::collections::HashMap::new();
    let mut rest = rest.iter();
    while let Some(name) = rest.next() {
        let known = [
            "--url",
            "--token",
            "--aes-key",
            "--app-id",
            "--text",
            "--event",
            "--event-key",
            "--from",
            "--to",
            "--msg-id",
            "--timeout",
        ];
        if !known.contains(&name.as_str()) {
            return Err(format!("unknown option {name}"));
        }
        let value = rest.next().ok_or_else(|| format!("{name} needs a value"))?;
        if options.insert(name.as_str(), value.clone()).is_some() {
            return Err(format!("{name} is given twice"));
        }
    }
    let mut take = |name: &str| options.remove(name);
    let url = take("--url").ok_or("--url is needed")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("--url {url}: an http:// or https:// URL"));
    }
    let token = take("--token").ok_or("--token is needed")?;
    let crypto = match (take("--aes-key"), take("--app-id")) {
        (Some(key), Some(app_id)) => {
            Some(MessageCrypto::new(token.clone(), &key, app_id).map_err(|e| format!("--aes-key: {e}"))?)
        }
        (None, None) => None,
        _ => return Err("--aes-key and --app-id go together".into()),
    };
    let what = match (take("--text"), take("--event"), take("--event-key")) {
        (Some(text), None, None) => What::Text(text),
        (None, Some(name), key) => What::Event { name, key },
        (None, None, _) => return Err("--text or --event is needed".into()),
        _ => return Err("--text and --event (with --event-key) exclude each other".into()),
    };
    let now = passive_reply::now();
    let msg_id = match take("--msg-id") {
        Some(id) => id.parse().map_err(|e| format!("--msg-id {id}: {e}"))?,
        None => now,
    };
    let timeout = match take("--timeout") {
        Some(seconds) => Duration::from_secs(seconds.parse().map_err(|e| format!("--timeout {seconds}: {e}"))?),
        None => Duration::from_secs(10),
    };
    Ok(Send {
        url,
        token,
        crypto,
        what,
        from: take("--from").unwrap_or_else(|| "oPassiveReplyCli".into()),
        to: take("--to").unwrap_or_else(|| "gh_passive_reply".into()),
        msg_id,
        timeout,
    })
}

/// `<![CDATA[…]]>` of `value`, escaped as the platform's XML needs.
impl Send {
    /// The delivery, as the test kit's simulated platform makes it: signed, encrypted in safe
    /// mode when a key is given.
    fn delivery(&self) -> Delivery {
        let mut platform = Platform::new(self.token.clone()).account(self.to.clone());
        if let Some(crypto) = &self.crypto {
            platform = platform.with_crypto(crypto.clone(), Mode::Safe);
        }
        let inbound = match &self.what {
            What::Text(text) => Inbound::text(text.clone()).msg_id(self.msg_id),
            What::Event { name, key: None } => Inbound::event(name.clone()),
            What::Event { name, key: Some(key) } => Inbound::event(name.clone()).field("EventKey", key.clone()),
        };
        platform.delivery(&inbound.from(self.from.clone()))
    }
}

fn describe(reply: &str, crypto: Option<&MessageCrypto>) -> Result<String, String> {
    if reply.is_empty() || reply == "success" {
        return Ok(format!("the empty reply ({reply:?}): the user sees nothing, and the platform doesn't retry"));
    }
    let mut out = String::new();
    let opened;
    let xml = match (crypto, envelope_field(reply, "Encrypt")) {
        (Some(crypto), Some(_)) => {
            let (Some(signature), Some(timestamp), Some(nonce)) = (
                envelope_field(reply, "MsgSignature"),
                envelope_field(reply, "TimeStamp"),
                envelope_field(reply, "Nonce"),
            ) else {
                return Err(format!("an encrypted reply without its signature, timestamp or nonce:\n{reply}"));
            };
            opened = crypto
                .decrypt_delivery(signature, timestamp, nonce, reply)
                .map_err(|e| format!("the encrypted reply doesn't open: {e}\n{reply}"))?;
            out.push_str("encrypted reply (signature checked, opened with the key)\n");
            opened.as_str()
        }
        (None, Some(_)) => return Err(format!("an encrypted reply, and no --aes-key to open it:\n{reply}")),
        _ => reply,
    };
    let msg = Incoming::parse(xml).map_err(|e| format!("not a reply: {e}\n{xml}"))?;
    out.push_str(&format!(
        "{} reply to {} from {} (CreateTime {})\n",
        msg.msg_type(),
        msg.to_user_name(),
        msg.from_user_name(),
        msg.create_time()
    ));
    let items: Vec<_> = msg.elements("Articles/item").collect();
    if items.is_empty() {
        for (name, value) in msg.fields() {
            out.push_str(&format!("  {name}: {value}\n"));
        }
    } else {
        out.push_str(&format!("  ArticleCount: {}\n", msg.field("ArticleCount").unwrap_or("?")));
        for (i, item) in items.iter().enumerate() {
            out.push_str(&format!("  article {}\n", i + 1));
            for child in item.children() {
                out.push_str(&format!("    {}: {}\n", child.name(), child.text()));
            }
        }
    }
    Ok(out)
}

async fn send(send: &Send) -> Result<String, String> {
    let delivery = send.delivery();
    let (target, body) = (delivery.target(&send.url), delivery.body);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(tls);
    let request = Request::builder()
        .method(Method::POST)
        .uri(&target)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("--url {}: {e}", send.url))?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| format!("{}: {e}", send.url))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| format!("reading the reply: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    let (status, reply) = tokio::time::timeout(send.timeout, exchange)
        .await
        .map_err(|_| format!("no reply within {:?}", send.timeout))??;
    if !status.is_success() {
        return Err(format!("the server refused the delivery: {status}: {}", reply.trim_end()));
    }
    describe(&reply, send.crypto.as_ref())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let send_args = match parse(&args) {
        Ok(send) => send,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("passive-reply: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("passive-reply: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(send(&send_args)) {
        Ok(described) => {
            print!("{described}");
            if !described.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("passive-reply: {problem}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn command_lines() {
        assert!(parse(&args("send --url http://x/ --token t --text hi")).is_ok());
        assert!(parse(&args("send --url http://x/ --token t --event subscribe --event-key qrscene_1")).is_ok());
        for wrong in [
            "send --token t --text hi",
            "send --url ftp://x --token t --text hi",
            "send --url http://x/ --token t",
            "send --url http://x/ --token t --text a --event b",
            "send --url http://x/ --token t --text a --aes-key k",
            "send --url http://x/ --token t --text a --text b",
            "send --url http://x/ --token t --text a --colour blue",
            "receive --url http://x/",
        ] {
            assert!(parse(&args(wrong)).is_err(), "{wrong}");
        }
    }

    #[test]
    fn replies_described() {
        assert!(describe("", None).unwrap().starts_with("the empty reply"));
        assert!(describe("success", None).unwrap().starts_with("the empty reply"));
        let text = "<xml><ToUserName><![CDATA[u]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName>\
            <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a ]]]]><![CDATA[> b]]></Content></xml>";
        assert_eq!(describe(text, None).unwrap(), "text reply to u from gh (CreateTime 1)\n  Content: a ]]> b\n");
        assert!(describe("<html>oops</html>", None).is_err());
        let mut articles = passive_reply::Articles::new(passive_reply::Article::new().title("First").url("https://a"));
        articles.push(passive_reply::Article::new().title("Second")).unwrap();
        let news = passive_reply::News::new("u", "gh", articles).with_create_time(2);
        assert_eq!(
            describe(&passive_reply::PassiveReply::to_xml(&news), None).unwrap(),
            "news reply to u from gh (CreateTime 2)\n  ArticleCount: 2\n  article 1\n    Title: First\n    Url: https://a\n  article 2\n    Title: Second\n"
        );
    }
}
