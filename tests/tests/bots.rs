//! The bot filter in a real browser: headless Chromium that keeps its own `HeadlessChrome`
//! user agent runs the beacon on the demo site, and nothing is stored (the metrics count it
//! as filtered); the same browser with a desktop user agent is counted, so the first half
//! could have failed.

use std::time::Duration;

use spoor_e2e::{ChromeDriver, RunningCollector};

const WAIT: Duration = Duration::from_secs(20);
/// How long to wait for a request that should not be stored.
const SETTLE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_headless_browser_is_filtered_and_a_desktop_one_counted() -> anyhow::Result<()>
{
    let collector = RunningCollector::start().await?;
    let driver = ChromeDriver::start().await?;
    let base = collector.base_url.clone();

    let headless = driver.browser_announcing_headless().await?;
    headless.client.goto(&format!("{base}/")).await?;
    let ua = headless
        .client
        .execute("return navigator.userAgent", vec![])
        .await?;
    assert!(
        ua.as_str().unwrap_or_default().contains("HeadlessChrome"),
        "{ua}"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let metrics = collector.get_text("/metrics").await?;
        if metrics
            .lines()
            .any(|l| l.starts_with("spoor_events_filtered_total{reason=\"headless\"}"))
        {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no headless traffic filtered: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let stored = collector.rows("SELECT id, kind FROM events")?;
    assert!(stored.is_empty(), "{stored:?}");
    headless.close().await?;

    let desktop = driver.browser().await?;
    desktop.client.goto(&format!("{base}/")).await?;
    collector.wait_for_count("pageviews", 1, WAIT).await?;
    desktop.close().await?;
    collector.stop().await
}
