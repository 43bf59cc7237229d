#!/usr/bin/env python3
"""make_sample.py — regenerate deploy/sample/run1 and run2: two recorded kw-fetch runs, composed
to Kalshi's current schema (docs/KALSHI.md), for `make demo` and the tests.

`kw-fetch --replay deploy/sample` shifts the recorded times so that run2 happens now and run1
30 minutes earlier. The data is built so that every whale signal has something to find:
  - KXBTCD-26JAN1017-T98999.99  a whale trade (12,000 x $0.55 = $6,600 taker premium) and an
                                order book whose depth falls by more than half between runs
  - KXFEDDEC-26JAN-T4.25        yes price 0.30 -> 0.62 between the two runs (32 points)
  - KXPRESPARTY-28-D            $1.2M of taker premium over 24 h (30 trades of $40,000)
  - KXHIGHNY-26JAN10-B38.5      a 15-minute surge: $6,000 in 5 trades after 24 h of $50 trades
  - two quiet markets, and categories from four series.
Run from anywhere: python3 deploy/sample/make_sample.py
"""
import json
import os
import shutil
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
T2 = 1768046400          # 2026-01-10T12:00:00Z, run2
T1 = T2 - 1800           # run1, 30 minutes earlier

SERIES = [("KXBTCD", "Bitcoin price", "Crypto"), ("KXFEDDEC", "Fed rate decision", "Economics"),
          ("KXPRESPARTY", "Presidential party", "Politics"),
          ("KXHIGHNY", "Highest temperature in NYC", "Climate and Weather")]
MARKETS = {  # ticker: (event, series, title, run1 (bid, ask, last, vol24), run2 (...))
    "KXBTCD-26JAN1017-T98999.99": ("KXBTCD-26JAN1017", "Bitcoin above $99,000 at 5pm?",
                                   ("0.5300", "0.5500", "0.5400", "152000.00"),
                                   ("0.5400", "0.5600", "0.5500", "164000.00")),
    "KXFEDDEC-26JAN-T4.25": ("KXFEDDEC-26JAN", "Fed funds above 4.25% after January?",
                             ("0.2900", "0.3100", "0.3000", "41000.00"),
                             ("0.6100", "0.6300", "0.6200", "97000.00")),
    "KXPRESPARTY-28-D": ("KXPRESPARTY-28", "Democrats win the 2028 presidency?",
                         ("0.4700", "0.4800", "0.4800", "2350000.00"),
                         ("0.4800", "0.4900", "0.4800", "2410000.00")),
    "KXHIGHNY-26JAN10-B38.5": ("KXHIGHNY-26JAN10", "NYC high 38-39 degrees on Jan 10?",
                               ("0.2100", "0.2400", "0.2200", "900.00"),
                               ("0.3900", "0.4200", "0.4000", "16000.00")),
    "KXHIGHNY-26JAN10-B40.5": ("KXHIGHNY-26JAN10", "NYC high 40-41 degrees on Jan 10?",
                               ("0.1000", "0.1200", "0.1100", "700.00"),
                               ("0.1000", "0.1200", "0.1100", "720.00")),
    "KXBTCD-26JAN1017-T101999.99": ("KXBTCD-26JAN1017", "Bitcoin above $102,000 at 5pm?",
                                    ("0.0800", "0.1000", "0.0900", "30500.00"),
                                    ("0.0800", "0.1000", "0.0900", "31000.00")),
}


def ts(t, frac=""):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + frac + "Z"


def comp(p):
    return "%.4f" % (1 - float(p))


def market(ticker, run):
    event, title, r1, r2 = MARKETS[ticker]
    bid, ask, last, vol24 = r1 if run == 1 else r2
    return {
        "ticker": ticker, "event_ticker": event, "market_type": "binary", "title": title,
        "subtitle": "", "yes_sub_title": title, "no_sub_title": title,
        "created_time": ts(T1 - 86400 * 3), "updated_time": ts(T1 - 3600),
        "open_time": ts(T1 - 86400 * 3), "close_time": ts(T2 + 86400 * 2),
        "expected_expiration_time": ts(T2 + 86400 * 2 + 300),
        "latest_expiration_time": ts(T2 + 86400 * 9), "settlement_timer_seconds": 60,
        "status": "active", "yes_bid_dollars": bid, "yes_bid_size_fp": "250.00",
        "yes_ask_dollars": ask, "yes_ask_size_fp": "118.50", "no_bid_dollars": comp(ask),
        "no_ask_dollars": comp(bid), "last_price_dollars": last,
        "previous_yes_bid_dollars": bid, "previous_yes_ask_dollars": ask,
        "previous_price_dollars": last, "volume_fp": "%.2f" % (float(vol24) * 3),
        "volume_24h_fp": vol24, "open_interest_fp": "%.2f" % (float(vol24) / 2),
        "notional_value_dollars": "1.0000", "liquidity_dollars": "0.0000", "result": "",
        "can_close_early": False, "expiration_value": "", "strike_type": "greater",
        "rules_primary": "Resolves Yes if the condition in the title holds.",
        "rules_secondary": "", "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
        "settlement_bounds_type": "default", "occurrence_datetime": None, "exchange_index": 0,
    }


def trade(n, ticker, count, yes, side, t):
    no = comp(yes)
    return {"trade_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "kw-sample-%d" % n)),
            "ticker": ticker, "count_fp": count, "yes_price_dollars": yes,
            "no_price_dollars": no, "taker_side": side, "taker_outcome_side": side,
            "taker_book_side": "bid" if side == "yes" else "ask", "created_time": ts(t, ".25"),
            "is_block_trade": False}


def book(scale):
    yes = [["0.5100", "%.2f" % (900 * scale)], ["0.5200", "%.2f" % (700 * scale)],
           ["0.5400", "%.2f" % (400 * scale)]]
    no = [["0.4300", "%.2f" % (600 * scale)], ["0.4400", "%.2f" % (400 * scale)]]
    return {"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}}


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")


def pages(kind, items, size, run_dir):
    chunks = [items[i:i + size] for i in range(0, len(items), size)] or [[]]
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        write(os.path.join(run_dir, kind, "%04d.json" % (i + 1)),
              {kind: chunk, "cursor": "" if last else "c%s%d" % (kind, i + 1)})


def main():
    n = 0
    run1, run2 = [], []
    # 24 h of $50 trades on the NYC market: the surge baseline (one every 3 hours)
    for i in range(8):
        n += 1
        run1.append(trade(n, "KXHIGHNY-26JAN10-B38.5", "227.00", "0.2200", "yes",
                          T1 - 3600 * 3 * (i + 1)))
    # $1.2M over 24 h on the presidency market: 30 trades of 80,000 x $0.50
    for i in range(30):
        n += 1
        t = T2 - 120 - i * 2700
        (run2 if t > T1 else run1).append(
            trade(n, "KXPRESPARTY-28-D", "80000.00", "0.5000", "yes" if i % 2 else "no", t))
    # small background trades
    for i, tk in enumerate(["KXBTCD-26JAN1017-T101999.99", "KXHIGHNY-26JAN10-B40.5",
                            "KXFEDDEC-26JAN-T4.25", "KXBTCD-26JAN1017-T98999.99"]):
        n += 1
        run1.append(trade(n, tk, "40.00", "0.1000", "yes", T1 - 600 - i * 60))
    # the odds flip comes with buying on the Fed market
    for i in range(3):
        n += 1
        run2.append(trade(n, "KXFEDDEC-26JAN-T4.25", "1500.00", "0.6200", "yes",
                          T2 - 900 + i * 200))
    # the surge: $6,000 in five trades within five minutes
    for i in range(5):
        n += 1
        run2.append(trade(n, "KXHIGHNY-26JAN10-B38.5", "3000.00", "0.4000", "yes",
                          T2 - 360 + i * 60))
    # the whale: 12,000 contracts at $0.55 = $6,600
    n += 1
    run2.append(trade(n, "KXBTCD-26JAN1017-T98999.99", "12000.00", "0.5500", "yes", T2 - 240))
    run1.sort(key=lambda t: t["created_time"], reverse=True)
    run2.sort(key=lambda t: t["created_time"], reverse=True)

    for run, at, trades in ((1, T1, run1), (2, T2, run2)):
        d = os.path.join(HERE, "run%d" % run)
        shutil.rmtree(d, ignore_errors=True)
        write(os.path.join(d, "manifest.json"), {"recorded_at": ts(at)})
        pages("markets", [market(t, run) for t in MARKETS], 4, d)
        pages("trades", trades, 25, d)
        for tk in MARKETS:
            scale = 0.3 if run == 2 and tk.startswith("KXBTCD-26JAN1017-T98999") else 1.0
            write(os.path.join(d, "orderbook", tk + ".json"), book(scale))
        if run == 1:
            write(os.path.join(d, "series", "0001.json"), {"series": [
                {"ticker": s, "title": title, "frequency": "daily", "category": cat,
                 "categories": [cat], "tags": [], "settlement_sources": [],
                 "contract_url": "", "contract_terms_url": "", "fee_type": "quadratic",
                 "fee_multiplier": 1, "additional_prohibitions": []}
                for s, title, cat in SERIES]})
            events = sorted({(v[0], v[0].split("-")[0]) for v in MARKETS.values()})
            write(os.path.join(d, "events", "0001.json"), {"events": [
                {"event_ticker": e, "series_ticker": s, "title": "Event " + e,
                 "sub_title": "", "collateral_return_type": "MECNET",
                 "mutually_exclusive": True, "settlement_sources": []}
                for e, s in events], "cursor": ""})


if __name__ == "__main__":
    main()
