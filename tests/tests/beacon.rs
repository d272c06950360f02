//! The beacon's capture, delivery and privacy switches in real headless Chromium against
//! the real collector: what a site owner would see in the store after real browsing.

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;
use spoor_collector::payload::stored_url::KeptParams;
use spoor_e2e::{Browser, ChromeDriver, RunningCollector};

const WAIT: Duration = Duration::from_secs(20);
/// Longer than the beacon's flush timer and first retry, so "nothing more arrived" means it.
const SETTLE: Duration = Duration::from_secs(3);

/// A collector, a chromedriver and one fresh browser that has loaded `path` and whose page
/// view is stored. Destructure it binding `_driver` (not `..`, which would drop chromedriver
/// and with it the browser).
struct Scene {
    collector: RunningCollector,
    // Kept alive for the browser; dropping it kills chromedriver and its browsers.
    _driver: ChromeDriver,
    browser: Browser,
    base: String,
}

impl Scene {
    async fn open(path: &str) -> anyhow::Result<Scene> {
        // The demo app's views are query parameters; stored URLs keep only listed ones.
        let keep: KeptParams = "demo=view,sort".parse().map_err(anyhow::Error::msg)?;
        let collector = RunningCollector::start_with(|c| c.keep_query_params = keep).await?;
        let driver = ChromeDriver::start().await?;
        let base = collector.base_url.clone();
        let browser = driver.browser().await?;
        browser.client.goto(&format!("{base}{path}")).await?;
        collector.wait_for_count("pageviews", 1, WAIT).await?;
        Ok(Scene {
            collector,
            _driver: driver,
            browser,
            base,
        })
    }
}

async fn click(client: &Client, css: &str) -> anyhow::Result<()> {
    client.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

async fn script(client: &Client, js: &str) -> anyhow::Result<Value> {
    Ok(client.execute(js, vec![]).await?)
}

/// Every stored event, oldest first (by client time, then arrival).
fn events(c: &RunningCollector) -> anyhow::Result<Vec<Value>> {
    c.rows("SELECT * FROM events ORDER BY ts, received, rowid")
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn urls(events: &[&Value], base: &str) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e["url"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches(base)
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_navigation_counts_each_view_once_and_in_order() -> anyhow::Result<()> {
    let Scene {
        collector,
        browser,
        base,
        _driver,
    } = Scene::open("/app.html").await?;
    let b = &browser.client;
    click(b, "nav a[href='/app.html?view=map']").await?; // pushState
    click(b, "nav a[href='/app.html?view=settings']").await?; // pushState
    click(b, "#sort").await?; // replaceState that changes the query
    script(b, "history.replaceState({note: 1}, '', location.href)").await?; // same URL: no view
    script(b, "history.pushState(history.state, '', location.href)").await?; // same URL: no view
    script(b, "history.back()").await?; // popstate, back to the same URL: no view
    script(b, "history.back()").await?; // popstate: map
    tokio::time::sleep(Duration::from_millis(300)).await;
    script(b, "history.forward()").await?; // popstate: settings, sorted
    collector.wait_for_count("pageviews", 6, WAIT).await?;
    tokio::time::sleep(SETTLE).await;
    browser.close().await?;

    let all = events(&collector)?;
    let views = of_kind(&all, "pageview");
    assert_eq!(
        urls(&views, &base),
        [
            "/app.html",
            "/app.html?view=map",
            "/app.html?view=settings",
            "/app.html?view=settings&sort=date",
            "/app.html?view=map",
            "/app.html?view=settings&sort=date",
        ],
        "{all:#?}"
    );
    let visitors: std::collections::HashSet<_> = views.iter().map(|e| &e["visitor"]).collect();
    assert_eq!(visitors.len(), 1);
    assert!(
        views
            .iter()
            .all(|e| e["session"].is_string() && e["screen"].is_string())
    );
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engagement_arrives_with_visible_time_and_scroll_depth() -> anyhow::Result<()> {
    let Scene {
        collector,
        browser,
        base,
        _driver,
    } = Scene::open("/app.html").await?;
    let b = &browser.client;
    script(
        b,
        "window.scrollTo(0, document.documentElement.scrollHeight)",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A real navigation hides the page: the engagement of /app.html must be sent then.
    b.goto(&format!("{base}/pricing.html")).await?;
    collector.wait_for_count("pageviews", 2, WAIT).await?;
    tokio::time::sleep(SETTLE).await;
    browser.close().await?;

    let all = events(&collector)?;
    let app_view = of_kind(&all, "pageview")
        .into_iter()
        .find(|e| e["path"] == "/app.html")
        .cloned()
        .unwrap_or_default();
    let engaged: Vec<&Value> = of_kind(&all, "engagement")
        .into_iter()
        .filter(|e| e["path"] == "/app.html")
        .collect();
    assert_eq!(engaged.len(), 1, "{all:#?}");
    let e = engaged[0];
    assert_eq!(
        e["pageview_id"], app_view["id"],
        "engagement names its page view"
    );
    let visible = e["visible_ms"].as_i64().unwrap_or(-1);
    assert!((1000..60_000).contains(&visible), "visible_ms {visible}");
    assert!(
        e["scroll"].as_i64().unwrap_or(0) >= 90,
        "scroll {}",
        e["scroll"]
    );
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_events_downloads_and_outbound_clicks_arrive() -> anyhow::Result<()> {
    let Scene {
        collector,
        browser,
        base,
        _driver,
    } = Scene::open("/app.html").await?;
    let b = &browser.client;
    click(b, "#star").await?;
    click(b, "#download").await?;
    // The link has `download`, but should a browser still open the PDF, come back to it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if b.current_url().await?.path().ends_with(".pdf") {
        b.back().await?;
    }
    click(b, "#outbound").await?; // leaves for http://localhost:PORT/pricing.html
    collector.wait_for_count("pageviews", 2, WAIT).await?;
    tokio::time::sleep(SETTLE).await;
    browser.close().await?;

    let all = events(&collector)?;
    let custom = of_kind(&all, "custom");
    assert_eq!(custom.len(), 1, "{all:#?}");
    assert_eq!(custom[0]["name"], "star");
    let props: Value = serde_json::from_str(custom[0]["props"].as_str().unwrap_or("{}"))?;
    assert_eq!(props, serde_json::json!({"view": "notebook", "stars": 1}));
    let downloads = of_kind(&all, "download");
    assert_eq!(downloads.len(), 1, "{all:#?}");
    assert_eq!(
        downloads[0]["target"],
        format!("{base}/files/field-guide.pdf")
    );
    let outbound = of_kind(&all, "outbound");
    assert_eq!(outbound.len(), 1, "{all:#?}");
    let port = base.rsplit(':').next().unwrap_or_default();
    assert_eq!(
        outbound[0]["target"],
        format!("http://localhost:{port}/pricing.html")
    );
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_made_during_an_outage_arrive_once_after_a_reload() -> anyhow::Result<()> {
    let Scene {
        mut collector,
        browser,
        base,
        _driver,
    } = Scene::open("/app.html").await?;
    let b = &browser.client;
    collector.pause().await?;
    click(b, "nav a[href='/app.html?view=map']").await?;
    click(b, "#star").await?;
    tokio::time::sleep(SETTLE).await;
    let queued = script(b, "return localStorage.getItem('spoor_queue') || ''").await?;
    assert!(
        queued.as_str().is_some_and(|q| q.contains("view=map")),
        "queued: {queued}"
    );

    collector.resume().await?;
    b.refresh().await?; // the reloaded page sends its own view and retries the queue
    collector.wait_for_count("pageviews", 3, WAIT).await?;
    tokio::time::sleep(SETTLE).await;
    let queued = script(b, "return localStorage.getItem('spoor_queue') || ''").await?;
    browser.close().await?;

    let all = events(&collector)?;
    assert_eq!(
        urls(&of_kind(&all, "pageview"), &base),
        ["/app.html", "/app.html?view=map", "/app.html?view=map"],
        "{all:#?}"
    );
    assert_eq!(of_kind(&all, "custom").len(), 1, "{all:#?}");
    assert!(
        !queued.as_str().unwrap_or_default().contains("view=map"),
        "queue drained"
    );
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_mode_writes_nothing_before_consent() -> anyhow::Result<()> {
    let Scene {
        collector,
        browser,
        base,
        _driver,
    } = Scene::open("/privacy/consent.html").await?;
    let b = &browser.client;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cookies: Vec<String> = b
        .get_all_cookies()
        .await?
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert!(cookies.is_empty(), "cookies before consent: {cookies:?}");
    let storage = script(b, "return localStorage.length + sessionStorage.length").await?;
    assert_eq!(storage, 0, "storage before consent");
    let before = events(&collector)?;
    assert!(before[0]["client_id"].is_null(), "{before:#?}");
    assert_eq!(before[0]["evidence"], "fingerprint");

    click(b, "#accept").await?;
    b.goto(&format!("{base}/pricing.html")).await?;
    collector.wait_for_count("pageviews", 2, WAIT).await?;
    let id = b.get_named_cookie("spoor_id").await?.value().to_string();
    browser.close().await?;
    let after = events(&collector)?;
    let last = after.last().cloned().unwrap_or_default();
    assert_eq!(
        last["client_id"],
        id.as_str(),
        "after consent events carry the id"
    );
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_track_sends_nothing_when_the_site_asks() -> anyhow::Result<()> {
    let collector = RunningCollector::start().await?;
    let driver = ChromeDriver::start().await?;
    let base = collector.base_url.clone();

    let dnt = driver
        .browser_with_prefs(serde_json::json!({"enable_do_not_track": true}))
        .await?;
    dnt.client.goto(&format!("{base}/privacy/dnt.html")).await?;
    let flag = script(&dnt.client, "return navigator.doNotTrack").await?;
    assert_eq!(flag, "1", "the browser sends DNT");
    tokio::time::sleep(SETTLE).await;
    assert!(events(&collector)?.is_empty(), "nothing sent under DNT");
    let cookies = dnt.client.get_all_cookies().await?;
    assert!(cookies.is_empty(), "{cookies:?}");
    dnt.close().await?;

    // The same page without DNT is counted: the test above could have failed.
    let plain = driver.browser().await?;
    plain
        .client
        .goto(&format!("{base}/privacy/dnt.html"))
        .await?;
    collector.wait_for_count("pageviews", 1, WAIT).await?;
    plain.close().await?;
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_logout_reset_the_device_starts_a_person_of_its_own() -> anyhow::Result<()> {
    let Scene {
        collector,
        browser,
        base: _,
        _driver,
    } = Scene::open("/app.html").await?;
    let b = &browser.client;
    script(b, "spoor.identify('alice')").await?;
    script(b, "spoor.reset()").await?;
    click(b, "nav a[href='/app.html?view=map']").await?;
    click(b, "nav a[href='/app.html?view=settings']").await?;
    let summary = collector.wait_for_count("pageviews", 3, WAIT).await?;
    tokio::time::sleep(SETTLE).await;
    let new_id = b.get_named_cookie("spoor_id").await?.value().to_string();
    browser.close().await?;

    let all = events(&collector)?;
    let views = of_kind(&all, "pageview");
    let visitors: Vec<&str> = views
        .iter()
        .map(|e| e["visitor"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(visitors.len(), 3, "{all:#?}");
    assert_ne!(
        visitors[0], new_id,
        "the first view was the logged-in visitor's"
    );
    assert_eq!(
        visitors[1..],
        [new_id.as_str(), new_id.as_str()],
        "{all:#?}"
    );
    let links = collector.rows("SELECT a, b, kind FROM links")?;
    assert!(
        links
            .iter()
            .all(|l| l["a"] != new_id.as_str() && l["b"] != new_id.as_str()),
        "the new visitor is linked to nobody: {links:?}"
    );
    let summary = collector
        .get_json("/api/summary?site=demo")
        .await
        .unwrap_or(summary);
    assert_eq!(summary["visitors"], 2, "{summary}");
    assert_eq!(summary["persons"], 2, "{summary}");
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_routes_are_stored_with_their_path_and_without_their_query() -> anyhow::Result<()> {
    let Scene {
        collector,
        browser,
        base,
        _driver,
    } = Scene::open("/privacy/hash.html#/inbox").await?;
    let b = &browser.client;
    click(b, "#reset").await?; // hashchange to #/reset?token=…: a view
    collector.wait_for_count("pageviews", 2, WAIT).await?;
    click(b, "nav a[href='#top']").await?; // hashchange to an anchor: a view, no route
    collector.wait_for_count("pageviews", 3, WAIT).await?;
    tokio::time::sleep(SETTLE).await;
    browser.close().await?;

    let all = events(&collector)?;
    assert_eq!(
        urls(&of_kind(&all, "pageview"), &base),
        [
            "/privacy/hash.html#/inbox",
            "/privacy/hash.html#/reset",
            "/privacy/hash.html",
        ],
        "{all:#?}"
    );
    let stored = format!("{all:?}");
    assert!(!stored.contains("demo-reset-token"), "{all:#?}");
    collector.stop().await
}
