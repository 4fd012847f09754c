//! Serving the platform's URL with axum (feature `axum`): [`Endpoint::into_router`], a thin layer
//! over the endpoint's tower service ([`crate::endpoint`], where the whole delivery path is; its
//! items are re-exported here). The router answers at `/`:
//!
//! - `GET` is the platform's URL check: the query's `signature` must be the SHA-1 of the token,
//!   `timestamp` and `nonce`, sorted and joined; the answer is `echostr`, otherwise 403.
//! - `POST` is a delivery: the same signature in the query string, and a timestamp within the
//!   replay window of the server's clock (otherwise 403 with the reason), checked before the body
//!   is read; the body read within a deadline and a byte budget with [`Incoming::parse`] (400
//!   with a short plain-text reason when it is not a delivery), then the handler's reply, through
//!   [`within`] (the 5-second rule) and a [`RetryGuard`] (the platform's retries get the same
//!   reply, and the handler runs once).
//! - With [`Endpoint::crypto`], an encrypted delivery (`encrypt_type=aes`, in safe or compatible
//!   mode) has its `msg_signature` checked before anything is decrypted (403), is decrypted (400
//!   with the reason if that fails), and is answered with an encrypted reply, with the key that
//!   decrypted it. A plaintext delivery is refused (403) unless [`Endpoint::allow_plaintext`] is
//!   on. The handler sees an ordinary [`Incoming`] either way.
//!
//! Serve the router with the crate's [`Server`](crate::server::Server) (as below), which bounds
//! what a client that never authenticates can cost; `axum::serve` has no header timeout.
//!
//! ```no_run
//! use reply_serve::axum::Endpoint;
//! use reply_core::{BoxedReply, Empty, Incoming, Message, PassiveReply};
//!
//! async fn answer(msg: Incoming<'static>) -> BoxedReply<'static> {
//!     match msg.message() {
//!         Message::Text { content, .. } => msg.reply_text(content.to_owned()).into_owned().boxed(),
//!         _ => Empty.boxed(),
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let app = Endpoint::new("my-token", answer).into_router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! reply_serve::server::Server::new(listener).serve(app).await
//! # }
//! ```
//!
//! [`within`]: crate::serve::within
//! [`RetryGuard`]: crate::serve::RetryGuard

use std::future::Future;

use ::axum::Router;
use ::axum::response::{IntoResponse, Response};

use crate::endpoint::Answer;
pub use crate::endpoint::{
    Authorized, CONTENT_TYPE, DEFAULT_BODY_BUDGET, DEFAULT_BODY_TIMEOUT, DEFAULT_REPLAY_WINDOW, Endpoint, signature_of,
};
use crate::serve::ReplyStore;
use reply_core::Incoming;
use reply_core::PassiveReply;

/// Any reply as an axum response: `text/xml; charset=utf-8`, or an empty body for a reply of
/// zero bytes ([`Empty`](reply_core::Empty)).
///
/// ```
/// use axum::response::IntoResponse;
/// use reply_serve::axum::Xml;
/// use reply_core::{Empty, Text};
///
/// let response = Xml(Text::new("u", "gh", "hi")).into_response();
/// assert_eq!(response.headers()["content-type"], "text/xml; charset=utf-8");
/// let nothing = Xml(Empty).into_response();
/// assert!(nothing.headers().get("content-type").is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Xml<R>(pub R);

impl<R: PassiveReply> IntoResponse for Xml<R> {
    fn into_response(self) -> Response {
        Answer::reply(self.0.to_xml().into()).into_response().into_response()
    }
}

impl<H, S> Endpoint<H, S> {
    /// The router, with the URL at `/`; nest it to serve it elsewhere.
    pub fn into_router<Fut, R>(self) -> Router
    where
        H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: PassiveReply + Send + 'static,
        S: ReplyStore,
    {
        Router::new().route_service("/", self.into_service())
    }
}
