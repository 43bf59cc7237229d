/*
 * test_whale.c — whale detection on crafted histories in a real SQLite file: every signal fires
 * exactly at its threshold and above it, not a hair below, once, with the numbers that fired it
 * and the thresholds in force; the cooldown holds a market back; replaying the same data (even
 * after forgetting where the last run stopped) adds nothing. The category rules it applies are
 * tested in test_category.c.
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
#include "store_whale.h"
#include "whale.h"

#define USD 1000000LL
#define T0 1795000500LL /* a Unix time in 2026; buckets below are aligned from it */

struct fx {
	char path[256];
	struct kw_store *s;
	struct kw_config cfg;
};

static void exec(struct fx *f, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(kw_store_conn(f->s)->lite, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("SQL failed: %s: %s", sql, msg ? msg : "?");
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->path, sizeof(f->path), "/tmp/kw-test-whale-%d-%u.db", (int)getpid(),
		 (unsigned)rand());
	f->s = kw_store_open(f->path, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(f->s);
	f->cfg.whale_min_notional_usd = 5000;
	f->cfg.whale_min_notional_by_category = "Crypto=2500,Sports=20000";
	f->cfg.surge_window_min = 15;
	f->cfg.volume_surge_multiplier_milli = 3000;
	f->cfg.surge_min_trades = 3;
	f->cfg.surge_min_notional_usd = 1000;
	f->cfg.odds_change_points = 15;
	f->cfg.odds_window_min = 60;
	f->cfg.orderbook_change_percent = 25;
	f->cfg.orderbook_baseline_max_min = 30;
	f->cfg.high_volume_usd = 1000000;
	f->cfg.alert_cooldown_min = 0;
	f->cfg.crypto_series_prefixes = "KXBTC,KXETH";
	exec(f, "INSERT INTO markets (ticker, event_ticker, series_ticker, category, status,"
		" first_seen_at, updated_at) VALUES"
		" ('POL-A', 'E1', 'KXPOL', 'Politics', 'active', 1, 1),"
		" ('POL-B', 'E1', 'KXPOL', 'Politics', 'active', 1, 1),"
		" ('POL-C', 'E1', 'KXPOL', 'Politics', 'active', 1, 1),"
		" ('POL-D', 'E1', 'KXPOL', 'Politics', 'active', 1, 1),"
		" ('POL-E', 'E1', 'KXPOL', 'Politics', 'active', 1, 1),"
		" ('POL-F', 'E1', 'KXPOL', 'Politics', 'active', 1, 1),"
		" ('BTC-A', 'E2', 'KXBTCD', 'Crypto', 'active', 1, 1),"
		" ('SPO-A', 'E3', 'KXNFL', 'Sports', 'active', 1, 1)");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[300];
	kw_store_close(f->s);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	free(f);
	return 0;
}

static void trade(struct fx *f, const char *id, const char *ticker, int64_t t_s,
		  int64_t notional_micros, const char *side)
{
	sqlite3_stmt *st;
	assert_int_equal(
		sqlite3_prepare_v2(kw_store_conn(f->s)->lite,
				   "INSERT INTO trades (trade_id, ticker, created_us,"
				   " count_centi, yes_price_micros, no_price_micros,"
				   " taker_side, notional_micros) VALUES (?,?,?,?,?,?,?,?)",
				   -1, &st, NULL),
		SQLITE_OK);
	/* A price of $0.50 on either side: count = notional / 0.5 (in hundredths). */
	int64_t count_centi = notional_micros / 5000;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ticker, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t_s * 1000000);
	sqlite3_bind_int64(st, 4, count_centi > 0 ? count_centi : 1);
	sqlite3_bind_int64(st, 5, 500000);
	sqlite3_bind_int64(st, 6, 500000);
	sqlite3_bind_text(st, 7, side, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, notional_micros);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

static void snapshot(struct fx *f, const char *ticker, int64_t t, int64_t price)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(f->s)->lite,
					    "INSERT INTO market_snapshots (ticker, taken_at,"
					    " last_price_micros) VALUES (?,?,?)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, ticker, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, t);
	sqlite3_bind_int64(st, 3, price);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

static void book(struct fx *f, const char *ticker, int64_t t, int64_t yes_centi, int64_t no_centi)
{
	sqlite3_stmt *st;
	assert_int_equal(
		sqlite3_prepare_v2(kw_store_conn(f->s)->lite,
				   "INSERT INTO orderbook_snapshots (ticker, taken_at,"
				   " yes_depth_centi, no_depth_centi, yes_levels, no_levels)"
				   " VALUES (?,?,?,?,3,3)",
				   -1, &st, NULL),
		SQLITE_OK);
	sqlite3_bind_text(st, 1, ticker, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, t);
	sqlite3_bind_int64(st, 3, yes_centi);
	sqlite3_bind_int64(st, 4, no_centi);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

static struct kw_detect_stats run(struct fx *f)
{
	struct kw_detect_stats st;
	assert_int_equal(kw_detect_run(f->s, &f->cfg, T0 + 3700, &st), 0);
	return st;
}

static int64_t count_alerts(struct fx *f, const char *type, const char *ticker)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(f->s)->lite,
					    "SELECT count(*) FROM alerts WHERE type = ?1"
					    " AND (?2 IS NULL OR ticker = ?2)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	if (ticker)
		sqlite3_bind_text(st, 2, ticker, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The one alert of type for ticker: its data (owned, json_object_put), severity, confidence. */
static json_object *alert(struct fx *f, const char *type, const char *ticker, char *severity,
			  int *confidence)
{
	sqlite3_stmt *st;
	assert_int_equal(count_alerts(f, type, ticker), 1);
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(f->s)->lite,
					    "SELECT data, severity, confidence FROM alerts"
					    " WHERE type = ?1 AND ticker = ?2",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ticker, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	json_object *d = json_tokener_parse((const char *)sqlite3_column_text(st, 0));
	assert_non_null(d);
	snprintf(severity, 8, "%s", (const char *)sqlite3_column_text(st, 1));
	*confidence = sqlite3_column_int(st, 2);
	sqlite3_finalize(st);
	return d;
}

/* The JSON text of d.path (one or two levels), e.g. "thresholds.min_notional_usd". */
static const char *field(json_object *d, const char *k1, const char *k2)
{
	json_object *v = NULL;
	assert_true(json_object_object_get_ex(d, k1, &v));
	if (k2)
		assert_true(json_object_object_get_ex(v, k2, &v));
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
}

static void test_whale_trade_thresholds(void **state)
{
	struct fx *f = *state;
	trade(f, "t-below", "POL-A", T0, 5000 * USD - 1, "yes");
	trade(f, "t-at", "POL-B", T0, 5000 * USD, "yes");
	trade(f, "t-above", "POL-C", T0, 5000 * USD + 1, "no");
	trade(f, "t-high", "POL-D", T0, 25000 * USD, "yes");
	/* Crypto's override is $2,500; Sports' is $20,000. */
	trade(f, "c-below", "BTC-A", T0, 2500 * USD - 1, "yes");
	trade(f, "c-at", "BTC-A", T0 + 1, 2500 * USD, "yes");
	trade(f, "s-default-would-fire", "SPO-A", T0, 19999 * USD, "yes");
	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_WHALE_TRADE], 4);
	assert_int_equal(count_alerts(f, "whale_trade", "POL-A"), 0);
	assert_int_equal(count_alerts(f, "whale_trade", "SPO-A"), 0);

	char sev[8];
	int conf;
	json_object *d = alert(f, "whale_trade", "POL-B", sev, &conf);
	assert_string_equal(sev, "medium");
	assert_int_equal(conf, 50);
	assert_string_equal(field(d, "notional_usd", NULL), "5000");
	assert_string_equal(field(d, "trade_id", NULL), "\"t-at\"");
	assert_string_equal(field(d, "direction", NULL), "\"yes\"");
	assert_string_equal(field(d, "thresholds", "min_notional_usd"), "5000");
	assert_string_equal(field(d, "thresholds", "source"), "\"WHALE_MIN_NOTIONAL_USD\"");
	json_object_put(d);
	d = alert(f, "whale_trade", "POL-C", sev, &conf);
	assert_string_equal(field(d, "notional_usd", NULL), "5000.000001");
	assert_string_equal(field(d, "direction", NULL), "\"no\"");
	json_object_put(d);
	d = alert(f, "whale_trade", "POL-D", sev, &conf);
	assert_string_equal(sev, "high");
	assert_int_equal(conf, 100);
	assert_string_equal(field(d, "growth_multiple", NULL), "5");
	json_object_put(d);
	d = alert(f, "whale_trade", "BTC-A", sev, &conf);
	assert_string_equal(field(d, "trade_id", NULL), "\"c-at\"");
	assert_string_equal(field(d, "thresholds", "min_notional_usd"), "2500");
	assert_string_equal(field(d, "thresholds", "source"), "\"WHALE_MIN_NOTIONAL_BY_CATEGORY\"");
	json_object_put(d);

	/* Replaying adds nothing: neither a second run nor one that forgot where it stopped. */
	st = run(f);
	assert_int_equal(st.fired_total, 0);
	exec(f, "DELETE FROM detect_state");
	st = run(f);
	assert_int_equal(st.fired_total, 0);
	assert_int_equal(st.duplicates, 4);
	assert_int_equal(count_alerts(f, "whale_trade", NULL), 4);
}

static void test_cooldown(void **state)
{
	struct fx *f = *state;
	f->cfg.alert_cooldown_min = 30;
	f->cfg.surge_min_notional_usd = 1000000000; /* only whale trades and flips under test */
	/* Whale trades are events: every one fires, however close to another, whichever order
	 * they arrive in (Kalshi lists trades newest first: the $6,000 one ten minutes after a
	 * $100,000 one is stored before it and must not silence it). */
	trade(f, "w-later", "POL-A", T0 + 600, 6000 * USD, "yes");
	trade(f, "w-big", "POL-A", T0, 100000 * USD, "yes");
	trade(f, "w-next", "POL-A", T0 + 1, 7000 * USD, "no");
	/* State signals cool down forward in time: a flip of 16 points on POL-B, then a move
	 * back of the same 16 points inside the cooldown (held back), then a stronger move of 40
	 * points inside it (fires: it follows the weaker alert). */
	snapshot(f, "POL-B", T0, 400000);
	snapshot(f, "POL-B", T0 + 200, 560000);
	snapshot(f, "POL-B", T0 + 800, 400000);
	snapshot(f, "POL-B", T0 + 1400, 800000);
	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_WHALE_TRADE], 3);
	assert_int_equal(count_alerts(f, "whale_trade", "POL-A"), 3);
	assert_int_equal(st.fired[KW_ALERT_ODDS_FLIP], 2);
	assert_int_equal(st.cooled, 1);
	/* Forward only: an alert holds back nothing before its own window end. */
	int64_t end = T0 + 1400;
	assert_int_equal(kw_store_alert_cooling(f->s, "POL-B", "odds_flip", end - 1, 1800, 1), 1);
	assert_int_equal(kw_store_alert_cooling(f->s, "POL-B", "odds_flip", end + 1799, 1800, 1),
			 1);
	assert_int_equal(kw_store_alert_cooling(f->s, "POL-B", "odds_flip", end + 1800, 1800, 1),
			 0);
	assert_int_equal(kw_store_alert_cooling(f->s, "POL-B", "odds_flip", T0 + 199, 1800, 1), 0);
	/* ... and not against a stronger signal. */
	assert_int_equal(kw_store_alert_cooling(f->s, "POL-B", "odds_flip", end + 60, 1800, 400001),
			 0);
	/* The held-back move stays held back on a replay: the decision is reproducible. */
	exec(f, "DELETE FROM detect_state");
	st = run(f);
	assert_int_equal(st.fired_total, 0);
	assert_int_equal(st.cooled, 1);
}

static void test_volume_surge(void **state)
{
	struct fx *f = *state;
	int64_t b = (T0 / 900 + 10) * 900; /* a 15-minute bucket start */
	/* Baselines: $96,000 in the 24 h before the bucket = $1,000 per 15-minute window, as 24
	 * hourly trades under the whale threshold. */
	const char *m[] = { "POL-A", "POL-B", "POL-C", "POL-D" };
	char id[64];
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 24; k++) {
			snprintf(id, sizeof(id), "base-%d-%d", i, k);
			trade(f, id, m[i], b - 86400 + k * 3600, 4000 * USD, "yes");
		}
	for (int k = 0; k < 24; k++) {
		snprintf(id, sizeof(id), "thin-%d", k);
		trade(f, id, "SPO-A", b - 86400 + k * 3600, 400 * USD, "yes");
	}
	/* POL-E: a full baseline; POL-F: a baseline of two trades only (near-empty). */
	for (int k = 0; k < 24; k++) {
		snprintf(id, sizeof(id), "base-e-%d", k);
		trade(f, id, "POL-E", b - 86400 + k * 3600, 4000 * USD, "yes");
	}
	trade(f, "base-f-1", "POL-F", b - 7200, 48000 * USD, "yes");
	trade(f, "base-f-2", "POL-F", b - 3600, 48000 * USD, "yes");
	run(f); /* the baseline's own buckets are judged here; only the new bucket is under test */
	int64_t before = count_alerts(f, "volume_surge", NULL);
	/* Each surge is three trades (SURGE_MIN_TRADES). */
	trade(f, "s-at1", "POL-A", b + 60, 1000 * USD, "yes"); /* exactly 3x */
	trade(f, "s-at2", "POL-A", b + 61, 1000 * USD, "yes");
	trade(f, "s-at3", "POL-A", b + 62, 1000 * USD, "yes");
	trade(f, "s-below1", "POL-B", b + 60, 1000 * USD, "yes"); /* a hair below */
	trade(f, "s-below2", "POL-B", b + 61, 1000 * USD, "yes");
	trade(f, "s-below3", "POL-B", b + 62, 1000 * USD - 1, "yes");
	trade(f, "s-above1", "POL-C", b + 60, 1000 * USD, "yes"); /* a hair above */
	trade(f, "s-above2", "POL-C", b + 61, 1000 * USD, "yes");
	trade(f, "s-above3", "POL-C", b + 62, 1000 * USD + 1, "yes");
	trade(f, "s-high1", "POL-D", b + 60, 2000 * USD, "yes"); /* 5x */
	trade(f, "s-high2", "POL-D", b + 500, 1500 * USD, "no");
	trade(f, "s-high3", "POL-D", b + 899, 1500 * USD, "no");
	/* Thin market: baseline $9,600/24 h = $100 per window; $900 is 9x but under the $1,000
	 * floor. */
	trade(f, "thin-surge1", "SPO-A", b + 60, 300 * USD, "yes");
	trade(f, "thin-surge2", "SPO-A", b + 61, 300 * USD, "yes");
	trade(f, "thin-surge3", "SPO-A", b + 62, 300 * USD, "yes");
	/* No baseline at all: a first burst of trades is not a surge. */
	trade(f, "first1", "BTC-A", b + 60, 800 * USD, "yes");
	trade(f, "first2", "BTC-A", b + 61, 800 * USD, "yes");
	trade(f, "first3", "BTC-A", b + 62, 800 * USD, "yes");
	/* One trade worth 10x the mean is a whale trade or nothing, never a surge; two neither. */
	trade(f, "single", "POL-E", b + 60, 4000 * USD, "yes");
	trade(f, "double", "POL-E", b + 61, 4000 * USD, "yes");
	/* A near-empty baseline (two trades in 24 h) is no baseline. */
	trade(f, "thinbase1", "POL-F", b + 60, 40000 * USD, "yes");
	trade(f, "thinbase2", "POL-F", b + 61, 40000 * USD, "yes");
	trade(f, "thinbase3", "POL-F", b + 62, 40000 * USD, "yes");

	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_VOLUME_SURGE], 3);
	assert_int_equal(count_alerts(f, "volume_surge", NULL), before + 3);
	exec(f, "DELETE FROM alerts WHERE type = 'volume_surge' AND window_end < "
		"(SELECT max(window_end) FROM alerts WHERE type = 'volume_surge')");
	assert_int_equal(count_alerts(f, "volume_surge", "POL-B"), 0);
	assert_int_equal(count_alerts(f, "volume_surge", "SPO-A"), 0);
	assert_int_equal(count_alerts(f, "volume_surge", "BTC-A"), 0);
	assert_int_equal(count_alerts(f, "volume_surge", "POL-E"), 0);
	assert_int_equal(count_alerts(f, "volume_surge", "POL-F"), 0);
	assert_true(st.surge_few_trades >= 1 && st.surge_thin_baseline >= 2);
	char sev[8];
	int conf;
	json_object *d = alert(f, "volume_surge", "POL-A", sev, &conf);
	assert_string_equal(sev, "medium");
	assert_int_equal(conf, 50);
	assert_string_equal(field(d, "current_value", NULL), "3000");
	assert_string_equal(field(d, "previous_value", NULL), "1000");
	assert_string_equal(field(d, "growth_multiple", NULL), "3");
	assert_string_equal(field(d, "trailing_24h_usd", NULL), "96000");
	assert_string_equal(field(d, "thresholds", "min_notional_usd"), "1000");
	json_object_put(d);
	d = alert(f, "volume_surge", "POL-D", sev, &conf);
	assert_string_equal(sev, "high");
	assert_int_equal(conf, 100);
	assert_string_equal(field(d, "window_trades", NULL), "3");
	assert_string_equal(field(d, "growth_multiple", NULL), "5");
	json_object_put(d);

	/* A later trade in the same bucket re-examines it but cannot record it twice. */
	trade(f, "s-more", "POL-A", b + 120, 10 * USD, "yes");
	st = run(f);
	assert_int_equal(st.fired[KW_ALERT_VOLUME_SURGE], 0);
	assert_int_equal(count_alerts(f, "volume_surge", "POL-A"), 1);
}

/* The multiplier is exact: 2.2 and 1.1 fire at exactly 2.2x and 1.1x the mean, not a hair
 * above (a double 2.2 is 2.2000000000000002). */
static void test_surge_decimal_multiplier(void **state)
{
	struct fx *f = *state;
	static const struct {
		int64_t milli;
		const char *at, *below;
	} cases[] = { { 2200, "POL-A", "POL-B" }, { 1100, "POL-C", "POL-D" } };
	int64_t b = (T0 / 900 + 10) * 900;
	char id[64];
	const char *m[] = { "POL-A", "POL-B", "POL-C", "POL-D" };
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 24; k++) {
			snprintf(id, sizeof(id), "base-%d-%d", i, k);
			trade(f, id, m[i], b - 86400 + k * 3600, 4000 * USD, "yes");
		}
	run(f);
	for (size_t c = 0; c < 2; c++) {
		int64_t want = cases[c].milli * USD; /* mean $1,000 x multiplier */
		for (int k = 0; k < 3; k++) {
			snprintf(id, sizeof(id), "at-%zu-%d", c, k);
			trade(f, id, cases[c].at, b + 60 + k, want / 3 + (k == 0 ? want % 3 : 0),
			      "yes");
			snprintf(id, sizeof(id), "below-%zu-%d", c, k);
			trade(f, id, cases[c].below, b + 60 + k,
			      want / 3 + (k == 0 ? want % 3 : 0) - (k == 2), "yes");
		}
	}
	f->cfg.volume_surge_multiplier_milli = 2200;
	f->cfg.surge_min_notional_usd = 1000;
	struct kw_detect_stats st;
	/* One run per multiplier: each judges its own pair of markets. */
	assert_int_equal(kw_detect_run(f->s, &f->cfg, T0 + 3700, &st), 0);
	assert_int_equal(count_alerts(f, "volume_surge", "POL-A"), 1);
	assert_int_equal(count_alerts(f, "volume_surge", "POL-B"), 0);
	exec(f, "DELETE FROM detect_state");
	f->cfg.volume_surge_multiplier_milli = 1100;
	assert_int_equal(kw_detect_run(f->s, &f->cfg, T0 + 3700, &st), 0);
	assert_int_equal(count_alerts(f, "volume_surge", "POL-C"), 1);
	assert_int_equal(count_alerts(f, "volume_surge", "POL-D"), 0);
	char sev[8];
	int conf;
	json_object *d = alert(f, "volume_surge", "POL-C", sev, &conf);
	assert_string_equal(field(d, "growth_multiple", NULL), "1.1");
	assert_string_equal(field(d, "thresholds", "multiplier"), "1.1");
	json_object_put(d);
}

static void test_odds_flip(void **state)
{
	struct fx *f = *state;
	snapshot(f, "POL-A", T0, 400000);
	snapshot(f, "POL-A", T0 + 1800, 550000); /* +15 points: at the threshold */
	snapshot(f, "POL-B", T0, 400000);
	snapshot(f, "POL-B", T0 + 1800, 549999); /* a hair below */
	snapshot(f, "POL-C", T0, 400000);
	snapshot(f, "POL-C", T0 + 3600, 550001); /* a hair above, at the window's edge */
	snapshot(f, "POL-D", T0, 700000);
	snapshot(f, "POL-D", T0 + 600, 440000); /* -26 points: high */
	/* 20 points in two hours, 10 an hour: no 60-minute window holds 15. Snapshots are steps
	 * (kw-fetch writes one only when the market changed), so the price in force when a window
	 * opens counts: at T0 + 3650 the window opens on the 0.50 set at T0, not on 0.40. */
	snapshot(f, "SPO-A", T0 - 3700, 400000);
	snapshot(f, "SPO-A", T0, 500000);
	snapshot(f, "SPO-A", T0 + 3650, 600000);
	/* A price set long before the window, held, then a jump: a flip (the old rule, reading only
	 * snapshots inside the window, missed it). */
	snapshot(f, "SPO-B", T0 - 7200, 300000);
	snapshot(f, "SPO-B", T0 + 200, 450000); /* +15 points against the 0.30 in force */
	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_ODDS_FLIP], 4);
	assert_int_equal(count_alerts(f, "odds_flip", "POL-B"), 0);
	assert_int_equal(count_alerts(f, "odds_flip", "SPO-A"), 0);
	assert_int_equal(count_alerts(f, "odds_flip", "SPO-B"), 1);
	char sev[8];
	int conf;
	json_object *d = alert(f, "odds_flip", "POL-A", sev, &conf);
	assert_string_equal(sev, "medium");
	assert_string_equal(field(d, "current_value", NULL), "0.55");
	assert_string_equal(field(d, "previous_value", NULL), "0.4");
	assert_string_equal(field(d, "change_points", NULL), "15");
	assert_string_equal(field(d, "direction", NULL), "\"up\"");
	assert_string_equal(field(d, "thresholds", "odds_change_points"), "15");
	json_object_put(d);
	d = alert(f, "odds_flip", "POL-D", sev, &conf);
	assert_string_equal(sev, "high");
	assert_string_equal(field(d, "change_points", NULL), "-26");
	assert_string_equal(field(d, "direction", NULL), "\"down\"");
	json_object_put(d);

	/* One move, one alert: later snapshots measure from the flipped price. */
	snapshot(f, "POL-A", T0 + 3700, 550000);
	snapshot(f, "POL-A", T0 + 3800, 560000);
	st = run(f);
	assert_int_equal(st.fired_total, 0);
	/* ... but a new move of 15 points from there is a new flip. */
	snapshot(f, "POL-A", T0 + 3900, 710000);
	st = run(f);
	assert_int_equal(st.fired[KW_ALERT_ODDS_FLIP], 1);
	exec(f, "DELETE FROM detect_state");
	st = run(f);
	assert_int_equal(st.fired_total, 0);
}

static void test_order_book_shift(void **state)
{
	struct fx *f = *state;
	book(f, "POL-A", T0, 10000, 10000);
	book(f, "POL-A", T0 + 120, 12500, 12500); /* depth +25%: at the threshold */
	book(f, "POL-B", T0, 10000, 10000);
	book(f, "POL-B", T0 + 120, 12499, 12500); /* depth +24.995% */
	book(f, "POL-C", T0, 10000, 10000);
	book(f, "POL-C", T0 + 120, 15000, 5000); /* same depth, yes share 50% -> 75% */
	book(f, "POL-D", T0, 10000, 10000);
	book(f, "POL-D", T0 + 120, 5000, 5000);	 /* depth -50%: high */
	book(f, "SPO-A", T0 + 120, 100, 100000); /* no earlier snapshot: no signal */
	book(f, "POL-E", T0, 10000, 10000);
	book(f, "POL-E", T0 + 120, 0, 0); /* emptied: its own reason */
	/* POL-F was not in the previous run (T0): it re-enters the watch list with a fresh
	 * baseline, however different its book is from the one it had before. */
	book(f, "POL-F", T0 - 600, 10000, 10000);
	book(f, "POL-F", T0 + 120, 100, 100);
	/* BTC-A's previous-run book is older than ORDERBOOK_BASELINE_MAX_MIN (30 min). */
	book(f, "BTC-A", T0 + 200, 10000, 10000);
	book(f, "BTC-A", T0 + 200 + 1801, 100, 100);
	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_ORDER_BOOK_SHIFT], 4);
	assert_int_equal(count_alerts(f, "order_book_shift", "POL-F"), 0);
	assert_int_equal(count_alerts(f, "order_book_shift", "BTC-A"), 0);
	assert_int_equal(st.books_fresh_baseline, 2);
	assert_int_equal(count_alerts(f, "order_book_shift", "POL-B"), 0);
	assert_int_equal(count_alerts(f, "order_book_shift", "SPO-A"), 0);
	char sev[8];
	int conf;
	json_object *d = alert(f, "order_book_shift", "POL-A", sev, &conf);
	assert_string_equal(sev, "medium");
	assert_string_equal(field(d, "metric", NULL), "\"depth\"");
	assert_string_equal(field(d, "current_value", NULL), "250");
	assert_string_equal(field(d, "previous_value", NULL), "200");
	assert_string_equal(field(d, "change_percent", NULL), "25");
	assert_string_equal(field(d, "thresholds", "orderbook_change_percent"), "25");
	json_object_put(d);
	d = alert(f, "order_book_shift", "POL-C", sev, &conf);
	assert_string_equal(field(d, "metric", NULL), "\"imbalance\"");
	assert_string_equal(field(d, "current_value", NULL), "75");
	assert_string_equal(field(d, "previous_value", NULL), "50");
	json_object_put(d);
	d = alert(f, "order_book_shift", "POL-D", sev, &conf);
	assert_string_equal(sev, "high");
	assert_string_equal(field(d, "direction", NULL), "\"down\"");
	assert_string_equal(field(d, "change_percent", NULL), "-50");
	json_object_put(d);
	d = alert(f, "order_book_shift", "POL-E", sev, &conf);
	assert_string_equal(sev, "high");
	assert_string_equal(field(d, "reason", NULL), "\"book_emptied\"");
	assert_string_equal(field(d, "change_percent", NULL), "null");
	assert_string_equal(field(d, "previous_value", NULL), "200");
	json_object_put(d);
	exec(f, "DELETE FROM detect_state");
	st = run(f);
	assert_int_equal(st.fired_total, 0);
}

static void test_high_volume(void **state)
{
	struct fx *f = *state;
	f->cfg.whale_min_notional_usd = 1000000000; /* keep whale alerts out of this test */
	f->cfg.whale_min_notional_by_category = "";
	trade(f, "h1", "POL-A", T0, 600000 * USD, "yes");
	trade(f, "h2", "POL-A", T0 + 3600, 400000 * USD, "no"); /* total exactly $1,000,000 */
	trade(f, "h3", "POL-B", T0, 600000 * USD, "yes");
	trade(f, "h4", "POL-B", T0 + 3600, 400000 * USD - 1, "no");
	trade(f, "h5", "POL-C", T0 - 86400, 600000 * USD, "yes"); /* more than 24 h apart */
	trade(f, "h6", "POL-C", T0 + 1, 400000 * USD, "yes");
	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_HIGH_VOLUME], 1);
	char sev[8];
	int conf;
	json_object *d = alert(f, "high_volume", "POL-A", sev, &conf);
	assert_string_equal(field(d, "volume_24h_usd", NULL), "1000000");
	assert_string_equal(field(d, "trades_24h", NULL), "2");
	assert_string_equal(field(d, "thresholds", "high_volume_usd"), "1000000");
	json_object_put(d);
	/* More volume the same UTC day: still one alert for the day. */
	trade(f, "h7", "POL-A", T0 + 7200, 50 * USD, "yes");
	st = run(f);
	assert_int_equal(st.fired_total, 0);
	assert_int_equal(count_alerts(f, "high_volume", "POL-A"), 1);
}

static void test_inside_callers_transaction(void **state)
{
	/* kw-fetch may call detection inside its own transaction: a savepoint, not a nested
	 * BEGIN, and the caller's commit makes the alerts durable. */
	struct fx *f = *state;
	trade(f, "x1", "POL-A", T0, 9000 * USD, "yes");
	assert_int_equal(kw_store_begin(f->s), 0);
	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_WHALE_TRADE], 1);
	assert_int_equal(kw_store_commit(f->s), 0);
	assert_int_equal(count_alerts(f, "whale_trade", "POL-A"), 1);
	/* A caller that rolls back takes detection's work (and its cursor) with it. */
	trade(f, "x2", "POL-B", T0, 9000 * USD, "yes");
	assert_int_equal(kw_store_begin(f->s), 0);
	st = run(f);
	assert_int_equal(st.fired[KW_ALERT_WHALE_TRADE], 1);
	kw_store_rollback(f->s);
	assert_int_equal(count_alerts(f, "whale_trade", "POL-B"), 0);
	st = run(f);
	assert_int_equal(st.fired[KW_ALERT_WHALE_TRADE], 1);
	assert_int_equal(count_alerts(f, "whale_trade", "POL-B"), 1);
}

static void test_first_run_is_bounded(void **state)
{
	/* An upgrade: years of history, no detect_state. The first run judges the last day
	 * (now = T0 + 3700 in run()), later runs only what is new. */
	struct fx *f = *state;
	trade(f, "old", "POL-A", T0 + 3700 - 86401, 50000 * USD, "yes");
	trade(f, "recent", "POL-B", T0 + 3700 - 86400, 50000 * USD, "yes");
	snapshot(f, "POL-C", T0 - 7200, 400000);
	snapshot(f, "POL-C", T0 - 6000, 900000); /* an old flip, outside the first look */
	struct kw_detect_stats st = run(f);
	assert_int_equal(st.fired[KW_ALERT_WHALE_TRADE], 1);
	assert_int_equal(count_alerts(f, "whale_trade", "POL-B"), 1);
	assert_int_equal(st.fired[KW_ALERT_ODDS_FLIP], 0);
	trade(f, "later", "POL-A", T0, 50000 * USD, "no");
	st = run(f);
	assert_int_equal(st.fired[KW_ALERT_WHALE_TRADE], 1);
	assert_int_equal(st.trades_examined, 1);
}

/* The signal table (signals.h) and the schema's CHECK on alerts.type name the same signals:
 * the CHECK's list, read from the migrated schema, holds exactly the table's names. */
static void test_signal_table_matches_schema(void **state)
{
	struct fx *f = *state;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(kw_store_conn(f->s)->lite,
					    "SELECT sql FROM sqlite_master WHERE name = 'alerts'",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *sql = (const char *)sqlite3_column_text(st, 0);
	const char *p = strstr(sql, "type IN (");
	assert_non_null(p);
	const char *end = strchr(p, ')');
	assert_non_null(end);
	int seen[KW_ALERT_NTYPES] = { 0 }, n = 0;
	for (p = strchr(p, '\''); p && p < end; p = strchr(p, '\'')) {
		const char *q = strchr(p + 1, '\'');
		assert_non_null(q);
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(q - p - 1), p + 1);
		const struct kw_signal *sig = kw_signal_find(name);
		if (!sig)
			fail_msg("the schema allows '%s', which the signal table lacks", name);
		seen[sig->type]++;
		n++;
		p = q + 1;
	}
	sqlite3_finalize(st);
	for (int i = 0; i < KW_ALERT_NTYPES; i++)
		if (seen[i] != 1)
			fail_msg("signal '%s' is in the table %s", kw_signals[i].name,
				 seen[i] ? "twice in the schema" : "but not in the schema");
	assert_int_equal(n, KW_ALERT_NTYPES);
	/* The parameter choices come from the same table. */
	char choices[512] = "";
	for (int i = 0; i < KW_ALERT_NTYPES; i++)
		snprintf(choices + strlen(choices), sizeof(choices) - strlen(choices), "%s%s",
			 i ? "|" : "", kw_signals[i].name);
	assert_string_equal(KW_SIGNAL_CHOICES, choices);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whale_trade_thresholds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cooldown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_surge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_surge_decimal_multiplier, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odds_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_book_shift, setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_volume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inside_callers_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_run_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_table_matches_schema, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
