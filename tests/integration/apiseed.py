"""apiseed — a known data set for the data-API tests (test_api_v1.py, test_legacy.py).

Written straight into a stack's SQLite file, as kw-fetch and detection would have stored it, so
that every expected answer can be computed here independently of the server: markets in four
categories (with ties and NULLs in every sort key), trades of every size around the whale
thresholds, alerts of every type and severity, snapshots and an order book.
"""
import json
import sqlite3
import time

API_KEY = "test-admin-key-0123456789abcdef0123456789"
SETTINGS = {
    "API_KEY": API_KEY,
    "RATE_LIMIT_PER_MINUTE": "1000000",
    "WHALE_MIN_NOTIONAL_USD": "5000",
    "WHALE_MIN_NOTIONAL_BY_CATEGORY": "Crypto=2500,Sports=20000",
    "CRYPTO_SERIES_PREFIXES": "KXDOGE",
    "CACHE_TTL": "15",
}
HEADERS = {"X-API-Key": API_KEY}
USD = 1000000


def seed(db_path, now=None):
    now = int(now or time.time())
    db = sqlite3.connect(db_path)
    series = [
        ("KXBTC", "Bitcoin", "Crypto", "daily"),
        ("KXETH", "Ether", "Crypto", "hourly"),
        ("KXDOGE", "Dogecoin", "Economics", "weekly"),   # crypto only by prefix
        ("KXPOL", "Elections", "Politics", "one_off"),
        ("KXNFL", "Football", "Sports", "weekly"),
        ("KXWHETHER", "Whether it rains", "Climate", "daily"),  # "eth" inside: not crypto
    ]
    for t, title, cat, freq in series:
        db.execute("INSERT INTO series (ticker, title, category, frequency, fetched_at)"
                   " VALUES (?,?,?,?,?)", (t, title, cat, freq, now))
    markets = []
    cats = {s[0]: s[2] for s in series}
    n = 0
    for s, count in (("KXBTC", 14), ("KXETH", 8), ("KXDOGE", 4), ("KXPOL", 16), ("KXNFL", 12),
                     ("KXWHETHER", 6)):
        for i in range(count):
            n += 1
            ticker = "%s-26DEC%02d-T%d" % (s, i, n)
            status = "active" if i % 5 else ("finalized" if i % 2 else "initialized")
            vol24 = None if n % 11 == 0 else (n * 37 % 23) * 10000   # ties and NULLs
            vol = None if n % 13 == 0 else n * 100000
            oi = None if n % 7 == 0 else (n * 53 % 17) * 500
            last = None if n % 9 == 0 else (n * 7919 % 90 + 5) * 10000
            prev = None if n % 10 == 0 else (n * 104729 % 90 + 5) * 10000
            close = None if n % 8 == 0 else now + (n * 7 % 31) * 3600
            title = "%s market %d%s" % (s, n, " 100% sure_thing" if n == 3 else "")
            m = dict(ticker=ticker, event_ticker="%s-EV%d" % (s, i % 3), series_ticker=s,
                     category=cats[s], title=title, status=status, volume_24h_centi=vol24,
                     volume_centi=vol, open_interest_centi=oi, last_price_micros=last,
                     previous_price_micros=prev, close_at=close,
                     yes_bid_micros=(last - 10000) if last else None,
                     yes_ask_micros=(last + 10000) if last else None,
                     open_at=now - (n % 3) * 50000)
            markets.append(m)
            db.execute(
                "INSERT INTO markets (ticker, event_ticker, series_ticker, category, title,"
                " yes_sub_title, no_sub_title, status, open_at, close_at, yes_bid_micros,"
                " yes_ask_micros, no_bid_micros, no_ask_micros, last_price_micros,"
                " previous_price_micros, volume_centi, volume_24h_centi, open_interest_centi,"
                " first_seen_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ticker, m["event_ticker"], s, cats[s], title, "Above", "Below", status,
                 m["open_at"], close, m["yes_bid_micros"], m["yes_ask_micros"],
                 (1000000 - m["yes_ask_micros"]) if last else None,
                 (1000000 - m["yes_bid_micros"]) if last else None, last, prev, vol, vol24, oi,
                 now - 86400, now - 60))
    trades = []
    tid = 0
    for k, m in enumerate(markets):
        for j in range(6):
            tid += 1
            # sizes around the thresholds: $2,499.99 / $2,500 / $5,000 / $19,999 / $20,000 ...
            notional = [2499990000, 2500 * USD, 5000 * USD, 19999 * USD, 20000 * USD,
                        1200 * USD, 800 * USD, 4999999999, 60000 * USD][(k + j) % 9]
            side = "yes" if (k + j) % 2 else "no"
            yes_price = 400000 + (j * 50000)
            price = yes_price if side == "yes" else 1000000 - yes_price
            count_centi = notional * 100 // price
            created_us = (now - (k * 6 + j) * 1700) * 1000000 + j
            t = dict(id=tid, trade_id="tr-%05d" % tid, ticker=m["ticker"], created_us=created_us,
                     count_centi=count_centi, yes_price_micros=yes_price,
                     no_price_micros=1000000 - yes_price, taker_side=side,
                     notional_micros=notional, category=m["category"])
            trades.append(t)
            db.execute(
                "INSERT INTO trades (id, trade_id, ticker, created_us, count_centi,"
                " yes_price_micros, no_price_micros, taker_side, notional_micros)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (tid, t["trade_id"], t["ticker"], created_us, count_centi, yes_price,
                 1000000 - yes_price, side, notional))
    alerts = []
    types = ["whale_trade", "volume_surge", "odds_flip", "order_book_shift", "high_volume"]
    for a in range(1, 131):
        m = markets[(a * 7) % len(markets)]
        typ = types[a % 5]
        sev = "high" if a % 3 == 0 else "medium"
        data = {"current_value": a * 10, "previous_value": a, "direction": "up",
                "thresholds": {"x": 1}}
        if a == 5:
            m = markets[0]
        desc = "=HYPERLINK(\"x\") alert %d, with comma" % a if a == 7 else "alert %d" % a
        alerts.append(dict(id=a, type=typ, ticker=m["ticker"], severity=sev,
                           category=m["category"], series=m["series_ticker"],
                           created_at=now - (130 - a) * 600))
        db.execute(
            "INSERT INTO alerts (id, alert_key, type, ticker, severity, confidence, description,"
            " data, created_at, window_end) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (a, "%s:%s:%d" % (typ, m["ticker"], a), typ, m["ticker"], sev, 50 + a % 50, desc,
             json.dumps(data), now - (130 - a) * 600, now - (130 - a) * 600))
    hist = markets[0]["ticker"]
    for i in range(30):
        db.execute("INSERT INTO market_snapshots (ticker, taken_at, last_price_micros,"
                   " yes_bid_micros, yes_ask_micros, volume_centi) VALUES (?,?,?,?,?,?)",
                   (hist, now - 3600 * 5 + i * 600, 400000 + i * 1000, 390000, 410000, i * 100))
    db.execute("INSERT INTO orderbook_snapshots (ticker, taken_at, yes_depth_centi,"
               " no_depth_centi, yes_levels, no_levels, best_yes_bid_micros, best_no_bid_micros)"
               " VALUES (?,?,?,?,?,?,?,?)", (hist, now - 120, 7500, 2500, 4, 3, 420000, 560000))
    db.execute("INSERT INTO fetch_runs (started_at, finished_at, outcome, open_markets)"
               " VALUES (?,?,'ok',?)", (now - 90, now - 30, len(markets)))
    db.commit()
    db.close()
    return dict(now=now, markets=markets, trades=trades, alerts=alerts, hist=hist)


def is_crypto(m):
    return m["category"].lower() == "crypto" or m["series_ticker"].startswith("KXDOGE")


def whale_threshold(category):
    return {"crypto": 2500 * USD, "sports": 20000 * USD}.get((category or "").lower(), 5000 * USD)


def market_data_written(db):
    """What every writer of market data does in the transaction that writes it (kw-fetch does
    it on each commit): advance the generation that kw-api's reply caches are keyed on."""
    db.execute("INSERT INTO fetch_state (name, value) VALUES ('data_generation', 1)"
               " ON CONFLICT (name) DO UPDATE SET value = value + 1")
