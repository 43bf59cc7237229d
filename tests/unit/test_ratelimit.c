/*
 * test_ratelimit.c — the shared GCRA table (lib/ratelimit.c): bursts and refill, eviction when
 * the table is full, and exactness across processes (however several processes interleave on
 * one table, exactly `burst` takes succeed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ratelimit.h"

static void restore_none(struct kw_rl *rl, void *ctx)
{
	(void)rl;
	(*(int *)ctx)++;
}

static void test_ratelimit(void **state)
{
	(void)state;
	char path[] = "/tmp/kw-test-rl-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[200];
	int restored = 0;
	struct kw_rl *rl = kw_rl_open(path, 7, restore_none, &restored, err, sizeof(err));
	assert_non_null(rl);
	assert_int_equal(restored, 1);
	const int64_t t0 = 1800000000LL * 1000000, iv = 1000000; /* 1 per second, burst 3 */
	struct kw_rl_result r;
	for (int i = 0; i < 3; i++) {
		kw_rl_take(rl, "k:1", t0, iv, 3, &r);
		assert_true(r.allowed);
		assert_int_equal(r.remaining, 2 - i);
		assert_int_equal(r.limit, 3);
	}
	for (int i = 0; i < 5; i++) { /* refusals take nothing */
		kw_rl_take(rl, "k:1", t0, iv, 3, &r);
		assert_false(r.allowed);
		assert_int_equal(r.retry_after_s, 1);
		assert_int_equal(r.remaining, 0);
		assert_int_equal(r.reset_s, 3);
	}
	kw_rl_take(rl, "k:1", t0 + iv, iv, 3, &r); /* one interval later: exactly one */
	assert_true(r.allowed);
	kw_rl_take(rl, "k:1", t0 + iv, iv, 3, &r);
	assert_false(r.allowed);
	kw_rl_peek(rl, "k:2", t0, iv, 3, &r); /* another key, untouched, and peek takes none */
	assert_true(r.allowed);
	assert_int_equal(r.remaining, 3);
	kw_rl_peek(rl, "k:2", t0, iv, 3, &r);
	assert_int_equal(r.remaining, 3);
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	assert_int_equal(kw_rl_raise(rl, "b:x", t0 + 50), 0);
	assert_int_equal(kw_rl_raise(rl, "b:x", t0 + 10), t0 + 50);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 50);

	/* Write-behind: one election per second; collect returns changed live entries once. */
	assert_true(kw_rl_flush_due(rl, t0));
	assert_false(kw_rl_flush_due(rl, t0 + 10));
	assert_true(kw_rl_flush_due(rl, t0 + 1000001));
	struct kw_rl_entry *e = calloc(kw_rl_capacity(rl), sizeof(*e));
	size_t n = kw_rl_collect(rl, t0, e, kw_rl_capacity(rl));
	assert_int_equal(n, 2); /* k:1 and b:x (k:2 was only peeked) */
	assert_int_equal(kw_rl_collect(rl, t0, e, kw_rl_capacity(rl)), 0);
	kw_rl_take(rl, "k:1", t0 + 5 * iv, iv, 3, &r);
	n = kw_rl_collect(rl, t0, e, kw_rl_capacity(rl));
	assert_int_equal(n, 1);
	assert_int_equal(e[0].key, kw_rl_digest("k:1"));
	kw_rl_close(rl);

	/* Same owner: the table is reused. Another owner (a new database): rebuilt. */
	rl = kw_rl_open(path, 7, restore_none, &restored, err, sizeof(err));
	assert_int_equal(restored, 1);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 50);
	kw_rl_close(rl);
	rl = kw_rl_open(path, 8, restore_none, &restored, err, sizeof(err));
	assert_int_equal(restored, 2);
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	kw_rl_load(rl, kw_rl_digest("b:x"), t0 + 99);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 99);
	/* Cleared (kw-admin unblock): gone, and nothing for the write-behind to store. */
	kw_rl_clear(rl, "b:x");
	kw_rl_clear(rl, "b:never-seen");
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	assert_int_equal(kw_rl_collect(rl, t0, e, kw_rl_capacity(rl)), 0);

	/* Far more keys than one group holds: evictions, never a failure. */
	char key[32];
	for (int i = 0; i < 200000; i++) {
		snprintf(key, sizeof(key), "a:10.0.%d.%d", i / 256, i % 256);
		kw_rl_take(rl, key, t0, iv, 3, &r);
		assert_true(r.allowed);
	}
	assert_true(kw_rl_evictions(rl) > 0);
	kw_rl_close(rl);
	free(e);
	unlink(path);
}

/* Several processes on one table: exactly `burst` takes succeed, however they interleave. */
static void test_ratelimit_processes_exact(void **state)
{
	(void)state;
	char path[] = "/tmp/kw-test-rlp-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[200];
	struct kw_rl *rl = kw_rl_open(path, 1, NULL, NULL, err, sizeof(err));
	assert_non_null(rl);
	const int procs = 4, tries = 4000, burst = 2500;
	const int64_t t0 = kw_now_us(), hour = 3600LL * 1000000;
	int pipes[4][2];
	for (int i = 0; i < procs; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct kw_rl *c = kw_rl_open(path, 1, NULL, NULL, err, sizeof(err));
			int ok = 0;
			struct kw_rl_result r;
			for (int j = 0; c && j < tries; j++) {
				/* A different key now and then exercises claiming in parallel. */
				char other[32];
				snprintf(other, sizeof(other), "a:%d.%d", i, j % 50);
				kw_rl_take(c, other, t0, hour, 1, &r);
				kw_rl_take(c, "k:shared", t0 + j, hour, burst, &r);
				ok += r.allowed;
			}
			if (write(pipes[i][1], &ok, sizeof(ok)) != sizeof(ok))
				_exit(2);
			_exit(c ? 0 : 1);
		}
		close(pipes[i][1]);
	}
	int total = 0;
	for (int i = 0; i < procs; i++) {
		int ok = 0;
		assert_int_equal(read(pipes[i][0], &ok, sizeof(ok)), sizeof(ok));
		close(pipes[i][0]);
		total += ok;
	}
	for (int i = 0; i < procs; i++) {
		int status;
		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(total, burst);
	kw_rl_close(rl);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_ratelimit_processes_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
