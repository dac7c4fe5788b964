//! VRRP timer arithmetic, in one place with its sources.
//!
//! - RFC 3768 §6.1 (v2): Skew_Time = (256 − Priority) / 256 s;
//!   Master_Down_Interval = 3 × Advertisement_Interval + Skew_Time.
//! - RFC 5798 §6.1 (v3): Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256
//!   centiseconds; Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
//! - keepalived computes the same (`VRRP_TIMER_SKEW_CALC` in keepalived/include/vrrp.h:
//!   v2 without the interval factor, v3 with it).

/// Skew_Time in seconds for a backup of `priority` waiting on a master advertising every
/// `interval_s` seconds.
pub fn skew_secs(version: u8, priority: u8, interval_s: f64) -> f64 {
    let factor = f64::from(256 - u16::from(priority)) / 256.0;
    if version == 2 {
        factor
    } else {
        factor * interval_s
    }
}

/// Master_Down_Interval in seconds: how long a backup of `priority` waits after the master's
/// last advertisement before it takes over.
pub fn master_down_secs(version: u8, priority: u8, interval_s: f64) -> f64 {
    3.0 * interval_s + skew_secs(version, priority, interval_s)
}

/// The longest any backup can wait (priority 1): a master silent longer than this has not
/// been replaced by anyone.
pub fn longest_master_down_secs(version: u8, interval_s: f64) -> f64 {
    master_down_secs(version, 1, interval_s)
}

/// Advert interval seconds from the wire value; a 0 interval (invalid, seen in fuzzed files)
/// is read as the 1 s default so that no threshold becomes zero.
pub fn interval_secs(centis: u16) -> f64 {
    if centis == 0 {
        1.0
    } else {
        f64::from(centis) / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_default_backup_waits_3_609_s() {
        assert!((master_down_secs(2, 100, 1.0) - 3.609_375).abs() < 1e-9);
    }

    #[test]
    fn v3_skew_scales_with_the_interval() {
        // 3 × 2 s + (156 × 2 s) / 256
        assert!((master_down_secs(3, 100, 2.0) - 7.218_75).abs() < 1e-9);
        assert!((skew_secs(3, 255, 1.0) - 1.0 / 256.0).abs() < 1e-9);
    }
}
