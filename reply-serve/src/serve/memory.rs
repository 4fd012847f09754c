//! The in-process store.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use tokio::sync::Notify;
use tokio::time::Instant;

use std::sync::atomic::AtomicU64;

use super::{Claim, DEFAULT_MAX_REPLY_LEN, DEFAULT_RETRY_WINDOW, RETRY_SPAN, ReplyStore, StoreError};
use reply_core::DedupKey;

/// How much memory a [`MemoryStore`] may hold by default: 64 MiB, about 130,000 deliveries with
/// 200-byte replies, which is the platform's 15 s of retries at about 8,700 deliveries a second.
pub const DEFAULT_MEMORY_BUDGET: usize = 64 << 20;

/// What one remembered delivery costs besides its key's bytes and its reply's: its map's slot
/// (key, its hash, state, and a control byte) at a map's lowest load, 7/16, just after it
/// grows; its place in the expiry queue, twice over (a queue is at worst half full after it
/// grows); the key's reference counts (16 bytes); the header `Bytes` allocates when the reply is
/// shared (24 bytes); and the allocator's rounding of the key. `tests/allocations.rs` checks it
/// against the bytes really held.
const ENTRY_COST: usize =
    (std::mem::size_of::<Slot>() + 1) * 16 / 7 + 1 + 2 * std::mem::size_of::<(u64, DedupKey)>() + 16 + 24 + 24;

/// The in-memory [`ReplyStore`]: replies kept for a window (default 30 s), in a memory budget
/// (default [`DEFAULT_MEMORY_BUDGET`]) that it never goes over, replies included.
///
/// A delivery costs its reply's bytes (shared, not copied, by every retry) and 225 to 265 bytes
/// more (its key and its place in the map; `tests/allocations.rs` measures it). The budget
/// counts the reply, the key and a fixed cost per delivery chosen to be no less than what is
/// really held (the same test checks it), and from the start 292 bytes for each of the maps the
/// deliveries are spread over (one for each MiB of the budget, rounded down to a power of two, at
/// most 64), so that none grows large: a map grows all at once, and the claim that fills it
/// waits. Replies leave once their window has passed.
///
/// When it is short of room, the replies the platform can no longer ask for again (older than
/// [`RETRY_SPAN`], 15 s) leave first. If that is not enough:
/// - for a new delivery, the store answers [`Claim::Full`] and the guard runs the handler
///   without it (counted and logged), so no user goes unanswered for want of room;
/// - for a reply just made, the reply still goes out, and the store keeps the empty reply in its
///   place (logged): a retry of that delivery (the platform retries only what it got no answer
///   to in five seconds) gets the empty reply, and the handler never runs twice.
///
/// A reply longer than [`max_reply_len`](MemoryStore::max_reply_len) ([`DEFAULT_MAX_REPLY_LEN`],
/// 64 KiB, as `RedisStore`'s) is kept as the empty reply in the same way. A delivery whose
/// handler is still running is never forgotten. Replies leave oldest first from a queue in the
/// order they were claimed, a few at a time as deliveries come: no claim walks the whole store.
///
/// ```
/// use std::time::Duration;
/// use reply_serve::serve::{MemoryStore, RetryGuard};
///
/// let store = MemoryStore::with_budget(Duration::from_secs(30), 16 << 20);
/// let guard = RetryGuard::with_store(store);
/// assert_eq!(guard.store().len(), 0);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    window: Duration,
    budget: usize,
    max_reply_len: usize,
    origin: Instant,
    /// The keys' hasher, the standard library's (randomly keyed SipHash, as `HashMap`'s): a key
    /// is hashed before the lock is taken.
    hasher: RandomState,
    state: Mutex<State>,
    /// Replies kept as the empty reply, for want of room or for their length.
    kept_empty: AtomicU64,
}

/// The most maps a [`MemoryStore`]'s deliveries are spread over, by their key's hash.
///
/// A map grows by doubling, all at once, under the store's lock and on the worker of the claim
/// that filled it: one map of a million deliveries stalled every delivery on that worker for
/// 100-200 ms while it grew (BENCHMARKS.md, "The memory store's growth"). Each of these maps holds
/// a share of the deliveries and grows on its own, so one growth moves that share.
const MAX_SHARDS: usize = 64;

/// A store has a map for each MiB of its budget, rounded down to a power of two, at most
/// [`MAX_SHARDS`] and at least one: the default budget's 64, a 3 MiB budget's two.
fn shards_for(budget: usize) -> usize {
    let shards = (budget >> 20).clamp(1, MAX_SHARDS);
    1 << shards.ilog2()
}

/// What each map costs before its deliveries' own counts, counted from the store's start: its
/// place in the store, and its smallest table (4 slots and their 4 control bytes, hashbrown's 16
/// control bytes more, and the allocator's 16), which a first delivery's slot counted at the
/// lowest load ([`ENTRY_COST`]) would cover only half of. From a map's second delivery on, the
/// deliveries' counts cover their map. `tests/allocations.rs` checks the store's count against
/// what it holds from its first delivery on.
const MAP_FLOOR: usize = std::mem::size_of::<HashTable<Slot>>() + 4 * (std::mem::size_of::<Slot>() + 1) + 16 + 16;

/// Which of `shards` maps (a power of two, at most [`MAX_SHARDS`]) a hash belongs in: six bits of
/// it below its top seven. Within a map, hashbrown places a hash by its low bits and tags it with
/// its top seven, so the bits that pick the map take nothing from either.
fn shard_of(hash: u64, shards: usize) -> usize {
    (hash >> (64 - 7 - MAX_SHARDS.ilog2())) as usize & (shards - 1)
}

/// The map of `shards` that a hash belongs in (a function of the maps alone, so that the rest of
/// the store's state can be borrowed beside it).
fn shard_mut(shards: &mut [HashTable<Slot>], hash: u64) -> &mut HashTable<Slot> {
    let len = shards.len();
    &mut shards[shard_of(hash, len)]
}

#[derive(Debug)]
struct State {
    /// What each delivery's key holds (the key shared with `order`, not copied), in one of
    /// [`shards_for`] maps by the key's hash ([`shard_of`]).
    shards: Box<[HashTable<Slot>]>,
    /// The keys in the order they were claimed, with when (milliseconds since the store's
    /// origin): replies leave from the front, so no claim ever walks the whole map.
    order: VecDeque<(u64, DedupKey)>,
    /// What the entries cost, by [`cost`], and the maps' floors ([`MAP_FLOOR`]).
    bytes: usize,
}

#[derive(Debug)]
struct Slot {
    /// The key's hash, kept so that a map growing moves its slots without hashing every key
    /// again (reading each key's bytes, wherever they are in memory): 8 bytes a delivery.
    hash: u64,
    key: DedupKey,
    reply: Reply,
}

#[derive(Debug)]
enum Reply {
    /// The handler is running; the waiters' signal, made when the first retry waits.
    Running(Option<Arc<Notify>>),
    Done(Bytes),
}

fn cost(key: &[u8], reply: usize) -> usize {
    ENTRY_COST + key.len() + reply
}

impl MemoryStore {
    /// A store with the default window (30 s) and budget ([`DEFAULT_MEMORY_BUDGET`]).
    pub fn new() -> Self {
        MemoryStore::with_budget(DEFAULT_RETRY_WINDOW, DEFAULT_MEMORY_BUDGET)
    }

    /// A store that keeps each reply for `window` and holds at most `budget` bytes, as counted
    /// by [`bytes`](MemoryStore::bytes).
    pub fn with_budget(window: Duration, budget: usize) -> Self {
        MemoryStore {
            window,
            budget,
            max_reply_len: DEFAULT_MAX_REPLY_LEN,
            origin: Instant::now(),
            hasher: RandomState::new(),
            state: Mutex::new(State::new(shards_for(budget))),
            kept_empty: AtomicU64::new(0),
        }
    }

    /// The longest reply kept for retries ([`DEFAULT_MAX_REPLY_LEN`], 64 KiB); a longer one still
    /// goes out, and its retries get the empty reply.
    ///
    /// ```
    /// use reply_serve::serve::MemoryStore;
    ///
    /// let store = MemoryStore::new().max_reply_len(16 << 10);
    /// ```
    #[must_use]
    pub fn max_reply_len(mut self, len: usize) -> Self {
        self.max_reply_len = len;
        self
    }

    /// How many replies were kept as the empty reply so far, for want of room or for their
    /// length.
    pub fn kept_empty(&self) -> u64 {
        self.kept_empty.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many deliveries it remembers now.
    pub fn len(&self) -> usize {
        self.lock().shards.iter().map(HashTable::len).sum()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the deliveries it remembers cost, in bytes, as counted against its budget, with what
    /// its maps cost from the start (292 bytes each: one for each MiB of the budget, rounded down
    /// to a power of two, at most 64).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held leaves the map consistent (every change is one insert,
        // remove or replacement, with its cost), so a poisoned lock is still good to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl State {
    fn new(shards: usize) -> Self {
        State {
            shards: (0..shards).map(|_| HashTable::new()).collect(),
            order: VecDeque::new(),
            bytes: shards * MAP_FLOOR,
        }
    }

    /// What `key`, whose hash is `hash`, holds.
    fn get(&self, hash: u64, key: &DedupKey) -> Option<&Reply> {
        self.shards[shard_of(hash, self.shards.len())].find(hash, |slot| slot.key == *key).map(|slot| &slot.reply)
    }

    fn get_mut(&mut self, hash: u64, key: &DedupKey) -> Option<&mut Reply> {
        shard_mut(&mut self.shards, hash).find_mut(hash, |slot| slot.key == *key).map(|slot| &mut slot.reply)
    }

    /// Forgets the replies claimed `age` or longer before `now`, oldest first. A handler still
    /// running is kept, and goes to the back of the queue as if claimed now, so the queue stays
    /// in order and no claim looks at it again before another `age` has passed.
    fn forget_older(&mut self, hasher: &RandomState, now: Duration, age: Duration) {
        let Some(before) = now.checked_sub(age) else { return };
        let before = before.as_millis() as u64;
        for _ in 0..self.order.len() {
            match self.order.front() {
                Some((since, _)) if *since <= before => {}
                _ => break,
            }
            let Some((_, key)) = self.order.pop_front() else { break };
            let hash = hasher.hash_one(&key);
            let Ok(slot) = shard_mut(&mut self.shards, hash).find_entry(hash, |slot| slot.key == key) else {
                continue;
            };
            if let Reply::Done(reply) = &slot.get().reply {
                self.bytes -= cost(key.as_bytes(), reply.len());
                slot.remove();
            } else {
                self.order.push_back((now.as_millis() as u64, key));
            }
        }
    }
}

impl ReplyStore for MemoryStore {
    async fn claim(&self, key: &DedupKey) -> Claim {
        let now = self.now();
        let hash = self.hasher.hash_one(key);
        let mut state = self.lock();
        state.forget_older(&self.hasher, now, self.window);
        let cost = cost(key.as_bytes(), 0);
        if state.bytes + cost > self.budget && state.get(hash, key).is_none() {
            state.forget_older(&self.hasher, now, RETRY_SPAN.min(self.window));
            if state.bytes + cost > self.budget {
                return Claim::Full;
            }
        }
        let State { shards, order, bytes } = &mut *state;
        match shard_mut(shards, hash).entry(hash, |slot| slot.key == *key, |slot| slot.hash) {
            Entry::Occupied(known) => match &known.get().reply {
                Reply::Done(bytes) => Claim::Done(bytes.clone()),
                Reply::Running(_) => Claim::Running,
            },
            Entry::Vacant(unknown) => {
                unknown.insert(Slot { hash, key: key.clone(), reply: Reply::Running(None) });
                *bytes += cost;
                order.push_back((now.as_millis() as u64, key.clone()));
                Claim::Run
            }
        }
    }

    async fn complete(&self, key: &DedupKey, reply: Bytes) -> Result<(), StoreError> {
        let hash = self.hasher.hash_one(key);
        let mut state = self.lock();
        let mut reply = reply;
        // A reply that fits is looked up once, below; one that doesn't, first, so that only a
        // running handler's reply makes room or is noted.
        if reply.len() > self.max_reply_len || state.bytes + reply.len() > self.budget {
            if !matches!(state.get(hash, key), Some(Reply::Running(_))) {
                return Ok(());
            }
            let mut cause = None;
            if reply.len() > self.max_reply_len {
                cause = Some("a reply is longer than the reply store keeps");
            } else {
                // The clock is read only here: a reply that fits needs no time.
                state.forget_older(&self.hasher, self.now(), RETRY_SPAN.min(self.window));
                if state.bytes + reply.len() > self.budget {
                    cause = Some("the reply store has no room for a reply");
                }
            }
            if let Some(cause) = cause {
                super::note(&self.kept_empty, &cause, "kept as the empty reply for their retries", key);
                reply = Bytes::new();
            }
        }
        // Still running: `forget_older` never forgets a running handler's claim.
        let len = reply.len();
        if let Some(slot) = state.get_mut(hash, key)
            && let Reply::Running(waiters) = slot
        {
            let waiters = waiters.take();
            *slot = Reply::Done(reply);
            state.bytes += len;
            if let Some(waiters) = waiters {
                waiters.notify_waiters();
            }
        }
        Ok(())
    }

    async fn wait(&self, key: &DedupKey) -> Claim {
        let hash = self.hasher.hash_one(key);
        loop {
            let waiters = {
                let mut state = self.lock();
                match state.get_mut(hash, key) {
                    Some(Reply::Done(bytes)) => return Claim::Done(bytes.clone()),
                    Some(Reply::Running(waiters)) => Some(waiters.get_or_insert_with(Arc::default).clone()),
                    None => None,
                }
            };
            let Some(waiters) = waiters else {
                // Forgotten: unknown again, so claimed again.
                match self.claim(key).await {
                    Claim::Running => continue,
                    claim => return claim,
                }
            };
            // Registered before the lock is taken again, so a `complete` in between still wakes
            // it (`notify_waiters` wakes every `Notified` made before it).
            let notified = waiters.notified();
            if let Some(Reply::Done(bytes)) = self.lock().get(hash, key) {
                return Claim::Done(bytes.clone());
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> DedupKey {
        DedupKey::new("gh", &n.to_string())
    }

    /// Past its window a reply is forgotten; a running handler's claim never is.
    #[tokio::test(start_paused = true)]
    async fn replies_leave_after_their_window() {
        let store = MemoryStore::with_budget(Duration::from_secs(30), 1 << 20);
        assert_eq!(store.claim(&key(1)).await, Claim::Run);
        assert_eq!(store.claim(&key(2)).await, Claim::Run);
        store.complete(&key(1), Bytes::from_static(b"one")).await.unwrap();
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(store.claim(&key(3)).await, Claim::Run);
        assert_eq!(store.len(), 2, "1 forgotten, 2 still running, 3 new");
        assert_eq!(store.claim(&key(2)).await, Claim::Running);
        assert_eq!(store.claim(&key(1)).await, Claim::Run);
    }

    /// Over budget, replies past the platform's retry span go first; when none can go, `Full`;
    /// and the count of bytes comes back to the map's floor when everything has left.
    #[tokio::test(start_paused = true)]
    async fn a_full_store_forgets_what_cant_be_retried_first() {
        let one = cost(key(1).as_bytes(), 100);
        let store = MemoryStore::with_budget(Duration::from_secs(30), MAP_FLOOR + 3 * one);
        for n in 1..=3 {
            assert_eq!(store.claim(&key(n)).await, Claim::Run);
            store.complete(&key(n), Bytes::from(vec![b'x'; 100])).await.unwrap();
        }
        assert_eq!(store.claim(&key(4)).await, Claim::Full, "all three may still be retried");
        tokio::time::advance(RETRY_SPAN).await;
        assert_eq!(store.claim(&key(4)).await, Claim::Run, "past the retry span: room made");
        assert_eq!(store.len(), 1);
        store.complete(&key(4), Bytes::new()).await.unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(store.claim(&key(5)).await, Claim::Run);
        assert_eq!(store.bytes(), MAP_FLOOR + cost(key(5).as_bytes(), 0), "one map, and the one delivery");
    }

    /// Replies count against the budget too: a reply that finds no room, even after what can't
    /// be retried has left, is kept as the empty reply; one longer than the largest kept, the
    /// same. The count of bytes never goes over the budget, whatever comes.
    #[tokio::test(start_paused = true)]
    async fn replies_never_take_the_store_over_its_budget() {
        let budget = MAP_FLOOR + 10 * cost(key(0).as_bytes(), 0) + 3_000;
        let store = MemoryStore::with_budget(Duration::from_secs(30), budget).max_reply_len(2_000);
        for n in 0..10 {
            assert_eq!(store.claim(&key(n)).await, Claim::Run);
        }
        let reply = |len: usize| Bytes::from(vec![b'r'; len]);
        store.complete(&key(0), reply(1_500)).await.unwrap();
        assert!(store.bytes() <= budget);
        store.complete(&key(1), reply(1_500)).await.unwrap();
        assert!(store.bytes() <= budget);
        // No room left for 1,500 more, and nothing old enough to forget: kept empty.
        store.complete(&key(2), reply(1_500)).await.unwrap();
        assert!(store.bytes() <= budget, "{} > {budget}", store.bytes());
        // Longer than the store keeps: empty, whatever the room.
        store.complete(&key(3), reply(2_001)).await.unwrap();
        assert_eq!(store.claim(&key(0)).await, Claim::Done(reply(1_500)));
        assert_eq!(store.claim(&key(1)).await, Claim::Done(reply(1_500)));
        assert_eq!(store.claim(&key(2)).await, Claim::Done(Bytes::new()));
        assert_eq!(store.claim(&key(3)).await, Claim::Done(Bytes::new()));
        assert_eq!(store.kept_empty(), 2);
        assert_eq!(store.bytes(), MAP_FLOOR + 10 * cost(key(0).as_bytes(), 0) + 3_000);
        // Past the retry span, what can't be retried leaves to make room for a new reply.
        tokio::time::advance(RETRY_SPAN).await;
        assert_eq!(store.claim(&key(10)).await, Claim::Run);
        store.complete(&key(10), reply(1_500)).await.unwrap();
        assert_eq!(store.claim(&key(10)).await, Claim::Done(reply(1_500)));
        assert!(store.bytes() <= budget);
    }

    /// Handlers that never finish are kept, and don't make every claim look at them again.
    #[tokio::test(start_paused = true)]
    async fn running_handlers_are_kept_and_looked_at_once_a_window() {
        let store = MemoryStore::with_budget(Duration::from_secs(30), 1 << 20);
        for n in 0..100 {
            assert_eq!(store.claim(&key(n)).await, Claim::Run);
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(store.claim(&key(100)).await, Claim::Run);
        assert_eq!(store.len(), 101, "all still running");
        // Requeued as of now, behind the new claim: the front is the newest claim's time.
        {
            let state = store.lock();
            assert_eq!(state.order.len(), 101);
            assert!(state.order.iter().map(|(since, _)| since).is_sorted());
        }
        store.complete(&key(3), Bytes::from_static(b"late")).await.unwrap();
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(store.claim(&key(101)).await, Claim::Run);
        assert_eq!(store.len(), 101, "the one made is forgotten a window after it was looked at");
    }

    /// A map for each MiB of budget, up to 64, a power of two; deliveries spread over all of them
    /// (so none grows to more than a share of the store), and each found again in its own.
    #[tokio::test(start_paused = true)]
    async fn deliveries_are_spread_over_a_map_for_each_mib() {
        assert_eq!(
            [0, 1 << 20, (3 << 20) - 1, 3 << 20, 5 << 20, 64 << 20, 1 << 30].map(shards_for),
            [1, 1, 2, 2, 4, 64, 64]
        );
        assert_eq!(MAP_FLOOR, 292, "the figure the docs give");
        let store = MemoryStore::new();
        assert_eq!(store.bytes(), 64 * MAP_FLOOR);
        for n in 0..6_400 {
            assert_eq!(store.claim(&key(n)).await, Claim::Run);
        }
        {
            let state = store.lock();
            let lens: Vec<_> = state.shards.iter().map(HashTable::len).collect();
            assert_eq!(lens.len(), 64);
            assert!(lens.iter().all(|&len| (50..=150).contains(&len)), "{lens:?}");
        }
        for n in 0..6_400 {
            assert_eq!(store.claim(&key(n)).await, Claim::Running, "{n}");
        }
        assert_eq!(store.len(), 6_400);
    }

    /// A waiter is woken by the reply, and gets its bytes.
    #[tokio::test]
    async fn waiters_get_the_reply() {
        let store = Arc::new(MemoryStore::new());
        assert_eq!(store.claim(&key(1)).await, Claim::Run);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.wait(&key(1)).await })
            })
            .collect();
        tokio::task::yield_now().await;
        store.complete(&key(1), Bytes::from_static(b"made")).await.unwrap();
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), Claim::Done(Bytes::from_static(b"made")));
        }
    }
}
