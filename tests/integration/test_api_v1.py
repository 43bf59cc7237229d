"""The v1 data API through the real lighttpd and kw-api workers, against a known data set
(apiseed.py): every filter and sort, cursor walks (no gaps, no repeats), CSV exports, ETag/304,
parameter validation, POST /api/refresh and the OpenAPI document's agreement with the router."""
import csv
import io
import os
import collections
import json
import re
import time
from decimal import Decimal

import pytest
import requests

import apiseed
from apiseed import HEADERS, USD
from kwstack import TOP, Stack, run_admin

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("api"), settings=apiseed.SETTINGS, workers=2)
    s.start()
    s.data = apiseed.seed(s)
    run_admin(s, "db", "activity", check=True)  # kw-fetch's job after its own inserts
    yield s
    s.stop()


def get(api, path, **kw):
    kw.setdefault("headers", HEADERS)
    return api.get(path, **kw)


def body(r):
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json(parse_float=Decimal)


def walk(api, path, limit):
    """Follow next_cursor to the end; returns every row and the number of pages."""
    rows, pages, cursor = [], 0, None
    sep = "&" if "?" in path else "?"
    while True:
        url = "%s%slimit=%d" % (path, sep, limit) + ("&cursor=" + cursor if cursor else "")
        b = body(get(api, url))
        pages += 1
        assert len(b["data"]) <= limit
        rows += b["data"]
        if not b["has_more"]:
            assert b["next_cursor"] is None
            return rows, pages
        assert len(b["data"]) == limit and b["next_cursor"]
        cursor = b["next_cursor"]
        assert pages < 200


# ---- markets --------------------------------------------------------------------------------

SORTS = {
    "volume_24h": (lambda m: m["volume_24h_centi"] if m["volume_24h_centi"] is not None else -1,
                   True),
    "volume": (lambda m: m["volume_centi"] if m["volume_centi"] is not None else -1, True),
    "open_interest": (lambda m: m["open_interest_centi"]
                      if m["open_interest_centi"] is not None else -1, True),
    "price_change": (lambda m: (m["last_price_micros"] - m["previous_price_micros"])
                     if m["last_price_micros"] is not None
                     and m["previous_price_micros"] is not None else -2000000, True),
    "close_time": (lambda m: m["close_at"] if m["close_at"] is not None else 2**63 - 1, False),
}


def expected_order(markets, sort):
    key, desc = SORTS[sort]
    return [m["ticker"] for m in sorted(markets, key=lambda m: (key(m), m["ticker"]),
                                        reverse=desc)]


def test_markets_envelope_and_units(api):
    b = body(get(api, "/api/v1/markets"))
    assert set(b) == {"data", "has_more", "next_cursor", "meta"}
    assert RFC3339.match(b["meta"]["generated_at"])
    # The seed's last kw-fetch run is the source: its age, to the second.
    with api.sql() as db:
        finished = db.execute("SELECT max(finished_at) FROM fetch_runs"
                              " WHERE outcome = 'ok'").fetchone()[0]
    assert 0 <= b["meta"]["source_lag_s"] and \
        abs(b["meta"]["source_lag_s"] - (time.time() - finished)) <= 2
    assert len(b["data"]) == 50 and b["has_more"] is True
    m = next(x for x in b["data"] if x["volume_24h_contracts"] is not None)
    src = next(x for x in api.data["markets"] if x["ticker"] == m["ticker"])
    assert m["volume_24h_contracts"] == Decimal(src["volume_24h_centi"]) / 100
    for k in ("volume_contracts", "open_interest_contracts", "volume_24h_usd", "trades_24h",
              "yes_bid", "last_price", "price_change", "close_time", "series_ticker",
              "category", "status"):
        assert k in m
    assert "volume" not in m  # never a unit-less volume


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_markets_cursor_walk_every_sort(api, sort):
    rows, pages = walk(api, "/api/v1/markets?sort=%s" % sort, 7)
    tickers = [r["ticker"] for r in rows]
    assert len(tickers) == len(set(tickers)), "a row was repeated"
    assert tickers == expected_order(api.data["markets"], sort), "gap or wrong order"
    assert pages == -(-len(api.data["markets"]) // 7)


FILTERS = [
    ("category=crypto", lambda m: m["category"] == "Crypto"),
    ("category=Sports", lambda m: m["category"] == "Sports"),
    ("series=KXETH", lambda m: m["series_ticker"] == "KXETH"),
    ("event=KXPOL-EV1", lambda m: m["event_ticker"] == "KXPOL-EV1"),
    ("status=open", lambda m: m["status"] == "active"),
    ("status=settled", lambda m: m["status"] == "finalized"),
    ("status=initialized", lambda m: m["status"] == "initialized"),
    ("min_volume_24h=1500", lambda m: (m["volume_24h_centi"] or -1) >= 150000),
    ("q=KXNFL+MARKET", lambda m: "kxnfl market" in m["title"].lower()),
    ("q=100%25", lambda m: "100%" in m["title"]),
    ("q=_", lambda m: "_" in m["title"]),
    ("category=Politics&status=open&min_volume_24h=1",
     lambda m: m["category"] == "Politics" and m["status"] == "active"
     and (m["volume_24h_centi"] or -1) >= 100),
]


@pytest.mark.parametrize("query,pred", FILTERS, ids=[f[0] for f in FILTERS])
def test_markets_filters(api, query, pred):
    rows, _ = walk(api, "/api/v1/markets?sort=volume&" + query, 5)
    want = expected_order([m for m in api.data["markets"] if pred(m)], "volume")
    assert [r["ticker"] for r in rows] == want
    assert want or query.startswith("q=_"), "a filter case that selects nothing proves little"


BAD = [
    ("/api/v1/markets?limit=0", "limit"),
    ("/api/v1/markets?limit=201", "limit"),
    ("/api/v1/markets?limit=abc", "limit"),
    ("/api/v1/markets?sort=bogus", "sort"),
    ("/api/v1/markets?status=active&status=open", "status"),
    ("/api/v1/markets?colour=red", "colour"),
    ("/api/v1/markets?cursor=%%%%", "cursor"),
    ("/api/v1/markets?cursor=bm90LWEtY3Vyc29y", "cursor"),
    ("/api/v1/markets?min_volume_24h=-1", "min_volume_24h"),
    ("/api/v1/whales?side=maybe", "side"),
    ("/api/v1/whales?min_notional=999", "min_notional"),
    ("/api/v1/whales?from=yesterday", "from"),
    ("/api/v1/whales?cursor=bTA6MTpY", "cursor"),
    ("/api/v1/alerts?type=rumour", "type"),
    ("/api/v1/alerts?since_id=-5", "since_id"),
    ("/api/v1/alerts?format=xml", "format"),
    ("/api/v1/stats?window=1y", "window"),
    ("/api/v1/markets/KXBTC-26DEC00-T1/history?interval=2m", "interval"),
    ("/api/v1/markets/KXBTC-26DEC00-T1/history?from=2026-01-02T00:00:00Z"
     "&to=2026-01-01T00:00:00Z", "from"),
]


@pytest.mark.parametrize("path,param", BAD, ids=[b[1] + ":" + b[0][:40] for b in BAD])
def test_bad_parameters_are_400_naming_them(api, path, param):
    r = get(api, path)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_parameter"
    assert "'%s'" % param in err["message"]


def test_cursor_from_another_sort_is_refused(api):
    b = body(get(api, "/api/v1/markets?sort=volume&limit=3"))
    r = get(api, "/api/v1/markets?sort=open_interest&limit=3&cursor=" + b["next_cursor"])
    assert r.status_code == 400 and "'cursor'" in r.json()["error"]["message"]


def test_market_detail(api):
    t = api.data["hist"]
    b = body(get(api, "/api/v1/markets/" + t))
    d = b["data"]
    assert d["ticker"] == t and b["has_more"] is False
    ob = d["orderbook"]
    assert ob["yes_depth_contracts"] == 75 and ob["no_depth_contracts"] == 25
    assert ob["yes_share_percent"] == 75 and ob["best_yes_bid"] == Decimal("0.42")
    mine = sorted((x for x in api.data["trades"] if x["ticker"] == t),
                  key=lambda x: (x["created_us"], x["id"]), reverse=True)
    assert [x["trade_id"] for x in d["recent_trades"]] == [x["trade_id"] for x in mine[:50]]
    tr = d["recent_trades"][0]
    assert tr["notional_usd"] == Decimal(mine[0]["notional_micros"]) / USD
    assert RFC3339.match(tr["created_time"])
    # The market with the most alerts lists the newest 20 of them.
    per = collections.Counter(a["ticker"] for a in api.data["alerts"])
    busy = per.most_common(1)[0][0]
    want_alerts = sorted((a["id"] for a in api.data["alerts"] if a["ticker"] == busy),
                         reverse=True)
    got = body(get(api, "/api/v1/markets/" + busy))["data"]["recent_alerts"]
    assert [a["id"] for a in got] == want_alerts[:20] and len(want_alerts) > 1
    assert body(get(api, "/api/v1/markets/" + t))["data"]["recent_alerts"] == []
    assert get(api, "/api/v1/markets/NO-SUCH-MARKET").status_code == 404


def test_market_history(api):
    t = api.data["hist"]
    b = body(get(api, "/api/v1/markets/%s/history" % t))
    assert len(b["data"]) == 30
    assert b["data"][0]["last_price"] == Decimal("0.4")
    assert b["data"][-1]["volume_contracts"] == 29
    b = body(get(api, "/api/v1/markets/%s/history?interval=1h" % t))
    assert 5 <= len(b["data"]) <= 6
    rows, pages = walk(api, "/api/v1/markets/%s/history?" % t, 8)
    assert len(rows) == 30 and pages == 4
    assert len({r["time"] for r in rows}) == 30
    assert get(api, "/api/v1/markets/NOPE/history").status_code == 404
    # from/to bound the series (inclusive); snapshots are every 600 s from now - 5 h.
    import time as _t
    base = api.data["now"] - 3600 * 5
    fmt = lambda t: _t.strftime("%Y-%m-%dT%H:%M:%SZ", _t.gmtime(t))
    b = body(get(api, "/api/v1/markets/%s/history?from=%s&to=%s" % (t, fmt(base + 600),
                                                                    fmt(base + 3000))))
    assert [p["time"] for p in b["data"]] == [fmt(base + 600 * i) for i in range(1, 6)]


# ---- whales ---------------------------------------------------------------------------------

def whales_expected(api, pred=lambda t: True, min_usd=None):
    out = []
    for t in api.data["trades"]:
        need = min_usd * USD if min_usd else apiseed.whale_threshold(t["category"])
        if t["notional_micros"] >= need and pred(t):
            out.append(t)
    out.sort(key=lambda t: (t["created_us"], t["id"]), reverse=True)
    return [t["trade_id"] for t in out]


WHALE_FILTERS = [
    ("", lambda t: True, None),
    ("min_notional=20000", lambda t: True, 20000),
    ("min_notional=1000", lambda t: True, 1000),
    ("category=sports", lambda t: t["category"] == "Sports", None),
    ("category=Crypto", lambda t: t["category"] == "Crypto", None),
    ("side=yes", lambda t: t["taker_side"] == "yes", None),
    ("ticker=KXPOL-26DEC02-T29", lambda t: t["ticker"] == "KXPOL-26DEC02-T29", None),
]


@pytest.mark.parametrize("query,pred,min_usd", WHALE_FILTERS, ids=[w[0] or "default"
                                                                   for w in WHALE_FILTERS])
def test_whales_filters_and_walk(api, query, pred, min_usd):
    rows, _ = walk(api, "/api/v1/whales?" + query, 9)
    got = [r["trade_id"] for r in rows]
    assert len(got) == len(set(got))
    assert got == whales_expected(api, pred, min_usd)
    assert got, "the case must select something"


def test_whales_time_window(api):
    now = api.data["now"]
    import time as _t
    fr = _t.strftime("%Y-%m-%dT%H:%M:%SZ", _t.gmtime(now - 40000))
    to = _t.strftime("%Y-%m-%dT%H:%M:%SZ", _t.gmtime(now - 10000))
    rows, _ = walk(api, "/api/v1/whales?from=%s&to=%s" % (fr, to), 50)
    want = whales_expected(api, lambda t: (now - 40000) * USD <= t["created_us"]
                           < (now - 10000) * USD)
    assert [r["trade_id"] for r in rows] == want and want


def test_whales_csv_matches_json(api):
    rows, _ = walk(api, "/api/v1/whales?category=Politics", 50)
    for how in ({"params": {"format": "csv", "category": "Politics"}, "headers": HEADERS},
                {"params": {"category": "Politics"},
                 "headers": dict(HEADERS, Accept="text/csv, application/json;q=0.5")}):
        r = api.get("/api/v1/whales", **how)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/csv")
        assert "Accept" in r.headers["Vary"]
        recs = list(csv.DictReader(io.StringIO(r.text)))
        assert [x["trade_id"] for x in recs] == [x["trade_id"] for x in rows]
        assert Decimal(recs[0]["notional_usd"]) == rows[0]["notional_usd"]
    r = get(api, "/api/v1/whales?format=csv&limit=3")
    assert len(r.text.strip().split("\r\n")) == 4


def test_whales_csv_streams_many_pages(api):
    """An export larger than one store page (500 rows) continues along the keyset."""
    now = api.data["now"]
    with api.sql() as db:
        db.executemany("INSERT INTO trades (trade_id, ticker, created_us, count_centi,"
                       " yes_price_micros, no_price_micros, taker_side, notional_micros)"
                       " VALUES (?, 'BULK-1', ?, 2000000, 500000, 500000, 'no', ?)",
                       [("bulk-%04d" % i, (now - 5000) * USD + (i // 3), 10000 * USD + i)
                        for i in range(1234)])
    try:
        r = get(api, "/api/v1/whales?format=csv&ticker=BULK-1")
        recs = list(csv.DictReader(io.StringIO(r.text)))
        ids = [x["trade_id"] for x in recs]
        assert len(ids) == 1234 and len(set(ids)) == 1234
        assert ids == ["bulk-%04d" % i for i in range(1233, -1, -1)]
        assert recs[0]["category"] == "" and recs[0]["taker_side"] == "no"
    finally:
        with api.sql() as db:
            db.execute("DELETE FROM trades WHERE ticker = 'BULK-1'")


# ---- alerts ---------------------------------------------------------------------------------

ALERT_FILTERS = [
    ("", lambda a: True),
    ("type=odds_flip", lambda a: a["type"] == "odds_flip"),
    ("type=volume_surge", lambda a: a["type"] == "volume_surge"),
    ("type=order_book_shift", lambda a: a["type"] == "order_book_shift"),
    ("severity=high", lambda a: a["severity"] == "high"),
    ("category=Politics", lambda a: a["category"] == "Politics"),
    ("category=crypto", lambda a: a["category"] == "Crypto"),
    ("type=whale_trade&severity=medium", lambda a: a["type"] == "whale_trade"
     and a["severity"] == "medium"),
    ("type=high_volume&severity=high", lambda a: a["type"] == "high_volume"
     and a["severity"] == "high"),
]


def test_alerts_are_what_detection_raised(api):
    """The fake's two runs raise exactly the planned alerts (type, ticker, severity), every
    signal type at both severities, read back over HTTP."""
    rows, _ = walk(api, "/api/v1/alerts", 200)
    got = collections.Counter((r["type"], r["ticker"], r["severity"]) for r in rows)
    assert got == apiseed.alert_plan()
    assert {(t, s) for t, _, s in got} == {(t, s) for t in ("whale_trade", "volume_surge",
                                                             "odds_flip", "order_book_shift",
                                                             "high_volume")
                                           for s in ("high", "medium")}
    # Each whale alert names its own trade, with that trade's premium.
    trades = {t["trade_id"]: t for t in api.data["trades"]}
    whales = [r for r in rows if r["type"] == "whale_trade"]
    assert len({r["data"]["trade_id"] for r in whales}) == len(whales)
    for r in whales:
        t = trades[r["data"]["trade_id"]]
        assert t["ticker"] == r["ticker"]
        assert r["data"]["notional_usd"] == Decimal(t["notional_micros"]) / USD
        assert r["data"]["thresholds"]["min_notional_usd"] == \
            apiseed.whale_threshold(t["category"]) // USD


@pytest.mark.parametrize("query,pred", ALERT_FILTERS, ids=[a[0] or "all" for a in ALERT_FILTERS])
def test_alerts_filters_and_walk(api, query, pred):
    rows, _ = walk(api, "/api/v1/alerts?" + query, 11)
    want = sorted((a["id"] for a in api.data["alerts"] if pred(a)), reverse=True)
    assert [r["id"] for r in rows] == want and want


def test_alerts_ticker_and_since_id(api):
    for t in sorted({a["ticker"] for a in api.data["alerts"]}):
        rows, _ = walk(api, "/api/v1/alerts?ticker=" + t, 2)
        assert [r["id"] for r in rows] == sorted((a["id"] for a in api.data["alerts"]
                                                  if a["ticker"] == t), reverse=True)
    # since_id: oldest first, strictly after, and resumable page by page.
    ids = [a["id"] for a in api.data["alerts"]]
    mid = ids[len(ids) // 3]
    rows, pages = walk(api, "/api/v1/alerts?since_id=%d" % mid, 7)
    assert [r["id"] for r in rows] == [i for i in ids if i > mid] and pages > 2
    stored = {a["id"]: a for a in api.data["alerts"]}
    for a in rows:
        assert a["severity"] in ("high", "medium") and 0 < a["confidence"] <= 1
        assert json.loads(json.dumps(a["data"], default=float)) == stored[a["id"]]["data"]
        assert a["description"] == stored[a["id"]]["description"]
        assert RFC3339.match(a["created_at"])


def test_alerts_csv(api):
    r = get(api, "/api/v1/alerts?format=csv&since_id=0")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    recs = list(csv.DictReader(io.StringIO(r.text)))
    stored = api.data["alerts"]
    assert [int(x["id"]) for x in recs] == [a["id"] for a in stored]
    # A formula-like cell (a category as Kalshi sent it) is neutralised; commas and quotes
    # survive quoting: in descriptions ("$12,500.00") and in the data column's JSON.
    odd = [x for x in recs if x["ticker"].startswith("KXODD-")]
    assert odd and all(x["category"] == "'" + apiseed.FORMULA for x in odd)
    for x, a in zip(recs, stored):
        assert x["type"] == a["type"] and x["ticker"] == a["ticker"]
        assert x["description"] == a["description"]
        assert json.loads(x["data"]) == a["data"]
    assert any("," in x["description"] for x in recs)


# ---- stats ----------------------------------------------------------------------------------

def test_stats_windows(api):
    b = body(get(api, "/api/v1/stats"))
    assert set(b["data"]) == {"1h", "24h", "7d"}
    now = api.data["now"]
    day = [t for t in api.data["trades"] if t["created_us"] >= (now - 86400) * USD]
    w = b["data"]["24h"]
    top = sorted(day, key=lambda t: (t["notional_micros"], t["id"]), reverse=True)[:10]
    assert [t["trade_id"] for t in w["top_trades"]] == [t["trade_id"] for t in top]
    per = {}
    for t in day:
        p = per.setdefault(t["ticker"], [0, 0, 0])
        p[0] += t["notional_micros"]
        p[1 if t["taker_side"] == "yes" else 2] += t["notional_micros"]
    best = sorted(per.items(), key=lambda kv: (-kv[1][0], kv[0]))[:10]
    assert [m["ticker"] for m in w["most_active_markets"]] == [k for k, _ in best]
    f = w["flow"][0]
    assert f["yes_usd"] == Decimal(best[0][1][1]) / USD
    assert f["net_yes_usd"] == Decimal(best[0][1][1] - best[0][1][2]) / USD
    whales = {}
    for t in day:
        if t["notional_micros"] >= apiseed.whale_threshold(t["category"]):
            whales[t["category"]] = whales.get(t["category"], 0) + 1
    assert w["whale_counts_by_category"] == whales
    assert all(g["change"] > 0 for g in w["gainers"])
    assert all(x["change"] < 0 for x in w["losers"])
    one = body(get(api, "/api/v1/stats?window=1h&limit=3"))
    assert set(one["data"]) == {"1h"} and len(one["data"]["1h"]["top_trades"]) <= 3


# ---- caching --------------------------------------------------------------------------------

def test_etag_and_304(api):
    r1 = get(api, "/api/v1/whales?limit=5")
    r2 = get(api, "/api/v1/whales?limit=5")
    tag = r1.headers["ETag"]
    assert re.match(r'^"[0-9a-f]{32}"$', tag) and r2.headers["ETag"] == tag
    assert r1.headers["Cache-Control"] == "no-store"  # authenticated: never cached, revalidated
    pub = api.get("/api/openapi.json", anonymous=True)
    assert pub.headers["Cache-Control"] == "max-age=15" and pub.headers["ETag"]
    r3 = get(api, "/api/v1/whales?limit=5", headers=dict(HEADERS, **{"If-None-Match": tag}))
    assert r3.status_code == 304 and r3.content == b"" and r3.headers["ETag"] == tag
    r4 = get(api, "/api/v1/whales?limit=5",
             headers=dict(HEADERS, **{"If-None-Match": 'W/"x", W/' + tag}))
    assert r4.status_code == 304
    r5 = get(api, "/api/v1/whales?limit=5", headers=dict(HEADERS, **{"If-None-Match": '"x"'}))
    assert r5.status_code == 200 and r5.json()["data"]
    assert get(api, "/api/v1/whales?limit=6").headers["ETag"] != tag
    # New data, new tag.
    with api.sql() as db:
        db.execute("INSERT INTO trades (trade_id, ticker, created_us, count_centi,"
                   " yes_price_micros, no_price_micros, taker_side, notional_micros)"
                   " VALUES ('tr-new', ?, ?, 1000000, 500000, 500000, 'yes', 90000000000)",
                   (api.data["markets"][0]["ticker"], (api.data["now"] - 1) * USD + 999999))
        apiseed.market_data_written(db)
    r6 = get(api, "/api/v1/whales?limit=5", headers=dict(HEADERS, **{"If-None-Match": tag}))
    assert r6.status_code == 200 and r6.headers["ETag"] != tag
    assert r6.json()["data"][0]["trade_id"] == "tr-new"
    with api.sql() as db:
        db.execute("DELETE FROM trades WHERE trade_id = 'tr-new'")
        apiseed.market_data_written(db)
    # Every GET route gets an ETag and answers 304, HEAD included.
    for path in ("/api/v1/markets", "/api/v1/stats?window=1h", "/api/markets/top5",
                 "/api/whale-alerts", "/api/openapi.json",
                 "/api/v1/markets/" + api.data["hist"]):
        # A reply that carries the current second (stats: since/until) changes when a second
        # passes between two requests that no per-worker cache answers (plain CGI): a new ETag
        # then, and a 200, is right; try again, a few times.
        for attempt in range(3):
            a = get(api, path)
            assert a.status_code == 200 and a.headers.get("ETag"), path
            b = get(api, path, headers=dict(HEADERS, **{"If-None-Match": a.headers["ETag"]}))
            h = requests.head(api.url(path), headers=HEADERS, timeout=10)
            changed = b.headers.get("ETag") != a.headers["ETag"] or \
                h.headers.get("ETag") != a.headers["ETag"]
            if not (changed and attempt < 2):
                break
        assert b.status_code == 304, path
        assert h.status_code == 200 and h.headers["ETag"] == a.headers["ETag"], path


# ---- refresh --------------------------------------------------------------------------------

def test_refresh(api):
    url = "/api/v1/refresh"
    assert api.post(url, headers=HEADERS, json={"force_update": "yes"}).status_code == 400
    r = api.post(url, headers=HEADERS, json={"force_update": True, "x": 1})
    assert r.status_code == 400 and "'x'" in r.json()["error"]["message"]
    r = api.post(url, headers=HEADERS, json={"force_update": True})
    assert r.status_code == 202, r.text
    b = r.json()
    assert b["success"] is True and b["request_id"] > 0 and b["force_update"] is True
    assert {"message", "count", "timestamp"} <= set(b)
    with api.sql() as db:
        row = db.execute("SELECT force, run_id FROM refresh_requests WHERE id = ?",
                         (b["request_id"],)).fetchone()
    assert row == (1, None)
    # Unclaimed: a second click does not queue another run.
    r = api.post(url, headers=HEADERS)
    assert r.status_code == 409 and "request %d" % b["request_id"] in r.json()["error"]["message"]
    # Claimed by a run that is still going: 409 naming the run.
    with api.sql() as db:
        run = db.execute("INSERT INTO fetch_runs (started_at) VALUES (?) RETURNING id",
                         (api.data["now"],)).fetchone()[0]
        db.execute("UPDATE refresh_requests SET run_id = ?", (run,))
    r = api.post(url, headers=HEADERS, json={})
    assert r.status_code == 409 and "run %d" % run in r.json()["error"]["message"]
    # The run finished: a new request is accepted.
    with api.sql() as db:
        db.execute("UPDATE fetch_runs SET outcome = 'ok', finished_at = ? WHERE id = ?",
                   (api.data["now"], run))
    r = api.post(url, headers=HEADERS, json={"force_update": False})
    assert r.status_code == 202 and r.json()["request_id"] == b["request_id"] + 1
    assert api.get(url, headers=HEADERS).status_code == 405
    # Without credentials: refused once authentication is enforced (it is built in parallel;
    # /api/status tells whether this build enforces it).
    if api.get("/api/status").status_code == 401:
        assert api.post(url, json={}).status_code == 401


# ---- OpenAPI --------------------------------------------------------------------------------

def router_routes():
    src = open(os.path.join(TOP, "fcgi", "routes.c")).read()
    table = src[src.index("kw_routes[] = {"):src.index("kw_routes_count")]
    return set(re.findall(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)"', table))


def test_openapi_matches_the_router(api):
    r = api.get("/api/openapi.json")  # public: no key needed
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    routes = router_routes()
    assert routes and routes == documented
    # Every documented operation exists: the router answers neither 404 nor 405 for it.
    for method, path in documented:
        concrete = path.replace("{ticker}", api.data["hist"])
        resp = requests.request(method, api.url(concrete), headers=HEADERS, timeout=10,
                                json={} if method == "POST" else None)
        assert resp.status_code not in (404, 405), (method, path, resp.status_code)
    # Parameters come from the declarations: names, ranges and choices.
    op = doc["paths"]["/api/v1/markets"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"q", "category", "series", "event", "status", "min_volume_24h",
                           "sort", "limit", "cursor"}
    assert params["limit"]["schema"]["maximum"] == 200
    assert params["sort"]["schema"]["enum"] == ["volume_24h", "volume", "open_interest",
                                                "price_change", "close_time"]
    w = doc["paths"]["/api/v1/whales"]["get"]
    assert "text/csv" in w["responses"]["200"]["content"]
    for path in ("/api/v1/refresh", "/api/refresh"):
        ref = doc["paths"][path]["post"]
        assert ref["requestBody"]["content"]["application/json"]["schema"]["properties"] == {
            "force_update": {"type": "boolean"}}
        assert ref["x-required-scope"] == "admin"
    # v1: 202 or 409; the legacy route answers 200 either way, as the original did.
    assert {"202", "409"} <= set(doc["paths"]["/api/v1/refresh"]["post"]["responses"])
    legacy = doc["paths"]["/api/refresh"]["post"]["responses"]
    assert "200" in legacy and "202" not in legacy and "409" not in legacy
    hist = doc["paths"]["/api/v1/markets/{ticker}/history"]["get"]
    assert {"name": "ticker", "in": "path", "required": True,
            "schema": {"type": "string"}} in hist["parameters"]


def test_reply_cache_never_serves_stale_data(api):
    """Workers keep recent replies, but a commit of market data by another connection
    (kw-fetch, which advances the data generation with it) is seen at once: repeat a request on
    every worker, change the data, and the next reply has it."""
    path = "/api/v1/whales?limit=1&category=Politics"
    first = [body(get(api, path))["data"][0]["trade_id"] for _ in range(6)]
    assert len(set(first)) == 1
    ticker = next(m["ticker"] for m in api.data["markets"] if m["category"] == "Politics")
    with api.sql() as db:
        db.execute("INSERT INTO trades (trade_id, ticker, created_us, count_centi,"
                   " yes_price_micros, no_price_micros, taker_side, notional_micros)"
                   " VALUES ('tr-cache', ?, ?, 2000000, 500000, 500000, 'yes', 10000000000)",
                   (ticker, int(time.time()) * USD))
        apiseed.market_data_written(db)
    try:
        after = [body(get(api, path))["data"][0]["trade_id"] for _ in range(6)]
        assert after == ["tr-cache"] * 6
    finally:
        with api.sql() as db:
            db.execute("DELETE FROM trades WHERE trade_id = 'tr-cache'")
            apiseed.market_data_written(db)
    assert body(get(api, path))["data"][0]["trade_id"] == first[0]
