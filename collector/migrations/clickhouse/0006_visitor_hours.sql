-- v6: the hours each visitor has events in, so the persons of a report read the hours of
-- the few linked visitors (those in `visitor_persons`) by the primary key instead of
-- scanning the range's events for them (collector/src/store/clickhouse/reports/fast.rs).
-- Fed by a materialized view from the rows the writer (and the reconciliation) already
-- sends into `report_visitors_in` for each hour's visitors; a row per (site, visitor,
-- hour), duplicates merged away and harmless before (readers count distinct visitors).
-- Small granules: a read of a few thousand visitors touches few of them. Erasure and the
-- retention purge delete rows here as they do events.
CREATE TABLE IF NOT EXISTS {table:visitor_hours} {on_cluster} (
    site    String,
    visitor String,
    hour    Int64                     -- Unix ms of the events / 3 600 000
) ENGINE = {engine:ReplacingMergeTree()}
ORDER BY (site, visitor, hour)
SETTINGS index_granularity = 256
{distributed:cityHash64(site, visitor)};

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.visitor_hours_mv {on_cluster}
TO {local:visitor_hours}
AS SELECT site, visitor, bucket AS hour
FROM {local:report_visitors_in}
WHERE dim = 'hour';

-- The hours of the events stored before this migration.
INSERT INTO {db}.visitor_hours (site, visitor, hour)
SELECT DISTINCT site, visitor, intDiv(ts, 3600000) AS hour
FROM {db}.events;
