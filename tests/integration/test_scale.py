"""What keeps every route fast at exchange scale, through the real stack with data that came
the way it comes in production (kw-fetch replaying the bundled sample, detection inside the
run): the workers' reply cache lives exactly as long as the market data, whatever else is
written to the file, and kw-fetch's rollups answer what the routes used to compute."""
import os
import sqlite3
import subprocess
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
    with sqlite3.connect(stack.db) as db:
        row = db.execute("SELECT value FROM fetch_state WHERE name = 'data_generation'")
        return (row.fetchone() or (0,))[0]


def counts(stack):
    """Rows that kw-api itself writes: the limiter's, the metrics' and the security log's."""
    with sqlite3.connect(stack.db) as db:
        return {t: db.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                for t in ("rate_limit_state", "metrics_requests", "security_events")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("scale"), settings=SETTINGS, workers=2)
    s.start()
    replay(s)
    yield s
    s.stop()


def warm(stack, path, n=12):
    """Ask n times: every worker has the reply cached afterwards (each misses once)."""
    seen = [stack.get(path, headers=HEADERS) for _ in range(n)]
    assert all(r.status_code == 200 for r in seen), [r.text for r in seen]
    assert [r.headers.get("X-Cache") for r in seen].count("miss") <= 2
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
    got = [stack.get(path, headers=HEADERS) for _ in range(12)]
    assert got[0].headers.get("X-Cache") == "miss"
    # Each worker builds the reply again once, then serves it from its cache.
    assert [r.headers.get("X-Cache") for r in got].count("miss") <= 2
    assert got[-1].headers.get("X-Cache") == "hit"
