//! The site's time zone: which local day an event falls on, and so where the midnight
//! session cut is. An IANA zone (`Europe/Paris`) follows daylight-saving time, from the
//! zone database compiled into the binary (jiff's bundled tzdb, so the host needs no
//! `tzdata`); a fixed offset (`+05:30`, `-300`, `UTC`) never changes.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::UtcOffset;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// A site's time zone. The default is UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteZone {
    /// A fixed offset from UTC.
    Fixed(UtcOffset),
    /// A zone of the IANA database, by name.
    Named {
        /// Its IANA name, as configured.
        name: String,
        /// The zone's rules.
        zone: TimeZone,
    },
}

impl Default for SiteZone {
    fn default() -> Self {
        SiteZone::Fixed(UtcOffset::UTC)
    }
}

impl SiteZone {
    /// The local calendar day of Unix millisecond `ts`, counted in days since 1970-01-01
    /// (local): two instants share a day exactly when they fall between the same two local
    /// midnights, whatever offset daylight-saving time gives each.
    pub fn day_of(&self, ts: i64) -> i64 {
        match self {
            SiteZone::Fixed(offset) => offset.day_of(ts),
            SiteZone::Named { zone, .. } => {
                // Outside jiff's range (years beyond ±9999) no zone rule applies: use UTC.
                let seconds = Timestamp::from_millisecond(ts)
                    .map(|t| zone.to_offset(t).seconds())
                    .unwrap_or(0);
                ts.saturating_add(i64::from(seconds) * 1000)
                    .div_euclid(DAY_MS)
            }
        }
    }
}

impl FromStr for SiteZone {
    type Err = String;

    /// Accepts what [`UtcOffset`] accepts, or an IANA zone name (`America/New_York`).
    fn from_str(s: &str) -> Result<SiteZone, String> {
        let s = s.trim();
        if s.contains('/') {
            return TimeZone::get(s)
                .map(|zone| SiteZone::Named {
                    name: s.to_string(),
                    zone,
                })
                .map_err(|_| format!("{s:?} is not a zone of the IANA time zone database"));
        }
        s.parse::<UtcOffset>()
            .map(SiteZone::Fixed)
            .map_err(|e| format!("{e} (or an IANA zone name such as Europe/Paris)"))
    }
}

impl fmt::Display for SiteZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteZone::Fixed(offset) => offset.fmt(f),
            SiteZone::Named { name, .. } => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC instant, `hh:mm` on day `day` since 1970-01-01.
    fn at(day: i64, hh: i64, mm: i64) -> i64 {
        day * DAY_MS + (hh * 60 + mm) * 60_000
    }

    #[test]
    fn a_named_zone_cuts_at_local_midnight_in_winter_and_in_summer() -> Result<(), String> {
        let paris: SiteZone = "Europe/Paris".parse()?;
        // 2026-01-15 is day 20468: CET, UTC+1, so local midnight is 23:00Z the day before.
        let winter = 20_468;
        assert_eq!(paris.day_of(at(winter - 1, 22, 59)), winter - 1);
        assert_eq!(paris.day_of(at(winter - 1, 23, 0)), winter);
        // 2026-07-15 is day 20649: CEST, UTC+2, local midnight at 22:00Z the day before.
        let summer = 20_649;
        assert_eq!(paris.day_of(at(summer - 1, 21, 59)), summer - 1);
        assert_eq!(paris.day_of(at(summer - 1, 22, 0)), summer);
        // A fixed +01:00 gets the summer midnight wrong by an hour; the zone does not.
        let fixed: SiteZone = "+01:00".parse()?;
        assert_eq!(fixed.day_of(at(summer - 1, 22, 30)), summer - 1);
        assert_eq!(paris.day_of(at(summer - 1, 22, 30)), summer);
        Ok(())
    }

    #[test]
    fn parses_names_and_offsets_and_says_what_it_read() {
        assert_eq!(
            "America/New_York"
                .parse::<SiteZone>()
                .map(|z| z.to_string()),
            Ok("America/New_York".into())
        );
        assert_eq!("UTC".parse::<SiteZone>(), Ok(SiteZone::default()));
        assert_eq!(
            "+05:30".parse::<SiteZone>().map(|z| z.to_string()),
            Ok("+05:30".into())
        );
        for bad in ["Mars/Olympus_Mons", "+15:00", "Paris", ""] {
            assert!(bad.parse::<SiteZone>().is_err(), "{bad}");
        }
    }
}
