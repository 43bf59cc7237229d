/*
 * store_webhook.c — SQL for the webhook queue (contract in store_webhook.h).
 */
#include "store_webhook.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

static const char SQL_CURSOR_INIT_ALERTS[] =
	"INSERT INTO webhook_cursors (source, last_id)"
	" SELECT 'alerts', coalesce(max(id), 0) FROM alerts WHERE true ON CONFLICT DO NOTHING";
static const char SQL_CURSOR_INIT_SECURITY[] =
	"INSERT INTO webhook_cursors (source, last_id)"
	" SELECT 'security', coalesce(max(id), 0) FROM security_events WHERE true"
	" ON CONFLICT DO NOTHING";

int kw_store_webhook_cursor_init(struct kw_store *s, const char *source)
{
	struct kw_stmt *st = kw_store_stmt(s, strcmp(source, "alerts") ? SQL_CURSOR_INIT_SECURITY
								       : SQL_CURSOR_INIT_ALERTS);
	return st ? kw_store_step_done(s, st, "webhook cursor init") : -1;
}

static const char SQL_CURSOR[] = "SELECT last_id FROM webhook_cursors WHERE source = ?";

int64_t kw_store_webhook_cursor(struct kw_store *s, const char *source)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_CURSOR);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, source);
	int rc = kw_sql_step(st);
	int64_t v = rc == KW_ROW ? kw_sql_col_i64(st, 0) : -1;
	kw_sql_reset(st);
	if (v < 0)
		kw_error("store: webhook cursor %s missing: %s", source, kw_store_errmsg(s));
	return v;
}

static const char SQL_CURSOR_SET[] =
	"UPDATE webhook_cursors SET last_id = max(last_id, ?2) WHERE source = ?1";

int kw_store_webhook_cursor_set(struct kw_store *s, const char *source, int64_t last_id)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_CURSOR_SET);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, source);
	kw_sql_bind_i64(st, 2, last_id);
	return kw_store_step_done(s, st, "webhook cursor update");
}

static const char SQL_ALERTS_AFTER[] =
	"SELECT a.id, a.created_at, a.confidence, a.type, a.ticker, a.severity, a.description,"
	"       a.data, m.title, m.category, a.window_end"
	"  FROM alerts a LEFT JOIN markets m ON m.ticker = a.ticker"
	" WHERE a.id > ? ORDER BY a.id LIMIT ?";

struct alert_walk {
	void (*fn)(void *ctx, const struct kw_alert *row);
	void *ctx;
};

static int alert_row(struct kw_stmt *st, void *p)
{
	struct alert_walk *w = p;
	struct kw_alert r = {
		.id = kw_sql_col_i64(st, 0),
		.created_at = kw_sql_col_i64(st, 1),
		.confidence = kw_sql_col_i64(st, 2),
		.type = kw_store_col_str(st, 3),
		.ticker = kw_store_col_str(st, 4),
		.severity = kw_store_col_str(st, 5),
		.description = kw_store_col_str(st, 6),
		.data = kw_store_col_str(st, 7),
		.title = kw_sql_col_null(st, 8) ? NULL : kw_store_col_str(st, 8),
		.category = kw_sql_col_null(st, 9) ? NULL : kw_store_col_str(st, 9),
		.window_end = kw_sql_col_i64(st, 10),
	};
	w->fn(w->ctx, &r);
	return 0;
}

int kw_store_webhook_alerts_after(struct kw_store *s, int64_t after, int limit,
				  void (*fn)(void *ctx, const struct kw_alert *row), void *ctx)
{
	struct alert_walk w = { fn, ctx };
	struct kw_stmt *st = kw_store_stmt(s, SQL_ALERTS_AFTER);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after);
	kw_sql_bind_int(st, 2, limit);
	return kw_store_walk(s, st, alert_row, &w, "webhook alert query");
}

static const char SQL_SECURITY_AFTER[] =
	"SELECT id, at, type, client, detail FROM security_events WHERE id > ? ORDER BY id LIMIT ?";

struct security_walk {
	void (*fn)(void *ctx, const struct kw_wh_security_row *row);
	void *ctx;
};

static int security_row(struct kw_stmt *st, void *p)
{
	struct security_walk *w = p;
	struct kw_wh_security_row r = { kw_sql_col_i64(st, 0), kw_sql_col_i64(st, 1),
					kw_store_col_str(st, 2), kw_store_col_str(st, 3),
					kw_store_col_str(st, 4) };
	w->fn(w->ctx, &r);
	return 0;
}

int kw_store_webhook_security_after(struct kw_store *s, int64_t after, int limit,
				    void (*fn)(void *ctx, const struct kw_wh_security_row *row),
				    void *ctx)
{
	struct security_walk w = { fn, ctx };
	struct kw_stmt *st = kw_store_stmt(s, SQL_SECURITY_AFTER);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after);
	kw_sql_bind_int(st, 2, limit);
	return kw_store_walk(s, st, security_row, &w, "webhook security query");
}

static const char SQL_ENQUEUE[] =
	"INSERT INTO webhook_deliveries (target, source, source_id, payload, created_at,"
	" next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";

int kw_store_webhook_enqueue(struct kw_store *s, const char *target, const char *source,
			     int64_t source_id, const char *payload, int64_t now_ms)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_ENQUEUE);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, target);
	kw_sql_bind_text_static(st, 2, source);
	kw_sql_bind_i64(st, 3, source_id);
	kw_sql_bind_text_static(st, 4, payload);
	kw_sql_bind_i64(st, 5, now_ms / 1000);
	kw_sql_bind_i64(st, 6, now_ms);
	return kw_store_step_done(s, st, "webhook enqueue");
}

static const char SQL_DUE[] =
	"SELECT id, attempts, target, payload FROM webhook_deliveries"
	" WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?"
	" ORDER BY next_attempt_at, id LIMIT ?";

int kw_store_webhook_due(struct kw_store *s, int64_t now_ms, struct kw_wh_delivery *out, int max)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_DUE);
	int rc = KW_DONE, n = 0;
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, now_ms);
	kw_sql_bind_int(st, 2, max);
	while (n < max && (rc = kw_sql_step(st)) == KW_ROW) {
		out[n].id = kw_sql_col_i64(st, 0);
		out[n].attempts = kw_sql_col_i64(st, 1);
		kw_strlcpy(out[n].target, kw_store_col_str(st, 2), sizeof(out[n].target));
		out[n].payload = kw_xstrdup(kw_store_col_str(st, 3));
		n++;
	}
	if (n < max && rc != KW_DONE) {
		kw_error("store: webhook due query failed: %s", kw_store_errmsg(s));
		for (int i = 0; i < n; i++)
			free(out[i].payload);
		n = -1;
	}
	kw_sql_reset(st);
	return n;
}

static const char SQL_NEXT_DUE[] =
	"SELECT coalesce(min(next_attempt_at), 0) FROM webhook_deliveries"
	" WHERE delivered_at IS NULL AND failed_at IS NULL";

int64_t kw_store_webhook_next_due(struct kw_store *s)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_NEXT_DUE);
	if (!st)
		return -1;
	int rc = kw_sql_step(st);
	int64_t v = rc == KW_ROW ? kw_sql_col_i64(st, 0) : -1;
	kw_sql_reset(st);
	return v;
}

static const char SQL_DONE[] =
	"UPDATE webhook_deliveries SET delivered_at = ?2, attempts = attempts + 1, last_error = ''"
	" WHERE id = ?1";

int kw_store_webhook_done(struct kw_store *s, int64_t id, int64_t now_s)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_DONE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, id);
	kw_sql_bind_i64(st, 2, now_s);
	return kw_store_step_done(s, st, "webhook delivered");
}

static const char SQL_RETRY[] =
	"UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?4,"
	" next_attempt_at = CASE WHEN ?2 > 0 THEN ?2 ELSE next_attempt_at END,"
	" failed_at = CASE WHEN ?2 > 0 THEN NULL ELSE ?3 END WHERE id = ?1";

int kw_store_webhook_retry(struct kw_store *s, int64_t id, int64_t next_ms, int64_t now_s,
			   const char *error)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_RETRY);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, id);
	kw_sql_bind_i64(st, 2, next_ms);
	kw_sql_bind_i64(st, 3, now_s);
	kw_sql_bind_text_static(st, 4, error);
	return kw_store_step_done(s, st, "webhook retry");
}

static const char SQL_PRUNE[] =
	"DELETE FROM webhook_deliveries WHERE coalesce(delivered_at, failed_at) < ?";

int kw_store_webhook_prune(struct kw_store *s, int64_t before_s)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_PRUNE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, before_s);
	return kw_store_step_done(s, st, "webhook prune");
}
