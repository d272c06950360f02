//! The usual identity schemes, computed from the same page views the collector received,
//! so every scheme is scored on identical traffic.

use std::collections::HashSet;

use crate::browser::Sent;
use crate::scenario::DAY_MS;

/// The best clustering any scheme can reach that keeps no state about a cookieless
/// browser beyond its UTC day (daily salts, deleted after two days, as issue #4 demands):
/// every page view of a browser that keeps an id is put with its true person; a cookieless
/// browser's page views are put with their true person only on a day it logged in, and
/// otherwise form one visitor per browser and day. It is optimistic (it never errs inside
/// a day, even behind a shared address), so no such scheme scores above it. Keys in the
/// order of `sent`.
pub fn daily_salt_ceiling(sent: &[Sent]) -> Vec<String> {
    let day = |s: &Sent| s.at_ms.div_euclid(DAY_MS);
    let logged_in: HashSet<(usize, i64)> = sent
        .iter()
        .filter(|s| s.login)
        .map(|s| (s.browser, day(s)))
        .collect();
    sent.iter()
        .map(|s| {
            if s.client_id.is_some() || logged_in.contains(&(s.browser, day(s))) {
                format!("p:{}", s.person)
            } else {
                format!("d:{}|{}|{}", s.person, s.browser, day(s))
            }
        })
        .collect()
}

/// A way to decide who viewed a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Spoor: the person of the stored visitor, inclusive reading of the link graph.
    Ours,
    /// The beacon's client id alone; a page view without one is its own visitor.
    CookieOnly,
    /// The client IP address alone.
    IpOnly,
    /// A hash of (day, IP, user agent), as daily-salted cookieless tools do.
    DailyHash,
    /// The same over 30-day months.
    MonthlyHash,
}

impl Scheme {
    /// Every scheme, ours first.
    pub const ALL: [Scheme; 5] = [
        Scheme::Ours,
        Scheme::CookieOnly,
        Scheme::IpOnly,
        Scheme::DailyHash,
        Scheme::MonthlyHash,
    ];

    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ours => "ours",
            Scheme::CookieOnly => "cookie only",
            Scheme::IpOnly => "ip only",
            Scheme::DailyHash => "daily ip+ua",
            Scheme::MonthlyHash => "monthly ip+ua",
        }
    }

    /// The visitor key a baseline gives `sent` (not for [`Scheme::Ours`], which asks the
    /// store).
    pub fn key(self, sent: &Sent) -> String {
        match self {
            Scheme::Ours => sent.event.clone(),
            Scheme::CookieOnly => match &sent.client_id {
                Some(id) => format!("c:{id}"),
                None => format!("e:{}", sent.event),
            },
            Scheme::IpOnly => sent.ip.to_string(),
            Scheme::DailyHash => {
                format!(
                    "{}|{}|{}",
                    sent.at_ms.div_euclid(DAY_MS),
                    sent.ip,
                    sent.user_agent
                )
            }
            Scheme::MonthlyHash => format!(
                "{}|{}|{}",
                sent.at_ms.div_euclid(30 * DAY_MS),
                sent.ip,
                sent.user_agent
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(event: &str, client: Option<&str>, ip: &str, at_ms: i64) -> Sent {
        Sent {
            event: event.into(),
            person: 1,
            client_id: client.map(str::to_string),
            ip: ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            user_agent: "ua",
            at_ms,
            browser: 0,
            login: false,
        }
    }

    #[test]
    fn the_ceiling_splits_a_cookieless_browser_by_day_unless_it_logged_in() {
        let with_id = sent("e1", Some("c"), "11.0.0.1", 0);
        let day1 = sent("e2", None, "11.0.0.1", DAY_MS + 1);
        let day1_later = sent("e3", None, "11.0.0.1", DAY_MS + 2);
        let day2 = sent("e4", None, "11.0.0.1", 2 * DAY_MS + 1);
        let day3_login = Sent {
            login: true,
            ..sent("e5", None, "11.0.0.1", 3 * DAY_MS + 1)
        };
        let day3 = sent("e6", None, "11.0.0.1", 3 * DAY_MS + 2);
        let keys = daily_salt_ceiling(&[with_id, day1, day1_later, day2, day3_login, day3]);
        assert_eq!(keys[1], keys[2], "one visitor a day");
        assert_ne!(keys[1], keys[3], "a new one the next day");
        assert_eq!(keys[0], keys[4], "a login joins the day to the person");
        assert_eq!(keys[0], keys[5]);
    }

    #[test]
    fn baselines_key_as_documented() {
        let a = sent("e1", Some("c"), "11.0.0.1", 0);
        let b = sent("e2", None, "11.0.0.1", DAY_MS + 1);
        let c = sent("e3", None, "11.0.0.1", DAY_MS + 2);
        assert_ne!(Scheme::CookieOnly.key(&b), Scheme::CookieOnly.key(&c));
        assert_eq!(Scheme::IpOnly.key(&a), Scheme::IpOnly.key(&b));
        assert_ne!(Scheme::DailyHash.key(&a), Scheme::DailyHash.key(&b));
        assert_eq!(Scheme::DailyHash.key(&b), Scheme::DailyHash.key(&c));
        assert_eq!(Scheme::MonthlyHash.key(&a), Scheme::MonthlyHash.key(&c));
    }
}
