//! Breakdowns: every dimension over both days, JSON and CSV, counting visitors or persons.

use axum::body::Body;

use super::{Wanted, rows, want};
use crate::conformance::Backend;
use crate::conformance::dataset::{BOTH, load};
use crate::conformance::harness::close;

/// Breakdowns over both days. Page rows count every event on the page and the visitors
/// with any event there; session dimensions count sessions by where they started and
/// their page views and events (see the dataset's session column):
///
/// | dimension | key | visitors | pv | events | sessions | why |
/// |---|---|---:|---:|---:|---:|---|
/// | page | `/` | 10 | 10 | 14 | 0 | pv #1 #10 #23 #30 #40 #50 #70 #90 #100 #110, engagement #43, identify #71 #91 #101 |
/// | page | `/pricing` | 6 | 7 | 14 | 0 | a1 #2–#5, d2, fp, k1 #92 #93, j1 #111 #113–#115, srv-7 #120 #121 |
/// | page | `/docs` | 6 | 6 | 9 | 0 | c1 #20–#22, f1, m1 #51, a2 #72 #73, k1 #94, j1 #112 |
/// | page | `/blog` | 1 | 1 | 2 | 0 | b1 #80 #81 |
/// | entry | `/` | 10 | 17 | 28 | 10 | SA1 SB1 SC2 SD1 SE1 SM1 SP1 SK1 SH1 SJ1 |
/// | entry | `/docs` | 3 | 3 | 5 | 3 | SC1 SF1 SM2 |
/// | entry | `/pricing` | 3 | 3 | 4 | 3 | SD2 SFP SI1 |
/// | entry | `/blog` | 1 | 1 | 2 | 1 | SB2 |
/// | exit, `device=desktop` | `/pricing` | 5 | 9 | 15 | 5 | SA1 SD2 SFP SJ1 SI1 |
/// | exit, `device=desktop` | `/` | 5 | 5 | 6 | 5 | SB1 SC2 SD1 SE1 SM1 |
/// | exit, `device=desktop` | `/docs` | 4 | 6 | 10 | 4 | SC1 SF1 SM2 SK1 |
/// | source | `Direct` | 11 | 13 | 20 | 11 | see the summary's filter |
/// | source | `newsletter` | 2 | 3 | 5 | 2 | SM1 SP1 (`utm_source`) |
/// | source | `duckduckgo.com`, `google.com`, `t.co`, `news.ycombinator.com` | 1 each | 4, 2, 1, 1 | 6, 5, 2, 1 | 1 each | SJ1, SA1, SH1, SB1 |
/// | source_class | `direct` | 11 | 13 | 20 | 11 | as `Direct` |
/// | source_class | `search` | 2 | 6 | 11 | 2 | SA1 (google) SJ1 (duckduckgo) |
/// | source_class | `other` | 2 | 3 | 5 | 2 | a tag without a referrer |
/// | source_class | `social` | 2 | 2 | 3 | 2 | SB1 (HN) SH1 (t.co) |
/// | campaign | `launch` | 2 | 3 | 5 | 2 | SM1 SP1 |
/// | browser | Chrome | 6 | 10 | 17 | 6 | a1 d1 d2 j1 srv-7 h1 |
/// | browser | Firefox | 5 | 7 | 9 | 7 | b1 (2 sessions) e1 f1 fp m1 (2) |
/// | browser | Safari | 4 | 7 | 13 | 4 | c1 c2 k1 a2 |
/// | os | Windows, Linux, macOS, iOS, Android | 5, 5, 3, 1, 1 | 9, 7, 5, 2, 1 | 15, 9, 9, 4, 2 | 5, 7, 3, 1, 1 | by the user agents of the dataset's browser table |
/// | device | desktop, mobile, tablet | 13, 1, 1 | 21, 2, 1 | 33, 4, 2 | 15, 1, 1 | all but a2 (iPhone) and h1 (Android without `Mobile`) |
/// | country | NZ | 9 | 17 | 27 | 11 | 198.51.100.1–7 |
/// | country | AU | 3 | 4 | 8 | 3 | a2 h1 srv-7 |
/// | country | DE | 3 | 3 | 4 | 3 | the NAT |
/// | event | `signup`, `purchase` | 2, 1 | 0 | 2, 1 | 0 | #4 #114; #121 |
/// | event_property `signup`/`plan` | `free`, `pro` | 1 each | 0 | 1 each | 0 | j1; a1 |
/// | event_property `signup`/`seats` | `1`, `3` | 1 each | 0 | 1 each | 0 | numbers as JSON text |
/// | event_property `purchase`/`amount` | `49` | 1 | 0 | 1 | 0 | srv-7 |
/// | outbound | `https://github.com/spoor` | 2 | 0 | 2 | 0 | #81 #115 |
/// | download | `http://localhost/files/guide.pdf` | 1 | 0 | 1 | 0 | #73 |
///
/// Ties are ordered by page views, then events, then sessions, then key. `share` is over
/// the period's 15 visitors. The unfiltered exit rows are checked by [`exit_visitors`].
/// With `count=persons`, `visitors` counts persons: the Direct sessions' 11 visitors are
/// 10 persons inclusive (d1+d2), 11 strict; `/` is 9 (a1+a2).
pub async fn breakdowns<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let page = want(&[
        ("/", 10, 10, 14, 0),
        ("/pricing", 6, 7, 14, 0),
        ("/docs", 6, 6, 9, 0),
        ("/blog", 1, 1, 2, 0),
    ]);
    assert_eq!(rows(&live, "dimension=page").await, page);
    let full = live
        .get(&format!("/api/breakdown?{BOTH}&dimension=page"))
        .await;
    assert_eq!(full["dimension"], "page");
    assert!(close(&full["rows"][0]["share"], 10.0 / 15.0), "{full}");
    assert!(close(&full["rows"][3]["share"], 1.0 / 15.0), "{full}");
    assert_eq!(rows(&live, "dimension=page&limit=2").await, page[..2]);

    let cases: [(&str, &[Wanted]); 14] = [
        (
            "dimension=entry",
            &[
                ("/", 10, 17, 28, 10),
                ("/docs", 3, 3, 5, 3),
                ("/pricing", 3, 3, 4, 3),
                ("/blog", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=exit&device=desktop",
            &[
                ("/pricing", 5, 9, 15, 5),
                ("/", 5, 5, 6, 5),
                ("/docs", 4, 6, 10, 4),
                ("/blog", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=source",
            &[
                ("Direct", 11, 13, 20, 11),
                ("newsletter", 2, 3, 5, 2),
                ("duckduckgo.com", 1, 4, 6, 1),
                ("google.com", 1, 2, 5, 1),
                ("t.co", 1, 1, 2, 1),
                ("news.ycombinator.com", 1, 1, 1, 1),
            ],
        ),
        (
            "dimension=source_class",
            &[
                ("direct", 11, 13, 20, 11),
                ("search", 2, 6, 11, 2),
                ("other", 2, 3, 5, 2),
                ("social", 2, 2, 3, 2),
            ],
        ),
        ("dimension=campaign", &[("launch", 2, 3, 5, 2)]),
        (
            "dimension=browser",
            &[
                ("Chrome", 6, 10, 17, 6),
                ("Firefox", 5, 7, 9, 7),
                ("Safari", 4, 7, 13, 4),
            ],
        ),
        (
            "dimension=os",
            &[
                ("Windows", 5, 9, 15, 5),
                ("Linux", 5, 7, 9, 7),
                ("macOS", 3, 5, 9, 3),
                ("iOS", 1, 2, 4, 1),
                ("Android", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=device",
            &[
                ("desktop", 13, 21, 33, 15),
                ("mobile", 1, 2, 4, 1),
                ("tablet", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=country",
            &[
                ("NZ", 9, 17, 27, 11),
                ("AU", 3, 4, 8, 3),
                ("DE", 3, 3, 4, 3),
            ],
        ),
        (
            "dimension=event",
            &[("signup", 2, 0, 2, 0), ("purchase", 1, 0, 1, 0)],
        ),
        (
            "dimension=event_property&event=signup&property=plan",
            &[("free", 1, 0, 1, 0), ("pro", 1, 0, 1, 0)],
        ),
        (
            "dimension=event_property&event=signup&property=seats",
            &[("1", 1, 0, 1, 0), ("3", 1, 0, 1, 0)],
        ),
        (
            "dimension=outbound",
            &[("https://github.com/spoor", 2, 0, 2, 0)],
        ),
        (
            "dimension=download",
            &[("http://localhost/files/guide.pdf", 1, 0, 1, 0)],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(rows(&live, query).await, want(expected), "{query}");
    }
    assert_eq!(
        rows(
            &live,
            "dimension=event_property&event=purchase&property=amount"
        )
        .await,
        want(&[("49", 1, 0, 1, 0)])
    );

    // Persons: the Direct sessions' d1 and d2 are one person inclusive, two strict.
    let direct = |rows: Vec<(String, u64, u64, u64, u64)>| {
        rows.into_iter().find(|r| r.0 == "Direct").map(|r| r.1)
    };
    assert_eq!(
        direct(rows(&live, "dimension=source&count=persons").await),
        Some(10)
    );
    assert_eq!(
        direct(rows(&live, "dimension=source&count=persons&identity=strict").await),
        Some(11)
    );
    assert_eq!(
        rows(&live, "dimension=page&count=persons").await,
        want(&[
            ("/", 9, 10, 14, 0),
            ("/pricing", 6, 7, 14, 0),
            ("/docs", 6, 6, 9, 0),
            ("/blog", 1, 1, 2, 0)
        ])
    );

    let resp = live
        .admin(
            "GET",
            &format!("/api/breakdown?{BOTH}&dimension=page&format=csv"),
            Body::empty(),
        )
        .await;
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"page.csv\""
    );
    let csv = String::from_utf8(crate::common::body_bytes(resp).await).unwrap();
    assert_eq!(
        csv,
        "key,visitors,pageviews,events,sessions,share\r\n\
         /,10,10,14,0,0.6666666666666666\r\n\
         /pricing,6,7,14,0,0.4\r\n\
         /docs,6,6,9,0,0.4\r\n\
         /blog,1,1,2,0,0.06666666666666667\r\n"
    );
}

/// Exit pages over both days, unfiltered (read from the rollups):
///
/// | key | visitors | pv | events | sessions | sessions that ended there |
/// |---|---:|---:|---:|---:|---|
/// | `/` | 6 | 6 | 8 | 6 | SB1 SC2 SD1 SE1 SM1 SH1 |
/// | `/pricing` | 5 | 9 | 15 | 5 | SA1 SD2 SFP SJ1 SI1 |
/// | `/docs` | 5 | 8 | 14 | 5 | SC1 SF1 SM2 SP1 SK1 |
/// | `/blog` | 1 | 1 | 2 | 1 | SB2 |
///
/// A session's exit moves as it goes on, and its visitor moves with it: `/` does not count
/// a1, a2 and k1 (their sessions' first batch ended on `/`) nor `/pricing` k1 (a store that
/// keeps them, as SQLite's rollup sketches once did, says 9 and 6 visitors for 6 and 5
/// sessions). The filtered (exact) reading in [`breakdowns`] agrees.
pub async fn exit_visitors<B: Backend>(backend: &B) {
    let live = load(backend).await;
    assert_eq!(
        rows(&live, "dimension=exit").await,
        want(&[
            ("/", 6, 6, 8, 6),
            ("/pricing", 5, 9, 15, 5),
            ("/docs", 5, 8, 14, 5),
            ("/blog", 1, 1, 2, 1)
        ])
    );
}
