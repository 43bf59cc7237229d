"""The deployments the README documents, walked for real: lighttpd spawning kw-api itself, and
Apache's mod_proxy_fcgi in front of spawn-fcgi workers, each over HTTP and HTTPS; and kw-api as
a plain CGI program. The same checks for every one of them."""
import os
import subprocess

import pytest
import requests
import urllib3

from kwstack import BUILD, SERVERS, db_settings, pg_mode

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
KEY = "kwtest_" + "a1b2c3d4" * 5


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, tmp_path_factory):
    s = SERVERS[request.param](tmp_path_factory.mktemp(request.param),
                               settings={"API_KEY": KEY})
    s.start()
    yield s
    s.stop()


def test_server_and_workers_run_unprivileged(server):
    """Run as root (CI), the web server's serving processes and every kw-api process run as
    RUN_USER with no supplementary root group; run as anyone else, as that user. The database
    the workers created is theirs."""
    from kwstack import RUN_USER, process_ids, run_ids
    assert server.get("/api/health").status_code == 200  # mod_fcgid starts a worker now
    uid, gid = run_ids() or (os.geteuid(), os.getegid())
    if os.geteuid() == 0:
        assert uid != 0 and RUN_USER != "root"
    workers = server.worker_pids()
    supervisor = getattr(server, "supervisor", None)
    if supervisor:
        workers.append(supervisor.pid)
    assert server.server_pids() and workers
    for pid in server.server_pids() + workers:
        uids, gids, groups = process_ids(pid)
        assert uids == [uid] * 4 and gids == [gid] * 4, (pid, uids, gids)
        if os.geteuid() == 0:
            assert 0 not in groups, (pid, groups)
    if not pg_mode():  # the SQLite file is the workers'; PostgreSQL's files are its own
        assert os.stat(server.db).st_uid == uid


def test_health_status_and_errors(server):
    h = {"X-API-Key": KEY}
    assert server.get("/api/health").json() == {"status": "ok"}
    st = server.get("/api/status", headers=h)
    assert st.status_code == 200 and st.json()["status"] == "running"
    nf = server.get("/api/nope", headers=h)
    assert nf.status_code == 404 and nf.json()["error"]["code"] == "not_found"
    assert nf.json()["request_id"] == nf.headers["X-Request-Id"]


def test_server_version_hidden(server):
    r = server.get("/api/health")
    assert not any(ch.isdigit() for ch in r.headers.get("Server", ""))


def test_https_end_to_end_and_hsts_only_there(server):
    r = requests.get(server.https_base + "/api/health", verify=False, timeout=10)
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in server.get("/api/health").headers


def test_dashboard_is_served(server):
    r = server.get("/")
    assert r.status_code == 200 and "KalshiWhale" in r.text


def test_query_is_seen_by_the_app(server):
    r = server.get("/api/status?bogus=1", headers={"X-API-Key": KEY})
    assert r.status_code == 400 and "'bogus'" in r.json()["error"]["message"]


def cgi(env, tmp_path):
    base = dict(db_settings(tmp_path / "cgi.db"), PATH=os.environ["PATH"])
    base.update({"GATEWAY_INTERFACE": "CGI/1.1", "REMOTE_ADDR": "127.0.0.1",
                 "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"})
    base.update(env)
    r = subprocess.run([os.path.join(BUILD, "kw-api")], env=base, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return r.returncode, head.decode(), body


def test_plain_cgi_answers_one_request(tmp_path):
    rc, head, body = cgi({"REQUEST_URI": "/api/health"}, tmp_path)
    assert rc == 0
    assert head.startswith("Status: 200 OK") and b'"status":"ok"' in body
    rc, head, body = cgi({"REQUEST_URI": "/api/nope", "HTTP_X_API_KEY": KEY, "API_KEY": KEY},
                         tmp_path)
    assert head.startswith("Status: 404")


@pytest.mark.parametrize("starter", ["systemd-socket", "socket-option"])
def test_kw_api_workers_supervised_behind_apache(tmp_path, starter):
    """kw-api --workers N on a socket handed over like systemd's StandardInput=socket, or
    bound with --socket: N workers serve; a killed worker is replaced; SIGTERM stops all."""
    from kwstack import ApacheStack
    import signal
    import time
    from kwstack import process_ids, run_ids
    with ApacheStack(tmp_path, settings={"API_KEY": KEY}, workers=3, starter=starter) as s:
        pids = s.worker_pids()
        assert len(pids) == 3
        uid = (run_ids() or (os.geteuid(),))[0]
        for pid in pids + [s.supervisor.pid]:  # unprivileged when the tests run as root
            assert process_ids(pid)[0] == [uid] * 4
        for _ in range(20):
            assert s.get("/api/health").status_code == 200
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline:
            now = s.worker_pids()
            if len(now) == 3 and pids[0] not in now:
                break
            time.sleep(0.1)
        assert len(now) == 3 and pids[0] not in now
        assert s.get("/api/health").status_code == 200
        assert "worker %d exited (signal 9)" % pids[0] in s.log()
        supervisor = s.supervisor
    assert supervisor.returncode == 0
    for pid in now:
        assert not os.path.exists("/proc/%d" % pid)


@pytest.mark.parametrize("name", ["lighttpd", "apache"])
def test_wss_through_tls_with_a_ticket_from_https(tmp_path, name):
    """The browser's path end to end over TLS: a ticket from POST /api/ws-ticket over HTTPS,
    then wss:// through the same TLS port to kw-ws, which sends initial_data."""
    import asyncio
    import json
    import ssl

    import websockets

    origin = "https://dash.example"
    settings = {"API_KEY": KEY, "JWT_SECRET": "s" * 48, "ALLOWED_ORIGINS": origin}
    with SERVERS[name](tmp_path, settings=settings, ws=True) as s:
        r = requests.post(s.https_base + "/api/ws-ticket", headers={"X-API-Key": KEY,
                                                                    "Origin": origin},
                          verify=False, timeout=10)
        assert r.status_code == 200, r.text
        ticket = r.json()["ticket"]
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        url = "wss://127.0.0.1:%d/ws?ticket=%s" % (s.tls_port, ticket)

        async def go():
            async with websockets.connect(url, ssl=ctx, origin=origin,
                                          compression=None) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 5))

        first = asyncio.run(asyncio.wait_for(go(), 20))
        assert first["type"] == "initial_data"


def kept_connections(sock):
    """Connected unix sockets at kw-api's socket path: the connections kw-api accepted that
    are still open (/proc/net/unix lists an accepted socket under its listener's path)."""
    n = 0
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            cols = line.split()
            if len(cols) >= 8 and cols[7] == sock and cols[5] == "03":  # SS_CONNECTED
                n += 1
    return n


def test_apache_keeps_backend_connections_open_under_load(tmp_path):
    """apache.conf.example reuses kw-api connections (enablereuse=on) with Apache sized by its
    rule (children x KW_API_CONNECTIONS <= kw-api workers x KW_THREADS: kwstack gives its one
    child a connection per thread, the limit).
    Far more clients than threads, each request timed: none waits on a connection that no
    thread accepts (the old deadlock: the proxy's 30 s timeout, then 503), and afterwards the
    connections are still open, so they were reused rather than opened per request."""
    import threading
    import time
    from kwstack import ApacheStack
    with ApacheStack(tmp_path, settings={"API_KEY": KEY, "KW_THREADS": "2"}, workers=2) as s:
        sock = [a for a in open(os.path.join(s.dir, "httpd.conf")).read().split("\n")
                if a.startswith("Define KW_API_SOCKET ")][0].split(" ", 2)[2]
        results = []
        lock = threading.Lock()

        def client():
            sess = requests.Session()
            for _ in range(25):
                t0 = time.time()
                code = sess.get(s.url("/api/status"), headers={"X-API-Key": KEY},
                                timeout=20).status_code
                with lock:
                    results.append((code, time.time() - t0))

        clients = [threading.Thread(target=client) for _ in range(32)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(120)
        assert [code for code, _ in results] == [200] * (32 * 25)
        assert max(t for _, t in results) < 5, max(t for _, t in results)
        # Kept open (at most one per kw-api thread: 4 here), not closed after each request
        # as without enablereuse.
        assert 1 <= kept_connections(sock) <= 4
        assert s.log().count("timeout") == 0
