//! The usual identity schemes, computed from the same page views the collector received,
//! so every scheme is scored on identical traffic.

use crate::browser::Sent;
use crate::scenario::DAY_MS;

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
        }
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
