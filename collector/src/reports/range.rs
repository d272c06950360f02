//! The dates of a report: `from`/`to` as inclusive UTC days, their Unix-ms bounds, the
//! previous period of equal length, and the civil-date arithmetic behind them.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Longest range a report covers, in days.
pub const MAX_DAYS: i64 = 400;
/// Days covered when no range is given (ending today).
pub const DEFAULT_DAYS: i64 = 30;

/// A range of whole UTC days, `from` to `to` inclusive (days since 1970-01-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First day.
    pub from: i64,
    /// Last day (inclusive).
    pub to: i64,
}

impl Range {
    /// The range from the `from`/`to` parameters, `today` being the current day.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: i64) -> Result<Range, String> {
        let day = |name: &str, v: Option<&str>| -> Result<Option<i64>, String> {
            match v.filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => parse_date(s).map(Some).ok_or_else(|| {
                    format!(
                        "{name}: {:?} is not a date YYYY-MM-DD",
                        s.chars().take(40).collect::<String>()
                    )
                }),
            }
        };
        let (from, to) = match (day("from", from)?, day("to", to)?) {
            (Some(f), Some(t)) => (f, t),
            (Some(f), None) => (f, today.max(f)),
            (None, Some(t)) => (t - (DEFAULT_DAYS - 1), t),
            (None, None) => (today - (DEFAULT_DAYS - 1), today),
        };
        if from > to {
            return Err("from: must not be after to".into());
        }
        if to - from + 1 > MAX_DAYS {
            return Err(format!(
                "from, to: the range is longer than {MAX_DAYS} days"
            ));
        }
        Ok(Range { from, to })
    }

    /// Days covered.
    pub fn days(&self) -> i64 {
        self.to - self.from + 1
    }

    /// Start, Unix ms (inclusive).
    pub fn start_ms(&self) -> i64 {
        self.from * DAY_MS
    }

    /// End, Unix ms (exclusive).
    pub fn end_ms(&self) -> i64 {
        (self.to + 1) * DAY_MS
    }

    /// The period of equal length just before this one.
    pub fn previous(&self) -> Range {
        Range {
            from: self.from - self.days(),
            to: self.from - 1,
        }
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, if it is one.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `YYYY-MM-DD` of a day number.
pub fn date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:00:00Z` of a Unix-ms instant on an hour.
pub fn timestamp(ms: i64) -> String {
    let day = ms.div_euclid(DAY_MS);
    let hour = ms.rem_euclid(DAY_MS) / HOUR_MS;
    format!("{}T{hour:02}:00:00Z", date(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-26"), Some(20_783));
        assert_eq!(date(20_783), "2026-11-26");
        assert_eq!(
            parse_date("2024-02-29").map(date).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-11-2026",
            "2026-11-2x",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(
            timestamp(20_783 * DAY_MS + 5 * HOUR_MS),
            "2026-11-26T05:00:00Z"
        );
    }

    #[test]
    fn ranges_default_to_thirty_days_and_are_capped() {
        let today = 20_418;
        let r = Range::parse(None, None, today).unwrap();
        assert_eq!((r.from, r.to, r.days()), (today - 29, today, 30));
        assert_eq!(
            r.previous(),
            Range {
                from: today - 59,
                to: today - 30
            }
        );
        let r = Range::parse(Some("2026-11-01"), Some("2026-11-01"), today).unwrap();
        assert_eq!((r.days(), r.end_ms() - r.start_ms()), (1, DAY_MS));
        assert!(Range::parse(Some("2026-11-02"), Some("2026-11-01"), today).is_err());
        assert!(Range::parse(Some("2020-01-01"), Some("2026-11-01"), today).is_err());
        assert!(Range::parse(Some("yesterday"), None, today).is_err());
    }
}
