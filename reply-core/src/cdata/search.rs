//! Finding, fast, where a value may need escaping.
//!
//! [`next_candidate`] returns the first position at or after `from` where a special spot *may*
//! start (a C0 control, the pair `]]`, or the pair `EF BF`), or `None` when no special spot starts
//! at or after `from`. The position it returns may turn out not to be special (a line feed, a `]]`
//! not followed by `>`, the `EF BF BD` of U+FFFD): the caller classifies it and searches again
//! after it. It never skips a special spot.
//!
//! On x86-64 the search looks at 16 bytes at a time with SSE2, which every x86-64 CPU has, and at
//! 32 bytes at a time with AVX2 when the CPU has it. Elsewhere it is a window of byte compares
//! written for the compiler to vectorize.
//!
//! [`copy_checking`] copies a value and runs the cheap part of the search over it in the same
//! pass: what a reply written straight into room its buffer already has does with each value.

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::Vectors;
#[cfg(target_arch = "x86_64")]
pub(super) use x86::{any_candidate, copy_checking, next_candidate_after};

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use portable::Vectors;
#[cfg(not(target_arch = "x86_64"))]
pub(super) use portable::{any_candidate, copy_checking, next_candidate, next_candidate as next_candidate_after};

/// Whether `b` is one of the C0 controls XML forbids (all but tab, LF, CR).
#[inline(always)]
pub(super) const fn is_forbidden_control(b: u8) -> bool {
    b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r'
}

/// The search without vector instructions: exact (it returns only positions that start a
/// control, `]]` or `EF BF`). Used where there is no x86-64 code, and by the tests as the
/// reference the vector code is held to.
#[cfg(any(test, not(target_arch = "x86_64")))]
pub(super) mod portable {
    use core::mem::MaybeUninit;

    use super::is_forbidden_control;

    #[inline(always)]
    fn starts_candidate(b0: u8, b1: u8) -> bool {
        is_forbidden_control(b0) | ((b0 == b']') & (b1 == b']')) | ((b0 == 0xEF) & (b1 == 0xBF))
    }

    /// Whether any of the 16 positions starting a window of 17 bytes is a candidate. Written
    /// without branches so that it compiles to a few vector compares.
    #[inline(always)]
    fn window_has_candidate(w: &[u8; 17]) -> bool {
        let mut any = false;
        for i in 0..16 {
            any |= starts_candidate(w[i], w[i + 1]);
        }
        any
    }

    /// Whether `bytes` may hold a special spot: false only when it has none.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(in super::super) fn any_candidate(bytes: &[u8]) -> bool {
        next_candidate(bytes, 0).is_some()
    }

    /// What the CPU has for [`copy_checking`]: nothing to know here.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Vectors;

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    impl Vectors {
        #[inline]
        pub(crate) fn detect() -> Self {
            Vectors
        }

        /// Runs `f`: there is no other code to compile it as.
        #[inline]
        pub(crate) fn compiled<R>(self, f: impl FnOnce(Vectors) -> R) -> R {
            f(self)
        }
    }

    /// Copies `src` into `dst` and says whether it may hold a special spot, as [`any_candidate`]
    /// does; `None`, and nothing copied, when their lengths differ.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(in super::super) fn copy_checking<const INLINE: bool>(
        dst: &mut [MaybeUninit<u8>],
        src: &[u8],
        _: Vectors,
    ) -> Option<bool> {
        if dst.len() != src.len() {
            return None;
        }
        crate::copy::copy(dst, src);
        Some(any_candidate(src))
    }

    pub(in super::super) fn next_candidate(bytes: &[u8], mut from: usize) -> Option<usize> {
        while let Some(window) = bytes.get(from..).and_then(|rest| rest.first_chunk::<17>()) {
            if window_has_candidate(window) {
                break;
            }
            from += 16;
        }
        // At most 16 positions from a window with a hit, or the last 16 bytes of the input.
        while from < bytes.len() {
            let next = bytes.get(from + 1).copied().unwrap_or(0);
            if starts_candidate(bytes[from], next) {
                return Some(from);
            }
            from += 1;
        }
        None
    }
}

/// The search with SSE2 and AVX2.
///
/// The `unsafe` code of `cdata` is here: unaligned vector loads from arrays the loads fit in;
/// the copies of [`copy_checking`], which, after it has compared the two lengths once, load and
/// store through pointers within them; and the calls into functions compiled for SSE2 (which
/// every x86-64 CPU has) and AVX2 (after the CPU has said it has it), among them the one that
/// runs a loop over articles compiled for AVX2 ([`Vectors::compiled`]). The vector compares
/// themselves are safe functions. `tests` below hold every path to the portable search, and
/// every copy to the bytes it copies, on inputs built to put each kind of spot at every offset
/// of a block; Miri runs them.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;
    use std::sync::OnceLock;

    /// Values this long and longer are searched with AVX2 when the CPU has it; shorter ones are
    /// not worth the check.
    const AVX2_FROM: usize = 64;

    #[inline]
    pub(in super::super) fn next_candidate(bytes: &[u8], from: usize) -> Option<usize> {
        if bytes.len().saturating_sub(from) >= AVX2_FROM && std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just said it has AVX2, all `avx2` needs.
            unsafe { avx2(bytes, from) }
        } else {
            // SAFETY: every x86-64 CPU has SSE2.
            unsafe { sse2(bytes, from) }
        }
    }

    /// Whether `bytes` may hold a special spot: false only when it has none. The common case,
    /// a value with nothing to escape, in one pass without a branch per block: the cheap masks
    /// of every block are or-ed together and looked at once at the end (the last block overlaps
    /// the one before it, which doesn't matter to an "any").
    #[inline]
    pub(in super::super) fn any_candidate(bytes: &[u8]) -> bool {
        if bytes.len() >= AVX2_FROM {
            next_candidate(bytes, 0).is_some()
        } else {
            // SAFETY: every x86-64 CPU has SSE2.
            unsafe { any_rough16(bytes) }
        }
    }

    /// A way of copying a value and checking it: `(dst, src, n)` to `maybe special`, for the
    /// lengths its place in a [`Table`] gives it.
    type Copy = unsafe fn(*mut u8, *const u8, usize) -> bool;

    /// The way of copying a value of each length, by 16-byte steps: entry `i` copies the
    /// lengths from `16 * i - 15` to `16 * i` (the first 0 alone), the last every longer one.
    type Table = [Copy; 10];

    /// With SSE2, which every x86-64 CPU has.
    static SSE2: Table = [
        copy_rough_short,
        copy_rough_short,
        copy_rough_two16,
        copy_rough16,
        copy_rough16,
        copy_rough16,
        copy_rough16,
        copy_rough16,
        copy_rough16,
        copy_alone,
    ];

    /// With AVX2 from 33 bytes on.
    static AVX2: Table = [
        copy_rough_short,
        copy_rough_short,
        copy_rough_two16,
        copy_rough_two32,
        copy_rough_two32,
        copy_rough_three32,
        copy_rough_three32,
        copy_rough_four32,
        copy_rough_four32,
        copy_alone,
    ];

    /// What the CPU has for [`copy_checking`], asked once per reply rather than once per value:
    /// the table of the ways it can run.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Vectors {
        table: &'static Table,
        /// Set only by [`Vectors::compiled`], in code compiled for AVX2 on a CPU that has it:
        /// the copies are then inlined into that code, without the table.
        in_avx2: bool,
    }

    /// The table [`Vectors::detect`] chose, once it has.
    static CHOSEN: OnceLock<&'static Table> = OnceLock::new();

    impl Vectors {
        /// The table for this CPU: chosen on the first call, then read back (where asking the
        /// CPU's features again takes a few more instructions per reply).
        #[inline]
        pub(crate) fn detect() -> Self {
            let table = CHOSEN.get_or_init(|| if std::is_x86_feature_detected!("avx2") { &AVX2 } else { &SSE2 });
            Vectors { table, in_avx2: false }
        }

        /// Runs `f` with these vectors, in code compiled for AVX2 when they are [`AVX2`]'s: what
        /// `f` inlines (a loop over articles and their values) then copies each value inline,
        /// with the AVX2 copies, where elsewhere each is a call through the table.
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub(crate) fn compiled<R>(self, f: impl FnOnce(Vectors) -> R) -> R {
            if core::ptr::eq(self.table, &AVX2) {
                // SAFETY: `AVX2` is chosen only when the CPU has said it has AVX2.
                unsafe { in_avx2(f) }
            } else {
                f(Vectors { table: self.table, in_avx2: false })
            }
        }
    }

    /// `f`, compiled for AVX2, with vectors that say so.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn in_avx2<R>(f: impl FnOnce(Vectors) -> R) -> R {
        f(Vectors { table: &AVX2, in_avx2: true })
    }

    /// Copies `src` into `dst` and says whether it may hold a special spot, as [`any_candidate`]
    /// does; `None`, and nothing copied, when their lengths differ. A value of a reply written
    /// into room its sink already has: one pass over a short value, for both.
    ///
    /// The lengths are compared here, once; the function it calls takes the two as pointers
    /// and a length, and reads and writes only within them (a version with slices spent more on
    /// its bounds checks than on the copy and the check, `benches/instructions.sh`), and is
    /// found in the table by the length, without a chain of compares.
    ///
    /// With `INLINE`, values of up to 32 bytes are copied inline, without a call: what a
    /// reply's own values take (its ids are that short); without, every value takes the table,
    /// which keeps a loop over articles small enough to keep its state in registers. In code
    /// compiled for AVX2 ([`Vectors::compiled`]: a loop over articles), every value is copied
    /// inline, the way for its length chosen by compares ([`copy_avx2`]).
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(in super::super) fn copy_checking<const INLINE: bool>(
        dst: &mut [MaybeUninit<u8>],
        src: &[u8],
        vectors: Vectors,
    ) -> Option<bool> {
        let n = src.len();
        if dst.len() != n {
            return None;
        }
        let (to, from) = (dst.as_mut_ptr().cast(), src.as_ptr());
        // Up to 32 bytes inline, longer through the table (`n + 15` doesn't overflow: a slice is
        // at most `isize::MAX` bytes long).
        if INLINE && n <= 32 {
            // SAFETY: as below, for the first two entries of the table.
            return Some(unsafe {
                if n <= 16 { copy_rough_short(to, from, n) } else { copy_rough_two16(to, from, n) }
            });
        }
        if vectors.in_avx2 {
            // SAFETY: as below; `in_avx2` is set only where the CPU has AVX2.
            return Some(unsafe { copy_avx2(to, from, n) });
        }
        let way = vectors.table[((n + 15) >> 4).min(9)];
        // SAFETY: `src` can be read and `dst` written for `n` bytes (they are that long, and
        // don't overlap: one is borrowed mutably); the table's entry for `n` takes `n` bytes
        // (its place says which lengths it gets, each function's `# Safety` which it takes); and
        // the CPU has what it is compiled for: SSE2, which every x86-64 CPU has, and AVX2 in
        // `AVX2`, chosen when the CPU said it has it.
        Some(unsafe { way(to, from, n) })
    }

    /// [`copy_checking`] in code compiled for AVX2: the way [`AVX2`] has for `n`, chosen by
    /// compares and inlined.
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `n` bytes, not overlapping; the CPU has AVX2.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    unsafe fn copy_avx2(dst: *mut u8, src: *const u8, n: usize) -> bool {
        // SAFETY: the caller's, and each way gets the lengths its `# Safety` says it takes.
        unsafe {
            match n {
                ..=16 => copy_rough_short(dst, src, n),
                17..=32 => copy_rough_two16(dst, src, n),
                33..=64 => copy_rough_two32(dst, src, n),
                65..=96 => copy_rough_three32(dst, src, n),
                97..=128 => copy_rough_four32(dst, src, n),
                _ => copy_alone(dst, src, n),
            }
        }
    }

    /// [`copy_checking`] of a long value: `memcpy`, then [`any_candidate`].
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `n` bytes, not overlapping.
    unsafe fn copy_alone(dst: *mut u8, src: *const u8, n: usize) -> bool {
        // SAFETY: the caller's.
        let (to, from) = unsafe { (core::slice::from_raw_parts_mut(dst, n), core::slice::from_raw_parts(src, n)) };
        to.copy_from_slice(from);
        any_candidate(from)
    }

    /// [`copy_checking`] of `n` <= 16 bytes: one vector, assembled in registers. From 8 bytes
    /// on, the first eight and the last eight (the same bytes where they overlap), copied and
    /// looked at as two words: each pair of neighbouring bytes is in one of the two halves, so
    /// every pair is looked at (and a pair across the halves that isn't one in the value only
    /// costs the exact search). Below 8, [`padded16`].
    ///
    /// # Safety
    /// `n` <= 16, `src` readable and `dst` writable for `n` bytes, not overlapping.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    unsafe fn copy_rough_short(dst: *mut u8, src: *const u8, n: usize) -> bool {
        let a = if n >= 8 {
            // SAFETY: 8 <= n: both words are within the `n` bytes of each.
            unsafe {
                let head = src.cast::<u64>().read_unaligned();
                let tail = src.add(n - 8).cast::<u64>().read_unaligned();
                dst.cast::<u64>().write_unaligned(head);
                dst.add(n - 8).cast::<u64>().write_unaligned(tail);
                _mm_set_epi64x(tail as i64, head as i64)
            }
        } else {
            // SAFETY: the caller's `n` bytes of each.
            let (to, from) = unsafe {
                (core::slice::from_raw_parts_mut(dst.cast::<MaybeUninit<u8>>(), n), core::slice::from_raw_parts(src, n))
            };
            // Two moves at most, not a call to `memcpy` for a few bytes.
            crate::copy::copy(to, from);
            // SAFETY: SSE2, which every x86-64 CPU has.
            unsafe { padded16(from) }
        };
        // SAFETY: SSE2, which every x86-64 CPU has. (Without `#[target_feature]`, which these
        // two short copies leave out so that they are inlined into the reply.)
        unsafe { rough16(a, _mm_srli_si128::<1>(a)) != 0 }
    }

    /// [`copy_checking`] of 17 to 32 bytes: the 16 positions from the first byte and the 16
    /// before the last, each block loaded with the block one byte on (the pairs), and the last
    /// byte alone (a control: nothing special starts with a `]` or `EF` that ends the value).
    /// Each block is stored as it is loaded.
    ///
    /// # Safety
    /// 17 <= `n` <= 32, `src` readable and `dst` writable for `n` bytes, not overlapping.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    unsafe fn copy_rough_two16(dst: *mut u8, src: *const u8, n: usize) -> bool {
        // SAFETY: with 17 <= n, the loads read bytes 0..17 and n - 17..n, the stores write
        // bytes 0..16 and n - 16..n, and the last byte is byte n - 1; SSE2, which every x86-64
        // CPU has.
        unsafe {
            let (a0, b0) = (load16_at(src, 0), load16_at(src, 1));
            let (a1, b1) = (load16_at(src, n - 17), load16_at(src, n - 16));
            _mm_storeu_si128(dst.cast(), a0);
            _mm_storeu_si128(dst.add(n - 16).cast(), b1);
            _mm_movemask_epi8(_mm_or_si128(rough_vector16(a0, b0), rough_vector16(a1, b1))) != 0
                || *src.add(n - 1) <= 0x1F
        }
    }

    /// [`copy_rough_two16`] 16 bytes at a time, for 17 bytes or more: the blocks at 0, 16, 32,
    /// … while 17 bytes are left from them, then the last as there. At the first block with a
    /// candidate, the rest is copied with `memcpy` (that exit also keeps the compiler from
    /// turning the loop's stores into a call to `memcpy` before it).
    ///
    /// # Safety
    /// 17 <= `n`, `src` readable and `dst` writable for `n` bytes, not overlapping.
    #[target_feature(enable = "sse2")]
    #[inline(never)]
    unsafe fn copy_rough16(dst: *mut u8, src: *const u8, n: usize) -> bool {
        let mut at = 0;
        // SAFETY: each block reads bytes at..at + 17 and writes at..at + 16, within n; the rest
        // as in `copy_rough_two16`.
        unsafe {
            while at + 17 <= n {
                let (a, b) = (load16_at(src, at), load16_at(src, at + 1));
                _mm_storeu_si128(dst.add(at).cast(), a);
                if rough16(a, b) != 0 {
                    core::ptr::copy_nonoverlapping(src.add(at), dst.add(at), n - at);
                    return true;
                }
                at += 16;
            }
            let (a, b) = (load16_at(src, n - 17), load16_at(src, n - 16));
            _mm_storeu_si128(dst.add(n - 16).cast(), b);
            rough16(a, b) != 0 || *src.add(n - 1) <= 0x1F
        }
    }

    /// [`copy_rough_two16`] of 33 to 64 bytes, 32 at a time.
    ///
    /// # Safety
    /// 33 <= `n` <= 64, `src` readable and `dst` writable for `n` bytes, not overlapping; the
    /// CPU has AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn copy_rough_two32(dst: *mut u8, src: *const u8, n: usize) -> bool {
        // SAFETY: as in `copy_rough_two16`, with 33 and 32 for 17 and 16.
        unsafe {
            let (a0, b0) = (load32_at(src, 0), load32_at(src, 1));
            let (a1, b1) = (load32_at(src, n - 33), load32_at(src, n - 32));
            _mm256_storeu_si256(dst.cast(), a0);
            _mm256_storeu_si256(dst.add(n - 32).cast(), b1);
            _mm256_movemask_epi8(_mm256_or_si256(rough_vector32(a0, b0), rough_vector32(a1, b1))) != 0
                || *src.add(n - 1) <= 0x1F
        }
    }

    /// [`copy_rough_two32`] of 65 to 96 bytes: the blocks from the first byte and 32 on, and the
    /// one before the last byte.
    ///
    /// # Safety
    /// 65 <= `n` <= 96, `src` readable and `dst` writable for `n` bytes, not overlapping; the
    /// CPU has AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn copy_rough_three32(dst: *mut u8, src: *const u8, n: usize) -> bool {
        // SAFETY: with 65 <= n, the loads read bytes 0..65 and n - 33..n, the stores write
        // bytes 0..64 and n - 32..n (all of them, as n <= 96), and the last byte is n - 1.
        unsafe {
            let (a0, b0) = (load32_at(src, 0), load32_at(src, 1));
            let (a1, b1) = (load32_at(src, 32), load32_at(src, 33));
            let (a2, b2) = (load32_at(src, n - 33), load32_at(src, n - 32));
            _mm256_storeu_si256(dst.cast(), a0);
            _mm256_storeu_si256(dst.add(32).cast(), a1);
            _mm256_storeu_si256(dst.add(n - 32).cast(), b2);
            let rough = _mm256_or_si256(rough_vector32(a0, b0), rough_vector32(a1, b1));
            _mm256_movemask_epi8(_mm256_or_si256(rough, rough_vector32(a2, b2))) != 0 || *src.add(n - 1) <= 0x1F
        }
    }

    /// [`copy_rough_two32`] of 65 to 128 bytes: the blocks from the first byte and 32 on, and
    /// the two before the last byte.
    ///
    /// # Safety
    /// 65 <= `n` <= 128, `src` readable and `dst` writable for `n` bytes, not overlapping; the
    /// CPU has AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn copy_rough_four32(dst: *mut u8, src: *const u8, n: usize) -> bool {
        // SAFETY: with 65 <= n, the loads read bytes 0..65 and n - 65..n, the stores write
        // bytes 0..64 and n - 64..n (all of them, as n <= 128), and the last byte is n - 1.
        unsafe {
            let (a0, b0) = (load32_at(src, 0), load32_at(src, 1));
            let (a1, b1) = (load32_at(src, 32), load32_at(src, 33));
            let (a2, b2) = (load32_at(src, n - 65), load32_at(src, n - 64));
            let (a3, b3) = (load32_at(src, n - 33), load32_at(src, n - 32));
            _mm256_storeu_si256(dst.cast(), a0);
            _mm256_storeu_si256(dst.add(32).cast(), a1);
            _mm256_storeu_si256(dst.add(n - 64).cast(), b2);
            _mm256_storeu_si256(dst.add(n - 32).cast(), b3);
            let first = _mm256_or_si256(rough_vector32(a0, b0), rough_vector32(a1, b1));
            let second = _mm256_or_si256(rough_vector32(a2, b2), rough_vector32(a3, b3));
            _mm256_movemask_epi8(_mm256_or_si256(first, second)) != 0 || *src.add(n - 1) <= 0x1F
        }
    }

    /// The 16 bytes at `src + at`.
    ///
    /// # Safety
    /// They are readable.
    #[target_feature(enable = "sse2")]
    #[inline]
    unsafe fn load16_at(src: *const u8, at: usize) -> __m128i {
        // SAFETY: the caller's.
        unsafe { _mm_loadu_si128(src.add(at).cast()) }
    }

    /// The 32 bytes at `src + at`.
    ///
    /// # Safety
    /// They are readable, and the CPU has AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load32_at(src: *const u8, at: usize) -> __m256i {
        // SAFETY: the caller's.
        unsafe { _mm256_loadu_si256(src.add(at).cast()) }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn any_rough16(bytes: &[u8]) -> bool {
        let mut any = _mm_setzero_si128();
        let mut rest = bytes;
        while let Some(w) = rest.first_chunk::<17>() {
            let (a, b) = load_pair16(w);
            any = _mm_or_si128(any, rough_vector16(a, b));
            rest = &rest[16..];
        }
        let last = match bytes.last_chunk::<16>() {
            Some(last) => load16(last),
            None => padded16(bytes),
        };
        any = _mm_or_si128(any, rough_vector16(last, _mm_srli_si128::<1>(last)));
        _mm_movemask_epi8(any) != 0
    }

    /// [`next_candidate`] for the search after a candidate, while escaping: text dense with
    /// what must be escaped comes back here after every spot, so the 16 positions right after
    /// it are looked at before the call of a wider search.
    #[inline(always)]
    pub(in super::super) fn next_candidate_after(bytes: &[u8], from: usize) -> Option<usize> {
        // SAFETY: every x86-64 CPU has SSE2.
        match unsafe { first_block(bytes, from) } {
            Some(0) => next_candidate(bytes, from + 16),
            Some(hits) => Some(from + hits.trailing_zeros() as usize),
            None => next_candidate(bytes, from),
        }
    }

    /// The candidates among the 16 positions from `from`, as bits, when 17 bytes are left.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn first_block(bytes: &[u8], from: usize) -> Option<u32> {
        let w = bytes.get(from..)?.first_chunk::<17>()?;
        let (a, b) = load_pair16(w);
        Some(block16(a, b))
    }

    /// The 16 bytes at the start of `w` and the 16 one byte on.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn load_pair16(w: &[u8; 17]) -> (__m128i, __m128i) {
        let p = w.as_ptr();
        // SAFETY: both loads read 16 bytes inside `w` (bytes 0..16 and 1..17); `loadu` has no
        // alignment requirement.
        unsafe { (_mm_loadu_si128(p.cast()), _mm_loadu_si128(p.add(1).cast())) }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn load16(w: &[u8; 16]) -> __m128i {
        // SAFETY: reads the 16 bytes of `w`, without alignment requirement.
        unsafe { _mm_loadu_si128(w.as_ptr().cast()) }
    }

    /// Bits set at least at every position of `a` that starts a candidate, `b` being the bytes
    /// one on: a byte up to 0x1F (tab, LF and CR included), a `]` (without looking at the next:
    /// one compare where `]]` takes three, and `]` is rare in text), the pair `EF BF`. Cheap:
    /// this runs on every block.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn rough16(a: __m128i, b: __m128i) -> u32 {
        _mm_movemask_epi8(rough_vector16(a, b)) as u32
    }

    /// [`rough16`] before it is turned into bits.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn rough_vector16(a: __m128i, b: __m128i) -> __m128i {
        let control = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(0x1F)), a);
        let close = _mm_cmpeq_epi8(a, _mm_set1_epi8(b']' as i8));
        let nonchar = _mm_and_si128(
            _mm_cmpeq_epi8(a, _mm_set1_epi8(0xEFu8 as i8)),
            _mm_cmpeq_epi8(b, _mm_set1_epi8(0xBFu8 as i8)),
        );
        _mm_or_si128(control, _mm_or_si128(close, nonchar))
    }

    /// Bits set exactly at the positions that start a candidate (tab, LF and CR left out): run
    /// only on a block where [`rough16`] found something.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn exact16(a: __m128i, b: __m128i) -> u32 {
        let low = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(0x1F)), a);
        let allowed = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(a, _mm_set1_epi8(b'\t' as i8)), _mm_cmpeq_epi8(a, _mm_set1_epi8(b'\n' as i8))),
            _mm_cmpeq_epi8(a, _mm_set1_epi8(b'\r' as i8)),
        );
        let control = _mm_andnot_si128(allowed, low);
        let close =
            _mm_and_si128(_mm_cmpeq_epi8(a, _mm_set1_epi8(b']' as i8)), _mm_cmpeq_epi8(b, _mm_set1_epi8(b']' as i8)));
        let nonchar = _mm_and_si128(
            _mm_cmpeq_epi8(a, _mm_set1_epi8(0xEFu8 as i8)),
            _mm_cmpeq_epi8(b, _mm_set1_epi8(0xBFu8 as i8)),
        );
        _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(close, nonchar))) as u32
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn block16(a: __m128i, b: __m128i) -> u32 {
        match rough16(a, b) {
            0 => 0,
            _ => exact16(a, b),
        }
    }

    /// 16 positions at a time while 17 bytes are left, then the rest.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn sse2(bytes: &[u8], mut from: usize) -> Option<usize> {
        while let Some(w) = bytes.get(from..).and_then(|rest| rest.first_chunk::<17>()) {
            let (a, b) = load_pair16(w);
            let hits = block16(a, b);
            if hits != 0 {
                return Some(from + hits.trailing_zeros() as usize);
            }
            from += 16;
        }
        tail(bytes, from)
    }

    /// The last positions, fewer than 17 of them: the last 16 bytes of the input (or all of it,
    /// padded with spaces, when it is shorter), with the positions before `from` masked out. The
    /// byte after the last is taken as 0 for the pairs, which no pair matches.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn tail(bytes: &[u8], from: usize) -> Option<usize> {
        if from >= bytes.len() {
            return None;
        }
        let (a, base) = match bytes.last_chunk::<16>() {
            // `from` is at least `len - 16`: fewer than 17 positions are left.
            Some(last) => (load16(last), bytes.len() - 16),
            None => (padded16(&bytes[from..]), from),
        };
        let hits = block16(a, _mm_srli_si128::<1>(a)) & (u32::MAX << (from - base));
        (hits != 0).then(|| base + hits.trailing_zeros() as usize)
    }

    /// Fewer than 16 bytes as a vector, the lanes after them spaces. Assembled in registers:
    /// through a buffer on the stack, the vector load would wait for the stores before it (most
    /// short values, an account's `gh_` id among them, end here).
    #[target_feature(enable = "sse2")]
    #[inline]
    fn padded16(rest: &[u8]) -> __m128i {
        let (low, high) = match rest.split_first_chunk::<8>() {
            Some((head, more)) => (u64::from_le_bytes(*head), padded_word(more)),
            None => (padded_word(rest), padded_word(&[])),
        };
        _mm_set_epi64x(high as i64, low as i64)
    }

    /// Up to 8 bytes as a little-endian word, the bytes after them spaces. Reads them with two
    /// loads that may overlap, not byte by byte.
    #[inline(always)]
    fn padded_word(bytes: &[u8]) -> u64 {
        const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
        let n = bytes.len();
        let word = match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>(), bytes.first_chunk::<2>()) {
            // 4 to 8 bytes: the first four and the last four (the same bytes where they overlap).
            (Some(first), Some(last), _) => {
                u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << (8 * (n - 4))
            }
            // 2 or 3 bytes.
            (None, _, Some(first)) => u64::from(u16::from_le_bytes(*first)) | u64::from(bytes[n - 1]) << (8 * (n - 1)),
            _ => bytes.first().map_or(0, |&b| u64::from(b)),
        };
        match n {
            8.. => word,
            _ => word | SPACES << (8 * n),
        }
    }

    /// `EF BF` as a 16-bit lane, for [`rough32`].
    const NONCHAR: i16 = i16::from_le_bytes([0xEF, 0xBF]);

    #[target_feature(enable = "avx2")]
    #[inline]
    fn load_pair32(w: &[u8; 33]) -> (__m256i, __m256i) {
        let p = w.as_ptr();
        // SAFETY: both loads read 32 bytes inside `w` (bytes 0..32 and 1..33); `loadu` has no
        // alignment requirement.
        unsafe { (_mm256_loadu_si256(p.cast()), _mm256_loadu_si256(p.add(1).cast())) }
    }

    /// [`rough16`], 32 positions at a time: the pair `EF BF` compared as one 16-bit lane (x86 is
    /// little-endian), in `a` for pairs at even positions and in `b` for those at odd ones, so a
    /// pair may also set the bit before it; a single `]`, as in 16-byte blocks. (The pair `]]` as
    /// lanes, two compares more, measured more instructions once values were copied as they are
    /// checked: `benches/instructions.sh`, news 3,172 -> 3,402, 4 KB 2,912 -> 2,980. A value with
    /// a `]` alone, a chat emoticon's `[微笑]`, then takes the exact search.)
    #[target_feature(enable = "avx2")]
    #[inline]
    fn rough32(a: __m256i, b: __m256i) -> u32 {
        _mm256_movemask_epi8(rough_vector32(a, b)) as u32
    }

    /// [`rough32`] before it is turned into bits.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn rough_vector32(a: __m256i, b: __m256i) -> __m256i {
        let control = _mm256_cmpeq_epi8(_mm256_min_epu8(a, _mm256_set1_epi8(0x1F)), a);
        let close = _mm256_cmpeq_epi8(a, _mm256_set1_epi8(b']' as i8));
        let nonchar = _mm256_or_si256(
            _mm256_cmpeq_epi16(a, _mm256_set1_epi16(NONCHAR)),
            _mm256_cmpeq_epi16(b, _mm256_set1_epi16(NONCHAR)),
        );
        _mm256_or_si256(control, _mm256_or_si256(close, nonchar))
    }

    /// [`exact16`], 32 positions at a time.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn exact32(a: __m256i, b: __m256i) -> u32 {
        let low = _mm256_cmpeq_epi8(_mm256_min_epu8(a, _mm256_set1_epi8(0x1F)), a);
        let allowed = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_cmpeq_epi8(a, _mm256_set1_epi8(b'\t' as i8)),
                _mm256_cmpeq_epi8(a, _mm256_set1_epi8(b'\n' as i8)),
            ),
            _mm256_cmpeq_epi8(a, _mm256_set1_epi8(b'\r' as i8)),
        );
        let control = _mm256_andnot_si256(allowed, low);
        let close = _mm256_and_si256(
            _mm256_cmpeq_epi8(a, _mm256_set1_epi8(b']' as i8)),
            _mm256_cmpeq_epi8(b, _mm256_set1_epi8(b']' as i8)),
        );
        let nonchar = _mm256_and_si256(
            _mm256_cmpeq_epi8(a, _mm256_set1_epi8(0xEFu8 as i8)),
            _mm256_cmpeq_epi8(b, _mm256_set1_epi8(0xBFu8 as i8)),
        );
        _mm256_movemask_epi8(_mm256_or_si256(control, _mm256_or_si256(close, nonchar))) as u32
    }

    /// 64 positions at a time while 65 bytes are left (two blocks, one branch), then 32 while
    /// 33 are, then [`sse2`] for the rest.
    #[target_feature(enable = "avx2")]
    fn avx2(bytes: &[u8], mut from: usize) -> Option<usize> {
        while let Some(w) = bytes.get(from..).and_then(|rest| rest.first_chunk::<65>()) {
            let (Some(first), Some(second)) = (w.first_chunk::<33>(), w.last_chunk::<33>()) else {
                break;
            };
            let (a0, b0) = load_pair32(first);
            let (a1, b1) = load_pair32(second);
            let rough = _mm256_or_si256(rough_vector32(a0, b0), rough_vector32(a1, b1));
            if _mm256_movemask_epi8(rough) != 0 {
                let hits = exact32(a0, b0);
                if hits != 0 {
                    return Some(from + hits.trailing_zeros() as usize);
                }
                let hits = exact32(a1, b1);
                if hits != 0 {
                    return Some(from + 32 + hits.trailing_zeros() as usize);
                }
            }
            from += 64;
        }
        while let Some(w) = bytes.get(from..).and_then(|rest| rest.first_chunk::<33>()) {
            let (a, b) = load_pair32(w);
            if rough32(a, b) != 0 {
                let hits = exact32(a, b);
                if hits != 0 {
                    return Some(from + hits.trailing_zeros() as usize);
                }
            }
            from += 32;
        }
        sse2(bytes, from)
    }

    #[cfg(test)]
    mod tests {
        use super::super::portable;
        use super::*;

        /// Pieces that are, or look like, or sit next to, what the search looks for.
        const PIECES: [&[u8]; 16] = [
            b"a",
            b"]",
            b"]]",
            b">",
            b"\0",
            b"\x1f",
            b"\t",
            b"\n",
            b"\r",
            b" ",
            "你".as_bytes(),
            "，".as_bytes(),       // EF BC 8C
            "\u{FFE5}".as_bytes(), // EF BF A5: EF BF, not forbidden
            "\u{FFFD}".as_bytes(), // EF BF BD
            "\u{FFFE}".as_bytes(),
            "\u{FFFF}".as_bytes(),
        ];

        /// Every path must find the first candidate the portable search finds, or one before it
        /// that is at least `from` (the caller then looks at it and goes on).
        fn agree(bytes: &[u8]) {
            // Under Miri, which is slow, the starts that reach each way out of a search.
            let starts: Vec<usize> = match cfg!(miri) {
                true => vec![0, 1, bytes.len().saturating_sub(1), bytes.len(), bytes.len() + 1],
                false => (0..=bytes.len() + 1).collect(),
            };
            for from in starts {
                let expected = portable::next_candidate(bytes, from);
                // SAFETY: every x86-64 CPU has SSE2.
                let mut paths: Vec<(&str, Option<usize>)> = vec![("sse2", unsafe { sse2(bytes, from) })];
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    paths.push(("avx2", unsafe { avx2(bytes, from) }));
                }
                paths.push(("dispatch", next_candidate(bytes, from)));
                paths.push(("after a candidate", next_candidate_after(bytes, from)));
                if from == 0 {
                    // Never false where the search finds a candidate; never true where there
                    // isn't even what the cheap test looks for (any byte up to 0x1F, tab, LF and
                    // CR included, a `]`, `EF BF`).
                    let any = any_candidate(bytes);
                    let rough =
                        bytes.iter().any(|&b| b <= 0x1F || b == b']') || bytes.windows(2).any(|w| w == [0xEF, 0xBF]);
                    assert!(any || expected.is_none(), "any_candidate missed {expected:?} in {bytes:?}");
                    assert!(rough || !any, "any_candidate true without a candidate in {bytes:?}");
                }
                for (path, found) in paths {
                    assert_eq!(found, expected, "{path} from {from} in {bytes:?}");
                }
            }
        }

        #[test]
        fn every_piece_at_every_offset_and_length() {
            // Miri (`cargo +nightly miri test -p reply-core --lib cdata`, which checks the
            // loads) is slow: it gets the lengths around the edges of the blocks, and fewer places.
            let lengths: Vec<usize> = match cfg!(miri) {
                true => vec![0, 1, 2, 15, 16, 17, 31, 32, 33, 34, 63, 64, 65, 66],
                false => (0..80).collect(),
            };
            for piece in PIECES {
                for &len in &lengths {
                    for at in (0..=len).filter(|at| !cfg!(miri) || at % 5 == 0 || *at == len) {
                        let mut bytes = vec![b'a'; len];
                        bytes.splice(at..at, piece.iter().copied());
                        agree(&bytes);
                    }
                }
            }
        }

        /// Every way of copying a value while checking it: the copy is whole, nothing is
        /// written past it, and a value with a candidate is never called clean.
        fn copies_agree(bytes: &[u8]) {
            let n = bytes.len();
            let special = portable::next_candidate(bytes, 0).is_some();
            let mut ways: Vec<(&str, Copy)> = Vec::new();
            match n {
                0..=16 => ways.push(("short", copy_rough_short)),
                17..=32 => ways.push(("two16", copy_rough_two16)),
                _ => {}
            }
            if n >= 17 {
                ways.push(("loop16", copy_rough16));
            }
            if std::is_x86_feature_detected!("avx2") {
                match n {
                    33..=64 => ways.push(("two32", copy_rough_two32)),
                    65..=96 => ways.extend([("three32", copy_rough_three32 as Copy), ("four32", copy_rough_four32)]),
                    97..=128 => ways.push(("four32", copy_rough_four32)),
                    _ => {}
                }
                ways.push(("avx2 by compares", copy_avx2));
            }
            ways.push(("alone", copy_alone));
            for (way, copy) in ways {
                let mut out = vec![0xAAu8; n + 2];
                // SAFETY: `n` is in the range of the way chosen above, `out` has room for `n`
                // bytes after its first, and the CPU has what each way needs.
                let maybe = unsafe { copy(out[1..].as_mut_ptr(), bytes.as_ptr(), n) };
                assert_eq!(&out[1..=n], bytes, "{way} copied {n} bytes wrong");
                assert_eq!((out[0], out[n + 1]), (0xAA, 0xAA), "{way} wrote outside {n} bytes");
                assert!(maybe || !special, "{way} called {bytes:?} clean");
            }
            // And through the dispatch, which refuses a room of another length.
            let mut room = vec![MaybeUninit::new(0u8); n];
            let mut all = vec![Vectors::detect(), Vectors { table: &SSE2, in_avx2: false }];
            if std::is_x86_feature_detected!("avx2") {
                all.push(Vectors { table: &AVX2, in_avx2: true });
            }
            for vectors in all {
                assert_eq!(copy_checking::<true>(&mut room, bytes, vectors).map(|maybe| maybe || !special), Some(true));
                assert_eq!(
                    copy_checking::<false>(&mut room, bytes, vectors).map(|maybe| maybe || !special),
                    Some(true)
                );
            }
            // SAFETY: every byte of `room` was initialized when it was made.
            let room: Vec<u8> = room.into_iter().map(|b| unsafe { b.assume_init() }).collect();
            assert_eq!(room, bytes);
            assert_eq!(copy_checking::<true>(&mut vec![MaybeUninit::new(0u8); n + 1], bytes, Vectors::detect()), None);
            assert_eq!(copy_checking::<false>(&mut vec![MaybeUninit::new(0u8); n + 1], bytes, Vectors::detect()), None);
        }

        #[test]
        fn code_is_compiled_for_avx2_only_where_the_cpu_has_it() {
            let avx2 = std::is_x86_feature_detected!("avx2");
            assert_eq!(Vectors::detect().compiled(|vectors| vectors.in_avx2), avx2);
            assert!(!Vectors { table: &SSE2, in_avx2: false }.compiled(|vectors| vectors.in_avx2));
            // What runs inside is what was asked for, with its result.
            assert_eq!(Vectors::detect().compiled(|_| 7), 7);
        }

        #[test]
        fn copies_of_every_piece_at_every_offset_and_length() {
            let lengths: Vec<usize> = match cfg!(miri) {
                true => vec![0, 1, 7, 8, 9, 15, 16, 17, 18, 31, 32, 33, 34, 63, 64, 65, 66, 127, 128, 129],
                false => (0..=140).collect(),
            };
            for piece in PIECES {
                for &len in &lengths {
                    for at in (0..=len).filter(|at| !cfg!(miri) || at % 7 == 0 || *at == len) {
                        let mut bytes = vec![b'a'; len];
                        bytes.splice(at..at, piece.iter().copied());
                        copies_agree(&bytes);
                    }
                }
            }
        }

        #[test]
        fn mixtures_of_pieces() {
            // A fixed pseudo-random sequence (xorshift), so that a failure can be replayed.
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            for _ in 0..if cfg!(miri) { 20 } else { 3000 } {
                let count = (next() % 60) as usize;
                let mut bytes = Vec::new();
                for _ in 0..count {
                    // Mostly plain text, so that candidates are spread over many blocks.
                    let r = next() as usize;
                    let piece = if r.is_multiple_of(4) { PIECES[(r >> 8) % PIECES.len()] } else { "天气".as_bytes() };
                    bytes.extend_from_slice(piece);
                }
                agree(&bytes);
                copies_agree(&bytes);
            }
        }
    }
}
