/*
 * test_sentry.c — error reports (lib/sentry.c, lib/sentry_send.c) without a Sentry server:
 * nothing at all without a usable SENTRY_DSN; captured events spooled as the event JSON the
 * protocol wants (sentry.h), with our tags and nothing else; at most KW_SENTRY_MAX_PER_MIN
 * a minute; the spool sent as envelopes to a one-shot server on 127.0.0.1 (loopback.h) with
 * the X-Sentry-Auth header, a crash report turned into a fatal event; and a report whose
 * server cannot be reached put back for the next sender, while queued events are dropped.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "loopback.h"
#include "sentry.h"
#include "version.h"

struct spool {
	char dir[128];
	char dsn[128];
	struct kw_config cfg;
};

/* A fresh spool directory and a configuration whose DSN points at port on 127.0.0.1. */
static void spool_setup(struct spool *sp, const char *name, int port)
{
	memset(sp, 0, sizeof(*sp));
	snprintf(sp->dir, sizeof(sp->dir), "/tmp/kw-test-sentry-%s-%d", name, (int)getpid());
	snprintf(sp->dsn, sizeof(sp->dsn), "http://pubkey123@127.0.0.1:%d/42", port);
	mkdir(sp->dir, 0700);
	sp->cfg.sentry_dsn = sp->dsn;
	sp->cfg.sentry_spool_dir = sp->dir;
	sp->cfg.environment = KW_ENV_PRODUCTION;
	sp->cfg.database_path = "/tmp/kw-test-sentry.db";
}

/* Names in the spool directory with this prefix; the first into first (may be NULL). */
static int spool_count(const struct spool *sp, const char *prefix, char *first, size_t len)
{
	int n = 0;
	DIR *d = opendir(sp->dir);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		if (!n && first)
			snprintf(first, len, "%s/%s", sp->dir, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* A crash report as the fatal-signal handler writes it (lib/sentry.c, on_fatal). */
static void spool_crash(const struct spool *sp, const char *name, const char *text)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/%s", sp->dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void spool_teardown(struct spool *sp)
{
	DIR *d = opendir(sp->dir);
	char path[400];
	for (struct dirent *de; d && (de = readdir(d));) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", sp->dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(sp->dir);
}

static const char *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

static void test_off_without_a_dsn(void **state)
{
	(void)state;
	struct kw_config cfg = { .sentry_dsn = "" };
	assert_null(kw_sentry_start(&cfg, "kw-test"));
	cfg.sentry_dsn = "not a dsn";
	assert_null(kw_sentry_start(&cfg, "kw-test"));
	/* Every call is a no-op on the NULL handle. */
	kw_sentry_capture(NULL, "error", "lost", NULL);
	assert_int_equal(kw_sentry_pending(NULL), 0);
	assert_int_equal(kw_sentry_spool(NULL), 0);
	assert_int_equal(kw_sentry_flush(NULL), 0);
	kw_sentry_send_spool(NULL);
	kw_sentry_free(NULL);
}

static void test_spooled_event(void **state)
{
	(void)state;
	struct spool sp;
	char path[400];
	spool_setup(&sp, "event", 9);
	struct kw_sentry *s = kw_sentry_start(&sp.cfg, "kw-test");
	assert_non_null(s);
	const char *tags[] = { "route", "/api/v1/markets", "status", "500", NULL };
	kw_sentry_capture(s, "error", "GET /api/v1/markets answered 500", tags);
	assert_int_equal(kw_sentry_pending(s), 1);
	assert_int_equal(kw_sentry_spool(s), 1);
	assert_int_equal(kw_sentry_pending(s), 0);
	assert_int_equal(spool_count(&sp, "event-", path, sizeof(path)), 1);
	assert_int_equal(spool_count(&sp, ".event-", NULL, 0), 0); /* no temporary left */

	json_object *o = json_object_from_file(path);
	assert_non_null(o);
	const char *id = member(o, "event_id");
	assert_int_equal(strlen(id), 32);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	assert_non_null(strstr(path, id)); /* the file is named for its event */
	assert_string_equal(member(o, "level"), "error");
	assert_string_equal(member(o, "platform"), "c");
	assert_string_equal(member(o, "logger"), "kw-test");
	assert_string_equal(member(o, "release"), "kalshiwhale@" KW_VERSION);
	assert_string_equal(member(o, "environment"), "production");
	assert_true(llabs(json_object_get_int64(json_object_object_get(o, "timestamp")) -
			  kw_now_s()) < 60);
	json_object *msg = json_object_object_get(o, "message");
	assert_string_equal(member(msg, "formatted"), "GET /api/v1/markets answered 500");
	json_object *t = json_object_object_get(o, "tags");
	assert_int_equal(json_object_object_length(t), 3);
	assert_string_equal(member(t, "program"), "kw-test");
	assert_string_equal(member(t, "route"), "/api/v1/markets");
	assert_string_equal(member(t, "status"), "500");
	json_object_put(o);
	kw_sentry_free(s);
	spool_teardown(&sp);
}

static void test_per_minute_cap(void **state)
{
	(void)state;
	struct spool sp;
	int spooled = 0;
	spool_setup(&sp, "cap", 9);
	struct kw_sentry *s = kw_sentry_start(&sp.cfg, "kw-test");
	assert_non_null(s);
	for (int i = 0; i < KW_SENTRY_MAX_PER_MIN + 10; i++) {
		kw_sentry_capture(s, "warning", "storm", NULL);
		spooled += kw_sentry_spool(s);
	}
	assert_int_equal(spooled, KW_SENTRY_MAX_PER_MIN);
	/* The queue itself is bounded too, whatever the cap. */
	assert_true(KW_SENTRY_QUEUE < KW_SENTRY_MAX_PER_MIN);
	assert_int_equal(spool_count(&sp, "event-", NULL, 0), KW_SENTRY_MAX_PER_MIN);
	kw_sentry_free(s);
	spool_teardown(&sp);
}

static void test_crash_report_sent(void **state)
{
	(void)state;
	struct loopback lb;
	struct spool sp;
	assert_int_equal(loopback_start(&lb, 200), 0);
	spool_setup(&sp, "crash", lb.port);
	struct kw_sentry *s = kw_sentry_start(&sp.cfg, "kw-fetch");
	assert_non_null(s);
	spool_crash(&sp, "crash-4242-1795000000.report",
		    "program=kw-api\nsignal=11\ntime=1795000000\npid=4242\n");
	kw_sentry_send_spool(s);
	loopback_wait(&lb);
	assert_int_equal(spool_count(&sp, "crash-", NULL, 0), 0); /* sent: gone */

	assert_true(!strncmp(lb.req, "POST /api/42/envelope/ HTTP/1.1\r\n", 33));
	assert_non_null(strstr(lb.req, "\r\nX-Sentry-Auth: Sentry sentry_version=7, "
				       "sentry_client=kalshiwhale/" KW_VERSION
				       ", sentry_key=pubkey123\r\n"));
	assert_non_null(strstr(lb.req, "\r\nContent-Type: application/x-sentry-envelope\r\n"));
	/* The envelope: a header line, an item header with the payload's length, the event. */
	assert_non_null(lb.body);
	char *body = strdup(lb.body);
	char *item = strchr(body, '\n');
	assert_non_null(item);
	*item++ = '\0';
	char *payload = strchr(item, '\n');
	assert_non_null(payload);
	*payload++ = '\0';
	char *end = strchr(payload, '\n');
	assert_non_null(end);
	*end = '\0';
	json_object *h = json_tokener_parse(body), *ih = json_tokener_parse(item);
	json_object *ev = json_tokener_parse(payload);
	assert_non_null(h);
	assert_non_null(ih);
	assert_non_null(ev);
	assert_string_equal(member(h, "event_id"), member(ev, "event_id"));
	assert_string_equal(member(ih, "type"), "event");
	assert_int_equal(json_object_get_int64(json_object_object_get(ih, "length")),
			 (int64_t)strlen(payload));
	assert_string_equal(member(ev, "level"), "fatal");
	assert_int_equal(json_object_get_int64(json_object_object_get(ev, "timestamp")),
			 1795000000);
	json_object *msg = json_object_object_get(ev, "message");
	assert_string_equal(member(msg, "formatted"), "kw-api crashed: SIGSEGV (signal 11)");
	json_object *t = json_object_object_get(ev, "tags");
	assert_string_equal(member(t, "crashed_program"), "kw-api");
	assert_string_equal(member(t, "signal"), "SIGSEGV");
	assert_string_equal(member(t, "program"), "kw-fetch");
	json_object_put(h);
	json_object_put(ih);
	json_object_put(ev);
	free(body);
	kw_sentry_free(s);
	spool_teardown(&sp);
}

static void test_unreachable_server(void **state)
{
	(void)state;
	struct spool sp;
	spool_setup(&sp, "down", loopback_closed_port());
	struct kw_sentry *s = kw_sentry_start(&sp.cfg, "kw-test");
	assert_non_null(s);
	/* A spooled event and a crash report stay for the next sender, under their names. */
	kw_sentry_capture(s, "error", "spooled", NULL);
	assert_int_equal(kw_sentry_spool(s), 1);
	spool_crash(&sp, "crash-1-1795000000.report", "program=kw-ws\nsignal=6\ntime=1795000000\n");
	kw_sentry_send_spool(s);
	assert_int_equal(spool_count(&sp, "event-", NULL, 0), 1);
	assert_int_equal(spool_count(&sp, "crash-1-1795000000.report", NULL, 0), 1);
	assert_int_equal(kw_sentry_pending(s), 0);
	/* Queued events are sent once: a failure drops them (no growing backlog). */
	kw_sentry_capture(s, "error", "queued", NULL);
	assert_int_equal(kw_sentry_flush(s), 0);
	assert_int_equal(kw_sentry_pending(s), 0);
	kw_sentry_free(s);
	spool_teardown(&sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_without_a_dsn),  cmocka_unit_test(test_spooled_event),
		cmocka_unit_test(test_per_minute_cap),	   cmocka_unit_test(test_crash_report_sent),
		cmocka_unit_test(test_unreachable_server),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
