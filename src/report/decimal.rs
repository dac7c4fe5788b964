//! Numbers with a fixed count of decimals, the text `format!("{value:.1}")` writes, without
//! the formatting machinery: findings state durations to a tenth of a second, and the HTTP
//! hop findings, built one after another on the main thread after the analysis, spent most of
//! their time in std's exact float formatting (about 1,800 instructions per `format!`).
//!
//! Exactness: std rounds the exact binary value half to even. So does [`push_fixed`]: it
//! splits the `f64` into its integer mantissa and power of two and rounds with integer
//! arithmetic, so no rounding happens before the one that is printed. A test compares the two
//! on ties, neighbours of ties and random values.
//!
//! [`whole_micros`] serves the JSON numbers: almost every number in a report is a time or a
//! duration rounded to microseconds (`epoch_seconds`, `round_micros`, `round_millis`), and
//! the shortest round-trip text serde_json writes for such a value is that decimal itself,
//! which integer arithmetic writes in a fifth of the instructions.

use crate::flow::text::push_decimal;
use std::cmp::Ordering;
use std::fmt::Write;

/// At most this many decimals are written without std; more go through `format!`.
const MAX_DECIMALS: u32 = 3;
/// Larger magnitudes go through `format!` (they are not durations).
const MAX_EXACT: f64 = 1e15;

/// `value` with `decimals` digits after the point, as `format!("{value:.decimals$}")`.
pub fn fixed(value: f64, decimals: u32) -> String {
    let mut text = String::with_capacity(24);
    push_fixed(&mut text, value, decimals);
    text
}

/// Appends `value` with `decimals` digits after the point, as
/// `format!("{value:.decimals$}")` writes it.
pub fn push_fixed(out: &mut String, value: f64, decimals: u32) {
    if !value.is_finite() || value.abs() >= MAX_EXACT || decimals > MAX_DECIMALS {
        // Writing to a String cannot fail.
        let _ = write!(out, "{value:.*}", decimals as usize);
        return;
    }
    if value.is_sign_negative() {
        out.push('-');
    }
    let scale = 10u64.pow(decimals);
    let scaled = scaled_half_even(value.abs(), scale);
    push_decimal(out, scaled / scale);
    if decimals == 0 {
        return;
    }
    out.push('.');
    let fraction = scaled % scale;
    let mut place = scale / 10;
    while place > 0 {
        let digit = (fraction / place) % 10;
        out.push(char::from(b'0' + digit as u8));
        place /= 10;
    }
}

/// serde_json writes values below 10^-5 in exponent notation (`9e-6`); the fast path starts a
/// decade above that, and smaller values (none of a report's durations) take the formatter.
const MIN_MICRO_DECIMAL: f64 = 1e-4;
/// 2^33: below it, consecutive doubles are less than 10^-6 apart (at most 2^-20), which the
/// argument in [`whole_micros`] needs.
const MAX_MICRO_DECIMAL: f64 = 8_589_934_592.0;

/// The whole number of microseconds `value` is, when its shortest round-trip text (what
/// serde_json writes) is that number of microseconds as a decimal: `value` is the double
/// nearest to `micros / 10^6`, and between 10^-4 and 2^33.
///
/// Why the texts agree: the shortest text is the decimal with the fewest digits inside
/// `value`'s rounding interval, which is less than one double-spacing wide and contains
/// `micros / 10^6`. Below 2^33 that spacing is under 10^-6, so no other decimal with six or
/// fewer decimals lies inside it, and any decimal with fewer significant digits would have
/// fewer decimals. A test compares [`push_micros`] with serde_json on every micro-decimal
/// below 0.2 and on random ones up to the bound.
pub fn whole_micros(value: f64) -> Option<u64> {
    if !(MIN_MICRO_DECIMAL..MAX_MICRO_DECIMAL).contains(&value) {
        return None;
    }
    let micros = (value * 1e6).round();
    // Not a micro-decimal (a ratio, a mean): the general formatter writes it.
    if micros / 1e6 != value {
        return None;
    }
    Some(micros as u64)
}

/// Appends `micros / 10^6` as serde_json writes the double nearest to it: the whole part,
/// a point, and the fraction without trailing zeros (one `0` for a whole number). `micros`
/// is below 2^33 × 10^6 ([`whole_micros`]): the whole part has at most 10 digits.
pub fn push_micros(out: &mut Vec<u8>, micros: u64) {
    // The whole part is written right to left ending at the point, two digits at a time;
    // then a block of known size from its first digit is copied and cut to length (a slice
    // of the text's own length takes a `memcpy` call).
    const POINT: usize = 10;
    const BLOCK: usize = 24;
    let mut text = [b'0'; POINT + BLOCK];
    let mut whole = micros / 1_000_000;
    let mut start = POINT;
    loop {
        if whole < 10 {
            start = start.saturating_sub(1);
            if let Some(digit) = text.get_mut(start) {
                *digit = b'0' + whole as u8;
            }
            break;
        }
        let Some(pair_start) = start.checked_sub(2) else {
            break;
        };
        start = pair_start;
        write_pair(&mut text, start, (whole % 100) as usize);
        whole /= 100;
        if whole == 0 {
            break;
        }
    }
    let fraction = (micros % 1_000_000) as usize;
    write_pair(&mut text, POINT + 1, fraction / 10_000);
    write_pair(&mut text, POINT + 3, fraction / 100 % 100);
    write_pair(&mut text, POINT + 5, fraction % 100);
    if let Some(point) = text.get_mut(POINT) {
        *point = b'.';
    }
    let fraction_digits = text
        .get(POINT + 1..POINT + 7)
        .and_then(|digits| digits.iter().rposition(|digit| *digit != b'0'))
        .map_or(1, |last| last + 1);
    let length = POINT + 1 + fraction_digits - start;
    let block = text
        .get(start..start + BLOCK)
        .and_then(|block| <&[u8; BLOCK]>::try_from(block).ok());
    if let Some(block) = block {
        let at = out.len();
        out.extend_from_slice(block);
        out.truncate(at + length.min(BLOCK));
    }
}

/// Writes the two digits of `pair` (below 100) at `at` and `at + 1`.
fn write_pair(text: &mut [u8], at: usize, pair: usize) {
    const PAIRS: &[u8; 200] = b"\
        0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    if let (Some(slots), Some(digits)) =
        (text.get_mut(at..at + 2), PAIRS.get(pair * 2..pair * 2 + 2))
    {
        slots.copy_from_slice(digits);
    }
}

/// `value × scale` rounded half to even, from the exact binary value: `value` is
/// `mantissa × 2^power`, so the product is an integer quotient and remainder of a shift.
/// `value` is finite, non-negative and below [`MAX_EXACT`].
fn scaled_half_even(value: f64, scale: u64) -> u64 {
    let bits = value.to_bits();
    let biased_exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, power) = if biased_exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased_exponent - 1075)
    };
    let product = u128::from(mantissa) * u128::from(scale);
    if power >= 0 {
        // Only for values of 2^52 and more, which MAX_EXACT keeps out.
        let shifted = product
            .checked_shl(power.unsigned_abs())
            .unwrap_or(u128::MAX);
        return u64::try_from(shifted).unwrap_or(u64::MAX);
    }
    let shift = power.unsigned_abs();
    if shift >= 128 {
        // Below 2^-65 × 2^63: nearer to 0 than to 1.
        return 0;
    }
    let quotient = product >> shift;
    let remainder = product & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    let rounded = match remainder.cmp(&half) {
        Ordering::Greater => quotient + 1,
        Ordering::Less => quotient,
        Ordering::Equal => quotient + (quotient & 1),
    };
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_json_text(value: f64) -> String {
        serde_json::to_string(&value).unwrap()
    }

    fn micro_text(value: f64) -> Option<String> {
        let micros = whole_micros(value)?;
        let mut out = Vec::new();
        push_micros(&mut out, micros);
        Some(String::from_utf8(out).unwrap())
    }

    /// Every micro-decimal below 0.2 and random ones up to 2^33 (epoch times among them),
    /// each produced the way the report rounds: all are written as serde_json writes them.
    #[test]
    fn micro_decimals_read_as_serde_json_writes_them() {
        let mut checked = 0;
        let mut check = |value: f64| {
            if let Some(text) = micro_text(value) {
                assert_eq!(text, serde_json_text(value), "{value:e}");
                checked += 1;
            }
        };
        for micros in 0..200_000u64 {
            check(micros as f64 / 1e6);
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..300_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let micros = state % 8_589_934_592_000_000;
            check(micros as f64 / 1e6);
            check(crate::report::round_micros(micros as f64 / 1e6));
            check(crate::report::round_millis(micros as f64 / 1e6));
            let nanos = i64::try_from(state >> 2).unwrap_or(0) % 8_000_000_000_000_000_000;
            check(crate::report::epoch_seconds(
                crate::time::Timestamp::from_nanos(nanos),
            ));
        }
        assert!(checked > 1_000_000, "{checked}");
    }

    /// Values that are not micro-decimals, or outside the range where the texts provably
    /// agree, are left to the general formatter.
    #[test]
    fn other_values_are_not_micro_decimals() {
        for value in [
            0.0,
            0.00005,
            1.0 / 3.0,
            0.1234567,
            2.5e-7,
            8_589_934_592.0,
            1e300,
            -1.5,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert_eq!(whole_micros(value), None, "{value:e}");
        }
        assert_eq!(whole_micros(1704067200.00425), Some(1_704_067_200_004_250));
    }

    fn check(value: f64) {
        for decimals in 0..=MAX_DECIMALS + 1 {
            assert_eq!(
                fixed(value, decimals),
                format!("{value:.*}", decimals as usize),
                "{value:e} with {decimals} decimals"
            );
        }
    }

    /// Exact ties (multiples of 1/8 are exact in binary), the floats next to them, and the
    /// usual durations.
    #[test]
    fn ties_and_their_neighbours_read_as_std_writes_them() {
        for eighths in 0..10_000u32 {
            let tie = f64::from(eighths) / 8.0;
            check(tie);
            check(-tie);
            check(f64::from_bits(tie.to_bits() + 1));
            if tie > 0.0 {
                check(f64::from_bits(tie.to_bits() - 1));
            }
        }
        for special in [
            0.05,
            0.15,
            0.25,
            0.35,
            0.45,
            74.95,
            75.05,
            1e-300,
            5e-324,
            1e14 + 0.5,
        ] {
            check(special);
        }
        for outside in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e15,
            1.5e300,
            -2e16,
        ] {
            check(outside);
        }
    }

    #[test]
    fn random_values_of_every_magnitude_read_as_std_writes_them() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let value = f64::from_bits(state);
            if value.is_finite() {
                check(value);
            }
            // Durations: 0–10,000 s with sub-millisecond parts.
            check((state % 10_000_000_000) as f64 / 1e6);
        }
    }
}
