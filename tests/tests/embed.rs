//! The README's embed in the three places a site owner puts the collector, in real headless
//! Chromium against the real collector:
//!
//! - same origin: the page and the collector on one host and port;
//! - a subdomain: the page on `http://app.example.com:P1`, the collector on
//!   `http://stats.example.com:P2` (another origin of the same site, `example.com`);
//! - another site: the page on `http://shop.example.net:P1`, the collector on
//!   `http://stats.example.com:P2`.
//!
//! The browser maps those names to 127.0.0.1 itself (`--host-resolver-rules`), so no
//! network is involved. Real public-suffix names are used because Chromium has no
//! registrable domain for names under `localhost`, so its idea of "same site" there is not
//! what a site owner's domain gets.
//!
//! In each, two pages are loaded and the beacon's own id (its `spoor_id` cookie and
//! localStorage copy) is wiped in between. Where the collector is same-site its
//! `HttpOnly` server cookie still names the visitor, so both page views belong to one
//! visitor and the second says `server-cookie`; on another site the browser keeps no
//! cookie for the collector, and the second page view is a new visitor.
//! Results are read from the store file, not the admin API.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;
use spoor_e2e::{ChromeDriver, PageServer, RunningCollector};

const WAIT: Duration = Duration::from_secs(20);

/// The page a site serves, embedding the beacon from `collector` (an origin).
fn page(collector: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Embed</title>\
         <script type=\"module\" src=\"{collector}/spoor.js\" data-site=\"demo\"></script>\
         </head><body><h1>Embedded</h1><p style=\"height:2000px\">A page.</p></body></html>"
    )
}

/// The collector's port.
fn port(c: &RunningCollector) -> anyhow::Result<u16> {
    match c.base_url.rsplit_once(':') {
        Some((_, port)) => Ok(port.parse()?),
        None => bail!("no port in {}", c.base_url),
    }
}

/// Stored page views, oldest first, once there are at least `n` of them.
async fn pageviews(c: &RunningCollector, n: usize) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = c.rows(
            "SELECT visitor, evidence, client_id, hostname, path FROM events \
             WHERE kind = 'pageview' ORDER BY received, rowid",
        )?;
        if rows.len() >= n {
            return Ok(rows);
        }
        if Instant::now() > deadline {
            bail!("{n} page views not stored within {WAIT:?}: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Loads `first`, wipes the beacon's own id (and its queue) from `blank`, a page of the same
/// origin without the beacon, then loads `second`; returns the two page views.
///
/// The wipe is done on a page without the beacon because the first page's `engagement`
/// event, queued when it hides, would otherwise travel in one batch with the second page
/// view, and within a batch the collector carries the visitor from one event to the next,
/// which would pass for the server cookie.
async fn two_visits(
    collector: &RunningCollector,
    first: &str,
    blank: &str,
    second: &str,
) -> anyhow::Result<Vec<Value>> {
    let driver = ChromeDriver::start().await?;
    let browser = driver
        .browser_resolving(&["example.com", "example.net"])
        .await?;
    browser.client.goto(first).await?;
    let rows = pageviews(collector, 1).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Wipes what the page can reach: the beacon's cookie and localStorage. The collector's
    // HttpOnly cookie, on its own host, is out of the page's reach.
    browser.client.goto(blank).await?;
    browser
        .client
        .execute(
            "localStorage.clear(); document.cookie = 'spoor_id=; Max-Age=0; Path=/';",
            vec![],
        )
        .await?;
    browser.client.goto(second).await?;
    let rows = pageviews(collector, 2).await?;
    browser.close().await?;
    Ok(rows)
}

/// Both page views belong to one visitor, the second known by the server cookie alone.
fn one_visitor_by_the_server_cookie(rows: &[Value]) {
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_ne!(
        rows[0]["client_id"], rows[1]["client_id"],
        "the beacon's id was wiped: {rows:?}"
    );
    assert_eq!(rows[0]["visitor"], rows[1]["visitor"], "{rows:?}");
    assert_eq!(rows[1]["evidence"], "server-cookie", "{rows:?}");
}

#[tokio::test]
async fn same_origin_records_page_views_and_keeps_the_visitor_by_the_server_cookie()
-> anyhow::Result<()> {
    let collector = RunningCollector::start().await?;
    let base = collector.base_url.clone();
    let rows = two_visits(
        &collector,
        &format!("{base}/"),
        // The collector's 404 page: same origin, no beacon.
        &format!("{base}/blank"),
        &format!("{base}/pricing.html"),
    )
    .await?;
    one_visitor_by_the_server_cookie(&rows);
    collector.stop().await
}

#[tokio::test]
async fn a_collector_on_a_subdomain_loads_records_and_keeps_the_visitor_by_the_server_cookie()
-> anyhow::Result<()> {
    let collector = RunningCollector::start_with(|c| {
        c.sites = "demo=app.example.com".parse().expect("a valid site");
    })
    .await?;
    let origin = format!("http://stats.example.com:{}", port(&collector)?);
    let site = PageServer::start(page(&origin)).await?;
    let app = format!("http://app.example.com:{}", site.port);
    let rows = two_visits(
        &collector,
        &format!("{app}/one"),
        &format!("{app}/blank"),
        &format!("{app}/two"),
    )
    .await?;
    one_visitor_by_the_server_cookie(&rows);
    assert!(
        rows.iter().all(|r| r["hostname"] == "app.example.com"),
        "{rows:?}"
    );
    collector.stop().await
}

#[tokio::test]
async fn a_collector_on_another_site_records_page_views_with_the_beacons_id_only()
-> anyhow::Result<()> {
    let collector = RunningCollector::start_with(|c| {
        c.sites = "demo=shop.example.net".parse().expect("a valid site");
    })
    .await?;
    let origin = format!("http://stats.example.com:{}", port(&collector)?);
    let site = PageServer::start(page(&origin)).await?;
    let shop = format!("http://shop.example.net:{}", site.port);
    let rows = two_visits(
        &collector,
        &format!("{shop}/one"),
        &format!("{shop}/blank"),
        &format!("{shop}/two"),
    )
    .await?;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["evidence"] == "client-id"
            && r["visitor"] == r["client_id"]
            && r["hostname"] == "shop.example.net"),
        "no server cookie crosses sites: {rows:?}"
    );
    assert_ne!(rows[0]["visitor"], rows[1]["visitor"], "{rows:?}");
    collector.stop().await
}
