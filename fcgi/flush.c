/*
 * flush.c — the limiter's write-behind thread: copies changed entries of the shared GCRA table
 * (lib/ratelimit.h) to SQLite about once a second, off the request path.
 *
 * Why a thread: the copy is one durable (synchronous=FULL) transaction, and an fsync can take
 * tens of milliseconds on a busy disk; done between two requests it stalled one of the few
 * workers and showed up as p99 latency. Each worker starts one thread (lazily, from its first
 * kw_sec_idle()), with its own SQLite connection; the threads of all workers compete through
 * kw_rl_flush_due(), so one of them writes each second. The thread blocks every signal (SIGTERM
 * stays with the main thread), and kw_sec_shutdown() stops it, joins it and does a last flush.
 * It touches only the shared table (its own locks) and its own connection and buffer: nothing
 * else of the worker's state is shared with it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "log.h"
#include "store_security.h"

#define TICK_MS 200

struct kw_flusher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	struct kw_app *app; /* read-only from the thread: cfg, sec->rl, test clock */
	struct kw_store *store;
	struct kw_rl_entry *buf;
	size_t cap;
};

static void flush_once(struct kw_flusher *f, int force)
{
	struct kw_sec *sec = f->app->sec;
	char err[256];
	if (!f->store) {
		f->store = kw_store_open(f->app->cfg.database_path, 0, err, sizeof(err));
		if (!f->store)
			return; /* the main thread logs database trouble; retried next tick */
	}
	int64_t now = kw_sec_now_us(f->app);
	if (!force && !kw_rl_flush_due(sec->rl, now))
		return;
	size_t n = kw_rl_collect(sec->rl, now, f->buf, f->cap);
	if (kw_store_rl_save(f->store, f->buf, n, now) < 0)
		kw_warn("ratelimit: %zu limiter entries not saved; retried with the next change",
			n);
}

static void *flusher_main(void *arg)
{
	struct kw_flusher *f = arg;
	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		int rc = 0;
		while (!f->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&f->cv, &f->mu, &until);
		if (f->stop)
			break;
		pthread_mutex_unlock(&f->mu);
		flush_once(f, 0);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	flush_once(f, 1);
	return NULL;
}

struct kw_flusher *kw_flusher_start(struct kw_app *app)
{
	struct kw_flusher *f = kw_xcalloc(1, sizeof(*f));
	pthread_condattr_t ca;
	sigset_t all, old;
	f->app = app;
	f->cap = kw_rl_capacity(app->sec->rl);
	f->buf = kw_xcalloc(f->cap, sizeof(*f->buf));
	if (pthread_mutex_init(&f->mu, NULL) || pthread_condattr_init(&ca) ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&f->cv, &ca)) {
		kw_error("ratelimit: cannot set up the write-behind thread");
		free(f->buf);
		free(f);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&f->thread, NULL, flusher_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		kw_error("ratelimit: cannot start the write-behind thread: %s", strerror(rc));
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		free(f->buf);
		free(f);
		return NULL;
	}
	return f;
}

void kw_flusher_stop(struct kw_flusher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	kw_store_close(f->store);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f->buf);
	free(f);
}
