/*
 * test_store_ingest.c — kw-fetch's market ingest (kw_store_fetch_market, lib/store_fetch.c) on
 * whichever backend KW_TEST_DB_TARGET names: a temporary SQLite file by default, or a
 * PostgreSQL URL (tests/integration/test_store_drv_backends.py runs this binary against a
 * database of the suite's throwaway cluster). SQLite stores a market a statement at a time;
 * PostgreSQL buffers KW_STORE_MARKET_BATCH of them into one statement. Either way a second
 * run over markets that are new, changed, listed as they were, listed twice (the second time
 * changed again, or back to what is stored) must leave the same rows, snapshots and rollup
 * marks, and markets of a savepoint or transaction rolled back must leave nothing. On
 * PostgreSQL the same input is also played into a SQLite file and every row compared.
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
#include "store_fetch.h"
#include "store_int.h" /* kw_store_conn, kw_store_exec: the checks read rows directly */

#define T1 1795000000LL
#define T2 (T1 + 60)
#define OLD 300 /* markets of the first run: more than a PostgreSQL batch */
#define NEW 50	/* markets the second run adds */

static char target[512];
static char lite[512]; /* the SQLite file of the comparison (PostgreSQL only) */

static void unlink_sqlite(const char *path)
{
	char p[600];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("KW_TEST_DB_TARGET");
	if (t && *t)
		snprintf(target, sizeof(target), "%s", t);
	else
		snprintf(target, sizeof(target), "/tmp/kw-test-ingest-%d.db", (int)getpid());
	snprintf(lite, sizeof(lite), "/tmp/kw-test-ingest-lite-%d.db", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!kw_url_is_postgres(target))
		unlink_sqlite(target);
	unlink_sqlite(lite);
	return 0;
}

static struct kw_store *open_store(const char *where)
{
	char err[512];
	struct kw_store *s = kw_store_open(where, KW_DB_MIGRATE, err, sizeof(err));
	if (!s)
		fail_msg("%s", err);
	return s;
}

/* How a market is listed: as the first run saw it, moved (its prices), or moved again. */
enum look { BASE, MOVED, MOVED_AGAIN };

struct listing {
	char ticker[32], event[32];
	struct kw_kalshi_market m;
};

static const struct kw_kalshi_market *listing(struct listing *l, const char *prefix, int i,
					      enum look look, const char *category)
{
	snprintf(l->ticker, sizeof(l->ticker), "%s-%03d", prefix, i);
	snprintf(l->event, sizeof(l->event), "EV-%02d", i / 10);
	l->m = (struct kw_kalshi_market){
		.ticker = l->ticker,
		.event_ticker = l->event,
		.status = "active",
		.title = "Will it?",
		.yes_sub_title = "Yes",
		.no_sub_title = "No",
		.market_type = "binary",
		.legacy_category = category,
		.open_at = T1 - 86400,
		.close_at = i % 3 ? T1 + 86400 : KW_KALSHI_NONE, /* NULLs compared too */
		.yes_bid = 400000 + i * 100 + (int64_t)look * 10000,
		.yes_ask = 420000 + i * 100,
		.no_bid = KW_KALSHI_NONE,
		.no_ask = 580000,
		.last_price = 410000 + (int64_t)look * 5000,
		.previous_price = i % 2 ? 400000 : KW_KALSHI_NONE,
		.yes_bid_size = 10000,
		.yes_ask_size = 20000,
		.volume = 100000 + i,
		.volume_24h = 5000 + (int64_t)look * 700,
		.open_interest = 300000,
	};
	return &l->m;
}

static void store(struct kw_store *s, int64_t at, int64_t run, const char *prefix, int i,
		  enum look look, const char *category)
{
	struct listing l;
	int as_it_was = 0;
	assert_int_equal(kw_store_fetch_market(s, listing(&l, prefix, i, look, category), at, run,
					       &as_it_was),
			 0);
}

static int64_t run_begin(struct kw_store *s, int64_t at)
{
	int64_t id = 0;
	assert_int_equal(kw_store_fetch_run_begin(s, at, &id), 0);
	return id;
}

/*
 * The input: a first run lists OLD markets (one with a category), its rollup marks are
 * consumed; the second run lists them again in one transaction, in an order that puts
 * repeats both inside one batch and across batches:
 *   A-000..A-099 as they were, A-000 twice;
 *   A-100..A-199 moved; A-100 moved again later; A-150 listed back as the first run had it;
 *   A-200 with a category where none was stored (fills it: changed);
 *   A-201 with another category than the stored one (kept: as it was);
 *   N-000..N-049 new;
 * and markets of a savepoint undone (N-050..N-059) and of a transaction rolled back
 * (N-060..N-069). Between, a query inside the transaction must see the buffered markets.
 */
static void play(struct kw_store *s)
{
	int64_t run1 = run_begin(s, T1);
	assert_int_equal(kw_store_begin(s), 0);
	for (int i = 0; i < OLD; i++)
		store(s, T1, run1, "A", i, BASE, i == 201 ? "Sports" : NULL);
	assert_int_equal(kw_store_commit(s), 0);
	assert_int_equal(kw_store_exec(s, "DELETE FROM rollup_dirty"), 0);

	int64_t run2 = run_begin(s, T2);
	assert_int_equal(kw_store_begin(s), 0);
	for (int i = 0; i < 100; i++)
		store(s, T2, run2, "A", i, BASE, NULL);
	for (int i = 100; i < 200; i++)
		store(s, T2, run2, "A", i, MOVED, NULL);
	store(s, T2, run2, "A", 0, BASE, NULL);
	store(s, T2, run2, "A", 200, BASE, "Weather");
	store(s, T2, run2, "A", 201, BASE, "Politics");
	store(s, T2, run2, "A", 150, BASE, NULL);
	for (int i = 0; i < NEW; i++)
		store(s, T2, run2, "N", i, BASE, NULL);
	store(s, T2, run2, "A", 100, MOVED_AGAIN, NULL);

	/* A reader inside the transaction sees every market listed so far. */
	int64_t open = 0;
	assert_int_equal(kw_store_fetch_count_open(s, T2, &open), 0);
	assert_int_equal(open, 202 + NEW); /* A-000..A-201 and the new ones */

	assert_int_equal(kw_store_savepoint(s, KW_SAVEPOINT_PAGE), 0);
	for (int i = NEW; i < NEW + 10; i++)
		store(s, T2, run2, "N", i, BASE, NULL);
	assert_int_equal(kw_store_release(s, KW_SAVEPOINT_PAGE, 0), 0);
	assert_int_equal(kw_store_commit(s), 0);

	assert_int_equal(kw_store_begin(s), 0);
	for (int i = NEW + 10; i < NEW + 20; i++)
		store(s, T2, run2, "N", i, BASE, NULL);
	kw_store_rollback(s);
}

/* Every row of the query (ncols columns) as text, one line each. */
static char *rows(struct kw_store *s, const char *sql, int ncols)
{
	struct kw_buf out;
	kw_buf_init(&out, 0);
	struct kw_stmt *st = kw_conn_prepare(kw_store_conn(s), sql);
	assert_non_null(st);
	int rc;
	while ((rc = kw_sql_step(st)) == KW_ROW) {
		for (int c = 0; c < ncols; c++) {
			const char *v = kw_sql_col_text(st, c);
			assert_int_equal(kw_buf_printf(&out, "%s%s", c ? "|" : "", v ? v : "NULL"),
					 0);
		}
		assert_int_equal(kw_buf_puts(&out, "\n"), 0);
	}
	assert_int_equal(rc, KW_DONE);
	kw_stmt_free(st);
	char *text = kw_xstrdup(out.data ? out.data : "");
	kw_buf_free(&out);
	return text;
}

static int64_t scalar(struct kw_store *s, const char *sql)
{
	int64_t v = -1;
	assert_int_equal(kw_store_scalar(s, sql, &v), 0);
	return v;
}

static const char Q_MARKETS[] =
	"SELECT ticker, event_ticker, series_ticker, category, title, yes_sub_title,"
	" no_sub_title, market_type, status, open_at, close_at, yes_bid_micros, yes_ask_micros,"
	" no_bid_micros, no_ask_micros, last_price_micros, previous_price_micros,"
	" yes_bid_size_centi, yes_ask_size_centi, volume_centi, volume_24h_centi,"
	" open_interest_centi, first_seen_at FROM markets ORDER BY ticker";
static const char Q_UPDATED[] = "SELECT ticker, updated_at FROM markets ORDER BY ticker";
static const char Q_SNAPSHOTS[] =
	"SELECT ticker, taken_at, run_id, yes_bid_micros, yes_ask_micros, last_price_micros,"
	" volume_centi, volume_24h_centi, open_interest_centi, yes_bid_size_centi,"
	" yes_ask_size_centi FROM market_snapshots ORDER BY ticker, taken_at";
static const char Q_MARKS[] = "SELECT kind, ticker FROM rollup_dirty ORDER BY kind, ticker";

/* The second run's snapshots and marks are exactly those of the markets it changed. */
static void check_stored(struct kw_store *s)
{
	assert_int_equal(scalar(s, "SELECT count(*) FROM markets"), OLD + NEW);
	assert_int_equal(scalar(s, "SELECT count(*) FROM markets WHERE ticker >= 'N-050'"), 0);
	/* Listed by the second run: updated_at moved; the rest (A-202..) kept the first's. */
	assert_int_equal(scalar(s, "SELECT count(*) FROM markets WHERE updated_at = 1795000060"),
			 202 + NEW);
	assert_int_equal(scalar(s, "SELECT count(*) FROM markets WHERE first_seen_at = 1795000060"),
			 NEW);
	/* Changed: A-100..A-199 (A-150 listed back to the first run's values), A-200, new. */
	static const char changed[] =
		"SELECT count(*) FROM market_snapshots WHERE taken_at = 1795000060 AND ("
		" (ticker BETWEEN 'A-100' AND 'A-200') OR ticker LIKE 'N-%')";
	assert_int_equal(scalar(s, changed), 101 + NEW);
	assert_int_equal(scalar(s, "SELECT count(*) FROM market_snapshots"
				   " WHERE taken_at = 1795000060"),
			 101 + NEW);
	assert_int_equal(scalar(s, "SELECT count(*) FROM market_snapshots"
				   " WHERE taken_at = 1795000000"),
			 OLD);
	assert_int_equal(scalar(s, "SELECT count(*) FROM rollup_dirty"), 2 * (101 + NEW));
	assert_int_equal(scalar(s, "SELECT count(*) FROM rollup_dirty d JOIN market_snapshots m"
				   " ON m.ticker = d.ticker AND m.taken_at = 1795000060"
				   " WHERE d.kind IN (1, 2)"),
			 2 * (101 + NEW));
	/* The last listing wins, in the market and in its snapshot of the run. */
	assert_int_equal(scalar(s, "SELECT yes_bid_micros FROM markets WHERE ticker = 'A-100'"),
			 400000 + 100 * 100 + 2 * 10000);
	assert_int_equal(scalar(s, "SELECT yes_bid_micros FROM market_snapshots"
				   " WHERE ticker = 'A-100' AND taken_at = 1795000060"),
			 400000 + 100 * 100 + 2 * 10000);
	assert_int_equal(scalar(s, "SELECT yes_bid_micros FROM markets WHERE ticker = 'A-150'"),
			 400000 + 150 * 100);
	assert_int_equal(scalar(s, "SELECT yes_bid_micros FROM market_snapshots"
				   " WHERE ticker = 'A-150' AND taken_at = 1795000060"),
			 400000 + 150 * 100);
	assert_int_equal(scalar(s, "SELECT last_price_micros FROM markets WHERE ticker = 'A-199'"),
			 415000);
	/* A stored category is kept; a missing one is filled. */
	assert_int_equal(scalar(s, "SELECT count(*) FROM markets WHERE ticker = 'A-201'"
				   " AND category = 'Sports'"),
			 1);
	assert_int_equal(scalar(s, "SELECT count(*) FROM markets WHERE ticker = 'A-200'"
				   " AND category = 'Weather'"),
			 1);
}

static void test_second_run_stores_what_changed(void **state)
{
	(void)state;
	struct kw_store *s = open_store(target);
	play(s);
	check_stored(s);
	if (kw_url_is_postgres(target)) {
		struct kw_store *l = open_store(lite);
		play(l);
		check_stored(l);
		static const struct {
			const char *sql;
			int ncols;
		} qs[] = {
			{ Q_MARKETS, 23 }, { Q_UPDATED, 2 }, { Q_SNAPSHOTS, 11 }, { Q_MARKS, 2 }
		};
		for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
			char *a = rows(s, qs[i].sql, qs[i].ncols),
			     *b = rows(l, qs[i].sql, qs[i].ncols);
			assert_string_equal(a, b);
			free(a);
			free(b);
		}
		kw_store_close(l);
	}
	kw_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_run_stores_what_changed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
