//! Writing a string as the content of a JSON string (between its quotes), so that the result is
//! valid JSON for every input and reads back as the input: the form a reply takes in the
//! customer-service message API ([`PassiveReply::write_customer_service`]).
//!
//! - `"` and `\` are escaped as `\"` and `\\`; tab, line feed and carriage return as `\t`, `\n`
//!   and `\r`;
//! - U+2028 and U+2029 (line and paragraph separators, which JSON allows but JavaScript string
//!   literals did not) as `\u2028` and `\u2029`;
//! - the characters the XML of a passive reply can't carry ([`cdata`](crate::cdata): the other C0
//!   controls, U+FFFE and U+FFFF) are replaced by U+FFFD the same way, so a reply reads the same
//!   whichever way it reaches the user;
//! - everything else, astral characters included, is copied as UTF-8.
//!
//! ```
//! use reply_core::json;
//!
//! let mut out = String::new();
//! json::write_escaped(&mut out, "say \"hi\"\n\u{2028}😀\u{1}").unwrap();
//! assert_eq!(out, r#"say \"hi\"\n\u2028😀"#.to_owned() + "\u{FFFD}");
//! assert_eq!(json::escaped_len("say \"hi\"\n\u{2028}😀\u{1}"), out.len());
//! ```
//!
//! [`PassiveReply::write_customer_service`]: crate::PassiveReply::write_customer_service

use crate::cdata::REPLACEMENT;
use crate::sink::Sink;

/// What each byte can start: 0 nothing (copied as it is); [`ESCAPED`] a one-byte character
/// written as two (`"`, `\\`, tab, LF, CR); [`REPLACED`] a control written as U+FFFD (three bytes);
/// [`LEAD`] the first byte of U+2028/U+2029 (0xE2, six bytes for three) or of U+FFFE/U+FFFF (0xEF,
/// three for three), when the next two bytes say so.
static CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        class[b] = REPLACED;
        b += 1;
    }
    class[b'\t' as usize] = ESCAPED;
    class[b'\n' as usize] = ESCAPED;
    class[b'\r' as usize] = ESCAPED;
    class[b'"' as usize] = ESCAPED;
    class[b'\\' as usize] = ESCAPED;
    class[0xE2] = LEAD;
    class[0xEF] = LEAD;
    class
};
const ESCAPED: u8 = 1;
const REPLACED: u8 = 2;
const LEAD: u8 = 3;

/// The replacement for the spot at the start of `rest` (whose first byte's class is not 0), and
/// how many bytes of the input it stands for; `None` when it is copied as it is after all.
#[inline]
fn replacement(rest: &[u8]) -> Option<(&'static str, usize)> {
    const FFFD: &str = "\u{FFFD}";
    let replaced = match *rest {
        [b'"', ..] => ("\\\"", 1),
        [b'\\', ..] => ("\\\\", 1),
        [b'\t', ..] => ("\\t", 1),
        [b'\n', ..] => ("\\n", 1),
        [b'\r', ..] => ("\\r", 1),
        [0..=0x1F, ..] => (FFFD, 1),
        [0xE2, 0x80, 0xA8, ..] => ("\\u2028", 3),
        [0xE2, 0x80, 0xA9, ..] => ("\\u2029", 3),
        [0xEF, 0xBF, 0xBE | 0xBF, ..] => (FFFD, 3),
        _ => return None,
    };
    debug_assert_eq!(FFFD.chars().next(), Some(REPLACEMENT));
    Some(replaced)
}

/// Hands `s`'s escaped form to `f` piece by piece: runs of `s` copied as they are, and
/// replacements. Stops early when `f` returns false.
#[inline]
fn pieces<'s>(s: &'s str, f: &mut impl FnMut(&'s str) -> bool) {
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    loop {
        while i < bytes.len() && CLASS[usize::from(bytes[i])] == 0 {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let Some((replacement, len)) = replacement(&bytes[i..]) else {
            i += 1;
            continue;
        };
        // `i` and `i + len` are on character boundaries: each spot is a whole character.
        if (start < i && !f(&s[start..i])) || !f(replacement) {
            return;
        }
        i += len;
        start = i;
    }
    if start < bytes.len() {
        f(&s[start..]);
    }
}

/// What each byte adds to the escaped length by itself: 1 for a one-byte character written as two,
/// 2 for a control written as U+FFFD. (U+2028/U+2029 add 3, counted apart; U+FFFE and U+FFFF add
/// nothing, U+FFFD being as long.)
static EXTRA: [u8; 256] = {
    let mut extra = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        extra[b] = match CLASS[b] {
            ESCAPED => 1,
            REPLACED => 2,
            _ => 0,
        };
        b += 1;
    }
    extra
};

/// The number of bytes [`write_escaped`] writes for `s`, computed without writing: one pass that
/// adds what each byte adds, and 3 for each U+2028 or U+2029.
///
/// ```
/// assert_eq!(reply_core::json::escaped_len("你好"), 6);
/// assert_eq!(reply_core::json::escaped_len("a\"b"), 4);
/// assert_eq!(reply_core::json::escaped_len("\u{2028}"), 6);
/// ```
#[inline]
pub fn escaped_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = bytes.len();
    for (i, &b) in bytes.iter().enumerate() {
        len += usize::from(EXTRA[usize::from(b)]);
        if b == 0xE2 && matches!(bytes.get(i + 1..i + 3), Some([0x80, 0xA8 | 0xA9])) {
            len += 3;
        }
    }
    len
}

/// Writes `s` as the content of a JSON string: the caller writes the quotes around it. Writes
/// exactly [`escaped_len(s)`](escaped_len) bytes, one `write_str` call per clean run and per
/// replacement.
///
/// ```
/// let mut out = String::from("\"");
/// reply_core::json::write_escaped(&mut out, "C:\\ \u{FFFF}").unwrap();
/// out.push('"');
/// assert_eq!(out, "\"C:\\\\ \u{FFFD}\"");
/// ```
pub fn write_escaped<S: Sink + ?Sized>(sink: &mut S, s: &str) -> Result<(), S::Error> {
    let mut failed = None;
    pieces(s, &mut |piece| sink.write_str(piece).map_err(|e| failed = Some(e)).is_ok());
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The escaped form, the plain way: char by char.
    fn reference(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push(REPLACEMENT),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn every_spot_and_its_neighbours() {
        let spots = ["\"", "\\", "\t", "\n", "\r", "\u{0}", "\u{1F}", "\u{2028}", "\u{2029}", "\u{FFFE}", "\u{FFFF}"];
        let neighbours = ["", "a", "\u{7F}", "\u{2027}", "\u{202A}", "\u{FFFD}", "\u{E000}", "€", "😀", "\u{10FFFF}"];
        for spot in spots {
            for before in neighbours {
                for after in neighbours {
                    let s = format!("{before}{spot}{after}{spot}");
                    let mut out = String::new();
                    write_escaped(&mut out, &s).unwrap();
                    assert_eq!(out, reference(&s), "{s:?}");
                    assert_eq!(escaped_len(&s), out.len(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn every_character_below_0x3000_and_the_last_ones() {
        let chars = ('\0'..'\u{3000}').chain('\u{FFF0}'..='\u{FFFF}').chain(['\u{10000}', '\u{10FFFF}']);
        let s: String = chars.collect();
        let mut out = String::new();
        write_escaped(&mut out, &s).unwrap();
        assert_eq!(out, reference(&s));
        assert_eq!(escaped_len(&s), out.len());
    }
}
