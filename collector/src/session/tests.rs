//! The session rules, one by one, and properties over random event streams.

use proptest::prelude::*;

use super::*;
use crate::event::{Custom, Engagement};

const MIN: i64 = 60_000;
/// 2026-01-01T12:00:00Z.
const NOON: i64 = 20_454 * 86_400_000 + 12 * 60 * MIN;

fn campaign(source: &str) -> Campaign {
    Campaign {
        source: Some(source.into()),
        ..Campaign::default()
    }
}

/// Feeds `(ts, kind, path, campaign)` in order and returns the sessions, latest last
/// updated, plus the index of the session each event went to.
fn run(
    rules: &SessionRules,
    hits: &[(i64, EventKind, &str, Campaign)],
) -> (Vec<Session>, Vec<usize>) {
    let mut sessions: Vec<Session> = Vec::new();
    let mut placed = Vec::new();
    for (n, (ts, kind, path, campaign)) in hits.iter().enumerate() {
        let hit = Hit {
            ts: *ts,
            kind,
            path,
            campaign,
        };
        // The latest session: greatest last time, the newer one on a tie (as the store).
        let latest = (0..sessions.len())
            .max_by_key(|&i| (sessions[i].last_ts, i))
            .map(|i| (i, sessions[i].clone()));
        let next_id = Uuid::from_u128(n as u128 + 1);
        match assign(rules, latest.as_ref().map(|(_, s)| s), &hit, || next_id) {
            Assignment::Continue(s) => {
                let i = latest.map_or(0, |(i, _)| i);
                sessions[i] = s;
                placed.push(i);
            }
            Assignment::Start(s) => {
                sessions.push(s);
                placed.push(sessions.len() - 1);
            }
        }
    }
    (sessions, placed)
}

fn pv(ts: i64, path: &str) -> (i64, EventKind, &str, Campaign) {
    (ts, EventKind::Pageview, path, Campaign::default())
}

#[test]
fn a_gap_of_exactly_the_idle_timeout_starts_a_new_session() {
    let rules = SessionRules::default();
    let (s, placed) = run(
        &rules,
        &[
            pv(NOON, "/a"),
            pv(NOON + 30 * MIN - 1, "/b"),
            pv(NOON + 60 * MIN - 1, "/c"),
        ],
    );
    assert_eq!(placed, [0, 0, 1]);
    assert_eq!(
        (s[0].entry_path.as_str(), s[0].exit_path.as_str()),
        ("/a", "/b")
    );
    assert_eq!(s[0].duration_ms(), 30 * MIN - 1);
    assert_eq!(s[0].pageviews, 2);
    assert!(!s[0].bounce());
    assert!(s[1].bounce());
}

#[test]
fn the_idle_timeout_is_configurable() {
    let rules = SessionRules {
        idle_timeout: Duration::from_secs(5 * 60),
        ..SessionRules::default()
    };
    let (_, placed) = run(&rules, &[pv(NOON, "/a"), pv(NOON + 5 * MIN, "/b")]);
    assert_eq!(placed, [0, 1]);
}

#[test]
fn sessions_end_at_midnight_in_the_sites_time_zone() {
    // UTC−05:00: local midnight is 05:00Z, so 04:50Z and 05:10Z are different local days,
    // while 23:50Z and 00:10Z are the same one.
    let rules = SessionRules {
        zone: SiteZone::Fixed(UtcOffset::from_minutes(-300).unwrap_or_default()),
        ..SessionRules::default()
    };
    let five_am = NOON - 7 * 60 * MIN;
    let (_, placed) = run(
        &rules,
        &[pv(five_am - 10 * MIN, "/a"), pv(five_am + 10 * MIN, "/b")],
    );
    assert_eq!(placed, [0, 1]);
    let utc_midnight = NOON - 12 * 60 * MIN;
    let (_, placed) = run(
        &rules,
        &[
            pv(utc_midnight - 10 * MIN, "/a"),
            pv(utc_midnight + 10 * MIN, "/b"),
        ],
    );
    assert_eq!(placed, [0, 0]);
    let (_, placed) = run(
        &SessionRules::default(),
        &[
            pv(utc_midnight - 10 * MIN, "/a"),
            pv(utc_midnight + 10 * MIN, "/b"),
        ],
    );
    assert_eq!(placed, [0, 1], "in UTC the same pair is cut");
}

#[test]
fn a_new_campaign_starts_a_session_the_same_one_or_none_continues() {
    let rules = SessionRules::default();
    let none = Campaign::default;
    let (s, placed) = run(
        &rules,
        &[
            (NOON, EventKind::Pageview, "/", campaign("news")),
            (NOON + MIN, EventKind::Pageview, "/a", none()),
            (NOON + 2 * MIN, EventKind::Pageview, "/b", campaign("news")),
            (NOON + 3 * MIN, EventKind::Pageview, "/c", campaign("ads")),
            (NOON + 4 * MIN, EventKind::Pageview, "/d", none()),
        ],
    );
    assert_eq!(placed, [0, 0, 0, 1, 1]);
    assert_eq!(s[0].campaign, campaign("news"));
    assert_eq!(s[1].campaign, campaign("ads"));
    let medium_only = Campaign {
        medium: Some("email".into()),
        ..Campaign::default()
    };
    let (_, placed) = run(
        &rules,
        &[
            pv(NOON, "/"),
            (NOON + MIN, EventKind::Pageview, "/", medium_only),
        ],
    );
    assert_eq!(
        placed,
        [0, 1],
        "any one tag is a campaign, and differs from none"
    );
}

#[test]
fn a_late_event_joins_without_moving_the_exit_back() {
    let rules = SessionRules::default();
    let (s, placed) = run(
        &rules,
        &[
            pv(NOON, "/b"),
            pv(NOON + 10 * MIN, "/c"),
            pv(NOON + 5 * MIN, "/late"),
            pv(NOON - 20 * MIN, "/first"),
            (NOON - MIN, EventKind::Pageview, "/tagged", campaign("x")),
        ],
    );
    assert_eq!(placed, [0, 0, 0, 0, 0]);
    assert_eq!(s[0].exit_path, "/c");
    assert_eq!(s[0].last_ts, NOON + 10 * MIN);
    assert_eq!(s[0].entry_path, "/first");
    assert_eq!(s[0].duration_ms(), 30 * MIN);
    assert_eq!((s[0].pageviews, s[0].events), (5, 5));
    assert_eq!(
        s[0].campaign,
        Campaign::default(),
        "late tags are not compared"
    );
}

#[test]
fn a_late_event_that_fits_nowhere_gets_its_own_earlier_session() {
    let rules = SessionRules::default();
    let (s, placed) = run(
        &rules,
        &[
            pv(NOON, "/a"),
            pv(NOON - 30 * MIN, "/old"),
            pv(NOON + MIN, "/b"),
        ],
    );
    assert_eq!(placed, [0, 1, 0]);
    assert!(s[1].last_ts < s[0].start_ts);
}

#[test]
fn bounce_needs_one_page_view_and_no_interaction() {
    let rules = SessionRules::default();
    let engagement = |visible_ms| {
        EventKind::Engagement(Engagement {
            pageview: Uuid::nil(),
            visible_ms,
            scroll: 10,
        })
    };
    let none = Campaign::default;
    let bounced = |second: EventKind| {
        let (s, _) = run(&rules, &[pv(NOON, "/"), (NOON + 1000, second, "/", none())]);
        s[0].bounce()
    };
    assert!(bounced(engagement(ENGAGED_VISIBLE_MS - 1)));
    assert!(!bounced(engagement(ENGAGED_VISIBLE_MS)));
    assert!(!bounced(EventKind::Custom(Custom {
        name: "signup".into(),
        props: None,
    })));
    assert!(!bounced(EventKind::Outbound {
        target: "https://x.org/".into()
    }));
    assert!(!bounced(EventKind::Download {
        target: "https://x.org/a.pdf".into()
    }));
    assert!(bounced(EventKind::Identify { user: "u".into() }));
    assert!(!bounced(EventKind::Pageview), "two page views");
    let (s, _) = run(&rules, &[(NOON, engagement(0), "/", none())]);
    assert!(!s[0].bounce(), "no page view, no bounce");
}

fn kind_strategy() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        4 => Just(EventKind::Pageview),
        1 => (0u32..20_000).prop_map(|visible_ms| EventKind::Engagement(Engagement {
            pageview: Uuid::nil(),
            visible_ms,
            scroll: 0,
        })),
        1 => Just(EventKind::Outbound { target: "https://x.org/".into() }),
    ]
}

fn hits_strategy() -> impl Strategy<Value = Vec<(i64, EventKind, &'static str, Campaign)>> {
    let campaign = prop_oneof![
        6 => Just(Campaign::default()),
        1 => Just(campaign("a")),
        1 => Just(campaign("b")),
    ];
    let path = prop_oneof![Just("/"), Just("/a"), Just("/b")];
    // Gaps up to 45 minutes, around a local midnight, so every rule is exercised.
    let hit = (0i64..45 * MIN, kind_strategy(), path, campaign);
    prop::collection::vec(hit, 1..40).prop_map(|hits| {
        let mut ts = NOON + 11 * 60 * MIN;
        hits.into_iter()
            .map(|(gap, kind, path, campaign)| {
                ts += gap;
                (ts, kind, path, campaign)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn in_order_sessions_never_overlap_and_hold_every_event_once(hits in hits_strategy()) {
        let rules = SessionRules {
            zone: SiteZone::Fixed(UtcOffset::from_minutes(-90).unwrap_or_default()),
            ..SessionRules::default()
        };
        let (sessions, placed) = run(&rules, &hits);
        prop_assert_eq!(placed.len(), hits.len());
        let total: u32 = sessions.iter().map(|s| s.events).sum();
        prop_assert_eq!(total as usize, hits.len());
        for pair in sessions.windows(2) {
            prop_assert!(pair[0].last_ts <= pair[1].start_ts);
        }
        for (i, s) in sessions.iter().enumerate() {
            let mine: Vec<_> = placed.iter().zip(&hits).filter(|(p, _)| **p == i).collect();
            prop_assert_eq!(mine.len(), s.events as usize);
            prop_assert!(mine.iter().all(|(_, h)| rules.zone.day_of(h.0) == s.day));
            prop_assert!(mine.windows(2).all(|w| w[1].1.0 - w[0].1.0 < 30 * MIN));
            prop_assert_eq!(s.duration_ms(), mine[mine.len() - 1].1.0 - mine[0].1.0);
        }
    }

    #[test]
    fn shuffled_events_each_land_in_exactly_one_session(
        (hits, order) in hits_strategy().prop_flat_map(|hits| {
            let n = hits.len();
            (Just(hits), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let shuffled: Vec<_> = order.iter().map(|&i| hits[i].clone()).collect();
        let (sessions, placed) = run(&SessionRules::default(), &shuffled);
        prop_assert_eq!(placed.len(), shuffled.len());
        for (i, s) in sessions.iter().enumerate() {
            let ts: Vec<i64> = placed
                .iter()
                .zip(&shuffled)
                .filter(|(p, _)| **p == i)
                .map(|(_, h)| h.0)
                .collect();
            prop_assert_eq!(ts.len(), s.events as usize);
            prop_assert_eq!(ts.iter().min(), Some(&s.start_ts));
            prop_assert_eq!(ts.iter().max(), Some(&s.last_ts));
        }
    }
}
