//! The platform's URL, served by any HTTP server (feature `tower`): [`Endpoint`] does the whole
//! delivery path (signature, replay window, decryption when configured, parsing, the budget and
//! late replies, the retry guard, the reply, encrypted when the delivery was) on the `http` crate's
//! types.
//!
//! - as a `tower::Service<http::Request<B>>`: [`Endpoint::into_service`], for hyper, axum
//!   ([`axum::Endpoint::into_router`](crate::axum) is a thin layer over it) and any tower server;
//! - as a plain async function from the request's method, query string and body to an [`Answer`]
//!   (status, content type, body): [`Endpoint::respond`], for frameworks outside tower.
//!
//! Nothing is read of a request's body before its query is checked ([`Endpoint::authorize`]):
//!
//! - `GET` is the platform's URL check: the query's `signature` must be the SHA-1 of the token,
//!   `timestamp` and `nonce`, sorted and joined, and the timestamp within the replay window; the
//!   answer is `echostr`, otherwise 403.
//! - `POST` is a delivery: the same signature in the query string, and a timestamp of decimal
//!   digits within the replay window of the server's clock (otherwise 403 with the reason). Then
//!   the body is read, within a deadline ([`Endpoint::body_timeout`], 408 past it) and a bound on
//!   the bytes of all the bodies being read at once ([`Endpoint::body_budget`], 503 when it stays
//!   full until the deadline), and parsed with [`Incoming::parse`] (400 with a short plain-text
//!   reason when it is not a delivery; 413 when it is longer than the parse options allow, told
//!   before it is read when the request says its length). Then the handler's reply, through
//!   [`within`] (the 5-second rule) and a [`RetryGuard`] (the platform's retries get the same
//!   reply, and the handler runs once).
//! - With [`Endpoint::crypto`], every delivery must come encrypted (`encrypt_type=aes`, safe or
//!   compatible mode): a plaintext one is refused (403) unless
//!   [`Endpoint::allow_plaintext`] is on for a migration. An encrypted delivery has its
//!   `msg_signature` checked before anything is decrypted (403), is decrypted (400 with the
//!   reason if that fails), and is answered with an encrypted reply, with the key that decrypted
//!   it. Its retry-guard key is never the key of a plaintext delivery. The handler sees an
//!   ordinary [`Incoming`] either way.
//! - Any other method: 405, with `Allow: GET, POST`.
//!
//! ```
//! use reply_serve::endpoint::Endpoint;
//! use reply_core::{Incoming, Text};
//!
//! async fn answer(msg: Incoming<'static>) -> Text<'static> {
//!     msg.reply_text("hello").into_owned()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let endpoint = Endpoint::new("my-token", answer);
//! // The URL check, as the platform makes it: signed now, with the token.
//! let timestamp = reply_core::now().to_string();
//! let signature = reply_serve::endpoint::signature_of("my-token", &timestamp, "42");
//! let query = format!("signature={signature}&timestamp={timestamp}&nonce=42&echostr=ok");
//! let answer = endpoint.respond(&http::Method::GET, Some(&query), Default::default()).await;
//! assert_eq!((answer.status(), answer.body().as_ref()), (http::StatusCode::OK, b"ok".as_ref()));
//! // A year-old one is refused as a replay.
//! let old = (reply_core::now() - 365 * 86_400).to_string();
//! let signature = reply_serve::endpoint::signature_of("my-token", &old, "42");
//! let query = format!("signature={signature}&timestamp={old}&nonce=42&echostr=ok");
//! let answer = endpoint.respond(&http::Method::GET, Some(&query), Default::default()).await;
//! assert_eq!(answer.status(), http::StatusCode::FORBIDDEN);
//! # }
//! ```
//!
//! [`within`]: crate::serve::within

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Method, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::serve::{DEFAULT_BUDGET, MemoryStore, OnTime, OneOf, ReplyStore, RetryGuard, Within, observe};
use reply_core::PassiveReply;
#[cfg(feature = "crypto")]
use reply_core::Sink;
#[cfg(feature = "crypto")]
use reply_core::crypto::{CryptoErrorKind, KeyUsed, MessageCrypto};
use reply_core::{DedupKey, Incoming, ParseOptions};
use tracing::Instrument;

/// How far a delivery's timestamp may be from the server's clock by default: 300 s, the tolerance
/// of signed webhooks elsewhere (Stripe's, Slack's).
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);

/// How long a delivery's body may take to arrive once its query is checked, by default: 2 s, well
/// under the platform's 5 s (the platform sends a body of a few hundred bytes at once).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// How many bytes of bodies an endpoint reads at once by default: 16 MiB, sixteen bodies of the
/// largest size a delivery may have (1 MiB), or about 20,000 of the platform's usual ones.
pub const DEFAULT_BODY_BUDGET: usize = 16 << 20;

/// The content type of a reply.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// What the endpoint answers a request with: a status, a content type when there is a body, and
/// the body. [`into_response`](Answer::into_response) makes it an `http::Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    status: StatusCode,
    content_type: Option<&'static ContentType>,
    body: Bytes,
}

/// A content type an answer has: its name, and its header value, checked once, when compiled
/// (`HeaderValue::from_static` called as a response is made checks every byte of its string
/// each time: 270 instructions a reply).
#[derive(Debug, PartialEq, Eq)]
struct ContentType {
    name: &'static str,
    value: HeaderValue,
}

impl ContentType {
    const fn new(name: &'static str) -> Self {
        ContentType { name, value: HeaderValue::from_static(name) }
    }
}

/// A reply's.
static XML: ContentType = ContentType::new(CONTENT_TYPE);
/// A refusal's reason's, and the URL check's `echostr`'s.
static PLAIN_TEXT: ContentType = ContentType::new("text/plain; charset=utf-8");

// The other headers' values, checked when compiled too.
static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
static ALLOWED_METHODS: HeaderValue = HeaderValue::from_static("GET, POST");

impl Answer {
    /// A reply's bytes: `text/xml; charset=utf-8`, or the platform's empty-string reply (no body,
    /// no content type).
    pub fn reply(bytes: Bytes) -> Answer {
        let content_type = (!bytes.is_empty()).then_some(&XML);
        Answer { status: StatusCode::OK, content_type, body: bytes }
    }

    /// Plain text: a refusal's reason, or the URL check's `echostr`.
    fn plain(status: StatusCode, text: impl Into<Bytes>) -> Answer {
        Answer { status, content_type: Some(&PLAIN_TEXT), body: text.into() }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The content type, when there is a body.
    pub fn content_type(&self) -> Option<&'static str> {
        self.content_type.map(|content_type| content_type.name)
    }

    /// The body: the reply, the URL check's `echostr`, or the reason for a refusal.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The answer as an `http::Response`.
    pub fn into_response(self) -> http::Response<Full<Bytes>> {
        let mut response = http::Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        if let Some(content_type) = self.content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, content_type.value.clone());
        }
        // The URL check reflects `echostr`: no browser may read it as anything but plain text.
        response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone());
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(header::ALLOW, ALLOWED_METHODS.clone());
        }
        response
    }
}

fn forbidden(reason: &str) -> Answer {
    Answer::plain(StatusCode::FORBIDDEN, reason.to_owned())
}

fn bad_request(reason: String) -> Answer {
    Answer::plain(StatusCode::BAD_REQUEST, reason)
}

/// Counts a refusal by its reason ([`observe::REFUSED`](crate::serve::observe::REFUSED)).
fn refuse(reason: &'static str, answer: Answer) -> Answer {
    crate::serve::observe::refused(reason);
    answer
}

/// The refusal of an encrypted body that doesn't open: 403 when its `msg_signature` doesn't
/// match, 400 otherwise; with its reason, as [`observe::REFUSED`](crate::serve::observe::REFUSED)
/// labels it.
#[cfg(feature = "crypto")]
fn not_opened(e: &reply_core::crypto::CryptoError) -> (&'static str, Answer) {
    match e.kind() {
        CryptoErrorKind::BadSignature => ("signature", forbidden(&format!("{e}\n"))),
        _ => ("decrypt", bad_request(format!("{e}\n"))),
    }
}

fn too_long(limit: usize) -> Answer {
    Answer::plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is longer than the {limit} bytes a delivery may be\n"),
    )
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
    #[cfg(feature = "crypto")]
    crypto: Option<Arc<MessageCrypto>>,
    #[cfg(feature = "crypto")]
    allow_plaintext: bool,
    replay_window: Option<Duration>,
    dedup_key: fn(&Incoming<'static>) -> DedupKey,
    body_timeout: Duration,
    body_budget: BodyBudget,
    #[cfg(feature = "client")]
    late: Option<Arc<crate::serve::LateReplies>>,
    /// Held while the endpoint lives, once the task that takes over other instances' late replies
    /// is started.
    #[cfg(feature = "client")]
    sweeping: std::sync::OnceLock<Arc<()>>,
    account: Option<Arc<str>>,
}

/// The bytes of bodies being read at once: a semaphore of bytes, shared by the endpoint's clones.
#[derive(Debug, Clone)]
struct BodyBudget {
    /// The budget, as many as the semaphore can hold.
    bytes: usize,
    permits: Arc<Semaphore>,
}

impl BodyBudget {
    fn new(bytes: usize) -> Self {
        let bytes = bytes.min(Semaphore::MAX_PERMITS);
        BodyBudget { bytes, permits: Arc::new(Semaphore::new(bytes)) }
    }

    /// The budget of [`DEFAULT_BODY_BUDGET`] bytes that every endpoint of the process shares
    /// unless it is given one of its own.
    fn process_default() -> Self {
        static DEFAULT: std::sync::OnceLock<BodyBudget> = std::sync::OnceLock::new();
        DEFAULT.get_or_init(|| BodyBudget::new(DEFAULT_BODY_BUDGET)).clone()
    }
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
            #[cfg(feature = "crypto")]
            crypto: None,
            #[cfg(feature = "crypto")]
            allow_plaintext: false,
            replay_window: Some(DEFAULT_REPLAY_WINDOW),
            dedup_key: Incoming::dedup_key,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            body_budget: BodyBudget::process_default(),
            #[cfg(feature = "client")]
            late: None,
            #[cfg(feature = "client")]
            sweeping: std::sync::OnceLock::new(),
            account: None,
        }
    }
}

impl<H, S> Endpoint<H, S> {
    /// Names the account this endpoint serves, one of several on one server ([`Accounts`]):
    /// every delivery's retry-guard key is put in the account's namespace
    /// ([`DedupKey::for_account`]), so accounts that share a store (one Redis for all) never
    /// share a reply. [`Accounts::account`] sets it; an endpoint an [`Accounts`] resolver gives
    /// must have been named so, or it is not used.
    #[must_use]
    pub fn account(mut self, name: impl Into<String>) -> Self {
        self.account = Some(name.into().into());
        self
    }

    /// The account this endpoint serves, when it was named ([`account`](Endpoint::account)).
    pub fn account_name(&self) -> Option<&str> {
        self.account.as_deref()
    }

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
        Endpoint {
            token: self.token,
            handler: self.handler,
            budget: self.budget,
            options: self.options,
            guard,
            #[cfg(feature = "crypto")]
            crypto: self.crypto,
            #[cfg(feature = "crypto")]
            allow_plaintext: self.allow_plaintext,
            replay_window: self.replay_window,
            dedup_key: self.dedup_key,
            body_timeout: self.body_timeout,
            body_budget: self.body_budget,
            #[cfg(feature = "client")]
            late: self.late,
            #[cfg(feature = "client")]
            sweeping: self.sweeping,
            account: self.account,
        }
    }

    /// Serves an account in safe or compatible mode: encrypted deliveries are verified and
    /// decrypted with `crypto`, and answered encrypted. (Its token is the one it signs with; give
    /// the endpoint the same.)
    ///
    /// From then on a delivery that does not come encrypted is refused (403): the platform signs
    /// only the query, so with plaintext accepted, anyone holding a captured query could send any
    /// plaintext body inside the replay window. [`allow_plaintext`](Endpoint::allow_plaintext)
    /// accepts plaintext too, for the switch of an account from plaintext to safe mode.
    ///
    /// ```
    /// use reply_serve::endpoint::Endpoint;
    /// use reply_core::crypto::MessageCrypto;
    /// use reply_core::{Incoming, Text};
    ///
    /// async fn answer(msg: Incoming<'static>) -> Text<'static> {
    ///     msg.reply_text("hello").into_owned()
    /// }
    ///
    /// # fn main() -> Result<(), reply_core::crypto::CryptoError> {
    /// let crypto = MessageCrypto::new("my-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")?;
    /// let service = Endpoint::new("my-token", answer).crypto(crypto).into_service();
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "crypto")]
    #[must_use]
    pub fn crypto(mut self, crypto: MessageCrypto) -> Self {
        self.crypto = Some(Arc::new(crypto));
        self
    }

    /// Accepts plaintext deliveries beside encrypted ones (default: refused once
    /// [`crypto`](Endpoint::crypto) is set), for the minutes in which an account is switched from
    /// plaintext to safe mode on the platform's side. Switch it off again once the switch is
    /// made: while it is on, a captured query authorises any plaintext body for the replay
    /// window. A plaintext delivery's reply is never given to an encrypted one, nor the reverse.
    ///
    /// ```
    /// use reply_serve::endpoint::Endpoint;
    /// use reply_core::crypto::MessageCrypto;
    /// use reply_core::{Empty, Incoming};
    ///
    /// async fn answer(_: Incoming<'static>) -> Empty { Empty }
    ///
    /// # fn main() -> Result<(), reply_core::crypto::CryptoError> {
    /// let crypto = MessageCrypto::new("my-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")?;
    /// let migrating = Endpoint::new("my-token", answer).crypto(crypto).allow_plaintext(true);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "crypto")]
    #[must_use]
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// How long a delivery's body may take to arrive, once its query is checked
    /// ([`DEFAULT_BODY_TIMEOUT`], 2 s); past it the answer is 408 and the connection's bytes are
    /// no longer read. (A request's head is bounded by the server: see [`crate::server`].)
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// How many bytes of bodies this endpoint (and its clones) may hold while reading them, all
    /// requests together: even requests whose queries are valid (a captured one, inside the
    /// replay window) can't pin more memory than this. By default [`DEFAULT_BODY_BUDGET`] (16 MiB)
    /// for the whole process: every endpoint that keeps the default shares the one budget, so
    /// serving many accounts ([`Accounts`]) doesn't multiply it; this sets a budget of the
    /// endpoint's own. Each
    /// body is counted by its bytes, from the first until it is parsed; a body that finds the
    /// budget full waits for room until its deadline (and its connection is not read meanwhile),
    /// then gets 503. A budget smaller than the parse options' limit refuses the longest
    /// deliveries.
    #[must_use]
    pub fn body_budget(mut self, bytes: usize) -> Self {
        self.body_budget = BodyBudget::new(bytes);
        self
    }

    /// The bytes of bodies held now, being read or waiting to be parsed, as counted against the
    /// [`body_budget`](Endpoint::body_budget).
    pub fn body_bytes(&self) -> usize {
        self.body_budget.bytes - self.body_budget.permits.available_permits()
    }

    /// How far a delivery's `timestamp` may be from the server's clock, either way, before it is
    /// refused as a replay (403): the platform signs only the query, never a plaintext body, so
    /// a captured query would otherwise authorise any body forever. Default
    /// [`DEFAULT_REPLAY_WINDOW`] (300 s); `None` switches the check off. The platform's retries
    /// of a delivery carry its timestamp, and are answered while they are inside the window. The
    /// URL check (GET) has the same window. A timestamp that is not decimal digits is refused
    /// whatever the window.
    #[must_use]
    pub fn replay_window(mut self, window: Option<Duration>) -> Self {
        self.replay_window = window;
        self
    }

    /// How the retry guard tells deliveries apart: by default [`Incoming::dedup_key`] (account,
    /// sender and MsgId; for events account, sender, CreateTime, Event and EventKey).
    /// [`Incoming::seed_dedup_key`] is the platform's documented rule, and a function of the
    /// application's own makes its keys with [`DedupKey::new`]. A retry must get the key its
    /// first try got, so the key can only depend on the body.
    ///
    /// ```
    /// use reply_serve::endpoint::Endpoint;
    /// use reply_core::{DedupKey, Empty, Incoming};
    ///
    /// async fn answer(_: Incoming<'static>) -> Empty { Empty }
    ///
    /// let seed = Endpoint::new("token", answer).dedup_key(Incoming::seed_dedup_key);
    /// let own = Endpoint::new("token", answer).dedup_key(|msg| {
    ///     DedupKey::new(msg.to_user_name(), msg.field("OrderId").unwrap_or(msg.from_user_name()))
    /// });
    /// ```
    #[must_use]
    pub fn dedup_key(mut self, key: fn(&Incoming<'static>) -> DedupKey) -> Self {
        self.dedup_key = key;
        self
    }

    /// Sends the replies that miss the budget later, through the customer-service message API
    /// (feature `client`): a [`Client`](reply_client::Client), or [`LateReplies`] for a limit
    /// and a hook.
    ///
    /// When the budget runs out, the empty reply goes out now and the handler keeps running in a
    /// task of its own; its reply, if it comes within the limit (default 60 s from the delivery),
    /// is sent once. The delivery's retries get the empty reply meanwhile and afterwards (the
    /// retry guard keeps it), so the handler runs once and nothing is sent twice; a reply is sent
    /// passively or late, never both. The user's 48-hour window (the platform writes to a user
    /// only within 48 hours of their last message) is never a concern for a reply to the message
    /// just received.
    ///
    /// ```
    /// use reply_serve::endpoint::Endpoint;
    /// use reply_client::Client;
    /// use reply_core::{Incoming, Message, Text};
    ///
    /// # async fn ask_the_model(question: &str) -> String { question.to_uppercase() }
    /// async fn answer(msg: Incoming<'static>) -> Text<'static> {
    ///     let question = match msg.message() {
    ///         Message::Text { content, .. } => content,
    ///         _ => "",
    ///     };
    ///     let answer = ask_the_model(question).await; // may take longer than the 4 s budget
    ///     msg.reply_text(answer).into_owned()
    /// }
    ///
    /// let client = Client::new("wx0123456789abcdef", "the-app-secret");
    /// let service = Endpoint::new("my-token", answer).late_replies(client).into_service();
    /// ```
    ///
    /// [`LateReplies`]: crate::serve::LateReplies
    #[cfg(feature = "client")]
    #[must_use]
    pub fn late_replies(mut self, late: impl Into<crate::serve::LateReplies>) -> Self {
        self.late = Some(Arc::new(late.into()));
        self
    }
}

impl<H, S, Fut, R> Endpoint<H, S>
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
    S: ReplyStore,
{
    /// The endpoint as a `tower::Service<http::Request<B>>`, for hyper (through
    /// `hyper_util::service::TowerToHyperService`), axum and any tower server. Cheap to clone.
    /// The query is checked before the body is read ([`authorize`](Endpoint::authorize)); the
    /// body is read within the endpoint's deadline and budget, up to the parse options' limit
    /// (413 beyond).
    pub fn into_service(self) -> EndpointService<H, S> {
        #[cfg(feature = "client")]
        self.sweep_late_replies();
        EndpointService(Arc::new(self))
    }

    /// With durable late replies ([`LateReplies::durable`](crate::serve::LateReplies::durable)),
    /// starts, once, the task that takes over the late replies of instances that died and runs
    /// this endpoint's handler on them: every lease, for as long as the endpoint lives. Started
    /// by `into_service` and by the first delivery (in a tokio runtime).
    #[cfg(feature = "client")]
    fn sweep_late_replies(&self) {
        // Called for every delivery: started already is the one check made then.
        if self.sweeping.get().is_some() {
            return;
        }
        let Some(late) = self.late.as_ref().filter(|late| late.is_durable()) else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let mut first = false;
        let alive = self.sweeping.get_or_init(|| {
            first = true;
            Arc::new(())
        });
        if !first {
            return;
        }
        // The task ends once the endpoint (which holds `alive`) is dropped.
        let alive = Arc::downgrade(alive);
        let (late, handler, options) = (late.clone(), self.handler.clone(), self.options);
        let every = late.sweep_every().unwrap_or(crate::serve::DEFAULT_LATE_LEASE);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if alive.upgrade().is_none() {
                    break;
                }
                for (key, delivery) in late.take_over(16).await {
                    match Incoming::parse_with(&delivery, options) {
                        Ok(msg) => {
                            tracing::info!(
                                "passive-reply: taking over the late reply to {key:?} from an instance that died"
                            );
                            late.finish_taken(key, handler(msg.into_owned()));
                        }
                        Err(e) => tracing::warn!("passive-reply: the recorded delivery {key:?} doesn't parse: {e}"),
                    }
                }
            }
        });
    }

    /// Answers one request, given its method, its query string (without the `?`) and its body:
    /// the whole delivery path, for a framework outside tower. The query is checked first; but
    /// the body has been read by then, so a framework that can wait with it calls
    /// [`authorize`](Endpoint::authorize) first, and reads the body only when told to.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn respond(&self, method: &Method, query: Option<&str>, body: Bytes) -> Answer {
        match self.authorize(method, query) {
            Ok(authorized) => authorized.respond(body).await,
            Err(answer) => answer,
        }
    }

    /// Answers one request whose body is still to be read: the query is checked first, and the
    /// body read (within the deadline and the budget) only when it passes, so a request that fails
    /// it costs no body memory. What the tower services do with each request.
    ///
    /// Not an `async fn`: the query is checked when it is called, and the future it returns
    /// holds only the reading and the answer (an `async fn` would also keep its arguments, and the
    /// check's result while it awaits). Called where it is awaited.
    pub(crate) fn respond_reading<'a, B>(
        &'a self,
        method: &Method,
        query: Option<&'a str>,
        body: B,
    ) -> Delivery<impl Future<Output = Answer> + use<'a, B, H, S, Fut, R>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match self.authorize(method, query) {
            Ok(authorized) => OneOf::First { future: authorized.read_and_respond(body) },
            Err(answer) => answered_now(answer),
        }
    }

    /// Checks a request before its body is read: the method, the query's `signature`, that its
    /// `timestamp` is digits inside the replay window, and for an account in safe mode that the
    /// delivery comes encrypted. `Err` is the answer to send without reading the body: a refusal
    /// (403 with the reason, 405), or the URL check's answer (`echostr`). `Ok` is a delivery
    /// whose body may now be read: [`Authorized::respond`] with its bytes, or
    /// [`Authorized::read_and_respond`] with the request's body.
    ///
    /// ```
    /// use reply_serve::endpoint::Endpoint;
    /// use reply_core::{Empty, Incoming};
    ///
    /// async fn answer(_: Incoming<'static>) -> Empty { Empty }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let endpoint = Endpoint::new("my-token", answer);
    /// // No signature: refused before a byte of the body is read.
    /// let refused = endpoint.authorize(&http::Method::POST, Some("timestamp=1&nonce=2")).unwrap_err();
    /// assert_eq!(refused.status(), http::StatusCode::FORBIDDEN);
    /// # }
    /// ```
    pub fn authorize<'a>(&'a self, method: &Method, query: Option<&'a str>) -> Result<Authorized<'a, H, S>, Answer> {
        let is_get = match *method {
            Method::GET => true,
            Method::POST => false,
            _ => {
                return Err(refuse(
                    "method",
                    Answer::plain(StatusCode::METHOD_NOT_ALLOWED, "the platform's URL takes GET and POST\n"),
                ));
            }
        };
        let signed = Signed::from_query(query);
        if let Err((reason, answer)) = signed.check(&self.token, self.replay_window) {
            return Err(refuse(reason, answer));
        }
        if is_get {
            return Err(match &signed.echostr {
                Some(echostr) => Answer::plain(StatusCode::OK, echostr.clone().into_owned()),
                None => bad_request("the URL check has no echostr\n".to_owned()),
            });
        }
        let encrypted = match signed.encrypt_type.as_deref() {
            None | Some("raw") => false,
            Some("aes") => true,
            Some(_) => return Err(refuse("encrypt_type", forbidden("encrypt_type is neither aes nor raw\n"))),
        };
        #[cfg(feature = "crypto")]
        let encrypted = match (&self.crypto, encrypted) {
            (Some(crypto), true) => {
                // The signature's check above needed the timestamp and nonce: only
                // `msg_signature` can still be missing.
                let (Some(msg_signature), Some(timestamp), Some(nonce)) =
                    (signed.msg_signature, signed.timestamp, signed.nonce)
                else {
                    return Err(refuse("signature", forbidden("an encrypted delivery needs msg_signature\n")));
                };
                Some(Encrypted { crypto: crypto.clone(), msg_signature, timestamp, nonce })
            }
            (Some(_), false) if !self.allow_plaintext => {
                let only = "this account takes encrypted deliveries only (encrypt_type=aes)\n";
                return Err(refuse("plaintext", forbidden(only)));
            }
            // Without the key, a compatible-mode body still parses as plaintext.
            _ => None,
        };
        // Without safe mode, a compatible-mode body still parses as plaintext.
        #[cfg(not(feature = "crypto"))]
        let _ = encrypted;
        Ok(Authorized {
            endpoint: self,
            #[cfg(feature = "crypto")]
            encrypted,
        })
    }
}

/// A delivery whose query [`Endpoint::authorize`] has checked: its body may now be read.
pub struct Authorized<'a, H, S> {
    endpoint: &'a Endpoint<H, S>,
    /// What opens and seals the delivery, when it came encrypted.
    #[cfg(feature = "crypto")]
    encrypted: Option<Encrypted<'a>>,
}

/// An encrypted delivery's key and the query's parts its envelope is checked and sealed with.
#[cfg(feature = "crypto")]
struct Encrypted<'q> {
    crypto: Arc<MessageCrypto>,
    msg_signature: Cow<'q, str>,
    timestamp: Cow<'q, str>,
    nonce: Cow<'q, str>,
}

impl<H, S> std::fmt::Debug for Authorized<'_, H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut f = f.debug_struct("Authorized");
        #[cfg(feature = "crypto")]
        f.field("encrypted", &self.encrypted.is_some());
        f.finish_non_exhaustive()
    }
}

/// A body being read, and its part of the endpoint's body budget, as many bytes as it has. A body
/// that comes in one frame (most do) is kept as it came, shared with the connection's buffer, not
/// copied; one in more frames is copied into one buffer as they come, so that a body sent in many
/// small chunks holds its bytes (at most twice, as the buffer grows), not a handle per chunk, each
/// keeping a buffer of the connection's alive.
struct Reading {
    /// The body while it is one frame.
    first: Option<Bytes>,
    /// The body once it is more.
    joined: BytesMut,
    len: usize,
    permit: Option<OwnedSemaphorePermit>,
}

impl Reading {
    fn push(&mut self, frame: Bytes) {
        self.len += frame.len();
        // The first frame (no empty frame is pushed).
        if self.len == frame.len() {
            self.first = Some(frame);
            return;
        }
        if let Some(first) = self.first.take() {
            self.joined.reserve(self.len);
            self.joined.extend_from_slice(&first);
        }
        self.joined.extend_from_slice(&frame);
    }

    /// The body in one piece.
    fn into_bytes(self) -> (Bytes, Option<OwnedSemaphorePermit>) {
        (self.first.unwrap_or_else(|| self.joined.freeze()), self.permit)
    }
}

impl<'a, H, S, Fut, R> Authorized<'a, H, S>
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
    S: ReplyStore,
{
    /// The longest body a delivery may have (the parse options' limit).
    pub fn body_limit(&self) -> usize {
        self.endpoint.options.limit()
    }

    /// Reads `body` within the endpoint's body deadline and budget, and answers it. A body that
    /// says it is longer than [`body_limit`](Authorized::body_limit) is refused (413) before a
    /// byte of it is read.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    // An `async fn` would hold its arguments twice (below).
    #[allow(clippy::manual_async_fn)]
    pub fn read_and_respond<B>(self, body: B) -> impl Future<Output = Answer> + use<'a, B, H, S, Fut, R>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Not an `async fn`, which would keep `self` and the body twice: as its arguments and as
        // the locals it moves them into.
        async move {
            let (bytes, permit) = match self.read(body).await {
                Ok(read) => read,
                Err((reason, answer)) => return refuse(reason, answer),
            };
            let answering = self.answering(bytes, permit);
            answering.await
        }
    }

    /// Answers the delivery with its body: the whole delivery path.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn respond(self, body: Bytes) -> Answer {
        self.answering(body, None).await
    }

    async fn read<B>(&self, body: B) -> Result<(Bytes, Option<OwnedSemaphorePermit>), (&'static str, Answer)>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limit = self.body_limit();
        if usize::try_from(body.size_hint().lower()).map_or(true, |len| len > limit) {
            return Err(("too_long", too_long(limit)));
        }
        let budget = &self.endpoint.body_budget;
        let mut reading = Reading { first: None, joined: BytesMut::new(), len: 0, permit: None };
        let mut waiting_for_room = false;
        let read = async {
            let mut body = std::pin::pin!(body);
            loop {
                // (Not `while let`: the error, which need not be `Send`, must not live across an
                // await.)
                let frame = match body.frame().await {
                    None => break,
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => {
                        return Err(("body_error", bad_request(format!("the body could not be read: {}\n", e.into()))));
                    }
                };
                let Ok(mut data) = frame.into_data() else { continue };
                // Shared, not copied, when the body's data is `Bytes` already (hyper's, axum's).
                let data = data.copy_to_bytes(data.remaining());
                if data.is_empty() {
                    continue;
                }
                if reading.len + data.len() > limit {
                    return Err(("too_long", too_long(limit)));
                }
                // Room in the budget before the frame is kept (it is already in memory, in the
                // connection's buffer; waiting here stops the connection from reading more).
                let Ok(more) = u32::try_from(data.len()) else { return Err(("too_long", too_long(limit))) };
                if reading.len + data.len() > budget.bytes {
                    return Err((
                        "body_budget",
                        Answer::plain(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the body is longer than the endpoint's body budget\n",
                        ),
                    ));
                }
                waiting_for_room = true;
                let permit = budget.permits.clone().acquire_many_owned(more).await;
                waiting_for_room = false;
                // (The budget's semaphore is never closed.)
                let Ok(permit) = permit else {
                    return Err(("body_budget", Answer::plain(StatusCode::SERVICE_UNAVAILABLE, "")));
                };
                match &mut reading.permit {
                    Some(held) => held.merge(permit),
                    None => reading.permit = Some(permit),
                }
                reading.push(data);
            }
            Ok(())
        };
        // A body that is all here with its request (most deliveries: a few hundred bytes, read
        // with the headers) is read without a timer: no clock read, no timer entry.
        let read = {
            let mut read = std::pin::pin!(read);
            match std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
                Poll::Ready(done) => Ok(done),
                Poll::Pending => tokio::time::timeout(self.endpoint.body_timeout, read).await,
            }
        };
        match read {
            Ok(Ok(())) => Ok(reading.into_bytes()),
            Ok(Err(refused)) => Err(refused),
            Err(_) if waiting_for_room => Err((
                "body_budget",
                Answer::plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is reading too many bodies at once; try again\n",
                ),
            )),
            Err(_) => Err((
                "body_timeout",
                Answer::plain(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the body did not arrive within {:?}\n", self.endpoint.body_timeout),
                ),
            )),
        }
    }

    /// The delivery path once the body is here; the body's part of the budget is given back
    /// once it is parsed.
    ///
    /// Not an `async fn`: everything before the handler (the delivery opened, parsed and keyed)
    /// is done when it is called, and the future it returns holds only what it awaits, once: the
    /// retry guard's future, which holds the message and the handler. (An `async fn` would keep
    /// its arguments, and every value it moves into the future it awaits, besides.) Called where
    /// it is awaited.
    fn answering(
        self,
        body: Bytes,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Delivery<impl Future<Output = Answer> + use<'a, H, S, Fut, R>> {
        let started = tokio::time::Instant::now();
        let Ok(text) = std::str::from_utf8(&body) else {
            return answered_now(refuse("not_utf8", bad_request("the body is not UTF-8\n".to_owned())));
        };
        // An encrypted delivery: opened, its signature checked first.
        #[cfg(feature = "crypto")]
        let (xml, sealing) = match self.encrypted {
            Some(Encrypted { crypto, msg_signature, timestamp, nonce }) => {
                match crypto.decrypt_delivery_with_key(&msg_signature, &timestamp, &nonce, text) {
                    Ok((xml, key)) => {
                        (Cow::Owned(xml), Some((crypto, key, timestamp.into_owned(), nonce.into_owned())))
                    }
                    Err(e) => {
                        let (reason, answer) = not_opened(&e);
                        return answered_now(refuse(reason, answer));
                    }
                }
            }
            None => (Cow::Borrowed(text), None),
        };
        #[cfg(not(feature = "crypto"))]
        let xml = Cow::Borrowed(text);
        let endpoint = self.endpoint;
        let msg = match Incoming::parse_with(&xml, endpoint.options) {
            Ok(msg) => msg.into_owned(),
            Err(e) => return answered_now(refuse("parse", bad_request(format!("{e}\n")))),
        };
        // Kept only to be recorded, when late replies are durable.
        #[cfg(feature = "client")]
        let delivery = endpoint.late.as_ref().filter(|late| late.is_durable()).map(|_| xml.to_string());
        #[cfg(not(feature = "client"))]
        let delivery = None;
        #[cfg(feature = "client")]
        endpoint.sweep_late_replies();
        // The body's bytes leave with its part of the budget: the handler runs on the owned message.
        drop(xml);
        drop(body);
        drop(permit);
        let key = (endpoint.dedup_key)(&msg);
        let key = match &endpoint.account {
            Some(account) => key.for_account(account),
            None => key,
        };
        let handler = endpoint.handler.clone();
        #[cfg(feature = "crypto")]
        let (mode, key) = match &sealing {
            Some(_) => ("encrypted", key.encrypted()),
            None => ("plaintext", key),
        };
        #[cfg(not(feature = "crypto"))]
        let mode = "plaintext";
        // The delivery's span, when a `tracing` subscriber was installed; otherwise none, and
        // the future is polled inside `Span::none()` (a branch per poll: awaiting it bare in a
        // second arm cost a copy of the whole future, 277 instructions a delivery, measured).
        let span = observe::tracing_on().then(|| {
            tracing::info_span!(
                "delivery",
                account = endpoint.account.as_deref(),
                key = ?key,
                msg_type = msg.msg_type(),
                event = msg.field("Event"),
                mode,
                outcome = tracing::field::Empty,
                latency_ms = tracing::field::Empty,
                late_outcome = tracing::field::Empty,
            )
        });
        let on_time = OnTimeOrLate::new(endpoint, &key, delivery);
        let guard = &endpoint.guard;
        #[cfg(feature = "crypto")]
        let reply = match sealing {
            Some((crypto, key_used, timestamp, nonce)) => OneOf::First {
                future: guard.answer(key, move || async move {
                    let reply = on_time.run(handler(msg)).await;
                    Enveloped { reply, crypto, key: key_used, timestamp, nonce }
                }),
            },
            None => OneOf::Second { future: guard.answer(key, move || on_time.run(handler(msg))) },
        };
        #[cfg(not(feature = "crypto"))]
        let reply = guard.answer(key, move || on_time.run(handler(msg)));
        let answering = Replied { reply, started };
        OneOf::First { future: answering.instrument(span.unwrap_or_else(tracing::Span::none)) }
    }
}

/// A delivery's answer: the future of it, or known at once (a refusal, [`answered_now`]).
pub(crate) type Delivery<F> = OneOf<F, std::future::Ready<Answer>>;

/// A delivery answered at once.
fn answered_now<F>(answer: Answer) -> Delivery<F> {
    OneOf::Second { future: std::future::ready(answer) }
}

pin_project_lite::pin_project! {
    /// The retry guard's reply, as the delivery's answer, its latency recorded.
    struct Replied<F> {
        #[pin]
        reply: F,
        started: tokio::time::Instant,
    }
}

impl<F: Future<Output = Bytes>> Future for Replied<F> {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        let this = self.project();
        let reply = ready!(this.reply.poll(cx));
        observe::latency(this.started.elapsed());
        Poll::Ready(Answer::reply(reply))
    }
}

/// An [`Endpoint`] as a `tower::Service<http::Request<B>>`: [`Endpoint::into_service`].
#[derive(Debug)]
pub struct EndpointService<H, S = MemoryStore>(Arc<Endpoint<H, S>>);

impl<H, S> EndpointService<H, S> {
    /// The endpoint it serves.
    pub fn endpoint(&self) -> &Endpoint<H, S> {
        &self.0
    }
}

impl<H, S> Clone for EndpointService<H, S> {
    fn clone(&self) -> Self {
        EndpointService(self.0.clone())
    }
}

impl<B, H, S, Fut, R> tower_service::Service<http::Request<B>> for EndpointService<H, S>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
    S: ReplyStore,
{
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let endpoint = self.0.clone();
        // The method, the URI and the body, taken before the future is made: it holds no more
        // than it reads (the request whole would be 240 bytes more of the box made per request).
        let (http::request::Parts { method, uri, .. }, body) = request.into_parts();
        Box::pin(async move { Ok(endpoint.respond_reading(&method, uri.query(), body).await.into_response()) })
    }
}

/// A readiness answer for balancers and orchestrators: `200 ready` while the retry guard's store
/// can serve it ([`RetryGuard::ready`]: always for a `MemoryStore`, Redis answering for a
/// `RedisStore`), `503` with the reason otherwise. Serve it at a path of its own (`/ready`): it
/// reads nothing of the request, and asks the store at most once per request.
///
/// ```
/// use reply_serve::endpoint::{Endpoint, Readiness};
/// use reply_core::{Empty, Incoming};
///
/// # async fn answer(_: Incoming<'static>) -> Empty { Empty }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let endpoint = Endpoint::new("my-token", answer);
/// let ready = endpoint.readiness(); // before `into_service`: a tower service of its own
/// assert_eq!(ready.answer().await.status(), http::StatusCode::OK);
/// # }
/// ```
#[derive(Debug)]
pub struct Readiness<S = MemoryStore>(RetryGuard<S>);

impl<S> Clone for Readiness<S> {
    fn clone(&self) -> Self {
        Readiness(self.0.clone())
    }
}

impl<S: ReplyStore> Readiness<S> {
    /// The readiness of `guard`'s store.
    pub fn new(guard: RetryGuard<S>) -> Self {
        Readiness(guard)
    }

    /// The answer now.
    pub async fn answer(&self) -> Answer {
        match self.0.ready().await {
            Ok(()) => Answer::plain(StatusCode::OK, "ready\n"),
            Err(e) => Answer::plain(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
        }
    }
}

impl<H, S: ReplyStore> Endpoint<H, S> {
    /// The readiness of this endpoint's retry guard ([`Readiness`]).
    pub fn readiness(&self) -> Readiness<S> {
        Readiness(self.guard.clone())
    }
}

impl<B, S: ReplyStore> tower_service::Service<http::Request<B>> for Readiness<S> {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        let readiness = self.clone();
        Box::pin(async move { Ok(readiness.answer().await.into_response()) })
    }
}

/// The query string's parameters the platform signs with, percent-decoded (borrowed from the
/// query when there was nothing to decode, as with the platform's own).
#[derive(Default)]
struct Signed<'q> {
    signature: Option<Cow<'q, str>>,
    timestamp: Option<Cow<'q, str>>,
    nonce: Option<Cow<'q, str>>,
    echostr: Option<Cow<'q, str>>,
    msg_signature: Option<Cow<'q, str>>,
    encrypt_type: Option<Cow<'q, str>>,
}

impl<'q> Signed<'q> {
    fn from_query(query: Option<&'q str>) -> Self {
        let query = query.unwrap_or("");
        // The platform's queries (hex, digits, ids) have nothing to decode: their pairs as they
        // are, which is what decoding gives when there is no `%` and no `+` (decoding them was
        // an eighth of a delivery's instructions in process). A `%` or a `+` anywhere hands the
        // query to the decoding path. The bytes are searched by `memchr` (a few vector steps for
        // the whole query), not looked at one by one.
        let bytes = query.as_bytes();
        if memchr::memchr2(b'%', b'+', bytes).is_some() {
            return Signed::decoding(query);
        }
        let mut signed = Signed::default();
        let mut start = 0;
        loop {
            let end = memchr::memchr(b'&', &bytes[start..]).map_or(bytes.len(), |len| start + len);
            let equals = memchr::memchr(b'=', &bytes[start..end]).map(|len| start + len);
            signed.pair(query, start, equals, end);
            if end == bytes.len() {
                return signed;
            }
            start = end + 1;
        }
    }

    /// Keeps the pair `query[start..end]`, whose first `=` is at `equals`, as it is. The three
    /// are the positions of ASCII bytes (or the end), so each part is whole UTF-8.
    fn pair(&mut self, query: &'q str, start: usize, equals: Option<usize>, end: usize) {
        let (name, value) = match equals {
            Some(equals) => (query.get(start..equals), query.get(equals + 1..end)),
            None => (query.get(start..end), Some("")),
        };
        if let (Some(name), Some(value)) = (name, value) {
            self.set(name, Cow::Borrowed(value));
        }
    }

    /// The query's pairs percent-decoded (`+` a space), by `form_urlencoded`.
    fn decoding(query: &'q str) -> Self {
        let mut signed = Signed::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            signed.set(&name, value);
        }
        signed
    }

    /// Keeps `value` if `name` is one of the parameters read (the last one wins, as before).
    fn set(&mut self, name: &str, value: Cow<'q, str>) {
        let slot = match name {
            "signature" => &mut self.signature,
            "timestamp" => &mut self.timestamp,
            "nonce" => &mut self.nonce,
            "echostr" => &mut self.echostr,
            "msg_signature" => &mut self.msg_signature,
            "encrypt_type" => &mut self.encrypt_type,
            _ => return,
        };
        *slot = Some(value);
    }

    /// The checks every signed request passes before its body is read: a timestamp of digits, the
    /// signature with `token`, and the timestamp within `window` of the clock. `Err`: the reason
    /// (as [`observe::REFUSED`](crate::serve::observe::REFUSED) labels it) and the answer.
    fn check(&self, token: &str, window: Option<Duration>) -> Result<(), (&'static str, Answer)> {
        if !self.timestamp_is_digits() {
            return Err(("timestamp", forbidden("the timestamp is not a whole number of seconds\n")));
        }
        if !self.is_valid(token) {
            return Err(("signature", forbidden("the signature does not match\n")));
        }
        if let Some(reason) = self.replayed(window, reply_core::now()) {
            return Err(("replay", forbidden(&reason)));
        }
        Ok(())
    }

    /// Whether the timestamp, if there is one, is decimal digits (and so can be written anywhere
    /// as it is, and compared with the clock).
    fn timestamp_is_digits(&self) -> bool {
        self.timestamp.as_deref().is_none_or(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Whether `signature` is the SHA-1 of the sorted token, timestamp and nonce, compared in
    /// constant time.
    fn is_valid(&self, token: &str) -> bool {
        let (Some(signature), Some(timestamp), Some(nonce)) = (&self.signature, &self.timestamp, &self.nonce) else {
            return false;
        };
        reply_core::signature::signature_matches(token, timestamp, nonce, signature)
    }

    /// Why the timestamp is refused as a replay, if it is: further than `window` from `now`
    /// (seconds since the Unix epoch), or not a number.
    fn replayed(&self, window: Option<Duration>, now: u64) -> Option<String> {
        let window = window?;
        let Some(timestamp) = self.timestamp.as_deref().and_then(|t| t.parse::<u64>().ok()) else {
            return Some("the timestamp is not a whole number of seconds\n".to_string());
        };
        let off = now.abs_diff(timestamp);
        (off > window.as_secs()).then(|| {
            format!(
                "the timestamp is {off} s from the server's clock, more than the {} s a delivery may be (a replay?)\n",
                window.as_secs()
            )
        })
    }
}

pub use reply_core::signature::signature_of;

mod accounts;
pub use accounts::{
    Accounts, AccountsService, DEFAULT_RESOLVE_TIMEOUT, MAX_ACCOUNT_NAME, is_account_name, last_segment,
};

#[cfg(feature = "component")]
pub mod component;

#[cfg(feature = "crypto")]
/// A reply in its encrypted envelope: what the retry guard keeps for an encrypted delivery, so
/// that its retries get the same envelope. Written once, by `to_xml`, into the envelope's own
/// allocation.
struct Enveloped<R> {
    reply: R,
    crypto: Arc<MessageCrypto>,
    key: KeyUsed,
    timestamp: String,
    nonce: String,
}

#[cfg(feature = "crypto")]
impl<R: PassiveReply> Enveloped<R> {
    /// The envelope; empty for the empty reply, and for the rare failure of the operating system
    /// to give random bytes (the platform then shows nothing, and doesn't retry).
    fn envelope(&self) -> String {
        self.crypto.try_encrypt_reply_with_key(self.key, &self.reply, &self.timestamp, &self.nonce).unwrap_or_default()
    }
}

#[cfg(feature = "crypto")]
impl<R: PassiveReply> PassiveReply for Enveloped<R> {
    fn encoded_len(&self) -> usize {
        // Counted, not encrypted. (Off only when the operating system has no random bytes: the
        // envelope is then empty.)
        self.crypto.envelope_len(self.reply.encoded_len(), &self.timestamp, &self.nonce)
    }

    fn write_to<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), S::Error> {
        let envelope = self.envelope();
        sink.reserve(envelope.len())?;
        sink.write_str(&envelope)
    }

    fn to_xml(&self) -> String {
        self.envelope()
    }
}

/// The handler's reply within the budget; after it, the empty reply, and with late replies on,
/// the rest of the handler in a task of its own.
struct OnTimeOrLate {
    budget: Duration,
    /// The late replies, the delivery's key, and its XML when late replies are durable.
    #[cfg(feature = "client")]
    late: Option<(Arc<crate::serve::LateReplies>, DedupKey, Option<String>)>,
}

impl OnTimeOrLate {
    fn new<H, S>(endpoint: &Endpoint<H, S>, key: &DedupKey, delivery: Option<String>) -> Self {
        let _ = (key, &delivery);
        OnTimeOrLate {
            budget: endpoint.budget,
            #[cfg(feature = "client")]
            late: endpoint.late.as_ref().map(|late| (late.clone(), key.clone(), delivery)),
        }
    }

    /// The handler's future within the budget (or late, through the late replies), its outcome
    /// counted. Not an `async fn`: the handler's future goes into its timeout (or its box, for
    /// late replies) here, at once, and is held once, there (an `async fn` keeps its arguments in
    /// its own state besides what it moves them into).
    #[cfg(feature = "client")]
    fn run<F>(self, handler: F) -> Answering<F, impl Future<Output = OnTime<F::Output>> + Send>
    where
        F: Future + Send + 'static,
        F::Output: PassiveReply + Send + 'static,
    {
        let budget = self.budget;
        match self.late {
            Some((late, key, delivery)) => {
                let handler = Box::pin(handler);
                Answering::new(OneOf::Second {
                    future: async move { late.within_or_late_recorded(budget, key, delivery, handler).await },
                })
            }
            None => Answering::new(OneOf::First { future: Within::new(budget, handler) }),
        }
    }

    #[cfg(not(feature = "client"))]
    fn run<F>(self, handler: F) -> Answering<F, std::future::Pending<OnTime<F::Output>>>
    where
        F: Future + Send + 'static,
        F::Output: PassiveReply + Send + 'static,
    {
        Answering::new(OneOf::First { future: Within::new(self.budget, handler) })
    }
}

pin_project_lite::pin_project! {
    /// [`OnTimeOrLate::run`]'s future, its outcome counted: within the budget, the handler's
    /// future in its timeout; with late replies, their future, which holds the handler's boxed.
    struct Answering<F, L> {
        #[pin]
        either: OneOf<Within<F>, L>,
    }
}

impl<F, L> Answering<F, L> {
    fn new(either: OneOf<Within<F>, L>) -> Self {
        Answering { either }
    }
}

impl<F: Future, L: Future<Output = OnTime<F::Output>>> Future for Answering<F, L> {
    type Output = OnTime<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let on_time = ready!(self.project().either.poll(cx));
        observe::delivery(match on_time {
            OnTime::Late => observe::Outcome::Late,
            _ => observe::Outcome::Answered,
        });
        Poll::Ready(on_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each answer's headers: a reply's content type, a refusal's, none for the empty reply;
    /// `nosniff` on all; `Allow` on a 405.
    #[test]
    fn answers_carry_their_headers() {
        let headers = |answer: Answer| {
            let response = answer.into_response();
            let header = |name| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            (header(header::CONTENT_TYPE), header(header::X_CONTENT_TYPE_OPTIONS), header(header::ALLOW))
        };
        let some = |s: &str| Some(s.to_owned());
        let reply = Answer::reply(Bytes::from_static(b"<xml></xml>"));
        assert_eq!(reply.content_type(), Some(CONTENT_TYPE));
        assert_eq!(headers(reply), (some("text/xml; charset=utf-8"), some("nosniff"), None));
        let empty = Answer::reply(Bytes::new());
        assert_eq!(empty.content_type(), None);
        assert_eq!(headers(empty), (None, some("nosniff"), None));
        let refused = forbidden("no\n");
        assert_eq!(refused.content_type(), Some("text/plain; charset=utf-8"));
        assert_eq!(headers(refused), (some("text/plain; charset=utf-8"), some("nosniff"), None));
        let method = Answer::plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST\n");
        assert_eq!(headers(method), (some("text/plain; charset=utf-8"), some("nosniff"), some("GET, POST")));
    }

    #[cfg(feature = "crypto")]
    /// A sealed reply counts its envelope's length without encrypting, and the count is right:
    /// for a reply, one that escaping lengthens, and the empty one.
    #[test]
    fn sealed_replies_count_their_envelopes() {
        let crypto = Arc::new(MessageCrypto::new("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx1").unwrap());
        let seal = |reply| Enveloped {
            reply,
            crypto: crypto.clone(),
            key: KeyUsed::Current,
            timestamp: "1".into(),
            nonce: "n<]]>".into(),
        };
        let long = "长".repeat(100);
        for text in ["hi", "a]]>b\u{1}", &long] {
            let sealed = seal(reply_core::Text::new("u", "gh", text).boxed());
            assert_eq!(sealed.encoded_len(), sealed.to_xml().len(), "{text}");
        }
        let empty = seal(reply_core::Empty.boxed());
        assert_eq!((empty.encoded_len(), empty.to_xml()), (0, String::new()));
    }

    #[test]
    fn query_strings() {
        let signed =
            Signed::from_query(Some("signature=ab&timestamp=1&nonce=n%20o&echostr=a+b%2Bc&other=x&encrypt_type=aes"));
        assert_eq!(signed.signature.as_deref(), Some("ab"));
        assert_eq!(signed.nonce.as_deref(), Some("n o"));
        assert_eq!(signed.echostr.as_deref(), Some("a b+c"));
        assert_eq!(signed.encrypt_type.as_deref(), Some("aes"));
        assert!(Signed::from_query(None).signature.is_none());
        // Not UTF-8 once decoded: replaced, not refused (it can only fail the signature).
        assert!(Signed::from_query(Some("nonce=%FF")).nonce.is_some());
    }

    /// A query with nothing to decode is read without `form_urlencoded`, and gives what it
    /// gives: empty pairs, names without `=`, `=` in values, repeats (the last wins), text that
    /// is not ASCII. Each is read both ways, with the same result, borrowed from the query unless
    /// it has a `%` or a `+` (the last one: decoded, owned).
    #[test]
    fn query_strings_read_as_they_are_the_same_as_decoded() {
        let fields = |s: &Signed<'_>| {
            [&s.signature, &s.timestamp, &s.nonce, &s.echostr, &s.msg_signature, &s.encrypt_type]
                .map(|v| v.as_ref().map(|v| v.to_string()))
        };
        for query in [
            "",
            "&",
            "&&signature=&",
            "signature",
            "signature=a=b&nonce==",
            "nonce=1&nonce=2&timestamp=3&nonce",
            "timestamp=1&timestamp=",
            "=x&signature=s&Signature=t&nonce=随机&echostr=a;b",
            "signature=ab&timestamp=1796570738&nonce=424242&openid=o_user&encrypt_type=aes&msg_signature=cd",
            "nonce=n%20o&echostr=a+b",
        ] {
            let (fast, decoded) = (Signed::from_query(Some(query)), Signed::decoding(query));
            assert_eq!(fields(&fast), fields(&decoded), "{query}");
            let borrowed = [&fast.signature, &fast.timestamp, &fast.nonce, &fast.echostr]
                .iter()
                .all(|v| v.as_ref().is_none_or(|v| matches!(v, Cow::Borrowed(_))));
            assert_eq!(borrowed, !query.contains(['%', '+']), "{query}");
        }
        let read = Signed::from_query(Some("nonce=1&nonce=2&timestamp=3&nonce"));
        assert_eq!((read.nonce.as_deref(), read.timestamp.as_deref()), (Some(""), Some("3")));
    }

    /// Every query of up to seven pieces from a name, a value, `=` and `&` (21,845 of them: empty
    /// pairs and names, `=` twice, a pair at either end) is read as `form_urlencoded` reads it.
    #[test]
    fn every_small_query_reads_as_decoded() {
        let fields = |s: &Signed<'_>| {
            [&s.signature, &s.timestamp, &s.nonce, &s.echostr, &s.msg_signature, &s.encrypt_type]
                .map(|v| v.as_ref().map(|v| v.to_string()))
        };
        const PIECES: [&str; 4] = ["nonce", "7", "=", "&"];
        let mut queries = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..7 {
            last = last.iter().flat_map(|q| PIECES.map(|p| format!("{q}{p}"))).collect();
            queries.extend(last.iter().cloned());
        }
        assert_eq!(queries.len(), 21_845);
        for query in &queries {
            assert_eq!(fields(&Signed::from_query(Some(query))), fields(&Signed::decoding(query)), "{query}");
        }
    }

    /// The future the tower service boxes for each request is small enough for glibc's thread
    /// cache (chunks of up to 1,032 bytes), which serves it without the allocator's slower paths:
    /// the delivery path's futures hold what they await once (`Authorized::answering` and the
    /// retry guard's `answer` are not `async fn`s; it was 2,144 bytes when they were).
    #[test]
    fn the_services_future_fits_the_allocators_thread_cache() {
        async fn answer(msg: Incoming<'static>) -> reply_core::Text<'static> {
            msg.into_reply_text("ok")
        }
        let mut service = Endpoint::new("t", answer).into_service();
        let request = http::Request::post("/?signature=s&timestamp=1&nonce=1").body(Full::new(Bytes::new())).unwrap();
        let future = tower_service::Service::call(&mut service, request);
        let size = std::mem::size_of_val(&*future);
        assert!(size <= 1_024, "the service's future is {size} bytes");
    }

    #[test]
    fn signatures() {
        // Sorted and joined, the three are "abc", whose SHA-1 is FIPS 180's first test vector.
        let expected = "a9993e364706816aba3e25717850c26c9cd0d89d";
        assert_eq!(signature_of("b", "c", "a"), expected);
        assert_eq!(signature_of("a", "b", "c"), expected);
        let signed = Signed {
            signature: Some(expected.to_uppercase().into()),
            timestamp: Some("c".into()),
            nonce: Some("a".into()),
            ..Signed::default()
        };
        assert!(signed.is_valid("b"));
        assert!(!signed.is_valid("d"));
        let short = Signed { signature: Some("a9993e".into()), ..signed };
        assert!(!short.is_valid("b"));
    }

    #[test]
    fn replays() {
        let at = |timestamp: &'static str| Signed { timestamp: Some(timestamp.into()), ..Signed::default() };
        let window = Some(Duration::from_secs(300));
        assert_eq!(at("1000").replayed(window, 1300), None);
        assert_eq!(at("1600").replayed(window, 1300), None);
        assert!(at("999").replayed(window, 1300).unwrap().contains("301 s"));
        assert!(at("1601").replayed(window, 1300).is_some());
        assert!(at("soon").replayed(window, 1300).is_some());
        assert_eq!(at("1").replayed(None, 1300), None);
    }
}
