/*
 * pages.c — kw-fetch's paginated listings (series, events, markets, trades): a reader thread
 * one page ahead of the writer, and every page stored whole or not at all.
 *
 * Two threads share a listing. The reader (a thread of its own) fetches page k+1 with the
 * client and parses it into records while the writer (the calling thread, the only one that
 * touches SQLite) stores page k. Two page buffers circulate between them, so at most one page
 * is parsed ahead, whatever the listing's length: memory is one body plus two parsed pages.
 * The reader never decides anything about storage: it hands over pages and, when it stops,
 * why (end of listing, fetch failure, MAX_PAGES, a cursor that did not move, a signal); the
 * writer turns that into the run's outcome, in page order, as a single loop did before. When
 * the writer gives up first (database failure, broken page, signal) it cancels the reader,
 * which ends its request or wait at once (kw_client_set_cancel), and joins it.
 *
 * Storage: live, one transaction per page; in a replay, consecutive pages share a transaction
 * (bounded in records and time), each inside its own savepoint. Either way a kill -9 leaves
 * whole pages. What a listing stores per record is the pager's (run.c); this file knows only
 * pages, savepoints and the run's tally.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "run.h"
#include "store_fetch.h"

#define MAX_PAGES 5000 /* per listing and run: 5M markets or trades */
/* Replay: rows and time per transaction, at most. A commit writes every page the batch
 * touched, and a bigger batch touches the hot pages (the newest hour of trades_hour_ticker,
 * the ends of the time-ordered indexes) fewer times per row: 100,000 rows ingested 1M trades
 * ~10-15% faster than 20,000 (bench-fetch). But every other writer (kw-admin, kw-ws's report,
 * the API workers' write-behind threads) waits for the whole batch: a batch ends once it has
 * run KW_STORE_WRITE_STEP_US, which bounds that wait; readers never wait on it (WAL). */
#define BATCH_ROWS 100000
#define BATCH_US KW_STORE_WRITE_STEP_US
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
	struct kw_run *r;
	const struct kw_pager *p;
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
	const struct kw_pager *p;
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
	return atomic_load(&pl->cancel) || kw_run_stopped(pl->r);
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
	struct kw_run *r = pl->r;
	const struct kw_pager *p = pl->p;
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
static int pipe_start(struct pipe *pl, struct kw_run *r, const struct kw_pager *p)
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
static enum kw_get reader_end(struct kw_run *r, const struct kw_pager *p, const struct pipe *pl)
{
	enum kw_get res = pl->end_res;
	switch (pl->end) {
	case END_STOPPED:
		kw_run_error(r, "interrupted by a signal while reading %s", p->name);
		return KW_GET_STOPPED;
	case END_MAX:
		kw_error("kalshi: %s: more than %d pages; stopping", p->name, MAX_PAGES);
		kw_run_error(r, "%s: more than %d pages", p->name, MAX_PAGES);
		return KW_GET_FAILED;
	case END_STUCK:
		kw_error("kalshi: GET %s: cursor did not advance; stopping", p->path);
		kw_run_error(r, "%s: cursor did not advance", p->name);
		return KW_GET_FAILED;
	case END_FETCH:
		if (res == KW_GET_NOT_FOUND && r->replay)
			return KW_GET_OK; /* no more saved pages */
		if (res == KW_GET_NOT_FOUND)
			res = KW_GET_FAILED;
		kw_run_error(r, "%s: page %d could not be fetched (%s)", p->name, pl->end_page + 1,
			     res == KW_GET_UNAVAILABLE ? "Kalshi unavailable"
			     : res == KW_GET_STOPPED   ? "interrupted"
						       : "bad response");
		return res;
	case END_NONE:
	case END_PAGES: break;
	}
	return KW_GET_FAILED; /* not reached: the writer stops at the last page itself */
}

/* The writer's side of one listing: the open transaction and what it would take back. */
struct walk {
	struct kw_run *r;
	const struct kw_pager *p;
	struct kw_run_tally tx_before; /* the tally when the open transaction began */
	int in_tx;
	int64_t items, tx_items, tx_started_us;
};

/* The open transaction was rolled back: what it added to the tally goes with it. */
static void walk_lost_tx(struct walk *w)
{
	w->r->n = w->tx_before;
	w->in_tx = 0;
}

/*
 * Each page is stored whole or not at all: its records are stored inside its own savepoint,
 * released whole, or rolled back whole if the body turned out to be broken. Pages read from
 * disk (replay) share a transaction up to BATCH_ROWS rows or BATCH_US: a page rewrites the
 * same index pages as its neighbours, and one commit writes them once. Live pages commit one
 * by one, so the write lock is never held across a network wait.
 */
static int walk_begin(struct walk *w)
{
	if (w->in_tx)
		return 0;
	if (kw_run_tx_begin(w->r) < 0)
		return -1;
	w->in_tx = 1;
	w->tx_before = w->r->n;
	w->tx_items = w->items;
	w->tx_started_us = kw_mono_us();
	return 0;
}

/* One page inside its own savepoint: 0 when stored, -1 when not (the run says why). */
static int walk_store_page(struct walk *w, const struct page *pg, int last)
{
	struct kw_run *r = w->r;
	const struct kw_pager *p = w->p;
	if (kw_store_savepoint(r->store, KW_SAVEPOINT_PAGE) < 0) {
		kw_run_db_fail(r, "starting a page");
		walk_lost_tx(w);
		return -1;
	}
	struct kw_run_tally before = r->n;
	int rc = pg->rc;
	/* A broken page stores nothing; its skips are still logged, then forgotten. */
	for (size_t i = 0; i < pg->n && !r->db_failed; i++) {
		const struct rec *x = &pg->v[i];
		if (x->reason)
			kw_run_skip(r, p->what, x->id, x->reason);
		else if (rc == 0)
			(void)p->store(r, &x->u); /* a failure sets r->db_failed */
	}
	w->items += (int64_t)pg->n;
	if (rc == -1) {
		kw_error("kalshi: GET %s page %d: %s", p->path, pg->index + 1, pg->err);
		kw_run_error(r, "%s: page %d: %s", p->name, pg->index + 1, pg->err);
	}
	if (r->db_failed) { /* kw_run_db_fail() rolled the whole transaction back */
		walk_lost_tx(w);
		return -1;
	}
	if (rc != 0 || (p->page_end && p->page_end(r, last) < 0)) {
		r->n = before; /* nothing of this page was stored */
		if (r->db_failed) {
			walk_lost_tx(w);
		} else if (kw_store_release(r->store, KW_SAVEPOINT_PAGE, 0) < 0) {
			kw_run_db_fail(r, "discarding a broken page");
			walk_lost_tx(w);
		}
		return -1;
	}
	if (kw_store_release(r->store, KW_SAVEPOINT_PAGE, 1) < 0) {
		kw_run_db_fail(r, "storing a page");
		walk_lost_tx(w);
		return -1;
	}
	r->pages++;
	return 0;
}

/* Commit after the last page, after every live page, and when a replay batch is full. */
static int walk_end_batch(struct walk *w, int last)
{
	if (!last && w->r->replay && w->items - w->tx_items < BATCH_ROWS &&
	    kw_mono_us() - w->tx_started_us < BATCH_US)
		return 0;
	w->in_tx = 0;
	if (kw_run_tx_commit(w->r) < 0) {
		w->r->n = w->tx_before;
		return -1;
	}
	return 0;
}

enum kw_get kw_pages_walk(struct kw_run *r, const struct kw_pager *p)
{
	enum kw_get res = KW_GET_FAILED;
	struct walk w = { .r = r, .p = p, .tx_before = r->n };
	struct pipe *pl = kw_xmalloc(sizeof(*pl));
	if (pipe_start(pl, r, p) < 0) {
		free(pl);
		kw_error("%s: cannot start the page reader thread", p->name);
		kw_run_error(r, "%s: cannot start the page reader thread", p->name);
		return KW_GET_FAILED;
	}
	for (;;) {
		if (kw_run_stopped(r)) {
			res = KW_GET_STOPPED;
			kw_run_error(r, "interrupted by a signal while reading %s", p->name);
			goto out;
		}
		struct page *pg = pipe_next(pl);
		if (!pg) {
			res = reader_end(r, p, pl);
			goto out;
		}
		int last = pg->cursor[0] == '\0';
		if (walk_begin(&w) < 0 || walk_store_page(&w, pg, last) < 0)
			goto out;
		pipe_release(pl, pg);
		if (walk_end_batch(&w, last) < 0)
			goto out;
		if (last) {
			res = KW_GET_OK;
			goto out;
		}
	}
out:
	pipe_stop(pl);
	free(pl);
	/* Pages already released into the open transaction are whole: keep them. */
	if (w.in_tx && !r->db_failed && kw_run_tx_commit(r) < 0)
		r->n = w.tx_before;
	kw_store_rollback(r->store); /* no-op unless the transaction failed */
	return res;
}
