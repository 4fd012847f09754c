//! `cargo check`, which is what an editor runs, reports a news reply that can carry more than
//! ten articles. trybuild runs `cargo build`, so this test runs `cargo check` itself on a fixture
//! crate and reads what it printed. And a crate that reaches the runtime only through a
//! framework's re-export, deriving without `crate = …`, is told first and only what to add
//! (trybuild can't make that case: its crates always depend on the crate under test).

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

/// The workspace's root: the facade's directory, above this package's (`tests/`).
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace")
}

/// `cargo check` of a fixture crate `name` with `dependency` (a line of `[dependencies]`) and
/// `source` as its lib.rs: whether it passed, and what it printed. The fixtures share one target
/// directory, and the workspace's lock file (the same versions, without the network).
fn cargo_check(name: &str, dependency: &str, source: &str) -> (bool, String) {
    let root = workspace();
    let fixtures = root.join("target").join("cargo-check-fixture");
    let fixture = fixtures.join(name);
    std::fs::create_dir_all(fixture.join("src")).unwrap();
    std::fs::write(
        fixture.join("Cargo.toml"),
        format!(
            "[package]\nname = {name:?}\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\n{dependency}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(fixture.join("src").join("lib.rs"), source).unwrap();
    std::fs::copy(root.join("Cargo.lock"), fixture.join("Cargo.lock")).unwrap();
    let output = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--message-format=short", "--color=never"])
        .current_dir(&fixture)
        .env("CARGO_TARGET_DIR", fixtures.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn cargo_check_reports_too_many_articles() {
    let root = workspace();
    let dependency = format!("passive-reply = {{ path = {:?} }}", root.display().to_string());
    let (passed, stderr) = cargo_check("too-many-articles", &dependency, FIXTURE);
    assert!(!passed, "cargo check passed a news reply with 11 and 12 articles:\n{stderr}");

    let literal = "src/lib.rs:18:34: error: a news reply holds at most 10 articles, and this array holds 11";
    let named = "src/lib.rs:33:23: error[E0277]: `[Post<'_>; 12]` is not a list of 1 to 10 articles";
    assert!(stderr.contains(literal), "no `{literal}` in:\n{stderr}");
    assert!(stderr.contains(named), "no `{named}` in:\n{stderr}");
    assert_eq!(stderr.matches(": error").count(), 2, "one error each, and no other:\n{stderr}");
}

/// A crate that depends on a framework which re-exports passive-reply, and derives without
/// saying where the runtime is: one error, at the struct, saying what to add.
#[test]
fn a_derive_through_a_re_export_without_its_path_says_what_to_add() {
    let root = workspace();
    let framework = root.join("tests").join("reexport").join("framework");
    let dependency = format!("reexport-framework = {{ path = {:?} }}", framework.display().to_string());
    let source = "use reexport_framework::reply::PassiveReply;\n\n\
                  #[derive(PassiveReply)]\n#[reply(text)]\npub struct Hello<'a> {\n    pub to_user_name: &'a str,\n    \
                  pub from_user_name: &'a str,\n    pub create_time: u64,\n    pub content: &'a str,\n}\n";
    let (passed, stderr) = cargo_check("no-crate-path", &dependency, source);
    assert!(!passed, "derived without reaching the runtime:\n{stderr}");
    let hint = "src/lib.rs:5:12: error: `#[derive(PassiveReply)]` writes code that names the `passive_reply` crate, \
                which this crate's Cargo.toml does not depend on; if it comes through a framework that re-exports \
                it, say where: `#[reply(crate = \"my_framework::reply\")]`";
    assert!(stderr.contains(hint), "no `{hint}` in:\n{stderr}");
    assert_eq!(stderr.matches(": error").count(), 1, "that error, and no other:\n{stderr}");
}
