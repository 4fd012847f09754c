//! `passive-reply send` (the CLI) against the echo_server example, both run as processes, as a
//! person debugging a deployment would: a text, an event, a conversation, a safe-mode account.
//! `cargo test --workspace --all-features` builds both binaries.

use std::process::Command;

mod common;

/// The CLI's binary, beside the example's (target/debug/passive-reply).
fn cli() -> std::path::PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
    let cli = deps.parent().unwrap().join("passive-reply");
    assert!(cli.exists(), "{} is not built: `cargo test --workspace --all-features` builds it", cli.display());
    cli
}

/// `passive-reply send` with `args`: its exit code and standard output (standard error on failure).
async fn send(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(cli()).arg("send").args(&args).output().unwrap();
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
        let code = out.status.code().unwrap_or(-1);
        (code, if code == 0 { text(out.stdout) } else { text(out.stderr) })
    })
    .await
    .unwrap()
}

fn args(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_against_the_example() {
    let (child, addr) = common::example::start(&["--token", "cli-token"]).await;
    let _example = common::example::Killed(child);
    let base = format!("--url http://{addr}/ --token cli-token");

    let (code, out) = send(args(&format!("{base} --text hello --from oAlice --to gh_example"))).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("text reply to oAlice from gh_example (CreateTime "), "{out}");
    assert!(out.ends_with("\n  Content: hello\n"), "{out}");

    // An event: a new follower is welcomed with the example's two articles.
    let (code, out) = send(args(&format!("{base} --event subscribe"))).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("news reply to oPassiveReplyCli from gh_passive_reply"), "{out}");
    assert!(out.contains("  ArticleCount: 2\n  article 1\n    Title: Welcome\n"), "{out}");
    assert!(out.contains("  article 2\n    Title: How replies are built\n"), "{out}");
    // An event the example doesn't route: the empty reply.
    let (code, out) = send(args(&format!("{base} --event CLICK --event-key V1001"))).await;
    assert_eq!((code, out.starts_with("the empty reply")), (0, true), "{out}");

    // A conversation: `count` per user, each message its own MsgId.
    for (n, user) in [(1, "oAlice"), (2, "oAlice"), (1, "oBob"), (3, "oAlice")] {
        let id = 100 + n + if user == "oBob" { 50 } else { 0 };
        let (code, out) = send(args(&format!("{base} --text count --from {user} --msg-id {id}"))).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.ends_with(&format!("  Content: {n}\n")), "{user}'s count {n}: {out}");
    }

    // Another token is refused, and the command says why.
    let (code, err) = send(args(&format!("--url http://{addr}/ --token wrong --text hello"))).await;
    assert_eq!(code, 1);
    assert!(err.contains("403") && err.contains("the signature does not match"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_against_the_example_in_safe_mode() {
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APP_ID: &str = "wx5823bf96d3bd56c7";
    let (child, addr) = common::example::start(&["--token", "cli-token", "--aes-key", KEY, "--app-id", APP_ID]).await;
    let _example = common::example::Killed(child);
    let base = format!("--url http://{addr}/ --token cli-token --aes-key {KEY} --app-id {APP_ID}");

    let (code, out) = send(args(&format!("{base} --text 加密"))).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("encrypted reply (signature checked, opened with the key)\ntext reply to"), "{out}");
    assert!(out.ends_with("  Content: 加密\n"), "{out}");
    // Plaintext is refused by the safe-mode account.
    let (code, err) = send(args(&format!("--url http://{addr}/ --token cli-token --text hello"))).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused the delivery: 403") && err.contains("encrypted deliveries only"), "{err}");
}
