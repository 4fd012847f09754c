//! The platform's signatures: the hex SHA-1 of its parts, sorted and joined. The URL's
//! (`signature`, over the token, `timestamp` and `nonce`) is here, with no feature: every server of
//! the platform's URL checks it. Safe mode's `msg_signature` (four parts) is
//! [`crypto::msg_signature`](crate::crypto) (feature `crypto`).
//!
//! ```
//! use reply_core::signature::{signature_matches, signature_of};
//!
//! // Sorted and joined, the three are "abc", whose SHA-1 is FIPS 180's first test vector.
//! let signature = signature_of("b", "c", "a");
//! assert_eq!(signature, "a9993e364706816aba3e25717850c26c9cd0d89d");
//! assert!(signature_matches("b", "c", "a", &signature.to_uppercase()));
//! assert!(!signature_matches("b", "c", "a", "a9993e"));
//! ```

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The platform's URL signature: the hex SHA-1 of `token`, `timestamp` and `nonce`, sorted and
/// joined.
pub fn signature_of(token: &str, timestamp: &str, nonce: &str) -> String {
    hex_str(&signature_hex([token, timestamp, nonce])).to_owned()
}

/// Whether `signature` is the URL signature of `token`, `timestamp` and `nonce`, compared in
/// constant time, without allocating. Uppercase hex is taken too.
pub fn signature_matches(token: &str, timestamp: &str, nonce: &str, signature: &str) -> bool {
    hex_matches(&signature_hex([token, timestamp, nonce]), signature)
}

/// A signature's hex digits as text.
pub(crate) fn hex_str(hex: &[u8; 40]) -> &str {
    // Hex digits are ASCII: never the empty default.
    std::str::from_utf8(hex).unwrap_or_default()
}

/// The hex SHA-1 of `parts`, sorted and joined, without allocating: the platform's signatures
/// (of three parts for its URL, of four for an encrypted message).
pub(crate) fn signature_hex<const N: usize>(mut sorted: [&str; N]) -> [u8; 40] {
    sorted.sort_unstable();
    let mut hash = Sha1::new();
    for part in sorted {
        hash.update(part.as_bytes());
    }
    let digest: [u8; 20] = hash.finalize().into();
    let mut hex = [0u8; 40];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
        pair[0] = b"0123456789abcdef"[usize::from(byte >> 4)];
        pair[1] = b"0123456789abcdef"[usize::from(byte & 0xF)];
    }
    hex
}

/// Whether `given` is the hex signature `expected`, compared in constant time. The platform
/// writes lowercase hex; uppercase is taken too, without an allocation.
pub(crate) fn hex_matches(expected: &[u8; 40], given: &str) -> bool {
    // The length is no secret: the platform's is always 40.
    let Ok(given) = <[u8; 40]>::try_from(given.as_bytes()) else { return false };
    // Compared as five words, not forty bytes: each comparison of `subtle` is kept from the
    // optimizer by its own barrier.
    let words = |hex: &[u8; 40]| -> [u64; 5] {
        std::array::from_fn(|i| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&hex[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(word)
        })
    };
    bool::from(words(&given.map(|b| b.to_ascii_lowercase())).ct_eq(&words(expected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte counts, in every word: a change at any position is refused, uppercase is taken,
    /// and nothing else stands for a digit.
    #[test]
    fn a_signature_matches_only_itself() {
        let expected = signature_hex(["b", "c", "a"]);
        let hex = hex_str(&expected);
        assert!(hex_matches(&expected, hex));
        assert!(hex_matches(&expected, &hex.to_uppercase()));
        for at in 0..40 {
            for replacement in [b'0', b'f', b'F', b'g', 0x10, b' '] {
                let mut changed = expected;
                if changed[at] == replacement || changed[at] == replacement.to_ascii_lowercase() {
                    continue;
                }
                changed[at] = replacement;
                let changed = hex_str(&changed);
                assert_eq!(changed.len(), 40, "refused for its content, not its length");
                assert!(!hex_matches(&expected, changed), "changed at {at} to {replacement:#x}");
            }
        }
        assert!(!hex_matches(&expected, &hex[..39]));
        assert!(!hex_matches(&expected, &format!("{hex}0")));
        assert!(!hex_matches(&expected, ""));
    }
}
