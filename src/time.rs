//! Capture time and human durations.
//!
//! Every timestamp in kaprobe comes from the capture (never from the wall clock), kept as
//! nanoseconds since the Unix epoch so that arithmetic is exact and ordering is total.
//! Durations on the command line read like `250ms`, `90s`, `1.5m`, `2h` (see
//! [`parse_duration`]).

use std::fmt;

/// Nanoseconds since the Unix epoch, as recorded by the capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    /// Seconds since the epoch as a float, for JSON (microsecond precision survives in an f64
    /// for any date this century).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::NANOS_PER_SEC as f64
    }

    /// Signed distance `self - earlier`, in seconds.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / Self::NANOS_PER_SEC as f64
    }

    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    pub fn plus_secs(self, seconds: f64) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add((seconds * Self::NANOS_PER_SEC as f64) as i64),
        )
    }
}

impl fmt::Display for Timestamp {
    /// UTC, `2024-05-01 12:00:03.123456`, computed without a date library (civil-from-days).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(Self::NANOS_PER_SEC);
        let micros = self.0.rem_euclid(Self::NANOS_PER_SEC) / 1000;
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
        let ts = Timestamp(1_700_000_000_123_456_789);
        assert_eq!(ts.to_string(), "2023-11-14 22:13:20.123456");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01 00:00:00.000000");
    }
}
