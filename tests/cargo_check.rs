//! `cargo check`, which is what an editor runs, reports a news reply that can carry more than
//! ten articles. trybuild runs `cargo build`, so this test runs `cargo check` itself on a fixture
//! crate and reads what it printed.

use std::path::Path;
use std::process::Command;

const FIXTURE: &str = r#"
use passive_reply::{NewsArticle, PassiveReply};

#[derive(NewsArticle)]
pub struct Post<'a> {
    pub title: &'a str,
}

pub mod literal_eleven {
    use super::*;

    #[derive(PassiveReply)]
    #[reply(news)]
    pub struct Digest<'a> {
        pub to_user_name: &'a str,
        pub from_user_name: &'a str,
        pub create_time: u64,
        pub articles: [Post<'a>; 11],
    }
}

pub mod named_const_twelve {
    use super::*;

    pub const MANY: usize = 12;

    #[derive(PassiveReply)]
    #[reply(news)]
    pub struct Digest<'a> {
        pub to_user_name: &'a str,
        pub from_user_name: &'a str,
        pub create_time: u64,
        pub articles: [Post<'a>; MANY],
    }
}
"#;

#[test]
fn cargo_check_reports_too_many_articles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("target").join("cargo-check-fixture");
    std::fs::create_dir_all(fixture.join("src")).unwrap();
    std::fs::write(
        fixture.join("Cargo.toml"),
        format!(
            "[package]\nname = \"too-many-articles\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\npassive-reply = {{ path = {:?} }}\n\n[workspace]\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(fixture.join("src").join("lib.rs"), FIXTURE).unwrap();
    // The workspace's lock file, so the fixture resolves to the same versions without the network.
    std::fs::copy(root.join("Cargo.lock"), fixture.join("Cargo.lock")).unwrap();

    let output = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--message-format=short", "--color=never"])
        .current_dir(&fixture)
        .env("CARGO_TARGET_DIR", fixture.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "cargo check passed a news reply with 11 and 12 articles:\n{stderr}");

    let literal = "src/lib.rs:18:34: error: a news reply holds at most 10 articles, and this array holds 11";
    let named = "src/lib.rs:33:23: error[E0277]: `[Post<'_>; 12]` is not a list of 1 to 10 articles";
    assert!(stderr.contains(literal), "no `{literal}` in:\n{stderr}");
    assert!(stderr.contains(named), "no `{named}` in:\n{stderr}");
    assert_eq!(stderr.matches(": error").count(), 2, "one error each, and no other:\n{stderr}");
}
