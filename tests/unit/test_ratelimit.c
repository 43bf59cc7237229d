/*
 * test_ratelimit.c — the shared GCRA table (lib/ratelimit.c): bursts and refill, exactness
 * across processes and across threads of each process sharing one handle, as a kw-api worker's
 * accept threads do (however they interleave on one table, exactly `burst` takes succeed), and
 * crowding: a key's slot is never given to another key while it still limits,
 * so filling the table with other clients can never raise a key's remaining quota; newcomers
 * to a full group fail closed and are counted; digests are keyed with a per-installation
 * secret made 0600 beside the table, which kw-admin can use without the table.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	assert_int_equal(e[0].key, kw_rl_digest(rl, "k:1"));
	kw_rl_close(rl);

	/* Same owner: the table is reused. Another owner (a new database): rebuilt. */
	rl = kw_rl_open(path, 7, restore_none, &restored, err, sizeof(err));
	assert_int_equal(restored, 1);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 50);
	kw_rl_close(rl);
	rl = kw_rl_open(path, 8, restore_none, &restored, err, sizeof(err));
	assert_int_equal(restored, 2);
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	kw_rl_load(rl, kw_rl_digest(rl, "b:x"), t0 + 99);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 99);
	/* Cleared (kw-admin unblock): gone, and nothing for the write-behind to store. */
	kw_rl_clear(rl, "b:x");
	kw_rl_clear(rl, "b:never-seen");
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	assert_int_equal(kw_rl_collect(rl, t0, e, kw_rl_capacity(rl)), 0);

	/* Far more live keys than the table holds: newcomers to a full group are refused and
	 * counted, never served by taking a live slot (see the crowding tests below). */
	char key[32];
	int refused = 0;
	for (int i = 0; i < 200000; i++) {
		snprintf(key, sizeof(key), "a:10.0.%d.%d", i / 256, i % 256);
		kw_rl_take(rl, key, t0, iv, 3, &r);
		refused += !r.allowed;
	}
	assert_true(refused > 0);
	assert_int_equal(kw_rl_full_refusals(rl), (uint64_t)refused);
	kw_rl_close(rl);
	free(e);
	unlink(path);
	char key_path[sizeof(path) + 4];
	snprintf(key_path, sizeof(key_path), "%s.key", path);
	unlink(key_path); /* the table's secret, made beside it */
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
	char key_path[sizeof(path) + 4];
	snprintf(key_path, sizeof(key_path), "%s.key", path);
	unlink(key_path); /* the table's secret, made beside it */
}

/* One thread of a process: takes from the shared key (and claims keys of its own). */
struct taker {
	struct kw_rl *rl;
	int proc, thread, tries, burst;
	int64_t t0;
	int ok;
};

static void *taker_main(void *arg)
{
	struct taker *t = arg;
	const int64_t hour = 3600LL * 1000000;
	struct kw_rl_result r;
	for (int j = 0; j < t->tries; j++) {
		char other[48];
		snprintf(other, sizeof(other), "a:%d.%d.%d", t->proc, t->thread, j % 50);
		kw_rl_take(t->rl, other, t->t0, hour, 1, &r);
		kw_rl_take(t->rl, "k:shared", t->t0 + j, hour, t->burst, &r);
		t->ok += r.allowed;
	}
	return NULL;
}

/* Several processes with several threads each on one handle per process: still exactly
 * `burst` takes succeed. */
static void test_ratelimit_threads_exact(void **state)
{
	(void)state;
	char path[] = "/tmp/kw-test-rlt-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[200];
	struct kw_rl *rl = kw_rl_open(path, 1, NULL, NULL, err, sizeof(err));
	assert_non_null(rl);
	enum { PROCS = 2, THREADS = 4 };
	const int tries = 1500, burst = 5000;
	const int64_t t0 = kw_now_us();
	int pipes[PROCS][2];
	for (int i = 0; i < PROCS; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct kw_rl *c = kw_rl_open(path, 1, NULL, NULL, err, sizeof(err));
			struct taker ts[THREADS];
			pthread_t tids[THREADS];
			int ok = 0;
			if (!c)
				_exit(1);
			for (int k = 0; k < THREADS; k++) {
				ts[k] = (struct taker){ .rl = c,
							.proc = i,
							.thread = k,
							.tries = tries,
							.burst = burst,
							.t0 = t0 };
				if (pthread_create(&tids[k], NULL, taker_main, &ts[k]))
					_exit(3);
			}
			for (int k = 0; k < THREADS; k++) {
				pthread_join(tids[k], NULL);
				ok += ts[k].ok;
			}
			kw_rl_close(c);
			if (write(pipes[i][1], &ok, sizeof(ok)) != sizeof(ok))
				_exit(2);
			_exit(0);
		}
		close(pipes[i][1]);
	}
	int total = 0;
	for (int i = 0; i < PROCS; i++) {
		int ok = 0;
		assert_int_equal(read(pipes[i][0], &ok, sizeof(ok)), sizeof(ok));
		close(pipes[i][0]);
		total += ok;
	}
	for (int i = 0; i < PROCS; i++) {
		int status;
		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* 2 x 4 x 1500 = 12000 tries for a burst of 5000. */
	assert_int_equal(total, burst);
	kw_rl_close(rl);
	unlink(path);
	char key_path[sizeof(path) + 4];
	snprintf(key_path, sizeof(key_path), "%s.key", path);
	unlink(key_path);
}

#define T0 (1800000000LL * 1000000)
#define SECOND 1000000LL

struct table {
	char dir[32];
	char path[64], key[64];
	struct kw_rl *rl;
};

static void table_open(struct table *t)
{
	char err[200];
	snprintf(t->dir, sizeof(t->dir), "/tmp/kw-test-rl-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/kw.db-rl.shm", t->dir);
	snprintf(t->key, sizeof(t->key), "%s/kw.db-rl.key", t->dir);
	t->rl = kw_rl_open(t->path, 1, NULL, NULL, err, sizeof(err));
	if (!t->rl)
		fail_msg("%s", err);
}

static void table_remove(struct table *t)
{
	kw_rl_close(t->rl);
	unlink(t->path);
	unlink(t->key);
	rmdir(t->dir);
}

/* Remaining quota of key (60 per minute, burst 60) without taking any. */
static int64_t remaining(struct kw_rl *rl, const char *key, int64_t now)
{
	struct kw_rl_result r;
	kw_rl_peek(rl, key, now, SECOND, 60, &r);
	return r.allowed ? r.remaining : 0;
}

static void test_crowding_never_raises_a_keys_quota(void **state)
{
	(void)state;
	struct table t;
	table_open(&t);
	struct kw_rl_result r;
	/* The victim key spends its burst: its slot now limits it for a minute. */
	for (int i = 0; i < 60; i++) {
		kw_rl_take(t.rl, "k:7", T0, SECOND, 60, &r);
		assert_true(r.allowed);
	}
	kw_rl_take(t.rl, "k:7", T0, SECOND, 60, &r);
	assert_false(r.allowed);
	/* Other clients fill the table with entries that stay live longer than the victim's
	 * (as refused preflights' event throttles did), then with short-lived ones. */
	char key[48];
	for (int i = 0; i < 300000; i++) {
		snprintf(key, sizeof(key), i % 2 ? "c:198.51.%d.%d" : "a:203.%d.%d.1", i / 256,
			 i % 256);
		if (i % 2)
			(void)kw_rl_raise(t.rl, key, T0 + 3600 * SECOND);
		else
			kw_rl_take(t.rl, key, T0 + i % 7, 3600 * SECOND, 1, &r);
		if (i % 10000 == 0)
			assert_int_equal(remaining(t.rl, "k:7", T0 + 1), 0);
	}
	assert_true(kw_rl_full_refusals(t.rl) > 0);
	/* Still spent: no fresh burst. Time alone refills it, one per second. */
	kw_rl_take(t.rl, "k:7", T0 + 1, SECOND, 60, &r);
	assert_false(r.allowed);
	assert_int_equal(remaining(t.rl, "k:7", T0 + 10 * SECOND), 10);
	kw_rl_take(t.rl, "k:7", T0 + SECOND, SECOND, 60, &r);
	assert_true(r.allowed);
	assert_int_equal(r.remaining, 0);
	table_remove(&t);
}

static void test_newcomers_to_a_full_group_fail_closed(void **state)
{
	(void)state;
	struct table t;
	table_open(&t);
	struct kw_rl_result r;
	char key[48];
	int refused = 0, first_refused = -1;
	/* Live for an hour each: the table fills and stays full. */
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "a:10.%d.%d.1", i / 256, i % 256);
		kw_rl_take(t.rl, key, T0, 3600 * SECOND, 1, &r);
		if (!r.allowed) {
			refused++;
			if (first_refused < 0)
				first_refused = i;
			/* Refused for lack of room: told to come back when a slot frees up. */
			assert_int_equal(r.remaining, 0);
			assert_true(r.retry_after_s >= 3600 && r.retry_after_s <= 3601);
		}
	}
	assert_true(refused > 0);
	assert_int_equal(kw_rl_full_refusals(t.rl), (uint64_t)refused);
	/* A refused newcomer's raise stores nothing and says "already set". */
	snprintf(key, sizeof(key), "a:10.%d.%d.1", first_refused / 256, first_refused % 256);
	key[0] = 'b';
	int64_t prev = kw_rl_raise(t.rl, key, T0 + SECOND);
	if (prev != INT64_MAX) /* its own digest may sit in a group with room: then stored */
		assert_int_equal(kw_rl_value(t.rl, key), T0 + SECOND);
	/* Once the hour has passed the slots are idle and serve newcomers again. */
	key[0] = 'a';
	kw_rl_take(t.rl, key, T0 + 3601 * SECOND, 3600 * SECOND, 1, &r);
	assert_true(r.allowed);
	table_remove(&t);
}

static void test_digests_are_keyed_per_installation(void **state)
{
	(void)state;
	struct table a, b;
	char err[200];
	struct stat st;
	table_open(&a);
	table_open(&b);
	assert_int_equal(stat(a.key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	/* Two installations digest the same key differently; one agrees with itself, also
	 * offline (kw-admin without a mapped table). */
	uint64_t da = kw_rl_digest(a.rl, "a:203.0.113.9"), db = kw_rl_digest(b.rl, "a:203.0.113.9");
	assert_true(da != db);
	uint64_t off = 0;
	assert_int_equal(kw_rl_digest_offline(a.path, "a:203.0.113.9", &off, err, sizeof(err)), 0);
	assert_true(off == da);
	/* A secret others could read is refused. */
	kw_rl_close(a.rl);
	assert_int_equal(chmod(a.key, 0640), 0);
	a.rl = kw_rl_open(a.path, 1, NULL, NULL, err, sizeof(err));
	assert_null(a.rl);
	assert_non_null(strstr(err, "0600"));
	assert_int_equal(chmod(a.key, 0600), 0);
	a.rl = kw_rl_open(a.path, 1, NULL, NULL, err, sizeof(err));
	assert_non_null(a.rl);
	assert_true(kw_rl_digest(a.rl, "a:203.0.113.9") == da);
	table_remove(&a);
	table_remove(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_ratelimit_processes_exact),
		cmocka_unit_test(test_ratelimit_threads_exact),
		cmocka_unit_test(test_crowding_never_raises_a_keys_quota),
		cmocka_unit_test(test_newcomers_to_a_full_group_fail_closed),
		cmocka_unit_test(test_digests_are_keyed_per_installation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
