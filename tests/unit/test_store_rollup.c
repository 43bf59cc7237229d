/*
 * test_store_rollup.c — the stats rollups kw-fetch keeps (kw_store_rollups_update) equal what the
 * per-request computations they replaced give from the stored trades (kw_store_window_trades,
 * kw_store_top_trades, kw_store_whale_counts, kw_store_price_at, kw_store_hourly_notional), for
 * every window, after every step of long random histories: trades arriving late and out of
 * order, trades sharing a microsecond and a size (the tie-breaks), markets of several
 * categories and none, prices appearing, moving and going away (snapshots, previous prices),
 * the clock moving by seconds, hours or days and stepping back, runs that find nothing new,
 * retention pruning, changed whale thresholds; and a rebuild from scratch gives the same.
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
#include "store_api.h"
#include "store_fetch.h"
#include "store_rollup.h"
#include "kalshi.h"

#define HOUR 3600LL
#define T0 1795000000LL
#define TICKERS 9

static const char CATS[] = "{\"crypto\":2000000,\"sports\":4000000}";

static void exec(struct kw_store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(kw_store_conn(s)->lite, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("SQL failed: %s: %s", sql, msg ? msg : "?");
}

static void add_markets(struct kw_store *s)
{
	static const char *const cats[] = { "Crypto", "Sports", "Politics", NULL };
	sqlite3_stmt *st = NULL;
	assert_int_equal(
		sqlite3_prepare_v2(kw_store_conn(s)->lite,
				   "INSERT INTO markets (ticker, event_ticker, category,"
				   " title, status, series_ticker, first_seen_at, updated_at)"
				   " VALUES (?1, 'EV', ?2, ?1, 'active', ?3, 0, 0)",
				   -1, &st, NULL),
		SQLITE_OK);
	/* KXT-0 .. KXT-7 are markets; KXT-8 trades without one (category unknown). */
	for (int i = 0; i < TICKERS - 1; i++) {
		char t[32];
		snprintf(t, sizeof(t), "KXT-%d", i);
		sqlite3_bind_text(st, 1, t, -1, SQLITE_TRANSIENT);
		if (cats[i % 4])
			sqlite3_bind_text(st, 2, cats[i % 4], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 2);
		/* KXDOGE is a configured crypto prefix; KXDOGEX starts with it too. */
		sqlite3_bind_text(st, 3,
				  i % 3 == 0   ? "KXDOGE"
				  : i % 3 == 1 ? "KXDOGEX"
					       : "KXOTHER",
				  -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

/* What a run stores besides trades: some markets' snapshots (a price, or none) and new
 * previous prices (or none, Kalshi's "0.0000"), each market noted as changed the way the
 * store's writers note it (kw_store_rollup_dirty). */
static void move_prices(struct kw_store *s, int64_t now_s, unsigned *seed)
{
	sqlite3_stmt *snap = NULL, *prev = NULL;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(s)->lite,
					    "INSERT OR REPLACE INTO market_snapshots (ticker,"
					    " taken_at, last_price_micros) VALUES (?1, ?2, ?3)",
					    -1, &snap, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(s)->lite,
					    "UPDATE markets SET previous_price_micros = ?2"
					    " WHERE ticker = ?1",
					    -1, &prev, NULL),
			 SQLITE_OK);
	for (int i = 0; i < TICKERS - 1; i++) {
		char t[32];
		snprintf(t, sizeof(t), "KXT-%d", i);
		sqlite3_stmt *st = rand_r(seed) % 2 ? snap : prev;
		if (rand_r(seed) % 3)
			continue;
		sqlite3_bind_text(st, 1, t, -1, SQLITE_TRANSIENT);
		int64_t price =
			rand_r(seed) % 5 ? 10000 * (int64_t)(1 + rand_r(seed) % 99) : KW_NULL;
		int k = 2;
		if (st == snap)
			sqlite3_bind_int64(st, k++, now_s - rand_r(seed) % 7200);
		if (price == KW_NULL)
			sqlite3_bind_null(st, k);
		else
			sqlite3_bind_int64(st, k, price);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		assert_int_equal(kw_store_rollup_dirty(
					 s, st == snap ? KW_DIRTY_SNAPSHOT : KW_DIRTY_MARKET, t),
				 0);
	}
	sqlite3_finalize(snap);
	sqlite3_finalize(prev);
	/* Volumes (some equal, some none) and statuses move too: the legacy views' order. */
	char sql[512];
	unsigned all = rand_r(seed) % 2;
	snprintf(sql, sizeof(sql),
		 "UPDATE markets SET volume_24h_centi = nullif(abs(random()) %% 4, 0) * 100,"
		 " status = CASE abs(random()) %% 5 WHEN 0 THEN 'closed' WHEN 1 THEN 'open'"
		 " ELSE 'active' END WHERE %u;"
		 "INSERT OR IGNORE INTO rollup_dirty (kind, ticker) SELECT 1, ticker FROM markets"
		 " WHERE %u",
		 all, all);
	exec(s, sql);
}

static void add_trades(struct kw_store *s, int64_t now_s, int n, unsigned *seed, int64_t *serial)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(s)->lite,
					    "INSERT INTO trades (trade_id, ticker, created_us,"
					    " count_centi, yes_price_micros, no_price_micros,"
					    " taker_side, notional_micros) VALUES"
					    " (?1, ?2, ?3, 100, ?4, 1000000 - ?4, ?5, ?6)",
					    -1, &st, NULL),
			 SQLITE_OK);
	for (int i = 0; i < n; i++) {
		char id[32], ticker[32];
		/* Ids not in time order: Kalshi's are UUIDs. */
		snprintf(id, sizeof(id), "t-%08x", (unsigned)(++*serial * 2654435761u));
		snprintf(ticker, sizeof(ticker), "KXT-%d", (int)(rand_r(seed) % TICKERS));
		unsigned kind = rand_r(seed) % 8;
		int64_t age_s = kind < 5   ? rand_r(seed) % 900
				: kind < 7 ? rand_r(seed) % (2 * 86400)
					   : rand_r(seed) % (8 * 86400);
		/* Whole seconds half the time: trades sharing a microsecond. */
		int64_t us =
			(now_s - age_s) * 1000000 + (rand_r(seed) % 2 ? 0 : rand_r(seed) % 1000);
		/* A few sizes only: ties in size; some at or over $1,000 (the whale index). */
		static const int64_t sizes[] = { 500000,     1999999,	 2000000,   4000000,
						 1000000000, 2500000000, 3000000000 };
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, ticker, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, us);
		sqlite3_bind_int64(st, 4, 10000 * (int64_t)(1 + rand_r(seed) % 99));
		sqlite3_bind_text(st, 5, rand_r(seed) % 2 ? "yes" : "no", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, sizes[rand_r(seed) % KW_ARRAY_LEN(sizes)]);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

/* ---- the recount: what the per-request code computed ---- */

struct flow {
	char ticker[32];
	int64_t trades, notional, yes, last;
};

struct flows {
	struct flow v[TICKERS + 1];
	int n;
};

static int on_window_trade(void *ctx, const struct kw_window_trade *t)
{
	struct flows *fs = ctx;
	int i = 0;
	while (i < fs->n && strcmp(fs->v[i].ticker, t->ticker))
		i++;
	assert_true(i <= TICKERS);
	if (i == fs->n) {
		memset(&fs->v[i], 0, sizeof(fs->v[i]));
		snprintf(fs->v[i].ticker, sizeof(fs->v[i].ticker), "%s", t->ticker);
		fs->n++;
	}
	fs->v[i].trades++;
	fs->v[i].notional += t->notional_micros;
	if (!strcmp(t->taker_side, "yes"))
		fs->v[i].yes += t->notional_micros;
	fs->v[i].last = t->yes_price; /* oldest first, (created_us, trade_id) */
	return 0;
}

struct ids {
	int64_t v[64];
	int n;
};

static int on_top(void *ctx, const struct kw_trade_row *t)
{
	struct ids *l = ctx;
	assert_true(l->n < 64);
	l->v[l->n++] = t->id;
	return 0;
}

struct counts {
	char key[16][32];
	int64_t n[16];
	int len;
};

static int on_count(void *ctx, const char *key, int64_t n)
{
	struct counts *c = ctx;
	assert_true(c->len < 16);
	snprintf(c->key[c->len], sizeof(c->key[0]), "%s", key);
	c->n[c->len++] = n;
	return 0;
}

struct hours {
	int64_t hour[64 * TICKERS], micros[64 * TICKERS];
	int n;
};

static int on_hour(void *ctx, int64_t hour, int64_t micros)
{
	struct hours *h = ctx;
	assert_true(h->n < 64 * TICKERS);
	h->hour[h->n] = hour;
	h->micros[h->n++] = micros;
	return 0;
}

static int64_t scalar(struct kw_store *s, const char *sql, int64_t a, const char *b)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(s)->lite, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, a);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
	int step = sqlite3_step(st);
	int64_t v = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

static void check(struct kw_store *s, int64_t now, int step)
{
	for (int w = 0; w < KW_STATS_WINDOWS; w++) {
		int64_t win = kw_stats_window_s[w], since_us = (now - win) * 1000000;
		int64_t as_of = 0, since = 0, traded = 0;
		assert_int_equal(kw_store_stats_window(s, win, &as_of, &since, &traded), 0);
		assert_int_equal(as_of, now);
		assert_int_equal(since, now - win);
		struct flows fs = { .n = 0 };
		assert_int_equal(kw_store_window_trades(s, since_us, on_window_trade, &fs), 0);
		if (traded != fs.n)
			fail_msg("step %d window %lld: %lld markets traded, recount %d", step,
				 (long long)win, (long long)traded, fs.n);
		for (int i = 0; i < fs.n; i++) {
			const struct flow *f = &fs.v[i];
			int64_t start;
			assert_int_equal(
				kw_store_price_at(s, f->ticker, since, win == 86400, &start), 0);
			static const char q[] =
				"SELECT trades * 1000003 + notional_micros * 7 + yes_micros * 11"
				" + last_price_micros * 17 + ifnull(start_price_micros, -3) * 19"
				" FROM stats_markets WHERE window_s = ?1 AND ticker = ?2";
			int64_t want = f->trades * 1000003 + f->notional * 7 + f->yes * 11 +
				       f->last * 17 + (start == KW_NULL ? -3 : start) * 19;
			int64_t got = scalar(s, q, win, f->ticker);
			if (got != want)
				fail_msg("step %d window %lld market %s: rollup differs from a "
					 "recount (%lld trades, last %lld, start %lld)",
					 step, (long long)win, f->ticker, (long long)f->trades,
					 (long long)f->last, (long long)start);
		}
		struct ids want = { .n = 0 }, got = { .n = 0 };
		assert_int_equal(kw_store_top_trades(s, since_us, KW_STATS_TOP_MAX, on_top, &want),
				 0);
		assert_int_equal(kw_store_stats_top_trades(s, win, KW_STATS_TOP_MAX, on_top, &got),
				 0);
		assert_int_equal(got.n, want.n);
		for (int i = 0; i < want.n; i++)
			if (got.v[i] != want.v[i])
				fail_msg("step %d window %lld: top trade %d is %lld, recount %lld",
					 step, (long long)win, i, (long long)got.v[i],
					 (long long)want.v[i]);
		struct counts cw = { .len = 0 }, cg = { .len = 0 };
		assert_int_equal(kw_store_whale_counts(s, since_us, CATS, 3000000, on_count, &cw),
				 0);
		assert_int_equal(kw_store_stats_whales(s, win, on_count, &cg), 0);
		assert_int_equal(cg.len, cw.len);
		for (int i = 0; i < cw.len; i++) {
			assert_string_equal(cg.key[i], cw.key[i]);
			if (cg.n[i] != cw.n[i])
				fail_msg("step %d window %lld: %lld whale trades in '%s', recount "
					 "%lld",
					 step, (long long)win, (long long)cg.n[i], cw.key[i],
					 (long long)cw.n[i]);
		}
	}
	/* Hours: none older than the eight days kept, and the last day of each market, as the
	 * analytics read them. */
	if (scalar(s, "SELECT count(*) FROM market_hours WHERE hour < ?1", now / HOUR - 8 * 24,
		   NULL))
		fail_msg("step %d: market hours older than eight days kept", step);
	for (int t = 0; t < TICKERS; t++) {
		char ticker[32];
		snprintf(ticker, sizeof(ticker), "KXT-%d", t);
		int64_t first_hour = now / HOUR - 23;
		struct hours want = { .n = 0 }, got = { .n = 0 };
		assert_int_equal(kw_store_hourly_notional(s, ticker, first_hour * HOUR * 1000000,
							  on_hour, &want),
				 0);
		assert_int_equal(kw_store_market_hours(s, ticker, first_hour, on_hour, &got), 0);
		assert_int_equal(got.n, want.n);
		for (int i = 0; i < want.n; i++) {
			assert_int_equal(got.hour[i], want.hour[i]);
			assert_int_equal(got.micros[i], want.micros[i]);
		}
	}
}

struct tickers {
	char v[TICKERS][32];
	int n;
};

static int on_market(void *ctx, const struct kw_market_row *m)
{
	struct tickers *t = ctx;
	assert_true(t->n < TICKERS);
	snprintf(t->v[t->n++], sizeof(t->v[0]), "%s", m->ticker);
	return 0;
}

/* The ranked legacy views list what walking the markets in the legacy order lists. */
static void check_views(struct kw_store *s, const char *prefixes)
{
	static const struct {
		const char *view, *category;
		int crypto;
	} views[] = {
		{ "all", NULL, 0 },
		{ "crypto", NULL, 1 },
		{ "c:crypto", "Crypto", 0 },
		{ "c:sports", "sports", 0 },
		{ "c:politics", "POLITICS", 0 },
		{ "c:none", "None", 0 },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(views); i++) {
		struct tickers want = { .n = 0 }, got = { .n = 0 };
		struct kw_market_filter f = {
			.category = views[i].category,
			.status = { "active", "open" },
			.min_volume_24h_centi = KW_NULL,
			.crypto_prefixes = views[i].crypto ? prefixes : NULL,
			.sort = KW_MSORT_VOLUME_24H,
			.limit = 1000,
		};
		assert_int_equal(kw_store_markets_list(s, &f, on_market, &want), 0);
		assert_int_equal(kw_store_legacy_view(s, views[i].view, 1000, on_market, &got), 0);
		assert_int_equal(got.n, want.n);
		for (int k = 0; k < want.n; k++)
			assert_string_equal(got.v[k], want.v[k]);
	}
}

static struct kw_store *open_db(const char *name)
{
	char path[256], err[256];
	snprintf(path, sizeof(path), "/tmp/kw-test-store-rollup-%s-%d.db", name, (int)getpid());
	unlink(path);
	struct kw_store *s = kw_store_open(path, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(s);
	add_markets(s);
	return s;
}

static void close_db(struct kw_store *s, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "/tmp/kw-test-store-rollup-%s-%d.db", name, (int)getpid());
	kw_store_close(s);
	unlink(path);
}

static const struct kw_rollup_rules RULES = {
	.category_thresholds = CATS,
	.default_threshold_micros = 3000000,
	.retention_s = 30 * 86400,
	.crypto_prefixes = "[\"KXDOGE\"]",
};

/* A run stopped between two steps left every window counting whole trades: exactly those
 * with created_us >= its cutoff_us and id <= its upto_id, as stored with it. */
static void check_prefix(struct kw_store *s, int step)
{
	static const char q[] =
		"SELECT count(*) FROM stats_windows w WHERE"
		" (SELECT ifnull(sum(trades), 0) || '/' || ifnull(sum(notional_micros), 0)"
		"  FROM stats_markets m WHERE m.window_s = w.window_s) IS NOT"
		" (SELECT count(*) || '/' || ifnull(sum(notional_micros), 0) FROM trades t"
		"  WHERE t.created_us >= w.cutoff_us AND t.id <= w.upto_id)";
	if (scalar(s, q, 0, NULL) != 0)
		fail_msg("step %d: a stopped update left a window off its own state", step);
	if (scalar(s, "SELECT count(*) FROM stats_markets WHERE trades <= 0", 0, NULL) != 0)
		fail_msg("step %d: a stopped update left an empty market row", step);
}

static void test_rollups_follow_trades_and_clock(void **state)
{
	(void)state;
	struct kw_store *s = open_db("random");
	unsigned seed = 20261204;
	int64_t now = T0, serial = 0, deleted = 0;
	for (int step = 0; step < 160; step++) {
		/* A quarter of the runs find nothing new: only the clock moves, and the window
		 * starts move past snapshots and trades on their own. */
		if (rand_r(&seed) % 4) {
			add_trades(s, now, rand_r(&seed) % 60, &seed, &serial);
			move_prices(s, now, &seed);
		}
		/* Every other run in the smallest steps; some stopped after a few, as a kill
		 * between two steps would, and carried on by the next run. */
		struct kw_rollup_rules rules = RULES;
		rules.tiny_steps = rand_r(&seed) % 2;
		if (rand_r(&seed) % 3 == 0) {
			rules.stop_after_steps = 1 + rand_r(&seed) % 8;
			if (kw_store_rollups_update(s, now, &rules, 0) == -1)
				check_prefix(s, step);
			else
				check(s, now, step); /* it had fewer steps than that */
			rules.stop_after_steps = 0;
			if (rand_r(&seed) % 2)
				now += rand_r(&seed) % 600; /* the next run, a little later */
		}
		assert_int_equal(kw_store_rollups_update(s, now, &rules, 0), 0);
		check(s, now, step);
		check_views(s, RULES.crypto_prefixes);
		unsigned r = rand_r(&seed) % 20;
		if (r == 0)
			now -= rand_r(&seed) % HOUR; /* the clock stepped back */
		else if (r == 1)
			now += 86400 + rand_r(&seed) % (3 * 86400); /* days without runs */
		else if (r == 2)
			assert_int_equal(kw_store_fetch_prune(s, now - 86400, 50, 10, &deleted), 0);
		else if (r < 8)
			now += 1 + rand_r(&seed) % 120; /* runs a minute or two apart */
		else
			now += 60 + rand_r(&seed) % (3 * HOUR);
	}
	/* Counted from scratch: the same. A damaged rollup is repaired by a rebuild. */
	assert_int_equal(kw_store_rollups_update(s, now, &RULES, 1), 0);
	check(s, now, -1);
	exec(s, "DELETE FROM stats_markets WHERE ticker = 'KXT-1';"
		"UPDATE stats_whales SET trades = trades + 5;"
		"DELETE FROM market_hours WHERE ticker = 'KXT-2'");
	assert_int_equal(kw_store_rollups_update(s, now, &RULES, 1), 0);
	check(s, now, -2);
	close_db(s, "random");
}

/* New whale thresholds recount the whale trades at the next update. */
static void test_changed_thresholds_recount(void **state)
{
	(void)state;
	struct kw_store *s = open_db("rules");
	unsigned seed = 99;
	int64_t serial = 0;
	add_trades(s, T0, 400, &seed, &serial);
	move_prices(s, T0, &seed);
	struct kw_rollup_rules other = { .category_thresholds = "{\"crypto\":1000000000}",
					 .default_threshold_micros = 2500000000,
					 .retention_s = 30 * 86400 };
	assert_int_equal(kw_store_rollups_update(s, T0, &other, 0), 0);
	int64_t big =
		scalar(s, "SELECT sum(trades) FROM stats_whales WHERE window_s = ?1", 86400, NULL);
	assert_int_equal(kw_store_rollups_update(s, T0 + 60, &RULES, 0), 0);
	check(s, T0 + 60, 0);
	assert_true(scalar(s, "SELECT sum(trades) FROM stats_whales WHERE window_s = ?1", 86400,
			   NULL) > big);
	close_db(s, "rules");
}

/* Retention shorter than a window: the window starts at the retention horizon, and pruning
 * never removes what a window still counts. */
static void test_retention_bounds_the_windows(void **state)
{
	(void)state;
	struct kw_store *s = open_db("retention");
	unsigned seed = 5;
	int64_t serial = 0, deleted = 0, as_of, since, traded;
	struct kw_rollup_rules day = { .category_thresholds = CATS,
				       .default_threshold_micros = 3000000,
				       .retention_s = 86400 };
	add_trades(s, T0, 300, &seed, &serial);
	assert_int_equal(kw_store_rollups_update(s, T0, &day, 0), 0);
	assert_int_equal(kw_store_stats_window(s, 7 * 86400, &as_of, &since, &traded), 0);
	assert_int_equal(since, T0 - 86400);
	assert_int_equal(kw_store_fetch_prune(s, T0 + HOUR - 86400, 1000, 10, &deleted), 0);
	add_trades(s, T0 + HOUR, 50, &seed, &serial);
	assert_int_equal(kw_store_rollups_update(s, T0 + HOUR, &day, 0), 0);
	assert_int_equal(kw_store_stats_window(s, 7 * 86400, &as_of, &since, &traded), 0);
	/* Every window now holds what the 24 h one holds: compare them through the recount. */
	int64_t a =
		scalar(s, "SELECT sum(trades) FROM stats_markets WHERE window_s = ?1", 86400, NULL);
	int64_t b = scalar(s, "SELECT sum(trades) FROM stats_markets WHERE window_s = ?1",
			   7 * 86400, NULL);
	assert_int_equal(a, b);
	assert_int_equal(a, scalar(s, "SELECT count(*) FROM trades WHERE created_us >= ?1",
				   (T0 + HOUR - 86400) * 1000000, NULL));
	close_db(s, "retention");
}

/* kw-fetch's own writers note what they change: a market listed with a new previous price
 * and volume moves its 24 h start price and the legacy views, markets left out of the listing
 * close and leave the views, and a run with nothing new moves only with the clock. */
static void test_fetch_writers_note_changes(void **state)
{
	(void)state;
	struct kw_store *s = open_db("writers");
	unsigned seed = 7;
	int64_t serial = 0, closed = 0;
	add_trades(s, T0, 200, &seed, &serial);
	assert_int_equal(kw_store_rollups_update(s, T0, &RULES, 0), 0);
	check(s, T0, 0);
	check_views(s, RULES.crypto_prefixes);
	struct kw_kalshi_market m = {
		.ticker = "KXT-1",
		.event_ticker = "EV",
		.status = "active",
		.title = "KXT-1",
		.yes_sub_title = "",
		.no_sub_title = "",
		.market_type = "binary",
		.open_at = KW_KALSHI_NONE,
		.close_at = KW_KALSHI_NONE,
		.yes_bid = KW_KALSHI_NONE,
		.yes_ask = KW_KALSHI_NONE,
		.no_bid = KW_KALSHI_NONE,
		.no_ask = KW_KALSHI_NONE,
		.last_price = 300000,
		.previous_price = 420000,
		.yes_bid_size = KW_KALSHI_NONE,
		.yes_ask_size = KW_KALSHI_NONE,
		.volume = KW_KALSHI_NONE,
		.volume_24h = 5000,
		.open_interest = KW_KALSHI_NONE,
	};
	int as_it_was = 0;
	assert_int_equal(kw_store_fetch_market(s, &m, T0 + 60, 1, &as_it_was), 0);
	assert_int_equal(kw_store_rollups_update(s, T0 + 60, &RULES, 0), 0);
	check(s, T0 + 60, 1);
	check_views(s, RULES.crypto_prefixes);
	assert_int_equal(scalar(s,
				"SELECT start_price_micros FROM stats_markets WHERE window_s = ?1"
				" AND ticker = ?2",
				86400, "KXT-1"),
			 420000);
	/* Listed again as it was, an hour later, and the others no longer listed. */
	assert_int_equal(kw_store_fetch_market(s, &m, T0 + HOUR, 2, &as_it_was), 0);
	assert_true(as_it_was);
	assert_int_equal(kw_store_fetch_close_unseen(s, T0 + HOUR, &closed), 0);
	assert_int_equal(closed, TICKERS - 2);
	assert_int_equal(kw_store_rollups_update(s, T0 + HOUR, &RULES, 0), 0);
	check(s, T0 + HOUR, 2);
	check_views(s, RULES.crypto_prefixes);
	/* Nothing new: the clock alone moves. */
	assert_int_equal(kw_store_rollups_update(s, T0 + 2 * HOUR, &RULES, 0), 0);
	check(s, T0 + 2 * HOUR, 3);
	check_views(s, RULES.crypto_prefixes);
	close_db(s, "writers");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rollups_follow_trades_and_clock),
		cmocka_unit_test(test_changed_thresholds_recount),
		cmocka_unit_test(test_retention_bounds_the_windows),
		cmocka_unit_test(test_fetch_writers_note_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
