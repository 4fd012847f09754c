//! `passive-reply send` against servers of this crate on loopback, run as a person would: the
//! binary, its output and its exit code.

use std::net::SocketAddr;
use std::process::Command;

use passive_reply::crypto::MessageCrypto;
use passive_reply::endpoint::Endpoint;
use passive_reply::server::Server;
use passive_reply::{BoxedReply, Empty, Incoming, PassiveReply};

const TOKEN: &str = "cli-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx5823bf96d3bd56c7";

/// Texts answered "you said …"; anything else with the empty reply.
async fn answer(msg: Incoming<'static>) -> BoxedReply<'static> {
    match msg.field("Content") {
        Some(content) => msg.reply_text(format!("you said {content}")).into_owned().boxed(),
        None => Empty.boxed(),
    }
}

async fn serve(crypto: Option<MessageCrypto>) -> SocketAddr {
    let mut endpoint = Endpoint::new(TOKEN, answer);
    if let Some(crypto) = crypto {
        endpoint = endpoint.crypto(crypto);
    }
    let server = Server::new(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(endpoint.into_service()));
    addr
}

/// The command's exit code, standard output and standard error.
async fn run(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_passive-reply")).args(&args).output().unwrap();
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
        (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
    })
    .await
    .unwrap()
}

fn args(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plaintext_account() {
    let addr = serve(None).await;
    let (code, out, err) = run(args(&format!("send --url http://{addr}/ --token {TOKEN} --text hello"))).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("text reply to oPassiveReplyCli from gh_passive_reply (CreateTime "), "{out}");
    assert!(out.ends_with("\n  Content: you said hello\n"), "{out}");

    let (code, out, _) = run(args(&format!("send --url http://{addr}/ --token {TOKEN} --event subscribe"))).await;
    assert_eq!((code, out.starts_with("the empty reply")), (0, true), "{out}");

    // Signed with another token: the server's refusal, said, and exit code 1.
    let (code, out, err) = run(args(&format!("send --url http://{addr}/ --token other --text hello"))).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("refused the delivery: 403 Forbidden: the signature does not match"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_safe_mode_account() {
    let addr = serve(Some(MessageCrypto::new(TOKEN, AES_KEY, APP_ID).unwrap())).await;
    let line = format!(
        "send --url http://{addr}/ --token {TOKEN} --aes-key {AES_KEY} --app-id {APP_ID} --text 加密 --to gh_x"
    );
    let (code, out, err) = run(args(&line)).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(
            "encrypted reply (signature checked, opened with the key)\ntext reply to oPassiveReplyCli from gh_x"
        ),
        "{out}"
    );
    assert!(out.ends_with("  Content: you said 加密\n"), "{out}");

    // Without the key, the account refuses plaintext.
    let (code, _, err) = run(args(&format!("send --url http://{addr}/ --token {TOKEN} --text hi"))).await;
    assert_eq!(code, 1);
    assert!(err.contains("403"), "{err}");
    // A wrong command line: exit code 2 and the usage.
    let (code, _, err) = run(args(&format!("send --url http://{addr}/ --text hi"))).await;
    assert_eq!(code, 2);
    assert!(err.contains("--token is needed") && err.contains("usage: passive-reply send"), "{err}");
}
