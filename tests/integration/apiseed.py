"""apiseed — a known data set for the data-API tests (test_api_v1.py, test_legacy.py).

Two parts. The alerts come the way production makes them: a fake Kalshi (tests/fake_kalshi,
through detected.py) plays two runs to the real kw-fetch, whose detection raises every signal
type at both severities (whale trades around each category's threshold, a volume surge over a
real baseline, odds flips, order-book shifts, high volume); ALERT_PLAN says what the data is
designed to raise, so a test can check detection raised exactly that. Then markets in six
series (with ties and NULLs in every sort key), trades of every size around the whale
thresholds, price snapshots and an order book are written straight into the stack's database
(kwstack.dbconnect: SQLite or PostgreSQL), as kw-fetch would have stored them, so that the
market, whale and stats answers can be computed here independently of the server. They are
written after the runs (a later kw-fetch run would close every market the fake does not list),
so detection never sees them: the whale-sized trades among them carry no alert, and every alert
is on a market the fake listed.
"""
import collections
import itertools
import json
import sqlite3
import time

import kwstack
from detected import Detected, fk

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


def seed(stack):
    """Detection's alerts, then the hand-written market data; everything the tests compare
    with, fetched markets and trades included."""
    fetched = detect(stack)
    data = write_markets(stack.sql(), int(time.time()))
    # The tickers detection's runs fetched, as placeholders and their values.
    listed = sorted(fetched)
    among = "(%s)" % ",".join("?" * len(listed))
    with stack.sql() as db:
        db.row_factory = kwstack.Row
        data["markets"] += [dict(r) for r in db.execute(
            "SELECT ticker, event_ticker, series_ticker, category, title, status,"
            " volume_24h_centi, volume_centi, open_interest_centi, last_price_micros,"
            " previous_price_micros, close_at, yes_bid_micros, yes_ask_micros, open_at"
            " FROM markets WHERE ticker IN " + among, listed)]
        data["trades"] += [dict(r) for r in db.execute(
            "SELECT t.id, t.trade_id, t.ticker, t.created_us, t.count_centi,"
            " t.yes_price_micros, t.no_price_micros, t.taker_side, t.notional_micros,"
            " m.category FROM trades t JOIN markets m ON m.ticker = t.ticker"
            " WHERE t.ticker IN " + among, listed)]
        data["alerts"] = []
        for r in db.execute("SELECT a.id, a.type, a.ticker, a.severity, m.category,"
                            " m.series_ticker AS series, a.created_at, a.description, a.data"
                            " FROM alerts a LEFT JOIN markets m ON m.ticker = a.ticker"
                            " ORDER BY a.id"):
            a = dict(r)
            if isinstance(a["data"], str):  # JSON text (a JSON column arrives decoded)
                a["data"] = json.loads(a["data"])
            data["alerts"].append(a)
    return data


# ---- alerts, by detection ------------------------------------------------------------------

FORMULA = '=HYPERLINK("x"), with comma'  # a category as Kalshi might send it: a CSV hazard
ALERT_SERIES = {"Crypto": "KXBTCD", "Politics": "KXPRES", "Sports": "KXSOC",
                "Economics": "KXGDP", FORMULA: "KXODD"}
# Whale-sized trades by market: taker premium in dollars, run 1 and run 2. Each category's
# threshold exactly, a cent under it, and 5x it (high severity) or more.
WHALES = {
    ("KXBTCD-26DEC31-W", "Crypto"): ([2500, 2499.99],
                                     [12500, 3000, 2600, 2499.99, 2700, 2800, 15000]),
    ("KXPRES-28-W", "Politics"): ([5000, 25000],
                                  [4999.99, 6000, 7000, 8000, 9000, 10000, 30000, 11000]),
    ("KXSOC-26-W", "Sports"): ([20000, 19999.99], [100000, 6000, 21000, 22000]),
    ("KXODD-26-W", FORMULA): ([], [5000, 50000]),
    # Enough crypto alerts that the legacy feed's default limit (50) cuts the list.
    ("KXBTCD-26DEC31-X", "Crypto"): ([], [2500 + 100 * i for i in range(45)]),
    ("KXPRES-28-HV", "Politics"): ([], [1200000]),   # over HIGH_VOLUME_USD alone
    ("KXSOC-26-HV", "Sports"): ([], [6000000]),       # 6x HIGH_VOLUME_USD: high
}
FLIPS = {"KXBTCD-26DEC31-FLIP": ("Crypto", "0.3000", "0.6000"),    # 30 points: high
         "KXPRES-28-FLIP": ("Politics", "0.4000", "0.5800")}       # 18 points: medium
BOOKS = {  # yes and no depth in run 1, then in run 2
    "KXPRES-28-BOOK": ("Politics", ("500.00", "400.00"), ("500.00", "100.00")),  # -33 %
    "KXBTCD-26DEC31-BOOK": ("Crypto", ("300.00", "300.00"), None),              # emptied
}
# Twelve $4,000 trades over the day before (a $500 mean per 15-minute window), then three
# trades within one second: 6x the mean (high) and 3.6x (medium).
SURGES = {"KXGDP-26-SURGE": 1000, "KXGDP-26-STEADY": 600}
STATE_PLAN = [
    ("odds_flip", "KXBTCD-26DEC31-FLIP", "high"), ("odds_flip", "KXPRES-28-FLIP", "medium"),
    ("order_book_shift", "KXPRES-28-BOOK", "medium"),
    ("order_book_shift", "KXBTCD-26DEC31-BOOK", "high"),
    ("volume_surge", "KXGDP-26-SURGE", "high"), ("volume_surge", "KXGDP-26-STEADY", "medium"),
    ("high_volume", "KXPRES-28-HV", "medium"), ("high_volume", "KXSOC-26-HV", "high")]
_trade_ids = itertools.count(1)


def _trade(ticker, usd, created, side="yes", price="0.5000"):
    return fk.trade("seed-%d" % next(_trade_ids), ticker, side=side, yes=price,
                    count="%.2f" % (usd / float(price)), created=created)


def detect(stack):
    """Two kw-fetch runs against a fake Kalshi; returns the tickers it listed."""
    src = Detected(stack, series=ALERT_SERIES)
    fake = src.fake
    t0 = time.time()
    try:
        def add(ticker, category, **kw):
            kw.setdefault("volume_24h", "1.00")  # below every hand-written crypto market
            fake.markets.append(fk.market(ticker, ALERT_SERIES[category] + "-EV", **kw))

        for (ticker, category), (first, _) in WHALES.items():
            add(ticker, category)
            for i, usd in enumerate(first):
                fake.trades.append(_trade(ticker, usd, fk.ts(t0 - 3000 - i * 10),
                                          "yes" if i % 2 else "no"))
        for ticker, (category, before, _) in FLIPS.items():
            add(ticker, category, last=before, yes_bid="%.4f" % (float(before) - 0.01),
                yes_ask="%.4f" % (float(before) + 0.01))
            fake.trades.append(_trade(ticker, 5, fk.ts(t0 - 2000), price=before))
        for ticker, (category, before, _) in BOOKS.items():
            add(ticker, category)
            fake.books[ticker] = fk.book([("0.4900", before[0])], [("0.5000", before[1])])
        for ticker in SURGES:
            add(ticker, "Economics")
            for i in range(12):
                fake.trades.append(_trade(ticker, 4000, fk.ts(t0 - 20000 - i * 1000)))
        assert src.run(), "run 1 raised no alert"
        time.sleep(1.1)  # run 2's snapshots and books are a second later

        t = time.time()
        by = {m["ticker"]: m for m in fake.markets}
        for ticker, (_, _, after) in FLIPS.items():
            by[ticker].update(last_price_dollars=after,
                              yes_bid_dollars="%.4f" % (float(after) - 0.01),
                              yes_ask_dollars="%.4f" % (float(after) + 0.01))
            fake.trades.append(_trade(ticker, 5, fk.ts(t - 50), price=after))
        for ticker, (_, _, after) in BOOKS.items():
            fake.books[ticker] = (fk.book([("0.4900", after[0])], [("0.5000", after[1])])
                                  if after else fk.book([], []))
        for ticker, usd in SURGES.items():
            for i in range(3):
                fake.trades.append(_trade(ticker, usd, fk.ts(int(t) - 5, ".%06d" % i)))
        # A market's run-2 trades share one second, so one surge window: split across two,
        # the first part would be the second's baseline (and a surge nobody planned).
        for (ticker, _), (_, second) in WHALES.items():
            for i, usd in enumerate(second):
                fake.trades.append(_trade(ticker, usd, fk.ts(int(t) - 100, ".%06d" % i),
                                          "yes" if i % 2 else "no"))
        assert src.run()
        return set(by)
    finally:
        src.stop()


def alert_plan():
    """What the fake's two runs are designed to make detection raise: (type, ticker,
    severity) -> count. A whale trade is high at five times its threshold."""
    plan = collections.Counter(STATE_PLAN)
    for (ticker, category), runs in WHALES.items():
        for run in runs:
            for usd in run:
                need = whale_threshold(category)
                if round(usd * USD) >= need:
                    sev = "high" if round(usd * USD) >= 5 * need else "medium"
                    plan[("whale_trade", ticker, sev)] += 1
    return plan


# ---- markets and trades, by hand -------------------------------------------------------------

def write_markets(db, now):
    """Write the hand-made market data through connection db (which it commits and closes)."""
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
    for k, m in enumerate(markets):
        for j in range(6):
            # sizes around the thresholds: $2,499.99 / $2,500 / $5,000 / $19,999 / $20,000 ...
            notional = [2499990000, 2500 * USD, 5000 * USD, 19999 * USD, 20000 * USD,
                        1200 * USD, 800 * USD, 4999999999, 60000 * USD][(k + j) % 9]
            side = "yes" if (k + j) % 2 else "no"
            yes_price = 400000 + (j * 50000)
            price = yes_price if side == "yes" else 1000000 - yes_price
            count_centi = notional * 100 // price
            created_us = (now - (k * 6 + j) * 1700) * 1000000 + j
            t = dict(trade_id="tr-%05d" % len(trades), ticker=m["ticker"], created_us=created_us,
                     count_centi=count_centi, yes_price_micros=yes_price,
                     no_price_micros=1000000 - yes_price, taker_side=side,
                     notional_micros=notional, category=m["category"])
            # The id is the database's: after the ids of detection's trades.
            t["id"] = db.execute(
                "INSERT INTO trades (trade_id, ticker, created_us, count_centi,"
                " yes_price_micros, no_price_micros, taker_side, notional_micros)"
                " VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (t["trade_id"], t["ticker"], created_us, count_centi, yes_price,
                 1000000 - yes_price, side, notional)).fetchone()[0]
            trades.append(t)
    hist = markets[0]["ticker"]
    for i in range(30):
        db.execute("INSERT INTO market_snapshots (ticker, taken_at, last_price_micros,"
                   " yes_bid_micros, yes_ask_micros, volume_centi) VALUES (?,?,?,?,?,?)",
                   (hist, now - 3600 * 5 + i * 600, 400000 + i * 1000, 390000, 410000, i * 100))
    db.execute("INSERT INTO orderbook_snapshots (ticker, taken_at, yes_depth_centi,"
               " no_depth_centi, yes_levels, no_levels, best_yes_bid_micros, best_no_bid_micros)"
               " VALUES (?,?,?,?,?,?,?,?)", (hist, now - 120, 7500, 2500, 4, 3, 420000, 560000))
    db.commit()
    db.close()
    return dict(now=now, markets=markets, trades=trades, hist=hist)


def is_crypto(m):
    return m["category"].lower() == "crypto" or m["series_ticker"].startswith("KXDOGE")


def whale_threshold(category):
    return {"crypto": 2500 * USD, "sports": 20000 * USD}.get((category or "").lower(), 5000 * USD)


def market_data_written(db):
    """What every writer of market data does in the transaction that writes it (kw-fetch does
    it on each commit): advance the generation that kw-api's reply caches are keyed on, and on
    PostgreSQL notify the connections that listen for it (they read it again only then)."""
    db.execute("INSERT INTO fetch_state (name, value) VALUES ('data_generation', 1)"
               " ON CONFLICT (name) DO UPDATE SET value = fetch_state.value + 1")
    if not isinstance(db, sqlite3.Connection):
        db.execute("NOTIFY kw_data")
