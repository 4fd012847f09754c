//! Writing a string as the content of a CDATA section, so that the result is well-formed XML for
//! every input and reads back as the input.
//!
//! Two things can't stand as they are inside `<![CDATA[ … ]]>`:
//!
//! - the sequence `]]>`, which would end the section early and let the rest of the value be read
//!   as markup. It is split across two sections: `]]>` becomes `]]]]><![CDATA[>`, which a parser
//!   reads back as `]]>`;
//! - the characters XML 1.0 forbids anywhere in a document: U+0000 to U+0008, U+000B, U+000C,
//!   U+000E to U+001F, U+FFFE and U+FFFF. Each is replaced by U+FFFD REPLACEMENT CHARACTER.
//!   (Tab, line feed and carriage return are allowed and kept.)
//!
//! Everything else, `<`, `&`, quotes and every other character, is copied as it is.
//!
//! ```
//! use reply_core::cdata;
//!
//! let mut out = String::new();
//! cdata::write_escaped(&mut out, "a]]>b\u{1}c").unwrap();
//! assert_eq!(out, "a]]]]><![CDATA[>b\u{FFFD}c");
//! assert_eq!(cdata::escaped_len("a]]>b\u{1}c"), out.len());
//! ```

use core::mem::MaybeUninit;

use crate::Sink;

/// What replaces a forbidden character.
pub const REPLACEMENT: char = '\u{FFFD}';

/// What replaces the `]>` of a `]]>`: it closes the section after `]]` and opens a new one
/// before `>`.
const SPLIT: &str = "]]><![CDATA[";

/// A spot in the input that can't be copied as it is.
#[derive(Clone, Copy)]
enum Special {
    /// A one-byte forbidden character (a C0 control other than tab, LF, CR).
    Control,
    /// U+FFFE or U+FFFF, three bytes.
    Nonchar,
    /// The three bytes `]]>`.
    SectionEnd,
}

mod search;

pub(crate) use search::Vectors;

/// What starts at `at`, if it is special: `at` is a candidate the search returned.
#[inline(always)]
fn classify_at(bytes: &[u8], at: usize) -> Option<Special> {
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let (b0, b1, b2) = (byte(at), byte(at + 1), byte(at + 2));
    if search::is_forbidden_control(b0) {
        Some(Special::Control)
    } else if b0 == 0xEF && b1 == 0xBF && b2 >= 0xBE {
        // U+FFFE is EF BF BE, U+FFFF is EF BF BF; no other character starts with EF BF BE/BF.
        Some(Special::Nonchar)
    } else if b0 == b']' && b1 == b']' && b2 == b'>' {
        Some(Special::SectionEnd)
    } else {
        None
    }
}

/// The first special spot at or after `from`.
#[inline(always)]
fn find_special(bytes: &[u8], mut from: usize) -> Option<(usize, Special)> {
    loop {
        let at = search::next_candidate_after(bytes, from)?;
        if let Some(special) = classify_at(bytes, at) {
            return Some((at, special));
        }
        from = at + 1;
    }
}

/// What one scan of a value found: the number of bytes [`write_escaped`] writes for it, and
/// whether it has nothing to escape (so that it can be copied as it is).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// [`escaped_len`] of the value.
    pub len: usize,
    /// Whether the value is written as it is.
    pub clean: bool,
}

/// Scans `s` once: for a value with nothing to escape, the one pass over it before it is copied.
/// Only the search is inlined; what follows a candidate is not.
#[inline]
pub(crate) fn scan(s: &str) -> Scanned {
    match search::any_candidate(s.as_bytes()) {
        false => Scanned { len: s.len(), clean: true },
        true => scan_with_candidates(s),
    }
}

/// Copies `s` into `dst`, of its length, when it has nothing to escape, checking it as it copies:
/// returns whether it did. `dst` may hold any part of `s` when it returns false. `INLINE`: see
/// `search::copy_checking`.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn copy_if_clean<const INLINE: bool>(dst: &mut [MaybeUninit<u8>], s: &str, vectors: Vectors) -> bool {
    match search::copy_checking::<INLINE>(dst, s.as_bytes(), vectors) {
        Some(false) => true,
        Some(true) => has_no_special(s),
        None => false,
    }
}

/// Whether a value with candidates has no special spot: the exact search after the rough test
/// of [`copy_if_clean`] has hit, out of line (rare for text, and kept out of the loops that copy).
#[cold]
#[inline(never)]
fn has_no_special(s: &str) -> bool {
    find_special(s.as_bytes(), 0).is_none()
}

/// [`scan`] of a value with candidates, which may turn out not to be special (a line feed, a
/// `]]` not followed by `>`).
#[inline(never)]
fn scan_with_candidates(s: &str) -> Scanned {
    match find_special(s.as_bytes(), 0) {
        None => Scanned { len: s.len(), clean: true },
        // The bytes before the first special spot are copied as they are: counted from it.
        Some((at, _)) => Scanned { len: s.len() + extra_len(s.as_bytes(), at), clean: false },
    }
}

/// The number of bytes [`write_escaped`] writes for `s`, computed without writing.
///
/// ```
/// assert_eq!(reply_core::cdata::escaped_len("你好"), 6);
/// assert_eq!(reply_core::cdata::escaped_len("]]>"), 15);
/// assert_eq!(reply_core::cdata::escaped_len("\u{0}"), 3);
/// ```
#[inline]
pub fn escaped_len(s: &str) -> usize {
    s.len() + extra_len(s.as_bytes(), 0)
}

/// The bytes escaping adds to the special spots at or after `from`.
#[inline]
fn extra_len(bytes: &[u8], mut from: usize) -> usize {
    let mut extra = 0;
    while let Some((at, special)) = find_special(bytes, from) {
        match special {
            // One byte becomes the three of U+FFFD.
            Special::Control => {
                extra += 2;
                from = at + 1;
            }
            // Three bytes become three.
            Special::Nonchar => from = at + 3,
            // `]]>` becomes `]]` + SPLIT + `>`.
            Special::SectionEnd => {
                extra += SPLIT.len();
                from = at + 2;
            }
        }
    }
    extra
}

/// Writes `s` as the content of a CDATA section: the caller writes the `<![CDATA[` before and the
/// `]]>` after. Writes exactly [`escaped_len(s)`](escaped_len) bytes, with one `write_str` call
/// per clean run and per replacement.
///
/// ```
/// let mut out = String::from("<![CDATA[");
/// reply_core::cdata::write_escaped(&mut out, "1 < 2 ]]> \u{FFFF}").unwrap();
/// out.push_str("]]>");
/// assert_eq!(out, "<![CDATA[1 < 2 ]]]]><![CDATA[> \u{FFFD}]]>");
/// ```
#[inline]
pub fn write_escaped<S: Sink + ?Sized>(sink: &mut S, s: &str) -> Result<(), S::Error> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut from = 0;
    while let Some((at, special)) = find_special(bytes, from) {
        // Every special spot starts at an ASCII byte or at the lead byte EF, and every cut below
        // falls before such a byte or after `]]`, so each slice is on a character boundary.
        match special {
            Special::Control | Special::Nonchar => {
                if at > start {
                    sink.write_str(&s[start..at])?;
                }
                sink.write_str("\u{FFFD}")?;
                start = at + if let Special::Control = special { 1 } else { 3 };
                from = start;
            }
            Special::SectionEnd => {
                sink.write_str(&s[start..at + 2])?;
                sink.write_str(SPLIT)?;
                start = at + 2;
                from = start;
            }
        }
    }
    if start < bytes.len() {
        sink.write_str(&s[start..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(s: &str) -> String {
        let mut out = String::new();
        let Ok(()) = write_escaped(&mut out, s);
        assert_eq!(out.len(), escaped_len(s), "escaped_len disagrees for {s:?}");
        out
    }

    #[test]
    fn clean_text_is_copied() {
        assert_eq!(escape(""), "");
        assert_eq!(escape("你好"), "你好");
        assert_eq!(escape("<a href=\"x\">&amp;</a>"), "<a href=\"x\">&amp;</a>");
        assert_eq!(escape("tab\tline\ncr\r"), "tab\tline\ncr\r");
        assert_eq!(escape("]] > ]>"), "]] > ]>");
        // Fullwidth punctuation and U+FFFD itself start with EF but are not forbidden.
        assert_eq!(escape("，！？\u{FFFD}\u{FFEE}"), "，！？\u{FFFD}\u{FFEE}");
    }

    #[test]
    fn section_end_is_split() {
        assert_eq!(escape("]]>"), "]]]]><![CDATA[>");
        assert_eq!(escape("]]]>"), "]]]]]><![CDATA[>");
        assert_eq!(escape("]]>]]>"), "]]]]><![CDATA[>]]]]><![CDATA[>");
        assert_eq!(escape("x]]>y"), "x]]]]><![CDATA[>y");
    }

    #[test]
    fn forbidden_characters_are_replaced() {
        for c in (0u32..0x20).filter_map(char::from_u32) {
            let expected = if matches!(c, '\t' | '\n' | '\r') { c } else { REPLACEMENT };
            assert_eq!(escape(&c.to_string()), expected.to_string(), "U+{:04X}", c as u32);
        }
        assert_eq!(escape("\u{FFFE}\u{FFFF}"), "\u{FFFD}\u{FFFD}");
        assert_eq!(escape("a\u{0}b\u{1F}c"), "a\u{FFFD}b\u{FFFD}c");
    }

    #[test]
    fn specials_are_found_at_every_offset_around_the_window() {
        // Put each special at every position of a 40-byte run, so that it falls at the start,
        // middle, end and across the edge of the 16-byte stride and the 18-byte window.
        for special in ["]]>", "\u{0}", "\u{FFFF}", "\u{B}"] {
            for at in 0..40 {
                let input = format!("{}{special}{}", "a".repeat(at), "b".repeat(40 - at));
                let expected = format!(
                    "{}{}{}",
                    "a".repeat(at),
                    match special {
                        "]]>" => "]]]]><![CDATA[>",
                        _ => "\u{FFFD}",
                    },
                    "b".repeat(40 - at)
                );
                assert_eq!(escape(&input), expected, "special {special:?} at {at}");
            }
        }
    }
}
