//! Copying a short piece without a call to `memcpy`.
//!
//! A reply is a few dozen short pieces (static text, ids, titles, URLs). Copying each with
//! `copy_from_slice` is a call to the C library's `memcpy` per piece, which costs more than the
//! copy; here a piece of up to 128 bytes is copied with two fixed-size moves that may overlap
//! (for the static text of a reply, whose length is a constant, the compiler keeps only those two).

use core::mem::MaybeUninit;

/// The longest piece [`copy_short`] copies.
pub(crate) const SHORT: usize = 128;

/// Copies `src` into `dst`, of the same length, at most [`SHORT`] bytes, with two moves of the
/// largest power of two not longer than it. Returns whether it did (it does when the lengths
/// agree and are at most `SHORT`).
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> bool {
    let n = src.len();
    if dst.len() != n || n > SHORT {
        return false;
    }
    macro_rules! ends {
        ($k:literal) => {{
            dst[..$k].write_copy_of_slice(&src[..$k]);
            dst[n - $k..].write_copy_of_slice(&src[n - $k..]);
        }};
    }
    match n {
        64.. => ends!(64),
        32.. => ends!(32),
        16.. => ends!(16),
        8.. => ends!(8),
        4.. => ends!(4),
        2.. => ends!(2),
        1 => ends!(1),
        0 => {}
    }
    true
}

/// Copies `src` into `dst`, of the same length: inline when it is short, with `memcpy` otherwise.
#[inline(always)]
pub(crate) fn copy(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    if !copy_short(dst, src) {
        dst.write_copy_of_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_is_copied_whole() {
        let source: Vec<u8> = (0..200u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=source.len() {
            let mut dst = [MaybeUninit::new(b'#'); 202];
            copy(&mut dst[1..=n], &source[..n]);
            // SAFETY: every byte of `dst` was initialized when it was made.
            #[allow(unsafe_code)]
            let dst = dst.map(|b| unsafe { b.assume_init() });
            assert_eq!(&dst[1..=n], &source[..n], "{n} bytes");
            assert_eq!((dst[0], dst[n + 1]), (b'#', b'#'), "{n} bytes: written outside");
        }
        assert!(!copy_short(&mut [MaybeUninit::new(0); 3], b"ab"), "lengths differ");
        assert!(!copy_short(&mut [MaybeUninit::new(0); SHORT + 1], &[0; SHORT + 1]), "too long");
    }
}
