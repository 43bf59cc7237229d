/*
 * test_store_drv.c — the driver layer under the store (lib/store_drv.h), on whichever backend
 * KW_TEST_DB_TARGET names: a temporary SQLite file by default, or a PostgreSQL URL (the
 * integration suite runs this binary against a database of its throwaway cluster, so the same
 * checks pass on both). Plus the PostgreSQL driver's SQL rewriting, which needs no server, and
 * the market-data generation kw-api's reply cache is keyed on, as a second connection sees it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "store.h"
#include "store_drv.h"
#include "store_int.h"

static char target[512];

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("KW_TEST_DB_TARGET");
	if (t && *t)
		snprintf(target, sizeof(target), "%s", t);
	else
		snprintf(target, sizeof(target), "/tmp/kw-test-drv-%d.db", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!kw_url_is_postgres(target)) {
		char p[600];
		unlink(target);
		snprintf(p, sizeof(p), "%s-wal", target);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", target);
		unlink(p);
	}
	return 0;
}

static void open_conn(struct kw_conn *c)
{
	char err[512];
	int rc = kw_conn_open(c, target, KW_DB_MIGRATE, err, sizeof(err));
	if (rc < 0)
		fail_msg("%s", err);
}

static void exec_ok(struct kw_conn *c, const char *sql)
{
	if (kw_conn_exec(c, sql) < 0)
		fail_msg("%s: %s", sql, kw_conn_errmsg(c));
}

static void test_translate(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "SELECT ?1, ?2", "SELECT $1, $2" },
		{ "SELECT ?, ?, ?5, ?", "SELECT $1, $2, $5, $6" },
		{ "SELECT '?1', \"a?\", 'it''s ?'", "SELECT '?1', \"a?\", 'it''s ?'" },
		{ "WHERE t LIKE ?1 AND u NOT LIKE 'LIKE'",
		  "WHERE t ILIKE $1 AND u NOT ILIKE 'LIKE'" },
		{ "GROUP BY +t.ticker, +x WHERE a + 1 > ?2",
		  "GROUP BY t.ticker, x WHERE a + 1 > $2" },
		{ "SELECT LIKELY FROM x", "SELECT LIKELY FROM x" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = kw_pg_translate(cases[i].in);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

static const char SQL_PUT[] = "INSERT INTO fetch_state (name, value) VALUES (?1, ?2)"
			      " ON CONFLICT (name) DO UPDATE SET value = excluded.value";
static const char SQL_GET[] = "SELECT value, name, NULL FROM fetch_state WHERE name = ?1";

static int64_t get(struct kw_conn *c, struct kw_stmt *g, const char *name, int *found)
{
	kw_sql_reset(g);
	kw_sql_clear_bindings(g);
	kw_sql_bind_text(g, 1, name);
	int step = kw_sql_step(g);
	*found = step == KW_ROW;
	if (step != KW_ROW && step != KW_DONE)
		fail_msg("get: %s", kw_conn_errmsg(c));
	int64_t v = *found ? kw_sql_col_i64(g, 0) : 0;
	if (*found) {
		assert_string_equal(kw_sql_col_text(g, 1), name);
		assert_true(kw_sql_col_null(g, 2));
		assert_null(kw_sql_col_text(g, 2));
		assert_int_equal(kw_sql_step(g), KW_DONE);
	}
	kw_sql_reset(g);
	return v;
}

static void put(struct kw_conn *c, struct kw_stmt *p, const char *name, int64_t v)
{
	kw_sql_reset(p);
	kw_sql_bind_text(p, 1, name);
	kw_sql_bind_i64(p, 2, v);
	if (kw_sql_step(p) != KW_DONE)
		fail_msg("put: %s", kw_conn_errmsg(c));
	assert_int_equal(kw_conn_changes(c), 1);
	kw_sql_reset(p);
}

/* Values round-trip exactly: integers at both ends of 64 bits, text with quotes and UTF-8. */
static void test_values_round_trip(void **state)
{
	(void)state;
	struct kw_conn c;
	open_conn(&c);
	struct kw_stmt *p = kw_conn_prepare(&c, SQL_PUT), *g = kw_conn_prepare(&c, SQL_GET);
	assert_non_null(p);
	assert_non_null(g);
	static const int64_t values[] = { 0, 1, -1, INT64_MAX, INT64_MIN + 1, 1796429497000000 };
	const char *names[] = { "drv a", "drv 'b'", "drv \"c\"", "drv é ü ∑", "drv\\d", "drv ?1" };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		put(&c, p, names[i], values[i]);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		int found;
		assert_true(get(&c, g, names[i], &found) == values[i]);
		assert_true(found);
	}
	int found;
	(void)get(&c, g, "drv none", &found);
	assert_false(found);
	kw_stmt_free(p);
	kw_stmt_free(g);
	kw_conn_close(&c);
}

/* A rolled-back transaction leaves nothing; a released savepoint keeps its rows, an undone
 * one drops them; the connection says when a transaction is open. */
static void test_transactions_and_savepoints(void **state)
{
	(void)state;
	struct kw_conn c;
	open_conn(&c);
	struct kw_stmt *p = kw_conn_prepare(&c, SQL_PUT), *g = kw_conn_prepare(&c, SQL_GET);
	int found;
	assert_false(kw_conn_in_transaction(&c));
	assert_int_equal(kw_conn_begin(&c, 0), 0);
	assert_true(kw_conn_in_transaction(&c));
	put(&c, p, "tx gone", 7);
	exec_ok(&c, "ROLLBACK");
	assert_false(kw_conn_in_transaction(&c));
	(void)get(&c, g, "tx gone", &found);
	assert_false(found);

	assert_int_equal(kw_conn_begin(&c, 0), 0);
	exec_ok(&c, "SAVEPOINT kw_test");
	put(&c, p, "tx kept", 8);
	exec_ok(&c, "RELEASE kw_test");
	exec_ok(&c, "SAVEPOINT kw_test");
	put(&c, p, "tx undone", 9);
	exec_ok(&c, "ROLLBACK TO kw_test");
	exec_ok(&c, "RELEASE kw_test");
	exec_ok(&c, "COMMIT");
	assert_int_equal(get(&c, g, "tx kept", &found), 8);
	assert_true(found);
	(void)get(&c, g, "tx undone", &found);
	assert_false(found);
	kw_stmt_free(p);
	kw_stmt_free(g);
	kw_conn_close(&c);
}

/* A broken constraint is the input's fault, and says so; RETURNING gives the new row's id. */
static void test_errors_and_returning(void **state)
{
	(void)state;
	struct kw_conn c;
	open_conn(&c);
	struct kw_stmt *ins = kw_conn_prepare(
		&c, "INSERT INTO api_keys (name, prefix, key_sha256, scope, rate_per_minute,"
		    " created_at) VALUES (?1, ?2, ?3, 'read', 60, 1) RETURNING id");
	assert_non_null(ins);
	kw_sql_bind_text(ins, 1, "drv");
	kw_sql_bind_text(ins, 2, "kw_drv");
	char hash[65]; /* a database may be reused: a hash of this run's own */
	snprintf(hash, sizeof(hash), "%032llx%032x", (long long)kw_now_us(), (unsigned)getpid());
	kw_sql_bind_text(ins, 3, hash);
	assert_int_equal(kw_sql_step(ins), KW_ROW);
	int64_t id = kw_sql_col_i64(ins, 0);
	assert_true(id > 0);
	kw_sql_reset(ins);
	/* The same key hash again: a unique constraint. */
	int step = kw_sql_step(ins);
	assert_true(step != KW_ROW && step != KW_DONE);
	assert_int_equal(kw_conn_errkind(&c), KW_DBERR_CONSTRAINT);
	assert_true(strlen(kw_conn_errmsg(&c)) > 0);
	kw_sql_reset(ins);
	/* An unknown table is an error of another kind (when preparing on SQLite, at the first
	 * step on PostgreSQL, which prepares then), and the connection still serves. */
	struct kw_stmt *bad = kw_conn_prepare(&c, "SELECT nope FROM no_such_table");
	if (bad) {
		step = kw_sql_step(bad);
		assert_true(step != KW_ROW && step != KW_DONE);
		assert_int_equal(kw_conn_errkind(&c), KW_DBERR_OTHER);
		kw_stmt_free(bad);
	}
	struct kw_stmt *one = kw_conn_prepare(&c, "SELECT count(*) FROM api_keys WHERE id = ?1");
	assert_non_null(one);
	kw_sql_bind_i64(one, 1, id);
	assert_int_equal(kw_sql_step(one), KW_ROW);
	assert_int_equal(kw_sql_col_i64(one, 0), 1);
	kw_stmt_free(one);
	kw_stmt_free(ins);
	kw_conn_close(&c);
}

/* Another connection sees each commit of a market-data writer as a new generation, at once
 * (SQLite: data_version; PostgreSQL: the writer's NOTIFY). On PostgreSQL, asking again while
 * nothing was committed sends the server nothing: its process for the reader shows no new
 * statement (pg_stat_activity.state_change moves with every one). */
static int64_t generation(struct kw_store *s)
{
	int64_t g = -1;
	assert_int_equal(kw_store_data_generation(s, &g), 0);
	return g;
}

static void test_data_generation(void **state)
{
	(void)state;
	char err[512];
	struct kw_store *w = kw_store_open(target, KW_DB_MIGRATE, err, sizeof(err));
	struct kw_store *r = w ? kw_store_open(target, 0, err, sizeof(err)) : NULL;
	if (!r)
		fail_msg("%s", err);
	kw_store_set_data_writer(w, 1);
	int64_t g0 = generation(r);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(kw_store_begin(w), 0);
		assert_int_equal(kw_store_commit(w), 0);
		/* The notification travels from the writer's server process to the reader's
		 * while the commit returns: wait for it, briefly, rather than assume the order. */
		int64_t g = generation(r), until = kw_mono_us() + 400000;
		while (g != g0 + i && kw_mono_us() < until) {
			usleep(1000);
			g = generation(r);
		}
		assert_int_equal(g, g0 + i);
	}
	/* A notification that arrives while the reader runs some other statement is not lost:
	 * the next ask sees the new generation at once, not after the half-second fallback. */
	assert_int_equal(kw_store_begin(w), 0);
	assert_int_equal(kw_store_commit(w), 0);
	usleep(50000);
	int64_t one = 0;
	assert_int_equal(kw_store_scalar(r, "SELECT 1", &one), 0);
	assert_int_equal(generation(r), g0 + 4);
	if (kw_url_is_postgres(target)) {
		static const char SQL_STATE[] = "SELECT CAST(1e6 * extract(epoch FROM state_change)"
						" AS BIGINT) FROM pg_stat_activity WHERE pid = ?1";
		int64_t pid = 0, before = 0, after = -1;
		assert_int_equal(kw_store_scalar(r, "SELECT pg_backend_pid()", &pid), 0);
		/* The cached generation holds for half a second (then it is read again in case a
		 * notification was lost): a try that took longer proves nothing and is repeated. */
		for (int tries = 0; tries < 5 && before != after; tries++) {
			int64_t t0 = kw_mono_us();
			struct kw_stmt *st = kw_store_stmt(w, SQL_STATE);
			assert_non_null(st);
			kw_sql_bind_i64(st, 1, pid);
			assert_int_equal(kw_sql_step(st), KW_ROW);
			before = kw_sql_col_i64(st, 0);
			kw_sql_reset(st);
			for (int i = 0; i < 100; i++)
				assert_int_equal(generation(r), g0 + 4);
			kw_sql_bind_i64(st, 1, pid);
			assert_int_equal(kw_sql_step(st), KW_ROW);
			after = kw_sql_col_i64(st, 0);
			kw_sql_reset(st);
			if (kw_mono_us() - t0 > 300000)
				after = -1;
		}
		assert_true(before == after);
	}
	kw_store_close(r);
	kw_store_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate),
		cmocka_unit_test(test_values_round_trip),
		cmocka_unit_test(test_transactions_and_savepoints),
		cmocka_unit_test(test_errors_and_returning),
		cmocka_unit_test(test_data_generation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
