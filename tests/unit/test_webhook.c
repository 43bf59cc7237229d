/*
 * test_webhook.c — outbound webhooks (lib/webhook.c): the signature against a known answer
 * (computed apart, with Python's hmac), no handle without a URL or without a long enough
 * secret, and one drain end to end on a temporary database: an alert stored after start-up
 * and a suspicious_activity event are queued (older rows and other event types are not), the
 * alert is POSTed to a one-shot server on 127.0.0.1 (loopback.h) as Slack/Discord JSON with
 * the signing headers, and the event whose receiver refuses the connection waits for a retry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "loopback.h"
#include "fetched.h"
#include "store.h"
#include "store_security.h"
#include "store_webhook.h"
#include "store_whale.h"
#include "webhook.h"

#define SECRET "0123456789abcdef0123456789abcdef"

static void test_signature_known_answer(void **state)
{
	(void)state;
	char sig[80];
	const char body[] = "{\"text\":\"hi\"}";
	assert_int_equal(
		kw_webhook_sign(SECRET, 1700000000, body, sizeof(body) - 1, sig, sizeof(sig)), 0);
	assert_string_equal(sig,
			    "v1=ac0ad1bf4146cca883572bbc9bfceade2f62e36ec39d359a9121178dfe0d026c");
	/* The timestamp is signed: a replay under another time does not verify. */
	assert_int_equal(
		kw_webhook_sign(SECRET, 1700000001, body, sizeof(body) - 1, sig, sizeof(sig)), 0);
	assert_string_equal(sig,
			    "v1=7c60ee3d545ba771ef9e71e3b6791530b2cbbfead1a89bbb7737737ed23ef245");
	assert_int_equal(kw_webhook_sign(SECRET, 1, body, 2, sig, 60), -1); /* no room */
}

static void test_no_handle_without_url_or_secret(void **state)
{
	(void)state;
	struct kw_config cfg = { .webhook_secret = SECRET };
	assert_null(kw_webhooks_new(&cfg, NULL)); /* no URL: nothing to do, no store touched */
	cfg.whale_webhook_url = "http://127.0.0.1:9/";
	cfg.webhook_secret = "too-short";
	assert_null(kw_webhooks_new(&cfg, NULL)); /* never unsigned */
	cfg.webhook_secret = "";
	assert_null(kw_webhooks_new(&cfg, NULL));
}

static void add_alert(struct kw_store *s, const char *key, int64_t at)
{
	struct kw_alert_new a = alert_row(key, "whale_trade", "KXTEST-26", at);
	a.description = "Whale trade: $60,000.00 taker premium in KXTEST-26";
	a.data = "{\"notional_usd\":60000}";
	a.strength = 60000000000LL;
	assert_int_equal(kw_store_alert_insert(s, &a), 1);
}

static const char *header(const char *req, const char *name, char *out, size_t len)
{
	const char *p = strcasestr(req, name);
	assert_non_null(p);
	p += strlen(name);
	size_t n = strcspn(p, "\r\n");
	assert_true(n < len);
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

static void test_drain(void **state)
{
	(void)state;
	char path[128], whale_url[64], alert_url[64];
	struct kw_store *s = open_temp(path, sizeof(path), "webhook");
	int64_t now = kw_now_s();
	add_alert(s, "whale_trade:KXTEST-26:before", now - 60); /* before start-up: not sent */

	struct loopback lb;
	assert_int_equal(loopback_start(&lb, 200), 0);
	snprintf(whale_url, sizeof(whale_url), "http://127.0.0.1:%d/whales", lb.port);
	snprintf(alert_url, sizeof(alert_url), "http://127.0.0.1:%d/security",
		 loopback_closed_port());
	struct kw_config cfg = { .whale_webhook_url = whale_url,
				 .alert_webhook_url = alert_url,
				 .webhook_secret = SECRET };
	struct kw_webhooks *w = kw_webhooks_new(&cfg, s);
	assert_non_null(w);
	add_alert(s, "whale_trade:KXTEST-26:after", now);
	assert_int_equal(
		kw_store_sec_event_add(s, now, "auth_failed", "203.0.113.9", 0, "bad key", NULL),
		0);
	assert_int_equal(kw_store_sec_event_add(s, now, "suspicious_activity", "203.0.113.9", 0,
						"42 failed authentications in 60 s", NULL),
			 0);
	assert_int_equal(kw_webhooks_drain(w, 0, NULL), 1);
	loopback_wait(&lb);

	/* What the receiver got: signed, and the alert as the API shows it. */
	char ts[32], sig[96], event[64], want[96];
	assert_true(!strncmp(lb.req, "POST /whales HTTP/1.1\r\n", 23));
	header(lb.req, "\r\nX-KalshiWhale-Timestamp: ", ts, sizeof(ts));
	header(lb.req, "\r\nX-KalshiWhale-Signature: ", sig, sizeof(sig));
	header(lb.req, "\r\nX-KalshiWhale-Event: ", event, sizeof(event));
	assert_string_equal(event, "whale_alert");
	assert_non_null(strcasestr(lb.req, "\r\nX-KalshiWhale-Delivery: "));
	assert_non_null(lb.body);
	assert_int_equal(kw_webhook_sign(SECRET, strtoll(ts, NULL, 10), lb.body, strlen(lb.body),
					 want, sizeof(want)),
			 0);
	assert_string_equal(sig, want);
	assert_true(llabs(strtoll(ts, NULL, 10) - kw_now_s()) < 60);
	json_object *o = json_tokener_parse(lb.body), *alert = NULL;
	assert_non_null(o);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "text")),
			    "[high] Whale trade: $60,000.00 taker premium in KXTEST-26");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "content")),
			    "[high] Whale trade: $60,000.00 taker premium in KXTEST-26");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "username")),
			    "KalshiWhale");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "event")),
			    "whale_alert");
	assert_true(json_object_object_get_ex(o, "alert", &alert));
	assert_string_equal(json_object_get_string(json_object_object_get(alert, "ticker")),
			    "KXTEST-26");
	assert_string_equal(json_object_get_string(json_object_object_get(alert, "type")),
			    "whale_trade");
	json_object_put(o);

	/* The refused one waits for its retry; the auth_failed event was never queued. */
	struct kw_wh_delivery due[4];
	int n = kw_store_webhook_due(s, (kw_now_s() + 3600) * 1000, due, 4);
	assert_int_equal(n, 1);
	assert_string_equal(due[0].target, "alert");
	assert_int_equal(due[0].attempts, 1);
	o = json_tokener_parse(due[0].payload);
	assert_non_null(o);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "event")),
			    "suspicious_activity");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "text")),
			    "[security] suspicious activity from 203.0.113.9: 42 failed "
			    "authentications in 60 s");
	json_object_put(o);
	free(due[0].payload);
	assert_true(kw_store_webhook_next_due(s) > 0);

	kw_webhooks_free(w);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_known_answer),
		cmocka_unit_test(test_no_handle_without_url_or_secret),
		cmocka_unit_test(test_drain),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
