-- 0020_ws_nodes.sql — each node's kw-ws report, when several nodes share a database.
--
-- ws_stats (0001) is one row: with several nodes it holds whichever kw-ws reported last, so
-- /api/status's active_connections would count one node's clients. On PostgreSQL every kw-ws
-- also writes its node's row here (NODE_NAME), and /api/status adds up the rows reported
-- within the last 30 s (a node that stopped reporting no longer counts). SQLite has one node
-- and keeps using ws_stats; the table stays empty there.
CREATE TABLE ws_nodes (
    node         TEXT PRIMARY KEY,
    connections  INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL
) STRICT;
