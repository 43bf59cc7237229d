"""Foundation: lighttpd -> kw-api workers -> SQLite -> JSON, checked as a client sees it."""
import os
import re
import socket
import subprocess
import time

import pytest
import requests

from kwstack import BUILD, TOP, Stack, db_settings, dbconnect, free_port, pg_mode, \
    schema_version, sqlite_only

# The newest migration's number: what every binary built from this tree expects.
SCHEMA = max(int(f.split("_")[0]) for f in os.listdir(os.path.join(TOP, "sql"))
             if f.endswith(".sql"))
# The first migration a fresh database gets: SQLite's 0001, PostgreSQL's whole schema at once.
FIRST_MIGRATION = min(f[:-len(".sql")] for f in os.listdir(
    os.path.join(TOP, "sql", "pg") if pg_mode() else os.path.join(TOP, "sql"))
    if f.endswith(".sql"))

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_status_has_the_original_fields_and_real_zeros(stack):
    r = stack.get("/api/status")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "running"
    assert RFC3339.match(body["timestamp"])
    assert body["last_update"] is None  # the fetcher has never run
    assert body["active_connections"] == 0
    assert body["total_markets"] == 0
    assert body["websocket_enabled"] is True
    assert body["version"] == "0.1.0"
    assert body["environment"] == "development"
    assert isinstance(body["uptime_s"], int) and body["uptime_s"] >= 0
    assert body["uptime"] == body["uptime_s"]
    assert body["database"] == {"status": "ok", "schema_version": SCHEMA}


def test_status_reads_fetch_runs_and_ws_stats_from_the_store(tmp_path):
    with Stack(tmp_path) as s:
        now = int(time.time())
        with s.sql() as db:
            db.execute("INSERT INTO fetch_runs (started_at, finished_at, outcome, open_markets)"
                       " VALUES (?, ?, 'ok', 42)", (now - 5, now - 3))
            db.execute("INSERT INTO fetch_runs (started_at, finished_at, outcome, open_markets)"
                       " VALUES (?, ?, 'failed', 7)", (now - 2, now - 1))
            db.execute("INSERT INTO ws_stats (id, connections, updated_at) VALUES (1, 3, ?)",
                       (now,))
        time.sleep(1.1)  # a worker reuses what it read (here: at start-up) for up to a second
        body = s.get("/api/status").json()
        assert body["total_markets"] == 42  # the failed run does not count
        assert body["last_update"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3))
        assert body["active_connections"] == 3
        # A stale kw-ws report (the sidecar is gone) is not shown as live connections.
        with s.sql() as db:
            db.execute("UPDATE ws_stats SET updated_at = ?", (now - 600,))
        time.sleep(1.1)  # a worker reuses what it read for up to a second
        assert s.get("/api/status").json()["active_connections"] == 0


def test_health(stack):
    r = stack.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize("method,path,status,code", [
    ("GET", "/api/nope", 404, "not_found"),
    ("GET", "/api/status/", 404, "not_found"),
    ("POST", "/api/status", 405, "method_not_allowed"),
    ("DELETE", "/api/health", 405, "method_not_allowed"),
    ("GET", "/api/status?verbose=1", 400, "invalid_parameter"),
    ("GET", "/api/health?%zz=1", 400, "invalid_parameter"),
])
def test_errors_have_one_json_shape_and_every_security_header(stack, method, path, status, code):
    r = stack.request(method, path, data=b"" if method == "POST" else None)
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == code
    assert body["request_id"] == r.headers["X-Request-Id"]
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v
    assert "Strict-Transport-Security" not in r.headers  # plain HTTP
    if status == 405:
        assert r.headers["Allow"] in ("GET, HEAD",)


def test_unknown_parameter_is_named_but_malformed_names_are_not_echoed(stack):
    assert "'verbose'" in stack.get("/api/status?verbose=1").json()["error"]["message"]
    msg = stack.get("/api/status?%3Cscript%3E=1").json()["error"]["message"]
    assert "script" not in msg and "<" not in msg


def test_security_headers_on_success_and_server_version_hidden(stack):
    r = stack.get("/api/status")
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v
    assert "lighttpd" not in r.headers.get("Server", "")


def test_request_ids_are_unique_across_workers(stack):
    ids = {stack.get("/api/health").headers["X-Request-Id"] for _ in range(40)}
    assert len(ids) == 40
    assert all(re.match(r"^[0-9a-f]{16}$", i) for i in ids)


def test_hsts_only_over_https(stack):
    r = requests.get(stack.https_base + "/api/health", verify=False, timeout=10)
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in stack.get("/api/health").headers


def test_head_is_served_like_get_without_a_body(stack):
    r = requests.head(stack.url("/api/health"), timeout=10)
    assert r.status_code == 200 and r.content == b""


def test_several_workers_serve_and_log_request_lines(stack):
    assert len(stack.worker_pids()) == (2 if stack.persistent else 0)
    stack.get("/api/status")
    log = stack.log()
    line = [l for l in log.splitlines() if "path=/api/status " in l][-1]
    assert re.search(r"request id=[0-9a-f]{16} method=GET path=/api/status status=200 "
                     r"dur_us=\d+ bytes=\d+ client=127\.0\.0\.1", line)


def test_client_disconnect_mid_request_does_not_kill_a_worker(stack):
    pids = set(stack.worker_pids())
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", stack.port)) as c:
            c.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert stack.get("/api/health").status_code == 200
    assert set(stack.worker_pids()) == pids


def test_workers_exit_cleanly_on_sigterm(tmp_path):
    s = Stack(tmp_path).start()
    pids = s.worker_pids()
    s.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert s.log().count("worker stopping") == len(pids)


def test_database_newer_than_binary_gives_503_and_a_clear_log_line(tmp_path):
    s = Stack(tmp_path)
    with s.sql() as c:
        schema_version(c, set_to=999)
    with s:
        r = s.get("/api/health")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "database_unavailable"
        assert "schema version 999 is newer than this program's %d" % SCHEMA in s.log()
        with s.sql() as c:  # never reset or rewritten
            assert schema_version(c) == 999


@sqlite_only("a file of junk where the SQLite database should be; PostgreSQL checks its own"
             " pages")
def test_corrupt_database_is_reported_not_reset(tmp_path):
    s = Stack(tmp_path)
    junk = b"this is not an sqlite database" * 200
    with open(s.db, "wb") as f:
        f.write(junk)
    with s:
        assert s.get("/api/status").status_code == 503
        assert "not a usable SQLite database" in s.log()
    with open(s.db, "rb") as f:
        assert f.read() == junk


def run_api(args, env_extra, cwd):
    env = {"PATH": os.environ["PATH"]}
    env.update(env_extra)
    return subprocess.run([os.path.join(BUILD, "kw-api")] + args, env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name,value,expect", [
    ("RATE_LIMIT_PER_MINUTE", "sixty", "RATE_LIMIT_PER_MINUTE=\"sixty\" is invalid: expected an integer from 1 to 1000000"),
    ("ENVIRONMENT", "prod", "ENVIRONMENT=\"prod\" is invalid: expected one of development|production"),
    ("DEBUG", "maybe", "DEBUG=\"maybe\" is invalid: expected true or false"),
    ("LOG_LEVEL", "loud", "LOG_LEVEL=\"loud\" is invalid"),
    ("PORT", "70000", "PORT=\"70000\" is invalid"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL=\"mysql://x\" is invalid: expected sqlite:///PATH"),
    ("DATABASE_URL", "postgresql://h/db?nosuch=1",
     "DATABASE_URL=\"postgresql://h/db?nosuch=1\" is invalid: expected a PostgreSQL URL libpq"),
    ("KALSHI_API_BASE", "ftp://x", "KALSHI_API_BASE=\"ftp://x\" is invalid"),
])
def test_invalid_setting_exits_78_with_one_clear_line(tmp_path, name, value, expect):
    r = run_api(["--check-config"], dict(db_settings(tmp_path / "x.db"), **{name: value}),
                tmp_path)
    assert r.returncode == 78
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], r.stderr


def test_secret_values_are_never_echoed_in_config_errors(tmp_path):
    env = tmp_path / "e.env"
    env.write_text("JWT_SECRET=\"abc\x01def\"\n")
    r = run_api(["--check-config"], {"KW_ENV_FILE": str(env)}, tmp_path)
    assert r.returncode == 78 and "abc" not in r.stderr and "JWT_SECRET is invalid" in r.stderr


def test_env_file_and_environment_precedence_and_database_url(tmp_path):
    env = tmp_path / "kw.env"
    env.write_text("# comment\nexport LOG_LEVEL=debug\nDATABASE_URL=sqlite:///from-url.db\n"
                   "RATE_LIMIT_PER_MINUTE='30'\n")
    r = run_api(["--check-config"], {"KW_ENV_FILE": str(env), "LOG_LEVEL": "warning"}, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "from-url.db").exists()
    dump = subprocess.run([os.path.join(BUILD, "kw-admin"), "config", "check"], cwd=tmp_path,
                          env={"KW_ENV_FILE": str(env), "LOG_LEVEL": "warning",
                               "JWT_SECRET": "s" * 40, "PATH": os.environ["PATH"]},
                          capture_output=True, text=True)
    assert "LOG_LEVEL=warning" in dump.stdout          # environment wins over the file
    assert "RATE_LIMIT_PER_MINUTE=30" in dump.stdout   # quotes removed
    assert "DATABASE_PATH=from-url.db" in dump.stdout
    assert "JWT_SECRET=********" in dump.stdout and "s" * 40 not in dump.stdout


def test_missing_named_env_file_is_an_error(tmp_path):
    r = run_api(["--check-config"], {"KW_ENV_FILE": str(tmp_path / "nope.env")}, tmp_path)
    assert r.returncode == 78 and "cannot read env file" in r.stderr


def test_help_and_usage_errors():
    for prog in ("kw-api", "kw-fetch", "kw-ws", "kw-admin"):
        r = subprocess.run([os.path.join(BUILD, prog), "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith("Usage: " + prog)
    r = subprocess.run([os.path.join(BUILD, "kw-api"), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2


def test_concurrent_first_start_migrates_once(tmp_path):
    db = tmp_path / "race.db"
    procs = [subprocess.Popen([os.path.join(BUILD, "kw-admin"), "db", "migrate"],
                              env=dict(db_settings(db), PATH=os.environ["PATH"]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum(e.count("applied migration " + FIRST_MIGRATION) for _, e in outs) == 1
    with dbconnect(db_settings(db)) as c:
        assert schema_version(c) == SCHEMA
        if not pg_mode():  # SQLite's journal and its own page check
            assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@sqlite_only("SQLite creates its file in a directory of the user's; a PostgreSQL database is"
             " created by the server, in its own directory")
def test_unwritable_database_directory_is_a_clear_error(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        r = run_api(["--check-config"], {"DATABASE_PATH": str(d / "x.db")}, tmp_path)
        if os.geteuid() == 0:
            # root ignores directory permissions; use a path whose parent does not exist
            r = run_api(["--check-config"], {"DATABASE_PATH": str(d / "no" / "x.db")}, tmp_path)
        assert r.returncode == 1
        assert "database: cannot open" in r.stderr
    finally:
        d.chmod(0o700)


def test_reload_true_replaces_workers_when_settings_change(tmp_path):
    with Stack(tmp_path, settings={"RELOAD": "true"}, workers=1) as s:
        assert s.get("/api/health").status_code == 200
        before = set(s.worker_pids())
        time.sleep(1.1)  # mtime granularity and the once-a-second check
        os.utime(s.env_file)
        deadline = time.time() + 10
        while time.time() < deadline:
            assert s.get("/api/health").status_code == 200  # never an error meanwhile
            now = set(s.worker_pids())
            if now and not (now & before):
                break
            time.sleep(0.2)
        assert now and not (now & before), "worker was not replaced"
        # (The settings file, or the binary if it was rebuilt meanwhile: both are watched.)
        assert re.search(r"reload: \S+ changed; worker exiting", s.log())


def test_reload_false_keeps_workers(tmp_path):
    with Stack(tmp_path, workers=1) as s:
        before = set(s.worker_pids())
        time.sleep(1.1)
        os.utime(s.env_file)
        for _ in range(10):
            s.get("/api/health")
        time.sleep(1.1)
        s.get("/api/health")
        assert set(s.worker_pids()) == before
