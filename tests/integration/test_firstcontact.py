"""First contact: what a new user and the original app's clients meet first, through the real
web server in front of the real kw-api (KW_SERVER picks lighttpd or Apache).

- POST /api/refresh answers as the original did (200 {success, message, count, timestamp})
  whether a run was queued or one is already going or waiting; the data comes from a fake
  Kalshi through the real kw-fetch, and "a run is going" is a real kw-fetch run held up by a
  slow fake Kalshi.
- Every error the web server makes itself (a malformed request, a POST without a length, a body
  or URL or header over its limits, an unknown method, no worker answering) is the product's
  JSON error shape, with the security headers kw-api sends, wherever the server allows it (the
  README says where lighttpd cannot add headers). The requests are written on a raw socket:
  an HTTP library would refuse to send most of them.
- A bodyless POST (curl -X POST) reaches kw-api through Apache; lighttpd 1.4.69 refuses every
  POST without Content-Length itself, with a JSON 411 that says what to send instead.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from kwstack import BUILD, TOP, Stack, as_run_user, run_bin

sys.path.insert(0, os.path.join(TOP, "tests", "fake_kalshi"))
import fake_kalshi as fk  # noqa: E402

OPEN = ["KXBTCD-26JAN01-T1", "KXETHD-26JAN01-T2", "KXPRES-28-DJT"]


def fake_kalshi():
    markets = [fk.market(t, t.rsplit("-", 1)[0]) for t in OPEN]
    markets.append(fk.market("KXOLD-1", "KXOLD", status="closed"))
    return fk.FakeKalshi(markets=markets, page_size=2)


def fetch_once(stack, background=False):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file, KW_FETCH_BACKOFF_MS="5")
    # As the stack's user, from the copy that user can reach (the checkout may be private).
    argv = [os.path.join(run_bin(), "kw-fetch"), "--once"]
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
    with stack.sql() as db:
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
            with s.sql() as db:
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


# ---- errors the web server makes itself ----------------------------------------------------

SERVER = os.environ.get("KW_SERVER", "lighttpd")
LIGHTTPD = SERVER.startswith("lighttpd")

# The headers kw-api sends on every answer (fcgi/reply.c), and their values.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


def raw(stack, request, timeout=10):
    """Send request bytes as they are; return (status, {lower-case header: [values]}, body)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                more = s.recv(65536)
            except ConnectionResetError:
                break
            if not more:
                break
            data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    if "chunked" in headers.get("transfer-encoding", [""])[0]:
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return int(lines[0].split()[1]), headers, body


def check_server_error(status, headers, body, want_status, want_code, with_headers=True):
    """The product's error shape from the web server itself: JSON, no HTML, and (where the
    server can add them) kw-api's security headers, each exactly once."""
    assert status == want_status, (status, headers, body)
    assert headers["content-type"][0].startswith("application/json"), headers
    b = json.loads(body)
    assert set(b) == {"error", "request_id"}, b
    assert b["error"]["code"] == want_code and b["error"]["message"], b
    assert b"<html" not in body.lower()
    if with_headers:
        check_security_headers(headers)


def check_security_headers(headers):
    """kw-api's headers, each exactly once; a static path may carry the dashboard's own strict
    policy instead of the API's (the same rules: nothing may load, nothing may frame it)."""
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy"):
        assert headers.get(name) == [SECURITY_HEADERS[name]], (name, headers)
    csp = headers.get("content-security-policy", [])
    assert len(csp) == 1 and csp[0].startswith("default-src 'none'"), headers
    assert "frame-ancestors 'none'" in csp[0]


def test_every_status_the_configs_name_has_its_json_file():
    """The error files, lighttpd's mimetype entries for them and Apache's ErrorDocument lines
    name the same statuses; each file is the error shape with a code and a message."""
    import re
    errors = os.path.join(TOP, "deploy", "www", "errors")
    files = {int(n.split(".")[0]) for n in os.listdir(errors)}
    lighttpd = open(os.path.join(TOP, "lighttpd.conf.example")).read()
    apache = open(os.path.join(TOP, "apache.conf.example")).read()
    assert {int(x) for x in re.findall(r'"(\d{3})\.html" => "application/json"', lighttpd)} \
        == files
    assert {int(x) for x in re.findall(r"ErrorDocument (\d{3}) /errors/\1\.html", apache)} \
        == files
    assert {400, 411, 413, 414, 431, 500, 502, 503} <= files
    for status in files:
        with open(os.path.join(errors, "%d.html" % status)) as f:
            b = json.load(f)
        assert set(b) == {"error", "request_id"} and b["request_id"] is None
        assert set(b["error"]) == {"code", "message"} and b["error"]["message"]
        assert re.fullmatch(r"[a-z_]+", b["error"]["code"]), b


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # Bodies up to 1 MiB are kw-api's to refuse: the web server's own limit (64 KiB) comes first.
    s = Stack(tmp_path_factory.mktemp("errors"), settings={"MAX_BODY_BYTES": "1048576"})
    s.start()
    yield s
    s.stop()


def request(method, path, headers=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1", "Connection: close"]
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# lighttpd adds configured headers only to requests that reached URL handling (mod_setenv);
# what it refuses while reading the request gets the JSON body without them (README).
EARLY_HEADERS = not LIGHTTPD

# (what, raw request, status, code, security headers expected) — per server where they differ.
CASES = [
    ("malformed request line", b"NOT-HTTP\r\n\r\n", 400, "bad_request", EARLY_HEADERS),
    ("header name with a space", request("GET", "/api/health", ["Bad Name: x"]), 400,
     "bad_request", EARLY_HEADERS),
    ("URL over the limit", request("GET", "/api/health?q=" + "a" * 9000),
     431 if LIGHTTPD else 414, "headers_too_large" if LIGHTTPD else "uri_too_long",
     EARLY_HEADERS),
    ("header over the limit", request("GET", "/api/health", ["X-Big: " + "b" * 9000]),
     431 if LIGHTTPD else 400, "headers_too_large" if LIGHTTPD else "bad_request",
     EARLY_HEADERS),
    ("unsupported transfer coding", request("POST", "/api/refresh",
                                            ["Transfer-Encoding: gzip"]),
     501 if LIGHTTPD else 400, "not_implemented" if LIGHTTPD else "bad_request",
     EARLY_HEADERS),
    ("no such file", request("GET", "/no-such-page.html"), 404, "not_found", True),
]
if LIGHTTPD:
    CASES.append(("denied path", request("GET", "/settings.env"), 403, "forbidden", True))
    CASES.append(("unknown method", request("BREW", "/api/health"), 501, "not_implemented",
                  False))
    CASES.append(("HTTP/2.5", b"GET /api/health HTTP/2.5\r\nHost: x\r\n\r\n", 505,
                  "http_version_not_supported", False))
else:
    CASES.append(("unsupported expectation", request("POST", "/api/refresh",
                                                      ["Expect: 200-ok",
                                                       "Content-Length: 2"], b"{}"),
                  417, "expectation_failed", True))


@pytest.mark.parametrize("what,req,status,code,with_headers", CASES, ids=[c[0] for c in CASES])
def test_the_web_server_answers_its_own_errors_in_json(stack, what, req, status, code,
                                                       with_headers):
    check_server_error(*raw(stack, req), status, code, with_headers)
    assert stack.get("/api/health").status_code == 200  # and keeps serving


def test_a_body_over_the_web_servers_limit_is_a_json_413(stack):
    body = b'{"force_update": true' + b" " * 70000 + b"}"
    req = request("POST", "/index.html", ["Content-Length: %d" % len(body)], body)
    check_server_error(*raw(stack, req), 413, "body_too_large", EARLY_HEADERS)
    req = request("POST", "/api/refresh", ["X-API-Key: " + stack.api_key,
                                           "Content-Type: application/json",
                                           "Content-Length: %d" % len(body)], body)
    if LIGHTTPD:  # server.max-request-size holds on every path
        check_server_error(*raw(stack, req), 413, "body_too_large", False)
    else:
        # Apache's mod_proxy_fcgi passes the body on whatever LimitRequestBody says: the limit
        # on /api/ is kw-api's MAX_BODY_BYTES (1 MiB in this stack, so this one is accepted).
        status, _, answer = raw(stack, req)
        assert status == 200 and json.loads(answer)["success"] is True, answer


def test_kw_apis_own_errors_keep_their_request_id_and_single_headers(stack):
    """The server's header rules must not double kw-api's headers or replace its errors."""
    status, headers, body = raw(stack, request("GET", "/api/nothing-here"))
    check_server_error(status, headers, body, 404, "not_found")
    b = json.loads(body)
    assert b["request_id"] and headers["x-request-id"] == [b["request_id"]]


# ---- a bodyless POST -----------------------------------------------------------------------

def test_a_post_without_a_body_reaches_kw_api_or_says_what_to_send(stack):
    """curl -X POST URL sends no Content-Length at all (not even 0)."""
    req = request("POST", "/api/refresh", ["X-API-Key: " + stack.api_key,
                                           "User-Agent: curl/8.0"])
    status, headers, body = raw(stack, req)
    if LIGHTTPD:
        # lighttpd 1.4.69 answers 411 to every POST without Content-Length, before any module
        # (no server.http-parseopts option changes it): say what to send instead.
        check_server_error(status, headers, body, 411, "length_required", with_headers=False)
        assert "-d '{}'" in json.loads(body)["error"]["message"]
    else:
        assert status == 200, body
        b = json.loads(body)
        assert b["success"] is True and "kw-fetch" in b["message"]
        assert headers["x-request-id"]
    # The same with an empty JSON object works on every server.
    req = request("POST", "/api/refresh", ["X-API-Key: " + stack.api_key,
                                           "Content-Type: application/json",
                                           "Content-Length: 2"], b"{}")
    status, _, body = raw(stack, req)
    assert status == 200 and json.loads(body)["success"] is True, body


# ---- no worker answering -------------------------------------------------------------------

# What each server answers for each way a worker can fail (tests/integration/bad_fcgi.py).
# lighttpd: a reply that is not FastCGI or a closed connection is a 500, a malformed header
# block a 502, a refused connection a 503. Apache's mod_proxy_fcgi: 503 for the first three;
# a malformed header block is a 500 that it finishes itself, empty, without ErrorDocument.
FAILURES = {
    "lighttpd": {"garbage": (500, "internal_error"), "hangup": (500, "internal_error"),
                 "badhead": (502, "bad_gateway"), "refuse": (503, "service_unavailable")},
    "apache": {"garbage": (503, "service_unavailable"), "hangup": (503, "service_unavailable"),
               "refuse": (503, "service_unavailable"), "badhead": (500, None)},
}


@pytest.mark.parametrize("mode", ["garbage", "hangup", "badhead", "refuse"])
def test_no_worker_answering_is_a_json_5xx(tmp_path, mode):
    if SERVER not in FAILURES:
        pytest.skip("%s starts kw-api in a way this stand-in does not replace" % SERVER)
    want_status, want_code = FAILURES[SERVER][mode]
    s = Stack(tmp_path, wait=False)
    bindir = os.path.join(s.dir, "stand-in")
    os.makedirs(bindir, exist_ok=True)
    os.chmod(bindir, 0o755)
    script = os.path.join(bindir, "bad_fcgi.py")
    with open(os.path.join(TOP, "tests", "integration", "bad_fcgi.py")) as f, \
            open(script, "w") as out:
        out.write(f.read())
    with open(os.path.join(bindir, "kw-api"), "w") as f:
        f.write("#!/bin/sh\nexec /usr/bin/python3 %s %s\n" % (script, mode))
    os.chmod(os.path.join(bindir, "kw-api"), 0o755)
    s.api_bin_dir = bindir
    s.start()
    try:
        deadline = time.time() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, s.log()
                time.sleep(0.05)
        status, headers, body = raw(s, request("GET", "/api/status"))
        # lighttpd answers the first request to a refusing worker 500 and then disables it
        # for a while (503): look at a few answers; each must be the product's error.
        codes = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}
        seen = []
        for _ in range(3):
            status, headers, body = raw(s, request("GET", "/api/status"))
            seen.append(status)
            if want_code is None:  # Apache's bare 500: the headers, but no body it lets us set
                assert status == want_status and body == b"", (status, body)
                check_security_headers(headers)
            else:
                check_server_error(status, headers, body, status, codes.get(status))
        assert want_status in seen, seen
    finally:
        s.stop()


# ---- the README's first five minutes, against make run and make demo ------------------------

def readme_first_five_minutes():
    text = open(os.path.join(TOP, "README.md")).read()
    section = text[text.index("## First five minutes"):]
    section = section[:section.index("\n## ", 5)]
    block = section[section.index("```sh\n") + 6:section.index("```", section.index("```sh") + 5)]
    lines = [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    return section, lines


class RunScript:
    """deploy/run.sh (what make run and make demo start) in its own state directory on free
    ports, stopped by its process group."""

    def __init__(self, var, port):
        self.var, self.port = var, port

    def start(self, *args):
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("KW_") or k in ("API_KEY", "DATABASE_PATH",
                                                      "DATABASE_URL"))}
        env.update({"KW_RUN_DIR": str(self.var), "PORT": str(self.port), "HOST": "127.0.0.1",
                    "WS_PORT": str(self.port + 1), "ENVIRONMENT": "development",
                    "KALSHI_API_BASE": "http://127.0.0.1:9/unreachable"})
        self.out = open(os.path.join(str(self.var), "run.out"), "w+")
        self.proc = subprocess.Popen(["bash", os.path.join(TOP, "deploy", "run.sh"), BUILD]
                                     + list(args), cwd=TOP, env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while "KalshiWhale is running." not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.time() < deadline, self.text()
            time.sleep(0.2)
        return self

    def text(self):
        self.out.seek(0)
        return self.out.read()

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.out.close()


def run_port():
    """A port for make run's HTTP whose HTTPS port (+443, as run.sh picks it) and kw-ws port
    (+1) are free too, all
    below the range the kernel hands out to outgoing connections, so that none of those takes
    one between the three starts."""
    import random
    for _ in range(200):
        port = random.randrange(20000, 32000)
        try:
            for p in (port, port + 1, port + 443):  # HTTP, kw-ws, HTTPS
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for make run")


def shell(line, var, port):
    """One README line, as a user would paste it, with this run's directory and port."""
    line = line.replace("var/", str(var) + "/").replace("127.0.0.1:8000", "127.0.0.1:%d" % port)
    r = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (line, r.stderr)
    return r.stdout


def test_the_readme_first_five_minutes_work_on_make_run_and_make_demo(tmp_path):
    section, lines = readme_first_five_minutes()
    assert lines[0].startswith("make run") and lines[1].startswith("KEY=$(cat var/dev-api-key)")
    curls = lines[2:]
    assert [c.split()[-1].strip('"').split("/api/")[1] for c in curls] == [
        "health", "status", "v1/whales?limit=5"]
    port = run_port()
    var = tmp_path / "var"
    var.mkdir()
    key = None
    for mode in ([], ["--demo"], []):  # make run, make demo, make run again
        run = RunScript(var, port).start(*mode)
        try:
            key_now = open(var / "dev-api-key").read().strip()
            assert key_now in run.text()  # the key it printed is the one in the file
            assert key in (None, key_now), "make demo / make run replaced the printed key"
            key = key_now
            prefix = "KEY=%s; " % key
            assert json.loads(shell(curls[0], var, port)) == {"status": "ok"}
            status = json.loads(shell(prefix + curls[1], var, port))
            assert status["status"] == "running" and "total_markets" in status, status
            whales = json.loads(shell(prefix + curls[2], var, port))
            assert "data" in whales, whales
            if mode:  # the demo's bundled data has whale trades
                assert whales["data"] and status["total_markets"] > 0
            # The dashboard URL and the refresh line from the text below the block.
            page = requests.get("http://127.0.0.1:%d/" % port, timeout=10)
            assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
            refresh = section[section.index("`curl -s --json"):].split("`")[1]
            b = json.loads(shell(prefix + refresh, var, port))
            assert b["success"] is True and "kw-fetch" in b["message"] or \
                "already going" in b["message"], b
        finally:
            run.stop()
