#!/usr/bin/env python3
"""pagegen.py WORK MARKETS TRADES [SPAN_S] — the benchmarks' saved Kalshi pages, for
`kw-fetch --replay`: WORK/markets (MARKETS markets, 1,000 per page, the current list schema),
WORK/trades (TRADES trades, 1,000 per page, newest first, spread evenly over the SPAN_S seconds
before now, default 80,000: a day's trades) and WORK/noop (a run with nothing new).
Used by bench-fetch.sh and bench-scale.sh."""
import json, os, sys, time
work, n_markets, n_trades = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
span_s = int(sys.argv[4]) if len(sys.argv) > 4 else 80000
now = int(time.time())
stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
def run_dir(name):
    d = os.path.join(work, name)
    os.makedirs(d)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"recorded_at": stamp}, f)
    return d
def pages(d, kind, items_json, per_page=1000):
    os.makedirs(os.path.join(d, kind))
    n = max(1, (len(items_json) + per_page - 1) // per_page)
    for p in range(n):
        chunk = items_json[p * per_page:(p + 1) * per_page]
        cursor = "" if p == n - 1 else "cur%06d" % (p + 1)
        with open(os.path.join(d, kind, "%04d.json" % (p + 1)), "w") as f:
            f.write('{"%s":[%s],"cursor":"%s"}' % (kind, ",".join(chunk), cursor))
base = {
    "market_type": "binary", "title": "Will the benchmark market resolve Yes?", "subtitle": "",
    "yes_sub_title": "Yes", "no_sub_title": "No", "created_time": "2026-01-01T00:00:00.51Z",
    "updated_time": "2026-01-01T00:00:00.51Z", "open_time": "2026-01-01T00:00:00Z",
    "close_time": "2027-01-01T00:00:00Z", "expected_expiration_time": "2027-01-01T00:05:00Z",
    "latest_expiration_time": "2027-01-08T00:00:00Z", "settlement_timer_seconds": 60,
    "status": "active", "yes_bid_size_fp": "250.00", "yes_ask_size_fp": "118.50",
    "previous_yes_bid_dollars": "0.3800", "previous_yes_ask_dollars": "0.4000",
    "previous_price_dollars": "0.3900", "notional_value_dollars": "1.0000",
    "liquidity_dollars": "0.0000", "result": "", "can_close_early": False,
    "expiration_value": "", "strike_type": "greater", "floor_strike": 104999.99,
    "rules_primary": "If the benchmark index is above the strike at close, Yes.",
    "rules_secondary": "", "price_level_structure": "linear_cent",
    "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
    "settlement_bounds_type": "default", "occurrence_datetime": None, "exchange_index": 0}
ms = []
for i in range(n_markets):
    m = dict(base)
    bid = 1 + i % 97
    m.update({"ticker": "KXBENCH-26DEC31-T%06d" % i, "event_ticker": "KXBENCH-E%05d" % (i // 10),
              "yes_bid_dollars": "0.%02d00" % bid, "yes_ask_dollars": "0.%02d00" % (bid + 1),
              "no_bid_dollars": "0.%02d00" % (98 - bid), "no_ask_dollars": "0.%02d00" % (99 - bid),
              "last_price_dollars": "0.%02d00" % bid, "volume_fp": "%d.00" % (i * 7 % 100000),
              "volume_24h_fp": "%d.50" % (i * 13 % 50000), "open_interest_fp": "%d.25" % (i % 9999)})
    ms.append(json.dumps(m, separators=(",", ":")))
pages(run_dir("markets"), "markets", ms)
del ms
tpl = ('{"trade_id":"%08x-5b0d-5e2f-9a4c-%012x","ticker":"KXBENCH-26DEC31-T%06d",'
       '"count_fp":"%d.%02d","yes_price_dollars":"0.%02d00","no_price_dollars":"0.%02d00",'
       '"taker_side":"%s","taker_outcome_side":"%s","taker_book_side":"%s",'
       '"created_time":"%s.%06dZ","is_block_trade":false}')
d = run_dir("trades")
os.makedirs(os.path.join(d, "trades"))
per = 1000
npages = max(1, (n_trades + per - 1) // per)
for p in range(npages):
    out = []
    for i in range(p * per, min(n_trades, (p + 1) * per)):
        t = now - 60 - i * span_s // max(1, n_trades)  # newest first, spread over span_s
        side = "yes" if i % 3 else "no"
        yes = 1 + i % 98
        # trade ids are UUIDs at Kalshi: random order in the unique index, as here
        out.append(tpl % ((i * 2654435761) & 0xffffffff, i, i % max(1, n_markets), 1 + i % 500, i % 100, yes, 99 - yes + 1 if yes < 99 else 1,
                          side, side, "bid" if side == "yes" else "ask",
                          time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)), i % 1000000))
    with open(os.path.join(d, "trades", "%04d.json" % (p + 1)), "w") as f:
        f.write('{"trades":[%s],"cursor":"%s"}' % (",".join(out), "" if p == npages - 1 else "t%d" % p))
d = run_dir("noop")
os.makedirs(os.path.join(d, "trades"))
with open(os.path.join(d, "trades", "0001.json"), "w") as f:
    f.write('{"trades":[],"cursor":""}')
