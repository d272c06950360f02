//! The command line of the server: one optional flag per setting, each overriding its
//! `SPOOR_*` variable (values stay text here; [`Config::load`](super::Config::load)
//! parses and checks them).

use clap::Parser;

/// Command-line flags; each one overrides its `SPOOR_*` variable.
#[derive(Debug, Parser)]
#[command(
    name = "spoor-collector",
    version,
    about = "Spoor analytics collector",
    after_help = "Privacy subcommands: `spoor-collector export --help`, `spoor-collector erase --help`. Reports: `spoor-collector rebuild-reports --help`."
)]
pub(super) struct Flags {
    /// Address to listen on [env: SPOOR_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long)]
    pub(super) listen: Option<String>,
    /// SQLite database file [env: SPOOR_DB] [default: data/spoor.db]
    #[arg(long)]
    pub(super) db: Option<String>,
    /// Directory of the site served at / instead of the embedded one [env: SPOOR_WWW]
    #[arg(long)]
    pub(super) www: Option<String>,
    /// Directory with a built spoor.js and spoor_bg.wasm instead of the embedded ones [env: SPOOR_BEACON]
    #[arg(long)]
    pub(super) beacon: Option<String>,
    /// Comma-separated CIDRs of trusted reverse proxies [env: SPOOR_TRUSTED_PROXIES]
    #[arg(long)]
    pub(super) trusted_proxies: Option<String>,
    /// Header trusted proxies write the client address to: x-forwarded-for or forwarded
    /// [env: SPOOR_CLIENT_IP_HEADER] [default: x-forwarded-for]
    #[arg(long)]
    pub(super) client_ip_header: Option<String>,
    /// Requests waiting for the writer before 503 [env: SPOOR_QUEUE_CAPACITY] [default: 1024]
    #[arg(long)]
    pub(super) queue_capacity: Option<String>,
    /// Most events per transaction [env: SPOOR_BATCH_MAX_EVENTS] [default: 500]
    #[arg(long)]
    pub(super) batch_max_events: Option<String>,
    /// Longest wait to fill a batch, in ms [env: SPOOR_BATCH_MAX_WAIT_MS] [default: 5]
    #[arg(long)]
    pub(super) batch_max_wait_ms: Option<String>,
    /// Site time zone for session days: an IANA name (Europe/Paris), UTC, minutes east of UTC, or ±HH:MM
    /// [env: SPOOR_SITE_TIMEZONE] [default: UTC]
    #[arg(long)]
    pub(super) site_timezone: Option<String>,
    /// Minutes of inactivity that end a session [env: SPOOR_SESSION_IDLE_MINUTES] [default: 30]
    #[arg(long)]
    pub(super) session_idle_minutes: Option<String>,
    /// Never link a new client id to the visitor behind its fingerprint (no recovery)
    /// [env: SPOOR_STRICT_IDENTITY] [default: false]
    #[arg(long)]
    pub(super) strict_identity: bool,
    /// Largest /collect body in bytes [env: SPOOR_MAX_BODY_BYTES] [default: 65536]
    #[arg(long)]
    pub(super) max_body_bytes: Option<String>,
    /// Most events per batch [env: SPOOR_MAX_EVENTS_PER_BATCH] [default: 100]
    #[arg(long)]
    pub(super) max_events_per_batch: Option<String>,
    /// Longest page URL or link target in bytes [env: SPOOR_MAX_URL_BYTES] [default: 2048]
    #[arg(long)]
    pub(super) max_url_bytes: Option<String>,
    /// Longest title kept, in characters [env: SPOOR_MAX_TITLE_CHARS] [default: 300]
    #[arg(long)]
    pub(super) max_title_chars: Option<String>,
    /// Most keys in a custom event's props [env: SPOOR_MAX_PROPS] [default: 20]
    #[arg(long)]
    pub(super) max_props: Option<String>,
    /// Longest string property value, in characters [env: SPOOR_MAX_PROP_VALUE_CHARS]
    /// [default: 256]
    #[arg(long)]
    pub(super) max_prop_value_chars: Option<String>,
    /// Deepest JSON nesting in a body [env: SPOOR_MAX_JSON_DEPTH] [default: 8]
    #[arg(long)]
    pub(super) max_json_depth: Option<String>,
    /// How far ahead of the server clock an event may be, in ms
    /// [env: SPOOR_MAX_CLOCK_AHEAD_MS] [default: 86400000]
    #[arg(long)]
    pub(super) max_clock_ahead_ms: Option<String>,
    /// How old an event may be, in ms [env: SPOOR_MAX_EVENT_AGE_MS] [default: 2592000000]
    #[arg(long)]
    pub(super) max_event_age_ms: Option<String>,
    /// Sites and their hostnames: id=host,host;id=host [env: SPOOR_SITES]
    /// [default: demo=localhost,127.0.0.1]
    #[arg(long)]
    pub(super) sites: Option<String>,
    /// Longest a request waits for its commit before 503, in ms; also SQLite's busy timeout
    /// [env: SPOOR_STORE_DEADLINE_MS] [default: 5000]
    #[arg(long)]
    pub(super) store_deadline_ms: Option<String>,
    /// Commit durability: full or normal [env: SPOOR_SQLITE_SYNCHRONOUS] [default: full]
    #[arg(long)]
    pub(super) sqlite_synchronous: Option<String>,
    /// Cap on the database size in pages [env: SPOOR_SQLITE_MAX_PAGES] [default: none]
    #[arg(long)]
    pub(super) sqlite_max_pages: Option<String>,
    /// Time to drain after SIGTERM, in ms [env: SPOOR_SHUTDOWN_DEADLINE_MS] [default: 10000]
    #[arg(long)]
    pub(super) shutdown_deadline_ms: Option<String>,
    /// Days after which events are purged [env: SPOOR_RETENTION_DAYS] [default: 762]
    #[arg(long)]
    pub(super) retention_days: Option<String>,
    /// File whose first line is the admin token (or set SPOOR_ADMIN_TOKEN)
    /// [env: SPOOR_ADMIN_TOKEN_FILE] [default: none: a token is made at first start]
    #[arg(long)]
    pub(super) admin_token_file: Option<String>,
    /// Requests a second per client on /collect, 0 for no limit
    /// [env: SPOOR_RATE_LIMIT_PER_SECOND] [default: 20]
    #[arg(long)]
    pub(super) rate_limit_per_second: Option<String>,
    /// Requests a client may burst [env: SPOOR_RATE_LIMIT_BURST] [default: 100]
    #[arg(long)]
    pub(super) rate_limit_burst: Option<String>,
    /// Most clients the rate limiter tracks [env: SPOOR_RATE_LIMIT_CLIENTS] [default: 100000]
    #[arg(long)]
    pub(super) rate_limit_clients: Option<String>,
    /// Store bot traffic instead of filtering it [env: SPOOR_KEEP_BOTS] [default: false]
    #[arg(long)]
    pub(super) keep_bots: bool,
    /// Rows kept in failed_events [env: SPOOR_FAILED_EVENTS_MAX] [default: 10000]
    #[arg(long)]
    pub(super) failed_events_max: Option<String>,
    /// Honour DNT / Sec-GPC: no cookie, no persistent id: true or false
    /// [env: SPOOR_HONOR_DNT] [default: true]
    #[arg(long)]
    pub(super) honor_dnt: Option<String>,
    /// Longest wait for a request head (and idle keep-alive), in ms
    /// [env: SPOOR_HEADER_READ_TIMEOUT_MS] [default: 10000]
    #[arg(long)]
    pub(super) header_read_timeout_ms: Option<String>,
    /// Longest time to read a body and answer, in ms [env: SPOOR_REQUEST_TIMEOUT_MS]
    /// [default: 30000]
    #[arg(long)]
    pub(super) request_timeout_ms: Option<String>,
    /// Most connections served at once [env: SPOOR_MAX_CONNECTIONS] [default: 1024]
    #[arg(long)]
    pub(super) max_connections: Option<String>,
    /// Most connections one client address (IPv6: /64) holds; trusted proxies are exempt
    /// [env: SPOOR_MAX_CONNECTIONS_PER_CLIENT] [default: 32]
    #[arg(long)]
    pub(super) max_connections_per_client: Option<String>,
    /// Most new client ids linked to one server cookie's visitor a day
    /// [env: SPOOR_MAX_IDS_PER_COOKIE] [default: 10]
    #[arg(long)]
    pub(super) max_ids_per_cookie: Option<String>,
    /// CSV of address ranges and countries (first,last,CC) for GeoIP
    /// [env: SPOOR_GEOIP_CSV] [default: none]
    #[arg(long)]
    pub(super) geoip_csv: Option<String>,
    /// Query parameters a site's stored URLs keep besides utm_*: site=name,name;site=name
    /// [env: SPOOR_KEEP_QUERY_PARAMS] [default: none]
    #[arg(long)]
    pub(super) keep_query_params: Option<String>,
    /// Loopback clients naming a loopback host read reports without a credential; refused
    /// with --trusted-proxies [env: SPOOR_INSECURE_LOOPBACK_ADMIN] [default: false]
    #[arg(long)]
    pub(super) insecure_loopback_admin: bool,
    /// Hostnames /api, /metrics and the dashboard answer under, comma-separated
    /// [env: SPOOR_PUBLIC_HOSTS] [default: localhost,127.0.0.1,[::1] and the listen host]
    #[arg(long)]
    pub(super) public_hosts: Option<String>,
    /// Address serving /metrics alone, without credentials [env: SPOOR_METRICS_LISTEN]
    /// [default: none]
    #[arg(long)]
    pub(super) metrics_listen: Option<String>,
    /// File of site=secret lines: the HMAC-SHA256 keys that sign user ids for identify
    /// [env: SPOOR_IDENTIFY_SECRETS_FILE, or the entries in SPOOR_IDENTIFY_SECRETS] [default: none]
    #[arg(long)]
    pub(super) identify_secrets_file: Option<String>,
    /// Comma-separated sites whose identify events must be signed
    /// [env: SPOOR_IDENTIFY_REQUIRED] [default: none]
    #[arg(long)]
    pub(super) identify_required: Option<String>,
    /// File of site=key lines: the keys of server-side clients on POST /ingest
    /// [env: SPOOR_INGEST_KEYS_FILE, or the entries in SPOOR_INGEST_KEYS] [default: none]
    #[arg(long)]
    pub(super) ingest_keys_file: Option<String>,
    /// Refuse pages with an opaque origin (Origin: null, a sandboxed frame) on /collect and
    /// the beacon's files [env: SPOOR_REFUSE_OPAQUE_ORIGIN] [default: false]
    #[arg(long)]
    pub(super) refuse_opaque_origin: bool,
    /// Active visitors the ingest writer caches identity memory for
    /// [env: SPOOR_HOT_VISITORS] [default: 100000]
    #[arg(long)]
    pub(super) hot_visitors: Option<String>,
}
