//! Countries from client addresses (GeoIP), when the operator configures a table of
//! address ranges (`--geoip-csv`): each line `first,last,CC` — the first and last address
//! of a range and its ISO 3166-1 alpha-2 country code, IPv4 or IPv6 — which is the format
//! of DB-IP's free "IP to Country Lite" CSV (CC BY 4.0) and of tables exported from other
//! GeoIP databases. The collector looks the country up while handling a request and keeps
//! only the code, on the visit; the address itself is never stored.

use std::net::IpAddr;
use std::path::Path;

/// A country table: sorted, non-overlapping ranges of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, Default)]
pub struct GeoIp {
    v4: Vec<(u32, u32, [u8; 2])>,
    v6: Vec<(u128, u128, [u8; 2])>,
}

/// A table that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A line is not `first,last,CC`.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: String,
        /// Its 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl GeoIp {
    /// Reads the table at `path`; see the module docs for the format.
    pub fn load(path: &Path) -> Result<GeoIp, GeoIpError> {
        let text = std::fs::read_to_string(path).map_err(|source| GeoIpError::Io {
            path: path.display().to_string(),
            source,
        })?;
        GeoIp::parse(&text).map_err(|(line, reason)| GeoIpError::Line {
            path: path.display().to_string(),
            line,
            reason,
        })
    }

    /// Parses a table; an error names the 1-based line and what is wrong with it. Blank
    /// lines and lines starting with `#` are skipped; fields may be quoted.
    pub fn parse(text: &str) -> Result<GeoIp, (usize, String)> {
        let mut table = GeoIp::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line
                .split(',')
                .map(|f| f.trim().trim_matches('"'))
                .collect();
            let [first, last, code] = fields.as_slice() else {
                return Err((i + 1, "expected first,last,CC".into()));
            };
            let parse = |s: &str| {
                s.parse::<IpAddr>()
                    .map_err(|_| (i + 1, format!("{s:?} is not an IP address")))
            };
            let code = country_code(code)
                .ok_or_else(|| (i + 1, format!("{code:?} is not a two-letter country code")))?;
            match (parse(first)?, parse(last)?) {
                (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => {
                    table.v4.push((u32::from(a), u32::from(b), code));
                }
                (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {
                    table.v6.push((u128::from(a), u128::from(b), code));
                }
                _ => {
                    return Err((
                        i + 1,
                        "first and last must be of one family, first <= last".into(),
                    ));
                }
            }
        }
        table.v4.sort_unstable();
        table.v6.sort_unstable();
        Ok(table)
    }

    /// The ranges held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when no range is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ISO code of the country `ip` is in, if a range holds it. An IPv4 address mapped
    /// into IPv6 (`::ffff:a.b.c.d`) is looked up as IPv4.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let code = match ip.to_canonical() {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }?;
        Some(code.iter().map(|b| char::from(*b)).collect())
    }
}

/// The range holding `x`: the last range starting at or before it, if it ends at or after.
fn find<T: Ord + Copy>(ranges: &[(T, T, [u8; 2])], x: T) -> Option<[u8; 2]> {
    let after = ranges.partition_point(|(first, _, _)| *first <= x);
    let (_, last, code) = ranges.get(after.checked_sub(1)?)?;
    (x <= *last).then_some(*code)
}

/// `code` as two upper-case ASCII letters, if it is two letters.
fn country_code(code: &str) -> Option<[u8; 2]> {
    match code.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "# first,last,country\n\
        1.0.0.0,1.0.0.255,AU\n\
        \"203.0.113.0\",\"203.0.113.255\",\"nz\"\n\
        \n\
        2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,DE\n";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn finds_the_range_of_an_address_of_either_family() -> Result<(), (usize, String)> {
        let geo = GeoIp::parse(TABLE)?;
        assert_eq!(geo.len(), 3);
        assert_eq!(geo.country(ip("1.0.0.0")).as_deref(), Some("AU"));
        assert_eq!(geo.country(ip("1.0.0.255")).as_deref(), Some("AU"));
        assert_eq!(geo.country(ip("1.0.1.0")), None, "between ranges");
        assert_eq!(geo.country(ip("0.255.255.255")), None, "before the first");
        assert_eq!(geo.country(ip("203.0.113.77")).as_deref(), Some("NZ"));
        assert_eq!(
            geo.country(ip("::ffff:203.0.113.77")).as_deref(),
            Some("NZ")
        );
        assert_eq!(geo.country(ip("2001:db8::1")).as_deref(), Some("DE"));
        assert_eq!(geo.country(ip("2001:db8:1::1")), None);
        Ok(())
    }

    #[test]
    fn a_bad_line_is_named() {
        for (text, line) in [
            ("1.0.0.0,1.0.0.255\n", 1),
            ("1.0.0.0,1.0.0.255,AU\n1.0.0.x,1.0.1.0,AU\n", 2),
            ("1.0.0.0,1.0.0.255,AUS\n", 1),
            ("1.0.0.9,1.0.0.1,AU\n", 1),
            ("1.0.0.0,2001:db8::,AU\n", 1),
        ] {
            assert_eq!(
                GeoIp::parse(text).err().map(|(l, _)| l),
                Some(line),
                "{text}"
            );
        }
    }
}
