-- v1: events. One row per event (per site and id); no IP address is ever stored. The
-- collector that owns a visitor derives everything in memory (its visitor, its server
-- session) and appends; sessions are not rows of their own but the events that carry the
-- same `session`, grouped at query time, so a retry or a late event cannot leave a stale
-- session behind.
--
-- Templating (collector/src/store/clickhouse/migrate.rs): `{db}`, `{on_cluster}`,
-- `{table:NAME}` (the table, or its `_local` shard table on a cluster), `{engine:X(...)}`
-- (X, or ReplicatedX with its ZooKeeper path on a cluster), `{distributed:EXPR}` (on a
-- cluster, a Distributed table NAME over NAME_local sharded by EXPR; nothing on one server).
CREATE TABLE IF NOT EXISTS {table:events} {on_cluster} (
    site           String,
    id             UUID,
    day            Date,              -- UTC day of ts
    ts             Int64,             -- client time, Unix ms
    received_after Int64,             -- collector time minus client time, ms (small: compresses)
    received       Int64 ALIAS ts + received_after,  -- collector time, Unix ms
    kind           String,            -- pageview | engagement | custom | outbound | download | identify
    visitor        String,            -- resolved visitor id
    evidence       String,            -- client-id | server-cookie | fingerprint
    client_id      String,            -- the beacon's id as sent ('' for none)
    beacon_session String,            -- the beacon's session id as sent ('' for none)
    session        UUID,              -- the server session (derived from the visitor and its first event)
    starts         UInt8,             -- 1: this event started its session (whose facts below are the session's)
    url_stored     String,            -- '' when the URL is https://hostname/path
    url            String ALIAS if(url_stored = '', concat('https://', hostname, path), url_stored),
    hostname       String,
    path           String,
    prev_path      String,            -- the session's page view before this one ('' for none)
    referrer       String,
    title          String,
    screen         String,
    lang           String,
    tz             String,
    browser        String,
    os             String,
    device         String,
    country        String,
    source         String,            -- referrer source (enrich::source::classify of referrer, utm_source, hostname)
    source_class   String,            -- search | social | direct | other
    fallback       String,            -- why the loader's no-wasm fallback sent it ('' for the beacon)
    utm_source     String,
    utm_medium     String,
    utm_campaign   String,
    utm_term       String,
    utm_content    String,
    name           String,            -- custom event name
    props          String,            -- custom event properties, JSON ('' for none)
    target         String,            -- outbound / download URL
    user_id        String,            -- identify / login user id
    pageview_id    UUID,              -- engagement: the page view it measures (nil for others)
    visible_ms     UInt32,
    scroll         UInt8
) ENGINE = {engine:ReplacingMergeTree()}
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, visitor, ts, id)
{distributed:cityHash64(site, visitor)};

-- Every stored event id, so the writer finds a resent id with one primary-key lookup
-- whatever its content (the id alone decides). Written after the event itself.
-- The id is kept as its two halves, high first, so ids sort as their text does (a UUID
-- column sorts by its second half) and the time-ordered ids of the beacon (v7) compress.
CREATE TABLE IF NOT EXISTS {table:event_ids} {on_cluster} (
    site  String,
    id_hi UInt64,                     -- the id's first 8 bytes, big-endian
    id_lo UInt64,                     -- its last 8
    day   Date                        -- the day of the event's row, to find it again
) ENGINE = {engine:ReplacingMergeTree()}
PARTITION BY toYYYYMM(day)
ORDER BY (site, id_hi, id_lo)
{distributed:cityHash64(site, id_hi, id_lo)};

-- Each visitor's latest server session, as its owning collector last wrote it: what a
-- collector that did not have the visitor in memory continues from. A row may be ahead of
-- the events (it is written first), never behind: joining a session whose last events did
-- not commit is harmless, since sessions are computed from the events that did.
CREATE TABLE IF NOT EXISTS {table:visitor_sessions} {on_cluster} (
    site         String,
    visitor      String,
    session      UUID,
    first_event  String,              -- the id of the event that started it (starts = 1)
    start_ts     Int64,
    last_ts      Int64,
    day          Int64,               -- local day of the session in the site's time zone
    utm_source   String,              -- the campaign that started it
    utm_medium   String,
    utm_campaign String,
    pageviews    UInt32,
    events       UInt32,
    engaged      UInt8,
    last_page    String,              -- its latest page view's path ('' for none)
    version      UInt64               -- grows with every write of the visitor: the newest row wins
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, visitor)
{distributed:cityHash64(site, visitor)};
