//! CSV export of table reports: a header row, then one line per row, fields quoted when
//! they hold a comma, a quote or a line break (RFC 4180).

use super::Row;

/// The rows as CSV with the header `key,visitors,pageviews,events,sessions,share`.
pub fn rows(rows: &[Row]) -> String {
    table(
        &[
            "key",
            "visitors",
            "pageviews",
            "events",
            "sessions",
            "share",
        ],
        rows.iter().map(|r| {
            vec![
                r.key.clone(),
                r.visitors.to_string(),
                r.pageviews.to_string(),
                r.events.to_string(),
                r.sessions.to_string(),
                r.share.to_string(),
            ]
        }),
    )
}

/// Any table: `header`, then each line's fields.
pub fn table(header: &[&str], lines: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for line in lines {
        let fields: Vec<String> = line.iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The first characters that make a spreadsheet read a cell as a formula (OWASP's CSV
/// injection list): `=`, `+`, `-`, `@`, and a tab or carriage return, which some
/// spreadsheets skip before looking for one of the others.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One field, quoted if needed. A field starting with one of [`FORMULA_STARTS`] is
/// prefixed with `'` so a spreadsheet does not run a visitor-supplied path as a formula.
pub fn field(s: &str) -> String {
    let s = if s.starts_with(FORMULA_STARTS) {
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
        assert_eq!(
            table(
                &["a", "b"],
                [vec!["x y".to_string(), "1\n2".to_string()]].into_iter()
            ),
            "a,b\r\nx y,\"1\n2\"\r\n"
        );
        assert_eq!(field("/plain"), "/plain");
    }

    #[test]
    fn every_formula_start_on_the_owasp_list_is_defused() {
        for (raw, safe) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=cmd()", "'\t=cmd()"),
            ("\r=cmd()", "\"'\r=cmd()\""),
        ] {
            assert_eq!(field(raw), safe, "{raw:?}");
        }
        assert_eq!(field("a\t=b"), "a\t=b", "only a leading tab counts");
    }
}
