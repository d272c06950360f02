//! Idempotency: an event id already stored is acknowledged and not stored again, also when
//! the same batch arrives many times at once (the writer may put the copies in one
//! transaction or in several).

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::{TestCollector, UA, batch, event, event_id};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_sent_concurrently_is_acknowledged_every_time_and_stored_once() {
    let c = TestCollector::start().await;
    let events: Vec<serde_json::Value> = (0..20)
        .map(|n| {
            event(
                &event_id(n),
                "pageview",
                "http://localhost/",
                serde_json::json!({}),
            )
        })
        .collect();
    let body = batch(&events);
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let router = c.router.clone();
        let request = Request::post("/collect")
            .header(header::USER_AGENT, UA)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(body.clone()))
            .unwrap();
        sends.spawn(async move { router.oneshot(request).await.unwrap().status() });
    }
    while let Some(status) = sends.join_next().await {
        assert_eq!(status.unwrap(), 204, "every copy is acknowledged");
    }
    assert_eq!(c.column("SELECT count(*) || '' FROM events"), ["20"]);
    // The copies moved no session either: each event is counted once.
    assert_eq!(c.column("SELECT sum(events) || '' FROM sessions"), ["20"]);
}
