/*
 * test_store_security.c — keys, revoked tokens, security events, blocks and the limiter's
 * stored copy (lib/store_security.c), through the public store API on a temporary database:
 * what kw-admin and the workers write is what they read back; revocations are seen at once;
 * a worker's rows land in one transaction; the limiter's copy survives a rebuilt table (the
 * restore after a reboot) and an unblock removes both the block and its copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "ratelimit.h"
#include "fetched.h"
#include "store.h"
#include "store_metrics.h"
#include "store_security.h"

#define T0 1795000000LL
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void on_key(const struct kw_key_row *k, void *ctx)
{
	char *names = ctx;
	size_t n = strlen(names);
	snprintf(names + n, 128 - n, "%s%s", n ? "," : "", k->name);
}

static void test_keys_and_tokens(void **state)
{
	(void)state;
	char path[128], names[128] = "";
	struct kw_store *s = open_temp(path, sizeof(path), "security-keys");
	int64_t a = 0, b = 0;
	struct kw_key_row k;
	assert_int_equal(
		kw_store_key_insert(s, "dashboard", "kwk_aaaa", HASH_A, KW_SCOPE_READ, 120, T0, &a),
		0);
	assert_int_equal(
		kw_store_key_insert(s, "ops", "kwk_bbbb", HASH_B, KW_SCOPE_ADMIN, 0, T0 + 1, &b),
		0);
	assert_true(a > 0 && b > a);
	assert_int_equal(kw_store_key_count_active(s), 2);

	assert_int_equal(kw_store_key_find(s, HASH_A, &k), 1);
	assert_int_equal(k.id, a);
	assert_string_equal(k.name, "dashboard");
	assert_string_equal(k.prefix, "kwk_aaaa");
	assert_int_equal(k.scope, KW_SCOPE_READ);
	assert_int_equal(k.rate_per_minute, 120);
	assert_int_equal(k.created_at, T0);
	assert_int_equal(k.last_used_at, 0);
	assert_int_equal(k.revoked_at, 0);
	assert_int_equal(kw_store_key_find(s, "cccc", &k), 0);
	assert_int_equal(kw_store_key_get(s, b, &k), 1);
	assert_string_equal(k.key_sha256, HASH_B);
	assert_int_equal(kw_store_key_get(s, b + 100, &k), 0);

	/* Use is recorded, at most once a minute. */
	assert_int_equal(kw_store_key_find(s, HASH_A, &k), 1);
	kw_store_key_touch(s, &k, T0 + 100);
	assert_int_equal(kw_store_key_find(s, HASH_A, &k), 1);
	assert_int_equal(k.last_used_at, T0 + 100);
	kw_store_key_touch(s, &k, T0 + 130);
	assert_int_equal(kw_store_key_find(s, HASH_A, &k), 1);
	assert_int_equal(k.last_used_at, T0 + 100);

	assert_int_equal(kw_store_key_revoke(s, a, T0 + 200), 1);
	assert_int_equal(kw_store_key_revoke(s, a, T0 + 300), 0); /* already */
	assert_int_equal(kw_store_key_find(s, HASH_A, &k), 1);	  /* still found: revoked_at says */
	assert_int_equal(k.revoked_at, T0 + 200);
	assert_int_equal(kw_store_key_count_active(s), 1);
	assert_int_equal(kw_store_key_list(s, on_key, names), 0);
	assert_string_equal(names, "dashboard,ops"); /* oldest first, revoked included */

	assert_int_equal(kw_store_token_revoked(s, "jti-1"), 0);
	assert_int_equal(kw_store_token_revoke(s, "jti-1", kw_now_s()), 1);
	assert_int_equal(kw_store_token_revoke(s, "jti-1", kw_now_s()), 0);
	assert_int_equal(kw_store_token_revoked(s, "jti-1"), 1);
	assert_int_equal(kw_store_token_revoked(s, "jti-2"), 0);
	kw_store_close(s);
	unlink(path);
}

struct events {
	char lines[8][200];
	int n;
};

static int on_event(void *ctx, const struct kw_sec_event_row *row)
{
	struct events *e = ctx;
	if (e->n < 8)
		snprintf(e->lines[e->n++], sizeof(e->lines[0]), "%s %s %s", row->type, row->client,
			 row->detail ? row->detail : "-");
	return 0;
}

static int has_line(const struct events *e, const char *line)
{
	for (int i = 0; i < e->n; i++)
		if (!strcmp(e->lines[i], line))
			return 1;
	return 0;
}

static void test_worker_rows_and_blocks(void **state)
{
	(void)state;
	char path[128], rl_path[160], err[256];
	struct kw_store *s = open_temp(path, sizeof(path), "security-rows");
	int64_t key = 0, now = kw_now_s();
	struct kw_key_row k;
	assert_int_equal(
		kw_store_key_insert(s, "bot", "kwk_aaaa", HASH_A, KW_SCOPE_READ, 0, now, &key), 0);
	struct kw_worker_row rows[3] = {
		{ .kind = KW_WROW_EVENT,
		  .at = now,
		  .type = "auth_failed",
		  .client = "198.51.100.7",
		  .detail = "key_unknown",
		  .request_id = "0123456789abcdef" },
		{ .kind = KW_WROW_BLOCK,
		  .at = now,
		  .until = now + 900,
		  .type = "auth_failures",
		  .client = "198.51.100.7" },
		{ .kind = KW_WROW_KEY_USE, .at = now, .key_id = key },
	};
	assert_int_equal(kw_store_worker_rows(s, rows, 3), 0);
	assert_int_equal(kw_store_sec_event_add(s, now, "cors_origin_denied", "192.0.2.1", 0,
						"origin_not_allowed", NULL),
			 0);
	struct events e = { .n = 0 };
	assert_int_equal(kw_store_security_recent(s, now - 60, 10, on_event, &e), 0);
	assert_true(has_line(&e, "auth_failed 198.51.100.7 key_unknown"));
	assert_true(has_line(&e, "cors_origin_denied 192.0.2.1 origin_not_allowed"));
	assert_int_equal(kw_store_key_get(s, key, &k), 1);
	assert_int_equal(k.last_used_at, now);

	/* The limiter's copy: saved, restored into a rebuilt table, removed by an unblock. */
	snprintf(rl_path, sizeof(rl_path), "%s-rl.shm", path);
	unlink(rl_path);
	struct kw_rl *rl = kw_rl_open(rl_path, 1, NULL, NULL, err, sizeof(err));
	assert_non_null(rl);
	int64_t now_us = now * 1000000;
	struct kw_rl_entry saved[2] = {
		{ kw_rl_digest(rl, "b:198.51.100.7"), now_us + 900000000LL },
		{ kw_rl_digest(rl, "a:203.0.113.5"), now_us + 5000000LL },
	};
	uint64_t block_digest = saved[0].key;
	assert_int_equal(kw_store_rl_save(s, saved, 2, now_us), 0);
	kw_rl_close(rl);
	rl = kw_rl_open(rl_path, 2, NULL, NULL, err, sizeof(err)); /* another owner: rebuilt */
	assert_non_null(rl);
	assert_int_equal(kw_rl_value(rl, "b:198.51.100.7"), 0);
	assert_int_equal(kw_store_rl_restore(s, rl, now_us), 0);
	assert_int_equal(kw_rl_value(rl, "b:198.51.100.7"), now_us + 900000000LL);
	assert_int_equal(kw_rl_value(rl, "a:203.0.113.5"), now_us + 5000000LL);

	int was = -1;
	assert_int_equal(kw_store_unblock(s, "198.51.100.7", &block_digest, 1, now + 1, &was), 0);
	assert_int_equal(was, 1);
	e.n = 0;
	assert_int_equal(kw_store_security_recent(s, now - 60, 10, on_event, &e), 0);
	int unblocked = 0;
	for (int i = 0; i < e.n; i++)
		unblocked += !strncmp(e.lines[i], "address_unblocked 198.51.100.7", 30);
	assert_int_equal(unblocked, 1);
	kw_rl_close(rl);
	rl = kw_rl_open(rl_path, 3, NULL, NULL, err, sizeof(err));
	assert_non_null(rl);
	assert_int_equal(kw_store_rl_restore(s, rl, now_us), 0);
	assert_int_equal(kw_rl_value(rl, "b:198.51.100.7"), 0); /* the block stays lifted */
	assert_int_equal(kw_rl_value(rl, "a:203.0.113.5"), now_us + 5000000LL);
	assert_int_equal(kw_store_unblock(s, "198.51.100.7", &block_digest, 1, now + 2, &was), 0);
	assert_int_equal(was, 0);
	assert_int_equal(kw_store_block_add(s, "192.0.2.9", now, now + 60, "manual"), 0);
	assert_int_equal(kw_store_unblock(s, "192.0.2.9", NULL, 0, now + 1, &was), 0);
	assert_int_equal(was, 1);
	kw_rl_close(rl);
	unlink(rl_path);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_and_tokens),
		cmocka_unit_test(test_worker_rows_and_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
