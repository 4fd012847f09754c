//! The runtime of [`passive-reply`](https://docs.rs/passive-reply): the [`PassiveReply`] trait,
//! the [`Sink`]s a reply is written into, CDATA escaping ([`cdata`]), the values elements hold
//! ([`TextValue`], [`CreateTime`]), news articles ([`NewsArticle`], [`Articles`]) and the standard
//! messages ([`Text`], [`Image`], [`Voice`], [`Video`], [`Music`], [`News`],
//! [`TransferCustomerService`], [`Empty`]), and the messages the platform sends ([`Incoming`]).
//!
//! Applications depend on `passive-reply`, which re-exports all of this with the derives. This
//! crate is for frameworks that want the runtime alone.
//!
//! ```
//! use reply_core::{PassiveReply, Text};
//!
//! let reply = Text::new("toUser", "fromUser", "你好").with_create_time(12345678);
//! let mut buf = Vec::with_capacity(1024);
//! reply.write_to(&mut buf).unwrap();
//! assert_eq!(buf, reply.to_xml().as_bytes());
//! ```
// `unsafe` is denied for the whole crate (workspace lints) and allowed in three places, each for
// a measured gain (BENCHMARKS.md) and each with tests that Miri runs: the vector code of `cdata`
// on x86-64 (`src/cdata/search.rs`: vector loads and stores, the copies of a value into room
// through pointers after one length check, and calls of functions compiled for SSE2/AVX2, one of
// them a loop over a list's articles compiled for AVX2 with their copies inlined), the
// length update of a `Vec`/`String` sink after pieces were copied into its spare capacity
// (`src/sink.rs`: inline copies of short pieces, and a reply written into room it already had),
// and the decimal form of a CreateTime (`src/value.rs`: the digits it has just written, taken as
// a `str` without validating them again).
//
// The helpers a derived reply calls for each piece it copies into room (`copy`, `Room`,
// `cdata::copy_if_clean`, ...) are `inline(always)` only without debug assertions: in a debug
// build, inlined at every piece of every derived reply, they made a crate of 50 replies take
// 2.3 s to build instead of 0.66 s (`benches/derive-cost/run.sh`), and release builds need them
// inlined (the length of a piece of static text is then a constant).
#![deny(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod cdata;
mod copy;
mod incoming;
mod messages;
mod news;
mod reply;
#[cfg(feature = "tokio")]
pub mod serve;
mod sink;
mod value;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The platform's message schema: kinds, elements, order, and what is required.
pub use reply_schema as schema;

pub use incoming::{
    DEFAULT_MAX_BODY_LEN, DedupKey, Event, Incoming, MAX_DEPTH, Message, ParseError, ParseErrorKind, ParseOptions,
};
pub use messages::{Article, Image, Music, News, Text, TransferCustomerService, Video, Voice};
pub use news::{ArticleCountError, ArticleList, Articles, NewsArticle};
pub use reply::{BoxedReply, DynReply, Empty, PassiveReply, SinkFailed};
pub use sink::{BufferFull, FmtSink, IoSink, Sink, SliceSink};
pub use value::{CreateTime, TextValue, UnixSeconds, now};
