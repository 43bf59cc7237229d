-- 0018_fetch_node.sql — which node ran each fetch run (see sql/0018_fetch_node.sql: the
-- fetcher's skip rule across nodes and /api/status).
ALTER TABLE fetch_runs ADD COLUMN node TEXT COLLATE "C";
