/*
 * writer.h — every database write a kw-api worker makes, kept off the request path.
 *
 * A worker writes four kinds of things: its request metrics (lib/metrics.h), the limiter's
 * copy (lib/ratelimit.h), and rows — security events, blocks, a key's last use. None of them
 * may wait for the SQLite write lock while a request (or the requests queued behind it on
 * this worker) waits: kw-fetch, kw-admin and the other workers take that lock too.
 *
 *   metrics and the limiter  are only recorded in memory by the request (a mutex held for a
 *                            few additions) and written by the worker's write-behind thread,
 *                            which has its own connection and may wait for the lock as long
 *                            as it must;
 *   rows                     are tried at once on the request's own connection, with no wait
 *                            at all (stored before the reply, as an operator reading
 *                            security_events expects); when the database is busy the row is
 *                            queued for the thread instead, and the request goes on. (A CGI
 *                            request, a process of its own, waits: nothing is queued behind
 *                            it.)
 * Nothing waiting is lost while the database refuses writes: the thread keeps it and retries
 * (each attempt waits up to the busy timeout, which paces the retries). The tables in memory
 * are bounded (KW_METRICS_MAX_*, KW_WRITER_ROWS); what does not fit is dropped and counted by
 * kind, and the counts are written with the next successful write (worker_writes_dropped,
 * shown by GET /metrics as kw_worker_writes_dropped_total).
 *
 * Threads: kw_writer_start() runs in the worker process (after any fork), before the accept
 * threads start, and kw_writer_stop() after they ended; in between, every accept thread
 * records through the kw_writer_request/security_count/row calls (the tables are guarded).
 * Where no write-behind thread can run (a CGI request is one process; pthread_create failed),
 * accept thread 0 makes the same passes itself on its own connection (the lender given to
 * kw_writer_start): between its requests without waiting for the lock (kw_writer_idle), and
 * once at kw_writer_stop(), waiting, so that a CGI request's counts are written before it
 * exits.
 */
#ifndef KW_FCGI_WRITER_H
#define KW_FCGI_WRITER_H

#include <stdint.h>

#include "store_security.h"

#define KW_WRITER_ROWS 128

struct kw_app;
struct kw_thread;
struct kw_writer;

/* The kinds of records counted when dropped (worker_writes_dropped.kind). */
#define KW_WRITER_DROP_KINDS 4
extern const char *const kw_writer_drop_kinds[KW_WRITER_DROP_KINDS];

/* Build app->writer; threaded = 0 for a CGI request. Always succeeds (a thread that cannot
 * start is logged and replaced by passes between requests). lender: the accept thread whose
 * connection (lender->store, as it is at each pass) those passes use; it must outlive
 * kw_writer_stop(). */
void kw_writer_start(struct kw_app *app, struct kw_thread *lender, int threaded);
/* Stop the thread after a last pass that writes everything held, waiting for the lock if it
 * must; free app->writer. Call after the accept threads ended and before kw_sec_shutdown()
 * (the limiter table). */
void kw_writer_stop(struct kw_app *app);
/* Between the lender's requests, on the lender's thread only: a pass without waiting when
 * there is no write-behind thread; nothing otherwise. */
void kw_writer_idle(struct kw_app *app);

/* Record one answered request (and its client's country) / one security event by type, in
 * the metrics table in memory. */
void kw_writer_request(struct kw_app *app, int64_t now_s, const char *method, const char *endpoint,
		       int status, int64_t latency_us, int64_t bytes, const char *country);
void kw_writer_security_count(struct kw_app *app, int64_t now_s, const char *type);
/* Store one row now on the caller's own connection (store, NULL when it has none) if the
 * database is free at this instant, else queue it (see above). */
void kw_writer_row(struct kw_app *app, struct kw_store *store, const struct kw_worker_row *row);

#endif
