//! The memory store's cost a delivery where it matters: a claim of a new delivery, and its
//! reply, in a store that already holds many (a window's deliveries under load are hundreds of
//! thousands, in maps no cache holds), growing as the load benchmark's store does, and at its
//! window, where each claim also forgets the oldest delivery.
//!
//! `cargo bench -p passive-reply-benches --bench store` (BENCHMARKS.md has the figures).

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use criterion::{Criterion, criterion_group};
use passive_reply::DedupKey;
use passive_reply::serve::{Claim, MemoryStore, ReplyStore};
use passive_reply_benches::ready;

/// A key like a text message's: the account, the user's openid, the message's id.
fn key(n: u64) -> DedupKey {
    DedupKey::new("gh_0123456789ab", &format!("oUser{n:023}-{n}"))
}

/// A store of an hour's window (nothing leaves during the run) and 4 GiB, holding `held`
/// deliveries, each with a 200-byte reply; and the next key's number.
fn store_holding(held: u64, reply: &Bytes) -> (MemoryStore, u64) {
    let store = MemoryStore::with_budget(Duration::from_secs(3600), 4 << 30);
    for n in 0..held {
        let key = key(n);
        assert_eq!(ready(store.claim(&key)), Claim::Run);
        ready(store.complete(&key, reply.clone())).expect("recorded");
    }
    (store, held)
}

/// The time of `iters` new deliveries' claims and replies in `store`, the keys numbered from
/// `next` on (made before the clock starts: only the store is timed); `next` moves past them.
fn new_deliveries(store: &MemoryStore, next: &mut u64, iters: u64, reply: &Bytes) -> Duration {
    let keys: Vec<DedupKey> = (*next..*next + iters).map(key).collect();
    *next += iters;
    let start = Instant::now();
    for key in &keys {
        black_box(ready(store.claim(key)));
        black_box(ready(store.complete(key, reply.clone()))).expect("recorded");
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let reply = Bytes::from(vec![b'r'; 200]);
    let mut group = c.benchmark_group("memory store, a new delivery's claim and reply");
    for held in [1_000, 1_000_000] {
        let (store, mut next) = store_holding(held, &reply);
        group.bench_function(format!("holding {held}"), |b| {
            b.iter_custom(|iters| new_deliveries(&store, &mut next, iters, &reply))
        });
    }
    // At its window: a store of a 1 s window, filled for 1.5 s first, so that each claim also
    // forgets the delivery claimed a second before it (about as many as the loop makes in a
    // second: some two million).
    let store = MemoryStore::with_budget(Duration::from_secs(1), 4 << 30);
    let mut next = 0;
    let filling = Instant::now();
    while filling.elapsed() < Duration::from_millis(1_500) {
        new_deliveries(&store, &mut next, 1_000, &reply);
    }
    group
        .bench_function("at a 1 s window", |b| b.iter_custom(|iters| new_deliveries(&store, &mut next, iters, &reply)));
    group.finish();
}

// The macro defines a public function that has no place for documentation.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
    }
}

fn main() {
    group::benches();
    Criterion::default().configure_from_args().final_summary();
}
