"""Monitoring against the real lighttpd, several kw-api workers and SQLite: request
metrics per endpoint and status class, latency histograms, security events, countries from a
MaxMind database built here (tests/integration/mmdb.py — never downloaded), GET /metrics checked
with the real `promtool check metrics`, access to /metrics, GET /api/v1/monitoring windows, the
fetcher's freshness after a real kw-fetch replay, and that metrics are batched in memory
rather than written per request."""
import json
import os
import re
import subprocess
import time

import pytest
import requests

import mmdb
from kwstack import BUILD, TOP, Stack
from sectools import create_key

FLUSH_S = 2
GEO = [
    ("127.0.0.0/8", {"country": {"iso_code": "AU", "names": {"en": "Australia"}}}),
    ("81.2.69.0/24", {"country": {"iso_code": "GB"}}),
    ("2.125.160.0/24", {"registered_country": {"iso_code": "DE"}}),   # no physical country
    ("5.6.7.0/24", {"country_code": "FR"}),                           # ip-location-db layout
    ("6.6.6.0/24", {"country": {"iso_code": "<script>"}}),            # junk: not a country
]


@pytest.fixture(scope="module")
def mon(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("mon"), settings={
        "TRUSTED_PROXIES": "127.0.0.1", "METRICS_FLUSH_SECONDS": str(FLUSH_S)}, workers=2)
    # In the stack's own directory: its kw-api processes can read it whichever user they are.
    s.settings["GEOIP_DB"] = mmdb.write(os.path.join(s.dir, "country.mmdb"), GEO)
    s.start()
    yield s
    s.stop()


def scrape(stack, **kw):
    r = stack.get("/metrics", **kw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def parse(text):
    """{(name, frozenset(labels)): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, "bad sample line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def monitoring(stack, window="1h"):
    r = stack.get("/api/v1/monitoring?window=" + window)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def endpoint(data, method, path):
    for e in data["endpoints"]:
        if e["method"] == method and e["endpoint"] == path:
            return e
    return None


def wait_for(predicate, timeout=4 * FLUSH_S + 4):
    deadline = time.time() + timeout
    while True:
        got = predicate()
        if got or time.time() > deadline:
            return got
        time.sleep(0.2)


def db_requests(stack, path):
    with stack.sql() as db:
        return db.execute("SELECT coalesce(sum(requests), 0) FROM metrics_request_totals"
                          " WHERE endpoint = ?", (path,)).fetchone()[0]


def settle(stack):
    """Wait until every worker has written what it holds (no new totals for a flush period)."""
    last = None
    for _ in range(20):
        with stack.sql() as db:
            now = db.execute("SELECT coalesce(sum(requests), 0) FROM metrics_request_totals"
                             ).fetchone()[0]
        if now == last:
            return
        last = now
        time.sleep(FLUSH_S + 0.5)


def test_requests_counted_by_endpoint_and_status(mon):
    before = parse(scrape(mon))
    for _ in range(7):
        assert mon.get("/api/v1/markets?limit=2").status_code == 200
    for _ in range(3):
        assert mon.get("/api/no-such-thing").status_code == 404
    for _ in range(2):
        assert mon.get("/api/v1/markets?limit=0").status_code == 400

    def counted():
        s = parse(scrape(mon))
        d = lambda **l: sample(s, "kw_http_requests_total", **l) - sample(before, "kw_http_requests_total", **l)
        got = (d(method="GET", endpoint="/api/v1/markets", status="2xx"),
               d(method="GET", endpoint="(unmatched)", status="4xx"),
               d(method="GET", endpoint="/api/v1/markets", status="4xx"))
        return s if got == (7, 3, 2) else None
    s = wait_for(counted)
    assert s, "request counters did not reach 7/3/2 after the flush interval"
    # The histogram is consistent: cumulative buckets, +Inf == _count, a positive _sum.
    lab = dict(method="GET", endpoint="/api/v1/markets", status="2xx")
    buckets = sorted(((float(dict(k[1])["le"]) if dict(k[1])["le"] != "+Inf" else float("inf")), v)
                     for k, v in s.items() if k[0] == "kw_http_request_duration_seconds_bucket"
                     and {a: b for a, b in k[1] if a != "le"} == lab)
    assert len(buckets) == 15
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert buckets[-1][1] == sample(s, "kw_http_request_duration_seconds_count", **lab) >= 7
    assert sample(s, "kw_http_request_duration_seconds_sum", **lab) > 0
    assert sample(s, "kw_http_response_bytes_total", **lab) > 0

    # The same figures as JSON for the dashboard.
    data = monitoring(mon)
    e = endpoint(data, "GET", "/api/v1/markets")
    assert e["status"]["2xx"] >= 7 and e["status"]["4xx"] >= 2
    assert e["requests"] == sum(e["status"].values())
    assert e["client_error_rate"] == round(100 * e["status"]["4xx"] / e["requests"], 2) or \
        abs(e["client_error_rate"] - 100 * e["status"]["4xx"] / e["requests"]) < 0.01
    lat = e["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= 2500
    un = endpoint(data, "GET", "(unmatched)")
    assert un["status"]["4xx"] >= 3 and un["client_error_rate"] == 100


def test_metrics_pass_promtool(mon, tmp_path):
    mon.get("/api/v1/alerts")
    wait_for(lambda: db_requests(mon, "/api/v1/alerts") > 0)
    text = scrape(mon)
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    for family in ("kw_http_requests_total", "kw_http_request_duration_seconds",
                   "kw_security_events_total", "kw_http_requests_by_country_total",
                   "kw_fetch_runs_last_24h", "kw_build_info"):
        assert "# TYPE %s " % family in text


def test_metrics_access(mon, tmp_path):
    # Anonymous: the same 401 as any admin route; a read key: 403; both are security events.
    anon = mon.get("/metrics", anonymous=True)
    admin_route = mon.post("/api/refresh", anonymous=True, json={})
    assert anon.status_code == admin_route.status_code == 401
    assert anon.headers["WWW-Authenticate"] == admin_route.headers["WWW-Authenticate"]
    assert anon.json()["error"] == admin_route.json()["error"]
    read_key, _ = create_key(mon, name="reader", scope="read")
    r = mon.get("/metrics", headers={"X-API-Key": read_key})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert mon.get("/metrics", headers={"X-API-Key": "kw_wrong_" + "x" * 40}).status_code == 401

    # METRICS_ALLOW: a scraper at a listed address needs no key. Also: monitoring off records
    # nothing, and an unusable GEOIP_DB is reported once and the worker keeps serving.
    d = tmp_path / "allow"
    s = Stack(d, settings={"METRICS_ALLOW": "10.9.9.9, 127.0.0.1", "MONITORING_ENABLED": "false",
                           "GEOIP_DB": str(tmp_path / "missing.mmdb"),
                           "METRICS_FLUSH_SECONDS": "1"}, workers=1)
    s.start()
    try:
        for _ in range(3):
            assert s.get("/api/status").status_code == 200
        time.sleep(1.5)
        r = s.get("/metrics", anonymous=True)
        assert r.status_code == 200, r.text
        assert "kw_http_requests_total{" not in r.text  # MONITORING_ENABLED=false
        data = s.get("/api/v1/monitoring").json()["data"]
        assert data["totals"]["requests"] == 0 and data["endpoints"] == []
    finally:
        s.stop()
    # Monitoring off: the GeoIP database is never opened, so nothing is logged about it.
    assert "GEOIP_DB" not in s.log()


def test_countries_from_the_geoip_database(mon):
    addrs = {"81.2.69.142": "GB", "2.125.160.216": "DE", "5.6.7.8": "FR", "9.9.9.9": "unknown",
             "6.6.6.6": "unknown", "2001:db8::1": "unknown"}
    before = parse(scrape(mon))
    for addr in addrs:
        for _ in range(2):
            r = mon.get("/api/status", headers={"X-Forwarded-For": addr})
            assert r.status_code == 200
    mon.get("/api/status")  # from 127.0.0.1 itself: AU

    want = {"GB": 2, "DE": 2, "FR": 2, "unknown": 6, "AU": 1}

    def counted():
        s = parse(scrape(mon))
        got = {c: sample(s, "kw_http_requests_by_country_total", country=c)
               - sample(before, "kw_http_requests_by_country_total", country=c) for c in want}
        # AU also counts the scrapes themselves; the others must be exact.
        ok = all(got[c] == n for c, n in want.items() if c != "AU") and got["AU"] >= 1
        return got if ok else None
    got = wait_for(counted)
    assert got, "country counters wrong"
    countries = {c["country"]: c["requests"] for c in monitoring(mon)["countries"]}
    for c in ("GB", "DE", "FR", "AU", "unknown"):
        assert countries.get(c, 0) >= want[c]
    assert "<script>" not in json.dumps(countries)


def test_security_events_by_type(mon):
    before = parse(scrape(mon))
    for _ in range(3):
        r = mon.get("/api/v1/markets", headers={"X-API-Key": "kw_bad_" + "z" * 40,
                                                "X-Forwarded-For": "81.2.69.77"})
        assert r.status_code == 401
    r = mon.get("/api/v1/markets?bogus=1")
    assert r.status_code == 400

    def counted():
        s = parse(scrape(mon))
        d = lambda t: (sample(s, "kw_security_events_total", type=t)
                       - sample(before, "kw_security_events_total", type=t))
        return (d("auth_failed"), d("validation_failed")) == (3, 1)
    assert wait_for(counted)
    sec = monitoring(mon)["security"]
    assert sec["by_type"]["auth_failed"] >= 3 and sec["by_type"]["validation_failed"] >= 1
    assert sum(p["count"] for p in sec["series"]) == sum(sec["by_type"].values())
    recent = sec["recent"]
    assert recent and recent[0]["type"] in ("auth_failed", "validation_failed")
    assert any(e["client"] == "81.2.69.77" for e in recent)
    assert "kw_bad_" not in json.dumps(sec)  # never the credential
    assert sec["recent_requires_admin"] is False
    # A read key sees the counts but not who: client addresses are for admin keys.
    read_key, _ = create_key(mon, name="reader2", scope="read")
    r = mon.get("/api/v1/monitoring", headers={"X-API-Key": read_key})
    assert r.status_code == 200
    sec = r.json()["data"]["security"]
    assert sec["recent"] == [] and sec["recent_requires_admin"] is True
    assert sec["by_type"]["auth_failed"] >= 3


@pytest.mark.parametrize("window,bucket,seconds", [("1h", 60, 3600), ("24h", 900, 86400),
                                                   ("7d", 3600, 7 * 86400)])
def test_monitoring_windows(mon, window, bucket, seconds):
    d = monitoring(mon, window)
    assert d["window"] == window and d["bucket_s"] == bucket
    times = [time.mktime(time.strptime(p["time"], "%Y-%m-%dT%H:%M:%SZ")) for p in d["series"]]
    assert all(b - a == bucket for a, b in zip(times, times[1:]))
    assert seconds / bucket <= len(times) <= seconds / bucket + 2
    assert sum(p["requests"] for p in d["series"]) == d["totals"]["requests"]
    assert d["totals"]["requests"] == sum(e["requests"] for e in d["endpoints"])
    assert len(d["latency_buckets_ms"]) == 14


def test_hourly_and_minute_tables_agree(tmp_path):
    """7d reads the hourly tables, 1h the per-minute ones: for recent traffic they must agree.
    One worker, so that "settled" is exact (see the batching test); the two monitoring
    requests themselves may be flushed between the two reads, so they are left out."""
    s = Stack(tmp_path / "agree", settings={"METRICS_FLUSH_SECONDS": str(FLUSH_S)}, workers=1)
    s.start()
    try:
        for _ in range(5):
            assert s.get("/api/status").status_code == 200
        assert s.get("/api/nope").status_code == 404
        assert s.get("/api/status", anonymous=True).status_code == 401  # an auth_failed event
        settle(s)
        week, hour = monitoring(s, "7d"), monitoring(s, "1h")

        def endpoints(d):
            return {(e["method"], e["endpoint"]): e["requests"] for e in d["endpoints"]
                    if e["endpoint"] != "/api/v1/monitoring"}
        assert endpoints(week) == endpoints(hour)
        assert sum(endpoints(week).values()) >= 8
        assert week["countries"] == hour["countries"] or \
            {c["country"] for c in week["countries"]} == {c["country"] for c in hour["countries"]}
        assert week["security"]["by_type"] == hour["security"]["by_type"]
        assert week["security"]["by_type"].get("auth_failed", 0) >= 1
        with s.sql() as db:  # one flush writes all three: always equal
            minute = db.execute("SELECT sum(requests) FROM metrics_requests").fetchone()[0]
            hourly = db.execute("SELECT sum(requests) FROM metrics_requests_hourly").fetchone()[0]
            total = db.execute("SELECT sum(requests) FROM metrics_request_totals").fetchone()[0]
        assert minute == hourly == total
    finally:
        s.stop()


@pytest.mark.parametrize("query", ["window=2h", "window=1h&window=24h", "foo=1", "window="])
def test_monitoring_rejects_bad_parameters(mon, query):
    r = mon.get("/api/v1/monitoring?" + query)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_parameter"


def test_monitoring_needs_a_key(mon):
    assert mon.get("/api/v1/monitoring", anonymous=True).status_code == 401


def test_fetcher_freshness_and_alerts(mon):
    env = dict(os.environ, KW_ENV_FILE=mon.env_file)
    p = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--replay",
                        os.path.join(TOP, "deploy", "sample")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    with mon.sql() as db:
        last = db.execute("SELECT id, outcome, markets, trades, orderbooks, skipped"
                          " FROM fetch_runs ORDER BY id DESC LIMIT 1").fetchone()
        by_type = dict(db.execute("SELECT type, count(*) FROM alerts GROUP BY type"))
    assert by_type
    f = monitoring(mon)["fetcher"]
    assert f["last_run"]["id"] == last[0] and f["last_run"]["outcome"] == last[1]
    assert (f["last_run"]["markets"], f["last_run"]["trades"], f["last_run"]["orderbooks"],
            f["last_run"]["skipped"]) == last[2:]
    assert 0 <= f["lag_s"] < 120
    assert monitoring(mon)["alerts"]["by_type"] == by_type
    s = parse(scrape(mon))
    assert 0 <= sample(s, "kw_fetch_lag_seconds") < 120
    assert sample(s, "kw_fetch_last_run_records", kind="trades") == last[3]
    assert sample(s, "kw_fetch_last_run_skipped") == last[5]
    for t, n in by_type.items():
        assert sample(s, "kw_alerts", type=t) == n


def test_ws_clients_reported(mon):
    with mon.sql() as db:
        db.execute("INSERT INTO ws_stats (id, connections, messages_sent, messages_received,"
                   " pid, updated_at) VALUES (1, 7, 120, 9, 1, ?) ON CONFLICT (id) DO UPDATE"
                   " SET connections = 7, messages_sent = 120, messages_received = 9,"
                   " updated_at = excluded.updated_at", (int(time.time()),))
    s = parse(scrape(mon))
    assert sample(s, "kw_ws_connections") == 7
    assert sample(s, "kw_ws_messages_sent_total") == 120
    w = monitoring(mon)["websocket"]
    assert w["connections"] == 7 and w["stale"] is False


def test_metrics_are_batched_not_written_per_request(tmp_path):
    """No database write per request: 20 requests leave the store untouched until the flush.
    One worker, so that "settled" is exact."""
    s = Stack(tmp_path / "batch", settings={"METRICS_FLUSH_SECONDS": str(FLUSH_S)}, workers=1)
    s.start()
    try:
        settle(s)
        before = db_requests(s, "/api/health")
        t0 = time.time()
        for _ in range(20):
            assert requests.get(s.url("/api/health"), timeout=5).status_code == 200
        elapsed = time.time() - t0
        assert elapsed < FLUSH_S, "too slow to observe batching (%.2f s)" % elapsed
        assert db_requests(s, "/api/health") == before
        assert wait_for(lambda: db_requests(s, "/api/health") == before + 20)
    finally:
        s.stop()


def test_retention_prunes_old_minutes(tmp_path):
    s = Stack(tmp_path / "ret", settings={"METRICS_RETENTION_DAYS": "1",
                                          "METRICS_FLUSH_SECONDS": "1"}, workers=1)
    s.start()
    try:
        old = (int(time.time()) - 3 * 86400) // 60 * 60
        with s.sql() as db:
            db.execute("INSERT INTO metrics_requests VALUES (?, 'GET', '/api/status', 2, 5, 10,"
                       " 50, 5, 0,0,0,0,0,0,0,0,0,0,0,0,0,0)", (old,))
            db.execute("INSERT INTO metrics_countries VALUES (?, 'GB', 5)", (old,))
            db.execute("INSERT INTO metrics_security VALUES (?, 'auth_failed', 5)", (old,))
        # A fresh worker prunes at its first flush (then hourly).
        with s.sql() as db:
            db.execute("INSERT INTO metrics_requests_hourly VALUES (?, 'GET', '/api/status', 2, 5,"
                       " 10, 50, 5, 0,0,0,0,0,0,0,0,0,0,0,0,0,0)", (old - old % 3600,))
        for pid in s.worker_pids():
            os.kill(pid, 15)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                s.get("/api/status", timeout=2)
            except requests.RequestException:
                pass
            with s.sql() as db:
                left = sum(db.execute("SELECT count(*) FROM %s WHERE minute = ?" % t,
                                      (old,)).fetchone()[0]
                           for t in ("metrics_requests", "metrics_countries", "metrics_security"))
                left += db.execute("SELECT count(*) FROM metrics_requests_hourly WHERE hour = ?",
                                   (old - old % 3600,)).fetchone()[0]
            if left == 0:
                break
            time.sleep(0.3)
        assert left == 0, "old metrics were not pruned"
        assert "pruned" in s.log()
    finally:
        s.stop()
