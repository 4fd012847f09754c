//! The store that instances share, on Redis (feature `redis`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    Client, FromRedisValue, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisError, ToRedisArgs, Value,
};
use bytes::Bytes;
use tokio::sync::Notify;

mod pipe;

use self::pipe::{Command, Pipe};
use super::{Claim, DEFAULT_MAX_REPLY_LEN, DEFAULT_RETRY_WINDOW, ReplyStore, StoreError, StoreErrorKind, not_recorded};
use reply_core::DedupKey;

/// How long a claim holds by default when its owner never completes it (the process died
/// mid-handler): 6 s. Longer than one try of the platform (5 s) and than the default budget
/// (4 s), so a live owner always completes first; short enough that the platform's second try,
/// 5 s after the first, sees it expire and runs the handler itself.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(6);

/// How long one request to Redis may take by default before the store gives up on it: 250 ms,
/// well inside the platform's 5 s.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(250);

/// How long a store stops asking Redis after a request failed, by default: 500 ms. Deliveries in
/// that time are answered at once without the guard (or as [`OnStoreError`](super::OnStoreError)
/// says) instead of each waiting out a timeout; the first request after it tries Redis again.
pub const DEFAULT_PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(500);

/// How often a store that failed asks Redis whether it is back: 100 ms.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// How a waiting retry learns that another instance has made the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wake {
    /// Redis pub/sub (the default): the completing instance publishes the key on one channel when
    /// a waiter has flagged it, and every instance's one subscription wakes its waiters for it. A waiter also looks
    /// again every `backstop`, for a message lost while a connection was down.
    PubSub {
        /// How often a waiter looks again anyway.
        backstop: Duration,
    },
    /// Waiters look again every interval; no subscription.
    Poll(Duration),
}

impl Default for Wake {
    fn default() -> Self {
        Wake::PubSub { backstop: Duration::from_millis(250) }
    }
}

/// The settings of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    prefix: String,
    window: Duration,
    lease: Duration,
    timeout: Duration,
    pause_after_failure: Duration,
    max_reply_len: usize,
    wake: Wake,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "passive-reply:".to_owned(),
            window: DEFAULT_RETRY_WINDOW,
            lease: DEFAULT_LEASE,
            timeout: DEFAULT_STORE_TIMEOUT,
            pause_after_failure: DEFAULT_PAUSE_AFTER_FAILURE,
            max_reply_len: DEFAULT_MAX_REPLY_LEN,
            wake: Wake::default(),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `passive-reply:`, window 30 s, lease [`DEFAULT_LEASE`], timeout
    /// [`DEFAULT_STORE_TIMEOUT`], a pause of [`DEFAULT_PAUSE_AFTER_FAILURE`] after a failure,
    /// replies up to [`DEFAULT_MAX_REPLY_LEN`], [`Wake::PubSub`].
    pub fn new() -> Self {
        RedisOptions::default()
    }

    /// What every key (and the channel) starts with. Keys go on with the delivery's key, which
    /// holds its account (ToUserName), so accounts sharing a prefix still never share a key.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a reply is kept after it is made.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long a claim holds without a reply. Keep it longer than the endpoint's budget.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long one request to Redis may take (connecting included) before the store reports
    /// [`StoreErrorKind::Timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long to stop asking Redis after a request failed ([`DEFAULT_PAUSE_AFTER_FAILURE`]);
    /// zero asks every time.
    #[must_use]
    pub fn pause_after_failure(mut self, pause: Duration) -> Self {
        self.pause_after_failure = pause;
        self
    }

    /// The longest reply kept; a longer one is kept as the empty reply.
    #[must_use]
    pub fn max_reply_len(mut self, len: usize) -> Self {
        self.max_reply_len = len;
        self
    }

    /// How waiters learn of replies made on other instances.
    #[must_use]
    pub fn wake(mut self, wake: Wake) -> Self {
        self.wake = wake;
        self
    }
}

/// The [`ReplyStore`] that instances behind one URL share, on Redis 7 or later.
///
/// Each delivery is one key, `{prefix}{key}`, whose value is `R{owner}` while its handler runs
/// (claimed with one `SET … NX GET PX lease`, which also reads what is there) and `D{reply}` once
/// it is made (kept for the window). A claim whose owner dies leaves with its lease, and the next
/// try, on any instance, runs the handler. A waiter flags the claim (`R{owner}W`, by a script
/// that changes nothing but a claim), and a reply that replaces a flagged claim (its `SET … GET`
/// says what it replaced) is published on `{prefix}done`, which wakes the waiters on every
/// instance (see [`Wake`]); replies nobody waits for are not published.
///
/// The claims, reads and replies of deliveries in progress together go to Redis together: one
/// pipeline, one write and one read of the socket for all of them (`tests/redis.rs`: 64 claims
/// at once reach Redis in 2 reads of its socket, not 64), each still answered on its own. They
/// have a connection of their own (TCP or a Unix socket, with the URL's password and database),
/// written and read by the store's own two tasks; the rest (the waiters' pub/sub, the token
/// store, late replies, sessions) goes through redis-rs's connection manager: two connections
/// per store.
///
/// The guard doesn't wait for Redis to record a reply before its response goes out
/// ([`ReplyStore::record`]): the reply's `SET` is queued behind the delivery's claim, on the same
/// connection, and Redis's answer comes to the store, which publishes the reply if a waiter
/// flagged it, and logs a failure (`passive_reply_store_errors_total`). A retry comes only when
/// the response didn't arrive, and one that comes meanwhile waits for the reply as for any reply
/// still being made. What is queued and not yet answered is what a shutdown waits for
/// ([`RedisStore::settle`]; the crate's server does). ([`ReplyStore::complete`] still waits.)
///
/// Every request has a timeout ([`DEFAULT_STORE_TIMEOUT`]); a store that fails or is slow
/// reports [`Claim::Failed`], and the guard's
/// [`OnStoreError`](super::OnStoreError) decides. The connection is re-made in the background,
/// so the guard works again once Redis is back, without a restart: after a failure the store asks
/// Redis every 100 ms whether it is back, and works again as soon as it is (within a second of
/// Redis accepting connections, however long it was down: `tests/redis.rs` measures it).
///
/// ```no_run
/// use reply_serve::axum::Endpoint;
/// use reply_serve::serve::{RedisStore, RetryGuard};
/// use reply_core::{Incoming, Text};
///
/// async fn answer(msg: Incoming<'static>) -> Text<'static> {
///     msg.reply_text("hello").into_owned()
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let app = Endpoint::new("token", answer).retry_guard(RetryGuard::with_store(store)).into_router();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    /// The deliveries' claims, reads and replies, sent together on a connection of their own
    /// (see [`pipe`]).
    pipe: Pipe,
    /// What becomes of the replies recorded without waiting, once Redis answers.
    recorder: Arc<Recorder>,
    options: Arc<RedisOptions>,
    /// The value of a claim: `R` and this store's name.
    running: Arc<[u8]>,
    waiters: Arc<Waiters>,
    /// Until when (milliseconds since `origin`) requests fail without asking Redis.
    paused_until: Arc<AtomicU64>,
    /// Whether a probe is asking Redis, after a failure, whether it is back.
    probing: Arc<AtomicBool>,
    origin: Instant,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("options", &self.options)
            .field("owner", &String::from_utf8_lossy(&self.running[1..]))
            .finish_non_exhaustive()
    }
}

/// The waiters of this instance, by Redis key: woken when the key's reply is published.
#[derive(Debug, Default)]
struct Waiters(Mutex<ByKey>);

/// For each Redis key waited on here: the signal, and how many wait on it.
type ByKey = HashMap<Box<[u8]>, (Arc<Notify>, usize)>;

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, ByKey> {
        // Every change is one insert, remove or count: a poisoned lock is still consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(self: &Arc<Self>, key: &[u8]) -> Registration {
        let mut waiters = self.lock();
        let entry = waiters.entry(key.into()).or_insert_with(|| (Arc::default(), 0));
        entry.1 += 1;
        Registration { waiters: self.clone(), key: key.into(), notify: entry.0.clone() }
    }

    fn wake(&self, key: &[u8]) {
        if let Some((notify, _)) = self.lock().get(key) {
            notify.notify_waiters();
        }
    }

    fn wake_all(&self) {
        for (notify, _) in self.lock().values() {
            notify.notify_waiters();
        }
    }

    fn receive(&self, push: PushInfo) {
        match push.kind {
            // [channel, message]: the message is the key whose reply was made.
            PushKind::Message => {
                if let Some(Value::BulkString(key)) = push.data.get(1) {
                    self.wake(key);
                }
            }
            // Messages may have been lost: everyone looks again.
            PushKind::Disconnection => self.wake_all(),
            _ => {}
        }
    }
}

/// A waiter's place in [`Waiters`], given up when dropped.
struct Registration {
    waiters: Arc<Waiters>,
    key: Box<[u8]>,
    notify: Arc<Notify>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiters = self.waiters.lock();
        if let Some(entry) = waiters.get_mut(&self.key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                waiters.remove(&self.key);
            }
        }
    }
}

/// What becomes of the answers to the replies the guard records without waiting
/// ([`ReplyStore::record`]): a reply that a waiter flagged is published, and a failure logged and
/// counted (`passive_reply_store_errors_total`). (Such a failure doesn't pause the store: the
/// next claim finds out whether Redis is there.)
struct Recorder {
    connection: ConnectionManager,
    /// `{prefix}done`, where replies someone waits for are published.
    channel: Arc<[u8]>,
    options: Arc<RedisOptions>,
}

impl Recorder {
    /// The `PUBLISH` of `key`'s reply, which wakes its waiters on every instance.
    fn publish(&self, key: &DedupKey) -> ::redis::Cmd {
        let mut publish = ::redis::cmd("PUBLISH");
        publish.arg(&*self.channel).arg(Joined([self.options.prefix.as_bytes(), key.as_bytes()]));
        publish
    }
}

/// The script that flags a claim as waited for (`R{owner}` becomes `R{owner}W`), and changes
/// nothing else: not a reply, not a claim already flagged. (`R` is byte 82, `W` 87; an owner's
/// name ends in a hex digit.)
const FLAG_WAITER: &str = "local v = redis.call('GET', KEYS[1]) \
    if v and string.byte(v, 1) == 82 and string.byte(v, -1) ~= 87 then redis.call('APPEND', KEYS[1], 'W') end \
    return 0";

/// Whether what a reply replaced is a claim a waiter flagged.
fn flagged(replaced: Option<&[u8]>) -> bool {
    replaced.is_some_and(|value| value.first() == Some(&b'R') && value.last() == Some(&b'W'))
}

/// The replies of every `RedisStore` in the process recorded without waiting and not yet
/// answered by Redis: what a shutdown waits for ([`RedisStore::settle`]).
static RECORDING: Recordings = Recordings { count: AtomicUsize::new(0), idle: Notify::const_new() };

struct Recordings {
    count: AtomicUsize,
    /// Told when the count falls to 0.
    idle: Notify,
}

/// A reply recorded without waiting, counted in [`RECORDING`] until Redis answers for it (or its
/// connection fails). Dropped unanswered (its connection given up on), it is logged as not
/// recorded.
struct Recording {
    /// `None` once answered.
    key: Option<DedupKey>,
    recorder: Arc<Recorder>,
}

impl Recording {
    fn new(key: DedupKey, recorder: Arc<Recorder>) -> Recording {
        RECORDING.count.fetch_add(1, Ordering::AcqRel);
        Recording { key: Some(key), recorder }
    }

    /// Redis's answer for it: what its `SET` replaced (the claim, flagged or not), or the error.
    fn answered(mut self, answer: Result<Option<&[u8]>, StoreError>) {
        let Some(key) = self.key.take() else { return };
        match answer {
            Ok(replaced) if !flagged(replaced) => {}
            Ok(_) => {
                let publish = self.recorder.publish(&key);
                let mut connection = self.recorder.connection.clone();
                let timeout = self.recorder.options.timeout;
                // Counted until it is published (the recording goes with it).
                tokio::spawn(async move {
                    let published = tokio::time::timeout(timeout, publish.query_async::<u64>(&mut connection)).await;
                    if !matches!(published, Ok(Ok(_))) {
                        super::observe::store_error();
                        tracing::warn!(
                            "passive-reply: the reply to {key:?} was recorded, but its waiters not told at once (they look again)"
                        );
                    }
                    drop(self);
                });
            }
            Err(error) => not_recorded(&key, &error),
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            not_recorded(&key, &"the connection to Redis failed before its answer came");
        }
        if RECORDING.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            RECORDING.idle.notify_waiters();
        }
    }
}

/// What a key holds.
enum Held {
    Nothing,
    Running,
    Done(Bytes),
}

impl Held {
    fn read(value: Option<Bytes>) -> Result<Held, StoreError> {
        let Some(value) = value else { return Ok(Held::Nothing) };
        match value.first() {
            Some(b'R') => Ok(Held::Running),
            // The reply is the value after its tag, shared, not copied.
            Some(b'D') => Ok(Held::Done(value.slice(1..))),
            _ => Err(StoreError::new(StoreErrorKind::Corrupt, "a key under the prefix holds neither R… nor D…")),
        }
    }
}

fn store_error(error: RedisError) -> StoreError {
    let kind = if error.is_timeout() { StoreErrorKind::Timeout } else { StoreErrorKind::Unavailable };
    StoreError::new(kind, error.to_string())
}

/// Whole milliseconds, saturating.
fn whole_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// An expiry for Redis: whole milliseconds, at least one (`PX 0` is an error).
fn millis(duration: Duration) -> u64 {
    whole_millis(duration).max(1)
}

/// Byte strings written as one argument of a command, one after the other (a key under the
/// prefix, a tagged reply), without a copy of their own first.
struct Joined<'a, const N: usize>([&'a [u8]; N]);

impl<const N: usize> Joined<'_, N> {
    /// The bytes, in one `Vec`.
    fn to_vec(&self) -> Vec<u8> {
        self.0.concat()
    }
}

impl<const N: usize> ToRedisArgs for Joined<'_, N> {
    fn write_redis_args<W: ?Sized + ::redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        for piece in self.0 {
            // The command's buffer is a `Vec`: writing to it doesn't fail.
            let _ = arg.write_all(piece);
        }
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://host:port/db`) with the default options.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn connect(url: &str) -> Result<RedisStore, RedisError> {
        RedisStore::new(Client::open(url)?, RedisOptions::default()).await
    }

    /// A store on `client`'s Redis, with `options`. Connects (and subscribes, for
    /// [`Wake::PubSub`]) and checks that the server has what the claim needs (Redis 7 or later)
    /// before it returns, so a wrong address or an old server is an error here, not on the first
    /// delivery.
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled (`tokio::time` panics
    /// there), as every future of this crate that keeps a deadline.
    pub async fn new(client: Client, options: RedisOptions) -> Result<RedisStore, RedisError> {
        let waiters = Arc::new(Waiters::default());
        // The deliveries' own connection speaks RESP2 (it needs no push messages).
        let info = client.get_connection_info().clone();
        let mut config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            // Re-made in the background when lost: a few quick tries, then again at the next
            // request, so a request never waits on a long backoff.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(options.timeout);
        let client = match options.wake {
            Wake::PubSub { .. } => {
                let receiver = waiters.clone();
                config = config
                    .set_push_sender(move |push: PushInfo| {
                        receiver.receive(push);
                        Ok::<(), std::convert::Infallible>(())
                    })
                    .set_automatic_resubscription();
                // Push messages need RESP3.
                let info = client.get_connection_info().clone();
                let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
                Client::open(info.set_redis_settings(resp3).into_connection_info()?)?
            }
            Wake::Poll(_) => client,
        };
        let mut connection = client.get_connection_manager_with_config(config).await?;
        let channel: Arc<[u8]> = format!("{}done", options.prefix).into_bytes().into();
        if let Wake::PubSub { .. } = options.wake {
            connection.subscribe(&*channel).await?;
        }
        // The claim is one `SET … NX GET`, which Redis 7 and later have: tried now, so an older
        // server is an error here rather than a failed claim on every delivery.
        let mut probe = ::redis::cmd("SET");
        probe.arg(format!("{}probe", options.prefix)).arg("R").arg(&["NX", "GET", "PX", "1"]);
        if let Err(error) = probe.query_async::<Option<Vec<u8>>>(&mut connection).await {
            return Err(RedisError::from((
                ::redis::ErrorKind::Client,
                "the retry guard needs Redis 7 or later (SET with NX and GET together)",
                error.to_string(),
            )));
        }
        let owner = format!("R{}-{:x}", std::process::id(), Arc::as_ptr(&waiters) as usize);
        let running: Arc<[u8]> = owner.into_bytes().into();
        let options = Arc::new(options);
        let deliveries = pipe::Connection::open(&info, options.timeout).await?;
        let recorder = Arc::new(Recorder { connection: connection.clone(), channel, options: options.clone() });
        Ok(RedisStore {
            pipe: Pipe::start(deliveries, info, options.clone(), running.clone()),
            recorder,
            connection,
            options,
            running,
            waiters,
            paused_until: Arc::default(),
            probing: Arc::default(),
            origin: Instant::now(),
        })
    }

    /// The options it was made with.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// The Redis key of a delivery: the prefix, then the delivery's key.
    fn redis_key<'a>(&'a self, key: &'a DedupKey) -> Joined<'a, 3> {
        self.prefixed(b"", key)
    }

    /// A key of the store: the prefix, `tag`, the delivery's key; written into the command that
    /// takes it as an argument, without a copy of its own.
    fn prefixed<'a>(&'a self, tag: &'a [u8], key: &'a DedupKey) -> Joined<'a, 3> {
        Joined([self.options.prefix.as_bytes(), tag, key.as_bytes()])
    }

    /// Runs one request of redis-rs with the store's timeout, unless a recent failure paused the
    /// store.
    async fn request<T: FromRedisValue>(
        &self,
        request: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        let timeout = self.options.timeout;
        self.unless_paused(async {
            match tokio::time::timeout(timeout, request).await {
                Ok(result) => result.map_err(store_error),
                Err(_) => {
                    Err(StoreError::new(StoreErrorKind::Timeout, format!("no answer from Redis within {timeout:?}")))
                }
            }
        })
        .await
    }

    /// Sends a command of the delivery path on its own connection, unless a recent failure
    /// paused the store. (Its answer comes within the store's timeout: the connection's tasks
    /// keep the deadline, without a timer of each command's own.)
    async fn delivery(&self, command: Command) -> Result<Option<Bytes>, StoreError> {
        self.unless_paused(self.pipe.send(command)).await
    }

    /// Runs `request` unless a recent failure paused the store; after a failure, pauses it.
    async fn unless_paused<T>(&self, request: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.not_paused()?;
        let result = request.await;
        if result.is_err() {
            let until =
                whole_millis(self.origin.elapsed()).saturating_add(whole_millis(self.options.pause_after_failure));
            self.paused_until.store(until, Ordering::Relaxed);
            self.probe();
        }
        result
    }

    /// An error while a recent failure pauses the store.
    fn not_paused(&self) -> Result<(), StoreError> {
        let paused_until = self.paused_until.load(Ordering::Relaxed);
        // Read the clock only while a pause may be on: 0 until the first failure, and again once
        // the probe finds Redis back.
        if paused_until != 0 && whole_millis(self.origin.elapsed()) < paused_until {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!(
                    "Redis failed less than {:?} ago; not asked again until then",
                    self.options.pause_after_failure
                ),
            ));
        }
        Ok(())
    }

    /// The reply as the store keeps it: the empty reply for one longer than it keeps.
    fn kept(&self, key: &DedupKey, reply: Bytes) -> Bytes {
        if reply.len() <= self.options.max_reply_len {
            return reply;
        }
        tracing::warn!(
            "passive-reply: the reply to {key:?} is {} bytes, more than the store keeps ({}): its retries get the empty reply",
            reply.len(),
            self.options.max_reply_len
        );
        Bytes::new()
    }

    /// Waits until Redis has answered for every reply that the process's `RedisStore`s were
    /// given to record without waiting (the guard's, whose responses went out meanwhile), at most
    /// `deadline`; gives how many it has not answered for then. The crate's server waits for
    /// them when it stops (`server::Server::serve_until_signal`); an application served
    /// otherwise calls this at its shutdown, after its last response. Each has the store's
    /// timeout at most: by then it is answered or given up (and logged).
    ///
    /// # Panics
    /// When polled outside a tokio runtime with its time driver enabled.
    pub async fn settle(deadline: Duration) -> usize {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let idle = RECORDING.idle.notified();
            let left = RECORDING.count.load(Ordering::Acquire);
            if left == 0 || tokio::time::timeout_at(until, idle).await.is_err() {
                return RECORDING.count.load(Ordering::Acquire);
            }
        }
    }

    /// After a failure, asks Redis every [`PROBE_INTERVAL`] whether it is back (a `PING`, which
    /// also makes the connection manager connect again), and ends the pause as soon as it is:
    /// the guard works again within a probe of Redis accepting connections, however long it was
    /// down, instead of waiting for deliveries to try it. One probe at a time per store and its
    /// clones; it ends once Redis answers, or once every clone of the store is dropped.
    fn probe(&self) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.probing.store(false, Ordering::Release);
            return;
        };
        let mut connection = self.connection.clone();
        let (paused_until, probing) = (Arc::downgrade(&self.paused_until), self.probing.clone());
        let timeout = self.options.timeout;
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                let Some(paused_until) = paused_until.upgrade() else { break };
                let ping = ::redis::cmd("PING");
                if let Ok(Ok(_)) = tokio::time::timeout(timeout, ping.query_async::<Value>(&mut connection)).await {
                    paused_until.store(0, Ordering::Relaxed);
                    break;
                }
            }
            probing.store(false, Ordering::Release);
        });
    }

    /// Claims `key` unless it is there, and says what was there: one atomic step.
    async fn claim_key(&self, key: &DedupKey) -> Result<Held, StoreError> {
        Held::read(self.delivery(Command::Claim(key.clone())).await?)
    }

    async fn get(&self, key: &DedupKey) -> Result<Held, StoreError> {
        Held::read(self.delivery(Command::Get(key.clone())).await?)
    }

    fn backstop(&self) -> Duration {
        match self.options.wake {
            Wake::PubSub { backstop } => backstop,
            Wake::Poll(every) => every,
        }
    }
}

fn claimed(held: Result<Held, StoreError>) -> Claim {
    match held {
        Ok(Held::Nothing) => Claim::Run,
        Ok(Held::Running) => Claim::Running,
        Ok(Held::Done(bytes)) => Claim::Done(bytes),
        Err(error) => Claim::Failed(error),
    }
}

impl ReplyStore for RedisStore {
    async fn claim(&self, key: &DedupKey) -> Claim {
        claimed(self.claim_key(key).await)
    }

    async fn complete(&self, key: &DedupKey, reply: Bytes) -> Result<(), StoreError> {
        let reply = self.kept(key, reply);
        // The reply, and whether anyone waits for it (a waiter flags the claim first): only then
        // is it published, so instances don't each hear of every delivery.
        let replaced = self.delivery(Command::Complete(key.clone(), reply)).await?;
        if flagged(replaced.as_deref()) {
            let publish = self.recorder.publish(key);
            let mut connection = self.connection.clone();
            // Boxed: only a delivery someone waits for publishes, and its request (a redis-rs
            // command with its timeout) would otherwise make every delivery's future 370 bytes
            // longer.
            let _: u64 = Box::pin(self.request(publish.query_async(&mut connection))).await?;
        }
        Ok(())
    }

    /// Queues the reply's `SET` with the other deliveries' commands, and returns: Redis's answer goes to the store, which publishes the reply if a
    /// waiter flagged it, and logs a failure. A command this store sends after it reaches Redis
    /// after it.
    async fn record(&self, key: &DedupKey, reply: Bytes) -> Result<(), StoreError> {
        self.not_paused()?;
        let reply = self.kept(key, reply);
        self.pipe.record(Command::Complete(key.clone(), reply), Recording::new(key.clone(), self.recorder.clone()))
    }

    async fn wait(&self, key: &DedupKey) -> Claim {
        let redis_key = self.redis_key(key).to_vec();
        let registration = self.waiters.register(&redis_key);
        // Flagged before the first look: a reply made after the flag is published, one made
        // before it is seen by the look. (Polling waiters don't need it.)
        if let Wake::PubSub { .. } = self.options.wake {
            let mut flag = ::redis::cmd("EVAL");
            flag.arg(FLAG_WAITER).arg(1).arg(&redis_key);
            let mut connection = self.connection.clone();
            if let Err(error) = self.request(flag.query_async::<()>(&mut connection)).await {
                return Claim::Failed(error);
            }
        }
        loop {
            // Made before looking, so a message that comes between the look and the wait still
            // wakes it.
            let notified = registration.notify.notified();
            match self.get(key).await {
                Ok(Held::Done(bytes)) => return Claim::Done(bytes),
                Ok(Held::Running) => {}
                // The owner's lease expired without a reply: this try takes the delivery over
                // (unless another took it first).
                Ok(Held::Nothing) => match claimed(self.claim_key(key).await) {
                    Claim::Running => {}
                    claim => return claim,
                },
                Err(error) => return Claim::Failed(error),
            }
            let _ = tokio::time::timeout(self.backstop(), notified).await;
        }
    }

    /// Redis answers a `PING` within the store's timeout (and the store isn't pausing after a
    /// failure).
    async fn ready(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        self.request(::redis::cmd("PING").query_async::<Value>(&mut connection)).await.map(drop)
    }
}

/// The script that deletes `KEYS[1]` only while it holds `ARGV[1]`: compare and expire.
#[cfg(feature = "client")]
const DELETE_IF_EQUAL: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// The account's access token, kept for every instance that shares the Redis (features `redis`
/// and `client`): `{prefix}a:token:{app_id}`, expiring with the token, and the right to fetch a
/// new one, `{prefix}a:lock:{app_id}`, held by one instance at a time. (No delivery's key starts
/// with `a:`.)
///
/// ```no_run
/// use reply_client::Client;
/// use reply_serve::serve::RedisStore;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let client = Client::builder("wx0123456789abcdef", "the-app-secret").token_store(store.clone()).build()?;
/// # Ok(()) }
/// ```
#[cfg(feature = "client")]
impl reply_client::TokenStore for RedisStore {
    fn get<'a>(&'a self, app_id: &'a str) -> TokenFuture<'a, Option<reply_client::StoredToken>> {
        Box::pin(async move {
            let key = self.token_key("token", app_id);
            let mut pipe = ::redis::pipe();
            pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
            let mut connection = self.connection.clone();
            let (token, ttl): (Option<String>, i64) = self.request(pipe.query_async(&mut connection)).await?;
            Ok(match (token, u64::try_from(ttl)) {
                (Some(token), Ok(ttl)) if ttl > 0 && !token.is_empty() => {
                    Some(reply_client::StoredToken { token: token.into(), expires_in: Duration::from_millis(ttl) })
                }
                _ => None,
            })
        })
    }

    fn put<'a>(&'a self, app_id: &'a str, token: &'a str, expires_in: Duration) -> TokenFuture<'a, ()> {
        Box::pin(async move {
            let mut set = ::redis::cmd("SET");
            set.arg(self.token_key("token", app_id)).arg(token).arg("PX").arg(millis(expires_in));
            let mut connection = self.connection.clone();
            Ok(self.request(set.query_async::<()>(&mut connection)).await?)
        })
    }

    fn expire<'a>(&'a self, app_id: &'a str, token: &'a str) -> TokenFuture<'a, ()> {
        Box::pin(async move { Ok(self.delete_if_equal(self.token_key("token", app_id), token.as_bytes()).await?) })
    }

    fn lock<'a>(&'a self, app_id: &'a str, lease: Duration) -> TokenFuture<'a, bool> {
        Box::pin(async move {
            let mut set = ::redis::cmd("SET");
            set.arg(self.token_key("lock", app_id)).arg(&*self.running).arg("NX").arg("PX").arg(millis(lease));
            let mut connection = self.connection.clone();
            let taken: Option<String> = self.request(set.query_async(&mut connection)).await?;
            Ok(taken.is_some())
        })
    }

    fn unlock<'a>(&'a self, app_id: &'a str) -> TokenFuture<'a, ()> {
        Box::pin(async move { Ok(self.delete_if_equal(self.token_key("lock", app_id), &self.running).await?) })
    }
}

/// What [`reply_client::TokenStore`]'s methods return: a boxed future of the value, or the store's
/// error ([`StoreError`], boxed).
#[cfg(feature = "client")]
type TokenFuture<'a, T> = reply_client::BoxFuture<'a, Result<T, reply_client::TokenStoreError>>;

#[cfg(feature = "client")]
impl RedisStore {
    fn token_key(&self, what: &str, app_id: &str) -> String {
        format!("{}a:{what}:{app_id}", self.options.prefix)
    }

    /// Deletes `key` if it still holds `value` (another instance may have replaced it).
    async fn delete_if_equal(&self, key: String, value: &[u8]) -> Result<(), StoreError> {
        let mut eval = ::redis::cmd("EVAL");
        eval.arg(DELETE_IF_EQUAL).arg(1).arg(key).arg(value);
        let mut connection = self.connection.clone();
        let _: i64 = self.request(eval.query_async(&mut connection)).await?;
        Ok(())
    }
}

/// Takes over a late reply's record whose lease lapsed: the delivery, or nothing (no record any
/// more, its lease held, or its reply sent). KEYS: the record, its lease, the set of records, its
/// sent mark; ARGV: this store's name, the lease in ms, the record's member in the set.
#[cfg(feature = "client")]
const TAKE_OVER: &str = "local d = redis.call('GET', KEYS[1]) \
    if not d then redis.call('SREM', KEYS[3], ARGV[3]) return false end \
    if redis.call('EXISTS', KEYS[4]) == 1 then return false end \
    if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return d end \
    return false";

/// Renews a lease if it is still this store's. KEYS: the lease; ARGV: the name, the lease in ms.
#[cfg(any(feature = "client", feature = "session"))]
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Late replies' records (feature `client`): `{prefix}L:{key}` the delivery, `{prefix}LL:{key}`
/// the lease (this store's name), `{prefix}LS:{key}` the right to send once taken, and the set
/// `{prefix}L` of recorded keys, for the instances that look for records to take over.
#[cfg(feature = "client")]
impl RedisStore {
    fn late_set(&self) -> Vec<u8> {
        [self.options.prefix.as_bytes(), b"L"].concat()
    }
}

#[cfg(feature = "client")]
impl super::LateStore for RedisStore {
    fn record<'a>(
        &'a self,
        key: &'a DedupKey,
        delivery: &'a str,
        lease: Duration,
        life: Duration,
    ) -> super::BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut pipe = ::redis::pipe();
            pipe.atomic()
                .cmd("SET")
                .arg(self.prefixed(b"L:", key))
                .arg(delivery)
                .arg("PX")
                .arg(millis(life))
                .ignore()
                .cmd("SET")
                .arg(self.prefixed(b"LL:", key))
                .arg(&*self.running)
                .arg("PX")
                .arg(millis(lease))
                .ignore()
                .cmd("SADD")
                .arg(self.late_set())
                .arg(key.as_bytes())
                .ignore();
            let mut connection = self.connection.clone();
            self.request(pipe.query_async::<()>(&mut connection)).await
        })
    }

    fn renew<'a>(&'a self, key: &'a DedupKey, lease: Duration) -> super::BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut eval = ::redis::cmd("EVAL");
            eval.arg(RENEW).arg(1).arg(self.prefixed(b"LL:", key)).arg(&*self.running).arg(millis(lease));
            let mut connection = self.connection.clone();
            let renewed: i64 = self.request(eval.query_async(&mut connection)).await?;
            Ok(renewed == 1)
        })
    }

    fn take_send<'a>(&'a self, key: &'a DedupKey, life: Duration) -> super::BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut set = ::redis::cmd("SET");
            set.arg(self.prefixed(b"LS:", key)).arg(&*self.running).arg("NX").arg("PX").arg(millis(life));
            let mut connection = self.connection.clone();
            let taken: Option<String> = self.request(set.query_async(&mut connection)).await?;
            Ok(taken.is_some())
        })
    }

    fn settle<'a>(&'a self, key: &'a DedupKey) -> super::BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut pipe = ::redis::pipe();
            pipe.atomic()
                .cmd("DEL")
                .arg(self.prefixed(b"L:", key))
                .arg(self.prefixed(b"LL:", key))
                .ignore()
                .cmd("SREM")
                .arg(self.late_set())
                .arg(key.as_bytes())
                .ignore();
            let mut connection = self.connection.clone();
            self.request(pipe.query_async::<()>(&mut connection)).await
        })
    }

    fn take_over(
        &self,
        lease: Duration,
        max: usize,
    ) -> super::BoxFuture<'_, Result<Vec<(DedupKey, String)>, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let mut members = ::redis::cmd("SRANDMEMBER");
            members.arg(self.late_set()).arg(max);
            let members: Vec<Vec<u8>> = self.request(members.query_async(&mut connection)).await?;
            let mut taken = Vec::new();
            for member in members {
                let key = DedupKey::from_bytes(&member);
                let mut eval = ::redis::cmd("EVAL");
                eval.arg(TAKE_OVER)
                    .arg(4)
                    .arg(self.prefixed(b"L:", &key))
                    .arg(self.prefixed(b"LL:", &key))
                    .arg(self.late_set())
                    .arg(self.prefixed(b"LS:", &key))
                    .arg(&*self.running)
                    .arg(millis(lease))
                    .arg(&member);
                let delivery: Option<String> = self.request(eval.query_async(&mut connection)).await?;
                if let Some(delivery) = delivery {
                    taken.push((key, delivery));
                }
            }
            Ok(taken)
        })
    }
}

/// Takes a session's lock unless another holds it, and reads the state. KEYS: the lock, the
/// state; ARGV: the token, the lease in ms. `{1, state or nil}`, or `{0, the lock's ms left}`.
#[cfg(feature = "session")]
const SESSION_BEGIN: &str = "local held = redis.call('GET', KEYS[1]) \
    if held and held ~= ARGV[1] then return {0, redis.call('PTTL', KEYS[1])} end \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
    return {1, redis.call('GET', KEYS[2])}";

/// Ends a session's handling: if the lock is the token's, changes the state and frees the lock.
/// KEYS: the lock, the state; ARGV: the token, `keep`, `save` or `remove`, the expiry in ms, the
/// state to save. 1, or 0 when the token no longer holds the lock.
#[cfg(feature = "session")]
const SESSION_END: &str = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end \
    if ARGV[2] == 'save' then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3]) \
    elseif ARGV[2] == 'remove' then redis.call('DEL', KEYS[2]) \
    else redis.call('PEXPIRE', KEYS[2], ARGV[3]) end \
    redis.call('DEL', KEYS[1]) \
    return 1";

/// Sessions (feature `session`): `{prefix}S:{key}` the state (JSON), `{prefix}SL:{key}` the lock
/// (its token), so that every instance on the Redis serves a user's conversation as one.
#[cfg(feature = "session")]
impl crate::session::SessionStore for RedisStore {
    fn begin<'a>(
        &'a self,
        key: &'a crate::session::SessionKey,
        token: u64,
        lease: Duration,
    ) -> super::BoxFuture<'a, Result<crate::session::Begin, StoreError>> {
        Box::pin(async move {
            let mut eval = ::redis::cmd("EVAL");
            eval.arg(SESSION_BEGIN)
                .arg(2)
                .arg(self.session_key(b"SL:", key))
                .arg(self.session_key(b"S:", key))
                .arg(token)
                .arg(millis(lease));
            let mut connection = self.connection.clone();
            let value: Value = self.request(eval.query_async(&mut connection)).await?;
            let corrupt = || StoreError::new(StoreErrorKind::Corrupt, format!("a session's lock answered {value:?}"));
            let Value::Array(items) = &value else { return Err(corrupt()) };
            match items.as_slice() {
                [Value::Int(1), Value::BulkString(state)] => Ok(crate::session::Begin::Locked(Some(state.clone()))),
                [Value::Int(1), Value::Nil] | [Value::Int(1)] => Ok(crate::session::Begin::Locked(None)),
                // PTTL: -1 (no expiry, which this store never leaves) and -2 (gone since) are
                // "try again now".
                [Value::Int(0), Value::Int(left)] => {
                    Ok(crate::session::Begin::Busy(Duration::from_millis(u64::try_from(*left).unwrap_or(0))))
                }
                _ => Err(corrupt()),
            }
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a crate::session::SessionKey,
        token: u64,
        lease: Duration,
    ) -> super::BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut eval = ::redis::cmd("EVAL");
            eval.arg(RENEW).arg(1).arg(self.session_key(b"SL:", key)).arg(token).arg(millis(lease));
            let mut connection = self.connection.clone();
            let renewed: i64 = self.request(eval.query_async(&mut connection)).await?;
            Ok(renewed == 1)
        })
    }

    fn end<'a>(
        &'a self,
        key: &'a crate::session::SessionKey,
        token: u64,
        change: crate::session::Change,
        expiry: Duration,
    ) -> super::BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let (what, state) = match &change {
                crate::session::Change::Keep => ("keep", &[][..]),
                crate::session::Change::Save(state) => ("save", &state[..]),
                crate::session::Change::Remove => ("remove", &[][..]),
            };
            let mut eval = ::redis::cmd("EVAL");
            eval.arg(SESSION_END)
                .arg(2)
                .arg(self.session_key(b"SL:", key))
                .arg(self.session_key(b"S:", key))
                .arg(token)
                .arg(what)
                .arg(millis(expiry))
                .arg(state);
            let mut connection = self.connection.clone();
            let ended: i64 = self.request(eval.query_async(&mut connection)).await?;
            Ok(ended == 1)
        })
    }
}

#[cfg(feature = "session")]
impl RedisStore {
    fn session_key(&self, tag: &[u8], key: &crate::session::SessionKey) -> Vec<u8> {
        [self.options.prefix.as_bytes(), tag, key.as_str().as_bytes()].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::flagged;

    /// Only a claim a waiter flagged is published for: not a reply that ends in `W`, not a claim
    /// unflagged, not nothing.
    #[test]
    fn what_a_reply_replaced_says_of_its_waiters() {
        assert!(flagged(Some(b"R123-abcW")));
        assert!(!flagged(Some(b"R123-abc")));
        assert!(!flagged(Some(b"D<xml>W")));
        assert!(!flagged(Some(b"W")));
        assert!(!flagged(Some(b"")));
        assert!(!flagged(None));
    }
}
