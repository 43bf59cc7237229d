-- 0020_ws_nodes.sql — each node's kw-ws report (see sql/0020_ws_nodes.sql: /api/status's
-- active_connections added up over the nodes that reported within 30 s).
CREATE TABLE ws_nodes (
    node         TEXT COLLATE "C" PRIMARY KEY,
    connections  BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);
