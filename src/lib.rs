//! Placeholder, written in full below.
#![forbid(unsafe_code)]
pub use reply_core::*;
pub use reply_derive::{NewsArticle, PassiveReply};
