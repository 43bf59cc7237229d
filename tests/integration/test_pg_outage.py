"""A PostgreSQL server that restarts under load: kw-api answers 503 (never a wrong answer,
never a crash) while the server is away, reconnects by itself, and serves again within
seconds of its return. The data comes from a real kw-fetch replay of the bundled sample.

PostgreSQL only: the SQLite counterpart, an unusable database file, is in test_foundation.py.
Bounded: LOAD_S seconds of requests from THREADS clients, every wait capped."""
import os
import subprocess
import threading
import time

import pytest

import pgcluster
from kwstack import BUILD, Stack, pg_mode

pytestmark = pytest.mark.skipif(not pg_mode(), reason="PostgreSQL only: a database server"
                                " that restarts under load")

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "sample")
ROUTES = ["/api/v1/markets?limit=5", "/api/v1/alerts?limit=5", "/api/v1/whales?limit=5"]
THREADS = 4
LOAD_S = 14
DOWN_S = 2
RECOVER_S = 5


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("outage"), workers=2)
    s.start()
    env = dict(os.environ, KW_ENV_FILE=s.env_file)
    for run in ("run1", "run2"):
        r = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--replay",
                            os.path.join(SAMPLE, run)], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
    yield s
    s.stop()


def data(r):
    """The part of an answer that must not change: its data (meta holds the clock)."""
    return r.json()["data"]


def test_restart_under_load_gives_503s_then_the_same_answers(stack):
    baseline = {}
    for route in ROUTES:
        r = stack.get(route, timeout=10)
        assert r.status_code == 200, (route, r.status_code, r.text)
        baseline[route] = data(r)
    pids_before = stack.server_pids()
    results, errors = [], []
    stop_at = time.time() + LOAD_S

    def load(k):
        n = 0
        while time.time() < stop_at:
            route = ROUTES[(k + n) % len(ROUTES)]
            n += 1
            try:
                r = stack.get(route, timeout=10)
            except Exception as e:  # a transport error is a failure too
                errors.append((route, repr(e)))
                continue
            results.append((time.time(), route, r.status_code,
                            data(r) if r.status_code == 200 else r.json()))

    threads = [threading.Thread(target=load, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(3)
    cl = pgcluster.cluster()
    down_at = time.time()
    cl.stop_server()
    time.sleep(DOWN_S)
    cl.start_server()
    up_at = time.time()
    for t in threads:
        t.join(timeout=LOAD_S + 30)

    assert not errors, errors[:5]
    statuses = {}
    for _, route, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    # Only two answers exist: the right one, or "the database could not answer".
    assert set(statuses) <= {200, 503}, statuses
    wrong = [(route, body) for _, route, status, body in results
             if status == 200 and body != baseline[route]]
    assert not wrong, wrong[:3]
    refused = [body for _, _, status, body in results if status == 503]
    assert all(b["error"]["code"] == "database_unavailable" for b in refused), refused[:3]
    # While the server was away at least one request noticed (no cached answer hid it) ...
    assert any(down_at < t < up_at and s == 503 for t, _, s, _ in results), statuses
    # ... and from a few seconds after its return every answer is right again.
    late = [s for t, _, s, _ in results if t > up_at + RECOVER_S]
    assert late and all(s == 200 for s in late), late[:20]
    # No worker died: the same processes serve before and after.
    assert stack.server_pids() == pids_before
    assert "child exited" not in stack.log()
