//! Verified identify: a login the site signed (`sig`, HMAC-SHA256 of the user id under the
//! site's identity secret) is linked as verified; a wrong signature, or a missing one where
//! the site requires it, fails the event; and an export or erasure by user id follows only
//! verified logins and the links the collector's own cookie made — so a visitor that
//! claims to be someone else, or that puts a victim's visitor id in its events, neither
//! reads nor pulls in anyone's history.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::{TestCollector, batch, error_reason, event, event_id, json_body};
use serde_json::{Value, json};
use spoor_collector::identity::verify;
use spoor_collector::site_secrets::SiteSecrets;

const PAGE: &str = "http://localhost/";
const SECRET: &str = "verified-test-secret-0123";

/// A collector whose site `demo` has an identity secret; `required` makes signatures
/// required there. Strict identity, so the tests' shared fingerprint joins no one.
async fn collector(required: bool) -> TestCollector {
    TestCollector::start_with(|c| {
        c.strict_identity = true;
        c.identify_secrets = SiteSecrets::parse(&format!("demo={SECRET}")).unwrap();
        if required {
            c.identify_required = vec!["demo".into()];
        }
    })
    .await
}

fn sign(user: &str) -> String {
    verify::sign(SECRET.as_bytes(), user)
}

/// A pageview and an identify of `visitor` as `user` (with `fields` on the identify, such
/// as its `sig`), as ids `n` and `n + 1`.
fn visit_and_login(n: u32, visitor: &str, user: &str, fields: Value) -> Vec<Value> {
    let mut identify = json!({"visitor": visitor, "session": visitor, "user": user});
    for (k, v) in fields.as_object().unwrap() {
        identify[k] = v.clone();
    }
    vec![
        event(
            &event_id(n),
            "pageview",
            PAGE,
            json!({"visitor": visitor, "session": visitor}),
        ),
        event(&event_id(n + 1), "identify", PAGE, identify),
    ]
}

/// `(a, b, verified, active)` of every login link, oldest first.
fn logins(c: &TestCollector) -> Vec<String> {
    c.column(
        "SELECT a || ' ' || b || ' ' || verified || ' ' || active FROM links
         WHERE kind = 'login' ORDER BY id",
    )
}

/// The `name=value` of the server cookie a response sets.
fn set_cookie(resp: &axum::http::Response<Body>) -> String {
    resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_signed_login_is_verified_and_exported_by_user() {
    let c = collector(false).await;
    let body = batch(&visit_and_login(
        1,
        "v-alice",
        "alice",
        json!({"sig": sign("alice")}),
    ));
    assert_eq!(c.collect(&body, &[]).await.status(), 204);
    assert_eq!(logins(&c), ["v-alice user:alice 1 1"]);
    let (status, export) = c.get_json("/api/export?site=demo&user=alice").await;
    assert_eq!(status, 200);
    assert_eq!(export["visitors"], json!(["v-alice"]));
    assert_eq!(export["evidence"], json!(["verified-login"]));
    assert_eq!(export["events"].as_array().unwrap().len(), 2);
    // The signature is a credential: it is not stored anywhere.
    let dump = c.column("SELECT coalesce(props, '') || coalesce(user_id, '') FROM events");
    assert!(dump.iter().all(|r| !r.contains(&sign("alice"))), "{dump:?}");
}

#[tokio::test]
async fn a_wrong_signature_fails_the_event_and_links_nothing() {
    let c = collector(false).await;
    // Bob's signature presented for alice, and a signature under another secret.
    let other = verify::sign(b"some-other-secret-99", "alice");
    for (n, sig) in [(1, sign("bob")), (3, other)] {
        let login = visit_and_login(n, "v-evil", "alice", json!({"sig": sig}))
            .pop()
            .unwrap();
        let resp = c.collect(&batch(&[login]), &[]).await;
        assert_eq!(resp.status(), 400);
        let reason = error_reason(resp).await;
        assert!(
            reason.starts_with("events[0].sig: does not match"),
            "{reason}"
        );
    }
    assert!(logins(&c).is_empty());
    assert!(c.column("SELECT id FROM events").is_empty());
    let failed = c.column("SELECT reason_code || ' ' || raw FROM failed_events");
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|f| f.starts_with("identify_signature ")));
    assert!(failed.iter().all(|f| !f.contains("alice")), "{failed:?}");
    let counted = c
        .metric("spoor_events_failed_total{reason=\"identify_signature\"}")
        .await;
    assert_eq!(counted, 2.0);

    // In a batch with a good event, only the login fails: answered 200, naming it.
    let body = batch(&visit_and_login(
        5,
        "v-evil",
        "alice",
        json!({"sig": sign("bob")}),
    ));
    let resp = c.collect(&body, &[]).await;
    assert_eq!(resp.status(), 200);
    let answer = json_body(resp).await;
    assert_eq!(answer["stored"], 1);
    assert_eq!(answer["failed"][0]["code"], "identify_signature");
    assert!(logins(&c).is_empty());
}

#[tokio::test]
async fn where_signatures_are_required_an_unsigned_login_fails() {
    let c = collector(true).await;
    let body = batch(&visit_and_login(1, "v-a", "alice", json!({})));
    let resp = c.collect(&body, &[]).await;
    assert_eq!(resp.status(), 200);
    let answer = json_body(resp).await;
    assert_eq!(answer["failed"][0]["code"], "identify_unsigned");
    let reason = answer["failed"][0]["error"].as_str().unwrap();
    assert!(reason.contains("accepts only signed logins"), "{reason}");
    assert!(logins(&c).is_empty());
    let counted = c
        .metric("spoor_events_failed_total{reason=\"identify_unsigned\"}")
        .await;
    assert_eq!(counted, 1.0);
}

#[tokio::test]
async fn elsewhere_an_unsigned_login_is_linked_unverified_and_a_stray_signature_fails() {
    let c = collector(false).await;
    let body = batch(&visit_and_login(1, "v-a", "alice", json!({})));
    assert_eq!(c.collect(&body, &[]).await.status(), 204);
    assert_eq!(logins(&c), ["v-a user:alice 0 1"]);
    // The person still joins by it (reports), but the user's export does not follow it.
    let (status, person) = c.get_json("/api/export?site=demo&person=v-a").await;
    assert_eq!((status, person["users"].clone()), (200, json!(["alice"])));
    assert_eq!(c.get_json("/api/export?site=demo&user=alice").await.0, 404);

    // A site without a secret cannot check a signature: it fails, rather than pass unseen.
    let c = TestCollector::start().await;
    let body = batch(&visit_and_login(
        1,
        "v-a",
        "alice",
        json!({"sig": sign("alice")}),
    ));
    let answer = json_body(c.collect(&body, &[]).await).await;
    assert_eq!(answer["failed"][0]["code"], "identify_no_secret");
}

#[tokio::test]
async fn a_claimed_login_does_not_hand_the_claimants_events_over_as_the_users() {
    let c = collector(false).await;
    let alice = batch(&visit_and_login(
        1,
        "v-alice",
        "alice",
        json!({"sig": sign("alice")}),
    ));
    assert_eq!(c.collect(&alice, &[]).await.status(), 204);
    // An attacker's own visitor claims to be alice, without a signature.
    let attack = batch(&visit_and_login(3, "v-evil", "alice", json!({})));
    assert_eq!(c.collect(&attack, &[]).await.status(), 204);
    assert_eq!(
        logins(&c),
        ["v-alice user:alice 1 1", "v-evil user:alice 0 1"]
    );
    let (status, export) = c.get_json("/api/export?site=demo&user=alice").await;
    assert_eq!(status, 200);
    assert_eq!(export["visitors"], json!(["v-alice"]));
    let visitors: Vec<&str> = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["visitor"].as_str().unwrap())
        .collect();
    assert_eq!(
        visitors,
        ["v-alice", "v-alice"],
        "none of the attacker's events"
    );

    // Erasing alice takes her events and the claim naming her, nothing else of the
    // attacker's.
    let resp = c
        .send(
            Request::delete("/api/erase?site=demo&user=alice")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let erased = json_body(resp).await;
    assert_eq!(erased["events"], 3);
    assert_eq!(erased["evidence"], json!(["verified-login"]));
    assert_eq!(c.column("SELECT visitor FROM events"), ["v-evil"]);
    assert!(
        c.column("SELECT user_id FROM events WHERE user_id IS NOT NULL")
            .is_empty()
    );
}

#[tokio::test]
async fn a_signed_login_on_someone_elses_visitor_id_never_pulls_their_history() {
    let c = collector(false).await;
    // The victim browses; their visitor id leaks (a shared link, a screenshot).
    let victim = event(
        &event_id(1),
        "pageview",
        PAGE,
        json!({"visitor": "v-victim"}),
    );
    assert_eq!(c.collect(&batch(&[victim]), &[]).await.status(), 204);
    // The attacker holds a real account (mallory) and its valid signature, and sends the
    // login with the victim's visitor id and no cookie.
    let login = visit_and_login(2, "v-victim", "mallory", json!({"sig": sign("mallory")}))
        .pop()
        .unwrap();
    let resp = c.collect(&batch(std::slice::from_ref(&login)), &[]).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(logins(&c), ["v-victim user:mallory 0 1"], "not verified");
    // The cookie that answer set names the victim's id, but only as claimed: the same
    // signed login under it is still not the owner's.
    let claimed = set_cookie(&resp);
    assert!(claimed.ends_with("~c"), "{claimed}");
    let mut again = login;
    again["id"] = json!(event_id(3));
    let resp = c.collect(&batch(&[again]), &[("cookie", &claimed)]).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        logins(&c),
        ["v-victim user:mallory 0 1"],
        "still not verified"
    );
    assert_eq!(
        c.get_json("/api/export?site=demo&user=mallory").await.0,
        404
    );

    // Under the attacker's own cookie, with a fresh id: verified; the victim's id sent
    // under that cookie is linked, but not verified, so the export stays the attacker's.
    let own = batch(&visit_and_login(
        4,
        "v-mallory",
        "mallory",
        json!({"sig": sign("mallory")}),
    ));
    let resp = c.collect(&own, &[]).await;
    assert_eq!(resp.status(), 204);
    let cookie = set_cookie(&resp);
    let hijack = event(
        &event_id(6),
        "pageview",
        PAGE,
        json!({"visitor": "v-victim"}),
    );
    let resp = c.collect(&batch(&[hijack]), &[("cookie", &cookie)]).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        c.column(
            "SELECT kind || ' ' || verified FROM links WHERE a = 'v-victim' AND kind <> 'login'"
        ),
        ["client-id 0"]
    );
    let (status, export) = c.get_json("/api/export?site=demo&user=mallory").await;
    assert_eq!(status, 200);
    assert_eq!(export["visitors"], json!(["v-mallory"]));
    let victim_events = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] == event_id(1))
        .count();
    assert_eq!(victim_events, 0);
}

#[tokio::test]
async fn a_login_under_the_collectors_cookie_is_verified_and_follows_its_links() {
    let c = collector(false).await;
    let first = event(&event_id(1), "pageview", PAGE, json!({"visitor": "v-1"}));
    let resp = c.collect(&batch(&[first]), &[]).await;
    let cookie = set_cookie(&resp);
    // Later, in another request (v-1 is known by now), the signed login arrives with the
    // cookie: the collector vouches for v-1.
    let login = visit_and_login(2, "v-1", "u1", json!({"sig": sign("u1")}))
        .pop()
        .unwrap();
    assert_eq!(
        c.collect(&batch(&[login]), &[("cookie", &cookie)])
            .await
            .status(),
        204
    );
    // The same browser's storage is wiped: a new beacon id under the same cookie.
    let wiped = event(&event_id(4), "pageview", PAGE, json!({"visitor": "v-2"}));
    assert_eq!(
        c.collect(&batch(&[wiped]), &[("cookie", &cookie)])
            .await
            .status(),
        204
    );
    assert_eq!(logins(&c), ["v-1 user:u1 1 1"]);
    let (_, export) = c.get_json("/api/export?site=demo&user=u1").await;
    assert_eq!(export["visitors"], json!(["v-1", "v-2"]));
    assert_eq!(export["evidence"], json!(["client-id", "verified-login"]));
}
