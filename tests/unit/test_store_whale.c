/*
 * test_store_whale.c — the store behind detection (lib/store_whale.c), through its public
 * functions only, on a temporary database: markets, trades and books arrive the way kw-fetch
 * stores them (Kalshi's JSON through the kalshi.h parsers into kw_store_fetch_*), then the
 * reads detection makes are checked against what went in: the state of a fresh database, whale
 * candidates over a threshold with their category, exact premium sums, trades without a taker
 * side, per-market buckets, price changes and ranges, books and their baselines, and alert
 * keys, cooldowns and the saved state.
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

#include "fetched.h"
#include "store_whale.h"

#define T0 1795000000LL /* 2026-11-18T11:06:40Z */
#define USD 1000000LL

/* ---- trades -------------------------------------------------------------------------------- */

struct seen {
	char ids[8][32];
	const char *cats[8];
	int64_t notional[8];
	int n;
};

static int on_candidate(void *ctx, const struct kw_trade_candidate *t)
{
	struct seen *sn = ctx;
	assert_true(sn->n < 8);
	snprintf(sn->ids[sn->n], sizeof(sn->ids[0]), "%s", t->trade_id);
	sn->cats[sn->n] = t->category ? (strcmp(t->category, "Crypto") ? "other" : "Crypto") : NULL;
	sn->notional[sn->n] = t->notional_micros;
	sn->n++;
	return 0;
}

struct buckets {
	char rows[8][64];
	int n;
};

static int on_bucket(void *ctx, const struct kw_trade_bucket *t)
{
	struct buckets *b = ctx;
	assert_true(b->n < 8);
	snprintf(b->rows[b->n++], sizeof(b->rows[0]), "%s/%lld/%lld/%lld", t->ticker,
		 (long long)t->bucket, (long long)(t->newest_us / USD),
		 (long long)(t->market_newest_us / USD));
	return 0;
}

static void test_trades(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "whale-trades");
	struct kw_detect_state st;
	int64_t sum = 0, count = 0, n = 0;
	assert_int_equal(kw_store_detect_state(s, &st), 0);
	assert_int_equal(st.fresh, 1);
	assert_int_equal(st.max_trade_id, 0);

	(void)put_two_markets(s, T0); /* KXA-1 is Crypto; KXB-1's event is unknown */

	assert_int_equal(put_trade(s, "t1", "KXA-1", T0 + 10, "10000.00", "0.6000", "yes"), 1);
	assert_int_equal(put_trade(s, "t2", "KXA-1", T0 + 20, "10.00", "0.5000", "no"), 1);
	assert_int_equal(put_trade(s, "t3", "KXB-1", T0 + 400, "20000.00", "0.3000", "no"), 1);
	assert_int_equal(put_trade(s, "t4", "KXB-1", T0 + 410, "50000.00", "0.3000", NULL), 1);
	assert_int_equal(put_trade(s, "t1", "KXA-1", T0 + 10, "10000.00", "0.6000", "yes"), 0);

	assert_int_equal(kw_store_detect_state(s, &st), 0);
	assert_int_equal(st.fresh, 1);
	int64_t upto = st.max_trade_id;
	assert_true(upto >= 4);

	/* Over 5,000 USD of taker premium: t1 (6,000) and t3 (20,000 x 0.70 = 14,000). */
	struct seen sn = { .n = 0 };
	assert_int_equal(kw_store_whale_candidates(s, 0, upto, 5000 * USD, on_candidate, &sn), 0);
	assert_int_equal(sn.n, 2);
	assert_string_equal(sn.ids[0], "t1");
	assert_string_equal(sn.cats[0], "Crypto");
	assert_int_equal(sn.notional[0], 6000 * USD);
	assert_string_equal(sn.ids[1], "t3");
	assert_null(sn.cats[1]);
	assert_int_equal(sn.notional[1], 14000 * USD);
	/* Only what arrived after the last id examined. */
	sn.n = 0;
	assert_int_equal(kw_store_whale_candidates(s, upto, upto, 0, on_candidate, &sn), 0);
	assert_int_equal(sn.n, 0);

	assert_int_equal(kw_store_notional_sum(s, "KXA-1", T0 * USD, (T0 + 60) * USD, &sum, &count),
			 0);
	assert_int_equal(sum, 6005 * USD); /* t2: 10 x 0.50 */
	assert_int_equal(count, 2);
	assert_int_equal(
		kw_store_notional_sum(s, "KXA-1", (T0 + 15) * USD, (T0 + 20) * USD, &sum, &count),
		0);
	assert_int_equal(count, 0); /* the end of the window is open */
	/* Two ranges in one statement: each summed as kw_store_notional_sum sums it alone. */
	int64_t from[2] = { (T0 + 15) * USD, (T0 + 20 - 86400) * USD };
	int64_t to[2] = { (T0 + 300) * USD, (T0 + 21) * USD }, sums[2], counts[2];
	assert_int_equal(kw_store_notional_sums(s, "KXA-1", from, to, sums, counts), 0);
	assert_int_equal(sums[0], 5 * USD); /* t2 only */
	assert_int_equal(counts[0], 1);
	assert_int_equal(sums[1], 6005 * USD);
	assert_int_equal(counts[1], 2);
	/* Many asks at once, in order: each as the one-ask calls above give it; an empty second
	 * range sums nothing. */
	struct kw_sum_ask asks[3] = {
		{ .ticker = "KXA-1", .from_us = { from[0], from[1] }, .to_us = { to[0], to[1] } },
		{ .ticker = "KXA-1",
		  .from_us = { T0 * USD, T0 * USD },
		  .to_us = { (T0 + 60) * USD, T0 * USD } },
		{ .ticker = "KXB-1",
		  .from_us = { T0 * USD, (T0 + 405) * USD },
		  .to_us = { (T0 + 900) * USD, (T0 + 900) * USD } },
	};
	assert_int_equal(kw_store_notional_sums_many(s, asks, 3), 0);
	assert_int_equal(asks[0].sum_micros[0], 5 * USD);
	assert_int_equal(asks[0].count[0], 1);
	assert_int_equal(asks[0].sum_micros[1], 6005 * USD);
	assert_int_equal(asks[0].count[1], 2);
	assert_int_equal(asks[1].sum_micros[0], 6005 * USD);
	assert_int_equal(asks[1].count[0], 2);
	assert_int_equal(asks[1].sum_micros[1], 0);
	assert_int_equal(asks[1].count[1], 0);
	assert_int_equal(asks[2].sum_micros[0], 14000 * USD); /* t4 has no taker side */
	assert_int_equal(asks[2].count[0], 1);
	assert_int_equal(asks[2].sum_micros[1], 0);
	assert_int_equal(asks[2].count[1], 0);
	assert_int_equal(kw_store_trades_without_side(s, 0, upto, &n), 0);
	assert_int_equal(n, 1);

	struct buckets b = { .n = 0 };
	assert_int_equal(kw_store_trade_buckets(s, 0, upto, 300 * USD, on_bucket, &b), 0);
	char want[3][64];
	/* Each market's last bucket also names the market's newest new trade. */
	snprintf(want[0], sizeof(want[0]), "KXA-1/%lld/%lld/%lld", (long long)((T0 + 10) / 300),
		 (long long)(T0 + 20), (long long)(T0 + 20));
	snprintf(want[1], sizeof(want[1]), "KXB-1/%lld/%lld/%lld", (long long)((T0 + 400) / 300),
		 (long long)(T0 + 410), (long long)(T0 + 410));
	assert_true(b.n >= 2);
	assert_string_equal(b.rows[0], want[0]);
	assert_string_equal(b.rows[b.n - 1], want[1]);

	int64_t first = 0;
	assert_int_equal(kw_store_first_trade_since(s, (T0 + 300) * USD, &first), 0);
	sn.n = 0;
	assert_int_equal(kw_store_whale_candidates(s, first - 1, upto, 0, on_candidate, &sn), 0);
	assert_int_equal(sn.n, 1); /* t3; t4 has no premium to compare */
	assert_string_equal(sn.ids[0], "t3");
	kw_store_close(s);
	unlink(path);
}

/* ---- snapshots and books ------------------------------------------------------------------ */

struct prices {
	int64_t at[8], price[8];
	int n;
};

static int on_price(void *ctx, const char *ticker, int64_t taken_at, int64_t price)
{
	struct prices *p = ctx;
	assert_string_equal(ticker, "KXA-1");
	assert_true(p->n < 8);
	p->at[p->n] = taken_at;
	p->price[p->n++] = price;
	return 0;
}

struct books {
	int64_t at[8], yes[8];
	int n;
};

static int on_book(void *ctx, const char *ticker, const struct kw_book_point *b)
{
	struct books *k = ctx;
	assert_string_equal(ticker, "KXA-1");
	assert_true(k->n < 8);
	k->at[k->n] = b->taken_at;
	k->yes[k->n++] = b->yes_depth_centi;
	return 0;
}

static void test_snapshots_and_books(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "whale-snap");
	int64_t r1 = 0, r2 = 0, r3 = 0, r4 = 0, lo = 0, hi = 0, n = 0, prev_run = 0;
	assert_int_equal(kw_store_fetch_run_begin(s, T0, &r1), 0);
	put_market(s, "KXA-1", "KXA-26", "0.4100", T0, r1);
	put_book(s, "KXA-1", "100.00", "50.00", T0, r1);
	assert_int_equal(kw_store_fetch_run_begin(s, T0 + 60, &r2), 0);
	put_market(s, "KXA-1", "KXA-26", "0.4100", T0 + 60, r2); /* unchanged price */
	put_book(s, "KXA-1", "300.00", "50.00", T0 + 60, r2);
	assert_int_equal(kw_store_fetch_run_begin(s, T0 + 120, &r3), 0);
	put_market(s, "KXA-1", "KXA-26", "0.5500", T0 + 120, r3);

	/* Only prices that moved since the market's previous snapshot. */
	struct prices p = { .n = 0 };
	assert_int_equal(kw_store_price_snapshots_since(s, T0, on_price, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.at[0], T0 + 120);
	assert_int_equal(p.price[0], 550000);
	/* No flip yet: the range is every price in force during the window. */
	assert_int_equal(
		kw_store_price_range_after(s, "KXA-1", "odds_flip", T0, T0 + 121, &lo, &hi, &n), 0);
	assert_int_equal(lo, 410000);
	assert_int_equal(hi, 550000);
	assert_true(n >= 2);
	/* The price standing when a window opens counts in it: the last snapshot before it. */
	assert_int_equal(kw_store_price_range_after(s, "KXA-1", "odds_flip", T0 + 500, T0 + 600,
						    &lo, &hi, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(lo, 550000);
	assert_int_equal(hi, 550000);
	assert_int_equal(kw_store_price_range_after(s, "KXA-1", "odds_flip", T0 - 600, T0 - 500,
						    &lo, &hi, &n),
			 0);
	assert_int_equal(n, 0);
	/* The three windows above at once, in order. */
	struct kw_range_ask asks[3] = {
		{ .ticker = "KXA-1", .from = T0, .to = T0 + 121 },
		{ .ticker = "KXA-1", .from = T0 + 500, .to = T0 + 600 },
		{ .ticker = "KXA-1", .from = T0 - 600, .to = T0 - 500 },
	};
	assert_int_equal(kw_store_price_ranges_after(s, "odds_flip", asks, 3), 0);
	assert_int_equal(asks[0].lo, 410000);
	assert_int_equal(asks[0].hi, 550000);
	assert_true(asks[0].n >= 2);
	assert_int_equal(asks[1].n, 1);
	assert_int_equal(asks[1].lo, 550000);
	assert_int_equal(asks[2].n, 0);
	/* After an odds flip the window starts at the flip (its window_end before the window's
	 * end), so the move it reported is not reported again; alerts of other types, or at or
	 * after the end, do not move it. */
	struct kw_alert_new other =
		alert_row("volume_surge:KXA-1:x", "volume_surge", "KXA-1", T0 + 120);
	struct kw_alert_new flip = alert_row("odds_flip:KXA-1:x", "odds_flip", "KXA-1", T0 + 120);
	assert_int_equal(kw_store_alert_insert(s, &other), 1);
	assert_int_equal(
		kw_store_price_range_after(s, "KXA-1", "odds_flip", T0, T0 + 121, &lo, &hi, &n), 0);
	assert_int_equal(lo, 410000);
	assert_int_equal(hi, 550000);
	assert_int_equal(kw_store_alert_insert(s, &flip), 1);
	assert_int_equal(
		kw_store_price_range_after(s, "KXA-1", "odds_flip", T0, T0 + 121, &lo, &hi, &n), 0);
	assert_int_equal(lo, 550000);
	assert_int_equal(hi, 550000);
	assert_int_equal(
		kw_store_price_range_after(s, "KXA-1", "odds_flip", T0, T0 + 120, &lo, &hi, &n), 0);
	assert_int_equal(lo, 410000);
	assert_int_equal(hi, 410000);
	/* A flip older than the window's start leaves the start where it was. */
	assert_int_equal(kw_store_price_range_after(s, "KXA-1", "odds_flip", T0 + 500, T0 + 600,
						    &lo, &hi, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(lo, 550000);
	assert_int_equal(hi, 550000);
	/* Of two flips the newer one starts the window: neither flip's move is counted again. */
	assert_int_equal(kw_store_fetch_run_begin(s, T0 + 180, &r4), 0);
	put_market(s, "KXA-1", "KXA-26", "0.3000", T0 + 180, r4);
	assert_int_equal(
		kw_store_price_range_after(s, "KXA-1", "odds_flip", T0, T0 + 240, &lo, &hi, &n), 0);
	assert_int_equal(lo, 300000);
	assert_int_equal(hi, 550000);
	struct kw_alert_new flip2 = alert_row("odds_flip:KXA-1:y", "odds_flip", "KXA-1", T0 + 180);
	assert_int_equal(kw_store_alert_insert(s, &flip2), 1);
	assert_int_equal(
		kw_store_price_range_after(s, "KXA-1", "odds_flip", T0, T0 + 240, &lo, &hi, &n), 0);
	assert_int_equal(lo, 300000);
	assert_int_equal(hi, 300000);

	struct books k = { .n = 0 };
	assert_int_equal(kw_store_book_snapshots_since(s, T0 - 1, on_book, &k), 0);
	assert_int_equal(k.n, 2);
	assert_int_equal(k.at[0], T0); /* oldest first */
	assert_int_equal(k.yes[1], 30000);
	struct kw_book_point bp;
	assert_int_equal(kw_store_book_previous(s, "KXA-1", T0 + 60, &bp), 0);
	assert_int_equal(bp.taken_at, T0);
	assert_int_equal(bp.yes_depth_centi, 10000);
	assert_int_equal(bp.no_depth_centi, 5000);
	assert_int_equal(kw_store_book_previous(s, "KXA-1", T0, &bp), 1);
	assert_int_equal(kw_store_book_previous(s, "KXZ-9", T0 + 60, &bp), 1);
	assert_int_equal(kw_store_book_run_before(s, T0 + 60, &prev_run), 0);
	assert_int_equal(prev_run, T0);
	assert_int_equal(kw_store_book_run_before(s, T0, &prev_run), 0);
	assert_int_equal(prev_run, 0);
	kw_store_close(s);
	unlink(path);
}

/* ---- alerts and the saved state ------------------------------------------------------------ */

static struct kw_alert_new alert(const char *key, int64_t end, int64_t strength)
{
	struct kw_alert_new a = alert_row(key, "volume_surge", "KXA-1", end);
	a.strength = strength;
	return a;
}

static void test_alerts_and_state(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "whale-alerts");
	int own = -1;
	struct kw_alert_new a = alert("volume_surge:KXA-1:100", T0, 500);
	assert_int_equal(kw_store_detect_begin(s, &own), 0);
	assert_int_equal(own, 1);
	assert_int_equal(kw_store_alert_key_exists(s, a.alert_key), 0);
	assert_int_equal(kw_store_alert_insert(s, &a), 1);
	assert_int_equal(kw_store_alert_insert(s, &a), 0); /* the key is the identity */
	assert_int_equal(kw_store_alert_key_exists(s, a.alert_key), 1);

	/* Cooldown: a weaker or equal alert within it is held back, a stronger one is not;
	 * outside it nothing is, and an earlier window is never held back by a later alert. */
	assert_int_equal(kw_store_alert_cooling(s, "KXA-1", "volume_surge", T0 + 60, 1800, 400), 1);
	assert_int_equal(kw_store_alert_cooling(s, "KXA-1", "volume_surge", T0 + 60, 1800, 500), 1);
	assert_int_equal(kw_store_alert_cooling(s, "KXA-1", "volume_surge", T0 + 60, 1800, 501), 0);
	assert_int_equal(kw_store_alert_cooling(s, "KXA-1", "volume_surge", T0 + 1900, 1800, 1), 0);
	assert_int_equal(kw_store_alert_cooling(s, "KXA-1", "volume_surge", T0 - 60, 1800, 1), 0);
	assert_int_equal(kw_store_alert_cooling(s, "KXA-1", "odds_flip", T0 + 60, 1800, 1), 0);
	assert_int_equal(kw_store_alert_cooling(s, "KXB-1", "volume_surge", T0 + 60, 1800, 1), 0);

	struct kw_detect_state done = { .last_trade_id = 7,
					.last_snapshot_at = T0 + 5,
					.last_book_at = T0 + 6 };
	assert_int_equal(kw_store_detect_save(s, &done, T0 + 10), 0);
	assert_int_equal(kw_store_detect_end(s, own, 1), 0);

	struct kw_detect_state st;
	assert_int_equal(kw_store_detect_state(s, &st), 0);
	assert_int_equal(st.fresh, 0);
	assert_int_equal(st.last_trade_id, 7);
	assert_int_equal(st.last_snapshot_at, T0 + 5);
	assert_int_equal(st.last_book_at, T0 + 6);

	/* A run that fails leaves nothing behind. */
	struct kw_alert_new b = alert("volume_surge:KXA-1:200", T0 + 3600, 900);
	assert_int_equal(kw_store_detect_begin(s, &own), 0);
	assert_int_equal(kw_store_alert_insert(s, &b), 1);
	assert_int_equal(kw_store_detect_end(s, own, 0), -1); /* rolled back, as asked */
	assert_int_equal(kw_store_alert_key_exists(s, b.alert_key), 0);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trades),
		cmocka_unit_test(test_snapshots_and_books),
		cmocka_unit_test(test_alerts_and_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
