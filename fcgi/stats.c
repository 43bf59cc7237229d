/*
 * stats.c — GET /api/v1/stats: for the last 1 h, 24 h and 7 d (or one of them with ?window=),
 * the top trades, the most active markets, the biggest movers, the yes/no taker flow per
 * market and the whale-trade count per category, computed from stored trades.
 *
 * Price change has one definition everywhere (the v1 markets lists, these movers, the
 * dashboard): the last traded price now minus the last traded price in force when the window
 * opened, and no change at all (null, and no place among gainers or losers) when the market
 * had no traded price then. "No price" is never 0: a market listed inside the window has no
 * change, however its first trades moved. The 24 h reference is Kalshi's previous_price, the
 * same number the markets lists subtract; other windows read the market snapshot in force at
 * their start (kw_store_price_at).
 *
 * Cost: one sequential pass over the window's trades along trades_time, totalled per market in
 * a hash table here (no SQL sort of the window), plus index probes for the few markets listed.
 * The 7 d window of a large database is the expensive part (about 1 s for 1,000,000 trades),
 * which is why a single window can be asked for and why replies are cached per worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "whale.h"

const struct kw_param kw_params_v1_stats[] = {
	{ "window", KW_P_ENUM, 0, 0, 0, "1h|24h|7d", "one window only (default: all three)" },
	{ "limit", KW_P_INT, 1, 50, 0, NULL, "entries per list (default 10)" },
	{ 0 },
};

struct flow {
	char *ticker; /* NULL: free slot */
	int64_t trades, notional, yes, no, last;
	int64_t start; /* price in force when the window opened, or KW_NULL */
};

/* Per-market totals of a window, in an open-addressing table keyed by ticker. */
struct flows {
	struct flow *v;
	size_t n, cap; /* cap is a power of two; n <= cap / 2 */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct flow *slot(struct flow *v, size_t cap, const char *ticker)
{
	size_t i = (size_t)hash_str(ticker) & (cap - 1);
	while (v[i].ticker && strcmp(v[i].ticker, ticker))
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static struct flow *flow_get(struct flows *fs, const char *ticker)
{
	if (2 * (fs->n + 1) > fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 1024;
		struct flow *v = kw_xcalloc(cap, sizeof(*v));
		for (size_t i = 0; i < fs->cap; i++)
			if (fs->v[i].ticker)
				*slot(v, cap, fs->v[i].ticker) = fs->v[i];
		free(fs->v);
		fs->v = v;
		fs->cap = cap;
	}
	struct flow *f = slot(fs->v, fs->cap, ticker);
	if (!f->ticker) {
		f->ticker = kw_xstrdup(ticker);
		f->start = f->last = KW_NULL;
		fs->n++;
	}
	return f;
}

static int on_trade(void *ctx, const struct kw_window_trade *t)
{
	struct flow *f = flow_get(ctx, t->ticker ? t->ticker : "");
	f->trades++;
	f->notional += t->notional_micros;
	if (t->taker_side && !strcmp(t->taker_side, "yes"))
		f->yes += t->notional_micros;
	else
		f->no += t->notional_micros;
	f->last = t->yes_price; /* rows come oldest first */
	return 0;
}

/* Move the used slots to the front; returns how many. */
static size_t compact(struct flows *fs)
{
	size_t n = 0;
	for (size_t i = 0; i < fs->cap; i++)
		if (fs->v[i].ticker)
			fs->v[n++] = fs->v[i];
	return n;
}

static void flows_free(struct flows *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(fs->v[i].ticker);
	free(fs->v);
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int by_notional(const void *a, const void *b)
{
	const struct flow *x = a, *y = b;
	int c = cmp_i64(y->notional, x->notional);
	return c ? c : strcmp(x->ticker, y->ticker);
}

/* KW_NULL without a price when the window opened (see the file comment). */
static int64_t change(const struct flow *f)
{
	return f->start == KW_NULL || f->last == KW_NULL ? KW_NULL : f->last - f->start;
}

/* Biggest rise first, biggest fall last, markets without a change in between. */
static int64_t change_key(const struct flow *f)
{
	return change(f) == KW_NULL ? 0 : change(f);
}

static int by_change_desc(const void *a, const void *b)
{
	const struct flow *x = a, *y = b;
	int c = cmp_i64(change_key(y), change_key(x));
	return c ? c : strcmp(x->ticker, y->ticker);
}

static json_object *market_head(struct kw_store *s, const struct flow *f)
{
	char title[256], category[128];
	json_object *o = json_object_new_object();
	int known = kw_store_market_label(s, f->ticker, title, sizeof(title), category,
					  sizeof(category)) == 0;
	json_object_object_add(o, "ticker", kw_api_str(f->ticker));
	json_object_object_add(o, "title", known ? kw_api_str(title) : NULL);
	json_object_object_add(o, "category", known && *category ? kw_api_str(category) : NULL);
	return o;
}

static json_object *mover(struct kw_store *s, const struct flow *f)
{
	json_object *o = market_head(s, f);
	json_object_object_add(o, "previous_price", kw_api_usd(f->start));
	json_object_object_add(o, "last_price", kw_api_usd(f->last));
	json_object_object_add(o, "change", kw_api_usd(change(f)));
	return o;
}

static int on_top(void *ctx, const struct kw_trade_row *t)
{
	json_object_array_add(ctx, kw_api_trade_json(t));
	return 0;
}

static int on_count(void *ctx, const char *key, int64_t n)
{
	json_object_object_add(ctx, key && *key ? key : "uncategorized", json_object_new_int64(n));
	return 0;
}

/* One window's statistics; NULL after a database error. */
static json_object *window_stats(struct kw_store *s, const struct kw_config *cfg, const char *name,
				 int64_t seconds, int64_t now, int64_t limit)
{
	int64_t since_us = (now - seconds) * 1000000;
	struct flows fs = { 0 };
	json_object *o = json_object_new_object();
	json_object *top = json_object_new_array(), *counts = json_object_new_object();
	char *cats = kw_whale_categories_json(cfg);
	int ok = kw_store_window_trades(s, since_us, on_trade, &fs) == 0 &&
		 kw_store_top_trades(s, since_us, limit, on_top, top) == 0 &&
		 kw_store_whale_counts(s, since_us, cats, cfg->whale_min_notional_usd * 1000000,
				       on_count, counts) == 0;
	size_t n = fs.v ? compact(&fs) : 0;
	free(cats);
	json_object_object_add(o, "window", json_object_new_string(name));
	json_object_object_add(o, "since", kw_api_time(now - seconds));
	json_object_object_add(o, "top_trades", top);
	json_object_object_add(o, "whale_counts_by_category", counts);
	if (!ok) {
		flows_free(&fs, n);
		json_object_put(o);
		return NULL;
	}
	json_object *active = json_object_new_array(), *flow = json_object_new_array();
	qsort(fs.v, n, sizeof(*fs.v), by_notional);
	for (size_t i = 0; i < n && (int64_t)i < limit; i++) {
		json_object *m = market_head(s, &fs.v[i]);
		json_object_object_add(m, "trades", json_object_new_int64(fs.v[i].trades));
		json_object_object_add(m, "volume_usd", kw_api_usd(fs.v[i].notional));
		json_object_array_add(active, m);
		json_object *f = market_head(s, &fs.v[i]);
		json_object_object_add(f, "yes_usd", kw_api_usd(fs.v[i].yes));
		json_object_object_add(f, "no_usd", kw_api_usd(fs.v[i].no));
		json_object_object_add(f, "net_yes_usd", kw_api_usd(fs.v[i].yes - fs.v[i].no));
		json_object_array_add(flow, f);
	}
	json_object_object_add(o, "most_active_markets", active);
	json_object_object_add(o, "flow", flow);
	for (size_t i = 0; i < n && ok; i++)
		ok = kw_store_price_at(s, fs.v[i].ticker, now - seconds, seconds == 86400,
				       &fs.v[i].start) == 0;
	if (!ok) {
		flows_free(&fs, n);
		json_object_put(o);
		return NULL;
	}
	json_object *gainers = json_object_new_array(), *losers = json_object_new_array();
	qsort(fs.v, n, sizeof(*fs.v), by_change_desc);
	for (size_t i = 0; i < n && (int64_t)i < limit && change_key(&fs.v[i]) > 0; i++)
		json_object_array_add(gainers, mover(s, &fs.v[i]));
	for (size_t i = n, k = 0; i > 0 && (int64_t)k < limit && change_key(&fs.v[i - 1]) < 0;
	     i--, k++)
		json_object_array_add(losers, mover(s, &fs.v[i - 1]));
	json_object_object_add(o, "gainers", gainers);
	json_object_object_add(o, "losers", losers);
	json_object_object_add(o, "markets_traded", json_object_new_int64((int64_t)n));
	flows_free(&fs, n);
	return o;
}

void kw_handle_v1_stats(struct kw_req *r)
{
	static const struct {
		const char *name;
		int64_t seconds;
	} windows[] = { { "1h", 3600 }, { "24h", 86400 }, { "7d", 7 * 86400 } };
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s)
		return;
	/* Windows of an hour or more: 30 s of drift changes nothing a reader could act on. */
	if (kw_api_reply_cached(r, 30))
		return;
	const struct kw_qval *only = kw_query_get(&r->q, "window");
	int64_t limit = kw_query_int(&r->q, "limit", 10), now = kw_now_s();
	json_object *data = json_object_new_object();
	for (size_t i = 0; i < KW_ARRAY_LEN(windows); i++) {
		if (only && only->i != (int64_t)i)
			continue;
		json_object *w = window_stats(s, &r->app->cfg, windows[i].name, windows[i].seconds,
					      now, limit);
		if (!w) {
			json_object_put(data);
			kw_reply_error(r, 503, "database_unavailable",
				       "the database could not answer");
			return;
		}
		json_object_object_add(data, windows[i].name, w);
	}
	kw_api_reply_list(r, data, 0, NULL);
}
