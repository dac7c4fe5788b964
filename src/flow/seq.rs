//! TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).

/// `a` is before `b` in sequence space.
pub fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a - b` as a signed distance, valid while the two are within 2^31 of each other.
pub fn distance(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// Extends a 32-bit sequence number to a 64-bit stream position, choosing the wrap that puts
/// it nearest to `reference` (a position already known to be close).
pub fn unwrap_near(seq: u32, reference: u64) -> u64 {
    let reference_low = reference as u32;
    let delta = distance(seq, reference_low);
    reference.wrapping_add_signed(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_survives_wrap_around() {
        assert!(before(0xffff_fff0, 0x10));
        assert!(!before(0x10, 0xffff_fff0));
        assert_eq!(distance(0x10, 0xffff_fff0), 0x20);
        assert_eq!(distance(5, 5), 0);
    }

    #[test]
    fn unwrap_crosses_the_boundary_forward() {
        let reference = (1u64 << 32) - 16;
        assert_eq!(unwrap_near(0x10, reference), (1u64 << 32) + 0x10);
        assert_eq!(unwrap_near(0xffff_fff0, reference), reference);
    }
}
