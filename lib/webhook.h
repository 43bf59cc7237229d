/*
 * webhook.h — outbound webhooks: suspicious-activity alerts to ALERT_WEBHOOK_URL and detection
 * (whale) alerts to WHALE_WEBHOOK_URL, as JSON that Slack and Discord incoming webhooks accept
 * ({"text", "content", "username", "allowed_mentions"} plus the structured event).
 *
 * Never from inside a request: kw-fetch drains the queue after each run. Sources are followed by
 * id (alerts; security_events of type suspicious_activity, which kw-api writes), copied into
 * webhook_deliveries (idempotent), then POSTed; a failure is retried with exponential backoff
 * (KW_WEBHOOK_BACKOFF_MS, default 1000 ms, doubling, at most 15 minutes apart), within the
 * drain's time budget and on later runs, up to KW_WEBHOOK_MAX_ATTEMPTS; a 4xx other than 408
 * and 429 is final (the receiver refuses the payload; resending it cannot help).
 *
 * Signing (every request): X-KalshiWhale-Timestamp: Unix seconds, and
 *   X-KalshiWhale-Signature: v1=hex(HMAC-SHA256(WEBHOOK_SECRET, timestamp + "." + body))
 * so a receiver can check origin and reject replays older than a few minutes. Also
 * X-KalshiWhale-Event (whale_alert / suspicious_activity) and X-KalshiWhale-Delivery (its id,
 * stable across retries, for de-duplication). Without a WEBHOOK_SECRET of at least 32 bytes
 * nothing is sent (never unsigned).
 *
 * Ownership: kw_webhooks_new() borrows cfg and store for its lifetime and returns an owned
 * handle, NULL when no webhook URL is set (or the secret is missing: logged).
 */
#ifndef KW_WEBHOOK_H
#define KW_WEBHOOK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

#define KW_WEBHOOK_MAX_ATTEMPTS 8
#define KW_WEBHOOK_MIN_SECRET 32

struct kw_webhooks;

/* Set up, and start following the sources from their newest rows the first time. */
struct kw_webhooks *kw_webhooks_new(const struct kw_config *cfg, struct kw_store *store);
void kw_webhooks_free(struct kw_webhooks *w);

/*
 * Queue what is new, then deliver everything due, waiting for retries that fall due within
 * budget_ms (stop ends the wait early). Returns deliveries accepted, or -1 on a database error.
 */
int kw_webhooks_drain(struct kw_webhooks *w, int64_t budget_ms, const volatile sig_atomic_t *stop);

/* The signature header value for a body sent at timestamp (exposed for the unit test). */
int kw_webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t len, char *out,
		    size_t outlen) KW_WUR;

#endif
