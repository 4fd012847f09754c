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

use crate::sink::Sink;

mod dispatch;
mod generic;
mod vector;

#[cfg(target_arch = "x86_64")]
pub(crate) use dispatch::InAvx2;
pub(crate) use dispatch::{CopyChecked, PerValue, escape_into, force_narrow};
#[cfg(target_arch = "x86_64")]
pub(crate) use vector::Avx2Cpu;

/// What replaces a forbidden character.
pub const REPLACEMENT: char = '\u{FFFD}';

/// What replaces the `]>` of a `]]>`: it closes the section after `]]` and opens a new one
/// before `>`.
const SPLIT: &str = "]]><![CDATA[";

/// A spot in the input that can't be copied as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    /// A one-byte forbidden character (a C0 control other than tab, LF, CR).
    Control,
    /// U+FFFE or U+FFFF, three bytes.
    Nonchar,
    /// The three bytes `]]>`.
    SectionEnd,
}

/// A piece of a value's escaped form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Part of the value, copied as it is.
    Run(&'a str),
    /// What replaces a special spot.
    Replacement(&'static str),
}

/// Room was too small for what was to be written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoRoom;

/// The number of bytes [`write_escaped`] writes for `s`, computed without writing.
///
/// ```
/// assert_eq!(reply_core::cdata::escaped_len("你好"), 6);
/// assert_eq!(reply_core::cdata::escaped_len("]]>"), 15);
/// assert_eq!(reply_core::cdata::escaped_len("\u{0}"), 3);
/// ```
#[inline]
pub fn escaped_len(s: &str) -> usize {
    s.len() + dispatch::extra_len(s.as_bytes())
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
pub fn write_escaped<S: Sink + ?Sized>(sink: &mut S, s: &str) -> Result<(), S::Error> {
    let mut failed = None;
    dispatch::pieces(s, &mut |piece| {
        let written = match piece {
            Piece::Run(run) => sink.write_str(run),
            Piece::Replacement(replacement) => sink.write_str(replacement),
        };
        written.map_err(|e| failed = Some(e)).is_ok()
    });
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
pub(crate) mod tests {
    use core::mem::MaybeUninit;

    #[cfg(target_arch = "x86_64")]
    use super::vector::{Avx2, Avx2Cpu, Sse2};
    use super::vector::{Portable, Vector};
    use super::*;

    /// The escaped form, the plain way: char by char.
    pub(crate) fn reference(s: &str) -> String {
        let mut out = String::new();
        let mut closes = 0;
        for c in s.chars() {
            match c {
                '\t' | '\n' | '\r' => out.push(c),
                '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push(REPLACEMENT),
                '>' if closes >= 2 => out.push_str("]]><![CDATA[>"),
                c => out.push(c),
            }
            closes = if c == ']' { closes + 1 } else { 0 };
        }
        out
    }

    /// Where the first spot that escaping changes starts: a forbidden character, or the first
    /// `]` of a `]]>`.
    fn first_special(s: &str) -> Option<usize> {
        let mut closes = 0;
        for (at, c) in s.char_indices() {
            match c {
                '\t' | '\n' | '\r' => {}
                '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => return Some(at),
                '>' if closes >= 2 => return Some(at - 2),
                _ => {}
            }
            closes = if c == ']' { closes + 1 } else { 0 };
        }
        None
    }

    fn escape(s: &str) -> String {
        let mut out = String::new();
        let Ok(()) = write_escaped(&mut out, s);
        assert_eq!(out.len(), escaped_len(s), "escaped_len disagrees for {s:?}");
        assert_eq!(out, reference(s), "{s:?}");
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

    /// Pieces that are, or look like, or sit next to, what the search looks for.
    pub(crate) const PIECES: [&str; 17] = [
        "a", "]", "]]", ">", "]]>", "\0", "\u{1F}", "\t", "\n", "\r", " ", "你", "，",       // EF BC 8C
        "\u{FFE5}", // EF BF A5: EF BF, not forbidden
        "\u{FFFD}", // EF BF BD
        "\u{FFFE}", "\u{FFFF}",
    ];

    /// The pieces to try: all of them; under Miri, which is slow, one of each kind.
    pub(crate) fn pieces() -> &'static [&'static str] {
        match cfg!(miri) {
            true => &["a", "]]", "]]>", "\0", "\u{FFFF}", "，"],
            false => &PIECES,
        }
    }

    /// The lengths to try: every one up to 80 and around the edges of 16- and 32-byte blocks
    /// and groups of four blocks up to 300; under Miri, those around the edges of each width.
    pub(crate) fn lengths() -> Vec<usize> {
        let edges =
            [0, 1, 2, 7, 8, 9, 15, 16, 17, 18, 31, 32, 33, 34, 63, 64, 65, 66, 97, 128, 129, 130, 160, 192, 257, 300];
        match cfg!(miri) {
            true => vec![0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 128, 129, 300],
            false => (0..=80).chain(edges).chain((81..=300).step_by(7)).collect(),
        }
    }

    /// Values of `len` bytes of plain text with `piece` at several places (under Miri, in the
    /// middle).
    pub(crate) fn values(piece: &str, len: usize) -> Vec<String> {
        let places: Vec<usize> = match cfg!(miri) {
            true => vec![len / 2],
            false => (0..=len).step_by(if len > 80 { 5 } else { 1 }).collect(),
        };
        places.into_iter().map(|at| format!("{}{piece}{}", "a".repeat(at), "b".repeat(len - at))).collect()
    }

    /// Every way of escaping `s` with the vector `V` agrees with the reference.
    fn agrees<V: Vector>(cpu: V::Cpu, s: &str, name: &str) {
        let expected = reference(s);
        let bytes = s.as_bytes();
        assert_eq!(s.len() + generic::extra_len::<V>(cpu, bytes), expected.len(), "{name} extra_len of {s:?}");
        let mut pieces = String::new();
        assert!(generic::pieces::<V>(cpu, s, 0, &mut |p| {
            pieces.push_str(match p {
                Piece::Run(run) => run,
                Piece::Replacement(r) => r,
            });
            true
        }));
        assert_eq!(pieces, expected, "{name} pieces of {s:?}");
        // The copy of two blocks, for every length it takes.
        if s.len() > V::BYTES && s.len() <= 2 * V::BYTES {
            let mut room = vec![MaybeUninit::new(0xAAu8); s.len() + 1];
            let found = generic::copy_checked_two::<V>(&generic::Lanes::new(cpu), cpu, &mut room, bytes);
            assert!(first_special(s).is_none_or(|at| at >= found.unwrap_or(s.len())), "{name} two of {s:?}");
            if found.is_none() {
                // SAFETY: every byte of `room` was initialized when it was made.
                #[allow(unsafe_code)]
                let copied: Vec<u8> = room.iter().map(|b| unsafe { b.assume_init() }).collect();
                assert_eq!((&copied[..s.len()], copied[s.len()]), (bytes, 0xAA), "{name} two copied {s:?} wrong");
            }
        }
        // The copy of a few blocks, for every length it takes.
        if s.len() > V::BYTES {
            let mut room = vec![MaybeUninit::new(0xAAu8); s.len() + 1];
            let found = generic::copy_checked_few::<V>(&generic::Lanes::new(cpu), cpu, &mut room, bytes, 0);
            assert!(first_special(s).is_none_or(|at| at >= found.unwrap_or(s.len())), "{name} few of {s:?}");
            if found.is_none() {
                // SAFETY: every byte of `room` was initialized when it was made.
                #[allow(unsafe_code)]
                let copied: Vec<u8> = room.iter().map(|b| unsafe { b.assume_init() }).collect();
                assert_eq!((&copied[..s.len()], copied[s.len()]), (bytes, 0xAA), "{name} few copied {s:?} wrong");
            }
        }
        // The copy with the rough test: never clean where something must be escaped, and
        // clean before what it says.
        if s.len() > V::BYTES {
            let mut room = vec![MaybeUninit::new(0xAAu8); s.len() + 1];
            let found = generic::copy_checked::<V>(cpu, &mut room, bytes);
            let clean_to = found.unwrap_or(s.len());
            let special = first_special(s);
            assert!(special.is_none_or(|at| at >= clean_to), "{name} copy_checked of {s:?}: {found:?}, {special:?}");
            // SAFETY: every byte of `room` was initialized when it was made.
            #[allow(unsafe_code)]
            let copied: Vec<u8> = room.iter().map(|b| unsafe { b.assume_init() }).collect();
            assert_eq!(copied[..clean_to], bytes[..clean_to], "{name} copy_checked copied {s:?} wrong");
            assert_eq!(copied[s.len()], 0xAA, "{name} copy_checked wrote past {s:?}");
            // Escaped from there into room, exactly as long as it needs and too short by one.
            let mut room = room[..clean_to].to_vec();
            room.resize(expected.len(), MaybeUninit::new(0));
            assert_eq!(generic::escape_into::<V>(cpu, &mut room, s, clean_to), Ok(expected.len()));
            // SAFETY: every byte of `room` was initialized when it was made.
            #[allow(unsafe_code)]
            let escaped: Vec<u8> = room.iter().map(|b| unsafe { b.assume_init() }).collect();
            assert_eq!(escaped, expected.as_bytes(), "{name} escape_into of {s:?}");
            room.pop();
            if expected.len() > clean_to {
                assert_eq!(generic::escape_into::<V>(cpu, &mut room, s, clean_to), Err(NoRoom));
            }
        }
    }

    /// And every vector type there is.
    fn every_vector_agrees(s: &str) {
        agrees::<Portable>((), s, "portable");
        #[cfg(target_arch = "x86_64")]
        {
            agrees::<Sse2>((), s, "SSE2");
            if let Some(cpu) = Avx2Cpu::get() {
                cpu.in_avx2_code(|| agrees::<Avx2>(cpu, s, "AVX2"));
            }
        }
        // The short copy, for what it takes.
        if s.len() <= 16 {
            let mut room = vec![MaybeUninit::new(0xAAu8); s.len() + 1];
            let maybe = generic::copy_checked_short::<Portable>(&generic::Lanes::new(()), (), &mut room, s.as_bytes());
            assert!(maybe || reference(s) == s, "short copy missed a spot in {s:?}");
            #[cfg(target_arch = "x86_64")]
            assert_eq!(
                generic::copy_checked_short::<Sse2>(&generic::Lanes::new(()), (), &mut room, s.as_bytes()),
                maybe
            );
            // SAFETY: every byte of `room` was initialized when it was made.
            #[allow(unsafe_code)]
            let copied: Vec<u8> = room.iter().map(|b| unsafe { b.assume_init() }).collect();
            assert_eq!((&copied[..s.len()], copied[s.len()]), (s.as_bytes(), 0xAA), "short copy of {s:?}");
        }
        escape(s);
    }

    #[test]
    fn every_piece_at_every_place_and_length() {
        for piece in pieces() {
            for len in lengths() {
                for value in values(piece, len) {
                    every_vector_agrees(&value);
                }
            }
        }
    }

    #[test]
    fn dense_mixtures_of_pieces() {
        // A fixed pseudo-random sequence (xorshift), so that a failure can be replayed.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..if cfg!(miri) { 6 } else { 3000 } {
            let count = (next() % 90) as usize;
            let mut value = String::new();
            for _ in 0..count {
                let r = next() as usize;
                value.push_str(if r.is_multiple_of(3) { "天气" } else { PIECES[(r >> 8) % PIECES.len()] });
            }
            every_vector_agrees(&value);
        }
    }

    #[test]
    fn the_widest_vectors_are_used_where_the_cpu_has_them() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(dispatch::wide(), Avx2Cpu::get().is_some());
        #[cfg(not(target_arch = "x86_64"))]
        assert!(!dispatch::wide());
    }
}
