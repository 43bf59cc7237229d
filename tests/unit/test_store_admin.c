/*
 * test_store_admin.c — the upkeep behind `kw-admin db` (lib/store_admin.c) through the public
 * store API on a temporary database holding what kw-fetch stores: the integrity check of a
 * sound file, a vacuum that keeps every row, and an online backup whose copy opens as a store
 * with the same rows; a backup that cannot be written is an error with its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetched.h"
#include "store_admin.h"
#include "store_ws.h"

#define T0 1795000000LL

/* Markets in the store, by the list kw-ws reads. */
static int market_count(struct kw_store *s)
{
	struct kw_ws_items it = { 0 };
	assert_int_equal(kw_store_ws_markets(s, 0, NULL, 100, &it), 0);
	int n = it.n;
	kw_ws_items_free(&it);
	return n;
}

static void test_upkeep(void **state)
{
	(void)state;
	char path[128], copy[160], res[256] = "", err[256] = "";
	struct kw_store *s = open_temp(path, sizeof(path), "admin");
	(void)put_two_markets(s, T0);
	assert_int_equal(put_trade(s, "t1", "KXA-1", T0 + 10, "10.00", "0.5000", "yes"), 1);

	assert_int_equal(kw_store_integrity(s, res, sizeof(res), err, sizeof(err)), 1);
	assert_string_equal(res, "ok");
	assert_int_equal(kw_store_vacuum(s, err, sizeof(err)), 0);
	assert_int_equal(market_count(s), 2);

	snprintf(copy, sizeof(copy), "%s.backup", path);
	unlink(copy);
	res[0] = '\0';
	assert_int_equal(kw_store_backup(s, copy, res, sizeof(res), err, sizeof(err)), 1);
	assert_string_equal(res, "ok");
	struct kw_store *b = kw_store_open(copy, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(market_count(b), 2);
	struct kw_detect_state st;
	assert_int_equal(kw_store_detect_state(b, &st), 0);
	assert_true(st.max_trade_id >= 1);
	kw_store_close(b);
	unlink(copy);

	err[0] = '\0';
	assert_int_equal(kw_store_backup(s, "/nonexistent-dir/kw.backup", res, sizeof(res), err,
					 sizeof(err)),
			 -1);
	assert_true(err[0] != '\0');
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upkeep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
