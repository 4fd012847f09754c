//! Testing a [`passive-reply`](https://docs.rs/passive-reply) bot without the platform, in
//! `cargo test`: a dev-dependency.
//!
//! - [`Inbound`]: what a user sends, built from typed values: every documented message and
//!   event ([`Inbound::text`], [`Inbound::click`], [`Inbound::scan_code`], …), or any other from
//!   its elements.
//! - [`Platform`]: the platform, simulated for one account: deliveries signed with its token,
//!   in plaintext, compatible or safe mode ([`Platform::safe_mode`]), sent to an endpoint in
//!   process (no socket), to any tower service ([`Service`]), or to a running server's URL
//!   ([`Url`]); the platform's three tries five seconds apart
//!   ([`Platform::send_with_retries`]), which tokio's paused clock runs in no time.
//! - [`Answer`] and [`Reply`]: what came back, read into typed values (an encrypted reply opened
//!   and its signature checked), with assertions that read as the bot's behaviour:
//!   `answer.assert_text("1")`, `answer.assert_empty()`, `tries.assert_answered_on_try(2)`.
//! - [`Runs`]: how many times a handler ran ("once over three tries").
//! - [`api::ApiDouble`] (feature `api`, on by default): the platform's API on loopback, recording
//!   the customer-service sends of late replies and the token requests.
//!
//! ```
//! use std::time::Duration;
//! use passive_reply::endpoint::Endpoint;
//! use passive_reply::router::{Msg, Router, kind};
//! use passive_reply::Text;
//! use passive_reply_test::{Inbound, Platform, Runs};
//!
//! async fn slow_echo(msg: Msg<kind::Text>) -> Text<'static> {
//!     tokio::time::sleep(Duration::from_secs(7)).await;
//!     msg.reply_text(msg.content().to_owned()).into_owned()
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // #[tokio::test(start_paused = true)]: the platform's 15 seconds take none.
//! let runs = Runs::new();
//! let handler = runs.count(Router::new().on::<kind::Text, _, _>(slow_echo).into_handler());
//! let endpoint = Endpoint::new("my-token", handler);
//! let platform = Platform::new("my-token");
//!
//! let tries = platform.send_with_retries(&endpoint, Inbound::text("hi")).await;
//! // The budget (4 s) ran out: the first try was answered empty, and the platform stopped.
//! tries.assert_answered_on_try(1).assert_empty();
//! assert_eq!(runs.get(), 1);
//! # }
//! ```
//!
//! Why a crate of its own and not a feature of `passive-reply`: it is a dev-dependency, so its
//! HTTP client, the API double's server and tokio's test clock never reach an application's
//! build, whatever features its tests turn on.

#[cfg(feature = "api")]
pub mod api;
mod inbound;
mod platform;
mod reply;

pub use inbound::Inbound;
pub use platform::{
    Answer, Delivery, Mode, Platform, RETRY_AFTER, Runs, Service, Target, Tries, Try, Url, envelope_field,
};
pub use reply::{ReadArticle, ReadError, Reply, ReplyBody};

/// The account the simulated platform delivers to unless told: its ToUserName.
pub const DEFAULT_ACCOUNT: &str = "gh_account";

/// Who sends a message unless told: its FromUserName.
pub const DEFAULT_USER: &str = "oUser";
