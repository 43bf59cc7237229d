/*
 * store_cluster.h — what several nodes sharing one PostgreSQL database agree on through it:
 * which node's kw-fetch runs (a session advisory lock and the fetch_runs journal), the
 * cluster's fetcher state for /api/status, the notification that new market data was
 * committed, each node's WebSocket client count, and a stamp of the API keys' revocations that
 * every node's kw-ws compares to close a revoked key's sockets.
 *
 * On SQLite there is one node: kw-fetch keeps its flock beside the file and the run lock here
 * is never opened; the other calls work on both backends.
 */
#ifndef KW_STORE_CLUSTER_H
#define KW_STORE_CLUSTER_H

#include <stdint.h>

#include "config.h" /* KW_NODE_NAME_MAX */
#include "store.h"
#include "util.h"

/*
 * kw-fetch's cluster-wide run lock: pg_try_advisory_lock on a connection of its own, so it is
 * held exactly while that connection lives. A process killed with kill -9 loses its connection
 * and the server releases the lock at once; the store's own connection, which may reconnect
 * after an error, never holds it.
 *
 * PostgreSQL only (url must be a postgresql:// URL). NULL with err on failure.
 */
struct kw_run_lock;
struct kw_run_lock *kw_run_lock_open(const char *url, char *err, size_t errlen);
/* 1 taken (hold it until kw_run_lock_release), 0 another session holds it, -1 error (logged). */
int kw_run_lock_try(struct kw_run_lock *l) KW_WUR;
/* Give the lock back; a lock lost with its connection is logged as a warning. */
void kw_run_lock_release(struct kw_run_lock *l);
void kw_run_lock_close(struct kw_run_lock *l);

/* One fetch_runs row as the cluster sees it. */
struct kw_cluster_run {
	int64_t id;
	int64_t started_at, finished_at; /* finished_at 0 while running */
	char outcome[16];		 /* running, ok, partial, failed */
	char node[KW_NODE_NAME_MAX + 1]; /* "" for a run stored before nodes were named */
};

/* The newest run (by id), finished or not: 1 found, 0 none yet, -1 error (logged). */
int kw_store_cluster_last_run(struct kw_store *s, struct kw_cluster_run *out) KW_WUR;
/* The run that finished last: 1 found, 0 none yet, -1 error (logged). */
int kw_store_cluster_last_finished(struct kw_store *s, struct kw_cluster_run *out) KW_WUR;
/* Record which node runs run_id (inside the transaction that began it). -1 on error. */
int kw_store_cluster_mark_run(struct kw_store *s, int64_t run_id, const char *node) KW_WUR;

/*
 * New market data, pushed: on PostgreSQL every commit of a market-data writer (kw-fetch)
 * sends KW_STORE_DATA_NOTIFY in its transaction, which the server delivers at the commit to
 * every connection that listens. kw-ws listens on its store connection and reads the data
 * generation only when told, or after KW_WS_FALLBACK_MS in case a notification was lost (a
 * transaction pooler keeps no LISTEN; a reconnect drops it and is reported as a notification).
 */
#define KW_STORE_DATA_NOTIFY "NOTIFY kw_data"
/* Listen for it: 1 listening, 0 not on this backend (SQLite: poll), -1 error (logged). */
int kw_store_data_listen(struct kw_store *s) KW_WUR;
/* 1 if notified since the last call (or a reconnect may have lost one), 0 if not; never
 * waits and never queries. -1 when not listening. */
int kw_store_data_notified(struct kw_store *s);

/* kw-ws's report for its node (ws_nodes; PostgreSQL nodes write it beside ws_stats). -1 on error
 * (a busy database is not logged: the next report comes soon). */
int kw_store_ws_node_write(struct kw_store *s, const char *node, int64_t connections,
			   int64_t now_s) KW_WUR;
/* WebSocket clients of every node that reported at or after since_s, and how many nodes did
 * (0: none, use ws_stats). -1 (logged) on error. */
int kw_store_ws_connections(struct kw_store *s, int64_t since_s, int64_t *clients,
			    int64_t *nodes) KW_WUR;

/* What a revocation, a new key or a deleted key changes: compared, never interpreted. */
struct kw_keys_stamp {
	int64_t keys, revoked, last_revoked_at;
};
int kw_store_keys_stamp(struct kw_store *s, struct kw_keys_stamp *out) KW_WUR;

#endif
