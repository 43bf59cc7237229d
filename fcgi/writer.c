/*
 * writer.c — a kw-api worker's write-behind thread and the tables it empties (contract in
 * writer.h).
 *
 * Why a thread: a write waits for SQLite's write lock whenever kw-fetch, kw-admin or another
 * worker holds it, and a durable commit may wait for the disk besides; done between two
 * requests it stalled the worker and every request queued on it (a metrics flush behind a
 * replay's transaction held requests for over a second). The thread has its own connection
 * and waits there instead. It wakes every TICK_MS, or at once when a row is queued or a table
 * is filling, and makes one pass: queued rows, the limiter copy when kw_rl_flush_due() says
 * this worker's turn has come (all workers' threads compete for it, so one writes each second),
 * (and on PostgreSQL, once a minute per host, the prune of the cluster limiter's expired rows),
 * then the metrics when METRICS_FLUSH_SECONDS have passed since their oldest record (sooner
 * when a table is three-quarters full), then an hourly prune.
 *
 * Sharing: the accept threads and this thread share only what `mu` guards (the tables waiting
 * to be written, the counts of what was dropped, the stop and wake flags); the thread copies a
 * table out under the lock and writes the copy without it, and merges a copy the database
 * refused back in. The limiter table has its own locks; the configuration and the limiter
 * handle are read-only. The thread blocks every signal (SIGTERM stays with the main thread).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "log.h"
#include "metrics.h"
#include "store_gcra.h"
#include "store_metrics.h"
#include "writer.h"

#define TICK_MS 200
#define FLUSH_AT_PENDING 4096 /* records: write early on a busy worker */
#define PRUNE_EVERY_US (3600LL * 1000000)

enum drop_kind { DROP_METRICS, DROP_EVENT, DROP_BLOCK, DROP_KEY_USE, DROP_N };
const char *const kw_writer_drop_kinds[KW_WRITER_DROP_KINDS] = { "metrics", "security_event",
								 "block", "key_use" };
#define drop_names kw_writer_drop_kinds
_Static_assert(DROP_N == KW_WRITER_DROP_KINDS, "one name per kind");

struct kw_writer {
	struct kw_app *app;	  /* read-only from the thread: cfg, sec->rl, test clock */
	struct kw_thread *lender; /* whose connection passes without a thread use */
	int threaded;		  /* 0: the lender makes the passes */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Guarded by mu. */
	int stop, wake;
	struct kw_metrics m;
	struct kw_worker_row rows[KW_WRITER_ROWS];
	size_t nrows;
	int64_t dropped[DROP_N];
	/* The pass's own: the thread's connection, or the lender's request connection while
	 * the lender makes the passes. */
	struct kw_store *store;
	struct kw_store *own_store; /* opened by the thread; closed by kw_writer_stop */
	struct kw_metrics batch;
	struct kw_worker_row batch_rows[KW_WRITER_ROWS];
	struct kw_rl_entry *rl_buf;
	size_t rl_cap;
	int64_t next_prune_us;
};

static enum drop_kind drop_kind_of(enum kw_worker_row_kind k)
{
	return k == KW_WROW_EVENT ? DROP_EVENT : k == KW_WROW_BLOCK ? DROP_BLOCK : DROP_KEY_USE;
}

/* Under mu. A key's last use is one row however often it is used; a full table drops the
 * newest row, counted. */
static void queue_row(struct kw_writer *w, const struct kw_worker_row *row)
{
	if (row->kind == KW_WROW_KEY_USE) {
		for (size_t i = 0; i < w->nrows; i++) {
			struct kw_worker_row *x = &w->rows[i];
			if (x->kind == KW_WROW_KEY_USE && x->key_id == row->key_id) {
				if (row->at > x->at)
					x->at = row->at;
				return;
			}
		}
	}
	if (w->nrows == KW_WRITER_ROWS) {
		w->dropped[drop_kind_of(row->kind)]++;
		return;
	}
	w->rows[w->nrows++] = *row;
}

/* A table three-quarters full: new minutes and endpoints would soon find no room. */
static int filling(const struct kw_metrics *m)
{
	return m->pending >= FLUSH_AT_PENDING || m->ncells > KW_METRICS_MAX_CELLS * 3 / 4 ||
	       m->nsecurity > KW_METRICS_MAX_NAMES * 3 / 4 ||
	       m->ncountries > KW_METRICS_MAX_NAMES * 3 / 4;
}

/* Under mu: the oldest record has waited METRICS_FLUSH_SECONDS, or a table is filling. */
static int metrics_due(const struct kw_writer *w, int64_t now_us)
{
	const struct kw_metrics *m = &w->m;
	return m->pending &&
	       (now_us >= m->first_at_us + w->app->cfg.metrics_flush_s * 1000000 || filling(m));
}

static void write_rows(struct kw_writer *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->nrows;
	memcpy(w->batch_rows, w->rows, n * sizeof(w->rows[0]));
	w->nrows = 0;
	pthread_mutex_unlock(&w->mu);
	if (!n || kw_store_worker_rows(w->store, w->batch_rows, n) == 0)
		return;
	/* Refused: back in front of what was queued meanwhile, oldest first. */
	pthread_mutex_lock(&w->mu);
	size_t later = w->nrows;
	struct kw_worker_row *tmp = w->rows;
	if (later) {
		/* Rare (the database refused and requests kept failing): a copy is fine here. */
		tmp = kw_xmalloc(later * sizeof(*tmp));
		memcpy(tmp, w->rows, later * sizeof(*tmp));
	}
	w->nrows = 0;
	for (size_t i = 0; i < n; i++)
		queue_row(w, &w->batch_rows[i]);
	for (size_t i = 0; i < later; i++)
		queue_row(w, &tmp[i]);
	if (later)
		free(tmp);
	pthread_mutex_unlock(&w->mu);
}

static void write_limiter(struct kw_writer *w, int force)
{
	struct kw_sec *sec = w->app->sec;
	if (!sec || !sec->rl)
		return;
	int64_t now = kw_sec_now_us(w->app);
	if (!force && !kw_rl_flush_due(sec->rl, now))
		return;
	size_t n = kw_rl_collect(sec->rl, now, w->rl_buf, w->rl_cap);
	if (kw_store_rl_save(w->store, w->rl_buf, n, now) < 0)
		kw_warn("ratelimit: %zu limiter entries not saved; retried with the next change",
			n);
	/* The cluster limiter's rows whose time has passed mean "no state": one writer of the
	 * host drops them each minute (elected through the shared table), so the table holds
	 * about the keys and addresses seen in the last window, whatever the traffic. */
	struct kw_rl_result turn;
	if (sec->cluster && !force) {
		kw_rl_take(sec->rl, "s:cluster-prune", now, 60LL * 1000000, 1, &turn);
		if (turn.allowed && kw_store_gcra_prune(w->store, now - kw_now_us()) < 0)
			kw_warn("ratelimit: expired cluster limiter rows not pruned; retried in a "
				"minute");
	}
}

static void write_metrics(struct kw_writer *w, int force)
{
	int64_t dropped[DROP_N];
	pthread_mutex_lock(&w->mu);
	int due = force ? w->m.pending > 0 : metrics_due(w, kw_mono_us());
	if (due)
		kw_metrics_move(&w->batch, &w->m);
	memcpy(dropped, w->dropped, sizeof(dropped));
	memset(w->dropped, 0, sizeof(w->dropped));
	pthread_mutex_unlock(&w->mu);

	int ok = !due || kw_store_metrics_flush(w->store, &w->batch) == 0;
	int dropped_ok = kw_store_writes_dropped_add(w->store, drop_names, dropped, DROP_N) == 0;
	if (ok && dropped_ok) {
		if (due)
			kw_metrics_reset(&w->batch);
	} else {
		pthread_mutex_lock(&w->mu);
		if (!ok) {
			int64_t pending = w->batch.pending;
			int64_t lost = kw_metrics_merge(&w->m, &w->batch);
			w->dropped[DROP_METRICS] += lost;
			kw_warn("metrics: not written; %lld records kept for the next attempt%s",
				(long long)pending,
				lost ? " (some dropped: the table is full)" : "");
		}
		if (!dropped_ok)
			for (int k = 0; k < DROP_N; k++)
				w->dropped[k] += dropped[k];
		pthread_mutex_unlock(&w->mu);
		kw_metrics_reset(&w->batch);
		return;
	}
	for (int k = 0; k < DROP_N; k++)
		if (dropped[k])
			kw_error("worker: %lld %s records dropped (the database refused writes "
				 "while the table in memory was full)",
				 (long long)dropped[k], drop_names[k]);
	if (due && kw_mono_us() >= w->next_prune_us) {
		w->next_prune_us = kw_mono_us() + PRUNE_EVERY_US;
		int64_t before = kw_now_s() - w->app->cfg.metrics_retention_days * 86400;
		int64_t n = kw_store_metrics_prune(w->store, before);
		if (n > 0)
			kw_info("metrics: pruned %lld rows older than %lld days", (long long)n,
				(long long)w->app->cfg.metrics_retention_days);
	}
}

/* One pass. wait: whether this pass may wait for the write lock (the thread and the last
 * pass may; a pass on the main thread between requests may not). */
static void pass(struct kw_writer *w, int force, int wait)
{
	char err[256];
	if (w->threaded && !w->own_store) {
		w->own_store = kw_store_open(w->app->cfg.db_target, 0, err, sizeof(err));
		if (!w->own_store)
			return; /* the main thread logs database trouble; retried next pass */
	}
	/* Without a thread the request connection serves (a CGI request would otherwise open a
	 * second connection just to write at its exit). */
	w->store = w->threaded ? w->own_store : w->lender->store;
	if (!w->store)
		return;
	kw_store_wait_for_lock(w->store, wait);
	write_rows(w);
	write_limiter(w, force);
	write_metrics(w, force);
	kw_store_wait_for_lock(w->store, 1);
}

static void *writer_main(void *arg)
{
	struct kw_writer *w = arg;
	pthread_setname_np(pthread_self(), "kw-api-writer"); /* for ps -L, top -H */
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		int rc = 0;
		while (!w->stop && !w->wake && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
		if (w->stop)
			break;
		w->wake = 0;
		pthread_mutex_unlock(&w->mu);
		pass(w, 0, 1);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	pass(w, 1, 1);
	return NULL;
}

void kw_writer_start(struct kw_app *app, struct kw_thread *lender, int threaded)
{
	struct kw_writer *w = kw_xcalloc(1, sizeof(*w));
	pthread_condattr_t ca;
	sigset_t all, old;
	w->app = app;
	w->lender = lender;
	w->rl_cap = app->sec && app->sec->rl ? kw_rl_capacity(app->sec->rl) : 0;
	w->rl_buf = kw_xcalloc(w->rl_cap ? w->rl_cap : 1, sizeof(*w->rl_buf));
	app->writer = w;
	if (pthread_mutex_init(&w->mu, NULL) || pthread_condattr_init(&ca) ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&w->cv, &ca))
		abort(); /* only ENOMEM and EAGAIN, which glibc never returns for these */
	pthread_condattr_destroy(&ca);
	if (!threaded)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	w->threaded = 1; /* before the thread exists: it reads the flag */
	int rc = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		w->threaded = 0;
		kw_error("worker: cannot start the write-behind thread (%s); writing between "
			 "requests, without waiting for the database",
			 strerror(rc));
	}
}

void kw_writer_stop(struct kw_app *app)
{
	struct kw_writer *w = app->writer;
	if (!w)
		return;
	if (w->threaded) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL); /* after its last pass */
	} else {
		pass(w, 1, 1);
	}
	kw_store_close(w->own_store);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->rl_buf);
	free(w);
	app->writer = NULL;
}

void kw_writer_idle(struct kw_app *app)
{
	struct kw_writer *w = app->writer;
	if (w && !w->threaded && !app->cgi)
		pass(w, 0, 0);
}

/* Under mu: a table is filling or a row waits; the thread should not wait for its tick. */
static void nudge(struct kw_writer *w)
{
	if (w->threaded && !w->wake) {
		w->wake = 1;
		pthread_cond_signal(&w->cv);
	}
}

void kw_writer_request(struct kw_app *app, int64_t now_s, const char *method, const char *endpoint,
		       int status, int64_t latency_us, int64_t bytes, const char *country)
{
	struct kw_writer *w = app->writer;
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	if (kw_metrics_add_request(&w->m, now_s, method, endpoint, status, latency_us, bytes) < 0)
		w->dropped[DROP_METRICS]++;
	else if (kw_metrics_add_country(&w->m, now_s, country) < 0)
		w->dropped[DROP_METRICS]++; /* that request's country only */
	if (filling(&w->m))
		nudge(w);
	pthread_mutex_unlock(&w->mu);
}

void kw_writer_security_count(struct kw_app *app, int64_t now_s, const char *type)
{
	struct kw_writer *w = app->writer;
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	if (kw_metrics_add_security(&w->m, now_s, type) < 0)
		w->dropped[DROP_METRICS]++;
	if (filling(&w->m))
		nudge(w);
	pthread_mutex_unlock(&w->mu);
}

void kw_writer_row(struct kw_app *app, struct kw_store *store, const struct kw_worker_row *row)
{
	struct kw_writer *w = app->writer;
	size_t queued = 0;
	if (w) {
		pthread_mutex_lock(&w->mu);
		queued = w->nrows;
		pthread_mutex_unlock(&w->mu);
	}
	/* Behind rows already waiting it would be written out of order, and would most likely
	 * find the lock taken too: then it waits with them. A CGI request is a process of its
	 * own, with no request queued behind it and no later pass before its exit: it waits
	 * for the lock, as before, so that the row is stored before the reply. */
	if (!queued && store) {
		kw_store_wait_for_lock(store, app->cgi);
		int rc = kw_store_worker_rows(store, row, 1);
		kw_store_wait_for_lock(store, 1);
		if (rc == 0)
			return;
	}
	if (!w) {
		kw_warn("worker: a %s row was not stored (no database)",
			drop_names[drop_kind_of(row->kind)]);
		return;
	}
	pthread_mutex_lock(&w->mu);
	queue_row(w, row);
	nudge(w);
	pthread_mutex_unlock(&w->mu);
}
