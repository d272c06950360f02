//! Collector configuration: one [`Config`] assembled from defaults, then `SPOOR_*`
//! environment variables, then command-line flags (a flag beats a variable beats a default).
//!
//! The environment is passed in as data ([`Config::load`] takes a lookup function), so tests
//! build any configuration without touching the process environment. `flags` declares the
//! command line, `values` parses and checks each setting's text.

mod flags;
mod secrets;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use flags::Flags;
use values::{at_least_one_ms, non_negative, parse_cidrs, parse_or, positive};

use crate::extract::forwarded::ForwardedHeader;
use crate::geo::GeoIp;
use crate::identity::resolver::MAX_IDS_PER_COOKIE;
use crate::payload::Limits;
use crate::payload::stored_url::KeptParams;
use crate::ratelimit::RateLimitConfig;
use crate::routes::auth::AdminToken;
use crate::routes::auth::host::PublicHosts;
use crate::server::ServerLimits;
use crate::session::SiteZone;
use crate::site_secrets::SiteSecrets;
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
    /// Directory of static pages served at `/` (`--www`, `SPOOR_WWW`; default: none, the
    /// demo site and dashboard from `www/` embedded in the binary when it was compiled).
    /// Read at request time; dotfiles and symlinks leading out of it are never served. A
    /// path that is not a directory stops the start.
    pub www: Option<PathBuf>,
    /// Directory holding a built beacon, `spoor.js` and `spoor_bg.wasm` (`--beacon`,
    /// `SPOOR_BEACON`; default: none, the beacon from `beacon/pkg` embedded in the binary
    /// when it was compiled). A path that is not a directory stops the start.
    pub beacon: Option<PathBuf>,
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
    /// The token that grants reading the reports and `/metrics` as `Authorization: Bearer
    /// <token>` (the `SPOOR_ADMIN_TOKEN` variable, or the first line of the file named by
    /// `--admin-token-file` / `SPOOR_ADMIN_TOKEN_FILE`; not a flag, which `ps` would show;
    /// at least 16 visible ASCII characters; a blank value is an error). Default none: the
    /// collector then makes a token on its first start, prints it once and keeps only its
    /// hash in the store (`spoor-collector admin-token --reset` replaces it). Never logged
    /// (its `Debug` is redacted).
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
    /// Most new client ids linked to one server cookie's visitor a day
    /// (`--max-ids-per-cookie`, `SPOOR_MAX_IDS_PER_COOKIE`; default 10). Beyond it, an
    /// event with yet another client id is still counted for the cookie's visitor but its
    /// id is not linked, and `spoor_identity_links_capped_total` counts it: a client
    /// inventing an id per event cannot grow one person without bound.
    pub max_ids_per_cookie: u32,
    /// Timeouts and the connection caps of the HTTP server (see [`ServerLimits`]).
    pub server: ServerLimits,
    /// The country table for GeoIP (`--geoip-csv`, `SPOOR_GEOIP_CSV`: a CSV of
    /// `first,last,CC` address ranges, such as DB-IP's "IP to Country Lite"; default none:
    /// countries are unknown). Read once at start; see [`geo`](crate::geo).
    pub geoip: Option<Arc<GeoIp>>,
    /// Query parameters a site's stored URLs keep besides `utm_*`, on its own hosts
    /// (`--keep-query-params`, `SPOOR_KEEP_QUERY_PARAMS`: `site=name,name;site=name`, such
    /// as `demo=q,page;shop=sku`; default none). Every other parameter and the fragment
    /// (but a `#/route`'s path) are cut from page URLs, referrers and link targets before
    /// they are stored; see [`stored_url`](crate::payload::stored_url). Each site named
    /// must be configured.
    pub keep_query_params: KeptParams,
    /// Let loopback clients read the reports without a credential
    /// (`--insecure-loopback-admin`, `SPOOR_INSECURE_LOOPBACK_ADMIN` `true`/`false`; default
    /// false). Only requests from 127.0.0.1 or ::1 that name the host `localhost`,
    /// `127.0.0.1` or `[::1]` qualify; refused at start together with `--trusted-proxies`,
    /// since behind a proxy on the same host every client would be local.
    pub insecure_loopback_admin: bool,
    /// The hostnames `/api/*`, `/metrics` and the dashboard answer under, any port
    /// (`--public-hosts`, `SPOOR_PUBLIC_HOSTS`, comma-separated, `[::1]` for IPv6; default:
    /// `localhost`, `127.0.0.1`, `[::1]` and the listen address' host). Other `Host`
    /// headers get 403, which stops DNS-rebinding pages. Set it to the name the dashboard
    /// is reached by, such as `stats.example.com`.
    pub public_hosts: PublicHosts,
    /// A second address serving `GET /metrics` alone and without credentials
    /// (`--metrics-listen`, `SPOOR_METRICS_LISTEN`, such as `127.0.0.1:9090`; default none:
    /// `/metrics` is only on the main address, behind the admin token).
    pub metrics_listen: Option<SocketAddr>,
    /// Each site's identity secret, the HMAC-SHA256 key its backend signs user ids with
    /// for `spoor.identify(user, {signature})` (`SPOOR_IDENTIFY_SECRETS`: `site=secret;…`,
    /// or a file of `site=secret` lines named by `--identify-secrets-file` or
    /// `SPOOR_IDENTIFY_SECRETS_FILE`; never a flag, which `ps` shows; default none: every
    /// login is unverified). See [`identity::verify`](crate::identity::verify).
    pub identify_secrets: SiteSecrets,
    /// Sites whose `identify` events must be signed (`--identify-required`,
    /// `SPOOR_IDENTIFY_REQUIRED`: comma-separated site ids, each with an identity secret;
    /// default none). An unsigned `identify` there fails (`identify_unsigned`).
    pub identify_required: Vec<String>,
    /// Each site's key for server-side clients on `POST /ingest` (`SPOOR_INGEST_KEYS`:
    /// `site=key;…`, or a file of `site=key` lines named by `--ingest-keys-file` or
    /// `SPOOR_INGEST_KEYS_FILE`; default none: `/ingest` refuses every request).
    pub ingest_keys: SiteSecrets,
    /// Refuse `/collect` batches and the beacon's files to pages with an opaque origin
    /// (`Origin: null`: a sandboxed frame without `allow-same-origin`)
    /// (`--refuse-opaque-origin`, `SPOOR_REFUSE_OPAQUE_ORIGIN` `true`/`false`; default
    /// false: they are answered CORS for `null` without credentials, and their batches
    /// are stored without the server cookie when every page is on the site's hosts). See
    /// [`cors`](crate::cors) for the trade-off.
    pub refuse_opaque_origin: bool,
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
    /// Active visitors the ingest writer keeps identity memory for in its caches
    /// (`--hot-visitors`, `SPOOR_HOT_VISITORS`; default 100000; see
    /// [`ingest`](crate::ingest)). Idle visitors beyond it are evicted and read from the
    /// store again when they return.
    pub hot_visitors: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            queue_capacity: 1024,
            batch_max_events: 500,
            batch_max_wait: Duration::from_millis(5),
            store_deadline: Duration::from_secs(5),
            hot_visitors: 100_000,
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
            www: None,
            beacon: None,
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
            max_ids_per_cookie: MAX_IDS_PER_COOKIE,
            server: ServerLimits::default(),
            geoip: None,
            keep_query_params: KeptParams::default(),
            insecure_loopback_admin: false,
            public_hosts: PublicHosts::default(),
            metrics_listen: None,
            identify_secrets: SiteSecrets::default(),
            identify_required: Vec::new(),
            ingest_keys: SiteSecrets::default(),
            refuse_opaque_origin: false,
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

/// An override directory (`--www`, `--beacon`), which must exist.
fn override_dir(picked: Option<(String, String)>) -> Result<Option<PathBuf>, ConfigError> {
    let Some((name, value)) = picked else {
        return Ok(None);
    };
    let dir = PathBuf::from(&value);
    crate::routes::assets::dir::check(&dir).map_err(|reason| ConfigError {
        source_name: name,
        value,
        reason,
    })?;
    Ok(Some(dir))
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
                positive,
            )?),
            hot_visitors: parse_or(
                pick(flags.hot_visitors, "SPOOR_HOT_VISITORS"),
                defaults.ingest.hot_visitors,
                positive,
            )?,
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
        let sites = parse_or(
            pick(flags.sites, "SPOOR_SITES"),
            defaults.sites,
            |s: &Sites| Ok(s.clone()),
        )?;
        let keep_query_params = parse_or(
            pick(flags.keep_query_params, "SPOOR_KEEP_QUERY_PARAMS"),
            defaults.keep_query_params,
            |k: &KeptParams| match k.sites().find(|id| sites.get(id).is_none()) {
                Some(id) => Err(format!("site {id:?} is not a configured site")),
                None => Ok(k.clone()),
            },
        )?;
        let insecure_loopback_admin = flags.insecure_loopback_admin
            || parse_or(
                pick(None, "SPOOR_INSECURE_LOOPBACK_ADMIN"),
                false,
                |b: &bool| Ok(*b),
            )?;
        let trusted_proxies = match pick(flags.trusted_proxies, "SPOOR_TRUSTED_PROXIES") {
            None => defaults.trusted_proxies,
            Some((name, value)) => parse_cidrs(&value).map_err(|reason| ConfigError {
                source_name: name,
                value,
                reason,
            })?,
        };
        if insecure_loopback_admin && !trusted_proxies.is_empty() {
            return Err(ConfigError {
                source_name: "--insecure-loopback-admin".into(),
                value: "true".into(),
                reason: "refused with --trusted-proxies: behind a proxy on this host every \
                         client would be local"
                    .into(),
            }
            .into());
        }
        let identify_secrets = secrets::load(
            &env,
            "SPOOR_IDENTIFY_SECRETS",
            pick(flags.identify_secrets_file, "SPOOR_IDENTIFY_SECRETS_FILE"),
            &sites,
        )?;
        let identify_required = secrets::required_sites(
            pick(flags.identify_required, "SPOOR_IDENTIFY_REQUIRED"),
            &identify_secrets,
        )?;
        let ingest_keys = secrets::load(
            &env,
            "SPOOR_INGEST_KEYS",
            pick(flags.ingest_keys_file, "SPOOR_INGEST_KEYS_FILE"),
            &sites,
        )?;
        Ok(Config {
            identify_secrets,
            identify_required,
            ingest_keys,
            listen: parse_or(
                pick(flags.listen, "SPOOR_LISTEN"),
                defaults.listen,
                |a: &SocketAddr| Ok(*a),
            )?,
            db: pick(flags.db, "SPOOR_DB").map_or(defaults.db, |(_, v)| v.into()),
            www: override_dir(pick(flags.www, "SPOOR_WWW"))?,
            beacon: override_dir(pick(flags.beacon, "SPOOR_BEACON"))?,
            trusted_proxies,
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
            sites,
            sqlite_synchronous: parse_or(
                pick(flags.sqlite_synchronous, "SPOOR_SQLITE_SYNCHRONOUS"),
                defaults.sqlite_synchronous,
                |s: &Synchronous| Ok(*s),
            )?,
            sqlite_max_pages: parse_or(
                pick(flags.sqlite_max_pages, "SPOOR_SQLITE_MAX_PAGES"),
                defaults.sqlite_max_pages,
                |p: &u64| positive(p).map(Some),
            )?,
            shutdown_deadline: Duration::from_millis(parse_or(
                pick(flags.shutdown_deadline_ms, "SPOOR_SHUTDOWN_DEADLINE_MS"),
                10_000,
                positive,
            )?),
            retention: Duration::from_secs(DAY_SECS.saturating_mul(parse_or(
                pick(flags.retention_days, "SPOOR_RETENTION_DAYS"),
                RETENTION_DAYS_DEFAULT,
                positive,
            )?)),
            admin_token: admin_token(
                env("SPOOR_ADMIN_TOKEN"),
                pick(flags.admin_token_file, "SPOOR_ADMIN_TOKEN_FILE"),
            )?,
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
            max_ids_per_cookie: parse_or(
                pick(flags.max_ids_per_cookie, "SPOOR_MAX_IDS_PER_COOKIE"),
                defaults.max_ids_per_cookie,
                positive,
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
                max_connections_per_client: parse_or(
                    pick(
                        flags.max_connections_per_client,
                        "SPOOR_MAX_CONNECTIONS_PER_CLIENT",
                    ),
                    defaults.server.max_connections_per_client,
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
            keep_query_params,
            insecure_loopback_admin,
            public_hosts: parse_or(
                pick(flags.public_hosts, "SPOOR_PUBLIC_HOSTS"),
                defaults.public_hosts,
                |h: &PublicHosts| Ok(h.clone()),
            )?,
            metrics_listen: parse_or(
                pick(flags.metrics_listen, "SPOOR_METRICS_LISTEN"),
                defaults.metrics_listen,
                |a: &SocketAddr| Ok(Some(*a)),
            )?,
            refuse_opaque_origin: flags.refuse_opaque_origin
                || parse_or(
                    pick(None, "SPOOR_REFUSE_OPAQUE_ORIGIN"),
                    defaults.refuse_opaque_origin,
                    |b: &bool| Ok(*b),
                )?,
        })
    }
}

/// The admin token from the `SPOOR_ADMIN_TOKEN` variable or the file `file` names (the
/// setting's name and path), whichever is given; both is an error, and so is a blank one.
/// The value is never echoed back in an error: it is a secret.
fn admin_token(
    variable: Option<String>,
    file: Option<(String, String)>,
) -> Result<Option<AdminToken>, ConfigError> {
    let (source_name, text) = match (variable, file) {
        (None, None) => return Ok(None),
        (Some(_), Some((name, path))) => {
            return Err(ConfigError {
                source_name: name,
                value: path,
                reason: "SPOOR_ADMIN_TOKEN is set too: give the token one way".into(),
            });
        }
        (Some(value), None) => ("SPOOR_ADMIN_TOKEN".to_string(), value),
        (None, Some((name, path))) => match std::fs::read_to_string(&path) {
            Ok(text) => (name, text.lines().next().unwrap_or_default().to_string()),
            Err(e) => {
                return Err(ConfigError {
                    source_name: name,
                    value: path,
                    reason: format!("cannot read the token file: {e}"),
                });
            }
        },
    };
    text.parse().map(Some).map_err(|reason| ConfigError {
        source_name,
        value: "<redacted>".into(),
        reason,
    })
}

#[cfg(test)]
mod tests;
