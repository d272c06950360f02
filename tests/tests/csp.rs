//! The beacon on pages with a Content-Security-Policy, and where the wasm cannot run, in
//! real headless Chromium.
//!
//! The pages are written to a temporary `www` the collector serves, each setting its policy
//! with a `<meta http-equiv="Content-Security-Policy">` tag before the beacon's tag:
//! - the common `script-src 'self'; connect-src 'self'` refuses to compile WebAssembly, so
//!   the loader's fallback sends a cookieless page view marked `csp`;
//! - the policy README documents (`'wasm-unsafe-eval'` added) runs the beacon itself: a page
//!   view with the visitor id, no fallback;
//! - the same refusing page under Do Not Track with `data-respect-dnt`, or after
//!   `spoor.optOut()`, sends nothing;
//! - where storage throws (site data blocked in the browser, a sandboxed frame) the page is
//!   still counted.
//!
//! Results are read from the store file, not the admin API, so the tests do not depend on
//! how the API is authenticated.

use std::path::Path;
use std::time::Duration;

use spoor_e2e::{ChromeDriver, RunningCollector};

const WAIT: Duration = Duration::from_secs(20);
/// How long to wait for a request that should not come.
const SETTLE: Duration = Duration::from_secs(3);

/// The policy many sites start from: scripts and requests to their own origin only.
const COMMON: &str = "script-src 'self'; connect-src 'self'";
/// The policy README gives for a same-origin collector.
const DOCUMENTED: &str = "script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'";

/// A page with `policy` (none when empty) and the beacon tag with `attrs`.
fn page(title: &str, policy: &str, attrs: &str) -> String {
    let meta = if policy.is_empty() {
        String::new()
    } else {
        format!(r#"<meta http-equiv="Content-Security-Policy" content="{policy}">"#)
    };
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8">{meta}<title>{title}</title>
<script type="module" src="/spoor.js" data-site="demo" {attrs}></script></head>
<body><h1>{title}</h1></body></html>"#
    )
}

/// Starts a collector serving `pages` (name, HTML) from a temporary `www`.
async fn serve(pages: &[(&str, String)]) -> anyhow::Result<(RunningCollector, tempfile::TempDir)> {
    let www = tempfile::tempdir()?;
    for (name, html) in pages {
        std::fs::write(www.path().join(name), html)?;
    }
    let root: &Path = www.path();
    let root = root.to_path_buf();
    let collector = RunningCollector::start_with(move |c| c.www = root).await?;
    Ok((collector, www))
}

/// The stored events, in the columns these tests look at.
const EVENTS: &str = "SELECT kind, path, fallback, client_id, session, evidence, screen
    FROM events ORDER BY ts";

/// Polls the store until `sql` returns at least `n` rows.
async fn wait_rows(
    collector: &RunningCollector,
    sql: &str,
    n: usize,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = collector.rows(sql)?;
        if rows.len() >= n {
            return Ok(rows);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{n} rows of {sql:?} not stored within {WAIT:?}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_wasm_unsafe_eval_still_counts_through_the_fallback() -> anyhow::Result<()>
{
    let (collector, _www) = serve(&[("strict.html", page("Strict", COMMON, ""))]).await?;
    let driver = ChromeDriver::start().await?;
    let browser = driver.browser().await?;
    browser
        .client
        .goto(&format!("{}/strict.html", collector.base_url))
        .await?;
    let rows = wait_rows(&collector, EVENTS, 1).await?;
    let e = &rows[0];
    assert_eq!(e["kind"], "pageview", "{rows:?}");
    assert_eq!(e["path"], "/strict.html");
    assert_eq!(e["fallback"], "csp", "the reason is stored: {rows:?}");
    assert_eq!(e["client_id"], serde_json::Value::Null, "no id is sent");
    assert_eq!(e["session"], serde_json::Value::Null);
    assert_eq!(e["evidence"], "fingerprint", "the cookieless daily visitor");
    assert!(e["screen"].is_string(), "the screen passes the bot filter");
    // The fallback sent without credentials: no cookie came back from the collector.
    let cookies = browser.client.get_all_cookies().await?;
    assert!(cookies.is_empty(), "{cookies:?}");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(collector.rows(EVENTS)?.len(), 1, "one page view, once");
    browser.close().await?;
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_policy_runs_the_beacon_itself() -> anyhow::Result<()> {
    let (collector, _www) = serve(&[("documented.html", page("Doc", DOCUMENTED, ""))]).await?;
    let driver = ChromeDriver::start().await?;
    let browser = driver.browser().await?;
    let url = format!("{}/documented.html", collector.base_url);
    browser.client.goto(&url).await?;
    browser.client.goto(&url).await?;
    let pageviews = "SELECT kind, fallback, client_id, session FROM events
        WHERE kind = 'pageview' ORDER BY ts";
    let rows = wait_rows(&collector, pageviews, 2).await?;
    for e in &rows {
        assert_eq!(e["kind"], "pageview", "{rows:?}");
        assert_eq!(e["fallback"], serde_json::Value::Null, "{rows:?}");
        assert!(e["client_id"].is_string(), "the beacon's id: {rows:?}");
        assert!(e["session"].is_string(), "{rows:?}");
    }
    assert_eq!(rows[0]["client_id"], rows[1]["client_id"], "one visitor");
    tokio::time::sleep(SETTLE).await;
    let fallbacks = collector.rows("SELECT id FROM events WHERE fallback IS NOT NULL")?;
    assert!(fallbacks.is_empty(), "{fallbacks:?}");
    browser.close().await?;
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_honours_do_not_track_and_the_opt_out() -> anyhow::Result<()> {
    let (collector, _www) = serve(&[
        ("dnt.html", page("Dnt", COMMON, "data-respect-dnt")),
        ("strict.html", page("Strict", COMMON, "")),
        ("optout.html", page("OptOut", "", "")),
    ])
    .await?;
    let base = collector.base_url.clone();
    let driver = ChromeDriver::start().await?;

    let dnt = driver
        .browser_with_prefs(serde_json::json!({ "enable_do_not_track": true }))
        .await?;
    dnt.client.goto(&format!("{base}/dnt.html")).await?;
    // The control: the same browser on a page that does not ask to respect DNT is counted,
    // so the page above had the time and the means to send.
    dnt.client.goto(&format!("{base}/strict.html")).await?;
    let rows = wait_rows(&collector, EVENTS, 1).await?;
    tokio::time::sleep(SETTLE).await;
    let rows_after = collector.rows(EVENTS)?;
    assert_eq!(rows_after.len(), 1, "{rows_after:?}");
    assert_eq!(rows[0]["path"], "/strict.html", "{rows:?}");
    dnt.close().await?;

    // Opted out on a page where the beacon runs, then a page where it cannot: nothing.
    let browser = driver.browser().await?;
    browser.client.goto(&format!("{base}/optout.html")).await?;
    browser
        .client
        .execute_async(
            "const done = arguments[0];
             spoor.optOut();
             const check = () => localStorage.spoor_opt_out ? done() : setTimeout(check, 50);
             check();",
            vec![],
        )
        .await?;
    let opted = browser
        .client
        .execute("return localStorage.spoor_opt_out", vec![])
        .await?;
    assert_eq!(opted, "1", "spoor.optOut() stored its flag");
    let before = collector.rows(EVENTS)?.len();
    browser.client.goto(&format!("{base}/strict.html")).await?;
    tokio::time::sleep(SETTLE).await;
    let rows = collector.rows(EVENTS)?;
    assert!(
        rows.iter()
            .skip(before)
            .all(|e| e["path"] != "/strict.html"),
        "an opted-out browser was counted by the fallback: {rows:?}"
    );
    browser.close().await?;
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_refuses_site_data_is_still_counted() -> anyhow::Result<()> {
    // Chromium with cookies and site data blocked: reading `localStorage` throws.
    let (collector, _www) = serve(&[("plain.html", page("Plain", "", ""))]).await?;
    let driver = ChromeDriver::start().await?;
    let browser = driver
        .browser_with_prefs(serde_json::json!({
            "profile": { "default_content_setting_values": { "cookies": 2 } }
        }))
        .await?;
    browser
        .client
        .goto(&format!("{}/plain.html", collector.base_url))
        .await?;
    let threw = browser
        .client
        .execute(
            "try { localStorage.length; return false } catch (e) { return e.name }",
            vec![],
        )
        .await?;
    assert_eq!(threw, "SecurityError", "storage is refused in this browser");
    let rows = wait_rows(&collector, EVENTS, 1).await?;
    assert_eq!(rows[0]["kind"], "pageview", "{rows:?}");
    assert_eq!(rows[0]["path"], "/plain.html", "{rows:?}");
    // The wasm beacon itself survives refused storage (beacon/src/storage.rs), with an id
    // that lives as long as the page.
    assert_eq!(rows[0]["fallback"], serde_json::Value::Null, "{rows:?}");
    assert!(rows[0]["client_id"].is_string(), "{rows:?}");
    browser.close().await?;
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "an opaque origin cannot load the module without CORS on /spoor.js, nor post with Origin: null"]
async fn a_page_in_a_sandboxed_frame_is_still_counted() -> anyhow::Result<()> {
    // `sandbox="allow-scripts"` without `allow-same-origin`: the frame has an opaque
    // origin, and `localStorage` and `document.cookie` throw there.
    let (collector, _www) = serve(&[
        (
            "host.html",
            r#"<!doctype html><title>Host</title>
<iframe sandbox="allow-scripts" src="/framed.html"></iframe>"#
                .to_string(),
        ),
        ("framed.html", page("Framed", "", "")),
    ])
    .await?;
    let driver = ChromeDriver::start().await?;
    let browser = driver.browser().await?;
    browser
        .client
        .goto(&format!("{}/host.html", collector.base_url))
        .await?;
    let rows = wait_rows(&collector, EVENTS, 1).await?;
    assert_eq!(rows[0]["kind"], "pageview", "{rows:?}");
    assert_eq!(rows[0]["path"], "/framed.html", "{rows:?}");
    browser.close().await?;
    collector.stop().await
}
