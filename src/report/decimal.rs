//! Numbers with a fixed count of decimals, the text `format!("{value:.1}")` writes, without
//! the formatting machinery: findings state durations to a tenth of a second, and the HTTP
//! hop findings, built one after another on the main thread after the analysis, spent most of
//! their time in std's exact float formatting (about 1,800 instructions per `format!`).
//!
//! Exactness: std rounds the exact binary value half to even. So does [`push_fixed`]: it
//! splits the `f64` into its integer mantissa and power of two and rounds with integer
//! arithmetic, so no rounding happens before the one that is printed. A test compares the two
//! on ties, neighbours of ties and random values.

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
