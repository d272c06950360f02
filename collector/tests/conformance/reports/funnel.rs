//! Funnels: inline, saved by name, under both identity readings, with a short window.

use axum::body::Body;
use serde_json::{Value, json};

use crate::conformance::Backend;
use crate::conformance::dataset::{BOTH, load};
use crate::conformance::harness::close;

/// Funnel `page:/ → page:/pricing → event:signup` over both days, persons:
///
/// | step | inclusive | strict | who |
/// |---|---:|---:|---|
/// | `page:/` | 9 | 9 | alice (a1, a2), bob, c2, dave (d1; strict: d1 alone), erin, mia, gina (k1), hank (h1), jane |
/// | `page:/pricing` | 4 | 3 | alice 09:01, dave (d2 at 12:10, 10 min after d1's `/`: only when d1 and d2 are one person), gina 09:10, jane 16:01 |
/// | `event:signup` | 2 | 2 | alice 09:02, jane 16:03:30 |
///
/// With a 5-minute window, dave and gina (10 minutes) drop out: 9, 2, 2.
pub async fn funnels<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let steps = "steps=page:/,page:/pricing,event:signup";
    let check = |got: &Value, want: [(u64, f64, u64); 3]| {
        let s = got["steps"].as_array().unwrap();
        let names = ["page:/", "page:/pricing", "event:signup"];
        for (i, (persons, conversion, dropoff)) in want.into_iter().enumerate() {
            assert_eq!(s[i]["step"], names[i], "{got}");
            assert_eq!(
                (s[i]["persons"].as_u64(), s[i]["dropoff"].as_u64()),
                (Some(persons), Some(dropoff)),
                "step {i}: {got}"
            );
            assert!(close(&s[i]["conversion"], conversion), "step {i}: {got}");
        }
    };
    let inclusive = live.get(&format!("/api/funnel?{BOTH}&{steps}")).await;
    check(&inclusive, [(9, 1.0, 0), (4, 4.0 / 9.0, 5), (2, 0.5, 2)]);
    assert_eq!(inclusive["window_ms"], 86_400_000);
    let strict = live
        .get(&format!("/api/funnel?{BOTH}&{steps}&identity=strict"))
        .await;
    check(&strict, [(9, 1.0, 0), (3, 1.0 / 3.0, 6), (2, 2.0 / 3.0, 1)]);
    let short = live
        .get(&format!("/api/funnel?{BOTH}&{steps}&window_ms=300000"))
        .await;
    check(&short, [(9, 1.0, 0), (2, 2.0 / 9.0, 7), (2, 1.0, 0)]);
    let csv = live
        .get_text(&format!("/api/funnel?{BOTH}&{steps}&format=csv"))
        .await;
    assert_eq!(
        csv,
        format!(
            "step,persons,conversion,dropoff\r\npage:/,9,1,0\r\npage:/pricing,4,{},5\r\nevent:signup,2,0.5,2\r\n",
            4.0 / 9.0
        )
    );

    let save = json!({"site": "demo", "name": "signup", "steps": ["page:/", "page:/pricing", "event:signup"], "window_ms": 86_400_000});
    let resp = live
        .admin("POST", "/api/funnels", Body::from(save.to_string()))
        .await;
    assert_eq!(resp.status(), 201);
    let listed = live.get("/api/funnels?site=demo").await;
    assert_eq!(
        listed["funnels"],
        json!([{"name": "signup", "steps": ["page:/", "page:/pricing", "event:signup"], "window_ms": 86_400_000}])
    );
    let by_name = live.get(&format!("/api/funnel?{BOTH}&name=signup")).await;
    assert_eq!(by_name, inclusive);
    let (status, _) = live
        .get_status(&format!("/api/funnel?{BOTH}&name=nope"))
        .await;
    assert_eq!(status, 404);
}
