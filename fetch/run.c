/*
 * run.c — one kw-fetch run, from claiming refresh requests to the finished fetch_runs row.
 *
 * Phases, in order (kalshi-api.md sections in brackets):
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
 * Every page is stored whole or not at all: live, one transaction per page; in a replay,
 * consecutive pages share a transaction (bounded in records and time), each inside its own
 * savepoint. Either way a kill -9 leaves whole pages, and the next run redoes the rest
 * (upserts and trade de-duplication make that idempotent). A failed markets phase fails the run
 * (stored data stays as it was); a failure in a later phase makes it partial.
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "kalshi.h"
#include "log.h"
#include "store_fetch.h"
#include "whale.h"

#define MAX_PAGES 5000		/* per listing and run: 5M markets or trades */
#define TRADE_OVERLAP_S 600	/* re-read this much before the watermark: late trades */
#define CATALOG_MAX_AGE_S 86400 /* series and events are refreshed daily */
#define LOOKUPS_PER_RUN 100	/* unknown events / series fetched one by one per run */
#define WHALE_LOOKBACK_S 3600	/* whale trades this recent put a market on the watch list */
#define WHALE_WATCH_EXTRA 50	/* at most this many such markets */
#define BOOK_FAILS_MAX 3	/* consecutive order-book failures that end the phase */
#define PRUNE_BATCH 5000	/* rows per retention transaction */
#define PRUNE_BATCHES 200	/* transactions per table and run */
#define SKIP_LOG_MAX 20		/* skipped records logged one by one per run */
#define SKIP_REASONS_MAX 32
#define BATCH_ROWS 20000 /* replay: rows per transaction, at most */
#define BATCH_US 250000	 /* replay: and at most this long a transaction */

static const char STATE_WATERMARK[] = "trades_watermark_us";
static const char STATE_CATALOG[] = "catalog_refreshed_at";

struct tally {
	int64_t markets, trades, skipped, trade_max_us;
	int catalog_changed;
	struct {
		const char *reason;
		int64_t n;
	} skips[SKIP_REASONS_MAX];
	int nskips;
};

struct run {
	struct kw_fetch_ctx *ctx;
	const struct kw_config *cfg;
	struct kw_store *store;
	int64_t id, now, shift_us, started_us;
	int64_t cpu_started_us, cpu_detect_us; /* this process's CPU time: start, detection */
	int replay;
	int64_t pages, books;
	int64_t trade_wm_old, trade_min_ts;
	struct tally n;		  /* what stored pages added; a rolled-back page restores it */
	enum kw_get markets_fail; /* KW_GET_OK when the markets phase completed */
	int markets_listed;	  /* at least one markets page was read (a replay may have none) */
	int partial;		  /* a later phase failed */
	int db_failed;
	char error[256];
	struct kw_buf body;
};

static void run_error(struct run *r, const char *fmt, ...) KW_PRINTF(2, 3);
static void run_error(struct run *r, const char *fmt, ...)
{
	if (r->error[0])
		return; /* keep the first cause: later ones usually follow from it */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

static void skip(struct run *r, const char *what, const char *id, const char *reason)
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
	if (r->n.nskips < SKIP_REASONS_MAX) {
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

static int stopped(struct run *r)
{
	return r->ctx->stop && *r->ctx->stop;
}

/* GET and parse one body; the root is the caller's to put. */
static enum kw_get get_json(struct run *r, enum kw_fetch_kind kind, const char *path,
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

static int tx_begin(struct run *r)
{
	if (kw_store_begin(r->store) < 0) {
		r->db_failed = 1;
		run_error(r, "database: cannot begin a transaction");
		return -1;
	}
	return 0;
}

static int tx_commit(struct run *r)
{
	if (kw_store_commit(r->store) < 0) {
		kw_store_rollback(r->store);
		r->db_failed = 1;
		run_error(r, "database: cannot commit");
		return -1;
	}
	return 0;
}

static int db_fail(struct run *r, const char *what)
{
	kw_store_rollback(r->store);
	r->db_failed = 1;
	run_error(r, "database: %s failed", what);
	return -1;
}

/* ---- paginated listings ------------------------------------------------------------------- */

struct pager {
	const char *name; /* for messages: "markets" */
	enum kw_fetch_kind kind;
	const char *path, *query, *array_key;
	int (*item)(struct run *r, json_object *o); /* -1 only on a database failure */
	int (*page_end)(struct run *r, int last);   /* inside the page transaction */
};

struct page_ctx {
	struct run *r;
	int (*item)(struct run *r, json_object *o);
	int64_t items; /* elements seen, for the size of a batched transaction */
};

static int page_item(void *arg, json_object *o)
{
	struct page_ctx *pc = arg;
	pc->items++;
	return pc->item(pc->r, o);
}

/* Walk every page; KW_GET_OK when the listing was read to its end, else what stopped it. */
static enum kw_get paginate(struct run *r, const struct pager *p)
{
	char *cursor = kw_xmalloc(KW_KALSHI_CURSOR_MAX), *next = kw_xmalloc(KW_KALSHI_CURSOR_MAX);
	enum kw_get res = KW_GET_OK;
	struct page_ctx pc = { r, p->item, 0 };
	struct kw_buf query;
	struct tally tx_before = r->n;
	int in_tx = 0;
	int64_t tx_items = 0, tx_started_us = 0;
	kw_buf_init(&query, 0);
	cursor[0] = '\0';
	for (int page = 0;; page++) {
		char err[160];
		if (stopped(r)) {
			res = KW_GET_STOPPED;
			run_error(r, "interrupted by a signal while reading %s", p->name);
			goto out;
		}
		if (page == MAX_PAGES) {
			res = KW_GET_FAILED;
			kw_error("kalshi: %s: more than %d pages; stopping", p->name, MAX_PAGES);
			run_error(r, "%s: more than %d pages", p->name, MAX_PAGES);
			goto out;
		}
		kw_buf_reset(&query);
		if (kw_buf_puts(&query, p->query ? p->query : "") < 0 ||
		    (cursor[0] && (kw_buf_puts(&query, query.len ? "&cursor=" : "cursor=") < 0 ||
				   kw_client_escape(cursor, &query) < 0)))
			abort(); /* unbounded buffer: cannot fail */
		res = kw_client_get(r->ctx->client, p->kind, p->path, query.len ? query.data : NULL,
				    NULL, &r->body);
		if (res == KW_GET_NOT_FOUND && r->replay) {
			res = KW_GET_OK; /* no more saved pages */
			goto out;
		}
		if (res != KW_GET_OK) {
			if (res == KW_GET_NOT_FOUND)
				res = KW_GET_FAILED;
			run_error(r, "%s: page %d could not be fetched (%s)", p->name, page + 1,
				  res == KW_GET_UNAVAILABLE ? "Kalshi unavailable"
				  : res == KW_GET_STOPPED   ? "interrupted"
							    : "bad response");
			goto out;
		}
		/* Each page is stored whole or not at all: parsed and stored element by
		 * element inside its own savepoint, released whole, or rolled back whole if the
		 * body turns out to be broken. Pages read from disk (replay) share a transaction
		 * up to BATCH_ROWS rows or BATCH_US: a page rewrites the same index pages as its
		 * neighbours, and one commit writes them once. Live pages commit one by one, so
		 * the write lock is never held across a network wait. */
		if (!in_tx) {
			if (tx_begin(r) < 0) {
				res = KW_GET_FAILED;
				goto out;
			}
			in_tx = 1;
			tx_before = r->n;
			tx_items = pc.items;
			tx_started_us = kw_mono_us();
		}
		if (kw_db_exec(kw_store_db(r->store), "SAVEPOINT kw_page") < 0) {
			db_fail(r, "starting a page");
			r->n = tx_before;
			in_tx = 0;
			res = KW_GET_FAILED;
			goto out;
		}
		struct tally before = r->n;
		int rc = kw_kalshi_page_each(r->body.data, r->body.len, p->array_key, page_item,
					     &pc, next, err, sizeof(err));
		if (rc == -1) {
			kw_error("kalshi: GET %s page %d: %s", p->path, page + 1, err);
			run_error(r, "%s: page %d: %s", p->name, page + 1, err);
		}
		int last = next[0] == '\0';
		if (r->db_failed) { /* db_fail() rolled the whole transaction back */
			r->n = tx_before;
			in_tx = 0;
			res = KW_GET_FAILED;
			goto out;
		}
		if (rc != 0 || (p->page_end && p->page_end(r, last) < 0)) {
			r->n = before; /* nothing of this page was stored */
			res = KW_GET_FAILED;
			if (r->db_failed) {
				r->n = tx_before;
				in_tx = 0;
			} else if (kw_db_exec(kw_store_db(r->store),
					      "ROLLBACK TO kw_page; RELEASE kw_page") < 0) {
				db_fail(r, "discarding a broken page");
				r->n = tx_before;
				in_tx = 0;
			}
			goto out;
		}
		if (kw_db_exec(kw_store_db(r->store), "RELEASE kw_page") < 0) {
			db_fail(r, "storing a page");
			r->n = tx_before;
			in_tx = 0;
			res = KW_GET_FAILED;
			goto out;
		}
		r->pages++;
		if (last || !r->replay || pc.items - tx_items >= BATCH_ROWS ||
		    kw_mono_us() - tx_started_us >= BATCH_US) {
			in_tx = 0;
			if (tx_commit(r) < 0) {
				r->n = tx_before;
				res = KW_GET_FAILED;
				goto out;
			}
		}
		if (last)
			goto out;
		/* A cursor that does not move would loop forever (live only: saved pages may
		 * legitimately repeat a made-up cursor). */
		if (!r->replay && !strcmp(cursor, next)) {
			kw_error("kalshi: GET %s: cursor did not advance; stopping", p->path);
			run_error(r, "%s: cursor did not advance", p->name);
			res = KW_GET_FAILED;
			goto out;
		}
		char *t = cursor;
		cursor = next;
		next = t;
	}
out:
	/* Pages already released into the open transaction are whole: keep them. */
	if (in_tx && !r->db_failed && tx_commit(r) < 0)
		r->n = tx_before;
	kw_store_rollback(r->store); /* no-op unless the transaction failed */
	free(cursor);
	free(next);
	kw_buf_free(&query);
	return res;
}

static int market_item(struct run *r, json_object *o)
{
	struct kw_kalshi_market m;
	const char *reason;
	if (kw_kalshi_market_parse(o, &m, &reason) < 0) {
		skip(r, "market", item_id(o, "ticker"), reason);
		return 0;
	}
	if (kw_store_fetch_market(r->store, &m, r->now, r->id) < 0)
		return db_fail(r, "storing a market");
	r->n.markets++;
	return 0;
}

static int is_combo(const char *ticker)
{
	return !strncmp(ticker, "KXMVE", 5);
}

static int trade_item(struct run *r, json_object *o)
{
	struct kw_kalshi_trade t;
	const char *reason;
	int inserted = 0;
	if (kw_kalshi_trade_parse(o, &t, &reason) < 0) {
		skip(r, "trade", item_id(o, "trade_id"), reason);
		return 0;
	}
	if (!r->cfg->kalshi_include_combos && is_combo(t.ticker)) {
		skip(r, "trade", t.trade_id, "combo_market");
		return 0;
	}
	if (kw_store_fetch_trade(r->store, &t, r->shift_us, &inserted) < 0)
		return db_fail(r, "storing a trade");
	r->n.trades += inserted;
	if (t.created_us > r->n.trade_max_us)
		r->n.trade_max_us = t.created_us;
	return 0;
}

/* The last page's transaction also moves the watermark: a sweep killed before it never
 * advances, so the next run starts again from the old one and trade_id absorbs the overlap. */
static int trade_page_end(struct run *r, int last)
{
	if (!last || r->replay)
		return 0;
	int64_t wm = r->trade_wm_old;
	if (r->n.trade_max_us > wm)
		wm = r->n.trade_max_us;
	if (wm < r->trade_min_ts * 1000000)
		wm = r->trade_min_ts * 1000000;
	if (kw_store_fetch_state_set(r->store, STATE_WATERMARK, wm) < 0)
		return db_fail(r, "saving the trade watermark");
	return 0;
}

static int event_item(struct run *r, json_object *o)
{
	struct kw_kalshi_event e;
	const char *reason;
	if (kw_kalshi_event_parse(o, &e, &reason) < 0) {
		skip(r, "event", item_id(o, "event_ticker"), reason);
		return 0;
	}
	if (kw_store_fetch_event(r->store, &e, r->now) < 0)
		return db_fail(r, "storing an event");
	r->n.catalog_changed = 1;
	return 0;
}

static int series_item(struct run *r, json_object *o)
{
	struct kw_kalshi_series s;
	const char *reason;
	if (kw_kalshi_series_parse(o, &s, &reason) < 0) {
		skip(r, "series", item_id(o, "ticker"), reason);
		return 0;
	}
	if (kw_store_fetch_series(r->store, &s, r->now) < 0)
		return db_fail(r, "storing a series");
	r->n.catalog_changed = 1;
	return 0;
}

/* ---- phases ------------------------------------------------------------------------------- */

/* Returns KW_GET_UNAVAILABLE when Kalshi could not be reached at all (the run stops there). */
static enum kw_get phase_catalog(struct run *r, int force)
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
	static const struct pager series = { "series", KW_KIND_SERIES, "/series", NULL,
					     "series", series_item,    NULL };
	static const struct pager events = { "events",	KW_KIND_EVENTS,
					     "/events", "status=open&limit=200",
					     "events",	event_item,
					     NULL };
	enum kw_get res = paginate(r, &series);
	if (res == KW_GET_OK)
		res = paginate(r, &events);
	if (res != KW_GET_OK) {
		r->partial = 1;
		return res;
	}
	if (r->replay || tx_begin(r) < 0)
		return KW_GET_OK;
	if (kw_store_fetch_state_set(r->store, STATE_CATALOG, r->now) < 0)
		db_fail(r, "saving the catalog time");
	else
		(void)tx_commit(r);
	return KW_GET_OK;
}

static void phase_markets(struct run *r)
{
	const char *q = r->cfg->kalshi_include_combos ? "status=open&limit=1000"
						      : "status=open&limit=1000&mve_filter=exclude";
	struct pager p = {
		"markets", KW_KIND_MARKETS, "/markets", q, "markets", market_item, NULL
	};
	int64_t pages = r->pages;
	r->markets_fail = paginate(r, &p);
	r->markets_listed = r->pages > pages;
}

/* GET one object ({"event":{...}} or {"series":{...}}) per unknown ticker and store it. */
static void lookup_each(struct run *r, const struct kw_strlist *l, enum kw_fetch_kind kind,
			const char *prefix, const char *member,
			int (*item)(struct run *, json_object *))
{
	struct kw_buf path;
	kw_buf_init(&path, 0);
	for (size_t i = 0; i < l->n && !stopped(r) && !r->db_failed; i++) {
		json_object *root = NULL, *obj;
		kw_buf_reset(&path);
		if (kw_buf_puts(&path, prefix) < 0 || kw_client_escape(l->v[i], &path) < 0)
			abort();
		enum kw_get res = get_json(r, kind, path.data, NULL, l->v[i], &root);
		if (res == KW_GET_NOT_FOUND) {
			if (!r->replay)
				skip(r, member, l->v[i], "not_found");
			continue;
		}
		if (res != KW_GET_OK) {
			r->partial = 1;
			run_error(r, "%s %s could not be fetched", member, l->v[i]);
			json_object_put(root);
			break;
		}
		r->pages++;
		if (!json_object_object_get_ex(root, member, &obj) || !obj) {
			skip(r, member, l->v[i], "missing_object");
		} else if (tx_begin(r) == 0) {
			if (item(r, obj) == 0)
				(void)tx_commit(r);
		}
		json_object_put(root);
	}
	kw_buf_free(&path);
}

static void phase_links(struct run *r)
{
	struct kw_strlist l = { 0 };
	if (kw_store_fetch_unknown_events(r->store, LOOKUPS_PER_RUN, &l) < 0) {
		r->db_failed = 1;
		return;
	}
	lookup_each(r, &l, KW_KIND_EVENT, "/events/", "event", event_item);
	kw_strlist_free(&l);
	if (kw_store_fetch_unknown_series(r->store, LOOKUPS_PER_RUN, &l) < 0) {
		r->db_failed = 1;
		return;
	}
	lookup_each(r, &l, KW_KIND_SERIES, "/series/", "series", series_item);
	kw_strlist_free(&l);
	if (!r->n.markets && !r->n.catalog_changed)
		return; /* nothing new to link: keeps an idle run cheap */
	int64_t changed = 0;
	if (tx_begin(r) < 0)
		return;
	if (kw_store_fetch_link_categories(r->store, &changed) < 0) {
		db_fail(r, "linking categories");
		return;
	}
	if (tx_commit(r) == 0 && changed)
		kw_info("linked %lld markets to their series and category", (long long)changed);
}

static void phase_trades(struct run *r)
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
	struct pager p = { "trades", KW_KIND_TRADES, "/markets/trades", q,
			   "trades", trade_item,     trade_page_end };
	if (paginate(r, &p) != KW_GET_OK)
		r->partial = 1;
}

static void phase_books(struct run *r)
{
	struct kw_strlist l = { 0 };
	struct kw_buf path;
	int fails = 0;
	int64_t whale_micros = r->cfg->whale_min_notional_usd * KW_MICROS_PER_DOLLAR;
	if (kw_store_fetch_watchlist(r->store, r->cfg->orderbook_watch, whale_micros,
				     (r->now - WHALE_LOOKBACK_S) * 1000000, WHALE_WATCH_EXTRA,
				     &l) < 0) {
		r->db_failed = 1;
		return;
	}
	kw_buf_init(&path, 0);
	for (size_t i = 0; i < l.n && !stopped(r) && !r->db_failed; i++) {
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
				skip(r, "order book", l.v[i], "not_found");
			continue;
		}
		if (res != KW_GET_OK) {
			if (++fails >= BOOK_FAILS_MAX || res == KW_GET_STOPPED) {
				r->partial = 1;
				run_error(r, "order books: %d failures in a row; phase stopped",
					  fails);
				break;
			}
			continue;
		}
		fails = 0;
		r->pages++;
		if (kw_kalshi_book_parse(root, &b, &reason) < 0) {
			skip(r, "order book", l.v[i], reason);
		} else if (tx_begin(r) == 0) {
			if (kw_store_fetch_book(r->store, l.v[i], r->now, r->id, &b) < 0)
				db_fail(r, "storing an order book");
			else if (tx_commit(r) == 0)
				r->books++;
		}
		json_object_put(root);
	}
	kw_buf_free(&path);
	kw_strlist_free(&l);
}

static void phase_retention(struct run *r)
{
	int64_t deleted = 0;
	int64_t cutoff = r->now - r->cfg->retention_days * 86400;
	if (kw_store_fetch_prune(r->store, cutoff, PRUNE_BATCH, PRUNE_BATCHES, &deleted) < 0) {
		r->db_failed = 1;
		run_error(r, "database: pruning failed");
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

static char *skips_json(const struct run *r)
{
	json_object *o = json_object_new_object();
	for (int i = 0; i < r->n.nskips; i++)
		json_object_object_add(o, r->n.skips[i].reason,
				       json_object_new_int64(r->n.skips[i].n));
	char *s = kw_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

int kw_fetch_run(struct kw_fetch_ctx *ctx, const char *replay_dir, int64_t run_at, int64_t shift_s)
{
	struct run *r = kw_xcalloc(1, sizeof(*r));
	int status = KW_FETCH_EX_FAILED, claimed = 0, force = 0;
	int64_t open_markets = -1;
	char *skips = NULL;
	r->ctx = ctx;
	r->cfg = ctx->cfg;
	r->store = ctx->store;
	r->replay = replay_dir != NULL;
	r->now = run_at;
	r->shift_us = shift_s * 1000000;
	r->started_us = kw_mono_us();
	r->cpu_started_us = cpu_us();
	r->markets_fail = KW_GET_FAILED;
	kw_buf_init(&r->body, KW_FETCH_MAX_BODY);

	if (kw_client_begin_run(ctx->client, replay_dir, run_at) < 0) {
		kw_error("run: cannot start (recording directory)");
		goto out;
	}
	if (tx_begin(r) < 0)
		goto out;
	if (kw_store_fetch_run_begin(r->store, kw_now_s(), &r->id) < 0 ||
	    kw_store_fetch_claim_refresh(r->store, r->id, &claimed, &force) < 0) {
		db_fail(r, "starting the run");
		goto out;
	}
	if (tx_commit(r) < 0)
		goto out;
	kw_info("run %lld started%s%s%s", (long long)r->id, replay_dir ? ": replaying " : "",
		replay_dir ? replay_dir : "", claimed ? " (asked for by a refresh request)" : "");

	if (phase_catalog(r, force) == KW_GET_UNAVAILABLE)
		r->markets_fail = KW_GET_UNAVAILABLE; /* no point asking again right away */
	else if (!r->db_failed)
		phase_markets(r);
	if (!r->db_failed && r->markets_fail == KW_GET_OK) {
		phase_links(r);
		int64_t closed = 0;
		if (!r->db_failed && tx_begin(r) == 0) {
			/* A replay without a markets listing says nothing about what is open. */
			if ((r->markets_listed &&
			     kw_store_fetch_close_unseen(r->store, r->now, &closed) < 0) ||
			    kw_store_fetch_count_open(r->store, r->markets_listed ? r->now : 0,
						      &open_markets) < 0)
				db_fail(r, "counting open markets");
			else
				(void)tx_commit(r);
		}
		if (closed)
			kw_info("%lld markets left the open listing", (long long)closed);
		if (!r->db_failed && !stopped(r))
			phase_trades(r);
		if (!r->db_failed && !stopped(r))
			phase_books(r);
		/* market_activity follows the trades just stored (the markets lists read it);
		 * an interrupted run leaves it for the next, which catches up. */
		if (!r->db_failed && !stopped(r)) {
			int64_t t0 = kw_mono_us();
			if (kw_store_fetch_activity(r->store, r->now, 0) < 0)
				db_fail(r, "updating market activity");
			else
				kw_debug("market activity updated in %lld us",
					 (long long)(kw_mono_us() - t0));
		}
		/*
		 * KW_DETECTION_HOOK — ingest is complete and committed; the run is not yet
		 * marked finished. Whale detection (lib/whale.h, kw_detect_run) is called here,
		 * once per run, with r->store, r->cfg, r->id and r->now (the run's clock, shifted
		 * to the present for a replayed sample).
		 */
		if (!r->db_failed && !stopped(r)) {
			struct kw_detect_stats ds;
			int64_t cpu0 = cpu_us();
			if (kw_detect_run(r->store, r->cfg, r->now, &ds) < 0)
				db_fail(r, "whale detection");
			r->cpu_detect_us = cpu_us() - cpu0;
		}
		if (!r->db_failed)
			phase_retention(r);
	}

	if (r->db_failed)
		status = KW_FETCH_EX_FAILED;
	else if (r->markets_fail == KW_GET_UNAVAILABLE)
		status = KW_FETCH_EX_TEMPFAIL;
	else if (r->markets_fail != KW_GET_OK || stopped(r))
		status = KW_FETCH_EX_FAILED;
	else if (r->partial)
		status = KW_FETCH_EX_PARTIAL;
	else
		status = KW_FETCH_EX_OK;
	if (stopped(r))
		run_error(r, "interrupted by a signal");

	skips = skips_json(r);
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
		.http_errors = kw_client_http_errors(ctx->client),
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
out:
	free(skips);
	kw_buf_free(&r->body);
	free(r);
	return status;
}
