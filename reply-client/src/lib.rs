//! The platform's API for [`passive-reply`](https://docs.rs/passive-reply), for what a passive
//! reply can't do: access tokens, and the customer-service message API that sends a reply after
//! the five seconds. (`passive_reply::client` with the feature `client`; the serving crate's late
//! replies send through it.)
//!
//! [`Client`] fetches the account's access token and keeps it: refreshed ahead of its expiry, one
//! refresh at a time however many sends wait for it, and dropped only when the platform says that
//! very token is stale (another refresh may have replaced it already). [`Client::send`] sends any
//! reply that has a customer-service form ([`PassiveReply::customer_service_len`]) and tells what
//! became of it with an [`ApiError`] of one [`ApiErrorKind`] per class of the platform's error
//! codes. It retries what is safe to retry (a connection that failed, the platform's "busy"), a
//! bounded number of times with growing pauses; a request that may have reached the platform is
//! never sent twice.
//!
//! HTTPS goes through rustls (ring, the Mozilla roots), HTTP/1.1 with pooled connections; no
//! OpenSSL. `http://` bases are accepted too, for a platform double in tests or a proxy.
//!
//! ```no_run
//! use reply_client::Client;
//! use reply_core::Text;
//!
//! # #[tokio::main] async fn main() -> Result<(), reply_client::ApiError> {
//! let client = Client::new("wx0123456789abcdef", "the-app-secret");
//! client.send(&Text::new("oUser", "gh_account", "Your report is ready.")).await?;
//! # Ok(()) }
//! ```
//!
//! The platform accepts a customer-service message to a user only within 48 hours of that user's
//! last message to the account ([`ApiErrorKind::OutOfWindow`], 45015, afterwards), and only so many
//! per user ([`ApiErrorKind::Limit`], 45047). A late reply to a message the user just sent is well
//! inside the window.
//!
//! Instances behind one URL should share their token ([`Builder::token_store`], with the serving
//! crate's `serve::RedisStore` when its `redis` feature is on): with the plain token API, each
//! instance that fetches a token makes the others' stale within minutes.
#![forbid(unsafe_code)]

mod component;
mod memory;

pub use component::{Authorization, Component, ComponentBuilder, DEFAULT_TICKET_LIFE};
pub use memory::MemoryTokenStore;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use reply_core::PassiveReply;

/// The platform's API host, as it documents it.
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

/// How long before its expiry a token is refreshed by default: 5 minutes, the time the platform
/// keeps an old token valid after a new one is fetched.
pub const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(300);

/// How long one request to the platform may take by default, connecting included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a request that failed in a way worth retrying is retried by default.
pub const DEFAULT_RETRIES: u32 = 3;

/// The first pause before a retry by default; each further one is twice as long, at most 8 s.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(250);

/// The most of a response body that is read: the platform's answers are a few dozen bytes.
const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The longest a token is believed to live, whatever `expires_in` says (the platform's are 2 h).
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(24 * 60 * 60);

/// What went wrong with a request to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 40001, 40014 or 42001: the access token was stale, and still was after one refresh.
    StaleToken,
    /// 45015: the user's last message to the account was more than 48 hours ago, so the
    /// customer-service API may not write to them. Not retried.
    OutOfWindow,
    /// 45047: too many customer-service messages to this user. Not retried.
    Limit,
    /// -1: the platform was busy, on every try.
    Busy,
    /// Fetching the access token failed with the platform's error: a wrong AppID or secret
    /// (40013, 40125), or this server's IP not on the account's allow list (40164).
    Token,
    /// Any other error code of the platform: see [`ApiError::code`] and [`ApiError::message`].
    Platform,
    /// The platform couldn't be reached, or didn't answer in time, or the connection broke, or a
    /// gateway in front of it answered 429, 502, 503 or 504.
    Network,
    /// The platform answered with something that is not one of its answers (an HTTP error
    /// status, a body that is not its JSON).
    BadResponse,
    /// The reply has no customer-service form (the empty reply, `transfer_customer_service`).
    NotSendable,
}

/// A request to the platform that failed: its kind, the platform's error code and message when
/// it gave them, and whether the request may have reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    kind: ApiErrorKind,
    code: Option<i64>,
    message: Arc<str>,
}

impl ApiError {
    fn new(kind: ApiErrorKind, code: Option<i64>, message: impl Into<Arc<str>>) -> Self {
        ApiError { kind, code, message: message.into() }
    }

    /// The platform's `errcode` for an error it sent; the class of the code is [`kind`](Self::kind).
    fn from_code(code: i64, message: &str, fetching_token: bool) -> Self {
        let kind = match code {
            40001 | 40014 | 42001 => ApiErrorKind::StaleToken,
            45015 => ApiErrorKind::OutOfWindow,
            45047 => ApiErrorKind::Limit,
            -1 => ApiErrorKind::Busy,
            _ if fetching_token => ApiErrorKind::Token,
            _ => ApiErrorKind::Platform,
        };
        ApiError::new(kind, Some(code), message)
    }

    /// Which kind of failure.
    pub fn kind(&self) -> ApiErrorKind {
        self.kind
    }

    /// The platform's `errcode`, when it sent one.
    pub fn code(&self) -> Option<i64> {
        self.code
    }

    /// The platform's `errmsg`, or what went wrong on the way.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ApiErrorKind::StaleToken => "the access token is stale, even after a refresh",
            ApiErrorKind::OutOfWindow => "the user's last message is more than 48 hours old",
            ApiErrorKind::Limit => "too many customer-service messages to this user",
            ApiErrorKind::Busy => "the platform is busy",
            ApiErrorKind::Token => "the platform refused to give an access token",
            ApiErrorKind::Platform => "the platform refused the request",
            ApiErrorKind::Network => "the platform could not be reached",
            ApiErrorKind::BadResponse => "the platform's answer could not be read",
            ApiErrorKind::NotSendable => "the reply has no customer-service form",
        };
        match self.code {
            Some(code) => write!(f, "{what} ({code}: {})", self.message),
            None if self.message.is_empty() => f.write_str(what),
            None => write!(f, "{what}: {}", self.message),
        }
    }
}

impl std::error::Error for ApiError {}

/// What the platform answered, read from its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiAnswer {
    /// `errcode` 0 (or none), without a token.
    Ok,
    /// A token, and its life in seconds; for an authorizer's token, the refresh token that
    /// comes with it (and the authorizer's AppID, from `api_query_auth`).
    Token { token: Box<str>, expires_in: u64, refresh: Option<Box<str>>, app_id: Option<Box<str>> },
    /// A non-zero `errcode`, with its `errmsg`.
    Error { code: i64, message: Box<str> },
}

/// Reads one of the platform's answers: `{"errcode":0,"errmsg":"ok"}`, `{"access_token":"…",
/// "expires_in":7200}`, `{"errcode":40013,"errmsg":"…"}`. Anything else is `None`; no input
/// panics (fuzzed: `fuzz/fuzz_targets/api_answer.rs`).
pub(crate) fn read_answer(body: &[u8]) -> Option<ApiAnswer> {
    let serde_json::Value::Object(object) = serde_json::from_slice(body).ok()? else { return None };
    let code = match object.get("errcode") {
        None => 0,
        Some(code) => code.as_i64()?,
    };
    if code != 0 {
        let message = object.get("errmsg").and_then(|m| m.as_str()).unwrap_or("");
        return Some(ApiAnswer::Error { code, message: message.into() });
    }
    // `api_query_auth` answers inside `authorization_info`.
    let object = match object.get("authorization_info") {
        Some(serde_json::Value::Object(info)) => info,
        Some(_) => return None,
        None => &object,
    };
    // An account's token, a component's, or an authorizer's.
    let token =
        ["access_token", "component_access_token", "authorizer_access_token"].iter().find_map(|name| object.get(*name));
    let text = |name: &str| object.get(name).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(Box::from);
    match (token, object.get("expires_in")) {
        (None, _) => Some(ApiAnswer::Ok),
        (Some(token), Some(expires_in)) => {
            let token = token.as_str().filter(|t| !t.is_empty())?;
            let expires_in = expires_in.as_u64().filter(|&s| s > 0)?;
            Some(ApiAnswer::Token {
                token: token.into(),
                expires_in,
                refresh: text("authorizer_refresh_token"),
                app_id: text("authorizer_appid"),
            })
        }
        (Some(_), None) => None,
    }
}

/// What the client reads from one of the platform's answers, as text: `ok`, `token T N`,
/// `error CODE: the error's Display`, or `None` for what is not an answer: for the fuzz target
/// (`fuzz/fuzz_targets/api_answer.rs`), not an API.
#[doc(hidden)]
pub fn read_answer_text(body: &[u8]) -> Option<String> {
    Some(match read_answer(body)? {
        ApiAnswer::Ok => "ok".to_owned(),
        ApiAnswer::Token { token, expires_in, refresh, app_id } => {
            let mut text = format!("token {token} {expires_in}");
            for (name, value) in [("refresh", refresh), ("app", app_id)] {
                if let Some(value) = value {
                    text.push_str(&format!(" {name} {value}"));
                }
            }
            text
        }
        ApiAnswer::Error { code, message } => format!("error {code}: {}", ApiError::from_code(code, &message, false)),
    })
}

/// An access token kept for the account: the one in use, shared by every send.
#[derive(Debug, Clone)]
struct Cached {
    token: Arc<str>,
    /// When to fetch the next one (before this one expires).
    refresh_at: Instant,
    expires_at: Instant,
}

/// An access token, as a shared [`TokenStore`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The token.
    pub token: Arc<str>,
    /// How much longer it lives.
    pub expires_in: Duration,
}

/// A boxed future, as [`TokenStore`]'s methods return them (the same type as the serving crate's
/// `serve::BoxFuture`).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What a [`TokenStore`] failed with: any error of its own (the client logs it, and goes on
/// without the store).
pub type TokenStoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where several instances keep the account's access token, so that one fetches it for all:
/// each instance that fetched its own would make the others' stale. `serve::RedisStore`
/// implements it (features `redis` and `client`). A store that fails is logged and worked around:
/// the client then fetches and keeps the token itself.
pub trait TokenStore: Send + Sync + 'static {
    /// The token kept for `app_id`, and how much longer it lives.
    fn get<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<Option<StoredToken>, TokenStoreError>>;

    /// Keeps `token` for `app_id`, for `expires_in`.
    fn put<'a>(
        &'a self,
        app_id: &'a str,
        token: &'a str,
        expires_in: Duration,
    ) -> BoxFuture<'a, Result<(), TokenStoreError>>;

    /// Forgets the token kept for `app_id` if it is still `token` (compare and expire): the
    /// platform called it stale, but another instance may have replaced it already.
    fn expire<'a>(&'a self, app_id: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), TokenStoreError>>;

    /// Takes the right to fetch a token for `app_id` for `lease`, if no instance holds it: true
    /// when this one now does. The others wait for the token to appear.
    fn lock<'a>(&'a self, app_id: &'a str, lease: Duration) -> BoxFuture<'a, Result<bool, TokenStoreError>>;

    /// Gives the right to fetch back.
    fn unlock<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<(), TokenStoreError>>;
}

/// How a client gets its access token.
#[derive(Debug, Clone)]
enum TokenMode {
    /// `GET /cgi-bin/token`: each fetch makes a new token (the old one lives 5 more minutes).
    Plain,
    /// `POST /cgi-bin/stable_token` with `force_refresh: false`: the same token while it lives,
    /// whoever asks.
    Stable,
    /// A third-party platform's `component_access_token`, from its secret and the
    /// `component_verify_ticket` kept in the store.
    Component,
    /// An authorizer account's token, refreshed through its component with the refresh token
    /// kept in the store.
    Authorizer(component::Component),
}

impl TokenMode {
    /// The key of the token in a shared store: the AppID for an account of its own, and keys of
    /// their own for a component's token and an authorizer's, so that none can stand for another.
    fn store_key(&self, app_id: &str) -> Box<str> {
        match self {
            TokenMode::Plain | TokenMode::Stable => app_id.into(),
            TokenMode::Component => format!("component:{app_id}").into(),
            TokenMode::Authorizer(component) => format!("authorizer:{}:{app_id}", component.app_id()).into(),
        }
    }
}

/// A client of the platform's API for one account. Cheap to clone: clones share the token and
/// the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    app_id: Box<str>,
    secret: Box<str>,
    mode: TokenMode,
    /// The token's key in the store ([`TokenMode::store_key`]).
    store_key: Box<str>,
    refresh_ahead: Duration,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    store: Option<Arc<dyn TokenStore>>,
    /// The token in use.
    current: Mutex<Option<Cached>>,
    /// Held by the one task that refreshes the token (single flight), with the error of the
    /// last refresh if it failed: those who waited for it get that error, rather than each trying
    /// again in turn.
    refreshing: tokio::sync::Mutex<Option<ApiError>>,
    /// How many refreshes have started.
    refreshes: AtomicU64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the secret, nor the token.
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("app_id", &self.inner.app_id)
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`Client`]: [`Client::builder`].
#[derive(Clone)]
pub struct Builder {
    base: String,
    app_id: Box<str>,
    secret: Box<str>,
    mode: TokenMode,
    refresh_ahead: Duration,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    store: Option<Arc<dyn TokenStore>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").field("base", &self.base).field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

/// A [`Builder`]'s setting that can't work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

impl Builder {
    /// The API's base URL, `https://` (or `http://`), without a trailing path: default
    /// [`DEFAULT_API_BASE`].
    #[must_use]
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.base = base.into();
        self
    }

    /// Fetches tokens from the stable-token API (`POST /cgi-bin/stable_token`), which hands out
    /// the same token while it lives, however many servers ask: instances that can't share a
    /// [`TokenStore`] then don't make each other's token stale.
    #[must_use]
    pub fn stable_token(mut self, stable: bool) -> Self {
        self.mode = if stable { TokenMode::Stable } else { TokenMode::Plain };
        self
    }

    /// How long before its expiry a token is replaced: default [`DEFAULT_REFRESH_AHEAD`] (at most
    /// half its life).
    #[must_use]
    pub fn refresh_ahead(mut self, ahead: Duration) -> Self {
        self.refresh_ahead = ahead;
        self
    }

    /// How long one request may take, connecting included: default [`DEFAULT_REQUEST_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a request is retried after a failure worth retrying (a connection that
    /// failed, an HTTP 429 or 5xx gateway status, the platform's -1 "busy"), with pauses of
    /// `backoff`, twice that, and so on (at most 8 s each). Default [`DEFAULT_RETRIES`] and
    /// [`DEFAULT_BACKOFF`].
    #[must_use]
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    /// Keeps the token in `store`, shared with the other instances that use it.
    #[must_use]
    pub fn token_store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client, BuildError> {
        let base = self.base.trim_end_matches('/').to_owned();
        let uri: Uri = base.parse().map_err(|e| BuildError(format!("the API base {base:?} is not a URL: {e}")))?;
        if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.host().is_none() {
            return Err(BuildError(format!("the API base {base:?} is not an https:// (or http://) URL")));
        }
        if uri.query().is_some() {
            return Err(BuildError(format!("the API base {base:?} has a query")));
        }
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| BuildError(format!("TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let http = HttpClient::builder(TokioExecutor::new()).build(tls);
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                store_key: self.mode.store_key(&self.app_id),
                app_id: self.app_id,
                secret: self.secret,
                mode: self.mode,
                refresh_ahead: self.refresh_ahead,
                timeout: self.timeout,
                retries: self.retries,
                backoff: self.backoff,
                store: self.store,
                current: Mutex::new(None),
                refreshing: tokio::sync::Mutex::new(None),
                refreshes: AtomicU64::new(0),
            }),
        })
    }
}

/// A request's failure, and whether it is worth trying again.
struct Failure {
    error: ApiError,
    retry: bool,
}

impl Client {
    /// A client for the account `app_id` with `app_secret`, on the platform's own host, with the
    /// default settings.
    pub fn new(app_id: impl Into<String>, app_secret: impl Into<String>) -> Client {
        // The default base is a valid https URL and ring's provider has safe defaults: this
        // can't fail.
        Client::builder(app_id, app_secret).build().unwrap_or_else(|e| unreachable!("the default client: {e}"))
    }

    /// The settings of a client for the account `app_id` with `app_secret`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reply_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let client = Client::builder("wx0123456789abcdef", "secret")
    ///     .api_base("https://api.weixin.qq.com")
    ///     .stable_token(true)
    ///     .retries(2, Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// assert!(Client::builder("wx1", "s").api_base("ftp://example.com").build().is_err());
    /// # }
    /// ```
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<String>) -> Builder {
        Builder {
            base: DEFAULT_API_BASE.to_owned(),
            app_id: app_id.into().into(),
            secret: app_secret.into().into(),
            mode: TokenMode::Plain,
            refresh_ahead: DEFAULT_REFRESH_AHEAD,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            retries: DEFAULT_RETRIES,
            backoff: DEFAULT_BACKOFF,
            store: None,
        }
    }

    /// The account's AppID.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// A client of the account `app_id` with this one's settings, store and connections, its
    /// token got by `mode`.
    fn derived(&self, app_id: &str, mode: TokenMode) -> Client {
        let inner = &self.inner;
        Client {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                base: inner.base.clone(),
                store_key: mode.store_key(app_id),
                app_id: app_id.into(),
                secret: "".into(),
                mode,
                refresh_ahead: inner.refresh_ahead,
                timeout: inner.timeout,
                retries: inner.retries,
                backoff: inner.backoff,
                store: inner.store.clone(),
                current: Mutex::new(None),
                refreshing: tokio::sync::Mutex::new(None),
                refreshes: AtomicU64::new(0),
            }),
        }
    }

    /// Sends `reply` through the customer-service message API, to its ToUserName: the same
    /// message, as that API's JSON ([`PassiveReply::write_customer_service`]). A stale token is
    /// refreshed and the send tried once more; a failure worth retrying is retried.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn send(&self, reply: &(impl PassiveReply + ?Sized)) -> Result<(), ApiError> {
        self.send_json(customer_service_body(reply)?).await
    }

    /// Sends a customer-service message already written as the API's JSON: for the kinds a
    /// passive reply can't be (a mini-program card, a menu), written by the application.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn send_json(&self, body: Bytes) -> Result<(), ApiError> {
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let uri = self.uri("/cgi-bin/message/custom/send", &[("access_token", &token)]);
            match self.request(Method::POST, uri, Some(body.clone()), false).await? {
                ApiAnswer::Error { code, .. } if is_stale(code) && !refreshed => {
                    self.expire(&token).await;
                    refreshed = true;
                }
                ApiAnswer::Error { code, message } => {
                    let error = ApiError::from_code(code, &message, false);
                    api_error(&error);
                    return Err(error);
                }
                ApiAnswer::Ok => return Ok(()),
                ApiAnswer::Token { .. } => {
                    return Err(ApiError::new(
                        ApiErrorKind::BadResponse,
                        None,
                        "a token where a send's result was due",
                    ));
                }
            }
        }
    }

    /// The account's access token: the one kept while it is fresh, otherwise a new one, fetched
    /// once however many callers wait for it.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn access_token(&self) -> Result<Arc<str>, ApiError> {
        let now = Instant::now();
        let kept = self.kept(now);
        if let Some(cached) = &kept
            && now < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        if let Some(cached) = kept {
            // Due for a refresh but still valid: one caller refreshes, the others use it meanwhile.
            let Ok(refresh) = self.inner.refreshing.try_lock() else { return Ok(cached.token) };
            return Ok(self.refresh(refresh, None).await.unwrap_or(cached.token));
        }
        let seen = self.inner.refreshes.load(Ordering::Acquire);
        let refresh = self.inner.refreshing.lock().await;
        self.refresh(refresh, Some(seen)).await
    }

    /// The kept token, if it has not expired at `now`.
    fn kept(&self, now: Instant) -> Option<Cached> {
        let current = self.inner.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|c| now < c.expires_at).cloned()
    }

    /// Under the refresh lock: the token another caller fetched while this one waited, or the error
    /// of the refresh that started after this caller saw `seen` and failed, or a token fetched now.
    async fn refresh(
        &self,
        mut failed: tokio::sync::MutexGuard<'_, Option<ApiError>>,
        seen: Option<u64>,
    ) -> Result<Arc<str>, ApiError> {
        let now = Instant::now();
        if let Some(cached) = self.kept(now).filter(|c| now < c.refresh_at) {
            return Ok(cached.token);
        }
        if let (Some(seen), Some(error)) = (seen, &*failed)
            && self.inner.refreshes.load(Ordering::Acquire) > seen
        {
            return Err(error.clone());
        }
        self.inner.refreshes.fetch_add(1, Ordering::AcqRel);
        let fetched = match &self.inner.store {
            Some(store) => self.through_store(&**store).await,
            None => self.fetch_and_keep().await,
        };
        *failed = fetched.as_ref().err().cloned();
        fetched
    }

    /// Keeps `token`, which lives `life` from `since`.
    fn keep(&self, token: Arc<str>, life: Duration, since: Instant) -> Arc<str> {
        let life = life.min(MAX_TOKEN_LIFE);
        let ahead = self.inner.refresh_ahead.min(life / 2);
        let cached = Cached { token: token.clone(), refresh_at: since + (life - ahead), expires_at: since + life };
        *self.inner.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(cached);
        token
    }

    /// The token through the shared store: the one kept there while it is fresh; otherwise this
    /// instance fetches one for all if no other is, or waits for the one another is fetching.
    async fn through_store(&self, store: &dyn TokenStore) -> Result<Arc<str>, ApiError> {
        let app_id = &*self.inner.store_key;
        // Fresh while it has more left than the refresh margin (at most an hour: the platform's
        // tokens live two).
        let fresh = |stored: &StoredToken| stored.expires_in > self.inner.refresh_ahead.min(Duration::from_secs(3600));
        let lease = self.inner.timeout * (self.inner.retries + 1) + Duration::from_secs(1);
        let deadline = Instant::now() + lease;
        loop {
            let now = Instant::now();
            match store.get(app_id).await {
                Ok(Some(stored)) if fresh(&stored) => return Ok(self.keep(stored.token, stored.expires_in, now)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("passive-reply: {e}; fetching the access token without the token store");
                    break;
                }
            }
            match store.lock(app_id, lease).await {
                Ok(true) => {
                    let fetched = self.fetch().await;
                    if let Ok((token, life, _)) = &fetched
                        && let Err(e) = store.put(app_id, token, *life).await
                    {
                        tracing::warn!("passive-reply: {e}; the access token was not kept for the other instances");
                    }
                    if let Err(e) = store.unlock(app_id).await {
                        tracing::warn!("passive-reply: {e}; the token store's refresh lock is left to expire");
                    }
                    return fetched.map(|(token, life, sent)| self.keep(token, life, sent));
                }
                Ok(false) if now < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!("passive-reply: {e}; fetching the access token without the token store");
                    break;
                }
            }
        }
        self.fetch_and_keep().await
    }

    /// Forgets `token`, which the platform called stale, if it is still the one in use (here
    /// and in the shared store).
    async fn expire(&self, token: &Arc<str>) {
        {
            let mut current = self.inner.current.lock().unwrap_or_else(PoisonError::into_inner);
            if current.as_ref().is_some_and(|c| c.token == *token) {
                *current = None;
            }
        }
        if let Some(store) = &self.inner.store
            && let Err(e) = store.expire(&self.inner.store_key, token).await
        {
            tracing::warn!("passive-reply: {e}; a stale access token stays in the token store until it expires");
        }
    }

    /// A new token from the platform, kept.
    async fn fetch_and_keep(&self) -> Result<Arc<str>, ApiError> {
        self.fetch().await.map(|(token, life, sent)| self.keep(token, life, sent))
    }

    /// A new token from the platform, its life, and when it was asked for.
    async fn fetch(&self) -> Result<(Arc<str>, Duration, Instant), ApiError> {
        let inner = &self.inner;
        let sent = Instant::now();
        let kind = match &inner.mode {
            TokenMode::Plain | TokenMode::Stable => "account",
            TokenMode::Component => "component",
            TokenMode::Authorizer(_) => "authorizer",
        };
        metrics::counter!("passive_reply_token_fetches_total", "kind" => kind).increment(1);
        let answer = match &inner.mode {
            TokenMode::Component => component::fetch_component_token(self).await?,
            TokenMode::Authorizer(component) => component.fetch_authorizer_token(self).await?,
            TokenMode::Plain => {
                let query = [("grant_type", "client_credential"), ("appid", &inner.app_id), ("secret", &inner.secret)];
                self.request(Method::GET, self.uri("/cgi-bin/token", &query), None, true).await?
            }
            TokenMode::Stable => {
                let body = serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": &*inner.app_id,
                    "secret": &*inner.secret,
                    "force_refresh": false,
                });
                let uri = self.uri("/cgi-bin/stable_token", &[]);
                self.request(Method::POST, uri, Some(Bytes::from(body.to_string())), true).await?
            }
        };
        match answer {
            ApiAnswer::Token { token, expires_in, .. } => Ok((token.into(), Duration::from_secs(expires_in), sent)),
            ApiAnswer::Error { code, message } => {
                let error = ApiError::from_code(code, &message, true);
                api_error(&error);
                Err(error)
            }
            ApiAnswer::Ok => Err(ApiError::new(ApiErrorKind::BadResponse, None, "no access_token in the answer")),
        }
    }

    fn uri(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut uri = format!("{}{path}", self.inner.base);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish());
        }
        uri
    }

    /// One request, retried as long as it fails in a way worth retrying and retries are left;
    /// an answer with an error code is the platform's answer (only -1 is retried).
    async fn request(
        &self,
        method: Method,
        uri: String,
        body: Option<Bytes>,
        fetching_token: bool,
    ) -> Result<ApiAnswer, ApiError> {
        let mut pause = self.inner.backoff;
        let mut tries = 0;
        loop {
            let error = match self.try_once(&method, &uri, body.clone(), fetching_token).await {
                Ok(ApiAnswer::Error { code: -1, message }) => {
                    Failure { error: ApiError::from_code(-1, &message, fetching_token), retry: true }
                }
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            if !error.retry || tries >= self.inner.retries {
                api_error(&error.error);
                return Err(error.error);
            }
            tries += 1;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(8));
        }
    }

    async fn try_once(
        &self,
        method: &Method,
        uri: &str,
        body: Option<Bytes>,
        fetching_token: bool,
    ) -> Result<ApiAnswer, Failure> {
        let network =
            |message: String, retry| Failure { error: ApiError::new(ApiErrorKind::Network, None, message), retry };
        let mut request = Request::builder().method(method.clone()).uri(uri);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default())).map_err(|e| Failure {
            error: ApiError::new(ApiErrorKind::BadResponse, None, e.to_string()),
            retry: false,
        })?;
        let exchange = async {
            let response = self.inner.http.request(request).await.map_err(|e| {
                // A connection that was never made carried nothing: safe to try again. Any other
                // failure may have happened after the request reached the platform.
                let retry = e.is_connect() || fetching_token;
                network(describe(&e), retry)
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_LEN)
                .collect()
                .await
                .map_err(|e| network(format!("reading the answer: {e}"), fetching_token))?
                .to_bytes();
            Ok((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.inner.timeout, exchange).await {
            Ok(exchanged) => exchanged?,
            Err(_) => {
                let message = format!("no answer within {:?}", self.inner.timeout);
                return Err(network(message, fetching_token));
            }
        };
        if !status.is_success() {
            // A gateway's "try later": the platform behind it did not take the request.
            let retry = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
            let kind = if retry { ApiErrorKind::Network } else { ApiErrorKind::BadResponse };
            let error = ApiError::new(kind, None, format!("HTTP status {status}"));
            return Err(Failure { error, retry });
        }
        read_answer(&body).ok_or_else(|| {
            let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            Failure { error: ApiError::new(ApiErrorKind::BadResponse, None, shown), retry: false }
        })
    }
}

/// The body [`Client::send`] posts for `reply` (its customer-service JSON), written once into an
/// allocation of its length; [`Client::send_json`] sends it. For a caller that writes the body
/// first and sends it later, as the serving crate's late replies do.
///
/// ```
/// use reply_core::Text;
///
/// let body = reply_client::customer_service_body(&Text::new("oUser", "gh", "hi")).unwrap();
/// assert_eq!(&body[..], br#"{"touser":"oUser","msgtype":"text","text":{"content":"hi"}}"#);
/// ```
pub fn customer_service_body(reply: &(impl PassiveReply + ?Sized)) -> Result<Bytes, ApiError> {
    let Some(len) = reply.customer_service_len() else {
        return Err(ApiError::new(ApiErrorKind::NotSendable, None, ""));
    };
    let mut body = Vec::with_capacity(len);
    let Ok(()) = reply.write_customer_service(&mut body);
    Ok(Bytes::from(body))
}

/// Counts a request that failed (`passive_reply_api_errors_total`, by the error's kind).
fn api_error(error: &ApiError) {
    let kind = match error.kind() {
        ApiErrorKind::StaleToken => "stale_token",
        ApiErrorKind::OutOfWindow => "out_of_window",
        ApiErrorKind::Limit => "limit",
        ApiErrorKind::Busy => "busy",
        ApiErrorKind::Token => "token",
        ApiErrorKind::Platform => "platform",
        ApiErrorKind::Network => "network",
        ApiErrorKind::BadResponse => "bad_response",
        ApiErrorKind::NotSendable => "not_sendable",
    };
    metrics::counter!("passive_reply_api_errors_total", "kind" => kind).increment(1);
}

fn is_stale(code: i64) -> bool {
    matches!(code, 40001 | 40014 | 42001)
}

/// A connection error and its causes, without the URL (it holds the token).
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let read = |s: &str| read_answer(s.as_bytes());
        assert_eq!(read(r#"{"errcode":0,"errmsg":"ok"}"#), Some(ApiAnswer::Ok));
        assert_eq!(
            read(r#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#),
            Some(ApiAnswer::Token { token: "ACCESS_TOKEN".into(), expires_in: 7200, refresh: None, app_id: None })
        );
        assert_eq!(
            read(r#"{"errcode":40013,"errmsg":"invalid appid"}"#),
            Some(ApiAnswer::Error { code: 40013, message: "invalid appid".into() })
        );
        assert_eq!(read(r#"{"errcode":-1}"#), Some(ApiAnswer::Error { code: -1, message: "".into() }));
        for bad in [
            "",
            "[]",
            "null",
            r#"{"errcode":"0"}"#,
            r#"{"errcode":1e400}"#,
            r#"{"access_token":"","expires_in":7200}"#,
            r#"{"access_token":"t","expires_in":0}"#,
            r#"{"access_token":"t","expires_in":-5}"#,
            r#"{"access_token":"t"}"#,
            r#"{"access_token":7,"expires_in":7200}"#,
            "{\"errcode\":0",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_classes() {
        let kind = |code, token| ApiError::from_code(code, "", token).kind();
        for stale in [40001, 40014, 42001] {
            assert_eq!(kind(stale, false), ApiErrorKind::StaleToken);
        }
        assert_eq!(kind(45015, false), ApiErrorKind::OutOfWindow);
        assert_eq!(kind(45047, false), ApiErrorKind::Limit);
        assert_eq!(kind(-1, true), ApiErrorKind::Busy);
        assert_eq!(kind(40164, true), ApiErrorKind::Token);
        assert_eq!(kind(40003, false), ApiErrorKind::Platform);
        let error = ApiError::from_code(45015, "response out of time limit", false);
        assert_eq!(
            error.to_string(),
            "the user's last message is more than 48 hours old (45015: response out of time limit)"
        );
    }

    #[test]
    fn a_long_life_is_capped_and_refreshes_ahead() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let client = Client::new("wx1", "s");
            let since = Instant::now();
            client.keep("t".into(), Duration::from_secs(u64::MAX), since);
            let cached = client.kept(since).unwrap();
            assert_eq!(cached.expires_at - since, MAX_TOKEN_LIFE);
            assert_eq!(cached.expires_at - cached.refresh_at, DEFAULT_REFRESH_AHEAD);
            client.keep("u".into(), Duration::from_secs(60), since);
            let cached = client.kept(since).unwrap();
            assert_eq!(cached.expires_at - cached.refresh_at, Duration::from_secs(30), "at most half its life");
        });
    }
}
