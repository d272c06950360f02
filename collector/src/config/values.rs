//! The checks a setting's parsed value is given (see `flags::Settings::get`).

use ipnet::IpNet;

pub(super) fn at_least_one_ms(v: &u64) -> Result<u64, String> {
    if *v == 0 {
        Err("must be at least 1 ms".into())
    } else {
        Ok(*v)
    }
}

pub(super) fn non_negative(v: &i64) -> Result<i64, String> {
    if *v < 0 {
        Err("must not be negative".into())
    } else {
        Ok(*v)
    }
}

/// A count of at least 1, of any unsigned integer type (zero is its default).
pub(super) fn positive<T: Copy + Default + PartialEq>(v: &T) -> Result<T, String> {
    if *v == T::default() {
        Err("must be at least 1".into())
    } else {
        Ok(*v)
    }
}

/// Parses a comma-separated list of CIDRs; a bare address means that one host.
pub(super) fn parse_cidrs(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
        })
        .collect()
}
