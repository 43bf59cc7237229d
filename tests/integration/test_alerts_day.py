"""Alerts a user can trust, checked from the outside on a realistic two-run day.

A fake Kalshi (tests/fake_kalshi) plays an ordinary day to the real kw-fetch, whose detection
raises the alerts; they are read back from the real kw-api over HTTP, from the real kw-ws
over a WebSocket with filters, and from the webhooks kw-fetch delivers. No alert row is
written by this test. Run 1 lists the markets (some never traded, some with one side of the
book empty); run 2, seconds later, brings the day's trades: a $100,000 and a $6,000 trade on one
market ten minutes apart (stored newest first), a first trade on a market Kalshi had shown
with a last price of "0.0000", a single big trade on a thin market, a crypto whale under the
default threshold but over its category's, an emptied order book and a real odds move.
"""
import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
import requests

import test_webhooks as wh
import test_ws as wsh
from kwstack import BUILD, TOP, Stack

sys.path.insert(0, os.path.join(TOP, "tests", "fake_kalshi"))
import fake_kalshi as fk  # noqa: E402

API_KEY = "test-admin-key-0123456789abcdef0123456789"
HEADERS = {"X-API-Key": API_KEY}

BIG = "KXPRES-28-DJT"            # Politics: the $100,000 and $6,000 trades
NEW = "KXPRES-28-NEW"            # listed with last "0.0000", first trade in run 2 at 0.45
QUIET = "KXGDP-26-Q1"            # Economics: never traded, YES bid side empty
FLIP = "KXPRES-28-FLIP"          # traded at 0.30 before, 0.55 now: a real odds flip
THIN = "KXPRES-28-THIN"          # three $10 trades in a day, then one $8,000 trade
BTC = "KXBTCD-26DEC31-T100000"   # Crypto: a $3,000 trade (Crypto threshold $2,500)
NFL = "KXNFL-26-KC"              # Sports: a $6,000 trade (Sports threshold $20,000)
BOOK = "KXPRES-28-BOOK"          # the most traded market (watched): its book empties
NOSIDE = "KXPRES-28-NOSIDE"      # a trade Kalshi sent without a taker side


def settings(receiver):
    return {
        "API_KEY": API_KEY, "RATE_LIMIT_PER_MINUTE": "1000000",
        "WHALE_MIN_NOTIONAL_USD": "5000",
        "WHALE_MIN_NOTIONAL_BY_CATEGORY": "Crypto=2500,Sports=20000",
        "ODDS_CHANGE_POINTS": "15", "ALERT_COOLDOWN_MIN": "30", "ORDERBOOK_WATCH": "1",
        "WHALE_WEBHOOK_URL": receiver.url("/whale"), "WEBHOOK_SECRET": wh.SECRET,
        "ALLOWED_ORIGINS": wsh.ORIGIN, "JWT_SECRET": wsh.SECRET, "LOG_LEVEL": "info",
    }


def day(now):
    """The fake's data for run 1, and a function that turns it into run 2's."""
    def m(ticker, event, **kw):
        kw.setdefault("volume_24h", "100.00")
        return fk.market(ticker, event, **kw)

    markets = [
        m(BIG, "KXPRES-28", last="0.4000", volume_24h="5000.00"),
        m(NEW, "KXPRES-28", yes_bid="0.0000", yes_ask="0.4500", last="0.0000",
          previous_price_dollars="0.0000", volume="0.00", volume_24h="0.00"),
        m(QUIET, "KXGDP-26", yes_bid="0.0000", yes_ask="0.3000", last="0.0000",
          previous_price_dollars="0.0000", volume="0.00", volume_24h="0.00"),
        m(FLIP, "KXPRES-28", yes_bid="0.2900", yes_ask="0.3100", last="0.3000",
          previous_price_dollars="0.3000"),
        m(THIN, "KXPRES-28", last="0.5000"),
        m(BTC, "KXBTCD-26DEC31", last="0.5000"),
        m(NFL, "KXNFL-26", last="0.5000"),
        m(BOOK, "KXPRES-28", last="0.5000", volume_24h="900000.00"),
        m(NOSIDE, "KXPRES-28", last="0.5000"),
    ]
    trades = [
        fk.trade("thin-1", THIN, count="20.00", yes="0.5000", created=fk.ts(now - 20000)),
        fk.trade("thin-2", THIN, count="20.00", yes="0.5000", created=fk.ts(now - 15000)),
        fk.trade("thin-3", THIN, count="20.00", yes="0.5000", created=fk.ts(now - 10000)),
        fk.trade("flip-0", FLIP, count="10.00", yes="0.3000", created=fk.ts(now - 5000)),
    ]
    books = {BOOK: fk.book([("0.4900", "500.00")], [("0.5000", "400.00")])}
    fake = fk.FakeKalshi(
        markets=markets, trades=trades, books=books, page_size=50,
        events=[fk.event("KXPRES-28", "KXPRES"), fk.event("KXGDP-26", "KXGDP"),
                fk.event("KXBTCD-26DEC31", "KXBTCD"), fk.event("KXNFL-26", "KXNFL")],
        series_list=[fk.series("KXPRES", "Politics"), fk.series("KXGDP", "Economics"),
                     fk.series("KXBTCD", "Crypto"), fk.series("KXNFL", "Sports")])

    def second_run():
        t = time.time()
        by = {x["ticker"]: x for x in fake.markets}
        by[NEW].update(last_price_dollars="0.4500", yes_bid_dollars="0.4400",
                       no_ask_dollars="0.5600", volume_fp="10.00")
        by[FLIP].update(last_price_dollars="0.5500", yes_bid_dollars="0.5400",
                        yes_ask_dollars="0.5600")
        fake.trades += [
            # Ten minutes apart; Kalshi lists the later, smaller one first.
            fk.trade("big-100k", BIG, count="250000.00", yes="0.4000", created=fk.ts(t - 700)),
            fk.trade("big-6k", BIG, count="15000.00", yes="0.4000", created=fk.ts(t - 100)),
            fk.trade("new-1", NEW, count="10.00", yes="0.4500", created=fk.ts(t - 60)),
            fk.trade("flip-1", FLIP, count="10.00", yes="0.5500", created=fk.ts(t - 50)),
            fk.trade("thin-big", THIN, count="16000.00", yes="0.5000", created=fk.ts(t - 40)),
            fk.trade("btc-3k", BTC, count="6000.00", yes="0.5000", created=fk.ts(t - 30)),
            fk.trade("nfl-6k", NFL, count="12000.00", yes="0.5000", created=fk.ts(t - 20)),
        ]
        noside = fk.trade("noside-1", NOSIDE, count="30000.00", yes="0.5000",
                          created=fk.ts(t - 10))
        for k in ("taker_side", "taker_outcome_side", "taker_book_side"):
            del noside[k]
        fake.trades.append(noside)
        fake.books[BOOK] = fk.book([], [])
    return fake, second_run


def fetch(stack, fake):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file, KALSHI_API_BASE=fake.base,
               KALSHI_MAX_RPS="100", KW_FETCH_BACKOFF_MS="5", KW_WEBHOOK_BACKOFF_MS="100")
    p = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--once"], env=env,
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stderr
    return p.stderr


def get(stack, path):
    r = requests.get(stack.url(path), headers=HEADERS, timeout=10)
    assert r.status_code == 200, (path, r.text)
    return r.json()


def alerts(stack, query=""):
    return get(stack, "/api/v1/alerts?limit=200" + query)["data"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Both runs done, with what the WebSocket clients and the webhook receiver saw."""
    receiver = wh.Receiver()
    stack = Stack(tmp_path_factory.mktemp("day"), settings=settings(receiver), workers=1,
                  ws=True)
    stack.start()
    fake, second_run = day(int(time.time()))
    fake.start()
    seen = {}
    try:
        fetch(stack, fake)
        time.sleep(1.1)  # run 2's snapshots are a second later

        async def watch():
            async with wsh.connect(stack) as big_only, wsh.connect(stack) as big_all, \
                    wsh.connect(stack) as crypto, wsh.connect(stack) as everything:
                await wsh.subscribe(big_only, channels=["alerts"], tickers=[BIG],
                                    min_notional=50000)
                await wsh.subscribe(big_all, channels=["alerts"], tickers=[BIG])
                await wsh.subscribe(crypto, channels=["alerts"], categories=["crypto"])
                await wsh.subscribe(everything, channels=["alerts"])
                seen["before"] = {a["id"] for a in alerts(stack)}
                second_run()
                seen["log"] = await asyncio.get_running_loop().run_in_executor(
                    None, fetch, stack, fake)
                n = len(alerts(stack)) - len(seen["before"])
                seen["everything"] = [(await wsh.next_msg(everything, "alert", 5))["data"]
                                      for _ in range(n)]
                for name, ws in (("big_only", big_only), ("big_all", big_all),
                                 ("crypto", crypto)):
                    got = []
                    while True:
                        try:
                            got.append((await wsh.next_msg(ws, "alert", 1.5))["data"])
                        except (AssertionError, asyncio.TimeoutError):
                            break
                    seen[name] = got
        wsh.run(watch())
        deadline = time.time() + 10
        while len(receiver.on("/whale")) < len(alerts(stack)) and time.time() < deadline:
            time.sleep(0.2)
        seen["webhooks"] = [wh.verify(g)["alert"] for g in receiver.on("/whale")]
        seen["fake"] = fake
        yield stack, seen
    finally:
        fake.stop()
        stack.stop()
        receiver.stop()


def by_trade(items):
    return {a["data"].get("trade_id"): a for a in items if a["type"] == "whale_trade"}


def test_every_whale_trade_is_alerted_in_every_channel(world):
    stack, seen = world
    http = by_trade(alerts(stack, "&type=whale_trade"))
    # Both trades on BIG, ten minutes apart, inside ALERT_COOLDOWN_MIN and stored newest
    # first: the $6,000 one does not silence the $100,000 one.
    assert {"big-100k", "big-6k"} <= set(http)
    assert http["big-100k"]["data"]["notional_usd"] == 100000
    assert http["big-100k"]["severity"] == "high"
    assert http["big-6k"]["data"]["notional_usd"] == 6000
    # Per-category thresholds: Crypto's $2,500 fires at $3,000; Sports' $20,000 does not at
    # $6,000, though the default ($5,000) would.
    assert "btc-3k" in http and "nfl-6k" not in http
    assert http["btc-3k"]["category"] == "Crypto"
    whales_listed = {w["trade_id"] for w in get(stack, "/api/v1/whales?limit=200")["data"]}
    assert {"big-100k", "big-6k", "btc-3k"} <= whales_listed
    assert set(by_trade(seen["webhooks"])) >= {"big-100k", "big-6k", "btc-3k"}
    assert set(by_trade(seen["everything"])) >= {"big-100k", "big-6k", "btc-3k"}


def test_one_alert_one_shape_everywhere(world):
    stack, seen = world
    http = {a["id"]: a for a in alerts(stack) if a["id"] not in seen["before"]}
    assert http
    ws = {a["id"]: a for a in seen["everything"]}
    hooks = {a["id"]: a for a in seen["webhooks"]}
    assert set(ws) == set(http) == set(hooks)
    for i, a in http.items():
        assert ws[i] == a, "the WebSocket's alert differs from the HTTP one"
        assert hooks[i] == a, "the webhook's alert differs from the HTTP one"
        assert 0.5 <= a["confidence"] <= 1 and a["created_at"] and a["label"]
    # The market page shows the same objects.
    market = get(stack, "/api/v1/markets/" + BIG)["data"]
    assert market["recent_alerts"]
    for a in market["recent_alerts"]:
        assert a == http[a["id"]]
    # The labels come from the server's signal table.
    labels = {a["type"]: a["label"] for a in http.values()}
    assert labels["whale_trade"] == "Whale trade"


def test_websocket_filters_on_what_detection_writes(world):
    _, seen = world
    # min_notional 50,000 on BIG: the $100,000 trade only (the filter reads the
    # data.notional_usd detection writes).
    assert [a["data"]["trade_id"] for a in seen["big_only"]] == ["big-100k"]
    assert sorted(a["data"].get("trade_id") for a in seen["big_all"]) == ["big-100k", "big-6k"]
    assert seen["crypto"] and all(a["category"] == "Crypto" for a in seen["crypto"])
    assert "btc-3k" in [a["data"].get("trade_id") for a in seen["crypto"]]


def test_no_odds_flip_from_no_price(world):
    stack, _ = world
    flips = {a["ticker"]: a for a in alerts(stack, "&type=odds_flip")}
    # NEW was listed with a last price of "0.0000": its first trade at 0.45 is no move.
    assert NEW not in flips
    # A real move of 25 points still is one.
    assert FLIP in flips and flips[FLIP]["data"]["change_points"] == 25
    with stack.sql() as db:
        first = db.execute("SELECT last_price_micros, yes_bid_micros FROM market_snapshots"
                           " WHERE ticker = ? ORDER BY taken_at LIMIT 1", (NEW,)).fetchone()
    assert first == (None, None)  # stored as no price, never 0


def test_price_change_has_one_definition(world):
    stack, _ = world
    markets = {m["ticker"]: m for m in get(stack, "/api/v1/markets?limit=200")["data"]}
    # Without an earlier real price, no change: not 0, not +45 points.
    assert markets[NEW]["price_change"] is None
    assert markets[QUIET]["price_change"] is None and markets[QUIET]["last_price"] is None
    assert markets[FLIP]["price_change"] == 0.25
    stats = get(stack, "/api/v1/stats")["data"]
    for name, w in stats.items():
        movers = w["gainers"] + w["losers"]
        assert NEW not in [g["ticker"] for g in movers], name
        for g in movers:
            assert g["change"] is not None and g["previous_price"] is not None
    # The 24 h movers and the markets list agree.
    for g in stats["24h"]["gainers"] + stats["24h"]["losers"]:
        assert g["change"] == markets[g["ticker"]]["price_change"]
    assert FLIP in [g["ticker"] for g in stats["24h"]["gainers"]]


def test_legacy_cards_and_volume(world):
    stack, _ = world
    cards = {c["id"]: c for c in get(stack, "/api/markets/top5?category=Economics")["markets"]}
    yes, no = cards[QUIET]["outcomes"]
    assert yes["probability"] is None and no["probability"] is None
    assert cards[QUIET]["trending"] is False
    items = get(stack, "/api/markets?category=all&limit=200")["markets"]
    assert items and all(m["volume"] == m["volume_contracts"] for m in items)
    top = get(stack, "/api/top-markets?category=all")["markets"]
    assert top and all("volume" in m for m in top)


def test_a_single_trade_is_no_surge(world):
    stack, _ = world
    assert THIN not in {a["ticker"] for a in alerts(stack, "&type=volume_surge")}
    assert "thin-big" in by_trade(alerts(stack, "&type=whale_trade"))


def test_emptied_book_and_watch_list(world):
    stack, seen = world
    shifts = [a for a in alerts(stack, "&type=order_book_shift") if a["ticker"] == BOOK]
    assert len(shifts) == 1 and shifts[0]["data"]["reason"] == "book_emptied"
    assert shifts[0]["data"]["change_percent"] is None
    # BTC was watched in run 2 for its Crypto-threshold whale trade; NFL's $6,000 trade is
    # under Sports' threshold.
    fake = seen["fake"]
    assert fake.paths("/trade-api/v2/markets/%s/orderbook" % BTC)
    assert not fake.paths("/trade-api/v2/markets/%s/orderbook" % NFL)


def test_trades_without_a_taker_side_are_stored_and_counted(world):
    stack, seen = world
    with stack.sql() as db:
        row = db.execute("SELECT taker_side, notional_micros, count_centi FROM trades"
                         " WHERE trade_id = 'noside-1'").fetchone()
    assert row == (None, None, 3000000)
    trades = get(stack, "/api/v1/markets/" + NOSIDE)["data"]["recent_trades"]
    assert [t["trade_id"] for t in trades] == ["noside-1"]
    assert trades[0]["taker_side"] is None and trades[0]["notional_usd"] is None
    assert trades[0]["count_contracts"] == 30000
    # Counted as a trade of the market's day, with no dollars.
    market = get(stack, "/api/v1/markets/" + NOSIDE)["data"]
    assert market["trades_24h"] == 1 and market["volume_24h_usd"] == 0
    assert "noside-1" not in by_trade(alerts(stack, "&type=whale_trade"))
    assert "1 trades without a taker side" in seen["log"]
