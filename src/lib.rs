//! Placeholder, written in full below.
pub use reply_core::*;
pub use reply_derive::{NewsArticle, PassiveReply};
