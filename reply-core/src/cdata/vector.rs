//! A vector of bytes, with the few operations the escaping code needs: [`Vector`], and its
//! implementations for the CPUs this crate runs on.
//!
//! The escaping code (`generic.rs`) is written once over this trait; `dispatch.rs` runs it with
//! the widest vector the CPU has. On x86-64: [`Sse2`], 16 lanes, which every x86-64 CPU has, and
//! [`Avx2`], 32 lanes, when the CPU says it has AVX2. Elsewhere: [`Portable`], 16 lanes of plain
//! byte operations that the compiler vectorizes as it can.
//!
//! Loads and stores take slices and an offset, checked against their length, so that no caller
//! handles a pointer: what is unsafe here is only the call of an instruction, and a value of a
//! vector type exists only on a CPU that has its instructions (it is made by [`Vector::splat`] or
//! [`Vector::load`], which take the [`Vector::Cpu`] that proves it).

use core::mem::MaybeUninit;

/// A vector of [`BYTES`](Vector::BYTES) byte lanes.
///
/// Comparisons set a lane to `0xFF` where they hold and to `0` elsewhere; [`mask`](Vector::mask)
/// takes the top bit of each lane, lane `i` as bit `i`.
pub(crate) trait Vector: Copy {
    /// The number of lanes.
    const BYTES: usize;

    /// What proves that the CPU has this vector's instructions.
    type Cpu: Copy;

    /// Every lane `byte`.
    fn splat(cpu: Self::Cpu, byte: u8) -> Self;

    /// The `BYTES` bytes of `bytes` from `at`. Panics if there are fewer (the callers' loops make
    /// sure there are, and the check is then compiled away).
    fn load(cpu: Self::Cpu, bytes: &[u8], at: usize) -> Self;

    /// Writes the lanes to `dst` from `at`. Panics if there is less room.
    fn store(self, dst: &mut [MaybeUninit<u8>], at: usize);

    /// Lanes equal in both.
    fn eq(self, other: Self) -> Self;

    /// The lesser of each lane, unsigned.
    fn min(self, other: Self) -> Self;

    /// Lanes set in both.
    fn and(self, other: Self) -> Self;

    /// Lanes set in either.
    fn or(self, other: Self) -> Self;

    /// Lanes set in `self` and not in `other`.
    fn and_not(self, other: Self) -> Self;

    /// The top bit of each lane.
    fn mask(self) -> u32;
}

/// A 16-lane vector made of two words.
pub(crate) trait FromWords: Vector {
    /// Lanes 0 to 7 the bytes of `low`, lanes 8 to 15 those of `high` (little-endian).
    fn from_words(cpu: Self::Cpu, low: u64, high: u64) -> Self;
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{Avx2, Avx2Cpu, Sse2};

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_64 {
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;
    use core::sync::atomic::{AtomicU8, Ordering};

    use super::{FromWords, Vector};

    /// 16 lanes, with SSE2: every x86-64 CPU has it.
    #[derive(Clone, Copy)]
    pub(crate) struct Sse2(__m128i);

    /// 32 lanes, with AVX2: made only with an [`Avx2Cpu`].
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(__m256i);

    /// Proof that the CPU has AVX2: made only by [`Avx2Cpu::get`], after the CPU said so.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Avx2Cpu(());

    /// What the CPU said of AVX2, asked once: [`UNASKED`], [`WITHOUT`] (or not to be used:
    /// [`Avx2Cpu::set_forced_off`]) or [`WITH`].
    static AVX2: AtomicU8 = AtomicU8::new(UNASKED);
    const UNASKED: u8 = 0;
    const WITHOUT: u8 = 1;
    const WITH: u8 = 2;

    impl Avx2Cpu {
        /// The proof, if the CPU has AVX2 (and it is not forced off).
        #[inline]
        pub(crate) fn get() -> Option<Self> {
            match AVX2.load(Ordering::Relaxed) {
                WITH => Some(Avx2Cpu(())),
                WITHOUT => None,
                _ => Self::ask(),
            }
        }

        #[cold]
        fn ask() -> Option<Self> {
            let with = std::is_x86_feature_detected!("avx2");
            AVX2.store(if with { WITH } else { WITHOUT }, Ordering::Relaxed);
            with.then_some(Avx2Cpu(()))
        }

        /// With `true`, [`get`](Avx2Cpu::get) says no from now on, whatever the CPU has (to
        /// measure the 16-lane code on a CPU that has AVX2); with `false`, it asks the CPU again.
        pub(crate) fn set_forced_off(off: bool) {
            AVX2.store(if off { WITHOUT } else { UNASKED }, Ordering::Relaxed);
        }

        /// Runs `f` in code compiled for AVX2: the vector code `f` inlines (generic code
        /// instantiated with [`Avx2`]) then uses the instructions directly instead of calling
        /// them one by one.
        #[inline]
        pub(crate) fn in_avx2_code<R>(self, f: impl FnOnce() -> R) -> R {
            /// `f`, compiled for AVX2.
            ///
            /// # Safety
            /// The CPU has AVX2.
            #[target_feature(enable = "avx2")]
            #[inline]
            unsafe fn avx2_code<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            // SAFETY: `self` exists, so the CPU said it has AVX2 (`get`).
            unsafe { avx2_code(f) }
        }
    }

    /// One implementation for both vector types: the intrinsics by name. The one `unsafe` of each
    /// operation is a call of an instruction of the type's set; a value of the type, or its
    /// `Cpu`, exists only on a CPU that has that set (SSE2: every x86-64 CPU; AVX2: an
    /// [`Avx2Cpu`] was made, which only `get` does after the CPU said so). Loads and stores
    /// go through a slice of exactly `BYTES` bytes, bounds checked first, and the unaligned
    /// forms have no alignment requirement.
    macro_rules! vector {
        ($name:ident($inner:ty, $bytes:literal, $cpu:ty) {
            splat: $splat:ident, load: $load:ident, store: $store:ident,
            lane_wise: [$($op:ident: $lane_wise:ident),+], and_not: $and_not:ident, mask: $mask:ident,
        }) => {
            impl Vector for $name {
                const BYTES: usize = $bytes;
                type Cpu = $cpu;

                #[inline(always)]
                fn splat(_: $cpu, byte: u8) -> Self {
                    // SAFETY: see `vector!`.
                    $name(unsafe { $splat(byte as i8) })
                }

                #[inline(always)]
                fn load(_: $cpu, bytes: &[u8], at: usize) -> Self {
                    let bytes = &bytes[at..at + $bytes];
                    // SAFETY: see `vector!`: `bytes` is `BYTES` bytes long.
                    $name(unsafe { $load(bytes.as_ptr().cast()) })
                }

                #[inline(always)]
                fn store(self, dst: &mut [MaybeUninit<u8>], at: usize) {
                    let dst = &mut dst[at..at + $bytes];
                    // SAFETY: see `vector!`: `dst` is `BYTES` bytes long.
                    unsafe { $store(dst.as_mut_ptr().cast(), self.0) }
                }

                $(
                    #[inline(always)]
                    fn $op(self, other: Self) -> Self {
                        // SAFETY: see `vector!`.
                        $name(unsafe { $lane_wise(self.0, other.0) })
                    }
                )+

                #[inline(always)]
                fn and_not(self, other: Self) -> Self {
                    // SAFETY: see `vector!`. (The instruction negates its first operand.)
                    $name(unsafe { $and_not(other.0, self.0) })
                }

                #[inline(always)]
                fn mask(self) -> u32 {
                    // SAFETY: see `vector!`.
                    unsafe { $mask(self.0) as u32 }
                }
            }
        };
    }

    vector!(Sse2(__m128i, 16, ()) {
        splat: _mm_set1_epi8, load: _mm_loadu_si128, store: _mm_storeu_si128,
        lane_wise: [eq: _mm_cmpeq_epi8, min: _mm_min_epu8, and: _mm_and_si128, or: _mm_or_si128],
        and_not: _mm_andnot_si128, mask: _mm_movemask_epi8,
    });

    impl FromWords for Sse2 {
        #[inline(always)]
        fn from_words(_: (), low: u64, high: u64) -> Self {
            // SAFETY: see `vector!`.
            Sse2(unsafe { _mm_set_epi64x(high as i64, low as i64) })
        }
    }

    vector!(Avx2(__m256i, 32, Avx2Cpu) {
        splat: _mm256_set1_epi8, load: _mm256_loadu_si256, store: _mm256_storeu_si256,
        lane_wise: [eq: _mm256_cmpeq_epi8, min: _mm256_min_epu8, and: _mm256_and_si256, or: _mm256_or_si256],
        and_not: _mm256_andnot_si256, mask: _mm256_movemask_epi8,
    });
}

/// 16 lanes of plain byte operations: the vector where there is no x86-64 code, and the
/// reference the x86-64 vectors are held to in the tests.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[derive(Clone, Copy)]
pub(crate) struct Portable([u8; 16]);

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
impl Portable {
    #[inline(always)]
    fn lanes(self, other: Self, f: impl Fn(u8, u8) -> u8) -> Self {
        Portable(core::array::from_fn(|i| f(self.0[i], other.0[i])))
    }
}

impl FromWords for Portable {
    #[inline(always)]
    fn from_words(_: (), low: u64, high: u64) -> Self {
        let mut lanes = [0; 16];
        lanes[..8].copy_from_slice(&low.to_le_bytes());
        lanes[8..].copy_from_slice(&high.to_le_bytes());
        Portable(lanes)
    }
}

impl Vector for Portable {
    const BYTES: usize = 16;
    type Cpu = ();

    #[inline(always)]
    fn splat(_: (), byte: u8) -> Self {
        Portable([byte; 16])
    }

    #[inline(always)]
    fn load(_: (), bytes: &[u8], at: usize) -> Self {
        let mut lanes = [0; 16];
        lanes.copy_from_slice(&bytes[at..at + 16]);
        Portable(lanes)
    }

    #[inline(always)]
    fn store(self, dst: &mut [MaybeUninit<u8>], at: usize) {
        dst[at..at + 16].write_copy_of_slice(&self.0);
    }

    #[inline(always)]
    fn eq(self, other: Self) -> Self {
        self.lanes(other, |a, b| if a == b { 0xFF } else { 0 })
    }

    #[inline(always)]
    fn min(self, other: Self) -> Self {
        self.lanes(other, u8::min)
    }

    #[inline(always)]
    fn and(self, other: Self) -> Self {
        self.lanes(other, |a, b| a & b)
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        self.lanes(other, |a, b| a | b)
    }

    #[inline(always)]
    fn and_not(self, other: Self) -> Self {
        self.lanes(other, |a, b| a & !b)
    }

    #[inline(always)]
    fn mask(self) -> u32 {
        self.0.iter().enumerate().fold(0, |mask, (i, &lane)| mask | (u32::from(lane >> 7) << i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of every vector type the CPU has, against the portable one, on lanes
    /// that hold every byte value in turn.
    #[test]
    fn every_vector_agrees_with_the_portable_one() {
        let bytes: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        let steps = if cfg!(miri) { 37 } else { 1 };
        for at in (0..=bytes.len() - 33).step_by(steps) {
            let splat = bytes[at + 3];
            let expected = ops::<Portable>((), &bytes, at, splat);
            #[cfg(target_arch = "x86_64")]
            {
                assert_eq!(ops::<Sse2>((), &bytes, at, splat), expected, "SSE2 at {at}");
                if let Some(cpu) = Avx2Cpu::get() {
                    // The 32 lanes are the 16 of the first half and those of the second.
                    let wide = cpu.in_avx2_code(|| ops::<Avx2>(cpu, &bytes, at, splat));
                    let high = ops::<Portable>((), &bytes, at + 16, splat);
                    for (i, (w, (lo, hi))) in wide.0.iter().zip(expected.0.iter().zip(&high.0)).enumerate() {
                        assert_eq!(*w, lo | hi << 16, "AVX2 op {i} at {at}");
                    }
                    assert_eq!(wide.1, bytes[at..at + 32], "AVX2 store at {at}");
                }
            }
            assert_eq!(expected.1, bytes[at..at + 16], "store at {at}");
        }
    }

    /// The mask of each operation on the lanes from `at` and from `at + 1` (and `splat` in every
    /// lane), and what a store writes.
    fn ops<V: Vector>(cpu: V::Cpu, bytes: &[u8], at: usize, splat: u8) -> ([u32; 7], Vec<u8>) {
        let (a, b) = (V::load(cpu, bytes, at), V::load(cpu, bytes, at + 1));
        let mut stored = vec![MaybeUninit::new(0u8); V::BYTES];
        a.store(&mut stored, 0);
        // SAFETY: every byte of `stored` was initialized when it was made.
        #[allow(unsafe_code)]
        let stored = stored.into_iter().map(|b| unsafe { b.assume_init() }).collect();
        let splat = V::splat(cpu, splat);
        let masks = [
            a.eq(b).mask(),
            a.min(b).eq(a).mask(),
            a.and(b).mask(),
            a.or(b).mask(),
            a.and_not(b).mask(),
            a.mask(),
            splat.eq(a).mask(),
        ];
        (masks, stored)
    }
}
