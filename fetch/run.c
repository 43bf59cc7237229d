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
 * Every page is stored whole or not at all: live, one transaction per page; in a replay,
 * consecutive pages share a transaction (bounded in records and time), each inside its own
 * savepoint. Either way a kill -9 leaves whole pages, and the next run redoes the rest
 * (upserts and trade de-duplication make that idempotent). A failed markets phase fails the run
 * (stored data stays as it was); a failure in a later phase makes it partial.
 *
 * Threads: the paginated listings (series, events, markets, trades) use the machine's second
 * core. A reader thread fetches page k+1 (HTTP with its rate cap and backoff, or a replay
 * file) and parses it into records while this thread stores page k; see "paginated listings"
 * below. SQLite, the tally, the log of skips and the run's outcome stay on this thread; the
 * client is used by the reader alone while a listing runs. Everything else is one thread.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
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
/* Replay: rows and time per transaction, at most. A commit writes every page the batch
 * touched, and a bigger batch touches the hot pages (the newest hour of trades_hour_ticker,
 * the ends of the time-ordered indexes) fewer times per row: 100,000 rows ingested 1M trades
 * ~10-15% faster than 20,000 (bench-fetch). But every other writer (kw-admin, kw-ws's report,
 * the API workers' write-behind threads) waits for the whole batch: a batch ends once it has
 * run KW_STORE_WRITE_STEP_US, which bounds that wait; readers never wait on it (WAL). */
#define BATCH_ROWS 100000
#define BATCH_US KW_STORE_WRITE_STEP_US

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
	int market_as_it_was;	  /* the last market was stored unchanged (kw_store_fetch_market) */
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

/* ---- records ------------------------------------------------------------------------------ */

struct pager {
	const char *name;   /* for messages: "markets" */
	const char *what;   /* one record, for skip lines: "market" */
	const char *id_key; /* the member that names a record, for skip lines */
	enum kw_fetch_kind kind;
	const char *path, *query, *array_key;
	enum kw_kalshi_kind record; /* what the elements are */
	const size_t *strs; /* offsets of the record's string members, copied into the page */
	size_t nstrs;
	int (*store)(struct run *r,
		     const union kw_kalshi_record *u); /* -1 only on a database failure */
	int (*page_end)(struct run *r, int last);      /* inside the page transaction */
};

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

static int store_market(struct run *r, const union kw_kalshi_record *u)
{
	if (kw_store_fetch_market(r->store, &u->market, r->now, r->id, &r->market_as_it_was) < 0)
		return db_fail(r, "storing a market");
	r->n.markets++;
	return 0;
}

static int is_combo(const char *ticker)
{
	return !strncmp(ticker, "KXMVE", 5);
}

static int store_trade(struct run *r, const union kw_kalshi_record *u)
{
	const struct kw_kalshi_trade *t = &u->trade;
	int inserted = 0;
	if (!r->cfg->kalshi_include_combos && is_combo(t->ticker)) {
		skip(r, "trade", t->trade_id, "combo_market");
		return 0;
	}
	if (kw_store_fetch_trade(r->store, t, r->shift_us, &inserted) < 0)
		return db_fail(r, "storing a trade");
	r->n.trades += inserted;
	if (t->created_us > r->n.trade_max_us)
		r->n.trade_max_us = t->created_us;
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

static int store_event(struct run *r, const union kw_kalshi_record *u)
{
	if (kw_store_fetch_event(r->store, &u->event, r->now) < 0)
		return db_fail(r, "storing an event");
	r->n.catalog_changed = 1;
	return 0;
}

static int store_series(struct run *r, const union kw_kalshi_record *u)
{
	if (kw_store_fetch_series(r->store, &u->series, r->now) < 0)
		return db_fail(r, "storing a series");
	r->n.catalog_changed = 1;
	return 0;
}

static const struct pager series_pager = { .name = "series",
					   .what = "series",
					   .id_key = "ticker",
					   .kind = KW_KIND_SERIES,
					   .path = "/series",
					   .array_key = "series",
					   .record = KW_KALSHI_SERIES,
					   .strs = series_strs,
					   .nstrs = sizeof(series_strs) / sizeof(series_strs[0]),
					   .store = store_series };
static const struct pager events_pager = { .name = "events",
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
static int store_one(struct run *r, const struct pager *p, json_object *o)
{
	union kw_kalshi_record u;
	const char *reason;
	if (kw_kalshi_record_parse(p->record, o, &u, &reason) < 0) {
		skip(r, p->what, item_id(o, p->id_key), reason);
		return 0;
	}
	return p->store(r, &u);
}

/* ---- paginated listings: a reader thread one page ahead of the writer ---------------------- */

/*
 * Two threads share a listing. The reader (a thread of its own) fetches page k+1 with the
 * client and parses it into records while the writer (the calling thread, the only one that
 * touches SQLite) stores page k. Two page buffers circulate between them, so at most one page
 * is parsed ahead, whatever the listing's length: memory is one body plus two parsed pages.
 * The reader never decides anything about storage: it hands over pages and, when it stops,
 * why (end of listing, fetch failure, MAX_PAGES, a cursor that did not move, a signal); the
 * writer turns that into the run's outcome, in page order, as a single loop did before. When
 * the writer gives up first (database failure, broken page, signal) it cancels the reader,
 * which ends its request or wait at once (kw_client_set_cancel), and joins it.
 */

#define ARENA_CHUNK (256u << 10)
#define SKIP_ID_MAX 80 /* a skipped record's id is kept only for the log line */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};

struct rec {
	const char *reason; /* NULL: parsed; else why it is skipped (static) */
	const char *id;	    /* skipped: the record's name for the log line, or NULL */
	union kw_kalshi_record u;
};

struct page {
	struct rec *v;
	size_t n, cap;
	struct chunk *arena; /* every string of v[], newest chunk first */
	int index;	     /* 0-based */
	int rc;		     /* kw_kalshi_page_records': 0, or -1 (err) when the body is broken */
	char err[160];
	char cursor[KW_KALSHI_CURSOR_MAX]; /* the next cursor; "" on the last page */
};

enum pipe_end {
	END_NONE,    /* still reading */
	END_PAGES,   /* handed over its last page (or a broken one) */
	END_FETCH,   /* page end_page could not be fetched: end_res */
	END_MAX,     /* MAX_PAGES read, the listing goes on */
	END_STUCK,   /* the cursor did not advance */
	END_STOPPED, /* a stop signal, or the writer cancelled */
};

struct pipe {
	struct run *r;
	const struct pager *p;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct page pages[2];
	struct page *ready[2], *spare[2]; /* ready: FIFO to the writer; spare: free buffers */
	int nready, nspare;
	enum pipe_end end;
	enum kw_get end_res;
	int end_page;
	atomic_int cancel;
};

static char *arena_dup(struct page *pg, const char *s, size_t n)
{
	struct chunk *c = pg->arena;
	if (!c || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;
		c = kw_xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = pg->arena;
		pg->arena = c;
	}
	char *d = c->data + c->used;
	memcpy(d, s, n);
	d[n] = '\0';
	c->used += n + 1;
	return d;
}

/* Empty a page for reuse, keeping one chunk and the record array. */
static void page_reset(struct page *pg)
{
	struct chunk *c = pg->arena;
	while (c && c->next) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	if (c)
		c->used = 0;
	pg->arena = c;
	pg->n = 0;
	pg->rc = 0;
	pg->err[0] = '\0';
	pg->cursor[0] = '\0';
}

static void page_free(struct page *pg)
{
	page_reset(pg);
	free(pg->arena);
	free(pg->v);
}

struct parse_ctx {
	struct page *pg;
	const struct pager *p;
};

/* Reader: one element into the page's next record, its strings copied into the page. */
static int on_record(void *arg, const union kw_kalshi_record *rec, const char *reason,
		     const char *id)
{
	struct parse_ctx *pc = arg;
	struct page *pg = pc->pg;
	if (pg->n == pg->cap) {
		pg->cap = pg->cap ? 2 * pg->cap : 1024;
		pg->v = kw_xrealloc(pg->v, pg->cap * sizeof(*pg->v));
	}
	struct rec *x = &pg->v[pg->n++];
	x->reason = reason;
	x->id = NULL;
	if (reason) {
		if (id) {
			size_t n = strlen(id);
			x->id = arena_dup(pg, id, n < SKIP_ID_MAX ? n : SKIP_ID_MAX);
		}
		return 0;
	}
	x->u = *rec;
	for (size_t i = 0; i < pc->p->nstrs; i++) {
		const char **f = (const char **)(void *)((char *)&x->u + pc->p->strs[i]);
		if (*f)
			*f = arena_dup(pg, *f, strlen(*f));
	}
	return 0;
}

static int cancelled(struct pipe *pl)
{
	return atomic_load(&pl->cancel) || stopped(pl->r);
}

/* Reader: wait for a free page buffer; NULL when cancelled. */
static struct page *pipe_spare(struct pipe *pl)
{
	struct page *pg = NULL;
	pthread_mutex_lock(&pl->mu);
	while (!pl->nspare && !atomic_load(&pl->cancel))
		pthread_cond_wait(&pl->cv, &pl->mu);
	if (pl->nspare)
		pg = pl->spare[--pl->nspare];
	pthread_mutex_unlock(&pl->mu);
	return pg;
}

static void pipe_post(struct pipe *pl, struct page *pg, enum pipe_end end, enum kw_get res,
		      int page)
{
	pthread_mutex_lock(&pl->mu);
	if (pg)
		pl->ready[pl->nready++] = pg;
	if (end != END_NONE) {
		pl->end = end;
		pl->end_res = res;
		pl->end_page = page;
	}
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

static void *reader_main(void *arg)
{
	struct pipe *pl = arg;
	struct run *r = pl->r;
	const struct pager *p = pl->p;
	char *cursor = kw_xmalloc(KW_KALSHI_CURSOR_MAX);
	struct kw_buf query;
	kw_buf_init(&query, 0);
	cursor[0] = '\0';
	for (int page = 0;; page++) {
		if (cancelled(pl)) {
			pipe_post(pl, NULL, END_STOPPED, KW_GET_STOPPED, page);
			break;
		}
		if (page == MAX_PAGES) {
			pipe_post(pl, NULL, END_MAX, KW_GET_FAILED, page);
			break;
		}
		kw_buf_reset(&query);
		if (kw_buf_puts(&query, p->query ? p->query : "") < 0 ||
		    (cursor[0] && (kw_buf_puts(&query, query.len ? "&cursor=" : "cursor=") < 0 ||
				   kw_client_escape(cursor, &query) < 0)))
			abort(); /* unbounded buffer: cannot fail */
		struct page *pg = pipe_spare(pl);
		if (!pg) {
			pipe_post(pl, NULL, END_STOPPED, KW_GET_STOPPED, page);
			break;
		}
		enum kw_get res = kw_client_get(r->ctx->client, p->kind, p->path,
						query.len ? query.data : NULL, NULL, &r->body);
		if (res != KW_GET_OK) {
			pthread_mutex_lock(&pl->mu);
			pl->spare[pl->nspare++] = pg;
			pthread_mutex_unlock(&pl->mu);
			pipe_post(pl, NULL, END_FETCH, res, page);
			break;
		}
		struct parse_ctx pc = { pg, p };
		pg->index = page;
		pg->rc = kw_kalshi_page_records(r->body.data, r->body.len, p->array_key, p->record,
						0, on_record, &pc, pg->cursor, pg->err,
						sizeof(pg->err));
		int last = pg->rc != 0 || !pg->cursor[0];
		/* A cursor that does not move would loop forever (live only: saved pages may
		 * legitimately repeat a made-up cursor). */
		int stuck = !last && !r->replay && !strcmp(cursor, pg->cursor);
		if (!last && !stuck)
			memcpy(cursor, pg->cursor, strlen(pg->cursor) + 1);
		pipe_post(pl, pg, last ? END_PAGES : stuck ? END_STUCK : END_NONE, KW_GET_OK, page);
		if (last || stuck)
			break;
	}
	free(cursor);
	kw_buf_free(&query);
	return NULL;
}

/* Writer: the next page in order, or NULL once the reader has stopped (pl->end says why). */
static struct page *pipe_next(struct pipe *pl)
{
	struct page *pg = NULL;
	pthread_mutex_lock(&pl->mu);
	while (!pl->nready && pl->end == END_NONE)
		pthread_cond_wait(&pl->cv, &pl->mu);
	if (pl->nready) {
		pg = pl->ready[0];
		pl->ready[0] = pl->ready[1];
		pl->nready--;
	}
	pthread_mutex_unlock(&pl->mu);
	return pg;
}

static void pipe_release(struct pipe *pl, struct page *pg)
{
	page_reset(pg);
	pthread_mutex_lock(&pl->mu);
	pl->spare[pl->nspare++] = pg;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

/* Start the reader with every signal blocked, so signals keep going to the writer's thread
 * (whose sleeps they end, as before); the reader sees the stop flag by polling it. */
static int pipe_start(struct pipe *pl, struct run *r, const struct pager *p)
{
	sigset_t all, old;
	memset(pl, 0, sizeof(*pl));
	pl->r = r;
	pl->p = p;
	atomic_init(&pl->cancel, 0);
	pl->spare[0] = &pl->pages[0];
	pl->spare[1] = &pl->pages[1];
	pl->nspare = 2;
	if (pthread_mutex_init(&pl->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&pl->cv, NULL) != 0) {
		pthread_mutex_destroy(&pl->mu);
		return -1;
	}
	kw_client_set_cancel(r->ctx->client, &pl->cancel);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&pl->thread, NULL, reader_main, pl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		kw_client_set_cancel(r->ctx->client, NULL);
		pthread_cond_destroy(&pl->cv);
		pthread_mutex_destroy(&pl->mu);
		return -1;
	}
	return 0;
}

static void pipe_stop(struct pipe *pl)
{
	pthread_mutex_lock(&pl->mu);
	atomic_store(&pl->cancel, 1);
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	pthread_join(pl->thread, NULL);
	kw_client_set_cancel(pl->r->ctx->client, NULL);
	pthread_cond_destroy(&pl->cv);
	pthread_mutex_destroy(&pl->mu);
	page_free(&pl->pages[0]);
	page_free(&pl->pages[1]);
}

/* Why the reader stopped, as the run's result (pages it handed over are already stored). */
static enum kw_get reader_end(struct run *r, const struct pager *p, const struct pipe *pl)
{
	enum kw_get res = pl->end_res;
	switch (pl->end) {
	case END_STOPPED:
		run_error(r, "interrupted by a signal while reading %s", p->name);
		return KW_GET_STOPPED;
	case END_MAX:
		kw_error("kalshi: %s: more than %d pages; stopping", p->name, MAX_PAGES);
		run_error(r, "%s: more than %d pages", p->name, MAX_PAGES);
		return KW_GET_FAILED;
	case END_STUCK:
		kw_error("kalshi: GET %s: cursor did not advance; stopping", p->path);
		run_error(r, "%s: cursor did not advance", p->name);
		return KW_GET_FAILED;
	case END_FETCH:
		if (res == KW_GET_NOT_FOUND && r->replay)
			return KW_GET_OK; /* no more saved pages */
		if (res == KW_GET_NOT_FOUND)
			res = KW_GET_FAILED;
		run_error(r, "%s: page %d could not be fetched (%s)", p->name, pl->end_page + 1,
			  res == KW_GET_UNAVAILABLE ? "Kalshi unavailable"
			  : res == KW_GET_STOPPED   ? "interrupted"
						    : "bad response");
		return res;
	case END_NONE:
	case END_PAGES: break;
	}
	return KW_GET_FAILED; /* not reached: the writer stops at the last page itself */
}

/* Walk every page; KW_GET_OK when the listing was read to its end, else what stopped it. */
static enum kw_get paginate(struct run *r, const struct pager *p)
{
	enum kw_get res = KW_GET_OK;
	struct pipe *pl = kw_xmalloc(sizeof(*pl));
	struct tally tx_before = r->n;
	int in_tx = 0;
	int64_t items = 0, tx_items = 0, tx_started_us = 0;
	if (pipe_start(pl, r, p) < 0) {
		free(pl);
		kw_error("%s: cannot start the page reader thread", p->name);
		run_error(r, "%s: cannot start the page reader thread", p->name);
		return KW_GET_FAILED;
	}
	for (;;) {
		if (stopped(r)) {
			res = KW_GET_STOPPED;
			run_error(r, "interrupted by a signal while reading %s", p->name);
			goto out;
		}
		struct page *pg = pipe_next(pl);
		if (!pg) {
			res = reader_end(r, p, pl);
			goto out;
		}
		/* Each page is stored whole or not at all: its records are stored inside its
		 * own savepoint, released whole, or rolled back whole if the body turned out
		 * to be broken. Pages read from disk (replay) share a transaction up to
		 * BATCH_ROWS rows or BATCH_US: a page rewrites the same index pages as its
		 * neighbours, and one commit writes them once. Live pages commit one by one,
		 * so the write lock is never held across a network wait. */
		if (!in_tx) {
			if (tx_begin(r) < 0) {
				res = KW_GET_FAILED;
				goto out;
			}
			in_tx = 1;
			tx_before = r->n;
			tx_items = items;
			tx_started_us = kw_mono_us();
		}
		if (kw_store_savepoint(r->store, KW_SAVEPOINT_PAGE) < 0) {
			db_fail(r, "starting a page");
			r->n = tx_before;
			in_tx = 0;
			res = KW_GET_FAILED;
			goto out;
		}
		struct tally before = r->n;
		int rc = pg->rc;
		/* A broken page stores nothing; its skips are still logged, then forgotten. */
		for (size_t i = 0; i < pg->n && !r->db_failed; i++) {
			const struct rec *x = &pg->v[i];
			if (x->reason)
				skip(r, p->what, x->id, x->reason);
			else if (rc == 0)
				(void)p->store(r, &x->u); /* a failure sets r->db_failed */
		}
		items += (int64_t)pg->n;
		if (rc == -1) {
			kw_error("kalshi: GET %s page %d: %s", p->path, pg->index + 1, pg->err);
			run_error(r, "%s: page %d: %s", p->name, pg->index + 1, pg->err);
		}
		int last = pg->cursor[0] == '\0';
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
			} else if (kw_store_release(r->store, KW_SAVEPOINT_PAGE, 0) < 0) {
				db_fail(r, "discarding a broken page");
				r->n = tx_before;
				in_tx = 0;
			}
			goto out;
		}
		if (kw_store_release(r->store, KW_SAVEPOINT_PAGE, 1) < 0) {
			db_fail(r, "storing a page");
			r->n = tx_before;
			in_tx = 0;
			res = KW_GET_FAILED;
			goto out;
		}
		r->pages++;
		pipe_release(pl, pg);
		if (last || !r->replay || items - tx_items >= BATCH_ROWS ||
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
	}
out:
	pipe_stop(pl);
	free(pl);
	/* Pages already released into the open transaction are whole: keep them. */
	if (in_tx && !r->db_failed && tx_commit(r) < 0)
		r->n = tx_before;
	kw_store_rollback(r->store); /* no-op unless the transaction failed */
	return res;
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
	enum kw_get res = paginate(r, &series_pager);
	if (res == KW_GET_OK)
		res = paginate(r, &events_pager);
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
	struct pager p = { .name = "markets",
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
	r->markets_fail = paginate(r, &p);
	r->markets_listed = r->pages > pages;
}

/* GET one object ({"event":{...}} or {"series":{...}}) per unknown ticker and store it. */
static void lookup_each(struct run *r, const struct kw_strlist *l, enum kw_fetch_kind kind,
			const char *prefix, const char *member, const struct pager *p)
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
			if (store_one(r, p, obj) == 0)
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
	struct pager p = { .name = "trades",
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
	if (paginate(r, &p) != KW_GET_OK)
		r->partial = 1;
}

static void phase_books(struct run *r)
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
	(void)kw_store_take_longest_write_us(r->store); /* this run's own, in its last line */
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
		/* market_activity and the stats rollups follow the trades just stored (the
		 * markets lists, /api/v1/stats and the analytics read them); an interrupted run
		 * leaves them for the next, which catches up. */
		if (!r->db_failed && !stopped(r)) {
			int64_t t0 = kw_mono_us();
			int64_t cpu0 = cpu_us();
			if (kw_store_fetch_activity(r->store, r->now, 0) < 0)
				db_fail(r, "updating market activity");
			else if (kw_whale_rollups(r->store, r->cfg, r->now, 0) < 0)
				db_fail(r, "updating the stats rollups");
			else
				kw_info("rollups: market activity and the API's figures updated in "
					"%lld us (CPU %lld us)",
					(long long)(kw_mono_us() - t0),
					(long long)(cpu_us() - cpu0));
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
out:
	free(skips);
	kw_buf_free(&r->body);
	free(r);
	return status;
}
