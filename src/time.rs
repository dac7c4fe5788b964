//! Capture time and human durations.
//!
//! Every timestamp in kaprobe comes from the capture (never from the wall clock), kept as
//! nanoseconds since the Unix epoch so that arithmetic is exact and ordering is total.
//! Durations on the command line read like `250ms`, `90s`, `1.5m`, `2h` (see
//! [`parse_duration`]).

use std::fmt;
use std::num::NonZeroU64;

/// Nanoseconds since the Unix epoch, as recorded by the capture.
///
/// Stored offset by 2^63 in a `NonZeroU64` (order-preserving), so that `Option<Timestamp>` is
/// 8 bytes instead of 16: a tracked connection keeps a dozen optional times, and memory is
/// per open connection. The one value given up, `i64::MIN` ns (292 billion years before
/// 1970), reads as the nanosecond after it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(NonZeroU64);

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;
    const OFFSET: u64 = 1 << 63;

    pub const fn from_nanos(nanos: i64) -> Timestamp {
        match NonZeroU64::new((nanos as u64) ^ Self::OFFSET) {
            Some(raw) => Timestamp(raw),
            None => Timestamp(NonZeroU64::MIN),
        }
    }

    pub const fn nanos(self) -> i64 {
        (self.0.get() ^ Self::OFFSET) as i64
    }

    /// Seconds since the epoch as a float, for JSON (microsecond precision survives in an f64
    /// for any date this century).
    pub fn as_secs_f64(self) -> f64 {
        self.nanos() as f64 / Self::NANOS_PER_SEC as f64
    }

    /// Signed distance `self - earlier`, in seconds.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        self.nanos().saturating_sub(earlier.nanos()) as f64 / Self::NANOS_PER_SEC as f64
    }

    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.nanos().saturating_sub(earlier.nanos())
    }

    pub fn plus_secs(self, seconds: f64) -> Timestamp {
        Timestamp::from_nanos(
            self.nanos()
                .saturating_add((seconds * Self::NANOS_PER_SEC as f64) as i64),
        )
    }
}

impl Default for Timestamp {
    /// The epoch.
    fn default() -> Timestamp {
        Timestamp::from_nanos(0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.nanos())
    }
}

impl fmt::Display for Timestamp {
    /// UTC, `2024-05-01 12:00:03.123456`, computed without a date library (civil-from-days).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.nanos().div_euclid(Self::NANOS_PER_SEC);
        let micros = self.nanos().rem_euclid(Self::NANOS_PER_SEC) / 1000;
        let days = secs.div_euclid(86_400);
        let day_secs = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{micros:06}",
            day_secs / 3600,
            day_secs % 3600 / 60,
            day_secs % 60
        )
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses `250ms`, `90s`, `1.5m`, `2h`, `1d` or a bare number of seconds into seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (try 250ms, 90s, 1.5m, 2h)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "us" | "µs" => 0.000_001,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hours" => 3600.0,
        "d" | "days" => 86_400.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}' (use ms, s, m, h or d)"
            ));
        }
    };
    let seconds = value * scale;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("'{text}' is not a usable duration"));
    }
    Ok(seconds)
}

/// `90.0 s`, `1.5 ms`, `2 h 11 min`: the way durations are written in human output.
pub fn human_duration(seconds: f64) -> String {
    if seconds < 0.001 {
        format!("{:.0} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else if seconds < 600.0 {
        format!("{seconds:.1} s")
    } else if seconds < 7200.0 {
        format!(
            "{:.0} min {:.0} s",
            (seconds / 60.0).floor(),
            seconds % 60.0
        )
    } else {
        format!(
            "{:.0} h {:.0} min",
            (seconds / 3600.0).floor(),
            (seconds % 3600.0) / 60.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(0.25));
        assert_eq!(parse_duration("90s"), Ok(90.0));
        assert_eq!(parse_duration("1.5m"), Ok(90.0));
        assert_eq!(parse_duration("2h"), Ok(7200.0));
        assert_eq!(parse_duration("75"), Ok(75.0));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-3s").is_err());
    }

    #[test]
    fn timestamps_print_as_utc() {
        let ts = Timestamp::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(ts.to_string(), "2023-11-14 22:13:20.123456");
        assert_eq!(
            Timestamp::from_nanos(0).to_string(),
            "1970-01-01 00:00:00.000000"
        );
    }

    #[test]
    fn timestamps_keep_their_value_order_and_an_eight_byte_option() {
        let values = [
            i64::MIN + 1,
            -1_000_000_000,
            -1,
            0,
            1,
            1_700_000_000_000_000_000,
            i64::MAX,
        ];
        for pair in values.windows(2) {
            let (earlier, later) = (
                Timestamp::from_nanos(pair[0]),
                Timestamp::from_nanos(pair[1]),
            );
            assert_eq!((earlier.nanos(), later.nanos()), (pair[0], pair[1]));
            assert!(earlier < later);
        }
        assert_eq!(Timestamp::from_nanos(i64::MIN).nanos(), i64::MIN + 1);
        assert_eq!(std::mem::size_of::<Option<Timestamp>>(), 8);
    }
}
