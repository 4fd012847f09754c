//! Serving the platform's URL with axum (feature `axum`).
//!
//! [`Endpoint`] makes the [`Router`] for the URL the account is configured with:
//!
//! - `GET` is the platform's URL check: the query's `signature` must be the SHA-1 of the token,
//!   `timestamp` and `nonce`, sorted and joined; the answer is `echostr`, otherwise 403.
//! - `POST` is a delivery: the same signature in the query string (otherwise 403), the body read
//!   with [`Incoming::parse`] (400 with a short plain-text reason when it is not a delivery),
//!   then the handler's reply, through [`within`] (the 5-second rule) and a [`RetryGuard`] (the
//!   platform's retries get the same reply, and the handler runs once).
//!
//! ```no_run
//! use reply_core::axum::Endpoint;
//! use reply_core::{BoxedReply, Empty, Incoming, Message, PassiveReply};
//!
//! async fn answer(msg: Incoming<'static>) -> BoxedReply<'static> {
//!     match msg.message() {
//!         Message::Text { content } => msg.reply_text(content.to_owned()).into_owned().boxed(),
//!         _ => Empty.boxed(),
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let app = Endpoint::new("my-token", answer).into_router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! [`within`]: crate::serve::within

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::axum::Router;
use ::axum::body::{Body, Bytes};
use ::axum::extract::{RawQuery, State};
use ::axum::http::{StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;

use crate::incoming::{Incoming, ParseOptions};
use crate::reply::PassiveReply;
use crate::serve::{DEFAULT_BUDGET, MemoryStore, ReplyStore, RetryGuard, within};

/// The content type of a reply.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Any reply as an axum response: `text/xml; charset=utf-8`, or an empty body for a reply of
/// zero bytes ([`Empty`](crate::Empty)).
///
/// ```
/// use axum::response::IntoResponse;
/// use reply_core::axum::Xml;
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
        written(Bytes::from(self.0.to_xml()))
    }
}

fn written(bytes: Bytes) -> Response {
    if bytes.is_empty() {
        // The platform's empty-string reply: no content, no content type.
        (StatusCode::OK, Body::empty()).into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], bytes).into_response()
    }
}

/// The platform's URL, served: the URL check and deliveries, with the signature checked, the
/// handler run under a budget and once per delivery.
#[derive(Debug)]
pub struct Endpoint<H, S = MemoryStore> {
    token: Arc<str>,
    handler: H,
    budget: Duration,
    options: ParseOptions,
    guard: RetryGuard<S>,
}

impl<H> Endpoint<H> {
    /// The endpoint for an account configured with `token`, answering deliveries with
    /// `handler`: a budget of [`DEFAULT_BUDGET`] (4 s), a [`MemoryStore`] for retries, and the
    /// default [`ParseOptions`].
    pub fn new(token: impl Into<String>, handler: H) -> Self {
        Endpoint {
            token: token.into().into(),
            handler,
            budget: DEFAULT_BUDGET,
            options: ParseOptions::new(),
            guard: RetryGuard::new(),
        }
    }
}

impl<H, S> Endpoint<H, S> {
    /// How long the handler has before the empty reply goes out instead.
    #[must_use]
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Limits for reading bodies.
    #[must_use]
    pub fn parse_options(mut self, options: ParseOptions) -> Self {
        self.options = options;
        self
    }

    /// Uses `guard` (and its store) for retries: to share one across routes, or to use a store
    /// that several instances share.
    #[must_use]
    pub fn retry_guard<T>(self, guard: RetryGuard<T>) -> Endpoint<H, T> {
        Endpoint { token: self.token, handler: self.handler, budget: self.budget, options: self.options, guard }
    }

    /// The router, with the URL at `/`; nest it to serve it elsewhere.
    pub fn into_router<Fut, R>(self) -> Router
    where
        H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: PassiveReply + Send + 'static,
        S: ReplyStore,
    {
        Router::new().route("/", get(url_check::<H, S>).post(delivery::<H, S, Fut, R>)).with_state(Arc::new(self))
    }
}

/// The query string's parameters the platform signs with.
#[derive(Default)]
struct Signed {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

impl Signed {
    fn from_query(query: Option<&str>) -> Self {
        let mut signed = Signed::default();
        for pair in query.unwrap_or("").split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "signature" => &mut signed.signature,
                "timestamp" => &mut signed.timestamp,
                "nonce" => &mut signed.nonce,
                "echostr" => &mut signed.echostr,
                _ => continue,
            };
            *slot = percent_decode(value);
        }
        signed
    }

    /// Whether `signature` is the SHA-1 of the sorted token, timestamp and nonce.
    fn is_valid(&self, token: &str) -> bool {
        let (Some(signature), Some(timestamp), Some(nonce)) = (&self.signature, &self.timestamp, &self.nonce) else {
            return false;
        };
        let expected = signature_of(token, timestamp, nonce);
        constant_time_eq(expected.as_bytes(), signature.to_ascii_lowercase().as_bytes())
    }
}

/// The platform's signature: the hex SHA-1 of `token`, `timestamp` and `nonce`, sorted and
/// joined.
///
/// ```
/// // The three strings sorted: "1409304348", "xxxxxx", "yyyyyy".
/// let signature = reply_core::axum::signature_of("xxxxxx", "1409304348", "yyyyyy");
/// assert_eq!(signature.len(), 40);
/// ```
pub fn signature_of(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    let mut hash = sha1_smol::Sha1::new();
    for part in parts {
        hash.update(part.as_bytes());
    }
    hash.digest().to_string()
}

/// Compares without stopping at the first difference, so the time taken says nothing of where
/// a forged signature goes wrong.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// `%XX` and `+` decoded; `None` when the result is not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' => match (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "the signature does not match\n").into_response()
}

async fn url_check<H, S>(State(endpoint): State<Arc<Endpoint<H, S>>>, RawQuery(query): RawQuery) -> Response {
    let signed = Signed::from_query(query.as_deref());
    match &signed.echostr {
        Some(echostr) if signed.is_valid(&endpoint.token) => (StatusCode::OK, echostr.clone()).into_response(),
        _ => forbidden(),
    }
}

async fn delivery<H, S, Fut, R>(
    State(endpoint): State<Arc<Endpoint<H, S>>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
    S: ReplyStore,
{
    if !Signed::from_query(query.as_deref()).is_valid(&endpoint.token) {
        return forbidden();
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not UTF-8\n").into_response();
    };
    let msg = match Incoming::parse_with(text, endpoint.options) {
        Ok(msg) => msg.into_owned(),
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let key = msg.dedup_key();
    let handler = endpoint.handler.clone();
    let budget = endpoint.budget;
    let reply = endpoint.guard.answer(key, move || within(budget, handler(msg))).await;
    written(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings() {
        let signed = Signed::from_query(Some("signature=ab&timestamp=1&nonce=n%20o&echostr=a+b%2Bc&other=x"));
        assert_eq!(signed.signature.as_deref(), Some("ab"));
        assert_eq!(signed.nonce.as_deref(), Some("n o"));
        assert_eq!(signed.echostr.as_deref(), Some("a b+c"));
        assert_eq!(percent_decode("%"), Some("%".into()));
        assert_eq!(percent_decode("%4"), Some("%4".into()));
        assert_eq!(percent_decode("%41"), Some("A".into()));
        assert_eq!(percent_decode("%zz"), Some("%zz".into()));
        assert_eq!(percent_decode("%E4%BD%A0"), Some("你".into()));
        assert_eq!(percent_decode("%FF"), None);
        assert!(Signed::from_query(None).signature.is_none());
    }

    #[test]
    fn signatures() {
        // Sorted and joined, the three are "abc", whose SHA-1 is FIPS 180's first test vector.
        let expected = "a9993e364706816aba3e25717850c26c9cd0d89d";
        assert_eq!(signature_of("b", "c", "a"), expected);
        assert_eq!(signature_of("a", "b", "c"), expected);
        let signed = Signed {
            signature: Some(expected.to_uppercase()),
            timestamp: Some("c".into()),
            nonce: Some("a".into()),
            echostr: None,
        };
        assert!(signed.is_valid("b"));
        assert!(!signed.is_valid("d"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
