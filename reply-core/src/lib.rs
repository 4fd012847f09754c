//! The runtime of [`passive-reply`](https://docs.rs/passive-reply): the [`PassiveReply`] trait,
//! the [`Sink`]s a reply is written into, CDATA escaping ([`cdata`]), the values elements hold
//! ([`TextValue`], [`CreateTime`]), news articles ([`NewsArticle`], [`Articles`]) and the standard
//! messages ([`Text`], [`Image`], [`Voice`], [`Video`], [`Music`], [`News`],
//! [`TransferCustomerService`], [`Empty`]), each also in its customer-service form (JSON escaping:
//! [`json`]), the messages the platform sends ([`Incoming`], [`Event`], [`RawElement`]), the URL's
//! signature ([`signature`]) and, with the feature `crypto`, safe mode ([`crypto`]): the wire format,
//! and nothing that awaits. No runtime, HTTP or network crate is in its tree, with any feature.
//!
//! Applications depend on `passive-reply`, which re-exports all of this with the derives and the
//! serving crate (`reply-serve`: the budget, the retry guard, routing, the endpoint, the server, the
//! API client). This crate is for frameworks that bring their own server.
//!
//! ```
//! use reply_core::{PassiveReply, Text};
//!
//! let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
//! let mut buf = Vec::with_capacity(1024);
//! reply.write_to(&mut buf).unwrap();
//! assert_eq!(buf, reply.to_xml().as_bytes());
//! ```
// `unsafe` is denied for the whole crate (workspace lints) and allowed in three places, each
// small and commented, each run under Miri with its tests (CONTRIBUTING.md): the vector
// instructions of `cdata` (`src/cdata/vector.rs`: one call of an instruction per operation,
// through slices checked first, and the call into code compiled for AVX2 after the CPU said it
// has it); the length of a `Vec<u8>` or `String` set past what a reply wrote into its spare
// capacity, and the bytes of a `String` reached as a `Vec<u8>` that only ever grows by whole
// UTF-8 pieces (`src/buffer.rs`).
#![deny(unsafe_code)]

mod buffer;
pub mod cdata;
#[cfg(feature = "crypto")]
pub mod crypto;
mod emit;
mod incoming;
#[macro_use]
mod macros;
pub mod json;
mod messages;
mod news;
mod reply;
pub mod signature;
mod sink;
mod value;
mod write;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The platform's message schema: kinds, elements, order, and what is required.
pub use reply_schema as schema;

pub use incoming::{
    Beacon, ComponentNotice, CopyrightCheck, CopyrightCheckItem, DEFAULT_MAX_BODY_LEN, DedupKey, Event, Incoming,
    MAX_DEPTH, Message, MsgKind, Notice, ParseError, ParseErrorKind, ParseOptions, RawElement, SubscribeMsg,
};
pub use messages::{Image, Music, Text, TransferCustomerService, Video, Voice};
pub use news::{Article, ArticleCountError, ArticleList, Articles, News, NewsArticle};
pub use reply::{BoxedReply, DynReply, Empty, PassiveReply, SinkFailed};
pub use sink::{BufferFull, FmtSink, IoSink, Sink, SliceSink};
pub use value::{CreateTime, TextValue, UnixSeconds, now};
