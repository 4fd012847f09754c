#![doc = include_str!("../README.md")]

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
