//! The dashboard in real headless Chromium against the real collector: two browser profiles
//! browse the demo site, then the dashboard must show what the query API answers, filter
//! by a table row, draw its charts, open a person, fit a phone's width, and refuse a
//! reader without the admin token. Screenshots land in `tests/artifacts/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use fantoccini::{Client, Locator};
use serde_json::Value;
use spoor_e2e::{ChromeDriver, RunningCollector, repo_root};

const WAIT: Duration = Duration::from_secs(20);
/// Longer than the beacon's flush timer, so the numbers are final before they are read.
const SETTLE: Duration = Duration::from_secs(3);

async fn script(client: &Client, js: &str) -> anyhow::Result<Value> {
    Ok(client.execute(js, vec![]).await?)
}

/// Polls `js` in the page until it returns something other than null/false/"".
async fn wait_for(client: &Client, what: &str, js: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = script(client, js).await?;
        let empty = v.is_null() || v == Value::Bool(false) || v == Value::String(String::new());
        if !empty {
            return Ok(v);
        }
        if Instant::now() > deadline {
            let errors = script(
                client,
                "return [...document.querySelectorAll('.note-error')].map(e => e.textContent)",
            )
            .await?;
            bail!("the dashboard did not show {what} within {WAIT:?}; errors shown: {errors}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number the dashboard shows under `selector` (its `data-value`), once loaded.
async fn shown(client: &Client, selector: &str) -> anyhow::Result<u64> {
    let js = format!(
        "const e = document.querySelector({}); return e ? e.dataset.value : null",
        serde_json::to_string(selector)?
    );
    let value = wait_for(client, selector, &js).await?;
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{selector} shows {value}, not a count"))
}

/// Fails with them if the page recorded script errors (`window.spoorErrors`, kept by app.js).
async fn no_script_errors(client: &Client) -> anyhow::Result<()> {
    let errors = script(client, "return window.spoorErrors").await?;
    ensure!(
        errors.as_array().is_some_and(Vec::is_empty),
        "script errors in the dashboard: {errors}"
    );
    Ok(())
}

/// Waits until `sql` finds a row in the collector's database.
async fn wait_stored(collector: &RunningCollector, sql: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    while collector.rows(sql)?.is_empty() {
        ensure!(
            Instant::now() < deadline,
            "nothing stored within {WAIT:?} for {sql}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn artifact(name: &str) -> anyhow::Result<PathBuf> {
    let dir = repo_root().join("tests/artifacts");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(name))
}

/// Fails early, with the fix, when the charting library was not vendored.
fn require_vendored_charts() -> anyhow::Result<()> {
    let lib = repo_root().join("www/dashboard/vendor/echarts.esm.min.mjs");
    ensure!(
        lib.is_file(),
        "{} is missing: run scripts/build-dashboard.sh",
        lib.display()
    );
    Ok(())
}

/// Browses the demo site with two fresh profiles: A reads four pages and stars the app's
/// view (a custom event), B reads two. Each page is left only once the collector has its
/// page view: on a loaded machine the beacon can still be starting when the next `goto`
/// unloads the page, and a view never recorded is, rightly, never counted.
async fn browse_demo(driver: &ChromeDriver, collector: &RunningCollector) -> anyhow::Result<()> {
    let base = &collector.base_url;
    let a = driver.browser().await?;
    let b = driver.browser().await?;
    let mut views = 0;
    for path in ["/", "/pricing.html", "/signup.html", "/app.html"] {
        a.client.goto(&format!("{base}{path}")).await?;
        views += 1;
        collector.wait_for_count("pageviews", views, WAIT).await?;
    }
    a.client.find(Locator::Css("#star")).await?.click().await?;
    // Stored before the browser closes, so the dashboard and the API read the same events.
    wait_stored(collector, "SELECT id FROM events WHERE kind = 'custom'").await?;
    for path in ["/", "/pricing.html"] {
        b.client.goto(&format!("{base}{path}")).await?;
        views += 1;
        collector.wait_for_count("pageviews", views, WAIT).await?;
    }
    a.close().await?;
    b.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_api_counts() -> anyhow::Result<()> {
    require_vendored_charts()?;
    let collector = RunningCollector::start().await?;
    let driver = ChromeDriver::start().await?;
    let base = collector.base_url.clone();
    browse_demo(&driver, &collector).await?;
    tokio::time::sleep(SETTLE).await;

    let viewer = driver.browser().await?;
    let c = &viewer.client;
    c.set_window_size(1280, 900).await?;
    // Signed in the way `scripts/run.sh` offers: the one-time URL sets the session cookie.
    c.goto(&collector.signin_url()?).await?;
    // Without the slash: the collector redirects to /dashboard/, keeping the query.
    c.goto(&format!("{base}/dashboard?site=demo")).await?;

    let api = collector.get_json("/api/summary?site=demo").await?;
    for metric in ["visitors", "pageviews", "sessions"] {
        let on_screen = shown(c, &format!("[data-testid=summary-{metric}]")).await?;
        assert_eq!(
            Some(on_screen),
            api[metric].as_u64(),
            "{metric}: the dashboard against /api/summary {api}"
        );
    }
    assert_eq!(api["visitors"], 2, "two profiles browsed: {api}");
    assert_eq!(api["pageviews"], 6, "six pages were viewed: {api}");

    let breakdown = collector
        .get_json("/api/breakdown?site=demo&dimension=page")
        .await?;
    let row = |key: &str| -> Option<u64> {
        breakdown["rows"]
            .as_array()?
            .iter()
            .find(|r| r["key"] == key)?["visitors"]
            .as_u64()
    };
    let pricing =
        "[data-testid=table-page] tr[data-key='/pricing.html'] [data-testid=row-visitors]";
    assert_eq!(Some(shown(c, pricing).await?), row("/pricing.html"));
    assert_eq!(row("/pricing.html"), Some(2), "{breakdown}");
    let events = collector
        .get_json("/api/breakdown?site=demo&dimension=event")
        .await?;
    let star = "[data-testid=table-event] tr[data-key='star'] [data-testid=row-visitors]";
    assert_eq!(
        Some(shown(c, star).await?),
        events["rows"][0]["visitors"].as_u64()
    );
    assert_eq!(events["rows"][0]["key"], "star", "{events}");

    let realtime = collector.get_json("/api/realtime?site=demo").await?;
    let current = wait_for(
        c,
        "the realtime count",
        "const t = document.querySelector('[data-testid=realtime-visitors]').textContent; return t !== '–' && t",
    )
    .await?;
    assert_eq!(
        current.as_str().and_then(|t| t.parse::<u64>().ok()),
        realtime["visitors"].as_u64(),
        "{realtime}"
    );
    assert_eq!(
        realtime["visitors"], 2,
        "both browsed within 5 minutes: {realtime}"
    );

    // Charts are drawn by ECharts (a canvas), the Sankey of the sessions' flows too.
    wait_for(
        c,
        "the time series",
        "return document.querySelector('#timeseries canvas')",
    )
    .await?;
    wait_for(
        c,
        "the Sankey",
        "return document.querySelector('[data-testid=sankey] canvas')",
    )
    .await?;
    let log = wait_for(
        c,
        "the visitor log",
        "return document.querySelectorAll('[data-testid=visitor-log] .session').length",
    )
    .await?;
    assert_eq!(
        log.as_u64(),
        api["sessions"].as_u64(),
        "one log entry per visit"
    );

    c.set_window_size(1280, 2600).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(artifact("dashboard.png")?, c.screenshot().await?)?;

    // A row is a filter: only A read /signup.html.
    c.find(Locator::Css(
        "[data-testid=table-page] tr[data-key='/signup.html']",
    ))
    .await?
    .click()
    .await?;
    wait_for(
        c,
        "the filter chip",
        "return document.querySelector('.chip[data-filter=page]')",
    )
    .await?;
    let filtered = collector
        .get_json("/api/summary?site=demo&page=%2Fsignup.html")
        .await?;
    let js = "const e = document.querySelector('[data-testid=summary-visitors]');
              return document.querySelector('#summary').dataset.state === 'loaded' && e ? e.dataset.value : null";
    let visitors = wait_for(c, "the filtered summary", js).await?;
    assert_eq!(
        visitors.as_str().and_then(|v| v.parse::<u64>().ok()),
        filtered["visitors"].as_u64()
    );
    assert_eq!(filtered["visitors"], 1, "{filtered}");
    assert!(
        script(c, "return location.search")
            .await?
            .as_str()
            .unwrap_or_default()
            .contains("page=%2Fsignup.html")
    );

    // The person view of A (the only visitor left by the filter). The two profiles ran on
    // one machine (same address and browser), so inclusive identity recovered them as one
    // person; undoing that link from the person view splits them again.
    assert_eq!(
        api["persons"], 1,
        "one machine, recovered as one person: {api}"
    );
    wait_for(
        c,
        "the filtered visitor log",
        "return document.querySelectorAll('[data-testid=visitor-log] .session').length === 1",
    )
    .await?;
    let link = c
        .find(Locator::Css("[data-testid=visitor-log] .person-link"))
        .await?;
    let visitor = link.attr("data-visitor").await?.context("the visitor id")?;
    link.click().await?;
    let person = wait_for(
        c,
        "the person view",
        "const e = document.querySelector('[data-testid=person-id]'); return e && e.textContent",
    )
    .await?;
    assert!(person.as_str().unwrap_or_default().starts_with("Person "));
    let shown_person = collector
        .get_json(&format!("/api/persons/{visitor}?site=demo"))
        .await?;
    let active: Vec<&Value> = shown_person["links"]
        .as_array()
        .map(|l| l.iter().filter(|l| l["active"] == true).collect())
        .unwrap_or_default();
    assert_eq!(
        active.len(),
        1,
        "one link joins the two profiles: {shown_person}"
    );
    let id = &active[0]["id"];
    c.find(Locator::Css(&format!(
        "#person tr[data-link='{id}'] button"
    )))
    .await?
    .click()
    .await?;
    c.accept_alert().await?; // "Undo the … link?"
    wait_for(
        c,
        "the undone link",
        &format!("return document.querySelector(\"#person tr[data-link='{id}'].inactive\")"),
    )
    .await?;
    let after = collector.get_json("/api/summary?site=demo").await?;
    assert_eq!(
        after["persons"], 2,
        "undone in the dashboard, split in the API: {after}"
    );
    script(c, "document.querySelector('#person .close').click()").await?;

    // The funnel builder (seeded with the top pages) saves by name through the API.
    c.find(Locator::Css("[aria-label='Funnel name']"))
        .await?
        .send_keys("tour")
        .await?;
    c.find(Locator::XPath(
        "//section[@id='funnel']//button[text()='Save']",
    ))
    .await?
    .click()
    .await?;
    wait_for(
        c,
        "the saved funnel",
        "return [...document.querySelectorAll('#funnel option')].some(o => o.value === 'tour')",
    )
    .await?;
    let saved = collector.get_json("/api/funnels?site=demo").await?;
    assert_eq!(saved["funnels"][0]["name"], "tour", "{saved}");
    let steps = saved["funnels"][0]["steps"].as_array().map_or(0, Vec::len);
    assert!(steps >= 2, "{saved}");

    // A phone: everything fits the width.
    c.set_window_size(375, 812).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let widths = script(
        c,
        "return [document.scrollingElement.scrollWidth, window.innerWidth]",
    )
    .await?;
    let (scroll, inner) = (widths[0].as_u64(), widths[1].as_u64());
    std::fs::write(artifact("dashboard-phone.png")?, c.screenshot().await?)?;
    assert!(
        scroll.is_some() && scroll <= inner,
        "horizontal overflow at phone width: scrollWidth, innerWidth = {widths}"
    );

    no_script_errors(c).await?;
    viewer.close().await?;
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_token_the_dashboard_asks_for_it() -> anyhow::Result<()> {
    require_vendored_charts()?;
    const TOKEN: &str = "e2e-admin-token-0123456789";
    let collector = RunningCollector::start_with(|config| {
        config.admin_token = Some(TOKEN.parse().expect("a valid token"));
    })
    .await?;
    let driver = ChromeDriver::start().await?;
    let base = collector.base_url.clone();
    let visitor = driver.browser().await?;
    visitor.client.goto(&format!("{base}/pricing.html")).await?;
    wait_stored(&collector, "SELECT id FROM events WHERE kind = 'pageview'").await?;
    visitor.close().await?;

    let refused = collector.get_text_anonymous("/api/summary?site=demo").await;
    let reason = format!("{:?}", refused.err());
    assert!(
        reason.contains("401"),
        "the API without the token: {reason}"
    );

    let viewer = driver.browser().await?;
    let c = &viewer.client;
    c.goto(&format!("{base}/dashboard/?site=demo")).await?;
    // The page loads (it holds no data) and asks for the token: the API refused it.
    wait_for(
        c,
        "the token form",
        "const f = document.getElementById('auth'); return f && !f.hidden",
    )
    .await?;
    let summary = wait_for(
        c,
        "the summary's error",
        "const s = document.getElementById('summary'); return s.dataset.state === 'error' && s.innerText",
    )
    .await?;
    assert!(
        summary.as_str().unwrap_or_default().contains("401"),
        "no numbers without the token: {summary}"
    );
    let field = c.find(Locator::Css("[data-testid=token-input]")).await?;
    field.send_keys("not-the-token-0123456789").await?;
    c.find(Locator::Css("#auth button")).await?.click().await?;
    wait_for(
        c,
        "the form again after a wrong token",
        "const f = document.getElementById('auth'); return f && !f.hidden",
    )
    .await?;
    let field = c.find(Locator::Css("[data-testid=token-input]")).await?;
    field.clear().await?;
    field.send_keys(TOKEN).await?;
    c.find(Locator::Css("#auth button")).await?.click().await?;
    let pageviews = shown(c, "[data-testid=summary-pageviews]").await?;
    assert_eq!(pageviews, 1, "with the token the dashboard reads the API");
    let hidden = script(c, "return document.getElementById('auth').hidden").await?;
    assert_eq!(hidden, Value::Bool(true));

    // A table's CSV download goes out with the token too (the file is caught on its way to
    // the browser's download, which headless Chromium would not show).
    script(
        c,
        "window.csvText = null; const make = URL.createObjectURL;
         URL.createObjectURL = (blob) => { blob.text().then(t => window.csvText = t); return make(blob); };",
    )
    .await?;
    c.find(Locator::Css("#tables .csv")).await?.click().await?;
    let csv = wait_for(c, "the CSV download", "return window.csvText").await?;
    let csv = csv.as_str().unwrap_or_default();
    assert!(csv.starts_with("key,visitors,"), "a header row: {csv}");
    assert!(
        csv.lines().any(|l| l.starts_with("/pricing.html,1,")),
        "the page and its one visitor: {csv}"
    );
    script(c, "window.csvText = null").await?;
    c.find(Locator::Css("#visitors .csv"))
        .await?
        .click()
        .await?;
    let log = wait_for(c, "the visitor log's CSV", "return window.csvText").await?;
    assert_eq!(
        log.as_str().unwrap_or_default().lines().count(),
        2,
        "a header and the one visit: {log}"
    );

    no_script_errors(c).await?;
    viewer.close().await?;
    collector.stop().await
}

/// The one-time sign-in URL in a real browser: one click opens the dashboard signed in
/// (the numbers load, no token form); the same link a second time, in another profile,
/// is refused and that browser gets no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_link_opens_the_dashboard_once() -> anyhow::Result<()> {
    require_vendored_charts()?;
    let collector = RunningCollector::start_with(|config| config.admin_token = None).await?;
    let driver = ChromeDriver::start().await?;
    let base = collector.base_url.clone();
    let visitor = driver.browser().await?;
    visitor.client.goto(&format!("{base}/pricing.html")).await?;
    wait_stored(&collector, "SELECT id FROM events WHERE kind = 'pageview'").await?;
    visitor.close().await?;

    let link = collector.signin_url()?;
    let admin = driver.browser().await?;
    let c = &admin.client;
    c.goto(&link).await?;
    let landed = c.current_url().await?;
    assert_eq!(
        landed.path(),
        "/dashboard/",
        "redirected to the dashboard: {landed}"
    );
    c.goto(&format!("{base}/dashboard/?site=demo")).await?;
    let pageviews = shown(c, "[data-testid=summary-pageviews]").await?;
    assert_eq!(pageviews, 1, "signed in, the dashboard reads the API");
    let hidden = script(c, "return document.getElementById('auth').hidden").await?;
    assert_eq!(hidden, Value::Bool(true), "no token form when signed in");
    // The cookie is HttpOnly: the page's scripts cannot read it.
    let cookies = script(c, "return document.cookie").await?;
    assert!(
        !cookies.as_str().unwrap_or_default().contains("spoor_admin"),
        "{cookies}"
    );
    no_script_errors(c).await?;
    admin.close().await?;

    let other = driver.browser().await?;
    let c = &other.client;
    c.goto(&link).await?;
    let body = script(c, "return document.body.innerText").await?;
    assert!(
        body.as_str().unwrap_or_default().contains("used already"),
        "a replayed link is refused: {body}"
    );
    c.goto(&format!("{base}/dashboard/?site=demo")).await?;
    wait_for(
        c,
        "the token form",
        "const f = document.getElementById('auth'); return f && !f.hidden",
    )
    .await?;
    other.close().await?;
    collector.stop().await
}
