//! GeoIP through the router: with a country table configured, a visit is counted under
//! the country of its client address (the address itself is not stored); without one,
//! countries are unknown. The configuration reads the table from `SPOOR_GEOIP_CSV`.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use spoor_collector::config::Config;
use spoor_collector::enrich::geo::GeoIp;

/// The test client's address (203.0.113.77) is in the NZ range.
const TABLE: &str = "198.51.100.0,198.51.100.255,AU\n203.0.113.0,203.0.113.255,NZ\n";

async fn countries(c: &TestCollector) -> Vec<(String, u64)> {
    let (status, body) = c
        .get_json("/api/breakdown?site=demo&dimension=country")
        .await;
    assert_eq!(status, 200, "{body}");
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or("(none)").to_string(),
                r["visitors"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_visit_counts_under_the_country_of_its_address() {
    let c = TestCollector::start_with(|config| {
        config.geoip = Some(Arc::new(GeoIp::parse(TABLE).unwrap()));
    })
    .await;
    let resp = c
        .collect(&pageview(&event_id(1), "/", Some("v-1")), &[])
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(countries(&c).await, [("NZ".to_string(), 1)]);
    assert_eq!(c.column("SELECT country FROM sessions"), ["NZ"]);
    let (_, nz) = c.get_json("/api/summary?site=demo&country=NZ").await;
    assert_eq!(nz["visitors"], 1);
    let (_, au) = c.get_json("/api/summary?site=demo&country=AU").await;
    assert_eq!(au["visitors"], 0);
}

#[tokio::test]
async fn without_a_table_countries_are_unknown() {
    let c = TestCollector::start().await;
    let resp = c
        .collect(&pageview(&event_id(1), "/", Some("v-1")), &[])
        .await;
    assert_eq!(resp.status(), 204);
    assert!(
        countries(&c).await.iter().all(|(k, _)| k != "NZ"),
        "no country without GeoIP"
    );
    assert_eq!(c.row("SELECT country FROM sessions"), [None]);
}

#[test]
fn the_table_is_read_from_the_configured_file_and_a_bad_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("countries.csv");
    std::fs::write(&good, TABLE).unwrap();
    let env = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |var: &str| (var == "SPOOR_GEOIP_CSV").then(|| path.clone())
    };
    let config = Config::load(["spoor-collector"], env(&good)).unwrap();
    assert_eq!(config.geoip.map(|g| g.len()), Some(2));

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "203.0.113.0,203.0.113.255,NZ\nnot,a,line\n").unwrap();
    let err = Config::load(["spoor-collector"], env(&bad)).err().unwrap();
    let message = err.to_string();
    assert!(
        message.starts_with("SPOOR_GEOIP_CSV") && message.contains(":2:"),
        "{message}"
    );
}
