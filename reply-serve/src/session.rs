//! Conversations: state kept per account and user between messages (feature `session`).
//!
//! A handler that asks for a [`Session<T>`] gets the state its user left at their last message
//! (or `None`), changes it as it likes, and the router saves it when the handler returns, before
//! the reply goes out: the user's next message sees it. The state is any `T` that serde can
//! write and read back (kept as JSON), per account (the message's ToUserName) and user
//! (FromUserName).
//!
//! ```
//! use std::time::Duration;
//! use reply_serve::router::{Msg, Router, kind};
//! use reply_serve::session::{MemorySessions, Session, Sessions};
//! use reply_core::Text;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Counter { count: u32 }
//!
//! async fn count(mut session: Session<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
//!     let counter = session.get_or_insert(Counter { count: 0 });
//!     counter.count += 1;
//!     msg.reply_text(counter.count.to_string()).into_owned()
//! }
//!
//! async fn reset(mut session: Session<Counter>, msg: Msg<kind::Text>) -> Text<'static> {
//!     *session = None; // removed from the store
//!     msg.reply_text("start again").into_owned()
//! }
//!
//! let router = Router::new()
//!     .text("count", count)
//!     .text("reset", reset)
//!     .sessions(Sessions::new(MemorySessions::new()).expiry(Duration::from_secs(30 * 60)));
//! # let _ = router.into_handler();
//! ```
//!
//! - **Opt-in per route.** Only the handlers that take a `Session` reach the store; the other
//!   routes of the router cost it nothing.
//! - **Saved only when changed.** A session the handler only read, or wrote back as it was (the
//!   same JSON), is not written; one set to `None` is removed.
//! - **Expiry.** A session is forgotten once no message on a route that takes it came for
//!   [`expiry`](Sessions::expiry) (default [`DEFAULT_EXPIRY`], 30 minutes): each such message
//!   starts the time again.
//! - **One message of a user at a time.** The rule for two messages from one user at once: the
//!   handlers with a session run one after the other, never together. The first takes the user's
//!   lock in the store (with Redis, shared by every instance); the other waits for it (up to
//!   [`wait`](Sessions::wait), default 10 s) and then sees what the first saved. So "count" sent
//!   twice at once answers 1 and 2, never 1 and 1. The lock is a lease ([`lease`](Sessions::lease),
//!   default 10 s) renewed while the handler runs, so a process that dies holding it holds it for
//!   one lease at most (a handler that panics, or is given up, frees it at once); and a handler
//!   that lost its lease (the store unreachable through a whole lease) does not save over what
//!   another wrote meanwhile.
//! - **What goes wrong:** a store that fails (or a user whose lock isn't free within `wait`) is
//!   logged and counted ([`SESSIONS`](crate::serve::observe::SESSIONS)), and the message answered
//!   with the empty reply without running the handler: a handler never runs on state that isn't
//!   the user's. State that no longer reads as `T` (a type changed between deploys) is logged and
//!   read as `None`. A state longer than [`max_len`](Sessions::max_len) (64 KiB) is not saved.
//!
//! A `Session` is saved when the handler returns: one moved out of it (into a spawned task) is
//! not. Stores: [`MemorySessions`] in the process, `RedisStore` (feature `redis`) for several
//! instances, or any [`SessionStore`].

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::serve::observe;
use crate::serve::{BoxFuture, StoreError, StoreErrorKind, renewing};
use reply_core::Incoming;

/// How long a session lasts without a message that uses it, by default: 30 minutes.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(30 * 60);

/// How long a user's lock holds without being renewed, by default: 10 s. It is renewed every third
/// of it while the handler runs.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// How long a message waits for its user's lock, by default: 10 s.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// The longest state saved, by default: 64 KiB of JSON.
pub const DEFAULT_MAX_LEN: usize = 64 << 10;

/// How much memory a [`MemorySessions`] may hold by default: 64 MiB.
pub const DEFAULT_SESSION_BUDGET: usize = 64 << 20;

/// Whose session: an account (the message's ToUserName) and a user (its FromUserName).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(Arc<str>);

impl SessionKey {
    /// The session of `user` with `account`.
    pub fn new(account: &str, user: &str) -> SessionKey {
        // The account's length first, so that no two pairs make one key, whatever they hold.
        SessionKey(format!("{}:{account}:{user}", account.len()).into())
    }

    /// The session of the message's sender with its account.
    pub fn of(msg: &Incoming<'_>) -> SessionKey {
        SessionKey::new(msg.to_user_name(), msg.from_user_name())
    }

    /// The key as the stores write it: `{account's length}:{account}:{user}`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionKey").field(&&*self.0).finish()
    }
}

/// What [`SessionStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The lock is the caller's now; the saved state, if any (unexpired).
    Locked(Option<Vec<u8>>),
    /// Another message of the user holds the lock, for this long at most.
    Busy(Duration),
}

/// What [`SessionStore::end`] does with the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Leaves it as it is (its expiry starts again).
    Keep,
    /// Saves this.
    Save(Vec<u8>),
    /// Removes it.
    Remove,
}

/// Where sessions are kept: [`MemorySessions`], `RedisStore` (feature `redis`), or the
/// application's own. Every operation on a session names the caller's lock, `token`, which
/// [`begin`](SessionStore::begin) took.
pub trait SessionStore: Send + Sync + 'static {
    /// Takes `key`'s lock for `lease` unless another token holds it, and reads the state: one
    /// atomic step.
    fn begin<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Begin, StoreError>>;

    /// Holds the lock `lease` longer, if `token` still holds it: whether it did.
    fn renew<'a>(&'a self, key: &'a SessionKey, token: u64, lease: Duration)
    -> BoxFuture<'a, Result<bool, StoreError>>;

    /// If `token` still holds the lock: makes `change`, gives the state `expiry` to live from
    /// now, and frees the lock, in one atomic step. Whether `token` held it (`false`: nothing was
    /// changed; its lease lapsed, and another message may have taken the lock since).
    fn end<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        change: Change,
        expiry: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

impl<T: SessionStore + ?Sized> SessionStore for Arc<T> {
    fn begin<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Begin, StoreError>> {
        (**self).begin(key, token, lease)
    }

    fn renew<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).renew(key, token, lease)
    }

    fn end<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        change: Change,
        expiry: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).end(key, token, change, expiry)
    }
}

/// The settings of a router's sessions: their store, expiry, lock and size. Given to
/// [`Router::sessions`](crate::router::Router::sessions).
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    expiry: Duration,
    lease: Duration,
    wait: Duration,
    max_len: usize,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("expiry", &self.expiry)
            .field("lease", &self.lease)
            .field("wait", &self.wait)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions kept in `store`, with the defaults: [`DEFAULT_EXPIRY`], [`DEFAULT_LEASE`],
    /// [`DEFAULT_WAIT`], [`DEFAULT_MAX_LEN`].
    pub fn new(store: impl SessionStore) -> Sessions {
        Sessions {
            store: Arc::new(store),
            expiry: DEFAULT_EXPIRY,
            lease: DEFAULT_LEASE,
            wait: DEFAULT_WAIT,
            max_len: DEFAULT_MAX_LEN,
        }
    }

    /// How long a session lasts after the last message that used it.
    #[must_use]
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }

    /// How long a user's lock holds unless renewed (it is, every third of it, while the handler
    /// runs): how long a process that died holding it keeps the user's next messages waiting.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(3));
        self
    }

    /// How long a message waits for its user's lock before it is answered empty.
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The longest state saved, as JSON; a longer one is logged and not saved.
    #[must_use]
    pub fn max_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }
}

/// What a [`Session`] hands back when it is dropped.
enum Returned<T> {
    /// Not dropped yet.
    Out,
    /// Dropped without being written to.
    Untouched,
    /// Dropped after being written to (perhaps with the same value).
    Touched(Option<T>),
}

/// A user's state, as a handler's argument (before the message): `Option<T>` (it derefs to one),
/// `None` until a handler sets it. See [the module](self).
pub struct Session<T> {
    value: Option<T>,
    touched: bool,
    back: Arc<Mutex<Returned<T>>>,
}

impl<T> Deref for Session<T> {
    type Target = Option<T>;

    fn deref(&self) -> &Option<T> {
        &self.value
    }
}

impl<T> DerefMut for Session<T> {
    fn deref_mut(&mut self) -> &mut Option<T> {
        self.touched = true;
        &mut self.value
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Session").field(&self.value).finish()
    }
}

impl<T> Drop for Session<T> {
    fn drop(&mut self) {
        let returned = match self.touched {
            true => Returned::Touched(self.value.take()),
            false => Returned::Untouched,
        };
        *self.back.lock().unwrap_or_else(PoisonError::into_inner) = returned;
    }
}

/// Why a message with a session was answered empty without its handler.
fn failed(key: &SessionKey, why: std::fmt::Arguments<'_>, outcome: &'static str) {
    tracing::warn!("passive-reply: the session {key:?} {why}; the message is answered empty, its handler not run");
    observe::session(outcome);
}

/// A lock token that no other message (here or on another instance) takes: random, from the
/// standard library's per-process random keys, and a counter.
fn new_token() -> u64 {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

impl Sessions {
    /// Runs `handler` with the session of `msg`'s user: waits for the user's lock, reads the
    /// state, runs the handler (renewing the lock), saves what changed, frees the lock. `None`
    /// when the store failed or the lock wasn't had in time (the handler not run).
    pub(crate) async fn run<T, F, Fut, R>(&self, msg: Incoming<'static>, handler: F) -> Option<R>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(Session<T>, Incoming<'static>) -> Fut,
        Fut: std::future::Future<Output = R>,
    {
        let key = SessionKey::of(&msg);
        let token = new_token();
        let deadline = Instant::now() + self.wait;
        let mut pause = Duration::from_millis(5);
        let saved = loop {
            match self.store.begin(&key, token, self.lease).await {
                Ok(Begin::Locked(saved)) => break saved,
                Ok(Begin::Busy(held)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        failed(&key, format_args!("was still locked by another message after {:?}", self.wait), "busy");
                        return None;
                    }
                    // Soon after the holder's lease could end, and no later than the deadline.
                    let sleep = pause.min(held.max(Duration::from_millis(1))).min(deadline - now);
                    tokio::time::sleep(sleep).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(error) => {
                    observe::store_error();
                    failed(&key, format_args!("could not be read: {error}"), "failed");
                    return None;
                }
            }
        };
        let value = saved.as_deref().and_then(|bytes| match serde_json::from_slice(bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(
                    "passive-reply: the session {key:?} does not read as {} ({error}); the handler gets None",
                    std::any::type_name::<T>()
                );
                None
            }
        });
        // Frees the lock if this future is dropped before it does (a panicking handler, a late
        // reply given up): the user's next message needn't wait out the lease.
        let mut unlock =
            Unlock { store: self.store.clone(), key: key.clone(), token, expiry: self.expiry, armed: true };
        let back = Arc::new(Mutex::new(Returned::Out));
        let session = Session { value, touched: false, back: back.clone() };
        // Renewed while the handler runs, whatever the store says: a lock that lapsed only keeps
        // this handler's state from being saved (`end` refuses it).
        let (store, key_ref, lease) = (&*self.store, &key, self.lease);
        let renew = move || async move {
            let key = key_ref;
            match store.renew(key, token, lease).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("passive-reply: the lock of the session {key:?} lapsed"),
                Err(error) => {
                    observe::store_error();
                    tracing::warn!("passive-reply: the lock of the session {key:?} not renewed: {error}");
                }
            }
            true
        };
        let Some(reply) = renewing(handler(session, msg), self.lease / 3, renew).await else {
            unreachable!("the renewal never gives up")
        };
        let returned = std::mem::replace(&mut *back.lock().unwrap_or_else(PoisonError::into_inner), Returned::Out);
        let change = match returned {
            Returned::Out => {
                tracing::warn!("passive-reply: the session {key:?} outlived its handler and is not saved");
                Change::Keep
            }
            Returned::Untouched => Change::Keep,
            Returned::Touched(None) => match saved {
                Some(_) => Change::Remove,
                None => Change::Keep,
            },
            Returned::Touched(Some(value)) => match serde_json::to_vec(&value) {
                Ok(json) if saved.as_ref() == Some(&json) => Change::Keep,
                Ok(json) if json.len() > self.max_len => {
                    tracing::warn!(
                        "passive-reply: the session {key:?} is {} bytes, more than {}; not saved",
                        json.len(),
                        self.max_len
                    );
                    Change::Keep
                }
                Ok(json) => Change::Save(json),
                Err(error) => {
                    tracing::warn!(
                        "passive-reply: the session {key:?} could not be written as JSON ({error}); not saved"
                    );
                    Change::Keep
                }
            },
        };
        let outcome = match change {
            Change::Keep => "unchanged",
            Change::Save(_) => "saved",
            Change::Remove => "removed",
        };
        let ended = self.store.end(&key, token, change, self.expiry).await;
        unlock.armed = false;
        match ended {
            Ok(true) => observe::session(outcome),
            Ok(false) => {
                tracing::warn!(
                    "passive-reply: the lock of the session {key:?} lapsed; what its handler did is not saved"
                );
                observe::session("lapsed");
            }
            Err(error) => {
                observe::store_error();
                tracing::warn!("passive-reply: the session {key:?} not saved: {error}");
                observe::session("failed");
            }
        }
        Some(reply)
    }
}

/// A user's lock, freed (in a task: a drop can't wait) when the handling is dropped before it ends.
struct Unlock {
    store: Arc<dyn SessionStore>,
    key: SessionKey,
    token: u64,
    expiry: Duration,
    armed: bool,
}

impl Drop for Unlock {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (store, key, token, expiry) = (self.store.clone(), self.key.clone(), self.token, self.expiry);
        runtime.spawn(async move {
            if let Err(error) = store.end(&key, token, Change::Keep, expiry).await {
                tracing::warn!("passive-reply: the lock of the session {key:?} not freed: {error}");
            }
        });
    }
}

/// What one session costs a [`MemorySessions`] besides its key's and state's bytes: its map slot
/// (the key's handle and the entry, at the map's lowest load, 7/16, just after it grows), the
/// key's allocation header, the state's, rounded up.
const SESSION_COST: usize = (std::mem::size_of::<(SessionKey, Held)>() + 1) * 16 / 7 + 16 + 16;

/// What one place in the expiry queue costs: twice its size (a queue is at worst half full just
/// after it grows).
const QUEUE_COST: usize = 2 * std::mem::size_of::<(Instant, u64, SessionKey)>();

/// Sessions in the process, in a memory budget ([`DEFAULT_SESSION_BUDGET`]) that it never goes
/// over: a state that would is not saved (logged, [`StoreErrorKind::Full`]), and a user new to a
/// full store is answered empty. Expired sessions leave a few at a time as messages come.
#[derive(Clone)]
pub struct MemorySessions {
    inner: Arc<Mutex<Kept>>,
}

struct Kept {
    map: HashMap<SessionKey, Held>,
    /// Sessions by the time they may have expired, to look at then, with the place's number:
    /// a place whose session holds another number is stale.
    queue: VecDeque<(Instant, u64, SessionKey)>,
    /// The next place's number.
    places: u64,
    used: usize,
    budget: usize,
}

struct Held {
    state: Option<(Vec<u8>, Instant)>,
    lock: Option<(u64, Instant)>,
    /// The number of its place in the queue, if it has one.
    place: Option<u64>,
}

impl std::fmt::Debug for MemorySessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.lock();
        f.debug_struct("MemorySessions")
            .field("sessions", &kept.map.len())
            .field("used", &kept.used)
            .field("budget", &kept.budget)
            .finish()
    }
}

impl Default for MemorySessions {
    fn default() -> Self {
        MemorySessions::new()
    }
}

impl MemorySessions {
    /// Sessions in the process, within [`DEFAULT_SESSION_BUDGET`].
    pub fn new() -> MemorySessions {
        MemorySessions::with_budget(DEFAULT_SESSION_BUDGET)
    }

    /// Sessions in the process, within `budget` bytes.
    pub fn with_budget(budget: usize) -> MemorySessions {
        let kept = Kept { map: HashMap::new(), queue: VecDeque::new(), places: 0, used: 0, budget };
        MemorySessions { inner: Arc::new(Mutex::new(kept)) }
    }

    /// How many users have a session (or a lock) now.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no user has one.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes it counts against its budget now.
    pub fn used(&self) -> usize {
        self.lock().used
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn entry_cost(key: &SessionKey) -> usize {
    SESSION_COST + key.as_str().len()
}

impl Kept {
    /// Gives `key` a place in the queue at `at`.
    fn enqueue(
        queue: &mut VecDeque<(Instant, u64, SessionKey)>,
        places: &mut u64,
        used: &mut usize,
        held: &mut Held,
        key: &SessionKey,
        at: Instant,
    ) {
        *places += 1;
        held.place = Some(*places);
        queue.push_back((at, *places, key.clone()));
        *used += QUEUE_COST;
    }

    /// Forgets up to 8 sessions whose time has come.
    fn sweep(&mut self, now: Instant) {
        let Kept { map, queue, places, used, .. } = self;
        for _ in 0..8 {
            match queue.front() {
                Some((at, _, _)) if *at <= now => {}
                _ => return,
            }
            let Some((_, place, key)) = queue.pop_front() else { return };
            *used -= QUEUE_COST;
            let Some(held) = map.get_mut(&key).filter(|held| held.place == Some(place)) else { continue };
            held.place = None;
            if let Some((state, expires)) = &held.state
                && *expires <= now
            {
                *used -= state.len();
                held.state = None;
            }
            let lock_until = held.lock.map(|(_, until)| until).filter(|until| *until > now);
            match held.state.as_ref().map(|(_, expires)| *expires).or(lock_until) {
                Some(at) => Kept::enqueue(queue, places, used, held, &key, at),
                None => {
                    map.remove(&key);
                    *used -= entry_cost(&key);
                }
            }
        }
    }

    /// Removes `key` if it holds neither a state nor a lock (its place in the queue, if any, is
    /// then stale).
    fn forget_if_empty(&mut self, key: &SessionKey) {
        if let Some(held) = self.map.get(key)
            && held.state.is_none()
            && held.lock.is_none()
        {
            self.map.remove(key);
            self.used -= entry_cost(key);
        }
    }
}

impl SessionStore for MemorySessions {
    fn begin<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Begin, StoreError>> {
        let mut kept = self.lock();
        let now = Instant::now();
        kept.sweep(now);
        let cost = entry_cost(key);
        let Kept { map, queue, places, used, budget } = &mut *kept;
        let held = match map.entry(key.clone()) {
            Entry::Occupied(held) => held.into_mut(),
            Entry::Vacant(_) if *used + cost + QUEUE_COST > *budget => {
                let full = StoreError::new(StoreErrorKind::Full, format!("{used} of {budget} bytes of sessions held"));
                return Box::pin(std::future::ready(Err(full)));
            }
            Entry::Vacant(vacant) => {
                *used += cost;
                vacant.insert(Held { state: None, lock: None, place: None })
            }
        };
        let begun = match held.lock {
            Some((other, until)) if other != token && until > now => Begin::Busy(until - now),
            _ => {
                held.lock = Some((token, now + lease));
                let state = held.state.as_ref().filter(|(_, expires)| *expires > now).map(|(state, _)| state.clone());
                Begin::Locked(state)
            }
        };
        if held.place.is_none() {
            // Looked at again when its state expires, or its lock's lease ends (a holder that
            // never ends it).
            let at = held.state.as_ref().map_or(now + lease, |(_, expires)| *expires);
            Kept::enqueue(queue, places, used, held, key, at);
        }
        Box::pin(std::future::ready(Ok(begun)))
    }

    fn renew<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut kept = self.lock();
        let renewed = match kept.map.get_mut(key).and_then(|held| held.lock.as_mut()) {
            Some((holder, until)) if *holder == token => {
                *until = Instant::now() + lease;
                true
            }
            _ => false,
        };
        Box::pin(std::future::ready(Ok(renewed)))
    }

    fn end<'a>(
        &'a self,
        key: &'a SessionKey,
        token: u64,
        change: Change,
        expiry: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut kept = self.lock();
        let now = Instant::now();
        let Kept { map, used, budget, .. } = &mut *kept;
        let Some(held) = map.get_mut(key) else {
            return Box::pin(std::future::ready(Ok(false)));
        };
        if held.lock.is_none_or(|(holder, _)| holder != token) {
            return Box::pin(std::future::ready(Ok(false)));
        }
        held.lock = None;
        let old = held.state.as_ref().map_or(0, |(state, _)| state.len());
        let result = match change {
            Change::Keep => {
                if let Some((_, expires)) = held.state.as_mut() {
                    *expires = now + expiry;
                }
                Ok(true)
            }
            Change::Remove => {
                held.state = None;
                *used -= old;
                Ok(true)
            }
            Change::Save(state) if *used - old + state.len() > *budget => {
                let full = format!("{used} of {budget} bytes of sessions held; {} more refused", state.len());
                Err(StoreError::new(StoreErrorKind::Full, full))
            }
            Change::Save(state) => {
                *used = *used - old + state.len();
                held.state = Some((state, now + expiry));
                Ok(true)
            }
        };
        kept.forget_if_empty(key);
        Box::pin(std::future::ready(result))
    }
}
