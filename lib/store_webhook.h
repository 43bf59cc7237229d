/*
 * store_webhook.h — SQL for the outbound webhook queue (sql/0006_metrics.sql: webhook_cursors,
 * webhook_deliveries). Used by lib/webhook.c only.
 */
#ifndef KW_STORE_WEBHOOK_H
#define KW_STORE_WEBHOOK_H

#include <stdint.h>

#include "alert.h"
#include "store.h"

/* Set the cursor of source ("alerts" or "security") to its newest row unless it has one. */
int kw_store_webhook_cursor_init(struct kw_store *s, const char *source) KW_WUR;
/* The cursor of source, or -1 (logged). */
int64_t kw_store_webhook_cursor(struct kw_store *s, const char *source);
int kw_store_webhook_cursor_set(struct kw_store *s, const char *source, int64_t last_id) KW_WUR;

/* Rows after a cursor, oldest first, at most limit; strings valid during the call only. */
struct kw_wh_security_row {
	int64_t id, at;
	const char *type, *client, *detail;
};
int kw_store_webhook_alerts_after(struct kw_store *s, int64_t after, int limit,
				  void (*fn)(void *ctx, const struct kw_alert *row),
				  void *ctx) KW_WUR;
int kw_store_webhook_security_after(struct kw_store *s, int64_t after, int limit,
				    void (*fn)(void *ctx, const struct kw_wh_security_row *row),
				    void *ctx) KW_WUR;

/* Queue one delivery (ignored if that target already has that source row). */
int kw_store_webhook_enqueue(struct kw_store *s, const char *target, const char *source,
			     int64_t source_id, const char *payload, int64_t now_ms) KW_WUR;

struct kw_wh_delivery {
	int64_t id, attempts;
	char target[8];
	char *payload; /* owned */
};
/* Deliveries due at now_ms, oldest due first, at most max into out (payloads owned by the
 * caller). Returns how many, or -1 (logged). */
int kw_store_webhook_due(struct kw_store *s, int64_t now_ms, struct kw_wh_delivery *out,
			 int max) KW_WUR;
/* When the next pending delivery is due (Unix ms), 0 if none, -1 on error. */
int64_t kw_store_webhook_next_due(struct kw_store *s);
int kw_store_webhook_done(struct kw_store *s, int64_t id, int64_t now_s) KW_WUR;
/* Record a failed attempt: retry at next_ms, or give up (failed_at) when next_ms is 0. */
int kw_store_webhook_retry(struct kw_store *s, int64_t id, int64_t next_ms, int64_t now_s,
			   const char *error) KW_WUR;
/* Forget finished deliveries older than before_s. */
int kw_store_webhook_prune(struct kw_store *s, int64_t before_s) KW_WUR;

#endif
