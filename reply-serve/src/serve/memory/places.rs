//! The memory store's map from a key's hash to its delivery's slot: [`Places`], an open-addressing
//! table whose every bucket is one cache line, holding seven places and their tags together.
//!
//! A map of a window's deliveries under load holds hundreds of thousands of places, in memory no
//! cache holds, and each new delivery looks its key up and inserts it. A table that keeps its
//! tags apart from its places (hashbrown's, which the store used before) misses the cache twice
//! for that: once for the tags, once for the place written. Here the tags and the places of a
//! bucket share its line: one miss. The design is folly's F14's, cut down to what the store
//! needs: buckets of 7 places probed in turn from the key's own bucket, each with a count of the
//! places that were put past it because it was full (its *overflow*), so that a lookup stops at
//! the first bucket that has none, and a removal takes its place's passage off those counts (no
//! tombstones to clean up, so a store at its window, which removes as much as it inserts, keeps
//! its probes short without ever being rebuilt).

/// Where a map finds a delivery: its slot's number, and the high half of its key's hash (so that
/// the table grows without reading the slots, and a lookup reads a slot only for a place whose
/// 32 bits match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) number: u32,
    pub(super) high: u32,
}

/// How many places a bucket holds: seven of 8 bytes, and their tags and its overflow in 8 more,
/// one 64-byte line.
const WIDTH: usize = 7;

/// A bucket: one cache line (aligned to it).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    /// Each place's tag, 0 for an empty place: the top seven bits of its `high`, with the eighth
    /// bit set.
    tags: [u8; WIDTH],
    /// How many places are in later buckets because this one was full when they came, up to 255
    /// (which then stays: a lookup probes on past it, as it must).
    overflow: u8,
    places: [Place; WIDTH],
}

const EMPTY_BUCKET: Bucket = Bucket { tags: [0; WIDTH], overflow: 0, places: [Place { number: 0, high: 0 }; WIDTH] };

/// What an entry costs at the table's lowest load, just after it grows (each bucket then 7/16
/// full): a bucket's 64 bytes over 49/16 places.
pub(super) const BYTES_PER_PLACE_AT_LOWEST: usize = 64 * 16 / (WIDTH * WIDTH) + 1;

/// The bytes of the smallest table, one bucket.
pub(super) const SMALLEST: usize = std::mem::size_of::<Bucket>();

/// A place's tag.
fn tag(high: u32) -> u8 {
    0x80 | (high >> 25) as u8
}

/// Bit 7 of each byte of `x` that is zero, and no other bit (the exact form: no carry runs from
/// one byte into the next).
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

impl Bucket {
    /// Which of its places have tag `tag` (0: which are empty), as bit 7 of byte `at` for place
    /// `at`: its tags as one word, with an eighth byte that matches no tag.
    fn with_tag(&self, tag: u8) -> u64 {
        let [a, b, c, d, e, f, g] = self.tags;
        let word = u64::from_le_bytes([a, b, c, d, e, f, g, !tag]);
        zero_bytes(word ^ (u64::from(tag) * 0x0101_0101_0101_0101))
    }
}

/// The place of the lowest bit of a [`Bucket::with_tag`] mask that has one.
fn first(mask: u64) -> usize {
    mask.trailing_zeros() as usize / 8
}

/// The places of a map: see the module's documentation.
#[derive(Debug, Default)]
pub(super) struct Places {
    /// A power of two of buckets, or none before the first place.
    buckets: Vec<Bucket>,
    len: usize,
}

/// Where a place is: its bucket and its place in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct At {
    bucket: usize,
    at: usize,
}

impl Places {
    /// How many places it holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The bucket a place of `high` belongs in: its low bits (the tag is its high ones).
    fn home(&self, high: u32) -> usize {
        high as usize & (self.buckets.len() - 1)
    }

    /// Where the place of `high` for which `is` holds is, if there is one: its own bucket first,
    /// then each after it in turn while the one before has places put past it.
    #[inline]
    pub(super) fn find(&self, high: u32, is: impl Fn(&Place) -> bool) -> Option<At> {
        if self.buckets.is_empty() {
            return None;
        }
        let (tag, mask) = (tag(high), self.buckets.len() - 1);
        let mut bucket = self.home(high);
        for _ in 0..self.buckets.len() {
            let b = &self.buckets[bucket];
            let mut same = b.with_tag(tag);
            while same != 0 {
                let at = first(same);
                if is(&b.places[at]) {
                    return Some(At { bucket, at });
                }
                same &= same - 1;
            }
            if b.overflow == 0 {
                return None;
            }
            bucket = (bucket + 1) & mask;
        }
        None
    }

    /// The place at `at`.
    pub(super) fn get(&self, at: At) -> &Place {
        &self.buckets[at.bucket].places[at.at]
    }

    /// The place at `at`.
    pub(super) fn get_mut(&mut self, at: At) -> &mut Place {
        &mut self.buckets[at.bucket].places[at.at]
    }

    /// Puts `place` in, which is not in yet (its caller looked), growing first if it is 7/8 full.
    #[inline]
    pub(super) fn insert(&mut self, place: Place) {
        if self.len * 8 >= self.buckets.len() * WIDTH * 7 {
            self.grow();
        }
        self.put(place);
        self.len += 1;
    }

    /// Puts `place` in the first empty place from its bucket on, counting it in the overflow of
    /// each full bucket it passes. There is one: the table is at most 7/8 full.
    fn put(&mut self, place: Place) {
        let mask = self.buckets.len() - 1;
        let mut bucket = self.home(place.high);
        loop {
            let b = &mut self.buckets[bucket];
            let empty = b.with_tag(0);
            if empty != 0 {
                let at = first(empty);
                b.tags[at] = tag(place.high);
                b.places[at] = place;
                return;
            }
            b.overflow = b.overflow.saturating_add(1);
            bucket = (bucket + 1) & mask;
        }
    }

    /// Takes the place at `at` out.
    pub(super) fn remove(&mut self, at: At) {
        let mask = self.buckets.len() - 1;
        let b = &mut self.buckets[at.bucket];
        b.tags[at.at] = 0;
        let high = b.places[at.at].high;
        self.len -= 1;
        // Its passage off the overflow of each bucket it was put past (a count at 255 stays).
        let mut bucket = self.home(high);
        while bucket != at.bucket {
            let b = &mut self.buckets[bucket];
            if b.overflow < u8::MAX {
                b.overflow -= 1;
            }
            bucket = (bucket + 1) & mask;
        }
    }

    /// Doubles the buckets (or makes the first), and puts every place in again.
    #[cold]
    fn grow(&mut self) {
        let buckets = (self.buckets.len() * 2).max(1);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY_BUCKET; buckets]);
        for b in &old {
            for at in 0..WIDTH {
                if b.tags[at] != 0 {
                    self.put(b.places[at]);
                }
            }
        }
    }

    /// Its places, in no order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &Place> {
        self.buckets.iter().flat_map(|b| (0..WIDTH).filter(|&at| b.tags[at] != 0).map(move |at| &b.places[at]))
    }

    /// Checks what the table keeps of its places: its count, each place's tag, and each
    /// bucket's overflow against the places put past it (a count at 255 may be above them).
    #[cfg(test)]
    pub(super) fn assert_consistent(&self) {
        let n = self.buckets.len();
        let mut passed = vec![0usize; n];
        let mut len = 0;
        for (bucket, b) in self.buckets.iter().enumerate() {
            for at in 0..WIDTH {
                if b.tags[at] == 0 {
                    continue;
                }
                len += 1;
                let high = b.places[at].high;
                assert_eq!(b.tags[at], tag(high));
                let mut from = self.home(high);
                while from != bucket {
                    passed[from] += 1;
                    from = (from + 1) % n;
                }
            }
        }
        assert_eq!(len, self.len);
        for (b, passed) in self.buckets.iter().zip(passed) {
            assert!(
                usize::from(b.overflow) == passed || b.overflow == u8::MAX && passed <= 255 || passed >= 255,
                "overflow {} for {passed} places put past",
                b.overflow
            );
            assert!(usize::from(b.overflow) >= passed.min(255), "a place put past a bucket not counted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Inserts, lookups and removals in a random order against a `HashMap`, with `high`s made to
    /// share their buckets: `shared` of their low bits equal, so that at every size long runs of
    /// buckets fill, places are put past many of them (past 255, where a count stays), and
    /// probes wrap around the table's end. The table agrees with the map after every step.
    #[test]
    fn agrees_with_a_map_whatever_the_collisions() {
        for shared in [0, 4, 12] {
            let mut places = Places::default();
            let mut model: HashMap<u32, u32> = HashMap::new(); // number -> high
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            for step in 0..20_000u32 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let high = ((state >> 16) as u32) & !((1u32 << shared) - 1) | 0x5a5a_5a5a & ((1u32 << shared) - 1);
                match state % 5 {
                    // Insert (more often than remove, so that it grows).
                    0..=2 => {
                        let number = step;
                        places.insert(Place { number, high });
                        model.insert(number, high);
                    }
                    // Remove one that is there, found by its number.
                    3 => {
                        let Some((&number, &high)) = model.iter().next() else { continue };
                        let at = places.find(high, |p| p.number == number).expect("a place put in is found");
                        assert_eq!(*places.get(at), Place { number, high });
                        places.remove(at);
                        model.remove(&number);
                    }
                    // Look up one that isn't there.
                    _ => assert_eq!(places.find(high, |p| p.number == u32::MAX), None),
                }
                if step % 1_000 == 0 || step > 19_900 {
                    places.assert_consistent();
                }
            }
            places.assert_consistent();
            assert_eq!(places.len(), model.len());
            for (&number, &high) in &model {
                let at = places.find(high, |p| p.number == number).expect("every place is found");
                assert_eq!(places.get(at).high, high);
            }
            let mut numbers: Vec<u32> = places.iter().map(|p| p.number).collect();
            numbers.sort_unstable();
            let mut expected: Vec<u32> = model.keys().copied().collect();
            expected.sort_unstable();
            assert_eq!(numbers, expected, "shared {shared}");
        }
    }

    /// A bucket's tags matched as one word: exactly the places with the tag, whatever the others
    /// hold (tags of every kind side by side in 50,000 buckets: 0, the wanted tag, tags one bit
    /// away from it), and never the eighth byte.
    #[test]
    fn a_bucket_matches_exactly_its_places_of_a_tag() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let wanted = [0u8, 0x80, 0x81, 0xC0, 0xFE, 0xFF][(state % 6) as usize];
            let near = [0, wanted, wanted ^ 1, wanted ^ 0x80, wanted.wrapping_add(1), 0x7F, 0xFF, 0x01];
            let mut b = EMPTY_BUCKET;
            for at in 0..WIDTH {
                b.tags[at] = near[(state >> (8 + 3 * at)) as usize % near.len()];
            }
            let expected: u64 = (0..WIDTH).filter(|&at| b.tags[at] == wanted).map(|at| 0x80 << (8 * at)).sum();
            assert_eq!(b.with_tag(wanted), expected, "{:x?} for {wanted:#x}", b.tags);
        }
    }

    /// A table emptied by removals keeps no count of places put past its buckets, so a lookup
    /// stops at the first bucket again.
    #[test]
    fn removals_take_their_passage_off() {
        let mut places = Places::default();
        // Twenty places of one bucket (low bits 0 at every size up to 2^16 buckets).
        for number in 0..20 {
            places.insert(Place { number, high: number << 25 | 0x10000 });
        }
        assert!(places.buckets.iter().any(|b| b.overflow > 0));
        for number in (0..20).rev() {
            let at = places.find(number << 25 | 0x10000, |p| p.number == number).unwrap();
            places.remove(at);
            places.assert_consistent();
        }
        assert!(places.buckets.iter().all(|b| b.overflow == 0 && b.tags == [0; WIDTH]));
    }
}
