//! The simulated platform: deliveries signed (and encrypted) as the platform makes them, sent to
//! an endpoint in process or to a URL, retried as the platform retries, and their answers read.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use passive_reply::crypto::{CryptoError, MessageCrypto, msg_signature};
use passive_reply::endpoint::Endpoint;
use passive_reply::serve::ReplyStore;
use passive_reply::signature::signature_of;
use passive_reply::{Incoming, PassiveReply};

use crate::reply::{ReadError, Reply};
use crate::{DEFAULT_ACCOUNT, Inbound};

/// How the platform sends an account's deliveries: the account's setting of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Plaintext (明文模式): the XML as it is, the query signed.
    Plaintext,
    /// Compatible (兼容模式): the plaintext elements and `<Encrypt>` beside them.
    Compatible,
    /// Safe (安全模式): `<ToUserName>` and `<Encrypt>` only; the query carries `msg_signature`.
    Safe,
}

/// The platform, simulated for one account: it builds what the real one sends (signed with the
/// account's token, encrypted in compatible or safe mode with its key), sends it to an
/// [`Endpoint`] in process or to a server's URL ([`Target`]), retries as the platform retries
/// ([`send_with_retries`](Platform::send_with_retries)), and reads the answer back ([`Answer`]).
///
/// ```
/// use passive_reply::endpoint::Endpoint;
/// use passive_reply::{Incoming, Text};
/// use passive_reply_test::{Inbound, Platform};
///
/// async fn echo(msg: Incoming<'static>) -> Text<'static> {
///     let content = msg.field("Content").unwrap_or_default().to_owned();
///     msg.reply_text(content).into_owned()
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let endpoint = Endpoint::new("my-token", echo);
/// let platform = Platform::new("my-token");
/// platform.send(&endpoint, Inbound::text("hi").from("oAlice")).await.assert_text("hi");
/// # }
/// ```
#[derive(Clone)]
pub struct Platform {
    token: String,
    account: String,
    crypto: Option<MessageCrypto>,
    mode: Mode,
    next_msg_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").field("account", &self.account).field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// A delivery as the platform sends it: the query (signed) and the body (encrypted in safe and
/// compatible modes), with the plaintext XML it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The query string, without `?`: `signature`, `timestamp`, `nonce` (and in safe and
    /// compatible modes `openid`, `encrypt_type=aes`, `msg_signature`).
    pub query: String,
    /// The body.
    pub body: String,
    /// The message's XML, as the endpoint reads it once decrypted.
    pub xml: String,
}

impl Delivery {
    /// Where to POST it: `url` (or a path) with the delivery's query after its own.
    pub fn target(&self, url: &str) -> String {
        Delivery::target_of(url, &self.query)
    }

    fn target_of(url: &str, query: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{query}")
    }
}

/// A unique nonce: the platform's are random digits.
fn nonce() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() % 10_000_000_000).to_string()
}

impl Platform {
    /// The platform for the account configured with `token`, in plaintext mode; its account
    /// (ToUserName) is `gh_account`, its messages' MsgIds count from 1.
    pub fn new(token: impl Into<String>) -> Platform {
        Platform {
            token: token.into(),
            account: DEFAULT_ACCOUNT.to_owned(),
            crypto: None,
            mode: Mode::Plaintext,
            next_msg_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// In safe mode, with the account's EncodingAESKey and AppID.
    pub fn safe_mode(self, encoding_aes_key: &str, app_id: impl Into<String>) -> Result<Platform, CryptoError> {
        self.encrypted(Mode::Safe, encoding_aes_key, app_id.into())
    }

    /// In compatible mode, with the account's EncodingAESKey and AppID.
    pub fn compatible_mode(self, encoding_aes_key: &str, app_id: impl Into<String>) -> Result<Platform, CryptoError> {
        self.encrypted(Mode::Compatible, encoding_aes_key, app_id.into())
    }

    fn encrypted(self, mode: Mode, key: &str, app_id: String) -> Result<Platform, CryptoError> {
        let crypto = MessageCrypto::new(self.token.clone(), key, app_id)?;
        Ok(self.with_crypto(crypto, mode))
    }

    /// In `mode`, encrypting with `crypto` (its token is the one deliveries are encrypted with;
    /// the query is signed with this platform's): the account's own `MessageCrypto`.
    #[must_use]
    pub fn with_crypto(mut self, crypto: MessageCrypto, mode: Mode) -> Platform {
        self.crypto = (mode != Mode::Plaintext).then_some(crypto);
        self.mode = mode;
        self
    }

    /// The account's ID, its messages' ToUserName (`gh_account` unless set).
    #[must_use]
    pub fn account(mut self, account: impl Into<String>) -> Platform {
        self.account = account.into();
        self
    }

    /// Its mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The delivery of `inbound`, now: signed with a new nonce, its MsgId the next one (a
    /// message's), encrypted as the mode says.
    pub fn delivery(&self, inbound: &Inbound) -> Delivery {
        let msg_id = self.next_msg_id.fetch_add(1, Ordering::Relaxed);
        let xml = inbound.to_xml(&self.account, passive_reply::now(), Some(msg_id));
        self.deliver_xml(xml)
    }

    /// The same message delivered again, as the platform retries it: the same body's XML, a new
    /// timestamp and nonce.
    pub fn again(&self, delivery: &Delivery) -> Delivery {
        self.deliver_xml(delivery.xml.clone())
    }

    /// Any XML (a message the kit has no builder for, a malformed one), signed and encrypted as
    /// the mode says.
    pub fn deliver_xml(&self, xml: String) -> Delivery {
        self.deliver_xml_at(xml, passive_reply::now())
    }

    /// [`deliver_xml`](Platform::deliver_xml), signed as at `timestamp` (seconds since the Unix
    /// epoch): a delivery from the past, or from a clock that is off.
    pub fn deliver_xml_at(&self, xml: String, timestamp: u64) -> Delivery {
        let timestamp = timestamp.to_string();
        let nonce = nonce();
        let mut query =
            format!("signature={}&timestamp={timestamp}&nonce={nonce}", signature_of(&self.token, &timestamp, &nonce));
        let body = match (&self.crypto, self.mode) {
            (Some(crypto), Mode::Safe | Mode::Compatible) => {
                let encrypt = crypto.encrypt(&xml);
                let open_id = Incoming::parse(&xml).map(|msg| msg.from_user_name().to_owned()).unwrap_or_default();
                query.push_str(&format!(
                    "&openid={open_id}&encrypt_type=aes&msg_signature={}",
                    msg_signature(&self.token, &timestamp, &nonce, &encrypt)
                ));
                let plaintext = match self.mode {
                    Mode::Compatible => xml.trim_start_matches("<xml>").trim_end_matches("</xml>").to_owned(),
                    _ => format!("<ToUserName>{}</ToUserName>", crate::inbound::cdata(&self.account)),
                };
                format!("<xml>{plaintext}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
            }
            _ => xml.clone(),
        };
        Delivery { query, body, xml }
    }

    /// Hands `inbound` to `handler` (a router's `into_handler()`, or any handler function)
    /// directly: no endpoint, no signature, no budget; the reply as an answer, to assert on as
    /// any other.
    ///
    /// ```
    /// use passive_reply::router::{Msg, Router, kind};
    /// use passive_reply::Text;
    /// use passive_reply_test::{Inbound, Platform};
    ///
    /// async fn echo(msg: Msg<kind::Text>) -> Text<'static> {
    ///     msg.reply_text(msg.content().to_owned()).into_owned()
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let handler = Router::new().on::<kind::Text, _, _>(echo).into_handler();
    /// Platform::new("any").ask(&handler, Inbound::text("hi")).await.assert_text("hi");
    /// Platform::new("any").ask(&handler, Inbound::click("K")).await.assert_empty();
    /// # }
    /// ```
    ///
    /// # Panics
    /// When the message the kit built doesn't parse (it always does; XML of your own goes to an
    /// endpoint with [`deliver_xml`](Platform::deliver_xml)).
    pub async fn ask<H, Fut, R>(&self, handler: &H, inbound: Inbound) -> Answer
    where
        H: Fn(Incoming<'static>) -> Fut,
        Fut: Future<Output = R>,
        R: PassiveReply,
    {
        let msg_id = self.next_msg_id.fetch_add(1, Ordering::Relaxed);
        let xml = inbound.to_xml(&self.account, passive_reply::now(), Some(msg_id));
        let msg =
            Incoming::parse(&xml).unwrap_or_else(|e| panic!("the kit built a message that doesn't parse ({e}): {xml}"));
        let reply = handler(msg.into_owned()).await;
        Answer { status: 200, body: reply.to_xml(), crypto: None }
    }

    /// Sends `inbound` to `target` once, and gives its answer.
    ///
    /// # Panics
    /// When `target` can't be reached (a URL nothing listens on): the test fails, saying so.
    pub async fn send(&self, target: &impl Target, inbound: Inbound) -> Answer {
        let delivery = self.delivery(&inbound);
        self.deliver(target, &delivery).await
    }

    /// Sends `delivery` to `target` once.
    ///
    /// # Panics
    /// As [`send`](Platform::send).
    pub async fn deliver(&self, target: &impl Target, delivery: &Delivery) -> Answer {
        match target.post(&delivery.query, delivery.body.clone()).await {
            Ok((status, body)) => Answer { status, body, crypto: self.crypto.clone() },
            Err(error) => panic!("the platform could not deliver to the server: {error}"),
        }
    }

    /// Sends `inbound` as the platform does when it gets no answer: a try, and when none answers
    /// within 5 s, another 5 s after it, three tries in all. With tokio's paused clock
    /// (`#[tokio::test(start_paused = true)]`) and an in-process target, the 15 seconds take
    /// none.
    ///
    /// # Panics
    /// As [`send`](Platform::send).
    pub async fn send_with_retries(&self, target: &impl Target, inbound: Inbound) -> Tries {
        let first = self.delivery(&inbound);
        let started = tokio::time::Instant::now();
        let mut tries = Vec::new();
        for n in 0..3u32 {
            tokio::time::sleep_until(started + RETRY_AFTER * n).await;
            let delivery = if n == 0 { first.clone() } else { self.again(&first) };
            let at = started.elapsed();
            let answer = tokio::time::timeout(RETRY_AFTER, self.deliver(target, &delivery)).await.ok();
            let answered = answer.is_some();
            tries.push(Try { at, answer });
            if answered {
                break;
            }
        }
        Tries { tries, delivery: first }
    }
}

/// How long the platform waits for an answer before it tries again: 5 s.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the platform got back: a status and a body (a reply, the empty reply, or a refusal's
/// reason), read with [`reply`](Answer::reply) and asserted on with the `assert_` methods.
#[derive(Clone)]
pub struct Answer {
    status: u16,
    body: String,
    crypto: Option<MessageCrypto>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer").field("status", &self.status).field("body", &self.body).finish_non_exhaustive()
    }
}

impl Answer {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body as it came (an encrypted reply's envelope, in safe mode).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The reply read back, opened first when it is encrypted (its signature checked with the
    /// account's token, the message with its key): `Ok(None)` for the empty reply.
    pub fn reply(&self) -> Result<Option<Reply>, ReadError> {
        if self.status != 200 {
            return Err(ReadError(format!("refused with {}: {}", self.status, self.body)));
        }
        if envelope_field(&self.body, "Encrypt").is_none() {
            return Reply::read(&self.body);
        }
        let Some(crypto) = &self.crypto else {
            return Err(ReadError(format!("an encrypted reply, and a platform without the key: {}", self.body)));
        };
        let field = |name| envelope_field(&self.body, name);
        let (Some(signature), Some(timestamp), Some(nonce)) =
            (field("MsgSignature"), field("TimeStamp"), field("Nonce"))
        else {
            return Err(ReadError(format!(
                "an encrypted reply without MsgSignature, TimeStamp or Nonce: {}",
                self.body
            )));
        };
        let xml = crypto
            .decrypt_delivery(signature, timestamp, nonce, &self.body)
            .map_err(|e| ReadError(format!("an encrypted reply that doesn't open ({e}): {}", self.body)))?;
        Reply::read(&xml)
    }

    /// Asserts that the answer is a text reply saying `content`; gives the reply.
    ///
    /// # Panics
    /// When it isn't, saying what it is.
    #[track_caller]
    pub fn assert_text(&self, content: &str) -> Reply {
        match self.reply() {
            Ok(Some(reply)) if reply.text() == Some(content) => reply,
            Ok(Some(reply)) => panic!("expected the text reply {content:?}, got {:?}", reply.body),
            Ok(None) => panic!("expected the text reply {content:?}, got the empty reply ({:?})", self.body),
            Err(error) => panic!("expected the text reply {content:?}, got {error}"),
        }
    }

    /// Asserts that the answer is the empty reply (`""` or `success`): the user sees nothing.
    ///
    /// # Panics
    /// When it isn't, saying what it is.
    #[track_caller]
    pub fn assert_empty(&self) {
        match self.reply() {
            Ok(None) => {}
            Ok(Some(reply)) => panic!("expected the empty reply, got {:?}", reply.body),
            Err(error) => panic!("expected the empty reply, got {error}"),
        }
    }

    /// Asserts that the answer is a reply (any kind); gives it.
    ///
    /// # Panics
    /// When it isn't.
    #[track_caller]
    pub fn assert_reply(&self) -> Reply {
        match self.reply() {
            Ok(Some(reply)) => reply,
            Ok(None) => panic!("expected a reply, got the empty reply ({:?})", self.body),
            Err(error) => panic!("expected a reply, got {error}"),
        }
    }

    /// Asserts that the server refused the delivery with `status`; gives the reason it said.
    ///
    /// # Panics
    /// When it answered otherwise.
    #[track_caller]
    pub fn assert_refused(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "expected a refusal with {status}, got {}: {:?}", self.status, self.body);
        &self.body
    }
}

/// The text of the element `name` of an encrypted reply's envelope (`Encrypt`, `MsgSignature`,
/// `TimeStamp`, `Nonce`), out of its CDATA: the envelope has no header, so the message parser
/// doesn't read it.
pub fn envelope_field<'x>(envelope: &'x str, name: &str) -> Option<&'x str> {
    let start = envelope.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + envelope[start..].find(&format!("</{name}>"))?;
    let text = &envelope[start..end];
    Some(text.strip_prefix("<![CDATA[").and_then(|t| t.strip_suffix("]]>")).unwrap_or(text))
}

/// One try of a delivery: when it was made (from the first), and its answer, if one came within
/// [`RETRY_AFTER`].
#[derive(Debug, Clone)]
pub struct Try {
    /// When, from the first try.
    pub at: Duration,
    /// The answer, or `None` when none came in time.
    pub answer: Option<Answer>,
}

/// The tries of one delivery, as [`Platform::send_with_retries`] made them.
#[derive(Debug, Clone)]
pub struct Tries {
    /// Each try, in order.
    pub tries: Vec<Try>,
    /// The first try's delivery.
    pub delivery: Delivery,
}

impl Tries {
    /// How many tries were made.
    pub fn count(&self) -> usize {
        self.tries.len()
    }

    /// The answer that ended them, if one came.
    pub fn answer(&self) -> Option<&Answer> {
        self.tries.last().and_then(|last| last.answer.as_ref())
    }

    /// Asserts that the `n`th try (from 1) was answered, and the ones before it were not; gives
    /// the answer.
    ///
    /// # Panics
    /// When the tries went otherwise, saying how.
    #[track_caller]
    pub fn assert_answered_on_try(&self, n: usize) -> &Answer {
        let answered: Vec<bool> = self.tries.iter().map(|t| t.answer.is_some()).collect();
        let expected: Vec<bool> = (1..=n).map(|i| i == n).collect();
        assert_eq!(answered, expected, "which tries were answered (try {n} expected to be the first)");
        self.answer().expect("checked above")
    }

    /// Asserts that no try was answered in time (three tries, 5 s apart).
    ///
    /// # Panics
    /// When one was.
    #[track_caller]
    pub fn assert_unanswered(&self) {
        let answered: Vec<bool> = self.tries.iter().map(|t| t.answer.is_some()).collect();
        assert_eq!(answered, [false, false, false], "expected three tries without an answer");
    }
}

/// Where the platform delivers: an [`Endpoint`] in process (no socket), a server's [`Url`], or
/// any tower service ([`Service`]: an axum router, `Accounts`…).
pub trait Target {
    /// POSTs `body` with `query`: the status and body of the answer, or why there is none.
    fn post(&self, query: &str, body: String) -> impl Future<Output = Result<(u16, String), String>> + Send;
}

impl<H, S, Fut, R> Target for Endpoint<H, S>
where
    H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: PassiveReply + Send + 'static,
    S: ReplyStore,
{
    fn post(&self, query: &str, body: String) -> impl Future<Output = Result<(u16, String), String>> + Send {
        let query = query.to_owned();
        async move {
            let answer = self.respond(&http::Method::POST, Some(&query), Bytes::from(body)).await;
            Ok((answer.status().as_u16(), String::from_utf8_lossy(answer.body()).into_owned()))
        }
    }
}

/// Any tower service of HTTP requests (an axum `Router`, the endpoint's `into_service()`,
/// `Accounts`), called in process at `path` (`/` unless given).
#[derive(Debug, Clone)]
pub struct Service<S> {
    service: S,
    path: String,
}

impl<S> Service<S> {
    /// `service`, delivered to at `path` (`/`, `/{account}`, …).
    pub fn new(service: S, path: impl Into<String>) -> Service<S> {
        Service { service, path: path.into() }
    }
}

impl<S, B> Target for Service<S>
where
    S: tower_service::Service<http::Request<Full<Bytes>>, Response = http::Response<B>> + Clone + Send + Sync,
    S::Future: Send,
    S::Error: std::fmt::Display,
    B: http_body::Body + Send,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    fn post(&self, query: &str, body: String) -> impl Future<Output = Result<(u16, String), String>> + Send {
        let mut service = self.service.clone();
        let request = http::Request::post(format!("{}?{query}", self.path)).body(Full::new(Bytes::from(body)));
        async move {
            let request = request.map_err(|e| e.to_string())?;
            std::future::poll_fn(|cx| service.poll_ready(cx)).await.map_err(|e| e.to_string())?;
            let response = service.call(request).await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        }
    }
}

/// A running server's URL (`http://127.0.0.1:8080/wechat`), POSTed to over a new connection
/// each time (HTTP/1.1, hyper's client).
#[derive(Debug, Clone)]
pub struct Url {
    host: String,
    authority: String,
    path: String,
}

impl Url {
    /// `url`, an `http://` URL (a server under test on loopback).
    pub fn new(url: &str) -> Result<Url, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let host = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
        Ok(Url { host, authority: authority.to_owned(), path: path.to_owned() })
    }
}

impl From<std::net::SocketAddr> for Url {
    fn from(addr: std::net::SocketAddr) -> Url {
        Url { host: addr.to_string(), authority: addr.to_string(), path: "/".to_owned() }
    }
}

impl Target for Url {
    fn post(&self, query: &str, body: String) -> impl Future<Output = Result<(u16, String), String>> + Send {
        let target = Delivery::target_of(&self.path, query);
        let (host, authority) = (self.host.clone(), self.authority.clone());
        async move {
            let stream = tokio::net::TcpStream::connect(&host).await.map_err(|e| format!("{host}: {e}"))?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("{host}: {e}"))?;
            tokio::spawn(connection);
            let request = http::Request::post(target)
                .header(http::header::HOST, authority)
                .header(http::header::CONTENT_TYPE, "text/xml")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| e.to_string())?;
            let response = sender.send_request(request).await.map_err(|e| format!("{host}: {e}"))?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.map_err(|e| format!("{host}: {e}"))?.to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        }
    }
}

/// Counts a handler's runs: wrap the handler with [`count`](Runs::count) and assert on
/// [`get`](Runs::get), to see that retries ran it once.
#[derive(Debug, Clone, Default)]
pub struct Runs(Arc<AtomicUsize>);

impl Runs {
    /// A counter at 0.
    pub fn new() -> Runs {
        Runs::default()
    }

    /// `handler`, counted here each time it runs.
    pub fn count<H, Fut>(&self, handler: H) -> impl Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static
    where
        H: Fn(Incoming<'static>) -> Fut + Clone + Send + Sync + 'static,
    {
        let runs = self.0.clone();
        move |msg| {
            runs.fetch_add(1, Ordering::SeqCst);
            handler(msg)
        }
    }

    /// How many times it ran.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}
