//! CSV export of table reports: a header row, then one line per row, fields quoted when
//! they hold a comma, a quote or a line break (RFC 4180).

use super::Row;

/// The rows as CSV with the header `key,visitors,pageviews,events,sessions,share`.
pub fn rows(rows: &[Row]) -> String {
    let mut out = String::from("key,visitors,pageviews,events,sessions,share\r\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\r\n",
            field(&r.key),
            r.visitors,
            r.pageviews,
            r.events,
            r.sessions,
            r.share
        ));
    }
    out
}

/// One field, quoted if needed. A leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet does not run a visitor-supplied path as a formula.
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let r = Row {
            key: "/a,\"b\"".into(),
            visitors: 2,
            pageviews: 3,
            events: 4,
            sessions: 1,
            share: 0.5,
        };
        assert_eq!(
            rows(&[r]),
            "key,visitors,pageviews,events,sessions,share\r\n\"/a,\"\"b\"\"\",2,3,4,1,0.5\r\n"
        );
        assert_eq!(field("=cmd()"), "'=cmd()");
        assert_eq!(field("/plain"), "/plain");
    }
}
