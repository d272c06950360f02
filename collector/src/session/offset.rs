//! A fixed offset from UTC, one of the two forms of a site's time zone
//! ([`SiteZone`](super::SiteZone)); it does not follow daylight-saving time: a site in
//! `Europe/Paris` configured as `+01:00` cuts its summer sessions at 01:00 local time, which
//! is why an IANA zone name is the better setting.

use std::fmt;
use std::str::FromStr;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Largest offset accepted, in minutes (UTC−14:00 to UTC+14:00 covers every zone in use).
const MAX_MINUTES: i32 = 14 * 60;

/// A fixed offset from UTC, in whole minutes (east positive). The default is UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UtcOffset {
    minutes: i32,
}

impl UtcOffset {
    /// UTC itself.
    pub const UTC: UtcOffset = UtcOffset { minutes: 0 };

    /// An offset of `minutes` east of UTC, if within ±14 hours.
    pub fn from_minutes(minutes: i32) -> Option<UtcOffset> {
        (minutes.abs() <= MAX_MINUTES).then_some(UtcOffset { minutes })
    }

    /// Minutes east of UTC.
    pub fn minutes(self) -> i32 {
        self.minutes
    }

    /// The local calendar day of Unix millisecond `ts`, counted in days since 1970-01-01
    /// (local). Two instants share a day exactly when they fall between the same two local
    /// midnights.
    pub fn day_of(self, ts: i64) -> i64 {
        ts.saturating_add(i64::from(self.minutes) * 60_000)
            .div_euclid(DAY_MS)
    }
}

impl FromStr for UtcOffset {
    type Err = String;

    /// Accepts `UTC` (or `Z`), a signed number of minutes (`-300`), or `±HH:MM`
    /// (`+05:30`).
    fn from_str(s: &str) -> Result<UtcOffset, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
            return Ok(UtcOffset::UTC);
        }
        let minutes = match s.split_once(':') {
            Some((h, m)) => {
                let sign = match h.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err("an offset in hours must start with + or -".into()),
                };
                let hours: i32 = h[1..].parse().map_err(|_| format!("bad hours {h:?}"))?;
                let mins: i32 = m.parse().map_err(|_| format!("bad minutes {m:?}"))?;
                if h.len() != 3 || m.len() != 2 || !(0..60).contains(&mins) {
                    return Err("expected ±HH:MM".into());
                }
                sign * (hours * 60 + mins)
            }
            None => s
                .parse::<i32>()
                .map_err(|_| "expected UTC, minutes east of UTC (-300) or ±HH:MM".to_string())?,
        };
        UtcOffset::from_minutes(minutes).ok_or_else(|| "must be within ±14:00 of UTC".into())
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.minutes == 0 {
            return f.write_str("UTC");
        }
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let m = self.minutes.abs();
        write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_minutes_and_hours() {
        assert_eq!("UTC".parse(), Ok(UtcOffset::UTC));
        assert_eq!(
            "-300".parse::<UtcOffset>().map(UtcOffset::minutes),
            Ok(-300)
        );
        assert_eq!(
            "+05:30".parse::<UtcOffset>().map(UtcOffset::minutes),
            Ok(330)
        );
        assert_eq!(
            "-09:00".parse::<UtcOffset>().map(|o| o.to_string()),
            Ok("-09:00".into())
        );
        for bad in ["+15:00", "900", "05:30", "+5:3", "Europe/Paris", ""] {
            assert!(bad.parse::<UtcOffset>().is_err(), "{bad}");
        }
    }

    #[test]
    fn local_days_change_at_local_midnight() {
        // 2026-01-01T00:00:00Z is day 20454 since the epoch.
        let midnight_utc = 20_454 * DAY_MS;
        assert_eq!(UtcOffset::UTC.day_of(midnight_utc - 1), 20_453);
        assert_eq!(UtcOffset::UTC.day_of(midnight_utc), 20_454);
        // In UTC−05:00, local midnight is at 05:00Z.
        let ny = UtcOffset::from_minutes(-300).unwrap_or_default();
        assert_eq!(ny.day_of(midnight_utc), 20_453);
        assert_eq!(ny.day_of(midnight_utc + 5 * 3_600_000 - 1), 20_453);
        assert_eq!(ny.day_of(midnight_utc + 5 * 3_600_000), 20_454);
        assert_eq!(UtcOffset::UTC.day_of(-1), -1, "before 1970 rounds down");
    }
}
