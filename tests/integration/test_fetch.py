"""kw-fetch against a fake Kalshi (tests/fake_kalshi) on 127.0.0.1, with a fresh database per
test (a SQLite file, or one of its own on PostgreSQL: kwstack.database()): the real binary,
real HTTP (libcurl), the real database, and for /api/status a real Stack.

Covered: the happy path (pagination with an empty page and a live cursor, categories through
event -> series, exact money, request hygiene), legacy payloads and every cursor ending, skipped
records, each HTTP fault (429 in both body forms, 500/503, slow past the timeout, truncated
JSON, wrong types, a body over the cap, a 301, a dropped connection), de-duplication across
overlapping runs, the first-run backfill window, kill -9 mid-run then a clean run, SIGTERM
while the page reader waits for the next page, the lock,
retention, --record/--replay round trip, the bundled sample, unreachable Kalshi, --loop with
refresh requests and SIGTERM, --dry-run, combos, and the command line.
"""
import fcntl
import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import kwstack
from kwstack import BUILD, TOP, Stack, db_errors, db_settings, dbconnect, free_port, \
    pg_mode, sanitizer_env, sanitizer_reports

sys.path.insert(0, os.path.join(TOP, "tests", "fake_kalshi"))
import fake_kalshi as fk  # noqa: E402

KW_FETCH = os.path.join(BUILD, "kw-fetch")
GOLD_1 = "6f1c2a8e-5b0d-5e2f-9a4c-3d7e8b1f0a92"
GOLD_2 = "0b9d4e71-2c3a-5f8b-8e6d-91a4c7f2d503"
BTC = "KXBTCD-25DEC3117-T104999.99"


@pytest.fixture
def work(tmp_path):
    yield tmp_path
    reports = sanitizer_reports(str(tmp_path))
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def env_for(tmp, base, **settings):
    env = dict(os.environ)
    envfile = os.path.join(str(tmp), "empty.env")
    open(envfile, "a").close()
    env["KW_ENV_FILE"] = envfile
    env.update(db_settings(os.path.join(str(tmp), "kw.db")))
    env.update({"KALSHI_API_BASE": base,
                "KALSHI_MAX_RPS": "100", "KALSHI_TIMEOUT_SECONDS": "5",
                "KW_FETCH_BACKOFF_MS": "5", "LOG_LEVEL": "info"})
    env.update({k: str(v) for k, v in settings.items()})
    env.update(sanitizer_env(str(tmp)))
    return env


def fetch(env, *args, timeout=60):
    return subprocess.run([KW_FETCH] + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout)


def db(env):
    return dbconnect(env)


def rows(env, sql, *params):
    with db(env) as c:
        return c.execute(sql, params).fetchall()


def last_run(env):
    c = db(env)
    c.row_factory = kwstack.Row
    r = c.execute("SELECT * FROM fetch_runs ORDER BY id DESC LIMIT 1").fetchone()
    c.close()
    return dict(r)


def dump(env):
    """Everything a failed run must leave alone."""
    return (rows(env, "SELECT * FROM markets ORDER BY ticker"),
            rows(env, "SELECT * FROM trades ORDER BY id"),
            rows(env, "SELECT * FROM market_snapshots ORDER BY ticker, taken_at"),
            rows(env, "SELECT * FROM orderbook_snapshots ORDER BY ticker, taken_at"))


def standard(now=None, **kw):
    now = now or int(time.time())
    markets = [
        fk.market(BTC, "KXBTCD-25DEC3117", volume_24h="9120.00"),
        fk.market("KXHIGHNY-25DEC31-B38.5", "KXHIGHNY-25DEC31", yes_bid="0.2200",
                  yes_ask="0.2500", last="0.2300", volume_24h="500.00"),
        fk.market("KXPRES-28-DJT", "KXPRES-28", volume_24h="100000.00"),
        fk.market("KXMVE-COMBO-1", "KXMVE-E1"),
        fk.market("KXOLD-1", "KXOLD", status="closed"),
    ]
    trades = [
        fk.trade(GOLD_1, BTC, count="25.00", yes="0.4200", side="yes",
                 created=fk.ts(now - 120, ".48213")),
        fk.trade(GOLD_2, BTC, count="3.50", yes="0.4100", side="no",
                 created=fk.ts(now - 130, ".9")),
        fk.trade("t-pres-1", "KXPRES-28-DJT", count="100.00", yes="0.5000",
                 created=fk.ts(now - 200)),
        fk.trade("t-combo-1", "KXMVE-COMBO-1", count="1.00", created=fk.ts(now - 210)),
    ]
    events = [fk.event("KXBTCD-25DEC3117", "KXBTCD"),
              fk.event("KXHIGHNY-25DEC31", "KXHIGHNY", category="Weather (old)"),
              fk.event("KXPRES-28", "KXPRES")]
    series = [fk.series("KXBTCD", "Crypto"), fk.series("KXHIGHNY", "Climate and Weather"),
              fk.series("KXPRES", "Politics")]
    books = {BTC: fk.book([("0.3900", "500.00"), ("0.4000", "1200.00"), ("0.4100", "250.00")],
                          [("0.5500", "300.00"), ("0.5600", "75.00"), ("0.5700", "118.50")])}
    args = dict(markets=markets, trades=trades, events=events, series_list=series,
                books=books, page_size=2, empty_first_page=True)
    args.update(kw)
    return fk.FakeKalshi(**args)


# ---- happy path --------------------------------------------------------------------------------

def test_happy_path_current_schema(work):
    with standard() as fake:
        env = env_for(work, fake.base)
        r = fetch(env, "--once")
        assert r.returncode == 0, r.stderr
        m = {t: (cat, series, yb, ya, vol24, oi) for t, cat, series, yb, ya, vol24, oi in rows(
            env, "SELECT ticker, category, series_ticker, yes_bid_micros, yes_ask_micros,"
            " volume_24h_centi, open_interest_centi FROM markets")}
        assert set(m) == {BTC, "KXHIGHNY-25DEC31-B38.5", "KXPRES-28-DJT"}  # no combo, no closed
        assert m[BTC] == ("Crypto", "KXBTCD", 410000, 430000, 912000, 741025)
        # the series' category wins over the event's deprecated one
        assert m["KXHIGHNY-25DEC31-B38.5"][0] == "Climate and Weather"
        t = dict(rows(env, "SELECT trade_id, notional_micros FROM trades"))
        assert t == {GOLD_1: 10500000, GOLD_2: 2065000, "t-pres-1": 50000000}  # $10.50, $2.065
        assert rows(env, "SELECT created_us, count_centi, taker_side FROM trades WHERE"
                    " trade_id = ?", GOLD_2)[0][1:] == (350, "no")
        book = rows(env, "SELECT yes_depth_centi, no_depth_centi, yes_levels,"
                    " best_yes_bid_micros, best_no_bid_micros FROM orderbook_snapshots"
                    " WHERE ticker = ?", BTC)
        assert book == [(195000, 49350, 3, 410000, 570000)]
        assert rows(env, "SELECT count(*) FROM market_snapshots")[0][0] == 3
        run = last_run(env)
        assert run["outcome"] == "ok" and run["error"] is None
        assert run["markets"] == 3 and run["trades"] == 3 and run["open_markets"] == 3
        assert run["orderbooks"] == 3 and run["http_errors"] == 0
        assert json.loads(run["skip_reasons"]) == {"combo_market": 1}
        assert run["finished_at"] >= run["started_at"] > 0
        # request hygiene: product UA, compression, no auth, no trailing slash, combos excluded
        for req in fake.requests:
            h = {k.lower(): v for k, v in req["headers"].items()}
            assert h["user-agent"].startswith("KalshiWhale/") and "kw-fetch" in h["user-agent"]
            assert "gzip" in h.get("accept-encoding", "")
            assert not [k for k in h if k.startswith("kalshi-access") or k == "authorization"]
            assert not req["path"].endswith("/")
        mreq = [r for r in fake.requests if r["path"].endswith("/markets")]
        assert len(mreq) == 3  # empty page with a live cursor, then two pages
        assert all(r["query"]["mve_filter"] == "exclude" and r["query"]["status"] == "open"
                   and r["query"]["limit"] == "1000" for r in mreq)
        assert "cursor" not in mreq[0]["query"] and mreq[1]["query"]["cursor"] == "EMPTYPAGE"


@pytest.mark.parametrize("end_cursor", [None, "missing"])
def test_legacy_payloads_and_cursor_endings(work, end_cursor):
    now = int(time.time())
    fake = fk.FakeKalshi(
        markets=[fk.legacy_market("OLD-%d" % i, "OLDEV", yes_bid=41, yes_ask=43,
                                  volume_24h=9120) for i in range(3)],
        trades=[fk.legacy_trade("L1", "OLD-0", count=25, yes=42, side="yes",
                                created=fk.ts(now - 10)),
                fk.legacy_trade("L2", "OLD-0", count=3, yes=41, side="no",
                                created=fk.ts(now - 20))],
        books={"OLD-0": {"orderbook": {"yes": [[41, 250], [39, 500]], "no": None}}},
        page_size=2, end_cursor=end_cursor)
    with fake:
        env = env_for(work, fake.base)
        r = fetch(env)
        assert r.returncode == 0, r.stderr
        assert rows(env, "SELECT count(*), min(yes_bid_micros), max(volume_24h_centi),"
                    " min(category) FROM markets") == [(3, 410000, 912000, "Crypto")]
        assert dict(rows(env, "SELECT trade_id, notional_micros FROM trades")) == {
            "L1": 10500000, "L2": 1770000}
        assert rows(env, "SELECT yes_depth_centi, best_yes_bid_micros, no_levels FROM"
                    " orderbook_snapshots WHERE ticker = 'OLD-0'") == [(75000, 410000, 0)]
        assert len(fake.paths("/trade-api/v2/markets/trades")) == 1


def test_skipped_records_are_counted_never_zeroed(work):
    now = int(time.time())
    bad_markets = [
        fk.market("GOOD-1", "EV"),
        {"ticker": "NOEVENT", "status": "active"},
        fk.market("BADPRICE", "EV", yes_bid_dollars={"x": 1}),
        fk.market("BADCOUNT", "EV", volume="lots"),
        fk.market("HUGE", "EV", title="x" * (1 << 20)),
        "not an object",
    ]
    bad_trades = [
        fk.trade("ok-1", "GOOD-1", created=fk.ts(now - 5)),
        {"ticker": "GOOD-1", "count_fp": "1.00", "yes_price_dollars": "0.5",
         "taker_side": "yes", "created_time": fk.ts(now - 6)},
        dict(fk.trade("nocount", "GOOD-1", created=fk.ts(now - 7)), count_fp=None),
        dict(fk.trade("wrongtype", "GOOD-1", created=fk.ts(now - 8)),
             yes_price_dollars=[0.5]),
    ]
    with fk.FakeKalshi(markets=bad_markets, trades=bad_trades, page_size=10) as fake:
        env = env_for(work, fake.base)
        r = fetch(env)
        assert r.returncode == 0, r.stderr
        assert rows(env, "SELECT ticker FROM markets") == [("GOOD-1",)]
        assert rows(env, "SELECT trade_id FROM trades") == [("ok-1",)]
        run = last_run(env)
        reasons = json.loads(run["skip_reasons"])
        assert reasons == {"missing_event_ticker": 1, "bad_price": 2, "bad_count": 1,
                           "oversize_text": 1, "not_an_object": 1, "missing_trade_id": 1,
                           "missing_count": 1, "not_found": 1}
        assert run["skipped"] == sum(reasons.values())
        assert "skipped market HUGE: oversize_text" in r.stderr
        assert "skipped trade wrongtype: bad_price" in r.stderr


# ---- HTTP faults -------------------------------------------------------------------------------

FAULTS = [
    # kind, times, exit status, outcome, log fragments
    ("429s", 2, 0, "ok", ["HTTP 429", "message 'too many requests'", "retrying in"]),
    ("429o", 2, 0, "ok", ["HTTP 429", "error code 'too_many_requests'"]),
    ("500", -1, 75, "failed", ["HTTP 500", "'internal_error'", "giving up after 5 attempts"]),
    ("503", -1, 75, "failed", ["HTTP 503", "message 'upstream failure 503'"]),
    ("drop", 1, 0, "ok", ["transfer failed"]),
    ("truncated", 1, 1, "failed", ["truncated JSON"]),
    ("envelope", 1, 1, "failed", ['"markets" is not an array']),
    ("oversize", 1, 1, "failed", ["response over the 33554432-byte cap; aborted"]),
    ("redirect", 1, 1, "failed", ["HTTP 301 redirect", "not followed"]),
]


@pytest.mark.parametrize("kind,times,status,outcome,logs", FAULTS,
                         ids=[f[0] for f in FAULTS])
def test_markets_fault(work, kind, times, status, outcome, logs):
    with standard(empty_first_page=False) as fake:
        env = env_for(work, fake.base)
        assert fetch(env).returncode == 0
        before = dump(env)
        fake.fault("/markets", kind, times=times)
        r = fetch(env)
        assert r.returncode == status, r.stderr
        for frag in logs:
            assert frag in r.stderr, (frag, r.stderr)
        run = last_run(env)
        assert run["outcome"] == outcome
        if outcome == "failed":
            assert dump(env) == before  # stored data as it was
            assert run["error"] and run["open_markets"] is None
            if not pg_mode():  # SQLite's own page check
                assert rows(env, "PRAGMA integrity_check") == [("ok",)]
        else:
            assert run["http_errors"] == times


def test_trades_outage_is_partial(work):
    with standard() as fake:
        env = env_for(work, fake.base)
        fake.fault("/markets/trades", "503", times=-1)
        r = fetch(env)
        assert r.returncode == 3, r.stderr
        run = last_run(env)
        assert run["outcome"] == "partial" and run["markets"] == 3 and run["trades"] == 0
        assert "trades: page 1 could not be fetched" in run["error"]
        # the watermark did not move: the next run backfills what was missed
        assert rows(env, "SELECT count(*) FROM fetch_state WHERE name = 'trades_watermark_us'"
                    ) == [(0,)]
        fake.clear_faults()
        r = fetch(env)
        assert r.returncode == 0 and rows(env, "SELECT count(*) FROM trades") == [(3,)]


def test_orderbook_401_is_reported_and_run_partial(work):
    with standard() as fake:
        env = env_for(work, fake.base)
        fake.fault("/markets/K*", "401", times=-1)  # /markets/{ticker}/orderbook only
        r = fetch(env)
        assert r.returncode == 3, r.stderr
        assert "HTTP 401, error code 'missing_parameters'" in r.stderr
        run = last_run(env)
        assert run["outcome"] == "partial" and run["markets"] == 3 and run["orderbooks"] == 0
        assert "order books: 3 failures in a row" in run["error"]


def test_cursor_that_never_advances_stops_the_run(work):
    with standard(empty_first_page=False) as fake:
        env = env_for(work, fake.base)
        fake.fault("/markets", "stuck", times=-1)
        r = fetch(env)
        assert r.returncode == 1, r.stderr
        assert "cursor did not advance" in r.stderr
        assert len(fake.paths("/trade-api/v2/markets")) == 2


def test_request_rate_is_capped(work):
    with standard() as fake:
        env = env_for(work, fake.base, KALSHI_MAX_RPS=8)
        assert fetch(env).returncode == 0
        starts = [r["at"] for r in fake.requests]
        assert len(starts) >= 10
        # At most 8 a second: n requests span at least (n - 1) / 8 s. The span, not each gap:
        # the fake server stamps a request when its thread runs, so one late stamp on a busy
        # machine shortens a single gap without any request having been sent early.
        span = starts[-1] - starts[0]
        assert span >= (len(starts) - 1) / 8 - 0.1, (span, len(starts))


def test_slow_response_times_out_then_retries(work):
    with standard(empty_first_page=False) as fake:
        env = env_for(work, fake.base, KALSHI_TIMEOUT_SECONDS=1)
        fake.fault("/markets", "slow", times=1, seconds=2.5)
        t0 = time.time()
        r = fetch(env)
        assert r.returncode == 0, r.stderr
        assert "timed out" in r.stderr and "attempt 1 of 5" in r.stderr
        assert time.time() - t0 < 10
        assert last_run(env)["http_errors"] == 1


def test_unreachable_kalshi_fails_cleanly(work):
    with standard() as fake:
        env = env_for(work, fake.base)
        assert fetch(env).returncode == 0
        before = dump(env)
    env["KALSHI_API_BASE"] = "http://127.0.0.1:%d/trade-api/v2" % free_port()
    env["KW_FETCH_BACKOFF_MS"] = "1"
    r = fetch(env)
    assert r.returncode == 75, r.stderr
    assert "Kalshi unreachable" in r.stderr and "giving up after 5 attempts" in r.stderr
    assert dump(env) == before
    run = last_run(env)
    assert run["outcome"] == "failed" and run["http_errors"] == 5


def test_trailing_slash_base_and_301_for_slashes(work):
    with standard() as fake:
        env = env_for(work, fake.base + "//")
        r = fetch(env)
        assert r.returncode == 0, r.stderr
        assert not [p for p in fake.paths() if "//" in p or p.endswith("/")]
        # the fake behaves like Kalshi for a trailing slash
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        conn.request("GET", "/trade-api/v2/series/")
        resp = conn.getresponse()
        assert resp.status == 301 and resp.getheader("Location") == "/trade-api/v2/series"
        conn.close()


# ---- runs over time ----------------------------------------------------------------------------

def test_dedup_across_overlapping_runs(work):
    now = int(time.time())
    with standard(now=now) as fake:
        env = env_for(work, fake.base)
        assert fetch(env).returncode == 0
        wm = rows(env, "SELECT value FROM fetch_state WHERE name = 'trades_watermark_us'")[0][0]
        assert wm == (now - 120) * 1000000 + 482130
        fake.trades.append(fk.trade("t-new", BTC, count="1.00", created=fk.ts(now - 1)))
        fake.requests.clear()
        assert fetch(env).returncode == 0
        tq = [r["query"] for r in fake.requests if r["path"].endswith("/markets/trades")]
        assert tq[0]["min_ts"] == str(wm // 1000000 - 600)  # overlap window
        assert rows(env, "SELECT count(*), count(DISTINCT trade_id) FROM trades") == [(4, 4)]
        assert last_run(env)["trades"] == 1
        assert fetch(env).returncode == 0
        assert last_run(env)["trades"] == 0
        assert rows(env, "SELECT count(*) FROM trades") == [(4,)]
        # The markets' 24-hour totals (what the lists show) follow the stored trades once each.
        assert rows(env, "SELECT ticker, usd_24h_micros, trades_24h FROM market_activity"
                         " ORDER BY ticker") == \
            rows(env, "SELECT ticker, sum(notional_micros), count(*) FROM trades"
                      " GROUP BY ticker ORDER BY ticker")
        assert rows(env, "SELECT trades_24h FROM market_activity WHERE ticker = ?", BTC) == [(3,)]


def test_relisted_markets_update_only_what_changed(work):
    """A market listed again unchanged only has updated_at moved (no index rewrite); a
    changed one is rewritten; the category found through its series is kept either way."""
    now = int(time.time())
    with standard(now=now) as fake:
        env = env_for(work, fake.base)
        assert fetch(env).returncode == 0
        q = ("SELECT ticker, category, series_ticker, yes_bid_micros, last_price_micros,"
             " volume_24h_centi, first_seen_at, updated_at FROM markets"
             " WHERE status = 'active' ORDER BY ticker")
        before = {r[0]: r for r in rows(env, q)}
        assert before[BTC][1] == "Crypto"
        time.sleep(1.1)  # the next run's time differs by at least a second
        hi = next(m for m in fake.markets if m["ticker"] == "KXHIGHNY-25DEC31-B38.5")
        hi["yes_bid_dollars"] = "0.2400"
        hi["volume_24h_fp"] = "777.00"
        assert fetch(env).returncode == 0
        after = {r[0]: r for r in rows(env, q)}
        assert after.keys() == before.keys()
        for t in after:
            assert after[t][7] > before[t][7], t  # listed: updated_at moves
            assert after[t][1:3] == before[t][1:3] and after[t][6] == before[t][6], t
        assert after[BTC][3:6] == before[BTC][3:6]
        assert after[hi["ticker"]][3] == 240000 and after[hi["ticker"]][5] == 77700
        assert last_run(env)["open_markets"] == len(before)
        # Snapshots are steps: the changed market has a second one, the others still one.
        snaps = dict(rows(env, "SELECT ticker, count(*) FROM market_snapshots GROUP BY ticker"))
        assert snaps[hi["ticker"]] == 2
        assert snaps[BTC] == 1 and set(snaps) == set(before)
        assert rows(env, "SELECT yes_bid_micros FROM market_snapshots WHERE ticker = ?"
                         " ORDER BY taken_at", hi["ticker"]) == [(220000,), (240000,)]


def _markets_bytes(env):
    """The markets table and its indexes, in bytes, as the database stores them: PostgreSQL's
    main forks (not the free-space and visibility maps vacuum may add), SQLite's pages."""
    if pg_mode():
        return rows(env, "SELECT pg_relation_size('markets', 'main') + (SELECT"
                         " sum(pg_relation_size(indexrelid, 'main')) FROM pg_index"
                         " WHERE indrelid = 'markets'::regclass)")[0][0]
    return rows(env, "SELECT sum(pgsize) FROM dbstat WHERE name IN"
                " (SELECT name FROM sqlite_master WHERE tbl_name = 'markets')")[0][0]


def test_markets_listed_as_they_were_do_not_grow_the_table(work):
    """Most markets come back unchanged run after run. Moving their updated_at must not
    rewrite the table's indexes or leave a copy of each row behind every run (on
    PostgreSQL: room in each page for the row's next version). The listing is replayed, a
    saved run of market pages only, so nothing else touches the rows in between."""
    run_dir = os.path.join(str(work), "saved")
    _replay_pages(run_dir, int(time.time()),
                  [[fk.market("KXMANY-%04d" % (p * 200 + i), "KXMANY-E%d" % p,
                              volume_24h="%d.00" % (i * 7)) for i in range(200)]
                   for p in range(3)], kind="markets")
    env = env_for(work, "http://127.0.0.1:%d/nothing" % free_port())
    r = fetch(env, "--replay", run_dir)
    assert r.returncode == 0, r.stderr
    first = _markets_bytes(env)
    for _ in range(3):
        time.sleep(1.1)  # replayed at a new run time: every row's updated_at moves
        r = fetch(env, "--replay", run_dir)
        assert r.returncode == 0, r.stderr
    assert rows(env, "SELECT count(*), count(DISTINCT updated_at) FROM markets") == [(600, 1)]
    assert _markets_bytes(env) == first


def test_first_run_backfills_bounded_window(work):
    now = int(time.time())
    with standard(now=now) as fake:
        fake.trades.append(fk.trade("too-old", BTC, created=fk.ts(now - 3 * 3600)))
        env = env_for(work, fake.base, BACKFILL_HOURS=2)
        assert fetch(env).returncode == 0
        q = [r["query"] for r in fake.requests if r["path"].endswith("/markets/trades")][0]
        assert abs(int(q["min_ts"]) - (now - 7200)) <= 5
        assert rows(env, "SELECT count(*) FROM trades WHERE trade_id = 'too-old'") == [(0,)]


def test_kill9_mid_run_then_clean_run(work):
    now = int(time.time())
    trades = [fk.trade("k-%04d" % i, BTC, count="1.00", created=fk.ts(now - 10 - i))
              for i in range(300)]
    with standard(now=now, trades=trades, page_size=5, delay=0.02) as fake:
        env = env_for(work, fake.base)
        p = subprocess.Popen([KW_FETCH, "--once"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        n = 0
        while time.time() < deadline and p.poll() is None:
            try:
                n = rows(env, "SELECT count(*) FROM trades")[0][0]
            except db_errors():
                n = 0
            if n >= 40:
                break
            time.sleep(0.02)
        assert p.poll() is None, "the run ended before it could be killed"
        p.kill()
        p.wait()
        assert 40 <= rows(env, "SELECT count(*) FROM trades")[0][0] < 300
        fake.delay = 0
        r = fetch(env)
        assert r.returncode == 0, r.stderr
        if not pg_mode():  # SQLite's own page check
            assert rows(env, "PRAGMA integrity_check") == [("ok",)]
        got = rows(env, "SELECT count(*), count(DISTINCT trade_id) FROM trades")[0]
        assert got == (300, 300)  # no duplicates, no gaps
        ids = {t for (t,) in rows(env, "SELECT trade_id FROM trades")}
        assert ids == {t["trade_id"] for t in trades}
        runs = rows(env, "SELECT outcome, error FROM fetch_runs ORDER BY id")
        assert runs[0][0] == "failed" and "interrupted" in runs[0][1]
        assert runs[1][0] == "ok"


def test_sigterm_while_the_next_page_is_on_its_way(work):
    """The page reader thread waits on a slow answer for the next page while the writer has
    stored the ones before: SIGTERM ends both at once, the run is recorded as interrupted,
    every stored page is whole, and the next run completes the sweep."""
    now = int(time.time())
    trades = [fk.trade("s-%04d" % i, BTC, count="1.00", created=fk.ts(now - 10 - i))
              for i in range(200)]
    with standard(now=now, trades=trades, page_size=5, delay=0.02) as fake:
        env = env_for(work, fake.base, KALSHI_TIMEOUT_SECONDS=60)
        p = subprocess.Popen([KW_FETCH, "--once"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 20
            n = 0
            while time.time() < deadline and p.poll() is None and n < 20:
                try:
                    n = rows(env, "SELECT count(*) FROM trades")[0][0]
                except db_errors():
                    n = 0
                time.sleep(0.02)
            assert p.poll() is None, "the run ended before the slow page"
            fake.fault("/markets/trades", "slow", times=1, seconds=8)
            time.sleep(0.5)  # the reader is now waiting for that answer
            t0 = time.time()
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
            assert time.time() - t0 < 3, "SIGTERM was not honoured promptly"
            err = p.stderr.read()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode != 0, err
        run = last_run(env)
        assert run["outcome"] == "failed" and "interrupted" in run["error"], run
        if not pg_mode():  # SQLite's own page check
            assert rows(env, "PRAGMA integrity_check") == [("ok",)]
        stored = rows(env, "SELECT count(*) FROM trades")[0][0]
        assert 20 <= stored < 200 and stored % 5 == 0  # whole pages only
        fake.delay = 0
        fake.clear_faults()
        r = fetch(env)
        assert r.returncode == 0, r.stderr
        assert rows(env, "SELECT count(*), count(DISTINCT trade_id) FROM trades")[0] == (200, 200)


# kw-fetch's run lock on PostgreSQL: a session advisory lock with this key ("kwfetchr" read as a
# big-endian integer, lib/store_cluster.c), held by whichever kw-fetch is running.
PG_RUN_LOCK_KEY = int.from_bytes(b"kwfetchr", "big")


def test_lock_second_instance_exits_zero(work):
    """Another kw-fetch holding the lock (SQLite: the flock beside the file; PostgreSQL: the
    run lock in the database, which another node's kw-fetch may hold) makes this one exit 0
    without a request to Kalshi."""
    with standard() as fake:
        env = env_for(work, fake.base)
        if pg_mode():
            r = fetch(env)  # a first run, so the second run below has a run to follow
            assert r.returncode == 0, r.stderr
            fake.requests.clear()
            holder = db(env)
            holder.execute("SELECT pg_advisory_lock(?)", (PG_RUN_LOCK_KEY,))
            try:
                r = fetch(env)
            finally:
                holder.close()  # the session ends: the server frees the lock
            assert "holds the cluster's run lock" in r.stderr
        else:
            with open(env["DATABASE_PATH"] + ".fetch.lock", "w") as lk:
                fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
                r = fetch(env)
            assert "another kw-fetch is running" in r.stderr
        assert r.returncode == 0
        assert fake.requests == []
        r = fetch(env)
        assert r.returncode == 0 and last_run(env)["outcome"] == "ok"


def test_retention_prunes_old_rows(work):
    now = int(time.time())
    with standard(now=now) as fake:
        env = env_for(work, fake.base, RETENTION_DAYS=30)
        assert fetch(env).returncode == 0
        old = now - 31 * 86400
        with db(env) as c:
            for i in range(12):
                c.execute("INSERT INTO trades (trade_id, ticker, created_us, count_centi,"
                          " yes_price_micros, no_price_micros, taker_side, notional_micros)"
                          " VALUES (?, ?, ?, 100, 500000, 500000, 'yes', 500000)",
                          ("old-%d" % i, BTC, (old - i) * 1000000))
                c.execute("INSERT INTO market_snapshots (ticker, taken_at) VALUES (?, ?)",
                          (BTC, old - i))
                c.execute("INSERT INTO orderbook_snapshots (ticker, taken_at, yes_depth_centi,"
                          " no_depth_centi, yes_levels, no_levels) VALUES (?, ?, 1, 1, 1, 1)",
                          (BTC, old - i))
            c.execute("INSERT INTO fetch_runs (id, started_at, finished_at, outcome)"
                      " VALUES (100, ?, ?, 'ok')", (old, old))
            c.execute("INSERT INTO refresh_requests (requested_at, run_id) VALUES (?, 100)",
                      (old,))
        # The newest trade by id is never pruned (its id would be reused); here a new trade
        # arrives, as in every live run, so every old one can go.
        fake.trades.append(fk.trade("t-new", BTC, count="1.00", created=fk.ts(now - 1)))
        r = fetch(env)
        assert r.returncode == 0
        assert "retention: pruned 38 rows" in r.stderr
        assert rows(env, "SELECT count(*) FROM fetch_runs WHERE id = 100") == [(0,)]
        assert rows(env, "SELECT count(*) FROM refresh_requests") == [(0,)]
        assert rows(env, "SELECT count(*) FROM fetch_runs") == [(2,)]
        assert rows(env, "SELECT count(*) FROM trades WHERE trade_id LIKE 'old-%'") == [(0,)]
        assert rows(env, "SELECT count(*) FROM trades") == [(4,)]
        assert rows(env, "SELECT min(taken_at) > ? FROM market_snapshots", old)[0][0] == 1
        assert rows(env, "SELECT count(*) FROM orderbook_snapshots WHERE taken_at <= ?",
                    old) == [(0,)]


def _replay_pages(run_dir, now, pages, kind="trades"):
    """A saved run of one listing only (kind: trades or markets): pages are lists of
    records, or raw text (broken)."""
    os.makedirs(os.path.join(run_dir, kind), exist_ok=True)
    with open(os.path.join(run_dir, "manifest.json"), "w") as f:
        json.dump({"recorded_at": fk.ts(now)}, f)
    for i, page in enumerate(pages):
        last = i == len(pages) - 1
        body = page if isinstance(page, str) else json.dumps(
            {kind: page, "cursor": "" if last else "c%d" % (i + 1)})
        with open(os.path.join(run_dir, kind, "%04d.json" % (i + 1)), "w") as f:
            f.write(body)


def test_replay_batches_keep_whole_pages_and_dedup(work):
    """A replay stores several pages per transaction, each page whole: a broken page is
    discarded alone (the pages before it stay), and replaying again adds only what is new."""
    now = int(time.time())
    # 100 trades a page (microsecond times); page 4 repeats a trade of page 1
    pages = [[fk.trade("r-%d-%d" % (p, i), BTC, count="1.00",
                       created=fk.ts(now - 600 * p - i, ".%06d" % i)) for i in range(100)]
             for p in range(4)]
    pages[3][50] = dict(pages[0][7])
    run_dir = os.path.join(str(work), "saved")
    _replay_pages(run_dir, now, [pages[0], pages[1], '{"trades":[{"trade_id":"x"', pages[3]])
    env = env_for(work, "http://127.0.0.1:%d/nothing" % free_port())
    r = fetch(env, "--replay", run_dir, "--replay-keep-time")
    assert r.returncode == 3, r.stderr  # partial: the trades listing broke on page 3
    assert "truncated JSON" in r.stderr
    ids = sorted(t for (t,) in rows(env, "SELECT trade_id FROM trades"))
    assert ids == sorted(t["trade_id"] for t in pages[0] + pages[1])
    assert last_run(env)["trades"] == 200
    _replay_pages(run_dir, now, pages)
    r = fetch(env, "--replay", run_dir, "--replay-keep-time")
    assert r.returncode == 0, r.stderr
    assert last_run(env)["trades"] == 199  # pages 3 and 4 but the repeated trade
    assert rows(env, "SELECT count(*), count(DISTINCT trade_id) FROM trades") == [(399, 399)]
    assert rows(env, "SELECT created_us FROM trades WHERE trade_id = 'r-0-7'") == \
        [((now - 7) * 1000000 + 7,)]
    if not pg_mode():  # SQLite's own page check
        assert rows(env, "PRAGMA integrity_check") == [("ok",)]


def test_record_then_replay_round_trip(work):
    rec = os.path.join(str(work), "rec")
    with standard() as fake:
        env = env_for(work, fake.base)
        assert fetch(env, "--record", rec).returncode == 0
    run_dir = os.path.join(rec, "run0001")
    assert os.path.exists(os.path.join(run_dir, "manifest.json"))
    assert os.path.exists(os.path.join(run_dir, "markets", "0003.json"))
    assert os.path.exists(os.path.join(run_dir, "orderbook", BTC + ".json"))
    env2 = dict(env, **db_settings(os.path.join(str(work), "replayed.db")))
    env2.update(KALSHI_API_BASE="http://127.0.0.1:%d/nothing" % free_port())
    r = fetch(env2, "--replay", rec, "--replay-keep-time")
    assert r.returncode == 0, r.stderr
    q_m = "SELECT * FROM markets ORDER BY ticker"
    q_t = "SELECT trade_id, ticker, created_us, count_centi, yes_price_micros," \
          " no_price_micros, taker_side, notional_micros FROM trades ORDER BY trade_id"
    q_b = "SELECT ticker, taken_at, yes_depth_centi, no_depth_centi FROM orderbook_snapshots"
    assert rows(env2, q_m) == rows(env, q_m)
    assert rows(env2, q_t) == rows(env, q_t)
    assert rows(env2, q_b) == rows(env, q_b)
    # without --replay-keep-time the run is moved to now
    env3 = dict(env2, **db_settings(os.path.join(str(work), "shifted.db")))
    time.sleep(1.1)
    assert fetch(env3, "--replay", rec).returncode == 0
    assert rows(env3, "SELECT max(taken_at) FROM market_snapshots")[0][0] > \
        rows(env, "SELECT max(taken_at) FROM market_snapshots")[0][0]


def test_bundled_sample_has_every_signal(work):
    """deploy/sample feeds `make demo` and the whale detector: check what it promises."""
    env = env_for(work, "http://127.0.0.1:%d/none" % free_port())
    r = fetch(env, "--replay", os.path.join(TOP, "deploy", "sample"))
    assert r.returncode == 0, r.stderr
    now = int(time.time())
    # a whale trade >= $5,000 taker premium, recent
    assert rows(env, "SELECT count(*) FROM trades WHERE notional_micros >= 5000000000"
                " AND created_us >= ?", (now - 3600) * 1000000)[0][0] >= 1
    # a yes price move >= 25 points within an hour across two snapshots
    assert rows(env, "SELECT count(*) FROM market_snapshots a JOIN market_snapshots b"
                " ON a.ticker = b.ticker AND b.taken_at > a.taken_at"
                " AND b.taken_at - a.taken_at <= 3600"
                " WHERE abs(b.last_price_micros - a.last_price_micros) >= 250000")[0][0] >= 1
    # an order book whose depth changes > 50% between two runs
    assert rows(env, "SELECT count(*) FROM orderbook_snapshots a JOIN orderbook_snapshots b"
                " ON a.ticker = b.ticker AND b.taken_at > a.taken_at"
                " WHERE abs((b.yes_depth_centi + b.no_depth_centi)"
                "  - (a.yes_depth_centi + a.no_depth_centi)) * 2"
                "  > a.yes_depth_centi + a.no_depth_centi")[0][0] >= 1
    # a market with >= $1,000,000 of taker premium in 24 h
    assert rows(env, "SELECT max(s) FROM (SELECT sum(notional_micros) s FROM trades"
                " WHERE created_us >= ? GROUP BY ticker) AS per_market",
                (now - 86400) * 1000000)[0][0] >= 1000000 * 1000000
    # a 15-minute bucket >= 5x the trailing mean per bucket over the previous 24 h
    surge = rows(env, """
        WITH b AS (SELECT ticker, created_us / 900000000 AS k, sum(notional_micros) AS n
                   FROM trades GROUP BY 1, 2)
        SELECT count(*) FROM b WHERE n >= 5 * (SELECT coalesce(sum(n), 0) / 96.0 FROM b b2
               WHERE b2.ticker = b.ticker AND b2.k < b.k AND b2.k >= b.k - 96)
          AND EXISTS (SELECT 1 FROM b b3 WHERE b3.ticker = b.ticker AND b3.k < b.k
                      AND b3.k >= b.k - 96)""")[0][0]
    assert surge >= 1
    assert rows(env, "SELECT count(DISTINCT category) FROM markets WHERE category IS NOT NULL"
                )[0][0] >= 3
    assert rows(env, "SELECT count(*) FROM fetch_runs WHERE outcome = 'ok'")[0][0] == 2


def test_status_shows_total_markets_and_last_update(work):
    with standard() as fake:
        stack = Stack(os.path.join(str(work), "stack"), workers=1).start()
        try:
            assert stack.get("/api/status").json()["last_update"] is None
            env = env_for(work, fake.base)
            env["KW_ENV_FILE"] = stack.env_file
            env.update(stack.database.settings)
            r = fetch(env)
            assert r.returncode == 0, r.stderr
            # kw-api may reuse its status figures for up to a second
            deadline = time.time() + 5
            while True:
                st = stack.get("/api/status").json()
                if st["total_markets"] == 3 or time.time() > deadline:
                    break
                time.sleep(0.1)
            assert st["total_markets"] == 3
            assert st["last_update"] is not None
        finally:
            stack.stop()


def test_loop_claims_refresh_requests_and_stops_on_sigterm(work):
    with standard() as fake:
        env = env_for(work, fake.base)
        p = subprocess.Popen([KW_FETCH, "--loop", "3600"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            def finished():
                try:
                    return rows(env, "SELECT count(*) FROM fetch_runs WHERE finished_at"
                                " IS NOT NULL")[0][0]
                except db_errors():
                    return 0
            deadline = time.time() + 15
            while finished() < 1 and time.time() < deadline:
                time.sleep(0.05)
            assert finished() == 1
            with db(env) as c:
                c.execute("INSERT INTO refresh_requests (requested_at, force) VALUES (?, 1)",
                          (int(time.time()),))
            deadline = time.time() + 10
            while finished() < 2 and time.time() < deadline:
                time.sleep(0.05)
            assert finished() == 2
            assert rows(env, "SELECT run_id FROM refresh_requests") == [(2,)]
            # force refreshes the catalog again
            assert len(fake.paths("/trade-api/v2/series")) == 2
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=5) == 0
            assert "stopped by signal" in p.stderr.read()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_dry_run_leaves_database_untouched(work):
    with standard() as fake:
        env = env_for(work, fake.base)
        r = fetch(env, "--dry-run")
        assert r.returncode == 0, r.stderr
        assert "run 1 ok" in r.stderr and "3 markets" in r.stderr
        if pg_mode():  # no table created in the test's empty database
            assert rows(env, "SELECT count(*) FROM information_schema.tables"
                        " WHERE table_schema = 'public'") == [(0,)]
        else:
            assert not os.path.exists(env["DATABASE_PATH"])
        assert len(fake.paths("/trade-api/v2/markets")) >= 1


def test_combos_included_on_request(work):
    with standard() as fake:
        env = env_for(work, fake.base, KALSHI_INCLUDE_COMBOS="true")
        assert fetch(env).returncode == 0
        assert all("mve_filter" not in r["query"] for r in fake.requests
                   if r["path"].endswith("/markets"))
        assert rows(env, "SELECT count(*) FROM markets WHERE ticker LIKE 'KXMVE%'") == [(1,)]
        assert rows(env, "SELECT count(*) FROM trades WHERE ticker LIKE 'KXMVE%'") == [(1,)]


def test_command_line(work):
    env = env_for(work, "http://127.0.0.1:9/none")
    r = fetch(env, "--help")
    assert r.returncode == 0 and "--loop" in r.stdout and "75  Kalshi unreachable" in r.stdout
    r = fetch(env, "--version")
    assert r.returncode == 0 and r.stdout.startswith("kw-fetch ")
    assert fetch(env, "--bogus").returncode == 2
    assert fetch(env, "--loop", "0").returncode == 2
    assert fetch(env, "--replay", "x", "--record", "y").returncode == 2
    r = fetch(dict(env, KALSHI_MAX_RPS="0"))
    assert r.returncode == 78 and "KALSHI_MAX_RPS" in r.stderr
