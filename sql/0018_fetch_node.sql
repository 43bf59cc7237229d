-- 0018_fetch_node.sql — which node ran each fetch run.
--
-- Several nodes may share one PostgreSQL database, each with a kw-fetch in its cron or loop;
-- one runs at a time, and a node skips its run when another node's finished less than
-- UPDATE_INTERVAL_SECONDS ago. That needs the run's node (NODE_NAME, by default the host
-- name), which /api/status also shows. NULL for runs stored before this migration. SQLite has
-- one node, and records its name the same way.
ALTER TABLE fetch_runs ADD COLUMN node TEXT;
