/*
 * stats.c — GET /api/v1/stats: for the last 1 h, 24 h and 7 d (or one of them with ?window=),
 * the top trades, the most active markets, the biggest movers, the yes/no taker flow per
 * market and the whale-trade count per category.
 *
 * Price change has one definition everywhere (the v1 markets lists, these movers, the
 * dashboard): the last traded price now minus the last traded price in force when the window
 * opened, and no change at all (null, and no place among gainers or losers) when the market
 * had no traded price then. "No price" is never 0: a market listed inside the window has no
 * change, however its first trades moved. The 24 h reference is Kalshi's previous_price, the
 * same number the markets lists subtract; other windows read the market snapshot in force at
 * their start (store_api.h kw_store_price_at).
 *
 * Cost: none of it is computed here. kw-fetch keeps every figure after each run
 * (lib/store_rollup.c, sql/0013_rollups.sql) and this reads only the rows it returns, through
 * the rollups' indexes: a few dozen index seeks per window whatever the number of trades. The
 * windows therefore end at the last run (`as_of`), which is also when the data last changed.
 * A window kw-fetch has not counted yet (a database older than the rollups, before its next
 * run) answers empty lists and as_of null.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "store_rollup.h"

const struct kw_param kw_params_v1_stats[] = {
	{ "window", KW_P_ENUM, 0, 0, 0, "1h|24h|7d", "one window only (default: all three)" },
	{ "limit", KW_P_INT, 1, 50, 0, NULL, "entries per list (default 10)" },
	{ 0 },
};

static json_object *market_head(const struct kw_stats_market_row *m)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ticker", kw_api_str(m->ticker));
	json_object_object_add(o, "title", kw_api_str(m->title));
	json_object_object_add(o, "category",
			       m->category && *m->category ? kw_api_str(m->category) : NULL);
	return o;
}

struct lists {
	json_object *active, *flow, *movers;
};

static int on_active(void *ctx, const struct kw_stats_market_row *m)
{
	struct lists *l = ctx;
	json_object *a = market_head(m);
	json_object_object_add(a, "trades", json_object_new_int64(m->trades));
	json_object_object_add(a, "volume_usd", kw_api_usd(m->notional_micros));
	json_object_array_add(l->active, a);
	json_object *f = market_head(m);
	int64_t no = m->notional_micros - m->yes_micros;
	json_object_object_add(f, "yes_usd", kw_api_usd(m->yes_micros));
	json_object_object_add(f, "no_usd", kw_api_usd(no));
	json_object_object_add(f, "net_yes_usd", kw_api_usd(m->yes_micros - no));
	json_object_array_add(l->flow, f);
	return 0;
}

static int on_mover(void *ctx, const struct kw_stats_market_row *m)
{
	struct lists *l = ctx;
	json_object *o = market_head(m);
	json_object_object_add(o, "previous_price", kw_api_usd(m->start_price));
	json_object_object_add(o, "last_price", kw_api_usd(m->last_price));
	json_object_object_add(
		o, "change",
		kw_api_usd(m->start_price == KW_NULL ? KW_NULL : m->last_price - m->start_price));
	json_object_array_add(l->movers, o);
	return 0;
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
static json_object *window_stats(struct kw_store *s, const char *name, int64_t seconds,
				 int64_t limit)
{
	int64_t as_of = 0, since = 0, traded = 0;
	int have = kw_store_stats_window(s, seconds, &as_of, &since, &traded);
	if (have < 0)
		return NULL;
	json_object *o = json_object_new_object();
	json_object *top = json_object_new_array(), *counts = json_object_new_object();
	struct lists l = { json_object_new_array(), json_object_new_array(), NULL };
	json_object *gainers = json_object_new_array(), *losers = json_object_new_array();
	int ok = 1;
	if (have == 0) {
		ok = kw_store_stats_top_trades(s, seconds, limit, on_top, top) == 0 &&
		     kw_store_stats_whales(s, seconds, on_count, counts) == 0 &&
		     kw_store_stats_markets(s, seconds, KW_STATS_ACTIVE, limit, on_active, &l) == 0;
		l.movers = gainers;
		ok = ok &&
		     kw_store_stats_markets(s, seconds, KW_STATS_GAINERS, limit, on_mover, &l) == 0;
		l.movers = losers;
		ok = ok &&
		     kw_store_stats_markets(s, seconds, KW_STATS_LOSERS, limit, on_mover, &l) == 0;
	} else {
		since = kw_now_s() - seconds;
	}
	json_object_object_add(o, "window", json_object_new_string(name));
	json_object_object_add(o, "since", kw_api_time(since));
	json_object_object_add(o, "as_of", have == 0 ? kw_api_time(as_of) : NULL);
	json_object_object_add(o, "top_trades", top);
	json_object_object_add(o, "whale_counts_by_category", counts);
	json_object_object_add(o, "most_active_markets", l.active);
	json_object_object_add(o, "gainers", gainers);
	json_object_object_add(o, "losers", losers);
	json_object_object_add(o, "flow", l.flow);
	json_object_object_add(o, "markets_traded", json_object_new_int64(traded));
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

void kw_handle_v1_stats(struct kw_req *r)
{
	static const char *const names[KW_STATS_WINDOWS] = { "1h", "24h", "7d" };
	/* The figures change only with a fetch run; 30 s bounds only the empty answer's since. */
	struct kw_store *s = kw_api_read_store_or_reply(r, 30, 0);
	if (!s)
		return;
	const struct kw_qval *only = kw_query_get(&r->q, "window");
	int64_t limit = kw_query_int(&r->q, "limit", 10);
	json_object *data = json_object_new_object();
	for (int i = 0; i < KW_STATS_WINDOWS; i++) {
		if (only && only->i != (int64_t)i)
			continue;
		json_object *w = window_stats(s, names[i], kw_stats_window_s[i], limit);
		if (!w) {
			json_object_put(data);
			kw_reply_error(r, 503, "database_unavailable",
				       "the database could not answer");
			return;
		}
		json_object_object_add(data, names[i], w);
	}
	kw_api_reply_list(r, data, 0, NULL);
}
