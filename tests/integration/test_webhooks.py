"""Webhooks (ALERT_WEBHOOK_URL, WHALE_WEBHOOK_URL) against a local receiver: detection alerts from
a real kw-fetch replay and suspicious-activity alerts raised by the real kw-api are delivered by
kw-fetch after its run — never from inside a request — as Slack/Discord-compatible JSON, signed
with HMAC-SHA256 over the timestamp header and the body, once each, and retried with backoff
when the receiver fails."""
import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import threading
import time

import pytest

from detected import Detected
from kwstack import BUILD, TOP, Stack, free_port
from sectools import events

SECRET = "whsec_" + "k" * 40
SAMPLE = os.path.join(TOP, "deploy", "sample")


class Receiver:
    """Records deliveries; fails the first `fail` requests per path with `fail_status`."""

    def __init__(self):
        self.got = []
        self.fail = {}            # path -> (failures left, status)
        self.fail_delivery = {}   # X-KalshiWhale-Delivery -> failures left (503)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                entry = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": body, "at": time.time()}
                outer.got.append(entry)
                left, status = outer.fail.get(self.path, (0, 500))
                d = self.headers.get("X-KalshiWhale-Delivery")
                if outer.fail_delivery.get(d):
                    outer.fail_delivery[d] -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if left:
                    outer.fail[self.path] = (left - 1, status)
                    self.send_response(status)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, path):
        return [g for g in self.got if g["path"] == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def verify(delivery):
    """Check signature, timestamp and shape; return the JSON body."""
    h = delivery["headers"]
    ts = int(h["x-kalshiwhale-timestamp"])
    assert abs(ts - time.time()) < 300
    want = "v1=" + hmac.new(SECRET.encode(), b"%d." % ts + delivery["body"],
                            hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h["x-kalshiwhale-signature"], want)
    assert h["content-type"] == "application/json"
    assert h["x-kalshiwhale-delivery"].isdigit()
    body = json.loads(delivery["body"])
    assert body["text"] and body["content"] == body["text"] and body["username"] == "KalshiWhale"
    assert body["allowed_mentions"] == {"parse": []}
    assert body["event"] == h["x-kalshiwhale-event"]
    return body


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def make_stack(tmp_path, receiver, **extra):
    settings = {"WHALE_WEBHOOK_URL": receiver.url("/whale"),
                "ALERT_WEBHOOK_URL": receiver.url("/alert"), "WEBHOOK_SECRET": SECRET,
                "TRUSTED_PROXIES": "127.0.0.1", "SUSPICIOUS_AUTH_FAILURES": "3"}
    settings.update(extra)
    return Stack(tmp_path / "wh", settings=settings, workers=2).start()


def fetch(stack, *args, backoff_ms="100"):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file, KW_WEBHOOK_BACKOFF_MS=backoff_ms)
    p = subprocess.run([os.path.join(BUILD, "kw-fetch")] + list(args), env=env,
                       capture_output=True, text=True, timeout=90)
    return p


def again(stack, first):
    """The same recording replayed under the shift the first replay logged: a second later,
    "the last run is now" is another shift, and the trades at other times are other rows."""
    shift = re.search(r"replay: recorded times shifted by (-?\d+) s", first.stderr).group(1)
    return fetch(stack, "--replay", SAMPLE, "--replay-shift", shift)


def test_whale_alerts_delivered_signed_once(tmp_path, receiver):
    s = make_stack(tmp_path, receiver)
    try:
        p = fetch(s, "--replay", SAMPLE)
        assert p.returncode == 0, p.stderr
        with s.sql() as db:
            alerts = {r[0]: r for r in db.execute("SELECT id, type, ticker, description FROM alerts")}
        got = receiver.on("/whale")
        assert len(got) == len(alerts) > 0
        seen = set()
        for g in got:
            body = verify(g)
            a = body["alert"]
            assert body["event"] == "whale_alert" and a["id"] in alerts
            assert (a["type"], a["ticker"], a["description"]) == alerts[a["id"]][1:]
            assert a["severity"] in body["text"] and "thresholds" in a["data"]
            seen.add(a["id"])
        assert seen == set(alerts)
        # Again: nothing new, nothing sent twice.
        assert again(s, p).returncode == 0
        assert len(receiver.on("/whale")) == len(alerts)
        assert receiver.on("/alert") == []
    finally:
        s.stop()


def test_suspicious_activity_delivered_outside_requests(tmp_path, receiver):
    s = make_stack(tmp_path, receiver, WHALE_WEBHOOK_URL="")
    try:
        first = fetch(s, "--replay", SAMPLE)  # first run: cursors start here
        assert first.returncode == 0, first.stderr
        for _ in range(3):
            r = s.get("/api/v1/markets", headers={"X-API-Key": "kw_wrong_" + "q" * 40,
                                                  "X-Forwarded-For": "203.0.113.9"})
            assert r.status_code in (401, 403)
        assert len(events(s, "suspicious_activity")) == 1
        time.sleep(0.5)
        assert receiver.got == []  # kw-api never posts
        assert again(s, first).returncode == 0
        got = receiver.on("/alert")
        assert len(got) == 1
        body = verify(got[0])
        assert body["event"] == "suspicious_activity"
        assert body["security"]["client"] == "203.0.113.9"
        assert "203.0.113.9" in body["text"]
        assert "kw_wrong_" not in got[0]["body"].decode()
    finally:
        s.stop()


def test_retried_with_backoff(tmp_path, receiver):
    receiver.fail_delivery["1"] = 2
    s = make_stack(tmp_path, receiver, ALERT_WEBHOOK_URL="")
    try:
        p = fetch(s, "--replay", SAMPLE, backoff_ms="300")
        assert p.returncode == 0, p.stderr
        by_delivery = {}
        for g in receiver.on("/whale"):
            by_delivery.setdefault(g["headers"]["x-kalshiwhale-delivery"], []).append(g)
        with s.sql() as db:
            n_alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
            rows = db.execute("SELECT attempts, delivered_at IS NOT NULL FROM webhook_deliveries"
                              " ORDER BY id").fetchall()
        assert len(by_delivery) == n_alerts and all(r[1] for r in rows)
        # The first delivery failed twice, then went through: 3 attempts, backoff 0.3 s, 0.6 s.
        tries = by_delivery["1"]
        assert len(tries) == 3 and rows[0][0] == 3
        assert all(len(v) == 1 for k, v in by_delivery.items() if k != "1")
        gaps = [b["at"] - a["at"] for a, b in zip(tries, tries[1:])]
        assert gaps[0] >= 0.28 and gaps[1] >= 0.58, gaps
        assert all(t["body"] == tries[0]["body"] for t in tries)  # same delivery, same body
        assert "attempt 1 failed: HTTP 503" in p.stderr
    finally:
        s.stop()


def test_refused_payload_is_not_retried_and_receiver_down_is_bounded(tmp_path, receiver):
    receiver.fail["/whale"] = (1000, 400)
    s = make_stack(tmp_path, receiver, ALERT_WEBHOOK_URL="")
    try:
        t0 = time.time()
        p = fetch(s, "--replay", SAMPLE)
        assert p.returncode == 0
        with s.sql() as db:
            rows = db.execute("SELECT attempts, failed_at IS NOT NULL, last_error"
                              " FROM webhook_deliveries").fetchall()
        assert rows and all(r == (1, 1, "HTTP 400") for r in rows)
        # Nobody listening: the run still succeeds, deliveries wait for the next run.
        down = "http://127.0.0.1:%d/whale" % free_port()
        with open(s.env_file, "a") as f:
            f.write("WHALE_WEBHOOK_URL=%s\n" % down)
        # One new whale trade, fetched and detected by the next run, which cannot deliver it.
        src = Detected(s, env={"KW_WEBHOOK_BACKOFF_MS": "60000"})
        try:
            [whale] = src.whales("KXWH-1", 6000)
        finally:
            src.stop()
        p = src.last
        assert time.time() - t0 < 60
        with s.sql() as db:
            # The same run may raise other alerts (the fake's empty books for the sample's
            # watched markets): each was tried once and waits, the whale alert among them.
            pending = db.execute("SELECT source_id, attempts, next_attempt_at"
                                 " FROM webhook_deliveries"
                                 " WHERE delivered_at IS NULL AND failed_at IS NULL").fetchall()
        assert whale in [r[0] for r in pending]
        assert all(r[1] == 1 and r[2] > time.time() * 1000 + 30000 for r in pending)
        assert down not in p.stderr  # the URL may carry a token: never logged
    finally:
        s.stop()


def test_no_secret_no_webhooks(tmp_path, receiver):
    s = make_stack(tmp_path, receiver, WEBHOOK_SECRET="short")
    try:
        p = fetch(s, "--replay", SAMPLE)
        assert p.returncode == 0
        assert "WEBHOOK_SECRET must be at least 32 bytes" in p.stderr
        assert receiver.got == []
    finally:
        s.stop()
