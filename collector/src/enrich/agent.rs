//! Browser, operating system and device class from a `User-Agent` header: a small
//! hand-written classifier, decided at ingest (the header itself is never stored).

/// What a `User-Agent` says, in the classes reports show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Agent {
    /// `Edge`, `Opera`, `Samsung Internet`, `Chrome`, `Firefox`, `Safari` or `Other`.
    pub browser: &'static str,
    /// `Windows`, `Android`, `iOS`, `macOS`, `ChromeOS`, `Linux` or `Other`.
    pub os: &'static str,
    /// `mobile`, `tablet` or `desktop`.
    pub device: &'static str,
}

/// Classifies `ua` (an empty or unknown one is `Other`/`Other`/`desktop`).
pub fn classify(ua: &str) -> Agent {
    let has = |needle: &str| ua.contains(needle);
    let browser = if has("Edg/") || has("Edge/") || has("EdgA/") || has("EdgiOS/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("SamsungBrowser/") {
        "Samsung Internet"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") && has("Version/") {
        "Safari"
    } else {
        "Other"
    };
    let os = if has("Windows") {
        "Windows"
    } else if has("Android") {
        "Android"
    } else if has("iPhone") || has("iPad") || has("iPod") {
        "iOS"
    } else if has("Macintosh") || has("Mac OS X") {
        "macOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Linux") || has("X11") {
        "Linux"
    } else {
        "Other"
    };
    let device = if has("iPad") || has("Tablet") || (has("Android") && !has("Mobile")) {
        "tablet"
    } else if has("Mobi") || has("iPhone") || has("iPod") {
        "mobile"
    } else {
        "desktop"
    };
    Agent {
        browser,
        os,
        device,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(ua: &str) -> (&'static str, &'static str, &'static str) {
        let a = classify(ua);
        (a.browser, a.os, a.device)
    }

    #[test]
    fn common_agents_are_classified() {
        assert_eq!(
            c(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            ),
            ("Chrome", "Windows", "desktop")
        );
        assert_eq!(
            c(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
            ),
            ("Edge", "Windows", "desktop")
        );
        assert_eq!(
            c("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            ("Firefox", "Linux", "desktop")
        );
        assert_eq!(
            c(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
            ),
            ("Safari", "iOS", "mobile")
        );
        assert_eq!(
            c(
                "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
            ),
            ("Safari", "iOS", "tablet")
        );
        assert_eq!(
            c(
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
            ),
            ("Chrome", "Android", "mobile")
        );
        assert_eq!(
            c(
                "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            ),
            ("Chrome", "Android", "tablet")
        );
        assert_eq!(
            c(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/114.0.0.0"
            ),
            ("Opera", "macOS", "desktop")
        );
        assert_eq!(c(""), ("Other", "Other", "desktop"));
        assert_eq!(c("curl/8.5.0"), ("Other", "Other", "desktop"));
    }
}
