/*
 * test_store_webhook.c — the webhook queue (lib/store_webhook.c) through the public store API
 * on a temporary database: source cursors that start at the newest row and only move when
 * asked, the rows after a cursor, a delivery queued once per target and source row, due in
 * order, retried later or given up, done, and pruned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fetched.h"
#include "store_security.h"
#include "store_webhook.h"
#include "store_whale.h"

static void add_alert(struct kw_store *s, const char *key, int64_t at)
{
	struct kw_alert_new a = alert_row(key, "whale_trade", "KXA-1", at);
	assert_int_equal(kw_store_alert_insert(s, &a), 1);
}

struct seen {
	char text[256];
};

static void on_alert(void *ctx, const struct kw_alert *a)
{
	struct seen *sn = ctx;
	size_t n = strlen(sn->text);
	snprintf(sn->text + n, sizeof(sn->text) - n, "%s%s", n ? "," : "", a->description);
}

static void on_security(void *ctx, const struct kw_wh_security_row *e)
{
	struct seen *sn = ctx;
	size_t n = strlen(sn->text);
	snprintf(sn->text + n, sizeof(sn->text) - n, "%s%s/%s", n ? "," : "", e->type, e->detail);
}

static void test_cursors_and_sources(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "webhook-src");
	int64_t now = kw_now_s();
	add_alert(s, "old", now - 100);
	assert_int_equal(kw_store_webhook_cursor_init(s, "alerts"), 0);
	int64_t c = kw_store_webhook_cursor(s, "alerts");
	assert_true(c > 0); /* starts at the newest row: "old" is never sent */
	add_alert(s, "new1", now);
	add_alert(s, "new2", now);
	assert_int_equal(kw_store_webhook_cursor_init(s, "alerts"), 0); /* kept, not moved */
	assert_int_equal(kw_store_webhook_cursor(s, "alerts"), c);
	struct seen sn = { "" };
	assert_int_equal(kw_store_webhook_alerts_after(s, c, 10, on_alert, &sn), 0);
	assert_string_equal(sn.text, "new1,new2");
	sn.text[0] = '\0';
	assert_int_equal(kw_store_webhook_alerts_after(s, c, 1, on_alert, &sn), 0);
	assert_string_equal(sn.text, "new1");
	assert_int_equal(kw_store_webhook_cursor_set(s, "alerts", c + 2), 0);
	assert_int_equal(kw_store_webhook_cursor(s, "alerts"), c + 2);

	assert_int_equal(kw_store_webhook_cursor_init(s, "security"), 0);
	int64_t sc = kw_store_webhook_cursor(s, "security");
	assert_int_equal(kw_store_sec_event_add(s, now, "suspicious_activity", "192.0.2.1", 0,
						"many failures", NULL),
			 0);
	sn.text[0] = '\0';
	assert_int_equal(kw_store_webhook_security_after(s, sc, 10, on_security, &sn), 0);
	assert_string_equal(sn.text, "suspicious_activity/many failures");
	kw_store_close(s);
	unlink(path);
}

static void test_queue(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "webhook-queue");
	int64_t now_s = kw_now_s(), now_ms = now_s * 1000;
	struct kw_wh_delivery due[8];
	assert_int_equal(kw_store_webhook_next_due(s), 0);
	assert_int_equal(kw_store_webhook_enqueue(s, "whale", "alerts", 1, "{\"n\":1}", now_ms), 0);
	assert_int_equal(kw_store_webhook_enqueue(s, "whale", "alerts", 2, "{\"n\":2}", now_ms + 1),
			 0);
	/* Once per target and source row: a second copy is ignored, another target is not. */
	assert_int_equal(kw_store_webhook_enqueue(s, "whale", "alerts", 1, "{\"n\":9}", now_ms), 0);
	assert_int_equal(
		kw_store_webhook_enqueue(s, "alert", "security", 1, "{\"s\":1}", now_ms + 2), 0);
	int n = kw_store_webhook_due(s, now_ms + 10, due, 8);
	assert_int_equal(n, 3);
	assert_string_equal(due[0].payload, "{\"n\":1}"); /* oldest due first */
	assert_string_equal(due[0].target, "whale");
	assert_int_equal(due[0].attempts, 0);
	assert_string_equal(due[1].payload, "{\"n\":2}");
	assert_string_equal(due[2].target, "alert");
	int64_t first = due[0].id, second = due[1].id, third = due[2].id;
	for (int i = 0; i < n; i++)
		free(due[i].payload);
	assert_int_equal(kw_store_webhook_due(s, now_ms + 10, due, 1), 1); /* at most max */
	free(due[0].payload);

	/* Done, retried a minute later, given up: only the retry stays, due when it is. */
	assert_int_equal(kw_store_webhook_done(s, first, now_s), 0);
	assert_int_equal(kw_store_webhook_retry(s, second, now_ms + 60000, now_s, "HTTP 503"), 0);
	assert_int_equal(kw_store_webhook_retry(s, third, 0, now_s, "HTTP 400"), 0);
	assert_int_equal(kw_store_webhook_due(s, now_ms + 10, due, 8), 0);
	assert_int_equal(kw_store_webhook_next_due(s), now_ms + 60000);
	n = kw_store_webhook_due(s, now_ms + 60000, due, 8);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].id, second);
	assert_int_equal(due[0].attempts, 1);
	free(due[0].payload);

	/* Pruning drops finished deliveries (done or given up) older than the cut. */
	assert_int_equal(kw_store_webhook_prune(s, now_s + 1), 0);
	assert_int_equal(kw_store_webhook_enqueue(s, "whale", "alerts", 1, "{\"n\":1}", now_ms), 0);
	n = kw_store_webhook_due(s, now_ms + 60000, due, 8);
	assert_int_equal(n, 2); /* the pending retry, and row 1 queued again after its prune */
	for (int i = 0; i < n; i++)
		free(due[i].payload);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cursors_and_sources),
		cmocka_unit_test(test_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
