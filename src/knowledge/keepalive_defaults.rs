//! Operating-system TCP keepalive defaults, and the rule kaprobe uses to recommend a
//! keepalive time below a middlebox idle timeout.
//!
//! Sources: Linux Documentation/networking/ip-sysctl.rst and include/net/tcp.h
//! (TCP_KEEPALIVE_TIME 7200 s, TCP_KEEPALIVE_INTVL 75 s, TCP_KEEPALIVE_PROBES 9); Windows
//! Tcpip\Parameters KeepAliveTime 7 200 000 ms / KeepAliveInterval 1000 ms, 10 probes
//! (SIO_KEEPALIVE_VALS remarks, learn.microsoft.com); FreeBSD sys/netinet/tcp_timer.h and
//! Apple XNU bsd/netinet/tcp_timer.h (keepidle 7200 s, keepintvl 75 s, keepcnt 8).

/// One operating system's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeepaliveProfile {
    /// The `profile` value in JSON.
    pub name: &'static str,
    pub time_secs: f64,
    pub interval_secs: f64,
    pub probes: u32,
    /// Bytes of payload in a probe: Linux and BSD send none, Windows one garbage byte.
    pub probe_payload: u32,
}

pub const PROFILES: [KeepaliveProfile; 3] = [
    KeepaliveProfile {
        name: "linux-default",
        time_secs: 7200.0,
        interval_secs: 75.0,
        probes: 9,
        probe_payload: 0,
    },
    KeepaliveProfile {
        name: "windows-default",
        time_secs: 7200.0,
        interval_secs: 1.0,
        probes: 10,
        probe_payload: 1,
    },
    KeepaliveProfile {
        name: "macos-default",
        time_secs: 7200.0,
        interval_secs: 75.0,
        probes: 8,
        probe_payload: 0,
    },
];

/// Observed values match a default within 5 % (timers fire late under load, never early by
/// much).
fn close(observed: f64, expected: f64) -> bool {
    (observed - expected).abs() <= expected * 0.05 + 0.5
}

/// Which default profile the observed figures match, or `custom`. Figures that were not
/// observed (`None`) do not rule a profile out; the probe payload breaks the Linux/Windows tie
/// and an observed probe count the Linux/macOS one.
pub fn match_profile(
    time_secs: Option<f64>,
    interval_secs: Option<f64>,
    unanswered_before_abort: Option<u32>,
    probe_payload: u32,
) -> &'static str {
    PROFILES
        .iter()
        .find(|profile| {
            time_secs.is_some_and(|t| close(t, profile.time_secs))
                && interval_secs.is_none_or(|i| close(i, profile.interval_secs))
                && unanswered_before_abort.is_none_or(|n| n == profile.probes)
                && probe_payload == profile.probe_payload
        })
        .map_or("custom", |profile| profile.name)
}

/// A keepalive time safely below a middlebox idle timeout T: `min(T × 0.5, T − 30 s)`,
/// falling back to half of T for short timeouts, at least 1 s. Half of T leaves room for a
/// lost probe to be retried before the box expires the flow; 30 s covers timer slack on
/// long timeouts. `analyze` and `sysctl check` both use this rule.
pub fn recommended_time_below(timeout_secs: f64) -> u64 {
    let half = (timeout_secs * 0.5).floor();
    let with_margin = half.min((timeout_secs - 30.0).floor());
    let chosen = if with_margin >= 1.0 {
        with_margin
    } else {
        half
    };
    if chosen.is_finite() && chosen >= 1.0 {
        chosen as u64
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profiles_are_recognized() {
        assert_eq!(
            match_profile(Some(7200.3), Some(75.0), Some(9), 0),
            "linux-default"
        );
        assert_eq!(
            match_profile(Some(7200.0), Some(75.0), Some(8), 0),
            "macos-default"
        );
        assert_eq!(
            match_profile(Some(7200.0), Some(1.0), None, 1),
            "windows-default"
        );
        assert_eq!(match_profile(Some(2.0), Some(1.0), Some(3), 0), "custom");
        assert_eq!(match_profile(None, None, None, 0), "custom");
    }

    #[test]
    fn recommendations_stay_below_the_timeout() {
        assert_eq!(recommended_time_below(90.0), 45);
        assert_eq!(recommended_time_below(350.0), 175);
        assert_eq!(recommended_time_below(900.0), 450);
        assert_eq!(recommended_time_below(40.0), 10);
        assert_eq!(recommended_time_below(5.0), 2);
        assert_eq!(recommended_time_below(1.0), 1);
        for timeout in [1.0, 30.0, 60.0, 240.0, 900.0, 3600.0] {
            assert!((recommended_time_below(timeout) as f64) < timeout.max(2.0));
        }
    }
}
