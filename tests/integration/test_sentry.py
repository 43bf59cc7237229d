"""Error reporting (SENTRY_DSN) against a local fake Sentry receiver: a 5xx from kw-api, a crash
(fatal signal) of a kw-api worker or of kw-ws reported by the next start from the spool file, a
failed kw-fetch run — each as
an envelope whose format and X-Sentry-Auth header are checked field by field, with no secret in
it. No DSN: nothing is sent. A bad DSN stops start-up; an unreachable receiver delays nothing."""
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from kwstack import BUILD, Stack, free_port, run_admin

KEY = "0123456789abcdef0123456789abcdef"
LEGACY_SECRET = "legacysecretpart42"


class FakeSentry:
    """Records every POST; answers 200 like Sentry's envelope endpoint."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "body": body})
                out = b'{"id":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def dsn(self):
        return "http://%s:%s@127.0.0.1:%d/42" % (KEY, LEGACY_SECRET, self.port)

    def events(self):
        return [check_envelope(r) for r in list(self.requests)]

    def wait(self, pred, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [e for e in self.events() if pred(e)]
            if got:
                return got
            time.sleep(0.1)
        return []

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def check_envelope(req):
    """Validate one envelope request; return its event payload."""
    assert req["path"] == "/api/42/envelope/"
    h = {k.lower(): v for k, v in req["headers"].items()}
    assert h["content-type"] == "application/x-sentry-envelope"
    assert re.fullmatch(r"Sentry sentry_version=7, sentry_client=kalshiwhale/[0-9.]+, "
                        r"sentry_key=%s" % KEY, h["x-sentry-auth"]), h["x-sentry-auth"]
    body = req["body"]
    assert LEGACY_SECRET.encode() not in body
    head, rest = body.split(b"\n", 1)
    item, rest = rest.split(b"\n", 1)
    head, item = json.loads(head), json.loads(item)
    assert re.fullmatch(r"[0-9a-f]{32}", head["event_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", head["sent_at"])
    assert item["type"] == "event"
    payload = rest[:item["length"]]
    assert rest[item["length"]:] in (b"", b"\n")
    ev = json.loads(payload)
    assert ev["event_id"] == head["event_id"]
    assert ev["platform"] == "c" and ev["environment"] == "development"
    assert re.fullmatch(r"kalshiwhale@[0-9.]+", ev["release"])
    assert ev["level"] in ("fatal", "error", "warning")
    assert abs(ev["timestamp"] - time.time()) < 600
    assert isinstance(ev["message"]["formatted"], str) and ev["tags"]["program"]
    ev["_raw"] = body
    return ev


@pytest.fixture(scope="module")
def sentry():
    s = FakeSentry()
    yield s
    s.stop()


def spool_in_stack_dir(s):
    """The spool in the stack's own directory, which its processes can write whichever user
    they run as."""
    s.settings["SENTRY_SPOOL_DIR"] = os.path.join(s.dir, "spool")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sentry):
    s = Stack(tmp_path_factory.mktemp("sentry"),
              settings={"SENTRY_DSN": sentry.dsn(), "JWT_SECRET": "j" * 40}, workers=1)
    spool_in_stack_dir(s)
    s.start()
    yield s
    s.stop()


def test_5xx_is_reported(stack, sentry):
    with stack.sql() as db:
        db.execute("ALTER TABLE ws_stats RENAME TO ws_stats_gone")
    try:
        r = stack.get("/metrics")
        assert r.status_code == 503, r.text
    finally:
        with stack.sql() as db:
            db.execute("ALTER TABLE ws_stats_gone RENAME TO ws_stats")
    # The worker spools the event (no network I/O in a worker); kw-fetch delivers it.
    spool = stack.settings["SENTRY_SPOOL_DIR"]
    files = [f for f in os.listdir(spool) if f.startswith("event-")]
    assert len(files) == 1, os.listdir(spool)
    raw = open(os.path.join(spool, files[0]), "rb").read()
    for secret in (stack.api_key, "j" * 40):
        assert secret.encode() not in raw
    assert not sentry.wait(lambda e: e["tags"].get("route") == "/metrics", timeout=0.5)
    fetch_unreachable(stack, {})
    got = sentry.wait(lambda e: e["tags"].get("route") == "/metrics")
    assert got, "no event for the 503"
    assert [f for f in os.listdir(spool) if f.startswith("event-")] == []
    ev = got[0]
    assert ev["level"] == "error" and ev["logger"] == "kw-api"
    assert ev["message"]["formatted"] == "kw-api: GET /metrics answered 503"
    assert ev["tags"]["status"] == "503" and ev["tags"]["method"] == "GET"
    assert ev["tags"]["request_id"] == r.headers["X-Request-Id"]
    for secret in (stack.api_key, "j" * 40):
        assert secret.encode() not in ev["_raw"]
    # Served again once the table is back; 2xx and 4xx are not errors.
    assert stack.get("/metrics").status_code == 200
    assert stack.get("/api/nope").status_code == 404
    time.sleep(0.5)
    assert [f for f in os.listdir(spool) if f.startswith("event-")] == []


def test_worker_crash_is_reported_by_the_next_kw_fetch_run(stack, sentry):
    spool = stack.settings["SENTRY_SPOOL_DIR"]
    (pid,) = stack.worker_pids()
    os.kill(pid, signal.SIGSEGV)
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    assert any(f.startswith("crash-") for f in os.listdir(spool)), os.listdir(spool)
    fetch_unreachable(stack, {})
    got = sentry.wait(lambda e: e["level"] == "fatal")
    assert got, "no crash report; spool: %s\n%s" % (os.listdir(spool), stack.log()[-2000:])
    ev = got[0]
    assert ev["message"]["formatted"] == "kw-api crashed: SIGSEGV (signal 11)"
    assert ev["tags"]["signal"] == "SIGSEGV" and ev["tags"]["crashed_program"] == "kw-api"
    # Sent once, then removed from the spool.
    time.sleep(0.5)
    assert [f for f in os.listdir(spool)] == []
    assert len([e for e in sentry.events() if e["level"] == "fatal"]) == 1
    assert stack.get("/api/status").status_code == 200


def test_ws_crash_is_reported_on_its_next_start(tmp_path, sentry):
    s = Stack(tmp_path / "ws", settings={"SENTRY_DSN": sentry.dsn()}, workers=1, ws=True)
    spool_in_stack_dir(s)
    s.start()
    try:
        n = len([e for e in sentry.events() if e["tags"].get("crashed_program") == "kw-ws"])
        s.ws_proc.send_signal(signal.SIGSEGV)
        s.ws_proc.wait(timeout=10)
        assert s.ws_proc.returncode == -signal.SIGSEGV
        assert any(f.endswith(".report") for f in os.listdir(s.settings["SENTRY_SPOOL_DIR"]))
        s.stop_ws()
        s.start_ws()  # as systemd's Restart=on-failure would
        got = sentry.wait(lambda e: e["tags"].get("crashed_program") == "kw-ws")
        assert len(got) == n + 1
        assert got[-1]["logger"] == "kw-ws" and got[-1]["tags"]["signal"] == "SIGSEGV"
        assert os.listdir(s.settings["SENTRY_SPOOL_DIR"]) == []
    finally:
        s.stop()


def fetch_unreachable(stack, settings):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file, KW_FETCH_BACKOFF_MS="0",
               KALSHI_API_BASE="http://127.0.0.1:%d/trade-api/v2" % free_port(),
               KALSHI_TIMEOUT_SECONDS="2", **settings)
    return subprocess.run([os.path.join(BUILD, "kw-fetch")], env=env, capture_output=True,
                          text=True, timeout=60)


def test_fetch_failure_is_reported(stack, sentry):
    p = fetch_unreachable(stack, {})
    assert p.returncode in (1, 75), p.stderr
    got = sentry.wait(lambda e: e["logger"] == "kw-fetch")
    assert got
    assert got[0]["tags"]["exit_status"] == str(p.returncode)
    assert got[0]["message"]["formatted"].startswith("kw-fetch: ")


def test_no_dsn_sends_nothing(stack, sentry, tmp_path):
    n = len(sentry.requests)
    p = fetch_unreachable(stack, {"SENTRY_DSN": ""})
    assert p.returncode in (1, 75)
    time.sleep(0.5)
    assert len(sentry.requests) == n


@pytest.mark.parametrize("dsn", ["ftp://k@host/1", "https://host/1", "https://k@host",
                                 "https://k@host/", "https://k y@host/1"])
def test_bad_dsn_is_refused_at_start(stack, dsn):
    p = run_admin(stack, "config", "check", env_extra={"SENTRY_DSN": dsn})
    assert p.returncode == 78
    assert "SENTRY_DSN" in p.stderr and dsn not in p.stderr  # a secret: never echoed


def test_unreachable_receiver_delays_nothing_and_loses_nothing(tmp_path):
    s = Stack(tmp_path / "down",
              settings={"SENTRY_DSN": "http://%s@127.0.0.1:%d/7" % (KEY, free_port())}, workers=1)
    spool_in_stack_dir(s)
    s.start()
    try:
        with s.sql() as db:
            db.execute("ALTER TABLE ws_stats RENAME TO ws_stats_gone")
        t0 = time.time()
        assert s.get("/metrics").status_code == 503
        # The next request is served at once. (Not /api/health: it reads ws_stats too, and
        # answers from a figure cached for a second only by the accept thread that read it.)
        assert s.get("/api/v1/markets").status_code == 200
        assert time.time() - t0 < 2
        p = fetch_unreachable(s, {})
        assert "not sent" in p.stderr
        # Still spooled for the next run, not lost.
        assert [f for f in os.listdir(s.settings["SENTRY_SPOOL_DIR"]) if f.startswith("event-")]
    finally:
        s.stop()
