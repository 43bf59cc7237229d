/*
 * accept.c — a FastCGI worker process's accept threads (KW_THREADS of them), how they stop, and
 * the one request path that FastCGI and CGI share.
 *
 * Each thread has its own FCGX_Request, its own struct kw_req and its own struct kw_thread
 * (database connection, reply and key caches, request ids, its hold on the cap on expensive
 * requests: app.h), loops on FCGX_Accept_r and serves what it accepted from start to finish.
 * What the threads share guards itself (the limiter's table: robust mutexes in shared memory;
 * the writer's tables: writer.h) or is locked here (the monitoring hooks, under app->mon_mu), or
 * is only read once the threads run (settings, the security state, the writer handle).
 *
 * Accepting: every thread calls FCGX_Accept_r on its own, with no mutex around it. libfcgi's
 * threaded example holds one because some systems once needed accept(2) serialised; Linux
 * lets any number of threads (and processes, which kw-api's workers already are) block in
 * accept(2) on one socket and wakes one of them per connection, and libfcgi keeps no state of
 * its own across the call (no USE_LOCKING build: no lock file either). The mutex cost a futex
 * wait and a wake per request, and since it was held over the first read of the request, the
 * other threads also waited on that. A thread whose web server kept the connection open
 * (Apache's enablereuse) waits for that connection's next request in the same call; libfcgi
 * reopens a kept connection that the server closed by calling accept(2) itself.
 *
 * Stopping: the threads block SIGTERM and SIGINT; the main thread waits for them with
 * sigtimedwait(2), checks the reload policy each second, and then sets the stop flag and wakes
 * every thread that waits in accept or on a kept connection with KICK_SIGNAL (no SA_RESTART,
 * FCGI_FAIL_ACCEPT_ON_INTR: accept(2) and read(2) return EINTR), again every few milliseconds
 * until each has ended, since a thread can be between its check of the flag and the system
 * call when the first one arrives. A thread that is serving a request is never signalled: it
 * finishes the request and sees the flag. FCGX_ShutdownPending() is not used: it fails the
 * reads of every request in flight, and with many threads some always are.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cache.h"
#include "log.h"
#include "monitoring.h"
#include "version.h"
#include "writer.h"

#define KICK_SIGNAL SIGUSR1
#define KICK_EVERY_NS (5 * 1000000L)

struct acceptor {
	struct kw_thread thr;
	struct kw_req req;
	pthread_t tid;
	int started;
	atomic_int waiting; /* in FCGX_Accept_r: may be kicked */
	atomic_int done;
};

/* The process's: one worker process runs one kw_serve_threads(). */
static atomic_int g_stop;
static atomic_int g_failed; /* a thread's accept failed: the process stops */

static void on_kick(int sig)
{
	(void)sig; /* only interrupts the system call; the flag says why */
}

void kw_thread_init(struct kw_thread *t, struct kw_app *app, int index)
{
	memset(t, 0, sizeof(*t));
	t->app = app;
	t->index = index;
	if (kw_random_bytes(&t->id_prefix, sizeof(t->id_prefix)) < 0)
		t->id_prefix = (uint32_t)getpid() ^ (uint32_t)kw_now_us() ^ (uint32_t)index << 24;
	kw_heavy_init(&t->heavy);
}

void kw_thread_close(struct kw_thread *t)
{
	kw_store_close(t->store);
	t->store = NULL;
	kw_api_cache_free(t->api_cache);
	t->api_cache = NULL;
	free(t->keys);
	t->keys = NULL;
	if (t->heavy_state == 1)
		kw_heavy_close(&t->heavy);
	t->heavy_state = 0;
}

void kw_serve_one(struct kw_req *r)
{
	struct kw_app *app = r->app;
	kw_req_begin(r);
	kw_dispatch(r);
	kw_req_drain_body(r); /* CGI: before the reply, so that the server is not left writing */
	kw_reply_send(r);
	pthread_mutex_lock(&app->mon_mu);
	kw_mon_request_done(r); /* in memory; written out by the writer (writer.h) */
	pthread_mutex_unlock(&app->mon_mu);
	kw_req_log(r);
}

/* After the reply is written, before FCGX_Finish_r():
 * - A connection the web server keeps open (FCGI_KEEP_CONN: Apache's enablereuse) carries the
 *   next request right behind this one's input, and libfcgi finds the next request's start
 *   only if this one's FCGI_STDIN was read to its end: a record left over is a protocol error
 *   to it, and it drops the connection with the next request already sent on it (the web
 *   server then answers 503). So read what is left, up to a bound (an oversized upload is not
 *   worth reading only to drop it); past the bound, or on a read error, close it instead.
 * - A connection closed after this request (lighttpd closes every one): libfcgi's close
 *   lingers (shutdown, then poll and read until the web server closes its end) so that unread
 *   input cannot make the kernel reset the connection under a reply the web server has not
 *   read yet. When the request body was read whole, or there was none, all that is left is
 *   FCGI_STDIN's empty end record, already sent: reading it leaves nothing unread, the web
 *   server sends nothing more, and FCGX_Detach() makes FCGX_Finish_r() close at once instead
 *   of paying a shutdown, a poll, a read and a wait for the other side (about a fifth of a
 *   worker's time per request behind lighttpd; docs/ARCHITECTURE.md). A body left unread keeps
 *   the lingering close, after the reply, as before: the reply does not wait on an upload. */
static void finish_input(struct kw_req *r)
{
	FCGX_Request *q = &r->fcgx;
	char chunk[4096];
	int64_t left = KW_DRAIN_FACTOR * r->app->cfg.max_body_bytes;
	if (!q->in)
		return;
	if (!q->keepConnection) {
		const char *cl = kw_req_param(r, "CONTENT_LENGTH");
		int64_t len = 0;
		if (cl && *cl && (kw_parse_i64(cl, 0, INT64_MAX, &len) < 0 || len != r->body_read))
			return;
		left = 0; /* only the end record is expected: any data keeps the lingering close */
	}
	for (;;) {
		int n = FCGX_GetStr(chunk, (int)sizeof(chunk), q->in);
		if (n <= 0)
			break;
		left -= n;
		if (left < 0) {
			q->keepConnection = 0;
			return;
		}
	}
	if (FCGX_GetError(q->in))
		q->keepConnection = 0;
	else if (!q->keepConnection)
		(void)FCGX_Detach(q);
}

/* FCGX_Accept_r; -EINTR without waiting once the process stops. */
static int accept_one(struct acceptor *a)
{
	int rc = -EINTR;
	atomic_store(&a->waiting, 1);
	if (!atomic_load(&g_stop))
		rc = FCGX_Accept_r(&a->req.fcgx);
	atomic_store(&a->waiting, 0);
	return rc;
}

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	struct kw_app *app = a->thr.app;
	struct kw_req *r = &a->req;
	sigset_t kick;
	pthread_setname_np(pthread_self(), "kw-api-accept"); /* for ps -L, top -H */
	sigemptyset(&kick);
	sigaddset(&kick, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	while (!atomic_load(&g_stop)) {
		int rc = accept_one(a);
		if (rc == -EINTR)
			continue; /* a kick, or a stray signal: the loop looks at the flag */
		if (rc < 0) {
			kw_error("accept failed (%d); worker exiting", rc);
			atomic_store(&g_failed, 1);
			break;
		}
		kw_serve_one(r);
		finish_input(r);
		FCGX_Finish_r(&r->fcgx);
		kw_req_reset(r);
		if (a->thr.index == 0)
			kw_writer_idle(app);
		pthread_mutex_lock(&app->mon_mu);
		kw_mon_idle(app);
		pthread_mutex_unlock(&app->mon_mu);
	}
	FCGX_Free(&r->fcgx, 1);
	atomic_store(&a->done, 1);
	return NULL;
}

/* Signals: the stop signals go to the main thread's sigtimedwait(); the kick is caught (and
 * unblocked only in the accept threads); a client gone mid-reply is a failed write, not death. */
static void block_signals(sigset_t *stopset)
{
	struct sigaction sa;
	sigemptyset(stopset);
	sigaddset(stopset, SIGTERM);
	sigaddset(stopset, SIGINT);
	sigset_t blocked = *stopset;
	sigaddset(&blocked, KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: the kick must interrupt accept(2) */
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Until a stop signal, a failed accept or the reload policy says to stop. */
static void wait_for_stop(const sigset_t *stopset, struct kw_app *app)
{
	struct kw_reload reload;
	kw_reload_init(&reload, app->cfg.reload);
	for (;;) {
		struct timespec second = { 1, 0 };
		int sig = sigtimedwait(stopset, NULL, &second);
		if (sig == SIGTERM || sig == SIGINT || atomic_load(&g_failed) ||
		    kw_reload_due(&reload))
			return;
	}
}

/* Stop every thread between requests, and wait for each. */
static void stop_threads(struct acceptor *as, int n)
{
	atomic_store(&g_stop, 1);
	for (;;) {
		int running = 0;
		for (int i = 0; i < n; i++) {
			if (!as[i].started || atomic_load(&as[i].done))
				continue;
			running++;
			if (atomic_load(&as[i].waiting))
				pthread_kill(as[i].tid, KICK_SIGNAL);
		}
		if (!running)
			break;
		struct timespec pause = { 0, KICK_EVERY_NS };
		nanosleep(&pause, NULL);
	}
	for (int i = 0; i < n; i++)
		if (as[i].started)
			pthread_join(as[i].tid, NULL);
}

int kw_serve_threads(struct kw_app *app, struct kw_thread *first, int listen_fd)
{
	int n = (int)app->cfg.threads, rc = 0;
	char err[512];
	sigset_t stopset;
	struct acceptor *as = kw_xcalloc((size_t)n, sizeof(*as));
	block_signals(&stopset); /* before any thread: each inherits the mask */
	for (int i = 0; i < n; i++) {
		struct acceptor *a = &as[i];
		if (i == 0) {
			a->thr = *first; /* its store, opened by main() */
			memset(first, 0, sizeof(*first));
		} else {
			kw_thread_init(&a->thr, app, i);
			/* Opened here, before the threads: a thread never waits for it at start. */
			a->thr.store = kw_store_open(app->cfg.db_target, KW_API_DB_FLAGS, err,
						     sizeof(err));
			if (!a->thr.store) {
				kw_error("%s", err);
				kw_strlcpy(a->thr.store_err, err, sizeof(a->thr.store_err));
				a->thr.store_retry_at = kw_mono_us() + KW_STORE_RETRY_US;
			}
		}
		a->req.app = app;
		a->req.thr = &a->thr;
		/* FCGX_InitRequest cannot fail (it fills the struct in). */
		(void)FCGX_InitRequest(&a->req.fcgx, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	}
	kw_mon_start(app); /* error reporting: crash handler, earlier crash reports */
	kw_writer_start(app, &as[0].thr, 1); /* in this process: after any fork */
	(void)kw_log_pid();		     /* cached before the threads read it */
	kw_info("worker started (version %s, pid %d, schema %d, %d threads)", KW_VERSION,
		(int)getpid(), kw_db_schema_version(), n);
	for (int i = 0; i < n; i++) {
		int e = pthread_create(&as[i].tid, NULL, acceptor_main, &as[i]);
		if (e) {
			kw_error("cannot start accept thread %d: %s; worker exiting", i,
				 strerror(e));
			rc = 1;
			break;
		}
		as[i].started = 1;
	}
	if (!rc)
		wait_for_stop(&stopset, app);
	stop_threads(as, n);
	kw_info("worker stopping");
	kw_writer_stop(app); /* writes what it holds; before the limiter table closes */
	pthread_mutex_lock(&app->mon_mu);
	kw_mon_shutdown(app);
	pthread_mutex_unlock(&app->mon_mu);
	for (int i = 0; i < n; i++)
		kw_thread_close(&as[i].thr);
	free(as);
	return rc;
}
