-- v11: page views sent by the loader's no-wasm fallback, when the wasm beacon could not run
-- in the browser (see collector/src/payload/fallback.rs). NULL for every other event.
ALTER TABLE events ADD COLUMN fallback TEXT;  -- pageview: 'csp', 'fetch', 'compile', 'storage', 'unsupported' or 'error'
-- The summary counts them per period; most sites have none, so the index stays small.
CREATE INDEX events_fallback ON events (site, ts) WHERE fallback IS NOT NULL;
