//! Collector configuration: one [`Config`] assembled from defaults, then `SPOOR_*`
//! environment variables, then command-line flags (a flag beats a variable beats a default).
//!
//! The environment is passed in as data ([`Config::load`] takes a lookup function), so tests
//! build any configuration without touching the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use crate::extract::forwarded::ForwardedHeader;
use crate::routes::auth::AdminToken;
use crate::session::UtcOffset;

/// Everything the collector needs to start. Every field has a default that runs the demo.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds (`--listen`, `SPOOR_LISTEN`; default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// SQLite database file (`--db`, `SPOOR_DB`; default `data/spoor.db`). Its directory is
    /// created when missing.
    pub db: PathBuf,
    /// Directory of static pages served at `/` (`--www`, `SPOOR_WWW`; default `www`): the demo
    /// site.
    pub www: PathBuf,
    /// Directory holding the built beacon, `spoor.js` and `spoor_bg.wasm` (`--beacon`,
    /// `SPOOR_BEACON`; default `beacon/pkg`, where `scripts/build-beacon.sh` writes them).
    pub beacon: PathBuf,
    /// Peers whose `X-Forwarded-Proto` header is believed (`--trusted-proxies`,
    /// `SPOOR_TRUSTED_PROXIES`, comma-separated CIDRs; default none). Only they can tell the
    /// collector that a request came over https, which makes its cookie `Secure`.
    pub trusted_proxies: Vec<IpNet>,
    /// The header trusted proxies append the client address to (`--client-ip-header`,
    /// `SPOOR_CLIENT_IP_HEADER`: `x-forwarded-for` (default) or `forwarded`). Only this
    /// one is read: a proxy passes the other through from the client unchanged.
    pub client_ip_header: ForwardedHeader,
    /// How events are batched into the store.
    pub ingest: IngestConfig,
    /// The site's time zone as a fixed offset from UTC (`--site-timezone`,
    /// `SPOOR_SITE_TIMEZONE`: `UTC` (default), minutes east of UTC such as `-300`, or
    /// `±HH:MM` such as `+05:30`). Sessions end at its midnight. A fixed offset does not
    /// follow daylight-saving time.
    pub site_timezone: UtcOffset,
    /// Inactivity after which a visitor's next event starts a new session
    /// (`--session-idle-minutes`, `SPOOR_SESSION_IDLE_MINUTES`; default 30).
    pub session_idle: Duration,
    /// Turn cookie-loss recovery off: a new client id is never linked to the one visitor
    /// seen behind its network fingerprint (`--strict-identity`, `SPOOR_STRICT_IDENTITY`
    /// `true`/`false`; default false, recovery on).
    pub strict_identity: bool,
    /// The token that grants reading the reports (`--admin-token`, `SPOOR_ADMIN_TOKEN`; at
    /// least 16 visible ASCII characters; default none). `/api/*` requests then need
    /// `Authorization: Bearer <token>` and the dashboard asks for it; without a token only
    /// loopback clients may read `/api/*` or load `/dashboard`. Never logged (its `Debug`
    /// is redacted).
    pub admin_token: Option<AdminToken>,
}

/// Tuning of the ingest queue and its batching writer.
#[derive(Debug, Clone, Copy)]
pub struct IngestConfig {
    /// Requests that may wait for the writer at once; beyond it `/collect` answers 503
    /// (`--queue-capacity`, `SPOOR_QUEUE_CAPACITY`; default 1024).
    pub queue_capacity: usize,
    /// Most events committed in one transaction (`--batch-max-events`,
    /// `SPOOR_BATCH_MAX_EVENTS`; default 500).
    pub batch_max_events: usize,
    /// Longest a request waits for others to share its transaction (`--batch-max-wait-ms`,
    /// `SPOOR_BATCH_MAX_WAIT_MS`; default 5).
    pub batch_max_wait: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            queue_capacity: 1024,
            batch_max_events: 500,
            batch_max_wait: Duration::from_millis(5),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: PathBuf::from("data/spoor.db"),
            www: PathBuf::from("www"),
            beacon: PathBuf::from("beacon/pkg"),
            trusted_proxies: Vec::new(),
            client_ip_header: ForwardedHeader::default(),
            ingest: IngestConfig::default(),
            site_timezone: UtcOffset::UTC,
            session_idle: Duration::from_secs(30 * 60),
            strict_identity: false,
            admin_token: None,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The command line did not parse (or asked for `--help`/`--version`): clap's own
    /// message, which `main` prints with `exit()`.
    #[error(transparent)]
    Flags(#[from] clap::Error),
    /// A value was given but is unusable.
    #[error(transparent)]
    Value(#[from] ConfigError),
}

/// A setting that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: cannot use {value:?}: {reason}")]
pub struct ConfigError {
    /// The flag or variable that carried the bad value.
    pub source_name: String,
    /// The value as given.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

/// Command-line flags; each one overrides its `SPOOR_*` variable.
#[derive(Debug, Parser)]
#[command(name = "spoor-collector", version, about = "Spoor analytics collector")]
struct Flags {
    /// Address to listen on [env: SPOOR_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long)]
    listen: Option<String>,
    /// SQLite database file [env: SPOOR_DB] [default: data/spoor.db]
    #[arg(long)]
    db: Option<String>,
    /// Directory of the site served at / [env: SPOOR_WWW] [default: www]
    #[arg(long)]
    www: Option<String>,
    /// Directory with the built spoor.js and spoor_bg.wasm [env: SPOOR_BEACON] [default: beacon/pkg]
    #[arg(long)]
    beacon: Option<String>,
    /// Comma-separated CIDRs of trusted reverse proxies [env: SPOOR_TRUSTED_PROXIES]
    #[arg(long)]
    trusted_proxies: Option<String>,
    /// Header trusted proxies write the client address to: x-forwarded-for or forwarded
    /// [env: SPOOR_CLIENT_IP_HEADER] [default: x-forwarded-for]
    #[arg(long)]
    client_ip_header: Option<String>,
    /// Requests waiting for the writer before 503 [env: SPOOR_QUEUE_CAPACITY] [default: 1024]
    #[arg(long)]
    queue_capacity: Option<String>,
    /// Most events per transaction [env: SPOOR_BATCH_MAX_EVENTS] [default: 500]
    #[arg(long)]
    batch_max_events: Option<String>,
    /// Longest wait to fill a batch, in ms [env: SPOOR_BATCH_MAX_WAIT_MS] [default: 5]
    #[arg(long)]
    batch_max_wait_ms: Option<String>,
    /// Site time zone for session days: UTC, minutes east of UTC, or ±HH:MM
    /// [env: SPOOR_SITE_TIMEZONE] [default: UTC]
    #[arg(long)]
    site_timezone: Option<String>,
    /// Minutes of inactivity that end a session [env: SPOOR_SESSION_IDLE_MINUTES] [default: 30]
    #[arg(long)]
    session_idle_minutes: Option<String>,
    /// Never link a new client id to the visitor behind its fingerprint (no recovery)
    /// [env: SPOOR_STRICT_IDENTITY] [default: false]
    #[arg(long)]
    strict_identity: bool,
    /// Token required as `Authorization: Bearer` on /api/* (the dashboard asks for it)
    /// [env: SPOOR_ADMIN_TOKEN] [default: none: only 127.0.0.1 may read /api/* and /dashboard]
    #[arg(long)]
    admin_token: Option<String>,
}

impl Config {
    /// Builds the configuration from `args` (program name first, as in `std::env::args`) and
    /// an environment lookup.
    pub fn load<I, T>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Config, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let flags = Flags::try_parse_from(args)?;
        let defaults = Config::default();
        let pick = |flag: Option<String>, var: &str| -> Option<(String, String)> {
            let name = var.to_lowercase().replace("spoor_", "--").replace('_', "-");
            flag.map(|v| (name, v))
                .or_else(|| env(var).map(|v| (var.to_string(), v)))
        };
        let ingest = IngestConfig {
            queue_capacity: parse_or(
                pick(flags.queue_capacity, "SPOOR_QUEUE_CAPACITY"),
                defaults.ingest.queue_capacity,
                positive,
            )?,
            batch_max_events: parse_or(
                pick(flags.batch_max_events, "SPOOR_BATCH_MAX_EVENTS"),
                defaults.ingest.batch_max_events,
                positive,
            )?,
            batch_max_wait: Duration::from_millis(parse_or(
                pick(flags.batch_max_wait_ms, "SPOOR_BATCH_MAX_WAIT_MS"),
                5,
                |v: &u64| Ok(*v),
            )?),
        };
        Ok(Config {
            listen: parse_or(
                pick(flags.listen, "SPOOR_LISTEN"),
                defaults.listen,
                |a: &SocketAddr| Ok(*a),
            )?,
            db: pick(flags.db, "SPOOR_DB").map_or(defaults.db, |(_, v)| v.into()),
            www: pick(flags.www, "SPOOR_WWW").map_or(defaults.www, |(_, v)| v.into()),
            beacon: pick(flags.beacon, "SPOOR_BEACON").map_or(defaults.beacon, |(_, v)| v.into()),
            trusted_proxies: match pick(flags.trusted_proxies, "SPOOR_TRUSTED_PROXIES") {
                None => defaults.trusted_proxies,
                Some((name, value)) => parse_cidrs(&value).map_err(|reason| ConfigError {
                    source_name: name,
                    value,
                    reason,
                })?,
            },
            client_ip_header: parse_or(
                pick(flags.client_ip_header, "SPOOR_CLIENT_IP_HEADER"),
                defaults.client_ip_header,
                |h: &ForwardedHeader| Ok(*h),
            )?,
            ingest,
            site_timezone: parse_or(
                pick(flags.site_timezone, "SPOOR_SITE_TIMEZONE"),
                defaults.site_timezone,
                |o: &UtcOffset| Ok(*o),
            )?,
            session_idle: Duration::from_secs(
                60 * parse_or(
                    pick(flags.session_idle_minutes, "SPOOR_SESSION_IDLE_MINUTES"),
                    30,
                    |m: &u64| {
                        if *m == 0 {
                            Err("must be at least 1".into())
                        } else {
                            Ok(*m)
                        }
                    },
                )?,
            ),
            strict_identity: flags.strict_identity
                || parse_or(
                    pick(None, "SPOOR_STRICT_IDENTITY"),
                    defaults.strict_identity,
                    |b: &bool| Ok(*b),
                )?,
            admin_token: match pick(flags.admin_token, "SPOOR_ADMIN_TOKEN") {
                None => None,
                Some((_, value)) if value.trim().is_empty() => None,
                // The value is never echoed back: it is a secret.
                Some((name, value)) => Some(value.parse().map_err(|reason| ConfigError {
                    source_name: name,
                    value: "<redacted>".into(),
                    reason,
                })?),
            },
        })
    }
}

fn positive(v: &usize) -> Result<usize, String> {
    if *v == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(*v)
    }
}

/// Parses `given` (the setting's name and raw value) or falls back to `default`;
/// `check` refines the parsed value.
fn parse_or<T, U>(
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
fn parse_cidrs(value: &str) -> Result<Vec<IpNet>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Config, LoadError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argv = std::iter::once("spoor-collector").chain(args.iter().copied());
        Config::load(argv, |k| env.get(k).cloned())
    }

    #[test]
    fn defaults_run_the_demo() -> Result<(), LoadError> {
        let c = load(&[], &[])?;
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.db, PathBuf::from("data/spoor.db"));
        assert_eq!(c.www, PathBuf::from("www"));
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.site_timezone, UtcOffset::UTC);
        Ok(())
    }

    #[test]
    fn strict_identity_is_off_by_default_and_set_by_flag_or_env() -> Result<(), LoadError> {
        assert!(!load(&[], &[])?.strict_identity);
        assert!(load(&["--strict-identity"], &[])?.strict_identity);
        assert!(load(&[], &[("SPOOR_STRICT_IDENTITY", "true")])?.strict_identity);
        assert!(!load(&[], &[("SPOOR_STRICT_IDENTITY", "false")])?.strict_identity);
        assert!(load(&[], &[("SPOOR_STRICT_IDENTITY", "maybe")]).is_err());
        Ok(())
    }

    #[test]
    fn the_session_idle_time_is_in_minutes() -> Result<(), LoadError> {
        assert_eq!(load(&[], &[])?.session_idle, Duration::from_secs(1800));
        let c = load(&[], &[("SPOOR_SESSION_IDLE_MINUTES", "45")])?;
        assert_eq!(c.session_idle, Duration::from_secs(2700));
        assert!(load(&["--session-idle-minutes", "0"], &[]).is_err());
        Ok(())
    }

    #[test]
    fn the_site_timezone_is_a_fixed_offset() -> Result<(), LoadError> {
        let c = load(&[], &[("SPOOR_SITE_TIMEZONE", "-05:00")])?;
        assert_eq!(c.site_timezone.minutes(), -300);
        let c = load(
            &["--site-timezone", "330"],
            &[("SPOOR_SITE_TIMEZONE", "UTC")],
        )?;
        assert_eq!(c.site_timezone.minutes(), 330);
        let err = load(&["--site-timezone", "Europe/Paris"], &[])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("--site-timezone")));
        Ok(())
    }

    #[test]
    fn flag_beats_environment_beats_default() -> Result<(), LoadError> {
        let c = load(
            &["--db", "/tmp/a.db"],
            &[("SPOOR_DB", "/tmp/b.db"), ("SPOOR_WWW", "site")],
        )?;
        assert_eq!(c.db, PathBuf::from("/tmp/a.db"));
        assert_eq!(c.www, PathBuf::from("site"));
        Ok(())
    }

    #[test]
    fn bad_values_name_their_source() {
        let err = load(&[], &[("SPOOR_LISTEN", "nowhere")])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("SPOOR_LISTEN")));
        let err = load(&["--queue-capacity", "0"], &[])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("--queue-capacity") && e.contains("at least 1")));
    }

    #[test]
    fn the_admin_token_comes_from_flag_or_env_and_is_never_echoed() -> Result<(), LoadError> {
        assert!(load(&[], &[])?.admin_token.is_none());
        assert!(
            load(&[], &[("SPOOR_ADMIN_TOKEN", "")])?
                .admin_token
                .is_none()
        );
        let c = load(&[], &[("SPOOR_ADMIN_TOKEN", "env-token-0123456789")])?;
        assert!(
            c.admin_token
                .is_some_and(|t| t.matches("env-token-0123456789"))
        );
        let c = load(
            &["--admin-token", "flag-token-0123456789"],
            &[("SPOOR_ADMIN_TOKEN", "env-token-0123456789")],
        )?;
        assert!(
            c.admin_token
                .is_some_and(|t| t.matches("flag-token-0123456789"))
        );
        let err = load(&[], &[("SPOOR_ADMIN_TOKEN", "short-secret")])
            .err()
            .map(|e| e.to_string());
        assert!(
            err.is_some_and(|e| e.starts_with("SPOOR_ADMIN_TOKEN") && !e.contains("short-secret"))
        );
        Ok(())
    }

    #[test]
    fn trusted_proxies_accept_cidrs_and_hosts() -> Result<(), LoadError> {
        let c = load(&["--trusted-proxies", "10.0.0.0/8, ::1"], &[])?;
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(load(&["--trusted-proxies", "10.0.0.0/99"], &[]).is_err());
        let c = load(&[], &[("SPOOR_CLIENT_IP_HEADER", "Forwarded")])?;
        assert_eq!(c.client_ip_header, ForwardedHeader::Forwarded);
        assert!(load(&["--client-ip-header", "x-real-ip"], &[]).is_err());
        Ok(())
    }
}
