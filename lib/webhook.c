/*
 * webhook.c — queueing, signing and delivering webhooks (contract in webhook.h).
 *
 * Text in the Slack/Discord fields comes partly from Kalshi (market titles inside alert
 * descriptions): it is JSON-escaped by json-c, Slack's control characters & < > are escaped
 * as Slack documents (so a title cannot write <!channel>), and Discord mentions are disabled
 * with allowed_mentions.parse = [].
 */
#include "webhook.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "post.h"
#include "store_webhook.h"
#include "version.h"

#define SEND_TIMEOUT_MS 5000
#define BATCH 100
#define MAX_BACKOFF_MS (15LL * 60 * 1000)
#define KEEP_DAYS 7
#define TEXT_MAX 1900 /* Discord's content limit is 2000 characters */

struct kw_webhooks {
	const struct kw_config *cfg;
	struct kw_store *store;
	int64_t backoff_ms;
	int64_t now_ms;
	int queued;
};

static int64_t now_ms(void)
{
	return kw_now_us() / 1000;
}

int kw_webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t len, char *out,
		    size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct kw_buf msg;
	int rc = -1;
	if (outlen < 3 + 64 + 1)
		return -1;
	kw_buf_init(&msg, 0);
	if (kw_buf_printf(&msg, "%lld.", (long long)timestamp) < 0 ||
	    kw_buf_append(&msg, body, len) < 0)
		goto out;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.data,
		  msg.len, mac, &maclen) ||
	    maclen != 32)
		goto out;
	memcpy(out, "v1=", 3);
	kw_hex(mac, maclen, out + 3);
	rc = 0;
out:
	kw_buf_free(&msg);
	return rc;
}

/* Slack's escaping for text fields, cut to TEXT_MAX bytes on a character boundary. */
static char *chat_text(const char *s)
{
	struct kw_buf b;
	kw_buf_init(&b, TEXT_MAX + 8);
	for (const char *p = s; *p && b.len < TEXT_MAX; p++) {
		const char *rep = *p == '&'   ? "&amp;"
				  : *p == '<' ? "&lt;"
				  : *p == '>' ? "&gt;"
					      : NULL;
		int ok = rep ? kw_buf_puts(&b, rep) : kw_buf_append(&b, p, 1);
		if (ok < 0)
			break;
	}
	while (b.len && ((unsigned char)b.data[b.len - 1] & 0xC0) == 0x80)
		b.data[--b.len] = '\0'; /* never end inside a UTF-8 sequence */
	if (b.len && (unsigned char)b.data[b.len - 1] >= 0xC0)
		b.data[--b.len] = '\0';
	char *out = kw_xstrdup(b.data ? b.data : "");
	kw_buf_free(&b);
	return out;
}

static char *envelope(const char *event, const char *text, json_object *detail,
		      const char *detail_key)
{
	json_object *o = json_object_new_object(), *am = json_object_new_object();
	char *t = chat_text(text);
	json_object_object_add(o, "text", json_object_new_string(t));
	json_object_object_add(o, "content", json_object_new_string(t));
	json_object_object_add(o, "username", json_object_new_string("KalshiWhale"));
	json_object_object_add(am, "parse", json_object_new_array());
	json_object_object_add(o, "allowed_mentions", am);
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, detail_key, detail);
	char *s = kw_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	free(t);
	return s;
}

struct queue_ctx {
	struct kw_webhooks *w;
	int64_t last;
	int failed;
};

static void queue_alert(void *p, const struct kw_alert *a)
{
	struct queue_ctx *q = p;
	char text[600];
	q->last = a->id;
	if (q->failed)
		return;
	json_object *d = kw_alert_json(a, NULL);
	snprintf(text, sizeof(text), "[%s] %s%s%s", a->severity, a->description,
		 a->title ? " - " : "", a->title ? a->title : "");
	char *body = envelope("whale_alert", text, d, "alert");
	if (kw_store_webhook_enqueue(q->w->store, "whale", "alerts", a->id, body, q->w->now_ms) < 0)
		q->failed = 1;
	else
		q->w->queued++;
	free(body);
}

static void queue_security(void *p, const struct kw_wh_security_row *e)
{
	struct queue_ctx *q = p;
	char text[400], ts[32];
	q->last = e->id;
	if (q->failed || strcmp(e->type, "suspicious_activity"))
		return;
	json_object *d = json_object_new_object();
	kw_fmt_rfc3339(e->at, ts, sizeof(ts));
	json_object_object_add(d, "id", json_object_new_int64(e->id));
	json_object_object_add(d, "type", json_object_new_string(e->type));
	json_object_object_add(d, "client", json_object_new_string(e->client));
	json_object_object_add(d, "detail", json_object_new_string(e->detail));
	json_object_object_add(d, "time", json_object_new_string(ts));
	snprintf(text, sizeof(text), "[security] suspicious activity from %s: %s", e->client,
		 e->detail);
	char *body = envelope("suspicious_activity", text, d, "security");
	if (kw_store_webhook_enqueue(q->w->store, "alert", "security", e->id, body, q->w->now_ms) <
	    0)
		q->failed = 1;
	else
		q->w->queued++;
	free(body);
}

static int has(const char *s)
{
	return s && *s;
}

/* Copy new source rows into the queue, one transaction per batch (cursor moves with it). */
static int queue_new(struct kw_webhooks *w)
{
	static const struct {
		const char *source;
		int is_alerts;
	} sources[] = { { "alerts", 1 }, { "security", 0 } };
	for (size_t i = 0; i < KW_ARRAY_LEN(sources); i++) {
		const char *url = sources[i].is_alerts ? w->cfg->whale_webhook_url
						       : w->cfg->alert_webhook_url;
		if (!has(url))
			continue;
		for (;;) {
			struct queue_ctx q = { w, 0, 0 };
			int64_t after = kw_store_webhook_cursor(w->store, sources[i].source);
			if (after < 0 || kw_store_begin(w->store) < 0)
				return -1;
			q.last = after;
			int rc = sources[i].is_alerts
					 ? kw_store_webhook_alerts_after(w->store, after, BATCH,
									 queue_alert, &q)
					 : kw_store_webhook_security_after(w->store, after, BATCH,
									   queue_security, &q);
			if (rc < 0 || q.failed ||
			    kw_store_webhook_cursor_set(w->store, sources[i].source, q.last) < 0 ||
			    kw_store_commit(w->store) < 0) {
				kw_store_rollback(w->store);
				return -1;
			}
			if (q.last == after)
				break;
		}
	}
	return 0;
}

/* 1 delivered, 0 failed (retry scheduled or given up), -1 database error. */
static int deliver(struct kw_webhooks *w, const struct kw_wh_delivery *d)
{
	int whale = !strcmp(d->target, "whale");
	const char *url = whale ? w->cfg->whale_webhook_url : w->cfg->alert_webhook_url;
	char sig[80], h_ts[64], h_sig[128], h_id[64], h_ev[64], why[160];
	int64_t ts = kw_now_s();
	long status = 0;
	size_t len = strlen(d->payload);
	if (!has(url)) /* the URL was removed since it was queued */
		return kw_store_webhook_retry(w->store, d->id, 0, ts, "no URL configured") < 0 ? -1
											       : 0;
	if (kw_webhook_sign(w->cfg->webhook_secret, ts, d->payload, len, sig, sizeof(sig)) < 0) {
		kw_error("webhook: cannot sign delivery %lld", (long long)d->id);
		return 0;
	}
	snprintf(h_ts, sizeof(h_ts), "X-KalshiWhale-Timestamp: %lld", (long long)ts);
	snprintf(h_sig, sizeof(h_sig), "X-KalshiWhale-Signature: %s", sig);
	snprintf(h_id, sizeof(h_id), "X-KalshiWhale-Delivery: %lld", (long long)d->id);
	snprintf(h_ev, sizeof(h_ev), "X-KalshiWhale-Event: %s",
		 whale ? "whale_alert" : "suspicious_activity");
	const char *headers[] = { "Content-Type: application/json",
				  "User-Agent: kalshiwhale-webhook/" KW_VERSION,
				  h_ts,
				  h_sig,
				  h_id,
				  h_ev,
				  NULL };
	int rc = kw_http_post(url, headers, d->payload, len, SEND_TIMEOUT_MS, &status, why,
			      sizeof(why));
	if (rc == 0 && status >= 200 && status <= 299) {
		kw_info("webhook: delivery %lld (%s) accepted with HTTP %ld", (long long)d->id,
			d->target, status);
		return kw_store_webhook_done(w->store, d->id, ts) < 0 ? -1 : 1;
	}
	if (rc == 0)
		snprintf(why, sizeof(why), "HTTP %ld", status);
	int final = (rc == 0 && status >= 400 && status <= 499 && status != 408 && status != 429) ||
		    d->attempts + 1 >= KW_WEBHOOK_MAX_ATTEMPTS;
	int64_t delay = w->backoff_ms << (d->attempts < 20 ? d->attempts : 20);
	if (delay > MAX_BACKOFF_MS || delay <= 0)
		delay = MAX_BACKOFF_MS;
	kw_warn("webhook: delivery %lld (%s) attempt %lld failed: %s; %s", (long long)d->id,
		d->target, (long long)d->attempts + 1, why, final ? "giving up" : "will retry");
	return kw_store_webhook_retry(w->store, d->id, final ? 0 : now_ms() + delay, ts, why) < 0
		       ? -1
		       : 0;
}

int kw_webhooks_drain(struct kw_webhooks *w, int64_t budget_ms, const volatile sig_atomic_t *stop)
{
	int sent = 0;
	int64_t deadline = now_ms() + budget_ms;
	if (!w)
		return 0;
	w->now_ms = now_ms();
	w->queued = 0;
	if (queue_new(w) < 0)
		return -1;
	if (w->queued)
		kw_info("webhook: %d new deliveries queued", w->queued);
	while (!(stop && *stop)) {
		struct kw_wh_delivery due[16];
		int n = kw_store_webhook_due(w->store, now_ms(), due, (int)KW_ARRAY_LEN(due));
		if (n < 0)
			return -1;
		int err = 0;
		for (int i = 0; i < n; i++) {
			int rc = err || (stop && *stop) ? 0 : deliver(w, &due[i]);
			if (rc < 0)
				err = 1;
			sent += rc > 0;
			free(due[i].payload);
		}
		if (err)
			return -1;
		if (n)
			continue;
		int64_t next = kw_store_webhook_next_due(w->store);
		if (next <= 0 || next > deadline)
			break;
		/* A retry falls due within the budget: wait for it (a signal ends the wait). */
		int64_t wait = next - now_ms();
		if (wait > 0) {
			struct timespec t = { (time_t)(wait / 1000),
					      (long)(wait % 1000) * 1000000 };
			nanosleep(&t, NULL);
		}
	}
	if (kw_store_webhook_prune(w->store, kw_now_s() - KEEP_DAYS * 86400) < 0)
		return -1;
	return sent;
}

struct kw_webhooks *kw_webhooks_new(const struct kw_config *cfg, struct kw_store *store)
{
	if (!has(cfg->alert_webhook_url) && !has(cfg->whale_webhook_url))
		return NULL;
	if (!has(cfg->webhook_secret) || strlen(cfg->webhook_secret) < KW_WEBHOOK_MIN_SECRET) {
		kw_error("webhook: WEBHOOK_SECRET must be at least %d bytes to sign webhooks; none "
			 "are sent",
			 KW_WEBHOOK_MIN_SECRET);
		return NULL;
	}
	if ((has(cfg->whale_webhook_url) && kw_store_webhook_cursor_init(store, "alerts") < 0) ||
	    (has(cfg->alert_webhook_url) && kw_store_webhook_cursor_init(store, "security") < 0))
		return NULL;
	struct kw_webhooks *w = kw_xcalloc(1, sizeof(*w));
	w->cfg = cfg;
	w->store = store;
	w->backoff_ms = 1000;
	const char *bo = getenv("KW_WEBHOOK_BACKOFF_MS"); /* tests: retries without long sleeps */
	int64_t v;
	if (bo && kw_parse_i64(bo, 1, 600000, &v) == 0)
		w->backoff_ms = v;
	return w;
}

void kw_webhooks_free(struct kw_webhooks *w)
{
	free(w);
}
