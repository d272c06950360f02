//! Collector configuration: one [`Config`] assembled from defaults, then `SPOOR_*`
//! environment variables, then command-line flags (a flag beats a variable beats a default).
//!
//! The environment is passed in as data ([`Config::load`] takes a lookup function), so tests
//! build any configuration without touching the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use crate::extract::forwarded::ForwardedHeader;
use crate::geo::GeoIp;
use crate::payload::Limits;
use crate::ratelimit::RateLimitConfig;
use crate::routes::auth::AdminToken;
use crate::server::ServerLimits;
use crate::session::SiteZone;
use crate::sites::Sites;
use crate::store::sqlite::Synchronous;

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
    /// The site's time zone (`--site-timezone`, `SPOOR_SITE_TIMEZONE`: an IANA zone such as
    /// `Europe/Paris`, which follows daylight-saving time, or a fixed offset: `UTC`
    /// (default), minutes east of UTC such as `-300`, or `±HH:MM` such as `+05:30`).
    /// Sessions end at its midnight.
    pub site_timezone: SiteZone,
    /// Inactivity after which a visitor's next event starts a new session
    /// (`--session-idle-minutes`, `SPOOR_SESSION_IDLE_MINUTES`; default 30).
    pub session_idle: Duration,
    /// Turn cookie-loss recovery off: a new client id is never linked to the one visitor
    /// seen behind its network fingerprint (`--strict-identity`, `SPOOR_STRICT_IDENTITY`
    /// `true`/`false`; default false, recovery on).
    pub strict_identity: bool,
    /// How much one `/collect` request may carry; each limit has its own flag and variable
    /// (see [`Limits`]).
    pub limits: Limits,
    /// The sites counted, each with its hostnames (`--sites`, `SPOOR_SITES`:
    /// `id=host,host;id=host`, `*.name` for subdomains; default `demo=localhost,127.0.0.1`).
    /// Events of other sites, of pages on other hosts or from other origins are refused.
    pub sites: Sites,
    /// Durability of a commit (`--sqlite-synchronous`, `SPOOR_SQLITE_SYNCHRONOUS`: `full`
    /// (default) or `normal`); see `docs/OPERATIONS.md`.
    pub sqlite_synchronous: Synchronous,
    /// Cap on the database file's size in SQLite pages of 4 KiB (`--sqlite-max-pages`,
    /// `SPOOR_SQLITE_MAX_PAGES`; default none). When reached, `/collect` answers 503 until
    /// retention or erasure frees pages.
    pub sqlite_max_pages: Option<u64>,
    /// After SIGTERM or Ctrl-C, how long in-flight requests and the queue get to be committed
    /// before the collector gives up on them and exits 1 (`--shutdown-deadline-ms`,
    /// `SPOOR_SHUTDOWN_DEADLINE_MS`; default 10000).
    pub shutdown_deadline: Duration,
    /// Age after which events are purged (`--retention-days`, `SPOOR_RETENTION_DAYS`;
    /// default 762, about 25 months). Checked hourly.
    pub retention: Duration,
    /// The token that grants reading the reports (`--admin-token`, `SPOOR_ADMIN_TOKEN`; at
    /// least 16 visible ASCII characters; default none). `/api/*` requests then need
    /// `Authorization: Bearer <token>` and the dashboard asks for it; without a token only
    /// loopback clients may read `/api/*` or load `/dashboard`. Never logged (its `Debug`
    /// is redacted).
    pub admin_token: Option<AdminToken>,
    /// Per-client rate limit on `/collect` (see [`RateLimitConfig`]).
    pub rate_limit: RateLimitConfig,
    /// Store bot traffic instead of filtering it (`--keep-bots`, `SPOOR_KEEP_BOTS`
    /// `true`/`false`; default false: crawlers, announced headless browsers and batches the
    /// beacon did not send are dropped and counted, see [`bots`](crate::bots)).
    pub keep_bots: bool,
    /// Rows kept in `failed_events`, the newest ones (`--failed-events-max`,
    /// `SPOOR_FAILED_EVENTS_MAX`; default 10000).
    pub failed_events_max: usize,
    /// Honour `DNT: 1` and `Sec-GPC: 1` on the server (`--honor-dnt`, `SPOOR_HONOR_DNT`
    /// `true`/`false`; default true): such requests get no cookie and are counted for a
    /// cookieless visitor that changes daily, with no link to any other. On by default
    /// because Global Privacy Control is a legally binding opt-out in some jurisdictions and
    /// the cost is small: the visits are still counted, only not joined across days. The
    /// beacon's `data-respect-dnt` goes further and sends nothing.
    pub honor_dnt: bool,
    /// Timeouts and the connection cap of the HTTP server (see [`ServerLimits`]).
    pub server: ServerLimits,
    /// The country table for GeoIP (`--geoip-csv`, `SPOOR_GEOIP_CSV`: a CSV of
    /// `first,last,CC` address ranges, such as DB-IP's "IP to Country Lite"; default none:
    /// countries are unknown). Read once at start; see [`geo`](crate::geo).
    pub geoip: Option<Arc<GeoIp>>,
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
    /// Longest a request waits for its batch to be committed before it is answered 503 with
    /// `Retry-After` (`--store-deadline-ms`, `SPOOR_STORE_DEADLINE_MS`; default 5000). The
    /// events may still be committed after that; the client's retry is then deduplicated.
    /// Also SQLite's busy timeout.
    pub store_deadline: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            queue_capacity: 1024,
            batch_max_events: 500,
            batch_max_wait: Duration::from_millis(5),
            store_deadline: Duration::from_secs(5),
        }
    }
}

/// Default retention: 25 months of 30.5 days.
const RETENTION_DAYS_DEFAULT: u64 = 762;
const DAY_SECS: u64 = 24 * 60 * 60;

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
            site_timezone: SiteZone::default(),
            session_idle: Duration::from_secs(30 * 60),
            strict_identity: false,
            limits: Limits::default(),
            sites: Sites::default(),
            sqlite_synchronous: Synchronous::Full,
            sqlite_max_pages: None,
            shutdown_deadline: Duration::from_secs(10),
            retention: Duration::from_secs(RETENTION_DAYS_DEFAULT * DAY_SECS),
            admin_token: None,
            rate_limit: RateLimitConfig::default(),
            keep_bots: false,
            failed_events_max: 10_000,
            honor_dnt: true,
            server: ServerLimits::default(),
            geoip: None,
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
#[command(
    name = "spoor-collector",
    version,
    about = "Spoor analytics collector",
    after_help = "Privacy subcommands: `spoor-collector export --help`, `spoor-collector erase --help`. Reports: `spoor-collector rebuild-reports --help`."
)]
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
    /// Site time zone for session days: an IANA name (Europe/Paris), UTC, minutes east of UTC, or ±HH:MM
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
    /// Largest /collect body in bytes [env: SPOOR_MAX_BODY_BYTES] [default: 65536]
    #[arg(long)]
    max_body_bytes: Option<String>,
    /// Most events per batch [env: SPOOR_MAX_EVENTS_PER_BATCH] [default: 100]
    #[arg(long)]
    max_events_per_batch: Option<String>,
    /// Longest page URL or link target in bytes [env: SPOOR_MAX_URL_BYTES] [default: 2048]
    #[arg(long)]
    max_url_bytes: Option<String>,
    /// Longest title kept, in characters [env: SPOOR_MAX_TITLE_CHARS] [default: 300]
    #[arg(long)]
    max_title_chars: Option<String>,
    /// Most keys in a custom event's props [env: SPOOR_MAX_PROPS] [default: 20]
    #[arg(long)]
    max_props: Option<String>,
    /// Longest string property value, in characters [env: SPOOR_MAX_PROP_VALUE_CHARS]
    /// [default: 256]
    #[arg(long)]
    max_prop_value_chars: Option<String>,
    /// Deepest JSON nesting in a body [env: SPOOR_MAX_JSON_DEPTH] [default: 8]
    #[arg(long)]
    max_json_depth: Option<String>,
    /// How far ahead of the server clock an event may be, in ms
    /// [env: SPOOR_MAX_CLOCK_AHEAD_MS] [default: 86400000]
    #[arg(long)]
    max_clock_ahead_ms: Option<String>,
    /// How old an event may be, in ms [env: SPOOR_MAX_EVENT_AGE_MS] [default: 2592000000]
    #[arg(long)]
    max_event_age_ms: Option<String>,
    /// Sites and their hostnames: id=host,host;id=host [env: SPOOR_SITES]
    /// [default: demo=localhost,127.0.0.1]
    #[arg(long)]
    sites: Option<String>,
    /// Longest a request waits for its commit before 503, in ms; also SQLite's busy timeout
    /// [env: SPOOR_STORE_DEADLINE_MS] [default: 5000]
    #[arg(long)]
    store_deadline_ms: Option<String>,
    /// Commit durability: full or normal [env: SPOOR_SQLITE_SYNCHRONOUS] [default: full]
    #[arg(long)]
    sqlite_synchronous: Option<String>,
    /// Cap on the database size in pages [env: SPOOR_SQLITE_MAX_PAGES] [default: none]
    #[arg(long)]
    sqlite_max_pages: Option<String>,
    /// Time to drain after SIGTERM, in ms [env: SPOOR_SHUTDOWN_DEADLINE_MS] [default: 10000]
    #[arg(long)]
    shutdown_deadline_ms: Option<String>,
    /// Days after which events are purged [env: SPOOR_RETENTION_DAYS] [default: 762]
    #[arg(long)]
    retention_days: Option<String>,
    /// Token required as `Authorization: Bearer` on /api/* (the dashboard asks for it)
    /// [env: SPOOR_ADMIN_TOKEN] [default: none: only 127.0.0.1 may read /api/* and /dashboard]
    #[arg(long)]
    admin_token: Option<String>,
    /// Requests a second per client on /collect, 0 for no limit
    /// [env: SPOOR_RATE_LIMIT_PER_SECOND] [default: 20]
    #[arg(long)]
    rate_limit_per_second: Option<String>,
    /// Requests a client may burst [env: SPOOR_RATE_LIMIT_BURST] [default: 100]
    #[arg(long)]
    rate_limit_burst: Option<String>,
    /// Most clients the rate limiter tracks [env: SPOOR_RATE_LIMIT_CLIENTS] [default: 100000]
    #[arg(long)]
    rate_limit_clients: Option<String>,
    /// Store bot traffic instead of filtering it [env: SPOOR_KEEP_BOTS] [default: false]
    #[arg(long)]
    keep_bots: bool,
    /// Rows kept in failed_events [env: SPOOR_FAILED_EVENTS_MAX] [default: 10000]
    #[arg(long)]
    failed_events_max: Option<String>,
    /// Honour DNT / Sec-GPC: no cookie, no persistent id: true or false
    /// [env: SPOOR_HONOR_DNT] [default: true]
    #[arg(long)]
    honor_dnt: Option<String>,
    /// Longest wait for a request head (and idle keep-alive), in ms
    /// [env: SPOOR_HEADER_READ_TIMEOUT_MS] [default: 10000]
    #[arg(long)]
    header_read_timeout_ms: Option<String>,
    /// Longest time to read a body and answer, in ms [env: SPOOR_REQUEST_TIMEOUT_MS]
    /// [default: 30000]
    #[arg(long)]
    request_timeout_ms: Option<String>,
    /// Most connections served at once [env: SPOOR_MAX_CONNECTIONS] [default: 1024]
    #[arg(long)]
    max_connections: Option<String>,
    /// CSV of address ranges and countries (first,last,CC) for GeoIP
    /// [env: SPOOR_GEOIP_CSV] [default: none]
    #[arg(long)]
    geoip_csv: Option<String>,
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
            store_deadline: Duration::from_millis(parse_or(
                pick(flags.store_deadline_ms, "SPOOR_STORE_DEADLINE_MS"),
                5000,
                positive_u64,
            )?),
        };
        let d = defaults.limits;
        let limits = Limits {
            max_body_bytes: parse_or(
                pick(flags.max_body_bytes, "SPOOR_MAX_BODY_BYTES"),
                d.max_body_bytes,
                positive,
            )?,
            max_events: parse_or(
                pick(flags.max_events_per_batch, "SPOOR_MAX_EVENTS_PER_BATCH"),
                d.max_events,
                positive,
            )?,
            max_url_bytes: parse_or(
                pick(flags.max_url_bytes, "SPOOR_MAX_URL_BYTES"),
                d.max_url_bytes,
                positive,
            )?,
            max_title_chars: parse_or(
                pick(flags.max_title_chars, "SPOOR_MAX_TITLE_CHARS"),
                d.max_title_chars,
                positive,
            )?,
            max_props: parse_or(
                pick(flags.max_props, "SPOOR_MAX_PROPS"),
                d.max_props,
                |v: &usize| Ok(*v),
            )?,
            max_prop_value_chars: parse_or(
                pick(flags.max_prop_value_chars, "SPOOR_MAX_PROP_VALUE_CHARS"),
                d.max_prop_value_chars,
                positive,
            )?,
            max_json_depth: parse_or(
                pick(flags.max_json_depth, "SPOOR_MAX_JSON_DEPTH"),
                d.max_json_depth,
                |v: &usize| {
                    if *v < 4 {
                        Err("must be at least 4 (the wire format nests 4 deep)".into())
                    } else {
                        Ok(*v)
                    }
                },
            )?,
            max_clock_ahead_ms: parse_or(
                pick(flags.max_clock_ahead_ms, "SPOOR_MAX_CLOCK_AHEAD_MS"),
                d.max_clock_ahead_ms,
                non_negative,
            )?,
            max_event_age_ms: parse_or(
                pick(flags.max_event_age_ms, "SPOOR_MAX_EVENT_AGE_MS"),
                d.max_event_age_ms,
                non_negative,
            )?,
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
                |z: &SiteZone| Ok(z.clone()),
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
            limits,
            sites: parse_or(
                pick(flags.sites, "SPOOR_SITES"),
                defaults.sites,
                |s: &Sites| Ok(s.clone()),
            )?,
            sqlite_synchronous: parse_or(
                pick(flags.sqlite_synchronous, "SPOOR_SQLITE_SYNCHRONOUS"),
                defaults.sqlite_synchronous,
                |s: &Synchronous| Ok(*s),
            )?,
            sqlite_max_pages: parse_or(
                pick(flags.sqlite_max_pages, "SPOOR_SQLITE_MAX_PAGES"),
                defaults.sqlite_max_pages,
                |p: &u64| positive_u64(p).map(Some),
            )?,
            shutdown_deadline: Duration::from_millis(parse_or(
                pick(flags.shutdown_deadline_ms, "SPOOR_SHUTDOWN_DEADLINE_MS"),
                10_000,
                positive_u64,
            )?),
            retention: Duration::from_secs(DAY_SECS.saturating_mul(parse_or(
                pick(flags.retention_days, "SPOOR_RETENTION_DAYS"),
                RETENTION_DAYS_DEFAULT,
                positive_u64,
            )?)),
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
            rate_limit: RateLimitConfig {
                per_second: parse_or(
                    pick(flags.rate_limit_per_second, "SPOOR_RATE_LIMIT_PER_SECOND"),
                    defaults.rate_limit.per_second,
                    |v: &f64| {
                        if v.is_finite() && *v >= 0.0 {
                            Ok(*v)
                        } else {
                            Err("must be a number, 0 or more".into())
                        }
                    },
                )?,
                burst: parse_or(
                    pick(flags.rate_limit_burst, "SPOOR_RATE_LIMIT_BURST"),
                    defaults.rate_limit.burst,
                    |v: &u32| {
                        if *v == 0 {
                            Err("must be at least 1".into())
                        } else {
                            Ok(*v)
                        }
                    },
                )?,
                max_clients: parse_or(
                    pick(flags.rate_limit_clients, "SPOOR_RATE_LIMIT_CLIENTS"),
                    defaults.rate_limit.max_clients,
                    positive,
                )?,
            },
            keep_bots: flags.keep_bots
                || parse_or(
                    pick(None, "SPOOR_KEEP_BOTS"),
                    defaults.keep_bots,
                    |b: &bool| Ok(*b),
                )?,
            failed_events_max: parse_or(
                pick(flags.failed_events_max, "SPOOR_FAILED_EVENTS_MAX"),
                defaults.failed_events_max,
                positive,
            )?,
            honor_dnt: parse_or(
                pick(flags.honor_dnt, "SPOOR_HONOR_DNT"),
                defaults.honor_dnt,
                |b: &bool| Ok(*b),
            )?,
            server: ServerLimits {
                header_read_timeout: Duration::from_millis(parse_or(
                    pick(flags.header_read_timeout_ms, "SPOOR_HEADER_READ_TIMEOUT_MS"),
                    defaults.server.header_read_timeout.as_millis() as u64,
                    at_least_one_ms,
                )?),
                request_timeout: Duration::from_millis(parse_or(
                    pick(flags.request_timeout_ms, "SPOOR_REQUEST_TIMEOUT_MS"),
                    defaults.server.request_timeout.as_millis() as u64,
                    at_least_one_ms,
                )?),
                max_connections: parse_or(
                    pick(flags.max_connections, "SPOOR_MAX_CONNECTIONS"),
                    defaults.server.max_connections,
                    positive,
                )?,
            },
            geoip: match pick(flags.geoip_csv, "SPOOR_GEOIP_CSV") {
                None => None,
                Some((source_name, value)) => Some(Arc::new(
                    GeoIp::load(std::path::Path::new(&value)).map_err(|e| ConfigError {
                        source_name,
                        value: value.clone(),
                        reason: e.to_string(),
                    })?,
                )),
            },
        })
    }
}

fn at_least_one_ms(v: &u64) -> Result<u64, String> {
    if *v == 0 {
        Err("must be at least 1 ms".into())
    } else {
        Ok(*v)
    }
}

fn non_negative(v: &i64) -> Result<i64, String> {
    if *v < 0 {
        Err("must not be negative".into())
    } else {
        Ok(*v)
    }
}

fn positive(v: &usize) -> Result<usize, String> {
    if *v == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(*v)
    }
}

fn positive_u64(v: &u64) -> Result<u64, String> {
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
        assert_eq!(c.site_timezone, SiteZone::default());
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
    fn the_site_timezone_is_a_zone_name_or_a_fixed_offset() -> Result<(), LoadError> {
        let c = load(&[], &[("SPOOR_SITE_TIMEZONE", "-05:00")])?;
        assert_eq!(c.site_timezone.to_string(), "-05:00");
        let c = load(
            &["--site-timezone", "330"],
            &[("SPOOR_SITE_TIMEZONE", "UTC")],
        )?;
        assert_eq!(c.site_timezone.to_string(), "+05:30");
        let c = load(&["--site-timezone", "Europe/Paris"], &[])?;
        assert_eq!(c.site_timezone.to_string(), "Europe/Paris");
        let err = load(&["--site-timezone", "Europe/Atlantis"], &[])
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
    fn durability_shutdown_and_retention_settings() -> Result<(), LoadError> {
        let c = load(&[], &[])?;
        assert_eq!(c.sqlite_synchronous, Synchronous::Full);
        assert_eq!(c.sqlite_max_pages, None);
        assert_eq!(c.ingest.store_deadline, Duration::from_secs(5));
        assert_eq!(c.shutdown_deadline, Duration::from_secs(10));
        assert_eq!(c.retention, Duration::from_secs(762 * 86_400));
        let c = load(
            &["--sqlite-synchronous", "normal", "--retention-days", "30"],
            &[
                ("SPOOR_SQLITE_MAX_PAGES", "100"),
                ("SPOOR_STORE_DEADLINE_MS", "250"),
                ("SPOOR_SHUTDOWN_DEADLINE_MS", "2000"),
            ],
        )?;
        assert_eq!(c.sqlite_synchronous, Synchronous::Normal);
        assert_eq!(c.sqlite_max_pages, Some(100));
        assert_eq!(c.ingest.store_deadline, Duration::from_millis(250));
        assert_eq!(c.shutdown_deadline, Duration::from_secs(2));
        assert_eq!(c.retention, Duration::from_secs(30 * 86_400));
        assert!(load(&["--sqlite-synchronous", "off"], &[]).is_err());
        assert!(load(&["--retention-days", "0"], &[]).is_err());
        Ok(())
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

    #[test]
    fn limits_default_to_the_documented_values_and_are_set_by_flag_or_env() -> Result<(), LoadError>
    {
        let d = load(&[], &[])?.limits;
        assert_eq!(d, Limits::default());
        assert_eq!((d.max_body_bytes, d.max_events), (65536, 100));
        let c = load(
            &["--max-body-bytes", "1024", "--max-json-depth", "5"],
            &[
                ("SPOOR_MAX_EVENTS_PER_BATCH", "7"),
                ("SPOOR_MAX_PROPS", "0"),
            ],
        )?
        .limits;
        assert_eq!(
            (
                c.max_body_bytes,
                c.max_json_depth,
                c.max_events,
                c.max_props
            ),
            (1024, 5, 7, 0)
        );
        assert!(load(&["--max-json-depth", "3"], &[]).is_err());
        assert!(load(&[], &[("SPOOR_MAX_EVENT_AGE_MS", "-1")]).is_err());
        Ok(())
    }

    #[test]
    fn sites_default_to_the_demo_and_are_configurable() -> Result<(), LoadError> {
        assert_eq!(
            load(&[], &[])?.sites.to_string(),
            "demo=localhost,127.0.0.1"
        );
        let c = load(
            &[],
            &[("SPOOR_SITES", "shop=shop.example;blog=blog.example")],
        )?;
        assert!(c.sites.get("blog").is_some() && c.sites.get("demo").is_none());
        let err = load(&["--sites", "shop"], &[]).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("--sites")));
        Ok(())
    }

    #[test]
    fn the_rate_limit_is_configurable_and_zero_turns_it_off() -> Result<(), LoadError> {
        let d = load(&[], &[])?.rate_limit;
        assert_eq!((d.per_second, d.burst, d.max_clients), (20.0, 100, 100_000));
        let c = load(
            &["--rate-limit-per-second", "0.5"],
            &[("SPOOR_RATE_LIMIT_BURST", "3")],
        )?;
        assert_eq!((c.rate_limit.per_second, c.rate_limit.burst), (0.5, 3));
        assert_eq!(
            load(&["--rate-limit-per-second", "0"], &[])?
                .rate_limit
                .per_second,
            0.0
        );
        assert!(load(&["--rate-limit-per-second", "-1"], &[]).is_err());
        assert!(load(&["--rate-limit-burst", "0"], &[]).is_err());
        Ok(())
    }

    #[test]
    fn bots_are_filtered_unless_kept_and_failed_events_are_bounded() -> Result<(), LoadError> {
        let d = load(&[], &[])?;
        assert!(!d.keep_bots);
        assert_eq!(d.failed_events_max, 10_000);
        assert!(load(&["--keep-bots"], &[])?.keep_bots);
        assert!(load(&[], &[("SPOOR_KEEP_BOTS", "true")])?.keep_bots);
        assert_eq!(
            load(&[], &[("SPOOR_FAILED_EVENTS_MAX", "50")])?.failed_events_max,
            50
        );
        assert!(load(&["--failed-events-max", "0"], &[]).is_err());
        Ok(())
    }

    #[test]
    fn dnt_is_honoured_by_default_and_can_be_turned_off() -> Result<(), LoadError> {
        assert!(load(&[], &[])?.honor_dnt);
        assert!(!load(&["--honor-dnt", "false"], &[])?.honor_dnt);
        assert!(!load(&[], &[("SPOOR_HONOR_DNT", "false")])?.honor_dnt);
        assert!(load(&["--honor-dnt", "yes"], &[]).is_err());
        Ok(())
    }

    #[test]
    fn server_timeouts_and_connection_cap_are_configurable() -> Result<(), LoadError> {
        let d = load(&[], &[])?.server;
        assert_eq!(d, ServerLimits::default());
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        let c = load(
            &["--header-read-timeout-ms", "500", "--max-connections", "3"],
            &[("SPOOR_REQUEST_TIMEOUT_MS", "2000")],
        )?
        .server;
        assert_eq!(c.header_read_timeout, Duration::from_millis(500));
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert_eq!(c.max_connections, 3);
        assert!(load(&["--request-timeout-ms", "0"], &[]).is_err());
        Ok(())
    }
}
