//! `POST /internal/ingest` driven without sockets: a forward signed under the store's
//! peer key is committed and answered; every request an attacker could send (unsigned,
//! forged, body changed, `Host` changed, signed for another peer, stale, replayed) is
//! refused with its reason, counted, and stores nothing. And the server cookie one
//! collector signs is accepted by another over the same store.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestCollector, body_bytes, error_reason, event_id, now_ms, pageview, set_cookie};
use spoor_collector::identity::resolver::Options;
use spoor_collector::ingest::BrowserBatch;
use spoor_collector::peers::auth::{
    NONCE_HEADER, PeerKey, SIGNATURE_HEADER, TIME_HEADER, VIEW_HEADER,
};
use spoor_collector::peers::list::PeerList;
use spoor_collector::peers::replay::WINDOW_MS;
use spoor_collector::peers::wire::{Answer, Job};

const ME: &str = "127.0.0.1:9101";
const OTHER: &str = "127.0.0.1:9102";

async fn peer() -> (TestCollector, PeerKey) {
    let collector = TestCollector::start_with(|c| {
        c.peers = Some(
            PeerList::parse(
                &format!("http://{OTHER},http://{ME}"),
                &format!("http://{ME}"),
            )
            .unwrap(),
        );
    })
    .await;
    let secret = collector
        .collector()
        .state()
        .store
        .secret("peers")
        .await
        .unwrap();
    (collector, PeerKey::new(secret.to_vec()))
}

/// A job of one page view `n` of client id `visitor`, as a peer would prepare it.
fn job(n: u32, visitor: &str) -> Vec<u8> {
    let body = pageview(&event_id(n), "/p", Some(visitor));
    let limits = spoor_collector::payload::Limits::default();
    let envelope =
        spoor_collector::payload::parse_envelope(body.as_bytes(), now_ms(), &limits).unwrap();
    let batch = BrowserBatch {
        site: "demo".into(),
        events: envelope.events.into_iter().map(Result::unwrap).collect(),
        received: now_ms(),
        cookie: None,
        vouched: false,
        fingerprint: "fp_00000000000000000000000000000000".into(),
        yesterday: "fp_11111111111111111111111111111111".into(),
        options: Options::default(),
    };
    serde_json::to_vec(&Job::browser(&batch)).unwrap()
}

fn forward(host: &str, headers: &[(&str, String)], body: Vec<u8>) -> Request<Body> {
    let mut request = Request::post("/internal/ingest").header(header::HOST, host);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.body(Body::from(body)).unwrap()
}

fn signed(
    key: &PeerKey,
    host: &str,
    at: i64,
    nonce: u8,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let s = key.sign(host, "/internal/ingest", at, [nonce; 16], (0, 0), body);
    vec![
        (TIME_HEADER, s.time),
        (NONCE_HEADER, s.nonce),
        (SIGNATURE_HEADER, s.signature),
        (VIEW_HEADER, s.view),
    ]
}

fn stored(collector: &TestCollector) -> usize {
    collector.column("SELECT id FROM events").len()
}

#[tokio::test]
async fn a_signed_forward_is_committed_and_every_forgery_is_refused_with_its_reason() {
    let (collector, key) = peer().await;
    let body = job(1, "v-forwarded");

    // No signature at all.
    let resp = collector.send_as_is(forward(ME, &[], body.clone())).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(error_reason(resp).await.contains("signed"));

    // Forged: signed under a key that is not the store's.
    let forged = PeerKey::new(vec![0; 64]);
    let resp = collector
        .send_as_is(forward(
            ME,
            &signed(&forged, ME, now_ms(), 1, &body),
            body.clone(),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(error_reason(resp).await.contains("does not match"));

    // Body changed after signing (another visitor put in).
    let headers = signed(&key, ME, now_ms(), 2, &body);
    let resp = collector
        .send_as_is(forward(ME, &headers, job(1, "v-attacker")))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Host changed: a forward signed for this peer, presented under another name.
    let resp = collector
        .send_as_is(forward("localhost", &headers, body.clone()))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // A genuine forward to the other peer, captured and sent here as it was.
    let elsewhere = signed(&key, OTHER, now_ms(), 3, &body);
    let resp = collector
        .send_as_is(forward(OTHER, &elsewhere, body.clone()))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(error_reason(resp).await.contains("another peer"));

    // Stale: signed longer ago than the window.
    let old = signed(&key, ME, now_ms() - WINDOW_MS - 1_000, 4, &body);
    let resp = collector.send_as_is(forward(ME, &old, body.clone())).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(error_reason(resp).await.contains("window"));

    assert_eq!(stored(&collector), 0, "nothing refused was stored");

    // The genuine forward: committed, answered with the owner's outcome and cookie.
    let resp = collector
        .send_as_is(forward(ME, &headers, body.clone()))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Answer = serde_json::from_slice(&body_bytes(resp).await).unwrap();
    assert_eq!(answer.stored, 1);
    assert_eq!(answer.cookie, Some(("v-forwarded".to_string(), true)));
    assert_eq!(stored(&collector), 1);

    // Replayed: the same forward again.
    let resp = collector
        .send_as_is(forward(ME, &headers, body.clone()))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(error_reason(resp).await.contains("accepted before"));

    for (reason, n) in [
        ("unsigned", 1.0),
        ("signature", 3.0),
        ("host", 1.0),
        ("stale", 1.0),
        ("replayed", 1.0),
    ] {
        assert_eq!(
            collector
                .metric(&format!("spoor_peer_refused_total{{reason=\"{reason}\"}}"))
                .await,
            n,
            "{reason}"
        );
    }
    assert_eq!(
        collector.metric("spoor_peer_received_events_total").await,
        1.0
    );
}

#[tokio::test]
async fn a_job_that_is_not_valid_events_is_a_400_and_without_peers_the_route_is_absent() {
    let (collector, key) = peer().await;
    let body = br#"{"kind":"resolved","events":[{"site":"demo"}]}"#.to_vec();
    let resp = collector
        .send_as_is(forward(ME, &signed(&key, ME, now_ms(), 1, &body), body))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let alone = TestCollector::start().await;
    let resp = alone.send_as_is(forward(ME, &[], job(1, "v"))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let metrics = alone
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    let text = String::from_utf8(body_bytes(metrics).await).unwrap();
    assert!(
        !text.contains("spoor_peer"),
        "no peer series without --peers"
    );
}

#[tokio::test]
async fn the_server_cookie_one_collector_signs_is_accepted_by_another_over_the_same_store() {
    let first = TestCollector::start().await;
    let db = first.db.clone();
    let second = TestCollector::start_with(|c| c.db = db).await;
    // No client id: the visitor is the network fingerprint's, and the cookie names it.
    let resp = first
        .collect(&pageview(&event_id(1), "/a", None), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cookie = set_cookie(&resp, "spoor_sid").unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    // Another browser as far as the network says (its fingerprint differs), carrying the
    // cookie: the second collector reads it, so the event is the same visitor's.
    let resp = second
        .collect(
            &pageview(&event_id(2), "/b", None),
            &[("user-agent", "Mozilla/5.0 Other/2.0"), ("cookie", &cookie)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let visitors = first.column("SELECT DISTINCT visitor FROM events");
    assert_eq!(visitors.len(), 1, "{visitors:?}");
    // And a forged cookie is not: the same request with the signature broken.
    let forged = format!("{}x", cookie);
    second
        .collect(
            &pageview(&event_id(3), "/c", None),
            &[("user-agent", "Mozilla/5.0 Other/2.0"), ("cookie", &forged)],
        )
        .await;
    assert_eq!(first.column("SELECT DISTINCT visitor FROM events").len(), 2);
}
