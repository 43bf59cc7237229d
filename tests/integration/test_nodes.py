"""Several nodes on one PostgreSQL database: two complete stacks (lighttpd, kw-api workers,
kw-ws, kw-fetch) on their own ports, state directories and DATABASE_PATHs, sharing one
DATABASE_URL, as N nodes behind a load balancer would.

What a user of such a cluster checks: Kalshi sees one fetcher (both nodes' loops make one run
per interval; a node's run held by kill -9 frees the lock and the other node's next run
completes on an intact database), a refresh asked on either node is run once, an alert stored
once reaches WebSocket clients on both nodes, a key revoked on one node closes its sockets on
the other, /api/status names the node and the cluster's last run and counts every node's
WebSocket clients, and /api/health says 503 on
the node that cannot reach the database while the other keeps saying 200.

PostgreSQL only (KW_TEST_DB=postgres): SQLite is one file on one machine, one node.
"""
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import websockets

from detected import Detected
from kwstack import BUILD, TOP, LighttpdStack, pg_mode, run_admin, sanitizer_env

sys.path.insert(0, os.path.join(TOP, "tests", "fake_kalshi"))
import fake_kalshi as fk  # noqa: E402

pytestmark = pytest.mark.skipif(
    not pg_mode(), reason="several nodes share a PostgreSQL database (KW_TEST_DB=postgres);"
    " a SQLite file has one node")

ORIGIN = "https://dash.example.com"
SECRET = "nodes-secret-" + "y" * 32


def two_nodes(tmp_path, ws=False, **settings):
    """Node A on a database of its own, node B on the same database; both started. The
    nodes share what a deployment's nodes share: the settings file's keys and secrets."""
    common = dict(JWT_SECRET=SECRET, ALLOWED_ORIGINS=ORIGIN, API_KEY="kw_nodes_" + "k" * 40,
                  **settings)
    a = LighttpdStack(tmp_path / "a", settings=dict(common, NODE_NAME="node-a"), ws=ws)
    b = LighttpdStack(tmp_path / "b", settings=dict(common, NODE_NAME="node-b"), ws=ws,
                      database=a.database)
    a.start()
    try:
        b.start()
    except Exception:
        a.stop()
        raise
    return a, b


def fetch_env(stack, fake, **extra):
    """kw-fetch as the node runs it; a sanitizer build's reports go to the node's directory,
    where stopping the node finds them."""
    return dict(os.environ, KW_ENV_FILE=stack.env_file, KALSHI_API_BASE=fake.base,
                KALSHI_MAX_RPS="100", KW_FETCH_BACKOFF_MS="5", **sanitizer_env(stack.dir),
                **extra)


def start_fetch(stack, fake, *args, log=None):
    """kw-fetch with the node's settings against the fake Kalshi, in the background."""
    out = open(log or os.path.join(stack.dir, "kw-fetch.log"), "ab")
    return subprocess.Popen([os.path.join(BUILD, "kw-fetch")] + list(args),
                            env=fetch_env(stack, fake), stdout=subprocess.DEVNULL, stderr=out)


def fetch_once(stack, fake):
    return subprocess.run([os.path.join(BUILD, "kw-fetch"), "--once"],
                          env=fetch_env(stack, fake), capture_output=True, text=True,
                          timeout=120)


def runs(stack):
    with stack.sql() as db:
        return db.execute("SELECT id, node, outcome, started_at, finished_at, error"
                          " FROM fetch_runs ORDER BY id").fetchall()


def small_kalshi(**kw):
    return fk.FakeKalshi(
        markets=[fk.market("KXNODE-%d" % i, "KXNODE-EV") for i in range(3)],
        series_list=[fk.series("KXNODE", "Crypto")],
        events=[fk.event("KXNODE-EV", "KXNODE")], page_size=100, **kw).start()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


# ---- one fetcher ------------------------------------------------------------------------------

def test_both_nodes_fetch_loops_make_one_run_per_interval(tmp_path):
    interval = 3
    a, b = two_nodes(tmp_path)
    fake = small_kalshi()
    loops = []
    try:
        loops = [start_fetch(a, fake, "--loop", str(interval)),
                 start_fetch(b, fake, "--loop", str(interval))]
        time.sleep(interval * 5 + 1)
    finally:
        for p in loops:
            stop(p)
        fake.stop()
    rows = runs(a)
    markets_lists = [r for r in fake.requests
                     if r["path"].endswith("/markets") and not r["query"].get("cursor")]
    try:
        assert 3 <= len(rows) <= 7, rows  # about one per interval, never two
        # The stop at the end may cut the last run short (it is then failed, interrupted,
        # perhaps before it listed the markets).
        cut = 1 if rows[-1][2] == "failed" and "interrupted" in (rows[-1][5] or "") else 0
        assert all(r[2] in ("ok", "partial") for r in rows[:len(rows) - cut]), rows
        # Kalshi saw one client: one markets listing per run.
        assert len(rows) - cut <= len(markets_lists) <= len(rows)
        assert {r[1] for r in rows} <= {"node-a", "node-b"}
        # Never two at once, and each began an interval after the one before it ended
        # (times are whole seconds: one second of rounding).
        for prev, nxt in zip(rows, rows[1:]):
            assert nxt[3] - prev[4] >= interval - 1, (prev, nxt)
        logs = a.log() + b.log() + open(os.path.join(a.dir, "kw-fetch.log")).read() + \
            open(os.path.join(b.dir, "kw-fetch.log")).read()
        assert "this node skips its run" in logs or "holds the cluster's run lock" in logs
    finally:
        a.stop()
        b.stop()


def test_kill_9_mid_run_frees_the_lock_and_the_other_node_runs_on_an_intact_database(tmp_path):
    a, b = two_nodes(tmp_path)
    fake = small_kalshi(delay=0.4)  # a run of a dozen requests takes seconds
    try:
        pa = start_fetch(a, fake, "--once")
        deadline = time.time() + 30
        while time.time() < deadline and not [r for r in runs(a) if r[2] == "running"]:
            time.sleep(0.1)
        assert [r[1] for r in runs(a) if r[2] == "running"] == ["node-a"]
        # While node A's run goes on, node B's cron run stands aside and says why.
        before = len(fake.requests)
        r = fetch_once(b, fake)
        assert r.returncode == 0, r.stderr
        assert "holds the cluster's run lock" in r.stderr
        assert len(runs(a)) == 1
        os.kill(pa.pid, signal.SIGKILL)
        pa.wait(timeout=10)
        fake.delay = 0
        r = fetch_once(b, fake)
        assert r.returncode == 0, r.stderr
        rows = runs(a)
        assert len(rows) == 2
        assert rows[0][1:3] == ("node-a", "failed") and "interrupted" in rows[0][5]
        assert rows[1][1:3] == ("node-b", "ok")
        assert len(fake.requests) > before
        check = run_admin(a, "db", "check")
        assert check.returncode == 0, check.stdout + check.stderr
        # What the run stored is what both nodes report, once the status read their workers
        # reuse for a second (the stacks' start-up health check made one) has expired.
        time.sleep(1.1)
        for node in (a, b):
            st = node.get("/api/status").json()
            assert st["total_markets"] == 3 and st["fetcher"]["last_run"]["node"] == "node-b"
    finally:
        fake.stop()
        a.stop()
        b.stop()


def test_a_refresh_asked_on_either_node_is_run_once(tmp_path):
    a, b = two_nodes(tmp_path)
    fake = small_kalshi()
    loops = []
    try:
        # A long interval: after the first run only a refresh request starts another.
        loops = [start_fetch(a, fake, "--loop", "600"), start_fetch(b, fake, "--loop", "600")]
        deadline = time.time() + 30
        while time.time() < deadline and not [r for r in runs(a) if r[4]]:
            time.sleep(0.2)
        time.sleep(6)  # the other loop's look after the lock was busy
        assert len(runs(a)) == 1
        for node in (b, a):
            n = len(runs(a))
            r = node.post("/api/v1/refresh", json={})
            assert r.status_code == 202, r.text
            deadline = time.time() + 20
            while time.time() < deadline and (len(runs(a)) == n or not runs(a)[-1][4]):
                time.sleep(0.2)
            time.sleep(6)
            assert len(runs(a)) == n + 1
            with a.sql() as db:
                waiting = db.execute("SELECT count(*) FROM refresh_requests"
                                     " WHERE run_id IS NULL").fetchone()[0]
            assert waiting == 0
    finally:
        for p in loops:
            stop(p)
        fake.stop()
        a.stop()
        b.stop()


# ---- live everywhere --------------------------------------------------------------------------

async def _recv_alert(ws, alert_id, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("alert %d not delivered within %.1f s" % (alert_id, timeout))
        msg = json.loads(await asyncio.wait_for(ws.recv(), left))
        if msg["type"] == "alert" and msg["data"]["id"] == alert_id:
            return time.monotonic()


def _connect(stack, key=None):
    return websockets.connect(stack.ws_url, origin=ORIGIN, compression=None,
                              extra_headers={"X-API-Key": key or stack.api_key},
                              ping_interval=None, close_timeout=2)


def test_an_alert_stored_once_reaches_websocket_clients_on_both_nodes(tmp_path):
    a, b = two_nodes(tmp_path, ws=True)
    src = Detected(a)
    try:
        async def go():
            async with _connect(a) as wa, _connect(b) as wb:
                for ws in (wa, wb):
                    assert json.loads(await ws.recv())["type"] == "initial_data"
                    await ws.send(json.dumps({"type": "subscribe", "channels": ["alerts"]}))
                    while json.loads(await ws.recv())["type"] != "initial_data":
                        pass
                src.add_whales("KXBTC-NODES", 8000)
                # When the alert's commit became visible: a reader looking every 10 ms
                # (for the figure printed below; nothing is asserted on time).
                seen, stop_watch = [], threading.Event()

                def watch():
                    with a.sql() as db:
                        while not seen and not stop_watch.is_set():
                            if db.execute("SELECT count(*) FROM alerts").fetchone()[0]:
                                seen.append(time.monotonic())
                            time.sleep(0.01)
                watcher = threading.Thread(target=watch)
                watcher.start()
                loop = asyncio.get_running_loop()
                try:
                    ids = await loop.run_in_executor(None, src.run, "KXBTC-NODES")
                    assert len(ids) == 1
                    got = await asyncio.gather(_recv_alert(wa, ids[0], 5),
                                               _recv_alert(wb, ids[0], 5))
                finally:
                    stop_watch.set()
                    watcher.join()
                return [t - seen[0] for t in got]
        lags = asyncio.run(asyncio.wait_for(go(), 60))
        print("alert delivered after its commit was visible: node A %+.3f s, node B %+.3f s"
              % tuple(lags))
        with a.sql() as db:
            assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    finally:
        src.stop()
        a.stop()
        b.stop()


def test_a_key_revoked_on_one_node_closes_its_sockets_on_the_other(tmp_path):
    a, b = two_nodes(tmp_path, ws=True)
    try:
        r = run_admin(a, "key", "create", "--name", "cluster-ws", "--scope", "read")
        assert r.returncode == 0, r.stderr
        key = r.stdout.strip().splitlines()[-1]
        key_id = [l.split()[0] for l in run_admin(a, "key", "list").stdout.splitlines()
                  if " cluster-ws " in l][0]

        async def closed_with(ws, timeout):
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), timeout)
            except websockets.exceptions.ConnectionClosed as e:
                return e.code
            except asyncio.TimeoutError:
                return None

        async def go():
            async with _connect(b, key) as on_b, _connect(b) as bystander:
                assert await closed_with(on_b, 1.5) is None  # open and served
                t0 = time.monotonic()
                assert run_admin(a, "key", "revoke", key_id).returncode == 0
                assert await closed_with(on_b, 5) == 1008
                took = time.monotonic() - t0
                await bystander.send(json.dumps({"type": "ping"}))
                while json.loads(await bystander.recv())["type"] != "pong":
                    pass
                return took
        took = asyncio.run(asyncio.wait_for(go(), 60))
        # kw-admin on node A bumps only node A's own limiter table; node B learns of the
        # revocation from the database: within a couple of its one-second looks, well
        # before the ten-second sweep that covers keys changed by hand.
        assert took < 3.5, took
        assert "key_revoked_while_connected" in b.log()
    finally:
        a.stop()
        b.stop()


# ---- health and status for load balancers -----------------------------------------------------

class TcpCut:
    """A loopback TCP relay to the PostgreSQL server that a test can cut (every connection
    closed, new ones refused) and mend: one node's network path to the database."""

    def __init__(self, host, port):
        self.upstream = (host, port)
        self.port = None
        self.conns = []
        self.lock = threading.Lock()
        self.listener = None
        self.mend()

    def mend(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port or 0))
        self.port = self.listener.getsockname()[1]
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for src, dst in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.listener.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.conns = []


def test_status_names_the_node_and_the_clusters_last_run(tmp_path):
    a, b = two_nodes(tmp_path)
    fake = small_kalshi()
    try:
        for node, name in ((a, "node-a"), (b, "node-b")):
            st = node.get("/api/status").json()
            assert st["node"] == name and st["fetcher"] == {"last_run": None}
        r = fetch_once(a, fake)
        assert r.returncode == 0, r.stderr
        time.sleep(1.1)  # the workers reuse their status read for a second
        for node, name in ((a, "node-a"), (b, "node-b")):
            st = node.get("/api/status").json()
            assert st["node"] == name
            last = st["fetcher"]["last_run"]
            assert last["node"] == "node-a" and last["outcome"] == "ok"
            assert last["finished_at"] and last["id"] == runs(a)[-1][0]
    finally:
        fake.stop()
        a.stop()
        b.stop()


def test_status_counts_the_websocket_clients_of_every_node(tmp_path):
    a, b = two_nodes(tmp_path, ws=True)
    try:
        async def go():
            async with _connect(a), _connect(a), _connect(b):
                counts = []
                deadline = time.monotonic() + 15  # kw-ws reports every 2 s
                while time.monotonic() < deadline:
                    counts = [n.get("/api/status").json()["active_connections"] for n in (a, b)]
                    if counts == [3, 3]:
                        break
                    await asyncio.sleep(0.5)
                return counts
        assert asyncio.run(asyncio.wait_for(go(), 60)) == [3, 3]
    finally:
        a.stop()
        b.stop()


def test_health_is_503_on_the_node_that_cannot_reach_the_database(tmp_path):
    from urllib.parse import urlsplit
    a = LighttpdStack(tmp_path / "a", settings={"NODE_NAME": "node-a"})
    url = urlsplit(a.database.url)
    relay = TcpCut(url.hostname, url.port)
    b_url = a.database.url.replace(":%d/" % url.port, ":%d/" % relay.port)
    assert b_url != a.database.url
    b = LighttpdStack(tmp_path / "b", settings={"NODE_NAME": "node-b", "DATABASE_URL": b_url},
                      database=a.database)
    a.start()
    b.start()
    try:
        assert b.get("/api/health").json() == {"status": "ok"}
        relay.cut()
        deadline = time.time() + 15
        codes = []
        while time.time() < deadline and (not codes or codes[-1] != 503):
            codes.append(b.get("/api/health", anonymous=True).status_code)
            time.sleep(0.3)
        assert codes[-1] == 503, codes
        assert a.get("/api/health").status_code == 200  # the other node still serves
        relay.mend()
        deadline = time.time() + 15
        while time.time() < deadline and codes[-1] != 200:
            codes.append(b.get("/api/health", anonymous=True).status_code)
            time.sleep(0.3)
        assert codes[-1] == 200, codes
        assert set(codes) <= {200, 503}, codes  # never another answer on the way
    finally:
        relay.cut()
        a.stop()
        b.stop()
