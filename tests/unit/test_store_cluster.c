/*
 * test_store_cluster.c — what nodes sharing a database read through lib/store_cluster.c, on a
 * temporary SQLite database filled the way kw-fetch fills it: the newest run and the run that
 * finished last with the node that ran each, the WebSocket clients added up over the nodes
 * that reported, the API keys' stamp moving with a new key and a revocation, and the
 * PostgreSQL-only parts saying so on SQLite (no run lock, no LISTEN). The lock and the
 * notifications on a real server are tests/integration/test_nodes.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "fetched.h"
#include "store_cluster.h"
#include "store_security.h"

#define T0 1795000000LL

static void finish(struct kw_store *s, int64_t run, const char *outcome, int64_t at)
{
	struct kw_fetch_run_row row = {
		.outcome = outcome, .finished_at = at, .open_markets = 2, .skip_reasons_json = "{}"
	};
	assert_int_equal(kw_store_fetch_run_finish(s, run, &row), 0);
}

static void test_runs_and_their_nodes(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "cluster");
	struct kw_cluster_run r;
	assert_int_equal(kw_store_cluster_last_run(s, &r), 0);
	assert_int_equal(kw_store_cluster_last_finished(s, &r), 0);

	int64_t r1 = 0, r2 = 0;
	assert_int_equal(kw_store_fetch_run_begin(s, T0, &r1), 0);
	assert_int_equal(kw_store_cluster_mark_run(s, r1, "node-a"), 0);
	assert_int_equal(kw_store_cluster_last_run(s, &r), 1);
	assert_int_equal(r.id, r1);
	assert_string_equal(r.node, "node-a");
	assert_string_equal(r.outcome, "running");
	assert_int_equal(r.finished_at, 0);
	assert_int_equal(kw_store_cluster_last_finished(s, &r), 0); /* nothing finished yet */

	finish(s, r1, "ok", T0 + 30);
	assert_int_equal(kw_store_fetch_run_begin(s, T0 + 120, &r2), 0);
	assert_int_equal(kw_store_cluster_mark_run(s, r2, "node-b"), 0);
	/* the newest is node B's, still running; the one that finished last is node A's */
	assert_int_equal(kw_store_cluster_last_run(s, &r), 1);
	assert_true(r.id == r2 && !strcmp(r.node, "node-b") && !strcmp(r.outcome, "running"));
	assert_int_equal(kw_store_cluster_last_finished(s, &r), 1);
	assert_true(r.id == r1 && !strcmp(r.node, "node-a") && !strcmp(r.outcome, "ok"));
	assert_int_equal(r.started_at, T0);
	assert_int_equal(r.finished_at, T0 + 30);

	finish(s, r2, "failed", T0 + 125);
	assert_int_equal(kw_store_cluster_last_finished(s, &r), 1);
	assert_true(r.id == r2 && !strcmp(r.outcome, "failed"));
	kw_store_close(s);
	unlink(path);
}

static void test_keys_stamp_moves_with_keys(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "cluster-keys");
	struct kw_keys_stamp a, b, c;
	int64_t id = 0;
	assert_int_equal(kw_store_keys_stamp(s, &a), 0);
	assert_int_equal(a.keys, 0);
	char sha[65];
	memset(sha, 'a', 64);
	sha[64] = '\0';
	assert_int_equal(
		kw_store_key_insert(s, "bot", "kw_AbCd1234", sha, KW_SCOPE_READ, 0, T0, &id), 0);
	assert_int_equal(kw_store_keys_stamp(s, &b), 0);
	assert_true(b.keys == 1 && b.revoked == 0);
	assert_int_equal(kw_store_key_revoke(s, id, T0 + 5), 1);
	assert_int_equal(kw_store_keys_stamp(s, &c), 0);
	assert_true(c.keys == 1 && c.revoked == 1 && c.last_revoked_at == T0 + 5);
	assert_true(memcmp(&b, &c, sizeof(b)) != 0);
	kw_store_close(s);
	unlink(path);
}

static void test_websocket_clients_of_every_node(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "cluster-ws");
	int64_t clients = -1, nodes = -1;
	assert_int_equal(kw_store_ws_connections(s, T0, &clients, &nodes), 0);
	assert_true(clients == 0 && nodes == 0); /* no node reported: status keeps ws_stats */
	assert_int_equal(kw_store_ws_node_write(s, "node-a", 5, T0), 0);
	assert_int_equal(kw_store_ws_node_write(s, "node-b", 2, T0 + 1), 0);
	assert_int_equal(kw_store_ws_node_write(s, "node-a", 7, T0 + 2), 0); /* replaces */
	assert_int_equal(kw_store_ws_connections(s, T0, &clients, &nodes), 0);
	assert_true(clients == 9 && nodes == 2);
	/* a node that stopped reporting no longer counts */
	assert_int_equal(kw_store_ws_connections(s, T0 + 2, &clients, &nodes), 0);
	assert_true(clients == 7 && nodes == 1);
	kw_store_close(s);
	unlink(path);
}

static void test_postgresql_only_parts_on_sqlite(void **state)
{
	(void)state;
	char path[128], err[256] = "";
	struct kw_store *s = open_temp(path, sizeof(path), "cluster-pg");
	assert_null(kw_run_lock_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "only a PostgreSQL database"));
	assert_int_equal(kw_store_data_listen(s), 0); /* SQLite: kw-ws polls */
	assert_int_equal(kw_store_data_notified(s), -1);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_and_their_nodes),
		cmocka_unit_test(test_keys_stamp_moves_with_keys),
		cmocka_unit_test(test_websocket_clients_of_every_node),
		cmocka_unit_test(test_postgresql_only_parts_on_sqlite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
