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

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{any_candidate, next_candidate_after};

#[cfg(not(target_arch = "x86_64"))]
pub(super) use portable::{any_candidate, next_candidate, next_candidate as next_candidate_after};

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
/// The only `unsafe` code of the crate is here: unaligned vector loads from arrays the loads fit
/// in, and the calls into functions compiled for SSE2 (which every x86-64 CPU has) and AVX2
/// (after the CPU has said it has it). The vector compares themselves are safe functions. `tests` below hold every path to the portable
/// search on inputs built to put each kind of spot at every offset of a block.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use core::arch::x86_64::*;

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

    /// `]]` and `EF BF` as 16-bit lanes, for [`rough32`].
    const CLOSE: i16 = i16::from_le_bytes([b']', b']']);
    const NONCHAR: i16 = i16::from_le_bytes([0xEF, 0xBF]);

    #[target_feature(enable = "avx2")]
    #[inline]
    fn load_pair32(w: &[u8; 33]) -> (__m256i, __m256i) {
        let p = w.as_ptr();
        // SAFETY: both loads read 32 bytes inside `w` (bytes 0..32 and 1..33); `loadu` has no
        // alignment requirement.
        unsafe { (_mm256_loadu_si256(p.cast()), _mm256_loadu_si256(p.add(1).cast())) }
    }

    /// [`rough16`], 32 positions at a time, with `]]` for `]`: each pair compared as one 16-bit
    /// lane (x86 is little-endian), in `a` for pairs at even positions and in `b` for those at odd
    /// ones, so a pair may also set the bit before it. A single `]`, as in 16-byte blocks, measured
    /// more instructions here (`benches/instructions.sh`: 3,091 -> 3,340 for the 4 KB reply).
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
        let close = _mm256_or_si256(
            _mm256_cmpeq_epi16(a, _mm256_set1_epi16(CLOSE)),
            _mm256_cmpeq_epi16(b, _mm256_set1_epi16(CLOSE)),
        );
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
            }
        }
    }
}
