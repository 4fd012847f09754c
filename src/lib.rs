//! Passive replies for the chat platform's official accounts: the XML a server returns in the
//! response to the platform's POST, built so that the mistakes every string-template SDK makes
//! can't be made, and written without allocating.
//!
//! - Every value is CDATA, and a `]]>` in it can't end the section early: it is split across two
//!   sections. Characters XML forbids (C0 controls, U+FFFE, U+FFFF), which make the platform
//!   refuse the reply, are replaced by U+FFFD. See [`cdata`].
//! - Elements are written in the platform's order, whatever the order of the fields; a required
//!   element can't be left out, and a field that is not an element of the kind is a compile error.
//! - A news reply can't carry more than ten articles: the type of its `articles` field bounds them.
//! - CreateTime is whole seconds, from `u32`, `u64`, `i64` or [`SystemTime`](std::time::SystemTime);
//!   never milliseconds.
//! - `#[derive(PassiveReply)]` turns a struct into a straight-line emitter: one copy per run of
//!   static text, one per value, each value checked as it is copied and escaped where it stands
//!   when it must be. Its length, [`encoded_len`](PassiveReply::encoded_len), comes from the same
//!   generated code as its bytes; [`write_to`](PassiveReply::write_to) allocates nothing when the
//!   sink has room, and [`to_xml`](PassiveReply::to_xml) allocates once when no value needs
//!   escaping.
//!
//! # Quick start
//!
//! ```
//! use std::borrow::Cow;
//! use passive_reply::PassiveReply;
//!
//! #[derive(PassiveReply)]
//! #[reply(text)]
//! struct Hello<'a> {
//!     to_user_name: &'a str,
//!     from_user_name: &'a str,
//!     create_time: u64,
//!     content: Cow<'a, str>,
//! }
//!
//! let hello = Hello { to_user_name: "toUser", from_user_name: "fromUser", create_time: 12345678, content: "你好".into() };
//! let xml: String = hello.to_xml();
//! assert_eq!(
//!     xml,
//!     "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>\
//!      <CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>"
//! );
//! ```
//!
//! The standard messages ([`Text`], [`Image`], [`Voice`], [`Video`], [`Music`], [`News`],
//! [`TransferCustomerService`], [`Empty`]) are defined with the same derive, for when no struct
//! of your own is needed:
//!
//! ```
//! use passive_reply::{PassiveReply, Text};
//!
//! let reply = Text::new("toUser", "fromUser", "你好"); // CreateTime: now
//! let mut body = Vec::with_capacity(1024);               // reuse it across requests
//! reply.write_to(&mut body).unwrap();                    // no allocation: it has room
//! ```
//!
//! # Kinds and their elements
//!
//! Every kind starts with ToUserName, FromUserName and CreateTime (all required) and MsgType,
//! which comes from the kind and is never a field. Then (R required, O optional):
//!
//! | `#[reply(KIND)]` | body elements, in the order they are written |
//! |---|---|
//! | `text` | Content R |
//! | `image` | Image/MediaId R |
//! | `voice` | Voice/MediaId R |
//! | `video` | Video/MediaId R, Video/Title O, Video/Description O |
//! | `music` | Music/Title O, Music/Description O, Music/MusicUrl O, Music/HQMusicUrl O, Music/ThumbMediaId R |
//! | `news` | ArticleCount (counted, never a field), Articles/item R: 1 to `max_articles` items |
//! | `transfer_customer_service` | TransInfo/KfAccount O |
//!
//! The table lives in one place, [`schema`], which the derive reads as it expands.
//!
//! # Fields
//!
//! - A field maps to the element whose name is its own in snake_case: `to_user_name` is
//!   ToUserName, `hq_music_url` is HQMusicUrl, `kf_account` is KfAccount, `articles` is Articles.
//!   `#[reply(rename = "Content")]` maps a field of any other name; `#[reply(skip)]` leaves a field
//!   out. Any other field is a compile error.
//! - Text elements take `&str`, `String`, `Cow<str>`, `Box<str>`, `Rc<str>`, `Arc<str>`, or any type
//!   that implements [`TextValue`]. CreateTime takes any [`CreateTime`]: `u32`, `u64`, `i64` or
//!   `SystemTime`.
//! - An optional element is an `Option<T>` field (`None` leaves it out) or no field at all; a field
//!   of a plain type for an optional element always writes it. A required element can't be an
//!   `Option`. The derive recognises `Option` by how the type is written (`Option<T>`,
//!   `std::option::Option<T>`), as serde does; an alias is not seen.
//! - Generic structs and lifetimes work. Bounds are added for the types of the fields that are
//!   written, not for type parameters as such, so a parameter used only by a skipped field gets none.
//!
//! ```
//! use passive_reply::PassiveReply;
//!
//! #[derive(PassiveReply)]
//! #[reply(video)]
//! struct Clip<T> {
//!     #[reply(rename = "MediaId")]
//!     uploaded: String,
//!     title: Option<T>,           // Video/Title, left out when None
//!     to_user_name: String,       // order doesn't matter
//!     from_user_name: String,
//!     create_time: std::time::SystemTime,
//!     #[reply(skip)]
//!     retries: u8,                // not written
//! }
//!
//! let clip = Clip {
//!     uploaded: "m1".into(),
//!     title: None::<&str>,
//!     to_user_name: "u".into(),
//!     from_user_name: "a".into(),
//!     create_time: std::time::SystemTime::now(),
//!     retries: 0,
//! };
//! assert!(clip.to_xml().ends_with("<Video><MediaId><![CDATA[m1]]></MediaId></Video></xml>"));
//! ```
//!
//! # News
//!
//! `#[derive(NewsArticle)]` maps an article's fields to Title, Description, PicUrl and Url, all
//! optional, with the same `rename` and `skip`. The reply's `articles` field must have a type
//! whose length can't pass the limit: an array `[A; N]` with 1 <= N <= `max_articles`, or
//! [`Articles<A>`](Articles), a list checked when it is built. ArticleCount is counted from the
//! items, so it can't disagree with them. An article gives its values and the reply writes the
//! `<item>`, escaping them; implement [`NewsArticle`](trait@NewsArticle) by hand with
//! `title()`, `description()`, `pic_url()` and `url()` for a type the derive can't take.
//!
//! ```
//! use passive_reply::{NewsArticle, PassiveReply};
//!
//! #[derive(NewsArticle)]
//! struct Post<'a> {
//!     title: &'a str,
//!     description: Option<&'a str>,
//!     pic_url: Option<String>,
//!     url: &'a str,
//! }
//!
//! #[derive(PassiveReply)]
//! #[reply(news)]
//! struct Digest<'a> {
//!     to_user_name: &'a str,
//!     from_user_name: &'a str,
//!     create_time: u64,
//!     articles: [Post<'a>; 2],
//! }
//!
//! let post = |title| Post { title, description: None, pic_url: None, url: "https://example.com" };
//! let digest = Digest { to_user_name: "u", from_user_name: "a", create_time: 1, articles: [post("one"), post("two")] };
//! assert!(digest.to_xml().contains("<ArticleCount>2</ArticleCount><Articles><item><Title><![CDATA[one]]></Title>"));
//! ```
//!
//! `#[reply(max_articles = N)]` (1 to 10) tightens the limit for a platform that allows fewer;
//! `Articles<A, N>` is the list type for it.
//!
//! # Enums
//!
//! A handler that answers with different kinds derives `PassiveReply` on an enum whose variants
//! each wrap one reply; it writes the one it holds, without boxing.
//!
//! ```
//! use passive_reply::{Empty, Image, PassiveReply, Text};
//!
//! #[derive(PassiveReply)]
//! enum Answer<'a> {
//!     Say(Text<'a>),
//!     Show(Image<'a>),
//!     Nothing(Empty),
//! }
//!
//! assert_eq!(Answer::Nothing(Empty).to_xml(), "");
//! ```
//!
//! Where an enum doesn't fit, [`BoxedReply`] holds a reply of any type.
//!
//! # Sinks
//!
//! [`write_to`](PassiveReply::write_to) writes into any [`Sink`]: `Vec<u8>`, `String`, a fixed
//! buffer through [`SliceSink`] (which refuses, before writing a byte, a reply that does not
//! fit), any `std::io::Write` through [`IoSink`], any `core::fmt::Write` through [`FmtSink`], and
//! `bytes::BytesMut` with the feature `bytes`.
//!
//! # Inbound messages
//!
//! [`Incoming::parse`] reads the platform's POST body, borrowing from it wherever a value needs no
//! unescaping. The header has accessors, [`Incoming::message`] gives typed access to every
//! message and event type the platform sends (an unknown one is kept, never an error), and the
//! `reply_*` methods answer with the addresses swapped and CreateTime now. A body that is not a
//! delivery (empty, JSON, not XML, truncated, a header element missing or given twice, CreateTime
//! or MsgId not a number, over 1 MiB, a DTD) is a [`ParseError`] that says what and at which byte;
//! no input panics. [`Incoming::dedup_key`] identifies a delivery across the platform's retries.
//!
//! ```
//! use passive_reply::{Event, Incoming, Message, PassiveReply};
//!
//! fn answer(body: &str) -> String {
//!     let Ok(msg) = Incoming::parse(body) else { return String::new() };
//!     match msg.message() {
//!         Message::Text { content, .. } => msg.reply_text(format!("you said: {content}")).to_xml(),
//!         Message::Event(Event::Subscribe { .. }) => msg.reply_text("welcome").to_xml(),
//!         _ => String::new(), // the empty reply
//!     }
//! }
//!
//! let body = "<xml><ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName>\
//!     <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>";
//! assert!(answer(body).contains("<Content><![CDATA[welcome]]></Content>"));
//! assert_eq!(answer("not xml"), "");
//! ```
//!
//! # Serving
//!
//! With the feature `tokio`, [`serve`] has the platform's serving rules: [`serve::within`]
//! answers with the empty reply when a handler overruns its budget (4 s by default, under the
//! platform's 5), and [`serve::RetryGuard`] runs the handler once per delivery however often
//! the platform retries it. With the feature `axum`, [`axum::Endpoint`] serves the platform's
//! URL: the URL check, signatures, parsing, the budget and the retry guard, in one router.
//! A delivery whose timestamp is more than 300 s from the server's clock is refused as a replay
//! ([`axum::Endpoint::replay_window`]), and the query is checked before a byte of the body is
//! read ([`endpoint::Endpoint::authorize`]); the body then has a deadline and all bodies being read
//! a byte budget. `examples/echo_server.rs` is a complete server. With the feature `server`
//! (which `axum` implies), [`server::Server`] serves the router, or any tower service, with the
//! limits a public URL needs: header and idle timeouts, and a bound on open connections below the
//! process's descriptor limit. With the feature `tower` (which `server` implies), the same
//! endpoint runs outside axum: [`endpoint::Endpoint::into_service`] is a
//! `tower::Service<http::Request<B>>` (hyper alone: `examples/hyper_server.rs`), and
//! [`endpoint::Endpoint::authorize`] then [`endpoint::Authorized::respond`] a plain async path
//! from the method, query string and body to the answer.
//!
//! # Routing
//!
//! [`router::Router`] sends each delivery to the first route that matches (by MsgType, Event,
//! EventKey, Content, or kind), each handler an `async fn` of the route's typed message
//! ([`router::Msg`]) and optionally the application's [`router::State`], with middleware around
//! them; `Endpoint::new(token, router.into_handler())` serves it.
//!
//! # Late replies
//!
//! With the feature `client`, a handler that misses the budget doesn't lose its answer:
//! [`axum::Endpoint::late_replies`] sends the empty reply at the budget, lets the handler finish in
//! a task of its own, and sends its reply, when it comes (within 60 s of the delivery), through the
//! platform's customer-service message API with a [`client::Client`], once: the delivery's
//! retries get the empty reply meanwhile and afterwards. [`serve::LateReplies`] sets the limit and a
//! hook that hears what became of each reply.
//!
//! ```no_run
//! # #[cfg(feature = "client")] fn main() {
//! use passive_reply::axum::Endpoint;
//! use passive_reply::client::Client;
//! # async fn answer(msg: passive_reply::Incoming<'static>) -> passive_reply::Empty { passive_reply::Empty }
//!
//! let client = Client::new("wx0123456789abcdef", "the-app-secret");
//! let app = Endpoint::new("my-token", answer).late_replies(client).into_router();
//! # }
//! # #[cfg(not(feature = "client"))] fn main() {}
//! ```
//!
//! Every reply has its customer-service form, the same message as that API's JSON
//! ([`PassiveReply::to_customer_service`]), written like the XML: its exact length first, escaped
//! for JSON ([`json`]), into a sink without allocating. `transfer_customer_service` has none. The
//! platform takes customer-service messages to a user only within 48 hours of the user's last
//! message ([`client::ApiErrorKind::OutOfWindow`]), which a late reply to a message just received
//! always is.
//!
//! # Safe mode
//!
//! An account in safe mode (the platform's recommendation) or compatible mode gets encrypted
//! deliveries and must answer with encrypted replies. Give the endpoint the account's
//! EncodingAESKey and AppID; compatible and safe deliveries are then answered encrypted, a
//! plaintext one is refused unless [`axum::Endpoint::allow_plaintext`] is on (while an account is
//! switched to safe mode), and the handler sees an ordinary [`Incoming`]:
//!
//! ```no_run
//! use passive_reply::axum::Endpoint;
//! use passive_reply::crypto::MessageCrypto;
//! # async fn answer(msg: passive_reply::Incoming<'static>) -> passive_reply::Empty { passive_reply::Empty }
//!
//! # fn main() -> Result<(), passive_reply::crypto::CryptoError> {
//! let crypto = MessageCrypto::new("my-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")?;
//! let app = Endpoint::new("my-token", answer).crypto(crypto).into_router();
//! # Ok(()) }
//! ```
//!
//! `msg_signature` is checked before anything is decrypted; the padding (PKCS#7 to 32 bytes,
//! every pad byte), the length inside and the AppID are checked after; each refusal is a
//! [`crypto::CryptoError`] whose kind says which. While the platform still uses an account's
//! previous key, [`crypto::MessageCrypto::with_previous_key`] accepts it too, and the reply goes
//! out with the key that decrypted the delivery. [`crypto`] has the steps alone, for other
//! servers.
//!
//! # For frameworks that re-export this crate
//!
//! The generated code names `::passive_reply`. A framework that re-exports this crate lets its
//! users derive through its own path:
//!
//! ```ignore
//! // in the framework:
//! pub use passive_reply as reply;
//!
//! // in an application that depends only on the framework:
//! #[derive(my_framework::reply::PassiveReply)]
//! #[reply(text, crate = my_framework::reply)]      // or serde's string form: crate = "my_framework::reply"
//! struct Hello<'a> { /* … */ }
//! ```
//!
//! A crate whose `Cargo.toml` doesn't name `passive-reply` and derives without `crate = …` gets one
//! error, at the struct, that says to add it, instead of an error for every path of the generated
//! code. (The derive can't learn a framework's path by itself: a derive macro knows the crate it
//! was compiled in, not the one that re-exports it, so the framework's users write it once per
//! struct, as with serde.)
//!
//! # What the compiler catches
//!
//! A reply the platform would refuse does not compile, and the error points at the field,
//! attribute or type that is wrong and says how to fix it. Mistakes are reported together: a
//! struct with three of them shows three errors in one compile, and nothing else. Each rule, with
//! the smallest example of breaking it (each is a `compile_fail` test):
//!
//! 1. **A required element needs a field.** "a text reply needs Content: add a field `content: &'a str`, …"
//!    ```compile_fail
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(text)]
//!    struct Hello<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64 }
//!    ```
//! 2. **A required element can't be an `Option`.** "Content is required in a text reply, so `content` can't be an `Option`: …"
//!    ```compile_fail
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(text)]
//!    struct Hello<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64, content: Option<&'a str> }
//!    ```
//! 3. **Every field is an element of the kind**, with "did you mean" for near misses:
//!    "`contnet` is not an element of a text reply: did you mean `content` (Content)?"
//!    ```compile_fail
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(text)]
//!    struct Hello<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64, contnet: &'a str }
//!    ```
//! 4. **An element is given once.** "`body` and `content` both map to Content: a text reply holds it once"
//!    ```compile_fail
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(text)]
//!    struct Hello<'a> {
//!        to_user_name: &'a str, from_user_name: &'a str, create_time: u64, content: &'a str,
//!        #[reply(rename = "Content")]
//!        body: &'a str,
//!    }
//!    ```
//! 5. **MsgType and ArticleCount are derived, never fields.** "MsgType comes from the kind in `#[reply(…)]` and is never a field: remove this field"
//!    ```compile_fail
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(text)]
//!    struct Hello<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64, content: &'a str, msg_type: &'a str }
//!    ```
//! 6. **The attribute names one known kind and known keys with valid values.** "unknown kind of reply `txt`: did you mean `text`?";
//!    likewise a missing kind, two kinds, an unknown key, `max_articles` outside 1 to 10, and `crate =` that is not a path.
//!    ```compile_fail
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(txt)]
//!    struct Hello<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64, content: &'a str }
//!    ```
//! 7. **`max_articles` is for news.** "`max_articles` is for news replies, and this is a text reply"
//!    ```compile_fail
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(text, max_articles = 5)]
//!    struct Hello<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64, content: &'a str }
//!    ```
//! 8. **A news reply's articles can't be more than the limit, nor none.** An array longer than
//!    `max_articles`: "a news reply holds at most 10 articles, and this array holds 11: …"; an
//!    unbounded collection (`Vec`, a slice, `Box<[A]>`): "… use `Articles<Post<'a>>`, a list that
//!    refuses more when it is built, …". A length from a named constant or a const generic is held
//!    to the same limit by a trait bound, which `cargo check` reports too: "`[Post<'_>; 12]` is
//!    not a list of 1 to 10 articles". The items must be news articles.
//!    ```compile_fail
//!    # #[derive(passive_reply::NewsArticle)] struct Post<'a> { title: &'a str }
//!    const MANY: usize = 12;
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(news)]
//!    struct Digest<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64, articles: [Post<'a>; MANY] }
//!    ```
//!    ```compile_fail
//!    # #[derive(passive_reply::NewsArticle)] struct Post<'a> { title: &'a str }
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(news)]
//!    struct Digest<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: u64, articles: Vec<Post<'a>> }
//!    ```
//! 9. **Values have types that can be written.** Text takes a [`TextValue`], CreateTime a
//!    [`CreateTime`]: "`f64` can't be a CreateTime … CreateTime takes whole seconds since the Unix
//!    epoch: u32, u64, i64 or std::time::SystemTime".
//!    ```compile_fail,E0277
//!    #[derive(passive_reply::PassiveReply)]
//!    #[reply(text)]
//!    struct Hello<'a> { to_user_name: &'a str, from_user_name: &'a str, create_time: f64, content: &'a str }
//!    ```
//! 10. **The derive takes a struct with named fields, or an enum of one-reply variants.** "`PassiveReply`
//!     can't be derived for a tuple struct: name its fields after the elements they hold, …"
//!     ```compile_fail
//!     #[derive(passive_reply::PassiveReply)]
//!     #[reply(text)]
//!     struct Hello<'a>(&'a str, &'a str, u64, &'a str);
//!     ```
//! 11. **The same rules hold for `#[derive(NewsArticle)]`.** "`link` maps to no element of a news article (Title, Description, PicUrl, Url): …"
//!     ```compile_fail
//!     #[derive(passive_reply::NewsArticle)]
//!     struct Post<'a> { title: &'a str, link: &'a str }
//!     ```
//!
//! Every diagnostic has a case in the repository's `tests/ui/`, with the exact compiler output.
//!
//! # Features
//!
//! - `bytes`: [`Sink`] for `bytes::BytesMut`.
//! - `tokio`: [`serve`], the 5-second rule and the retry guard.
//! - `crypto`: [`crypto`], safe mode (RustCrypto's AES and CBC, no OpenSSL).
//! - `tower`: [`endpoint`], the platform's URL served by any HTTP server; implies `tokio`. With
//!   `crypto`, safe mode too (`Endpoint::crypto`).
//! - `server`: [`server`], the crate's HTTP/1.1 server (hyper) with the limits a public URL needs;
//!   implies `tower`.
//! - `axum`: [`axum`], the router for the platform's URL; implies `server`.
//! - `redis`: `serve::RedisStore`, the retry guard (and with `client` the access token) shared by
//!   instances behind one URL; implies `tokio`.
//! - `client`: [`client`], the platform's API (access tokens, customer-service messages) over
//!   HTTPS with rustls, and with `tower`, late replies; implies `tokio`.
//! - `component`: a third-party platform serving the accounts that authorized it
//!   (`endpoint::component`, `client::Component`); implies `client`, `crypto` and `tower`.
//! - `session`: [`session`], conversations: a handler's `Session<T>`, state per account and user
//!   (serde, JSON), in memory or with `redis` in the `RedisStore`; implies `tokio`.
//!
//! Tests of a bot without the platform: the test kit,
//! [`passive-reply-test`](https://docs.rs/passive-reply-test), a dev-dependency.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The wire format: traits, sinks, escaping, messages, inbound parsing, signatures, safe mode.
pub use reply_core::*;

// The serving side, each module under the feature that turns it on (so that rustc's "gated behind
// the feature" hint names the facade's feature, and docs.rs shows the badge).
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use reply_client as client;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use reply_serve::axum;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use reply_serve::endpoint;
pub use reply_serve::router;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use reply_serve::serve;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use reply_serve::server;
#[cfg(feature = "session")]
#[cfg_attr(docsrs, doc(cfg(feature = "session")))]
pub use reply_serve::session;

/// Derives [`PassiveReply`](trait@PassiveReply) for a struct of one kind, or an enum of replies.
/// See the [crate documentation](crate).
pub use reply_derive::PassiveReply;

/// Derives [`NewsArticle`](trait@NewsArticle) for a struct of an article's elements. See
/// [News](crate#news).
pub use reply_derive::NewsArticle;

#[doc(hidden)]
pub use reply_core::__private;

/// The README's Rust snippets, compiled (and run, but for the servers) as this crate's doctests,
/// so that they compile as written. (Lines that set the scene are hidden from rustdoc with `# `.)
#[cfg(all(doctest, feature = "axum", feature = "redis", feature = "client", feature = "regex", feature = "session"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
