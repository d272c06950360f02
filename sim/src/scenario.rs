//! The scenarios of issues #4 and #12 as parameter sets with fixed seeds, and the generator
//! that turns one into time-ordered visits with their ground truth.
//!
//! Every person gets browsers (one, two when they log in on a laptop and a phone, or a
//! share of a family's browser), each with a cookie policy and a network; visits fall at
//! random times over the period. The generator knows who really made each visit; the
//! collector only sees what a browser would send.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::rng::Rng;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// Where simulated time starts: Monday 2026-01-05 00:00 UTC.
pub const START_MS: i64 = 1_767_571_200_000;

/// Desktop user agents people pick from.
const DESKTOP_UAS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0",
];
/// Mobile user agents; the first is the "popular" one everybody behind a CGNAT shares.
const MOBILE_UAS: [&str; 4] = [
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
];

/// A scenario: who the people are and how their browsers behave. Shares are of people
/// (of browsers, for cookie policies), drawn independently.
#[derive(Debug, Clone)]
pub struct Params {
    /// Short name for the table.
    pub name: &'static str,
    /// Seed of the generator.
    pub seed: u64,
    /// People simulated.
    pub people: usize,
    /// Length of the period, days.
    pub days: i64,
    /// Mean visits per browser over the period (at least one each).
    pub visits_mean: u64,
    /// Browsers whose script-written id (cookie and storage) is deleted after 7 days
    /// without a visit (Safari ITP); the collector's `HttpOnly` server cookie survives.
    pub safari_share: f64,
    /// Browsers that keep no cookie or storage at all (blocked, or consent not given).
    pub blocked_share: f64,
    /// People on a carrier-grade NAT: `cgnat_size` people per public IPv4 address, all with
    /// the same popular mobile user agent.
    pub cgnat_share: f64,
    /// People per CGNAT address.
    pub cgnat_size: usize,
    /// Mobile people whose IPv4 address changes every `rotate_every` visits.
    pub mobile_v4_share: f64,
    /// Mobile people on IPv6 privacy addresses: a new address in their /64 every visit.
    pub mobile_v6_share: f64,
    /// Visits between IPv4 changes for mobile people.
    pub rotate_every: u32,
    /// People with a laptop and a phone who log in on both.
    pub two_device_share: f64,
    /// People who share one family browser (in households of `family_size`), log in on
    /// it and call `reset()` when they log out.
    pub family_share: f64,
    /// People per family browser.
    pub family_size: usize,
    /// Chance that a family member logs in on a visit (the rest browse anonymously).
    pub family_login: f64,
    /// Family members log out with `reset()`; when false, the site forgot the logout
    /// hook, so the next member logs in on the same visitor id (a shared device
    /// without reset).
    pub family_reset: bool,
    /// Family members who also have a phone of their own, on which they log in.
    pub family_phone_share: f64,
}

impl Params {
    /// A scenario with everything off: stable cookies on one desktop with a home address.
    fn base(name: &'static str, seed: u64) -> Params {
        Params {
            name,
            seed,
            people: 400,
            days: 30,
            visits_mean: 5,
            safari_share: 0.0,
            blocked_share: 0.0,
            cgnat_share: 0.0,
            cgnat_size: 50,
            mobile_v4_share: 0.0,
            mobile_v6_share: 0.0,
            rotate_every: 3,
            two_device_share: 0.0,
            family_share: 0.0,
            family_size: 3,
            family_login: 0.9,
            family_reset: true,
            family_phone_share: 0.0,
        }
    }

    /// The same scenario with `people` people (tests run tiny ones).
    pub fn with_people(mut self, people: usize) -> Params {
        self.people = people;
        self
    }
}

/// The eight scenarios of issue #4, in order (the eighth is the headline mix), then the
/// shared device without reset of issue #12.
pub fn all() -> Vec<Params> {
    vec![
        Params::base("1 baseline desktop", 101),
        Params {
            safari_share: 1.0,
            ..Params::base("2 safari 7-day ids", 102)
        },
        Params {
            blocked_share: 0.3,
            ..Params::base("3 30% no cookies", 103)
        },
        Params {
            people: 500,
            cgnat_share: 1.0,
            ..Params::base("4 cgnat 50/ip", 104)
        },
        Params {
            mobile_v4_share: 0.5,
            mobile_v6_share: 0.5,
            ..Params::base("5 mobile ip churn", 105)
        },
        Params {
            two_device_share: 1.0,
            ..Params::base("6 two devices", 106)
        },
        Params {
            family_share: 1.0,
            ..Params::base("7 family computer", 107)
        },
        Params {
            people: 1000,
            safari_share: 0.25,
            blocked_share: 0.1,
            cgnat_share: 0.15,
            mobile_v4_share: 0.15,
            mobile_v6_share: 0.15,
            two_device_share: 0.1,
            family_share: 0.06,
            ..Params::base("8 mix", 108)
        },
        Params {
            family_share: 1.0,
            family_reset: false,
            family_phone_share: 0.5,
            ..Params::base("9 shared laptop, no reset", 109)
        },
    ]
}

/// What a browser keeps between visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookiePolicy {
    /// Cookies and storage persist.
    Stable,
    /// The script-written id is deleted after 7 days without a visit.
    ScriptCapped,
    /// Nothing is kept.
    Blocked,
}

/// How a browser's address behaves.
#[derive(Debug, Clone, Copy)]
enum Network {
    /// One address for the whole period (a home line, or a CGNAT address).
    Fixed(IpAddr),
    /// A fresh carrier IPv4 address every few visits.
    RotatingV4,
    /// A fixed /64, a new interface id every visit.
    PrivacyV6(u64),
}

/// One simulated browser (or app profile).
#[derive(Debug, Clone)]
pub struct BrowserSpec {
    /// What it keeps.
    pub cookies: CookiePolicy,
    /// Its user agent.
    pub user_agent: &'static str,
}

/// One visit: a burst of page views from one browser, made by one person.
#[derive(Debug, Clone)]
pub struct Visit {
    /// The true person (ground truth, never sent).
    pub person: u32,
    /// Index into [`Traffic::browsers`].
    pub browser: usize,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The client address the collector sees.
    pub ip: IpAddr,
    /// Page views in the visit.
    pub pageviews: u32,
    /// The site user id the person logs in as during the visit.
    pub login: Option<String>,
    /// The person logs out at the end (`spoor.reset()`).
    pub logout: bool,
}

/// A generated scenario.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Every browser.
    pub browsers: Vec<BrowserSpec>,
    /// Every visit, in time order.
    pub visits: Vec<Visit>,
}

/// Builds the traffic of `p`; the same parameters always give the same traffic.
pub fn generate(p: &Params) -> Traffic {
    let mut g = Generator {
        rng: Rng::new(p.seed),
        p,
        browsers: Vec::new(),
        visits: Vec::new(),
        next_home: 0,
    };
    let family_people = ((p.people as f64 * p.family_share).round() as usize).min(p.people);
    let households = family_people / p.family_size.max(1);
    let in_families = households * p.family_size.max(1);
    for h in 0..households {
        let members: Vec<u32> = (0..p.family_size)
            .map(|m| (h * p.family_size + m) as u32)
            .collect();
        g.family(&members);
    }
    let cgnat_people = (p.people - in_families) as f64 * p.cgnat_share;
    let mut cgnat_seen = 0usize;
    let mut cgnat_ip = g.new_home();
    for person in in_families..p.people {
        let roll = g.rng.unit();
        let network = if roll < p.cgnat_share && (cgnat_seen as f64) < cgnat_people + 1.0 {
            if cgnat_seen % p.cgnat_size.max(1) == 0 {
                cgnat_ip = g.new_home();
            }
            cgnat_seen += 1;
            (Network::Fixed(cgnat_ip), MOBILE_UAS[0])
        } else if roll < p.cgnat_share + p.mobile_v4_share {
            (Network::RotatingV4, g.rng.pick(&MOBILE_UAS))
        } else if roll < p.cgnat_share + p.mobile_v4_share + p.mobile_v6_share {
            (
                Network::PrivacyV6(g.rng.next_u64()),
                g.rng.pick(&MOBILE_UAS),
            )
        } else {
            let home = g.new_home();
            (Network::Fixed(home), g.rng.pick(&DESKTOP_UAS))
        };
        g.individual(person as u32, network);
    }
    let mut visits = g.visits;
    visits.sort_by_key(|v| v.at_ms);
    Traffic {
        browsers: g.browsers,
        visits,
    }
}

struct Generator<'a> {
    rng: Rng,
    p: &'a Params,
    browsers: Vec<BrowserSpec>,
    visits: Vec<Visit>,
    next_home: u32,
}

impl Generator<'_> {
    /// A new public IPv4 home (or CGNAT) address, never handed out before.
    fn new_home(&mut self) -> IpAddr {
        self.next_home += 1;
        let n = self.next_home;
        IpAddr::V4(Ipv4Addr::new(11, (n >> 16) as u8, (n >> 8) as u8, n as u8))
    }

    fn browser(&mut self, user_agent: &'static str, can_block: bool) -> usize {
        let cookies = if can_block && self.rng.chance(self.p.blocked_share) {
            CookiePolicy::Blocked
        } else if self.rng.chance(self.p.safari_share) {
            CookiePolicy::ScriptCapped
        } else {
            CookiePolicy::Stable
        };
        self.browsers.push(BrowserSpec {
            cookies,
            user_agent,
        });
        self.browsers.len() - 1
    }

    /// Visit times of one browser, sorted.
    fn times(&mut self) -> Vec<i64> {
        let n = 1 + self.rng.below(2 * self.p.visits_mean.max(1) - 1);
        let span = self.p.days * DAY_MS;
        let mut t: Vec<i64> = (0..n)
            .map(|_| START_MS + self.rng.below(span as u64) as i64)
            .collect();
        t.sort_unstable();
        t
    }

    fn address(&mut self, network: Network, visit: usize, current: &mut IpAddr) -> IpAddr {
        match network {
            Network::Fixed(ip) => ip,
            Network::RotatingV4 => {
                if visit % self.p.rotate_every.max(1) as usize == 0 {
                    let r = self.rng.next_u64();
                    *current =
                        IpAddr::V4(Ipv4Addr::new(13, (r >> 16) as u8, (r >> 8) as u8, r as u8));
                }
                *current
            }
            Network::PrivacyV6(prefix) => {
                let bits = (u128::from(0x2a01_0db8u32) << 96)
                    | (u128::from(prefix >> 32) << 64)
                    | u128::from(self.rng.next_u64());
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }

    fn individual(&mut self, person: u32, network: (Network, &'static str)) {
        let (network, ua) = network;
        let two = self.rng.chance(self.p.two_device_share);
        let mut devices = vec![(network, ua, self.browser(ua, !two))];
        if two {
            // The laptop at home and a phone on a carrier: both log in.
            let phone_ua = self.rng.pick(&MOBILE_UAS);
            let phone = self.browser(phone_ua, false);
            devices.push((Network::RotatingV4, phone_ua, phone));
        }
        for (network, _, browser) in devices {
            let mut ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
            for (i, at_ms) in self.times().into_iter().enumerate() {
                let login = two && (i == 0 || self.rng.chance(0.3));
                let pageviews = 1 + self.rng.below(3) as u32;
                let ip = self.address(network, i, &mut ip);
                self.visits.push(Visit {
                    person,
                    browser,
                    at_ms,
                    ip,
                    pageviews,
                    login: login.then(|| user(person)),
                    logout: false,
                });
            }
        }
    }

    fn family(&mut self, members: &[u32]) {
        let home = self.new_home();
        let ua = self.rng.pick(&DESKTOP_UAS);
        let browser = self.browser(ua, false);
        // The household's visits together: as many as its members would make alone.
        let mut times = Vec::new();
        for _ in members {
            times.extend(self.times());
        }
        times.sort_unstable();
        for at_ms in times {
            let person = self.rng.pick(members);
            let login = self.rng.chance(self.p.family_login);
            let pageviews = 1 + self.rng.below(3) as u32;
            self.visits.push(Visit {
                person,
                browser,
                at_ms,
                ip: home,
                pageviews,
                login: login.then(|| user(person)),
                logout: login && self.p.family_reset,
            });
        }
        // Only scenarios with phones draw for them, so the others' traffic is unchanged.
        if self.p.family_phone_share > 0.0 {
            for &person in members {
                if self.rng.chance(self.p.family_phone_share) {
                    self.phone(person);
                }
            }
        }
    }

    /// A phone of `person`'s own on a carrier address: logs in on its first visit, then
    /// on 30% of visits.
    fn phone(&mut self, person: u32) {
        let ua = self.rng.pick(&MOBILE_UAS);
        let browser = self.browser(ua, false);
        let mut ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        for (i, at_ms) in self.times().into_iter().enumerate() {
            let login = i == 0 || self.rng.chance(0.3);
            let pageviews = 1 + self.rng.below(3) as u32;
            let ip = self.address(Network::RotatingV4, i, &mut ip);
            self.visits.push(Visit {
                person,
                browser,
                at_ms,
                ip,
                pageviews,
                login: login.then(|| user(person)),
                logout: false,
            });
        }
    }
}

fn user(person: u32) -> String {
    let mut s = String::from("user-");
    s.push_str(&person.to_string());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_time_ordered() {
        for p in all() {
            let p = p.with_people(60);
            let (a, b) = (generate(&p), generate(&p));
            assert_eq!(a.visits.len(), b.visits.len(), "{}", p.name);
            assert!(a.visits.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            assert!(
                a.visits
                    .iter()
                    .zip(&b.visits)
                    .all(|(x, y)| x.person == y.person && x.ip == y.ip && x.at_ms == y.at_ms)
            );
        }
    }

    #[test]
    fn shares_shape_the_traffic() {
        let blocked = generate(&all()[2]);
        let n = blocked
            .browsers
            .iter()
            .filter(|b| b.cookies == CookiePolicy::Blocked)
            .count() as f64;
        let share = n / blocked.browsers.len() as f64;
        assert!((0.2..0.4).contains(&share), "{share}");
        let cgnat = generate(&all()[3]);
        let mut ips: Vec<IpAddr> = cgnat.visits.iter().map(|v| v.ip).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 10, "500 people, 50 per address");
    }
}
