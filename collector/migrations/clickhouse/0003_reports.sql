-- v3: what reports keep besides events: saved funnels and the bounded record of events
-- that failed validation.
CREATE TABLE IF NOT EXISTS {table:funnels} {on_cluster} (
    site    String,
    name    String,
    def     String,                   -- the funnel's JSON
    version UInt64
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, name)
{distributed:cityHash64(site)};

CREATE TABLE IF NOT EXISTS {table:failed_events} {on_cluster} (
    received_ms Int64,
    site        String,
    reason_code String,
    reason      String,
    raw         String
) ENGINE = {engine:MergeTree()}
PARTITION BY toYYYYMM(toDate(intDiv(received_ms, 1000)))
ORDER BY (received_ms)
{distributed:rand()};
