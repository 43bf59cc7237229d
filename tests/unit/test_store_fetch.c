/*
 * test_store_fetch.c — lib/store_fetch.c: market_activity (the markets' 24-hour trade totals
 * the lists show) kept incrementally by kw_store_fetch_activity() equals a recount from the
 * trades after every step of a long random history: trades arriving late and out of order,
 * the clock moving by seconds, hours or days, and stepping back; retention pruning in
 * between; and a rebuild.
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

#include "store.h"
#include "store_int.h" /* kw_store_conn: the fixtures read and write rows directly */
#include "store_fetch.h"

#define HOUR 3600LL
#define T0 1795000000LL

static void exec(struct kw_store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(kw_store_conn(s)->lite, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("SQL failed: %s: %s", sql, msg ? msg : "?");
}

/* Rows where market_activity and a recount of the trades since cutoff disagree (both ways). */
static int64_t mismatches(struct kw_store *s, int64_t now_s)
{
	static const char sql[] =
		"WITH want AS (SELECT ticker, sum(notional_micros) AS usd, count(*) AS n FROM "
		"trades"
		"  WHERE created_us >= ?1 GROUP BY ticker)"
		" SELECT (SELECT count(*) FROM want w LEFT JOIN market_activity a USING (ticker)"
		"          WHERE a.ticker IS NULL OR a.usd_24h_micros <> w.usd OR a.trades_24h <> "
		"w.n)"
		"      + (SELECT count(*) FROM market_activity a LEFT JOIN want w USING (ticker)"
		"          WHERE w.ticker IS NULL)";
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(s)->lite, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, (now_s - 86400) * 1000000);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void add_trades(struct kw_store *s, int64_t now_s, int n, unsigned *seed, int64_t *serial)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(s)->lite,
					    "INSERT INTO trades (trade_id, ticker, created_us,"
					    " count_centi, yes_price_micros, no_price_micros,"
					    " taker_side, notional_micros) VALUES"
					    " (?1, ?2, ?3, 100, 500000, 500000, 'yes', ?4)",
					    -1, &st, NULL),
			 SQLITE_OK);
	for (int i = 0; i < n; i++) {
		char id[32], ticker[32];
		snprintf(id, sizeof(id), "t-%lld", (long long)++*serial);
		snprintf(ticker, sizeof(ticker), "KXT-%d", (int)(rand_r(seed) % 7));
		/* Mostly recent; some late arrivals from the last two days (Kalshi's overlap). */
		int64_t age_s = rand_r(seed) % 4 ? rand_r(seed) % 600 : rand_r(seed) % (2 * 86400);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, ticker, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, (now_s - age_s) * 1000000 + rand_r(seed) % 1000000);
		sqlite3_bind_int64(st, 4, 1 + rand_r(seed) % 5000000);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

static void test_activity_follows_trades_and_clock(void **state)
{
	(void)state;
	char path[256], err[256];
	snprintf(path, sizeof(path), "/tmp/kw-test-activity-%d.db", (int)getpid());
	struct kw_store *s = kw_store_open(path, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(s);
	unsigned seed = 20261128;
	int64_t now = T0, serial = 0, deleted = 0;
	for (int step = 0; step < 300; step++) {
		add_trades(s, now, rand_r(&seed) % 40, &seed, &serial);
		assert_int_equal(kw_store_fetch_activity(s, now, 0), 0);
		if (mismatches(s, now))
			fail_msg("step %d (now %lld): market_activity differs from a recount", step,
				 (long long)now);
		unsigned r = rand_r(&seed) % 20;
		if (r == 0)
			now -= rand_r(&seed) % HOUR; /* the clock stepped back */
		else if (r == 1)
			now += 86400 + rand_r(&seed) % 86400; /* a day without runs */
		else if (r == 2)
			assert_int_equal(kw_store_fetch_prune(s, now - 86400, 50, 10, &deleted), 0);
		else
			now += 60 + rand_r(&seed) % (3 * HOUR);
	}
	/* Counted from scratch, the same; and markets without trades in the window are gone. */
	assert_int_equal(kw_store_fetch_activity(s, now, 1), 0);
	assert_int_equal(mismatches(s, now), 0);
	exec(s, "DELETE FROM market_activity WHERE ticker = 'KXT-1'");
	assert_int_equal(kw_store_fetch_activity(s, now, 1), 0);
	assert_int_equal(mismatches(s, now), 0);
	kw_store_close(s);
	unlink(path);
}

/* Retention never removes a trade the window still counts, or the next update could not
 * subtract it. */
static void test_prune_waits_for_the_window(void **state)
{
	(void)state;
	char path[256], err[256];
	snprintf(path, sizeof(path), "/tmp/kw-test-activity-p-%d.db", (int)getpid());
	struct kw_store *s = kw_store_open(path, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(s);
	unsigned seed = 7;
	int64_t serial = 0, deleted = 0;
	add_trades(s, T0, 200, &seed, &serial);
	assert_int_equal(kw_store_fetch_activity(s, T0, 0), 0);
	/* An hour later, retention of one day asks for everything before T0 + 1 h - 1 day. */
	assert_int_equal(kw_store_fetch_prune(s, T0 + HOUR - 86400, 1000, 10, &deleted), 0);
	assert_int_equal(kw_store_fetch_activity(s, T0 + HOUR, 0), 0);
	assert_int_equal(mismatches(s, T0 + HOUR), 0);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_activity_follows_trades_and_clock),
		cmocka_unit_test(test_prune_waits_for_the_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
