-- v7: flow rows count sessions only; the visitor sketches v6 kept on them (2 KB per
-- sequence and day, read by nothing) are dropped.
UPDATE report_keys SET visitors = NULL WHERE dim = 'flow' AND visitors IS NOT NULL;
