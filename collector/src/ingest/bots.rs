//! Bot traffic: what `/collect` drops before it is counted.
//!
//! Three signs, each its own `reason` in `spoor_events_filtered_total`:
//! - `crawler`: a user agent that names a crawler, a link previewer, a monitor or an HTTP
//!   library (`Googlebot`, `bingbot`, `facebookexternalhit`, `curl/`, `python-requests`…);
//! - `headless`: a browser that announces it is automated (`HeadlessChrome`, `PhantomJS`,
//!   `Puppeteer`, `Playwright`, `Selenium`);
//! - `no_user_agent`: no `User-Agent` at all;
//! - `no_beacon`: a batch in which no event carries `screen`, which the running beacon
//!   always fills, so the page's script never ran.
//!
//! A filtered batch is answered `204` and sets no cookie, so a bot has no reason to retry;
//! the header `X-Spoor-Dropped` names the reason, so a client that is no bot (a site's
//! server sending without the beacon) reads why nothing was stored, and is pointed to
//! `POST /ingest` ([`routes::ingest`](crate::http::routes::ingest)), where an ingest key replaces
//! this filter. `--keep-bots` turns the filter off.

/// The step: the reason to drop a batch sent with `user_agent` (`from_beacon`: some event
/// carries `screen`), or `None` to keep it; nothing is dropped with `keep_bots`.
pub fn filter(keep_bots: bool, user_agent: &str, from_beacon: bool) -> Option<&'static str> {
    if keep_bots {
        return None;
    }
    classify(user_agent).or((!from_beacon).then_some("no_beacon"))
}

/// Lower-case fragments of user agents that announce automation.
const HEADLESS: &[&str] = &[
    "headlesschrome",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    "webdriver",
];

/// Lower-case fragments of crawler, previewer, monitor and HTTP-library user agents.
const CRAWLERS: &[&str] = &[
    "googlebot",
    "google-inspectiontool",
    "adsbot-google",
    "mediapartners-google",
    "bingbot",
    "bingpreview",
    "slurp",
    "duckduckbot",
    "baiduspider",
    "yandexbot",
    "yandex.com/bots",
    "sogou",
    "exabot",
    "applebot",
    "petalbot",
    "semrushbot",
    "ahrefsbot",
    "mj12bot",
    "dotbot",
    "bytespider",
    "gptbot",
    "claudebot",
    "ccbot",
    "amazonbot",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "linkedinbot",
    "slackbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "pinterestbot",
    "ia_archiver",
    "archive.org_bot",
    "lighthouse",
    "pingdom",
    "uptimerobot",
    "statuscake",
    "crawler",
    "spider",
    "scrapy",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "apache-httpclient",
    "node-fetch",
    "axios/",
    "bot/",
    "bot;",
    "+http",
];

/// Why `user_agent` is a bot, or `None` for what looks like a person's browser.
pub fn classify(user_agent: &str) -> Option<&'static str> {
    let ua = user_agent.trim().to_ascii_lowercase();
    if ua.is_empty() {
        return Some("no_user_agent");
    }
    if HEADLESS.iter().any(|t| ua.contains(t)) {
        return Some("headless");
    }
    if CRAWLERS.iter().any(|t| ua.contains(t)) {
        return Some("crawler");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_pass_and_bots_are_named() {
        let people = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        ];
        for ua in people {
            assert_eq!(classify(ua), None, "{ua}");
        }
        let bots = [
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "crawler",
            ),
            (
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
                "crawler",
            ),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                "crawler",
            ),
            ("curl/8.5.0", "crawler"),
            ("python-requests/2.32.3", "crawler"),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                "headless",
            ),
            (
                "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
                "headless",
            ),
            ("", "no_user_agent"),
            ("   ", "no_user_agent"),
        ];
        for (ua, reason) in bots {
            assert_eq!(classify(ua), Some(reason), "{ua}");
        }
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics(ua in "\\PC{0,300}") {
            let _ = classify(&ua);
        }
    }
}
