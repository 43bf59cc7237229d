/*
 * monitoring.h — kw-api's side of monitoring: recording every request into the worker's
 * in-memory aggregate (lib/metrics.h, written to SQLite by the worker's write-behind thread:
 * writer.h), and the two read routes, GET /api/v1/monitoring (JSON time series for the dashboard) and GET /metrics
 * (Prometheus text exposition).
 *
 * Life: the state (struct kw_mon, owned by struct kw_app) is made on first use inside the
 * worker process — after any fork — and freed by kw_mon_shutdown(). With
 * MONITORING_ENABLED=false nothing is recorded; the read routes still answer from the store.
 *
 * Error reporting (lib/sentry.h): a reply with a 5xx status is queued as an event and sent by
 * kw_mon_idle(), after the reply is out; kw_mon_start() (before the accept loop, in the worker)
 * installs the crash handler and sends crash reports left by earlier workers.
 *
 * Hooks, called by accept.c and main.c only (with several accept threads, kw_mon_request_done
 * and kw_mon_idle under app->mon_mu; start and shutdown before and after the threads):
 *   kw_mon_start(app)       once per worker, before the first accept.
 *   kw_mon_request_done(r)  after the reply is sent: a few additions in memory.
 *   kw_mon_idle(app)        after FCGX_Finish_r: error reports into the spool directory.
 */
#ifndef KW_FCGI_MONITORING_H
#define KW_FCGI_MONITORING_H

struct kw_app;
struct kw_req;

void kw_mon_start(struct kw_app *app);
void kw_mon_request_done(struct kw_req *r);
/* Count a security event (called by kw_sec_event). */
void kw_mon_security_event(struct kw_app *app, const char *type);
void kw_mon_idle(struct kw_app *app);
void kw_mon_shutdown(struct kw_app *app);

void kw_handle_v1_monitoring(struct kw_req *r);
void kw_handle_metrics(struct kw_req *r);
extern const struct kw_param kw_params_v1_monitoring[];

#endif
