/*
 * legacy.c — the original app's routes with their original shapes (docs/ORIGINAL.md),
 * served from stored data: GET /api/markets, /api/top-markets, /api/markets/top5,
 * /api/whale-alerts and /api/whale-analytics.
 *
 * As in the original they show the crypto view by default: markets whose series is in the
 * Crypto category or whose series ticker starts with a CRYPTO_SERIES_PREFIXES entry (never a
 * substring match). ?category=NAME shows that category instead and ?category=all everything.
 * ticker_symbol stays as an alias of ticker. Volumes carry their unit in the name
 * (volume_24h_contracts, volume_24h_usd); the market items of /api/markets and
 * /api/top-markets also carry the original's `volume` and `volume_24h` (Kalshi's contract
 * volumes), and the cards' `volume` is dollars (24 h taker premium) and says so in
 * volume_unit. A card's YES probability is the mid of a two-sided quote, else the last trade,
 * else null. Nothing is invented: a value we do not have is null.
 *
 * Definitions the original left vague, made exact here: top markets = open markets by 24 h
 * contract volume; a card is `trending` when its price moved >= 5 points in 24 h,
 * `high_liquidity` when its yes spread is <= 2 cents, `recent` when it opened in the last 24 h,
 * `high_volume` when its 24 h taker premium >= HIGH_VOLUME_USD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "category.h"
#include "codec.h"
#include "log.h"
#include "whale.h"

#define TRENDING_MICROS 50000	  /* 5 points */
#define TIGHT_SPREAD_MICROS 20000 /* 2 cents */

/* The one declaration of the view parameter, shared by every legacy route. */
#define LEGACY_CATEGORY                                                                            \
	{                                                                                          \
		"category", KW_P_STR, 0, 0, 64, NULL,                                              \
			"category to show instead of the crypto view (case-insensitive), or `all`" \
	}

const struct kw_param kw_params_legacy_view[] = {
	LEGACY_CATEGORY,
	{ 0 },
};

const struct kw_param kw_params_legacy_markets[] = {
	LEGACY_CATEGORY,
	{ "limit", KW_P_INT, 1, 1000, 0, NULL, "most markets to return (default 200)" },
	{ 0 },
};

const struct kw_param kw_params_legacy_alerts[] = {
	LEGACY_CATEGORY,
	{ "limit", KW_P_INT, 1, 200, 0, NULL, "most alerts to return (default 50)" },
	{ 0 },
};

/* The view: *category (NULL = any) and *prefixes (owned JSON, non-NULL = crypto view). */
static void view(struct kw_req *r, const char **category, char **prefixes)
{
	const char *c = kw_query_str(&r->q, "category", NULL);
	*category = NULL;
	*prefixes = NULL;
	if (!c || !strcasecmp(c, "crypto"))
		*prefixes = kw_category_prefixes_json(&r->app->cfg);
	else if (strcasecmp(c, "all"))
		*category = c;
}

/* Reply obj with an ETag over everything but the timestamp, then the timestamp; the reply
 * cache keeps it for the next request of the same URI. */
static void reply_stamped(struct kw_req *r, json_object *obj)
{
	kw_api_reply_doc(r, obj, 1);
}

/* A legacy list answers from the reply cache when it can: its figures change only with the
 * market-data generation (and cards' `recent` with the clock, by seconds). */
static int cached(struct kw_req *r, int64_t max_age_s)
{
	return kw_api_reply_doc_cached(r, max_age_s);
}

static void db_error(struct kw_req *r)
{
	kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
}

struct mlist {
	json_object *arr;
	int cards;
	const struct kw_config *cfg;
	int64_t now;
};

json_object *kw_legacy_market_json(const struct kw_market_row *m)
{
	json_object *o = kw_api_market_json(m);
	json_object_object_add(o, "id", kw_api_str(m->ticker));
	json_object_object_add(o, "ticker_symbol", kw_api_str(m->ticker));
	/* The original passed Kalshi's market objects through: `volume` and `volume_24h` are
	 * Kalshi's contract volumes (lifetime and 24 h), which old dashboards read. */
	json_object_object_add(o, "volume", kw_api_contracts(m->volume_centi));
	json_object_object_add(o, "volume_24h", kw_api_contracts(m->volume_24h_centi));
	return o;
}

/* The mid of a two-sided quote, else the last trade, else no probability (null): an empty
 * side of the book and a market that never traded have no price (lib/kalshi.c stores them as
 * NULL), and reading them as 0 made every new market a "0 %" card. */
static int64_t yes_probability(const struct kw_market_row *m)
{
	if (m->yes_bid != KW_NULL && m->yes_ask != KW_NULL && m->yes_bid > 0 &&
	    m->yes_ask < 1000000 && m->yes_bid <= m->yes_ask)
		return (m->yes_bid + m->yes_ask) / 2;
	if (m->last_price != KW_NULL && m->last_price > 0)
		return m->last_price;
	return KW_NULL;
}

static json_object *outcome(const char *title, const char *desc, int64_t p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "title", json_object_new_string(title));
	json_object_object_add(o, "description", kw_api_str(desc));
	json_object_object_add(o, "probability", kw_api_usd(p));
	return o;
}

json_object *kw_legacy_card_json(const struct kw_market_row *m, const struct kw_config *cfg,
				 int64_t now)
{
	json_object *o = json_object_new_object();
	int64_t p = yes_probability(m);
	json_object_object_add(o, "id", kw_api_str(m->ticker));
	json_object_object_add(o, "question", kw_api_str(m->title));
	json_object_object_add(o, "category", kw_api_str(m->category));
	json_object_object_add(o, "last_update", kw_api_time(m->updated_at));
	json_object_object_add(o, "volume", kw_api_usd(m->usd_24h_micros));
	json_object_object_add(o, "volume_unit", json_object_new_string("usd"));
	json_object_object_add(o, "volume_usd", kw_api_usd(m->usd_24h_micros));
	json_object_object_add(o, "volume_24h_contracts", kw_api_contracts(m->volume_24h_centi));
	json_object_object_add(o, "cadence", kw_api_str(m->frequency));
	json_object_object_add(o, "trending",
			       json_object_new_boolean(m->last_price != KW_NULL &&
						       m->previous_price != KW_NULL &&
						       llabs(m->last_price - m->previous_price) >=
							       TRENDING_MICROS));
	json_object *outs = json_object_new_array();
	json_object_array_add(outs, outcome("YES", m->yes_sub_title, p));
	json_object_array_add(outs,
			      outcome("NO", m->no_sub_title, p == KW_NULL ? KW_NULL : 1000000 - p));
	json_object_object_add(o, "outcomes", outs);
	json_object_object_add(
		o, "high_volume",
		json_object_new_boolean(m->usd_24h_micros >= cfg->high_volume_usd * 1000000));
	json_object_object_add(
		o, "high_liquidity",
		json_object_new_boolean(m->yes_bid != KW_NULL && m->yes_ask != KW_NULL &&
					m->yes_bid > 0 &&
					m->yes_ask - m->yes_bid <= TIGHT_SPREAD_MICROS));
	json_object_object_add(
		o, "recent",
		json_object_new_boolean(m->open_at != KW_NULL && m->open_at >= now - 86400));
	json_object_object_add(o, "status", kw_api_str(m->status));
	json_object_object_add(o, "ticker_symbol", kw_api_str(m->ticker));
	json_object_object_add(o, "ticker", kw_api_str(m->ticker));
	return o;
}

static int on_market(void *ctx, const struct kw_market_row *m)
{
	struct mlist *l = ctx;
	json_object_array_add(l->arr, l->cards ? kw_legacy_card_json(m, l->cfg, l->now)
					       : kw_legacy_market_json(m));
	return 0;
}

/* The name kw-fetch ranks the view under (sql/0014_legacy_views.sql); "" if none fits. */
static void view_name(const char *category, const char *prefixes, char *out, size_t len)
{
	if (prefixes) {
		kw_strlcpy(out, "crypto", len);
	} else if (!category) {
		kw_strlcpy(out, "all", len);
	} else if (strlen(category) + 3 > len) {
		out[0] = '\0';
	} else {
		/* lower(): ASCII only, as SQLite's lower() and COLLATE NOCASE fold. */
		size_t i = 0;
		out[i++] = 'c';
		out[i++] = ':';
		for (const char *p = category; *p; p++)
			out[i++] = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
		out[i] = '\0';
	}
}

/* Open markets of the view by 24 h contract volume into l->arr; -1 on a database error. The
 * ranking kw-fetch made answers (a primary-key range); before its first ranking, the volume
 * index is walked. */
static int open_markets(struct kw_req *r, struct kw_store *s, int64_t limit, struct mlist *l)
{
	char *prefixes, name[80];
	struct kw_market_filter f;
	memset(&f, 0, sizeof(f));
	view(r, &f.category, &prefixes);
	view_name(f.category, prefixes, name, sizeof(name));
	if (name[0] && limit <= KW_LEGACY_VIEW_MAX) {
		int got = kw_store_legacy_view(s, name, limit, on_market, l);
		if (got != 1) {
			free(prefixes);
			return got < 0 ? -1 : 0;
		}
	}
	f.crypto_prefixes = prefixes;
	f.status[0] = "active";
	f.status[1] = "open";
	f.min_volume_24h_centi = KW_NULL;
	f.sort = KW_MSORT_VOLUME_24H;
	f.limit = limit;
	int rc = kw_store_markets_list(s, &f, on_market, l);
	free(prefixes);
	return rc < 0 ? -1 : 0;
}

/* The view's open markets (cards or market objects) into a new array, or NULL when the reply
 * is already written: no store, a fresh cached copy, or a database error. */
static json_object *markets_or_reply(struct kw_req *r, int64_t limit, int cards)
{
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s)
		return NULL;
	if (cached(r, KW_API_CACHE_MAX_AGE_S))
		return NULL;
	struct mlist l = { .arr = json_object_new_array(),
			   .cards = cards,
			   .cfg = &r->app->cfg,
			   .now = kw_now_s() };
	if (open_markets(r, s, limit, &l) < 0) {
		json_object_put(l.arr);
		db_error(r);
		return NULL;
	}
	return l.arr;
}

/* {"count": n, "markets": [...]} with the time stamp. */
static void reply_counted_markets(struct kw_req *r, json_object *arr)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "count", json_object_new_int64(json_object_array_length(arr)));
	json_object_object_add(o, "markets", arr);
	reply_stamped(r, o);
}

void kw_handle_legacy_markets(struct kw_req *r)
{
	json_object *arr = markets_or_reply(r, kw_query_int(&r->q, "limit", 200), 0);
	if (arr)
		reply_counted_markets(r, arr);
}

void kw_handle_legacy_top_markets(struct kw_req *r)
{
	json_object *arr = markets_or_reply(r, 5, 0);
	if (!arr)
		return;
	json_object *o = json_object_new_object();
	size_t n = json_object_array_length(arr);
	json_object_object_add(o, "markets", arr);
	if (n)
		json_object_object_add(o, "count", json_object_new_int64((int64_t)n));
	else
		json_object_object_add(o, "error",
				       json_object_new_string("no open markets in this view yet"));
	kw_api_reply_doc(r, o, 0);
}

void kw_handle_legacy_top5(struct kw_req *r)
{
	json_object *arr = markets_or_reply(r, 5, 1);
	if (arr)
		reply_counted_markets(r, arr);
}

/* ---- alerts -------------------------------------------------------------------------------- */

struct alist {
	json_object *arr;
	int64_t high_volume;
	/* analytics */
	json_object *types, *markets, *odds;
};

static void bump(json_object *counts, const char *key)
{
	json_object *v;
	if (json_object_object_get_ex(counts, key, &v))
		json_object_set_int64(v, json_object_get_int64(v) + 1);
	else
		json_object_object_add(counts, key, json_object_new_int64(1));
}

static int on_alert(void *ctx, const struct kw_alert *a)
{
	struct alist *l = ctx;
	json_object *o = kw_api_alert_json(a, 1);
	if (a->type && !strcmp(a->type, kw_signals[KW_ALERT_HIGH_VOLUME].name))
		l->high_volume++;
	if (l->types) {
		bump(l->types, a->type ? a->type : "unknown");
		bump(l->markets, a->ticker ? a->ticker : "");
		json_object *d;
		if (a->type && !strcmp(a->type, kw_signals[KW_ALERT_ODDS_FLIP].name) && a->ticker &&
		    !json_object_object_get_ex(l->odds, a->ticker, NULL) &&
		    json_object_object_get_ex(o, "data", &d))
			json_object_object_add(l->odds, a->ticker, json_object_get(d));
		if (json_object_array_length(l->arr) >= 10) {
			json_object_put(o);
			return 0;
		}
	}
	json_object_array_add(l->arr, o);
	return 0;
}

static int alerts_in_view(struct kw_req *r, struct kw_store *s, int64_t limit, int64_t since,
			  struct alist *l)
{
	char *prefixes;
	struct kw_alert_filter f = { .limit = limit, .created_from = since };
	view(r, &f.category, &prefixes);
	f.crypto_prefixes = prefixes;
	int rc = kw_store_alerts_list(s, &f, on_alert, l);
	free(prefixes);
	return rc < 0 ? -1 : 0;
}

static json_object *thresholds(const struct kw_config *cfg)
{
	json_object *t = json_object_new_object();
	char *cats = kw_category_thresholds_json(cfg);
	json_object *by_cat = json_tokener_parse(cats);
	free(cats);
	json_object_object_add(t, "whale_min_notional_usd",
			       json_object_new_int64(cfg->whale_min_notional_usd));
	json_object *usd = json_object_new_object();
	json_object_object_foreach(by_cat, k, v)
	{
		json_object_object_add(usd, k,
				       json_object_new_int64(json_object_get_int64(v) / 1000000));
	}
	json_object_put(by_cat);
	json_object_object_add(t, "whale_min_notional_by_category_usd", usd);
	int64_t mult = cfg->volume_surge_multiplier_milli;
	int64_t high_mult = (int64_t)(KW_SURGE_HIGH_MULTIPLE * 1000);
	json_object_object_add(t, "volume_surge_multiplier", kw_json_decimal(mult, 3));
	json_object_object_add(t, "volume_surge_high_multiplier",
			       kw_json_decimal(mult > high_mult ? mult : high_mult, 3));
	json_object_object_add(t, "surge_min_trades", json_object_new_int64(cfg->surge_min_trades));
	json_object_object_add(t, "surge_window_min", json_object_new_int64(cfg->surge_window_min));
	json_object_object_add(t, "surge_min_notional_usd",
			       json_object_new_int64(cfg->surge_min_notional_usd));
	json_object_object_add(t, "odds_change_points",
			       json_object_new_int64(cfg->odds_change_points));
	json_object_object_add(t, "odds_high_points",
			       json_object_new_int64(cfg->odds_change_points > KW_ODDS_HIGH_POINTS
							     ? cfg->odds_change_points
							     : KW_ODDS_HIGH_POINTS));
	json_object_object_add(t, "odds_window_min", json_object_new_int64(cfg->odds_window_min));
	json_object_object_add(t, "orderbook_change_percent",
			       json_object_new_int64(cfg->orderbook_change_percent));
	json_object_object_add(
		t, "orderbook_high_percent",
		json_object_new_int64(cfg->orderbook_change_percent > KW_BOOK_HIGH_PERCENT
					      ? cfg->orderbook_change_percent
					      : KW_BOOK_HIGH_PERCENT));
	json_object_object_add(t, "high_volume_usd", json_object_new_int64(cfg->high_volume_usd));
	json_object_object_add(t, "alert_cooldown_min",
			       json_object_new_int64(cfg->alert_cooldown_min));
	return t;
}

void kw_handle_legacy_whale_alerts(struct kw_req *r)
{
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s)
		return;
	if (cached(r, KW_API_CACHE_MAX_AGE_S))
		return;
	const struct kw_config *cfg = &r->app->cfg;
	struct alist l = { .arr = json_object_new_array() };
	if (alerts_in_view(r, s, kw_query_int(&r->q, "limit", 50), 0, &l) < 0) {
		json_object_put(l.arr);
		db_error(r);
		return;
	}
	int64_t n = (int64_t)json_object_array_length(l.arr);
	json_object *data = json_object_new_object();
	json_object_object_add(data, "alerts", json_object_get(l.arr));
	json_object_object_add(data, "count", json_object_new_int64(n));
	json_object_object_add(data, "whale_signals_count",
			       json_object_new_int64(n - l.high_volume));
	json_object_object_add(data, "high_volume_count", json_object_new_int64(l.high_volume));
	json_object *types = json_object_new_object();
	/* Every signal of the table; order-book shifts need real books, so only when kw-fetch
	 * watches some. */
	for (int i = 0; i < KW_ALERT_NTYPES; i++)
		json_object_object_add(types, kw_signals[i].name,
				       json_object_new_boolean(i != KW_ALERT_ORDER_BOOK_SHIFT ||
							       cfg->orderbook_watch > 0));
	json_object_object_add(data, "detection_types", types);
	json_object_object_add(data, "thresholds", thresholds(cfg));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "status", json_object_new_string("success"));
	/* The bundled page reads the list at the top level. */
	json_object_object_add(o, "alerts", l.arr);
	json_object_object_add(o, "count", json_object_new_int64(n));
	reply_stamped(r, o);
}

/* ---- analytics ----------------------------------------------------------------------------- */

struct hours {
	int64_t first_hour;
	int64_t v[24];
};

static int on_hour(void *ctx, int64_t hour, int64_t micros)
{
	struct hours *h = ctx;
	int64_t i = hour - h->first_hour;
	if (i >= 0 && i < 24)
		h->v[i] += micros;
	return 0;
}

/* {recent_average (USD per hour over 24 h), trend, volatility (mean absolute deviation of the
 * hourly premium over its mean)}. */
static json_object *trend(struct kw_store *s, const char *ticker, int64_t now, int *err)
{
	struct hours h = { .first_hour = now / 3600 - 23 };
	/* kw-fetch's per-market hours (store_rollup.h): 24 rows, not the market's trades. */
	if (kw_store_market_hours(s, ticker, h.first_hour, on_hour, &h) < 0) {
		*err = 1;
		return NULL;
	}
	long double sum = 0, dev = 0;
	for (int i = 0; i < 24; i++)
		sum += h.v[i];
	long double mean = sum / 24;
	for (int i = 0; i < 24; i++)
		dev += h.v[i] > mean ? h.v[i] - mean : mean - h.v[i];
	long double sd = dev / 24;
	long double last = h.v[23];
	json_object *o = json_object_new_object();
	json_object_object_add(o, "recent_average", kw_api_usd((int64_t)mean));
	json_object_object_add(o, "last_hour", kw_api_usd((int64_t)last));
	json_object_object_add(o, "trend",
			       json_object_new_string(mean <= 0		   ? "flat"
						      : last > mean * 1.2L ? "increasing"
						      : last < mean * 0.8L ? "decreasing"
									   : "stable"));
	json_object_object_add(o, "volatility",
			       mean > 0 ? kw_json_decimal((int64_t)(sd / mean * 100), 2) : NULL);
	json_object_object_add(o, "unit", json_object_new_string("usd_per_hour"));
	return o;
}

void kw_handle_legacy_whale_analytics(struct kw_req *r)
{
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s)
		return;
	if (cached(r, 30))
		return;
	int64_t now = kw_now_s();
	struct alist l = {
		.arr = json_object_new_array(),
		.types = json_object_new_object(),
		.markets = json_object_new_object(),
		.odds = json_object_new_object(),
	};
	json_object *o = json_object_new_object();
	json_object_object_add(o, "signal_types", l.types);
	json_object_object_add(o, "most_active_markets", l.markets);
	json_object_object_add(o, "recent_activity", l.arr);
	json_object_object_add(o, "odds_movements", l.odds);
	if (alerts_in_view(r, s, 5000, now - 86400, &l) < 0) {
		json_object_put(o);
		db_error(r);
		return;
	}
	int64_t total = 0;
	json_object_object_foreach(l.types, k, v)
	{
		(void)k;
		total += json_object_get_int64(v);
	}
	json_object_object_add(o, "total_whale_signals", json_object_new_int64(total));
	json_object *trends = json_object_new_object();
	json_object_object_add(o, "volume_trends", trends);
	/* Trends for the five markets with the most signals. */
	for (int rank = 0; rank < 5; rank++) {
		const char *best = NULL;
		int64_t most = 0;
		json_object_object_foreach(l.markets, t, n)
		{
			if (json_object_get_int64(n) > most &&
			    !json_object_object_get_ex(trends, t, NULL)) {
				most = json_object_get_int64(n);
				best = t;
			}
		}
		if (!best)
			break;
		int err = 0;
		json_object *tr = trend(s, best, now, &err);
		if (err) {
			json_object_put(o);
			db_error(r);
			return;
		}
		json_object_object_add(trends, best, tr);
	}
	json_object_object_add(o, "window", json_object_new_string("24h"));
	reply_stamped(r, o);
}
