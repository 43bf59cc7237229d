"""One rate limit across nodes: two complete stacks (lighttpd and kw-api workers, each with its
own port, state directory and shared-memory limiter table) on one PostgreSQL database, as two
nodes behind a load balancer.

What a user of the cluster checks: a key's quota, and an address's, is the same whichever node
a request reaches (requests alternating between the nodes, or flooding both at once, get
exactly the burst); killing one node's workers in the middle of a flood never hands out more;
a block earned by failed credentials on one node refuses the address on the other at once,
failures counted on both nodes add up, and kw-admin unblock on either node lifts it on both.

Time is moved with the workers' test clock (sectools.Clock), one file for both nodes, which
the cluster limiter adds to the database server's clock. PostgreSQL only: a SQLite file has one
node.
"""
import base64
import os
import signal
import socket
import threading
import time

import pytest
import requests

from kwstack import LighttpdStack, pg_mode, run_admin
from sectools import Clock, create_key, events

pytestmark = pytest.mark.skipif(
    not pg_mode(), reason="nodes share a PostgreSQL database (KW_TEST_DB=postgres)")

API_KEY = "kw_env_" + "C1u5T3r9" * 6


def two_nodes(tmp_path, settings, workers=2, ws_b=False, refill=True):
    """Node A on a database of its own, node B on the same database, both on one test clock
    file (in A's directory, which the workers can read)."""
    common = dict(API_KEY=API_KEY, **settings)
    a = LighttpdStack(tmp_path / "a", settings=common, workers=workers)
    clock = Clock(os.path.join(a.dir, "clock"))
    old = os.environ.get("KW_TEST_CLOCK_FILE")
    os.environ["KW_TEST_CLOCK_FILE"] = clock.path
    try:
        b = LighttpdStack(tmp_path / "b", settings=common, workers=workers,
                          database=a.database, ws=ws_b)
        a.start()
        try:
            b.start()
        except Exception:
            a.stop()
            raise
    finally:
        if old is None:
            os.environ.pop("KW_TEST_CLOCK_FILE", None)
        else:
            os.environ["KW_TEST_CLOCK_FILE"] = old
    a.clock = b.clock = clock
    # Start-up's health checks took from this address's bucket: one simulated hour refills it.
    if refill:
        clock.advance(3600)
    return a, b


def get(stack, path="/api/status", **headers):
    return requests.get(stack.url(path), headers=headers, timeout=10)


def test_a_60_per_minute_key_gets_its_burst_across_both_nodes(tmp_path):
    a, b = two_nodes(tmp_path, {})
    try:
        key, _ = create_key(a, "sixty", rate=60)
        codes = []
        t0 = time.monotonic()
        for i in range(80):
            codes.append(get(a if i % 2 == 0 else b, **{"X-API-Key": key}).status_code)
        elapsed = time.monotonic() - t0
        assert set(codes) == {200, 429}, codes
        # The burst, plus one request per second that passed (the key refills at 60/min);
        # with one limit per node it would have been all 80.
        assert 60 <= codes.count(200) <= 60 + int(elapsed), (codes, elapsed)
        # Both nodes refuse now, with a Retry-After of the key's one-second refill.
        for node in (a, b):
            r = get(node, **{"X-API-Key": key})
            if r.status_code == 429:
                assert r.headers["Retry-After"] == "1"
                assert r.headers["X-RateLimit-Remaining"] == "0"
        # The rate_limit_exceeded event is logged once for the window, not once per node.
        assert len(events(a, "rate_limit_exceeded")) == 1
    finally:
        b.stop()
        a.stop()


def test_burst_is_exact_for_a_key_and_an_address_flooding_both_nodes(tmp_path):
    burst = 37
    a, b = two_nodes(tmp_path, {"RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": str(burst)},
                     workers=3)
    try:
        for headers in ({"X-API-Key": API_KEY}, {}):  # the key's bucket, then the address's
            results, lock = [], threading.Lock()

            def client(node):
                sess = requests.Session()
                for _ in range(12):
                    code = sess.get(node.url("/api/status"), headers=headers,
                                    timeout=10).status_code
                    with lock:
                        results.append(code)

            threads = [threading.Thread(target=client, args=(a if i % 2 else b,))
                       for i in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            ok = 200 if headers else 401  # anonymous requests are limited, then refused
            assert len(results) == 120
            assert results.count(ok) == burst, results
            assert results.count(429) == 120 - burst
        # Alternating one by one, after one refill (60 s): exactly one more, on either node.
        a.clock.advance(60)
        assert [get(n, **{"X-API-Key": API_KEY}).status_code for n in (b, a, b)] == [
            200, 429, 429]
    finally:
        b.stop()
        a.stop()


def test_a_key_held_past_its_limit_writes_nothing_more(tmp_path):
    """A client hammering past its limit costs reads, not writes: every refusal says the same
    Retry-After and remaining, and the key's row in the limiter's table keeps its version
    (PostgreSQL's xmin; an UPDATE, even one that changes nothing, makes a new version and
    leaves the old one for vacuum)."""
    a, b = two_nodes(tmp_path, {"RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": "3"})
    key = {"X-API-Key": API_KEY}
    query = ("SELECT key, xmin::text, tat_us FROM rate_limit_cluster"
             " WHERE key >= 'k:' AND key < 'k;' ORDER BY key")
    try:
        assert [get(n, **key).status_code for n in (a, b, a)] == [200, 200, 200]
        assert get(b, **key).status_code == 429  # the first refusal starts the event's window
        with a.sql() as db:
            before = [tuple(r) for r in db.execute(query).fetchall()]
        assert len(before) == 1, before
        for i in range(20):
            r = get(a if i % 2 else b, **key)
            assert r.status_code == 429
            assert r.headers["X-RateLimit-Remaining"] == "0"
            # The next unit refills a minute after the burst was taken.
            assert 55 <= int(r.headers["Retry-After"]) <= 60, r.headers["Retry-After"]
        with a.sql() as db:
            assert [tuple(r) for r in db.execute(query).fetchall()] == before
        assert len(events(a, "rate_limit_exceeded")) == 1
    finally:
        b.stop()
        a.stop()


def test_rate_limit_scope_node_keeps_a_limit_per_node_and_writes_nothing(tmp_path):
    """RATE_LIMIT_SCOPE=node, for one node on PostgreSQL: each host counts in its own table,
    as on SQLite, and the database's limiter table is never written. Two nodes set so each
    grant the burst: that is what the setting means, and why it is for a single node only."""
    a, b = two_nodes(tmp_path, {"RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": "3",
                                "RATE_LIMIT_SCOPE": "node"})
    key = {"X-API-Key": API_KEY}
    try:
        for node in (a, b):
            codes = [get(node, **key).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429], codes
            r = get(node, **key)
            assert r.status_code == 429 and r.headers["X-RateLimit-Remaining"] == "0"
        with a.sql() as db:
            rows = db.execute("SELECT count(*) FROM rate_limit_cluster").fetchall()
        assert rows[0][0] == 0, rows
    finally:
        b.stop()
        a.stop()


def test_a_node_killed_mid_flood_hands_out_no_extra_quota(tmp_path):
    burst = 40
    a, b = two_nodes(tmp_path, {"RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": str(burst)})
    try:
        ok, lock, stop = [0], threading.Lock(), threading.Event()

        def client(node):
            sess = requests.Session()
            while not stop.is_set():
                try:
                    code = sess.get(node.url("/api/status"), headers={"X-API-Key": API_KEY},
                                    timeout=10).status_code
                except requests.RequestException:
                    continue
                with lock:
                    ok[0] += code == 200

        threads = [threading.Thread(target=client, args=(n,)) for n in (a, b, a, b)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        for pid in a.worker_pids():  # node A's workers die wherever they are in a request
            os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(30)
        # Requests cut off by the kill may have taken their unit without an answer: fewer
        # 200s than the burst is possible, more never.
        assert ok[0] <= burst, ok[0]
        # Node B keeps serving and keeps the limit: nothing is left of the burst.
        assert get(b, **{"X-API-Key": API_KEY}).status_code == 429
    finally:
        b.stop()
        a.stop()


def test_a_block_made_on_one_node_refuses_the_address_on_the_other(tmp_path):
    a, b = two_nodes(tmp_path, {"SUSPICIOUS_AUTH_FAILURES": "3", "BLOCK_MINUTES": "2",
                                "TRUSTED_PROXIES": "127.0.0.1"})
    try:
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        bystander = {"X-Forwarded-For": "198.51.100.1", "X-API-Key": API_KEY}
        # Failures counted on both nodes add up: two on A, the third on B blocks.
        for node in (a, a, b):
            assert get(node, **dict(attacker, **{"X-API-Key": "kw_bad"})).status_code == 401
        t_blocked = time.monotonic()
        for node in (a, b):
            r = get(node, **dict(attacker, **{"X-API-Key": API_KEY}))
            assert r.status_code == 403 and r.json()["error"]["code"] == "blocked", node.port
        assert time.monotonic() - t_blocked < 1.0
        # A preflight is refused too, and the bystander behind the same proxy is served.
        r = requests.options(b.url("/api/status"), timeout=10, headers=dict(
            attacker, Origin="https://x.example", **{"Access-Control-Request-Method": "GET"}))
        assert r.status_code == 403
        for node in (a, b):
            assert get(node, **bystander).status_code == 200
        sus = events(a, "suspicious_activity")
        assert len(sus) == 1 and sus[0]["client"] == "203.0.113.7"
        # kw-admin unblock on node B lifts it on node A as well.
        done = run_admin(b, "unblock", "203.0.113.7")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "203.0.113.7 unblocked"
        # Node B, where it ran, serves the address at once; node A within two seconds (its
        # copy of the block lapses unless the database still holds it).
        assert get(b, **dict(attacker, **{"X-API-Key": API_KEY})).status_code == 200
        t0 = time.monotonic()
        while get(a, **dict(attacker, **{"X-API-Key": API_KEY})).status_code == 403:
            assert time.monotonic() - t0 < 2.5
            time.sleep(0.1)
        # A new block on node B, then it ends after BLOCK_MINUTES on both.
        for _ in range(3):
            assert get(b, **dict(attacker, **{"X-API-Key": "kw_bad"})).status_code == 401
        assert get(a, **dict(attacker, **{"X-API-Key": API_KEY})).status_code == 403
        a.clock.advance(121)
        for node in (a, b):
            assert get(node, **dict(attacker, **{"X-API-Key": API_KEY})).status_code == 200
    finally:
        b.stop()
        a.stop()


def ws_handshake(stack, headers):
    """The status kw-ws answers a WebSocket handshake with (straight to its port)."""
    with socket.create_connection(("127.0.0.1", stack.ws_port), timeout=10) as s:
        head = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                % base64.b64encode(os.urandom(16)).decode())
        s.sendall((head + "".join("%s: %s\r\n" % kv for kv in headers.items())
                   + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    return int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/") else 0


def test_kw_ws_counts_failures_and_honours_blocks_with_the_other_nodes_kw_api(tmp_path):
    # kw-ws has no test clock: this test leaves kw-api's unshifted, so both read one clock.
    a, b = two_nodes(tmp_path, {"SUSPICIOUS_AUTH_FAILURES": "3", "BLOCK_MINUTES": "2",
                                "TRUSTED_PROXIES": "127.0.0.1"}, ws_b=True, refill=False)
    try:
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        # Two failures on node A's API, the third on node B's kw-ws: blocked.
        for _ in range(2):
            assert get(a, **dict(attacker, **{"X-API-Key": "kw_bad"})).status_code == 401
        assert ws_handshake(b, dict(attacker, **{"X-API-Key": "kw_bad"})) == 401
        assert get(a, **dict(attacker, **{"X-API-Key": API_KEY})).status_code == 403
        assert ws_handshake(b, dict(attacker, **{"X-API-Key": API_KEY})) == 403
        # Another address is served by both.
        assert ws_handshake(b, {"X-Forwarded-For": "198.51.100.9", "X-API-Key": API_KEY}) == 101
        assert len(events(a, "suspicious_activity")) == 1
    finally:
        b.stop()
        a.stop()
