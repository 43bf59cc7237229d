/*
 * test_heavy.c — the shared cap on expensive requests (lib/heavy.c) between real processes, as
 * kw-api's workers use it: one slot per client, at most `slots` at once, nothing held after a
 * leave, and a slot freed when the process holding it is killed.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "heavy.h"

/* A child process that enters for client and reports the result on the pipe, then holds
 * what it got until killed. */
static pid_t holder(const char *path, int64_t slots, const char *client, int *got)
{
	int p[2];
	char c = 0;
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kw_heavy h;
		kw_heavy_init(&h);
		char r = 'x';
		if (kw_heavy_open(&h, path) == 0)
			r = (char)('0' + kw_heavy_enter(&h, slots, client));
		if (write(p[1], &r, 1) != 1)
			_exit(1);
		alarm(60); /* never outlive a parent whose assertion failed before reap() */
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	*got = c - '0';
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_slots_and_clients(void **state)
{
	(void)state;
	char path[128];
	int got;
	snprintf(path, sizeof(path), "/tmp/kw-test-heavy-%d.lock", (int)getpid());
	struct kw_heavy me;
	kw_heavy_init(&me);
	assert_int_equal(kw_heavy_open(&me, path), 0);

	pid_t a = holder(path, 2, "key:A", &got);
	assert_int_equal(got, 1);
	/* The same client again: busy, though a global slot is free. */
	assert_int_equal(kw_heavy_enter(&me, 2, "key:A"), 0);
	assert_int_equal(me.slot, -1);
	assert_int_equal(me.client, -1);
	/* Another client takes the second slot; a third finds none. */
	assert_int_equal(kw_heavy_enter(&me, 2, "key:B"), 1);
	pid_t c = holder(path, 2, "key:C", &got);
	assert_int_equal(got, 0);
	reap(c);
	/* Left: the slot is free for others. */
	kw_heavy_leave(&me);
	c = holder(path, 2, "key:C", &got);
	assert_int_equal(got, 1);
	reap(c);
	/* The holder dies mid-request: its slot and its client's are free at once. */
	reap(a);
	assert_int_equal(kw_heavy_enter(&me, 1, "key:A"), 1);
	kw_heavy_close(&me);
	unlink(path);
}

/* Two gates in one process, as two accept threads of one worker hold them: each excludes the
 * other, and one leaving never frees what the other holds. */
static void test_gates_in_one_process(void **state)
{
	(void)state;
	char path[128];
	int got;
	snprintf(path, sizeof(path), "/tmp/kw-test-heavy-t%d.lock", (int)getpid());
	struct kw_heavy a, b;
	kw_heavy_init(&a);
	kw_heavy_init(&b);
	assert_int_equal(kw_heavy_open(&a, path), 0);
	assert_int_equal(kw_heavy_open(&b, path), 0);
	assert_int_equal(kw_heavy_enter(&a, 1, "key:A"), 1);
	assert_int_equal(kw_heavy_enter(&b, 1, "key:B"), 0); /* the one slot is taken */
	assert_int_equal(kw_heavy_enter(&b, 2, "key:A"), 0); /* and so is key:A's */
	assert_int_equal(kw_heavy_enter(&b, 2, "key:B"), 1);
	kw_heavy_leave(&b);
	/* b left; a still holds slot 0 and key:A, for other processes too. */
	pid_t c = holder(path, 1, "key:C", &got);
	assert_int_equal(got, 0);
	reap(c);
	kw_heavy_close(&a);
	assert_int_equal(kw_heavy_enter(&b, 1, "key:A"), 1);
	kw_heavy_close(&b);
	unlink(path);
}

static void test_clients_spread(void **state)
{
	(void)state;
	/* Distinct identities land on distinct bytes (a collision is a false "busy"). */
	int64_t a = kw_heavy_client_byte("key:kw_AbCd1234"),
		b = kw_heavy_client_byte("key:kw_AbCd1235"), c = kw_heavy_client_byte("10.0.0.1");
	assert_true(a >= KW_HEAVY_CLIENT_BASE && a < KW_HEAVY_CLIENT_BASE + KW_HEAVY_CLIENT_BYTES);
	assert_true(a != b && b != c && a != c);
	assert_int_equal(kw_heavy_client_byte("key:kw_AbCd1234"), a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_and_clients),
		cmocka_unit_test(test_gates_in_one_process),
		cmocka_unit_test(test_clients_spread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
