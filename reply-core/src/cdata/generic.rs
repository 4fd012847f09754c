//! The escaping code, written once for any [`Vector`]: `dispatch.rs` instantiates it with the
//! vectors the CPU has, in code compiled for them.
//!
//! Two tests run over blocks of a value, each lane looking at one byte and the byte after it:
//!
//! - the rough one ([`Lanes::rough`]), on every block of every value: a byte up to 0x1F (tab,
//!   LF and CR included), a `]`, or the pair `EF BF`. Cheap, and never false where a special
//!   spot starts;
//! - the exact one ([`Lanes::exact`]), only on a block where the rough one found something,
//!   with the byte after the pair too: a control XML forbids, `]]>`, or U+FFFE and U+FFFF
//!   (`EF BF BE`, `EF BF BF`), each kind a mask of its own.

use core::mem::MaybeUninit;

use super::vector::{FromWords, Vector};
use super::{NoRoom, Piece, SPLIT, Special};

/// The bytes the tests compare lanes with, each in every lane: made once per value.
#[derive(Clone, Copy)]
pub(crate) struct Lanes<V> {
    /// 0x1F, the last C0 control.
    last_control: V,
    close: V,
    ef: V,
    bf: V,
    /// 0xBD: U+FFFE and U+FFFF end in a byte above it.
    bd: V,
    greater_than: V,
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
            bd: V::splat(cpu, 0xBD),
            greater_than: V::splat(cpu, b'>'),
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
        self.low(a).or(a.eq(self.close)).or(self.pair(a, b))
    }

    /// [`rough`](Lanes::rough) of the last block of a value, `a` the bytes before its last byte
    /// and `b` the last ones: the controls and `]`s of `b`, so that the last byte is looked at
    /// too, and the pairs of `a` and `b`. (The first lane of `a`, whose control or `]` this leaves
    /// out, was looked at by the block before.)
    #[inline(always)]
    pub(super) fn rough_last(&self, a: V, b: V) -> V {
        self.low(b).or(b.eq(self.close)).or(self.pair(a, b))
    }

    /// [`rough`](Lanes::rough) of a first block and [`rough_last`](Lanes::rough_last) of a last
    /// one, in fewer operations: a lane is set if it is set in either (only whether any lane is
    /// set is asked). Their controls are found by their least byte.
    #[inline(always)]
    pub(super) fn rough_two(&self, (a0, b0): (V, V), (a1, b1): (V, V)) -> V {
        let close = a0.eq(self.close).or(b1.eq(self.close));
        let nonchar = self.pair(a0, b0).or(self.pair(a1, b1));
        self.low(a0.min(b1)).or(close).or(nonchar)
    }

    /// [`rough`](Lanes::rough) of four blocks at once, in fewer operations: a lane is set if it
    /// is set in any of the four. The controls of the four are found by their least byte.
    #[inline(always)]
    pub(super) fn rough4(&self, [a0, a1, a2, a3]: [V; 4], [b0, b1, b2, b3]: [V; 4]) -> V {
        let close = a0.eq(self.close).or(a1.eq(self.close)).or(a2.eq(self.close).or(a3.eq(self.close)));
        let nonchar = self.pair(a0, b0).or(self.pair(a1, b1)).or(self.pair(a2, b2).or(self.pair(a3, b3)));
        self.low(a0.min(a1).min(a2.min(a3))).or(close).or(nonchar)
    }

    /// The special spots that start in the lanes of `a`, by kind, `b` and `c` being the bytes
    /// one and two on: exactly, so that no spot needs looking at again.
    #[inline(always)]
    fn exact(&self, a: V, b: V, c: V) -> Spots {
        let allowed = a.eq(self.tab).or(a.eq(self.line_feed)).or(a.eq(self.carriage_return));
        let section_end = a.eq(self.close).and(b.eq(self.close)).and(c.eq(self.greater_than));
        let nonchar = self.pair(a, b).and_not(c.min(self.bd).eq(c));
        Spots { control: self.low(a).and_not(allowed).mask(), section_end: section_end.mask(), nonchar: nonchar.mask() }
    }

    /// Lanes of `x` that hold a byte up to 0x1F: a control (or a tab, line feed or carriage
    /// return, which [`exact`](Lanes::exact) tells apart).
    #[inline(always)]
    fn low(&self, x: V) -> V {
        x.min(self.last_control).eq(x)
    }

    /// Lanes where `a` and `b`, the bytes one on, are the pair `EF BF` that starts U+FFFE and
    /// U+FFFF.
    #[inline(always)]
    fn pair(&self, a: V, b: V) -> V {
        a.eq(self.ef).and(b.eq(self.bf))
    }
}

/// The special spots of a block, by kind: bit `i` for the position `i` from its start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Spots {
    /// Controls XML forbids (one byte, replaced by U+FFFD).
    control: u32,
    /// `]]>` (split after `]]`).
    section_end: u32,
    /// U+FFFE and U+FFFF (three bytes, replaced by U+FFFD).
    nonchar: u32,
}

impl Spots {
    #[inline(always)]
    fn all(&self) -> u32 {
        self.control | self.section_end | self.nonchar
    }

    /// The kind of the spot at bit `bit`, one of those of [`all`](Spots::all).
    #[inline(always)]
    fn kind(&self, bit: u32) -> Special {
        if self.control & bit != 0 {
            Special::Control
        } else if self.section_end & bit != 0 {
            Special::SectionEnd
        } else {
            Special::Nonchar
        }
    }

    /// Those at positions below `end`.
    #[inline(always)]
    fn below(self, end: usize) -> Self {
        let keep = if end >= 32 { u32::MAX } else { (1u32 << end) - 1 };
        Spots { control: self.control & keep, section_end: self.section_end & keep, nonchar: self.nonchar & keep }
    }
}

/// The special spots of the block of `bytes` at `at` (of `V::BYTES` positions, or fewer at the
/// end): the rough test first, the exact one only where it hits. The last positions are looked
/// at after spaces, which start nothing, on the stack.
#[inline(always)]
fn spots_at<V: Vector>(lanes: &Lanes<V>, cpu: V::Cpu, bytes: &[u8], at: usize) -> Spots {
    if at + V::BYTES + 2 <= bytes.len() {
        let (a, b) = (V::load(cpu, bytes, at), V::load(cpu, bytes, at + 1));
        return match lanes.rough(a, b).mask() {
            0 => Spots::default(),
            _ => lanes.exact(a, b, V::load(cpu, bytes, at + 2)),
        };
    }
    let rest = &bytes[at..];
    let mut padded = [b' '; 64];
    padded[..rest.len()].copy_from_slice(rest);
    let (a, b, c) = (V::load(cpu, &padded, 0), V::load(cpu, &padded, 1), V::load(cpu, &padded, 2));
    lanes.exact(a, b, c).below(rest.len())
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
        if lanes.rough4([a0, a1, a2, a3], [b0, b1, b2, b3]).mask() != 0 {
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
/// last block, which may overlap the one before: its pairs, and its last `BYTES` bytes for the
/// rest ([`Lanes::rough_last`]).
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
    (lanes.rough_last(a, b).mask() != 0).then_some(last)
}

/// [`copy_checked`] of a value of more than one block and at most two: the first block and the
/// last, straight.
#[inline(always)]
pub(super) fn copy_checked_two<V: Vector>(
    lanes: &Lanes<V>,
    cpu: V::Cpu,
    dst: &mut [MaybeUninit<u8>],
    src: &[u8],
) -> Option<usize> {
    let n = src.len();
    let dst = &mut dst[..n];
    let (a0, b0) = (V::load(cpu, src, 0), V::load(cpu, src, 1));
    let last = n - V::BYTES - 1;
    let (a1, b1) = (V::load(cpu, src, last), V::load(cpu, src, last + 1));
    a0.store(dst, 0);
    b1.store(dst, last + 1);
    match lanes.rough_two((a0, b0), (a1, b1)).mask() != 0 {
        true => Some(0),
        false => None,
    }
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

/// Calls `piece` with each piece of the escaped form of `s[from..]`, in order: the runs copied
/// as they are, and what replaces each special spot between them. Stops, and returns false, when
/// `piece` does.
///
/// Every special spot starts at an ASCII byte or at the lead byte `EF`, and every cut falls
/// before such a byte or after `]]`, so each run is on character boundaries; and none starts
/// inside another (inside a U+FFFE or U+FFFF, or at the second `]` of a `]]>`), so the runs are in
/// order.
#[inline(always)]
pub(super) fn pieces<V: Vector>(cpu: V::Cpu, s: &str, from: usize, piece: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
    let (bytes, lanes) = (s.as_bytes(), Lanes::<V>::new(cpu));
    let mut start = from;
    let mut block = from;
    while block < bytes.len() {
        let spots = spots_at(&lanes, cpu, bytes, block);
        let mut all = spots.all();
        while all != 0 {
            let at = block + all.trailing_zeros() as usize;
            let kind = spots.kind(all & all.wrapping_neg());
            all &= all - 1;
            let (end, resume) = ends(kind, at);
            if end > start && !piece(Piece::Run(&s[start..end])) {
                return false;
            }
            if !piece(Piece::Replacement(replacement(kind))) {
                return false;
            }
            start = resume;
        }
        block += V::BYTES;
    }
    start >= bytes.len() || piece(Piece::Run(&s[start..]))
}

/// Where the run before a spot of `kind` at `at` ends, and where the next one starts.
#[inline(always)]
fn ends(kind: Special, at: usize) -> (usize, usize) {
    match kind {
        Special::Control => (at, at + 1),
        Special::Nonchar => (at, at + 3),
        Special::SectionEnd => (at + 2, at + 2),
    }
}

/// What replaces a spot of `kind`.
#[inline(always)]
fn replacement(kind: Special) -> &'static str {
    match kind {
        Special::SectionEnd => SPLIT,
        Special::Control | Special::Nonchar => REPLACEMENT,
    }
}

/// U+FFFD, what replaces a forbidden character.
const REPLACEMENT: &str = "\u{FFFD}";

/// The number of bytes escaping adds to `bytes`: a block at a time, by counting its spots.
#[inline(always)]
pub(super) fn extra_len<V: Vector>(cpu: V::Cpu, bytes: &[u8]) -> usize {
    let lanes = Lanes::<V>::new(cpu);
    let mut extra = 0;
    let mut block = 0;
    while block < bytes.len() {
        let spots = spots_at(&lanes, cpu, bytes, block);
        // One byte becomes the three of U+FFFD; `]]>` becomes `]]` + SPLIT + `>`; the three bytes
        // of U+FFFE or U+FFFF become three.
        extra += 2 * spots.control.count_ones() as usize + SPLIT.len() * spots.section_end.count_ones() as usize;
        block += V::BYTES;
    }
    extra
}

/// Copies `piece` into `room` at `out`: where it ends, or [`NoRoom`].
#[inline(always)]
fn put<const N: usize>(room: &mut [MaybeUninit<u8>], out: usize, piece: &[u8; N]) -> Result<usize, NoRoom> {
    room.get_mut(out..out + N).ok_or(NoRoom)?.write_copy_of_slice(piece);
    Ok(out + N)
}

/// [`SPLIT`] and [`REPLACEMENT`] as arrays, for copies of a known length.
const SPLIT_BYTES: &[u8; 12] = match SPLIT.as_bytes().first_chunk() {
    Some(bytes) => bytes,
    None => panic!("SPLIT is 12 bytes"),
};
const REPLACEMENT_BYTES: &[u8; 3] = match REPLACEMENT.as_bytes().first_chunk() {
    Some(bytes) => bytes,
    None => panic!("U+FFFD is 3 bytes"),
};

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
    let (bytes, lanes) = (s.as_bytes(), Lanes::<V>::new(cpu));
    let (mut out, mut start, mut block) = (from, from, from);
    while block < bytes.len() {
        let spots = spots_at(&lanes, cpu, bytes, block);
        let mut all = spots.all();
        while all != 0 {
            let at = block + all.trailing_zeros() as usize;
            let kind = spots.kind(all & all.wrapping_neg());
            all &= all - 1;
            let (end, resume) = ends(kind, at);
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
            // Each replacement a copy of a known length, not a call.
            out = match kind {
                Special::SectionEnd => put(room, out, SPLIT_BYTES)?,
                Special::Control | Special::Nonchar => put(room, out, REPLACEMENT_BYTES)?,
            };
            start = resume;
        }
        block += V::BYTES;
    }
    let run = &bytes[start..];
    room.get_mut(out..out + run.len()).ok_or(NoRoom)?.write_copy_of_slice(run);
    Ok(out + run.len())
}
