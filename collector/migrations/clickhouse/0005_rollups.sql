-- v5: rollups, so the dashboard's reports read a few thousand rows instead of grouping a
-- range's events into sessions. The writer adds up what each commit changes
-- (collector/src/store/rollup.rs, the same rollups as the SQLite store's) and appends
-- one row per touched (site, dimension, bucket, key): the counters as signed changes
-- (a session's old contribution taken back, its new one added), summed by ClickHouse
-- when parts merge; the visitors as their ids, turned by a materialized view into
-- `uniqCombined` states that merge as sketches. Reads add the rows up (`sum`,
-- `uniqCombinedMerge`), so they are right before merges too.

-- Each visitor's latest session, as `visitor_sessions` (v1) kept it and with what the
-- writer needs to take its old contribution back from the rollups: its entry and exit,
-- the facts of the event that started it, its first page views and their times. A table
-- of its own rather than new columns: 18.16 has no ADD COLUMN IF NOT EXISTS, and refuses
-- to ALTER or DROP ON CLUSTER the Distributed table of a replicated shard table. The
-- event that started a session is the one whose derived session id is the session's
-- (collector/src/store/clickhouse/sink.rs): no `first_event`. `visitor_sessions` is no
-- longer written; its rows are copied here.
CREATE TABLE IF NOT EXISTS {table:latest_sessions} {on_cluster} (
    site         String,
    visitor      String,
    session      UUID,
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
    entry_path   String,
    exit_path    String,
    source       String,              -- of the event that started it
    source_class String,
    browser      String,
    os           String,
    device       String,
    country      String,
    flow         Array(String),       -- its first page views' paths, in time order
    flow_after   Array(UInt32),       -- and their times, ms after start_ts
    version      UInt64               -- grows with every write of the visitor: the newest row wins
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, visitor)
{distributed:cityHash64(site, visitor)};

INSERT INTO {db}.latest_sessions (site, visitor, session, start_ts, last_ts, day,
    utm_source, utm_medium, utm_campaign, pageviews, events, engaged, last_page, version)
SELECT site, visitor, session, start_ts, last_ts, day, utm_source, utm_medium,
    utm_campaign, pageviews, events, engaged, last_page, version
FROM {db}.visitor_sessions;

-- Counters. `dim` 'hour': per hour (`bucket` = Unix ms / 3 600 000, `key` ''): page
-- views, events, sessions started, bounces, duration. 'flow': sessions per UTC day and
-- first page views (newline-separated). Every other `dim` (page, entry, exit, source,
-- source_class, campaign, browser, os, device, country, event, event_property, outbound,
-- download, transition): per UTC day (`bucket` = Unix ms / 86 400 000) and key, as the
-- SQLite store's `report_keys`. `batch` names the commit, so that two commits' equal rows
-- are not taken for a resent block by a replicated table's deduplication (it is not summed).
CREATE TABLE IF NOT EXISTS {table:report_counts} {on_cluster} (
    site        String,
    dim         String,
    bucket      Int64,
    key         String,
    pageviews   Int64,
    events      Int64,
    sessions    Int64,
    bounces     Int64,
    duration_ms Int64,
    batch       UInt64
) ENGINE = {engine:SummingMergeTree((pageviews, events, sessions, bounces, duration_ms))}
ORDER BY (site, dim, bucket, key)
{distributed:cityHash64(site, dim, key)};

-- Visitors, as sketches: what the writer (and the entry and exit pages' settling,
-- collector/src/store/clickhouse/rollups/settle.rs) inserts into `report_visitors_in`
-- (which keeps nothing) the view below turns into one state per key and block.
CREATE TABLE IF NOT EXISTS {table:report_visitors} {on_cluster} (
    site     String,
    dim      String,
    bucket   Int64,
    key      String,
    visitors AggregateFunction(uniqCombined(12), String)
) ENGINE = {engine:AggregatingMergeTree()}
ORDER BY (site, dim, bucket, key)
{distributed:cityHash64(site, dim, key)};

CREATE TABLE IF NOT EXISTS {table:report_visitors_in} {on_cluster} (
    site    String,
    dim     String,
    bucket  Int64,
    key     String,
    visitor String
) ENGINE = Null
{distributed:cityHash64(site, dim, key)};

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.report_visitors_mv {on_cluster}
TO {local:report_visitors}
AS SELECT site, dim, bucket, key, uniqCombinedState(12)(visitor) AS visitors
FROM {local:report_visitors_in}
GROUP BY site, dim, bucket, key;

-- Marks: 'since', the collector time from which every event is in the rollups (the
-- latest arrival when this migration ran; 0 on a new database: reports of ranges before
-- it are answered from the events); 'settled', the arrival time up to which the entry and
-- exit pages' visitors were settled (rollups/settle.rs).
CREATE TABLE IF NOT EXISTS {table:rollup_marks} {on_cluster} (
    name String,
    at   Int64
) ENGINE = {engine:ReplacingMergeTree()}
ORDER BY (name, at)
{distributed:cityHash64(name)};

INSERT INTO {db}.rollup_marks (name, at)
SELECT 'since', toInt64(max(ts + received_after)) FROM {db}.events;
