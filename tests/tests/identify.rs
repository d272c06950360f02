//! Verified identify in real headless Chromium: the page passes the site's signature to
//! `spoor.identify(userId, {signature})`, the beacon sends it, and the collector links the
//! login as verified; a wrong signature links nothing, and an unsigned login stays
//! unverified.

use std::time::{Duration, Instant};

use serde_json::Value;
use spoor_collector::identity::verify;
use spoor_collector::site_secrets::SiteSecrets;
use spoor_e2e::{ChromeDriver, RunningCollector};

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "e2e-identity-secret-0123";

/// Polls `sql` until it returns at least `n` rows, or fails after [`WAIT`].
async fn rows_at_least(c: &RunningCollector, sql: &str, n: usize) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = c.rows(sql)?;
        if rows.len() >= n {
            return Ok(rows);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "{sql}: {} rows within {WAIT:?}, wanted {n}: {rows:?}",
                rows.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_identify_from_the_page_is_linked_verified() -> anyhow::Result<()> {
    let collector = RunningCollector::start_with(|c| {
        c.identify_secrets = SiteSecrets::parse(&format!("demo={SECRET}")).unwrap_or_default();
    })
    .await?;
    let driver = ChromeDriver::start().await?;
    let browser = driver.browser().await?;
    let b = &browser.client;
    b.goto(&format!("{}/app.html", collector.base_url)).await?;
    collector.wait_for_count("pageviews", 1, WAIT).await?;

    // What the site's backend would render into the page for its logged-in user.
    let good = verify::sign(SECRET.as_bytes(), "u1");
    let wrong = verify::sign(SECRET.as_bytes(), "someone-else");
    b.execute(
        &format!(
            "spoor.identify('u1', {{signature: '{good}'}});
             spoor.identify('u2', {{signature: '{wrong}'}});
             spoor.identify('u3');"
        ),
        vec![],
    )
    .await?;

    let logins = rows_at_least(
        &collector,
        "SELECT b, verified FROM links WHERE kind = 'login' ORDER BY b",
        2,
    )
    .await?;
    let failed = rows_at_least(&collector, "SELECT reason_code FROM failed_events", 1).await?;
    browser.close().await?;

    let got: Vec<(String, i64)> = logins
        .iter()
        .map(|l| {
            (
                l["b"].as_str().unwrap_or_default().to_string(),
                l["verified"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("user:u1".to_string(), 1), ("user:u3".to_string(), 0)],
        "u1 signed and verified, u2 refused, u3 unsigned"
    );
    assert_eq!(failed[0]["reason_code"], "identify_signature");
    let export = collector.get_json("/api/export?site=demo&user=u1").await?;
    assert_eq!(export["evidence"], serde_json::json!(["verified-login"]));
    assert_eq!(
        export["visitors"].as_array().map(Vec::len),
        Some(1),
        "{export}"
    );
    collector.stop().await
}
