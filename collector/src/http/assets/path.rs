//! Which file a request path names: the one place that decides what may be served at all.
//!
//! A path is percent-decoded, then split on `/`; it names nothing when any segment is
//! empty in the middle (`//`), `.` or `..`, starts with a dot (`.git`, `.env`: dotfiles are
//! never served), or holds a backslash or a control character. Whatever this accepts is a
//! plain relative path below the served root.

/// The relative file path (`dashboard/app.js`) a request path (`/dashboard/app.js`) names,
/// with whether it ended in `/`; `None` when it must not be served.
pub fn relative(request_path: &str) -> Option<(String, bool)> {
    let decoded = percent_decode(request_path)?;
    let trimmed = decoded.strip_prefix('/')?;
    let slash = trimmed.ends_with('/') || trimmed.is_empty();
    let body = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if body.is_empty() {
        return Some((String::new(), true));
    }
    let safe = body.split('/').all(|segment| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && !segment.chars().any(|c| c == '\\' || c.is_control())
    });
    safe.then(|| (body.to_string(), slash))
}

/// `%XX` escapes decoded; `None` when one is malformed or the result is not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_name_their_files() {
        assert_eq!(relative("/"), Some((String::new(), true)));
        assert_eq!(relative("/spoor.js"), Some(("spoor.js".into(), false)));
        assert_eq!(relative("/dashboard/"), Some(("dashboard".into(), true)));
        assert_eq!(
            relative("/%64ashboard/app.js"),
            Some(("dashboard/app.js".into(), false))
        );
    }

    #[test]
    fn dotfiles_traversal_and_odd_bytes_name_nothing() {
        for bad in [
            "/.git/config",
            "/.env",
            "/dashboard/.secret",
            "/%2eenv",
            "/../etc/passwd",
            "/a/%2e%2e/%2e%2e/etc/passwd",
            "//etc/passwd",
            "/a//b",
            "/a\\..\\b",
            "/a%5c..%5cb",
            "/a%00b",
            "/%zz",
            "/%ff",
            "relative",
        ] {
            assert_eq!(relative(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn whatever_it_accepts_stays_below_the_root(path in "\\PC{0,40}") {
            if let Some((rel, _)) = relative(&path) {
                proptest::prop_assert!(!rel.starts_with('/'));
                proptest::prop_assert!(rel.split('/').all(|s| rel.is_empty() || (!s.is_empty() && !s.starts_with('.'))));
            }
        }
    }
}
