//! Paths: transitions around a page and the flows of sessions' first pages.

use serde_json::{Value, json};

use crate::conformance::Backend;
use crate::conformance::dataset::{BOTH, load};
use crate::conformance::harness::close;

/// Paths. Transitions of `/pricing`, its 7 views: #2 (a1, after `/`, then nothing), #31
/// (d2), #42 (fp), #120 (srv-7) (each an entrance and an exit), #92 (k1, `/` → `/docs`),
/// #111 (j1, `/` → `/docs`), #113 (j1, `/docs` → nothing). Before: entrance 3, `/` 3,
/// `/docs` 1; after: exit 5, `/docs` 2.
///
/// Flows (first 4 page views of each of the 17 sessions): `/` alone 6 (SB1 SC2 SD1 SE1 SM1
/// SH1), `/docs` 3 (SC1 SF1 SM2), `/pricing` 3 (SD2 SFP SI1), then once each `/ /docs`
/// (SP1), `/ /pricing` (SA1), `/ /pricing /docs` (SK1), `/ /pricing /docs /pricing` (SJ1),
/// `/blog` (SB2); ties by pages. Links: `1 /`→`2 /pricing` 3 (SA1 SK1 SJ1), `2 /pricing`→`3
/// /docs` 2, `1 /`→`2 /docs` 1, `3 /docs`→`4 /pricing` 1. With `steps=2` SK1 and SJ1 both
/// read `/ /pricing`: 3 with SA1.
pub async fn paths<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let t = live
        .get(&format!("/api/paths/transitions?{BOTH}&page=/pricing"))
        .await;
    let v7 = |n: f64| n / 7.0;
    assert_eq!(t["page"], "/pricing");
    assert_eq!(t["views"], 7);
    let keys = |side: &Value| -> Vec<(String, u64)> {
        side.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap().to_string(),
                    s["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&t["before"]),
        [
            ("(entrance)".to_string(), 3),
            ("/".into(), 3),
            ("/docs".into(), 1)
        ],
        "{t}"
    );
    assert_eq!(
        keys(&t["after"]),
        [("(exit)".to_string(), 5), ("/docs".into(), 2)],
        "{t}"
    );
    assert!(
        close(&t["before"][0]["share"], v7(3.0)) && close(&t["after"][1]["share"], v7(2.0)),
        "{t}"
    );
    let csv = live
        .get_text(&format!(
            "/api/paths/transitions?{BOTH}&page=/pricing&format=csv"
        ))
        .await;
    assert_eq!(
        csv,
        format!(
            "side,key,count,share\r\nbefore,(entrance),3,{a}\r\nbefore,/,3,{a}\r\nbefore,/docs,1,{b}\r\n\
             after,(exit),5,{c}\r\nafter,/docs,2,{d}\r\n",
            a = 3.0 / 7.0,
            b = 1.0 / 7.0,
            c = 5.0 / 7.0,
            d = 2.0 / 7.0
        )
    );
    let (status, _) = live
        .get_status(&format!("/api/paths/transitions?{BOTH}"))
        .await;
    assert_eq!(status, 400, "page is required");

    let f = live.get(&format!("/api/paths/flows?{BOTH}")).await;
    let sequences: Vec<(Vec<String>, u64)> = f["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                serde_json::from_value(s["pages"].clone()).unwrap(),
                s["sessions"].as_u64().unwrap(),
            )
        })
        .collect();
    let seq = |pages: &[&str], n: u64| (pages.iter().map(|p| p.to_string()).collect::<Vec<_>>(), n);
    assert_eq!(
        sequences,
        [
            seq(&["/"], 6),
            seq(&["/docs"], 3),
            seq(&["/pricing"], 3),
            seq(&["/", "/docs"], 1),
            seq(&["/", "/pricing"], 1),
            seq(&["/", "/pricing", "/docs"], 1),
            seq(&["/", "/pricing", "/docs", "/pricing"], 1),
            seq(&["/blog"], 1),
        ],
        "{f}"
    );
    assert_eq!(
        f["links"],
        json!([
            {"source": "1 /", "target": "2 /pricing", "value": 3},
            {"source": "2 /pricing", "target": "3 /docs", "value": 2},
            {"source": "1 /", "target": "2 /docs", "value": 1},
            {"source": "3 /docs", "target": "4 /pricing", "value": 1},
        ])
    );
    let names: Vec<&str> = f["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "1 /",
            "1 /docs",
            "1 /pricing",
            "2 /docs",
            "2 /pricing",
            "3 /docs",
            "4 /pricing",
            "1 /blog"
        ]
    );
    let two = live
        .get(&format!("/api/paths/flows?{BOTH}&steps=2&limit=5"))
        .await;
    assert_eq!(two["sequences"][0], json!({"pages": ["/"], "sessions": 6}));
    // `/ /pricing` (3) sorts before `/docs` (3): ties go by pages.
    assert_eq!(
        two["sequences"][1],
        json!({"pages": ["/", "/pricing"], "sessions": 3}),
        "{two}"
    );
    let csv = live
        .get_text(&format!("/api/paths/flows?{BOTH}&format=csv"))
        .await;
    assert_eq!(
        csv,
        "pages,sessions\r\n/,6\r\n/docs,3\r\n/pricing,3\r\n/ > /docs,1\r\n/ > /pricing,1\r\n\
         / > /pricing > /docs,1\r\n/ > /pricing > /docs > /pricing,1\r\n/blog,1\r\n"
    );
}
