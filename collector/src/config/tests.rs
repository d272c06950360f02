//! The configuration from flags, variables and defaults.

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
    assert_eq!(c.www, None, "the embedded site");
    assert_eq!(c.beacon, None, "the embedded beacon");
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
    let site = std::env::temp_dir();
    let site = site.to_str().unwrap();
    let c = load(
        &["--db", "/tmp/a.db"],
        &[("SPOOR_DB", "/tmp/b.db"), ("SPOOR_WWW", site)],
    )?;
    assert_eq!(c.db, PathBuf::from("/tmp/a.db"));
    assert_eq!(c.www, Some(PathBuf::from(site)));
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
fn the_admin_token_comes_from_env_or_a_file_and_is_never_echoed() -> Result<(), LoadError> {
    assert!(load(&[], &[])?.admin_token.is_none());
    let c = load(&[], &[("SPOOR_ADMIN_TOKEN", "env-token-0123456789")])?;
    assert!(
        c.admin_token
            .is_some_and(|t| t.matches("env-token-0123456789"))
    );
    let err = load(&[], &[("SPOOR_ADMIN_TOKEN", "short-secret")])
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.starts_with("SPOOR_ADMIN_TOKEN") && !e.contains("short-secret")));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let path = file.display().to_string();
    std::fs::write(&file, "file-token-0123456789\n").unwrap();
    let c = load(&["--admin-token-file", &path], &[])?;
    assert!(
        c.admin_token
            .is_some_and(|t| t.matches("file-token-0123456789"))
    );
    let c = load(&[], &[("SPOOR_ADMIN_TOKEN_FILE", &path)])?;
    assert!(
        c.admin_token
            .is_some_and(|t| t.matches("file-token-0123456789"))
    );
    let both = load(
        &["--admin-token-file", &path],
        &[("SPOOR_ADMIN_TOKEN", "env-token-0123456789")],
    );
    assert!(both.is_err(), "one way only");
    let missing = load(&["--admin-token-file", "/nonexistent/spoor-token"], &[]);
    assert!(
        missing
            .err()
            .is_some_and(|e| e.to_string().contains("cannot read"))
    );
    Ok(())
}

#[test]
fn a_blank_admin_token_is_an_error_and_the_flag_is_gone() {
    for blank in ["", "   "] {
        let err = load(&[], &[("SPOOR_ADMIN_TOKEN", blank)])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("blank")), "{blank:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "\n").unwrap();
    let path = file.display().to_string();
    assert!(load(&["--admin-token-file", &path], &[]).is_err());
    assert!(
        matches!(
            load(&["--admin-token", "flag-token-0123456789"], &[]),
            Err(LoadError::Flags(_))
        ),
        "a token on the command line shows in ps"
    );
}

#[test]
fn loopback_without_a_credential_is_an_opt_in_refused_behind_proxies() -> Result<(), LoadError> {
    assert!(!load(&[], &[])?.insecure_loopback_admin);
    assert!(load(&["--insecure-loopback-admin"], &[])?.insecure_loopback_admin);
    assert!(load(&[], &[("SPOOR_INSECURE_LOOPBACK_ADMIN", "true")])?.insecure_loopback_admin);
    let err = load(
        &[
            "--insecure-loopback-admin",
            "--trusted-proxies",
            "127.0.0.1",
        ],
        &[],
    )
    .err()
    .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("trusted-proxies")));
    Ok(())
}

#[test]
fn public_hosts_and_the_metrics_address() -> Result<(), LoadError> {
    let c = load(&[], &[])?;
    assert_eq!(c.public_hosts, PublicHosts::default());
    assert_eq!(c.metrics_listen, None);
    let c = load(
        &["--public-hosts", "stats.example.com"],
        &[("SPOOR_METRICS_LISTEN", "127.0.0.1:9090")],
    )?;
    assert_eq!(c.public_hosts.first(), Some("stats.example.com"));
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
    assert!(load(&["--public-hosts", "https://x.example"], &[]).is_err());
    assert!(load(&["--metrics-listen", "nope"], &[]).is_err());
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
fn limits_default_to_the_documented_values_and_are_set_by_flag_or_env() -> Result<(), LoadError> {
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

#[test]
fn kept_query_params_are_per_configured_site() -> Result<(), LoadError> {
    assert_eq!(load(&[], &[])?.keep_query_params, KeptParams::default());
    let c = load(
        &["--sites", "demo=localhost;shop=shop.example"],
        &[("SPOOR_KEEP_QUERY_PARAMS", "demo=q,page;shop=sku")],
    )?;
    assert_eq!(c.keep_query_params.for_site("demo"), ["q", "page"]);
    assert_eq!(c.keep_query_params.for_site("shop"), ["sku"]);
    let c = load(
        &["--keep-query-params", "demo=id"],
        &[("SPOOR_KEEP_QUERY_PARAMS", "demo=q")],
    )?;
    assert_eq!(c.keep_query_params.for_site("demo"), ["id"]);
    let err = load(&["--keep-query-params", "shop=sku"], &[])
        .err()
        .map(|e| e.to_string());
    assert!(
        err.is_some_and(|e| e.starts_with("--keep-query-params") && e.contains("\"shop\"")),
        "a site that is not configured is an error"
    );
    assert!(load(&[], &[("SPOOR_KEEP_QUERY_PARAMS", "demo")]).is_err());
    Ok(())
}

#[test]
fn the_connection_cap_per_client_is_configurable() -> Result<(), LoadError> {
    assert_eq!(load(&[], &[])?.server.max_connections_per_client, 32);
    assert_eq!(
        load(&["--max-connections-per-client", "4"], &[])?
            .server
            .max_connections_per_client,
        4
    );
    assert_eq!(
        load(&[], &[("SPOOR_MAX_CONNECTIONS_PER_CLIENT", "8")])?
            .server
            .max_connections_per_client,
        8
    );
    assert!(load(&["--max-connections-per-client", "0"], &[]).is_err());
    Ok(())
}

#[test]
fn the_daily_cap_of_ids_per_cookie_is_configurable() -> Result<(), LoadError> {
    assert_eq!(load(&[], &[])?.max_ids_per_cookie, 10);
    assert_eq!(
        load(&["--max-ids-per-cookie", "3"], &[])?.max_ids_per_cookie,
        3
    );
    assert_eq!(
        load(&[], &[("SPOOR_MAX_IDS_PER_COOKIE", "25")])?.max_ids_per_cookie,
        25
    );
    assert!(load(&["--max-ids-per-cookie", "0"], &[]).is_err());
    Ok(())
}

#[test]
fn override_directories_that_do_not_exist_stop_the_start() -> Result<(), LoadError> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_string_lossy().into_owned();
    let missing = dir.path().join("nope").to_string_lossy().into_owned();
    let err = load(&["--www", &missing], &[]).err().map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.starts_with("--www") && e.contains("no such directory")),
        "{err:?}"
    );
    let err = load(&[], &[("SPOOR_BEACON", &missing)])
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.starts_with("SPOOR_BEACON")));
    let c = load(&["--beacon", &root, "--www", &root], &[])?;
    assert_eq!(c.beacon.as_deref(), Some(dir.path()));
    assert_eq!(c.www.as_deref(), Some(dir.path()));
    Ok(())
}

#[test]
fn identity_secrets_come_from_the_environment_or_a_file_never_a_flag()
-> Result<(), Box<dyn std::error::Error>> {
    let c = load(&[], &[])?;
    assert!(c.identify_secrets.is_empty() && c.identify_required.is_empty());
    let c = load(
        &["--identify-required", "demo"],
        &[("SPOOR_IDENTIFY_SECRETS", "demo=0123456789abcdef")],
    )?;
    assert_eq!(
        c.identify_secrets.get("demo"),
        Some(&b"0123456789abcdef"[..])
    );
    assert_eq!(c.identify_required, ["demo"]);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("secrets");
    std::fs::write(&file, "# keys\ndemo=fedcba9876543210\n")?;
    let path = file.to_string_lossy().to_string();
    let c = load(&["--identify-secrets-file", &path], &[])?;
    assert_eq!(
        c.identify_secrets.get("demo"),
        Some(&b"fedcba9876543210"[..])
    );
    let c = load(&[], &[("SPOOR_INGEST_KEYS_FILE", path.as_str())])?;
    assert_eq!(c.ingest_keys.get("demo"), Some(&b"fedcba9876543210"[..]));
    // A secret is never a flag's value.
    assert!(load(&["--identify-secrets", "demo=0123456789abcdef"], &[]).is_err());
    Ok(())
}

#[test]
fn bad_identity_settings_stop_the_start_without_echoing_a_secret() {
    let err = |args: &[&str], env: &[(&str, &str)]| {
        load(args, env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let short = err(&[], &[("SPOOR_IDENTIFY_SECRETS", "demo=short")]);
    assert!(
        short.starts_with("SPOOR_IDENTIFY_SECRETS") && !short.contains("short\""),
        "{short}"
    );
    let unknown = err(&[], &[("SPOOR_INGEST_KEYS", "shop=0123456789abcdef")]);
    assert!(
        unknown.contains("\"shop\" is not one of the configured sites"),
        "{unknown}"
    );
    assert!(!unknown.contains("0123456789abcdef"), "{unknown}");
    let no_secret = err(&["--identify-required", "demo"], &[]);
    assert!(no_secret.contains("has no identity secret"), "{no_secret}");
    let both = err(
        &["--identify-secrets-file", "/nonexistent"],
        &[("SPOOR_IDENTIFY_SECRETS", "demo=0123456789abcdef")],
    );
    assert!(both.contains("one way"), "{both}");
    let missing = err(&["--identify-secrets-file", "/nonexistent/spoor"], &[]);
    assert!(missing.starts_with("--identify-secrets-file"), "{missing}");
}

#[test]
fn opaque_origins_are_answered_unless_refused() -> Result<(), LoadError> {
    assert!(!load(&[], &[])?.refuse_opaque_origin);
    assert!(load(&["--refuse-opaque-origin"], &[])?.refuse_opaque_origin);
    assert!(load(&[], &[("SPOOR_REFUSE_OPAQUE_ORIGIN", "true")])?.refuse_opaque_origin);
    assert!(!load(&[], &[("SPOOR_REFUSE_OPAQUE_ORIGIN", "false")])?.refuse_opaque_origin);
    assert!(load(&[], &[("SPOOR_REFUSE_OPAQUE_ORIGIN", "maybe")]).is_err());
    Ok(())
}

/// The rows of `doc`'s option tables (`| --flag | variable | default | meaning |`), as
/// (flag, variable cell, default cell).
fn documented_options(doc: &str) -> Vec<(String, String, String)> {
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let flag = cells.get(1)?.strip_prefix("`--")?.strip_suffix('`')?;
            let variable = cells.get(2)?;
            variable.contains("`SPOOR_").then(|| {
                (
                    flag.to_string(),
                    variable.to_string(),
                    cells.get(3).copied().unwrap_or_default().to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn the_documented_options_are_the_option_table() -> Result<(), Box<dyn std::error::Error>> {
    for doc in ["API.md", "OPERATIONS.md"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(doc);
        let rows = documented_options(&std::fs::read_to_string(&path)?);
        assert!(!rows.is_empty(), "{doc} has no option table");
        for (flag, variable, default) in &rows {
            let option = flags::OPTIONS.iter().find(|o| o.flag == flag);
            let option = option.ok_or_else(|| format!("{doc}: --{flag} is not an option"))?;
            assert!(
                variable.contains(&format!("`{}`", flags::variable(flag))),
                "{doc}: --{flag} is read from {}, not {variable}",
                flags::variable(flag)
            );
            if let Some(value) = option.default {
                assert!(
                    default.contains(&format!("`{value}`")) || default.starts_with(value),
                    "{doc}: --{flag} defaults to {value}, not {default}"
                );
            }
        }
        if doc == "API.md" {
            for option in flags::OPTIONS {
                assert!(
                    rows.iter().any(|(flag, _, _)| flag == option.flag),
                    "{doc} does not list --{}",
                    option.flag
                );
            }
        }
    }
    Ok(())
}

#[test]
fn help_lists_every_option_with_its_variable_and_default() {
    let help = match load(&["--help"], &[]) {
        Err(LoadError::Flags(e)) => e.to_string(),
        other => panic!("--help did not print help: {other:?}"),
    };
    for option in flags::OPTIONS {
        assert!(help.contains(&format!("--{}", option.flag)), "{help}");
        assert!(help.contains(&flags::variable(option.flag)), "{help}");
    }
    assert!(help.contains("[default: 1024]"), "{help}");
}

#[test]
fn switches_take_an_optional_value() -> Result<(), LoadError> {
    assert!(load(&["--keep-bots", "--listen", "127.0.0.1:9"], &[])?.keep_bots);
    assert!(!load(&["--keep-bots", "false"], &[("SPOOR_KEEP_BOTS", "true")])?.keep_bots);
    assert!(!load(&["--honor-dnt=false"], &[])?.honor_dnt);
    assert!(load(&["--keep-bots", "maybe"], &[]).is_err());
    Ok(())
}

#[test]
fn the_identity_rule_defaults_to_the_configured_cap() {
    assert_eq!(
        crate::identity::resolver::Options::default().max_ids_per_cookie,
        Config::default().max_ids_per_cookie
    );
}

#[test]
fn store_names_sqlite_or_clickhouse_and_clickhouse_batches_bigger() -> Result<(), LoadError> {
    let sqlite = load(&["--store", "sqlite:/tmp/x/spoor.db"], &[])?;
    assert_eq!(sqlite.db, PathBuf::from("/tmp/x/spoor.db"));
    assert!(sqlite.clickhouse.is_none());
    assert_eq!(sqlite.ingest.batch_max_wait, Duration::ZERO);

    let env = [
        (
            "SPOOR_STORE",
            "clickhouse:http://127.0.0.1:8123/spoor,http://127.0.0.1:8124/spoor",
        ),
        ("SPOOR_CLICKHOUSE_USER", "spoor"),
        ("SPOOR_CLICKHOUSE_PASSWORD", "pw"),
        ("SPOOR_CLICKHOUSE_CLUSTER", "spoor"),
    ];
    let ch = load(&[], &env)?;
    let options = ch.clickhouse.as_ref().expect("the ClickHouse store");
    assert_eq!(options.endpoint.urls.len(), 2);
    assert_eq!(
        (
            options.endpoint.user.as_str(),
            options.endpoint.password.as_str()
        ),
        ("spoor", "pw")
    );
    assert_eq!(options.cluster.as_deref(), Some("spoor"));
    assert_eq!(ch.ingest.batch_max_wait, CLICKHOUSE_BATCH_WAIT);
    assert_eq!(ch.ingest.batch_max_events, CLICKHOUSE_BATCH_EVENTS);
    // Given batching wins.
    let given = load(&["--batch-max-wait-ms", "5"], &env)?;
    assert_eq!(given.ingest.batch_max_wait, Duration::from_millis(5));

    for bad in [
        "mysql://x",
        "sqlite:",
        "clickhouse:http://h:1/",
        "clickhouse:ftp://h/db",
    ] {
        let err = load(&["--store", bad], &[]).expect_err(bad).to_string();
        assert!(err.contains("--store"), "{err}");
    }
    Ok(())
}
