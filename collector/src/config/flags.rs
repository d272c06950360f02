//! Every option of the server, defined once: its flag, its default and a line of help
//! ([`OPTIONS`]). The `SPOOR_*` variable is the flag's name in capitals (`--queue-capacity`
//! is `SPOOR_QUEUE_CAPACITY`), so it is not written again either. The command line is built
//! from the table ([`command`]), `--help` shows every flag with its variable and default,
//! [`Settings`] reads a value from the flag, else the variable, else the default, and names
//! where a bad value came from; `docs/API.md`'s table is checked against this one by a
//! test (`config::tests`).
//!
//! Secrets have no flag (`ps` would show them): `SPOOR_ADMIN_TOKEN`,
//! `SPOOR_IDENTIFY_SECRETS` and `SPOOR_INGEST_KEYS` are read by their own code, beside the
//! `--*-file` option that names a file holding them.

use std::str::FromStr;

use clap::builder::PossibleValuesParser;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::ConfigError;

/// How an option is given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Takes {
    /// `--flag VALUE`.
    Value,
    /// `--flag` alone means `true`; `--flag false` and the variable's `true`/`false` work
    /// too.
    Switch,
}

/// One option of the server.
#[derive(Debug, Clone, Copy)]
pub(super) struct Opt {
    /// The flag without its dashes, such as `queue-capacity`.
    pub(super) flag: &'static str,
    /// The default as it would be typed, or `None` when the option is off unless given.
    pub(super) default: Option<&'static str>,
    /// How the flag takes its value.
    pub(super) takes: Takes,
    /// One line for `--help`.
    pub(super) help: &'static str,
}

const fn value(flag: &'static str, default: Option<&'static str>, help: &'static str) -> Opt {
    Opt {
        flag,
        default,
        takes: Takes::Value,
        help,
    }
}

const fn switch(flag: &'static str, default: bool, help: &'static str) -> Opt {
    Opt {
        flag,
        default: Some(if default { "true" } else { "false" }),
        takes: Takes::Switch,
        help,
    }
}

/// The options, in the order `--help` lists them.
pub(super) const OPTIONS: &[Opt] = &[
    value("listen", Some("127.0.0.1:8080"), "Address to listen on"),
    value("db", Some("data/spoor.db"), "SQLite database file"),
    value(
        "www",
        None,
        "Directory of the site served at / instead of the embedded one",
    ),
    value(
        "beacon",
        None,
        "Directory with a built spoor.js and spoor_bg.wasm instead of the embedded ones",
    ),
    value(
        "trusted-proxies",
        None,
        "Comma-separated CIDRs of trusted reverse proxies",
    ),
    value(
        "client-ip-header",
        Some("x-forwarded-for"),
        "Header trusted proxies write the client address to: x-forwarded-for or forwarded",
    ),
    value(
        "queue-capacity",
        Some("1024"),
        "Requests waiting for the writer before 503",
    ),
    value(
        "batch-max-events",
        Some("500"),
        "Most events per transaction",
    ),
    value(
        "batch-max-wait-ms",
        Some("0"),
        "Longest wait to fill a batch, in ms",
    ),
    value(
        "site-timezone",
        Some("UTC"),
        "Site time zone for session days: an IANA name (Europe/Paris), UTC, minutes east of UTC, or ±HH:MM",
    ),
    value(
        "session-idle-minutes",
        Some("30"),
        "Minutes of inactivity that end a session",
    ),
    switch(
        "strict-identity",
        false,
        "Never link a new client id to the visitor behind its fingerprint (no recovery)",
    ),
    value(
        "max-body-bytes",
        Some("65536"),
        "Largest /collect body in bytes",
    ),
    value("max-events-per-batch", Some("100"), "Most events per batch"),
    value(
        "max-url-bytes",
        Some("2048"),
        "Longest page URL or link target in bytes",
    ),
    value(
        "max-title-chars",
        Some("300"),
        "Longest title kept, in characters",
    ),
    value(
        "max-props",
        Some("20"),
        "Most keys in a custom event's props",
    ),
    value(
        "max-prop-value-chars",
        Some("256"),
        "Longest string property value, in characters",
    ),
    value(
        "max-json-depth",
        Some("8"),
        "Deepest JSON nesting in a body (at least 4)",
    ),
    value(
        "max-clock-ahead-ms",
        Some("86400000"),
        "How far ahead of the server clock an event may be, in ms",
    ),
    value(
        "max-event-age-ms",
        Some("2592000000"),
        "How old an event may be, in ms",
    ),
    value(
        "sites",
        Some("demo=localhost,127.0.0.1"),
        "Sites and their hostnames: id=host,host;id=host",
    ),
    value(
        "store-deadline-ms",
        Some("5000"),
        "Longest a request waits for its commit before 503, in ms; also SQLite's busy timeout",
    ),
    value(
        "sqlite-synchronous",
        Some("full"),
        "Commit durability: full or normal",
    ),
    value(
        "sqlite-max-pages",
        None,
        "Cap on the database size in pages of 4 KiB",
    ),
    value(
        "shutdown-deadline-ms",
        Some("10000"),
        "Time to drain after SIGTERM, in ms",
    ),
    value(
        "retention-days",
        Some("762"),
        "Days after which events are purged",
    ),
    value(
        "admin-token-file",
        None,
        "File whose first line is the admin token (or set SPOOR_ADMIN_TOKEN; none: a token is made at first start)",
    ),
    value(
        "rate-limit-per-second",
        Some("20"),
        "Requests a second per client on /collect, 0 for no limit",
    ),
    value(
        "rate-limit-burst",
        Some("100"),
        "Requests a client may burst",
    ),
    value(
        "rate-limit-clients",
        Some("100000"),
        "Most clients the rate limiter tracks",
    ),
    switch(
        "keep-bots",
        false,
        "Store bot traffic instead of filtering it",
    ),
    value(
        "failed-events-max",
        Some("10000"),
        "Rows kept in failed_events",
    ),
    switch(
        "honor-dnt",
        true,
        "Honour DNT / Sec-GPC: no cookie, no persistent id",
    ),
    value(
        "header-read-timeout-ms",
        Some("10000"),
        "Longest wait for a request head (and idle keep-alive), in ms",
    ),
    value(
        "request-timeout-ms",
        Some("30000"),
        "Longest time to read a body and answer, in ms",
    ),
    value(
        "max-connections",
        Some("1024"),
        "Most connections served at once",
    ),
    value(
        "max-connections-per-client",
        Some("32"),
        "Most connections one client address (IPv6: /64) holds; trusted proxies are exempt",
    ),
    value(
        "max-ids-per-cookie",
        Some("10"),
        "Most new client ids linked to one server cookie's visitor a day",
    ),
    value(
        "geoip-csv",
        None,
        "CSV of address ranges and countries (first,last,CC) for GeoIP",
    ),
    value(
        "keep-query-params",
        None,
        "Query parameters a site's stored URLs keep besides utm_*: site=name,name;site=name",
    ),
    switch(
        "insecure-loopback-admin",
        false,
        "Loopback clients naming a loopback host read reports without a credential; refused with --trusted-proxies",
    ),
    value(
        "public-hosts",
        None,
        "Hostnames /api, /metrics and the dashboard answer under, comma-separated (none: localhost, 127.0.0.1, [::1] and the listen host)",
    ),
    value(
        "metrics-listen",
        None,
        "Address serving /metrics alone, without credentials",
    ),
    value(
        "identify-secrets-file",
        None,
        "File of site=secret lines, the HMAC-SHA256 keys that sign user ids for identify (or the entries in SPOOR_IDENTIFY_SECRETS)",
    ),
    value(
        "identify-required",
        None,
        "Comma-separated sites whose identify events must be signed",
    ),
    value(
        "ingest-keys-file",
        None,
        "File of site=key lines, the keys of server-side clients on POST /ingest (or the entries in SPOOR_INGEST_KEYS)",
    ),
    switch(
        "refuse-opaque-origin",
        false,
        "Refuse pages with an opaque origin (Origin: null, a sandboxed frame) on /collect and the beacon's files",
    ),
    value(
        "hot-visitors",
        Some("100000"),
        "Active visitors the ingest writer caches identity memory for",
    ),
    value(
        "store",
        None,
        "Where events are stored: sqlite:PATH (the default, as --db) or clickhouse:http://HOST:PORT/DATABASE[,…] (replicas to fail over between; user and password from SPOOR_CLICKHOUSE_USER and SPOOR_CLICKHOUSE_PASSWORD)",
    ),
    value(
        "clickhouse-cluster",
        None,
        "Name of the ClickHouse cluster (remote_servers) to create the tables on, as replicated shards under Distributed tables",
    ),
    value(
        "clickhouse-insert-quorum",
        Some("2"),
        "Replicas of a shard that must have an insert before it is acknowledged (capped at the shard's replicas; 1: keep accepting while a replica is down)",
    ),
    value(
        "peers",
        None,
        "Base URLs of every collector sharing the store, this one's included (http://HOST:PORT, comma-separated): each visitor is committed by one of them",
    ),
    value(
        "peer-self",
        None,
        "This collector's URL as it appears in --peers",
    ),
];

/// The variable of `flag`: `SPOOR_` and the flag in capitals, `-` as `_`.
pub(super) fn variable(flag: &str) -> String {
    format!("SPOOR_{}", flag.to_uppercase().replace('-', "_"))
}

/// The default of `flag`, as typed.
pub(super) fn default_of(flag: &str) -> Option<&'static str> {
    OPTIONS
        .iter()
        .find(|o| o.flag == flag)
        .and_then(|o| o.default)
}

/// The server's command line. With `show_variables`, each option names its variable in
/// `--help` (clap would then also read it from the process environment, which
/// [`Settings`] does itself from the lookup it is given, so the parsing command has none).
pub(super) fn command(show_variables: bool) -> Command {
    let command = Command::new("spoor-collector")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Spoor analytics collector")
        .after_help(
            "Privacy subcommands: `spoor-collector export --help`, `spoor-collector erase --help`. Reports: `spoor-collector rebuild-reports --help`. Admin token: `spoor-collector admin-token --help`.",
        );
    OPTIONS.iter().fold(command, |command, o| {
        let mut arg = Arg::new(o.flag)
            .long(o.flag)
            .value_name(o.flag.to_uppercase().replace('-', "_"))
            .help(o.help);
        if let Some(default) = o.default {
            arg = arg.default_value(default);
        }
        if show_variables {
            arg = arg.env(variable(o.flag)).hide_env_values(true);
        }
        arg = match o.takes {
            Takes::Value => arg.action(ArgAction::Set),
            Takes::Switch => arg
                .action(ArgAction::Set)
                .num_args(0..=1)
                .default_missing_value("true")
                .value_parser(PossibleValuesParser::new(["true", "false"])),
        };
        command.arg(arg)
    })
}

/// The parsed command line and the environment, answering each option's value.
pub(super) struct Settings<'e> {
    matches: ArgMatches,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl<'e> Settings<'e> {
    /// Parses `args` (program name first). `--help` and `--version` come back as the
    /// `clap::Error` that prints them.
    pub(super) fn parse<I, T>(
        args: I,
        env: &'e dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings<'e>, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        match command(false).try_get_matches_from(&args) {
            Ok(matches) => Ok(Settings { matches, env }),
            Err(e)
                if matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) =>
            {
                // The same answer from the command that lists the variables.
                Err(command(true).try_get_matches_from(&args).err().unwrap_or(e))
            }
            Err(e) => Err(e),
        }
    }

    /// The raw value of `flag` with where it came from, as an error names it: the flag
    /// (`--queue-capacity`) when given, else the variable (`SPOOR_QUEUE_CAPACITY`) when
    /// set, else the default (named by the flag); `None` when none of them is.
    /// Whether `flag` was given on the command line or by its variable (not defaulted).
    pub(super) fn explicit(&self, flag: &str) -> bool {
        self.matches.value_source(flag) == Some(ValueSource::CommandLine)
            || (self.env)(&variable(flag)).is_some()
    }

    pub(super) fn given(&self, flag: &str) -> Option<(String, String)> {
        let from_line = self.matches.value_source(flag) == Some(ValueSource::CommandLine);
        let value = || self.matches.get_one::<String>(flag).cloned();
        if from_line {
            return value().map(|v| (format!("--{flag}"), v));
        }
        let var = variable(flag);
        if let Some(v) = (self.env)(&var) {
            return Some((var, v));
        }
        value().map(|v| (format!("--{flag}"), v))
    }

    /// The value of `flag` parsed as `T` and refined by `check`; `None` when it has no
    /// value and no default.
    pub(super) fn optional<T, U>(
        &self,
        flag: &str,
        check: impl Fn(&T) -> Result<U, String>,
    ) -> Result<Option<U>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let Some((source_name, value)) = self.given(flag) else {
            return Ok(None);
        };
        let parsed = value.trim().parse::<T>().map_err(|e| e.to_string());
        parsed
            .and_then(|v| check(&v))
            .map(Some)
            .map_err(|reason| ConfigError {
                source_name,
                value,
                reason,
            })
    }

    /// The value of `flag`, which has a default; see [`Settings::optional`].
    pub(super) fn get<T, U>(
        &self,
        flag: &str,
        check: impl Fn(&T) -> Result<U, String>,
    ) -> Result<U, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.optional(flag, check)?.ok_or_else(|| ConfigError {
            source_name: format!("--{flag}"),
            value: String::new(),
            reason: "the option has no default (a bug in the option table)".into(),
        })
    }

    /// A switch's value.
    pub(super) fn on(&self, flag: &str) -> Result<bool, ConfigError> {
        self.get(flag, |b: &bool| Ok(*b))
    }

    /// The environment lookup, for the secrets that have no flag.
    pub(super) fn env(&self, var: &str) -> Option<String> {
        (self.env)(var)
    }
}
