"""What keeps every route fast at exchange scale, through the real stack with data that came
the way it comes in production (kw-fetch replaying the bundled sample, detection inside the
run): the workers' reply cache lives exactly as long as the market data, whatever else is
written to the file, and kw-fetch's rollups answer what the routes used to compute."""
import fcntl
import os
import subprocess
import threading
import time

import pytest

import apiseed
from apiseed import HEADERS
from kwstack import BUILD, TOP, Stack

SAMPLE = os.path.join(TOP, "deploy", "sample")
SETTINGS = dict(apiseed.SETTINGS, METRICS_FLUSH_SECONDS="1")


def replay(stack):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file)
    p = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--replay", SAMPLE], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def generation(stack):
    with stack.sql() as db:
        row = db.execute("SELECT value FROM fetch_state WHERE name = 'data_generation'")
        return (row.fetchone() or (0,))[0]


def counts(stack):
    """Rows that kw-api itself writes: the limiter's, the metrics' and the security log's."""
    with stack.sql() as db:
        return {t: db.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                for t in ("rate_limit_state", "metrics_requests", "security_events")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("scale"), settings=SETTINGS, workers=2)
    s.start()
    replay(s)
    yield s
    s.stop()


def caches(stack):
    """Reply caches in the stack: one per accept thread of each worker."""
    return stack.workers * stack.threads


def warm(stack, path):
    """Ask until every accept thread has the reply cached (each misses once)."""
    n = 6 * caches(stack)
    seen = [stack.get(path, headers=HEADERS) for _ in range(n)]
    assert all(r.status_code == 200 for r in seen), [r.text for r in seen]
    assert [r.headers.get("X-Cache") for r in seen].count("miss") <= caches(stack)
    return seen[-1]


@pytest.mark.parametrize("path", ["/api/v1/stats", "/api/whale-analytics"])
def test_kw_api_writes_never_expire_a_data_reply(stack, path):
    before_gen, before = generation(stack), counts(stack)
    last = warm(stack, path)
    # Writes by kw-api itself: a refused key (security log), limiter state and request
    # metrics, which the write-behind threads commit within a second or two.
    assert stack.get(path, headers={"X-API-Key": "not-a-key"}).status_code == 401
    deadline = time.time() + 10
    while time.time() < deadline:
        after = counts(stack)
        if all(after[t] > before[t] for t in ("metrics_requests", "security_events")) and \
                after["rate_limit_state"] > 0:
            break
        time.sleep(0.3)
    after = counts(stack)
    assert after["metrics_requests"] > before["metrics_requests"], (before, after)
    assert after["security_events"] > before["security_events"], (before, after)
    assert generation(stack) == before_gen  # none of that is market data
    again = [stack.get(path, headers=HEADERS) for _ in range(6)]
    for r in again:
        assert r.status_code == 200
        assert r.headers.get("X-Cache") == "hit", (path, r.headers)
        assert r.headers["ETag"] == last.headers["ETag"]


def test_a_fetch_run_expires_every_cached_reply(stack):
    path = "/api/v1/stats?window=24h"
    warm(stack, path)
    gen = generation(stack)
    replay(stack)  # the same sample: no new trades, but a committed run (new source_lag_s)
    assert generation(stack) > gen
    got = [stack.get(path, headers=HEADERS) for _ in range(6 * caches(stack))]
    assert got[0].headers.get("X-Cache") == "miss"
    # Each accept thread builds the reply again once, then serves it from its cache.
    assert [r.headers.get("X-Cache") for r in got].count("miss") <= caches(stack)
    assert got[-1].headers.get("X-Cache") == "hit"


def stats(stack):
    r = stack.get("/api/v1/stats?limit=50", headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_stats_come_from_kw_fetch_and_kw_admin_rebuilds_them(stack):
    """The figures are kw-fetch's rollups of what it stored: a recount of the stored trades
    gives them, and `kw-admin db activity` rebuilds damaged rollups to the same answer."""
    before = stats(stack)
    with stack.sql() as db:
        as_of, cutoff = db.execute("SELECT as_of, cutoff_us FROM stats_windows"
                                   " WHERE window_s = 86400").fetchone()
        want = db.execute("SELECT ticker, sum(notional_micros) FROM trades"
                          " WHERE created_us >= ? GROUP BY ticker ORDER BY 2 DESC, 1 LIMIT 50",
                          (cutoff,)).fetchall()
        n = db.execute("SELECT count(DISTINCT ticker) FROM trades WHERE created_us >= ?",
                       (cutoff,)).fetchone()[0]
    day = before["24h"]
    assert want and day["markets_traded"] == n
    assert [(m["ticker"], round(float(m["volume_usd"]) * 1e6)) for m in
            day["most_active_markets"]] == [(t, v) for t, v in want]
    assert day["as_of"] and day["top_trades"]
    # Damage the rollups; the recount restores every figure.
    with stack.sql() as db:
        db.execute("DELETE FROM stats_markets WHERE window_s = 86400")
        db.execute("UPDATE stats_whales SET trades = trades + 7")
        db.execute("DELETE FROM stats_top_trades")
        db.execute("UPDATE stats_windows SET as_of = ?", (as_of,))  # what kw-admin resets
    p = subprocess.run([os.path.join(BUILD, "kw-admin"), "db", "activity"],
                       env=dict(os.environ, KW_ENV_FILE=stack.env_file),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "rollups" in p.stdout, p.stderr
    after = stats(stack)  # kw-admin advanced the generation: no worker answers from cache
    for w in ("1h", "24h", "7d"):
        for k in ("top_trades", "whale_counts_by_category", "most_active_markets", "gainers",
                  "losers", "flow", "markets_traded"):
            assert after[w][k] == before[w][k], (w, k)


# ---- expensive requests are capped -----------------------------------------------------------

HEAVY = ["/api/v1/whales?format=csv&min_notional=%d", "/api/whale-analytics?category=all%d",
         "/api/v1/markets/%s/history?limit=%d"]


def heavy_url(i, n):
    """HEAVY[i], made distinct by n (a reply no worker has cached)."""
    if i == 2:
        return HEAVY[i] % (TICKER, 1 + n)
    return HEAVY[i] % (n if i == 1 else 1000 + n)
CHEAP = ["/api/status", "/api/v1/markets?limit=5", "/api/markets", "/api/v1/stats?window=1h",
         "/api/v1/whales?limit=5"]
TICKER = None


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("capped"), workers=3,
              settings=dict(SETTINGS, HEAVY_REQUESTS_MAX="2"))
    s.start()
    replay(s)
    yield s
    s.stop()


def hold_slots(stack, n):
    """Take global slots 0..n-1 of kw-api's cap the way a worker running an expensive request
    holds one (lib/heavy.h: a byte-range lock on DATABASE_PATH-heavy.lock)."""
    fd = os.open(stack.db + "-heavy.lock", os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, n, 0)
    return fd


def test_busy_heavy_requests_are_refused_and_cheap_ones_answer(capped):
    global TICKER
    with capped.sql() as db:
        TICKER = db.execute("SELECT ticker FROM market_snapshots LIMIT 1").fetchone()[0]
    for i in range(len(HEAVY)):  # every worker opens the lock file (the first creates it)
        for _ in range(9):
            assert capped.get(heavy_url(i, 0), headers=HEADERS).status_code == 200, i
    fd = hold_slots(capped, 2)  # two expensive requests in flight: the cap is reached
    try:
        for i in range(len(HEAVY)):
            r = capped.get(heavy_url(i, 7), headers=HEADERS)  # no cached reply
            assert r.status_code == 503, (i, r.status_code, r.text[:200])
            assert r.json()["error"]["code"] == "busy"
            assert int(r.headers["Retry-After"]) >= 1
        for p in CHEAP:
            for _ in range(4):
                assert capped.get(p, headers=HEADERS).status_code == 200, p
        # A reply the cache holds costs nothing: it is served, capped or not (a worker that
        # never built it answers busy: which worker a request reaches is the server's choice).
        got = [capped.get(heavy_url(2, 0), headers=HEADERS) for _ in range(9)]
        assert all((r.status_code == 200 and r.headers.get("X-Cache") == "hit")
                   or r.status_code == 503 for r in got)
        assert any(r.status_code == 200 for r in got)
    finally:
        os.close(fd)  # the requests finished
    for i in range(len(HEAVY)):
        assert capped.get(heavy_url(i, 8), headers=HEADERS).status_code == 200


def test_a_burst_of_heavy_requests_leaves_status_responsive(capped):
    """Real concurrent CSV exports (distinct URLs: nothing cached) beside /api/status: the
    cap turns the surplus into quick 503s, so every status request is answered."""
    results = {"heavy": [], "cheap": []}

    def heavy(i):
        r = capped.get(heavy_url(0, 100 + i), headers=HEADERS, timeout=60)
        results["heavy"].append((r.status_code, r.headers.get("Retry-After")))

    def cheap(i):
        results["cheap"].append(capped.get(CHEAP[i % len(CHEAP)], headers=HEADERS,
                                           timeout=60).status_code)

    threads = [threading.Thread(target=heavy, args=(i,)) for i in range(12)]
    threads += [threading.Thread(target=cheap, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["cheap"] == [200] * 12
    assert len(results["heavy"]) == 12
    for code, retry in results["heavy"]:
        assert code == 200 or (code == 503 and retry and int(retry) >= 1), (code, retry)
