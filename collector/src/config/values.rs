//! Parsing and checking one setting's text: [`parse_or`] and the checks it is given.

use std::str::FromStr;

use ipnet::IpNet;

use super::ConfigError;

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

/// Parses `given` (the setting's name and raw value) or falls back to `default`;
/// `check` refines the parsed value.
pub(super) fn parse_or<T, U>(
    given: Option<(String, String)>,
    default: U,
    check: impl Fn(&T) -> Result<U, String>,
) -> Result<U, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let Some((source_name, value)) = given else {
        return Ok(default);
    };
    let parsed = value.trim().parse::<T>().map_err(|e| e.to_string());
    parsed
        .and_then(|v| check(&v))
        .map_err(|reason| ConfigError {
            source_name,
            value,
            reason,
        })
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
