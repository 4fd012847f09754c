//! Copying a short piece without a call to `memcpy`.
//!
//! A reply is a few dozen short pieces (static text, ids, titles, URLs). Copying each with
//! `copy_from_slice` is a call to the C library's `memcpy` per piece, which costs more than the
//! copy; here a piece of up to 128 bytes is copied with a few fixed-size moves that may overlap
//! (for the static text of a reply, whose length is a constant, the compiler keeps only those).

use core::mem::MaybeUninit;

/// The longest piece [`copy_short`] copies.
pub(crate) const SHORT: usize = 128;

/// Copies `src` into `dst`, of the same length, at most [`SHORT`] bytes, with two moves of the
/// largest power of two not longer than it. Returns whether it did (it does when the lengths
/// agree and are at most `SHORT`).
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
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

/// Copies `src` into `dst`, of the same length, at most [`SHORT`] bytes, in 16-byte moves and a
/// last one that may overlap the one before: for a piece whose length is a constant (a reply's
/// static text), the fewest moves, straight-line. Returns whether it did.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn copy_blocks(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> bool {
    let n = src.len();
    if dst.len() != n || n > SHORT {
        return false;
    }
    if n <= 16 {
        return copy_short(dst, src);
    }
    let mut at = 0;
    while at + 16 < n {
        dst[at..at + 16].write_copy_of_slice(&src[at..at + 16]);
        at += 16;
    }
    dst[n - 16..].write_copy_of_slice(&src[n - 16..]);
    true
}

/// Copies `src` into `dst`, of the same length: in blocks when it is short, with `memcpy`
/// otherwise.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn copy(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    if !copy_blocks(dst, src) {
        dst.write_copy_of_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a buffer the test made initialized.
    fn read(buf: [MaybeUninit<u8>; 202]) -> [u8; 202] {
        // SAFETY: every byte of the test's buffers is initialized when it is made.
        #[allow(unsafe_code)]
        buf.map(|b| unsafe { b.assume_init() })
    }

    #[test]
    fn every_length_is_copied_whole() {
        let source: Vec<u8> = (0..200u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=source.len() {
            let mut expected = [b'#'; 202];
            expected[1..=n].copy_from_slice(&source[..n]);

            let mut dst = [MaybeUninit::new(b'#'); 202];
            copy(&mut dst[1..=n], &source[..n]);
            assert_eq!(read(dst), expected, "copy of {n} bytes");

            let mut blocks = [MaybeUninit::new(b'#'); 202];
            assert_eq!(copy_blocks(&mut blocks[1..=n], &source[..n]), n <= SHORT, "{n} bytes");
            if n <= SHORT {
                assert_eq!(read(blocks), expected, "copy_blocks of {n} bytes");
            }
        }
        assert!(!copy_short(&mut [MaybeUninit::new(0); 3], b"ab"), "lengths differ");
        assert!(!copy_blocks(&mut [MaybeUninit::new(0); 3], b"ab"), "lengths differ");
        assert!(!copy_short(&mut [MaybeUninit::new(0); SHORT + 1], &[0; SHORT + 1]), "too long");
    }
}
