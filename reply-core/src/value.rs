//! The values elements hold: text, and CreateTime.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A type whose value can be the text of an element (Content, MediaId, Title, …).
///
/// Implemented for `str`, `String`, `Cow<str>`, `Box<str>`, `Rc<str>`, `Arc<str>` and references
/// to any of them. Implement it for your own type to use it as a field directly:
///
/// ```
/// use reply_core::TextValue;
///
/// struct OpenId(String);
///
/// impl TextValue for OpenId {
///     fn as_text(&self) -> &str {
///         &self.0
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't be the text of an element",
    label = "this field's type is not text",
    note = "an element's text takes &str, String, Cow<str>, Box<str>, Rc<str>, Arc<str>, or a type that implements `TextValue`"
)]
pub trait TextValue {
    /// The text, before escaping.
    fn as_text(&self) -> &str;
}

impl TextValue for str {
    #[inline]
    fn as_text(&self) -> &str {
        self
    }
}

impl TextValue for String {
    #[inline]
    fn as_text(&self) -> &str {
        self
    }
}

impl TextValue for Cow<'_, str> {
    #[inline]
    fn as_text(&self) -> &str {
        self
    }
}

impl TextValue for Box<str> {
    #[inline]
    fn as_text(&self) -> &str {
        self
    }
}

impl TextValue for Rc<str> {
    #[inline]
    fn as_text(&self) -> &str {
        self
    }
}

impl TextValue for Arc<str> {
    #[inline]
    fn as_text(&self) -> &str {
        self
    }
}

impl<T: TextValue + ?Sized> TextValue for &T {
    #[inline]
    fn as_text(&self) -> &str {
        (**self).as_text()
    }
}

/// A type whose value can be a CreateTime: whole seconds since the Unix epoch.
///
/// Implemented for `u32`, `u64`, `i64` (taken to be seconds) and [`SystemTime`] (truncated to
/// whole seconds), and references to them. There is deliberately no implementation for strings
/// or floating-point numbers, and a `SystemTime` can't be written in milliseconds by mistake.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use reply_core::CreateTime;
///
/// let t = UNIX_EPOCH + Duration::from_millis(12_345_678_999);
/// assert_eq!(t.unix_seconds().to_string(), "12345678");
/// assert_eq!(12345678u32.unix_seconds(), t.unix_seconds());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't be a CreateTime",
    label = "this field's type is not a CreateTime",
    note = "CreateTime takes whole seconds since the Unix epoch: u32, u64, i64 or std::time::SystemTime"
)]
pub trait CreateTime {
    /// The time in whole seconds since the Unix epoch.
    fn unix_seconds(&self) -> UnixSeconds;
}

/// Whole seconds since the Unix epoch, as written in a CreateTime element.
///
/// Holds every `u64` and every `i64` exactly; its [`Display`](std::fmt::Display) is the decimal
/// integer the element holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnixSeconds {
    negative: bool,
    magnitude: u64,
}

impl UnixSeconds {
    /// `seconds` after the epoch.
    pub const fn from_u64(seconds: u64) -> Self {
        UnixSeconds { negative: false, magnitude: seconds }
    }

    /// `seconds` after the epoch, or before it when negative.
    pub const fn from_i64(seconds: i64) -> Self {
        UnixSeconds { negative: seconds < 0, magnitude: seconds.unsigned_abs() }
    }

    /// The number of bytes of its decimal form.
    #[inline]
    pub const fn decimal_len(&self) -> usize {
        // Ten digits, every CreateTime from 2001 to 2286, first.
        let digits = if self.magnitude >= 1_000_000_000 && self.magnitude < 10_000_000_000 {
            10
        } else {
            match self.magnitude.checked_ilog10() {
                Some(log) => log as usize + 1,
                None => 1,
            }
        };
        digits + self.negative as usize
    }

    /// Its decimal form, written into `buf`.
    #[inline]
    pub(crate) fn decimal<'b>(&self, buf: &'b mut DecimalBuf) -> &'b str {
        buf.format(self.negative, self.magnitude)
    }

    /// Writes its decimal form into `dst`, which is [`decimal_len`](UnixSeconds::decimal_len)
    /// bytes long. Ten digits, every CreateTime from 2001 to 2286, straight into it, inline: the
    /// first two from a table of pairs, the last eight at once (`eight_digits`); any other
    /// number by a call.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn write_decimal(&self, dst: &mut [MaybeUninit<u8>]) {
        let m = self.magnitude;
        match dst {
            [_, _, _, _, _, _, _, _, _, _] if (1_000_000_000..10_000_000_000).contains(&m) && !self.negative => {
                let first = m / 100_000_000;
                dst[..2].write_copy_of_slice(&pair(first as u32));
                dst[2..].write_copy_of_slice(&eight_digits((m - first * 100_000_000) as u32));
            }
            _ => self.write_decimal_other(dst),
        }
    }

    /// [`write_decimal`](UnixSeconds::write_decimal) of any other number: one or two digits (an
    /// ArticleCount) from the table, the others formatted aside and copied.
    #[inline(never)]
    fn write_decimal_other(&self, dst: &mut [MaybeUninit<u8>]) {
        let m = self.magnitude;
        match dst {
            [one] if m < 10 && !self.negative => {
                one.write(b'0' + m as u8);
                return;
            }
            [_, _] if m < 100 && !self.negative => {
                dst.write_copy_of_slice(&pair(m as u32));
                return;
            }
            _ => {}
        }
        let mut buf = DecimalBuf::new();
        let digits = self.decimal(&mut buf).as_bytes();
        dst.write_copy_of_slice(&digits[digits.len() - dst.len()..]);
    }
}

/// "00" to "99": two digits per division.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The two digits of `n`, below 100.
#[inline(always)]
fn pair(n: u32) -> [u8; 2] {
    let at = 2 * n as usize;
    [PAIRS[at], PAIRS[at + 1]]
}

impl std::fmt::Display for UnixSeconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.decimal(&mut DecimalBuf::new()))
    }
}

/// Room for the decimal form of any `u64`, with a sign.
pub(crate) struct DecimalBuf([u8; 21]);

/// The eight decimal digits of `x` (below 10^8, leading zeros included) as ASCII, the first
/// digit in the lowest byte: computed in the lanes of one word, without a table or a division
/// but the first (by 10,000). Each step divides every lane at once by a multiplication and a
/// shift that are exact for the lane's range (by 100 below 10,000, by 10 below 100), and the
/// lanes are wide enough that no product spills into the next lane.
#[inline(always)]
const fn eight_digits(x: u32) -> [u8; 8] {
    // Lanes of 32 bits: the value of the first four digits, then of the last four.
    let fours = (x / 10_000) as u64 | ((x % 10_000) as u64) << 32;
    // Of 16 bits: each four's hundreds, then the rest.
    let hundreds = ((fours * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let twos = hundreds | (fours - 100 * hundreds) << 16;
    // Of 8 bits: each two's tens, then its ones.
    let tens = ((twos * 103) >> 10) & 0x000F_000F_000F_000F;
    let ones = twos - 10 * tens;
    (tens | ones << 8 | 0x3030_3030_3030_3030).to_le_bytes()
}

impl DecimalBuf {
    #[inline]
    pub(crate) const fn new() -> Self {
        DecimalBuf([0; 21])
    }

    /// The decimal form of `magnitude`, after a `-` if `negative`.
    #[inline]
    pub(crate) fn format(&mut self, negative: bool, magnitude: u64) -> &str {
        // Only ASCII digits and `-` are written.
        match std::str::from_utf8(self.format_bytes(negative, magnitude)) {
            Ok(digits) => digits,
            Err(e) => unreachable!("a decimal is ASCII: {e}"),
        }
    }

    /// [`format`](DecimalBuf::format)'s digits as bytes, for a caller that needs no `str` (and so no
    /// UTF-8 check).
    #[inline]
    pub(crate) fn format_bytes(&mut self, negative: bool, mut magnitude: u64) -> &[u8] {
        let mut start = self.0.len();
        // Eight digits at a time while there are more than eight (`eight_digits`).
        while magnitude >= 100_000_000 {
            start -= 8;
            self.0[start..start + 8].copy_from_slice(&eight_digits((magnitude % 100_000_000) as u32));
            magnitude /= 100_000_000;
        }
        // At most eight digits left.
        let mut rest = magnitude as u32;
        while rest >= 100 {
            start -= 2;
            self.0[start..start + 2].copy_from_slice(&pair(rest % 100));
            rest /= 100;
        }
        if rest >= 10 {
            start -= 2;
            self.0[start..start + 2].copy_from_slice(&pair(rest));
        } else {
            start -= 1;
            self.0[start] = b'0' + rest as u8;
        }
        if negative {
            start -= 1;
            self.0[start] = b'-';
        }
        &self.0[start..]
    }
}

impl CreateTime for u32 {
    #[inline]
    fn unix_seconds(&self) -> UnixSeconds {
        UnixSeconds::from_u64(u64::from(*self))
    }
}

impl CreateTime for u64 {
    #[inline]
    fn unix_seconds(&self) -> UnixSeconds {
        UnixSeconds::from_u64(*self)
    }
}

impl CreateTime for i64 {
    #[inline]
    fn unix_seconds(&self) -> UnixSeconds {
        UnixSeconds::from_i64(*self)
    }
}

impl CreateTime for SystemTime {
    /// Whole seconds, rounded towards the past: a time 0.5 s before the epoch is -1.
    fn unix_seconds(&self) -> UnixSeconds {
        match self.duration_since(UNIX_EPOCH) {
            Ok(after) => UnixSeconds::from_u64(after.as_secs()),
            Err(before) => {
                let before = before.duration();
                let whole = before.as_secs() + u64::from(before.subsec_nanos() > 0);
                UnixSeconds { negative: true, magnitude: whole }
            }
        }
    }
}

impl<T: CreateTime + ?Sized> CreateTime for &T {
    #[inline]
    fn unix_seconds(&self) -> UnixSeconds {
        (**self).unix_seconds()
    }
}

/// The current time in whole seconds since the Unix epoch, for a reply's CreateTime.
///
/// A clock set before 1970 gives 0.
///
/// ```
/// assert!(reply_core::now() > 1_600_000_000);
/// ```
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn decimal_forms() {
        let cases: [(UnixSeconds, &str); 7] = [
            (UnixSeconds::from_u64(0), "0"),
            (UnixSeconds::from_u64(9), "9"),
            (UnixSeconds::from_u64(10), "10"),
            (UnixSeconds::from_u64(12345678), "12345678"),
            (UnixSeconds::from_u64(u64::MAX), "18446744073709551615"),
            (UnixSeconds::from_i64(-1), "-1"),
            (UnixSeconds::from_i64(i64::MIN), "-9223372036854775808"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(seconds.to_string(), expected);
            assert_eq!(seconds.decimal_len(), expected.len(), "{expected}");
        }
    }

    /// Every group of eight digits would be 10^8 cases; these are every value of each
    /// four-digit lane with the other lane at its ends, and every number around each carry.
    #[test]
    fn eight_digits_of_every_form() {
        let check = |x: u32| assert_eq!(eight_digits(x), *format!("{x:08}").as_bytes(), "{x}");
        // Under Miri, which is slow, every 97th.
        for four in (0..10_000).step_by(if cfg!(miri) { 97 } else { 1 }) {
            for other in [0, 1, 9_999] {
                check(four * 10_000 + other);
                check(other * 10_000 + four);
            }
        }
        for power in 0..8 {
            let p = 10u32.pow(power);
            for x in [p - 1, p, p + 1, 99_999_999 - p + 1, 99_999_999] {
                check(x);
            }
        }
    }

    #[test]
    fn decimal_forms_agree_with_display() {
        let mut values: Vec<u64> = vec![0, 1, u64::MAX, u64::MAX - 1];
        for power in 0..20 {
            let p = 10u64.pow(power);
            values.extend([p - 1, p, p + 1, p / 10 * 5]);
        }
        // Around the ends of the ten-digit path, and times of this century.
        values.extend([999_999_999, 1_000_000_000, 9_999_999_999, 10_000_000_000, 1_700_000_000, 1_764_400_000]);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..if cfg!(miri) { 300 } else { 10_000 } {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Spread over every number of digits.
            values.push(state >> (state % 64));
        }
        // What a reply writes into room: the same digits.
        let written = |seconds: UnixSeconds| {
            let mut room = vec![MaybeUninit::new(b'#'); seconds.decimal_len()];
            seconds.write_decimal(&mut room);
            // SAFETY: every byte of `room` was initialized when it was made.
            #[allow(unsafe_code)]
            let bytes: Vec<u8> = room.into_iter().map(|b| unsafe { b.assume_init() }).collect();
            String::from_utf8(bytes).unwrap()
        };
        for n in values {
            let unsigned = UnixSeconds::from_u64(n);
            assert_eq!(unsigned.to_string(), n.to_string());
            assert_eq!(written(unsigned), n.to_string());
            assert_eq!(written(UnixSeconds::from_i64(n as i64)), (n as i64).to_string());
            assert_eq!(unsigned.decimal_len(), n.to_string().len(), "{n}");
            let signed = n as i64;
            assert_eq!(UnixSeconds::from_i64(signed).to_string(), signed.to_string());
            assert_eq!(UnixSeconds::from_i64(signed).decimal_len(), signed.to_string().len(), "{signed}");
        }
    }

    #[test]
    fn system_time_is_whole_seconds() {
        let after = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
        assert_eq!(after.unix_seconds().to_string(), "1700000000");
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(before.unix_seconds().to_string(), "-1");
        let before = UNIX_EPOCH - Duration::from_secs(2);
        assert_eq!(before.unix_seconds().to_string(), "-2");
    }
}
