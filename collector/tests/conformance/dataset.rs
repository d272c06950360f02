//! The hand-made dataset every area reads: fifteen visitors of site `demo` over two UTC
//! days, 2026-11-02 (day 1) and 2026-11-03 (day 2), posted in time order on a manual
//! clock: day 1 to one collector, day 2 to another started over the same store, and from
//! hank's login on the shared laptop (#93, inside session SK1) to a third.
//!
//! Browsers (address → country by the suite's GeoIP table; user agent → browser, OS,
//! device):
//!
//! | who | visitor | address | agent |
//! |---|---|---|---|
//! | alice's laptop | `a1` | .100.1 NZ | Chrome, Windows, desktop |
//! | alice's phone | `a2` | .100.130 AU | Safari, iOS, mobile |
//! | bob | `b1` | .100.2 NZ | Firefox, Linux, desktop |
//! | carol, then whoever after her `spoor.reset()` | `c1`, `c2` | .100.3 NZ | Safari, macOS, desktop |
//! | dave, then dave after wiping his cookies | `d1`, `d2` | .100.4 NZ | Chrome, Windows, desktop |
//! | erin, frank and a cookieless browser behind one NAT | `e1`, `f1`, `fp_…` | 203.0.113.50 DE | Firefox, Linux, desktop |
//! | mia | `m1` | .100.7 NZ | Firefox, Linux, desktop |
//! | a laptop shared by gina and hank (no reset) | `k1` | .100.5 NZ | Safari, macOS, desktop |
//! | hank's tablet | `h1` | .100.131 AU | Chrome, Android, tablet |
//! | jane | `j1` | .100.6 NZ | Chrome, Windows, desktop |
//! | ivan, through the site's server (`/ingest`) | `srv-7` | .100.140 AU | Chrome, Windows, desktop |
//!
//! Events (`#n` is the event id `event_id(n)`; pv = page view; pages on `http://localhost`):
//!
//! | day, time | visitor | events | session (→ bounce? duration) |
//! |---|---|---|---|
//! | 1, 09:00 | a1 | #1 pv `/` from `https://www.google.com/search?q=spoor` · 09:01 #2 pv `/pricing` · 09:01:30 #3 engagement of #2 (20 s, 80 %) · 09:02 #4 custom `signup` {plan: pro, seats: 3} · 09:03 #5 identify `alice`, signed; then #2 and #3 resent byte for byte (duplicates) | SA1: 2 pv, 5 events, not a bounce (engaged 20 s, a custom event), 180 s, source `google.com` (search) |
//! | 1, 10:00 | b1 | #10 pv `/` from `https://news.ycombinator.com/item?id=1` | SB1: bounce, 0 s, `news.ycombinator.com` (social) |
//! | 1, 11:00 | c1 | #20 pv `/docs` · 11:00:20 #21 engagement (5 s, 30 %) · 11:00:30 #22 identify `carol`, unsigned | SC1: 1 pv, 3 events, bounce (5 s is no engagement; identify does not count), 30 s, Direct |
//! | 1, 11:05 | c2 | #23 pv `/` with `reset: true` and the new id `c2` (c1's cookie still sent) | SC2: bounce, Direct; c2 is linked to nobody |
//! | 1, 12:00 | d1 | #30 pv `/` | SD1: bounce, Direct |
//! | 1, 12:10 | d2 | #31 pv `/pricing`: a new id, no cookie, same address and agent as d1 10 min earlier → a `recovery` link d2–d1 (inclusive reading only) | SD2: bounce, Direct |
//! | 1, 13:00 | e1 | #40 pv `/` · 13:00:30 #43 engagement (12 s, 50 %) | SE1: 1 pv, 2 events, not a bounce (12 s of engagement is interaction), 30 s, Direct, DE |
//! | 1, 13:40 | f1 | #41 pv `/docs`: same address and agent, but e1 was last seen 40 min ago (over 30) → no recovery link | SF1: bounce, DE |
//! | 1, 13:45 | fp_… | #42 pv `/pricing` without id or cookie: two id visitors behind this fingerprint today → a provisional visitor linked to no one | SFP: bounce, DE |
//! | 1, 14:00 | (bot) | #60 pv `/` from Googlebot → dropped (`crawler`), nothing stored | — |
//! | 1, 23:50 | m1 | #50 pv `/?utm_source=newsletter&utm_medium=email&utm_campaign=launch` | SM1: bounce, source `newsletter` (class other), campaign `launch` |
//! | 2, 00:05 | m1 | #51 pv `/docs` (past midnight: a new session) | SM2: bounce, Direct |
//! | 2, 09:00 | k1 | #90 pv `/` · 09:00:30 #91 identify `gina` · 09:10 #92 pv `/pricing` · 09:20 #93 identify `hank` (no reset: refused as a join of two users) · 09:21 #94 pv `/docs` | SK1: 3 pv, 5 events, not a bounce, 1 260 s, Direct |
//! | 2, 10:00 | a2 | #70 pv `/?utm_source=newsletter&utm_medium=email&utm_campaign=launch` · 10:00:30 #71 identify `alice`, signed (a2's first batch: verified) · 10:01 #72 pv `/docs` · 10:02 #73 download `http://localhost/files/guide.pdf` | SP1: 2 pv, 4 events, not a bounce, 120 s, `newsletter` (other), `launch` |
//! | 2, 12:00 | h1 | #100 pv `/` from `https://t.co/abc` · 12:00:10 #101 identify `hank` | SH1: 1 pv, 2 events, bounce, 10 s, `t.co` (social) |
//! | 2, 14:00 | b1 | #80 pv `/blog` · 14:00:05 #81 outbound `https://github.com/spoor` | SB2: 1 pv, 2 events, not a bounce (outbound), 5 s, Direct |
//! | 2, 15:00 | srv-7 | `/ingest` with ivan's address and agent and `user_id: ivan`: #120 pv `/pricing` · 15:01 #121 custom `purchase` {plan: pro, amount: 49}; also a batch with a wrong key (#122, refused `401`) | SI1: 1 pv, 2 events, not a bounce, 60 s, Direct, AU |
//! | 2, 16:00 | j1 | #110 pv `/` from `https://duckduckgo.com/` · 16:01 #111 pv `/pricing` · 16:02 #112 pv `/docs` · 16:03 #113 pv `/pricing` · 16:03:30 #114 custom `signup` {plan: free, seats: 1} · 16:04 #115 outbound `https://github.com/spoor` (all on `/pricing` after #113) | SJ1: 4 pv, 6 events, not a bounce, 240 s, `duckduckgo.com` (search) |
//!
//! Totals (every area's starting point):
//!
//! | | day 1 | day 2 | both |
//! |---|---:|---:|---:|
//! | visitors | 10 (a1 b1 c1 c2 d1 d2 e1 f1 fp m1) | 7 (m1 k1 a2 h1 b1 srv-7 j1) | 15 |
//! | persons, inclusive | 9 (d1+d2) | 7 | 13 (a1+a2, d1+d2) |
//! | persons, strict | 10 | 7 | 14 (a1+a2) |
//! | page views | 11 | 13 | 24 |
//! | events | 17 | 22 | 39 |
//! | sessions | 10 | 7 | 17 |
//! | bounces | 8 (all but SA1, SE1) | 2 (SM2, SH1) | 10 |
//! | duration sum | 240 s (180 + 30 + 30) | 1 695 s (120 + 5 + 1 260 + 10 + 240 + 60) | 1 935 s |
//!
//! Persons: `{a1, a2, user:alice}` (two signed logins), `{c1, user:carol}`, `{d1, d2}`
//! (inclusive: the recovery link), `{k1, user:gina}` (hank's login on k1 is refused: it
//! would join two users; k1's events from 09:20 are hank's stretch), `{h1, user:hank}`,
//! `{srv-7, user:ivan}` (a verified login: the site's key vouches); everyone else alone.

use serde_json::{Value, json};
use spoor_collector::identity::verify;

use super::Backend;
use super::harness::{Browser, INGEST_KEY, Live, config, ev};

/// 2026-11-02T00:00:00Z, Unix ms.
pub const DAY1: i64 = 1_793_577_600_000;
/// 2026-11-03T00:00:00Z.
pub const DAY2: i64 = DAY1 + DAY_MS;
/// A UTC day, ms.
pub const DAY_MS: i64 = 86_400_000;
/// Both days, as report parameters.
pub const BOTH: &str = "site=demo&from=2026-11-02&to=2026-11-03";
/// Day 1 alone.
pub const FIRST: &str = "site=demo&from=2026-11-02&to=2026-11-02";
/// Day 2 alone.
pub const SECOND: &str = "site=demo&from=2026-11-03&to=2026-11-03";

pub const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
pub const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const CHROME_ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// Day `day` (1 or 2) at `h:m:s` UTC, Unix ms.
pub fn at(day: i64, h: i64, m: i64, s: i64) -> i64 {
    DAY1 + (day - 1) * DAY_MS + ((h * 60 + m) * 60 + s) * 1000
}

/// The site's signature of `user`.
fn signed(user: &str) -> Value {
    json!(verify::sign(
        super::harness::IDENTIFY_SECRET.as_bytes(),
        user
    ))
}

/// The events alice's laptop resends after #5 (the beacon retrying a batch it thinks was
/// lost): #2 and #3, byte for byte.
pub fn alice_resent() -> Vec<Value> {
    vec![
        ev(2, "pageview", at(1, 9, 1, 0), "/pricing", json!({})),
        ev(
            3,
            "engagement",
            at(1, 9, 1, 30),
            "/pricing",
            json!({"pageview": crate::common::event_id(2), "visible_ms": 20_000, "scroll": 80}),
        ),
    ]
}

/// A collector over a new store of `backend` holding the dataset.
pub async fn load<B: Backend>(backend: &B) -> Live<'_, B> {
    let mut live = Live::start(backend, at(1, 8, 0, 0)).await;
    let (bob, mia) = day1(&live).await;
    // The second day goes to a new collector over the same store: whatever the first kept
    // in memory (sessions, identity memory, caches) must come back from the store. Bob
    // and mia keep the cookies it set (signed with the store's key).
    live.restart(config()).await;
    day2(&mut live, bob, mia).await;
    live
}

/// Day 1; returns the browsers that come back on day 2.
async fn day1<B: Backend>(live: &Live<'_, B>) -> (Browser, Browser) {
    let mut alice = Browser::new("198.51.100.1", CHROME_WINDOWS, Some("a1"));
    let google = json!({"referrer": "https://www.google.com/search?q=spoor"});
    alice
        .send(live, &[ev(1, "pageview", at(1, 9, 0, 0), "/", google)])
        .await;
    alice.send(live, &alice_resent()).await;
    let signup = json!({"name": "signup", "props": {"plan": "pro", "seats": 3}});
    let login = json!({"user": "alice", "sig": signed("alice")});
    alice
        .send(
            live,
            &[
                ev(4, "custom", at(1, 9, 2, 0), "/pricing", signup),
                ev(5, "identify", at(1, 9, 3, 0), "/pricing", login),
            ],
        )
        .await;
    // The retry: acknowledged, stored once.
    alice.send(live, &alice_resent()).await;

    let mut bob = Browser::new("198.51.100.2", FIREFOX_LINUX, Some("b1"));
    let hn = json!({"referrer": "https://news.ycombinator.com/item?id=1"});
    bob.send(live, &[ev(10, "pageview", at(1, 10, 0, 0), "/", hn)])
        .await;

    let mut carol = Browser::new("198.51.100.3", SAFARI_MAC, Some("c1"));
    carol
        .send(
            live,
            &[ev(20, "pageview", at(1, 11, 0, 0), "/docs", json!({}))],
        )
        .await;
    let short = json!({"pageview": crate::common::event_id(20), "visible_ms": 5_000, "scroll": 30});
    carol
        .send(
            live,
            &[
                ev(21, "engagement", at(1, 11, 0, 20), "/docs", short),
                ev(
                    22,
                    "identify",
                    at(1, 11, 0, 30),
                    "/docs",
                    json!({"user": "carol"}),
                ),
            ],
        )
        .await;
    // spoor.reset(): a new beacon id on the first event after it; c1's cookie is still sent.
    carol.visitor = Some("c2");
    let reset = json!({"reset": true});
    carol
        .send(live, &[ev(23, "pageview", at(1, 11, 5, 0), "/", reset)])
        .await;

    let mut dave = Browser::new("198.51.100.4", CHROME_WINDOWS, Some("d1"));
    dave.send(live, &[ev(30, "pageview", at(1, 12, 0, 0), "/", json!({}))])
        .await;
    dave.wipe("d2");
    dave.send(
        live,
        &[ev(31, "pageview", at(1, 12, 10, 0), "/pricing", json!({}))],
    )
    .await;

    let mut erin = Browser::new("203.0.113.50", FIREFOX_LINUX, Some("e1"));
    erin.send(live, &[ev(40, "pageview", at(1, 13, 0, 0), "/", json!({}))])
        .await;
    let read = json!({"pageview": crate::common::event_id(40), "visible_ms": 12_000, "scroll": 50});
    erin.send(live, &[ev(43, "engagement", at(1, 13, 0, 30), "/", read)])
        .await;
    let mut frank = Browser::new("203.0.113.50", FIREFOX_LINUX, Some("f1"));
    frank
        .send(
            live,
            &[ev(41, "pageview", at(1, 13, 40, 0), "/docs", json!({}))],
        )
        .await;
    let mut cookieless = Browser::new("203.0.113.50", FIREFOX_LINUX, None);
    cookieless
        .send(
            live,
            &[ev(42, "pageview", at(1, 13, 45, 0), "/pricing", json!({}))],
        )
        .await;

    let mut bot = Browser::new("198.51.100.9", GOOGLEBOT, Some("bot"));
    let resp = bot
        .post(live, &[ev(60, "pageview", at(1, 14, 0, 0), "/", json!({}))])
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["x-spoor-dropped"], "crawler");

    let mut mia = Browser::new("198.51.100.7", FIREFOX_LINUX, Some("m1"));
    let tagged = "/?utm_source=newsletter&utm_medium=email&utm_campaign=launch";
    mia.send(
        live,
        &[ev(50, "pageview", at(1, 23, 50, 0), tagged, json!({}))],
    )
    .await;
    (bob, mia)
}

async fn day2<B: Backend>(live: &mut Live<'_, B>, mut bob: Browser, mut mia: Browser) {
    let tagged = "/?utm_source=newsletter&utm_medium=email&utm_campaign=launch";
    mia.send(
        live,
        &[ev(51, "pageview", at(2, 0, 5, 0), "/docs", json!({}))],
    )
    .await;

    let mut laptop = Browser::new("198.51.100.5", SAFARI_MAC, Some("k1"));
    let steps = [
        ev(90, "pageview", at(2, 9, 0, 0), "/", json!({})),
        ev(
            91,
            "identify",
            at(2, 9, 0, 30),
            "/",
            json!({"user": "gina"}),
        ),
        ev(92, "pageview", at(2, 9, 10, 0), "/pricing", json!({})),
        ev(
            93,
            "identify",
            at(2, 9, 20, 0),
            "/pricing",
            json!({"user": "hank"}),
        ),
        ev(94, "pageview", at(2, 9, 21, 0), "/docs", json!({})),
    ];
    for (i, step) in steps.into_iter().enumerate() {
        if i == 3 {
            // Another restart, inside SK1 and before hank's login: the session goes on,
            // and k1 is still known as gina's.
            live.restart(config()).await;
        }
        laptop.send(live, &[step]).await;
    }
    let live = &*live;

    let mut phone = Browser::new("198.51.100.130", SAFARI_IPHONE, Some("a2"));
    let login = json!({"user": "alice", "sig": signed("alice")});
    phone
        .send(
            live,
            &[
                ev(70, "pageview", at(2, 10, 0, 0), tagged, json!({})),
                ev(71, "identify", at(2, 10, 0, 30), "/", login),
            ],
        )
        .await;
    let guide = json!({"target": "http://localhost/files/guide.pdf"});
    phone
        .send(
            live,
            &[
                ev(72, "pageview", at(2, 10, 1, 0), "/docs", json!({})),
                ev(73, "download", at(2, 10, 2, 0), "/docs", guide),
            ],
        )
        .await;

    let mut tablet = Browser::new("198.51.100.131", CHROME_ANDROID_TABLET, Some("h1"));
    let tco = json!({"referrer": "https://t.co/abc"});
    tablet
        .send(live, &[ev(100, "pageview", at(2, 12, 0, 0), "/", tco)])
        .await;
    tablet
        .send(
            live,
            &[ev(
                101,
                "identify",
                at(2, 12, 0, 10),
                "/",
                json!({"user": "hank"}),
            )],
        )
        .await;

    let github = json!({"target": "https://github.com/spoor"});
    bob.send(
        live,
        &[
            ev(80, "pageview", at(2, 14, 0, 0), "/blog", json!({})),
            ev(81, "outbound", at(2, 14, 0, 5), "/blog", github.clone()),
        ],
    )
    .await;

    let server = |n: u32, kind: &str, ts: i64, extra: Value| {
        let mut e = ev(n, kind, ts, "/pricing", extra);
        e["visitor"] = json!("srv-7");
        e["ip"] = json!("198.51.100.140");
        e["user_agent"] = json!(CHROME_WINDOWS);
        e["user_id"] = json!("ivan");
        e.as_object_mut().unwrap().remove("screen");
        e
    };
    let purchase = json!({"name": "purchase", "props": {"plan": "pro", "amount": 49}});
    let events = [
        server(120, "pageview", at(2, 15, 0, 0), json!({})),
        server(121, "custom", at(2, 15, 1, 0), purchase),
    ];
    assert_eq!(live.ingest(INGEST_KEY, &events).await.status(), 204);
    let stray = [server(122, "pageview", at(2, 15, 2, 0), json!({}))];
    assert_eq!(
        live.ingest("not-the-key-0123456789", &stray).await.status(),
        401
    );

    let mut jane = Browser::new("198.51.100.6", CHROME_WINDOWS, Some("j1"));
    let ddg = json!({"referrer": "https://duckduckgo.com/"});
    let signup = json!({"name": "signup", "props": {"plan": "free", "seats": 1}});
    jane.send(
        live,
        &[
            ev(110, "pageview", at(2, 16, 0, 0), "/", ddg),
            ev(111, "pageview", at(2, 16, 1, 0), "/pricing", json!({})),
            ev(112, "pageview", at(2, 16, 2, 0), "/docs", json!({})),
            ev(113, "pageview", at(2, 16, 3, 0), "/pricing", json!({})),
            ev(114, "custom", at(2, 16, 3, 30), "/pricing", signup),
            ev(115, "outbound", at(2, 16, 4, 0), "/pricing", github),
        ],
    )
    .await;
}
