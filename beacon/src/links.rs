//! Which link clicks are events: outbound links and file downloads.
//!
//! The loader reports every click on an `<a href>` with the link's absolute URL (`a.href`,
//! which the browser has resolved and normalized: lowercase scheme and host). A link to
//! another host than the page's (`location.host`, port included) is `outbound`; a link on
//! the same host whose path ends in one of the configured extensions is a `download`.
//! Only `http`/`https` links count: the collector accepts no other target.

/// Extensions counted as downloads when the tag has no `data-downloads`.
pub const DEFAULT_DOWNLOADS: &str = "pdf,zip,gz,tgz,rar,7z,dmg,exe,msi,pkg,deb,rpm,apk,iso,csv,xlsx,xls,docx,doc,pptx,ppt,txt,mp3,mp4,mov,avi,epub";

/// What a link click is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A link to another host.
    Outbound,
    /// A link to a file on this host.
    Download,
}

impl LinkKind {
    /// The event's wire `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Download => "download",
        }
    }
}

/// The part of `url` after the scheme's `//`, for http and https URLs only.
fn after_scheme(url: &str) -> Option<&str> {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
}

/// The end of the authority (or path): the first `/`, `?` or `#`, else the end.
fn end_of(s: &str, stops: &[u8]) -> usize {
    s.bytes()
        .position(|b| stops.contains(&b))
        .unwrap_or(s.len())
}

/// The `host[:port]` of an http(s) URL, without user info.
pub fn host(url: &str) -> Option<&str> {
    let rest = after_scheme(url)?;
    let authority = rest.get(..end_of(rest, b"/?#"))?;
    let at = authority
        .bytes()
        .rposition(|b| b == b'@')
        .map_or(0, |i| i + 1);
    authority.get(at..)
}

/// The extension of the last path segment (`pdf` for `/a/b.pdf?x#y`), if any.
pub fn extension(url: &str) -> Option<&str> {
    let rest = after_scheme(url)?;
    let path = rest.get(end_of(rest, b"/?#")..)?;
    let path = path.get(..end_of(path, b"?#"))?;
    let segment = path.get(path.bytes().rposition(|b| b == b'/').map_or(0, |i| i + 1)..)?;
    let dot = segment.bytes().rposition(|b| b == b'.')?;
    segment.get(dot + 1..).filter(|ext| !ext.is_empty())
}

/// Whether `ext` is in `list` (comma-separated, spaces and a leading dot allowed), ASCII
/// case-insensitively. Scans bytes: `str::split` and `trim` cost about 0.5 KB of wasm.
pub fn is_listed(ext: &str, list: &str) -> bool {
    let mut rest = list;
    loop {
        let (item, next) = crate::id::split_once_byte(rest, b',').unwrap_or((rest, ""));
        let item = item.trim_ascii();
        if item
            .strip_prefix('.')
            .unwrap_or(item)
            .eq_ignore_ascii_case(ext)
        {
            return true;
        }
        if next.is_empty() {
            return false;
        }
        rest = next;
    }
}

/// Classifies a click on a link to `href` from a page on `page_host`.
pub fn classify(href: &str, page_host: &str, downloads: &str) -> Option<LinkKind> {
    if host(href)? != page_host {
        return Some(LinkKind::Outbound);
    }
    extension(href)
        .filter(|ext| is_listed(ext, downloads))
        .map(|_| LinkKind::Download)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_http_urls() {
        assert_eq!(host("https://a.example/x"), Some("a.example"));
        assert_eq!(host("http://127.0.0.1:8080?q"), Some("127.0.0.1:8080"));
        assert_eq!(host("https://u:p@b.example#f"), Some("b.example"));
        assert_eq!(host("mailto:x@y.example"), None);
        assert_eq!(host("javascript:void(0)"), None);
    }

    #[test]
    fn extensions_come_from_the_last_path_segment() {
        assert_eq!(
            extension("https://a.example/f/guide.PDF?x=1#p"),
            Some("PDF")
        );
        assert_eq!(extension("https://a.example/a.b/c"), None);
        assert_eq!(extension("https://a.example/x.tar.gz"), Some("gz"));
        assert_eq!(extension("https://a.example/"), None);
        assert_eq!(extension("https://a.example?f=x.pdf"), None);
        assert_eq!(extension("https://a.example/dot."), None);
    }

    #[test]
    fn download_lists_match_case_insensitively() {
        assert!(is_listed("PDF", DEFAULT_DOWNLOADS));
        assert!(is_listed("zip", "pdf, .zip"));
        assert!(!is_listed("html", DEFAULT_DOWNLOADS));
        assert!(!is_listed("pd", "pdf"));
    }

    #[test]
    fn clicks_are_classified() {
        let page = "127.0.0.1:8080";
        let c = |href| classify(href, page, DEFAULT_DOWNLOADS);
        assert_eq!(c("http://localhost:8080/p.html"), Some(LinkKind::Outbound));
        assert_eq!(c("https://trails.example/x.pdf"), Some(LinkKind::Outbound));
        assert_eq!(
            c("http://127.0.0.1:8080/files/guide.pdf"),
            Some(LinkKind::Download)
        );
        assert_eq!(c("http://127.0.0.1:8080/app.html?view=map"), None);
        assert_eq!(c("http://127.0.0.1:8080/#"), None);
        assert_eq!(c("mailto:a@b.example"), None);
        assert_eq!(
            classify("http://127.0.0.1:8080/a.pdf", page, "zip"),
            None,
            "a configured list replaces the default"
        );
    }
}
