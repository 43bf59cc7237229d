"""First contact: what a new user and the original app's clients meet first, through the real
web server in front of the real kw-api (KW_SERVER picks lighttpd or Apache).

- POST /api/refresh answers as the original did (200 {success, message, count, timestamp})
  whether a run was queued or one is already going or waiting; the data comes from a fake
  Kalshi through the real kw-fetch, and "a run is going" is a real kw-fetch run held up by a
  slow fake Kalshi.
"""
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from kwstack import BUILD, TOP, Stack, as_run_user

sys.path.insert(0, os.path.join(TOP, "tests", "fake_kalshi"))
import fake_kalshi as fk  # noqa: E402

OPEN = ["KXBTCD-26JAN01-T1", "KXETHD-26JAN01-T2", "KXPRES-28-DJT"]


def fake_kalshi():
    markets = [fk.market(t, t.rsplit("-", 1)[0]) for t in OPEN]
    markets.append(fk.market("KXOLD-1", "KXOLD", status="closed"))
    return fk.FakeKalshi(markets=markets, page_size=2)


def fetch_once(stack, background=False):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file, KW_FETCH_BACKOFF_MS="5")
    argv = [os.path.join(BUILD, "kw-fetch"), "--once"]
    if background:
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, **as_run_user())
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                       **as_run_user())
    assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    """A stack whose database kw-fetch filled from a fake Kalshi."""
    fake = fake_kalshi()
    fake.start()
    s = Stack(tmp_path_factory.mktemp("first"),
              settings={"KALSHI_API_BASE": fake.base, "KALSHI_MAX_RPS": "100"})
    s.start()
    fetch_once(s)
    s.fake = fake
    yield s
    s.stop()
    fake.stop()


def refresh_rows(stack):
    with sqlite3.connect(stack.db) as db:
        return db.execute("SELECT id, force, run_id FROM refresh_requests ORDER BY id").fetchall()


def legacy_refresh(stack, **kw):
    r = stack.post("/api/refresh", **kw)
    assert r.status_code == 200, r.text
    b = r.json()
    assert set(b) == {"success", "message", "count", "timestamp"}, b
    assert b["success"] is True
    assert time.strptime(b["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    return b


# ---- the original's POST /api/refresh ------------------------------------------------------

def test_legacy_refresh_answers_200_queued_waiting_and_running(fetched):
    s = fetched
    # Workers reuse what /api/status read for up to a second: wait for the fetch to show.
    deadline = time.time() + 5
    while s.get("/api/status").json()["total_markets"] != len(OPEN):
        assert time.time() < deadline, s.get("/api/status").text
        time.sleep(0.1)
    before = refresh_rows(s)
    # No body at all, as the original's clients send it: the defaults.
    b = legacy_refresh(s)
    assert b["count"] == len(OPEN)  # the open markets stored, as /api/status says
    assert "requested" in b["message"] and "kw-fetch will run soon" in b["message"]
    rows = refresh_rows(s)
    assert len(rows) == len(before) + 1 and rows[-1][1:] == (0, None)
    # A second click while that request waits: still 200, the message says so, nothing queued.
    b = legacy_refresh(s, json={})
    assert "already waiting" in b["message"] and "request %d" % rows[-1][0] in b["message"]
    assert refresh_rows(s) == rows
    # kw-fetch claims it; while its run is going (a slow Kalshi), the answer says so.
    s.fake.delay = 1.0
    try:
        proc = fetch_once(s, background=True)
        deadline = time.time() + 30
        run = None
        while time.time() < deadline and run is None:
            with sqlite3.connect(s.db) as db:
                row = db.execute("SELECT id FROM fetch_runs WHERE outcome = 'running'"
                                 " ORDER BY id DESC LIMIT 1").fetchone()
            run = row and row[0]
            time.sleep(0.05)
        assert run, "kw-fetch never started a run"
        b = legacy_refresh(s, json={"force_update": True})
        assert "already going" in b["message"] and "run %d" % run in b["message"], b
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        s.fake.delay = 0.0
    assert refresh_rows(s)[-1][2] == run  # the run claimed the waiting request
    # The run is over: the next click queues a new one, with force_update as sent.
    b = legacy_refresh(s, json={"force_update": True})
    assert "kw-fetch will run soon" in b["message"]
    assert refresh_rows(s)[-1][1:] == (1, None)


def test_legacy_refresh_refuses_what_it_did_not_declare(fetched):
    s = fetched
    r = s.post("/api/refresh", json={"force_update": "yes"})
    assert r.status_code == 400 and r.json()["error"]["code"]
    r = s.post("/api/refresh", json={"force": True})
    assert r.status_code == 400 and "'force'" in r.json()["error"]["message"]
    assert s.post("/api/refresh", anonymous=True).status_code == 401
    assert s.get("/api/refresh").status_code == 405


def test_v1_refresh_keeps_202_and_409(fetched):
    s = fetched
    r = s.post("/api/v1/refresh", json={})
    if r.status_code == 409:  # the previous test left a request waiting
        fetch_once(s)
        r = s.post("/api/v1/refresh", json={})
    assert r.status_code == 202, r.text
    b = r.json()
    assert b["success"] is True and b["status"] == "queued" and b["request_id"] > 0
    r = s.post("/api/v1/refresh")
    assert r.status_code == 409 and r.json()["error"]["code"] == "refresh_in_progress"
    assert "request %d" % b["request_id"] in r.json()["error"]["message"]
    # The legacy route sees the same waiting request and still answers 200.
    assert "already waiting" in legacy_refresh(s)["message"]
