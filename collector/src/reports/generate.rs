//! Synthetic history for benchmarks and smoke tests: visitors, sessions with page paths
//! from a Markov chain over about 50 pages, referrers (search, social, other sites, direct),
//! UTM campaigns, browsers and devices, engagement, custom events with properties,
//! outbound links, downloads, and users who log in on more than one device.
//!
//! Events go through the store's real insert path ([`BlockingSink::insert_groups`]), so sessions,
//! rollups and the person mapping are built exactly as in production. The history is
//! deterministic for a seed (a SplitMix64 generator), and written a day at a time in time
//! order, in large transactions.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::enrich::agent;
use crate::event::{
    ClientEvent, Context, Custom, Engagement, Event, EventKind, IdentityEffects, PropValue, Props,
    Utm,
};
use crate::identity::Evidence;
use crate::identity::graph::LinkKind;
use crate::identity::resolver::NewLink;
use crate::reports::range::{DAY_MS, HOUR_MS};
use crate::store::{BlockingSink, StoreError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The site.
    pub site: String,
    /// About how many events.
    pub events: u64,
    /// Days of history, ending with the day of `end_ms`.
    pub days: i64,
    /// The end of the history (Unix ms), usually now.
    pub end_ms: i64,
    /// Seed of the generator.
    pub seed: u64,
    /// Events per transaction.
    pub batch: usize,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Events stored.
    pub events: u64,
    /// Sessions generated (the sessionizer may merge a few).
    pub sessions: u64,
    /// Distinct visitors.
    pub visitors: u64,
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// An item by weight.
    fn pick<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < u64::from(*w) {
                return item;
            }
            x -= u64::from(*w);
        }
        &items[0].0
    }
}

const UAS: &[(&str, u32)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        30,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        12,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        6,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        8,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        20,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        18,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        4,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        2,
    ),
];

/// `(referrer, utm (source, medium, campaign))` of a session's first page view.
type Arrival = (
    Option<&'static str>,
    Option<(&'static str, &'static str, &'static str)>,
);

const ARRIVALS: &[(Arrival, u32)] = &[
    ((None, None), 35),
    ((Some("https://www.google.com/"), None), 22),
    ((Some("https://www.bing.com/"), None), 4),
    ((Some("https://duckduckgo.com/"), None), 4),
    ((Some("https://t.co/x1"), None), 4),
    ((Some("https://www.reddit.com/r/rust/"), None), 4),
    ((Some("https://news.ycombinator.com/item?id=1"), None), 5),
    ((Some("https://www.linkedin.com/feed/"), None), 2),
    (
        (
            Some("https://blog.rust-lang.org/2026/11/01/news.html"),
            None,
        ),
        3,
    ),
    ((Some("https://github.com/spoor/spoor"), None), 4),
    ((Some("https://dev.to/someone/analytics"), None), 2),
    ((None, Some(("newsletter", "email", "nov-launch"))), 6),
    (
        (
            Some("https://t.co/ad"),
            Some(("twitter", "cpc", "winter-sale")),
        ),
        3,
    ),
    (
        (
            Some("https://www.google.com/"),
            Some(("google", "cpc", "brand")),
        ),
        2,
    ),
];

/// The site's pages.
fn pages() -> Vec<String> {
    let mut p: Vec<String> = [
        "/",
        "/pricing",
        "/signup",
        "/login",
        "/features",
        "/about",
        "/contact",
        "/docs",
        "/blog",
        "/changelog",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    p.extend((1..=15).map(|i| format!("/docs/topic-{i}")));
    p.extend((1..=20).map(|i| format!("/blog/post-{i}")));
    p.extend((1..=5).map(|i| format!("/features/f-{i}")));
    p
}

/// The next page after `from` (index into `pages`), or `None` to leave.
fn next_page(rng: &mut Rng, pages: &[String], from: usize) -> Option<usize> {
    if rng.chance(0.32) {
        return None;
    }
    let find = |p: &str| pages.iter().position(|x| x == p).unwrap_or(0);
    let current = pages[from].as_str();
    let choice: usize = if current == "/" {
        *rng.pick(&[
            (find("/pricing"), 30),
            (find("/features"), 20),
            (find("/blog"), 15),
            (find("/docs"), 15),
            (find("/about"), 5),
            (find("/login"), 10),
        ])
    } else if current == "/pricing" {
        *rng.pick(&[
            (find("/signup"), 40),
            (find("/features"), 20),
            (find("/"), 20),
            (find("/contact"), 10),
        ])
    } else if current.starts_with("/docs") {
        if rng.chance(0.8) {
            find(&format!("/docs/topic-{}", 1 + rng.below(15)))
        } else {
            find("/pricing")
        }
    } else if current.starts_with("/blog") {
        if rng.chance(0.7) {
            find(&format!("/blog/post-{}", 1 + rng.below(20)))
        } else {
            find("/")
        }
    } else if current.starts_with("/features") {
        if rng.chance(0.6) {
            find(&format!("/features/f-{}", 1 + rng.below(5)))
        } else {
            find("/pricing")
        }
    } else {
        rng.below(pages.len() as u64) as usize
    };
    Some(choice)
}

/// One visitor of the synthetic population.
struct Visitor {
    id: String,
    ua: &'static str,
    user: Option<String>,
}

/// Adds a visitor (of `user`, if any) on a browser picked at random; its index.
fn new_visitor(visitors: &mut Vec<Visitor>, rng: &mut Rng, user: Option<String>) -> usize {
    let ua = *rng.pick(UAS);
    visitors.push(Visitor {
        id: format!("g-{}", visitors.len()),
        ua,
        user,
    });
    visitors.len() - 1
}

/// Fills `store` with about `spec.events` events of `spec.site`; `progress` is called after
/// each day with the events written so far.
pub fn generate(
    store: &dyn BlockingSink,
    spec: &Spec,
    mut progress: impl FnMut(u64),
) -> Result<Written, StoreError> {
    let mut rng = Rng(spec.seed);
    let pages = pages();
    let per_day = (spec.events / spec.days.max(1) as u64).max(1);
    let first_day = spec.end_ms.div_euclid(DAY_MS) - spec.days + 1;
    let mut visitors: Vec<Visitor> = Vec::new();
    let mut users = 0u64;
    let mut next_id: u128 = u128::from(spec.seed) << 64;
    let mut written = Written::default();
    for day in first_day..first_day + spec.days {
        let mut events: Vec<Event> = Vec::new();
        // Today is generated only up to now.
        let elapsed = (spec.end_ms - day * DAY_MS).clamp(0, DAY_MS);
        let target = (per_day as f64 * elapsed as f64 / DAY_MS as f64) as u64;
        while (events.len() as u64) < target {
            let hour = *rng.pick(&[
                (0, 1),
                (1, 1),
                (2, 1),
                (3, 1),
                (4, 1),
                (5, 2),
                (6, 3),
                (7, 5),
                (8, 7),
                (9, 8),
                (10, 8),
                (11, 8),
                (12, 7),
                (13, 8),
                (14, 8),
                (15, 8),
                (16, 7),
                (17, 6),
                (18, 5),
                (19, 5),
                (20, 4),
                (21, 3),
                (22, 2),
                (23, 2),
            ]);
            let start = day * DAY_MS + hour * HOUR_MS + rng.below(HOUR_MS as u64) as i64;
            if start > spec.end_ms {
                continue;
            }
            // Returning visitors come back on later days; a new one is 60 % of sessions.
            let visitor = if visitors.is_empty() || rng.chance(0.6) {
                let user = rng.chance(0.08).then(|| {
                    users += 1;
                    format!("u{users}")
                });
                new_visitor(&mut visitors, &mut rng, user)
            } else {
                let n = visitors.len() as u64;
                // Recent visitors come back more often.
                (n - 1 - rng.below(n).min(rng.below(n))) as usize
            };
            // A user sometimes comes on a second device: a new visitor, the same user.
            let visitor = if visitors[visitor].user.is_some() && rng.chance(0.15) {
                let user = visitors[visitor].user.clone();
                new_visitor(&mut visitors, &mut rng, user)
            } else {
                visitor
            };
            written.sessions += 1;
            session(
                &mut rng,
                spec,
                &pages,
                &visitors[visitor],
                start,
                &mut next_id,
                &mut events,
            );
        }
        events.sort_by_key(|e| e.client.ts);
        for chunk in events.chunks(spec.batch.max(1)) {
            written.events += store
                .insert_groups(&[chunk])?
                .iter()
                .map(|o| o.stored as u64)
                .sum::<u64>();
        }
        progress(written.events);
    }
    written.visitors = visitors.len() as u64;
    Ok(written)
}

/// The events of one session of `v` from `start`.
fn session(
    rng: &mut Rng,
    spec: &Spec,
    pages: &[String],
    v: &Visitor,
    start: i64,
    next_id: &mut u128,
    out: &mut Vec<Event>,
) {
    let (referrer, utm) = *rng.pick(ARRIVALS);
    let entry_pages = [
        (0usize, 50),
        (7 + rng.below(30) as usize, 30),
        (1, 10),
        (8, 10),
    ];
    let mut page = (*rng.pick(&entry_pages)).min(pages.len() - 1);
    let mut ts = start;
    let mut first = true;
    let agent = agent::classify(v.ua);
    // Ids shaped as the beacon's UUID v7: the session's start in the first 48 bits, then
    // bits as random as a browser's (a mix of the counter), so stores see realistic ids.
    let mut id = || {
        *next_id += 1;
        let random = u128::from(Rng(*next_id as u64 ^ (*next_id >> 64) as u64).next()) << 64
            | u128::from(Rng(!(*next_id as u64)).next());
        let ms = u128::from(u64::try_from(start).unwrap_or(0)) & 0xffff_ffff_ffff;
        let bits = (ms << 80) | (random & ((1u128 << 80) - 1));
        // Version 7, RFC 4122 variant.
        Uuid::from_u128((bits & !(0xf << 76) & !(0x3 << 62)) | (0x7 << 76) | (0x2 << 62))
    };
    let mut push =
        |kind: EventKind, path: &str, ts: i64, first: bool, links: Vec<NewLink>, id: Uuid| {
            let query = match (first, utm) {
                (true, Some((s, m, c))) => {
                    format!("?utm_source={s}&utm_medium={m}&utm_campaign={c}")
                }
                _ => String::new(),
            };
            let utm = match (first, utm) {
                (true, Some((s, m, c))) => Utm {
                    source: Some(s.into()),
                    medium: Some(m.into()),
                    campaign: Some(c.into()),
                    ..Utm::default()
                },
                _ => Utm::default(),
            };
            out.push(Event {
                site: spec.site.clone(),
                client: ClientEvent {
                    id,
                    kind,
                    url: format!("https://demo.example{path}{query}"),
                    hostname: "demo.example".into(),
                    path: path.to_string(),
                    referrer: if first {
                        referrer.map(str::to_string)
                    } else {
                        Some(format!("https://demo.example{path}"))
                    },
                    title: None,
                    client_id: Some(v.id.clone()),
                    session: None,
                    reset: false,
                    signature: None,
                    ts,
                    context: Context {
                        screen: None,
                        lang: Some("en-US".into()),
                        tz: None,
                        agent: Some(agent),
                        country: Some(country_of(&v.id).to_string()),
                        fallback: None,
                    },
                    utm,
                },
                visitor: v.id.clone(),
                evidence: Evidence::ClientId,
                identity: IdentityEffects {
                    links,
                    ..IdentityEffects::default()
                },
                received: ts,
            });
        };
    loop {
        let path = pages[page].clone();
        let pv = id();
        push(EventKind::Pageview, &path, ts, first, Vec::new(), pv);
        first = false;
        let read = 3_000 + rng.below(90_000) as i64;
        if rng.chance(0.8) {
            let eng = EventKind::Engagement(Engagement {
                pageview: pv,
                visible_ms: read as u32,
                scroll: rng.below(101) as u8,
            });
            push(eng, &path, ts + read, false, Vec::new(), id());
        }
        if path == "/signup" && rng.chance(0.3) {
            let plan = *rng.pick(&[("free", 6), ("pro", 3), ("team", 1)]);
            let kind = custom("signup", "plan", plan);
            push(kind, &path, ts + read / 2, false, Vec::new(), id());
        }
        if path == "/pricing" && rng.chance(0.1) {
            let position = *rng.pick(&[("header", 1), ("footer", 1)]);
            let kind = custom("cta_click", "position", position);
            push(kind, &path, ts + read / 3, false, Vec::new(), id());
        }
        if path == "/login" {
            if let Some(user) = &v.user {
                let link = NewLink {
                    a: v.id.clone(),
                    b: format!("user:{user}"),
                    kind: LinkKind::Login,
                    confidence: 1.0,
                    verified: false,
                };
                push(
                    EventKind::Identify { user: user.clone() },
                    &path,
                    ts + 1_000,
                    false,
                    vec![link],
                    id(),
                );
            }
        }
        // Blog readers sometimes follow a link out; docs readers download a file.
        let click = if path.starts_with("/blog/") && rng.chance(0.03) {
            let target = *rng.pick(&[
                ("https://github.com/spoor/spoor", 2),
                ("https://twitter.com/spoor", 1),
            ]);
            Some(EventKind::Outbound {
                target: target.into(),
            })
        } else if path.starts_with("/docs/") && rng.chance(0.02) {
            let target = *rng.pick(&[
                ("https://demo.example/files/guide.pdf", 2),
                ("https://demo.example/files/spoor.tar.gz", 1),
            ]);
            Some(EventKind::Download {
                target: target.into(),
            })
        } else {
            None
        };
        if let Some(kind) = click {
            push(kind, &path, ts + read, false, Vec::new(), id());
        }
        ts += read + 1_000;
        // Users head for the login page now and then.
        let next = if v.user.is_some() && rng.chance(0.2) {
            pages.iter().position(|p| p == "/login")
        } else {
            next_page(rng, pages, page)
        };
        match next {
            Some(n) if ts < (start.div_euclid(DAY_MS) + 1) * DAY_MS && ts <= spec.end_ms => {
                page = n
            }
            _ => break,
        }
    }
}

/// A custom event `name` with one text property `key` = `value`.
fn custom(name: &str, key: &str, value: &str) -> EventKind {
    EventKind::Custom(Custom {
        name: name.into(),
        props: Some(Props(BTreeMap::from([(
            key.to_string(),
            PropValue::Text(value.into()),
        )]))),
    })
}

/// A country for a visitor, fixed by its id (as GeoIP would give for its address): a few
/// countries, the first ones most common.
fn country_of(visitor: &str) -> &'static str {
    const COUNTRIES: [&str; 12] = [
        "US", "US", "US", "DE", "DE", "GB", "GB", "FR", "IN", "BR", "JP", "NZ",
    ];
    let sum: usize = visitor.bytes().map(usize::from).sum();
    COUNTRIES[sum % COUNTRIES.len()]
}
