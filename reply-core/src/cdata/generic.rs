//! The escaping code, written once for any [`Vector`]: `dispatch.rs` instantiates it with the
//! vectors the CPU has, in code compiled for them.
//!
//! Two tests run over blocks of a value, each lane looking at one byte and the byte after it:
//!
//! - the rough one ([`Lanes::rough`]), on every block of every value: a byte up to 0x1F (tab,
//!   LF and CR included), a `]`, or the pair `EF BF`. Cheap, and never false where a special
//!   spot starts;
//! - the exact one ([`Lanes::exact`]), only on a block where the rough one found something: a
//!   control XML forbids, the pair `]]`, or the pair `EF BF`. Each of its hits is a candidate that
//!   [`classify_at`] settles by the bytes after it.

use core::mem::MaybeUninit;

use super::vector::{FromWords, Vector};
use super::{NoRoom, Piece, SPLIT, Special, classify_at};

/// The bytes the tests compare lanes with, each in every lane: made once per value.
#[derive(Clone, Copy)]
pub(crate) struct Lanes<V> {
    /// 0x1F, the last C0 control.
    last_control: V,
    close: V,
    ef: V,
    bf: V,
    tab: V,
    line_feed: V,
    carriage_return: V,
}

impl<V: Vector> Lanes<V> {
    #[inline(always)]
    pub(super) fn new(cpu: V::Cpu) -> Self {
        Lanes {
            last_control: V::splat(cpu, 0x1F),
            close: V::splat(cpu, b']'),
            ef: V::splat(cpu, 0xEF),
            bf: V::splat(cpu, 0xBF),
            tab: V::splat(cpu, b'\t'),
            line_feed: V::splat(cpu, b'\n'),
            carriage_return: V::splat(cpu, b'\r'),
        }
    }

    /// Lanes of `a` where a special spot may start, `b` being the bytes one on: a byte up to
    /// 0x1F, a `]` (alone: the pair `]]` takes two operations more, and `]` is rare in text), or
    /// the pair `EF BF`.
    #[inline(always)]
    pub(super) fn rough(&self, a: V, b: V) -> V {
        let control = a.min(self.last_control).eq(a);
        let close = a.eq(self.close);
        let nonchar = a.eq(self.ef).and(b.eq(self.bf));
        control.or(close).or(nonchar)
    }

    /// Lanes of `a` where a candidate starts: a control other than tab, LF and CR, the pair `]]`,
    /// or the pair `EF BF`.
    #[inline(always)]
    pub(super) fn exact(&self, a: V, b: V) -> V {
        let low = a.min(self.last_control).eq(a);
        let allowed = a.eq(self.tab).or(a.eq(self.line_feed)).or(a.eq(self.carriage_return));
        let control = low.and_not(allowed);
        let close = a.eq(self.close).and(b.eq(self.close));
        let nonchar = a.eq(self.ef).and(b.eq(self.bf));
        control.or(close).or(nonchar)
    }
}

/// Copies `src` into `dst`, of its length, which is more than `V::BYTES`, and looks at it with
/// the rough test as it goes. `None`: nothing in it needs escaping, and all of it is copied.
/// `Some(at)`: something at or after `at` may; the bytes before `at` are copied, and need none.
///
/// Four blocks at a time while there are more than four blocks' worth left (one branch for
/// them), then as [`copy_checked_few`].
#[inline(always)]
pub(super) fn copy_checked<V: Vector>(cpu: V::Cpu, dst: &mut [MaybeUninit<u8>], src: &[u8]) -> Option<usize> {
    let n = src.len();
    let lanes = Lanes::<V>::new(cpu);
    // What is left to copy, in both: indexed from its start by constants, so that the bounds
    // checks of the loads and stores are the loop's own condition.
    let (mut from, mut to) = (src, &mut dst[..n]);
    while from.len() > 4 * V::BYTES {
        let block = |k: usize| (V::load(cpu, from, k * V::BYTES), V::load(cpu, from, k * V::BYTES + 1));
        let ((a0, b0), (a1, b1), (a2, b2), (a3, b3)) = (block(0), block(1), block(2), block(3));
        a0.store(to, 0);
        a1.store(to, V::BYTES);
        a2.store(to, 2 * V::BYTES);
        a3.store(to, 3 * V::BYTES);
        let first = lanes.rough(a0, b0).or(lanes.rough(a1, b1));
        let second = lanes.rough(a2, b2).or(lanes.rough(a3, b3));
        if first.or(second).mask() != 0 {
            return Some(n - from.len());
        }
        from = &from[4 * V::BYTES..];
        to = &mut to[4 * V::BYTES..];
    }
    let done = n - from.len();
    copy_checked_few(&lanes, cpu, dst, src, done)
}

/// [`copy_checked`] of a value of more than one block from `done` on, the bytes before it
/// copied and needing no escaping: one block at a time while more than a block is left, then the
/// last block, which may overlap the one before: the `BYTES` positions before the last byte,
/// with their pairs, and the last byte alone (a `]` or `EF` that ends the value starts nothing).
/// For a value of a few blocks (its length known to be at most four blocks where it is
/// inlined), straight.
#[inline(always)]
pub(super) fn copy_checked_few<V: Vector>(
    lanes: &Lanes<V>,
    cpu: V::Cpu,
    dst: &mut [MaybeUninit<u8>],
    src: &[u8],
    done: usize,
) -> Option<usize> {
    let n = src.len();
    let (mut from, mut to) = (&src[done..], &mut dst[done..n]);
    while from.len() > V::BYTES {
        let (a, b) = (V::load(cpu, from, 0), V::load(cpu, from, 1));
        a.store(to, 0);
        if lanes.rough(a, b).mask() != 0 {
            return Some(n - from.len());
        }
        from = &from[V::BYTES..];
        to = &mut to[V::BYTES..];
    }
    let last = n - V::BYTES - 1;
    let (a, b) = (V::load(cpu, src, last), V::load(cpu, src, last + 1));
    b.store(dst, last + 1);
    (lanes.rough(a, b).mask() != 0 || src[n - 1] <= 0x1F).then_some(last)
}

/// Copies `src` into `dst`, of its length, at most 16 bytes, with at most two moves of a word,
/// and says whether something in it may need escaping, with one rough test of a vector of 16
/// lanes assembled from the same words. From 8 bytes on, the words are the first eight and the
/// last eight (the same bytes where they overlap): each pair of neighbouring bytes is in one of
/// them, so every pair is looked at (one across them that isn't a pair of the value only costs
/// an exact search). Shorter, one word, with spaces after the bytes.
#[inline(always)]
pub(super) fn copy_checked_short<V: Vector + FromWords>(
    lanes: &Lanes<V>,
    cpu: V::Cpu,
    dst: &mut [MaybeUninit<u8>],
    src: &[u8],
) -> bool {
    let n = src.len();
    let dst = &mut dst[..n];
    let (low, high) = match (src.first_chunk::<8>(), src.last_chunk::<8>()) {
        (Some(first), Some(last)) => {
            dst[..8].write_copy_of_slice(first);
            dst[n - 8..].write_copy_of_slice(last);
            (u64::from_le_bytes(*first), u64::from_le_bytes(*last))
        }
        _ => {
            copy_under_8(dst, src);
            (padded_word(src), SPACES)
        }
    };
    let a = V::from_words(cpu, low, high);
    // The same lanes one byte on: the last pairs with a zero, which pairs with nothing.
    let b = V::from_words(cpu, low >> 8 | high << 56, high >> 8);
    lanes.rough(a, b).mask() != 0
}

/// Eight spaces.
const SPACES: u64 = u64::from_le_bytes([b' '; 8]);

/// Up to 8 bytes as a little-endian word, the bytes after them spaces; read with two loads that
/// may overlap, not byte by byte.
#[inline(always)]
fn padded_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let word = match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>(), bytes.first_chunk::<2>()) {
        (Some(first), Some(last), _) => {
            u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << (8 * (n - 4))
        }
        (None, _, Some(first)) => u64::from(u16::from_le_bytes(*first)) | u64::from(bytes[n - 1]) << (8 * (n - 1)),
        _ => bytes.first().map_or(0, |&b| u64::from(b)),
    };
    match n {
        8.. => word,
        _ => word | SPACES << (8 * n),
    }
}

/// Copies fewer than 8 bytes with two moves at most, not a call to `memcpy`.
#[inline(always)]
fn copy_under_8(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    let n = src.len();
    match (src.first_chunk::<4>(), src.first_chunk::<2>()) {
        (Some(first), _) => {
            dst[..4].write_copy_of_slice(first);
            dst[n - 4..].write_copy_of_slice(&src[n - 4..]);
        }
        (None, Some(first)) => {
            dst[..2].write_copy_of_slice(first);
            dst[n - 2..].write_copy_of_slice(&src[n - 2..]);
        }
        _ => {
            dst.write_copy_of_slice(src);
        }
    }
}

/// The candidates of a value from a position on, in order: each position where a control XML
/// forbids, the pair `]]` or the pair `EF BF` starts. A block at a time: the rough test first,
/// the exact one where it hits, and each bit of the exact one's mask in turn.
struct Candidates<'b, V: Vector> {
    bytes: &'b [u8],
    cpu: V::Cpu,
    lanes: Lanes<V>,
    /// Where the block of `bits` starts.
    block: usize,
    /// The candidates of that block not yet given, one bit each.
    bits: u32,
    /// Where the next block starts.
    next: usize,
}

impl<'b, V: Vector> Candidates<'b, V> {
    #[inline(always)]
    fn new(cpu: V::Cpu, bytes: &'b [u8], from: usize) -> Self {
        Candidates { bytes, cpu, lanes: Lanes::new(cpu), block: from, bits: 0, next: from }
    }

    /// The candidates of the block at `at`, as bits.
    #[inline(always)]
    fn bits_at(&self, at: usize) -> u32 {
        let (bytes, cpu) = (self.bytes, self.cpu);
        if at + V::BYTES < bytes.len() {
            let (a, b) = (V::load(cpu, bytes, at), V::load(cpu, bytes, at + 1));
            return match self.lanes.rough(a, b).mask() {
                0 => 0,
                _ => self.lanes.exact(a, b).mask(),
            };
        }
        // The last positions, fewer than a block and one: after spaces, which start nothing,
        // on the stack.
        let rest = &bytes[at..];
        let mut padded = [b' '; 64];
        padded[..rest.len()].copy_from_slice(rest);
        let (a, b) = (V::load(cpu, &padded, 0), V::load(cpu, &padded, 1));
        self.lanes.exact(a, b).mask() & ((1u64 << rest.len()) - 1) as u32
    }
}

impl<V: Vector> Iterator for Candidates<'_, V> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            if self.next >= self.bytes.len() {
                return None;
            }
            self.block = self.next;
            self.bits = self.bits_at(self.block);
            self.next += V::BYTES;
        }
        let at = self.block + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(at)
    }
}

/// Calls `piece` with each piece of the escaped form of `s[from..]`, in order: the runs copied
/// as they are, and what replaces each special spot between them. Stops, and returns false, when
/// `piece` does.
///
/// Every special spot starts at an ASCII byte or at the lead byte `EF`, and every cut falls
/// before such a byte or after `]]`, so each run is on character boundaries.
#[inline(always)]
pub(super) fn pieces<V: Vector>(cpu: V::Cpu, s: &str, from: usize, piece: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
    let bytes = s.as_bytes();
    let mut start = from;
    for at in Candidates::<V>::new(cpu, bytes, from) {
        let (end, replacement, resume) = match classify_at(bytes, at) {
            Some(Special::Control) => (at, REPLACEMENT, at + 1),
            Some(Special::Nonchar) => (at, REPLACEMENT, at + 3),
            Some(Special::SectionEnd) => (at + 2, SPLIT, at + 2),
            None => continue,
        };
        // No candidate starts inside the spot before it (inside a U+FFFE or U+FFFF, or at the
        // second `]` of a `]]>`), so `start <= end`; equal for spots side by side.
        if end > start && !piece(Piece::Run(&s[start..end])) {
            return false;
        }
        if !piece(Piece::Replacement(replacement)) {
            return false;
        }
        start = resume;
    }
    start >= bytes.len() || piece(Piece::Run(&s[start..]))
}

/// U+FFFD, what replaces a forbidden character.
const REPLACEMENT: &str = "\u{FFFD}";

/// The number of bytes escaping adds to `bytes`.
#[inline(always)]
pub(super) fn extra_len<V: Vector>(cpu: V::Cpu, bytes: &[u8]) -> usize {
    let mut extra = 0;
    for at in Candidates::<V>::new(cpu, bytes, 0) {
        match classify_at(bytes, at) {
            // One byte becomes the three of U+FFFD.
            Some(Special::Control) => extra += 2,
            // `]]>` becomes `]]` + SPLIT + `>`.
            Some(Special::SectionEnd) => extra += SPLIT.len(),
            // Three bytes become three.
            Some(Special::Nonchar) | None => {}
        }
    }
    extra
}

/// Writes the escaped form of `s` into `room`, whose first `from` bytes already hold `s[..from]`,
/// which needs no escaping: the number of bytes it holds then, or [`NoRoom`].
///
/// A run of up to 16 bytes is copied as one move of 16 when there are 16 bytes from its start in
/// both `s` and `room` (the bytes after the run are written over next, or are past the end).
#[inline(always)]
pub(super) fn escape_into<V: Vector>(
    cpu: V::Cpu,
    room: &mut [MaybeUninit<u8>],
    s: &str,
    from: usize,
) -> Result<usize, NoRoom> {
    let bytes = s.as_bytes();
    let mut out = from;
    let mut start = from;
    for at in Candidates::<V>::new(cpu, bytes, from) {
        let special = classify_at(bytes, at);
        let end = match special {
            Some(Special::Control | Special::Nonchar) => at,
            Some(Special::SectionEnd) => at + 2,
            None => continue,
        };
        let run = &bytes[start..end];
        match (bytes[start..].first_chunk::<16>(), room.get_mut(out..out + 16)) {
            (Some(sixteen), Some(dst)) if run.len() <= 16 => {
                dst.write_copy_of_slice(sixteen);
            }
            _ => {
                room.get_mut(out..out + run.len()).ok_or(NoRoom)?.write_copy_of_slice(run);
            }
        }
        out += run.len();
        let replacement = match special {
            Some(Special::SectionEnd) => SPLIT.as_bytes(),
            _ => REPLACEMENT.as_bytes(),
        };
        room.get_mut(out..out + replacement.len()).ok_or(NoRoom)?.write_copy_of_slice(replacement);
        out += replacement.len();
        start = match special {
            Some(Special::Control) => at + 1,
            Some(Special::Nonchar) => at + 3,
            _ => at + 2,
        };
    }
    let run = &bytes[start..];
    room.get_mut(out..out + run.len()).ok_or(NoRoom)?.write_copy_of_slice(run);
    Ok(out + run.len())
}
