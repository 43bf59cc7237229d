"""The original app's routes (docs/ORIGINAL.md), field by field, through the real stack:
same paths and shapes, real data, none of the original's defects (crypto by substring, volume
in contracts shown as dollars, empty ids, invented numbers)."""
import time
from decimal import Decimal

import pytest

import apiseed
from apiseed import HEADERS, USD
from kwstack import Stack, run_admin


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("legacy"), settings=apiseed.SETTINGS, workers=2)
    s.start()
    s.data = apiseed.seed(s)
    run_admin(s, "db", "activity", check=True)  # kw-fetch's job after its own inserts
    yield s
    s.stop()


def get(api, path):
    r = api.get(path, headers=HEADERS)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json(parse_float=Decimal)


def open_markets(api, pred):
    ms = [m for m in api.data["markets"] if m["status"] == "active" and pred(m)]
    return sorted(ms, key=lambda m: (m["volume_24h_centi"] if m["volume_24h_centi"] is not None
                                     else -1, m["ticker"]), reverse=True)


def usd_24h(api, ticker):
    since = (api.data["now"] - 86400) * USD
    return sum(t["notional_micros"] for t in api.data["trades"]
               if t["ticker"] == ticker and t["created_us"] >= since)


def check_stamp(b):
    assert time.strptime(b["timestamp"], "%Y-%m-%dT%H:%M:%SZ")


def test_markets_crypto_view_by_default(api):
    b = get(api, "/api/markets")
    assert set(b) == {"markets", "count", "timestamp"}
    check_stamp(b)
    want = open_markets(api, apiseed.is_crypto)
    assert [m["ticker"] for m in b["markets"]] == [m["ticker"] for m in want]
    assert b["count"] == len(want) > 0
    assert any(m["series_ticker"] == "KXDOGE" for m in b["markets"])  # by configured prefix
    for m in b["markets"]:
        assert not m["ticker"].startswith("KXWHETHER")  # "eth" in "whether" is not crypto
        assert m["id"] == m["ticker"] == m["ticker_symbol"] and m["id"]
        # The original's `volume` (Kalshi's contract volume) is kept beside the labelled ones.
        assert m["volume"] == m["volume_contracts"] and "volume" in m
        assert m["volume_24h"] == m["volume_24h_contracts"] and "volume_24h_usd" in m
        assert m["volume_24h_usd"] == Decimal(usd_24h(api, m["ticker"])) / USD


@pytest.mark.parametrize("category,pred", [
    ("all", lambda m: True),
    ("Sports", lambda m: m["category"] == "Sports"),
    ("climate", lambda m: m["category"] == "Climate"),
    ("crypto", apiseed.is_crypto),
])
def test_markets_category_widens_the_view(api, category, pred):
    b = get(api, "/api/markets?category=%s&limit=1000" % category)
    assert [m["ticker"] for m in b["markets"]] == [m["ticker"] for m in open_markets(api, pred)]


def test_top_markets(api):
    b = get(api, "/api/top-markets")
    assert set(b) == {"markets", "count"}
    want = open_markets(api, apiseed.is_crypto)[:5]
    assert [m["ticker"] for m in b["markets"]] == [m["ticker"] for m in want]
    assert b["count"] == 5
    for got, m in zip(b["markets"], want):
        assert got["volume"] == (None if m["volume_centi"] is None
                                 else Decimal(m["volume_centi"]) / 100)
    empty = get(api, "/api/top-markets?category=Nothing")
    assert empty["markets"] == [] and empty["error"] and "count" not in empty


def test_top5_cards_field_by_field(api):
    b = get(api, "/api/markets/top5")
    assert set(b) == {"markets", "count", "timestamp"}
    want = open_markets(api, apiseed.is_crypto)[:5]
    assert b["count"] == 5
    freq = {"KXBTC": "daily", "KXETH": "hourly", "KXDOGE": "weekly"}
    now = api.data["now"]
    for card, m in zip(b["markets"], want):
        assert {"id", "question", "category", "last_update", "volume", "cadence", "trending",
                "outcomes", "high_volume", "high_liquidity", "recent", "status",
                "ticker_symbol"} <= set(card)
        assert card["id"] == card["ticker_symbol"] == m["ticker"]
        assert card["question"] == m["title"] and card["category"] == m["category"]
        assert card["status"] == "active"
        assert card["cadence"] == freq[m["series_ticker"]]
        assert time.strptime(card["last_update"], "%Y-%m-%dT%H:%M:%SZ")
        # Dollars, labelled: the 24 h taker premium, never contracts shown as dollars.
        assert card["volume_unit"] == "usd"
        assert card["volume"] == card["volume_usd"] == Decimal(usd_24h(api, m["ticker"])) / USD
        assert card["high_volume"] is (usd_24h(api, m["ticker"]) >= 1000000 * USD)
        yes, no = card["outcomes"]
        assert yes["title"] == "YES" and no["title"] == "NO"
        assert yes["description"] == "Above" and no["description"] == "Below"
        # The mid of a two-sided quote, else the last trade, else none.
        if m["yes_bid_micros"] is not None and m["yes_ask_micros"] is not None:
            p = Decimal((m["yes_bid_micros"] + m["yes_ask_micros"]) // 2) / USD
        elif m["last_price_micros"] is not None:
            p = Decimal(m["last_price_micros"]) / USD
        else:
            p = None
        if p is None:
            assert yes["probability"] is None and no["probability"] is None
        else:
            assert yes["probability"] == p
            assert yes["probability"] + no["probability"] == 1
        moved = (m["last_price_micros"] is not None and m["previous_price_micros"] is not None
                 and abs(m["last_price_micros"] - m["previous_price_micros"]) >= 50000)
        assert card["trending"] is moved
        assert card["high_liquidity"] is (m["last_price_micros"] is not None)  # 2-cent spread
        assert card["recent"] is (m["open_at"] >= now - 86400)


def test_whale_alerts_both_shapes(api):
    b = get(api, "/api/whale-alerts?limit=200")
    assert set(b) == {"data", "timestamp", "status", "alerts", "count"}
    assert b["status"] == "success"
    check_stamp(b)
    d = b["data"]
    assert {"alerts", "count", "whale_signals_count", "high_volume_count", "detection_types",
            "thresholds"} <= set(d)
    assert d["alerts"] == b["alerts"] and d["count"] == b["count"] == len(b["alerts"])
    want = sorted((a for a in api.data["alerts"]
                   if a["category"].lower() == "crypto" or a["series"].startswith("KXDOGE")),
                  key=lambda a: a["id"], reverse=True)
    assert [a["id"] for a in b["alerts"]] == [a["id"] for a in want] and want
    hv = sum(1 for a in want if a["type"] == "high_volume")
    assert d["high_volume_count"] == hv and d["whale_signals_count"] == len(want) - hv
    for k in ("volume_surge", "odds_flip", "order_book_shift", "high_volume"):
        assert d["detection_types"][k] is True
    t = d["thresholds"]
    assert t["volume_surge_multiplier"] == 3 and t["volume_surge_high_multiplier"] == 5
    assert t["odds_change_points"] == 15 and t["odds_high_points"] == 25
    assert t["orderbook_change_percent"] == 25 and t["orderbook_high_percent"] == 50
    assert t["high_volume_usd"] == 1000000 and t["whale_min_notional_usd"] == 5000
    assert t["whale_min_notional_by_category_usd"] == {"crypto": 2500, "sports": 20000}
    a = b["alerts"][0]
    assert {"id", "type", "market_id", "ticker", "confidence", "market_impact", "description",
            "data", "timestamp", "severity"} <= set(a)
    assert a["market_id"] == a["ticker"] == a["ticker_symbol"] and a["ticker"]
    assert a["severity"] in ("high", "medium") and a["market_impact"] == a["severity"]
    assert 0 < a["confidence"] <= 1
    assert {"current_value", "previous_value", "direction"} <= set(a["data"])
    assert len(want) > 50 and len(get(api, "/api/whale-alerts")["alerts"]) == 50
    sports = get(api, "/api/whale-alerts?category=Sports&limit=200")
    assert {x["category"] for x in sports["alerts"]} == {"Sports"}


def test_whale_analytics(api):
    b = get(api, "/api/whale-analytics")
    assert {"total_whale_signals", "signal_types", "most_active_markets", "recent_activity",
            "volume_trends", "odds_movements"} <= set(b)
    since = api.data["now"] - 86400
    want = [a for a in api.data["alerts"] if a["created_at"] >= since
            and (a["category"].lower() == "crypto" or a["series"].startswith("KXDOGE"))]
    assert b["total_whale_signals"] == len(want) > 0
    types = {}
    per = {}
    for a in want:
        types[a["type"]] = types.get(a["type"], 0) + 1
        per[a["ticker"]] = per.get(a["ticker"], 0) + 1
    assert b["signal_types"] == types
    assert b["most_active_markets"] == per
    assert [a["id"] for a in b["recent_activity"]] == sorted((a["id"] for a in want),
                                                             reverse=True)[:10]
    assert 0 < len(b["volume_trends"]) <= 5
    for tk, tr in b["volume_trends"].items():
        assert tk in per
        assert tr["trend"] in ("increasing", "decreasing", "stable", "flat")
        assert {"recent_average", "volatility"} <= set(tr)
    flips = {a["ticker"] for a in want if a["type"] == "odds_flip"}
    assert set(b["odds_movements"]) == flips
