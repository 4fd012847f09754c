//! What the platform sends: parsing its POST body, and answering it.
//!
//! ```
//! use reply_core::{Incoming, Message, PassiveReply};
//!
//! let body = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>\
//!     <FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1348831860</CreateTime>\
//!     <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content>\
//!     <MsgId>1234567890123456</MsgId></xml>";
//! let msg = Incoming::parse(body)?;
//! assert_eq!(msg.from_user_name(), "oUser");
//! assert_eq!(msg.msg_id(), Some(1234567890123456));
//! let Message::Text { content, .. } = msg.message() else { unreachable!() };
//! let reply = msg.reply_text(format!("you said: {content}"));
//! assert!(reply.to_xml().starts_with("<xml><ToUserName><![CDATA[oUser]]></ToUserName>"));
//! # Ok::<(), reply_core::ParseError>(())
//! ```
//!
//! By concern: `error` (what is wrong with a body), `message` (the model: the header and the
//! fields, and replies to a message), `views` (typed access: [`Message`], [`Event`]), and
//! `parser` (the two readers, the plain one and quick-xml, the builder of the model from their pieces,
//! and the limits).

mod error;
mod message;
mod notice;
mod parser;
mod views;

pub use error::{ParseError, ParseErrorKind};
pub use message::{DedupKey, Incoming, RawElement};
pub use notice::{ComponentNotice, Notice};
pub use parser::{DEFAULT_MAX_BODY_LEN, ParseOptions};
pub use parser::{parse_by_quick_xml, parse_plainly};

/// How deep elements may nest. The platform's deepest message
/// (`xml/SendPicsInfo/PicList/item/PicMd5Sum`) has five levels. (Here, above the parser that
/// keeps to it and the error that names it, so neither imports the other.)
pub const MAX_DEPTH: usize = 16;
pub use views::{Beacon, CopyrightCheck, CopyrightCheckItem, Event, Message, MsgKind, SubscribeMsg};
