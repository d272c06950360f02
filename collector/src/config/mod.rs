//! Collector configuration: one [`Config`] assembled from defaults, then `SPOOR_*`
//! environment variables, then command-line flags (a flag beats a variable beats a default).
//!
//! The environment is passed in as data ([`Config::load`] takes a lookup function), so tests
//! build any configuration without touching the process environment. `flags` defines every
//! option once (flag, variable, default, help) and reads its value; `values` holds the
//! checks a value is given; `secrets` reads the per-site secrets, which have no flag.
//! [`Config::default`] is the configuration of no flag and no variable, so a default is
//! written in one place only, the option table (`spoor-collector --help` and the table in
//! `docs/API.md`, which a test holds to it, show them).

mod flags;
mod secrets;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use flags::Settings;
use values::{at_least_one_ms, non_negative, parse_cidrs, positive};

use crate::enrich::geo::GeoIp;
use crate::http::auth::AdminToken;
use crate::http::auth::host::PublicHosts;
use crate::http::extract::forwarded::ForwardedHeader;
use crate::http::ratelimit::RateLimitConfig;
use crate::http::server::ServerLimits;
use crate::payload::Limits;
use crate::payload::stored_url::KeptParams;
use crate::session::SiteZone;
use crate::site_secrets::SiteSecrets;
use crate::sites::Sites;
use crate::store::clickhouse::ClickHouseOptions;
use crate::store::clickhouse::client::Endpoint;
use crate::store::sqlite::Synchronous;

/// Everything the collector needs to start. Every field has a default that runs the demo.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds (`--listen`, `SPOOR_LISTEN`; default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// SQLite database file (`--db`). Its directory is
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
    /// (`--session-idle-minutes`).
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
    /// Age after which events are purged (`--retention-days`). Checked hourly.
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
    /// beacon did not send are dropped and counted, see [`bots`](crate::ingest::bots)).
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
    /// (`--max-ids-per-cookie`). Beyond it, an
    /// event with yet another client id is still counted for the cookie's visitor but its
    /// id is not linked, and `spoor_identity_links_capped_total` counts it: a client
    /// inventing an id per event cannot grow one person without bound.
    pub max_ids_per_cookie: u32,
    /// Timeouts and the connection caps of the HTTP server (see [`ServerLimits`]).
    pub server: ServerLimits,
    /// The country table for GeoIP (`--geoip-csv`, `SPOOR_GEOIP_CSV`: a CSV of
    /// `first,last,CC` address ranges, such as DB-IP's "IP to Country Lite"; default none:
    /// countries are unknown). Read once at start; see [`geo`](crate::enrich::geo).
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
    /// [`cors`](crate::http::cors) for the trade-off.
    pub refuse_opaque_origin: bool,
    /// The ClickHouse store (`--store clickhouse:…`, `--clickhouse-cluster`), instead of
    /// the SQLite file `db`; `None` for SQLite (`--store sqlite:PATH` sets `db`).
    pub clickhouse: Option<crate::store::clickhouse::ClickHouseOptions>,
    /// Every collector sharing the store (`--peers`, `SPOOR_PEERS`: base URLs
    /// `http://HOST:PORT`, comma-separated, this one's included) and which is this one
    /// (`--peer-self`, `SPOOR_PEER_SELF`, one of them; required with `--peers`); default
    /// none: this collector commits every job itself. See [`peers`](crate::peers).
    pub peers: Option<crate::peers::list::PeerList>,
}

/// Tuning of the ingest queue and its batching writer.
#[derive(Debug, Clone, Copy)]
pub struct IngestConfig {
    /// Requests that may wait for the writer at once; beyond it `/collect` answers 503
    /// (`--queue-capacity`).
    pub queue_capacity: usize,
    /// Most events committed in one transaction (`--batch-max-events`).
    pub batch_max_events: usize,
    /// Longest the writer waits for more requests to share a transaction beyond those
    /// already queued (0: none; `--batch-max-wait-ms`).
    pub batch_max_wait: Duration,
    /// Longest a request waits for its batch to be committed before it is answered 503 with
    /// `Retry-After` (`--store-deadline-ms`). The
    /// events may still be committed after that; the client's retry is then deduplicated.
    /// Also SQLite's busy timeout.
    pub store_deadline: Duration,
    /// Active visitors the ingest writer keeps identity memory for in its caches
    /// (`--hot-visitors`; see [`ingest`](crate::ingest)). Idle visitors beyond it are
    /// evicted and read from the store again when they return.
    pub hot_visitors: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Config::default().ingest
    }
}

const DAY_SECS: u64 = 24 * 60 * 60;

/// `--batch-max-events` on the ClickHouse store when not given.
pub const CLICKHOUSE_BATCH_EVENTS: usize = 5000;
/// `--batch-max-wait-ms` on the ClickHouse store when not given.
pub const CLICKHOUSE_BATCH_WAIT: Duration = Duration::from_secs(1);

impl Default for Config {
    /// The configuration of no flag and no variable: every option's default.
    fn default() -> Self {
        match Config::load(["spoor-collector"], |_| None) {
            Ok(config) => config,
            // The defaults are constants of the option table; `defaults_run_the_demo` and
            // every other test load them, so this cannot be reached by a released build.
            Err(e) => panic!("the built-in defaults do not load: {e}"),
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
    crate::http::assets::dir::check(&dir).map_err(|reason| ConfigError {
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
    /// an environment lookup: each option from its flag, else its `SPOOR_*` variable, else
    /// its default (all three defined once, in the option table of `flags`).
    pub fn load<I, T>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Config, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let s = Settings::parse(args, &env)?;
        let ms = |flag: &str, check: fn(&u64) -> Result<u64, String>| {
            s.get(flag, check).map(Duration::from_millis)
        };
        let store = store_of(&s)?;
        // ClickHouse wants few large inserts (each makes a part to merge): unless told
        // otherwise, its writer gathers up to a second or 5,000 events, whichever first.
        let on_clickhouse = matches!(store, Some(Store::ClickHouse(_)));
        let ingest = IngestConfig {
            queue_capacity: s.get("queue-capacity", positive)?,
            batch_max_events: if on_clickhouse && !s.explicit("batch-max-events") {
                CLICKHOUSE_BATCH_EVENTS
            } else {
                s.get("batch-max-events", positive)?
            },
            batch_max_wait: if on_clickhouse && !s.explicit("batch-max-wait-ms") {
                CLICKHOUSE_BATCH_WAIT
            } else {
                ms("batch-max-wait-ms", |v| Ok(*v))?
            },
            store_deadline: ms("store-deadline-ms", positive)?,
            hot_visitors: s.get("hot-visitors", positive)?,
        };
        let limits = Limits {
            max_body_bytes: s.get("max-body-bytes", positive)?,
            max_events: s.get("max-events-per-batch", positive)?,
            max_url_bytes: s.get("max-url-bytes", positive)?,
            max_title_chars: s.get("max-title-chars", positive)?,
            max_props: s.get("max-props", |v: &usize| Ok(*v))?,
            max_prop_value_chars: s.get("max-prop-value-chars", positive)?,
            max_json_depth: s.get("max-json-depth", |v: &usize| {
                if *v < 4 {
                    Err("must be at least 4 (the wire format nests 4 deep)".into())
                } else {
                    Ok(*v)
                }
            })?,
            max_clock_ahead_ms: s.get("max-clock-ahead-ms", non_negative)?,
            max_event_age_ms: s.get("max-event-age-ms", non_negative)?,
        };
        let sites: Sites = s.get("sites", |s: &Sites| Ok(s.clone()))?;
        let keep_query_params = s
            .optional("keep-query-params", |k: &KeptParams| {
                match k.sites().find(|id| sites.get(id).is_none()) {
                    Some(id) => Err(format!("site {id:?} is not a configured site")),
                    None => Ok(k.clone()),
                }
            })?
            .unwrap_or_default();
        let insecure_loopback_admin = s.on("insecure-loopback-admin")?;
        let trusted_proxies = s
            .optional("trusted-proxies", |v: &String| parse_cidrs(v))?
            .unwrap_or_default();
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
            s.given("identify-secrets-file"),
            &sites,
        )?;
        let identify_required =
            secrets::required_sites(s.given("identify-required"), &identify_secrets)?;
        let ingest_keys = secrets::load(
            &env,
            "SPOOR_INGEST_KEYS",
            s.given("ingest-keys-file"),
            &sites,
        )?;
        let listen: SocketAddr = s.get("listen", |a: &SocketAddr| Ok(*a))?;
        Ok(Config {
            identify_secrets,
            identify_required,
            ingest_keys,
            listen,
            db: match &store {
                Some(Store::Sqlite(path)) => path.clone(),
                _ => s.get("db", |p: &PathBuf| Ok(p.clone()))?,
            },
            www: override_dir(s.given("www"))?,
            beacon: override_dir(s.given("beacon"))?,
            trusted_proxies,
            client_ip_header: s.get("client-ip-header", |h: &ForwardedHeader| Ok(*h))?,
            ingest,
            site_timezone: s.get("site-timezone", |z: &SiteZone| Ok(z.clone()))?,
            session_idle: Duration::from_secs(60 * s.get("session-idle-minutes", positive::<u64>)?),
            strict_identity: s.on("strict-identity")?,
            limits,
            sites,
            sqlite_synchronous: s.get("sqlite-synchronous", |v: &Synchronous| Ok(*v))?,
            sqlite_max_pages: s.optional("sqlite-max-pages", positive)?,
            shutdown_deadline: ms("shutdown-deadline-ms", positive)?,
            retention: Duration::from_secs(
                DAY_SECS.saturating_mul(s.get("retention-days", positive)?),
            ),
            admin_token: admin_token(s.env("SPOOR_ADMIN_TOKEN"), s.given("admin-token-file"))?,
            rate_limit: RateLimitConfig {
                per_second: s.get("rate-limit-per-second", |v: &f64| {
                    if v.is_finite() && *v >= 0.0 {
                        Ok(*v)
                    } else {
                        Err("must be a number, 0 or more".into())
                    }
                })?,
                burst: s.get("rate-limit-burst", positive)?,
                max_clients: s.get("rate-limit-clients", positive)?,
            },
            keep_bots: s.on("keep-bots")?,
            failed_events_max: s.get("failed-events-max", positive)?,
            honor_dnt: s.on("honor-dnt")?,
            max_ids_per_cookie: s.get("max-ids-per-cookie", positive)?,
            server: ServerLimits {
                header_read_timeout: ms("header-read-timeout-ms", at_least_one_ms)?,
                request_timeout: ms("request-timeout-ms", at_least_one_ms)?,
                max_connections: s.get("max-connections", positive)?,
                max_connections_per_client: s.get("max-connections-per-client", positive)?,
            },
            geoip: match s.given("geoip-csv") {
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
            public_hosts: s
                .optional("public-hosts", |h: &PublicHosts| Ok(h.clone()))?
                .unwrap_or_default(),
            metrics_listen: s.optional("metrics-listen", |a: &SocketAddr| Ok(*a))?,
            refuse_opaque_origin: s.on("refuse-opaque-origin")?,
            clickhouse: match store {
                Some(Store::ClickHouse(endpoint)) => Some(ClickHouseOptions {
                    endpoint,
                    cluster: s.given("clickhouse-cluster").map(|(_, v)| v),
                    insert_quorum: s.get("clickhouse-insert-quorum", positive)?,
                }),
                _ => None,
            },
            peers: peer_list(&s)?,
        })
    }
}

/// What `--store` names.
enum Store {
    /// `sqlite:PATH`.
    Sqlite(PathBuf),
    /// `clickhouse:URL[,URL…]`, with the credentials of the environment.
    ClickHouse(Endpoint),
}

/// `--store` (`SPOOR_STORE`), if given.
fn store_of(s: &flags::Settings<'_>) -> Result<Option<Store>, ConfigError> {
    let Some((source_name, value)) = s.given("store") else {
        return Ok(None);
    };
    let fail = |reason: String| ConfigError {
        source_name: source_name.clone(),
        value: value.clone(),
        reason,
    };
    if let Some(path) = value.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err(fail("sqlite: needs a file path".into()));
        }
        return Ok(Some(Store::Sqlite(PathBuf::from(path))));
    }
    if let Some(spec) = value.strip_prefix("clickhouse:") {
        let endpoint = Endpoint::parse(
            spec,
            s.env("SPOOR_CLICKHOUSE_USER"),
            s.env("SPOOR_CLICKHOUSE_PASSWORD"),
        )
        .map_err(fail)?;
        return Ok(Some(Store::ClickHouse(endpoint)));
    }
    Err(fail("must start with sqlite: or clickhouse:".into()))
}

/// `--peers` with `--peer-self`, or neither.
fn peer_list(s: &Settings<'_>) -> Result<Option<crate::peers::list::PeerList>, ConfigError> {
    match (s.given("peers"), s.given("peer-self")) {
        (None, None) => Ok(None),
        (None, Some((source_name, value))) => Err(ConfigError {
            source_name,
            value,
            reason: "this collector's URL among --peers, which are not given".into(),
        }),
        (Some((source_name, value)), me) => {
            let me = me.map(|(_, v)| v).unwrap_or_default();
            crate::peers::list::PeerList::parse(&value, &me)
                .map(Some)
                .map_err(|reason| ConfigError {
                    source_name,
                    value,
                    reason,
                })
        }
    }
}

/// The database file the subcommands open: `flag` (their `--db`) when given, else
/// `SPOOR_DB` (read by `env`), else the server's default.
pub fn database_path(flag: Option<PathBuf>, env: impl Fn(&str) -> Option<String>) -> PathBuf {
    flag.or_else(|| env(&flags::variable("db")).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(flags::default_of("db").unwrap_or_default()))
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
