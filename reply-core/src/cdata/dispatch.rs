//! Which vectors the escaping code of `generic.rs` runs with, and its entry points: the widest
//! vectors the CPU has (on x86-64, AVX2 when the CPU says it has it, SSE2 otherwise), in code
//! compiled for them.

use core::mem::MaybeUninit;

use super::generic::{self, Lanes};
#[cfg(not(target_arch = "x86_64"))]
use super::vector::Portable;
#[cfg(target_arch = "x86_64")]
use super::vector::{Avx2, Avx2Cpu, Sse2};
use super::{NoRoom, Piece};

/// The 16-lane vector: SSE2 on x86-64, which every x86-64 CPU has; plain bytes elsewhere.
#[cfg(target_arch = "x86_64")]
type Narrow = Sse2;
#[cfg(not(target_arch = "x86_64"))]
type Narrow = Portable;

/// Uses the 16-lane vectors (SSE2 on x86-64) from now on even where the CPU has AVX2, or, with
/// `false`, the widest again. For measuring: `benches/emit.rs` compares the two in one run.
pub(crate) fn force_narrow(yes: bool) {
    #[cfg(target_arch = "x86_64")]
    Avx2Cpu::set_forced_off(yes);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = yes;
}

/// Runs the expression with `$V` the widest vector type there is, and `$cpu` its proof, in code
/// compiled for it. (A macro, not a function taking a generic closure: a closure can't be
/// generic over the vector type.)
macro_rules! widest {
    (|$cpu:ident: $V:ident| $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            match Avx2Cpu::get() {
                Some($cpu) => {
                    type $V = Avx2;
                    $cpu.in_avx2_code(|| $body)
                }
                _ => {
                    type $V = Narrow;
                    let $cpu = ();
                    $body
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            type $V = Narrow;
            let $cpu = ();
            $body
        }
    }};
}

/// Whether the vectors of [`copy_checked`] longer than 32 bytes are AVX2: for the tests.
#[cfg(test)]
pub(super) fn wide() -> bool {
    widest!(|_cpu: V| <V as super::vector::Vector>::BYTES == 32)
}

/// How a reply written into room copies each value into it and looks at it with the rough test
/// as it goes: `None` when nothing needs escaping (all copied), otherwise `Some(at)`, with the
/// bytes before `at` copied and needing none.
pub(crate) trait CopyChecked: Copy {
    /// Whether it is [`PerValue`], which may hand a list of articles to code compiled for AVX2.
    const PER_VALUE: bool;

    /// Copies `src` into `dst`, of its length, and checks it.
    fn copy_checked(&self, dst: &mut [MaybeUninit<u8>], src: &[u8]) -> Option<usize>;
}

/// [`CopyChecked`] in any code: a value of up to 64 bytes (a reply's ids, titles, links) inline,
/// with the 16-lane vectors; a longer one by a call, with the widest.
#[derive(Clone, Copy)]
pub(crate) struct PerValue;

impl CopyChecked for PerValue {
    const PER_VALUE: bool = true;

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn copy_checked(&self, dst: &mut [MaybeUninit<u8>], src: &[u8]) -> Option<usize> {
        match src.len() {
            0..=16 => generic::copy_checked_short::<Narrow>(&Lanes::new(()), (), dst, src).then_some(0),
            17..=32 => generic::copy_checked_two::<Narrow>(&Lanes::new(()), (), dst, src),
            33..=64 => generic::copy_checked_few::<Narrow>(&Lanes::new(()), (), dst, src, 0),
            _ => copy_checked_long(dst, src),
        }
    }
}

/// [`CopyChecked`] in code compiled for AVX2 (see `Avx2Cpu::in_avx2_code`; a news reply's articles): up
/// to 32 bytes with the 16-lane vectors, up to 128 with AVX2, inline; longer by a call.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct InAvx2(pub(crate) Avx2Cpu);

#[cfg(target_arch = "x86_64")]
impl CopyChecked for InAvx2 {
    const PER_VALUE: bool = false;

    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn copy_checked(&self, dst: &mut [MaybeUninit<u8>], src: &[u8]) -> Option<usize> {
        // The lengths of an article's values (a title, a link) first.
        match src.len() {
            33..=64 => generic::copy_checked_two::<Avx2>(&Lanes::new(self.0), self.0, dst, src),
            65..=128 => generic::copy_checked_few::<Avx2>(&Lanes::new(self.0), self.0, dst, src, 0),
            0..=16 => generic::copy_checked_short::<Sse2>(&Lanes::new(()), (), dst, src).then_some(0),
            17..=32 => generic::copy_checked_two::<Sse2>(&Lanes::new(()), (), dst, src),
            _ => copy_checked_long(dst, src),
        }
    }
}

/// [`PerValue::copy_checked`] of a value longer than 64 bytes (and `InAvx2`'s of one longer than 128).
#[inline(never)]
fn copy_checked_long(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> Option<usize> {
    widest!(|cpu: V| generic::copy_checked::<V>(cpu, dst, src))
}

/// [`generic::escape_into`] with the widest vectors.
#[inline(never)]
pub(crate) fn escape_into(room: &mut [MaybeUninit<u8>], s: &str, from: usize) -> Result<usize, NoRoom> {
    widest!(|cpu: V| generic::escape_into::<V>(cpu, room, s, from))
}

/// [`generic::extra_len`] with the widest vectors.
#[inline(never)]
pub(crate) fn extra_len(bytes: &[u8]) -> usize {
    widest!(|cpu: V| generic::extra_len::<V>(cpu, bytes))
}

/// [`generic::pieces`] with the widest vectors.
#[inline(never)]
pub(crate) fn pieces(s: &str, piece: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
    widest!(|cpu: V| generic::pieces::<V>(cpu, s, 0, piece))
}
