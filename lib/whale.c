/*
 * whale.c — whale detection (contract and signal definitions in whale.h; SQL in
 * store_whale.c; the category rules it applies in category.c).
 *
 * A run walks only what arrived since the previous run (detect_state): new trades by id, new
 * market and order-book snapshots by time. Exact threshold comparisons are done on integers
 * (or long double products of integers), so a value exactly at a threshold fires and one a
 * micro-dollar below does not. What it leaves out: it never fetches, never deletes alerts, and
 * never re-judges an alert already stored (the first decision for an alert_key stands).
 */
#include "whale.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "category.h"
#include "codec.h"
#include "log.h"
#include "store_rollup.h"
#include "store_whale.h"

#define US_PER_S 1000000LL
#define MICROS_PER_USD 1000000LL
#define DAY_US (86400LL * US_PER_S)
#define POINT_MICROS 10000LL /* one percentage point of a $1 contract */

const char *kw_alert_type_name(enum kw_alert_type t)
{
	return t >= 0 && t < KW_ALERT_NTYPES ? kw_signals[t].name : "unknown";
}

int kw_whale_rollups(struct kw_store *s, const struct kw_config *cfg, int64_t now_s, int rebuild)
{
	char *cats = kw_category_thresholds_json(cfg), *prefixes = kw_category_prefixes_json(cfg);
	struct kw_rollup_rules rules = {
		.category_thresholds = cats,
		.default_threshold_micros = cfg->whale_min_notional_usd * 1000000,
		.retention_s = cfg->retention_days * 86400,
		.crypto_prefixes = prefixes,
	};
	int rc = kw_store_rollups_update(s, now_s, &rules, rebuild);
	free(prefixes);
	free(cats);
	return rc;
}

int kw_whale_confidence(long double value, long double threshold, long double high)
{
	if (high <= threshold)
		return value >= threshold ? 100 : 50;
	long double c = 50.0L + 50.0L * (value - threshold) / (high - threshold);
	if (c < 50)
		c = 50;
	if (c > 100)
		c = 100;
	return (int)c;
}

/* ---- formatting ---------------------------------------------------------------------------- */

/* "12,500.00" from micro-dollars (rounded down to the cent). */
static void fmt_usd(int64_t micros, char *buf, size_t len)
{
	char digits[32];
	int64_t cents = micros / 10000;
	int neg = cents < 0;
	uint64_t c = neg ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)(c / 100));
	size_t o = 0;
	if (neg && o + 1 < len)
		buf[o++] = '-';
	for (int i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	snprintf(buf + o, len - o, ".%02llu", (unsigned long long)(c % 100));
}

/* ---- one run ------------------------------------------------------------------------------- */

/* A new price snapshot held until its window's range is read. */
struct pending_price {
	char *ticker; /* owned */
	int64_t taken_at, price;
};

/* A bucket of the walk (kw_trade_bucket) held until its sums are read. */
struct pending_bucket {
	char *ticker; /* owned */
	int64_t bucket, market_newest_us;
};

struct run {
	struct kw_store *s;  /* judging and writing: alerts, sums, cooldowns, the state */
	struct kw_store *rd; /* walking what arrived (see kw_detect_run): s or a second one */
	int stepped;	     /* commit in steps (kw_detect_run owns the transaction) */
	int in_txn;
	int64_t step_began_us, step_us; /* step_us: kw_store_write_step_us */
	const struct kw_config *cfg;
	int64_t now;
	struct kw_detect_stats *st;
	struct kw_category_threshold cats[KW_CATEGORY_MAX];
	int ncats;
	/* high_volume: the market the bucket pass last left, its check not yet made */
	char *hv_ticker; /* owned; NULL when none */
	int64_t hv_newest_us, hv_sum, hv_count;
	/* buckets walked and not yet judged (buckets_flush), tickers owned; their sums */
	struct pending_bucket *buckets;
	struct kw_sum_ask *bucket_asks;
	size_t nbuckets;
	/* snapshots walked and not yet judged (prices_flush), tickers owned; their ranges */
	struct pending_price *prices;
	struct kw_range_ask *price_asks;
	size_t nprices;
	int64_t max_snapshot_at, max_book_at;
	/* order books: the run time last asked about and the book run before it */
	int64_t book_at, book_prev_run;
};

/*
 * Record one alert unless its key exists or, for a state signal, an earlier alert of its type
 * for the market within the cooldown was at least as strong (strength: a number comparable
 * between alerts of one type). data (ownership taken) gets the common fields. 0 on success
 * (stored or skipped), -1 error.
 */
static int emit(struct run *r, enum kw_alert_type type, const char *ticker, const char *window,
		int64_t window_end, int high, int confidence, int64_t strength,
		const char *description, json_object *data)
{
	const char *tname = kw_signals[type].name;
	char key[256];
	int rc = -1;
	if (snprintf(key, sizeof(key), "%s:%s:%s", tname, ticker, window) >= (int)sizeof(key)) {
		kw_warn("whale: alert key too long for %.64s; skipped", ticker);
		rc = 0;
		goto out;
	}
	int have = kw_store_alert_key_exists(r->s, key);
	if (have != 0) {
		if (have == 1)
			r->st->duplicates++;
		rc = have < 0 ? -1 : 0;
		goto out;
	}
	int cooling = kw_signals[type].kind == KW_SIGNAL_STATE
			      ? kw_store_alert_cooling(r->s, ticker, tname, window_end,
						       r->cfg->alert_cooldown_min * 60, strength)
			      : 0;
	if (cooling != 0) {
		if (cooling == 1)
			r->st->cooled++;
		rc = cooling < 0 ? -1 : 0;
		goto out;
	}
	char ts[32];
	kw_fmt_rfc3339(window_end, ts, sizeof(ts));
	json_object_object_add(data, "window_end", json_object_new_string(ts));
	json_object_object_add(data, "cooldown_min",
			       kw_signals[type].kind == KW_SIGNAL_STATE
				       ? json_object_new_int64(r->cfg->alert_cooldown_min)
				       : NULL);
	struct kw_alert_new a = {
		.alert_key = key,
		.type = tname,
		.ticker = ticker,
		.severity = high ? "high" : "medium",
		.description = description,
		.data = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN),
		.confidence = confidence,
		.created_at = r->now,
		.window_end = window_end,
		.strength = strength,
	};
	int ins = kw_store_alert_insert(r->s, &a);
	if (ins < 0)
		goto out;
	if (ins == 1) {
		r->st->fired[type]++;
		r->st->fired_total++;
	} else {
		r->st->duplicates++;
	}
	rc = 0;
out:
	json_object_put(data);
	return rc;
}

/* Between two items: once a step has run the backend's step length (kw_store_write_step_us),
 * commit what it stored and start the next, so that other writers get the lock in between. The walk feeding the items
 * reads through its own connection (r->rd), so no statement of r->s is open here. */
static int step_point(struct run *r)
{
	if (!r->stepped || kw_mono_us() - r->step_began_us < r->step_us)
		return 0;
	if (kw_store_commit(r->s) < 0)
		return -1; /* still open: rolled back at the end */
	if (kw_store_begin(r->s) < 0) {
		r->in_txn = 0;
		return -1;
	}
	r->step_began_us = kw_mono_us();
	return 0;
}

static int on_whale_candidate(void *ctx, const struct kw_trade_candidate *t)
{
	struct run *r = ctx;
	if (step_point(r) < 0)
		return -1;
	int from_cat;
	int64_t threshold =
		kw_category_threshold_from(r->cfg, r->cats, r->ncats, t->category, &from_cat);
	r->st->trades_examined++;
	if (t->notional_micros < threshold)
		return 0;
	int64_t high = threshold * KW_WHALE_HIGH_MULTIPLE;
	int is_yes = !strcmp(t->taker_side, "yes");
	int64_t price = is_yes ? t->yes_price_micros : t->no_price_micros;
	json_object *d = json_object_new_object();
	json_object_object_add(d, "trade_id", json_object_new_string(t->trade_id));
	json_object_object_add(d, "current_value", kw_json_decimal(t->notional_micros, 6));
	json_object_object_add(d, "previous_value", NULL);
	json_object_object_add(d, "notional_usd", kw_json_decimal(t->notional_micros, 6));
	json_object_object_add(d, "count_contracts", kw_json_decimal(t->count_centi, 2));
	json_object_object_add(d, "price", kw_json_decimal(price, 6));
	json_object_object_add(d, "taker_side", json_object_new_string(t->taker_side));
	json_object_object_add(d, "direction", json_object_new_string(t->taker_side));
	json_object_object_add(d, "growth_multiple",
			       kw_json_decimal(t->notional_micros * 100 / threshold, 2));
	json_object_object_add(d, "category",
			       t->category ? json_object_new_string(t->category) : NULL);
	json_object *th = json_object_new_object();
	json_object_object_add(th, "min_notional_usd", kw_json_decimal(threshold, 6));
	json_object_object_add(th, "source",
			       json_object_new_string(from_cat ? "WHALE_MIN_NOTIONAL_BY_CATEGORY"
							       : "WHALE_MIN_NOTIONAL_USD"));
	json_object_object_add(th, "high_at_usd", kw_json_decimal(high, 6));
	json_object_object_add(d, "thresholds", th);
	char usd[40], desc[256];
	fmt_usd(t->notional_micros, usd, sizeof(usd));
	snprintf(desc, sizeof(desc), "Whale trade: $%s taker premium on %s in %.100s", usd,
		 is_yes ? "YES" : "NO", t->ticker);
	return emit(r, KW_ALERT_WHALE_TRADE, t->ticker, t->trade_id, t->created_us / US_PER_S,
		    t->notional_micros >= high,
		    kw_whale_confidence(t->notional_micros, threshold, high), t->notional_micros,
		    desc, d);
}

/* The market's taker premium in the 24 h up to and including its newest new trade. */
static int check_high_volume(struct run *r, const char *ticker, int64_t newest_us, int64_t sum,
			     int64_t count)
{
	int64_t threshold = r->cfg->high_volume_usd * MICROS_PER_USD;
	if (sum < threshold)
		return 0;
	int64_t high = threshold * KW_WHALE_HIGH_MULTIPLE;
	char day[32], usd[40], desc[256];
	kw_fmt_rfc3339(newest_us / US_PER_S, day, sizeof(day));
	day[10] = '\0';
	json_object *d = json_object_new_object();
	json_object_object_add(d, "current_value", kw_json_decimal(sum, 6));
	json_object_object_add(d, "previous_value", NULL);
	json_object_object_add(d, "volume_24h_usd", kw_json_decimal(sum, 6));
	json_object_object_add(d, "notional_usd", kw_json_decimal(sum, 6));
	json_object_object_add(d, "trades_24h", json_object_new_int64(count));
	json_object_object_add(d, "growth_multiple", kw_json_decimal(sum * 100 / threshold, 2));
	json_object_object_add(d, "direction", json_object_new_string("up"));
	json_object_object_add(d, "day", json_object_new_string(day));
	json_object *th = json_object_new_object();
	json_object_object_add(th, "high_volume_usd",
			       json_object_new_int64(r->cfg->high_volume_usd));
	json_object_object_add(th, "high_at_usd", kw_json_decimal(high, 6));
	json_object_object_add(d, "thresholds", th);
	fmt_usd(sum, usd, sizeof(usd));
	snprintf(desc, sizeof(desc), "High volume: $%s taker premium in 24 h in %.100s", usd,
		 ticker);
	return emit(r, KW_ALERT_HIGH_VOLUME, ticker, day, newest_us / US_PER_S, sum >= high,
		    kw_whale_confidence(sum, threshold, high), sum, desc, d);
}

/* One surge window that held enough trades against enough of a baseline. */
struct surge {
	int64_t start_us, end_us;
	int64_t sum, count;	  /* in the window: premium (micro-dollars) and trades */
	int64_t trailing, tcount; /* in the 24 h before it */
};

/* The alert of a window that fired: its multiple of the trailing 24 h mean. */
static int surge_emit(struct run *r, const char *ticker, const struct surge *s)
{
	const struct kw_config *cfg = r->cfg;
	int64_t wmin = cfg->surge_window_min;
	int64_t mult_milli = cfg->volume_surge_multiplier_milli;
	__int128 lhs = (__int128)s->sum * 1440 * 1000;
	long double mult = (long double)mult_milli / 1000.0L;
	long double base = (long double)s->trailing * (long double)wmin;
	long double high_mult = mult > KW_SURGE_HIGH_MULTIPLE ? mult : KW_SURGE_HIGH_MULTIPLE;
	long double ratio = (long double)s->sum * 1440.0L / base;
	int64_t ratio_centi = (int64_t)(lhs * 100 / ((__int128)s->trailing * wmin * 1000));
	int64_t mean_micros = (int64_t)((long double)s->trailing * wmin / 1440.0L);
	char win[32], ws[32], usd[40], desc[256];
	snprintf(win, sizeof(win), "%lld", (long long)(s->start_us / US_PER_S));
	kw_fmt_rfc3339(s->start_us / US_PER_S, ws, sizeof(ws));
	json_object *d = json_object_new_object();
	json_object_object_add(d, "current_value", kw_json_decimal(s->sum, 6));
	json_object_object_add(d, "previous_value", kw_json_decimal(mean_micros, 6));
	json_object_object_add(d, "growth_multiple", kw_json_decimal(ratio_centi, 2));
	json_object_object_add(d, "direction", json_object_new_string("up"));
	json_object_object_add(d, "window_start", json_object_new_string(ws));
	json_object_object_add(d, "window_min", json_object_new_int64(wmin));
	json_object_object_add(d, "notional_usd", kw_json_decimal(s->sum, 6));
	json_object_object_add(d, "window_trades", json_object_new_int64(s->count));
	json_object_object_add(d, "trailing_24h_usd", kw_json_decimal(s->trailing, 6));
	json_object_object_add(d, "trailing_24h_trades", json_object_new_int64(s->tcount));
	json_object *th = json_object_new_object();
	json_object_object_add(th, "multiplier", kw_json_decimal(mult_milli, 3));
	json_object_object_add(th, "high_multiplier",
			       kw_json_decimal((int64_t)(high_mult * 1000.0L + 0.5L), 3));
	json_object_object_add(th, "min_trades", json_object_new_int64(cfg->surge_min_trades));
	json_object_object_add(th, "min_notional_usd",
			       json_object_new_int64(cfg->surge_min_notional_usd));
	json_object_object_add(d, "thresholds", th);
	fmt_usd(s->sum, usd, sizeof(usd));
	snprintf(desc, sizeof(desc),
		 "Volume surge: $%s in %lld trades in %lld min, %lld.%02lldx the 24 h mean, in "
		 "%.100s",
		 usd, (long long)s->count, (long long)wmin, (long long)(ratio_centi / 100),
		 (long long)(ratio_centi % 100), ticker);
	return emit(r, KW_ALERT_VOLUME_SURGE, ticker, win, s->end_us / US_PER_S, ratio >= high_mult,
		    kw_whale_confidence(ratio, mult, high_mult), ratio_centi, desc, d);
}

static void buckets_clear(struct run *r)
{
	for (size_t i = 0; i < r->nbuckets; i++)
		free(r->buckets[i].ticker);
	r->nbuckets = 0;
}

static void prices_clear(struct run *r)
{
	for (size_t i = 0; i < r->nprices; i++)
		free(r->prices[i].ticker);
	r->nprices = 0;
}

/* The bucket walk goes market by market; the market it leaves gets its high-volume check, from
 * the day read with its last bucket (one statement for both, see on_bucket). */
static int high_volume_flush(struct run *r)
{
	if (!r->hv_ticker)
		return 0;
	int rc = check_high_volume(r, r->hv_ticker, r->hv_newest_us, r->hv_sum, r->hv_count);
	free(r->hv_ticker);
	r->hv_ticker = NULL;
	return rc;
}

/* One bucket, judged from its sums (read by buckets_flush): a surge, and on the market's last
 * bucket the day for its high-volume check. In the walk's order, as the walk gave them. */
static int bucket_judge(struct run *r, const struct pending_bucket *b, const struct kw_sum_ask *a)
{
	if (step_point(r) < 0)
		return -1;
	const struct kw_config *cfg = r->cfg;
	if (r->hv_ticker && strcmp(r->hv_ticker, b->ticker) && high_volume_flush(r) < 0)
		return -1;

	int64_t wmin = cfg->surge_window_min, w_us = wmin * 60 * US_PER_S;
	struct surge s = { .start_us = b->bucket * w_us };
	s.end_us = s.start_us + w_us;
	s.sum = a->sum_micros[0];
	s.count = a->count[0];
	if (b->market_newest_us > 0) {
		free(r->hv_ticker);
		r->hv_ticker = kw_xstrdup(b->ticker);
		r->hv_newest_us = b->market_newest_us;
		r->hv_sum = a->sum_micros[1];
		r->hv_count = a->count[1];
	}
	if (s.sum < cfg->surge_min_notional_usd * MICROS_PER_USD || s.sum <= 0)
		return 0;
	if (kw_store_notional_sum(r->s, b->ticker, s.start_us - DAY_US, s.start_us, &s.trailing,
				  &s.tcount) < 0)
		return -1;
	/* A surge is many trades against a real baseline: at least SURGE_MIN_TRADES trades in
	 * the window and as many in the 24 h before it. One trade is a whale trade or nothing,
	 * and a market with a near-empty history has no "usual" to surge from (a lone trade on a
	 * thin market read as 158,400x its mean). */
	if (s.count < cfg->surge_min_trades) {
		r->st->surge_few_trades++;
		return 0;
	}
	if (s.trailing <= 0 || s.tcount < cfg->surge_min_trades) {
		r->st->surge_thin_baseline++;
		return 0;
	}
	/* sum >= mult * trailing / (1440 / wmin)  <=>  sum * 1440 * 1000 >= mult_milli * trailing
	 * * wmin, exact in 128-bit integers: exactly the multiplier fires, for 2.2 as for 3. */
	__int128 lhs = (__int128)s.sum * 1440 * 1000;
	__int128 rhs = (__int128)cfg->volume_surge_multiplier_milli * s.trailing * wmin;
	if (lhs < rhs)
		return 0;
	return surge_emit(r, b->ticker, &s);
}

/* The buckets held so far: each one's window sum (and on a market's last bucket the market's
 * day too) read for all of them at once (kw_store_notional_sums_many: one statement per
 * batch on PostgreSQL), then each judged in order. Nothing the judging writes (alerts) is
 * read by the sums (trades), so reading them first gives each bucket what it read before. */
static int buckets_flush(struct run *r)
{
	int64_t w_us = r->cfg->surge_window_min * 60 * US_PER_S;
	struct kw_sum_ask *asks = r->bucket_asks;
	int rc = 0;
	for (size_t i = 0; i < r->nbuckets; i++) {
		const struct pending_bucket *b = &r->buckets[i];
		int64_t start = b->bucket * w_us, newest = b->market_newest_us;
		asks[i] = (struct kw_sum_ask){
			.ticker = b->ticker,
			.from_us = { start, newest > 0 ? newest - DAY_US + 1 : start },
			.to_us = { start + w_us, newest > 0 ? newest + 1 : start },
		};
	}
	if (kw_store_notional_sums_many(r->s, asks, r->nbuckets) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < r->nbuckets; i++)
		rc = bucket_judge(r, &r->buckets[i], &asks[i]);
	buckets_clear(r);
	return rc;
}

static int on_bucket(void *ctx, const struct kw_trade_bucket *b)
{
	struct run *r = ctx;
	r->buckets[r->nbuckets++] = (struct pending_bucket){
		.ticker = kw_xstrdup(b->ticker),
		.bucket = b->bucket,
		.market_newest_us = b->market_newest_us,
	};
	return r->nbuckets < KW_SUMS_BATCH ? 0 : buckets_flush(r);
}

/* One new price snapshot, judged from its window's range (read by prices_flush). */
static int price_judge(struct run *r, const char *ticker, int64_t taken_at, int64_t price,
		       const struct kw_range_ask *a)
{
	if (step_point(r) < 0)
		return -1;
	const struct kw_config *cfg = r->cfg;
	r->st->snapshots_examined++;
	if (taken_at > r->max_snapshot_at)
		r->max_snapshot_at = taken_at;
	int64_t lo = a->lo, hi = a->hi, n = a->n;
	if (n == 0)
		return 0;
	int64_t up = price - lo, down = hi - price;
	int rising = up >= down;
	int64_t move = rising ? up : down, ref = rising ? lo : hi;
	int64_t threshold = cfg->odds_change_points * POINT_MICROS;
	if (move < threshold)
		return 0;
	int64_t high_pts = cfg->odds_change_points > KW_ODDS_HIGH_POINTS ? cfg->odds_change_points
									 : KW_ODDS_HIGH_POINTS;
	int64_t high = high_pts * POINT_MICROS;
	char win[32], desc[256];
	snprintf(win, sizeof(win), "%lld", (long long)taken_at);
	json_object *d = json_object_new_object();
	json_object_object_add(d, "current_value", kw_json_decimal(price, 6));
	json_object_object_add(d, "previous_value", kw_json_decimal(ref, 6));
	json_object_object_add(d, "change_points", kw_json_decimal(move * (rising ? 1 : -1), 4));
	json_object_object_add(d, "change_percent",
			       ref ? kw_json_decimal((price - ref) * 10000 / ref, 2) : NULL);
	json_object_object_add(d, "direction", json_object_new_string(rising ? "up" : "down"));
	json_object_object_add(d, "window_min", json_object_new_int64(cfg->odds_window_min));
	json_object *th = json_object_new_object();
	json_object_object_add(th, "odds_change_points",
			       json_object_new_int64(cfg->odds_change_points));
	json_object_object_add(th, "high_points", json_object_new_int64(high_pts));
	json_object_object_add(d, "thresholds", th);
	snprintf(desc, sizeof(desc),
		 "Odds flip: YES %s from %lld%% to %lld%% within %lld min in %.100s",
		 rising ? "rose" : "fell", (long long)(ref / POINT_MICROS),
		 (long long)(price / POINT_MICROS), (long long)cfg->odds_window_min, ticker);
	return emit(r, KW_ALERT_ODDS_FLIP, ticker, win, taken_at, move >= high,
		    kw_whale_confidence(move, threshold, high), move, desc, d);
}

/*
 * The snapshots held so far, all taken at one time (kw-fetch snapshots a run's markets under
 * one time, so a run's are one batch): each one's window range read for all at once
 * (kw_store_price_ranges_after: one statement on PostgreSQL), then each judged in order. After
 * a flip, the flipped price is the new reference (one move, one alert): a range reads the
 * market's flips before its snapshot's time, and a flip judged in this batch is stored at
 * that time, never before it, so reading the ranges first gives each snapshot what it read
 * before. A snapshot of another time starts a new batch.
 */
static int prices_flush(struct run *r)
{
	int64_t window_s = r->cfg->odds_window_min * 60;
	int rc = 0;
	for (size_t i = 0; i < r->nprices; i++)
		r->price_asks[i] = (struct kw_range_ask){
			.ticker = r->prices[i].ticker,
			.from = r->prices[i].taken_at - window_s,
			.to = r->prices[i].taken_at,
		};
	if (kw_store_price_ranges_after(r->s, kw_signals[KW_ALERT_ODDS_FLIP].name, r->price_asks,
					r->nprices) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < r->nprices; i++)
		rc = price_judge(r, r->prices[i].ticker, r->prices[i].taken_at, r->prices[i].price,
				 &r->price_asks[i]);
	prices_clear(r);
	return rc;
}

static int on_price(void *ctx, const char *ticker, int64_t taken_at, int64_t price)
{
	struct run *r = ctx;
	if (r->nprices && (r->nprices == KW_SUMS_BATCH || r->prices[0].taken_at != taken_at) &&
	    prices_flush(r) < 0)
		return -1;
	r->prices[r->nprices++] = (struct pending_price){
		.ticker = kw_xstrdup(ticker),
		.taken_at = taken_at,
		.price = price,
	};
	return 0;
}

/* The baseline book an order-book alert was judged against, into its data. */
static void book_previous(json_object *d, const struct kw_book_point *p)
{
	char prev_ts[32];
	kw_fmt_rfc3339(p->taken_at, prev_ts, sizeof(prev_ts));
	json_object_object_add(d, "previous_yes_depth_contracts",
			       kw_json_decimal(p->yes_depth_centi, 2));
	json_object_object_add(d, "previous_no_depth_contracts",
			       kw_json_decimal(p->no_depth_centi, 2));
	json_object_object_add(d, "previous_taken_at", json_object_new_string(prev_ts));
}

/* A book that held depth and now holds none: its own reason, not a -100 % change. */
static int book_emptied(struct run *r, const char *ticker, const struct kw_book_point *b,
			const struct kw_book_point *p)
{
	int64_t old_total = p->yes_depth_centi + p->no_depth_centi;
	char win[32], desc[256];
	snprintf(win, sizeof(win), "%lld", (long long)b->taken_at);
	json_object *d = json_object_new_object();
	json_object_object_add(d, "reason", json_object_new_string("book_emptied"));
	json_object_object_add(d, "metric", json_object_new_string("emptied"));
	json_object_object_add(d, "current_value", kw_json_decimal(0, 2));
	json_object_object_add(d, "previous_value", kw_json_decimal(old_total, 2));
	json_object_object_add(d, "change_percent", NULL);
	json_object_object_add(d, "direction", json_object_new_string("down"));
	book_previous(d, p);
	json_object *th = json_object_new_object();
	json_object_object_add(th, "orderbook_change_percent",
			       json_object_new_int64(r->cfg->orderbook_change_percent));
	json_object_object_add(th, "baseline_max_min",
			       json_object_new_int64(r->cfg->orderbook_baseline_max_min));
	json_object_object_add(d, "thresholds", th);
	snprintf(desc, sizeof(desc), "Order book emptied: no resting bids left in %.100s", ticker);
	/* The strongest book signal there is: it outranks any change in a cooldown. */
	return emit(r, KW_ALERT_ORDER_BOOK_SHIFT, ticker, win, b->taken_at, 1, 100, INT64_MAX, desc,
		    d);
}

/*
 * The baseline is this market's book from the previous run that took books, if it is younger
 * than ORDERBOOK_BASELINE_MAX_MIN: a market that was off the watch list (or a fetcher that
 * was stopped) starts a fresh baseline instead of being compared with a book from another
 * time. 1 with *p set, 0 when there is none to compare with, -1 on a store error.
 */
static int book_baseline(struct run *r, const char *ticker, const struct kw_book_point *b,
			 struct kw_book_point *p)
{
	if (b->taken_at != r->book_at) {
		if (kw_store_book_run_before(r->s, b->taken_at, &r->book_prev_run) < 0)
			return -1;
		r->book_at = b->taken_at;
	}
	int found = kw_store_book_previous(r->s, ticker, b->taken_at, p);
	if (found != 0)
		return found < 0 ? -1 : 0;
	if (p->taken_at < r->book_prev_run ||
	    p->taken_at < b->taken_at - r->cfg->orderbook_baseline_max_min * 60) {
		r->st->books_fresh_baseline++;
		return 0;
	}
	return 1;
}

/* How a book moved against its baseline: in total depth or in the YES share of it. */
struct book_shift {
	int use_depth; /* the depth change is the reported one (else the share) */
	int up;
	long double value; /* percent of depth, or points of share */
};

/* 1 when the move reaches pct (exact in integers), with *sh set; else 0. */
static int book_judge(int64_t pct, const struct kw_book_point *b, const struct kw_book_point *p,
		      struct book_shift *sh)
{
	int64_t old_total = p->yes_depth_centi + p->no_depth_centi;
	int64_t new_total = b->yes_depth_centi + b->no_depth_centi;
	/* depth: |new - old| * 100 >= pct * old */
	__int128 ddiff = (__int128)new_total - old_total;
	__int128 dabs = ddiff < 0 ? -ddiff : ddiff;
	int depth_fires = dabs * 100 >= (__int128)pct * old_total;
	/* yes share in points: |y1/t1 - y0/t0| * 100 >= pct  (exact in integers) */
	int share_fires = 0;
	__int128 sdiff = 0;
	if (new_total > 0) {
		sdiff = (__int128)b->yes_depth_centi * old_total -
			(__int128)p->yes_depth_centi * new_total;
		__int128 sabs = sdiff < 0 ? -sdiff : sdiff;
		share_fires = sabs * 100 >= (__int128)pct * old_total * new_total;
	}
	if (!depth_fires && !share_fires)
		return 0;
	long double depth_pct = (long double)ddiff * 100.0L / (long double)old_total;
	long double share_pts =
		new_total > 0 ? (long double)sdiff * 100.0L / ((long double)old_total * new_total)
			      : 0;
	long double dmag = depth_pct < 0 ? -depth_pct : depth_pct;
	long double smag = share_pts < 0 ? -share_pts : share_pts;
	sh->use_depth = depth_fires && (!share_fires || dmag >= smag);
	sh->value = sh->use_depth ? dmag : smag;
	sh->up = sh->use_depth ? ddiff > 0 : sdiff > 0;
	return 1;
}

static int book_shift_emit(struct run *r, const char *ticker, const struct kw_book_point *b,
			   const struct kw_book_point *p, const struct book_shift *sh)
{
	int64_t pct = r->cfg->orderbook_change_percent;
	int64_t old_total = p->yes_depth_centi + p->no_depth_centi;
	int64_t new_total = b->yes_depth_centi + b->no_depth_centi;
	int64_t high = pct > KW_BOOK_HIGH_PERCENT ? pct : KW_BOOK_HIGH_PERCENT;
	int use_depth = sh->use_depth, up = sh->up;
	long double value = sh->value;
	char win[32], desc[256];
	snprintf(win, sizeof(win), "%lld", (long long)b->taken_at);
	json_object *d = json_object_new_object();
	json_object_object_add(d, "reason",
			       json_object_new_string(use_depth ? "depth" : "imbalance"));
	json_object_object_add(d, "metric",
			       json_object_new_string(use_depth ? "depth" : "imbalance"));
	if (use_depth) {
		json_object_object_add(d, "current_value", kw_json_decimal(new_total, 2));
		json_object_object_add(d, "previous_value", kw_json_decimal(old_total, 2));
	} else {
		json_object_object_add(
			d, "current_value",
			kw_json_decimal(kw_share_bp(b->yes_depth_centi, new_total), 2));
		json_object_object_add(
			d, "previous_value",
			kw_json_decimal(kw_share_bp(p->yes_depth_centi, old_total), 2));
	}
	json_object_object_add(d, "change_percent",
			       kw_json_decimal((int64_t)(value * 100) * (up ? 1 : -1), 2));
	json_object_object_add(d, "direction", json_object_new_string(up ? "up" : "down"));
	json_object_object_add(d, "yes_depth_contracts", kw_json_decimal(b->yes_depth_centi, 2));
	json_object_object_add(d, "no_depth_contracts", kw_json_decimal(b->no_depth_centi, 2));
	book_previous(d, p);
	json_object *th = json_object_new_object();
	json_object_object_add(th, "orderbook_change_percent", json_object_new_int64(pct));
	json_object_object_add(th, "high_percent", json_object_new_int64(high));
	json_object_object_add(th, "baseline_max_min",
			       json_object_new_int64(r->cfg->orderbook_baseline_max_min));
	json_object_object_add(d, "thresholds", th);
	snprintf(desc, sizeof(desc), "Order book shift: %s %s %.1f%s in %.100s",
		 use_depth ? "bid depth" : "YES share of depth", up ? "up" : "down", (double)value,
		 use_depth ? "%" : " points", ticker);
	return emit(r, KW_ALERT_ORDER_BOOK_SHIFT, ticker, win, b->taken_at, value >= high,
		    kw_whale_confidence(value, pct, high), (int64_t)(value * 100), desc, d);
}

static int on_book(void *ctx, const char *ticker, const struct kw_book_point *b)
{
	struct run *r = ctx;
	if (step_point(r) < 0)
		return -1;
	r->st->books_examined++;
	if (b->taken_at > r->max_book_at)
		r->max_book_at = b->taken_at;
	struct kw_book_point p;
	struct book_shift sh;
	int have = book_baseline(r, ticker, b, &p);
	if (have <= 0)
		return have;
	int64_t old_total = p.yes_depth_centi + p.no_depth_centi;
	int64_t new_total = b->yes_depth_centi + b->no_depth_centi;
	if (old_total <= 0 || new_total < 0)
		return 0;
	if (new_total == 0)
		return book_emptied(r, ticker, b, &p);
	if (!book_judge(r->cfg->orderbook_change_percent, b, &p, &sh))
		return 0;
	return book_shift_emit(r, ticker, b, &p, &sh);
}

/*
 * The state to judge from. The first run on a database that already holds history (an
 * upgrade) judges the last day, not years: one bounded run inside kw-fetch's transaction.
 * Windows still read older rows as their baseline.
 */
static int detect_state_load(struct run *r, struct kw_detect_state *st)
{
	if (kw_store_detect_state(r->s, st) < 0)
		return -1;
	if (st->fresh) {
		int64_t first_id;
		if (kw_store_first_trade_since(r->s, (r->now - 86400) * US_PER_S, &first_id) < 0)
			return -1;
		st->last_trade_id = first_id - 1;
		st->last_snapshot_at = r->now - r->cfg->odds_window_min * 60;
		st->last_book_at = r->now - 3600;
	}
	r->max_snapshot_at = st->max_snapshot_at > st->last_snapshot_at ? st->max_snapshot_at
									: st->last_snapshot_at;
	r->max_book_at = st->max_book_at > st->last_book_at ? st->max_book_at : st->last_book_at;
	return 0;
}

/* Trades that arrived since the last run: whale trades, surge windows, high volume. */
static int detect_trades(struct run *r, const struct kw_detect_state *st)
{
	const struct kw_config *cfg = r->cfg;
	if (st->max_trade_id <= st->last_trade_id)
		return 0;
	if (kw_store_whale_candidates(r->rd, st->last_trade_id, st->max_trade_id,
				      kw_category_min_threshold_micros(cfg), on_whale_candidate,
				      r) < 0)
		return -1;
	if (kw_store_trade_buckets(r->rd, st->last_trade_id, st->max_trade_id,
				   cfg->surge_window_min * 60 * US_PER_S, on_bucket, r) < 0 ||
	    buckets_flush(r) < 0)
		return -1;
	if (high_volume_flush(r) < 0)
		return -1;
	r->st->trades_examined = st->max_trade_id - st->last_trade_id;
	return kw_store_trades_without_side(r->s, st->last_trade_id, st->max_trade_id,
					    &r->st->trades_without_side);
}

static void detect_log(const struct kw_detect_stats *out)
{
	char kinds[256];
	size_t o = 0;
	for (int i = 0; i < KW_ALERT_NTYPES && o < sizeof(kinds); i++) {
		int w = snprintf(kinds + o, sizeof(kinds) - o, "%s%s %lld", i ? ", " : "",
				 kw_signals[i].name, (long long)out->fired[i]);
		o += w > 0 ? (size_t)w : 0;
	}
	kw_info("detect: %lld alerts (%s), %lld duplicate, %lld cooling; surge windows "
		"skipped: %lld under SURGE_MIN_TRADES, %lld thin baseline; %lld books with "
		"a "
		"fresh baseline; %lld trades (%lld trades without a taker side, skipped by "
		"premium signals), %lld snapshots, %lld books in %lld us",
		(long long)out->fired_total, kinds, (long long)out->duplicates,
		(long long)out->cooled, (long long)out->surge_few_trades,
		(long long)out->surge_thin_baseline, (long long)out->books_fresh_baseline,
		(long long)out->trades_examined, (long long)out->trades_without_side,
		(long long)out->snapshots_examined, (long long)out->books_examined,
		(long long)out->elapsed_us);
}

int kw_detect_run(struct kw_store *s, const struct kw_config *cfg, int64_t now,
		  struct kw_detect_stats *out)
{
	int64_t t0 = kw_mono_us();
	struct run r;
	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	r.s = s;
	r.cfg = cfg;
	r.now = now;
	r.st = out;
	r.ncats = kw_category_load(cfg, r.cats);
	int own_txn, rc = -1;
	/*
	 * In its own transaction, detection commits in steps (step_point): after a large
	 * backfill it judges for seconds, and other writers would wait that long. The walks
	 * over what arrived then read through a second connection, whose snapshot (taken after
	 * kw-fetch committed the trades) no commit of this one disturbs. Each item is judged
	 * exactly as in one transaction: cooldowns and keys see the alerts committed before.
	 * detect_state moves only at the end, so a run stopped halfway is judged again by the
	 * next, where the alerts already stored are duplicates. Inside a caller's transaction
	 * (its rows not yet committed, so invisible to a second connection) it is one step.
	 */
	r.rd = kw_store_in_transaction(s) ? NULL : kw_store_open_peer(s);
	r.stepped = r.rd != NULL;
	if (!r.rd)
		r.rd = s;
	if (kw_store_detect_begin(s, &own_txn) < 0) {
		if (r.rd != s)
			kw_store_close(r.rd);
		return -1;
	}
	r.in_txn = 1;
	r.step_us = kw_store_write_step_us(s);
	r.buckets = kw_xcalloc(KW_SUMS_BATCH, sizeof(*r.buckets));
	r.bucket_asks = kw_xcalloc(KW_SUMS_BATCH, sizeof(*r.bucket_asks));
	r.prices = kw_xcalloc(KW_SUMS_BATCH, sizeof(*r.prices));
	r.price_asks = kw_xcalloc(KW_SUMS_BATCH, sizeof(*r.price_asks));
	r.step_began_us = kw_mono_us();

	struct kw_detect_state st;
	if (detect_state_load(&r, &st) < 0 || detect_trades(&r, &st) < 0)
		goto out;
	/* Strictly after the newest snapshot time seen: kw-fetch stores a run's snapshots under
	 * one time and commits them before detection runs, and only one kw-fetch runs at a time
	 * (its lock), so no snapshot can appear later with a time already passed. */
	if (kw_store_price_snapshots_since(r.rd, st.last_snapshot_at, on_price, &r) < 0 ||
	    prices_flush(&r) < 0)
		goto out;
	if (kw_store_book_snapshots_since(r.rd, st.last_book_at, on_book, &r) < 0)
		goto out;

	struct kw_detect_state done = {
		.last_trade_id = st.max_trade_id,
		.last_snapshot_at = r.max_snapshot_at,
		.last_book_at = r.max_book_at,
	};
	if (kw_store_detect_save(s, &done, now) < 0)
		goto out;
	rc = 0;
out:
	free(r.hv_ticker);
	buckets_clear(&r);
	free(r.buckets);
	free(r.bucket_asks);
	prices_clear(&r);
	free(r.prices);
	free(r.price_asks);
	if (r.in_txn && kw_store_detect_end(s, own_txn, rc == 0) < 0)
		rc = -1;
	if (r.rd != s)
		kw_store_close(r.rd);
	out->elapsed_us = kw_mono_us() - t0;
	if (rc == 0)
		detect_log(out);
	else
		memset(out->fired, 0, sizeof(out->fired));
	return rc;
}
