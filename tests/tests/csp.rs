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
//! - where storage throws (site data blocked in the browser, or a sandboxed frame with its
//!   opaque origin, `Origin: null`) the wasm beacon still counts the page itself;
//! - the documented policies for a collector on a subdomain or another site raise no
//!   violation and count the page.
//!
//! Results are read from the store file, not the admin API, so the tests do not depend on
//! how the API is authenticated.

use std::path::Path;
use std::time::Duration;

use spoor_e2e::{ChromeDriver, RunningCollector, repo_root};

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

/// Starts a collector serving `pages` (name, HTML) and a copy of the dashboard from a
/// temporary `www`.
async fn serve(pages: &[(&str, String)]) -> anyhow::Result<(RunningCollector, tempfile::TempDir)> {
    let www = tempfile::tempdir()?;
    copy_dir(
        &repo_root().join("www/dashboard"),
        &www.path().join("dashboard"),
    )?;
    for (name, html) in pages {
        std::fs::write(www.path().join(name), html)?;
    }
    let root: &Path = www.path();
    let root = root.to_path_buf();
    let collector = RunningCollector::start_with(move |c| c.www = Some(root)).await?;
    Ok((collector, www))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
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

    // The dashboard says so under the summary, with the reason.
    let c = &browser.client;
    c.goto(&collector.signin_url()?).await?;
    c.goto(&format!("{}/dashboard/?site=demo", collector.base_url))
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let notice = loop {
        let notice = c
            .execute(
                "const e = document.querySelector('[data-testid=summary-fallback]');
                 return e && [e.dataset.value, e.textContent]",
                vec![],
            )
            .await?;
        if !notice.is_null() {
            break notice;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no fallback notice in the dashboard"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(notice[0], "1", "{notice}");
    let text = notice[1].as_str().unwrap_or_default();
    assert!(
        text.contains("1 page view came from browsers where the beacon could not run")
            && text.contains("'wasm-unsafe-eval'"),
        "{text}"
    );
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
async fn a_page_in_a_sandboxed_frame_is_still_counted() -> anyhow::Result<()> {
    // `sandbox="allow-scripts"` without `allow-same-origin`: the frame has an opaque
    // origin, `localStorage` and `document.cookie` throw there, and its requests say
    // `Origin: null`. The collector answers CORS for `null` without credentials (the
    // beacon's files and /collect, collector/src/cors.rs) and stores the batch cookieless;
    // the wasm beacon survives the storage errors and counts the page itself. A classic
    // script in the frame, run before the beacon, records what each `fetch` to /collect
    // came back with: the beacon must read the answer, or it would resend the batch.
    const WATCH_FETCH: &str = "window.sent = [];
const original = fetch;
window.fetch = (url, init) => original(url, init).then(
    (r) => (String(url).endsWith('/collect') && sent.push(r.status), r),
    (e) => (sent.push(String(e)), Promise.reject(e)));";
    let framed = page("Framed", "", "").replace(
        "<script type=\"module\"",
        "<script src=\"/watch-fetch.js\"></script><script type=\"module\"",
    );
    let (collector, _www) = serve(&[
        (
            "host.html",
            r#"<!doctype html><title>Host</title>
<iframe sandbox="allow-scripts" src="/framed.html"></iframe>"#
                .to_string(),
        ),
        ("framed.html", framed),
        ("watch-fetch.js", WATCH_FETCH.to_string()),
    ])
    .await?;
    let driver = ChromeDriver::start().await?;
    let browser = driver.browser().await?;
    let c = &browser.client;
    c.goto(&format!("{}/host.html", collector.base_url)).await?;
    let rows = wait_rows(&collector, EVENTS, 1).await?;
    assert_eq!(rows[0]["kind"], "pageview", "{rows:?}");
    assert_eq!(rows[0]["path"], "/framed.html", "{rows:?}");
    // The wasm beacon itself runs there, its id living as long as the page.
    assert_eq!(rows[0]["fallback"], serde_json::Value::Null, "{rows:?}");
    assert!(rows[0]["client_id"].is_string(), "{rows:?}");

    c.enter_frame(0).await?;
    let origin = c.execute("return self.origin", vec![]).await?;
    assert_eq!(origin, "null", "the frame's origin is opaque");
    let threw = c
        .execute(
            "try { localStorage.length; return false } catch (e) { return e.name }",
            vec![],
        )
        .await?;
    assert_eq!(threw, "SecurityError", "storage throws in the frame");
    let deadline = tokio::time::Instant::now() + WAIT;
    let sent = loop {
        let sent = c.execute("return window.sent", vec![]).await?;
        if sent.as_array().is_some_and(|s| !s.is_empty()) {
            break sent;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the beacon sent nothing by fetch"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sent[0], 204,
        "the beacon read the collector's answer: {sent}"
    );
    c.enter_parent_frame().await?;
    let cookies = c.get_all_cookies().await?;
    assert!(cookies.is_empty(), "no cookie for the frame: {cookies:?}");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(collector.rows(EVENTS)?.len(), 1, "one page view, once");
    let metrics = collector.get_text("/metrics").await?;
    assert!(
        metrics
            .lines()
            .any(|l| l == "spoor_opaque_origin_batches_total 1"),
        "{metrics}"
    );
    browser.close().await?;
    collector.stop().await
}

/// Records the page's Content-Security-Policy violations in `window.violations`: a
/// same-origin classic script, so the policies under test allow it, run before the beacon.
const WATCH: &str = "window.violations = [];
document.addEventListener('securitypolicyviolation', (e) =>
    violations.push(e.effectiveDirective + ' ' + e.blockedURI));";

/// A page with `policy` that embeds the beacon from `collector` (an origin).
fn page_from(policy: &str, collector: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}"><title>Elsewhere</title>
<script src="/watch.js"></script>
<script type="module" src="{collector}/spoor.js" data-site="demo"></script></head>
<body></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_policies_for_a_collector_elsewhere_allow_the_beacon() -> anyhow::Result<()>
{
    // One collector serves the page and the beacon under different names, which Chromium
    // resolves to loopback: `app.localhost` is the site; `stats.localhost` is the collector
    // on a subdomain of the same site; `localhost` (seen from `127.0.0.1`) is another site.
    // Each page records the policy violations it meets. The control page, without
    // 'wasm-unsafe-eval', must meet one and be counted by the fallback, so the others
    // could have.
    let www = tempfile::tempdir()?;
    std::fs::write(www.path().join("watch.js"), WATCH)?;
    let root = www.path().to_path_buf();
    let collector = RunningCollector::start_with(move |c| {
        c.www = Some(root);
        if let Ok(sites) = "demo=localhost,127.0.0.1,app.localhost".parse() {
            c.sites = sites;
        }
    })
    .await?;
    let port = collector
        .base_url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let stats = format!("http://stats.localhost:{port}");
    let other = format!("http://localhost:{port}");
    let pages = [
        // (page origin, collector origin, policy, violation and fallback expected)
        (
            format!("http://app.localhost:{port}"),
            stats.clone(),
            format!("script-src 'self' {stats} 'wasm-unsafe-eval'; connect-src 'self' {stats}"),
            false,
        ),
        (
            format!("http://127.0.0.1:{port}"),
            other.clone(),
            format!("script-src 'self' {other} 'wasm-unsafe-eval'; connect-src 'self' {other}"),
            false,
        ),
        (
            format!("http://app.localhost:{port}"),
            stats.clone(),
            format!("script-src 'self' {stats}; connect-src 'self' {stats}"),
            true,
        ),
    ];
    let driver = ChromeDriver::start().await?;
    let browser = driver.browser().await?;
    for (i, (origin, from, policy, violates)) in pages.iter().enumerate() {
        let name = format!("elsewhere{i}.html");
        std::fs::write(www.path().join(&name), page_from(policy, from))?;
        browser.client.goto(&format!("{origin}/{name}")).await?;
        let sql =
            format!("SELECT fallback FROM events WHERE kind = 'pageview' AND path = '/{name}'");
        let rows = wait_rows(&collector, &sql, 1).await?;
        let want = if *violates {
            "csp".into()
        } else {
            serde_json::Value::Null
        };
        assert_eq!(rows[0]["fallback"], want, "{policy}: {rows:?}");
        let violations = browser
            .client
            .execute("return window.violations", vec![])
            .await?;
        let seen = violations.as_array().is_some_and(|v| !v.is_empty());
        assert_eq!(seen, *violates, "{policy}: {violations}");
    }
    browser.close().await?;
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_broken_wasm_is_counted_with_its_reason() -> anyhow::Result<()> {
    // The beacon's directory holds the built spoor.js and either no spoor_bg.wasm (404) or
    // one that is not wasm.
    let driver = ChromeDriver::start().await?;
    for (wasm, want) in [(None, "fetch"), (Some("<!doctype html>"), "compile")] {
        let beacon = tempfile::tempdir()?;
        std::fs::copy(
            repo_root().join("beacon/pkg/spoor.js"),
            beacon.path().join("spoor.js"),
        )?;
        if let Some(text) = wasm {
            std::fs::write(beacon.path().join("spoor_bg.wasm"), text)?;
        }
        let www = tempfile::tempdir()?;
        std::fs::write(www.path().join("plain.html"), page("Plain", "", ""))?;
        let (root, dir) = (www.path().to_path_buf(), beacon.path().to_path_buf());
        let collector = RunningCollector::start_with(move |c| {
            c.www = Some(root);
            c.beacon = Some(dir);
        })
        .await?;
        let browser = driver.browser().await?;
        browser
            .client
            .goto(&format!("{}/plain.html", collector.base_url))
            .await?;
        let rows = wait_rows(&collector, EVENTS, 1).await?;
        assert_eq!(rows[0]["fallback"], want, "{rows:?}");
        assert_eq!(rows[0]["client_id"], serde_json::Value::Null, "{rows:?}");
        browser.close().await?;
        collector.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_never_surface_on_the_page() -> anyhow::Result<()> {
    // Each page records uncaught errors and unhandled rejections, from a same-origin script
    // that runs before the beacon: the fallback, and an unusable data-endpoint with or
    // without the wasm, must leave none (and the bad endpoint sends nothing anywhere).
    const ERRORS: &str = "window.errors = [];
addEventListener('error', (e) => errors.push(String(e.message)));
addEventListener('unhandledrejection', (e) => errors.push(String(e.reason)));";
    let with_errors = |policy: &str, attrs: &str| {
        page("Page", policy, attrs).replace(
            "<script type=\"module\"",
            "<script src=\"/errors.js\"></script><script type=\"module\"",
        )
    };
    let bad = r#"data-endpoint="http://[::1""#;
    let (collector, _www) = serve(&[
        ("errors.js", ERRORS.to_string()),
        ("strict.html", with_errors(COMMON, "")),
        ("bad-strict.html", with_errors(COMMON, bad)),
        ("bad.html", with_errors("", bad)),
    ])
    .await?;
    let driver = ChromeDriver::start().await?;
    let browser = driver.browser().await?;
    for name in ["bad-strict.html", "bad.html", "strict.html"] {
        browser
            .client
            .goto(&format!("{}/{name}", collector.base_url))
            .await?;
        tokio::time::sleep(SETTLE).await;
        let errors = browser
            .client
            .execute("return window.errors", vec![])
            .await?;
        assert_eq!(errors, serde_json::json!([]), "{name}");
    }
    let rows = wait_rows(&collector, EVENTS, 1).await?;
    assert_eq!(
        rows.len(),
        1,
        "only the page with a usable endpoint: {rows:?}"
    );
    assert_eq!(rows[0]["path"], "/strict.html", "{rows:?}");
    browser.close().await?;
    collector.stop().await
}
