/*
 * test_store_ws.c — what kw-ws reads from the store (lib/store_ws.c), through the public store
 * API on a temporary database filled the way kw-fetch and detection fill it: where following
 * starts, alerts and whale trades after an id (oldest first, in pages, with the market's title
 * and category), finished runs, and the market list by 24 h volume or by ticker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fetched.h"
#include "store_whale.h"
#include "store_ws.h"

#define T0 1795000000LL
#define USD 1000000LL

static void add_alert(struct kw_store *s, const char *key, const char *type, int64_t at)
{
	struct kw_alert_new a = alert_row(key, type, "KXA-1", at);
	a.data = "{\"notional_usd\":6000}";
	assert_int_equal(kw_store_alert_insert(s, &a), 1);
}

static void test_follow(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "ws");
	struct kw_ws_items it = { 0 };
	int64_t alert_id = -1, trade_id = -1, run_id = -1, next = -1, run = 0, started = 0;
	kw_store_ws_setup(s);
	assert_int_equal(kw_store_ws_cursor(s, &alert_id, &trade_id, &run_id), 0);
	assert_true(alert_id == 0 && trade_id == 0 && run_id == 0);
	assert_int_equal(kw_store_ws_alerts_after(s, 0, 10, &it, &next), 0);
	assert_int_equal(it.n, 0);
	kw_ws_items_free(&it);

	int64_t r1 = 0, r2 = 0;
	r1 = put_two_markets(s, T0);
	assert_int_equal(put_trade(s, "t1", "KXA-1", T0 + 10, "10000.00", "0.6000", "yes"), 1);
	assert_int_equal(put_trade(s, "t2", "KXA-1", T0 + 20, "10.00", "0.5000", "no"), 1);
	assert_int_equal(put_trade(s, "t3", "KXB-1", T0 + 30, "9000.00", "0.3000", "no"), 1);
	struct kw_fetch_run_row ok = { .outcome = "ok",
				       .finished_at = T0 + 50,
				       .open_markets = 2,
				       .skip_reasons_json = "{}" };
	assert_int_equal(kw_store_fetch_run_finish(s, r1, &ok), 0);
	add_alert(s, "a1", "whale_trade", T0 + 60);
	add_alert(s, "a2", "volume_surge", T0 + 70);

	assert_int_equal(kw_store_ws_cursor(s, &alert_id, &trade_id, &run_id), 0);
	assert_int_equal(run_id, r1);
	assert_true(alert_id > 0 && trade_id > 0);

	/* Alerts, a page of one at a time, oldest first, with the market's title and category. */
	assert_int_equal(kw_store_ws_alerts_after(s, 0, 1, &it, &next), 0);
	assert_int_equal(it.n, 1);
	assert_int_equal(it.v[0].kind, KW_WS_ALERT);
	assert_string_equal(it.v[0].alert.type, "whale_trade");
	assert_string_equal(it.v[0].alert.severity, "high");
	assert_string_equal(it.v[0].alert.data, "{\"notional_usd\":6000}");
	assert_string_equal(it.v[0].alert.title, "Test KXA-1?");
	assert_string_equal(it.v[0].ticker, "KXA-1");
	assert_string_equal(it.v[0].category, "Crypto");
	assert_int_equal(it.v[0].alert.confidence, 80);
	assert_int_equal(it.v[0].alert.created_at, T0 + 60);
	assert_int_equal(next, it.v[0].id);
	kw_ws_items_free(&it);
	assert_int_equal(kw_store_ws_alerts_after(s, next, 10, &it, &next), 0);
	assert_int_equal(it.n, 1);
	assert_string_equal(it.v[0].alert.type, "volume_surge");
	assert_int_equal(next, alert_id);
	kw_ws_items_free(&it);
	assert_int_equal(kw_store_ws_alerts_after(s, next, 10, &it, &next), 0);
	assert_int_equal(it.n, 0);
	assert_int_equal(next, alert_id);
	kw_ws_items_free(&it);

	/* Whale trades only: over the threshold (t1: 6,000 USD; t3: 9,000 x 0.70 = 6,300). */
	assert_int_equal(kw_store_ws_trades_after(s, 0, 5000 * USD, 10, &it, &next), 0);
	assert_int_equal(it.n, 2);
	assert_int_equal(it.v[0].kind, KW_WS_TRADE);
	assert_string_equal(it.v[0].trade.trade_id, "t1");
	assert_string_equal(it.v[0].trade.taker_side, "yes");
	assert_string_equal(it.v[0].trade.title, "Test KXA-1?");
	assert_int_equal(it.v[0].trade.count_centi, 1000000);
	assert_int_equal(it.v[0].trade.yes_price_micros, 600000);
	assert_int_equal(it.v[0].trade.created_us, (T0 + 10) * USD);
	assert_int_equal(it.v[0].notional_micros, 6000 * USD);
	assert_string_equal(it.v[0].category, "Crypto");
	assert_string_equal(it.v[1].trade.trade_id, "t3");
	assert_string_equal(it.v[1].category, ""); /* its event is not known */
	assert_int_equal(it.v[1].notional_micros, 6300 * USD);
	kw_ws_items_free(&it);

	/* Finished runs only: a failed one is not news for market updates. */
	assert_int_equal(kw_store_ws_run_after(s, 0, &run, &started), 1);
	assert_int_equal(run, r1);
	assert_int_equal(started, T0);
	assert_int_equal(kw_store_fetch_run_begin(s, T0 + 100, &r2), 0);
	struct kw_fetch_run_row failed = { .outcome = "failed",
					   .finished_at = T0 + 110,
					   .open_markets = -1,
					   .skip_reasons_json = "{}" };
	assert_int_equal(kw_store_fetch_run_finish(s, r2, &failed), 0);
	assert_int_equal(kw_store_ws_run_after(s, r1, &run, &started), 0);

	/* Markets: all by 24 h volume, or the ones asked for. */
	assert_int_equal(kw_store_ws_markets(s, 0, NULL, 10, &it), 0);
	assert_int_equal(it.n, 2);
	assert_int_equal(it.v[0].kind, KW_WS_MARKET);
	kw_ws_items_free(&it);
	assert_int_equal(kw_store_ws_markets(s, 0, "[\"KXB-1\"]", 10, &it), 0);
	assert_int_equal(it.n, 1);
	assert_string_equal(it.v[0].ticker, "KXB-1");
	assert_string_equal(it.v[0].market.title, "Test KXB-1?");
	assert_string_equal(it.v[0].market.status, "active");
	assert_int_equal(it.v[0].market.last_price_micros, 300000);
	assert_int_equal(it.v[0].market.yes_bid_micros, 400000);
	kw_ws_items_free(&it);
	assert_int_equal(kw_store_ws_markets(s, T0 + 1, NULL, 10, &it), 0);
	assert_int_equal(it.n, 0); /* nothing stored since */
	kw_ws_items_free(&it);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
