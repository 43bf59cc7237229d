/*
 * run.c — one kw-fetch run, from claiming refresh requests to the finished fetch_runs row.
 *
 * Phases, in order (docs/KALSHI.md sections in brackets):
 *   1. catalog   series and open events, daily or when a refresh asks for force [§5]
 *   2. markets   GET /markets?status=open&limit=1000[&mve_filter=exclude], every page, each
 *                market upserted with a snapshot at the run's time [§2]
 *   3. links     unknown events and series fetched one by one (bounded), then each market
 *                gets its series and category (market -> event -> series) [§5]
 *   4. trades    GET /markets/trades?min_ts=..., exchange-wide, newest first, from the last
 *                complete sweep minus an overlap (or BACKFILL_HOURS back), de-duplicated by
 *                trade_id; the watermark advances only in the last page's transaction [§3]
 *   5. books     GET /markets/{ticker}/orderbook for the watch list [§4]
 *   6. detection (whale detection is called here, see KW_DETECTION_HOOK below)
 *   7. retention old trades and snapshots pruned in small batches
 * Every page is stored whole or not at all (pages.c), so a kill -9 leaves whole pages, and the
 * next run redoes the rest (upserts and trade de-duplication make that idempotent). A failed
 * markets phase fails the run (stored data stays as it was); a failure in a later phase makes
 * it partial.
 *
 * Threads: the paginated listings (series, events, markets, trades) use the machine's second
 * core. A reader thread fetches page k+1 (HTTP with its rate cap and backoff, or a replay
 * file) and parses it into records while this thread stores page k (pages.c). SQLite, the
 * tally, the log of skips and the run's outcome stay on this thread; the client is used by the
 * reader alone while a listing runs. Everything else is one thread.
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "fetch.h"
#include "kalshi.h"
#include "log.h"
#include "run.h"
#include "store_cluster.h"
#include "store_fetch.h"
#include "whale.h"

#define TRADE_OVERLAP_S 600	/* re-read this much before the watermark: late trades */
#define CATALOG_MAX_AGE_S 86400 /* series and events are refreshed daily */
#define LOOKUPS_PER_RUN 100	/* unknown events / series fetched one by one per run */
#define WHALE_LOOKBACK_S 3600	/* whale trades this recent put a market on the watch list */
#define WHALE_WATCH_EXTRA 50	/* at most this many such markets */
#define BOOK_FAILS_MAX 3	/* consecutive order-book failures that end the phase */
#define PRUNE_BATCH 5000	/* rows per retention transaction */
#define PRUNE_BATCHES 200	/* transactions per table and run */
#define SKIP_LOG_MAX 20		/* skipped records logged one by one per run */

static const char STATE_WATERMARK[] = "trades_watermark_us";
static const char STATE_CATALOG[] = "catalog_refreshed_at";

void kw_run_error(struct kw_run *r, const char *fmt, ...)
{
	if (r->error[0])
		return; /* keep the first cause: later ones usually follow from it */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

void kw_run_skip(struct kw_run *r, const char *what, const char *id, const char *reason)
{
	r->n.skipped++;
	if (r->n.skipped <= SKIP_LOG_MAX)
		kw_warn("skipped %s %.80s: %s", what, id ? id : "(no id)", reason);
	for (int i = 0; i < r->n.nskips; i++) {
		if (!strcmp(r->n.skips[i].reason, reason)) {
			r->n.skips[i].n++;
			return;
		}
	}
	if (r->n.nskips < KW_RUN_SKIP_REASONS_MAX) {
		r->n.skips[r->n.nskips].reason = reason;
		r->n.skips[r->n.nskips].n = 1;
		r->n.nskips++;
	}
}

/* The identifier of a rejected record, for the log line (borrowed, may be NULL). */
static const char *item_id(json_object *o, const char *key)
{
	json_object *v;
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    kw_text_is_clean(json_object_get_string(v), strlen(json_object_get_string(v))))
		return json_object_get_string(v);
	return NULL;
}

int kw_run_stopped(const struct kw_run *r)
{
	return r->ctx->stop && *r->ctx->stop;
}

/* GET and parse one body; the root is the caller's to put. */
static enum kw_get get_json(struct kw_run *r, enum kw_fetch_kind kind, const char *path,
			    const char *query, const char *key, json_object **root)
{
	char err[160];
	*root = NULL;
	enum kw_get res = kw_client_get(r->ctx->client, kind, path, query, key, &r->body);
	if (res != KW_GET_OK)
		return res;
	*root = kw_kalshi_body_parse(r->body.data, r->body.len, err, sizeof(err));
	if (!*root) {
		kw_error("kalshi: GET %s%s%.120s: %s", path, query ? "?" : "", query ? query : "",
			 err);
		return KW_GET_FAILED;
	}
	return KW_GET_OK;
}

int kw_run_tx_begin(struct kw_run *r)
{
	if (kw_store_begin(r->store) < 0) {
		r->db_failed = 1;
		kw_run_error(r, "database: cannot begin a transaction");
		return -1;
	}
	return 0;
}

int kw_run_tx_commit(struct kw_run *r)
{
	if (kw_store_commit(r->store) < 0) {
		kw_store_rollback(r->store);
		r->db_failed = 1;
		kw_run_error(r, "database: cannot commit");
		return -1;
	}
	return 0;
}

int kw_run_db_fail(struct kw_run *r, const char *what)
{
	kw_store_rollback(r->store);
	r->db_failed = 1;
	kw_run_error(r, "database: %s failed", what);
	return -1;
}

/* ---- records ------------------------------------------------------------------------------ */

static const size_t market_strs[] = {
	offsetof(union kw_kalshi_record, market.ticker),
	offsetof(union kw_kalshi_record, market.event_ticker),
	offsetof(union kw_kalshi_record, market.status),
	offsetof(union kw_kalshi_record, market.title),
	offsetof(union kw_kalshi_record, market.yes_sub_title),
	offsetof(union kw_kalshi_record, market.no_sub_title),
	offsetof(union kw_kalshi_record, market.market_type),
	offsetof(union kw_kalshi_record, market.legacy_category),
};
static const size_t trade_strs[] = { offsetof(union kw_kalshi_record, trade.trade_id),
				     offsetof(union kw_kalshi_record, trade.ticker) };
static const size_t event_strs[] = {
	offsetof(union kw_kalshi_record, event.event_ticker),
	offsetof(union kw_kalshi_record, event.series_ticker),
	offsetof(union kw_kalshi_record, event.title),
	offsetof(union kw_kalshi_record, event.sub_title),
	offsetof(union kw_kalshi_record, event.category),
};
static const size_t series_strs[] = {
	offsetof(union kw_kalshi_record, series.ticker),
	offsetof(union kw_kalshi_record, series.title),
	offsetof(union kw_kalshi_record, series.category),
	offsetof(union kw_kalshi_record, series.frequency),
};

static int store_market(struct kw_run *r, const union kw_kalshi_record *u)
{
	if (kw_store_fetch_market(r->store, &u->market, r->now, r->id, &r->market_as_it_was) < 0)
		return kw_run_db_fail(r, "storing a market");
	r->n.markets++;
	return 0;
}

static int is_combo(const char *ticker)
{
	return !strncmp(ticker, "KXMVE", 5);
}

static int store_trade(struct kw_run *r, const union kw_kalshi_record *u)
{
	const struct kw_kalshi_trade *t = &u->trade;
	int inserted = 0;
	if (!r->cfg->kalshi_include_combos && is_combo(t->ticker)) {
		kw_run_skip(r, "trade", t->trade_id, "combo_market");
		return 0;
	}
	if (kw_store_fetch_trade(r->store, t, r->shift_us, &inserted) < 0)
		return kw_run_db_fail(r, "storing a trade");
	r->n.trades += inserted;
	if (t->created_us > r->n.trade_max_us)
		r->n.trade_max_us = t->created_us;
	return 0;
}

/* The last page's transaction also moves the watermark: a sweep killed before it never
 * advances, so the next run starts again from the old one and trade_id absorbs the overlap. */
static int trade_page_end(struct kw_run *r, int last)
{
	int64_t inserted = 0;
	if (kw_store_fetch_trades_flush(r->store, &inserted) < 0)
		return kw_run_db_fail(r, "storing trades");
	r->n.trades += inserted;
	if (!last || r->replay)
		return 0;
	int64_t wm = r->trade_wm_old;
	if (r->n.trade_max_us > wm)
		wm = r->n.trade_max_us;
	if (wm < r->trade_min_ts * 1000000)
		wm = r->trade_min_ts * 1000000;
	if (kw_store_fetch_state_set(r->store, STATE_WATERMARK, wm) < 0)
		return kw_run_db_fail(r, "saving the trade watermark");
	return 0;
}

static int store_event(struct kw_run *r, const union kw_kalshi_record *u)
{
	if (kw_store_fetch_event(r->store, &u->event, r->now) < 0)
		return kw_run_db_fail(r, "storing an event");
	r->n.catalog_changed = 1;
	return 0;
}

static int store_series(struct kw_run *r, const union kw_kalshi_record *u)
{
	if (kw_store_fetch_series(r->store, &u->series, r->now) < 0)
		return kw_run_db_fail(r, "storing a series");
	r->n.catalog_changed = 1;
	return 0;
}

static const struct kw_pager series_pager = { .name = "series",
					      .what = "series",
					      .id_key = "ticker",
					      .kind = KW_KIND_SERIES,
					      .path = "/series",
					      .array_key = "series",
					      .record = KW_KALSHI_SERIES,
					      .strs = series_strs,
					      .nstrs = sizeof(series_strs) / sizeof(series_strs[0]),
					      .store = store_series };
static const struct kw_pager events_pager = { .name = "events",
					      .what = "event",
					      .id_key = "event_ticker",
					      .kind = KW_KIND_EVENTS,
					      .path = "/events",
					      .query = "status=open&limit=200",
					      .array_key = "events",
					      .record = KW_KALSHI_EVENT,
					      .strs = event_strs,
					      .nstrs = sizeof(event_strs) / sizeof(event_strs[0]),
					      .store = store_event };

/* One object fetched on its own (GET /events/X, /series/X): parsed and stored at once. */
static int store_one(struct kw_run *r, const struct kw_pager *p, json_object *o)
{
	union kw_kalshi_record u;
	const char *reason;
	if (kw_kalshi_record_parse(p->record, o, &u, &reason) < 0) {
		kw_run_skip(r, p->what, item_id(o, p->id_key), reason);
		return 0;
	}
	return p->store(r, &u);
}
/* ---- phases ------------------------------------------------------------------------------- */

/* Returns KW_GET_UNAVAILABLE when Kalshi could not be reached at all (the run stops there). */
static enum kw_get phase_catalog(struct kw_run *r, int force)
{
	int64_t at = 0;
	if (!r->replay && !force) {
		int found = kw_store_fetch_state_get(r->store, STATE_CATALOG, &at);
		if (found < 0) {
			r->db_failed = 1;
			return KW_GET_FAILED;
		}
		if (found && r->now - at < CATALOG_MAX_AGE_S)
			return KW_GET_OK;
	}
	enum kw_get res = kw_pages_walk(r, &series_pager);
	if (res == KW_GET_OK)
		res = kw_pages_walk(r, &events_pager);
	if (res != KW_GET_OK) {
		r->partial = 1;
		return res;
	}
	if (r->replay || kw_run_tx_begin(r) < 0)
		return KW_GET_OK;
	if (kw_store_fetch_state_set(r->store, STATE_CATALOG, r->now) < 0)
		kw_run_db_fail(r, "saving the catalog time");
	else
		(void)kw_run_tx_commit(r);
	return KW_GET_OK;
}

static void phase_markets(struct kw_run *r)
{
	const char *q = r->cfg->kalshi_include_combos ? "status=open&limit=1000"
						      : "status=open&limit=1000&mve_filter=exclude";
	struct kw_pager p = { .name = "markets",
			      .what = "market",
			      .id_key = "ticker",
			      .kind = KW_KIND_MARKETS,
			      .path = "/markets",
			      .query = q,
			      .array_key = "markets",
			      .record = KW_KALSHI_MARKET,
			      .strs = market_strs,
			      .nstrs = sizeof(market_strs) / sizeof(market_strs[0]),
			      .store = store_market };
	int64_t pages = r->pages;
	r->markets_fail = kw_pages_walk(r, &p);
	r->markets_listed = r->pages > pages;
}

/* GET one object ({"event":{...}} or {"series":{...}}) per unknown ticker and store it. */
static void lookup_each(struct kw_run *r, const struct kw_strlist *l, enum kw_fetch_kind kind,
			const char *prefix, const char *member, const struct kw_pager *p)
{
	struct kw_buf path;
	kw_buf_init(&path, 0);
	for (size_t i = 0; i < l->n && !kw_run_stopped(r) && !r->db_failed; i++) {
		json_object *root = NULL, *obj;
		kw_buf_reset(&path);
		if (kw_buf_puts(&path, prefix) < 0 || kw_client_escape(l->v[i], &path) < 0)
			abort();
		enum kw_get res = get_json(r, kind, path.data, NULL, l->v[i], &root);
		if (res == KW_GET_NOT_FOUND) {
			if (!r->replay)
				kw_run_skip(r, member, l->v[i], "not_found");
			continue;
		}
		if (res != KW_GET_OK) {
			r->partial = 1;
			kw_run_error(r, "%s %s could not be fetched", member, l->v[i]);
			json_object_put(root);
			break;
		}
		r->pages++;
		if (!json_object_object_get_ex(root, member, &obj) || !obj) {
			kw_run_skip(r, member, l->v[i], "missing_object");
		} else if (kw_run_tx_begin(r) == 0) {
			if (store_one(r, p, obj) == 0)
				(void)kw_run_tx_commit(r);
		}
		json_object_put(root);
	}
	kw_buf_free(&path);
}

static void phase_links(struct kw_run *r)
{
	struct kw_strlist l = { 0 };
	if (kw_store_fetch_unknown_events(r->store, LOOKUPS_PER_RUN, &l) < 0) {
		r->db_failed = 1;
		return;
	}
	lookup_each(r, &l, KW_KIND_EVENT, "/events/", "event", &events_pager);
	kw_strlist_free(&l);
	if (kw_store_fetch_unknown_series(r->store, LOOKUPS_PER_RUN, &l) < 0) {
		r->db_failed = 1;
		return;
	}
	lookup_each(r, &l, KW_KIND_SERIES, "/series/", "series", &series_pager);
	kw_strlist_free(&l);
	if (!r->n.markets && !r->n.catalog_changed)
		return; /* nothing new to link: keeps an idle run cheap */
	int64_t changed = 0;
	if (kw_run_tx_begin(r) < 0)
		return;
	if (kw_store_fetch_link_categories(r->store, &changed) < 0) {
		kw_run_db_fail(r, "linking categories");
		return;
	}
	if (kw_run_tx_commit(r) == 0 && changed)
		kw_info("linked %lld markets to their series and category", (long long)changed);
}

static void phase_trades(struct kw_run *r)
{
	char q[96];
	int found = kw_store_fetch_state_get(r->store, STATE_WATERMARK, &r->trade_wm_old);
	if (found < 0) {
		r->db_failed = 1;
		return;
	}
	if (!found)
		r->trade_wm_old = 0;
	r->trade_min_ts = found ? r->trade_wm_old / 1000000 - TRADE_OVERLAP_S
				: r->now - r->cfg->backfill_hours * 3600;
	snprintf(q, sizeof(q), "limit=1000&min_ts=%lld", (long long)r->trade_min_ts);
	struct kw_pager p = { .name = "trades",
			      .what = "trade",
			      .id_key = "trade_id",
			      .kind = KW_KIND_TRADES,
			      .path = "/markets/trades",
			      .query = q,
			      .array_key = "trades",
			      .record = KW_KALSHI_TRADE,
			      .strs = trade_strs,
			      .nstrs = sizeof(trade_strs) / sizeof(trade_strs[0]),
			      .store = store_trade,
			      .page_end = trade_page_end };
	if (kw_pages_walk(r, &p) != KW_GET_OK)
		r->partial = 1;
}

static void phase_books(struct kw_run *r)
{
	struct kw_strlist l = { 0 };
	struct kw_buf path;
	int fails = 0;
	/* Whale trades by their category's threshold, as detection judges them. */
	char *cats = kw_category_thresholds_json(r->cfg);
	int rc = kw_store_fetch_watchlist(
		r->store, r->cfg->orderbook_watch, kw_category_min_threshold_micros(r->cfg), cats,
		r->cfg->whale_min_notional_usd * KW_MICROS_PER_DOLLAR,
		(r->now - WHALE_LOOKBACK_S) * 1000000, WHALE_WATCH_EXTRA, &l);
	free(cats);
	if (rc < 0) {
		r->db_failed = 1;
		return;
	}
	kw_buf_init(&path, 0);
	for (size_t i = 0; i < l.n && !kw_run_stopped(r) && !r->db_failed; i++) {
		json_object *root = NULL;
		struct kw_kalshi_book b;
		const char *reason;
		kw_buf_reset(&path);
		if (kw_buf_puts(&path, "/markets/") < 0 || kw_client_escape(l.v[i], &path) < 0 ||
		    kw_buf_puts(&path, "/orderbook") < 0)
			abort();
		enum kw_get res = get_json(r, KW_KIND_ORDERBOOK, path.data, NULL, l.v[i], &root);
		if (res == KW_GET_NOT_FOUND) {
			if (!r->replay)
				kw_run_skip(r, "order book", l.v[i], "not_found");
			continue;
		}
		if (res != KW_GET_OK) {
			if (++fails >= BOOK_FAILS_MAX || res == KW_GET_STOPPED) {
				r->partial = 1;
				kw_run_error(r, "order books: %d failures in a row; phase stopped",
					     fails);
				break;
			}
			continue;
		}
		fails = 0;
		r->pages++;
		if (kw_kalshi_book_parse(root, &b, &reason) < 0) {
			kw_run_skip(r, "order book", l.v[i], reason);
		} else if (kw_run_tx_begin(r) == 0) {
			if (kw_store_fetch_book(r->store, l.v[i], r->now, r->id, &b) < 0)
				kw_run_db_fail(r, "storing an order book");
			else if (kw_run_tx_commit(r) == 0)
				r->books++;
		}
		json_object_put(root);
	}
	kw_buf_free(&path);
	kw_strlist_free(&l);
}

static void phase_retention(struct kw_run *r)
{
	int64_t deleted = 0;
	int64_t cutoff = r->now - r->cfg->retention_days * 86400;
	if (kw_store_fetch_prune(r->store, cutoff, PRUNE_BATCH, PRUNE_BATCHES, &deleted) < 0) {
		r->db_failed = 1;
		kw_run_error(r, "database: pruning failed");
		return;
	}
	if (deleted)
		kw_info("retention: pruned %lld rows older than %lld days", (long long)deleted,
			(long long)r->cfg->retention_days);
}

/* ---- the run ------------------------------------------------------------------------------ */

/* CPU time (user + system) of this process: the log reports ingest and detection apart, in
 * CPU seconds, which a shared machine does not distort the way it distorts wall time. */
static int64_t cpu_us(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static char *skips_json(const struct kw_run *r)
{
	json_object *o = json_object_new_object();
	for (int i = 0; i < r->n.nskips; i++)
		json_object_object_add(o, r->n.skips[i].reason,
				       json_object_new_int64(r->n.skips[i].n));
	char *s = kw_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* The fetch_runs row, with the refresh requests it answers claimed, in one transaction. */
static int run_begin(struct kw_run *r, const char *replay_dir)
{
	int claimed = 0;
	if (kw_client_begin_run(r->ctx->client, replay_dir, r->now) < 0) {
		kw_error("run: cannot start (recording directory)");
		return -1;
	}
	if (kw_run_tx_begin(r) < 0)
		return -1;
	if (kw_store_fetch_run_begin(r->store, kw_now_s(), &r->id) < 0 ||
	    kw_store_cluster_mark_run(r->store, r->id, r->cfg->node_name) < 0 ||
	    kw_store_fetch_claim_refresh(r->store, r->id, &claimed, &r->force_catalog) < 0)
		return kw_run_db_fail(r, "starting the run");
	if (kw_run_tx_commit(r) < 0)
		return -1;
	kw_info("run %lld started%s%s%s", (long long)r->id, replay_dir ? ": replaying " : "",
		replay_dir ? replay_dir : "", claimed ? " (asked for by a refresh request)" : "");
	return 0;
}

/* Markets no longer listed are closed, and the open ones counted (-1 in *open: not known). */
static void phase_open_markets(struct kw_run *r, int64_t *open_markets)
{
	int64_t closed = 0;
	if (!r->db_failed && kw_run_tx_begin(r) == 0) {
		/* A replay without a markets listing says nothing about what is open. */
		if ((r->markets_listed &&
		     kw_store_fetch_close_unseen(r->store, r->now, &closed) < 0) ||
		    kw_store_fetch_count_open(r->store, r->markets_listed ? r->now : 0,
					      open_markets) < 0)
			kw_run_db_fail(r, "counting open markets");
		else
			(void)kw_run_tx_commit(r);
	}
	if (closed)
		kw_info("%lld markets left the open listing", (long long)closed);
}

/* market_activity and the stats rollups follow the trades just stored (the markets lists,
 * /api/v1/stats and the analytics read them); an interrupted run leaves them for the next,
 * which catches up. */
static void phase_rollups(struct kw_run *r)
{
	int64_t t0 = kw_mono_us();
	int64_t cpu0 = cpu_us();
	if (kw_store_fetch_activity(r->store, r->now, 0) < 0)
		kw_run_db_fail(r, "updating market activity");
	else if (kw_whale_rollups(r->store, r->cfg, r->now, 0) < 0)
		kw_run_db_fail(r, "updating the stats rollups");
	else
		kw_info("rollups: market activity and the API's figures updated in "
			"%lld us (CPU %lld us)",
			(long long)(kw_mono_us() - t0), (long long)(cpu_us() - cpu0));
}

/*
 * KW_DETECTION_HOOK — ingest is complete and committed; the run is not yet marked finished.
 * Whale detection (lib/whale.h, kw_detect_run) is called here, once per run, with r->store,
 * r->cfg, r->id and r->now (the run's clock, shifted to the present for a replayed sample).
 */
static void phase_detection(struct kw_run *r)
{
	struct kw_detect_stats ds;
	int64_t cpu0 = cpu_us();
	if (kw_detect_run(r->store, r->cfg, r->now, &ds) < 0)
		kw_run_db_fail(r, "whale detection");
	r->cpu_detect_us = cpu_us() - cpu0;
}

/* Every phase after the catalog and the markets, each skipped once the run has failed. */
static void run_later_phases(struct kw_run *r, int64_t *open_markets)
{
	phase_links(r);
	phase_open_markets(r, open_markets);
	if (!r->db_failed && !kw_run_stopped(r))
		phase_trades(r);
	if (!r->db_failed && !kw_run_stopped(r))
		phase_books(r);
	if (!r->db_failed && !kw_run_stopped(r))
		phase_rollups(r);
	if (!r->db_failed && !kw_run_stopped(r))
		phase_detection(r);
	if (!r->db_failed)
		phase_retention(r);
}

static int run_status(const struct kw_run *r)
{
	if (r->db_failed)
		return KW_FETCH_EX_FAILED;
	if (r->markets_fail == KW_GET_UNAVAILABLE)
		return KW_FETCH_EX_TEMPFAIL;
	if (r->markets_fail != KW_GET_OK || kw_run_stopped(r))
		return KW_FETCH_EX_FAILED;
	if (r->partial)
		return KW_FETCH_EX_PARTIAL;
	return KW_FETCH_EX_OK;
}

/* The finished fetch_runs row and the run's last log lines; returns the final status. */
static int run_finish(struct kw_run *r, int status, int64_t open_markets)
{
	if (kw_run_stopped(r))
		kw_run_error(r, "interrupted by a signal");
	char *skips = skips_json(r);
	const char *outcome = status == KW_FETCH_EX_OK	      ? "ok"
			      : status == KW_FETCH_EX_PARTIAL ? "partial"
							      : "failed";
	struct kw_fetch_run_row row = {
		.outcome = outcome,
		.finished_at = kw_now_s(),
		.pages = r->pages,
		.markets = r->n.markets,
		.trades = r->n.trades,
		.orderbooks = r->books,
		.http_errors = kw_client_http_errors(r->ctx->client),
		.skipped = r->n.skipped,
		.open_markets = status == KW_FETCH_EX_FAILED || status == KW_FETCH_EX_TEMPFAIL
					? -1
					: open_markets,
		.skip_reasons_json = skips,
		.error = r->error[0] ? r->error : NULL,
	};
	kw_store_rollback(r->store);
	if (r->id && kw_store_fetch_run_finish(r->store, r->id, &row) < 0)
		status = KW_FETCH_EX_FAILED;
	/* What other writers waited for this run at worst (KW_STORE_WRITE_STEP_US). */
	kw_info("run %lld: longest write transaction %.1f ms", (long long)r->id,
		(double)kw_store_take_longest_write_us(r->store) / 1e3);
	kw_log(status == KW_FETCH_EX_OK ? KW_LOG_INFO : KW_LOG_WARNING,
	       "run %lld %s in %.2f s (CPU: %.3f s, of which detection %.3f s): %lld pages, "
	       "%lld markets (%lld open), %lld new trades, %lld order books, %lld HTTP errors, "
	       "%lld skipped %s%s%s",
	       (long long)r->id, outcome, (double)(kw_mono_us() - r->started_us) / 1e6,
	       (double)(cpu_us() - r->cpu_started_us) / 1e6, (double)r->cpu_detect_us / 1e6,
	       (long long)r->pages, (long long)r->n.markets,
	       (long long)(open_markets < 0 ? 0 : open_markets), (long long)r->n.trades,
	       (long long)r->books, (long long)row.http_errors, (long long)r->n.skipped, skips,
	       r->error[0] ? "; error: " : "", r->error);
	free(skips);
	return status;
}

int kw_fetch_run(struct kw_fetch_ctx *ctx, const char *replay_dir, int64_t run_at, int64_t shift_s)
{
	struct kw_run *r = kw_xcalloc(1, sizeof(*r));
	int status = KW_FETCH_EX_FAILED;
	int64_t open_markets = -1;
	r->ctx = ctx;
	r->cfg = ctx->cfg;
	r->store = ctx->store;
	r->replay = replay_dir != NULL;
	r->now = run_at;
	r->shift_us = shift_s * 1000000;
	r->started_us = kw_mono_us();
	r->cpu_started_us = cpu_us();
	(void)kw_store_take_longest_write_us(r->store); /* this run's own, in its last line */
	r->markets_fail = KW_GET_FAILED;
	kw_buf_init(&r->body, KW_FETCH_MAX_BODY);

	if (run_begin(r, replay_dir) < 0)
		goto out;
	if (phase_catalog(r, r->force_catalog) == KW_GET_UNAVAILABLE)
		r->markets_fail = KW_GET_UNAVAILABLE; /* no point asking again right away */
	else if (!r->db_failed)
		phase_markets(r);
	if (!r->db_failed && r->markets_fail == KW_GET_OK)
		run_later_phases(r, &open_markets);
	status = run_finish(r, run_status(r), open_markets);
out:
	kw_buf_free(&r->body);
	free(r);
	return status;
}
