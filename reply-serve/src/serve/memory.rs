//! The in-process store.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use std::sync::atomic::AtomicU64;

use super::{Claim, DEFAULT_MAX_REPLY_LEN, DEFAULT_RETRY_WINDOW, RETRY_SPAN, ReplyStore, StoreError};
use reply_core::DedupKey;

mod places;
use places::{Place, Places};

/// How much memory a [`MemoryStore`] may hold by default: 64 MiB, about 130,000 deliveries with
/// 200-byte replies, which is the platform's 15 s of retries at about 8,700 deliveries a second.
pub const DEFAULT_MEMORY_BUDGET: usize = 64 << 20;

/// What one remembered delivery costs besides its key's bytes and its reply's: its slot in the
/// queue (key, hash, when, state) and its share of the queue's list of blocks (twice over: a
/// list is at worst half full after it grows) and of their allocations; its place in its map (8
/// bytes, and its share of its bucket's tags and count: a 64-byte bucket holds 7 places) at a
/// map's lowest load, 7/16, just after it grows; the key's reference counts (16 bytes); the
/// header `Bytes` allocates when the reply is shared (24 bytes: the retry guard hands the store a
/// copy of its own, shared once a retry asks for it); and the allocator's rounding of the key.
/// `tests/allocations.rs` checks it against the bytes really held.
const ENTRY_COST: usize = std::mem::size_of::<Block>() / BLOCK
    + (2 * std::mem::size_of::<Box<Block>>() + 16).div_ceil(BLOCK)
    + places::BYTES_PER_PLACE_AT_LOWEST
    + 1
    + 16
    + 24
    + 24;

/// The in-memory [`ReplyStore`]: replies kept for a window (default 30 s), in a memory budget
/// (default [`DEFAULT_MEMORY_BUDGET`]) that it never goes over, replies included.
///
/// A delivery costs its reply's bytes (the retry guard's copy, shared, not copied again, by
/// every retry) and 170 to 180 bytes more (its key, its slot in a queue in the order of claims,
/// and its place in a map;
/// `tests/allocations.rs` measures it). The budget counts the reply, the key and a fixed cost
/// per delivery chosen to be no less than what is really held (the same test checks it), and from
/// the start 1,632 bytes for the queue and 176 bytes for each of the maps the deliveries are spread
/// over (one for each MiB of the budget, rounded down to a power of two, at most 64), so that
/// none grows large: a map grows all at once, and the claim that fills it waits. Replies leave
/// once their window has passed.
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
/// Each delivery's key and reply are freed a window after their claim, long after they were
/// last touched. Under sustained load that is work for the application's allocator: with
/// glibc's, a server answering about 55,000 deliveries a second with the store at its 30 s window
/// (some 800 MB) spent a tenth of its CPU in glibc's `unlink_chunk` alone, and took 14% to 31%
/// less CPU a delivery with jemalloc under it (BENCHMARKS.md, "The memory store at its window"). An
/// application with that much traffic may want jemalloc (for instance the `tikv-jemallocator`
/// crate) as its `#[global_allocator]`; the store itself allocates through whatever it is.
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
    /// is hashed before the lock is taken (or, for a reply whose claim is not among the
    /// [`recent`](State::recent) ones, under it).
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
/// place in the store, and its smallest table (one bucket of 64 bytes, aligned to 64, which may
/// cost the allocator 64 bytes more and its 16), which a first delivery's place counted at the
/// lowest load ([`ENTRY_COST`]) would cover only a third of. From a map's second delivery on, the
/// deliveries' counts cover their map. `tests/allocations.rs` checks the store's count against
/// what it holds from its first delivery on.
const MAP_FLOOR: usize = std::mem::size_of::<Places>() + places::SMALLEST + 64 + 16;

/// How many slots a block of the queue holds.
const BLOCK: usize = 8;

/// What the queue costs before its deliveries' own counts, counted from the store's start: three
/// blocks (the room of the first, whose front slots have left; of the last, not yet full; and
/// the one kept spare), each with the allocator's 16 bytes, and the first room of its list of
/// blocks (4 pointers and the allocator's 16 bytes).
const QUEUE_FLOOR: usize = 3 * (std::mem::size_of::<Block>() + 16) + 4 * std::mem::size_of::<Box<Block>>() + 16;

/// The most deliveries a store remembers, whatever its budget: a slot's number is 32 bits. (A
/// budget of 800 GiB would be needed to reach it.)
const MAX_DELIVERIES: usize = u32::MAX as usize;

/// Which of `shards` maps (a power of two, at most [`MAX_SHARDS`]) a hash belongs in: its low
/// bits. Within a map a delivery is placed by its hash's high half ([`Place`]), so the bits that
/// pick the map take nothing from it.
fn shard_of(hash: u64, shards: usize) -> usize {
    hash as usize & (shards - 1)
}

/// The map of `shards` that a hash belongs in (a function of the maps alone, so that the rest of
/// the store's state can be borrowed beside it).
fn shard_mut(shards: &mut [Places], hash: u64) -> &mut Places {
    let len = shards.len();
    &mut shards[shard_of(hash, len)]
}

/// The high half of a key's hash, which a map places it by (its bucket by the low bits, its tag by
/// the top seven) and keeps: the low half picked the map.
fn high(hash: u64) -> u32 {
    (hash >> 32) as u32
}

#[derive(Debug)]
struct State {
    /// Each delivery's place in its queue, in one of [`shards_for`] maps by its key's hash
    /// ([`shard_of`]).
    shards: Box<[Places]>,
    /// The deliveries in the order they were claimed: replies leave from the front, so no claim
    /// ever walks the whole store, and a claim writes its slot next to the last one's (a map
    /// holds 8 bytes of it, where a map of slots made each claim write a slot wherever its hash
    /// fell, in a table larger than the caches).
    slots: Queue,
    /// What the entries cost, by [`cost`], and the floors ([`MAP_FLOOR`], [`QUEUE_FLOOR`]).
    bytes: usize,
    /// The latest claims' slots, by where their key's bytes are ([`recent_of`]): the retry guard
    /// completes a claim with the key it claimed with (one allocation, which the slot shares),
    /// so the reply finds its slot here without its key hashed again or a map looked in. Only a
    /// hint: a slot found there is taken only if its key is that very allocation.
    recent: [Recent; RECENT],
}

/// How many claims [`State::recent`] remembers: more than the deliveries a worker has in flight
/// under load (32 in `benches/load.sh`). 1 KiB in the store itself.
const RECENT: usize = 64;

/// A claim in [`State::recent`]: where its key's bytes are, and its slot's number.
#[derive(Debug, Clone, Copy, Default)]
struct Recent {
    key_at: usize,
    number: u32,
}

/// Where a key's bytes are, and the place in [`State::recent`] of a claim with that key (a
/// multiplicative hash of the address: keys are allocated 16 bytes or more apart).
fn recent_of(key: &DedupKey) -> (usize, usize) {
    let key_at = key.as_bytes().as_ptr() as usize;
    (key_at, (key_at as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as usize >> (usize::BITS - RECENT.ilog2()))
}

#[derive(Debug)]
struct Slot {
    /// When it was claimed (or a running handler's slot moved to the back), in milliseconds
    /// since the store's origin.
    since: u64,
    /// The key's hash, kept so that the slot's place is found when it leaves without hashing
    /// its key again.
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
        self.lock().slots.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the deliveries it remembers cost, in bytes, as counted against its budget, with what
    /// its queue and maps cost from the start (1,632 bytes, and 176 bytes a map: one for each MiB of
    /// the budget, rounded down to a power of two, at most 64).
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
            shards: (0..shards).map(|_| Places::default()).collect(),
            slots: Queue::default(),
            bytes: shards * MAP_FLOOR + QUEUE_FLOOR,
            recent: [Recent::default(); RECENT],
        }
    }

    /// The number of the slot of `key` if a recent claim was made with this very key (its bytes
    /// where the slot's key's are, so the same allocation, which the slot keeps alive); `None`
    /// otherwise (an equal key made apart, a claim since pushed out of the list or requeued).
    fn recent(&self, key: &DedupKey) -> Option<u32> {
        let (key_at, at) = recent_of(key);
        let noted = self.recent[at];
        let slot = self.slots.get(noted.number).filter(|_| noted.key_at == key_at)?;
        std::ptr::eq(slot.key.as_bytes(), key.as_bytes()).then_some(noted.number)
    }

    /// Notes that the slot numbered `number` was claimed with `key`.
    fn note_recent(&mut self, key: &DedupKey, number: u32) {
        let (key_at, at) = recent_of(key);
        self.recent[at] = Recent { key_at, number };
    }

    /// The number of the slot of `key`, whose hash is `hash`.
    fn find(&self, hash: u64, key: &DedupKey) -> Option<u32> {
        let map = &self.shards[shard_of(hash, self.shards.len())];
        let at = map.find(high(hash), is_key(&self.slots, hash, key))?;
        Some(map.get(at).number)
    }

    /// What `key`, whose hash is `hash`, holds.
    fn get(&self, hash: u64, key: &DedupKey) -> Option<&Reply> {
        self.slots.get(self.find(hash, key)?).map(|slot| &slot.reply)
    }

    fn get_mut(&mut self, hash: u64, key: &DedupKey) -> Option<&mut Reply> {
        let number = self.find(hash, key)?;
        self.slots.get_mut(number).map(|slot| &mut slot.reply)
    }

    /// Forgets the replies claimed `age` or longer before `now`, oldest first. A handler still
    /// running is kept, and goes to the back of the queue as if claimed now, so the queue stays
    /// in order and no claim looks at it again before another `age` has passed.
    fn forget_older(&mut self, now: Duration, age: Duration) {
        let Some(before) = now.checked_sub(age) else { return };
        let before = before.as_millis() as u64;
        for _ in 0..self.slots.len() {
            if self.slots.front().is_none_or(|slot| slot.since > before) {
                break;
            }
            let Some((number, mut slot)) = self.slots.pop_front() else { break };
            let map = shard_mut(&mut self.shards, slot.hash);
            let place = map.find(high(slot.hash), |place| place.number == number);
            if let Reply::Done(reply) = &slot.reply {
                self.bytes -= cost(slot.key.as_bytes(), reply.len());
                if let Some(place) = place {
                    map.remove(place);
                }
            } else if let Some(place) = place {
                slot.since = now.as_millis() as u64;
                map.get_mut(place).number = self.slots.push_back(slot);
            }
        }
    }
}

/// Whether a place is that of `key`, whose hash is `hash`: the high halves of their hashes
/// first, then the key in its slot.
fn is_key<'a>(slots: &'a Queue, hash: u64, key: &'a DedupKey) -> impl Fn(&Place) -> bool + 'a {
    let high = high(hash);
    move |place| place.high == high && slots.get(place.number).is_some_and(|slot| slot.key == *key)
}

/// The slots of a store's deliveries in the order they were claimed, each numbered (the numbers
/// wrap), in blocks of [`BLOCK`]: the slot numbered `n` is in place `n % BLOCK` of its block.
/// It grows a block at a time, and no slot moves once written. (One ring of slots moved half of
/// them when it grew after wrapping around: 17 ms for a million slots, under the store's lock.)
#[derive(Debug, Default)]
struct Queue {
    /// The blocks: the front slot's, and each after it in turn; the first block's places before
    /// the front slot's are empty, and so are the last block's after the back slot's.
    blocks: VecDeque<Box<Block>>,
    /// The last block emptied, kept for the next one needed: a store at its window allocates no
    /// block.
    spare: Option<Box<Block>>,
    /// The front slot's number.
    head: u32,
    len: usize,
}

type Block = [Option<Slot>; BLOCK];

impl Queue {
    fn len(&self) -> usize {
        self.len
    }

    /// Which block the slot `at` places from the front is in, and where in it.
    #[inline]
    fn locate(&self, at: usize) -> (usize, usize) {
        let at = at + self.head as usize % BLOCK;
        (at / BLOCK, at % BLOCK)
    }

    /// Where the slot numbered `number` is, if it is in the queue.
    #[inline]
    fn locate_number(&self, number: u32) -> Option<(usize, usize)> {
        let at = number.wrapping_sub(self.head) as usize;
        (at < self.len).then(|| self.locate(at))
    }

    /// The slot numbered `number`, if it is in the queue.
    #[inline]
    fn get(&self, number: u32) -> Option<&Slot> {
        let (block, at) = self.locate_number(number)?;
        self.blocks.get(block)?[at].as_ref()
    }

    fn get_mut(&mut self, number: u32) -> Option<&mut Slot> {
        let (block, at) = self.locate_number(number)?;
        self.blocks.get_mut(block)?[at].as_mut()
    }

    fn front(&self) -> Option<&Slot> {
        self.get(self.head)
    }

    /// Puts `slot` at the back, and returns its number. The queue never holds more than
    /// [`MAX_DELIVERIES`] (the claim sees to it), so no two of its slots have one number.
    #[inline]
    fn push_back(&mut self, slot: Slot) -> u32 {
        let (block, at) = self.locate(self.len);
        if block == self.blocks.len() {
            let fresh = self.spare.take().unwrap_or_else(|| Box::new([const { None }; BLOCK]));
            self.blocks.push_back(fresh);
        }
        if let Some(block) = self.blocks.get_mut(block) {
            block[at] = Some(slot);
        }
        let number = self.head.wrapping_add(self.len as u32);
        self.len += 1;
        number
    }

    /// Takes the front slot, with its number.
    fn pop_front(&mut self) -> Option<(u32, Slot)> {
        if self.len == 0 {
            return None;
        }
        let at = self.head as usize % BLOCK;
        let slot = self.blocks.front_mut()?[at].take()?;
        let number = self.head;
        self.head = number.wrapping_add(1);
        self.len -= 1;
        if at == BLOCK - 1 {
            let emptied = self.blocks.pop_front();
            self.spare = self.spare.take().or(emptied);
        }
        Some((number, slot))
    }

    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = &Slot> {
        (0..self.len).filter_map(|at| self.get(self.head.wrapping_add(at as u32)))
    }
}

impl ReplyStore for MemoryStore {
    async fn claim(&self, key: &DedupKey) -> Claim {
        let now = self.now();
        let hash = self.hasher.hash_one(key);
        let mut state = self.lock();
        state.forget_older(now, self.window);
        let cost = cost(key.as_bytes(), 0);
        if state.bytes + cost > self.budget && state.get(hash, key).is_none() {
            state.forget_older(now, RETRY_SPAN.min(self.window));
            if state.bytes + cost > self.budget {
                return Claim::Full;
            }
        }
        // `State::get`'s lookup, spelled out: the map it finds is the one a new key goes in (through
        // `State::get`, 56-64 more instructions a delivery, callgrind).
        let State { shards, slots, bytes, .. } = &mut *state;
        let map = shard_mut(shards, hash);
        if let Some(known) = map.find(high(hash), is_key(slots, hash, key)) {
            return match slots.get(map.get(known).number).map(|slot| &slot.reply) {
                Some(Reply::Done(bytes)) => Claim::Done(bytes.clone()),
                _ => Claim::Running,
            };
        }
        if slots.len() >= MAX_DELIVERIES {
            return Claim::Full;
        }
        let slot = Slot { since: now.as_millis() as u64, hash, key: key.clone(), reply: Reply::Running(None) };
        let number = slots.push_back(slot);
        map.insert(Place { number, high: high(hash) });
        *bytes += cost;
        state.note_recent(key, number);
        Claim::Run
    }

    async fn complete(&self, key: &DedupKey, reply: Bytes) -> Result<(), StoreError> {
        let mut state = self.lock();
        // Its slot: among the recent claims (the guard's way), or by its key's hash.
        let slot_of = |state: &State| state.recent(key).or_else(|| state.find(self.hasher.hash_one(key), key));
        let Some(mut number) = slot_of(&state) else {
            // Forgotten, or never claimed: nothing to record.
            return Ok(());
        };
        let mut reply = reply;
        // A reply that fits is looked at once, below; one that doesn't, first, so that only a
        // running handler's reply makes room or is noted.
        if reply.len() > self.max_reply_len || state.bytes + reply.len() > self.budget {
            if !matches!(state.slots.get(number).map(|slot| &slot.reply), Some(Reply::Running(_))) {
                return Ok(());
            }
            let mut cause = None;
            if reply.len() > self.max_reply_len {
                cause = Some("a reply is longer than the reply store keeps");
            } else {
                // The clock is read only here: a reply that fits needs no time.
                state.forget_older(self.now(), RETRY_SPAN.min(self.window));
                if state.bytes + reply.len() > self.budget {
                    cause = Some("the reply store has no room for a reply");
                }
                // Kept, as a running handler's claim is, but perhaps requeued, under a new number.
                let Some(moved) = slot_of(&state) else { return Ok(()) };
                number = moved;
            }
            if let Some(cause) = cause {
                super::note(&self.kept_empty, &cause, "kept as the empty reply for their retries", key);
                reply = Bytes::new();
            }
        }
        // Still running: `forget_older` never forgets a running handler's claim.
        let len = reply.len();
        if let Some(slot) = state.slots.get_mut(number).map(|slot| &mut slot.reply)
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
        let store = MemoryStore::with_budget(Duration::from_secs(30), MAP_FLOOR + QUEUE_FLOOR + 3 * one);
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
        assert_eq!(
            store.bytes(),
            MAP_FLOOR + QUEUE_FLOOR + cost(key(5).as_bytes(), 0),
            "one map, the queue, and the one delivery"
        );
    }

    /// Replies count against the budget too: a reply that finds no room, even after what can't
    /// be retried has left, is kept as the empty reply; one longer than the largest kept, the
    /// same. The count of bytes never goes over the budget, whatever comes.
    #[tokio::test(start_paused = true)]
    async fn replies_never_take_the_store_over_its_budget() {
        let budget = MAP_FLOOR + QUEUE_FLOOR + 10 * cost(key(0).as_bytes(), 0) + 3_000;
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
        assert_eq!(store.bytes(), MAP_FLOOR + QUEUE_FLOOR + 10 * cost(key(0).as_bytes(), 0) + 3_000);
        // Past the retry span, what can't be retried leaves to make room for a new reply.
        tokio::time::advance(RETRY_SPAN).await;
        assert_eq!(store.claim(&key(10)).await, Claim::Run);
        store.complete(&key(10), reply(1_500)).await.unwrap();
        assert_eq!(store.claim(&key(10)).await, Claim::Done(reply(1_500)));
        assert!(store.bytes() <= budget);
    }

    /// A reply finds its claim's slot among the recent claims when it comes with the key the
    /// claim was made with (the guard's way), and by its key's hash otherwise (an equal key made
    /// apart, a claim no longer among the recent ones): recorded either way, each for its own key.
    #[tokio::test(start_paused = true)]
    async fn a_reply_finds_its_claim_by_the_same_key_or_an_equal_one() {
        let store = MemoryStore::with_budget(Duration::from_secs(30), 16 << 20);
        let keys: Vec<DedupKey> = (0..3 * RECENT as u64).map(key).collect();
        for k in &keys {
            assert_eq!(store.claim(k).await, Claim::Run);
        }
        {
            let state = store.lock();
            let recent = keys.iter().filter(|k| state.recent(k).is_some()).count();
            assert!((RECENT / 2..=RECENT).contains(&recent), "the latest claims are among the recent ones: {recent}");
            assert!(keys.iter().all(|k| state.recent(&DedupKey::from_bytes(k.as_bytes())).is_none()));
        }
        // The latest first; half with the claim's key, half with an equal one made apart.
        for (n, k) in keys.iter().enumerate().rev() {
            let reply = Bytes::from(format!("reply {n}"));
            match n % 2 {
                0 => store.complete(k, reply).await.unwrap(),
                _ => store.complete(&DedupKey::from_bytes(k.as_bytes()), reply).await.unwrap(),
            }
        }
        for (n, k) in keys.iter().enumerate() {
            assert_eq!(store.claim(k).await, Claim::Done(Bytes::from(format!("reply {n}"))));
        }
    }

    /// A running handler's claim requeued (under a new number) while its reply makes room is
    /// found again: the reply is recorded for it, and no other.
    #[tokio::test(start_paused = true)]
    async fn a_reply_finds_its_claim_requeued_while_making_room() {
        let (a, b) = (key(1), key(2));
        let budget = 1 << 20;
        let store = MemoryStore::with_budget(Duration::from_secs(30), budget).max_reply_len(budget);
        assert_eq!(store.claim(&a).await, Claim::Run);
        tokio::time::advance(RETRY_SPAN + Duration::from_secs(1)).await;
        assert_eq!(store.claim(&b).await, Claim::Run);
        let number = store.lock().recent(&a).expect("the claim's slot, among the recent ones");
        // Too long for the room left: room is made (the running claim requeued), then the reply is
        // kept as the empty reply.
        let long = Bytes::from(vec![b'x'; budget - store.bytes() + 1]);
        store.complete(&a, long).await.unwrap();
        {
            let state = store.lock();
            assert_ne!(state.find(store.hasher.hash_one(&a), &a), Some(number), "requeued");
            assert_eq!(state.recent(&a), None);
        }
        assert_eq!(store.kept_empty(), 1);
        assert_eq!(store.claim(&a).await, Claim::Done(Bytes::new()));
        assert_eq!(store.claim(&b).await, Claim::Running);
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
            assert_eq!(state.slots.len(), 101);
            assert!(state.slots.iter().map(|slot| slot.since).is_sorted());
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
        assert_eq!((MAP_FLOOR, QUEUE_FLOOR), (176, 1_632), "the figures the docs give");
        let store = MemoryStore::new();
        assert_eq!(store.bytes(), 64 * MAP_FLOOR + QUEUE_FLOOR);
        for n in 0..6_400 {
            assert_eq!(store.claim(&key(n)).await, Claim::Run);
        }
        {
            let state = store.lock();
            let lens: Vec<_> = state.shards.iter().map(Places::len).collect();
            assert_eq!(lens.len(), 64);
            assert!(lens.iter().all(|&len| (50..=150).contains(&len)), "{lens:?}");
        }
        for n in 0..6_400 {
            assert_eq!(store.claim(&key(n)).await, Claim::Running, "{n}");
        }
        assert_eq!(store.len(), 6_400);
    }

    /// The queue's slots are where a plain `VecDeque` would have them, each found by its
    /// number, whatever the order of pushes and pops, across blocks and across the numbers'
    /// wrapping; a block emptied is the next one used.
    #[test]
    fn the_queue_keeps_its_slots_in_order_across_blocks() {
        let slot = |since| Slot { since, hash: 0, key: key(since), reply: Reply::Running(None) };
        // Numbered from near the end of the numbers, so that they wrap within the test.
        let mut queue = Queue { head: u32::MAX - 1_000, ..Queue::default() };
        let mut model = VecDeque::new();
        let mut next = 0;
        // Runs of pushes and pops of lengths that cross blocks at every offset, from a simple
        // generator (xorshift), the queue emptied at times.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let run = (state % (3 * BLOCK as u64)) as usize;
            if state & (1 << 40) == 0 {
                for _ in 0..run {
                    let number = queue.push_back(slot(next));
                    model.push_back((number, next));
                    next += 1;
                }
            } else {
                for _ in 0..run {
                    assert_eq!(queue.pop_front().map(|(number, slot)| (number, slot.since)), model.pop_front());
                }
            }
            assert_eq!(queue.len(), model.len());
            assert_eq!(queue.front().map(|slot| slot.since), model.front().map(|(_, since)| *since));
            let numbers: Vec<u32> = (0..model.len()).map(|at| queue.head.wrapping_add(at as u32)).collect();
            assert!(model.iter().map(|(number, _)| *number).eq(numbers.iter().copied()), "numbered in turn");
            for (number, since) in &model {
                assert_eq!(queue.get(*number).map(|slot| slot.since), Some(*since), "{number}");
                queue.get_mut(*number).unwrap().since += 1;
                queue.get_mut(*number).unwrap().since -= 1;
            }
            for gone in [queue.head.wrapping_sub(1), queue.head.wrapping_add(model.len() as u32)] {
                assert!(queue.get(gone).is_none() && queue.get_mut(gone).is_none(), "{gone}");
            }
            // The front slot's block (kept, when the queue is empty, until its last place is
            // used) and those after it: no more.
            let places = queue.head as usize % BLOCK + model.len();
            assert_eq!(queue.blocks.len(), places.div_ceil(BLOCK), "no block more than its slots need");
            assert!(queue.iter().map(|slot| slot.since).eq(model.iter().map(|(_, since)| *since)));
        }
        assert!(queue.head < 1_000_000, "the numbers wrapped");
        // The spare block: emptied, then used again.
        let mut queue = Queue::default();
        for since in 0..BLOCK as u64 + 1 {
            queue.push_back(slot(since));
        }
        let first: *const Block = &*queue.blocks[0];
        for _ in 0..BLOCK {
            queue.pop_front();
        }
        assert!(queue.spare.is_some());
        for since in 0..BLOCK as u64 {
            queue.push_back(slot(since));
        }
        assert!(queue.spare.is_none());
        assert_eq!(&*queue.blocks[1] as *const Block, first, "the spare block was used");
    }

    /// The maps and the queue agree, and the count of bytes is what they hold: each slot found
    /// by its key at its own number, in the map its hash picks, and no place without its slot;
    /// the queue in the order of its times; the count the floors and each delivery's cost.
    fn assert_consistent(store: &MemoryStore) {
        let state = store.lock();
        let mut places = 0;
        for (shard, map) in state.shards.iter().enumerate() {
            map.assert_consistent();
            for place in map.iter() {
                let slot = state.slots.get(place.number).expect("a place's slot is in the queue");
                assert_eq!((shard_of(slot.hash, state.shards.len()), high(slot.hash)), (shard, place.high));
                places += 1;
            }
        }
        assert_eq!(places, state.slots.len(), "a place for each slot, and no more");
        let mut bytes = state.shards.len() * MAP_FLOOR + QUEUE_FLOOR;
        for at in 0..state.slots.len() {
            let number = state.slots.head.wrapping_add(at as u32);
            let slot = state.slots.get(number).unwrap();
            assert_eq!(slot.hash, store.hasher.hash_one(&slot.key));
            assert_eq!(state.find(slot.hash, &slot.key), Some(number), "found at its own number");
            bytes += cost(slot.key.as_bytes(), if let Reply::Done(reply) = &slot.reply { reply.len() } else { 0 });
        }
        assert_eq!(state.bytes, bytes);
        assert!(state.slots.iter().map(|slot| slot.since).is_sorted());
    }

    /// Claims, replies and the clock's steps in a random order, over few keys (so that they
    /// meet again) and budgets that fill: after each step the store is consistent
    /// ([`assert_consistent`]), and each claim answers what the store was told: a handler still
    /// running is never forgotten, a reply is the one made (or the empty reply, for want of room
    /// or for its length), or forgotten and claimed anew.
    #[tokio::test(start_paused = true)]
    async fn claims_replies_and_time_in_any_order_keep_the_store_consistent() {
        use std::collections::{HashMap, HashSet};
        for budget in [MAP_FLOOR + QUEUE_FLOOR + 5_000, 4 << 20] {
            let store = MemoryStore::with_budget(Duration::from_secs(30), budget).max_reply_len(300);
            let (mut running, mut made) = (HashSet::new(), HashMap::new());
            let (mut runs, mut forgotten, mut full) = (0, 0, 0);
            let mut state = 0x9e37_79b9_7f4a_7c15_u64;
            for _ in 0..6_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n = state % 40;
                match (state >> 8) % 8 {
                    0..=3 => match store.claim(&key(n)).await {
                        Claim::Running => assert!(running.contains(&n), "{n}: running, but not claimed"),
                        Claim::Done(reply) => {
                            assert!(!running.contains(&n), "{n}: a running handler's claim answered");
                            assert!(reply.is_empty() || made.get(&n) == Some(&reply), "{n}: not the reply made");
                        }
                        Claim::Run => {
                            assert!(!running.contains(&n), "{n}: a running handler forgotten");
                            forgotten += usize::from(made.remove(&n).is_some());
                            running.insert(n);
                            runs += 1;
                        }
                        // Only for a delivery it doesn't know: a reply made was forgotten.
                        Claim::Full => {
                            assert!(!running.contains(&n), "{n}: running, yet full");
                            forgotten += usize::from(made.remove(&n).is_some());
                            full += 1;
                        }
                        Claim::Failed(e) => panic!("{e}"),
                    },
                    4..=6 => {
                        if running.remove(&n) {
                            let reply = Bytes::from(vec![b'r'; (state >> 16) as usize % 400]);
                            store.complete(&key(n), reply.clone()).await.unwrap();
                            made.insert(n, reply);
                        }
                    }
                    _ => tokio::time::advance(Duration::from_millis((state >> 16) % 12_000)).await,
                }
                assert_consistent(&store);
                assert!(store.bytes() <= budget, "never over its budget");
            }
            // Each path was taken, in each store.
            assert!(runs > 100 && forgotten > 10, "{runs} runs, {forgotten} forgotten");
            if budget < 1 << 20 {
                assert!(full > 0, "the small store filled");
            }
        }
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
