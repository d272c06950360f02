//! The spine, end to end: real headless Chromium loads the demo site from the real
//! collector, the wasm beacon sends page views, and the store and the API agree.

use std::time::Duration;

use fantoccini::Locator;
use spoor_e2e::{ChromeDriver, RunningCollector};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_views_from_two_profiles_reach_the_store_and_the_api() -> anyhow::Result<()> {
    let collector = RunningCollector::start().await?;
    let driver = ChromeDriver::start().await?;
    let base = collector.base_url.clone();

    // Profile one: land on the home page, then click through to pricing and signup.
    let first = driver.browser().await?;
    first.client.goto(&format!("{base}/")).await?;
    collector.wait_for_count("pageviews", 1, WAIT).await?;
    for (link, count) in [("/pricing.html", 2), ("/signup.html", 3)] {
        let css = format!("nav a[href=\"{link}\"]");
        first.client.find(Locator::Css(&css)).await?.click().await?;
        collector.wait_for_count("pageviews", count, WAIT).await?;
    }
    let url = first.client.current_url().await?;
    assert_eq!(url.path(), "/signup.html", "the clicks navigated");
    let cookie = first.client.get_named_cookie("spoor_id").await?;
    let first_id = cookie.value().to_string();
    // The collector's own cookie reached the browser too, out of the page script's reach.
    let server = first.client.get_named_cookie("spoor_sid").await?;
    assert_eq!(server.http_only(), Some(true));
    assert!(
        server.value().ends_with(&first_id),
        "signed value carries the visitor id"
    );

    // Profile two: a fresh browser, one page.
    let second = driver.browser().await?;
    second.client.goto(&format!("{base}/pricing.html")).await?;
    let summary = collector.wait_for_count("pageviews", 4, WAIT).await?;
    let second_id = second
        .client
        .get_named_cookie("spoor_id")
        .await?
        .value()
        .to_string();
    first.close().await?;
    second.close().await?;

    assert_eq!(summary["pageviews"], 4, "{summary}");
    assert_eq!(summary["visitors"], 2, "{summary}");
    assert_ne!(first_id, second_id);

    // The database says the same, and the first profile's views carry its cookie's id.
    let db = rusqlite::Connection::open(&collector.db)?;
    let rows: Vec<(String, String, String)> = db
        .prepare("SELECT path, visitor, evidence FROM events WHERE kind = 'pageview' ORDER BY ts")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let of_first: Vec<&str> = rows
        .iter()
        .filter(|r| r.1 == first_id)
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(of_first, ["/", "/pricing.html", "/signup.html"], "{rows:?}");
    let of_second: Vec<&str> = rows
        .iter()
        .filter(|r| r.1 == second_id)
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(of_second, ["/pricing.html"], "{rows:?}");
    assert!(rows.iter().all(|r| r.2 == "client-id"), "{rows:?}");

    drop(driver);
    collector.stop().await?;
    Ok(())
}
